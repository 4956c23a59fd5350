//! Kubernetes objects from their stored bytes to the JSON kubectl shows.
//!
//! ```text
//! "k8s\0" runtime.Unknown { 1 typeMeta {apiVersion, kind}, 2 raw, 3 contentEncoding, 4 contentType }
//!   raw = the object's protobuf message, e.g. k8s.io.api.core.v1.Pod
//! '{'  JSON (custom resources; anything stored with --storage-media-type=application/json)
//! ```
//!
//! The protobuf message is decoded against the descriptors of the real
//! Kubernetes `.proto` files (`k8s.binpb`: every `generated.proto` of the pinned
//! k8s.io/api, apimachinery and apiextensions-apiserver modules, compiled by
//! `scripts/k8s-oracle`), with `prost-reflect`. The wire cannot say what
//! encoding/json needs (omitempty, pointer, inline embedding: gogo writes every
//! non-pointer field, empty or not), so `k8s-json.json`, read by reflection
//! from the same Go types, gives per message its fields in Go order with their
//! JSON name and flags. Rendering then follows encoding/json: `omitempty`
//! drops empty scalars, slices and maps, never structs; `omitzero` drops zero
//! values; a nil pointer or slice without `omitempty` is `null`; the types with
//! their own MarshalJSON (Time, MicroTime, Duration, Quantity, IntOrString,
//! RawExtension, FieldsV1, apiextensions JSON and JSONSchemaPropsOr*) are
//! rendered as theirs are. Keys come out sorted, as `kubectl get -o json`
//! prints them (it re-encodes a map).
//!
//! A value that does not decode (unknown type, truncated protobuf) is an
//! [`Undecodable`] that says why; nothing here panics on input bytes.

use std::collections::HashMap;
use std::sync::OnceLock;

use prost_reflect::{
    DescriptorPool, DynamicMessage, FieldDescriptor, Kind, MapKey, MessageDescriptor,
    ReflectMessage, Value,
};
use serde_json::{Map, Number, Value as Json};

use crate::etcd::values::{k8s_envelope, K8S_MAGIC};

/// The FileDescriptorSet of the pinned Kubernetes `.proto` files.
pub static DESCRIPTORS: &[u8] = include_bytes!("k8s.binpb");
/// The JSON facts of the Go types (see the module doc).
pub static JSON_META: &str = include_str!("k8s-json.json");

/// Why a value could not be turned into an object.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, thiserror::Error)]
#[serde(tag = "reason", rename_all = "kebab-case")]
pub enum Undecodable {
    /// `k8s\0` but no readable runtime.Unknown envelope after it.
    #[error("k8s protobuf envelope does not parse")]
    BadEnvelope,
    /// The envelope names a type whose schema is not known.
    #[error(
        "unknown type {api_version} {kind} (no schema for it; a newer API or an aggregated API?)"
    )]
    UnknownType {
        /// `typeMeta.apiVersion`.
        api_version: String,
        /// `typeMeta.kind`.
        kind: String,
    },
    /// The object's protobuf does not decode against its schema.
    #[error("{api_version} {kind}: protobuf does not decode: {message}")]
    BadProtobuf {
        /// `typeMeta.apiVersion`.
        api_version: String,
        /// `typeMeta.kind`.
        kind: String,
        /// What the decoder said.
        message: String,
    },
    /// The envelope says the raw bytes are encoded (e.g. gzip), which is not read.
    #[error("content encoding {0:?} is not supported")]
    ContentEncoding(String),
    /// JSON that does not parse, or is not an object.
    #[error("JSON value does not parse as an object: {0}")]
    BadJson(String),
    /// Neither `k8s\0` nor JSON.
    #[error("not a Kubernetes object (neither the k8s protobuf envelope nor JSON)")]
    NotAnObject,
    /// The schema tables built into the binary do not load (a build problem).
    #[error("the built-in Kubernetes schema does not load: {0}")]
    Schema(String),
}

