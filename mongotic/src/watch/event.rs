//! Typed change events: what one change to a model's collection was, decoded from the server's
//! change event.

use std::fmt;

use bson::{Bson, DateTime, RawBsonRef, RawDocument, RawDocumentBuf, Timestamp};
use mongodb::change_stream::event::ResumeToken;
use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::error::Undecodable;
use crate::expr::{Field, One, Shape};
use crate::{Error, Model, Result};

/// One change to a document of `M`'s collection (or to the collection itself), as a stream
/// or a [`Consumer`](super::Consumer) delivers it: what changed ([`change`](Event::change)),
/// where the stream stands after it ([`token`](Event::token)), and when it happened.
///
/// ```no_run
/// # use mongotic::prelude::*;
/// # #[derive(Debug, Serialize, Deserialize, Model)]
/// # #[mongotic(database = "app", collection = "users")]
/// # struct User { #[serde(rename = "_id")] id: Option<ObjectId>, name: String, age: Option<i32> }
/// use mongotic::watch::{Change, Event};
///
/// fn describe(event: &Event<User>) -> mongotic::Result<String> {
///     Ok(match event.change() {
///         Change::Insert { document } => format!("new user {}", document.name),
///         Change::Replace { document, .. } => format!("{} replaced", document.name),
///         Change::Update(update) => match update.updated(User::age)? {
///             Some(age) => format!("{} is now {age:?}", event.id()),
///             None => format!("{} changed", event.id()),
///         },
///         Change::Delete { .. } => format!("{} removed", event.id()),
///         Change::Collection { operation } => format!("the collection: {operation}"),
///         _ => "something new".to_owned(), // the enum is non-exhaustive
///     })
/// }
/// ```
pub struct Event<M> {
    pub(crate) token: ResumeToken,
    pub(crate) id: Bson,
    pub(crate) cluster_time: Option<Timestamp>,
    pub(crate) wall_time: Option<DateTime>,
    pub(crate) change: Change<M>,
    pub(crate) raw: RawDocumentBuf,
}

/// What an [`Event`] changed.
///
/// `#[non_exhaustive]`: keep a catch-all arm (the server may add kinds of event).
///
/// ```
/// # use mongotic::prelude::*;
/// # #[derive(Debug, Serialize, Deserialize, Model)]
/// # #[mongotic(database = "app", collection = "users")]
/// # struct User { #[serde(rename = "_id")] id: Option<ObjectId>, name: String }
/// use mongotic::watch::Change;
/// fn is_removal(change: &Change<User>) -> bool {
///     matches!(change, Change::Delete { .. })
/// }
/// # let _ = is_removal;
/// ```
#[non_exhaustive]
pub enum Change<M> {
    /// A new document.
    Insert {
        /// The document inserted.
        document: M,
    },
    /// A document replaced whole.
    Replace {
        /// The new document.
        document: M,
        /// The document before, when the stream asks for pre-images and the server has it.
        before: Option<M>,
    },
    /// Some fields of a document changed.
    Update(Updated<M>),
    /// A document removed.
    Delete {
        /// The document before, when the stream asks for pre-images and the server has it.
        before: Option<M>,
    },
    /// An event about the collection, not one of its documents: `drop`, `rename`,
    /// `dropDatabase`, `invalidate` (after which the stream ends), or another the server sends.
    Collection {
        /// The server's `operationType`.
        operation: String,
    },
}

/// The fields an update changed, named by the model's descriptors.
///
/// ```no_run
/// # use mongotic::prelude::*;
/// # #[derive(Debug, Serialize, Deserialize, Model)]
/// # #[mongotic(database = "app", collection = "users")]
/// # struct User { #[serde(rename = "_id")] id: Option<ObjectId>, name: String, age: Option<i32> }
/// # fn demo(update: &mongotic::watch::Updated<User>) -> mongotic::Result<()> {
/// let age: Option<Option<i32>> = update.updated(User::age)?; // None: the update did not set it
/// let cleared = update.removed(User::age);                   // $unset
/// let touched = update.touches(User::name);                  // the field or a part of it changed
/// # Ok(()) }
/// ```
pub struct Updated<M> {
    fields: RawDocumentBuf,
    removed: Vec<String>,
    truncated: Vec<(String, u32)>,
    document: Option<M>,
    before: Option<M>,
    namespace: String,
    id: Bson,
}

