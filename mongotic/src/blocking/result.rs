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
/// # struct User { #[serde(rename = "_id")] id: Option<ObjectId>, name: String, age: Option<i32> }
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
    ///
    /// ```no_run
    /// # use mongotic::prelude::*;
    /// # #[derive(Debug, Clone, Serialize, Deserialize, Model)]
    /// # #[mongotic(database = "app", collection = "users")]
    /// # struct User { #[serde(rename = "_id")] id: Option<ObjectId>, name: String, age: Option<i32>, active: bool }
    /// # fn demo(mut session: mongotic::blocking::Session) -> mongotic::Result<()> {
    /// let adults = session.scalars(select::<User>().filter(User::age.gte(18))).all()?;
    /// # Ok(()) }
    /// ```
    pub fn all(self) -> Result<Vec<P::Output>> {
        self.runtime.block_on(self.inner.all())
    }

    /// See [`crate::ScalarResult::first`].
    ///
    /// ```no_run
    /// # use mongotic::prelude::*;
    /// # #[derive(Debug, Clone, Serialize, Deserialize, Model)]
    /// # #[mongotic(database = "app", collection = "users")]
    /// # struct User { #[serde(rename = "_id")] id: Option<ObjectId>, name: String, age: Option<i32>, active: bool }
    /// # fn demo(mut session: mongotic::blocking::Session) -> mongotic::Result<()> {
    /// let oldest = session.scalars(select::<User>().order_by(-User::age)).first()?;
    /// # Ok(()) }
    /// ```
    pub fn first(self) -> Result<Option<P::Output>> {
        self.runtime.block_on(self.inner.first())
    }

    /// See [`crate::ScalarResult::one`].
    ///
    /// ```no_run
    /// # use mongotic::prelude::*;
    /// # #[derive(Debug, Clone, Serialize, Deserialize, Model)]
    /// # #[mongotic(database = "app", collection = "users")]
    /// # struct User { #[serde(rename = "_id")] id: Option<ObjectId>, name: String, age: Option<i32>, active: bool }
    /// # fn demo(mut session: mongotic::blocking::Session) -> mongotic::Result<()> {
    /// let alice = session.scalars(select::<User>().filter(User::name.eq("Alice"))).one()?;
    /// # Ok(()) }
    /// ```
    pub fn one(self) -> Result<P::Output> {
        self.runtime.block_on(self.inner.one())
    }

    /// See [`crate::ScalarResult::one_or_none`].
    ///
    /// ```no_run
    /// # use mongotic::prelude::*;
    /// # #[derive(Debug, Clone, Serialize, Deserialize, Model)]
    /// # #[mongotic(database = "app", collection = "users")]
    /// # struct User { #[serde(rename = "_id")] id: Option<ObjectId>, name: String, age: Option<i32>, active: bool }
    /// # fn demo(mut session: mongotic::blocking::Session) -> mongotic::Result<()> {
    /// let maybe = session.scalars(select::<User>().filter(User::name.eq("Alice"))).one_or_none()?;
    /// # Ok(()) }
    /// ```
    pub fn one_or_none(self) -> Result<Option<P::Output>> {
        self.runtime.block_on(self.inner.one_or_none())
    }

    /// See [`crate::ScalarResult::count`].
    ///
    /// ```no_run
    /// # use mongotic::prelude::*;
    /// # #[derive(Debug, Clone, Serialize, Deserialize, Model)]
    /// # #[mongotic(database = "app", collection = "users")]
    /// # struct User { #[serde(rename = "_id")] id: Option<ObjectId>, name: String, age: Option<i32>, active: bool }
    /// # fn demo(mut session: mongotic::blocking::Session) -> mongotic::Result<()> {
    /// let active = session.scalars(select::<User>().filter(User::active.eq(true))).count()?;
    /// # Ok(()) }
    /// ```
    pub fn count(self) -> Result<u64> {
        self.runtime.block_on(self.inner.count())
    }

    /// See [`crate::ScalarResult::exists`].
    ///
    /// ```no_run
    /// # use mongotic::prelude::*;
    /// # #[derive(Debug, Clone, Serialize, Deserialize, Model)]
    /// # #[mongotic(database = "app", collection = "users")]
    /// # struct User { #[serde(rename = "_id")] id: Option<ObjectId>, name: String, age: Option<i32>, active: bool }
    /// # fn demo(mut session: mongotic::blocking::Session) -> mongotic::Result<()> {
    /// let any = session.scalars(select::<User>().filter(User::age.lt(18))).exists()?;
    /// # Ok(()) }
    /// ```
    pub fn exists(self) -> Result<bool> {
        self.runtime.block_on(self.inner.exists())
    }

    /// The values one by one, fetched batch by batch: the blocking counterpart of
    /// [`crate::ScalarResult::stream`].
    ///
    /// ```no_run
    /// # use mongotic::prelude::*;
    /// # #[derive(Debug, Clone, Serialize, Deserialize, Model)]
    /// # #[mongotic(database = "app", collection = "users")]
    /// # struct User { #[serde(rename = "_id")] id: Option<ObjectId>, name: String, age: Option<i32>, active: bool }
    /// # fn demo(mut session: mongotic::blocking::Session) -> mongotic::Result<()> {
    /// for user in session.scalars(select::<User>()).iter() {
    ///     println!("{}", user?.read().name);
    /// }
    /// # Ok(()) }
    /// ```
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
///
/// ```no_run
/// # use mongotic::prelude::*;
/// # #[derive(Debug, Clone, Serialize, Deserialize, Model)]
/// # #[mongotic(database = "app", collection = "users")]
/// # struct User { #[serde(rename = "_id")] id: Option<ObjectId>, name: String, age: Option<i32>, active: bool }
/// # fn demo(mut session: mongotic::blocking::Session) -> mongotic::Result<()> {
/// let names: Vec<String> = session.scalars(select::<User>().columns(User::name)).iter().collect::<Result<_, _>>()?;
/// # Ok(()) }
/// ```
pub struct Iter<'s, T> {
    stream: Option<BoxStream<'s, Result<T>>>,
    runtime: &'s Runtime,
}

