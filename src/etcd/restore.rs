//! What `etcdutl snapshot restore` writes, built from a snapshot db and the
//! cluster given on the command line: the rewritten db, the WAL and the `.snap`.
//!
//! ```text
//! db (a byte copy of the source patched copy-on-write, `patch_db`; or, for
//! layouts the patch does not handle, one streaming rewrite, `rewrite_db`):
//!   members          replaced: <hex id> = member JSON, one per member
//!   members_removed  emptied
//!   cluster          kept (created empty when missing)
//!   key              kept; with a bump N > 0: + {latest.main+N, 0} = "" (last key)
//!   meta             kept, except consistent_index = N members (u64 BE),
//!                    term = 1 (u64 BE), and with a bump scheduledCompactRev =
//!                    {latest.main+N, 0} (17-byte revision key)
//!   everything else  kept byte for byte (alarm, auth*, lease, confState, ...)
//! WAL 0000000000000000-0000000000000000.wal, 64,000,000 bytes:
//!   crc{0} | metadata{NodeID, ClusterID} | snapshot{0,0}
//!   | entry{ConfChange AddNode id_i, member JSON} for i in 1..=N (ID order, term 1)
//!   | state{term 1, vote smallest id, commit N} | snapshot{N, 1, voters} | zeros
//! .snap 0000000000000001-<N %016x>.snap:
//!   snappb{crc32c, raftpb.Snapshot{v2 store JSON, {voters, index N, term 1}}}
//!   the v2 store holds /0/members/<hex id>/raftAttributes per member (etcd 3.5
//!   reads membership from here; 3.6 reads the `members` bucket).
//! ```
//! Restore's members (from `--initial-cluster`) are all voters. A WAL rebuilt
//! from a db ([`rebuilt_wal_frames`], [`snap_file_at`]) takes its members
//! from the `members` bucket, which may hold learners; they are kept as such:
//!   ConfState          voters (field 1), then learners (field 2), each in ID
//!                      order, unpacked (proto2), as raft writes it
//!   raftAttributes     `{"peerURLs":[…],"isLearner":true}` for a learner, the
//!                      flag omitted otherwise (etcd `membership.RaftAttributes`,
//!                      `isLearner,omitempty`; `mustSaveMemberToStore`)
//! Per etcdutl version ([`OutputVersion`]) only the WAL and `.snap` encodings
//! differ (the db is the same; `meta/storageVersion` is kept as it is):
//!   3.6: the v2 store's Stats say `"getsFail":1` (3.6 looks for members in
//!        the empty store before adding them, `verifyNoMembersInStore`).
//!   3.7: as 3.6, and the fields restore does not set are absent (raft 3.7's
//!        protobuf-go field presence): ConfChange `id` (`08 00`) and
//!        ConfState `auto_leave` (`28 00`), in the WAL and in the `.snap`;
//!        ConfState learners (tag 2) only when there are some.
//! "latest" is the largest revision key of `key`: the last key, since keys sort
//! by (main, sub) and a tombstone mark only follows its own revision.
//! Source: etcd v3.5.1 and v3.5.16 `etcdutl/snapshot/v3_snapshot.go`
//! (`Restore`, `saveDB`, `modifyLatestRevision`, `saveWALAndSnap`,
//! `updateCIndex`), `server/etcdserver/api/v2store` (`Save` JSON). Checked byte
//! for byte against etcdutl 3.5.1 (WAL for 1 and 3 members, `.snap` for one),
//! and against etcdutl 3.6.17 and 3.7.3 (`saveWALAndSnap`; raft v3.7.0
//! `raftpb/raft.proto`): WAL for 1 and 3 members, `.snap` for one.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{Seek, Write};

use prost::Message;

use crate::error::{Error, ErrorKind, Result};
use crate::formats::bbolt::write::{DbWriter, WriteSummary, WriterOptions};
use crate::formats::bbolt::{Bucket, Db};
use crate::formats::proto::{raftpb, walpb};
use crate::formats::wal::reader::RecordType;
use crate::formats::wal::write::Encoder;

use super::gojson::go_json_string;
use super::member::{Cluster, Member};
use super::revision::{Revision, REV_KEY_LEN};
use super::schema;

/// Term of everything restore writes.
pub const RESTORE_TERM: u64 = 1;

/// Capacity of the v2 store's event history (`newEventHistory(1000)`).
const EVENT_CAPACITY: usize = 1000;

/// What the db rewrite did besides copying.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct DbRewrite {
    /// Largest revision found in `key` (0 when the bucket is empty).
    pub latest_revision: i64,
    /// The bump revision key written and scheduled for compaction, if any.
    pub bumped_revision: Option<i64>,
    /// Consistent index written (the number of members).
    pub consistent_index: u64,
    /// What was written: the whole file for a rewrite; for a patch the new
    /// pages (counts) and the file after it (`pgid`, `root`, `file_len`).
    pub written: WriteSummary,
}

/// How the entries of one bucket are produced.
enum Plan {
    /// The source's entries are dropped and these written instead.
    Replace(Vec<(Vec<u8>, Vec<u8>)>),
    /// The source's entries are kept; these keys are set (added or
    /// replaced, `Some`) or removed (`None`).
    Merge(BTreeMap<Vec<u8>, Option<Vec<u8>>>),
}

/// Changes laid over the source's buckets before restore's own: per bucket
/// name, keys set (`Some`) or removed (`None`). Buckets restore replaces
/// (`members`, `members_removed`) ignore it; restore's `meta` keys win.
pub type Overlay = BTreeMap<Vec<u8>, BucketEdits>;

/// One bucket's edits in an [`Overlay`]: key → new value, or `None` to delete.
pub type BucketEdits = BTreeMap<Vec<u8>, Option<Vec<u8>>>;

fn u64_be(v: u64) -> Vec<u8> {
    v.to_be_bytes().to_vec()
}

