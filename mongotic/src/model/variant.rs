//! Polymorphic models: several Rust types stored side by side in one collection, as the
//! variants of an enum told apart by a tag field.
//!
//! `#[derive(Model)]` on an enum whose variants each hold one struct (newtype variants) makes
//! the enum the model of the collection; serde's internally tagged form
//! (`#[serde(tag = "...")]`) stores each variant's fields beside the tag. Each struct derives
//! `Model` too, with `#[mongotic(variant_of = Enum)]`: that makes it a read-only *view* of its
//! variant, queried with `select::<Struct>()` with its own typed fields and the tag filter
//! added for the user. The enum is the one writable entity of a document; see
//! [`Polymorphic`] for the whole design.

use bson::{Document, RawDocument};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::{Discriminator, IndexDecl, Model, ModelId, ModelMeta};

/// An enum model: one collection, several variants, a tag field that tells them apart.
///
/// Implemented by `#[derive(Model)]` on an enum. Why newtype variants (`Click(Click)`) and not
/// struct variants: each variant's struct is then a model of its own, with typed field
/// descriptors (`Click::url`) for filters, sorts, projections and `group_by`, and a read-only
/// view of the collection (`select::<Click>()`) that returns `Click`s; struct variants have no
/// type to name in a query.
///
/// What a user sees:
/// - `select::<Event>()` returns every variant as `Tracked<Event>`, one handle per document
///   in the identity map, written by the flush like any model: `$set`/`$unset` within a
///   variant, one replacement when the variant changes.
/// - `select::<Click>()` returns only the documents tagged `click`, as read-only
///   `Tracked<Click>` snapshots (a view is not [`Writable`](crate::Writable), so it cannot be
///   staged, changed or deleted): a document has one writable copy, the enum's, and two
///   handles never overwrite each other. To change a click, load it through the enum
///   (`session.get::<Event>(id)`).
/// - A document whose tag no variant declares is [`Error::UnknownVariant`](crate::Error::UnknownVariant),
///   naming the tag, the namespace and the `_id`; or, with a catch-all variant
///   `#[serde(untagged)] Other(UnknownVariant<Id>)`, it is kept whole and written back
///   untouched.
/// - The variants share the collection, the id field and its type (a variant of another id
///   type does not compile), and the roles the flush reads from the model (version,
///   timestamps, soft-delete and tenant fields, shard key): either every variant declares
///   a role, under the same stored name, or none does (checked at compile time).
/// - Indexes declared on a variant are partial to its tag: a unique field is unique within
///   its variant.
///
/// ```
/// use mongotic::prelude::*;
///
/// #[derive(Debug, Clone, Serialize, Deserialize, Model)]
/// #[serde(tag = "kind", rename_all = "snake_case")]
/// #[mongotic(collection = "events")]
/// enum Event {
///     Click(Click),
///     PageView(PageView),
/// }
///
/// #[derive(Debug, Clone, Serialize, Deserialize, Model)]
/// #[mongotic(variant_of = Event)]
/// struct Click {
///     #[serde(rename = "_id")]
///     id: Option<ObjectId>,
///     url: String,
/// }
///
/// #[derive(Debug, Clone, Serialize, Deserialize, Model)]
/// #[mongotic(variant_of = Event)]
/// struct PageView {
///     #[serde(rename = "_id")]
///     id: Option<ObjectId>,
///     path: String,
///     millis: i64,
/// }
///
/// use mongotic::model::{Polymorphic, Variant};
/// assert_eq!(Event::TAG_FIELD, "kind");
/// assert_eq!(<PageView as Variant>::TAG, "page_view");
/// assert_eq!(Click::meta().collection, "events");
/// let slow = select::<PageView>().filter(PageView::millis.gt(500)); // only page views
/// let event: Event = Click { id: None, url: "/".into() }.into();
/// # let _ = (slow, event);
/// ```
pub trait Polymorphic: Model {
    /// The stored name of the tag field.
    const TAG_FIELD: &'static str;
    /// The tags the variants are stored under, in declaration order (a catch-all variant has
    /// none).
    const TAGS: &'static [&'static str];
    /// The collection; the variants' views read it too.
    #[doc(hidden)]
    const COLLECTION: &'static str;
    /// The database the enum declares, if any.
    #[doc(hidden)]
    const DATABASE: Option<&'static str>;
}

