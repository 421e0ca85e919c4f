//! The session's bookkeeping: which entities it tracks, in which state, and the identity map.
//!
//! Entries live in a slab (a `Vec` with reusable slots); each entity records its slot, so
//! finding the entry of a handle needs no hashing. The identity map files entities with a
//! server identity under (identity space: the model type, or a namespace of documents; `_id`) so that a document loaded twice is one handle.
//! It is one hash table per space holding a slot and half the id's hash (8 bytes): the id
//! itself is kept once, in the entry. So a loaded document costs one hash of its `_id`; the
//! table grows without hashing or reading an entry again, and a probe reads an entry only when
//! the hashes match.
//! An entity belongs to one session at a time; the owner is recorded in the entity itself,
//! and an entry whose entity was moved to another session is dropped the next time this
//! session looks.

use std::borrow::Cow;
use std::hash::BuildHasher;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bson::Bson;
use hashbrown::HashTable;

use super::space::Space;
use super::tracked::{CellState, ErasedEntity};
use crate::model::IdKey;

static NEXT_SESSION_ID: AtomicU64 = AtomicU64::new(1);

/// How an entity staged with `Session::upsert` is written: the stored paths of the natural key
/// it is matched on, and the fields written only when its document is new (`$setOnInsert`).
#[derive(Clone, Debug)]
pub(crate) struct UpsertOn {
    pub(crate) key: Arc<[Cow<'static, str>]>,
    pub(crate) insert_only: Arc<[Cow<'static, str>]>,
}

/// Where an entity stands in the unit of work.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Status {
    /// Staged for insert. If an earlier insert of it may have landed (see
    /// [`Intent`](super::tracked::Intent)), the next flush first reads the server to find out.
    New,
    /// In sync with the server except for the changes its baseline comparison finds.
    Persistent,
    /// Staged for a full replacement with upsert (`merge`).
    Merged,
    /// Staged for removal.
    Deleted,
    /// Staged to be written on a natural key (`upsert`): inserted, or merged into the
    /// document that has the key. The key is kept beside the entry (see
    /// [`UnitOfWork::upsert_key`]).
    Upsert,
    /// Not staged for anything (its insert was rolled back), but an earlier insert of it may
    /// have landed: the next flush reads the server and keeps the entity as persistent if it
    /// did, or lets it go if it did not. Listed nowhere.
    Uncertain,
}

/// One tracked entity.
pub(crate) struct Entry {
    pub(crate) entity: Arc<dyn ErasedEntity>,
    pub(crate) status: Status,
    /// When the entity was last staged or loaded; flush writes in this order.
    pub(crate) seq: u64,
    /// The entity's key in the identity map, once it has a server identity.
    identity: Option<IdKey>,
}

impl Entry {
    /// The id the entity is filed under in the identity map, if any.
    pub(crate) fn identity(&self) -> Option<&IdKey> {
        self.identity.as_ref()
    }
}

/// A filed entity: its slot, and its id's tag (the upper half of the session's randomly keyed
/// SipHash of the id), computed once when it is filed. Eight bytes, so the table stays small:
/// at a million entities it is far out of the CPU's caches, and every byte there costs.
#[derive(Clone, Copy)]
struct Filing {
    slot: u32,
    tag: u32,
}

impl Filing {
    /// `None` for a slot beyond `u32::MAX`: a session of four billion entities, which no
    /// memory holds. Such an entity would stay unfiled rather than be filed wrongly.
    fn new(slot: usize, tag: u32) -> Option<Filing> {
        Some(Filing { slot: u32::try_from(slot).ok()?, tag })
    }

    fn slot(self) -> usize {
        self.slot as usize
    }

