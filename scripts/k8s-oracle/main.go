// Command k8s-oracle writes Kubernetes objects into a running etcd exactly as
// kube-apiserver stores them, and writes the goldens etcd-rescue's k8s tests
// compare against.
//
// Objects are built with k8s.io/api types, encoded with apimachinery's
// protobuf serializer (the `k8s\0` envelope; JSON for custom resources, as
// the apiserver stores unstructured objects), encrypted with the transformers
// apiserver builds from an EncryptionConfiguration file
// (k8s.io/apiserver/pkg/server/options/encryptionconfig) with the etcd key as
// authenticated data, and put through go.etcd.io/etcd/client/v3 at the keys
// kube-apiserver uses. Updates, deletes and a compaction make history.
//
// Modes:
//
//	k8s-oracle write -endpoint URL -out DIR     objects + goldens (DIR/objects.jsonl, DIR/listing.json)
//	k8s-oracle descriptors -out FILE            FileDescriptorSet of the pinned k8s .proto files
//	k8s-oracle bench -endpoint URL [-pods N ...] a Kubernetes-shaped benchmark db (no goldens)
//
// Timestamps, UIDs and keys are fixed; the ciphers' nonces/IVs are random (the
// transformers draw them), so the goldens hold the decrypted objects.
package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"hash/fnv"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"
	appsv1 "k8s.io/api/apps/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apiextv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	jsonser "k8s.io/apimachinery/pkg/runtime/serializer/json"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apiserver/pkg/server/options/encryptionconfig"
	"k8s.io/apiserver/pkg/storage/value"
	kmstypes "k8s.io/apiserver/pkg/storage/value/encrypt/envelope/kmsv2/v2"
	"k8s.io/utils/ptr"

	clientv3 "go.etcd.io/etcd/client/v3"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: k8s-oracle write|descriptors|bench ...")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "write":
		err = cmdWrite(os.Args[2:])
	case "descriptors":
		err = cmdDescriptors(os.Args[2:])
	case "bench":
		err = cmdBench(os.Args[2:])
	default:
		err = fmt.Errorf("unknown mode %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "k8s-oracle:", err)
		os.Exit(1)
	}
}

// ---- encoding as kube-apiserver stores -------------------------------------

var scheme = runtime.NewScheme()

func init() {
	for _, add := range []func(*runtime.Scheme) error{
		corev1.AddToScheme, appsv1.AddToScheme, discoveryv1.AddToScheme,
		coordinationv1.AddToScheme, rbacv1.AddToScheme, apiextv1.AddToScheme,
	} {
		if err := add(scheme); err != nil {
			panic(err)
		}
	}
}

// protoEncode encodes obj as kube-apiserver's storage codec does for a
// built-in type: the protobuf serializer behind a versioning encoder for the
// object's group version (the envelope's TypeMeta is set by it).
func protoEncode(obj runtime.Object) ([]byte, error) {
	cf := serializer.NewCodecFactory(scheme)
	info, ok := runtime.SerializerInfoForMediaType(cf.SupportedMediaTypes(), runtime.ContentTypeProtobuf)
	if !ok {
		return nil, fmt.Errorf("no protobuf serializer")
	}
	gvks, _, err := scheme.ObjectKinds(obj)
	if err != nil {
		return nil, err
	}
	enc := cf.EncoderForVersion(info.Serializer, gvks[0].GroupVersion())
	return runtime.Encode(enc, obj)
}

// jsonEncode encodes a custom resource as the apiserver stores one (the JSON
// serializer over unstructured content).
func jsonEncode(u *unstructured.Unstructured) ([]byte, error) {
	s := jsonser.NewSerializerWithOptions(jsonser.DefaultMetaFactory, nil, nil, jsonser.SerializerOptions{})
	var b bytes.Buffer
	if err := s.Encode(u, &b); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// ---- the run -----------------------------------------------------------------

type record struct {
	Key        string `json:"key"`
	Op         string `json:"op"`
	Revision   int64  `json:"revision"`
	Resource   string `json:"resource,omitempty"`
	Namespace  string `json:"namespace,omitempty"`
	Name       string `json:"name,omitempty"`
	Encoding   string `json:"encoding,omitempty"`
	Encryption string `json:"encryption,omitempty"`
	StoredSize int    `json:"stored_size,omitempty"`
	// For a KMS v2 value: the EncryptedObject's keyID and annotation names,
	// read back from the stored bytes with apiserver's own proto type.
	KMSKeyID       string          `json:"kms_key_id,omitempty"`
	KMSAnnotations []string        `json:"kms_annotations,omitempty"`
	Object         json.RawMessage `json:"object,omitempty"`
}

type writer struct {
	ctx     context.Context
	cli     *clientv3.Client
	prefix  string
	records []record
	// transformers by name of the provider written first ("identity",
	// "aescbc", ...), each loaded from an EncryptionConfiguration file.
	transformers map[string]value.Transformer
	clock        time.Time
}

var epoch = time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)

func (w *writer) tick(d time.Duration) metav1.Time {
	w.clock = w.clock.Add(d)
	return metav1.NewTime(w.clock)
}

func uid(s string) types.UID {
	h := fnv.New64a()
	h.Write([]byte(s))
	v := h.Sum64()
	return types.UID(fmt.Sprintf("%08x-%04x-4%03x-8%03x-%012x", uint32(v>>32), uint16(v>>16), uint16(v)&0xfff, uint16(v>>4)&0xfff, v&0xffffffffffff))
}

