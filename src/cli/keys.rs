//! `keys`: the keyspace at a revision (or its whole history), as a table or
//! JSON lines. Also the JSON-line and output helpers `get`, `diff` and `space`
//! share.

use std::io::{BufWriter, StdoutLock, Write};
use std::path::PathBuf;

use clap::{Args, ValueEnum};
use serde::Serialize;

use super::output::{table, Align};
use super::{print_error, EXIT_OK, EXIT_UNREADABLE};
use etcd_rescue::error::{Error, ErrorKind, Result};
use etcd_rescue::etcd::values::{base64, printable};
use etcd_rescue::formats::proto::KeyValueRef;
use etcd_rescue::ops::keys::{keys, KeysOptions, Row};

/// Output of the listing commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(super) enum ListFormat {
    /// A table for people.
    Table,
    /// JSON lines: one object per line, for jq.
    Json,
}

pub(super) const KEYS_EXAMPLES: &str = "\
Examples:
  etcd-rescue keys backup.db                               # every live key, latest revision
  etcd-rescue keys backup.db --prefix /registry/pods/ --rev 1200
  etcd-rescue keys /var/lib/etcd --prefix /registry/leases/ --history --limit 50
  etcd-rescue keys backup.db -w json | jq -r 'select(.lease != 0) | .key'

Revisions: --rev 0 (the default) is the current revision: the largest of the last
stored revision and the compact revisions in meta. Like etcd, a revision below the
compact revision (meta finishedCompactRev, or scheduledCompactRev if larger) is refused
(\"required revision has been compacted\"), and one above the current revision too
(\"future revision\"); both exit 2.
--history lists the stored records in revision order (deletes included), not grouped
by key, so that memory stays constant; combine with --prefix to follow one key.";

#[derive(Debug, Args)]
pub(super) struct KeysArgs {
    /// Snapshot file, bbolt db, member dir or data dir.
    path: PathBuf,
    /// Only keys starting with this prefix.
    #[arg(long, default_value = "")]
    prefix: std::ffi::OsString,
    /// Revision to read at (0: current).
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(i64).range(0..))]
    rev: i64,
    /// Every stored revision up to --rev, deletes included, in revision order.
    #[arg(long)]
    history: bool,
    /// Print at most N rows.
    #[arg(long, value_name = "N")]
    limit: Option<u64>,
    /// Output format.
    #[arg(short = 'w', long = "write-out", value_enum, default_value = "table")]
    write_out: ListFormat,
}

/// A buffered stdout where a closed pipe ends the output quietly.
pub(super) struct Out {
    w: BufWriter<StdoutLock<'static>>,
    /// Set when the reader went away (`| head`).
    pub closed: bool,
}

impl Out {
    pub(super) fn new() -> Self {
        Out {
            w: BufWriter::with_capacity(1 << 16, std::io::stdout().lock()),
            closed: false,
        }
    }

    fn check(&mut self, r: std::io::Result<()>) -> Result<()> {
        match r {
            Ok(()) => Ok(()),
            Err(e) => {
                if e.kind() == std::io::ErrorKind::BrokenPipe {
                    self.closed = true;
                }
                Err(Error::new(ErrorKind::Io {
                    op: "write",
                    message: e.to_string(),
                }))
            }
        }
    }

    /// Writes `s` as is.
    pub(super) fn write(&mut self, s: &[u8]) -> Result<()> {
        let r = self.w.write_all(s);
        self.check(r)
    }

    /// Writes one line.
    pub(super) fn line(&mut self, s: &str) -> Result<()> {
        let r = self
            .w
            .write_all(s.as_bytes())
            .and_then(|()| self.w.write_all(b"\n"));
        self.check(r)
    }

    /// Flushes.
    pub(super) fn flush(&mut self) -> Result<()> {
        let r = self.w.flush();
        self.check(r)
    }

    /// The exit code for an error met while producing output: a closed pipe
    /// is not a failure.
    pub(super) fn fail(&mut self, e: &Error) -> u8 {
        if self.closed {
            return EXIT_OK;
        }
        print_error(e);
        EXIT_UNREADABLE
    }
}

/// A KeyValue as one JSON object: `key` and `value` as text when they are
/// valid UTF-8, else `key_base64` / `value_base64`.
#[derive(Debug, Serialize)]
pub(super) struct KvJson<'s> {
    #[serde(skip_serializing_if = "Option::is_none")]
    key: Option<&'s str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    key_base64: Option<String>,
    create_revision: i64,
    mod_revision: i64,
    version: i64,
    lease: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    value: Option<&'s str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    value_base64: Option<String>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    deleted: bool,
}

