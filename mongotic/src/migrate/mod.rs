//! Migrations that run once: an ordered list of named steps in your code, recorded in a ledger
//! collection, applied by [`Migrations::run`] (exactly once per step, whatever runs at once).
//!
//! A step is one of:
//!
//! - [`Migrations::step`]: a function over a [`Session`] (its changes are flushed with the
//!   step's ledger entry);
//! - [`Migrations::update`]: an update of every document matching a filter, with update
//!   operators or an aggregation pipeline, sent as one `update` command;
//! - [`Migrations::backfill`]: a function applied to each document matching a filter, as
//!   [`TrackedDocument`]s (see [`document`](crate::document)): old shapes need no Rust type.
//!   The documents are read by one cursor in ascending `_id` and changed in pages, each page
//!   a unit of work of its own that records the `_id` it reached.
//!
//! **Exactly once.** A runner takes the ledger's lease (one document, with an expiry, so a
//! runner that was killed holds it only until it expires), then applies the steps the ledger
//! does not list as applied, in order. Where the deployment has transactions, each step (and
//! each page of a backfill) runs in one, with its ledger entry and a renewal of the lease
//! (an update that matches only this runner's lease) written in the same transaction: a runner
//! that lost its lease (it stalled past the expiry and another took over) cannot commit, so no
//! step or page is applied twice. Without
//! transactions the ledger is written after the step's writes, so a runner killed in between
//! applies that step (or page) again when it is started again.
//!
//! **The idempotence rule.** A step may be run again after a crash; a backfill resumes at the
//! page after the last one recorded. So write steps that are harmless the second time: a
//! backfill's filter selects the documents still in the old shape (`fullname` exists), and
//! its function moves a document to the new shape. A document is then changed at most once,
//! and a page cut short is finished by the next run. With transactions the rule is only needed
//! for what a step does outside its session (calls to other systems).
//!
//! A renamed field, with a backfill:
//!
//! ```no_run
//! use mongotic::prelude::*;
//! use mongotic::expr::path;
//! use mongotic::migrate::Migrations;
//!
//! # async fn demo(engine: Engine) -> mongotic::Result<()> {
//! let migrations = Migrations::new()
//!     .backfill("2026-12-split-fullname", "users", path("fullname").exists(true), |user| {
//!         let fullname = user.get("fullname").and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default();
//!         let (first, last) = fullname.split_once(' ').unwrap_or((fullname.as_str(), ""));
//!         user.set("first_name", first)?;
//!         user.set("last_name", last)?;
//!         user.unset("fullname");
//!         Ok(())
//!     })
//!     .update("2026-12-rename-mail", "users", path("mail").exists(true), mongotic::bson::doc! {
//!         "$rename": { "mail": "email" }
//!     });
//! println!("would run: {:?}", migrations.pending(&engine).await?);
//! let report = migrations.run(&engine).await?;
//! println!("applied: {:?}", report.applied);
//! # Ok(()) }
//! ```

mod ledger;
mod run;
mod walk;

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bson::Document;

use crate::document::TrackedDocument;
use crate::expr::{Filter, Untyped};
use crate::{Result, Session};

pub use run::{Progress, Report};

/// The future a session step returns.
pub type StepFuture<'a> = Pin<Box<dyn Future<Output = Result<()>> + Send + 'a>>;

type SessionStep = dyn for<'a> Fn(&'a mut Session) -> StepFuture<'a> + Send + Sync;
type EachDocument = dyn Fn(&TrackedDocument) -> Result<()> + Send + Sync;
type OnProgress = dyn Fn(&Progress) + Send + Sync;

/// What one step does.
pub(crate) enum Work {
    Session(Arc<SessionStep>),
    Update { collection: String, filter: Filter<Untyped>, update: Update },
    Backfill { collection: String, filter: Filter<Untyped>, page: u32, each: Arc<EachDocument> },
}

/// The update of an [`Migrations::update`] step: operators, or a pipeline.
pub(crate) enum Update {
    Operators(Document),
    Pipeline(Vec<Document>),
}

/// One named step.
pub(crate) struct Step {
    pub(crate) name: String,
    pub(crate) work: Work,
}

