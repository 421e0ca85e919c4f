//! A collection's documents without a model, in a session: lookups, queries, adds, deletes.

use std::sync::Arc;

use bson::{Bson, Document, RawDocument, RawDocumentBuf};

use super::cell::{DocumentCell, TrackedDocument, decode, not_a_document};
use crate::expr::{Filter, IntoSortKeys, SortKey, Untyped, compile_all, refused_path};
use crate::model::ModelMeta;
use crate::options::Options;
use crate::session::{ErasedEntity, ErasedRows, FindShape, ServerId};
use crate::{Error, Result, Session};

/// The documents of one collection, without a model, in one session: made by
/// [`Session::documents`]. See [`document`](crate::document).
///
/// ```no_run
/// # use mongotic::prelude::*;
/// use mongotic::expr::path;
/// # async fn demo(mut session: Session) -> mongotic::Result<()> {
/// let mut users = session.documents("users")?;
/// let adults = users.find(path("age").gte(18)).order_by(-path("age")).limit(10).all().await?;
/// let how_many = users.count(path("age").gte(18)).await?;
/// # Ok(()) }
/// ```
pub struct Documents<'s> {
    session: &'s mut Session,
    meta: &'static ModelMeta,
}

impl<'s> Documents<'s> {
    pub(crate) fn new(session: &'s mut Session, meta: &'static ModelMeta) -> Self {
        Documents { session, meta }
    }

    /// `database.collection`.
    ///
    /// ```no_run
    /// # use mongotic::prelude::*;
    /// # async fn demo(mut session: Session) -> mongotic::Result<()> {
    /// assert!(session.documents("users")?.namespace().ends_with(".users"));
    /// # Ok(()) }
    /// ```
    pub fn namespace(&self) -> String {
        format!("{}.{}", self.meta.database.unwrap_or_default(), self.meta.collection)
    }

    /// The session, for what the collection does not cover (`flush`, `commit`, `begin`).
    ///
    /// ```no_run
    /// # use mongotic::prelude::*;
    /// # async fn demo(mut session: Session) -> mongotic::Result<()> {
    /// let mut users = session.documents("users")?;
    /// users.session().begin().await?;
    /// # Ok(()) }
    /// ```
    pub fn session(&mut self) -> &mut Session {
        self.session
    }

    /// Flushes the session (every pending change, of documents and typed entities alike).
    ///
    /// ```no_run
    /// # use mongotic::prelude::*;
    /// # async fn demo(mut session: Session) -> mongotic::Result<()> {
    /// let mut users = session.documents("users")?;
    /// users.add(mongotic::bson::doc! { "name": "Ann" })?;
    /// users.flush().await?;
    /// # Ok(()) }
    /// ```
    pub async fn flush(&mut self) -> Result<()> {
        self.session.flush().await
    }

    /// Stages `document` for insert (its `_id` is generated at flush when it has none) and
    /// returns its handle. No I/O. A document whose `_id` the session tracks as a typed
    /// entity is [`Error::TrackedInAnotherShape`]; one this session already tracks as a
    /// document keeps its handle, and `document` replaces nothing: use
    /// [`get`](Documents::get) and edit it.
    ///
    /// ```no_run
    /// # use mongotic::prelude::*;
    /// # async fn demo(mut session: Session) -> mongotic::Result<()> {
    /// let doc = session.documents("users")?.add(mongotic::bson::doc! { "_id": 7, "name": "Ann" })?;
    /// # Ok(()) }
    /// ```
    pub fn add(&mut self, document: Document) -> Result<TrackedDocument> {
        if let Some(refused) = document.get("_id").and_then(refused_id) {
            return Err(Error::InvalidValue { path: "_id".into(), message: refused.into() });
        }
        let handle = TrackedDocument { cell: DocumentCell::new(self.meta, document, None) };
        self.session.attach_erased(handle.erased())?;
        Ok(handle)
    }

