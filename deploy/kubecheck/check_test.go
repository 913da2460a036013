package main

import (
	"errors"
	"os"
	"strings"
	"testing"
)

func check(t *testing.T, doc string, opts Options) ([]Object, error) {
	t.Helper()
	objs, errs := Check(strings.NewReader(doc), opts)
	return objs, errors.Join(errs...)
}

func TestValidSet(t *testing.T) {
	valid, err := os.ReadFile("testdata/valid.yaml")
	if err != nil {
		t.Fatal(err)
	}
	objs, err := check(t, string(valid), Options{})
	if err != nil {
		t.Fatalf("valid set rejected: %v", err)
	}
	var names []string
	for _, o := range objs {
		names = append(names, o.String())
	}
	if got := strings.Join(names, " "); got != "Secret/web ConfigMap/web Service/web Deployment/web PodDisruptionBudget/web Ingress/web" {
		t.Errorf("objects: %s", got)
	}
}

// Each case breaks the valid set in one place; kubecheck must say where.
func TestInvalid(t *testing.T) {
	valid, err := os.ReadFile("testdata/valid.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, old, new, want string
		opts                 Options
	}{
		{"unknown field", "  replicas: 2\n", "  replicas: 2\n  replica: 3\n", `unknown field "spec.replica"`, Options{}},
		{"wrong type", "  replicas: 2\n", "  replicas: two\n", "replicas", Options{}},
		{"misplaced field", "          image: web:1.0\n", "          image: web:1.0\n          runAsNonRoot: true\n", `unknown field "spec.template.spec.containers[0].runAsNonRoot"`, Options{}},
		{"bad quantity", "cpu: 100m", "cpu: lots", "quantities must match", Options{}},
		{"duplicate container port", "              containerPort: 8080\n", "              containerPort: 8080\n            - name: http2\n              containerPort: 8080\n", "duplicate entries", Options{}},
		{"duplicate key", "  replicas: 2\n", "  replicas: 2\n  replicas: 3\n", "replicas", Options{}},
		{"unknown kind", "kind: PodDisruptionBudget", "kind: PodDisruptionBudgetz", "not a kind of the Kubernetes API", Options{}},
		{"bad name", "kind: ConfigMap\nmetadata:\n  name: web", "kind: ConfigMap\nmetadata:\n  name: Web_Config", "metadata.name", Options{}},
		{"no namespace", "kind: ConfigMap\nmetadata:\n  name: web\n  namespace: apps\n", "kind: ConfigMap\nmetadata:\n  name: web\n", "metadata.namespace", Options{}},
		{"bad label value", "labels: {app.kubernetes.io/name: web}\nspec:\n  type", "labels: {app.kubernetes.io/name: \"web!\"}\nspec:\n  type", "metadata.labels", Options{}},
		{"selector misses template", "    matchLabels: {app.kubernetes.io/name: web}\n  template", "    matchLabels: {app.kubernetes.io/name: api}\n  template", "does not select the pod template", Options{}},
		{"probe port unknown", "port: http}", "port: metrics}", `no container port named "metrics"`, Options{}},
		{"request over limit", "limits: {memory: 128Mi}", "limits: {memory: 32Mi}", "exceeds its limit", Options{}},
		{"mount of a missing volume", "            - name: config\n              mountPath", "            - name: cfg\n              mountPath", "no volume of that name", Options{}},
		{"missing secret key", "{name: web, key: password}", "{name: web, key: token}", `has no key "token"`, Options{}},
		{"missing secret", "{name: web, key: password}", "{name: other, key: password}", "Secret/other is not in the set", Options{}},
		{"allowed missing secret", "{name: web, key: password}", "{name: other, key: password}", "", Options{AllowMissing: []string{"Secret/other"}}},
		{"service selects nothing", "  selector: {app.kubernetes.io/name: web}\n  ports", "  selector: {app.kubernetes.io/name: api}\n  ports", "selects no pod template", Options{}},
		{"service target port", "      targetPort: http\n", "      targetPort: web\n", "targetPort web is not a container port", Options{}},
		{"pdb both", "  maxUnavailable: 1\n", "  maxUnavailable: 1\n  minAvailable: 1\n", "exactly one of minAvailable and maxUnavailable", Options{}},
		{"ingress backend port", "port: {name: http}", "port: {name: https}", `has no port "https"`, Options{}},
		{"ingress without pathType", "            pathType: Prefix\n", "", "pathType: required", Options{}},
		{"root with runAsNonRoot", "runAsUser: 65532}", "runAsUser: 0}", "runAsNonRoot with runAsUser 0", Options{}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if !strings.Contains(string(valid), tc.old) {
				t.Fatalf("the valid set has no %q", tc.old)
			}
			doc := strings.Replace(string(valid), tc.old, tc.new, 1)
			_, err := check(t, doc, tc.opts)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("unexpected problems: %v", err)
			case tc.want != "" && err == nil:
				t.Fatalf("accepted; want a problem containing %q", tc.want)
			case tc.want != "" && !strings.Contains(err.Error(), tc.want):
				t.Fatalf("problems %v\ndo not contain %q", err, tc.want)
			}
		})
	}
}

func TestEmptyInput(t *testing.T) {
	if _, err := check(t, "# nothing\n---\n", Options{}); err == nil || !strings.Contains(err.Error(), "no Kubernetes objects") {
		t.Fatalf("empty input: %v", err)
	}
}
