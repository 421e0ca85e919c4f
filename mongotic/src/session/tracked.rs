//! Entity handles: [`Tracked<M>`] for typed code, [`EntityRef`] for the session's lists.
//!
//! A handle is a shared pointer to one cell holding the entity's value and its tracking state:
//! which session owns it, how many write guards have been taken since it was last in sync
//! with the server, the `_id` the server has, and the baseline to compare with at the next
//! flush. Keeping that state with the entity (not in the session) lets a handle move between
//! sessions with its history.

use std::any::{Any, TypeId};
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard, TryLockError};

use bson::oid::ObjectId;
use bson::{Bson, RawBsonRef, RawDocument, RawDocumentBuf};

use crate::Model;
use crate::model::{ModelId, ModelMeta};

/// A handle to an entity: what `add`, `get`, `merge` and queries return.
///
/// Cloning a handle is cheap and gives another handle to the same entity. Within a session
/// one stored document is one entity: loading it twice returns handles for which
/// [`Tracked::ptr_eq`] is true.
///
/// Read the value with [`read`](Tracked::read) and change it with
/// [`write`](Tracked::write); the session notices the change by comparing with its snapshot
/// at the next flush, so nothing else needs calling.
///
/// ```
/// use mongotic::prelude::*;
///
/// #[derive(Debug, Clone, Serialize, Deserialize, Model)]
/// #[mongotic(collection = "users")]
/// struct User {
///     #[serde(rename = "_id", skip_serializing_if = "Option::is_none")]
///     #[mongotic(id)]
///     id: Option<ObjectId>,
///     name: String,
///     age: Option<i32>,
/// }
///
/// let user = Tracked::new(User { id: None, name: "Alice".into(), age: Some(30) });
/// user.write().age = Some(31);
/// assert_eq!(user.read().age, Some(31));
/// assert!(!user.is_attached());
/// assert!(user.ptr_eq(&user.clone()));
/// ```
pub struct Tracked<M> {
    pub(crate) cell: Arc<EntityCell<M>>,
}

/// The value of an entity together with its tracking state.
pub(crate) struct EntityCell<M> {
    pub(crate) state: CellState,
    value: RwLock<M>,
}

/// The part of an entity's state that does not depend on its type.
pub(crate) struct CellState {
    /// The owning session's id, 0 when detached.
    session: AtomicU64,
    /// The entity's slot in the owning session.
    slot: AtomicUsize,
    /// Write guards taken since the entity was last in sync; 0 means untouched.
    changes: AtomicU64,
    /// Set by `Session::expire`; informational.
    expired: AtomicBool,
    sync: Mutex<SyncState>,
}

/// What change tracking knows about the entity's document on the server.
#[derive(Default, Clone)]
pub(crate) struct SyncState {
    /// The `_id` of the document; `None` until the entity is written or loaded.
    pub(crate) server_id: Option<ServerId>,
    pub(crate) baseline: Baseline,
    /// A write that was sent and whose outcome is not known yet.
    pub(crate) intent: Intent,
}

/// A write the session sent for the entity whose outcome it does not know yet.
///
/// It is recorded on the entity, not in the session, before the write is sent (a write-ahead
/// intent): whatever happens next (an error, a lost reply, a cancelled flush, the handle moving
/// to another session), whoever flushes the entity next knows the write may have landed, and
/// finds out by reading the server instead of guessing. It is cleared once the outcome is known.
#[derive(Default, Clone, Debug)]
pub(crate) enum Intent {
    /// Nothing in flight.
    #[default]
    None,
    /// An insert serialized when the change counter was `seen`. With a generated id (`sent` is
    /// `None`) a stored document with that id can only be this insert; with a client-chosen id
    /// the stored document must also equal what was `sent`.
    Insert { id: Bson, sent: Option<RawDocumentBuf>, seen: u64 },
    /// A delete: sent again, matching nothing means it landed the first time.
    Delete,
}

impl Intent {
    pub(crate) fn is_none(&self) -> bool {
        matches!(self, Intent::None)
    }
}

