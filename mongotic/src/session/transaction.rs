//! Transactions: atomic flushes, and explicit transactions with SQLAlchemy's meaning.
//!
//! - **A flush outside an explicit transaction** runs in a transaction of its own where the
//!   deployment has them (replica sets, sharded clusters; see [`TransactionMode`]): it lands
//!   whole or not at all. As the drivers' convenient transaction API does, a
//!   `TransientTransactionError` retries the whole transaction and an
//!   `UnknownTransactionCommitResult` retries the commit, for at most [`RETRY_LIMIT`]. The
//!   session records nothing until the commit succeeds, so a retry sends the same writes
//!   (same ids) and nothing is recorded twice.
//! - **An explicit transaction** ([`Session::begin`]) spans queries, `get`s, statements and
//!   flushes until [`Session::commit`] or [`Session::rollback`]. Reads in it see its snapshot
//!   and its own writes. Each flush in it is recorded at once (later flushes write only what
//!   changed since), and the state each entity had before is kept in a journal: if the
//!   transaction does not commit, the journal puts every entity back as it was at `begin`,
//!   with its changes staged again. After an error the transaction is aborted and I/O fails
//!   with [`Error::TransactionAborted`] until `rollback`.
//!
//! A commit whose result stays unknown leaves the entities with their write-ahead intents
//! (see `tracked`), so the next flush reads the server instead of guessing.
//!
//! [`TransactionMode`]: crate::TransactionMode

use std::collections::HashSet;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bson::Bson;
use mongodb::ClientSession;
use mongodb::error::{TRANSIENT_TRANSACTION_ERROR, UNKNOWN_TRANSACTION_COMMIT_RESULT};

use super::Session;
use super::flush::{Failure, Fate, Plan, Report, abandon, build_plan, mark_intents, send, settle, unsent};
use super::reconcile::{reconcile, stored_ids};
use super::tracked::{ErasedEntity, Intent, SavedState};
use super::unit_of_work::{Status, UnitOfWork};
use crate::error::{Error, WriteKind};
use crate::{Engine, Result, TransactionMode};

/// How long a transaction is tried again after transient errors, as in the drivers'
/// convenient transaction API.
///
/// ```
/// assert_eq!(mongotic::session::RETRY_LIMIT.as_secs(), 120);
/// ```
pub const RETRY_LIMIT: Duration = Duration::from_secs(120);

/// The server's code for a commit that ran out of time: its result is unknown, but retrying
/// it cannot help.
const MAX_TIME_MS_EXPIRED: i32 = 50;

/// A session's explicit transaction, if one is open, and the journal that undoes it.
#[derive(Default)]
pub(crate) struct Transaction {
    /// The driver session that carries the transaction.
    open: Option<ClientSession>,
    /// An error ended the transaction on the server; only `rollback` may follow.
    aborted: bool,
    /// The state of each entity the transaction wrote, from before its first write in it.
    journal: Vec<Saved>,
    journaled: HashSet<usize>,
    /// The tracing span of the explicit transaction, from `begin` to its end: the parent of
    /// the statements and flushes in it.
    span: Option<tracing::Span>,
}

struct Saved {
    entity: Arc<dyn ErasedEntity>,
    status: Status,
    state: SavedState,
    /// The version a versioned entity had on the server before the transaction wrote it.
    version: Option<i64>,
}

impl Transaction {
    /// The span of the open explicit transaction, if any.
    pub(crate) fn span(&self) -> Option<&tracing::Span> {
        self.span.as_ref()
    }

    /// `true` while an explicit transaction is open (also after an error aborted it, until
    /// `rollback`).
    pub(crate) fn is_open(&self) -> bool {
        self.open.is_some() || self.aborted
    }

    /// The driver session to run I/O in: the open transaction's, or `None` outside one. An
    /// aborted transaction refuses I/O.
    pub(crate) fn client_session(&mut self) -> Result<Option<&mut ClientSession>> {
        if self.aborted {
            return Err(Error::TransactionAborted);
        }
        Ok(self.open.as_mut())
    }

    /// Journals `entity` (whose entry has `status`) before the transaction first changes it.
    pub(crate) fn save(&mut self, entity: &Arc<dyn ErasedEntity>, status: Status, version: Option<i64>) {
        let address = Arc::as_ptr(entity) as *const () as usize;
        if self.journaled.insert(address) {
            self.journal.push(Saved { entity: entity.clone(), status, state: entity.state().save(), version });
        }
    }

