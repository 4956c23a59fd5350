//! Operations: one module per command. Each returns a report value; nothing
//! here prints.

/// Progress of a long pass: `(pages done, pages in the db)`, called from any thread.
pub type ProgressFn = std::sync::Arc<dyn Fn(u64, u64) + Send + Sync>;

pub mod check;
pub mod compare;
pub mod diff;
pub mod get;
pub mod hashkv;
pub mod inspect;
pub mod keys;
pub mod restore;
pub mod salvage;
pub mod space;
pub mod status;
pub mod v2;
pub mod wal;
