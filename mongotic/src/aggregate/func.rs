//! Aggregate functions: what a group computes, typed by the field it reads.

use std::fmt;
use std::marker::PhantomData;
use std::ops::Neg;

use bson::{Bson, DateTime, Decimal128, oid::ObjectId};
use serde::de::DeserializeOwned;

use super::Grouped;
use crate::expr::{Field, Filter, Test, Value, ValueOf};

/// One aggregate of a group: a `$group` accumulator whose result is a `T`. Made by
/// [`count`], [`sum`], [`avg`], [`min`], [`max`], [`push`] and [`add_to_set`]; compare it to
/// filter the groups ([`GroupBy::having`](super::GroupBy::having)) or sort by it.
///
/// ```
/// use mongotic::prelude::*;
/// use mongotic::aggregate::{count, sum};
///
/// #[derive(Debug, Serialize, Deserialize, Model)]
/// #[mongotic(collection = "orders")]
/// struct Order { #[serde(rename = "_id")] #[mongotic(id)] id: i64, customer: String, total: f64 }
///
/// let big = select::<Order>().group_by(Order::customer).agg((count(), sum(Order::total)))
///     .having(sum(Order::total).gt(100.0))
///     .order_by(-sum(Order::total));
/// # let _ = big;
/// ```
pub struct Agg<M, T> {
    /// The output field of the accumulator in the `$group` stage: derived from the function
    /// and the path, so the same aggregate written twice is computed once.
    pub(crate) name: String,
    pub(crate) accumulator: Bson,
    /// The value over no documents at all (for [`Totals`](super::Totals)).
    pub(crate) empty: fn() -> T,
    _types: PhantomData<fn() -> (M, T)>,
}

impl<M, T> Agg<M, T> {
    fn new(function: &str, path: &str, accumulator: Bson, empty: fn() -> T) -> Self {
        Agg { name: output_name(function, path), accumulator, empty, _types: PhantomData }
    }

    fn of<V>(function: &str, field: &Field<M, V>, empty: fn() -> T) -> Self {
        let accumulator = accumulator(function, field.path()).unwrap_or(Bson::Null);
        Agg::new(function, field.path(), accumulator, empty)
    }

    /// The `$group` accumulator, e.g. `{"$sum": "$total"}`.
    ///
    /// ```
    /// # use mongotic::prelude::*;
    /// # use mongotic::aggregate::sum;
    /// # #[derive(Debug, Serialize, Deserialize, Model)]
    /// # #[mongotic(collection = "orders")]
    /// # struct Order { #[serde(rename = "_id")] #[mongotic(id)] id: i64, total: f64 }
    /// assert_eq!(sum(Order::total).accumulator(), &mongotic::bson::bson!({ "$sum": "$total" }));
    /// ```
    pub fn accumulator(&self) -> &Bson {
        &self.accumulator
    }

    fn compare(&self, op: &'static str, value: impl ValueOf<T>) -> Filter<Grouped<M>> {
        Filter::field(self.name.clone().into(), Test::Ops(vec![(op, Value::from_result(value.into_bson()))]))
    }

    /// Groups whose aggregate equals `value` (for [`having`](super::GroupBy::having)).
    ///
    /// ```
    /// # use mongotic::aggregate::count;
    /// let _ = count::<()>().eq(1_u64);
    /// ```
    pub fn eq(&self, value: impl ValueOf<T>) -> Filter<Grouped<M>> {
        self.compare("$eq", value)
    }

    /// Groups whose aggregate differs from `value`.
    ///
    /// ```
    /// # use mongotic::aggregate::count;
    /// let _ = count::<()>().ne(1_u64);
    /// ```
    pub fn ne(&self, value: impl ValueOf<T>) -> Filter<Grouped<M>> {
        self.compare("$ne", value)
    }

    /// Groups whose aggregate is greater than `value`.
    ///
    /// ```
    /// # use mongotic::aggregate::count;
    /// let _ = count::<()>().gt(1_u64);
    /// ```
    pub fn gt(&self, value: impl ValueOf<T>) -> Filter<Grouped<M>> {
        self.compare("$gt", value)
    }

    /// Groups whose aggregate is at least `value`.
    ///
    /// ```
    /// # use mongotic::aggregate::count;
    /// let _ = count::<()>().gte(2_u64);
    /// ```
    pub fn gte(&self, value: impl ValueOf<T>) -> Filter<Grouped<M>> {
        self.compare("$gte", value)
    }

