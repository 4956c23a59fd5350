//! `repair db --revert-meta` and `repair wal` on data dirs written by real
//! etcd (3.5.1; the single-member cases also 3.4.23, 3.6.17 and 3.7.3, the
//! cluster cases also 3.6.17 and 3.7.3, the `--enable-v2` cases 3.4.23 and
//! 3.5.1), damaged as a crash or power loss would, then the same real etcd
//! started on the output.

use std::path::{Path, PathBuf};
use std::process::Command;

use etcd_rescue::formats::bbolt::meta::Meta;

use crate::util::{self, copy_tree, EtcdServer, InputGuard};

const VERSION: &str = "3.5.1";

/// Starts etcd `version` on `dir/data`, writes `n` keys `/k/<i>` = `v<i>`, and
/// stops it (SIGTERM, or SIGKILL when `kill`). Returns the data dir and the
/// keys written, or `None` when real etcd is absent (skipped).
fn make_member_of(
    version: &str,
    dir: &Path,
    n: usize,
    kill: bool,
) -> Option<(PathBuf, Vec<(String, String)>)> {
    std::fs::create_dir_all(dir).unwrap();
    let mut s = EtcdServer::start(version, dir, &[])?;
    let mut keys = Vec::new();
    for i in 0..n {
        let (k, v) = (format!("/k/{i:04}"), format!("v{i}"));
        s.ctl(&["put", &k, &v]);
        keys.push((k, v));
    }
    if kill {
        s.kill9();
    } else {
        s.stop();
    }
    Some((dir.join("data"), keys))
}

/// Starts etcd `version` on `data` and returns what it serves under `/k/`
/// (key, value), after checking that it is healthy (so it elected itself).
fn serve_keys_of(version: &str, data: &Path, log: &Path) -> Vec<(String, String)> {
    let s = EtcdServer::start_on(version, data, log, None, &[]).expect("etcd");
    let out = s.ctl(&["get", "--prefix", "/k/"]);
    let lines: Vec<&str> = out.lines().collect();
    lines
        .chunks(2)
        .map(|kv| (kv[0].to_string(), kv.get(1).unwrap_or(&"").to_string()))
        .collect()
}

fn meta_at(db: &[u8], slot: usize) -> Meta {
    Meta::parse(&db[slot * 4096..(slot + 1) * 4096]).unwrap()
}

