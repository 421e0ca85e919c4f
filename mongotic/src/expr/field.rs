//! Field descriptors: the typed handles (`User::age`) that build filters, sorts, projections
//! and updates.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

use bson::Bson;

use super::filter::{Filter, Test, Value};
use super::pattern;
use super::value::{ArrayField, TextField, ValueOf};
use crate::model::{Embeds, HoldsVariant};

/// A field of model (or embedded struct) `M` whose Rust type is `V`.
///
/// The derive adds one per struct field as an associated constant with the field's name:
/// `User::age` is a `Field<User, Option<i32>>`. Its methods build [`Filter`]s whose values are
/// checked against `V` at compile time (see [`ValueOf`]); the path is the stored name, so
/// `#[serde(rename)]` and `rename_all` are honoured.
///
/// ```
/// use mongotic::prelude::*;
/// use mongotic::bson::doc;
///
/// #[derive(Debug, Serialize, Deserialize, Model)]
/// #[mongotic(collection = "users")]
/// #[serde(rename_all = "camelCase")]
/// struct User {
///     #[serde(rename = "_id")] #[mongotic(id)] id: i64,
///     display_name: String,
///     age: Option<i32>,
/// }
///
/// assert_eq!(User::display_name.path(), "displayName");
/// assert_eq!(User::age.between(18, 65).to_document().unwrap(),
///            doc! { "age": { "$gte": 18, "$lte": 65 } });
/// ```
pub struct Field<M, V, S = One> {
    path: Cow<'static, str>,
    _types: Types<M, V, S>,
}

/// The shape of a path made of three parts: this field's, the embedding's, the inner field's.
type Joined<Outer, Embedding, Inner> = <Outer as Shape>::Then<<Embedding as Shape>::Then<Inner>>;

/// The types a [`Field`] is about, without owning any of them.
type Types<M, V, S> = PhantomData<fn() -> (M, V, S)>;

/// The shape of a [`Field`] path: [`One`] value per document, or [`Many`] (the path goes
/// through an array of embedded documents, so it reaches one value per element).
///
/// ```
/// use mongotic::prelude::*;
/// use mongotic::expr::{Many, One};
///
/// #[derive(Debug, Serialize, Deserialize, Embedded)]
/// struct Line { sku: String }
///
/// #[derive(Debug, Serialize, Deserialize, Model)]
/// #[mongotic(collection = "orders")]
/// struct Order { #[serde(rename = "_id")] id: i64, note: String, lines: Vec<Line> }
///
/// let note: Field<Order, String, One> = Order::note;
/// let skus: Field<Order, String, Many> = Order::lines.dot(Line::sku);
/// # let _ = (note, skus);
/// ```
pub trait Shape: 'static {
    /// The shape of this path continued by a path of shape `Next`.
    type Then<Next: Shape>: Shape;
}

/// A path that reaches one value per document (the default shape of a [`Field`]).
///
/// ```
/// let _: Option<mongotic::expr::One> = None;
/// ```
#[derive(Debug)]
pub enum One {}

/// A path through an array of embedded documents: one value per element. A filter on it
/// matches when any element matches (as in MongoDB); a column select of it gives a `Vec` of
/// the values of every element.
///
/// ```
/// let _: Option<mongotic::expr::Many> = None;
/// ```
#[derive(Debug)]
pub enum Many {}

impl Shape for One {
    type Then<Next: Shape> = Next;
}

impl Shape for Many {
    type Then<Next: Shape> = Many;
}

impl<M, V> Field<M, V> {
    /// A descriptor for the stored field `path`. Used by the derive.
    #[doc(hidden)]
    pub const fn new(path: &'static str) -> Self {
        Field { path: Cow::Borrowed(path), _types: PhantomData }
    }

    /// A descriptor for the stored field `path`, made at run time (an untyped path).
    pub(crate) fn at(path: Cow<'static, str>) -> Self {
        Field { path, _types: PhantomData }
    }
}

impl<M, V, S: Shape> Field<M, V, S> {
    /// The stored path of the field (dotted for nested fields).
    ///
    /// ```
    /// # use mongotic::prelude::*;
    /// # use mongotic::bson::doc;
    /// # #[derive(Debug, Serialize, Deserialize, Model)]
    /// # #[mongotic(collection = "users")]
    /// # struct User { #[serde(rename = "_id")] #[mongotic(id)] id: i64, name: String, email: Option<String>, age: Option<i32>, tags: Vec<String> }
    /// assert_eq!(User::id.path(), "_id");
    /// ```
    pub fn path(&self) -> &str {
        &self.path
    }

