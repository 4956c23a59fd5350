//! Errors and findings.
//!
//! Two kinds of bad news come out of this crate:
//!
//! * an [`Error`] means "cannot continue": the file cannot be opened, is not the
//!   format we expected, or a structure we must follow is damaged. It always says
//!   which file, where in it (page and/or byte offset) and what to do next.
//! * a [`Finding`] is one problem found by a check that goes on after finding it
//!   (bbolt's `tx.Check()` habit: report every problem, not the first).
//!
//! Inner readers build an [`ErrorKind`] with the page or offset they know; the
//! layer that opened the file attaches the path once ([`Error::in_file`]).

use std::fmt;
use std::path::{Path, PathBuf};

use serde::Serialize;

pub use crate::formats::bbolt::meta::MetaProblem;

/// Where in an input something was found.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Location {
    /// The input file, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<PathBuf>,
    /// bbolt page id, when the problem is inside a page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub page: Option<u64>,
    /// Byte offset from the start of the file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offset: Option<u64>,
}

impl Location {
    /// A location on a page (the offset is the page's first byte).
    pub fn page(page: u64, page_size: u32) -> Self {
        Location {
            file: None,
            page: Some(page),
            offset: page.checked_mul(u64::from(page_size)),
        }
    }

    /// A location at a byte offset.
    pub fn offset(offset: u64) -> Self {
        Location {
            file: None,
            page: None,
            offset: Some(offset),
        }
    }

    fn is_empty(&self) -> bool {
        self.file.is_none() && self.page.is_none() && self.offset.is_none()
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = Vec::new();
        if let Some(file) = &self.file {
            parts.push(file.display().to_string());
        }
        match (self.page, self.offset) {
            (Some(p), Some(o)) => parts.push(format!("page {p} (offset {o:#x})")),
            (Some(p), None) => parts.push(format!("page {p}")),
            (None, Some(o)) => parts.push(format!("offset {o:#x}")),
            (None, None) => {}
        }
        f.write_str(&parts.join(": "))
    }
}

