//! Operations: one module per command. Each returns a report value; nothing
//! here prints.

/// Progress of a long pass: `(pages done, pages in the db)`, called from any thread.
pub type ProgressFn = std::sync::Arc<dyn Fn(u64, u64) + Send + Sync>;

pub(crate) use input::WalkTicker;

pub mod check;
pub mod compact;
pub mod compare;
pub mod diff;
pub mod dir_restore;
pub mod get;
pub mod hashkv;
pub mod input;
pub mod inspect;
pub mod k8s;
pub mod keys;
pub mod migrate;
pub mod patroni;
pub mod repair;
pub mod restore;
pub mod salvage;
pub mod space;
pub mod status;
pub mod upgrade_check;
pub mod v2;
pub mod verdict;
pub mod wal;

/// Runs `work` while another thread takes the SHA-256 of `body` (when
/// `hash`); `work` gets a `digest` function that waits for the hash and
/// returns it once (`None` when not hashing, or when taken before).
///
/// One SHA-256 stream cannot be split across cores, so the hash is the
/// critical path of `check` and `restore` on a saved snapshot: `work` runs in
/// a rayon pool one thread smaller than the machine, which leaves the hash a
/// core of its own. The body is hashed from the map in 128 MiB steps,
/// dropping the resident mapped pages after each, so RSS stays flat.
pub(crate) fn beside_sha256<R: Send>(
    src: &crate::source::Source,
    body: &[u8],
    hash: bool,
    work: impl FnOnce(&mut dyn FnMut() -> Option<[u8; 32]>) -> R + Send,
) -> R {
    use sha2::{Digest, Sha256};
    if !hash {
        return work(&mut || None);
    }
    std::thread::scope(|s| {
        let hasher = s.spawn(|| {
            let mut h = Sha256::new();
            for chunk in body.chunks(128 << 20) {
                h.update(chunk);
                src.release_resident();
            }
            <[u8; 32]>::from(h.finalize())
        });
        let run = move || {
            let mut hasher = Some(hasher);
            let mut digest = || {
                hasher
                    .take()
                    .map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            };
            work(&mut digest)
        };
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        match rayon::ThreadPoolBuilder::new()
            .num_threads(cores.saturating_sub(1).max(1))
            .build()
        {
            Ok(pool) => pool.install(run),
            Err(_) => run(),
        }
    })
}
