//! The blocking session: [`crate::Session`] with its I/O methods run to completion.

use std::fmt;
use std::future::IntoFuture;

use super::Engine;
use super::result::{IntoBlocking, ScalarResult};
use super::runtime::Runtime;
use crate::model::IntoId;
use crate::relation::Relation;
use crate::session::{EntityRef, Executable, IntoTracked};
use crate::statement::{ScalarProjection, Select};
use crate::{Model, Result, Tracked};

/// Makes blocking sessions; see [`crate::SessionFactory`].
///
/// ```no_run
/// let engine = mongotic::blocking::create_engine("mongodb://localhost:27017")?;
/// let factory = mongotic::blocking::sessionmaker(&engine);
/// let mut session = factory.session();
/// session.commit()?;
/// # Ok::<(), mongotic::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct SessionFactory {
    engine: Engine,
    /// The async factory, which holds everything a session starts with.
    inner: crate::SessionFactory,
}

/// A [`SessionFactory`] for `engine`.
///
/// ```no_run
/// # use mongotic::prelude::*;
/// # #[derive(Debug, Clone, Serialize, Deserialize, Model)]
/// # #[mongotic(database = "app", collection = "users")]
/// # struct User { #[serde(rename = "_id")] id: Option<ObjectId>, name: String, age: Option<i32>, active: bool }
/// # fn demo(engine: mongotic::blocking::Engine) -> mongotic::Result<()> {
/// let factory = mongotic::blocking::sessionmaker(&engine);
/// # Ok(()) }
/// ```
pub fn sessionmaker(engine: &Engine) -> SessionFactory {
    SessionFactory { engine: engine.clone(), inner: crate::sessionmaker(engine.as_async()) }
}

impl SessionFactory {
    /// Opens a new, empty session. No I/O.
    ///
    /// ```no_run
    /// # use mongotic::prelude::*;
    /// # #[derive(Debug, Clone, Serialize, Deserialize, Model)]
    /// # #[mongotic(database = "app", collection = "users")]
    /// # struct User { #[serde(rename = "_id")] id: Option<ObjectId>, name: String, age: Option<i32>, active: bool }
    /// # fn demo(engine: mongotic::blocking::Engine) -> mongotic::Result<()> {
    /// let mut session = mongotic::blocking::sessionmaker(&engine).session();
    /// # Ok(()) }
    /// ```
    pub fn session(&self) -> Session {
        Session { inner: self.inner.session(), runtime: self.engine.runtime().clone() }
    }

    /// See [`crate::SessionFactory::for_tenant`].
    ///
    /// ```no_run
    /// # fn demo(engine: mongotic::blocking::Engine) {
    /// let acme = mongotic::blocking::sessionmaker(&engine).for_tenant("acme");
    /// assert_eq!(acme.session().tenant(), Some(&"acme".into()));
    /// # }
    /// ```
    pub fn for_tenant(&self, tenant: impl Into<bson::Bson>) -> SessionFactory {
        SessionFactory { engine: self.engine.clone(), inner: self.inner.for_tenant(tenant) }
    }

    /// See [`crate::SessionFactory::with_options`].
    ///
    /// ```no_run
    /// # fn demo(engine: mongotic::blocking::Engine) {
    /// use std::time::Duration;
    /// use mongotic::options::Options;
    /// let factory = mongotic::blocking::sessionmaker(&engine).with_options(Options::new().timeout(Duration::from_secs(2)));
    /// # }
    /// ```
    pub fn with_options(&self, options: crate::options::Options) -> SessionFactory {
        SessionFactory { engine: self.engine.clone(), inner: self.inner.with_options(options) }
    }

    /// See [`crate::SessionFactory::options`].
    ///
    /// ```no_run
    /// # fn demo(engine: mongotic::blocking::Engine) {
    /// assert!(mongotic::blocking::sessionmaker(&engine).options().is_empty());
    /// # }
    /// ```
    pub fn options(&self) -> &crate::options::Options {
        self.inner.options()
    }

    /// The engine sessions are bound to.
    ///
    /// ```no_run
    /// # use mongotic::prelude::*;
    /// # #[derive(Debug, Clone, Serialize, Deserialize, Model)]
    /// # #[mongotic(database = "app", collection = "users")]
    /// # struct User { #[serde(rename = "_id")] id: Option<ObjectId>, name: String, age: Option<i32>, active: bool }
    /// # fn demo(engine: mongotic::blocking::Engine) -> mongotic::Result<()> {
    /// let factory = mongotic::blocking::sessionmaker(&engine);
    /// let same = factory.engine().clone();
    /// # Ok(()) }
    /// ```
    pub fn engine(&self) -> &Engine {
        &self.engine
    }
}

