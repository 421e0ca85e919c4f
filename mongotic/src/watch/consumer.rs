//! The durable consumer: a named reader of a change stream whose handler's effects and whose
//! checkpoint commit in one transaction.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bson::{Bson, DateTime, RawDocumentBuf, doc};
use mongodb::Namespace;
use mongodb::change_stream::event::ResumeToken;
use tokio::sync::{mpsc, watch as signal};
use tracing::Instrument;

use super::checkpoint::{Checkpoint, Checkpoints, DEFAULT_COLLECTION, Written};
use super::errors::is_retryable;
use super::event::{Event, decode, envelope};
use super::spans;
use super::statement::{Start, Watch, watch};
use super::stream::ChangeStream;
use crate::session::Attempts;
use crate::{Error, Model, Result, RetryPolicy, Session, SessionFactory};

/// How many events a batch (one transaction) holds at most, unless set.
const DEFAULT_BATCH: usize = 100;
/// How often a quiet stream's fresh token is written to the checkpoint at most, unless set.
const DEFAULT_REFRESH: Duration = Duration::from_secs(10);

/// A named, durable reader of a change stream over the collection of `M`.
///
/// [`run`](Consumer::run) handles the events in batches, each in one transaction: it moves the
/// consumer's checkpoint (the resume token after the batch, one document per consumer name in
/// a checkpoint collection) first, checking it is the one it read, then calls the handler for
/// each event with a [`Session`], flushes the session, and commits. The handler reads the
/// data as of the checkpoint it moves on from. So the effects of every event are applied exactly
/// once, whatever fails: a crash, a cancelled task, a dropped connection, a failover or a
/// server restart leaves either the batch's effects and its checkpoint, or neither, and the
/// next run resumes from the checkpoint.
///
/// - **Resuming.** A run starts from the checkpoint; a consumer without one starts where its
///   [`Watch`] says (now, by default) and writes its first checkpoint at once, so no event
///   after its first start is ever skipped.
/// - **Quiet streams.** The server's post-batch resume token is written to the checkpoint at
///   most every [`checkpoint_interval`](Consumer::checkpoint_interval) (10 s by default) while
///   no event comes, so a quiet consumer's token does not age out of the oplog.
/// - **A lost history** (the checkpoint is older than the oplog: code 286 or 280) ends the run
///   with [`Error::ChangeStreamHistoryLost`]; nothing is skipped silently. Then either
///   [`reset`](Consumer::reset) the consumer to start from now and accept the gap, or rebuild
///   what it feeds from the collection and then reset it.
/// - **Failures worth retrying** (network errors, failovers, restarts,
///   `TransientTransactionError`, resumable change stream errors) are retried under the
///   engine's [`RetryPolicy`] (or the consumer's own): a batch runs again in a new
///   transaction, a stream is opened again from the checkpoint, with exponential backoff. The
///   policy's limit counts from the first failure since the last success. Any other error
///   (the handler's included) ends the run, with the batch not committed.
/// - **Stopping.** [`stop`](Consumer::stop) (or a [`StopHandle`]) ends the run at the next
///   boundary: the current batch finishes and commits first. Dropping the run's future (or
///   aborting its task) is safe at any point: a batch cut short is never committed, and its
///   events are handled again by the next run.
/// - **One run at a time per name**: two runs of one consumer name (in two processes, say)
///   both stay correct, since each checkpoint write checks that the checkpoint is the one it
///   read and a run that finds it moved resumes from it; they only waste work.
///
/// The handler may run more than once for an event whose batch failed and was retried, each
/// time in a new transaction of which only one commits: its effects in the session and in
/// the database are exactly once, but effects outside the database (an e-mail sent, a call
/// to another service) are at least once. Write an outbox document in the session for those,
/// and send it from elsewhere.
///
/// **Without transactions** there is nothing to make the handler's effects and the
/// checkpoint atomic. Change streams need a replica set or a sharded cluster, which have
/// transactions; a consumer on an engine with [`TransactionMode::Never`](crate::TransactionMode)
/// refuses to run ([`Error::TransactionsUnavailable`]) rather than give a weaker promise
/// quietly. For at-least-once delivery without transactions, use a [`ChangeStream`] and store
/// its token yourself after your effects.
///
/// ```no_run
/// use mongotic::prelude::*;
/// use mongotic::watch::{Change, Consumer, watch};
///
/// #[derive(Debug, Serialize, Deserialize, Model)]
/// #[mongotic(database = "shop", collection = "orders")]
/// struct Order { #[serde(rename = "_id")] id: Option<ObjectId>, customer: String, total: f64 }
///
/// #[derive(Debug, Serialize, Deserialize, Model)]
/// #[mongotic(database = "shop", collection = "order_counts")]
/// struct OrderCount { #[serde(rename = "_id")] #[mongotic(id)] customer: String, orders: i64 }
///
/// # async fn demo(factory: SessionFactory) -> mongotic::Result<()> {
/// let consumer = Consumer::new(&factory, "order-counts").watch(watch::<Order>());
/// let stop = consumer.stop_handle();
/// let task = tokio::spawn(async move {
///     consumer
///         .run(async move |session, event| {
///             if let Change::Insert { document } = event.change() {
///                 match session.get::<OrderCount>(document.customer.as_str()).await? {
///                     Some(count) => count.write().orders += 1,
///                     None => {
///                         session.add(OrderCount { customer: document.customer.clone(), orders: 1 });
///                     }
///                 }
///             }
///             Ok(())
///         })
///         .await
/// });
/// // ... later, on shutdown:
/// stop.stop();
/// task.await.expect("the consumer's task")?;
/// # Ok(()) }
/// ```
pub struct Consumer<M> {
    factory: SessionFactory,
    name: String,
    watch: Watch<M>,
    checkpoint_database: Option<String>,
    checkpoint_collection: String,
    batch: usize,
    refresh: Duration,
    policy: Option<RetryPolicy>,
    undecodable: Undecodable,
    shared: Arc<Shared>,
}

