//! Shared models, per-test contexts and the `scenario!` macro that runs one test body in both
//! the async and the blocking API, so their behaviour cannot drift apart.

use std::cell::RefCell;
use std::error::Error as StdError;
use std::sync::{Mutex, MutexGuard, PoisonError};

use mongotic::bson::{Bson, DateTime, Document, doc};
use mongotic::mongodb;
use mongotic::prelude::*;
use mongotic::{ModelSet, blocking};
use mongotic_test_server::{CommandLog, TestDb, Topology, client_options_for};

use crate::harness::{self, Need};

pub type TestResult = Result<(), Box<dyn StdError>>;

/// Registers `$body` as up to three tests: an async and a blocking one on the replica set
/// (where flushes are transactions), and an async one on the standalone server (where they
/// are not); `aw!(x)` is `x.await` or `x`, and each run gets a fresh context `$ctx` whose
/// `session()` is of its mode.
///
/// - `scenario!(name, |ctx| { ... })`: all three, each needing its server.
/// - `scenario!(name, needs = [FailPoints], |ctx| { ... })`: with more needs (see
///   [`Need`](crate::harness::Need)).
/// - `scenario!(name, on = [ReplicaSet], |ctx| { ... })`: on the topologies listed only
///   (`ReplicaSet`: the async and the blocking test; `Standalone`: the standalone one), for
///   what only one of them can show; `needs = [...]` may follow.
macro_rules! scenario {
    ($name:ident, |$ctx:ident| $body:block) => {
        scenario!(@module $name, [ReplicaSet, Standalone], [], |$ctx| $body);
    };
    ($name:ident, needs = $needs:tt, |$ctx:ident| $body:block) => {
        scenario!(@module $name, [ReplicaSet, Standalone], $needs, |$ctx| $body);
    };
    ($name:ident, on = $on:tt, |$ctx:ident| $body:block) => {
        scenario!(@module $name, $on, [], |$ctx| $body);
    };
    ($name:ident, on = $on:tt, needs = $needs:tt, |$ctx:ident| $body:block) => {
        scenario!(@module $name, $on, $needs, |$ctx| $body);
    };

    (@module $name:ident, [$($on:ident),+ $(,)?], $needs:tt, |$ctx:ident| $body:block) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            $(scenario!(@on $on, $needs, |$ctx| $body);)+
        }
    };

    (@on ReplicaSet, [$($need:ident),* $(,)?], |$ctx:ident| $body:block) => {
        async fn asynchronous() -> $crate::common::TestResult {
            #[allow(unused_macros)]
            macro_rules! aw {
                ($e:expr) => {
                    $e.await
                };
            }
            #[allow(unused_mut)]
            let mut $ctx = $crate::common::AsyncCtx::new().await;
            let () = $body;
            Ok(())
        }
        test!(async asynchronous, needs = [ReplicaSet $(, $need)*]);

        fn blocking() -> $crate::common::TestResult {
            #[allow(unused_macros)]
            macro_rules! aw {
                ($e:expr) => {
                    $e
                };
            }
            #[allow(unused_mut)]
            let mut $ctx = $crate::common::BlockingCtx::new();
            let () = $body;
            Ok(())
        }
        test!(blocking, needs = [ReplicaSet $(, $need)*]);
    };

    (@on Standalone, [$($need:ident),* $(,)?], |$ctx:ident| $body:block) => {
        async fn standalone() -> $crate::common::TestResult {
            #[allow(unused_macros)]
            macro_rules! aw {
                ($e:expr) => {
                    $e.await
                };
            }
            #[allow(unused_mut)]
            let mut $ctx = $crate::common::AsyncCtx::on(mongotic_test_server::Topology::Standalone).await;
            let () = $body;
            Ok(())
        }
        test!(async standalone, needs = [Standalone $(, $need)*]);
    };
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Embedded)]
pub struct Address {
    pub city: String,
    pub zip: Option<String>,
}