fn go_check(db: &Path) {
    let Some(oracle) = util::bbolt_check_bin() else {
        return;
    };
    let out = Command::new(&oracle).arg(db).output().unwrap();
    assert!(
        out.status.success(),
        "bbolt-check {}: {}{}",
        db.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The newest meta's root page overwritten with garbage (the meta reached the
/// disk, the page did not): `repair db --revert-meta` writes a db that passes
/// our check and Go bbolt's, falls back to the previous consistent index, and
/// real etcd 3.5.1 started on it with the original WAL serves every key (the
/// WAL replays the dropped transaction). Both roots garbage: refused, with
/// `salvage` named, nothing written.
#[test]
fn revert_meta_then_etcd_replays_the_wal() {
    for version in [VERSION, "3.4.23", "3.6.17", "3.7.3"] {
        revert_meta_on(version);
    }
}

/// [`revert_meta_then_etcd_replays_the_wal`] on etcd `version`.
fn revert_meta_on(version: &str) {
    let tmp = tempfile::tempdir().unwrap();
    // The last transaction must change the tree. With etcd's 100 ms batch
    // interval a commit could land after the last put and leave the stop's
    // commit empty (the same root in both metas), so: no interval commits,
    // half the puts, `snapshot save` (which commits the backend), the other
    // half, then the stop, whose commit holds them.
    let dir = tmp.path().join("orig");
    std::fs::create_dir_all(&dir).unwrap();
    let no_batch = [
        "--backend-batch-interval",
        "10m",
        "--backend-batch-limit",
        "1000000",
    ];
    let Some(mut s) = EtcdServer::start(version, &dir, &no_batch) else {
        return;
    };
    let mut keys = Vec::new();
    for i in 0..30 {
        if i == 15 {
            let snap = tmp.path().join("mid.db");
            s.ctl(&["snapshot", "save", snap.to_str().unwrap()]);
        }
        let (k, v) = (format!("/k/{i:04}"), format!("v{i}"));
        s.ctl(&["put", &k, &v]);
        keys.push((k, v));
    }
    s.stop();
    let orig = dir.join("data");
    let damaged = tmp.path().join("damaged");
    copy_tree(&orig, &damaged);
    let db_path = damaged.join("member/snap/db");
    let mut db = std::fs::read(&db_path).unwrap();
    let (m0, m1) = (meta_at(&db, 0), meta_at(&db, 1));
    let (newer, older) = if m1.txid > m0.txid {
        (m1, m0)
    } else {
        (m0, m1)
    };
    assert_ne!(
        newer.root, older.root,
        "the last transaction changed the tree"
    );
    let garbage: Vec<u8> = (0..4096u32).map(|i| (i * 7 + 13) as u8).collect();
    let at = usize::try_from(newer.root).unwrap() * 4096;
    db[at..at + 4096].copy_from_slice(&garbage);
    std::fs::write(&db_path, &db).unwrap();
    // Our check sees the damage.
    util::run(&["check".as_ref(), db_path.as_os_str()]).expect_code(1);

    let guard = InputGuard::new(&[&damaged]);
    let out = tmp.path().join("reverted.db");
    let r = util::run(&[
        "repair".as_ref(),
        "db".as_ref(),
        damaged.as_os_str(),
        "--revert-meta".as_ref(),
        "--out".as_ref(),
        out.as_os_str(),
        "-w".as_ref(),
        "json".as_ref(),
    ]);
    r.expect_code(0);
    guard.check();
    let j: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(j["kept_txid"], older.txid, "{j}");
    assert_eq!(j["dropped_txid"], newer.txid, "{j}");
    assert_eq!(j["wal"]["holds_all"], true, "{j}");
    let ci = j["result"]["consistent_index"].as_u64().unwrap();
    let commit = j["wal"]["commit"].as_u64().unwrap();
    assert_eq!(
        j["wal"]["entries_to_replay"].as_u64().unwrap(),
        commit - ci,
        "{j}"
    );
    // On 3.4/3.5 the dropped transaction held the last puts, which the WAL
    // replays. (On 3.6.17/3.7.3 the older meta was seen to hold the last
    // applied index already: the last transaction wrote no new entries.)
    if version == VERSION || version == "3.4.23" {
        assert!(commit > ci, "{j}");
    }
    // The output: both metas are the older one; our check and Go's pass.
    let new = std::fs::read(&out).unwrap();
    assert_eq!(meta_at(&new, 0).txid, older.txid);
    assert_eq!(meta_at(&new, 1).txid, older.txid);
    util::run(&["check".as_ref(), out.as_os_str()]).expect_code(0);
    go_check(&out);
    // The table report names the fallback.
    let out2 = tmp.path().join("reverted2.db");
    let t = util::run(&[
        "repair".as_ref(),
        "db".as_ref(),
        db_path.as_os_str(),
        "--revert-meta".as_ref(),
        "--out".as_ref(),
        out2.as_os_str(),
        "--wal".as_ref(),
        damaged.as_os_str(),
    ]);
    t.expect_code(0);
    assert!(t.stdout.contains("nothing lost"), "{t}");
    // A non-empty --out is refused.
    util::run(&[
        "repair".as_ref(),
        "db".as_ref(),
        damaged.as_os_str(),
        "--revert-meta".as_ref(),
        "--out".as_ref(),
        out.as_os_str(),
    ])
    .expect_code(2);

    // Real etcd on the repaired db + the original WAL serves every key.
    let run_dir = tmp.path().join("run");
    copy_tree(&damaged, &run_dir);
    std::fs::copy(&out, run_dir.join("member/snap/db")).unwrap();
    let served = serve_keys_of(version, &run_dir, &tmp.path().join("run.log"));
    assert_eq!(served, keys);

    // The newest meta page itself torn (bad checksum): bbolt already reads
    // the older one; the repair makes both slots agree on it.
    let mut torn = std::fs::read(&db_path).unwrap();
    let newer_slot = usize::from(meta_at(&torn, 1).txid > meta_at(&torn, 0).txid);
    torn[newer_slot * 4096 + 16 + 40] ^= 0xff;
    let torn_path = tmp.path().join("torn-meta.db");
    std::fs::write(&torn_path, &torn).unwrap();
    let torn_out = tmp.path().join("torn-reverted.db");
    let r = util::run(&[
        "repair".as_ref(),
        "db".as_ref(),
        torn_path.as_os_str(),
        "--revert-meta".as_ref(),
        "--out".as_ref(),
        torn_out.as_os_str(),
        "-w".as_ref(),
        "json".as_ref(),
    ]);
    r.expect_code(0);
    let tj: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(tj["already_in_use"], true, "{tj}");
    assert_eq!(tj["kept_txid"], older.txid, "{tj}");
    assert_eq!(tj["wal"], serde_json::Value::Null, "{tj}");
    util::run(&["check".as_ref(), torn_out.as_os_str()]).expect_code(0);
    go_check(&torn_out);

    // Both roots garbage: refused, nothing written, salvage named.
    let at = usize::try_from(older.root).unwrap() * 4096;
    db[at..at + 4096].copy_from_slice(&garbage);
    let both = tmp.path().join("both.db");
    std::fs::write(&both, &db).unwrap();
    let refused_out = tmp.path().join("refused.db");
    let r = util::run(&[
        "repair".as_ref(),
        "db".as_ref(),
        both.as_os_str(),
        "--revert-meta".as_ref(),
        "--out".as_ref(),
        refused_out.as_os_str(),
    ]);
    r.expect_code(1);
    assert!(r.stderr.contains("salvage"), "{r}");
    assert!(!refused_out.exists());
    let leftovers: Vec<_> = std::fs::read_dir(tmp.path())
        .unwrap()
        .filter_map(|e| {
            let n = e.unwrap().file_name().to_string_lossy().into_owned();
            n.starts_with(".refused").then_some(n)
        })
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

/// The records of the last WAL file of `data`: (path, [(offset, len, type)]).
fn last_wal_records(data: &Path) -> (PathBuf, Vec<(u64, u64, i64)>) {
    use etcd_rescue::formats::wal::{decode, Segment, SegmentName};
    let dir = data.join("member/wal");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".wal"))
        .collect();
    names.sort();
    let name = names.last().unwrap().clone();
    let path = dir.join(&name);
    let seg = Segment {
        name: SegmentName::parse(&name).unwrap(),
        path: path.clone(),
        bytes: std::fs::read(&path).unwrap().into(),
    };
    let d = decode(std::slice::from_ref(&seg), false);
    let recs = d
        .records
        .iter()
        .map(|r| (r.offset, r.len, r.rtype))
        .collect();
    (path, recs)
}

fn repair_wal(input: &Path, out: &Path, force: bool) -> util::Run {
    let mut args = vec![
        "repair".as_ref(),
        "wal".as_ref(),
        input.as_os_str(),
        "--out".as_ref(),
        out.as_os_str(),
        "-w".as_ref(),
        "json".as_ref(),
    ];
    if force {
        args.push("--force".as_ref());
    }
    util::run(&args)
}

/// Repairs `damaged` (guarding it), checks the report, starts etcd 3.5.1 on
/// the output and checks it serves a prefix of `keys` (all of them when
/// `all`), at least all but `lost` entries' worth.
fn repair_and_serve(
    version: &str,
    tmp: &Path,
    damaged: &Path,
    keys: &[(String, String)],
    all: bool,
    force: bool,
) -> serde_json::Value {
    let guard = InputGuard::new(&[damaged]);
    let out = tmp.join(format!(
        "{}-repaired",
        damaged.file_name().unwrap().to_string_lossy()
    ));
    let r = repair_wal(damaged, &out, force);
    guard.check();
    assert!(r.code == 0 || r.code == 1, "{r}");
    let j: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    eprintln!("{j}");
    assert_ne!(j["action"], "none", "{j}");
    assert_eq!(r.code == 1, j["db_holds_lost"] == false, "{r}");
    // The output passes check (notes only: the .broken files, old .snap files).
    util::run(&["check".as_ref(), out.as_os_str()]).expect_code(0);
    let served = serve_keys_of(
        version,
        &out,
        &tmp.join(format!("{}.log", j["action"].as_str().unwrap())),
    );
    assert_eq!(served[..], keys[..served.len()], "{j}");
    if all {
        assert_eq!(served.len(), keys.len(), "{j}");
    } else {
        let lost = j["lost"]["entries"].as_u64().unwrap() as usize;
        assert!(served.len() + lost + 1 >= keys.len(), "{j}");
    }
    guard.check();
    j
}

/// A single real etcd 3.5.1 member killed with SIGKILL, its WAL damaged at
/// the tail: the last file cut mid-record, or a byte of the last record
/// flipped. `repair wal` cuts after the last good record (keeping a
/// `.broken` copy), and real etcd 3.5.1 starts on the output, elects itself
/// and serves the keys; the input is unchanged.
#[test]
fn repair_wal_cuts_a_damaged_tail() {
    for version in [VERSION, "3.4.23", "3.6.17", "3.7.3"] {
        cut_damaged_tail(version);
    }
}

/// [`repair_wal_cuts_a_damaged_tail`] on etcd `version`.
fn cut_damaged_tail(version: &str) {
    let tmp = tempfile::tempdir().unwrap();
    let Some((orig, keys)) = make_member_of(version, &tmp.path().join("orig"), 40, true) else {
        return;
    };
    let (wal_path, recs) = last_wal_records(&orig);
    let rel = wal_path.strip_prefix(&orig).unwrap().to_path_buf();

    // 1. The last file cut in the middle of its last entry record (the
    //    records after it are gone too).
    let &(off, len, _) = recs.iter().rev().find(|r| r.2 == 2).unwrap();
    let cut = tmp.path().join("cut");
    copy_tree(&orig, &cut);
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(cut.join(&rel))
        .unwrap();
    f.set_len(off + 8 + len / 2).unwrap();
    drop(f);
    let j = repair_and_serve(version, tmp.path(), &cut, &keys, false, false);
    assert_eq!(j["damage"]["tail"], true, "{j}");
    assert_eq!(j["damage"]["kind"], "unexpected-eof", "{j}");
    assert_eq!(j["damage"]["offset"], off, "{j}");
    let broken = format!("{}.broken", wal_path.file_name().unwrap().to_string_lossy());
    assert!(
        j["broken_files"]
            .as_array()
            .unwrap()
            .iter()
            .any(|b| b == &broken[..]),
        "{j}"
    );
    assert!(tmp
        .path()
        .join("cut-repaired/member/wal")
        .join(&broken)
        .is_file());

    // 2. A byte of the last record flipped (a CRC mismatch, not a torn write).
    let &(off, len, _) = recs.last().unwrap();
    let flip = tmp.path().join("flip");
    copy_tree(&orig, &flip);
    let mut b = std::fs::read(flip.join(&rel)).unwrap();
    let at = usize::try_from(off + 8 + len - 1).unwrap();
    b[at] ^= 0x40;
    std::fs::write(flip.join(&rel), &b).unwrap();
    // Real etcd refuses the damaged input; the repaired copy starts.
    let j = repair_and_serve(version, tmp.path(), &flip, &keys, false, false);
    assert_eq!(j["damage"]["kind"], "corrupt", "{j}");
    assert_eq!(j["damage"]["tail"], true, "{j}");
}

/// A byte flipped early in the log of a real etcd 3.5.1 member (stopped
/// cleanly, so its db holds every write): refused without --force, naming
/// the entries that cutting loses; with --force the cut WAL ends far below
/// the db's consistent index and has lost the membership, so the WAL is
/// rebuilt from the db (same member and cluster IDs); real etcd 3.5.1 starts
/// on it, elects itself and serves every key.
#[test]
fn repair_wal_rebuilds_from_the_db_after_early_damage() {
    for version in [VERSION, "3.4.23", "3.6.17", "3.7.3"] {
        rebuild_after_early_damage(version);
    }
}

/// [`repair_wal_rebuilds_from_the_db_after_early_damage`] on etcd `version`
/// (3.4 dbs have no `meta/term`: the term comes from the WAL).
fn rebuild_after_early_damage(version: &str) {
    let tmp = tempfile::tempdir().unwrap();
    let Some((orig, keys)) = make_member_of(version, &tmp.path().join("orig"), 30, false) else {
        return;
    };
    let (wal_path, recs) = last_wal_records(&orig);
    let rel = wal_path.strip_prefix(&orig).unwrap().to_path_buf();
    // The first entry record (a conf change) gets a flipped byte.
    let &(off, len, _) = recs.iter().find(|r| r.2 == 2).unwrap();
    let early = tmp.path().join("early");
    copy_tree(&orig, &early);
    let mut b = std::fs::read(early.join(&rel)).unwrap();
    let at = usize::try_from(off + 8 + len - 1).unwrap();
    b[at] ^= 0x40;
    std::fs::write(early.join(&rel), &b).unwrap();

    let guard = InputGuard::new(&[&early]);
    let refused = tmp.path().join("refused");
    let r = repair_wal(&early, &refused, false);
    r.expect_code(1);
    assert!(r.stderr.contains("--force"), "{r}");
    assert!(r.stderr.contains("the db already holds them"), "{r}");
    assert!(!refused.exists());
    guard.check();

    let j = repair_and_serve(version, tmp.path(), &early, &keys, true, true);
    assert_eq!(j["action"], "rebuilt", "{j}");
    assert_eq!(j["damage"]["tail"], false, "{j}");
    assert_eq!(j["rebuilt"]["index"], j["db_consistent_index"], "{j}");
    // The term at the consistent index (an elected single member: term 2).
    assert!(j["rebuilt"]["term"].as_u64().unwrap() >= 2, "{j}");
    let meta_hex = util::run(&[
        "inspect".as_ref(),
        orig.as_os_str(),
        "-w".as_ref(),
        "json".as_ref(),
    ]);
    let mj: serde_json::Value = serde_json::from_str(&meta_hex.stdout).unwrap();
    let _ = mj;
}

/// One member of a real three-member etcd cluster (3.5.1, 3.6.17, 3.7.3),
/// stopped, a byte flipped early in its WAL: `repair wal --force` rebuilds
/// its WAL from its db (same member and cluster IDs, the three voters);
/// started in place of the original, it rejoins the cluster and catches up
/// with the writes made while it was down.
#[test]
fn repair_wal_member_of_a_cluster_rejoins() {
    for version in [VERSION, "3.6.17", "3.7.3"] {
        member_of_a_cluster_rejoins(version);
    }
}

/// Flips a byte in the first entry record (a conf change) of the last WAL
/// file of `data`.
fn flip_first_entry(data: &Path) {
    let (wal_path, recs) = last_wal_records(data);
    let &(off, len, _) = recs.iter().find(|r| r.2 == 2).unwrap();
    let mut b = std::fs::read(&wal_path).unwrap();
    let at = usize::try_from(off + 8 + len - 1).unwrap();
    b[at] ^= 0x40;
    std::fs::write(&wal_path, &b).unwrap();
}

/// [`repair_wal_member_of_a_cluster_rejoins`] on etcd `version`.
fn member_of_a_cluster_rejoins(version: &str) {
    let tmp = tempfile::tempdir().unwrap();
    let Some(mut c) = util::EtcdCluster::start(version, &tmp.path().join("c"), 3, "repair-tok")
    else {
        return;
    };
    for i in 0..20 {
        c.ctl(0, &["put", &format!("/k/{i:04}"), &format!("v{i}")]);
    }
    c.wait_same_revision();
    c.stop(2);
    let data = c.members[2].data_dir.clone();
    let damaged = tmp.path().join("n3-damaged");
    copy_tree(&data, &damaged);
    flip_first_entry(&damaged);
    // Writes the stopped member misses.
    for i in 20..30 {
        c.ctl(0, &["put", &format!("/k/{i:04}"), &format!("v{i}")]);
    }
    let guard = InputGuard::new(&[&damaged]);
    let out = tmp.path().join("n3-repaired");
    let r = repair_wal(&damaged, &out, true);
    guard.check();
    r.expect_code(0);
    let j: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(j["action"], "rebuilt", "{j}");
    assert_eq!(j["rebuilt"]["voters"].as_array().unwrap().len(), 3, "{j}");
    std::fs::remove_dir_all(&data).unwrap();
    copy_tree(&out, &data);
    c.launch(2);
    c.wait_healthy(2);
    c.wait_same_revision();
    let got = c.ctl(
        2,
        &["get", "--prefix", "/k/", "--consistency=s", "--keys-only"],
    );
    let n = got.lines().filter(|l| !l.is_empty()).count();
    assert_eq!(n, 30, "{got}");
}

/// A real cluster of one voter and one learner (`member add --learner`),
/// both stopped, a byte flipped early in the voter's WAL: `repair wal
/// --force` rebuilds it from the db with the learner kept a learner (ConfState
/// and v2 store). Started alone in place of the original, the voter is the
/// only voter, so it elects itself and serves every key (had the learner
/// become a voter, one member of two could never win an election: 3.5.1
/// and 3.6.17 fail so; 3.7.3 rebuilds the ConfState from the db at start and
/// would not notice). The learner then rejoins, still a learner, and
/// catches up.
#[test]
fn repair_wal_keeps_a_learner_a_learner() {
    for version in [VERSION, "3.6.17", "3.7.3"] {
        learner_stays_learner(version);
    }
}

/// [`repair_wal_keeps_a_learner_a_learner`] on etcd `version`.
fn learner_stays_learner(version: &str) {
    let tmp = tempfile::tempdir().unwrap();
    let Some(mut c) = util::EtcdCluster::start(version, &tmp.path().join("c"), 1, "learner-tok")
    else {
        return;
    };
    let l = c.add_learner(0);
    let voter_id = c.member_id_hex(0, "n1");
    let learner_id = c.member_id_hex(0, "n2");
    for i in 0..20 {
        c.ctl(0, &["put", &format!("/k/{i:04}"), &format!("v{i}")]);
    }
    c.wait_same_revision();
    c.stop(l);
    c.stop(0);
    let data = c.members[0].data_dir.clone();
    let damaged = tmp.path().join("n1-damaged");
    copy_tree(&data, &damaged);
    flip_first_entry(&damaged);
    let guard = InputGuard::new(&[&damaged]);
    let out = tmp.path().join("n1-repaired");
    let r = repair_wal(&damaged, &out, true);
    guard.check();
    r.expect_code(0);
    let j: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(j["action"], "rebuilt", "{j}");
    let hex = |v: &serde_json::Value| -> Vec<u64> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|x| u64::from_str_radix(x.as_str().unwrap(), 16).unwrap())
            .collect()
    };
    let id = |s: &str| u64::from_str_radix(s, 16).unwrap();
    assert_eq!(hex(&j["rebuilt"]["voters"]), [id(&voter_id)], "{j}");
    assert_eq!(hex(&j["rebuilt"]["learners"]), [id(&learner_id)], "{j}");
    // The ConfState as written (etcd 3.7 rebuilds it from the db at start,
    // so only 3.5 and 3.6 below would notice a learner written as a voter).
    let ins = util::run(&[
        "inspect".as_ref(),
        out.as_os_str(),
        "-w".as_ref(),
        "json".as_ref(),
    ]);
    let ij: serde_json::Value = serde_json::from_str(&ins.stdout).unwrap();
    let snap = &ij["raft"]["snapshot"];
    assert_eq!(hex(&snap["voters"]), [id(&voter_id)], "{snap}");
    assert_eq!(hex(&snap["learners"]), [id(&learner_id)], "{snap}");

    // The repaired voter alone: elected, serves every key.
    std::fs::remove_dir_all(&data).unwrap();
    copy_tree(&out, &data);
    c.launch(0);
    c.wait_healthy(0);
    let got = c.ctl(0, &["get", "--prefix", "/k/", "--keys-only"]);
    assert_eq!(got.lines().filter(|l| !l.is_empty()).count(), 20, "{got}");
    c.ctl(0, &["put", "/k/after", "x"]);

    // The learner rejoins as a learner and catches up.
    c.launch(l);
    c.wait_status(l);
    c.wait_same_revision();
    let list: serde_json::Value =
        serde_json::from_str(&c.ctl(0, &["member", "list", "-w", "json"])).unwrap();
    let members = list["members"].as_array().unwrap();
    assert_eq!(members.len(), 2, "{list}");
    for m in members {
        let is_learner = m["isLearner"].as_bool().unwrap_or(false);
        assert_eq!(
            is_learner,
            m["ID"].as_u64() == Some(id(&learner_id)),
            "{list}"
        );
    }
    let got = c.ctl(
        l,
        &["get", "--prefix", "/k/", "--consistency=s", "--keys-only"],
    );
    assert_eq!(got.lines().filter(|l| !l.is_empty()).count(), 21, "{got}");
}

