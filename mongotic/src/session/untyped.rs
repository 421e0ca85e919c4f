//! The session's untyped entry points: reads and writes of entities known only through
//! [`ErasedEntity`], for the documents without a model of [`crate::document`] (and for any
//! front that brings its own value type). They go through the same identity map, `Io` layer,
//! flush and reconciliation as typed entities; only the decoding is the caller's.

use std::sync::Arc;

use std::time::Duration;

use bson::{Bson, Document, RawDocument, RawDocumentBuf};
use tracing::Instrument;
use tracing::Span;

use super::io::{FindShape, Rows, bounded};
use super::query::Loader;
use super::space::Space;
use super::store::within_depth;
use super::tracked::{ErasedEntity, ServerId};
use super::unit_of_work::Status;
use super::{Session, detached_erased};
use crate::model::{IdKey, ModelMeta};
use crate::options::Options;
use crate::{Error, Result};

/// Builds the entity for a stored document the session does not track yet.
pub(crate) type Make<'a> = dyn FnMut(&RawDocument, Option<ServerId>) -> Result<Arc<dyn ErasedEntity>> + Send + 'a;

impl Session {
    /// The documents of `meta`'s collection matching `filter`, as tracked entities of `space`
    /// (the ones the session already tracks keep their state and pending changes).
    pub(crate) async fn find_erased(
        &mut self,
        meta: &'static ModelMeta,
        filter: Document,
        shape: FindShape,
        options: &Options,
        make: &mut Make<'_>,
    ) -> Result<Vec<Arc<dyn ErasedEntity>>> {
        let mut rows = self.open_erased(meta, filter, shape, options).await?;
        let space = Space::documents(meta);
        let in_namespace = self.typed_in(meta)?;
        let namespace = rows.namespace.clone();
        let mut found = Vec::new();
        while let Some(raw) = rows.next(self).await? {
            let mut loader = Loader::new(&mut self.uow, &namespace);
            found.push(loader.erased(space, raw, &in_namespace, |server_id| make(raw, server_id))?);
        }
        Ok(found)
    }

    /// Opens a cursor over the stored documents of `meta`'s collection matching `filter`,
    /// read in this session: the documents are not tracked until [`Session::load_erased`]
    /// takes them into a unit of work (this session's or another's).
    pub(crate) async fn open_erased(
        &mut self,
        meta: &'static ModelMeta,
        filter: Document,
        shape: FindShape,
        options: &Options,
    ) -> Result<ErasedRows> {
        self.uow.note_documents();
        let io = self.io(meta, "find", options).await?;
        let namespace = io.namespace().to_owned();
        let limit = io.options().timeout;
        let (rows, span) = io.find(filter, shape).await?;
        Ok(ErasedRows { rows, span, namespace, limit, returned: 0 })
    }

    /// Tracks stored documents of `meta`'s collection read elsewhere (by an
    /// [`ErasedRows`] of another session) as loaded entities, as a query of this session
    /// would: the ones the session already tracks keep their state and pending changes.
    pub(crate) fn load_erased(
        &mut self,
        meta: &'static ModelMeta,
        stored: &[RawDocumentBuf],
        make: &mut Make<'_>,
    ) -> Result<Vec<Arc<dyn ErasedEntity>>> {
        self.uow.note_documents();
        let space = Space::documents(meta);
        let in_namespace = self.typed_in(meta)?;
        let namespace = self.engine.namespace(meta)?.to_string();
        let mut loader = Loader::new(&mut self.uow, &namespace);
        stored.iter().map(|raw| loader.erased(space, raw, &in_namespace, |server_id| make(raw, server_id))).collect()
    }

    /// The document of `meta`'s collection with `_id` `id`: the tracked entity when the session
    /// has it (no I/O), else read with one `find`.
    pub(crate) async fn get_erased(
        &mut self,
        meta: &'static ModelMeta,
        id: &Bson,
        make: &mut Make<'_>,
    ) -> Result<Option<Arc<dyn ErasedEntity>>> {
        let space = Space::documents(meta);
        self.uow.note_documents();
        if let Some((_, entry)) = self.uow.lookup(space, &IdKey::from_bson(id)) {
            let in_doubt = matches!(entry.status, Status::New | Status::Uncertain) && entry.entity.state().in_doubt();
            if !in_doubt {
                return Ok(Some(entry.entity.clone()));
            }
        }
        let io = self.io(meta, "find", &Options::default()).await?;
        let namespace = io.namespace().to_owned();
        let Some(raw) = io.find_by_id(id).await? else { return Ok(None) };
        within_depth(&namespace, &raw)?;
        let in_namespace = self.typed_in(meta)?;
        let mut loader = Loader::new(&mut self.uow, &namespace);
        loader.erased(space, &raw, &in_namespace, |server_id| make(&raw, server_id)).map(Some)
    }

