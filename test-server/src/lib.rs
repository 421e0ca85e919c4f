//! The real MongoDB-compatible server that mongotic's tests, examples and benchmarks run
//! against, and the helpers they share. Not part of the library.
//!
//! - [`uri`]: `MONGODB_URI` when it is set; otherwise the connection string of a SecantusDB
//!   server started once per process. The pinned SecantusDB is installed on first use into
//!   the project's git-ignored `.mongotic/venv` by `scripts/install-test-server.sh`. The
//!   server runs under `watchdog.py`, which stops it and deletes its temporary storage when
//!   this process ends, however it ends.
//! - [`TestDb`]: a database name of one's own per test, dropped afterwards.
//! - [`CommandLog`]: the commands a client sends, from the driver's command monitoring, so
//!   tests can count round trips.

use std::fs::{self, File};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use mongodb::bson::Document;
use mongodb::event::EventHandler;
use mongodb::event::command::CommandEvent;
use mongodb::options::ClientOptions;

/// How long to wait for the server to answer after starting it.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(180);

/// A server this process started. Never dropped: the pipe to the watchdog closes when the
/// process exits, which is the watchdog's signal to clean up.
struct Started {
    uri: String,
    _watchdog: Child,
    _lifeline: ChildStdin,
}

static SERVER: OnceLock<Result<Started, String>> = OnceLock::new();

/// The connection string of the server to test against. Starts the test server on first
/// call unless `MONGODB_URI` is set.
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
    if let Ok(uri) = std::env::var("MONGODB_URI")
        && !uri.trim().is_empty()
    {
        return Ok(uri);
    }
    match SERVER.get_or_init(start) {
        Ok(started) => Ok(started.uri.clone()),
        Err(message) => Err(message.clone()),
    }
}

fn workspace_root() -> PathBuf {
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    crate_dir.parent().unwrap_or(crate_dir).to_path_buf()
}

/// Installs SecantusDB if needed (serialised across processes by a file lock) and returns
/// the venv's directory of executables.
fn install() -> Result<PathBuf, String> {
    let root = workspace_root();
    let state_dir = root.join(".mongotic");
    fs::create_dir_all(&state_dir).map_err(|err| format!("cannot create {}: {err}", state_dir.display()))?;
    let lock_path = state_dir.join("install.lock");
    let lock = File::create(&lock_path).map_err(|err| format!("cannot open {}: {err}", lock_path.display()))?;
    lock.lock().map_err(|err| format!("cannot lock {}: {err}", lock_path.display()))?;
    let script = root.join("scripts").join("install-test-server.sh");
    let status = Command::new("sh")
        .arg(&script)
        .stdout(Stdio::inherit())
        .stderr(Stdio::inherit())
        .status()
        .map_err(|err| format!("cannot run {}: {err}", script.display()))?;
    drop(lock);
    if !status.success() {
        return Err(format!("{} failed ({status}); is python3 with venv available?", script.display()));
    }
    Ok(state_dir.join("venv").join("bin"))
}

fn start() -> Result<Started, String> {
    let bin = install()?;
    let watchdog = Path::new(env!("CARGO_MANIFEST_DIR")).join("watchdog.py");
    let mut child = Command::new(bin.join("python"))
        .arg(&watchdog)
        .arg(bin.join("secantusd-py"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|err| format!("cannot start {}: {err}", watchdog.display()))?;
    let lifeline = child.stdin.take().ok_or("the watchdog has no stdin")?;
    let stdout = child.stdout.take().ok_or("the watchdog has no stdout")?;

    // Read the first line on a thread so a stuck start is bounded by a timeout.
    let (sender, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let result = BufReader::new(stdout).read_line(&mut line).map(|_| line);
        let _ = sender.send(result);
    });
    let line = match receiver.recv_timeout(STARTUP_TIMEOUT) {
        Ok(Ok(line)) => line,
        Ok(Err(err)) => return Err(format!("cannot read from the watchdog: {err}")),
        Err(_) => {
            let _ = child.kill();
            return Err(format!("the server did not start within {STARTUP_TIMEOUT:?}"));
        }
    };
    let port = line
        .trim()
        .strip_prefix("READY ")
        .and_then(|port| port.parse::<u16>().ok())
        .ok_or_else(|| format!("the server did not start: {}", line.trim()))?;
    Ok(Started {
        uri: format!("mongodb://127.0.0.1:{port}/?directConnection=true"),
        _watchdog: child,
        _lifeline: lifeline,
    })
}

static NEXT_DB: AtomicU64 = AtomicU64::new(0);

/// A database name of a test's own, dropped when the value is dropped (also when the test
/// panics).
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
        let Ok(uri) = try_uri() else { return };
        let dropper = std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread().enable_all().build() else { return };
            runtime.block_on(async move {
                if let Ok(client) = mongodb::Client::with_uri_str(&uri).await {
                    let _ = client.database(&name).drop().await;
                    client.shutdown().immediate(true).await;
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
pub async fn client_options(log: Option<&CommandLog>) -> ClientOptions {
    let uri = uri();
    let mut options = match ClientOptions::parse(&uri).await {
        Ok(options) => options,
        Err(err) => panic!("cannot parse the test server's URI {uri}: {err}"),
    };
    if let Some(log) = log {
        options.command_event_handler = Some(log.handler());
    }
    options
}
