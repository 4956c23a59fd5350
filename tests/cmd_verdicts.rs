//! Issue #19: verdicts an operator can act on. `check`, `inspect`,
//! `snapshot restore`, `salvage` and `compare` never call a damaged or
//! unverifiable file sound, and each names the next step that works.
//! Every damaged input is a real etcd file, mutated here.
// See: issue #19

use std::path::{Path, PathBuf};

use crate::util::{self, run, InputGuard};

fn json(r: &util::Run) -> serde_json::Value {
    serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("bad JSON ({e}):\n{r}"))
}

fn codes(input: &serde_json::Value) -> Vec<String> {
    input["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["code"].as_str().unwrap().to_string())
        .collect()
}

fn finding<'v>(input: &'v serde_json::Value, code: &str) -> &'v serde_json::Value {
    input["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["code"] == code)
        .unwrap_or_else(|| panic!("no {code} in {input:#}"))
}

fn next_steps(input: &serde_json::Value) -> String {
    input["next_steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect::<Vec<_>>()
        .join("\n")
}

/// A copy of `src` in `dir` changed by `f`.
fn copy_with(dir: &Path, name: &str, src: &Path, f: impl FnOnce(&mut Vec<u8>)) -> PathBuf {
    let mut b = std::fs::read(src).unwrap();
    f(&mut b);
    let p = dir.join(name);
    std::fs::write(&p, b).unwrap();
    p
}

fn check_json(path: &Path, extra: &[&str]) -> (util::Run, serde_json::Value) {
    let mut args = vec!["check", "-w", "json"];
    args.extend_from_slice(extra);
    let p = path.to_str().unwrap();
    args.push(p);
    let r = run(&args);
    let v = json(&r);
    (r, v)
}

/// Real files get one of the two sound verdicts, and `sound` agrees.
#[test]
fn real_files_have_a_sound_verdict() {
    for f in [
        "etcd-3.5.1/basic/snapshot.db",
        "etcd-3.5.1/basic/raw.db",
        "etcd-3.4.23/auth/snapshot.db",
    ] {
        let p = util::testdata().join(f);
        let (r, v) = check_json(&p, &[]);
        r.expect_code(0);
        let input = &v["inputs"][0];
        let verdict = input["verdict"].as_str().unwrap();
        assert!(
            verdict == "sound" || verdict == "sound-with-notes",
            "{f}: {verdict}"
        );
        assert_eq!(input["sound"], true);
        assert!(input["next_steps"].as_array().unwrap().is_empty());
    }
}

/// A saved snapshot whose last 16 bytes were cut (half a trailer left): not
/// "extra bytes, SOUND", but a cut download whose integrity cannot be
/// verified; restore refuses it and `--skip-hash-check` restores the pages.
#[test]
fn half_a_trailer_is_a_cut_download() {
    let tmp = tempfile::tempdir().unwrap();
    let snap = util::testdata().join("etcd-3.5.1/basic/snapshot.db");
    let guard = InputGuard::new(&[&snap]);
    let cut = copy_with(tmp.path(), "cut.db", &snap, |b| b.truncate(b.len() - 16));
    let (r, v) = check_json(&cut, &[]);
    r.expect_code(1);
    let input = &v["inputs"][0];
    assert_eq!(input["file_kind"], "partial-trailer");
    assert_eq!(input["verdict"], "damaged");
    assert_eq!(input["sound"], false);
    assert!(codes(input).contains(&"snapshot.trailer.partial".to_string()));
    let steps = next_steps(input);
    assert!(steps.contains("fetch it again"), "{steps}");
    assert!(steps.contains("--skip-hash-check"), "{steps}");

    let r = run(&["check", cut.to_str().unwrap()]);
    r.expect_code(1);
    assert!(r.stdout.contains("cut short"), "{r}");
    assert!(!r.stdout.contains("verdict:   SOUND"), "{r}");

    let out = tmp.path().join("restored");
    let r = run(&[
        "snapshot",
        "restore",
        cut.to_str().unwrap(),
        "--data-dir",
        out.to_str().unwrap(),
    ]);
    r.expect_code(1);
    assert!(r.stderr.contains("cut short"), "{r}");
    assert!(!out.exists());
    let r = run(&[
        "snapshot",
        "restore",
        cut.to_str().unwrap(),
        "--skip-hash-check",
        "--data-dir",
        out.to_str().unwrap(),
    ]);
    r.expect_code(0);
    guard.check();
}

/// The newer meta page fails its checksum: bbolt silently uses the older
/// one, so the newest transaction is lost. Damage, with both metas' txid,
/// consistent index and revision, and the WAL route named.
#[test]
fn newer_meta_failing_its_checksum_is_damage() {
    let tmp = tempfile::tempdir().unwrap();
    for f in ["etcd-3.5.1/basic/raw.db", "etcd-3.4.23/large/snapshot.db"] {
        let src = util::testdata().join(f);
        let bytes = std::fs::read(&src).unwrap();
        // Meta page i at i * 4096: 16-byte page header, txid at +48, checksum at +56.
        let txid = |i: usize| {
            let at = i * 4096 + 16 + 48;
            u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap())
        };
        let (newer, older) = if txid(0) > txid(1) { (0, 1) } else { (1, 0) };
        let bad = copy_with(tmp.path(), &f.replace('/', "-"), &src, |b| {
            b[newer * 4096 + 16 + 56] ^= 0xff;
        });
        let (r, v) = check_json(&bad, &["--skip-hash-check"]);
        r.expect_code(1);
        let input = &v["inputs"][0];
        assert_eq!(input["verdict"], "damaged", "{f}");
        let m = finding(input, "bbolt.meta.newer-invalid");
        assert_eq!(m["severity"], "error");
        let msg = m["message"].as_str().unwrap();
        assert!(msg.contains(&format!("txid {}", txid(newer))), "{msg}");
        assert!(msg.contains(&format!("txid {}", txid(older))), "{msg}");
        assert!(msg.contains("consistent index"), "{msg}");
        assert!(msg.contains("revision"), "{msg}");
        assert!(next_steps(input).contains("WAL"), "{input:#}");

        // The older meta damaged instead: nothing is lost, a warning only.
        let old_bad = copy_with(tmp.path(), "older.db", &src, |b| {
            b[older * 4096 + 16 + 56] ^= 0xff;
        });
        let (r, v) = check_json(&old_bad, &["--skip-hash-check"]);
        r.expect_code(0);
        assert_eq!(v["inputs"][0]["verdict"], "sound-with-notes");
        assert!(codes(&v["inputs"][0]).contains(&"bbolt.meta.invalid".to_string()));
    }
}

