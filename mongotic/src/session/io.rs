//! The one place every statement's command goes through on its way to the server: a select
//! and its terminal methods, `get`, `get_many`, relation loads, `distinct`, aggregations and
//! the bulk statements all open an [`Io`] and send through it.
//!
//! An `Io` holds what every command of a statement needs, decided once: the driver session
//! (the explicit transaction's, or the session's causally consistent one), the options in
//! force (the statement's over the session's over the factory's, checked against the
//! transaction), the statement's scope (the model's soft-delete and tenant filters, see
//! `scope`), and the statement's tracing span. Each of its methods narrows the command's
//! filter to the scope, applies the options to the driver's command, runs it in the session,
//! bounds it by the client-side time limit and records the outcome on the span, so no path can
//! forget one of them.

use std::future::{Future, IntoFuture};
use std::time::Duration;

use bson::{Bson, Document, RawDocumentBuf};
use futures::TryStreamExt;
use mongodb::options::{
    AggregateOptions, CountOptions, DeleteOptions, DistinctOptions, FindOneOptions, FindOptions, InsertManyOptions,
    ReadPreference, UpdateModifications, UpdateOptions,
};
use mongodb::results::{DeleteResult, UpdateResult};
use mongodb::{Collection, Cursor, Namespace, SessionCursor};
use tracing::{Instrument, Span};

use super::Session;
use super::scope::Scope;
use super::transaction::Transaction;
use crate::model::ModelMeta;
use crate::options::{DriverOptions, Options};
use crate::{Engine, Error, Result, telemetry};

/// What a `find` asks for besides its filter.
#[derive(Default)]
pub(crate) struct FindShape {
    pub(crate) sort: Option<Document>,
    pub(crate) projection: Option<Document>,
    pub(crate) skip: Option<u64>,
    pub(crate) limit: Option<i64>,
    pub(crate) batch_size: Option<u32>,
}

/// The commands of one statement on one collection: see the module.
pub(crate) struct Io<'a> {
    engine: &'a Engine,
    txn: &'a mut Transaction,
    options: Options,
    scope: Scope,
    namespace: Namespace,
    name: String,
    span: Span,
}

impl Session {
    /// Opens the I/O of a statement on the collection of `meta`: `operation` names it in
    /// telemetry, `statement` holds the statement's own options.
    pub(crate) async fn io(
        &mut self,
        meta: &'static ModelMeta,
        operation: &'static str,
        statement: &Options,
    ) -> Result<Io<'_>> {
        let options = self.effective_options(statement)?;
        let scope = Scope::of(meta, self.uow.tenant(), &options)?;
        let namespace = self.engine.namespace(meta)?;
        self.txn.ready(&self.engine).await?;
        let span = telemetry::statement(operation, &namespace, self.txn.span());
        if !scope.kind().is_empty() {
            span.record("mongotic.scope", scope.kind());
        }
        let name = namespace.to_string();
        Ok(Io { engine: &self.engine, txn: &mut self.txn, options, scope, name, namespace, span })
    }

    /// The options in force for a statement with `statement`'s: its own over the session's
    /// (which hold the factory's). In an explicit transaction, the transaction's read and write
    /// concern and read preference hold: a statement that sets its own, or a read preference
    /// other than primary, is refused before anything is sent.
    pub(crate) fn effective_options(&self, statement: &Options) -> Result<Options> {
        let mut options = statement.over(&self.options);
        if self.txn.is_explicit() {
            let refused = if statement.read_concern.is_some() {
                Some(
                    "a statement in a transaction cannot set its read concern: the transaction's holds (set it at begin_with)",
                )
            } else if statement.write_concern.is_some() {
                Some(
                    "a statement in a transaction cannot set its write concern: the transaction's holds (set it at begin_with)",
                )
            } else if options
                .read_preference
                .as_ref()
                .is_some_and(|preference| !matches!(preference, ReadPreference::Primary))
            {
                Some("a transaction reads from the primary: a read preference for secondaries cannot apply in it")
            } else {
                None
            };
            if let Some(message) = refused {
                return Err(Error::InvalidOptions { message: message.into() });
            }
            options.read_concern = None;
            options.write_concern = None;
            options.read_preference = None;
        }
        Ok(options)
    }
}