/// How an object was stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Encoding {
    /// `k8s\0` + runtime.Unknown.
    Protobuf,
    /// JSON text.
    Json,
}

/// Decodes a stored (already decrypted) value into the object kubectl shows,
/// without `metadata.resourceVersion` (the apiserver stores none; it is the
/// key's mod revision, see [`set_resource_version`]).
pub fn decode_object(v: &[u8]) -> Result<(Json, Encoding), Undecodable> {
    if let Some(body) = v.strip_prefix(K8S_MAGIC) {
        let env = k8s_envelope(body).ok_or(Undecodable::BadEnvelope)?;
        if let Some(enc) = env.content_encoding.filter(|e| !e.is_empty()) {
            return Err(Undecodable::ContentEncoding(enc.to_string()));
        }
        let api_version = env.api_version.unwrap_or("");
        let kind = env.kind.unwrap_or("");
        return decode_proto(api_version, kind, env.raw).map(|j| (j, Encoding::Protobuf));
    }
    let first = v.iter().find(|b| !b.is_ascii_whitespace());
    if first == Some(&b'{') {
        return match serde_json::from_slice::<Json>(v) {
            Ok(j @ Json::Object(_)) => Ok((j, Encoding::Json)),
            Ok(_) => Err(Undecodable::BadJson("not an object".into())),
            Err(e) => Err(Undecodable::BadJson(e.to_string())),
        };
    }
    Err(Undecodable::NotAnObject)
}

/// `metadata.creationTimestamp` of a stored (already decrypted) value as
/// [`decode_object`] renders it, and how the value was stored; `k8s ls` shows
/// no more of an object. A protobuf object whose envelope, top-level framing
/// and metadata read cleanly is not decoded further (the decode of the whole
/// object is most of the cost of a listing); anything else, JSON included,
/// takes [`decode_object`], so the answer and any error are the same.
pub fn list_facts(v: &[u8]) -> Result<ListFacts, Undecodable> {
    if let Some(created) = proto_creation_timestamp(v) {
        return Ok(ListFacts {
            creation_timestamp: created,
            type_meta: None,
            encoding: Encoding::Protobuf,
        });
    }
    let (obj, encoding) = decode_object(v)?;
    let field = |name: &str| {
        obj.get(name)
            .and_then(Json::as_str)
            .unwrap_or("?")
            .to_string()
    };
    Ok(ListFacts {
        creation_timestamp: obj
            .pointer("/metadata/creationTimestamp")
            .and_then(Json::as_str)
            .map(str::to_string),
        type_meta: Some(format!("{} {}", field("apiVersion"), field("kind"))),
        encoding,
    })
}

/// What [`list_facts`] reads of an object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListFacts {
    /// `metadata.creationTimestamp` as `decode_object` renders it.
    pub creation_timestamp: Option<String>,
    /// `apiVersion kind` of the decoded object; `None` when the protobuf
    /// envelope (which names them) was read instead.
    pub type_meta: Option<String>,
    /// How the value was stored.
    pub encoding: Encoding,
}

