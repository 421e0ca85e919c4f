//! # mongotic
//!
//! A MongoDB ORM in the style of SQLAlchemy 2.0, on the official `mongodb` driver:
//!
//! - **Models** are `serde` structs with `#[derive(Model)]`, which also gives each field a
//!   typed descriptor (`User::age`) for queries.
//! - **Statements** are plain values: [`select`], [`insert`], [`update`], [`delete`], with
//!   filters checked by the compiler ([`Field`], [`Filter`]).
//! - **The session** is a unit of work: an identity map, change tracking, and a
//!   flush that writes only what changed in as few round trips as the server allows, losing
//!   nothing and writing nothing twice when it fails ([`Session`]).
//! - **Async first**, with a blocking mirror for code without a runtime.
//!
//! ```no_run
//! use mongotic::prelude::*;
//!
//! #[derive(Debug, Clone, Serialize, Deserialize, Model)]
//! #[mongotic(database = "myapp", collection = "users")]
//! struct User {
//!     #[serde(rename = "_id")]
//!     id: Option<ObjectId>,
//!     #[mongotic(unique)]
//!     email: String,
//!     name: String,
//!     age: Option<i32>,
//! }
//!
//! # async fn demo() -> mongotic::Result<()> {
//! let engine = create_engine("mongodb://localhost:27017").await?;
//! create_indexes::<User>(&engine).await?;
//! let factory = sessionmaker(&engine);
//! let mut session = factory.session();
//!
//! let alice = session.add(User { id: None, email: "alice@example.com".into(), name: "Alice".into(), age: Some(30) });
//! session.commit().await?;
//!
//! let adults = session.scalars(select::<User>().filter(User::age.gte(18))).all().await?;
//! alice.write().age = Some(31);
//! session.commit().await?; // {$set: {age: 31}}
//! # Ok(()) }
//! ```
//!
//! The layout follows the architecture: [`model`] (models and ids), [`expr`] (fields, filters,
//! sort keys), [`statement`] (statements, projections, keyset pages), [`relation`] (typed
//! references and batched loading), [`aggregate`] (grouped queries), [`session`] (unit of work,
//! results), [`engine`] (connection and indexes), [`schema`] (validators, collection kinds,
//! views and their sync with the server) and [`error`].

#![warn(missing_docs)]

// Lets the derive's `::mongotic::...` paths resolve inside this crate's own tests.
extern crate self as mongotic;

pub mod aggregate;
pub mod blocking;
mod decode;
pub mod document;
mod encode;
pub mod engine;
pub mod error;
pub mod expr;
pub mod guide;
pub mod migrate;
pub mod model;
pub mod options;
pub mod relation;
pub mod schema;
pub mod session;
pub mod statement;
mod telemetry;
pub mod validation;
pub mod watch;
mod wire;

pub use bson;
pub use mongodb;

pub use engine::{Engine, ModelSet, TransactionMode, create_engine, create_indexes};
pub use error::{Error, FailedWrite, FlushError, Result, WriteKind};
pub use expr::{ArrayField, Field, Filter, IntoSortKeys, SortKey, TextField, ValueOf, and_, not_, or_};
pub use model::{
    Changes, Embedded, Embeds, Flattens, HoldsVariant, HookContext, HookError, Hooks, IdField, IndexDecl, IndexKey,
    IntoId, Model, ModelId, ModelMeta, Polymorphic, SoftDelete, SoftDeleteField, TenantScoped, TimestampField,
    UnknownVariant, Variant, VersionField, Writable,
};
pub use schema::sync_schema;
pub use session::RetryPolicy;
pub use session::{
    EntityRef, Executable, Execution, IntoTracked, ScalarResult, SelectResult, Session, SessionFactory, Tracked,
    sessionmaker,
};
pub use statement::{
    Column, ColumnProjection, CompiledFind, Delete, Distinct, Entities, Insert, Projection, Row, RowIndex,
    ScalarProjection, Select, Untracked, Update, Upsert, UpsertKey, UpsertResult, WriteResult, delete, insert, select,
    update, upsert,
};

