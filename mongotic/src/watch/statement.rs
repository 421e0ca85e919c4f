//! The watch statement: which changes of a model's collection a stream delivers, and how, as
//! a plain value compiled to the `$match` of the change stream and the driver's options.

use std::fmt;
use std::time::Duration;

use bson::{Bson, Document, Timestamp, doc};
use mongodb::change_stream::event::ResumeToken;
use mongodb::options::{ChangeStreamOptions, FullDocumentBeforeChangeType, FullDocumentType};

use crate::expr::Filter;
use crate::{Model, Result};

/// A change stream over the collection of `M`, to open with [`Watch::open`] or to give a
/// [`Consumer`](super::Consumer). Start one with [`watch`].
///
/// A plain value: building it does no I/O, and [`Watch::pipeline`] shows what it sends.
///
/// ```
/// use mongotic::prelude::*;
/// use mongotic::watch::{Operation, watch};
///
/// #[derive(Debug, Serialize, Deserialize, Model)]
/// #[mongotic(database = "shop", collection = "orders")]
/// struct Order { #[serde(rename = "_id")] id: Option<ObjectId>, status: String, total: f64 }
///
/// let paid = watch::<Order>().filter(Order::status.eq("paid")).operations([Operation::Insert, Operation::Update]);
/// let pipeline = paid.pipeline().unwrap();
/// assert_eq!(
///     pipeline[0],
///     mongotic::bson::doc! { "$match": {
///         "operationType": { "$in": ["insert", "update"] },
///         "fullDocument.status": { "$eq": "paid" },
///     } }
/// );
/// ```
pub struct Watch<M> {
    pub(crate) after: Vec<Filter<M>>,
    pub(crate) before: Vec<Filter<M>>,
    pub(crate) operations: Option<Vec<Operation>>,
    pub(crate) full_document: FullDocument,
    pub(crate) before_change: BeforeChange,
    pub(crate) start: Start,
    pub(crate) batch_size: Option<u32>,
    pub(crate) max_await: Option<Duration>,
}

/// The changes of `M`'s collection, every kind, from now on. See [`Watch`].
///
/// ```
/// # use mongotic::prelude::*;
/// # #[derive(Debug, Serialize, Deserialize, Model)]
/// # #[mongotic(database = "app", collection = "users")]
/// # struct User { #[serde(rename = "_id")] id: Option<ObjectId>, name: String, age: Option<i32> }
/// let everything = mongotic::watch::watch::<User>();
/// assert!(everything.pipeline().unwrap().is_empty());
/// ```
pub fn watch<M: Model>() -> Watch<M> {
    Watch {
        after: Vec::new(),
        before: Vec::new(),
        operations: None,
        full_document: FullDocument::Default,
        before_change: BeforeChange::Off,
        start: Start::Now,
        batch_size: None,
        max_await: None,
    }
}

/// The kind of change to a document, to select with [`Watch::operations`].
///
/// ```
/// assert_eq!(mongotic::watch::Operation::Update.as_str(), "update");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Operation {
    /// A new document.
    Insert,
    /// Some fields of a document changed (`$set`, `$unset`, a pipeline update).
    Update,
    /// A document was replaced whole.
    Replace,
    /// A document was removed.
    Delete,
}

impl Operation {
    /// The server's `operationType`.
    ///
    /// ```
    /// assert_eq!(mongotic::watch::Operation::Insert.as_str(), "insert");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Insert => "insert",
            Operation::Update => "update",
            Operation::Replace => "replace",
            Operation::Delete => "delete",
        }
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether update events carry the document after the change (`fullDocument`).
///
/// ```
/// use mongotic::watch::FullDocument;
/// assert_eq!(FullDocument::default(), FullDocument::Default);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum FullDocument {
    /// Updates carry only what changed (unless a [`Watch::filter`] needs the document, which
    /// then looks it up).
    #[default]
    Default,
    /// Updates carry the document as it is when the server reads it for the event
    /// (`updateLookup`): possibly a later state than the event's, or none if it is gone.
    UpdateLookup,
    /// Updates carry the stored post-image, where the collection keeps them (see
    /// [`enable_pre_and_post_images`](super::enable_pre_and_post_images)), else none.
    WhenAvailable,
    /// Like `WhenAvailable`, but an event without its post-image is an error of the stream.
    Required,
}