/// The blocking unit of work. Every method behaves as the [`crate::Session`] method of the
/// same name; those that do I/O block until it is done.
///
/// ```no_run
/// # use mongotic::prelude::*;
/// # #[derive(Debug, Serialize, Deserialize, Model)]
/// # #[mongotic(database = "app", collection = "users")]
/// # struct User { #[serde(rename = "_id")] id: Option<ObjectId>, name: String, age: Option<i32> }
/// # fn demo(engine: mongotic::blocking::Engine) -> mongotic::Result<()> {
/// let mut session = mongotic::blocking::sessionmaker(&engine).session();
/// let alice = session.add(User { id: None, name: "Alice".into(), age: Some(30) });
/// session.flush()?;
/// alice.write().age = Some(31);
/// session.commit()?;
/// let n = session.scalars(select::<User>().filter(User::age.gte(18))).count()?;
/// # Ok(()) }
/// ```
pub struct Session {
    pub(super) inner: crate::Session,
    pub(super) runtime: Runtime,
}

impl Session {
    /// A new session on `engine`; see [`crate::Session::bind`].
    ///
    /// ```no_run
    /// # use mongotic::prelude::*;
    /// # #[derive(Debug, Clone, Serialize, Deserialize, Model)]
    /// # #[mongotic(database = "app", collection = "users")]
    /// # struct User { #[serde(rename = "_id")] id: Option<ObjectId>, name: String, age: Option<i32>, active: bool }
    /// # fn demo(engine: mongotic::blocking::Engine) -> mongotic::Result<()> {
    /// let mut session = mongotic::blocking::Session::bind(&engine);
    /// # Ok(()) }
    /// ```
    pub fn bind(engine: &Engine) -> Session {
        Session { inner: crate::Session::bind(engine.as_async()), runtime: engine.runtime().clone() }
    }

    /// The async session inside.
    ///
    /// ```no_run
    /// # use mongotic::prelude::*;
    /// # #[derive(Debug, Clone, Serialize, Deserialize, Model)]
    /// # #[mongotic(database = "app", collection = "users")]
    /// # struct User { #[serde(rename = "_id")] id: Option<ObjectId>, name: String, age: Option<i32>, active: bool }
    /// # fn demo(mut session: mongotic::blocking::Session) -> mongotic::Result<()> {
    /// let inner: &mut mongotic::Session = session.as_async();
    /// # Ok(()) }
    /// ```
    pub fn as_async(&mut self) -> &mut crate::Session {
        &mut self.inner
    }

    /// See [`crate::Session::add`].
    ///
    /// ```no_run
    /// # use mongotic::prelude::*;
    /// # #[derive(Debug, Clone, Serialize, Deserialize, Model)]
    /// # #[mongotic(database = "app", collection = "users")]
    /// # struct User { #[serde(rename = "_id")] id: Option<ObjectId>, name: String, age: Option<i32>, active: bool }
    /// # fn demo(mut session: mongotic::blocking::Session) -> mongotic::Result<()> {
    /// let alice = session.add(User { id: None, name: "Alice".into(), age: None, active: true });
    /// # Ok(()) }
    /// ```
    pub fn add<E: IntoTracked>(&mut self, entity: E) -> Tracked<E::Model> {
        self.inner.add(entity)
    }

    /// See [`crate::Session::add_all`].
    ///
    /// ```no_run
    /// # use mongotic::prelude::*;
    /// # #[derive(Debug, Clone, Serialize, Deserialize, Model)]
    /// # #[mongotic(database = "app", collection = "users")]
    /// # struct User { #[serde(rename = "_id")] id: Option<ObjectId>, name: String, age: Option<i32>, active: bool }
    /// # fn demo(mut session: mongotic::blocking::Session) -> mongotic::Result<()> {
    /// session.add_all(["Bob", "Carol"].map(|name| User { id: None, name: name.into(), age: None, active: true }));
    /// # Ok(()) }
    /// ```
    pub fn add_all<E: IntoTracked>(&mut self, entities: impl IntoIterator<Item = E>) -> Vec<Tracked<E::Model>> {
        self.inner.add_all(entities)
    }

