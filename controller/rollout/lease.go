package rollout

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/krserve/krserve/controller/control"
	"github.com/nats-io/nats.go/jetstream"
)

// ErrBadLease means a Leaser was configured with an empty holder id or a
// non-positive TTL.
var ErrBadLease = errors.New("rollout: invalid lease config")

// Lease is the value of the "lease" key: who acts, until when.
type Lease struct {
	Holder   string    `json:"holder"`
	Expires  time.Time `json:"expires"`
	Acquired time.Time `json:"acquired"`
	// Revision is the KV revision read; not stored.
	Revision uint64 `json:"-"`
}

// Leaser takes and keeps the controller lease for one holder. It is not
// safe for concurrent use: the controller loop that ticks it owns it.
type Leaser struct {
	kv     jetstream.KeyValue
	holder string
	ttl    time.Duration

	held      bool
	rev       uint64
	renewedAt time.Time
	expires   time.Time
	acquired  time.Time
}

// NewLeaser returns a leaser for holder with the given TTL; it renews every
// TTL/3.
func NewLeaser(kv jetstream.KeyValue, holder string, ttl time.Duration) (*Leaser, error) {
	if kv == nil || holder == "" || ttl <= 0 {
		return nil, fmt.Errorf("%w: holder %q, ttl %v", ErrBadLease, holder, ttl)
	}
	return &Leaser{kv: kv, holder: holder, ttl: ttl}, nil
}

// Holder returns the holder id.
func (l *Leaser) Holder() string { return l.holder }

// Held reports whether the last Tick held the lease.
func (l *Leaser) Held() bool { return l.held }

// Tick takes, renews or observes the lease at now and reports whether this
// holder may act until the next tick. A renewal is written when TTL/3 has
// passed since the last one; a lease held by another holder is taken only
// after it expired. Every write is revision-checked, so of two contenders
// exactly one wins.
func (l *Leaser) Tick(ctx context.Context, now time.Time) (bool, error) {
	if l.held && now.Before(l.renewedAt.Add(l.ttl/3)) && now.Before(l.expires) {
		return true, nil
	}
	cur, err := ReadLease(ctx, l.kv)
	if err != nil {
		l.held = false
		return false, err
	}
	switch {
	case cur.Revision == 0, cur.Holder == l.holder, now.After(cur.Expires):
		acquired := cur.Acquired
		if cur.Holder != l.holder || cur.Revision == 0 {
			acquired = now
		}
		return l.write(ctx, now, acquired, cur.Revision)
	default:
		l.held = false
		return false, nil
	}
}

func (l *Leaser) write(ctx context.Context, now, acquired time.Time, prev uint64) (bool, error) {
	next := Lease{Holder: l.holder, Expires: now.Add(l.ttl), Acquired: acquired}
	b, err := json.Marshal(next)
	if err != nil {
		return false, err
	}
	var rev uint64
	if prev == 0 {
		rev, err = l.kv.Create(ctx, control.KeyLease, b)
	} else {
		rev, err = l.kv.Update(ctx, control.KeyLease, b, prev)
	}
	switch {
	case errors.Is(err, jetstream.ErrKeyExists), errors.Is(err, jetstream.ErrKeyRevisionMismatch):
		l.held = false
		return false, nil
	case err != nil:
		l.held = false
		return false, fmt.Errorf("rollout: write lease: %w", err)
	}
	l.held, l.rev, l.renewedAt, l.expires, l.acquired = true, rev, now, next.Expires, acquired
	return true, nil
}

// Release gives the lease up (deletes the key if this holder still owns
// it), so a standby controller takes over at once instead of waiting for
// the expiry.
func (l *Leaser) Release(ctx context.Context) error {
	if !l.held {
		return nil
	}
	l.held = false
	err := l.kv.Delete(ctx, control.KeyLease, jetstream.LastRevision(l.rev))
	if errors.Is(err, jetstream.ErrKeyRevisionMismatch) || errors.Is(err, jetstream.ErrKeyExists) {
		return nil // someone took it already
	}
	if err != nil {
		return fmt.Errorf("rollout: release lease: %w", err)
	}
	return nil
}

// ReadLease reads the current lease; Revision 0 means nobody holds one.
func ReadLease(ctx context.Context, kv jetstream.KeyValue) (Lease, error) {
	e, err := kv.Get(ctx, control.KeyLease)
	switch {
	case errors.Is(err, jetstream.ErrKeyNotFound):
		return Lease{}, nil
	case errors.Is(err, jetstream.ErrKeyDeleted):
		// A released lease: the delete marker's revision guards the next
		// Create, which the KV client handles itself.
		return Lease{}, nil
	case err != nil:
		return Lease{}, fmt.Errorf("rollout: read lease: %w", err)
	}
	var cur Lease
	if err := json.Unmarshal(e.Value(), &cur); err != nil {
		// An unreadable lease is treated as expired, so a typo cannot lock
		// every controller out; the revision check still applies.
		cur = Lease{}
	}
	cur.Revision = e.Revision()
	return cur, nil
}
