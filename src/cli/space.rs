//! `space`: where the bytes of the keyspace go.

use std::path::PathBuf;

use clap::Args;
use serde::Serialize;

use super::keys::{json_line, text_or_base64, ListFormat, Out};
use super::output::{humanize_bytes, table, Align};
use super::EXIT_OK;
use etcd_rescue::etcd::values::printable;
use etcd_rescue::ops::space::{space, SpaceOptions, SpaceReport, Usage};

pub(super) const SPACE_EXAMPLES: &str = "\
Examples:
  etcd-rescue space backup.db
  etcd-rescue space /var/lib/etcd --top 25 --depth 3
  etcd-rescue space backup.db -w json | jq '.largest[0]'

Bytes are those records take in the key bucket (revision key + stored KeyValue),
over every revision still in the file. 'live' is the newest record of each live key:
what a compaction at the current revision would keep. The rest is history that
compaction frees (inside the file), and defragmentation then returns to the OS.
The quota (--quota-backend-bytes, 2 GiB by default) applies to the db size.";

#[derive(Debug, Args)]
pub(super) struct SpaceArgs {
    /// Snapshot file, bbolt db, member dir or data dir.
    path: PathBuf,
    /// Rows in each top list.
    #[arg(long, default_value_t = 10)]
    top: usize,
    /// Path segments that make a prefix (/registry/pods/ is 2).
    #[arg(long, default_value_t = 2)]
    depth: usize,
    /// Output format (json: one object on one line).
    #[arg(short = 'w', long = "write-out", value_enum, default_value = "table")]
    write_out: ListFormat,
}

#[derive(Serialize)]
struct UsageJson<'s> {
    #[serde(skip_serializing_if = "Option::is_none")]
    key: Option<&'s str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    key_base64: Option<String>,
    #[serde(flatten)]
    usage: &'s Usage,
}

fn usage_json(v: &[Usage]) -> Vec<UsageJson<'_>> {
    v.iter()
        .map(|u| {
            let (key, key_base64) = text_or_base64(&u.name);
            UsageJson {
                key,
                key_base64,
                usage: u,
            }
        })
        .collect()
}

#[derive(Serialize)]
struct SpaceJson<'s> {
    db: String,
    #[serde(flatten)]
    report: &'s SpaceReport,
    largest: Vec<UsageJson<'s>>,
    most_revisions: Vec<UsageJson<'s>>,
    prefixes: Vec<UsageJson<'s>>,
}

pub(super) fn run(a: &SpaceArgs) -> u8 {
    let mut out = Out::new();
    let r = match space(
        &a.path,
        SpaceOptions {
            top: a.top,
            depth: a.depth,
        },
    ) {
        Ok(r) => r,
        Err(e) => return out.fail(&e),
    };
    let res = if a.write_out == ListFormat::Json {
        let j = SpaceJson {
            db: r.db_path.display().to_string(),
            report: &r,
            largest: usage_json(&r.largest),
            most_revisions: usage_json(&r.most_revisions),
            prefixes: usage_json(&r.prefixes),
        };
        json_line(&j).and_then(|l| out.line(&l))
    } else {
        out.write(render(&r, a.depth).as_bytes())
    };
    match res.and_then(|()| out.flush()) {
        Ok(()) => EXIT_OK,
        Err(e) => out.fail(&e),
    }
}

fn pct(part: u64, whole: u64) -> String {
    if whole == 0 {
        return "-".into();
    }
    #[allow(clippy::cast_precision_loss)]
    let p = part as f64 * 100.0 / whole as f64;
    format!("{p:.1}%")
}

fn render(r: &SpaceReport, depth: usize) -> String {
    let t = &r.total;
    let history = t.bytes.saturating_sub(t.live_bytes);
    let mut s = format!(
        "db {}: size {} ({} bytes; file {} bytes), current revision {}, compact revision {}\n\
         key bucket: {} records ({} deletes) of {} keys, {} alive\n\
         stored {} ({} of the db size): live {}, history {} (freed by compacting at {})\n\
         free pages {} ({}, {} of the db size): returned to the OS by defragmentation\n\
         alarms: {}\n",
        r.db_path.display(),
        humanize_bytes(r.db_size),
        r.db_size,
        r.file_size,
        r.revisions.current,
        r.revisions.compact,
        t.revisions,
        r.tombstones,
        t.keys,
        t.live_keys,
        humanize_bytes(t.bytes),
        pct(t.bytes, r.db_size),
        humanize_bytes(t.live_bytes),
        humanize_bytes(history),
        r.revisions.current,
        r.free_pages,
        humanize_bytes(r.free_bytes),
        pct(r.free_bytes, r.db_size),
        if r.alarms.is_empty() {
            "none".to_string()
        } else {
            r.alarms.join(", ")
        },
    );
    if r.check_problems > 0 {
        s.push_str(&format!(
            "warning: the bbolt structural check found {} problems; run `etcd-rescue check`\n",
            r.check_problems
        ));
    }
    s.push('\n');
    let key_rows = |v: &[Usage]| -> Vec<Vec<String>> {
        v.iter()
            .map(|u| {
                vec![
                    printable(&u.name),
                    u.revisions.to_string(),
                    humanize_bytes(u.bytes),
                    pct(u.bytes, t.bytes),
                    humanize_bytes(u.live_bytes),
                    humanize_bytes(u.max_value),
                ]
            })
            .collect()
    };
    let headers = ["key", "revisions", "bytes", "share", "live", "max value"];
    s.push_str("Largest keys (bytes over all revisions):\n");
    s.push_str(&table(&headers, &key_rows(&r.largest), Align::Left));
    s.push_str("\nKeys with the most revisions:\n");
    s.push_str(&table(&headers, &key_rows(&r.most_revisions), Align::Left));
    s.push_str(&format!(
        "\nPrefixes ({depth} segments; {} shown of {}):\n",
        r.prefixes.len(),
        r.prefix_count
    ));
    let rows: Vec<Vec<String>> = r
        .prefixes
        .iter()
        .map(|u| {
            vec![
                printable(&u.name),
                u.keys.to_string(),
                u.live_keys.to_string(),
                u.revisions.to_string(),
                humanize_bytes(u.bytes),
                pct(u.bytes, t.bytes),
                humanize_bytes(u.live_bytes),
            ]
        })
        .collect();
    s.push_str(&table(
        &[
            "prefix",
            "keys",
            "alive",
            "revisions",
            "bytes",
            "share",
            "live",
        ],
        &rows,
        Align::Left,
    ));
    s
}
