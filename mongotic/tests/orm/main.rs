//! Integration tests against a real server (the project's SecantusDB, or `MONGODB_URI`).
//!
//! One test binary, so the server starts once for all of them.

#[macro_use]
mod common;

mod seed;
mod errors;
mod round_trips;
mod unit_of_work;
mod queries;
mod patterns;
