//! Peer and client URLs as etcd parses them, and `--initial-cluster`.
//!
//! URL rules (`types.NewURLs`, etcd 3.5.10+ and 3.6): each string is trimmed and
//! parsed as Go's `net/url` would; http and https need `host:port` and no
//! path; unix and unixs are taken as they are; other schemes are refused. The
//! list is sorted by the URL's `String()` form, which is also what gets hashed
//! into a member id ([`super::ids::member_id`]). etcd before 3.5.10 also
//! demanded `host:port` and no path for unix URLs; IDs of URLs both accept are
//! the same. `--initial-cluster` is `name=url,…`; a name given twice collects
//! all its URLs (`types.NewURLsMap`).
//! Source: etcd `client/pkg/types/urls.go`, `urlsmap.go` (v3.5.1, v3.5.33).

use std::collections::BTreeMap;

use crate::error::{Error, ErrorKind, Result};

pub(super) fn usage(msg: String) -> Error {
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
