//! `repair`: turn a damaged member's files into ones etcd starts from, written
//! to a new path; the input is only read.
//!
//! - [`db`]: `repair db --revert-meta`: a copy of the db that uses the older
//!   meta page (bbolt's `surgery revert-meta-page`), checked, with what the
//!   result falls back to and whether the member's WAL still holds the rest.
//! - [`wal`]: `repair wal`: a copy of the member whose WAL is cut after its
//!   last good record (etcd's `wal.Repair`), or rebuilt from the db when what
//!   is left cannot start etcd.

pub mod db;
pub mod wal;

use std::path::{Path, PathBuf};

/// The WAL dir and snap dir of a member, from `--wal` (a data dir, a member
/// dir or a WAL dir) or from the member dir the db was found in.
pub(crate) fn wal_and_snap(given: &Path) -> (PathBuf, Option<PathBuf>) {
    let member = if given.join("member").is_dir() {
        Some(given.join("member"))
    } else if given.join("wal").is_dir() {
        Some(given.to_path_buf())
    } else {
        None
    };
    match member {
        Some(m) => {
            let snap = m.join("snap");
            (m.join("wal"), snap.is_dir().then_some(snap))
        }
        None => {
            let snap = given
                .parent()
                .map(|p| p.join("snap"))
                .filter(|p| p.is_dir());
            (given.to_path_buf(), snap)
        }
    }
}