impl<M: Model> Event<M> {
    /// The event's resume token: a stream resumed after it starts with the next event.
    ///
    /// ```no_run
    /// # use mongotic::prelude::*;
    /// # #[derive(Debug, Serialize, Deserialize, Model)]
    /// # #[mongotic(database = "app", collection = "users")]
    /// # struct User { #[serde(rename = "_id")] id: Option<ObjectId>, name: String }
    /// # fn demo(event: mongotic::watch::Event<User>) {
    /// let again = mongotic::watch::watch::<User>().resume_after(event.token().clone());
    /// # let _ = again; }
    /// ```
    pub fn token(&self) -> &ResumeToken {
        &self.token
    }

    /// The `_id` of the changed document (`Bson::Null` for an event about the collection).
    ///
    /// ```no_run
    /// # use mongotic::prelude::*;
    /// # #[derive(Debug, Serialize, Deserialize, Model)]
    /// # #[mongotic(database = "app", collection = "users")]
    /// # struct User { #[serde(rename = "_id")] id: Option<ObjectId>, name: String }
    /// # fn demo(event: mongotic::watch::Event<User>) {
    /// println!("{}", event.id());
    /// # }
    /// ```
    pub fn id(&self) -> &Bson {
        &self.id
    }

    /// The `_id` of the changed document as the model's id type.
    ///
    /// ```no_run
    /// # use mongotic::prelude::*;
    /// # #[derive(Debug, Serialize, Deserialize, Model)]
    /// # #[mongotic(database = "app", collection = "users")]
    /// # struct User { #[serde(rename = "_id")] id: Option<ObjectId>, name: String }
    /// # fn demo(event: mongotic::watch::Event<User>) -> mongotic::Result<()> {
    /// let id: ObjectId = event.model_id()?;
    /// # Ok(()) }
    /// ```
    pub fn model_id(&self) -> Result<M::Id> {
        bson::from_bson(self.id.clone()).map_err(|_| Error::MalformedId {
            value: self.id.to_string(),
            expected: <M::Id as crate::ModelId>::EXPECTED,
        })
    }

    /// The server's `operationType`: `insert`, `update`, `replace`, `delete`, or the
    /// collection event's.
    ///
    /// ```no_run
    /// # use mongotic::prelude::*;
    /// # #[derive(Debug, Serialize, Deserialize, Model)]
    /// # #[mongotic(database = "app", collection = "users")]
    /// # struct User { #[serde(rename = "_id")] id: Option<ObjectId>, name: String }
    /// # fn demo(event: mongotic::watch::Event<User>) {
    /// assert!(!event.operation().is_empty());
    /// # }
    /// ```
    pub fn operation(&self) -> &str {
        match &self.change {
            Change::Insert { .. } => "insert",
            Change::Replace { .. } => "replace",
            Change::Update(_) => "update",
            Change::Delete { .. } => "delete",
            Change::Collection { operation } => operation,
        }
    }

    /// The cluster time of the change (the same for every change of one transaction).
    ///
    /// ```no_run
    /// # use mongotic::prelude::*;
    /// # #[derive(Debug, Serialize, Deserialize, Model)]
    /// # #[mongotic(database = "app", collection = "users")]
    /// # struct User { #[serde(rename = "_id")] id: Option<ObjectId>, name: String }
    /// # fn demo(event: mongotic::watch::Event<User>) {
    /// println!("{:?}", event.cluster_time());
    /// # }
    /// ```
    pub fn cluster_time(&self) -> Option<Timestamp> {
        self.cluster_time
    }