/// What went wrong, with the data needed to explain it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The operating system refused an operation.
    #[error("{op}: {message}")]
    Io {
        /// What we tried ("open", "read", "map").
        op: &'static str,
        /// The OS error text.
        message: String,
    },
    /// The path does not name anything usable.
    #[error("{0}")]
    BadPath(String),
    /// The file has no bytes.
    #[error("file is empty")]
    Empty,
    /// Neither meta page is valid, so this is not (or no longer) a bbolt file.
    #[error("not a bbolt database: meta page 0 is {meta0}, meta page 1 is {meta1}")]
    NoValidMeta {
        /// Problem with meta page 0.
        meta0: MetaProblem,
        /// Problem with meta page 1 (probed at the usual page sizes).
        meta1: MetaProblem,
    },
    /// The page size in the meta page is not one bbolt can have written.
    #[error("unsupported page size {0} in the meta page")]
    BadPageSize(u32),
    /// The file is shorter than a structure that must be in it.
    #[error("file is truncated: {what} needs {need} bytes, the file has {have}")]
    Truncated {
        /// What did not fit.
        what: &'static str,
        /// Bytes needed.
        need: u64,
        /// Bytes present.
        have: u64,
    },
    /// A page id is beyond the end of the file.
    #[error("page {id} is past the end of the file ({pages} pages in the file)")]
    PagePastEnd {
        /// The page asked for.
        id: u64,
        /// Number of whole pages in the file.
        pages: u64,
    },
    /// A page's header names another page id than its position.
    #[error("page header says id {found}, expected {expected}")]
    PageIdMismatch {
        /// Position of the page.
        expected: u64,
        /// Id written in the header.
        found: u64,
    },
    /// A page is not of the kind the structure pointing at it needs.
    #[error("page has flags {found:#06x} ({found_name}), expected a {expected} page")]
    BadPageType {
        /// What was expected ("branch or leaf", "freelist").
        expected: &'static str,
        /// Flags found.
        found: u16,
        /// Name of the flags found.
        found_name: String,
    },
    /// An element (or its key/value bytes) lies outside its page.
    #[error(
        "element {index} of {count} reaches byte {end} of the page, past its end ({len} bytes)"
    )]
    ElementOutOfPage {
        /// Element index.
        index: u32,
        /// Elements on the page.
        count: u32,
        /// Offset (from the page start) the element's data ends at.
        end: u64,
        /// Bytes in the page including its overflow pages.
        len: u64,
    },
    /// A page was reached twice while walking a tree (a cycle or a shared page).
    #[error("page {0} is reached twice in the tree (cycle or double reference)")]
    PageRevisited(u64),
    /// The tree is deeper than any real bbolt tree can be.
    #[error("tree deeper than {0} levels (a page cycle?)")]
    TooDeep(usize),
    /// A bucket value is malformed.
    #[error("bucket {name:?}: {what}")]
    BadBucket {
        /// The bucket's name (lossy UTF-8).
        name: String,
        /// What is wrong.
        what: String,
    },
    /// The structural check found problems (message as etcdutl prints it).
    #[error("snapshot file integrity check failed. {} errors found.\n{}", .0.len(), .0.join("\n"))]
    IntegrityCheckFailed(Vec<String>),
    /// The data does not follow etcd's schema where a command needs it to.
    #[error("{0}")]
    Schema(String),
    /// A WAL dir holds no file named like a WAL file.
    #[error("no WAL files (named <seq>-<index>.wal) in this directory")]
    NoWalFiles,
    /// The v2 store JSON of a `.snap` does not parse.
    #[error("the v2 store JSON in this .snap does not parse: {0}")]
    BadV2Store(String),
    /// A command-line argument is not usable.
    #[error("{0}")]
    Usage(String),
    /// The revision asked for was compacted away (etcd's `ErrCompacted`).
    #[error("mvcc: required revision has been compacted (revision {rev}, compact revision {compact_rev})")]
    Compacted {
        /// Revision asked for.
        rev: i64,
        /// The compact revision.
        compact_rev: i64,
    },
    /// The revision asked for is past the current one (etcd's `ErrFutureRev`).
    #[error(
        "mvcc: required revision is a future revision (revision {rev}, current revision {current})"
    )]
    FutureRevision {
        /// Revision asked for.
        rev: i64,
        /// The current revision.
        current: i64,
    },
    /// A path the command cannot use, with the hint of that command.
    #[error("{problem}")]
    BadPathFor {
        /// What is wrong with the path.
        problem: String,
        /// What the command wants instead.
        hint: &'static str,
    },
    /// An input was read but refused for what it holds (bad sha256 trailer,
    /// damaged structure); the message says what the file is and what to do.
    #[error("{0}")]
    Refused(String),
    /// A writer was given input it cannot write (order, size, emptiness).
    #[error("cannot write key {key}{}: {problem}", .bucket.as_ref().map(|b| format!(" in bucket {b:?}")).unwrap_or_default())]
    BadWriteInput {
        /// The bucket, when the key is inside one.
        bucket: Option<String>,
        /// The key (hex, shortened).
        key: String,
        /// What is wrong.
        problem: &'static str,
    },
}

