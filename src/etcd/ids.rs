//! Member and cluster IDs, peer URL normalisation, and the member JSON.
//!
//! ```text
//! member id  = BE u64 of sha1( join("", sort(peer URL strings)) ‖ token )[..8]
//! cluster id = BE u64 of sha1( id_1 ‖ id_2 ‖ … as 8-byte BE, ids sorted )[..8]
//! member JSON (bucket `members`, ConfChange contexts), keys in this order:
//!   {"id":<u64 decimal>,"peerURLs":[…],"isLearner":true?,"name":"…"?,"clientURLs":[…]?}
//!   (`?` = omitted when false / empty, Go's omitempty)
//! ```
//! URL rules (`types.NewURLs`, etcd 3.5.10+ and 3.6): each string is trimmed and
//! parsed as Go's `net/url` would; http and https need `host:port` and no
//! path; unix and unixs are taken as they are; other schemes are refused. The
//! list is sorted by the URL's `String()` form, which is also what gets hashed.
//! etcd before 3.5.10 also demanded `host:port` and no path for unix URLs; IDs
//! of URLs both accept are the same. `--initial-cluster` is `name=url,…`; a
//! name given twice collects all its URLs (`types.NewURLsMap`).
//! Source: etcd `client/pkg/types/urls.go`, `urlsmap.go`,
//! `server/etcdserver/api/membership/member.go:computeMemberId`,
//! `cluster.go:genID` (v3.5.1, v3.5.33). Checked against the default vector and
//! the `members` bucket written by `etcdutl snapshot restore` (3.5.1).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use sha1::{Digest, Sha1};

use crate::error::{Error, ErrorKind, Result};

/// The default `--initial-cluster-token`.
pub const DEFAULT_TOKEN: &str = "etcd-cluster";

fn usage(msg: String) -> Error {
    Error::new(ErrorKind::Usage(msg))
}

/// A URL split the way Go's `url.Parse` splits it (the subset etcd URLs use).
#[derive(Debug, Clone, PartialEq, Eq)]
struct GoUrl {
    scheme: String,
    /// Present when the URL has a `//` authority.
    authority: Option<(Option<String>, String)>,
    path: String,
    query: Option<String>,
    fragment: Option<String>,
}

impl GoUrl {
    /// `url.Parse`: scheme (lower-cased), `//userinfo@host`, path, `?query`, `#fragment`.
    fn parse(s: &str) -> std::result::Result<GoUrl, String> {
        let (rest, fragment) = match s.split_once('#') {
            Some((a, f)) => (a, Some(f.to_string())),
            None => (s, None),
        };
        if rest.chars().any(|c| c.is_ascii_control()) {
            return Err(format!(
                "parse {s:?}: net/url: invalid control character in URL"
            ));
        }
        let (scheme, rest) = match scheme_split(rest) {
            Some((sch, r)) => (sch.to_ascii_lowercase(), r),
            None => (String::new(), rest),
        };
        let (rest, query) = match rest.split_once('?') {
            Some((a, q)) => (a, Some(q.to_string())),
            None => (rest, None),
        };
        if scheme.is_empty() {
            // Go: a colon in the first path segment of a relative URL is an error.
            let first = rest.split('/').next().unwrap_or("");
            if first.contains(':') {
                return Err(format!(
                    "parse {s:?}: first path segment in URL cannot contain colon"
                ));
            }
        }
        let (authority, path) = match rest.strip_prefix("//") {
            Some(r) => {
                let (auth, path) = match r.find('/') {
                    Some(i) => (r.get(..i).unwrap_or(""), r.get(i..).unwrap_or("")),
                    None => (r, ""),
                };
                let (user, host) = match auth.rsplit_once('@') {
                    Some((u, h)) => (Some(u.to_string()), h),
                    None => (None, auth),
                };
                check_host(host).map_err(|e| format!("parse {s:?}: {e}"))?;
                (Some((user, host.to_string())), path.to_string())
            }
            None => (None, rest.to_string()),
        };
        Ok(GoUrl {
            scheme,
            authority,
            path,
            query,
            fragment,
        })
    }

