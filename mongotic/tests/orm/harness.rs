//! The runner of this test target (a custom harness, on `libtest-mimic`).
//!
//! Every test registers itself (with `test!`, or `scenario!` in `common.rs`) together with
//! what it needs of its environment: a [`Need`] list. Before running, `main` looks once at
//! what this environment offers, only for the tests the command line selected: which shared
//! servers there are, whether they answer `configureFailPoint`, whether a test may start a
//! server of its own. A test whose needs are not met is reported as ignored, never as
//! passed, and one line per reason says how many were skipped and why. With neither
//! `MONGODB_URI` nor `MONGODB_URI_STANDALONE` set every need is met by the project's own
//! servers, so nothing is skipped; a need those servers should meet and do not (a server
//! that does not start, or refuses a fail point) fails the tests that have it instead.
//!
//! Each test runs on a thread of its own, named after the test (the test database's name
//! comes from it), with a large stack; async tests on a runtime of their own, as
//! `#[tokio::test]` makes one. The usual options work: a name filter, `--exact`, `--skip`,
//! `--ignored`, `--include-ignored` (a test that cannot run here then fails, saying why),
//! `--test-threads` (or `RUST_TEST_THREADS`), `--list`. Output is not captured.

use std::cell::{Cell, OnceCell};
use std::collections::BTreeMap;
use std::fmt::Debug;
use std::future::Future;
use std::process::ExitCode;

use libtest_mimic::{Arguments, Failed, Trial};
use mongotic::bson::{Document, doc};
use mongotic::mongodb;
use mongotic_test_server::{Topology, try_uri_for};

/// What a test needs of its environment. The server a need is about is always one of the
/// project's (started for the run) unless the environment names another.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Need {
    /// The shared replica-set server, where flushes are transactions: the project's, or
    /// `MONGODB_URI` (a replica set or a sharded cluster).
    ReplicaSet,
    /// The shared standalone server, without transactions: the project's, or
    /// `MONGODB_URI_STANDALONE`; none when only `MONGODB_URI` is set.
    Standalone,
    /// The `failCommand` fail point: each shared server the test uses (its `ReplicaSet` or
    /// `Standalone` need) answers `configureFailPoint`, as the project's do and production
    /// MongoDB servers do not.
    FailPoints,
    /// The project's own test server, beyond the shared ones: a `DedicatedServer` to kill
    /// and restart, or a `FaultProxy` in front of the shared replica set (which is then on
    /// the loopback interface). Not when `MONGODB_URI` names the server to test.
    OwnServer,
}

/// A registered test: what `test!` and `scenario!` submit.
pub struct Test {
    /// `module_path!()` where it was registered.
    pub module: &'static str,
    /// The last segment of its name.
    pub name: &'static str,
    pub needs: &'static [Need],
    pub body: fn() -> Result<(), String>,
}

inventory::collect!(Test);

impl Test {
    /// The name as the standard harness would give it: the module path without the crate's
    /// name, then the test's.
    fn full_name(&self) -> String {
        match self.module.split_once("::") {
            Some((_, path)) => format!("{path}::{}", self.name),
            None => self.name.to_owned(),
        }
    }
}

/// Registers the test function `$name` with what it needs: `test!(name, needs = [...])` for a
/// plain function, `test!(async name, needs = [...])` for an async one (on a current-thread
/// runtime), `test!(async(workers = N) name, needs = [...])` on a multi-thread runtime of N
/// workers. The function returns `()` or a `Result<(), E: Debug>`.
macro_rules! test {
    ($name:ident, needs = [$($need:ident),* $(,)?]) => {
        register!(stringify!($name), [$($need),*], $crate::harness::Report::report($name()));
    };
    (async $name:ident, needs = [$($need:ident),* $(,)?]) => {
        register!(stringify!($name), [$($need),*], $crate::harness::Report::report($crate::harness::block_on($name())));
    };
    (async(workers = $workers:literal) $name:ident, needs = [$($need:ident),* $(,)?]) => {
        register!(
            stringify!($name),
            [$($need),*],
            $crate::harness::Report::report($crate::harness::block_on_workers($workers, $name()))
        );
    };
}

