//! Typed aggregation: group documents and compute counts, sums, averages, extremes and
//! collected values per group, compiled to a `$match` / `$group` / `$match` / `$sort` /
//! `$skip` / `$limit` pipeline.
//!
//! A grouped query starts from a select (its filters apply before grouping):
//! `select::<M>().group_by(key)` with a field or a tuple of fields as the key (nested paths
//! included), then `.agg(...)` with one aggregate function or a tuple of them ([`count`],
//! [`sum`], [`avg`], [`min`], [`max`], [`push`], [`add_to_set`]). Run it with
//! [`Session::execute`](crate::Session::execute); each row is `(key, aggregates)`, typed by
//! the fields: the sum of an `i32` field is an `i64`, an average is an `Option<f64>`, and the
//! sum of a string field does not compile. `having` filters the groups by their aggregates,
//! `order_by` sorts by an aggregate or a key field, and `limit`/`offset` page the groups.
//! `select::<M>().aggregate(...)` computes the aggregates over all the matching documents at
//! once, and gives one row even when nothing matches (a count of 0, a sum of 0, no average).
//! [`pipeline`] runs a hand-written pipeline and deserializes each result into a given type.
//!
//! Null and missing values group together under a `None` key, in compound keys too. Without
//! `order_by`, groups come in no particular order.
//!
//! ```no_run
//! use mongotic::prelude::*;
//! use mongotic::aggregate::{avg, count, max, sum};
//! use mongotic::bson::DateTime;
//!
//! #[derive(Debug, Serialize, Deserialize, Model)]
//! #[mongotic(database = "shop", collection = "orders")]
//! struct Order {
//!     #[serde(rename = "_id")] id: Option<ObjectId>,
//!     customer: String,
//!     status: String,
//!     total: f64,
//!     items: i32,
//!     placed: DateTime,
//! }
//!
//! # async fn demo(mut session: Session) -> mongotic::Result<()> {
//! // Revenue per customer among paid orders, best customers first, those above 100 only.
//! let stmt = select::<Order>()
//!     .filter(Order::status.eq("paid"))
//!     .group_by(Order::customer)
//!     .agg((count(), sum(Order::total), avg(Order::items), max(Order::placed)))
//!     .having(sum(Order::total).gt(100.0))
//!     .order_by(-sum(Order::total))
//!     .limit(10);
//! for (customer, (orders, revenue, mean_items, last)) in session.execute(stmt).await? {
//!     println!("{customer}: {orders} orders, {revenue:.2}, {mean_items:?} items, last {last:?}");
//! }
//!
//! // Totals over everything that matches: one row, even for no orders.
//! let (orders, revenue) = session.execute(select::<Order>().aggregate((count(), sum(Order::total)))).await?;
//! # Ok(()) }
//! ```

mod func;
mod key;
mod pipeline;

use std::fmt;
use std::marker::PhantomData;

use bson::{Bson, Document};

pub use func::{Agg, GroupOrder, Ordered, Summable, add_to_set, avg, count, max, min, push, sum};
pub use key::{Aggregates, GroupKey};
pub use pipeline::{Pipeline, pipeline};

use crate::expr::{Filter, Node, SortKey, compile_all};
use crate::options::Options;
use crate::statement::{Entities, Select};
use crate::{Error, Model, Result};

/// The rows of a grouped query, for filters on aggregates ([`GroupBy::having`]): a
/// `Filter<Grouped<M>>` is made by comparing an [`Agg`] of model `M`.
///
/// ```
/// # use mongotic::prelude::*;
/// # use mongotic::aggregate::{Grouped, count, sum};
/// # #[derive(Debug, Serialize, Deserialize, Model)]
/// # #[mongotic(collection = "orders")]
/// # struct Order { #[serde(rename = "_id")] #[mongotic(id)] id: i64, total: f64 }
/// let busy: Filter<Grouped<Order>> = count().gte(10_u64) & sum(Order::total).gt(500.0);
/// # let _ = busy;
/// ```
pub struct Grouped<M>(PhantomData<fn() -> M>);

/// What a select does before its documents are grouped: its filters, and any sort, offset and
/// limit it had (which then choose the documents that are grouped).
struct Source<M> {
    filters: Vec<Node>,
    sort: Vec<SortKey<M>>,
    skip: Option<u64>,
    limit: Option<u64>,
    /// The options of the select the aggregation was made from, and its own.
    options: Options,
}

