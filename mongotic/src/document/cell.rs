//! The document entity: its cell (value and tracking state) and its handle.

use std::any::Any;
use std::fmt;
use std::sync::{Arc, PoisonError, RwLock, TryLockError};

use bson::oid::ObjectId;
use bson::{Bson, Document, RawDocument, RawDocumentBuf};

use super::paths;
use crate::model::{HookContext, HookError, HookEvent, ModelMeta};
use crate::session::{Baseline, CellError, CellState, ErasedEntity, ReadGuard, ServerId, Space, WriteGuard};
use crate::validation::Violations;
use crate::{Error, Result};

/// A handle to a document without a model, tracked by a session: what
/// [`Documents`](super::Documents) returns. See [`document`](crate::document).
///
/// Cloning a handle gives another handle to the same entity. Changes made through
/// [`write`](TrackedDocument::write) or the path methods are written by the next flush, as
/// `$set`/`$unset` of the paths that differ from the stored document.
///
/// ```no_run
/// # use mongotic::prelude::*;
/// # async fn demo(mut session: Session) -> mongotic::Result<()> {
/// let mut orders = session.documents("orders")?;
/// if let Some(order) = orders.get(42).await? {
///     order.set("status", "shipped")?;
///     order.write().insert("shipped_by", "ops");
/// }
/// session.commit().await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct TrackedDocument {
    pub(crate) cell: Arc<DocumentCell>,
}

/// The value of a document entity and its tracking state.
pub(crate) struct DocumentCell {
    state: CellState,
    meta: &'static ModelMeta,
    value: RwLock<Document>,
}

impl DocumentCell {
    pub(crate) fn new(meta: &'static ModelMeta, value: Document, server_id: Option<ServerId>) -> Arc<Self> {
        Arc::new(DocumentCell { state: CellState::new(0, server_id), meta, value: RwLock::new(value) })
    }

    /// A document read from the server as `raw`, which is kept as the baseline of its changes.
    pub(crate) fn loaded(
        meta: &'static ModelMeta,
        value: Document,
        raw: &RawDocument,
        server_id: Option<ServerId>,
    ) -> Arc<Self> {
        let cell = Self::new(meta, value, server_id);
        cell.state.sync().baseline = Baseline::Taken(raw.to_raw_document_buf());
        cell
    }

    fn try_read(&self) -> Result<std::sync::RwLockReadGuard<'_, Document>, CellError> {
        match self.value.try_read() {
            Ok(guard) => Ok(guard),
            Err(TryLockError::Poisoned(poisoned)) => Ok(poisoned.into_inner()),
            Err(TryLockError::WouldBlock) => Err(CellError::Busy),
        }
    }

    fn try_write(&self) -> Result<std::sync::RwLockWriteGuard<'_, Document>, CellError> {
        match self.value.try_write() {
            Ok(guard) => Ok(guard),
            Err(TryLockError::Poisoned(poisoned)) => Ok(poisoned.into_inner()),
            Err(TryLockError::WouldBlock) => Err(CellError::Busy),
        }
    }
}

/// A stored document as a `bson::Document` (read by the crate's own reader, see
/// `crate::decode`: serde is not needed for documents without a model).
pub(crate) fn decode(raw: &RawDocument) -> Result<Document, bson::de::Error> {
    crate::decode::document_from_raw(raw)
}

fn encode(doc: &Document) -> Result<RawDocumentBuf, CellError> {
    crate::encode::document_to_raw(doc).map_err(CellError::Serialize)
}

impl ErasedEntity for DocumentCell {
    fn state(&self) -> &CellState {
        &self.state
    }

