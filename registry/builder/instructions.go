package builder

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
)

// healthcheck reads HEALTHCHECK [flags] NONE | CMD command.
func healthcheck(n *parser.Node, flags map[string]string) (*v1.HealthConfig, error) {
	if n.Next == nil {
		return nil, fmt.Errorf("needs NONE or CMD")
	}
	typ := strings.ToUpper(n.Next.Value)
	if typ == "NONE" {
		if len(flags) > 0 || n.Next.Next != nil {
			return nil, fmt.Errorf("HEALTHCHECK NONE takes no arguments")
		}
		return &v1.HealthConfig{Test: []string{"NONE"}}, nil
	}
	if typ != "CMD" {
		return nil, fmt.Errorf("unknown type %q (want NONE or CMD)", n.Next.Value)
	}
	if err := onlyFlags(flags, "interval", "timeout", "start-period", "start-interval", "retries"); err != nil {
		return nil, err
	}
	cmd := words(n.Next.Next)
	if len(cmd) == 0 {
		return nil, fmt.Errorf("HEALTHCHECK CMD needs a command")
	}
	hc := &v1.HealthConfig{Test: append([]string{"CMD"}, cmd...)}
	if !n.Attributes["json"] {
		hc.Test = []string{"CMD-SHELL", strings.Join(cmd, " ")}
	}
	for k, dst := range map[string]*time.Duration{"interval": &hc.Interval, "timeout": &hc.Timeout, "start-period": &hc.StartPeriod} {
		if s, ok := flags[k]; ok {
			d, err := time.ParseDuration(s)
			if err != nil || d < 0 {
				return nil, fmt.Errorf("--%s=%q is not a duration", k, s)
			}
			*dst = d
		}
	}
	if s, ok := flags["retries"]; ok {
		r, err := strconv.Atoi(s)
		if err != nil || r < 0 {
			return nil, fmt.Errorf("--retries=%q is not a count", s)
		}
		hc.Retries = r
	}
	return hc, nil
}

// planCopy reads COPY/ADD [--chown=uid:gid] [--chmod=mode] src... dest.
func planCopy(add bool, args []string, flags map[string]string, expand func(string) (string, error), workdir string) (*copyOp, error) {
	if _, ok := flags["from"]; ok {
		return nil, fmt.Errorf("--from (multi-stage) needs BuildKit (imagebuild.buildkitAddr)")
	}
	if err := onlyFlags(flags, "chown", "chmod", "link"); err != nil {
		return nil, err
	}
	if len(args) < 2 {
		return nil, fmt.Errorf("needs at least one source and a destination")
	}
	op := &copyOp{add: add, chmod: -1}
	for _, a := range args {
		s, err := expand(a)
		if err != nil {
			return nil, err
		}
		op.srcs = append(op.srcs, s)
	}
	dest := op.srcs[len(op.srcs)-1]
	op.srcs = op.srcs[:len(op.srcs)-1]
	op.dest = absPath(workdir, dest)
	if strings.HasSuffix(dest, "/") || dest == "." || len(op.srcs) > 1 {
		op.dest += "/" // a directory
	}
	if c, ok := flags["chown"]; ok {
		u, g, hasG := strings.Cut(c, ":")
		uid, err1 := strconv.Atoi(u)
		gid, err2 := uid, error(nil)
		if hasG {
			gid, err2 = strconv.Atoi(g)
		}
		if err1 != nil || err2 != nil || uid < 0 || gid < 0 {
			return nil, fmt.Errorf("--chown=%s: the daemonless builder takes numeric uid[:gid] only", c)
		}
		op.uid, op.gid = uid, gid
	}
	if c, ok := flags["chmod"]; ok {
		m, err := strconv.ParseInt(c, 8, 32)
		if err != nil || m < 0 || m > 0o7777 {
			return nil, fmt.Errorf("--chmod=%s is not an octal mode", c)
		}
		op.chmod = m
	}
	for _, s := range op.srcs {
		if add && (strings.HasPrefix(s, "http://") || strings.HasPrefix(s, "https://")) {
			continue
		}
		if strings.Contains(s, "://") {
			return nil, fmt.Errorf("source %q: only files of the build context (or http(s) URLs for ADD)", s)
		}
	}
	return op, nil
}