/// The seed's `User`, with the fields its snippets use.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Model)]
#[mongotic(database = "myapp", collection = "users")]
#[mongotic(index(keys(created_at = -1)))]
pub struct User {
    #[serde(rename = "_id", skip_serializing_if = "Option::is_none")]
    #[mongotic(id)]
    pub id: Option<ObjectId>,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[mongotic(unique, sparse)]
    pub email: Option<String>,
    #[serde(default)]
    pub age: Option<i32>,
    #[serde(default)]
    pub company: Option<String>,
    #[serde(default)]
    pub role: Option<String>,
    #[serde(default)]
    pub active: Option<bool>,
    #[serde(default)]
    pub address: Option<Address>,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub created_at: Option<DateTime>,
}

/// The seed's `User(name=..., email=..., age=...)`.
pub fn user(name: &str, email: &str, age: i32) -> User {
    User {
        id: None,
        name: name.into(),
        email: Some(email.into()),
        age: Some(age),
        company: None,
        role: None,
        active: None,
        address: None,
        tags: Vec::new(),
        created_at: None,
    }
}

impl User {
    pub fn at(mut self, company: &str) -> User {
        self.company = Some(company.into());
        self
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Model)]
#[mongotic(database = "myapp", collection = "posts")]
pub struct Post {
    #[serde(rename = "_id", skip_serializing_if = "Option::is_none")]
    #[mongotic(id)]
    pub id: Option<ObjectId>,
    #[mongotic(index)]
    pub title: String,
}

/// A model with a client-chosen id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Model)]
#[mongotic(database = "myapp", collection = "comments")]
pub struct Comment {
    #[serde(rename = "_id")]
    #[mongotic(id)]
    pub id: i64,
    pub body: String,
}

/// A model whose client-chosen id is optional (so it can be missing).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Model)]
#[mongotic(database = "myapp", collection = "accounts")]
pub struct Account {
    #[serde(rename = "_id", skip_serializing_if = "Option::is_none")]
    #[mongotic(id)]
    pub id: Option<String>,
    #[mongotic(unique)]
    pub login: String,
}

pub fn post(title: &str) -> Post {
    Post { id: None, title: title.into() }
}

/// The parts both contexts share: the test database, the command log and a raw client in a
/// runtime of the test's own for checking what is stored.
pub struct Raw {
    pub db: TestDb,
    pub log: CommandLog,
    pub topology: Topology,
    /// Held while this test uses the server's single `failCommand` fail point.
    fail_point: RefCell<Option<MutexGuard<'static, ()>>>,
    /// What the test declared it needs (when made on the test's own thread).
    needs: Option<&'static [Need]>,
}

/// The server has one `failCommand` fail point: tests that arm it take turns.
static FAIL_POINT: Mutex<()> = Mutex::new(());

impl Raw {
    /// The parts of a context on `topology`, which the running test must have declared.
    fn new(topology: Topology) -> Raw {
        let needs = harness::declared();
        harness::require_in(needs, harness::topology_need(topology));
        Raw { db: TestDb::new(), log: CommandLog::new(), topology, fail_point: RefCell::new(None), needs }
    }

    async fn options(&self, log: Option<&CommandLog>) -> mongodb::options::ClientOptions {
        client_options_for(self.topology, log)
            .await
            .expect("the harness runs a test only where the servers it needs are")
    }

    async fn client(&self) -> mongodb::Client {
        mongodb::Client::with_options(self.options(None).await).expect("raw client")
    }

    async fn collection<M: Model>(&self) -> mongodb::Collection<Document> {
        self.client().await.database(self.db.name()).collection(M::meta().collection)
    }

    async fn count<M: Model>(&self, filter: Document) -> u64 {
        self.collection::<M>().await.count_documents(filter).await.expect("raw count")
    }

    async fn find_one<M: Model>(&self, filter: Document) -> Option<Document> {
        self.collection::<M>().await.find_one(filter).await.expect("raw find_one")
    }

    async fn insert<M: Model>(&self, docs: Vec<Document>) {
        self.collection::<M>().await.insert_many(docs).await.expect("raw insert");
    }

    async fn update<M: Model>(&self, filter: Document, update: Document) {
        self.collection::<M>().await.update_many(filter, update).await.expect("raw update");
    }

    async fn index_names<M: Model>(&self) -> Vec<String> {
        let mut names = self.collection::<M>().await.list_index_names().await.unwrap_or_default();
        names.sort();
        names
    }

    /// The driver options of the engine under test: they record commands in the log and
    /// carry the test's own application name, which fail points are scoped to.
    pub async fn engine_options(&self) -> mongodb::options::ClientOptions {
        let mut options = self.options(Some(&self.log)).await;
        options.app_name = Some(self.db.name().to_owned());
        options
    }

