package rollout

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/krserve/krserve/controller/control"
)

func TestLeaseTakeoverAfterExpiry(t *testing.T) {
	e := newEnv(t, DefaultConfig())
	ctx := context.Background()
	const ttl = 30 * time.Second
	a, err := NewLeaser(e.kv, "ctl-a", ttl)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := NewLeaser(e.kv, "ctl-b", ttl)
	now := t0
	tick := func(l *Leaser) bool {
		t.Helper()
		held, err := l.Tick(ctx, now)
		if err != nil {
			t.Fatal(err)
		}
		return held
	}
	if !tick(a) || tick(b) {
		t.Fatal("a should take the free lease and b wait")
	}
	first, _ := ReadLease(ctx, e.kv)
	// a renews every ttl/3; b keeps waiting.
	for range 6 {
		now = now.Add(ttl / 3)
		if !tick(a) || tick(b) {
			t.Fatalf("at %v: a should renew and b wait", now.Sub(t0))
		}
	}
	cur, _ := ReadLease(ctx, e.kv)
	if cur.Holder != "ctl-a" || cur.Revision <= first.Revision || !cur.Acquired.Equal(t0) || !cur.Expires.Equal(now.Add(ttl)) {
		t.Fatalf("lease after renewals %+v (first %+v)", cur, first)
	}
	// a stops ticking (crashed). b waits until the lease expires.
	crash := now
	now = crash.Add(ttl - time.Second)
	if tick(b) {
		t.Fatal("b took an unexpired lease")
	}
	now = crash.Add(ttl + time.Second)
	if !tick(b) {
		t.Fatal("b did not take the expired lease")
	}
	// a comes back: it lost the lease and must see it.
	if tick(a) {
		t.Fatal("a still believes it holds the lease")
	}
	// b releases on shutdown; a takes over at once.
	if err := b.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if !tick(a) {
		t.Fatal("a did not take the released lease")
	}
	if cur, _ := ReadLease(ctx, e.kv); cur.Holder != "ctl-a" || !cur.Acquired.Equal(now) {
		t.Fatalf("lease %+v", cur)
	}
	// Release by a non-holder changes nothing.
	if err := b.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if cur, _ := ReadLease(ctx, e.kv); cur.Holder != "ctl-a" {
		t.Fatalf("lease after a stale release %+v", cur)
	}
	// A garbled lease is treated as expired.
	if _, err := e.kv.Put(ctx, control.KeyLease, []byte("garbage")); err != nil {
		t.Fatal(err)
	}
	if !tick(b) {
		t.Fatal("b did not take over a garbled lease")
	}
	if _, err := NewLeaser(e.kv, "", ttl); !errors.Is(err, ErrBadLease) {
		t.Fatalf("empty holder: %v", err)
	}
}

func TestLeaseRace(t *testing.T) {
	e := newEnv(t, DefaultConfig())
	ctx := context.Background()
	ls := make([]*Leaser, 4)
	for i := range ls {
		ls[i], _ = NewLeaser(e.kv, string(rune('a'+i)), time.Minute)
	}
	res := make(chan bool, len(ls))
	for _, l := range ls {
		go func() {
			held, err := l.Tick(ctx, t0)
			if err != nil {
				t.Error(err)
			}
			res <- held
		}()
	}
	winners := 0
	for range ls {
		if <-res {
			winners++
		}
	}
	if winners != 1 {
		t.Fatalf("%d contenders won the lease, want exactly 1", winners)
	}
}