/// Every v2 node etcd serves (`GET /v2/keys/?recursive=true&sorted=true`),
/// flattened to (key, dir, value, createdIndex, modifiedIndex, expiration),
/// once the leader's SYNC has removed the expired TTL keys (every wait
/// bounded).
fn served_v2(s: &EtcdServer) -> Vec<(String, bool, String, u64, u64, String)> {
    fn flat(n: &serde_json::Value, out: &mut Vec<(String, bool, String, u64, u64, String)>) {
        for c in n["nodes"].as_array().map(Vec::as_slice).unwrap_or_default() {
            let st = |k: &str| c[k].as_str().unwrap_or_default().to_string();
            out.push((
                st("key"),
                c["dir"].as_bool().unwrap_or(false),
                st("value"),
                c["createdIndex"].as_u64().unwrap(),
                c["modifiedIndex"].as_u64().unwrap(),
                st("expiration"),
            ));
            flat(c, out);
        }
    }
    let url = format!("{}/v2/keys/?recursive=true&sorted=true", s.client_url);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let o = Command::new("curl")
            .args(["-sS", "--max-time", "5", &url])
            .output()
            .unwrap();
        let body = String::from_utf8_lossy(&o.stdout).into_owned();
        let j: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
        // A node past its expiry is still served until a SYNC removes it.
        let expired = body.contains("\"ttl\":0") || body.contains("\"ttl\":-");
        if o.status.success() && j["node"].is_object() && !expired {
            let mut out = Vec::new();
            flat(&j["node"], &mut out);
            return out;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "v2 keys not served (or expired keys never removed) within 20 s: {body}"
        );
        std::thread::sleep(std::time::Duration::from_millis(250));
    }
}

