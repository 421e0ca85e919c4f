//! Keyset pagination: the next page of a sorted select starts after the last row of the
//! previous one, found by a filter on the sort keys (ties broken by `_id`), never by `skip`.
//!
//! Skipping `n` rows costs the server `n` rows of work per page and shifts when rows are
//! inserted or deleted between pages; a keyset costs one index seek and returns every row once
//! even when sort values repeat. For a sort `(k1, k2)` and a last row `(v1, v2, id)`, the next
//! page is `k1 after v1, or k1 = v1 and k2 after v2, or k1 = v1 and k2 = v2 and _id > id`,
//! where "after" follows each key's direction and MongoDB's order (null and missing first).

use bson::{Bson, RawBsonRef, RawDocument};
use serde::{Deserialize, Serialize};

use crate::expr::{Node, SortKey, Test, Value};
use crate::session::Tracked;
use crate::{Error, Model, Result};

/// Where a page ended: the values of the select's sort keys in its last row, then that row's
/// `_id`. Pass it (or the last row itself) to [`Select::after`](crate::Select::after) for the
/// next page. It serializes with serde, so it can travel as a page token (in a URL or a JSON
/// body) and come back.
///
/// ```
/// use mongotic::prelude::*;
/// use mongotic::statement::Keyset;
///
/// #[derive(Debug, Serialize, Deserialize, Model)]
/// #[mongotic(collection = "users")]
/// struct User { #[serde(rename = "_id")] #[mongotic(id)] id: i64, age: i32 }
///
/// let page = select::<User>().order_by(-User::age).limit(20);
/// let last = User { id: 7, age: 30 };
/// let token: Keyset = page.keyset_of(&last).unwrap();
/// assert_eq!(token.values(), [mongotic::bson::Bson::Int32(30), mongotic::bson::Bson::Int64(7)]);
/// let next = page.after(token).unwrap();
/// # let _ = next;
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Keyset {
    values: Vec<Bson>,
}

impl Keyset {
    /// A keyset of the given values: one per sort key, then the `_id`.
    ///
    /// ```
    /// use mongotic::statement::Keyset;
    /// use mongotic::bson::Bson;
    /// let token = Keyset::new(vec![Bson::Int32(30), Bson::Int64(7)]);
    /// assert_eq!(token.values().len(), 2);
    /// ```
    pub fn new(values: Vec<Bson>) -> Self {
        Keyset { values }
    }

    /// The values: one per sort key, then the `_id`.
    ///
    /// ```
    /// use mongotic::statement::Keyset;
    /// assert!(Keyset::new(vec![]).values().is_empty());
    /// ```
    pub fn values(&self) -> &[Bson] {
        &self.values
    }
}

/// Where a page ends, as [`Select::after`](crate::Select::after) takes it: the last row as a
/// handle ([`Tracked`]), as a plain value (an untracked row), or a [`Keyset`].
///
/// ```
/// # use mongotic::prelude::*;
/// # use mongotic::statement::{AfterRow, Keyset};
/// # #[derive(Debug, Serialize, Deserialize, Model)]
/// # #[mongotic(collection = "users")]
/// # struct User { #[serde(rename = "_id")] #[mongotic(id)] id: i64, age: i32 }
/// fn takes<R: AfterRow<User>>(_: R) {}
/// takes(&User { id: 1, age: 2 });
/// takes(Keyset::new(vec![]));
/// ```
pub trait AfterRow<M> {
    /// The keyset of this row for a select sorted by `paths` (then `_id`).
    #[doc(hidden)]
    fn keyset(self, paths: &[&str]) -> Result<Keyset>;
}

impl<M: Model> AfterRow<M> for &M {
    fn keyset(self, paths: &[&str]) -> Result<Keyset> {
        let raw = crate::encode::entity_to_raw(self).map_err(|source| Error::Serialize {
            namespace: M::meta().collection.to_owned(),
            source: Box::new(source),
        })?;
        keyset_from(&raw, paths, M::meta().name)
    }
}

impl<M: Model> AfterRow<M> for &Tracked<M> {
    fn keyset(self, paths: &[&str]) -> Result<Keyset> {
        (&*self.read()).keyset(paths)
    }
}

impl<M> AfterRow<M> for Keyset {
    fn keyset(self, _paths: &[&str]) -> Result<Keyset> {
        Ok(self)
    }
}

impl<M> AfterRow<M> for &Keyset {
    fn keyset(self, _paths: &[&str]) -> Result<Keyset> {
        Ok(self.clone())
    }
}

/// The values at `paths` in a stored row (null where missing), then its `_id`.
fn keyset_from(raw: &RawDocument, paths: &[&str], model: &'static str) -> Result<Keyset> {
    let mut values = Vec::with_capacity(paths.len() + 1);
    for path in paths {
        values.push(value_at(raw, path)?);
    }
    match value_at(raw, "_id")? {
        Bson::Null => return Err(Error::NoId { model }),
        id => values.push(id),
    }
    Ok(Keyset { values })
}

fn value_at(raw: &RawDocument, path: &str) -> Result<Bson> {
    let invalid = |message: String| Error::InvalidValue { path: path.to_owned(), message };
    let mut current = RawBsonRef::Document(raw);
    for step in path.split('.') {
        let RawBsonRef::Document(doc) = current else { return Ok(Bson::Null) };
        match doc.get(step).map_err(|err| invalid(err.to_string()))? {
            Some(value) => current = value,
            None => return Ok(Bson::Null),
        }
    }
    Bson::try_from(current.to_raw_bson()).map_err(|err| invalid(err.to_string()))
}

/// The filter of the rows after `keyset` in the order of `keys` (whose last key is `_id`).
pub(crate) fn after_filter<M>(keys: &[SortKey<M>], keyset: &Keyset) -> Result<Node> {
    if keyset.values.len() != keys.len() {
        return Err(Error::InvalidStatement {
            message: format!(
                "the keyset has {} values but the select sorts by {} keys and `_id`",
                keyset.values.len(),
                keys.len().saturating_sub(1)
            ),
        });
    }
    let mut branches = Vec::new();
    for (position, key) in keys.iter().enumerate() {
        let Some(after) = strictly_after(key, &keyset.values[position]) else { continue };
        let mut branch: Vec<Node> = keys[..position]
            .iter()
            .zip(&keyset.values)
            .map(|(earlier, value)| field(earlier, equal_to(value)))
            .collect();
        branch.push(after);
        branches.push(Node::And(branch));
    }
    Ok(Node::Or(branches))
}

fn field<M>(key: &SortKey<M>, test: Test) -> Node {
    Node::Field { path: key.path.clone(), test }
}

fn equal_to(value: &Bson) -> Test {
    match value {
        Bson::Null => Test::IsNull,
        value => Test::Ops(vec![("$eq", Value::Bson(value.clone()))]),
    }
}

/// The rows whose `key` comes strictly after `value` in the key's direction; `None` when
/// none can (after a null in descending order). Null and missing sort before every value.
fn strictly_after<M>(key: &SortKey<M>, value: &Bson) -> Option<Node> {
    let op = |op: &'static str, value: &Bson| Test::Ops(vec![(op, Value::Bson(value.clone()))]);
    match (key.direction >= 0, value) {
        (true, Bson::Null) => Some(field(key, op("$ne", &Bson::Null))),
        (true, value) => Some(field(key, op("$gt", value))),
        (false, Bson::Null) => None,
        (false, value) => Some(Node::Or(vec![field(key, op("$lt", value)), field(key, Test::IsNull)])),
    }
}
