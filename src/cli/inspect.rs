//! `inspect`: what a data dir, member dir, WAL dir or snapshot file holds.

use std::fmt::Write as _;
use std::path::PathBuf;

use clap::Args;

use super::output::humanize_bytes;
use super::style::{paint, Style};
use super::wal::Format;
use super::{emit, print_error, EXIT_OK, EXIT_PROBLEMS, EXIT_UNREADABLE};
use etcd_rescue::error::Severity;
use etcd_rescue::etcd::ids::id_x;
use etcd_rescue::ops::inspect::{
    inspect, DbReport, FileReport, Identity, InspectReport, MembershipReport, RaftReport,
    VersionsReport, WalDbReport, Warning,
};
use etcd_rescue::ops::verdict::Verdict;

const HELP: &str = "\
Examples:
  etcd-rescue inspect /var/lib/etcd                 # a data dir
  etcd-rescue inspect /var/lib/etcd/member -w json | jq .wal_db
  etcd-rescue inspect backup.db                     # a snapshot file: trailer, kind, db facts
  etcd-rescue inspect node1/ node2/ node3/          # several members

JSON (-w json): one object for one PATH, an array for several. Top-level fields:
  format_version (1), path, input (data-dir|member-dir|wal-dir|db-file|snap-file|wal-file),
  identity {member_id, cluster_id (16-digit hex), name},
  membership {db, snap, snap_plus_wal, wal: {members:[{member_id, name, peer_urls,
    client_urls, is_learner}], removed:[hex]}, wal_conf_changes:[...]},
  raft {wal_dir, wal_files, hard_state {term, vote, commit}, first_index, first_term,
    last_index, last_term, entries_after_snapshot, committed_after_snapshot,
    uncommitted, overwritten, stop, wal_snapshots, snapshot {name, term, index, voters,
    learners, v2_custom_content, v2_user_keys, v2_cluster_version}, snap_files,
    snap_db_files, leftovers},
  db {path, file_size, status {hash, revision, total_key, total_size, version, compat},
    check_errors, consistent_index, term, scheduled_compact_revision,
    finished_compact_revision, conf_state, storage_version, cluster_version, downgrade,
    lease_count, auth_enabled, auth_revision, auth_users, auth_roles, alarms, problems},
  wal_db {consistent_index, commit, committed_beyond_db, beyond_db_by_kind,
    replay_complete, db_revision, revision_after_replay, needs_snap_db},
  versions {storage_version, cluster_version, wal_cluster_version, snap_cluster_version,
    written_by_at_least (MAJOR.MINOR: the last writer was this or newer),
    written_by_source, start_3_7 {term, index} (the WAL snapshot record 3.7 starts from)},
  file {kind, trailer, size}, warnings [{code, severity, file, offset, message, action}],
  unreadable [text], verdict (sound|sound-with-notes|damaged|unusable).
Absent parts are null. IDs are 16-digit lowercase hex strings in JSON; the table prints
them as etcd does (`%x`, as `etcdctl member list`). Other numbers are numbers.
Verdicts, as `check` gives them: sound; sound-with-notes (usable as it is: infos and
warnings say what to know); damaged (an error-severity warning or an unreadable part: data
lost or unverifiable, the actions say the way out); unusable (the db fails the structural
check, or neither a db nor a WAL could be read).
Exit codes: 0 sound or sound-with-notes, 1 damaged or unusable, 2 cannot read the path or
nothing of etcd's in it (an empty or non-etcd file).";

#[derive(Debug, Args)]
#[command(after_help = HELP)]
pub(super) struct InspectArgs {
    /// Data dir, member dir, WAL dir, snapshot/db file, .snap file or .wal file.
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// Output format.
    #[arg(short = 'w', long = "write-out", value_enum, default_value = "table")]
    write_out: Format,
}

pub(super) fn run(a: &InspectArgs) -> u8 {
    let mut reports = Vec::new();
    let mut code = EXIT_OK;
    for p in &a.paths {
        match inspect(p) {
            Ok(r) => {
                if r.nothing_readable() {
                    code = EXIT_UNREADABLE;
                } else if r.verdict.exit_code() != 0 {
                    code = code.max(EXIT_PROBLEMS);
                }
                reports.push(r);
            }
            Err(e) => {
                print_error(&e);
                code = EXIT_UNREADABLE;
            }
        }
    }
    let out = match a.write_out {
        Format::Json => {
            let s = if a.paths.len() == 1 {
                reports
                    .first()
                    .map(|r| serde_json::to_string_pretty(r).unwrap_or_default())
                    .unwrap_or_default()
            } else {
                serde_json::to_string_pretty(&reports).unwrap_or_default()
            };
            if s.is_empty() {
                s
            } else {
                s + "\n"
            }
        }
        Format::Table => reports.iter().map(render).collect::<Vec<_>>().join("\n"),
    };
    if let Err(e) = emit(&out) {
        print_error(&e);
        return EXIT_UNREADABLE;
    }
    code
}

