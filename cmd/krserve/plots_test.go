package main

import (
	"image/png"
	"os"
	"path/filepath"
	"testing"

	"github.com/krserve/krserve/internal/testenv"
)

// TestBenchPlots runs each bench with --plot and checks that a PNG of the
// figure's size is written.
func TestBenchPlots(t *testing.T) {
	gg := testenv.SharedFile(t, "models/stories260K.gguf")
	tests := []struct {
		name string
		args []string
		w, h int
	}{
		{"kv", []string{"kv", "--turns", "3", "--history", "120", "--reply-tokens", "8", "--reps", "1"}, 900, 500},
		{"concurrency", []string{"concurrency", "--tokens", "8", "--streams", "1,2,4", "--sequential", "2", "--reps", "1"}, 800, 500},
		{"e2e", []string{"e2e", "--requests", "8", "--concurrency", "2", "--tokens", "4", "--tokenize-reps", "1"}, 700, 500},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), tc.name+".png")
			args := append([]string{"bench"}, tc.args...)
			args = append(args, "--model", gg, "--threads", "1", "--json", "--plot", path)
			code, _, errOut := run(t, "", args...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errOut)
			}
			f, err := os.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			img, err := png.Decode(f)
			if err != nil {
				t.Fatalf("not a PNG: %v", err)
			}
			if b := img.Bounds(); b.Dx() != tc.w || b.Dy() != tc.h {
				t.Errorf("plot is %d×%d, want %d×%d", b.Dx(), b.Dy(), tc.w, tc.h)
			}
		})
	}
}
