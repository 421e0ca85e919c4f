//! The engine: a connection pool (a `mongodb::Client`) plus where models' databases are.
//!
//! ```no_run
//! # use mongotic::prelude::*;
//! # #[derive(Debug, Serialize, Deserialize, Model)]
//! # #[mongotic(database = "app", collection = "users")]
//! # struct User { #[serde(rename = "_id")] id: Option<ObjectId>, name: String, age: Option<i32> }
//! # async fn demo() -> mongotic::Result<()> {
//! let engine = mongotic::create_engine("mongodb://localhost:27017").await?;
//! mongotic::create_indexes::<User>(&engine).await?;
//! # Ok(()) }
//! ```

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};

use bson::RawDocumentBuf;
use mongodb::ServerType;
use mongodb::error::ErrorKind;
use mongodb::event::EventHandler;
use mongodb::event::sdam::SdamEvent;
use mongodb::options::ClientOptions;
use mongodb::{Client, Collection, Database, Namespace};

use crate::model::ModelMeta;
use crate::session::RetryPolicy;
use crate::{Error, Model, Result};

/// A connection to a MongoDB deployment, shared by every session made from it.
///
/// Cheap to clone (the clones share the connection pool); `Send + Sync`. Create it with
/// [`create_engine`] or from an existing client with [`Engine::from_client`].
///
/// A model's documents live in the database it declares (`#[mongotic(database = "..")]`);
/// a model without one uses the engine's default database, which comes from the connection
/// string (`mongodb://host/mydb`) or [`Engine::with_default_database`].
/// [`Engine::with_database`] puts every model in one database, whatever it declares, which
/// is what tests and multi-tenant setups want.
///
/// ```no_run
/// # async fn demo() -> mongotic::Result<()> {
/// let engine = mongotic::create_engine("mongodb://localhost:27017/myapp").await?;
/// let tenant = engine.with_database("tenant_42");
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct Engine {
    client: Client,
    default_database: Option<Arc<str>>,
    database_override: Option<Arc<str>>,
    capabilities: Arc<Capabilities>,
    transactions: TransactionMode,
    retry: RetryPolicy,
    /// The credentials the servers refused, as the driver's monitoring saw it.
    auth: Arc<AuthWatch>,
}

/// What the engine has learnt about the server.
#[derive(Debug, Default)]
struct Capabilities {
    /// Whether the client `bulkWrite` command works: 0 unknown, 1 yes, 2 no.
    bulk_write: AtomicU8,
    /// Whether the deployment has multi-document transactions: 0 unknown, 1 yes, 2 no.
    transactions: AtomicU8,
}

/// What the driver's server monitoring says of the client's credentials. When a connection's
/// authentication fails, the driver marks the server unknown until its monitor checks it again
/// (the monitor does not authenticate), and meanwhile every operation waits out the whole
/// server-selection timeout and fails as if the server could not be reached. The engine
/// watches for that and answers [`Error::Auth`] at once instead; once the monitor finds the
/// server again, operations authenticate again (so credentials fixed on the server work).
#[derive(Debug, Default)]
struct AuthWatch {
    refused: std::sync::Mutex<Option<mongodb::error::Error>>,
}

impl AuthWatch {
    fn observe(&self, event: &SdamEvent) {
        let SdamEvent::ServerDescriptionChanged(changed) = event else { return };
        let description = &changed.new_description;
        let refused = description.error().filter(|err| matches!(err.kind.as_ref(), ErrorKind::Authentication { .. }));
        if let Ok(mut slot) = self.refused.lock() {
            match refused {
                Some(err) => *slot = Some(err.clone()),
                None if description.server_type() != ServerType::Unknown => *slot = None,
                None => {}
            }
        }
    }

    /// The refusal in force, if any.
    fn refused(&self) -> Option<mongodb::error::Error> {
        self.refused.lock().ok().and_then(|slot| slot.clone())
    }

