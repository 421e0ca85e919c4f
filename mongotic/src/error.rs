//! The one error type of mongotic.
//!
//! Every fallible call returns [`Result<T>`](crate::Result), whose error is [`Error`]. Each
//! variant carries the context needed to act on it: the namespace (`database.collection`), the
//! `_id` of the document involved where there is one, and the server's error code where the
//! server answered.
//!
//! ```no_run
//! # use mongotic::prelude::*;
//! # #[derive(Debug, Serialize, Deserialize, Model)]
//! # #[mongotic(database = "app", collection = "users")]
//! # struct User { #[serde(rename = "_id")] id: Option<ObjectId>, name: String, age: Option<i32> }
//! # async fn demo(mut session: Session) -> mongotic::Result<()> {
//! match session.scalars(select::<User>().filter(User::name.eq("Ann"))).one().await {
//!     Ok(user) => println!("found {}", user.read().name),
//!     Err(mongotic::Error::NotFound { namespace, .. }) => println!("no Ann in {namespace}"),
//!     Err(other) => return Err(other),
//! }
//! # Ok(()) }
//! ```

use std::fmt;

use bson::Bson;
use mongodb::error::{ErrorKind, WriteFailure};

/// `Result<T, mongotic::Error>`.
///
/// ```
/// fn parse(text: &str) -> mongotic::Result<mongotic::bson::oid::ObjectId> {
///     mongotic::IntoId::into_id(text)
/// }
/// assert!(parse("nope").is_err());
/// ```
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The server's error code for a duplicate key.
pub(crate) const DUPLICATE_KEY: i32 = 11000;
/// The server's code for a document its collection's validator refused.
pub(crate) const DOCUMENT_VALIDATION_FAILURE: i32 = 121;
/// The server's code for a command that ran past its `maxTimeMS`.
pub(crate) const MAX_TIME_MS_EXPIRED: i32 = 50;
/// The server's code for an operation that ran past a time limit of another kind.
const EXCEEDED_TIME_LIMIT: i32 = 262;

