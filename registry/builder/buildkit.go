package builder

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/moby/buildkit/frontend/dockerfile/parser"
)

// buildkit hands a whole build to the BuildKit daemon at
// imagebuild.buildkitAddr through buildctl (which must be on PATH). FROM
// lines naming berth's images are rewritten to berth's public host, which
// the daemon must be able to reach; the push authenticates with a token
// minted for the operator. This path is implemented but not exercised by
// berth's tests (they run without a BuildKit daemon).
func (s *Service) buildkit(ctx context.Context, df, dir, tmp, repo, tag string, reg *registry, logf func(string, ...any)) (string, error) {
	bin, err := exec.LookPath("buildctl")
	if err != nil {
		return "", fmt.Errorf("imagebuild.buildkitAddr is set but buildctl is not on PATH")
	}
	host := s.publicHost()
	_, own := s.endpoint()
	rewritten, pulled, err := rewriteFrom(df, host, own)
	if err != nil {
		return "", err
	}
	reg.pulled = pulled
	tok, err := s.creds.RegistryToken(ctx, reg.op, pulled, []string{repo})
	if err != nil {
		return "", err
	}
	dfDir := filepath.Join(tmp, "dockerfile")
	cfgDir := filepath.Join(tmp, "docker-config")
	for _, d := range []string{dfDir, cfgDir} {
		if err := os.Mkdir(d, 0o700); err != nil {
			return "", err
		}
	}
	if err := os.WriteFile(filepath.Join(dfDir, "Dockerfile"), []byte(rewritten), 0o600); err != nil {
		return "", err
	}
	cfg, _ := json.Marshal(map[string]any{"auths": map[string]any{host: map[string]string{"registrytoken": tok}}})
	if err := os.WriteFile(filepath.Join(cfgDir, "config.json"), cfg, 0o600); err != nil {
		return "", err
	}
	meta := filepath.Join(tmp, "metadata.json")
	cmd := exec.CommandContext(ctx, bin, "--addr", s.cfg.BuildkitAddr, "build",
		"--frontend", "dockerfile.v0", "--local", "context="+dir, "--local", "dockerfile="+dfDir,
		"--output", "type=image,name="+host+"/"+repo+":"+tag+",push=true,registry.insecure=true",
		"--metadata-file", meta)
	cmd.Env = append(os.Environ(), "DOCKER_CONFIG="+cfgDir)
	out, err := cmd.CombinedOutput()
	logf("buildctl:\n%s", strings.TrimRight(string(out), "\n"))
	if err != nil {
		return "", fmt.Errorf("buildctl: %v", err)
	}
	var m struct {
		Digest string `json:"containerimage.digest"`
	}
	b, err := os.ReadFile(meta)
	if err == nil {
		err = json.Unmarshal(b, &m)
	}
	if err != nil || m.Digest == "" {
		return "", fmt.Errorf("buildctl wrote no image digest: %v", err)
	}
	return m.Digest, nil
}

// rewriteFrom puts host in front of every FROM image that names berth's
// own store and returns the repositories they read.
func rewriteFrom(df, host string, own []string) (string, []string, error) {
	res, err := parser.Parse(strings.NewReader(df))
	if err != nil {
		return "", nil, fmt.Errorf("parsing the Dockerfile: %v", err)
	}
	lines := strings.Split(df, "\n")
	var pulled []string
	stages := map[string]bool{}
	for _, n := range res.AST.Children {
		if !strings.EqualFold(n.Value, "from") || n.Next == nil {
			continue
		}
		args := words(n.Next)
		img := args[0]
		known := stages[strings.ToLower(img)]
		if len(args) == 3 {
			stages[strings.ToLower(args[2])] = true
		}
		if img == "scratch" || known || strings.Contains(img, "$") {
			continue
		}
		ir, err := splitRef(img, own)
		if err != nil || !ir.local {
			continue
		}
		pulled = append(pulled, ir.repo)
		line := "FROM " + strings.Join(n.Flags, " ") + " " + host + "/" + ir.repo + ir.ref
		if len(args) == 3 {
			line += " AS " + args[2]
		}
		for i := n.StartLine; i <= n.EndLine && i-1 < len(lines); i++ {
			lines[i-1] = ""
		}
		lines[n.StartLine-1] = line
	}
	return strings.Join(lines, "\n"), pulled, nil
}
