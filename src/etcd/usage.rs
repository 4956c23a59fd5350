//! Where the bytes of the `key` bucket go, per user key and per key prefix,
//! in memory that does not hold the keys.
//!
//! ```text
//! pass 1 (every record, revision order):
//!   per distinct key:    64-bit SipHash -> {bytes, revisions, live bytes}   20 bytes, no key bytes
//!   per real prefix:     prefix bytes   -> Usage                             (few: `/registry/pods/`)
//!   totals
//! then: the N-th largest value of each top list (a threshold)
//! pass 2 (every record again): the names (and largest value) of the keys
//!   above a threshold, and of the keys at it with the smallest names
//! ```
//!
//! A key with no `/` after its first byte is its own prefix (`prefix_of`):
//! such keys are ranked among the prefixes from the per-key table, so a flat
//! keyspace does not make a second table as large as the first. Ties are
//! broken by name as a sort of everything would break them, keeping only the
//! tied names that can still make the list.
//!
//! Two distinct keys with the same 64-bit hash would be counted as one: for
//! a million keys the odds are about 1 in 30 million.

use std::cmp::Reverse;
use std::collections::{BTreeSet, BinaryHeap, HashMap, HashSet};
use std::hash::{Hash, Hasher};

use serde::Serialize;

use super::keyhash::{hash64, BuildPreHashed};
use super::keyspace::Record;

/// Figures for one key or one prefix.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Usage {
    /// The key or prefix.
    #[serde(skip)]
    pub name: Vec<u8>,
    /// Distinct keys (1 for a key).
    pub keys: u64,
    /// Of which alive at the current revision.
    pub live_keys: u64,
    /// Stored records (puts and deletes).
    pub revisions: u64,
    /// Bytes of all stored records.
    pub bytes: u64,
    /// Bytes of the newest record of each live key (what compaction keeps).
    pub live_bytes: u64,
    /// Largest single value seen.
    pub max_value: u64,
}

/// The first `depth` path segments of `key`, with their trailing `/`
/// (`/registry/pods/default/x` at depth 2 is `/registry/pods/`). A key with
/// fewer segments keeps everything up to its last `/`, or is its own prefix.
pub fn prefix_of(key: &[u8], depth: usize) -> &[u8] {
    let start = usize::from(key.first() == Some(&b'/'));
    let mut seen = 0usize;
    let mut last = None;
    for (i, b) in key.iter().enumerate().skip(start) {
        if *b == b'/' {
            seen += 1;
            last = Some(i);
            if seen >= depth {
                break;
            }
        }
    }
    match last {
        Some(i) => key.get(..=i).unwrap_or(key),
        None => key,
    }
}

/// A key's 64-bit SipHash, as two words so a table entry packs to 20 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct KeyId([u32; 2]);

impl KeyId {
    fn of(key: &[u8]) -> KeyId {
        let [a, b, c, d, e, f, g, i] = hash64(key).to_be_bytes();
        KeyId([
            u32::from_be_bytes([a, b, c, d]),
            u32::from_be_bytes([e, f, g, i]),
        ])
    }

    fn as_u64(self) -> u64 {
        (u64::from(self.0[0]) << 32) | u64::from(self.0[1])
    }
}

impl Hash for KeyId {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.as_u64());
    }
}

type IdMap<V> = HashMap<KeyId, V, BuildPreHashed>;
type IdSet = HashSet<KeyId, BuildPreHashed>;

/// Set in `KeySlot::revisions` for a key that is its own prefix.
const OWN_PREFIX: u32 = 1 << 31;

/// What pass 1 keeps of one key.
#[derive(Debug, Clone, Copy, Default)]
struct KeySlot {
    /// Bytes of all its records; `u32::MAX`: see the overflow table.
    bytes: u32,
    /// Its records, and [`OWN_PREFIX`].
    revisions: u32,
    /// Stored bytes of its newest record when that is a put, else 0 (a put
    /// takes at least its 17-byte revision key, so 0 means deleted).
    live_bytes: u32,
}

impl KeySlot {
    fn revisions(self) -> u64 {
        u64::from(self.revisions & !OWN_PREFIX)
    }
    fn own_prefix(self) -> bool {
        self.revisions & OWN_PREFIX != 0
    }
}

fn clamp32(v: u64) -> u32 {
    u32::try_from(v).unwrap_or(u32::MAX)
}

/// The per-record change a record makes to a key, applied to the totals and
/// to its prefix.
struct Change {
    new_key: bool,
    live_before: u64,
    live_after: u64,
    stored: u64,
    value: u64,
}