/// The struct of one variant of a [`Polymorphic`] model: a read-only view of the documents
/// tagged [`TAG`](Variant::TAG). Implemented by `#[derive(Model)]` on the enum, for each
/// struct declared with `#[mongotic(variant_of = Enum)]`.
///
/// ```
/// # use mongotic::prelude::*;
/// # #[derive(Debug, Serialize, Deserialize, Model)]
/// # #[serde(tag = "type")]
/// # #[mongotic(collection = "payments")]
/// # enum Payment { Card(Card) }
/// # #[derive(Debug, Serialize, Deserialize, Model)]
/// # #[mongotic(variant_of = Payment)]
/// # struct Card { #[serde(rename = "_id")] id: i64, last4: String }
/// use mongotic::model::Variant;
/// assert_eq!(<Card as Variant>::TAG, "Card");
/// let payment = Card { id: 1, last4: "4242".into() }.into_enum();
/// assert!(matches!(payment, Payment::Card(_)));
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a variant of a polymorphic model",
    note = "declare `{Self}` with #[mongotic(variant_of = Enum)] and hold it in a newtype variant of `Enum`"
)]
pub trait Variant: Model {
    /// The enum model this struct is a variant of.
    type Of: Polymorphic;
    /// The tag its documents carry.
    const TAG: &'static str;

    /// Wraps the value in its variant of the enum.
    fn into_enum(self) -> Self::Of;
}

/// The catch-all variant of a [`Polymorphic`] model: a document whose tag the model does not
/// know, kept whole. Declare it as the last variant, `#[serde(untagged)] Other(UnknownVariant<Id>)`;
/// the flush writes it back untouched unless the program changes it, and it has no version,
/// timestamps or validation.
///
/// ```
/// # use mongotic::prelude::*;
/// use mongotic::model::UnknownVariant;
///
/// #[derive(Debug, Serialize, Deserialize, Model)]
/// #[serde(tag = "kind")]
/// #[mongotic(collection = "events")]
/// enum Event {
///     Click(Click),
///     #[serde(untagged)]
///     Other(UnknownVariant<i64>),
/// }
/// # #[derive(Debug, Serialize, Deserialize, Model)]
/// # #[mongotic(variant_of = Event)]
/// # struct Click { #[serde(rename = "_id")] id: i64 }
///
/// let raw = mongotic::bson::rawdoc! { "_id": 7_i64, "kind": "purchase", "total": 12 };
/// let event = <Event as Model>::__decode(&raw).unwrap();
/// let Event::Other(unknown) = &event else { panic!("not the catch-all") };
/// assert_eq!((unknown.id(), unknown.tag("kind")), (&7, Some("purchase")));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct UnknownVariant<I> {
    id: I,
    document: Document,
}

impl<I: ModelId> UnknownVariant<I> {
    /// The document's `_id`.
    pub fn id(&self) -> &I {
        &self.id
    }

    /// The document as stored.
    pub fn document(&self) -> &Document {
        &self.document
    }

    /// The document, to change before the flush writes it back (changing its `_id` is
    /// refused by the flush, as for any entity).
    pub fn document_mut(&mut self) -> &mut Document {
        &mut self.document
    }

    /// The string value of the tag field `field`, if the document has one.
    pub fn tag(&self, field: &str) -> Option<&str> {
        self.document.get_str(field).ok()
    }

    /// Sets the id (used by the session: a stored document always has one).
    #[doc(hidden)]
    pub fn set_id(&mut self, id: I) {
        self.document.insert("_id", id.to_bson());
        self.id = id;
    }