    /// Stages the delete of `document` at the next flush (see
    /// [`Session::delete`](crate::Session::delete)).
    ///
    /// ```no_run
    /// # use mongotic::prelude::*;
    /// # async fn demo(mut session: Session) -> mongotic::Result<()> {
    /// let mut users = session.documents("users")?;
    /// if let Some(doc) = users.get(7).await? {
    ///     users.delete(&doc)?;
    /// }
    /// # Ok(()) }
    /// ```
    pub fn delete(&mut self, document: &TrackedDocument) -> Result<()> {
        self.session.delete_erased(document.cell.as_ref())
    }

    /// Forgets `document` and its pending changes (see
    /// [`Session::expunge`](crate::Session::expunge)).
    ///
    /// ```no_run
    /// # use mongotic::prelude::*;
    /// # async fn demo(mut session: Session, doc: mongotic::document::TrackedDocument) -> mongotic::Result<()> {
    /// session.documents("users")?.expunge(&doc);
    /// # Ok(()) }
    /// ```
    pub fn expunge(&mut self, document: &TrackedDocument) {
        self.session.expunge_erased(document.cell.as_ref());
    }

    /// The document with `_id` `id`: the tracked handle when the session has it (no I/O), else
    /// read with one `find`. `None` when there is no such document.
    ///
    /// ```no_run
    /// # use mongotic::prelude::*;
    /// # async fn demo(mut session: Session) -> mongotic::Result<()> {
    /// let doc = session.documents("users")?.get(mongotic::bson::oid::ObjectId::new()).await?;
    /// # Ok(()) }
    /// ```
    pub async fn get(&mut self, id: impl Into<Bson>) -> Result<Option<TrackedDocument>> {
        let id = id.into();
        let meta = self.meta;
        let found = self.session.get_erased(meta, &id, &mut make(meta)).await?;
        found.map(|entity| handle(entity, meta)).transpose()
    }

    /// Tracks stored documents read by a cursor of another session ([`DocumentFind::open`])
    /// in this session, as loaded documents (the ones already tracked keep their state).
    pub(crate) fn adopt(&mut self, stored: &[RawDocumentBuf]) -> Result<Vec<TrackedDocument>> {
        let meta = self.meta;
        let found = self.session.load_erased(meta, stored, &mut make(meta))?;
        found.into_iter().map(|entity| handle(entity, meta)).collect()
    }

    /// A query for the documents matching `filter`; refine it, then run it with
    /// [`all`](DocumentFind::all) or [`first`](DocumentFind::first).
    ///
    /// ```no_run
    /// # use mongotic::prelude::*;
    /// use mongotic::expr::path;
    /// # async fn demo(mut session: Session) -> mongotic::Result<()> {
    /// let paris = session.documents("users")?.find(path("address.city").eq("Paris")).all().await?;
    /// # Ok(()) }
    /// ```
    pub fn find(&mut self, filter: Filter<Untyped>) -> DocumentFind<'_, 's> {
        DocumentFind {
            documents: self,
            filters: vec![filter],
            sort: Vec::new(),
            skip: None,
            limit: None,
            batch_size: None,
            options: Options::default(),
        }
    }

    /// The number of documents matching `filter`.
    ///
    /// ```no_run
    /// # use mongotic::prelude::*;
    /// use mongotic::expr::path;
    /// # async fn demo(mut session: Session) -> mongotic::Result<()> {
    /// let left = session.documents("users")?.count(path("fullname").exists(true)).await?;
    /// # Ok(()) }
    /// ```
    pub async fn count(&mut self, filter: Filter<Untyped>) -> Result<u64> {
        let filter = compile_all(&[filter.into_node()])?;
        self.session.count_erased(self.meta, filter, &Options::default()).await
    }
}