/// A data dir whose WAL has a CRC error but whose db is sound: the verdict
/// says which part is damaged, and that the db is usable up to its revision.
#[test]
fn wal_crc_error_names_what_is_still_usable() {
    let tmp = tempfile::tempdir().unwrap();
    let src = util::testdata().join("etcd-3.5.1/wal-ahead/data/n1");
    let dir = tmp.path().join("n1");
    util::copy_tree(&src, &dir);
    let wal = dir.join("member/wal/0000000000000000-0000000000000000.wal");
    let mut bytes = std::fs::read(&wal).unwrap();
    let at = bytes.len() / 2;
    bytes[at] ^= 0x40;
    std::fs::write(&wal, &bytes).unwrap();
    let (r, v) = check_json(&dir, &[]);
    r.expect_code(1);
    let input = &v["inputs"][0];
    assert_eq!(input["verdict"], "damaged");
    let steps = next_steps(input);
    let revision = input["status"]["revision"].as_i64().unwrap();
    assert!(steps.contains(".wal"), "{steps}");
    assert!(steps.contains("still usable"), "{steps}");
    assert!(steps.contains(&format!("revision {revision}")), "{steps}");
    assert!(steps.contains("member/snap/db"), "{steps}");
    assert!(steps.contains("--skip-hash-check"), "{steps}");
    let r = run(&["check", dir.to_str().unwrap()]);
    assert!(
        !r.stdout.contains("do not restore from this file as it is"),
        "{r}"
    );
    assert!(r.stdout.contains("still usable"), "{r}");
}

