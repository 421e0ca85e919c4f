//! Blocking results: the async results driven to completion, and iterators in place of
//! streams.

use futures::StreamExt;
use futures::stream::BoxStream;

use super::runtime::Runtime;
use crate::statement::{ColumnProjection, Projection, Row, ScalarProjection, WriteResult};
use crate::{Model, Result};

/// The blocking [`crate::ScalarResult`]: the same terminal methods, plus plain iteration.
///
/// ```no_run
/// # use mongotic::prelude::*;
/// # #[derive(Debug, Serialize, Deserialize, Model)]
/// # #[mongotic(database = "app", collection = "users")]
/// # struct User { #[serde(rename = "_id", skip_serializing_if = "Option::is_none")] #[mongotic(id)] id: Option<ObjectId>, name: String, age: Option<i32> }
/// # fn demo(mut session: mongotic::blocking::Session) -> mongotic::Result<()> {
/// let adults = session.scalars(select::<User>().filter(User::age.gte(18))).all()?;
/// for user in session.scalars(select::<User>()) {
///     println!("{}", user?.read().name);
/// }
/// # Ok(()) }
/// ```
#[must_use = "a ScalarResult does nothing until one of its methods is called or it is iterated"]
pub struct ScalarResult<'s, M, P> {
    inner: crate::ScalarResult<'s, M, P>,
    runtime: &'s Runtime,
}

impl<'s, M: Model, P: ScalarProjection<M>> ScalarResult<'s, M, P> {
    pub(crate) fn new(inner: crate::ScalarResult<'s, M, P>, runtime: &'s Runtime) -> Self {
        ScalarResult { inner, runtime }
    }

    /// See [`crate::ScalarResult::all`].
    pub fn all(self) -> Result<Vec<P::Output>> {
        self.runtime.block_on(self.inner.all())?
    }

    /// See [`crate::ScalarResult::first`].
    pub fn first(self) -> Result<Option<P::Output>> {
        self.runtime.block_on(self.inner.first())?
    }

    /// See [`crate::ScalarResult::one`].
    pub fn one(self) -> Result<P::Output> {
        self.runtime.block_on(self.inner.one())?
    }

    /// See [`crate::ScalarResult::one_or_none`].
    pub fn one_or_none(self) -> Result<Option<P::Output>> {
        self.runtime.block_on(self.inner.one_or_none())?
    }

    /// See [`crate::ScalarResult::count`].
    pub fn count(self) -> Result<u64> {
        self.runtime.block_on(self.inner.count())?
    }

    /// See [`crate::ScalarResult::exists`].
    pub fn exists(self) -> Result<bool> {
        self.runtime.block_on(self.inner.exists())?
    }

    /// The values one by one, fetched batch by batch: the blocking counterpart of
    /// [`crate::ScalarResult::stream`].
    pub fn iter(self) -> Iter<'s, P::Output> {
        Iter { stream: Some(self.inner.stream()), runtime: self.runtime }
    }
}

impl<'s, M: Model, P: ScalarProjection<M>> IntoIterator for ScalarResult<'s, M, P> {
    type Item = Result<P::Output>;
    type IntoIter = Iter<'s, P::Output>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

/// An iterator over query results, each fetched on demand. Stops after the first error.
pub struct Iter<'s, T> {
    stream: Option<BoxStream<'s, Result<T>>>,
    runtime: &'s Runtime,
}

impl<T> Iterator for Iter<'_, T> {
    type Item = Result<T>;

    fn next(&mut self) -> Option<Result<T>> {
        let stream = self.stream.as_mut()?;
        let item = match self.runtime.block_on(stream.next()) {
            Ok(item) => item,
            Err(err) => Some(Err(err)),
        };
        if !matches!(item, Some(Ok(_))) {
            self.stream = None;
        }
        item
    }
}

/// The blocking [`crate::SelectResult`]: an open cursor read to completion on demand.
pub struct SelectResult<'s, M, P> {
    inner: crate::SelectResult<'s, M, P>,
    runtime: &'s Runtime,
}

impl<'s, M: Model, P: Projection<M>> SelectResult<'s, M, P> {
    /// See [`crate::SelectResult::next`].
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> Result<Option<P::Output>> {
        self.runtime.block_on(self.inner.next())?
    }

    /// See [`crate::SelectResult::all`].
    pub fn all(self) -> Result<Vec<P::Output>> {
        self.runtime.block_on(self.inner.all())?
    }

    /// The values one by one.
    pub fn iter(self) -> Iter<'s, P::Output> {
        Iter { stream: Some(self.inner.into_stream()), runtime: self.runtime }
    }
}

impl<M: Model, P: ColumnProjection<M>> SelectResult<'_, M, P> {
    /// See [`crate::SelectResult::rows`].
    pub fn rows(self) -> Result<Vec<Row>> {
        self.runtime.block_on(self.inner.rows())?
    }
}

/// How a result of the async [`Session::execute`](crate::Session::execute) appears in the
/// blocking API: open selects become blocking [`SelectResult`]s, finished results stay as
/// they are.
pub trait IntoBlocking<'s> {
    /// The blocking form.
    type Blocking;

    #[doc(hidden)]
    fn into_blocking(self, runtime: &'s Runtime) -> Self::Blocking;
}

impl<'s, M: Model, P: Projection<M>> IntoBlocking<'s> for crate::SelectResult<'s, M, P> {
    type Blocking = SelectResult<'s, M, P>;

    fn into_blocking(self, runtime: &'s Runtime) -> Self::Blocking {
        SelectResult { inner: self, runtime }
    }
}

impl<'s> IntoBlocking<'s> for WriteResult {
    type Blocking = WriteResult;

    fn into_blocking(self, _runtime: &'s Runtime) -> WriteResult {
        self
    }
}

impl<'s, V> IntoBlocking<'s> for Vec<V> {
    type Blocking = Vec<V>;

    fn into_blocking(self, _runtime: &'s Runtime) -> Vec<V> {
        self
    }
}
