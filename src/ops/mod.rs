//! Operations: one module per command. Each returns a report value; nothing
//! here prints.

pub mod check;
pub mod diff;
pub mod get;
pub mod hashkv;
pub mod inspect;
pub mod keys;
pub mod space;
pub mod status;
pub mod wal;
