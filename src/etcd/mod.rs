//! etcd meaning on top of the formats: the backend schema, revision keys,
//! versions and the status figures.

pub mod compact;
pub mod datadir;
pub mod dbinfo;
pub mod entry;
pub mod gojson;
pub mod ids;
pub mod k8s;
pub mod keydiff;
pub mod keyhash;
pub mod keyspace;
pub mod member;
pub mod membership;
pub mod migrate;
pub mod mvcc;
pub mod patroni;
pub mod raftlog;
pub mod replay;
pub mod restore;
pub mod revision;
pub mod salvage;
pub mod schema;
pub mod schema_check;
pub mod status;
pub mod urls;
pub mod usage;
pub mod v2replay;
pub mod v2store;
pub mod values;
pub mod version;
