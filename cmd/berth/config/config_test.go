package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func writeFile(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "berth.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadLayers(t *testing.T) {
	file := writeFile(t, `
addr: 0.0.0.0:6000
dataDir: /srv/berth
log:
  level: debug
storage:
  driver: s3
  timeout: 5s
  s3:
    endpoint: http://127.0.0.1:9000
    bucket: images
    accessKey: ak
    secretKey: sk
    chunkSize: 6291456
`)
	cfg, err := Load(Flags{ConfigFile: file, Addr: "127.0.0.1:7000"}, []string{
		"BERTH_STORAGE_S3_BUCKET=from-env",
		"BERTH_CATALOG_MAX_ENTRIES=50",
		"PATH=/usr/bin",
	})
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"flag beats file", cfg.Addr, "127.0.0.1:7000"},
		{"file", cfg.DataDir, "/srv/berth"},
		{"nested file", cfg.Log.Level, "debug"},
		{"env beats file", cfg.Storage.S3.Bucket, "from-env"},
		{"env only", cfg.CatalogMaxEntries, 50},
		{"duration", cfg.Storage.Timeout, 5 * time.Second},
		{"int64", cfg.Storage.S3.ChunkSize, int64(6291456)},
		{"default kept", cfg.Storage.S3.PathStyle, true},
		{"fs root derived", cfg.Storage.Filesystem.RootDirectory, "/srv/berth/registry"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s: got %v, want %v", c.name, c.got, c.want)
		}
	}
}

func TestConfigFileFromEnv(t *testing.T) {
	file := writeFile(t, "addr: 127.0.0.1:5999\n")
	cfg, err := Load(Flags{}, []string{"BERTH_CONFIG=" + file})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Addr != "127.0.0.1:5999" {
		t.Errorf("addr = %q", cfg.Addr)
	}
}

