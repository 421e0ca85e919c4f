//! `upsert`: insert each value, or update the document that already has its natural key.
//!
//! An upsert names the key (one field or several, usually with a unique index on them) and
//! the values. For each value the server matches a document on the key: when one exists its
//! fields take the value's, else the value is inserted. Some fields are written only when the
//! document is inserted (`$setOnInsert`): the `_id`, the `created_at` timestamp, and the fields
//! the statement names with [`on_insert`](Upsert::on_insert). The same statements serve the
//! bulk statement and an entity staged with [`Session::upsert`](crate::Session::upsert).

use std::borrow::Cow;

use bson::{RawBson, RawBsonRef, RawDocument, RawDocumentBuf};

use crate::expr::One;
use crate::model::ModelMeta;
use crate::options::Options;
use crate::wire::value_at;
use crate::{Error, Field, Model, Result};

/// The fields a value is matched on: a field, or a tuple of up to four fields (a compound
/// key). Implemented for [`Field`]s of one value per document.
///
/// ```
/// # use mongotic::prelude::*;
/// # #[derive(Debug, Serialize, Deserialize, Model)]
/// # #[mongotic(collection = "users")]
/// # struct User { #[serde(rename = "_id")] id: Option<ObjectId>, region: String, email: String }
/// use mongotic::statement::UpsertKey;
/// assert_eq!(UpsertKey::<User>::paths(&User::email), vec!["email"]);
/// assert_eq!(UpsertKey::<User>::paths(&(User::region, User::email)), vec!["region", "email"]);
/// ```
pub trait UpsertKey<M> {
    /// The stored paths of the key's fields, in order.
    fn paths(&self) -> Vec<Cow<'static, str>>;
}

impl<M, V> UpsertKey<M> for Field<M, V, One> {
    fn paths(&self) -> Vec<Cow<'static, str>> {
        vec![self.shared_path()]
    }
}

macro_rules! tuple_keys {
    ($($v:ident $f:ident),+) => {
        impl<M, $($v),+> UpsertKey<M> for ($(Field<M, $v, One>,)+) {
            fn paths(&self) -> Vec<Cow<'static, str>> {
                let ($($f,)+) = self;
                vec![$($f.shared_path()),+]
            }
        }
    };
}

tuple_keys!(A a, B b);
tuple_keys!(A a, B b, C c);
tuple_keys!(A a, B b, C c, D d);

/// What an [`Upsert`] did.
///
/// ```
/// let result = mongotic::UpsertResult::<i64>::default();
/// assert_eq!((result.inserted, result.matched, result.modified), (0, 0, 0));
/// assert!(result.upserted_ids.is_empty());
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct UpsertResult<Id = bson::Bson> {
    /// Values inserted as new documents.
    pub inserted: u64,
    /// Values whose key matched a stored document.
    pub matched: u64,
    /// Matched documents the update changed (a value equal to the stored one changes nothing).
    pub modified: u64,
    /// The position of each inserted value in the statement and its document's `_id`, in
    /// order.
    pub upserted_ids: Vec<(usize, Id)>,
}

impl<Id> Default for UpsertResult<Id> {
    fn default() -> Self {
        UpsertResult { inserted: 0, matched: 0, modified: 0, upserted_ids: Vec::new() }
    }
}

/// Inserts each value, or updates the document that has its key, in one round trip.
///
/// Run it with [`Session::execute`](crate::Session::execute); the result counts what was
/// inserted, matched and modified and lists the upserted ids. Two sessions upserting the same
/// new key at once leave one document: the one whose insert loses the race on the key's
/// unique index is sent again and updates the winner's document. A statement whose reply is
/// lost (the connection drops) is an error and is not sent again by mongotic; it is idempotent
/// on its key, so running it again is safe (what the lost attempt inserted then counts as
/// matched).
///
/// The filter of each statement is the key's values, with the session's scopes (its tenant,
/// live documents of a soft-delete model) and the value's shard key fields, which a sharded
/// cluster routes an upsert by (a shard key that holds `_id` cannot route an upsert on another
/// key: that is [`Error::InvalidStatement`], before anything is sent); `$set` holds every other
/// field of the value, and
/// `$setOnInsert` the `_id`, the `created_at` timestamp and the fields named by
/// [`on_insert`](Upsert::on_insert). A version field is moved on (`$inc`) whether the document
/// was inserted or updated (a new document starts at version 1).
///
/// ```
/// # use mongotic::prelude::*;
/// # #[derive(Debug, Serialize, Deserialize, Model)]
/// # #[mongotic(collection = "users")]
/// # struct User { #[serde(rename = "_id")] id: Option<ObjectId>, email: String, name: String, signed_up_by: String }
/// let stmt = upsert::<User>()
///     .on(User::email)
///     .on_insert(User::signed_up_by)
///     .value(User { id: None, email: "ann@example.com".into(), name: "Ann".into(), signed_up_by: "import".into() });
/// let (filter, update) = &stmt.compile().unwrap()[0];
/// assert_eq!(filter, &mongotic::bson::doc! { "email": "ann@example.com" });
/// assert_eq!(update.get_document("$set").unwrap(), &mongotic::bson::doc! { "name": "Ann" });
/// assert!(update.get_document("$setOnInsert").unwrap().contains_key("signed_up_by"));
/// ```
pub struct Upsert<M> {
    pub(crate) values: Vec<M>,
    pub(crate) key: Vec<Cow<'static, str>>,
    pub(crate) insert_only: Vec<Cow<'static, str>>,
    pub(crate) options: Options,
}

