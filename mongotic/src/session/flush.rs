//! Flush: turning the session's staged state into writes, sending them in as few commands as
//! possible, and recording exactly what the server acknowledged.
//!
//! Planning reads every staged entity once: new entities get their id and are serialized,
//! changed entities are compared with their snapshots (see `diff`), and the result is a list
//! of writes ordered by kind (deletes, then updates and replacements, then inserts: a unique
//! value freed by a delete or an update can be reused by an insert of the same flush), then by
//! collection, then by staging order.
//!
//! Sending uses one client `bulkWrite` when the writes span several commands and the server
//! has it (MongoDB 8.0+), otherwise one ordered command per collection and kind: `insert`,
//! `update` (field updates and replacements), `delete` (one `$in` statement). Every command is
//! ordered, so the writes the server acknowledged are always a prefix of the list; the
//! bookkeeping marks that prefix persisted and leaves the rest staged.

use std::any::TypeId;
use std::ops::Range;

use bson::{Bson, Document, RawArrayBuf, RawBson, RawBsonRef, RawDocumentBuf, doc, rawdoc};
use mongodb::Namespace;
use mongodb::error::ErrorKind;
use mongodb::options::{
    DeleteOneModel, InsertOneModel, ReplaceOneModel, UpdateModifications, UpdateOneModel, WriteModel,
};
use mongodb::results::VerboseBulkWriteResult;

use super::Session;
use super::diff::{Change, diff};
use super::tracked::{Baseline, CellError, ErasedEntity, ServerId};
use super::unit_of_work::Status;
use crate::error::{Error, FailedWrite, FlushError, WriteKind};
use crate::model::{IdKey, ModelMeta};
use crate::{Engine, Result};

/// Statements per `update`/`delete` command; below the server's `maxWriteBatchSize`.
const MAX_STATEMENTS: usize = 50_000;
/// Estimated bytes per `update`/`delete` command; well below the 16 MiB command limit.
const MAX_COMMAND_BYTES: usize = 12 * 1024 * 1024;

/// One write of a flush.
struct Write {
    /// The entry this write is for.
    key: usize,
    kind: WriteKind,
    /// Index into `Plan::namespaces`.
    namespace: usize,
    /// The `_id` the write targets.
    id: Bson,
    body: Body,
    /// The entity's change counter when it was serialized.
    seen: u64,
}

enum Body {
    /// The whole document (insert, replace); it becomes the snapshot.
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
    fn estimated_size(&self) -> usize {
        64 + match &self.body {
            Body::Document(doc) | Body::Update { snapshot: doc, .. } => doc.as_bytes().len(),
            Body::Delete => 16,
        }
    }
}

#[derive(Default)]
struct Plan {
    namespaces: Vec<Namespace>,
    names: Vec<String>,
    /// The model type of each namespace entry (the identity map is per model).
    model_types: Vec<TypeId>,
    writes: Vec<Write>,
}

/// What the server did with the plan: `writes[..acked]` were acknowledged,
/// `writes[acked..uncertain_end]` may or may not have been applied (the connection failed),
/// and the rest were not applied.
struct Outcome {
    acked: usize,
    uncertain_end: usize,
    failure: Option<(Error, Option<usize>)>,
}

impl Outcome {
    fn success(end: usize) -> Self {
        Outcome { acked: end, uncertain_end: end, failure: None }
    }

    fn failed(acked: usize, uncertain_end: usize, error: Error, failed: Option<usize>) -> Self {
        Outcome { acked, uncertain_end: uncertain_end.max(acked), failure: Some((error, failed)) }
    }
}

