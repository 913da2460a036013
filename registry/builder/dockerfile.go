package builder

import (
	"context"
	"fmt"
	"path"
	"slices"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"github.com/moby/buildkit/frontend/dockerfile/shell"
)

// ErrNeedsRuntime is the log line of a daemonless build that meets RUN.
const ErrNeedsRuntime = "RUN needs a container runtime; configure imagebuild.buildkitAddr"

// base is a resolved FROM: its config (nil for scratch) and where it lives.
type base struct {
	ref    string // as written after expansion
	config *v1.ConfigFile
	image  any // the ggcr image, for the assembler
}

// copyOp is one COPY or ADD: sources in the build context (or URLs for
// ADD), an absolute destination, ownership and mode.
type copyOp struct {
	srcs     []string
	dest     string
	uid, gid int
	chmod    int64 // -1: keep
	add      bool
}

// step is one history entry of the new image, with a layer when it copies.
type step struct {
	history v1.History
	copy    *copyOp
}

// plan is what a Dockerfile does to its base image.
type plan struct {
	base   base
	config v1.Config
	author string
	steps  []step
}

// resolver finds a FROM image.
type resolver interface {
	From(ctx context.Context, ref string) (base, error)
}

// vars is the lexer's view of ARG and ENV values (ENV wins).
type vars struct{ args, env map[string]string }

func (v vars) Get(k string) (string, bool) {
	if s, ok := v.env[k]; ok {
		return s, true
	}
	s, ok := v.args[k]
	return s, ok
}

func (v vars) Keys() []string {
	var keys []string
	for k := range v.args {
		keys = append(keys, k)
	}
	for k := range v.env {
		if _, ok := v.args[k]; !ok {
			keys = append(keys, k)
		}
	}
	return keys
}

// interpret parses a Dockerfile and applies every instruction to its base
// image's config, resolving FROM through r. Copies are planned, not done.
func interpret(ctx context.Context, dockerfile string, r resolver, now time.Time) (*plan, error) {
	res, err := parser.Parse(strings.NewReader(dockerfile))
	if err != nil {
		return nil, fmt.Errorf("parsing the Dockerfile: %v", err)
	}
	lex := shell.NewLex(res.EscapeToken)
	global := map[string]string{}
	var p *plan
	var v vars
	cmdSet := false
	for _, n := range res.AST.Children {
		instr := strings.ToUpper(n.Value)
		line := fmt.Sprintf("line %d: %s", n.StartLine, instr)
		if p == nil && instr != "FROM" && instr != "ARG" {
			return nil, fmt.Errorf("%s: the Dockerfile must start with FROM (or ARG)", line)
		}
		if len(n.Heredocs) > 0 {
			return nil, fmt.Errorf("%s: heredocs need BuildKit (imagebuild.buildkitAddr)", line)
		}
		expand := func(s string) (string, error) {
			env := vars{args: global}
			if p != nil {
				env = v
			}
			out, _, err := lex.ProcessWord(s, env)
			return out, err
		}
		flags, err := parseFlags(n.Flags)
		if err != nil {
			return nil, fmt.Errorf("%s: %v", line, err)
		}
		args := words(n.Next)
		emptyLayer := true
		var cp *copyOp
		switch instr {
		case "FROM":
			if p != nil {
				return nil, fmt.Errorf("%s: multi-stage builds need BuildKit (imagebuild.buildkitAddr)", line)
			}
			if err := onlyFlags(flags, "platform"); err != nil || len(args) == 0 || (len(args) != 1 && (len(args) != 3 || !strings.EqualFold(args[1], "AS"))) {
				return nil, fmt.Errorf("%s: want FROM image [AS name] (%v)", line, err)
			}
			ref, err := expand(args[0])
			if err != nil {
				return nil, fmt.Errorf("%s: %v", line, err)
			}
			b, err := r.From(ctx, ref)
			if err != nil {
				return nil, fmt.Errorf("%s %s: %w", line, ref, err)
			}
			p = &plan{base: b}
			if b.config != nil {
				p.config = *b.config.Config.DeepCopy()
				p.author = b.config.Author
			}
			v = vars{args: map[string]string{}, env: envMap(p.config.Env)}
			continue // FROM is no history entry
		case "ARG":
			for _, a := range args {
				k, def, hasDef := strings.Cut(a, "=")
				if hasDef {
					if def, err = expand(def); err != nil {
						return nil, fmt.Errorf("%s: %v", line, err)
					}
				}
				if p == nil {
					global[k] = def
					continue
				}
				if gv, ok := global[k]; ok && !hasDef {
					def = gv
				}
				v.args[k] = def
			}
			if p == nil {
				continue
			}
		case "ENV", "LABEL":
			for kv := n.Next; kv != nil && kv.Next != nil; kv = kv.Next.Next.Next {
				k, err1 := expand(kv.Value)
				val, err2 := expand(kv.Next.Value)
				if err1 != nil || err2 != nil || k == "" {
					return nil, fmt.Errorf("%s: bad key or value %q", line, kv.Value)
				}
				if instr == "ENV" {
					v.env[k] = val
					p.config.Env = setEnv(p.config.Env, k, val)
				} else {
					if p.config.Labels == nil {
						p.config.Labels = map[string]string{}
					}
					p.config.Labels[k] = val
				}
				if kv.Next.Next == nil {
					break
				}
			}
		case "WORKDIR", "USER", "STOPSIGNAL", "MAINTAINER":
			if len(args) != 1 {
				return nil, fmt.Errorf("%s: takes exactly one argument", line)
			}
			val, err := expand(args[0])
			if err != nil {
				return nil, fmt.Errorf("%s: %v", line, err)
			}
			switch instr {
			case "WORKDIR":
				p.config.WorkingDir = absPath(p.config.WorkingDir, val)
			case "USER":
				p.config.User = val
			case "STOPSIGNAL":
				p.config.StopSignal = val
			default:
				p.author = val
			}
		case "EXPOSE":
			for _, a := range args {
				port, err := expand(a)
				if err != nil {
					return nil, fmt.Errorf("%s: %v", line, err)
				}
				if port, err = normalizePort(port); err != nil {
					return nil, fmt.Errorf("%s: %v", line, err)
				}
				if p.config.ExposedPorts == nil {
					p.config.ExposedPorts = map[string]struct{}{}
				}
				p.config.ExposedPorts[port] = struct{}{}
			}
		case "VOLUME":
			for _, a := range args {
				vol, err := expand(a)
				if err != nil || vol == "" {
					return nil, fmt.Errorf("%s: bad volume %q", line, a)
				}
				if p.config.Volumes == nil {
					p.config.Volumes = map[string]struct{}{}
				}
				p.config.Volumes[vol] = struct{}{}
			}
		case "ENTRYPOINT", "CMD", "SHELL":
			cmd := args
			if !n.Attributes["json"] {
				if instr == "SHELL" {
					return nil, fmt.Errorf("%s: SHELL takes a JSON array", line)
				}
				cmd = append(shellOf(p.config.Shell), strings.Join(args, " "))
			}
			switch instr {
			case "ENTRYPOINT":
				p.config.Entrypoint = cmd
				if !cmdSet {
					p.config.Cmd = nil // a new entrypoint drops an inherited CMD
				}
			case "CMD":
				p.config.Cmd, cmdSet = cmd, true
			default:
				p.config.Shell = cmd
			}
		case "HEALTHCHECK":
			hc, err := healthcheck(n, flags)
			if err != nil {
				return nil, fmt.Errorf("%s: %v", line, err)
			}
			p.config.Healthcheck = hc
		case "ONBUILD":
			if n.Next == nil || len(n.Next.Children) == 0 {
				return nil, fmt.Errorf("%s: needs an instruction", line)
			}
			p.config.OnBuild = append(p.config.OnBuild, strings.TrimSpace(n.Next.Children[0].Original))
		case "COPY", "ADD":
			if cp, err = planCopy(instr == "ADD", args, flags, expand, p.config.WorkingDir); err != nil {
				return nil, fmt.Errorf("%s: %v", line, err)
			}
			emptyLayer = false
		case "RUN":
			return nil, fmt.Errorf("%s: %s", line, ErrNeedsRuntime)
		default:
			return nil, fmt.Errorf("%s: unknown instruction", line)
		}
		p.steps = append(p.steps, step{
			history: v1.History{Created: v1.Time{Time: now}, CreatedBy: strings.TrimSpace(n.Original), EmptyLayer: emptyLayer, Comment: "berth imagebuild"},
			copy:    cp,
		})
	}
	if p == nil {
		return nil, fmt.Errorf("the Dockerfile has no FROM")
	}
	return p, nil
}

