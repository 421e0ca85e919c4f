//! Planning a flush: reading every staged entity once and turning it into a list of writes.
//!
//! New entities get their id (filed in the identity map at once, so a query that meets the
//! document returns this entity) and are serialized; changed entities are compared with their
//! baselines (see `diff`). Writes are ordered by kind (deletes, then updates and replacements,
//! then inserts: a unique value freed by a delete or an update can be reused by an insert of
//! the same flush), then by collection, then by staging order.

use bson::oid::ObjectId;
use bson::{Bson, RawBsonRef, RawDocument, RawDocumentBuf};
use mongodb::Namespace;

use super::prepare::{Preparer, VersionCheck, stored_version};
use crate::error::{Error, WriteKind};
use crate::model::{HookEvent, IdKey, ModelMeta};
use crate::options::Options;
use crate::session::diff::{Change, Watch, changed_paths, diff, diff_watching, id_key};
use crate::session::scope::{Scope, WriteKey, key_watch, watched_key_into, write_key};
use crate::session::space::Space;
use crate::session::tracked::{Baseline, CellError, ErasedEntity, Intent, ServerId, stored_document};
use crate::session::unit_of_work::{Status, UnitOfWork};
use crate::statement::upsert_statement;
use crate::wire::{element_at, value_at};
use crate::{Engine, Result};

/// One write of a flush.
pub(crate) struct Write {
    /// The unit-of-work entry this write is for.
    pub(crate) entry: usize,
    pub(crate) kind: WriteKind,
    /// Index into `Plan::namespaces`.
    pub(crate) namespace: usize,
    /// The `_id` the write targets (see [`Write::id_bson`]).
    pub(crate) id: ServerId,
    pub(crate) body: Body,
    /// The entity's change counter when it was serialized.
    pub(crate) seen: u64,
    /// A replacement that creates the document when it is missing (`merge`).
    pub(crate) upsert: bool,
    /// The write must match a document: matching none means someone else deleted it.
    pub(crate) expect_match: bool,
    /// The id was generated for this insert (so a stored document with it can only be ours).
    pub(crate) generated_id: bool,
    /// The version check of a versioned entity's update, replacement or delete.
    pub(crate) version: Option<VersionCheck>,
    /// The fields beyond `_id` and the version the write's filter carries: the shard key,
    /// the tenant, a soft-delete field's `null` (see `scope::write_key`).
    pub(crate) key: Option<WriteKey>,
    /// Once the write lands, the session lets the entity go (a soft delete: its document
    /// stays, marked deleted).
    pub(crate) detach: bool,
}

pub(crate) enum Body {
    /// The whole document (insert, replace); it becomes the baseline.
    Document(RawDocumentBuf),
    /// A field update (`$set`/`$unset`); `snapshot` is the whole current document.
    Update {
        update: RawDocumentBuf,
        snapshot: RawDocumentBuf,
    },
    /// An upsert on a natural key: `filter` is the key (with the scope's equalities),
    /// `update` its `$set`/`$setOnInsert`. The stored document is read back once it lands.
    Upsert {
        filter: RawDocumentBuf,
        update: RawDocumentBuf,
    },
    Delete,
}

impl Write {
    /// The `_id` the write targets, as BSON (for filters and errors).
    pub(crate) fn id_bson(&self) -> Bson {
        self.id.to_bson()
    }

    /// A rough size of the statement, for splitting commands.
    pub(crate) fn estimated_size(&self) -> usize {
        64 + match &self.body {
            Body::Document(doc) | Body::Update { snapshot: doc, .. } => doc.as_bytes().len(),
            Body::Upsert { filter, update, .. } => filter.as_bytes().len() + update.as_bytes().len(),
            Body::Delete => 16,
        }
    }

    /// `true` for the writes that record an intent (inserts, deletes, and the writes of
    /// versioned entities), without building it.
    pub(crate) fn has_intent(&self) -> bool {
        self.version.is_some_and(|check| check.written != check.expected)
            || matches!((&self.body, self.kind), (Body::Document(_), WriteKind::Insert) | (Body::Delete, _))
    }