/// Real etcd 3.4.23 (`--enable-v2`, as the testdata was written) on a
/// copy of `data`, what it serves over the v2 API.
fn serve_v2_of(data: &Path, log: &Path) -> Vec<(String, bool, String, u64, u64, String)> {
    let mut s = EtcdServer::start_on("3.4.23", data, log, None, &["--enable-v2"]).expect("etcd");
    let got = served_v2(&s);
    s.stop();
    got
}

/// The v2-patroni member (etcd 3.4.23 `--enable-v2`: Patroni-like v2 keys,
/// TTLs, snapshots at 21, 42, 63; entries 64..76 are v2 writes and SYNCs,
/// 77..79 v3 puts; the db at 79) with a byte flipped in the WAL record of
/// entry `entry` (`None`: early, in the first entry's record), repaired
/// with --force. Returns the report and what real etcd 3.4.23 serves over
/// the v2 API on the original and on the repaired copy.
#[allow(clippy::type_complexity)]
fn repair_v2_patroni(
    tmp: &Path,
    entry: Option<u64>,
) -> Option<(
    util::Run,
    serde_json::Value,
    Vec<(String, bool, String, u64, u64, String)>,
    Vec<(String, bool, String, u64, u64, String)>,
)> {
    let src = util::testdata().join("etcd-3.4.23/v2-patroni/data/n1");
    let input = tmp.join("n1");
    copy_tree(&src, &input);
    let (wal, recs) = last_wal_records(&input);
    match entry {
        None => {
            let mut b = std::fs::read(&wal).unwrap();
            b[100] ^= 0x40;
            std::fs::write(&wal, &b).unwrap();
        }
        Some(i) => {
            // Entries 1..=79 are written once each, in order.
            let &(off, len, _) = recs
                .iter()
                .filter(|r| r.2 == 2)
                .nth(usize::try_from(i - 1).unwrap())
                .unwrap();
            let mut b = std::fs::read(&wal).unwrap();
            b[usize::try_from(off + 8 + len - 1).unwrap()] ^= 0x40;
            std::fs::write(&wal, &b).unwrap();
        }
    }
    let guard = InputGuard::new(&[&input]);
    let out = tmp.join("out");
    let r = repair_wal(&input, &out, true);
    guard.check();
    let j: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(j["action"], "rebuilt", "{j}");
    util::etcd_bin_dir("3.4.23")?;
    let orig = tmp.join("orig");
    copy_tree(&src, &orig);
    let want = serve_v2_of(&orig, &tmp.join("orig.log"));
    let got = serve_v2_of(&out, &tmp.join("out.log"));
    Some((r, j, want, got))
}

