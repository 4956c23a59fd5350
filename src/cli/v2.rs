//! `v2 ls` and `v2 get`: the v2 store (etcd 3.4/3.5 with `--enable-v2`)
//! rebuilt offline, printed like `ETCDCTL_API=2 etcdctl ls --sort` / `get`.

use std::path::PathBuf;

use clap::{Args, Subcommand, ValueEnum};
use serde::Serialize;

use super::keys::{json_line, Out};
use super::{EXIT_OK, EXIT_PROBLEMS};
use etcd_rescue::error::Severity;
use etcd_rescue::etcd::v2replay::format_rfc3339_ns;
use etcd_rescue::ops::inspect::action_for;
use etcd_rescue::ops::v2::{self, Lookup, Shown, V2Era, V2Loaded};

const LS_EXAMPLES: &str = "\
Examples:
  etcd-rescue v2 ls /var/lib/etcd --recursive            # every v2 key (Patroni: /service/<scope>/...)
  etcd-rescue v2 ls /var/lib/etcd /service/pg -p         # one level, dirs with a trailing /
  etcd-rescue v2 ls /copies/node1/member -r -w json | jq -r 'select(.expired) | .key'
  etcd-rescue v2 ls backup/0000000000000002-000000000000003f.snap -r   # one .snap, no WAL replay

The store is rebuilt from the newest .snap etcd would load plus the committed v2
requests after it in the WAL (set, create, update, compare-and-swap, delete,
expire by SYNC), by etcd's rules. Paths are shown without the internal /1 prefix
and in sorted order (like `etcdctl ls --sort`); keys starting with _ are hidden,
as etcd hides them.
TTL keys: etcd removes an expired key only when it applies a SYNC entry, and
answers reads with it until then; so expired keys are listed by default, like a
server started from these files would right before its first SYNC. -w json marks
them (\"expired\":true, negative \"ttl\"); --hide-expired leaves them out.
Exit codes: 0 ok, 1 the key does not exist or the WAL is damaged (the listing
stops at the damage: it is printed, but may lack later v2 writes), 2 could not
read the files.";

const GET_EXAMPLES: &str = "\
Examples:
  etcd-rescue v2 get /var/lib/etcd /service/pg/config
  etcd-rescue v2 get /var/lib/etcd /service/pg/leader -w json
  for k in $(etcd-rescue v2 ls /var/lib/etcd -r); do ...; done   # export

Prints the value and a newline, like `ETCDCTL_API=2 etcdctl get`. An expired key
that no SYNC removed yet is still printed (as etcd would); a note on stderr says so.
Exit codes: 0 found, 1 no such key or it is a directory, or the WAL is damaged
(the value is printed as of the last readable entry and may be stale), 2 could
not read the files.";

/// v2 store commands.
#[derive(Debug, Subcommand)]
pub(super) enum V2Command {
    /// List v2 keys like `ETCDCTL_API=2 etcdctl ls --sort` (rebuilt from .snap + WAL).
    #[command(after_help = LS_EXAMPLES)]
    Ls(LsArgs),
    /// Print a v2 key's value like `ETCDCTL_API=2 etcdctl get`.
    #[command(after_help = GET_EXAMPLES)]
    Get(GetArgs),
}

/// Output of the v2 commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(super) enum V2Format {
    /// What etcdctl prints.
    Simple,
    /// JSON lines with the node's metadata.
    Json,
}

#[derive(Debug, Args)]
pub(super) struct LsArgs {
    /// Data dir, member dir, or a single .snap file.
    path: PathBuf,
    /// The dir (or key) to list.
    #[arg(default_value = "/")]
    key: String,
    /// List the whole subtree.
    #[arg(short = 'r', long)]
    recursive: bool,
    /// Append / to dirs (etcdctl ls -p).
    #[arg(short = 'p')]
    slash: bool,
    /// Leave out keys whose TTL has run out (etcd would still return them until a SYNC).
    #[arg(long)]
    hide_expired: bool,
    /// Output format.
    #[arg(short = 'w', long = "write-out", value_enum, default_value = "simple")]
    write_out: V2Format,
}

#[derive(Debug, Args)]
pub(super) struct GetArgs {
    /// Data dir, member dir, or a single .snap file.
    path: PathBuf,
    /// The key (`/service/pg/leader`).
    key: String,
    /// Output format.
    #[arg(short = 'w', long = "write-out", value_enum, default_value = "simple")]
    write_out: V2Format,
}

/// One node as a JSON line (v2 API field names).
#[derive(Serialize)]
struct NodeJson<'s> {
    key: &'s str,
    dir: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    value: Option<&'s str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    expiration: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ttl: Option<i64>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    expired: bool,
    #[serde(rename = "createdIndex")]
    created_index: u64,
    #[serde(rename = "modifiedIndex")]
    modified_index: u64,
}

impl<'s> NodeJson<'s> {
    fn new(s: &Shown<'s>, now: i64) -> Self {
        let n = s.node;
        NodeJson {
            key: s.key,
            dir: n.is_dir(),
            value: (!n.is_dir()).then_some(n.value.as_str()),
            expiration: n.expire_ns.map(format_rfc3339_ns),
            ttl: n.expire_ns.map(|t| v2::ttl_seconds(t, now)),
            expired: s.expired(now),
            created_index: n.created_index,
            modified_index: n.modified_index,
        }
    }
}

