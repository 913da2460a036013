package main

import (
	"fmt"
	"slices"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// workload is a pod template in the set, with what Services may target.
type workload struct {
	name   string
	labels map[string]string
	spec   *corev1.PodSpec
}

// inventory indexes the set by kind and name.
type inventory struct {
	keys      map[string]map[string]bool // "Secret/name" → keys of its data
	services  map[string]*corev1.Service
	workloads []workload
	allowed   map[string]bool
}

func (inv *inventory) has(kindName string) bool {
	_, ok := inv.keys[kindName]
	return ok || inv.allowed[kindName]
}

// checkReferences checks what the objects of a set say about each other.
func checkReferences(objs []Object, opts Options) []error {
	inv := &inventory{keys: map[string]map[string]bool{}, services: map[string]*corev1.Service{}, allowed: map[string]bool{}}
	for _, a := range opts.AllowMissing {
		inv.allowed[a] = true
	}
	for _, o := range objs {
		switch v := o.Obj.(type) {
		case *corev1.Secret:
			keys := map[string]bool{}
			for k := range v.Data {
				keys[k] = true
			}
			for k := range v.StringData {
				keys[k] = true
			}
			inv.keys["Secret/"+v.Name] = keys
		case *corev1.ConfigMap:
			keys := map[string]bool{}
			for k := range v.Data {
				keys[k] = true
			}
			inv.keys["ConfigMap/"+v.Name] = keys
		case *corev1.PersistentVolumeClaim, *corev1.ServiceAccount:
			inv.keys[o.String()] = nil
		case *corev1.Service:
			inv.services[v.Name] = v
		case *appsv1.Deployment:
			inv.workloads = append(inv.workloads, workload{o.String(), v.Spec.Template.Labels, &v.Spec.Template.Spec})
		}
	}
	var errs []error
	for _, w := range inv.workloads {
		for _, e := range inv.podReferences(w.spec) {
			errs = append(errs, fmt.Errorf("%s: %w", w.name, e))
		}
	}
	for _, o := range objs {
		switch v := o.Obj.(type) {
		case *corev1.Service:
			errs = append(errs, inv.serviceTargets(v)...)
		case *policyv1.PodDisruptionBudget:
			if len(inv.selected(v.Spec.Selector)) == 0 {
				errs = append(errs, fmt.Errorf("%s: spec.selector selects no pod template of the set", o))
			}
		case *networkingv1.Ingress:
			errs = append(errs, inv.ingressBackends(o, v)...)
		}
	}
	return errs
}

// podReferences: the Secrets, ConfigMaps (and their keys), claims and
// service account a pod names exist, unless marked optional.
func (inv *inventory) podReferences(spec *corev1.PodSpec) []error {
	var errs []error
	need := func(kindName, key string, optional *bool, what string) {
		if optional != nil && *optional {
			return
		}
		if !inv.has(kindName) {
			errs = append(errs, fmt.Errorf("%s: %s is not in the set", what, kindName))
			return
		}
		if keys := inv.keys[kindName]; key != "" && keys != nil && !keys[key] {
			errs = append(errs, fmt.Errorf("%s: %s has no key %q", what, kindName, key))
		}
	}
	if sa := spec.ServiceAccountName; sa != "" && sa != "default" {
		need("ServiceAccount/"+sa, "", nil, "serviceAccountName")
	}
	for _, v := range spec.Volumes {
		switch {
		case v.Secret != nil:
			need("Secret/"+v.Secret.SecretName, "", v.Secret.Optional, "volume "+v.Name)
		case v.ConfigMap != nil:
			need("ConfigMap/"+v.ConfigMap.Name, "", v.ConfigMap.Optional, "volume "+v.Name)
			for _, item := range v.ConfigMap.Items {
				need("ConfigMap/"+v.ConfigMap.Name, item.Key, v.ConfigMap.Optional, "volume "+v.Name)
			}
		case v.PersistentVolumeClaim != nil:
			need("PersistentVolumeClaim/"+v.PersistentVolumeClaim.ClaimName, "", nil, "volume "+v.Name)
		}
	}
	for _, c := range append(append([]corev1.Container{}, spec.InitContainers...), spec.Containers...) {
		for _, e := range c.Env {
			if e.ValueFrom == nil {
				continue
			}
			if r := e.ValueFrom.SecretKeyRef; r != nil {
				need("Secret/"+r.Name, r.Key, r.Optional, "env "+e.Name)
			}
			if r := e.ValueFrom.ConfigMapKeyRef; r != nil {
				need("ConfigMap/"+r.Name, r.Key, r.Optional, "env "+e.Name)
			}
		}
		for _, ef := range c.EnvFrom {
			if ef.SecretRef != nil {
				need("Secret/"+ef.SecretRef.Name, "", ef.SecretRef.Optional, "envFrom")
			}
			if ef.ConfigMapRef != nil {
				need("ConfigMap/"+ef.ConfigMapRef.Name, "", ef.ConfigMapRef.Optional, "envFrom")
			}
		}
	}
	return errs
}

// selected returns the workloads whose pod labels sel selects.
func (inv *inventory) selected(sel *metav1.LabelSelector) []workload {
	s, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil || s.Empty() {
		return nil
	}
	var out []workload
	for _, w := range inv.workloads {
		if s.Matches(labels.Set(w.labels)) {
			out = append(out, w)
		}
	}
	return out
}

// serviceTargets: a Service selects pods of the set, and each target port
// is a port of their containers.
func (inv *inventory) serviceTargets(s *corev1.Service) []error {
	if len(s.Spec.Selector) == 0 {
		return nil // reported by checkService
	}
	ws := inv.selected(&metav1.LabelSelector{MatchLabels: s.Spec.Selector})
	if len(ws) == 0 {
		return []error{fmt.Errorf("%s: spec.selector %v selects no pod template of the set", "Service/"+s.Name, s.Spec.Selector)}
	}
	var errs []error
	for _, p := range s.Spec.Ports {
		target := p.TargetPort
		if target.Type == intstr.Int && target.IntVal == 0 {
			target = intstr.FromInt32(p.Port)
		}
		for _, w := range ws {
			if !podHasPort(w.spec, target) {
				errs = append(errs, fmt.Errorf("%s: port %s: targetPort %s is not a container port of %s", "Service/"+s.Name, p.Name, target.String(), w.name))
			}
		}
	}
	return errs
}

func podHasPort(spec *corev1.PodSpec, p intstr.IntOrString) bool {
	for _, c := range spec.Containers {
		if slices.ContainsFunc(c.Ports, func(cp corev1.ContainerPort) bool {
			return (p.Type == intstr.String && cp.Name == p.StrVal) || (p.Type == intstr.Int && cp.ContainerPort == p.IntVal)
		}) {
			return true
		}
	}
	return false
}

// ingressBackends: every backend is a Service of the set and one of its
// ports.
func (inv *inventory) ingressBackends(o Object, ing *networkingv1.Ingress) []error {
	var errs []error
	for _, r := range ing.Spec.Rules {
		if r.HTTP == nil {
			continue
		}
		for _, p := range r.HTTP.Paths {
			b := p.Backend.Service
			if b == nil {
				continue
			}
			svc, ok := inv.services[b.Name]
			if !ok {
				if !inv.allowed["Service/"+b.Name] {
					errs = append(errs, fmt.Errorf("%s: backend Service/%s is not in the set", o, b.Name))
				}
				continue
			}
			if !slices.ContainsFunc(svc.Spec.Ports, func(sp corev1.ServicePort) bool {
				return (b.Port.Name != "" && sp.Name == b.Port.Name) || (b.Port.Number != 0 && sp.Port == b.Port.Number)
			}) {
				errs = append(errs, fmt.Errorf("%s: backend Service/%s has no port %q/%d", o, b.Name, b.Port.Name, b.Port.Number))
			}
		}
	}
	return errs
}
