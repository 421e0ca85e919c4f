//! The blocking API: the same engine, session factory, session and results as the async API,
//! with the same method names and no `.await`, for programs without an async runtime.
//!
//! Everything here wraps the async implementation: a blocking [`Engine`] owns a small tokio
//! runtime (one worker thread for the driver's I/O and background tasks) and each call runs
//! the async method to completion, blocking the calling thread. No runtime is needed in the
//! caller. The calls are safe from any thread, `tokio::task::spawn_blocking` included; from
//! inside an async task they work too, without deadlock or panic, but hold that task's thread
//! until done, so prefer the async API there.
//!
//! ```no_run
//! use mongotic::blocking::{create_engine, sessionmaker};
//! use mongotic::prelude::*;
//!
//! #[derive(Debug, Clone, Serialize, Deserialize, Model)]
//! #[mongotic(database = "myapp", collection = "users")]
//! struct User {
//!     #[serde(rename = "_id")]
//!     id: Option<ObjectId>,
//!     name: String,
//!     age: Option<i32>,
//! }
//!
//! fn main() -> mongotic::Result<()> {
//!     let engine = create_engine("mongodb://localhost:27017")?;
//!     let mut session = sessionmaker(&engine).session();
//!     session.add(User { id: None, name: "Alice".into(), age: Some(30) });
//!     session.commit()?;
//!     for user in session.scalars(select::<User>().filter(User::age.gte(18))) {
//!         println!("{}", user?.read().name);
//!     }
//!     Ok(())
//! }
//! ```

mod document;
mod result;
mod runtime;
mod session;

use std::future::IntoFuture;

use mongodb::options::ClientOptions;
use mongodb::{Client, Collection, Database};

pub use document::{DocumentFind, Documents};
pub use result::{IntoBlocking, Iter, ScalarResult, SelectResult};
pub use session::{Session, SessionFactory, sessionmaker};

use crate::engine::ModelSet;
use crate::{Error, Model, Result};
use runtime::Runtime;

/// The blocking counterpart of [`crate::Engine`]: a connection pool and the runtime that
/// drives it. Cheap to clone; the clones share both.
///
/// ```no_run
/// let engine = mongotic::blocking::create_engine("mongodb://localhost:27017/myapp")?;
/// # Ok::<(), mongotic::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct Engine {
    inner: crate::Engine,
    runtime: Runtime,
}

/// Connects to MongoDB; see [`crate::create_engine`].
///
/// ```no_run
/// let engine = mongotic::blocking::create_engine("mongodb://localhost:27017")?;
/// # Ok::<(), mongotic::Error>(())
/// ```
pub fn create_engine(uri: &str) -> Result<Engine> {
    let runtime = Runtime::new()?;
    let inner = runtime.block_on(crate::create_engine(uri))?;
    Ok(Engine { inner, runtime })
}

impl Engine {
    /// An engine from driver options; see [`crate::Engine::from_options`].
    ///
    /// ```no_run
    /// # fn demo(options: mongotic::mongodb::options::ClientOptions) -> mongotic::Result<()> {
    /// let engine = mongotic::blocking::Engine::from_options(options)?;
    /// # Ok(()) }
    /// ```
    pub fn from_options(options: ClientOptions) -> Result<Engine> {
        let runtime = Runtime::new()?;
        let inner = runtime.enter(|| crate::Engine::from_options(options))?;
        Ok(Engine { inner, runtime })
    }

    /// Parses a connection string into driver options, to adjust before
    /// [`Engine::from_options`].
    ///
    /// ```no_run
    /// let mut options = mongotic::blocking::Engine::parse_options("mongodb://localhost:27017")?;
    /// options.app_name = Some("cli".into());
    /// let engine = mongotic::blocking::Engine::from_options(options)?;
    /// # Ok::<(), mongotic::Error>(())
    /// ```
    pub fn parse_options(uri: &str) -> Result<ClientOptions> {
        let runtime = Runtime::new()?;
        runtime.block_on(ClientOptions::parse(uri).into_future()).map_err(|source| Error::InvalidUri { source })
    }

