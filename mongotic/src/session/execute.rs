//! What [`Session::execute`] runs: selects, `distinct`, and the bulk statements.
//!
//! Bulk statements go straight to the server in one command each; they neither read nor
//! change the session's tracked entities (as in the seed, bulk-inserted documents are not in
//! `new`, `dirty` or `deleted`).

use std::future::{Future, IntoFuture};

use futures::future::BoxFuture;
use futures::stream::BoxStream;
use mongodb::options::UpdateModifications;
use serde::de::DeserializeOwned;

use super::Session;
use super::query::{SelectResult, stream_of};
use crate::error::Error;
use crate::model::ModelId;
use crate::statement::{ColumnProjection, Delete, Distinct, Insert, Projection, Row, Select, Update, WriteResult};
use crate::validation::{Invalid, Violations};
use crate::{Model, Result};

/// A statement [`Session::execute`] can run, and what it returns.
///
/// ```no_run
/// # use mongotic::prelude::*;
/// # #[derive(Debug, Clone, Serialize, Deserialize, Model)]
/// # #[mongotic(database = "app", collection = "users")]
/// # struct User { #[serde(rename = "_id")] id: Option<ObjectId>, name: String, age: Option<i32>, active: bool }
/// # async fn demo(mut session: Session) -> mongotic::Result<()> {
/// let result = session.execute(update::<User>().set(User::active, true)).await?; // a WriteResult
/// let rows = session.execute(select::<User>().columns(User::name)).await?;      // a SelectResult
/// # Ok(()) }
/// ```
pub trait Executable<'s> {
    /// The result of running the statement.
    type Output: 's;

    /// Runs the statement in `session`.
    fn execute_in(self, session: &'s mut Session) -> impl Future<Output = Result<Self::Output>> + Send + 's;
}

/// A statement on its way to the server: what [`Session::execute`] returns. Nothing is sent
/// until it is awaited (or, for a select, until one of its reading methods is).
///
/// Awaiting it runs the statement and gives its result: a [`SelectResult`] (an open cursor)
/// for a select, a [`WriteResult`] for a bulk statement, the values of a `distinct` or of an
/// aggregation. A select can also be read in the same step, with one `await`:
/// [`all`](Execution::all), [`first`](Execution::first), [`rows`](Execution::rows),
/// [`stream`](Execution::stream).
///
/// ```no_run
/// # use mongotic::prelude::*;
/// # #[derive(Debug, Serialize, Deserialize, Model)]
/// # #[mongotic(database = "app", collection = "users")]
/// # struct User { #[serde(rename = "_id")] id: Option<ObjectId>, name: String, age: Option<i32> }
/// # async fn demo(mut session: Session) -> mongotic::Result<()> {
/// let stmt = || select::<User>().columns((User::name, User::age));
/// let rows = session.execute(stmt()).all().await?; // send and read: one await
/// let mut open = session.execute(stmt()).await?; // or open the cursor, then read
/// while let Some((name, age)) = open.next().await? {
///     println!("{name} {age:?}");
/// }
/// # Ok(()) }
/// ```
#[must_use = "an Execution does nothing until it is awaited"]
pub struct Execution<'s, S> {
    session: &'s mut Session,
    stmt: S,
}

impl<'s, S> Execution<'s, S> {
    pub(crate) fn new(session: &'s mut Session, stmt: S) -> Self {
        Execution { session, stmt }
    }
}

impl<'s, S: Executable<'s> + 's> IntoFuture for Execution<'s, S> {
    type Output = Result<S::Output>;
    type IntoFuture = BoxFuture<'s, Result<S::Output>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(self.stmt.execute_in(self.session))
    }
}