    /// See [`crate::Session::delete`].
    ///
    /// ```no_run
    /// # use mongotic::prelude::*;
    /// # #[derive(Debug, Clone, Serialize, Deserialize, Model)]
    /// # #[mongotic(database = "app", collection = "users")]
    /// # struct User { #[serde(rename = "_id")] id: Option<ObjectId>, name: String, age: Option<i32>, active: bool }
    /// # fn demo(mut session: mongotic::blocking::Session) -> mongotic::Result<()> {
    /// let user = session.scalars(select::<User>()).one()?;
    /// session.delete(&user)?;
    /// # Ok(()) }
    /// ```
    pub fn delete<M: crate::Writable>(&mut self, entity: &Tracked<M>) -> Result<()> {
        self.inner.delete(entity)
    }

    /// See [`crate::Session::merge`].
    ///
    /// ```no_run
    /// # use mongotic::prelude::*;
    /// # #[derive(Debug, Clone, Serialize, Deserialize, Model)]
    /// # #[mongotic(database = "app", collection = "users")]
    /// # struct User { #[serde(rename = "_id")] id: Option<ObjectId>, name: String, age: Option<i32>, active: bool }
    /// # fn demo(mut session: mongotic::blocking::Session) -> mongotic::Result<()> {
    /// session.merge(User { id: "507f1f77bcf86cd799439011".parse().ok(), name: "Ann".into(), age: None, active: true })?;
    /// # Ok(()) }
    /// ```
    pub fn merge<M: crate::Writable>(&mut self, value: M) -> Result<Tracked<M>> {
        self.inner.merge(value)
    }

    /// See [`crate::Session::upsert`].
    ///
    /// ```no_run
    /// # use mongotic::prelude::*;
    /// # #[derive(Debug, Serialize, Deserialize, Model)]
    /// # #[mongotic(collection = "users")]
    /// # struct User { #[serde(rename = "_id")] id: Option<ObjectId>, email: String, name: String }
    /// # fn demo(mut session: mongotic::blocking::Session) -> mongotic::Result<()> {
    /// let ann = session.upsert(User::email, User { id: None, email: "ann@example.com".into(), name: "Ann".into() })?;
    /// session.commit()?;
    /// # Ok(()) }
    /// ```
    pub fn upsert<M: crate::Writable>(&mut self, key: impl crate::UpsertKey<M>, value: M) -> Result<Tracked<M>> {
        self.inner.upsert(key, value)
    }

    /// See [`crate::Session::upsert_all`].
    ///
    /// ```no_run
    /// # use mongotic::prelude::*;
    /// # #[derive(Debug, Serialize, Deserialize, Model)]
    /// # #[mongotic(collection = "users")]
    /// # struct User { #[serde(rename = "_id")] id: Option<ObjectId>, email: String, name: String }
    /// # fn demo(mut session: mongotic::blocking::Session, imported: Vec<User>) -> mongotic::Result<()> {
    /// let users = session.upsert_all(User::email, imported)?;
    /// # Ok(()) }
    /// ```
    pub fn upsert_all<M: crate::Writable>(
        &mut self,
        key: impl crate::UpsertKey<M>,
        values: impl IntoIterator<Item = M>,
    ) -> Result<Vec<Tracked<M>>> {
        self.inner.upsert_all(key, values)
    }

    /// See [`crate::Session::upsert_with`].
    ///
    /// ```no_run
    /// # use mongotic::prelude::*;
    /// # #[derive(Debug, Serialize, Deserialize, Model)]
    /// # #[mongotic(collection = "users")]
    /// # struct User { #[serde(rename = "_id")] id: Option<ObjectId>, email: String, signed_up_by: String }
    /// # fn demo(mut session: mongotic::blocking::Session, imported: Vec<User>) -> mongotic::Result<()> {
    /// session.upsert_with(upsert::<User>().on(User::email).on_insert(User::signed_up_by).values(imported))?;
    /// session.commit()?;
    /// # Ok(()) }
    /// ```
    pub fn upsert_with<M: crate::Writable>(&mut self, stmt: crate::Upsert<M>) -> Result<Vec<Tracked<M>>> {
        self.inner.upsert_with(stmt)
    }

