//! Flush: turning the session's staged state into writes, sending them in as few commands as
//! possible, and recording exactly what the server did.
//!
//! - `plan`: reads every staged entity once and lists the writes;
//! - `send`: sends them (one `bulkWrite`, or one command per collection and kind) and says
//!   what became of each, from the server's replies only;
//! - `settle`: records that in the session.
//!
//! Where the deployment has transactions (and the engine's [`TransactionMode`] allows), the
//! flush runs in one (see `transaction`): it lands whole or not at all. Otherwise this module
//! sends the writes directly: what the server acknowledged is recorded, what it refused stays
//! staged, and what nobody knows is found out by reading the server (see `reconcile`) before
//! anything else is sent. A write whose fate is unknown is retried once, in the same call,
//! where the drivers' retryable-writes rules allow it.
//!
//! [`TransactionMode`]: crate::TransactionMode

mod conflict;
mod plan;
mod prepare;
mod preview;
mod send;
mod settle;

use std::sync::Arc;

pub(crate) use plan::{Plan, build_plan, cell_error, has_changes};
pub(crate) use send::{Failure, Fate, Outcome, send};
pub(crate) use settle::{abandon, mark_intents, settle};

pub(crate) use prepare::version_in;
pub use preview::FlushPreview;
use send::conflict_error;

use tracing::Instrument;

use super::Session;
use super::reconcile::reconcile;
use super::tracked::ErasedEntity;
use super::transaction;
use crate::error::{Error, FailedWrite, FlushError, WriteKind};
use crate::{Result, telemetry};

pub(crate) async fn flush(session: &mut Session) -> Result<()> {
    let span = telemetry::unit("flush", session.txn.span());
    session.flush_span = span.clone();
    let result = flush_traced(session).instrument(span.clone()).await;
    session.flush_span = tracing::Span::none();
    if let Err(err) = &result {
        // The plan recorded what a successful flush writes; a failed one wrote this much.
        let written = if let Error::Flush(failure) = err { failure.written() } else { 0 };
        span.record("mongotic.documents_written", written);
        telemetry::failed(&span, err);
    }
    result
}

/// Records on the flush's span what the plan holds, and the round trips it needs when
/// nothing fails.
pub(crate) fn record_plan(session: &Session, plan: &Plan, transaction: bool) {
    let span = &session.flush_span;
    if span.is_disabled() {
        return;
    }
    span.record("mongotic.writes", plan.writes.len());
    span.record("mongotic.documents_written", plan.writes.len());
    span.record("mongotic.round_trips", preview::planned_round_trips(session, plan, transaction));
}

async fn flush_traced(session: &mut Session) -> Result<()> {
    if session.txn.is_open() {
        return transaction::flush_in_open(session).await;
    }
    // Inserts in doubt from an earlier flush are settled first: sending them blindly could
    // write them twice, or fail forever on their own duplicate key.
    if let Err(cause) = reconcile(session).await {
        return Err(unsent(session, cause));
    }
    let plan = build_plan(session)?;
    if plan.writes.is_empty() {
        return Ok(());
    }
    match session.engine.use_transactions().await {
        Ok(true) => {
            record_plan(session, &plan, true);
            transaction::flush_atomically(session, plan).await
        }
        Ok(false) => {
            record_plan(session, &plan, false);
            flush_directly(session, plan).await
        }
        Err(cause @ Error::TransactionsUnavailable { .. }) => Err(cause),
        Err(cause) => Err(unsent(session, cause)),
    }
}

/// The error for a flush that could not send anything (the server could not be reached to
/// settle what is in doubt, or to learn whether it has transactions): everything stays staged.
pub(crate) fn unsent(session: &Session, cause: Error) -> Error {
    let staged = session.new().len() + session.dirty().len() + session.deleted().len();
    let in_doubt = session.uow.entries().filter(|(_, entry)| entry.entity.state().in_doubt()).count();
    Error::Flush(Box::new(FlushError { cause, written: 0, staged, in_doubt, failed: None, transient: false }))
}

/// Sends `plan` without a transaction, records what the server acknowledged, and reads the
/// server to settle what it did not.
async fn flush_directly(session: &mut Session, mut plan: Plan) -> Result<()> {
    // What a first attempt wrote, and the conflict it met, for the report of a retry.
    let mut earlier: Option<(usize, Option<Error>)> = None;
    loop {
        mark_intents(session, &plan);
        let outcome = send(&session.engine, None, &plan).await;
        let mut report = Report::new(session, &plan, &outcome);
        if let Some((written, stale)) = earlier.take() {
            report.carry(written, stale);
        }
        settle(session, plan, &outcome.fates);
        let Some(failure) = outcome.failure else {
            return report.stale_error().map_or(Ok(()), Err);
        };
        let read = reconcile(session).await;
        // Sent again once: what the retryable-writes rules allow, and an insert refused as a
        // duplicate of its own id whose document the read proved ours (it landed earlier).
        let own_duplicate = report.failed.as_ref().is_some_and(|failed| failed.kind == WriteKind::Insert)
            && failure.error.is_duplicate_key()
            && report.failed_entity.as_ref().is_some_and(|entity| entity.state().is_persistent());
        if (failure.retryable || own_duplicate) && !report.carried && read.is_ok() {
            plan = build_plan(session)?;
            if plan.writes.is_empty() {
                return report.stale_error().map_or(Ok(()), Err);
            }
            earlier = Some((report.written(), report.stale));
            continue;
        }
        return Err(report.error(failure));
    }
}

