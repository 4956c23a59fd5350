package main

import (
	"encoding/json"
	"fmt"
	"os"
	"reflect"
	"sort"
	"strconv"
	"strings"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	certificatesv1 "k8s.io/api/certificates/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	eventsv1 "k8s.io/api/events/v1"
	flowcontrolv1 "k8s.io/api/flowcontrol/v1"
	networkingv1 "k8s.io/api/networking/v1"
	nodev1 "k8s.io/api/node/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	resourcev1 "k8s.io/api/resource/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	storagev1 "k8s.io/api/storage/v1"
	apiextv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// jsonMeta is what the protobuf descriptors cannot say about the JSON
// kubectl shows: per message (keyed by its proto full name, Go package path
// with '/' -> '.'), the Go struct's fields in declaration order with their
// proto field number, JSON name and the facts encoding/json acts on, read by
// reflection from the pinned k8s.io/api types. Flags: o omitempty, z
// omitzero, p pointer, s slice, b []byte, m map, i inline (embedded,
// `json:",inline"`). "c" names a type with its own MarshalJSON.
type msgMeta struct {
	Custom string   `json:"c,omitempty"`
	Fields [][3]any `json:"f,omitempty"`
}

func jsonMetaScheme() *runtime.Scheme {
	s := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{
		admissionregistrationv1.AddToScheme, appsv1.AddToScheme, autoscalingv1.AddToScheme, autoscalingv2.AddToScheme,
		batchv1.AddToScheme, certificatesv1.AddToScheme, coordinationv1.AddToScheme, corev1.AddToScheme,
		discoveryv1.AddToScheme, eventsv1.AddToScheme, flowcontrolv1.AddToScheme, networkingv1.AddToScheme,
		nodev1.AddToScheme, policyv1.AddToScheme, rbacv1.AddToScheme, resourcev1.AddToScheme,
		schedulingv1.AddToScheme, storagev1.AddToScheme, apiextv1.AddToScheme,
	} {
		if err := add(s); err != nil {
			panic(err)
		}
	}
	return s
}

func protoName(t reflect.Type) string {
	return strings.NewReplacer("/", ".", "-", "_").Replace(t.PkgPath()) + "." + t.Name()
}

var marshalerType = reflect.TypeOf((*json.Marshaler)(nil)).Elem()

func writeJSONMeta(path string) error {
	out := map[string]msgMeta{}
	var visit func(t reflect.Type)
	visit = func(t reflect.Type) {
		for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice || t.Kind() == reflect.Map || t.Kind() == reflect.Array {
			if t.Kind() == reflect.Map {
				visit(t.Key())
			}
			t = t.Elem()
		}
		if t.Kind() != reflect.Struct || t.PkgPath() == "" || strings.HasPrefix(t.PkgPath(), "time") {
			return
		}
		name := protoName(t)
		if _, ok := out[name]; ok {
			return
		}
		m := msgMeta{}
		if t.Implements(marshalerType) {
			m.Custom = t.Name()
		}
		out[name] = m
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			pt := f.Tag.Get("protobuf")
			if pt == "" || !f.IsExported() {
				continue
			}
			parts := strings.Split(pt, ",")
			if len(parts) < 2 {
				continue
			}
			num, err := strconv.Atoi(parts[1])
			if err != nil {
				continue
			}
			jt := f.Tag.Get("json")
			jname, opts, _ := strings.Cut(jt, ",")
			flags := ""
			for _, o := range strings.Split(opts, ",") {
				switch o {
				case "omitempty":
					flags += "o"
				case "omitzero":
					flags += "z"
				case "inline":
					flags += "i"
				}
			}
			if jname == "" && f.Anonymous {
				flags += "i"
			}
			if jname == "" && !strings.Contains(flags, "i") {
				jname = f.Name
			}
			if jname == "-" {
				continue
			}
			switch f.Type.Kind() {
			case reflect.Pointer:
				flags += "p"
			case reflect.Slice:
				if f.Type.Elem().Kind() == reflect.Uint8 {
					flags += "b"
				} else {
					flags += "s"
				}
			case reflect.Map:
				flags += "m"
			}
			m.Fields = append(m.Fields, [3]any{num, jname, flags})
			visit(f.Type)
		}
		out[name] = m
	}
	s := jsonMetaScheme()
	var gvks []string
	for gvk := range s.AllKnownTypes() {
		gvks = append(gvks, gvk.String())
	}
	sort.Strings(gvks)
	for gvk, t := range s.AllKnownTypes() {
		_ = gvk
		visit(t)
	}
	b, err := json.Marshal(out)
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "k8s-oracle: json meta for %d messages, %d bytes\n", len(out), len(b))
	return os.WriteFile(path, append(b, '\n'), 0o644)
}