/// [`list_facts`]' timestamp read from the wire; `None`: take the full decode.
fn proto_creation_timestamp(v: &[u8]) -> Option<Option<String>> {
    use crate::formats::proto::wire::{Fields, Value as Wire};
    let env = k8s_envelope(v.strip_prefix(K8S_MAGIC)?)?;
    if env.content_encoding.is_some_and(|e| !e.is_empty()) {
        return None;
    }
    let schema = Schema::get().ok()?;
    let desc = schema.message_for(env.api_version?, env.kind?)?;
    let meta_fd = desc.get_field_by_name("metadata")?;
    let Kind::Message(meta_desc) = meta_fd.kind() else {
        return None;
    };
    if meta_desc.full_name() != "k8s.io.apimachinery.pkg.apis.meta.v1.ObjectMeta" {
        return None;
    }
    let ts_fd = meta_desc.get_field_by_name("creationTimestamp")?;
    match ts_fd.kind() {
        Kind::Message(t) if t.full_name() == "k8s.io.apimachinery.pkg.apis.meta.v1.Time" => {}
        _ => return None,
    }
    // Every field of the object must frame (a cut value fails here), and the
    // metadata's too; repeated messages merge, so the last seconds/nanos win.
    let (mut secs, mut nanos) = (0i64, 0i64);
    for f in Fields::new(env.raw) {
        let (n, val) = f.ok()?;
        if n != meta_fd.number() {
            continue;
        }
        let Wire::Bytes(meta) = val else {
            return None;
        };
        for g in Fields::new(meta) {
            let (m, val) = g.ok()?;
            if m != ts_fd.number() {
                continue;
            }
            let Wire::Bytes(t) = val else {
                return None;
            };
            for h in Fields::new(t) {
                match h.ok()? {
                    // int64 seconds, int32 nanos: two's complement, as prost reads them.
                    #[allow(clippy::cast_possible_wrap)]
                    (1, Wire::Varint(x)) => secs = x as i64,
                    #[allow(clippy::cast_possible_truncation)]
                    (2, Wire::Varint(x)) => nanos = i64::from(x as i32),
                    (1 | 2, _) => return None,
                    _ => {}
                }
            }
        }
    }
    Some(go_time(secs, nanos, false))
}

/// metav1.Time's (or, `micro`, MicroTime's) MarshalJSON: `None` (null) for
/// the zero time, else RFC 3339 in UTC to the second (to the microsecond).
fn go_time(secs: i64, nanos: i64, micro: bool) -> Option<String> {
    (secs != 0 || nanos != 0).then(|| rfc3339(secs, micro.then_some(nanos)))
}

/// Sets `metadata.resourceVersion` as the apiserver does when it serves an
/// object: the key's mod revision.
pub fn set_resource_version(obj: &mut Json, mod_revision: i64) {
    if let Some(Json::Object(meta)) = obj.get_mut("metadata") {
        meta.insert(
            "resourceVersion".into(),
            Json::String(mod_revision.to_string()),
        );
    }
}

/// Decodes `raw` as the protobuf of `apiVersion`/`kind`.
pub fn decode_proto(api_version: &str, kind: &str, raw: &[u8]) -> Result<Json, Undecodable> {
    let schema = Schema::get().map_err(|e| Undecodable::Schema(e.clone()))?;
    let desc = schema
        .message_for(api_version, kind)
        .ok_or_else(|| Undecodable::UnknownType {
            api_version: api_version.into(),
            kind: kind.into(),
        })?;
    let msg = DynamicMessage::decode(desc, raw).map_err(|e| Undecodable::BadProtobuf {
        api_version: api_version.into(),
        kind: kind.into(),
        message: e.to_string(),
    })?;
    let mut out = Map::new();
    out.insert("apiVersion".into(), Json::String(api_version.into()));
    out.insert("kind".into(), Json::String(kind.into()));
    schema.render_fields(&msg, 0, &mut out);
    Ok(Json::Object(out))
}

/// One field of a Go struct: proto number, JSON name, flags.
#[derive(Debug, Clone)]
struct FieldMeta {
    number: u32,
    json: String,
    omitempty: bool,
    omitzero: bool,
    pointer: bool,
    inline: bool,
}

#[derive(Debug, Default)]
struct MsgMeta {
    custom: Option<String>,
    fields: Vec<FieldMeta>,
}

/// The descriptor pool and the Go facts, loaded once.
struct Schema {
    pool: DescriptorPool,
    meta: HashMap<String, MsgMeta>,
}

/// Deepest nesting rendered (a Kubernetes object is far shallower; bounds the
/// recursion on crafted input).
const MAX_DEPTH: usize = 64;

impl Schema {
    fn get() -> Result<&'static Schema, &'static String> {
        static SCHEMA: OnceLock<Result<Schema, String>> = OnceLock::new();
        SCHEMA.get_or_init(Schema::load).as_ref()
    }