/// A query over a collection's documents without a model: made by [`Documents::find`].
///
/// ```no_run
/// # use mongotic::prelude::*;
/// use mongotic::expr::path;
/// # async fn demo(mut session: Session) -> mongotic::Result<()> {
/// let page = session
///     .documents("users")?
///     .find(path("age").gte(18))
///     .order_by((path("age").desc(), path("_id")))
///     .offset(20)
///     .limit(10)
///     .all()
///     .await?;
/// # Ok(()) }
/// ```
#[must_use = "a DocumentFind does nothing until `all` or `first` is awaited"]
pub struct DocumentFind<'d, 's> {
    documents: &'d mut Documents<'s>,
    filters: Vec<Filter<Untyped>>,
    sort: Vec<SortKey<Untyped>>,
    skip: Option<u64>,
    limit: Option<u64>,
    batch_size: Option<u32>,
    options: Options,
}

impl DocumentFind<'_, '_> {
    /// Keeps only the documents that also match `filter` (ANDed).
    ///
    /// ```no_run
    /// # use mongotic::prelude::*;
    /// use mongotic::expr::path;
    /// # async fn demo(mut session: Session) -> mongotic::Result<()> {
    /// let found = session.documents("users")?.find(path("a").eq(1)).filter(path("b").eq(2)).all().await?;
    /// # Ok(()) }
    /// ```
    pub fn filter(mut self, filter: Filter<Untyped>) -> Self {
        self.filters.push(filter);
        self
    }

    /// Sorts by `keys` (`path("age")`, `path("age").desc()`, `-path("age")`, or a tuple).
    ///
    /// ```no_run
    /// # use mongotic::prelude::*;
    /// use mongotic::expr::path;
    /// # async fn demo(mut session: Session) -> mongotic::Result<()> {
    /// let oldest = session.documents("users")?.find(path("age").exists(true)).order_by(-path("age")).first().await?;
    /// # Ok(()) }
    /// ```
    pub fn order_by(mut self, keys: impl IntoSortKeys<Untyped>) -> Self {
        keys.push_keys(&mut self.sort);
        self
    }

    /// At most `n` documents.
    ///
    /// ```no_run
    /// # use mongotic::prelude::*;
    /// use mongotic::expr::path;
    /// # async fn demo(mut session: Session) -> mongotic::Result<()> {
    /// let ten = session.documents("users")?.find(path("age").gte(0)).limit(10).all().await?;
    /// # Ok(()) }
    /// ```
    pub fn limit(mut self, n: u64) -> Self {
        self.limit = Some(n);
        self
    }

    /// Skips the first `n` documents.
    ///
    /// ```no_run
    /// # use mongotic::prelude::*;
    /// use mongotic::expr::path;
    /// # async fn demo(mut session: Session) -> mongotic::Result<()> {
    /// let rest = session.documents("users")?.find(path("age").gte(0)).offset(10).all().await?;
    /// # Ok(()) }
    /// ```
    pub fn offset(mut self, n: u64) -> Self {
        self.skip = Some(n);
        self
    }

    /// Fetches documents from the server `n` at a time.
    ///
    /// ```no_run
    /// # use mongotic::prelude::*;
    /// use mongotic::expr::path;
    /// # async fn demo(mut session: Session) -> mongotic::Result<()> {
    /// let all = session.documents("users")?.find(path("age").gte(0)).yield_per(500).all().await?;
    /// # Ok(()) }
    /// ```
    pub fn yield_per(mut self, n: u32) -> Self {
        self.batch_size = Some(n);
        self
    }

    /// The statement's own options (time limit, read preference, comment…), over the
    /// session's; see [`options`](crate::options).
    ///
    /// ```no_run
    /// # use mongotic::prelude::*;
    /// use mongotic::expr::path;
    /// use mongotic::options::Options;
    /// # async fn demo(mut session: Session) -> mongotic::Result<()> {
    /// let options = Options::new().comment("report");
    /// let found = session.documents("users")?.find(path("age").gte(0)).with_options(options).all().await?;
    /// # Ok(()) }
    /// ```
    pub fn with_options(mut self, options: Options) -> Self {
        self.options = options.over(&self.options);
        self
    }