    /// Makes `options` report server changes to this watch, then to the handler already set
    /// there. A handler of a kind it cannot pass events on to is left alone (without the
    /// watch).
    fn install(self: &Arc<Self>, options: &mut ClientOptions) {
        let watch = self.clone();
        let forward: Box<dyn Fn(SdamEvent) + Send + Sync> = match options.sdam_event_handler.take() {
            None => Box::new(|_| {}),
            Some(EventHandler::Callback(callback)) => Box::new(move |event| callback(event)),
            Some(EventHandler::AsyncCallback(callback)) => Box::new(move |event| {
                tokio::spawn(callback(event));
            }),
            Some(EventHandler::TokioMpsc(sender)) => Box::new(move |event| {
                let sender = sender.clone();
                tokio::spawn(async move {
                    let _ = sender.send(event).await;
                });
            }),
            Some(other) => {
                options.sdam_event_handler = Some(other);
                return;
            }
        };
        options.sdam_event_handler = Some(EventHandler::callback(move |event: SdamEvent| {
            watch.observe(&event);
            forward(event);
        }));
    }
}

/// When a [`Session`](crate::Session) wraps its writes in a multi-document transaction.
///
/// Chosen per engine with [`Engine::with_transactions`]; the default is [`Auto`](Self::Auto).
///
/// ```no_run
/// # async fn demo() -> mongotic::Result<()> {
/// use mongotic::{TransactionMode, create_engine};
///
/// let engine = create_engine("mongodb://localhost:27017/?replicaSet=rs0").await?;
/// let strict = engine.with_transactions(TransactionMode::Always);
/// # Ok(()) }
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum TransactionMode {
    /// Use transactions when the deployment has them (replica sets, sharded clusters), and the
    /// non-transactional path with exact recovery on a standalone server.
    #[default]
    Auto,
    /// Always use transactions: on a deployment without them, a flush or `begin` fails with
    /// [`Error::TransactionsUnavailable`] before anything is sent.
    Always,
    /// Never use transactions: each flush writes without one (exact recovery on failure, but
    /// a flush that fails part way leaves what the server acknowledged written), and `begin`
    /// fails with [`Error::TransactionsUnavailable`].
    Never,
}

/// Connects to MongoDB. Any connection string the `mongodb` driver accepts works.
///
/// Parsing is checked here (a bad string is [`Error::InvalidUri`]); connecting happens on first
/// use, and an unreachable server surfaces then as [`Error::Connection`] after the
/// `serverSelectionTimeoutMS` of the connection string (30 s by default).
///
/// ```no_run
/// # async fn demo() -> mongotic::Result<()> {
/// let engine = mongotic::create_engine("mongodb://localhost:27017").await?;
/// # Ok(()) }
/// ```
pub async fn create_engine(uri: &str) -> Result<Engine> {
    let options = ClientOptions::parse(uri).await.map_err(|source| Error::InvalidUri { source })?;
    Engine::from_options(options)
}

impl Engine {
    /// An engine from driver options, e.g. to add a command event handler or tune the pool.
    ///
    /// ```no_run
    /// # async fn demo() -> mongotic::Result<()> {
    /// use mongotic::mongodb::options::ClientOptions;
    /// let mut options = ClientOptions::parse("mongodb://localhost:27017").await.unwrap();
    /// options.app_name = Some("billing".into());
    /// let engine = mongotic::Engine::from_options(options)?;
    /// # Ok(()) }
    /// ```
    pub fn from_options(mut options: ClientOptions) -> Result<Engine> {
        let default_database = options.default_database.as_deref().map(Arc::from);
        let auth = Arc::new(AuthWatch::default());
        auth.install(&mut options);
        let client = Client::with_options(options).map_err(Error::from_client_options)?;
        let mut engine = Engine::from_client(client);
        engine.default_database = default_database;
        engine.auth = auth;
        Ok(engine)
    }