/// Rewrites `db` into `out` as restore does (see the module doc), in one
/// streaming pass. `bump`: the `--bump-revision` amount (with
/// `--mark-compacted`), `0` for none.
pub fn rewrite_db<W: Write + Seek>(
    db: &Db<'_>,
    cluster: &Cluster,
    bump: u64,
    out: W,
) -> Result<(W, DbRewrite)> {
    rewrite_db_over(db, cluster, bump, Overlay::new(), out)
}

/// [`rewrite_db`] with `overlay` laid over the source's entries first (new
/// `key` records, leases, compaction removals from a WAL replay). The
/// bump's latest revision is that of the merged `key` bucket.
pub fn rewrite_db_over<W: Write + Seek>(
    db: &Db<'_>,
    cluster: &Cluster,
    bump: u64,
    overlay: Overlay,
    out: W,
) -> Result<(W, DbRewrite)> {
    let n = crate::bytes::to_u64(cluster.members.len());
    let plans = plans(cluster, overlay);

    let mut w = DbWriter::new(out, WriterOptions::like(db))?;
    let mut latest = Revision::default();
    let mut bumped = None;
    let mut pending = plans.into_iter().peekable();
    let mut sources = db.root_bucket().cursor(db);
    let mut next_src = sources.next().transpose()?;
    loop {
        // The next bucket in name order: from the source, a plan, or both.
        let take_plan = match (&next_src, pending.peek()) {
            (None, None) => break,
            (Some(s), Some((p, _))) => {
                if s.key == p.as_slice() {
                    None // both: the source bucket, with the plan applied
                } else {
                    Some(p.as_slice() < s.key)
                }
            }
            (None, Some(_)) => Some(true),
            (Some(_), None) => Some(false),
        };
        match take_plan {
            Some(true) => {
                // A bucket the source lacks: write what the plan says.
                let Some((name, plan)) = pending.next() else {
                    break;
                };
                let mut plan = plan;
                if name == schema::META {
                    add_bump_meta(&mut plan, &latest, bump, &mut bumped)?;
                }
                w.begin_bucket(&name)?;
                let entries: Vec<(Vec<u8>, Option<Vec<u8>>)> = match plan {
                    Plan::Replace(v) => v.into_iter().map(|(k, v)| (k, Some(v))).collect(),
                    Plan::Merge(m) => m.into_iter().collect(),
                };
                let is_key = name == schema::KEY;
                for (k, v) in entries {
                    if let Some(v) = v {
                        if is_key {
                            track_latest(&mut latest, &k);
                        }
                        w.put(&k, &v)?;
                    }
                }
                if is_key && bump > 0 {
                    let rev = bump_revision(&latest, bump)?;
                    w.put(&rev.to_key(), &[])?;
                    bumped = Some(rev.main);
                }
            }
            other => {
                let Some(top) = next_src.take() else { break };
                let plan = if other.is_none() {
                    pending.next().map(|(_, p)| p)
                } else {
                    None
                };
                if !top.is_bucket() {
                    return Err(Error::new(ErrorKind::Schema(format!(
                        "top-level key {} is not a bucket; etcd never writes one (run `etcd-rescue check`)",
                        String::from_utf8_lossy(top.key)
                    ))));
                }
                let bucket = Bucket::from_value(top.key, top.value)?;
                let mut plan = plan;
                if top.key == schema::META {
                    if let Some(p) = plan.as_mut() {
                        add_bump_meta(p, &latest, bump, &mut bumped)?;
                    }
                }
                w.begin_bucket(top.key)?;
                w.set_sequence(bucket.sequence);
                let is_key = top.key == schema::KEY;
                copy_bucket(db, &bucket, top.key, plan, &mut |k, v| {
                    if is_key {
                        track_latest(&mut latest, k);
                    }
                    w.put(k, v)
                })?;
                if is_key && bump > 0 {
                    let rev = bump_revision(&latest, bump)?;
                    w.put(&rev.to_key(), &[])?;
                    bumped = Some(rev.main);
                }
                next_src = sources.next().transpose()?;
            }
        }
    }
    let (out, written) = w.finish()?;
    Ok((
        out,
        DbRewrite {
            latest_revision: latest.main,
            bumped_revision: bumped,
            consistent_index: n,
            written,
        },
    ))
}

/// Plans for the buckets restore rewrites or creates, and those `overlay`
/// changes.
fn plans(cluster: &Cluster, mut overlay: Overlay) -> BTreeMap<Vec<u8>, Plan> {
    let n = crate::bytes::to_u64(cluster.members.len());
    let mut plans: BTreeMap<Vec<u8>, Plan> = BTreeMap::new();
    let mut members: Vec<(Vec<u8>, Vec<u8>)> = cluster
        .members
        .iter()
        .map(|m| (m.bucket_key().into_bytes(), m.to_json().into_bytes()))
        .collect();
    members.sort();
    overlay.remove(schema::MEMBERS);
    overlay.remove(schema::MEMBERS_REMOVED);
    plans.insert(schema::MEMBERS.to_vec(), Plan::Replace(members));
    plans.insert(schema::MEMBERS_REMOVED.to_vec(), Plan::Replace(Vec::new()));
    let cluster_edits = overlay.remove(schema::CLUSTER).unwrap_or_default();
    plans.insert(schema::CLUSTER.to_vec(), Plan::Merge(cluster_edits));
    let mut meta = overlay.remove(schema::META).unwrap_or_default();
    meta.insert(schema::meta_key::CONSISTENT_INDEX.to_vec(), Some(u64_be(n)));
    meta.insert(schema::meta_key::TERM.to_vec(), Some(u64_be(RESTORE_TERM)));
    plans.insert(schema::META.to_vec(), Plan::Merge(meta));
    for (name, edits) in overlay {
        plans.insert(name, Plan::Merge(edits));
    }
    plans
}

/// Bytes of a rewritten small bucket (members, members_removed, cluster,
/// meta) that [`patch_db`] puts on one leaf page; more falls back to
/// [`rewrite_db`].
pub const PATCH_BUCKET_MAX: usize = 1 << 20;