    /// Groups whose aggregate is less than `value`.
    ///
    /// ```
    /// # use mongotic::aggregate::count;
    /// let _ = count::<()>().lt(10_u64);
    /// ```
    pub fn lt(&self, value: impl ValueOf<T>) -> Filter<Grouped<M>> {
        self.compare("$lt", value)
    }

    /// Groups whose aggregate is at most `value`.
    ///
    /// ```
    /// # use mongotic::aggregate::count;
    /// let _ = count::<()>().lte(10_u64);
    /// ```
    pub fn lte(&self, value: impl ValueOf<T>) -> Filter<Grouped<M>> {
        self.compare("$lte", value)
    }

    /// Sorts the groups by this aggregate, smallest first.
    ///
    /// ```
    /// # use mongotic::aggregate::count;
    /// let _ = count::<()>().asc();
    /// ```
    pub fn asc(&self) -> GroupOrder<M> {
        GroupOrder::Aggregate { name: self.name.clone(), accumulator: self.accumulator.clone(), direction: 1 }
    }

    /// Sorts the groups by this aggregate, largest first (also `-agg`).
    ///
    /// ```
    /// # use mongotic::aggregate::count;
    /// let _ = count::<()>().desc();
    /// ```
    pub fn desc(&self) -> GroupOrder<M> {
        GroupOrder::Aggregate { name: self.name.clone(), accumulator: self.accumulator.clone(), direction: -1 }
    }
}

impl<M, T> Clone for Agg<M, T> {
    fn clone(&self) -> Self {
        Agg { name: self.name.clone(), accumulator: self.accumulator.clone(), empty: self.empty, _types: PhantomData }
    }
}

impl<M, T> fmt::Debug for Agg<M, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Agg({} = {})", self.name, self.accumulator)
    }
}

impl<M, T> Neg for Agg<M, T> {
    type Output = GroupOrder<M>;

    fn neg(self) -> GroupOrder<M> {
        self.desc()
    }
}

/// The `$group` output name of the aggregate `function` of `path`: `sum:total`,
/// `avg:address/zip`, `count:`. Output names cannot contain dots, so a dot in the path is
/// written `/` (and a `/` is doubled), which keeps the name reversible (see
/// [`accumulator_named`]).
fn output_name(function: &str, path: &str) -> String {
    let mut name = String::with_capacity(function.len() + 1 + path.len());
    name.push_str(function);
    name.push(':');
    for ch in path.chars() {
        match ch {
            '.' => name.push('/'),
            '/' => name.push_str("//"),
            other => name.push(other),
        }
    }
    name
}

/// The accumulator of the aggregate `function` of `path`.
fn accumulator(function: &str, path: &str) -> Option<Bson> {
    let operator = match function {
        "count" => return path.is_empty().then(|| Bson::Document(bson::doc! { "$sum": 1 })),
        "sum" => "$sum",
        "avg" => "$avg",
        "min" => "$min",
        "max" => "$max",
        "push" => "$push",
        "set" => "$addToSet",
        _ => return None,
    };
    Some(Bson::Document(bson::doc! { operator: format!("${path}") }))
}

/// The accumulator of the aggregate whose output name is `name` (see [`output_name`]): a
/// having filter names the aggregates it compares, which may not be among those returned.
pub(crate) fn accumulator_named(name: &str) -> Option<Bson> {
    let (function, escaped) = name.split_once(':')?;
    let mut path = String::with_capacity(escaped.len());
    let mut chars = escaped.chars().peekable();
    while let Some(ch) = chars.next() {
        match ch {
            '/' if chars.peek() == Some(&'/') => {
                chars.next();
                path.push('/');
            }
            '/' => path.push('.'),
            other => path.push(other),
        }
    }
    accumulator(function, &path)
}

/// A sort order of a grouped query: by an aggregate, or by a field of the group key.
///
/// ```
/// # use mongotic::prelude::*;
/// # use mongotic::aggregate::{GroupOrder, count};
/// # #[derive(Debug, Serialize, Deserialize, Model)]
/// # #[mongotic(collection = "orders")]
/// # struct Order { #[serde(rename = "_id")] #[mongotic(id)] id: i64, customer: String }
/// let by_count: GroupOrder<Order> = -count();
/// let by_customer: GroupOrder<Order> = Order::customer.into();
/// # let _ = (by_count, by_customer);
/// ```
pub enum GroupOrder<M> {
    /// By the value of an aggregate.
    #[doc(hidden)]
    Aggregate { name: String, accumulator: Bson, direction: i32 },
    /// By a field of the group key.
    #[doc(hidden)]
    Key { path: String, direction: i32, _model: PhantomData<fn() -> M> },
}

