//! Writing outputs: the write side, as [`crate::source`] is the read side.
//!
//! Every command that writes (restore, salvage, and the repair, compaction
//! and dump commands to come) writes through here, so the rule is kept in one
//! place: a temporary name beside the target, write, fsync, rename onto the
//! target, fsync the directory, and remove the temporary on any failure. A
//! reader never sees a half-written output under the name the user gave.
//!
//! - [`NewFile`]: one file, renamed into place by [`NewFile::commit`].
//! - [`NewDir`]: a directory tree, renamed into place by [`NewDir::commit`];
//!   the files inside it are written with [`create_file`] / [`write_file`]
//!   (they need no rename of their own: the directory's is the atomic step).
//!
//! Inputs are never written: callers refuse a target that exists and is not
//! empty before they get here.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use crate::bytes::to_u64;
use crate::error::{Error, ErrorKind, Result};
use crate::formats::wal::SEGMENT_SIZE;

/// The parent directory of `path` (`.` for a bare name).
fn parent_of(path: &Path) -> &Path {
    path.parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}

/// A hidden name beside `target`: `.<name>.<what>-<pid>`.
fn temp_beside(target: &Path, what: &str, fallback: &str) -> PathBuf {
    let base = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| fallback.into());
    parent_of(target).join(format!(".{base}.{what}-{}", std::process::id()))
}

/// A file being written under a temporary name beside its target; removed on
/// drop unless [`NewFile::commit`] renamed it into place.
#[derive(Debug)]
pub struct NewFile {
    target: PathBuf,
    tmp: PathBuf,
    file: Option<File>,
}

impl NewFile {
    /// Creates `.<name>.tmp-<pid>` beside `target` with `mode` (before the
    /// umask). `target` itself is not looked at: the caller refuses a
    /// non-empty one first.
    pub fn create(target: &Path, mode: u32) -> Result<NewFile> {
        let tmp = temp_beside(target, "tmp", "output");
        let file = create_file(&tmp, mode)?;
        Ok(NewFile {
            target: target.to_path_buf(),
            tmp,
            file: Some(file),
        })
    }

    /// The temporary path (for error messages of writes into [`Self::file`]).
    pub fn tmp_path(&self) -> &Path {
        &self.tmp
    }

    /// The open file, to write into.
    pub fn file(&mut self) -> Result<&mut File> {
        self.file
            .as_mut()
            .ok_or_else(|| Error::new(ErrorKind::Usage("the output file is closed".into())))
    }

    /// A second handle on the file (e.g. to wrap it in a buffered writer and
    /// get it back with [`Self::commit_file`]).
    pub fn take(&mut self) -> Result<File> {
        self.file
            .take()
            .ok_or_else(|| Error::new(ErrorKind::Usage("the output file is closed".into())))
    }

    /// fsyncs the file, renames it onto the target and fsyncs the directory.
    pub fn commit(mut self) -> Result<()> {
        let f = self.take()?;
        self.commit_file(f)
    }

    /// [`Self::commit`] for a file taken with [`Self::take`].
    pub fn commit_file(mut self, f: File) -> Result<()> {
        f.sync_all()
            .map_err(|e| Error::io("fsync", &self.tmp, &e))?;
        drop(f);
        std::fs::rename(&self.tmp, &self.target)
            .map_err(|e| Error::io("rename", &self.target, &e))?;
        // Renamed: nothing left to remove on drop.
        self.tmp = PathBuf::new();
        sync_dir(parent_of(&self.target));
        Ok(())
    }
}

