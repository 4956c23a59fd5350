//! `wal dump` and the WAL reader/writer on WALs written by real etcd:
//! decoding, byte-exact re-encoding, `etcdutl snapshot restore`'s WAL, and
//! corruption (CRC mismatch, torn tail, sequence gap, bad names).

use std::path::{Path, PathBuf};

use etcd_rescue::formats::proto::{etcdserverpb, raftpb, walpb};
use etcd_rescue::formats::wal::{self, Encoder, RecordType, Segment, SegmentName};
use prost::Message;
use serde_json::Value;

use crate::util::{etcd_bin_dir, run, testdata, InputGuard};

/// The committed single-node WAL dir; missing is a failure, not a skip.
#[track_caller]
fn single_node_wal() -> PathBuf {
    let p = testdata().join("etcd-3.5.1/single-node/data/n1/member/wal");
    assert!(
        p.is_dir(),
        "{} missing (scripts/make-testdata.sh)",
        p.display()
    );
    p
}

fn dump_json(path: &Path, extra: &[&str], code: i32) -> Vec<Value> {
    let guard = InputGuard::new(&[path]);
    let mut args = vec![
        "wal".to_string(),
        "dump".into(),
        path.display().to_string(),
        "-w".into(),
        "json".into(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    let r = run(&args);
    r.expect_code(code);
    guard.check();
    r.stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

/// Offset of an entry record in the middle of a WAL file (from a clean dump).
pub fn middle_entry_offset(file: &Path) -> u64 {
    let lines = dump_json(file, &["--type", "put"], 0);
    let puts: Vec<&Value> = lines.iter().filter(|l| l["type"] == "entry").collect();
    puts[puts.len() / 2]["offset"].as_u64().unwrap()
}

#[test]
fn dump_single_node() {
    let w = single_node_wal();
    let lines = dump_json(&w, &[], 0);
    let end = lines.last().unwrap();
    assert_eq!(end["type"], "end");
    assert_eq!(end["stop"]["reason"], "eof");
    let recs: Vec<&Value> = lines.iter().filter(|l| l.get("crc_ok").is_some()).collect();
    assert!(recs.iter().all(|r| r["crc_ok"] == true));
    assert_eq!(recs[0]["type"], "crc");
    assert_eq!(recs[1]["type"], "metadata");
    assert_eq!(recs[1]["member_id"], "0553675570e2ad01");
    assert_eq!(recs[1]["cluster_id"], "a165c336659f0e00");
    let entries: Vec<&&Value> = recs.iter().filter(|r| r["type"] == "entry").collect();
    let states: Vec<&&Value> = recs.iter().filter(|r| r["type"] == "state").collect();
    let commit = states.last().unwrap()["commit"].as_u64().unwrap();
    assert_eq!(entries.last().unwrap()["index"].as_u64().unwrap(), commit);
    assert_eq!(entries[0]["kind"], "conf_change");
    assert!(entries.iter().any(|e| e["kind"] == "v2"));
    assert!(entries.iter().any(|e| e["request"] == "put"));
    // Index filters.
    let some = dump_json(&w, &["--start-index", "10", "--end-index", "12"], 0);
    let idx: Vec<u64> = some.iter().filter_map(|l| l["index"].as_u64()).collect();
    assert_eq!(idx, [10, 11, 12]);
}

#[test]
fn records_re_encode_byte_for_byte() {
    let w = single_node_wal();
    for path in [
        w.join("0000000000000000-0000000000000000.wal"),
        testdata()
            .join("etcd-3.5.1/cluster3/data/n2/member/wal/0000000000000000-0000000000000000.wal"),
        testdata().join(
            "etcd-3.4.23/v2-patroni/data/n1/member/wal/0000000000000000-0000000000000000.wal",
        ),
    ] {
        assert!(path.is_file(), "{} missing", path.display());
        let bytes = std::fs::read(&path).unwrap();
        let seg = Segment {
            name: SegmentName { seq: 0, index: 0 },
            path: path.clone(),
            bytes: bytes.clone().into(),
        };
        let d = wal::decode(std::slice::from_ref(&seg), false);
        assert_eq!(d.stop, wal::Stop::Eof, "{}", path.display());
        let mut enc = Encoder::new(0);
        for rec in &d.records {
            let data = &rec.data;
            match RecordType::of(rec.rtype) {
                RecordType::Entry => assert_eq!(
                    &raftpb::Entry::decode(&data[..]).unwrap().encode_to_vec(),
                    data
                ),
                RecordType::State => assert_eq!(
                    &raftpb::HardState::decode(&data[..])
                        .unwrap()
                        .encode_to_vec(),
                    data
                ),
                RecordType::Metadata => assert_eq!(
                    &etcdserverpb::Metadata::decode(&data[..])
                        .unwrap()
                        .encode_to_vec(),
                    data
                ),
                RecordType::Snapshot => assert_eq!(
                    &walpb::Snapshot::decode(&data[..]).unwrap().encode_to_vec(),
                    data
                ),
                _ => {}
            }
            if let Some(e) = (rec.rtype == 2).then(|| raftpb::Entry::decode(&data[..]).unwrap()) {
                if e.r#type == 1 {
                    let cc = raftpb::ConfChange::decode(e.data.as_deref().unwrap()).unwrap();
                    assert_eq!(&cc.encode_to_vec(), e.data.as_ref().unwrap());
                } else {
                    if let Ok(r) = etcdserverpb::Request::decode(e.data.as_deref().unwrap_or(&[])) {
                        if etcd_rescue::etcd::entry::payload(&e).kind() == "v2" {
                            assert_eq!(&r.encode_to_vec(), e.data.as_ref().unwrap());
                        }
                    }
                }
            }
            let rt = RecordType::of(rec.rtype);
            if rt == RecordType::Crc {
                enc.crc_record();
            } else {
                enc.record(rt, Some(data));
            }
        }
        let n = enc.bytes().len();
        assert_eq!(enc.bytes(), &bytes[..n], "{}", path.display());
        assert!(bytes[n..].iter().all(|b| *b == 0));
    }
}

fn sha1_id(parts: &[&[u8]]) -> u64 {
    use sha1::{Digest, Sha1};
    let mut h = Sha1::new();
    for p in parts {
        h.update(p);
    }
    let d = h.finalize();
    u64::from_be_bytes(d[..8].try_into().unwrap())
}

/// (my id, cluster id, smallest id) of a restore.
fn restore_ids(names: &[(&str, String)], me: &str, token: &str) -> (u64, u64, u64) {
    let mut ids: Vec<(u64, &str)> = names
        .iter()
        .map(|(n, url)| (sha1_id(&[url.as_bytes(), token.as_bytes()]), *n))
        .collect();
    ids.sort();
    let idbytes: Vec<u8> = ids.iter().flat_map(|(i, _)| i.to_be_bytes()).collect();
    let mine = ids.iter().find(|(_, n)| *n == me).unwrap().0;
    (mine, sha1_id(&[&idbytes]), ids[0].0)
}

/// The WAL `etcdutl snapshot restore` 3.5.1 writes, rebuilt with the encoder.
fn expected_restore_wal(names: &[(&str, String)], me: &str, token: &str) -> Vec<u8> {
    restore_wal_for(names, me, token, true)
}

/// As [`expected_restore_wal`]; 3.4 writes the last snapshot record without a ConfState.
fn restore_wal_for(names: &[(&str, String)], me: &str, token: &str, conf_state: bool) -> Vec<u8> {
    let mut ids: Vec<(u64, &str, &String)> = names
        .iter()
        .map(|(n, url)| (sha1_id(&[url.as_bytes(), token.as_bytes()]), *n, url))
        .collect();
    ids.sort();
    let idbytes: Vec<u8> = ids.iter().flat_map(|(i, _, _)| i.to_be_bytes()).collect();
    let cluster = sha1_id(&[&idbytes]);
    let my_id = ids.iter().find(|(_, n, _)| *n == me).unwrap().0;
    let mut e = Encoder::new(0);
    e.crc_record();
    e.message(
        RecordType::Metadata,
        &etcdserverpb::Metadata {
            node_id: my_id,
            cluster_id: cluster,
        },
    );
    e.message(RecordType::Snapshot, &walpb::Snapshot::default());
    for (i, (id, name, url)) in ids.iter().enumerate() {
        let ctx = format!(r#"{{"id":{id},"peerURLs":["{url}"],"name":"{name}"}}"#);
        let cc = raftpb::ConfChange {
            id: 0,
            r#type: 0,
            node_id: *id,
            context: Some(ctx.into_bytes()),
        };
        let ent = raftpb::Entry {
            r#type: 1,
            term: 1,
            index: i as u64 + 1,
            data: Some(cc.encode_to_vec().into()),
        };
        e.message(RecordType::Entry, &ent);
    }
    let n = ids.len() as u64;
    e.message(
        RecordType::State,
        &raftpb::HardState {
            term: 1,
            vote: ids[0].0,
            commit: n,
        },
    );
    let cs = raftpb::ConfState {
        voters: ids.iter().map(|x| x.0).collect(),
        ..Default::default()
    };
    e.message(
        RecordType::Snapshot,
        &walpb::Snapshot {
            index: n,
            term: 1,
            conf_state: conf_state.then_some(cs),
        },
    );
    e.into_segment().unwrap()
}

#[test]
fn restore_wal_matches_etcdutl_351() {
    let Some(bin) = etcd_bin_dir("3.5.1") else {
        return;
    };
    let snap = testdata().join("etcd-3.5.1/basic/snapshot.db");
    assert!(snap.is_file(), "{} missing", snap.display());
    for members in [1usize, 3] {
        let t = tempfile::tempdir().unwrap();
        let peers: Vec<(&str, String)> = ["n1", "n2", "n3"][..members]
            .iter()
            .enumerate()
            .map(|(i, n)| (*n, format!("http://127.0.0.1:{}", 12380 + i)))
            .collect();
        let me = if members == 3 { "n2" } else { "n1" };
        let my_url = &peers.iter().find(|(n, _)| *n == me).unwrap().1;
        let cluster = peers
            .iter()
            .map(|(n, u)| format!("{n}={u}"))
            .collect::<Vec<_>>()
            .join(",");
        let out = std::process::Command::new(bin.join("etcdutl"))
            .args(["snapshot", "restore"])
            .arg(&snap)
            .args(["--name", me])
            .args([
                "--initial-cluster",
                &cluster,
                "--initial-cluster-token",
                "tok",
            ])
            .args(["--initial-advertise-peer-urls", my_url])
            .arg("--data-dir")
            .arg(t.path().join("d"))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let got = std::fs::read(
            t.path()
                .join("d/member/wal/0000000000000000-0000000000000000.wal"),
        )
        .unwrap();
        let want = expected_restore_wal(&peers, me, "tok");
        assert_eq!(got.len(), want.len());
        assert!(got == want, "restore WAL differs for {members} members");
        // And the segment writer produces the same file.
        let frames_len = want
            .iter()
            .rposition(|b| *b != 0)
            .map_or(0, |p| (p + 8) / 8 * 8);
        // The restored dir, as inspect sees it.
        let r = run(&[
            "inspect".as_ref(),
            t.path().join("d").as_os_str(),
            "-w".as_ref(),
            "json".as_ref(),
        ]);
        r.expect_code(0);
        let v: Value = serde_json::from_str(&r.stdout).unwrap();
        let ids = restore_ids(&peers, me, "tok");
        assert_eq!(v["identity"]["member_id"], format!("{:016x}", ids.0));
        assert_eq!(v["identity"]["cluster_id"], format!("{:016x}", ids.1));
        assert_eq!(v["identity"]["name"], me);
        let n = members as u64;
        assert_eq!(v["raft"]["hard_state"]["commit"], n);
        assert_eq!(v["raft"]["hard_state"]["term"], 1);
        assert_eq!(v["raft"]["hard_state"]["vote"], format!("{:016x}", ids.2));
        assert_eq!(v["raft"]["snapshot"]["index"], n);
        assert_eq!(v["raft"]["snapshot"]["term"], 1);
        assert_eq!(
            v["raft"]["snapshot"]["name"],
            format!("{:016x}-{:016x}.snap", 1, n)
        );
        assert_eq!(v["db"]["consistent_index"], n);
        assert_eq!(v["db"]["term"], 1);
        assert_eq!(
            v["membership"]["db"]["members"].as_array().unwrap().len(),
            members
        );
        assert_eq!(
            v["membership"]["snap"]["members"].as_array().unwrap().len(),
            members
        );
        assert_eq!(v["raft"]["snapshot"]["v2_custom_content"], false);
        let out_path = t.path().join("written.wal");
        etcd_rescue::sink::write_segment_file(&out_path, &want[..frames_len]).unwrap();
        assert!(std::fs::read(&out_path).unwrap() == got);
    }
}

fn copy_wal() -> (tempfile::TempDir, PathBuf) {
    let w = single_node_wal();
    let t = tempfile::tempdir().unwrap();
    let d = t.path().join("wal");
    std::fs::create_dir(&d).unwrap();
    for e in std::fs::read_dir(&w).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), d.join(e.file_name())).unwrap();
    }
    (t, d)
}

