//! The blocking counterparts of [`crate::document`] and of running [`crate::migrate`]
//! migrations: the same methods, without `.await`.

use bson::{Bson, Document};

use super::runtime::Runtime;
use super::{Engine, Session};
use crate::Result;
use crate::document::TrackedDocument;
use crate::expr::{Filter, IntoSortKeys, Untyped};
use crate::migrate::{Migrations, Report};
use crate::options::Options;

impl Session {
    /// See [`crate::Session::documents`].
    ///
    /// ```no_run
    /// # fn demo(mut session: mongotic::blocking::Session) -> mongotic::Result<()> {
    /// let found = session.documents("users")?.get(7)?;
    /// # Ok(()) }
    /// ```
    pub fn documents(&mut self, collection: &str) -> Result<Documents<'_>> {
        let runtime = self.runtime.clone();
        Ok(Documents { inner: self.inner.documents(collection)?, runtime })
    }

    /// See [`crate::Session::documents_in`].
    ///
    /// ```no_run
    /// # fn demo(mut session: mongotic::blocking::Session) -> mongotic::Result<()> {
    /// let audit = session.documents_in("ops", "audit")?.count(mongotic::expr::path("level").eq("warn"))?;
    /// # Ok(()) }
    /// ```
    pub fn documents_in(&mut self, database: &str, collection: &str) -> Result<Documents<'_>> {
        let runtime = self.runtime.clone();
        Ok(Documents { inner: self.inner.documents_in(database, collection)?, runtime })
    }
}

/// See [`crate::document::Documents`]: a collection's documents without a model, in a blocking
/// session.
///
/// ```no_run
/// use mongotic::expr::path;
/// # fn demo(mut session: mongotic::blocking::Session) -> mongotic::Result<()> {
/// let mut users = session.documents("users")?;
/// let ann = users.add(mongotic::bson::doc! { "name": "Ann" })?;
/// users.flush()?;
/// ann.set("age", 31)?;
/// let adults = users.find(path("age").gte(18)).all()?;
/// # Ok(()) }
/// ```
pub struct Documents<'s> {
    inner: crate::document::Documents<'s>,
    runtime: Runtime,
}

impl<'s> Documents<'s> {
    /// See [`crate::document::Documents::namespace`].
    ///
    /// ```no_run
    /// # fn demo(mut session: mongotic::blocking::Session) -> mongotic::Result<()> {
    /// println!("{}", session.documents("users")?.namespace());
    /// # Ok(()) }
    /// ```
    pub fn namespace(&self) -> String {
        self.inner.namespace()
    }

    /// See [`crate::document::Documents::add`].
    ///
    /// ```no_run
    /// # fn demo(mut session: mongotic::blocking::Session) -> mongotic::Result<()> {
    /// session.documents("users")?.add(mongotic::bson::doc! { "_id": 7, "name": "Ann" })?;
    /// # Ok(()) }
    /// ```
    pub fn add(&mut self, document: Document) -> Result<TrackedDocument> {
        self.inner.add(document)
    }

    /// See [`crate::document::Documents::delete`].
    ///
    /// ```no_run
    /// # fn demo(mut session: mongotic::blocking::Session, doc: mongotic::document::TrackedDocument) -> mongotic::Result<()> {
    /// session.documents("users")?.delete(&doc)?;
    /// # Ok(()) }
    /// ```
    pub fn delete(&mut self, document: &TrackedDocument) -> Result<()> {
        self.inner.delete(document)
    }

    /// See [`crate::document::Documents::expunge`].
    ///
    /// ```no_run
    /// # fn demo(mut session: mongotic::blocking::Session, doc: mongotic::document::TrackedDocument) -> mongotic::Result<()> {
    /// session.documents("users")?.expunge(&doc);
    /// # Ok(()) }
    /// ```
    pub fn expunge(&mut self, document: &TrackedDocument) {
        self.inner.expunge(document);
    }

