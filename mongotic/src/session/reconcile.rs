//! Finding out, by reading the server, what became of inserts whose outcome is unknown.
//!
//! An insert is in doubt when it was sent and no reply proved its fate (a dropped connection,
//! a lost reply, a write concern error, a killed server, a commit whose result is unknown).
//! Its entity carries an [`Intent::Insert`] (see `tracked`). Before the next flush sends
//! anything, and right after a failed one, the session reads those ids back, one `find` per
//! collection:
//!
//! - stored, and ours (the id was generated for it, or the stored document is the one sent):
//!   the insert landed, and the entity is recorded as persistent with the stored document as
//!   its baseline;
//! - stored but different (a client-chosen id someone else holds): the insert did not land;
//!   sending it again reports the duplicate key, which is the truth;
//! - not stored: the insert did not land, and it is sent again.
//!
//! Deletes need no read: sent again they do no harm (a delete that was in doubt may match
//! nothing the second time, and that is not a conflict). Only a delete in doubt that was taken
//! back (`add` of the handle, `rollback`) is read: if it landed, the entity no longer exists on
//! the server, and the session must not pretend it does.
//!
//! Updates and replacements are read too. Of a versioned entity, sent again after they landed
//! they would match nothing (the version moved on) and read as a conflict; of any entity, the
//! value may change back before the next flush, whose diff against the old baseline would then
//! write nothing while the server holds what the lost write stored. A document that holds what
//! the write stored (and its version) is proof that it landed, and the entity records it:
//! changes made since, a change back included, are diffed from it.

use bson::{Bson, RawDocumentBuf};
use mongodb::Namespace;

use super::diff::{Change, contains_all, diff};
use super::scope::write_key;
use super::store::{ById, stored, version_in};
use super::tracked::{Baseline, ErasedEntity, Intent, any_in_doubt};
use super::transaction::Transaction;
use super::unit_of_work::{Status, UnitOfWork};
use crate::model::IdKey;
use crate::{Engine, Result};

/// One entity whose write is in doubt, and the id to read.
struct Doubt {
    key: usize,
    id: Bson,
    /// The fields beyond `_id` the document is known by (shard key, tenant).
    known_by: Option<RawDocumentBuf>,
    intent: Intent,
}

/// Resolves every write in doubt of the session's entities that is not staged to be sent
/// again harmlessly (inserts, and deletes taken back), by reading the server. On error (the
/// server cannot be read) nothing changes and the writes stay in doubt.
pub(crate) async fn reconcile(engine: &Engine, uow: &mut UnitOfWork, txn: &mut Transaction) -> Result<()> {
    if !any_in_doubt() {
        return Ok(());
    }
    uow.prune();
    // Per namespace (few per session, so a short list), the entities in doubt.
    let mut doubts: Vec<(Namespace, Vec<Doubt>)> = Vec::new();
    for (key, entry) in uow.entries() {
        let state = entry.entity.state();
        let versioned = matches!(state.sync().intent(), Intent::Versioned { .. } | Intent::Update { .. });
        if !versioned && !matches!(entry.status, Status::New | Status::Uncertain) {
            continue;
        }
        let intent = state.intent();
        let id = match &intent {
            Intent::Insert { id, .. } => id.to_bson(),
            // A delete in doubt that was taken back (`add`, `rollback`): does the document
            // still exist?
            Intent::Delete => match state.server_id() {
                Some(id) => id,
                None => continue,
            },
            // A versioned update or replacement: sent again, it would match nothing if it
            // landed (the version moved on). A `merge` may have created the document, so the
            // id is the write's, not the one the server was known to have.
            Intent::Versioned { id, .. } | Intent::Update { id, .. } => id.to_bson(),
            Intent::None => continue,
        };
        let namespace = engine.namespace(entry.entity.meta())?;
        let known_by = key_in_doubt(entry.entity.as_ref(), &intent);
        let doubt = Doubt { key, id, known_by, intent };
        match doubts.iter_mut().find(|(known, _)| *known == namespace) {
            Some((_, list)) => list.push(doubt),
            None => doubts.push((namespace, vec![doubt])),
        }
    }
    for (namespace, list) in doubts {
        let ids: Vec<Bson> = list.iter().map(|doubt| doubt.id.clone()).collect();
        let keys: Vec<Option<RawDocumentBuf>> = list.iter().map(|doubt| doubt.known_by.clone()).collect();
        let found = stored(engine, txn.client_session()?, &namespace, &ids, &keys, false).await?;
        let mut by_id = ById::new(found);
        for doubt in list {
            let stored = by_id.take(&IdKey::from_bson(&doubt.id));
            resolve(uow, doubt.key, doubt.intent, stored);
        }
    }
    Ok(())
}

