"""Runs one SecantusDB server for one test process, and cleans up after it.

Usage: python watchdog.py SECANTUSD_EXECUTABLE

Starts the server on a free loopback port with storage in a fresh temporary directory,
waits until it accepts connections, prints "READY <port>" on stdout, then waits for its
standard input to close. The test process holds the other end of that pipe and never closes
it on purpose: the kernel closes it when the process ends, however it ends. The watchdog
then stops the server and deletes the directory, so no process or data outlives the tests.
If the watchdog itself is killed, the server gets SIGKILL from the kernel (PR_SET_PDEATHSIG).
"""

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


def main():
    executable = sys.argv[1]
    workdir = tempfile.mkdtemp(prefix="mongotic-test-server-")
    log_path = os.path.join(workdir, "server.log")
    state = {"proc": None}

    def cleanup():
        stop(state["proc"])
        shutil.rmtree(workdir, ignore_errors=True)

    def on_signal(signum, _frame):
        cleanup()
        sys.exit(128 + signum)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    try:
        port = None
        for _ in range(ATTEMPTS):
            candidate = free_port()
            data = os.path.join(workdir, "data-%d" % candidate)
            with open(log_path, "ab") as log:
                state["proc"] = subprocess.Popen(
                    [
                        executable,
                        "--host", "127.0.0.1",
                        "--port", str(candidate),
                        "--storage-path", data,
                        "--enable-test-commands",
                        "--log-level", "WARNING",
                    ],
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=log,
                    preexec_fn=die_with_parent,
                )
            deadline = time.monotonic() + STARTUP_SECONDS
            while time.monotonic() < deadline and state["proc"].poll() is None:
                if accepting(candidate):
                    port = candidate
                    break
                time.sleep(0.1)
            if port is not None:
                break
            stop(state["proc"])
        if port is None:
            with open(log_path, "rb") as log:
                tail = log.read()[-2000:].decode("utf-8", "replace")
            print("FAILED the test server did not start:\n" + tail, flush=True)
            return 1
        print("READY %d" % port, flush=True)
        sys.stdin.buffer.read()
        return 0
    finally:
        cleanup()


if __name__ == "__main__":
    sys.exit(main())
