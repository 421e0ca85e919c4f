//! The real MongoDB-compatible server that mongotic's tests, examples and benchmarks run
//! against, and the helpers they share. Not part of the library.
//!
//! - [`uri`]: `MONGODB_URI` when it is set; otherwise the connection string of a SecantusDB
//!   server started once per process. The pinned SecantusDB is installed on first use into
//!   the project's git-ignored `.mongotic/venv` by `scripts/install-test-server.sh`. The
//!   server runs under `watchdog.py`, which stops it and deletes its temporary storage when
//!   this process ends, however it ends.
//! - [`uri_for`]: the same for either [`Topology`]: the replica-set server of [`uri`], or a
//!   standalone one (no transactions), also started once per process.
//! - [`DedicatedServer`]: a server of a test's own that it can kill and restart, for crash
//!   tests.
//! - [`FaultProxy`]: a proxy in front of a server that loses a chosen command's request or
//!   reply, for network-failure tests.
//! - [`TestDb`]: a database name of one's own per test, dropped afterwards.
//! - [`CommandLog`]: the commands a client sends, from the driver's command monitoring, so
//!   tests can count round trips.

mod dedicated;
mod proxy;
mod watchdog;

use std::process::{Child, ChildStdin};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use mongodb::bson::Document;
use mongodb::event::EventHandler;
use mongodb::event::command::CommandEvent;
use mongodb::options::ClientOptions;

pub use dedicated::DedicatedServer;
pub use proxy::FaultProxy;

use watchdog::{Flags, Watchdog};

/// The two server topologies mongotic supports, which behave differently: a replica set
/// (even of one node) runs transactions and change streams, a standalone server refuses
/// them.
///
/// ```no_run
/// use mongotic_test_server::{Topology, uri_for};
///
/// for topology in Topology::ALL {
///     let Some(uri) = uri_for(topology) else { continue }; // not configured: skip it
///     println!("{topology:?}: {uri}");
/// }
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Topology {
    /// A single-node replica set (SecantusDB's default): transactions work.
    ReplicaSet,
    /// A standalone server: no transactions.
    Standalone,
}

impl Topology {
    /// Both topologies, replica set first.
    pub const ALL: [Topology; 2] = [Topology::ReplicaSet, Topology::Standalone];
}

/// A server this process started. Never dropped: the pipe to the watchdog closes when the
/// process exits, which is the watchdog's signal to clean up.
struct Started {
    uri: String,
    _watchdog: Child,
    _lifeline: Option<ChildStdin>,
}

static REPLICA_SET: OnceLock<Result<Started, String>> = OnceLock::new();
static STANDALONE: OnceLock<Result<Started, String>> = OnceLock::new();

/// The connection string of the server to test against. Starts the test server on first
/// call unless `MONGODB_URI` is set.
///
/// The replica-set server of [`uri_for`].
///
/// ```no_run
/// # async fn example() -> mongodb::error::Result<()> {
/// let client = mongodb::Client::with_uri_str(mongotic_test_server::uri()).await?;
/// # Ok(())
/// # }
/// ```
///
/// # Panics
///
/// When the server cannot be installed or started; the message says why.
pub fn uri() -> String {
    match try_uri() {
        Ok(uri) => uri,
        Err(message) => panic!("mongotic test server: {message}"),
    }
}

/// [`uri`], as a `Result`.
pub fn try_uri() -> Result<String, String> {
    match env_uri("MONGODB_URI") {
        Some(uri) => Ok(uri),
        None => shared(Topology::ReplicaSet),
    }
}

/// The connection string of a server of the given topology, shared by the whole process;
/// `None` when the environment names a server for the other topology only: tests of this
/// one cannot run, and should be reported as skipped (an ignored test), not as passed.
///
/// - Neither `MONGODB_URI` nor `MONGODB_URI_STANDALONE` set (the usual case): a SecantusDB
///   server of that topology is started on first call, once per process, under the same
///   watchdog as [`uri`].
/// - `MONGODB_URI` set: it is the replica-set server. The standalone one is
///   `MONGODB_URI_STANDALONE`, or `None` without it: a server one did not start is not
///   supplemented with one that one did.
/// - `MONGODB_URI_STANDALONE` set alone: it is the standalone server; the replica set is
///   started.
///
/// ```no_run
/// use mongotic_test_server::{Topology, uri_for};
///
/// match uri_for(Topology::Standalone) {
///     Some(uri) => println!("standalone server: {uri}"),
///     None => println!("no standalone server: its tests are to be reported as skipped"),
/// }
/// ```
///
/// # Panics
///
/// When the server cannot be installed or started; the message says why.
pub fn uri_for(topology: Topology) -> Option<String> {
    match try_uri_for(topology) {
        Ok(uri) => uri,
        Err(message) => panic!("mongotic test server ({topology:?}): {message}"),
    }
}

