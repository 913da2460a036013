package main

import (
	"fmt"
	"path"
	"reflect"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"
)

// checkKind applies the rules of the API server's validation that a schema
// cannot express, for the kinds a Helm chart of a web service renders.
func checkKind(obj runtime.Object) []error {
	switch o := obj.(type) {
	case *appsv1.Deployment:
		return checkDeployment(o)
	case *corev1.Service:
		return checkService(o)
	case *policyv1.PodDisruptionBudget:
		return checkPDB(o)
	case *networkingv1.Ingress:
		return checkIngress(o)
	case *corev1.PersistentVolumeClaim:
		if len(o.Spec.AccessModes) == 0 {
			return []error{fmt.Errorf("spec.accessModes: at least one is required")}
		}
		if _, ok := o.Spec.Resources.Requests[corev1.ResourceStorage]; !ok {
			return []error{fmt.Errorf("spec.resources.requests.storage: required")}
		}
	}
	return nil
}

func checkDeployment(d *appsv1.Deployment) []error {
	var errs []error
	if d.Spec.Replicas != nil && *d.Spec.Replicas < 0 {
		errs = append(errs, fmt.Errorf("spec.replicas: %d is negative", *d.Spec.Replicas))
	}
	errs = append(errs, checkSelector("spec.selector", d.Spec.Selector, d.Spec.Template.Labels)...)
	if d.Spec.Strategy.Type == appsv1.RecreateDeploymentStrategyType && d.Spec.Strategy.RollingUpdate != nil {
		errs = append(errs, fmt.Errorf("spec.strategy.rollingUpdate: may not be set with type Recreate"))
	}
	return append(errs, checkPodSpec("spec.template.spec", &d.Spec.Template.Spec)...)
}

// checkSelector: a selector is required, valid, and selects the template.
func checkSelector(field string, sel *metav1.LabelSelector, podLabels map[string]string) []error {
	if sel == nil || (len(sel.MatchLabels) == 0 && len(sel.MatchExpressions) == 0) {
		return []error{fmt.Errorf("%s: required and not empty", field)}
	}
	s, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		return []error{fmt.Errorf("%s: %v", field, err)}
	}
	if podLabels != nil && !s.Matches(labels.Set(podLabels)) {
		return []error{fmt.Errorf("%s: %s does not select the pod template's labels %v", field, s, podLabels)}
	}
	return nil
}

func checkPodSpec(field string, spec *corev1.PodSpec) []error {
	var errs []error
	fail := func(format string, args ...any) { errs = append(errs, fmt.Errorf(field+"."+format, args...)) }
	volumes := map[string]bool{}
	for i, v := range spec.Volumes {
		volumes[v.Name] = true
		if msgs := validation.IsDNS1123Label(v.Name); len(msgs) > 0 {
			fail("volumes[%d].name: %q: %v", i, v.Name, msgs)
		}
		if n := setFields(v.VolumeSource); n != 1 {
			fail("volumes[%d] (%s): %d volume sources, want exactly one", i, v.Name, n)
		}
	}
	if len(spec.Containers) == 0 {
		fail("containers: at least one is required")
	}
	for _, c := range append(append([]corev1.Container{}, spec.InitContainers...), spec.Containers...) {
		where := fmt.Sprintf("containers[%s]", c.Name)
		if msgs := validation.IsDNS1123Label(c.Name); len(msgs) > 0 {
			fail("%s.name: %v", where, msgs)
		}
		if c.Image == "" {
			fail("%s.image: required", where)
		}
		ports := map[string]bool{}
		numbers := map[int32]bool{}
		for _, p := range c.Ports {
			if p.Name != "" {
				ports[p.Name] = true
				if msgs := validation.IsValidPortName(p.Name); len(msgs) > 0 {
					fail("%s.ports[%s]: %v", where, p.Name, msgs)
				}
			}
			numbers[p.ContainerPort] = true
			if msgs := validation.IsValidPortNum(int(p.ContainerPort)); len(msgs) > 0 {
				fail("%s.ports.containerPort %d: %v", where, p.ContainerPort, msgs)
			}
		}
		for name, probe := range map[string]*corev1.Probe{"livenessProbe": c.LivenessProbe, "readinessProbe": c.ReadinessProbe, "startupProbe": c.StartupProbe} {
			if probe == nil {
				continue
			}
			if n := setFields(probe.ProbeHandler); n != 1 {
				fail("%s.%s: %d handlers, want exactly one", where, name, n)
			}
			if probe.HTTPGet != nil {
				if err := portExists(probe.HTTPGet.Port, ports, numbers); err != nil {
					fail("%s.%s.httpGet.port: %v", where, name, err)
				}
				if !path.IsAbs(probe.HTTPGet.Path) {
					fail("%s.%s.httpGet.path: %q is not absolute", where, name, probe.HTTPGet.Path)
				}
			}
			if name == "livenessProbe" || name == "startupProbe" {
				if probe.SuccessThreshold > 1 {
					fail("%s.%s.successThreshold: must be 1", where, name)
				}
			}
		}
		for _, e := range c.Env {
			if msgs := validation.IsEnvVarName(e.Name); len(msgs) > 0 {
				fail("%s.env[%s]: %v", where, e.Name, msgs)
			}
			if e.ValueFrom != nil && (e.Value != "" || setFields(*e.ValueFrom) != 1) {
				fail("%s.env[%s]: valueFrom needs exactly one source and no value", where, e.Name)
			}
		}
		for _, m := range c.VolumeMounts {
			if !volumes[m.Name] {
				fail("%s.volumeMounts[%s]: no volume of that name", where, m.Name)
			}
			if !path.IsAbs(m.MountPath) {
				fail("%s.volumeMounts[%s].mountPath: %q is not absolute", where, m.Name, m.MountPath)
			}
		}
		for res, limit := range c.Resources.Limits {
			if req, ok := c.Resources.Requests[res]; ok && req.Cmp(limit) > 0 {
				fail("%s.resources: request %s of %s exceeds its limit %s", where, req.String(), res, limit.String())
			}
		}
		if sc := c.SecurityContext; sc != nil && sc.RunAsNonRoot != nil && *sc.RunAsNonRoot && sc.RunAsUser != nil && *sc.RunAsUser == 0 {
			fail("%s.securityContext: runAsNonRoot with runAsUser 0", where)
		}
	}
	if sc := spec.SecurityContext; sc != nil && sc.RunAsNonRoot != nil && *sc.RunAsNonRoot && sc.RunAsUser != nil && *sc.RunAsUser == 0 {
		fail("securityContext: runAsNonRoot with runAsUser 0")
	}
	return errs
}