impl Usage {
    fn apply(&mut self, c: &Change) {
        self.keys += u64::from(c.new_key);
        self.revisions += 1;
        self.bytes = self.bytes.saturating_add(c.stored);
        self.max_value = self.max_value.max(c.value);
        self.live_keys =
            self.live_keys + u64::from(c.live_after > 0) - u64::from(c.live_before > 0);
        self.live_bytes = self.live_bytes + c.live_after - c.live_before;
    }
}

/// Pass 1: the accounting of every record.
#[derive(Default)]
pub struct Accounts {
    depth: usize,
    keys: IdMap<KeySlot>,
    /// Total bytes of the keys whose `KeySlot::bytes` overflowed.
    big: IdMap<u64>,
    prefixes: HashMap<Vec<u8>, Usage>,
    own_prefixes: u64,
    /// Totals over every key.
    pub total: Usage,
    /// Delete records.
    pub tombstones: u64,
}

impl Accounts {
    /// Accounts grouping prefixes `depth` segments deep.
    pub fn new(depth: usize) -> Accounts {
        Accounts {
            depth,
            ..Accounts::default()
        }
    }

    /// Counts one record (records must come in revision order).
    pub fn add(&mut self, r: &Record<'_>) {
        let key = r.kv.key;
        let id = KeyId::of(key);
        let prefix = prefix_of(key, self.depth);
        // A key ending in `/` can equal a real prefix: keep it with them.
        let own = prefix.len() == key.len() && !key.ends_with(b"/");
        let mut new_key = false;
        let slot = self.keys.entry(id).or_insert_with(|| {
            new_key = true;
            KeySlot {
                revisions: if own { OWN_PREFIX } else { 0 },
                ..KeySlot::default()
            }
        });
        let live_before = u64::from(slot.live_bytes);
        let live_after = if r.tombstone {
            0
        } else {
            u64::from(clamp32(r.stored_bytes))
        };
        slot.live_bytes = clamp32(live_after);
        if slot.revisions & !OWN_PREFIX < !OWN_PREFIX {
            slot.revisions += 1;
        }
        let bytes = u64::from(slot.bytes);
        if slot.bytes == u32::MAX {
            *self.big.entry(id).or_default() += r.stored_bytes;
        } else if bytes + r.stored_bytes >= u64::from(u32::MAX) {
            slot.bytes = u32::MAX;
            self.big.insert(id, bytes + r.stored_bytes);
        } else {
            slot.bytes = clamp32(bytes + r.stored_bytes);
        }
        let own_slot = slot.own_prefix();
        let c = Change {
            new_key,
            live_before,
            live_after,
            stored: r.stored_bytes,
            value: crate::bytes::to_u64(r.kv.value.len()),
        };
        self.total.apply(&c);
        if r.tombstone {
            self.tombstones += 1;
        }
        if own_slot {
            self.own_prefixes += u64::from(new_key);
        } else {
            match self.prefixes.get_mut(prefix) {
                Some(u) => u.apply(&c),
                None => self.prefixes.entry(prefix.to_vec()).or_default().apply(&c),
            }
        }
    }

    /// Distinct prefixes.
    pub fn prefix_count(&self) -> u64 {
        crate::bytes::to_u64(self.prefixes.len()) + self.own_prefixes
    }

    fn bytes_of(&self, id: KeyId, s: KeySlot) -> u64 {
        if s.bytes == u32::MAX {
            self.big.get(&id).copied().unwrap_or(u64::from(u32::MAX))
        } else {
            u64::from(s.bytes)
        }
    }

    /// What pass 2 must find: for each top list of `top` entries, the
    /// threshold value and how many tied names it still takes.
    pub fn plan(&self, top: usize) -> Plan {
        let by_bytes = Cut::of(self.keys.iter().map(|(id, s)| self.bytes_of(*id, *s)), top);
        let by_revisions = Cut::of(self.keys.values().map(|s| s.revisions()), top);
        let own = self
            .keys
            .iter()
            .filter(|(_, s)| s.own_prefix())
            .map(|(id, s)| self.bytes_of(*id, *s));
        let by_prefix = Cut::of(own.chain(self.prefixes.values().map(|u| u.bytes)), top);
        // Real prefixes tied at the cut compete by name with own-prefix keys.
        let mut prefix_ties = TieNames::new(
            by_prefix.ties_wanted(
                self.prefixes.values().map(|u| u.bytes).chain(
                    self.keys
                        .iter()
                        .filter(|(_, s)| s.own_prefix())
                        .map(|(id, s)| self.bytes_of(*id, *s)),
                ),
            ),
        );
        for (name, u) in &self.prefixes {
            if by_prefix.ties(u.bytes) {
                prefix_ties.offer(None, name);
            }
        }
        let ties_bytes =
            by_bytes.ties_wanted(self.keys.iter().map(|(id, s)| self.bytes_of(*id, *s)));
        let ties_revs = by_revisions.ties_wanted(self.keys.values().map(|s| s.revisions()));
        Plan {
            by_bytes,
            by_revisions,
            by_prefix,
            bytes_ties: TieNames::new(ties_bytes),
            revision_ties: TieNames::new(ties_revs),
            prefix_ties,
            found: IdMap::default(),
        }
    }

