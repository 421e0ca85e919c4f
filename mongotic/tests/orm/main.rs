//! Integration tests against a real server (the project's SecantusDB, or `MONGODB_URI`).
//!
//! One test binary, so the servers start once for all of them; its runner (`harness.rs`)
//! skips, as ignored tests, those whose needs this environment does not meet.

#[macro_use]
mod harness;
#[macro_use]
mod common;

mod aggregation;
mod concurrency;
mod documents;
mod errors;
mod faults;
mod foundation;
mod lifecycle;
mod migrations;
mod options;
mod pages;
mod paths;
mod patterns;
mod polish;
mod preview;
mod queries;
mod recovery;
mod relations;
mod retries;
mod round_trips;
mod schema_derive;
mod schema_props;
mod schema_sync;
mod scopes;
mod seed;
mod shards;
mod telemetry;
mod transactions;
mod unit_of_work;
mod upserts;
mod variants;
mod watch;

fn main() -> std::process::ExitCode {
    // A test may start this binary again as a process of its own, to SIGKILL it.
    if let Some(code) = migrations::runner_process() {
        return code;
    }
    harness::main()
}
