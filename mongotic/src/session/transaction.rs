//! The session's explicit transaction (SQLAlchemy's meaning): its state, its journal, and
//! starting and committing driver transactions under the retry policy.
//!
//! An explicit transaction ([`Session::begin`]) spans queries, `get`s, statements and flushes
//! until [`Session::commit`] or [`Session::rollback`]. Reads in it see its snapshot and its own
//! writes. Each flush in it is recorded at once (later flushes write only what changed since),
//! and the state each entity had before is kept in a journal: if the transaction does not
//! commit, the journal puts every entity back as it was at `begin`, with its changes staged
//! again. After an error the transaction is aborted and I/O fails with
//! [`Error::TransactionAborted`] until `rollback`.
//!
//! Every command of the session outside a transaction runs in one driver session, started on
//! first use and kept while the session lives (where the deployment has sessions): it is
//! causally consistent, so a read after a flush sees what the flush wrote, even from a
//! secondary. A transaction runs in a driver session of its own, started fresh for it (its
//! first command then carries no `afterClusterTime`, which some servers refuse on a client
//! `bulkWrite`); once it ends, the session's driver session is moved on to the transaction's
//! cluster and operation time, so the reads after it never go back in time.
//!
//! Flushing, in a transaction of the flush's own or in the explicit one, is the flush's
//! business (see `flush::atomic`); this module holds no flush logic.

use std::collections::HashSet;
use std::sync::Arc;

use mongodb::ClientSession;
use mongodb::error::{ErrorKind, TRANSIENT_TRANSACTION_ERROR, UNKNOWN_TRANSACTION_COMMIT_RESULT};
use mongodb::options::TransactionOptions;

use super::Session;
use super::retry::Attempts;
use super::tracked::{ErasedEntity, Intent, SavedState};
use super::unit_of_work::{Status, UnitOfWork};
use crate::error::Error;
use crate::{Engine, Result, TransactionMode};

/// The server's code for a commit that ran out of time: its result is unknown, but retrying
/// it cannot help.
const MAX_TIME_MS_EXPIRED: i32 = crate::error::MAX_TIME_MS_EXPIRED;

/// The server's code for a transaction it does not know: aborted, or (after a restart that
/// lost its record) committed and forgotten.
const NO_SUCH_TRANSACTION: i32 = 251;

/// A session's driver session, its explicit transaction, and the journal that undoes it.
#[derive(Default)]
pub(crate) struct Transaction {
    /// The causally consistent driver session every command outside a transaction runs in,
    /// once started.
    driver: Option<Box<ClientSession>>,
    /// The deployment refused sessions (a server without them): commands run without one.
    no_sessions: bool,
    state: State,
    /// The state of each entity the transaction wrote, from before its first write in it.
    journal: Journal,
    /// The tracing span of the explicit transaction, from `begin` to its end: the parent of
    /// the statements and flushes in it.
    span: Option<tracing::Span>,
}

/// Where the explicit transaction stands.
#[derive(Default)]
enum State {
    /// None is open: each flush is a unit of its own.
    #[default]
    Idle,
    /// `begin` opened one; its driver session carries it.
    Open(Box<ClientSession>),
    /// An error ended it on the server: I/O is refused until `rollback`.
    Aborted,
}

#[derive(Default)]
struct Journal {
    saved: Vec<Saved>,
    /// The entities in `saved`, by address, so each is saved once.
    seen: HashSet<usize>,
}

struct Saved {
    entity: Arc<dyn ErasedEntity>,
    status: Status,
    state: SavedState,
    /// The version a versioned entity had on the server before the transaction wrote it.
    version: Option<i64>,
}

impl Transaction {
    /// The span of the explicit transaction, if one is open.
    pub(crate) fn span(&self) -> Option<&tracing::Span> {
        self.span.as_ref()
    }

    /// `true` from `begin` until `commit` or `rollback` ends it, also once an error aborted it
    /// (only `rollback` ends it then).
    pub(crate) fn is_explicit(&self) -> bool {
        !matches!(self.state, State::Idle)
    }

    /// Starts the causally consistent driver session if there is none yet.
    pub(crate) async fn ready(&mut self, engine: &Engine) -> Result<()> {
        if self.driver.is_some() || self.no_sessions {
            return Ok(());
        }
        engine.check_auth()?;
        match engine.client().start_session().await {
            Ok(session) => {
                self.driver = Some(Box::new(session));
                Ok(())
            }
            Err(err) if matches!(err.kind.as_ref(), ErrorKind::SessionsNotSupported) => {
                self.no_sessions = true;
                Ok(())
            }
            Err(err) => Err(Error::from_driver_command(err)),
        }
    }

