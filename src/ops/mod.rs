//! Operations: one module per command. Each returns a report value; nothing
//! here prints.

pub mod diff;
pub mod get;
pub mod keys;
pub mod space;
pub mod status;