/// Everything that can go wrong in mongotic.
///
/// The enum is `#[non_exhaustive]`: match the variants you handle and keep a catch-all arm.
///
/// ```
/// use mongotic::Error;
///
/// fn describe(err: &Error) -> &'static str {
///     match err {
///         Error::NotFound { .. } => "nothing matched",
///         Error::DuplicateKey { .. } => "already exists",
///         Error::Flush(failure) if failure.cause().is_duplicate_key() => "flush hit a duplicate",
///         _ => "something else",
///     }
/// }
/// # let _ = describe;
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The connection string could not be parsed or names an unusable option.
    #[error("invalid connection string: {source}")]
    InvalidUri {
        /// The driver's explanation.
        #[source]
        source: mongodb::error::Error,
    },

    /// The model declares no database and the engine has no default one.
    #[error(
        "model `{model}` declares no database and the engine has none: add \
         #[mongotic(database = \"...\")] to the model, put a database in the connection string \
         (mongodb://host/mydb) or call Engine::with_default_database"
    )]
    NoDatabase {
        /// The Rust name of the model.
        model: &'static str,
    },

    /// A string given as an id is not a valid id of the model's id type.
    #[error("malformed id {value:?}: expected {expected}")]
    MalformedId {
        /// The text that was given.
        value: String,
        /// What a valid id looks like.
        expected: &'static str,
    },

    /// An entity whose id the client must choose (it is not an `ObjectId`) has none.
    #[error("an entity of {namespace} has no id and its id type cannot be generated: set it before flushing")]
    MissingId {
        /// `database.collection`.
        namespace: String,
    },

    /// The `_id` of a persistent entity was changed in memory; MongoDB ids are immutable.
    #[error("the _id of an entity of {namespace} changed from {old} to {new}: ids are immutable")]
    IdChanged {
        /// `database.collection`.
        namespace: String,
        /// The id the document has on the server.
        old: Box<Bson>,
        /// The id the entity has now.
        new: Box<Bson>,
    },

    /// `one()` found no document, or `refresh` found the entity's document gone.
    #[error("no document found in {namespace}{}", fmt_id(.id))]
    NotFound {
        /// `database.collection`.
        namespace: String,
        /// The id that was looked up, when there was one.
        id: Option<Box<Bson>>,
    },

    /// A relation was read ([`Session::related`](crate::Session::related)) that was not
    /// loaded: mongotic never loads one behind your back. Load it with
    /// [`Select::load`](crate::Select::load) or [`Session::load`](crate::Session::load).
    #[error("the relation `{relation}` of the {model} entity{} is not loaded: load it first", fmt_id(.id))]
    NotLoaded {
        /// The Rust name of the model whose relation was read.
        model: &'static str,
        /// The relation: the stored path of the reference field.
        relation: String,
        /// The id of the entity whose relation was read, if it has one.
        id: Option<Box<Bson>>,
    },

    /// A reference points to a document that does not exist (the load that looked for it
    /// found nothing). [`is_not_found`](Error::is_not_found) is `true` for it.
    #[error("`{relation}` of a {model} refers to {id} in {namespace}, which does not exist")]
    DanglingReference {
        /// The Rust name of the model holding the reference.
        model: &'static str,
        /// The stored path of the reference field.
        relation: String,
        /// `database.collection` of the referenced model.
        namespace: String,
        /// The id the reference holds.
        id: Box<Bson>,
    },

    /// The entity has no id yet, so nothing can refer to it or look it up by id (a generated
    /// id is assigned by the flush).
    #[error("the {model} entity has no id yet: flush it (or set its id) first")]
    NoId {
        /// The Rust name of the model.
        model: &'static str,
    },

    /// `one()` or `one_or_none()` found more than one document.
    #[error("expected at most one document in {namespace}, found several")]
    MultipleResultsFound {
        /// `database.collection`.
        namespace: String,
    },

    /// A write violated a unique index.
    #[error("duplicate key in {namespace}{}: {message}", fmt_id(.id))]
    DuplicateKey {
        /// `database.collection`.
        namespace: String,
        /// The `_id` of the document that was being written, when known.
        id: Option<Box<Bson>>,
        /// The server's message, which names the index and the key.
        message: String,
    },

    /// A stored document of a polymorphic (enum) model carries a tag no variant of the model
    /// declares, or no tag at all, and the model has no catch-all variant
    /// (`#[serde(untagged)] Other(mongotic::UnknownVariant<Id>)`) to keep it in. Written by a
    /// newer release of the program, or by other code: nothing is dropped or rewritten.
    ///
    /// ```
    /// # use mongotic::Error;
    /// let err = Error::UnknownVariant {
    ///     model: "Event",
    ///     field: "kind",
    ///     tag: Some("purchase".into()),
    ///     namespace: "app.events".into(),
    ///     id: None,
    /// };
    /// assert!(err.to_string().contains("purchase"));
    /// ```
    #[error(
        "document{} in {namespace} has {}, which no variant of {model} declares",
        fmt_id(.id),
        match .tag { Some(tag) => format!("{field} `{tag}`"), None => format!("no string `{field}` tag") }
    )]
    UnknownVariant {
        /// The enum model.
        model: &'static str,
        /// The stored name of the tag field.
        field: &'static str,
        /// The tag the document carries, or `None` when it has none (or not a string).
        tag: Option<String>,
        /// `database.collection`.
        namespace: String,
        /// The `_id` of the stored document.
        id: Option<Box<Bson>>,
    },

    /// A stored document does not deserialize into the model.
    #[error("document{} in {namespace} does not match the model: {source}", fmt_id(.id))]
    Deserialize {
        /// `database.collection`.
        namespace: String,
        /// The `_id` of the stored document.
        id: Option<Box<Bson>>,
        /// What serde reported.
        #[source]
        source: bson::de::Error,
    },

    /// A value could not be serialized to BSON (for example a `u64` above `i64::MAX`).
    #[error("cannot serialize a value for {namespace}: {source}")]
    Serialize {
        /// `database.collection`, or the field path for a query value.
        namespace: String,
        /// What serde reported.
        #[source]
        source: Box<bson::ser::Error>,
    },

    /// A value given to a query or an update could not be serialized to BSON.
    #[error("invalid value for field `{path}`: {message}")]
    InvalidValue {
        /// The field path the value was for.
        path: String,
        /// Why it could not be serialized.
        message: String,
    },

    /// A statement cannot be run as written (for example an `update` with nothing to set).
    #[error("invalid statement: {message}")]
    InvalidStatement {
        /// What is wrong with it.
        message: String,
    },

    /// The server refused a command or a write.
    #[error("server error {code} ({code_name}){}{}: {message}", fmt_on(.namespace), fmt_id(.id))]
    Server {
        /// `database.collection`, `database` for database-level commands, or empty for a
        /// command about no collection (`commitTransaction`, `hello`).
        namespace: String,
        /// The `_id` of the document being written, when the error is about one.
        id: Option<Box<Bson>>,
        /// The server's numeric error code.
        code: i32,
        /// The server's name for the code (may be empty for write errors).
        code_name: String,
        /// The server's message.
        message: String,
    },

    /// The client's TLS settings cannot be used (a certificate or CA file that is missing or
    /// unreadable, for example). Fix the configuration: retrying cannot help.
    #[error("invalid TLS configuration: {source}")]
    InvalidTls {
        /// The driver's explanation.
        #[source]
        source: mongodb::error::Error,
    },

    /// The server refused the client's credentials (a wrong user name or password, an
    /// unknown mechanism). Never retryable: fix the credentials.
    #[error("authentication failed: {source}")]
    Auth {
        /// The driver's error.
        #[source]
        source: mongodb::error::Error,
    },

    /// A call ran past its client-side time limit ([`Options::timeout`](crate::options::Options::timeout)).
    /// A write cut short may or may not have landed: a flush cut short is settled by reading
    /// the server, as any write whose outcome is unknown.
    #[error("gave up after {limit:?} on {namespace}: the time limit passed")]
    Timeout {
        /// `database.collection`, or empty for a call about no collection.
        namespace: String,
        /// The limit that passed.
        limit: std::time::Duration,
    },

    /// A change to a field of a sharded collection's shard key, refused before anything is
    /// sent: the write would have to move the document to another shard, which mongotic does
    /// not do (delete the entity and add it anew with the new key instead).
    #[error("the shard key of a document of {namespace} (_id {id}) changed: a shard key is not changed in place")]
    ShardKeyChanged {
        /// `database.collection`.
        namespace: String,
        /// The document's `_id`.
        id: Box<Bson>,
    },

    /// A write would change the tenant field of a tenant-scoped document
    /// (`#[mongotic(tenant)]`): a tracked entity whose field changed, an entity of another
    /// tenant than the session's, or a bulk `update` that sets the field. A document never
    /// moves between tenants. Nothing was sent.
    #[error(
        "a write to {namespace} would give a document{} another tenant than the session's: a document never moves between tenants",
        id.as_ref().map(|id| format!(" (_id {id})")).unwrap_or_default()
    )]
    TenantChanged {
        /// `database.collection`.
        namespace: String,
        /// The document's `_id` (`None` for a bulk `update` that sets the tenant field).
        id: Option<Box<Bson>>,
    },

    /// A tenant-scoped model (`#[mongotic(tenant)]`) was read or written by a session with
    /// no tenant (see [`SessionFactory::for_tenant`](crate::SessionFactory::for_tenant)); use
    /// `.unscoped()` on a statement to reach every tenant on purpose. Nothing was sent.
    #[error("{model} is tenant-scoped and the session has no tenant: use a session for a tenant, or .unscoped()")]
    TenantRequired {
        /// The model's name.
        model: &'static str,
    },

    /// Options that cannot apply together (a read preference for secondaries inside a
    /// transaction, say), refused before anything is sent.
    #[error("invalid options: {message}")]
    InvalidOptions {
        /// What does not fit.
        message: String,
    },

    /// The server could not be reached in time, or the connection broke.
    #[error("cannot reach the server: {source}")]
    Connection {
        /// The driver's error.
        #[source]
        source: mongodb::error::Error,
    },

    /// Any other error reported by the MongoDB driver.
    #[error("driver error: {source}")]
    Driver {
        /// The driver's error.
        #[source]
        source: mongodb::error::Error,
    },

    /// A flush failed. In a transaction nothing of it was written; without one, what the
    /// server acknowledged (or a read proved) is recorded as persisted and the rest stays
    /// staged. Either way a later flush writes exactly what is left. See [`FlushError`].
    #[error("{0}")]
    Flush(Box<FlushError>),

    /// An update, replacement or delete of a tracked entity matched no document: someone else
    /// deleted it (SQLAlchemy calls this stale data). The change stays staged; `refresh`,
    /// `expunge` or `merge` the entity to go on.
    #[error("the {kind} of {namespace}{} matched no document: it was deleted by someone else", fmt_id(.id))]
    Stale {
        /// `database.collection`.
        namespace: String,
        /// The `_id` of the entity, when the server's reply tells which one it was.
        id: Option<Box<Bson>>,
        /// The write that matched nothing.
        kind: WriteKind,
    },

    /// An update, replacement or delete of a versioned entity (one with a
    /// `#[mongotic(version)]` field) matched no document because the stored version is not the
    /// one this session last saw: someone else wrote the document since it was read. The change
    /// stays staged (outside a transaction the other writes of the flush are kept; in one,
    /// nothing is); `refresh` the entity, apply the change again and flush.
    #[error(
        "the {kind} of {model} {id} in {namespace} expected version {expected}{}: someone else changed it since it was read",
        fmt_found(.found)
    )]
    VersionConflict {
        /// The Rust name of the model.
        model: &'static str,
        /// `database.collection`.
        namespace: String,
        /// The `_id` of the entity.
        id: Box<Bson>,
        /// The write that was refused.
        kind: WriteKind,
        /// The version the write expected (the one the session last saw).
        expected: i64,
        /// The version stored now, when it was learned.
        found: Option<i64>,
    },

    /// Values failed their checks (declared constraints or [`Hooks::validate`]); nothing was
    /// sent. Each entry names the value and every failing field. See
    /// [`validation`](crate::validation).
    ///
    /// [`Hooks::validate`]: crate::Hooks::validate
    #[error("validation failed: {}", fmt_invalid(.invalid))]
    Validation {
        /// Every value that failed, with its failures.
        invalid: Vec<crate::validation::Invalid>,
    },

    /// The collection's validator refused a document (server error 121,
    /// `DocumentValidationFailure`), such as the `$jsonSchema` that
    /// [`sync_schema`](crate::schema::sync_schema) applies. In a flush the entity stays staged.
    /// [`is_validation`](Error::is_validation) is `true` for it.
    #[error("the validator of {namespace} refused the document{}: {}", fmt_id(.id), fmt_rules(.failures, .message))]
    SchemaValidation {
        /// `database.collection`.
        namespace: String,
        /// The `_id` of the refused document, when known.
        id: Option<Box<Bson>>,
        /// The rules it failed, from the server's `errInfo` (empty when the server gave none).
        failures: Vec<crate::schema::RuleFailure>,
        /// The server's `errInfo`, as it sent it.
        details: Option<Box<bson::Document>>,
        /// The server's message.
        message: String,
    },

    /// [`sync_schema`](crate::schema::sync_schema) refused a change the server cannot make in
    /// place (a collection's kind, a time series' fields, an index's options without leave to
    /// drop it), or declarations that contradict each other. Nothing was sent.
    #[error("cannot bring {namespace} in line with the models: {reason}")]
    SchemaChange {
        /// `database.collection`.
        namespace: String,
        /// What differs, and what to do about it.
        reason: String,
    },

    /// A lifecycle hook returned an error; nothing was sent.
    #[error("the {hook} hook of {model}{} failed: {source}", fmt_id(.id))]
    Hook {
        /// The Rust name of the model.
        model: &'static str,
        /// The entity's id, if it has one.
        id: Option<Box<Bson>>,
        /// `before_insert`, `before_update` or `before_delete`.
        hook: &'static str,
        /// What the hook returned.
        #[source]
        source: crate::HookError,
    },

    /// Transactions were asked for (an explicit `begin`, or [`TransactionMode::Always`]) where
    /// there are none: a standalone server, or [`TransactionMode::Never`].
    ///
    /// [`TransactionMode::Always`]: crate::TransactionMode::Always
    /// [`TransactionMode::Never`]: crate::TransactionMode::Never
    #[error("transactions are not available: {reason}")]
    TransactionsUnavailable {
        /// Why not.
        reason: &'static str,
    },

    /// The session's explicit transaction was aborted by an earlier error; nothing it wrote
    /// was kept. Call `rollback` to end it before using the session for I/O again.
    #[error("the session's transaction was aborted by an earlier error: call rollback() to end it")]
    TransactionAborted,

    /// `begin` was called while the session already has a transaction open.
    #[error("the session already has a transaction open: commit or roll it back first")]
    TransactionInProgress,

    /// The entity handle is not attached to this session (it was expunged, its session was
    /// closed, or it belongs to another session).
    #[error("the {model} entity{} is not attached to this session", fmt_id(.id))]
    Detached {
        /// The Rust name of the model.
        model: &'static str,
        /// The entity's id, if it has one.
        id: Option<Box<Bson>>,
    },

    /// One stored document was asked for in two shapes in one session: it is tracked as an
    /// entity of the model `tracked_as` and was read or added as a document without a model
    /// (see [`document`](crate::document)), or the other way round. A session holds one entity
    /// per stored document, so two handles never write it against each other: expunge the one
    /// tracked (after flushing its changes), or use a second session.
    #[error(
        "the document {id} of {namespace} is already tracked as {tracked_as} in this session: one document is one entity (expunge it first, or use another session)"
    )]
    TrackedInAnotherShape {
        /// `database.collection`.
        namespace: String,
        /// The document's `_id`.
        id: Box<Bson>,
        /// What the session tracks it as: a model's name, or `Document`.
        tracked_as: &'static str,
    },

    /// A migration step failed; what it did in its transaction was rolled back (a backfill
    /// keeps the pages it recorded). See [`migrate`](crate::migrate).
    #[error("migration step `{step}` failed: {source}")]
    Migration {
        /// The step's name.
        step: String,
        /// Why it failed.
        source: Box<Error>,
    },

    /// Another runner held the migrations' lease for longer than
    /// [`Migrations::wait`](crate::migrate::Migrations::wait).
    #[error("another runner held the migrations' lease for {waited:?}: giving up")]
    MigrationBusy {
        /// How long this runner waited.
        waited: std::time::Duration,
    },

    /// This runner's lease on the migrations was taken over by another runner (this one
    /// stalled past its expiry): it stopped without committing the step under way.
    #[error("the migrations' lease of runner {owner} was taken over by another runner: stopped")]
    MigrationLeaseLost {
        /// This runner's name in the lease.
        owner: String,
    },

    /// `refresh` was asked to reload an entity that has never been written to the server.
    #[error("the {model} entity has never been flushed, so there is nothing to reload")]
    NotPersistent {
        /// The Rust name of the model.
        model: &'static str,
    },

    /// A guard of the entity (`Tracked::write`, or `Tracked::read` where the session needed
    /// to change the value, as a refresh or a version field does) was alive while the session
    /// needed the value. Drop the guard before flushing or refreshing.
    #[error(
        "an entity of {namespace}{} is locked by a live guard (Tracked::read or Tracked::write): drop it first",
        fmt_id(.id)
    )]
    EntityBusy {
        /// `database.collection`.
        namespace: String,
        /// The entity's id, if it has one.
        id: Option<Box<Bson>>,
    },

    /// The runtime of the blocking API could not be started.
    #[error("blocking runtime: {message}")]
    Runtime {
        /// What went wrong.
        message: String,
    },

    /// The server's answer did not have the expected shape.
    #[error("unexpected reply from the server: {message}")]
    UnexpectedReply {
        /// What was wrong with it.
        message: String,
    },

    /// A change event carries a document that does not deserialize into the model (see
    /// [`watch`](crate::watch)). It is the error of that one event: the stream goes on after
    /// it, and `token` resumes right after it.
    #[error("the {operation} event of {namespace}{} carries a document that does not match the model: {source}", fmt_id(.id))]
    UndecodableEvent {
        /// `database.collection`.
        namespace: String,
        /// The `_id` of the changed document.
        id: Option<Box<Bson>>,
        /// The event's `operationType` (`insert`, `update`, `replace` or `delete`).
        operation: &'static str,
        /// The event's resume token: a stream resumed after it starts with the next event.
        token: Box<mongodb::change_stream::event::ResumeToken>,
        /// What serde reported.
        #[source]
        source: bson::de::Error,
    },

    /// A change stream cannot resume where it was asked to: the server no longer has the
    /// history after the token (code 286 `ChangeStreamHistoryLost`, or 280
    /// `ChangeStreamFatalError`). Nothing was skipped: the events since are lost to this
    /// stream. Either start from now (and accept the gap) or rebuild what the stream fed from
    /// the collection itself, then start from now; see
    /// [`Consumer::reset`](crate::watch::Consumer::reset).
    #[error(
        "the change stream of {namespace}{} cannot resume: the server no longer has the history after its token \
         ({code}: {message}); start from now, or rebuild from the collection and start from now",
        fmt_consumer(.consumer)
    )]
    ChangeStreamHistoryLost {
        /// `database.collection` watched.
        namespace: String,
        /// The name of the consumer whose checkpoint holds the token, for a consumer.
        consumer: Option<String>,
        /// The server's code (286 or 280).
        code: i32,
        /// The server's message.
        message: String,
    },
}

