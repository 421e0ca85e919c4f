//! Bulk DML: `insert`, `update` and `delete` statements.
//!
//! Each runs as one command through [`Session::execute`](crate::Session::execute) and returns a
//! [`WriteResult`]. They go straight to the server: the session's identity map and its
//! `new`/`dirty`/`deleted` lists are not touched, as in the seed.

use std::borrow::Cow;
use std::fmt;

use bson::{Bson, Document};

use crate::expr::{Field, Filter, Node, ValueOf, compile_all};
use crate::options::Options;
use crate::{Error, Model, Result};

/// What a bulk statement did. An `insert` of model `M` gives a `WriteResult<M::Id>`, whose
/// `inserted_ids` have the model's id type; `update` and `delete` give a `WriteResult` (no ids).
///
/// ```
/// let result = mongotic::WriteResult::<i64>::default();
/// assert_eq!(result.rowcount, 0);
/// assert!(result.inserted_ids.is_empty());
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct WriteResult<Id = Bson> {
    /// Documents inserted, modified (update) or deleted.
    pub rowcount: u64,
    /// Documents the filter matched (update only; equal to `rowcount` otherwise).
    pub matched: u64,
    /// The `_id`s of inserted documents, in order (insert only).
    pub inserted_ids: Vec<Id>,
}

impl<Id> Default for WriteResult<Id> {
    fn default() -> Self {
        WriteResult { rowcount: 0, matched: 0, inserted_ids: Vec::new() }
    }
}

/// Inserts documents of model `M` in one command. Ids left unset are generated first, so
/// `inserted_ids` lists every document's id in order.
///
/// ```
/// # use mongotic::prelude::*;
/// # #[derive(Debug, Serialize, Deserialize, Model)]
/// # #[mongotic(collection = "users")]
/// # struct User { #[serde(rename = "_id")] id: Option<ObjectId>, name: String }
/// let stmt = insert::<User>().values(vec![
///     User { id: None, name: "Alice".into() },
///     User { id: None, name: "Bob".into() },
/// ]);
/// assert_eq!(stmt.len(), 2);
/// ```
pub struct Insert<M> {
    pub(crate) values: Vec<M>,
    pub(crate) options: Options,
}

/// Starts an [`Insert`] for model `M`.
///
/// ```
/// # use mongotic::prelude::*;
/// # #[derive(Debug, Clone, Serialize, Deserialize, Model)]
/// # #[mongotic(database = "app", collection = "users")]
/// # struct User { #[serde(rename = "_id")] id: Option<ObjectId>, name: String, age: Option<i32>, active: bool }
/// let stmt = insert::<User>().values([User { id: None, name: "Ann".into(), age: None, active: true }]);
/// assert_eq!(stmt.len(), 1);
/// ```
pub fn insert<M: crate::Writable>() -> Insert<M> {
    Insert { values: Vec::new(), options: Options::default() }
}

value_list_methods!(Insert, "insert::<User>()", "insert");

impl<M: Model> fmt::Debug for Insert<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Insert").field("values", &self.values).finish()
    }
}

/// Updates every document of model `M` matching the filter (all of them without one), in one
/// command.
///
/// ```
/// # use mongotic::prelude::*;
/// # use mongotic::bson::doc;
/// # #[derive(Debug, Serialize, Deserialize, Model)]
/// # #[mongotic(collection = "users")]
/// # struct User { #[serde(rename = "_id")] #[mongotic(id)] id: i64, role: String, logins: i64, note: Option<String> }
/// let stmt = update::<User>()
///     .filter(User::role.eq("guest"))
///     .set(User::role, "member")
///     .inc(User::logins, 1)
///     .unset(User::note);
/// let (filter, changes) = stmt.compile().unwrap();
/// assert_eq!(filter, doc! { "role": { "$eq": "guest" } });
/// assert_eq!(changes, doc! {
///     "$set": { "role": "member" },
///     "$inc": { "logins": 1_i64 },
///     "$unset": { "note": "" },
/// });
/// ```
pub struct Update<M> {
    filters: Vec<Node>,
    changes: Vec<(&'static str, Cow<'static, str>, std::result::Result<Bson, String>)>,
    pub(crate) options: Options,
    _model: std::marker::PhantomData<fn() -> M>,
}

