//! Projections: what a `select` returns per document. Entities (the default), one column, or
//! a tuple of columns; column selects also give untyped [`Row`]s.

use std::borrow::Cow;
use std::marker::PhantomData;
use std::sync::Arc;

use bson::{Bson, Document, RawBsonRef, RawDocument};
use futures::future::BoxFuture;
use serde::de::DeserializeOwned;

use crate::expr::{Field, Many, One, Shape};
use crate::options::Options;
use crate::relation::Load;
use crate::session::{Loader, Tracked};
use crate::{Error, Model, Result, Session};

/// What a [`Select`](crate::Select) returns for each matching document.
///
/// Implemented for [`Entities<M>`] (tracked entities, the default), for a [`Field`] (its
/// value) and for tuples of fields (a tuple of values). It is closed: its methods (hidden here)
/// take the session's internal loader, which no other crate can name, so only mongotic's own
/// projections implement it.
///
/// ```no_run
/// # use mongotic::prelude::*;
/// # #[derive(Debug, Clone, Serialize, Deserialize, Model)]
/// # #[mongotic(database = "app", collection = "users")]
/// # struct User { #[serde(rename = "_id")] id: Option<ObjectId>, name: String, age: Option<i32>, active: bool }
/// # async fn demo(mut session: Session) -> mongotic::Result<()> {
/// let entities: Vec<Tracked<User>> = session.scalars(select::<User>()).all().await?;  // Entities<User>
/// let names: Vec<String> = session.scalars(select::<User>().columns(User::name)).all().await?; // a Field
/// let pairs: Vec<(String, Option<i32>)> =
///     session.execute(select::<User>().columns((User::name, User::age))).await?.all().await?; // a tuple
/// # Ok(()) }
/// ```
pub trait Projection<M>: Clone + Send + Sync + 'static {
    /// The Rust value for one document.
    type Output: Send + 'static;

    /// The projection document sent to the server; `None` for whole documents.
    #[doc(hidden)]
    fn projection_document(&self) -> Option<Document>;

    /// Turns one returned document into the output value.
    #[doc(hidden)]
    fn decode(&self, raw: &RawDocument, loader: &mut Loader<'_>) -> Result<Self::Output>;

    /// Whether values must be loaded in batches, to load relations for each batch
    /// ([`Select::load`](crate::Select::load)).
    #[doc(hidden)]
    fn loads_relations(&self) -> bool {
        false
    }

    /// Loads the relations the select asked for, for a batch of its values.
    #[doc(hidden)]
    fn load_relations<'a>(
        &'a self,
        _session: &'a mut Session,
        _values: &'a [Self::Output],
        _options: &'a Options,
    ) -> BoxFuture<'a, Result<()>> {
        Box::pin(async { Ok(()) })
    }
}

/// A projection of one value per document, which [`Session::scalars`](crate::Session::scalars)
/// returns as is: the entity, or the single column.
///
/// ```no_run
/// # use mongotic::prelude::*;
/// # #[derive(Debug, Clone, Serialize, Deserialize, Model)]
/// # #[mongotic(database = "app", collection = "users")]
/// # struct User { #[serde(rename = "_id")] id: Option<ObjectId>, name: String, age: Option<i32>, active: bool }
/// # async fn demo(mut session: Session) -> mongotic::Result<()> {
/// let ages: Vec<Option<i32>> = session.scalars(select::<User>().columns(User::age)).all().await?;
/// # Ok(()) }
/// ```
#[diagnostic::on_unimplemented(
    message = "`scalars` needs a select of entities or of one column",
    label = "this select has several columns",
    note = "use `session.execute(stmt)` for several columns: its rows are tuples, or `Row`s via `rows()`"
)]
pub trait ScalarProjection<M>: Projection<M> {}

/// A projection of fields, whose rows can also be read as [`Row`]s.
///
/// ```
/// # use mongotic::prelude::*;
/// # #[derive(Debug, Clone, Serialize, Deserialize, Model)]
/// # #[mongotic(database = "app", collection = "users")]
/// # struct User { #[serde(rename = "_id")] id: Option<ObjectId>, name: String, age: Option<i32>, active: bool }
/// let stmt = select::<User>().columns((User::name, User::age));
/// assert_eq!(stmt.compile().unwrap().projection, Some(mongotic::bson::doc! { "name": 1, "age": 1, "_id": 0 }));
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a column list of model `{M}`",
    label = "pass one field of the model (`User::name`) or a tuple of them (`(User::name, User::age)`)"
)]
pub trait ColumnProjection<M>: Projection<M> {
    /// The stored paths of the columns, in order.
    #[doc(hidden)]
    fn paths(&self) -> Vec<Cow<'static, str>>;
}

