//! `select`: the read statement.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;

use bson::Document;

use super::keyset::{AfterRow, Keyset, after_filter};
use super::projection::{ColumnProjection, Entities, Projection, Untracked};
use crate::expr::{Field, Filter, IntoSortKeys, Node, Shape, SortKey, compile_all};
use crate::options::Options;
use crate::relation::{LoadRelation, Relation};
use crate::{Error, Model, Result};

/// A query for documents of model `M`, returning `P` per document: the entities themselves
/// by default, or columns after [`Select::columns`].
///
/// A statement is a plain value: building it does no I/O. Run it with
/// [`Session::scalars`](crate::Session::scalars), [`Session::scalar`](crate::Session::scalar)
/// or [`Session::execute`](crate::Session::execute). [`Select::compile`] shows what it sends.
///
/// ```
/// use mongotic::prelude::*;
/// use mongotic::bson::doc;
///
/// #[derive(Debug, Serialize, Deserialize, Model)]
/// #[mongotic(collection = "users")]
/// struct User {
///     #[serde(rename = "_id")] #[mongotic(id)] id: i64,
///     name: String,
///     age: Option<i32>,
/// }
///
/// let stmt = select::<User>()
///     .filter(User::age.gte(18))
///     .filter(User::name.ne("root"))
///     .order_by(-User::age)
///     .offset(20)
///     .limit(10);
/// let find = stmt.compile().unwrap();
/// assert_eq!(find.filter, doc! { "$and": [
///     { "age": { "$gte": 18 } },
///     { "name": { "$ne": "root" } },
/// ] });
/// assert_eq!(find.sort, Some(doc! { "age": -1 }));
/// assert_eq!((find.skip, find.limit), (Some(20), Some(10)));
/// ```
pub struct Select<M, P = Entities<M>> {
    pub(crate) filters: Vec<Node>,
    pub(crate) sort: Vec<SortKey<M>>,
    pub(crate) skip: Option<u64>,
    pub(crate) limit: Option<u64>,
    pub(crate) batch_size: Option<u32>,
    pub(crate) paging: Paging,
    pub(crate) projection: P,
    /// The statement's own options (see [`options`](crate::options)).
    pub(crate) options: Options,
}

/// Whether a select pages by keyset ([`Select::keyset`], [`Select::after`]).
#[derive(Clone, Debug)]
pub(crate) enum Paging {
    Off,
    /// Sorted with `_id` as the last key, so pages can follow.
    Keyset,
    /// The rows after a keyset.
    After(Keyset),
}

/// A query for the entities of model `M`. Refine it with `filter`, `order_by`, `limit`…
///
/// ```
/// # use mongotic::prelude::*;
/// # #[derive(Debug, Serialize, Deserialize, Model)]
/// # #[mongotic(collection = "users")]
/// # struct User { #[serde(rename = "_id")] #[mongotic(id)] id: i64, age: Option<i32> }
/// let everyone = select::<User>();
/// assert_eq!(everyone.compile().unwrap().filter, mongotic::bson::doc! {});
/// ```
pub fn select<M: Model>() -> Select<M> {
    Select {
        filters: Vec::new(),
        sort: Vec::new(),
        skip: None,
        limit: None,
        batch_size: None,
        paging: Paging::Off,
        projection: Entities::new(),
        options: Options::default(),
    }
}

/// What a `select` sends to the server: the arguments of its `find` command.
///
/// ```
/// # use mongotic::prelude::*;
/// # #[derive(Debug, Clone, Serialize, Deserialize, Model)]
/// # #[mongotic(database = "app", collection = "users")]
/// # struct User { #[serde(rename = "_id")] id: Option<ObjectId>, name: String, age: Option<i32>, active: bool }
/// let find = select::<User>().filter(User::active.eq(true)).limit(5).compile().unwrap();
/// assert_eq!(find.limit, Some(5));
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct CompiledFind {
    /// The query filter.
    pub filter: Document,
    /// The sort order, if any.
    pub sort: Option<Document>,
    /// The projection, for column selects.
    pub projection: Option<Document>,
    /// Documents to skip (`offset`).
    pub skip: Option<u64>,
    /// Maximum number of documents (`limit`).
    pub limit: Option<i64>,
    /// Cursor batch size (`yield_per`).
    pub batch_size: Option<u32>,
}