// put stores a built-in object at PREFIX/<keyPath> as kube-apiserver does;
// enc names the transformer ("" = identity).
func (w *writer) put(keyPath, resource string, obj runtime.Object, enc string) error {
	acc, err := metaAccessor(obj)
	if err != nil {
		return err
	}
	acc.SetResourceVersion("") // the apiserver stores no resourceVersion
	data, err := protoEncode(obj)
	if err != nil {
		return fmt.Errorf("%s: %w", keyPath, err)
	}
	return w.store(keyPath, resource, acc.GetNamespace(), acc.GetName(), obj, data, "protobuf", enc)
}

func (w *writer) putCR(keyPath, resource string, u *unstructured.Unstructured) error {
	data, err := jsonEncode(u)
	if err != nil {
		return err
	}
	return w.store(keyPath, resource, u.GetNamespace(), u.GetName(), u, data, "json", "")
}

func (w *writer) store(keyPath, resource, ns, name string, obj runtime.Object, data []byte, encoding, enc string) error {
	key := w.prefix + keyPath
	if enc == "" {
		enc = "identity"
	}
	t, ok := w.transformers[enc]
	if !ok {
		return fmt.Errorf("no transformer %q", enc)
	}
	stored, err := t.TransformToStorage(w.ctx, data, value.DefaultContext(key))
	if err != nil {
		return err
	}
	resp, err := w.cli.Put(w.ctx, key, string(stored))
	if err != nil {
		return err
	}
	rev := resp.Header.Revision
	// The golden: the object as the apiserver returns it (resourceVersion =
	// the key's mod revision, TypeMeta set), rendered by encoding/json.
	golden, err := goldenJSON(obj, rev)
	if err != nil {
		return err
	}
	encName := ""
	if enc != "identity" {
		encName = enc
	}
	rec := record{
		Key: key, Op: "put", Revision: rev, Resource: resource, Namespace: ns, Name: name,
		Encoding: encoding, Encryption: encName, StoredSize: len(stored), Object: golden,
	}
	if enc == "kms" {
		prefix := []byte("k8s:enc:kms:v2:" + kmsName + ":")
		if !bytes.HasPrefix(stored, prefix) {
			return fmt.Errorf("%s: KMS value without the %q prefix", key, prefix)
		}
		var eo kmstypes.EncryptedObject
		if err := proto.Unmarshal(stored[len(prefix):], &eo); err != nil {
			return fmt.Errorf("%s: EncryptedObject: %w", key, err)
		}
		rec.KMSKeyID = eo.KeyID
		for k := range eo.Annotations {
			rec.KMSAnnotations = append(rec.KMSAnnotations, k)
		}
		sort.Strings(rec.KMSAnnotations)
	}
	w.records = append(w.records, rec)
	return nil
}

func (w *writer) del(keyPath string) error {
	key := w.prefix + keyPath
	resp, err := w.cli.Delete(w.ctx, key)
	if err != nil {
		return err
	}
	if resp.Deleted != 1 {
		return fmt.Errorf("delete %s: %d deleted", key, resp.Deleted)
	}
	w.records = append(w.records, record{Key: key, Op: "delete", Revision: resp.Header.Revision})
	return nil
}

func metaAccessor(obj runtime.Object) (metav1.Object, error) {
	o, ok := obj.(metav1.Object)
	if !ok {
		return nil, fmt.Errorf("%T has no ObjectMeta", obj)
	}
	return o, nil
}

func goldenJSON(obj runtime.Object, rev int64) (json.RawMessage, error) {
	c := obj.DeepCopyObject()
	if _, ok := c.(*unstructured.Unstructured); !ok {
		gvks, _, err := scheme.ObjectKinds(c)
		if err != nil {
			return nil, err
		}
		c.GetObjectKind().SetGroupVersionKind(gvks[0])
	}
	acc, err := metaAccessor(c)
	if err != nil {
		return nil, err
	}
	acc.SetResourceVersion(strconv.FormatInt(rev, 10))
	return json.Marshal(c)
}

// ---- encryption ----------------------------------------------------------------

// Fixed key material (base64 of 32 bytes), named as an operator would.
func keyB64(seed string) string {
	b := make([]byte, 32)
	for i := range b {
		b[i] = seed[i%len(seed)] ^ byte(i*7)
	}
	return base64.StdEncoding.EncodeToString(b)
}

type provider struct{ name, yaml string }

// kmsEndpoint is the fake KMS plugin's socket ("" = no kms provider listed).
var kmsEndpoint = ""

func providers(seedSuffix string) []provider {
	ps := []provider{
		{"aescbc", fmt.Sprintf("      - aescbc:\n          keys:\n            - name: key1\n              secret: %s\n", keyB64("aescbc-key1"+seedSuffix))},
		{"aesgcm", fmt.Sprintf("      - aesgcm:\n          keys:\n            - name: gcm-2026\n              secret: %s\n", keyB64("aesgcm-2026"+seedSuffix))},
		{"secretbox", fmt.Sprintf("      - secretbox:\n          keys:\n            - name: sb1\n              secret: %s\n", keyB64("secretbox-sb1"+seedSuffix))},
		{"identity", "      - identity: {}\n"},
	}
	if kmsEndpoint != "" {
		ps = append(ps, provider{"kms", kmsProviderYAML(kmsEndpoint)})
	}
	return ps
}