impl<'s, M: Model, P: Projection<M>> Execution<'s, Select<M, P>> {
    /// Runs the select and returns every value, in order.
    ///
    /// ```no_run
    /// # use mongotic::prelude::*;
    /// # #[derive(Debug, Serialize, Deserialize, Model)]
    /// # #[mongotic(database = "app", collection = "users")]
    /// # struct User { #[serde(rename = "_id")] id: Option<ObjectId>, name: String, age: Option<i32> }
    /// # async fn demo(mut session: Session) -> mongotic::Result<()> {
    /// let rows: Vec<(String, Option<i32>)> =
    ///     session.execute(select::<User>().columns((User::name, User::age))).all().await?;
    /// # Ok(()) }
    /// ```
    pub async fn all(self) -> Result<Vec<P::Output>> {
        SelectResult::open(self.session, self.stmt).await?.all().await
    }

    /// Runs the select and returns its first value, or `None`.
    ///
    /// ```no_run
    /// # use mongotic::prelude::*;
    /// # #[derive(Debug, Serialize, Deserialize, Model)]
    /// # #[mongotic(database = "app", collection = "users")]
    /// # struct User { #[serde(rename = "_id")] id: Option<ObjectId>, name: String, age: Option<i32> }
    /// # async fn demo(mut session: Session) -> mongotic::Result<()> {
    /// let oldest = session.execute(select::<User>().columns((User::name, User::age)).order_by(-User::age)).first().await?;
    /// # Ok(()) }
    /// ```
    pub async fn first(self) -> Result<Option<P::Output>> {
        SelectResult::open(self.session, self.stmt.with_limit(1)).await?.first().await
    }

    /// The values as a stream, which sends the select when it is first polled.
    ///
    /// ```no_run
    /// # use mongotic::prelude::*;
    /// # #[derive(Debug, Serialize, Deserialize, Model)]
    /// # #[mongotic(database = "app", collection = "users")]
    /// # struct User { #[serde(rename = "_id")] id: Option<ObjectId>, name: String, age: Option<i32> }
    /// # async fn demo(mut session: Session) -> mongotic::Result<()> {
    /// use futures::TryStreamExt;
    /// let mut rows = session.execute(select::<User>().columns((User::name, User::age))).stream();
    /// while let Some((name, age)) = rows.try_next().await? {
    ///     println!("{name} {age:?}");
    /// }
    /// # Ok(()) }
    /// ```
    pub fn stream(self) -> BoxStream<'s, Result<P::Output>> {
        stream_of(self.session, self.stmt)
    }
}

impl<M: Model, P: ColumnProjection<M>> Execution<'_, Select<M, P>> {
    /// Runs the select and returns every row as a [`Row`], readable by position and by name.
    ///
    /// ```no_run
    /// # use mongotic::prelude::*;
    /// # #[derive(Debug, Serialize, Deserialize, Model)]
    /// # #[mongotic(database = "app", collection = "users")]
    /// # struct User { #[serde(rename = "_id")] id: Option<ObjectId>, name: String, age: Option<i32> }
    /// # async fn demo(mut session: Session) -> mongotic::Result<()> {
    /// for row in session.execute(select::<User>().columns((User::name, User::age))).rows().await? {
    ///     let name: String = row.get("name")?;
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn rows(self) -> Result<Vec<Row>> {
        SelectResult::open(self.session, self.stmt).await?.rows().await
    }
}

impl<'s, M: Model, P: Projection<M>> Executable<'s> for Select<M, P> {
    type Output = SelectResult<'s, M, P>;

    fn execute_in(self, session: &'s mut Session) -> impl Future<Output = Result<Self::Output>> + Send + 's {
        SelectResult::open(session, self)
    }
}

impl<'s, M: Model, V: DeserializeOwned + Send + 's> Executable<'s> for Distinct<M, V> {
    type Output = Vec<V>;

    async fn execute_in(self, session: &'s mut Session) -> Result<Vec<V>> {
        let filter = self.compile_filter()?;
        let io = session.io(M::meta(), "distinct", &self.options).await?;
        let namespace = io.namespace().to_owned();
        let values = io.distinct(self.field(), filter).await?;
        values
            .into_iter()
            .map(|value| {
                bson::from_bson(value).map_err(|source| Error::Deserialize {
                    namespace: namespace.clone(),
                    id: None,
                    source,
                })
            })
            .collect()
    }
}

