//! Flush: turning the session's staged state into writes, sending them in as few commands as
//! possible, and recording exactly what the server did.
//!
//! This module is the one orchestrator: it settles what an earlier flush left in doubt, plans,
//! and hands the plan to one of two paths, which never call each other:
//!
//! - `atomic`: in a transaction, of the flush's own or the session's explicit one (a replica
//!   set or sharded cluster, when the engine's [`TransactionMode`] allows): it lands whole or
//!   not at all;
//! - `direct`: without one (a standalone server): what the server acknowledged is recorded,
//!   what it refused stays staged, what nobody knows is read back.
//!
//! Below them, each module has one job and uses only those listed after it:
//!
//! - `preview`: the dry run, [`FlushPreview`];
//! - `record`: the session's bookkeeping after an attempt (and the intents before it);
//! - `report`: the error that describes a failed flush;
//! - `send`: sending a plan, and the [`Fate`](outcome::Fate) of each write from the replies;
//! - `conflict`: why a write matched nothing, read from the server;
//! - `commands`: the command builders, shared by `send` and `preview`;
//! - `plan`: the writes, read from every staged entity once;
//! - `prepare`: hooks, timestamps, checks and versions of an entity before it is serialized;
//! - `outcome`: the vocabulary of fates and failures.
//!
//! They take the parts of the session they need (the engine, the unit of work, the
//! transaction), never the session.
//!
//! [`TransactionMode`]: crate::TransactionMode

mod atomic;
mod commands;
mod conflict;
mod direct;
mod outcome;
mod plan;
mod prepare;
mod preview;
mod record;
mod report;
mod send;
mod upsert;

pub use preview::FlushPreview;

use tracing::{Instrument, Span};

use self::plan::{Plan, build_plan};
use self::report::unsent;
use super::Session;
use super::io::bounded;
use super::reconcile::reconcile;
use crate::error::Error;
use crate::options::Options;
use crate::{Engine, Result, telemetry};

/// Flushes the session: see [`Session::flush`].
pub(crate) async fn flush(session: &mut Session) -> Result<()> {
    let span = telemetry::unit("flush", session.txn.span());
    let options = session.effective_options(&Options::default())?;
    let work = flush_in(session, &options, &span).instrument(span.clone());
    let result = match bounded(options.timeout, "", work).await {
        Err(timeout @ Error::Timeout { .. }) => Err(cut_short(session, timeout)),
        other => other,
    };
    if let Err(err) = &result {
        // The plan recorded what a successful flush writes; a failed one wrote this much.
        let written = if let Error::Flush(failure) = err { failure.written() } else { 0 };
        span.record("mongotic.documents_written", written);
        telemetry::failed(&span, err);
    }
    result
}

/// The error of a flush that its time limit cut short. Whatever it sent is in doubt, as its
/// entities' write-ahead intents say: the next flush reads the server first. In an explicit
/// transaction the transaction is over (its writes were not committed).
fn cut_short(session: &mut Session, timeout: Error) -> Error {
    if session.txn.is_explicit() {
        session.txn.fail(&mut session.uow, false);
    }
    unsent(&session.uow, timeout)
}

/// Commits the session: see [`Session::commit`]. Outside an explicit transaction it is a
/// flush; inside one, the flush and then the transaction's commit, both within the time limit.
pub(crate) async fn commit(session: &mut Session) -> Result<()> {
    if !session.txn.is_explicit() {
        return flush(session).await;
    }
    let options = session.effective_options(&Options::default())?;
    let started = std::time::Instant::now();
    let mut result = flush(session).await;
    if result.is_ok() {
        let left = options.timeout.map(|limit| limit.saturating_sub(started.elapsed()));
        let Session { engine, uow, txn, .. } = session;
        let work = atomic::commit_open(engine, uow, txn, &options);
        result = match bounded(left, "", work).await {
            // Its result is unknown: the intents stay for the next flush to read.
            Err(timeout @ Error::Timeout { .. }) => {
                session.txn.fail(&mut session.uow, true);
                Err(unsent(&session.uow, timeout))
            }
            other => other,
        };
    }
    session.txn.finish_span(&result);
    result
}

async fn flush_in(session: &mut Session, options: &Options, span: &Span) -> Result<()> {
    let Session { engine, uow, txn, .. } = session;
    txn.ready(engine).await?;
    if txn.is_explicit() {
        txn.client_session()?;
        reconcile(engine, uow, txn).await?;
        let plan = build_plan(engine, uow)?;
        if plan.writes.is_empty() {
            return Ok(());
        }
        if plan.writes_time_series() {
            return Err(Error::TransactionsUnavailable {
                reason: "MongoDB does not write time series collections in transactions: flush them outside one",
            });
        }
        // The commit is the transaction's, not this flush's.
        record_plan(span, engine, &plan, false);
        return atomic::flush_in_open(engine, uow, txn, options, plan).await;
    }
    // Inserts in doubt from an earlier flush are settled first: sending them blindly could
    // write them twice, or fail forever on their own duplicate key.
    if let Err(cause) = reconcile(engine, uow, txn).await {
        return Err(unsent(uow, cause));
    }
    let plan = build_plan(engine, uow)?;
    if plan.writes.is_empty() {
        return Ok(());
    }
    match plan.in_transaction(engine).await {
        Ok(transaction) => {
            record_plan(span, engine, &plan, transaction);
            if transaction {
                atomic::flush_atomically(engine, uow, txn, options, plan).await
            } else {
                direct::flush_directly(engine, uow, txn, options, plan).await
            }
        }
        Err(cause @ Error::TransactionsUnavailable { .. }) => Err(cause),
        Err(cause) => Err(unsent(uow, cause)),
    }
}

/// Records on the flush's span what the plan holds and the round trips it needs when nothing
/// fails, and, when it writes to one collection only, which (OpenTelemetry's database
/// conventions name the collection of a batch only when all of it goes to one; each command
/// of the flush has a span of its own that names its collection).
fn record_plan(span: &Span, engine: &Engine, plan: &Plan, transaction: bool) {
    if span.is_disabled() {
        return;
    }
    span.record("mongotic.writes", plan.writes.len());
    span.record("mongotic.documents_written", plan.writes.len());
    span.record("mongotic.round_trips", preview::planned_round_trips(engine, plan, transaction));
    if let [namespace] = plan.namespaces.as_slice() {
        span.record("db.collection.name", namespace.coll.as_str());
        span.record("db.namespace", namespace.db.as_str());
    }
}
