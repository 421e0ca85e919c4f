//! Which Rust values a query may compare with a field of a given type.
//!
//! The rules are carried by traits so the compiler enforces them: [`ValueOf<V>`] says "this
//! value can stand for a value of a field of type `V`", [`TextField`] marks the field types
//! that take the string operators, and [`ArrayField`] the ones that take the array operators.

use std::collections::{BTreeSet, HashSet};

use bson::Bson;
use serde::Serialize;

/// A value that can be compared with a field of type `V`.
///
/// A field of type `V` takes a `V`, a `&V`, and for an `Option<T>` field also a plain `T`
/// (`User::age.gte(18)` for an `age: Option<i32>`). A `String` field also takes `&str`.
/// Anything else is a compile error:
///
/// ```compile_fail
/// # use mongotic::prelude::*;
/// # #[derive(Debug, Serialize, Deserialize, Model)]
/// # #[mongotic(collection = "users")]
/// # struct User { #[serde(rename = "_id")] #[mongotic(id)] id: i64, age: Option<i32> }
/// let adults = User::age.gte("eighteen"); // a &str is not an Option<i32>
/// ```
///
/// ```
/// # use mongotic::prelude::*;
/// # #[derive(Debug, Serialize, Deserialize, Model)]
/// # #[mongotic(collection = "users")]
/// # struct User { #[serde(rename = "_id")] #[mongotic(id)] id: i64, name: String, age: Option<i32> }
/// let by_age = User::age.gte(18);
/// let by_name = User::name.eq("Alice");
/// let unset = User::age.eq(None);
/// # let _ = (by_age, by_name, unset);
/// ```
#[diagnostic::on_unimplemented(
    message = "a `{Self}` cannot be compared with a field of type `{V}`",
    label = "expected a value of the field's type `{V}`",
    note = "a field of type `V` takes a `V` or `&V`; an `Option<T>` field also takes a `T`, and a `String` field a `&str`"
)]
pub trait ValueOf<V: ?Sized> {
    /// The value as BSON, serialized the way the field itself is.
    fn into_bson(self) -> Result<Bson, bson::ser::Error>;
}

impl<T: Serialize> ValueOf<T> for T {
    fn into_bson(self) -> Result<Bson, bson::ser::Error> {
        bson::to_bson(&self)
    }
}

impl<T: Serialize> ValueOf<T> for &T {
    fn into_bson(self) -> Result<Bson, bson::ser::Error> {
        bson::to_bson(self)
    }
}

impl<T: Serialize> ValueOf<Option<T>> for T {
    fn into_bson(self) -> Result<Bson, bson::ser::Error> {
        bson::to_bson(&self)
    }
}

impl<T: Serialize> ValueOf<Option<T>> for &T {
    fn into_bson(self) -> Result<Bson, bson::ser::Error> {
        bson::to_bson(self)
    }
}

impl ValueOf<String> for &str {
    fn into_bson(self) -> Result<Bson, bson::ser::Error> {
        Ok(Bson::String(self.to_owned()))
    }
}

impl ValueOf<Option<String>> for &str {
    fn into_bson(self) -> Result<Bson, bson::ser::Error> {
        Ok(Bson::String(self.to_owned()))
    }
}

impl ValueOf<Option<String>> for Option<&str> {
    fn into_bson(self) -> Result<Bson, bson::ser::Error> {
        Ok(self.map_or(Bson::Null, |s| Bson::String(s.to_owned())))
    }
}

/// A field type that holds text: `String` or `Option<String>`. Such fields take the string
/// operators (`like`, `ilike`, `contains`, `starts_with`, `ends_with`).
///
/// ```
/// # use mongotic::prelude::*;
/// # use mongotic::bson::doc;
/// # #[derive(Debug, Serialize, Deserialize, Model)]
/// # #[mongotic(collection = "users")]
/// # struct User { #[serde(rename = "_id")] #[mongotic(id)] id: i64, name: String, email: Option<String>, age: Option<i32>, tags: Vec<String> }
/// let _ = User::name.like("A%");       // String
/// let _ = User::email.contains("@");    // Option<String>
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a text field",
    label = "string operators (like, contains, starts_with, ends_with) need a `String` or `Option<String>` field"
)]
pub trait TextField {}

impl TextField for String {}
impl TextField for Option<String> {}

/// A field type that holds an array of `Elem`: `Vec`, `HashSet`, `BTreeSet`, or an `Option` of
/// one. Such fields take the array operators (`has`, `has_all`, `has_any`, `has_size`).
///
/// ```
/// # use mongotic::prelude::*;
/// # use mongotic::bson::doc;
/// # #[derive(Debug, Serialize, Deserialize, Model)]
/// # #[mongotic(collection = "users")]
/// # struct User { #[serde(rename = "_id")] #[mongotic(id)] id: i64, name: String, email: Option<String>, age: Option<i32>, tags: Vec<String> }
/// let f = User::tags.has("rust");
/// assert_eq!(f.to_document().unwrap(), doc! { "tags": { "$eq": "rust" } });
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not an array field",
    label = "array operators (has, has_all, has_any, has_size) need a `Vec`, set, or `Option` of one"
)]
pub trait ArrayField {
    /// The element type.
    type Elem;
}

impl<E> ArrayField for Vec<E> {
    type Elem = E;
}
impl<E> ArrayField for Option<Vec<E>> {
    type Elem = E;
}
impl<E, S> ArrayField for HashSet<E, S> {
    type Elem = E;
}
impl<E, S> ArrayField for Option<HashSet<E, S>> {
    type Elem = E;
}
impl<E> ArrayField for BTreeSet<E> {
    type Elem = E;
}
impl<E> ArrayField for Option<BTreeSet<E>> {
    type Elem = E;
}