    pub(crate) fn path_cow(&self) -> Cow<'static, str> {
        self.path.clone()
    }

    /// A field of an embedded struct inside this one, addressed by its dotted path.
    ///
    /// Works through `Option`, `Box` and `Vec`. Through a `Vec` the path has the [`Many`]
    /// shape: a filter matches when any element matches (as MongoDB does), and a column
    /// select of it gives the values of every element, as a `Vec`.
    ///
    /// ```
    /// use mongotic::prelude::*;
    ///
    /// #[derive(Debug, Serialize, Deserialize, Embedded)]
    /// struct Address { city: String }
    ///
    /// #[derive(Debug, Serialize, Deserialize, Model)]
    /// #[mongotic(collection = "users")]
    /// struct User {
    ///     #[serde(rename = "_id")] #[mongotic(id)] id: i64,
    ///     address: Option<Address>,
    /// }
    ///
    /// let in_paris = User::address.dot(Address::city).eq("Paris");
    /// assert_eq!(in_paris.to_document().unwrap(),
    ///            mongotic::bson::doc! { "address.city": { "$eq": "Paris" } });
    /// ```
    pub fn dot<E, W, T: Shape>(&self, inner: Field<E, W, T>) -> Field<M, W, Joined<S, V::Shape, T>>
    where
        V: Embeds<E>,
    {
        Field { path: Cow::Owned(format!("{}.{}", self.path, inner.path)), _types: PhantomData }
    }

    /// The embedded enum at this path holds the variant struct `E`: a filter on the enum's tag,
    /// `{"path.tag": {$eq: "E's tag"}}`. Through a `Vec` it matches when any element is that
    /// variant, as MongoDB does; `Option` and `Box` are looked through. Compiles only for a field
    /// whose enum (deriving [`Embedded`](macro@crate::Embedded)) has a variant holding `E`.
    ///
    /// ```
    /// use mongotic::prelude::*;
    /// use mongotic::bson::doc;
    ///
    /// #[derive(Debug, Serialize, Deserialize, Embedded)]
    /// struct Circle { radius: f64 }
    ///
    /// #[derive(Debug, Serialize, Deserialize, Embedded)]
    /// struct Square { side: f64 }
    ///
    /// #[derive(Debug, Serialize, Deserialize, Embedded)]
    /// #[serde(tag = "kind", rename_all = "lowercase")]
    /// enum Shape { Circle(Circle), Square(Square) }
    ///
    /// #[derive(Debug, Serialize, Deserialize, Model)]
    /// #[mongotic(collection = "drawings")]
    /// struct Drawing {
    ///     #[serde(rename = "_id")] #[mongotic(id)] id: i64,
    ///     shapes: Vec<Shape>,
    /// }
    ///
    /// let has_a_circle = Drawing::shapes.is::<Circle>();
    /// assert_eq!(has_a_circle.to_document().unwrap(), doc! { "shapes.kind": { "$eq": "circle" } });
    /// ```
    pub fn is<E>(&self) -> Filter<M>
    where
        V: HoldsVariant<E>,
    {
        let path = format!("{}.{}", self.path, V::TAG_FIELD);
        Filter::field(Cow::Owned(path), Test::Ops(vec![("$eq", Value::Bson(Bson::String(V::TAG.to_owned())))]))
    }

    /// The same path with the shape [`One`], for the statements that take one value per
    /// document (its uses decide what a path through an array means).
    pub(crate) fn as_one(&self) -> Field<M, V> {
        Field { path: self.path.clone(), _types: PhantomData }
    }

    fn test(&self, test: Test) -> Filter<M> {
        Filter::field(self.path.clone(), test)
    }

    fn op(&self, op: &'static str, value: impl ValueOf<V>) -> Filter<M> {
        self.test(Test::Ops(vec![(op, Value::from_result(value.into_bson()))]))
    }

    fn regex(&self, pattern: String, case_insensitive: bool) -> Filter<M> {
        let options = if case_insensitive { "si" } else { "s" };
        self.test(Test::Ops(vec![
            ("$regex", Value::Bson(Bson::String(pattern))),
            ("$options", Value::Bson(Bson::String(options.into()))),
        ]))
    }

    /// Equal to `value`: `{f: {$eq: value}}`.
    ///
    /// ```
    /// # use mongotic::prelude::*;
    /// # use mongotic::bson::doc;
    /// # #[derive(Debug, Serialize, Deserialize, Model)]
    /// # #[mongotic(collection = "users")]
    /// # struct User { #[serde(rename = "_id")] #[mongotic(id)] id: i64, name: String, email: Option<String>, age: Option<i32>, tags: Vec<String> }
    /// assert_eq!(User::name.eq("Ann").to_document().unwrap(), doc! { "name": { "$eq": "Ann" } });
    /// ```
    pub fn eq(&self, value: impl ValueOf<V>) -> Filter<M> {
        self.op("$eq", value)
    }

    /// Not equal to `value` (missing fields match too): `{f: {$ne: value}}`.
    ///
    /// ```
    /// # use mongotic::prelude::*;
    /// # use mongotic::bson::doc;
    /// # #[derive(Debug, Serialize, Deserialize, Model)]
    /// # #[mongotic(collection = "users")]
    /// # struct User { #[serde(rename = "_id")] #[mongotic(id)] id: i64, name: String, email: Option<String>, age: Option<i32>, tags: Vec<String> }
    /// assert_eq!(User::name.ne("Ann").to_document().unwrap(), doc! { "name": { "$ne": "Ann" } });
    /// ```
    pub fn ne(&self, value: impl ValueOf<V>) -> Filter<M> {
        self.op("$ne", value)
    }

    /// Greater than `value`: `$gt`.
    ///
    /// ```
    /// # use mongotic::prelude::*;
    /// # use mongotic::bson::doc;
    /// # #[derive(Debug, Serialize, Deserialize, Model)]
    /// # #[mongotic(collection = "users")]
    /// # struct User { #[serde(rename = "_id")] #[mongotic(id)] id: i64, name: String, email: Option<String>, age: Option<i32>, tags: Vec<String> }
    /// assert_eq!(User::age.gt(30).to_document().unwrap(), doc! { "age": { "$gt": 30 } });
    /// ```
    pub fn gt(&self, value: impl ValueOf<V>) -> Filter<M> {
        self.op("$gt", value)
    }

    /// Greater than or equal to `value`: `$gte`.
    ///
    /// ```
    /// # use mongotic::prelude::*;
    /// # use mongotic::bson::doc;
    /// # #[derive(Debug, Serialize, Deserialize, Model)]
    /// # #[mongotic(collection = "users")]
    /// # struct User { #[serde(rename = "_id")] #[mongotic(id)] id: i64, name: String, email: Option<String>, age: Option<i32>, tags: Vec<String> }
    /// assert_eq!(User::age.gte(18).to_document().unwrap(), doc! { "age": { "$gte": 18 } });
    /// ```
    pub fn gte(&self, value: impl ValueOf<V>) -> Filter<M> {
        self.op("$gte", value)
    }

    /// Less than `value`: `$lt`.
    ///
    /// ```
    /// # use mongotic::prelude::*;
    /// # use mongotic::bson::doc;
    /// # #[derive(Debug, Serialize, Deserialize, Model)]
    /// # #[mongotic(collection = "users")]
    /// # struct User { #[serde(rename = "_id")] #[mongotic(id)] id: i64, name: String, email: Option<String>, age: Option<i32>, tags: Vec<String> }
    /// assert_eq!(User::age.lt(65).to_document().unwrap(), doc! { "age": { "$lt": 65 } });
    /// ```
    pub fn lt(&self, value: impl ValueOf<V>) -> Filter<M> {
        self.op("$lt", value)
    }

    /// Less than or equal to `value`: `$lte`.
    ///
    /// ```
    /// # use mongotic::prelude::*;
    /// # use mongotic::bson::doc;
    /// # #[derive(Debug, Serialize, Deserialize, Model)]
    /// # #[mongotic(collection = "users")]
    /// # struct User { #[serde(rename = "_id")] #[mongotic(id)] id: i64, name: String, email: Option<String>, age: Option<i32>, tags: Vec<String> }
    /// assert_eq!(User::age.lte(65).to_document().unwrap(), doc! { "age": { "$lte": 65 } });
    /// ```
    pub fn lte(&self, value: impl ValueOf<V>) -> Filter<M> {
        self.op("$lte", value)
    }

    /// Between `low` and `high`, both included: `{f: {$gte: low, $lte: high}}`.
    ///
    /// ```
    /// # use mongotic::prelude::*;
    /// # use mongotic::bson::doc;
    /// # #[derive(Debug, Serialize, Deserialize, Model)]
    /// # #[mongotic(collection = "users")]
    /// # struct User { #[serde(rename = "_id")] #[mongotic(id)] id: i64, name: String, email: Option<String>, age: Option<i32>, tags: Vec<String> }
    /// assert_eq!(User::age.between(18, 65).to_document().unwrap(), doc! { "age": { "$gte": 18, "$lte": 65 } });
    /// ```
    pub fn between(&self, low: impl ValueOf<V>, high: impl ValueOf<V>) -> Filter<M> {
        self.test(Test::Ops(vec![
            ("$gte", Value::from_result(low.into_bson())),
            ("$lte", Value::from_result(high.into_bson())),
        ]))
    }

    /// One of `values`: `$in`.
    ///
    /// ```
    /// # use mongotic::prelude::*;
    /// # #[derive(Debug, Serialize, Deserialize, Model)]
    /// # #[mongotic(collection = "users")]
    /// # struct User { #[serde(rename = "_id")] #[mongotic(id)] id: i64, name: String }
    /// let f = User::name.in_(["Alice", "Bob"]);
    /// assert_eq!(f.to_document().unwrap(),
    ///            mongotic::bson::doc! { "name": { "$in": ["Alice", "Bob"] } });
    /// ```
    pub fn in_<T: ValueOf<V>>(&self, values: impl IntoIterator<Item = T>) -> Filter<M> {
        self.test(Test::Ops(vec![("$in", collect_array(values))]))
    }

    /// None of `values` (missing fields match too): `$nin`.
    ///
    /// ```
    /// # use mongotic::prelude::*;
    /// # use mongotic::bson::doc;
    /// # #[derive(Debug, Serialize, Deserialize, Model)]
    /// # #[mongotic(collection = "users")]
    /// # struct User { #[serde(rename = "_id")] #[mongotic(id)] id: i64, name: String, email: Option<String>, age: Option<i32>, tags: Vec<String> }
    /// assert_eq!(User::age.not_in([1, 2]).to_document().unwrap(), doc! { "age": { "$nin": [1, 2] } });
    /// ```
    pub fn not_in<T: ValueOf<V>>(&self, values: impl IntoIterator<Item = T>) -> Filter<M> {
        self.test(Test::Ops(vec![("$nin", collect_array(values))]))
    }

    /// Null or missing, as MongoDB means it: `{f: null}`.
    ///
    /// ```
    /// # use mongotic::prelude::*;
    /// # use mongotic::bson::doc;
    /// # #[derive(Debug, Serialize, Deserialize, Model)]
    /// # #[mongotic(collection = "users")]
    /// # struct User { #[serde(rename = "_id")] #[mongotic(id)] id: i64, name: String, email: Option<String>, age: Option<i32>, tags: Vec<String> }
    /// assert_eq!(User::email.is_null().to_document().unwrap(), doc! { "email": null });
    /// ```
    pub fn is_null(&self) -> Filter<M> {
        self.test(Test::IsNull)
    }

    /// Present and not null: `{f: {$ne: null}}`.
    ///
    /// ```
    /// # use mongotic::prelude::*;
    /// # use mongotic::bson::doc;
    /// # #[derive(Debug, Serialize, Deserialize, Model)]
    /// # #[mongotic(collection = "users")]
    /// # struct User { #[serde(rename = "_id")] #[mongotic(id)] id: i64, name: String, email: Option<String>, age: Option<i32>, tags: Vec<String> }
    /// assert_eq!(User::email.is_not_null().to_document().unwrap(), doc! { "email": { "$ne": null } });
    /// ```
    pub fn is_not_null(&self) -> Filter<M> {
        self.test(Test::Ops(vec![("$ne", Value::Bson(Bson::Null))]))
    }

    /// Present (even if null) or absent: `{f: {$exists: exists}}`.
    ///
    /// ```
    /// # use mongotic::prelude::*;
    /// # use mongotic::bson::doc;
    /// # #[derive(Debug, Serialize, Deserialize, Model)]
    /// # #[mongotic(collection = "users")]
    /// # struct User { #[serde(rename = "_id")] #[mongotic(id)] id: i64, name: String, email: Option<String>, age: Option<i32>, tags: Vec<String> }
    /// assert_eq!(User::email.exists(false).to_document().unwrap(), doc! { "email": { "$exists": false } });
    /// ```
    pub fn exists(&self, exists: bool) -> Filter<M> {
        self.test(Test::Ops(vec![("$exists", Value::Bson(Bson::Boolean(exists)))]))
    }

    /// The stored path, shared (no copy for a declared field's static path).
    pub(crate) fn shared_path(&self) -> Cow<'static, str> {
        self.path.clone()
    }
}