fn fmt_consumer(consumer: &Option<String>) -> String {
    match consumer {
        Some(name) => format!(" (consumer `{name}`)"),
        None => String::new(),
    }
}

/// The server's name for `code` when a reply left it out (write errors carry no code name).
fn code_name_or_known(code: i32, code_name: &str) -> String {
    if !code_name.is_empty() {
        return code_name.to_owned();
    }
    let known = match code {
        2 => "BadValue",
        9 => "FailedToParse",
        11 => "UserNotFound",
        13 => "Unauthorized",
        14 => "TypeMismatch",
        26 => "NamespaceNotFound",
        28 => "PathNotViable",
        40 => "ConflictingUpdateOperators",
        50 => "MaxTimeMSExpired",
        52 => "DollarPrefixedFieldName",
        55 => "InvalidDBRef",
        56 => "EmptyFieldName",
        57 => "DottedFieldName",
        64 => "WriteConcernFailed",
        66 => "ImmutableField",
        79 => "UnknownReplWriteConcern",
        91 => "ShutdownInProgress",
        100 => "UnsatisfiableWriteConcern",
        112 => "WriteConflict",
        121 => "DocumentValidationFailure",
        189 => "PrimarySteppedDown",
        251 => "NoSuchTransaction",
        262 => "ExceededTimeLimit",
        10107 => "NotWritablePrimary",
        11000 => "DuplicateKey",
        11600 => "InterruptedAtShutdown",
        11602 => "InterruptedDueToReplStateChange",
        13435 => "NotPrimaryNoSecondaryOk",
        _ => "",
    };
    known.to_owned()
}