/// What a consumer does with an event whose document does not deserialize into the model
/// ([`Error::UndecodableEvent`]).
///
/// ```
/// use mongotic::watch::Undecodable;
/// assert_eq!(Undecodable::default(), Undecodable::Stop);
/// let parked = Undecodable::DeadLetter("orders_dead_letters".into());
/// # let _ = parked;
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Undecodable {
    /// The run ends with the error, after committing the events before it: the checkpoint
    /// stays right before the event, so fixing the model (or the document) and running again
    /// goes on from it.
    #[default]
    Stop,
    /// The event is passed over (logged at `WARN`, target `mongotic::watch`) and the
    /// checkpoint moves past it with its batch.
    Skip,
    /// The raw change event is stored in this collection (of the checkpoints' database), in
    /// the batch's transaction, with the consumer's name, its token and the error; the
    /// checkpoint moves past it. Exactly once, like the handler's effects.
    DeadLetter(String),
}

/// Why a run ended without an error.
///
/// ```
/// assert_ne!(mongotic::watch::Stopped::Requested, mongotic::watch::Stopped::Invalidated);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Stopped {
    /// [`Consumer::stop`] or a [`StopHandle`] asked it to.
    Requested,
    /// The stream was invalidated (the collection was dropped or renamed); the handler saw
    /// the `invalidate` event and the checkpoint is after it.
    Invalidated,
}

/// How far behind its stream a consumer is, as [`Consumer::lag`] reads it.
///
/// ```
/// let lag = mongotic::watch::Lag::default();
/// assert_eq!((lag.events(), lag.time()), (0, std::time::Duration::ZERO));
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Lag {
    events: u64,
    time: Duration,
}

impl Lag {
    /// Events the consumer received and has not committed yet (the batch being handled and
    /// those fetched after it). Events the server has not sent yet are not counted.
    ///
    /// ```
    /// assert_eq!(mongotic::watch::Lag::default().events(), 0);
    /// ```
    pub fn events(&self) -> u64 {
        self.events
    }

    /// How long after its change the last committed event's effects were committed (by the
    /// server's wall time of the change and the client's clock); zero once the stream is
    /// quiet and every event received is committed.
    ///
    /// ```
    /// assert!(mongotic::watch::Lag::default().time().is_zero());
    /// ```
    pub fn time(&self) -> Duration {
        self.time
    }
}

/// Stops a consumer's run from anywhere (another task, a signal handler): cheap to clone,
/// `Send + Sync`. See [`Consumer::stop`].
///
/// ```no_run
/// # use mongotic::prelude::*;
/// # #[derive(Debug, Serialize, Deserialize, Model)]
/// # #[mongotic(database = "app", collection = "users")]
/// # struct User { #[serde(rename = "_id")] id: Option<ObjectId>, name: String }
/// # fn demo(consumer: &mongotic::watch::Consumer<User>) {
/// let stop = consumer.stop_handle();
/// std::thread::spawn(move || stop.stop());
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct StopHandle {
    shared: Arc<Shared>,
}

impl StopHandle {
    /// Asks the run to end at the next boundary (the current batch commits first); a run
    /// started later returns at once. Idempotent.
    ///
    /// ```no_run
    /// # fn demo(stop: mongotic::watch::StopHandle) {
    /// stop.stop();
    /// assert!(stop.is_stopped());
    /// # }
    /// ```
    pub fn stop(&self) {
        self.shared.stop.send_replace(true);
    }

    /// `true` once a stop was asked for.
    ///
    /// ```no_run
    /// # fn demo(stop: mongotic::watch::StopHandle) {
    /// if !stop.is_stopped() { stop.stop() }
    /// # }
    /// ```
    pub fn is_stopped(&self) -> bool {
        *self.shared.stop.borrow()
    }
}

#[derive(Debug)]
struct Shared {
    stop: signal::Sender<bool>,
    running: AtomicBool,
    lag_events: AtomicU64,
    lag_ms: AtomicU64,
    applied: AtomicU64,
}

/// Marks a run as running until dropped.
struct Running<'a>(&'a AtomicBool);

impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}

/// Aborts the stream's reader task when the run lets go of it (or is dropped).
struct Reader(tokio::task::JoinHandle<()>);