/// The default projection: whole documents as tracked entities of `M`.
///
/// ```
/// # use mongotic::prelude::*;
/// # #[derive(Debug, Clone, Serialize, Deserialize, Model)]
/// # #[mongotic(database = "app", collection = "users")]
/// # struct User { #[serde(rename = "_id")] id: Option<ObjectId>, name: String, age: Option<i32>, active: bool }
/// let stmt: mongotic::Select<User, mongotic::Entities<User>> = select::<User>();
/// # let _ = stmt;
/// ```
pub struct Entities<M> {
    /// The relations to load for the entities (see [`Select::load`](crate::Select::load)).
    loads: Vec<Arc<dyn Load<M>>>,
}

impl<M> Entities<M> {
    pub(crate) fn new() -> Self {
        Entities { loads: Vec::new() }
    }

    pub(crate) fn push_load(&mut self, load: Arc<dyn Load<M>>) {
        self.loads.push(load);
    }
}

impl<M> Clone for Entities<M> {
    fn clone(&self) -> Self {
        Entities { loads: self.loads.clone() }
    }
}

impl<M: Model> Projection<M> for Entities<M> {
    type Output = Tracked<M>;

    fn projection_document(&self) -> Option<Document> {
        None
    }

    fn decode(&self, raw: &RawDocument, loader: &mut Loader<'_>) -> Result<Tracked<M>> {
        loader.entity(raw)
    }

    fn loads_relations(&self) -> bool {
        !self.loads.is_empty()
    }

    fn load_relations<'a>(
        &'a self,
        session: &'a mut Session,
        values: &'a [Tracked<M>],
        options: &'a Options,
    ) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            for load in &self.loads {
                load.run(session, values, options).await?;
            }
            Ok(())
        })
    }
}

impl<M: Model> ScalarProjection<M> for Entities<M> {}

/// Whole documents as plain values of `M`, not tracked by the session: no identity map, no
/// handle, no snapshot (EF Core's `AsNoTracking`). Made by [`Select::untracked`].
///
/// [`Select::untracked`]: crate::Select::untracked
///
/// ```
/// # use mongotic::prelude::*;
/// # #[derive(Debug, Clone, Serialize, Deserialize, Model)]
/// # #[mongotic(collection = "users")]
/// # struct User { #[serde(rename = "_id")] id: Option<ObjectId>, name: String }
/// let stmt: mongotic::Select<User, mongotic::Untracked<User>> = select::<User>().untracked();
/// assert_eq!(stmt.compile().unwrap().projection, None); // whole documents
/// ```
pub struct Untracked<M>(PhantomData<fn() -> M>);

impl<M> Untracked<M> {
    pub(crate) fn new() -> Self {
        Untracked(PhantomData)
    }
}

impl<M> Clone for Untracked<M> {
    fn clone(&self) -> Self {
        Untracked::new()
    }
}

impl<M: Model> Projection<M> for Untracked<M> {
    type Output = M;

    fn projection_document(&self) -> Option<Document> {
        None
    }

    fn decode(&self, raw: &RawDocument, loader: &mut Loader<'_>) -> Result<M> {
        let mut value: M =
            bson::from_slice(raw.as_bytes()).map_err(|source| Error::deserialize(loader.namespace(), raw, source))?;
        value.after_load();
        Ok(value)
    }
}

impl<M: Model> ScalarProjection<M> for Untracked<M> {}

/// What a dotted path reaches in a document.
enum Reached<'a> {
    Missing,
    One(RawBsonRef<'a>),
    /// Through an array of documents: the values of every element that has the rest of the
    /// path (what the server's projection of the path keeps).
    Many(Vec<RawBsonRef<'a>>),
}

/// Follows `steps` from `value`, through documents and arrays of documents.
fn reach<'a>(value: RawBsonRef<'a>, steps: &[&str]) -> Reached<'a> {
    let Some((step, rest)) = steps.split_first() else { return Reached::One(value) };
    match value {
        RawBsonRef::Document(doc) => match doc.get(step).ok().flatten() {
            Some(inner) => reach(inner, rest),
            None => Reached::Missing,
        },
        RawBsonRef::Array(elements) => {
            let mut values = Vec::new();
            for element in elements.into_iter().filter_map(std::result::Result::ok) {
                match reach(element, steps) {
                    Reached::Missing => {}
                    Reached::One(value) => values.push(value),
                    Reached::Many(more) => values.extend(more),
                }
            }
            Reached::Many(values)
        }
        _ => Reached::Missing,
    }
}

