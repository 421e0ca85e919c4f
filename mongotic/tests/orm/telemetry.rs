//! Tracing: spans for statements, flushes and failed writes, with OpenTelemetry's attribute
//! names, and no user data. A small subscriber of the test's own captures them.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex};

use mongotic::bson::doc;
use mongotic::prelude::*;
use tracing::field::{Field as TracingField, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

use crate::common::*;

/// One captured span: its name and its fields, as text.
#[derive(Debug, Clone)]
pub struct Captured {
    pub name: &'static str,
    pub fields: BTreeMap<String, String>,
}

impl Captured {
    pub fn get(&self, field: &str) -> Option<&str> {
        self.fields.get(field).map(String::as_str)
    }
}

/// A subscriber that keeps every span and event, for the tests to read.
#[derive(Clone, Default)]
pub struct Capture {
    spans: Arc<Mutex<Vec<Captured>>>,
    events: Arc<Mutex<Vec<Captured>>>,
}

struct Fields<'a>(&'a mut BTreeMap<String, String>);

impl Visit for Fields<'_> {
    fn record_debug(&mut self, field: &TracingField, value: &dyn fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}").trim_matches('"').to_owned());
    }

    fn record_u64(&mut self, field: &TracingField, value: u64) {
        self.0.insert(field.name().to_owned(), value.to_string());
    }

    fn record_str(&mut self, field: &TracingField, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }
}

impl Subscriber for Capture {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }

    fn new_span(&self, attrs: &Attributes<'_>) -> Id {
        let mut fields = BTreeMap::new();
        attrs.record(&mut Fields(&mut fields));
        let mut spans = self.spans.lock().unwrap_or_else(|e| e.into_inner());
        spans.push(Captured { name: attrs.metadata().name(), fields });
        Id::from_u64(spans.len() as u64)
    }

    fn record(&self, span: &Id, values: &Record<'_>) {
        let mut spans = self.spans.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(captured) = spans.get_mut(span.into_u64() as usize - 1) {
            values.record(&mut Fields(&mut captured.fields));
        }
    }

    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &Event<'_>) {
        let mut fields = BTreeMap::new();
        event.record(&mut Fields(&mut fields));
        let captured = Captured { name: event.metadata().target(), fields };
        self.events.lock().unwrap_or_else(|e| e.into_inner()).push(captured);
    }
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}

impl Capture {
    /// Every span, in the order they opened.
    pub fn spans(&self) -> Vec<Captured> {
        self.spans.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The events of `target`, in order.
    pub fn events_of(&self, target: &str) -> Vec<Captured> {
        let events = self.events.lock().unwrap_or_else(|e| e.into_inner());
        events.iter().filter(|event| event.name == target).cloned().collect()
    }

    fn named(&self, otel_name: &str) -> Vec<Captured> {
        let spans = self.spans.lock().unwrap_or_else(|e| e.into_inner());
        spans.iter().filter(|span| span.get("otel.name") == Some(otel_name)).cloned().collect()
    }
}

async fn spans_of_a_query_a_flush_and_a_failed_write(topology: mongotic_test_server::Topology) -> TestResult {
    let ctx = AsyncCtx::on(topology).await;
    ctx.create_indexes::<User>().await?;
    let capture = Capture::default();
    let _guard = tracing::subscriber::set_default(capture.clone());

    let mut session = ctx.session();
    session.add_all([user("Alice", "alice@secret.io", 30), user("Bob", "bob@secret.io", 40)]);
    session.commit().await?;
    let adults = session.scalars(select::<User>().filter(User::age.gte(18))).all().await?;
    assert_eq!(adults.len(), 2);
    let duplicate = session.execute(insert::<User>().value(user("Eve", "alice@secret.io", 20))).await;
    assert!(duplicate.is_err());

    let flush = capture.named("flush");
    assert_eq!(flush.len(), 1, "{flush:?}");
    let flush = &flush[0];
    assert_eq!(flush.name, "mongotic.unit");
    assert_eq!(flush.get("db.system"), Some("mongodb"));
    assert_eq!(flush.get("db.operation.name"), Some("flush"));
    assert_eq!(flush.get("mongotic.writes"), Some("2"));
    assert_eq!(flush.get("mongotic.documents_written"), Some("2"));
    let round_trips = if ctx.transactional() { "2" } else { "1" }; // insert (+ commitTransaction)
    assert_eq!(flush.get("mongotic.round_trips"), Some(round_trips));

    let query = capture.named("find users");
    assert_eq!(query.len(), 1, "{query:?}");
    let query = &query[0];
    assert_eq!(query.name, "mongotic.statement");
    assert_eq!(query.get("otel.kind"), Some("client"));
    assert_eq!(query.get("db.system.name"), Some("mongodb"));
    assert_eq!(query.get("db.operation.name"), Some("find"));
    assert_eq!(query.get("db.collection.name"), Some("users"));
    assert_eq!(query.get("db.namespace"), Some(ctx.raw.db.name()));
    assert_eq!(query.get("db.response.returned_rows"), Some("2"));
    assert_eq!(query.get("error.type"), None);

    // The flush names its one collection, and its insert command has a span of its own.
    assert_eq!(flush.get("db.collection.name"), Some("users"));
    assert_eq!(flush.get("db.namespace"), Some(ctx.raw.db.name()));
    let inserts = capture.named("insert users");
    assert_eq!(inserts.len(), 2, "the flush's insert and the bulk insert: {inserts:?}");
    assert_eq!(inserts[0].get("mongotic.documents_written"), Some("2"));
    assert_eq!(inserts[0].get("error.type"), None);
    let failed = &inserts[1..];
    assert_eq!(failed[0].get("db.response.status_code"), Some("11000"));
    assert_eq!(failed[0].get("error.type"), Some("DuplicateKey"));
    assert_eq!(failed[0].get("mongotic.round_trips"), Some("1"));

    // No user data: no filter value, id or document in any span.
    let spans = capture.spans.lock().unwrap_or_else(|e| e.into_inner());
    for span in spans.iter() {
        for value in span.fields.values() {
            assert!(!value.contains("secret") && !value.contains("Alice"), "user data in {span:?}");
        }
    }
    let _ = doc! {};
    Ok(())
}

test!(async spans_on_a_replica_set, needs = [ReplicaSet]);
async fn spans_on_a_replica_set() -> TestResult {
    spans_of_a_query_a_flush_and_a_failed_write(mongotic_test_server::Topology::ReplicaSet).await
}

test!(async spans_on_a_standalone_server, needs = [Standalone]);
async fn spans_on_a_standalone_server() -> TestResult {
    spans_of_a_query_a_flush_and_a_failed_write(mongotic_test_server::Topology::Standalone).await
}