impl<M: Model, P: Projection<M>> Select<M, P> {
    /// Keeps only the documents matching `filter`. Several calls are ANDed.
    ///
    /// ```
    /// # use mongotic::prelude::*;
    /// # #[derive(Debug, Clone, Serialize, Deserialize, Model)]
    /// # #[mongotic(database = "app", collection = "users")]
    /// # struct User { #[serde(rename = "_id")] id: Option<ObjectId>, name: String, age: Option<i32>, active: bool }
    /// let stmt = select::<User>().filter(User::age.gte(18)).filter(User::active.eq(true)); // ANDed
    /// # let _ = stmt;
    /// ```
    pub fn filter(mut self, filter: Filter<M>) -> Self {
        self.filters.push(filter.into_node());
        self
    }

    /// Sorts by `keys`: a field (ascending), `field.asc()`, `field.desc()`, `-field`, or a
    /// tuple of these. Several calls append keys.
    ///
    /// ```
    /// # use mongotic::prelude::*;
    /// # #[derive(Debug, Clone, Serialize, Deserialize, Model)]
    /// # #[mongotic(database = "app", collection = "users")]
    /// # struct User { #[serde(rename = "_id")] id: Option<ObjectId>, name: String, age: Option<i32>, active: bool }
    /// let stmt = select::<User>().order_by(-User::age).order_by(User::name);
    /// assert_eq!(stmt.compile().unwrap().sort, Some(mongotic::bson::doc! { "age": -1, "name": 1 }));
    /// ```
    pub fn order_by(mut self, keys: impl IntoSortKeys<M>) -> Self {
        keys.push_keys(&mut self.sort);
        self
    }

    /// Returns at most `n` documents. `limit(0)` selects nothing, as in SQL: running it sends
    /// nothing and returns no rows (`count` 0, `exists` false). (The server reads a limit of 0
    /// as "no limit"; mongotic does not pass it on.)
    ///
    /// ```
    /// # use mongotic::prelude::*;
    /// # #[derive(Debug, Clone, Serialize, Deserialize, Model)]
    /// # #[mongotic(database = "app", collection = "users")]
    /// # struct User { #[serde(rename = "_id")] id: Option<ObjectId>, name: String, age: Option<i32>, active: bool }
    /// assert_eq!(select::<User>().limit(10).compile().unwrap().limit, Some(10));
    /// ```
    pub fn limit(mut self, n: u64) -> Self {
        self.limit = Some(n);
        self
    }

    /// Skips the first `n` matching documents.
    ///
    /// ```
    /// # use mongotic::prelude::*;
    /// # #[derive(Debug, Clone, Serialize, Deserialize, Model)]
    /// # #[mongotic(database = "app", collection = "users")]
    /// # struct User { #[serde(rename = "_id")] id: Option<ObjectId>, name: String, age: Option<i32>, active: bool }
    /// assert_eq!(select::<User>().offset(20).compile().unwrap().skip, Some(20));
    /// ```
    pub fn offset(mut self, n: u64) -> Self {
        self.skip = Some(n);
        self
    }

    /// Fetches `n` documents per round trip (the cursor's batch size) when streaming.
    ///
    /// ```
    /// # use mongotic::prelude::*;
    /// # #[derive(Debug, Clone, Serialize, Deserialize, Model)]
    /// # #[mongotic(database = "app", collection = "users")]
    /// # struct User { #[serde(rename = "_id")] id: Option<ObjectId>, name: String, age: Option<i32>, active: bool }
    /// assert_eq!(select::<User>().yield_per(500).compile().unwrap().batch_size, Some(500));
    /// ```
    pub fn yield_per(mut self, n: u32) -> Self {
        self.batch_size = Some(n);
        self
    }

    /// Selects columns instead of entities: one field (rows are its values) or a tuple of
    /// fields (rows are tuples).
    ///
    /// ```
    /// # use mongotic::prelude::*;
    /// # #[derive(Debug, Serialize, Deserialize, Model)]
    /// # #[mongotic(collection = "users")]
    /// # struct User { #[serde(rename = "_id")] #[mongotic(id)] id: i64, name: String, age: Option<i32> }
    /// let stmt = select::<User>().columns((User::name, User::age));
    /// assert_eq!(stmt.compile().unwrap().projection,
    ///            Some(mongotic::bson::doc! { "name": 1, "age": 1, "_id": 0 })); // `_id` only if asked
    /// ```
    pub fn columns<C: ColumnProjection<M>>(self, columns: C) -> Select<M, C> {
        Select {
            filters: self.filters,
            sort: self.sort,
            skip: self.skip,
            limit: self.limit,
            batch_size: self.batch_size,
            paging: self.paging.clone(),
            projection: columns,
            options: self.options,
        }
    }