    fn meta(&self) -> &'static ModelMeta {
        self.meta
    }

    fn space(&self) -> Space {
        Space::documents(self.meta)
    }

    fn into_any(self: Arc<Self>) -> Arc<dyn Any + Send + Sync> {
        self
    }

    fn to_raw(&self) -> Result<RawDocumentBuf, CellError> {
        encode(&*self.try_read()?)
    }

    fn current_id(&self) -> Result<Option<Bson>, CellError> {
        Ok(self.try_read()?.get("_id").cloned())
    }

    fn assign_id(&self) -> Result<(Bson, bool), CellError> {
        if let Some(id) = self.current_id()? {
            return Ok((id, false));
        }
        let id = Bson::ObjectId(ObjectId::new());
        let mut value = self.try_write()?;
        // `_id` first, where the server would put it.
        let mut with_id = Document::new();
        with_id.insert("_id", id.clone());
        with_id.extend(std::mem::take(&mut *value));
        *value = with_id;
        self.state.sync().id_generated = true;
        Ok((id, true))
    }

    fn load(&self, raw: &RawDocument) -> Result<(), CellError> {
        let value = decode(raw).map_err(CellError::Deserialize)?;
        *self.try_write()? = value;
        Ok(())
    }

    fn prepare(&self, _event: &HookEvent, _ctx: &mut HookContext<'_>) -> Result<Result<(), HookError>, CellError> {
        Ok(Ok(()))
    }

    fn validate(&self) -> Result<Violations, CellError> {
        Ok(Violations::default())
    }

    fn version(&self) -> Result<Option<i64>, CellError> {
        Ok(None)
    }

    fn set_version(&self, _version: i64) -> Result<(), CellError> {
        Ok(())
    }

    fn set_deleted(&self, _at: Option<bson::DateTime>) -> Result<(), CellError> {
        Ok(())
    }

    fn set_tenant(&self, _tenant: &Bson) -> Result<(), CellError> {
        Ok(())
    }

    fn fmt_value(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.value.try_read() {
            Ok(value) => fmt::Debug::fmt(&*value, f),
            Err(TryLockError::Poisoned(poisoned)) => fmt::Debug::fmt(&*poisoned.into_inner(), f),
            Err(TryLockError::WouldBlock) => write!(f, "Document {{ <locked> }}"),
        }
    }
}

impl TrackedDocument {
    pub(crate) fn from_erased(entity: Arc<dyn ErasedEntity>) -> Option<Self> {
        entity.into_any().downcast::<DocumentCell>().ok().map(|cell| TrackedDocument { cell })
    }

    pub(crate) fn erased(&self) -> Arc<dyn ErasedEntity> {
        self.cell.clone()
    }

