//! Describing a failed flush: what the server holds (`written`), what is still staged and
//! what could not be checked yet, counted once the session has recorded the attempt.

use std::sync::Arc;

use super::outcome::{Failure, Fate, Outcome};
use super::plan::Plan;
use crate::error::{Error, FailedWrite, FlushError, WriteKind};
use crate::session::diff::has_changes;
use crate::session::tracked::ErasedEntity;
use crate::session::unit_of_work::{Status, UnitOfWork};

/// The error for a flush that could not send anything (the server could not be reached to
/// settle what is in doubt, or to learn whether it has transactions): everything stays staged.
pub(crate) fn unsent(uow: &UnitOfWork, cause: Error) -> Error {
    let staged = uow
        .entries()
        .filter(|(_, entry)| match entry.status {
            Status::New | Status::Merged | Status::Deleted | Status::Upsert => true,
            Status::Persistent => has_changes(entry.entity.as_ref()),
            Status::Uncertain => false,
        })
        .count();
    let in_doubt = uow.entries().filter(|(_, entry)| entry.entity.state().in_doubt()).count();
    Error::Flush(Box::new(FlushError { cause, written: 0, staged, in_doubt, failed: None, transient: false }))
}

/// What an earlier attempt of the same flush wrote, and the conflict it met.
pub(crate) struct Earlier {
    written: usize,
    stale: Option<Error>,
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
    pub(crate) fn new(uow: &UnitOfWork, plan: &Plan, outcome: &Outcome) -> Report {
        let mut report = Report {
            total: plan.writes.len(),
            done: 0,
            unknown: Vec::new(),
            failed: outcome.failure.as_ref().and_then(|failure| failed_write(plan, failure.failed)),
            failed_entity: outcome
                .failure
                .as_ref()
                .and_then(|failure| plan.writes.get(failure.failed?))
                .and_then(|write| Some(uow.get(write.entry)?.entity.clone())),
            stale: None,
            carried: false,
        };
        for (write, fate) in plan.writes.iter().zip(&outcome.fates) {
            match fate {
                Fate::Done => report.done += 1,
                Fate::Stale if write.kind == WriteKind::Delete => report.done += 1,
                Fate::Unknown => {
                    if let Some(entry) = uow.get(write.entry) {
                        report.unknown.push((entry.entity.clone(), write.kind == WriteKind::Insert));
                    }
                }
                _ => {}
            }
        }
        if let Some(index) = outcome.first_conflict() {
            let write = &plan.writes[index];
            report.stale = Some(match outcome.fates[index] {
                Fate::Conflict { found } => plan.conflict_error(index, found),
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
    pub(crate) fn all_unknown(uow: &UnitOfWork, plan: &Plan) -> Report {
        let unknown = plan
            .writes
            .iter()
            .filter_map(|write| Some((uow.get(write.entry)?.entity.clone(), write.kind == WriteKind::Insert)))
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

    /// Adds what an earlier attempt of the same flush wrote and the conflict it met.
    pub(crate) fn carry(&mut self, earlier: Earlier) {
        self.done += earlier.written;
        self.total += earlier.written;
        self.stale = self.stale.take().or(earlier.stale);
        self.carried = true;
    }

    /// What this attempt leaves for the report of the next one.
    pub(crate) fn into_earlier(self) -> Earlier {
        Earlier { written: self.written(), stale: self.stale }
    }

    /// `true` for the report of an attempt that was itself a retry.
    pub(crate) fn is_retry(&self) -> bool {
        self.carried
    }

    /// `true` when the write that failed is an insert refused as a duplicate of its own id
    /// whose document a read has since proved ours: it had landed before.
    pub(crate) fn own_insert_landed(&self, failure: &Failure) -> bool {
        self.failed.as_ref().is_some_and(|failed| failed.kind == WriteKind::Insert)
            && failure.error.is_duplicate_key()
            && self.failed_entity.as_ref().is_some_and(|entity| entity.state().is_persistent())
    }

    /// A report of a transaction that was aborted: nothing of it was written.
    pub(crate) fn aborted(mut self) -> Report {
        self.done = 0;
        self.unknown.clear();
        self
    }

    /// The writes the server acknowledged, or a read proved, once the session has recorded
    /// them and read back what was unknown.
    pub(crate) fn written(&self) -> usize {
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
