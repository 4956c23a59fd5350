//! `snapshot restore`: etcdutl's restore, for one member or for every member of
//! the cluster in one run.
//!
//! Order of work (nothing is written before step 4):
//! 1. Flags: the bump pair, the cluster (`--initial-cluster`, token), `--name`
//!    in it with its advertised peer URLs, targets empty or absent.
//! 2. The input, mapped read-only: the bbolt structure and etcd schema checked
//!    as `check` does, while another thread hashes it for the sha256 trailer.
//! 3. The trailer judged as etcdutl judges it (`size % 512 == 32`), with errors
//!    that say what the file is.
//! 4. Per target, a temporary dir beside it (`.<name>.restore-<pid>`) gets
//!    `member/snap/db` (a kernel-side copy of the source's pages patched
//!    copy-on-write, or a streaming rewrite for layouts the patch does not
//!    handle; copied for further members),
//!    the `.snap` and the WAL; files are fsynced; then every temporary dir is
//!    renamed to its target. On any failure every temporary dir is removed.

use std::fs::File;
use std::io::BufWriter;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::bytes::{hex, to_u64};
use crate::error::{Error, ErrorKind, Result, Severity};
use crate::etcd::member::Cluster;
use crate::etcd::restore::{
    patch_db, rewrite_db_over, snap_file_for, wal_frames_for, DbRewrite, OutputVersion, Overlay,
};
use crate::etcd::urls::parse_urls;
use crate::formats::bbolt::Db;
use crate::formats::trailer::Trailer;
use crate::ops::check::{check_bytes, CheckOptions};
use crate::sink::{
    create_dirs, create_file, sync_dir, write_file, write_segment_in, EarlySync, NewDir,
};
use crate::source::Source;

/// etcdutl's default `--name`.
pub const DEFAULT_NAME: &str = "default";
/// etcdutl's default `--initial-advertise-peer-urls`.
pub const DEFAULT_PEER_URL: &str = "http://localhost:2380";
/// etcdutl's default `--initial-cluster`.
pub const DEFAULT_INITIAL_CLUSTER: &str = "default=http://localhost:2380";
/// Name of the only WAL file restore writes.
pub const WAL_NAME: &str = "0000000000000000-0000000000000000.wal";

/// Buffer of the db writer.
const WRITE_BUF: usize = 4 << 20;
/// Findings shown when a damaged input is refused.
const SHOWN_FINDINGS: usize = 5;

/// What to restore where.
#[derive(Debug, Clone)]
pub struct RestoreOptions {
    /// The snapshot (or raw db with `skip_hash_check`), or a data dir or
    /// member dir: then its db with its committed WAL entries applied.
    pub snapshot: PathBuf,
    /// More member dirs to choose from (the best one is restored).
    pub more_inputs: Vec<PathBuf>,
    /// `--name`.
    pub name: String,
    /// `--initial-cluster`.
    pub initial_cluster: String,
    /// Whether `--initial-cluster` was given (not its default): `--out-dir`
    /// needs it, or it would restore one member named `default`.
    pub initial_cluster_given: bool,
    /// `--initial-cluster-token`.
    pub token: String,
    /// `--initial-advertise-peer-urls`, split on ",".
    pub advertise_peer_urls: Vec<String>,
    /// `--data-dir` (default `<name>.etcd`).
    pub data_dir: Option<PathBuf>,
    /// `--wal-dir` (default `<data-dir>/member/wal`).
    pub wal_dir: Option<PathBuf>,
    /// `--out-dir`: write `<out-dir>/<name>.etcd` for every member instead.
    pub out_dir: Option<PathBuf>,
    /// `--skip-hash-check`.
    pub skip_hash_check: bool,
    /// `--bump-revision`.
    pub bump_revision: u64,
    /// `--mark-compacted`.
    pub mark_compacted: bool,
    /// `--output-version`: whose etcdutl output to write (default: the
    /// snapshot's storage version).
    pub output_version: Option<OutputVersion>,
}

