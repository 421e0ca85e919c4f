//! Integration tests against a real server (the project's SecantusDB, or `MONGODB_URI`).
//!
//! One test binary, so the server starts once for all of them.

#[macro_use]
mod common;

mod aggregation;
mod concurrency;
mod errors;
mod faults;
mod lifecycle;
mod pages;
mod patterns;
mod polish;
mod preview;
mod queries;
mod recovery;
mod relations;
mod round_trips;
mod seed;
mod telemetry;
mod transactions;
mod unit_of_work;
