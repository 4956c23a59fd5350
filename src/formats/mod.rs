//! On-disk formats: bytes in, typed views out. No etcd meaning, no I/O.

pub mod bbolt;
pub mod proto;
pub mod snap;
pub mod trailer;
pub mod wal;
