//! `k8s ls`, `k8s get`, `k8s usage`: rendering of ops::k8s.

use std::path::{Path, PathBuf};

use clap::{Args, Subcommand, ValueEnum};
use serde_json::Value;

use super::keys::{ListFormat, Out};
use super::output::{humanize_bytes, table, Align};
use super::{emit, print_error, EXIT_OK, EXIT_PROBLEMS, EXIT_UNREADABLE};
use etcd_rescue::error::Result;
use etcd_rescue::etcd::k8s::encryption::Envelope;
use etcd_rescue::etcd::k8s::keys::DEFAULT_PREFIX;
use etcd_rescue::ops::k8s::{self, K8sOptions, LsFilter, UsageBy, Version};

pub(super) const K8S_EXAMPLES: &str = "\
Examples:
  etcd-rescue k8s ls backup.db                                  # every object, all namespaces
  etcd-rescue k8s ls backup.db deployments -n shop --rev 1200
  etcd-rescue k8s get backup.db pod web-1 -n shop -o yaml
  etcd-rescue k8s get backup.db secret db-password -n shop --encryption-config enc.yaml
  etcd-rescue k8s get backup.db configmap web-config -n shop --history
  etcd-rescue k8s usage backup.db --by namespace
  etcd-rescue k8s ls /var/lib/etcd --prefix /kubernetes.io/     # OpenShift

Objects are decoded from kube-apiserver's protobuf (or JSON, for custom resources) into
the JSON kubectl shows; metadata.resourceVersion is the key's mod revision.
Values encrypted at rest (aescbc, aesgcm, secretbox) are decrypted with
--encryption-config (kube-apiserver's EncryptionConfiguration file); KMS values are
reported, never decrypted.";

#[derive(Debug, Subcommand)]
pub(super) enum K8sCommand {
    /// Objects as `kubectl get` lists them: resource, namespace, name, age, size, versions kept.
    Ls(LsArgs),
    /// One object, decoded, at a revision (or every stored version).
    Get(GetArgs),
    /// Counts and bytes per resource, namespace or object, live and in history.
    Usage(UsageArgs),
    /// Every live object as a file: OUT/<resource>/<namespace>/<name>.yaml (for kubectl apply).
    Dump(DumpArgs),
    /// Objects added, removed and changed (with the changed fields) between two inputs.
    Diff(DiffArgs),
}

#[derive(Debug, Args)]
pub(super) struct DiffArgs {
    #[command(flatten)]
    common: Common,
    /// The second snapshot, db, member dir or data dir (B; the first is A; may be the same file).
    other: PathBuf,
    /// Revision to read B at (default: its current revision; --rev applies to A).
    #[arg(long, value_parser = clap::value_parser!(i64).range(0..))]
    rev_b: Option<i64>,
    /// Only this resource.
    #[arg(long)]
    resource: Option<String>,
    /// Only this namespace.
    #[arg(short = 'n', long)]
    namespace: Option<String>,
    /// Output format.
    #[arg(short = 'w', long = "write-out", value_enum, default_value = "table")]
    write_out: ListFormat,
}

#[derive(Debug, Args)]
pub(super) struct DumpArgs {
    #[command(flatten)]
    common: Common,
    /// Only this resource.
    resource: Option<String>,
    /// Only this namespace.
    #[arg(short = 'n', long)]
    namespace: Option<String>,
    /// New (or empty) directory to write into.
    #[arg(long)]
    out: PathBuf,
    /// File format.
    #[arg(short = 'o', long = "output", value_enum, default_value = "yaml")]
    output: ObjectFormat,
}

#[derive(Debug, Args)]
pub(super) struct Common {
    /// Snapshot file, bbolt db, member dir or data dir.
    path: PathBuf,
    /// kube-apiserver's --etcd-prefix (OpenShift: /kubernetes.io/).
    #[arg(long, default_value = DEFAULT_PREFIX)]
    prefix: String,
    /// Revision to read at (0: current).
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(i64).range(0..))]
    rev: i64,
    /// kube-apiserver's EncryptionConfiguration, to decrypt values encrypted at rest.
    #[arg(long, value_name = "FILE")]
    encryption_config: Option<PathBuf>,
}

