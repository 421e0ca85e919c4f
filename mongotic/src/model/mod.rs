//! Models: Rust structs mapped to MongoDB collections.
//!
//! A model is a `serde` struct with `#[derive(Model)]`. The derive implements [`Model`] (where
//! the documents live, which field is the `_id`, which indexes to create) and adds one typed
//! [`Field`](crate::Field) descriptor per field, such as `User::age`, for building queries.
//! Structs stored inside a model's documents derive [`Embedded`](macro@crate::Embedded) to get
//! descriptors of their own, so queries can reach nested fields.
//!
//! ```
//! # use mongotic::prelude::*;
//! # #[derive(Debug, Serialize, Deserialize, Model)]
//! # #[mongotic(database = "app", collection = "users")]
//! # struct User { #[serde(rename = "_id")] id: Option<ObjectId>, name: String, age: Option<i32> }
//! assert_eq!(User::meta().collection, "users");
//! assert_eq!(User::name.path(), "name");
//! ```

mod behaviour;
mod embedded;
mod id;
mod index;
mod scope;
pub mod variant;

use std::fmt::Debug;

use bson::Bson;
use serde::{Serialize, de::DeserializeOwned};

pub use behaviour::{Changes, HookContext, HookError, Hooks, TimestampField, VersionField};
pub(crate) use behaviour::{HookEvent, Staged};
pub use embedded::{Embedded, Embeds, Flattens, HoldsVariant};
pub(crate) use id::IdKey;
pub use id::{IdField, IntoId, ModelId};
pub use index::{IndexDecl, IndexKey};
pub use scope::{SoftDelete, SoftDeleteField, TenantScoped};
pub use variant::{Polymorphic, UnknownVariant, Variant};

use crate::error::Undecodable;
use crate::schema::{CollectionKind, Validation};
use crate::validation::Violations;

/// A Rust type stored as the documents of one MongoDB collection.
///
/// Implement it with `#[derive(Model)]`; the derive checks the declaration at compile time
/// (an id field stored as `_id`, known options, index keys that name real fields).
///
/// The id is the field serde stores as `_id`: one attribute, `#[serde(rename = "_id")]`, and
/// plain serde for everything else. An `Option` id (`Option<ObjectId>`) is `None` until a
/// flush or a bulk `insert` generates it, which happens before the value is serialized, so
/// mongotic never writes a `None` id. (Code that writes the same struct without mongotic,
/// such as the raw driver's `insert_many`, should add `skip_serializing_if =
/// "Option::is_none"`, or it stores `_id: null`.) `#[mongotic(id)]` marks the field
/// explicitly (optional).
///
/// ```
/// use mongotic::prelude::*;
///
/// #[derive(Debug, Clone, Serialize, Deserialize, Model)]
/// #[mongotic(database = "shop", collection = "products")]
/// #[mongotic(index(keys(category = 1, price = -1)))]
/// struct Product {
///     #[serde(rename = "_id")]
///     id: Option<ObjectId>,
///     #[mongotic(unique)]
///     sku: String,
///     category: String,
///     price: f64,
/// }
///
/// assert_eq!(Product::meta().collection, "products");
/// assert_eq!(Product::price.path(), "price");
/// ```
pub trait Model: Hooks + Serialize + DeserializeOwned + Debug + Send + Sync + 'static {
    /// The type of the `_id` value (without the `Option` of a generated id).
    type Id: ModelId;

    /// Where the documents live and what the model is called.
    fn meta() -> &'static ModelMeta;

    /// The entity's id, or `None` when it has not been assigned yet.
    fn id(&self) -> Option<&Self::Id>;

    /// Sets the entity's id.
    fn set_id(&mut self, id: Self::Id);

    // The `__` methods below are how the flush reaches what `#[derive(Model)]` generates
    // (versions, timestamps, checks). The derive writes them in the user's crate, so they
    // must be callable there and cannot be sealed; they are hidden, and not part of the API.

    /// The value of the `#[mongotic(version)]` field. Used by the flush.
    #[doc(hidden)]
    fn __version(&self) -> Option<i64> {
        None
    }

    /// Sets the `#[mongotic(version)]` field. Used by the flush.
    #[doc(hidden)]
    fn __set_version(&mut self, _version: i64) {}

    /// Sets the `created_at` (when `inserting`) and `updated_at` fields. Used by the flush.
    #[doc(hidden)]
    fn __stamp(&mut self, _inserting: bool, _now: bson::DateTime) {}

    /// Sets the `#[mongotic(soft_delete)]` field: when the document was deleted, or `None`.
    /// Used by the flush.
    #[doc(hidden)]
    fn __set_deleted(&mut self, _at: Option<bson::DateTime>) {}

    /// Sets the `#[mongotic(tenant)]` field to the session's tenant. Used by the flush and bulk
    /// inserts.
    #[doc(hidden)]
    fn __set_tenant(&mut self, _tenant: &Bson) -> Result<(), bson::de::Error> {
        Ok(())
    }

    /// Checks the value's declared constraints and hand-written checks. Used by the flush.
    #[doc(hidden)]
    fn __validate(&self, _report: &mut Violations) {}

    /// Checks one value a bulk `update` sets on the field stored as `path`. Used by `update`.
    #[doc(hidden)]
    fn __validate_field(_path: &str, _value: &Bson, _report: &mut Violations) {}

    /// Decodes a stored document. Every read goes through it; an enum model reads its tag
    /// from the raw bytes and decodes the matching variant directly.
    #[doc(hidden)]
    fn __decode(raw: &bson::RawDocument) -> Result<Self, Undecodable> {
        Ok(bson::from_slice(raw.as_bytes())?)
    }
}