    fn host(&self) -> &str {
        self.authority.as_ref().map_or("", |(_, h)| h.as_str())
    }

    /// `url.String()` for the URLs etcd accepts.
    fn to_go_string(&self) -> String {
        let mut out = String::new();
        if !self.scheme.is_empty() {
            out.push_str(&self.scheme);
            out.push(':');
        }
        if let Some((user, host)) = &self.authority {
            out.push_str("//");
            if let Some(u) = user {
                out.push_str(u);
                out.push('@');
            }
            out.push_str(host);
        }
        out.push_str(&self.path);
        if let Some(q) = &self.query {
            out.push('?');
            out.push_str(q);
        }
        if let Some(f) = &self.fragment {
            out.push('#');
            out.push_str(f);
        }
        out
    }
}

/// `getScheme`: `[A-Za-z][A-Za-z0-9+.-]*:`; `None` when there is no scheme.
fn scheme_split(s: &str) -> Option<(&str, &str)> {
    for (i, c) in s.char_indices() {
        match c {
            'a'..='z' | 'A'..='Z' => {}
            '0'..='9' | '+' | '-' | '.' if i > 0 => {}
            ':' if i > 0 => return Some((s.get(..i)?, s.get(i + 1..)?)),
            _ => return None,
        }
    }
    None
}

/// Go's `parseHost` port rule: after the host (or `]`), `:` then digits only.
fn check_host(host: &str) -> std::result::Result<(), String> {
    let port = if let Some(rest) = host.strip_prefix('[') {
        match rest.find(']') {
            Some(i) => rest.get(i + 1..).unwrap_or(""),
            None => return Err("missing ']' in host".into()),
        }
    } else {
        match host.rfind(':') {
            Some(i) => host.get(i..).unwrap_or(""),
            None => "",
        }
    };
    if port.is_empty() {
        return Ok(());
    }
    match port.strip_prefix(':') {
        Some(p) if p.bytes().all(|b| b.is_ascii_digit()) => Ok(()),
        _ => Err(format!("invalid port {port:?} after host")),
    }
}

/// Go's `net.SplitHostPort` validity (we only need "does it split").
fn splits_host_port(hostport: &str) -> bool {
    if let Some(rest) = hostport.strip_prefix('[') {
        let Some(end) = rest.find(']') else {
            return false;
        };
        let after = rest.get(end + 1..).unwrap_or("");
        let host = rest.get(..end).unwrap_or("");
        return after.starts_with(':')
            && !after.get(1..).unwrap_or("").contains([':', '[', ']'])
            && !host.contains(['[', ']']);
    }
    match hostport.rfind(':') {
        None => false,
        Some(i) => {
            let host = hostport.get(..i).unwrap_or("");
            !host.contains(':')
                && !host.contains(['[', ']'])
                && !hostport.get(i + 1..).unwrap_or("").contains(['[', ']'])
        }
    }
}

/// `types.NewURLs`: validates and normalises peer URLs, sorted by string form.
pub fn parse_urls<S: AsRef<str>>(strs: &[S]) -> Result<Vec<String>> {
    if strs.is_empty() {
        return Err(usage("no valid URLs given".into()));
    }
    let mut out = Vec::new();
    for s in strs {
        let input = s.as_ref().trim();
        let u = GoUrl::parse(input).map_err(usage)?;
        match u.scheme.as_str() {
            "http" | "https" => {
                if !splits_host_port(u.host()) {
                    return Err(usage(format!(
                        "URL address does not have the form \"host:port\": {input}"
                    )));
                }
                if !u.path.is_empty() {
                    return Err(usage(format!("URL must not contain a path: {input}")));
                }
            }
            "unix" | "unixs" => {}
            _ => {
                return Err(usage(format!(
                    "URL scheme must be http, https, unix, or unixs: {input}"
                )))
            }
        }
        out.push(u.to_go_string());
    }
    out.sort();
    Ok(out)
}