/// The value to compare with at the next flush.
///
/// Snapshots are taken lazily: an entity read from the server keeps no copy of its document,
/// and the first write guard serializes the value as it is before the change. So reading costs
/// nothing extra, and fields the server has but the model does not know are never touched.
#[derive(Default, Clone)]
pub(crate) enum Baseline {
    /// No change began since the last sync: the current value is what the server has.
    #[default]
    Current,
    /// The value as it was when the first change since the last sync began.
    Taken(RawDocumentBuf),
    /// The value could not be serialized when a change began; the next flush replaces the
    /// document whole.
    Unknown,
}

/// A server-side `_id`, stored compactly for the common `ObjectId` case.
#[derive(Clone)]
pub(crate) enum ServerId {
    ObjectId(ObjectId),
    Other(Box<Bson>),
}

impl ServerId {
    pub(crate) fn new(id: Bson) -> ServerId {
        match id {
            Bson::ObjectId(oid) => ServerId::ObjectId(oid),
            other => ServerId::Other(Box::new(other)),
        }
    }

    /// The id of a stored document, without going through an owned `Bson` for `ObjectId`s.
    pub(crate) fn from_raw(id: RawBsonRef<'_>) -> Option<ServerId> {
        match id {
            RawBsonRef::ObjectId(oid) => Some(ServerId::ObjectId(oid)),
            other => Bson::try_from(other.to_raw_bson()).ok().map(|id| ServerId::Other(Box::new(id))),
        }
    }

    pub(crate) fn to_bson(&self) -> Bson {
        match self {
            ServerId::ObjectId(oid) => Bson::ObjectId(*oid),
            ServerId::Other(other) => (**other).clone(),
        }
    }
}

impl CellState {
    fn new(session: u64, server_id: Option<ServerId>) -> Self {
        CellState {
            session: AtomicU64::new(session),
            slot: AtomicUsize::new(0),
            changes: AtomicU64::new(0),
            expired: AtomicBool::new(false),
            sync: Mutex::new(SyncState { server_id, baseline: Baseline::Current, intent: Intent::None }),
        }
    }

    pub(crate) fn session(&self) -> u64 {
        self.session.load(Ordering::Acquire)
    }

    /// The owning session and the entity's slot in it.
    pub(crate) fn owner(&self) -> (u64, usize) {
        let session = self.session.load(Ordering::Acquire);
        (session, self.slot.load(Ordering::Acquire))
    }

    pub(crate) fn set_owner(&self, session: u64, slot: usize) {
        self.slot.store(slot, Ordering::Release);
        self.session.store(session, Ordering::Release);
    }

    /// The current change counter; pass it to [`CellState::synced`] after writing the state
    /// it was read with.
    pub(crate) fn changes(&self) -> u64 {
        self.changes.load(Ordering::Acquire)
    }

    pub(crate) fn is_expired(&self) -> bool {
        self.expired.load(Ordering::Acquire)
    }

    pub(crate) fn set_expired(&self, expired: bool) {
        self.expired.store(expired, Ordering::Release);
    }

    pub(crate) fn sync(&self) -> MutexGuard<'_, SyncState> {
        self.sync.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The `_id` the server has for this entity.
    pub(crate) fn server_id(&self) -> Option<Bson> {
        self.sync().server_id.as_ref().map(ServerId::to_bson)
    }

    pub(crate) fn is_persistent(&self) -> bool {
        self.sync().server_id.is_some()
    }

    /// Called with the value locked for writing, before the caller changes it: keeps the
    /// value as the baseline if it is the first change since the last sync.
    pub(crate) fn begin_change(&self, serialize: impl FnOnce() -> Option<RawDocumentBuf>) {
        let mut sync = self.sync();
        if sync.server_id.is_some() && matches!(sync.baseline, Baseline::Current) {
            sync.baseline = serialize().map_or(Baseline::Unknown, Baseline::Taken);
        }
        self.changes.fetch_add(1, Ordering::AcqRel);
    }

    /// Records that the server now has `sent`, serialized when the change counter was `seen`
    /// (and, for a first write, that its id is `server_id`). If the entity changed again since,
    /// `sent` becomes the baseline of those changes.
    pub(crate) fn synced(&self, seen: u64, sent: RawDocumentBuf, server_id: Option<Bson>) {
        let mut sync = self.sync();
        if let Some(id) = server_id {
            sync.server_id = Some(ServerId::new(id));
        }
        sync.baseline = match self.changes.compare_exchange(seen, 0, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => Baseline::Current,
            Err(_) => Baseline::Taken(sent),
        };
    }

