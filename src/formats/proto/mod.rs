//! Protobuf messages stored by etcd.
//!
//! [`wire`] is a zero-copy field reader used for per-key hot paths ([`kv`]).
//! Messages read once per record (WAL, `.snap`) are prost structs written by
//! hand after etcd's `.proto` files, grouped by Go package: [`raftpb`],
//! [`walpb`], [`snappb`], [`etcdserverpb`], [`membershippb`], [`leasepb`],
//! [`authpb`]. gogo proto2 messages use prost's `required` label so zero
//! fields are written as etcd writes them; re-encoding is byte-exact for the
//! messages etcd 3.4–3.6 write to the WAL and `.snap` files; etcd 3.7 omits
//! unset fields, which [`presence`] keeps as read.

pub mod authpb;
pub mod etcdserverpb;
pub mod kv;
pub mod leasepb;
pub mod membershippb;
pub mod presence;
pub mod raftpb;
pub mod snappb;
pub mod text;
pub mod walpb;
pub mod wire;

pub use kv::KeyValueRef;
