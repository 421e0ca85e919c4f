//! Running the steps: the lease, the order, one unit of work per step or page, the report.

use std::time::{Duration, Instant};

use bson::oid::ObjectId;
use bson::{Bson, DateTime, Document, doc};

use super::ledger::{Ledger, StepState, entry_id};
use super::walk::Walk;
use super::{Migrations, Step, Update, Work};
use crate::{Engine, Error, Result, Session};

/// What [`Migrations::run`] did.
///
/// ```no_run
/// # async fn demo(engine: mongotic::Engine, migrations: mongotic::migrate::Migrations) -> mongotic::Result<()> {
/// let report = migrations.run(&engine).await?;
/// println!("applied {:?}, {} documents backfilled", report.applied, report.documents);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct Report {
    /// The steps this run applied, in order.
    pub applied: Vec<String>,
    /// The steps the ledger already listed as applied.
    pub already_applied: Vec<String>,
    /// The documents this run's backfills visited and its updates changed.
    pub documents: u64,
}

/// Where a step is, for a progress line: see [`Migrations::on_progress`].
///
/// ```
/// let m = mongotic::migrate::Migrations::new().on_progress(|p: &mongotic::migrate::Progress| {
///     eprintln!("{} {} documents{}", p.step, p.done, if p.finished { ", done" } else { "" });
/// });
/// # let _ = m;
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Progress {
    /// The step's name.
    pub step: String,
    /// Documents done so far (a backfill's, over every run of it).
    pub done: u64,
    /// The step is applied.
    pub finished: bool,
}

impl Migrations {
    /// The steps a run would apply now, in order (a dry run: nothing is written). A backfill
    /// that stopped part way is listed (it resumes).
    ///
    /// ```no_run
    /// # async fn demo(engine: mongotic::Engine, migrations: mongotic::migrate::Migrations) -> mongotic::Result<()> {
    /// for name in migrations.pending(&engine).await? {
    ///     println!("would run {name}");
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn pending(&self, engine: &Engine) -> Result<Vec<String>> {
        self.check_names()?;
        let ledger = self.ledger_for(String::new());
        let entries = ledger.entries(engine).await?;
        Ok(self
            .steps
            .iter()
            .filter(|step| state_of(&entries, &step.name) != StepState::Applied)
            .map(|step| step.name.clone())
            .collect())
    }

    /// Applies the steps the ledger does not list as applied, in order, holding the ledger's
    /// lease (waiting for it while another runner holds it). Stops at the first step that
    /// fails, with [`Error::Migration`] naming it: what it did in its transaction is rolled
    /// back (a backfill keeps the pages it recorded), and the next run starts from there.
    ///
    /// ```no_run
    /// # async fn demo(engine: mongotic::Engine, migrations: mongotic::migrate::Migrations) -> mongotic::Result<()> {
    /// let report = migrations.run(&engine).await?;
    /// # Ok(()) }
    /// ```
    pub async fn run(&self, engine: &Engine) -> Result<Report> {
        self.check_names()?;
        let ledger = self.ledger_for(format!("{}-{}", std::process::id(), ObjectId::new()));
        let started = Instant::now();
        while !ledger.try_acquire(engine).await? {
            if started.elapsed() >= self.wait {
                return Err(Error::MigrationBusy { waited: started.elapsed() });
            }
            tokio::time::sleep(poll_interval(self.lease)).await;
        }
        let result = self.apply_all(engine, &ledger).await;
        // The lease expires by itself if this fails: the result matters more.
        let released = ledger.release(engine).await;
        let report = result?;
        released?;
        Ok(report)
    }

    fn ledger_for(&self, owner: String) -> Ledger {
        Ledger { collection: self.ledger.clone(), owner, lease: self.lease }
    }

    fn check_names(&self) -> Result<()> {
        for (index, step) in self.steps.iter().enumerate() {
            if step.name.is_empty() || self.steps[..index].iter().any(|earlier| earlier.name == step.name) {
                return Err(Error::InvalidStatement {
                    message: format!("migration step names must be unique and not empty: {:?}", step.name),
                });
            }
        }
        Ok(())
    }

    async fn apply_all(&self, engine: &Engine, ledger: &Ledger) -> Result<Report> {
        let in_transactions = engine.use_transactions().await?;
        let entries = ledger.entries(engine).await?;
        let mut report = Report::default();
        for (index, step) in self.steps.iter().enumerate() {
            let state = state_of(&entries, &step.name);
            if state == StepState::Applied {
                report.already_applied.push(step.name.clone());
                continue;
            }
            let run = Run { engine, ledger, step, index, in_transactions };
            let done = run.apply(state, self).await.map_err(|source| match source {
                lost @ Error::MigrationLeaseLost { .. } => lost,
                other => Error::Migration { step: step.name.clone(), source: Box::new(other) },
            })?;
            report.documents += done;
            report.applied.push(step.name.clone());
        }
        Ok(report)
    }

    fn progress(&self, progress: Progress) {
        if let Some(report) = &self.progress {
            report(&progress);
        }
    }
}

fn state_of(entries: &[bson::Document], step: &str) -> StepState {
    let id = entry_id(step);
    StepState::of(entries.iter().find(|entry| entry.get_str("_id") == Ok(id.as_str())))
}