/// An ordered list of migration steps and where their ledger lives. See the
/// [module](crate::migrate).
///
/// ```
/// use mongotic::migrate::Migrations;
///
/// let migrations = Migrations::new()
///     .ledger("schema_migrations")
///     .lease(std::time::Duration::from_secs(60))
///     .step("create-indexes", |session| Box::pin(async move {
///         let _ = session; // any work through the session
///         Ok(())
///     }));
/// assert_eq!(migrations.names(), ["create-indexes"]);
/// ```
pub struct Migrations {
    pub(crate) steps: Vec<Step>,
    pub(crate) ledger: String,
    pub(crate) lease: Duration,
    pub(crate) wait: Duration,
    pub(crate) progress: Option<Arc<OnProgress>>,
}

impl Default for Migrations {
    fn default() -> Self {
        Migrations::new()
    }
}

impl fmt::Debug for Migrations {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Migrations").field("steps", &self.names()).field("ledger", &self.ledger).finish()
    }
}

impl Migrations {
    /// No steps, the ledger in `mongotic_migrations` (in the engine's database), a lease of 30 s,
    /// and a wait of up to 5 minutes for another runner's lease.
    ///
    /// ```
    /// assert!(mongotic::migrate::Migrations::new().names().is_empty());
    /// ```
    pub fn new() -> Self {
        Migrations {
            steps: Vec::new(),
            ledger: "mongotic_migrations".into(),
            lease: Duration::from_secs(30),
            wait: Duration::from_secs(300),
            progress: None,
        }
    }

    /// The ledger's collection (in the engine's database).
    ///
    /// ```
    /// let m = mongotic::migrate::Migrations::new().ledger("migrations");
    /// # let _ = m;
    /// ```
    pub fn ledger(mut self, collection: &str) -> Self {
        self.ledger = collection.to_owned();
        self
    }

    /// How long the lease lasts without a renewal (a runner renews it at every step and
    /// page): the longest a killed runner keeps the others waiting. A page of a backfill must
    /// take less.
    ///
    /// ```
    /// let m = mongotic::migrate::Migrations::new().lease(std::time::Duration::from_secs(10));
    /// # let _ = m;
    /// ```
    pub fn lease(mut self, lease: Duration) -> Self {
        self.lease = lease;
        self
    }

    /// How long [`run`](Migrations::run) waits for a lease another runner holds before it
    /// gives up with [`Error::MigrationBusy`](crate::Error::MigrationBusy). A runner that finds
    /// the lease held waits for it, then applies what the other left (usually nothing).
    ///
    /// ```
    /// let m = mongotic::migrate::Migrations::new().wait(std::time::Duration::from_secs(60));
    /// # let _ = m;
    /// ```
    pub fn wait(mut self, wait: Duration) -> Self {
        self.wait = wait;
        self
    }

    /// Called after every page of a backfill (and once per step), for a progress line.
    ///
    /// ```
    /// let m = mongotic::migrate::Migrations::new()
    ///     .on_progress(|p| eprintln!("{}: {} documents", p.step, p.done));
    /// # let _ = m;
    /// ```
    pub fn on_progress(mut self, report: impl Fn(&Progress) + Send + Sync + 'static) -> Self {
        self.progress = Some(Arc::new(report));
        self
    }

