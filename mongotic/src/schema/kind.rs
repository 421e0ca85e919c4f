//! Collection kinds: what a model's collection is created as (time series, capped, clustered,
//! or a view, which has a file of its own), and the options of its `create` command.

use bson::{Bson, DateTime, Document, doc};

use super::view::View;

/// What a model's collection is, declared on the model and created so by
/// [`sync_schema`](super::sync_schema).
///
/// ```
/// use mongotic::prelude::*;
/// use mongotic::schema::{CollectionKind, Granularity};
///
/// #[derive(Debug, Serialize, Deserialize, Model)]
/// #[mongotic(collection = "readings")]
/// #[mongotic(timeseries(time = at, meta = sensor, granularity = "minutes", expire_after_secs = 86400))]
/// struct Reading {
///     #[serde(rename = "_id")]
///     id: Option<ObjectId>,
///     at: mongotic::bson::DateTime,
///     sensor: String,
///     celsius: f64,
/// }
///
/// let CollectionKind::TimeSeries(series) = &Reading::meta().kind else { unreachable!() };
/// assert_eq!((series.time_field, series.meta_field), ("at", Some("sensor")));
/// assert_eq!(series.granularity, Some(Granularity::Minutes));
/// ```
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub enum CollectionKind {
    /// A plain collection (the default).
    Standard,
    /// `#[mongotic(capped(size = N, max = N))]`: a fixed-size collection that keeps insertion
    /// order and drops its oldest documents.
    Capped(Capped),
    /// `#[mongotic(timeseries(time = field, ...))]`: measurements over time, stored in buckets.
    TimeSeries(TimeSeries),
    /// `#[mongotic(clustered)]`: documents stored in `_id` order, without a separate `_id`
    /// index.
    Clustered(Clustered),
    /// `#[mongotic(view(on = Model, pipeline = f))]`: a read-only view over another collection.
    View(View),
}

/// The options of a capped collection.
///
/// ```
/// use mongotic::schema::Capped;
/// let capped = Capped { size: 1 << 20, max: Some(1000) };
/// assert_eq!(capped.size, 1_048_576);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capped {
    /// The largest size in bytes (the server rounds it up to a multiple of 256).
    pub size: u64,
    /// The most documents, if limited.
    pub max: Option<u64>,
}

/// The options of a time-series collection.
///
/// ```
/// use mongotic::schema::{Granularity, TimeSeries};
/// let series = TimeSeries {
///     time_field: "at",
///     meta_field: Some("sensor"),
///     granularity: Some(Granularity::Seconds),
///     bucket_span_secs: None,
///     expire_after_secs: None,
/// };
/// assert_eq!(series.time_field, "at");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeSeries {
    /// The stored name of the field holding each measurement's date.
    pub time_field: &'static str,
    /// The stored name of the field that says what was measured (a sensor's id, its labels).
    pub meta_field: Option<&'static str>,
    /// How far apart measurements of one series usually are.
    pub granularity: Option<Granularity>,
    /// A bucketing of one's own instead of a granularity: the span of a bucket in seconds (as
    /// both `bucketMaxSpanSeconds` and `bucketRoundingSeconds`).
    pub bucket_span_secs: Option<u64>,
    /// Delete measurements this many seconds after their date.
    pub expire_after_secs: Option<u64>,
}

/// The granularity of a time series.
///
/// ```
/// assert_eq!(mongotic::schema::Granularity::Hours.as_str(), "hours");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Granularity {
    /// `"seconds"` (the server's default).
    Seconds,
    /// `"minutes"`.
    Minutes,
    /// `"hours"`.
    Hours,
}

