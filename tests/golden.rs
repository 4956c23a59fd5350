//! Every file under `testdata/etcd-*/` that real etcd wrote, compared with what
//! we read from the files next to it.
//!
//! A golden is `testdata/<version>/<scenario>/expected/<name>`; its name says
//! what it is and which input it describes ([`classify`]). The tests here are
//! data-driven over every golden of every version dir in [`COMPARED`], so a new
//! scenario is compared without a new test; goldens of a kind read by a test
//! elsewhere are listed in [`ELSEWHERE`] with that test's name. The orphan test
//! fails on a golden nobody reads, a golden without its input, and an input db
//! without a status golden.
//!
//! Every test that reads testdata is named `golden_*` (here and in the
//! command modules): scripts/test.sh reruns exactly that set on freshly
//! generated files and fails when the filter matches no test.

use std::path::{Path, PathBuf};

use etcd_rescue::formats::bbolt::{Bucket, BucketRoot, Db};
use serde_json::Value;

use crate::util::{self, run, InputGuard};

/// Version dirs whose goldens the data-driven tests below compare.
const COMPARED: &[&str] = &["etcd-3.5.1", "etcd-3.4.23", "etcd-3.6.17", "etcd-3.7.3"];

/// Version dirs whose `*.status.*` and `*.db.hashkv.*` goldens
/// tests/v3x_read.rs compares (with the `--compat` of the etcdutl that
/// printed them); everything else in them is compared here.
const V3X_READ: &[&str] = &["etcd-3.6.17", "etcd-3.7.3"];

/// Version dirs (prefixes) whose goldens no test reads yet, each with why.
/// Anything here is an allowed orphan; remove the entry once its goldens are
/// compared (move the dir to [`COMPARED`]).
const PENDING: &[(&str, &str)] = &[
    // Made by scripts/make-upgrade-check-data.sh, not make-testdata.sh: its
    // one golden (etcd 3.6.17's refusal to start) is read by cmd_upgrade_check.
    (
        "etcd-3.5.36",
        "etcd 3.5.36 v2-content: its golden is read by cmd_upgrade_check.rs",
    ),
];

/// Goldens read by hand-written tests in other modules:
/// (version dir, scenario, file name in `expected/`, the test that reads it).
const ELSEWHERE: &[(&str, &str, &str, &str)] = &[
    (
        "etcd-3.4.23",
        "v2-patroni",
        "endpoint-status.json",
        "cmd_inspect::golden_inspect_v2_patroni",
    ),
    (
        "etcd-3.4.23",
        "v2-patroni",
        "member-list.json",
        "cmd_inspect::golden_inspect_v2_patroni",
    ),
    (
        "etcd-3.4.23",
        "v2-patroni",
        "v2-ls-recursive.txt",
        "cmd_v2::golden_v2_ls_recursive_equals_etcdctl",
    ),
    (
        "etcd-3.4.23",
        "v2-patroni",
        "v2-get-*.txt",
        "cmd_v2::golden_v2_get_equals_etcdctl",
    ),
];

/// What a golden file is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// `<input>.status.<fmt>`: `etcdutl snapshot status -w <fmt>`.
    Status { fmt: String },
    /// `<input>.status-etcdctl-<v>.<fmt>`: `etcdctl snapshot status` of that
    /// version (3.4 had no etcdutl); etcdutl 3.5.1 prints the same bytes.
    StatusEtcdctl { fmt: String },
    /// `[<prefix>.]endpoint-status.json`: `etcdctl endpoint status -w json`.
    EndpointStatus,
    /// `[<prefix>.]hashkv[-rev<N>].json`: `etcdctl endpoint hashkv [--rev N] -w json`.
    HashKv { rev: Option<i64> },
    /// `[<prefix>.]hash.json`: the gateway's `POST /v3/maintenance/hash`.
    Hash,
    /// `<db>.hashkv[-rev<N>].<fmt>` / `.error`: `etcdutl hashkv` of a db file
    /// (etcdutl 3.6+ has the command); compared by tests/v3x_read.rs.
    EtcdutlHashKv,
    /// `[<prefix>.]member-list.json`: `etcdctl member list -w json`.
    MemberList,
    /// `[<prefix>.]get-all.json`: `etcdctl get "" --prefix -w json`.
    GetAll,
    /// `v2-*.txt`: read by a test in another module.
    Other,
}

/// One golden and the input(s) it describes.
#[derive(Debug, Clone)]
pub struct Golden {
    pub scenario: PathBuf,
    pub path: PathBuf,
    pub kind: Kind,
    /// The db files (or member data dirs) the golden describes; each exists.
    pub inputs: Vec<PathBuf>,
    /// Why the golden has no input, when `inputs` is empty.
    pub problem: Option<String>,
}