impl<'s> KvJson<'s> {
    /// With the key (`with_key`) and the value (unless a delete).
    pub(super) fn new(kv: &KeyValueRef<'s>, with_key: bool, deleted: bool) -> Self {
        let (key, key_base64) = if with_key {
            text_or_base64(kv.key)
        } else {
            (None, None)
        };
        let (value, value_base64) = if deleted {
            (None, None)
        } else {
            text_or_base64(kv.value)
        };
        KvJson {
            key,
            key_base64,
            create_revision: kv.create_revision,
            mod_revision: kv.mod_revision,
            version: kv.version,
            lease: kv.lease,
            value,
            value_base64,
            deleted,
        }
    }
}

/// `(Some(text), None)` for UTF-8, else `(None, Some(base64))`.
pub(super) fn text_or_base64(b: &[u8]) -> (Option<&str>, Option<String>) {
    match std::str::from_utf8(b) {
        Ok(s) => (Some(s), None),
        Err(_) => (None, Some(base64(b))),
    }
}

/// A value serialized on one line.
pub(super) fn json_line<T: Serialize>(v: &T) -> Result<String> {
    serde_json::to_string(v).map_err(|e| {
        Error::new(ErrorKind::Io {
            op: "serialize",
            message: e.to_string(),
        })
    })
}

/// Lease ids for people: hex, as `etcdctl lease list` prints them; `-` for none.
pub(super) fn lease_cell(lease: i64) -> String {
    if lease == 0 {
        "-".into()
    } else {
        format!("{lease:x}")
    }
}

pub(super) fn run(a: &KeysArgs) -> u8 {
    let opts = KeysOptions {
        rev: a.rev,
        prefix: a.prefix.as_encoded_bytes().to_vec(),
        history: a.history,
        limit: a.limit,
    };
    let mut out = Out::new();
    let mut rows: Vec<Vec<String>> = Vec::new();
    let json = a.write_out == ListFormat::Json;
    let history = a.history;
    let mut sink = |r: &Row<'_>| -> Result<()> {
        let kv = if r.tombstone {
            KeyValueRef {
                mod_revision: r.rev.main,
                ..r.kv
            }
        } else {
            r.kv
        };
        if json {
            return out.line(&json_line(&KvJson::new(&kv, true, r.tombstone))?);
        }
        let mut row = Vec::with_capacity(8);
        if history {
            row.push(format!("{}.{}", r.rev.main, r.rev.sub));
            row.push(if r.tombstone { "delete" } else { "put" }.into());
        }
        row.push(printable(kv.key));
        if r.tombstone {
            row.extend([
                "-".into(),
                kv.mod_revision.to_string(),
                "-".into(),
                "-".into(),
                "-".into(),
            ]);
        } else {
            row.extend([
                kv.create_revision.to_string(),
                kv.mod_revision.to_string(),
                kv.version.to_string(),
                lease_cell(kv.lease),
                etcd_rescue::bytes::to_u64(kv.value.len()).to_string(),
            ]);
        }
        rows.push(row);
        Ok(())
    };
    let summary = match keys(&a.path, &opts, &mut sink) {
        Ok(s) => s,
        Err(e) => return out.fail(&e),
    };
    let mut finish = || -> Result<()> {
        if !json {
            let mut headers = Vec::new();
            if history {
                headers.extend(["revision", "event"]);
            }
            headers.extend(["key", "create", "mod", "version", "lease", "size"]);
            out.write(table(&headers, &rows, Align::Left).as_bytes())?;
            let what = if history { "records" } else { "keys" };
            let shown = match summary.matched {
                Some(m) if m > summary.rows => {
                    format!("{} of {m} {what} shown (--limit)", summary.rows)
                }
                Some(_) => format!("{} {what}", summary.rows),
                None => format!("first {} {what} shown (--limit)", summary.rows),
            };
            out.line(&format!(
                "{shown} at revision {} (current revision {}, compact revision {}) in {}",
                summary.rev,
                summary.revisions.current,
                summary.revisions.compact,
                summary.db_path.display(),
            ))?;
        }
        out.flush()
    };
    match finish() {
        Ok(()) => EXIT_OK,
        Err(e) => out.fail(&e),
    }
}