fn fmt_rules(failures: &[crate::schema::RuleFailure], message: &str) -> String {
    if failures.is_empty() {
        return message.to_owned();
    }
    failures.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")
}

fn fmt_found(found: &Option<i64>) -> String {
    match found {
        Some(found) => format!(" but found {found}"),
        None => String::new(),
    }
}

fn fmt_invalid(invalid: &[crate::validation::Invalid]) -> String {
    invalid.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")
}

fn fmt_on(namespace: &str) -> String {
    if namespace.is_empty() { String::new() } else { format!(" on {namespace}") }
}

/// The `_id` of a stored document, for an error about it.
fn raw_id(raw: &bson::RawDocument) -> Option<Box<Bson>> {
    raw.get("_id").ok().flatten().and_then(|id| Bson::try_from(id.to_raw_bson()).ok()).map(Box::new)
}

/// Why a stored document does not decode into a model: what
/// [`Model::__decode`](crate::Model::__decode) reports. Not part of the API.
#[doc(hidden)]
#[derive(Debug)]
pub enum Undecodable {
    /// serde refused the document.
    Invalid(bson::de::Error),
    /// The document's tag names no variant of a polymorphic model (see
    /// [`Error::UnknownVariant`]).
    UnknownTag {
        /// The stored name of the tag field.
        field: &'static str,
        /// The tag, when the document has a string one.
        tag: Option<String>,
    },
}