/// The member data dirs under `<scenario>/data/`, sorted.
fn members(scenario: &Path) -> Vec<PathBuf> {
    let Ok(rd) = std::fs::read_dir(scenario.join("data")) else {
        return Vec::new();
    };
    let mut v: Vec<PathBuf> = rd
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("member").is_dir())
        .collect();
    v.sort();
    v
}

/// The inputs a golden name's prefix names: `snapshot.db`/`raw.db` (files at
/// the scenario's top), `db` (the only member's `member/snap/db`), `<m>.db`
/// (member `m`'s db); for live-server goldens `live`/`committed`/none (the
/// scenario's db files, or its only member) or `<m>` (member `m`).
fn inputs_for(scenario: &Path, prefix: &str, want_dir: bool) -> Result<Vec<PathBuf>, String> {
    let top_dbs: Vec<PathBuf> = ["snapshot.db", "raw.db"]
        .iter()
        .map(|f| scenario.join(f))
        .filter(|p| p.is_file())
        .collect();
    let ms = members(scenario);
    let member = |m: &Path| {
        if want_dir {
            m.to_path_buf()
        } else {
            m.join("member/snap/db")
        }
    };
    let only_member = || match ms.as_slice() {
        [m] => Ok(vec![member(m)]),
        _ => Err(format!(
            "{} member dirs under data/, want exactly one",
            ms.len()
        )),
    };
    let got = match prefix {
        "snapshot.db" | "raw.db" => vec![scenario.join(prefix)],
        "db" => only_member()?,
        "*" if !ms.is_empty() => ms.iter().map(|m| member(m)).collect(),
        "*" => return Err("no member dirs under data/".into()),
        "" | "live" | "committed" if !top_dbs.is_empty() => top_dbs,
        "" | "live" | "committed" => only_member()?,
        p => {
            let m = p.strip_suffix(".db").unwrap_or(p);
            if want_dir == p.ends_with(".db") {
                return Err(format!("unexpected prefix {p:?}"));
            }
            vec![member(&scenario.join("data").join(m))]
        }
    };
    match got.iter().find(|p| !p.exists()) {
        Some(p) => Err(format!("input {} does not exist", p.display())),
        None => Ok(got),
    }
}

/// What `name` (a file in `expected/`) is, and its inputs; `None` for a name
/// no rule knows.
pub fn classify(scenario: &Path, name: &str) -> Option<Golden> {
    let (kind, prefix, want_dir) = if let Some((input, fmt)) = name.rsplit_once(".status.") {
        (Kind::Status { fmt: fmt.into() }, input.to_string(), false)
    } else if let Some((input, rest)) = name.split_once(".status-etcdctl-") {
        let (_, fmt) = rest.rsplit_once('.')?;
        (
            Kind::StatusEtcdctl { fmt: fmt.into() },
            input.to_string(),
            false,
        )
    } else if let Some(p) = name.strip_suffix("endpoint-status.json") {
        (
            Kind::EndpointStatus,
            p.trim_end_matches('.').to_string(),
            true,
        )
    } else if let Some(p) =
        name.strip_suffix(".hash.json")
            .or(if name == "hash.json" { Some("") } else { None })
    {
        (Kind::Hash, p.to_string(), false)
    } else if let Some((p, _)) = name
        .split_once(".hashkv")
        .filter(|(p, _)| *p == "db" || p.ends_with(".db"))
    {
        (Kind::EtcdutlHashKv, p.to_string(), false)
    } else if let Some((p, rest)) = name.split_once("hashkv") {
        let rest = rest.strip_suffix(".json")?;
        let rev = match rest {
            "" => None,
            r => Some(r.strip_prefix("-rev")?.parse().ok()?),
        };
        (
            Kind::HashKv { rev },
            p.trim_end_matches('.').to_string(),
            true,
        )
    } else if let Some(p) = name.strip_suffix("member-list.json") {
        // No prefix: the whole cluster's member dirs.
        let p = p.trim_end_matches('.');
        let prefix = if p.is_empty() { "*" } else { p };
        (Kind::MemberList, prefix.to_string(), true)
    } else if let Some(p) = name.strip_suffix("get-all.json") {
        (Kind::GetAll, p.trim_end_matches('.').to_string(), true)
    } else if name.starts_with("v2-") && name.ends_with(".txt") {
        // The only member (v2 store).
        (Kind::Other, String::new(), true)
    } else {
        return None;
    };
    let (inputs, problem) = match inputs_for(scenario, &prefix, want_dir) {
        Ok(v) => (v, None),
        Err(e) => (Vec::new(), Some(e)),
    };
    Some(Golden {
        scenario: scenario.to_path_buf(),
        path: scenario.join("expected").join(name),
        kind,
        inputs,
        problem,
    })
}