    /// An engine sharing an existing driver client and its pool.
    ///
    /// ```no_run
    /// # async fn demo(client: mongotic::mongodb::Client) {
    /// let engine = mongotic::Engine::from_client(client);
    /// # }
    /// ```
    pub fn from_client(client: Client) -> Engine {
        let default_database = client.default_database().map(|db| Arc::from(db.name()));
        Engine {
            client,
            default_database,
            database_override: None,
            capabilities: Arc::default(),
            transactions: TransactionMode::Auto,
            retry: RetryPolicy::default(),
            auth: Arc::default(),
        }
    }

    /// The driver client, for anything mongotic does not cover.
    ///
    /// ```no_run
    /// # use mongotic::prelude::*;
    /// # #[derive(Debug, Clone, Serialize, Deserialize, Model)]
    /// # #[mongotic(database = "app", collection = "users")]
    /// # struct User { #[serde(rename = "_id")] id: Option<ObjectId>, name: String, age: Option<i32>, active: bool }
    /// # async fn demo(engine: mongotic::Engine) -> mongotic::Result<()> {
    /// let admin = engine.client().database("admin");
    /// # Ok(()) }
    /// ```
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// This engine with `name` as the database of models that declare none.
    ///
    /// ```no_run
    /// # async fn demo() -> mongotic::Result<()> {
    /// let engine = mongotic::create_engine("mongodb://localhost").await?.with_default_database("app");
    /// # Ok(()) }
    /// ```
    pub fn with_default_database(&self, name: &str) -> Engine {
        Engine { default_database: Some(Arc::from(name)), ..self.clone() }
    }

    /// This engine with every model in database `name`, whatever the model declares.
    ///
    /// ```no_run
    /// # async fn demo() -> mongotic::Result<()> {
    /// let engine = mongotic::create_engine("mongodb://localhost").await?.with_database("test_1234");
    /// # Ok(()) }
    /// ```
    pub fn with_database(&self, name: &str) -> Engine {
        Engine { database_override: Some(Arc::from(name)), ..self.clone() }
    }

    /// The database model `M` lives in.
    ///
    /// ```no_run
    /// # use mongotic::prelude::*;
    /// # #[derive(Debug, Serialize, Deserialize, Model)]
    /// # #[mongotic(database = "app", collection = "users")]
    /// # struct User { #[serde(rename = "_id")] #[mongotic(id)] id: i64 }
    /// # async fn demo(engine: mongotic::Engine) -> mongotic::Result<()> {
    /// assert_eq!(engine.database_for::<User>()?.name(), "app");
    /// # Ok(()) }
    /// ```
    pub fn database_for<M: Model>(&self) -> Result<Database> {
        Ok(self.client.database(self.database_name(M::meta())?))
    }

    /// The collection of model `M`, for direct driver access (typed as the model).
    ///
    /// ```no_run
    /// # use mongotic::prelude::*;
    /// # #[derive(Debug, Serialize, Deserialize, Model)]
    /// # #[mongotic(database = "app", collection = "users")]
    /// # struct User { #[serde(rename = "_id")] #[mongotic(id)] id: i64 }
    /// # async fn demo(engine: mongotic::Engine) -> mongotic::Result<()> {
    /// let users = engine.collection_for::<User>()?;
    /// assert_eq!(users.name(), "users");
    /// # Ok(()) }
    /// ```
    pub fn collection_for<M: Model>(&self) -> Result<Collection<M>> {
        Ok(self.database_for::<M>()?.collection(M::meta().collection))
    }

    pub(crate) fn database_name(&self, meta: &ModelMeta) -> Result<&str> {
        self.database_override
            .as_deref()
            .or(meta.database)
            .or(self.default_database.as_deref())
            .ok_or(Error::NoDatabase { model: meta.name })
    }

    /// The database a collection lives in when `declared` names the one asked for (or none):
    /// as for a model, the override wins, then the declared one, then the default.
    pub(crate) fn resolve_database(&self, declared: Option<&str>) -> Result<String> {
        self.database_override
            .as_deref()
            .or(declared)
            .or(self.default_database.as_deref())
            .map(str::to_owned)
            .ok_or(Error::NoDatabase { model: "Document" })
    }