/// Does what [`rewrite_db`] does, by copy-on-write over `out`, which already
/// holds a byte copy of the source's `pgid × page_size` bytes: the buckets
/// restore changes (members, members_removed, cluster, meta) get new leaf
/// pages, with a bump the `key` bucket's rightmost path gets new pages too,
/// then a new root bucket page and a new meta (see [`bbolt::patch`]). Every
/// other page stays byte for byte where it was. Much less to write than a
/// rewrite, and the bulk copy can be done by the kernel.
///
/// `Ok(None)`, having written nothing past the copy, when the source is laid
/// out in a way this does not handle (a root bucket over several pages, a
/// plain top-level key, a changed bucket over [`PATCH_BUCKET_MAX`], a bump
/// without a paged `key` bucket): then use [`rewrite_db`].
///
/// [`bbolt::patch`]: crate::formats::bbolt::patch
pub fn patch_db(
    db: &Db<'_>,
    cluster: &Cluster,
    bump: u64,
    out: &dyn crate::formats::bbolt::patch::PageTarget,
) -> Result<Option<DbRewrite>> {
    use crate::formats::bbolt::page::BUCKET_LEAF_FLAG;
    use crate::formats::bbolt::patch::Patcher;
    use crate::formats::bbolt::BucketRoot;

    let n = crate::bytes::to_u64(cluster.members.len());
    let root = db.page(db.meta().root)?;
    if !root.header.is_leaf() {
        return Ok(None);
    }
    let mut tops = Vec::new();
    for e in root.leaf_elements() {
        let e = e.map_err(|k| Error::at(k, db.location(root.id)))?;
        if !e.is_bucket() {
            return Ok(None);
        }
        tops.push(e);
    }
    // The key bucket's rightmost path (root first) and the latest revision.
    let mut path = Vec::new();
    if let Some(k) = tops.iter().find(|e| e.key == schema::KEY) {
        let bucket = Bucket::from_value(k.key, k.value)?;
        if matches!(bucket.root, BucketRoot::Inline(_)) {
            return Ok(None);
        }
        path = bucket.cursor(db).rightmost_path()?;
        // An empty branch page ends the path: a layout the patch leaves alone.
        if path.last().is_some_and(|p| !p.header.is_leaf()) {
            return Ok(None);
        }
    } else if bump > 0 {
        return Ok(None);
    }
    let latest_main = match path.last() {
        Some(leaf) if leaf.count() > 0 => {
            let last = leaf
                .leaf_element(leaf.count() - 1)
                .map_err(|k| Error::at(k, db.location(leaf.id)))?;
            if last.key.len() < REV_KEY_LEN {
                return Ok(None);
            }
            crate::bytes::u64_be(last.key, 0).map_or(0, |m| i64::from_be_bytes(m.to_be_bytes()))
        }
        _ => 0,
    };
    let latest = Revision {
        main: latest_main,
        sub: 0,
    };
    let mut bumped = None;
    let mut patch = Patcher::new(out, db);
    // New bucket headers, by name.
    let mut headers: BTreeMap<Vec<u8>, [u8; 16]> = BTreeMap::new();
    let header = crate::formats::bbolt::bucket::encode_header;
    for (name, mut plan) in plans(cluster, Overlay::new()) {
        if name == schema::META {
            add_bump_meta(&mut plan, &latest, bump, &mut bumped)?;
        }
        let source = tops.iter().find(|e| e.key == name);
        let mut entries: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
        let mut size = 0usize;
        let mut collect = |k: &[u8], v: &[u8]| -> Result<()> {
            size = size.saturating_add(k.len() + v.len() + 16);
            if size <= PATCH_BUCKET_MAX {
                entries.push((k.to_vec(), v.to_vec()));
            }
            Ok(())
        };
        let seq = match source {
            Some(e) => {
                let bucket = Bucket::from_value(e.key, e.value)?;
                copy_bucket(db, &bucket, &name, Some(plan), &mut collect)?;
                bucket.sequence
            }
            None => {
                match plan {
                    Plan::Replace(v) => v.into_iter().try_for_each(|(k, v)| collect(&k, &v))?,
                    Plan::Merge(m) => m
                        .into_iter()
                        .filter_map(|(k, v)| v.map(|v| (k, v)))
                        .try_for_each(|(k, v)| collect(&k, &v))?,
                }
                0
            }
        };
        if size > PATCH_BUCKET_MAX {
            return Ok(None);
        }
        let refs: Vec<(u32, &[u8], &[u8])> = entries
            .iter()
            .map(|(k, v)| (0, k.as_slice(), v.as_slice()))
            .collect();
        let id = patch.leaf(&refs)?;
        headers.insert(name.clone(), header(id, seq));
    }
    if bump > 0 {
        let rev = bump_revision(&latest, bump)?;
        let bump_key = rev.to_key();
        bumped = Some(rev.main);
        // New rightmost leaf, then each ancestor with its last child replaced.
        let mut child = None;
        for page in path.iter().rev() {
            let id = if page.header.is_leaf() {
                let mut entries = Vec::new();
                for e in page.leaf_elements() {
                    let e = e.map_err(|k| Error::at(k, db.location(page.id)))?;
                    entries.push((e.flags, e.key, e.value));
                }
                entries.push((0, bump_key.as_slice(), &[][..]));
                patch.leaf(&entries)?
            } else {
                let mut elems = Vec::new();
                for e in page.branch_elements() {
                    let e = e.map_err(|k| Error::at(k, db.location(page.id)))?;
                    elems.push((e.key, e.child));
                }
                if let (Some(last), Some(c)) = (elems.last_mut(), child) {
                    last.1 = c;
                }
                patch.branch(&elems)?
            };
            child = Some(id);
        }
        let seq = tops
            .iter()
            .find(|e| e.key == schema::KEY)
            .map(|e| Bucket::from_value(e.key, e.value))
            .transpose()?
            .map_or(0, |b| b.sequence);
        if let Some(c) = child {
            headers.insert(schema::KEY.to_vec(), header(c, seq));
        }
    }
    // The root bucket: every source entry, the changed ones with new headers,
    // plus the buckets the source lacked, in key order.
    let mut root_entries: Vec<(u32, &[u8], &[u8])> = tops
        .iter()
        .filter(|e| !headers.contains_key(e.key))
        .map(|e| (e.flags, e.key, e.value))
        .collect();
    for (name, h) in &headers {
        root_entries.push((BUCKET_LEAF_FLAG, name.as_slice(), h.as_slice()));
    }
    root_entries.sort_by(|a, b| a.1.cmp(b.1));
    let buckets = crate::bytes::to_u64(root_entries.len());
    let root_id = patch.leaf(&root_entries)?;
    let written = patch.commit(root_id, buckets)?;
    Ok(Some(DbRewrite {
        latest_revision: latest.main,
        bumped_revision: bumped,
        consistent_index: n,
        written,
    }))
}