impl Io<'_> {
    /// `database.collection`.
    pub(crate) fn namespace(&self) -> &str {
        &self.name
    }

    /// The statement's span.
    pub(crate) fn span(&self) -> &Span {
        &self.span
    }

    /// The options in force.
    pub(crate) fn options(&self) -> &Options {
        &self.options
    }

    /// The statement's scope.
    pub(crate) fn scope(&self) -> &Scope {
        &self.scope
    }

    fn collection(&self) -> Result<Collection<RawDocumentBuf>> {
        self.engine.raw_collection(&self.namespace)
    }

    /// Opens the cursor of a `find`. Its span stays open with the cursor (the caller records
    /// the rows read); a failure to open is recorded on it here.
    pub(crate) async fn find(self, filter: Document, shape: FindShape) -> Result<(Rows, Span)> {
        let mut options = FindOptions::from_options(&self.options);
        options.sort = shape.sort;
        options.projection = shape.projection;
        options.skip = shape.skip;
        options.limit = shape.limit;
        options.batch_size = shape.batch_size.or(options.batch_size);
        let collection = self.collection()?;
        let find = collection.find(self.scope.narrow(filter)).with_options(options);
        let limit = self.options.timeout;
        let failed = |err| Error::from_driver(err, &self.name, None);
        let opened = match self.txn.client_session()? {
            Some(session) => {
                bounded(limit, &self.name, async {
                    find.session(session).into_future().await.map(Rows::InSession).map_err(failed)
                })
                .instrument(self.span.clone())
                .await
            }
            None => {
                bounded(limit, &self.name, async { find.into_future().await.map(Rows::Plain).map_err(failed) })
                    .instrument(self.span.clone())
                    .await
            }
        };
        match opened {
            Ok(rows) => Ok((rows, self.span)),
            Err(err) => {
                telemetry::failed(&self.span, &err);
                Err(err)
            }
        }
    }

    /// The one stored document with `_id` `id`.
    pub(crate) async fn find_by_id(self, id: &Bson) -> Result<Option<RawDocumentBuf>> {
        let options = FindOneOptions::from_options(&self.options);
        let collection = self.collection()?;
        let find = collection.find_one(self.scope.narrow(bson::doc! { "_id": id.clone() })).with_options(options);
        let failed = |err| Error::from_driver(err, &self.name, Some(id));
        let rows = |found: &Option<RawDocumentBuf>| u64::from(found.is_some());
        let session = self.txn.client_session()?;
        let limit = self.options.timeout;
        telemetry::one_command(
            self.span,
            "db.response.returned_rows",
            rows,
            bounded(limit, &self.name, async move {
                match session {
                    Some(session) => find.session(session).await.map_err(failed),
                    None => find.await.map_err(failed),
                }
            }),
        )
        .await
    }

    /// The number of documents matching `filter` (after `skip`, at most `limit`).
    pub(crate) async fn count(self, filter: Document, skip: Option<u64>, limit: Option<u64>) -> Result<u64> {
        let mut options = CountOptions::from_options(&self.options);
        options.skip = skip;
        options.limit = limit;
        let collection = self.collection()?;
        let count = collection.count_documents(self.scope.narrow(filter)).with_options(options);
        let name = self.name.as_str();
        let failed = move |err| Error::from_driver(err, name, None);
        let session = self.txn.client_session()?;
        let limit = self.options.timeout;
        let work = bounded(limit, &self.name, async move {
            match session {
                Some(session) => count.session(session).await.map_err(failed),
                None => count.await.map_err(failed),
            }
        });
        telemetry::one_command(self.span.clone(), "db.response.returned_rows", |count| *count, work).await
    }

    /// Whether a document matches `filter` (after `skip`): one `_id` at most is fetched.
    pub(crate) async fn exists(self, filter: Document, skip: Option<u64>) -> Result<bool> {
        let mut options = FindOptions::from_options(&self.options);
        options.projection = Some(bson::doc! { "_id": 1 });
        options.skip = skip;
        options.limit = Some(1);
        let collection = self.collection()?;
        let find = collection.find(self.scope.narrow(filter)).with_options(options);
        let name = self.name.as_str();
        let failed = move |err| Error::from_driver(err, name, None);
        let session = self.txn.client_session()?;
        let limit = self.options.timeout;
        let work = bounded(limit, &self.name, async move {
            match session {
                Some(session) => {
                    let mut cursor = find.session(&mut *session).await.map_err(failed)?;
                    cursor.advance(session).await.map_err(failed)
                }
                None => find.await.map_err(failed)?.advance().await.map_err(failed),
            }
        });
        telemetry::one_command(self.span.clone(), "db.response.returned_rows", |found| u64::from(*found), work).await
    }

    /// The distinct values of `field` among the documents matching `filter`.
    pub(crate) async fn distinct(self, field: &str, filter: Document) -> Result<Vec<Bson>> {
        let options = DistinctOptions::from_options(&self.options);
        let collection = self.collection()?;
        let distinct = collection.distinct(field, self.scope.narrow(filter)).with_options(options);
        let name = self.name.as_str();
        let failed = move |err| Error::from_driver(err, name, None);
        let session = self.txn.client_session()?;
        let limit = self.options.timeout;
        let work = bounded(limit, &self.name, async move {
            match session {
                Some(session) => distinct.session(session).await.map_err(failed),
                None => distinct.await.map_err(failed),
            }
        });
        telemetry::one_command(self.span.clone(), "db.response.returned_rows", |values| values.len() as u64, work).await
    }

    /// Every result of the aggregation `pipeline`, as stored bytes.
    pub(crate) async fn aggregate(self, pipeline: Vec<Document>) -> Result<Vec<RawDocumentBuf>> {
        let options = AggregateOptions::from_options(&self.options);
        let collection = self.collection()?;
        let pipeline = self.scope.narrow_pipeline(pipeline);
        let aggregate = collection.aggregate(pipeline).with_options(options).with_type::<RawDocumentBuf>();
        let name = self.name.as_str();
        let failed = move |err| Error::from_driver(err, name, None);
        let session = self.txn.client_session()?;
        let limit = self.options.timeout;
        let work = bounded(limit, &self.name, async move {
            match session {
                Some(session) => {
                    let mut cursor = aggregate.session(&mut *session).await.map_err(failed)?;
                    cursor.stream(session).try_collect().await.map_err(failed)
                }
                None => aggregate.await.map_err(failed)?.try_collect().await.map_err(failed),
            }
        });
        telemetry::one_command(self.span.clone(), "db.response.returned_rows", |rows: &Vec<_>| rows.len() as u64, work)
            .await
    }

    /// Inserts `docs` in order; an error names the `_id` (from `ids`) of the one that failed.
    /// Each document must carry the scope's tenant (the caller stamps it).
    pub(crate) async fn insert_many(self, docs: &[RawDocumentBuf], ids: &[Bson]) -> Result<u64> {
        for (doc, id) in docs.iter().zip(ids) {
            self.scope.check_insert(doc, &self.name, id)?;
        }
        let options = InsertManyOptions::from_options(&self.options);
        let collection = self.collection()?;
        let insert = collection.insert_many(docs).with_options(options);
        let name = self.name.clone();
        let session = self.txn.client_session()?;
        let limit = self.options.timeout;
        let count = docs.len() as u64;
        let work = bounded(limit, &self.name, async move {
            let inserted = match session {
                Some(session) => insert.session(session).await,
                None => insert.await,
            };
            inserted.map(|_| count).map_err(|err| insert_error(err, &name, ids))
        });
        telemetry::one_command(self.span.clone(), "mongotic.documents_written", |written| *written, work).await
    }

    /// Applies `update` to every document matching `filter`: an update that would change the
    /// tenant field is refused.
    pub(crate) async fn update_many(self, filter: Document, update: UpdateModifications) -> Result<UpdateResult> {
        self.scope.check_update(&update, &self.name)?;
        let options = UpdateOptions::from_options(&self.options);
        let collection = self.collection()?;
        let update = collection.update_many(self.scope.narrow(filter), update).with_options(options);
        let name = self.name.as_str();
        let failed = move |err| Error::from_driver(err, name, None);
        let session = self.txn.client_session()?;
        let limit = self.options.timeout;
        let work = bounded(limit, &self.name, async move {
            match session {
                Some(session) => update.session(session).await.map_err(failed),
                None => update.await.map_err(failed),
            }
        });
        let written = |result: &UpdateResult| result.modified_count;
        telemetry::one_command(self.span.clone(), "mongotic.documents_written", written, work).await
    }

    /// Deletes every document matching `filter`.
    pub(crate) async fn delete_many(self, filter: Document) -> Result<DeleteResult> {
        let options = DeleteOptions::from_options(&self.options);
        let collection = self.collection()?;
        let delete = collection.delete_many(self.scope.narrow(filter)).with_options(options);
        let name = self.name.as_str();
        let failed = move |err| Error::from_driver(err, name, None);
        let session = self.txn.client_session()?;
        let limit = self.options.timeout;
        let work = bounded(limit, &self.name, async move {
            match session {
                Some(session) => delete.session(session).await.map_err(failed),
                None => delete.await.map_err(failed),
            }
        });
        let written = |result: &DeleteResult| result.deleted_count;
        telemetry::one_command(self.span.clone(), "mongotic.documents_written", written, work).await
    }
}