    /// Puts every journaled entity back as it was before the transaction wrote it, keeping its
    /// current value (so its changes are staged again). `keep_intents` when the transaction
    /// may have committed: the intents make the next flush read the server.
    fn restore(&mut self, uow: &mut UnitOfWork, keep_intents: bool) {
        for saved in self.journal.drain(..).rev() {
            let state = saved.entity.state();
            state.restore(saved.state);
            if let Some(version) = saved.version {
                // Best effort, as for a write that did not land (see `restore_version`).
                let _ = saved.entity.set_version(version);
            }
            if !keep_intents {
                state.set_intent(Intent::None);
            }
            match uow.key_of(state) {
                Some(key) => uow.set_status(key, saved.status),
                // Deleted in the transaction (so detached): tracked again, as it was.
                None if state.session() == 0 => uow.reattach(saved.entity.clone(), saved.status),
                None => {}
            }
        }
        self.journaled.clear();
    }

    /// After a commit: what the transaction wrote is durable, and no intent is in doubt.
    fn forget(&mut self) {
        for saved in self.journal.drain(..) {
            saved.entity.state().set_intent(Intent::None);
        }
        self.journaled.clear();
    }

    /// Ends the transaction after a failure: the session's bookkeeping goes back to `begin`,
    /// and the session refuses I/O until `rollback`.
    fn fail(&mut self, uow: &mut UnitOfWork, keep_intents: bool) {
        self.restore(uow, keep_intents);
        self.open = None;
        self.aborted = true;
    }

    /// Ends the transaction for `rollback`: an open one is aborted (the driver sends
    /// `abortTransaction` in the background when its session is dropped; were that lost, the
    /// server aborts it at its time limit, it never commits) and the journal is undone.
    pub(crate) fn end(&mut self, uow: &mut UnitOfWork) {
        if self.open.take().is_some() {
            self.restore(uow, false);
        }
        self.aborted = false;
        self.span = None;
    }
}

/// What ended a commit attempt.
enum CommitFailure {
    /// The whole transaction may be tried again.
    Transient(mongodb::error::Error),
    /// Nobody knows whether it committed, and time is up.
    Unknown(mongodb::error::Error),
    /// It did not commit.
    Failed(mongodb::error::Error),
}

impl CommitFailure {
    fn into_failure(self) -> Failure {
        let transient = matches!(self, CommitFailure::Transient(_));
        let (CommitFailure::Transient(err) | CommitFailure::Unknown(err) | CommitFailure::Failed(err)) = self;
        Failure { error: Error::from_driver(err, "commitTransaction", None), failed: None, retryable: false, transient }
    }
}

/// Commits, retrying while the result is unknown and time is left. `landed_maybe` is set
/// when an attempt's result was unknown: then even a later "no such transaction" does not
/// prove the transaction did not commit (a server that restarted may have forgotten it).
async fn commit_with_retry(
    session: &mut ClientSession,
    deadline: Instant,
    landed_maybe: &mut bool,
) -> std::result::Result<(), CommitFailure> {
    loop {
        let Err(err) = session.commit_transaction().await else { return Ok(()) };
        let expired = matches!(err.kind.as_ref(), mongodb::error::ErrorKind::Command(command) if command.code == MAX_TIME_MS_EXPIRED);
        if err.contains_label(UNKNOWN_TRANSACTION_COMMIT_RESULT) {
            *landed_maybe = true;
            if !expired && Instant::now() < deadline {
                continue;
            }
            return Err(CommitFailure::Unknown(err));
        }
        if err.contains_label(TRANSIENT_TRANSACTION_ERROR) {
            return Err(CommitFailure::Transient(err));
        }
        return Err(CommitFailure::Failed(err));
    }
}

/// A driver session with a transaction started (no I/O: the first command starts it).
async fn start(engine: &Engine) -> std::result::Result<ClientSession, Failure> {
    let failed = |err: mongodb::error::Error| {
        let transient = err.contains_label(TRANSIENT_TRANSACTION_ERROR);
        Failure { error: Error::from_driver(err, "startTransaction", None), failed: None, retryable: false, transient }
    };
    let mut session = engine.client().start_session().await.map_err(failed)?;
    session.start_transaction().await.map_err(failed)?;
    Ok(session)
}

