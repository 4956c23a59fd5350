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

/// A copy of the 3.5.1 `wal-ahead` data dir with one WAL byte flipped in the
/// middle (a CRC error), and the dir.
fn wal_crc_copy(tmp: &Path) -> PathBuf {
    let dir = tmp.join("n1");
    util::copy_tree(&util::testdata().join("etcd-3.5.1/wal-ahead/data/n1"), &dir);
    let wal = dir.join("member/wal/0000000000000000-0000000000000000.wal");
    let mut bytes = std::fs::read(&wal).unwrap();
    let at = bytes.len() / 2;
    bytes[at] ^= 0x40;
    std::fs::write(&wal, &bytes).unwrap();
    dir
}

/// `compare`'s table, findings and best seed tell one story: HashKV in
/// decimal as `etcdctl endpoint hashkv` prints it (equal to `hashkv --rev R`,
/// itself checked against etcdctl), the revision it was taken at, and the
/// same agreeing groups everywhere.
#[test]
fn compare_hashes_and_groups_tell_one_story() {
    let data = util::testdata().join("etcd-3.5.1/cluster3/data");
    let snap = util::testdata().join("etcd-3.5.1/basic/snapshot.db");
    let paths = [data.join("n1"), data.join("n2"), snap.clone()];
    let p: Vec<&str> = paths.iter().map(|p| p.to_str().unwrap()).collect();
    let mut args = vec!["compare", "-w", "json"];
    args.extend(&p);
    let r = run(&args);
    r.expect_code(1);
    let v = json(&r);
    let rev = v["hash_revision"].as_i64().unwrap();
    // Each row's hash is `hashkv --rev R`'s, at R, and its group is named.
    let mut hashes = Vec::new();
    for (i, path) in p.iter().enumerate() {
        let h = run(&["hashkv", path, "--rev", &rev.to_string(), "-w", "json"]);
        h.expect_code(0);
        let h = json(&h);
        let m = &v["members"][i];
        assert_eq!(m["hash_kv"], h["hash"], "{m:#}");
        assert_eq!(m["hash_kv_revision"], rev, "{m:#}");
        hashes.push(h["hash"].as_u64().unwrap());
    }
    assert_eq!(hashes[0], hashes[1]);
    assert_ne!(hashes[0], hashes[2]);
    let groups: Vec<&str> = (0..3)
        .map(|i| v["members"][i]["group"].as_str().unwrap())
        .collect();
    assert_eq!(groups, ["A", "A", "B"]);
    assert_eq!(v["groups"][0]["group"], "A");
    assert_eq!(v["groups"][0]["hash_kv"], hashes[0]);
    assert_eq!(v["groups"][0]["revision"], rev);
    assert_eq!(v["groups"][1]["members"][0], p[2]);
    let dd = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["kind"] == "different-data")
        .unwrap();
    assert_eq!(dd["group_names"], serde_json::json!(["A", "B"]));
    assert_eq!(v["best_seed"]["group"], "A");
    assert!(p[..2].contains(&v["best_seed"]["member"].as_str().unwrap()));

    // The table: decimal hashes, the revision in the header, the groups in
    // a column, and the same numbers and groups in the finding and the seed.
    let mut args = vec!["compare"];
    args.extend(&p);
    let r = run(&args);
    r.expect_code(1);
    let out = &r.stdout;
    assert!(out.contains(&format!("HASHKV AT REV {rev}")), "{r}");
    assert!(
        !out.contains(&format!("{:x}", hashes[0])),
        "hex hash in {r}"
    );
    for (i, path) in p.iter().enumerate() {
        let row = out
            .lines()
            .find(|l| l.starts_with(&format!("| {path} ")))
            .unwrap_or_else(|| panic!("no row for {path}\n{r}"));
        let cells: Vec<&str> = row.split('|').map(str::trim).collect();
        assert!(cells.contains(&hashes[i].to_string().as_str()), "{row}");
        assert!(cells.contains(&groups[i]), "{row}");
    }
    let finding = out.lines().find(|l| l.contains("different-data")).unwrap();
    assert!(
        finding.contains(&format!("group A [{}, {}] hash {}", p[0], p[1], hashes[0])),
        "{finding}"
    );
    assert!(
        finding.contains(&format!("group B [{}] hash {}", p[2], hashes[2])),
        "{finding}"
    );
    let seed = out.lines().find(|l| l.starts_with("best seed:")).unwrap();
    assert!(seed.contains("group A"), "{seed}");
    assert!(
        out.contains(&format!("group A: hashkv {} at revision {rev}", hashes[0])),
        "{r}"
    );
}

