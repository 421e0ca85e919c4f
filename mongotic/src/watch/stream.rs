//! A typed change stream: the driver's stream of raw change events, each decoded into an
//! [`Event`] of the model.

use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{Context, Poll};

use bson::RawDocumentBuf;
use futures::Stream;
use mongodb::change_stream::ChangeStream as DriverStream;
use mongodb::change_stream::event::ResumeToken;

use super::errors::stream_error;
use super::event::{Event, decode};
use super::statement::{Start, Watch};
use crate::{Engine, Model, Result};

/// An open change stream over the collection of `M`, made by [`Watch::open`].
///
/// Each item is one event: [`Event`], or the error of that event. An event whose document does
/// not deserialize into the model is [`Error::UndecodableEvent`](crate::Error::UndecodableEvent),
/// carrying its resume token, and the stream goes on with the next event. Any other error ends
/// the stream ([`is_alive`](ChangeStream::is_alive) is `false` then); open it again from
/// [`resume_token`](ChangeStream::resume_token). The driver resumes by itself once after a
/// network error or a failover.
///
/// A history the server no longer has (the token is older than its oplog) is
/// [`Error::ChangeStreamHistoryLost`](crate::Error::ChangeStreamHistoryLost).
///
/// ```no_run
/// # use mongotic::prelude::*;
/// # #[derive(Debug, Serialize, Deserialize, Model)]
/// # #[mongotic(database = "app", collection = "users")]
/// # struct User { #[serde(rename = "_id")] id: Option<ObjectId>, name: String }
/// # async fn demo(engine: Engine) -> mongotic::Result<()> {
/// use mongotic::watch::{Change, watch};
///
/// let mut stream = watch::<User>().open(&engine).await?;
/// while let Some(event) = stream.next().await {
///     match event {
///         Ok(event) => println!("{} {}", event.operation(), event.id()),
///         Err(mongotic::Error::UndecodableEvent { id, .. }) => eprintln!("skipping {id:?}"),
///         Err(other) => return Err(other),
///     }
/// }
/// # Ok(()) }
/// ```
pub struct ChangeStream<M> {
    inner: DriverStream<RawDocumentBuf>,
    namespace: String,
    _model: PhantomData<fn() -> M>,
}

impl<M: Model> Watch<M> {
    /// Opens the stream on `engine`: one `aggregate` with `$changeStream`.
    ///
    /// Errors: a standalone server has no change streams (the server's error), a token the
    /// server no longer has is [`Error::ChangeStreamHistoryLost`](crate::Error::ChangeStreamHistoryLost).
    ///
    /// ```no_run
    /// # use mongotic::prelude::*;
    /// # #[derive(Debug, Serialize, Deserialize, Model)]
    /// # #[mongotic(database = "app", collection = "users")]
    /// # struct User { #[serde(rename = "_id")] id: Option<ObjectId>, name: String }
    /// # async fn demo(engine: Engine) -> mongotic::Result<()> {
    /// let stream = mongotic::watch::watch::<User>().open(&engine).await?;
    /// # Ok(()) }
    /// ```
    pub async fn open(&self, engine: &Engine) -> Result<ChangeStream<M>> {
        self.open_at(engine, &self.start).await
    }

    /// Opens the stream at `start` instead of the statement's own start.
    pub(crate) async fn open_at(&self, engine: &Engine, start: &Start) -> Result<ChangeStream<M>> {
        engine.check_auth()?;
        let namespace = engine.namespace(M::meta())?;
        let name = namespace.to_string();
        let collection = engine.raw_collection(&namespace)?;
        let pipeline = self.pipeline()?;
        let opened = collection.watch().pipeline(pipeline).with_options(self.options(start)).await;
        match opened {
            Ok(stream) => {
                Ok(ChangeStream { inner: stream.with_type::<RawDocumentBuf>(), namespace: name, _model: PhantomData })
            }
            Err(err) => Err(stream_error(err, &name, None)),
        }
    }
}