    fn load() -> Result<Schema, String> {
        let pool = DescriptorPool::decode(DESCRIPTORS).map_err(|e| e.to_string())?;
        let raw: HashMap<String, serde_json::Value> =
            serde_json::from_str(JSON_META).map_err(|e| e.to_string())?;
        let mut meta = HashMap::with_capacity(raw.len());
        for (name, m) in raw {
            let mut mm = MsgMeta {
                custom: m.get("c").and_then(Json::as_str).map(str::to_string),
                fields: Vec::new(),
            };
            for f in m.get("f").and_then(Json::as_array).into_iter().flatten() {
                let (Some(n), Some(j), Some(flags)) = (
                    f.get(0).and_then(Json::as_u64),
                    f.get(1).and_then(Json::as_str),
                    f.get(2).and_then(Json::as_str),
                ) else {
                    continue;
                };
                let Ok(number) = u32::try_from(n) else {
                    continue;
                };
                mm.fields.push(FieldMeta {
                    number,
                    json: j.to_string(),
                    omitempty: flags.contains('o'),
                    omitzero: flags.contains('z'),
                    pointer: flags.contains('p'),
                    inline: flags.contains('i'),
                });
            }
            meta.insert(name, mm);
        }
        Ok(Schema { pool, meta })
    }

    /// The message of `kind` in `apiVersion`: the proto package is the API
    /// group's first label (`rbac.authorization.k8s.io` -> `rbac`, core ->
    /// `core`) under `k8s.io.api`, apiextensions under its own module.
    fn message_for(&self, api_version: &str, kind: &str) -> Option<MessageDescriptor> {
        let (group, version) = match api_version.split_once('/') {
            Some((g, v)) => (g, v),
            None => ("", api_version),
        };
        if kind.is_empty() || version.is_empty() {
            return None;
        }
        let package = match group {
            "" => "k8s.io.api.core".to_string(),
            "apiextensions.k8s.io" => {
                "k8s.io.apiextensions_apiserver.pkg.apis.apiextensions".into()
            }
            "internal.apiserver.k8s.io" => "k8s.io.api.apiserverinternal".into(),
            g => format!("k8s.io.api.{}", g.split('.').next().unwrap_or(g)),
        };
        self.pool
            .get_message_by_name(&format!("{package}.{version}.{kind}"))
    }

    /// Renders the fields of `msg` into `out` (inline fields flattened).
    fn render_fields(&self, msg: &DynamicMessage, depth: usize, out: &mut Map<String, Json>) {
        let desc = msg.descriptor();
        let Some(meta) = self.meta.get(desc.full_name()) else {
            self.render_generic(msg, depth, out);
            return;
        };
        for fm in &meta.fields {
            let Some(fd) = desc.get_field(fm.number) else {
                continue;
            };
            if fm.inline {
                if let Value::Message(m) = msg.get_field(&fd).as_ref() {
                    self.render_fields(m, depth + 1, out);
                }
                continue;
            }
            if let Some(v) = self.render_field(msg, &fd, fm, depth) {
                out.insert(fm.json.clone(), v);
            }
        }
    }

    /// One field as encoding/json renders it; `None` when it is omitted.
    fn render_field(
        &self,
        msg: &DynamicMessage,
        fd: &FieldDescriptor,
        fm: &FieldMeta,
        depth: usize,
    ) -> Option<Json> {
        let present = msg.has_field(fd);
        if fd.is_list() || fd.is_map() {
            let v = msg.get_field(fd);
            let empty = match v.as_ref() {
                Value::List(l) => l.is_empty(),
                Value::Map(m) => m.is_empty(),
                _ => true,
            };
            if empty {
                // nil slice/map: omitted with omitempty/omitzero, else null.
                return (!(fm.omitempty || fm.omitzero)).then_some(Json::Null);
            }
            return Some(self.render_value(v.as_ref(), fd, depth));
        }
        if !present {
            if fm.pointer || matches!(fd.kind(), Kind::Bytes) {
                return (!(fm.omitempty || fm.omitzero)).then_some(Json::Null);
            }
            if let Kind::Message(_) = fd.kind() {
                // A non-pointer struct always marshals; gogo writes it.
                let v = msg.get_field(fd);
                let j = self.render_value(v.as_ref(), fd, depth);
                return (!(fm.omitzero && is_zero_json(&j))).then_some(j);
            }
        }
        let v = msg.get_field(fd);
        let j = self.render_value(v.as_ref(), fd, depth);
        if fm.pointer {
            return Some(j);
        }
        match fd.kind() {
            Kind::Message(_) => {
                let zero = match v.as_ref() {
                    Value::Message(m) => is_zero_message(m),
                    _ => false,
                };
                (!(fm.omitzero && (zero || j.is_null()))).then_some(j)
            }
            Kind::Bytes => {
                // []byte: nil is absent (handled above); omitempty drops "".
                let empty = matches!(v.as_ref(), Value::Bytes(b) if b.is_empty());
                (!(empty && (fm.omitempty || fm.omitzero))).then_some(j)
            }
            _ => (!((fm.omitempty || fm.omitzero) && is_zero_json(&j))).then_some(j),
        }
    }