/// Damage after the last v2 write (entry 77, the first v3 put): the
/// rebuilt `.snap` carries the newest `.snap`'s v2 store (63) plus the 13
/// readable entries after it, and real etcd 3.4.23 on the output serves
/// every v2 key of the original with its value, indexes and expiry. Entry
/// 77 itself is unreadable, so v2 writes in 77..79 cannot be ruled out:
/// reported lost after 76, exit 1.
#[test]
fn repair_wal_rebuild_carries_the_v2_store() {
    let tmp = tempfile::tempdir().unwrap();
    let Some((r, j, want, got)) = repair_v2_patroni(tmp.path(), Some(77)) else {
        return;
    };
    r.expect_code(1);
    let rb = &j["rebuilt"];
    assert_eq!(
        rb["v2_snap"], "0000000000000002-000000000000003f.snap",
        "{j}"
    );
    assert_eq!(rb["v2_store_index"], 76, "{j}");
    assert_eq!(rb["v2_entries_applied"], 13, "{j}");
    assert_eq!(rb["v2_in_use"], true, "{j}");
    assert_eq!(rb["v2_lost_after"], 76, "{j}");
    assert!(rb["v2_keys_not_carried"].is_null(), "{j}");
    assert!(
        j["next_steps"][0]
            .as_str()
            .unwrap()
            .contains("after index 76"),
        "{j}"
    );
    assert!(want
        .iter()
        .any(|n| n.0 == "/service/pg/optime/leader" && n.2 == "50413568"));
    assert_eq!(got, want);
}