/// `types.NewURLsMap`: `name=url,name=url,…` → name → sorted URLs. Empty items
/// are skipped; an item without `=` is a name with an empty (invalid) URL.
pub fn parse_initial_cluster(s: &str) -> Result<BTreeMap<String, Vec<String>>> {
    let mut raw: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for item in s.split(',') {
        if item.is_empty() {
            continue;
        }
        let (name, url) = item.split_once('=').unwrap_or((item, ""));
        raw.entry(name.to_string())
            .or_default()
            .push(url.to_string());
    }
    let mut out = BTreeMap::new();
    for (name, urls) in raw {
        out.insert(name, parse_urls(&urls)?);
    }
    Ok(out)
}

fn first8_be(digest: &[u8]) -> u64 {
    let mut b = [0u8; 8];
    for (d, s) in b.iter_mut().zip(digest) {
        *d = *s;
    }
    u64::from_be_bytes(b)
}

/// `computeMemberId` with `now = nil` (bootstrap and restore).
pub fn member_id<S: AsRef<str>>(peer_urls: &[S], token: &str) -> u64 {
    let mut urls: Vec<&str> = peer_urls.iter().map(AsRef::as_ref).collect();
    urls.sort_unstable();
    let mut h = Sha1::new();
    for u in urls {
        h.update(u.as_bytes());
    }
    h.update(token.as_bytes());
    first8_be(&h.finalize())
}

/// `genID`: sha1 over the sorted member ids as 8-byte big-endian values.
pub fn cluster_id(member_ids: &[u64]) -> u64 {
    let mut ids = member_ids.to_vec();
    ids.sort_unstable();
    let mut h = Sha1::new();
    for id in ids {
        h.update(id.to_be_bytes());
    }
    first8_be(&h.finalize())
}

/// A cluster member as etcd stores it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// Member id.
    pub id: u64,
    /// Peer URLs (normalised, sorted).
    pub peer_urls: Vec<String>,
    /// Whether the member is a learner.
    pub is_learner: bool,
    /// Name ("" = not published yet).
    pub name: String,
    /// Client URLs (empty = not published yet).
    pub client_urls: Vec<String>,
}

/// Appends `s` as a JSON string the way Go's `encoding/json` writes it:
/// `<`, `>`, `&`, U+2028 and U+2029 escaped as `\u…`, control characters
/// as `\n`, `\r`, `\t` or `\u00XX` (Go before 1.22, which etcd 3.5 uses).
pub fn go_json_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c if u32::from(c) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

fn json_list(out: &mut String, items: &[String]) {
    out.push('[');
    for (i, u) in items.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        go_json_string(out, u);
    }
    out.push(']');
}

impl Member {
    /// A new member as bootstrap/restore makes it: id from the URLs and token.
    pub fn new(name: &str, peer_urls: Vec<String>, token: &str) -> Member {
        Member {
            id: member_id(&peer_urls, token),
            peer_urls,
            is_learner: false,
            name: name.to_string(),
            client_urls: Vec::new(),
        }
    }

    /// The JSON etcd writes into the `members` bucket and ConfChange contexts
    /// (`json.Marshal(Member)`), byte for byte.
    pub fn to_json(&self) -> String {
        let mut out = format!("{{\"id\":{},\"peerURLs\":", self.id);
        json_list(&mut out, &self.peer_urls);
        if self.is_learner {
            out.push_str(",\"isLearner\":true");
        }
        if !self.name.is_empty() {
            out.push_str(",\"name\":");
            go_json_string(&mut out, &self.name);
        }
        if !self.client_urls.is_empty() {
            out.push_str(",\"clientURLs\":");
            json_list(&mut out, &self.client_urls);
        }
        out.push('}');
        out
    }

    /// The `members` bucket key: lower-case hex without padding.
    pub fn bucket_key(&self) -> String {
        format!("{:x}", self.id)
    }
}

/// A cluster built from `--initial-cluster`: members sorted by id, and its id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cluster {
    /// Cluster id.
    pub id: u64,
    /// Members in ascending id order (etcd's `Members()` order).
    pub members: Vec<Member>,
}