impl From<bson::de::Error> for Undecodable {
    fn from(source: bson::de::Error) -> Self {
        Undecodable::Invalid(source)
    }
}

fn fmt_id(id: &Option<Box<Bson>>) -> String {
    match id {
        Some(id) => format!(" (_id {id})"),
        None => String::new(),
    }
}

impl Error {
    /// The error behind this one: the cause of a failed flush (the error that stopped it), or
    /// this error itself. So one `match` or `matches!` asks the same question of any error,
    /// whichever operation raised it.
    ///
    /// ```
    /// # use mongotic::{Error, FlushError};
    /// fn is_taken(err: &Error) -> bool {
    ///     matches!(err.cause(), Error::DuplicateKey { .. })
    /// }
    /// let err = Error::DuplicateKey { namespace: "app.users".into(), id: None, message: "E11000".into() };
    /// assert!(is_taken(&err));
    /// ```
    pub fn cause(&self) -> &Error {
        match self {
            Error::Flush(failure) => failure.cause.cause(),
            other => other,
        }
    }

    /// The name of the error's kind (of its cause, for a failed flush), for telemetry.
    pub(crate) fn kind_name(&self) -> &'static str {
        match self.cause() {
            Error::InvalidUri { .. } => "InvalidUri",
            Error::NoDatabase { .. } => "NoDatabase",
            Error::MalformedId { .. } => "MalformedId",
            Error::MissingId { .. } => "MissingId",
            Error::IdChanged { .. } => "IdChanged",
            Error::NotFound { .. } => "NotFound",
            Error::NotLoaded { .. } => "NotLoaded",
            Error::DanglingReference { .. } => "DanglingReference",
            Error::NoId { .. } => "NoId",
            Error::MultipleResultsFound { .. } => "MultipleResultsFound",
            Error::DuplicateKey { .. } => "DuplicateKey",
            Error::Deserialize { .. } => "Deserialize",
            Error::UnknownVariant { .. } => "UnknownVariant",
            Error::Serialize { .. } => "Serialize",
            Error::InvalidValue { .. } => "InvalidValue",
            Error::InvalidStatement { .. } => "InvalidStatement",
            Error::Server { .. } => "Server",
            Error::InvalidTls { .. } => "InvalidTls",
            Error::Auth { .. } => "Auth",
            Error::Timeout { .. } => "Timeout",
            Error::ShardKeyChanged { .. } => "ShardKeyChanged",
            Error::TenantChanged { .. } => "TenantChanged",
            Error::TenantRequired { .. } => "TenantRequired",
            Error::InvalidOptions { .. } => "InvalidOptions",
            Error::Connection { .. } => "Connection",
            Error::Driver { .. } => "Driver",
            Error::Flush(_) => "Flush",
            Error::Stale { .. } => "Stale",
            Error::VersionConflict { .. } => "VersionConflict",
            Error::Validation { .. } => "Validation",
            Error::SchemaValidation { .. } => "SchemaValidation",
            Error::SchemaChange { .. } => "SchemaChange",
            Error::Hook { .. } => "Hook",
            Error::TransactionsUnavailable { .. } => "TransactionsUnavailable",
            Error::TransactionAborted => "TransactionAborted",
            Error::TransactionInProgress => "TransactionInProgress",
            Error::Detached { .. } => "Detached",
            Error::TrackedInAnotherShape { .. } => "TrackedInAnotherShape",
            Error::Migration { .. } => "Migration",
            Error::MigrationBusy { .. } => "MigrationBusy",
            Error::MigrationLeaseLost { .. } => "MigrationLeaseLost",
            Error::NotPersistent { .. } => "NotPersistent",
            Error::EntityBusy { .. } => "EntityBusy",
            Error::Runtime { .. } => "Runtime",
            Error::UnexpectedReply { .. } => "UnexpectedReply",
            Error::UndecodableEvent { .. } => "UndecodableEvent",
            Error::ChangeStreamHistoryLost { .. } => "ChangeStreamHistoryLost",
        }
    }

    /// `true` when nothing matched ([`Error::NotFound`], from `one`, `refresh`…), or a
    /// reference points to a document that does not exist ([`Error::DanglingReference`]).
    ///
    /// ```
    /// # use mongotic::Error;
    /// assert!(Error::NotFound { namespace: "app.users".into(), id: None }.is_not_found());
    /// ```
    pub fn is_not_found(&self) -> bool {
        matches!(self.cause(), Error::NotFound { .. } | Error::DanglingReference { .. })
    }

    /// `true` for a duplicate key, directly or as the cause of a failed flush.
    ///
    /// ```
    /// # use mongotic::Error;
    /// let err = Error::DuplicateKey { namespace: "app.users".into(), id: None, message: "E11000".into() };
    /// assert!(err.is_duplicate_key());
    /// ```
    pub fn is_duplicate_key(&self) -> bool {
        match self {
            Error::DuplicateKey { .. } => true,
            Error::Flush(failure) => failure.cause.is_duplicate_key(),
            _ => false,
        }
    }

    /// `true` when a write met a concurrent change: a document deleted by someone else
    /// ([`Error::Stale`]) or changed since it was read ([`Error::VersionConflict`]), directly
    /// or as the cause of a failed flush.
    ///
    /// ```
    /// # use mongotic::{Error, WriteKind};
    /// let err = Error::Stale { namespace: "app.users".into(), id: None, kind: WriteKind::Update };
    /// assert!(err.is_conflict());
    /// ```
    pub fn is_conflict(&self) -> bool {
        match self {
            Error::Stale { .. } | Error::VersionConflict { .. } => true,
            Error::Flush(failure) => failure.cause.is_conflict(),
            _ => false,
        }
    }

    /// `true` when values failed their checks ([`Error::Validation`], before anything was
    /// sent) or the collection's validator refused a document ([`Error::SchemaValidation`]),
    /// directly or as the cause of a failed flush.
    ///
    /// ```
    /// # use mongotic::Error;
    /// let err = Error::Validation { invalid: Vec::new() };
    /// assert!(err.is_validation());
    /// ```
    pub fn is_validation(&self) -> bool {
        match self {
            Error::Validation { .. } | Error::SchemaValidation { .. } => true,
            Error::Flush(failure) => failure.cause.is_validation(),
            _ => false,
        }
    }

    /// The version conflict behind this error, directly or as the cause of a failed flush:
    /// `(expected, found)`.
    ///
    /// ```
    /// # use mongotic::{Error, WriteKind};
    /// let err = Error::VersionConflict {
    ///     model: "Doc", namespace: "app.docs".into(), id: Box::new(1.into()),
    ///     kind: WriteKind::Update, expected: 3, found: Some(4),
    /// };
    /// assert_eq!(err.version_conflict(), Some((3, Some(4))));
    /// ```
    pub fn version_conflict(&self) -> Option<(i64, Option<i64>)> {
        match self {
            Error::VersionConflict { expected, found, .. } => Some((*expected, *found)),
            Error::Flush(failure) => failure.cause.version_conflict(),
            _ => None,
        }
    }

    /// `true` when running the same work again in a new transaction may succeed: the server
    /// or driver labelled the failure `TransientTransactionError` (a write conflict, a
    /// failover), directly or as the cause of a failed flush or commit.
    /// [`Session::transaction`](crate::Session::transaction) and the transactional flush retry
    /// such failures by themselves, under the engine's [`RetryPolicy`](crate::RetryPolicy).
    ///
    /// ```
    /// # use mongotic::Error;
    /// let err = Error::NotFound { namespace: "app.users".into(), id: None };
    /// assert!(!err.is_transient());
    /// ```
    pub fn is_transient(&self) -> bool {
        match self {
            Error::Flush(failure) => failure.is_transient(),
            Error::Connection { source } | Error::Driver { source } | Error::Auth { source } => {
                source.contains_label(mongodb::error::TRANSIENT_TRANSACTION_ERROR)
            }
            _ => false,
        }
    }

    /// `true` when a time limit ran out: the client's ([`Error::Timeout`]) or the server's
    /// (`MaxTimeMSExpired`, from [`Options::max_time`](crate::options::Options::max_time)),
    /// directly or as the cause of a failed flush.
    ///
    /// ```
    /// # use mongotic::Error;
    /// let err = Error::Timeout { namespace: "app.users".into(), limit: std::time::Duration::from_millis(200) };
    /// assert!(err.is_timeout());
    /// ```
    pub fn is_timeout(&self) -> bool {
        match self.cause() {
            Error::Timeout { .. } => true,
            Error::Server { code, .. } => matches!(*code, MAX_TIME_MS_EXPIRED | EXCEEDED_TIME_LIMIT),
            Error::Connection { source } | Error::Driver { source } => {
                matches!(source.kind.as_ref(), ErrorKind::Command(command) if matches!(command.code, MAX_TIME_MS_EXPIRED | EXCEEDED_TIME_LIMIT))
            }
            _ => false,
        }
    }

    /// `true` when the server refused the client's credentials ([`Error::Auth`]). Never
    /// worth retrying as it is: the credentials or the user's rights must change.
    ///
    /// ```
    /// # use mongotic::Error;
    /// let err = Error::NotFound { namespace: "app.users".into(), id: None };
    /// assert!(!err.is_auth());
    /// ```
    pub fn is_auth(&self) -> bool {
        matches!(self.cause(), Error::Auth { .. })
    }

    /// `true` when the server could not be reached or the connection failed (a retry may
    /// succeed), directly or as the cause of a failed flush.
    ///
    /// ```
    /// # use mongotic::Error;
    /// let err = Error::NotFound { namespace: "app.users".into(), id: None };
    /// assert!(!err.is_connection());
    /// ```
    pub fn is_connection(&self) -> bool {
        match self {
            Error::Connection { .. } => true,
            Error::Driver { source } => matches!(source.kind.as_ref(), ErrorKind::ConnectionPoolCleared { .. }),
            Error::Flush(failure) => failure.cause.is_connection(),
            _ => false,
        }
    }

    /// The server's error code, when the server reported one.
    ///
    /// ```
    /// # use mongotic::Error;
    /// let err = Error::NotFound { namespace: "app.users".into(), id: None };
    /// assert_eq!(err.server_code(), None);
    /// ```
    pub fn server_code(&self) -> Option<i32> {
        match self {
            Error::DuplicateKey { .. } => Some(DUPLICATE_KEY),
            Error::SchemaValidation { .. } => Some(DOCUMENT_VALIDATION_FAILURE),
            Error::Server { code, .. } | Error::ChangeStreamHistoryLost { code, .. } => Some(*code),
            Error::Flush(failure) => failure.cause.server_code(),
            _ => None,
        }
    }

    /// Converts a driver error raised while working on `namespace` (and on the document with
    /// `id`, when there is one) into the matching variant.
    pub(crate) fn from_driver(source: mongodb::error::Error, namespace: &str, id: Option<&Bson>) -> Self {
        let id = id.cloned();
        match source.kind.as_ref() {
            ErrorKind::Write(WriteFailure::WriteError(write)) => Self::from_write_error(
                namespace,
                id,
                write.code,
                write.code_name.clone().unwrap_or_default(),
                write.message.clone(),
            )
            .with_write_info(write.details.as_ref()),
            ErrorKind::Write(WriteFailure::WriteConcernError(wc)) => Error::Server {
                namespace: namespace.to_owned(),
                id: id.map(Box::new),
                code: wc.code,
                code_name: code_name_or_known(wc.code, &wc.code_name),
                message: wc.message.clone(),
            },
            // A batch of an `insert_many` or a client `bulkWrite` failed: the first write error
            // says why (the driver's own message lists every id of the operation).
            ErrorKind::InsertMany(_) | ErrorKind::BulkWrite(_) => match Self::first_write_error(&source) {
                Some((code, code_name, message, info)) => {
                    Self::from_write_error(namespace, id, code, code_name, message).with_write_info(info.as_ref())
                }
                None => Error::Driver { source },
            },
            ErrorKind::Command(command) => {
                Self::from_write_error(namespace, id, command.code, command.code_name.clone(), command.message.clone())
            }
            ErrorKind::Authentication { .. } => Error::Auth { source },
            ErrorKind::InvalidTlsConfig { .. } => Error::InvalidTls { source },
            ErrorKind::Io(_)
            | ErrorKind::ConnectionPoolCleared { .. }
            | ErrorKind::ServerSelection { .. }
            | ErrorKind::DnsResolve { .. }
            | ErrorKind::Shutdown => Error::Connection { source },
            _ => Error::Driver { source },
        }
    }

    /// Converts a driver error raised by a command about no collection (`commitTransaction`,
    /// `startTransaction`, `hello`): the error names no namespace.
    pub(crate) fn from_driver_command(source: mongodb::error::Error) -> Self {
        Self::from_driver(source, "", None)
    }

    /// Converts an error raised while the engine was made from client options: a TLS
    /// configuration it cannot use, or an invalid option.
    pub(crate) fn from_client_options(source: mongodb::error::Error) -> Self {
        match source.kind.as_ref() {
            ErrorKind::InvalidTlsConfig { .. } => Error::InvalidTls { source },
            _ => Error::InvalidUri { source },
        }
    }

    /// The variant for a server-side error on one document: duplicate key or a plain server
    /// error.
    pub(crate) fn from_write_error(
        namespace: &str,
        id: Option<Bson>,
        code: i32,
        code_name: String,
        message: String,
    ) -> Self {
        let id = id.map(Box::new);
        if code == DUPLICATE_KEY {
            Error::DuplicateKey { namespace: namespace.to_owned(), id, message }
        } else if code == DOCUMENT_VALIDATION_FAILURE {
            Error::SchemaValidation {
                namespace: namespace.to_owned(),
                id,
                failures: Vec::new(),
                details: None,
                message,
            }
        } else {
            let code_name = code_name_or_known(code, &code_name);
            Error::Server { namespace: namespace.to_owned(), id, code, code_name, message }
        }
    }

    /// What the server's `errInfo` of a write error (`info`) adds to this error: for a
    /// document its validator refused, the rules it failed and the document's `_id` when
    /// the error did not know it yet. Other errors are returned as they are.
    pub(crate) fn with_write_info(mut self, info: Option<&bson::Document>) -> Self {
        if let (Error::SchemaValidation { id, failures, details, .. }, Some(info)) = (&mut self, info) {
            if id.is_none() {
                *id = info.get("failingDocumentId").cloned().map(Box::new);
            }
            *failures = crate::schema::failures(info);
            *details = Some(Box::new(info.clone()));
        }
        self
    }

    /// The code, name, message and `errInfo` of the first write error (or else write concern
    /// error) of a failed `insert_many` or client `bulkWrite`.
    fn first_write_error(source: &mongodb::error::Error) -> Option<(i32, String, String, Option<bson::Document>)> {
        match source.kind.as_ref() {
            ErrorKind::InsertMany(failure) => {
                if let Some(first) =
                    failure.write_errors.as_ref().and_then(|errors| errors.iter().min_by_key(|e| e.index))
                {
                    let name = first.code_name.clone().unwrap_or_default();
                    return Some((first.code, name, first.message.clone(), first.details.clone()));
                }
                let concern = failure.write_concern_error.as_ref()?;
                Some((concern.code, concern.code_name.clone(), concern.message.clone(), None))
            }
            ErrorKind::BulkWrite(failure) => {
                if let Some((_, first)) = failure.write_errors.iter().min_by_key(|(index, _)| **index) {
                    let name = first.code_name.clone().unwrap_or_default();
                    return Some((first.code, name, first.message.clone(), first.details.clone()));
                }
                let concern = failure.write_concern_errors.first()?;
                Some((concern.code, concern.code_name.clone(), concern.message.clone(), None))
            }
            _ => None,
        }
    }

    /// The first refused document of an ordered `insert_many` (its index in the batch), if
    /// the driver reported one.
    pub(crate) fn first_insert_error(source: &mongodb::error::Error) -> Option<&mongodb::error::IndexedWriteError> {
        match source.kind.as_ref() {
            ErrorKind::InsertMany(failure) => failure.write_errors.as_ref()?.iter().min_by_key(|e| e.index),
            _ => None,
        }
    }

    /// The error for a stored document `raw` of `namespace` that does not decode into the
    /// model named `model`.
    pub(crate) fn undecodable(model: &'static str, namespace: &str, raw: &bson::RawDocument, why: Undecodable) -> Self {
        match why {
            Undecodable::Invalid(source) => Error::deserialize(namespace, raw, source),
            Undecodable::UnknownTag { field, tag } => {
                Error::UnknownVariant { model, field, tag, namespace: namespace.to_owned(), id: raw_id(raw) }
            }
        }
    }

    /// A deserialization error for the stored document `raw` of `namespace`.
    pub(crate) fn deserialize(namespace: &str, raw: &bson::RawDocument, source: bson::de::Error) -> Self {
        Error::Deserialize { namespace: namespace.to_owned(), id: raw_id(raw), source }
    }

    /// A serialization error for `namespace` (or a field path).
    pub(crate) fn serialize(namespace: &str, source: bson::ser::Error) -> Self {
        Error::Serialize { namespace: namespace.to_owned(), source: Box::new(source) }
    }
}