    /// See [`crate::Session::restore`].
    ///
    /// ```no_run
    /// # use mongotic::prelude::*;
    /// # #[derive(Debug, Serialize, Deserialize, Model)]
    /// # #[mongotic(collection = "notes")]
    /// # struct Note { #[serde(rename = "_id")] id: i64, #[serde(default)] #[mongotic(soft_delete)] deleted_at: Option<mongotic::bson::DateTime> }
    /// # fn demo(mut session: mongotic::blocking::Session) -> mongotic::Result<()> {
    /// for note in session.scalars(select::<Note>().only_deleted()).all()? {
    ///     session.restore(&note)?;
    /// }
    /// session.commit()?;
    /// # Ok(()) }
    /// ```
    pub fn restore<M: crate::SoftDelete + crate::Writable>(&mut self, entity: &Tracked<M>) -> Result<()> {
        self.inner.restore(entity)
    }

    /// See [`crate::Session::tenant`].
    ///
    /// ```no_run
    /// # fn demo(session: mongotic::blocking::Session) {
    /// println!("{:?}", session.tenant());
    /// # }
    /// ```
    pub fn tenant(&self) -> Option<&bson::Bson> {
        self.inner.tenant()
    }

    /// See [`crate::Session::set_tenant`].
    ///
    /// ```no_run
    /// # fn demo(mut session: mongotic::blocking::Session) {
    /// session.set_tenant(Some("acme".into()));
    /// # }
    /// ```
    pub fn set_tenant(&mut self, tenant: Option<bson::Bson>) {
        self.inner.set_tenant(tenant);
    }

    /// See [`crate::Session::expunge`].
    ///
    /// ```no_run
    /// # use mongotic::prelude::*;
    /// # #[derive(Debug, Clone, Serialize, Deserialize, Model)]
    /// # #[mongotic(database = "app", collection = "users")]
    /// # struct User { #[serde(rename = "_id")] id: Option<ObjectId>, name: String, age: Option<i32>, active: bool }
    /// # fn demo(mut session: mongotic::blocking::Session) -> mongotic::Result<()> {
    /// let user = session.scalars(select::<User>()).one()?;
    /// session.expunge(&user);
    /// # Ok(()) }
    /// ```
    pub fn expunge<M: Model>(&mut self, entity: &Tracked<M>) {
        self.inner.expunge(entity)
    }

    /// See [`crate::Session::expire`].
    ///
    /// ```no_run
    /// # use mongotic::prelude::*;
    /// # #[derive(Debug, Clone, Serialize, Deserialize, Model)]
    /// # #[mongotic(database = "app", collection = "users")]
    /// # struct User { #[serde(rename = "_id")] id: Option<ObjectId>, name: String, age: Option<i32>, active: bool }
    /// # fn demo(mut session: mongotic::blocking::Session) -> mongotic::Result<()> {
    /// let user = session.scalars(select::<User>()).one()?;
    /// session.expire(&user);
    /// # Ok(()) }
    /// ```
    pub fn expire<M: Model>(&mut self, entity: &Tracked<M>) {
        self.inner.expire(entity)
    }

    /// See [`crate::Session::refresh`].
    ///
    /// ```no_run
    /// # use mongotic::prelude::*;
    /// # #[derive(Debug, Clone, Serialize, Deserialize, Model)]
    /// # #[mongotic(database = "app", collection = "users")]
    /// # struct User { #[serde(rename = "_id")] id: Option<ObjectId>, name: String, age: Option<i32>, active: bool }
    /// # fn demo(mut session: mongotic::blocking::Session) -> mongotic::Result<()> {
    /// let user = session.scalars(select::<User>()).one()?;
    /// session.refresh(&user)?;
    /// # Ok(()) }
    /// ```
    pub fn refresh<M: Model>(&mut self, entity: &Tracked<M>) -> Result<()> {
        self.runtime.block_on(self.inner.refresh(entity))
    }

    /// See [`crate::Session::get`].
    ///
    /// ```no_run
    /// # use mongotic::prelude::*;
    /// # #[derive(Debug, Clone, Serialize, Deserialize, Model)]
    /// # #[mongotic(database = "app", collection = "users")]
    /// # struct User { #[serde(rename = "_id")] id: Option<ObjectId>, name: String, age: Option<i32>, active: bool }
    /// # fn demo(mut session: mongotic::blocking::Session) -> mongotic::Result<()> {
    /// let user = session.get::<User>("507f1f77bcf86cd799439011")?;
    /// # Ok(()) }
    /// ```
    pub fn get<M: Model>(&mut self, id: impl IntoId<M::Id>) -> Result<Option<Tracked<M>>> {
        self.runtime.block_on(self.inner.get::<M>(id))
    }

