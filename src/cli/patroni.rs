//! `patroni`: Patroni's clusters as `patronictl list` / `history` /
//! `show-config` would show them, read offline, with recovery advisories.

use std::fmt::Write as _;
use std::path::PathBuf;

use clap::{Args, ValueEnum};
use serde_json::Value;

use super::output::{table, Align};
use super::{emit, print_error, EXIT_OK, EXIT_PROBLEMS, EXIT_UNREADABLE};
use etcd_rescue::etcd::patroni::{Advisory, Expiry, LeaderLife, Level};
use etcd_rescue::etcd::v2replay::{format_rfc3339_ns, parse_rfc3339_ns};
use etcd_rescue::ops::patroni::{patroni, ClusterReport, PatroniOptions, PatroniReport};

pub(super) const EXAMPLES: &str = "\
Examples:
  etcd-rescue patroni /var/lib/etcd                      # every scope, v2 and v3 keys
  etcd-rescue patroni backup.db --scope pg-main --history  # who led when (v3 revisions)
  etcd-rescue patroni /copies/etcd1 /backups/etcd.db --now 2026-11-21T10:00:00Z -w json

What patronictl list shows (Member, Host, Role, State, TL, LSNs and lag in MB, as
patronictl computes them from the member keys and the leader's status optime),
the timeline history (patronictl history), the dynamic configuration (show-config),
initialize (the PostgreSQL system identifier), failover, sync, failsafe, status.
Live-only facts (whether PostgreSQL answers now, the REST API) cannot be read
offline and are not shown. -w json: one object; `patronictl_list` and
`patronictl_history` equal `patronictl list -f json` / `history -f json`.
TTLs: v2 keys carry an absolute expire time, judged against --now (default: the
clock); v3 keys sit on leases, which etcd restarts at their full TTL when it starts
on restored data.
Exit codes: 0 nothing to warn about, 1 advisories of level warning, 2 could not read.";

/// Output format of `patroni`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(super) enum PatroniOut {
    /// Tables and text for a person.
    Table,
    /// One JSON object (stable field names).
    Json,
}

/// Show Patroni (PostgreSQL HA) clusters stored in etcd, offline.
#[derive(Debug, Args)]
pub(super) struct PatroniArgs {
    /// Snapshot file, bbolt db, member dir, data dir, or a v2 `.snap` file (several: compared).
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// Only this namespace (Patroni's `namespace`, e.g. /service).
    #[arg(long)]
    namespace: Option<String>,
    /// Only this scope (cluster name).
    #[arg(long)]
    scope: Option<String>,
    /// v3 revision to read at (default: current). The v2 store has no revisions.
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(i64).range(0..))]
    rev: i64,
    /// How the leader key moved through the stored revisions (v3).
    #[arg(long)]
    history: bool,
    /// Reference time for TTLs, RFC 3339 (default: now).
    #[arg(long)]
    now: Option<String>,
    /// Output format.
    #[arg(short = 'w', long = "write-out", value_enum, default_value = "table")]
    write_out: PatroniOut,
}

pub(super) fn run(a: &PatroniArgs) -> u8 {
    let now_ns = match &a.now {
        None => etcd_rescue::ops::v2::now_ns(),
        Some(s) => match parse_rfc3339_ns(s) {
            Some(n) => n,
            None => {
                eprintln!("Error: --now {s:?} is not an RFC 3339 time (e.g. 2026-11-21T10:00:00Z)");
                return EXIT_UNREADABLE;
            }
        },
    };
    let opts = PatroniOptions {
        namespace: a.namespace.clone(),
        scope: a.scope.clone(),
        rev: a.rev,
        now_ns,
        leader_history: a.history,
    };
    let r = match patroni(&a.paths, &opts) {
        Ok(r) => r,
        Err(e) => {
            print_error(&e);
            return EXIT_UNREADABLE;
        }
    };
    let out = match a.write_out {
        PatroniOut::Json => match serde_json::to_string_pretty(&r) {
            Ok(s) => s + "\n",
            Err(e) => {
                eprintln!("Error: rendering JSON: {e}");
                return EXIT_UNREADABLE;
            }
        },
        PatroniOut::Table => render(&r, a.history),
    };
    if let Err(e) = emit(&out) {
        print_error(&e);
        return EXIT_UNREADABLE;
    }
    if r.has_problems() {
        EXIT_PROBLEMS
    } else {
        EXIT_OK
    }
}

fn cell(v: Option<&Value>) -> String {
    match v {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(v) => v.to_string(),
    }
}

fn render(r: &PatroniReport, history: bool) -> String {
    let mut o = String::new();
    for i in &r.inputs {
        let _ = writeln!(o, "# {}", i.path.display());
        for s in &i.stores {
            let what = match s.api {
                etcd_rescue::etcd::patroni::Api::V2 => format!("v2 store at raft index {}", s.at),
                etcd_rescue::etcd::patroni::Api::V3 => format!(
                    "v3 keyspace at revision {} (compacted at {})",
                    s.at,
                    s.compact_rev.unwrap_or(0)
                ),
            };
            let _ = writeln!(o, "  read: {what}, {} keys", s.keys);
            for n in &s.notes {
                let _ = writeln!(o, "  note: {n}");
            }
        }
        for u in &i.unreadable_stores {
            let _ = writeln!(o, "  not read: {u}");
        }
        if i.clusters.is_empty() {
            let _ = writeln!(o, "  no Patroni scope found");
        }
        for c in &i.clusters {
            render_cluster(&mut o, c, history);
        }
        o.push('\n');
    }
    write_advisories(&mut o, &r.advisories);
    let _ = writeln!(o, "(TTLs judged at {})", r.now);
    o
}