/// Starts an [`Update`] for model `M`.
///
/// ```
/// # use mongotic::prelude::*;
/// # #[derive(Debug, Clone, Serialize, Deserialize, Model)]
/// # #[mongotic(database = "app", collection = "users")]
/// # struct User { #[serde(rename = "_id")] id: Option<ObjectId>, name: String, age: Option<i32>, active: bool }
/// let stmt = update::<User>().filter(User::age.lt(18)).set(User::active, false);
/// assert!(stmt.compile().is_ok());
/// ```
pub fn update<M: crate::Writable>() -> Update<M> {
    Update { filters: Vec::new(), changes: Vec::new(), options: Options::default(), _model: std::marker::PhantomData }
}

impl<M: Model> Update<M> {
    /// Only documents matching `filter`. Several calls are ANDed.
    ///
    /// ```
    /// # use mongotic::prelude::*;
    /// # #[derive(Debug, Clone, Serialize, Deserialize, Model)]
    /// # #[mongotic(database = "app", collection = "users")]
    /// # struct User { #[serde(rename = "_id")] id: Option<ObjectId>, name: String, age: Option<i32>, active: bool }
    /// let stmt = update::<User>().filter(User::age.lt(18)).filter(User::active.eq(true)).set(User::active, false);
    /// assert_eq!(stmt.compile().unwrap().0.keys().next().map(String::as_str), Some("$and"));
    /// ```
    pub fn filter(mut self, filter: Filter<M>) -> Self {
        self.filters.push(filter.into_node());
        self
    }

    /// Sets `field` to `value` (`$set`).
    ///
    /// ```
    /// # use mongotic::prelude::*;
    /// # #[derive(Debug, Clone, Serialize, Deserialize, Model)]
    /// # #[mongotic(database = "app", collection = "users")]
    /// # struct User { #[serde(rename = "_id")] id: Option<ObjectId>, name: String, age: Option<i32>, active: bool }
    /// let (_, changes) = update::<User>().set(User::age, 30).compile().unwrap();
    /// assert_eq!(changes, mongotic::bson::doc! { "$set": { "age": 30 } });
    /// ```
    pub fn set<V>(mut self, field: Field<M, V>, value: impl ValueOf<V>) -> Self {
        self.changes.push(("$set", field.path_cow(), value.into_bson().map_err(|err| err.to_string())));
        self
    }

    /// Removes `field` (`$unset`).
    ///
    /// ```
    /// # use mongotic::prelude::*;
    /// # #[derive(Debug, Clone, Serialize, Deserialize, Model)]
    /// # #[mongotic(database = "app", collection = "users")]
    /// # struct User { #[serde(rename = "_id")] id: Option<ObjectId>, name: String, age: Option<i32>, active: bool }
    /// let (_, changes) = update::<User>().unset(User::age).compile().unwrap();
    /// assert_eq!(changes, mongotic::bson::doc! { "$unset": { "age": "" } });
    /// ```
    pub fn unset<V>(mut self, field: Field<M, V>) -> Self {
        self.changes.push(("$unset", field.path_cow(), Ok(Bson::String(String::new()))));
        self
    }

    /// Adds `by` to the numeric `field` (`$inc`).
    ///
    /// ```
    /// # use mongotic::prelude::*;
    /// # #[derive(Debug, Clone, Serialize, Deserialize, Model)]
    /// # #[mongotic(database = "app", collection = "users")]
    /// # struct User { #[serde(rename = "_id")] id: Option<ObjectId>, name: String, age: Option<i32>, active: bool }
    /// let (_, changes) = update::<User>().inc(User::age, 1).compile().unwrap();
    /// assert_eq!(changes, mongotic::bson::doc! { "$inc": { "age": 1 } });
    /// ```
    pub fn inc<V>(mut self, field: Field<M, V>, by: impl ValueOf<V>) -> Self {
        self.changes.push(("$inc", field.path_cow(), by.into_bson().map_err(|err| err.to_string())));
        self
    }

