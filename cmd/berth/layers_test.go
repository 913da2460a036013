package main

import (
	"bufio"
	"bytes"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// The layering of berth, enforced on what `go list` says every package
// imports (test files may import anything: a test of one layer drives the
// layers above it, as berthtest and apptest do):
//
//  1. Imports point down only: cmd (and deploy) → ext and charts → auth →
//     registry → storage. A package may import its own layer and those
//     below it.
//  2. A dialect (ext/..., charts) talks to the core through its services
//     (registry/domain, and registry/builder, registry/gc,
//     registry/retention and registry/proxy, which berth's own API
//     manages) and the
//     observability leaf (registry/observe): never the server (registry),
//     the index (registry/index) or storage and the database (storage/...),
//     so a change there cannot ripple into the APIs.
//  3. registry/observe imports nothing of berth's: every layer may use
//     it (request ids, the acting user, the audit event).
const module = "github.com/berth-registry/berth"

// layer is the rank of a package of the module: higher imports lower.
func layer(pkg string) int {
	first, _, _ := strings.Cut(strings.TrimPrefix(pkg, module+"/"), "/")
	switch first {
	case "cmd", "deploy": // deploy: tests of the image, the compose file and the chart
		return 5
	case "ext", "charts":
		return 4
	case "auth":
		return 3
	case "registry":
		return 2
	case "storage":
		return 1
	}
	return 0 // not a layer the rules know: the test says so
}

// dialectMayUse are the core packages a dialect imports.
var dialectMayUse = []string{"registry/domain", "registry/builder", "registry/gc", "registry/retention", "registry/proxy", "registry/observe", "registry/events"}

func TestImportsPointDown(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", "{{.ImportPath}}{{range .Imports}} {{.}}{{end}}", module+"/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	packages := 0
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		pkg, imports := fields[0], fields[1:]
		packages++
		rel := strings.TrimPrefix(pkg, module+"/")
		if layer(pkg) == 0 {
			t.Errorf("%s is in no layer (cmd and deploy, ext and charts, auth, registry, storage)", rel)
		}
		dialect := layer(pkg) == 4
		for _, imp := range imports {
			if !strings.HasPrefix(imp, module+"/") {
				continue
			}
			to := strings.TrimPrefix(imp, module+"/")
			switch {
			case layer(imp) > layer(pkg):
				t.Errorf("%s imports %s: imports point down only (cmd → ext/charts → auth → registry → storage)", rel, to)
			case rel == "registry/observe":
				t.Errorf("registry/observe imports %s: it is a leaf", to)
			case dialect && layer(imp) <= 2 && !slices.Contains(dialectMayUse, to):
				t.Errorf("%s imports %s: a dialect uses the core through %s only", rel, to, strings.Join(dialectMayUse, ", "))
			}
		}
	}
	if packages < 20 {
		t.Fatalf("go list named %d packages: %s", packages, out)
	}
}