    /// See [`crate::Session::get_many`].
    ///
    /// ```no_run
    /// # use mongotic::prelude::*;
    /// # #[derive(Debug, Clone, Serialize, Deserialize, Model)]
    /// # #[mongotic(database = "app", collection = "users")]
    /// # struct User { #[serde(rename = "_id")] id: Option<ObjectId>, name: String }
    /// # fn demo(mut session: mongotic::blocking::Session) -> mongotic::Result<()> {
    /// let users = session.get_many::<User>(["507f1f77bcf86cd799439011", "507f1f77bcf86cd799439012"])?;
    /// # Ok(()) }
    /// ```
    pub fn get_many<M: Model>(
        &mut self,
        ids: impl IntoIterator<Item = impl IntoId<M::Id>>,
    ) -> Result<Vec<Option<Tracked<M>>>> {
        self.runtime.block_on(self.inner.get_many::<M>(ids))
    }

    /// See [`crate::Session::load`].
    ///
    /// ```no_run
    /// # use mongotic::prelude::*;
    /// # use mongotic::relation::Ref;
    /// # #[derive(Debug, Serialize, Deserialize, Model)]
    /// # #[mongotic(database = "blog", collection = "users")]
    /// # struct User { #[serde(rename = "_id")] id: Option<ObjectId>, name: String }
    /// # #[derive(Debug, Serialize, Deserialize, Model)]
    /// # #[mongotic(database = "blog", collection = "posts")]
    /// # struct Post { #[serde(rename = "_id")] id: Option<ObjectId>, author: Ref<User> }
    /// # fn demo(mut session: mongotic::blocking::Session) -> mongotic::Result<()> {
    /// let posts = session.scalars(select::<Post>()).all()?;
    /// session.load(&posts, Post::author)?;
    /// # Ok(()) }
    /// ```
    pub fn load<M: Model, R: Relation<M>>(&mut self, entities: &[Tracked<M>], relation: R) -> Result<()> {
        self.runtime.block_on(self.inner.load(entities, relation))
    }

    /// See [`crate::Session::related`].
    ///
    /// ```no_run
    /// # use mongotic::prelude::*;
    /// # use mongotic::relation::Ref;
    /// # #[derive(Debug, Serialize, Deserialize, Model)]
    /// # #[mongotic(database = "blog", collection = "users")]
    /// # struct User { #[serde(rename = "_id")] id: Option<ObjectId>, name: String }
    /// # #[derive(Debug, Serialize, Deserialize, Model)]
    /// # #[mongotic(database = "blog", collection = "posts")]
    /// # struct Post { #[serde(rename = "_id")] id: Option<ObjectId>, author: Ref<User> }
    /// # fn demo(mut session: mongotic::blocking::Session) -> mongotic::Result<()> {
    /// let post = session.scalars(select::<Post>().load(Post::author)).one()?;
    /// let author = session.related(&post, Post::author)?;
    /// # Ok(()) }
    /// ```
    pub fn related<M: Model, R: Relation<M>>(&self, entity: &Tracked<M>, relation: R) -> Result<R::Related> {
        self.inner.related(entity, relation)
    }

