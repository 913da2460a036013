package berthtest

// Running the pinned client tools: each in a private HOME, with a clean
// environment, its output captured.

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// Run executes a tool and fails the test when it exits non-zero. It returns
// the combined output.
func Run(t testing.TB, name string, args ...string) string {
	t.Helper()
	out, err := RunErr(t, name, args...)
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", filepath.Base(name), strings.Join(args, " "), err, out)
	}
	return out
}

// RunErr executes a tool and returns its combined output and exit error.
func RunErr(t testing.TB, name string, args ...string) (string, error) {
	t.Helper()
	return RunEnvErr(t, nil, name, args...)
}

// RunEnv is Run with extra environment (KEY=VALUE) added after the private
// HOME, so it can point a tool's cache and config directories elsewhere.
func RunEnv(t testing.TB, env []string, name string, args ...string) string {
	t.Helper()
	out, err := RunEnvErr(t, env, name, args...)
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", filepath.Base(name), strings.Join(args, " "), err, out)
	}
	return out
}

// RunEnvErr is RunErr with extra environment.
func RunEnvErr(t testing.TB, env []string, name string, args ...string) (string, error) {
	t.Helper()
	return RunInErr(t, "", env, name, args...)
}

// RunIn is RunEnv in working directory dir, for tools that take paths
// relative to it (oras push records file names as given).
func RunIn(t testing.TB, dir string, env []string, name string, args ...string) string {
	t.Helper()
	out, err := RunInErr(t, dir, env, name, args...)
	if err != nil {
		t.Fatalf("%s %s (in %s): %v\n%s", filepath.Base(name), strings.Join(args, " "), dir, err, out)
	}
	return out
}

// RunInErr is RunIn that returns the exit error instead of failing.
func RunInErr(t testing.TB, dir string, env []string, name string, args ...string) (string, error) {
	t.Helper()
	cmd := command(t, env, name, args...)
	cmd.Dir = dir
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	err := cmd.Run()
	return out.String(), err
}

// Output executes a tool and returns only its standard output, failing the
// test (with stderr) when it exits non-zero. Use it when the output is
// parsed (a digest, a manifest) and progress logs on stderr would get in
// the way.
func Output(t testing.TB, name string, args ...string) string {
	t.Helper()
	cmd := command(t, nil, name, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\nstdout:\n%s\nstderr:\n%s", filepath.Base(name), strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return stdout.String()
}

func command(t testing.TB, env []string, name string, args ...string) *exec.Cmd {
	cmd := exec.Command(name, args...)
	cmd.Env = append(cleanEnv(), "HOME="+homeDir(t))
	cmd.Env = append(cmd.Env, env...)
	return cmd
}

var (
	homeOnce sync.Once
	home     string
)

// homeDir gives client tools (helm, oras, skopeo) a private, empty HOME so
// a developer's own credentials and config never leak into tests.
func homeDir(t testing.TB) string {
	homeOnce.Do(func() {
		home, _ = os.MkdirTemp("", "berth-home-")
	})
	return home
}

// cleanEnv is the environment without BERTH_* settings from the caller.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "BERTH_") {
			env = append(env, kv)
		}
	}
	return env
}