pub(crate) async fn flush(session: &mut Session) -> Result<()> {
    let plan = build_plan(session)?;
    if plan.writes.is_empty() {
        return Ok(());
    }
    tracing::debug!(writes = plan.writes.len(), "mongotic: flushing");
    let mut outcome = send(&session.engine, &plan).await;
    let failure = outcome.failure.take().map(|(cause, failed)| {
        let failed = failed.and_then(|index| plan.writes.get(index)).map(|write| FailedWrite {
            kind: write.kind,
            namespace: plan.names[write.namespace].clone(),
            id: write.id.clone(),
        });
        Error::Flush(Box::new(FlushError {
            cause,
            written: outcome.acked.min(plan.writes.len()),
            staged: plan.writes.len().saturating_sub(outcome.acked),
            failed,
        }))
    });
    record(session, plan.writes, &plan.model_types, &outcome);
    failure.map_or(Ok(()), Err)
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
        Baseline::Taken(baseline) => {
            baseline.get("_id").ok() != current.get("_id").ok() || diff(baseline, &current) != Change::None
        }
        Baseline::Current | Baseline::Unknown => true,
    }
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

fn build_plan(session: &mut Session) -> Result<Plan> {
    session.uow.prune();
    let order: Vec<usize> = session.uow.entries_in_order().into_iter().map(|(key, _)| key).collect();
    let mut plan = Plan::default();
    // The models of the plan's namespaces, in the same order: a flush touches few models, so
    // a short list beats hashing per entity.
    let mut models: Vec<*const ModelMeta> = Vec::new();

    for key in order {
        let Some(entry) = session.uow.get(key) else { continue };
        let entity = entry.entity.clone();
        let status = entry.status;
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

        let (kind, id, body) = match status {
            Status::Deleted => {
                let Some(id) = state.server_id().or_else(|| entity.current_id().ok().flatten()) else { continue };
                (WriteKind::Delete, id, Body::Delete)
            }
            Status::Merged => {
                let (id, _) = entity.assign_id().map_err(fail)?;
                (WriteKind::Replace, id, Body::Document(entity.to_raw().map_err(fail)?))
            }
            Status::New { uncertain, generated_id } => {
                let (id, generated) = entity.assign_id().map_err(fail)?;
                let generated_id = generated_id || generated;
                if generated && let Some(entry) = session.uow.get_mut(key) {
                    entry.status = Status::New { uncertain, generated_id };
                }
                // A generated id is ours alone, so an insert that may already have landed is
                // safely retried as an upsert.
                let kind = if uncertain && generated_id { WriteKind::Replace } else { WriteKind::Insert };
                (kind, id, Body::Document(entity.to_raw().map_err(fail)?))
            }
            Status::Persistent => {
                if seen == 0 {
                    continue;
                }
                let current = entity.to_raw().map_err(fail)?;
                let sync = state.sync();
                let Some(stored_id) = sync.server_id.as_ref().map(ServerId::to_bson) else { continue };
                let current_id = id_of(&current);
                if current_id.as_ref() != Some(&stored_id) {
                    return Err(Error::IdChanged {
                        namespace: name.clone(),
                        old: Box::new(stored_id),
                        new: Box::new(current_id.unwrap_or(Bson::Null)),
                    });
                }
                let change = match &sync.baseline {
                    Baseline::Taken(baseline) => diff(baseline, &current),
                    // Changed without a known baseline: write the whole document.
                    Baseline::Unknown | Baseline::Current => Change::Replace,
                };
                drop(sync);
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
        plan.writes.push(Write { key, kind, namespace, id, body, seen });
    }
    plan.writes.sort_by_key(|write| (kind_rank(write.kind), write.namespace));
    Ok(plan)
}

/// Records the outcome in the session: acknowledged writes become persisted state, inserts
/// whose fate is unknown are marked uncertain, everything else stays staged.
fn record(session: &mut Session, mut writes: Vec<Write>, model_types: &[TypeId], outcome: &Outcome) {
    let acked = outcome.acked.min(writes.len());
    let uncertain_end = outcome.uncertain_end.clamp(acked, writes.len());
    for write in &writes[acked..uncertain_end] {
        if let Some(entry) = session.uow.get_mut(write.key)
            && let Status::New { generated_id, .. } = entry.status
        {
            entry.status = Status::New { uncertain: true, generated_id };
        }
    }
    writes.truncate(acked);
    let mut new_identities = vec![0; model_types.len()];
    for write in writes.iter().filter(|write| matches!(write.body, Body::Document(_))) {
        new_identities[write.namespace] += 1;
    }
    for (model, additional) in model_types.iter().zip(new_identities) {
        session.uow.reserve_identities(*model, additional);
    }
    for write in writes {
        let Some(entity) = session.uow.get(write.key).map(|entry| entry.entity.clone()) else { continue };
        let state = entity.state();
        match write.body {
            Body::Delete => {
                session.uow.remove(write.key);
                state.deleted();
            }
            Body::Document(doc) => {
                let identity = IdKey::from_bson(&write.id);
                state.synced(write.seen, doc, Some(write.id));
                session.uow.file_identity(write.key, identity);
                if let Some(entry) = session.uow.get_mut(write.key) {
                    entry.status = Status::Persistent;
                }
            }
            Body::Update { snapshot, .. } => state.synced(write.seen, snapshot, None),
        }
    }
}

/// The command a write belongs to.
#[derive(PartialEq, Eq, Clone, Copy)]
enum Command {
    Insert,
    Update,
    Delete,
}

fn command_of(kind: WriteKind) -> Command {
    match kind {
        WriteKind::Insert => Command::Insert,
        WriteKind::Update | WriteKind::Replace => Command::Update,
        WriteKind::Delete => Command::Delete,
    }
}

/// Consecutive runs of writes that go in one command.
fn groups(writes: &[Write]) -> Vec<(Command, Range<usize>)> {
    let mut groups: Vec<(Command, Range<usize>)> = Vec::new();
    for (index, write) in writes.iter().enumerate() {
        let command = command_of(write.kind);
        match groups.last_mut() {
            Some((last, range)) if *last == command && writes[range.start].namespace == write.namespace => {
                range.end = index + 1;
            }
            _ => groups.push((command, index..index + 1)),
        }
    }
    groups
}

async fn send(engine: &Engine, plan: &Plan) -> Outcome {
    let groups = groups(&plan.writes);
    if groups.len() > 1 && engine.bulk_write_supported() != Some(false) {
        match send_bulk_write(engine, plan).await {
            Some(outcome) => {
                engine.set_bulk_write_supported(true);
                return outcome;
            }
            None => engine.set_bulk_write_supported(false),
        }
    }
    for (command, range) in groups {
        let outcome = match command {
            Command::Insert => send_inserts(engine, plan, range).await,
            Command::Update => send_updates(engine, plan, range).await,
            Command::Delete => send_deletes(engine, plan, range).await,
        };
        if outcome.failure.is_some() {
            return outcome;
        }
    }
    Outcome::success(plan.writes.len())
}

/// The outcome of a command over `range` that failed with `err` before any write of it was
/// acknowledged. A server refusal means nothing was applied; anything else (a dropped
/// connection) leaves the command's writes uncertain.
fn command_failed(err: mongodb::error::Error, range: Range<usize>, plan: &Plan) -> Outcome {
    let name = &plan.names[plan.writes[range.start].namespace];
    let uncertain_end = if matches!(err.kind.as_ref(), ErrorKind::Command(_)) { range.start } else { range.end };
    Outcome::failed(range.start, uncertain_end, Error::from_driver(err, name, None), None)
}

/// The outcome of a write error the server reported at `offset` within the command that sent
/// `range`: the writes before it were applied, nothing after it. An offset outside the command
/// (a reply that makes no sense) leaves the whole command uncertain.
fn write_failed(
    plan: &Plan,
    range: Range<usize>,
    offset: usize,
    code: i32,
    code_name: String,
    message: String,
) -> Outcome {
    let index = range.start.saturating_add(offset);
    let Some(write) = plan.writes.get(index).filter(|_| index < range.end) else {
        let message = format!("the server reported a write error at index {offset} of a command of {}", range.len());
        return Outcome::failed(range.start, range.end, Error::UnexpectedReply { message }, None);
    };
    let error = Error::from_write_error(&plan.names[write.namespace], Some(write.id.clone()), code, code_name, message);
    Outcome::failed(index, index, error, Some(index))
}

async fn send_inserts(engine: &Engine, plan: &Plan, range: Range<usize>) -> Outcome {
    let writes = &plan.writes[range.clone()];
    let docs = writes.iter().filter_map(|write| match &write.body {
        Body::Document(doc) => Some(doc),
        _ => None,
    });
    let collection = engine.raw_collection(&plan.namespaces[writes[0].namespace]);
    match collection.insert_many(docs).ordered(true).await {
        Ok(_) => Outcome::success(range.end),
        Err(err) => {
            if let Some(first) = Error::first_insert_error(&err) {
                let code_name = first.code_name.clone().unwrap_or_default();
                return write_failed(plan, range, first.index, first.code, code_name, first.message.clone());
            }
            if let ErrorKind::InsertMany(failure) = err.kind.as_ref()
                && let Some(concern) = &failure.write_concern_error
            {
                let name = &plan.names[writes[0].namespace];
                let error = Error::from_write_error(
                    name,
                    None,
                    concern.code,
                    concern.code_name.clone(),
                    concern.message.clone(),
                );
                return Outcome::failed(range.end, range.end, error, None);
            }
            command_failed(err, range, plan)
        }
    }
}

/// Splits `range` into chunks that fit one command.
fn chunks(plan: &Plan, range: Range<usize>) -> Vec<Range<usize>> {
    let mut chunks = Vec::new();
    let mut start = range.start;
    let mut bytes = 0;
    for index in range.clone() {
        let size = plan.writes[index].estimated_size();
        if index > start && (index - start >= MAX_STATEMENTS || bytes + size > MAX_COMMAND_BYTES) {
            chunks.push(start..index);
            start = index;
            bytes = 0;
        }
        bytes += size;
    }
    if start < range.end {
        chunks.push(start..range.end);
    }
    chunks
}

/// Runs one ordered write command and turns its reply into an outcome for `range`.
async fn run_write_command(engine: &Engine, plan: &Plan, range: Range<usize>, command: RawDocumentBuf) -> Outcome {
    let namespace = &plan.namespaces[plan.writes[range.start].namespace];
    let reply = match engine.client().database(&namespace.db).run_raw_command(command).await {
        Ok(reply) => reply,
        Err(err) => return command_failed(err, range, plan),
    };
    if let Ok(errors) = reply.get_array("writeErrors") {
        let first = errors
            .iter()
            .filter_map(Bson::as_document)
            .filter_map(|e| Some((usize::try_from(e.get_i32("index").ok()?).ok()?, e)))
            .min_by_key(|(index, _)| *index);
        if let Some((index, error)) = first {
            let code = error.get_i32("code").unwrap_or_default();
            let message = error.get_str("errmsg").unwrap_or_default().to_owned();
            return write_failed(plan, range, index, code, String::new(), message);
        }
    }
    if let Ok(concern) = reply.get_document("writeConcernError") {
        let name = &plan.names[plan.writes[range.start].namespace];
        let error = Error::from_write_error(
            name,
            None,
            concern.get_i32("code").unwrap_or_default(),
            concern.get_str("codeName").unwrap_or_default().to_owned(),
            concern.get_str("errmsg").unwrap_or_default().to_owned(),
        );
        return Outcome::failed(range.end, range.end, error, None);
    }
    Outcome::success(range.end)
}

async fn send_updates(engine: &Engine, plan: &Plan, range: Range<usize>) -> Outcome {
    let namespace = &plan.namespaces[plan.writes[range.start].namespace];
    for chunk in chunks(plan, range.clone()) {
        let mut statements = RawArrayBuf::new();
        for (offset, write) in plan.writes[chunk.clone()].iter().enumerate() {
            match update_statement(write) {
                Ok(statement) => statements.push(statement),
                Err(error) => return Outcome::failed(chunk.start + offset, chunk.start + offset, error, None),
            }
        }
        let command = write_command("update", &namespace.coll, "updates", statements);
        let outcome = run_write_command(engine, plan, chunk.clone(), command).await;
        if outcome.failure.is_some() {
            return outcome;
        }
    }
    Outcome::success(range.end)
}

/// `{<name>: collection, <list>: statements, ordered: true}`, in wire form.
fn write_command(name: &str, collection: &str, list: &str, statements: RawArrayBuf) -> RawDocumentBuf {
    let mut command = RawDocumentBuf::new();
    command.append(name, collection);
    command.append(list, statements);
    command.append("ordered", true);
    command
}

/// The `_id` of a write in wire form.
fn raw_id(id: &Bson) -> Result<RawBson> {
    RawBson::try_from(id.clone()).map_err(|err| Error::InvalidValue { path: "_id".into(), message: err.to_string() })
}

/// `{q: {_id: id}, u: update}` (with `upsert: true` for a replacement), in wire form: the
/// update documents are already raw, so nothing is converted.
fn update_statement(write: &Write) -> Result<RawDocumentBuf> {
    let mut filter = RawDocumentBuf::new();
    filter.append("_id", raw_id(&write.id)?);
    let mut statement = RawDocumentBuf::new();
    statement.append("q", filter);
    match &write.body {
        Body::Update { update, .. } => statement.append_ref("u", RawBsonRef::Document(update)),
        Body::Document(raw) => {
            statement.append_ref("u", RawBsonRef::Document(raw));
            statement.append("upsert", true);
        }
        Body::Delete => return Err(Error::InvalidStatement { message: "a delete in an update command".into() }),
    }
    Ok(statement)
}

fn to_document(raw: &RawDocumentBuf) -> Result<Document> {
    raw.to_document().map_err(|err| Error::InvalidValue { path: "<document>".into(), message: err.to_string() })
}

async fn send_deletes(engine: &Engine, plan: &Plan, range: Range<usize>) -> Outcome {
    let namespace = &plan.namespaces[plan.writes[range.start].namespace];
    for chunk in chunks(plan, range.clone()) {
        let mut ids = RawArrayBuf::new();
        for (offset, write) in plan.writes[chunk.clone()].iter().enumerate() {
            match raw_id(&write.id) {
                Ok(id) => ids.push(id),
                Err(error) => return Outcome::failed(chunk.start + offset, chunk.start + offset, error, None),
            }
        }
        let statement = rawdoc! { "q": { "_id": { "$in": ids } }, "limit": 0 };
        let mut statements = RawArrayBuf::new();
        statements.push(statement);
        let command = write_command("delete", &namespace.coll, "deletes", statements);
        let outcome = run_write_command(engine, plan, chunk.clone(), command).await;
        if let Some((error, Some(_))) = outcome.failure {
            // The one statement covers the whole chunk: a write error means none is known done.
            return Outcome::failed(chunk.start, chunk.start, error, None);
        }
        if outcome.failure.is_some() {
            return outcome;
        }
    }
    Outcome::success(range.end)
}

/// Sends the whole plan as one client `bulkWrite`. `None` when the server does not support
/// it (before MongoDB 8.0; the driver checks without a round trip).
async fn send_bulk_write(engine: &Engine, plan: &Plan) -> Option<Outcome> {
    let mut models = Vec::with_capacity(plan.writes.len());
    for (index, write) in plan.writes.iter().enumerate() {
        match write_model(write, &plan.namespaces[write.namespace]) {
            Ok(model) => models.push(model),
            Err(error) => return Some(Outcome::failed(index, index, error, None)),
        }
    }
    let result = engine.client().bulk_write(models).ordered(true).verbose_results().await;
    let err = match result {
        Ok(_) => return Some(Outcome::success(plan.writes.len())),
        Err(err) => err,
    };
    match err.kind.as_ref() {
        ErrorKind::IncompatibleServer { .. } => None,
        ErrorKind::BulkWrite(failure) => {
            if let Some((index, error)) = failure.write_errors.iter().min_by_key(|(index, _)| **index) {
                let code_name = error.code_name.clone().unwrap_or_default();
                return Some(write_failed(
                    plan,
                    0..plan.writes.len(),
                    *index,
                    error.code,
                    code_name,
                    error.message.clone(),
                ));
            }
            if let Some(concern) = failure.write_concern_errors.first() {
                let error = Error::from_write_error(
                    &plan.names[0],
                    None,
                    concern.code,
                    concern.code_name.clone(),
                    concern.message.clone(),
                );
                return Some(Outcome::failed(plan.writes.len(), plan.writes.len(), error, None));
            }
            // A top-level error (the connection dropped) after some batches succeeded.
            let acked = match &failure.partial_result {
                Some(mongodb::error::PartialBulkWriteResult::Verbose(verbose)) => acknowledged(verbose),
                _ => 0,
            }
            .min(plan.writes.len());
            let cause = std::error::Error::source(&err)
                .and_then(|source| source.downcast_ref::<mongodb::error::Error>())
                .cloned()
                .unwrap_or_else(|| err.clone());
            Some(Outcome::failed(acked, plan.writes.len(), Error::from_driver(cause, &plan.names[0], None), None))
        }
        _ => Some(command_failed(err, 0..plan.writes.len(), plan)),
    }
}

/// How many writes of an ordered bulk write succeeded: the results are a prefix.
fn acknowledged(result: &VerboseBulkWriteResult) -> usize {
    result.insert_results.len() + result.update_results.len() + result.delete_results.len()
}

fn write_model(write: &Write, namespace: &Namespace) -> Result<WriteModel> {
    let filter = doc! { "_id": write.id.clone() };
    let namespace = namespace.clone();
    Ok(match (&write.body, write.kind) {
        (Body::Delete, _) => DeleteOneModel::builder().namespace(namespace).filter(filter).build().into(),
        (Body::Update { update, .. }, _) => UpdateOneModel::builder()
            .namespace(namespace)
            .filter(filter)
            .update(UpdateModifications::Document(to_document(update)?))
            .build()
            .into(),
        (Body::Document(raw), WriteKind::Insert) => {
            InsertOneModel::builder().namespace(namespace).document(to_document(raw)?).build().into()
        }
        (Body::Document(raw), _) => ReplaceOneModel::builder()
            .namespace(namespace)
            .filter(filter)
            .replacement(to_document(raw)?)
            .upsert(true)
            .build()
            .into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(writes: usize) -> Plan {
        Plan {
            namespaces: vec![Namespace::new("db", "things")],
            names: vec!["db.things".into()],
            model_types: vec![TypeId::of::<()>()],
            writes: (0..writes)
                .map(|i| Write {
                    key: i,
                    kind: WriteKind::Insert,
                    namespace: 0,
                    id: Bson::Int64(i as i64),
                    body: Body::Delete,
                    seen: 0,
                })
                .collect(),
        }
    }

    #[test]
    fn a_write_error_marks_the_writes_before_it_acknowledged() {
        let outcome = write_failed(&plan(5), 1..4, 2, 11000, "DuplicateKey".into(), "E11000".into());
        assert_eq!((outcome.acked, outcome.uncertain_end), (3, 3));
        let (error, failed) = outcome.failure.expect("a failure");
        assert_eq!(failed, Some(3));
        assert!(matches!(error, Error::DuplicateKey { id: Some(ref id), .. } if **id == Bson::Int64(3)));
    }

    #[test]
    fn a_nonsensical_write_error_index_leaves_the_command_uncertain() {
        let outcome = write_failed(&plan(5), 1..4, 7, 2, String::new(), "bad".into());
        assert_eq!((outcome.acked, outcome.uncertain_end), (1, 4));
        assert!(matches!(outcome.failure, Some((Error::UnexpectedReply { .. }, None))));
    }

    #[test]
    fn commands_are_split_by_count_and_size() {
        let plan = plan(MAX_STATEMENTS + 10);
        let chunks = chunks(&plan, 0..plan.writes.len());
        assert_eq!(chunks, [0..MAX_STATEMENTS, MAX_STATEMENTS..MAX_STATEMENTS + 10]);
    }
}
