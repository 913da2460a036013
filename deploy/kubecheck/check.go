// Command kubecheck validates Kubernetes manifests offline: each document
// against the Kubernetes API schema client-go carries (the OpenAPI schema,
// compiled into its apply configurations: unknown fields, wrong types,
// duplicate keys in keyed lists), by strict decoding into the k8s.io/api Go
// types (unknown and duplicate fields, quantities, int-or-strings), by the
// object-metadata rules of k8s.io/apimachinery (names, labels,
// annotations), and across documents: selectors select the pod template,
// and the Secrets, ConfigMaps, claims, Services and ports an object names
// are in the set. Nothing is downloaded: the schema is in the module.
//
//	helm template ... | kubecheck [-allow-missing Secret/name]... [FILE...]
//
// It lives in a module of its own so berth's go.mod stays free of
// client-go.
package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"

	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer/json"
	"k8s.io/apimachinery/pkg/util/validation/field"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/applyconfigurations"
	"k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/yaml"
)

// Object is one validated document.
type Object struct {
	GVK  schema.GroupVersionKind
	Name string
	Obj  runtime.Object // the typed object (a *appsv1.Deployment, ...)
}

func (o Object) String() string { return o.GVK.Kind + "/" + o.Name }

// Options tune the cross-document checks.
type Options struct {
	// AllowMissing names objects that may be referenced without being in
	// the set ("Secret/name"): ones the user manages (an existing Secret).
	AllowMissing []string
}

var (
	typeConverter = applyconfigurations.NewTypeConverter(scheme.Scheme)
	strict        = json.NewSerializerWithOptions(json.DefaultMetaFactory, scheme.Scheme, scheme.Scheme,
		json.SerializerOptions{Yaml: true, Strict: true})
)

// Check validates every document of a multi-document YAML stream and
// returns the objects and every problem found, each naming its object.
func Check(r io.Reader, opts Options) ([]Object, []error) {
	var objs []Object
	var errs []error
	reader := utilyaml.NewYAMLReader(bufio.NewReader(r))
	for n := 1; ; n++ {
		doc, err := reader.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return objs, append(errs, fmt.Errorf("document %d: %v", n, err))
		}
		if len(bytes.TrimSpace(stripComments(doc))) == 0 {
			continue
		}
		obj, docErrs := checkDocument(doc)
		where := fmt.Sprintf("document %d", n)
		if obj != nil {
			where = obj.String()
			objs = append(objs, *obj)
		}
		for _, e := range docErrs {
			errs = append(errs, fmt.Errorf("%s: %w", where, e))
		}
	}
	if len(objs) == 0 && len(errs) == 0 {
		errs = append(errs, errors.New("no Kubernetes objects in the input"))
	}
	return objs, append(errs, checkReferences(objs, opts)...)
}

// checkDocument validates one document on its own.
func checkDocument(doc []byte) (*Object, []error) {
	var u unstructured.Unstructured
	jsonDoc, err := yaml.YAMLToJSON(doc)
	if err != nil {
		return nil, []error{fmt.Errorf("not YAML: %v", err)}
	}
	if err := u.UnmarshalJSON(jsonDoc); err != nil {
		return nil, []error{fmt.Errorf("not a Kubernetes object: %v", err)}
	}
	gvk := u.GroupVersionKind()
	obj := &Object{GVK: gvk, Name: u.GetName()}
	if !scheme.Scheme.Recognizes(gvk) {
		return obj, []error{fmt.Errorf("%s is not a kind of the Kubernetes API (no schema for it)", gvk)}
	}
	var errs []error
	// 1. The API schema.
	if _, err := typeConverter.ObjectToTyped(&u); err != nil {
		errs = append(errs, fmt.Errorf("schema: %v", err))
	}
	// 2. Strict decoding into the Go type.
	typed, _, err := strict.Decode(doc, &gvk, nil)
	if err != nil {
		return obj, append(errs, fmt.Errorf("decoding: %v", err))
	}
	obj.Obj = typed
	// 3. Metadata rules.
	meta, err := metaOf(typed)
	if err != nil {
		return obj, append(errs, err)
	}
	nameFn := apivalidation.NameIsDNSSubdomain
	if gvk.Kind == "Service" {
		nameFn = apivalidation.NameIsDNS1035Label
	}
	for _, e := range apivalidation.ValidateObjectMeta(meta, true, nameFn, field.NewPath("metadata")) {
		errs = append(errs, e)
	}
	// 4. Per-kind rules that the schema cannot express.
	errs = append(errs, checkKind(typed)...)
	return obj, errs
}

func metaOf(obj runtime.Object) (*metav1.ObjectMeta, error) {
	type hasMeta interface{ GetObjectMeta() metav1.Object }
	m, ok := obj.(hasMeta)
	if !ok {
		return nil, fmt.Errorf("%T has no object metadata", obj)
	}
	om, ok := m.GetObjectMeta().(*metav1.ObjectMeta)
	if !ok {
		return nil, fmt.Errorf("%T has no object metadata", obj)
	}
	return om, nil
}

// stripComments drops YAML comment lines (helm template writes
// "# Source: ..." before each document).
func stripComments(doc []byte) []byte {
	var out []string
	for _, l := range strings.Split(string(doc), "\n") {
		if t := strings.TrimSpace(l); t != "" && !strings.HasPrefix(t, "#") && t != "---" {
			out = append(out, l)
		}
	}
	return []byte(strings.Join(out, "\n"))
}