/// What the derive records about a model: its name, database, collection and indexes.
///
/// ```
/// # use mongotic::prelude::*;
/// # #[derive(Debug, Serialize, Deserialize, Model)]
/// # #[mongotic(collection = "notes")]
/// # struct Note { #[serde(rename = "_id")] #[mongotic(id)] id: String }
/// let meta = Note::meta();
/// assert_eq!((meta.name, meta.database, meta.collection), ("Note", None, "notes"));
/// ```
#[derive(Debug)]
pub struct ModelMeta {
    /// The Rust name of the model, for messages.
    pub name: &'static str,
    /// The database the model declares, if any; the engine may override it.
    pub database: Option<&'static str>,
    /// The collection name.
    pub collection: &'static str,
    /// The indexes the model declares, applied by [`create_indexes`](crate::create_indexes).
    pub indexes: &'static [IndexDecl],
    /// The stored name of the `#[mongotic(version)]` field, if the model has one.
    pub version: Option<&'static str>,
    /// The stored name of the `#[mongotic(updated_at)]` field, if the model has one.
    pub updated_at: Option<&'static str>,
    /// The stored name of the `#[mongotic(created_at)]` field, if the model has one (an
    /// upsert writes it only when it inserts).
    pub created_at: Option<&'static str>,
    /// The stored paths of the shard key (`#[mongotic(shard_key(..))]`), in order; empty
    /// for a collection that is not sharded.
    pub shard_key: &'static [&'static str],
    /// The stored name of the `#[mongotic(soft_delete)]` field, if the model has one.
    pub soft_delete: Option<&'static str>,
    /// The stored name of the `#[mongotic(tenant)]` field, if the model has one.
    pub tenant: Option<&'static str>,
    /// The model's generated `$jsonSchema` (see [`schema::json_schema`](crate::schema::json_schema)).
    pub schema: fn() -> bson::Document,
    /// How the validator is applied, or `None` when [`sync_schema`](crate::schema::sync_schema)
    /// leaves the collection's validator alone (`#[mongotic(schema(validator = false))]`, a
    /// view, a time series).
    pub validation: Option<Validation>,
    /// What the collection is: plain, capped, time series, clustered, or a view.
    pub kind: CollectionKind,
    /// For a polymorphic model and the views of its variants: the tag field, and (for a
    /// variant's view) the tag every read filters on.
    pub discriminator: Option<Discriminator>,
    /// Hooks or timestamps change the value while a flush is planned.
    pub(crate) prepares: bool,
    /// Constraints or hand-written checks to run before writing.
    pub(crate) validates: bool,
    /// The description of a namespace's documents without a model (see
    /// [`document`](crate::document)), not of a model.
    pub(crate) untyped: bool,
}

impl ModelMeta {
    /// Used by the derive.
    #[doc(hidden)]
    pub const fn new(
        name: &'static str,
        database: Option<&'static str>,
        collection: &'static str,
        indexes: &'static [IndexDecl],
    ) -> Self {
        ModelMeta {
            name,
            database,
            collection,
            indexes,
            version: None,
            updated_at: None,
            created_at: None,
            shard_key: &[],
            soft_delete: None,
            tenant: None,
            schema: bson::Document::new,
            validation: Some(Validation {
                level: crate::schema::ValidationLevel::Strict,
                action: crate::schema::ValidationAction::Error,
            }),
            kind: CollectionKind::Standard,
            discriminator: None,
            prepares: false,
            validates: false,
            untyped: false,
        }
    }

    /// The description of the documents of `database.collection` without a model.
    pub(crate) const fn untyped(database: &'static str, collection: &'static str) -> Self {
        ModelMeta { validation: None, untyped: true, ..ModelMeta::new("Document", Some(database), collection, &[]) }
    }