    /// The driver session to run I/O in: the explicit transaction's while one is open, else
    /// the causal one (`None` before [`Transaction::ready`] or on a deployment without
    /// sessions). An aborted transaction refuses I/O.
    pub(crate) fn client_session(&mut self) -> Result<Option<&mut ClientSession>> {
        match &mut self.state {
            State::Idle => Ok(self.driver.as_deref_mut()),
            State::Open(session) => Ok(Some(session)),
            State::Aborted => Err(Error::TransactionAborted),
        }
    }

    /// The driver session of the open transaction; [`Error::TransactionAborted`] when there is
    /// none to run in.
    pub(crate) fn open_session(&mut self) -> Result<&mut ClientSession> {
        match &mut self.state {
            State::Open(session) => Ok(session),
            State::Idle | State::Aborted => Err(Error::TransactionAborted),
        }
    }

    /// Moves the causal driver session on to where `other` (a transaction's) got: what the
    /// transaction wrote is what later reads must see.
    pub(crate) fn absorb(&mut self, other: &ClientSession) {
        if let Some(session) = self.driver.as_deref_mut() {
            if let Some(cluster_time) = other.cluster_time() {
                session.advance_cluster_time(cluster_time);
            }
            if let Some(operation_time) = other.operation_time() {
                session.advance_operation_time(operation_time);
            }
        }
    }

    /// Makes room in the journal for `additional` more entities, before a flush records its
    /// writes (so a large flush does not grow it one rehash at a time).
    pub(crate) fn reserve_journal(&mut self, additional: usize) {
        if self.is_explicit() {
            self.journal.seen.reserve(additional);
            self.journal.saved.reserve(additional);
        }
    }

    /// `true` (once) when `entity` is yet to be journaled in this explicit transaction, before
    /// the transaction first changes it: the caller then hands its state to
    /// [`Transaction::keep`]. Outside an explicit transaction there is nothing to undo, and
    /// nothing is kept. (A flush that gives the entity a
    /// new baseline hands over the old one rather than a copy of it.)
    pub(crate) fn first_write(&mut self, entity: &Arc<dyn ErasedEntity>) -> bool {
        self.is_explicit() && self.journal.seen.insert(Arc::as_ptr(entity) as *const () as usize)
    }

    /// Journals `state`, what `entity` (whose entry has `status`) was before the transaction
    /// first changed it; see [`Transaction::first_write`].
    pub(crate) fn keep(
        &mut self,
        entity: &Arc<dyn ErasedEntity>,
        status: Status,
        state: SavedState,
        version: Option<i64>,
    ) {
        self.journal.saved.push(Saved { entity: entity.clone(), status, state, version });
    }