    /// See [`crate::Session::scalars`]; the result also iterates (`for user in ...`).
    ///
    /// ```no_run
    /// # use mongotic::prelude::*;
    /// # #[derive(Debug, Clone, Serialize, Deserialize, Model)]
    /// # #[mongotic(database = "app", collection = "users")]
    /// # struct User { #[serde(rename = "_id")] id: Option<ObjectId>, name: String, age: Option<i32>, active: bool }
    /// # fn demo(mut session: mongotic::blocking::Session) -> mongotic::Result<()> {
    /// let adults = session.scalars(select::<User>().filter(User::age.gte(18))).all()?;
    /// # Ok(()) }
    /// ```
    pub fn scalars<M: Model, P: ScalarProjection<M>>(&mut self, stmt: Select<M, P>) -> ScalarResult<'_, M, P> {
        ScalarResult::new(self.inner.scalars(stmt), &self.runtime)
    }

    /// See [`crate::Session::scalar`].
    ///
    /// ```no_run
    /// # use mongotic::prelude::*;
    /// # #[derive(Debug, Clone, Serialize, Deserialize, Model)]
    /// # #[mongotic(database = "app", collection = "users")]
    /// # struct User { #[serde(rename = "_id")] id: Option<ObjectId>, name: String, age: Option<i32>, active: bool }
    /// # fn demo(mut session: mongotic::blocking::Session) -> mongotic::Result<()> {
    /// let age = session.scalar(select::<User>().columns(User::age).filter(User::name.eq("Ann")))?;
    /// # Ok(()) }
    /// ```
    pub fn scalar<M: Model, P: ScalarProjection<M>>(&mut self, stmt: Select<M, P>) -> Result<Option<P::Output>> {
        self.runtime.block_on(self.inner.scalar(stmt))
    }

    /// See [`crate::Session::execute`]; a select gives a blocking
    /// [`SelectResult`](super::SelectResult).
    ///
    /// ```no_run
    /// # use mongotic::prelude::*;
    /// # #[derive(Debug, Clone, Serialize, Deserialize, Model)]
    /// # #[mongotic(database = "app", collection = "users")]
    /// # struct User { #[serde(rename = "_id")] id: Option<ObjectId>, name: String, age: Option<i32>, active: bool }
    /// # fn demo(mut session: mongotic::blocking::Session) -> mongotic::Result<()> {
    /// let result = session.execute(delete::<User>().filter(User::active.eq(false)))?;
    /// println!("{} deleted", result.rowcount);
    /// # Ok(()) }
    /// ```
    pub fn execute<'s, S>(&'s mut self, stmt: S) -> Result<<S::Output as IntoBlocking<'s>>::Blocking>
    where
        S: Executable<'s> + 's,
        S::Output: IntoBlocking<'s>,
    {
        let runtime = &self.runtime;
        let output = runtime.block_on(self.inner.execute(stmt).into_future())?;
        Ok(output.into_blocking(runtime))
    }

    /// See [`crate::Session::flush`].
    ///
    /// ```no_run
    /// # use mongotic::prelude::*;
    /// # #[derive(Debug, Clone, Serialize, Deserialize, Model)]
    /// # #[mongotic(database = "app", collection = "users")]
    /// # struct User { #[serde(rename = "_id")] id: Option<ObjectId>, name: String, age: Option<i32>, active: bool }
    /// # fn demo(mut session: mongotic::blocking::Session) -> mongotic::Result<()> {
    /// let user = session.add(User { id: None, name: "Ann".into(), age: None, active: true });
    /// session.flush()?;
    /// assert!(user.id().is_some());
    /// # Ok(()) }
    /// ```
    pub fn flush(&mut self) -> Result<()> {
        self.runtime.block_on(self.inner.flush())
    }

    /// See [`crate::Session::preview_flush`]: what the next flush would send, sending nothing.
    ///
    /// ```no_run
    /// # use mongotic::prelude::*;
    /// # #[derive(Debug, Clone, Serialize, Deserialize, Model)]
    /// # #[mongotic(database = "app", collection = "users")]
    /// # struct User { #[serde(rename = "_id")] id: Option<ObjectId>, name: String, age: Option<i32>, active: bool }
    /// # fn demo(mut session: mongotic::blocking::Session) -> mongotic::Result<()> {
    /// session.add(User { id: None, name: "Ann".into(), age: None, active: true });
    /// let preview = session.preview_flush()?;
    /// println!("{} round trips: {:?}", preview.round_trips(), preview.commands());
    /// # Ok(()) }
    /// ```
    pub fn preview_flush(&mut self) -> Result<crate::session::FlushPreview> {
        self.runtime.block_on(self.inner.preview_flush())
    }

    /// See [`crate::Session::begin`]: opens an explicit transaction.
    ///
    /// ```no_run
    /// # fn demo(mut session: mongotic::blocking::Session) -> mongotic::Result<()> {
    /// session.begin()?;
    /// session.commit()?;
    /// # Ok(()) }
    /// ```
    pub fn begin(&mut self) -> Result<()> {
        self.runtime.block_on(self.inner.begin())
    }

    /// See [`crate::Session::begin_with`].
    ///
    /// ```no_run
    /// # fn demo(mut session: mongotic::blocking::Session) -> mongotic::Result<()> {
    /// use mongotic::options::{ReadConcern, TransactionOptions};
    /// let mut options = TransactionOptions::default();
    /// options.read_concern = Some(ReadConcern::snapshot());
    /// session.begin_with(options)?;
    /// session.commit()?;
    /// # Ok(()) }
    /// ```
    pub fn begin_with(&mut self, options: crate::options::TransactionOptions) -> Result<()> {
        self.runtime.block_on(self.inner.begin_with(options))
    }

    /// See [`crate::Session::options`].
    ///
    /// ```no_run
    /// # fn demo(session: mongotic::blocking::Session) {
    /// println!("{:?}", session.options().get_timeout());
    /// # }
    /// ```
    pub fn options(&self) -> &crate::options::Options {
        self.inner.options()
    }

    /// See [`crate::Session::set_options`].
    ///
    /// ```no_run
    /// # fn demo(mut session: mongotic::blocking::Session) {
    /// session.set_options(mongotic::options::Options::new().comment("cli"));
    /// # }
    /// ```
    pub fn set_options(&mut self, options: crate::options::Options) {
        self.inner.set_options(options);
    }

    /// See [`crate::Session::in_transaction`].
    ///
    /// ```no_run
    /// # fn demo(session: mongotic::blocking::Session) {
    /// assert!(!session.in_transaction());
    /// # }
    /// ```
    pub fn in_transaction(&self) -> bool {
        self.inner.in_transaction()
    }

    /// See [`crate::Session::transaction`]: runs `body` in a transaction and commits it, running
    /// it again when the failure is transient.
    ///
    /// ```no_run
    /// # use mongotic::prelude::*;
    /// # #[derive(Debug, Serialize, Deserialize, Model)]
    /// # #[mongotic(database = "bank", collection = "accounts")]
    /// # struct Account { #[serde(rename = "_id")] #[mongotic(id)] id: String, balance: i64 }
    /// # fn demo(mut session: mongotic::blocking::Session) -> mongotic::Result<()> {
    /// session.transaction(|s| {
    ///     if let Some(from) = s.get::<Account>("alice")? {
    ///         from.write().balance -= 10;
    ///     }
    ///     Ok(())
    /// })?;
    /// # Ok(()) }
    /// ```
    pub fn transaction<T>(&mut self, mut body: impl FnMut(&mut Session) -> Result<T>) -> Result<T> {
        let mut attempts = self.inner.engine().retry_policy().start();
        loop {
            self.begin()?;
            let result = body(self).and_then(|value| self.commit().map(|()| value));
            let err = match result {
                Ok(value) => return Ok(value),
                Err(err) => err,
            };
            self.runtime.block_on(self.inner.abort_on_server());
            self.rollback();
            if !err.is_transient() || !self.runtime.block_on(attempts.wait()) {
                return Err(err);
            }
        }
    }

    /// See [`crate::Session::commit`].
    ///
    /// ```no_run
    /// # use mongotic::prelude::*;
    /// # #[derive(Debug, Clone, Serialize, Deserialize, Model)]
    /// # #[mongotic(database = "app", collection = "users")]
    /// # struct User { #[serde(rename = "_id")] id: Option<ObjectId>, name: String, age: Option<i32>, active: bool }
    /// # fn demo(mut session: mongotic::blocking::Session) -> mongotic::Result<()> {
    /// session.commit()?;
    /// # Ok(()) }
    /// ```
    pub fn commit(&mut self) -> Result<()> {
        self.runtime.block_on(self.inner.commit())
    }

    /// See [`crate::Session::rollback`].
    ///
    /// ```no_run
    /// # use mongotic::prelude::*;
    /// # #[derive(Debug, Clone, Serialize, Deserialize, Model)]
    /// # #[mongotic(database = "app", collection = "users")]
    /// # struct User { #[serde(rename = "_id")] id: Option<ObjectId>, name: String, age: Option<i32>, active: bool }
    /// # fn demo(mut session: mongotic::blocking::Session) -> mongotic::Result<()> {
    /// session.add(User { id: None, name: "Ann".into(), age: None, active: true });
    /// session.rollback();
    /// assert!(session.new().is_empty());
    /// # Ok(()) }
    /// ```
    pub fn rollback(&mut self) {
        self.inner.rollback()
    }

    /// See [`crate::Session::close`].
    ///
    /// ```no_run
    /// # use mongotic::prelude::*;
    /// # #[derive(Debug, Clone, Serialize, Deserialize, Model)]
    /// # #[mongotic(database = "app", collection = "users")]
    /// # struct User { #[serde(rename = "_id")] id: Option<ObjectId>, name: String, age: Option<i32>, active: bool }
    /// # fn demo(mut session: mongotic::blocking::Session) -> mongotic::Result<()> {
    /// session.close();
    /// # Ok(()) }
    /// ```
    pub fn close(self) {
        self.inner.close()
    }

    /// See [`crate::Session::new`].
    ///
    /// ```no_run
    /// # use mongotic::prelude::*;
    /// # #[derive(Debug, Clone, Serialize, Deserialize, Model)]
    /// # #[mongotic(database = "app", collection = "users")]
    /// # struct User { #[serde(rename = "_id")] id: Option<ObjectId>, name: String, age: Option<i32>, active: bool }
    /// # fn demo(mut session: mongotic::blocking::Session) -> mongotic::Result<()> {
    /// let user = session.add(User { id: None, name: "Ann".into(), age: None, active: true });
    /// assert!(session.new()[0] == user);
    /// # Ok(()) }
    /// ```
    #[allow(clippy::new_ret_no_self, clippy::wrong_self_convention)]
    pub fn new(&self) -> Vec<EntityRef> {
        self.inner.new()
    }

    /// See [`crate::Session::dirty`].
    ///
    /// ```no_run
    /// # use mongotic::prelude::*;
    /// # #[derive(Debug, Clone, Serialize, Deserialize, Model)]
    /// # #[mongotic(database = "app", collection = "users")]
    /// # struct User { #[serde(rename = "_id")] id: Option<ObjectId>, name: String, age: Option<i32>, active: bool }
    /// # fn demo(mut session: mongotic::blocking::Session) -> mongotic::Result<()> {
    /// let user = session.scalars(select::<User>()).one()?;
    /// user.write().age = Some(40);
    /// assert!(session.dirty()[0] == user);
    /// # Ok(()) }
    /// ```
    pub fn dirty(&self) -> Vec<EntityRef> {
        self.inner.dirty()
    }

    /// See [`crate::Session::deleted`].
    ///
    /// ```no_run
    /// # use mongotic::prelude::*;
    /// # #[derive(Debug, Clone, Serialize, Deserialize, Model)]
    /// # #[mongotic(database = "app", collection = "users")]
    /// # struct User { #[serde(rename = "_id")] id: Option<ObjectId>, name: String, age: Option<i32>, active: bool }
    /// # fn demo(mut session: mongotic::blocking::Session) -> mongotic::Result<()> {
    /// let user = session.scalars(select::<User>()).one()?;
    /// session.delete(&user)?;
    /// assert!(session.deleted()[0] == user);
    /// # Ok(()) }
    /// ```
    pub fn deleted(&self) -> Vec<EntityRef> {
        self.inner.deleted()
    }

    /// See [`crate::Session::contains`].
    ///
    /// ```no_run
    /// # use mongotic::prelude::*;
    /// # #[derive(Debug, Clone, Serialize, Deserialize, Model)]
    /// # #[mongotic(database = "app", collection = "users")]
    /// # struct User { #[serde(rename = "_id")] id: Option<ObjectId>, name: String, age: Option<i32>, active: bool }
    /// # fn demo(mut session: mongotic::blocking::Session) -> mongotic::Result<()> {
    /// let user = session.add(User { id: None, name: "Ann".into(), age: None, active: true });
    /// assert!(session.contains(&user));
    /// # Ok(()) }
    /// ```
    pub fn contains<M: Model>(&self, entity: &Tracked<M>) -> bool {
        self.inner.contains(entity)
    }

    /// See [`crate::Session::len`].
    ///
    /// ```no_run
    /// # use mongotic::prelude::*;
    /// # #[derive(Debug, Clone, Serialize, Deserialize, Model)]
    /// # #[mongotic(database = "app", collection = "users")]
    /// # struct User { #[serde(rename = "_id")] id: Option<ObjectId>, name: String, age: Option<i32>, active: bool }
    /// # fn demo(mut session: mongotic::blocking::Session) -> mongotic::Result<()> {
    /// println!("{} tracked", session.len());
    /// # Ok(()) }
    /// ```
    pub fn len(&self) -> usize {
        self.inner.len()
    }

    /// See [`crate::Session::is_empty`].
    ///
    /// ```no_run
    /// # use mongotic::prelude::*;
    /// # #[derive(Debug, Clone, Serialize, Deserialize, Model)]
    /// # #[mongotic(database = "app", collection = "users")]
    /// # struct User { #[serde(rename = "_id")] id: Option<ObjectId>, name: String, age: Option<i32>, active: bool }
    /// # fn demo(mut session: mongotic::blocking::Session) -> mongotic::Result<()> {
    /// assert!(session.is_empty());
    /// # Ok(()) }
    /// ```
    pub fn is_empty(&self) -> bool {
        self.inner.is_empty()
    }
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("blocking::Session").field(&self.inner).finish()
    }
}