fn collect_array<V, T: ValueOf<V>>(values: impl IntoIterator<Item = T>) -> Value {
    let values: Result<Vec<Bson>, _> = values.into_iter().map(ValueOf::into_bson).collect();
    Value::from_result(values.map(Bson::Array))
}

/// String operators, for `String` and `Option<String>` fields, compiled to `$regex`.
///
/// The text is always data, never regex syntax:
/// - every ASCII punctuation character is escaped with a backslash (more than the regex
///   metacharacters: escaping a character that needs none is harmless, and no input can
///   become syntax), and control characters are written as `\xHH`;
/// - in `like`/`ilike` patterns only `%` (any run of characters) and `_` (one character) are
///   wildcards, and `\` makes the next character literal;
/// - a whole-value match is anchored with `^` and `\z` (not `$`, which would also match before
///   a final newline), and every pattern has the `s` option, so `%` and `_` match newlines.
///
/// `ilike` adds the `i` option: the server folds case by Unicode rules, so `"i"` also matches
/// `"İ"` (capital I with a dot). For an exact, index-friendly case-insensitive match, use a
/// collation or store a lowered copy of the field.
impl<M, V: TextField, S: Shape> Field<M, V, S> {
    /// SQL `LIKE`: `%` matches any run of characters, `_` exactly one, `\` makes the next
    /// character literal; the whole value must match.
    ///
    /// ```
    /// # use mongotic::prelude::*;
    /// # #[derive(Debug, Serialize, Deserialize, Model)]
    /// # #[mongotic(collection = "users")]
    /// # struct User { #[serde(rename = "_id")] #[mongotic(id)] id: i64, name: String }
    /// let f = User::name.like("Al%");
    /// assert_eq!(f.to_document().unwrap(),
    ///            mongotic::bson::doc! { "name": { "$regex": r"^Al.*\z", "$options": "s" } });
    /// ```
    pub fn like(&self, pattern: &str) -> Filter<M> {
        self.regex(pattern::like(pattern), false)
    }

