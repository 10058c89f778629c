package testenv

import (
	"os"
	"path/filepath"
	"testing"
)

// RepoRoot returns the directory holding go.mod, found by walking up from the
// working directory of the test binary.
func RepoRoot(tb testing.TB) string {
	tb.Helper()
	dir, err := os.Getwd()
	if err != nil {
		tb.Fatalf("testenv: getwd: %v", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			tb.Fatalf("testenv: no go.mod above the test directory")
		}
		dir = parent
	}
}

// SharedDir returns the shared data folder: $KRSERVE_SHARED when set, else
// ../shared beside the repository root.
func SharedDir(tb testing.TB) string {
	tb.Helper()
	if d := os.Getenv("KRSERVE_SHARED"); d != "" {
		return d
	}
	d := filepath.Join(filepath.Dir(RepoRoot(tb)), "shared")
	if _, err := os.Stat(d); err != nil {
		tb.Fatalf("testenv: shared data folder %s: %v (set KRSERVE_SHARED)", d, err)
	}
	return d
}

// SharedFile returns the path of a file under the shared folder, for example
// SharedFile(t, "models/stories260K.gguf"). It fails the test when the file
// is missing.
func SharedFile(tb testing.TB, rel string) string {
	tb.Helper()
	p := filepath.Join(SharedDir(tb), filepath.FromSlash(rel))
	if _, err := os.Stat(p); err != nil {
		tb.Fatalf("testenv: %v", err)
	}
	return p
}