/// A real etcd 3.4.23 member that only ever served v2 clients has no
/// `meta/consistent_index`: a note, not a warning. (The committed
/// `v2-patroni` dir also holds v3 keys, so this runs a live 3.4.23.)
#[test]
fn v2_only_etcd34_missing_consistent_index_is_a_note() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(mut s) = util::EtcdServer::start("3.4.23", tmp.path(), &["--enable-v2"]) else {
        assert!(!util::real_etcd_required(), "etcd 3.4.23 required");
        eprintln!("SKIPPED: etcd 3.4.23 not found");
        return;
    };
    for (k, v) in [
        ("/service/pg/initialize", "7012345678901234567"),
        ("/service/pg/config", "{\"ttl\":30}"),
        ("/service/pg/leader", "node1"),
    ] {
        let out = std::process::Command::new(s.bin.join("etcdctl"))
            .env("ETCDCTL_API", "2")
            .args(["--endpoints", &s.client_url, "--no-sync", "set", k, v])
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
    }
    s.stop();
    let (r, v) = check_json(&s.data_dir, &[]);
    r.expect_code(0);
    let input = &v["inputs"][0];
    assert!(input["facts"]["consistent_index"].is_null(), "{input:#}");
    let c = codes(input);
    assert!(c.contains(&"etcd.meta.v2-only".to_string()), "{c:?}");
    assert!(!c.contains(&"etcd.meta.missing".to_string()), "{c:?}");
    assert_eq!(finding(input, "etcd.meta.v2-only")["severity"], "info");
    assert_eq!(input["verdict"], "sound-with-notes");
}

fn salvage_json(input: &Path, out: &Path) -> (util::Run, Option<serde_json::Value>) {
    let r = run(&[
        "salvage",
        input.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "-w",
        "json",
    ]);
    let v = serde_json::from_str(&r.stdout).ok();
    (r, v)
}

/// `salvage` of a text file: exit 2 with the reason, and no empty db written.
#[test]
fn salvage_of_a_text_file_writes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let txt = tmp.path().join("notes.txt");
    std::fs::write(
        &txt,
        "etcd backup taken at 03:00, see the wiki\n".repeat(200),
    )
    .unwrap();
    let out = tmp.path().join("new.db");
    let (r, _) = salvage_json(&txt, &out);
    r.expect_code(2);
    assert!(r.stderr.contains("nothing to salvage"), "{r}");
    assert!(r.stderr.contains("not an etcd db"), "{r}");
    assert!(!out.exists(), "an empty db was written");
}

/// A small real db keeps its `key` bucket inline in the root page: salvage
/// must still find its keys (it found none before).
#[test]
fn salvage_recovers_an_inline_key_bucket() {
    let tmp = tempfile::tempdir().unwrap();
    let snap = util::testdata().join("etcd-3.5.1/auth/snapshot.db");
    let out = tmp.path().join("new.db");
    let (r, v) = salvage_json(&snap, &out);
    r.expect_code(0);
    let v = v.unwrap();
    assert_eq!(v["keys_recovered"], 3, "{v:#}");
    assert_eq!(v["tree"]["lost_keys"], 0);
    assert!(v["lost_buckets"].as_array().unwrap().is_empty());
}