/// What the server did with the statements of an upsert.
#[derive(Debug, Default)]
pub(crate) struct Upserted {
    /// Statements that matched a document.
    pub(crate) matched: u64,
    /// Documents the matched statements changed.
    pub(crate) modified: u64,
    /// The statements that inserted a document, in order.
    pub(crate) inserted: Vec<usize>,
}

/// Statements per `update` command of an upsert, and their bytes: below the server's limits.
const UPSERTS_PER_COMMAND: usize = 50_000;
const UPSERT_COMMAND_BYTES: usize = 12 * 1024 * 1024;
/// How many times a statement that lost the race for its key is sent again.
const RACE_RETRIES: usize = 3;

impl Io<'_> {
    /// Runs `statements` (filter, update) as upserts, in unordered `update` commands: each
    /// filter is one value's key, narrowed by the caller to the scope's equalities. A statement
    /// whose insert lost the race for its key to another writer (a duplicate key error) is sent
    /// again, and then updates the winner's document.
    pub(crate) async fn upsert_many(self, statements: &[(RawDocumentBuf, RawDocumentBuf)]) -> Result<Upserted> {
        for (_, update) in statements {
            self.scope.check_raw_update(update, &self.name)?;
        }
        let limit = self.options.timeout;
        let span = self.span.clone();
        let name = self.name.clone();
        let work = bounded(limit, &name, self.send_upserts(statements));
        telemetry::one_command(
            span,
            "mongotic.documents_written",
            |done: &Upserted| done.inserted.len() as u64 + done.modified,
            work,
        )
        .await
    }

    async fn send_upserts(self, statements: &[(RawDocumentBuf, RawDocumentBuf)]) -> Result<Upserted> {
        let database = self.engine.raw_database(&self.namespace.db)?;
        let mut done = Upserted::default();
        let mut pending: Vec<usize> = (0..statements.len()).collect();
        let mut duplicate = None;
        for _ in 0..=RACE_RETRIES {
            let mut lost = Vec::new();
            for chunk in upsert_chunks(statements, &pending) {
                let command = self.upsert_command(statements, chunk)?;
                let reply = match self.txn.client_session()? {
                    Some(session) => database.run_raw_command(command).session(session).await,
                    None => database.run_raw_command(command).await,
                }
                .map_err(|err| Error::from_driver(err, &self.name, None))?;
                let reply = UpsertReply::read(&reply, chunk, &self.name)?;
                done.matched += reply.matched;
                done.modified += reply.modified;
                done.inserted.extend(reply.inserted);
                lost.extend(reply.lost);
                duplicate = reply.duplicate.or(duplicate);
                if let Some(error) = reply.error {
                    return Err(error);
                }
            }
            if lost.is_empty() {
                done.inserted.sort_unstable();
                return Ok(done);
            }
            pending = lost;
        }
        // Still a duplicate after the retries: not a race for the key, but another unique
        // index (or a soft-deleted document holding the key).
        Err(duplicate.unwrap_or_else(|| Error::InvalidStatement {
            message: format!("upserts into {} kept failing on duplicate keys", self.name),
        }))
    }

    /// `{update: collection, updates: [{q, u, upsert: true}, ...], ordered: false}` for the
    /// statements `chunk`, with the statement's comment and write concern.
    fn upsert_command(
        &self,
        statements: &[(RawDocumentBuf, RawDocumentBuf)],
        chunk: &[usize],
    ) -> Result<RawDocumentBuf> {
        let chosen =
            chunk.iter().filter_map(|index| statements.get(*index)).map(|(filter, update)| (filter, update, true));
        self.update_command(chosen, false)
    }

    /// Runs `statements` (filter, update, upsert) in order, as one `update` command in the
    /// session's transaction when there is one: the crate's own bookkeeping writes (a
    /// migration's ledger), which land or fail with the unit's other writes. Returns how many
    /// statements matched or upserted a document; a write error or a write concern error is
    /// the error. The filters are taken as given: this is for collections without a scope.
    pub(crate) async fn update_in_order(self, statements: &[(RawDocumentBuf, RawDocumentBuf, bool)]) -> Result<u64> {
        for (_, update, _) in statements {
            self.scope.check_raw_update(update, &self.name)?;
        }
        let command =
            self.update_command(statements.iter().map(|(filter, update, upsert)| (filter, update, *upsert)), true)?;
        let database = self.engine.raw_database(&self.namespace.db)?;
        let every: Vec<usize> = (0..statements.len()).collect();
        let (name, limit, span) = (self.name.clone(), self.options.timeout, self.span.clone());
        let txn = self.txn;
        let work = bounded(limit, &name, async {
            let reply = match txn.client_session()? {
                Some(session) => database.run_raw_command(command).session(session).await,
                None => database.run_raw_command(command).await,
            }
            .map_err(|err| Error::from_driver(err, &name, None))?;
            let reply = UpsertReply::read(&reply, &every, &name)?;
            match reply.error.or(reply.duplicate) {
                Some(error) => Err(error),
                None => Ok(reply.matched + reply.inserted.len() as u64),
            }
        });
        telemetry::one_command(span, "mongotic.documents_written", |matched: &u64| *matched, work).await
    }

    /// `{update: collection, updates: [{q, u, upsert}, ...], ordered}`, with the statement's
    /// comment and, outside a transaction, its write concern.
    fn update_command<'s>(
        &self,
        statements: impl Iterator<Item = (&'s RawDocumentBuf, &'s RawDocumentBuf, bool)>,
        ordered: bool,
    ) -> Result<RawDocumentBuf> {
        let mut updates = bson::RawArrayBuf::new();
        for (filter, update, upsert) in statements {
            let mut statement = RawDocumentBuf::new();
            statement.append("q", filter.clone());
            statement.append("u", update.clone());
            if upsert {
                statement.append("upsert", true);
            }
            updates.push(statement);
        }
        let mut command = RawDocumentBuf::new();
        command.append("update", self.namespace.coll.as_str());
        command.append("updates", updates);
        command.append("ordered", ordered);
        if let Some(comment) = &self.options.comment
            && let Ok(comment) = bson::RawBson::try_from(comment.clone())
        {
            command.append("comment", comment);
        }
        if !self.txn.is_explicit()
            && let Some(concern) = self.engine.wire_write_concern(&self.options)
        {
            command.append("writeConcern", concern);
        }
        Ok(command)
    }
}

