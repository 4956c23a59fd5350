//! etcd meaning on top of the formats: the backend schema, revision keys,
//! versions and the status figures.

pub mod datadir;
pub mod keyspace;
pub mod revision;
pub mod schema;
pub mod status;
pub mod values;
pub mod version;