    /// See [`crate::document::Documents::get`].
    ///
    /// ```no_run
    /// # fn demo(mut session: mongotic::blocking::Session) -> mongotic::Result<()> {
    /// let doc = session.documents("users")?.get(7)?;
    /// # Ok(()) }
    /// ```
    pub fn get(&mut self, id: impl Into<Bson>) -> Result<Option<TrackedDocument>> {
        self.runtime.block_on(self.inner.get(id))
    }

    /// See [`crate::document::Documents::count`].
    ///
    /// ```no_run
    /// # fn demo(mut session: mongotic::blocking::Session) -> mongotic::Result<()> {
    /// let n = session.documents("users")?.count(mongotic::expr::path("age").gte(18))?;
    /// # Ok(()) }
    /// ```
    pub fn count(&mut self, filter: Filter<Untyped>) -> Result<u64> {
        self.runtime.block_on(self.inner.count(filter))
    }

    /// See [`crate::document::Documents::flush`].
    ///
    /// ```no_run
    /// # fn demo(mut session: mongotic::blocking::Session) -> mongotic::Result<()> {
    /// session.documents("users")?.flush()?;
    /// # Ok(()) }
    /// ```
    pub fn flush(&mut self) -> Result<()> {
        self.runtime.block_on(self.inner.flush())
    }

    /// See [`crate::document::Documents::find`].
    ///
    /// ```no_run
    /// # fn demo(mut session: mongotic::blocking::Session) -> mongotic::Result<()> {
    /// let paris = session.documents("users")?.find(mongotic::expr::path("city").eq("Paris")).all()?;
    /// # Ok(()) }
    /// ```
    pub fn find(&mut self, filter: Filter<Untyped>) -> DocumentFind<'_, 's> {
        DocumentFind { runtime: self.runtime.clone(), inner: self.inner.find(filter) }
    }
}

/// See [`crate::document::DocumentFind`].
///
/// ```no_run
/// use mongotic::expr::path;
/// # fn demo(mut session: mongotic::blocking::Session) -> mongotic::Result<()> {
/// let page = session.documents("users")?.find(path("age").gte(18)).order_by(-path("age")).limit(10).all()?;
/// # Ok(()) }
/// ```
#[must_use = "a DocumentFind does nothing until `all` or `first` is called"]
pub struct DocumentFind<'d, 's> {
    inner: crate::document::DocumentFind<'d, 's>,
    runtime: Runtime,
}

impl DocumentFind<'_, '_> {
    /// See [`crate::document::DocumentFind::filter`].
    ///
    /// ```no_run
    /// use mongotic::expr::path;
    /// # fn demo(mut session: mongotic::blocking::Session) -> mongotic::Result<()> {
    /// let found = session.documents("users")?.find(path("a").eq(1)).filter(path("b").eq(2)).all()?;
    /// # Ok(()) }
    /// ```
    pub fn filter(self, filter: Filter<Untyped>) -> Self {
        DocumentFind { inner: self.inner.filter(filter), runtime: self.runtime }
    }

    /// See [`crate::document::DocumentFind::order_by`].
    ///
    /// ```no_run
    /// use mongotic::expr::path;
    /// # fn demo(mut session: mongotic::blocking::Session) -> mongotic::Result<()> {
    /// let found = session.documents("users")?.find(path("a").gte(1)).order_by(-path("a")).all()?;
    /// # Ok(()) }
    /// ```
    pub fn order_by(self, keys: impl IntoSortKeys<Untyped>) -> Self {
        DocumentFind { inner: self.inner.order_by(keys), runtime: self.runtime }
    }

    /// See [`crate::document::DocumentFind::limit`].
    ///
    /// ```no_run
    /// use mongotic::expr::path;
    /// # fn demo(mut session: mongotic::blocking::Session) -> mongotic::Result<()> {
    /// let ten = session.documents("users")?.find(path("a").gte(1)).limit(10).all()?;
    /// # Ok(()) }
    /// ```
    pub fn limit(self, n: u64) -> Self {
        DocumentFind { inner: self.inner.limit(n), runtime: self.runtime }
    }