fn bump_revision(latest: &Revision, bump: u64) -> Result<Revision> {
    let main = i64::try_from(bump)
        .ok()
        .and_then(|b| latest.main.checked_add(b))
        .ok_or_else(|| {
            Error::new(ErrorKind::Usage(format!(
                "--bump-revision {bump} overflows the latest revision {}",
                latest.main
            )))
        })?;
    Ok(Revision { main, sub: 0 })
}

/// With a bump, `meta/scheduledCompactRev` = the bump revision (the `key`
/// bucket sorts before `meta`, so `latest` is known by then).
fn add_bump_meta(
    plan: &mut Plan,
    latest: &Revision,
    bump: u64,
    bumped: &mut Option<i64>,
) -> Result<()> {
    if bump == 0 {
        return Ok(());
    }
    let rev = bump_revision(latest, bump)?;
    if let Plan::Merge(m) = plan {
        m.insert(
            schema::meta_key::SCHEDULED_COMPACT_REV.to_vec(),
            Some(rev.to_key().to_vec()),
        );
    }
    if bumped.is_none() {
        // No `key` bucket in the source: etcdutl's bump finds revision 0.
        *bumped = Some(rev.main);
    }
    Ok(())
}

/// Where [`copy_bucket`] sends each entry.
type PutFn<'p> = dyn FnMut(&[u8], &[u8]) -> Result<()> + 'p;

/// Copies one bucket's entries, applying `plan`.
fn copy_bucket(
    db: &Db<'_>,
    bucket: &Bucket<'_>,
    name: &[u8],
    plan: Option<Plan>,
    put: &mut PutFn<'_>,
) -> Result<()> {
    let mut merge = match plan {
        Some(Plan::Replace(v)) => {
            for (k, v) in v {
                put(&k, &v)?;
            }
            return Ok(());
        }
        Some(Plan::Merge(m)) => m.into_iter().peekable(),
        None => BTreeMap::new().into_iter().peekable(),
    };
    for e in bucket.cursor(db) {
        let e = e?;
        if e.is_bucket() {
            return Err(Error::new(ErrorKind::Schema(format!(
                "bucket {} holds a nested bucket; etcd never writes one (run `etcd-rescue check`)",
                String::from_utf8_lossy(name)
            ))));
        }
        while let Some((k, v)) = merge.next_if(|(k, _)| k.as_slice() < e.key) {
            if let Some(v) = v {
                put(&k, &v)?;
            }
        }
        match merge.next_if(|(k, _)| k.as_slice() == e.key) {
            Some((_, Some(v))) => put(e.key, &v)?,
            Some((_, None)) => {}
            None => put(e.key, e.value)?,
        }
    }
    for (k, v) in merge {
        if let Some(v) = v {
            put(&k, &v)?;
        }
    }
    Ok(())
}

/// Keeps the largest revision key seen (keys sort by revision, so the last
/// one written is the largest).
fn track_latest(latest: &mut Revision, key: &[u8]) {
    if key.len() < REV_KEY_LEN {
        return;
    }
    if let (Some(main), Some(sub)) = (crate::bytes::u64_be(key, 0), crate::bytes::u64_be(key, 9)) {
        *latest = Revision {
            main: i64::from_be_bytes(main.to_be_bytes()),
            sub: i64::from_be_bytes(sub.to_be_bytes()),
        };
    }
}

/// The ConfChange context / `members` value: the member JSON etcd writes.
fn member_json(m: &Member) -> String {
    m.to_json()
}

/// The WAL frames restore writes for the member `node_id` (not yet padded to
/// a segment).
pub fn wal_frames(cluster: &Cluster, node_id: u64) -> Vec<u8> {
    wal_frames_for(cluster, node_id, OutputVersion::V3_5)
}

/// The WAL frames the restore of etcdutl `version` writes for `node_id`.
pub fn wal_frames_for(cluster: &Cluster, node_id: u64, version: OutputVersion) -> Vec<u8> {
    let n = crate::bytes::to_u64(cluster.members.len());
    let mut e = Encoder::created(node_id, cluster.id);
    for (i, m) in (1u64..).zip(&cluster.members) {
        let cc = raftpb::ConfChange {
            id: 0,
            r#type: raftpb::conf_change_type::ADD_NODE,
            node_id: m.id,
            context: Some(member_json(m).into_bytes()),
        };
        e.message(
            RecordType::Entry,
            &raftpb::Entry {
                r#type: raftpb::entry_type::CONF_CHANGE,
                term: RESTORE_TERM,
                index: i,
                data: Some(conf_change_bytes(&cc, version).into()),
            },
        );
    }
    e.message(
        RecordType::State,
        &raftpb::HardState {
            term: RESTORE_TERM,
            vote: cluster.members.first().map_or(0, |m| m.id),
            commit: n,
        },
    );
    snapshot_record(&mut e, cluster, n, RESTORE_TERM, version);
    e.bytes().to_vec()
}