    /// The intent of a field update or replacement of an unversioned persistent entity whose
    /// outcome turned out unknown (see [`Intent::Update`]); `None` for the other writes (they
    /// carry their intent from before they were sent, or are sent again as they are).
    pub(crate) fn doubt(&self) -> Option<Intent> {
        if self.version.is_some() || self.upsert {
            return None;
        }
        match &self.body {
            Body::Update { update, snapshot: sent } => {
                let removed = match update.get_document("$unset") {
                    Ok(unset) => unset.iter().filter_map(Result::ok).map(|(path, _)| path.to_owned()).collect(),
                    _ => Vec::new(),
                };
                Some(Intent::Update {
                    id: self.id.clone(),
                    sent: sent.clone(),
                    removed: Some(removed),
                    seen: self.seen,
                })
            }
            Body::Document(sent) if self.kind == WriteKind::Replace => {
                Some(Intent::Update { id: self.id.clone(), sent: sent.clone(), removed: None, seen: self.seen })
            }
            _ => None,
        }
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
            // An upsert sent again finds the document its first sending left: harmless.
            (Body::Upsert { .. }, _) => Intent::None,
            (Body::Document(sent) | Body::Update { snapshot: sent, .. }, _) => match self.version {
                Some(check) => Intent::Versioned {
                    id: self.id.clone(),
                    written: check.written,
                    sent: sent.clone(),
                    seen: self.seen,
                },
                // Field updates and replacements are idempotent: sent again, they do no harm.
                None => Intent::None,
            },
        }
    }
}

/// The writes of one flush, with the collections they go to.
#[derive(Default)]
pub(crate) struct Plan {
    pub(crate) namespaces: Vec<Namespace>,
    pub(crate) names: Vec<String>,
    /// The model type of each namespace entry (the identity map is per model).
    pub(crate) spaces: Vec<Space>,
    /// The model of each namespace entry.
    pub(crate) metas: Vec<&'static ModelMeta>,
    pub(crate) writes: Vec<Write>,
}

impl Plan {
    /// `true` when the plan writes to a time series collection, which MongoDB does not write
    /// in a transaction: such a flush goes without one.
    pub(crate) fn writes_time_series(&self) -> bool {
        self.metas.iter().any(|meta| matches!(meta.kind, crate::schema::CollectionKind::TimeSeries(_)))
    }

    /// Whether a flush of this plan outside an explicit transaction uses one of its own, on
    /// `engine`: as the engine's transaction mode says, except for a plan that writes a time
    /// series collection (with `TransactionMode::Always`, that is an error).
    pub(crate) async fn in_transaction(&self, engine: &Engine) -> Result<bool> {
        if self.writes_time_series() {
            return match engine.transaction_mode() {
                crate::TransactionMode::Always => Err(Error::TransactionsUnavailable {
                    reason: "MongoDB does not write time series collections in transactions",
                }),
                _ => Ok(false),
            };
        }
        engine.use_transactions().await
    }

    /// The keys of the writes `indices` (see [`Write::key`]), for a read of their documents.
    pub(crate) fn keys(&self, indices: &[usize]) -> Vec<Option<RawDocumentBuf>> {
        indices.iter().map(|index| self.writes[*index].key.as_ref().and_then(WriteKey::to_document)).collect()
    }

    /// The error for the versioned write `index` that met a version it did not expect
    /// (`found`, when a read learned it).
    pub(crate) fn conflict_error(&self, index: usize, found: Option<i64>) -> Error {
        let write = &self.writes[index];
        Error::VersionConflict {
            model: self.metas[write.namespace].name,
            namespace: self.names[write.namespace].clone(),
            id: Box::new(write.id_bson()),
            kind: write.kind,
            expected: write.version.map_or(0, |check| check.expected),
            found,
        }
    }
}

/// A plan of `writes` field updates of documents `_id: 0, 1, …` of `db.things`, for the
/// command builders' tests.
#[cfg(test)]
pub(crate) fn test_plan(writes: usize) -> Plan {
    Plan {
        namespaces: vec![Namespace::new("db", "things")],
        names: vec!["db.things".into()],
        spaces: vec![Space::of::<()>()],
        metas: Vec::new(),
        writes: (0..writes)
            .map(|i| Write {
                entry: i,
                kind: WriteKind::Update,
                namespace: 0,
                id: ServerId::new(Bson::Int64(i as i64)),
                body: Body::Delete,
                seen: 0,
                upsert: false,
                expect_match: true,
                generated_id: false,
                version: None,
                key: None,
                detach: false,
            })
            .collect(),
    }
}

