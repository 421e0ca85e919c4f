//! What following a change stream needs of a session (see [`crate::watch`]): the entity it
//! tracks for an event's document, and applying the event's document or delete to it without
//! a read.

use super::Session;
use super::space::Space;
use super::store;
use super::tracked::{Baseline, CellError};
use super::unit_of_work::Status;
use crate::model::IdKey;
use crate::{Error, Model, Result, Tracked};

impl Session {
    /// The entity of `M` with `_id` `id` this session tracks (`None` when it tracks none):
    /// with the document the server last had for it when it is persistent with no write
    /// staged or in doubt (`None` inside when its value could not be kept before a change
    /// began), or `None` when it has a write pending.
    #[allow(clippy::type_complexity)]
    pub(crate) fn followed<M: Model>(
        &self,
        id: &bson::Bson,
    ) -> Result<Option<Option<(Tracked<M>, Option<bson::RawDocumentBuf>)>>> {
        let Some((_, entry)) = self.uow.lookup(Space::of::<M>(), &IdKey::from_bson(id)) else { return Ok(None) };
        if entry.status != Status::Persistent || entry.entity.state().in_doubt() {
            return Ok(Some(None));
        }
        let Some(handle) = Tracked::<M>::from_erased(entry.entity.clone()) else { return Ok(None) };
        let baseline = entry.entity.state().sync().baseline.clone();
        let stored = match baseline {
            Baseline::Taken(raw) => Some(raw),
            Baseline::Unknown => None,
            Baseline::Current => {
                Some(entry.entity.to_raw().map_err(|err| self.cell_error::<M>(err, Some(id.clone())))?)
            }
        };
        Ok(Some(Some((handle, stored))))
    }

    /// Makes `raw`, a document the server stored, both the value and the baseline of
    /// `entity`, as `refresh` does, without reading it.
    pub(crate) fn follow_stored<M: Model>(&mut self, entity: &Tracked<M>, raw: &bson::RawDocument) -> Result<()> {
        let namespace = self.engine.namespace(M::meta())?.to_string();
        store::within_depth(&namespace, raw)?;
        entity.erased().load(raw).map_err(|err| match err {
            CellError::Deserialize(source) => Error::deserialize(&namespace, raw, source),
            other => self.cell_error::<M>(other, entity.state().server_id()),
        })?;
        entity.state().forget_changes();
        entity.state().set_expired(false);
        Ok(())
    }

    /// Forgets `entity`, whose document the server no longer has.
    pub(crate) fn follow_deleted<M: Model>(&mut self, entity: &Tracked<M>) {
        if let Some(key) = self.uow.key_of(entity.state()) {
            self.uow.remove(key);
        }
        entity.state().deleted();
    }

    /// The driver session the session's next command runs in: the explicit transaction's
    /// while one is open, else the causally consistent one (`None` where the deployment has
    /// no sessions).
    pub(crate) async fn driver_session(&mut self) -> Result<Option<&mut mongodb::ClientSession>> {
        self.txn.ready(&self.engine).await?;
        self.txn.client_session()
    }
}