/// Submits a [`Test`] named `$name` in the current module whose body evaluates `$run` (a
/// `Result<(), String>`).
macro_rules! register {
    ($name:expr, [$($need:ident),*], $run:expr) => {
        inventory::submit! {
            $crate::harness::Test {
                module: module_path!(),
                name: $name,
                needs: &[$($crate::harness::Need::$need),*],
                body: {
                    fn run() -> Result<(), String> {
                        $run
                    }
                    run
                },
            }
        }
    };
}

/// What a test function returns, as the harness reports it.
pub trait Report {
    fn report(self) -> Result<(), String>;
}

impl Report for () {
    fn report(self) -> Result<(), String> {
        Ok(())
    }
}

impl<E: Debug> Report for Result<(), E> {
    fn report(self) -> Result<(), String> {
        self.map_err(|err| format!("Error: {err:?}"))
    }
}

/// Runs `future` to completion on a current-thread runtime of its own.
pub fn block_on<F: Future>(future: F) -> F::Output {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a tokio runtime");
    runtime.block_on(future)
}

/// Runs `future` to completion on a multi-thread runtime of its own with `workers` workers.
pub fn block_on_workers<F: Future>(workers: usize, future: F) -> F::Output {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    runtime.block_on(future)
}

thread_local! {
    /// The needs of the test whose thread this is.
    static DECLARED: Cell<Option<&'static [Need]>> = const { Cell::new(None) };
}

/// The needs declared by the test whose thread this is; `None` on other threads (those a
/// test starts itself, for one), where they cannot be known.
pub fn declared() -> Option<&'static [Need]> {
    DECLARED.with(Cell::get)
}

/// Panics unless the running test declared `need`: what a test uses it must declare, or it
/// would run, and fail, where the need is not met instead of being skipped. Checked on the
/// test's own thread only.
pub fn require(need: Need) {
    require_in(declared(), need);
}

/// [`require`] against the needs [`declared`] earlier.
pub fn require_in(needs: Option<&[Need]>, need: Need) {
    if let Some(needs) = needs {
        assert!(needs.contains(&need), "this test uses {need:?} without declaring it: add it to its needs");
    }
}

/// The topology need of a shared server.
pub fn topology_need(topology: Topology) -> Need {
    match topology {
        Topology::ReplicaSet => Need::ReplicaSet,
        Topology::Standalone => Need::Standalone,
    }
}

/// Stack of each test's thread: async bodies in debug builds are large.
const STACK_SIZE: usize = 16 * 1024 * 1024;

/// Whether a test can run here.
#[derive(Clone, Debug)]
enum Verdict {
    Met,
    /// The environment does not offer it: the test is ignored, for this reason.
    Unmet(String),
    /// It should be offered and is not: the test fails with this message.
    Broken(String),
}

/// A shared server of the run, found by the probe.
struct Server {
    /// Started by this process, rather than named by the environment.
    ours: bool,
    uri: String,
}

/// Looks at the environment, each part at most once and only when a selected test needs it.
struct Probe {
    runtime: tokio::runtime::Runtime,
    servers: [OnceCell<Result<Server, Verdict>>; 2],
    fail_points: [OnceCell<Verdict>; 2],
}

/// The variable naming the server of `topology` to test against.
fn variable(topology: Topology) -> &'static str {
    match topology {
        Topology::ReplicaSet => "MONGODB_URI",
        Topology::Standalone => "MONGODB_URI_STANDALONE",
    }
}

/// Set to something (as the test server reads the variables).
fn is_set(name: &str) -> bool {
    std::env::var(name).is_ok_and(|value| !value.trim().is_empty())
}

fn index(topology: Topology) -> usize {
    match topology {
        Topology::ReplicaSet => 0,
        Topology::Standalone => 1,
    }
}

fn describe(topology: Topology) -> &'static str {
    match topology {
        Topology::ReplicaSet => "replica-set",
        Topology::Standalone => "standalone",
    }
}

/// A server's answer to a command, shortened to what says why it failed.
fn short_error(err: &mongodb::error::Error) -> String {
    match &*err.kind {
        mongodb::error::ErrorKind::Command(command) => {
            format!("{} ({}): {}", command.code_name, command.code, command.message)
        }
        _ => err.to_string(),
    }
}

impl Probe {
    fn new() -> Probe {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a tokio runtime");
        Probe { runtime, servers: Default::default(), fail_points: Default::default() }
    }