/// The statements `pending` in chunks that fit one command.
fn upsert_chunks<'p>(statements: &[(RawDocumentBuf, RawDocumentBuf)], pending: &'p [usize]) -> Vec<&'p [usize]> {
    let mut chunks = Vec::new();
    let (mut start, mut bytes) = (0, 0);
    for (at, index) in pending.iter().enumerate() {
        let (filter, update) = &statements[*index];
        let size = 32 + filter.as_bytes().len() + update.as_bytes().len();
        if at > start && (at - start >= UPSERTS_PER_COMMAND || bytes + size > UPSERT_COMMAND_BYTES) {
            chunks.push(&pending[start..at]);
            (start, bytes) = (at, 0);
        }
        bytes += size;
    }
    if start < pending.len() {
        chunks.push(&pending[start..]);
    }
    chunks
}

/// What one upsert command's reply says, about the statements of its chunk.
struct UpsertReply {
    matched: u64,
    modified: u64,
    inserted: Vec<usize>,
    /// Statements refused as duplicates of their key: another writer inserted it meanwhile.
    lost: Vec<usize>,
    /// The error of the first of them.
    duplicate: Option<Error>,
    /// The first other write error, or a write concern error.
    error: Option<Error>,
}

impl UpsertReply {
    fn read(reply: &Document, chunk: &[usize], namespace: &str) -> Result<UpsertReply> {
        let number = |value: Option<&Bson>| match value {
            Some(Bson::Int32(n)) => u64::try_from(*n).unwrap_or_default(),
            Some(Bson::Int64(n)) => u64::try_from(*n).unwrap_or_default(),
            _ => 0,
        };
        let statement = |entry: &Document| {
            let at = number(entry.get("index"));
            usize::try_from(at).ok().and_then(|at| chunk.get(at).copied())
        };
        let inserted: Vec<usize> = reply
            .get_array("upserted")
            .map(|list| list.iter().filter_map(Bson::as_document).filter_map(statement).collect())
            .unwrap_or_default();
        let (mut lost, mut duplicate, mut error) = (Vec::new(), None, None);
        for entry in reply.get_array("writeErrors").into_iter().flatten().filter_map(Bson::as_document) {
            let code = entry.get_i32("code").unwrap_or_default();
            let failure = || {
                Error::from_write_error(
                    namespace,
                    None,
                    code,
                    entry.get_str("codeName").unwrap_or_default().to_owned(),
                    entry.get_str("errmsg").unwrap_or_default().to_owned(),
                )
            };
            match statement(entry) {
                Some(index) if code == crate::error::DUPLICATE_KEY => {
                    lost.push(index);
                    duplicate = duplicate.or_else(|| Some(failure()));
                }
                _ => error = error.or_else(|| Some(failure())),
            }
        }
        if error.is_none()
            && let Ok(concern) = reply.get_document("writeConcernError")
        {
            error = Some(Error::from_write_error(
                namespace,
                None,
                concern.get_i32("code").unwrap_or_default(),
                concern.get_str("codeName").unwrap_or_default().to_owned(),
                concern.get_str("errmsg").unwrap_or_default().to_owned(),
            ));
        }
        let n = number(reply.get("n"));
        Ok(UpsertReply {
            matched: n.saturating_sub(inserted.len() as u64),
            modified: number(reply.get("nModified")),
            inserted,
            lost,
            duplicate,
            error,
        })
    }
}