    /// Whole documents as plain values of `M`, which the session does not track: no identity
    /// map, no handle, nothing kept per document, so a stream of them keeps memory flat over
    /// any number of documents and costs what the driver's typed `find` costs. Changing a
    /// value writes nothing; `add` or `merge` it to write it.
    ///
    /// ```no_run
    /// # use mongotic::prelude::*;
    /// # #[derive(Debug, Clone, Serialize, Deserialize, Model)]
    /// # #[mongotic(database = "app", collection = "users")]
    /// # struct User { #[serde(rename = "_id")] id: Option<ObjectId>, name: String, age: Option<i32> }
    /// # async fn demo(mut session: Session) -> mongotic::Result<()> {
    /// let users: Vec<User> = session.scalars(select::<User>().untracked()).all().await?;
    /// assert!(session.is_empty()); // nothing tracked
    /// # Ok(()) }
    /// ```
    pub fn untracked(self) -> Select<M, Untracked<M>> {
        Select {
            filters: self.filters,
            sort: self.sort,
            skip: self.skip,
            limit: self.limit,
            batch_size: self.batch_size,
            paging: self.paging.clone(),
            projection: Untracked::new(),
            options: self.options,
        }
    }

    /// The distinct values of `field` among the matching documents (the `distinct` command).
    /// Sort, offset and limit do not apply to it.
    ///
    /// ```
    /// # use mongotic::prelude::*;
    /// # #[derive(Debug, Serialize, Deserialize, Model)]
    /// # #[mongotic(collection = "users")]
    /// # struct User { #[serde(rename = "_id")] #[mongotic(id)] id: i64, company: Option<String>, age: i32 }
    /// let stmt = select::<User>().filter(User::age.gte(18)).distinct(User::company);
    /// assert_eq!(stmt.field(), "company");
    /// ```
    pub fn distinct<V, S: Shape>(self, field: Field<M, V, S>) -> Distinct<M, V> {
        // Through an array the server's `distinct` gives each element's value: still `V`s.
        Distinct { filters: self.filters, field: field.as_one(), options: self.options }
    }

    /// The `find` arguments this statement sends.
    ///
    /// Fails only when a value in a filter could not be serialized to BSON.
    ///
    /// ```
    /// # use mongotic::prelude::*;
    /// # #[derive(Debug, Clone, Serialize, Deserialize, Model)]
    /// # #[mongotic(database = "app", collection = "users")]
    /// # struct User { #[serde(rename = "_id")] id: Option<ObjectId>, name: String, age: Option<i32>, active: bool }
    /// let find = select::<User>().filter(User::name.eq("Ann")).compile().unwrap();
    /// assert_eq!(find.filter, mongotic::bson::doc! { "name": { "$eq": "Ann" } });
    /// ```
    pub fn compile(&self) -> Result<CompiledFind> {
        let keys = match self.paging {
            Paging::Off => Cow::Borrowed(&self.sort),
            Paging::Keyset | Paging::After(_) => Cow::Owned(self.keyset_keys()),
        };
        let sort = (!keys.is_empty()).then(|| {
            keys.iter().map(|key| (key.path.to_string(), bson::Bson::Int32(key.direction))).collect::<Document>()
        });
        let filter = match &self.paging {
            Paging::After(keyset) => {
                let mut nodes = self.filters.clone();
                nodes.push(after_filter(&keys, keyset)?);
                compile_all(&nodes)?
            }
            Paging::Off | Paging::Keyset => compile_all(&self.filters)?,
        };
        Ok(CompiledFind {
            filter,
            sort,
            projection: self.projection.projection_document(),
            skip: self.skip,
            limit: self.limit.map(|n| i64::try_from(n).unwrap_or(i64::MAX)),
            batch_size: self.batch_size,
        })
    }

    /// Sorts by the sort keys, then `_id` (unless already sorted by it), so that every row has
    /// its own place and pages can follow one another with [`after`](Select::after).
    /// [`after`](Select::after) does it too: call it for the first page.
    ///
    /// ```
    /// # use mongotic::prelude::*;
    /// # #[derive(Debug, Serialize, Deserialize, Model)]
    /// # #[mongotic(collection = "users")]
    /// # struct User { #[serde(rename = "_id")] #[mongotic(id)] id: i64, age: i32 }
    /// let first_page = select::<User>().order_by(-User::age).keyset().limit(50);
    /// assert_eq!(first_page.compile().unwrap().sort, Some(mongotic::bson::doc! { "age": -1, "_id": 1 }));
    /// ```
    pub fn keyset(mut self) -> Self {
        if matches!(self.paging, Paging::Off) {
            self.paging = Paging::Keyset;
        }
        self
    }