impl Common {
    fn options(&self) -> Result<K8sOptions> {
        let mut prefix = self.prefix.clone();
        if !prefix.ends_with('/') {
            prefix.push('/');
        }
        Ok(K8sOptions {
            prefix,
            rev: self.rev,
            encryption: self
                .encryption_config
                .as_deref()
                .map(k8s::load_encryption_config)
                .transpose()?,
        })
    }
}

#[derive(Debug, Args)]
pub(super) struct LsArgs {
    #[command(flatten)]
    common: Common,
    /// Only this resource (pods, po, deployments, widgets.example.com, ...).
    resource: Option<String>,
    /// Only this namespace.
    #[arg(short = 'n', long, conflicts_with = "all_namespaces")]
    namespace: Option<String>,
    /// All namespaces (the default).
    #[arg(short = 'A', long)]
    all_namespaces: bool,
    /// Output format.
    #[arg(short = 'w', long = "write-out", value_enum, default_value = "table")]
    write_out: ListFormat,
}

/// Output of `k8s get`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(super) enum ObjectFormat {
    /// YAML, as kubectl -o yaml.
    Yaml,
    /// JSON, as kubectl -o json.
    Json,
}

#[derive(Debug, Args)]
pub(super) struct GetArgs {
    #[command(flatten)]
    common: Common,
    /// Resource (pod, deployments, cm, widgets.example.com, ...).
    resource: String,
    /// Object name.
    name: String,
    /// Namespace (default: `default`, or none for cluster-scoped objects).
    #[arg(short = 'n', long)]
    namespace: Option<String>,
    /// Output format.
    #[arg(short = 'o', long = "output", value_enum, default_value = "yaml")]
    output: ObjectFormat,
    /// Every stored version up to --rev, with its revision (deletions included).
    #[arg(long)]
    history: bool,
}

