//! Options of the work a session does: where reads go and what they may see, how writes are
//! acknowledged, how long anything may take, and how the server should run it.
//!
//! One [`Options`] value carries them all. It is set at three levels, each overriding the one
//! before it, field by field:
//!
//! 1. the factory: [`SessionFactory::with_options`](crate::SessionFactory::with_options),
//!    for every session it opens (a service says "at most 2 s" once, here);
//! 2. the session: [`Session::set_options`](crate::Session::set_options);
//! 3. the statement: builder methods on each statement, for the options it can use
//!    (`select::<User>().max_time(..).hint(..)`, `update::<User>().write_concern(..)`): an
//!    option a statement cannot use has no method on it, so misuse does not compile.
//!
//! An explicit transaction takes its read concern, write concern and read preference at
//! [`Session::begin_with`](crate::Session::begin_with); statements in it cannot set those
//! (the server refuses them), and a read preference other than primary in a transaction is
//! [`Error::InvalidOptions`](crate::Error::InvalidOptions) before anything is sent.
//!
//! | option | what it does | where it applies |
//! |---|---|---|
//! | [`read_preference`](Options::read_preference) | which members may serve a read (with tags and maximum staleness) | reads |
//! | [`read_concern`](Options::read_concern) | what a read may see (`majority`, `local`, `snapshot`…) | reads |
//! | [`write_concern`](Options::write_concern) | how a write is acknowledged | bulk statements, flushes (their commands, or their transaction's commit) |
//! | [`max_time`](Options::max_time) | the server's time limit for a command (`maxTimeMS`) | reads (finds, counts, distinct, aggregations) and a transaction's commit (`maxCommitTimeMS`); write commands do not carry it: bound them with `timeout` |
//! | [`timeout`](Options::timeout) | the client's limit on the whole call, retries included | every call; bounds a flush's and a commit's retry loops |
//! | [`hint`](Options::hint) | the index the server must use | selects and their terminal methods, counts, aggregations, bulk updates and deletes |
//! | [`collation`](Options::collation) | how strings compare (case-insensitively, say) | selects, counts, distinct, aggregations, bulk updates and deletes |
//! | [`comment`](Options::comment) | a value the server logs and profiles with the command | every command |
//! | [`allow_disk_use`](Options::allow_disk_use) | lets a large sort or group spill to disk | selects and aggregations |
//! | [`batch_size`](Options::batch_size) | documents per cursor batch | selects, aggregations and the reverse side's relation loads; reads of known ids (`get_many`, loading references) ask for all of them in one batch |
//!
//! A time limit that runs out is an error for which [`Error::is_timeout`](crate::Error::is_timeout)
//! is true, whether the server ran out of `maxTimeMS` or the client's `timeout` passed. A flush
//! cut short by either is reconciled like any write whose outcome is unknown: the next flush
//! reads the server before it sends anything.
//!
//! ```no_run
//! use std::time::Duration;
//! use mongotic::options::{Options, ReadPreference};
//! use mongotic::prelude::*;
//!
//! # #[derive(Debug, Serialize, Deserialize, Model)]
//! # #[mongotic(database = "app", collection = "users")]
//! # struct User { #[serde(rename = "_id")] id: Option<ObjectId>, name: String }
//! # async fn demo(engine: Engine) -> mongotic::Result<()> {
//! let factory = sessionmaker(&engine).with_options(Options::new().timeout(Duration::from_secs(2)));
//! let mut session = factory.session();
//! let report = select::<User>()
//!     .read_preference(ReadPreference::SecondaryPreferred { options: None })
//!     .max_time(Duration::from_millis(200))
//!     .comment("nightly report");
//! let users = session.scalars(report).all().await?;
//! # Ok(()) }
//! ```

use std::time::Duration;

use bson::Bson;
pub use mongodb::options::{
    Acknowledgment, Collation, CollationStrength, Hint, ReadConcern, ReadConcernLevel, ReadPreference,
    ReadPreferenceOptions, SelectionCriteria, TagSet, TransactionOptions, WriteConcern,
};
use mongodb::options::{
    AggregateOptions, BulkWriteOptions, CountOptions, DeleteOptions, DistinctOptions, FindOneOptions, FindOptions,
    InsertManyOptions, UpdateOptions,
};