    pub(crate) fn namespace(&self, meta: &ModelMeta) -> Result<Namespace> {
        Ok(Namespace::new(self.database_name(meta)?, meta.collection))
    }

    pub(crate) fn raw_collection(&self, namespace: &Namespace) -> Result<Collection<RawDocumentBuf>> {
        self.check_auth()?;
        Ok(self.client.database(&namespace.db).collection(&namespace.coll))
    }

    /// The database `name`, for commands the session builds itself.
    /// The write concern of a write outside a transaction, in wire form, when one is set:
    /// `options`', else the client's. The driver adds it to the commands it builds (`insert`,
    /// `bulkWrite`); the `update` and `delete` commands mongotic sends itself carry this (a
    /// raw command does not get it). Inside a transaction the commit carries it.
    pub(crate) fn wire_write_concern(&self, options: &crate::options::Options) -> Option<RawDocumentBuf> {
        let concern = options.write_concern.as_ref().or(self.client.write_concern())?;
        let concern = bson::to_raw_document_buf(concern).ok()?;
        (!concern.is_empty()).then_some(concern)
    }

    pub(crate) fn raw_database(&self, name: &str) -> Result<Database> {
        self.check_auth()?;
        Ok(self.client.database(name))
    }

    /// [`Error::Auth`] while the driver holds the servers' refusal of the client's credentials
    /// (see `AuthWatch`): every operation would wait out the server-selection timeout.
    pub(crate) fn check_auth(&self) -> Result<()> {
        match self.auth.refused() {
            Some(source) => Err(Error::Auth { source }),
            None => Ok(()),
        }
    }

    /// This engine with the client `bulkWrite` command turned on or off for flushes. It is on
    /// by default and used only when the server supports it (MongoDB 8.0+); turn it off for
    /// deployments that advertise 8.0 but do not accept it (some proxies), and a flush then
    /// sends one command per collection and kind of write.
    ///
    /// ```no_run
    /// # async fn demo() -> mongotic::Result<()> {
    /// let engine = mongotic::create_engine("mongodb://localhost").await?.with_client_bulk_write(false);
    /// # Ok(()) }
    /// ```
    pub fn with_client_bulk_write(&self, enabled: bool) -> Engine {
        let capabilities = Capabilities::default();
        if !enabled {
            capabilities.bulk_write.store(2, Ordering::Relaxed);
        }
        Engine { capabilities: Arc::new(capabilities), ..self.clone() }
    }

    /// `Some(false)` once the server has refused the client `bulkWrite` command.
    /// This engine with another [`TransactionMode`]: when sessions wrap their writes in a
    /// transaction. Sessions made from the returned engine use it; the connection pool is
    /// shared.
    ///
    /// ```no_run
    /// # async fn demo() -> mongotic::Result<()> {
    /// use mongotic::TransactionMode;
    ///
    /// let engine = mongotic::create_engine("mongodb://localhost").await?;
    /// let plain = engine.with_transactions(TransactionMode::Never);
    /// assert_eq!(plain.transaction_mode(), TransactionMode::Never);
    /// # Ok(()) }
    /// ```
    pub fn with_transactions(&self, mode: TransactionMode) -> Engine {
        Engine { transactions: mode, ..self.clone() }
    }

    /// The engine's [`TransactionMode`].
    ///
    /// ```no_run
    /// # async fn demo() -> mongotic::Result<()> {
    /// let engine = mongotic::create_engine("mongodb://localhost").await?;
    /// assert_eq!(engine.transaction_mode(), mongotic::TransactionMode::Auto);
    /// # Ok(()) }
    /// ```
    pub fn transaction_mode(&self) -> TransactionMode {
        self.transactions
    }