impl Default for RestoreOptions {
    fn default() -> Self {
        RestoreOptions {
            snapshot: PathBuf::new(),
            more_inputs: Vec::new(),
            name: DEFAULT_NAME.into(),
            initial_cluster: DEFAULT_INITIAL_CLUSTER.into(),
            initial_cluster_given: false,
            token: crate::etcd::member::DEFAULT_TOKEN.into(),
            advertise_peer_urls: vec![DEFAULT_PEER_URL.into()],
            data_dir: None,
            wal_dir: None,
            out_dir: None,
            skip_hash_check: false,
            bump_revision: 0,
            mark_compacted: false,
            output_version: None,
        }
    }
}

/// One member's restored data dir.
#[derive(Debug, Clone, Serialize)]
pub struct RestoredMember {
    /// Member name.
    pub name: String,
    /// Member id (decimal in JSON, as etcd prints it).
    pub id: u64,
    /// Member id, hex as `etcdctl member list` prints it.
    pub id_hex: String,
    /// Peer URLs.
    pub peer_urls: Vec<String>,
    /// Data dir written.
    pub data_dir: PathBuf,
    /// WAL dir written.
    pub wal_dir: PathBuf,
}

/// How the sha256 trailer was handled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum HashCheck {
    /// Present and equal to the sha256 of the db bytes.
    Verified,
    /// Present; not verified (`--skip-hash-check`).
    Skipped,
    /// Absent; accepted because of `--skip-hash-check`.
    Absent,
    /// A data dir's db: it has no trailer to check.
    DataDir,
}

/// What `snapshot restore` did.
#[derive(Debug, Clone, Serialize)]
pub struct RestoreReport {
    /// The input.
    pub snapshot: PathBuf,
    /// Trailer handling.
    pub hash_check: HashCheck,
    /// sha256 of the db bytes (hex), when computed.
    pub sha256: Option<String>,
    /// Cluster id (decimal).
    pub cluster_id: u64,
    /// Cluster id, hex.
    pub cluster_id_hex: String,
    /// Every member written, in id order.
    pub members: Vec<RestoredMember>,
    /// Db rewrite figures (revision, bump, consistent index, pages).
    pub db: DbRewrite,
    /// Whose etcdutl output was written, and why.
    pub output: OutputChoice,
    /// From a data dir: what the WAL replay did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replay: Option<super::dir_restore::WalReplay>,
}

/// The etcdutl version whose restore output was reproduced.
#[derive(Debug, Clone, Serialize)]
pub struct OutputChoice {
    /// "3.5", "3.6" or "3.7".
    pub version: OutputVersion,
    /// The snapshot's `meta/storageVersion` ("" when absent: 3.5 or older).
    pub storage_version: String,
    /// Forced by `--output-version`.
    pub forced: bool,
}

/// Chooses the output from the snapshot's storage version unless forced.
/// etcd 3.6+ starts on 3.5-format output (its normal upgrade path), so
/// forcing a newer format is always allowed; see [`refuse_downgrade`] for
/// an older one.
fn choose_output(o: &RestoreOptions, db: &Db<'_>) -> Result<OutputChoice> {
    let stored = crate::etcd::status::storage_version(db)?;
    let from_db = OutputVersion::from_storage_version(stored.as_ref());
    let storage_version = stored.map(|v| v.to_string()).unwrap_or_default();
    let choice = OutputChoice {
        version: o.output_version.unwrap_or(from_db),
        storage_version,
        forced: o.output_version.is_some(),
    };
    refuse_downgrade(&o.snapshot, &choice, from_db)?;
    Ok(choice)
}

/// One data dir to write.
pub(super) struct Target {
    name: String,
    data_dir: PathBuf,
    /// Explicit `--wal-dir`, written beside the data dir.
    wal_dir: Option<PathBuf>,
    /// The data dir existed (empty) before the restore.
    existed_empty: bool,
}

