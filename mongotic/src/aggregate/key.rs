//! The two halves of a group's row: its key (one field or a tuple of them) and its aggregates
//! (one or a tuple), each decoding its part of the `$group` output into typed values.

use bson::{Bson, Document};
use serde::de::DeserializeOwned;

use super::func::Agg;
use crate::expr::Field;

/// What a query groups by: one field of `M` (the row's key is its value) or a tuple of fields
/// (the key is a tuple of values). Nested paths (`Order::address.dot(Address::city)`) work;
/// paths through arrays do not compile.
///
/// ```
/// # use mongotic::prelude::*;
/// # use mongotic::aggregate::GroupKey;
/// # #[derive(Debug, Serialize, Deserialize, Model)]
/// # #[mongotic(collection = "orders")]
/// # struct Order { #[serde(rename = "_id")] #[mongotic(id)] id: i64, customer: String, status: Option<String> }
/// assert_eq!(Order::customer.paths(), ["customer"]);
/// assert_eq!((Order::customer, Order::status).paths(), ["customer", "status"]);
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a group key of model `{M}`",
    label = "group by a field of the model (`Order::customer`) or a tuple of fields"
)]
pub trait GroupKey<M>: Clone + Send + Sync + 'static {
    /// The Rust value of a group's key.
    type Output: Send + 'static;

    /// The stored paths of the key's fields, in order.
    fn paths(&self) -> Vec<String>;

    /// The `_id` expression of the `$group` stage.
    #[doc(hidden)]
    fn id_expression(&self) -> Bson;

    /// The key's value from the `_id` of a result.
    #[doc(hidden)]
    fn decode(&self, id: Bson) -> Result<Self::Output, bson::de::Error>;
}

impl<M: 'static, V: DeserializeOwned + Send + 'static> GroupKey<M> for Field<M, V> {
    type Output = V;

    fn paths(&self) -> Vec<String> {
        vec![self.path().to_owned()]
    }

    fn id_expression(&self) -> Bson {
        Bson::String(format!("${}", self.path()))
    }

    fn decode(&self, id: Bson) -> Result<V, bson::de::Error> {
        bson::from_bson(id)
    }
}

/// Takes the key part `k{index}` of a compound `_id` (null when absent).
fn key_part(id: &mut Bson, index: usize) -> Bson {
    match id {
        Bson::Document(parts) => parts.remove(format!("k{index}")).unwrap_or(Bson::Null),
        _ => Bson::Null,
    }
}

macro_rules! tuple_group_key {
    ($($value:ident = $index:tt),+) => {
        impl<M: 'static, $($value: DeserializeOwned + Send + 'static),+> GroupKey<M> for ($(Field<M, $value>,)+) {
            type Output = ($($value,)+);

            fn paths(&self) -> Vec<String> {
                vec![$(self.$index.path().to_owned()),+]
            }

            fn id_expression(&self) -> Bson {
                let mut id = Document::new();
                // `{$ifNull: [path, null]}`: a missing field is left out of a compound `_id`,
                // which would group it apart from a null; this groups them together, as a
                // single-field key does.
                $(id.insert(
                    concat!("k", stringify!($index)),
                    bson::doc! { "$ifNull": [format!("${}", self.$index.path()), Bson::Null] },
                );)+
                Bson::Document(id)
            }

            fn decode(&self, mut id: Bson) -> Result<Self::Output, bson::de::Error> {
                Ok(($(bson::from_bson::<$value>(key_part(&mut id, $index))?,)+))
            }
        }
    };
}

tuple_group_key!(A = 0);
tuple_group_key!(A = 0, B = 1);
tuple_group_key!(A = 0, B = 1, C = 2);
tuple_group_key!(A = 0, B = 1, C = 2, D = 3);
tuple_group_key!(A = 0, B = 1, C = 2, D = 3, E = 4);
tuple_group_key!(A = 0, B = 1, C = 2, D = 3, E = 4, F = 5);

