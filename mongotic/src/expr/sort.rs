//! Sort keys for `Select::order_by`.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;
use std::ops::Neg;

use super::field::{Field, Shape};

/// One key of a sort order: a field of `M` and a direction.
///
/// Made by [`Field::asc`], [`Field::desc`] or `-Field`; a bare field sorts ascending.
///
/// ```
/// use mongotic::prelude::*;
/// use mongotic::bson::doc;
///
/// #[derive(Debug, Serialize, Deserialize, Model)]
/// #[mongotic(collection = "users")]
/// struct User { #[serde(rename = "_id")] #[mongotic(id)] id: i64, name: String, age: i32 }
///
/// let stmt = select::<User>().order_by((-User::age, User::name));
/// assert_eq!(stmt.compile().unwrap().sort, Some(doc! { "age": -1, "name": 1 }));
/// ```
pub struct SortKey<M> {
    pub(crate) path: Cow<'static, str>,
    pub(crate) direction: i32,
    _model: PhantomData<fn() -> M>,
}

impl<M> SortKey<M> {
    pub(crate) fn new(path: Cow<'static, str>, direction: i32) -> Self {
        SortKey { path, direction, _model: PhantomData }
    }
}

impl<M> Clone for SortKey<M> {
    fn clone(&self) -> Self {
        SortKey::new(self.path.clone(), self.direction)
    }
}

impl<M> fmt::Debug for SortKey<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SortKey({}: {})", self.path, self.direction)
    }
}

/// What `order_by` accepts: a [`SortKey`], a [`Field`] (ascending), a `Vec` of sort keys, or a
/// tuple of up to eight of these.
///
/// ```
/// # use mongotic::prelude::*;
/// # use mongotic::bson::doc;
/// # #[derive(Debug, Serialize, Deserialize, Model)]
/// # #[mongotic(collection = "users")]
/// # struct User { #[serde(rename = "_id")] #[mongotic(id)] id: i64, name: String, email: Option<String>, age: Option<i32>, tags: Vec<String> }
/// let stmt = select::<User>().order_by((User::age.desc(), User::name));
/// assert_eq!(stmt.compile().unwrap().sort, Some(doc! { "age": -1, "name": 1 }));
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a sort order for model `{M}`",
    label = "use a field of the model (`User::age`), `User::age.desc()`, `-User::age`, or a tuple of these"
)]
pub trait IntoSortKeys<M> {
    /// Appends the keys to `keys`, in order.
    fn push_keys(self, keys: &mut Vec<SortKey<M>>);
}

impl<M> IntoSortKeys<M> for SortKey<M> {
    fn push_keys(self, keys: &mut Vec<SortKey<M>>) {
        keys.push(self);
    }
}

// The sort orders of a field live here, beside `SortKey`: the field module knows nothing of
// sorting, so the two do not import each other.
impl<M, V, S: Shape> Field<M, V, S> {
    /// Sort by this field, smallest first.
    ///
    /// ```
    /// # use mongotic::prelude::*;
    /// # use mongotic::bson::doc;
    /// # #[derive(Debug, Serialize, Deserialize, Model)]
    /// # #[mongotic(collection = "users")]
    /// # struct User { #[serde(rename = "_id")] #[mongotic(id)] id: i64, name: String, email: Option<String>, age: Option<i32>, tags: Vec<String> }
    /// let stmt = select::<User>().order_by(User::name.asc());
    /// assert_eq!(stmt.compile().unwrap().sort, Some(doc! { "name": 1 }));
    /// ```
    pub fn asc(&self) -> SortKey<M> {
        SortKey::new(self.shared_path(), 1)
    }

    /// Sort by this field, largest first. `-User::age` is the same.
    ///
    /// ```
    /// # use mongotic::prelude::*;
    /// # use mongotic::bson::doc;
    /// # #[derive(Debug, Serialize, Deserialize, Model)]
    /// # #[mongotic(collection = "users")]
    /// # struct User { #[serde(rename = "_id")] #[mongotic(id)] id: i64, name: String, email: Option<String>, age: Option<i32>, tags: Vec<String> }
    /// let stmt = select::<User>().order_by(User::age.desc());
    /// assert_eq!(stmt.compile().unwrap().sort, Some(doc! { "age": -1 }));
    /// ```
    pub fn desc(&self) -> SortKey<M> {
        SortKey::new(self.shared_path(), -1)
    }
}

impl<M, V, S: Shape> Neg for Field<M, V, S> {
    type Output = SortKey<M>;

    /// Descending order: `.order_by(-User::age)`.
    fn neg(self) -> SortKey<M> {
        self.desc()
    }
}

impl<M, V, S: Shape> IntoSortKeys<M> for Field<M, V, S> {
    fn push_keys(self, keys: &mut Vec<SortKey<M>>) {
        keys.push(self.asc());
    }
}

impl<M> IntoSortKeys<M> for Vec<SortKey<M>> {
    fn push_keys(self, keys: &mut Vec<SortKey<M>>) {
        keys.extend(self);
    }
}

macro_rules! tuple_sort_keys {
    ($($name:ident),+) => {
        impl<M, $($name: IntoSortKeys<M>),+> IntoSortKeys<M> for ($($name,)+) {
            #[allow(non_snake_case)]
            fn push_keys(self, keys: &mut Vec<SortKey<M>>) {
                let ($($name,)+) = self;
                $($name.push_keys(keys);)+
            }
        }
    };
}

tuple_sort_keys!(A);
tuple_sort_keys!(A, B);
tuple_sort_keys!(A, B, C);
tuple_sort_keys!(A, B, C, D);
tuple_sort_keys!(A, B, C, D, E);
tuple_sort_keys!(A, B, C, D, E, F);
tuple_sort_keys!(A, B, C, D, E, F, G);
tuple_sort_keys!(A, B, C, D, E, F, G, H);
