//! Untyped paths: filters and sorts over documents that have no model (see
//! [`document`](crate::document)), where the compiler cannot check a path or its values.
//!
//! A path is text, so what the type checker does for a model is done here at run time: a path
//! that is empty, has an empty segment or starts with `$` is refused when the statement is
//! compiled (it would be an operator, not a field), and values are always sent as operands
//! (`{"name": {"$eq": <value>}}`), so a string from a user never becomes an operator.

use std::borrow::Cow;

use bson::Bson;
use serde::Serialize;

use super::field::Field;
use super::value::{ArrayField, TextField, ValueOf};

/// The "model" of an untyped [`path`]: filters and sort keys over documents without a model
/// are `Filter<Untyped>` and `SortKey<Untyped>`, so they cannot be mixed with a model's.
///
/// ```
/// use mongotic::expr::{Filter, Untyped, path};
///
/// let adults: Filter<Untyped> = path("age").gte(18);
/// # let _ = adults;
/// ```
#[derive(Debug)]
pub enum Untyped {}

/// The value type of an untyped [`path`]: it compares with any serializable value, takes the
/// string operators and the array operators.
///
/// ```
/// use mongotic::expr::path;
/// use mongotic::bson::doc;
///
/// assert_eq!(path("tags").has("rust").to_document().unwrap(), doc! { "tags": { "$eq": "rust" } });
/// assert_eq!(path("name").starts_with("A").to_document().unwrap(),
///            doc! { "name": { "$regex": "^A", "$options": "s" } });
/// ```
#[derive(Debug)]
pub enum AnyValue {}

impl<T: Serialize> ValueOf<AnyValue> for T {
    fn into_bson(self) -> Result<Bson, bson::ser::Error> {
        bson::to_bson(&self)
    }
}

impl TextField for AnyValue {}

impl ArrayField for AnyValue {
    type Elem = AnyValue;
}

/// A field of documents without a model, by its stored (dotted) path: `path("address.city")`.
///
/// It has the methods of a model's [`Field`] (comparisons, `in_`, string and array operators,
/// `exists`, sort order with `asc`/`desc`/`-`), taking any serializable value.
///
/// ```
/// use mongotic::expr::path;
/// use mongotic::bson::doc;
///
/// let filter = path("address.city").eq("Paris") & path("age").gte(18);
/// assert_eq!(filter.to_document().unwrap(), doc! { "$and": [
///     { "address.city": { "$eq": "Paris" } },
///     { "age": { "$gte": 18 } },
/// ] });
/// // A user's string is an operand, never an operator:
/// let sneaky = path("name").eq(doc! { "$ne": "" });
/// assert_eq!(sneaky.to_document().unwrap(), doc! { "name": { "$eq": { "$ne": "" } } });
/// // A path that would be an operator is refused when compiled:
/// assert!(path("$where").eq(1).to_document().is_err());
/// ```
pub fn path(path: impl Into<Cow<'static, str>>) -> Field<Untyped, AnyValue> {
    Field::at(path.into())
}

/// Why `path` cannot be a stored field path, if it cannot.
pub(crate) fn refused_path(path: &str) -> Option<&'static str> {
    let bytes = path.as_bytes();
    if bytes.is_empty() {
        return Some("a field path cannot be empty");
    }
    if bytes[0] == b'$' {
        return Some("a field path cannot start with `$` (it would be an operator)");
    }
    // One pass over the bytes (every edit of a document checks its path): an empty segment is
    // a dot at the start, after another dot or at the end.
    let (mut empty_segment, mut nul, mut after_dot) = (false, false, true);
    for &byte in bytes {
        empty_segment |= byte == b'.' && after_dot;
        nul |= byte == 0;
        after_dot = byte == b'.';
    }
    if empty_segment || after_dot {
        Some("a field path cannot have an empty segment")
    } else if nul {
        Some("a field path cannot contain a NUL byte")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::refused_path;

    /// The rule as it reads: what the one-pass check must agree with.
    fn reference(path: &str) -> Option<&'static str> {
        if path.is_empty() {
            Some("a field path cannot be empty")
        } else if path.starts_with('$') {
            Some("a field path cannot start with `$` (it would be an operator)")
        } else if path.split('.').any(str::is_empty) {
            Some("a field path cannot have an empty segment")
        } else if path.contains('\0') {
            Some("a field path cannot contain a NUL byte")
        } else {
            None
        }
    }

    #[test]
    fn paths_are_refused_for_what_they_are() {
        for (path, refused) in [
            ("a", false),
            ("a.b", false),
            ("a.$b", false),
            ("", true),
            ("$a", true),
            (".a", true),
            ("a.", true),
            ("a..b", true),
            ("a\0", true),
        ] {
            assert_eq!(refused_path(path).is_some(), refused, "{path:?}");
            assert_eq!(refused_path(path), reference(path), "{path:?}");
        }
    }

    proptest! {
        #[test]
        fn the_one_pass_check_agrees_with_the_rule(path in "[a$.\\x00é]{0,6}") {
            prop_assert_eq!(refused_path(&path), reference(&path));
        }
    }
}