/// The `_id` of a serialized entity.
fn id_of(doc: &RawDocumentBuf) -> Option<Bson> {
    doc.get("_id").ok().flatten().and_then(|id| Bson::try_from(id.to_raw_bson()).ok())
}

fn kind_rank(kind: WriteKind) -> u8 {
    match kind {
        WriteKind::Delete => 0,
        WriteKind::Update | WriteKind::Replace | WriteKind::Upsert => 1,
        WriteKind::Insert => 2,
    }
}

/// Plans the next flush of the entities `uow` tracks, on `engine`'s collections.
pub(crate) fn build_plan(engine: &Engine, uow: &mut UnitOfWork) -> Result<Plan> {
    uow.prune();
    let tenant = uow.tenant().cloned();
    let mut order: Vec<usize> = uow.entries_in_order().into_iter().map(|(key, _)| key).collect();
    // Sized for every entry at once: a flush of many entities grows no vector of writes.
    let plan = Plan { writes: Vec::with_capacity(order.len()), ..Plan::default() };
    let mut planner =
        Planner { plan, models: Vec::new(), watches: Vec::new(), to_file: Vec::new(), prep: Preparer::new(), tenant };
    let mut next = 0;
    while let Some(&key) = order.get(next) {
        next += 1;
        let planned = planner.entity(engine, uow, key);
        // Entities the hooks staged are planned in this flush too, after the others.
        for staged in planner.prep.staged.drain(..) {
            let identity = staged.current_id().ok().flatten().map(|id| IdKey::from_bson(&id));
            order.push(uow.track(staged, Status::New, identity));
        }
        if let Some(write) = planned? {
            planner.plan.writes.push(write);
        }
    }
    let Planner { mut plan, to_file, prep, .. } = planner;
    if !prep.invalid.is_empty() {
        // Nothing is sent: the versions set for the writes go back.
        for write in &plan.writes {
            restore_version(uow, write);
        }
        return Err(Error::Validation { invalid: prep.invalid });
    }
    for (namespace, model) in plan.spaces.iter().enumerate() {
        let additional = to_file.iter().filter(|(filed_in, _, _)| *filed_in == namespace).count();
        uow.reserve_identities(*model, additional);
    }
    for (_, key, identity) in to_file {
        uow.file_identity(key, identity);
    }
    plan.writes.sort_by_key(|write| (kind_rank(write.kind), write.namespace));
    Ok(plan)
}

/// Refuses to write `entity` under `identity` when the session tracks the same stored
/// document in another shape (a typed entity and a document without a model). Every write that
/// may create or replace a document by its id (insert, merge, upsert) is checked here, before
/// any I/O (`Session::add` returns no `Result`); a session that never opened documents skips
/// it.
fn one_shape(engine: &Engine, uow: &UnitOfWork, entity: &dyn ErasedEntity, identity: &IdKey, name: &str) -> Result<()> {
    if !uow.has_documents() {
        return Ok(());
    }
    let target = engine.namespace(entity.meta())?;
    uow.refuse_other_shape(entity.space(), identity, name, |other| engine.namespace(other).is_ok_and(|at| at == target))
}

/// `true` when `update` writes a path the write's key is made of: the shard key, the tenant
/// or the soft-delete field. One pass over the update.
fn writes_key(update: &RawDocument, meta: &ModelMeta) -> bool {
    writes_where(update, |written| {
        meta.shard_key.iter().any(|path| related(written, path.as_bytes()))
            || meta.tenant.is_some_and(|path| related(written, path.as_bytes()))
            || meta.soft_delete.is_some_and(|path| related(written, path.as_bytes()))
    })
}

/// `true` when `update` writes one of `paths`, a part of one or a document holding one.
fn writes_any(update: &RawDocument, paths: &[&str]) -> bool {
    writes_where(update, |written| paths.iter().any(|path| related(written, path.as_bytes())))
}

/// One path is the other, or lies within it.
fn related(written: &[u8], path: &[u8]) -> bool {
    let (shorter, longer) = if written.len() <= path.len() { (written, path) } else { (path, written) };
    longer.starts_with(shorter) && (longer.len() == shorter.len() || longer.get(shorter.len()) == Some(&b'.'))
}

