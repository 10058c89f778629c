package native

import (
	"runtime"
	"sync/atomic"
)

// The pool splits one job into chunks that the caller and the worker
// goroutines claim from an atomic counter. state packs the job generation
// (high 32 bits), an "open" flag and the number of workers inside the job:
// a worker joins with a CAS that checks the generation and the flag, so it
// can only read the job description while the caller keeps it stable.

const (
	openBit   = 1 << 31
	countMask = openBit - 1
	// spinRounds is how many times an idle worker polls for a new job
	// (yielding every 64 polls) before it parks on its channel; about
	// 50–200 µs, longer than the gap between two MatMuls of a forward pass.
	spinRounds = 1 << 14
)

type worker struct {
	sleeping atomic.Bool
	wake     chan struct{}
}

type pool struct {
	state   atomic.Uint64
	next    atomic.Int64
	quit    atomic.Bool
	gen     uint32 // caller-owned copy of the current generation
	workers []*worker
	done    chan struct{} // one receive per exited worker
}

// start launches n workers; run claims and runs chunks until none is left.
func (p *pool) start(n int, run func()) {
	p.done = make(chan struct{}, n)
	for range n {
		w := &worker{wake: make(chan struct{}, 1)}
		p.workers = append(p.workers, w)
		go p.loop(w, p.gen, run)
	}
}

func (p *pool) loop(w *worker, seen uint32, run func()) {
	defer func() { p.done <- struct{}{} }()
	spins := 0
	for {
		v := p.state.Load()
		if g := uint32(v >> 32); g != seen {
			seen = g
			for v&openBit != 0 && uint32(v>>32) == g {
				if p.state.CompareAndSwap(v, v+1) {
					run()
					p.state.Add(^uint64(0)) // leave
					break
				}
				v = p.state.Load()
			}
			spins = 0
			continue
		}
		if p.quit.Load() {
			return
		}
		if spins++; spins < spinRounds {
			if spins%64 == 0 {
				runtime.Gosched()
			}
			continue
		}
		w.sleeping.Store(true)
		if uint32(p.state.Load()>>32) != seen || p.quit.Load() {
			if !w.sleeping.CompareAndSwap(true, false) {
				<-w.wake // a waker claimed us and is sending
			}
		} else {
			<-w.wake
		}
		spins = 0
	}
}

// dispatch publishes a job of total chunks (the job description must be
// written before), runs chunks on the calling goroutine and returns when
// every chunk is done and no worker still reads the job.
func (p *pool) dispatch(total int, run func()) {
	p.next.Store(0)
	p.gen++
	p.state.Store(uint64(p.gen)<<32 | openBit)
	for _, w := range p.workers {
		if w.sleeping.CompareAndSwap(true, false) {
			w.wake <- struct{}{}
		}
	}
	run()
	for {
		v := p.state.Load()
		if p.state.CompareAndSwap(v, v&^openBit) {
			break
		}
	}
	for i := 0; p.state.Load()&countMask != 0; i++ {
		if i%64 == 63 {
			runtime.Gosched()
		}
	}
}

// claim returns the next chunk index, or false when all are taken.
func (p *pool) claim(total int) (int, bool) {
	c := int(p.next.Add(1)) - 1
	return c, c < total
}

// stop makes every worker exit and waits for them.
func (p *pool) stop() {
	p.quit.Store(true)
	for _, w := range p.workers {
		if w.sleeping.CompareAndSwap(true, false) {
			w.wake <- struct{}{}
		}
	}
	for range p.workers {
		<-p.done
	}
	p.workers = nil
}