impl<M> Clone for GroupOrder<M> {
    fn clone(&self) -> Self {
        match self {
            GroupOrder::Aggregate { name, accumulator, direction } => {
                GroupOrder::Aggregate { name: name.clone(), accumulator: accumulator.clone(), direction: *direction }
            }
            GroupOrder::Key { path, direction, .. } => {
                GroupOrder::Key { path: path.clone(), direction: *direction, _model: PhantomData }
            }
        }
    }
}

impl<M, V> From<Field<M, V>> for GroupOrder<M> {
    fn from(field: Field<M, V>) -> Self {
        GroupOrder::Key { path: field.path().to_owned(), direction: 1, _model: PhantomData }
    }
}

impl<M> From<crate::SortKey<M>> for GroupOrder<M> {
    fn from(key: crate::SortKey<M>) -> Self {
        GroupOrder::Key { path: key.path.to_string(), direction: key.direction, _model: PhantomData }
    }
}

/// The number of documents in the group: `{$sum: 1}`.
///
/// ```
/// use mongotic::aggregate::count;
/// assert_eq!(count::<()>().accumulator(), &mongotic::bson::bson!({ "$sum": 1 }));
/// ```
pub fn count<M>() -> Agg<M, u64> {
    Agg::new("count", "", Bson::Document(bson::doc! { "$sum": 1 }), || 0)
}

/// The sum of a numeric field over the group (`$sum`; null and missing values add nothing, and
/// a group of none sums to 0). An `i32` field sums to an `i64`.
///
/// ```
/// # use mongotic::prelude::*;
/// # use mongotic::aggregate::sum;
/// # #[derive(Debug, Serialize, Deserialize, Model)]
/// # #[mongotic(collection = "orders")]
/// # struct Order { #[serde(rename = "_id")] #[mongotic(id)] id: i64, qty: Option<i32>, total: f64 }
/// let _: mongotic::aggregate::Agg<Order, i64> = sum(Order::qty);
/// let _: mongotic::aggregate::Agg<Order, f64> = sum(Order::total);
/// ```
pub fn sum<M, V: Summable>(field: Field<M, V>) -> Agg<M, V::Sum> {
    Agg::of("sum", &field, V::zero)
}

/// The mean of a numeric field over the group (`$avg`), ignoring null and missing values;
/// `None` when there is no value to average.
///
/// ```
/// # use mongotic::prelude::*;
/// # use mongotic::aggregate::avg;
/// # #[derive(Debug, Serialize, Deserialize, Model)]
/// # #[mongotic(collection = "orders")]
/// # struct Order { #[serde(rename = "_id")] #[mongotic(id)] id: i64, total: f64 }
/// let _: mongotic::aggregate::Agg<Order, Option<f64>> = avg(Order::total);
/// ```
pub fn avg<M, V: Summable>(field: Field<M, V>) -> Agg<M, Option<f64>> {
    Agg::of("avg", &field, || None)
}

/// The smallest value of the field in the group (`$min`), ignoring null and missing values;
/// `None` when there is none.
///
/// ```
/// # use mongotic::prelude::*;
/// # use mongotic::aggregate::min;
/// # #[derive(Debug, Serialize, Deserialize, Model)]
/// # #[mongotic(collection = "orders")]
/// # struct Order { #[serde(rename = "_id")] #[mongotic(id)] id: i64, placed: mongotic::bson::DateTime }
/// let _: mongotic::aggregate::Agg<Order, Option<mongotic::bson::DateTime>> = min(Order::placed);
/// ```
pub fn min<M, V: Ordered>(field: Field<M, V>) -> Agg<M, Option<V::Value>> {
    Agg::of("min", &field, || None)
}

/// The largest value of the field in the group (`$max`), ignoring null and missing values;
/// `None` when there is none.
///
/// ```
/// # use mongotic::prelude::*;
/// # use mongotic::aggregate::max;
/// # #[derive(Debug, Serialize, Deserialize, Model)]
/// # #[mongotic(collection = "orders")]
/// # struct Order { #[serde(rename = "_id")] #[mongotic(id)] id: i64, customer: String }
/// let _: mongotic::aggregate::Agg<Order, Option<String>> = max(Order::customer);
/// ```
pub fn max<M, V: Ordered>(field: Field<M, V>) -> Agg<M, Option<V::Value>> {
    Agg::of("max", &field, || None)
}