/// Flushes `plan` in a transaction of its own, retrying transient failures.
///
/// Once a commit's result was unknown, the writes of the flush stay in doubt (their intents
/// are kept) until a read settles them: the next attempt reads the inserts back first, so a
/// transaction that did commit is never sent again as new inserts. The same holds for an
/// insert refused for its own `_id`.
pub(crate) async fn flush_atomically(session: &mut Session, mut plan: Plan) -> Result<()> {
    let deadline = Instant::now() + RETRY_LIMIT;
    let mut landed_maybe = false;
    loop {
        mark_intents(session, &plan);
        let mut client_session = match start(&session.engine).await {
            Ok(client_session) => client_session,
            Err(failure) => return Err(give_up(session, &plan, failure, landed_maybe).await),
        };
        let outcome = send(&session.engine, Some(&mut client_session), &plan).await;
        let stale = outcome.first_conflict();
        if outcome.failure.is_some() || stale.is_some() {
            // Best effort: the server aborts a transaction whose write failed, and one nobody
            // commits at its time limit.
            let _ = client_session.abort_transaction().await;
            let Some(failure) = outcome.failure else {
                abandon(session, &plan);
                let report = Report::new(session, &plan, &outcome).aborted();
                forget_vanished(session, &plan, &outcome.fates).await;
                return Err(report.stale_error().unwrap_or(Error::TransactionAborted));
            };
            let own_duplicate = failure.error.is_duplicate_key()
                && failure.failed.is_some_and(|index| plan.writes[index].kind == WriteKind::Insert);
            if (landed_maybe || own_duplicate) && Instant::now() < deadline {
                // Read back before sending again: what a read proves landed drops out of the
                // next plan, and a real duplicate is reported as one. Without a commit in
                // doubt, only the refused insert needs reading.
                if !landed_maybe {
                    abandon(session, &plan);
                    if let Some(write) = failure.failed.map(|index| &plan.writes[index])
                        && let Some(entry) = session.uow.get(write.key)
                    {
                        entry.entity.state().set_intent(write.intent());
                    }
                }
                if reconcile(session).await.is_ok() {
                    let settled = failure.failed.and_then(|index| session.uow.get(plan.writes[index].key));
                    if landed_maybe || settled.is_some_and(|entry| entry.entity.state().is_persistent()) {
                        landed_maybe = false;
                        plan = build_plan(session)?;
                        if plan.writes.is_empty() {
                            return Ok(());
                        }
                        continue;
                    }
                }
            }
            if failure.transient && Instant::now() < deadline {
                // The aborted attempt wrote nothing: its writes are not in doubt (unless an
                // earlier commit's result was unknown).
                if !landed_maybe {
                    abandon(session, &plan);
                }
                plan = build_plan(session)?;
                continue;
            }
            return Err(give_up(session, &plan, failure, landed_maybe).await);
        }
        match commit_with_retry(&mut client_session, deadline, &mut landed_maybe).await {
            Ok(()) => {
                settle(session, plan, &outcome.fates);
                return Ok(());
            }
            Err(CommitFailure::Transient(_)) if Instant::now() < deadline => {
                if landed_maybe {
                    // Settled by reading before the next attempt (an error leaves the intents
                    // for the attempt after).
                    let _ = reconcile(session).await;
                } else {
                    abandon(session, &plan);
                }
                plan = build_plan(session)?;
                if plan.writes.is_empty() {
                    return Ok(());
                }
            }
            Err(other) => return Err(give_up(session, &plan, other.into_failure(), landed_maybe).await),
        }
    }
}

/// The error for a transactional flush that stops trying. If a commit may have landed, the
/// intents stay and the inserts are read back now if the server answers; otherwise nothing
/// was written and the intents go.
async fn give_up(session: &mut Session, plan: &Plan, failure: Failure, landed_maybe: bool) -> Error {
    if !landed_maybe {
        abandon(session, plan);
        return Report::nothing_written(plan, &failure).error(failure);
    }
    let report = Report::all_unknown(session, plan);
    let _ = reconcile(session).await;
    report.error(failure)
}