impl Drop for Reader {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// What the reader task hands the run.
enum Item {
    /// A change event, and the token after it.
    Event { raw: RawDocumentBuf, token: Option<ResumeToken> },
    /// The server had no event for now; its latest token.
    Quiet(Option<ResumeToken>),
    /// The stream failed.
    Failed(Error),
    /// The stream ended (invalidated).
    Ended,
}

/// Where the run stands: the checkpoint as this run last read or wrote it.
struct Position {
    sequence: i64,
    token: Option<ResumeToken>,
    written: Instant,
}

/// What the run does next.
enum Flow {
    Next,
    /// The checkpoint moved under the run, or the stream broke: open it again from the
    /// checkpoint.
    Reopen,
    Stop(Stopped),
}

/// A batch's handler: every event in turn, or the whole batch at once.
trait Handler<M: Model> {
    async fn handle(&mut self, session: &mut Session, events: Vec<Event<M>>, span: &Context<'_>) -> Result<()>;
}

/// What the handler's spans name.
struct Context<'a> {
    consumer: &'a str,
    namespace: &'a Namespace,
}

struct EachEvent<F>(F);

impl<M: Model, F: AsyncFnMut(&mut Session, Event<M>) -> Result<()>> Handler<M> for EachEvent<F> {
    async fn handle(&mut self, session: &mut Session, events: Vec<Event<M>>, cx: &Context<'_>) -> Result<()> {
        for event in events {
            let span = spans::handler(cx.consumer, cx.namespace, event.operation(), 1);
            let result = (self.0)(session, event).instrument(span.clone()).await;
            if let Err(err) = &result {
                spans::failed(&span, err);
            }
            result?;
        }
        Ok(())
    }
}

struct EachBatch<F>(F);

impl<M: Model, F: AsyncFnMut(&mut Session, Vec<Event<M>>) -> Result<()>> Handler<M> for EachBatch<F> {
    async fn handle(&mut self, session: &mut Session, events: Vec<Event<M>>, cx: &Context<'_>) -> Result<()> {
        let operation = events.first().map(|event| event.operation().to_owned()).unwrap_or_default();
        let span = spans::handler(cx.consumer, cx.namespace, &operation, events.len());
        let result = (self.0)(session, events).instrument(span.clone()).await;
        if let Err(err) = &result {
            spans::failed(&span, err);
        }
        result
    }
}

impl<M: Model> Consumer<M> {
    /// A consumer named `name` (its checkpoint's key) of every change of `M`'s collection,
    /// with sessions from `factory`. Replace the stream with [`watch`](Consumer::watch). No
    /// I/O.
    ///
    /// ```no_run
    /// # use mongotic::prelude::*;
    /// # #[derive(Debug, Serialize, Deserialize, Model)]
    /// # #[mongotic(database = "app", collection = "users")]
    /// # struct User { #[serde(rename = "_id")] id: Option<ObjectId>, name: String }
    /// # fn demo(factory: SessionFactory) {
    /// let consumer = mongotic::watch::Consumer::<User>::new(&factory, "search-index");
    /// assert_eq!(consumer.name(), "search-index");
    /// # }
    /// ```
    pub fn new(factory: &SessionFactory, name: &str) -> Consumer<M> {
        let (stop, _) = signal::channel(false);
        Consumer {
            factory: factory.clone(),
            name: name.to_owned(),
            watch: watch::<M>(),
            checkpoint_database: None,
            checkpoint_collection: DEFAULT_COLLECTION.to_owned(),
            batch: DEFAULT_BATCH,
            refresh: DEFAULT_REFRESH,
            policy: None,
            undecodable: Undecodable::Stop,
            shared: Arc::new(Shared {
                stop,
                running: AtomicBool::new(false),
                lag_events: AtomicU64::new(0),
                lag_ms: AtomicU64::new(0),
                applied: AtomicU64::new(0),
            }),
        }
    }

    /// The stream to consume: its filters, its document modes, and where a consumer without
    /// a checkpoint starts (`start_at`, `resume_after`; now by default). Once the consumer has
    /// a checkpoint, the checkpoint says where it starts.
    ///
    /// ```no_run
    /// # use mongotic::prelude::*;
    /// # #[derive(Debug, Serialize, Deserialize, Model)]
    /// # #[mongotic(database = "app", collection = "users")]
    /// # struct User { #[serde(rename = "_id")] id: Option<ObjectId>, name: String, age: Option<i32> }
    /// # fn demo(factory: SessionFactory) {
    /// use mongotic::watch::{Consumer, watch};
    /// let adults = Consumer::new(&factory, "adults").watch(watch::<User>().filter(User::age.gte(18)));
    /// # }
    /// ```
    pub fn watch(mut self, stream: Watch<M>) -> Self {
        self.watch = stream;
        self
    }

    /// Where checkpoints are kept: `collection` of `database` (by default
    /// `mongotic_checkpoints` in the watched model's database).
    ///
    /// ```no_run
    /// # use mongotic::prelude::*;
    /// # #[derive(Debug, Serialize, Deserialize, Model)]
    /// # #[mongotic(database = "app", collection = "users")]
    /// # struct User { #[serde(rename = "_id")] id: Option<ObjectId>, name: String }
    /// # fn demo(factory: SessionFactory) {
    /// let consumer = mongotic::watch::Consumer::<User>::new(&factory, "mail").checkpoints("ops", "checkpoints");
    /// # }
    /// ```
    pub fn checkpoints(mut self, database: &str, collection: &str) -> Self {
        self.checkpoint_database = Some(database.to_owned());
        self.checkpoint_collection = collection.to_owned();
        self
    }

    /// At most `events` events per batch, that is per transaction (100 by default; at least
    /// 1). A batch is what the server has sent and the consumer has not handled yet, so on a
    /// busy stream larger batches mean fewer commits.
    ///
    /// ```no_run
    /// # use mongotic::prelude::*;
    /// # #[derive(Debug, Serialize, Deserialize, Model)]
    /// # #[mongotic(database = "app", collection = "users")]
    /// # struct User { #[serde(rename = "_id")] id: Option<ObjectId>, name: String }
    /// # fn demo(factory: SessionFactory) {
    /// let one_by_one = mongotic::watch::Consumer::<User>::new(&factory, "audit").batch_size(1);
    /// # }
    /// ```
    pub fn batch_size(mut self, events: usize) -> Self {
        self.batch = events.max(1);
        self
    }