    /// The async engine inside, to share the pool with async code.
    ///
    /// ```no_run
    /// # use mongotic::prelude::*;
    /// # #[derive(Debug, Clone, Serialize, Deserialize, Model)]
    /// # #[mongotic(database = "app", collection = "users")]
    /// # struct User { #[serde(rename = "_id")] id: Option<ObjectId>, name: String, age: Option<i32>, active: bool }
    /// # fn demo(engine: mongotic::blocking::Engine) -> mongotic::Result<()> {
    /// let async_engine: &mongotic::Engine = engine.as_async();
    /// # Ok(()) }
    /// ```
    pub fn as_async(&self) -> &crate::Engine {
        &self.inner
    }

    /// The driver client.
    ///
    /// ```no_run
    /// # use mongotic::prelude::*;
    /// # #[derive(Debug, Clone, Serialize, Deserialize, Model)]
    /// # #[mongotic(database = "app", collection = "users")]
    /// # struct User { #[serde(rename = "_id")] id: Option<ObjectId>, name: String, age: Option<i32>, active: bool }
    /// # fn demo(engine: mongotic::blocking::Engine) -> mongotic::Result<()> {
    /// let client = engine.client();
    /// # Ok(()) }
    /// ```
    pub fn client(&self) -> &Client {
        self.inner.client()
    }

    /// See [`crate::Engine::with_default_database`].
    ///
    /// ```no_run
    /// # use mongotic::prelude::*;
    /// # #[derive(Debug, Clone, Serialize, Deserialize, Model)]
    /// # #[mongotic(database = "app", collection = "users")]
    /// # struct User { #[serde(rename = "_id")] id: Option<ObjectId>, name: String, age: Option<i32>, active: bool }
    /// # fn demo(engine: mongotic::blocking::Engine) -> mongotic::Result<()> {
    /// let engine = engine.with_default_database("app");
    /// # Ok(()) }
    /// ```
    pub fn with_default_database(&self, name: &str) -> Engine {
        Engine { inner: self.inner.with_default_database(name), runtime: self.runtime.clone() }
    }

    /// See [`crate::Engine::with_database`].
    ///
    /// ```no_run
    /// # use mongotic::prelude::*;
    /// # #[derive(Debug, Clone, Serialize, Deserialize, Model)]
    /// # #[mongotic(database = "app", collection = "users")]
    /// # struct User { #[serde(rename = "_id")] id: Option<ObjectId>, name: String, age: Option<i32>, active: bool }
    /// # fn demo(engine: mongotic::blocking::Engine) -> mongotic::Result<()> {
    /// let engine = engine.with_database("test_1234");
    /// # Ok(()) }
    /// ```
    pub fn with_database(&self, name: &str) -> Engine {
        Engine { inner: self.inner.with_database(name), runtime: self.runtime.clone() }
    }

    /// See [`crate::Engine::with_client_bulk_write`].
    ///
    /// ```no_run
    /// # use mongotic::prelude::*;
    /// # #[derive(Debug, Clone, Serialize, Deserialize, Model)]
    /// # #[mongotic(database = "app", collection = "users")]
    /// # struct User { #[serde(rename = "_id")] id: Option<ObjectId>, name: String, age: Option<i32>, active: bool }
    /// # fn demo(engine: mongotic::blocking::Engine) -> mongotic::Result<()> {
    /// let engine = engine.with_client_bulk_write(false);
    /// # Ok(()) }
    /// ```
    pub fn with_client_bulk_write(&self, enabled: bool) -> Engine {
        Engine { inner: self.inner.with_client_bulk_write(enabled), runtime: self.runtime.clone() }
    }

    /// See [`crate::Engine::with_transactions`].
    ///
    /// ```no_run
    /// # fn demo(engine: mongotic::blocking::Engine) {
    /// let engine = engine.with_transactions(mongotic::TransactionMode::Never);
    /// # }
    /// ```
    pub fn with_transactions(&self, mode: crate::TransactionMode) -> Engine {
        Engine { inner: self.inner.with_transactions(mode), runtime: self.runtime.clone() }
    }

