package main

import (
	"context"
	"flag"
	"fmt"
	"runtime"
	"runtime/debug"
)

// version is set at link time with -ldflags "-X main.version=…".
var version = "dev"

func init() {
	register(&command{
		name:    "version",
		summary: "print the krserve version and build information",
		run: func(_ context.Context, env *cmdEnv, fs *flag.FlagSet, args []string) error {
			if err := parseFlags(fs, args, false); err != nil {
				return err
			}
			rev := ""
			if bi, ok := debug.ReadBuildInfo(); ok {
				for _, s := range bi.Settings {
					if s.Key == "vcs.revision" {
						rev = " " + s.Value
					}
				}
			}
			fmt.Fprintf(env.stdout, "krserve %s%s %s %s/%s\n", version, rev, runtime.Version(), runtime.GOOS, runtime.GOARCH)
			return nil
		},
	})
}
