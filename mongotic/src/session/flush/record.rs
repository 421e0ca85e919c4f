//! Recording what a flush did: the session's bookkeeping follows the fates the server's
//! replies proved, and nothing else.
//!
//! - `Done`: inserts and replacements become the entity's baseline, field updates too, deletes
//!   detach the entity.
//! - `Stale` (matched nothing): a delete is recorded as done (the document is gone, which is
//!   what it was for); an update or replacement stays staged for the user to resolve.
//! - `Conflict` (a versioned write met another version), `Refused`, `NotSent`: stays staged as
//!   it was, and a versioned entity shows its stored version again.
//! - `Unknown`: stays staged, and the entity keeps the intent recorded before sending, so the
//!   next flush reads the server (inserts) or sends again harmlessly (the rest).
//!
//! Inside an explicit transaction nothing is durable until the commit: every entity's state is
//! saved in the transaction's journal before it changes, and intents are kept until the commit
//! settles them.

use super::outcome::Fate;
use super::plan::{Body, Plan, restore_version};
use crate::session::tracked::Intent;
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
pub(crate) fn record(uow: &mut UnitOfWork, txn: &mut Transaction, plan: Plan, fates: &[Fate]) {
    let in_transaction = txn.is_explicit();
    for (write, fate) in plan.writes.into_iter().zip(fates.iter().copied()) {
        // An entity that moved to another session meanwhile keeps its intent: the new owner
        // reads the server to learn what this write did.
        let Some(entry) = uow.get(write.entry) else { continue };
        let entity = entry.entity.clone();
        let status = entry.status;
        let state = entity.state();
        let applied = match (fate, &write.body) {
            (Fate::Done, _) | (Fate::Stale, Body::Delete) => true,
            (Fate::Unknown, _) => {
                restore_version(uow, &write);
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
        if in_transaction {
            txn.save(&entity, status, write.version.map(|check| check.expected));
        } else if write.has_intent() {
            state.set_intent(Intent::None);
        }
        match write.body {
            Body::Delete => {
                uow.remove(write.entry);
                state.deleted();
            }
            Body::Document(doc) => {
                state.synced(write.seen, doc, Some(write.id));
                if status != Status::Persistent {
                    uow.set_status(write.entry, Status::Persistent);
                }
            }
            Body::Update { snapshot, .. } => {
                state.synced(write.seen, snapshot, None);
                if write.detach {
                    // A soft delete: the document stays, marked; the session lets it go.
                    uow.remove(write.entry);
                }
            }
        }
    }
}
