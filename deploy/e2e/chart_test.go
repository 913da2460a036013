package e2e

import (
	"bytes"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/berth-registry/berth/cmd/berth/berthtest"
)

// Values for several replicas: the shared state they need.
const sharedState = `
storage:
  driver: s3
  s3:
    endpoint: http://minio.storage.svc:9000
    bucket: berth
    accessKey: berth-access
    secretKey: berth-secret-key
database:
  type: postgres
  url: postgres://berth:pw@postgres.db.svc:5432/berth?sslmode=disable
cache: redis
redis:
  addr: redis.cache.svc:6379
  password: redis-pw
`

// TestChart lints the chart, renders it with each set of values, validates
// the manifests against the Kubernetes API schemas offline (deploy/kubecheck),
// checks what matters for running berth safely, and has berth itself accept
// the configuration and environment the chart gives it.
func TestChart(t *testing.T) {
	h := newHelm(t)
	h.run("lint", "--strict", chartDir(t))
	h.run("lint", "--strict", chartDir(t), "--set", "replicaCount=3", "--set", "storage.driver=s3", "--set", "storage.s3.bucket=b",
		"--set", "database.type=postgres", "--set", "database.url=postgres://u:p@db/berth", "--set", "cache=redis", "--set", "redis.addr=redis:6379")

	cases := []struct {
		name     string
		values   string
		allow    []string // objects the manifests may name without containing
		external map[string]string
		replicas int
		strategy string
		data     string // the data volume: "pvc:<claim>" or "emptyDir"
		kinds    string // sorted kinds rendered
		config   []string
	}{
		{name: "defaults", replicas: 1, strategy: "Recreate", data: "pvc:reg-berth",
			kinds:  "ConfigMap Deployment PersistentVolumeClaim PodDisruptionBudget Secret Service ServiceAccount",
			config: []string{`^storage\.driver\s+\S+\s+filesystem$`, `^database\.url\s+\S+\s+\S+/data/berth\.db$`, `^addr\s+\S+\s+0\.0\.0\.0:5000$`, `^log\.format\s+\S+\s+json$`}},
		{name: "emptyDir", values: "persistence: {enabled: false}\n", replicas: 1, strategy: "Recreate", data: "emptyDir",
			kinds: "ConfigMap Deployment PodDisruptionBudget Secret Service ServiceAccount"},
		{name: "existing claim", values: "persistence: {existingClaim: registry-data}\n", allow: []string{"PersistentVolumeClaim/registry-data"},
			replicas: 1, strategy: "Recreate", data: "pvc:registry-data", kinds: "ConfigMap Deployment PodDisruptionBudget Secret Service ServiceAccount"},
		{name: "s3 and postgres", values: strings.Replace(sharedState, "cache: redis", "cache: inmemory", 1),
			replicas: 1, strategy: "RollingUpdate", data: "emptyDir", kinds: "ConfigMap Deployment PodDisruptionBudget Secret Service ServiceAccount",
			config: []string{`^storage\.driver\s+\S+\s+s3$`, `^storage\.s3\.secretKey\s+\S+\s+\*+$`, `^database\.url\s+\S+\s+postgres://berth:xxxxx@postgres\.db\.svc:5432/berth\?sslmode=disable$`}},
		{name: "three replicas with ingress", values: sharedState + `
replicaCount: 3
publicUrl: https://registry.example.com
signingKey: ` + "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=" + `
preStopSleepSeconds: 5
config:
  log: {level: debug}
  auth: {tokenTtl: 10m}
  autoCreateProjects: true
ingress:
  enabled: true
  className: nginx
  annotations: {nginx.ingress.kubernetes.io/proxy-body-size: "0"}
  hosts: [{host: registry.example.com, paths: [{path: /, pathType: Prefix}]}]
  tls: [{secretName: registry-tls, hosts: [registry.example.com]}]
topologySpreadConstraints:
  - maxSkew: 1
    topologyKey: kubernetes.io/hostname
    whenUnsatisfiable: ScheduleAnyway
    labelSelector: {matchLabels: {app.kubernetes.io/name: berth}}
extraEnv:
  - {name: BERTH_CATALOG_MAX_ENTRIES, value: "500"}
`, replicas: 3, strategy: "RollingUpdate", data: "emptyDir",
			kinds: "ConfigMap Deployment Ingress PodDisruptionBudget Secret Service ServiceAccount",
			config: []string{`^cache\s+\S+\s+redis$`, `^redis\.addr\s+\S+\s+redis\.cache\.svc:6379$`, `^publicUrl\s+\S+\s+https://registry\.example\.com$`,
				`^auth\.tokenTtl\s+\S+\s+10m0s$`, `^log\.level\s+\S+\s+debug$`, `^autoCreateProjects\s+\S+\s+true$`, `^shutdownTimeout\s+\S+\s+30s$`,
				`^catalogMaxEntries\s+\S+\s+500$`, `^auth\.signingKey\s+\S+\s+\*+$`}},
		{name: "existing secret", values: sharedState + "replicaCount: 2\nexistingSecret: registry-credentials\nserviceAccount: {create: false}\n",
			allow: []string{"Secret/registry-credentials"}, replicas: 2, strategy: "RollingUpdate", data: "emptyDir",
			external: map[string]string{"admin-password": "Admin-passw0rd", "database-url": "postgres://u:p@db/berth", "s3-access-key": "ak", "s3-secret-key": "sk"},
			kinds:    "ConfigMap Deployment PodDisruptionBudget Service",
			config:   []string{`^database\.url\s+\S+\s+postgres://u:xxxxx@db/berth$`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out, err := h.template(tc.values)
			if err != nil {
				t.Fatalf("helm template: %v", err)
			}
			args := []string{"-q"}
			for _, a := range tc.allow {
				args = append(args, "-allow-missing", a)
			}
			cmd := exec.Command(kubecheck(t), args...)
			cmd.Stdin = strings.NewReader(out)
			if msg, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("kubecheck: %v\n%s\n%s", err, msg, out)
			}

			objs := parseManifests(t, out)
			var kinds []string
			for _, o := range objs {
				kinds = append(kinds, o.kind())
			}
			if got := strings.Join(slices.Sorted(slices.Values(kinds)), " "); got != tc.kinds {
				t.Errorf("kinds %s, want %s", got, tc.kinds)
			}
			dep := find(t, objs, "Deployment")
			checkDeployment(t, dep, tc.replicas, tc.strategy, tc.data)
			if pdb := find(t, objs, "PodDisruptionBudget"); pdb == nil || pdb.get("spec", "maxUnavailable") != 1 {
				t.Errorf("PodDisruptionBudget: %v", pdb)
			}
			settings := berthConfig(t, objs, tc.external)
			for _, re := range tc.config {
				if !regexp.MustCompile(`(?m)` + re).MatchString(settings) {
					t.Errorf("berth config lacks %s:\n%s", re, settings)
				}
			}
		})
	}
}