    /// Puts every journaled entity back as it was before the transaction wrote it, keeping its
    /// current value (so its changes are staged again). `keep_intents` when the transaction
    /// may have committed: the intents make the next flush read the server.
    fn restore(&mut self, uow: &mut UnitOfWork, keep_intents: bool) {
        for saved in self.journal.saved.drain(..).rev() {
            let state = saved.entity.state();
            state.restore(saved.state);
            if let Some(version) = saved.version {
                // Best effort, as for a write that did not land (see `flush::plan`).
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
        self.journal.seen.clear();
    }

    /// Ends the transaction after a failure: the session's bookkeeping goes back to `begin`,
    /// and the session refuses I/O until `rollback`.
    pub(crate) fn fail(&mut self, uow: &mut UnitOfWork, keep_intents: bool) {
        self.restore(uow, keep_intents);
        if let State::Open(session) = std::mem::replace(&mut self.state, State::Aborted) {
            self.absorb(&session);
        }
    }

    /// Aborts the open transaction on the server and waits for the answer (best effort: the
    /// server aborts a transaction nobody commits at its time limit), leaving the session's
    /// bookkeeping for `rollback`. Used before a transaction is tried again, so the next
    /// attempt does not conflict with this one's writes.
    pub(crate) async fn abort_on_server(&mut self) {
        if let State::Open(session) = &mut self.state {
            let _ = session.abort_transaction().await;
        }
    }

    /// Ends the transaction for `rollback`, with no I/O: an open one is aborted (the driver
    /// sends `abortTransaction` in the background when its session is dropped; were that lost,
    /// the server aborts it at its time limit, it never commits) and the journal is undone.
    pub(crate) fn end(&mut self, uow: &mut UnitOfWork) {
        if let State::Open(session) = std::mem::take(&mut self.state) {
            self.absorb(&session);
            self.restore(uow, false);
        }
        self.span = None;
    }

    /// Opens the explicit transaction in a driver session of its own.
    async fn open(&mut self, engine: &Engine, options: TransactionOptions) -> Result<()> {
        let session = start(engine, options).await.map_err(Error::from_driver_command)?;
        self.state = State::Open(Box::new(session));
        self.span = Some(crate::telemetry::unit("transaction", None));
        Ok(())
    }

    /// Commits the open transaction, retrying while its result is unknown and the policy
    /// allows. On success the journal is forgotten: what the transaction wrote is durable.
    /// On failure the bookkeeping goes back to `begin` and the session refuses I/O until
    /// `rollback`; the returned failure says whether the transaction may have committed.
    pub(crate) async fn commit(&mut self, uow: &mut UnitOfWork, attempts: &Attempts) -> Result<(), CommitFailure> {
        let State::Open(mut session) = std::mem::take(&mut self.state) else {
            return Err(CommitFailure::Failed(Error::TransactionAborted));
        };
        let mut landed_maybe = false;
        let committed = commit_with_retry(&mut session, attempts, &mut landed_maybe).await;
        self.absorb(&session);
        match committed {
            Ok(()) => {
                for saved in self.journal.saved.drain(..) {
                    saved.entity.state().set_intent(Intent::None);
                }
                self.journal.seen.clear();
                Ok(())
            }
            Err(failure) => {
                if !landed_maybe {
                    // Best effort: a transaction that did not commit holds its locks until
                    // aborted.
                    let _ = session.abort_transaction().await;
                }
                self.fail(uow, landed_maybe);
                Err(failure)
            }
        }
    }

    /// Ends the span of the explicit transaction with `result`.
    pub(crate) fn finish_span<T>(&mut self, result: &Result<T>) {
        if let Some(span) = self.span.take() {
            crate::telemetry::finish(&span, result);
        }
    }
}

/// What ended a commit attempt.
pub(crate) enum CommitFailure {
    /// The whole transaction may be tried again (it did not commit).
    Transient(Error),
    /// Nobody knows whether it committed, and retrying is over.
    Unknown(Error),
    /// It did not commit.
    Failed(Error),
}

impl CommitFailure {
    pub(crate) fn is_transient(&self) -> bool {
        matches!(self, CommitFailure::Transient(_))
    }

    pub(crate) fn into_error(self) -> Error {
        let (CommitFailure::Transient(err) | CommitFailure::Unknown(err) | CommitFailure::Failed(err)) = self;
        err
    }
}

/// Commits, retrying at once while the result is unknown and the policy has time left (as the
/// convenient transaction API does; the server deduplicates a commit). `landed_maybe` is set
/// when an attempt's result was unknown: then even a later "no such transaction" does not
/// prove the transaction did not commit (a server that restarted may have forgotten it). The
/// driver retries a commit once by itself when the reply is lost, so a first "no such
/// transaction" may already be the answer to such a retry: it sets `landed_maybe` too, and the
/// writes are read back before they are sent again (if they did not land, that read costs one
/// round trip on a failure path).
pub(crate) async fn commit_with_retry(
    session: &mut ClientSession,
    attempts: &Attempts,
    landed_maybe: &mut bool,
) -> Result<(), CommitFailure> {
    loop {
        let Err(err) = session.commit_transaction().await else { return Ok(()) };
        let expired = matches!(err.kind.as_ref(), mongodb::error::ErrorKind::Command(command) if command.code == MAX_TIME_MS_EXPIRED);
        if err.contains_label(UNKNOWN_TRANSACTION_COMMIT_RESULT) {
            *landed_maybe = true;
            if !expired && attempts.time_left() {
                continue;
            }
            return Err(CommitFailure::Unknown(Error::from_driver_command(err)));
        }
        if err.contains_label(TRANSIENT_TRANSACTION_ERROR) {
            let unknown = matches!(err.kind.as_ref(), mongodb::error::ErrorKind::Command(command) if command.code == NO_SUCH_TRANSACTION);
            if unknown {
                *landed_maybe = true;
            }
            return Err(CommitFailure::Transient(Error::from_driver_command(err)));
        }
        return Err(CommitFailure::Failed(Error::from_driver_command(err)));
    }
}

/// A driver session of its own with a transaction started (no I/O: the first command starts
/// it on the server).
pub(crate) async fn start(
    engine: &Engine,
    options: TransactionOptions,
) -> std::result::Result<ClientSession, mongodb::error::Error> {
    let mut session = engine.client().start_session().await?;
    session.start_transaction().with_options(options).await?;
    Ok(session)
}

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
        let mut options = TransactionOptions::default();
        options.read_concern = self.options.read_concern.clone();
        options.write_concern = self.options.write_concern.clone();
        options.max_commit_time = self.options.max_time;
        self.begin_with(options).await
    }