/// Damage early (the first entry): the rebuilt `.snap` carries the newest
/// `.snap`'s v2 store as it is (63); the writes in 64..79 are unknown,
/// reported lost after 63 (exit 1). Real etcd 3.4.23 on the output serves
/// every v2 key the original serves; those the original last wrote at or
/// before 63 with the same value, indexes and expiry, the others as of 63.
#[test]
fn repair_wal_rebuild_after_early_damage_carries_the_snap_v2_store() {
    let tmp = tempfile::tempdir().unwrap();
    let Some((r, j, want, got)) = repair_v2_patroni(tmp.path(), None) else {
        return;
    };
    r.expect_code(1);
    let rb = &j["rebuilt"];
    assert_eq!(rb["v2_store_index"], 63, "{j}");
    assert_eq!(rb["v2_entries_applied"], 0, "{j}");
    assert_eq!(rb["v2_keys"], 7, "{j}");
    assert_eq!(rb["v2_lost_after"], 63, "{j}");
    let keys = |v: &[(String, bool, String, u64, u64, String)]| {
        v.iter().map(|n| n.0.clone()).collect::<Vec<_>>()
    };
    assert_eq!(keys(&got), keys(&want));
    let mut later = 0;
    for (w, g) in want.iter().zip(&got) {
        if w.4 <= 63 {
            assert_eq!(g, w);
        } else {
            later += 1;
            assert!(g.4 <= 63, "{g:?}");
        }
    }
    assert_eq!(later, 1, "{want:?}");
}