/// [`uri_for`], as a `Result`.
pub fn try_uri_for(topology: Topology) -> Result<Option<String>, String> {
    match topology {
        // Never skipped: without `MONGODB_URI` this process starts it.
        Topology::ReplicaSet => try_uri().map(Some),
        Topology::Standalone => match standalone_source() {
            Source::Configured(uri) => Ok(Some(uri)),
            Source::Start => shared(Topology::Standalone).map(Some),
            Source::Skip => Ok(None),
        },
    }
}

/// Where the standalone server comes from.
#[derive(Debug, PartialEq, Eq)]
enum Source {
    /// The environment names it.
    Configured(String),
    /// This process starts it.
    Start,
    /// None: the environment names a replica-set server only.
    Skip,
}

fn standalone_source() -> Source {
    source_from(env_uri("MONGODB_URI"), env_uri("MONGODB_URI_STANDALONE"))
}

/// [`standalone_source`] given the two variables, as [`uri_for`] documents it; apart from
/// reading the environment so it can be tested without changing it.
fn source_from(replica_set: Option<String>, standalone: Option<String>) -> Source {
    match (replica_set, standalone) {
        (_, Some(uri)) => Source::Configured(uri),
        (None, None) => Source::Start,
        (Some(_), None) => Source::Skip,
    }
}

/// The variable's value, when it is set to something.
fn env_uri(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|uri| !uri.trim().is_empty())
}

/// The shared server of a topology, started on first use.
fn shared(topology: Topology) -> Result<String, String> {
    let cell = match topology {
        Topology::ReplicaSet => &REPLICA_SET,
        Topology::Standalone => &STANDALONE,
    };
    match cell.get_or_init(|| start(topology)) {
        Ok(started) => Ok(started.uri.clone()),
        Err(message) => Err(message.clone()),
    }
}

fn start(topology: Topology) -> Result<Started, String> {
    // Without --sync-on-commit: these servers are not crashed, and fsyncs would slow every
    // test down.
    let flags = Flags { standalone: topology == Topology::Standalone, ..Flags::default() };
    let (watchdog, port) = Watchdog::start(flags)?;
    let (child, lifeline) = watchdog.into_lifeline();
    Ok(Started {
        uri: format!("mongodb://127.0.0.1:{port}/?directConnection=true"),
        _watchdog: child,
        _lifeline: lifeline,
    })
}

/// The servers this process uses so far: the replica set's (started if need be, as it
/// always was), and the standalone one's if it was started or configured.
fn uris_in_use() -> Vec<String> {
    let mut uris: Vec<String> = try_uri().ok().into_iter().collect();
    let standalone = match standalone_source() {
        Source::Configured(uri) => Some(uri),
        Source::Start => STANDALONE.get().and_then(|started| started.as_ref().ok()).map(|started| started.uri.clone()),
        Source::Skip => None,
    };
    uris.extend(standalone);
    uris
}

static NEXT_DB: AtomicU64 = AtomicU64::new(0);

/// A database name of a test's own, dropped when the value is dropped (also when the test
/// panics), on every shared server in use: the replica set's, and the standalone one's
/// once that is in use too.
pub struct TestDb {
    name: String,
}

impl TestDb {
    /// A fresh, unique database name derived from the running test's name.
    pub fn new() -> TestDb {
        let thread = std::thread::current();
        let test = thread.name().unwrap_or("test");
        // The last two path segments name the test well ("seed_querying::blocking").
        let tail: Vec<&str> = test.rsplit("::").take(2).collect();
        let short: String = tail
            .iter()
            .rev()
            .copied()
            .collect::<Vec<_>>()
            .join("_")
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .take(40)
            .collect();
        let serial = NEXT_DB.fetch_add(1, Ordering::Relaxed);
        TestDb { name: format!("mt_{short}_{}_{serial}", std::process::id()) }
    }

    /// The database name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Default for TestDb {
    fn default() -> Self {
        TestDb::new()
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        // A fresh client on a thread of its own: the test's runtime may be shutting down or
        // blocked in this very call, so it cannot be used here.
        let name = self.name.clone();
        let uris = uris_in_use();
        let dropper = std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread().enable_all().build() else { return };
            runtime.block_on(async move {
                for uri in uris {
                    if let Ok(client) = mongodb::Client::with_uri_str(&uri).await {
                        let _ = client.database(&name).drop().await;
                        client.shutdown().immediate(true).await;
                    }
                }
            });
        });
        let _ = dropper.join();
    }
}