    /// The hash the table places the filing by.
    fn hash(self) -> u64 {
        spread(self.tag)
    }
}

/// A tag as the table's hash: the table takes a bucket from the low bits and a control byte
/// from the top ones, so the tag goes in both halves.
fn spread(tag: u32) -> u64 {
    (u64::from(tag) << 32) | u64::from(tag)
}

/// One model's filed entities. Every slot in it holds an entry filed under an id with the tag
/// stored beside it.
type IdTable = HashTable<Filing>;

/// Whether `entry` holds an entity that session `session_id` still owns.
fn owned(entry: &Entry, session_id: u64) -> bool {
    entry.entity.state().session() == session_id
}

/// The entries, by slot.
struct Slab {
    slots: Vec<Option<Entry>>,
    free: Vec<usize>,
    len: usize,
}

impl Slab {
    /// Puts `entry` in a free slot and makes `session_id` the owner of its entity (moving it
    /// out of any other session). Returns the slot.
    fn insert(&mut self, entry: Entry, session_id: u64) -> usize {
        let slot = match self.free.pop() {
            Some(slot) => slot,
            None => {
                self.slots.push(None);
                self.slots.len() - 1
            }
        };
        entry.entity.state().set_owner(session_id, slot);
        self.slots[slot] = Some(entry);
        self.len += 1;
        slot
    }

    fn take(&mut self, slot: usize) -> Option<Entry> {
        let entry = self.slots.get_mut(slot)?.take()?;
        self.free.push(slot);
        self.len -= 1;
        Some(entry)
    }

    fn get(&self, slot: usize, session_id: u64) -> Option<&Entry> {
        self.slots.get(slot)?.as_ref().filter(|entry| owned(entry, session_id))
    }

    fn identity(&self, slot: usize) -> Option<&IdKey> {
        self.slots.get(slot)?.as_ref()?.identity.as_ref()
    }

    /// `true` when `filing` is of `id`, whose tag is `tag`: the tags are compared first, so
    /// the entry is read only when they match.
    fn is_filed_as(&self, filing: Filing, tag: u32, id: &IdKey) -> bool {
        filing.tag == tag && self.identity(filing.slot()) == Some(id)
    }
}

pub(crate) struct UnitOfWork {
    session_id: u64,
    slab: Slab,
    /// Per space (few per session, so a short list), the slots of its filed entities.
    identity: Vec<(Space, IdTable)>,
    /// Seeded per process (ids can come from users: a fixed hash would let them collide).
    hasher: foldhash::fast::RandomState,
    next_seq: u64,
    /// The tenant the session is bound to: its flushes stamp new entities of tenant-scoped
    /// models with it and filter their writes on it.
    tenant: Option<Bson>,
    /// The natural keys of the entries staged for upsert, by key. Kept until the entry goes
    /// (a transaction that rolls back an upsert's write stages it again, key and all).
    upserts: std::collections::HashMap<usize, UpsertOn>,
    /// The session has tracked documents without a model: typed loads then check that the
    /// document is not tracked as one already (see [`UnitOfWork::other_shape`]).
    has_documents: bool,
}

impl UnitOfWork {
    pub(crate) fn new() -> Self {
        UnitOfWork {
            session_id: NEXT_SESSION_ID.fetch_add(1, Ordering::Relaxed),
            slab: Slab { slots: Vec::new(), free: Vec::new(), len: 0 },
            identity: Vec::new(),
            hasher: foldhash::fast::RandomState::default(),
            next_seq: 0,
            tenant: None,
            upserts: std::collections::HashMap::new(),
            has_documents: false,
        }
    }

    /// The tenant the session is bound to.
    pub(crate) fn tenant(&self) -> Option<&Bson> {
        self.tenant.as_ref()
    }

    pub(crate) fn set_tenant(&mut self, tenant: Option<Bson>) {
        self.tenant = tenant;
    }

    /// The tag of `id` in the identity map.
    fn tag(&self, id: &IdKey) -> u32 {
        (self.hasher.hash_one(id) >> 32) as u32
    }

    pub(crate) fn session_id(&self) -> u64 {
        self.session_id
    }

    fn next_seq(&mut self) -> u64 {
        self.next_seq += 1;
        self.next_seq
    }