impl<T> Iterator for Iter<'_, T> {
    type Item = Result<T>;

    fn next(&mut self) -> Option<Result<T>> {
        let stream = self.stream.as_mut()?;
        let item = self.runtime.block_on(stream.next());
        if !matches!(item, Some(Ok(_))) {
            self.stream = None;
        }
        item
    }
}

/// The blocking [`crate::SelectResult`]: an open cursor read to completion on demand.
///
/// ```no_run
/// # use mongotic::prelude::*;
/// # #[derive(Debug, Clone, Serialize, Deserialize, Model)]
/// # #[mongotic(database = "app", collection = "users")]
/// # struct User { #[serde(rename = "_id")] id: Option<ObjectId>, name: String, age: Option<i32>, active: bool }
/// # fn demo(mut session: mongotic::blocking::Session) -> mongotic::Result<()> {
/// let rows = session.execute(select::<User>().columns((User::name, User::age)))?.all()?;
/// # Ok(()) }
/// ```
pub struct SelectResult<'s, M, P: Projection<M>> {
    inner: crate::SelectResult<'s, M, P>,
    runtime: &'s Runtime,
}

impl<'s, M: Model, P: Projection<M>> SelectResult<'s, M, P> {
    /// See [`crate::SelectResult::next`].
    ///
    /// ```no_run
    /// # use mongotic::prelude::*;
    /// # #[derive(Debug, Clone, Serialize, Deserialize, Model)]
    /// # #[mongotic(database = "app", collection = "users")]
    /// # struct User { #[serde(rename = "_id")] id: Option<ObjectId>, name: String, age: Option<i32>, active: bool }
    /// # fn demo(mut session: mongotic::blocking::Session) -> mongotic::Result<()> {
    /// let mut result = session.execute(select::<User>().columns(User::name))?;
    /// while let Some(name) = result.next()? {
    ///     println!("{name}");
    /// }
    /// # Ok(()) }
    /// ```
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> Result<Option<P::Output>> {
        self.runtime.block_on(self.inner.next())
    }

    /// See [`crate::SelectResult::first`].
    ///
    /// ```no_run
    /// # use mongotic::prelude::*;
    /// # #[derive(Debug, Clone, Serialize, Deserialize, Model)]
    /// # #[mongotic(database = "app", collection = "users")]
    /// # struct User { #[serde(rename = "_id")] id: Option<ObjectId>, name: String, age: Option<i32>, active: bool }
    /// # fn demo(mut session: mongotic::blocking::Session) -> mongotic::Result<()> {
    /// let first: Option<String> = session.execute(select::<User>().columns(User::name))?.first()?;
    /// # Ok(()) }
    /// ```
    pub fn first(self) -> Result<Option<P::Output>> {
        self.runtime.block_on(self.inner.first())
    }

    /// See [`crate::SelectResult::all`].
    ///
    /// ```no_run
    /// # use mongotic::prelude::*;
    /// # #[derive(Debug, Clone, Serialize, Deserialize, Model)]
    /// # #[mongotic(database = "app", collection = "users")]
    /// # struct User { #[serde(rename = "_id")] id: Option<ObjectId>, name: String, age: Option<i32>, active: bool }
    /// # fn demo(mut session: mongotic::blocking::Session) -> mongotic::Result<()> {
    /// let names: Vec<String> = session.execute(select::<User>().columns(User::name))?.all()?;
    /// # Ok(()) }
    /// ```
    pub fn all(self) -> Result<Vec<P::Output>> {
        self.runtime.block_on(self.inner.all())
    }