    /// The same engine with another [`RetryPolicy`]: how long the transactional flush, the
    /// commit of an explicit transaction and [`Session::transaction`](crate::Session::transaction)
    /// retry transient failures, and how long they wait between attempts. The default tries for
    /// two minutes, as the drivers' convenient transaction API does; a service that would
    /// rather fail fast says so once, here.
    ///
    /// ```no_run
    /// # async fn demo() -> mongotic::Result<()> {
    /// use std::time::Duration;
    /// use mongotic::RetryPolicy;
    ///
    /// let engine = mongotic::create_engine("mongodb://localhost:27017").await?
    ///     .with_retry_policy(RetryPolicy::default().with_limit(Duration::from_secs(2)));
    /// assert_eq!(engine.retry_policy().limit(), Duration::from_secs(2));
    /// # Ok(()) }
    /// ```
    pub fn with_retry_policy(&self, policy: RetryPolicy) -> Engine {
        Engine { retry: policy, ..self.clone() }
    }

    /// The retry policy of this engine (see [`Engine::with_retry_policy`]).
    ///
    /// ```no_run
    /// # async fn demo(engine: mongotic::Engine) {
    /// println!("retries for up to {:?}", engine.retry_policy().limit());
    /// # }
    /// ```
    pub fn retry_policy(&self) -> RetryPolicy {
        self.retry
    }

    /// Whether the deployment has multi-document transactions: a replica set or a sharded
    /// cluster (or a load balancer in front of one). Asked of the server once per engine with
    /// `hello` (the driver's own topology is not public) and remembered.
    ///
    /// ```no_run
    /// # async fn demo() -> mongotic::Result<()> {
    /// let engine = mongotic::create_engine("mongodb://localhost").await?;
    /// if engine.supports_transactions().await? {
    ///     println!("commits are atomic here");
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn supports_transactions(&self) -> Result<bool> {
        match self.capabilities.transactions.load(Ordering::Relaxed) {
            1 => return Ok(true),
            2 => return Ok(false),
            _ => {}
        }
        let hello = self
            .raw_database("admin")?
            .run_command(bson::doc! { "hello": 1 })
            .await
            .map_err(|err| Error::from_driver(err, "admin", None))?;
        let replica_set = hello.get_str("setName").is_ok();
        let router = hello.get_str("msg") == Ok("isdbgrid");
        let sessions = hello.contains_key("logicalSessionTimeoutMinutes");
        let supported = sessions && (replica_set || router);
        self.capabilities.transactions.store(if supported { 1 } else { 2 }, Ordering::Relaxed);
        Ok(supported)
    }

    /// Whether a flush should run in a transaction, per the mode and the deployment.
    pub(crate) async fn use_transactions(&self) -> Result<bool> {
        match self.transactions {
            TransactionMode::Never => Ok(false),
            TransactionMode::Auto => self.supports_transactions().await,
            TransactionMode::Always => {
                if self.supports_transactions().await? {
                    Ok(true)
                } else {
                    Err(Error::TransactionsUnavailable { reason: "the deployment is a standalone server" })
                }
            }
        }
    }

    pub(crate) fn bulk_write_supported(&self) -> Option<bool> {
        match self.capabilities.bulk_write.load(Ordering::Relaxed) {
            1 => Some(true),
            2 => Some(false),
            _ => None,
        }
    }

    pub(crate) fn set_bulk_write_supported(&self, supported: bool) {
        self.capabilities.bulk_write.store(if supported { 1 } else { 2 }, Ordering::Relaxed);
    }
}

/// One model or a tuple of models, for [`create_indexes`].
///
/// ```no_run
/// # use mongotic::prelude::*;
/// # #[derive(Debug, Clone, Serialize, Deserialize, Model)]
/// # #[mongotic(database = "app", collection = "users")]
/// # struct User { #[serde(rename = "_id")] id: Option<ObjectId>, name: String, age: Option<i32>, active: bool }
/// # async fn demo(engine: mongotic::Engine) -> mongotic::Result<()> {
/// create_indexes::<User>(&engine).await?;          // one model
/// # #[derive(Debug, Serialize, Deserialize, Model)]
/// # #[mongotic(database = "app", collection = "posts")]
/// # struct Post { #[serde(rename = "_id")] #[mongotic(id)] id: i64 }
/// create_indexes::<(User, Post)>(&engine).await?;  // a tuple of models
/// # Ok(()) }
/// ```
pub trait ModelSet {
    /// The models' metadata.
    fn metas() -> Vec<&'static ModelMeta>;
}

