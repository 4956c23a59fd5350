//! Integration tests: one crate (faster to build), one module per command.
//! Each test runs the real binary on files made by real etcd.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod util;

/// `snapshot status` against etcdutl's goldens, bad inputs, and real etcd.
mod cmd_status;

/// `keys`, `get`, `diff`, `space` on real files and against live etcd.
mod cmd_keys;

/// `check`: trailer, structure and schema verification.
mod cmd_check;

/// Reading the data dir of a running etcd.
mod live_etcd;

/// Every single-byte change of a real db, every page-boundary cut.
mod sweep;

/// `salvage`: recovery from a damaged leaf page, restored into real etcd.
mod cmd_salvage;

/// Property tests of the bbolt engine and encodings.
mod prop_bbolt;

/// The bbolt writer: read back, Go's `tx.Check()`, etcdutl status agreement.
mod bbolt_writer;

/// Member/cluster IDs and member JSON against real `etcdutl snapshot restore`.
mod etcd_ids;

/// `hashkv` against live etcd's `endpoint hashkv` (goldens and gated live runs).
mod cmd_hashkv;

/// `inspect` on real data dirs against live-server goldens, and on damaged copies.
mod cmd_inspect;

/// `wal dump`, byte-exact WAL re-encoding, etcdutl restore's WAL, WAL corruption.
mod cmd_wal;

/// `compare` of several members and snapshots; live failure classes.
mod cmd_compare;

/// `snapshot restore` against etcdutl (db, WAL, .snap) and real etcd on the result.
mod cmd_restore;

/// `v2 ls` / `v2 get`: the v2 store rebuilt from .snap + WAL against etcdctl (API 2).
mod cmd_v2;
