//! The `watchdog.py` process that runs a SecantusDB server on this process's behalf: starting
//! it, the line protocol on its stdin/stdout, and stopping it.

use std::fs::{self, File};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{OnceLock, mpsc};
use std::time::{Duration, Instant};

/// How long to wait for the server to answer after starting it.
pub(crate) const STARTUP_TIMEOUT: Duration = Duration::from_secs(180);

/// How the watchdog should run its server.
#[derive(Clone, Debug, Default)]
pub(crate) struct Flags {
    pub(crate) standalone: bool,
    pub(crate) sync_on_commit: bool,
    /// Commands (`KILL`, `START`) on stdin besides its end-of-file lifeline.
    pub(crate) control: bool,
    /// More flags for the server itself.
    pub(crate) server_args: Vec<String>,
}

/// A running watchdog. Its stdin is the lifeline: when it closes, because it is dropped or
/// because this process ended however it ended, the watchdog stops the server and deletes
/// its storage.
pub(crate) struct Watchdog {
    child: Child,
    stdin: Option<ChildStdin>,
    /// The watchdog's stdout, a line at a time, from a thread of its own so every wait for
    /// an answer can be bounded by a timeout.
    lines: mpsc::Receiver<std::io::Result<String>>,
}

impl Watchdog {
    /// Installs SecantusDB if needed and starts a watchdog running a server; returns it with
    /// the server's port once the server accepts connections.
    pub(crate) fn start(flags: Flags) -> Result<(Watchdog, u16), String> {
        let bin = install()?;
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("watchdog.py");
        let mut command = Command::new(bin.join("python"));
        command.arg(&script);
        if flags.standalone {
            command.arg("--standalone");
        }
        if flags.sync_on_commit {
            command.arg("--sync-on-commit");
        }
        if flags.control {
            command.arg("--control");
        }
        for arg in &flags.server_args {
            command.arg(format!("--server-arg={arg}"));
        }
        let mut child = command
            .arg(bin.join("secantusd-py"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|err| format!("cannot start {}: {err}", script.display()))?;
        let (stdin, stdout) = match (child.stdin.take(), child.stdout.take()) {
            (Some(stdin), Some(stdout)) => (stdin, stdout),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return Err("the watchdog has no stdin or stdout".to_string());
            }
        };
        let (sender, lines) = mpsc::channel();
        std::thread::spawn(move || {
            let mut stdout = BufReader::new(stdout);
            loop {
                let mut line = String::new();
                let result = match stdout.read_line(&mut line) {
                    Ok(0) => Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "the watchdog exited")),
                    Ok(_) => Ok(line),
                    Err(err) => Err(err),
                };
                let failed = result.is_err();
                // The receiver is gone once nobody waits for answers any more (the shared
                // servers keep only the lifeline): then there is no one to tell.
                if sender.send(result).is_err() || failed {
                    return;
                }
            }
        });
        let mut watchdog = Watchdog { child, stdin: Some(stdin), lines };
        match watchdog.answer(STARTUP_TIMEOUT).and_then(|line| ready_port(&line)) {
            Ok(port) => Ok((watchdog, port)),
            Err(message) => {
                // It may be stuck starting and not reading its stdin: do not wait for it.
                watchdog.stop(Duration::ZERO);
                Err(message)
            }
        }
    }

    /// Sends one command line and returns the answer line, trimmed.
    pub(crate) fn command(&mut self, command: &str, timeout: Duration) -> Result<String, String> {
        let stdin = self.stdin.as_mut().ok_or("the watchdog was stopped")?;
        stdin
            .write_all(format!("{command}\n").as_bytes())
            .and_then(|()| stdin.flush())
            .map_err(|err| format!("cannot send {command} to the watchdog: {err}"))?;
        self.answer(timeout)
    }

    /// The next line the watchdog prints, trimmed.
    fn answer(&mut self, timeout: Duration) -> Result<String, String> {
        match self.lines.recv_timeout(timeout) {
            Ok(Ok(line)) => Ok(line.trim().to_string()),
            Ok(Err(err)) => Err(format!("cannot read from the watchdog: {err}")),
            Err(mpsc::RecvTimeoutError::Timeout) => Err(format!("the watchdog did not answer within {timeout:?}")),
            Err(mpsc::RecvTimeoutError::Disconnected) => Err("the watchdog exited".to_string()),
        }
    }

    /// Splits off the lifeline and the process, for a server that lives as long as this
    /// process: nobody reads its answers any more.
    pub(crate) fn into_lifeline(mut self) -> (Child, Option<ChildStdin>) {
        (self.child, self.stdin.take())
    }

    /// Closes the lifeline and waits up to `grace` for the watchdog to stop the server and
    /// delete its storage; kills it after that (the server then dies with it, by
    /// PR_SET_PDEATHSIG, but its temporary directory stays behind).
    pub(crate) fn stop(&mut self, grace: Duration) {
        drop(self.stdin.take());
        let deadline = Instant::now() + grace;
        loop {
            match self.child.try_wait() {
                Ok(Some(_)) => return,
                Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
                _ => break,
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The port in a `READY <port>` answer; anything else is the watchdog saying why not.
pub(crate) fn ready_port(line: &str) -> Result<u16, String> {
    line.strip_prefix("READY ").and_then(|port| port.trim().parse::<u16>().ok()).ok_or_else(|| {
        match line.strip_prefix("FAILED ") {
            Some(why) => why.to_string(),
            None => format!("unexpected answer from the watchdog: {line:?}"),
        }
    })
}

fn workspace_root() -> PathBuf {
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    crate_dir.parent().unwrap_or(crate_dir).to_path_buf()
}

/// Installs SecantusDB if needed, once per process (every server started after the first
/// would only repeat the check), and returns the venv's directory of executables.
fn install() -> Result<PathBuf, String> {
    static INSTALLED: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    INSTALLED.get_or_init(install_now).clone()
}

/// Installs SecantusDB if needed (serialised across processes by a file lock) and returns
/// the venv's directory of executables.
fn install_now() -> Result<PathBuf, String> {
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

#[cfg(test)]
mod tests {
    use super::ready_port;

    #[test]
    fn ready_port_reads_the_port_or_the_reason() {
        assert_eq!(ready_port("READY 27017"), Ok(27017));
        assert_eq!(ready_port("FAILED no space left"), Err("no space left".to_string()));
        assert!(ready_port("KILLED").is_err());
        assert!(ready_port("READY port").is_err());
    }
}