const FILE0: &str = "0000000000000000-0000000000000000.wal";

fn findings(lines: &[Value]) -> Vec<&Value> {
    lines.iter().filter(|l| l["type"] == "finding").collect()
}

#[test]
fn crc_mismatch_mid_file_stops_or_goes_on_with_raw() {
    let (_t, d) = copy_wal();
    let f = d.join(FILE0);
    let off = middle_entry_offset(&f);
    let mut b = std::fs::read(&f).unwrap();
    b[off as usize + 8 + 12] ^= 0x40;
    std::fs::write(&f, &b).unwrap();
    let lines = dump_json(&d, &[], 1);
    let fs = findings(&lines);
    assert_eq!(fs[0]["code"], "wal.crc.mismatch");
    assert_eq!(fs[0]["at"]["offset"], off);
    assert!(fs[0]["at"]["file"].as_str().unwrap().ends_with(FILE0));
    assert_eq!(lines.last().unwrap()["stop"]["reason"], "corrupt");
    let last_off = lines
        .iter()
        .filter_map(|l| l["offset"].as_u64())
        .max()
        .unwrap();
    assert!(last_off < off);
    // --raw goes on: the damaged record is shown with crc_ok=false, and later records follow.
    let raw = dump_json(&d, &["--raw"], 1);
    assert!(raw
        .iter()
        .any(|l| l["offset"] == off && l["crc_ok"] == false));
    assert!(
        raw.iter()
            .filter_map(|l| l["offset"].as_u64())
            .max()
            .unwrap()
            > off
    );
    assert_eq!(findings(&raw).len(), 1);
}

