//! Change streams: typed events of a model's collection, and a consumer whose effects happen
//! exactly once.
//!
//! - [`watch`] builds a [`Watch`] statement: typed filters on the changed document
//!   ([`Watch::filter`], on `fullDocument.<path>`) and on the kind of change
//!   ([`Watch::operations`]), compiled to the stream's `$match`. [`Watch::open`] gives a
//!   [`ChangeStream`] of [`Event`]s: an insert or a replacement carries the model value, an
//!   update the `_id` and the changed fields, typed by the model's descriptors
//!   ([`Updated::updated`]), and the document when asked for ([`FullDocument`]); a delete the
//!   `_id`. Pre-images ([`BeforeChange`]) where the collection keeps them
//!   ([`enable_pre_and_post_images`]). An event whose document no longer deserializes into
//!   the model is [`Error::UndecodableEvent`], with its resume
//!   token, and the stream goes on after it.
//! - [`Consumer`] runs a handler for each event (or batch) with a [`Session`](crate::Session)
//!   in a transaction that also moves the consumer's checkpoint, so after any crash the effects
//!   of every event are applied exactly once; it resumes from its checkpoint, keeps a quiet
//!   stream's token fresh, reports a token the server no longer has
//!   ([`Error::ChangeStreamHistoryLost`]), retries what
//!   is worth retrying under the engine's [`RetryPolicy`](crate::RetryPolicy), and stops
//!   cleanly ([`StopHandle`]). Its [`lag`](Consumer::lag) is on every batch's span too.
//! - [`Session::apply`](crate::Session::apply) brings a tracked entity in step with an event,
//!   without another read, for caches that follow a stream.
//!
//! Change streams need a replica set or a sharded cluster; a standalone server has none.
//!
//! # A read model kept in step with a collection
//!
//! Each customer's number of orders and total, in a collection of their own, updated by a
//! consumer from the orders' change stream. Every effect and the consumer's checkpoint commit
//! in one transaction, so the totals are never counted twice or missed, whatever crashes and
//! whenever the service restarts.
//!
//! ```no_run
//! use mongotic::prelude::*;
//! use mongotic::watch::{Change, Consumer, watch};
//!
//! #[derive(Debug, Clone, Serialize, Deserialize, Model)]
//! #[mongotic(database = "shop", collection = "orders")]
//! struct Order {
//!     #[serde(rename = "_id")]
//!     id: Option<ObjectId>,
//!     customer: String,
//!     total: f64,
//! }
//!
//! /// The read model: one document per customer.
//! #[derive(Debug, Serialize, Deserialize, Model)]
//! #[mongotic(database = "shop", collection = "customer_totals")]
//! struct CustomerTotal {
//!     #[serde(rename = "_id")]
//!     #[mongotic(id)]
//!     customer: String,
//!     orders: i64,
//!     total: f64,
//! }
//!
//! /// What the read model remembers of each order, to undo it when the order changes or goes.
//! #[derive(Debug, Serialize, Deserialize, Model)]
//! #[mongotic(database = "shop", collection = "customer_totals_orders")]
//! struct Counted {
//!     #[serde(rename = "_id")]
//!     #[mongotic(id)]
//!     order: ObjectId,
//!     customer: String,
//!     total: f64,
//! }
//!
//! /// Adds `sign` times the order to its customer's line.
//! async fn count(session: &mut Session, customer: &str, total: f64, sign: i64) -> mongotic::Result<()> {
//!     match session.get::<CustomerTotal>(customer).await? {
//!         Some(line) => {
//!             let mut line = line.write();
//!             line.orders += sign;
//!             line.total += sign as f64 * total;
//!         }
//!         None => {
//!             session.add(CustomerTotal { customer: customer.to_owned(), orders: sign, total: sign as f64 * total });
//!         }
//!     }
//!     Ok(())
//! }
//!
//! async fn apply(session: &mut Session, event: mongotic::watch::Event<Order>) -> mongotic::Result<()> {
//!     let order: ObjectId = event.model_id()?;
//!     // Undo what the read model counted for this order before, if anything.
//!     if let Some(counted) = session.get::<Counted>(order).await? {
//!         let (customer, total) = (counted.read().customer.clone(), counted.read().total);
//!         count(session, &customer, total, -1).await?;
//!         session.delete(&counted)?;
//!     }
//!     // Then count it as it is now.
//!     if let Some(now) = event.document() {
//!         count(session, &now.customer, now.total, 1).await?;
//!         session.merge(Counted { order, customer: now.customer.clone(), total: now.total })?;
//!     }
//!     Ok(())
//! }
//!
//! # async fn demo() -> mongotic::Result<()> {
//! let engine = create_engine("mongodb://localhost:27017/?replicaSet=rs0").await?;
//! let factory = sessionmaker(&engine);
//! // Updates carry the order as it is (`filter` would ask for that too).
//! let orders = watch::<Order>().full_document(mongotic::watch::FullDocument::UpdateLookup);
//! let consumer = Consumer::new(&factory, "customer-totals").watch(orders);
//! let stop = consumer.stop_handle();
//! let worker = tokio::spawn(async move {
//!     consumer
//!         .run(async move |session, event| match event.change() {
//!             Change::Collection { .. } => Ok(()),
//!             _ => apply(session, event).await,
//!         })
//!         .await
//! });
//! // On shutdown: the batch under way commits, then the run returns.
//! stop.stop();
//! worker.await.expect("the consumer's task")?;
//! # Ok(()) }
//! ```
//!
//! Run it again after a crash and it resumes from its checkpoint. If it was down for longer
//! than the server keeps its oplog, the run ends with
//! [`Error::ChangeStreamHistoryLost`]: rebuild the
//! totals from the orders (an aggregation), then [`Consumer::reset`] it to start from now.