impl Drop for NewFile {
    fn drop(&mut self) {
        if !self.tmp.as_os_str().is_empty() {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

/// A directory tree being written under a temporary name beside its target
/// (`.<name>.<purpose>-<pid>`, mode 0700); removed on drop unless
/// [`NewDir::commit`] renamed it into place.
#[derive(Debug)]
pub struct NewDir {
    path: PathBuf,
    kept: bool,
}

impl NewDir {
    /// Creates the temporary dir beside `target` (and `target`'s parent).
    /// `purpose` names the command, e.g. `restore`.
    pub fn beside(target: &Path, purpose: &str) -> Result<NewDir> {
        create_dirs(parent_of(target))?;
        let path = temp_beside(target, purpose, "data");
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&path)
            .map_err(|e| Error::io("create dir", &path, &e))?;
        Ok(NewDir { path, kept: false })
    }

    /// The temporary dir, to write into.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether [`Self::commit`] moved it into place.
    pub fn committed(&self) -> bool {
        self.kept
    }

    /// Renames the dir onto `target` (rename(2) replaces an empty dir; a
    /// missing one is created) and fsyncs the parent of `target` when
    /// `sync_parent`.
    pub fn commit(&mut self, target: &Path, sync_parent: bool) -> Result<()> {
        std::fs::rename(&self.path, target).map_err(|e| Error::io("rename", target, &e))?;
        self.kept = true;
        if sync_parent {
            sync_dir(parent_of(target));
        }
        Ok(())
    }
}

impl Drop for NewDir {
    fn drop(&mut self) {
        if !self.kept {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

/// Creates `p` and its parents, mode 0700 (as etcd makes its dirs).
pub fn create_dirs(p: &Path) -> Result<()> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(p)
        .map_err(|e| Error::io("create dir", p, &e))
}

/// Creates a new file at `p` with `mode`; fails if anything is there.
pub fn create_file(p: &Path, mode: u32) -> Result<File> {
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(p)
        .map_err(|e| Error::io("create", p, &e))
}

/// Writes a new file at `p` holding `bytes`, zero-extended to `len` bytes when
/// given (a sparse tail, like a preallocated file), and fsyncs it.
pub fn write_file(p: &Path, bytes: &[u8], len: Option<u64>, mode: u32) -> Result<()> {
    let mut f = create_file(p, mode)?;
    f.write_all(bytes).map_err(|e| Error::io("write", p, &e))?;
    if let Some(len) = len {
        f.set_len(len).map_err(|e| Error::io("extend", p, &e))?;
    }
    f.sync_all().map_err(|e| Error::io("fsync", p, &e))
}

/// fsyncs a directory, so a rename or create in it is durable. Best effort:
/// some filesystems refuse to open or sync a directory.
pub fn sync_dir(p: &Path) {
    if let Ok(d) = File::open(p) {
        let _ = d.sync_all();
    }
}

/// Writes a new WAL segment file at `path`: `frames` followed by zeros to
/// [`SEGMENT_SIZE`] bytes (a sparse tail), mode 0600. Refuses to overwrite.
pub fn write_segment_file(path: &Path, frames: &[u8]) -> Result<()> {
    if path.exists() {
        return Err(Error::new(ErrorKind::BadPath(
            "refusing to overwrite an existing file".into(),
        ))
        .in_file(path));
    }
    check_fits_segment(frames)?;
    let mut out = NewFile::create(path, 0o600)?;
    let tmp = out.tmp_path().to_path_buf();
    let f = out.file()?;
    f.write_all(frames)
        .map_err(|e| Error::io("write", &tmp, &e))?;
    f.set_len(SEGMENT_SIZE)
        .map_err(|e| Error::io("extend", &tmp, &e))?;
    out.commit()
}

/// Writes the WAL segment `name` into `dir` (created), inside a [`NewDir`].
pub fn write_segment_in(dir: &Path, name: &str, frames: &[u8]) -> Result<()> {
    check_fits_segment(frames)?;
    create_dirs(dir)?;
    write_file(&dir.join(name), frames, Some(SEGMENT_SIZE), 0o600)?;
    sync_dir(dir);
    Ok(())
}

fn check_fits_segment(frames: &[u8]) -> Result<()> {
    if to_u64(frames.len()) > SEGMENT_SIZE {
        return Err(Error::new(ErrorKind::Usage(format!(
            "WAL records take {} bytes, more than one segment ({SEGMENT_SIZE})",
            frames.len()
        ))));
    }
    Ok(())
}

/// Copies the file `from` to the new file `to` (mode 0600), fsynced.
pub fn copy_file(from: &Path, to: &Path) -> Result<()> {
    let mut src = File::open(from).map_err(|e| Error::io("open", from, &e))?;
    let mut dst = create_file(to, 0o600)?;
    std::io::copy(&mut src, &mut dst).map_err(|e| Error::io("copy", to, &e))?;
    dst.sync_all().map_err(|e| Error::io("fsync", to, &e))
}

/// Writes the new file `to` holding the first `len` bytes of `from` (mode
/// 0600), fsynced: a file cut after its last good record.
pub fn copy_prefix(from: &Path, to: &Path, len: u64) -> Result<()> {
    use std::io::Read;
    let src = File::open(from).map_err(|e| Error::io("open", from, &e))?;
    let mut dst = create_file(to, 0o600)?;
    std::io::copy(&mut src.take(len), &mut dst).map_err(|e| Error::io("copy", to, &e))?;
    dst.sync_all().map_err(|e| Error::io("fsync", to, &e))
}

/// Copies the tree under `from` into `to` (created; dirs 0700, files 0600),
/// leaving out the files for which `skip` (given the path relative to
/// `from`) is true. Only regular files and dirs are copied.
pub fn copy_tree(from: &Path, to: &Path, skip: &dyn Fn(&Path) -> bool) -> Result<()> {
    fn walk(root: &Path, rel: &Path, to: &Path, skip: &dyn Fn(&Path) -> bool) -> Result<()> {
        let dir = root.join(rel);
        create_dirs(&to.join(rel))?;
        let rd = std::fs::read_dir(&dir).map_err(|e| Error::io("read dir", &dir, &e))?;
        for e in rd {
            let e = e.map_err(|e| Error::io("read dir", &dir, &e))?;
            let r = rel.join(e.file_name());
            let ft = e
                .file_type()
                .map_err(|err| Error::io("stat", &e.path(), &err))?;
            if ft.is_dir() {
                walk(root, &r, to, skip)?;
            } else if ft.is_file() && !skip(&r) {
                copy_file(&root.join(&r), &to.join(&r))?;
            }
        }
        sync_dir(&to.join(rel));
        Ok(())
    }
    walk(from, Path::new(""), to, skip)
}

/// Renames `from` to `to` inside an output being written (never an input).
pub fn rename(from: &Path, to: &Path) -> Result<()> {
    std::fs::rename(from, to).map_err(|e| Error::io("rename", to, &e))
}

/// Removes a file of an output being written (never an input).
pub fn remove_file(p: &Path) -> Result<()> {
    std::fs::remove_file(p).map_err(|e| Error::io("remove", p, &e))
}

/// Bytes written between two background writeback requests.
const SYNC_EVERY: u64 = 128 << 20;

/// A file that asks a helper thread for an `fdatasync` every [`SYNC_EVERY`]
/// bytes (a request is dropped while one is still running), so the final
/// fsync of a big output has little left to do.
#[derive(Debug)]
pub struct EarlySync {
    file: File,
    since: u64,
    tx: std::sync::mpsc::SyncSender<()>,
}

impl EarlySync {
    /// Wraps `file`; `tx` reaches the thread that calls `sync_data`.
    pub fn new(file: File, tx: std::sync::mpsc::SyncSender<()>) -> Self {
        EarlySync { file, since: 0, tx }
    }

    /// The file back.
    pub fn into_file(self) -> File {
        self.file
    }
}

impl Write for EarlySync {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.file.write(buf)?;
        self.since = self.since.saturating_add(to_u64(n));
        if self.since >= SYNC_EVERY {
            self.since = 0;
            let _ = self.tx.try_send(());
        }
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.file.flush()
    }
}

impl std::io::Seek for EarlySync {
    fn seek(&mut self, pos: std::io::SeekFrom) -> std::io::Result<u64> {
        self.file.seek(pos)
    }
}

impl crate::formats::bbolt::patch::PageTarget for File {
    fn write_all_at(&self, bytes: &[u8], offset: u64) -> std::io::Result<()> {
        std::os::unix::fs::FileExt::write_all_at(self, bytes, offset)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("sink-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn a_new_file_appears_only_on_commit_and_is_removed_on_drop() {
        let d = scratch("file");
        let target = d.join("out.db");
        let mut f = NewFile::create(&target, 0o600).unwrap();
        f.file().unwrap().write_all(b"abc").unwrap();
        assert!(!target.exists());
        f.commit().unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), b"abc");

        let other = d.join("dropped.db");
        let f = NewFile::create(&other, 0o600).unwrap();
        let tmp = f.tmp_path().to_path_buf();
        assert!(tmp.exists());
        drop(f);
        assert!(!tmp.exists() && !other.exists());
        assert_eq!(std::fs::read_dir(&d).unwrap().count(), 1);
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn a_new_dir_is_renamed_into_place_or_removed() {
        let d = scratch("dir");
        let target = d.join("data");
        let mut nd = NewDir::beside(&target, "restore").unwrap();
        write_file(&nd.path().join("x"), b"1", Some(8), 0o600).unwrap();
        nd.commit(&target, true).unwrap();
        assert_eq!(std::fs::read(target.join("x")).unwrap(), b"1\0\0\0\0\0\0\0");
        let gone = NewDir::beside(&d.join("other"), "restore").unwrap();
        let p = gone.path().to_path_buf();
        drop(gone);
        assert!(!p.exists());
        let _ = std::fs::remove_dir_all(&d);
    }
}
