//! Running selects: opening the cursor, and turning each returned document into an entity
//! (through the identity map) or a row.

use std::borrow::Cow;
use std::collections::VecDeque;
use std::future::Future;
use std::marker::PhantomData;
use std::sync::Arc;
use std::task::Poll;

use bson::oid::ObjectId;
use bson::{RawDocument, RawDocumentBuf};
use futures::stream::{self, BoxStream, StreamExt};
use tracing::{Instrument, Span};

use super::Session;
use super::io::{FindShape, Rows, bounded};
use super::reconcile;
use super::space::Space;
use super::store::within_depth;
use super::tracked::{ErasedEntity, ServerId, Tracked};
use super::unit_of_work::{Status, UnitOfWork};
use crate::model::IdKey;
use crate::options::Options;
use crate::statement::{ColumnProjection, Projection, Row, ScalarProjection, Select};
use crate::wire::{self, kind};
use crate::{Error, Model, Result, telemetry};

/// Turns returned documents into entities through the session's identity map, for the
/// projections. It is `pub` only because [`Projection`]'s methods take it; no path outside
/// the crate names it, so no other crate can implement or call those methods: the trait is
/// closed to mongotic's own projections.
pub struct Loader<'a> {
    uow: &'a mut UnitOfWork,
    namespace: &'a str,
}

impl<'a> Loader<'a> {
    pub(crate) fn new(uow: &'a mut UnitOfWork, namespace: &'a str) -> Self {
        Loader { uow, namespace }
    }

    pub(crate) fn namespace(&self) -> &str {
        self.namespace
    }

    /// The entity for the stored document `raw`: the handle the session already tracks for its
    /// `_id` (pending changes untouched), or a new tracked entity.
    /// A query met the document of an entity whose write is in doubt: that read settles it
    /// as a flush's own read would (see `reconcile`).
    fn settle_in_doubt(&mut self, entity: &Arc<dyn ErasedEntity>, raw: &RawDocument) {
        let state = entity.state();
        let Some(key) = self.uow.key_of(state) else { return };
        if matches!(self.uow.get(key).map(|entry| entry.status), Some(Status::New | Status::Uncertain)) {
            reconcile::resolve(self.uow, key, state.intent(), Some(raw.to_raw_document_buf()));
        }
    }

    pub(crate) fn entity<M: Model>(&mut self, raw: &RawDocument) -> Result<Tracked<M>> {
        let Some((id, server_id)) = document_id(raw) else {
            return Err(Error::UnexpectedReply {
                message: format!("a document of {} came back without an _id", self.namespace),
            });
        };
        let namespace = self.namespace;
        if self.uow.has_documents() {
            self.uow.refuse_other_shape(Space::of::<M>(), &id, namespace, |meta| meta.is_untyped_in(namespace))?;
        }
        let mut loaded = None;
        let entity = self.uow.find_or_load(Space::of::<M>(), id, || {
            let mut value = M::__decode(raw).map_err(|why| Error::undecodable(M::meta().name, namespace, raw, why))?;
            value.after_load();
            let handle = Tracked::with_state(value, 0, server_id);
            let erased = handle.erased();
            loaded = Some(handle);
            Ok::<_, Error>(erased)
        })?;
        if let Some(handle) = loaded {
            return Ok(handle);
        }
        if entity.state().in_doubt() {
            self.settle_in_doubt(&entity, raw);
        }
        Tracked::from_erased(entity).ok_or_else(|| Error::UnexpectedReply {
            message: format!("the identity map holds another model's entity for a document of {namespace}"),
        })
    }