    /// Records that the value, read when the counter was `seen`, turned out unchanged.
    pub(crate) fn unchanged(&self, seen: u64) {
        let mut sync = self.sync();
        if self.changes.compare_exchange(seen, 0, Ordering::AcqRel, Ordering::Acquire).is_ok() {
            sync.baseline = Baseline::Current;
        }
    }

    /// Makes the current value the baseline: changes made so far will not be written.
    pub(crate) fn forget_changes(&self) {
        let mut sync = self.sync();
        sync.baseline = Baseline::Current;
        self.changes.store(0, Ordering::Release);
    }

    /// Records that the document is gone from the server.
    pub(crate) fn deleted(&self) {
        let mut sync = self.sync();
        sync.server_id = None;
        sync.baseline = Baseline::Current;
        self.changes.store(0, Ordering::Release);
        self.expired.store(false, Ordering::Release);
    }

    /// The write of this entity in flight, if any.
    pub(crate) fn intent(&self) -> Intent {
        self.sync().intent.clone()
    }

    /// `true` while a write of this entity may have landed without the session knowing.
    pub(crate) fn in_doubt(&self) -> bool {
        !self.sync().intent.is_none()
    }

    pub(crate) fn set_intent(&self, intent: Intent) {
        self.sync().intent = intent;
    }

    /// A copy of the tracking state, to put back with [`CellState::restore`] if a transaction
    /// that wrote the entity does not commit.
    pub(crate) fn save(&self) -> SavedState {
        let sync = self.sync();
        SavedState { sync: sync.clone(), changes: self.changes() }
    }

    /// Puts back a state saved before a transaction, keeping the current value: what was
    /// written in the transaction is staged again. Only the intent is left as it is now.
    pub(crate) fn restore(&self, saved: SavedState) {
        let mut sync = self.sync();
        let intent = std::mem::take(&mut sync.intent);
        *sync = saved.sync;
        sync.intent = intent;
        let current = self.changes();
        self.changes.store(current.max(saved.changes), Ordering::Release);
    }

    /// Takes the baseline for a rollback, leaving `Current`.
    pub(crate) fn take_baseline(&self) -> Baseline {
        std::mem::take(&mut self.sync().baseline)
    }
}

/// The tracking state of an entity as it was before a transaction wrote it.
pub(crate) struct SavedState {
    sync: SyncState,
    changes: u64,
}

/// Why the session could not do something with an entity's value.
#[derive(Debug)]
pub(crate) enum CellError {
    /// A guard is alive on another path, so the value cannot be locked without blocking.
    Busy,
    Serialize(bson::ser::Error),
    Deserialize(bson::de::Error),
    /// The id is not set and the id type cannot be generated.
    MissingId,
}

/// A type-erased entity, so one session can hold entities of every model.
pub(crate) trait ErasedEntity: Send + Sync + 'static {
    fn state(&self) -> &CellState;
    fn meta(&self) -> &'static ModelMeta;
    /// The `TypeId` of the model, for the identity map.
    fn model_type(&self) -> TypeId;
    fn into_any(self: Arc<Self>) -> Arc<dyn Any + Send + Sync>;
    /// The current value as BSON.
    fn to_raw(&self) -> Result<RawDocumentBuf, CellError>;
    /// The current id, if set.
    fn current_id(&self) -> Result<Option<Bson>, CellError>;
    /// The current id, generating one first if it is unset and the type allows; the flag
    /// tells whether it was generated now.
    fn assign_id(&self) -> Result<(Bson, bool), CellError>;
    /// Replaces the value with the stored document `raw`.
    fn load(&self, raw: &RawDocument) -> Result<(), CellError>;
    fn fmt_value(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result;
}

