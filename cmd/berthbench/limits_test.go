package main

import (
	"os"
	"strings"
	"testing"
)

// The disk limit is the faster of a write through the page cache and a
// direct one, each made durable, and the note names both; a filesystem
// that refuses O_DIRECT leaves the buffered rate.
func TestMeasureLimits(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 1 GiB")
	}
	dir := t.TempDir()
	l, err := measureLimits(dir)
	if err != nil {
		t.Fatal(err)
	}
	if l.sha256 <= 0 || l.buffered <= 0 || l.disk != max(l.buffered, l.direct) {
		t.Errorf("limits %+v", l)
	}
	if _, err := measureDisk(dir, true); err == nil && l.direct <= 0 {
		t.Errorf("direct writes work here but measured %v", l.direct)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 0 {
		t.Errorf("left %d files behind", len(entries))
	}
	note := limitsNote([]limits{l})
	if !strings.Contains(note, "through the page cache") || !(strings.Contains(note, "with O_DIRECT") || strings.Contains(note, "refuses O_DIRECT")) {
		t.Errorf("note: %s", note)
	}
	if note := limitsNote([]limits{{sha256: 1000, disk: 500, buffered: 500}}); !strings.Contains(note, "the filesystem refuses O_DIRECT") {
		t.Errorf("note without direct writes: %s", note)
	}
}