    /// Arms the `failCommand` fail point for this test's engine only (fail points are
    /// server-wide; the application name keeps parallel tests apart): its next `times`
    /// commands named in `commands` fail with `error_code`, or lose their connection when
    /// `error_code` is `None`.
    async fn fail_commands(&self, commands: &[&str], error_code: Option<i32>, times: i32) {
        let mut data = doc! { "failCommands": commands };
        match error_code {
            Some(code) => data.insert("errorCode", code),
            None => data.insert("closeConnection", true),
        };
        self.fail_point(doc! { "times": times }, data).await;
    }

    /// Arms the `failCommand` fail point with any `mode` and `data` (see the server's
    /// documentation), scoped to this test's engine by its application name.
    async fn fail_point(&self, mode: impl Into<Bson>, mut data: Document) {
        let mode = mode.into();
        harness::require_in(self.needs, Need::FailPoints);
        if self.fail_point.borrow().is_none() {
            let turn = FAIL_POINT.lock().unwrap_or_else(PoisonError::into_inner);
            *self.fail_point.borrow_mut() = Some(turn);
        }
        data.insert("appName", self.db.name());
        self.client()
            .await
            .database("admin")
            .run_command(doc! { "configureFailPoint": "failCommand", "mode": mode, "data": data })
            .await
            .expect("configureFailPoint");
    }

    /// Turns the `failCommand` fail point off.
    async fn fail_off(&self) {
        harness::require_in(self.needs, Need::FailPoints);
        self.client()
            .await
            .database("admin")
            .run_command(doc! { "configureFailPoint": "failCommand", "mode": "off" })
            .await
            .expect("configureFailPoint off");
    }

    async fn delete<M: Model>(&self, filter: Document) {
        self.collection::<M>().await.delete_many(filter).await.expect("raw delete");
    }

    async fn find_all<M: Model>(&self) -> Vec<Document> {
        use futures::TryStreamExt;
        let cursor = self.collection::<M>().await.find(doc! {}).await.expect("raw find");
        cursor.try_collect().await.expect("raw find")
    }
}

/// The async context of a scenario.
pub struct AsyncCtx {
    pub engine: Engine,
    pub raw: Raw,
}

impl AsyncCtx {
    /// A context on the replica set (the default test server).
    pub async fn new() -> AsyncCtx {
        AsyncCtx::on(Topology::ReplicaSet).await
    }

    /// A context on `topology`, whose server the test must have declared it needs.
    pub async fn on(topology: Topology) -> AsyncCtx {
        let raw = Raw::new(topology);
        let engine = Engine::from_options(raw.engine_options().await).expect("engine").with_database(raw.db.name());
        AsyncCtx { engine, raw }
    }

    /// `true` when flushes run in transactions here (so each ends with `commitTransaction`).
    pub fn transactional(&self) -> bool {
        self.raw.topology == Topology::ReplicaSet
    }

    /// The commands of a flush that sends `writes`: with `commitTransaction` after them on a
    /// replica set.
    pub fn flush_commands(&self, writes: &[&str]) -> Vec<String> {
        flush_commands(self.transactional(), writes)
    }

    pub fn session(&self) -> Session {
        sessionmaker(&self.engine).session()
    }

    /// A session bound to `tenant`.
    pub fn tenant_session(&self, tenant: &str) -> Session {
        sessionmaker(&self.engine).for_tenant(tenant).session()
    }

    /// The async engine under test.
    pub fn async_engine(&self) -> Engine {
        self.engine.clone()
    }

    pub fn log(&self) -> &CommandLog {
        &self.raw.log
    }

    pub async fn create_indexes<S: ModelSet>(&self) -> mongotic::Result<Vec<String>> {
        create_indexes::<S>(&self.engine).await
    }

    pub async fn count<M: Model>(&self, filter: Document) -> u64 {
        self.raw.count::<M>(filter).await
    }

    pub async fn find_one<M: Model>(&self, filter: Document) -> Option<Document> {
        self.raw.find_one::<M>(filter).await
    }

    pub async fn insert<M: Model>(&self, docs: Vec<Document>) {
        self.raw.insert::<M>(docs).await
    }