    fn server(&self, topology: Topology) -> &Result<Server, Verdict> {
        self.servers[index(topology)].get_or_init(|| self.find_server(topology))
    }

    fn find_server(&self, topology: Topology) -> Result<Server, Verdict> {
        let what = describe(topology);
        let ours = !is_set(variable(topology));
        let uri = match try_uri_for(topology) {
            Ok(Some(uri)) => uri,
            Ok(None) => {
                return Err(Verdict::Unmet(format!(
                    "no {what} server (MONGODB_URI is set without MONGODB_URI_STANDALONE)"
                )));
            }
            Err(why) => return Err(Verdict::Broken(format!("the {what} test server is not there: {why}"))),
        };
        let source =
            if ours { format!("the project's {what} server") } else { format!("the server at {}", variable(topology)) };
        let hello = self.runtime.block_on(async {
            let client = mongodb::Client::with_uri_str(&uri).await?;
            let hello = client.database("admin").run_command(doc! { "hello": 1 }).await;
            client.shutdown().immediate(true).await;
            hello
        });
        let hello: Document = hello.map_err(|err| Verdict::Broken(format!("{source} does not answer: {err}")))?;
        let transactional = hello.contains_key("setName") || hello.get_str("msg") == Ok("isdbgrid");
        let wrong = match topology {
            Topology::ReplicaSet if !transactional => Some("is not a replica set (its hello names none)"),
            Topology::Standalone if transactional => Some("is not a standalone server (its hello names a replica set)"),
            _ => None,
        };
        match wrong {
            Some(wrong) if ours => Err(Verdict::Broken(format!("{source} {wrong}"))),
            Some(wrong) => Err(Verdict::Unmet(format!("{source} {wrong}"))),
            None => Ok(Server { ours, uri }),
        }
    }

    fn fail_points(&self, topology: Topology) -> &Verdict {
        self.fail_points[index(topology)].get_or_init(|| {
            let server = match self.server(topology) {
                Ok(server) => server,
                Err(verdict) => return verdict.clone(),
            };
            let answer = self.runtime.block_on(async {
                let client = mongodb::Client::with_uri_str(&server.uri).await?;
                let command = doc! { "configureFailPoint": "failCommand", "mode": "off" };
                let answer = client.database("admin").run_command(command).await;
                client.shutdown().immediate(true).await;
                answer
            });
            match answer {
                Ok(_) => Verdict::Met,
                Err(err) if server.ours => Verdict::Broken(format!(
                    "the project's {} server refuses configureFailPoint: {}",
                    describe(topology),
                    short_error(&err)
                )),
                Err(err) => Verdict::Unmet(format!(
                    "the {} server ({}) does not answer configureFailPoint: {}",
                    describe(topology),
                    variable(topology),
                    short_error(&err)
                )),
            }
        })
    }

    fn own_server(&self) -> Verdict {
        if is_set("MONGODB_URI") {
            Verdict::Unmet(
                "no server of their own (they start the project's test server to kill and restart it, or put a \
                 proxy in front of it, and MONGODB_URI names another server)"
                    .into(),
            )
        } else {
            Verdict::Met
        }
    }

    /// Whether a test with these needs can run: a broken need first, then an unmet one.
    fn verdict(&self, needs: &[Need]) -> Verdict {
        let topologies: Vec<Topology> =
            Topology::ALL.into_iter().filter(|topology| needs.contains(&topology_need(*topology))).collect();
        let mut verdicts = Vec::new();
        for topology in &topologies {
            verdicts.push(match self.server(*topology) {
                Ok(_) => Verdict::Met,
                Err(verdict) => verdict.clone(),
            });
        }
        if needs.contains(&Need::OwnServer) {
            verdicts.push(self.own_server());
        }
        if needs.contains(&Need::FailPoints) {
            assert!(!topologies.is_empty(), "FailPoints is about the shared servers a test uses: declare which");
            verdicts.extend(topologies.iter().map(|topology| self.fail_points(*topology).clone()));
        }
        let broken = verdicts.iter().find(|verdict| matches!(verdict, Verdict::Broken(_)));
        let unmet = verdicts.iter().find(|verdict| matches!(verdict, Verdict::Unmet(_)));
        broken.or(unmet).cloned().unwrap_or(Verdict::Met)
    }
}