/// Every golden of the [`COMPARED`] version dirs of kind `want`, with at
/// least one; each has its inputs (the orphan test checks that).
pub fn goldens(want: impl Fn(&Kind) -> bool) -> Vec<Golden> {
    let mut out = Vec::new();
    for (version, scenario) in util::scenarios() {
        if !COMPARED.contains(&version.as_str()) {
            continue;
        }
        let Ok(rd) = std::fs::read_dir(scenario.join("expected")) else {
            continue;
        };
        let mut names: Vec<String> = rd
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        for name in names {
            if let Some(g) = classify(&scenario, &name) {
                if want(&g.kind) {
                    assert!(g.problem.is_none(), "{}: {:?}", g.path.display(), g.problem);
                    out.push(g);
                }
            }
        }
    }
    assert!(
        !out.is_empty(),
        "no goldens of this kind under {}",
        util::testdata().display()
    );
    out
}

/// Path of `p` relative to its scenario dir (the key prefix the manifest uses).
fn rel(scenario: &Path, p: &Path) -> String {
    p.strip_prefix(scenario)
        .unwrap()
        .to_string_lossy()
        .into_owned()
}

#[test]
fn golden_every_file_is_read_by_a_test() {
    let mut problems = Vec::new();
    let mut seen = 0;
    for (version, scenario) in util::scenarios() {
        if let Some((_, why)) = PENDING.iter().find(|(p, _)| version.starts_with(p)) {
            eprintln!("not compared: {} ({why})", scenario.display());
            continue;
        }
        if !COMPARED.contains(&version.as_str()) {
            problems.push(format!(
                "{}: version dir {version} is neither compared nor pending (golden.rs COMPARED/PENDING)",
                scenario.display()
            ));
            continue;
        }
        let sname = scenario.file_name().unwrap().to_string_lossy().into_owned();
        let mut status_inputs = std::collections::BTreeSet::new();
        let rd = std::fs::read_dir(scenario.join("expected"))
            .unwrap_or_else(|e| panic!("{}/expected: {e}", scenario.display()));
        for e in rd {
            let name = e.unwrap().file_name().to_string_lossy().into_owned();
            seen += 1;
            let Some(g) = classify(&scenario, &name) else {
                problems.push(format!(
                    "{}/expected/{name}: no rule knows this golden",
                    scenario.display()
                ));
                continue;
            };
            if let Some(p) = &g.problem {
                problems.push(format!("{}: {p}", g.path.display()));
            }
            match &g.kind {
                Kind::Status { .. } => status_inputs.extend(g.inputs.iter().cloned()),
                Kind::StatusEtcdctl { .. }
                | Kind::HashKv { .. }
                | Kind::Hash
                | Kind::EtcdutlHashKv
                | Kind::MemberList
                | Kind::GetAll => {}
                Kind::EndpointStatus => {
                    // snapshot scenarios: golden_space_and_inspect_equal_live_endpoint_status;
                    // member dirs: golden_inspect_equals_endpoint_status
                }
                Kind::Other => {
                    let read = ELSEWHERE.iter().any(|(v, s, n, _)| {
                        *v == version
                            && *s == sname
                            && (*n == name
                                || n.split_once('*')
                                    .is_some_and(|(a, b)| name.starts_with(a) && name.ends_with(b)))
                    });
                    if !read {
                        problems.push(format!(
                            "{}: no test reads it (add one, and a row to golden.rs ELSEWHERE)",
                            g.path.display()
                        ));
                    }
                }
            }
        }
        // Every db made by etcd has etcdutl's status goldens.
        let mut dbs: Vec<PathBuf> = ["snapshot.db", "raw.db"]
            .iter()
            .map(|f| scenario.join(f))
            .filter(|p| p.is_file())
            .collect();
        dbs.extend(members(&scenario).iter().map(|m| m.join("member/snap/db")));
        for db in dbs {
            if !status_inputs.contains(&db) {
                problems.push(format!("{}: input with no status golden", db.display()));
            }
        }
    }
    assert!(seen > 0, "no goldens under {}", util::testdata().display());
    assert!(
        problems.is_empty(),
        "{} problem(s):\n{}",
        problems.len(),
        problems.join("\n")
    );
}

