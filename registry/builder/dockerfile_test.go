package builder

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

type fakeResolver struct{ got string }

func (f *fakeResolver) From(_ context.Context, ref string) (base, error) {
	f.got = ref
	if ref == "missing/x:1" {
		return base{}, errors.New("not found")
	}
	return base{ref: ref, config: &v1.ConfigFile{Author: "base-author", Config: v1.Config{
		Env: []string{"PATH=/usr/bin", "HOME=/root"}, Cmd: []string{"sh"}, WorkingDir: "/srv"}}}, nil
}

func TestInterpret(t *testing.T) {
	full := `ARG VERSION=1.2
FROM base/alpine:${VERSION}
ARG VERSION
ARG GREETING=hello
ENV APP_HOME=/app NAME="$GREETING world"
ENV OLD style value
LABEL org.opencontainers.image.version=$VERSION "quoted key"=v
WORKDIR app
WORKDIR sub
USER 1000:1000
EXPOSE 8080 53/udp
VOLUME ["/data"]
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=5s --retries=3 CMD ["/bin/check", "-q"]
MAINTAINER someone
COPY --chown=1:2 --chmod=600 a.txt b/ $APP_HOME/
ENTRYPOINT ["/app/run"]
CMD ["--serve"]
`
	cases := []struct {
		name, df string
		check    func(t *testing.T, p *plan, r *fakeResolver)
		wantErr  string
	}{
		{name: "full", df: full, check: func(t *testing.T, p *plan, r *fakeResolver) {
			if r.got != "base/alpine:1.2" {
				t.Errorf("FROM resolved %q", r.got)
			}
			c := p.config
			wantEnv := []string{"PATH=/usr/bin", "HOME=/root", "APP_HOME=/app", "NAME=hello world", "OLD=style value"}
			if !reflect.DeepEqual(c.Env, wantEnv) {
				t.Errorf("Env %q", c.Env)
			}
			if c.Labels["org.opencontainers.image.version"] != "1.2" || c.Labels["quoted key"] != "v" {
				t.Errorf("Labels %v", c.Labels)
			}
			if c.WorkingDir != "/srv/app/sub" || c.User != "1000:1000" || c.StopSignal != "SIGTERM" || p.author != "someone" {
				t.Errorf("config %+v author %q", c, p.author)
			}
			if _, ok := c.ExposedPorts["53/udp"]; !ok || len(c.ExposedPorts) != 2 {
				t.Errorf("ports %v", c.ExposedPorts)
			}
			if _, ok := c.Volumes["/data"]; !ok {
				t.Errorf("volumes %v", c.Volumes)
			}
			if hc := c.Healthcheck; hc == nil || !reflect.DeepEqual(hc.Test, []string{"CMD", "/bin/check", "-q"}) || hc.Interval != 5*time.Second || hc.Retries != 3 {
				t.Errorf("healthcheck %+v", c.Healthcheck)
			}
			if !reflect.DeepEqual(c.Entrypoint, []string{"/app/run"}) || !reflect.DeepEqual(c.Cmd, []string{"--serve"}) {
				t.Errorf("entrypoint %q cmd %q", c.Entrypoint, c.Cmd)
			}
			var cp *copyOp
			layers := 0
			for _, s := range p.steps {
				if s.copy != nil {
					cp = s.copy
					layers++
				}
				if s.history.EmptyLayer == (s.copy != nil) {
					t.Errorf("step %q empty_layer %v", s.history.CreatedBy, s.history.EmptyLayer)
				}
			}
			if layers != 1 || cp.dest != "/app/" || !reflect.DeepEqual(cp.srcs, []string{"a.txt", "b/"}) || cp.uid != 1 || cp.gid != 2 || cp.chmod != 0o600 {
				t.Errorf("copy %+v", cp)
			}
			if len(p.steps) != 16 {
				t.Errorf("%d history steps", len(p.steps))
			}
		}},
		{name: "entrypoint drops inherited cmd", df: "FROM b/x\nENTRYPOINT /run me", check: func(t *testing.T, p *plan, _ *fakeResolver) {
			if !reflect.DeepEqual(p.config.Entrypoint, []string{"/bin/sh", "-c", "/run me"}) || p.config.Cmd != nil {
				t.Errorf("entrypoint %q cmd %q", p.config.Entrypoint, p.config.Cmd)
			}
		}},
		{name: "healthcheck shell and none", df: "FROM b/x\nHEALTHCHECK CMD curl -f localhost\n", check: func(t *testing.T, p *plan, _ *fakeResolver) {
			if !reflect.DeepEqual(p.config.Healthcheck.Test, []string{"CMD-SHELL", "curl -f localhost"}) {
				t.Errorf("healthcheck %q", p.config.Healthcheck.Test)
			}
		}},
		{name: "run", df: "FROM b/x\nRUN echo hi", wantErr: ErrNeedsRuntime},
		{name: "multi-stage", df: "FROM b/x AS a\nFROM b/y", wantErr: "multi-stage builds need BuildKit"},
		{name: "copy from", df: "FROM b/x\nCOPY --from=a /x /y", wantErr: "--from (multi-stage) needs BuildKit"},
		{name: "no from", df: "ENV A=1", wantErr: "must start with FROM"},
		{name: "empty", df: "", wantErr: "no instructions"},
		{name: "missing base", df: "FROM missing/x:1", wantErr: "not found"},
		{name: "bad port", df: "FROM b/x\nEXPOSE http", wantErr: "bad port"},
		{name: "unknown instruction", df: "FROM b/x\nFROBNICATE", wantErr: "unknown instruction"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := &fakeResolver{}
			p, err := interpret(context.Background(), tc.df, r, time.Now())
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, p, r)
		})
	}
}