fn usage(msg: String) -> Error {
    Error::new(ErrorKind::Usage(msg))
}

/// The `--initial-cluster` entries as given: names repeated by mistake and
/// peer URLs without a scheme are refused with the entries that offend.
/// etcd reads a repeated name as one member with several peer URLs; that is
/// kept only where it is evidently meant: for the member being restored when
/// `--initial-advertise-peer-urls` lists the same URLs.
fn check_initial_cluster_entries(o: &RestoreOptions) -> Result<()> {
    let entries: Vec<(&str, &str)> = o
        .initial_cluster
        .split(',')
        .filter(|e| !e.is_empty())
        .map(|e| e.split_once('=').unwrap_or((e, "")))
        .collect();
    for (name, url) in &entries {
        let url = url.trim();
        if !url.is_empty() && !url.contains("://") {
            return Err(usage(format!(
                "--initial-cluster entry {name}={url}: the peer URL has no scheme; add http:// or https:// ({name}=https://{url} if the peers use TLS, {name}=http://{url} if not)"
            )));
        }
    }
    for (i, (name, url)) in entries.iter().enumerate() {
        let url = url.trim();
        let dup = entries
            .iter()
            .skip(i.saturating_add(1))
            .find(|(other, u)| other != name && u.trim() == url);
        if let Some((other, _)) = dup {
            return Err(usage(format!(
                "--initial-cluster gives the same peer URL to two members ({name}={url}, {other}={url}); each member needs its own peer URL"
            )));
        }
    }
    let mut names: Vec<&str> = entries.iter().map(|(n, _)| *n).collect();
    names.sort_unstable();
    names.dedup();
    for name in names {
        let same: Vec<String> = entries
            .iter()
            .filter(|(n, _)| *n == name)
            .map(|(n, u)| format!("{n}={u}"))
            .collect();
        if same.len() < 2 {
            continue;
        }
        let meant = o.out_dir.is_none()
            && name == o.name
            && same.len() == o.advertise_peer_urls.len()
            && entries
                .iter()
                .filter(|(n, _)| *n == name)
                .all(|(_, u)| o.advertise_peer_urls.iter().any(|a| a.trim() == u.trim()));
        if !meant {
            return Err(usage(format!(
                "--initial-cluster names member {name:?} {} times ({}); give each member once with its own name (etcd would read this as one member with several peer URLs; for that, restore it with --name {name} and --initial-advertise-peer-urls listing the same URLs)",
                same.len(),
                same.join(", ")
            )));
        }
    }
    Ok(())
}