#[test]
fn torn_tail_is_reported_not_fatal() {
    let (_t, d) = copy_wal();
    let f = d.join(FILE0);
    let clean = dump_json(&d, &[], 0);
    let recs: Vec<&Value> = clean.iter().filter(|l| l.get("crc_ok").is_some()).collect();
    let last = recs.last().unwrap()["offset"].as_u64().unwrap();
    let mut b = std::fs::read(&f).unwrap();
    // Zero the record's bytes up to the next 512-byte boundary past its start (a torn sector).
    let start = last as usize + 8;
    let end = (start / 512 + 1) * 512;
    let stop = end.min(b.len());
    for x in &mut b[start..stop] {
        *x = 0;
    }
    b.resize(b.len().max(end), 0);
    std::fs::write(&f, &b).unwrap();
    let lines = dump_json(&d, &[], 0);
    assert_eq!(lines.last().unwrap()["stop"]["reason"], "torn-tail");
    assert_eq!(findings(&lines)[0]["code"], "wal.tail.torn");
    assert_eq!(findings(&lines)[0]["severity"], "warning");
    let n = lines.iter().filter(|l| l.get("crc_ok").is_some()).count();
    assert_eq!(n, recs.len() - 1);
}

#[test]
fn sequence_gap_and_bad_names() {
    let (_t, d) = copy_wal();
    // A second file with seq 2: seq 1 is missing.
    let mut e = Encoder::new(0);
    e.crc_record();
    std::fs::write(d.join("0000000000000002-00000000000003e8.wal"), e.bytes()).unwrap();
    std::fs::write(d.join("not-a-wal.wal"), b"junk").unwrap();
    std::fs::write(d.join("0.tmp"), b"").unwrap();
    let lines = dump_json(&d, &[], 1);
    let codes: Vec<&str> = findings(&lines)
        .iter()
        .map(|f| f["code"].as_str().unwrap())
        .collect();
    assert!(codes.contains(&"wal.seq.gap"), "{codes:?}");
    assert!(codes.contains(&"wal.name.unparsable"), "{codes:?}");
    assert!(!codes.iter().any(|c| c.contains("tmp")));
}