    /// Every matching document, in order, as tracked handles.
    ///
    /// ```no_run
    /// # use mongotic::prelude::*;
    /// use mongotic::expr::path;
    /// # async fn demo(mut session: Session) -> mongotic::Result<()> {
    /// let all = session.documents("users")?.find(path("age").gte(0)).all().await?;
    /// # Ok(()) }
    /// ```
    pub async fn all(self) -> Result<Vec<TrackedDocument>> {
        if self.limit == Some(0) {
            return Ok(Vec::new());
        }
        let (filter, shape) = self.statement()?;
        let meta = self.documents.meta;
        let found = self.documents.session.find_erased(meta, filter, shape, &self.options, &mut make(meta)).await?;
        found.into_iter().map(|entity| handle(entity, meta)).collect()
    }

    /// Opens a cursor over the matching documents without tracking them: a long walk (a
    /// backfill) reads one cursor in this session and has each page taken into a unit of
    /// work of its own with [`Documents::adopt`], so one query serves the whole walk.
    pub(crate) async fn open(self) -> Result<ErasedRows> {
        let (filter, shape) = self.statement()?;
        let meta = self.documents.meta;
        self.documents.session.open_erased(meta, filter, shape, &self.options).await
    }

    /// The `find` filter and shape, with every path checked.
    fn statement(&self) -> Result<(Document, FindShape)> {
        let nodes: Vec<_> = self.filters.iter().cloned().map(Filter::into_node).collect();
        let filter = compile_all(&nodes)?;
        let mut sort = Document::new();
        for key in &self.sort {
            if let Some(why) = refused_path(&key.path) {
                return Err(Error::InvalidStatement { message: format!("{why}: {:?}", key.path) });
            }
            sort.insert(key.path.to_string(), key.direction);
        }
        let shape = FindShape {
            sort: (!sort.is_empty()).then_some(sort),
            projection: None,
            skip: self.skip,
            limit: self.limit.map(|n| i64::try_from(n).unwrap_or(i64::MAX)),
            batch_size: self.batch_size,
        };
        Ok((filter, shape))
    }

    /// The first matching document, or `None`. Fetches one document.
    ///
    /// ```no_run
    /// # use mongotic::prelude::*;
    /// use mongotic::expr::path;
    /// # async fn demo(mut session: Session) -> mongotic::Result<()> {
    /// let one = session.documents("users")?.find(path("name").eq("Ann")).first().await?;
    /// # Ok(()) }
    /// ```
    pub async fn first(self) -> Result<Option<TrackedDocument>> {
        Ok(self.limit(1).all().await?.into_iter().next())
    }
}

/// An `_id` MongoDB refuses: an array, or a regular expression.
fn refused_id(id: &Bson) -> Option<&'static str> {
    match id {
        Bson::Array(_) => Some("an _id cannot be an array"),
        Bson::RegularExpression(_) => Some("an _id cannot be a regular expression"),
        _ => None,
    }
}

/// Builds the entity of a stored document of `meta`'s collection.
fn make(
    meta: &'static ModelMeta,
) -> impl FnMut(&RawDocument, Option<ServerId>) -> Result<Arc<dyn ErasedEntity>> + Send {
    move |raw: &RawDocument, server_id: Option<ServerId>| {
        let value = decode(raw).map_err(|source| {
            Error::deserialize(&format!("{}.{}", meta.database.unwrap_or_default(), meta.collection), raw, source)
        })?;
        // The stored bytes are the baseline the flush compares with: kept now, they need not
        // be made again from the value at its first change (documents are usually read to be
        // changed).
        Ok(DocumentCell::loaded(meta, value, raw, server_id) as Arc<dyn ErasedEntity>)
    }
}

fn handle(entity: Arc<dyn ErasedEntity>, meta: &'static ModelMeta) -> Result<TrackedDocument> {
    TrackedDocument::from_erased(entity)
        .ok_or_else(|| not_a_document(&format!("{}.{}", meta.database.unwrap_or_default(), meta.collection)))
}