/// Whether update, replace and delete events carry the document before the change (a
/// pre-image, `fullDocumentBeforeChange`). The collection must keep them: see
/// [`enable_pre_and_post_images`](super::enable_pre_and_post_images).
///
/// ```
/// assert_eq!(mongotic::watch::BeforeChange::default(), mongotic::watch::BeforeChange::Off);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum BeforeChange {
    /// No pre-images.
    #[default]
    Off,
    /// The pre-image where the server has one.
    WhenAvailable,
    /// The pre-image, or an error of the stream where the server has none.
    Required,
}

/// Where a stream starts.
#[derive(Clone, Debug, Default)]
pub(crate) enum Start {
    #[default]
    Now,
    ResumeAfter(ResumeToken),
    After(ResumeToken),
    At(Timestamp),
}

impl<M: Model> Watch<M> {
    /// Only changes whose document matches `filter`: a filter on the model's fields applies to
    /// the document after the change (`fullDocument.<path>`), and one on the id to the changed
    /// document's key (`documentKey._id`, which delete events have too). Several calls are
    /// combined with `$and`.
    ///
    /// A delete has no document after it, so a filter on other fields leaves deletes out
    /// (use [`filter_before`](Watch::filter_before) with pre-images to select them). Update
    /// events carry their document only when it is looked up, so a filter makes the stream
    /// ask for [`FullDocument::UpdateLookup`] unless another mode was chosen.
    ///
    /// ```
    /// # use mongotic::prelude::*;
    /// # #[derive(Debug, Serialize, Deserialize, Model)]
    /// # #[mongotic(database = "app", collection = "users")]
    /// # struct User { #[serde(rename = "_id")] id: Option<ObjectId>, name: String, age: Option<i32> }
    /// use mongotic::bson::doc;
    /// let adults = mongotic::watch::watch::<User>().filter(User::age.gte(18) | User::name.eq("root"));
    /// assert_eq!(adults.pipeline().unwrap(), [doc! { "$match": { "$or": [
    ///     { "fullDocument.age": { "$gte": 18 } },
    ///     { "fullDocument.name": { "$eq": "root" } },
    /// ] } }]);
    /// ```
    pub fn filter(mut self, filter: Filter<M>) -> Self {
        self.after.push(filter);
        self
    }

    /// Only changes whose document before the change matches `filter`
    /// (`fullDocumentBeforeChange.<path>`): the stream asks for pre-images
    /// ([`BeforeChange::WhenAvailable`] unless another mode was chosen). Inserts have none, so
    /// a filter on fields other than the id leaves them out.
    ///
    /// ```
    /// # use mongotic::prelude::*;
    /// # #[derive(Debug, Serialize, Deserialize, Model)]
    /// # #[mongotic(database = "app", collection = "users")]
    /// # struct User { #[serde(rename = "_id")] id: Option<ObjectId>, name: String, age: Option<i32> }
    /// use mongotic::bson::doc;
    /// let were_adults = mongotic::watch::watch::<User>().filter_before(User::age.gte(18));
    /// assert_eq!(were_adults.pipeline().unwrap(), [doc! { "$match": { "fullDocumentBeforeChange.age": { "$gte": 18 } } }]);
    /// ```
    pub fn filter_before(mut self, filter: Filter<M>) -> Self {
        self.before.push(filter);
        self
    }