impl<M> Source<M> {
    fn stages(&self) -> Result<Vec<Document>> {
        let mut stages = Vec::new();
        let filter = compile_all(&self.filters)?;
        if !filter.is_empty() {
            stages.push(bson::doc! { "$match": filter });
        }
        if !self.sort.is_empty() {
            let sort: Document =
                self.sort.iter().map(|key| (key.path.to_string(), Bson::Int32(key.direction))).collect();
            stages.push(bson::doc! { "$sort": sort });
        }
        push_page(&mut stages, self.skip, self.limit);
        Ok(stages)
    }

    fn selects_nothing(&self) -> bool {
        self.limit == Some(0)
    }
}

impl<M> Clone for Source<M> {
    fn clone(&self) -> Self {
        Source {
            filters: self.filters.clone(),
            sort: self.sort.clone(),
            skip: self.skip,
            limit: self.limit,
            options: self.options.clone(),
        }
    }
}

fn push_page(stages: &mut Vec<Document>, skip: Option<u64>, limit: Option<u64>) {
    let int = |n: u64| Bson::Int64(i64::try_from(n).unwrap_or(i64::MAX));
    if let Some(skip) = skip.filter(|n| *n > 0) {
        stages.push(bson::doc! { "$skip": int(skip) });
    }
    if let Some(limit) = limit {
        stages.push(bson::doc! { "$limit": int(limit) });
    }
}

impl<M: Model> Select<M, Entities<M>> {
    /// Groups the matching documents by `key` (a field, or a tuple of fields); add aggregates
    /// with [`GroupBy::agg`]. The select's filters (and any sort, offset and limit) choose the
    /// documents that are grouped. See [`aggregate`](crate::aggregate).
    ///
    /// ```
    /// # use mongotic::prelude::*;
    /// # use mongotic::aggregate::count;
    /// # use mongotic::bson::doc;
    /// # #[derive(Debug, Serialize, Deserialize, Model)]
    /// # #[mongotic(collection = "orders")]
    /// # struct Order { #[serde(rename = "_id")] #[mongotic(id)] id: i64, customer: String, status: String }
    /// let stmt = select::<Order>().filter(Order::status.eq("paid")).group_by(Order::customer).agg(count());
    /// assert_eq!(stmt.compile().unwrap(), vec![
    ///     doc! { "$match": { "status": { "$eq": "paid" } } },
    ///     doc! { "$group": { "_id": "$customer", "count:": { "$sum": 1 } } },
    /// ]);
    /// ```
    pub fn group_by<K: GroupKey<M>>(self, key: K) -> GroupBy<M, K, ()> {
        GroupBy {
            source: self.into_source(),
            key,
            aggs: (),
            having: Vec::new(),
            order: Vec::new(),
            skip: None,
            limit: None,
        }
    }

    /// The aggregates `aggs` (one, or a tuple) over all the matching documents: one row, even
    /// when nothing matches (counts and sums are 0 then, averages and extremes `None`, and
    /// collected values empty).
    ///
    /// ```
    /// # use mongotic::prelude::*;
    /// # use mongotic::aggregate::{count, sum};
    /// # use mongotic::bson::doc;
    /// # #[derive(Debug, Serialize, Deserialize, Model)]
    /// # #[mongotic(collection = "orders")]
    /// # struct Order { #[serde(rename = "_id")] #[mongotic(id)] id: i64, total: f64 }
    /// let stmt = select::<Order>().aggregate((count(), sum(Order::total)));
    /// assert_eq!(stmt.compile().unwrap(), vec![
    ///     doc! { "$group": { "_id": null, "count:": { "$sum": 1 }, "sum:total": { "$sum": "$total" } } },
    /// ]);
    /// ```
    pub fn aggregate<A: Aggregates<M>>(self, aggs: A) -> Totals<M, A> {
        Totals { source: self.into_source(), aggs }
    }

    fn into_source(self) -> Source<M> {
        Source { filters: self.filters, sort: self.sort, skip: self.skip, limit: self.limit, options: self.options }
    }
}