impl<M: Model> EntityCell<M> {
    fn read(&self) -> RwLockReadGuard<'_, M> {
        self.value.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn try_read(&self) -> Result<RwLockReadGuard<'_, M>, CellError> {
        match self.value.try_read() {
            Ok(guard) => Ok(guard),
            Err(TryLockError::Poisoned(poisoned)) => Ok(poisoned.into_inner()),
            Err(TryLockError::WouldBlock) => Err(CellError::Busy),
        }
    }

    pub(crate) fn try_write(&self) -> Result<RwLockWriteGuard<'_, M>, CellError> {
        match self.value.try_write() {
            Ok(guard) => Ok(guard),
            Err(TryLockError::Poisoned(poisoned)) => Ok(poisoned.into_inner()),
            Err(TryLockError::WouldBlock) => Err(CellError::Busy),
        }
    }
}

impl<M: Model> ErasedEntity for EntityCell<M> {
    fn state(&self) -> &CellState {
        &self.state
    }

    fn meta(&self) -> &'static ModelMeta {
        M::meta()
    }

    fn model_type(&self) -> TypeId {
        TypeId::of::<M>()
    }

    fn into_any(self: Arc<Self>) -> Arc<dyn Any + Send + Sync> {
        self
    }

    fn to_raw(&self) -> Result<RawDocumentBuf, CellError> {
        let value = self.try_read()?;
        bson::to_raw_document_buf(&*value).map_err(CellError::Serialize)
    }

    fn current_id(&self) -> Result<Option<Bson>, CellError> {
        Ok(self.try_read()?.id().map(ModelId::to_bson))
    }

    fn assign_id(&self) -> Result<(Bson, bool), CellError> {
        if let Some(id) = self.current_id()? {
            return Ok((id, false));
        }
        let generated = M::Id::generate().ok_or(CellError::MissingId)?;
        let bson = generated.to_bson();
        self.try_write()?.set_id(generated);
        Ok((bson, true))
    }

    fn load(&self, raw: &RawDocument) -> Result<(), CellError> {
        let value: M = bson::from_slice(raw.as_bytes()).map_err(CellError::Deserialize)?;
        *self.try_write()? = value;
        Ok(())
    }

    fn fmt_value(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.value.try_read() {
            Ok(value) => fmt::Debug::fmt(&*value, f),
            Err(TryLockError::Poisoned(poisoned)) => fmt::Debug::fmt(&*poisoned.into_inner(), f),
            Err(TryLockError::WouldBlock) => write!(f, "{} {{ <locked> }}", M::meta().name),
        }
    }
}

impl<M: Model> Tracked<M> {
    /// A handle to `value` that no session tracks yet; `Session::add` attaches it.
    ///
    /// ```
    /// # use mongotic::prelude::*;
    /// # #[derive(Debug, Clone, Serialize, Deserialize, Model)]
    /// # #[mongotic(database = "app", collection = "users")]
    /// # struct User { #[serde(rename = "_id", skip_serializing_if = "Option::is_none")] #[mongotic(id)] id: Option<ObjectId>, name: String, age: Option<i32>, active: bool }
    /// let user = Tracked::new(User { id: None, name: "Ann".into(), age: None, active: true });
    /// assert!(!user.is_attached());
    /// ```
    pub fn new(value: M) -> Self {
        Self::with_state(value, 0, None)
    }

    pub(crate) fn with_state(value: M, session: u64, server_id: Option<ServerId>) -> Self {
        Tracked { cell: Arc::new(EntityCell { state: CellState::new(session, server_id), value: RwLock::new(value) }) }
    }

