//! `diff` on committed real-etcd files. (`diff` with `--prefix`, `--rev` and
//! a data dir against live etcd: cmd_keys.)

use std::ffi::OsString;

use serde_json::Value;

use crate::cmd_keys::basic;
use crate::util::{run, testdata};

#[test]
fn diff_between_versions_and_of_unrelated_files() {
    // The 3.5.1 and 3.4.23 basic scenarios ran the same writes.
    let b34 = testdata().join("etcd-3.4.23/basic/snapshot.db");
    let r = run(&[OsString::from("diff"), basic().into(), b34.into()]);
    r.expect_code(0);
    assert!(
        r.stdout
            .contains("0 added, 0 removed, 0 changed, 14 unchanged"),
        "{r}"
    );
    let large = testdata().join("etcd-3.5.1/large/snapshot.db");
    let r = run(&[
        OsString::from("diff"),
        basic().into(),
        large.clone().into(),
        "-w".into(),
        "json".into(),
    ]);
    r.expect_code(1);
    for l in r.stdout.lines() {
        let v: Value = serde_json::from_str(l).unwrap();
        assert!(["added", "removed", "changed"].contains(&v["change"].as_str().unwrap()));
    }
}