mod apply;
mod checkpoint;
mod consumer;
mod errors;
mod event;
mod spans;
mod statement;
mod stream;

pub use apply::Applied;
pub use checkpoint::{Checkpoint, DEFAULT_COLLECTION};
pub use consumer::{Consumer, Lag, StopHandle, Stopped, Undecodable};
pub use event::{Change, Event, Updated};
pub use mongodb::change_stream::event::ResumeToken;
pub use statement::{BeforeChange, FullDocument, Operation, Watch, watch};
pub use stream::ChangeStream;

use bson::doc;

use crate::{Engine, Error, Model, Result};

/// Makes the collection of `M` keep pre- and post-images of its documents
/// (`changeStreamPreAndPostImages`), which streams asking for [`BeforeChange`] or
/// [`FullDocument::WhenAvailable`] then carry. Creates the collection if it does not exist.
/// Idempotent. The server keeps the images as long as its oplog (or its own expiry), in a
/// collection of its own: enabling them costs a write per change.
///
/// ```no_run
/// # use mongotic::prelude::*;
/// # #[derive(Debug, Serialize, Deserialize, Model)]
/// # #[mongotic(database = "app", collection = "users")]
/// # struct User { #[serde(rename = "_id")] id: Option<ObjectId>, name: String }
/// # async fn demo(engine: Engine) -> mongotic::Result<()> {
/// use mongotic::watch::{BeforeChange, enable_pre_and_post_images, watch};
/// enable_pre_and_post_images::<User>(&engine).await?;
/// let with_before = watch::<User>().before_change(BeforeChange::WhenAvailable).open(&engine).await?;
/// # Ok(()) }
/// ```
pub async fn enable_pre_and_post_images<M: Model>(engine: &Engine) -> Result<()> {
    engine.check_auth()?;
    let namespace = engine.namespace(M::meta())?;
    let database = engine.client().database(&namespace.db);
    let option = doc! { "enabled": true };
    let modified =
        database.run_command(doc! { "collMod": &namespace.coll, "changeStreamPreAndPostImages": option.clone() }).await;
    let name = namespace.to_string();
    match modified {
        Ok(_) => Ok(()),
        Err(err) => match Error::from_driver(err, &name, None) {
            // No such collection yet: created with the option.
            Error::Server { code: 26, .. } => database
                .run_command(doc! { "create": &namespace.coll, "changeStreamPreAndPostImages": option })
                .await
                .map(|_| ())
                .map_err(|err| Error::from_driver(err, &name, None)),
            other => Err(other),
        },
    }
}
