//! `get` on committed real-etcd files: decoding for a person, `--raw` bytes,
//! missing keys, JSON. (`get --rev` against live etcd: cmd_keys.)

use std::ffi::OsString;
use std::process::Command;

use serde_json::Value;

use crate::cmd_keys::basic;
use crate::util::run;

#[test]
fn get_decodes_and_raw_writes_bytes() {
    let r = run(&[OsString::from("get"), basic().into(), "foo".into()]);
    r.expect_code(0);
    assert!(
        r.stdout.contains("value:    4 bytes, text\n---\nbar4\n"),
        "{r}"
    );
    let r = run(&[
        OsString::from("get"),
        basic().into(),
        "bin/all-bytes".into(),
    ]);
    r.expect_code(0);
    assert!(
        r.stdout.contains(
            "00000000  00 01 02 03 04 05 06 07  08 09 0a 0b 0c 0d 0e 0f  |................|"
        ),
        "{r}"
    );
    let out = Command::new(crate::util::bin())
        .args([
            OsString::from("get"),
            basic().into(),
            "bin/all-bytes".into(),
            "--raw".into(),
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(out.stdout, (0..=255u8).collect::<Vec<_>>());
    let r = run(&[OsString::from("get"), basic().into(), "a/4".into()]);
    r.expect_code(1);
    let r = run(&[
        OsString::from("get"),
        basic().into(),
        "foo".into(),
        "-w".into(),
        "json".into(),
    ]);
    r.expect_code(0);
    let v: Value = serde_json::from_str(r.stdout.trim()).unwrap();
    assert_eq!(v["value"], "bar4");
    assert_eq!(v["type"], "text");
}
