//! The session: a unit of work over one engine.
//!
//! A [`Session`] tracks the entities it loaded or was given. Queries go to the server at once;
//! writes are staged and sent together by [`Session::flush`] (or [`Session::commit`]), which
//! writes only what changed, in as few round trips as the server allows. The module is split
//! by job:
//!
//! - `tracked`: the entity handles ([`Tracked`], [`EntityRef`]) and their tracking state;
//! - `unit_of_work`: which entities the session tracks, in which state, and the identity map
//!   (filed per identity space, `space`: a model's, or a namespace's documents);
//! - `diff`: the comparison of an entity with its baseline, producing `$set`/`$unset`;
//! - `store`: by-id reads of stored documents, for the flush and for reconciliation;
//! - `retry`: the one retry policy (bounded by time, backing off with jitter) of every loop;
//! - `transaction`: the driver session, the explicit transaction's state and its journal;
//! - `io`: the one layer every statement's command goes through (options, scopes, spans);
//! - `scope`: the soft-delete and tenant scopes, applied to every command and write;
//! - `flush`: one orchestrator over the transactional and the direct path, and the pieces
//!   below them (planning, sending, recording what the server did);
//! - `reconcile`: reading back writes whose outcome is unknown, instead of guessing;
//! - `query`: running selects and turning documents into entities or rows;
//! - `execute`, `upsert`, `aggregate`, `relations`: what `Session::execute` accepts, staged
//!   upserts, aggregations, relation loading;
//! - `follow`: applying change events to the entities a session tracks;
//! - `untyped`: reads and writes of entities known only as erased entities, which documents
//!   without a model ([`crate::document`]) stand on.
//!
//! ```no_run
//! # use mongotic::prelude::*;
//! # #[derive(Debug, Serialize, Deserialize, Model)]
//! # #[mongotic(database = "app", collection = "users")]
//! # struct User { #[serde(rename = "_id")] id: Option<ObjectId>, name: String, age: Option<i32> }
//! # async fn demo(engine: Engine) -> mongotic::Result<()> {
//! let mut session = sessionmaker(&engine).session();
//! let ann = session.add(User { id: None, name: "Ann".into(), age: Some(30) });
//! session.flush().await?;
//! ann.write().age = Some(31);
//! session.commit().await?; // {$set: {age: 31}}
//! # Ok(()) }
//! ```

mod aggregate;
mod diff;
mod execute;
mod flush;
mod follow;
mod io;
mod query;
mod reconcile;
mod relations;
mod retry;
mod scope;
mod space;
mod store;
mod tracked;
mod transaction;
mod unit_of_work;
mod untyped;
mod upsert;

use std::fmt;

pub use execute::{Executable, Execution};
pub use flush::FlushPreview;
pub(crate) use io::FindShape;
pub(crate) use query::Loader;
pub use query::{ScalarResult, SelectResult};
pub(crate) use retry::Attempts;
pub use retry::RetryPolicy;
pub(crate) use space::Space;
pub(crate) use tracked::{Baseline, CellError, CellState, ErasedEntity, ServerId};
pub use tracked::{EntityRef, ReadGuard, Tracked, WriteGuard};
pub(crate) use untyped::ErasedRows;

use crate::model::{IdKey, IntoId, ModelId, Writable};
use crate::options::Options;
use crate::statement::{ScalarProjection, Select};
use crate::{Engine, Error, Model, Result};
use tracked::Intent;
use transaction::Transaction;
use unit_of_work::{Status, UnitOfWork};

/// Makes sessions bound to one engine: the Rust counterpart of the seed's `sessionmaker`.
///
/// Cheap to clone, `Send + Sync`: keep one in your application state and open a session per
/// task or request.
///
/// ```no_run
/// # async fn demo() -> mongotic::Result<()> {
/// use mongotic::{create_engine, sessionmaker};
///
/// let engine = create_engine("mongodb://localhost:27017").await?;
/// let factory = sessionmaker(&engine);
/// let mut session = factory.session();
/// session.commit().await?;
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct SessionFactory {
    engine: Engine,
    /// The options every session starts with.
    options: Options,
    /// The tenant every session is bound to, if any.
    tenant: Option<bson::Bson>,
}

/// A [`SessionFactory`] for `engine`.
///
/// ```no_run
/// # use mongotic::prelude::*;
/// # #[derive(Debug, Clone, Serialize, Deserialize, Model)]
/// # #[mongotic(database = "app", collection = "users")]
/// # struct User { #[serde(rename = "_id")] id: Option<ObjectId>, name: String, age: Option<i32>, active: bool }
/// # async fn demo(engine: mongotic::Engine) -> mongotic::Result<()> {
/// let factory = sessionmaker(&engine);
/// let mut session = factory.session();
/// # Ok(()) }
/// ```
pub fn sessionmaker(engine: &Engine) -> SessionFactory {
    SessionFactory { engine: engine.clone(), options: Options::default(), tenant: None }
}

impl SessionFactory {
    /// Opens a new, empty session. No I/O.
    ///
    /// ```no_run
    /// # use mongotic::prelude::*;
    /// # #[derive(Debug, Clone, Serialize, Deserialize, Model)]
    /// # #[mongotic(database = "app", collection = "users")]
    /// # struct User { #[serde(rename = "_id")] id: Option<ObjectId>, name: String, age: Option<i32>, active: bool }
    /// # async fn demo(engine: mongotic::Engine) -> mongotic::Result<()> {
    /// let mut session = sessionmaker(&engine).session();
    /// assert!(session.is_empty());
    /// # Ok(()) }
    /// ```
    pub fn session(&self) -> Session {
        let mut session = Session::bind(&self.engine);
        session.options = self.options.clone();
        session.uow.set_tenant(self.tenant.clone());
        session
    }

