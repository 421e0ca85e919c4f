//! What a model does while a flush is planned, besides being written: lifecycle hooks,
//! timestamps, and the version field of optimistic concurrency.
//!
//! All of it runs before anything is sent, while the flush reads the staged entities, so what
//! a hook or a timestamp changes goes out in the same write as the rest of the change.

use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;

use bson::DateTime;

use crate::expr::{Field, Shape};
use crate::session::{ErasedEntity, Tracked};
use crate::validation::Violations;

/// The error a hook returns to stop a flush: any error type, boxed. The flush fails with
/// [`Error::Hook`](crate::Error::Hook) and writes nothing.
///
/// ```
/// let err: mongotic::HookError = "archived posts cannot be deleted".into();
/// assert_eq!(err.to_string(), "archived posts cannot be deleted");
/// ```
pub type HookError = Box<dyn std::error::Error + Send + Sync>;

/// Lifecycle hooks of a model, run by the session.
///
/// Every model implements it; the derive writes an empty implementation unless the struct is
/// marked `#[mongotic(hooks)]`, in which case you write `impl Hooks for Model` with the
/// methods you need (the others keep their defaults, which do nothing).
///
/// - `before_insert`, `before_update` and `before_delete` run while a flush is planned, once
///   per pending change (a flush that is retried does not run them twice for the same change).
///   What they change in the value is written by the same write, in the same round trip.
///   An `Err` stops the flush before anything is sent.
/// - `after_load` runs when an entity is built from a stored document (a query, `get`,
///   `refresh`). It is for fields the document does not store (`#[serde(skip)]`): a change it
///   makes to a stored field is not a pending change.
/// - `validate` adds hand-written checks to the declared constraints (see
///   [`validation`](crate::validation)).
///
/// ```
/// use mongotic::prelude::*;
/// use mongotic::{Changes, HookContext, HookError, Hooks};
/// use mongotic::validation::Violations;
///
/// #[derive(Debug, Serialize, Deserialize, Model)]
/// #[mongotic(collection = "users", hooks)]
/// struct User {
///     #[serde(rename = "_id")]
///     #[mongotic(id)]
///     id: i64,
///     email: String,
/// }
///
/// #[derive(Debug, Serialize, Deserialize, Model)]
/// #[mongotic(collection = "audit")]
/// struct AuditEntry {
///     #[serde(rename = "_id")]
///     id: Option<ObjectId>,
///     user: i64,
///     what: String,
/// }
///
/// impl Hooks for User {
///     fn before_insert(&mut self, _ctx: &mut HookContext<'_>) -> Result<(), HookError> {
///         self.email = self.email.trim().to_lowercase();
///         Ok(())
///     }
///
///     fn before_update(&mut self, changes: &Changes<Self>, ctx: &mut HookContext<'_>) -> Result<(), HookError> {
///         if changes.contains(User::email) {
///             self.email = self.email.trim().to_lowercase();
///             // Written by the same flush.
///             ctx.add(AuditEntry { id: None, user: self.id, what: "email changed".into() });
///         }
///         Ok(())
///     }
///
///     fn validate(&self, report: &mut Violations) {
///         if !self.email.contains('@') {
///             report.add("email", "is not an email address");
///         }
///     }
/// }
/// ```
pub trait Hooks: Sized {
    /// Runs before the entity is inserted.
    ///
    /// ```
    /// # use mongotic::prelude::*;
    /// # use mongotic::{HookContext, HookError, Hooks};
    /// # #[derive(Debug, Serialize, Deserialize, Model)]
    /// # #[mongotic(collection = "tags", hooks)]
    /// # struct Tag { #[serde(rename = "_id")] #[mongotic(id)] id: String }
    /// impl Hooks for Tag {
    ///     fn before_insert(&mut self, _ctx: &mut HookContext<'_>) -> Result<(), HookError> {
    ///         self.id = self.id.to_lowercase();
    ///         Ok(())
    ///     }
    /// }
    /// ```
    fn before_insert(&mut self, ctx: &mut HookContext<'_>) -> Result<(), HookError> {
        let _ = ctx;
        Ok(())
    }