// encryptionConfig renders an EncryptionConfiguration for secrets whose first
// (writing) provider is `first`; the others follow, so any of them decrypts.
func encryptionConfig(first, seedSuffix string) string {
	var b strings.Builder
	b.WriteString("apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\nresources:\n  - resources:\n      - secrets\n    providers:\n")
	ps := providers(seedSuffix)
	for _, p := range ps {
		if p.name == first {
			b.WriteString(p.yaml)
		}
	}
	for _, p := range ps {
		if p.name != first {
			b.WriteString(p.yaml)
		}
	}
	return b.String()
}

func loadTransformers(ctx context.Context, dir string) (map[string]value.Transformer, error) {
	out := map[string]value.Transformer{}
	endpoint, err := startFakeKMS(ctx, dir)
	if err != nil {
		return nil, err
	}
	kmsEndpoint = endpoint
	for _, first := range []string{"aescbc", "aesgcm", "secretbox", "identity", "kms"} {
		p := filepath.Join(dir, "enc-"+first+".yaml")
		if err := os.WriteFile(p, []byte(encryptionConfig(first, "")), 0o600); err != nil {
			return nil, err
		}
		cfg, err := encryptionconfig.LoadEncryptionConfig(ctx, p, false, "k8s-oracle")
		if err != nil {
			return nil, err
		}
		t, ok := cfg.Transformers[schema.GroupResource{Resource: "secrets"}]
		if !ok {
			return nil, fmt.Errorf("%s: no transformer for secrets", p)
		}
		out[first] = t
	}
	// The KMS v2 transformer works once its probe has seen the plugin's
	// status and made a DEK; wait for that (bounded).
	var lastErr error
	for i := 0; i < 150; i++ {
		if _, lastErr = out["kms"].TransformToStorage(ctx, []byte("probe"), value.DefaultContext("/probe")); lastErr == nil {
			return out, nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return nil, fmt.Errorf("KMS v2 transformer not ready after 15 s: %w", lastErr)
}

// ---- the objects -----------------------------------------------------------------

func cmdWrite(args []string) error {
	fs := flag.NewFlagSet("write", flag.ExitOnError)
	endpoint := fs.String("endpoint", "http://127.0.0.1:2379", "etcd client URL")
	out := fs.String("out", "", "directory for the goldens and the EncryptionConfiguration")
	prefix := fs.String("prefix", "/registry", "kube-apiserver --etcd-prefix")
	events := fs.Int("events", 120, "Events to create (churn)")
	fs.Parse(args)
	if *out == "" {
		return fmt.Errorf("-out is required")
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	tmp, err := os.MkdirTemp("", "k8s-oracle")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	ts, err := loadTransformers(ctx, tmp)
	if err != nil {
		return err
	}
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{*endpoint}, DialTimeout: 10 * time.Second})
	if err != nil {
		return err
	}
	defer cli.Close()
	w := &writer{ctx: ctx, cli: cli, prefix: *prefix, transformers: ts, clock: epoch}
	if err := populate(w, *events); err != nil {
		return err
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return err
	}
	// The plugin's socket as an operator's file names it (the real one was temporary).
	kmsEndpoint = "unix:///var/run/kmsplugin/kms-test.sock"
	// The EncryptionConfiguration a user would pass (aescbc writes; all read),
	// and one with the same key names but other secrets (wrong keys).
	if err := os.WriteFile(filepath.Join(*out, "encryption-config.yaml"), []byte(encryptionConfig("aescbc", "")), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(*out, "encryption-config-wrong.yaml"), []byte(encryptionConfig("aescbc", "-wrong")), 0o644); err != nil {
		return err
	}
	return writeGoldens(w, *out)
}

func writeGoldens(w *writer, out string) error {
	var b bytes.Buffer
	for _, r := range w.records {
		line, err := json.Marshal(r)
		if err != nil {
			return err
		}
		b.Write(line)
		b.WriteByte('\n')
	}
	if err := os.WriteFile(filepath.Join(out, "objects.jsonl"), b.Bytes(), 0o644); err != nil {
		return err
	}
	// The listing: live objects at the last revision, by key.
	type row struct {
		Key               string `json:"key"`
		Resource          string `json:"resource"`
		Namespace         string `json:"namespace,omitempty"`
		Name              string `json:"name"`
		CreationTimestamp string `json:"creationTimestamp"`
		Size              int    `json:"size"`
		ModRevision       int64  `json:"mod_revision"`
	}
	live := map[string]*record{}
	for i := range w.records {
		r := &w.records[i]
		switch r.Op {
		case "delete":
			delete(live, r.Key)
		case "put":
			live[r.Key] = r
		}
	}
	var rows []row
	for _, r := range live {
		var m struct {
			Metadata struct {
				CreationTimestamp string `json:"creationTimestamp"`
			} `json:"metadata"`
		}
		if err := json.Unmarshal(r.Object, &m); err != nil {
			return err
		}
		rows = append(rows, row{r.Key, r.Resource, r.Namespace, r.Name, m.Metadata.CreationTimestamp, r.StoredSize, r.Revision})
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].Key < rows[j].Key })
	lb, err := json.MarshalIndent(rows, "", " ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(out, "listing.json"), append(lb, '\n'), 0o644)
}

func labels(kv ...string) map[string]string {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return m
}

func (w *writer) meta(ns, name string, lbl map[string]string) metav1.ObjectMeta {
	return metav1.ObjectMeta{
		Name: name, Namespace: ns, UID: uid(ns + "/" + name),
		CreationTimestamp: w.tick(7 * time.Second), Labels: lbl,
	}
}