/// After a transaction failed on deletes that matched nothing: the documents that are gone
/// (a read outside the aborted transaction tells) are recorded as deleted, which is what the
/// deletes were for, so that the next attempt does not fail on them again.
async fn forget_vanished(session: &mut Session, plan: &Plan, fates: &[Fate]) {
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
        let Ok(present) = stored_ids(&session.engine, None, &plan.namespaces[namespace], &ids).await else { return };
        for index in writes {
            let write = &plan.writes[index];
            if present.contains(&write.id.key()) || session.uow.get(write.key).is_none() {
                continue;
            }
            if let Some(entry) = session.uow.remove(write.key) {
                entry.entity.state().deleted();
            }
        }
    }
}

/// Flushes inside the session's open transaction. A failure aborts it.
pub(crate) async fn flush_in_open(session: &mut Session) -> Result<()> {
    session.txn.client_session()?;
    reconcile(session).await?;
    let plan = build_plan(session)?;
    if plan.writes.is_empty() {
        return Ok(());
    }
    // The commit is the transaction's, not this flush's.
    super::flush::record_plan(session, &plan, false);
    mark_intents(session, &plan);
    let outcome = match session.txn.open.as_mut() {
        Some(client_session) => send(&session.engine, Some(client_session), &plan).await,
        None => return Err(Error::TransactionAborted),
    };
    if outcome.failure.is_none() && outcome.first_conflict().is_none() {
        settle(session, plan, &outcome.fates);
        return Ok(());
    }
    if let Some(mut client_session) = session.txn.open.take() {
        let _ = client_session.abort_transaction().await;
    }
    abandon(session, &plan);
    let report = Report::new(session, &plan, &outcome).aborted();
    session.txn.fail(&mut session.uow, false);
    match outcome.failure {
        Some(failure) => Err(Report::nothing_written(&plan, &failure).error(failure)),
        None => {
            forget_vanished(session, &plan, &outcome.fates).await;
            Err(report.stale_error().unwrap_or(Error::TransactionAborted))
        }
    }
}

/// Commits the session's open transaction, after flushing what is staged.
pub(crate) async fn commit_open(session: &mut Session) -> Result<()> {
    let result = commit_open_inner(session).await;
    if let Some(span) = session.txn.span.take() {
        crate::telemetry::finish(&span, &result);
    }
    result
}

async fn commit_open_inner(session: &mut Session) -> Result<()> {
    flush_in_open(session).await?;
    let Some(mut client_session) = session.txn.open.take() else { return Err(Error::TransactionAborted) };
    let deadline = Instant::now() + RETRY_LIMIT;
    let mut landed_maybe = false;
    match commit_with_retry(&mut client_session, deadline, &mut landed_maybe).await {
        Ok(()) => {
            session.txn.forget();
            session.txn.aborted = false;
            Ok(())
        }
        Err(failure) => {
            let unknown = landed_maybe;
            if !unknown {
                // Best effort: a transaction that did not commit holds its locks until aborted.
                let _ = client_session.abort_transaction().await;
            }
            session.txn.fail(&mut session.uow, unknown);
            let failure = failure.into_failure();
            let mut error = unsent(session, failure.error);
            if let Error::Flush(report) = &mut error {
                report.transient = failure.transient;
            }
            Err(error)
        }
    }
}

/// The future a [`Session::transaction`] body returns: the body's `async` block, boxed.
///
/// ```no_run
/// use mongotic::Session;
/// use mongotic::session::TransactionBody;
///
/// fn body(session: &mut Session) -> TransactionBody<'_, usize> {
///     Box::pin(async move { Ok(session.len()) })
/// }
/// # async fn demo(mut session: Session) -> mongotic::Result<()> {
/// let tracked = session.transaction(body).await?;
/// # Ok(()) }
/// ```
pub type TransactionBody<'s, T> = Pin<Box<dyn Future<Output = Result<T>> + Send + 's>>;