/// A grouped query: the documents of `M` grouped by the key `K`, with the aggregates `A` per
/// group. Made by [`Select::group_by`]; run it with
/// [`Session::execute`](crate::Session::execute), which gives a `Vec<(K::Output, A::Output)>`.
///
/// ```no_run
/// # use mongotic::prelude::*;
/// # use mongotic::aggregate::{count, sum};
/// # #[derive(Debug, Serialize, Deserialize, Model)]
/// # #[mongotic(collection = "orders")]
/// # struct Order { #[serde(rename = "_id")] #[mongotic(id)] id: i64, customer: String, total: f64 }
/// # async fn demo(mut session: Session) -> mongotic::Result<()> {
/// let rows: Vec<(String, (u64, f64))> =
///     session.execute(select::<Order>().group_by(Order::customer).agg((count(), sum(Order::total)))).await?;
/// # Ok(()) }
/// ```
pub struct GroupBy<M, K, A> {
    source: Source<M>,
    pub(crate) key: K,
    pub(crate) aggs: A,
    having: Vec<Node>,
    order: Vec<GroupOrder<M>>,
    skip: Option<u64>,
    limit: Option<u64>,
}

impl<M: Model, K: GroupKey<M>, A: Aggregates<M>> GroupBy<M, K, A> {
    /// Computes `aggs` (one aggregate, or a tuple of them) for each group.
    ///
    /// ```
    /// # use mongotic::prelude::*;
    /// # use mongotic::aggregate::{avg, count, min};
    /// # #[derive(Debug, Serialize, Deserialize, Model)]
    /// # #[mongotic(collection = "people")]
    /// # struct Person { #[serde(rename = "_id")] #[mongotic(id)] id: i64, city: String, age: Option<i32> }
    /// let stmt = select::<Person>().group_by(Person::city).agg((count(), avg(Person::age), min(Person::age)));
    /// # let _ = stmt;
    /// ```
    pub fn agg<B: Aggregates<M>>(self, aggs: B) -> GroupBy<M, K, B> {
        GroupBy {
            source: self.source,
            key: self.key,
            aggs,
            having: self.having,
            order: self.order,
            skip: self.skip,
            limit: self.limit,
        }
    }

    /// Keeps the groups matching `filter`, a condition on aggregates (`count().gt(1_u64)`,
    /// `sum(Order::total).gte(100.0)`, combined with `&`, `|`, `!`). The aggregates it uses
    /// need not be among those returned. Several calls are ANDed.
    ///
    /// ```
    /// # use mongotic::prelude::*;
    /// # use mongotic::aggregate::{count, sum};
    /// # use mongotic::bson::doc;
    /// # #[derive(Debug, Serialize, Deserialize, Model)]
    /// # #[mongotic(collection = "orders")]
    /// # struct Order { #[serde(rename = "_id")] #[mongotic(id)] id: i64, customer: String, total: f64 }
    /// let stmt = select::<Order>().group_by(Order::customer).agg(count()).having(sum(Order::total).gt(100.0));
    /// assert_eq!(stmt.compile().unwrap()[1], doc! { "$match": { "sum:total": { "$gt": 100.0 } } });
    /// ```
    pub fn having(mut self, filter: Filter<Grouped<M>>) -> Self {
        self.having.push(filter.into_node());
        self
    }

    /// Sorts the groups: by an aggregate (`-sum(Order::total)`, `count().asc()`) or by a
    /// field of the key (`Order::customer`, `Order::customer.desc()`). Several calls append
    /// keys.
    ///
    /// ```
    /// # use mongotic::prelude::*;
    /// # use mongotic::aggregate::count;
    /// # use mongotic::bson::doc;
    /// # #[derive(Debug, Serialize, Deserialize, Model)]
    /// # #[mongotic(collection = "orders")]
    /// # struct Order { #[serde(rename = "_id")] #[mongotic(id)] id: i64, customer: String }
    /// let stmt = select::<Order>().group_by(Order::customer).agg(count()).order_by(-count()).order_by(Order::customer);
    /// assert_eq!(stmt.compile().unwrap()[1], doc! { "$sort": { "count:": -1, "_id": 1 } });
    /// ```
    pub fn order_by(mut self, order: impl Into<GroupOrder<M>>) -> Self {
        self.order.push(order.into());
        self
    }

