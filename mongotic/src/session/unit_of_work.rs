//! The session's bookkeeping: which entities it tracks, in which state, and the identity map.
//!
//! Entities are keyed by the address of their cell. The identity map files persistent
//! entities under (model type, `_id`) so that a document loaded twice is one handle. An entity
//! belongs to one session at a time; the owner is recorded in the entity itself, and an entry
//! whose entity was moved to another session is dropped the next time this session looks.

use std::any::TypeId;
use std::collections::HashMap;
use std::collections::hash_map::Entry as MapEntry;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use super::tracked::{ErasedEntity, entity_key};
use crate::model::IdKey;

static NEXT_SESSION_ID: AtomicU64 = AtomicU64::new(1);

/// Where an entity stands in the unit of work.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Status {
    /// Staged for insert. `uncertain` is set when an earlier attempt failed in a way that may
    /// have reached the server (a dropped connection); with a generated id the next flush then
    /// upserts instead of inserting, so the document is never written twice.
    New { uncertain: bool, generated_id: bool },
    /// In sync with the server except for the changes its snapshot comparison finds.
    Persistent,
    /// Staged for a full replacement with upsert (`merge`).
    Merged,
    /// Staged for removal.
    Deleted,
}

/// One tracked entity.
pub(crate) struct Entry {
    pub(crate) entity: Arc<dyn ErasedEntity>,
    pub(crate) status: Status,
    /// When the entity was last staged or loaded; flush writes in this order.
    pub(crate) seq: u64,
    /// The entity's key in the identity map, once it has a server identity.
    pub(crate) identity: Option<IdKey>,
}

/// The identity-map key: model type and id.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct IdentityKey {
    pub(crate) model: TypeId,
    pub(crate) id: IdKey,
}

pub(crate) struct UnitOfWork {
    session_id: u64,
    entries: HashMap<usize, Entry>,
    identity: HashMap<IdentityKey, usize>,
    next_seq: u64,
}

impl UnitOfWork {
    pub(crate) fn new() -> Self {
        UnitOfWork {
            session_id: NEXT_SESSION_ID.fetch_add(1, Ordering::Relaxed),
            entries: HashMap::new(),
            identity: HashMap::new(),
            next_seq: 0,
        }
    }

    pub(crate) fn session_id(&self) -> u64 {
        self.session_id
    }

    fn next_seq(&mut self) -> u64 {
        self.next_seq += 1;
        self.next_seq
    }

    fn owns(&self, entity: &Arc<dyn ErasedEntity>) -> bool {
        entity.state().session() == self.session_id
    }

    /// Starts tracking `entity` with `status` and takes ownership of it (moving it out of any
    /// other session). Returns its key.
    pub(crate) fn track(&mut self, entity: Arc<dyn ErasedEntity>, status: Status, identity: Option<IdKey>) -> usize {
        entity.state().set_session(self.session_id);
        let key = entity_key(&entity);
        let seq = self.next_seq();
        if let Some(id) = &identity {
            self.identity.insert(IdentityKey { model: entity.model_type(), id: id.clone() }, key);
        }
        self.entries.insert(key, Entry { entity, status, seq, identity });
        key
    }

    /// The entry of an entity this session owns.
    pub(crate) fn get(&self, key: usize) -> Option<&Entry> {
        self.entries.get(&key).filter(|entry| self.owns(&entry.entity))
    }

    pub(crate) fn get_mut(&mut self, key: usize) -> Option<&mut Entry> {
        let session_id = self.session_id;
        self.entries.get_mut(&key).filter(|entry| entry.entity.state().session() == session_id)
    }

    /// Sets the status of an entry and moves it to the end of the staging order.
    pub(crate) fn restage(&mut self, key: usize, status: Status) {
        let seq = self.next_seq();
        if let Some(entry) = self.get_mut(key) {
            entry.status = status;
            entry.seq = seq;
        }
    }

    /// The entity filed under `model` and `id`, if this session tracks one.
    pub(crate) fn lookup(&self, model: TypeId, id: &IdKey) -> Option<&Entry> {
        let key = self.identity.get(&IdentityKey { model, id: id.clone() })?;
        self.get(*key)
    }

    /// Files the entry under `id` in the identity map.
    pub(crate) fn file_identity(&mut self, key: usize, id: IdKey) {
        let Some(entry) = self.entries.get_mut(&key) else { return };
        let model = entry.entity.model_type();
        let identity = IdentityKey { model, id: id.clone() };
        if let Some(old) = entry.identity.replace(id) {
            self.identity.remove(&IdentityKey { model, id: old });
        }
        self.identity.insert(identity, key);
    }

    /// Stops tracking the entity and releases it, if this session owns it.
    pub(crate) fn remove(&mut self, key: usize) -> Option<Entry> {
        let entry = self.entries.remove(&key)?;
        if let Some(id) = &entry.identity {
            let identity = IdentityKey { model: entry.entity.model_type(), id: id.clone() };
            if let MapEntry::Occupied(filed) = self.identity.entry(identity)
                && *filed.get() == key
            {
                filed.remove();
            }
        }
        if self.owns(&entry.entity) {
            entry.entity.state().set_session(0);
            Some(entry)
        } else {
            None
        }
    }

    /// Drops the entries of entities that another session has taken over.
    pub(crate) fn prune(&mut self) {
        let stale: Vec<usize> =
            self.entries.iter().filter(|(_, entry)| !self.owns(&entry.entity)).map(|(key, _)| *key).collect();
        for key in stale {
            self.remove(key);
        }
    }

    /// The entries this session owns, in staging order.
    pub(crate) fn entries_in_order(&self) -> Vec<(usize, &Entry)> {
        let mut entries: Vec<(usize, &Entry)> = self
            .entries
            .iter()
            .filter(|(_, entry)| self.owns(&entry.entity))
            .map(|(key, entry)| (*key, entry))
            .collect();
        entries.sort_by_key(|(_, entry)| entry.seq);
        entries
    }

    /// Releases every entity.
    pub(crate) fn clear(&mut self) {
        for (_, entry) in self.entries.drain() {
            if entry.entity.state().session() == self.session_id {
                entry.entity.state().set_session(0);
            }
        }
        self.identity.clear();
    }

    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }
}

impl Drop for UnitOfWork {
    fn drop(&mut self) {
        self.clear();
    }
}
