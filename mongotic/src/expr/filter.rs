//! Filters: a small expression tree, typed by model, compiled to a MongoDB query document.
//!
//! Field descriptors build the leaves ([`Field::eq`](crate::Field::eq) and friends); `&`, `|`,
//! `!` and [`and_`], [`or_`], [`not_`] combine them. Negation is pushed to where MongoDB can
//! express it: `!` of a field test becomes a field-level `$not`, `!` of an `or_` becomes
//! `$nor`. Compiling is deterministic and does no I/O.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;
use std::ops::{BitAnd, BitOr, Not};

use bson::{Bson, Document};

use crate::{Error, Result};

/// A query condition on documents of model `M`.
///
/// ```
/// use mongotic::prelude::*;
/// use mongotic::bson::doc;
///
/// #[derive(Debug, Serialize, Deserialize, Model)]
/// #[mongotic(collection = "users")]
/// struct User {
///     #[serde(rename = "_id")] #[mongotic(id)] id: i64,
///     name: String,
///     age: Option<i32>,
/// }
///
/// let f = User::age.gte(18) & !User::name.starts_with("Bot");
/// assert_eq!(
///     f.to_document().unwrap(),
///     doc! { "$and": [
///         { "age": { "$gte": 18 } },
///         { "name": { "$not": { "$regex": "^Bot", "$options": "s" } } },
///     ] }
/// );
/// ```
pub struct Filter<M> {
    node: Node,
    _model: PhantomData<fn() -> M>,
}

/// A value in a filter: serialized when the filter was built, or the reason it could not be.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Value {
    Bson(Bson),
    Invalid(String),
}

impl Value {
    pub(crate) fn from_result(result: std::result::Result<Bson, bson::ser::Error>) -> Value {
        match result {
            Ok(bson) => Value::Bson(bson),
            Err(err) => Value::Invalid(err.to_string()),
        }
    }

    fn to_bson(&self, path: &str) -> Result<Bson> {
        match self {
            Value::Bson(bson) => Ok(bson.clone()),
            Value::Invalid(message) => Err(Error::InvalidValue { path: path.to_owned(), message: message.clone() }),
        }
    }
}