    /// Only changes of these kinds (`operationType: {$in: [...]}`). Events about the
    /// collection itself (dropped, renamed, invalidated) are then left out too.
    ///
    /// ```
    /// # use mongotic::prelude::*;
    /// # #[derive(Debug, Serialize, Deserialize, Model)]
    /// # #[mongotic(database = "app", collection = "users")]
    /// # struct User { #[serde(rename = "_id")] id: Option<ObjectId>, name: String }
    /// use mongotic::watch::{Operation, watch};
    /// let removals = watch::<User>().operations([Operation::Delete]);
    /// assert_eq!(removals.pipeline().unwrap(), [mongotic::bson::doc! { "$match": { "operationType": { "$in": ["delete"] } } }]);
    /// ```
    pub fn operations(mut self, operations: impl IntoIterator<Item = Operation>) -> Self {
        let mut kinds: Vec<Operation> = Vec::new();
        for operation in operations {
            if !kinds.contains(&operation) {
                kinds.push(operation);
            }
        }
        self.operations = Some(kinds);
        self
    }

    /// Whether update events carry the document after the change; see [`FullDocument`].
    ///
    /// ```
    /// # use mongotic::prelude::*;
    /// # #[derive(Debug, Serialize, Deserialize, Model)]
    /// # #[mongotic(database = "app", collection = "users")]
    /// # struct User { #[serde(rename = "_id")] id: Option<ObjectId>, name: String }
    /// use mongotic::watch::{FullDocument, watch};
    /// let looked_up = watch::<User>().full_document(FullDocument::UpdateLookup);
    /// # let _ = looked_up;
    /// ```
    pub fn full_document(mut self, mode: FullDocument) -> Self {
        self.full_document = mode;
        self
    }

    /// Whether events carry the document before the change; see [`BeforeChange`].
    ///
    /// ```
    /// # use mongotic::prelude::*;
    /// # #[derive(Debug, Serialize, Deserialize, Model)]
    /// # #[mongotic(database = "app", collection = "users")]
    /// # struct User { #[serde(rename = "_id")] id: Option<ObjectId>, name: String }
    /// use mongotic::watch::{BeforeChange, watch};
    /// let with_before = watch::<User>().before_change(BeforeChange::WhenAvailable);
    /// # let _ = with_before;
    /// ```
    pub fn before_change(mut self, mode: BeforeChange) -> Self {
        self.before_change = mode;
        self
    }

    /// Starts with the event after the one whose token is `token` (`resumeAfter`). A
    /// [`Consumer`](super::Consumer) sets this itself from its checkpoint.
    ///
    /// ```
    /// # use mongotic::prelude::*;
    /// # #[derive(Debug, Serialize, Deserialize, Model)]
    /// # #[mongotic(database = "app", collection = "users")]
    /// # struct User { #[serde(rename = "_id")] id: Option<ObjectId>, name: String }
    /// # fn demo(token: mongotic::watch::ResumeToken) {
    /// let again = mongotic::watch::watch::<User>().resume_after(token);
    /// # let _ = again; }
    /// ```
    pub fn resume_after(mut self, token: ResumeToken) -> Self {
        self.start = Start::ResumeAfter(token);
        self
    }

    /// Like [`resume_after`](Watch::resume_after), but also after an invalidating event (the
    /// collection was dropped or renamed) (`startAfter`).
    ///
    /// ```
    /// # use mongotic::prelude::*;
    /// # #[derive(Debug, Serialize, Deserialize, Model)]
    /// # #[mongotic(database = "app", collection = "users")]
    /// # struct User { #[serde(rename = "_id")] id: Option<ObjectId>, name: String }
    /// # fn demo(token: mongotic::watch::ResumeToken) {
    /// let again = mongotic::watch::watch::<User>().start_after(token);
    /// # let _ = again; }
    /// ```
    pub fn start_after(mut self, token: ResumeToken) -> Self {
        self.start = Start::After(token);
        self
    }

