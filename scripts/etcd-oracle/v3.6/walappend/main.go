// walappend: appends one committed entry carrying a DowngradeVersionTestRequest
// to a stopped etcd 3.6 member's WAL, with etcd's own wal package.
//
// Why: etcdutl's downgrade check (`migrate --target-version 3.5`) refuses a WAL
// whose entries need a newer etcd, and of the requests etcd defines only this
// test request needs more than 3.5. No released etcd writes it, so this is the
// only way to get a real file that trips the check; the bytes come from etcd's
// encoder, not ours.
//
// Usage: walappend DATA_DIR VERSION   (e.g. 3.6.0)
package main

import (
	"fmt"
	"os"
	"path/filepath"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/server/v3/storage/wal"
	"go.etcd.io/etcd/server/v3/storage/wal/walpb"
	"go.etcd.io/raft/v3/raftpb"
	"go.uber.org/zap"
)

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: walappend DATA_DIR VERSION")
		os.Exit(2)
	}
	if err := run(os.Args[1], os.Args[2]); err != nil {
		fmt.Fprintln(os.Stderr, "walappend:", err)
		os.Exit(1)
	}
}

func run(dataDir, ver string) error {
	lg := zap.NewNop()
	dir := filepath.Join(dataDir, "member", "wal")
	w, err := wal.Open(lg, dir, walpb.Snapshot{})
	if err != nil {
		return err
	}
	defer w.Close()
	_, st, ents, err := w.ReadAll()
	if err != nil {
		return err
	}
	if len(ents) == 0 {
		return fmt.Errorf("no entries in %s", dir)
	}
	last := ents[len(ents)-1]
	req := pb.InternalRaftRequest{
		Header:               &pb.RequestHeader{ID: 0x7e57},
		DowngradeVersionTest: &pb.DowngradeVersionTestRequest{Ver: ver},
	}
	data, err := req.Marshal()
	if err != nil {
		return err
	}
	e := raftpb.Entry{Term: last.Term, Index: last.Index + 1, Type: raftpb.EntryNormal, Data: data}
	st.Commit = e.Index
	if err := w.Save(st, []raftpb.Entry{e}); err != nil {
		return err
	}
	fmt.Printf("appended index %d term %d (DowngradeVersionTestRequest ver %s)\n", e.Index, e.Term, ver)
	return nil
}