    /// Pass 2: one record.
    pub fn find(&self, plan: &mut Plan, r: &Record<'_>) {
        let key = r.kv.key;
        let id = KeyId::of(key);
        let Some(&s) = self.keys.get(&id) else {
            return;
        };
        let value = crate::bytes::to_u64(r.kv.value.len());
        if let Some((_, max)) = plan.found.get_mut(&id) {
            *max = (*max).max(value);
            return;
        }
        let bytes = self.bytes_of(id, s);
        let mut wanted = plan.by_bytes.above(bytes) || plan.by_revisions.above(s.revisions());
        if plan.by_bytes.ties(bytes) {
            wanted |= plan.bytes_ties.offer(Some(id), key);
        }
        if plan.by_revisions.ties(s.revisions()) {
            wanted |= plan.revision_ties.offer(Some(id), key);
        }
        if s.own_prefix() {
            wanted |= plan.by_prefix.above(bytes);
            if plan.by_prefix.ties(bytes) {
                wanted |= plan.prefix_ties.offer(Some(id), key);
            }
        }
        if wanted {
            plan.found.insert(id, (key.to_vec(), value));
        }
    }

    /// The top lists, each sorted by its figure (largest first), then name.
    pub fn finish(&self, plan: Plan, top: usize) -> TopLists {
        let key_usage = |id: &KeyId, name: &[u8], max: u64| -> Option<Usage> {
            let s = self.keys.get(id)?;
            Some(Usage {
                name: name.to_vec(),
                keys: 1,
                live_keys: u64::from(s.live_bytes > 0),
                revisions: s.revisions(),
                bytes: self.bytes_of(*id, *s),
                live_bytes: u64::from(s.live_bytes),
                max_value: max,
            })
        };
        let pick = |cut: &Cut, ties: &TieNames, figure: &dyn Fn(&Usage) -> u64, own_only: bool| {
            let mut v: Vec<Usage> = plan
                .found
                .iter()
                .filter_map(|(id, (name, max))| key_usage(id, name, *max))
                .filter(|u| {
                    !own_only
                        || self
                            .keys
                            .get(&KeyId::of(&u.name))
                            .is_some_and(|s| s.own_prefix())
                })
                .filter(|u| {
                    let f = figure(u);
                    cut.above(f) || (cut.ties(f) && ties.holds(&u.name))
                })
                .collect();
            v.sort_unstable_by(|a, b| figure(b).cmp(&figure(a)).then_with(|| a.name.cmp(&b.name)));
            v
        };
        let mut largest = pick(&plan.by_bytes, &plan.bytes_ties, &|u| u.bytes, false);
        largest.truncate(top);
        let mut most_revisions = pick(
            &plan.by_revisions,
            &plan.revision_ties,
            &|u| u.revisions,
            false,
        );
        most_revisions.truncate(top);
        let mut prefixes = pick(&plan.by_prefix, &plan.prefix_ties, &|u| u.bytes, true);
        for (name, u) in &self.prefixes {
            if plan.by_prefix.above(u.bytes)
                || (plan.by_prefix.ties(u.bytes) && plan.prefix_ties.holds(name))
            {
                let mut u = u.clone();
                u.name.clone_from(name);
                prefixes.push(u);
            }
        }
        prefixes.sort_unstable_by(|a, b| b.bytes.cmp(&a.bytes).then_with(|| a.name.cmp(&b.name)));
        prefixes.truncate(top);
        TopLists {
            largest,
            most_revisions,
            prefixes,
        }
    }
}

/// The three top lists.
#[derive(Debug, Clone, Default)]
pub struct TopLists {
    /// Keys with the most bytes over all revisions.
    pub largest: Vec<Usage>,
    /// Keys with the most revisions.
    pub most_revisions: Vec<Usage>,
    /// Prefixes with the most bytes.
    pub prefixes: Vec<Usage>,
}