    /// The server's wall-clock time of the change, where it reports one (MongoDB 6.0+).
    ///
    /// ```no_run
    /// # use mongotic::prelude::*;
    /// # #[derive(Debug, Serialize, Deserialize, Model)]
    /// # #[mongotic(database = "app", collection = "users")]
    /// # struct User { #[serde(rename = "_id")] id: Option<ObjectId>, name: String }
    /// # fn demo(event: mongotic::watch::Event<User>) {
    /// println!("{:?}", event.wall_time());
    /// # }
    /// ```
    pub fn wall_time(&self) -> Option<DateTime> {
        self.wall_time
    }

    /// What changed.
    ///
    /// ```no_run
    /// # use mongotic::prelude::*;
    /// # #[derive(Debug, Serialize, Deserialize, Model)]
    /// # #[mongotic(database = "app", collection = "users")]
    /// # struct User { #[serde(rename = "_id")] id: Option<ObjectId>, name: String }
    /// # fn demo(event: mongotic::watch::Event<User>) {
    /// if let mongotic::watch::Change::Insert { document } = event.change() {
    ///     println!("welcome {}", document.name);
    /// }
    /// # }
    /// ```
    pub fn change(&self) -> &Change<M> {
        &self.change
    }

    /// What changed, by value.
    ///
    /// ```no_run
    /// # use mongotic::prelude::*;
    /// # #[derive(Debug, Serialize, Deserialize, Model)]
    /// # #[mongotic(database = "app", collection = "users")]
    /// # struct User { #[serde(rename = "_id")] id: Option<ObjectId>, name: String }
    /// # fn demo(event: mongotic::watch::Event<User>) {
    /// if let mongotic::watch::Change::Insert { document } = event.into_change() {
    ///     let user: User = document;
    /// }
    /// # }
    /// ```
    pub fn into_change(self) -> Change<M> {
        self.change
    }

    /// For an update, the new value of `field` when the update set it whole (see
    /// [`Updated::updated`]); `Ok(None)` for every other event.
    ///
    /// ```no_run
    /// # use mongotic::prelude::*;
    /// # #[derive(Debug, Serialize, Deserialize, Model)]
    /// # #[mongotic(database = "app", collection = "users")]
    /// # struct User { #[serde(rename = "_id")] id: Option<ObjectId>, name: String, age: Option<i32> }
    /// # fn demo(event: mongotic::watch::Event<User>) -> mongotic::Result<()> {
    /// let age: Option<Option<i32>> = event.updated(User::age)?;
    /// # Ok(()) }
    /// ```
    pub fn updated<V: DeserializeOwned>(&self, field: Field<M, V, One>) -> Result<Option<V>> {
        match &self.change {
            Change::Update(update) => update.updated(field),
            _ => Ok(None),
        }
    }

    /// The document after the change, when the event has it: an insert's or a replacement's,
    /// or an update's looked up ([`FullDocument`](super::FullDocument)).
    ///
    /// ```no_run
    /// # use mongotic::prelude::*;
    /// # #[derive(Debug, Serialize, Deserialize, Model)]
    /// # #[mongotic(database = "app", collection = "users")]
    /// # struct User { #[serde(rename = "_id")] id: Option<ObjectId>, name: String }
    /// # fn demo(event: mongotic::watch::Event<User>) {
    /// if let Some(user) = event.document() { println!("{}", user.name) }
    /// # }
    /// ```
    pub fn document(&self) -> Option<&M> {
        match &self.change {
            Change::Insert { document } | Change::Replace { document, .. } => Some(document),
            Change::Update(update) => update.document.as_ref(),
            Change::Delete { .. } | Change::Collection { .. } => None,
        }
    }

    /// The document before the change (a pre-image), when the stream asked for them and the
    /// server has it.
    ///
    /// ```no_run
    /// # use mongotic::prelude::*;
    /// # #[derive(Debug, Serialize, Deserialize, Model)]
    /// # #[mongotic(database = "app", collection = "users")]
    /// # struct User { #[serde(rename = "_id")] id: Option<ObjectId>, name: String }
    /// # fn demo(event: mongotic::watch::Event<User>) {
    /// if let Some(was) = event.before() { println!("was {}", was.name) }
    /// # }
    /// ```
    pub fn before(&self) -> Option<&M> {
        match &self.change {
            Change::Replace { before, .. } | Change::Delete { before } => before.as_ref(),
            Change::Update(update) => update.before.as_ref(),
            Change::Insert { .. } | Change::Collection { .. } => None,
        }
    }