/// Appends the WAL snapshot record at (`index`, `term`) with `cluster`'s
/// ConfState, as that etcd encodes it.
fn snapshot_record(
    e: &mut Encoder,
    cluster: &Cluster,
    index: u64,
    term: u64,
    version: OutputVersion,
) {
    if version.sets_only_given_fields() {
        // walpb.Snapshot{index 1, term 2, conf_state 3}: all set here.
        let mut b = Vec::new();
        prost::encoding::uint64::encode(1, &index, &mut b);
        prost::encoding::uint64::encode(2, &term, &mut b);
        put_message_field(3, &conf_state_bytes(cluster, version), &mut b);
        e.record(RecordType::Snapshot, Some(&b));
    } else {
        e.message(
            RecordType::Snapshot,
            &walpb::Snapshot {
                index,
                term,
                conf_state: Some(conf_state(cluster)),
            },
        );
    }
}

/// The WAL of a member rebuilt from its db: etcd's fresh WAL (crc, metadata,
/// snapshot {0, 0}), then `state` and a snapshot record at (`index`, `term`)
/// with `cluster`'s voters and learners: the member starts from the db at
/// that consistent index (with the `.snap` of [`snap_file_at`]) and no
/// entries.
pub fn rebuilt_wal_frames(
    cluster: &Cluster,
    node_id: u64,
    index: u64,
    term: u64,
    state: raftpb::HardState,
    version: OutputVersion,
) -> Vec<u8> {
    let mut e = Encoder::created(node_id, cluster.id);
    e.message(RecordType::State, &state);
    snapshot_record(&mut e, cluster, index, term, version);
    e.bytes().to_vec()
}

/// Which etcdutl's restore output to reproduce. Restore writes the same db
/// for all of them; the WAL and `.snap` encodings differ (see the module
/// docs), and each is what that etcd's own restore would hand to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
pub enum OutputVersion {
    /// etcdutl 3.5 (also what 3.4 and older snapshots get).
    #[serde(rename = "3.5")]
    V3_5,
    /// etcdutl 3.6.
    #[serde(rename = "3.6")]
    V3_6,
    /// etcdutl 3.7 (and newer storage versions, until they are known).
    #[serde(rename = "3.7")]
    V3_7,
}

impl OutputVersion {
    /// The versions `--output-version` accepts.
    pub const NAMES: [&'static str; 3] = ["3.5", "3.6", "3.7"];

    /// `"3.5"`, `"3.6"`, `"3.7"`.
    pub fn parse(s: &str) -> Option<OutputVersion> {
        match s {
            "3.5" => Some(OutputVersion::V3_5),
            "3.6" => Some(OutputVersion::V3_6),
            "3.7" => Some(OutputVersion::V3_7),
            _ => None,
        }
    }

    /// The etcd that wrote a db with this `meta/storageVersion`: absent
    /// (3.5 and older, or a 3.6 member of a cluster still at 3.5) means 3.5.
    pub fn from_storage_version(v: Option<&super::version::Version>) -> OutputVersion {
        match v {
            Some(v) if (v.major, v.minor) >= (3, 7) => OutputVersion::V3_7,
            Some(v) if (v.major, v.minor) >= (3, 6) => OutputVersion::V3_6,
            _ => OutputVersion::V3_5,
        }
    }

    /// `"3.5"`, `"3.6"`, `"3.7"`.
    pub fn as_str(self) -> &'static str {
        match self {
            OutputVersion::V3_5 => "3.5",
            OutputVersion::V3_6 => "3.6",
            OutputVersion::V3_7 => "3.7",
        }
    }

    /// raft 3.7 encodes with protobuf-go: unset optional fields are absent,
    /// where gogoproto (3.5, 3.6) writes every non-nullable field.
    fn sets_only_given_fields(self) -> bool {
        self >= OutputVersion::V3_7
    }
}

/// Appends a length-delimited field holding `body`.
fn put_message_field(tag: u32, body: &[u8], out: &mut Vec<u8>) {
    prost::encoding::encode_key(tag, prost::encoding::WireType::LengthDelimited, out);
    prost::encoding::encode_varint(crate::bytes::to_u64(body.len()), out);
    out.extend_from_slice(body);
}

/// The ConfChange restore proposes, as that etcdutl encodes it: 3.7 leaves the
/// unset `id` out (its `type`, even AddNode = 0, is set and stays).
fn conf_change_bytes(cc: &raftpb::ConfChange, version: OutputVersion) -> Vec<u8> {
    if !version.sets_only_given_fields() {
        return cc.encode_to_vec();
    }
    let mut b = Vec::new();
    prost::encoding::int32::encode(2, &cc.r#type, &mut b);
    prost::encoding::uint64::encode(3, &cc.node_id, &mut b);
    if let Some(ctx) = &cc.context {
        prost::encoding::bytes::encode(4, ctx, &mut b);
    }
    b
}

/// The ConfState of `cluster`: voters (1), learners (2), and for 3.5/3.6
/// the gogoproto `auto_leave=false` that 3.7 leaves out.
fn conf_state_bytes(cluster: &Cluster, version: OutputVersion) -> Vec<u8> {
    let cs = conf_state(cluster);
    if !version.sets_only_given_fields() {
        return cs.encode_to_vec();
    }
    let mut b = Vec::new();
    for v in &cs.voters {
        prost::encoding::uint64::encode(1, v, &mut b);
    }
    for l in &cs.learners {
        prost::encoding::uint64::encode(2, l, &mut b);
    }
    b
}

/// Members split into voters and learners (each in ID order). Restore's
/// clusters come from `--initial-cluster` and hold no learners.
fn conf_state(cluster: &Cluster) -> raftpb::ConfState {
    let ids = |learner: bool| {
        cluster
            .members
            .iter()
            .filter(|m| m.is_learner == learner)
            .map(|m| m.id)
            .collect()
    };
    raftpb::ConfState {
        voters: ids(false),
        learners: ids(true),
        ..raftpb::ConfState::default()
    }
}

/// The v2 raftAttributes value, Go's `json.Marshal(RaftAttributes)`:
/// `{"peerURLs":[…]}`, plus `"isLearner":true` for a learner (omitempty).
fn raft_attributes(m: &Member) -> String {
    let mut s = String::from("{\"peerURLs\":[");
    for (i, u) in m.peer_urls.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        go_json_string(&mut s, u);
    }
    s.push(']');
    if m.is_learner {
        s.push_str(",\"isLearner\":true");
    }
    s.push('}');
    s
}

