package main

// `k8s-oracle bench`: a Kubernetes-shaped benchmark db, fast. Real objects
// (k8s.io/api types, the apiserver's protobuf storage encoding) at
// kube-apiserver's keys: per namespace a few Deployments' worth of Pods and
// ConfigMaps, Secrets, a few large ConfigMaps, and heavy Event churn (Events
// created, updated and deleted as --event-ttl does), plus Pod status updates
// for history. Written by -workers concurrent clients (one put per object
// version, as the apiserver writes them). No goldens: this is for timing.

import (
	"context"
	"flag"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/ptr"

	clientv3 "go.etcd.io/etcd/client/v3"
)

func cmdBench(args []string) error {
	fs := flag.NewFlagSet("bench", flag.ExitOnError)
	endpoint := fs.String("endpoint", "http://127.0.0.1:2379", "etcd client URL")
	prefix := fs.String("prefix", "/registry", "kube-apiserver --etcd-prefix")
	nsCount := fs.Int("namespaces", 50, "namespaces")
	pods := fs.Int("pods", 40000, "pods (in all)")
	cms := fs.Int("configmaps", 40000, "configmaps (in all)")
	secrets := fs.Int("secrets", 10000, "secrets (in all)")
	events := fs.Int("events", 100000, "events created (in all); a third are updated, half deleted")
	podUpdates := fs.Int("pod-updates", 2, "status updates per pod (history)")
	workers := fs.Int("workers", 64, "concurrent clients")
	fs.Parse(args)
	ctx := context.Background()
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{*endpoint}, DialTimeout: 10 * time.Second})
	if err != nil {
		return err
	}
	defer cli.Close()
	w := &writer{ctx: ctx, cli: cli, prefix: *prefix, clock: epoch}

	type op struct {
		key string
		val []byte // nil: delete
	}
	jobs := make(chan op, 4096)
	var done atomic.Int64
	var firstErr error
	var once sync.Once
	var wg sync.WaitGroup
	for i := 0; i < *workers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for o := range jobs {
				var err error
				if o.val == nil {
					_, err = cli.Delete(ctx, o.key)
				} else {
					_, err = cli.Put(ctx, o.key, string(o.val))
				}
				if err != nil {
					once.Do(func() { firstErr = err })
				}
				done.Add(1)
			}
		}()
	}
	put := func(keyPath string, obj runtime.Object) {
		b, err := protoEncode(obj)
		if err != nil {
			once.Do(func() { firstErr = err })
			return
		}
		jobs <- op{key: w.prefix + keyPath, val: b}
	}
	del := func(keyPath string) { jobs <- op{key: w.prefix + keyPath} }
	start := time.Now()
	ns := func(i int) string { return fmt.Sprintf("team-%02d", i%*nsCount) }
	for i := 0; i < *nsCount; i++ {
		put("/namespaces/"+ns(i), &corev1.Namespace{ObjectMeta: w.meta("", ns(i), labels("kubernetes.io/metadata.name", ns(i))),
			Status: corev1.NamespaceStatus{Phase: corev1.NamespaceActive}})
	}
	mkPod := func(i, gen int) *corev1.Pod {
		name := fmt.Sprintf("app-%d-%05d", i%97, i)
		p := &corev1.Pod{ObjectMeta: w.meta(ns(i), name, labels("app", fmt.Sprintf("app-%d", i%97), "pod-template-hash", "6d4cf56db6")), Spec: podSpec("default")}
		p.Spec.NodeName = fmt.Sprintf("node-%d", i%40)
		started := w.tick(time.Second)
		p.Status = corev1.PodStatus{Phase: corev1.PodRunning, HostIP: "192.168.1.10", PodIP: fmt.Sprintf("10.%d.%d.%d", 200+i%50, (i/250)%250, i%250),
			StartTime: &started, QOSClass: corev1.PodQOSBurstable,
			Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: w.tick(time.Second)}},
			ContainerStatuses: []corev1.ContainerStatus{{Name: "web", Ready: true, RestartCount: int32(gen), Image: "registry.example/web:1.4.2",
				ImageID: "registry.example/web@sha256:" + strings.Repeat("ab", 32), ContainerID: "containerd://" + strings.Repeat("0f", 32), Started: ptr.To(true),
				State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: w.tick(time.Second)}}}}}
		return p
	}
	for i := 0; i < *pods; i++ {
		put(fmt.Sprintf("/pods/%s/app-%d-%05d", ns(i), i%97, i), mkPod(i, 0))
	}
	for i := 0; i < *cms; i++ {
		name := fmt.Sprintf("config-%05d", i)
		cm := &corev1.ConfigMap{ObjectMeta: w.meta(ns(i), name, labels("app", fmt.Sprintf("app-%d", i%97))),
			Data: map[string]string{"app.properties": fmt.Sprintf("color=blue\nsize=%d\nreplicas=%d\n", i%13, i%5)}}
		if i%4000 == 0 { // a few large ones (dashboards, CRD-ish blobs)
			cm.Data["dashboard.json"] = strings.Repeat(`{"type":"graph","targets":[{"expr":"rate(http_requests_total[5m])"}]},`, 12000)
		}
		put(fmt.Sprintf("/configmaps/%s/%s", ns(i), name), cm)
	}
	for i := 0; i < *secrets; i++ {
		name := fmt.Sprintf("token-%05d", i)
		put(fmt.Sprintf("/secrets/%s/%s", ns(i), name), &corev1.Secret{ObjectMeta: w.meta(ns(i), name, nil), Type: corev1.SecretTypeOpaque,
			Data: map[string][]byte{"token": []byte(strings.Repeat("x", 40+i%64))}})
	}
	for u := 1; u <= *podUpdates; u++ {
		for i := 0; i < *pods; i++ {
			put(fmt.Sprintf("/pods/%s/app-%d-%05d", ns(i), i%97, i), mkPod(i, u))
		}
	}
	for i := 0; i < *events; i++ {
		name := fmt.Sprintf("app-%d-%05d.%016x", i%97, i%(*pods+1), uint64(i)*0x9e3779b97f4a7c15)
		ev := &corev1.Event{ObjectMeta: w.meta(ns(i), name, nil),
			InvolvedObject: corev1.ObjectReference{Kind: "Pod", Namespace: ns(i), Name: fmt.Sprintf("app-%d-%05d", i%97, i%(*pods+1)), APIVersion: "v1"},
			Reason:         "BackOff", Message: "Back-off restarting failed container web in pod " + name,
			Source: corev1.EventSource{Component: "kubelet", Host: fmt.Sprintf("node-%d", i%40)}, FirstTimestamp: w.tick(time.Second),
			LastTimestamp: w.tick(0), Count: 1, Type: corev1.EventTypeWarning, ReportingController: "kubelet", ReportingInstance: fmt.Sprintf("node-%d", i%40)}
		key := fmt.Sprintf("/events/%s/%s", ns(i), name)
		put(key, ev)
		if i%3 == 0 {
			ev.Count = 5
			ev.LastTimestamp = w.tick(time.Second)
			put(key, ev)
		}
		if i%2 == 0 && i > 1000 { // --event-ttl: old events go
			j := i - 1000
			del(fmt.Sprintf("/events/%s/app-%d-%05d.%016x", ns(j), j%97, j%(*pods+1), uint64(j)*0x9e3779b97f4a7c15))
		}
	}
	close(jobs)
	wg.Wait()
	if firstErr != nil {
		return firstErr
	}
	fmt.Printf("k8s-oracle bench: %d writes in %.1f s\n", done.Load(), time.Since(start).Seconds())
	return nil
}

var _ = metav1.Now