/// Both meta pages overwritten: `check` cannot read the db and names
/// `salvage`; salvage recovers every live key, lists every bucket it could
/// not carry over (auth loudly), never says `lost_keys: 0`, and its output
/// restores.
#[test]
fn salvage_lists_lost_buckets_and_check_points_to_it() {
    let tmp = tempfile::tempdir().unwrap();
    let src = util::testdata().join("etcd-3.5.1/large/snapshot.db");
    let guard = InputGuard::new(&[&src]);
    let bad = copy_with(tmp.path(), "metas-zeroed.db", &src, |b| {
        b[..8192].fill(0);
    });
    let r = run(&["check", bad.to_str().unwrap()]);
    r.expect_code(2);
    assert!(r.stderr.contains("etcd-rescue salvage"), "{r}");
    let r = run(&["snapshot", "status", bad.to_str().unwrap()]);
    assert!(r.stderr.contains("etcd-rescue salvage"), "{r}");

    let out = tmp.path().join("new.db");
    let (r, v) = salvage_json(&bad, &out);
    r.expect_code(1);
    let v = v.unwrap();
    // 9,993 live keys at revision 30008 (testdata/README.md).
    assert_eq!(v["keys_recovered"], 9993, "{}", v["keys_recovered"]);
    assert!(v["tree"]["lost_keys"].is_null(), "{}", v["tree"]);
    let lost: Vec<&str> = v["lost_buckets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["name"].as_str().unwrap())
        .collect();
    for b in [
        "auth",
        "authUsers",
        "authRoles",
        "lease",
        "members",
        "alarm",
    ] {
        assert!(lost.contains(&b), "{b} not in {lost:?}");
    }
    let warnings = v["warnings"].to_string();
    assert!(warnings.contains("AUTH NOT CARRIED OVER"), "{warnings}");
    let r = run(&[
        "salvage",
        bad.to_str().unwrap(),
        "--out",
        tmp.path().join("t.db").to_str().unwrap(),
    ]);
    assert!(r.stdout.contains("LOST"), "{r}");
    assert!(r.stdout.contains("auth off"), "{r}");

    let restored = tmp.path().join("restored");
    run(&[
        "snapshot",
        "restore",
        out.to_str().unwrap(),
        "--skip-hash-check",
        "--data-dir",
        restored.to_str().unwrap(),
    ])
    .expect_code(0);
    guard.check();
}

/// Only the `authUsers` bucket damaged (its inline page no longer a leaf):
/// every key and every other bucket is carried over, and the loss of the
/// users is listed, with what it means, in text and JSON.
#[test]
fn salvage_says_loudly_when_auth_users_are_lost() {
    use etcd_rescue::formats::bbolt::Db;
    let tmp = tempfile::tempdir().unwrap();
    let src = util::testdata().join("etcd-3.5.1/auth/snapshot.db");
    let bytes = std::fs::read(&src).unwrap();
    let flags_at = {
        let db = Db::open(&bytes).unwrap();
        let root = db.root_bucket();
        let e = root
            .cursor(&db)
            .map(Result::unwrap)
            .find(|e| e.key == b"authUsers")
            .unwrap();
        // Bucket header (16 bytes), then the inline page: id (8), flags (2).
        e.value.as_ptr() as usize - bytes.as_ptr() as usize + 16 + 8
    };
    let bad = copy_with(tmp.path(), "users-gone.db", &src, |b| b[flags_at] = 0x01);
    let out = tmp.path().join("new.db");
    let (r, v) = salvage_json(&bad, &out);
    r.expect_code(1);
    let v = v.unwrap();
    assert_eq!(v["keys_recovered"], 3);
    let lost = v["lost_buckets"].as_array().unwrap();
    assert_eq!(lost.len(), 1, "{lost:?}");
    assert_eq!(lost[0]["name"], "authUsers");
    assert!(lost[0]["consequence"]
        .as_str()
        .unwrap()
        .contains("nobody can log in"));
    assert!(v["warnings"][0]
        .as_str()
        .unwrap()
        .starts_with("AUTH NOT CARRIED OVER"));
}

fn restore(args: &[&str]) -> util::Run {
    let snap = util::testdata().join("etcd-3.5.1/basic/snapshot.db");
    let mut all = vec!["snapshot", "restore", snap.to_str().unwrap()];
    all.extend_from_slice(args);
    let all: Vec<String> = all.iter().map(|s| s.to_string()).collect();
    run(&all)
}

/// `snapshot restore` foot-guns: each refused with exit 2, naming the flag
/// and the offending entries, and nothing written.
#[test]
fn restore_refuses_the_foot_guns() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let o = out.to_str().unwrap();

    // --out-dir without --initial-cluster would restore one `default` member.
    let r = restore(&["--out-dir", o]);
    r.expect_code(2);
    assert!(r.stderr.contains("--initial-cluster"), "{r}");
    assert!(!out.exists());

    // The same name twice.
    let r = restore(&[
        "--out-dir",
        o,
        "--initial-cluster",
        "n1=http://10.0.0.1:2380,n1=http://10.0.0.2:2380,n3=http://10.0.0.3:2380",
    ]);
    r.expect_code(2);
    assert!(
        r.stderr
            .contains("n1=http://10.0.0.1:2380, n1=http://10.0.0.2:2380"),
        "{r}"
    );

    // The same peer URL twice.
    let r = restore(&[
        "--out-dir",
        o,
        "--initial-cluster",
        "n1=http://10.0.0.1:2380,n2=http://10.0.0.1:2380",
    ]);
    r.expect_code(2);
    assert!(r.stderr.contains("same peer URL"), "{r}");
    assert!(r.stderr.contains("n2=http://10.0.0.1:2380"), "{r}");

    // A peer URL without a scheme.
    let r = restore(&["--out-dir", o, "--initial-cluster", "n1=10.0.0.1:2380"]);
    r.expect_code(2);
    assert!(r.stderr.contains("add http:// or https://"), "{r}");
    assert!(!out.exists());

    // A non-empty member dir under --out-dir: the error names --out-dir.
    std::fs::create_dir_all(out.join("n1.etcd")).unwrap();
    std::fs::write(out.join("n1.etcd/keep"), "x").unwrap();
    let r = restore(&[
        "--out-dir",
        o,
        "--initial-cluster",
        "n1=http://10.0.0.1:2380",
    ]);
    r.expect_code(2);
    assert!(r.stderr.contains("--out-dir"), "{r}");
    assert!(!r.stderr.contains("--data-dir"), "{r}");

    // One member named twice on purpose, with all its URLs advertised: allowed,
    // as etcd reads it.
    let one = tmp.path().join("one");
    let r = restore(&[
        "--name",
        "n1",
        "--data-dir",
        one.to_str().unwrap(),
        "--initial-cluster",
        "n1=http://10.0.0.1:2380,n1=http://10.0.0.2:2380",
        "--initial-advertise-peer-urls",
        "http://10.0.0.1:2380,http://10.0.0.2:2380",
    ]);
    r.expect_code(0);
}