/// Member and cluster IDs in `compare`'s and `inspect`'s tables are printed
/// as etcd prints them (`%x`, no leading zeros, as `etcdctl member list`);
/// JSON keeps the documented 16-digit form. The 3.5.1 `wal-ahead` member's
/// id starts with a zero digit.
#[test]
fn ids_are_printed_as_etcd_prints_them() {
    let s = util::testdata().join("etcd-3.5.1/wal-ahead");
    let id = util::manifest_u64(&s, "member_id");
    let cluster = util::manifest_u64(&s, "cluster_id");
    let (etcd_id, padded) = (format!("{id:x}"), format!("{id:016x}"));
    assert_ne!(etcd_id, padded, "the test needs an id with a leading zero");
    let n1 = s.join("data/n1");
    let db = n1.join("member/snap/db");
    let r = run(&["compare", n1.to_str().unwrap(), db.to_str().unwrap()]);
    assert!(r.stdout.contains(&format!("| {etcd_id} ")), "{r}");
    assert!(r.stdout.contains(&format!("{cluster:x}")), "{r}");
    assert!(!r.stdout.contains(&padded), "{r}");
    let r = run(&[
        "compare",
        "-w",
        "json",
        n1.to_str().unwrap(),
        db.to_str().unwrap(),
    ]);
    assert_eq!(json(&r)["members"][0]["member_id"], padded);
    let r = run(&["inspect", n1.to_str().unwrap()]);
    r.expect_code(0);
    assert!(
        r.stdout.contains(&format!("member id      {etcd_id}")),
        "{r}"
    );
    assert!(!r.stdout.contains(&padded), "{r}");
}

/// `inspect` gives `check`'s verdict levels, with the same exit codes, on
/// real files: sound, sound with notes, damaged.
#[test]
fn inspect_uses_the_verdict_levels_of_check() {
    let tmp = tempfile::tempdir().unwrap();
    let healthy = util::testdata().join("etcd-3.5.1/cluster3/data/n1");
    let snap = util::testdata().join("etcd-3.5.1/basic/snapshot.db");
    let crc = wal_crc_copy(tmp.path());
    // A leftover file etcd leaves behind: a note, usable as it is.
    let noted = tmp.path().join("noted");
    util::copy_tree(&healthy, &noted);
    std::fs::write(noted.join("member/snap/db.tmp"), b"x").unwrap();
    for (path, want) in [
        (healthy.as_path(), "sound"),
        (snap.as_path(), "sound"),
        (noted.as_path(), "sound-with-notes"),
        (crc.as_path(), "damaged"),
    ] {
        let code = if want == "damaged" { 1 } else { 0 };
        let r = run(&["inspect", "-w", "json", path.to_str().unwrap()]);
        r.expect_code(code);
        assert_eq!(json(&r)["verdict"], want, "{r}");
        let (c, v) = check_json(path, &[]);
        c.expect_code(code);
        assert_eq!(v["inputs"][0]["verdict"], want, "check disagrees: {c}");
        let r = run(&["inspect", path.to_str().unwrap()]);
        let line = r.stdout.lines().find(|l| l.starts_with("verdict")).unwrap();
        let head = match want {
            "sound" => "SOUND",
            "sound-with-notes" => "SOUND WITH NOTES",
            _ => "DAMAGED",
        };
        assert!(line.contains(head), "{r}");
    }
}