func TestDefaultsAreValid(t *testing.T) {
	cfg, err := Load(Flags{DataDir: t.TempDir()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Storage.Driver != "filesystem" || cfg.Addr != "127.0.0.1:5000" || cfg.Cache != "inmemory" {
		t.Errorf("unexpected defaults: %+v", cfg)
	}
}

// Every bad input is rejected with a message naming the offending key.
func TestRejectsBadInputNamingTheKey(t *testing.T) {
	cases := []struct {
		name  string
		yaml  string
		env   []string
		wants []string
	}{
		{"unknown top-level key", "adr: x\n", nil, []string{`unknown key "adr"`, "line 1"}},
		{"unknown nested key", "storage:\n  s3:\n    bukket: x\n", nil, []string{`unknown key "storage.s3.bukket"`}},
		{"bad bool", "storage:\n  s3:\n    pathStyle: maybe\n", nil, []string{"storage.s3.pathStyle", "not a boolean"}},
		{"bad int", "catalogMaxEntries: lots\n", nil, []string{"catalogMaxEntries", "not an integer"}},
		{"bad duration", "storage:\n  timeout: soon\n", nil, []string{"storage.timeout", "not a duration"}},
		{"mapping for a scalar", "addr:\n  host: x\n", nil, []string{"addr", "expected a single value"}},
		{"scalar for a mapping", "storage: s3\n", nil, []string{"storage", "expected a mapping"}},
		{"bad driver", "storage:\n  driver: floppy\n", nil, []string{"storage.driver", "floppy"}},
		{"s3 without bucket", "storage:\n  driver: s3\n", nil, []string{"storage.s3.bucket", "required"}},
		{"bad bucket name", "storage:\n  driver: s3\n  s3:\n    bucket: Bad_Bucket\n", nil, []string{"storage.s3.bucket", "not a valid bucket name"}},
		{"bad endpoint", "storage:\n  driver: s3\n  s3:\n    bucket: abc\n    endpoint: ftp://x\n", nil, []string{"storage.s3.endpoint", "scheme"}},
		{"half credentials", "storage:\n  driver: s3\n  s3:\n    bucket: abc\n    accessKey: a\n", nil, []string{"storage.s3.secretKey"}},
		{"tiny chunk", "storage:\n  driver: s3\n  s3:\n    bucket: abc\n    chunkSize: 10\n", nil, []string{"storage.s3.chunkSize"}},
		{"bad cache", "cache: memcached\n", nil, []string{"cache", "memcached"}},
		{"redis cache without addr", "cache: redis\n", nil, []string{"redis.addr"}},
		{"bad public url", "publicUrl: registry.example.com/x\n", nil, []string{"publicUrl"}},
		{"bad addr", "addr: nonsense\n", nil, []string{"addr", "HOST:PORT"}},
		{"bad log level", "log:\n  level: loud\n", nil, []string{"log.level"}},
		{"tls half", "tls:\n  certificate: c.pem\n", nil, []string{"tls.key"}},
		{"short secret", "secret: abc\n", nil, []string{"secret", "16"}},
		{"redirect on filesystem", "storage:\n  redirect: true\n", nil, []string{"storage.redirect"}},
		{"not yaml", "addr: [unclosed\n", nil, []string{"yaml"}},
		{"unknown env", "", []string{"BERTH_STORGE_DRIVER=s3"}, []string{"BERTH_STORGE_DRIVER", "unknown setting"}},
		{"bad env value", "", []string{"BERTH_STORAGE_TIMEOUT=forever"}, []string{"BERTH_STORAGE_TIMEOUT", "storage.timeout", "not a duration"}},
		{"negative catalog", "", []string{"BERTH_CATALOG_MAX_ENTRIES=-1"}, []string{"catalogMaxEntries"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			flags := Flags{DataDir: t.TempDir()}
			if tc.yaml != "" {
				flags.ConfigFile = writeFile(t, tc.yaml)
			}
			_, err := Load(flags, tc.env)
			if err == nil {
				t.Fatal("accepted bad configuration")
			}
			for _, w := range tc.wants {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestReportsAllProblemsAtOnce(t *testing.T) {
	file := writeFile(t, "bogus: 1\nstorage:\n  timeout: x\n")
	_, err := Load(Flags{ConfigFile: file}, nil)
	if err == nil || !strings.Contains(err.Error(), "bogus") || !strings.Contains(err.Error(), "storage.timeout") {
		t.Fatalf("want both problems reported, got %v", err)
	}
}

func TestEnvNames(t *testing.T) {
	for key, want := range map[string]string{
		"addr":                         "BERTH_ADDR",
		"dataDir":                      "BERTH_DATA_DIR",
		"storage.s3.accessKey":         "BERTH_STORAGE_S3_ACCESS_KEY",
		"storage.uploadPurging.dryRun": "BERTH_STORAGE_UPLOAD_PURGING_DRY_RUN",
	} {
		if got := envName(key); got != want {
			t.Errorf("envName(%q) = %q, want %q", key, got, want)
		}
	}
}

func TestReferenceMasksSecrets(t *testing.T) {
	cfg := Default()
	cfg.Storage.S3.SecretKey = "hunter2hunter2"
	cfg.Redis.Password = "pw-pw-pw"
	cfg.Database.URL = "postgres://berth:db-pw-db-pw@db.example:5432/berth?sslmode=disable"
	out := strings.Join(Reference(&cfg), "\n")
	if strings.Contains(out, "hunter2") || strings.Contains(out, "pw-pw-pw") || strings.Contains(out, "db-pw") {
		t.Fatalf("secret printed:\n%s", out)
	}
	if !strings.Contains(out, "postgres://berth:xxxxx@db.example:5432/berth?sslmode=disable") {
		t.Errorf("database URL not shown with its password redacted:\n%s", out)
	}
	if !strings.Contains(out, "BERTH_STORAGE_S3_SECRET_KEY") {
		t.Fatalf("reference misses a setting:\n%s", out)
	}
}