    /// The change event as the server sent it.
    ///
    /// ```no_run
    /// # use mongotic::prelude::*;
    /// # #[derive(Debug, Serialize, Deserialize, Model)]
    /// # #[mongotic(database = "app", collection = "users")]
    /// # struct User { #[serde(rename = "_id")] id: Option<ObjectId>, name: String }
    /// # fn demo(event: mongotic::watch::Event<User>) {
    /// assert!(event.raw().get("operationType").is_ok());
    /// # }
    /// ```
    pub fn raw(&self) -> &RawDocument {
        &self.raw
    }
}

impl<M: Model> Updated<M> {
    /// The new value of `field` when this update set it whole: `Ok(None)` when it did not set
    /// it (it left it alone, removed it, or changed only a part of it: see
    /// [`touches`](Updated::touches)). For an `Option<T>` field set to null the value is
    /// `Some(None)`. A value that does not deserialize into the field's type is
    /// [`Error::Deserialize`].
    ///
    /// ```no_run
    /// # use mongotic::prelude::*;
    /// # #[derive(Debug, Serialize, Deserialize, Model)]
    /// # #[mongotic(database = "app", collection = "users")]
    /// # struct User { #[serde(rename = "_id")] id: Option<ObjectId>, name: String, age: Option<i32> }
    /// # fn demo(update: &mongotic::watch::Updated<User>) -> mongotic::Result<()> {
    /// if let Some(name) = update.updated(User::name)? {
    ///     println!("renamed to {name}");
    /// }
    /// # Ok(()) }
    /// ```
    pub fn updated<V: DeserializeOwned>(&self, field: Field<M, V, One>) -> Result<Option<V>> {
        let path = field.path();
        for element in self.fields.iter() {
            let (key, value) = element.map_err(|err| self.malformed(err))?;
            let found = if key == path {
                Some(value)
            } else {
                // A parent was set whole: the field's value is inside it (or absent).
                path.strip_prefix(key)
                    .and_then(|rest| rest.strip_prefix('.'))
                    .map(|rest| descend(value, rest).unwrap_or(RawBsonRef::Null))
            };
            if let Some(value) = found {
                let value = Bson::try_from(value.to_raw_bson()).map_err(|err| self.malformed(err))?;
                let decoded = bson::from_bson(value).map_err(|source| Error::Deserialize {
                    namespace: self.namespace.clone(),
                    id: Some(Box::new(self.id.clone())),
                    source,
                })?;
                return Ok(Some(decoded));
            }
        }
        Ok(None)
    }

    /// `true` when this update removed `field` (`$unset`), itself or a parent of it.
    ///
    /// ```no_run
    /// # use mongotic::prelude::*;
    /// # #[derive(Debug, Serialize, Deserialize, Model)]
    /// # #[mongotic(database = "app", collection = "users")]
    /// # struct User { #[serde(rename = "_id")] id: Option<ObjectId>, name: String, age: Option<i32> }
    /// # fn demo(update: &mongotic::watch::Updated<User>) {
    /// if update.removed(User::age) { println!("age unknown now") }
    /// # }
    /// ```
    pub fn removed<V, S: Shape>(&self, field: Field<M, V, S>) -> bool {
        let path = field.path();
        self.removed.iter().any(|removed| covers(removed, path))
    }