/// `true` when a path `update` writes (`$set`/`$unset` keys) passes `test`.
fn writes_where(update: &RawDocument, test: impl Fn(&[u8]) -> bool) -> bool {
    crate::wire::elements(update.as_bytes()).any(|operator| {
        // A framing that does not hold counts as writing everything.
        let Some(operator) = operator else { return true };
        operator.kind != crate::wire::kind::DOCUMENT
            || crate::wire::elements(operator.value).any(|written| match written {
                Some(written) => test(written.key),
                None => true,
            })
    })
}

/// Puts back the version of an entity whose planned write was not applied, so the value shows
/// the version the server has.
pub(crate) fn restore_version(uow: &UnitOfWork, write: &Write) {
    if let Some(check) = write.version
        && check.written != check.expected
        && let Some(entry) = uow.get(write.entry)
    {
        // Best effort: a guard held on another thread keeps the planned version, which the
        // next flush sets again anyway.
        let _ = entry.entity.set_version(check.expected);
    }
}

/// The state of one `build_plan`.
struct Planner {
    /// The session's tenant.
    tenant: Option<Bson>,
    plan: Plan,
    /// The models of the plan's namespaces, in the same order: a flush touches few models, so
    /// a short list beats hashing per entity.
    models: Vec<*const ModelMeta>,
    /// Per model, in the same order, the fields its writes' comparisons watch (see
    /// `scope::key_watch`), made once per flush.
    watches: Vec<Option<Watch>>,
    /// New entities to file in the identity map, filed together so each map grows once.
    to_file: Vec<(usize, usize, IdKey)>,
    prep: Preparer,
}

impl Planner {
    /// The index of the entity's namespace in the plan, added on first use.
    fn namespace(&mut self, engine: &Engine, entity: &dyn ErasedEntity) -> Result<usize> {
        let meta: *const ModelMeta = entity.meta();
        if let Some(index) = self.models.iter().position(|known| std::ptr::eq(*known, meta)) {
            return Ok(index);
        }
        let namespace = engine.namespace(entity.meta())?;
        self.plan.names.push(namespace.to_string());
        self.plan.namespaces.push(namespace);
        self.plan.spaces.push(entity.space());
        self.plan.metas.push(entity.meta());
        self.models.push(meta);
        self.watches.push(key_watch(entity.meta()));
        Ok(self.models.len() - 1)
    }

