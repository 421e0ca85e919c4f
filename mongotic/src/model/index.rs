//! Index declarations, as written by the derive, and their conversion to the driver's
//! `IndexModel`.

use std::time::Duration;

use bson::{Bson, Document};
use mongodb::IndexModel;
use mongodb::options::IndexOptions;

/// The kind of one key of an index.
///
/// ```
/// use mongotic::IndexKey;
/// assert_eq!(IndexKey::Descending.to_bson(), mongotic::bson::Bson::Int32(-1));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IndexKey {
    /// `1`
    Ascending,
    /// `-1`
    Descending,
    /// `"text"`
    Text,
    /// `"hashed"`
    Hashed,
    /// `"2dsphere"`
    Sphere2d,
}

impl IndexKey {
    /// The value of this key in an index specification.
    ///
    /// ```
    /// assert_eq!(mongotic::IndexKey::Text.to_bson(), mongotic::bson::Bson::String("text".into()));
    /// ```
    pub fn to_bson(self) -> Bson {
        match self {
            IndexKey::Ascending => Bson::Int32(1),
            IndexKey::Descending => Bson::Int32(-1),
            IndexKey::Text => Bson::String("text".into()),
            IndexKey::Hashed => Bson::String("hashed".into()),
            IndexKey::Sphere2d => Bson::String("2dsphere".into()),
        }
    }
}

/// One index a model declares, in the form the derive writes it.
///
/// Declared with `#[mongotic(index)]`, `#[mongotic(unique)]` or `#[mongotic(sparse)]` on a
/// field, or with `#[mongotic(index(keys(..), ..))]` on the struct.
///
/// ```
/// use mongotic::prelude::*;
///
/// fn adults() -> mongotic::bson::Document {
///     mongotic::bson::doc! { "age": { "$gte": 18 } }
/// }
///
/// #[derive(Debug, Serialize, Deserialize, Model)]
/// #[mongotic(collection = "people")]
/// #[mongotic(index(keys(name = 1, age = -1), name = "by_name_age", unique, partial_filter = adults))]
/// #[mongotic(index(keys(seen_at = 1), expire_after_secs = 3600))]
/// struct Person {
///     #[serde(rename = "_id")] #[mongotic(id)] id: i64,
///     #[mongotic(unique, sparse)] email: Option<String>,
///     name: String,
///     age: i32,
///     seen_at: mongotic::bson::DateTime,
/// }
///
/// let models: Vec<_> = Person::meta().indexes.iter().map(|i| i.to_index_model()).collect();
/// assert_eq!(models.len(), 3);
/// assert_eq!(models[1].keys, mongotic::bson::doc! { "name": 1, "age": -1 });
/// ```
#[derive(Debug, Clone, Copy)]
pub struct IndexDecl {
    /// The keys, in order: stored field path and kind.
    pub keys: &'static [(&'static str, IndexKey)],
    /// Index name; the server derives one from the keys when absent.
    pub name: Option<&'static str>,
    /// Reject documents with a duplicate key.
    pub unique: bool,
    /// Skip documents that lack the indexed field.
    pub sparse: bool,
    /// TTL: delete documents this many seconds after the indexed date.
    pub expire_after_secs: Option<u64>,
    /// Index only the documents matching the filter this function returns.
    pub partial_filter: Option<fn() -> Document>,
}

impl IndexDecl {
    /// The driver's index model for this declaration.
    ///
    /// ```
    /// # use mongotic::prelude::*;
    /// # #[derive(Debug, Clone, Serialize, Deserialize, Model)]
    /// # #[mongotic(database = "app", collection = "users")]
    /// # struct User { #[serde(rename = "_id")] id: Option<ObjectId>, name: String, age: Option<i32>, active: bool }
    /// let models: Vec<_> = User::meta().indexes.iter().map(|index| index.to_index_model()).collect();
    /// assert!(models.is_empty()); // User declares no index
    /// ```
    pub fn to_index_model(&self) -> IndexModel {
        let keys: Document = self.keys.iter().map(|(path, kind)| ((*path).to_owned(), kind.to_bson())).collect();
        let options = IndexOptions::builder()
            .name(self.name.map(str::to_owned))
            .unique(self.unique.then_some(true))
            .sparse(self.sparse.then_some(true))
            .expire_after(self.expire_after_secs.map(Duration::from_secs))
            .partial_filter_expression(self.partial_filter.map(|filter| filter()))
            .build();
        IndexModel::builder().keys(keys).options(options).build()
    }
}