    /// See [`crate::Engine::supports_transactions`].
    ///
    /// ```no_run
    /// # fn demo(engine: mongotic::blocking::Engine) -> mongotic::Result<()> {
    /// let atomic = engine.supports_transactions()?;
    /// # Ok(()) }
    /// ```
    pub fn supports_transactions(&self) -> crate::Result<bool> {
        self.runtime.block_on(self.inner.supports_transactions())
    }

    /// See [`crate::Engine::database_for`].
    ///
    /// ```no_run
    /// # use mongotic::prelude::*;
    /// # #[derive(Debug, Clone, Serialize, Deserialize, Model)]
    /// # #[mongotic(database = "app", collection = "users")]
    /// # struct User { #[serde(rename = "_id")] id: Option<ObjectId>, name: String, age: Option<i32>, active: bool }
    /// # fn demo(engine: mongotic::blocking::Engine) -> mongotic::Result<()> {
    /// assert_eq!(engine.database_for::<User>()?.name(), "app");
    /// # Ok(()) }
    /// ```
    pub fn database_for<M: Model>(&self) -> Result<Database> {
        self.inner.database_for::<M>()
    }

    /// See [`crate::Engine::collection_for`].
    ///
    /// ```no_run
    /// # use mongotic::prelude::*;
    /// # #[derive(Debug, Clone, Serialize, Deserialize, Model)]
    /// # #[mongotic(database = "app", collection = "users")]
    /// # struct User { #[serde(rename = "_id")] id: Option<ObjectId>, name: String, age: Option<i32>, active: bool }
    /// # fn demo(engine: mongotic::blocking::Engine) -> mongotic::Result<()> {
    /// let users = engine.collection_for::<User>()?;
    /// # Ok(()) }
    /// ```
    pub fn collection_for<M: Model>(&self) -> Result<Collection<M>> {
        self.inner.collection_for::<M>()
    }

    pub(crate) fn runtime(&self) -> &Runtime {
        &self.runtime
    }
}

/// Creates the indexes the models declare; see [`crate::create_indexes`].
///
/// ```no_run
/// # use mongotic::prelude::*;
/// # #[derive(Debug, Serialize, Deserialize, Model)]
/// # #[mongotic(database = "app", collection = "users")]
/// # struct User { #[serde(rename = "_id")] #[mongotic(id)] id: i64, #[mongotic(unique)] email: String }
/// # fn demo(engine: mongotic::blocking::Engine) -> mongotic::Result<()> {
/// mongotic::blocking::create_indexes::<User>(&engine)?;
/// # Ok(()) }
/// ```
pub fn create_indexes<S: ModelSet>(engine: &Engine) -> Result<Vec<String>> {
    engine.runtime.block_on(crate::create_indexes::<S>(&engine.inner))
}

/// Brings the models' collections, validators and indexes in line with their declarations,
/// or (a dry run) plans it; see [`crate::schema::sync_schema`].
///
/// ```no_run
/// # use mongotic::prelude::*;
/// # #[derive(Debug, Serialize, Deserialize, Model)]
/// # #[mongotic(database = "app", collection = "users")]
/// # struct User { #[serde(rename = "_id")] #[mongotic(id)] id: i64, #[mongotic(unique)] email: String }
/// # fn demo(engine: mongotic::blocking::Engine) -> mongotic::Result<()> {
/// use mongotic::schema::SyncOptions;
/// let plan = mongotic::blocking::sync_schema::<User>(&engine, SyncOptions::new().dry_run(true))?;
/// println!("{plan}");
/// mongotic::blocking::sync_schema::<User>(&engine, SyncOptions::new())?;
/// # Ok(()) }
/// ```
pub fn sync_schema<S: ModelSet>(
    engine: &Engine,
    options: crate::schema::SyncOptions,
) -> Result<crate::schema::SchemaPlan> {
    engine.runtime.block_on(crate::schema::sync_schema::<S>(&engine.inner, options))
}