    /// The same factory, whose sessions are bound to `tenant`: for every model with a
    /// `#[mongotic(tenant)]` field, each read and each write of its sessions filters on the
    /// tenant, each insert is stamped with it, and a change of the field is refused (see
    /// [`TenantScoped`](crate::TenantScoped)). A read across tenants needs
    /// [`Select::unscoped`](crate::Select::unscoped).
    ///
    /// ```no_run
    /// # async fn demo(engine: mongotic::Engine) {
    /// let acme = mongotic::sessionmaker(&engine).for_tenant("acme");
    /// assert_eq!(acme.session().tenant(), Some(&"acme".into()));
    /// # }
    /// ```
    pub fn for_tenant(&self, tenant: impl Into<bson::Bson>) -> SessionFactory {
        SessionFactory { tenant: Some(tenant.into()), ..self.clone() }
    }

    /// The same factory, whose sessions start with `options` (see [`options`](crate::options)):
    /// a time limit, a read preference, a write concern… for everything they do, unless a
    /// session or a statement says otherwise.
    ///
    /// ```no_run
    /// # async fn demo(engine: mongotic::Engine) -> mongotic::Result<()> {
    /// use std::time::Duration;
    /// use mongotic::options::Options;
    /// let factory = mongotic::sessionmaker(&engine).with_options(Options::new().timeout(Duration::from_secs(2)));
    /// assert_eq!(factory.session().options().get_timeout(), Some(Duration::from_secs(2)));
    /// # Ok(()) }
    /// ```
    pub fn with_options(&self, options: Options) -> SessionFactory {
        SessionFactory { options, ..self.clone() }
    }

    /// The options sessions start with.
    ///
    /// ```no_run
    /// # async fn demo(engine: mongotic::Engine) {
    /// assert!(mongotic::sessionmaker(&engine).options().is_empty());
    /// # }
    /// ```
    pub fn options(&self) -> &Options {
        &self.options
    }

    /// The engine sessions are bound to.
    ///
    /// ```no_run
    /// # use mongotic::prelude::*;
    /// # #[derive(Debug, Clone, Serialize, Deserialize, Model)]
    /// # #[mongotic(database = "app", collection = "users")]
    /// # struct User { #[serde(rename = "_id")] id: Option<ObjectId>, name: String, age: Option<i32>, active: bool }
    /// # async fn demo(engine: mongotic::Engine) -> mongotic::Result<()> {
    /// let factory = sessionmaker(&engine);
    /// let same = factory.engine().clone();
    /// # Ok(()) }
    /// ```
    pub fn engine(&self) -> &Engine {
        &self.engine
    }
}

/// A unit of work: an identity map, change tracking, and batched writes.
///
/// - **Identity map.** Within a session one stored document is one entity: a query or `get`
///   that returns a document the session already tracks returns the same [`Tracked`] handle,
///   with its pending changes untouched.
/// - **Change tracking.** Changing a value through [`Tracked::write`] needs no further call:
///   the first write guard since the last flush keeps the value as it was (its baseline), and
///   `flush` compares and writes only the difference (`$set`/`$unset` by dotted path). A value
///   changed and changed back is not written. Entities that are only read keep no copy of
///   their document, and fields the server has but the model does not know are never touched.
/// - **Batched flush.** One write command per collection and kind of write, or a single client
///   `bulkWrite` when the flush spans several and the server has it (MongoDB 8.0+).
/// - **Atomic where the deployment allows.** On a replica set or sharded cluster each flush is
///   one transaction (transient failures are retried whole), and [`begin`](Session::begin)
///   opens an explicit one spanning queries and flushes. See [`TransactionMode`](crate::TransactionMode).
/// - **Nothing lost, nothing twice.** Without a transaction, what the server acknowledged is
///   recorded as persisted, the rest stays staged (see [`Error::Flush`]), and a write whose
///   outcome is unknown is settled by reading the server, never by guessing: flushing again
///   sends exactly what is left. An update or delete that finds its document gone is
///   [`Error::Stale`].
///
/// Sessions are not meant to be shared between tasks: their methods take `&mut self`. Dropping
/// a session (or [`close`](Session::close)) discards un-flushed changes and does no I/O.
///
/// ```no_run
/// use mongotic::prelude::*;
///
/// #[derive(Debug, Clone, Serialize, Deserialize, Model)]
/// #[mongotic(database = "myapp", collection = "users")]
/// struct User {
///     #[serde(rename = "_id")]
///     id: Option<ObjectId>,
///     name: String,
///     age: Option<i32>,
/// }
///
/// # async fn demo() -> mongotic::Result<()> {
/// let engine = create_engine("mongodb://localhost:27017").await?;
/// let mut session = sessionmaker(&engine).session();
///
/// let alice = session.add(User { id: None, name: "Alice".into(), age: Some(30) });
/// session.flush().await?;
/// assert!(alice.id().is_some());
///
/// alice.write().age = Some(31);
/// session.commit().await?; // sends {$set: {age: 31}} and nothing else
/// # Ok(()) }
/// ```
pub struct Session {
    engine: Engine,
    uow: UnitOfWork,
    txn: Transaction,
    /// Which relations were loaded, beyond what the identity map holds.
    relations: relations::Relations,
    /// The options of everything the session does, under each statement's own.
    options: Options,
}

/// What [`Session::add`] accepts: a model value (a new entity) or a handle.
///
/// ```no_run
/// # use mongotic::prelude::*;
/// # #[derive(Debug, Clone, Serialize, Deserialize, Model)]
/// # #[mongotic(database = "app", collection = "users")]
/// # struct User { #[serde(rename = "_id")] id: Option<ObjectId>, name: String, age: Option<i32>, active: bool }
/// # async fn demo(mut session: Session) -> mongotic::Result<()> {
/// let alice = session.add(User { id: None, name: "Alice".into(), age: None, active: true }); // a value
/// session.expunge(&alice);
/// session.add(&alice); // a handle
/// # Ok(()) }
/// ```
pub trait IntoTracked {
    /// The model of the entity: one that can be written (not a view).
    type Model: Writable;