#[test]
fn empty_or_missing_wal_dir_exits_2() {
    let t = tempfile::tempdir().unwrap();
    let r = run(&["wal".as_ref(), "dump".as_ref(), t.path().as_os_str()]);
    r.expect_code(2);
    assert!(r.stderr.contains("no WAL files"), "{r}");
    run(&["wal", "dump", "/nonexistent/wal"]).expect_code(2);
    // A zero-length WAL file: no records, not a crash.
    std::fs::write(t.path().join(FILE0), b"").unwrap();
    let lines = dump_json(t.path(), &[], 0);
    assert_eq!(lines.len(), 1);
}

#[test]
fn snap_files_decode_and_re_encode_byte_for_byte() {
    use etcd_rescue::formats::snap;
    let mut n = 0;
    for dir in [
        "etcd-3.5.1/single-node/data/n1/member/snap",
        "etcd-3.5.1/wal-ahead/data/n1/member/snap",
        "etcd-3.4.23/v2-patroni/data/n1/member/snap",
    ] {
        let d = testdata().join(dir);
        let rd = std::fs::read_dir(&d).unwrap_or_else(|e| panic!("{}: {e}", d.display()));
        let scenario = d.ancestors().nth(4).unwrap();
        let want = crate::util::manifest_u64(scenario, "data/n1.snap_files");
        let before = n;
        for e in rd {
            let p = e.unwrap().path();
            if p.extension().and_then(|x| x.to_str()) != Some("snap") {
                continue;
            }
            let b = std::fs::read(&p).unwrap();
            let s = snap::decode(&b).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            assert_eq!(snap::parse_name(&name), Some((s.term(), s.index())));
            assert!(snap::encode(&s.snapshot) == b, "{}", p.display());
            let st = etcd_rescue::etcd::v2store::Store::parse(s.data()).unwrap();
            assert_eq!(st.current_version, 2);
            n += 1;
        }
        assert_eq!(n - before, want, "{}: .snap files vs manifest", d.display());
    }
    assert!(n > 0, "no .snap files checked");
}

