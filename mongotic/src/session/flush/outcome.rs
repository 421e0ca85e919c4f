//! The vocabulary of what a flush's writes became: the [`Fate`] of each write, as far as the
//! server's replies prove, and the [`Failure`] that stopped sending. Everything that sends,
//! explains, records or reports a flush speaks it; it depends on nothing of theirs.

use mongodb::error::{ErrorKind, RETRYABLE_WRITE_ERROR, TRANSIENT_TRANSACTION_ERROR};

use crate::error::Error;

/// What became of one write, as far as the server's replies prove.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Fate {
    /// Not sent, or refused with the rest of its command before anything was applied.
    NotSent,
    /// Acknowledged, and it matched its document (or needed none).
    Done,
    /// Acknowledged, but it matched no document though it expected one: the document is gone.
    Stale,
    /// A versioned write matched nothing because the stored version moved (`found`, when a
    /// read learned it): the document is there, changed by someone else.
    Conflict { found: Option<i64> },
    /// Refused by the server (a write error): not applied.
    Refused,
    /// Sent, but nothing proves whether it was applied.
    Unknown,
}

/// Why the sending stopped.
pub(crate) struct Failure {
    pub(crate) error: Error,
    /// The write the error is about, when it is about one.
    pub(crate) failed: Option<usize>,
    /// The drivers' retry rules allow sending again (a network error, or the server's
    /// `RetryableWriteError` label).
    pub(crate) retryable: bool,
    /// The server or driver labelled it `TransientTransactionError`: the whole transaction
    /// may be tried again.
    pub(crate) transient: bool,
}

impl Failure {
    /// The failure of a command the driver reported as `err`, on collection `namespace`.
    pub(crate) fn from_driver(err: mongodb::error::Error, namespace: &str) -> Failure {
        let retryable = err.contains_label(RETRYABLE_WRITE_ERROR)
            || matches!(err.kind.as_ref(), ErrorKind::Io(_) | ErrorKind::ConnectionPoolCleared { .. });
        let transient = err.contains_label(TRANSIENT_TRANSACTION_ERROR);
        Failure { error: Error::from_driver(err, namespace, None), failed: None, retryable, transient }
    }

    /// A failure that no retry rule covers, about the write `failed` when given.
    pub(crate) fn plain(error: Error, failed: Option<usize>) -> Failure {
        Failure { error, failed, retryable: false, transient: false }
    }

    /// A failure that may be tried again as a whole transaction when `transient`.
    pub(crate) fn transient(error: Error, transient: bool) -> Failure {
        Failure { error, failed: None, retryable: false, transient }
    }
}

/// The fate of every write of a plan, and the failure that stopped sending, if any.
pub(crate) struct Outcome {
    pub(crate) fates: Vec<Fate>,
    pub(crate) failure: Option<Failure>,
    /// Some `Stale` deletes stand for "some of these matched nothing": one `delete` command
    /// with `$in` does not say which.
    pub(crate) ambiguous_deletes: bool,
    /// The stored documents of the upserts that were `Done`, read back after them (an upsert
    /// that matched a document learns its `_id` and fields so): by write index.
    pub(crate) upserted: Vec<(usize, bson::RawDocumentBuf)>,
}

impl Outcome {
    /// The first write that met a concurrent change (it matched nothing), if any.
    pub(crate) fn first_conflict(&self) -> Option<usize> {
        self.fates.iter().position(|fate| matches!(fate, Fate::Stale | Fate::Conflict { .. }))
    }

    /// `true` when every write landed as planned: no failure and no conflict.
    pub(crate) fn is_clean(&self) -> bool {
        self.failure.is_none() && self.first_conflict().is_none()
    }
}
