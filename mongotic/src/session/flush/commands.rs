//! Building a flush's commands, for sending them (`send`) and for showing them without
//! sending (`preview`): both use these builders, so a preview is what the flush sends.
//!
//! Consecutive writes of one kind to one collection go in one command: `insert` (split as the
//! driver splits an ordered `insert_many`), `update` (field updates and replacements, a
//! statement each, chunked to fit the server's limits) or `delete` (one `$in` statement, or a
//! statement per versioned document); or the whole plan in one client `bulkWrite`.

use std::ops::Range;

use bson::{Bson, Document, RawArrayBuf, RawBson, RawDocumentBuf, doc, rawdoc};
use mongodb::Namespace;
use mongodb::options::{
    DeleteOneModel, InsertOneModel, ReplaceOneModel, UpdateModifications, UpdateOneModel, WriteModel,
};

use super::outcome::Failure;
use super::plan::{Body, Plan, Write};
use crate::error::{Error, WriteKind};
use crate::session::tracked::ServerId;
use crate::wire::{self, kind};
use crate::{Engine, Result};

/// Statements per `update`/`delete` command; below the server's `maxWriteBatchSize`.
pub(crate) const MAX_STATEMENTS: usize = 50_000;
/// Estimated bytes per write command; well below the 16 MiB command limit (a command is one
/// BSON document; a single larger write goes alone).
const MAX_COMMAND_BYTES: usize = 12 * 1024 * 1024;
/// Documents per `insert` command: the server's `maxWriteBatchSize`.
const MAX_INSERTS: usize = 100_000;

/// The command a write belongs to.
#[derive(PartialEq, Eq, Clone, Copy)]
pub(crate) enum Command {
    Insert,
    Update,
    Delete,
}

impl Command {
    /// The command's name, as the server knows it.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Command::Insert => "insert",
            Command::Update => "update",
            Command::Delete => "delete",
        }
    }
}

fn command_of(kind: WriteKind) -> Command {
    match kind {
        WriteKind::Insert => Command::Insert,
        WriteKind::Update | WriteKind::Replace | WriteKind::Upsert => Command::Update,
        WriteKind::Delete => Command::Delete,
    }
}

