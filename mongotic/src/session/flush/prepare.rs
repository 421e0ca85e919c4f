//! What happens to an entity between "staged" and "serialized for its write": its lifecycle
//! hooks and timestamps run, its checks run, and a versioned entity gets the version its
//! write will store.
//!
//! Hooks and timestamps change the value in memory (so the write carries them, and memory
//! equals what is stored once it lands) and run once per pending change. Checks run at every
//! flush and are collected, so one error names every invalid value. The version is set in
//! memory for the write; if the write does not land it is put back (see `record`), so the
//! value always shows the version the server has.

use bson::{Bson, DateTime};

use crate::Result;
use crate::error::{Error, WriteKind};
use crate::model::{HookContext, HookEvent, Staged};
use crate::session::store::version_in;
use crate::session::tracked::{Baseline, ErasedEntity};
use crate::validation::Invalid;

/// The version check of a write of a versioned entity.
#[derive(Clone, Copy, Debug)]
pub(crate) struct VersionCheck {
    /// The stored name of the version field.
    pub(crate) field: &'static str,
    /// The version the document must have for the write to apply.
    pub(crate) expected: i64,
    /// The version the write stores (the same as `expected` for a delete).
    pub(crate) written: i64,
}

/// Runs hooks and checks for one plan, collecting what they produce.
pub(crate) struct Preparer {
    now: DateTime,
    /// Entities hooks staged, for the plan to add.
    pub(crate) staged: Vec<Staged>,
    /// Values that failed their checks.
    pub(crate) invalid: Vec<Invalid>,
}

impl Preparer {
    pub(crate) fn new() -> Self {
        Preparer { now: DateTime::now(), staged: Vec::new(), invalid: Vec::new() }
    }

    /// The flush's one time, for its timestamps and soft deletes.
    pub(crate) fn now(&self) -> DateTime {
        self.now
    }

    /// Runs the entity's hooks and timestamps for the write `kind` of its pending change
    /// (counter `seen`), unless they already ran for it. Returns `true` when they may have
    /// changed the value.
    pub(crate) fn hooks(
        &mut self,
        entity: &dyn ErasedEntity,
        seen: u64,
        kind: WriteKind,
        event: HookEvent,
        namespace: &str,
    ) -> Result<bool> {
        if !entity.meta().prepares {
            return Ok(false);
        }
        let state = entity.state();
        if state.sync().prepared() == Some((seen, kind)) {
            return Ok(false);
        }
        let mut ctx = HookContext::new(self.now, &mut self.staged);
        let id = || entity.current_id().ok().flatten().map(Box::new);
        match entity.prepare(&event, &mut ctx) {
            Ok(Ok(())) => {}
            Ok(Err(source)) => {
                let hook = match event {
                    HookEvent::Insert => "before_insert",
                    HookEvent::Update(_) => "before_update",
                    HookEvent::Delete => "before_delete",
                };
                return Err(Error::Hook { model: entity.meta().name, id: id(), hook, source });
            }
            Err(err) => return Err(err.into_error(namespace, entity.current_id().ok().flatten())),
        }
        state.sync().set_prepared(Some((seen, kind)));
        Ok(!matches!(event, HookEvent::Delete))
    }

    /// Runs the entity's checks, recording a failure for the end of planning.
    pub(crate) fn validate(&mut self, entity: &dyn ErasedEntity, id: Option<&Bson>, namespace: &str) -> Result<()> {
        if !entity.meta().validates {
            return Ok(());
        }
        let violations = entity.validate().map_err(|err| err.into_error(namespace, id.cloned()))?;
        if !violations.is_empty() {
            self.invalid.push(Invalid { model: entity.meta().name, id: id.cloned(), violations });
        }
        Ok(())
    }
}

/// The version a persistent entity's document has on the server: the version field of its
/// baseline (the value as last synced), or of the current value when the baseline does not
/// tell.
pub(crate) fn stored_version(entity: &dyn ErasedEntity, field: &str, namespace: &str) -> Result<Option<i64>> {
    let from_baseline = match &entity.state().sync().baseline {
        Baseline::Taken(baseline) => version_in(baseline, field),
        Baseline::Current | Baseline::Unknown => None,
    };
    match from_baseline {
        Some(version) => Ok(Some(version)),
        None => entity.version().map_err(|err| err.into_error(namespace, entity.current_id().ok().flatten())),
    }
}