// checkDeployment: replicas, strategy, data volume, probes, and the
// restrictive security context the image is tested under.
func checkDeployment(t *testing.T, dep object, replicas int, strategy, data string) {
	t.Helper()
	pod := object(dep.get("spec", "template", "spec").(map[string]any))
	c := object(pod.get("containers", 0).(map[string]any))
	checks := []struct {
		what string
		got  any
		want any
	}{
		{"replicas", dep.get("spec", "replicas"), replicas},
		{"strategy", dep.get("spec", "strategy", "type"), strategy},
		{"enableServiceLinks", pod["enableServiceLinks"], false},
		{"automountServiceAccountToken", pod["automountServiceAccountToken"], false},
		{"pod runAsNonRoot", pod.get("securityContext", "runAsNonRoot"), true},
		{"pod runAsUser", pod.get("securityContext", "runAsUser"), 65532},
		{"pod fsGroup", pod.get("securityContext", "fsGroup"), 65532},
		{"seccompProfile", pod.get("securityContext", "seccompProfile", "type"), "RuntimeDefault"},
		{"readOnlyRootFilesystem", c.get("securityContext", "readOnlyRootFilesystem"), true},
		{"allowPrivilegeEscalation", c.get("securityContext", "allowPrivilegeEscalation"), false},
		{"capabilities", c.get("securityContext", "capabilities", "drop", 0), "ALL"},
		{"startup probe", c.get("startupProbe", "httpGet", "path"), "/healthz"},
		{"liveness probe", c.get("livenessProbe", "httpGet", "path"), "/healthz"},
		{"readiness probe", c.get("readinessProbe", "httpGet", "path"), "/readyz"},
		{"memory limit", c.get("resources", "limits", "memory") != nil, true},
	}
	for _, ck := range checks {
		if ck.got != ck.want {
			t.Errorf("Deployment %s = %v, want %v", ck.what, ck.got, ck.want)
		}
	}
	mounts := map[string]string{}
	for _, m := range c.get("volumeMounts").([]any) {
		mo := object(m.(map[string]any))
		mounts[mo["mountPath"].(string)] = mo["name"].(string)
	}
	volumes := map[string]object{}
	for _, v := range pod.get("volumes").([]any) {
		vo := object(v.(map[string]any))
		volumes[vo["name"].(string)] = vo
	}
	dataVol := volumes[mounts["/var/lib/berth"]]
	got := "emptyDir"
	if claim := dataVol.get("persistentVolumeClaim", "claimName"); claim != nil {
		got = "pvc:" + claim.(string)
	} else if dataVol.get("emptyDir") == nil {
		got = "?"
	}
	if got != data {
		t.Errorf("data volume %s, want %s", got, data)
	}
	if tmp := volumes[mounts["/tmp"]]; tmp == nil || tmp.get("emptyDir") == nil {
		t.Error("no writable /tmp (the root file system is read-only)")
	}
}