/// One advisory a paragraph: level, code, what was found, what to do.
fn write_advisories(o: &mut String, advisories: &[Advisory]) {
    for a in advisories {
        let _ = writeln!(
            o,
            "{}: [{}] {}\n  what to do: {}",
            level(a.level),
            a.code,
            a.detail,
            a.action
        );
    }
}

fn level(l: Level) -> &'static str {
    match l {
        Level::Info => "info",
        Level::Warning => "WARNING",
    }
}

fn render_cluster(o: &mut String, c: &ClusterReport, history: bool) {
    let k = &c.cluster;
    let api = match k.api {
        etcd_rescue::etcd::patroni::Api::V2 => "v2",
        etcd_rescue::etcd::patroni::Api::V3 => "v3",
    };
    let init = match k.initialize.as_deref() {
        None => "uninitialized".to_owned(),
        Some("") => "initializing".to_owned(),
        Some(i) => i.to_owned(),
    };
    let _ = writeln!(
        o,
        "\nCluster: {} ({init})  [{api} keys under {}/{}/]",
        k.scope,
        k.namespace.trim_end_matches('/'),
        k.scope
    );
    let cols = [
        "Member",
        "Host",
        "Role",
        "State",
        "TL",
        "Receive LSN",
        "Receive Lag",
        "Replay LSN",
        "Replay Lag",
    ];
    let rows: Vec<Vec<String>> = c
        .patronictl_list
        .iter()
        .map(|r| cols.iter().map(|col| cell(r.get(*col))).collect())
        .collect();
    o.push_str(&table(&cols, &rows, Align::Left));
    match &k.leader {
        None => {
            let _ = writeln!(o, "Leader key: none");
        }
        Some(l) => {
            let life = match c.leader_life {
                Some(LeaderLife::Ttl {
                    seconds_left,
                    expired: false,
                }) => format!("TTL {seconds_left} s left"),
                Some(LeaderLife::Ttl { seconds_left, .. }) => {
                    format!("expired {} s ago", seconds_left.saturating_neg())
                }
                Some(LeaderLife::Lease {
                    ttl_after_restore: Some(t),
                }) => format!("lease TTL {t} s (full again after a restore)"),
                Some(LeaderLife::Lease { .. }) => "lease not stored".to_owned(),
                Some(LeaderLife::Permanent) | None => "no TTL".to_owned(),
            };
            let expires = match l.expiry {
                Expiry::At { expire_ns } => format!(", expires {}", format_rfc3339_ns(expire_ns)),
                Expiry::Lease { id, .. } => format!(", lease {id:x}"),
                Expiry::Permanent => String::new(),
            };
            let _ = writeln!(
                o,
                "Leader key: {} ({life}{expires}), modified at {}",
                l.name, l.modified
            );
        }
    }
    if let Some(n) = k.last_lsn {
        let _ = writeln!(
            o,
            "Status: last leader LSN {} ({n})",
            etcd_rescue::etcd::patroni::format_lsn(n)
        );
    }
    if let Some(s) = &k.slots {
        let _ = writeln!(o, "Slots: {s}");
    }
    for (name, v) in [
        ("Failover", &k.failover),
        ("Sync", &k.sync),
        ("Failsafe", &k.failsafe),
    ] {
        if let Some(v) = v {
            let _ = writeln!(o, "{name}: {v}");
        }
    }
    if !c.patronictl_history.is_empty() {
        let hcols = ["TL", "LSN", "Reason", "Timestamp", "New Leader"];
        let rows: Vec<Vec<String>> = c
            .patronictl_history
            .iter()
            .map(|r| hcols.iter().map(|col| cell(r.get(*col))).collect())
            .collect();
        let _ = writeln!(o, "History:");
        o.push_str(&table(&hcols, &rows, Align::Left));
    }
    if let Some(cfg) = &k.config {
        let _ = writeln!(
            o,
            "Config: {}",
            serde_json::to_string_pretty(cfg)
                .unwrap_or_default()
                .replace('\n', "\n  ")
        );
    }
    if history {
        match &c.leader_history {
            Some(spells) => {
                let rows: Vec<Vec<String>> = spells
                    .iter()
                    .map(|s| {
                        vec![
                            s.leader.clone().unwrap_or_else(|| "(deleted)".into()),
                            s.from.to_string(),
                            s.last.to_string(),
                            s.changes.to_string(),
                        ]
                    })
                    .collect();
                if c.leader_history_unit == Some("raft_index") {
                    let _ = writeln!(
                        o,
                        "Leader key through the WAL entries after the .snap (raft indexes):"
                    );
                    o.push_str(&table(
                        &["leader", "from index", "last index", "changes"],
                        &rows,
                        Align::Left,
                    ));
                } else {
                    let _ = writeln!(o, "Leader key through the stored revisions:");
                    o.push_str(&table(
                        &["leader", "from rev", "last rev", "changes"],
                        &rows,
                        Align::Left,
                    ));
                }
            }
            None => {
                let _ = writeln!(
                    o,
                    "Leader history: not available (a single .snap file has no WAL to replay)"
                );
            }
        }
    }
    for u in &k.unreadable {
        let _ = writeln!(o, "could not read {}: {}", u.key, u.problem);
    }
    if !k.other_keys.is_empty() {
        let _ = writeln!(o, "other keys (not read): {}", k.other_keys.join(", "));
    }
    write_advisories(o, &c.advisories);
}