    fn ids(&self, space: Space) -> Option<&IdTable> {
        self.identity.iter().find(|(m, _)| *m == space).map(|(_, ids)| ids)
    }

    fn ids_mut(identity: &mut Vec<(Space, IdTable)>, space: Space) -> &mut IdTable {
        let index = match identity.iter().position(|(m, _)| *m == space) {
            Some(index) => index,
            None => {
                identity.push((space, IdTable::new()));
                identity.len() - 1
            }
        };
        &mut identity[index].1
    }

    /// Files the entry in `slot` (whose identity's tag is `tag`) in the table of `space`, in
    /// place of any other entry filed under the same id. Returns the slot it replaced.
    fn file(&mut self, space: Space, slot: usize, tag: u32) -> Option<usize> {
        let filing = Filing::new(slot, tag)?;
        let slab = &self.slab;
        let ids = Self::ids_mut(&mut self.identity, space);
        let id = slab.identity(slot)?;
        let same = |other: &Filing| other.slot() != slot && slab.is_filed_as(*other, tag, id);
        if let Some(filed) = ids.find_mut(spread(tag), same) {
            return Some(std::mem::replace(filed, filing).slot());
        }
        ids.insert_unique(spread(tag), filing, |other| other.hash());
        None
    }

    /// Takes the entry in `slot` out of the table of `space`, if it is there.
    fn unfile(&mut self, space: Space, slot: usize) {
        let Some(tag) = self.slab.identity(slot).map(|id| self.tag(id)) else { return };
        let ids = Self::ids_mut(&mut self.identity, space);
        if let Ok(filed) = ids.find_entry(spread(tag), |filing| filing.slot() == slot) {
            filed.remove();
        }
    }

    /// Starts tracking `entity` with `status`, filed under `identity` when given. Returns its
    /// key.
    pub(crate) fn track(&mut self, entity: Arc<dyn ErasedEntity>, status: Status, identity: Option<IdKey>) -> usize {
        let space = entity.space();
        let seq = self.next_seq();
        let tag = identity.as_ref().map(|id| self.tag(id));
        let slot = self.slab.insert(Entry { entity, status, seq, identity }, self.session_id);
        if let Some(tag) = tag
            && let Some(previous) = self.file(space, slot, tag)
        {
            self.release_if_stale(previous);
        }
        slot
    }

    /// The entity filed under `space` and `id`, or a new persistent one made by `load` and
    /// filed there: one hash of the id per loaded document.
    pub(crate) fn find_or_load<E>(
        &mut self,
        space: Space,
        id: IdKey,
        load: impl FnOnce() -> Result<Arc<dyn ErasedEntity>, E>,
    ) -> Result<Arc<dyn ErasedEntity>, E> {
        let session_id = self.session_id;
        let tag = self.tag(&id);
        let slab = &self.slab;
        let ids = Self::ids_mut(&mut self.identity, space);
        if let Ok(found) = ids.find_entry(spread(tag), |filing| slab.is_filed_as(*filing, tag, &id)) {
            if let Some(entry) = slab.get(found.get().slot(), session_id) {
                return Ok(entry.entity.clone());
            }
            // The filed entity moved to another session: forget it and load afresh.
            let (stale, _) = found.remove();
            self.release_if_stale(stale.slot());
        }
        let entity = load()?;
        let seq = self.next_seq();
        let entry = Entry { entity: entity.clone(), status: Status::Persistent, seq, identity: Some(id) };
        let slot = self.slab.insert(entry, session_id);
        // Not in the table (just looked): filed without looking again.
        if let Some(filing) = Filing::new(slot, tag) {
            let ids = Self::ids_mut(&mut self.identity, space);
            ids.insert_unique(spread(tag), filing, |other| other.hash());
        }
        Ok(entity)
    }

    /// The key of the entry of an entity this session owns.
    pub(crate) fn key_of(&self, state: &CellState) -> Option<usize> {
        let (session, slot) = state.owner();
        if session != self.session_id {
            return None;
        }
        let entry = self.slab.slots.get(slot)?.as_ref()?;
        std::ptr::eq(entry.entity.state(), state).then_some(slot)
    }