    /// [`begin`](Session::begin), with the transaction's own options: its read concern
    /// (`snapshot`, `majority`…), its write concern (which its commit carries), its read
    /// preference (a transaction reads from the primary) and the server's time limit for its
    /// commit. Without them (`begin`) the session's read and write concern apply.
    ///
    /// ```no_run
    /// # async fn demo(mut session: mongotic::Session) -> mongotic::Result<()> {
    /// use mongotic::options::{ReadConcern, TransactionOptions, WriteConcern};
    /// let mut options = TransactionOptions::default();
    /// options.read_concern = Some(ReadConcern::snapshot());
    /// options.write_concern = Some(WriteConcern::majority());
    /// session.begin_with(options).await?;
    /// session.commit().await?;
    /// # Ok(()) }
    /// ```
    pub async fn begin_with(&mut self, options: TransactionOptions) -> Result<()> {
        if self.txn.is_explicit() {
            return Err(Error::TransactionInProgress);
        }
        if let Some(mongodb::options::SelectionCriteria::ReadPreference(preference)) = &options.selection_criteria
            && !matches!(preference, mongodb::options::ReadPreference::Primary)
        {
            return Err(Error::InvalidOptions { message: "a transaction reads from the primary".into() });
        }
        if self.engine.transaction_mode() == TransactionMode::Never {
            return Err(Error::TransactionsUnavailable { reason: "the engine's TransactionMode is Never" });
        }
        if !self.engine.supports_transactions().await? {
            return Err(Error::TransactionsUnavailable { reason: "the deployment is a standalone server" });
        }
        self.txn.ready(&self.engine).await?;
        self.txn.open(&self.engine, options).await
    }

    /// `true` while an explicit transaction is open: from [`begin`](Session::begin) to
    /// `commit` or `rollback`. Also `true` after an error aborted it, until `rollback` ends it
    /// (as SQLAlchemy's `in_transaction`): the session refuses I/O then.
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
        self.txn.is_explicit()
    }

    /// Runs `body` in a transaction and commits it, running it again from the start when the
    /// failure is transient (a `TransientTransactionError`: a write conflict, a failover), as
    /// the drivers' convenient transaction API does: under the engine's
    /// [`RetryPolicy`](crate::RetryPolicy) (two minutes by default, with a growing wait
    /// between attempts). On any other error the transaction is rolled back and the error
    /// returned.
    ///
    /// `body` may run more than once, so it should read what it needs inside the transaction,
    /// and let errors it meets propagate (an error the server met aborts the transaction).
    ///
    /// `body` is an async closure. In a task that must be `Send` (`tokio::spawn`, a web
    /// handler), write it `async move |s| ..`: it owns what it captures, and its future is
    /// `Send` when those are. A closure that borrows from its surroundings (`async |s| ..`
    /// capturing a local by reference) works where `Send` is not needed, but today's compiler
    /// cannot prove its future `Send` for every borrow it lends out.
    ///
    /// ```no_run
    /// # use mongotic::prelude::*;
    /// # #[derive(Debug, Serialize, Deserialize, Model)]
    /// # #[mongotic(database = "bank", collection = "accounts")]
    /// # struct Account { #[serde(rename = "_id")] #[mongotic(id)] id: String, balance: i64 }
    /// # async fn demo(mut session: Session) -> mongotic::Result<()> {
    /// let amount = 10;
    /// let task = tokio::spawn(async move {
    ///     session
    ///         .transaction(async move |s| {
    ///             let Some(from) = s.get::<Account>("alice").await? else { return Ok(false) };
    ///             from.write().balance -= amount;
    ///             Ok(true)
    ///         })
    ///         .await
    /// });
    /// let moved: bool = task.await.expect("the task ran")?;
    /// # Ok(()) }
    /// ```
    pub async fn transaction<T, F>(&mut self, mut body: F) -> Result<T>
    where
        F: AsyncFnMut(&mut Session) -> Result<T>,
    {
        let mut attempts = self.engine.retry_policy().start();
        loop {
            self.begin().await?;
            let result = match body(self).await {
                Ok(value) => self.commit().await.map(|()| value),
                Err(err) => Err(err),
            };
            let err = match result {
                Ok(value) => return Ok(value),
                Err(err) => err,
            };
            self.abort_on_server().await;
            self.rollback();
            if !err.is_transient() || !attempts.wait().await {
                return Err(err);
            }
        }
    }

    /// Aborts the open explicit transaction on the server and waits for the answer, leaving
    /// the session's bookkeeping for [`rollback`](Session::rollback): before a transaction is
    /// run again, so the next attempt does not conflict with this one's writes.
    pub(crate) async fn abort_on_server(&mut self) {
        self.txn.abort_on_server().await;
    }
}
