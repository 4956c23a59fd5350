//! The finding codes: every stable code a `check` finding or an `inspect`
//! warning carries, in one list, with what it means. Scripts match on the
//! code (`-w json`: `findings[].code`, `warnings[].code`); the message beside
//! it is for people and may change.
//!
//! Codes are `<area>.<what>[.<detail>]`; the area says which part of the
//! input is concerned. A test keeps this list and the codes used in `src/` in
//! step (`no_code_unlisted`), and the README's list in step with this one.

/// One finding code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Code {
    /// The stable code.
    pub code: &'static str,
    /// Which commands report it: `check`, `inspect`, or both.
    pub by: &'static str,
    /// What it means.
    pub meaning: &'static str,
}

const fn c(code: &'static str, by: &'static str, meaning: &'static str) -> Code {
    Code { code, by, meaning }
}

/// Every finding code, by area.
pub const CODES: &[Code] = &[
    // The file as a whole.
    c("file.live", "check", "the db is locked by a running process (an etcd?): read from the meta page current at open"),
    c("file.truncated", "check", "the file is shorter than the db it describes (a partial download or copy)"),
    c("file.extra-bytes", "check", "bytes after the db that are not a sha256 trailer"),
    c("snapshot.trailer.absent", "check", "no sha256 trailer: a raw db copy, whose integrity cannot be verified"),
    c("snapshot.trailer.partial", "check", "fewer than 32 trailer bytes follow the db: a download or copy cut short; integrity cannot be verified"),
    c("snapshot.trailer.mismatch", "check, inspect", "the sha256 trailer does not match the file: modified or damaged after it was saved"),
    // bbolt structure.
    c("bbolt.meta.invalid", "check", "the older meta page is invalid; the newer one is used, as bbolt does, and nothing is lost"),
    c("bbolt.meta.newer-invalid", "check", "the newer meta page is invalid: bbolt falls back to the older one and that transaction is lost"),
    c("bbolt.file.truncated", "check", "pages below the high-water mark lie past the end of the file"),
    c("bbolt.page.unreadable", "check", "a page cannot be read (header or bounds)"),
    c("bbolt.page.out-of-bounds", "check", "a page id is at or past the high-water mark"),
    c("bbolt.page.id-mismatch", "check", "a page's header carries another page's id"),
    c("bbolt.page.invalid-type", "check", "a page has a type flag that does not fit where it is reached"),
    c("bbolt.page.bad-element", "check", "a branch or leaf element points outside its page"),
    c("bbolt.page.multiple-references", "check", "a page is reached twice (from two parents, or a parent and the freelist)"),
    c("bbolt.page.reachable-freed", "check", "a page in use is also listed as free"),
    c("bbolt.page.unreachable-unfreed", "check", "a page is neither reachable nor free (leaked)"),
    c("bbolt.freelist.invalid", "check", "the freelist page cannot be decoded"),
    c("bbolt.freelist.already-freed", "check", "a page is listed twice in the freelist"),
    c("bbolt.bucket.invalid", "check", "a bucket header or inline bucket is malformed"),
    c("bbolt.key.order", "check", "keys out of order within a page or against the parent's bounds"),
    c("bbolt.tree.too-deep", "check", "the tree is deeper than any real db (a cycle?)"),
    // etcd schema.
    c("etcd.schema.missing-bucket", "check", "a bucket every etcd db has is missing"),
    c("etcd.schema.plain-top-level-key", "check", "a plain key at the top level, where etcd keeps only buckets"),
    c("etcd.key.bad-revision-key", "check", "a key-bucket key is not a revision key"),
    c("etcd.key.negative-revision", "check", "a revision key with a negative revision"),
    c("etcd.key.bad-value", "check", "a key-bucket value is not a KeyValue record"),
    c("etcd.key.bad-tombstone", "check", "a tombstone value holds more than the key"),
    c("etcd.key.inconsistent", "check", "mod revision differs from the key's revision, create > mod, version < 1, or an empty key"),
    c("etcd.meta.missing", "check", "a meta key (consistent_index, term, ...) is missing"),
    c("etcd.meta.v2-only", "check", "(note) no consistent_index in an etcd 3.4 db without v3 keys: normal for a member that served only v2 clients"),
    c("etcd.meta.bad-value", "check", "a meta value cannot be decoded"),
    c("etcd.meta.unreadable", "check", "the meta, cluster, lease, auth or alarm bucket cannot be read"),
    c("etcd.meta.compaction", "check", "the finished compact revision is beyond the scheduled one"),
    c("etcd.meta.compaction-pending", "check", "a compaction was scheduled and not finished; etcd finishes it on start"),
    c("etcd.members.bad-id", "check", "a members-bucket key is not a member id"),
    c("etcd.members.bad-value", "check", "a members-bucket value cannot be decoded"),
    c("etcd.lease.bad-record", "check", "a lease record cannot be decoded"),
    c("etcd.auth.bad-record", "check", "a user or role record cannot be decoded"),
    c("etcd.auth.bad-value", "check", "an auth setting cannot be decoded"),
    c("etcd.alarm.bad-record", "check", "an alarm record cannot be decoded"),
    c("etcd.alarm.active", "check", "an alarm (NOSPACE, CORRUPT) is raised: it survives a restore"),
    c("etcd.cluster.bad-value", "check", "a cluster-bucket value cannot be decoded"),
    // The db as `inspect` reads it.
    c("db.check.failed", "inspect", "the db fails the bbolt structural check"),
    c("db.meta.bad-value", "inspect", "a meta value of the db cannot be decoded"),
    c("db.members.bad", "inspect", "the db's members bucket is damaged"),
    c("db.alarm.active", "inspect", "an alarm is raised in the db"),
    c("db.behind-snapshot", "check, inspect", "the db's consistent index is below the chosen .snap's index (etcd then needs <index>.snap.db)"),
    c("db.ahead-of-wal", "check, inspect", "the db's consistent index is above the WAL's commit"),
    c("db.term-ahead", "check, inspect", "the db's term is above the WAL's HardState term"),
    c("db.version.newer", "snapshot status, hashkv, check, inspect", "the db's meta/storageVersion names an etcd newer than 3.7: figures follow 3.7's rules, confirm with that version's etcdutl"),
    // WAL.
    c("wal.missing", "check, inspect", "a member dir without WAL files"),
    c("wal.name.unparsable", "check, inspect", "a file in the WAL dir whose name is not <seq>-<index>.wal"),
    c("wal.seq.gap", "check, inspect", "WAL file sequence numbers skip one"),
    c("wal.start.missing", "check, inspect", "the first WAL file does not start the log (earlier files missing)"),
    c("wal.crc.mismatch", "check, inspect", "a record's CRC does not chain: the WAL is damaged there"),
    c("wal.crc.seed-mismatch", "check, inspect", "a file's first CRC record does not continue the previous file"),
    c("wal.frame.too-large", "check, inspect", "a record length beyond any real record"),
    c("wal.frame.past-end", "check, inspect", "the last record runs past the end of the file (a torn write)"),
    c("wal.tail.torn", "check, inspect", "an incomplete last record; etcd drops it on start"),
    c("wal.tail.data-after-end", "check, inspect", "non-zero bytes after the last record"),
    c("wal.record.unknown-type", "check, inspect", "a record type etcd does not write"),
    c("wal.record.unmarshal", "check, inspect", "a record cannot be decoded"),
    c("wal.entry.unmarshal", "check, inspect", "an entry record cannot be decoded"),
    c("wal.entry.gap", "check, inspect", "entry indexes skip"),
    c("wal.state.unmarshal", "check, inspect", "a HardState record cannot be decoded"),
    c("wal.snapshot.unmarshal", "check, inspect", "a snapshot record cannot be decoded"),
    c("wal.metadata.unmarshal", "check, inspect", "a metadata record cannot be decoded"),
    c("wal.metadata.conflict", "check, inspect", "WAL files carry different member or cluster ids"),
    c("wal.snapshot.not-found", "check, inspect", "the chosen .snap has no matching WAL snapshot record"),
    c("wal.snapshot.term-mismatch", "check, inspect", "the chosen .snap's term differs from its WAL record"),
    c("wal.commit-beyond-last", "check, inspect", "the HardState commit is beyond the last entry the WAL holds (etcd panics on start)"),
    c("wal.ahead-of-db", "check, inspect", "committed entries are in the WAL but not yet in the db; etcd applies them on start"),
    c("wal.replay.incomplete", "check, inspect", "the WAL lacks committed entries after the db's consistent index"),
    // .snap files.
    c("snap.unreadable", "check, inspect", "a .snap file cannot be read; etcd renames it .broken and uses an older one"),
    c("snap.orphan", "check, inspect", "a .snap without a WAL snapshot record; etcd ignores it"),
    c("snap.name-mismatch", "check, inspect", "a .snap's name does not match the term and index it holds"),
    // Membership and the data dir.
    c("membership.disagree", "check, inspect", "the sources (db, .snap, WAL) disagree on the members"),
    c("membership.self-missing", "check, inspect", "the WAL's owner is not in the db's members"),
    c("datadir.leftover", "check, inspect", "a file etcd leaves behind (db.tmp, .broken, ...) in the data dir"),
    c("datadir.unreadable", "check", "the WAL or .snap side of a data dir cannot be read"),
    // upgrade-check blockers.
    c("upgrade.v2-custom-content", "upgrade-check", "the .snap etcd 3.6 would load holds v2 keys beyond etcd's own: 3.6 refuses to start"),
    c("upgrade.storage-newer", "upgrade-check", "meta/storageVersion is newer than the target: the target etcd refuses to start"),
    c("upgrade.skips-minor", "upgrade-check", "the dir was last written by a version more than one minor below the target"),
    c("upgrade.learner-mismatch", "upgrade-check", "a member is a learner in one membership store (v2 .snap+WAL, db bucket) and a voter in the other; to 3.6, a learner only in the bucket (etcd #19557) is a note, since 3.6 repairs it at start"),
    c("upgrade.member-only-in-v2", "upgrade-check", "a member is in the v2 store but not in the db's members bucket, which 3.6+ reads (zombie member)"),
    c("upgrade.member-only-in-v3", "upgrade-check", "a member is in the db's members bucket but not in the v2 store"),
    c("upgrade.wal-newer-entries", "upgrade-check", "committed WAL entries need an etcd newer than the target"),
    c("upgrade.unreadable", "upgrade-check", "the path has no readable db to check"),
];