/// The input's .snap files are all damaged: no v2 store can be read, the
/// rebuilt `.snap` holds the membership from the db only, and the loss is
/// reported (exit 1).
#[test]
fn repair_wal_rebuild_without_a_readable_v2_store() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("n1");
    copy_tree(
        &util::testdata().join("etcd-3.4.23/v2-patroni/data/n1"),
        &input,
    );
    let snap = input.join("member/snap");
    for n in util::snap_names(&snap) {
        let p = snap.join(&n);
        let mut b = std::fs::read(&p).unwrap();
        let at = b.len() / 2;
        b[at] ^= 0x40;
        std::fs::write(&p, &b).unwrap();
    }
    let wal = input.join("member/wal/0000000000000000-0000000000000000.wal");
    let mut b = std::fs::read(&wal).unwrap();
    b[100] ^= 0x40;
    std::fs::write(&wal, &b).unwrap();
    let out = tmp.path().join("out");
    let r = repair_wal(&input, &out, true);
    r.expect_code(1);
    let j: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(j["action"], "rebuilt", "{j}");
    assert!(j["rebuilt"]["v2_store_index"].is_null(), "{j}");
    assert_eq!(j["rebuilt"]["v2_lost_after"], 0, "{j}");
    assert_eq!(j["rebuilt"]["v2_keys"], 0, "{j}");
    assert!(
        j["next_steps"][0]
            .as_str()
            .unwrap()
            .contains("only the membership"),
        "{j}"
    );
}