/// Consecutive runs of writes that go in one command.
pub(crate) fn groups(writes: &[Write]) -> Vec<(Command, Range<usize>)> {
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

/// Splits `range` (one group of [`groups`]) into chunks that fit one command.
pub(crate) fn chunks(plan: &Plan, range: Range<usize>) -> Vec<Range<usize>> {
    let most = match range.clone().next().map(|index| command_of(plan.writes[index].kind)) {
        Some(Command::Insert) => MAX_INSERTS,
        _ => MAX_STATEMENTS,
    };
    let mut chunks = Vec::new();
    let mut start = range.start;
    let mut bytes = 0;
    for index in range.clone() {
        let size = plan.writes[index].estimated_size();
        if index > start && (index - start >= most || bytes + size > MAX_COMMAND_BYTES) {
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

/// The command of `chunk` (one of [`chunks`]) of a group of `command`s to `collection`.
pub(crate) fn write_command(
    command: Command,
    collection: &str,
    plan: &Plan,
    chunk: Range<usize>,
) -> std::result::Result<RawDocumentBuf, Failure> {
    match command {
        Command::Insert => statements_command("insert", "documents", collection, plan, chunk, append_inserted),
        Command::Update => statements_command("update", "updates", collection, plan, chunk, append_update_statement),
        Command::Delete => delete_command(collection, plan, chunk),
    }
}

/// `{name: collection, list: [an element per write], ordered: true}`, written straight in wire
/// form into one buffer sized up front; `element` appends a write's element under `key`.
fn statements_command(
    name: &str,
    list: &str,
    collection: &str,
    plan: &Plan,
    chunk: Range<usize>,
    element: fn(&mut Vec<u8>, &[u8], &Write) -> Result<()>,
) -> std::result::Result<RawDocumentBuf, Failure> {
    let writes = &plan.writes[chunk.clone()];
    let size = 64 + collection.len() + writes.iter().map(statement_size).sum::<usize>();
    let mut out = Vec::with_capacity(size);
    let command = wire::start(&mut out);
    let mut written = wire::append_str(&mut out, name, collection);
    let items = wire::begin(&mut out, kind::ARRAY, list.as_bytes());
    let mut digits = [0; 20];
    for (offset, write) in writes.iter().enumerate() {
        element(&mut out, wire::index_key(offset, &mut digits), write)
            .map_err(|error| Failure::plain(error, Some(chunk.start + offset)))?;
    }
    written &= wire::end(&mut out, items);
    wire::append(&mut out, kind::BOOLEAN, b"ordered", &[1]);
    written &= wire::end(&mut out, command);
    written.then(|| RawDocumentBuf::from_bytes(out).ok()).flatten().ok_or_else(|| Failure::plain(too_large(), None))
}

/// An insert's element: the document, as the flush serialized it.
fn append_inserted(out: &mut Vec<u8>, key: &[u8], write: &Write) -> Result<()> {
    match &write.body {
        Body::Document(document) => {
            wire::append(out, kind::DOCUMENT, key, document.as_bytes());
            Ok(())
        }
        _ => Err(Error::InvalidStatement { message: "an insert without a document".into() }),
    }
}

/// About the bytes a write's update statement takes.
fn statement_size(write: &Write) -> usize {
    48 + match &write.body {
        Body::Update { update, .. } => update.as_bytes().len(),
        Body::Document(document) => document.as_bytes().len(),
        Body::Upsert { filter, update, .. } => filter.as_bytes().len() + update.as_bytes().len(),
        Body::Delete => 0,
    }
}

fn too_large() -> Error {
    Error::InvalidStatement { message: "a write command longer than BSON allows".into() }
}

/// An update's element: `{q: {_id: id}, u: update}` (with `upsert: true` for a merge), or
/// `{q: key, u: update, upsert: true}` for an upsert on a natural key.
fn append_update_statement(out: &mut Vec<u8>, key: &[u8], write: &Write) -> Result<()> {
    let statement = wire::begin(out, kind::DOCUMENT, key);
    append_update_fields(out, write)?;
    if wire::end(out, statement) { Ok(()) } else { Err(too_large()) }
}

/// The fields of [`append_update_statement`]'s statement.
fn append_update_fields(out: &mut Vec<u8>, write: &Write) -> Result<()> {
    if let Body::Upsert { filter, update, .. } = &write.body {
        wire::append(out, kind::DOCUMENT, b"q", filter.as_bytes());
        wire::append(out, kind::DOCUMENT, b"u", update.as_bytes());
        wire::append(out, kind::BOOLEAN, b"upsert", &[1]);
        return Ok(());
    }
    let filter = wire::begin(out, kind::DOCUMENT, b"q");
    append_filter_fields(out, write)?;
    if !wire::end(out, filter) {
        return Err(too_large());
    }
    match &write.body {
        Body::Update { update, .. } => wire::append(out, kind::DOCUMENT, b"u", update.as_bytes()),
        Body::Document(raw) => {
            wire::append(out, kind::DOCUMENT, b"u", raw.as_bytes());
            if write.upsert {
                wire::append(out, kind::BOOLEAN, b"upsert", &[1]);
            }
        }
        Body::Delete | Body::Upsert { .. } => {
            return Err(Error::InvalidStatement { message: "a delete in an update command".into() });
        }
    }
    Ok(())
}

/// The `delete` command for `chunk`: one statement, `_id` in the chunk's ids; or, for
/// versioned entities or a sharded collection, one statement per document with its version
/// and its shard key.
fn delete_command(collection: &str, plan: &Plan, chunk: Range<usize>) -> std::result::Result<RawDocumentBuf, Failure> {
    if plan.writes[chunk.clone()].iter().any(|write| write.version.is_some() || write.key.is_some()) {
        let mut statements = RawArrayBuf::new();
        for (offset, write) in plan.writes[chunk.clone()].iter().enumerate() {
            match filter_of(write) {
                Ok(filter) => statements.push(rawdoc! { "q": filter, "limit": 1 }),
                Err(error) => return Err(Failure::plain(error, Some(chunk.start + offset))),
            }
        }
        return Ok(delete_statements(collection, statements));
    }
    let mut ids = RawArrayBuf::new();
    for (offset, write) in plan.writes[chunk.clone()].iter().enumerate() {
        match raw_id(&write.id_bson()) {
            Ok(id) => ids.push(id),
            Err(error) => return Err(Failure::plain(error, Some(chunk.start + offset))),
        }
    }
    let mut statements = RawArrayBuf::new();
    statements.push(rawdoc! { "q": { "_id": { "$in": ids } }, "limit": 0 });
    Ok(delete_statements(collection, statements))
}

/// `{delete: collection, deletes: statements, ordered: true}`, in wire form.
fn delete_statements(collection: &str, statements: RawArrayBuf) -> RawDocumentBuf {
    let mut command = RawDocumentBuf::new();
    command.append("delete", collection);
    command.append("deletes", statements);
    command.append("ordered", true);
    command
}

/// The filter of a write to an existing document: its `_id`, and for a versioned entity the
/// version the session last saw. Version 0 also matches a document without the field (one
/// written before the model had it, read as 0 through `#[serde(default)]`).
pub(crate) fn filter_of(write: &Write) -> Result<RawDocumentBuf> {
    if let Body::Upsert { filter, .. } = &write.body {
        return Ok(filter.clone());
    }
    let mut out = Vec::with_capacity(48);
    let filter = wire::start(&mut out);
    append_filter_fields(&mut out, write)?;
    if !wire::end(&mut out, filter) {
        return Err(too_large());
    }
    RawDocumentBuf::from_bytes(out).map_err(|err| Error::InvalidValue { path: "_id".into(), message: err.to_string() })
}

/// The elements of [`filter_of`].
fn append_filter_fields(out: &mut Vec<u8>, write: &Write) -> Result<()> {
    append_id(out, &write.id)?;
    if let Some(key) = &write.key {
        // The key's elements, as they are: past the int32 length, before the final NUL.
        let bytes = key.as_bytes();
        out.extend_from_slice(bytes.get(4..bytes.len().saturating_sub(1)).unwrap_or_default());
    }
    if let Some(check) = write.version {
        let field = check.field.as_bytes();
        if field.contains(&0) {
            return Err(Error::InvalidValue { path: check.field.into(), message: "a field name holding a NUL".into() });
        }
        if check.expected == 0 {
            let condition = wire::begin(out, kind::DOCUMENT, field);
            let list = wire::begin(out, kind::ARRAY, b"$in");
            wire::append(out, kind::INT64, b"0", &0_i64.to_le_bytes());
            wire::append(out, kind::NULL, b"1", &[]);
            if !(wire::end(out, list) && wire::end(out, condition)) {
                return Err(too_large());
            }
        } else {
            wire::append(out, kind::INT64, field, &check.expected.to_le_bytes());
        }
    }
    Ok(())
}

/// The element `_id: id`, an `ObjectId` without going through `RawBson`.
fn append_id(out: &mut Vec<u8>, id: &ServerId) -> Result<()> {
    // The common ids, written directly.
    let id = match id {
        ServerId::ObjectId(oid) => {
            wire::append(out, kind::OBJECT_ID, b"_id", &oid.bytes());
            return Ok(());
        }
        ServerId::Int32(value) => {
            wire::append(out, kind::INT32, b"_id", &value.to_le_bytes());
            return Ok(());
        }
        ServerId::Int64(value) => {
            wire::append(out, kind::INT64, b"_id", &value.to_le_bytes());
            return Ok(());
        }
        ServerId::Other(id) => id,
    };
    if let Bson::String(text) = &**id
        && wire::append_str(out, "_id", text)
    {
        return Ok(());
    }
    let mut single = RawDocumentBuf::new();
    single.append("_id", raw_id(id)?);
    // The document's one element: past the int32 length, before the final NUL.
    let bytes = single.as_bytes();
    out.extend_from_slice(bytes.get(4..bytes.len().saturating_sub(1)).unwrap_or_default());
    Ok(())
}

/// The `_id` of a write in wire form.
fn raw_id(id: &Bson) -> Result<RawBson> {
    RawBson::try_from(id.clone()).map_err(|err| Error::InvalidValue { path: "_id".into(), message: err.to_string() })
}

pub(crate) fn to_document(raw: &RawDocumentBuf) -> Result<Document> {
    raw.to_document().map_err(|err| Error::InvalidValue { path: "<document>".into(), message: err.to_string() })
}

/// Sends the whole plan as one client `bulkWrite`. `None` when the server does not support
/// it (before MongoDB 8.0; the driver checks without a round trip); otherwise the failure, if
pub(crate) fn write_model(write: &Write, namespace: &Namespace) -> Result<WriteModel> {
    let filter = to_document(&filter_of(write)?)?;
    let namespace = namespace.clone();
    Ok(match (&write.body, write.kind) {
        (Body::Delete, _) => DeleteOneModel::builder().namespace(namespace).filter(filter).build().into(),
        (Body::Update { update, .. }, _) => UpdateOneModel::builder()
            .namespace(namespace)
            .filter(filter)
            .update(UpdateModifications::Document(to_document(update)?))
            .build()
            .into(),
        (Body::Upsert { update, .. }, _) => UpdateOneModel::builder()
            .namespace(namespace)
            .filter(filter)
            .update(UpdateModifications::Document(to_document(update)?))
            .upsert(true)
            .build()
            .into(),
        (Body::Document(raw), WriteKind::Insert) => {
            InsertOneModel::builder().namespace(namespace).document(to_document(raw)?).build().into()
        }
        (Body::Document(raw), _) => ReplaceOneModel::builder()
            .namespace(namespace)
            .filter(filter)
            .replacement(to_document(raw)?)
            .upsert(write.upsert)
            .build()
            .into(),
    })
}

/// `true` when `groups` go in one client `bulkWrite`: they span several commands, and the
/// server has the command (or it is not known yet that it has not).
pub(crate) fn uses_bulk_write(engine: &Engine, groups: &[(Command, Range<usize>)]) -> bool {
    groups.len() > 1 && engine.bulk_write_supported() != Some(false)
}

/// The commands a flush of `plan` sends when nothing fails: one `bulkWrite`, or one per
/// group and chunk.
pub(crate) fn command_count(engine: &Engine, plan: &Plan) -> usize {
    let groups = groups(&plan.writes);
    if uses_bulk_write(engine, &groups) {
        return 1;
    }
    groups.into_iter().map(|(_, range)| chunks(plan, range).len()).sum()
}

/// The client `bulkWrite` command of the whole plan, as the driver builds it: the namespaces
/// are listed in the order the operations first use them.
pub(crate) fn bulk_write_command(plan: &Plan) -> Result<Document> {
    let mut listed: Vec<usize> = Vec::new();
    let mut ops = Vec::with_capacity(plan.writes.len());
    for write in &plan.writes {
        let index = match listed.iter().position(|namespace| *namespace == write.namespace) {
            Some(index) => index,
            None => {
                listed.push(write.namespace);
                listed.len() - 1
            }
        };
        ops.push(bulk_op(write, index)?);
    }
    let namespaces: Vec<Bson> =
        listed.iter().map(|namespace| Bson::Document(doc! { "ns": &plan.names[*namespace] })).collect();
    Ok(doc! { "bulkWrite": 1, "errorsOnly": false, "ordered": true, "ops": ops, "nsInfo": namespaces })
}

fn bulk_op(write: &Write, index: usize) -> Result<Bson> {
    let index = i32::try_from(index)
        .map_err(|_| Error::InvalidStatement { message: "too many collections in one flush".into() })?;
    let filter = || -> Result<Document> { to_document(&filter_of(write)?) };
    let op = match (&write.body, write.kind) {
        (Body::Document(doc), WriteKind::Insert) => doc! { "insert": index, "document": to_document(doc)? },
        (Body::Document(doc), _) => doc! {
            "update": index,
            "multi": false,
            "filter": filter()?,
            "updateMods": to_document(doc)?,
            "upsert": write.upsert,
        },
        (Body::Update { update, .. }, _) => doc! {
            "update": index,
            "multi": false,
            "filter": filter()?,
            "updateMods": to_document(update)?,
        },
        (Body::Upsert { update, .. }, _) => doc! {
            "update": index,
            "multi": false,
            "filter": filter()?,
            "updateMods": to_document(update)?,
            "upsert": true,
        },
        (Body::Delete, _) => doc! { "delete": index, "multi": false, "filter": filter()? },
    };
    Ok(Bson::Document(op))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::flush::plan::test_plan as plan;

    #[test]
    fn update_commands_are_written_in_wire_form() {
        use bson::oid::ObjectId;

        use crate::session::flush::prepare::VersionCheck;

        let oid = ObjectId::new();
        let mut plan = plan(4);
        plan.writes[0].id = ServerId::ObjectId(oid);
        plan.writes[0].body = Body::Update { update: rawdoc! { "$set": { "a": 1 } }, snapshot: rawdoc! {} };
        plan.writes[1].id = ServerId::new(Bson::String("x".into()));
        plan.writes[1].body = Body::Document(rawdoc! { "_id": "x", "b": 2 });
        plan.writes[1].upsert = true;
        plan.writes[2].body = Body::Update { update: rawdoc! { "$unset": { "c": "" } }, snapshot: rawdoc! {} };
        plan.writes[2].version = Some(VersionCheck { field: "v", expected: 0, written: 1 });
        plan.writes[3].body = Body::Document(rawdoc! { "_id": 3, "v": 6 });
        plan.writes[3].version = Some(VersionCheck { field: "v", expected: 5, written: 6 });
        let command =
            write_command(Command::Update, "things", &plan, 0..4).map_err(|failure| failure.error).expect("built");
        assert_eq!(
            command.to_document().expect("valid"),
            bson::doc! {
                "update": "things",
                "updates": [
                    { "q": { "_id": oid }, "u": { "$set": { "a": 1 } } },
                    { "q": { "_id": "x" }, "u": { "_id": "x", "b": 2 }, "upsert": true },
                    { "q": { "_id": 2_i64, "v": { "$in": [0_i64, null] } }, "u": { "$unset": { "c": "" } } },
                    { "q": { "_id": 3_i64, "v": 5_i64 }, "u": { "_id": 3, "v": 6 } },
                ],
                "ordered": true,
            }
        );
        assert_eq!(filter_of(&plan.writes[3]).expect("built"), rawdoc! { "_id": 3_i64, "v": 5_i64 });
        plan.writes[0].body = Body::Delete;
        assert_eq!(
            write_command(Command::Update, "things", &plan, 0..4).err().and_then(|failure| failure.failed),
            Some(0)
        );
    }

    #[test]
    fn commands_are_split_by_count_and_size() {
        let plan = plan(MAX_STATEMENTS + 10);
        let chunks = chunks(&plan, 0..plan.writes.len());
        assert_eq!(chunks, [0..MAX_STATEMENTS, MAX_STATEMENTS..MAX_STATEMENTS + 10]);
    }

    #[test]
    fn insert_commands_carry_the_documents_as_serialized_and_split_at_the_server_batch_size() {
        let inserts = |count: usize| {
            let mut inserts = plan(count);
            for (index, write) in inserts.writes.iter_mut().enumerate() {
                write.kind = WriteKind::Insert;
                write.body = Body::Document(rawdoc! { "_id": index as i64, "n": "x" });
            }
            inserts
        };
        let mut three = inserts(3);
        let command =
            write_command(Command::Insert, "things", &three, 0..3).map_err(|failure| failure.error).expect("built");
        assert_eq!(
            command.to_document().expect("valid"),
            bson::doc! {
                "insert": "things",
                "documents": [{ "_id": 0_i64, "n": "x" }, { "_id": 1_i64, "n": "x" }, { "_id": 2_i64, "n": "x" }],
                "ordered": true,
            }
        );
        three.writes[1].body = Body::Delete;
        let refused = write_command(Command::Insert, "things", &three, 0..3).err();
        assert_eq!(refused.and_then(|failure| failure.failed), Some(1), "the write without a document is named");

        let many = inserts(MAX_INSERTS + 1);
        assert_eq!(chunks(&many, 0..many.writes.len()), [0..MAX_INSERTS, MAX_INSERTS..MAX_INSERTS + 1]);
    }
}