    /// Keeps a stored document that no variant declares.
    #[doc(hidden)]
    pub fn from_raw(raw: &RawDocument) -> Result<Self, bson::de::Error> {
        let document = Document::try_from(raw).map_err(<bson::de::Error as serde::de::Error>::custom)?;
        Self::from_document(document)
    }

    fn from_document(document: Document) -> Result<Self, bson::de::Error> {
        let id = match document.get("_id") {
            Some(id) => bson::from_bson(id.clone())?,
            None => return Err(serde::de::Error::missing_field("_id")),
        };
        Ok(UnknownVariant { id, document })
    }
}

impl<I> Serialize for UnknownVariant<I> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.document.serialize(serializer)
    }
}

impl<'de, I: ModelId> Deserialize<'de> for UnknownVariant<I> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let document = Document::deserialize(deserializer)?;
        Self::from_document(document).map_err(serde::de::Error::custom)
    }
}

/// The tag of a stored document: the string value of `field`, if it has one.
#[doc(hidden)]
pub fn tag_of<'a>(raw: &'a RawDocument, field: &str) -> Option<&'a str> {
    raw.get_str(field).ok()
}

/// The pieces `#[derive(Model)]` writes for an enum model. Not part of the API.
#[doc(hidden)]
pub mod __private {
    use super::*;

    /// The stored name every variant gives one role (a version, a timestamp, ...): the same
    /// name in every variant, or none in all. Evaluated at compile time: a disagreement fails
    /// the build, naming the role.
    pub const fn agree(names: &[Option<&'static str>]) -> Option<&'static str> {
        let Some(first) = names.first() else { return None };
        let mut index = 1;
        while index < names.len() {
            let same = match (first, &names[index]) {
                (Some(a), Some(b)) => same_str(a, b),
                (None, None) => true,
                _ => false,
            };
            if !same {
                panic!(
                    "the variants of a polymorphic model disagree on a role (version, created_at, updated_at, soft_delete or tenant): every variant declares it under the same stored name, or none does"
                );
            }
            index += 1;
        }
        *first
    }

    /// The shard key every variant declares: the same paths in all of them.
    pub const fn agree_paths(keys: &[&'static [&'static str]]) -> &'static [&'static str] {
        let Some(first) = keys.first() else { return &[] };
        let mut index = 1;
        while index < keys.len() {
            let other = keys[index];
            let mut same = first.len() == other.len();
            let mut path = 0;
            while same && path < first.len() {
                same = same_str(first[path], other[path]);
                path += 1;
            }
            if !same {
                panic!(
                    "the variants of a polymorphic model declare different shard keys: declare one shard_key(..) on every variant"
                );
            }
            index += 1;
        }
        first
    }

    /// The indexes of all variants, in one array (`N` is their number).
    pub const fn concat_indexes<const N: usize>(parts: &[&'static [IndexDecl]]) -> [IndexDecl; N] {
        const EMPTY: IndexDecl = IndexDecl {
            keys: &[],
            name: None,
            unique: false,
            sparse: false,
            expire_after_secs: None,
            partial_filter: None,
        };
        let mut all = [EMPTY; N];
        let mut next = 0;
        let mut part = 0;
        while part < parts.len() {
            let mut index = 0;
            while index < parts[part].len() {
                all[next] = parts[part][index];
                next += 1;
                index += 1;
            }
            part += 1;
        }
        all
    }

    /// The number of indexes of all variants.
    pub const fn count_indexes(parts: &[&'static [IndexDecl]]) -> usize {
        let mut count = 0;
        let mut part = 0;
        while part < parts.len() {
            count += parts[part].len();
            part += 1;
        }
        count
    }

    /// A variant's partial filter: its tag, and the filter the index declares.
    pub fn partial_to_tag(field: &str, tag: &str, declared: Option<fn() -> Document>) -> Document {
        let mut filter = bson::doc! { field: tag };
        if let Some(declared) = declared {
            filter.extend(declared());
        }
        filter
    }

    /// The meta of a variant's view: the enum's collection, filtered on the variant's tag.
    /// The collection's validator is the enum's, so the view declares none.
    pub const fn view_meta(meta: ModelMeta, field: &'static str, tag: &'static str) -> ModelMeta {
        ModelMeta { validation: None, ..meta.with_discriminator(field, Some(tag)) }
    }

    /// A variant's struct: its model's meta as a constant, which the enum's meta is built
    /// from at compile time. Implemented by `#[derive(Model)]` with `variant_of`.
    #[diagnostic::on_unimplemented(
        message = "`{Self}` is not declared as a variant",
        note = "add #[mongotic(variant_of = TheEnum)] to `{Self}` (and derive Model on it)"
    )]
    pub trait VariantView: Model {
        /// The view's meta.
        const META: ModelMeta;
    }