    /// The filter and the update document this statement sends.
    ///
    /// ```
    /// # use mongotic::prelude::*;
    /// # #[derive(Debug, Clone, Serialize, Deserialize, Model)]
    /// # #[mongotic(database = "app", collection = "users")]
    /// # struct User { #[serde(rename = "_id")] id: Option<ObjectId>, name: String, age: Option<i32>, active: bool }
    /// let (filter, changes) = update::<User>().filter(User::name.eq("Ann")).set(User::age, 30).compile().unwrap();
    /// assert_eq!(filter, mongotic::bson::doc! { "name": { "$eq": "Ann" } });
    /// ```
    pub fn compile(&self) -> Result<(Document, Document)> {
        if self.changes.is_empty() {
            return Err(Error::InvalidStatement {
                message: format!("update of {} sets nothing: call set, unset or inc", M::meta().name),
            });
        }
        let mut update = Document::new();
        for (operator, path, value) in &self.changes {
            let value = value.clone().map_err(|message| Error::InvalidValue { path: path.to_string(), message })?;
            let section = update.entry((*operator).to_owned()).or_insert_with(|| Bson::Document(Document::new()));
            if let Bson::Document(section) = section {
                section.insert(path.as_ref(), value);
            }
        }
        Ok((compile_all(&self.filters)?, update))
    }
}

impl<M: Model> Update<M> {
    /// Checks the values the statement sets against the constraints of their fields (see
    /// [`validation`](crate::validation)). `execute` runs it before sending anything.
    ///
    /// ```
    /// # use mongotic::prelude::*;
    /// # #[derive(Debug, Serialize, Deserialize, Model)]
    /// # #[mongotic(collection = "users")]
    /// # struct User { #[serde(rename = "_id")] #[mongotic(id)] id: i64, age: i32 }
    /// assert!(update::<User>().set(User::age, 30).validate().is_ok());
    /// ```
    pub fn validate(&self) -> Result<()> {
        let mut violations = crate::validation::Violations::default();
        for (operator, path, value) in &self.changes {
            if let ("$set", Ok(value)) = (*operator, value) {
                M::__validate_field(path, value, &mut violations);
            }
        }
        if violations.is_empty() {
            return Ok(());
        }
        Err(Error::Validation {
            invalid: vec![crate::validation::Invalid { model: M::meta().name, id: None, violations }],
        })
    }

    /// The update document to send: the statement's changes, plus the model's bookkeeping
    /// where the statement does not set it itself: the version field is incremented (so a
    /// session holding an older version gets a conflict instead of overwriting this update)
    /// and `updated_at` is set to the current time.
    pub(crate) fn compile_for_write(&self) -> Result<(Document, Document)> {
        let (filter, mut update) = self.compile()?;
        let meta = M::meta();
        let touched = |update: &Document, field: &str| {
            update.values().any(|section| section.as_document().is_some_and(|section| section.contains_key(field)))
        };
        if let Some(field) = meta.version
            && !touched(&update, field)
        {
            add_to_section(&mut update, "$inc", field, 1_i64);
        }
        if let Some(field) = meta.updated_at
            && !touched(&update, field)
        {
            add_to_section(&mut update, "$set", field, bson::DateTime::now());
        }
        Ok((filter, update))
    }
}

/// Adds `field: value` to the `operator` section of an update document.
fn add_to_section(update: &mut Document, operator: &str, field: &str, value: impl Into<Bson>) {
    let section = update.entry(operator.to_owned()).or_insert_with(|| Bson::Document(Document::new()));
    if let Bson::Document(section) = section {
        section.insert(field, value);
    }
}

impl<M: Model> fmt::Debug for Update<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Update").field("model", &M::meta().name).field("compiled", &self.compile()).finish()
    }
}

/// Deletes every document of model `M` matching the filter (all of them without one), in one
/// command.
///
/// ```
/// # use mongotic::prelude::*;
/// # #[derive(Debug, Serialize, Deserialize, Model)]
/// # #[mongotic(collection = "users")]
/// # struct User { #[serde(rename = "_id")] #[mongotic(id)] id: i64, active: bool }
/// let stmt = delete::<User>().filter(User::active.eq(false));
/// assert_eq!(stmt.compile().unwrap(), mongotic::bson::doc! { "active": { "$eq": false } });
/// ```
pub struct Delete<M> {
    filters: Vec<Node>,
    pub(crate) options: Options,
    /// Removes documents of a soft-delete model rather than marking them (see
    /// [`Delete::permanently`]).
    pub(crate) permanent: bool,
    _model: std::marker::PhantomData<fn() -> M>,
}