    /// `like`, ignoring case.
    ///
    /// ```
    /// # use mongotic::prelude::*;
    /// # use mongotic::bson::doc;
    /// # #[derive(Debug, Serialize, Deserialize, Model)]
    /// # #[mongotic(collection = "users")]
    /// # struct User { #[serde(rename = "_id")] #[mongotic(id)] id: i64, name: String, email: Option<String>, age: Option<i32>, tags: Vec<String> }
    /// let f = User::name.ilike("al%");
    /// assert_eq!(f.to_document().unwrap(), doc! { "name": { "$regex": r"^al.*\z", "$options": "si" } });
    /// ```
    pub fn ilike(&self, pattern: &str) -> Filter<M> {
        self.regex(pattern::like(pattern), true)
    }

    /// Contains `text` anywhere.
    ///
    /// ```
    /// # use mongotic::prelude::*;
    /// # use mongotic::bson::doc;
    /// # #[derive(Debug, Serialize, Deserialize, Model)]
    /// # #[mongotic(collection = "users")]
    /// # struct User { #[serde(rename = "_id")] #[mongotic(id)] id: i64, name: String, email: Option<String>, age: Option<i32>, tags: Vec<String> }
    /// let f = User::name.contains("a.b");
    /// assert_eq!(f.to_document().unwrap(), doc! { "name": { "$regex": r"a\.b", "$options": "s" } });
    /// ```
    pub fn contains(&self, text: &str) -> Filter<M> {
        self.regex(pattern::contains(text), false)
    }