/// The value at `path`, as owned BSON: `Null` when missing, an array of the values of every
/// element when the path goes through an array.
fn bson_at(raw: &RawDocument, path: &str, loader: &Loader<'_>) -> Result<Bson> {
    let steps: Vec<&str> = path.split('.').collect();
    let owned = |value: RawBsonRef<'_>| {
        Bson::try_from(value.to_raw_bson()).map_err(|err| Error::UnexpectedReply {
            message: format!("field `{path}` in {}: {err}", loader.namespace()),
        })
    };
    match reach(RawBsonRef::Document(raw), &steps) {
        Reached::Missing => Ok(Bson::Null),
        Reached::One(value) => owned(value),
        Reached::Many(values) => values.into_iter().map(owned).collect::<Result<Vec<Bson>>>().map(Bson::Array),
    }
}

/// The projection of `paths`: `_id` is left out on the wire unless a column asks for it.
fn column_projection(paths: &[&str]) -> Document {
    let mut projection: Document = paths.iter().map(|path| ((*path).to_owned(), Bson::Int32(1))).collect();
    let wants_id = paths.iter().any(|path| *path == "_id" || path.starts_with("_id."));
    if !wants_id {
        projection.insert("_id", 0);
    }
    projection
}

/// One column of a select: a [`Field`] of the model, of either [`Shape`].
///
/// A path of shape [`One`] gives the field's value; a path through an array of embedded
/// documents ([`Many`]) gives the values of every element, as a `Vec`.
///
/// ```
/// # use mongotic::prelude::*;
/// # #[derive(Debug, Serialize, Deserialize, Embedded)]
/// # struct Address { city: String }
/// # #[derive(Debug, Serialize, Deserialize, Model)]
/// # #[mongotic(collection = "people")]
/// # struct Person { #[serde(rename = "_id")] id: i64, name: String, addresses: Vec<Address> }
/// // Each row: the name, and the city of every address.
/// let stmt = select::<Person>().columns((Person::name, Person::addresses.dot(Address::city)));
/// let _: mongotic::Select<Person, (Field<Person, String>, Field<Person, String, mongotic::expr::Many>)> = stmt;
/// ```
pub trait Column<M>: Clone + Send + Sync + 'static {
    /// The Rust value of the column for one document.
    type Output: Send + 'static;

    /// The stored path.
    #[doc(hidden)]
    fn column_path(&self) -> &str;

    /// Reads the column from a returned document.
    #[doc(hidden)]
    fn decode_column(&self, raw: &RawDocument, loader: &Loader<'_>) -> Result<Self::Output>;
}

impl<M: Model, V: DeserializeOwned + Send + 'static> Column<M> for Field<M, V, One> {
    type Output = V;

    fn column_path(&self) -> &str {
        self.path()
    }

    fn decode_column(&self, raw: &RawDocument, loader: &Loader<'_>) -> Result<V> {
        let value = bson_at(raw, self.path(), loader)?;
        bson::from_bson(value).map_err(|source| Error::deserialize(loader.namespace(), raw, source))
    }
}

impl<M: Model, V: DeserializeOwned + Send + 'static> Column<M> for Field<M, V, Many> {
    type Output = Vec<V>;

    fn column_path(&self) -> &str {
        self.path()
    }

    fn decode_column(&self, raw: &RawDocument, loader: &Loader<'_>) -> Result<Vec<V>> {
        let value = match bson_at(raw, self.path(), loader)? {
            // No array (or a missing one): no values.
            Bson::Null => Bson::Array(Vec::new()),
            Bson::Array(values) => Bson::Array(values),
            // An array field holding one document where the model says an array: its value.
            single => Bson::Array(vec![single]),
        };
        bson::from_bson(value).map_err(|source| Error::deserialize(loader.namespace(), raw, source))
    }
}

impl<M: Model, V: 'static, S: Shape> Projection<M> for Field<M, V, S>
where
    Self: Column<M>,
{
    type Output = <Self as Column<M>>::Output;

    fn projection_document(&self) -> Option<Document> {
        Some(column_projection(&[self.path()]))
    }

    fn decode(&self, raw: &RawDocument, loader: &mut Loader<'_>) -> Result<Self::Output> {
        self.decode_column(raw, loader)
    }
}