#[test]
fn metadata_conflict_between_files() {
    let (_t, d) = copy_wal();
    let clean = dump_json(&d, &[], 0);
    let recs: Vec<&Value> = clean.iter().filter(|l| l.get("crc_ok").is_some()).collect();
    let last_crc = recs.last().unwrap()["crc"].as_u64().unwrap() as u32;
    let last_index = recs
        .iter()
        .filter_map(|r| r["index"].as_u64())
        .max()
        .unwrap();
    // A second file that continues the CRC chain but names another cluster.
    let mut e = Encoder::new(last_crc);
    e.crc_record();
    e.message(
        RecordType::Metadata,
        &etcdserverpb::Metadata {
            node_id: 0x0553_6755_70e2_ad01,
            cluster_id: 1,
        },
    );
    let name = format!("{:016x}-{:016x}.wal", 1, last_index + 1);
    std::fs::write(d.join(name), e.bytes()).unwrap();
    let lines = dump_json(&d, &[], 1);
    let fs = findings(&lines);
    assert!(
        fs.iter().any(|f| f["code"] == "wal.metadata.conflict"),
        "{fs:?}"
    );
    assert!(
        !fs.iter().any(|f| f["code"] == "wal.crc.seed-mismatch"),
        "{fs:?}"
    );
}