impl Granularity {
    /// The server's name for it.
    ///
    /// ```
    /// assert_eq!(mongotic::schema::Granularity::Minutes.as_str(), "minutes");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            Granularity::Seconds => "seconds",
            Granularity::Minutes => "minutes",
            Granularity::Hours => "hours",
        }
    }

    /// The granularity the server names `name`.
    ///
    /// ```
    /// use mongotic::schema::Granularity;
    /// assert_eq!(Granularity::parse("hours"), Some(Granularity::Hours));
    /// assert_eq!(Granularity::parse("days"), None);
    /// ```
    pub fn parse(name: &str) -> Option<Granularity> {
        match name {
            "seconds" => Some(Granularity::Seconds),
            "minutes" => Some(Granularity::Minutes),
            "hours" => Some(Granularity::Hours),
            _ => None,
        }
    }
}

/// The options of a clustered collection.
///
/// ```
/// let clustered = mongotic::schema::Clustered { expire_after_secs: Some(3600) };
/// assert_eq!(clustered.expire_after_secs, Some(3600));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Clustered {
    /// Delete documents this many seconds after the date their `_id` holds (a TTL on `_id`).
    pub expire_after_secs: Option<u64>,
}

/// The type of a time series' time field: a [`bson::DateTime`], always present.
///
/// ```
/// fn time_field<T: mongotic::schema::TimeField>() {}
/// time_field::<mongotic::bson::DateTime>();
/// ```
#[diagnostic::on_unimplemented(
    message = "the time field of a time series must be a `bson::DateTime`, not `{Self}`",
    label = "not a date every measurement has"
)]
pub trait TimeField {}

impl TimeField for DateTime {}

/// A count of seconds or bytes as the server takes it.
pub(crate) fn int(value: u64) -> Bson {
    match i32::try_from(value) {
        Ok(small) => Bson::Int32(small),
        Err(_) => Bson::Int64(i64::try_from(value).unwrap_or(i64::MAX)),
    }
}

impl CollectionKind {
    /// The options a `create` command gives this kind (a view's are its own, see
    /// [`View`]).
    ///
    /// ```
    /// use mongotic::schema::{Capped, CollectionKind};
    /// let options = CollectionKind::Capped(Capped { size: 4096, max: None }).create_options();
    /// assert_eq!(options, mongotic::bson::doc! { "capped": true, "size": 4096 });
    /// ```
    pub fn create_options(&self) -> Document {
        match self {
            CollectionKind::Standard | CollectionKind::View(_) => Document::new(),
            CollectionKind::Capped(capped) => {
                let mut options = doc! { "capped": true, "size": int(capped.size) };
                if let Some(max) = capped.max {
                    options.insert("max", int(max));
                }
                options
            }
            CollectionKind::TimeSeries(series) => {
                let mut timeseries = doc! { "timeField": series.time_field };
                if let Some(meta) = series.meta_field {
                    timeseries.insert("metaField", meta);
                }
                if let Some(granularity) = series.granularity {
                    timeseries.insert("granularity", granularity.as_str());
                }
                if let Some(span) = series.bucket_span_secs {
                    timeseries.insert("bucketMaxSpanSeconds", int(span));
                    timeseries.insert("bucketRoundingSeconds", int(span));
                }
                let mut options = doc! { "timeseries": timeseries };
                if let Some(expire) = series.expire_after_secs {
                    options.insert("expireAfterSeconds", int(expire));
                }
                options
            }
            CollectionKind::Clustered(clustered) => {
                let mut options = doc! { "clusteredIndex": { "key": { "_id": 1 }, "unique": true } };
                if let Some(expire) = clustered.expire_after_secs {
                    options.insert("expireAfterSeconds", int(expire));
                }
                options
            }
        }
    }

    /// A short name of the kind, for messages.
    ///
    /// ```
    /// assert_eq!(mongotic::schema::CollectionKind::Standard.name(), "a plain collection");
    /// ```
    pub fn name(&self) -> &'static str {
        match self {
            CollectionKind::Standard => "a plain collection",
            CollectionKind::Capped(_) => "a capped collection",
            CollectionKind::TimeSeries(_) => "a time-series collection",
            CollectionKind::Clustered(_) => "a clustered collection",
            CollectionKind::View(_) => "a view",
        }
    }
}