    /// Shared access to the value.
    ///
    /// Do not hold a guard across a call that makes the session read the entity (`flush`,
    /// `commit`, `dirty`): the session reports [`Error::EntityBusy`](crate::Error::EntityBusy)
    /// for a locked entity rather than wait for it.
    ///
    /// ```
    /// # use mongotic::prelude::*;
    /// # #[derive(Debug, Clone, Serialize, Deserialize, Model)]
    /// # #[mongotic(database = "app", collection = "users")]
    /// # struct User { #[serde(rename = "_id", skip_serializing_if = "Option::is_none")] #[mongotic(id)] id: Option<ObjectId>, name: String, age: Option<i32>, active: bool }
    /// let user = Tracked::new(User { id: None, name: "Ann".into(), age: None, active: true });
    /// assert_eq!(user.read().name, "Ann");
    /// ```
    pub fn read(&self) -> RwLockReadGuard<'_, M> {
        self.cell.read()
    }

    /// Exclusive access to the value, to change it.
    ///
    /// Changes are picked up by the next flush: it compares the value with what the server
    /// last had and writes the difference. Drop the guard before flushing.
    ///
    /// ```
    /// # use mongotic::prelude::*;
    /// # #[derive(Debug, Serialize, Deserialize, Model)]
    /// # #[mongotic(collection = "users")]
    /// # struct User { #[serde(rename = "_id")] #[mongotic(id)] id: i64, age: Option<i32> }
    /// let user = Tracked::new(User { id: 1, age: None });
    /// user.write().age = Some(31);
    /// assert_eq!(user.read().age, Some(31));
    /// ```
    pub fn write(&self) -> RwLockWriteGuard<'_, M> {
        let guard = self.cell.value.write().unwrap_or_else(PoisonError::into_inner);
        self.cell.state.begin_change(|| bson::to_raw_document_buf(&*guard).ok());
        guard
    }

    /// The entity's id, or `None` before one is assigned (at flush for generated ids).
    ///
    /// ```
    /// # use mongotic::prelude::*;
    /// # #[derive(Debug, Clone, Serialize, Deserialize, Model)]
    /// # #[mongotic(database = "app", collection = "users")]
    /// # struct User { #[serde(rename = "_id", skip_serializing_if = "Option::is_none")] #[mongotic(id)] id: Option<ObjectId>, name: String, age: Option<i32>, active: bool }
    /// let user = Tracked::new(User { id: None, name: "Ann".into(), age: None, active: true });
    /// assert_eq!(user.id(), None); // assigned at flush
    /// ```
    pub fn id(&self) -> Option<M::Id> {
        self.read().id().cloned()
    }

    /// A copy of the current value.
    ///
    /// ```
    /// # use mongotic::prelude::*;
    /// # #[derive(Debug, Clone, Serialize, Deserialize, Model)]
    /// # #[mongotic(database = "app", collection = "users")]
    /// # struct User { #[serde(rename = "_id", skip_serializing_if = "Option::is_none")] #[mongotic(id)] id: Option<ObjectId>, name: String, age: Option<i32>, active: bool }
    /// let user = Tracked::new(User { id: None, name: "Ann".into(), age: None, active: true });
    /// let copy: User = user.cloned();
    /// ```
    pub fn cloned(&self) -> M
    where
        M: Clone,
    {
        self.read().clone()
    }

    /// `true` while a session tracks this entity (after `add`, a query or `get`, until
    /// `expunge`, a flushed `delete`, or the session's end).
    ///
    /// ```no_run
    /// # use mongotic::prelude::*;
    /// # #[derive(Debug, Clone, Serialize, Deserialize, Model)]
    /// # #[mongotic(database = "app", collection = "users")]
    /// # struct User { #[serde(rename = "_id", skip_serializing_if = "Option::is_none")] #[mongotic(id)] id: Option<ObjectId>, name: String, age: Option<i32>, active: bool }
    /// # async fn demo(mut session: Session) -> mongotic::Result<()> {
    /// let user = session.add(User { id: None, name: "Ann".into(), age: None, active: true });
    /// assert!(user.is_attached());
    /// session.expunge(&user);
    /// assert!(!user.is_attached());
    /// # Ok(()) }
    /// ```
    pub fn is_attached(&self) -> bool {
        self.cell.state.session() != 0
    }

    /// `true` once the entity has been written to or loaded from the server (and not deleted
    /// there by this library since).
    ///
    /// ```no_run
    /// # use mongotic::prelude::*;
    /// # #[derive(Debug, Clone, Serialize, Deserialize, Model)]
    /// # #[mongotic(database = "app", collection = "users")]
    /// # struct User { #[serde(rename = "_id", skip_serializing_if = "Option::is_none")] #[mongotic(id)] id: Option<ObjectId>, name: String, age: Option<i32>, active: bool }
    /// # async fn demo(mut session: Session) -> mongotic::Result<()> {
    /// let user = session.add(User { id: None, name: "Ann".into(), age: None, active: true });
    /// assert!(!user.is_persistent());
    /// session.flush().await?;
    /// assert!(user.is_persistent());
    /// # Ok(()) }
    /// ```
    pub fn is_persistent(&self) -> bool {
        self.cell.state.is_persistent()
    }

    /// `true` after `Session::expire`, until the next `refresh`. Informational only: values
    /// are never reloaded behind your back.
    ///
    /// ```no_run
    /// # use mongotic::prelude::*;
    /// # #[derive(Debug, Clone, Serialize, Deserialize, Model)]
    /// # #[mongotic(database = "app", collection = "users")]
    /// # struct User { #[serde(rename = "_id", skip_serializing_if = "Option::is_none")] #[mongotic(id)] id: Option<ObjectId>, name: String, age: Option<i32>, active: bool }
    /// # async fn demo(mut session: Session) -> mongotic::Result<()> {
    /// let user = session.scalars(select::<User>()).one().await?;
    /// session.expire(&user);
    /// assert!(user.is_expired());
    /// # Ok(()) }
    /// ```
    pub fn is_expired(&self) -> bool {
        self.cell.state.is_expired()
    }

    /// `true` when both handles point to the same entity.
    ///
    /// ```no_run
    /// # use mongotic::prelude::*;
    /// # #[derive(Debug, Clone, Serialize, Deserialize, Model)]
    /// # #[mongotic(database = "app", collection = "users")]
    /// # struct User { #[serde(rename = "_id", skip_serializing_if = "Option::is_none")] #[mongotic(id)] id: Option<ObjectId>, name: String, age: Option<i32>, active: bool }
    /// # async fn demo(mut session: Session) -> mongotic::Result<()> {
    /// let a = session.scalars(select::<User>()).one().await?;
    /// let b = session.scalars(select::<User>()).one().await?;
    /// assert!(a.ptr_eq(&b)); // one document, one entity
    /// # Ok(()) }
    /// ```
    pub fn ptr_eq(&self, other: &Tracked<M>) -> bool {
        Arc::ptr_eq(&self.cell, &other.cell)
    }

    /// The type-erased handle, as listed by `Session::new`, `dirty` and `deleted`.
    ///
    /// ```
    /// # use mongotic::prelude::*;
    /// # #[derive(Debug, Clone, Serialize, Deserialize, Model)]
    /// # #[mongotic(database = "app", collection = "users")]
    /// # struct User { #[serde(rename = "_id", skip_serializing_if = "Option::is_none")] #[mongotic(id)] id: Option<ObjectId>, name: String, age: Option<i32>, active: bool }
    /// let user = Tracked::new(User { id: None, name: "Ann".into(), age: None, active: true });
    /// assert_eq!(user.as_entity_ref().model(), "User");
    /// ```
    pub fn as_entity_ref(&self) -> EntityRef {
        EntityRef { entity: self.cell.clone() }
    }

    pub(crate) fn erased(&self) -> Arc<dyn ErasedEntity> {
        self.cell.clone()
    }

    pub(crate) fn from_erased(entity: Arc<dyn ErasedEntity>) -> Option<Self> {
        entity.into_any().downcast::<EntityCell<M>>().ok().map(|cell| Tracked { cell })
    }

    pub(crate) fn state(&self) -> &CellState {
        &self.cell.state
    }
}