/// Live: real etcd `version` with `--enable-v2 --snapshot-count 10` gets
/// Patroni-like v2 writes (TTL keys of an hour, CAS refreshes, a delete,
/// an in-order key), then three v3 puts, and is stopped cleanly. A byte is
/// flipped in the WAL record of the first v3 put (everything after it is v3
/// or a SYNC that expires nothing); `repair wal --force` rebuilds the WAL
/// from the db, and the same etcd started on the output serves every v2 key
/// of the original with its value, indexes and expiry.
#[test]
fn repair_wal_rebuild_carries_live_v2_keys() {
    for version in ["3.4.23", VERSION] {
        live_v2_carried(version);
    }
}

/// [`repair_wal_rebuild_carries_live_v2_keys`] on etcd `version`.
fn live_v2_carried(version: &str) {
    let tmp = tempfile::tempdir().unwrap();
    let flags = ["--enable-v2", "--snapshot-count", "10"];
    std::fs::create_dir_all(tmp.path().join("orig")).unwrap();
    let Some(mut srv) = EtcdServer::start(version, &tmp.path().join("orig"), &flags) else {
        return;
    };
    let v2 = |args: &[&str]| {
        let o = Command::new(srv.bin.join("etcdctl"))
            .env("ETCDCTL_API", "2")
            .args(["--no-sync", "--endpoints", &srv.client_url])
            .args(args)
            .output()
            .unwrap();
        assert!(o.status.success(), "{args:?}: {o:?}");
    };
    v2(&["mk", "/service/pg/initialize", "7012345678901234567"]);
    v2(&["set", "/service/pg/config", r#"{"ttl":30,"a":"<&>"}"#]);
    v2(&["mk", "--ttl", "3600", "/service/pg/leader", "node1"]);
    v2(&["mk", "/service/pg/failover", "x"]);
    v2(&["rm", "/service/pg/failover"]);
    v2(&["mk", "--in-order", "/queue", "q1"]);
    for i in 0..15 {
        v2(&[
            "set",
            "--ttl",
            "3600",
            "--swap-with-value",
            "node1",
            "/service/pg/leader",
            "node1",
        ]);
        v2(&[
            "set",
            "--ttl",
            "3600",
            "/service/pg/members/node1",
            &format!("m{i}"),
        ]);
        v2(&[
            "set",
            "/service/pg/optime/leader",
            &format!("{}", 50_000_000 + i),
        ]);
    }
    for i in 0..3 {
        srv.ctl(&["put", &format!("/v3/k{i}"), "v"]);
    }
    srv.stop();
    let orig = tmp.path().join("orig/data");
    // The record of the first v3 put, from the dump: "<seg> 0x<off> entry <term> <index> norm put ...".
    let dump = util::run(&["wal".as_ref(), "dump".as_ref(), orig.as_os_str()]);
    let line = dump
        .stdout
        .lines()
        .find(|l| l.contains(" put ") && l.contains("key=/v3/k0"))
        .unwrap_or_else(|| panic!("{dump}"));
    let cols: Vec<&str> = line.split_whitespace().collect();
    let off = u64::from_str_radix(cols[1].trim_start_matches("0x"), 16).unwrap();
    let put_index: u64 = cols[4].parse().unwrap();
    let damaged = tmp.path().join("damaged");
    copy_tree(&orig, &damaged);
    let (wal, recs) = last_wal_records(&damaged);
    let &(_, len, _) = recs.iter().find(|r| r.0 == off).unwrap();
    let mut b = std::fs::read(&wal).unwrap();
    b[usize::try_from(off + 8 + len - 1).unwrap()] ^= 0x40;
    std::fs::write(&wal, &b).unwrap();
    let guard = InputGuard::new(&[&damaged]);
    let out = tmp.path().join("out");
    let r = repair_wal(&damaged, &out, true);
    guard.check();
    r.expect_code(1);
    let j: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(j["action"], "rebuilt", "{j}");
    assert_eq!(j["rebuilt"]["v2_store_index"], put_index - 1, "{j}");
    assert!(j["rebuilt"]["v2_snap"].is_string(), "{j}");
    assert_eq!(j["rebuilt"]["v2_lost_after"], put_index - 1, "{j}");

    let serve = |data: &Path, log: &str| {
        let mut s =
            EtcdServer::start_on(version, data, &tmp.path().join(log), None, &flags).expect("etcd");
        let got = served_v2(&s);
        s.stop();
        got
    };
    let want = serve(&orig, "orig2.log");
    let got = serve(&out, "out.log");
    assert!(want
        .iter()
        .any(|n| n.0 == "/service/pg/optime/leader" && n.2 == "50000014"));
    assert!(want
        .iter()
        .any(|n| n.0 == "/service/pg/leader" && !n.5.is_empty()));
    assert_eq!(got, want);
}