/// Starts an [`Upsert`] for model `M`.
///
/// ```
/// # use mongotic::prelude::*;
/// # #[derive(Debug, Serialize, Deserialize, Model)]
/// # #[mongotic(collection = "users")]
/// # struct User { #[serde(rename = "_id")] id: Option<ObjectId>, email: String, name: String }
/// let stmt = upsert::<User>().on(User::email).values([User { id: None, email: "a@b.c".into(), name: "A".into() }]);
/// assert_eq!(stmt.len(), 1);
/// ```
pub fn upsert<M: crate::Writable>() -> Upsert<M> {
    Upsert { values: Vec::new(), key: Vec::new(), insert_only: Vec::new(), options: Options::default() }
}

value_list_methods!(Upsert, "upsert::<User>().on(User::name)", "upsert");

impl<M: Model> Upsert<M> {
    /// Matches values on `key`: a field, or a tuple of fields for a compound key. Required.
    ///
    /// ```
    /// # use mongotic::prelude::*;
    /// # #[derive(Debug, Serialize, Deserialize, Model)]
    /// # #[mongotic(collection = "users")]
    /// # struct User { #[serde(rename = "_id")] id: Option<ObjectId>, region: String, email: String }
    /// let stmt = upsert::<User>().on((User::region, User::email));
    /// ```
    pub fn on(mut self, key: impl UpsertKey<M>) -> Self {
        self.key = key.paths();
        self
    }

    /// Writes `field` only when the document is inserted: an update leaves the stored value.
    /// Several calls add fields.
    ///
    /// ```
    /// # use mongotic::prelude::*;
    /// # #[derive(Debug, Serialize, Deserialize, Model)]
    /// # #[mongotic(collection = "users")]
    /// # struct User { #[serde(rename = "_id")] id: Option<ObjectId>, email: String, invited_by: String }
    /// let stmt = upsert::<User>().on(User::email).on_insert(User::invited_by);
    /// ```
    pub fn on_insert<V>(mut self, field: Field<M, V, One>) -> Self {
        self.insert_only.push(field.shared_path());
        self
    }

    /// The filter and the update of each value, as sent without scopes (a session adds its
    /// tenant and soft-delete filter to each filter). Ids are not generated here: a value
    /// without one gets it when the statement runs.
    ///
    /// ```
    /// # use mongotic::prelude::*;
    /// # #[derive(Debug, Serialize, Deserialize, Model)]
    /// # #[mongotic(collection = "users")]
    /// # struct User { #[serde(rename = "_id")] id: i64, email: String, name: String }
    /// let stmt = upsert::<User>().on(User::email).value(User { id: 7, email: "a@b.c".into(), name: "A".into() });
    /// let (filter, update) = &stmt.compile().unwrap()[0];
    /// assert_eq!(filter, &mongotic::bson::doc! { "email": "a@b.c" });
    /// assert_eq!(update, &mongotic::bson::doc! { "$set": { "name": "A" }, "$setOnInsert": { "_id": 7_i64 } });
    /// ```
    pub fn compile(&self) -> Result<Vec<(bson::Document, bson::Document)>> {
        let namespace = M::meta().collection;
        self.values
            .iter()
            .map(|value| {
                let raw = crate::encode::entity_to_raw(value).map_err(|err| Error::serialize(namespace, err))?;
                let (filter, update) =
                    statement(M::meta(), &raw, &self.key, &self.insert_only, &RawDocumentBuf::new())?;
                Ok((document(&filter)?, document(&update)?))
            })
            .collect()
    }
}