    /// The handle for the entity.
    fn into_tracked(self) -> Tracked<Self::Model>;
}

impl<M: Writable> IntoTracked for M {
    type Model = M;

    fn into_tracked(self) -> Tracked<M> {
        Tracked::new(self)
    }
}

impl<M: Writable> IntoTracked for Tracked<M> {
    type Model = M;

    fn into_tracked(self) -> Tracked<M> {
        self
    }
}

impl<M: Writable> IntoTracked for &Tracked<M> {
    type Model = M;

    fn into_tracked(self) -> Tracked<M> {
        self.clone()
    }
}

impl Session {
    /// A new, empty session on `engine` (the same as `sessionmaker(engine).session()`).
    ///
    /// ```no_run
    /// # async fn demo(engine: mongotic::Engine) {
    /// let mut session = mongotic::Session::bind(&engine);
    /// # }
    /// ```
    pub fn bind(engine: &Engine) -> Session {
        Session {
            engine: engine.clone(),
            uow: UnitOfWork::new(),
            txn: Transaction::default(),
            relations: relations::Relations::default(),
            options: Options::default(),
        }
    }

    /// The options of everything this session does (see [`options`](crate::options)), which a
    /// statement's own override field by field: the factory's, unless
    /// [`set_options`](Session::set_options) replaced them.
    ///
    /// ```no_run
    /// # async fn demo(session: mongotic::Session) {
    /// println!("{:?}", session.options().get_timeout());
    /// # }
    /// ```
    pub fn options(&self) -> &Options {
        &self.options
    }

    /// Replaces the session's options. They apply from the next statement or flush on.
    ///
    /// ```no_run
    /// # async fn demo(mut session: mongotic::Session) {
    /// use mongotic::options::{Options, ReadPreference};
    /// let reporting = Options::new().read_preference(ReadPreference::SecondaryPreferred { options: None });
    /// session.set_options(reporting.over(session.options()));
    /// # }
    /// ```
    pub fn set_options(&mut self, options: Options) {
        self.options = options;
    }

    /// The tenant this session is bound to, if any (see [`SessionFactory::for_tenant`]).
    ///
    /// ```no_run
    /// # async fn demo(session: mongotic::Session) {
    /// println!("{:?}", session.tenant());
    /// # }
    /// ```
    pub fn tenant(&self) -> Option<&bson::Bson> {
        self.uow.tenant()
    }

    /// Binds the session to `tenant` (or unbinds it with `None`), from its next statement or
    /// flush on. Entities it tracks keep the tenant they were read or written with: a write of
    /// one under another tenant matches nothing.
    ///
    /// ```no_run
    /// # async fn demo(mut session: mongotic::Session) {
    /// session.set_tenant(Some("acme".into()));
    /// # }
    /// ```
    pub fn set_tenant(&mut self, tenant: Option<bson::Bson>) {
        self.uow.set_tenant(tenant);
    }

    /// The engine this session runs on.
    ///
    /// ```no_run
    /// # use mongotic::prelude::*;
    /// # #[derive(Debug, Clone, Serialize, Deserialize, Model)]
    /// # #[mongotic(database = "app", collection = "users")]
    /// # struct User { #[serde(rename = "_id")] id: Option<ObjectId>, name: String, age: Option<i32>, active: bool }
    /// # async fn demo(mut session: Session) -> mongotic::Result<()> {
    /// let users = session.engine().collection_for::<User>()?;
    /// # Ok(()) }
    /// ```
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Stages an entity for insertion at the next flush and returns its handle. No I/O.
    ///
    /// Accepts a model value (a new entity) or a handle: a handle that was expunged or whose
    /// session was closed is attached to this session, as persistent if it was ever written
    /// (its changes since then are flushed) or as new otherwise. A handle already tracked by
    /// this session is left as it is (a pending delete of it is cancelled). A handle tracked by
    /// another session moves here, with its pending changes; that session forgets it.
    ///
    /// ```no_run
    /// # use mongotic::prelude::*;
    /// # #[derive(Debug, Serialize, Deserialize, Model)]
    /// # #[mongotic(database = "app", collection = "users")]
    /// # struct User { #[serde(rename = "_id")] id: Option<ObjectId>, name: String }
    /// # async fn demo(mut session: Session) -> mongotic::Result<()> {
    /// let alice = session.add(User { id: None, name: "Alice".into() });
    /// assert_eq!(session.new().len(), 1);
    /// session.flush().await?;
    /// assert!(alice.id().is_some());
    /// # Ok(()) }
    /// ```
    pub fn add<E: IntoTracked>(&mut self, entity: E) -> Tracked<E::Model> {
        let handle = entity.into_tracked();
        self.attach(handle.erased());
        handle
    }

    /// Tracks `erased` (a typed entity or a document): what [`Session::add`] does.
    pub(crate) fn attach(&mut self, erased: std::sync::Arc<dyn ErasedEntity>) {
        let state = erased.state();
        if let Some(key) = self.uow.key_of(state) {
            match self.uow.get(key).map(|entry| entry.status) {
                // A delete that may have landed is taken back as an insert-if-missing: the
                // next flush reads the server and re-inserts the entity if it is gone.
                Some(Status::Deleted) if matches!(state.intent(), Intent::Delete) => self.uow.restage(key, Status::New),
                Some(Status::Deleted) if state.is_persistent() => self.uow.restage(key, Status::Persistent),
                Some(Status::Deleted | Status::Uncertain) => self.uow.restage(key, Status::New),
                _ => {}
            }
            return;
        }
        state.set_expired(false);
        // A handle that was ever written keeps its baseline, so changes made while it was
        // detached are found by the next flush. A new one with an id is filed under it at
        // once, so `merge` and queries find it.
        let (status, identity) = match state.server_id() {
            Some(id) => (Status::Persistent, Some(IdKey::from_bson(&id))),
            None => (Status::New, erased.current_id().ok().flatten().map(|id| IdKey::from_bson(&id))),
        };
        self.uow.track(erased, status, identity);
    }

