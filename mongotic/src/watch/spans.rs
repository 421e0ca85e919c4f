//! The tracing spans of a consumer: one per batch (its transaction, its checkpoint, its
//! attempts) and one per handler run inside it, target `mongotic` at level `INFO`, named and
//! attributed like the session's spans.
//!
//! | attribute | value |
//! |---|---|
//! | `otel.name` | `"watch users"` (a batch), `"handle users"` (a handler run) |
//! | `mongotic.consumer` | the consumer's name |
//! | `db.collection.name`, `db.namespace` | the collection watched and its database |
//! | `mongotic.events` | events in the batch, or handled by the run |
//! | `mongotic.attempts` | transactions the batch took (more than one after retries) |
//! | `mongotic.lag_ms` | how long after the batch's last change its effects were committed |
//! | `mongotic.lag_events` | events received and not yet committed, this batch's included |
//! | `mongotic.operation` | the handler run's first event kind (`insert`, `update`, …) |
//! | `db.response.status_code`, `error.type` | on failure |

use mongodb::Namespace;
use tracing::Span;
use tracing::field::Empty;

use crate::Error;

/// The span of one batch of `consumer` on `namespace`.
pub(crate) fn batch(consumer: &str, namespace: &Namespace, events: usize) -> Span {
    tracing::info_span!(
        target: "mongotic",
        "mongotic.watch.batch",
        otel.name = %format_args!("watch {}", namespace.coll),
        otel.kind = "consumer",
        db.system = "mongodb",
        db.system.name = "mongodb",
        db.collection.name = %namespace.coll,
        db.namespace = %namespace.db,
        mongotic.consumer = consumer,
        mongotic.events = events,
        mongotic.attempts = Empty,
        mongotic.lag_ms = Empty,
        mongotic.lag_events = Empty,
        db.response.status_code = Empty,
        error.type = Empty,
    )
}

/// The span of one run of the handler over `events` events, the first of kind `operation`.
pub(crate) fn handler(consumer: &str, namespace: &Namespace, operation: &str, events: usize) -> Span {
    tracing::info_span!(
        target: "mongotic",
        "mongotic.watch.handler",
        otel.name = %format_args!("handle {}", namespace.coll),
        mongotic.consumer = consumer,
        db.collection.name = %namespace.coll,
        mongotic.operation = operation,
        mongotic.events = events,
        error.type = Empty,
    )
}

/// Records `err` on `span`.
pub(crate) fn failed(span: &Span, err: &Error) {
    if span.is_disabled() {
        return;
    }
    if let Some(code) = err.server_code() {
        span.record("db.response.status_code", code.to_string());
    }
    span.record("error.type", err.kind_name());
}