/// Starts a [`Delete`] for model `M`.
///
/// ```
/// # use mongotic::prelude::*;
/// # #[derive(Debug, Clone, Serialize, Deserialize, Model)]
/// # #[mongotic(database = "app", collection = "users")]
/// # struct User { #[serde(rename = "_id")] id: Option<ObjectId>, name: String, age: Option<i32>, active: bool }
/// let stmt = delete::<User>().filter(User::active.eq(false));
/// assert!(stmt.compile().is_ok());
/// ```
pub fn delete<M: crate::Writable>() -> Delete<M> {
    Delete { filters: Vec::new(), options: Options::default(), permanent: false, _model: std::marker::PhantomData }
}

impl<M: Model> Delete<M> {
    /// Only documents matching `filter`. Several calls are ANDed.
    ///
    /// ```
    /// # use mongotic::prelude::*;
    /// # #[derive(Debug, Clone, Serialize, Deserialize, Model)]
    /// # #[mongotic(database = "app", collection = "users")]
    /// # struct User { #[serde(rename = "_id")] id: Option<ObjectId>, name: String, age: Option<i32>, active: bool }
    /// let stmt = delete::<User>().filter(User::active.eq(false));
    /// assert_eq!(stmt.compile().unwrap(), mongotic::bson::doc! { "active": { "$eq": false } });
    /// ```
    pub fn filter(mut self, filter: Filter<M>) -> Self {
        self.filters.push(filter.into_node());
        self
    }

    /// The filter this statement sends.
    ///
    /// ```
    /// # use mongotic::prelude::*;
    /// # #[derive(Debug, Clone, Serialize, Deserialize, Model)]
    /// # #[mongotic(database = "app", collection = "users")]
    /// # struct User { #[serde(rename = "_id")] id: Option<ObjectId>, name: String, age: Option<i32>, active: bool }
    /// assert_eq!(delete::<User>().compile().unwrap(), mongotic::bson::doc! {}); // every document
    /// ```
    pub fn compile(&self) -> Result<Document> {
        compile_all(&self.filters)
    }
}

impl<M: Model> fmt::Debug for Delete<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Delete").field("model", &M::meta().name).field("filter", &self.compile()).finish()
    }
}

crate::options::statement_options!(Insert<M>, "insert::<User>()", [timeout, comment, write_concern]);

crate::options::statement_options!(
    Update<M>,
    "update::<User>().filter(User::age.lt(18)).set(User::name, \"minor\")",
    [timeout, comment, write_concern, hint, collation]
);

crate::options::statement_options!(
    Delete<M>,
    "delete::<User>().filter(User::age.lt(0))",
    [timeout, comment, write_concern, hint, collation]
);

crate::options::scope_methods!(
    Update<M>,
    "update::<User>().set(User::name, \"x\")",
    "update::<User>().set(User::name, \"x\")"
);
crate::options::scope_methods!(Delete<M>, "delete::<User>().permanently()", "delete::<User>()");

impl<M: crate::SoftDelete> Delete<M> {
    /// Removes the matching documents of a soft-delete model instead of marking them deleted.
    /// Without it, a `delete` of such a model sets the soft-delete field of the matching live
    /// documents (and `with_deleted`/`only_deleted` do not apply); with it, the statement
    /// removes the live documents it matches, or with
    /// [`only_deleted`](Delete::only_deleted) empties the bin.
    ///
    /// ```
    /// # use mongotic::prelude::*;
    /// # #[derive(Debug, Serialize, Deserialize, Model)]
    /// # #[mongotic(collection = "users")]
    /// # struct User { #[serde(rename = "_id")] id: i64, name: String, #[serde(default)] #[mongotic(soft_delete)] deleted_at: Option<mongotic::bson::DateTime> }
    /// // Remove for good what was deleted more than 30 days ago.
    /// let month_ago = mongotic::bson::DateTime::from_millis(mongotic::bson::DateTime::now().timestamp_millis() - 30 * 86_400_000);
    /// let purge = delete::<User>().only_deleted().filter(User::deleted_at.lt(month_ago)).permanently();
    /// ```
    pub fn permanently(mut self) -> Self {
        self.permanent = true;
        self
    }
}
