package kvpool

import "errors"

// Sentinel errors. Every error returned by this package wraps one of these
// (compare with errors.Is); the message adds the numbers involved.
var (
	// ErrPoolExhausted: every block is referenced by a live sequence and no
	// unreferenced cached block is left to evict. Nothing was changed. The
	// scheduler should preempt (Release) a sequence or wait for one to finish,
	// then retry.
	ErrPoolExhausted = errors.New("kvpool: pool exhausted")

	// ErrTooManySequences: Config.MaxSequences sequences are live. Nothing was
	// changed. Queue the request until a sequence is released.
	ErrTooManySequences = errors.New("kvpool: too many sequences")

	// ErrSequenceTooLong: the prompt, or the prompt plus generated tokens,
	// would exceed Config.MaxTokensPerSequence. Nothing was changed. Reject the
	// request (prompt) or finish generation with a length stop (append).
	ErrSequenceTooLong = errors.New("kvpool: sequence too long")

	// ErrInvalidRequest: the request is malformed (empty prompt, empty
	// sequence id, negative count, commit beyond the sequence's length).
	// Fix the caller; retrying the same call fails again.
	ErrInvalidRequest = errors.New("kvpool: invalid request")

	// ErrDuplicateSequence: a live sequence already has this id. Release it
	// first or use a unique id per request.
	ErrDuplicateSequence = errors.New("kvpool: duplicate sequence id")

	// ErrSequenceReleased: the sequence was released (finished, cancelled or
	// preempted); its blocks may already belong to another sequence. Stop
	// using it.
	ErrSequenceReleased = errors.New("kvpool: sequence released")

	// ErrNotComputed: Fork needs every reserved token of the parent to be
	// computed (Commit(Len())) so the two sequences never write one block.
	// Commit the pending step, then fork.
	ErrNotComputed = errors.New("kvpool: sequence has uncomputed tokens")

	// ErrNoCopy: the operation needs copy-on-write of a shared partial block
	// but Deps.CopyBlock is nil. Provide CopyBlock.
	ErrNoCopy = errors.New("kvpool: copy-on-write needs Deps.CopyBlock")

	// ErrInvalidConfig: Config.Validate failed; the message names the field.
	ErrInvalidConfig = errors.New("kvpool: invalid config")
)