impl<M: Model> ModelSet for M {
    fn metas() -> Vec<&'static ModelMeta> {
        vec![M::meta()]
    }
}

macro_rules! tuple_model_set {
    ($($name:ident),+) => {
        impl<$($name: Model),+> ModelSet for ($($name,)+) {
            fn metas() -> Vec<&'static ModelMeta> {
                vec![$($name::meta()),+]
            }
        }
    };
}

tuple_model_set!(A);
tuple_model_set!(A, B);
tuple_model_set!(A, B, C);
tuple_model_set!(A, B, C, D);
tuple_model_set!(A, B, C, D, E);
tuple_model_set!(A, B, C, D, E, F);
tuple_model_set!(A, B, C, D, E, F, G);
tuple_model_set!(A, B, C, D, E, F, G, H);
tuple_model_set!(A, B, C, D, E, F, G, H, I);
tuple_model_set!(A, B, C, D, E, F, G, H, I, J);
tuple_model_set!(A, B, C, D, E, F, G, H, I, J, K);
tuple_model_set!(A, B, C, D, E, F, G, H, I, J, K, L);

/// Creates the indexes that the models declare, one `createIndexes` command per model with
/// indexes. Running it again is harmless: existing identical indexes are left alone. Returns
/// the names of the indexes, in declaration order.
///
/// ```no_run
/// # use mongotic::prelude::*;
/// # #[derive(Debug, Serialize, Deserialize, Model)]
/// # #[mongotic(database = "app", collection = "users")]
/// # struct User { #[serde(rename = "_id")] #[mongotic(id)] id: i64, #[mongotic(unique)] email: String }
/// # #[derive(Debug, Serialize, Deserialize, Model)]
/// # #[mongotic(database = "app", collection = "posts")]
/// # struct Post { #[serde(rename = "_id")] #[mongotic(id)] id: i64, #[mongotic(index)] author: i64 }
/// # async fn demo(engine: mongotic::Engine) -> mongotic::Result<()> {
/// create_indexes::<User>(&engine).await?;
/// create_indexes::<(User, Post)>(&engine).await?;
/// # Ok(()) }
/// ```
pub async fn create_indexes<S: ModelSet>(engine: &Engine) -> Result<Vec<String>> {
    let mut names = Vec::new();
    for meta in S::metas() {
        let shard_key = shard_key_index(meta);
        if meta.indexes.is_empty() && shard_key.is_none() {
            continue;
        }
        let namespace = engine.namespace(meta)?;
        let models = meta.indexes.iter().map(|index| index.to_index_model()).chain(shard_key);
        let created = engine
            .raw_collection(&namespace)?
            .create_indexes(models)
            .await
            .map_err(|err| Error::from_driver(err, &namespace.to_string(), None))?;
        names.extend(created.index_names);
    }
    Ok(names)
}

/// The index a sharded collection needs on its shard key (`{key: 1, ...}`), for a model whose
/// shard key is more than `_id`: `shardCollection` requires it. Named `shard_key`.
fn shard_key_index(meta: &ModelMeta) -> Option<mongodb::IndexModel> {
    if meta.shard_key.iter().all(|path| *path == "_id") {
        return None;
    }
    let keys: bson::Document = meta.shard_key.iter().map(|path| ((*path).to_owned(), bson::Bson::Int32(1))).collect();
    let options = mongodb::options::IndexOptions::builder().name("shard_key".to_owned()).build();
    Some(mongodb::IndexModel::builder().keys(keys).options(options).build())
}