    /// Adds a step that runs `work` over a session; what it stages is flushed with the step's
    /// ledger entry (in one transaction where the deployment has them). Names must be unique
    /// and stable: the ledger knows steps by name.
    ///
    /// ```
    /// use mongotic::migrate::Migrations;
    ///
    /// let m = Migrations::new().step("seed-admin", |session| Box::pin(async move {
    ///     session.documents("users")?.add(mongotic::bson::doc! { "_id": "admin", "role": "admin" })?;
    ///     Ok(())
    /// }));
    /// # let _ = m;
    /// ```
    pub fn step(
        mut self,
        name: &str,
        work: impl for<'a> Fn(&'a mut Session) -> StepFuture<'a> + Send + Sync + 'static,
    ) -> Self {
        self.steps.push(Step { name: name.to_owned(), work: Work::Session(Arc::new(work)) });
        self
    }

    /// Adds a step that updates every document of `collection` matching `filter` with the
    /// update operators `update` (`{"$rename": {..}}`), in one command.
    ///
    /// ```
    /// use mongotic::expr::path;
    /// use mongotic::bson::doc;
    ///
    /// let m = mongotic::migrate::Migrations::new()
    ///     .update("rename-mail", "users", path("mail").exists(true), doc! { "$rename": { "mail": "email" } });
    /// # let _ = m;
    /// ```
    pub fn update(mut self, name: &str, collection: &str, filter: Filter<Untyped>, update: Document) -> Self {
        let work = Work::Update { collection: collection.to_owned(), filter, update: Update::Operators(update) };
        self.steps.push(Step { name: name.to_owned(), work });
        self
    }

    /// Adds a step that updates every document of `collection` matching `filter` with an
    /// aggregation pipeline (`[{"$set": {"total": {"$add": ["$a", "$b"]}}}]`), in one command.
    ///
    /// ```
    /// use mongotic::expr::path;
    /// use mongotic::bson::doc;
    ///
    /// let m = mongotic::migrate::Migrations::new().pipeline(
    ///     "total", "orders", path("total").exists(false),
    ///     vec![doc! { "$set": { "total": { "$add": ["$net", "$tax"] } } }],
    /// );
    /// # let _ = m;
    /// ```
    pub fn pipeline(mut self, name: &str, collection: &str, filter: Filter<Untyped>, pipeline: Vec<Document>) -> Self {
        let work = Work::Update { collection: collection.to_owned(), filter, update: Update::Pipeline(pipeline) };
        self.steps.push(Step { name: name.to_owned(), work });
        self
    }

    /// Adds a backfill: `each` is applied to every document of `collection` matching
    /// `filter`, in pages of 500 by ascending `_id`; each page is flushed with the backfill's
    /// position in the ledger, so a run that stops resumes after the last page it recorded.
    /// See the idempotence rule in the [module](crate::migrate). The documents are read by one
    /// cursor, outside the pages' transactions: of a field another writer changes meanwhile,
    /// the later write wins (see the [guide](crate::guide::migrations)).
    ///
    /// ```
    /// use mongotic::expr::path;
    ///
    /// let m = mongotic::migrate::Migrations::new().backfill("lowercase-emails", "users", path("email").exists(true), |user| {
    ///     let email = user.get("email").and_then(|v| v.as_str().map(str::to_lowercase));
    ///     if let Some(email) = email {
    ///         user.set("email", email)?;
    ///     }
    ///     Ok(())
    /// });
    /// # let _ = m;
    /// ```
    pub fn backfill(
        mut self,
        name: &str,
        collection: &str,
        filter: Filter<Untyped>,
        each: impl Fn(&TrackedDocument) -> Result<()> + Send + Sync + 'static,
    ) -> Self {
        let work = Work::Backfill { collection: collection.to_owned(), filter, page: 500, each: Arc::new(each) };
        self.steps.push(Step { name: name.to_owned(), work });
        self
    }

    /// The page size of the last step added, when it is a backfill (500 by default).
    ///
    /// ```
    /// use mongotic::expr::path;
    ///
    /// let m = mongotic::migrate::Migrations::new()
    ///     .backfill("touch", "users", path("touched").exists(false), |user| { user.set("touched", true)?; Ok(()) })
    ///     .page_size(2_000);
    /// # let _ = m;
    /// ```
    pub fn page_size(mut self, size: u32) -> Self {
        if let Some(Step { work: Work::Backfill { page, .. }, .. }) = self.steps.last_mut() {
            *page = size.max(1);
        }
        self
    }

    /// The names of the steps, in order.
    ///
    /// ```
    /// let m = mongotic::migrate::Migrations::new().step("a", |_| Box::pin(async { Ok(()) }));
    /// assert_eq!(m.names(), ["a"]);
    /// ```
    pub fn names(&self) -> Vec<&str> {
        self.steps.iter().map(|step| step.name.as_str()).collect()
    }
}