    /// `true` when this update changed `field` in any way: set or removed it or a parent of
    /// it, changed a part of it (an element of an array, a field of an embedded document), or
    /// truncated it.
    ///
    /// ```no_run
    /// # use mongotic::prelude::*;
    /// # #[derive(Debug, Serialize, Deserialize, Model)]
    /// # #[mongotic(database = "app", collection = "users")]
    /// # struct User { #[serde(rename = "_id")] id: Option<ObjectId>, name: String, tags: Vec<String> }
    /// # fn demo(update: &mongotic::watch::Updated<User>) {
    /// if update.touches(User::tags) { println!("tags changed") }
    /// # }
    /// ```
    pub fn touches<V, S: Shape>(&self, field: Field<M, V, S>) -> bool {
        let path = field.path();
        let related = |changed: &str| covers(changed, path) || covers(path, changed);
        self.updated_paths().any(related)
            || self.removed.iter().any(|removed| related(removed))
            || self.truncated.iter().any(|(truncated, _)| related(truncated))
    }

    /// The paths this update set, as the server names them (`address.city`, `tags.2`).
    ///
    /// ```no_run
    /// # use mongotic::prelude::*;
    /// # #[derive(Debug, Serialize, Deserialize, Model)]
    /// # #[mongotic(database = "app", collection = "users")]
    /// # struct User { #[serde(rename = "_id")] id: Option<ObjectId>, name: String }
    /// # fn demo(update: &mongotic::watch::Updated<User>) {
    /// let paths: Vec<&str> = update.updated_paths().collect();
    /// # }
    /// ```
    pub fn updated_paths(&self) -> impl Iterator<Item = &str> + '_ {
        self.fields.iter().filter_map(|element| element.ok().map(|(key, _)| key))
    }

    /// The paths this update removed.
    ///
    /// ```no_run
    /// # use mongotic::prelude::*;
    /// # #[derive(Debug, Serialize, Deserialize, Model)]
    /// # #[mongotic(database = "app", collection = "users")]
    /// # struct User { #[serde(rename = "_id")] id: Option<ObjectId>, name: String }
    /// # fn demo(update: &mongotic::watch::Updated<User>) {
    /// for path in update.removed_paths() { println!("removed {path}") }
    /// # }
    /// ```
    pub fn removed_paths(&self) -> impl Iterator<Item = &str> + '_ {
        self.removed.iter().map(String::as_str)
    }

    /// The arrays this update shortened, with their new lengths.
    ///
    /// ```no_run
    /// # use mongotic::prelude::*;
    /// # #[derive(Debug, Serialize, Deserialize, Model)]
    /// # #[mongotic(database = "app", collection = "users")]
    /// # struct User { #[serde(rename = "_id")] id: Option<ObjectId>, name: String }
    /// # fn demo(update: &mongotic::watch::Updated<User>) {
    /// for (path, len) in update.truncated_arrays() { println!("{path} now has {len}") }
    /// # }
    /// ```
    pub fn truncated_arrays(&self) -> impl Iterator<Item = (&str, u32)> + '_ {
        self.truncated.iter().map(|(path, len)| (path.as_str(), *len))
    }

    /// The set fields, as the server sent them (`updateDescription.updatedFields`).
    ///
    /// ```no_run
    /// # use mongotic::prelude::*;
    /// # #[derive(Debug, Serialize, Deserialize, Model)]
    /// # #[mongotic(database = "app", collection = "users")]
    /// # struct User { #[serde(rename = "_id")] id: Option<ObjectId>, name: String }
    /// # fn demo(update: &mongotic::watch::Updated<User>) {
    /// println!("{:?}", update.updated_fields());
    /// # }
    /// ```
    pub fn updated_fields(&self) -> &RawDocument {
        &self.fields
    }

    /// The document after the update, when the stream looked it up.
    ///
    /// ```no_run
    /// # use mongotic::prelude::*;
    /// # #[derive(Debug, Serialize, Deserialize, Model)]
    /// # #[mongotic(database = "app", collection = "users")]
    /// # struct User { #[serde(rename = "_id")] id: Option<ObjectId>, name: String }
    /// # fn demo(update: &mongotic::watch::Updated<User>) {
    /// if let Some(user) = update.document() { println!("{}", user.name) }
    /// # }
    /// ```
    pub fn document(&self) -> Option<&M> {
        self.document.as_ref()
    }

    /// The document before the update (a pre-image), when the stream asked for them and the
    /// server has it.
    ///
    /// ```no_run
    /// # use mongotic::prelude::*;
    /// # #[derive(Debug, Serialize, Deserialize, Model)]
    /// # #[mongotic(database = "app", collection = "users")]
    /// # struct User { #[serde(rename = "_id")] id: Option<ObjectId>, name: String }
    /// # fn demo(update: &mongotic::watch::Updated<User>) {
    /// if let Some(was) = update.before() { println!("was {}", was.name) }
    /// # }
    /// ```
    pub fn before(&self) -> Option<&M> {
        self.before.as_ref()
    }

    fn malformed(&self, err: impl fmt::Display) -> Error {
        Error::UnexpectedReply { message: format!("an update event of {} is malformed: {err}", self.namespace) }
    }

    /// The update as `$set` and `$unset` paths, for following it without the document.
    pub(crate) fn parts(&self) -> (&RawDocument, &[String], &[(String, u32)]) {
        (&self.fields, &self.removed, &self.truncated)
    }
}