/// The entry of `code`, if it is a known finding code.
pub fn describe(code: &str) -> Option<&'static Code> {
    CODES.iter().find(|c| c.code == code)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    const AREAS: &[&str] = &[
        "file.",
        "snapshot.",
        "bbolt.",
        "etcd.",
        "db.",
        "wal.",
        "snap.",
        "membership.",
        "datadir.",
    ];
    /// Literals of that shape that are file names, not codes.
    const NOT_CODES: &[&str] = &["db.tmp"];

    fn literals(dir: &Path, out: &mut Vec<(String, String)>) {
        for entry in std::fs::read_dir(dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                literals(&path, out);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") || path.ends_with("codes.rs") {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            for piece in text.split('"').skip(1).step_by(2) {
                let shaped = AREAS.iter().any(|a| piece.starts_with(a))
                    && !piece.ends_with('.')
                    && piece.chars().all(|c| {
                        c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '-'
                    });
                if shaped && !NOT_CODES.contains(&piece) {
                    out.push((piece.to_string(), path.display().to_string()));
                }
            }
        }
    }

    #[test]
    fn no_code_unlisted() {
        let mut found = Vec::new();
        literals(
            &Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
            &mut found,
        );
        let missing: Vec<_> = found
            .iter()
            .filter(|(c, _)| describe(c).is_none())
            .collect();
        assert!(
            missing.is_empty(),
            "codes used but not in codes::CODES: {missing:?}"
        );
    }

    #[test]
    fn codes_are_unique_and_documented_in_the_readme() {
        let readme =
            std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md"))
                .unwrap();
        for (i, c) in CODES.iter().enumerate() {
            assert!(
                CODES[..i].iter().all(|o| o.code != c.code),
                "{} twice",
                c.code
            );
            assert!(
                readme.contains(&format!("`{}`", c.code)),
                "{} not in the README",
                c.code
            );
        }
    }
}