impl ErrorKind {
    /// What the user can do about it, in one short sentence.
    pub fn hint(&self) -> Option<&'static str> {
        Some(match self {
            ErrorKind::Io { .. } => "check the path and its permissions",
            ErrorKind::BadPathFor { hint, .. } => hint,
            ErrorKind::BadPath(_) => {
                "give a snapshot file, a bbolt db, or an etcd data dir or member dir"
            }
            ErrorKind::Empty => "the copy or download produced no data; take the backup again",
            ErrorKind::NoValidMeta { .. } => {
                "no bbolt meta page: check the path (this may not be an etcd db or snapshot at all); if it is a db whose first pages were overwritten, `etcd-rescue salvage FILE --out NEW.db` recovers the keys its other pages still hold (and writes nothing when none do); or use another member's data dir or another backup"
            }
            ErrorKind::BadPageSize(_) => "the meta page is damaged; use another backup",
            ErrorKind::Truncated { .. } | ErrorKind::PagePastEnd { .. } => {
                "the file was cut short (partial download or copy?); fetch the backup again"
            }
            ErrorKind::PageIdMismatch { .. }
            | ErrorKind::BadPageType { .. }
            | ErrorKind::ElementOutOfPage { .. }
            | ErrorKind::PageRevisited(_)
            | ErrorKind::TooDeep(_)
            | ErrorKind::BadBucket { .. } => {
                "the db is damaged; run `etcd-rescue check` for every problem, restore from another backup"
            }
            ErrorKind::NoWalFiles => {
                "give member/wal of a data dir; without WAL files only the db and .snap files can be read"
            }
            ErrorKind::IntegrityCheckFailed(_)
            | ErrorKind::Schema(_)
            | ErrorKind::Usage(_)
            | ErrorKind::Refused(_)
            | ErrorKind::BadWriteInput { .. } => return None,
            ErrorKind::BadV2Store(_) => {
                "the .snap is damaged; move it aside so that an older .snap and more of the WAL are used"
            }
            ErrorKind::Compacted { .. } => "ask for a revision at or after the compact revision",
            ErrorKind::FutureRevision { .. } => {
                "ask for a revision at or before the current revision (or omit --rev)"
            }
        })
    }
}

/// An error that stops an operation, with where it happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    /// What went wrong.
    pub kind: ErrorKind,
    /// Where.
    pub at: Location,
}

impl Error {
    /// An error at no particular place yet.
    pub fn new(kind: ErrorKind) -> Self {
        Error {
            kind,
            at: Location::default(),
        }
    }

    /// An error at a location.
    pub fn at(kind: ErrorKind, at: Location) -> Self {
        Error { kind, at }
    }

    /// A bad path gets the hint of the command it was given to (a bad path
    /// given to `wal dump` wants a WAL dir, not a snapshot); other errors
    /// keep theirs.
    #[must_use]
    pub fn with_path_hint(mut self, hint: &'static str) -> Self {
        if let ErrorKind::BadPath(problem) = self.kind {
            self.kind = ErrorKind::BadPathFor { problem, hint };
        }
        self
    }

    /// Attaches the file path (once; an inner path wins).
    #[must_use]
    pub fn in_file(mut self, path: &Path) -> Self {
        if self.at.file.is_none() {
            self.at.file = Some(path.to_path_buf());
        }
        self
    }

    /// An I/O error from the operating system.
    pub fn io(op: &'static str, path: &Path, err: &std::io::Error) -> Self {
        Error::new(ErrorKind::Io {
            op,
            message: err.to_string(),
        })
        .in_file(path)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.at.is_empty() {
            write!(f, "{}: ", self.at)?;
        }
        write!(f, "{}", self.kind)?;
        if let Some(hint) = self.kind.hint() {
            write!(f, " ({hint})")?;
        }
        Ok(())
    }
}

impl std::error::Error for Error {}

impl From<ErrorKind> for Error {
    fn from(kind: ErrorKind) -> Self {
        Error::new(kind)
    }
}

/// Result with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Worth knowing; nothing is wrong with the data.
    Info,
    /// Suspicious or risky, the data may still be usable.
    Warning,
    /// The data is damaged or inconsistent.
    Error,
}

/// One problem found by a check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// Stable machine-readable code, e.g. `bbolt.page.multiple-references`.
    pub code: &'static str,
    /// How bad it is.
    pub severity: Severity,
    /// Where.
    pub at: Location,
    /// One line for a person. For the bbolt check codes shared with Go bbolt this is
    /// the exact text `tx.Check()` gives (bbolt v1.3.6, as used by etcdutl 3.5).
    pub message: String,
}

impl Finding {
    /// An error-severity finding.
    pub fn error(code: &'static str, at: Location, message: String) -> Self {
        Finding {
            code,
            severity: Severity::Error,
            at,
            message,
        }
    }

    /// A warning-severity finding.
    pub fn warning(code: &'static str, at: Location, message: String) -> Self {
        Finding {
            code,
            severity: Severity::Warning,
            at,
            message,
        }
    }
}
