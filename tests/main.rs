//! Integration tests: one crate (faster to build), one module per command.
//! Each test runs the real binary on files made by real etcd.

mod util;

/// `snapshot status` against etcdutl's goldens, bad inputs, and real etcd.
mod cmd_status;

/// Property tests of the bbolt engine and encodings.
mod prop_bbolt;

/// `inspect` on real data dirs against live-server goldens, and on damaged copies.
mod cmd_inspect;

/// `wal dump`, byte-exact WAL re-encoding, etcdutl restore's WAL, WAL corruption.
mod cmd_wal;
