//! Semantic versions as etcd parses them (coreos/go-semver `NewVersion`):
//! `MAJOR.MINOR.PATCH[-pre][+meta]`, exactly three dotted numbers.

use std::fmt;

/// A parsed version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version {
    /// Major.
    pub major: i64,
    /// Minor.
    pub minor: i64,
    /// Patch.
    pub patch: i64,
    /// Pre-release, without the `-`.
    pub pre: String,
    /// Build metadata, without the `+`.
    pub meta: String,
}

impl Version {
    /// Parses like go-semver; `None` where it returns an error.
    pub fn parse(s: &str) -> Option<Version> {
        let (rest, meta) = match s.split_once('+') {
            Some((a, b)) => (a, b.to_string()),
            None => (s, String::new()),
        };
        let (core, pre) = match rest.split_once('-') {
            Some((a, b)) => (a, b.to_string()),
            None => (rest, String::new()),
        };
        let valid_ident = |x: &str| {
            x.is_empty()
                || x.split('.').all(|p| {
                    !p.is_empty() && p.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                })
        };
        if !valid_ident(&pre) || !valid_ident(&meta) {
            return None;
        }
        let mut parts = core.splitn(3, '.');
        let mut num = || parts.next().and_then(|p| p.parse::<i64>().ok());
        let (major, minor, patch) = (num()?, num()?, num()?);
        Some(Version {
            major,
            minor,
            patch,
            pre,
            meta,
        })
    }

    /// Whether this is 3.6 or newer.
    pub fn at_least(&self, major: i64, minor: i64) -> bool {
        (self.major, self.minor) >= (major, minor)
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)?;
        if !self.pre.is_empty() {
            write!(f, "-{}", self.pre)?;
        }
        if !self.meta.is_empty() {
            write!(f, "+{}", self.meta)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_like_go_semver() {
        assert_eq!(Version::parse("3.6.0").unwrap().to_string(), "3.6.0");
        assert!(Version::parse("3.6").is_none());
        assert!(Version::parse("").is_none());
        assert_eq!(Version::parse("3.7.0-alpha.1").unwrap().pre, "alpha.1");
        assert!(Version::parse("3.6.0").unwrap().at_least(3, 6));
        assert!(!Version::parse("3.5.9").unwrap().at_least(3, 6));
    }
}