impl<M> Clone for Tracked<M> {
    fn clone(&self) -> Self {
        Tracked { cell: self.cell.clone() }
    }
}

impl<M: Model> fmt::Debug for Tracked<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.cell.fmt_value(f)
    }
}

impl<M: Model> From<M> for Tracked<M> {
    fn from(value: M) -> Self {
        Tracked::new(value)
    }
}

/// A handle to an entity of any model, as listed by `Session::new`, `dirty` and `deleted`.
///
/// ```
/// # use mongotic::prelude::*;
/// # #[derive(Debug, Serialize, Deserialize, Model)]
/// # #[mongotic(collection = "users")]
/// # struct User { #[serde(rename = "_id")] #[mongotic(id)] id: i64, name: String }
/// let user = Tracked::new(User { id: 7, name: "Ann".into() });
/// let any = user.as_entity_ref();
/// assert_eq!(any.model(), "User");
/// assert_eq!(any.id(), Some(mongotic::bson::Bson::Int64(7)));
/// assert!(any == user);
/// assert!(any.downcast::<User>().unwrap().ptr_eq(&user));
/// ```
#[derive(Clone)]
pub struct EntityRef {
    pub(crate) entity: Arc<dyn ErasedEntity>,
}

impl EntityRef {
    /// The Rust name of the entity's model.
    ///
    /// ```
    /// # use mongotic::prelude::*;
    /// # #[derive(Debug, Clone, Serialize, Deserialize, Model)]
    /// # #[mongotic(database = "app", collection = "users")]
    /// # struct User { #[serde(rename = "_id", skip_serializing_if = "Option::is_none")] #[mongotic(id)] id: Option<ObjectId>, name: String, age: Option<i32>, active: bool }
    /// let user = Tracked::new(User { id: None, name: "Ann".into(), age: None, active: true });
    /// assert_eq!(user.as_entity_ref().model(), "User");
    /// ```
    pub fn model(&self) -> &'static str {
        self.entity.meta().name
    }

    /// The collection the entity belongs to.
    ///
    /// ```
    /// # use mongotic::prelude::*;
    /// # #[derive(Debug, Clone, Serialize, Deserialize, Model)]
    /// # #[mongotic(database = "app", collection = "users")]
    /// # struct User { #[serde(rename = "_id", skip_serializing_if = "Option::is_none")] #[mongotic(id)] id: Option<ObjectId>, name: String, age: Option<i32>, active: bool }
    /// let user = Tracked::new(User { id: None, name: "Ann".into(), age: None, active: true });
    /// assert_eq!(user.as_entity_ref().collection(), "users");
    /// ```
    pub fn collection(&self) -> &'static str {
        self.entity.meta().collection
    }

    /// The entity's current id, if set (and if its value is not locked by a write guard).
    ///
    /// ```
    /// # use mongotic::prelude::*;
    /// # #[derive(Debug, Clone, Serialize, Deserialize, Model)]
    /// # #[mongotic(database = "app", collection = "users")]
    /// # struct User { #[serde(rename = "_id", skip_serializing_if = "Option::is_none")] #[mongotic(id)] id: Option<ObjectId>, name: String, age: Option<i32>, active: bool }
    /// let user = Tracked::new(User { id: None, name: "Ann".into(), age: None, active: true });
    /// assert_eq!(user.as_entity_ref().id(), None);
    /// ```
    pub fn id(&self) -> Option<Bson> {
        self.entity.current_id().ok().flatten()
    }

    /// The typed handle, if the entity is an `M`.
    ///
    /// ```
    /// # use mongotic::prelude::*;
    /// # #[derive(Debug, Clone, Serialize, Deserialize, Model)]
    /// # #[mongotic(database = "app", collection = "users")]
    /// # struct User { #[serde(rename = "_id", skip_serializing_if = "Option::is_none")] #[mongotic(id)] id: Option<ObjectId>, name: String, age: Option<i32>, active: bool }
    /// let user = Tracked::new(User { id: None, name: "Ann".into(), age: None, active: true });
    /// let any = user.as_entity_ref();
    /// assert!(any.downcast::<User>().is_some());
    /// ```
    pub fn downcast<M: Model>(&self) -> Option<Tracked<M>> {
        Tracked::from_erased(self.entity.clone())
    }

    /// `true` when `handle` is this entity.
    ///
    /// ```
    /// # use mongotic::prelude::*;
    /// # #[derive(Debug, Clone, Serialize, Deserialize, Model)]
    /// # #[mongotic(database = "app", collection = "users")]
    /// # struct User { #[serde(rename = "_id", skip_serializing_if = "Option::is_none")] #[mongotic(id)] id: Option<ObjectId>, name: String, age: Option<i32>, active: bool }
    /// let user = Tracked::new(User { id: None, name: "Ann".into(), age: None, active: true });
    /// assert!(user.as_entity_ref().is(&user));
    /// ```
    pub fn is<M: Model>(&self, handle: &Tracked<M>) -> bool {
        std::ptr::eq(self.entity.state(), handle.state())
    }
}

impl<M: Model> PartialEq<Tracked<M>> for EntityRef {
    fn eq(&self, other: &Tracked<M>) -> bool {
        self.is(other)
    }
}

impl PartialEq for EntityRef {
    fn eq(&self, other: &Self) -> bool {
        std::ptr::eq(self.entity.state(), other.entity.state())
    }
}

impl fmt::Debug for EntityRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.entity.fmt_value(f)
    }
}
