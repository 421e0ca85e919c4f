//! Views: read-only models over another collection and a pipeline.
//!
//! A model declared `#[mongotic(view(on = Source, pipeline = f))]` is queried like any model
//! (`select`, `get`, aggregation), but it does not implement [`Writable`](crate::Writable), so
//! staging it (`Session::add`, `merge`, `delete`), changing a loaded one (`Tracked::write`) and
//! the bulk `insert`, `update` and `delete` statements do not compile for it.

use bson::{Bson, Document};

use crate::model::ModelMeta;

/// A view's definition: what it reads and the pipeline it runs.
///
/// ```
/// use mongotic::prelude::*;
/// use mongotic::bson::{Document, doc};
/// use mongotic::schema::{CollectionKind, ViewSource};
///
/// #[derive(Debug, Serialize, Deserialize, Model)]
/// #[mongotic(collection = "orders")]
/// struct Order { #[serde(rename = "_id")] id: Option<ObjectId>, status: String, total: f64 }
///
/// fn paid() -> Vec<Document> {
///     vec![doc! { "$match": { "status": "paid" } }]
/// }
///
/// #[derive(Debug, Serialize, Deserialize, Model)]
/// #[mongotic(collection = "paid_orders", view(on = Order, pipeline = paid))]
/// struct PaidOrder { #[serde(rename = "_id")] id: ObjectId, total: f64 }
///
/// let CollectionKind::View(view) = &PaidOrder::meta().kind else { unreachable!() };
/// assert_eq!(view.source_collection(), "orders");
/// assert_eq!((view.pipeline)(), paid());
/// let recent = select::<PaidOrder>().filter(PaidOrder::total.gt(100.0)); // queries work
/// # let _ = recent;
/// ```
#[derive(Debug, Clone, Copy)]
pub struct View {
    /// The collection (or view) it reads.
    pub on: ViewSource,
    /// Its aggregation pipeline.
    pub pipeline: fn() -> Vec<Document>,
}

/// What a view reads: another model's collection, or a collection by name (in the view's own
/// database, as MongoDB requires).
///
/// ```
/// let source = mongotic::schema::ViewSource::Collection("events");
/// # let _ = source;
/// ```
#[derive(Debug, Clone, Copy)]
pub enum ViewSource {
    /// The collection of a model (`view(on = Model, ..)`).
    Model(fn() -> &'static ModelMeta),
    /// A collection by name (`view(on = "name", ..)`).
    Collection(&'static str),
}

impl View {
    /// The name of the collection it reads.
    ///
    /// ```
    /// use mongotic::schema::{View, ViewSource};
    /// let view = View { on: ViewSource::Collection("events"), pipeline: Vec::new };
    /// assert_eq!(view.source_collection(), "events");
    /// ```
    pub fn source_collection(&self) -> &'static str {
        match self.on {
            ViewSource::Model(meta) => meta().collection,
            ViewSource::Collection(name) => name,
        }
    }

    /// The pipeline as the server stores it.
    pub(crate) fn pipeline_bson(&self) -> Bson {
        Bson::Array((self.pipeline)().into_iter().map(Bson::Document).collect())
    }
}