impl Session {
    /// Opens an explicit transaction: queries, `get`s, statements and flushes run in it until
    /// [`commit`](Session::commit) (which flushes, then commits) or
    /// [`rollback`](Session::rollback) (which aborts and discards). Reads in it see its
    /// snapshot and its own writes. No I/O until the first operation.
    ///
    /// Errors: [`Error::TransactionsUnavailable`] on a deployment without transactions (a
    /// standalone server) or with [`TransactionMode::Never`];
    /// [`Error::TransactionInProgress`] when one is open already. If an operation in the
    /// transaction fails, the transaction is aborted: nothing it wrote is kept, the session's
    /// entities are back as they were at `begin` (with their changes staged), and I/O fails
    /// with [`Error::TransactionAborted`] until `rollback`.
    ///
    /// ```no_run
    /// # use mongotic::prelude::*;
    /// # #[derive(Debug, Serialize, Deserialize, Model)]
    /// # #[mongotic(database = "bank", collection = "accounts")]
    /// # struct Account { #[serde(rename = "_id")] #[mongotic(id)] id: String, balance: i64 }
    /// # async fn demo(mut session: Session) -> mongotic::Result<()> {
    /// session.begin().await?;
    /// let from = session.get::<Account>("alice").await?.ok_or("no alice").unwrap();
    /// let to = session.get::<Account>("bob").await?.ok_or("no bob").unwrap();
    /// from.write().balance -= 10;
    /// to.write().balance += 10;
    /// session.commit().await?; // both or neither
    /// # Ok(()) }
    /// ```
    pub async fn begin(&mut self) -> Result<()> {
        if self.txn.is_open() {
            return Err(Error::TransactionInProgress);
        }
        if self.engine.transaction_mode() == TransactionMode::Never {
            return Err(Error::TransactionsUnavailable { reason: "the engine's TransactionMode is Never" });
        }
        if !self.engine.supports_transactions().await? {
            return Err(Error::TransactionsUnavailable { reason: "the deployment is a standalone server" });
        }
        let client_session = start(&self.engine).await.map_err(|failure| failure.error)?;
        self.txn.open = Some(client_session);
        self.txn.span = Some(crate::telemetry::unit("transaction", None));
        Ok(())
    }

    /// `true` while an explicit transaction is open (from [`begin`](Session::begin) to
    /// `commit` or `rollback`).
    ///
    /// ```no_run
    /// # async fn demo(mut session: mongotic::Session) -> mongotic::Result<()> {
    /// session.begin().await?;
    /// assert!(session.in_transaction());
    /// session.rollback();
    /// assert!(!session.in_transaction());
    /// # Ok(()) }
    /// ```
    pub fn in_transaction(&self) -> bool {
        self.txn.is_open()
    }

    /// Runs `body` in a transaction and commits it, running it again from the start when
    /// the failure is transient (a `TransientTransactionError`: a write conflict, a failover),
    /// for at most two minutes: the drivers' convenient transaction API. On any other error
    /// the transaction is rolled back and the error returned.
    ///
    /// `body` may run more than once, so it should read what it needs inside the transaction.
    ///
    /// ```no_run
    /// # use mongotic::prelude::*;
    /// # #[derive(Debug, Serialize, Deserialize, Model)]
    /// # #[mongotic(database = "bank", collection = "accounts")]
    /// # struct Account { #[serde(rename = "_id")] #[mongotic(id)] id: String, balance: i64 }
    /// # async fn demo(mut session: Session) -> mongotic::Result<()> {
    /// let moved = session
    ///     .transaction(|s| {
    ///         Box::pin(async move {
    ///             let Some(from) = s.get::<Account>("alice").await? else { return Ok(false) };
    ///             from.write().balance -= 10;
    ///             Ok(true)
    ///         })
    ///     })
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub async fn transaction<T, F>(&mut self, mut body: F) -> Result<T>
    where
        F: for<'s> FnMut(&'s mut Session) -> TransactionBody<'s, T>,
    {
        let deadline = Instant::now() + RETRY_LIMIT;
        loop {
            self.begin().await?;
            let result = match body(self).await {
                Ok(value) => self.commit().await.map(|()| value),
                Err(err) => Err(err),
            };
            match result {
                Ok(value) => return Ok(value),
                Err(err) => {
                    // Aborted and awaited (not left to the background), so the next attempt
                    // does not conflict with this one's writes.
                    if let Some(mut open) = self.txn.open.take() {
                        let _ = open.abort_transaction().await;
                        self.txn.open = Some(open);
                    }
                    self.rollback();
                    if !is_transient(&err) || Instant::now() >= deadline {
                        return Err(err);
                    }
                }
            }
        }
    }
}

/// `true` for an error that the transaction API runs the whole transaction again for.
pub(crate) fn is_transient(err: &Error) -> bool {
    match err {
        Error::Flush(failure) => failure.is_transient(),
        Error::Connection { source } | Error::Driver { source } => source.contains_label(TRANSIENT_TRANSACTION_ERROR),
        _ => false,
    }
}