/// What a leaf tests about its field.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Test {
    /// `{path: {op: value, ...}}`, e.g. `$eq`, `$in`, `$gte` + `$lte`, `$regex` + `$options`.
    Ops(Vec<(&'static str, Value)>),
    /// `{path: null}`: null or missing.
    IsNull,
    /// `{path: {$not: {...}}}`.
    Not(Box<Test>),
}

/// The expression tree.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Node {
    Field { path: Cow<'static, str>, test: Test },
    And(Vec<Node>),
    Or(Vec<Node>),
    Nor(Vec<Node>),
}

impl Node {
    fn negate(self) -> Node {
        match self {
            Node::Field { path, test } => Node::Field { path, test: test.negate() },
            Node::Or(nodes) => Node::Nor(nodes),
            Node::Nor(nodes) => Node::Or(nodes),
            and @ Node::And(_) => Node::Nor(vec![and]),
        }
    }

    /// The field paths the expression tests, in order.
    pub(crate) fn paths(&self) -> Vec<&str> {
        match self {
            Node::Field { path, .. } => vec![path.as_ref()],
            Node::And(nodes) | Node::Or(nodes) | Node::Nor(nodes) => nodes.iter().flat_map(Node::paths).collect(),
        }
    }

    pub(crate) fn compile(&self) -> Result<Document> {
        match self {
            Node::Field { path, test } => {
                if let Some(why) = super::refused_path(path) {
                    return Err(Error::InvalidStatement { message: format!("{why}: {path:?}") });
                }
                let mut doc = Document::new();
                doc.insert(path.as_ref(), test.compile(path)?);
                Ok(doc)
            }
            // MongoDB rejects empty `$and`/`$or`/`$nor` lists, so the empty cases are written
            // out: all of nothing and none of nothing match everything, any of nothing matches
            // nothing.
            Node::And(nodes) | Node::Nor(nodes) if nodes.is_empty() => Ok(Document::new()),
            Node::Or(nodes) if nodes.is_empty() => Ok(bson::doc! { "_id": { "$in": [] } }),
            Node::And(nodes) | Node::Or(nodes) if nodes.len() == 1 => nodes[0].compile(),
            Node::And(nodes) => compile_list("$and", nodes),
            Node::Or(nodes) => compile_list("$or", nodes),
            Node::Nor(nodes) => compile_list("$nor", nodes),
        }
    }
}

fn compile_list(op: &str, nodes: &[Node]) -> Result<Document> {
    let list = nodes.iter().map(|node| node.compile().map(Bson::Document)).collect::<Result<Vec<_>>>()?;
    let mut doc = Document::new();
    doc.insert(op, list);
    Ok(doc)
}

impl Test {
    fn negate(self) -> Test {
        match self {
            Test::Not(inner) => *inner,
            other => Test::Not(Box::new(other)),
        }
    }

    fn compile(&self, path: &str) -> Result<Bson> {
        match self {
            Test::IsNull => Ok(Bson::Null),
            Test::Ops(ops) => Ok(Bson::Document(compile_ops(ops, path)?)),
            Test::Not(inner) => {
                let operand = match inner.as_ref() {
                    // `$not` takes an operator document, so `{f: null}` is spelled `$eq: null`.
                    Test::IsNull => bson::doc! { "$eq": Bson::Null },
                    Test::Ops(ops) => compile_ops(ops, path)?,
                    Test::Not(twice) => return twice.compile(path),
                };
                Ok(Bson::Document(bson::doc! { "$not": operand }))
            }
        }
    }
}

fn compile_ops(ops: &[(&'static str, Value)], path: &str) -> Result<Document> {
    let mut doc = Document::new();
    for (op, value) in ops {
        doc.insert(*op, value.to_bson(path)?);
    }
    Ok(doc)
}

impl<M> Filter<M> {
    pub(crate) fn from_node(node: Node) -> Self {
        Filter { node, _model: PhantomData }
    }

    pub(crate) fn field(path: Cow<'static, str>, test: Test) -> Self {
        Self::from_node(Node::Field { path, test })
    }

    pub(crate) fn into_node(self) -> Node {
        self.node
    }

    /// The query document this filter compiles to.
    ///
    /// Fails only when a value given to the filter could not be serialized to BSON.
    ///
    /// ```
    /// # use mongotic::prelude::*;
    /// # #[derive(Debug, Serialize, Deserialize, Model)]
    /// # #[mongotic(collection = "users")]
    /// # struct User { #[serde(rename = "_id")] #[mongotic(id)] id: i64, name: String }
    /// let doc = User::name.eq("Alice").to_document().unwrap();
    /// assert_eq!(doc, mongotic::bson::doc! { "name": { "$eq": "Alice" } });
    /// ```
    pub fn to_document(&self) -> Result<Document> {
        self.node.compile()
    }
}

impl<M> Clone for Filter<M> {
    fn clone(&self) -> Self {
        Self::from_node(self.node.clone())
    }
}

impl<M> PartialEq for Filter<M> {
    fn eq(&self, other: &Self) -> bool {
        self.node == other.node
    }
}

impl<M> fmt::Debug for Filter<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.to_document() {
            Ok(doc) => write!(f, "Filter({doc})"),
            Err(err) => write!(f, "Filter(<{err}>)"),
        }
    }
}

/// Joins `a` and `b` into one list node of the same kind, flattening nested lists so
/// `a & b & c` is one `$and` of three.
fn join(a: Node, b: Node, wrap: fn(Vec<Node>) -> Node, unwrap: fn(Node) -> Result<Vec<Node>, Node>) -> Node {
    let mut nodes = match unwrap(a) {
        Ok(list) => list,
        Err(single) => vec![single],
    };
    match unwrap(b) {
        Ok(list) => nodes.extend(list),
        Err(single) => nodes.push(single),
    }
    wrap(nodes)
}

fn unwrap_and(node: Node) -> Result<Vec<Node>, Node> {
    match node {
        Node::And(list) => Ok(list),
        other => Err(other),
    }
}

fn unwrap_or(node: Node) -> Result<Vec<Node>, Node> {
    match node {
        Node::Or(list) => Ok(list),
        other => Err(other),
    }
}

impl<M> BitAnd for Filter<M> {
    type Output = Filter<M>;

    /// Both conditions: `$and`.
    fn bitand(self, rhs: Self) -> Self::Output {
        Filter::from_node(join(self.node, rhs.node, Node::And, unwrap_and))
    }
}

impl<M> BitOr for Filter<M> {
    type Output = Filter<M>;

    /// Either condition: `$or`.
    fn bitor(self, rhs: Self) -> Self::Output {
        Filter::from_node(join(self.node, rhs.node, Node::Or, unwrap_or))
    }
}

impl<M> Not for Filter<M> {
    type Output = Filter<M>;

    /// The opposite condition: a field-level `$not` for a field test, `$nor` for an `or_`.
    fn not(self) -> Self::Output {
        Filter::from_node(self.node.negate())
    }
}

/// All of `filters` must hold: `$and`. An empty list matches every document.
///
/// ```
/// # use mongotic::prelude::*;
/// # #[derive(Debug, Serialize, Deserialize, Model)]
/// # #[mongotic(collection = "users")]
/// # struct User { #[serde(rename = "_id")] #[mongotic(id)] id: i64, name: String, age: i32 }
/// let f = and_([User::age.gte(18), User::age.lt(65)]);
/// assert_eq!(f, User::age.gte(18) & User::age.lt(65));
/// ```
pub fn and_<M>(filters: impl IntoIterator<Item = Filter<M>>) -> Filter<M> {
    Filter::from_node(Node::And(filters.into_iter().flat_map(|f| flatten(f.node, unwrap_and)).collect()))
}

/// At least one of `filters` must hold: `$or`. An empty list matches no document.
///
/// ```
/// # use mongotic::prelude::*;
/// # #[derive(Debug, Serialize, Deserialize, Model)]
/// # #[mongotic(collection = "users")]
/// # struct User { #[serde(rename = "_id")] #[mongotic(id)] id: i64, name: String }
/// let f = or_([User::name.eq("Alice"), User::name.eq("Bob")]);
/// assert_eq!(f, User::name.eq("Alice") | User::name.eq("Bob"));
/// ```
pub fn or_<M>(filters: impl IntoIterator<Item = Filter<M>>) -> Filter<M> {
    Filter::from_node(Node::Or(filters.into_iter().flat_map(|f| flatten(f.node, unwrap_or)).collect()))
}

/// The opposite of `filter`; the same as `!filter`.
///
/// ```
/// # use mongotic::prelude::*;
/// # use mongotic::bson::doc;
/// # #[derive(Debug, Serialize, Deserialize, Model)]
/// # #[mongotic(collection = "users")]
/// # struct User { #[serde(rename = "_id")] #[mongotic(id)] id: i64, name: String }
/// let f = not_(or_([User::name.eq("Alice"), User::name.eq("Bob")]));
/// assert_eq!(
///     f.to_document().unwrap(),
///     doc! { "$nor": [{ "name": { "$eq": "Alice" } }, { "name": { "$eq": "Bob" } }] }
/// );
/// ```
pub fn not_<M>(filter: Filter<M>) -> Filter<M> {
    !filter
}

fn flatten(node: Node, unwrap: fn(Node) -> Result<Vec<Node>, Node>) -> Vec<Node> {
    match unwrap(node) {
        Ok(list) => list,
        Err(single) => vec![single],
    }
}

/// Combines the filters of a statement (several `.filter` calls are ANDed).
pub(crate) fn compile_all(nodes: &[Node]) -> Result<Document> {
    match nodes {
        [] => Ok(Document::new()),
        [single] => single.compile(),
        many => Node::And(many.iter().flat_map(|n| flatten(n.clone(), unwrap_and)).collect()).compile(),
    }
}