/// Verdicts and warnings of `compare` and `inspect` are coloured as `check`'s
/// are: only on a terminal (or with CLICOLOR_FORCE), never with NO_COLOR,
/// never in JSON.
#[test]
fn colour_only_on_a_terminal_and_never_with_no_color() {
    let tmp = tempfile::tempdir().unwrap();
    let data = util::testdata().join("etcd-3.5.1/cluster3/data");
    let snap = util::testdata().join("etcd-3.5.1/basic/snapshot.db");
    let crc = wal_crc_copy(tmp.path());
    let n1 = data.join("n1");
    let cases: Vec<Vec<&str>> = vec![
        vec!["compare", n1.to_str().unwrap(), snap.to_str().unwrap()],
        vec!["inspect", crc.to_str().unwrap()],
        vec!["check", crc.to_str().unwrap()],
    ];
    const ESC: &str = "\x1b[";
    for args in &cases {
        // A pipe: no colour.
        let r = util::run_env(args, &[]);
        assert!(!r.stdout.contains(ESC), "{r}");
        // Forced: colour on the verdict.
        let r = util::run_env(args, &[("CLICOLOR_FORCE", "1")]);
        assert!(r.stdout.contains("\x1b[1;31m"), "{r}");
        // NO_COLOR wins.
        let r = util::run_env(args, &[("CLICOLOR_FORCE", "1"), ("NO_COLOR", "1")]);
        assert!(!r.stdout.contains(ESC), "{r}");
        // JSON never.
        let mut j = args.clone();
        j.extend(["-w", "json"]);
        let r = util::run_env(&j, &[("CLICOLOR_FORCE", "1")]);
        assert!(!r.stdout.contains(ESC), "{r}");
    }
    // A real terminal (script(1) gives the command a pty).
    let Ok(script) = which_script() else {
        eprintln!("script(1) not installed: the pty half of the colour test is not run");
        return;
    };
    let line = |args: &[&str]| {
        std::iter::once(util::bin().display().to_string())
            .chain(args.iter().map(|a| a.to_string()))
            .map(|a| format!("'{a}'"))
            .collect::<Vec<_>>()
            .join(" ")
    };
    for args in &cases {
        let tty = |no_color: bool| {
            let mut c = std::process::Command::new(&script);
            c.args(["-qec", &line(args), "/dev/null"])
                .env_remove("NO_COLOR")
                .env_remove("CLICOLOR_FORCE");
            if no_color {
                c.env("NO_COLOR", "1");
            }
            String::from_utf8_lossy(&c.output().unwrap().stdout).into_owned()
        };
        let out = tty(false);
        assert!(out.contains("\x1b[1;31m"), "{args:?} on a tty:\n{out}");
        let out = tty(true);
        assert!(!out.contains(ESC), "{args:?} with NO_COLOR:\n{out}");
    }
}