impl<M: Model, V: 'static, S: Shape> ScalarProjection<M> for Field<M, V, S> where Self: Column<M> {}

impl<M: Model, V: 'static, S: Shape> ColumnProjection<M> for Field<M, V, S>
where
    Self: Column<M>,
{
    fn paths(&self) -> Vec<Cow<'static, str>> {
        vec![self.path_cow()]
    }
}

macro_rules! tuple_projection {
    ($(($name:ident, $index:tt)),+) => {
        impl<M: Model, $($name: Column<M>),+> Projection<M> for ($($name,)+) {
            type Output = ($($name::Output,)+);

            fn projection_document(&self) -> Option<Document> {
                Some(column_projection(&[$(self.$index.column_path()),+]))
            }

            fn decode(&self, raw: &RawDocument, loader: &mut Loader<'_>) -> Result<Self::Output> {
                Ok(($(self.$index.decode_column(raw, loader)?,)+))
            }
        }

        impl<M: Model, $($name: Column<M>),+> ColumnProjection<M> for ($($name,)+) {
            fn paths(&self) -> Vec<Cow<'static, str>> {
                vec![$(Cow::Owned(self.$index.column_path().to_owned())),+]
            }
        }
    };
}

tuple_projection!((A, 0));
tuple_projection!((A, 0), (B, 1));
tuple_projection!((A, 0), (B, 1), (C, 2));
tuple_projection!((A, 0), (B, 1), (C, 2), (D, 3));
tuple_projection!((A, 0), (B, 1), (C, 2), (D, 3), (E, 4));
tuple_projection!((A, 0), (B, 1), (C, 2), (D, 3), (E, 4), (F, 5));
tuple_projection!((A, 0), (B, 1), (C, 2), (D, 3), (E, 4), (F, 5), (G, 6));
tuple_projection!((A, 0), (B, 1), (C, 2), (D, 3), (E, 4), (F, 5), (G, 6), (H, 7));

/// One row of a column select, read by position or by field name.
///
/// ```
/// # use mongotic::Row;
/// # use mongotic::bson::Bson;
/// # let row = Row::from_values(vec!["name".into(), "age".into()], vec![Bson::from("Alice"), Bson::Int32(30)]);
/// let name: String = row.get("name")?;
/// let age: Option<i32> = row.get(1)?;
/// assert_eq!((name.as_str(), age), ("Alice", Some(30)));
/// assert!(row.get::<String>("missing").is_err());
/// # Ok::<(), mongotic::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    columns: Arc<[Cow<'static, str>]>,
    values: Vec<Bson>,
}

/// A column position (`usize`) or field name (`&str`) in a [`Row`].
///
/// ```
/// # use mongotic::{Row, bson::Bson};
/// let row = Row::from_values(vec!["name".into()], vec![Bson::from("Ann")]);
/// assert_eq!(row.get::<String>(0).unwrap(), row.get::<String>("name").unwrap());
/// ```
pub trait RowIndex {
    /// The position of the column in `row`, if there is one.
    fn position(&self, row: &Row) -> Option<usize>;
    /// How to name the column in an error.
    fn describe(&self) -> String;
}

impl RowIndex for usize {
    fn position(&self, row: &Row) -> Option<usize> {
        (*self < row.values.len()).then_some(*self)
    }

    fn describe(&self) -> String {
        format!("column {self}")
    }
}

impl RowIndex for &str {
    fn position(&self, row: &Row) -> Option<usize> {
        row.columns.iter().position(|column| column == self)
    }

    fn describe(&self) -> String {
        format!("column `{self}`")
    }
}

impl Row {
    /// A row with the given column names and values (mostly for tests).
    ///
    /// ```
    /// # use mongotic::{Row, bson::Bson};
    /// let row = Row::from_values(vec!["age".into()], vec![Bson::Int32(30)]);
    /// assert_eq!(row.len(), 1);
    /// ```
    pub fn from_values(columns: Vec<Cow<'static, str>>, values: Vec<Bson>) -> Row {
        Row { columns: columns.into(), values }
    }