/// A second file as etcd's cut writes it (crc seeded with the first file's last
/// CRC, metadata, HardState), holding entries that overwrite the last three
/// entries of the first file with a new term, then one more.
#[test]
fn second_file_continues_the_chain_and_overwrites_entries() {
    let (_t, d) = copy_wal();
    let clean = dump_json(&d, &[], 0);
    let recs: Vec<&Value> = clean.iter().filter(|l| l.get("crc_ok").is_some()).collect();
    let last_crc = recs.last().unwrap()["crc"].as_u64().unwrap() as u32;
    let last_index = recs
        .iter()
        .filter_map(|r| r["index"].as_u64())
        .max()
        .unwrap();
    let md = recs.iter().find(|r| r["type"] == "metadata").unwrap();
    let id = u64::from_str_radix(md["member_id"].as_str().unwrap(), 16).unwrap();
    let cid = u64::from_str_radix(md["cluster_id"].as_str().unwrap(), 16).unwrap();
    let mut e = Encoder::new(last_crc);
    e.crc_record();
    e.message(
        RecordType::Metadata,
        &etcdserverpb::Metadata {
            node_id: id,
            cluster_id: cid,
        },
    );
    e.message(
        RecordType::State,
        &raftpb::HardState {
            term: 3,
            vote: id,
            commit: last_index - 3,
        },
    );
    for index in last_index - 2..=last_index + 1 {
        e.message(
            RecordType::Entry,
            &raftpb::Entry {
                r#type: 0,
                term: 3,
                index,
                data: None,
            },
        );
    }
    e.message(
        RecordType::State,
        &raftpb::HardState {
            term: 3,
            vote: id,
            commit: last_index + 1,
        },
    );
    std::fs::write(
        d.join(format!("{:016x}-{:016x}.wal", 1, last_index - 2)),
        e.bytes(),
    )
    .unwrap();
    let lines = dump_json(&d, &[], 0);
    assert!(findings(&lines).is_empty(), "{:?}", findings(&lines));
    let ents: Vec<&Value> = lines.iter().filter(|l| l["type"] == "entry").collect();
    let superseded: Vec<u64> = ents
        .iter()
        .filter(|e| e["superseded"] == true)
        .map(|e| e["index"].as_u64().unwrap())
        .collect();
    assert_eq!(superseded, [last_index - 2, last_index - 1, last_index]);
    assert_eq!(ents.last().unwrap()["term"], 3);
    assert_eq!(
        ents.last().unwrap()["file"],
        format!("{:016x}-{:016x}.wal", 1, last_index - 2)
    );
    // inspect: last index/term from the new file, three overwritten entries.
    let dir = d.parent().unwrap().join("m");
    std::fs::create_dir_all(dir.join("snap")).unwrap();
    std::fs::rename(&d, dir.join("wal")).unwrap();
    let r = run(&[
        "inspect".as_ref(),
        dir.as_os_str(),
        "-w".as_ref(),
        "json".as_ref(),
    ]);
    let v: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["raft"]["last_index"], last_index + 1);
    assert_eq!(v["raft"]["last_term"], 3);
    assert_eq!(v["raft"]["overwritten"], 3);
    assert_eq!(v["raft"]["hard_state"]["term"], 3);
    assert_eq!(v["input"], "member-dir");
}

/// Writes a synthetic full 64,000,000-byte WAL of puts to `$ETCD_RESCUE_BIG_WAL`
/// (for timing; run with `--ignored`).
#[test]
#[ignore]
fn make_big_wal() {
    let Some(dir) = std::env::var_os("ETCD_RESCUE_BIG_WAL") else {
        return;
    };
    let dir = PathBuf::from(dir);
    std::fs::create_dir_all(&dir).unwrap();
    let mut e = Encoder::new(0);
    e.crc_record();
    e.message(
        RecordType::Metadata,
        &etcdserverpb::Metadata {
            node_id: 1,
            cluster_id: 2,
        },
    );
    e.message(RecordType::Snapshot, &walpb::Snapshot::default());
    let mut index = 0u64;
    while e.bytes().len() < 63_900_000 {
        index += 1;
        let irr = etcdserverpb::InternalRaftRequest {
            header: Some(etcdserverpb::RequestHeader {
                id: index,
                ..Default::default()
            }),
            put: Some(etcdserverpb::PutRequest {
                key: format!("key/{index:08}").into_bytes(),
                value: vec![b'v'; 64],
                ..Default::default()
            }),
            ..Default::default()
        };
        e.message(
            RecordType::Entry,
            &raftpb::Entry {
                r#type: 0,
                term: 2,
                index,
                data: Some(irr.encode_to_vec().into()),
            },
        );
        e.message(
            RecordType::State,
            &raftpb::HardState {
                term: 2,
                vote: 1,
                commit: index,
            },
        );
    }
    let p = dir.join("0000000000000000-0000000000000000.wal");
    let _ = std::fs::remove_file(&p);
    etcd_rescue::sink::write_segment_file(&p, e.bytes()).unwrap();
    eprintln!("{index} entries");
}