fn which_script() -> Result<PathBuf, ()> {
    ["/usr/bin/script", "/bin/script"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
        .ok_or(())
}

/// A WAL with a bad record: every command that reads it says what works
/// today (the db by the data-dir route, `check`, `wal dump --raw`), and no
/// command named in a hint is missing from the CLI.
#[test]
fn wal_error_hints_fit_the_command() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = wal_crc_copy(tmp.path());
    let wal = dir.join("member/wal");
    let r = run(&["wal", "dump", wal.to_str().unwrap()]);
    r.expect_code(1);
    let hint = r
        .stdout
        .lines()
        .find(|l| l.trim_start().starts_with("-> "))
        .unwrap_or_else(|| panic!("no hint after the CRC error\n{r}"));
    for want in [
        "etcd-rescue check",
        "member/snap/db --skip-hash-check",
        "wal dump --raw",
    ] {
        assert!(hint.contains(want), "{hint}");
    }
    let r = run(&["wal", "dump", "-w", "json", wal.to_str().unwrap()]);
    let f = r
        .stdout
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|l| l["type"] == "finding" && l["code"] == "wal.crc.mismatch")
        .unwrap();
    assert!(
        f["action"].as_str().unwrap().contains("etcd-rescue check"),
        "{f}"
    );
    let r = run(&["v2", "ls", dir.to_str().unwrap()]);
    // The listing is printed but stops at the damage: problems found.
    r.expect_code(1);
    assert!(r.stderr.contains("not listed"), "{r}");
    assert!(r.stderr.contains("wal dump --raw"), "{r}");
    assert!(!r.stderr.contains("give a snapshot file"), "{r}");
    for path in [&wal, &dir] {
        let r = run(&["inspect", "-w", "json", path.to_str().unwrap()]);
        r.expect_code(1);
        let v = json(&r);
        let w = v["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|w| w["code"] == "wal.crc.mismatch")
            .unwrap();
        let action = w["action"].as_str().unwrap();
        assert!(action.contains("member/snap/db"), "{action}");
        assert!(action.contains("etcd-rescue check"), "{action}");
    }
    // Every `etcd-rescue <command>` a hint names exists.
    let help = run(&["--help"]).stdout;
    let all = format!("{}{}", r.stdout, hint);
    for cmd in all.split("etcd-rescue ").skip(1) {
        let name = cmd.split_whitespace().next().unwrap_or("");
        let name = name.trim_matches(|c: char| !c.is_ascii_alphanumeric() && c != '-');
        if name.is_empty() || name.starts_with('<') {
            continue;
        }
        assert!(
            help.contains(&format!("\n  {name} ")),
            "hint names `{name}`, not a command"
        );
    }
}

/// A part of a data dir given where a db or data dir is expected: the error
/// says what it is and names the dir or file to give; `salvage` of a dir
/// names the db file it wants instead of offering a data dir it refuses.
#[test]
fn a_part_of_a_data_dir_names_what_to_give() {
    let n1 = util::testdata().join("etcd-3.5.1/cluster3/data/n1");
    let wal = n1.join("member/wal");
    let snap = n1.join("member/snap");
    for cmd in ["keys", "check", "space"] {
        let r = run(&[cmd, wal.to_str().unwrap()]);
        r.expect_code(2);
        assert!(r.stderr.contains("a WAL dir"), "{r}");
        assert!(r.stderr.contains(n1.to_str().unwrap()), "{r}");
        let r = run(&[cmd, snap.to_str().unwrap()]);
        r.expect_code(2);
        assert!(r.stderr.contains("snap dir"), "{r}");
        assert!(r.stderr.contains(snap.join("db").to_str().unwrap()), "{r}");
    }
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("s.db");
    let r = run(&[
        "salvage",
        n1.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    r.expect_code(2);
    assert!(r.stderr.contains("member/snap/db"), "{r}");
    assert!(!r.stderr.contains("or an etcd data dir"), "{r}");
    assert!(!out.exists());
}

/// A file that is no bbolt db at all (a text file given by mistake): the hint
/// first says to check the path, and offers `salvage` only for a db whose
/// first pages were overwritten (salvage refuses a text file, writing nothing).
#[test]
fn a_text_file_hint_says_check_the_path_first() {
    let t = tempfile::tempdir().unwrap();
    let f = t.path().join("notes.db");
    std::fs::write(
        &f,
        "this is a text file, not an etcd snapshot\n".repeat(200),
    )
    .unwrap();
    let p = f.to_str().unwrap();
    for args in [vec!["snapshot", "status", p], vec!["check", p]] {
        let r = run(&args);
        r.expect_code(2);
        let all = format!("{}{}", r.stdout, r.stderr);
        let path_at = all.find("check the path").unwrap_or_else(|| panic!("{r}"));
        let salvage_at = all.find("salvage").unwrap_or(usize::MAX);
        assert!(path_at < salvage_at, "{r}");
    }
    let out = t.path().join("new.db");
    run(&["salvage", p, "--out", out.to_str().unwrap()]).expect_code(2);
    assert!(!out.exists());
}