    fn render_value(&self, v: &Value, fd: &FieldDescriptor, depth: usize) -> Json {
        match v {
            Value::List(items) => Json::Array(
                items
                    .iter()
                    .map(|i| self.render_value(i, fd, depth + 1))
                    .collect(),
            ),
            Value::Map(m) => {
                let value_fd = match fd.kind() {
                    Kind::Message(entry) => entry.map_entry_value_field(),
                    _ => fd.clone(),
                };
                let mut out = Map::new();
                for (k, v) in m {
                    out.insert(map_key(k), self.render_value(v, &value_fd, depth + 1));
                }
                Json::Object(out)
            }
            Value::Message(m) => self.render_message(m, depth + 1),
            other => scalar(other),
        }
    }

    /// A message value: a custom MarshalJSON type, or its fields.
    fn render_message(&self, m: &DynamicMessage, depth: usize) -> Json {
        if depth > MAX_DEPTH {
            return Json::Null;
        }
        let desc = m.descriptor();
        let custom = self
            .meta
            .get(desc.full_name())
            .and_then(|mm| mm.custom.as_deref());
        if let Some(c) = custom {
            if let Some(j) = self.render_custom(c, m, depth) {
                return j;
            }
        }
        let mut out = Map::new();
        self.render_fields(m, depth, &mut out);
        Json::Object(out)
    }

    /// The types with their own MarshalJSON, as theirs render.
    fn render_custom(&self, custom: &str, m: &DynamicMessage, depth: usize) -> Option<Json> {
        let int = |n: u32| -> i64 {
            match m.get_field_by_number(n).as_deref() {
                Some(Value::I64(v)) => *v,
                Some(Value::I32(v)) => i64::from(*v),
                _ => 0,
            }
        };
        let bytes = |n: u32| -> Vec<u8> {
            match m.get_field_by_number(n).as_deref() {
                Some(Value::Bytes(b)) => b.to_vec(),
                _ => Vec::new(),
            }
        };
        let string = |n: u32| -> String {
            match m.get_field_by_number(n).as_deref() {
                Some(Value::String(s)) => s.clone(),
                _ => String::new(),
            }
        };
        let child = |n: u32| -> Option<Json> {
            if !m.has_field_by_number(n) {
                return None;
            }
            match m.get_field_by_number(n).as_deref() {
                Some(Value::Message(c)) => Some(self.render_message(c, depth + 1)),
                Some(Value::List(l)) if !l.is_empty() => Some(Json::Array(
                    l.iter()
                        .map(|i| match i {
                            Value::Message(c) => self.render_message(c, depth + 1),
                            other => scalar(other),
                        })
                        .collect(),
                )),
                _ => None,
            }
        };
        Some(match custom {
            "Time" | "MicroTime" => {
                go_time(int(1), int(2), custom == "MicroTime").map_or(Json::Null, Json::String)
            }
            "Duration" => Json::String(go_duration(int(1))),
            "Quantity" => {
                let s = string(1);
                Json::String(if s.is_empty() { "0".into() } else { s })
            }
            "IntOrString" => {
                if int(1) == 1 {
                    Json::String(string(3))
                } else {
                    Json::Number(Number::from(int(2)))
                }
            }
            "RawExtension" | "FieldsV1" | "JSON" => raw_json(&bytes(1)),
            "JSONSchemaPropsOrBool" => child(2).unwrap_or_else(|| {
                Json::Bool(matches!(
                    m.get_field_by_number(1).as_deref(),
                    Some(Value::Bool(true))
                ))
            }),
            "JSONSchemaPropsOrStringArray" => child(2).or_else(|| child(1)).unwrap_or(Json::Null),
            "JSONSchemaPropsOrArray" => child(2).or_else(|| child(1)).unwrap_or(Json::Null),
            _ => return None,
        })
    }