    /// The entity filed in `space` for the stored document `raw`, or a new one that `make` builds
    /// from it (given its server id): the untyped form of [`Loader::entity`], for documents
    /// without a model. `in_namespace` tells which other spaces hold this collection's
    /// documents: a document tracked there is [`Error::TrackedInAnotherShape`].
    pub(crate) fn erased(
        &mut self,
        space: Space,
        raw: &RawDocument,
        in_namespace: impl Fn(&'static crate::model::ModelMeta) -> bool,
        make: impl FnOnce(Option<ServerId>) -> Result<Arc<dyn ErasedEntity>>,
    ) -> Result<Arc<dyn ErasedEntity>> {
        let Some((id, server_id)) = document_id(raw) else {
            return Err(Error::UnexpectedReply {
                message: format!("a document of {} came back without an _id", self.namespace),
            });
        };
        self.uow.refuse_other_shape(space, &id, self.namespace, in_namespace)?;
        let mut fresh = false;
        let entity = self.uow.find_or_load(space, id, || {
            fresh = true;
            make(server_id)
        })?;
        if !fresh && entity.state().in_doubt() {
            self.settle_in_doubt(&entity, raw);
        }
        Ok(entity)
    }
}

/// The `_id` of a stored document, as its identity-map key and as the entity's server id. The
/// server stores `_id` first, so an `ObjectId` or an integer there is read from the first
/// element's bytes; anything else is looked up by key.
fn document_id(raw: &RawDocument) -> Option<(IdKey, Option<ServerId>)> {
    if let Some(Some(first)) = wire::elements(raw.as_bytes()).next()
        && first.key == b"_id"
    {
        match first.kind {
            kind::OBJECT_ID => {
                if let Ok(bytes) = <[u8; 12]>::try_from(first.value) {
                    return Some((IdKey::ObjectId(bytes), Some(ServerId::ObjectId(ObjectId::from_bytes(bytes)))));
                }
            }
            kind::INT32 => {
                if let Ok(bytes) = <[u8; 4]>::try_from(first.value) {
                    let value = i32::from_le_bytes(bytes);
                    return Some((IdKey::Int(i64::from(value)), Some(ServerId::Int32(value))));
                }
            }
            kind::INT64 => {
                if let Ok(bytes) = <[u8; 8]>::try_from(first.value) {
                    let value = i64::from_le_bytes(bytes);
                    return Some((IdKey::Int(value), Some(ServerId::Int64(value))));
                }
            }
            _ => {}
        }
    }
    let raw_id = raw.get("_id").ok().flatten()?;
    Some((IdKey::from_raw(raw_id), ServerId::from_raw(raw_id)))
}

/// The results of a select, fetched on demand: made by
/// [`Session::scalars`](crate::Session::scalars). Nothing is sent to the server until one of
/// its methods runs.
///
/// ```no_run
/// # use mongotic::prelude::*;
/// # #[derive(Debug, Serialize, Deserialize, Model)]
/// # #[mongotic(database = "app", collection = "users")]
/// # struct User { #[serde(rename = "_id")] id: Option<ObjectId>, email: String, company: Option<String> }
/// # async fn demo(mut session: Session) -> mongotic::Result<()> {
/// let by_email = || select::<User>().filter(User::email.eq("alice@example.com"));
/// let all = session.scalars(by_email()).all().await?;
/// let first = session.scalars(by_email()).first().await?;
/// let one = session.scalars(by_email()).one().await?;
/// let maybe = session.scalars(by_email()).one_or_none().await?;
/// let acme = || select::<User>().filter(User::company.eq("Acme"));
/// let count = session.scalars(acme()).count().await?;
/// let exists = session.scalars(acme()).exists().await?;
/// # Ok(()) }
/// ```
#[must_use = "a ScalarResult does nothing until one of its methods is awaited"]
pub struct ScalarResult<'s, M, P> {
    session: &'s mut Session,
    stmt: Select<M, P>,
}

impl<'s, M: Model, P: ScalarProjection<M>> ScalarResult<'s, M, P> {
    pub(crate) fn new(session: &'s mut Session, stmt: Select<M, P>) -> Self {
        ScalarResult { session, stmt }
    }

    /// Every matching value, in order.
    ///
    /// ```no_run
    /// # use mongotic::prelude::*;
    /// # #[derive(Debug, Clone, Serialize, Deserialize, Model)]
    /// # #[mongotic(database = "app", collection = "users")]
    /// # struct User { #[serde(rename = "_id")] id: Option<ObjectId>, name: String, age: Option<i32>, active: bool }
    /// # async fn demo(mut session: Session) -> mongotic::Result<()> {
    /// let adults = session.scalars(select::<User>().filter(User::age.gte(18))).all().await?;
    /// # Ok(()) }
    /// ```
    pub async fn all(self) -> Result<Vec<P::Output>> {
        SelectResult::open(self.session, self.stmt).await?.all().await
    }

    /// The first matching value, or `None`. Fetches one document.
    ///
    /// ```no_run
    /// # use mongotic::prelude::*;
    /// # #[derive(Debug, Clone, Serialize, Deserialize, Model)]
    /// # #[mongotic(database = "app", collection = "users")]
    /// # struct User { #[serde(rename = "_id")] id: Option<ObjectId>, name: String, age: Option<i32>, active: bool }
    /// # async fn demo(mut session: Session) -> mongotic::Result<()> {
    /// let oldest = session.scalars(select::<User>().order_by(-User::age)).first().await?;
    /// # Ok(()) }
    /// ```
    pub async fn first(self) -> Result<Option<P::Output>> {
        SelectResult::open(self.session, self.stmt.with_limit(1)).await?.next().await
    }