/// `true` when `outer` is `inner` or a parent path of it.
fn covers(outer: &str, inner: &str) -> bool {
    inner == outer || inner.strip_prefix(outer).is_some_and(|rest| rest.starts_with('.'))
}

/// The value at the dotted `path` inside `value` (array elements by index).
fn descend<'a>(value: RawBsonRef<'a>, path: &str) -> Option<RawBsonRef<'a>> {
    let mut current = value;
    for part in path.split('.') {
        current = match current {
            RawBsonRef::Document(doc) => doc.get(part).ok().flatten()?,
            RawBsonRef::Array(array) => array.get(part.parse().ok()?).ok().flatten()?,
            _ => return None,
        };
    }
    Some(current)
}

/// The parts of a change event every kind shares.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Head {
    #[serde(rename = "_id")]
    token: ResumeToken,
    operation_type: String,
    #[serde(default)]
    document_key: Option<RawDocumentBuf>,
    #[serde(default)]
    cluster_time: Option<Timestamp>,
    #[serde(default)]
    wall_time: Option<DateTime>,
    #[serde(default)]
    update_description: Option<Description>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Description {
    updated_fields: RawDocumentBuf,
    #[serde(default)]
    removed_fields: Vec<String>,
    #[serde(default)]
    truncated_arrays: Vec<Truncated>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Truncated {
    field: String,
    new_size: u32,
}

/// What the stream knows of an event before its documents are decoded: enough to resume after
/// it and to report it.
pub(crate) struct Envelope {
    pub(crate) token: ResumeToken,
    pub(crate) operation: String,
    pub(crate) id: Bson,
    pub(crate) cluster_time: Option<Timestamp>,
    pub(crate) wall_time: Option<DateTime>,
}

/// Reads the shared parts of the change event `raw`.
pub(crate) fn envelope(raw: &RawDocument, namespace: &str) -> Result<(Envelope, Option<Description>)> {
    let head: Head = bson::from_slice(raw.as_bytes()).map_err(|err| Error::UnexpectedReply {
        message: format!("a change event of {namespace} is malformed: {err}"),
    })?;
    let id = head
        .document_key
        .as_ref()
        .and_then(|key| key.get("_id").ok().flatten())
        .and_then(|id| Bson::try_from(id.to_raw_bson()).ok())
        .unwrap_or(Bson::Null);
    let envelope = Envelope {
        token: head.token,
        operation: head.operation_type,
        id,
        cluster_time: head.cluster_time,
        wall_time: head.wall_time,
    };
    Ok((envelope, head.update_description))
}

/// Decodes the change event `raw` of `namespace`. A document in it that does not deserialize
/// into `M` is [`Error::UndecodableEvent`], which carries the event's token.
pub(crate) fn decode<M: Model>(raw: RawDocumentBuf, namespace: &str) -> Result<Event<M>> {
    let (envelope, description) = envelope(&raw, namespace)?;
    let Envelope { token, operation, id, cluster_time, wall_time } = envelope;
    let kind: &'static str = match operation.as_str() {
        "insert" => "insert",
        "update" => "update",
        "replace" => "replace",
        "delete" => "delete",
        _ => "",
    };
    let undecodable = |source: bson::de::Error| Error::UndecodableEvent {
        namespace: namespace.to_owned(),
        id: (!matches!(id, Bson::Null)).then(|| Box::new(id.clone())),
        operation: kind,
        token: Box::new(token.clone()),
        source,
    };
    let document = |key: &str| -> Result<Option<M>> {
        match raw.get(key) {
            Ok(Some(RawBsonRef::Document(doc))) => {
                // An event keeps its token whatever went wrong, so an unknown variant is
                // reported as an undecodable event that names the tag.
                let mut value = M::__decode(doc).map_err(|why| match why {
                    Undecodable::Invalid(source) => undecodable(source),
                    Undecodable::UnknownTag { field, tag } => undecodable(serde::de::Error::custom(format!(
                        "no variant of {} is tagged {field} {}",
                        M::meta().name,
                        tag.map_or_else(|| "(missing)".to_owned(), |tag| format!("`{tag}`"))
                    ))),
                })?;
                value.after_load();
                Ok(Some(value))
            }
            _ => Ok(None),
        }
    };
    let missing =
        || Error::UnexpectedReply { message: format!("an {operation} event of {namespace} came without its document") };
    let change = match kind {
        "insert" => Change::Insert { document: document("fullDocument")?.ok_or_else(missing)? },
        "replace" => Change::Replace {
            document: document("fullDocument")?.ok_or_else(missing)?,
            before: document("fullDocumentBeforeChange")?,
        },
        "update" => {
            let description = description.ok_or_else(|| Error::UnexpectedReply {
                message: format!("an update event of {namespace} came without its updateDescription"),
            })?;
            Change::Update(Updated {
                fields: description.updated_fields,
                removed: description.removed_fields,
                truncated: description.truncated_arrays.into_iter().map(|t| (t.field, t.new_size)).collect(),
                document: document("fullDocument")?,
                before: document("fullDocumentBeforeChange")?,
                namespace: namespace.to_owned(),
                id: id.clone(),
            })
        }
        "delete" => Change::Delete { before: document("fullDocumentBeforeChange")? },
        _ => Change::Collection { operation: operation.clone() },
    };
    Ok(Event { token, id, cluster_time, wall_time, change, raw })
}