impl Cluster {
    /// `NewClusterFromURLsMap(token, NewURLsMap(initial_cluster))`.
    pub fn from_initial_cluster(initial_cluster: &str, token: &str) -> Result<Cluster> {
        let map = parse_initial_cluster(initial_cluster)?;
        let mut members: Vec<Member> = Vec::new();
        for (name, urls) in map {
            let m = Member::new(&name, urls, token);
            if m.id == 0 {
                return Err(usage("cannot use 0 as member id".into()));
            }
            if let Some(other) = members.iter().find(|o| o.id == m.id) {
                return Err(usage(format!(
                    "member exists with identical ID {:x} ({} and {})",
                    m.id, other.name, m.name
                )));
            }
            members.push(m);
        }
        members.sort_by_key(|m| m.id);
        let ids: Vec<u64> = members.iter().map(|m| m.id).collect();
        Ok(Cluster {
            id: cluster_id(&ids),
            members,
        })
    }

    /// The member called `name`.
    pub fn member(&self, name: &str) -> Option<&Member> {
        self.members.iter().find(|m| m.name == name)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn default_vector() {
        let c =
            Cluster::from_initial_cluster("default=http://localhost:2380", DEFAULT_TOKEN).unwrap();
        let m = c.member("default").unwrap();
        assert_eq!(m.id, 0x8e9e_05c5_2164_694d);
        assert_eq!(m.id, 10_276_657_743_932_975_437);
        assert_eq!(c.id, 0xcdf8_1819_4e3a_8c32);
        assert_eq!(m.bucket_key(), "8e9e05c52164694d");
        assert_eq!(
            m.to_json(),
            r#"{"id":10276657743932975437,"peerURLs":["http://localhost:2380"],"name":"default"}"#
        );
    }

    #[test]
    fn json_matches_go() {
        let m = Member {
            id: 9_372_538_179_322_589_801,
            peer_urls: vec!["http://127.0.0.1:12380".into()],
            is_learner: false,
            name: "infra1".into(),
            client_urls: vec!["http://127.0.0.1:2379".into()],
        };
        assert_eq!(
            m.to_json(),
            r#"{"id":9372538179322589801,"peerURLs":["http://127.0.0.1:12380"],"name":"infra1","clientURLs":["http://127.0.0.1:2379"]}"#
        );
        let l = Member {
            is_learner: true,
            name: "a<b>&\"\n\u{1}".into(),
            client_urls: vec![],
            ..m
        };
        assert_eq!(
            l.to_json(),
            r#"{"id":9372538179322589801,"peerURLs":["http://127.0.0.1:12380"],"isLearner":true,"name":"a\u003cb\u003e\u0026\"\n\u0001"}"#
        );
    }

    #[test]
    fn urls_as_go_parses_them() {
        assert_eq!(
            parse_urls(&[" HTTP://b:2380 ", "http://a:2380"]).unwrap(),
            vec!["http://a:2380", "http://b:2380"]
        );
        assert_eq!(
            parse_urls(&["http://[::1]:2380"]).unwrap(),
            vec!["http://[::1]:2380"]
        );
        assert_eq!(
            parse_urls(&["unix://localhost:1/x"]).unwrap(),
            vec!["unix://localhost:1/x"]
        );
        for bad in [
            "http://localhost",
            "http://localhost:2380/",
            "localhost:2380",
            "ftp://a:1",
            "http://a:b",
            "",
            "http://::1:2380",
        ] {
            assert!(parse_urls(&[bad]).is_err(), "{bad:?} accepted");
        }
        assert!(parse_urls::<&str>(&[]).is_err());
    }

    #[test]
    fn initial_cluster_accumulates_names() {
        let m =
            parse_initial_cluster("a=http://h2:2380,b=http://h3:2380,,a=http://h1:2380").unwrap();
        assert_eq!(m["a"], vec!["http://h1:2380", "http://h2:2380"]);
        assert_eq!(m["b"], vec!["http://h3:2380"]);
        assert!(parse_initial_cluster("a").is_err());
        // Same URLs under two names: same id.
        assert!(Cluster::from_initial_cluster("a=http://h:1,b=http://h:1", "t").is_err());
        // URL order does not change the id.
        assert_eq!(
            member_id(&["http://b:1", "http://a:1"], "t"),
            member_id(&["http://a:1", "http://b:1"], "t")
        );
    }
}