pub(super) fn run(c: V2Command) -> u8 {
    match c {
        V2Command::Ls(a) => ls(&a),
        V2Command::Get(a) => get(&a),
    }
}

fn load(out: &mut Out, path: &std::path::Path) -> Result<V2Loaded, u8> {
    let l = v2::load(path).map_err(|e| out.fail(&e))?;
    for f in &l.findings {
        if f.severity >= Severity::Warning {
            eprintln!("warning: {}: {}", f.at, f.message);
            if f.severity == Severity::Error && f.code.starts_with("wal.") {
                eprintln!(
                    "  -> the v2 store is rebuilt only up to the last readable WAL entry before this damage: v2 writes after it are not listed. {}",
                    action_for(f.code)
                );
            }
        }
    }
    Ok(l)
}

/// The store was rebuilt only up to WAL damage: the answer may lack later
/// writes, so the command exits 1 after printing it.
fn stopped_at_damage(l: &V2Loaded) -> bool {
    l.findings
        .iter()
        .any(|f| f.severity == Severity::Error && f.code.starts_with("wal."))
}

/// What the v2 store holds for the etcd that wrote the files: said on stderr
/// for 3.6+ data, and whenever a listing comes out empty.
fn era_note(l: &V2Loaded, empty: bool) {
    match l.era() {
        V2Era::V36(v) => eprintln!(
            "note: written by etcd {v} (meta/storageVersion): since etcd 3.6 the v2 store holds only the cluster membership (/0/members, /0/version, which the v2 API never lists); etcd 3.6 neither serves nor applies v2 requests and refuses to start with other v2 content. It still loads the membership from the .snap at start-up; `inspect` shows it"
        ),
        V2Era::V37(v) => eprintln!(
            "note: written by etcd {v} (meta/storageVersion): since etcd 3.6 the v2 store holds only the cluster membership (/0/members, /0/version, which the v2 API never lists), and etcd 3.7 no longer reads it at all (it still writes it into .snap files; membership comes from the db's members bucket); `inspect` shows both"
        ),
        V2Era::Unknown if empty => eprintln!(
            "note: the v2 store holds no keys outside etcd's internal /0 (membership); v2 keys exist only where etcd 3.4/3.5 ran with --enable-v2 and a v2 client wrote them"
        ),
        V2Era::Unknown => {}
    }
}

fn not_found(l: &V2Loaded, key: &str, why: &Lookup<'_>) -> u8 {
    era_note(l, false);
    let shown = v2::user_key(&v2::store_path(key)).to_owned();
    match why {
        Lookup::NotDir(at) => eprintln!(
            "Error: 104: Not a directory ({at}) [{}]",
            l.store.current_index
        ),
        _ => eprintln!(
            "Error: 100: Key not found ({shown}) [{}]",
            l.store.current_index
        ),
    }
    EXIT_PROBLEMS
}

fn expired_note(n: usize) {
    if n > 0 {
        eprintln!(
            "note: {n} listed key(s) have expired but were not yet removed by a SYNC entry; etcd still returns them until it applies one (--hide-expired leaves them out, -w json marks them)"
        );
    }
}

fn ls(a: &LsArgs) -> u8 {
    let mut out = Out::new();
    let l = match load(&mut out, &a.path) {
        Ok(l) => l,
        Err(code) => return code,
    };
    let now = v2::now_ns();
    let rows = match l.ls(&a.key, a.recursive) {
        Ok(r) => r,
        Err(why) => return not_found(&l, &a.key, &why),
    };
    let mut expired = 0usize;
    let mut res = Ok(());
    for s in &rows {
        if s.expired(now) {
            if a.hide_expired {
                continue;
            }
            expired = expired.saturating_add(1);
        }
        res = match a.write_out {
            V2Format::Simple if a.slash && s.node.is_dir() => out.line(&format!("{}/", s.key)),
            V2Format::Simple => out.line(s.key),
            V2Format::Json => json_line(&NodeJson::new(s, now)).and_then(|j| out.line(&j)),
        };
        if res.is_err() {
            break;
        }
    }
    match res.and_then(|()| out.flush()) {
        Ok(()) => {
            if a.write_out == V2Format::Simple {
                expired_note(expired);
            }
            era_note(&l, rows.is_empty());
            if stopped_at_damage(&l) {
                EXIT_PROBLEMS
            } else {
                EXIT_OK
            }
        }
        Err(e) => out.fail(&e),
    }
}

fn get(a: &GetArgs) -> u8 {
    let mut out = Out::new();
    let l = match load(&mut out, &a.path) {
        Ok(l) => l,
        Err(code) => return code,
    };
    let now = v2::now_ns();
    let s = match l.lookup(&a.key) {
        Lookup::Found(s) => s,
        why => return not_found(&l, &a.key, &why),
    };
    era_note(&l, false);
    let res = match a.write_out {
        V2Format::Simple => {
            if s.node.is_dir() {
                eprintln!("{}: is a directory", s.key);
                return EXIT_PROBLEMS;
            }
            if s.expired(now) {
                expired_note(1);
            }
            out.line(&s.node.value)
        }
        V2Format::Json => json_line(&NodeJson::new(&s, now)).and_then(|j| out.line(&j)),
    };
    match res.and_then(|()| out.flush()) {
        Ok(()) if stopped_at_damage(&l) => EXIT_PROBLEMS,
        Ok(()) => EXIT_OK,
        Err(e) => out.fail(&e),
    }
}