fn document(raw: &RawDocument) -> Result<bson::Document> {
    raw.try_into().map_err(|err: bson::raw::Error| Error::InvalidStatement { message: err.to_string() })
}

/// The filter and the update of the upsert of the serialized value `doc` of `meta` on `key`,
/// with `insert_only` fields written only on insert, narrowed to `scope` (equalities the
/// filter adds, so an inserted document carries them: the tenant, a soft-delete field's
/// `null`). A key field missing from the value is [`Error::InvalidValue`].
pub(crate) fn statement(
    meta: &ModelMeta,
    doc: &RawDocument,
    key: &[Cow<'static, str>],
    insert_only: &[Cow<'static, str>],
    scope: &RawDocument,
) -> Result<(RawDocumentBuf, RawDocumentBuf)> {
    if key.is_empty() {
        return Err(Error::InvalidStatement {
            message: format!("an upsert of {} names no key: call .on(field)", meta.name),
        });
    }
    let mut filter = RawDocumentBuf::new();
    for path in key {
        let Some(value) = value_at(doc, path) else {
            return Err(Error::InvalidValue {
                path: path.to_string(),
                message: "an upsert's value has no value for its key field".into(),
            });
        };
        filter.append_ref(path.as_ref(), value);
    }
    for element in scope.iter_elements() {
        let element = element.map_err(|err| Error::InvalidStatement { message: err.to_string() })?;
        if !key.iter().any(|path| path == element.key()) {
            let value = element.value().map_err(|err| Error::InvalidStatement { message: err.to_string() })?;
            filter.append_ref(element.key(), value);
        }
    }
    // A sharded collection routes an upsert by the shard key, which its filter must hold
    // whole: the value's shard key fields join the key's. A shard key with `_id` cannot be
    // had unless the upsert is on it: the stored document's `_id` is what the upsert finds.
    for path in meta.shard_key {
        if filter.get(path).ok().flatten().is_some() {
            continue;
        }
        if *path == "_id" {
            return Err(Error::InvalidStatement {
                message: format!(
                    "an upsert of {} on a natural key cannot be routed: its shard key holds _id, which \
                     only the stored document knows; upsert on a key that includes the id, or shard on fields of the key",
                    meta.name
                ),
            });
        }
        match value_at(doc, path) {
            Some(value) => filter.append_ref(*path, value),
            None => filter.append(*path, RawBson::Null),
        }
    }
    let kept_by_filter = |name: &str| {
        key.iter().any(|path| path == name)
            || scope.get(name).ok().flatten().is_some()
            || meta.shard_key.contains(&name)
            || Some(name) == meta.tenant
            || Some(name) == meta.soft_delete
    };
    let mut set = RawDocumentBuf::new();
    let mut on_insert = RawDocumentBuf::new();
    for element in doc.iter_elements() {
        let element = element.map_err(|err| Error::InvalidStatement { message: err.to_string() })?;
        let name = element.key();
        let value = element.value().map_err(|err| Error::InvalidStatement { message: err.to_string() })?;
        // A missing id (`None`) is generated by the server when the document is inserted.
        if Some(name) == meta.version || kept_by_filter(name) || (name == "_id" && value == RawBsonRef::Null) {
            continue;
        }
        if name == "_id" || Some(name) == meta.created_at || insert_only.iter().any(|path| path == name) {
            on_insert.append_ref(name, value);
        } else {
            set.append_ref(name, value);
        }
    }
    let mut update = RawDocumentBuf::new();
    if !set.is_empty() {
        update.append("$set", set);
    }
    if !on_insert.is_empty() {
        update.append("$setOnInsert", on_insert);
    }
    if let Some(field) = meta.version {
        let mut inc = RawDocumentBuf::new();
        inc.append(field, RawBson::Int64(1));
        update.append("$inc", inc);
    }
    if update.is_empty() {
        // A value of nothing but its key: an update names at least one field.
        let mut keys = RawDocumentBuf::new();
        if let Some(first) = filter.iter().next() {
            let (name, value) = first.map_err(|err| Error::InvalidStatement { message: err.to_string() })?;
            keys.append_ref(name, value);
        }
        update.append("$setOnInsert", keys);
    }
    Ok((filter, update))
}

crate::options::statement_options!(Upsert<M>, "upsert::<User>().on(User::name)", [timeout, comment, write_concern]);
