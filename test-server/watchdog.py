"""Runs one SecantusDB server for one test process, and cleans up after it.

Usage: python watchdog.py [--standalone] [--sync-on-commit] [--control] [--server-arg=ARG ...]
       SECANTUSD_EXECUTABLE

Starts the server on a free loopback port with storage in a fresh temporary directory,
waits until it accepts connections, prints "READY <port>" on stdout, then waits for its
standard input to close. The test process holds the other end of that pipe and never closes
it on purpose: the kernel closes it when the process ends, however it ends. The watchdog
then kills the server and deletes the directory, so no process or data outlives the tests.
If the watchdog itself is killed, the server gets SIGKILL from the kernel (PR_SET_PDEATHSIG).

Options:
  --standalone      the server advertises a standalone topology instead of a single-node
                    replica set (no transactions, no change streams).
  --sync-on-commit  the server fsyncs its log on every commit, so acknowledged writes
                    survive the server being killed.
  --server-arg=ARG  one more argument for the server (repeatable, in order), for every
                    start and restart.
  --control         standard input also carries commands, one per line, each answered
                    with one line on stdout:
                      KILL   SIGKILL the server (a crash) and reap it -> "KILLED"
                      START  start it again on the same port and storage, once it accepts
                             connections -> "READY <port>" (or "FAILED <why>")
                    Anything else is answered with "ERROR <why>". End of input still means
                    kill the server, delete its storage and exit.

Stdout carries only these answers, one line each; the server's own output goes to a log
file in the temporary directory, whose tail is quoted when it fails to start.
"""

import argparse
import ctypes
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

STARTUP_SECONDS = 90
ATTEMPTS = 3
# How long START keeps retrying while the old port is still held (a socket of the killed
# server lingering in the kernel, or another process borrowing it as an ephemeral port).
RESTART_SECONDS = 60
RESTART_RETRY_SECONDS = 0.2


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def die_with_parent():
    """In the server process: ask the kernel to kill it when the watchdog dies."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def accepting(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def stop(proc):
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def crash(proc):
    """SIGKILL, as a crash would: the server gets no chance to flush or close anything."""
    if proc is None or proc.poll() is not None:
        return
    proc.kill()
    proc.wait()


def answer(line):
    print(line, flush=True)


def one_line(text):
    """The reader takes one line per answer, so a quoted log must not break it."""
    return text.strip().replace("\n", " | ")


class Server:
    """One server process, restartable on the same port and storage."""

    def __init__(self, args, workdir):
        self.args = args
        self.workdir = workdir
        self.log_path = os.path.join(workdir, "server.log")
        self.proc = None
        self.port = None
        self.data = None

    def launch(self, port, data):
        command = [
            self.args.executable,
            "--host", "127.0.0.1",
            "--port", str(port),
            "--storage-path", data,
            "--enable-test-commands",
            "--log-level", "WARNING",
        ]
        if self.args.standalone:
            command.append("--standalone")
        if self.args.sync_on_commit:
            command.append("--sync-on-commit")
        command.extend(self.args.server_arg)
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                preexec_fn=die_with_parent,
            )

    def wait_accepting(self, port, seconds):
        """True once the server accepts on `port`; False when it exits or time runs out."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and self.proc.poll() is None:
            # Still alive after the connect succeeded: the listener is this server's, not a
            # stranger's on the same port while this one is failing to bind.
            if accepting(port) and self.proc.poll() is None:
                return True
            time.sleep(0.05)
        return False

    def start_first(self):
        for _ in range(ATTEMPTS):
            candidate = free_port()
            # Storage per attempt, so a half-initialised one from a failed attempt is not
            # reopened.
            data = os.path.join(self.workdir, "data-%d" % candidate)
            self.launch(candidate, data)
            if self.wait_accepting(candidate, STARTUP_SECONDS):
                self.port = candidate
                self.data = data
                return True
            stop(self.proc)
        return False

    def restart(self):
        """Starts the server again on the same port and storage after a crash."""
        if self.proc is not None and self.proc.poll() is None:
            return True
        deadline = time.monotonic() + RESTART_SECONDS
        while time.monotonic() < deadline:
            # Someone else listening there would be mistaken for the server: wait it out.
            if not accepting(self.port):
                self.launch(self.port, self.data)
                if self.wait_accepting(self.port, max(deadline - time.monotonic(), 1)):
                    return True
                # Typically "address already in use": it exited; try again shortly.
                stop(self.proc)
            time.sleep(RESTART_RETRY_SECONDS)
        return False

    def log_tail(self):
        try:
            with open(self.log_path, "rb") as log:
                return log.read()[-2000:].decode("utf-8", "replace")
        except OSError:
            return ""


def control_loop(server):
    for raw in sys.stdin.buffer:
        command = raw.decode("utf-8", "replace").strip()
        if command == "KILL":
            crash(server.proc)
            answer("KILLED")
        elif command == "START":
            if server.restart():
                answer("READY %d" % server.port)
            else:
                answer("FAILED the test server did not restart: " + one_line(server.log_tail()))
        elif command:
            answer("ERROR unknown command %r" % command)


def main():
    parser = argparse.ArgumentParser(description="Runs one SecantusDB server for one test process.")
    parser.add_argument("--standalone", action="store_true")
    parser.add_argument("--sync-on-commit", action="store_true")
    parser.add_argument("--control", action="store_true")
    parser.add_argument("--server-arg", action="append", default=[], help="one more argument for the server")
    parser.add_argument("executable")
    args = parser.parse_args()

    workdir = tempfile.mkdtemp(prefix="mongotic-test-server-")
    server = Server(args, workdir)

    def cleanup():
        # SIGKILL, not a graceful stop: the storage is deleted next, so flushing it would
        # only make the test that drops a dedicated server wait (about 2 s).
        crash(server.proc)
        shutil.rmtree(workdir, ignore_errors=True)

    def on_signal(signum, _frame):
        cleanup()
        sys.exit(128 + signum)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    try:
        if not server.start_first():
            answer("FAILED the test server did not start: " + one_line(server.log_tail()))
            return 1
        answer("READY %d" % server.port)
        if args.control:
            control_loop(server)
        else:
            sys.stdin.buffer.read()
        return 0
    finally:
        cleanup()


if __name__ == "__main__":
    sys.exit(main())