/// Results come in --initial-cluster order, not sorted by name.
#[test]
fn restore_lists_members_in_initial_cluster_order() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let r = restore(&[
        "--out-dir",
        out.to_str().unwrap(),
        "--initial-cluster",
        "zeta=http://10.0.0.1:2380,alpha=http://10.0.0.2:2380,mid=http://10.0.0.3:2380",
        "-w",
        "json",
    ]);
    r.expect_code(0);
    let v = json(&r);
    let names: Vec<&str> = v["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["zeta", "alpha", "mid"]);
}

/// A data dir given to `snapshot restore`: restored with its WAL replayed.
#[test]
fn restore_of_a_data_dir_replays_its_wal() {
    // A data dir is restored from its db and WAL (cmd_dir_restore checks the
    // result against real etcd); the report says what the replay did.
    let tmp = tempfile::tempdir().unwrap();
    let dir = util::testdata().join("etcd-3.5.1/single-node/data/n1");
    let r = run(&[
        "snapshot",
        "restore",
        dir.to_str().unwrap(),
        "--data-dir",
        tmp.path().join("x").to_str().unwrap(),
    ]);
    r.expect_code(0);
    assert!(r.stdout.contains("WAL replay:"), "{r}");
    assert!(r.stdout.contains("consistent index 260"), "{r}");
    // A dir that is neither says what to give.
    let empty = tmp.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let r = run(&[
        "snapshot",
        "restore",
        empty.to_str().unwrap(),
        "--data-dir",
        tmp.path().join("y").to_str().unwrap(),
    ]);
    r.expect_code(2);
    assert!(r.stderr.contains("data dir"), "{r}");
}

/// `wal dump --type bogus` is a usage error listing the valid types.
#[test]
fn wal_dump_unknown_type_is_a_usage_error() {
    let dir = util::testdata().join("etcd-3.5.1/single-node/data/n1");
    let r = run(&["wal", "dump", "--type", "bogus", dir.to_str().unwrap()]);
    r.expect_code(2);
    assert!(r.stderr.contains("--type bogus"), "{r}");
    assert!(
        r.stderr.contains("put") && r.stderr.contains("conf_change"),
        "{r}"
    );
    run(&["wal", "dump", "--type", "put,entry", dir.to_str().unwrap()]).expect_code(0);
}

/// Hints fit the command: no snapshot hints after `wal dump` or `v2 ls`.
#[test]
fn error_hints_fit_the_command() {
    let snap = util::testdata().join("etcd-3.5.1/basic/snapshot.db");
    let tmp = tempfile::tempdir().unwrap();
    for args in [
        vec!["wal", "dump", snap.to_str().unwrap()],
        vec!["v2", "ls", snap.to_str().unwrap()],
        vec!["v2", "ls", tmp.path().to_str().unwrap()],
        vec!["v2", "get", tmp.path().to_str().unwrap(), "/x"],
    ] {
        let r = run(&args);
        r.expect_code(2);
        assert!(!r.stderr.contains("give a snapshot file"), "{r}");
        assert!(!r.stderr.contains("bbolt db"), "{r}");
    }
}

