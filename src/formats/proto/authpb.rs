//! `authpb` messages (etcd `api/authpb/auth.proto`, proto3): values of the
//! `authUsers` and `authRoles` buckets and parts of auth requests.
//!
//! ```text
//! UserAddOptions 1 no_password bool
//! User           1 name bytes  2 password bytes  3 roles rep string  4 options
//! Permission     1 permType enum (READ=0, WRITE=1, READWRITE=2)  2 key bytes  3 range_end bytes
//! Role           1 name bytes  2 keyPermission rep Permission
//! ```

use serde::Serialize;

/// Options of a user.
#[derive(Clone, Copy, PartialEq, Eq, prost::Message, Serialize)]
pub struct UserAddOptions {
    /// The user has no password.
    #[prost(bool, tag = "1")]
    pub no_password: bool,
}

/// A user.
#[derive(Clone, PartialEq, Eq, prost::Message, Serialize)]
pub struct User {
    /// User name.
    #[prost(bytes = "vec", tag = "1")]
    #[serde(serialize_with = "super::text::bytes")]
    pub name: Vec<u8>,
    /// bcrypt hash of the password (never shown).
    #[prost(bytes = "vec", tag = "2")]
    #[serde(skip)]
    pub password: Vec<u8>,
    /// Granted roles.
    #[prost(string, repeated, tag = "3")]
    pub roles: Vec<String>,
    /// Options.
    #[prost(message, optional, tag = "4")]
    pub options: Option<UserAddOptions>,
}

/// A key permission.
#[derive(Clone, PartialEq, Eq, prost::Message, Serialize)]
pub struct Permission {
    /// READ=0, WRITE=1, READWRITE=2.
    #[prost(int32, tag = "1")]
    pub perm_type: i32,
    /// Key (or range start).
    #[prost(bytes = "vec", tag = "2")]
    #[serde(serialize_with = "super::text::bytes")]
    pub key: Vec<u8>,
    /// Range end (empty: the single key).
    #[prost(bytes = "vec", tag = "3")]
    #[serde(serialize_with = "super::text::bytes")]
    pub range_end: Vec<u8>,
}

/// A role.
#[derive(Clone, PartialEq, Eq, prost::Message, Serialize)]
pub struct Role {
    /// Role name.
    #[prost(bytes = "vec", tag = "1")]
    #[serde(serialize_with = "super::text::bytes")]
    pub name: Vec<u8>,
    /// Permissions.
    #[prost(message, repeated, tag = "2")]
    pub key_permission: Vec<Permission>,
}