    /// The values one by one.
    ///
    /// ```no_run
    /// # use mongotic::prelude::*;
    /// # #[derive(Debug, Clone, Serialize, Deserialize, Model)]
    /// # #[mongotic(database = "app", collection = "users")]
    /// # struct User { #[serde(rename = "_id")] id: Option<ObjectId>, name: String, age: Option<i32>, active: bool }
    /// # fn demo(mut session: mongotic::blocking::Session) -> mongotic::Result<()> {
    /// for name in session.execute(select::<User>().columns(User::name))?.iter() {
    ///     println!("{}", name?);
    /// }
    /// # Ok(()) }
    /// ```
    pub fn iter(self) -> Iter<'s, P::Output> {
        Iter { stream: Some(self.inner.stream()), runtime: self.runtime }
    }
}

impl<M: Model, P: ColumnProjection<M>> SelectResult<'_, M, P> {
    /// See [`crate::SelectResult::rows`].
    ///
    /// ```no_run
    /// # use mongotic::prelude::*;
    /// # #[derive(Debug, Clone, Serialize, Deserialize, Model)]
    /// # #[mongotic(database = "app", collection = "users")]
    /// # struct User { #[serde(rename = "_id")] id: Option<ObjectId>, name: String, age: Option<i32>, active: bool }
    /// # fn demo(mut session: mongotic::blocking::Session) -> mongotic::Result<()> {
    /// for row in session.execute(select::<User>().columns((User::name, User::age)))?.rows()? {
    ///     let name: String = row.get(0)?;
    /// }
    /// # Ok(()) }
    /// ```
    pub fn rows(self) -> Result<Vec<Row>> {
        self.runtime.block_on(self.inner.rows())
    }

    /// See [`crate::SelectResult::next_row`].
    ///
    /// ```no_run
    /// # use mongotic::prelude::*;
    /// # #[derive(Debug, Clone, Serialize, Deserialize, Model)]
    /// # #[mongotic(database = "app", collection = "users")]
    /// # struct User { #[serde(rename = "_id")] id: Option<ObjectId>, name: String, age: Option<i32>, active: bool }
    /// # fn demo(mut session: mongotic::blocking::Session) -> mongotic::Result<()> {
    /// let mut result = session.execute(select::<User>().columns((User::name, User::age)))?;
    /// let first_row = result.next_row()?;
    /// # Ok(()) }
    /// ```
    pub fn next_row(&mut self) -> Result<Option<Row>> {
        self.runtime.block_on(self.inner.next_row())
    }
}

/// How a result of the async [`Session::execute`](crate::Session::execute) appears in the
/// blocking API: open selects become blocking [`SelectResult`]s, finished results stay as
/// they are.
///
/// ```no_run
/// # use mongotic::prelude::*;
/// # #[derive(Debug, Clone, Serialize, Deserialize, Model)]
/// # #[mongotic(database = "app", collection = "users")]
/// # struct User { #[serde(rename = "_id")] id: Option<ObjectId>, name: String, age: Option<i32>, active: bool }
/// # fn demo(mut session: mongotic::blocking::Session) -> mongotic::Result<()> {
/// let written = session.execute(update::<User>().set(User::active, true))?; // a WriteResult as is
/// let open = session.execute(select::<User>().columns(User::name))?;     // a blocking SelectResult
/// # Ok(()) }
/// ```
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

impl<'s, Id> IntoBlocking<'s> for WriteResult<Id> {
    type Blocking = WriteResult<Id>;

    fn into_blocking(self, _runtime: &'s Runtime) -> WriteResult<Id> {
        self
    }
}

/// Results that are plain values already (lists, and the values of aggregates): the same in
/// the blocking API.
macro_rules! plain_results {
    ($([$($param:ident),*] $ty:ty),+ $(,)?) => {
        $(
            impl<'s, $($param),*> IntoBlocking<'s> for $ty {
                type Blocking = $ty;

                fn into_blocking(self, _runtime: &'s Runtime) -> $ty {
                    self
                }
            }
        )+
    };
}

plain_results!(
    [Id] crate::UpsertResult<Id>,
    [V] Vec<V>,
    [V] Option<V>,
    [] u64,
    [] i64,
    [] f64,
    [] bson::Decimal128,
    [] (),
    [A] (A,),
    [A, B] (A, B),
    [A, B, C] (A, B, C),
    [A, B, C, D] (A, B, C, D),
    [A, B, C, D, E] (A, B, C, D, E),
    [A, B, C, D, E, F] (A, B, C, D, E, F),
    [A, B, C, D, E, F, G] (A, B, C, D, E, F, G),
    [A, B, C, D, E, F, G, H] (A, B, C, D, E, F, G, H),
);
