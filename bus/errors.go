package bus

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/krserve/krserve/schemas"
	"github.com/nats-io/nats.go"
)

var (
	// ErrSlowConsumer means the client dropped messages for a subscription
	// because its pending buffer was full: the stream is incomplete. Consume
	// faster or raise the pending limits; the request should be retried.
	ErrSlowConsumer = errors.New("bus: slow consumer dropped messages")
	// ErrGap means a stream message is missing (sequence numbers skipped). The
	// stream is incomplete; retry the request.
	ErrGap = errors.New("bus: gap in stream sequence")
	// ErrIdle means no stream message arrived within the idle timeout: the
	// worker is stuck or gone.
	ErrIdle = errors.New("bus: stream idle timeout")
	// ErrClosed means the stream already ended (final or error received).
	ErrClosed = errors.New("bus: stream ended")
)

// Header names of NATS micro service errors.
const (
	HeaderServiceError     = "Nats-Service-Error"
	HeaderServiceErrorCode = "Nats-Service-Error-Code"
)

// MapRequestError turns a nats.go request failure into a typed error:
// no responders become CodeNoWorker (at once, no timeout wait), timeouts
// become CodeTimeout, oversized payloads CodeTooLarge. Other errors are
// returned wrapped.
func MapRequestError(subject string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, nats.ErrNoResponders):
		return fmt.Errorf("%w (subject %s): %w", schemas.NewError(schemas.CodeNoWorker, "no worker subscribes to %s", subject), subject, err)
	case errors.Is(err, nats.ErrTimeout):
		return fmt.Errorf("%w: %w", schemas.NewError(schemas.CodeTimeout, "no reply on %s in time (also what a permissions denial looks like)", subject), err)
	case errors.Is(err, nats.ErrMaxPayload):
		return fmt.Errorf("%w: %w", schemas.NewError(schemas.CodeTooLarge, "payload exceeds the server's max_payload"), err)
	}
	return fmt.Errorf("bus: request on %s: %w", subject, err)
}

// ServiceError extracts a micro service error from a reply's headers, or
// returns nil when the reply is not an error.
func ServiceError(msg *nats.Msg) error {
	if msg == nil || msg.Header == nil {
		return nil
	}
	desc := msg.Header.Get(HeaderServiceError)
	codeStr := msg.Header.Get(HeaderServiceErrorCode)
	if desc == "" && codeStr == "" {
		return nil
	}
	code, err := strconv.Atoi(codeStr)
	if err != nil || code < 100 || code > 999 {
		code = int(schemas.CodeInternal)
	}
	e := schemas.NewError(schemas.Code(code), "%s", desc)
	// A typed error body, when present, carries the retryable flag and more.
	if len(msg.Data) > 0 {
		var body schemas.Error
		if schemas.Decode(msg.Data, &body) == nil && body.Code == e.Code {
			return &body
		}
	}
	return e
}