    /// How often at most a quiet stream's fresh token is written to the checkpoint (10 s by
    /// default). Shorter keeps the checkpoint closer to the present; each write is one
    /// `update`.
    ///
    /// ```no_run
    /// # use mongotic::prelude::*;
    /// # #[derive(Debug, Serialize, Deserialize, Model)]
    /// # #[mongotic(database = "app", collection = "users")]
    /// # struct User { #[serde(rename = "_id")] id: Option<ObjectId>, name: String }
    /// # fn demo(factory: SessionFactory) {
    /// use std::time::Duration;
    /// let consumer = mongotic::watch::Consumer::<User>::new(&factory, "x").checkpoint_interval(Duration::from_secs(60));
    /// # }
    /// ```
    pub fn checkpoint_interval(mut self, every: Duration) -> Self {
        self.refresh = every;
        self
    }

    /// How failures worth retrying are retried (the engine's policy by default).
    ///
    /// ```no_run
    /// # use mongotic::prelude::*;
    /// # #[derive(Debug, Serialize, Deserialize, Model)]
    /// # #[mongotic(database = "app", collection = "users")]
    /// # struct User { #[serde(rename = "_id")] id: Option<ObjectId>, name: String }
    /// # fn demo(factory: SessionFactory) {
    /// use std::time::Duration;
    /// let patient = mongotic::RetryPolicy::default().with_limit(Duration::from_secs(600));
    /// let consumer = mongotic::watch::Consumer::<User>::new(&factory, "x").retry_policy(patient);
    /// # }
    /// ```
    pub fn retry_policy(mut self, policy: RetryPolicy) -> Self {
        self.policy = Some(policy);
        self
    }

    /// What to do with an event whose document does not deserialize into the model; see
    /// [`Undecodable`] (the run stops, by default).
    ///
    /// ```no_run
    /// # use mongotic::prelude::*;
    /// # #[derive(Debug, Serialize, Deserialize, Model)]
    /// # #[mongotic(database = "app", collection = "users")]
    /// # struct User { #[serde(rename = "_id")] id: Option<ObjectId>, name: String }
    /// # fn demo(factory: SessionFactory) {
    /// use mongotic::watch::{Consumer, Undecodable};
    /// let consumer = Consumer::<User>::new(&factory, "x").on_undecodable(Undecodable::DeadLetter("users_dead".into()));
    /// # }
    /// ```
    pub fn on_undecodable(mut self, policy: Undecodable) -> Self {
        self.undecodable = policy;
        self
    }

    /// The consumer's name.
    ///
    /// ```no_run
    /// # use mongotic::prelude::*;
    /// # #[derive(Debug, Serialize, Deserialize, Model)]
    /// # #[mongotic(database = "app", collection = "users")]
    /// # struct User { #[serde(rename = "_id")] id: Option<ObjectId>, name: String }
    /// # fn demo(factory: SessionFactory) {
    /// assert_eq!(mongotic::watch::Consumer::<User>::new(&factory, "x").name(), "x");
    /// # }
    /// ```
    pub fn name(&self) -> &str {
        &self.name
    }

    /// A handle that stops this consumer's run; see [`StopHandle`].
    ///
    /// ```no_run
    /// # use mongotic::prelude::*;
    /// # #[derive(Debug, Serialize, Deserialize, Model)]
    /// # #[mongotic(database = "app", collection = "users")]
    /// # struct User { #[serde(rename = "_id")] id: Option<ObjectId>, name: String }
    /// # fn demo(consumer: mongotic::watch::Consumer<User>) {
    /// let stop = consumer.stop_handle();
    /// # }
    /// ```
    pub fn stop_handle(&self) -> StopHandle {
        StopHandle { shared: self.shared.clone() }
    }

    /// Asks the run to end at the next boundary: the batch being handled commits first, then
    /// [`run`](Consumer::run) returns `Ok(Stopped::Requested)`. Idempotent; a run started
    /// after it returns at once.
    ///
    /// ```no_run
    /// # use mongotic::prelude::*;
    /// # #[derive(Debug, Serialize, Deserialize, Model)]
    /// # #[mongotic(database = "app", collection = "users")]
    /// # struct User { #[serde(rename = "_id")] id: Option<ObjectId>, name: String }
    /// # fn demo(consumer: mongotic::watch::Consumer<User>) {
    /// consumer.stop();
    /// # }
    /// ```
    pub fn stop(&self) {
        self.stop_handle().stop();
    }

    /// How far behind its stream the consumer is; see [`Lag`]. Also recorded on every
    /// batch's span.
    ///
    /// ```no_run
    /// # use mongotic::prelude::*;
    /// # #[derive(Debug, Serialize, Deserialize, Model)]
    /// # #[mongotic(database = "app", collection = "users")]
    /// # struct User { #[serde(rename = "_id")] id: Option<ObjectId>, name: String }
    /// # fn demo(consumer: &mongotic::watch::Consumer<User>) {
    /// let lag = consumer.lag();
    /// println!("{} events, {:?} behind", lag.events(), lag.time());
    /// # }
    /// ```
    pub fn lag(&self) -> Lag {
        Lag {
            events: self.shared.lag_events.load(Ordering::Relaxed),
            time: Duration::from_millis(self.shared.lag_ms.load(Ordering::Relaxed)),
        }
    }

