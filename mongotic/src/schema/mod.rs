//! Schema as code: validators generated from models, collection kinds, views, and a sync of
//! all of it with the server.
//!
//! - **Validators.** Every model has a `$jsonSchema`, generated from its fields' Rust types
//!   ([`BsonSchema`]) and the names serde stores them under, with the constraints its
//!   `#[garde(...)]` rules declare where `$jsonSchema` can express them ([`json_schema`]).
//!   [`sync_schema`] applies it as the collection's validator, so other writers (a script,
//!   another service, an older release) cannot store a document the model cannot read. A
//!   document the server refuses is [`Error::SchemaValidation`](crate::Error::SchemaValidation),
//!   naming it and the rules it failed.
//! - **Collection kinds** ([`CollectionKind`]): `timeseries(..)`, `capped(..)`, `clustered`.
//! - **Views** ([`View`]): read-only models over another collection and a pipeline, which
//!   queries read and which no write compiles for.
//! - **[`sync_schema`]** creates and updates all of it for a set of models, with a dry run
//!   that returns the plan ([`SchemaPlan`]) and sends nothing.
//!
//! The guide's chapter on schemas (`src/guide/schema.md`) walks through it.
//!
//! ```
//! use mongotic::prelude::*;
//! use mongotic::bson::doc;
//!
//! #[derive(Debug, Serialize, Deserialize, Model, garde::Validate)]
//! #[mongotic(collection = "people", schema(additional = false))]
//! #[garde(allow_unvalidated)]
//! struct Person {
//!     #[serde(rename = "_id")]
//!     id: Option<ObjectId>,
//!     #[garde(length(chars, min = 1, max = 80))]
//!     name: String,
//!     #[garde(range(min = 0, max = 150))]
//!     age: Option<i32>,
//! }
//!
//! assert_eq!(
//!     mongotic::schema::json_schema::<Person>(),
//!     doc! {
//!         "bsonType": "object",
//!         "required": ["_id", "name"],
//!         "properties": {
//!             "_id": { "bsonType": "objectId" },
//!             "name": { "bsonType": "string", "minLength": 1_i64, "maxLength": 80_i64 },
//!             "age": { "bsonType": ["int", "long", "null"], "minimum": 0, "maximum": 150 },
//!         },
//!         "additionalProperties": false,
//!     }
//! );
//! ```

#[doc(hidden)]
#[path = "private.rs"]
pub mod __private;
mod json;
mod kind;
mod plan;
mod sync;
mod validator;
mod view;

pub use json::{BsonSchema, SchemaGenerator, json_schema};
pub use kind::{Capped, Clustered, CollectionKind, Granularity, TimeField, TimeSeries};
pub use plan::{SchemaAction, SchemaPlan, SchemaStep, SyncOptions, UndeclaredIndex};
pub use sync::sync_schema;
pub use validator::{RuleFailure, Validation, ValidationAction, ValidationLevel};
pub use view::{View, ViewSource};

pub(crate) use validator::failures;

/// `#[derive(BsonSchema)]`: the `$jsonSchema` of a struct or an enum stored in models, per
/// serde's representation of it (field renames, `default`, `skip_serializing_if`,
/// `flatten`; an enum's unit variants as strings, externally, internally or adjacently
/// tagged, or untagged). Structs that derive [`Embedded`](macro@crate::Embedded) have it
/// already. See [`BsonSchema`].
///
/// ```
/// use mongotic::prelude::*;
/// use mongotic::bson::doc;
/// use mongotic::schema::{BsonSchema, SchemaGenerator};
///
/// #[derive(Debug, Serialize, Deserialize, BsonSchema)]
/// #[serde(rename_all = "snake_case")]
/// enum Status { Draft, InReview, Published }
///
/// assert_eq!(
///     SchemaGenerator::new().schema_of::<Status>(),
///     doc! { "bsonType": "string", "enum": ["draft", "in_review", "published"] }
/// );
/// ```
pub use mongotic_derive::BsonSchema;