    /// The entry of an entity this session owns.
    pub(crate) fn get(&self, key: usize) -> Option<&Entry> {
        self.slab.get(key, self.session_id)
    }

    pub(crate) fn get_mut(&mut self, key: usize) -> Option<&mut Entry> {
        let session_id = self.session_id;
        self.slab.slots.get_mut(key)?.as_mut().filter(|entry| owned(entry, session_id))
    }

    /// Sets the status of an entry and moves it to the end of the staging order.
    pub(crate) fn restage(&mut self, key: usize, status: Status) {
        let seq = self.next_seq();
        if let Some(entry) = self.get_mut(key) {
            entry.status = status;
            entry.seq = seq;
        }
    }

    /// Stages the entry `key` for upsert on the natural key `on`.
    pub(crate) fn stage_upsert(&mut self, key: usize, on: UpsertOn) {
        self.restage(key, Status::Upsert);
        self.upserts.insert(key, on);
    }

    /// The natural key the entry `key` is staged for upsert on.
    pub(crate) fn upsert_key(&self, key: usize) -> Option<&UpsertOn> {
        self.upserts.get(&key)
    }

    /// Tracks again an entity this session had let go of (a delete that a transaction took
    /// back), filed under its server id.
    pub(crate) fn reattach(&mut self, entity: Arc<dyn ErasedEntity>, status: Status) {
        let identity = entity.state().server_id().map(|id| IdKey::from_bson(&id));
        self.track(entity, status, identity);
    }

    /// Sets the status of an entry, keeping its place in the staging order.
    pub(crate) fn set_status(&mut self, key: usize, status: Status) {
        if let Some(entry) = self.get_mut(key) {
            entry.status = status;
        }
    }

    /// Notes that the session tracks documents without a model (see `crate::document`).
    pub(crate) fn note_documents(&mut self) {
        self.has_documents = true;
    }

    /// `true` once the session has tracked documents without a model.
    pub(crate) fn has_documents(&self) -> bool {
        self.has_documents
    }

    /// The name of what the session tracks the document `id` as in a space other than `space`
    /// whose documents `in_namespace` says live in the same collection: one stored document is
    /// one writable entity, so a typed entity and a document without a model never both hold
    /// it. A variant's view is read-only and shares its enum's documents by design: skipped.
    pub(crate) fn other_shape(
        &self,
        space: Space,
        id: &IdKey,
        in_namespace: impl Fn(&'static crate::model::ModelMeta) -> bool,
    ) -> Option<&'static str> {
        let tag = self.tag(id);
        self.identity.iter().filter(|(other, _)| *other != space).find_map(|(_, ids)| {
            let sample = ids.iter().find_map(|filing| self.get(filing.slot()))?;
            let meta = sample.entity.meta();
            if meta.discriminator.is_some_and(|tag| tag.tag.is_some()) || !in_namespace(meta) {
                return None;
            }
            let slot = ids.find(spread(tag), |filing| self.slab.is_filed_as(*filing, tag, id))?.slot();
            self.get(slot).map(|_| meta.name)
        })
    }