const PERMANENT: &str = "0001-01-01T00:00:00Z";

fn node_head(out: &mut String, path: &str, index: u64) {
    out.push_str("{\"Path\":");
    go_json_string(out, path);
    let _ = write!(
        out,
        ",\"CreatedIndex\":{index},\"ModifiedIndex\":{index},\"ExpireTime\":\"{PERMANENT}\",\"Value\":"
    );
}

/// The v2 store JSON etcd 3.5's restore saves (`store.Save()` after one
/// `create` of `/0/members/<hex>/raftAttributes` per member in ID order).
pub fn v2_store_json(cluster: &Cluster) -> String {
    v2_store_json_for(cluster, OutputVersion::V3_5)
}

/// The v2 store JSON the restore of etcdutl `version` saves.
pub fn v2_store_json_for(cluster: &Cluster, version: OutputVersion) -> String {
    // 3.6+ look for members in the store first: one failed get.
    let gets_fail = u8::from(version >= OutputVersion::V3_6);
    let n = cluster.members.len();
    let mut s = String::with_capacity(8192);
    // Root, /0, /0/members (created with the first member, index 1).
    s.push_str("{\"Root\":");
    node_head(&mut s, "/", 0);
    s.push_str("\"\",\"Children\":{\"0\":");
    node_head(&mut s, "/0", 0);
    s.push_str("\"\",\"Children\":{");
    if n > 0 {
        s.push_str("\"members\":");
        node_head(&mut s, "/0/members", 1);
        s.push_str("\"\",\"Children\":{");
        // Children are keyed by hex id, sorted as strings (Go map order).
        let mut by_name: Vec<(String, u64, &Member)> = (1u64..)
            .zip(&cluster.members)
            .map(|(i, m)| (m.bucket_key(), i, m))
            .collect();
        by_name.sort_by(|a, b| a.0.cmp(&b.0));
        for (j, (hexid, idx, m)) in by_name.iter().enumerate() {
            if j > 0 {
                s.push(',');
            }
            go_json_string(&mut s, hexid);
            s.push(':');
            let dir = format!("/0/members/{hexid}");
            node_head(&mut s, &dir, *idx);
            s.push_str("\"\",\"Children\":{\"raftAttributes\":");
            node_head(&mut s, &format!("{dir}/raftAttributes"), *idx);
            go_json_string(&mut s, &raft_attributes(m));
            s.push_str(",\"Children\":null}}}");
        }
        s.push_str("}}");
    }
    s.push_str("}},\"1\":");
    node_head(&mut s, "/1", 0);
    s.push_str("\"\",\"Children\":{}}}}");
    // The event history: one create per member, then nulls to the capacity.
    s.push_str(",\"WatcherHub\":{\"EventHistory\":{\"Queue\":{\"Events\":[");
    for (i, m) in (1u64..).zip(&cluster.members) {
        if i > 1 {
            s.push(',');
        }
        s.push_str("{\"action\":\"create\",\"node\":{\"key\":");
        go_json_string(
            &mut s,
            &format!("/0/members/{}/raftAttributes", m.bucket_key()),
        );
        s.push_str(",\"value\":");
        go_json_string(&mut s, &raft_attributes(m));
        let _ = write!(s, ",\"modifiedIndex\":{i},\"createdIndex\":{i}}}}}");
    }
    for i in n..EVENT_CAPACITY {
        if i > 0 {
            s.push(',');
        }
        s.push_str("null");
    }
    let (start, last) = if n == 0 { (0, 0) } else { (1, n) };
    let _ = write!(
        s,
        "],\"Size\":{n},\"Front\":0,\"Back\":{back},\"Capacity\":{EVENT_CAPACITY}}},\"StartIndex\":{start},\"LastIndex\":{last}}}}},\"CurrentIndex\":{n}",
        back = n % EVENT_CAPACITY,
    );
    let _ = write!(
        s,
        ",\"Stats\":{{\"getsSuccess\":0,\"getsFail\":{gets_fail},\"setsSuccess\":0,\"setsFail\":0,\"deleteSuccess\":0,\"deleteFail\":0,\"updateSuccess\":0,\"updateFail\":0,\"createSuccess\":{n},\"createFail\":0,\"compareAndSwapSuccess\":0,\"compareAndSwapFail\":0,\"compareAndDeleteSuccess\":0,\"compareAndDeleteFail\":0,\"expireCount\":0,\"watchers\":0}},\"CurrentVersion\":2}}"
    );
    s
}

/// The `.snap` file restore writes: (file name, bytes).
pub fn snap_file(cluster: &Cluster) -> (String, Vec<u8>) {
    snap_file_for(cluster, OutputVersion::V3_5)
}

/// The `.snap` file the restore of etcdutl `version` writes: (file name, bytes).
pub fn snap_file_for(cluster: &Cluster, version: OutputVersion) -> (String, Vec<u8>) {
    let n = crate::bytes::to_u64(cluster.members.len());
    snap_file_at(cluster, version, n, RESTORE_TERM)
}

/// A `.snap` file as restore writes it (the v2 store holding the membership
/// of `cluster`), but at raft position (`index`, `term`): what a WAL rebuilt
/// from a db at that consistent index starts from.
pub fn snap_file_at(
    cluster: &Cluster,
    version: OutputVersion,
    index: u64,
    term: u64,
) -> (String, Vec<u8>) {
    let store = v2_store_json_for(cluster, version).into_bytes();
    snap_file_with_store(cluster, version, index, term, store)
}