/// Checks the flags and the cluster; returns the cluster and the targets.
fn plan(o: &RestoreOptions) -> Result<(Cluster, Vec<Target>)> {
    if (o.bump_revision > 0) != o.mark_compacted {
        return Err(usage(
            "--bump-revision and --mark-compacted must be used together (--bump-revision N with N > 0 needs --mark-compacted, and --mark-compacted needs --bump-revision N)".into(),
        ));
    }
    if o.out_dir.is_some() && !o.initial_cluster_given {
        return Err(usage(
            "--out-dir restores every member of --initial-cluster, and no --initial-cluster was given (it would restore a single member named `default`); give every member: --initial-cluster n1=https://10.0.0.1:2380,n2=https://10.0.0.2:2380,...".into(),
        ));
    }
    check_initial_cluster_entries(o)?;
    let cluster = Cluster::from_initial_cluster(&o.initial_cluster, &o.token).map_err(|e| {
        usage(format!(
            "--initial-cluster {:?}: {}",
            o.initial_cluster, e.kind
        ))
    })?;
    if cluster.members.is_empty() {
        return Err(usage("--initial-cluster names no member".into()));
    }
    // No URL may be given to two members (etcd's VerifyBootstrap).
    let mut seen: Vec<(&str, &str)> = Vec::new();
    for m in &cluster.members {
        for u in &m.peer_urls {
            if let Some((other, _)) = seen.iter().find(|(_, s)| *s == u.as_str()) {
                return Err(usage(format!(
                    "--initial-cluster has duplicate URL {u} (members {other} and {})",
                    m.name
                )));
            }
            seen.push((&m.name, u));
        }
    }
    let targets = if let Some(out) = &o.out_dir {
        if o.data_dir.is_some() || o.wal_dir.is_some() {
            return Err(usage(
                "--out-dir writes <out-dir>/<name>.etcd for every member; it cannot be combined with --data-dir or --wal-dir".into(),
            ));
        }
        cluster
            .members
            .iter()
            .map(|m| Target {
                name: m.name.clone(),
                data_dir: out.join(format!("{}.etcd", m.name)),
                wal_dir: None,
                existed_empty: false,
            })
            .collect()
    } else {
        let Some(me) = cluster.member(&o.name) else {
            return Err(usage(format!(
                "--name {:?} is not in --initial-cluster {:?}; give the name this member has there",
                o.name, o.initial_cluster
            )));
        };
        let adv = parse_urls(&o.advertise_peer_urls)
            .map_err(|e| usage(format!("--initial-advertise-peer-urls: {}", e.kind)))?;
        if adv != me.peer_urls {
            return Err(usage(format!(
                "--initial-cluster has {}={} but --initial-advertise-peer-urls is {}; they must be the same URLs",
                me.name,
                me.peer_urls.join(","),
                adv.join(",")
            )));
        }
        vec![Target {
            name: me.name.clone(),
            data_dir: o
                .data_dir
                .clone()
                .unwrap_or_else(|| PathBuf::from(format!("{}.etcd", me.name))),
            wal_dir: o.wal_dir.clone(),
            existed_empty: false,
        }]
    };
    let mut targets = targets;
    for t in &mut targets {
        t.existed_empty = t.data_dir.is_dir();
        if !dir_is_empty_or_absent(&t.data_dir)? {
            return Err(usage(if o.out_dir.is_some() {
                format!(
                    "{} (member {} under --out-dir) is not empty; restore writes only into new or empty dirs (remove it or choose another --out-dir)",
                    t.data_dir.display(),
                    t.name
                )
            } else {
                format!(
                    "data-dir {} is not empty; restore writes only into an empty or new dir (remove it or choose another --data-dir)",
                    t.data_dir.display()
                )
            }));
        }
        if let Some(w) = &t.wal_dir {
            if w.symlink_metadata().is_ok() {
                return Err(usage(format!(
                    "wal-dir {} exists; restore creates it (remove it or choose another --wal-dir)",
                    w.display()
                )));
            }
        }
    }
    Ok((cluster, targets))
}

fn dir_is_empty_or_absent(p: &Path) -> Result<bool> {
    match std::fs::read_dir(p) {
        Ok(mut it) => Ok(it.next().is_none()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(true),
        Err(e) => Err(Error::io("read dir", p, &e)),
    }
}

/// The file's sha256 trailer, split off.
struct TrailerParts<'a> {
    /// Whether the file has one (`size % 512 == 32`).
    present: bool,
    /// The bytes before it (the whole file when absent).
    body: &'a [u8],
    /// The stored digest.
    stored: &'a [u8],
}

fn trailer_parts(data: &[u8]) -> TrailerParts<'_> {
    let body = Trailer::body(data);
    TrailerParts {
        present: body.len() < data.len(),
        body,
        stored: data.get(body.len()..).unwrap_or_default(),
    }
}

