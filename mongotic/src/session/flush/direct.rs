//! The flush without a transaction (a standalone server, or `TransactionMode::Never`): what the
//! server acknowledged is recorded, what it refused stays staged, and what nobody knows is
//! found out by reading the server (see `reconcile`) before anything else is sent. A write
//! whose fate is unknown is sent again once, in the same call, where the drivers'
//! retryable-writes rules allow it (at once, as they say).

use super::outcome::Failure;
use super::plan::{Plan, build_plan};
use super::record::{mark_intents, record};
use super::report::{Earlier, Report};
use super::send::send;
use crate::options::Options;
use crate::session::reconcile::reconcile;
use crate::session::transaction::Transaction;
use crate::session::unit_of_work::UnitOfWork;
use crate::{Engine, Result};

/// Sends `plan` without a transaction, records what the server acknowledged, and reads the
/// server to settle what it did not.
pub(crate) async fn flush_directly(
    engine: &Engine,
    uow: &mut UnitOfWork,
    txn: &mut Transaction,
    options: &Options,
    mut plan: Plan,
) -> Result<()> {
    let mut earlier: Option<Earlier> = None;
    loop {
        mark_intents(uow, &plan);
        // In the driver session, so that reads after the flush see its writes.
        let outcome = send(engine, txn.client_session()?, false, options, &plan).await;
        let mut report = Report::new(uow, &plan, &outcome);
        if let Some(earlier) = earlier.take() {
            report.carry(earlier);
        }
        record(uow, txn, plan, &outcome);
        let Some(failure) = outcome.failure else {
            return report.stale_error().map_or(Ok(()), Err);
        };
        let read = reconcile(engine, uow, txn).await;
        if sends_again(&report, &failure) && read.is_ok() {
            plan = build_plan(engine, uow)?;
            if plan.writes.is_empty() {
                return report.stale_error().map_or(Ok(()), Err);
            }
            earlier = Some(report.into_earlier());
            continue;
        }
        return Err(report.error(failure));
    }
}

/// Sent again once: what the retryable-writes rules allow, and an insert refused as a
/// duplicate of its own id whose document the read proved ours (it landed earlier).
fn sends_again(report: &Report, failure: &Failure) -> bool {
    (failure.retryable || report.own_insert_landed(failure)) && !report.is_retry()
}