/// `work`, failing with [`Error::Timeout`] once `limit` has passed (when there is one). The
/// work is dropped at the limit: a write cut short is a write whose outcome is unknown.
pub(crate) async fn bounded<T>(
    limit: Option<Duration>,
    namespace: &str,
    work: impl Future<Output = Result<T>>,
) -> Result<T> {
    match limit {
        None => work.await,
        Some(limit) => match tokio::time::timeout(limit, work).await {
            Ok(result) => result,
            Err(_) => Err(Error::Timeout { namespace: namespace.to_owned(), limit }),
        },
    }
}

/// The error of an ordered `insert_many`, naming the `_id` of the document that failed.
pub(crate) fn insert_error(err: mongodb::error::Error, namespace: &str, ids: &[Bson]) -> Error {
    if let Some(first) = Error::first_insert_error(&err) {
        return Error::from_write_error(
            namespace,
            ids.get(first.index).cloned(),
            first.code,
            first.code_name.clone().unwrap_or_default(),
            first.message.clone(),
        );
    }
    Error::from_driver(err, namespace, None)
}

/// The cursor of a select: in the session's driver session (which every batch it fetches
/// needs), or without one (a deployment without sessions).
pub(crate) enum Rows {
    Plain(Cursor<RawDocumentBuf>),
    InSession(SessionCursor<RawDocumentBuf>),
    /// A select of no rows (`limit(0)`): nothing was sent. (The document is never read:
    /// `advance` is always `false`.)
    Empty(RawDocumentBuf),
}

impl Rows {
    /// Moves to the next document, fetching a batch when needed, in the driver session of
    /// `txn` for a cursor opened in one.
    pub(crate) async fn advance(&mut self, txn: &mut Transaction) -> std::result::Result<bool, mongodb::error::Error> {
        match self {
            Rows::Plain(cursor) => cursor.advance().await,
            Rows::InSession(cursor) => match txn.client_session() {
                Ok(Some(client_session)) => cursor.advance(client_session).await,
                // The transaction ended while the cursor was open: it has nothing more.
                _ => Ok(false),
            },
            Rows::Empty(_) => Ok(false),
        }
    }

    /// The document the cursor is on.
    pub(crate) fn current(&self) -> &bson::RawDocument {
        match self {
            Rows::Plain(cursor) => cursor.current(),
            Rows::InSession(cursor) => cursor.current(),
            Rows::Empty(nothing) => nothing,
        }
    }
}