    pub(crate) fn decode(columns: &Arc<[Cow<'static, str>]>, raw: &RawDocument, loader: &Loader<'_>) -> Result<Row> {
        let values = columns.iter().map(|path| bson_at(raw, path, loader)).collect::<Result<Vec<_>>>()?;
        Ok(Row { columns: columns.clone(), values })
    }

    /// The value of a column, deserialized as `T`. A missing field reads as null (so `Option`
    /// gives `None`); an unknown column or a value of another type is an error.
    ///
    /// ```
    /// # use mongotic::{Row, bson::Bson};
    /// let row = Row::from_values(vec!["age".into()], vec![Bson::Null]);
    /// let age: Option<i32> = row.get("age").unwrap();
    /// assert_eq!(age, None);
    /// ```
    pub fn get<T: DeserializeOwned>(&self, index: impl RowIndex) -> Result<T> {
        let value = self.value_at(&index).ok_or_else(|| Error::InvalidStatement {
            message: format!("the row has no {}; its columns are {:?}", index.describe(), self.columns),
        })?;
        bson::from_bson(value.clone())
            .map_err(|err| Error::InvalidValue { path: index.describe(), message: err.to_string() })
    }

    /// The raw BSON value of a column, if the column exists.
    ///
    /// ```
    /// # use mongotic::{Row, bson::Bson};
    /// let row = Row::from_values(vec!["age".into()], vec![Bson::Int32(30)]);
    /// assert_eq!(row.value("age"), Some(&Bson::Int32(30)));
    /// assert_eq!(row.value(0), Some(&Bson::Int32(30)));
    /// assert_eq!(row.value(5), None);
    /// ```
    pub fn value(&self, index: impl RowIndex) -> Option<&Bson> {
        self.value_at(&index)
    }

    fn value_at(&self, index: &impl RowIndex) -> Option<&Bson> {
        index.position(self).and_then(|position| self.values.get(position))
    }

    /// The columns and their values, in order.
    ///
    /// ```
    /// # use mongotic::{Row, bson::Bson};
    /// let row = Row::from_values(vec!["name".into(), "age".into()], vec![Bson::from("Ann"), Bson::Int32(30)]);
    /// let names: Vec<&str> = row.iter().map(|(column, _)| column).collect();
    /// assert_eq!(names, ["name", "age"]);
    /// for (column, value) in &row {
    ///     println!("{column} = {value}");
    /// }
    /// ```
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Bson)> {
        self.columns.iter().map(|column| column.as_ref()).zip(&self.values)
    }

    /// The row as a document: each column path a key (`"address.city"` stays one dotted key).
    ///
    /// ```
    /// # use mongotic::{Row, bson::{Bson, doc}};
    /// let row = Row::from_values(vec!["name".into()], vec![Bson::from("Ann")]);
    /// assert_eq!(row.to_document(), doc! { "name": "Ann" });
    /// let document: mongotic::bson::Document = row.into();
    /// ```
    pub fn to_document(&self) -> Document {
        self.iter().map(|(column, value)| (column.to_owned(), value.clone())).collect()
    }

    /// The column names (stored field paths), in order.
    ///
    /// ```
    /// # use mongotic::{Row, bson::Bson};
    /// let row = Row::from_values(vec!["name".into(), "age".into()], vec![Bson::Null, Bson::Null]);
    /// assert_eq!(row.columns(), ["name", "age"]);
    /// ```
    pub fn columns(&self) -> &[Cow<'static, str>] {
        &self.columns
    }

    /// The number of columns.
    ///
    /// ```
    /// # use mongotic::Row;
    /// assert_eq!(Row::from_values(vec![], vec![]).len(), 0);
    /// ```
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// `true` for a row without columns.
    ///
    /// ```
    /// # use mongotic::Row;
    /// assert!(Row::from_values(vec![], vec![]).is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }
}

impl<'r> IntoIterator for &'r Row {
    type Item = (&'r str, &'r Bson);
    type IntoIter = Box<dyn Iterator<Item = (&'r str, &'r Bson)> + 'r>;

    fn into_iter(self) -> Self::IntoIter {
        Box::new(self.iter())
    }
}

impl IntoIterator for Row {
    type Item = (String, Bson);
    type IntoIter = std::iter::Zip<std::vec::IntoIter<String>, std::vec::IntoIter<Bson>>;

    /// The columns (as owned names) and their values, in order.
    fn into_iter(self) -> Self::IntoIter {
        let columns: Vec<String> = self.columns.iter().map(|column| column.to_string()).collect();
        columns.into_iter().zip(self.values)
    }
}

impl From<Row> for Document {
    fn from(row: Row) -> Document {
        row.into_iter().collect()
    }
}
