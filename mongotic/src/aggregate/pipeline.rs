//! The escape hatch: a hand-written aggregation pipeline, deserialized into a given type.

use std::fmt;
use std::marker::PhantomData;

use bson::Document;
use serde::de::DeserializeOwned;

use crate::options::Options;

/// A hand-written aggregation pipeline over the collection of model `M`, whose results
/// deserialize into `T`. Made by [`pipeline`]; run it with
/// [`Session::execute`](crate::Session::execute), which gives a `Vec<T>` (in the session's
/// transaction, if one is open). The results are plain values, not tracked entities.
///
/// ```no_run
/// # use mongotic::prelude::*;
/// # use mongotic::bson::doc;
/// # #[derive(Debug, Serialize, Deserialize, Model)]
/// # #[mongotic(collection = "orders")]
/// # struct Order { #[serde(rename = "_id")] #[mongotic(id)] id: i64, lines: Vec<Line> }
/// # #[derive(Debug, Serialize, Deserialize)]
/// # struct Line { sku: String, qty: i32 }
/// #[derive(Debug, Deserialize)]
/// struct Sold { #[serde(rename = "_id")] sku: String, qty: i64 }
///
/// # async fn demo(mut session: Session) -> mongotic::Result<()> {
/// let sold: Vec<Sold> = session.execute(mongotic::aggregate::pipeline::<Order, Sold>([
///     doc! { "$unwind": "$lines" },
///     doc! { "$group": { "_id": "$lines.sku", "qty": { "$sum": "$lines.qty" } } },
///     doc! { "$sort": { "qty": -1 } },
/// ])).await?;
/// # Ok(()) }
/// ```
pub struct Pipeline<M, T> {
    stages: Vec<Document>,
    pub(crate) options: Options,
    _types: PhantomData<fn() -> (M, T)>,
}

/// A pipeline of `stages` over the collection of `M`, whose results are `T`s.
///
/// ```
/// # use mongotic::prelude::*;
/// # use mongotic::bson::{Document, doc};
/// # #[derive(Debug, Serialize, Deserialize, Model)]
/// # #[mongotic(collection = "orders")]
/// # struct Order { #[serde(rename = "_id")] #[mongotic(id)] id: i64 }
/// let p = mongotic::aggregate::pipeline::<Order, Document>([doc! { "$count": "n" }]);
/// assert_eq!(p.stages(), [doc! { "$count": "n" }]);
/// ```
pub fn pipeline<M, T: DeserializeOwned>(stages: impl IntoIterator<Item = Document>) -> Pipeline<M, T> {
    Pipeline { stages: stages.into_iter().collect(), options: Options::default(), _types: PhantomData }
}

impl<M, T> Pipeline<M, T> {
    /// The stages, as given.
    ///
    /// ```
    /// # use mongotic::prelude::*;
    /// # use mongotic::bson::{Document, doc};
    /// # #[derive(Debug, Serialize, Deserialize, Model)]
    /// # #[mongotic(collection = "orders")]
    /// # struct Order { #[serde(rename = "_id")] #[mongotic(id)] id: i64 }
    /// let p = mongotic::aggregate::pipeline::<Order, Document>([]);
    /// assert!(p.stages().is_empty());
    /// ```
    pub fn stages(&self) -> &[Document] {
        &self.stages
    }

    pub(crate) fn into_parts(self) -> (Vec<Document>, Options) {
        (self.stages, self.options)
    }
}

impl<M, T> Clone for Pipeline<M, T> {
    fn clone(&self) -> Self {
        Pipeline { stages: self.stages.clone(), options: self.options.clone(), _types: PhantomData }
    }
}

impl<M, T> fmt::Debug for Pipeline<M, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Pipeline").field(&self.stages).finish()
    }
}

crate::options::statement_options!(
    Pipeline<M, T>,
    "mongotic::aggregate::pipeline::<User, mongotic::bson::Document>([mongotic::bson::doc! { \"$count\": \"n\" }])",
    [max_time, timeout, comment, read_preference, read_concern, hint, collation, allow_disk_use, batch_size]
);

crate::options::scope_methods!(
    Pipeline<M, T>,
    "mongotic::aggregate::pipeline::<User, mongotic::bson::Document>([])",
    "mongotic::aggregate::pipeline::<User, mongotic::bson::Document>([])"
);
