package berthtest

import (
	"errors"
	"net"
	"net/http"
	"testing"
	"time"
)

// A port taken between FreePort and MinIO's bind: launch says MinIO
// exited (so launchMinIO retries on new ports) instead of polling the
// other server for a minute.
func TestMinIOLaunchNoticesTakenPort(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "not minio", http.StatusBadRequest)
	})}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { srv.Close() })

	m := &MinIO{Endpoint: l.Addr().String(), AccessKey: "berthtest", SecretKey: "berthtest-secret-key",
		dir: t.TempDir(), console: FreePort(t), logs: &syncBuffer{}}
	err = m.launch(t, 30*time.Second)
	if !errors.Is(err, errExited) {
		t.Fatalf("launch on a taken port: %v, want %v\n%s", err, errExited, m.logs.String())
	}
	t.Logf("launch on a taken port: %v\n%s", err, tail(m.logs.String(), 5))

}
