//go:build pprof

package main

import (
	"log/slog"
	"net/http"
	_ "net/http/pprof" // profiling endpoints on the default mux
	"os"
	"runtime"
)

// A binary built with -tags pprof serves net/http/pprof on $PPROF_ADDR
// (for profiling benchmarks; never in release builds), with the block and
// mutex profiles on when $PPROF_BLOCK is set.
func init() {
	addr := os.Getenv("PPROF_ADDR")
	if addr == "" {
		return
	}
	if os.Getenv("PPROF_BLOCK") != "" {
		runtime.SetBlockProfileRate(10_000) // one sample per 10 µs blocked
		runtime.SetMutexProfileFraction(10)
	}
	go func() {
		if err := http.ListenAndServe(addr, nil); err != nil {
			slog.Error("pprof", "err", err)
		}
	}()
}
