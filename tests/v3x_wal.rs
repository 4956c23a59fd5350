//! `wal dump` and byte-exact re-encoding on the WALs and `.snap` files etcd
//! 3.6.17 and 3.7.3 wrote (every data dir under `etcd-3.6.17/`, `etcd-3.7.3/`,
//! `restore-ref` included). 3.7 omits unset fields that 3.4–3.6 write as zero
//! (`ConfChange.ID`, `ConfState.auto_leave`, ...): the re-encoding keeps the
//! fields as read (`formats::proto::presence`).

use std::path::{Path, PathBuf};

use etcd_rescue::formats::proto::presence::Presence;
use etcd_rescue::formats::proto::{etcdserverpb, raftpb, walpb};
use etcd_rescue::formats::wal::{self, Encoder, RecordType, Segment, SegmentName};
use prost::Message;

use crate::util::{run, testdata, InputGuard};

/// Every `member/wal` and `member/snap` dir of the 3.6/3.7 data-dir scenarios.
fn member_dirs(sub: &str) -> Vec<PathBuf> {
    let root = testdata();
    let mut out = Vec::new();
    for v in ["etcd-3.6.17", "etcd-3.7.3"] {
        let Ok(scenarios) = std::fs::read_dir(root.join(v)) else {
            panic!("no {v} test data under {}", root.display());
        };
        for s in scenarios.flatten() {
            let Ok(members) = std::fs::read_dir(s.path().join("data")) else {
                continue;
            };
            for m in members.flatten() {
                let d = m.path().join("member").join(sub);
                if d.is_dir() {
                    out.push(d);
                }
            }
        }
    }
    out.sort();
    out
}

fn files_with_ext(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().and_then(|x| x.to_str()) == Some(ext))
        .collect();
    v.sort();
    v
}

/// `msg` re-encoded keeping the fields `original` carried.
fn as_read<M: Message>(original: &[u8], msg: &M, nested: &[&[u32]]) -> Vec<u8> {
    Presence::read(original, nested)
        .unwrap()
        .apply(&msg.encode_to_vec())
        .unwrap()
}

#[test]
fn golden_v3x_wal_records_re_encode_byte_for_byte() {
    let dirs = member_dirs("wal");
    assert!(dirs.len() >= 20, "found only {} WAL dirs", dirs.len());
    let (mut records, mut confchanges, mut seven_short) = (0, 0, 0);
    for dir in &dirs {
        for path in files_with_ext(dir, "wal") {
            let bytes = std::fs::read(&path).unwrap();
            // Every WAL here is one first segment (seq 0: the CRC chain starts at 0).
            assert!(path.ends_with("0000000000000000-0000000000000000.wal"));
            let seg = Segment {
                name: SegmentName { seq: 0, index: 0 },
                path: path.clone(),
                bytes: bytes.clone().into(),
            };
            let d = wal::decode(std::slice::from_ref(&seg), false);
            assert_eq!(d.stop, wal::Stop::Eof, "{}", path.display());
            let mut enc = Encoder::new(0);
            for rec in &d.records {
                let data = &rec.data[..];
                let rt = RecordType::of(rec.rtype);
                let again = match rt {
                    RecordType::Entry => {
                        let e = raftpb::Entry::decode(data).unwrap();
                        if e.r#type == 1 {
                            let cc_bytes = e.data.as_deref().unwrap();
                            let cc = raftpb::ConfChange::decode(cc_bytes).unwrap();
                            let cc_again = as_read(cc_bytes, &cc, &[]);
                            assert_eq!(cc_again, cc_bytes, "{} ConfChange", path.display());
                            if cc.encode_to_vec() != cc_bytes {
                                seven_short += 1;
                            }
                            confchanges += 1;
                        } else if let Some(req) = e.data.as_deref() {
                            if let Ok(irr) = etcdserverpb::InternalRaftRequest::decode(req) {
                                // Requests are gogo/protobuf-go proto3: zero fields are
                                // omitted by every version, so plain re-encoding is exact.
                                if irr.encode_to_vec() != req {
                                    let r = etcdserverpb::Request::decode(req).unwrap();
                                    assert_eq!(
                                        r.encode_to_vec(),
                                        req,
                                        "{} v2 request",
                                        path.display()
                                    );
                                }
                            }
                        }
                        as_read(data, &e, &[])
                    }
                    RecordType::State => {
                        as_read(data, &raftpb::HardState::decode(data).unwrap(), &[])
                    }
                    RecordType::Metadata => {
                        as_read(data, &etcdserverpb::Metadata::decode(data).unwrap(), &[])
                    }
                    RecordType::Snapshot => {
                        let s = walpb::Snapshot::decode(data).unwrap();
                        let plain = s.encode_to_vec();
                        let kept = as_read(data, &s, &[&[3]]);
                        if plain != data {
                            seven_short += 1;
                        }
                        kept
                    }
                    _ => data.to_vec(),
                };
                assert_eq!(again, data, "{} record at {}", path.display(), rec.offset);
                if rt == RecordType::Crc {
                    enc.crc_record();
                } else {
                    enc.record(rt, Some(data));
                }
                records += 1;
            }
            let n = enc.bytes().len();
            assert_eq!(enc.bytes(), &bytes[..n], "{}", path.display());
            assert!(bytes[n..].iter().all(|b| *b == 0), "{}", path.display());
        }
    }
    eprintln!("{records} records, {confchanges} conf changes, {seven_short} written without zero fields (etcd 3.7)");
    assert!(confchanges > 0 && seven_short > 0);
}

#[test]
fn golden_v3x_snap_files_re_encode_byte_for_byte() {
    use etcd_rescue::formats::snap;
    let mut n = 0;
    for dir in member_dirs("snap") {
        for p in files_with_ext(&dir, "snap") {
            let b = std::fs::read(&p).unwrap();
            let s = snap::decode(&b).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            assert_eq!(snap::parse_name(&name), Some((s.term(), s.index())));
            let presence = snap::read_presence(&b).unwrap();
            assert!(
                snap::encode_as_read(&s.snapshot, &presence) == b,
                "{}",
                p.display()
            );
            n += 1;
        }
    }
    assert!(n >= 5, "only {n} .snap files");
}

/// `wal dump` decodes every entry of every 3.6/3.7 WAL: no undecodable
/// request, and the 3.5+ membership requests are named.
#[test]
fn golden_v3x_wal_dump_decodes_every_entry() {
    let mut kinds = std::collections::BTreeMap::<String, usize>::new();
    for dir in member_dirs("wal") {
        let guard = InputGuard::new(&[&dir]);
        let r = run(&["wal", "dump", dir.to_str().unwrap(), "-w", "json"]);
        r.expect_code(0);
        guard.check();
        for line in r.stdout.lines() {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            if v["type"] != "entry" {
                continue;
            }
            let kind = v["kind"].as_str().unwrap_or("?").to_string();
            assert!(
                ["request", "conf_change", "noop", "v2"].contains(&kind.as_str()),
                "{}: {line}",
                dir.display()
            );
            let k = match v["request"].as_str() {
                Some(req) => format!("request {req}"),
                None => kind,
            };
            *kinds.entry(k).or_default() += 1;
        }
    }
    eprintln!("{kinds:?}");
    for k in [
        "request put",
        "request cluster_version_set",
        "request cluster_member_attr_set",
        "conf_change",
    ] {
        assert!(kinds.contains_key(k), "no {k} in {kinds:?}");
    }
}
