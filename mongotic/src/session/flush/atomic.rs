//! The flush in a transaction: of its own (a replica set or sharded cluster, outside an
//! explicit transaction), or inside the session's explicit one.
//!
//! A flush of its own lands whole or not at all. As the drivers' convenient transaction API
//! does, a `TransientTransactionError` runs the whole transaction again after a growing wait,
//! and an `UnknownTransactionCommitResult` commits again at once, both under the engine's
//! [`RetryPolicy`](crate::RetryPolicy). The session records nothing until the commit succeeds,
//! so a retry sends the same writes (same ids) and nothing is recorded twice. A commit whose
//! result stays unknown leaves the entities with their write-ahead intents, so the next flush
//! reads the server instead of guessing.
//!
//! Inside an explicit transaction each flush is recorded at once (the transaction's journal
//! can undo it), and a failure aborts the transaction.

use bson::Bson;
use mongodb::error::TRANSIENT_TRANSACTION_ERROR;
use mongodb::options::TransactionOptions;

use super::outcome::{Failure, Fate};
use super::plan::{Plan, build_plan};
use super::record::{abandon, doubt, mark_intents, record};
use super::report::Report;
use super::send::send;
use crate::error::{Error, WriteKind};
use crate::options::Options;
use crate::session::RetryPolicy;
use crate::session::reconcile::reconcile;
use crate::session::store::stored_ids;
use crate::session::transaction::{CommitFailure, Transaction, commit_with_retry, start};
use crate::session::unit_of_work::UnitOfWork;
use crate::{Engine, Result};

/// Flushes `plan` in a transaction of its own, retrying transient failures.
///
/// Once a commit's result was unknown, the writes of the flush stay in doubt (their intents
/// are kept) until a read settles them: the next attempt reads the inserts back first, so a
/// transaction that did commit is never sent again as new inserts. The same holds for an
/// insert refused for its own `_id`. That read-back and the attempt after it follow at once:
/// they answer an ambiguity, not a busy server.
pub(crate) async fn flush_atomically(
    engine: &Engine,
    uow: &mut UnitOfWork,
    txn: &mut Transaction,
    options: &Options,
    mut plan: Plan,
) -> Result<()> {
    let mut attempts = retry_policy(engine, options).start();
    let mut landed_maybe = false;
    loop {
        mark_intents(uow, &plan);
        let mut client_session = match start(engine, own_transaction(options)).await {
            Ok(client_session) => client_session,
            Err(err) => {
                let transient = err.contains_label(TRANSIENT_TRANSACTION_ERROR);
                let failure = Failure::transient(Error::from_driver_command(err), transient);
                return Err(give_up(engine, uow, txn, &plan, failure, landed_maybe).await);
            }
        };
        let outcome = send(engine, Some(&mut client_session), true, options, &plan).await;
        if !outcome.is_clean() {
            // Best effort: the server aborts a transaction whose write failed, and one nobody
            // commits at its time limit.
            let _ = client_session.abort_transaction().await;
            txn.absorb(&client_session);
            let Some(failure) = outcome.failure else {
                if !landed_maybe {
                    abandon(uow, &plan);
                }
                let report = Report::new(uow, &plan, &outcome).aborted();
                forget_vanished(engine, uow, &plan, &outcome.fates).await;
                return Err(report.stale_error().unwrap_or(Error::TransactionAborted));
            };
            let own_duplicate = failure.error.is_duplicate_key()
                && failure.failed.is_some_and(|index| plan.writes[index].kind == WriteKind::Insert);
            if (landed_maybe || own_duplicate) && attempts.time_left() {
                // Read back before sending again: what a read proves landed drops out of the
                // next plan, and a real duplicate is reported as one. Without a commit in
                // doubt, only the refused insert needs reading.
                if !landed_maybe {
                    abandon(uow, &plan);
                    if let Some(write) = failure.failed.map(|index| &plan.writes[index])
                        && let Some(entry) = uow.get(write.entry)
                    {
                        entry.entity.state().set_intent(write.intent());
                    }
                }
                if reconcile(engine, uow, txn).await.is_ok() {
                    let settled = failure.failed.and_then(|index| uow.get(plan.writes[index].entry));
                    if landed_maybe || settled.is_some_and(|entry| entry.entity.state().is_persistent()) {
                        landed_maybe = false;
                        plan = build_plan(engine, uow)?;
                        if plan.writes.is_empty() {
                            return Ok(());
                        }
                        continue;
                    }
                }
            }
            if failure.transient && attempts.wait().await {
                // The aborted attempt wrote nothing: its writes are not in doubt (unless an
                // earlier commit's result was unknown).
                if !landed_maybe {
                    abandon(uow, &plan);
                }
                plan = build_plan(engine, uow)?;
                continue;
            }
            return Err(give_up(engine, uow, txn, &plan, failure, landed_maybe).await);
        }
        let committed = commit_with_retry(&mut client_session, &attempts, &mut landed_maybe).await;
        txn.absorb(&client_session);
        let failure = match committed {
            Ok(()) => {
                record(uow, txn, plan, &outcome);
                return Ok(());
            }
            Err(failure) => failure,
        };
        if landed_maybe {
            // The commit may have landed: what it wrote is read back before anything else.
            for write in &plan.writes {
                doubt(uow, write);
            }
        }
        let transient = failure.is_transient();
        let failure = Failure::transient(failure.into_error(), transient);
        if !transient || !attempts.wait().await {
            return Err(give_up(engine, uow, txn, &plan, failure, landed_maybe).await);
        }
        if landed_maybe {
            // Nothing is sent again before a read settles what the commit wrote: sent blindly,
            // a write that landed may match nothing (a soft delete's filter wants the document
            // live) or land twice. What the read proves landed drops out of the next plan.
            loop {
                if reconcile(engine, uow, txn).await.is_ok() {
                    break;
                }
                if !attempts.wait().await {
                    return Err(give_up(engine, uow, txn, &plan, failure, landed_maybe).await);
                }
            }
            landed_maybe = false;
        } else {
            abandon(uow, &plan);
        }
        plan = build_plan(engine, uow)?;
        if plan.writes.is_empty() {
            return Ok(());
        }
    }
}

