//! `migrate`: what `etcdutl migrate --target-version X.Y` does to a data
//! dir's storage version, written into a new data dir (never in place).
//!
//! Order of work (nothing is written before step 3):
//! 1. Flags: the target version, `--out` absent or empty.
//! 2. The input data dir's `member/snap/db`, mapped read-only: its storage
//!    version detected as etcd does; the plan judged (a downgrade needs
//!    `--force`, see below).
//! 3. A temporary dir beside `--out` gets `member/snap/db` (rewritten with
//!    the new `meta/storageVersion`), every other file of `member/snap`
//!    (`.snap`, `.snap.db`) and the WAL files (from `--wal-dir` when given,
//!    else `member/wal`) copied into `member/wal`; fsynced; renamed to `--out`.
//!
//! etcdutl refuses a downgrade when the WAL after the last snapshot holds
//! requests newer than the target (`wal.MinimalEtcdVersion`, by the
//! `etcd_version` annotations of every field; see
//! [`crate::etcd::entry::newest_version_needed`]), and so does this, unless
//! `--force`, which etcdutl also uses to override a failed migration.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::error::{Error, ErrorKind, Result};
use crate::etcd::datadir::{Input, InputKind};
use crate::etcd::migrate::{detect, plan_is_known, rewrite_db, Minor};
use crate::formats::bbolt::Db;
use crate::sink::{create_dirs, create_file, sync_dir, NewDir};
use crate::source::Source;

/// What to migrate where.
#[derive(Debug, Clone)]
pub struct MigrateOptions {
    /// The data dir (contains `member/`).
    pub data_dir: PathBuf,
    /// `--wal-dir`: the WAL, when kept outside the data dir.
    pub wal_dir: Option<PathBuf>,
    /// `--out`: the new data dir (absent or empty).
    pub out: PathBuf,
    /// `--target-version`, "X.Y".
    pub target: String,
    /// `--force`.
    pub force: bool,
}

/// What `migrate` did.
#[derive(Debug, Clone, Serialize)]
pub struct MigrateReport {
    /// The input data dir.
    pub data_dir: PathBuf,
    /// The WAL dir read.
    pub wal_dir: PathBuf,
    /// The new data dir written.
    pub out: PathBuf,
    /// Storage version detected ("3.5", "3.6", "3.7").
    pub from: String,
    /// Storage version written.
    pub to: String,
    /// `meta/storageVersion` in the output ("" when absent: 3.5).
    pub storage_version: String,
    /// `--force` overrode a check: a plan etcd does not know, or a downgrade
    /// whose WAL holds newer entries or could not be read.
    pub forced: bool,
    /// Files copied besides the db.
    pub files_copied: Vec<PathBuf>,
}

fn usage(msg: String) -> Error {
    Error::new(ErrorKind::Usage(msg))
}

