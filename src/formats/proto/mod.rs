//! Protobuf messages stored by etcd.
//!
//! [`wire`] is a zero-copy field reader used for per-key hot paths ([`kv`]).

pub mod kv;
pub mod wire;

pub use kv::KeyValueRef;
