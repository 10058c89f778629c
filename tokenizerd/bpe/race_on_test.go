//go:build race

package bpe

// raceEnabled: the race detector makes sync.Pool drop items on purpose.
const raceEnabled = true