/// The options of a factory, a session or a statement: see the [module](self) for what each
/// does and where it applies. Every field is unset by default (the driver's and the server's
/// defaults then hold); [`Options::over`] layers one set on another.
///
/// ```
/// use std::time::Duration;
/// use mongotic::options::Options;
///
/// let defaults = Options::new().timeout(Duration::from_secs(2)).comment("api");
/// let statement = Options::new().comment("report");
/// let effective = statement.over(&defaults);
/// assert_eq!(effective.get_timeout(), Some(Duration::from_secs(2)));
/// assert_eq!(effective.get_comment(), Some(&"report".into()));
/// ```
#[derive(Clone, Debug, Default)]
pub struct Options {
    pub(crate) read_preference: Option<ReadPreference>,
    pub(crate) read_concern: Option<ReadConcern>,
    pub(crate) write_concern: Option<WriteConcern>,
    pub(crate) max_time: Option<Duration>,
    pub(crate) timeout: Option<Duration>,
    pub(crate) hint: Option<Hint>,
    pub(crate) collation: Option<Collation>,
    pub(crate) comment: Option<Bson>,
    pub(crate) allow_disk_use: Option<bool>,
    pub(crate) batch_size: Option<u32>,
    /// Which documents of a soft-delete model a statement sees (statements only).
    pub(crate) deleted: Option<Deleted>,
    /// The statement reads or writes across tenants (statements only).
    pub(crate) unscoped: bool,
}

/// Which documents of a model with a soft-delete field a statement sees.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) enum Deleted {
    /// Live documents only: the default.
    #[default]
    Hidden,
    /// Live and deleted documents.
    Included,
    /// Deleted documents only.
    Only,
}

impl Options {
    /// No option set.
    ///
    /// ```
    /// assert!(mongotic::options::Options::new().is_empty());
    /// ```
    pub fn new() -> Self {
        Options::default()
    }

    /// `true` when no option is set.
    ///
    /// ```
    /// use mongotic::options::Options;
    /// assert!(!Options::new().comment("x").is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.read_preference.is_none()
            && self.read_concern.is_none()
            && self.write_concern.is_none()
            && self.max_time.is_none()
            && self.timeout.is_none()
            && self.hint.is_none()
            && self.collation.is_none()
            && self.comment.is_none()
            && self.allow_disk_use.is_none()
            && self.batch_size.is_none()
            && self.deleted.is_none()
            && !self.unscoped
    }

    /// These options, with `base`'s where these leave a field unset.
    ///
    /// ```
    /// use std::time::Duration;
    /// use mongotic::options::Options;
    /// let merged = Options::new().max_time(Duration::from_millis(5)).over(&Options::new().batch_size(10_u32));
    /// assert_eq!((merged.get_max_time(), merged.get_batch_size()), (Some(Duration::from_millis(5)), Some(10)));
    /// ```
    pub fn over(&self, base: &Options) -> Options {
        Options {
            read_preference: self.read_preference.clone().or_else(|| base.read_preference.clone()),
            read_concern: self.read_concern.clone().or_else(|| base.read_concern.clone()),
            write_concern: self.write_concern.clone().or_else(|| base.write_concern.clone()),
            max_time: self.max_time.or(base.max_time),
            timeout: self.timeout.or(base.timeout),
            hint: self.hint.clone().or_else(|| base.hint.clone()),
            collation: self.collation.clone().or_else(|| base.collation.clone()),
            comment: self.comment.clone().or_else(|| base.comment.clone()),
            allow_disk_use: self.allow_disk_use.or(base.allow_disk_use),
            batch_size: self.batch_size.or(base.batch_size),
            deleted: self.deleted.or(base.deleted),
            unscoped: self.unscoped || base.unscoped,
        }
    }
}

