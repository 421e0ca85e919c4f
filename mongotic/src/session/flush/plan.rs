//! Planning a flush: reading every staged entity once and turning it into a list of writes.
//!
//! New entities get their id (filed in the identity map at once, so a query that meets the
//! document returns this entity) and are serialized; changed entities are compared with their
//! baselines (see `diff`). Writes are ordered by kind (deletes, then updates and replacements,
//! then inserts: a unique value freed by a delete or an update can be reused by an insert of
//! the same flush), then by collection, then by staging order.

use std::any::TypeId;

use bson::{Bson, RawDocumentBuf};
use mongodb::Namespace;

use super::super::Session;
use super::super::diff::{Change, diff};
use super::super::tracked::{Baseline, CellError, ErasedEntity, Intent, ServerId};
use super::super::unit_of_work::Status;
use crate::Result;
use crate::error::{Error, WriteKind};
use crate::model::{IdKey, ModelMeta};

/// One write of a flush.
pub(crate) struct Write {
    /// The entry this write is for.
    pub(crate) key: usize,
    pub(crate) kind: WriteKind,
    /// Index into `Plan::namespaces`.
    pub(crate) namespace: usize,
    /// The `_id` the write targets.
    pub(crate) id: Bson,
    pub(crate) body: Body,
    /// The entity's change counter when it was serialized.
    pub(crate) seen: u64,
    /// A replacement that creates the document when it is missing (`merge`).
    pub(crate) upsert: bool,
    /// The write must match a document: matching none means someone else deleted it.
    pub(crate) expect_match: bool,
    /// The id was generated for this insert (so a stored document with it can only be ours).
    pub(crate) generated_id: bool,
}

pub(crate) enum Body {
    /// The whole document (insert, replace); it becomes the baseline.
    Document(RawDocumentBuf),
    /// A field update (`$set`/`$unset`); `snapshot` is the whole current document.
    Update {
        update: RawDocumentBuf,
        snapshot: RawDocumentBuf,
    },
    Delete,
}

impl Write {
    /// A rough size of the statement, for splitting commands.
    pub(crate) fn estimated_size(&self) -> usize {
        64 + match &self.body {
            Body::Document(doc) | Body::Update { snapshot: doc, .. } => doc.as_bytes().len(),
            Body::Delete => 16,
        }
    }

    /// `true` for the writes that record an intent (inserts and deletes), without building it.
    pub(crate) fn has_intent(&self) -> bool {
        matches!((&self.body, self.kind), (Body::Document(_), WriteKind::Insert) | (Body::Delete, _))
    }

    /// The intent recorded on the entity before this write is sent.
    pub(crate) fn intent(&self) -> Intent {
        match (&self.body, self.kind) {
            (Body::Document(doc), WriteKind::Insert) => Intent::Insert {
                id: self.id.clone(),
                // A generated id proves the document is ours by itself; only a client-chosen
                // id needs the content to compare.
                sent: (!self.generated_id).then(|| doc.clone()),
                seen: self.seen,
            },
            (Body::Delete, _) => Intent::Delete,
            // Field updates and replacements are idempotent: sent again, they do no harm.
            _ => Intent::None,
        }
    }
}

#[derive(Default)]
pub(crate) struct Plan {
    pub(crate) namespaces: Vec<Namespace>,
    pub(crate) names: Vec<String>,
    /// The model type of each namespace entry (the identity map is per model).
    pub(crate) model_types: Vec<TypeId>,
    pub(crate) writes: Vec<Write>,
}

/// `true` when a persistent entity's value differs from its baseline.
pub(crate) fn has_changes(entity: &dyn ErasedEntity) -> bool {
    let state = entity.state();
    if state.changes() == 0 {
        return false;
    }
    let Ok(current) = entity.to_raw() else {
        // Locked or unserializable: report it, the flush will say what is wrong.
        return true;
    };
    match &state.sync().baseline {
        Baseline::Taken(baseline) => id_key(baseline) != id_key(&current) || diff(baseline, &current) != Change::None,
        Baseline::Current | Baseline::Unknown => true,
    }
}

/// The identity-map key of a serialized entity's `_id`: ids compare by value, so an `i64`
/// field holding a stored `NumberInt(1)` is the same id.
fn id_key(doc: &RawDocumentBuf) -> Option<IdKey> {
    doc.get("_id").ok().flatten().map(IdKey::from_raw)
}

/// The `_id` of a serialized entity.
fn id_of(doc: &RawDocumentBuf) -> Option<Bson> {
    doc.get("_id").ok().flatten().and_then(|id| Bson::try_from(id.to_raw_bson()).ok())
}

/// The error for a problem with one entity's value.
pub(crate) fn cell_error(err: CellError, namespace: &str, id: Option<Bson>) -> Error {
    let id = id.map(Box::new);
    match err {
        CellError::Busy => Error::EntityBusy { namespace: namespace.to_owned(), id },
        CellError::Serialize(source) => Error::serialize(namespace, source),
        CellError::Deserialize(source) => Error::Deserialize { namespace: namespace.to_owned(), id, source },
        CellError::MissingId => Error::MissingId { namespace: namespace.to_owned() },
    }
}