    /// How many events this consumer value's runs committed (the checkpoint counts all runs').
    ///
    /// ```no_run
    /// # use mongotic::prelude::*;
    /// # #[derive(Debug, Serialize, Deserialize, Model)]
    /// # #[mongotic(database = "app", collection = "users")]
    /// # struct User { #[serde(rename = "_id")] id: Option<ObjectId>, name: String }
    /// # fn demo(consumer: &mongotic::watch::Consumer<User>) {
    /// println!("{} applied", consumer.applied());
    /// # }
    /// ```
    pub fn applied(&self) -> u64 {
        self.shared.applied.load(Ordering::Relaxed)
    }

    /// The consumer's stored checkpoint, if it has one. One `find`.
    ///
    /// ```no_run
    /// # use mongotic::prelude::*;
    /// # #[derive(Debug, Serialize, Deserialize, Model)]
    /// # #[mongotic(database = "app", collection = "users")]
    /// # struct User { #[serde(rename = "_id")] id: Option<ObjectId>, name: String }
    /// # async fn demo(consumer: mongotic::watch::Consumer<User>) -> mongotic::Result<()> {
    /// let started = consumer.checkpoint().await?.is_some();
    /// # Ok(()) }
    /// ```
    pub async fn checkpoint(&self) -> Result<Option<Checkpoint>> {
        self.checkpoint_store()?.load().await
    }

    /// Deletes the consumer's checkpoint, so its next run starts where its [`Watch`] says
    /// (now, by default): after [`Error::ChangeStreamHistoryLost`], once what the consumer
    /// feeds is rebuilt (or the gap accepted). Returns whether there was one. Do not call it
    /// while the consumer runs.
    ///
    /// ```no_run
    /// # use mongotic::prelude::*;
    /// # #[derive(Debug, Serialize, Deserialize, Model)]
    /// # #[mongotic(database = "app", collection = "users")]
    /// # struct User { #[serde(rename = "_id")] id: Option<ObjectId>, name: String }
    /// # async fn demo(consumer: mongotic::watch::Consumer<User>) -> mongotic::Result<()> {
    /// match consumer.run(async move |_session, _event| Ok(())).await {
    ///     Err(err @ mongotic::Error::ChangeStreamHistoryLost { .. }) => {
    ///         eprintln!("{err}");
    ///         // rebuild the read model from the collection here, then:
    ///         consumer.reset().await?;
    ///     }
    ///     other => { other?; }
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn reset(&self) -> Result<bool> {
        self.checkpoint_store()?.delete().await
    }

    /// Runs the consumer until it is stopped: `handler` is called for each event with the
    /// batch's session, in order. See [`Consumer`] for what is guaranteed.
    ///
    /// `handler` is an async closure. For a run in a task of its own (`tokio::spawn`), write
    /// it `async move |session, event| ..`: it owns what it captures, and its future is
    /// `Send` when those are. Each batch gets a new session; do not keep its handles past the
    /// handler. The handler may run again for an event whose batch was retried (in a new
    /// transaction): keep its effects in the session (or in the database through it).
    ///
    /// Returns `Ok` once stopped ([`Stopped`]), or the error that ended the run (nothing of
    /// the failing batch committed). Calling it while another run of the same value is under
    /// way is [`Error::InvalidOptions`].
    ///
    /// ```no_run
    /// # use mongotic::prelude::*;
    /// # #[derive(Debug, Serialize, Deserialize, Model)]
    /// # #[mongotic(database = "app", collection = "users")]
    /// # struct User { #[serde(rename = "_id")] id: Option<ObjectId>, name: String }
    /// # async fn demo(consumer: mongotic::watch::Consumer<User>) -> mongotic::Result<()> {
    /// consumer
    ///     .run(async move |session, event| {
    ///         println!("{} {}", event.operation(), event.id());
    ///         Ok(())
    ///     })
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub async fn run<F>(&self, handler: F) -> Result<Stopped>
    where
        F: AsyncFnMut(&mut Session, Event<M>) -> Result<()>,
    {
        self.drive(&mut EachEvent(handler)).await
    }

    /// Like [`run`](Consumer::run), with `handler` called once per batch with all its events
    /// (at most [`batch_size`](Consumer::batch_size)), in order: for handlers that write in
    /// bulk.
    ///
    /// ```no_run
    /// # use mongotic::prelude::*;
    /// # #[derive(Debug, Serialize, Deserialize, Model)]
    /// # #[mongotic(database = "app", collection = "users")]
    /// # struct User { #[serde(rename = "_id")] id: Option<ObjectId>, name: String }
    /// # async fn demo(consumer: mongotic::watch::Consumer<User>) -> mongotic::Result<()> {
    /// consumer
    ///     .run_batches(async move |session, events| {
    ///         println!("{} events", events.len());
    ///         Ok(())
    ///     })
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub async fn run_batches<F>(&self, handler: F) -> Result<Stopped>
    where
        F: AsyncFnMut(&mut Session, Vec<Event<M>>) -> Result<()>,
    {
        self.drive(&mut EachBatch(handler)).await
    }

    fn checkpoint_store(&self) -> Result<Checkpoints> {
        let engine = self.factory.engine();
        let database = match &self.checkpoint_database {
            Some(database) => database.clone(),
            None => engine.namespace(M::meta())?.db,
        };
        Checkpoints::new(engine, &database, &self.checkpoint_collection, &self.name)
    }