/// A `.snap` file at raft position (`index`, `term`) with `cluster`'s
/// ConfState, holding the v2 store JSON `store` (what [`snap_file_at`]
/// writes, with a store of the caller's).
pub fn snap_file_with_store(
    cluster: &Cluster,
    version: OutputVersion,
    index: u64,
    term: u64,
    store: Vec<u8>,
) -> (String, Vec<u8>) {
    let n = index;
    let name = crate::formats::snap::file_name(term, n);
    if version.sets_only_given_fields() {
        // raftpb.Snapshot{data 1, metadata 2{conf_state 1, index 2, term 3}}.
        let mut meta = Vec::new();
        put_message_field(1, &conf_state_bytes(cluster, version), &mut meta);
        prost::encoding::uint64::encode(2, &n, &mut meta);
        prost::encoding::uint64::encode(3, &term, &mut meta);
        let mut b = Vec::new();
        put_message_field(1, &store, &mut b);
        put_message_field(2, &meta, &mut b);
        return (name, crate::formats::snap::encode_bytes(b));
    }
    let snap = raftpb::Snapshot {
        data: Some(store),
        metadata: raftpb::SnapshotMetadata {
            conf_state: conf_state(cluster),
            index: n,
            term,
        },
    };
    (name, crate::formats::snap::encode(&snap))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::etcd::member::DEFAULT_TOKEN;

    #[test]
    fn default_snap_matches_etcdutl_351() {
        // etcd-formats.md §5.5: the default one-member file is 6490 bytes, crc 0x11e07c36.
        let c =
            Cluster::from_initial_cluster("default=http://localhost:2380", DEFAULT_TOKEN).unwrap();
        let (name, bytes) = snap_file(&c);
        assert_eq!(name, "0000000000000001-0000000000000001.snap");
        assert_eq!(bytes.len(), 6490);
        let s = crate::formats::snap::decode(&bytes).unwrap();
        assert_eq!(s.crc, 0x11e0_7c36);
        let store = crate::etcd::v2store::Store::parse(s.data()).unwrap();
        assert_eq!(store.members().len(), 1);
    }

    type Model = BTreeMap<Vec<u8>, BTreeMap<Vec<u8>, Vec<u8>>>;

    fn write_model(m: &Model) -> Vec<u8> {
        let mut w =
            DbWriter::new(std::io::Cursor::new(Vec::new()), WriterOptions::default()).unwrap();
        for (b, kv) in m {
            w.begin_bucket(b).unwrap();
            for (k, v) in kv {
                w.put(k, v).unwrap();
            }
        }
        w.finish().unwrap().0.into_inner()
    }

    fn read_model(bytes: &[u8]) -> Model {
        let db = Db::open(bytes).unwrap();
        assert!(crate::formats::bbolt::check(&db).findings.is_empty());
        let mut m = Model::new();
        for top in db.root_bucket().cursor(&db) {
            let top = top.unwrap();
            let b = Bucket::from_value(top.key, top.value).unwrap();
            let kv = b
                .cursor(&db)
                .map(|e| {
                    let e = e.unwrap();
                    (e.key.to_vec(), e.value.to_vec())
                })
                .collect();
            m.insert(top.key.to_vec(), kv);
        }
        m
    }

    fn rev(main: i64, sub: i64, tomb: bool) -> Vec<u8> {
        let mut k = Revision { main, sub }.to_key().to_vec();
        if tomb {
            k.push(b't');
        }
        k
    }

    #[test]
    fn rewrite_sets_what_etcdutl_sets_and_keeps_the_rest() {
        let mut src = Model::new();
        let mut key = BTreeMap::new();
        key.insert(rev(2, 0, false), b"a".to_vec());
        key.insert(rev(3, 0, false), b"b".to_vec());
        key.insert(rev(7, 1, true), b"c".to_vec());
        src.insert(b"key".to_vec(), key.clone());
        let mut lease = BTreeMap::new();
        lease.insert(5u64.to_be_bytes().to_vec(), b"lease".to_vec());
        src.insert(b"lease".to_vec(), lease.clone());
        let mut members = BTreeMap::new();
        members.insert(b"1234".to_vec(), b"{}".to_vec());
        src.insert(b"members".to_vec(), members.clone());
        src.insert(b"members_removed".to_vec(), members);
        let mut meta = BTreeMap::new();
        meta.insert(b"confState".to_vec(), b"{\"voters\":[1]}".to_vec());
        meta.insert(b"consistent_index".to_vec(), 99u64.to_be_bytes().to_vec());
        meta.insert(b"term".to_vec(), 4u64.to_be_bytes().to_vec());
        src.insert(b"meta".to_vec(), meta);
        let bytes = write_model(&src);
        let db = Db::open(&bytes).unwrap();
        let c = Cluster::from_initial_cluster("a=http://h1:1,b=http://h2:1", "t").unwrap();

        for bump in [0u64, 10] {
            let (out, r) = rewrite_db(&db, &c, bump, std::io::Cursor::new(Vec::new())).unwrap();
            let got = read_model(&out.into_inner());
            assert_eq!(r.latest_revision, 7);
            assert_eq!(r.consistent_index, 2);
            assert_eq!(got[&b"lease".to_vec()], lease);
            assert!(got[&b"cluster".to_vec()].is_empty());
            assert!(got[&b"members_removed".to_vec()].is_empty());
            let m = &got[&b"members".to_vec()];
            assert_eq!(m.len(), 2);
            for mem in &c.members {
                assert_eq!(m[mem.bucket_key().as_bytes()], mem.to_json().into_bytes());
            }
            let meta = &got[&b"meta".to_vec()];
            assert_eq!(meta[&b"consistent_index".to_vec()], 2u64.to_be_bytes());
            assert_eq!(meta[&b"term".to_vec()], 1u64.to_be_bytes());
            assert_eq!(meta[&b"confState".to_vec()], b"{\"voters\":[1]}");
            let k = &got[&b"key".to_vec()];
            if bump == 0 {
                assert_eq!(k, &key);
                assert_eq!(r.bumped_revision, None);
                assert!(!meta.contains_key(&b"scheduledCompactRev".to_vec()));
            } else {
                assert_eq!(r.bumped_revision, Some(17));
                assert_eq!(k.len(), 4);
                assert_eq!(k[&rev(17, 0, false)], b"");
                assert_eq!(meta[&b"scheduledCompactRev".to_vec()], rev(17, 0, false));
            }
        }
    }

    /// The copy-on-write patch gives the same buckets as the rewrite, passes
    /// the structural check, and leaves every source page as it was; with a
    /// bump it copies the key bucket's whole rightmost path (three levels).
    #[test]
    fn patch_equals_rewrite() {
        let mut src = Model::new();
        let mut key = BTreeMap::new();
        for i in 0..4000i64 {
            key.insert(
                rev(i + 2, 0, i % 9 == 0),
                vec![b'v'; 200 + (i % 50) as usize],
            );
        }
        src.insert(b"key".to_vec(), key);
        let mut lease = BTreeMap::new();
        lease.insert(5u64.to_be_bytes().to_vec(), b"lease".to_vec());
        src.insert(b"lease".to_vec(), lease);
        let mut meta = BTreeMap::new();
        meta.insert(b"consistent_index".to_vec(), 99u64.to_be_bytes().to_vec());
        src.insert(b"meta".to_vec(), meta);
        let mut members = BTreeMap::new();
        members.insert(b"1234".to_vec(), b"{}".to_vec());
        let mut with_members = src.clone();
        with_members.insert(b"members".to_vec(), members);
        let c = Cluster::from_initial_cluster("a=http://h1:1,b=http://h2:1", "t").unwrap();
        for model in [&src, &with_members] {
            let bytes = write_model(model);
            let db = Db::open(&bytes).unwrap();
            for bump in [0u64, 10] {
                let (out, want_r) =
                    rewrite_db(&db, &c, bump, std::io::Cursor::new(Vec::new())).unwrap();
                let want = read_model(&out.into_inner());
                let mut f = tempfile::tempfile().unwrap();
                f.write_all(&bytes).unwrap();
                let r = patch_db(&db, &c, bump, &f).unwrap().expect("patchable");
                let mut got_bytes = Vec::new();
                f.seek(std::io::SeekFrom::Start(0)).unwrap();
                std::io::Read::read_to_end(&mut f, &mut got_bytes).unwrap();
                assert_eq!(read_model(&got_bytes), want, "bump {bump}");
                assert_eq!(
                    (r.latest_revision, r.bumped_revision, r.consistent_index),
                    (
                        want_r.latest_revision,
                        want_r.bumped_revision,
                        want_r.consistent_index
                    )
                );
                // Source pages unchanged; the new meta is in the other slot.
                let ps = usize::try_from(db.page_size()).unwrap();
                let old_end = usize::try_from(db.meta().pgid).unwrap() * ps;
                let slot = usize::try_from((db.meta().txid + 1) % 2).unwrap();
                for (i, (a, b)) in bytes[..old_end]
                    .chunks(ps)
                    .zip(got_bytes[..old_end].chunks(ps))
                    .enumerate()
                {
                    assert!(i == slot || a == b, "page {i} changed");
                }
                if bump > 0 {
                    assert!(r.written.branch_pages >= 2, "{:?}", r.written);
                }
            }
        }
    }

    /// A learner goes to ConfState field 2 (after the voters, field 1) in
    /// both encodings, and into the v2 store with `"isLearner":true`.
    #[test]
    fn learners_stay_learners() {
        let mut c = Cluster::from_initial_cluster("a=http://h1:1,b=http://h2:1", "t").unwrap();
        let learner = c.members[1].id;
        c.members[1].is_learner = true;
        let (v, l) = (c.members[0].id, learner);
        let mut want = Vec::new();
        prost::encoding::uint64::encode(1, &v, &mut want);
        prost::encoding::uint64::encode(2, &l, &mut want);
        assert_eq!(conf_state_bytes(&c, OutputVersion::V3_7), want);
        // gogoproto adds `auto_leave` = false (field 5).
        want.extend_from_slice(&[0x28, 0x00]);
        for version in [OutputVersion::V3_5, OutputVersion::V3_6] {
            assert_eq!(conf_state_bytes(&c, version), want);
        }
        let cs = raftpb::ConfState::decode(want.as_slice()).unwrap();
        assert_eq!((cs.voters, cs.learners), (vec![v], vec![l]));

        for version in [OutputVersion::V3_5, OutputVersion::V3_7] {
            let (_, bytes) = snap_file_at(&c, version, 9, 3);
            let snap = crate::formats::snap::decode(&bytes).unwrap();
            let store = crate::etcd::v2store::Store::parse(snap.data()).unwrap();
            let flags: Vec<(u64, bool)> = store
                .members()
                .iter()
                .map(|m| (m.id, m.is_learner))
                .collect();
            assert_eq!(flags, [(v, false), (l, true)]);
        }
        let url = |i: usize| c.members[i].peer_urls[0].clone();
        assert_eq!(
            raft_attributes(&c.members[1]),
            format!(r#"{{"peerURLs":["{}"],"isLearner":true}}"#, url(1))
        );
        assert_eq!(
            raft_attributes(&c.members[0]),
            format!(r#"{{"peerURLs":["{}"]}}"#, url(0))
        );
    }

    #[test]
    fn wal_starts_with_checked_vector() {
        let c =
            Cluster::from_initial_cluster("default=http://localhost:2380", DEFAULT_TOKEN).unwrap();
        let f = wal_frames(&c, c.members[0].id);
        assert_eq!(
            &f[..12],
            &[0x04, 0, 0, 0, 0, 0, 0, 0x84, 0x08, 0x04, 0x10, 0x00]
        );
    }
}