    /// Starts with the changes made at or after the cluster time `time`
    /// (`startAtOperationTime`), while the server still has them.
    ///
    /// ```
    /// # use mongotic::prelude::*;
    /// # #[derive(Debug, Serialize, Deserialize, Model)]
    /// # #[mongotic(database = "app", collection = "users")]
    /// # struct User { #[serde(rename = "_id")] id: Option<ObjectId>, name: String }
    /// use mongotic::bson::Timestamp;
    /// let since = mongotic::watch::watch::<User>().start_at(Timestamp { time: 1_700_000_000, increment: 0 });
    /// # let _ = since;
    /// ```
    pub fn start_at(mut self, time: Timestamp) -> Self {
        self.start = Start::At(time);
        self
    }

    /// How many events the server returns per batch at most.
    ///
    /// ```
    /// # use mongotic::prelude::*;
    /// # #[derive(Debug, Serialize, Deserialize, Model)]
    /// # #[mongotic(database = "app", collection = "users")]
    /// # struct User { #[serde(rename = "_id")] id: Option<ObjectId>, name: String }
    /// let small = mongotic::watch::watch::<User>().batch_size(100);
    /// # let _ = small;
    /// ```
    pub fn batch_size(mut self, size: u32) -> Self {
        self.batch_size = Some(size);
        self
    }

    /// How long the server waits for new events before it answers a quiet stream with an
    /// empty batch (and a fresh resume token); the server's default is one second.
    ///
    /// ```
    /// # use mongotic::prelude::*;
    /// # #[derive(Debug, Serialize, Deserialize, Model)]
    /// # #[mongotic(database = "app", collection = "users")]
    /// # struct User { #[serde(rename = "_id")] id: Option<ObjectId>, name: String }
    /// let brisk = mongotic::watch::watch::<User>().max_await(std::time::Duration::from_millis(200));
    /// # let _ = brisk;
    /// ```
    pub fn max_await(mut self, wait: Duration) -> Self {
        self.max_await = Some(wait);
        self
    }

    /// The aggregation stages after `$changeStream`: the `$match` of the operations and
    /// filters, or nothing when every change is wanted. Deterministic and without I/O.
    ///
    /// ```
    /// # use mongotic::prelude::*;
    /// # #[derive(Debug, Serialize, Deserialize, Model)]
    /// # #[mongotic(database = "app", collection = "users")]
    /// # struct User { #[serde(rename = "_id")] id: Option<ObjectId>, name: String }
    /// let by_id = mongotic::watch::watch::<User>().filter(User::id.eq(ObjectId::from_bytes([0; 12])));
    /// let stage = &by_id.pipeline().unwrap()[0];
    /// assert!(stage.get_document("$match").unwrap().contains_key("documentKey._id"));
    /// ```
    pub fn pipeline(&self) -> Result<Vec<Document>> {
        let mut tests: Vec<Document> = Vec::new();
        if let Some(operations) = &self.operations {
            let kinds: Vec<Bson> = operations.iter().map(|op| Bson::String(op.as_str().to_owned())).collect();
            tests.push(doc! { "operationType": { "$in": kinds } });
        }
        for filter in &self.after {
            tests.push(prefixed(filter.to_document()?, "fullDocument"));
        }
        for filter in &self.before {
            tests.push(prefixed(filter.to_document()?, "fullDocumentBeforeChange"));
        }
        let matched = match tests.len() {
            0 => return Ok(Vec::new()),
            1 => tests.pop().unwrap_or_default(),
            _ => merge(tests),
        };
        Ok(vec![doc! { "$match": matched }])
    }