impl<'s, M: Model> Executable<'s> for Insert<M> {
    type Output = WriteResult<M::Id>;

    async fn execute_in(self, session: &'s mut Session) -> Result<WriteResult<M::Id>> {
        if self.is_empty() {
            return Ok(WriteResult::default());
        }
        let io = session.io(M::meta(), "insert", &self.options).await?;
        let namespace_text = io.namespace().to_owned();
        let tenant = io.scope().tenant().cloned();
        let mut ids = Vec::with_capacity(self.values.len());
        let mut docs = Vec::with_capacity(self.values.len());
        let mut invalid = Vec::new();
        // The model's timestamps are set, as a flush sets them; hooks do not run (a bulk
        // statement is not a unit of work's change).
        let now = bson::DateTime::now();
        let mut typed_ids = Vec::with_capacity(self.values.len());
        for mut value in self.values {
            let typed = match value.id() {
                Some(id) => id.clone(),
                None => {
                    let id = M::Id::generate().ok_or_else(|| Error::MissingId { namespace: namespace_text.clone() })?;
                    value.set_id(id.clone());
                    id
                }
            };
            let id = typed.to_bson();
            typed_ids.push(typed);
            value.__stamp(true, now);
            if let Some(tenant) = &tenant {
                value.__set_tenant(tenant).map_err(|source| Error::Deserialize {
                    namespace: namespace_text.clone(),
                    id: Some(Box::new(id.clone())),
                    source,
                })?;
            }
            // Serialized before the checks run, as in a flush: the serializer refuses a value
            // nested too deep before any walk over it recurses.
            docs.push(crate::encode::entity_to_raw(&value).map_err(|err| Error::serialize(&namespace_text, err))?);
            if M::meta().validates {
                let mut violations = Violations::default();
                value.__validate(&mut violations);
                if !violations.is_empty() {
                    invalid.push(Invalid { model: M::meta().name, id: Some(id.clone()), violations });
                }
            }
            ids.push(id);
        }
        if !invalid.is_empty() {
            return Err(Error::Validation { invalid });
        }
        let count = io.insert_many(&docs, &ids).await?;
        Ok(WriteResult { rowcount: count, matched: count, inserted_ids: typed_ids })
    }
}

impl<'s, M: Model> Executable<'s> for Update<M> {
    type Output = WriteResult;

    async fn execute_in(self, session: &'s mut Session) -> Result<WriteResult> {
        self.validate()?;
        let (filter, changes) = self.compile_for_write()?;
        let io = session.io(M::meta(), "update", &self.options).await?;
        let result = io.update_many(filter, UpdateModifications::Document(changes)).await?;
        Ok(WriteResult { rowcount: result.modified_count, matched: result.matched_count, inserted_ids: Vec::new() })
    }
}

impl<'s, M: Model> Executable<'s> for Delete<M> {
    type Output = WriteResult;

    async fn execute_in(self, session: &'s mut Session) -> Result<WriteResult> {
        let filter = self.compile()?;
        if let Some(field) = M::meta().soft_delete
            && !self.permanent
        {
            // A soft delete: the live documents matched are marked, as `session.delete` does.
            let mut options = self.options.clone();
            options.deleted = None;
            let io = session.io(M::meta(), "delete", &options).await?;
            let mark = bson::doc! { "$set": { field: bson::DateTime::now() } };
            let result = io.update_many(filter, UpdateModifications::Document(mark)).await?;
            return Ok(WriteResult {
                rowcount: result.modified_count,
                matched: result.matched_count,
                inserted_ids: Vec::new(),
            });
        }
        let io = session.io(M::meta(), "delete", &self.options).await?;
        let result = io.delete_many(filter).await?;
        Ok(WriteResult { rowcount: result.deleted_count, matched: result.deleted_count, inserted_ids: Vec::new() })
    }
}