    async fn drive<H: Handler<M>>(&self, handler: &mut H) -> Result<Stopped> {
        if self.shared.running.swap(true, Ordering::AcqRel) {
            return Err(Error::InvalidOptions {
                message: format!("the consumer `{}` is running already: one run at a time", self.name),
            });
        }
        let _running = Running(&self.shared.running);
        let mut stop = self.shared.stop.subscribe();
        if *stop.borrow() {
            return Ok(Stopped::Requested);
        }
        let engine = self.factory.engine();
        if engine.transaction_mode() == crate::TransactionMode::Never {
            return Err(Error::TransactionsUnavailable {
                reason: "a consumer commits its handler's effects with its checkpoint, and the engine's TransactionMode is Never",
            });
        }
        let namespace = engine.namespace(M::meta())?;
        let checkpoints = self.checkpoint_store()?;
        let policy = self.policy.unwrap_or(engine.retry_policy());
        let mut attempts = policy.start();
        loop {
            let opened = self.open(&checkpoints, &namespace).await;
            let (stream, mut position) = match opened {
                Ok(Some(opened)) => opened,
                Ok(None) => continue,
                Err(err) => match self.after_failure(err, &mut attempts, &mut stop).await? {
                    Some(stopped) => return Ok(stopped),
                    None => continue,
                },
            };
            let (sender, mut items) = mpsc::channel(self.batch.saturating_mul(2).max(16));
            let _reader = Reader(tokio::spawn(read(stream, sender)));
            let mut pending: VecDeque<Item> = VecDeque::new();
            let flow = loop {
                let item = match pending.pop_front() {
                    Some(item) => item,
                    None => tokio::select! {
                        biased;
                        _ = stop.wait_for(|stopped| *stopped) => break Flow::Stop(Stopped::Requested),
                        item = items.recv() => item.unwrap_or(Item::Failed(Error::UnexpectedReply {
                            message: "the change stream's reader ended".into(),
                        })),
                    },
                };
                match item {
                    Item::Event { raw, token } => {
                        let mut batch = vec![(raw, token)];
                        while batch.len() < self.batch {
                            match pending.pop_front().or_else(|| items.try_recv().ok()) {
                                Some(Item::Event { raw, token }) => batch.push((raw, token)),
                                Some(other) => {
                                    pending.push_front(other);
                                    break;
                                }
                                None => break,
                            }
                        }
                        let behind = batch.len() + pending.len() + items.len();
                        self.shared.lag_events.store(behind as u64, Ordering::Relaxed);
                        let cx = Context { consumer: &self.name, namespace: &namespace };
                        let flow = self
                            .commit(handler, &cx, batch, &mut pending, &mut position, &checkpoints, &mut stop, policy)
                            .await?;
                        match flow {
                            Flow::Next => attempts = policy.start(),
                            other => break other,
                        }
                    }
                    Item::Quiet(token) => {
                        if pending.is_empty() && items.is_empty() {
                            self.shared.lag_events.store(0, Ordering::Relaxed);
                            self.shared.lag_ms.store(0, Ordering::Relaxed);
                        }
                        if let Some(Flow::Reopen) = self.refresh(&checkpoints, &namespace, &mut position, token).await?
                        {
                            break Flow::Reopen;
                        }
                    }
                    Item::Failed(err) => match self.after_failure(err, &mut attempts, &mut stop).await? {
                        Some(stopped) => break Flow::Stop(stopped),
                        None => break Flow::Reopen,
                    },
                    Item::Ended => break Flow::Stop(Stopped::Invalidated),
                }
            };
            match flow {
                Flow::Stop(stopped) => return Ok(stopped),
                Flow::Reopen | Flow::Next => continue,
            }
        }
    }

    /// Reads the checkpoint and opens the stream after it; a consumer without one opens it
    /// where its statement says, and writes its first checkpoint at once (`None` when another
    /// run wrote one meanwhile: read it again).
    async fn open(
        &self,
        checkpoints: &Checkpoints,
        namespace: &Namespace,
    ) -> Result<Option<(ChangeStream<M>, Position)>> {
        let saved = checkpoints.load().await?;
        let name = namespace.to_string();
        if let Some(saved) = &saved
            && !saved.namespace.is_empty()
            && saved.namespace != name
        {
            return Err(Error::InvalidOptions {
                message: format!(
                    "the checkpoint of consumer `{}` is for {}, not {name}: give this consumer another name",
                    self.name, saved.namespace
                ),
            });
        }
        let start = match saved.as_ref().and_then(|saved| saved.token.clone()) {
            Some(token) => Start::ResumeAfter(token),
            None => self.watch.start.clone(),
        };
        let stream = self.watch.open_at(self.factory.engine(), &start).await.map_err(|err| self.named(err))?;
        let mut position = Position {
            sequence: saved.as_ref().map_or(0, |saved| saved.sequence),
            token: saved.and_then(|saved| saved.token),
            written: Instant::now(),
        };
        if position.token.is_none()
            && let Some(token) = stream.resume_token()
        {
            match checkpoints.advance(None, position.sequence, &token, 0, &name).await? {
                Written::Done => {
                    position.sequence += 1;
                    position.token = Some(token);
                }
                // Another run wrote it first: start from that one.
                Written::Moved => return Ok(None),
            }
        }
        Ok(Some((stream, position)))
    }