    /// Stages several entities, in order; see [`add`](Session::add).
    ///
    /// ```no_run
    /// # use mongotic::prelude::*;
    /// # #[derive(Debug, Serialize, Deserialize, Model)]
    /// # #[mongotic(database = "app", collection = "users")]
    /// # struct User { #[serde(rename = "_id")] id: Option<ObjectId>, name: String }
    /// # async fn demo(mut session: Session) -> mongotic::Result<()> {
    /// let users = session.add_all(["Bob", "Carol"].map(|name| User { id: None, name: name.into() }));
    /// session.commit().await?; // one insert command for both
    /// # Ok(()) }
    /// ```
    pub fn add_all<E: IntoTracked>(&mut self, entities: impl IntoIterator<Item = E>) -> Vec<Tracked<E::Model>> {
        let entities = entities.into_iter();
        self.uow.reserve(entities.size_hint().0);
        entities.map(|entity| self.add(entity)).collect()
    }

    /// Stages the removal of an entity at the next flush. No I/O.
    ///
    /// Deleting an entity that was added but never flushed just drops it: nothing is written.
    /// After the flush the entity is detached. Deleting an entity twice is harmless; an entity
    /// this session does not track is [`Error::Detached`].
    ///
    /// ```no_run
    /// # use mongotic::prelude::*;
    /// # #[derive(Debug, Serialize, Deserialize, Model)]
    /// # #[mongotic(database = "app", collection = "users")]
    /// # struct User { #[serde(rename = "_id")] id: Option<ObjectId>, name: String }
    /// # async fn demo(mut session: Session, user: Tracked<User>) -> mongotic::Result<()> {
    /// session.delete(&user)?;
    /// assert_eq!(session.deleted().len(), 1);
    /// session.commit().await?;
    /// # Ok(()) }
    /// ```
    pub fn delete<M: Writable>(&mut self, entity: &Tracked<M>) -> Result<()> {
        if self.stage_delete(entity.state()) { Ok(()) } else { Err(detached(entity)) }
    }

    /// Stages the delete of the entity whose state is `state` (see [`Session::delete`]);
    /// `false` when this session does not track it.
    pub(crate) fn stage_delete(&mut self, state: &tracked::CellState) -> bool {
        let Some((key, entry)) = self.uow.key_of(state).and_then(|key| Some((key, self.uow.get(key)?))) else {
            return false;
        };
        match entry.status {
            // Never sent: dropping it is the whole delete.
            Status::New | Status::Upsert if !state.in_doubt() => {
                self.uow.remove(key);
            }
            Status::Deleted => {}
            // Persistent, merged (the document may exist), or an insert that may have landed:
            // a delete by id, which may match nothing when the document was never there.
            Status::New | Status::Upsert | Status::Uncertain | Status::Persistent | Status::Merged => {
                self.uow.restage(key, Status::Deleted)
            }
        }
        true
    }

    /// Stages a full replacement of the entity's document (an upsert) when its id is set, or an
    /// insert when it is not; returns the handle the session tracks for it. No I/O.
    ///
    /// If the session already tracks an entity with that id, its value is replaced by `value`
    /// (its pending field changes are dropped) and its handle is returned; otherwise a new
    /// handle is tracked. Fails with [`Error::EntityBusy`] only if a write guard of the tracked
    /// entity is alive.
    ///
    /// ```no_run
    /// # use mongotic::prelude::*;
    /// # #[derive(Debug, Serialize, Deserialize, Model)]
    /// # #[mongotic(database = "app", collection = "users")]
    /// # struct User { #[serde(rename = "_id")] id: Option<ObjectId>, name: String }
    /// # async fn demo(mut session: Session) -> mongotic::Result<()> {
    /// let id = "507f1f77bcf86cd799439011".parse().ok();
    /// session.merge(User { id, name: "Alice".into() })?;
    /// session.commit().await?; // replaceOne({_id}, doc, upsert: true)
    /// # Ok(()) }
    /// ```
    pub fn merge<M: Writable>(&mut self, value: M) -> Result<Tracked<M>> {
        let Some(id) = value.id().map(ModelId::to_bson) else {
            return Ok(self.add(value));
        };
        let identity = IdKey::from_bson(&id);
        // Joins the entity the session has for this id, whatever its state (also one staged
        // for insert): one id, one entity, one write.
        if let Some((key, entry)) = self.uow.lookup(Space::of::<M>(), &identity)
            && let Some(existing) = Tracked::<M>::from_erased(entry.entity.clone())
        {
            match existing.cell.try_write() {
                Ok(mut slot) => {
                    // Keep the value being replaced as the baseline, for rollback.
                    existing.cell.state.begin_change(|| crate::encode::entity_to_raw(&*slot).ok());
                    *slot = value;
                }
                Err(_) => return Err(self.cell_error::<M>(CellError::Busy, Some(id))),
            }
            self.uow.restage(key, Status::Merged);
            return Ok(existing);
        }
        let handle = Tracked::new(value);
        self.uow.track(handle.erased(), Status::Merged, Some(identity));
        Ok(handle)
    }

    /// Detaches an entity: the session forgets it and its pending changes (this session will
    /// not write them). The handle stays usable, reports [`Tracked::is_attached`] `false`, and
    /// can be added to this or another session again. Idempotent; a handle this session does
    /// not track is left alone. No I/O.
    ///
    /// The handle keeps what it knows of the server's document, so memory and store never
    /// drift apart silently: a session that gets the handle back (`add`) writes what differs
    /// between its value and the server's last known state, including changes made before or
    /// after the expunge. To drop the changes instead, `refresh` the handle once it is added
    /// back (or `expire` it).
    ///
    /// ```no_run
    /// # use mongotic::prelude::*;
    /// # #[derive(Debug, Serialize, Deserialize, Model)]
    /// # #[mongotic(database = "app", collection = "users")]
    /// # struct User { #[serde(rename = "_id")] id: Option<ObjectId>, age: i32 }
    /// # async fn demo(mut session: Session, user: Tracked<User>) {
    /// user.write().age = 99;
    /// session.expunge(&user);
    /// assert!(session.dirty().is_empty());
    /// assert!(!user.is_attached());
    /// let mut later = session; // or any other session
    /// later.add(&user);
    /// assert_eq!(later.dirty().len(), 1); // age 99 is written by the next flush
    /// # }
    /// ```
    pub fn expunge<M: Model>(&mut self, entity: &Tracked<M>) {
        if let Some(key) = self.uow.key_of(entity.state()) {
            self.uow.remove(key);
        }
    }

