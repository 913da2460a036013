//go:build pprof

package main

import (
	"log/slog"
	"net/http"
	_ "net/http/pprof" // profiling endpoints on the default mux
	"os"
)

// A binary built with -tags pprof serves net/http/pprof on $PPROF_ADDR
// (for profiling benchmarks; never in release builds).
func init() {
	addr := os.Getenv("PPROF_ADDR")
	if addr == "" {
		return
	}
	go func() {
		if err := http.ListenAndServe(addr, nil); err != nil {
			slog.Error("pprof", "err", err)
		}
	}()
}
