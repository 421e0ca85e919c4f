//! Tracing spans for the work a session does, with OpenTelemetry's names for database clients.
//!
//! Every statement a session runs (select, `get`, `count`, `exists`, `distinct`, bulk
//! `insert`/`update`/`delete`, aggregations), every flush, every write command a flush sends
//! and every explicit transaction is a span of target `mongotic` at level `INFO`. A flush's
//! span names its collection and database when it writes to one collection only (as
//! OpenTelemetry's conventions ask of a batch); each of its write commands has a child span
//! that names its own (`"insert users"`), or none for a client `bulkWrite` across
//! collections. The attributes follow OpenTelemetry's semantic conventions for
//! database client spans, so an OpenTelemetry layer (`tracing-opentelemetry`) exports them as
//! they are:
//!
//! | attribute | value |
//! |---|---|
//! | `otel.name` | `"{operation} {collection}"` (`"find users"`), or `"flush"`, `"transaction"` |
//! | `otel.kind` | `"client"` |
//! | `db.system`, `db.system.name` | `"mongodb"` |
//! | `db.operation.name` | `find`, `count`, `distinct`, `insert`, `update`, `delete`, `flush`, `transaction` |
//! | `db.collection.name`, `db.namespace` | the collection and the database |
//! | `db.response.returned_rows` | documents read |
//! | `mongotic.documents_written` | documents inserted, changed or deleted |
//! | `mongotic.round_trips` | commands sent (a flush: its write commands and commit) |
//! | `db.response.status_code`, `error.type` | the server's error code, and the error's kind, on failure |
//!
//! No value of user data (filters, ids, documents) is recorded. With no subscriber listening,
//! a span costs one cached check of its call site (see the benchmark's `tracing` line).

use std::future::Future;

use mongodb::Namespace;
use tracing::field::Empty;
use tracing::{Instrument, Span};

use crate::Error;

/// The span of one statement on `namespace`, a child of `parent` (the session's explicit
/// transaction) when there is one, else of the current span.
pub(crate) fn statement(operation: &'static str, namespace: &Namespace, parent: Option<&Span>) -> Span {
    macro_rules! span {
        ($($parent:tt)*) => {
            tracing::info_span!(
                target: "mongotic",
                $($parent)*
                "mongotic.statement",
                otel.name = %format_args!("{operation} {}", namespace.coll),
                otel.kind = "client",
                db.system = "mongodb",
                db.system.name = "mongodb",
                db.operation.name = operation,
                db.collection.name = %namespace.coll,
                db.namespace = %namespace.db,
                db.response.returned_rows = Empty,
                mongotic.documents_written = Empty,
                mongotic.round_trips = Empty,
                mongotic.scope = Empty,
                db.response.status_code = Empty,
                error.type = Empty,
            )
        };
    }
    match parent {
        Some(parent) => span!(parent: parent,),
        None => span!(),
    }
}

/// The span of a flush, or of an explicit transaction (`operation` is `flush` or
/// `transaction`): they span several collections.
pub(crate) fn unit(operation: &'static str, parent: Option<&Span>) -> Span {
    macro_rules! span {
        ($($parent:tt)*) => {
            tracing::info_span!(
                target: "mongotic",
                $($parent)*
                "mongotic.unit",
                otel.name = operation,
                otel.kind = "client",
                db.system = "mongodb",
                db.system.name = "mongodb",
                db.operation.name = operation,
                mongotic.writes = Empty,
                db.collection.name = Empty,
                db.namespace = Empty,
                mongotic.documents_written = Empty,
                mongotic.round_trips = Empty,
                db.response.status_code = Empty,
                error.type = Empty,
            )
        };
    }
    match parent {
        Some(parent) => span!(parent: parent,),
        None => span!(),
    }
}

/// The span of the write commands a flush sends for `writes` writes of one kind: a child of
/// the flush's span, named after the command and its collection when it has one collection
/// (`"update users"`), or after the command alone (a client `bulkWrite` across collections).
pub(crate) fn write_command(operation: &'static str, namespace: Option<&Namespace>, writes: usize) -> Span {
    let span = match namespace {
        Some(namespace) => statement(operation, namespace, None),
        None => unit(operation, None),
    };
    span.record("mongotic.documents_written", writes);
    span
}

/// Records the outcome of a flush's write command on its span.
pub(crate) fn finish_command(span: &Span, failure: Option<&Error>) {
    if let Some(err) = failure {
        failed(span, err);
    }
}

/// Runs the one command of a statement in its span, and records the outcome: one round trip,
/// and `count` of the result in `field` (rows read or documents written), or the failure.
pub(crate) async fn one_command<T>(
    span: Span,
    field: &'static str,
    count: impl FnOnce(&T) -> u64,
    work: impl Future<Output = Result<T, Error>>,
) -> Result<T, Error> {
    let result = work.instrument(span.clone()).await;
    if !span.is_disabled() {
        span.record("mongotic.round_trips", 1);
        match &result {
            Ok(value) => {
                span.record(field, count(value));
            }
            Err(err) => failed(&span, err),
        }
    }
    result
}

/// Records the outcome of the work of `span`: the error's code and kind on failure.
pub(crate) fn finish<T>(span: &Span, result: &Result<T, Error>) {
    if let Err(err) = result {
        failed(span, err);
    }
}

/// Records a failure on `span`.
pub(crate) fn failed(span: &Span, err: &Error) {
    if span.is_disabled() {
        return;
    }
    if let Some(code) = err.server_code() {
        span.record("db.response.status_code", code.to_string());
    }
    span.record("error.type", err.kind_name());
}