    /// Marks an entity as stale: its pending field changes are dropped (not written), its
    /// values stay as they are in memory, and [`Tracked::is_expired`] reports `true` until
    /// [`refresh`](Session::refresh). There is no lazy reload. No I/O.
    ///
    /// ```no_run
    /// # use mongotic::prelude::*;
    /// # #[derive(Debug, Serialize, Deserialize, Model)]
    /// # #[mongotic(database = "app", collection = "users")]
    /// # struct User { #[serde(rename = "_id")] id: Option<ObjectId>, age: i32 }
    /// # async fn demo(mut session: Session, user: Tracked<User>) -> mongotic::Result<()> {
    /// session.expire(&user);
    /// assert!(user.is_expired());
    /// session.refresh(&user).await?; // the explicit reload
    /// # Ok(()) }
    /// ```
    pub fn expire<M: Model>(&mut self, entity: &Tracked<M>) {
        let Some(entry) = self.uow.key_of(entity.state()).and_then(|key| self.uow.get(key)) else { return };
        if entry.status == Status::Persistent {
            discard_pending_changes(entity);
        }
        entity.cell.state.set_expired(true);
    }

    /// Reloads an entity from the server in place: every field takes the stored value, pending
    /// changes are dropped and the expired flag is cleared. One `find` round trip.
    ///
    /// Reads never go back in time: the session's reads are causally consistent (they see
    /// what it wrote, from any member), and for a model with a version field a document older
    /// than the version the session knows (a secondary that lags behind another session's
    /// write this one has seen) leaves the entity as it is. Without a version field the
    /// document read is taken as it is: it holds at least this session's own writes.
    ///
    /// Errors: [`Error::Detached`] for an entity this session does not track,
    /// [`Error::NotPersistent`] for one never flushed, [`Error::NotFound`] when its document
    /// is gone from the server.
    ///
    /// ```no_run
    /// # use mongotic::prelude::*;
    /// # #[derive(Debug, Serialize, Deserialize, Model)]
    /// # #[mongotic(database = "app", collection = "users")]
    /// # struct User { #[serde(rename = "_id")] id: Option<ObjectId>, age: i32 }
    /// # async fn demo(mut session: Session, user: Tracked<User>) -> mongotic::Result<()> {
    /// session.refresh(&user).await?;
    /// println!("{}", user.read().age); // as stored
    /// # Ok(()) }
    /// ```
    pub async fn refresh<M: Model>(&mut self, entity: &Tracked<M>) -> Result<()> {
        if self.uow.key_of(entity.state()).is_none() {
            return Err(detached(entity));
        }
        let Some(id) = entity.cell.state.server_id() else {
            return Err(Error::NotPersistent { model: M::meta().name });
        };
        let namespace = self.engine.namespace(M::meta())?;
        let found = self.find_by_id::<M>(&id).await?;
        let Some(raw) = found else {
            return Err(Error::NotFound { namespace: namespace.to_string(), id: Some(Box::new(id)) });
        };
        let state = &entity.cell.state;
        if is_older::<M>(entity, &raw) {
            // A read from a member that lags behind what this session saw: never go back.
            return Ok(());
        }
        entity.erased().load(&raw).map_err(|err| match err {
            CellError::Deserialize(source) => Error::deserialize(&namespace.to_string(), &raw, source),
            other => self.cell_error::<M>(other, Some(id.clone())),
        })?;
        state.forget_changes();
        state.set_expired(false);
        Ok(())
    }

    /// Looks an entity up by id: from the identity map when the session tracks it (no I/O),
    /// else with one `find`. `None` when there is no such document.
    ///
    /// An entity staged for deletion is returned, as queries return it, until the flush that
    /// deletes it: a delete is a pending change like a field change (a query for `age > 30`
    /// still returns a user whose age was set to 20 in memory), and mongotic does not flush
    /// before reading. [`Session::deleted`] lists what is staged for deletion.
    ///
    /// The id can be the id value or text to parse; malformed text is
    /// [`Error::MalformedId`], not a panic.
    ///
    /// ```no_run
    /// # use mongotic::prelude::*;
    /// # #[derive(Debug, Serialize, Deserialize, Model)]
    /// # #[mongotic(database = "app", collection = "users")]
    /// # struct User { #[serde(rename = "_id")] id: Option<ObjectId>, name: String }
    /// # async fn demo(mut session: Session) -> mongotic::Result<()> {
    /// let user = session.get::<User>("507f1f77bcf86cd799439011").await?;
    /// assert!(matches!(session.get::<User>("oops").await, Err(mongotic::Error::MalformedId { .. })));
    /// # Ok(()) }
    /// ```
    pub async fn get<M: Model>(&mut self, id: impl IntoId<M::Id>) -> Result<Option<Tracked<M>>> {
        let id = id.into_id()?.to_bson();
        if let Some((_, entry)) = self.uow.lookup(Space::of::<M>(), &IdKey::from_bson(&id)) {
            // An entity whose insert is in doubt is looked up on the server: finding its
            // document settles the doubt (see `Loader`).
            let in_doubt = matches!(entry.status, Status::New | Status::Uncertain) && entry.entity.state().in_doubt();
            // A stored entity outside the scope (read with `with_deleted`, or under another
            // tenant) is asked of the server, which answers within the scope. One never sent
            // is the session's own: its flush stamps it with the session's tenant.
            let entity = entry.entity.clone();
            let own = matches!(entry.status, Status::New | Status::Merged | Status::Upsert);
            if !in_doubt
                && (own || self.admits::<M>(entity.as_ref())?)
                && let Some(handle) = Tracked::from_erased(entity)
            {
                return Ok(Some(handle));
            }
        }
        let namespace = self.engine.namespace(M::meta())?;
        let found = self.find_by_id::<M>(&id).await?;
        match found {
            None => Ok(None),
            Some(raw) => Loader::new(&mut self.uow, &namespace.to_string()).entity(&raw).map(Some),
        }
    }