/// The help lists commands in the order of a recovery, and every man page
/// the main page names exists (`man --out-dir`).
#[test]
fn help_order_and_man_pages() {
    let r = run(&["--help"]);
    r.expect_code(0);
    let pos = |c: &str| {
        r.stdout
            .find(&format!("\n  {c} "))
            .unwrap_or_else(|| panic!("{c} missing\n{r}"))
    };
    assert!(pos("inspect") < pos("compare"));
    assert!(pos("compare") < pos("check"));
    assert!(pos("check") < pos("snapshot"));
    assert!(pos("snapshot") < pos("salvage"));

    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("man1");
    run(&["man", "--out-dir", dir.to_str().unwrap()]).expect_code(0);
    let main = std::fs::read_to_string(dir.join("etcd-rescue.1")).unwrap();
    let mut named = 0;
    for line in main.lines() {
        // References look like `etcd\-rescue\-check(1)`.
        if let Some(name) = line.strip_suffix("(1)") {
            let file = format!("{}.1", name.replace("\\-", "-"));
            assert!(dir.join(&file).exists(), "{file} named but not written");
            named += 1;
        }
    }
    assert!(named >= 10, "{main}");
    assert!(dir.join("etcd-rescue-snapshot-restore.1").exists());
    // A non-empty target is refused.
    run(&["man", "--out-dir", dir.to_str().unwrap()]).expect_code(2);
    // The page on stdout names no `help` page that cannot exist.
    let r = run(&["man"]);
    assert!(
        !r.stdout.contains("etcd\\-rescue\\-help(1)"),
        "{}",
        r.stdout
    );
}

/// A torn last WAL record (a zeroed sector, as a crash leaves it) that etcd
/// repairs on start: the db one entry ahead of the readable commit is
/// explained as that, a note, not "copied from elsewhere?".
#[test]
fn torn_last_record_does_not_alarm_about_the_db() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("n1");
    util::copy_tree(
        &util::testdata().join("etcd-3.5.1/single-node/data/n1"),
        &dir,
    );
    let wal = dir.join("member/wal/0000000000000000-0000000000000000.wal");
    let r = run(&["wal", "dump", "-w", "json", wal.to_str().unwrap()]);
    let last = r
        .stdout
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .rfind(|l| l.get("crc_ok").is_some())
        .unwrap()["offset"]
        .as_u64()
        .unwrap() as usize;
    let mut b = std::fs::read(&wal).unwrap();
    let start = last + 8;
    let end = (start / 512 + 1) * 512;
    let stop = end.min(b.len());
    b[start..stop].fill(0);
    b.resize(b.len().max(end), 0);
    std::fs::write(&wal, &b).unwrap();

    let (r, v) = check_json(&dir, &[]);
    r.expect_code(0);
    let input = &v["inputs"][0];
    assert!(
        codes(input).contains(&"wal.tail.torn".to_string()),
        "{input:#}"
    );
    let ahead = finding(input, "db.ahead-of-wal");
    assert_eq!(ahead["severity"], "info", "{ahead}");
    let msg = ahead["message"].as_str().unwrap();
    assert!(msg.contains("torn"), "{msg}");
    assert!(!msg.contains("copied from elsewhere"), "{msg}");
    let r = run(&["inspect", dir.to_str().unwrap()]);
    assert!(!r.stdout.contains("copied from elsewhere"), "{r}");
}

/// `inspect` of an empty or non-etcd file exits 2, as its help says.
#[test]
fn inspect_of_a_non_etcd_file_exits_2() {
    let tmp = tempfile::tempdir().unwrap();
    let empty = tmp.path().join("empty.db");
    std::fs::write(&empty, b"").unwrap();
    let text = tmp.path().join("notes.txt");
    std::fs::write(&text, "not an etcd file\n").unwrap();
    for p in [&empty, &text] {
        run(&["inspect", p.to_str().unwrap()]).expect_code(2);
    }
    let snap = util::testdata().join("etcd-3.5.1/basic/snapshot.db");
    run(&["inspect", snap.to_str().unwrap()]).expect_code(0);
}

/// `compare` given the parent folder of the copies by mistake: an input
/// error (exit 2) naming the data dirs inside, not an `empty-member` finding
/// with restore advice. A wiped (empty) dir is still an empty member.
#[test]
fn compare_of_a_parent_folder_is_an_input_error() {
    let data = util::testdata().join("etcd-3.5.1/cluster3/data");
    let r = run(&[
        "compare",
        data.to_str().unwrap(),
        data.join("n1").to_str().unwrap(),
    ]);
    r.expect_code(2);
    assert!(r.stderr.contains("n1, n2, n3"), "{r}");
    assert!(!r.stdout.contains("empty-member"), "{r}");
    let tmp = tempfile::tempdir().unwrap();
    let r = run(&[
        "compare",
        "-w",
        "json",
        tmp.path().to_str().unwrap(),
        data.join("n1").to_str().unwrap(),
    ]);
    assert!(r.stdout.contains("empty-member"), "{r}");
}
