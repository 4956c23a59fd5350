package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/bufbuild/protocompile"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"
)

// cmdDescriptors compiles the generated.proto files shipped in the pinned
// k8s.io/api, k8s.io/apimachinery and k8s.io/apiextensions-apiserver modules
// into one FileDescriptorSet (no source info), dependencies first. Each
// -root is IMPORT_PREFIX=DIR (e.g. k8s.io/api=/root/go/pkg/mod/k8s.io/api@v0.37.2).
func cmdDescriptors(args []string) error {
	fset := flag.NewFlagSet("descriptors", flag.ExitOnError)
	out := fset.String("out", "", "output file")
	metaOut := fset.String("json-meta", "", "also write the JSON facts of the Go types here")
	var roots multi
	fset.Var(&roots, "root", "IMPORT_PREFIX=DIR (repeatable)")
	fset.Parse(args)
	type root struct{ prefix, dir string }
	var rs []root
	for _, r := range roots {
		p, d, ok := strings.Cut(r, "=")
		if !ok {
			return fmt.Errorf("bad -root %q", r)
		}
		rs = append(rs, root{p, d})
	}
	open := func(path string) (io.ReadCloser, error) {
		for _, r := range rs {
			if rest, ok := strings.CutPrefix(path, r.prefix+"/"); ok {
				return os.Open(filepath.Join(r.dir, rest))
			}
		}
		return nil, fs.ErrNotExist
	}
	var names []string
	for _, r := range rs {
		err := filepath.WalkDir(r.dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() && (d.Name() == "testdata" || d.Name() == "vendor" || d.Name() == "test") {
				return filepath.SkipDir
			}
			if d.Name() != "generated.proto" {
				return nil
			}
			rel, _ := filepath.Rel(r.dir, p)
			// Only API type packages (pkg/apis/..., the api groups, and
			// apimachinery's meta/runtime/intstr/resource).
			if r.prefix == "k8s.io/apiextensions-apiserver" && !strings.HasPrefix(rel, "pkg/apis/") {
				return nil
			}
			names = append(names, r.prefix+"/"+filepath.ToSlash(rel))
			return nil
		})
		if err != nil {
			return err
		}
	}
	sort.Strings(names)
	c := protocompile.Compiler{
		Resolver:       protocompile.WithStandardImports(&protocompile.SourceResolver{Accessor: open}),
		SourceInfoMode: protocompile.SourceInfoNone,
	}
	files, err := c.Compile(context.Background(), names...)
	if err != nil {
		return err
	}
	set := &descriptorpb.FileDescriptorSet{}
	seen := map[string]bool{}
	var add func(f protoreflect.FileDescriptor)
	add = func(f protoreflect.FileDescriptor) {
		if seen[f.Path()] {
			return
		}
		seen[f.Path()] = true
		imps := f.Imports()
		for i := 0; i < imps.Len(); i++ {
			add(imps.Get(i).FileDescriptor)
		}
		set.File = append(set.File, protodesc.ToFileDescriptorProto(f))
	}
	for _, f := range files {
		add(f)
	}
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(set)
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "k8s-oracle: %d files, %d bytes\n", len(set.File), len(b))
	if *metaOut != "" {
		if err := writeJSONMeta(*metaOut); err != nil {
			return err
		}
	}
	return os.WriteFile(*out, b, 0o644)
}

type multi []string

func (m *multi) String() string     { return strings.Join(*m, ",") }
func (m *multi) Set(s string) error { *m = append(*m, s); return nil }
