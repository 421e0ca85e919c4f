//! Expressions: field descriptors, filters and sort keys.
//!
//! Everything here is a plain value: building a filter does no I/O, and compiling it to BSON
//! is deterministic, so queries can be unit-tested without a server.
//!
//! ```
//! # use mongotic::prelude::*;
//! # #[derive(Debug, Serialize, Deserialize, Model)]
//! # #[mongotic(database = "app", collection = "users")]
//! # struct User { #[serde(rename = "_id")] id: Option<ObjectId>, name: String, age: Option<i32> }
//! let teens = User::age.between(13, 19) & !User::name.starts_with("Bot");
//! assert!(teens.to_document().is_ok());
//! ```

mod field;
mod filter;
mod pattern;
mod sort;
mod untyped;
mod value;

pub use field::{Field, Many, One, Shape};
pub use filter::{Filter, and_, not_, or_};
pub(crate) use filter::{Node, Test, Value, compile_all};
pub use sort::{IntoSortKeys, SortKey};
pub(crate) use untyped::refused_path;
pub use untyped::{AnyValue, Untyped, path};
pub use value::{ArrayField, TextField, ValueOf};