    /// See [`crate::document::DocumentFind::offset`].
    ///
    /// ```no_run
    /// use mongotic::expr::path;
    /// # fn demo(mut session: mongotic::blocking::Session) -> mongotic::Result<()> {
    /// let rest = session.documents("users")?.find(path("a").gte(1)).offset(10).all()?;
    /// # Ok(()) }
    /// ```
    pub fn offset(self, n: u64) -> Self {
        DocumentFind { inner: self.inner.offset(n), runtime: self.runtime }
    }

    /// See [`crate::document::DocumentFind::yield_per`].
    ///
    /// ```no_run
    /// use mongotic::expr::path;
    /// # fn demo(mut session: mongotic::blocking::Session) -> mongotic::Result<()> {
    /// let all = session.documents("users")?.find(path("a").gte(1)).yield_per(500).all()?;
    /// # Ok(()) }
    /// ```
    pub fn yield_per(self, n: u32) -> Self {
        DocumentFind { inner: self.inner.yield_per(n), runtime: self.runtime }
    }

    /// See [`crate::document::DocumentFind::with_options`].
    ///
    /// ```no_run
    /// use mongotic::expr::path;
    /// # fn demo(mut session: mongotic::blocking::Session) -> mongotic::Result<()> {
    /// let options = mongotic::options::Options::new().comment("report");
    /// let all = session.documents("users")?.find(path("a").gte(1)).with_options(options).all()?;
    /// # Ok(()) }
    /// ```
    pub fn with_options(self, options: Options) -> Self {
        DocumentFind { inner: self.inner.with_options(options), runtime: self.runtime }
    }

    /// See [`crate::document::DocumentFind::all`].
    ///
    /// ```no_run
    /// use mongotic::expr::path;
    /// # fn demo(mut session: mongotic::blocking::Session) -> mongotic::Result<()> {
    /// let all = session.documents("users")?.find(path("a").gte(1)).all()?;
    /// # Ok(()) }
    /// ```
    pub fn all(self) -> Result<Vec<TrackedDocument>> {
        self.runtime.block_on(self.inner.all())
    }

    /// See [`crate::document::DocumentFind::first`].
    ///
    /// ```no_run
    /// use mongotic::expr::path;
    /// # fn demo(mut session: mongotic::blocking::Session) -> mongotic::Result<()> {
    /// let one = session.documents("users")?.find(path("a").eq(1)).first()?;
    /// # Ok(()) }
    /// ```
    pub fn first(self) -> Result<Option<TrackedDocument>> {
        self.runtime.block_on(self.inner.first())
    }
}

impl Engine {
    /// Runs `migrations` (see [`Migrations::run`]) from blocking code. The steps themselves are
    /// the same as for the async API (a session step is an async closure over the async
    /// session).
    ///
    /// ```no_run
    /// # fn demo(engine: mongotic::blocking::Engine, migrations: mongotic::migrate::Migrations) -> mongotic::Result<()> {
    /// let report = engine.migrate(&migrations)?;
    /// # Ok(()) }
    /// ```
    pub fn migrate(&self, migrations: &Migrations) -> Result<Report> {
        self.runtime().block_on(migrations.run(self.as_async()))
    }

    /// The steps `migrations` would apply now (see [`Migrations::pending`]).
    ///
    /// ```no_run
    /// # fn demo(engine: mongotic::blocking::Engine, migrations: mongotic::migrate::Migrations) -> mongotic::Result<()> {
    /// let pending = engine.pending_migrations(&migrations)?;
    /// # Ok(()) }
    /// ```
    pub fn pending_migrations(&self, migrations: &Migrations) -> Result<Vec<String>> {
        self.runtime().block_on(migrations.pending(self.as_async()))
    }
}