    /// Handles one batch and commits it with the checkpoint, retrying whole while the failure
    /// is worth it.
    #[allow(clippy::too_many_arguments)]
    async fn commit<H: Handler<M>>(
        &self,
        handler: &mut H,
        cx: &Context<'_>,
        mut batch: Vec<(RawDocumentBuf, Option<ResumeToken>)>,
        pending: &mut VecDeque<Item>,
        position: &mut Position,
        checkpoints: &Checkpoints,
        stop: &mut signal::Receiver<bool>,
        policy: RetryPolicy,
    ) -> Result<Flow> {
        let name = cx.namespace.to_string();
        // Decoded once up front, to find an undecodable event before anything runs.
        let mut first = Vec::with_capacity(batch.len());
        let mut letters: Vec<(usize, Error)> = Vec::new();
        for (index, (raw, _)) in batch.iter().enumerate() {
            match decode::<M>(raw.clone(), &name) {
                Ok(event) => first.push(event),
                Err(err @ Error::UndecodableEvent { .. }) => match &self.undecodable {
                    Undecodable::Stop if index == 0 => return Err(err),
                    Undecodable::Stop => {
                        // The events before it commit first; it comes back as the next batch.
                        for (raw, token) in batch.drain(index..).rev() {
                            pending.push_front(Item::Event { raw, token });
                        }
                        break;
                    }
                    Undecodable::Skip => {
                        tracing::warn!(target: "mongotic::watch", consumer = %self.name, error = %err, "passing over an event that does not match the model");
                        letters.push((index, err));
                    }
                    Undecodable::DeadLetter(_) => letters.push((index, err)),
                },
                Err(other) => return Err(other),
            }
        }
        let Some(token) = batch.last().and_then(|(raw, token)| {
            token.clone().or_else(|| envelope(raw, &name).ok().map(|(envelope, _)| envelope.token))
        }) else {
            return Ok(Flow::Next);
        };
        let wall = batch.last().and_then(|(raw, _)| envelope(raw, &name).ok()).and_then(|(envelope, _)| {
            envelope
                .wall_time
                .map(|time| time.timestamp_millis())
                .or_else(|| envelope.cluster_time.map(|time| i64::from(time.time) * 1000))
        });
        let span = spans::batch(&self.name, cx.namespace, batch.len());
        let count = batch.len() as i64;
        let mut attempts = policy.start();
        let mut tries = 0_u32;
        let mut decoded = Some(first);
        loop {
            tries += 1;
            let events = match decoded.take() {
                Some(events) => events,
                None => batch.iter().filter_map(|(raw, _)| decode::<M>(raw.clone(), &name).ok()).collect(),
            };
            let mut session = self.factory.session();
            let attempt =
                self.attempt(handler, cx, &mut session, events, &batch, &letters, position, checkpoints, &token, count);
            let result = attempt.instrument(span.clone()).await;
            match result {
                Ok(Written::Done) => {
                    position.sequence += 1;
                    position.token = Some(token);
                    position.written = Instant::now();
                    self.shared.applied.fetch_add(count as u64, Ordering::Relaxed);
                    let lag = wall.map_or(0, |wall| (DateTime::now().timestamp_millis() - wall).max(0) as u64);
                    self.shared.lag_ms.store(lag, Ordering::Relaxed);
                    let behind = pending.len() as u64;
                    self.shared.lag_events.store(behind, Ordering::Relaxed);
                    if !span.is_disabled() {
                        span.record("mongotic.attempts", tries);
                        span.record("mongotic.lag_ms", lag);
                        span.record("mongotic.lag_events", behind + count as u64);
                    }
                    return Ok(Flow::Next);
                }
                Ok(Written::Moved) => {
                    session.abort_on_server().await;
                    session.rollback();
                    span.record("mongotic.attempts", tries);
                    return Ok(Flow::Reopen);
                }
                Err(err) => {
                    session.abort_on_server().await;
                    session.rollback();
                    drop(session);
                    if !is_retryable(&err) {
                        spans::failed(&span, &err);
                        return Err(err);
                    }
                    tracing::debug!(target: "mongotic::watch", consumer = %self.name, error = %err, "the batch failed; trying it again");
                    match pause(&mut attempts, stop).await {
                        Pause::Again => continue,
                        Pause::Stopped => return Ok(Flow::Stop(Stopped::Requested)),
                        Pause::GiveUp => {
                            spans::failed(&span, &err);
                            return Err(err);
                        }
                    }
                }
            }
        }
    }