    /// Runs before a change of the entity is written; `changes` says which fields differ from
    /// what the server has. A `merge` counts as an update of every field.
    ///
    /// ```
    /// # use mongotic::prelude::*;
    /// # use mongotic::{Changes, HookContext, HookError, Hooks};
    /// # #[derive(Debug, Serialize, Deserialize, Model)]
    /// # #[mongotic(collection = "posts", hooks)]
    /// # struct Post { #[serde(rename = "_id")] #[mongotic(id)] id: i64, body: String, edits: u32 }
    /// impl Hooks for Post {
    ///     fn before_update(&mut self, changes: &Changes<Self>, _ctx: &mut HookContext<'_>) -> Result<(), HookError> {
    ///         if changes.contains(Post::body) {
    ///             self.edits += 1;
    ///         }
    ///         Ok(())
    ///     }
    /// }
    /// ```
    fn before_update(&mut self, changes: &Changes<Self>, ctx: &mut HookContext<'_>) -> Result<(), HookError> {
        let _ = (changes, ctx);
        Ok(())
    }

    /// Runs before the entity is deleted; an error keeps it.
    ///
    /// ```
    /// # use mongotic::prelude::*;
    /// # use mongotic::{HookContext, HookError, Hooks};
    /// # #[derive(Debug, Serialize, Deserialize, Model)]
    /// # #[mongotic(collection = "posts", hooks)]
    /// # struct Post { #[serde(rename = "_id")] #[mongotic(id)] id: i64, archived: bool }
    /// impl Hooks for Post {
    ///     fn before_delete(&self, _ctx: &mut HookContext<'_>) -> Result<(), HookError> {
    ///         if self.archived {
    ///             return Err("archived posts are kept".into());
    ///         }
    ///         Ok(())
    ///     }
    /// }
    /// ```
    fn before_delete(&self, ctx: &mut HookContext<'_>) -> Result<(), HookError> {
        let _ = ctx;
        Ok(())
    }

    /// Runs when the entity is built from a stored document.
    ///
    /// ```
    /// # use mongotic::prelude::*;
    /// # use mongotic::Hooks;
    /// # #[derive(Debug, Serialize, Deserialize, Model)]
    /// # #[mongotic(collection = "users", hooks)]
    /// # struct User { #[serde(rename = "_id")] #[mongotic(id)] id: i64, first: String, last: String, #[serde(skip)] full_name: String }
    /// impl Hooks for User {
    ///     fn after_load(&mut self) {
    ///         self.full_name = format!("{} {}", self.first, self.last);
    ///     }
    /// }
    /// ```
    fn after_load(&mut self) {}

    /// Hand-written checks, run with the declared constraints before the value is written.
    ///
    /// ```
    /// # use mongotic::prelude::*;
    /// # use mongotic::Hooks;
    /// # use mongotic::validation::Violations;
    /// # #[derive(Debug, Serialize, Deserialize, Model)]
    /// # #[mongotic(collection = "events", hooks)]
    /// # struct Event { #[serde(rename = "_id")] #[mongotic(id)] id: i64, starts: i64, ends: i64 }
    /// impl Hooks for Event {
    ///     fn validate(&self, report: &mut Violations) {
    ///         if self.ends < self.starts {
    ///             report.add("ends", "is before starts");
    ///         }
    ///     }
    /// }
    /// ```
    fn validate(&self, report: &mut Violations) {
        let _ = report;
    }
}

/// What a hook can do besides changing its entity: read the flush's clock, and stage new
/// entities that the same flush writes (an audit trail, an outbox message).
///
/// ```
/// # use mongotic::prelude::*;
/// # use mongotic::{HookContext, HookError, Hooks};
/// # #[derive(Debug, Serialize, Deserialize, Model)]
/// # #[mongotic(collection = "outbox")]
/// # struct Message { #[serde(rename = "_id")] id: Option<ObjectId>, text: String }
/// # #[derive(Debug, Serialize, Deserialize, Model)]
/// # #[mongotic(collection = "orders", hooks)]
/// # struct Order { #[serde(rename = "_id")] #[mongotic(id)] id: i64 }
/// impl Hooks for Order {
///     fn before_insert(&mut self, ctx: &mut HookContext<'_>) -> Result<(), HookError> {
///         ctx.add(Message { id: None, text: format!("order {} placed at {}", self.id, ctx.now()) });
///         Ok(())
///     }
/// }
/// ```
pub struct HookContext<'a> {
    now: DateTime,
    staged: &'a mut Vec<Staged>,
}