/// What a flush attempt did, kept to describe a failure once the session has recorded it.
pub(crate) struct Report {
    total: usize,
    done: usize,
    /// Entities whose write's fate is unknown, and whether it was an insert.
    unknown: Vec<(Arc<dyn ErasedEntity>, bool)>,
    failed: Option<FailedWrite>,
    /// The entity of the failed write.
    failed_entity: Option<Arc<dyn ErasedEntity>>,
    stale: Option<Error>,
    /// This is the report of a retry (see [`Report::carry`]).
    carried: bool,
}

impl Report {
    pub(crate) fn new(session: &Session, plan: &Plan, outcome: &Outcome) -> Report {
        let mut report = Report {
            total: plan.writes.len(),
            done: 0,
            unknown: Vec::new(),
            failed: outcome.failure.as_ref().and_then(|failure| failed_write(plan, failure.failed)),
            failed_entity: outcome
                .failure
                .as_ref()
                .and_then(|failure| plan.writes.get(failure.failed?))
                .and_then(|write| Some(session.uow.get(write.key)?.entity.clone())),
            stale: None,
            carried: false,
        };
        for (write, fate) in plan.writes.iter().zip(&outcome.fates) {
            match fate {
                Fate::Done => report.done += 1,
                Fate::Stale if write.kind == WriteKind::Delete => report.done += 1,
                Fate::Unknown => {
                    if let Some(entry) = session.uow.get(write.key) {
                        report.unknown.push((entry.entity.clone(), write.kind == WriteKind::Insert));
                    }
                }
                _ => {}
            }
        }
        if let Some(index) = outcome.first_conflict() {
            let write = &plan.writes[index];
            report.stale = Some(match outcome.fates[index] {
                Fate::Conflict { found } => conflict_error(plan, index, found),
                _ => {
                    let named = !(write.kind == WriteKind::Delete && outcome.ambiguous_deletes);
                    Error::Stale {
                        namespace: plan.names[write.namespace].clone(),
                        id: named.then(|| Box::new(write.id_bson())),
                        kind: write.kind,
                    }
                }
            });
        }
        report
    }

    /// A report of an attempt in a transaction that did not commit: nothing was written.
    pub(crate) fn nothing_written(plan: &Plan, failure: &Failure) -> Report {
        Report {
            total: plan.writes.len(),
            done: 0,
            unknown: Vec::new(),
            failed: failed_write(plan, failure.failed),
            failed_entity: None,
            stale: None,
            carried: false,
        }
    }

    /// A report of a transaction whose commit result is unknown: every write is in doubt.
    pub(crate) fn all_unknown(session: &Session, plan: &Plan) -> Report {
        let unknown = plan
            .writes
            .iter()
            .filter_map(|write| Some((session.uow.get(write.key)?.entity.clone(), write.kind == WriteKind::Insert)))
            .collect();
        Report {
            total: plan.writes.len(),
            done: 0,
            unknown,
            failed: None,
            failed_entity: None,
            stale: None,
            carried: false,
        }
    }

    /// Adds what an earlier attempt of the same flush wrote (`written`) and the conflict it met.
    fn carry(&mut self, written: usize, stale: Option<Error>) {
        self.done += written;
        self.total += written;
        self.stale = self.stale.take().or(stale);
        self.carried = true;
    }

    /// A report of a transaction that was aborted: nothing of it was written.
    pub(crate) fn aborted(mut self) -> Report {
        self.done = 0;
        self.unknown.clear();
        self
    }

    /// The writes the server acknowledged, or a read proved, once the session has recorded
    /// them and read back what was unknown.
    fn written(&self) -> usize {
        let proven = self.unknown.iter().filter(|(entity, insert)| {
            let state = entity.state();
            *insert && !state.in_doubt() && state.is_persistent()
        });
        self.done + proven.count()
    }

    /// The error for a flush that matched a vanished document but otherwise succeeded.
    pub(crate) fn stale_error(mut self) -> Option<Error> {
        let cause = self.stale.take()?;
        Some(self.with_cause(cause, false))
    }

    /// The error for a failed flush, counting inserts a read proved as written.
    pub(crate) fn error(self, failure: Failure) -> Error {
        self.with_cause(failure.error, failure.transient)
    }

    fn with_cause(self, cause: Error, transient: bool) -> Error {
        let written = self.written();
        // Inserts read back are settled either way (landed, or simply staged); the rest is in
        // doubt: inserts the server could not be read for, and updates and deletes the next
        // flush sends again.
        let in_doubt = self.unknown.iter().filter(|(entity, insert)| !*insert || entity.state().in_doubt()).count();
        Error::Flush(Box::new(FlushError {
            cause,
            written,
            staged: self.total.saturating_sub(written),
            in_doubt,
            failed: self.failed,
            transient,
        }))
    }
}

fn failed_write(plan: &Plan, index: Option<usize>) -> Option<FailedWrite> {
    let write = plan.writes.get(index?)?;
    Some(FailedWrite { kind: write.kind, namespace: plan.names[write.namespace].clone(), id: write.id_bson() })
}