    /// One attempt at a batch: a transaction with the handler's effects, the dead letters and
    /// the checkpoint, committed unless the checkpoint moved.
    #[allow(clippy::too_many_arguments)]
    async fn attempt<H: Handler<M>>(
        &self,
        handler: &mut H,
        cx: &Context<'_>,
        session: &mut Session,
        events: Vec<Event<M>>,
        batch: &[(RawDocumentBuf, Option<ResumeToken>)],
        letters: &[(usize, Error)],
        position: &Position,
        checkpoints: &Checkpoints,
        token: &ResumeToken,
        count: i64,
    ) -> Result<Written> {
        session.begin().await?;
        // The checkpoint first: the transaction's snapshot starts with it, so the handler reads
        // the data as of this checkpoint, or nothing runs. A run killed mid-commit may commit
        // after the next run read its checkpoint: that next run's write then finds the checkpoint
        // moved (or conflicts with the commit in flight) before its handler runs.
        let driver = session.driver_session().await?;
        let written = checkpoints.advance(driver, position.sequence, token, count, &cx.namespace.to_string()).await?;
        if written == Written::Moved {
            return Ok(Written::Moved);
        }
        if !events.is_empty() {
            handler.handle(session, events, cx).await?;
        }
        if let Undecodable::DeadLetter(collection) = &self.undecodable
            && !letters.is_empty()
        {
            let database = checkpoints_database(self, cx.namespace);
            let target = self.factory.engine().client().database(&database).collection::<bson::Document>(collection);
            for (index, err) in letters {
                let Some((raw, _)) = batch.get(*index) else { continue };
                let (id, token) = match err {
                    Error::UndecodableEvent { id, token, .. } => (
                        id.as_deref().cloned().unwrap_or(Bson::Null),
                        bson::to_bson(token.as_ref()).unwrap_or(Bson::Null),
                    ),
                    _ => (Bson::Null, Bson::Null),
                };
                let letter = doc! {
                    "consumer": &self.name,
                    "namespace": cx.namespace.to_string(),
                    "documentId": id,
                    "token": token,
                    "error": err.to_string(),
                    "event": bson::Document::try_from(raw.as_ref()).unwrap_or_default(),
                    "at": DateTime::now(),
                };
                let driver = session.driver_session().await?;
                let insert = target.insert_one(letter);
                let inserted = match driver {
                    Some(driver) => insert.session(driver).await,
                    None => insert.await,
                };
                inserted.map_err(|err| Error::from_driver(err, collection, None))?;
            }
        }
        session.commit().await?;
        Ok(Written::Done)
    }

    /// On a quiet stream: writes the server's fresh token to the checkpoint when the last write
    /// is older than the interval.
    async fn refresh(
        &self,
        checkpoints: &Checkpoints,
        namespace: &Namespace,
        position: &mut Position,
        token: Option<ResumeToken>,
    ) -> Result<Option<Flow>> {
        let Some(token) = token else { return Ok(None) };
        if position.written.elapsed() < self.refresh || position.token.as_ref() == Some(&token) {
            return Ok(None);
        }
        match checkpoints.advance(None, position.sequence, &token, 0, &namespace.to_string()).await {
            Ok(Written::Done) => {
                position.sequence += 1;
                position.token = Some(token);
                position.written = Instant::now();
                Ok(None)
            }
            Ok(Written::Moved) => Ok(Some(Flow::Reopen)),
            // Best effort: the next quiet batch tries again.
            Err(err) if is_retryable(&err) => Ok(None),
            Err(err) => Err(err),
        }
    }

    /// After the stream failed: `Ok(None)` to open it again (once the backoff waited),
    /// `Ok(Some(..))` when stopped meanwhile, or the error when it is not worth retrying or the
    /// policy's time is up.
    async fn after_failure(
        &self,
        err: Error,
        attempts: &mut Attempts,
        stop: &mut signal::Receiver<bool>,
    ) -> Result<Option<Stopped>> {
        let err = self.named(err);
        if !is_retryable(&err) {
            return Err(err);
        }
        tracing::debug!(target: "mongotic::watch", consumer = %self.name, error = %err, "the change stream failed; opening it again");
        match pause(attempts, stop).await {
            Pause::Again => Ok(None),
            Pause::Stopped => Ok(Some(Stopped::Requested)),
            Pause::GiveUp => Err(err),
        }
    }

    /// `err` naming this consumer, when it is about its stream's history.
    fn named(&self, err: Error) -> Error {
        match err {
            Error::ChangeStreamHistoryLost { namespace, consumer: None, code, message } => {
                Error::ChangeStreamHistoryLost { namespace, consumer: Some(self.name.clone()), code, message }
            }
            other => other,
        }
    }
}

fn checkpoints_database<M: Model>(consumer: &Consumer<M>, watched: &Namespace) -> String {
    consumer.checkpoint_database.clone().unwrap_or_else(|| watched.db.clone())
}

/// What a wait between attempts came to.
enum Pause {
    Again,
    Stopped,
    GiveUp,
}

async fn pause(attempts: &mut Attempts, stop: &mut signal::Receiver<bool>) -> Pause {
    let Some(wait) = attempts.next_wait() else { return Pause::GiveUp };
    tokio::select! {
        biased;
        _ = stop.wait_for(|stopped| *stopped) => Pause::Stopped,
        () = tokio::time::sleep(wait) => Pause::Again,
    }
}

/// The reader task: fetches events ahead of the handler, so a batch is what has arrived.
async fn read<M: Model>(mut stream: ChangeStream<M>, items: mpsc::Sender<Item>) {
    loop {
        match stream.next_raw().await {
            Ok(Some(raw)) => {
                let token = stream.resume_token();
                if items.send(Item::Event { raw, token }).await.is_err() {
                    return;
                }
            }
            Ok(None) if !stream.is_alive() => {
                let _ = items.send(Item::Ended).await;
                return;
            }
            // A full queue already tells the run there is work; a quiet mark can wait.
            Ok(None) => match items.try_send(Item::Quiet(stream.resume_token())) {
                Ok(()) | Err(mpsc::error::TrySendError::Full(_)) => {}
                Err(mpsc::error::TrySendError::Closed(_)) => return,
            },
            Err(err) => {
                let _ = items.send(Item::Failed(err)).await;
                return;
            }
        }
    }
}

impl<M> std::fmt::Debug for Consumer<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Consumer").field("name", &self.name).field("watch", &self.watch).finish_non_exhaustive()
    }
}