    /// Fails with [`Error::TrackedInAnotherShape`] when the document `id` of `namespace` is
    /// tracked in a space other than `space` (see [`UnitOfWork::other_shape`]).
    pub(crate) fn refuse_other_shape(
        &self,
        space: Space,
        id: &IdKey,
        namespace: &str,
        in_namespace: impl Fn(&'static crate::model::ModelMeta) -> bool,
    ) -> crate::Result<()> {
        match self.other_shape(space, id, in_namespace) {
            None => Ok(()),
            Some(tracked_as) => Err(crate::Error::TrackedInAnotherShape {
                namespace: namespace.to_owned(),
                id: Box::new(id.to_bson()),
                tracked_as,
            }),
        }
    }

    /// The entry filed under `space` and `id`, if this session tracks one.
    pub(crate) fn lookup(&self, space: Space, id: &IdKey) -> Option<(usize, &Entry)> {
        let tag = self.tag(id);
        let slot = self.ids(space)?.find(spread(tag), |filing| self.slab.is_filed_as(*filing, tag, id))?.slot();
        self.get(slot).map(|entry| (slot, entry))
    }

    /// Makes room for `additional` more entries, before tracking many at once.
    pub(crate) fn reserve(&mut self, additional: usize) {
        let missing = additional.saturating_sub(self.slab.free.len());
        self.slab.slots.reserve(missing);
    }

    /// Makes room in the identity map of `space` for `additional` more ids, before filing
    /// many at once.
    pub(crate) fn reserve_identities(&mut self, space: Space, additional: usize) {
        if additional > 0 {
            Self::ids_mut(&mut self.identity, space).reserve(additional, |filing| filing.hash());
        }
    }

    /// Files the entry under `id` in the identity map (in place of what it was filed under).
    pub(crate) fn file_identity(&mut self, key: usize, id: IdKey) {
        let Some(space) = self.get(key).map(|entry| entry.entity.space()) else { return };
        self.unfile(space, key);
        let tag = self.tag(&id);
        if let Some(entry) = self.get_mut(key) {
            entry.identity = Some(id);
            self.file(space, key, tag);
        }
    }

    /// Empties a slot whose entity another session has taken over.
    fn release_if_stale(&mut self, slot: usize) {
        let stale = match self.slab.slots.get(slot) {
            Some(Some(entry)) if !owned(entry, self.session_id) => Some(entry.entity.space()),
            _ => None,
        };
        if let Some(space) = stale {
            self.unfile(space, slot);
            self.slab.take(slot);
            self.upserts.remove(&slot);
        }
    }

    /// Stops tracking the entity in slot `key` and releases it, if this session owns it.
    pub(crate) fn remove(&mut self, key: usize) -> Option<Entry> {
        if !self.upserts.is_empty() {
            self.upserts.remove(&key);
        }
        let space = self.slab.slots.get(key)?.as_ref()?.entity.space();
        self.unfile(space, key);
        let entry = self.slab.take(key)?;
        if owned(&entry, self.session_id) {
            entry.entity.state().set_owner(0, 0);
            Some(entry)
        } else {
            None
        }
    }

    /// Drops the entries of entities that another session has taken over.
    pub(crate) fn prune(&mut self) {
        let stale: Vec<usize> = self
            .slab
            .slots
            .iter()
            .enumerate()
            .filter(|(_, slot)| matches!(slot, Some(entry) if !owned(entry, self.session_id)))
            .map(|(key, _)| key)
            .collect();
        for key in stale {
            self.remove(key);
        }
    }

    /// The entries this session owns, with their keys, in no particular order.
    pub(crate) fn entries(&self) -> impl Iterator<Item = (usize, &Entry)> {
        let session_id = self.session_id;
        self.slab
            .slots
            .iter()
            .enumerate()
            .filter_map(move |(key, slot)| slot.as_ref().filter(|entry| owned(entry, session_id)).map(|e| (key, e)))
    }

    /// The entries this session owns, with their keys, in staging order.
    pub(crate) fn entries_in_order(&self) -> Vec<(usize, &Entry)> {
        let mut entries: Vec<(usize, &Entry)> = self.entries().collect();
        entries.sort_by_key(|(_, entry)| entry.seq);
        entries
    }

    /// Releases every entity.
    pub(crate) fn clear(&mut self) {
        for entry in self.slab.slots.drain(..).flatten() {
            if owned(&entry, self.session_id) {
                entry.entity.state().set_owner(0, 0);
            }
        }
        self.slab.free.clear();
        self.slab.len = 0;
        self.identity.clear();
        self.upserts.clear();
    }

    pub(crate) fn len(&self) -> usize {
        self.slab.len
    }
}

impl Drop for UnitOfWork {
    fn drop(&mut self) {
        self.clear();
    }
}