    /// Shared access to the document. Do not hold it across a flush (the flush reports
    /// [`Error::EntityBusy`] rather than wait).
    ///
    /// ```no_run
    /// # async fn demo(doc: mongotic::document::TrackedDocument) {
    /// let name = doc.read().get_str("name").map(str::to_owned);
    /// # }
    /// ```
    pub fn read(&self) -> ReadGuard<'_, Document> {
        ReadGuard(self.cell.value.read().unwrap_or_else(PoisonError::into_inner))
    }

    /// Exclusive access to the document, to change it; the next flush writes what changed.
    ///
    /// ```no_run
    /// # async fn demo(doc: mongotic::document::TrackedDocument) {
    /// doc.write().insert("reviewed", true);
    /// # }
    /// ```
    pub fn write(&self) -> WriteGuard<'_, Document> {
        let guard = self.cell.value.write().unwrap_or_else(PoisonError::into_inner);
        self.cell.state.begin_change(|| encode(&guard).ok());
        WriteGuard(guard)
    }

    /// The value at the dotted `path` (through embedded documents, and arrays by index).
    ///
    /// ```no_run
    /// # async fn demo(doc: mongotic::document::TrackedDocument) {
    /// let city = doc.get("address.city");
    /// # }
    /// ```
    pub fn get(&self, path: &str) -> Option<Bson> {
        paths::get(&self.read(), path).cloned()
    }

    /// Sets the dotted `path` to `value`, creating the embedded documents on the way (as
    /// `$set` does); returns the value it replaced. A path that runs into a value that is not a
    /// document (or an array with that index), or that would be an operator, is
    /// [`Error::InvalidValue`] and changes nothing.
    ///
    /// ```no_run
    /// # async fn demo(doc: mongotic::document::TrackedDocument) -> mongotic::Result<()> {
    /// doc.set("address.city", "Lyon")?;
    /// # Ok(()) }
    /// ```
    pub fn set(&self, path: &str, value: impl Into<Bson>) -> Result<Option<Bson>> {
        paths::set(&mut self.write(), path, value.into())
    }

    /// Removes the dotted `path`, returning what was there (`None`: nothing to remove).
    ///
    /// ```no_run
    /// # async fn demo(doc: mongotic::document::TrackedDocument) {
    /// let old = doc.unset("legacy_flag");
    /// # }
    /// ```
    pub fn unset(&self, path: &str) -> Option<Bson> {
        // Only a document that has the path is changed (and so compared at the next flush).
        paths::get(&self.read(), path)?;
        paths::unset(&mut self.write(), path)
    }

    /// Moves the value at `from` to `to` (as `$rename` does); `false` when `from` is missing.
    ///
    /// ```no_run
    /// # async fn demo(doc: mongotic::document::TrackedDocument) -> mongotic::Result<()> {
    /// doc.rename("fullname", "name")?;
    /// # Ok(()) }
    /// ```
    pub fn rename(&self, from: &str, to: &str) -> Result<bool> {
        let mut doc = self.write();
        let Some(value) = paths::get(&doc, from).cloned() else { return Ok(false) };
        paths::set(&mut doc, to, value)?;
        paths::unset(&mut doc, from);
        Ok(true)
    }

    /// The document's `_id`, or `None` before one is assigned (at flush, an `ObjectId`).
    ///
    /// ```no_run
    /// # async fn demo(doc: mongotic::document::TrackedDocument) {
    /// println!("{:?}", doc.id());
    /// # }
    /// ```
    pub fn id(&self) -> Option<Bson> {
        self.read().get("_id").cloned()
    }

    /// `database.collection`.
    ///
    /// ```no_run
    /// # async fn demo(doc: mongotic::document::TrackedDocument) {
    /// assert!(doc.namespace().ends_with(".users"));
    /// # }
    /// ```
    pub fn namespace(&self) -> String {
        format!("{}.{}", self.cell.meta.database.unwrap_or_default(), self.cell.meta.collection)
    }

    /// A copy of the document.
    ///
    /// ```no_run
    /// # async fn demo(doc: mongotic::document::TrackedDocument) {
    /// let copy: mongotic::bson::Document = doc.cloned();
    /// # }
    /// ```
    pub fn cloned(&self) -> Document {
        self.read().clone()
    }

    /// `true` when both handles are of the same entity.
    ///
    /// ```no_run
    /// # async fn demo(a: mongotic::document::TrackedDocument) {
    /// assert!(a.ptr_eq(&a.clone()));
    /// # }
    /// ```
    pub fn ptr_eq(&self, other: &TrackedDocument) -> bool {
        Arc::ptr_eq(&self.cell, &other.cell)
    }

    /// `true` while a session tracks the document.
    ///
    /// ```no_run
    /// # async fn demo(a: mongotic::document::TrackedDocument) {
    /// println!("{}", a.is_attached());
    /// # }
    /// ```
    pub fn is_attached(&self) -> bool {
        self.cell.state.session() != 0
    }
}

impl fmt::Debug for TrackedDocument {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TrackedDocument({}, ", self.namespace())?;
        self.cell.fmt_value(f)?;
        write!(f, ")")
    }
}

/// The error for a handle the session does not hold, for messages.
pub(crate) fn not_a_document(namespace: &str) -> Error {
    Error::UnexpectedReply { message: format!("the identity map holds a typed entity for a document of {namespace}") }
}