/// Refuses a file without a trailer (unless `--skip-hash-check`), saying what
/// the file looks like.
fn judge_absent_trailer(path: &Path, len: u64, sizes: &crate::ops::check::Sizes) -> Error {
    let what = if len < sizes.db {
        format!(
            "it is {len} bytes but its db needs {}: a truncated download or copy; fetch it again",
            sizes.db
        )
    } else if len > sizes.db && len - sizes.db < 32 {
        format!(
            "only {} of the 32 trailer bytes follow the {}-byte db: the download or copy was cut short and its integrity cannot be verified; fetch it again (if it is the only copy, --skip-hash-check restores its db pages, which are all there, without that proof)",
            len - sizes.db,
            sizes.db
        )
    } else if len % u64::from(sizes.page_size) == 0 {
        "it looks like a raw db copy (member/snap/db), not `etcdctl snapshot save` output; if so, use --skip-hash-check".to_string()
    } else {
        format!(
            "its size {len} is not a whole number of pages plus 32: a truncated or damaged download; fetch it again (or use --skip-hash-check to restore it anyway)"
        )
    };
    Error::new(ErrorKind::Refused(format!(
        "snapshot has no sha256 trailer (etcdutl: snapshot missing hash but --skip-hash-check=false): {what}"
    )))
    .in_file(path)
}

/// Compares the computed digest with the stored one.
fn judge_digest(path: &Path, t: &TrailerParts<'_>, digest: &[u8], db_size: u64) -> Result<String> {
    let computed = hex(digest);
    let stored = hex(t.stored);
    if computed == stored {
        return Ok(computed);
    }
    let why = if to_u64(t.body.len()) < db_size {
        "the file was cut short (truncated download or copy)"
    } else {
        "the file was modified or damaged after it was saved"
    };
    Err(Error::new(ErrorKind::Refused(format!(
        "sha256 mismatch: the trailer says {stored}, the db bytes hash to {computed}: {why}; use another backup"
    )))
    .in_file(path))
}

/// Refuses a file whose structure or schema check found errors.
pub(super) fn judge_findings(
    path: &Path,
    checked: &crate::ops::check::CheckResult,
    skip_hash_check: bool,
) -> Result<()> {
    // With --skip-hash-check the user has accepted an unverifiable trailer.
    let waived = |code: &str| skip_hash_check && code == "snapshot.trailer.partial";
    let errors: Vec<_> = checked
        .findings
        .iter()
        .filter(|f| f.severity == Severity::Error && !waived(f.code))
        .collect();
    if errors.is_empty() {
        return Ok(());
    }
    let shown: Vec<String> = errors
        .iter()
        .take(SHOWN_FINDINGS)
        .map(|f| format!("[{}] {}", f.code, f.message))
        .collect();
    // The same verdict and next steps as `check` gives for this file.
    let verdict = if checked.verdict.is_sound() {
        crate::ops::verdict::Verdict::Damaged
    } else {
        checked.verdict
    };
    let next = if checked.next_steps.is_empty() {
        String::new()
    } else {
        format!("; next: {}", checked.next_steps.join("; "))
    };
    Err(Error::new(ErrorKind::Refused(format!(
        "refusing to restore a damaged snapshot (verdict: {}): {} problem(s): {}{}{next} (`etcd-rescue check` lists every problem)",
        verdict.name(),
        errors.len(),
        shown.join("; "),
        if errors.len() > SHOWN_FINDINGS { "; …" } else { "" }
    )))
    .in_file(path))
}

/// Runs the restore.
///
/// The sha256 of the db bytes is computed on its own thread while the
/// structure and schema are checked and, once they are sound, while the output
/// is written into the temporary dirs; the digest is judged before anything
/// is moved into place (etcdutl also copies first and verifies after).
pub fn restore(o: &RestoreOptions) -> Result<RestoreReport> {
    let (cluster, targets) = plan(o)?;
    if o.snapshot.is_dir() || !o.more_inputs.is_empty() {
        return restore_dir(o, &cluster, &targets);
    }
    let src = Source::open(&o.snapshot)?;
    let path = o.snapshot.as_path();
    let data = src.bytes();
    let parts = trailer_parts(data);
    let hash_it = parts.present && !o.skip_hash_check;
    // The hash, the check and the rewrite all read the memory map; the
    // Source's releaser keeps its resident pages (RSS) small meanwhile.
    run_restore_passes(o, &cluster, &targets, &src, path, data, &parts, hash_it)
}