fn kind_rank(kind: WriteKind) -> u8 {
    match kind {
        WriteKind::Delete => 0,
        WriteKind::Update | WriteKind::Replace => 1,
        WriteKind::Insert => 2,
    }
}

pub(crate) fn build_plan(session: &mut Session) -> Result<Plan> {
    session.uow.prune();
    let order: Vec<usize> = session.uow.entries_in_order().into_iter().map(|(key, _)| key).collect();
    let mut plan = Plan::default();
    // The models of the plan's namespaces, in the same order: a flush touches few models, so
    // a short list beats hashing per entity.
    let mut models: Vec<*const ModelMeta> = Vec::new();
    // New entities to file in the identity map, filed together so each map grows once.
    let mut to_file: Vec<(usize, usize, IdKey)> = Vec::new();

    for key in order {
        let Some(entry) = session.uow.get(key) else { continue };
        let entity = entry.entity.clone();
        let mut status = entry.status;
        let filed = entry.identity.clone();
        let meta: *const ModelMeta = entity.meta();
        let namespace = match models.iter().position(|known| std::ptr::eq(*known, meta)) {
            Some(index) => index,
            None => {
                let namespace = session.engine.namespace(entity.meta())?;
                plan.names.push(namespace.to_string());
                plan.namespaces.push(namespace);
                plan.model_types.push(entity.model_type());
                models.push(meta);
                models.len() - 1
            }
        };
        let name = &plan.names[namespace];
        let state = entity.state();
        let seen = state.changes();
        let fail = |err: CellError| cell_error(err, name, entity.current_id().ok().flatten());

        if status == Status::New && state.is_persistent() {
            // Another session wrote it while this one had it staged: it is an update now.
            status = Status::Persistent;
            session.uow.restage(key, status);
        }
        let mut upsert = false;
        let mut expect_match = false;
        let mut generated_id = false;
        let (kind, id, body) = match status {
            Status::Uncertain => continue,
            Status::Deleted => {
                let Some(id) = state.server_id().or_else(|| entity.current_id().ok().flatten()) else { continue };
                // A delete expects its document unless an earlier write of it is in doubt
                // (a delete that may have landed, an insert that may not have).
                expect_match = state.is_persistent() && !state.in_doubt();
                (WriteKind::Delete, id, Body::Delete)
            }
            Status::Merged => {
                let (id, _) = entity.assign_id().map_err(fail)?;
                upsert = true;
                (WriteKind::Replace, id, Body::Document(entity.to_raw().map_err(fail)?))
            }
            Status::New => {
                let (id, generated) = entity.assign_id().map_err(fail)?;
                generated_id = generated || state.id_generated();
                // Filed as soon as it has an id: a query that meets the document (say, after
                // an insert whose reply was lost) returns this entity, not a second one.
                let identity = IdKey::from_bson(&id);
                if filed.as_ref() != Some(&identity) {
                    to_file.push((namespace, key, identity));
                }
                (WriteKind::Insert, id, Body::Document(entity.to_raw().map_err(fail)?))
            }
            Status::Persistent => {
                if seen == 0 {
                    continue;
                }
                let current = entity.to_raw().map_err(fail)?;
                let sync = state.sync();
                let Some(stored_id) = sync.server_id.as_ref().map(ServerId::to_bson) else { continue };
                if id_key(&current) != Some(IdKey::from_bson(&stored_id)) {
                    return Err(Error::IdChanged {
                        namespace: name.clone(),
                        old: Box::new(stored_id),
                        new: Box::new(id_of(&current).unwrap_or(Bson::Null)),
                    });
                }
                let change = match &sync.baseline {
                    Baseline::Taken(baseline) => diff(baseline, &current),
                    // Changed without a known baseline: write the whole document.
                    Baseline::Unknown | Baseline::Current => Change::Replace,
                };
                drop(sync);
                expect_match = true;
                match change {
                    Change::None => {
                        state.unchanged(seen);
                        continue;
                    }
                    Change::Update(update) => {
                        (WriteKind::Update, stored_id, Body::Update { update, snapshot: current })
                    }
                    Change::Replace => (WriteKind::Replace, stored_id, Body::Document(current)),
                }
            }
        };
        plan.writes.push(Write { key, kind, namespace, id, body, seen, upsert, expect_match, generated_id });
    }
    for (namespace, model) in plan.model_types.iter().enumerate() {
        let additional = to_file.iter().filter(|(filed_in, _, _)| *filed_in == namespace).count();
        session.uow.reserve_identities(*model, additional);
    }
    for (_, key, identity) in to_file {
        session.uow.file_identity(key, identity);
    }
    plan.writes.sort_by_key(|write| (kind_rank(write.kind), write.namespace));
    Ok(plan)
}