/// What a failed flush did and did not write.
///
/// A flush sends its writes in order. When the server rejects one, or the connection drops,
/// the writes it acknowledged before that are recorded in the session as persisted and the rest
/// stay staged: they are still listed by `Session::new`, `dirty` and `deleted`, and the next
/// `flush` sends exactly those.
///
/// ```
/// # use mongotic::{Error, FlushError};
/// fn report(err: &Error) {
///     if let Error::Flush(failure) = err {
///         eprintln!(
///             "{} writes landed, {} still staged, first failure: {}",
///             failure.written(),
///             failure.staged(),
///             failure.cause()
///         );
///     }
/// }
/// # let _ = report;
/// ```
#[derive(Debug)]
pub struct FlushError {
    pub(crate) cause: Error,
    pub(crate) written: usize,
    pub(crate) staged: usize,
    pub(crate) in_doubt: usize,
    pub(crate) failed: Option<FailedWrite>,
    pub(crate) transient: bool,
}

/// The write the server rejected, when the failure is about one document.
///
/// ```
/// # use mongotic::{Error, WriteKind};
/// fn refused_insert(err: &Error) -> bool {
///     matches!(err, Error::Flush(f) if f.failed().is_some_and(|w| w.kind == WriteKind::Insert))
/// }
/// # let _ = refused_insert;
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct FailedWrite {
    /// What kind of write it was.
    pub kind: WriteKind,
    /// `database.collection`.
    pub namespace: String,
    /// The `_id` of the document.
    pub id: Bson,
}