    /// Exactly one value: [`Error::NotFound`] when nothing matches,
    /// [`Error::MultipleResultsFound`] when several do. Fetches at most two documents.
    ///
    /// ```no_run
    /// # use mongotic::prelude::*;
    /// # #[derive(Debug, Clone, Serialize, Deserialize, Model)]
    /// # #[mongotic(database = "app", collection = "users")]
    /// # struct User { #[serde(rename = "_id")] id: Option<ObjectId>, name: String, age: Option<i32>, active: bool }
    /// # async fn demo(mut session: Session) -> mongotic::Result<()> {
    /// let alice = session.scalars(select::<User>().filter(User::name.eq("Alice"))).one().await?;
    /// # Ok(()) }
    /// ```
    pub async fn one(self) -> Result<P::Output> {
        let namespace = self.session.engine.namespace(M::meta())?.to_string();
        match self.one_or_none().await? {
            Some(value) => Ok(value),
            None => Err(Error::NotFound { namespace, id: None }),
        }
    }

    /// One value or `None`: [`Error::MultipleResultsFound`] when several match. Fetches at
    /// most two documents.
    ///
    /// ```no_run
    /// # use mongotic::prelude::*;
    /// # #[derive(Debug, Clone, Serialize, Deserialize, Model)]
    /// # #[mongotic(database = "app", collection = "users")]
    /// # struct User { #[serde(rename = "_id")] id: Option<ObjectId>, name: String, age: Option<i32>, active: bool }
    /// # async fn demo(mut session: Session) -> mongotic::Result<()> {
    /// let maybe = session.scalars(select::<User>().filter(User::name.eq("Alice"))).one_or_none().await?;
    /// # Ok(()) }
    /// ```
    pub async fn one_or_none(self) -> Result<Option<P::Output>> {
        let mut result = SelectResult::open(self.session, self.stmt.with_limit(2)).await?;
        let first = result.next().await?;
        if first.is_some() && result.next().await?.is_some() {
            return Err(Error::MultipleResultsFound { namespace: result.namespace });
        }
        Ok(first)
    }

    /// The number of matching documents (honouring `offset` and `limit`), counted by the
    /// server.
    ///
    /// ```no_run
    /// # use mongotic::prelude::*;
    /// # #[derive(Debug, Clone, Serialize, Deserialize, Model)]
    /// # #[mongotic(database = "app", collection = "users")]
    /// # struct User { #[serde(rename = "_id")] id: Option<ObjectId>, name: String, age: Option<i32>, active: bool }
    /// # async fn demo(mut session: Session) -> mongotic::Result<()> {
    /// let active = session.scalars(select::<User>().filter(User::active.eq(true))).count().await?;
    /// # Ok(()) }
    /// ```
    pub async fn count(self) -> Result<u64> {
        let find = self.stmt.compile()?;
        if find.limit == Some(0) {
            return Ok(0);
        }
        let io = self.session.io(M::meta(), "count", &self.stmt.options).await?;
        io.count(find.filter, find.skip, find.limit.map(|n| n.unsigned_abs())).await
    }

    /// `true` when at least one document matches. Fetches at most one `_id`.
    ///
    /// ```no_run
    /// # use mongotic::prelude::*;
    /// # #[derive(Debug, Clone, Serialize, Deserialize, Model)]
    /// # #[mongotic(database = "app", collection = "users")]
    /// # struct User { #[serde(rename = "_id")] id: Option<ObjectId>, name: String, age: Option<i32>, active: bool }
    /// # async fn demo(mut session: Session) -> mongotic::Result<()> {
    /// let any = session.scalars(select::<User>().filter(User::age.lt(18))).exists().await?;
    /// # Ok(()) }
    /// ```
    pub async fn exists(self) -> Result<bool> {
        let find = self.stmt.compile()?;
        if find.limit == Some(0) {
            return Ok(false);
        }
        let io = self.session.io(M::meta(), "find", &self.stmt.options).await?;
        io.exists(find.filter, find.skip).await
    }

