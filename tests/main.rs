//! Integration tests: one crate (faster to build), one module per command.
//! Each test runs the real binary on files made by real etcd.

mod util;

/// `snapshot status` against etcdutl's goldens, bad inputs, and real etcd.
mod cmd_status;

/// `keys`, `get`, `diff`, `space` on real files and against live etcd.
mod cmd_keys;

/// Property tests of the bbolt engine and encodings.
mod prop_bbolt;