// words returns the argument chain of a node.
func words(n *parser.Node) []string {
	var out []string
	for ; n != nil; n = n.Next {
		out = append(out, n.Value)
	}
	return out
}

func parseFlags(raw []string) (map[string]string, error) {
	out := map[string]string{}
	for _, f := range raw {
		k, v, _ := strings.Cut(strings.TrimPrefix(f, "--"), "=")
		if !strings.HasPrefix(f, "--") || k == "" {
			return nil, fmt.Errorf("bad flag %q", f)
		}
		out[k] = v
	}
	return out, nil
}

func onlyFlags(flags map[string]string, allowed ...string) error {
	for k := range flags {
		if !slices.Contains(allowed, k) {
			return fmt.Errorf("flag --%s is not supported without BuildKit (imagebuild.buildkitAddr)", k)
		}
	}
	return nil
}

func shellOf(sh []string) []string {
	if len(sh) == 0 {
		return []string{"/bin/sh", "-c"}
	}
	return slices.Clone(sh)
}

func envMap(env []string) map[string]string {
	m := map[string]string{}
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		m[k] = v
	}
	return m
}

func setEnv(env []string, k, v string) []string {
	for i, kv := range env {
		if name, _, _ := strings.Cut(kv, "="); name == k {
			env[i] = k + "=" + v
			return env
		}
	}
	return append(env, k+"="+v)
}

// absPath resolves p against dir (default "/").
func absPath(dir, p string) string {
	if !path.IsAbs(p) {
		if dir == "" {
			dir = "/"
		}
		p = path.Join(dir, p)
	}
	return path.Clean(p)
}

func normalizePort(p string) (string, error) {
	num, proto, ok := strings.Cut(p, "/")
	if !ok {
		proto = "tcp"
	}
	proto = strings.ToLower(proto)
	if num == "" || strings.Trim(num, "0123456789-") != "" || (proto != "tcp" && proto != "udp" && proto != "sctp") {
		return "", fmt.Errorf("bad port %q", p)
	}
	return num + "/" + proto, nil
}