/// The passes of [`restore`] over the mapped snapshot.
#[allow(clippy::too_many_arguments)]
fn run_restore_passes(
    o: &RestoreOptions,
    cluster: &Cluster,
    targets: &[Target],
    src: &Source,
    path: &Path,
    data: &[u8],
    parts: &TrailerParts<'_>,
    hash_it: bool,
) -> Result<RestoreReport> {
    super::beside_sha256(src, parts.body, hash_it, |digest| {
        let ticker = super::WalkTicker::new(src, 0, None);
        let checked = check_bytes(
            data,
            path,
            true,
            &|n| ticker.tick(n),
            CheckOptions {
                verify_trailer: false,
            },
        )?;
        if !parts.present && !o.skip_hash_check {
            return Err(judge_absent_trailer(
                path,
                to_u64(data.len()),
                &checked.sizes,
            ));
        }
        if let Err(e) = judge_findings(path, &checked, o.skip_hash_check) {
            // A bad digest says best what happened to the file.
            if let Some(d) = digest() {
                judge_digest(path, parts, &d, checked.sizes.db)?;
            }
            return Err(e);
        }
        let db = Db::open(data).map_err(|e| e.in_file(path))?;
        let output = choose_output(o, &db).map_err(|e| e.in_file(path))?;
        let (temps, rewrite) = write_temps(o, cluster, targets, &db, output.version, None)?;
        let (hash_check, sha256) = if let Some(d) = digest() {
            let hex = judge_digest(path, parts, &d, checked.sizes.db)?;
            (HashCheck::Verified, Some(hex))
        } else if parts.present {
            (HashCheck::Skipped, None)
        } else {
            (HashCheck::Absent, None)
        };
        let members = commit_temps(cluster, targets, temps)?;
        Ok(RestoreReport {
            snapshot: o.snapshot.clone(),
            hash_check,
            sha256,
            cluster_id: cluster.id,
            cluster_id_hex: format!("{:x}", cluster.id),
            members,
            db: rewrite,
            output,
            replay: None,
        })
    })
}

/// [`restore`] from a data dir or member dir: its db with the committed WAL
/// entries after its consistent index applied (see [`super::dir_restore`]).
fn restore_dir(o: &RestoreOptions, cluster: &Cluster, targets: &[Target]) -> Result<RestoreReport> {
    let r = super::dir_restore::read_and_replay(o)?;
    let db_path = r.report.db.clone();
    let db = Db::open(r.src.bytes()).map_err(|e| e.in_file(&db_path))?;
    let output = choose_output(o, &db).map_err(|e| e.in_file(&db_path))?;
    let from = Some((db_path.as_path(), r.overlay));
    let (temps, rewrite) = write_temps(o, cluster, targets, &db, output.version, from)?;
    if let Some((t, _)) = temps.first() {
        super::dir_restore::check_output(&t.path().join("member").join("snap").join("db"))?;
    }
    let members = commit_temps(cluster, targets, temps)?;
    Ok(RestoreReport {
        snapshot: r.report.input.clone(),
        hash_check: HashCheck::DataDir,
        sha256: None,
        cluster_id: cluster.id,
        cluster_id_hex: format!("{:x}", cluster.id),
        members,
        db: rewrite,
        output,
        replay: Some(r.report),
    })
}

type Temps = Vec<(NewDir, Option<NewDir>)>;