/// An entity a hook staged, for the flush to add to the session.
pub(crate) type Staged = Arc<dyn ErasedEntity>;

impl<'a> HookContext<'a> {
    pub(crate) fn new(now: DateTime, staged: &'a mut Vec<Staged>) -> Self {
        HookContext { now, staged }
    }

    /// The time of this flush: the value the timestamp fields get (client time, one value per
    /// flush).
    ///
    /// ```
    /// # use mongotic::prelude::*;
    /// # use mongotic::{HookContext, HookError, Hooks};
    /// # #[derive(Debug, Serialize, Deserialize, Model)]
    /// # #[mongotic(collection = "jobs", hooks)]
    /// # struct Job { #[serde(rename = "_id")] #[mongotic(id)] id: i64, queued_at: Option<mongotic::bson::DateTime> }
    /// impl Hooks for Job {
    ///     fn before_insert(&mut self, ctx: &mut HookContext<'_>) -> Result<(), HookError> {
    ///         self.queued_at.get_or_insert(ctx.now());
    ///         Ok(())
    ///     }
    /// }
    /// ```
    pub fn now(&self) -> DateTime {
        self.now
    }

    /// Stages a new entity, written by this flush (its own hooks run too). Returns its handle.
    ///
    /// ```
    /// # use mongotic::prelude::*;
    /// # use mongotic::{HookContext, HookError, Hooks};
    /// # #[derive(Debug, Serialize, Deserialize, Model)]
    /// # #[mongotic(collection = "log")]
    /// # struct Log { #[serde(rename = "_id")] id: Option<ObjectId>, line: String }
    /// # #[derive(Debug, Serialize, Deserialize, Model)]
    /// # #[mongotic(collection = "users", hooks)]
    /// # struct User { #[serde(rename = "_id")] #[mongotic(id)] id: i64 }
    /// impl Hooks for User {
    ///     fn before_delete(&self, ctx: &mut HookContext<'_>) -> Result<(), HookError> {
    ///         ctx.add(Log { id: None, line: format!("user {} deleted", self.id) });
    ///         Ok(())
    ///     }
    /// }
    /// ```
    pub fn add<N: crate::Writable>(&mut self, value: N) -> Tracked<N> {
        let handle = Tracked::new(value);
        self.staged.push(handle.erased());
        handle
    }
}

impl fmt::Debug for HookContext<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HookContext").field("now", &self.now).field("staged", &self.staged.len()).finish()
    }
}

/// Which fields of an entity differ from what the server has, given to
/// [`Hooks::before_update`].
///
/// ```
/// # use mongotic::prelude::*;
/// # use mongotic::Changes;
/// # #[derive(Debug, Serialize, Deserialize, Model)]
/// # #[mongotic(collection = "users")]
/// # struct User { #[serde(rename = "_id")] #[mongotic(id)] id: i64, name: String, email: String }
/// let changes = Changes::<User>::of_paths(["email"]);
/// assert!(changes.contains(User::email));
/// assert!(!changes.contains(User::name));
/// assert_eq!(changes.paths(), ["email"]);
/// ```
pub struct Changes<M> {
    paths: Vec<String>,
    everything: bool,
    _model: PhantomData<fn() -> M>,
}

impl<M> Changes<M> {
    /// The same changes, as seen by the model `N` that stores the same document (a variant
    /// of a polymorphic model, whose hooks the enum's delegate to). Used by the derive.
    #[doc(hidden)]
    pub fn __as<N>(&self) -> Changes<N> {
        Changes { paths: self.paths.clone(), everything: self.everything, _model: PhantomData }
    }