/// The commands a client sent, recorded by the driver's command monitoring.
#[derive(Clone, Default)]
pub struct CommandLog {
    started: Arc<Mutex<Vec<(String, Document)>>>,
}

/// Commands the driver sends on its own (connection handshakes, session cleanup); not
/// counted as the application's round trips.
const DRIVER_COMMANDS: &[&str] =
    &["hello", "isMaster", "ismaster", "endSessions", "saslStart", "saslContinue", "buildInfo"];

impl CommandLog {
    /// An empty log.
    pub fn new() -> CommandLog {
        CommandLog::default()
    }

    /// The handler to put in `ClientOptions::command_event_handler`.
    pub fn handler(&self) -> EventHandler<CommandEvent> {
        let started = self.started.clone();
        EventHandler::callback(move |event| {
            if let CommandEvent::Started(event) = event
                && !DRIVER_COMMANDS.contains(&event.command_name.as_str())
                && let Ok(mut started) = started.lock()
            {
                started.push((event.command_name, event.command));
            }
        })
    }

    /// Forgets what was recorded so far.
    pub fn clear(&self) {
        if let Ok(mut started) = self.started.lock() {
            started.clear();
        }
    }

    /// The names of the commands sent, in order.
    pub fn names(&self) -> Vec<String> {
        self.started.lock().map(|started| started.iter().map(|(name, _)| name.clone()).collect()).unwrap_or_default()
    }

    /// How many commands were sent.
    pub fn len(&self) -> usize {
        self.started.lock().map(|started| started.len()).unwrap_or_default()
    }

    /// `true` when no command was sent.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// How many commands named `name` were sent.
    pub fn count(&self, name: &str) -> usize {
        self.started.lock().map(|started| started.iter().filter(|(n, _)| n == name).count()).unwrap_or_default()
    }

    /// The bodies of the commands named `name`, in order.
    pub fn commands(&self, name: &str) -> Vec<Document> {
        self.started
            .lock()
            .map(|started| started.iter().filter(|(n, _)| n == name).map(|(_, body)| body.clone()).collect())
            .unwrap_or_default()
    }
}

/// Driver options for the test server, recording commands in `log` when given.
///
/// The replica-set server's: [`client_options_for`] with [`Topology::ReplicaSet`].
///
/// # Panics
///
/// When the server cannot be started or its URI parsed.
pub async fn client_options(log: Option<&CommandLog>) -> ClientOptions {
    options_for_uri(&uri(), log).await
}

/// Driver options for the shared server of `topology`, recording commands in `log` when
/// given; `None` when the environment names no server of that topology (see [`uri_for`]).
///
/// ```no_run
/// use mongotic_test_server::{CommandLog, Topology, client_options_for};
///
/// # async fn example() -> Result<(), Box<dyn std::error::Error>> {
/// let log = CommandLog::new();
/// let options = client_options_for(Topology::Standalone, Some(&log)).await.ok_or("no standalone server")?;
/// let client = mongodb::Client::with_options(options)?;
/// # Ok(())
/// # }
/// ```
///
/// # Panics
///
/// When the server cannot be started or its URI parsed.
pub async fn client_options_for(topology: Topology, log: Option<&CommandLog>) -> Option<ClientOptions> {
    let uri = uri_for(topology)?;
    Some(options_for_uri(&uri, log).await)
}

async fn options_for_uri(uri: &str, log: Option<&CommandLog>) -> ClientOptions {
    let mut options = match ClientOptions::parse(uri).await {
        Ok(options) => options,
        Err(err) => panic!("cannot parse the test server's URI {uri}: {err}"),
    };
    if let Some(log) = log {
        options.command_event_handler = Some(log.handler());
    }
    options
}

#[cfg(test)]
mod tests {
    use super::{Source, source_from};

    fn some(uri: &str) -> Option<String> {
        Some(uri.to_string())
    }

    #[test]
    fn standalone_is_started_when_the_environment_names_no_server() {
        assert_eq!(source_from(None, None), Source::Start);
    }

    #[test]
    fn standalone_is_skipped_when_only_mongodb_uri_is_set() {
        assert_eq!(source_from(some("mongodb://rs"), None), Source::Skip);
    }

    #[test]
    fn mongodb_uri_standalone_is_the_standalone_server() {
        let single = Source::Configured("mongodb://single".to_string());
        assert_eq!(source_from(some("mongodb://rs"), some("mongodb://single")), single);
        assert_eq!(source_from(None, some("mongodb://single")), single);
    }
}
