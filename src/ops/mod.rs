//! Operations: one module per command. Each returns a report value; nothing
//! here prints.

pub mod check;
pub mod hashkv;
pub mod inspect;
pub mod restore;
pub mod status;
pub mod wal;