/// The kinds of write a flush sends.
///
/// ```
/// assert_eq!(mongotic::WriteKind::Update.to_string(), "update");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum WriteKind {
    /// A new entity (`add`).
    Insert,
    /// `$set`/`$unset` of the changed fields of a persistent entity.
    Update,
    /// A full replacement, upserting (`merge`).
    Replace,
    /// A removal (`delete`).
    Delete,
    /// An insert, or an update of the document with the same natural key
    /// ([`Session::upsert`](crate::Session::upsert)).
    Upsert,
}

impl fmt::Display for WriteKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            WriteKind::Insert => "insert",
            WriteKind::Update => "update",
            WriteKind::Replace => "replace",
            WriteKind::Delete => "delete",
            WriteKind::Upsert => "upsert",
        })
    }
}

impl FlushError {
    /// The error that stopped the flush.
    ///
    /// ```
    /// # use mongotic::Error;
    /// fn is_duplicate(err: &Error) -> bool {
    ///     matches!(err, Error::Flush(f) if matches!(f.cause(), Error::DuplicateKey { .. }))
    /// }
    /// # let _ = is_duplicate;
    /// ```
    pub fn cause(&self) -> &Error {
        &self.cause
    }

    /// How many writes of this flush the server acknowledged.
    ///
    /// ```
    /// # use mongotic::Error;
    /// fn landed(err: &Error) -> usize {
    ///     if let Error::Flush(f) = err { f.written() } else { 0 }
    /// }
    /// # let _ = landed;
    /// ```
    pub fn written(&self) -> usize {
        self.written
    }