/// Writes every target into its temporary dir(s).
/// Writes the restored db at `db_path` as a kernel-side copy of the source
/// pages (`copy_file_range`, through `std::io::copy`) patched copy-on-write
/// ([`patch_db`]), then fsyncs it. `None`, with `db_path` removed, when the
/// source's layout needs the full rewrite instead.
fn patch_copy(
    o: &RestoreOptions,
    source: &Path,
    db: &Db<'_>,
    cluster: &Cluster,
    db_path: &Path,
) -> Result<Option<DbRewrite>> {
    let len = db.meta().pgid.saturating_mul(u64::from(db.page_size()));
    let mut out = create_file(db_path, 0o600)?;
    let src = File::open(source).map_err(|e| Error::io("open", source, &e))?;
    let copied = std::io::copy(&mut std::io::Read::take(&src, len), &mut out)
        .map_err(|e| Error::io("copy", db_path, &e))?;
    if copied != len {
        return Err(Error::io(
            "copy",
            db_path,
            &std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                format!("the snapshot ended after {copied} of {len} db bytes"),
            ),
        ));
    }
    match patch_db(db, cluster, o.bump_revision, &out).map_err(|e| e.in_file(db_path))? {
        Some(r) => {
            out.sync_all()
                .map_err(|e| Error::io("fsync", db_path, &e))?;
            Ok(Some(r))
        }
        None => {
            drop(out);
            std::fs::remove_file(db_path).map_err(|e| Error::io("remove", db_path, &e))?;
            Ok(None)
        }
    }
}

/// `from`: for a data dir, its db's path and the WAL replay's overlay (the
/// db is then rewritten unless the overlay is empty).
fn write_temps(
    o: &RestoreOptions,
    cluster: &Cluster,
    targets: &[Target],
    db: &Db<'_>,
    version: OutputVersion,
    from: Option<(&Path, Overlay)>,
) -> Result<(Temps, DbRewrite)> {
    let (source, mut overlay) = match from {
        Some((p, ov)) => (p, Some(ov).filter(|ov| !ov.is_empty())),
        None => (o.snapshot.as_path(), None),
    };
    let (snap_name, snap_bytes) = snap_file_for(cluster, version);
    let mut temps: Temps = Vec::new();
    let mut rewrite: Option<DbRewrite> = None;
    let mut first_db: Option<PathBuf> = None;
    for t in targets {
        let tmp = NewDir::beside(&t.data_dir, "restore")?;
        let snap_dir = tmp.path().join("member").join("snap");
        create_dirs(&snap_dir)?;
        let db_path = snap_dir.join("db");
        if let Some(first) = &first_db {
            std::fs::copy(first, &db_path).map_err(|e| Error::io("copy", &db_path, &e))?;
            File::open(&db_path)
                .and_then(|f| f.sync_all())
                .map_err(|e| Error::io("fsync", &db_path, &e))?;
        } else if let Some(r) = match overlay {
            Some(_) => None,
            None => patch_copy(o, source, db, cluster, &db_path)?,
        } {
            rewrite = Some(r);
            first_db = Some(db_path.clone());
        } else {
            let f = create_file(&db_path, 0o600)?;
            let syncer = f.try_clone().map_err(|e| Error::io("open", &db_path, &e))?;
            let f = std::thread::scope(|s| -> Result<File> {
                let (tx, rx) = std::sync::mpsc::sync_channel::<()>(1);
                // Starts writeback early, so the final fsync has little left.
                s.spawn(move || {
                    while rx.recv().is_ok() {
                        let _ = syncer.sync_data();
                    }
                });
                let out = BufWriter::with_capacity(WRITE_BUF, EarlySync::new(f, tx));
                let (out, r) = rewrite_db_over(
                    db,
                    cluster,
                    o.bump_revision,
                    overlay.take().unwrap_or_default(),
                    out,
                )
                .map_err(|e| e.in_file(&db_path))?;
                rewrite = Some(r);
                let f = out
                    .into_inner()
                    .map_err(|e| Error::io("write", &db_path, e.error()))?;
                Ok(f.into_file())
            })?;
            f.sync_all().map_err(|e| Error::io("fsync", &db_path, &e))?;
            first_db = Some(db_path.clone());
        }
        write_file(&snap_dir.join(&snap_name), &snap_bytes, None, 0o644)?;
        sync_dir(&snap_dir);
        let Some(me) = cluster.member(&t.name) else {
            return Err(usage(format!(
                "member {} vanished from the cluster",
                t.name
            )));
        };
        let frames = wal_frames_for(cluster, me.id, version);
        let wal_tmp = match &t.wal_dir {
            Some(w) => {
                let wt = NewDir::beside(w, "restore")?;
                write_segment_in(wt.path(), WAL_NAME, &frames)?;
                Some(wt)
            }
            None => {
                write_segment_in(&tmp.path().join("member").join("wal"), WAL_NAME, &frames)?;
                None
            }
        };
        sync_dir(&tmp.path().join("member"));
        temps.push((tmp, wal_tmp));
    }
    match rewrite {
        Some(r) => Ok((temps, r)),
        None => Err(usage("no member to restore".into())),
    }
}