// The chart refuses, with a message naming what to set, values that cannot
// work: several replicas without S3, PostgreSQL and Redis, and the like.
func TestChartRefusesBadValues(t *testing.T) {
	h := newHelm(t)
	cases := []struct{ name, values, want string }{
		{"replicas on a filesystem", "replicaCount: 3\n",
			"replicaCount=3 needs state the replicas share: set storage.driver=s3 (now filesystem), database.type=postgres with database.url (now sqlite), cache=redis with redis.addr"},
		{"replicas without postgres", "replicaCount: 2\nstorage: {driver: s3, s3: {bucket: b}}\ncache: redis\nredis: {addr: r:6379}\n",
			"replicaCount=2 needs state the replicas share: set database.type=postgres with database.url (now sqlite)."},
		{"replicas without redis", strings.Replace(sharedState, "cache: redis", "cache: inmemory", 1) + "replicaCount: 2\n",
			"replicaCount=2 needs state the replicas share: set cache=redis with redis.addr."},
		{"s3 without a bucket", "storage: {driver: s3}\n", "storage.driver=s3 needs storage.s3.bucket"},
		{"postgres without a URL", "database: {type: postgres}\n", "database.type=postgres needs database.url"},
		{"a URL with sqlite", "database: {url: 'postgres://u:p@db/b'}\n", "database.url is set but database.type is sqlite"},
		{"not a postgres URL", "database: {type: postgres, url: 'mysql://db'}\n", "database.url must be a postgres:// URL"},
		{"redis cache without an address", "cache: redis\n", "cache=redis needs redis.addr"},
		{"unknown driver", "storage: {driver: gcs}\n", `storage.driver must be filesystem or s3, not "gcs"`},
		{"weak admin password", "adminPassword: password\n", "adminPassword needs 8-72 characters with letters and digits"},
		{"public URL with a path", "publicUrl: https://example.com/registry\n", "must be http(s)://host[:port] with no path"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out, err := h.template(tc.values)
			if err == nil {
				t.Fatalf("rendered:\n%s", out)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v\ndoes not say %q", err, tc.want)
			}
		})
	}
}

// The chart is itself a chart berth serves: packaged, pushed with helm over
// OCI, pulled back byte for byte, found through the classic chart
// repository, and installable from there (rendered from the pulled copy).
func TestChartThroughBerth(t *testing.T) {
	b := berthtest.Start(t, berthtest.Options{})
	h := newHelm(t)
	pkg := t.TempDir()
	h.run("package", chartDir(t), "-d", pkg)
	tgz := filepath.Join(pkg, "berth-0.1.0.tgz")
	want := readFile(t, tgz)

	out := h.run("push", tgz, "oci://"+b.Addr+"/library", "--plain-http")
	if !strings.Contains(out, b.Addr+"/library/berth:0.1.0") {
		t.Fatalf("helm push:\n%s", out)
	}
	pulled := t.TempDir()
	h.run("pull", "oci://"+b.Addr+"/library/berth", "--version", "0.1.0", "--plain-http", "-d", pulled)
	if !bytes.Equal(readFile(t, filepath.Join(pulled, "berth-0.1.0.tgz")), want) {
		t.Error("helm pull oci:// gave different bytes than were pushed")
	}

	h.run("repo", "add", "berth", b.URL("/chartrepo/library"), "--username", "admin", "--password", b.AdminPassword)
	h.run("repo", "update")
	if out := h.run("search", "repo", "berth/berth", "--versions"); !regexp.MustCompile(`berth/berth\s+0\.1\.0\s+0\.1\.0`).MatchString(out) {
		t.Errorf("helm search repo:\n%s", out)
	}
	classic := t.TempDir()
	h.run("pull", "berth/berth", "--version", "0.1.0", "-d", classic)
	if !bytes.Equal(readFile(t, filepath.Join(classic, "berth-0.1.0.tgz")), want) {
		t.Error("helm pull through the chart repository gave different bytes than were pushed")
	}
	rendered := h.run("template", "reg", filepath.Join(classic, "berth-0.1.0.tgz"), "--namespace", "registry")
	if !strings.Contains(rendered, "kind: Deployment") || !strings.Contains(rendered, `image: "berth:0.1.0"`) {
		t.Errorf("the pulled chart renders:\n%s", rendered)
	}
}
