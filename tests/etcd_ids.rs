//! Member and cluster IDs (`etcd::ids`) against what real `etcdutl snapshot
//! restore` (3.5.1) writes: the `members` bucket of the restored db (keys and
//! JSON byte for byte) and the cluster id it logs.

use std::collections::BTreeMap;
use std::process::Command;

use etcd_rescue::etcd::member::Cluster;
use etcd_rescue::formats::bbolt::Db;

use crate::util::{etcd_bin_dir, testdata, InputGuard};

#[test]
fn three_member_restore_matches_etcdutl() {
    let Some(bin) = etcd_bin_dir("3.5.1") else {
        return;
    };
    let snap = testdata().join("etcd-3.5.1/basic/snapshot.db");
    let guard = InputGuard::new(&[&snap]);
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("d");
    // n2 has two peer URLs given out of order, and n1 a URL with upper case
    // scheme and spaces: both normalised before hashing.
    let initial = "n1= HTTP://127.0.0.1:2380 ,n2=http://127.0.0.1:2381,n2=http://10.0.0.2:2381,n3=http://127.0.0.1:2382";
    let token = "rescue-token";
    let out = Command::new(bin.join("etcdutl"))
        .args(["snapshot", "restore"])
        .arg(&snap)
        .arg("--data-dir")
        .arg(&data)
        .args([
            "--name",
            "n2",
            "--initial-cluster",
            initial,
            "--initial-cluster-token",
            token,
        ])
        .args([
            "--initial-advertise-peer-urls",
            "http://10.0.0.2:2381,http://127.0.0.1:2381",
        ])
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "etcdutl restore failed:\n{log}");
    guard.check();

    let ours = Cluster::from_initial_cluster(initial, token).unwrap();
    let cid = format!("\"cluster-id\": \"{:x}\"", ours.id);
    assert!(log.contains(&cid), "want {cid} in etcdutl's log:\n{log}");

    let bytes = std::fs::read(data.join("member/snap/db")).unwrap();
    let db = Db::open(&bytes).unwrap();
    let members = db.bucket(b"members").unwrap().expect("members bucket");
    let got: BTreeMap<Vec<u8>, Vec<u8>> = members
        .cursor(&db)
        .map(|e| e.map(|e| (e.key.to_vec(), e.value.to_vec())).unwrap())
        .collect();
    let want: BTreeMap<Vec<u8>, Vec<u8>> = ours
        .members
        .iter()
        .map(|m| (m.bucket_key().into_bytes(), m.to_json().into_bytes()))
        .collect();
    assert_eq!(got.len(), 3);
    let show = |m: &BTreeMap<Vec<u8>, Vec<u8>>| {
        m.iter()
            .map(|(k, v)| {
                format!(
                    "{} = {}",
                    String::from_utf8_lossy(k),
                    String::from_utf8_lossy(v)
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert_eq!(show(&got), show(&want));
}

/// A started etcd 3.5.1 reports the member and cluster ids we compute.
#[test]
fn live_member_list_matches() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(mut live) = crate::util::EtcdServer::start("3.5.1", tmp.path(), &[]) else {
        return;
    };
    let (_, peer) = live.ports;
    let out = live.ctl(&["member", "list", "-w", "json"]);
    live.stop();
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let ours =
        Cluster::from_initial_cluster(&format!("n1=http://127.0.0.1:{peer}"), "etcd-cluster")
            .unwrap();
    assert_eq!(
        v["header"]["cluster_id"].as_u64().unwrap(),
        ours.id,
        "{out}"
    );
    assert_eq!(
        v["members"][0]["ID"].as_u64().unwrap(),
        ours.members[0].id,
        "{out}"
    );
}