/// Runs `test` on a thread named after it, and reports how it ended.
fn run_on_its_thread(name: String, test: &'static Test) -> Result<(), Failed> {
    let thread = std::thread::Builder::new().name(name).stack_size(STACK_SIZE).spawn(move || {
        DECLARED.with(|declared| declared.set(Some(test.needs)));
        (test.body)()
    });
    let thread = thread.map_err(|err| format!("cannot start the test's thread: {err}"))?;
    match thread.join() {
        Ok(result) => result.map_err(Failed::from),
        Err(payload) => {
            let message = payload
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| payload.downcast_ref::<&str>().copied())
                .unwrap_or("(a panic without a message)");
            Err(format!("test panicked: {message}").into())
        }
    }
}

/// The registered tests, by name; the names are unique.
fn registered() -> Vec<(String, &'static Test)> {
    let mut tests: Vec<(String, &'static Test)> =
        inventory::iter::<Test>.into_iter().map(|test| (test.full_name(), test)).collect();
    tests.sort_by(|a, b| a.0.cmp(&b.0));
    for pair in tests.windows(2) {
        assert_ne!(pair[0].0, pair[1].0, "two tests of one name");
    }
    tests
}

/// The test target's `main`.
pub fn main() -> ExitCode {
    let mut args = Arguments::from_args();
    if args.test_threads.is_none() {
        args.test_threads = std::env::var("RUST_TEST_THREADS").ok().and_then(|threads| threads.trim().parse().ok());
    }
    let tests = registered();

    // Which tests the command line selects, by name alone (`--ignored` aside: which tests
    // are ignored is what the probe is for).
    let by_name = Arguments { ignored: false, ..args.clone() };
    let selected = |name: &str| !by_name.is_filtered_out(&Trial::test(name.to_owned(), || Ok(())));
    // Listing needs no server, unless it is the list of ignored tests.
    let probe = (!args.list || args.ignored).then(Probe::new);

    let mut skipped: BTreeMap<String, usize> = BTreeMap::new();
    let mut trials = Vec::with_capacity(tests.len());
    for (name, test) in tests {
        let verdict = match &probe {
            Some(probe) if selected(&name) => probe.verdict(test.needs),
            _ => Verdict::Met,
        };
        let ignored = matches!(verdict, Verdict::Unmet(_));
        if let Verdict::Unmet(reason) = &verdict {
            *skipped.entry(reason.clone()).or_default() += 1;
        }
        let runner_name = name.clone();
        let trial = Trial::test(name, move || match verdict {
            Verdict::Met => run_on_its_thread(runner_name, test),
            Verdict::Unmet(reason) => Err(format!("cannot run here: {reason}").into()),
            Verdict::Broken(why) => Err(why.into()),
        });
        trials.push(trial.with_ignored_flag(ignored));
    }

    if !args.list && !args.ignored && !args.include_ignored {
        for (reason, count) in &skipped {
            let line = format!("skipped {count} test{}: {reason}", if *count == 1 { "" } else { "s" });
            if args.format == Some(libtest_mimic::FormatSetting::Json) {
                eprintln!("{line}");
            } else {
                println!("{line}");
            }
        }
    }
    drop(probe);
    libtest_mimic::run(&args, trials).exit_code()
}

test!(every_test_here_is_registered, needs = []);

/// A `#[test]` function in this target would never run (a custom harness does not collect
/// them) and nothing would say so: every test here is registered with `test!` instead.
fn every_test_here_is_registered() -> Result<(), String> {
    let folder = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/orm");
    let mut found = Vec::new();
    for entry in std::fs::read_dir(&folder).map_err(|err| format!("{}: {err}", folder.display()))? {
        let path = entry.map_err(|err| err.to_string())?.path();
        if path.extension().is_none_or(|extension| extension != "rs") {
            continue;
        }
        let text = std::fs::read_to_string(&path).map_err(|err| format!("{}: {err}", path.display()))?;
        for (line, code) in text.lines().enumerate() {
            let code = code.trim_start();
            if code.starts_with("#[test") || code.starts_with("#[tokio::test") {
                found.push(format!("{}:{}", path.display(), line + 1));
            }
        }
    }
    if found.is_empty() { Ok(()) } else { Err(format!("test attributes this harness never runs: {found:?}")) }
}