func TestSplitRef(t *testing.T) {
	own := []string{"127.0.0.1:5000", "reg.example.com"}
	cases := []struct {
		in    string
		local bool
		repo  string
		ref   string
	}{
		{"base/alpine:1", true, "base/alpine", ":1"},
		{"alpine", true, "library/alpine", ":latest"},
		{"127.0.0.1:5000/base/alpine", true, "base/alpine", ":latest"},
		{"reg.example.com/a/b/c@sha256:" + strings.Repeat("a", 64), true, "a/b/c", "@sha256:" + strings.Repeat("a", 64)},
		{"docker.io/library/alpine:3", false, "", ""},
		{"localhost:6000/x/y", false, "", ""},
	}
	for _, tc := range cases {
		got, err := splitRef(tc.in, own)
		if err != nil || got.local != tc.local || got.repo != tc.repo || got.ref != tc.ref {
			t.Errorf("splitRef(%q) = %+v, %v", tc.in, got, err)
		}
	}
	if _, err := splitRef("Bad/Name", own); err == nil {
		t.Error("splitRef accepted an upper-case name")
	}
}

func TestRenderTool(t *testing.T) {
	plugins := []Plugin{
		{Name: "env", Attrs: map[string][]string{"key": {"A", "B"}, "value": {`x "y"`, "$HOME"}}},
		{Name: "base_image", Attrs: map[string][]string{"image": {"base/alpine:1"}}},
		{Name: "workdir", Attrs: map[string][]string{"dir": {"/app"}}},
		{Name: "copy", Attrs: map[string][]string{"src": {"a.txt", "b.txt"}, "dest": {"/app/"}}},
		{Name: "expose", Attrs: map[string][]string{"port": {"80", "443"}}},
		{Name: "entrypoint", Attrs: map[string][]string{"command": {"/app/run", "--x"}}},
	}
	got, err := renderTool(plugins)
	if err != nil {
		t.Fatal(err)
	}
	want := `FROM base/alpine:1
ENV A="x \"y\""
ENV B="\$HOME"
WORKDIR /app
COPY ["a.txt","/app/"]
COPY ["b.txt","/app/"]
EXPOSE 80
EXPOSE 443
ENTRYPOINT ["/app/run","--x"]
`
	if got != want {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
	}
	p, err := interpret(context.Background(), got, &fakeResolver{}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if env := p.config.Env; env[2] != `A=x "y"` || env[3] != "B=$HOME" {
		t.Fatalf("env %q", env)
	}
	if err := checkPlugins(TypeTool, []Plugin{{Name: "nope"}}); !errors.Is(err, ErrPluginMissing) {
		t.Fatalf("unknown plugin: %v", err)
	}
	if err := checkPlugins(TypeTool, []Plugin{{Name: "env"}}); !errors.Is(err, ErrPluginParam) {
		t.Fatalf("no base image: %v", err)
	}
}
