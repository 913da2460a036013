package retention

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/berth-registry/berth/storage/metadata"
)

// A fold's log line says what it did with each of its logs, in order, so
// that each phase can be placed in time from the line's own.
func TestFoldAttrsNameEachLog(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&buf, nil))
	f := metadata.Fold{Keys: 5, Spool: 3 * time.Millisecond, Drop: 7 * time.Millisecond, Logs: []metadata.FoldLog{
		{Table: "project_blob_releases", Keys: 2, Spool: time.Millisecond, Steps: 4 * time.Millisecond, Drop: 3 * time.Millisecond},
		{Table: "blob_user_releases", Keys: 3, Spool: 2 * time.Millisecond, Steps: 5 * time.Millisecond, Drop: 4 * time.Millisecond},
	}}
	log.InfoContext(context.Background(), "retention fold", foldAttrs(f, time.Now())...)
	line := buf.String()
	for _, want := range []string{
		`"keys":5,`, `"spool":"3ms","drop":"7ms"`,
		`"project_blob_releases":{"keys":2,"spool":"1ms","steps":"4ms","drop":"3ms"}`,
		`"blob_user_releases":{"keys":3,"spool":"2ms","steps":"5ms","drop":"4ms"}`,
	} {
		if !strings.Contains(line, want) {
			t.Errorf("the fold's line %s lacks %s", line, want)
		}
	}
	if strings.Index(line, "project_blob_releases") > strings.Index(line, "blob_user_releases\"") {
		t.Errorf("the fold's line %s names its logs out of order", line)
	}
}