/// Where a top list of N is cut: everything above the N-th largest value
/// is in, the rest of the N comes from the names tied at it.
#[derive(Debug, Clone, Copy)]
struct Cut {
    /// `None`: fewer than N candidates, all are in.
    at: Option<u64>,
    top: usize,
}

impl Cut {
    fn of(values: impl Iterator<Item = u64>, top: usize) -> Cut {
        if top == 0 {
            return Cut {
                at: Some(u64::MAX),
                top,
            };
        }
        let mut heap: BinaryHeap<Reverse<u64>> = BinaryHeap::with_capacity(top + 1);
        for v in values {
            if heap.len() < top {
                heap.push(Reverse(v));
            } else if heap.peek().is_some_and(|m| v > m.0) {
                heap.pop();
                heap.push(Reverse(v));
            }
        }
        Cut {
            at: (heap.len() >= top).then(|| heap.peek().map_or(0, |m| m.0)),
            top,
        }
    }
    fn above(self, v: u64) -> bool {
        self.at.is_none_or(|t| v > t)
    }
    fn ties(self, v: u64) -> bool {
        self.at == Some(v) && self.top > 0
    }
    /// How many of the tied candidates the list still takes.
    fn ties_wanted(self, values: impl Iterator<Item = u64>) -> usize {
        let Some(t) = self.at else { return 0 };
        let above = values.filter(|v| *v > t).count();
        self.top.saturating_sub(above)
    }
}

/// The `wanted` smallest names among those offered (each name once).
#[derive(Debug, Default)]
struct TieNames {
    wanted: usize,
    heap: BinaryHeap<Vec<u8>>,
    names: BTreeSet<Vec<u8>>,
    ids: IdSet,
}

impl TieNames {
    fn new(wanted: usize) -> TieNames {
        TieNames {
            wanted,
            ..TieNames::default()
        }
    }
    /// Offers a name; whether it is (still) among the smallest.
    fn offer(&mut self, id: Option<KeyId>, name: &[u8]) -> bool {
        if self.wanted == 0 {
            return false;
        }
        if let Some(id) = id {
            if self.ids.contains(&id) {
                return true;
            }
        }
        if self.names.contains(name) {
            return true;
        }
        if self.heap.len() >= self.wanted {
            match self.heap.peek() {
                Some(max) if name < max.as_slice() => {
                    if let Some(out) = self.heap.pop() {
                        self.names.remove(&out);
                        self.ids.remove(&KeyId::of(&out));
                    }
                }
                _ => return false,
            }
        }
        self.heap.push(name.to_vec());
        self.names.insert(name.to_vec());
        if let Some(id) = id {
            self.ids.insert(id);
        }
        true
    }
    fn holds(&self, name: &[u8]) -> bool {
        self.names.contains(name)
    }
}

/// What pass 2 looks for (see [`Accounts::plan`]).
pub struct Plan {
    by_bytes: Cut,
    by_revisions: Cut,
    by_prefix: Cut,
    bytes_ties: TieNames,
    revision_ties: TieNames,
    prefix_ties: TieNames,
    /// Names and largest values of the keys found so far.
    found: IdMap<(Vec<u8>, u64)>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes() {
        assert_eq!(
            prefix_of(b"/registry/pods/default/x", 2),
            b"/registry/pods/"
        );
        assert_eq!(prefix_of(b"/registry/pods/default/x", 1), b"/registry/");
        assert_eq!(prefix_of(b"/registry/ranges", 2), b"/registry/");
        assert_eq!(prefix_of(b"a/b/c", 1), b"a/");
        assert_eq!(prefix_of(b"foo", 2), b"foo");
        assert_eq!(prefix_of(b"", 2), b"");
        assert_eq!(prefix_of(b"/", 2), b"/");
    }

    #[test]
    fn cuts_and_ties() {
        let c = Cut::of([5u64, 1, 3, 3, 3, 2].into_iter(), 3);
        assert_eq!(c.at, Some(3));
        assert!(c.above(5) && !c.above(3) && c.ties(3));
        assert_eq!(c.ties_wanted([5u64, 1, 3, 3, 3, 2].into_iter()), 2);
        let all = Cut::of([1u64, 2].into_iter(), 3);
        assert!(all.above(0));
        let mut t = TieNames::new(2);
        assert!(t.offer(None, b"c"));
        assert!(t.offer(None, b"b"));
        assert!(t.offer(None, b"a"));
        assert!(!t.offer(None, b"d"));
        assert!(t.holds(b"a") && t.holds(b"b") && !t.holds(b"c"));
    }
}