    /// The write for the entity in slot `key`, if it needs one.
    fn entity(&mut self, engine: &Engine, uow: &mut UnitOfWork, key: usize) -> Result<Option<Write>> {
        let Some(entry) = uow.get(key) else { return Ok(None) };
        let entity = entry.entity.clone();
        let mut status = entry.status;
        let filed = entry.identity().cloned();
        let namespace = self.namespace(engine, &*entity)?;
        let name = self.plan.names[namespace].clone();
        let state = entity.state();
        let mut seen = state.changes();
        let fail = |err: CellError| err.into_error(&name, entity.current_id().ok().flatten());
        let version_field = entity.meta().version;

        if status == Status::New && state.is_persistent() {
            // Another session wrote it while this one had it staged: it is an update now.
            status = Status::Persistent;
            uow.restage(key, status);
        }
        let mut write = Write {
            entry: key,
            kind: WriteKind::Insert,
            namespace,
            // Every write returned below has its id set: this one is never sent.
            id: ServerId::ObjectId(ObjectId::from_bytes([0; 12])),
            body: Body::Delete,
            seen,
            upsert: false,
            expect_match: false,
            generated_id: false,
            version: None,
            key: None,
            detach: false,
        };
        let meta = entity.meta();
        if status == Status::Deleted && meta.soft_delete.is_some() && state.is_persistent() {
            // A soft delete of a live document: an update that marks it deleted. (Of one
            // already marked, read with `with_deleted`, a delete removes it.)
            let stored = stored_document(&*entity).map_err(fail)?;
            if meta.soft_delete.is_some_and(|field| matches!(value_at(&stored, field), None | Some(RawBsonRef::Null))) {
                entity.set_deleted(Some(self.prep.now())).map_err(fail)?;
                // Marking it is a change: it is written as one.
                seen = state.changes();
                write.seen = seen;
                status = Status::Persistent;
                write.detach = true;
            }
        }
        match status {
            Status::Uncertain => return Ok(None),
            Status::Upsert => {
                let Some(on) = uow.upsert_key(key).cloned() else { return Ok(None) };
                let (id, generated) = entity.assign_id().map_err(fail)?;
                self.stamp_tenant(&*entity, &name)?;
                write.generated_id = generated || state.id_generated();
                // Filed under the id it would be inserted with; the flush files it under the
                // stored document's once it knows it.
                let identity = IdKey::from_bson(&id);
                one_shape(engine, uow, &*entity, &identity, &name)?;
                if filed.as_ref() != Some(&identity) {
                    self.to_file.push((namespace, key, identity));
                }
                self.prep.hooks(&*entity, seen, WriteKind::Upsert, HookEvent::Insert, &name)?;
                let value = entity.to_raw().map_err(fail)?;
                self.prep.validate(&*entity, Some(&id), &name)?;
                let scope = Scope::of(meta, self.tenant.as_ref(), &Options::default())?.equalities();
                let (filter, update) = upsert_statement(meta, &value, &on.key, &on.insert_only, &scope)?;
                write.body = Body::Upsert { filter, update };
                write.upsert = true;
                (write.kind, write.id) = (WriteKind::Upsert, ServerId::new(id));
            }
            Status::Deleted => {
                let Some(id) = state.server_id().or_else(|| entity.current_id().ok().flatten()) else {
                    return Ok(None);
                };
                self.prep.hooks(&*entity, seen, WriteKind::Delete, HookEvent::Delete, &name)?;
                // A delete expects its document unless an earlier write of it is in doubt
                // (a delete that may have landed, an insert that may not have).
                write.expect_match = state.is_persistent() && !state.in_doubt();
                if let Some(field) = version_field
                    && state.is_persistent()
                    && let Some(expected) = stored_version(&*entity, field, &name)?
                {
                    write.version = Some(VersionCheck { field, expected, written: expected });
                }
                if state.is_persistent() {
                    let stored = stored_document(&*entity).map_err(fail)?;
                    write.key = write_key(meta, self.tenant.as_ref(), &stored, false).map(WriteKey::from);
                }
                (write.kind, write.id) = (WriteKind::Delete, ServerId::new(id));
            }
            Status::Merged => {
                let (id, _) = entity.assign_id().map_err(fail)?;
                one_shape(engine, uow, &*entity, &IdKey::from_bson(&id), &name)?;
                self.stamp_tenant(&*entity, &name)?;
                self.prep.hooks(&*entity, seen, WriteKind::Replace, HookEvent::Update(None), &name)?;
                // A merge carries the version its caller last saw.
                if let Some(field) = version_field
                    && let Some(expected) = entity.version().map_err(fail)?
                {
                    entity.set_version(expected + 1).map_err(fail)?;
                    write.version = Some(VersionCheck { field, expected, written: expected + 1 });
                }
                // Serialized before the checks run: the serializer refuses a value nested too
                // deep before any walk over it recurses.
                write.body = Body::Document(entity.to_raw().map_err(fail)?);
                self.prep.validate(&*entity, Some(&id), &name)?;
                // A merge may create its document, or replace one marked deleted: its key is the
                // one it gives the document.
                if let Body::Document(doc) = &write.body {
                    write.key = write_key(meta, self.tenant.as_ref(), doc, false).map(WriteKey::from);
                }
                write.upsert = true;
                (write.kind, write.id) = (WriteKind::Replace, ServerId::new(id));
            }
            Status::New => {
                let (id, generated) = entity.assign_id().map_err(fail)?;
                self.stamp_tenant(&*entity, &name)?;
                write.generated_id = generated || state.id_generated();
                // Filed as soon as it has an id: a query that meets the document (say, after
                // an insert whose reply was lost) returns this entity, not a second one.
                let identity = IdKey::from_bson(&id);
                one_shape(engine, uow, &*entity, &identity, &name)?;
                if filed.as_ref() != Some(&identity) {
                    self.to_file.push((namespace, key, identity));
                }
                if self.prep.hooks(&*entity, seen, WriteKind::Insert, HookEvent::Insert, &name)?
                    && entity.current_id().map_err(fail)?.as_ref() != Some(&id)
                {
                    return Err(Error::IdChanged {
                        namespace: name.clone(),
                        old: Box::new(id),
                        new: Box::new(entity.current_id().ok().flatten().unwrap_or(Bson::Null)),
                    });
                }
                write.body = Body::Document(entity.to_raw().map_err(fail)?);
                self.prep.validate(&*entity, Some(&id), &name)?;
                write.id = ServerId::new(id);
            }
            Status::Persistent => {
                if seen == 0 {
                    return Ok(None);
                }
                let Some(stored_id) = state.server_id() else { return Ok(None) };
                // A shard key of top-level fields is seen by the comparison itself (see `key_watch`).
                // The namespace's watch itself (each comparison resets it), not a copy per entity.
                let mut watch = self.watches[namespace].as_mut();
                let Some((mut current, mut change)) = Self::change(&*entity, &stored_id, &name, watch.as_deref_mut())?
                else {
                    state.unchanged(seen);
                    return Ok(None);
                };
                if entity.meta().prepares {
                    let paths = match &state.sync().baseline {
                        Baseline::Taken(baseline) => changed_paths(baseline, &current, &change),
                        Baseline::Current | Baseline::Unknown => Vec::new(),
                    };
                    let event = HookEvent::Update(Some(paths));
                    if self.prep.hooks(&*entity, seen, WriteKind::Update, event, &name)? {
                        let Some(again) = Self::change(&*entity, &stored_id, &name, watch.as_deref_mut())? else {
                            // The hooks undid the change.
                            state.unchanged(seen);
                            return Ok(None);
                        };
                        (current, change) = again;
                    }
                }
                self.prep.validate(&*entity, Some(&stored_id), &name)?;
                if let Some(field) = version_field
                    && let Some(expected) = stored_version(&*entity, field, &name)?
                {
                    entity.set_version(expected + 1).map_err(fail)?;
                    write.version = Some(VersionCheck { field, expected, written: expected + 1 });
                    if let Some(again) = Self::change(&*entity, &stored_id, &name, watch.as_deref_mut())? {
                        (current, change) = again;
                    }
                }
                if !meta.shard_key.is_empty() || meta.tenant.is_some() || meta.soft_delete.is_some() {
                    // The comparison saw the key's fields (the common case: a shard key of
                    // top-level fields): the filter takes them from the current document, and a
                    // change of one is refused.
                    if let Some(watch) = watch.filter(|watch| watch.complete)
                        && watched_key_into(&current, watch, write.key.insert(WriteKey::inline()))
                    {
                        if watch.changed {
                            return Err(Error::ShardKeyChanged { namespace: name, id: Box::new(stored_id) });
                        }
                    } else if matches!(&change, Change::Update(update) if !writes_key(update, meta)) {
                        // A field update that writes none of the key's paths leaves them as
                        // stored: the current document has the stored values, and no copy of
                        // the baseline is needed.
                        self.check_tenant(meta, &current, &current, &name, &stored_id)?;
                        write.key = write_key(meta, self.tenant.as_ref(), &current, true).map(WriteKey::from);
                    } else {
                        let stored = stored_document(&*entity).map_err(fail)?;
                        self.check_keys(meta, &stored, &current, &change, &name, &stored_id)?;
                        write.key = write_key(meta, self.tenant.as_ref(), &stored, true).map(WriteKey::from);
                    }
                }
                write.expect_match = true;
                write.id = ServerId::new(stored_id);
                (write.kind, write.body) = match change {
                    Change::Update(update) => (WriteKind::Update, Body::Update { update, snapshot: current }),
                    _ => (WriteKind::Replace, Body::Document(current)),
                };
            }
        }
        Ok(Some(write))
    }

