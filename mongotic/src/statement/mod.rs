//! Statements: `select`, `insert`, `update`, `delete`, `upsert`.
//!
//! Statements are plain values built with chained methods; they do no I/O until a session
//! runs them, and each has a `compile` method that shows exactly what it will send.
//!
//! ```
//! # use mongotic::prelude::*;
//! # #[derive(Debug, Serialize, Deserialize, Model)]
//! # #[mongotic(database = "app", collection = "users")]
//! # struct User { #[serde(rename = "_id")] id: Option<ObjectId>, name: String, age: Option<i32> }
//! let find = select::<User>().filter(User::age.gte(18)).order_by(-User::age).limit(10).compile().unwrap();
//! assert_eq!(find.limit, Some(10));
//! let (_, changes) = update::<User>().set(User::age, 31).compile().unwrap();
//! assert_eq!(changes, mongotic::bson::doc! { "$set": { "age": 31 } });
//! ```

mod dml;
mod keyset;
mod projection;
mod select;
mod upsert;

pub use dml::{Delete, Insert, Update, WriteResult, delete, insert, update};
pub use keyset::{AfterRow, Keyset};
pub use projection::{Column, ColumnProjection, Entities, Projection, Row, RowIndex, ScalarProjection, Untracked};
pub(crate) use select::Paging;
pub use select::{CompiledFind, Distinct, Select, select};
pub(crate) use upsert::statement as upsert_statement;
pub use upsert::{Upsert, UpsertKey, UpsertResult, upsert};