    /// The values as an async stream (the seed's `async for`), fetched batch by batch
    /// (see [`Select::yield_per`]).
    ///
    /// ```no_run
    /// # use mongotic::prelude::*;
    /// # #[derive(Debug, Serialize, Deserialize, Model)]
    /// # #[mongotic(database = "app", collection = "users")]
    /// # struct User { #[serde(rename = "_id")] id: Option<ObjectId>, name: String }
    /// # async fn demo(mut session: Session) -> mongotic::Result<()> {
    /// use futures::TryStreamExt;
    /// let mut users = session.scalars(select::<User>().yield_per(100)).stream();
    /// while let Some(user) = users.try_next().await? {
    ///     println!("{}", user.read().name);
    /// }
    /// # Ok(()) }
    /// ```
    pub fn stream(self) -> BoxStream<'s, Result<P::Output>> {
        stream_of(self.session, self.stmt)
    }
}

/// The values of `stmt` as a stream that sends the `find` when it is first polled.
pub(crate) fn stream_of<'s, M: Model, P: Projection<M>>(
    session: &'s mut Session,
    stmt: Select<M, P>,
) -> BoxStream<'s, Result<P::Output>> {
    let pending = SelectState::Pending(session, Box::new(stmt));
    stream::try_unfold(pending, |state| async move {
        let mut result = match state {
            SelectState::Pending(session, stmt) => Box::new(SelectResult::open(session, *stmt).await?),
            SelectState::Open(result) => result,
        };
        Ok(result.next().await?.map(|value| (value, SelectState::Open(result))))
    })
    .boxed()
}

enum SelectState<'s, M, P: Projection<M>> {
    Pending(&'s mut Session, Box<Select<M, P>>),
    Open(Box<SelectResult<'s, M, P>>),
}

/// An open select: the cursor of a `find` that has been sent. Returned by
/// [`Session::execute`](crate::Session::execute) for a select.
///
/// ```no_run
/// # use mongotic::prelude::*;
/// # #[derive(Debug, Serialize, Deserialize, Model)]
/// # #[mongotic(database = "app", collection = "users")]
/// # struct User { #[serde(rename = "_id")] id: Option<ObjectId>, name: String, age: Option<i32> }
/// # async fn demo(mut session: Session) -> mongotic::Result<()> {
/// let stmt = || select::<User>().columns((User::name, User::age)).filter(User::age.gte(18));
/// // Typed rows:
/// for (name, age) in session.execute(stmt()).await?.all().await? {
///     println!("{name} {age:?}");
/// }
/// // Rows read by position or by name:
/// for row in session.execute(stmt()).await?.rows().await? {
///     let name: String = row.get("name")?;
///     let age: Option<i32> = row.get(1)?;
/// }
/// # Ok(()) }
/// ```
#[must_use = "a SelectResult holds an open cursor; read it with `all`, `next` or `rows`"]
pub struct SelectResult<'s, M, P: Projection<M>> {
    session: &'s mut Session,
    cursor: Rows,
    projection: P,
    /// Values read ahead whose relations are loaded, when the select loads relations: they are
    /// read a batch at a time so each relation takes one query per batch.
    pending: VecDeque<P::Output>,
    /// How many values a batch holds (the select's `yield_per`, or [`LOAD_BATCH`]).
    batch: usize,
    namespace: String,
    /// The client-side time limit of each batch fetched.
    timeout: Option<std::time::Duration>,
    /// The statement's own options, for the relations it loads.
    options: Options,
    /// The statement's span, open until the result is dropped, with the rows read so far.
    span: SelectSpan,
    _model: PhantomData<fn() -> M>,
}

/// The span of an open select, which records the rows read when it closes. (Kept apart from
/// the result, which borrows the session: a `Drop` on the result would hold that borrow.)
struct SelectSpan {
    span: Span,
    rows: u64,
}

impl Drop for SelectSpan {
    fn drop(&mut self) {
        self.span.record("db.response.returned_rows", self.rows);
    }
}

/// How many entities a select that loads relations reads before it loads their relations,
/// when it is read one value at a time (`next`, `stream`) and has no `yield_per`.
const LOAD_BATCH: usize = 1_000;