    /// Starts with `text`.
    ///
    /// ```
    /// # use mongotic::prelude::*;
    /// # use mongotic::bson::doc;
    /// # #[derive(Debug, Serialize, Deserialize, Model)]
    /// # #[mongotic(collection = "users")]
    /// # struct User { #[serde(rename = "_id")] #[mongotic(id)] id: i64, name: String, email: Option<String>, age: Option<i32>, tags: Vec<String> }
    /// let f = User::name.starts_with("Al");
    /// assert_eq!(f.to_document().unwrap(), doc! { "name": { "$regex": "^Al", "$options": "s" } });
    /// ```
    pub fn starts_with(&self, text: &str) -> Filter<M> {
        self.regex(pattern::starts_with(text), false)
    }

    /// Ends with `text`.
    ///
    /// ```
    /// # use mongotic::prelude::*;
    /// # use mongotic::bson::doc;
    /// # #[derive(Debug, Serialize, Deserialize, Model)]
    /// # #[mongotic(collection = "users")]
    /// # struct User { #[serde(rename = "_id")] #[mongotic(id)] id: i64, name: String, email: Option<String>, age: Option<i32>, tags: Vec<String> }
    /// let f = User::email.ends_with(".io");
    /// assert_eq!(f.to_document().unwrap(), doc! { "email": { "$regex": r"\.io\z", "$options": "s" } });
    /// ```
    pub fn ends_with(&self, text: &str) -> Filter<M> {
        self.regex(pattern::ends_with(text), false)
    }
}