fn dir_is_empty_or_absent(p: &Path) -> Result<bool> {
    match std::fs::read_dir(p) {
        Ok(mut it) => Ok(it.next().is_none()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(true),
        Err(e) => Err(Error::io("read dir", p, &e)),
    }
}

/// Migrates `o.data_dir` into `o.out`.
pub fn migrate(o: &MigrateOptions) -> Result<MigrateReport> {
    let target = Minor::parse_target(&o.target)?;
    if !dir_is_empty_or_absent(&o.out)? {
        return Err(usage(format!(
            "--out {}: not empty; name a new or empty dir (the input is never changed)",
            o.out.display()
        )));
    }
    let input = Input::resolve(&o.data_dir)?;
    let Some(member) = input
        .member_dir
        .clone()
        .filter(|_| input.kind == InputKind::DataDir)
    else {
        return Err(usage(format!(
            "{}: not a data dir (no member/ inside); give the dir etcd's --data-dir names",
            o.data_dir.display()
        )));
    };
    let db_path = input.db_path()?;
    let wal_dir = o.wal_dir.clone().unwrap_or_else(|| member.join("wal"));
    if !wal_dir.is_dir() {
        return Err(usage(format!(
            "{}: no WAL dir; pass --wal-dir if etcd ran with one",
            wal_dir.display()
        )));
    }
    let src = Source::open(&db_path)?;
    let db = Db::open(src.bytes()).map_err(|e| e.in_file(&db_path))?;
    let from = detect(&db).map_err(|e| e.in_file(&db_path))?;
    if !plan_is_known(from, target) && !o.force {
        return Err(usage(format!(
            "{}: storage version {from} cannot be migrated to {target} (etcd knows 3.5 to 3.7); \
             --force sets it anyway",
            db_path.display()
        )));
    }
    // etcdutl's checks that --force overrides: a known plan, and for a
    // downgrade a WAL holding nothing newer than the target.
    let mut forced = !plan_is_known(from, target);
    if target < from {
        match wal_needs(&wal_dir, &member.join("snap")) {
            Ok(Some(need)) if minor_of(&need).is_some_and(|m| m > target) => {
                if !o.force {
                    return Err(usage(format!(
                        "{}: cannot downgrade storage, the WAL after the last snapshot holds \
                         entries that need etcd {need} (DowngradeVersionTestRequest), newer \
                         than the target {target}; wait for a snapshot past them on {from}, or \
                         pass --force to set the storage version anyway",
                        wal_dir.display()
                    )));
                }
                forced = true;
            }
            Ok(_) => {}
            Err(e) => {
                if !o.force {
                    return Err(usage(format!(
                        "{}: a downgrade needs the WAL checked for entries newer than {target}, \
                         and it cannot be read ({e}); repair the WAL first, or pass --force to \
                         set the storage version without the check",
                        wal_dir.display()
                    )));
                }
                forced = true;
            }
        }
    }

    let tmp = NewDir::beside(&o.out, "migrate")?;
    let snap_out = tmp.path().join("member").join("snap");
    let wal_out = tmp.path().join("member").join("wal");
    create_dirs(&snap_out)?;
    create_dirs(&wal_out)?;
    let out_db = snap_out.join("db");
    let f = create_file(&out_db, 0o600)?;
    let (f, _) =
        rewrite_db(&db, target, std::io::BufWriter::new(f)).map_err(|e| e.in_file(&db_path))?;
    let f = f
        .into_inner()
        .map_err(|e| Error::io("write", &out_db, e.error()))?;
    f.sync_all().map_err(|e| Error::io("fsync", &out_db, &e))?;
    let mut files_copied = Vec::new();
    copy_files(&member.join("snap"), &snap_out, &["db"], &mut files_copied)?;
    copy_files(&wal_dir, &wal_out, &[], &mut files_copied)?;
    sync_dir(&snap_out);
    sync_dir(&wal_out);
    sync_dir(&tmp.path().join("member"));
    let mut tmp = tmp;
    tmp.commit(&o.out, true)?;
    Ok(MigrateReport {
        data_dir: o.data_dir.clone(),
        wal_dir,
        out: o.out.clone(),
        from: from.to_string(),
        to: target.to_string(),
        storage_version: if target > crate::etcd::migrate::OLDEST {
            target.stored()
        } else {
            String::new()
        },
        forced,
        files_copied,
    })
}

/// Copies the regular files of `from` (except `skip`) into `to`, fsynced.
fn copy_files(from: &Path, to: &Path, skip: &[&str], copied: &mut Vec<PathBuf>) -> Result<()> {
    let rd = std::fs::read_dir(from).map_err(|e| Error::io("read dir", from, &e))?;
    let mut names: Vec<std::ffi::OsString> = Vec::new();
    for e in rd {
        let e = e.map_err(|e| Error::io("read dir", from, &e))?;
        let is_file = e.file_type().map(|t| t.is_file()).unwrap_or(false);
        if is_file && !skip.iter().any(|s| e.file_name() == *s) {
            names.push(e.file_name());
        }
    }
    names.sort();
    for n in names {
        let src = from.join(&n);
        let dst = to.join(&n);
        std::fs::copy(&src, &dst).map_err(|e| Error::io("copy", &dst, &e))?;
        std::fs::File::open(&dst)
            .and_then(|f| f.sync_all())
            .map_err(|e| Error::io("fsync", &dst, &e))?;
        copied.push(src);
    }
    Ok(())
}

/// The newest etcd version the WAL entries after the last snapshot need,
/// when above 3.5: what `etcdutl migrate` reads before a downgrade (all
/// entries after the newest `.snap` the WAL's snapshot records allow,
/// committed or not, as `wal.ReadAll` returns them).
fn wal_needs(wal_dir: &Path, snap_dir: &Path) -> Result<Option<String>> {
    let wal = crate::etcd::raftlog::WalDir::open(wal_dir)?;
    let snap_dir = snap_dir.is_dir().then_some(snap_dir);
    let log = crate::etcd::raftlog::load(&wal, snap_dir, false)?;
    if let crate::formats::wal::Stop::Corrupt { segment, offset } = log.decoded.stop {
        let file = wal.files.get(segment).map_or_else(
            || format!("segment {segment}"),
            |f| f.path.display().to_string(),
        );
        return Err(Error::new(ErrorKind::Usage(format!(
            "a damaged record in {file} at offset {offset}"
        ))));
    }
    Ok(crate::etcd::entry::newest_version_needed(
        log.read.entries.iter().map(|e| &e.entry),
    ))
}

/// `X.Y` of a version string (`3.6.0` → 3.6).
fn minor_of(v: &str) -> Option<Minor> {
    let v = crate::etcd::version::Version::parse(v)?;
    Some(Minor {
        major: v.major,
        minor: v.minor,
    })
}