/// The fields beyond `_id` the document a write in doubt was for is known by (its shard key,
/// its tenant): from what the write sent when it says, else from the entity as last synced,
/// else as it is.
fn key_in_doubt(entity: &dyn ErasedEntity, intent: &Intent) -> Option<RawDocumentBuf> {
    let meta = entity.meta();
    if meta.shard_key.is_empty() && meta.tenant.is_none() {
        return None;
    }
    match intent {
        Intent::Insert { sent: Some(sent), .. } | Intent::Versioned { sent, .. } | Intent::Update { sent, .. } => {
            write_key(meta, None, sent, false)
        }
        _ => match &entity.state().sync().baseline {
            Baseline::Taken(baseline) => write_key(meta, None, baseline, false),
            Baseline::Current | Baseline::Unknown => write_key(meta, None, &entity.to_raw().ok()?, false),
        },
    }
}

/// Records what a read showed about the write in doubt (`intent`) of the entity in slot
/// `key`, which is staged for insert or taken back: `stored` is the document with its id,
/// if there is one. Also used when a query happens to meet such a document.
pub(crate) fn resolve(uow: &mut UnitOfWork, key: usize, intent: Intent, stored: Option<bson::RawDocumentBuf>) {
    let Some(entry) = uow.get(key) else { return };
    let entity = entry.entity.clone();
    let status = entry.status;
    let state = entity.state();
    state.set_intent(Intent::None);
    match intent {
        Intent::Insert { id, sent, seen } => {
            let ours = match (&stored, &sent) {
                (Some(_), None) => true,
                (Some(stored), Some(sent)) => diff(sent, stored) == Change::None,
                (None, _) => false,
            };
            match stored {
                Some(stored) if ours => {
                    state.synced(seen, stored, Some(id));
                    // A rolled-back insert that landed anyway is persistent like any other.
                    uow.restage(key, Status::Persistent);
                }
                // It did not land and nobody wants it any more.
                _ if status == Status::Uncertain => {
                    uow.remove(key);
                }
                _ => {}
            }
        }
        Intent::Delete if stored.is_some() => {
            // The delete did not land: the entity is as persistent as before it.
            uow.restage(key, Status::Persistent);
        }
        Intent::Delete => {
            // It landed. Taken back by `add`, the entity is inserted again; by `rollback`, it
            // goes, as a flushed delete does.
            state.deleted();
            if status == Status::Uncertain {
                uow.remove(key);
            }
        }
        Intent::Versioned { id, written, sent, seen } => {
            let Some(field) = entity.meta().version else { return };
            let landed = stored
                .as_ref()
                .is_some_and(|stored| version_in(stored, field) == Some(written) && contains_all(stored, &sent));
            if landed {
                // The server has `sent`: it is the baseline of any change made since, and the
                // value shows its version. Otherwise the write is planned again as it is.
                let _ = entity.set_version(written);
                state.synced(seen, sent, Some(id));
                // A merge that landed made the document persistent (a delete staged since stays
                // staged, and now expects the new version).
                if status == Status::Merged {
                    uow.restage(key, Status::Persistent);
                }
            }
        }
        Intent::Update { id, sent, removed, seen } => {
            let landed = stored.as_ref().is_some_and(|stored| {
                contains_all(stored, &sent)
                    && match &removed {
                        // A field update: what it removed is gone too.
                        Some(removed) => removed.iter().all(|path| crate::wire::value_at(stored, path).is_none()),
                        // A replacement: the document is `sent`, nothing more.
                        None => contains_all(&sent, stored),
                    }
            });
            if landed {
                // It landed: the server has `sent`, the baseline of any change since.
                let marked = entity.meta().soft_delete.is_some_and(|field| {
                    !matches!(crate::wire::value_at(&sent, field), None | Some(bson::RawBsonRef::Null))
                });
                state.synced(seen, sent, Some(id));
                if status == Status::Deleted && marked {
                    // A soft delete that landed: the document stays, marked, and the session
                    // lets the entity go, as it does once a soft delete is acknowledged.
                    uow.remove(key);
                }
            }
        }
        Intent::None => {}
    }
}
