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

/// The methods of a statement that holds a list of values (`values`, `value`, `len`,
/// `is_empty`), for `$ty<M>` started by `$start` (a doc example's expression).
macro_rules! value_list_methods {
    ($ty:ident, $start:literal, $what:literal) => {
        impl<M: $crate::Model> $ty<M> {
            #[doc = concat!("Adds values to ", $what, ".")]
            ///
            /// ```
            /// # use mongotic::prelude::*;
            /// # #[derive(Debug, Serialize, Deserialize, Model)]
            /// # #[mongotic(collection = "users")]
            /// # struct User { #[serde(rename = "_id")] id: Option<ObjectId>, name: String }
            #[doc = concat!("let stmt = ", $start, ".values(vec![User { id: None, name: \"Ann\".into() }]);")]
            /// assert!(!stmt.is_empty());
            /// ```
            pub fn values(mut self, values: impl IntoIterator<Item = M>) -> Self {
                self.values.extend(values);
                self
            }

            #[doc = concat!("Adds one value to ", $what, ".")]
            ///
            /// ```
            /// # use mongotic::prelude::*;
            /// # #[derive(Debug, Serialize, Deserialize, Model)]
            /// # #[mongotic(collection = "users")]
            /// # struct User { #[serde(rename = "_id")] id: Option<ObjectId>, name: String }
            #[doc = concat!("let stmt = ", $start, ".value(User { id: None, name: \"Ann\".into() });")]
            /// assert_eq!(stmt.len(), 1);
            /// ```
            pub fn value(mut self, value: M) -> Self {
                self.values.push(value);
                self
            }

            #[doc = concat!("The number of values to ", $what, ".")]
            ///
            /// ```
            /// # use mongotic::prelude::*;
            /// # #[derive(Debug, Serialize, Deserialize, Model)]
            /// # #[mongotic(collection = "users")]
            /// # struct User { #[serde(rename = "_id")] id: Option<ObjectId>, name: String }
            #[doc = concat!("assert_eq!(", $start, ".len(), 0);")]
            /// ```
            pub fn len(&self) -> usize {
                self.values.len()
            }

            #[doc = concat!("`true` when there is nothing to ", $what, " (running it does no I/O).")]
            ///
            /// ```
            /// # use mongotic::prelude::*;
            /// # #[derive(Debug, Serialize, Deserialize, Model)]
            /// # #[mongotic(collection = "users")]
            /// # struct User { #[serde(rename = "_id")] id: Option<ObjectId>, name: String }
            #[doc = concat!("assert!(", $start, ".is_empty());")]
            /// ```
            pub fn is_empty(&self) -> bool {
                self.values.is_empty()
            }
        }
    };
}

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