fn opt<T: std::fmt::Display>(v: Option<T>) -> String {
    v.map_or_else(|| "-".into(), |x| x.to_string())
}

fn render(r: &InspectReport) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "{} ({})", r.path.display(), r.input);
    if let Some(id) = &r.identity {
        identity_section(&mut o, id);
    }
    if let Some(f) = &r.file {
        file_section(&mut o, f);
    }
    if let Some(m) = &r.membership {
        membership_section(&mut o, m);
    }
    if let Some(rf) = &r.raft {
        raft_section(&mut o, rf, r.versions.as_ref());
    }
    if let Some(d) = &r.db {
        db_section(&mut o, d);
    }
    if let Some(w) = &r.wal_db {
        wal_db_section(&mut o, w);
    }
    if let Some(v) = &r.versions {
        versions_section(&mut o, v);
    }
    if !r.unreadable.is_empty() {
        unreadable_section(&mut o, &r.unreadable);
    }
    if !r.warnings.is_empty() {
        warnings_section(&mut o, &r.warnings);
    }
    let style = match r.verdict {
        Verdict::Sound => Style::Good,
        Verdict::SoundWithNotes => Style::Warn,
        Verdict::Damaged | Verdict::Unusable => Style::Bad,
    };
    // check's levels; inspect's way out is in the `->` lines under each warning.
    let headline = match r.verdict {
        Verdict::Sound => "SOUND",
        Verdict::SoundWithNotes => "SOUND WITH NOTES (usable as it is; read the warnings)",
        Verdict::Damaged => "DAMAGED, RECOVERABLE (the -> lines say what is still usable and what to do; `etcd-rescue check` lists the next steps)",
        Verdict::Unusable => "UNUSABLE by etcd as it is (the -> lines say what can still be recovered)",
    };
    let _ = writeln!(o, "verdict          {}", paint(headline, style));
    o
}

/// Whether the dir's storage version says etcd 3.7+ wrote it.
fn versions_by_3_7(v: &VersionsReport) -> bool {
    v.storage_version
        .as_deref()
        .and_then(etcd_rescue::etcd::version::Version::parse)
        .is_some_and(|x| x.at_least(3, 7))
}

/// ` stale (…)` for a `.snap` etcd will not load again: older than the selected
/// one (kept until etcd purges beyond `--max-snapshots`), or any `.snap` of a
/// dir etcd 3.7 wrote (3.7 reads none).
fn snap_staleness(
    s: &etcd_rescue::etcd::raftlog::SnapEntry,
    rf: &RaftReport,
    by_3_7: bool,
) -> &'static str {
    let selected_index = rf.snapshot.as_ref().map(|c| c.index);
    if by_3_7 {
        " (not read by etcd 3.7)"
    } else if !s.selected
        && s.problem.is_none()
        && matches!((s.index, selected_index), (Some(i), Some(sel)) if i < sel)
    {
        " stale (older than the selected one; etcd purges it)"
    } else {
        ""
    }
}

/// The versions section: which etcd wrote the dir, and from which file.
fn versions_section(o: &mut String, v: &VersionsReport) {
    let _ = writeln!(o, "versions");
    let _ = writeln!(
        o,
        "  written by     {}",
        match (&v.written_by_at_least, &v.written_by_source) {
            (Some(m), Some(src)) => format!("etcd {m} or newer (from {src})"),
            _ => "unknown (no version recorded on disk)".into(),
        }
    );
    let _ = writeln!(
        o,
        "  sources        storage={} db cluster={} WAL cluster={} .snap /0/version={}",
        opt(v.storage_version.as_deref()),
        opt(v.cluster_version.as_deref()),
        opt(v.wal_cluster_version.as_deref()),
        opt(v.snap_cluster_version.as_deref())
    );
    if let Some(t) = &v.start_3_7 {
        let _ = writeln!(
            o,
            "  3.7 starts at  WAL snapshot record index={} term={} (3.7 reads no .snap)",
            t.index, t.term
        );
    }
}

/// The identity section: who the member is.
fn identity_section(o: &mut String, id: &Identity) {
    let _ = writeln!(o, "identity");
    let _ = writeln!(
        o,
        "  member id      {:x}{}",
        id.member_id,
        id.name
            .as_ref()
            .map(|n| format!(" ({n})"))
            .unwrap_or_default()
    );
    let _ = writeln!(o, "  cluster id     {:x}", id.cluster_id);
}