    /// Stamps a new or merged entity of a tenant-scoped model with the session's tenant: a
    /// session bound to none cannot write one.
    fn stamp_tenant(&self, entity: &dyn ErasedEntity, name: &str) -> Result<()> {
        if entity.meta().tenant.is_none() {
            return Ok(());
        }
        let Some(tenant) = &self.tenant else { return Err(Error::TenantRequired { model: entity.meta().name }) };
        entity.set_tenant(tenant).map_err(|err| err.into_error(name, entity.current_id().ok().flatten()))
    }

    /// Refuses a change of a persistent entity that would move its document: a change of its
    /// shard key or its tenant, or an entity of another tenant than the session's.
    fn check_keys(
        &self,
        meta: &ModelMeta,
        stored: &RawDocument,
        current: &RawDocument,
        change: &Change,
        name: &str,
        id: &Bson,
    ) -> Result<()> {
        // A field update that writes no path of the shard key leaves it as it is: only the
        // paths it writes need looking at. A replacement is compared whole.
        let untouched = match change {
            Change::Update(update) => !writes_any(update, meta.shard_key),
            Change::Replace | Change::None => false,
        };
        // Compared as bytes first (the common case: the same bytes, no allocation); values whose
        // bytes differ are compared as values (`0.0` and `-0.0` are one key).
        let same = |path: &str| {
            let stored_element = element_at(stored.as_bytes(), path);
            let current_element = element_at(current.as_bytes(), path);
            stored_element.map(|element| (element.kind, element.value))
                == current_element.map(|element| (element.kind, element.value))
                || value_at(stored, path) == value_at(current, path)
        };
        if !untouched && !meta.shard_key.iter().all(|path| same(path)) {
            return Err(Error::ShardKeyChanged { namespace: name.to_owned(), id: Box::new(id.clone()) });
        }
        self.check_tenant(meta, stored, current, name, id)
    }

