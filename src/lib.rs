//! etcd-rescue: read etcd's on-disk data without a running etcd.
//!
//! The crate is built in layers; each depends only on the ones below it:
//!
//! 1. [`formats`]: on-disk formats as typed, zero-copy, bounds-checked views
//!    over `&[u8]` (bbolt pages and metas, the snapshot trailer, protobuf).
//!    No etcd meaning, no I/O.
//! 2. [`etcd`]: etcd's meaning on top of them (schema, revision keys, the
//!    status hash, data-dir layout).
//! 3. [`ops`]: one module per command, returning report values.
//! 4. the `etcd-rescue` binary (`src/main.rs`, `src/cli/`): a thin clap CLI
//!    that renders reports; the only code that prints. The library does not
//!    depend on clap (feature `cli`, on by default, is the binary's).
//!
//! Inputs are opened read-only and never locked ([`source`]); outputs are
//! written beside their target and renamed into place ([`sink`]). Every parser
//! returns an [`error::Error`] naming the file, page or offset, never panics.
//!
//! ```no_run
//! use etcd_rescue::ops::status::{status, StatusOptions};
//! let report = status("backup.db".as_ref(), StatusOptions::default()).unwrap();
//! println!("{:x}, {}", report.status.hash, report.status.revision);
//! ```

pub mod bytes;
pub mod codes;
pub mod error;
pub mod etcd;
pub mod formats;
pub mod ops;
pub mod sink;
pub mod source;

pub use error::{Error, ErrorKind, Finding, Location, Result, Severity};

#[cfg(test)]
mod layers_test;