/// The aggregates a grouped query computes: one [`Agg`], a tuple of them, or `()` (the
/// distinct keys only).
///
/// ```
/// # use mongotic::prelude::*;
/// # use mongotic::aggregate::{Aggregates, count, sum};
/// # #[derive(Debug, Serialize, Deserialize, Model)]
/// # #[mongotic(collection = "orders")]
/// # struct Order { #[serde(rename = "_id")] #[mongotic(id)] id: i64, total: f64 }
/// fn outputs<A: Aggregates<Order>>(aggs: &A) -> A::Output { aggs.empty() }
/// assert_eq!(outputs(&(count(), sum(Order::total))), (0, 0.0));
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a list of aggregates of model `{M}`",
    label = "pass an aggregate (`count()`, `sum(Order::total)`) or a tuple of them"
)]
pub trait Aggregates<M>: Clone + Send + Sync + 'static {
    /// The Rust values of a group's aggregates.
    type Output: Send + 'static;

    /// Names each accumulator of the `$group` stage.
    #[doc(hidden)]
    fn accumulators(&self, add: &mut dyn FnMut(&str, &Bson));

    /// The values from a result document.
    #[doc(hidden)]
    fn decode(&self, row: &Document) -> Result<Self::Output, bson::de::Error>;

    /// The values over no documents at all: counts and sums 0, averages and extremes `None`,
    /// collected values empty.
    ///
    /// ```
    /// # use mongotic::prelude::*;
    /// # use mongotic::aggregate::{Aggregates, avg, count};
    /// # #[derive(Debug, Serialize, Deserialize, Model)]
    /// # #[mongotic(collection = "people")]
    /// # struct Person { #[serde(rename = "_id")] #[mongotic(id)] id: i64, age: Option<i32> }
    /// let aggs = (count::<Person>(), avg(Person::age));
    /// assert_eq!(aggs.empty(), (0, None));
    /// ```
    fn empty(&self) -> Self::Output;
}

impl<M: 'static> Aggregates<M> for () {
    type Output = ();

    fn accumulators(&self, _: &mut dyn FnMut(&str, &Bson)) {}

    fn decode(&self, _: &Document) -> Result<(), bson::de::Error> {
        Ok(())
    }

    fn empty(&self) {}
}

impl<M: 'static, T: DeserializeOwned + Send + 'static> Aggregates<M> for Agg<M, T> {
    type Output = T;

    fn accumulators(&self, add: &mut dyn FnMut(&str, &Bson)) {
        add(&self.name, &self.accumulator);
    }

    fn decode(&self, row: &Document) -> Result<T, bson::de::Error> {
        // The same aggregate may be asked for twice (`(sum(x), sum(x))`): copy, do not take.
        bson::from_bson(row.get(&self.name).cloned().unwrap_or(Bson::Null))
    }

    fn empty(&self) -> T {
        (self.empty)()
    }
}

macro_rules! tuple_aggregates {
    ($($agg:ident = $index:tt),+) => {
        impl<M: 'static, $($agg: Aggregates<M>),+> Aggregates<M> for ($($agg,)+) {
            type Output = ($($agg::Output,)+);

            fn accumulators(&self, add: &mut dyn FnMut(&str, &Bson)) {
                $(self.$index.accumulators(add);)+
            }

            fn decode(&self, row: &Document) -> Result<Self::Output, bson::de::Error> {
                Ok(($(self.$index.decode(row)?,)+))
            }

            fn empty(&self) -> Self::Output {
                ($(self.$index.empty(),)+)
            }
        }
    };
}

tuple_aggregates!(A = 0);
tuple_aggregates!(A = 0, B = 1);
tuple_aggregates!(A = 0, B = 1, C = 2);
tuple_aggregates!(A = 0, B = 1, C = 2, D = 3);
tuple_aggregates!(A = 0, B = 1, C = 2, D = 3, E = 4);
tuple_aggregates!(A = 0, B = 1, C = 2, D = 3, E = 4, F = 5);
tuple_aggregates!(A = 0, B = 1, C = 2, D = 3, E = 4, F = 5, G = 6);
tuple_aggregates!(A = 0, B = 1, C = 2, D = 3, E = 4, F = 5, G = 6, H = 7);