    pub async fn update<M: Model>(&self, filter: Document, update: Document) {
        self.raw.update::<M>(filter, update).await
    }

    pub async fn index_names<M: Model>(&self) -> Vec<String> {
        self.raw.index_names::<M>().await
    }

    pub async fn fail_commands(&self, commands: &[&str], error_code: Option<i32>, times: i32) {
        self.raw.fail_commands(commands, error_code, times).await
    }

    pub async fn fail_point(&self, mode: impl Into<Bson>, data: Document) {
        self.raw.fail_point(mode, data).await
    }

    pub async fn delete<M: Model>(&self, filter: Document) {
        self.raw.delete::<M>(filter).await
    }

    pub async fn fail_off(&self) {
        self.raw.fail_off().await
    }

    pub async fn find_all<M: Model>(&self) -> Vec<Document> {
        self.raw.find_all::<M>().await
    }
}

/// The blocking context of a scenario: the same helpers, without `.await`.
pub struct BlockingCtx {
    pub engine: blocking::Engine,
    pub raw: Raw,
    runtime: tokio::runtime::Runtime,
}

impl BlockingCtx {
    pub fn new() -> BlockingCtx {
        let raw = Raw::new(Topology::ReplicaSet);
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        let options = runtime.block_on(raw.engine_options());
        let engine = blocking::Engine::from_options(options).expect("engine").with_database(raw.db.name());
        BlockingCtx { engine, raw, runtime }
    }

    pub fn session(&self) -> blocking::Session {
        blocking::sessionmaker(&self.engine).session()
    }

    /// A session bound to `tenant`.
    pub fn tenant_session(&self, tenant: &str) -> blocking::Session {
        blocking::sessionmaker(&self.engine).for_tenant(tenant).session()
    }

    /// The async engine inside the blocking one.
    pub fn async_engine(&self) -> Engine {
        self.engine.as_async().clone()
    }

    /// See [`AsyncCtx::transactional`].
    pub fn transactional(&self) -> bool {
        self.raw.topology == Topology::ReplicaSet
    }

    /// See [`AsyncCtx::flush_commands`].
    pub fn flush_commands(&self, writes: &[&str]) -> Vec<String> {
        flush_commands(self.transactional(), writes)
    }

    pub fn log(&self) -> &CommandLog {
        &self.raw.log
    }

    pub fn create_indexes<S: ModelSet>(&self) -> mongotic::Result<Vec<String>> {
        blocking::create_indexes::<S>(&self.engine)
    }

    pub fn count<M: Model>(&self, filter: Document) -> u64 {
        self.runtime.block_on(self.raw.count::<M>(filter))
    }

    pub fn find_one<M: Model>(&self, filter: Document) -> Option<Document> {
        self.runtime.block_on(self.raw.find_one::<M>(filter))
    }

    pub fn insert<M: Model>(&self, docs: Vec<Document>) {
        self.runtime.block_on(self.raw.insert::<M>(docs))
    }

    pub fn update<M: Model>(&self, filter: Document, update: Document) {
        self.runtime.block_on(self.raw.update::<M>(filter, update))
    }

    pub fn index_names<M: Model>(&self) -> Vec<String> {
        self.runtime.block_on(self.raw.index_names::<M>())
    }

    pub fn fail_commands(&self, commands: &[&str], error_code: Option<i32>, times: i32) {
        self.runtime.block_on(self.raw.fail_commands(commands, error_code, times))
    }

    pub fn fail_point(&self, mode: impl Into<Bson>, data: Document) {
        self.runtime.block_on(self.raw.fail_point(mode, data))
    }

    pub fn delete<M: Model>(&self, filter: Document) {
        self.runtime.block_on(self.raw.delete::<M>(filter))
    }

    pub fn fail_off(&self) {
        self.runtime.block_on(self.raw.fail_off())
    }

    pub fn find_all<M: Model>(&self) -> Vec<Document> {
        self.runtime.block_on(self.raw.find_all::<M>())
    }
}

fn flush_commands(transactional: bool, writes: &[&str]) -> Vec<String> {
    let mut names: Vec<String> = writes.iter().map(|name| (*name).to_owned()).collect();
    if transactional {
        names.push("commitTransaction".into());
    }
    names
}