    /// Refuses a write that moves a document to another tenant, or writes another tenant's
    /// document (`stored` is what the server has, `current` what the write leaves).
    fn check_tenant(
        &self,
        meta: &ModelMeta,
        stored: &RawDocument,
        current: &RawDocument,
        name: &str,
        id: &Bson,
    ) -> Result<()> {
        if let Some(field) = meta.tenant {
            let tenant = |doc: &RawDocument| value_at(doc, field).map(|value| value.to_raw_bson());
            let owner = tenant(stored);
            let session = self.tenant.as_ref().and_then(|tenant| bson::RawBson::try_from(tenant.clone()).ok());
            if owner != tenant(current) || session.is_some_and(|session| Some(session) != owner) {
                return Err(Error::TenantChanged { namespace: name.to_owned(), id: Some(Box::new(id.clone())) });
            }
        }
        Ok(())
    }

    /// The current value of a persistent entity and how it differs from its baseline, or
    /// `None` when it does not.
    fn change(
        entity: &dyn ErasedEntity,
        stored_id: &Bson,
        name: &str,
        mut watch: Option<&mut Watch>,
    ) -> Result<Option<(RawDocumentBuf, Change)>> {
        if let Some(watch) = watch.as_deref_mut() {
            watch.reset();
        }
        let current = entity.to_raw().map_err(|err| err.into_error(name, Some(stored_id.clone())))?;
        if id_key(&current) != Some(IdKey::from_bson(stored_id)) {
            return Err(Error::IdChanged {
                namespace: name.to_owned(),
                old: Box::new(stored_id.clone()),
                new: Box::new(id_of(&current).unwrap_or(Bson::Null)),
            });
        }
        let change = match &entity.state().sync().baseline {
            // A polymorphic entity that changed variant is written as one replacement: the
            // old variant's fields go with its tag.
            Baseline::Taken(baseline)
                if entity
                    .meta()
                    .discriminator
                    .is_some_and(|tag| value_at(baseline, tag.field) != value_at(&current, tag.field)) =>
            {
                Change::Replace
            }
            Baseline::Taken(baseline) => match watch {
                Some(watch) => diff_watching(baseline, &current, watch),
                None => diff(baseline, &current),
            },
            // Changed without a known baseline: write the whole document.
            Baseline::Unknown | Baseline::Current => Change::Replace,
        };
        Ok((change != Change::None).then_some((current, change)))
    }
}

#[cfg(test)]
mod tests {
    use bson::rawdoc;

    use super::writes_any;

    #[test]
    fn an_update_writes_a_path_when_it_sets_or_unsets_it_a_part_of_it_or_its_parent() {
        let key = ["city", "address.zip"];
        assert!(!writes_any(&rawdoc! { "$set": { "score": 1, "cityName": "x" } }, &key));
        assert!(writes_any(&rawdoc! { "$set": { "city": "Lyon" } }, &key));
        assert!(writes_any(&rawdoc! { "$unset": { "city": "" } }, &key));
        assert!(writes_any(&rawdoc! { "$set": { "address": { "zip": "1" } } }, &key));
        assert!(writes_any(&rawdoc! { "$set": { "address.zip.code": 1 } }, &key));
        assert!(!writes_any(&rawdoc! { "$set": { "address.street": "x", "zipper": 1 } }, &key));
        assert!(writes_any(&rawdoc! { "$set": 1 }, &key), "a malformed update writes everything");
    }
}
