//! `v2 ls` / `v2 get` on etcd 3.6.17 / 3.7.3 data dirs: the v2 store holds only
//! membership there (3.6 still loads it, 3.7 no longer reads it); the output
//! says so instead of an unexplained empty listing.

use crate::util::{run, testdata, InputGuard};

#[test]
fn golden_v3x_v2_ls_says_what_the_store_holds() {
    let root = testdata();
    for (rel, says) in [
        ("etcd-3.6.17/single-node/data/n1", "written by etcd 3.6.0"),
        (
            "etcd-3.6.17/upgrade-3.5-3.6/data/step2-3.6.17",
            "written by etcd 3.6.0",
        ),
        (
            "etcd-3.7.3/single-node/data/n1",
            "etcd 3.7 no longer reads it",
        ),
        (
            "etcd-3.7.3/snapshotted/data/n1",
            "etcd 3.7 no longer reads it",
        ),
        (
            "etcd-3.7.3/restore-ref/data/three-n1",
            "etcd 3.7 no longer reads it",
        ),
        // A 3.6 member of a cluster still at 3.5 writes no storage version.
        (
            "etcd-3.6.17/cluster3-mixed/data/n1",
            "holds no keys outside etcd's internal /0",
        ),
        (
            "etcd-3.5.1/single-node/data/n1",
            "holds no keys outside etcd's internal /0",
        ),
    ] {
        let d = root.join(rel);
        if rel.starts_with("etcd-3.5.1") && !d.is_dir() {
            // ETCD_RESCUE_TESTDATA may hold only the 3.6/3.7 scenarios.
            eprintln!("SKIPPED {rel}: not under {}", root.display());
            continue;
        }
        let guard = InputGuard::new(&[&d]);
        let r = run(&["v2", "ls", d.to_str().unwrap(), "-r"]);
        r.expect_code(0);
        assert_eq!(r.stdout, "", "{r}");
        assert!(r.stderr.contains(says), "{rel}: {r}");
        let g = run(&["v2", "get", d.to_str().unwrap(), "/service/pg/leader"]);
        g.expect_code(1);
        assert!(g.stderr.contains("Key not found"), "{g}");
        if !says.contains("no keys outside") {
            assert!(
                g.stderr.contains("holds only the cluster membership"),
                "{rel}: {g}"
            );
        }
        guard.check();
    }
    // 3.4 data with v2 keys: no note.
    let p = root.join("etcd-3.4.23/v2-patroni/data/n1");
    if p.is_dir() {
        let r = run(&["v2", "ls", p.to_str().unwrap(), "-r", "--hide-expired"]);
        r.expect_code(0);
        assert!(
            !r.stdout.is_empty() && !r.stderr.contains("membership"),
            "{r}"
        );
    }
}
