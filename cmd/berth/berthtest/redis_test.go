package berthtest

import "testing"

func TestStartRedis(t *testing.T) {
	r := StartRedis(t)
	if got := r.Keys(t); got != 0 {
		t.Fatalf("a fresh server holds %d keys", got)
	}
	if reply, err := r.Do("SET berthtest 1"); err != nil || reply != "+OK" {
		t.Fatalf("SET: %q %v", reply, err)
	}
	if got := r.Keys(t); got != 1 {
		t.Errorf("DBSIZE after one SET = %d, want 1", got)
	}
	r.Stop()
	if _, err := r.Do("PING"); err == nil {
		t.Error("redis still answers after Stop")
	}
}