    /// Returns at most `n` groups (`limit(0)`: none, without I/O).
    ///
    /// ```
    /// # use mongotic::prelude::*;
    /// # use mongotic::aggregate::count;
    /// # #[derive(Debug, Serialize, Deserialize, Model)]
    /// # #[mongotic(collection = "orders")]
    /// # struct Order { #[serde(rename = "_id")] #[mongotic(id)] id: i64, customer: String }
    /// let top = select::<Order>().group_by(Order::customer).agg(count()).order_by(-count()).limit(3);
    /// # let _ = top;
    /// ```
    pub fn limit(mut self, n: u64) -> Self {
        self.limit = Some(n);
        self
    }

    /// Skips the first `n` groups.
    ///
    /// ```
    /// # use mongotic::prelude::*;
    /// # use mongotic::aggregate::count;
    /// # #[derive(Debug, Serialize, Deserialize, Model)]
    /// # #[mongotic(collection = "orders")]
    /// # struct Order { #[serde(rename = "_id")] #[mongotic(id)] id: i64, customer: String }
    /// let next = select::<Order>().group_by(Order::customer).agg(count()).order_by(Order::customer).offset(10);
    /// # let _ = next;
    /// ```
    pub fn offset(mut self, n: u64) -> Self {
        self.skip = Some(n);
        self
    }

    /// The pipeline this query sends. Fails when a value in a filter cannot be serialized,
    /// or an `order_by` field is not part of the key.
    ///
    /// ```
    /// # use mongotic::prelude::*;
    /// # use mongotic::aggregate::count;
    /// # use mongotic::bson::doc;
    /// # #[derive(Debug, Serialize, Deserialize, Model)]
    /// # #[mongotic(collection = "orders")]
    /// # struct Order { #[serde(rename = "_id")] #[mongotic(id)] id: i64, customer: String, status: String }
    /// let stmt = select::<Order>().group_by((Order::customer, Order::status)).agg(count());
    /// assert_eq!(stmt.compile().unwrap(), vec![
    ///     doc! { "$group": {
    ///         "_id": { "k0": { "$ifNull": ["$customer", null] }, "k1": { "$ifNull": ["$status", null] } },
    ///         "count:": { "$sum": 1 },
    ///     } },
    /// ]);
    /// ```
    pub fn compile(&self) -> Result<Vec<Document>> {
        let mut stages = self.source.stages()?;
        let mut group = Accumulators::default();
        self.aggs.accumulators(&mut |name, accumulator| group.add(name, accumulator));
        for node in &self.having {
            for name in node.paths() {
                group.add_by_name(name)?;
            }
        }
        let mut sort = Document::new();
        for order in &self.order {
            match order {
                GroupOrder::Aggregate { name, accumulator, direction } => {
                    group.add(name, accumulator);
                    sort.insert(name.clone(), Bson::Int32(*direction));
                }
                GroupOrder::Key { path, direction, .. } => {
                    sort.insert(self.key_path(path)?, Bson::Int32(*direction));
                }
            }
        }
        stages.push(group.stage(self.key.id_expression()));
        let having = compile_all(&self.having)?;
        if !having.is_empty() {
            stages.push(bson::doc! { "$match": having });
        }
        if !sort.is_empty() {
            stages.push(bson::doc! { "$sort": sort });
        }
        push_page(&mut stages, self.skip, self.limit);
        Ok(stages)
    }

    /// Whether the query can return no row at all, so nothing needs to be sent.
    pub(crate) fn options(&self) -> &Options {
        &self.source.options
    }

    pub(crate) fn selects_nothing(&self) -> bool {
        self.source.selects_nothing() || self.limit == Some(0)
    }

    /// Where the key field `path` is in a group's output document.
    fn key_path(&self, path: &str) -> Result<String> {
        let paths = self.key.paths();
        match paths.iter().position(|key| key == path) {
            Some(_) if paths.len() == 1 => Ok("_id".to_owned()),
            Some(index) => Ok(format!("_id.k{index}")),
            None => Err(Error::InvalidStatement {
                message: format!("cannot sort groups by `{path}`: it is not part of the group key"),
            }),
        }
    }
}

impl<M, K: Clone, A: Clone> Clone for GroupBy<M, K, A> {
    fn clone(&self) -> Self {
        GroupBy {
            source: self.source.clone(),
            key: self.key.clone(),
            aggs: self.aggs.clone(),
            having: self.having.clone(),
            order: self.order.clone(),
            skip: self.skip,
            limit: self.limit,
        }
    }
}

