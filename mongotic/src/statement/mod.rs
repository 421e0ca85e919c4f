//! Statements: `select`, `insert`, `update`, `delete`.
//!
//! Statements are plain values built with chained methods; they do no I/O until a session
//! runs them, and each has a `compile` method that shows exactly what it will send.

mod dml;
mod projection;
mod select;

pub use dml::{Delete, Insert, Update, WriteResult, delete, insert, update};
pub use projection::{ColumnProjection, Entities, Projection, Row, RowIndex, ScalarProjection};
pub use select::{CompiledFind, Distinct, Select, select};