#[test]
fn restore_wal_matches_etcdctl_3423() {
    let Some(bin) = etcd_bin_dir("3.4.23") else {
        return;
    };
    let snap = testdata().join("etcd-3.5.1/basic/snapshot.db");
    assert!(snap.is_file(), "{} missing", snap.display());
    let t = tempfile::tempdir().unwrap();
    let peers = vec![
        ("n1", "http://127.0.0.1:12380".to_string()),
        ("n2", "http://127.0.0.1:12381".to_string()),
    ];
    let out = std::process::Command::new(bin.join("etcdctl"))
        .env("ETCDCTL_API", "3")
        .args(["snapshot", "restore"])
        .arg(&snap)
        .args([
            "--name",
            "n1",
            "--initial-cluster",
            "n1=http://127.0.0.1:12380,n2=http://127.0.0.1:12381",
        ])
        .args([
            "--initial-cluster-token",
            "tok",
            "--initial-advertise-peer-urls",
            "http://127.0.0.1:12380",
        ])
        .arg("--data-dir")
        .arg(t.path().join("d"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got = std::fs::read(
        t.path()
            .join("d/member/wal/0000000000000000-0000000000000000.wal"),
    )
    .unwrap();
    let want = restore_wal_for(&peers, "n1", "tok", false);
    let first = got.iter().zip(&want).position(|(a, b)| a != b);
    assert!(
        got == want,
        "3.4.23 restore WAL differs: lens {} {}, first diff at {first:?}",
        got.len(),
        want.len()
    );
}

/// `wal dump --type a,b` keeps exactly the records of those kinds (counted
/// against the unfiltered dump), the conf change is the live member's, and
/// the table lists the same records as the JSON.
#[test]
fn golden_wal_dump_type_filter_and_table() {
    let w = single_node_wal();
    let all = dump_json(&w, &[], 0);
    let count = |lines: &[Value], f: &dyn Fn(&Value) -> bool| lines.iter().filter(|v| f(v)).count();
    let is_state = |v: &Value| v["type"] == "state";
    let is_cc = |v: &Value| v["type"] == "entry" && v["kind"] == "conf_change";
    let (states, ccs) = (count(&all, &is_state), count(&all, &is_cc));
    assert!(states > 0 && ccs > 0);
    let some = dump_json(&w, &["--type", "conf_change,state"], 0);
    let records: Vec<&Value> = some.iter().filter(|v| v["type"] != "end").collect();
    assert_eq!(records.len(), states + ccs, "{some:?}");
    assert!(records.iter().all(|v| is_state(v) || is_cc(v)));
    // The one conf change adds the member etcdctl listed.
    let ml: Value = serde_json::from_str(
        &std::fs::read_to_string(
            testdata().join("etcd-3.5.1/single-node/expected/member-list.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let cc = records.iter().find(|v| is_cc(v)).unwrap();
    assert_eq!(
        cc["member_id"],
        format!("{:016x}", ml["members"][0]["ID"].as_u64().unwrap())
    );
    assert_eq!(cc["context"]["name"], ml["members"][0]["name"]);
    assert_eq!(cc["context"]["peerURLs"], ml["members"][0]["peerURLs"]);

    // The table: one row per record, and the same count in its last line.
    let n = all.iter().filter(|v| v["type"] != "end").count();
    let r = run(&["wal".as_ref(), "dump".as_ref(), w.as_os_str()]);
    r.expect_code(0);
    let lines: Vec<&str> = r.stdout.lines().collect();
    let header = lines.iter().position(|l| l.starts_with("FILE")).unwrap();
    let rows = lines.len() - header - 2;
    assert_eq!(rows, n, "{r}");
    assert!(
        lines
            .last()
            .unwrap()
            .starts_with(&format!("{n} records; stop:")),
        "{r}"
    );
}
