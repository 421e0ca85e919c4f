//! Expressions: field descriptors, filters and sort keys.
//!
//! Everything here is a plain value: building a filter does no I/O, and compiling it to BSON
//! is deterministic, so queries can be unit-tested without a server.

mod field;
mod filter;
mod pattern;
mod sort;
mod value;

pub use field::Field;
pub use filter::{Filter, and_, not_, or_};
pub(crate) use filter::{Node, compile_all};
pub use sort::{IntoSortKeys, SortKey};
pub use value::{ArrayField, TextField, ValueOf};