// portExists checks a probe's or Service's port against a container's.
func portExists(p intstr.IntOrString, names map[string]bool, numbers map[int32]bool) error {
	if p.Type == intstr.String {
		if msgs := validation.IsValidPortName(p.StrVal); len(msgs) > 0 {
			return fmt.Errorf("%q: %v", p.StrVal, msgs)
		}
		if !names[p.StrVal] {
			return fmt.Errorf("no container port named %q", p.StrVal)
		}
		return nil
	}
	if msgs := validation.IsValidPortNum(int(p.IntVal)); len(msgs) > 0 {
		return fmt.Errorf("%d: %v", p.IntVal, msgs)
	}
	return nil
}

func checkService(s *corev1.Service) []error {
	var errs []error
	if len(s.Spec.Ports) == 0 {
		errs = append(errs, fmt.Errorf("spec.ports: at least one is required"))
	}
	for _, p := range s.Spec.Ports {
		if len(s.Spec.Ports) > 1 && p.Name == "" {
			errs = append(errs, fmt.Errorf("spec.ports: every port needs a name when there are several"))
		}
		if msgs := validation.IsValidPortNum(int(p.Port)); len(msgs) > 0 {
			errs = append(errs, fmt.Errorf("spec.ports[%s].port: %v", p.Name, msgs))
		}
		if p.TargetPort.Type == intstr.String {
			if msgs := validation.IsValidPortName(p.TargetPort.StrVal); len(msgs) > 0 {
				errs = append(errs, fmt.Errorf("spec.ports[%s].targetPort: %v", p.Name, msgs))
			}
		}
	}
	if s.Spec.Type != corev1.ServiceTypeExternalName && len(s.Spec.Selector) == 0 {
		errs = append(errs, fmt.Errorf("spec.selector: empty (the Service would select no pods)"))
	}
	return errs
}

func checkPDB(p *policyv1.PodDisruptionBudget) []error {
	var errs []error
	if (p.Spec.MinAvailable == nil) == (p.Spec.MaxUnavailable == nil) {
		errs = append(errs, fmt.Errorf("spec: exactly one of minAvailable and maxUnavailable is required"))
	}
	return append(errs, checkSelector("spec.selector", p.Spec.Selector, nil)...)
}

func checkIngress(ing *networkingv1.Ingress) []error {
	var errs []error
	for _, r := range ing.Spec.Rules {
		if r.Host != "" {
			if msgs := validation.IsFullyQualifiedDomainName(nil, r.Host); len(msgs) > 0 {
				errs = append(errs, fmt.Errorf("spec.rules host %q: %v", r.Host, msgs.ToAggregate()))
			}
		}
		if r.HTTP == nil {
			continue
		}
		for _, p := range r.HTTP.Paths {
			if p.PathType == nil {
				errs = append(errs, fmt.Errorf("spec.rules[%s].paths[%s].pathType: required", r.Host, p.Path))
			}
			if !path.IsAbs(p.Path) {
				errs = append(errs, fmt.Errorf("spec.rules[%s].paths[%s]: not an absolute path", r.Host, p.Path))
			}
			if p.Backend.Service == nil || p.Backend.Service.Name == "" {
				errs = append(errs, fmt.Errorf("spec.rules[%s].paths[%s].backend.service: required", r.Host, p.Path))
			} else if (p.Backend.Service.Port.Name == "") == (p.Backend.Service.Port.Number == 0) {
				errs = append(errs, fmt.Errorf("spec.rules[%s].paths[%s].backend.service.port: exactly one of name and number", r.Host, p.Path))
			}
		}
	}
	return errs
}

// setFields counts the non-nil pointer fields of a one-of struct (a volume
// source, a probe handler, an env var source).
func setFields(v any) int {
	rv := reflect.ValueOf(v)
	n := 0
	for i := range rv.NumField() {
		if f := rv.Field(i); f.Kind() == reflect.Pointer && !f.IsNil() {
			n++
		}
	}
	return n
}
