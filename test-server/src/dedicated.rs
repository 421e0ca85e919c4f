//! A server of a test's own, which the test can crash and restart.

use std::fmt;
use std::time::Duration;

use crate::Topology;
use crate::watchdog::{Flags, Watchdog, ready_port};

/// How long a kill may take: SIGKILL and reaping are immediate, so this only bounds a stuck
/// watchdog.
const KILL_TIMEOUT: Duration = Duration::from_secs(30);

/// How long a restart may take, retries on a port still held included (the watchdog gives
/// up on those after 60 s and says so).
const RESTART_TIMEOUT: Duration = Duration::from_secs(120);

/// How long dropping waits for the watchdog to kill the server and delete its storage
/// (well under a second); only a stuck watchdog takes longer, and is then killed itself.
const STOP_GRACE: Duration = Duration::from_secs(30);

/// A SecantusDB server of its own, for tests that crash the server: [`kill`](Self::kill)
/// SIGKILLs it, [`restart`](Self::restart) starts it again on the same storage and port, so
/// a driver client made before the crash reconnects to the same address.
///
/// It runs with `--sync-on-commit` (acknowledged writes are fsynced, so they survive the
/// kill) and `--enable-test-commands` (`configureFailPoint`). Unlike [`uri`](crate::uri) it
/// ignores `MONGODB_URI`: crashing a server one did not start is not on offer.
///
/// Like the shared servers it runs under `watchdog.py`: dropping it stops the server and
/// deletes its storage, and so does this process ending in any other way.
///
/// ```no_run
/// use mongotic_test_server::{DedicatedServer, Topology};
///
/// # fn main() -> Result<(), String> {
/// let mut server = DedicatedServer::start(Topology::ReplicaSet)?;
/// let uri = server.uri(); // connect a client here and write something
/// server.kill()?; // a crash: the client's operations now fail
/// server.restart()?; // same port, same data: the client works again
/// # Ok(())
/// # }
/// ```
pub struct DedicatedServer {
    watchdog: Watchdog,
    topology: Topology,
    port: u16,
}

impl DedicatedServer {
    /// Starts a server of the given topology on a free loopback port, with empty storage in
    /// a fresh temporary directory. Returns once it accepts connections (about a second).
    pub fn start(topology: Topology) -> Result<DedicatedServer, String> {
        DedicatedServer::start_with(topology, &[])
    }

    /// Like [`start`](Self::start), with more flags for the server (see `secantusd-py
    /// --help`): `["--oplog-max-entries", "50"]` for a short oplog, say. They apply to every
    /// restart too.
    pub fn start_with(topology: Topology, server_args: &[&str]) -> Result<DedicatedServer, String> {
        let flags = Flags {
            standalone: topology == Topology::Standalone,
            sync_on_commit: true,
            control: true,
            server_args: server_args.iter().map(|arg| (*arg).to_owned()).collect(),
        };
        let (watchdog, port) = Watchdog::start(flags)?;
        Ok(DedicatedServer { watchdog, topology, port })
    }

    /// The topology the server advertises.
    pub fn topology(&self) -> Topology {
        self.topology
    }

    /// The loopback port the server listens on; the same after a restart.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The server's connection string, `mongodb://127.0.0.1:PORT/?directConnection=true`.
    pub fn uri(&self) -> String {
        format!("mongodb://127.0.0.1:{}/?directConnection=true", self.port)
    }

    /// Kills the server with SIGKILL, as a crash would, and returns once it is dead: its
    /// port no longer accepts connections and every open connection is gone. Killing a
    /// server that is already dead does nothing.
    pub fn kill(&mut self) -> Result<(), String> {
        let answer = self.watchdog.command("KILL", KILL_TIMEOUT)?;
        if answer == "KILLED" { Ok(()) } else { Err(format!("the server was not killed: {answer}")) }
    }

    /// Starts the server again after [`kill`](Self::kill), on the same storage and the same
    /// port, and returns once it accepts connections. The port may be held briefly after the
    /// kill; the watchdog retries until it is free. Restarting a running server does
    /// nothing.
    pub fn restart(&mut self) -> Result<(), String> {
        let answer = self.watchdog.command("START", RESTART_TIMEOUT)?;
        let port = ready_port(&answer).map_err(|why| format!("the server did not restart: {why}"))?;
        if port == self.port {
            Ok(())
        } else {
            // The watchdog never moves the server; a different port would strand every
            // client that knows the old address.
            Err(format!("the server restarted on port {port} instead of {}", self.port))
        }
    }
}

impl Drop for DedicatedServer {
    fn drop(&mut self) {
        self.watchdog.stop(STOP_GRACE);
    }
}

impl fmt::Debug for DedicatedServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DedicatedServer").field("topology", &self.topology).field("port", &self.port).finish()
    }
}