impl<'s, M: Model, P: Projection<M>> SelectResult<'s, M, P> {
    /// Sends the `find` of `stmt` (nothing for `limit(0)`, which selects no rows).
    pub(crate) async fn open(session: &'s mut Session, stmt: Select<M, P>) -> Result<Self> {
        let find = stmt.compile()?;
        let batch = find.batch_size.map_or(LOAD_BATCH, |n| n.max(1) as usize);
        let io = session.io(M::meta(), "find", &stmt.options).await?;
        let namespace = io.namespace().to_owned();
        let timeout = io.options().get_timeout();
        let (cursor, span) = if find.limit == Some(0) {
            // Selects no rows, and sends nothing.
            let span = io.span().clone();
            span.record("mongotic.round_trips", 0);
            (Rows::Empty(RawDocumentBuf::new()), span)
        } else {
            let shape = FindShape {
                sort: find.sort,
                projection: find.projection,
                skip: find.skip,
                limit: find.limit,
                batch_size: find.batch_size,
            };
            io.find(find.filter, shape).await?
        };
        Ok(SelectResult {
            session,
            cursor,
            projection: stmt.projection,
            pending: VecDeque::new(),
            batch,
            namespace,
            timeout,
            options: stmt.options,
            span: SelectSpan { span, rows: 0 },
            _model: PhantomData,
        })
    }

    /// The next value, or `None` at the end.
    ///
    /// ```no_run
    /// # use mongotic::prelude::*;
    /// # #[derive(Debug, Clone, Serialize, Deserialize, Model)]
    /// # #[mongotic(database = "app", collection = "users")]
    /// # struct User { #[serde(rename = "_id")] id: Option<ObjectId>, name: String, age: Option<i32>, active: bool }
    /// # async fn demo(mut session: Session) -> mongotic::Result<()> {
    /// let mut result = session.execute(select::<User>().columns(User::name)).await?;
    /// while let Some(name) = result.next().await? {
    ///     println!("{name}");
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn next(&mut self) -> Result<Option<P::Output>> {
        if !self.projection.loads_relations() {
            return self.next_decoded().await;
        }
        if self.pending.is_empty() {
            let mut batch = Vec::with_capacity(self.batch.min(LOAD_BATCH));
            while batch.len() < self.batch {
                match self.next_decoded().await? {
                    Some(value) => batch.push(value),
                    None => break,
                }
            }
            self.projection.load_relations(self.session, &batch, &self.options).await?;
            self.pending.extend(batch);
        }
        Ok(self.pending.pop_front())
    }

    /// The next document as a value, without loading relations.
    async fn next_decoded(&mut self) -> Result<Option<P::Output>> {
        if !self.advance().await? {
            return Ok(None);
        }
        let raw = self.cursor.current();
        within_depth(&self.namespace, raw)?;
        let mut loader = Loader::new(&mut self.session.uow, &self.namespace);
        self.projection.decode(raw, &mut loader).map(Some)
    }

    /// Moves to the next document (fetching a batch when needed), counting it for the span.
    async fn advance(&mut self) -> Result<bool> {
        let next = async {
            self.cursor
                .advance(&mut self.session.txn)
                .await
                .map_err(|err| Error::from_driver(err, &self.namespace, None))
        };
        // Most calls take the next document of the batch in hand and are ready at once: only
        // a call that waits for the server (a `getMore`) is worth a timer and a span of its own.
        // The first poll runs in the statement's span all the same, since it may send one.
        let span = &self.span.span;
        let mut next = std::pin::pin!(next);
        let first = std::future::poll_fn(|cx| {
            Poll::Ready(if span.is_disabled() {
                next.as_mut().poll(cx)
            } else {
                span.in_scope(|| next.as_mut().poll(cx))
            })
        })
        .await;
        let advanced = match first {
            Poll::Ready(advanced) => advanced,
            Poll::Pending => bounded(self.timeout, &self.namespace, next).instrument(span.clone()).await,
        };
        match advanced {
            Ok(more) => {
                self.span.rows += u64::from(more);
                Ok(more)
            }
            Err(err) => {
                telemetry::failed(&self.span.span, &err);
                Err(err)
            }
        }
    }

    /// The next value, and closes the cursor: for a select whose first row is all you need.
    ///
    /// ```no_run
    /// # use mongotic::prelude::*;
    /// # #[derive(Debug, Clone, Serialize, Deserialize, Model)]
    /// # #[mongotic(database = "app", collection = "users")]
    /// # struct User { #[serde(rename = "_id")] id: Option<ObjectId>, name: String, age: Option<i32>, active: bool }
    /// # async fn demo(mut session: Session) -> mongotic::Result<()> {
    /// let stmt = select::<User>().columns((User::name, User::age)).order_by(-User::age).limit(1);
    /// let oldest: Option<(String, Option<i32>)> = session.execute(stmt).await?.first().await?;
    /// # Ok(()) }
    /// ```
    pub async fn first(mut self) -> Result<Option<P::Output>> {
        if let Some(loaded) = self.pending.pop_front() {
            return Ok(Some(loaded));
        }
        let first = self.next_decoded().await?;
        if let Some(value) = &first {
            self.projection.load_relations(self.session, std::slice::from_ref(value), &self.options).await?;
        }
        Ok(first)
    }