/// The file section: a snapshot or db file: kind, size, trailer.
fn file_section(o: &mut String, f: &FileReport) {
    let _ = writeln!(o, "file");
    let _ = writeln!(o, "  kind           {}", f.kind);
    let _ = writeln!(
        o,
        "  size           {} ({})",
        f.size,
        humanize_bytes(f.size)
    );
    let _ = writeln!(
        o,
        "  trailer        {}",
        serde_json::to_string(&f.trailer).unwrap_or_default()
    );
}

/// The membership section: the membership each source records, and the WAL conf changes.
fn membership_section(o: &mut String, m: &MembershipReport) {
    let _ = writeln!(o, "membership");
    for (name, src) in [
        ("db", &m.db),
        (".snap", &m.snap),
        (".snap+WAL", &m.snap_plus_wal),
        ("WAL", &m.wal),
    ] {
        if let Some(ms) = src {
            for x in &ms.members {
                let _ = writeln!(
                    o,
                    "  {name:<13}{:x} {:<10} peers={} clients={}{}",
                    x.id,
                    if x.name.is_empty() { "-" } else { &x.name },
                    x.peer_urls.join(","),
                    x.client_urls.join(","),
                    if x.is_learner { " learner" } else { "" }
                );
            }
            if !ms.removed.is_empty() {
                let _ = writeln!(
                    o,
                    "  {name:<13}removed: {}",
                    ms.removed
                        .iter()
                        .map(|i| id_x(*i))
                        .collect::<Vec<_>>()
                        .join(",")
                );
            }
        }
    }
    if !m.wal_conf_changes.is_empty() {
        let _ = writeln!(
            o,
            "  WAL conf changes: {}",
            m.wal_conf_changes
                .iter()
                .map(|e| format!(
                    "{}@{} {:x}{}",
                    e.change.trim_start_matches("ConfChange"),
                    e.index,
                    e.member_id,
                    if e.committed { "" } else { " (uncommitted)" }
                ))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
}

/// The raft section: HardState, WAL files and entries, the chosen snapshot, `.snap` files, leftovers.
fn raft_section(o: &mut String, rf: &RaftReport, v: Option<&VersionsReport>) {
    let by_3_7 = v.is_some_and(versions_by_3_7);
    let _ = writeln!(o, "raft");
    if let Some(h) = &rf.hard_state {
        let _ = writeln!(
            o,
            "  hard state     term={} vote={:x} commit={}",
            h.term, h.vote, h.commit
        );
    }
    if !rf.wal_files.is_empty() {
        let _ = writeln!(o, "  wal files      {}", rf.wal_files.join(", "));
        let _ = writeln!(o, "  wal entries    first={} (term {}) last={} (term {}); after snapshot {} ({} committed); uncommitted {}; overwritten {}", opt(rf.first_index), opt(rf.first_term), opt(rf.last_index), opt(rf.last_term), rf.entries_after_snapshot, rf.committed_after_snapshot, rf.uncommitted, rf.overwritten);
        let _ = writeln!(
            o,
            "  wal end        {}",
            serde_json::to_string(&rf.stop).unwrap_or_default()
        );
    }
    match &rf.snapshot {
        Some(s) => {
            let _ = writeln!(
                o,
                "  snapshot       {} term={} index={} voters={}",
                s.name,
                s.term,
                s.index,
                s.voters
                    .iter()
                    .map(|i| id_x(*i))
                    .collect::<Vec<_>>()
                    .join(",")
            );
            if let Some(c) = s.v2_custom_content {
                let _ = writeln!(
                    o,
                    "  v2 store       {} user keys under /1; custom content: {}{}",
                    opt(s.v2_user_keys),
                    if c {
                        "yes (blocks an upgrade to 3.6)"
                    } else {
                        "no"
                    },
                    s.v2_cluster_version
                        .as_ref()
                        .map(|v| format!("; /0/version {v}"))
                        .unwrap_or_default()
                );
            }
        }
        None => match v.and_then(|v| v.start_3_7.as_ref()) {
            Some(t) if by_3_7 => {
                let _ = writeln!(
                    o,
                    "  snapshot       no .snap loaded: etcd 3.7 starts from the WAL snapshot record index={} term={} and the db",
                    t.index, t.term
                );
            }
            _ => {
                let _ = writeln!(
                    o,
                    "  snapshot       none (etcd would start from the WAL alone)"
                );
            }
        },
    }
    for s in &rf.snap_files {
        let _ = writeln!(
            o,
            "  .snap          {} {}{}{}{}",
            s.name,
            s.size,
            if s.selected { " selected" } else { "" },
            snap_staleness(s, rf, by_3_7),
            s.problem
                .as_ref()
                .map(|p| format!(" BROKEN: {p}"))
                .unwrap_or_else(|| if s.in_wal {
                    String::new()
                } else if s.wal_purged {
                    " older than the WAL kept (its record was purged)".into()
                } else {
                    " orphan (no WAL record)".into()
                })
        );
    }
    for s in &rf.snap_db_files {
        let _ = writeln!(o, "  .snap.db       {s}");
    }
    for s in &rf.leftovers {
        let _ = writeln!(o, "  leftover       {s}");
    }
}

/// The db section: the db: status figures and etcd facts.
fn db_section(o: &mut String, d: &DbReport) {
    let f = &d.facts;
    let _ = writeln!(o, "db {}", d.path.display());
    if let Some(s) = &d.status {
        let _ = writeln!(
            o,
            "  status         hash={:x} revision={} total keys={} total size={} ({}){}",
            s.hash,
            s.revision,
            s.total_key,
            s.total_size,
            humanize_bytes(s.total_size),
            if s.version.is_empty() {
                String::new()
            } else {
                format!(" version={}", s.version)
            }
        );
    }
    let _ = writeln!(
        o,
        "  consistent idx {}  term {}",
        opt(f.consistent_index),
        opt(f.term)
    );
    let _ = writeln!(
        o,
        "  compaction     scheduled={} finished={}",
        opt(f.scheduled_compact_revision),
        opt(f.finished_compact_revision)
    );
    if let Some(c) = &f.conf_state {
        let _ = writeln!(
            o,
            "  conf state     voters={} learners={}",
            c.voters
                .iter()
                .map(|i| id_x(*i))
                .collect::<Vec<_>>()
                .join(","),
            c.learners
                .iter()
                .map(|i| id_x(*i))
                .collect::<Vec<_>>()
                .join(",")
        );
    }
    let _ = writeln!(
        o,
        "  versions       cluster={} storage={}",
        opt(f.cluster_version.as_deref()),
        opt(f.storage_version.as_deref())
    );
    let _ = writeln!(o, "  leases         {}", f.lease_count);
    let _ = writeln!(
        o,
        "  auth           {} ({} users, {} roles)",
        if f.auth_enabled { "on" } else { "off" },
        f.auth_users,
        f.auth_roles
    );
    let _ = writeln!(
        o,
        "  alarms         {}",
        if f.alarms.is_empty() {
            "none".into()
        } else {
            f.alarms
                .iter()
                .map(|a| format!("{} ({:x})", a.alarm, a.member_id))
                .collect::<Vec<_>>()
                .join(", ")
        }
    );
}

/// The wal_db section: the db against the WAL.
fn wal_db_section(o: &mut String, w: &WalDbReport) {
    let _ = writeln!(o, "wal vs db");
    let _ = writeln!(
        o,
        "  committed beyond db  {} (consistent index {}, commit {}){}",
        w.committed_beyond_db,
        w.consistent_index,
        w.commit,
        if w.beyond_db_by_kind.is_empty() {
            String::new()
        } else {
            format!(
                ": {}",
                w.beyond_db_by_kind
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join(" ")
            )
        }
    );
    let _ = writeln!(
        o,
        "  revision             db={} after replay={}{}",
        w.db_revision,
        opt(w.revision_after_replay),
        if w.replay_complete {
            ""
        } else {
            " (WAL incomplete)"
        }
    );
}

/// The unreadable section: the parts that could not be read.
fn unreadable_section(o: &mut String, unreadable: &[String]) {
    let _ = writeln!(o, "could not read");
    for u in unreadable {
        let _ = writeln!(o, "  {u}");
    }
}

/// The warnings section: warnings with code, place and what to do.
fn warnings_section(o: &mut String, warnings: &[Warning]) {
    let _ = writeln!(o, "warnings");
    for w in warnings {
        let at = match (&w.file, w.offset) {
            (Some(f), Some(off)) => format!(" [{} offset {off:#x}]", f.display()),
            (Some(f), None) => format!(" [{}]", f.display()),
            _ => String::new(),
        };
        let severity = match w.severity {
            Severity::Error => paint("Error", Style::Bad),
            Severity::Warning => paint("Warning", Style::Warn),
            Severity::Info => "Info".to_string(),
        };
        let _ = writeln!(o, "  {severity} {}: {}{}", w.code, w.message, at);
        if !w.action.is_empty() {
            let _ = writeln!(o, "      -> {}", w.action);
        }
    }
}