    /// Changes of the given stored paths (dotted for embedded fields); for tests of hooks.
    ///
    /// ```
    /// # use mongotic::prelude::*;
    /// # use mongotic::Changes;
    /// # #[derive(Debug, Serialize, Deserialize, Model)]
    /// # #[mongotic(collection = "users")]
    /// # struct User { #[serde(rename = "_id")] #[mongotic(id)] id: i64, name: String }
    /// assert!(Changes::<User>::of_paths(["name"]).contains(User::name));
    /// ```
    pub fn of_paths<S: Into<String>>(paths: impl IntoIterator<Item = S>) -> Self {
        Changes { paths: paths.into_iter().map(Into::into).collect(), everything: false, _model: PhantomData }
    }

    /// Every field may have changed (a `merge` replaces the whole document).
    ///
    /// ```
    /// # use mongotic::prelude::*;
    /// # use mongotic::Changes;
    /// # #[derive(Debug, Serialize, Deserialize, Model)]
    /// # #[mongotic(collection = "users")]
    /// # struct User { #[serde(rename = "_id")] #[mongotic(id)] id: i64, name: String }
    /// assert!(Changes::<User>::everything().contains(User::name));
    /// ```
    pub fn everything() -> Self {
        Changes { paths: Vec::new(), everything: true, _model: PhantomData }
    }

    /// `true` when `field`, a field inside it or the document holding it changed.
    ///
    /// ```
    /// # use mongotic::prelude::*;
    /// # use mongotic::Changes;
    /// # #[derive(Debug, Serialize, Deserialize, Embedded)]
    /// # struct Address { city: String, zip: String }
    /// # #[derive(Debug, Serialize, Deserialize, Model)]
    /// # #[mongotic(collection = "users")]
    /// # struct User { #[serde(rename = "_id")] #[mongotic(id)] id: i64, address: Address }
    /// let changes = Changes::<User>::of_paths(["address.city"]);
    /// assert!(changes.contains(User::address));
    /// assert!(changes.contains(User::address.dot(Address::city)));
    /// assert!(!changes.contains(User::address.dot(Address::zip)));
    /// ```
    pub fn contains<V, S: Shape>(&self, field: Field<M, V, S>) -> bool {
        if self.everything {
            return true;
        }
        let wanted = field.path();
        self.paths.iter().any(|path| nested(path, wanted) || nested(wanted, path))
    }

    /// The stored paths that changed (empty after a `merge`, which changes everything).
    ///
    /// ```
    /// # use mongotic::prelude::*;
    /// # use mongotic::Changes;
    /// # #[derive(Debug, Serialize, Deserialize, Model)]
    /// # #[mongotic(collection = "users")]
    /// # struct User { #[serde(rename = "_id")] #[mongotic(id)] id: i64 }
    /// assert!(Changes::<User>::everything().paths().is_empty());
    /// ```
    pub fn paths(&self) -> &[String] {
        &self.paths
    }

    /// `true` after a `merge`: the whole document is written.
    ///
    /// ```
    /// # use mongotic::prelude::*;
    /// # use mongotic::Changes;
    /// # #[derive(Debug, Serialize, Deserialize, Model)]
    /// # #[mongotic(collection = "users")]
    /// # struct User { #[serde(rename = "_id")] #[mongotic(id)] id: i64 }
    /// assert!(Changes::<User>::everything().is_everything());
    /// ```
    pub fn is_everything(&self) -> bool {
        self.everything
    }
}

impl<M> fmt::Debug for Changes<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.everything {
            f.write_str("Changes(everything)")
        } else {
            f.debug_tuple("Changes").field(&self.paths).finish()
        }
    }
}

/// `true` when `inner` is `outer` or a path inside it.
fn nested(inner: &str, outer: &str) -> bool {
    inner == outer || (inner.starts_with(outer) && inner.as_bytes().get(outer.len()) == Some(&b'.'))
}