    /// The driver's options for this stream, starting at `start` (the statement's own unless
    /// a consumer replaces it).
    pub(crate) fn options(&self, start: &Start) -> ChangeStreamOptions {
        let full_document = match self.full_document {
            FullDocument::Default if !self.after.is_empty() => Some(FullDocumentType::UpdateLookup),
            FullDocument::Default => None,
            FullDocument::UpdateLookup => Some(FullDocumentType::UpdateLookup),
            FullDocument::WhenAvailable => Some(FullDocumentType::WhenAvailable),
            FullDocument::Required => Some(FullDocumentType::Required),
        };
        let before = match self.before_change {
            BeforeChange::Off if !self.before.is_empty() => Some(FullDocumentBeforeChangeType::WhenAvailable),
            BeforeChange::Off => None,
            BeforeChange::WhenAvailable => Some(FullDocumentBeforeChangeType::WhenAvailable),
            BeforeChange::Required => Some(FullDocumentBeforeChangeType::Required),
        };
        let mut options = ChangeStreamOptions::default();
        options.full_document = full_document;
        options.full_document_before_change = before;
        options.batch_size = self.batch_size;
        options.max_await_time = self.max_await;
        match start.clone() {
            Start::Now => {}
            Start::ResumeAfter(token) => options.resume_after = Some(token),
            Start::After(token) => options.start_after = Some(token),
            Start::At(time) => options.start_at_operation_time = Some(time),
        }
        options
    }
}

impl<M> Clone for Watch<M> {
    fn clone(&self) -> Self {
        Watch {
            after: self.after.clone(),
            before: self.before.clone(),
            operations: self.operations.clone(),
            full_document: self.full_document,
            before_change: self.before_change,
            start: self.start.clone(),
            batch_size: self.batch_size,
            max_await: self.max_await,
        }
    }
}

impl<M> fmt::Debug for Watch<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Watch")
            .field("filter", &self.after)
            .field("filter_before", &self.before)
            .field("operations", &self.operations)
            .field("full_document", &self.full_document)
            .field("before_change", &self.before_change)
            .finish_non_exhaustive()
    }
}

/// Several tests in one `$match`: side by side when their keys differ, else under `$and`.
fn merge(tests: Vec<Document>) -> Document {
    let mut merged = Document::new();
    for test in &tests {
        for (key, value) in test {
            if merged.contains_key(key) {
                let all: Vec<Bson> = tests.into_iter().map(Bson::Document).collect();
                return doc! { "$and": all };
            }
            merged.insert(key.clone(), value.clone());
        }
    }
    merged
}

/// A compiled filter on the model's documents, moved under `prefix` of the change event; the
/// id goes to `documentKey._id`, which every document event has.
fn prefixed(filter: Document, prefix: &str) -> Document {
    let mut out = Document::new();
    for (key, value) in filter {
        match key.as_str() {
            "$and" | "$or" | "$nor" => {
                let value = match value {
                    Bson::Array(items) => Bson::Array(
                        items
                            .into_iter()
                            .map(|item| match item {
                                Bson::Document(inner) => Bson::Document(prefixed(inner, prefix)),
                                other => other,
                            })
                            .collect(),
                    ),
                    other => other,
                };
                out.insert(key, value);
            }
            operator if operator.starts_with('$') => {
                out.insert(key, value);
            }
            "_id" => {
                out.insert("documentKey._id", value);
            }
            path => {
                out.insert(format!("{prefix}.{path}"), value);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_move_under_the_document_and_the_id_under_the_key() {
        let compiled = prefixed(
            doc! { "$and": [ { "age": { "$gte": 1 } }, { "$nor": [ { "_id": 3 } ] } ], "name": "x" },
            "fullDocument",
        );
        assert_eq!(
            compiled,
            doc! {
                "$and": [ { "fullDocument.age": { "$gte": 1 } }, { "$nor": [ { "documentKey._id": 3 } ] } ],
                "fullDocument.name": "x",
            }
        );
    }

    #[test]
    fn tests_on_one_key_are_joined_with_and() {
        let merged = merge(vec![doc! { "a": 1 }, doc! { "a": 2 }]);
        assert_eq!(merged, doc! { "$and": [ { "a": 1 }, { "a": 2 } ] });
        assert_eq!(merge(vec![doc! { "a": 1 }, doc! { "b": 2 }]), doc! { "a": 1, "b": 2 });
    }
}