impl<M: Model> ChangeStream<M> {
    /// The next event, waiting for one; `None` once the stream has ended (it was invalidated:
    /// the collection was dropped or renamed).
    ///
    /// ```no_run
    /// # use mongotic::prelude::*;
    /// # #[derive(Debug, Serialize, Deserialize, Model)]
    /// # #[mongotic(database = "app", collection = "users")]
    /// # struct User { #[serde(rename = "_id")] id: Option<ObjectId>, name: String }
    /// # async fn demo(mut stream: mongotic::watch::ChangeStream<User>) -> mongotic::Result<()> {
    /// if let Some(event) = stream.next().await {
    ///     println!("{}", event?.operation());
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn next(&mut self) -> Option<Result<Event<M>>> {
        futures::StreamExt::next(self).await
    }

    /// The next event if the server has one now: at most one round trip (a `getMore`, which
    /// waits up to the stream's [`max_await`](Watch::max_await)), `Ok(None)` when it returned
    /// nothing. After `Ok(None)` the [`resume_token`](ChangeStream::resume_token) is the
    /// server's latest (the post-batch token), so a quiet stream's token stays fresh.
    ///
    /// ```no_run
    /// # use mongotic::prelude::*;
    /// # #[derive(Debug, Serialize, Deserialize, Model)]
    /// # #[mongotic(database = "app", collection = "users")]
    /// # struct User { #[serde(rename = "_id")] id: Option<ObjectId>, name: String }
    /// # async fn demo(mut stream: mongotic::watch::ChangeStream<User>) -> mongotic::Result<()> {
    /// while stream.is_alive() {
    ///     match stream.next_if_any().await? {
    ///         Some(event) => println!("{}", event?.operation()),
    ///         None => println!("quiet; resume at {:?}", stream.resume_token()),
    ///     }
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn next_if_any(&mut self) -> Result<Option<Result<Event<M>>>> {
        match self.next_raw().await? {
            Some(raw) => Ok(Some(decode(raw, &self.namespace))),
            None => Ok(None),
        }
    }

    /// The next raw change event if the server has one now (see `next_if_any`).
    pub(crate) async fn next_raw(&mut self) -> Result<Option<RawDocumentBuf>> {
        self.inner.next_if_any().await.map_err(|err| stream_error(err, &self.namespace, None))
    }

    /// The token to resume after the last event returned, or after the server's latest batch
    /// when the stream has returned every event it fetched.
    ///
    /// ```no_run
    /// # use mongotic::prelude::*;
    /// # #[derive(Debug, Serialize, Deserialize, Model)]
    /// # #[mongotic(database = "app", collection = "users")]
    /// # struct User { #[serde(rename = "_id")] id: Option<ObjectId>, name: String }
    /// # async fn demo(stream: mongotic::watch::ChangeStream<User>) {
    /// let saved = stream.resume_token();
    /// # }
    /// ```
    pub fn resume_token(&self) -> Option<ResumeToken> {
        self.inner.resume_token()
    }

    /// `false` once the stream can give nothing more (invalidated, or ended by an error).
    ///
    /// ```no_run
    /// # use mongotic::prelude::*;
    /// # #[derive(Debug, Serialize, Deserialize, Model)]
    /// # #[mongotic(database = "app", collection = "users")]
    /// # struct User { #[serde(rename = "_id")] id: Option<ObjectId>, name: String }
    /// # async fn demo(stream: mongotic::watch::ChangeStream<User>) {
    /// assert!(stream.is_alive());
    /// # }
    /// ```
    pub fn is_alive(&self) -> bool {
        self.inner.is_alive()
    }

    /// `database.collection` watched.
    ///
    /// ```no_run
    /// # use mongotic::prelude::*;
    /// # #[derive(Debug, Serialize, Deserialize, Model)]
    /// # #[mongotic(database = "app", collection = "users")]
    /// # struct User { #[serde(rename = "_id")] id: Option<ObjectId>, name: String }
    /// # async fn demo(stream: mongotic::watch::ChangeStream<User>) {
    /// assert_eq!(stream.namespace(), "app.users");
    /// # }
    /// ```
    pub fn namespace(&self) -> &str {
        &self.namespace
    }
}

impl<M: Model> Stream for ChangeStream<M> {
    type Item = Result<Event<M>>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_next(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Ready(Some(Ok(raw))) => Poll::Ready(Some(decode(raw, &this.namespace))),
            Poll::Ready(Some(Err(err))) => Poll::Ready(Some(Err(stream_error(err, &this.namespace, None)))),
        }
    }
}

impl<M> std::fmt::Debug for ChangeStream<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChangeStream").field("namespace", &self.namespace).finish_non_exhaustive()
    }
}