    /// The rows after `last` in the select's order (its sort keys, then `_id`): the next page
    /// of a keyset pagination, without `skip`. `last` is the previous page's last row (a
    /// handle or a plain value) or its [`Keyset`]. Rows with equal sort values are told apart
    /// by `_id`, so each row is on exactly one page. Sort keys must hold one value per
    /// document (not arrays). Call it once the select's order is set.
    ///
    /// The keyset is taken now, so a row that cannot end a page is an error here, before
    /// anything runs: a row without an `_id` ([`Error::NoId`]), or a [`Keyset`] (a page token
    /// that came back from a client) whose values do not match the select's sort keys
    /// ([`Error::InvalidStatement`]).
    ///
    /// ```no_run
    /// # use mongotic::prelude::*;
    /// # #[derive(Debug, Serialize, Deserialize, Model)]
    /// # #[mongotic(database = "app", collection = "users")]
    /// # struct User { #[serde(rename = "_id")] id: Option<ObjectId>, age: Option<i32> }
    /// # async fn demo(mut session: Session) -> mongotic::Result<()> {
    /// let page = select::<User>().order_by(-User::age).keyset().limit(100);
    /// let mut rows = session.scalars(page.clone()).all().await?;
    /// while let Some(last) = rows.last() {
    ///     // ... use the rows ...
    ///     rows = session.scalars(page.clone().after(last)?).all().await?;
    /// }
    /// # Ok(()) }
    /// ```
    pub fn after(mut self, last: impl AfterRow<M>) -> Result<Self> {
        let keyset = self.keyset_of(last)?;
        self.paging = Paging::After(keyset);
        Ok(self)
    }

    /// The [`Keyset`] of the row `last` for this select: its sort key values then its `_id`,
    /// to hand out as a page token and pass back to [`after`](Select::after).
    ///
    /// ```
    /// # use mongotic::prelude::*;
    /// # #[derive(Debug, Serialize, Deserialize, Model)]
    /// # #[mongotic(collection = "users")]
    /// # struct User { #[serde(rename = "_id")] #[mongotic(id)] id: i64, name: String }
    /// let page = select::<User>().order_by(User::name).keyset();
    /// let token = page.keyset_of(&User { id: 3, name: "Ann".into() }).unwrap();
    /// assert_eq!(token.values().len(), 2); // the name, then the _id
    /// ```
    pub fn keyset_of(&self, last: impl AfterRow<M>) -> Result<Keyset> {
        let keys = self.keyset_keys();
        let paths: Vec<&str> = keys[..keys.len() - 1].iter().map(|key| key.path.as_ref()).collect();
        let keyset = last.keyset(&paths)?;
        if keyset.values().len() != keys.len() {
            return Err(Error::InvalidStatement {
                message: format!(
                    "cannot page after that row: the keyset has {} values but the select sorts by {} keys and `_id`",
                    keyset.values().len(),
                    paths.len()
                ),
            });
        }
        Ok(keyset)
    }

    /// The sort keys of a keyset page: the select's keys up to `_id`, ending with `_id`.
    fn keyset_keys(&self) -> Vec<SortKey<M>> {
        let mut keys = Vec::with_capacity(self.sort.len() + 1);
        for key in &self.sort {
            keys.push(key.clone());
            if key.path == "_id" {
                return keys;
            }
        }
        keys.push(SortKey::new(Cow::Borrowed("_id"), 1));
        keys
    }

    /// The same statement returning at most `n` documents (for `first`, `one`).
    pub(crate) fn with_limit(mut self, n: u64) -> Self {
        self.limit = Some(self.limit.map_or(n, |limit| limit.min(n)));
        self
    }
}

