package main

// A fake KMS v2 plugin of ours, in process: kube-apiserver's KMS v2 envelope
// transformer (k8s.io/apiserver .../envelope/kmsv2, built by encryptionconfig
// from a `kms` provider with apiVersion v2) talks gRPC to it over a unix
// socket, as it talks to a real plugin. The plugin wraps the DEK seed with a
// local AES-256-GCM key; it reports a fixed key ID and one annotation.

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"time"

	kmsservice "k8s.io/kms/pkg/service"
)

const (
	kmsName       = "kms-test"
	kmsKeyID      = "projects/rescue/locations/global/keyRings/k8s/cryptoKeys/etcd/cryptoKeyVersions/3"
	kmsAnnotation = "key-version.kms.rescue.example.com"
)

type fakeKMS struct{ aead cipher.AEAD }

func newFakeKMS() (*fakeKMS, error) {
	key := make([]byte, 32)
	for i := range key {
		key[i] = byte(i*13 + 5)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &fakeKMS{aead: aead}, nil
}

func (f *fakeKMS) Encrypt(_ context.Context, _ string, data []byte) (*kmsservice.EncryptResponse, error) {
	nonce := make([]byte, f.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	return &kmsservice.EncryptResponse{
		Ciphertext:  f.aead.Seal(nonce, nonce, data, []byte(kmsKeyID)),
		KeyID:       kmsKeyID,
		Annotations: map[string][]byte{kmsAnnotation: []byte("3")},
	}, nil
}

func (f *fakeKMS) Decrypt(_ context.Context, _ string, req *kmsservice.DecryptRequest) ([]byte, error) {
	n := f.aead.NonceSize()
	if len(req.Ciphertext) < n {
		return nil, fmt.Errorf("ciphertext too short")
	}
	return f.aead.Open(nil, req.Ciphertext[:n], req.Ciphertext[n:], []byte(req.KeyID))
}

func (f *fakeKMS) Status(context.Context) (*kmsservice.StatusResponse, error) {
	return &kmsservice.StatusResponse{Version: "v2", Healthz: "ok", KeyID: kmsKeyID}, nil
}

// startFakeKMS serves the plugin on DIR/kms.sock until ctx ends; it returns
// the endpoint for the EncryptionConfiguration.
func startFakeKMS(ctx context.Context, dir string) (string, error) {
	f, err := newFakeKMS()
	if err != nil {
		return "", err
	}
	sock := filepath.Join(dir, "kms.sock")
	_ = os.Remove(sock)
	s := kmsservice.NewGRPCService(sock, 5*time.Second, f)
	go func() { _ = s.ListenAndServe() }()
	go func() { <-ctx.Done(); s.Shutdown() }()
	for i := 0; i < 100; i++ {
		if c, err := net.Dial("unix", sock); err == nil {
			c.Close()
			return "unix://" + sock, nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return "", fmt.Errorf("fake KMS did not listen on %s", sock)
}

// kmsProviderYAML is the `kms` provider entry (apiVersion v2).
func kmsProviderYAML(endpoint string) string {
	return fmt.Sprintf("      - kms:\n          apiVersion: v2\n          name: %s\n          endpoint: %s\n          timeout: 3s\n", kmsName, endpoint)
}