/// The builder methods and getters of [`Options`], one pair per field.
macro_rules! fields {
    ($($(#[$doc:meta])* $field:ident / $getter:ident: $ty:ty $(as $into:ident)?;)*) => {
        impl Options {
            $(
                $(#[$doc])*
                pub fn $field(mut self, value: impl Into<$ty>) -> Self {
                    self.$field = Some(value.into());
                    self
                }

                #[doc = "The value set, if any."]
                #[doc = ""]
                #[doc = "```"]
                #[doc = concat!("assert!(mongotic::options::Options::new().", stringify!($getter), "().is_none());")]
                #[doc = "```"]
                pub fn $getter(&self) -> Option<fields!(@ref $ty $(, $into)?)> {
                    fields!(@get self.$field $(, $into)?)
                }
            )*
        }
    };
    (@ref $ty:ty) => { &$ty };
    (@ref $ty:ty, copy) => { $ty };
    (@get $value:expr) => { $value.as_ref() };
    (@get $value:expr, copy) => { $value };
}

fields! {
    /// Which members of a replica set may serve the reads: `Primary` (the default),
    /// `SecondaryPreferred`, `Nearest`… with tag sets and a maximum staleness in their options.
    ///
    /// ```
    /// use mongotic::options::{Options, ReadPreference};
    /// let options = Options::new().read_preference(ReadPreference::Nearest { options: None });
    /// ```
    read_preference / get_read_preference: ReadPreference;
    /// What the reads may see: `ReadConcern::majority()`, `local()`, `snapshot()`…
    ///
    /// ```
    /// use mongotic::options::{Options, ReadConcern};
    /// let options = Options::new().read_concern(ReadConcern::majority());
    /// ```
    read_concern / get_read_concern: ReadConcern;
    /// How the server acknowledges writes: `WriteConcern::majority()`, `w: 1`, a timeout…
    ///
    /// ```
    /// use mongotic::options::{Options, WriteConcern};
    /// let options = Options::new().write_concern(WriteConcern::majority());
    /// ```
    write_concern / get_write_concern: WriteConcern;
    /// The server's time limit for a read (`maxTimeMS`) or a transaction's commit
    /// (`maxCommitTimeMS`): past it, the server stops the command and answers
    /// `MaxTimeMSExpired`. Write commands do not carry it; [`timeout`](Options::timeout) bounds
    /// them.
    ///
    /// ```
    /// use std::time::Duration;
    /// let options = mongotic::options::Options::new().max_time(Duration::from_millis(200));
    /// ```
    max_time / get_max_time: Duration as copy;
    /// The client's time limit for a whole call, waiting and retrying included: past it, the
    /// call returns an error for which `is_timeout()` is true.
    ///
    /// ```
    /// use std::time::Duration;
    /// let options = mongotic::options::Options::new().timeout(Duration::from_secs(2));
    /// ```
    timeout / get_timeout: Duration as copy;
    /// The index the server must use: its name (`Hint::Name`) or its keys (`Hint::Keys`). An
    /// index that does not exist makes the command fail.
    ///
    /// ```
    /// use mongotic::options::{Hint, Options};
    /// let options = Options::new().hint(Hint::Name("email_1".into()));
    /// ```
    hint / get_hint: Hint;
    /// How strings compare: a locale and a strength (`CollationStrength::Secondary` compares
    /// case-insensitively).
    ///
    /// ```
    /// use mongotic::options::{Collation, CollationStrength, Options};
    /// let options = Options::new().collation(Collation::builder().locale("en").strength(CollationStrength::Secondary).build());
    /// ```
    collation / get_collation: Collation;
    /// A value the server records with the command in its logs and profiler.
    ///
    /// ```
    /// let options = mongotic::options::Options::new().comment("checkout");
    /// ```
    comment / get_comment: Bson;
    /// Whether a large sort or group may spill to disk.
    ///
    /// ```
    /// let options = mongotic::options::Options::new().allow_disk_use(true);
    /// ```
    allow_disk_use / get_allow_disk_use: bool as copy;
    /// How many documents each cursor batch holds.
    ///
    /// ```
    /// let options = mongotic::options::Options::new().batch_size(500_u32);
    /// ```
    batch_size / get_batch_size: u32 as copy;
}

impl Options {
    /// The selection criteria of the reads, for the driver.
    pub(crate) fn selection_criteria(&self) -> Option<SelectionCriteria> {
        self.read_preference.clone().map(SelectionCriteria::ReadPreference)
    }
}

/// The driver's options of one kind of command, filled from [`Options`]: each driver type
/// takes the options its command has and leaves the rest.
pub(crate) trait DriverOptions: Default {
    fn from_options(options: &Options) -> Self;
}

impl DriverOptions for FindOptions {
    fn from_options(options: &Options) -> Self {
        let mut find = FindOptions::default();
        find.selection_criteria = options.selection_criteria();
        find.read_concern = options.read_concern.clone();
        find.max_time = options.max_time;
        find.hint = options.hint.clone();
        find.collation = options.collation.clone();
        find.comment = options.comment.clone();
        find.allow_disk_use = options.allow_disk_use;
        find.batch_size = options.batch_size;
        find
    }
}

impl DriverOptions for FindOneOptions {
    fn from_options(options: &Options) -> Self {
        let mut find = FindOneOptions::default();
        find.selection_criteria = options.selection_criteria();
        find.read_concern = options.read_concern.clone();
        find.max_time = options.max_time;
        find.hint = options.hint.clone();
        find.collation = options.collation.clone();
        find.comment = options.comment.clone();
        find
    }
}

impl DriverOptions for CountOptions {
    fn from_options(options: &Options) -> Self {
        let mut count = CountOptions::default();
        count.selection_criteria = options.selection_criteria();
        count.read_concern = options.read_concern.clone();
        count.max_time = options.max_time;
        count.hint = options.hint.clone();
        count.collation = options.collation.clone();
        count.comment = options.comment.clone();
        count
    }
}

impl DriverOptions for DistinctOptions {
    fn from_options(options: &Options) -> Self {
        let mut distinct = DistinctOptions::default();
        distinct.selection_criteria = options.selection_criteria();
        distinct.read_concern = options.read_concern.clone();
        distinct.max_time = options.max_time;
        distinct.collation = options.collation.clone();
        distinct.comment = options.comment.clone();
        distinct
    }
}

impl DriverOptions for AggregateOptions {
    fn from_options(options: &Options) -> Self {
        let mut aggregate = AggregateOptions::default();
        aggregate.selection_criteria = options.selection_criteria();
        aggregate.read_concern = options.read_concern.clone();
        aggregate.max_time = options.max_time;
        aggregate.hint = options.hint.clone();
        aggregate.collation = options.collation.clone();
        aggregate.comment = options.comment.clone();
        aggregate.allow_disk_use = options.allow_disk_use;
        aggregate.batch_size = options.batch_size;
        aggregate
    }
}

impl DriverOptions for InsertManyOptions {
    fn from_options(options: &Options) -> Self {
        let mut insert = InsertManyOptions::default();
        insert.write_concern = options.write_concern.clone();
        insert.comment = options.comment.clone();
        insert.ordered = Some(true);
        insert
    }
}

impl DriverOptions for UpdateOptions {
    fn from_options(options: &Options) -> Self {
        let mut update = UpdateOptions::default();
        update.write_concern = options.write_concern.clone();
        update.hint = options.hint.clone();
        update.collation = options.collation.clone();
        update.comment = options.comment.clone();
        update
    }
}

impl DriverOptions for DeleteOptions {
    fn from_options(options: &Options) -> Self {
        let mut delete = DeleteOptions::default();
        delete.write_concern = options.write_concern.clone();
        delete.hint = options.hint.clone();
        delete.collation = options.collation.clone();
        delete.comment = options.comment.clone();
        delete
    }
}

impl DriverOptions for BulkWriteOptions {
    fn from_options(options: &Options) -> Self {
        let mut bulk = BulkWriteOptions::default();
        bulk.write_concern = options.write_concern.clone();
        bulk.comment = options.comment.clone();
        bulk.ordered = Some(true);
        bulk
    }
}

/// Builder methods on a statement for the options it can use, each setting one field of the
/// statement's [`Options`] (at the field path given, `options` by default). Invoked once per
/// statement type with the list of its options, so a statement offers exactly what applies to
/// it and nothing else compiles.
macro_rules! statement_options {
    ($ty:ident<$($generic:ident),*> $(where $($bound:tt)+)?, $example:literal, [$($option:ident),* $(,)?]) => {
        $crate::options::statement_options!(@impl $ty<$($generic),*> [$($($bound)+)?], (options), $example, [$($option),*]);
    };
    ($ty:ident<$($generic:ident),*> $(where $($bound:tt)+)?, ($($field:ident).+), $example:literal, [$($option:ident),* $(,)?]) => {
        $crate::options::statement_options!(@impl $ty<$($generic),*> [$($($bound)+)?], ($($field).+), $example, [$($option),*]);
    };
    (@impl $ty:ident<$($generic:ident),*> [$($bound:tt)*], ($($field:ident).+), $example:literal, [$($option:ident),*]) => {
        impl<$($generic),*> $crate::options::HasOptions for $ty<$($generic),*> where $($bound)* {
            fn options_mut(&mut self) -> &mut $crate::options::Options {
                &mut self.$($field).+
            }
        }

        impl<$($generic),*> $ty<$($generic),*> where $($bound)* {
            $($crate::options::statement_options!(@method $option, $example);)*

            /// All the statement's own options at once, replacing those set before (see
            /// [`options`](crate::options)); fields it cannot use are ignored.
            ///
            /// ```
            /// # use mongotic::prelude::*;
            /// # #[derive(Debug, Serialize, Deserialize, Model)]
            /// # #[mongotic(collection = "users")]
            /// # struct User { #[serde(rename = "_id")] #[mongotic(id)] id: i64, name: String, age: i32 }
            #[doc = concat!("let stmt = ", $example, ".with_options(mongotic::options::Options::new().comment(\"batch\"));")]
            /// ```
            pub fn with_options(mut self, options: $crate::options::Options) -> Self {
                *$crate::options::HasOptions::options_mut(&mut self) = options;
                self
            }
        }
    };
    (@method max_time, $example:literal) => {
        /// The server's time limit for the statement's commands (`maxTimeMS`); past it the
        /// command fails and `err.is_timeout()` is true.
        ///
        /// ```
        /// # use mongotic::prelude::*;
        /// # #[derive(Debug, Serialize, Deserialize, Model)]
        /// # #[mongotic(collection = "users")]
        /// # struct User { #[serde(rename = "_id")] #[mongotic(id)] id: i64, name: String, age: i32 }
        #[doc = concat!("let stmt = ", $example, ".max_time(std::time::Duration::from_millis(200));")]
        /// ```
        pub fn max_time(mut self, limit: std::time::Duration) -> Self {
            $crate::options::HasOptions::options_mut(&mut self).max_time = Some(limit);
            self
        }
    };
    (@method timeout, $example:literal) => {
        /// The client's time limit for running the statement, waiting and retrying included;
        /// past it the call fails with [`Error::Timeout`](crate::Error::Timeout).
        ///
        /// ```
        /// # use mongotic::prelude::*;
        /// # #[derive(Debug, Serialize, Deserialize, Model)]
        /// # #[mongotic(collection = "users")]
        /// # struct User { #[serde(rename = "_id")] #[mongotic(id)] id: i64, name: String, age: i32 }
        #[doc = concat!("let stmt = ", $example, ".timeout(std::time::Duration::from_secs(2));")]
        /// ```
        pub fn timeout(mut self, limit: std::time::Duration) -> Self {
            $crate::options::HasOptions::options_mut(&mut self).timeout = Some(limit);
            self
        }
    };
    (@method comment, $example:literal) => {
        /// A value the server records with the statement's commands in its logs and profiler.
        ///
        /// ```
        /// # use mongotic::prelude::*;
        /// # #[derive(Debug, Serialize, Deserialize, Model)]
        /// # #[mongotic(collection = "users")]
        /// # struct User { #[serde(rename = "_id")] #[mongotic(id)] id: i64, name: String, age: i32 }
        #[doc = concat!("let stmt = ", $example, ".comment(\"nightly report\");")]
        /// ```
        pub fn comment(mut self, comment: impl Into<bson::Bson>) -> Self {
            $crate::options::HasOptions::options_mut(&mut self).comment = Some(comment.into());
            self
        }
    };
    (@method read_preference, $example:literal) => {
        /// Which members of the replica set may serve the statement (with tag sets and a
        /// maximum staleness in the preference's options). Not in a transaction, which reads
        /// from the primary.
        ///
        /// ```
        /// # use mongotic::prelude::*;
        /// # #[derive(Debug, Serialize, Deserialize, Model)]
        /// # #[mongotic(collection = "users")]
        /// # struct User { #[serde(rename = "_id")] #[mongotic(id)] id: i64, name: String, age: i32 }
        /// use mongotic::options::ReadPreference;
        #[doc = concat!("let stmt = ", $example, ".read_preference(ReadPreference::SecondaryPreferred { options: None });")]
        /// ```
        pub fn read_preference(mut self, preference: $crate::options::ReadPreference) -> Self {
            $crate::options::HasOptions::options_mut(&mut self).read_preference = Some(preference);
            self
        }
    };
    (@method read_concern, $example:literal) => {
        /// What the statement may see (`majority`, `local`, `snapshot`…). Not in a
        /// transaction, whose own read concern holds.
        ///
        /// ```
        /// # use mongotic::prelude::*;
        /// # #[derive(Debug, Serialize, Deserialize, Model)]
        /// # #[mongotic(collection = "users")]
        /// # struct User { #[serde(rename = "_id")] #[mongotic(id)] id: i64, name: String, age: i32 }
        #[doc = concat!("let stmt = ", $example, ".read_concern(mongotic::options::ReadConcern::majority());")]
        /// ```
        pub fn read_concern(mut self, concern: $crate::options::ReadConcern) -> Self {
            $crate::options::HasOptions::options_mut(&mut self).read_concern = Some(concern);
            self
        }
    };
    (@method write_concern, $example:literal) => {
        /// How the server acknowledges the statement's writes. Not in a transaction, whose
        /// commit carries its own.
        ///
        /// ```
        /// # use mongotic::prelude::*;
        /// # #[derive(Debug, Serialize, Deserialize, Model)]
        /// # #[mongotic(collection = "users")]
        /// # struct User { #[serde(rename = "_id")] #[mongotic(id)] id: i64, name: String, age: i32 }
        #[doc = concat!("let stmt = ", $example, ".write_concern(mongotic::options::WriteConcern::majority());")]
        /// ```
        pub fn write_concern(mut self, concern: $crate::options::WriteConcern) -> Self {
            $crate::options::HasOptions::options_mut(&mut self).write_concern = Some(concern);
            self
        }
    };
    (@method hint, $example:literal) => {
        /// The index the server must use, by name or by keys; one that does not exist makes
        /// the statement fail.
        ///
        /// ```
        /// # use mongotic::prelude::*;
        /// # #[derive(Debug, Serialize, Deserialize, Model)]
        /// # #[mongotic(collection = "users")]
        /// # struct User { #[serde(rename = "_id")] #[mongotic(id)] id: i64, name: String, age: i32 }
        /// use mongotic::options::Hint;
        #[doc = concat!("let stmt = ", $example, ".hint(Hint::Name(\"name_1\".into()));")]
        /// ```
        pub fn hint(mut self, hint: $crate::options::Hint) -> Self {
            $crate::options::HasOptions::options_mut(&mut self).hint = Some(hint);
            self
        }
    };
    (@method collation, $example:literal) => {
        /// How the statement compares strings: a locale and a strength (strength 2,
        /// `CollationStrength::Secondary`, ignores case).
        ///
        /// ```
        /// # use mongotic::prelude::*;
        /// # #[derive(Debug, Serialize, Deserialize, Model)]
        /// # #[mongotic(collection = "users")]
        /// # struct User { #[serde(rename = "_id")] #[mongotic(id)] id: i64, name: String, age: i32 }
        /// use mongotic::options::{Collation, CollationStrength};
        /// let case_insensitive = Collation::builder().locale("en").strength(CollationStrength::Secondary).build();
        #[doc = concat!("let stmt = ", $example, ".collation(case_insensitive);")]
        /// ```
        pub fn collation(mut self, collation: $crate::options::Collation) -> Self {
            $crate::options::HasOptions::options_mut(&mut self).collation = Some(collation);
            self
        }
    };
    (@method allow_disk_use, $example:literal) => {
        /// Whether a large sort or group of the statement may spill to disk.
        ///
        /// ```
        /// # use mongotic::prelude::*;
        /// # #[derive(Debug, Serialize, Deserialize, Model)]
        /// # #[mongotic(collection = "users")]
        /// # struct User { #[serde(rename = "_id")] #[mongotic(id)] id: i64, name: String, age: i32 }
        #[doc = concat!("let stmt = ", $example, ".allow_disk_use(true);")]
        /// ```
        pub fn allow_disk_use(mut self, allow: bool) -> Self {
            $crate::options::HasOptions::options_mut(&mut self).allow_disk_use = Some(allow);
            self
        }
    };
    (@method batch_size, $example:literal) => {
        /// How many results each cursor batch of the statement holds.
        ///
        /// ```
        /// # use mongotic::prelude::*;
        /// # #[derive(Debug, Serialize, Deserialize, Model)]
        /// # #[mongotic(collection = "users")]
        /// # struct User { #[serde(rename = "_id")] #[mongotic(id)] id: i64, name: String, age: i32 }
        #[doc = concat!("let stmt = ", $example, ".batch_size(500);")]
        /// ```
        pub fn batch_size(mut self, size: u32) -> Self {
            $crate::options::HasOptions::options_mut(&mut self).batch_size = Some(size);
            self
        }
    };
}

pub(crate) use statement_options;

/// A statement that carries [`Options`], for [`statement_options!`] to set them.
pub(crate) trait HasOptions {
    fn options_mut(&mut self) -> &mut Options;
}

/// The methods of a statement that opt out of a model's scopes, on the statement types whose
/// model declares them (so `unscoped()` on a model without a tenant does not compile).
macro_rules! scope_methods {
    ($ty:ident<$m:ident $(, $generic:ident)*>, $example_soft:literal, $example_tenant:literal) => {
        impl<$m: $crate::SoftDelete $(, $generic)*> $ty<$m $(, $generic)*> {
            /// The statement sees deleted documents too (the model has a soft-delete field; by
            /// default only live ones are seen).
            ///
            /// ```
            /// # use mongotic::prelude::*;
            /// # #[derive(Debug, Serialize, Deserialize, Model)]
            /// # #[mongotic(collection = "users")]
            /// # struct User { #[serde(rename = "_id")] id: i64, name: String, #[serde(default)] #[mongotic(soft_delete)] deleted_at: Option<mongotic::bson::DateTime> }
            #[doc = concat!("let stmt = ", $example_soft, ".with_deleted();")]
            /// ```
            pub fn with_deleted(mut self) -> Self {
                $crate::options::HasOptions::options_mut(&mut self).deleted = Some($crate::options::Deleted::Included);
                self
            }

            /// The statement sees deleted documents only.
            ///
            /// ```
            /// # use mongotic::prelude::*;
            /// # #[derive(Debug, Serialize, Deserialize, Model)]
            /// # #[mongotic(collection = "users")]
            /// # struct User { #[serde(rename = "_id")] id: i64, name: String, #[serde(default)] #[mongotic(soft_delete)] deleted_at: Option<mongotic::bson::DateTime> }
            #[doc = concat!("let stmt = ", $example_soft, ".only_deleted();")]
            /// ```
            pub fn only_deleted(mut self) -> Self {
                $crate::options::HasOptions::options_mut(&mut self).deleted = Some($crate::options::Deleted::Only);
                self
            }
        }

        impl<$m: $crate::TenantScoped $(, $generic)*> $ty<$m $(, $generic)*> {
            /// The statement reads or writes across tenants: the session's tenant does not
            /// filter it. Meant for administration; grep for it in a review.
            ///
            /// ```
            /// # use mongotic::prelude::*;
            /// # #[derive(Debug, Serialize, Deserialize, Model)]
            /// # #[mongotic(collection = "users")]
            /// # struct User { #[serde(rename = "_id")] id: i64, name: String, #[mongotic(tenant)] tenant: String }
            #[doc = concat!("let stmt = ", $example_tenant, ".unscoped();")]
            /// ```
            pub fn unscoped(mut self) -> Self {
                $crate::options::HasOptions::options_mut(&mut self).unscoped = true;
                self
            }
        }
    };
}

pub(crate) use scope_methods;