impl<M: Model> Select<M, Entities<M>> {
    /// Loads `relation` for the entities this select returns, with one more query per
    /// relation for the whole result (`all`, `one`, `first`), or per batch of
    /// [`yield_per`](Select::yield_per) entities (1,000 by default) when they are read one at a
    /// time or streamed; never one per entity. Read it with
    /// [`Session::related`](crate::Session::related). See [`relation`](crate::relation).
    ///
    /// ```no_run
    /// # use mongotic::prelude::*;
    /// # use mongotic::relation::Ref;
    /// # #[derive(Debug, Serialize, Deserialize, Model)]
    /// # #[mongotic(database = "blog", collection = "users")]
    /// # struct User { #[serde(rename = "_id")] id: Option<ObjectId>, name: String }
    /// # #[derive(Debug, Serialize, Deserialize, Model)]
    /// # #[mongotic(database = "blog", collection = "posts")]
    /// # struct Post { #[serde(rename = "_id")] id: Option<ObjectId>, title: String, author: Ref<User> }
    /// # async fn demo(mut session: Session) -> mongotic::Result<()> {
    /// let posts = session.scalars(select::<Post>().load(Post::author)).all().await?; // two queries
    /// for post in &posts {
    ///     println!("{} by {}", post.read().title, session.related(post, Post::author)?.read().name);
    /// }
    /// # Ok(()) }
    /// ```
    pub fn load<R: Relation<M>>(mut self, relation: R) -> Self {
        self.projection.push_load(Arc::new(LoadRelation { relation, _model: PhantomData }));
        self
    }
}

impl<M, P: Clone> Clone for Select<M, P> {
    fn clone(&self) -> Self {
        Select {
            filters: self.filters.clone(),
            sort: self.sort.clone(),
            skip: self.skip,
            limit: self.limit,
            batch_size: self.batch_size,
            paging: self.paging.clone(),
            projection: self.projection.clone(),
            options: self.options.clone(),
        }
    }
}

impl<M: Model, P: Projection<M>> fmt::Debug for Select<M, P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Select").field("model", &M::meta().name).field("find", &self.compile()).finish()
    }
}

/// The distinct values of one field among the documents matching a filter. Made by
/// [`Select::distinct`]; run it with [`Session::execute`](crate::Session::execute).
///
/// ```no_run
/// # use mongotic::prelude::*;
/// # #[derive(Debug, Clone, Serialize, Deserialize, Model)]
/// # #[mongotic(database = "app", collection = "users")]
/// # struct User { #[serde(rename = "_id")] id: Option<ObjectId>, name: String, age: Option<i32>, active: bool }
/// # async fn demo(mut session: Session) -> mongotic::Result<()> {
/// let ages: Vec<Option<i32>> = session.execute(select::<User>().distinct(User::age)).await?;
/// # Ok(()) }
/// ```
pub struct Distinct<M, V> {
    pub(crate) filters: Vec<Node>,
    pub(crate) field: Field<M, V>,
    pub(crate) options: Options,
}

impl<M: Model, V> Distinct<M, V> {
    /// The field whose values are collected.
    ///
    /// ```
    /// # use mongotic::prelude::*;
    /// # #[derive(Debug, Clone, Serialize, Deserialize, Model)]
    /// # #[mongotic(database = "app", collection = "users")]
    /// # struct User { #[serde(rename = "_id")] id: Option<ObjectId>, name: String, age: Option<i32>, active: bool }
    /// assert_eq!(select::<User>().distinct(User::age).field(), "age");
    /// ```
    pub fn field(&self) -> &str {
        self.field.path()
    }

    /// The query filter.
    ///
    /// ```
    /// # use mongotic::prelude::*;
    /// # #[derive(Debug, Clone, Serialize, Deserialize, Model)]
    /// # #[mongotic(database = "app", collection = "users")]
    /// # struct User { #[serde(rename = "_id")] id: Option<ObjectId>, name: String, age: Option<i32>, active: bool }
    /// let stmt = select::<User>().filter(User::active.eq(true)).distinct(User::age);
    /// assert_eq!(stmt.compile_filter().unwrap(), mongotic::bson::doc! { "active": { "$eq": true } });
    /// ```
    pub fn compile_filter(&self) -> Result<Document> {
        compile_all(&self.filters)
    }
}

impl<M, V> fmt::Debug for Distinct<M, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Distinct").field("field", &self.field).field("filters", &self.filters).finish()
    }
}

crate::options::statement_options!(
    Select<M, P>,
    "select::<User>().filter(User::age.gte(18))",
    [max_time, timeout, comment, read_preference, read_concern, hint, collation, allow_disk_use]
);

crate::options::statement_options!(
    Distinct<M, V>,
    "select::<User>().distinct(User::age)",
    [max_time, timeout, comment, read_preference, read_concern, collation]
);

crate::options::scope_methods!(Select<M, P>, "select::<User>()", "select::<User>()");
crate::options::scope_methods!(Distinct<M, V>, "select::<User>().distinct(User::name)", "select::<User>().distinct(User::name)");