func managed(manager string, t metav1.Time, fields string) []metav1.ManagedFieldsEntry {
	return []metav1.ManagedFieldsEntry{{
		Manager: manager, Operation: metav1.ManagedFieldsOperationUpdate, APIVersion: "v1",
		Time: &t, FieldsType: "FieldsV1", FieldsV1: &metav1.FieldsV1{Raw: []byte(fields)},
	}}
}

func container(name, image string, port int32) corev1.Container {
	return corev1.Container{
		Name: name, Image: image,
		Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: port, Protocol: corev1.ProtocolTCP}},
		Env:   []corev1.EnvVar{{Name: "MODE", Value: "production"}, {Name: "POD_IP", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "status.podIP"}}}},
		Resources: corev1.ResourceRequirements{
			Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("500m"), corev1.ResourceMemory: resource.MustParse("256Mi")},
			Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("0.1"), corev1.ResourceMemory: resource.MustParse("128974848")},
		},
		ReadinessProbe: &corev1.Probe{
			ProbeHandler:     corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/healthz", Port: intstr.FromString("http"), Scheme: corev1.URISchemeHTTP}},
			PeriodSeconds:    10,
			TimeoutSeconds:   1,
			SuccessThreshold: 1,
			FailureThreshold: 3,
		},
		TerminationMessagePath:   "/dev/termination-log",
		TerminationMessagePolicy: corev1.TerminationMessageReadFile,
		ImagePullPolicy:          corev1.PullIfNotPresent,
	}
}

func podSpec(sa string) corev1.PodSpec {
	return corev1.PodSpec{
		Containers:                    []corev1.Container{container("web", "registry.example/web:1.4.2", 8080)},
		RestartPolicy:                 corev1.RestartPolicyAlways,
		TerminationGracePeriodSeconds: ptr.To[int64](30),
		DNSPolicy:                     corev1.DNSClusterFirst,
		ServiceAccountName:            sa,
		SecurityContext:               &corev1.PodSecurityContext{RunAsNonRoot: ptr.To(true), RunAsUser: ptr.To[int64](1000)},
		SchedulerName:                 "default-scheduler",
		Tolerations: []corev1.Toleration{{Key: "node.kubernetes.io/not-ready", Operator: corev1.TolerationOpExists,
			Effect: corev1.TaintEffectNoExecute, TolerationSeconds: ptr.To[int64](300)}},
		Volumes: []corev1.Volume{{Name: "config", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
			LocalObjectReference: corev1.LocalObjectReference{Name: "web-config"}, DefaultMode: ptr.To[int32](420)}}}},
		EnableServiceLinks: ptr.To(true),
		PreemptionPolicy:   ptr.To(corev1.PreemptLowerPriority),
		Priority:           ptr.To[int32](0),
	}
}