    /// Every remaining value, in order.
    ///
    /// ```no_run
    /// # use mongotic::prelude::*;
    /// # #[derive(Debug, Clone, Serialize, Deserialize, Model)]
    /// # #[mongotic(database = "app", collection = "users")]
    /// # struct User { #[serde(rename = "_id")] id: Option<ObjectId>, name: String, age: Option<i32>, active: bool }
    /// # async fn demo(mut session: Session) -> mongotic::Result<()> {
    /// let names: Vec<String> = session.execute(select::<User>().columns(User::name)).await?.all().await?;
    /// # Ok(()) }
    /// ```
    pub async fn all(mut self) -> Result<Vec<P::Output>> {
        // Values already read ahead have their relations; the rest get theirs in one go.
        let mut values: Vec<P::Output> = self.pending.drain(..).collect();
        let loaded = values.len();
        while let Some(value) = self.next_decoded().await? {
            values.push(value);
        }
        if values.len() > loaded {
            self.projection.load_relations(self.session, &values[loaded..], &self.options).await?;
        }
        Ok(values)
    }

    /// The values as an async stream.
    ///
    /// ```no_run
    /// # use mongotic::prelude::*;
    /// # #[derive(Debug, Clone, Serialize, Deserialize, Model)]
    /// # #[mongotic(database = "app", collection = "users")]
    /// # struct User { #[serde(rename = "_id")] id: Option<ObjectId>, name: String, age: Option<i32>, active: bool }
    /// # async fn demo(mut session: Session) -> mongotic::Result<()> {
    /// use futures::TryStreamExt;
    /// let result = session.execute(select::<User>().columns(User::name)).await?;
    /// let names: Vec<String> = result.stream().try_collect().await?;
    /// # Ok(()) }
    /// ```
    pub fn stream(self) -> BoxStream<'s, Result<P::Output>> {
        stream::try_unfold(self, |mut result| async move { Ok(result.next().await?.map(|value| (value, result))) })
            .boxed()
    }
}

impl<M: Model, P: ColumnProjection<M>> SelectResult<'_, M, P> {
    /// Every remaining row as a [`Row`], readable by position and by field name.
    ///
    /// ```no_run
    /// # use mongotic::prelude::*;
    /// # #[derive(Debug, Clone, Serialize, Deserialize, Model)]
    /// # #[mongotic(database = "app", collection = "users")]
    /// # struct User { #[serde(rename = "_id")] id: Option<ObjectId>, name: String, age: Option<i32>, active: bool }
    /// # async fn demo(mut session: Session) -> mongotic::Result<()> {
    /// let rows = session.execute(select::<User>().columns((User::name, User::age))).await?.rows().await?;
    /// for row in rows {
    ///     let name: String = row.get("name")?;
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn rows(mut self) -> Result<Vec<Row>> {
        let columns: Arc<[Cow<'static, str>]> = self.projection.paths().into();
        let mut rows = Vec::new();
        while let Some(row) = self.row_with(&columns).await? {
            rows.push(row);
        }
        Ok(rows)
    }

    /// The next row as a [`Row`], or `None` at the end.
    ///
    /// ```no_run
    /// # use mongotic::prelude::*;
    /// # #[derive(Debug, Clone, Serialize, Deserialize, Model)]
    /// # #[mongotic(database = "app", collection = "users")]
    /// # struct User { #[serde(rename = "_id")] id: Option<ObjectId>, name: String, age: Option<i32>, active: bool }
    /// # async fn demo(mut session: Session) -> mongotic::Result<()> {
    /// let mut result = session.execute(select::<User>().columns((User::name, User::age))).await?;
    /// if let Some(row) = result.next_row().await? {
    ///     let name: String = row.get("name")?;
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn next_row(&mut self) -> Result<Option<Row>> {
        let columns: Arc<[Cow<'static, str>]> = self.projection.paths().into();
        self.row_with(&columns).await
    }

    async fn row_with(&mut self, columns: &Arc<[Cow<'static, str>]>) -> Result<Option<Row>> {
        if !self.advance().await? {
            return Ok(None);
        }
        let raw = self.cursor.current();
        within_depth(&self.namespace, raw)?;
        let loader = Loader::new(&mut self.session.uow, &self.namespace);
        Row::decode(columns, raw, &loader).map(Some)
    }
}