/// Every value of the field in the group, in document order (`$push`): a null is collected,
/// a missing field is not.
///
/// ```
/// # use mongotic::prelude::*;
/// # use mongotic::aggregate::push;
/// # #[derive(Debug, Serialize, Deserialize, Model)]
/// # #[mongotic(collection = "orders")]
/// # struct Order { #[serde(rename = "_id")] #[mongotic(id)] id: i64, customer: String }
/// let _: mongotic::aggregate::Agg<Order, Vec<i64>> = push(Order::id);
/// ```
pub fn push<M, V: DeserializeOwned>(field: Field<M, V>) -> Agg<M, Vec<V>> {
    Agg::of("push", &field, Vec::new)
}

/// The distinct values of the field in the group, in no particular order (`$addToSet`).
///
/// ```
/// # use mongotic::prelude::*;
/// # use mongotic::aggregate::add_to_set;
/// # #[derive(Debug, Serialize, Deserialize, Model)]
/// # #[mongotic(collection = "orders")]
/// # struct Order { #[serde(rename = "_id")] #[mongotic(id)] id: i64, customer: String }
/// let _: mongotic::aggregate::Agg<Order, Vec<String>> = add_to_set(Order::customer);
/// ```
pub fn add_to_set<M, V: DeserializeOwned>(field: Field<M, V>) -> Agg<M, Vec<V>> {
    Agg::of("set", &field, Vec::new)
}

/// A numeric field type that [`sum`] and [`avg`] take: `i32`, `i64`, `f64`, `Decimal128`, or
/// an `Option` of one.
///
/// ```compile_fail
/// # use mongotic::prelude::*;
/// # #[derive(Debug, Serialize, Deserialize, Model)]
/// # #[mongotic(collection = "users")]
/// # struct User { #[serde(rename = "_id")] #[mongotic(id)] id: i64, name: String }
/// let _ = mongotic::aggregate::sum(User::name); // a String does not add up
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a numeric field type",
    label = "`sum` and `avg` need a field of a numeric type (`i32`, `i64`, `f64`, `Decimal128`, or an `Option` of one)"
)]
pub trait Summable {
    /// The type of the sum: `i64` for integers, `f64` for doubles.
    type Sum: DeserializeOwned;

    /// The sum of no values.
    #[doc(hidden)]
    fn zero() -> Self::Sum;
}

macro_rules! summable {
    ($($field:ty => $sum:ty = $zero:expr),+ $(,)?) => {
        $(
            impl Summable for $field {
                type Sum = $sum;
                fn zero() -> $sum { $zero }
            }
            impl Summable for Option<$field> {
                type Sum = $sum;
                fn zero() -> $sum { $zero }
            }
        )+
    };
}

summable!(i32 => i64 = 0, i64 => i64 = 0, f64 => f64 = 0.0, Decimal128 => Decimal128 = decimal_zero());

/// `0` as a Decimal128 (coefficient 0, exponent 0), in its little-endian encoding.
fn decimal_zero() -> Decimal128 {
    Decimal128::from_bytes([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x40, 0x30])
}

/// A field type whose values [`min`] and [`max`] compare: numbers, strings, booleans, dates,
/// ObjectIds, or an `Option` of one. The aggregate gives the value type without the `Option`.
///
/// ```compile_fail
/// # use mongotic::prelude::*;
/// # #[derive(Debug, Serialize, Deserialize, Model)]
/// # #[mongotic(collection = "users")]
/// # struct User { #[serde(rename = "_id")] #[mongotic(id)] id: i64, tags: Vec<String> }
/// let _ = mongotic::aggregate::min(User::tags); // arrays have no order here
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a field type with an order",
    label = "`min` and `max` need a number, string, bool, date or ObjectId field (or an `Option` of one)"
)]
pub trait Ordered {
    /// The value type, without `Option`.
    type Value: DeserializeOwned;
}

macro_rules! ordered {
    ($($value:ty),+ $(,)?) => {
        $(
            impl Ordered for $value {
                type Value = $value;
            }
            impl Ordered for Option<$value> {
                type Value = $value;
            }
        )+
    };
}

ordered!(i32, i64, f64, Decimal128, String, bool, DateTime, ObjectId);
