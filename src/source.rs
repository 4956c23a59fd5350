//! Opening inputs: read-only, never locked, never written.
//!
//! Files are memory-mapped read-only (`memmap2`), so a multi-GiB db costs no
//! heap and pages are read on demand. We never take bbolt's flock: a running
//! etcd holds it, and `etcdutl snapshot status` blocks forever behind it.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use memmap2::{Mmap, UncheckedAdvice};

use crate::error::{Error, ErrorKind, Result};

/// Files at least this big get a [`Releaser`].
const RELEASE_FROM_BYTES: u64 = 64 << 20;

/// How often a [`Releaser`] drops the resident mapped pages.
const RELEASE_PERIOD: Duration = Duration::from_millis(100);

/// An input file, mapped read-only.
#[derive(Debug)]
pub struct Source {
    path: PathBuf,
    map: Option<Arc<Mmap>>,
    // Declared after `map` only for reading order: it holds its own `Arc`.
    _releaser: Option<Releaser>,
}

/// A helper thread that drops a big mapping's resident pages every
/// [`RELEASE_PERIOD`] while its [`Source`] lives, so every pass over a
/// multi-GiB file (status, check, hashkv, compare, inspect, restore) keeps a
/// small RSS without each one having to remember to. Pages stay in the page
/// cache; a read just maps them again.
#[derive(Debug)]
struct Releaser {
    stop: Arc<(Mutex<bool>, Condvar)>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Releaser {
    fn start(map: Arc<Mmap>) -> Option<Releaser> {
        let stop = Arc::new((Mutex::new(false), Condvar::new()));
        let flag = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("release-mapped".into())
            .spawn(move || {
                let (lock, cv) = &*flag;
                let Ok(mut stopped) = lock.lock() else { return };
                while !*stopped {
                    match cv.wait_timeout(stopped, RELEASE_PERIOD) {
                        Ok((g, _)) => stopped = g,
                        Err(_) => return,
                    }
                    if !*stopped {
                        release(&map);
                    }
                }
            })
            // No thread (resource limits): the pass still works, with a bigger RSS.
            .ok()?;
        Some(Releaser {
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for Releaser {
    fn drop(&mut self) {
        let (lock, cv) = &*self.stop;
        if let Ok(mut stopped) = lock.lock() {
            *stopped = true;
        }
        cv.notify_all();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A mapping handed to [`bytes::Bytes`] as its owner.
struct SharedMap(Arc<Mmap>);

impl AsRef<[u8]> for SharedMap {
    fn as_ref(&self) -> &[u8] {
        &self.0[..]
    }
}

fn release(m: &Mmap) {
    // SAFETY: MADV_DONTNEED on a read-only shared file mapping discards only
    // page-table entries; later reads fault the same file bytes back in from
    // the page cache. Nothing we hold points at anonymous or private-modified
    // memory that could be lost.
    #[allow(unsafe_code)]
    let _ = unsafe { m.unchecked_advise(UncheckedAdvice::DontNeed) };
}

impl Source {
    /// Opens `path` read-only and maps it. An empty file maps to no bytes.
    pub fn open(path: &Path) -> Result<Source> {
        let file = File::open(path).map_err(|e| Error::io("open", path, &e))?;
        let meta = file.metadata().map_err(|e| Error::io("stat", path, &e))?;
        if meta.is_dir() {
            return Err(Error::new(ErrorKind::BadPath("is a directory".into())).in_file(path));
        }
        let map = if meta.len() == 0 {
            None
        } else {
            // SAFETY: the map is read-only and private to this process. Another
            // process (a running etcd) may extend the file or write pages while we
            // read; bbolt never shrinks a db in place (defrag writes a new file and
            // renames it), so the mapped range stays backed. Bytes that change under
            // us are treated as untrusted input like all other bytes: every read is
            // bounds-checked and a torn page is reported, not trusted.
            #[allow(unsafe_code)]
            let m = unsafe { Mmap::map(&file) }.map_err(|e| Error::io("map", path, &e))?;
            Some(Arc::new(m))
        };
        let releaser = map
            .as_ref()
            .filter(|_| meta.len() >= RELEASE_FROM_BYTES)
            .and_then(|m| Releaser::start(Arc::clone(m)));
        Ok(Source {
            path: path.to_path_buf(),
            map,
            _releaser: releaser,
        })
    }

    /// The file's bytes.
    pub fn bytes(&self) -> &[u8] {
        self.map.as_deref().map_or(&[], |m| &m[..])
    }

    /// Drops this process's resident copies of the mapped pages, so that a
    /// pass over a multi-GiB file keeps a small RSS. The pages stay in the OS
    /// page cache; touching them again just maps them again.
    pub fn release_resident(&self) {
        if let Some(m) = &self.map {
            release(m);
        }
    }

    /// Whether another process holds a bbolt lock (flock) on this file, as a
    /// running etcd does on its `member/snap/db`: `(pid, exclusive)`. Read from
    /// `/proc/locks`, so it takes no lock itself; `None` where that is not
    /// available.
    pub fn lock_holder(&self) -> Option<(u32, bool)> {
        lock_holder(&self.path)
    }

    /// The mapped bytes as a shared [`bytes::Bytes`] (no copy; the mapping
    /// lives as long as any view of it). Without the releaser: the caller
    /// keeps what it needs resident.
    pub fn into_shared_bytes(self) -> bytes::Bytes {
        match self.map {
            Some(m) => bytes::Bytes::from_owner(SharedMap(m)),
            None => bytes::Bytes::new(),
        }
    }

    /// The path it was opened from.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// See [`Source::lock_holder`].
pub fn lock_holder(path: &Path) -> Option<(u32, bool)> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(path).ok()?;
    let dev = meta.dev();
    // glibc's encoding of dev_t.
    let major = ((dev >> 8) & 0xfff) | ((dev >> 32) & !0xfff);
    let minor = (dev & 0xff) | ((dev >> 12) & !0xff);
    let want = format!("{major:02x}:{minor:02x}:{}", meta.ino());
    let locks = std::fs::read_to_string("/proc/locks").ok()?;
    // "1: FLOCK  ADVISORY  WRITE 1234 fd:01:5678 0 EOF"
    locks.lines().find_map(|line| {
        let f: Vec<&str> = line.split_whitespace().collect();
        let (kind, rw, pid, id) = (f.get(1)?, f.get(3)?, f.get(4)?, f.get(5)?);
        (*kind == "FLOCK" && *id == want).then(|| (pid.parse().unwrap_or(0), *rw == "WRITE"))
    })
}
