//! etcd meaning on top of the formats: the backend schema, revision keys,
//! versions and the status figures.

pub mod datadir;
pub mod ids;
pub mod mvcc;
pub mod dbinfo;
pub mod entry;
pub mod membership;
pub mod raftlog;
pub mod replay;
pub mod restore;
pub mod revision;
pub mod schema;
pub mod schema_check;
pub mod status;
pub mod v2store;
pub mod version;