    /// A message without Go facts (a type newer than the table): every field
    /// set, by its proto JSON name, empty ones left out.
    fn render_generic(&self, msg: &DynamicMessage, depth: usize, out: &mut Map<String, Json>) {
        for (fd, v) in msg.fields() {
            let j = self.render_value(v, &fd, depth);
            if !is_zero_json(&j) {
                out.insert(fd.json_name().to_string(), j);
            }
        }
    }
}

fn map_key(k: &MapKey) -> String {
    match k {
        MapKey::Bool(b) => b.to_string(),
        MapKey::I32(v) => v.to_string(),
        MapKey::I64(v) => v.to_string(),
        MapKey::U32(v) => v.to_string(),
        MapKey::U64(v) => v.to_string(),
        MapKey::String(s) => s.clone(),
    }
}

fn scalar(v: &Value) -> Json {
    match v {
        Value::Bool(b) => Json::Bool(*b),
        Value::I32(n) => Json::Number(Number::from(*n)),
        Value::I64(n) => Json::Number(Number::from(*n)),
        Value::U32(n) => Json::Number(Number::from(*n)),
        Value::U64(n) => Json::Number(Number::from(*n)),
        Value::F32(f) => float(f64::from(*f)),
        Value::F64(f) => float(*f),
        Value::String(s) => Json::String(s.clone()),
        Value::Bytes(b) => Json::String(crate::etcd::values::base64(b)),
        Value::EnumNumber(n) => Json::Number(Number::from(*n)),
        Value::Message(_) | Value::List(_) | Value::Map(_) => Json::Null,
    }
}

/// A float as encoding/json writes one: integral values without a fraction.
fn float(f: f64) -> Json {
    if f.fract() == 0.0 && f.abs() < 1e15 {
        #[allow(clippy::cast_possible_truncation)]
        return Json::Number(Number::from(f as i64));
    }
    Number::from_f64(f).map_or(Json::Null, Json::Number)
}

/// Embedded raw JSON (RawExtension, FieldsV1, apiextensions JSON): parsed;
/// empty is `null`; bytes that are not JSON are kept as base64 text.
fn raw_json(b: &[u8]) -> Json {
    if b.is_empty() {
        return Json::Null;
    }
    serde_json::from_slice(b).unwrap_or_else(|_| Json::String(crate::etcd::values::base64(b)))
}

fn is_zero_json(j: &Json) -> bool {
    match j {
        Json::Null => true,
        Json::Bool(b) => !b,
        Json::Number(n) => n.as_f64() == Some(0.0),
        Json::String(s) => s.is_empty(),
        Json::Array(a) => a.is_empty(),
        Json::Object(o) => o.is_empty(),
    }
}

/// Whether a message is its Go type's zero value (every field default).
fn is_zero_message(m: &DynamicMessage) -> bool {
    m.fields().all(|(fd, v)| match v {
        Value::Message(c) => is_zero_message(c),
        other => other.is_default(&fd.kind()),
    })
}