/// The error for a transactional flush that stops trying. If a commit may have landed, the
/// intents stay and the inserts are read back now if the server answers; otherwise nothing
/// was written and the intents go.
async fn give_up(
    engine: &Engine,
    uow: &mut UnitOfWork,
    txn: &mut Transaction,
    plan: &Plan,
    failure: Failure,
    landed_maybe: bool,
) -> Error {
    if !landed_maybe {
        abandon(uow, plan);
        return Report::nothing_written(plan, &failure).error(failure);
    }
    let report = Report::all_unknown(uow, plan);
    let _ = reconcile(engine, uow, txn).await;
    report.error(failure)
}

/// After a transaction failed on deletes that matched nothing: the documents that are gone
/// (a read outside the aborted transaction tells) are recorded as deleted, which is what the
/// deletes were for, so that the next attempt does not fail on them again.
async fn forget_vanished(engine: &Engine, uow: &mut UnitOfWork, plan: &Plan, fates: &[Fate]) {
    let stale: Vec<usize> = (0..plan.writes.len())
        .filter(|index| fates[*index] == Fate::Stale && plan.writes[*index].kind == WriteKind::Delete)
        .collect();
    for namespace in 0..plan.namespaces.len() {
        let writes: Vec<usize> =
            stale.iter().copied().filter(|index| plan.writes[*index].namespace == namespace).collect();
        if writes.is_empty() {
            continue;
        }
        let ids: Vec<Bson> = writes.iter().map(|index| plan.writes[*index].id_bson()).collect();
        let keys = plan.keys(&writes);
        let Ok(present) = stored_ids(engine, None, &plan.namespaces[namespace], &ids, &keys).await else { return };
        for index in writes {
            let write = &plan.writes[index];
            if present.contains(&write.id.key()) || uow.get(write.entry).is_none() {
                continue;
            }
            if let Some(entry) = uow.remove(write.entry) {
                entry.entity.state().deleted();
            }
        }
    }
}

/// Flushes `plan` inside the session's open transaction. A failure aborts it.
pub(crate) async fn flush_in_open(
    engine: &Engine,
    uow: &mut UnitOfWork,
    txn: &mut Transaction,
    options: &Options,
    plan: Plan,
) -> Result<()> {
    mark_intents(uow, &plan);
    let outcome = send(engine, Some(txn.open_session()?), true, options, &plan).await;
    if outcome.is_clean() {
        record(uow, txn, plan, &outcome);
        return Ok(());
    }
    txn.abort_on_server().await;
    abandon(uow, &plan);
    let report = Report::new(uow, &plan, &outcome).aborted();
    txn.fail(uow, false);
    match outcome.failure {
        Some(failure) => Err(Report::nothing_written(&plan, &failure).error(failure)),
        None => {
            forget_vanished(engine, uow, &plan, &outcome.fates).await;
            Err(report.stale_error().unwrap_or(Error::TransactionAborted))
        }
    }
}

/// Commits the session's open transaction (its staged changes are flushed first, by the
/// caller). On failure the bookkeeping is back at `begin`, and the error counts what stays
/// staged.
pub(crate) async fn commit_open(
    engine: &Engine,
    uow: &mut UnitOfWork,
    txn: &mut Transaction,
    options: &Options,
) -> Result<()> {
    let attempts = retry_policy(engine, options).start();
    match txn.commit(uow, &attempts).await {
        Ok(()) => Ok(()),
        Err(failure) => Err(commit_error(uow, failure)),
    }
}

/// The error for a commit that failed: nothing was written that the session counts as
/// written (it is back at `begin`); `transient` when the whole transaction may be tried again.
fn commit_error(uow: &UnitOfWork, failure: CommitFailure) -> Error {
    let transient = failure.is_transient();
    let mut error = super::report::unsent(uow, failure.into_error());
    if let Error::Flush(report) = &mut error {
        report.transient = transient;
    }
    error
}

/// The engine's retry policy, bounded by the flush's time limit: no attempt starts that the
/// limit would cut short anyway.
fn retry_policy(engine: &Engine, options: &Options) -> RetryPolicy {
    let policy = engine.retry_policy();
    match options.timeout {
        Some(limit) if limit < policy.limit() => policy.with_limit(limit),
        _ => policy,
    }
}

/// The options of a transaction of a flush's own: the flush's write concern for its commit,
/// and its server time limit for the commit (`maxCommitTimeMS`).
fn own_transaction(options: &Options) -> TransactionOptions {
    let mut transaction = TransactionOptions::default();
    transaction.write_concern = options.write_concern.clone();
    transaction.max_commit_time = options.max_time;
    transaction
}