impl<M: fmt::Debug> fmt::Debug for Change<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Change::Insert { document } => f.debug_struct("Insert").field("document", document).finish(),
            Change::Replace { document, before } => {
                f.debug_struct("Replace").field("document", document).field("before", before).finish()
            }
            Change::Update(update) => f.debug_tuple("Update").field(update).finish(),
            Change::Delete { before } => f.debug_struct("Delete").field("before", before).finish(),
            Change::Collection { operation } => f.debug_struct("Collection").field("operation", operation).finish(),
        }
    }
}

impl<M: fmt::Debug> fmt::Debug for Updated<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Updated")
            .field("fields", &self.fields)
            .field("removed", &self.removed)
            .field("truncated", &self.truncated)
            .field("document", &self.document)
            .field("before", &self.before)
            .finish()
    }
}

impl<M: fmt::Debug> fmt::Debug for Event<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Event")
            .field("id", &self.id)
            .field("cluster_time", &self.cluster_time)
            .field("change", &self.change)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use bson::{doc, rawdoc};

    use super::*;

    #[test]
    fn covering_paths_stop_at_dots() {
        assert!(covers("address", "address.city"));
        assert!(covers("address.city", "address.city"));
        assert!(!covers("address", "addresses"));
        assert!(!covers("address.city", "address"));
    }

    #[test]
    fn a_value_is_found_inside_a_parent_set_whole() {
        let doc = rawdoc! { "a": { "b": [ { "c": 1 }, { "c": 2 } ] } };
        let a = doc.get("a").ok().flatten();
        assert_eq!(a.and_then(|a| descend(a, "b.1.c")), Some(RawBsonRef::Int32(2)));
        assert_eq!(a.and_then(|a| descend(a, "b.7.c")), None);
        let _ = doc! {};
    }
}
