//! Kubernetes on etcd: kube-apiserver's key layout ([`keys`]), its values
//! decoded into the objects kubectl shows ([`decode`]) and decrypted when
//! encrypted at rest ([`encryption`]).
//!
//! May depend on `formats` and the rest of `etcd`; reads bytes, never files.

pub mod decode;
pub mod encryption;
pub mod keys;