    /// How many writes are still staged in the session.
    ///
    /// ```
    /// # use mongotic::Error;
    /// fn left(err: &Error) -> usize {
    ///     if let Error::Flush(f) = err { f.staged() } else { 0 }
    /// }
    /// # let _ = left;
    /// ```
    pub fn staged(&self) -> usize {
        self.staged
    }

    /// How many of the staged writes may nevertheless have landed: their outcome is unknown
    /// (the connection failed and the server could not be read since). They stay staged, and
    /// the next flush reads the server to find out before it sends anything, so none is
    /// written twice.
    ///
    /// ```
    /// # use mongotic::Error;
    /// fn unsure(err: &Error) -> usize {
    ///     if let Error::Flush(f) = err { f.in_doubt() } else { 0 }
    /// }
    /// # let _ = unsure;
    /// ```
    pub fn in_doubt(&self) -> usize {
        self.in_doubt
    }

    /// `true` when the failure was transient for a transaction (the server or driver labelled
    /// it `TransientTransactionError`): running the same work again in a new transaction may
    /// succeed. [`Session::transaction`](crate::Session::transaction) does so by itself.
    ///
    /// ```
    /// # use mongotic::Error;
    /// fn worth_retrying(err: &Error) -> bool {
    ///     matches!(err, Error::Flush(f) if f.is_transient())
    /// }
    /// # let _ = worth_retrying;
    /// ```
    pub fn is_transient(&self) -> bool {
        self.transient
    }

    /// The write the server rejected, when the failure is about one document.
    ///
    /// ```
    /// # use mongotic::Error;
    /// fn refused_id(err: &Error) -> Option<String> {
    ///     if let Error::Flush(f) = err { f.failed().map(|w| w.id.to_string()) } else { None }
    /// }
    /// # let _ = refused_id;
    /// ```
    pub fn failed(&self) -> Option<&FailedWrite> {
        self.failed.as_ref()
    }
}

impl fmt::Display for FlushError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "flush failed: {} writes landed, {} still staged", self.written, self.staged)?;
        if self.in_doubt > 0 {
            write!(f, " ({} of them may have landed; the next flush reads the server first)", self.in_doubt)?;
        }
        if let Some(failed) = &self.failed {
            write!(f, "; the {} of _id {} in {} was refused", failed.kind, failed.id, failed.namespace)?;
        }
        write!(f, ": {}", self.cause)
    }
}

impl std::error::Error for FlushError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.cause)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every `Result` carries room for the error: keep it small.
    #[test]
    fn error_stays_small() {
        assert!(std::mem::size_of::<Error>() <= 128, "{}", std::mem::size_of::<Error>());
    }

    #[test]
    fn a_write_error_without_a_code_name_gets_the_known_one() {
        let err = Error::from_write_error("app.users", None, 52, String::new(), "$-prefixed".into());
        assert!(matches!(&err, Error::Server { code_name, .. } if code_name == "DollarPrefixedFieldName"), "{err}");
        assert!(err.to_string().contains("DollarPrefixedFieldName"), "{err}");
        let unknown = Error::from_write_error("app.users", None, 987_654, String::new(), "?".into());
        assert!(matches!(unknown, Error::Server { code_name, .. } if code_name.is_empty()));
    }

    #[test]
    fn a_busy_entity_names_both_kinds_of_guard() {
        let err = Error::EntityBusy { namespace: "app.users".into(), id: None };
        let text = err.to_string();
        assert!(text.contains("Tracked::read") && text.contains("Tracked::write"), "{text}");
    }

    #[test]
    fn the_cause_of_a_flush_error_is_what_stopped_it() {
        let duplicate = Error::DuplicateKey { namespace: "app.users".into(), id: None, message: "E11000".into() };
        let flush = Error::Flush(Box::new(FlushError {
            cause: duplicate,
            written: 0,
            staged: 1,
            in_doubt: 0,
            failed: None,
            transient: false,
        }));
        assert!(matches!(flush.cause(), Error::DuplicateKey { .. }));
        assert!(flush.is_duplicate_key() && !flush.is_not_found());
    }
}
