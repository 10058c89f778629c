//go:build !linux

package bpe

import "time"

func threadCPU() time.Duration { return 0 }