/// `#[derive(Model)]`: maps a struct (or an enum of structs) to a collection. See [`Model`](trait@Model) for an example.
///
/// Struct attributes: `#[mongotic(collection = "...")]` (required), `database = "..."`,
/// `index(keys(field = 1, other = -1), name = "...", unique, sparse, expire_after_secs = N,
/// partial_filter = path_to_fn)` (repeatable; a key may also be a string path such as
/// `"address.city"`, and a direction `"text"`, `"hashed"` or `"2dsphere"`).
///
/// `#[mongotic(hooks)]`: the model implements [`Hooks`] itself (otherwise the derive writes an
/// empty implementation).
///
/// `#[mongotic(shard_key(field, ...))]`: the collection is sharded on these fields (Rust field
/// names, or string paths; `id` for `_id`). Every write of a tracked entity (update,
/// replacement, delete, merge, versioned writes) and every read a flush makes to settle or
/// explain a write filters on the whole shard key with the values the server has (a number
/// stored as another numeric type than its field's may be sent as the field's type: filters
/// and `mongos` compare numbers by value), as a `mongos` needs to route it to one shard; an upsert's filter holds the value's shard key
/// beside its natural key (a shard key with `_id` cannot route an upsert on another key, and
/// is refused); a change to a shard key field is
/// [`Error::ShardKeyChanged`] before anything is sent (delete the entity and add it anew
/// instead); [`create_indexes`] creates the shard key's index (named `shard_key`). This is
/// checked through command monitoring and [`Session::preview_flush`]: no sharded cluster runs
/// in the test suite.
///
/// ```
/// use mongotic::prelude::*;
///
/// #[derive(Debug, Serialize, Deserialize, Model)]
/// #[mongotic(database = "shop", collection = "orders")]
/// #[mongotic(shard_key(region, id))]
/// struct Order { #[serde(rename = "_id")] id: i64, region: String, total: i64 }
///
/// assert_eq!(Order::meta().shard_key, ["region", "_id"]);
/// ```
///
/// Field attributes: the id is the field stored as `_id` (`#[serde(rename = "_id")]`;
/// `#[mongotic(id)]` marks it explicitly); `index`, `unique`,
/// `sparse` for single-field indexes; `version` on an `i64`/`i32` counter for optimistic
/// concurrency (see [`Session::flush`]); `created_at` and `updated_at` on
/// [`TimestampField`]s the flush sets. `#[garde(...)]` rules are run before writing (see
/// [`validation`]).
///
/// Schema attributes (see [`schema`]): `#[mongotic(schema(additional = false, level =
/// "strict" | "moderate" | "off", action = "error" | "warn" | "errorAndLog", validator =
/// false))]` for the validator; one collection kind, `timeseries(time = field, meta = field,
/// granularity = "seconds" | "minutes" | "hours", bucket_span_secs = N, expire_after_secs =
/// N)`, `capped(size = N, max = N)`, `clustered` or `clustered(expire_after_secs = N)`, or
/// `view(on = Model | "collection", pipeline = path_to_fn)` for a read-only view; on a field,
/// `schema(any)`, `schema(bson_type = "date")` or `schema(with = path_to_fn)` to replace the
/// schema its type gives.
///
/// On an enum of newtype variants, internally tagged (`#[serde(tag = "kind")]`), the derive
/// makes a polymorphic model: several types in one collection. Each variant's struct derives
/// `Model` with `#[mongotic(variant_of = Enum)]` instead of a collection, which makes it a
/// read-only view of its variant; see [`Polymorphic`] and the
/// [polymorphic models chapter](crate::guide::polymorphic). An enum whose variants declare a
/// soft-delete or tenant field is itself [`SoftDelete`] or [`TenantScoped`].
///
/// ```
/// use mongotic::prelude::*;
///
/// #[derive(Debug, Serialize, Deserialize, Model)]
/// #[serde(tag = "method", rename_all = "snake_case")]
/// #[mongotic(collection = "payments")]
/// enum Payment {
///     Card(CardPayment),
///     Transfer(TransferPayment),
/// }
///
/// #[derive(Debug, Serialize, Deserialize, Model)]
/// #[mongotic(variant_of = Payment)]
/// struct CardPayment { #[serde(rename = "_id")] id: i64, last4: String }
///
/// #[derive(Debug, Serialize, Deserialize, Model)]
/// #[mongotic(variant_of = Payment)]
/// struct TransferPayment { #[serde(rename = "_id")] id: i64, iban: String }
///
/// let cards = select::<CardPayment>().filter(CardPayment::last4.eq("4242"));
/// # let _ = cards;
/// assert_eq!(TransferPayment::meta().collection, "payments");
/// ```
pub use mongotic_derive::Model;

/// `#[derive(Embedded)]`: field descriptors for a struct stored inside a model, so queries
/// can reach its fields with [`Field::dot`]. See [`Embedded`](trait@Embedded). It also derives
/// a trait `<Name>Fields` that gives the models flattening the struct (`#[serde(flatten)]`)
/// descriptors of its fields at the top level; see [`Flattens`]. On an internally tagged enum
/// whose variants hold such structs (or nothing), it gives the enum a `TAG` descriptor, lets
/// `dot` reach the variants' fields and [`Field::is`] filter on the variant; see
/// [`Embedded`](trait@Embedded) for an example.
pub use mongotic_derive::Embedded;

/// The README's examples, compiled as doc tests so they cannot drift from the API.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
struct ReadmeDoctests;

/// Everything a typical program needs: `use mongotic::prelude::*;`.
///
/// ```
/// use mongotic::prelude::*;
///
/// #[derive(Debug, Serialize, Deserialize, Model)]
/// #[mongotic(collection = "notes")]
/// struct Note { #[serde(rename = "_id")] id: Option<ObjectId>, text: String }
///
/// let recent = select::<Note>().filter(Note::text.contains("todo"));
/// # let _ = recent;
/// ```
pub mod prelude {
    pub use crate::{
        Embedded, Engine, EntityRef, Field, Filter, Model, Session, SessionFactory, Tracked, and_, create_engine,
        create_indexes, delete, insert, not_, or_, select, sessionmaker, update, upsert,
    };
    pub use bson::oid::ObjectId;
    pub use serde::{Deserialize, Serialize};
}