func populate(w *writer, nEvents int) error {
	must := func(err error) {
		if err != nil {
			panic(err)
		}
	}
	defer func() {
		if r := recover(); r != nil {
			panic(r)
		}
	}()

	// Namespaces.
	for _, ns := range []string{"default", "kube-system", "kube-node-lease", "shop", "monitoring"} {
		o := &corev1.Namespace{ObjectMeta: w.meta("", ns, labels("kubernetes.io/metadata.name", ns)),
			Spec:   corev1.NamespaceSpec{Finalizers: []corev1.FinalizerName{corev1.FinalizerKubernetes}},
			Status: corev1.NamespaceStatus{Phase: corev1.NamespaceActive}}
		must(w.put("/namespaces/"+ns, "namespaces", o, ""))
	}
	// Node (stored at "minions").
	node := &corev1.Node{ObjectMeta: w.meta("", "node-1", labels("kubernetes.io/hostname", "node-1", "kubernetes.io/os", "linux")),
		Spec: corev1.NodeSpec{PodCIDR: "10.244.0.0/24", PodCIDRs: []string{"10.244.0.0/24"}},
		Status: corev1.NodeStatus{
			Capacity:    corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("4"), corev1.ResourceMemory: resource.MustParse("16316412Ki"), corev1.ResourcePods: resource.MustParse("110"), corev1.ResourceEphemeralStorage: resource.MustParse("100Gi")},
			Allocatable: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("3800m"), corev1.ResourceMemory: resource.MustParse("15.5Gi"), corev1.ResourcePods: resource.MustParse("110")},
			Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue, LastHeartbeatTime: w.tick(time.Second),
				LastTransitionTime: w.tick(time.Second), Reason: "KubeletReady", Message: "kubelet is posting ready status"}},
			Addresses: []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "192.168.1.10"}, {Type: corev1.NodeHostName, Address: "node-1"}},
			NodeInfo:  corev1.NodeSystemInfo{KubeletVersion: "v1.37.2", OperatingSystem: "linux", Architecture: "amd64", ContainerRuntimeVersion: "containerd://2.1.0", BootID: "b1", MachineID: "m1", SystemUUID: "s1", KernelVersion: "6.12.0", OSImage: "Debian GNU/Linux 13", KubeProxyVersion: ""},
		}}
	must(w.put("/minions/node-1", "nodes", node, ""))

	// ServiceAccounts.
	for _, ns := range []string{"default", "kube-system", "shop", "monitoring"} {
		must(w.put("/serviceaccounts/"+ns+"/default", "serviceaccounts", &corev1.ServiceAccount{ObjectMeta: w.meta(ns, "default", nil)}, ""))
	}
	must(w.put("/serviceaccounts/shop/web", "serviceaccounts", &corev1.ServiceAccount{ObjectMeta: w.meta("shop", "web", labels("app", "web")),
		AutomountServiceAccountToken: ptr.To(false)}, ""))

	// ConfigMaps: a CA bundle per namespace, app config, a large one.
	for _, ns := range []string{"default", "kube-system", "shop", "monitoring"} {
		cm := &corev1.ConfigMap{ObjectMeta: w.meta(ns, "kube-root-ca.crt", nil),
			Data: map[string]string{"ca.crt": "-----BEGIN CERTIFICATE-----\nMIIBdzCCAR2gAwIBAgIBADAKBggqhkjOPQQDAjAjMSEwHwYDVQQDDBhrM3Mtc2Vy\n-----END CERTIFICATE-----\n"}}
		cm.Annotations = map[string]string{"kubernetes.io/description": "Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints such as the internal service IP or kubernetes.default.svc."}
		must(w.put("/configmaps/"+ns+"/kube-root-ca.crt", "configmaps", cm, ""))
	}
	webcfg := &corev1.ConfigMap{ObjectMeta: w.meta("shop", "web-config", labels("app", "web")),
		Data:       map[string]string{"app.properties": "color=blue\nsize=3\n", "feature-flags": "checkout=true"},
		BinaryData: map[string][]byte{"logo.png": {0x89, 'P', 'N', 'G', 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 0x0d}}}
	webcfg.ManagedFields = managed("kubectl-client-side-apply", w.tick(0), `{"f:data":{".":{},"f:app.properties":{},"f:feature-flags":{}},"f:metadata":{"f:labels":{".":{},"f:app":{}}}}`)
	must(w.put("/configmaps/shop/web-config", "configmaps", webcfg, ""))
	big := &corev1.ConfigMap{ObjectMeta: w.meta("monitoring", "grafana-dashboards", labels("grafana_dashboard", "1")), Data: map[string]string{}}
	for i := 0; i < 6; i++ {
		big.Data[fmt.Sprintf("dashboard-%d.json", i)] = `{"title":"board ` + strconv.Itoa(i) + `","panels":[` + strings.Repeat(`{"type":"graph","targets":[{"expr":"rate(http_requests_total[5m])"}]},`, 150) + `{}]}`
	}
	must(w.put("/configmaps/monitoring/grafana-dashboards", "configmaps", big, ""))
	coredns := &corev1.ConfigMap{ObjectMeta: w.meta("kube-system", "coredns", nil), Data: map[string]string{"Corefile": ".:53 {\n    errors\n    health\n    kubernetes cluster.local in-addr.arpa ip6.arpa\n    forward . /etc/resolv.conf\n}\n"}}
	must(w.put("/configmaps/kube-system/coredns", "configmaps", coredns, ""))

	// Secrets: one per provider, one rotated from aescbc to aesgcm, a TLS one.
	sec := func(ns, name string, t corev1.SecretType, data map[string][]byte) *corev1.Secret {
		return &corev1.Secret{ObjectMeta: w.meta(ns, name, nil), Type: t, Data: data}
	}
	must(w.put("/secrets/shop/db-password", "secrets", sec("shop", "db-password", corev1.SecretTypeOpaque, map[string][]byte{"password": []byte("s3cr3t-pa55"), "username": []byte("shop")}), "aescbc"))
	must(w.put("/secrets/shop/api-token", "secrets", sec("shop", "api-token", corev1.SecretTypeOpaque, map[string][]byte{"token": []byte("tok-0123456789abcdef")}), "aesgcm"))
	must(w.put("/secrets/monitoring/grafana-admin", "secrets", sec("monitoring", "grafana-admin", corev1.SecretTypeBasicAuth, map[string][]byte{"username": []byte("admin"), "password": []byte("hunter2")}), "secretbox"))
	must(w.put("/secrets/default/plain", "secrets", sec("default", "plain", corev1.SecretTypeOpaque, map[string][]byte{"note": []byte("written before encryption was enabled")}), ""))
	tls := sec("shop", "web-tls", corev1.SecretTypeTLS, map[string][]byte{"tls.crt": bytes.Repeat([]byte("C"), 1200), "tls.key": bytes.Repeat([]byte("K"), 1600)})
	must(w.put("/secrets/shop/web-tls", "secrets", tls, "aescbc"))
	rot := sec("shop", "rotated", corev1.SecretTypeOpaque, map[string][]byte{"k": []byte("v1")})
	must(w.put("/secrets/shop/rotated", "secrets", rot, "aescbc"))

	// RBAC.
	cr := &rbacv1.ClusterRole{ObjectMeta: w.meta("", "pod-reader", labels("rbac.example.com/aggregate", "true")),
		Rules: []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"pods", "pods/log"}, Verbs: []string{"get", "list", "watch"}}}}
	must(w.put("/clusterroles/pod-reader", "clusterroles", cr, ""))
	crb := &rbacv1.ClusterRoleBinding{ObjectMeta: w.meta("", "pod-reader-binding", nil),
		Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Name: "web", Namespace: "shop"}},
		RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: "pod-reader"}}
	must(w.put("/clusterrolebindings/pod-reader-binding", "clusterrolebindings", crb, ""))
	role := &rbacv1.Role{ObjectMeta: w.meta("shop", "config-reader", nil),
		Rules: []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"configmaps"}, ResourceNames: []string{"web-config"}, Verbs: []string{"get"}}}}
	must(w.put("/roles/shop/config-reader", "roles", role, ""))
	rb := &rbacv1.RoleBinding{ObjectMeta: w.meta("shop", "config-reader", nil),
		Subjects: []rbacv1.Subject{{Kind: "User", APIGroup: "rbac.authorization.k8s.io", Name: "alice@example.com"}},
		RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: "config-reader"}}
	must(w.put("/rolebindings/shop/config-reader", "rolebindings", rb, ""))

	// Deployment, ReplicaSet, Pods.
	sel := &metav1.LabelSelector{MatchLabels: labels("app", "web")}
	dep := &appsv1.Deployment{ObjectMeta: w.meta("shop", "web", labels("app", "web")),
		Spec: appsv1.DeploymentSpec{Replicas: ptr.To[int32](3), Selector: sel,
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels("app", "web")}, Spec: podSpec("web")},
			Strategy: appsv1.DeploymentStrategy{Type: appsv1.RollingUpdateDeploymentStrategyType, RollingUpdate: &appsv1.RollingUpdateDeployment{
				MaxUnavailable: ptr.To(intstr.FromInt32(1)), MaxSurge: ptr.To(intstr.FromString("25%"))}},
			RevisionHistoryLimit: ptr.To[int32](10), ProgressDeadlineSeconds: ptr.To[int32](600)}}
	dep.Generation = 1
	dep.Annotations = map[string]string{"deployment.kubernetes.io/revision": "1"}
	must(w.put("/deployments/shop/web", "deployments", dep, ""))
	rsName := "web-6d4cf56db6"
	rs := &appsv1.ReplicaSet{ObjectMeta: w.meta("shop", rsName, labels("app", "web", "pod-template-hash", "6d4cf56db6")),
		Spec: appsv1.ReplicaSetSpec{Replicas: ptr.To[int32](3), Selector: &metav1.LabelSelector{MatchLabels: labels("app", "web", "pod-template-hash", "6d4cf56db6")},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels("app", "web", "pod-template-hash", "6d4cf56db6")}, Spec: podSpec("web")}},
		Status: appsv1.ReplicaSetStatus{Replicas: 3, FullyLabeledReplicas: 3, ReadyReplicas: 3, AvailableReplicas: 3, ObservedGeneration: 1}}
	rs.OwnerReferences = []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "Deployment", Name: "web", UID: dep.UID, Controller: ptr.To(true), BlockOwnerDeletion: ptr.To(true)}}
	must(w.put("/replicasets/shop/"+rsName, "replicasets", rs, ""))
	pod := func(name, ip string) *corev1.Pod {
		p := &corev1.Pod{ObjectMeta: w.meta("shop", name, labels("app", "web", "pod-template-hash", "6d4cf56db6")), Spec: podSpec("web")}
		p.GenerateName = rsName + "-"
		p.OwnerReferences = []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: rsName, UID: rs.UID, Controller: ptr.To(true), BlockOwnerDeletion: ptr.To(true)}}
		p.Spec.NodeName = "node-1"
		started := w.tick(2 * time.Second)
		p.Status = corev1.PodStatus{Phase: corev1.PodRunning, HostIP: "192.168.1.10", PodIP: ip, PodIPs: []corev1.PodIP{{IP: ip}},
			StartTime: &started, QOSClass: corev1.PodQOSBurstable,
			Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: w.tick(time.Second)},
				{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: started}},
			ContainerStatuses: []corev1.ContainerStatus{{Name: "web", Ready: true, RestartCount: 0, Image: "registry.example/web:1.4.2",
				ImageID: "registry.example/web@sha256:" + strings.Repeat("ab", 32), ContainerID: "containerd://" + strings.Repeat("0f", 32), Started: ptr.To(true),
				State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: w.tick(time.Second)}}}}}
		return p
	}
	pods := []string{rsName + "-abcde", rsName + "-fghij", rsName + "-klmno"}
	for i, name := range pods {
		must(w.put("/pods/shop/"+name, "pods", pod(name, fmt.Sprintf("10.244.0.%d", 11+i)), ""))
	}
	cdns := pod("coredns-5d78c9869d-x7k2p", "10.244.0.2")
	cdns.Namespace, cdns.OwnerReferences, cdns.Labels = "kube-system", nil, labels("k8s-app", "kube-dns")
	cdns.UID = uid("kube-system/coredns")
	must(w.put("/pods/kube-system/coredns-5d78c9869d-x7k2p", "pods", cdns, ""))

	// Services, Endpoints, EndpointSlices.
	svc := &corev1.Service{ObjectMeta: w.meta("shop", "web", labels("app", "web")),
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeClusterIP, ClusterIP: "10.96.12.34", ClusterIPs: []string{"10.96.12.34"},
			Selector: labels("app", "web"), SessionAffinity: corev1.ServiceAffinityNone,
			Ports:      []corev1.ServicePort{{Name: "http", Protocol: corev1.ProtocolTCP, Port: 80, TargetPort: intstr.FromString("http")}, {Name: "metrics", Protocol: corev1.ProtocolTCP, Port: 9090, TargetPort: intstr.FromInt32(9090)}},
			IPFamilies: []corev1.IPFamily{corev1.IPv4Protocol}, IPFamilyPolicy: ptr.To(corev1.IPFamilyPolicySingleStack),
			InternalTrafficPolicy: ptr.To(corev1.ServiceInternalTrafficPolicyCluster)}}
	must(w.put("/services/specs/shop/web", "services", svc, ""))
	kubeSvc := &corev1.Service{ObjectMeta: w.meta("default", "kubernetes", labels("component", "apiserver", "provider", "kubernetes")),
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeClusterIP, ClusterIP: "10.96.0.1", ClusterIPs: []string{"10.96.0.1"},
			Ports: []corev1.ServicePort{{Name: "https", Protocol: corev1.ProtocolTCP, Port: 443, TargetPort: intstr.FromInt32(6443)}}}}
	must(w.put("/services/specs/default/kubernetes", "services", kubeSvc, ""))
	ep := &corev1.Endpoints{ObjectMeta: w.meta("shop", "web", labels("app", "web")),
		Subsets: []corev1.EndpointSubset{{Addresses: []corev1.EndpointAddress{{IP: "10.244.0.11", NodeName: ptr.To("node-1"),
			TargetRef: &corev1.ObjectReference{Kind: "Pod", Namespace: "shop", Name: pods[0], UID: uid("shop/" + pods[0])}}},
			Ports: []corev1.EndpointPort{{Name: "http", Port: 8080, Protocol: corev1.ProtocolTCP}}}}}
	must(w.put("/services/endpoints/shop/web", "endpoints", ep, ""))
	eps := &discoveryv1.EndpointSlice{ObjectMeta: w.meta("shop", "web-x2v8q", labels("kubernetes.io/service-name", "web", "endpointslice.kubernetes.io/managed-by", "endpointslice-controller.k8s.io")),
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints: []discoveryv1.Endpoint{{Addresses: []string{"10.244.0.11"}, Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true), Serving: ptr.To(true), Terminating: ptr.To(false)},
			NodeName: ptr.To("node-1"), TargetRef: &corev1.ObjectReference{Kind: "Pod", Namespace: "shop", Name: pods[0]}}},
		Ports: []discoveryv1.EndpointPort{{Name: ptr.To("http"), Port: ptr.To[int32](8080), Protocol: ptr.To(corev1.ProtocolTCP)}}}
	must(w.put("/endpointslices/shop/web-x2v8q", "endpointslices", eps, ""))

	// CRD and custom resources.
	crd := &apiextv1.CustomResourceDefinition{ObjectMeta: w.meta("", "widgets.example.com", nil),
		Spec: apiextv1.CustomResourceDefinitionSpec{Group: "example.com", Scope: apiextv1.NamespaceScoped,
			Names: apiextv1.CustomResourceDefinitionNames{Plural: "widgets", Singular: "widget", Kind: "Widget", ListKind: "WidgetList", ShortNames: []string{"wg"}},
			Versions: []apiextv1.CustomResourceDefinitionVersion{{Name: "v1", Served: true, Storage: true,
				Schema: &apiextv1.CustomResourceValidation{OpenAPIV3Schema: &apiextv1.JSONSchemaProps{Type: "object", Properties: map[string]apiextv1.JSONSchemaProps{
					"spec":   {Type: "object", Properties: map[string]apiextv1.JSONSchemaProps{"size": {Type: "integer", Minimum: ptr.To(1.0)}, "color": {Type: "string", Enum: []apiextv1.JSON{{Raw: []byte(`"blue"`)}, {Raw: []byte(`"red"`)}}}}},
					"status": {Type: "object", XPreserveUnknownFields: ptr.To(true)}}}},
				Subresources: &apiextv1.CustomResourceSubresources{Status: &apiextv1.CustomResourceSubresourceStatus{}}}},
			Conversion: &apiextv1.CustomResourceConversion{Strategy: apiextv1.NoneConverter}},
		Status: apiextv1.CustomResourceDefinitionStatus{AcceptedNames: apiextv1.CustomResourceDefinitionNames{Plural: "widgets", Singular: "widget", Kind: "Widget", ListKind: "WidgetList", ShortNames: []string{"wg"}},
			StoredVersions: []string{"v1"}, Conditions: []apiextv1.CustomResourceDefinitionCondition{{Type: apiextv1.Established, Status: apiextv1.ConditionTrue, LastTransitionTime: w.tick(time.Second), Reason: "InitialNamesAccepted", Message: "the initial names have been accepted"}}}}
	must(w.put("/apiextensions.k8s.io/customresourcedefinitions/widgets.example.com", "customresourcedefinitions", crd, ""))
	widget := func(ns, name string, size int64, color string) *unstructured.Unstructured {
		u := &unstructured.Unstructured{Object: map[string]interface{}{
			"apiVersion": "example.com/v1", "kind": "Widget",
			"metadata": map[string]interface{}{"name": name, "namespace": ns, "uid": string(uid(ns + "/" + name)), "generation": int64(1),
				"creationTimestamp": w.tick(3 * time.Second).UTC().Format(time.RFC3339)},
			"spec": map[string]interface{}{"size": size, "color": color},
		}}
		return u
	}
	for i, c := range []string{"blue", "red", "blue"} {
		n := fmt.Sprintf("widget-%d", i)
		must(w.putCR("/example.com/widgets/shop/"+n, "widgets.example.com", widget("shop", n, int64(i+1), c)))
	}

	// Leases: heartbeats (churn).
	lease := &coordinationv1.Lease{ObjectMeta: w.meta("kube-node-lease", "node-1", nil),
		Spec: coordinationv1.LeaseSpec{HolderIdentity: ptr.To("node-1"), LeaseDurationSeconds: ptr.To[int32](40)}}
	lease.OwnerReferences = []metav1.OwnerReference{{APIVersion: "v1", Kind: "Node", Name: "node-1", UID: node.UID}}
	kcm := &coordinationv1.Lease{ObjectMeta: w.meta("kube-system", "kube-controller-manager", nil),
		Spec: coordinationv1.LeaseSpec{HolderIdentity: ptr.To("cp-1_0c5c9a3e"), LeaseDurationSeconds: ptr.To[int32](15),
			AcquireTime: &metav1.MicroTime{Time: w.clock.Add(123456 * time.Microsecond)}, LeaseTransitions: ptr.To[int32](2)}}
	for i := 0; i < 25; i++ {
		renew := metav1.NewMicroTime(w.clock.Add(time.Duration(i)*10*time.Second + 654321*time.Microsecond))
		lease.Spec.RenewTime = &renew
		must(w.put("/leases/kube-node-lease/node-1", "leases", lease, ""))
		if i%5 == 0 {
			kcm.Spec.RenewTime = &renew
			must(w.put("/leases/kube-system/kube-controller-manager", "leases", kcm, ""))
		}
	}

	// Events: churn, most expire (deleted by TTL).
	for i := 0; i < nEvents; i++ {
		name := fmt.Sprintf("%s.%016x", pods[i%3], 0x17e0000000000000+uint64(i))
		t := w.tick(time.Second)
		ev := &corev1.Event{ObjectMeta: w.meta("shop", name, nil),
			InvolvedObject: corev1.ObjectReference{Kind: "Pod", Namespace: "shop", Name: pods[i%3], UID: uid("shop/" + pods[i%3]), APIVersion: "v1", FieldPath: "spec.containers{web}"},
			Reason:         []string{"Pulled", "Created", "Started", "Unhealthy"}[i%4], Message: fmt.Sprintf("Readiness probe failed: HTTP probe failed with statuscode: 503 (%d)", i),
			Source: corev1.EventSource{Component: "kubelet", Host: "node-1"}, FirstTimestamp: t, LastTimestamp: t, Count: int32(1 + i%7),
			Type: corev1.EventTypeWarning, ReportingController: "kubelet", ReportingInstance: "node-1"}
		must(w.put("/events/shop/"+name, "events", ev, ""))
		if i >= 10 && i%10 != 0 {
			old := fmt.Sprintf("%s.%016x", pods[(i-10)%3], 0x17e0000000000000+uint64(i-10))
			must(w.del("/events/shop/" + old))
		}
	}

	// Updates: scale the deployment, rotate a secret to aesgcm, change config.
	dep.Spec.Replicas = ptr.To[int32](5)
	dep.Generation = 2
	dep.Status = appsv1.DeploymentStatus{ObservedGeneration: 2, Replicas: 3, UpdatedReplicas: 3, ReadyReplicas: 3, AvailableReplicas: 3,
		Conditions: []appsv1.DeploymentCondition{{Type: appsv1.DeploymentAvailable, Status: corev1.ConditionTrue, LastUpdateTime: w.tick(time.Second), LastTransitionTime: w.tick(0), Reason: "MinimumReplicasAvailable", Message: "Deployment has minimum availability."}}}
	must(w.put("/deployments/shop/web", "deployments", dep, ""))
	rot.Data["k"] = []byte("v2")
	must(w.put("/secrets/shop/rotated", "secrets", rot, "aesgcm"))
	webcfg.Data["app.properties"] = "color=red\nsize=4\n"
	must(w.put("/configmaps/shop/web-config", "configmaps", webcfg, ""))

	// kube-apiserver's compactor: compact_rev_key then a compaction.
	resp, err := w.cli.Put(w.ctx, "compact_rev_key", "0")
	must(err)
	compactAt := resp.Header.Revision
	if _, err := w.cli.Put(w.ctx, "compact_rev_key", strconv.FormatInt(compactAt, 10)); err != nil {
		return err
	}
	if _, err := w.cli.Compact(w.ctx, compactAt, clientv3.WithCompactPhysical()); err != nil {
		return err
	}
	w.records = append(w.records, record{Key: "compact_rev_key", Op: "compact", Revision: compactAt})

	// After the compaction: a pod deleted and replaced, a config edited twice,
	// a rotated secret updated under secretbox, a widget deleted.
	must(w.del("/pods/shop/" + pods[1]))
	must(w.put("/pods/shop/"+rsName+"-pqrst", "pods", pod(rsName+"-pqrst", "10.244.0.14"), ""))
	webcfg.Data["feature-flags"] = "checkout=false"
	must(w.put("/configmaps/shop/web-config", "configmaps", webcfg, ""))
	webcfg.Data["feature-flags"] = "checkout=true"
	must(w.put("/configmaps/shop/web-config", "configmaps", webcfg, ""))
	rot.Data["k"] = []byte("v3")
	must(w.put("/secrets/shop/rotated", "secrets", rot, "secretbox"))
	must(w.del("/example.com/widgets/shop/widget-1"))
	// A Secret written through the KMS v2 envelope transformer (fake plugin).
	must(w.put("/secrets/shop/kms-sealed", "secrets", sec("shop", "kms-sealed", corev1.SecretTypeOpaque, map[string][]byte{"api-key": []byte("sealed-by-kms")}), "kms"))
	return nil
}