impl<M: Model, K: GroupKey<M>, A: Aggregates<M>> fmt::Debug for GroupBy<M, K, A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GroupBy").field("model", &M::meta().name).field("pipeline", &self.compile()).finish()
    }
}

/// Aggregates over all the matching documents of `M`, as one row. Made by
/// [`Select::aggregate`]; [`Session::execute`](crate::Session::execute) gives `A::Output`.
///
/// ```no_run
/// # use mongotic::prelude::*;
/// # use mongotic::aggregate::{avg, count};
/// # #[derive(Debug, Serialize, Deserialize, Model)]
/// # #[mongotic(collection = "people")]
/// # struct Person { #[serde(rename = "_id")] #[mongotic(id)] id: i64, age: Option<i32> }
/// # async fn demo(mut session: Session) -> mongotic::Result<()> {
/// let (people, mean_age): (u64, Option<f64>) =
///     session.execute(select::<Person>().aggregate((count(), avg(Person::age)))).await?;
/// # Ok(()) }
/// ```
pub struct Totals<M, A> {
    source: Source<M>,
    pub(crate) aggs: A,
}

impl<M: Model, A: Aggregates<M>> Totals<M, A> {
    /// The pipeline this query sends.
    ///
    /// ```
    /// # use mongotic::prelude::*;
    /// # use mongotic::aggregate::count;
    /// # use mongotic::bson::doc;
    /// # #[derive(Debug, Serialize, Deserialize, Model)]
    /// # #[mongotic(collection = "people")]
    /// # struct Person { #[serde(rename = "_id")] #[mongotic(id)] id: i64, age: Option<i32> }
    /// let stmt = select::<Person>().filter(Person::age.gte(18)).aggregate(count());
    /// assert_eq!(stmt.compile().unwrap().len(), 2); // $match, $group
    /// ```
    pub fn compile(&self) -> Result<Vec<Document>> {
        let mut stages = self.source.stages()?;
        let mut group = Accumulators::default();
        self.aggs.accumulators(&mut |name, accumulator| group.add(name, accumulator));
        stages.push(group.stage(Bson::Null));
        Ok(stages)
    }

    pub(crate) fn options(&self) -> &Options {
        &self.source.options
    }

    pub(crate) fn selects_nothing(&self) -> bool {
        self.source.selects_nothing()
    }
}

impl<M: Model, A: Aggregates<M>> fmt::Debug for Totals<M, A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Totals").field("model", &M::meta().name).field("pipeline", &self.compile()).finish()
    }
}

/// The accumulators of a `$group` stage, each once, in the order first asked for.
#[derive(Default)]
struct Accumulators(Document);

impl Accumulators {
    fn add(&mut self, name: &str, accumulator: &Bson) {
        if !self.0.contains_key(name) {
            self.0.insert(name.to_owned(), accumulator.clone());
        }
    }

    /// Adds the aggregate named `name` (a having filter names the aggregates it compares).
    fn add_by_name(&mut self, name: &str) -> Result<()> {
        if self.0.contains_key(name) {
            return Ok(());
        }
        let accumulator = func::accumulator_named(name)
            .ok_or_else(|| Error::InvalidStatement { message: format!("`{name}` is not an aggregate") })?;
        self.0.insert(name.to_owned(), accumulator);
        Ok(())
    }

    fn stage(self, id: Bson) -> Document {
        let mut group = bson::doc! { "_id": id };
        group.extend(self.0);
        bson::doc! { "$group": group }
    }
}

crate::options::statement_options!(
    GroupBy<M, K, A>,
    (source.options),
    "select::<User>().group_by(User::age).agg(mongotic::aggregate::count())",
    [max_time, timeout, comment, read_preference, read_concern, hint, collation, allow_disk_use, batch_size]
);

crate::options::statement_options!(
    Totals<M, A>,
    (source.options),
    "select::<User>().aggregate(mongotic::aggregate::count())",
    [max_time, timeout, comment, read_preference, read_concern, hint, collation, allow_disk_use, batch_size]
);

crate::options::scope_methods!(
    GroupBy<M, K, A>,
    "select::<User>().group_by(User::name).agg(mongotic::aggregate::count())",
    "select::<User>().group_by(User::name).agg(mongotic::aggregate::count())"
);
crate::options::scope_methods!(
    Totals<M, A>,
    "select::<User>().aggregate(mongotic::aggregate::count())",
    "select::<User>().aggregate(mongotic::aggregate::count())"
);
