package bpe

import (
	"syscall"
	"time"
)

// threadCPU returns the CPU time of the calling OS thread (the benchmarks
// lock their goroutine to a thread), so the reported cpu-MB/s does not
// depend on how busy the shared machine is.
func threadCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(1 /* RUSAGE_THREAD */, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