/// Moves every temporary dir into place; returns the members in id order.
fn commit_temps(
    cluster: &Cluster,
    targets: &[Target],
    mut temps: Temps,
) -> Result<Vec<RestoredMember>> {
    // Everything is written: move it into place. Should a rename fail, the
    // targets already moved are taken back (an empty target dir that was
    // there before is left empty again), so no member is left restored alone.
    let mut done: Vec<&Target> = Vec::new();
    for (t, (tmp, wal_tmp)) in targets.iter().zip(temps.iter_mut()) {
        if let Err(e) = move_into_place(t, tmp, wal_tmp.as_mut()) {
            // The WAL dir goes first; it may have moved before the data dir failed.
            if let (Some(w), Some(wt)) = (&t.wal_dir, wal_tmp.as_ref()) {
                if wt.committed() {
                    let _ = std::fs::remove_dir_all(w);
                }
            }
            for d in done {
                let _ = std::fs::remove_dir_all(&d.data_dir);
                if d.existed_empty {
                    let _ = std::fs::DirBuilder::new().mode(0o700).create(&d.data_dir);
                }
                if let Some(w) = &d.wal_dir {
                    let _ = std::fs::remove_dir_all(w);
                }
            }
            return Err(e);
        }
        done.push(t);
    }
    let mut members = Vec::new();
    for t in targets {
        if let Some(m) = cluster.member(&t.name) {
            members.push(RestoredMember {
                name: m.name.clone(),
                id: m.id,
                id_hex: format!("{:x}", m.id),
                peer_urls: m.peer_urls.clone(),
                data_dir: t.data_dir.clone(),
                wal_dir: t
                    .wal_dir
                    .clone()
                    .unwrap_or_else(|| t.data_dir.join("member").join("wal")),
            });
        }
    }
    members.sort_by_key(|m| m.id);
    Ok(members)
}

/// Renames one target's temporary dirs (WAL dir first) into place.
fn move_into_place(t: &Target, tmp: &mut NewDir, wal_tmp: Option<&mut NewDir>) -> Result<()> {
    if let (Some(wt), Some(w)) = (wal_tmp, &t.wal_dir) {
        wt.commit(w, false)?;
    }
    tmp.commit(&t.data_dir, true)
}

/// A snapshot of a newer storage version than the output's etcd: etcd 3.6+
/// validates `meta/storageVersion` on start and refuses a newer one
/// (`version "3.7.0" is not supported`, observed with 3.6.17), so that is
/// refused here; etcd 3.5 does not read it and starts (observed: 3.5.36 on
/// etcdutl 3.6.17's and 3.5.36's restores of 3.6.17 and 3.7.3 snapshots).
fn refuse_downgrade(path: &Path, c: &OutputChoice, from_db: OutputVersion) -> Result<()> {
    if c.version >= from_db || c.version == OutputVersion::V3_5 {
        return Ok(());
    }
    Err(usage(format!(
        "{}: the snapshot's storage version is {}; etcd {} refuses to start on a db of a \
         newer storage version. Use --output-version {} (or leave it out), or 3.5 for an \
         etcd 3.5 cluster, which ignores the storage version",
        path.display(),
        c.storage_version,
        c.version.as_str(),
        from_db.as_str(),
    )))
}
