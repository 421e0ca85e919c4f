//! Recording what a flush did: the session's bookkeeping follows the fates the server's
//! replies proved, and nothing else.
//!
//! - `Done`: inserts and replacements become the entity's baseline, field updates too, deletes
//!   detach the entity.
//! - `Stale` (matched nothing): a delete is recorded as done (the document is gone, which is
//!   what it was for); an update or replacement stays staged for the user to resolve.
//! - `Conflict` (a versioned write met another version), `Refused`, `NotSent`: stays staged as
//!   it was, and a versioned entity shows its stored version again.
//! - `Unknown`: stays staged, and the entity keeps the intent recorded before sending (or, for
//!   a field update or replacement, gets one now), so the next flush reads the server first
//!   (inserts, updates, replacements) or sends again harmlessly (deletes, upserts).
//!
//! Inside an explicit transaction nothing is durable until the commit: every entity's state is
//! saved in the transaction's journal before it changes, and intents are kept until the commit
//! settles them.

use std::collections::HashMap;

use bson::{Bson, RawDocumentBuf};

use super::outcome::{Fate, Outcome};
use super::plan::{Body, Plan, Write, restore_version};
use crate::model::IdKey;
use crate::session::tracked::{Intent, ServerId};
use crate::session::transaction::Transaction;
use crate::session::unit_of_work::{Status, UnitOfWork};

/// Records the write-ahead intent of every write of the plan on its entity, before sending.
pub(crate) fn mark_intents(uow: &UnitOfWork, plan: &Plan) {
    for write in plan.writes.iter().filter(|write| write.has_intent()) {
        if let Some(entry) = uow.get(write.entry) {
            entry.entity.state().set_intent(write.intent());
        }
    }
}

/// Records on the entity of `write`, whose outcome is unknown, that the next flush must read its
/// document first when it is a field update or replacement (see [`Intent::Update`]).
pub(crate) fn doubt(uow: &UnitOfWork, write: &Write) {
    if let Some(intent) = write.doubt()
        && let Some(entry) = uow.get(write.entry)
    {
        entry.entity.state().set_intent(intent);
    }
}

/// Forgets a plan none of whose writes was applied (a transaction that aborted, or one that
/// never started): the intents go, and versioned entities show their stored version again.
pub(crate) fn abandon(uow: &UnitOfWork, plan: &Plan) {
    for write in &plan.writes {
        restore_version(uow, write);
        if write.has_intent()
            && let Some(entry) = uow.get(write.entry)
        {
            entry.entity.state().set_intent(Intent::None);
        }
    }
}

/// Records the fates of the plan's writes in the unit of work (journaling each entity first
/// in the explicit transaction, if one is open).
pub(crate) fn record(uow: &mut UnitOfWork, txn: &mut Transaction, plan: Plan, outcome: &Outcome) {
    let in_transaction = txn.is_explicit();
    txn.reserve_journal(plan.writes.len());
    let upserted: HashMap<usize, &RawDocumentBuf> = outcome.upserted.iter().map(|(index, doc)| (*index, doc)).collect();
    for (index, (write, fate)) in plan.writes.into_iter().zip(outcome.fates.iter().copied()).enumerate() {
        // An entity that moved to another session meanwhile keeps its intent: the new owner
        // reads the server to learn what this write did.
        let Some(entry) = uow.get(write.entry) else { continue };
        let entity = entry.entity.clone();
        let status = entry.status;
        let state = entity.state();
        let applied = match (fate, &write.body) {
            // An upsert whose document the read-back did not find stays staged.
            (Fate::Done, Body::Upsert { .. }) if !upserted.contains_key(&index) => {
                restore_version(uow, &write);
                continue;
            }
            (Fate::Done, _) | (Fate::Stale, Body::Delete) => true,
            (Fate::Unknown, _) => {
                restore_version(uow, &write);
                doubt(uow, &write);
                continue;
            }
            (Fate::Stale | Fate::Conflict { .. } | Fate::Refused | Fate::NotSent, _) => false,
        };
        if !applied {
            restore_version(uow, &write);
            if write.has_intent() {
                state.set_intent(Intent::None);
            }
            continue;
        }
        // Journaled before the transaction first changes it. A write that gives the entity a
        // new baseline hands the old one to the journal as it replaces it.
        let version = write.version.map(|check| check.expected);
        let journal = in_transaction && txn.first_write(&entity);
        let rebased = matches!(write.body, Body::Document(_) | Body::Update { .. });
        if journal && !rebased {
            txn.keep(&entity, status, state.save(), version);
        }
        if !in_transaction && write.has_intent() {
            state.set_intent(Intent::None);
        }
        let sync = |sent: RawDocumentBuf, server_id: Option<ServerId>, txn: &mut Transaction| {
            if journal {
                txn.keep(&entity, status, state.synced_saving(write.seen, sent, server_id), version);
            } else {
                state.synced(write.seen, sent, server_id);
            }
        };
        match write.body {
            Body::Delete => {
                uow.remove(write.entry);
                state.deleted();
            }
            Body::Document(doc) => {
                sync(doc, Some(write.id), txn);
                if status != Status::Persistent {
                    uow.set_status(write.entry, Status::Persistent);
                }
            }
            Body::Update { snapshot, .. } => {
                sync(snapshot, None, txn);
                if write.detach {
                    // A soft delete: the document stays, marked; the session lets it go.
                    uow.remove(write.entry);
                }
            }
            Body::Upsert { .. } => {
                if let Some(stored) = upserted.get(&index) {
                    record_upsert(uow, write.entry, write.seen, stored);
                }
            }
        }
    }
}

/// An upsert landed and `stored` is its document: the entity takes it (its `_id`, and the
/// fields an update leaves as stored) and is filed under its `_id`. When the session already
/// tracks that document under another handle, that handle stays the session's and the
/// upserted one is let go.
fn record_upsert(uow: &mut UnitOfWork, entry: usize, seen: u64, stored: &RawDocumentBuf) {
    let Some(entity) = uow.get(entry).map(|entry| entry.entity.clone()) else { return };
    let Some(id) = stored.get("_id").ok().flatten().and_then(|id| Bson::try_from(id.to_raw_bson()).ok()) else {
        return;
    };
    let state = entity.state();
    // A document the model cannot read keeps the value sent; its baseline is still the stored
    // document, so the next flush writes what differs.
    let _ = entity.load(stored);
    state.synced(seen, stored.clone(), Some(ServerId::new(id.clone())));
    let identity = IdKey::from_bson(&id);
    match uow.lookup(entity.space(), &identity) {
        Some((other, _)) if other != entry => {
            uow.remove(entry);
        }
        Some(_) => uow.set_status(entry, Status::Persistent),
        None => {
            uow.set_status(entry, Status::Persistent);
            uow.file_identity(entry, identity);
        }
    }
}