    /// Runs a select and returns its values one per document: tracked entities for
    /// `select::<M>()`, plain values for a one-column select. Nothing is sent until a terminal
    /// method (`all`, `first`, `one`, `one_or_none`, `count`, `exists`, `stream`) is awaited.
    ///
    /// ```no_run
    /// # use mongotic::prelude::*;
    /// # #[derive(Debug, Serialize, Deserialize, Model)]
    /// # #[mongotic(database = "app", collection = "users")]
    /// # struct User { #[serde(rename = "_id")] id: Option<ObjectId>, name: String, age: Option<i32> }
    /// # async fn demo(mut session: Session) -> mongotic::Result<()> {
    /// let adults = session.scalars(select::<User>().filter(User::age.gte(18))).all().await?;
    /// let names: Vec<String> = session.scalars(select::<User>().columns(User::name)).all().await?;
    /// # Ok(()) }
    /// ```
    pub fn scalars<M: Model, P: ScalarProjection<M>>(&mut self, stmt: Select<M, P>) -> ScalarResult<'_, M, P> {
        ScalarResult::new(self, stmt)
    }

    /// The first value of a select, or `None` when nothing matches: the seed's
    /// `session.scalar(stmt)`.
    ///
    /// ```no_run
    /// # use mongotic::prelude::*;
    /// # #[derive(Debug, Serialize, Deserialize, Model)]
    /// # #[mongotic(database = "app", collection = "users")]
    /// # struct User { #[serde(rename = "_id")] id: Option<ObjectId>, email: String, age: Option<i32> }
    /// # async fn demo(mut session: Session) -> mongotic::Result<()> {
    /// let age = session
    ///     .scalar(select::<User>().columns(User::age).filter(User::email.eq("alice@example.com")))
    ///     .await?; // Some(Some(30)), Some(None) if the field is null, None if no such user
    /// # Ok(()) }
    /// ```
    pub async fn scalar<M: Model, P: ScalarProjection<M>>(&mut self, stmt: Select<M, P>) -> Result<Option<P::Output>> {
        self.scalars(stmt).first().await
    }

    /// Runs a statement: a select (its [`SelectResult`] gives typed rows or [`Row`](crate::Row)s),
    /// a [`distinct`](crate::Select::distinct) (its values), an aggregation, or a bulk `insert`,
    /// `update` or `delete` (a [`WriteResult`](crate::WriteResult)). Bulk statements are one
    /// command each and do not touch the session's tracked entities.
    ///
    /// What it returns, an [`Execution`], is sent when awaited; a select can also be read in
    /// the same step (`session.execute(stmt).all().await?`).
    ///
    /// ```no_run
    /// # use mongotic::prelude::*;
    /// # #[derive(Debug, Serialize, Deserialize, Model)]
    /// # #[mongotic(database = "app", collection = "users")]
    /// # struct User { #[serde(rename = "_id")] id: Option<ObjectId>, name: String, age: Option<i32>, role: String }
    /// # async fn demo(mut session: Session) -> mongotic::Result<()> {
    /// let rows = session
    ///     .execute(select::<User>().columns((User::name, User::age)).filter(User::age.gte(18)))
    ///     .all()
    ///     .await?;
    /// let result = session
    ///     .execute(update::<User>().filter(User::role.eq("guest")).set(User::role, "member"))
    ///     .await?;
    /// println!("{} modified", result.rowcount);
    /// # Ok(()) }
    /// ```
    pub fn execute<'s, S: Executable<'s>>(&'s mut self, stmt: S) -> Execution<'s, S> {
        Execution::new(self, stmt)
    }

    /// Writes every staged change to the server: inserts of added entities (ids are set on
    /// them now), `$set`/`$unset` of changed fields, replacements for merges, removals for
    /// deletes. Entities that did not change produce no write; with nothing staged there is no
    /// I/O.
    ///
    /// Writes are sent in one command per collection and kind of write, or in one client
    /// `bulkWrite` when the flush spans several and the server supports it.
    ///
    /// - **With transactions** (a replica set or sharded cluster, by default): the flush is one
    ///   transaction, inside the session's explicit one if [`begin`](Session::begin) opened
    ///   it, or else of its own, retried whole on transient errors within the engine's
    ///   [`RetryPolicy`] (two minutes by default). On failure nothing was
    ///   written and everything stays staged.
    /// - **Without** (a standalone server, or [`TransactionMode::Never`](crate::TransactionMode)):
    ///   on failure what the server acknowledged is recorded as persisted and the rest stays
    ///   staged. Inserts whose outcome is unknown (a lost reply, a write concern error) are read
    ///   back by `_id` before anything else is sent; updates and deletes are sent again, which
    ///   is harmless. [`Error::Flush`] counts what landed, what is staged and what is in doubt.
    ///
    /// Either way flushing again writes exactly what is left and never a document twice. An
    /// update or delete of a document someone else deleted is [`Error::Stale`] (the update
    /// stays staged); of a versioned entity whose document someone else changed since it was
    /// read, [`Error::VersionConflict`] (see [`Model`]'s `#[mongotic(version)]`). Without a
    /// version field the last writer wins.
    ///
    /// Before anything is sent, the models' hooks and timestamps run (see [`Hooks`]) and the
    /// values are checked (see [`validation`](crate::validation)). Errors found then (an
    /// invalid value, a refusing hook, a missing client-chosen id, a changed `_id`, a locked
    /// entity, a value that does not serialize) are returned as they are, with nothing
    /// written.
    ///
    /// [`Hooks`]: crate::Hooks
    ///
    /// ```no_run
    /// # use mongotic::prelude::*;
    /// # #[derive(Debug, Serialize, Deserialize, Model)]
    /// # #[mongotic(database = "app", collection = "users")]
    /// # struct User { #[serde(rename = "_id")] id: Option<ObjectId>, name: String }
    /// # async fn demo(mut session: Session) -> mongotic::Result<()> {
    /// let dave = session.add(User { id: None, name: "Dave".into() });
    /// session.flush().await?;
    /// println!("{:?}", dave.id()); // available now
    /// # Ok(()) }
    /// ```
    pub async fn flush(&mut self) -> Result<()> {
        flush::flush(self).await
    }

    /// Flushes all staged changes and, if [`begin`](Session::begin) opened a transaction,
    /// commits it (retrying a commit whose result is unknown). Outside an explicit transaction
    /// this is [`flush`](Session::flush), which on a replica set is itself one transaction. A
    /// no-op when nothing is staged.
    ///
    /// ```no_run
    /// # async fn demo(mut session: mongotic::Session) -> mongotic::Result<()> {
    /// session.commit().await?;
    /// # Ok(()) }
    /// ```
    pub async fn commit(&mut self) -> Result<()> {
        flush::commit(self).await
    }

    /// Discards everything not yet flushed, with no I/O: added entities are detached, staged
    /// deletes and merges are cancelled, and changed entities get back the values they had
    /// before their first change since the last flush. Entities whose write guard is alive at
    /// that moment keep their values and are marked expired.
    ///
    /// With an explicit transaction open it is aborted (the driver sends `abortTransaction`
    /// in the background) and what was flushed in it is discarded too: entities are back as
    /// they were at [`begin`](Session::begin). An added entity whose insert may have landed
    /// outside a transaction is not forgotten: the next flush reads the server and keeps it as
    /// persistent if it is there.
    ///
    /// ```no_run
    /// # use mongotic::prelude::*;
    /// # #[derive(Debug, Serialize, Deserialize, Model)]
    /// # #[mongotic(database = "app", collection = "users")]
    /// # struct User { #[serde(rename = "_id")] id: Option<ObjectId>, age: i32 }
    /// # async fn demo(mut session: Session, user: Tracked<User>) {
    /// user.write().age = 99;
    /// session.rollback();
    /// assert_ne!(user.read().age, 99);
    /// # }
    /// ```
    pub fn rollback(&mut self) {
        self.txn.end(&mut self.uow);
        self.uow.prune();
        let staged: Vec<(usize, Status)> =
            self.uow.entries_in_order().into_iter().map(|(key, entry)| (key, entry.status)).collect();
        for (key, status) in staged {
            let Some(entity) = self.uow.get(key).map(|entry| entry.entity.clone()) else { continue };
            let state = entity.state();
            if matches!(status, Status::New | Status::Uncertain) || !state.is_persistent() {
                if matches!(state.intent(), Intent::Insert { .. }) {
                    // Its insert may have landed: kept, listed nowhere, until the next flush
                    // reads the server and keeps it (it landed) or lets it go (it did not).
                    self.uow.restage(key, Status::Uncertain);
                } else {
                    self.uow.remove(key);
                }
                continue;
            }
            if status == Status::Deleted && matches!(state.intent(), Intent::Delete) {
                // The delete may have landed: the next flush reads the server to find out.
                self.uow.restage(key, Status::Uncertain);
            } else if status != Status::Persistent {
                self.uow.restage(key, Status::Persistent);
            }
            match state.take_baseline() {
                Baseline::Taken(baseline) => match entity.load(&baseline) {
                    Ok(()) => state.forget_changes(),
                    Err(_) => state.set_expired(true),
                },
                // Changed, but the value before the change is unknown: it cannot be restored.
                Baseline::Unknown => state.set_expired(true),
                Baseline::Current => {}
            }
        }
    }

    /// Ends the session: every entity is detached and un-flushed changes are discarded. No
    /// I/O. Dropping the session does the same.
    ///
    /// ```no_run
    /// # async fn demo(session: mongotic::Session) {
    /// session.close();
    /// # }
    /// ```
    pub fn close(mut self) {
        self.uow.clear();
    }

    /// The entities staged for insertion (added, not yet flushed), in staging order.
    ///
    /// ```no_run
    /// # use mongotic::prelude::*;
    /// # #[derive(Debug, Clone, Serialize, Deserialize, Model)]
    /// # #[mongotic(database = "app", collection = "users")]
    /// # struct User { #[serde(rename = "_id")] id: Option<ObjectId>, name: String, age: Option<i32>, active: bool }
    /// # async fn demo(mut session: Session) -> mongotic::Result<()> {
    /// assert!(session.new().is_empty());
    /// let alice = session.add(User { id: None, name: "Alice".into(), age: None, active: true });
    /// assert_eq!(session.new(), [&alice]); // the lists compare with handles
    /// # Ok(()) }
    /// ```
    #[allow(clippy::new_ret_no_self, clippy::wrong_self_convention)]
    pub fn new(&self) -> Vec<EntityRef> {
        self.list(|status| matches!(status, Status::New | Status::Upsert))
    }

    /// The tracked entities whose values differ from what the server last had, in staging
    /// order, plus those staged by `merge`. Computing it serializes the entities written to
    /// since the last flush.
    ///
    /// ```no_run
    /// # use mongotic::prelude::*;
    /// # #[derive(Debug, Clone, Serialize, Deserialize, Model)]
    /// # #[mongotic(database = "app", collection = "users")]
    /// # struct User { #[serde(rename = "_id")] id: Option<ObjectId>, name: String, age: Option<i32>, active: bool }
    /// # async fn demo(mut session: Session) -> mongotic::Result<()> {
    /// let alice = session.scalars(select::<User>()).one().await?;
    /// alice.write().age = Some(31);
    /// assert!(session.dirty()[0] == alice);
    /// # Ok(()) }
    /// ```
    pub fn dirty(&self) -> Vec<EntityRef> {
        self.uow
            .entries_in_order()
            .into_iter()
            .filter(|(_, entry)| match entry.status {
                Status::Merged => true,
                Status::Persistent => diff::has_changes(entry.entity.as_ref()),
                _ => false,
            })
            .map(|(_, entry)| EntityRef { entity: entry.entity.clone() })
            .collect()
    }

    /// The entities staged for removal, in staging order.
    ///
    /// ```no_run
    /// # use mongotic::prelude::*;
    /// # #[derive(Debug, Clone, Serialize, Deserialize, Model)]
    /// # #[mongotic(database = "app", collection = "users")]
    /// # struct User { #[serde(rename = "_id")] id: Option<ObjectId>, name: String, age: Option<i32>, active: bool }
    /// # async fn demo(mut session: Session) -> mongotic::Result<()> {
    /// let alice = session.scalars(select::<User>()).one().await?;
    /// session.delete(&alice)?;
    /// assert!(session.deleted()[0] == alice);
    /// # Ok(()) }
    /// ```
    pub fn deleted(&self) -> Vec<EntityRef> {
        self.list(|status| status == Status::Deleted)
    }

    /// `true` when this session tracks `entity`.
    ///
    /// ```no_run
    /// # use mongotic::prelude::*;
    /// # #[derive(Debug, Clone, Serialize, Deserialize, Model)]
    /// # #[mongotic(database = "app", collection = "users")]
    /// # struct User { #[serde(rename = "_id")] id: Option<ObjectId>, name: String, age: Option<i32>, active: bool }
    /// # async fn demo(mut session: Session) -> mongotic::Result<()> {
    /// let alice = session.add(User { id: None, name: "Alice".into(), age: None, active: true });
    /// assert!(session.contains(&alice));
    /// # Ok(()) }
    /// ```
    pub fn contains<M: Model>(&self, entity: &Tracked<M>) -> bool {
        self.uow.key_of(entity.state()).is_some()
    }

    /// The number of entities the session tracks.
    ///
    /// ```no_run
    /// # use mongotic::prelude::*;
    /// # #[derive(Debug, Clone, Serialize, Deserialize, Model)]
    /// # #[mongotic(database = "app", collection = "users")]
    /// # struct User { #[serde(rename = "_id")] id: Option<ObjectId>, name: String, age: Option<i32>, active: bool }
    /// # async fn demo(mut session: Session) -> mongotic::Result<()> {
    /// session.scalars(select::<User>()).all().await?;
    /// println!("{} entities tracked", session.len());
    /// # Ok(()) }
    /// ```
    pub fn len(&self) -> usize {
        self.uow.len()
    }

    /// `true` when the session tracks no entity.
    ///
    /// ```no_run
    /// # use mongotic::prelude::*;
    /// # #[derive(Debug, Clone, Serialize, Deserialize, Model)]
    /// # #[mongotic(database = "app", collection = "users")]
    /// # struct User { #[serde(rename = "_id")] id: Option<ObjectId>, name: String, age: Option<i32>, active: bool }
    /// # async fn demo(mut session: Session) -> mongotic::Result<()> {
    /// assert!(session.is_empty());
    /// # Ok(()) }
    /// ```
    pub fn is_empty(&self) -> bool {
        self.uow.len() == 0
    }

    fn list(&self, keep: impl Fn(Status) -> bool) -> Vec<EntityRef> {
        self.uow
            .entries_in_order()
            .into_iter()
            .filter(|(_, entry)| keep(entry.status))
            .map(|(_, entry)| EntityRef { entity: entry.entity.clone() })
            .collect()
    }

    fn cell_error<M: Model>(&self, err: CellError, id: Option<bson::Bson>) -> Error {
        let namespace = self
            .engine
            .namespace(M::meta())
            .map(|ns| ns.to_string())
            .unwrap_or_else(|_| M::meta().collection.to_owned());
        err.into_error(&namespace, id)
    }

    /// The stored document of `M` with `_id` `id`, with the session's options.
    async fn find_by_id<M: Model>(&mut self, id: &bson::Bson) -> Result<Option<bson::RawDocumentBuf>> {
        let io = self.io(M::meta(), "find", &Options::default()).await?;
        let namespace = io.namespace().to_owned();
        let found = io.find_by_id(id).await?;
        if let Some(raw) = &found {
            store::within_depth(&namespace, raw)?;
        }
        Ok(found)
    }
}

/// `true` when the stored document `raw` holds an older version than the one the session knows
/// `entity`'s document to have (for a model with a version field).
fn is_older<M: Model>(entity: &Tracked<M>, raw: &bson::RawDocument) -> bool {
    let Some(field) = M::meta().version else { return false };
    let known = match &entity.cell.state.sync().baseline {
        Baseline::Taken(baseline) => store::version_in(baseline, field),
        Baseline::Current | Baseline::Unknown => entity.read().__version(),
    };
    matches!((store::version_in(raw, field), known), (Some(loaded), Some(known)) if loaded < known)
}

/// Makes the entity's current value its baseline, so changes made so far are not written.
fn discard_pending_changes<M: Model>(entity: &Tracked<M>) {
    entity.cell.state.forget_changes();
}

fn detached<M: Model>(entity: &Tracked<M>) -> Error {
    Error::Detached { model: M::meta().name, id: entity.erased().current_id().ok().flatten().map(Box::new) }
}

fn detached_erased(entity: &dyn ErasedEntity) -> Error {
    Error::Detached { model: entity.meta().name, id: entity.current_id().ok().flatten().map(Box::new) }
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session").field("id", &self.uow.session_id()).field("tracked", &self.uow.len()).finish()
    }
}