/// How often a runner waiting for the lease looks again.
fn poll_interval(lease: Duration) -> Duration {
    (lease / 10).clamp(Duration::from_millis(20), Duration::from_millis(500))
}

/// One step being applied.
struct Run<'a> {
    engine: &'a Engine,
    ledger: &'a Ledger,
    step: &'a Step,
    index: usize,
    in_transactions: bool,
}

impl Run<'_> {
    /// A session for one unit of the step's work, in a transaction where there are.
    async fn unit(&self) -> Result<Session> {
        let mut session = Session::bind(self.engine);
        if self.in_transactions {
            session.begin().await?;
        } else {
            // No transaction to fence the writes: check the lease is still ours first.
            self.ledger.renew(self.engine).await?;
        }
        Ok(session)
    }

    /// Ends a unit: flushes the step's own writes, then checks and renews the lease and
    /// sets `fields` on the step's ledger entry in the same unit (one `update` command, see
    /// [`Ledger::record_in`]), and commits. The step's writes go first in a flush of their
    /// own, so each command writes one collection (an `update` rather than a `bulkWrite`
    /// across two); in a transaction it is one commit all the same.
    async fn end_unit(&self, mut session: Session, fields: Document) -> Result<()> {
        session.flush().await?;
        self.ledger.record_in(&mut session, &self.step.name, self.index, fields).await?;
        session.commit().await
    }

    /// Records the step as applied in `session` and commits the unit.
    async fn finish(&self, session: Session, done: u64) -> Result<()> {
        let done = i64::try_from(done).unwrap_or(i64::MAX);
        self.end_unit(session, doc! { "state": "applied", "done": done, "applied_at": DateTime::now() }).await
    }

    /// Applies the step from `state`; returns the documents a backfill did in this run. A
    /// transient error or a lost connection (a failover, a restarted server) is retried under
    /// the engine's retry policy, from what the ledger then says: each unit is a transaction
    /// (or, without transactions, follows the idempotence rule), and one whose commit may
    /// have landed is read back from the ledger rather than guessed.
    async fn apply(&self, mut state: StepState, migrations: &Migrations) -> Result<u64> {
        let mut attempts = self.engine.retry_policy().start();
        loop {
            match self.apply_once(state, migrations).await {
                Ok(done) => return Ok(done),
                Err(err) if (err.is_transient() || err.is_connection()) && attempts.wait().await => {
                    tracing::debug!(target: "mongotic::migrate", step = %self.step.name, error = %err, "retrying the step");
                    let entries = self.ledger.entries(self.engine).await?;
                    state = state_of(&entries, &self.step.name);
                    if state == StepState::Applied {
                        return Ok(0);
                    }
                }
                Err(err) => return Err(err),
            }
        }
    }

    async fn apply_once(&self, state: StepState, migrations: &Migrations) -> Result<u64> {
        let done = match &self.step.work {
            Work::Session(work) => {
                let mut session = self.unit().await?;
                if let Err(err) = work(&mut session).await {
                    session.rollback();
                    return Err(err);
                }
                self.finish(session, 0).await?;
                0
            }
            Work::Update { collection, filter, update } => {
                let mut session = self.unit().await?;
                let update = match update {
                    Update::Operators(operators) => mongodb::options::UpdateModifications::Document(operators.clone()),
                    Update::Pipeline(stages) => mongodb::options::UpdateModifications::Pipeline(stages.clone()),
                };
                let changed = session.update_documents(collection, filter.clone(), update).await?;
                self.finish(session, changed).await?;
                changed
            }
            Work::Backfill { .. } => self.backfill(state, migrations).await?,
        };
        migrations.progress(Progress { step: self.step.name.clone(), done, finished: true });
        Ok(done)
    }

    /// Walks the documents in keyset pages of `_id` (one cursor, see [`Walk`]), one unit of
    /// work per page, each recording the position it reached.
    async fn backfill(&self, state: StepState, migrations: &Migrations) -> Result<u64> {
        let Work::Backfill { collection, filter, page, each } = &self.step.work else { return Ok(0) };
        let (position, mut done) = match state {
            StepState::Running { position, done } => (position, done),
            _ => (None, 0),
        };
        let mut walk = Walk::open(Session::bind(self.engine), collection, filter, *page, position).await?;
        let mut this_run = 0;
        loop {
            let stored = walk.next_page().await?;
            let mut session = self.unit().await?;
            let found = session.documents(collection)?.adopt(&stored)?;
            for document in &found {
                if let Err(err) = each(document) {
                    session.rollback();
                    return Err(err);
                }
            }
            // Counted once the unit commits: a unit that fails is read back from the ledger.
            let done_now = done + found.len() as u64;
            if found.len() < *page as usize {
                self.finish(session, done_now).await?;
                return Ok(this_run + found.len() as u64);
            }
            let at = found.last().and_then(|document| document.id()).unwrap_or(Bson::Null);
            let recorded = i64::try_from(done_now).unwrap_or(i64::MAX);
            self.end_unit(session, doc! { "position": at, "done": recorded }).await?;
            done = done_now;
            this_run += found.len() as u64;
            migrations.progress(Progress { step: self.step.name.clone(), done, finished: false });
        }
    }
}