/// `snapshot status -w <fmt>` equals etcdutl's (and 3.4 etcdctl's) stdout,
/// byte for byte, for every db file etcd wrote, in every format.
#[test]
fn golden_status_equals_etcdutl() {
    // 3.6/3.7 status goldens depend on the etcdutl that printed them (its
    // table style, its TOTAL KEYS rule): tests/v3x_read.rs compares them with
    // `--compat` of that etcdutl.
    let cases: Vec<Golden> =
        goldens(|k| matches!(k, Kind::Status { .. } | Kind::StatusEtcdctl { .. }))
            .into_iter()
            .filter(|g| {
                !V3X_READ
                    .iter()
                    .any(|v| g.scenario.parent().is_some_and(|p| p.ends_with(v)))
            })
            .collect();
    let mut failures = Vec::new();
    for g in &cases {
        let (Kind::Status { fmt } | Kind::StatusEtcdctl { fmt }) = &g.kind else {
            unreachable!()
        };
        let want = std::fs::read_to_string(&g.path).unwrap();
        for input in &g.inputs {
            let guard = InputGuard::new(&[input]);
            let r = run(&[
                "snapshot".as_ref(),
                "status".as_ref(),
                input.as_os_str(),
                "-w".as_ref(),
                fmt.as_ref(),
            ]);
            guard.check();
            if r.code != 0 || r.stdout != want {
                failures.push(format!("{}\n{r}\n--- want ---\n{want}", g.path.display()));
            }
        }
    }
    eprintln!("{} status goldens compared", cases.len());
    assert!(
        failures.is_empty(),
        "{} of {} differ:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

/// (hash, compact revision, header revision) of `etcdctl endpoint hashkv -w json`.
fn parse_hashkv(path: &Path) -> (u32, i64, i64) {
    let v = json_file(path);
    let h = &v[0]["HashKV"];
    (
        u32::try_from(h["hash"].as_u64().unwrap()).unwrap(),
        h["compact_revision"].as_i64().unwrap(),
        h["header"]["revision"].as_i64().unwrap(),
    )
}

fn json_file(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn run_json<S: AsRef<std::ffi::OsStr>>(args: &[S], code: i32) -> Value {
    let r = run(args);
    r.expect_code(code);
    serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("{e}\n{r}"))
}

/// `hashkv` equals the live server's `endpoint hashkv` for every db and data
/// dir etcd left (both tombstone rules agree on these files). A data dir whose
/// db is behind its WAL (wal-ahead) is hashed at the db's revision; the live
/// value's revision must then be the one a WAL replay reaches.
/// Whether `hashkv` of `input` hashes at the live golden's revision (not a
/// db behind its WAL).
fn got_is_live(input: &Path, header_rev: i64, rev: Option<i64>) -> bool {
    if rev.is_some() {
        return true;
    }
    let v = run_json(
        &[
            "hashkv".as_ref(),
            input.as_os_str(),
            "-w".as_ref(),
            "json".as_ref(),
        ],
        0,
    );
    v["hashRevision"] == header_rev
}

#[test]
fn golden_hashkv_equals_live() {
    let cases = goldens(|k| matches!(k, Kind::HashKv { .. }));
    for g in &cases {
        let Kind::HashKv { rev } = g.kind else {
            unreachable!()
        };
        let (hash, compact, header_rev) = parse_hashkv(&g.path);
        for input in &g.inputs {
            let guard = InputGuard::new(&[input]);
            for rule in ["auto", "legacy"] {
                let mut args: Vec<String> = vec![
                    "hashkv".into(),
                    input.display().to_string(),
                    "-w".into(),
                    "json".into(),
                ];
                if let Some(r) = rev {
                    args.extend(["--rev".into(), r.to_string()]);
                }
                args.extend(["--tombstone-rule".into(), rule.into()]);
                let got = run_json(&args, 0);
                let at = rev.unwrap_or(header_rev);
                if rev.is_none() && got["hashRevision"] != at {
                    // The db is behind the live server: only the WAL has the rest.
                    let committed = util::manifest_u64(&g.scenario, "committed_revision");
                    assert_eq!(got["hashRevision"], committed, "{}", g.path.display());
                    let insp = run_json(
                        &[
                            "inspect".as_ref(),
                            input.as_os_str(),
                            "-w".as_ref(),
                            "json".as_ref(),
                        ],
                        0,
                    );
                    let st = json_file(&g.scenario.join("expected/live.endpoint-status.json"));
                    assert_replay_reaches(&insp, &st[0]["Status"], &g.path.display().to_string());
                    continue;
                }
                assert_eq!(
                    (
                        got["hash"].as_u64(),
                        got["hashRevision"].as_i64(),
                        got["compactRevision"].as_i64()
                    ),
                    (Some(u64::from(hash)), Some(at), Some(compact)),
                    "{} vs {} ({rule})",
                    input.display(),
                    g.path.display()
                );
            }
            if got_is_live(input, header_rev, rev) {
                // The default output (`-w simple`) and the table carry the same figures.
                let at = rev.unwrap_or(header_rev);
                let mut args: Vec<String> = vec!["hashkv".into(), input.display().to_string()];
                if let Some(r) = rev {
                    args.extend(["--rev".into(), r.to_string()]);
                }
                let r = run(&args);
                r.expect_code(0);
                assert_eq!(r.stdout, format!("{hash}, {at}, {compact}\n"), "{r}");
                args.extend(["-w".into(), "table".into()]);
                let r = run(&args);
                r.expect_code(0);
                let row = r.stdout.lines().nth(3).unwrap_or_default();
                let cells: Vec<&str> = row
                    .split(['|', '│'])
                    .map(str::trim)
                    .filter(|c| !c.is_empty())
                    .collect();
                assert_eq!(
                    cells,
                    [hash.to_string(), at.to_string(), compact.to_string()],
                    "{r}"
                );
                assert!(
                    r.stdout.contains("| HASH |") || r.stdout.contains("HASH REVISION"),
                    "{r}"
                );
            }
            guard.check();
        }
    }
}

/// etcd's `Maintenance.Hash` (`backend.Hash` with the default ignores): CRC-32C
/// over every bucket's name, then each key and value in order, leaving out
/// `meta/consistent_index` and `meta/term` (and, from 3.6 on,
/// `meta/storageVersion`: `schema.DefaultIgnores`). Computed here with the library's
/// bbolt cursor, this checks that the reader returns every pair of every
/// bucket exactly as bbolt does.
fn maintenance_hash(db_file: &Path) -> u32 {
    let bytes = std::fs::read(db_file).unwrap();
    let db = Db::open(&bytes).unwrap();
    let mut crc = 0u32;
    for top in db.root_bucket().cursor(&db) {
        let top = top.unwrap();
        crc = crc32c::crc32c_append(crc, top.key);
        let b = Bucket::from_value(top.key, top.value).unwrap();
        for e in b.cursor(&db) {
            let e = e.unwrap();
            if top.key == b"meta"
                && matches!(e.key, b"consistent_index" | b"term" | b"storageVersion")
            {
                continue;
            }
            crc = crc32c::crc32c_append(crc, e.key);
            crc = crc32c::crc32c_append(crc, e.value);
        }
    }
    crc
}

#[test]
fn golden_hash_equals_live_maintenance_hash() {
    let cases = goldens(|k| *k == Kind::Hash);
    for g in &cases {
        let want = json_file(&g.path)["hash"].as_u64().unwrap();
        for input in &g.inputs {
            assert_eq!(
                u64::from(maintenance_hash(input)),
                want,
                "{} vs {}",
                input.display(),
                g.path.display()
            );
        }
    }
}

/// For the snapshot scenarios (one server, then `snapshot save` and a copy of
/// its db after a clean stop): `space` reports the server's `dbSize` and
/// `inspect` its revision, member and cluster.
#[test]
fn golden_space_and_inspect_equal_live_endpoint_status() {
    let cases = goldens(|k| *k == Kind::EndpointStatus);
    let mut n = 0;
    for g in cases
        .iter()
        .filter(|g| g.inputs.iter().all(|p| p.is_file()))
    {
        let st = &json_file(&g.path)[0]["Status"];
        for input in &g.inputs {
            let space = run_json(
                &[
                    "space".as_ref(),
                    input.as_os_str(),
                    "-w".as_ref(),
                    "json".as_ref(),
                ],
                0,
            );
            // The db size is the file's high-water mark (tx size) as the
            // Python reader recorded it; the raw db is the server's own file,
            // which only grows (3.4 commits once more when it stops), never
            // shrinks without a defrag. `snapshot save` writes a compact copy.
            let key = rel(&g.scenario, input);
            assert_eq!(
                space["db_size"],
                util::manifest_u64(&g.scenario, &format!("{key}.tx_size")),
                "{}",
                input.display()
            );
            if input.ends_with("raw.db") {
                assert!(
                    space["db_size"].as_u64() >= st["dbSize"].as_u64(),
                    "{}: {space} vs {st}",
                    input.display()
                );
            }
            assert_eq!(
                space["revisions"]["current"],
                st["header"]["revision"],
                "{}",
                input.display()
            );
            let insp = run_json(
                &[
                    "inspect".as_ref(),
                    input.as_os_str(),
                    "-w".as_ref(),
                    "json".as_ref(),
                ],
                0,
            );
            // inspect's status figures are etcdutl's (revision 0 for an empty
            // store, where the server says 1), recorded in the manifest.
            assert_eq!(
                insp["db"]["status"]["revision"],
                util::manifest_u64(&g.scenario, &format!("{key}.status.revision")),
                "{}",
                input.display()
            );
            n += 1;
        }
    }
    assert!(n > 0, "no snapshot scenario has live.endpoint-status.json");
}

/// Facts of the `key` bucket's B+tree, walked with the library's page reader:
/// (depth, entries, branch pages, leaf pages, pages, overflowed pages, overflow pages),
/// as scripts/etcd_testdata.py (an independent Python reader) names them.
fn key_tree_stats(db: &Db<'_>) -> Option<[u64; 7]> {
    let root = match db.bucket(b"key").unwrap().unwrap().root {
        BucketRoot::Paged(id) => id,
        BucketRoot::Inline(_) => return None,
    };
    let mut s = [0u64; 7];
    let mut stack = vec![(root, 1u64)];
    while let Some((id, depth)) = stack.pop() {
        let p = db.page(id).unwrap();
        let overflow = u64::from(p.header.overflow);
        s[4] += 1 + overflow;
        if overflow > 0 {
            s[5] += 1;
            s[6] += overflow;
        }
        s[0] = s[0].max(depth);
        if p.header.is_branch() {
            s[2] += 1;
            for e in p.branch_elements() {
                stack.push((e.unwrap().child, depth + 1));
            }
        } else {
            assert!(p.header.is_leaf(), "page {id}");
            s[3] += 1;
            s[1] += p.count() as u64;
        }
    }
    Some(s)
}

/// Exact facts recorded by make-testdata.sh from the files (page size, meta,
/// consistent index and term, the `key` bucket's tree) and from the live
/// server (live key count), against what we read: no thresholds.
#[test]
fn golden_db_facts_equal_the_manifest() {
    let mut n = 0;
    for (version, scenario) in util::scenarios() {
        if !COMPARED.contains(&version.as_str()) {
            continue;
        }
        let mut dbs: Vec<PathBuf> = ["snapshot.db", "raw.db"]
            .iter()
            .map(|f| scenario.join(f))
            .filter(|p| p.is_file())
            .collect();
        dbs.extend(members(&scenario).iter().map(|m| m.join("member/snap/db")));
        for db_file in dbs {
            let key = rel(&scenario, &db_file);
            let m = |k: &str| util::manifest_u64(&scenario, &format!("{key}.{k}"));
            let bytes = std::fs::read(&db_file).unwrap();
            let db = Db::open(&bytes).unwrap();
            let what = db_file.display();
            assert_eq!(u64::from(db.page_size()), m("page_size"), "{what}");
            assert_eq!(db.meta().txid, m("meta_txid"), "{what}");
            assert_eq!(db.meta().pgid, m("high_water_pgid"), "{what}");
            assert_eq!(bytes.len() as u64, m("file_size"), "{what}");
            let meta = db.bucket(b"meta").unwrap().unwrap();
            let be = |k: &[u8]| {
                let v = meta.get(&db, k).unwrap().unwrap().value;
                u64::from_be_bytes(v.try_into().unwrap())
            };
            assert_eq!(
                be(b"consistent_index"),
                m("meta_consistent_index"),
                "{what}"
            );
            if util::manifest_field(&scenario, &format!("{key}.meta_term")).is_some() {
                assert_eq!(be(b"term"), m("meta_term"), "{what}");
            } else {
                assert!(
                    meta.get(&db, b"term").unwrap().is_none(),
                    "{what}: 3.4 writes no term"
                );
            }
            let names = [
                "depth",
                "entries",
                "branch_nodes",
                "leaf_nodes",
                "pages",
                "overflowed_nodes",
                "overflow_pages",
            ];
            match key_tree_stats(&db) {
                Some(got) => {
                    for (i, name) in names.iter().enumerate() {
                        assert_eq!(got[i], m(&format!("bucket_key_{name}")), "{what}: {name}");
                    }
                }
                None => {
                    // An inline `key` bucket (the empty scenario): its entry count.
                    assert_eq!(m("bucket_key_inline"), 1, "{what}");
                    let key = db.bucket(b"key").unwrap().unwrap();
                    assert_eq!(
                        key.cursor(&db).count() as u64,
                        m("bucket_key_entries"),
                        "{what}"
                    );
                }
            }
            // Live keys: the server's `etcdctl get "" --from-key` count (the
            // snapshot scenarios record it; a compacted key space is the same).
            if let Some(live) = util::manifest_field(&scenario, "live_keys") {
                let r = run(&[
                    "keys".as_ref(),
                    db_file.as_os_str(),
                    "-w".as_ref(),
                    "json".as_ref(),
                ]);
                r.expect_code(0);
                assert_eq!(r.stdout.lines().count().to_string(), live, "{what}");
            }
            n += 1;
        }
    }
    assert!(n > 0, "no dbs under {}", util::testdata().display());
}

fn hex_id(v: &Value) -> String {
    format!("{:016x}", v.as_u64().unwrap())
}

/// For every member data dir etcd left: `inspect` reads the member and
/// cluster IDs, the term and the revision the live server reported in
/// `etcdctl endpoint status` (the revision after replaying the committed
/// WAL; for `committed.*` goldens, taken once the db had caught up, the db's
/// own revision).
#[test]
fn golden_inspect_equals_endpoint_status() {
    let cases = goldens(|k| *k == Kind::EndpointStatus);
    let mut n = 0;
    for g in cases.iter().filter(|g| g.inputs.iter().all(|p| p.is_dir())) {
        let st = &json_file(&g.path)[0]["Status"];
        let committed = g
            .path
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("committed.");
        for input in &g.inputs {
            let guard = InputGuard::new(&[input]);
            let r = run_json(
                &[
                    "inspect".as_ref(),
                    input.as_os_str(),
                    "-w".as_ref(),
                    "json".as_ref(),
                ],
                0,
            );
            guard.check();
            let what = format!("{} vs {}", input.display(), g.path.display());
            assert_eq!(
                r["identity"]["member_id"],
                hex_id(&st["header"]["member_id"]),
                "{what}"
            );
            assert_eq!(
                r["identity"]["cluster_id"],
                hex_id(&st["header"]["cluster_id"]),
                "{what}"
            );
            assert_eq!(r["raft"]["hard_state"]["term"], st["raftTerm"], "{what}");
            if committed {
                assert_eq!(
                    r["db"]["status"]["revision"], st["header"]["revision"],
                    "{what}"
                );
            } else {
                assert_replay_reaches(&r, st, &what);
            }
            n += 1;
        }
    }
    assert!(n > 0, "no member-dir endpoint status golden");
}

/// `etcdctl member list -w json` of the live cluster equals the members
/// `inspect` reads from the db's `members` bucket of every member dir (or
/// saved snapshot): IDs, names, peer and client URLs.
#[test]
fn golden_db_members_equal_member_list() {
    let cases = goldens(|k| *k == Kind::MemberList);
    let mut n = 0;
    for g in &cases {
        let ml = json_file(&g.path);
        let urls = |v: &Value| -> Vec<String> {
            let mut u: Vec<String> = v
                .as_array()
                .map(|a| a.iter().map(|x| x.as_str().unwrap().to_string()).collect())
                .unwrap_or_default();
            u.sort();
            u
        };
        let mut want: Vec<(String, String, Vec<String>, Vec<String>)> = ml["members"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| {
                (
                    hex_id(&m["ID"]),
                    m["name"].as_str().unwrap_or_default().to_string(),
                    urls(&m["peerURLs"]),
                    urls(&m["clientURLs"]),
                )
            })
            .collect();
        want.sort();
        for input in &g.inputs {
            let r = run_json(
                &[
                    "inspect".as_ref(),
                    input.as_os_str(),
                    "-w".as_ref(),
                    "json".as_ref(),
                ],
                0,
            );
            // Names and peer URLs are in the db's members bucket; client URLs
            // come with the member's attributes, which etcd 3.4/3.5 apply to
            // the v2 store (the `.snap` plus the WAL, or the whole WAL when
            // there is no `.snap`) and only 3.6+ keeps in the db: take them
            // from there when a member dir is read.
            let v2 = &r["membership"]["snap_plus_wal"]["members"];
            let attrs = if v2.is_array() {
                v2
            } else {
                &r["membership"]["wal"]["members"]
            };
            let client_urls = |id: &str, db: &Value| -> Vec<String> {
                let from_db = urls(db);
                if !from_db.is_empty() {
                    return from_db;
                }
                attrs
                    .as_array()
                    .and_then(|a| a.iter().find(|m| m["member_id"] == id))
                    .map(|m| urls(&m["client_urls"]))
                    .unwrap_or_default()
            };
            let mut got: Vec<(String, String, Vec<String>, Vec<String>)> = r["membership"]["db"]
                ["members"]
                .as_array()
                .unwrap_or_else(|| panic!("{}: no db members in {r}", input.display()))
                .iter()
                .map(|m| {
                    (
                        m["member_id"].as_str().unwrap().to_string(),
                        m["name"].as_str().unwrap_or_default().to_string(),
                        urls(&m["peer_urls"]),
                        client_urls(m["member_id"].as_str().unwrap(), &m["client_urls"]),
                    )
                })
                .collect();
            got.sort();
            assert_eq!(got, want, "{} vs {}", input.display(), g.path.display());
            n += 1;
        }
    }
    assert!(n > 0);
}

/// key, create revision, mod revision, version, lease, value.
type LiveKv = (Vec<u8>, i64, i64, i64, i64, Vec<u8>);

/// `etcdctl get "" --prefix -w json` of the live server equals `keys -w json`
/// on the files it left: every key, value, create/mod revision, version and
/// lease, and the revision.
#[test]
fn golden_keys_equal_live_get_all() {
    let b64 = crate::cmd_keys::b64decode;
    let cases = goldens(|k| *k == Kind::GetAll);
    let mut n = 0;
    for g in &cases {
        let live = json_file(&g.path);
        let want: Vec<LiveKv> = live["kvs"]
            .as_array()
            .map(|a| a.as_slice())
            .unwrap_or_default()
            .iter()
            .map(|kv| {
                let dec = |f: &str| b64(kv[f].as_str().unwrap_or_default());
                let num = |f: &str| kv[f].as_i64().unwrap_or(0);
                (
                    dec("key"),
                    num("create_revision"),
                    num("mod_revision"),
                    num("version"),
                    num("lease"),
                    dec("value"),
                )
            })
            .collect();
        for input in &g.inputs {
            let guard = InputGuard::new(&[input]);
            let r = run(&[
                "keys".as_ref(),
                input.as_os_str(),
                "-w".as_ref(),
                "json".as_ref(),
            ]);
            r.expect_code(0);
            let got: Vec<LiveKv> = r
                .stdout
                .lines()
                .map(|l| {
                    let kv: Value = serde_json::from_str(l).unwrap();
                    let bytes = |text: &str, b: &str| match kv[text].as_str() {
                        Some(t) => t.as_bytes().to_vec(),
                        None => b64(kv[b].as_str().unwrap()),
                    };
                    (
                        bytes("key", "key_base64"),
                        kv["create_revision"].as_i64().unwrap(),
                        kv["mod_revision"].as_i64().unwrap(),
                        kv["version"].as_i64().unwrap(),
                        kv["lease"].as_i64().unwrap(),
                        bytes("value", "value_base64"),
                    )
                })
                .collect();
            guard.check();
            assert_eq!(
                got.len(),
                want.len(),
                "{} vs {}",
                input.display(),
                g.path.display()
            );
            assert!(
                got == want,
                "{} vs {}: contents differ",
                input.display(),
                g.path.display()
            );
            let st = run_json(
                &[
                    "hashkv".as_ref(),
                    input.as_os_str(),
                    "-w".as_ref(),
                    "json".as_ref(),
                ],
                0,
            );
            assert_eq!(
                st["hashRevision"],
                live["header"]["revision"],
                "{} vs {}",
                input.display(),
                g.path.display()
            );
            n += 1;
        }
    }
    assert!(n > 0);
}

/// The revision a replay of the committed WAL reaches equals the live
/// server's. Where the server was killed before it persisted the commit of
/// its last entries (the WAL's HardState.commit below the live raftIndex),
/// those entries are not committed on disk: the replay stops short of the
/// live revision by at most one revision per such entry (a single member
/// commits them again when it restarts normally; `--force-new-cluster`
/// drops them).
#[track_caller]
fn assert_replay_reaches(insp: &Value, live: &Value, what: &str) {
    let replayed = insp["wal_db"]["revision_after_replay"].as_i64().unwrap();
    let live_rev = live["header"]["revision"].as_i64().unwrap();
    let commit = insp["raft"]["hard_state"]["commit"].as_i64().unwrap();
    let live_index = live["raftIndex"].as_i64().unwrap();
    if commit >= live_index {
        assert_eq!(replayed, live_rev, "{what}");
    } else {
        let pending = live_index - commit;
        assert!(
            replayed <= live_rev && live_rev <= replayed + pending,
            "{what}: replay reaches {replayed}, live {live_rev}, {pending} entries past the commit"
        );
        assert_eq!(
            insp["raft"]["uncommitted"].as_i64(),
            Some(pending),
            "{what}: the entries past the commit are reported as uncommitted"
        );
    }
}