/// `secs` (+ `nanos` as microseconds when given) since the epoch as RFC 3339
/// in UTC: `2006-01-02T15:04:05Z` or `2006-01-02T15:04:05.000000Z`.
pub fn rfc3339(secs: i64, nanos: Option<i64>) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, mo, d) = civil_from_days(days);
    let (h, mi, s) = (rem / 3600, rem % 3600 / 60, rem % 60);
    match nanos {
        None => format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}Z"),
        Some(n) => format!(
            "{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{:06}Z",
            n.rem_euclid(1_000_000_000) / 1000
        ),
    }
}

/// Seconds since the epoch of an RFC 3339 UTC timestamp (`...Z`), for ages.
pub fn parse_rfc3339(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    let num = |r: std::ops::Range<usize>| -> Option<i64> { s.get(r)?.parse().ok() };
    if b.len() < 20 || b.get(4) != Some(&b'-') || b.get(10) != Some(&b'T') {
        return None;
    }
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    Some(days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + sec)
}

// Howard Hinnant's civil calendar algorithms (public domain).
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Go's `time.Duration.String()`: `1h2m3.5s`, `250ms`, `0s`.
pub fn go_duration(nanos: i64) -> String {
    if nanos == 0 {
        return "0s".into();
    }
    let neg = nanos < 0;
    let u = nanos.unsigned_abs();
    let sign = if neg { "-" } else { "" };
    if u < 1_000_000_000 {
        let (unit, div) = if u < 1_000 {
            ("ns", 1)
        } else if u < 1_000_000 {
            ("µs", 1_000)
        } else {
            ("ms", 1_000_000)
        };
        return format!("{sign}{}{unit}", frac(u, div));
    }
    let secs = u / 1_000_000_000;
    let sub = u % 1_000_000_000;
    let (h, m, s) = (secs / 3600, secs % 3600 / 60, secs % 60);
    let s = frac(s * 1_000_000_000 + sub, 1_000_000_000);
    if h > 0 {
        format!("{sign}{h}h{m}m{s}s")
    } else if m > 0 {
        format!("{sign}{m}m{s}s")
    } else {
        format!("{sign}{s}s")
    }
}

/// `v / div` with the fraction's trailing zeros dropped.
fn frac(v: u64, div: u64) -> String {
    let whole = v / div;
    let rest = v % div;
    if rest == 0 {
        return whole.to_string();
    }
    let width = div.to_string().len() - 1;
    let f = format!("{rest:0width$}");
    format!("{whole}.{}", f.trim_end_matches('0'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_and_durations() {
        assert_eq!(rfc3339(0, None), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_767_603_819, None), "2026-01-05T09:03:39Z");
        assert_eq!(
            rfc3339(1_767_603_819, Some(654_321_000)),
            "2026-01-05T09:03:39.654321Z"
        );
        assert_eq!(parse_rfc3339("2026-01-05T09:03:39Z"), Some(1_767_603_819));
        assert_eq!(go_duration(3_600_000_000_000), "1h0m0s");
        assert_eq!(go_duration(1_500_000_000), "1.5s");
        assert_eq!(go_duration(250_000_000), "250ms");
        assert_eq!(go_duration(90_000_000_000), "1m30s");
    }

    #[test]
    fn schema_loads_and_finds_types() {
        let s = Schema::get().expect("schema");
        for (av, k) in [
            ("v1", "Pod"),
            ("apps/v1", "Deployment"),
            ("rbac.authorization.k8s.io/v1", "ClusterRole"),
            ("apiextensions.k8s.io/v1", "CustomResourceDefinition"),
            ("coordination.k8s.io/v1", "Lease"),
        ] {
            assert!(s.message_for(av, k).is_some(), "{av} {k}");
        }
        assert!(s.message_for("v1", "NoSuchKind").is_none());
    }

    #[test]
    fn bad_input_is_an_error_not_a_panic() {
        assert!(decode_object(b"k8s\0").is_err());
        assert!(matches!(
            decode_object(b"plain"),
            Err(Undecodable::NotAnObject)
        ));
        assert!(matches!(
            decode_object(b"{\"a\":"),
            Err(Undecodable::BadJson(_))
        ));
    }
}