    /// `true` when this describes the model-less documents of `namespace` (`db.coll`).
    pub(crate) fn is_untyped_in(&self, namespace: &str) -> bool {
        self.untyped
            && self.database.is_some_and(|database| {
                namespace.strip_prefix(database).and_then(|rest| rest.strip_prefix('.')) == Some(self.collection)
            })
    }

    /// Used by the derive.
    #[doc(hidden)]
    pub const fn with_behaviour(
        self,
        version: Option<&'static str>,
        updated_at: Option<&'static str>,
        prepares: bool,
        validates: bool,
    ) -> Self {
        ModelMeta { version, updated_at, prepares, validates, ..self }
    }

    /// Used by the derive.
    #[doc(hidden)]
    pub const fn with_shard_key(self, shard_key: &'static [&'static str]) -> Self {
        ModelMeta { shard_key, ..self }
    }

    /// Used by the derive.
    #[doc(hidden)]
    pub const fn with_scopes(self, soft_delete: Option<&'static str>, tenant: Option<&'static str>) -> Self {
        ModelMeta { soft_delete, tenant, ..self }
    }

    /// Used by the derive.
    #[doc(hidden)]
    pub const fn with_created_at(self, created_at: Option<&'static str>) -> Self {
        ModelMeta { created_at, ..self }
    }

    /// Used by the derive.
    #[doc(hidden)]
    pub const fn with_schema(
        self,
        schema: fn() -> bson::Document,
        validation: Option<Validation>,
        kind: CollectionKind,
    ) -> Self {
        ModelMeta { schema, validation, kind, ..self }
    }

    /// Used by the derive.
    #[doc(hidden)]
    pub const fn with_discriminator(self, field: &'static str, tag: Option<&'static str>) -> Self {
        ModelMeta { discriminator: Some(Discriminator { field, tag }), ..self }
    }

    /// `true` for a view: a read-only model.
    ///
    /// ```
    /// # use mongotic::prelude::*;
    /// # #[derive(Debug, Serialize, Deserialize, Model)]
    /// # #[mongotic(collection = "notes")]
    /// # struct Note { #[serde(rename = "_id")] #[mongotic(id)] id: String }
    /// assert!(!Note::meta().is_view());
    /// ```
    pub fn is_view(&self) -> bool {
        matches!(self.kind, CollectionKind::View(_))
    }
}

/// How the documents of a [`Polymorphic`] model tell their variant.
///
/// ```
/// # use mongotic::prelude::*;
/// # #[derive(Debug, Serialize, Deserialize, Model)]
/// # #[serde(tag = "type")]
/// # #[mongotic(collection = "payments")]
/// # enum Payment { Card(Card) }
/// # #[derive(Debug, Serialize, Deserialize, Model)]
/// # #[mongotic(variant_of = Payment)]
/// # struct Card { #[serde(rename = "_id")] id: i64 }
/// let enum_side = Payment::meta().discriminator.unwrap();
/// assert_eq!((enum_side.field, enum_side.tag), ("type", None));
/// let view = Card::meta().discriminator.unwrap();
/// assert_eq!((view.field, view.tag), ("type", Some("Card")));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Discriminator {
    /// The stored name of the tag field.
    pub field: &'static str,
    /// The tag a variant's view reads (`None` on the enum, which reads every variant).
    pub tag: Option<&'static str>,
}

/// A model whose documents can be written: every model but a view.
///
/// `#[derive(Model)]` implements it for collections and not for views
/// (`#[mongotic(view(..))]`), so writing a view does not compile: `Session::add`, `merge`
/// and `delete`, `Tracked::write`, and the bulk [`insert`](crate::insert),
/// [`update`](crate::update) and [`delete`](crate::delete) statements require it.
///
/// ```
/// use mongotic::prelude::*;
///
/// #[derive(Debug, Serialize, Deserialize, Model)]
/// #[mongotic(collection = "notes")]
/// struct Note { #[serde(rename = "_id")] id: Option<ObjectId>, text: String }
///
/// fn stage<M: mongotic::Writable>(session: &mut Session, value: M) {
///     session.add(value);
/// }
/// # let _ = stage::<Note>;
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be written: it is not `Writable` (a view is read-only)",
    label = "not writable",
    note = "a model declared with #[mongotic(view(..))] is queried only: write to the model it reads; \
            a variant's view (#[mongotic(variant_of = Enum)]) is written through its enum, `Enum::from(value)`; \
            in generic code, bound the model by `mongotic::Writable`"
)]
pub trait Writable: Model {}