/// What a flush is about to write for an entity, for its hooks.
pub(crate) enum HookEvent {
    Insert,
    /// An update (the changed stored paths) or a merge (`None`: everything).
    Update(Option<Vec<String>>),
    Delete,
}

impl HookEvent {
    pub(crate) fn changes<M>(paths: &Option<Vec<String>>) -> Changes<M> {
        match paths {
            Some(paths) => Changes::of_paths(paths.iter().cloned()),
            None => Changes::everything(),
        }
    }
}

/// The type of a `#[mongotic(version)]` field: `i64` or `i32`.
///
/// ```
/// use mongotic::VersionField;
/// let mut version = 4_i64;
/// version.set(version.get() + 1);
/// assert_eq!(version, 5);
/// ```
#[diagnostic::on_unimplemented(
    message = "a #[mongotic(version)] field must be an `i64` or an `i32`, not `{Self}`",
    label = "not a version counter"
)]
pub trait VersionField {
    /// The version.
    ///
    /// ```
    /// use mongotic::VersionField;
    /// assert_eq!(VersionField::get(&3_i32), 3);
    /// ```
    fn get(&self) -> i64;

    /// Sets the version.
    ///
    /// ```
    /// use mongotic::VersionField;
    /// let mut version = 0_i32;
    /// version.set(1);
    /// assert_eq!(version, 1);
    /// ```
    fn set(&mut self, version: i64);
}

impl VersionField for i64 {
    fn get(&self) -> i64 {
        *self
    }

    fn set(&mut self, version: i64) {
        *self = version;
    }
}

impl VersionField for i32 {
    fn get(&self) -> i64 {
        i64::from(*self)
    }

    fn set(&mut self, version: i64) {
        // A counter past i32::MAX wraps, as the field's type does; declare an i64 to avoid it.
        *self = version as i32;
    }
}

/// The type of a `#[mongotic(created_at)]` or `#[mongotic(updated_at)]` field:
/// `bson::DateTime` or `Option<bson::DateTime>` (millisecond precision, so the value in memory
/// equals the stored one).
///
/// `created_at` is set when the entity is inserted, unless an `Option` field already holds a
/// value (an import keeps its dates); `updated_at` is set on every insert and update.
///
/// ```
/// use mongotic::TimestampField;
/// use mongotic::bson::DateTime;
///
/// let now = DateTime::from_millis(1_700_000_000_000);
/// let mut created: Option<DateTime> = None;
/// created.stamp_created(now);
/// assert_eq!(created, Some(now));
/// created.stamp_created(DateTime::from_millis(0));
/// assert_eq!(created, Some(now)); // kept
/// ```
#[diagnostic::on_unimplemented(
    message = "a timestamp field must be a `bson::DateTime` or an `Option<bson::DateTime>`, not `{Self}`",
    label = "not a timestamp"
)]
pub trait TimestampField {
    /// Sets the value for an insert.
    ///
    /// ```
    /// use mongotic::TimestampField;
    /// use mongotic::bson::DateTime;
    /// let mut created = DateTime::from_millis(0);
    /// created.stamp_created(DateTime::from_millis(5));
    /// assert_eq!(created.timestamp_millis(), 5);
    /// ```
    fn stamp_created(&mut self, now: DateTime);

    /// Sets the value for an insert or an update.
    ///
    /// ```
    /// use mongotic::TimestampField;
    /// use mongotic::bson::DateTime;
    /// let mut updated = Some(DateTime::from_millis(0));
    /// updated.stamp_updated(DateTime::from_millis(5));
    /// assert_eq!(updated, Some(DateTime::from_millis(5)));
    /// ```
    fn stamp_updated(&mut self, now: DateTime);
}

impl TimestampField for DateTime {
    fn stamp_created(&mut self, now: DateTime) {
        *self = now;
    }

    fn stamp_updated(&mut self, now: DateTime) {
        *self = now;
    }
}

impl TimestampField for Option<DateTime> {
    fn stamp_created(&mut self, now: DateTime) {
        self.get_or_insert(now);
    }

    fn stamp_updated(&mut self, now: DateTime) {
        *self = Some(now);
    }
}