#[derive(Debug, Args)]
pub(super) struct UsageArgs {
    #[command(flatten)]
    common: Common,
    /// Group by resource, resource and namespace, or object.
    #[arg(long, value_enum, default_value = "resource")]
    by: ByArg,
    /// How many of the largest objects and objects with most versions (and rows for --by object).
    #[arg(long, default_value_t = 10)]
    top: usize,
    /// Output format.
    #[arg(short = 'w', long = "write-out", value_enum, default_value = "table")]
    write_out: ListFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(super) enum ByArg {
    Resource,
    Namespace,
    Object,
}

pub(super) fn run(c: &K8sCommand) -> u8 {
    match c {
        K8sCommand::Ls(a) => ls(a),
        K8sCommand::Get(a) => get(a),
        K8sCommand::Usage(a) => usage(a),
        K8sCommand::Dump(a) => dump(a),
        K8sCommand::Diff(a) => diff(a),
    }
}

fn envelope_text(e: &Envelope) -> String {
    match e {
        Envelope::Plain => String::new(),
        Envelope::Encrypted {
            provider,
            key,
            kms: Some(k),
            ..
        } => format!("{provider}:{key} key ID {}", k.key_id),
        Envelope::Encrypted { provider, key, .. } => format!("{provider}:{key}"),
    }
}

fn is_kms(e: &Envelope) -> bool {
    matches!(e, Envelope::Encrypted { provider, .. } if provider == "kms")
}

/// kubectl's age: `45s`, `12m`, `3h`, `5d`, `2y`.
fn age(created: Option<i64>, now: i64) -> String {
    let Some(c) = created else {
        return "?".into();
    };
    let s = (now - c).max(0);
    match s {
        0..=119 => format!("{s}s"),
        120..=7199 => format!("{}m", s / 60),
        7200..=172_799 => format!("{}h", s / 3600),
        172_800..=63_071_999 => format!("{}d", s / 86_400),
        _ => format!("{}y", s / 31_536_000),
    }
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

fn ls(a: &LsArgs) -> u8 {
    let r = a.common.options().and_then(|o| {
        k8s::ls(
            &a.common.path,
            &o,
            &LsFilter {
                resource: a.resource.clone(),
                namespace: a.namespace.clone(),
            },
        )
    });
    let rep = match r {
        Ok(r) => r,
        Err(e) => {
            print_error(&e);
            return EXIT_UNREADABLE;
        }
    };
    let mut out = Out::new();
    let res = (|| -> Result<()> {
        match a.write_out {
            ListFormat::Json => {
                for row in &rep.rows {
                    out.line(&serde_json::to_string(row).unwrap_or_default())?;
                }
            }
            ListFormat::Table => {
                let now = now();
                let rows: Vec<Vec<String>> = rep
                    .rows
                    .iter()
                    .map(|r| {
                        vec![
                            r.resource.clone(),
                            r.namespace.clone(),
                            r.name.clone(),
                            age(r.created, now),
                            r.size.to_string(),
                            r.versions.to_string(),
                            r.mod_revision.to_string(),
                            match (&r.problem, envelope_text(&r.envelope)) {
                                (Some(_), e) if is_kms(&r.envelope) => {
                                    format!("KMS-encrypted ({e}), not decrypted")
                                }
                                (Some(p), _) => format!("UNREADABLE: {p}"),
                                (None, e) if !e.is_empty() => format!("decrypted ({e})"),
                                _ => String::new(),
                            },
                        ]
                    })
                    .collect();
                out.write(
                    table(
                        &[
                            "RESOURCE",
                            "NAMESPACE",
                            "NAME",
                            "AGE",
                            "SIZE",
                            "VERSIONS",
                            "REVISION",
                            "NOTE",
                        ],
                        &rows,
                        Align::Left,
                    )
                    .as_bytes(),
                )?;
                out.line(&format!(
                    "{} objects at revision {} ({} could not be read)",
                    rep.rows.len(),
                    rep.rev,
                    rep.undecodable
                ))?;
            }
        }
        out.flush()
    })();
    match res {
        Ok(()) => EXIT_OK,
        Err(e) => out.fail(&e),
    }
}

fn render(v: &Value, f: ObjectFormat) -> String {
    match f {
        ObjectFormat::Json => {
            let mut s = serde_json::to_string_pretty(v).unwrap_or_default();
            s.push('\n');
            s
        }
        ObjectFormat::Yaml => serde_yaml_ng::to_string(v).unwrap_or_default(),
    }
}

fn version_text(v: &Version, f: ObjectFormat) -> (String, bool) {
    match &v.value {
        Some(d) => match &d.object {
            Some(o) => (render(o, f), true),
            None => (
                format!(
                    "# not readable: {}\n# {} bytes in etcd{}{}\n",
                    d.problem.as_deref().unwrap_or("?"),
                    v.size,
                    d.type_meta
                        .as_deref()
                        .map(|t| format!(", type {t}"))
                        .unwrap_or_default(),
                    match envelope_text(&d.envelope) {
                        e if e.is_empty() => String::new(),
                        e => format!(", encrypted with {e}"),
                    }
                ),
                false,
            ),
        },
        None => ("# deleted\n".into(), true),
    }
}

fn get(a: &GetArgs) -> u8 {
    let r = a.common.options().and_then(|o| {
        k8s::get(
            &a.common.path,
            &o,
            &a.resource,
            a.namespace.as_deref(),
            &a.name,
            a.history,
        )
    });
    let rep = match r {
        Ok(r) => r,
        Err(e) => {
            print_error(&e);
            return EXIT_UNREADABLE;
        }
    };
    let mut text = String::new();
    let mut readable = true;
    if a.history {
        for v in &rep.history {
            let (t, ok) = version_text(v, a.output);
            readable &= ok;
            match a.output {
                ObjectFormat::Yaml => {
                    text.push_str(&format!(
                        "---\n# revision {}{}\n",
                        v.mod_revision,
                        if v.deleted { " (deleted)" } else { "" }
                    ));
                    text.push_str(&t);
                }
                ObjectFormat::Json => {
                    let line = serde_json::json!({
                        "mod_revision": v.mod_revision,
                        "deleted": v.deleted,
                        "object": v.value.as_ref().and_then(|d| d.object.clone()),
                        "problem": v.value.as_ref().and_then(|d| d.problem.clone()),
                    });
                    text.push_str(&serde_json::to_string(&line).unwrap_or_default());
                    text.push('\n');
                }
            }
        }
        if rep.history.is_empty() {
            eprintln!(
                "{} {} not found at revision {}",
                a.resource, a.name, rep.rev
            );
            return EXIT_PROBLEMS;
        }
    } else {
        let Some(v) = &rep.current else {
            eprintln!(
                "{} {} not found at revision {}{}",
                a.resource,
                a.name,
                rep.rev,
                if rep.key.is_some() { " (deleted)" } else { "" }
            );
            return EXIT_PROBLEMS;
        };
        let (t, ok) = version_text(v, a.output);
        if !ok {
            // The object cannot be shown: say why (provider and key, or the
            // decoding problem) on stderr, exit 1.
            eprint!("Error: {}", t.replacen("# ", "", 1).replace("\n# ", "\n  "));
            return EXIT_PROBLEMS;
        }
        text = t;
    }
    if let Err(e) = emit(&text) {
        print_error(&e);
        return EXIT_UNREADABLE;
    }
    if readable {
        EXIT_OK
    } else {
        EXIT_PROBLEMS
    }
}

fn usage(a: &UsageArgs) -> u8 {
    let by = match a.by {
        ByArg::Resource => UsageBy::Resource,
        ByArg::Namespace => UsageBy::Namespace,
        ByArg::Object => UsageBy::Object,
    };
    let r = a
        .common
        .options()
        .and_then(|o| k8s::usage(&a.common.path, &o, by, a.top));
    let rep = match r {
        Ok(r) => r,
        Err(e) => {
            print_error(&e);
            return EXIT_UNREADABLE;
        }
    };
    let text = match a.write_out {
        ListFormat::Json => {
            let mut s = serde_json::to_string(&rep).unwrap_or_default();
            s.push('\n');
            s
        }
        ListFormat::Table => {
            let mut s = String::new();
            let mut rows: Vec<Vec<String>> = rep
                .rows
                .iter()
                .map(|r| {
                    let mut v = vec![r.resource.clone()];
                    if by != UsageBy::Resource {
                        v.push(r.namespace.clone().unwrap_or_default());
                    }
                    if by == UsageBy::Object {
                        v.push(r.name.clone().unwrap_or_default());
                    }
                    v.extend([
                        r.live_objects.to_string(),
                        humanize_bytes(r.live_bytes),
                        r.history_records.to_string(),
                        humanize_bytes(r.history_bytes),
                    ]);
                    v
                })
                .collect();
            let mut total = vec![rep.total.resource.clone()];
            if by != UsageBy::Resource {
                total.push(String::new());
            }
            if by == UsageBy::Object {
                total.push(String::new());
            }
            total.extend([
                rep.total.live_objects.to_string(),
                humanize_bytes(rep.total.live_bytes),
                rep.total.history_records.to_string(),
                humanize_bytes(rep.total.history_bytes),
            ]);
            rows.push(total);
            let mut headers = vec!["RESOURCE"];
            if by != UsageBy::Resource {
                headers.push("NAMESPACE");
            }
            if by == UsageBy::Object {
                headers.push("NAME");
            }
            headers.extend(["LIVE", "LIVE BYTES", "HISTORY", "HISTORY BYTES"]);
            s.push_str(&table(&headers, &rows, Align::Left));
            let tops = |title: &str, list: &[k8s::TopObject]| {
                let rows: Vec<Vec<String>> = list
                    .iter()
                    .map(|t| {
                        vec![
                            t.key.clone(),
                            t.versions.to_string(),
                            humanize_bytes(t.bytes),
                            humanize_bytes(t.live_value_bytes),
                        ]
                    })
                    .collect();
                format!(
                    "\n{title}\n{}",
                    table(
                        &["KEY", "VERSIONS", "ALL BYTES", "LIVE VALUE"],
                        &rows,
                        Align::Left
                    )
                )
            };
            s.push_str(&tops("Largest objects (all versions):", &rep.largest));
            s.push_str(&tops("Most versions kept:", &rep.most_versions));
            let enc: Vec<Vec<String>> = rep
                .encryption
                .iter()
                .filter(|e| e.provider != "identity")
                .map(|e| {
                    vec![
                        e.provider.clone(),
                        e.version.clone(),
                        e.key.clone(),
                        e.kms_key_id.clone().unwrap_or_default(),
                        e.live_objects.to_string(),
                        humanize_bytes(e.live_bytes),
                    ]
                })
                .collect();
            if !enc.is_empty() {
                s.push_str(&format!(
                    "\nEncrypted at rest (live values; KMS ones are never decrypted):\n{}",
                    table(
                        &["PROVIDER", "VERSION", "KEY", "KMS KEY ID", "LIVE", "BYTES"],
                        &enc,
                        Align::Left
                    )
                ));
            }
            for n in &rep.notes {
                s.push_str(&format!("\nnote: {n}"));
            }
            s.push_str(&format!(
                "\nrevision {}; {} keys under the prefix are not objects\n",
                rep.rev, rep.other_keys
            ));
            s
        }
    };
    match emit(&text) {
        Ok(()) => EXIT_OK,
        Err(e) => {
            print_error(&e);
            EXIT_UNREADABLE
        }
    }
}

fn dump(a: &DumpArgs) -> u8 {
    let format = match a.output {
        ObjectFormat::Yaml => k8s::DumpFormat::Yaml,
        ObjectFormat::Json => k8s::DumpFormat::Json,
    };
    let r = a.common.options().and_then(|o| {
        k8s::dump(
            &a.common.path,
            &o,
            &LsFilter {
                resource: a.resource.clone(),
                namespace: a.namespace.clone(),
            },
            &a.out,
            format,
        )
    });
    let rep = match r {
        Ok(r) => r,
        Err(e) => {
            print_error(&e);
            return EXIT_UNREADABLE;
        }
    };
    for (key, why) in &rep.unreadable {
        eprintln!("not written: {key}: {why}");
    }
    let text = format!(
        "{} objects at revision {} written to {}{}\n",
        rep.written,
        rep.rev,
        rep.out.display(),
        if rep.unreadable.is_empty() {
            String::new()
        } else {
            format!(
                "; {} could not be read (listed on stderr)",
                rep.unreadable.len()
            )
        }
    );
    if let Err(e) = emit(&text) {
        print_error(&e);
        return EXIT_UNREADABLE;
    }
    if rep.unreadable.is_empty() {
        EXIT_OK
    } else {
        EXIT_PROBLEMS
    }
}

fn diff(a: &DiffArgs) -> u8 {
    let filter = LsFilter {
        resource: a.resource.clone(),
        namespace: a.namespace.clone(),
    };
    let r = a
        .common
        .options()
        .and_then(|o| k8s::diff(&a.common.path, &a.other, &o, a.rev_b, &filter));
    render_diff(r, a.write_out)
}

/// `diff A B --k8s`: the object diff of `k8s diff`, both sides at `rev`
/// (0: each at its current revision), as `diff` reads both at one revision.
pub(super) struct ObjectDiff<'p> {
    pub(super) a: &'p Path,
    pub(super) b: &'p Path,
    /// kube-apiserver's --etcd-prefix; `None`: /registry/.
    pub(super) prefix: Option<String>,
    pub(super) rev: i64,
    pub(super) filter: LsFilter,
    pub(super) encryption_config: Option<&'p Path>,
    pub(super) write_out: ListFormat,
}

pub(super) fn diff_objects(d: ObjectDiff<'_>) -> u8 {
    let common = Common {
        path: d.a.to_path_buf(),
        prefix: d.prefix.unwrap_or_else(|| DEFAULT_PREFIX.to_string()),
        rev: d.rev,
        encryption_config: d.encryption_config.map(Path::to_path_buf),
    };
    let rev_b = (d.rev > 0).then_some(d.rev);
    let r = common
        .options()
        .and_then(|o| k8s::diff(d.a, d.b, &o, rev_b, &d.filter));
    render_diff(r, d.write_out)
}

fn render_diff(r: Result<k8s::DiffReport>, write_out: ListFormat) -> u8 {
    let rep = match r {
        Ok(r) => r,
        Err(e) => {
            print_error(&e);
            return EXIT_UNREADABLE;
        }
    };
    let text = match write_out {
        ListFormat::Json => rep
            .rows
            .iter()
            .map(|r| serde_json::to_string(r).unwrap_or_default() + "\n")
            .collect::<String>(),
        ListFormat::Table => {
            let rows: Vec<Vec<String>> = rep
                .rows
                .iter()
                .map(|r| {
                    vec![
                        r.change.to_string(),
                        r.resource.clone(),
                        r.namespace.clone(),
                        r.name.clone(),
                        r.fields.join(", "),
                    ]
                })
                .collect();
            format!(
                "{}{} differences (A at revision {}, B at revision {})\n",
                table(
                    &["CHANGE", "RESOURCE", "NAMESPACE", "NAME", "FIELDS"],
                    &rows,
                    Align::Left
                ),
                rep.rows.len(),
                rep.rev_a,
                rep.rev_b
            )
        }
    };
    if let Err(e) = emit(&text) {
        print_error(&e);
        return EXIT_UNREADABLE;
    }
    if rep.rows.is_empty() {
        EXIT_OK
    } else {
        EXIT_PROBLEMS
    }
}