    /// The meta of an enum model: the enum's own (collection, schema, kind) with the roles
    /// its variants agree on, the flags any of them sets, and the tag field.
    pub const fn enum_meta(
        meta: ModelMeta,
        tag_field: &'static str,
        variants: &[&ModelMeta],
        hooks: bool,
    ) -> ModelMeta {
        let mut versions = [None; MAX_VARIANTS];
        let mut updated = [None; MAX_VARIANTS];
        let mut created = [None; MAX_VARIANTS];
        let mut soft = [None; MAX_VARIANTS];
        let mut tenants = [None; MAX_VARIANTS];
        let mut keys: [&'static [&'static str]; MAX_VARIANTS] = [&[]; MAX_VARIANTS];
        let mut prepares = hooks;
        let mut validates = hooks;
        if variants.len() > MAX_VARIANTS {
            panic!("a polymorphic model has at most 64 variants");
        }
        let mut index = 0;
        while index < variants.len() {
            let variant = variants[index];
            versions[index] = variant.version;
            updated[index] = variant.updated_at;
            created[index] = variant.created_at;
            soft[index] = variant.soft_delete;
            tenants[index] = variant.tenant;
            keys[index] = variant.shard_key;
            prepares |= variant.prepares;
            validates |= variant.validates;
            index += 1;
        }
        let count = variants.len();
        let version = agree(first(&versions, count));
        let updated_at = agree(first(&updated, count));
        let created_at = agree(first(&created, count));
        let soft_delete = agree(first(&soft, count));
        let tenant = agree(first(&tenants, count));
        let shard_key = agree_paths(first_keys(&keys, count));
        ModelMeta {
            version,
            updated_at,
            created_at,
            soft_delete,
            tenant,
            shard_key,
            prepares,
            validates,
            discriminator: Some(Discriminator { field: tag_field, tag: None }),
            ..meta
        }
    }

    const MAX_VARIANTS: usize = 64;

    const fn first<'a>(names: &'a [Option<&'static str>; MAX_VARIANTS], count: usize) -> &'a [Option<&'static str>] {
        names.split_at(count).0
    }

    const fn first_keys<'a>(
        keys: &'a [&'static [&'static str]; MAX_VARIANTS],
        count: usize,
    ) -> &'a [&'static [&'static str]] {
        keys.split_at(count).0
    }

    /// Whether the enum's id type is the variant's: used in a `where` clause so that a
    /// variant of another id type fails to compile.
    pub trait SameId<I> {}
    impl<M: Model> SameId<M::Id> for M {}

    /// Checks, at compile time, that `V`'s id type is `I`.
    pub const fn same_id<V: SameId<I>, I>() {}

    const fn same_str(a: &str, b: &str) -> bool {
        let (a, b) = (a.as_bytes(), b.as_bytes());
        if a.len() != b.len() {
            return false;
        }
        let mut index = 0;
        while index < a.len() {
            if a[index] != b[index] {
                return false;
            }
            index += 1;
        }
        true
    }
}

/// Any document: the catch-all keeps whatever is stored.
impl<I> crate::schema::BsonSchema for UnknownVariant<I> {
    fn bson_schema(_generator: &mut crate::schema::SchemaGenerator) -> Document {
        bson::doc! { "bsonType": "object" }
    }
}