/// Array operators, for `Vec`, set and `Option` of those fields.
impl<M, V: ArrayField, S: Shape> Field<M, V, S> {
    /// The array holds `value`: `{f: value}`.
    ///
    /// ```
    /// # use mongotic::prelude::*;
    /// # #[derive(Debug, Serialize, Deserialize, Model)]
    /// # #[mongotic(collection = "posts")]
    /// # struct Post { #[serde(rename = "_id")] #[mongotic(id)] id: i64, tags: Vec<String> }
    /// let f = Post::tags.has("rust");
    /// assert_eq!(f.to_document().unwrap(), mongotic::bson::doc! { "tags": { "$eq": "rust" } });
    /// ```
    pub fn has(&self, value: impl ValueOf<V::Elem>) -> Filter<M> {
        self.test(Test::Ops(vec![("$eq", Value::from_result(value.into_bson()))]))
    }

    /// The array holds every one of `values`: `$all`.
    ///
    /// ```
    /// # use mongotic::prelude::*;
    /// # use mongotic::bson::doc;
    /// # #[derive(Debug, Serialize, Deserialize, Model)]
    /// # #[mongotic(collection = "users")]
    /// # struct User { #[serde(rename = "_id")] #[mongotic(id)] id: i64, name: String, email: Option<String>, age: Option<i32>, tags: Vec<String> }
    /// let f = User::tags.has_all(["a", "b"]);
    /// assert_eq!(f.to_document().unwrap(), doc! { "tags": { "$all": ["a", "b"] } });
    /// ```
    pub fn has_all<T: ValueOf<V::Elem>>(&self, values: impl IntoIterator<Item = T>) -> Filter<M> {
        self.test(Test::Ops(vec![("$all", collect_array(values))]))
    }

    /// The array holds at least one of `values`: `$in`.
    ///
    /// ```
    /// # use mongotic::prelude::*;
    /// # use mongotic::bson::doc;
    /// # #[derive(Debug, Serialize, Deserialize, Model)]
    /// # #[mongotic(collection = "users")]
    /// # struct User { #[serde(rename = "_id")] #[mongotic(id)] id: i64, name: String, email: Option<String>, age: Option<i32>, tags: Vec<String> }
    /// let f = User::tags.has_any(["a", "b"]);
    /// assert_eq!(f.to_document().unwrap(), doc! { "tags": { "$in": ["a", "b"] } });
    /// ```
    pub fn has_any<T: ValueOf<V::Elem>>(&self, values: impl IntoIterator<Item = T>) -> Filter<M> {
        self.test(Test::Ops(vec![("$in", collect_array(values))]))
    }

    /// The array has exactly `len` elements: `$size`.
    ///
    /// ```
    /// # use mongotic::prelude::*;
    /// # use mongotic::bson::doc;
    /// # #[derive(Debug, Serialize, Deserialize, Model)]
    /// # #[mongotic(collection = "users")]
    /// # struct User { #[serde(rename = "_id")] #[mongotic(id)] id: i64, name: String, email: Option<String>, age: Option<i32>, tags: Vec<String> }
    /// let f = User::tags.has_size(2);
    /// assert_eq!(f.to_document().unwrap(), doc! { "tags": { "$size": 2_i64 } });
    /// ```
    pub fn has_size(&self, len: u32) -> Filter<M> {
        self.test(Test::Ops(vec![("$size", Value::Bson(Bson::Int64(i64::from(len))))]))
    }
}

impl<M, V, S> Clone for Field<M, V, S> {
    fn clone(&self) -> Self {
        Field { path: self.path.clone(), _types: PhantomData }
    }
}

impl<M, V, S> fmt::Debug for Field<M, V, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Field({})", self.path)
    }
}