    /// The number of documents of `meta`'s collection matching `filter`.
    pub(crate) async fn count_erased(
        &mut self,
        meta: &'static ModelMeta,
        filter: Document,
        options: &Options,
    ) -> Result<u64> {
        self.io(meta, "count", options).await?.count(filter, None, None).await
    }

    /// Updates every document of `meta`'s collection matching `filter` with `update`, in the
    /// session's transaction when it has one; returns how many documents changed.
    pub(crate) async fn update_erased(
        &mut self,
        meta: &'static ModelMeta,
        filter: Document,
        update: mongodb::options::UpdateModifications,
    ) -> Result<u64> {
        let result = self.io(meta, "update", &Options::default()).await?.update_many(filter, update).await?;
        Ok(result.modified_count)
    }

    /// Runs bookkeeping `statements` (filter, update, upsert) on the collection of `meta`, in
    /// order and in the session's transaction: see [`Io::update_in_order`](super::io::Io::update_in_order).
    pub(crate) async fn update_in_order_erased(
        &mut self,
        meta: &'static ModelMeta,
        statements: &[(RawDocumentBuf, RawDocumentBuf, bool)],
    ) -> Result<u64> {
        self.io(meta, "update", &Options::default()).await?.update_in_order(statements).await
    }

    /// Tracks a document entity, as [`Session::add`] does a typed one, after checking that
    /// the session does not track its document as a typed entity.
    pub(crate) fn attach_erased(&mut self, entity: Arc<dyn ErasedEntity>) -> Result<()> {
        let meta = entity.meta();
        self.uow.note_documents();
        if self.uow.key_of(entity.state()).is_none()
            && let Ok(Some(id)) = entity.current_id()
        {
            let namespace = self.engine.namespace(meta)?.to_string();
            self.uow.refuse_other_shape(entity.space(), &IdKey::from_bson(&id), &namespace, self.typed_in(meta)?)?;
        }
        self.attach(entity);
        Ok(())
    }

    /// Stages the delete of a document entity (see [`Session::delete`]).
    pub(crate) fn delete_erased(&mut self, entity: &dyn ErasedEntity) -> Result<()> {
        if self.stage_delete(entity.state()) { Ok(()) } else { Err(detached_erased(entity)) }
    }

    /// Stops tracking a document entity (see [`Session::expunge`]).
    pub(crate) fn expunge_erased(&mut self, entity: &dyn ErasedEntity) {
        if let Some(key) = self.uow.key_of(entity.state()) {
            self.uow.remove(key);
        }
    }

    /// A test of "these are the typed models whose documents live where `meta`'s do".
    fn typed_in(&self, meta: &'static ModelMeta) -> Result<impl Fn(&'static ModelMeta) -> bool + use<>> {
        let target = self.engine.namespace(meta)?;
        let engine = self.engine.clone();
        Ok(move |other: &'static ModelMeta| {
            !other.untyped && engine.namespace(other).is_ok_and(|namespace| namespace == target)
        })
    }
}

/// An open cursor of stored documents (see [`Session::open_erased`]), advanced in the
/// session that opened it.
pub(crate) struct ErasedRows {
    rows: Rows,
    span: Span,
    namespace: String,
    limit: Option<Duration>,
    returned: u64,
}

impl ErasedRows {
    /// The next stored document, fetching a batch when needed (in `session`, the one that
    /// opened the cursor); `None` at the end, which records the rows read on the span.
    pub(crate) async fn next(&mut self, session: &mut Session) -> Result<Option<&RawDocument>> {
        let txn = &mut session.txn;
        let namespace = &self.namespace;
        let rows = &mut self.rows;
        let more = bounded(self.limit, namespace, async {
            rows.advance(txn).await.map_err(|err| Error::from_driver(err, namespace, None))
        })
        .instrument(self.span.clone())
        .await?;
        if !more {
            self.span.record("db.response.returned_rows", self.returned);
            return Ok(None);
        }
        let raw = self.rows.current();
        within_depth(&self.namespace, raw)?;
        self.returned += 1;
        Ok(Some(raw))
    }
}
