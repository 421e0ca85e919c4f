//! A seeded, randomized fault campaign of the consumer: whatever fails, the read model it
//! builds equals what a direct computation over the source collection gives, so no event was
//! applied twice and none was skipped.
//!
//! A writer makes a random stream of inserts, updates (of the grouping key, or of another
//! field), replacements and deletes in a source collection, straight to the server. A
//! consumer, through a proxy, keeps a read model: the number of documents per key, a mirror of
//! each document's key (to undo it when the document moves or goes), and the number of events
//! applied. Its handler is not idempotent (it increments), and it fails the run on any event
//! that does not fit what it applied before (a document it never saw inserted). Meanwhile the
//! test:
//!
//! - aborts the consumer's task at a random moment (mid-batch, mid-commit, while it waits) and
//!   starts a new run;
//! - has the proxy drop a request or lose a reply of the consumer's (`getMore`,
//!   `aggregate`, `find`, `update`, `insert`, `delete`, `commitTransaction`);
//! - kills the server (SIGKILL) and restarts it.
//!
//! At the end, once the consumer caught up, the read model is compared with the source:
//! the counts per key with a `$group` over it, the mirror with its documents, and the events
//! applied with a count of the source's change stream since the consumer's first checkpoint.
//!
//! Environment: `MONGOTIC_WATCH_FAULT_SEED` (default fixed, printed),
//! `MONGOTIC_WATCH_FAULT_EVENTS` (writes, default 1,200), `MONGOTIC_WATCH_FAULT_KILLS`
//! (consumer task kills, default 24), `MONGOTIC_WATCH_FAULT_NETWORK` (proxy faults, default
//! 16), `MONGOTIC_WATCH_FAULT_SERVER_KILLS` (default 2).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use futures::TryStreamExt;
use mongotic::bson::{Bson, Document, doc};
use mongotic::mongodb::options::ClientOptions;
use mongotic::mongodb::{Client, Collection};
use mongotic::prelude::*;
use mongotic::watch::{Change, Consumer, Event, watch};
use mongotic::{Error, RetryPolicy};
use mongotic_test_server::{DedicatedServer, FaultProxy, Topology};

use super::eventually;
use crate::common::TestResult;

const DATABASE: &str = "watch_faults";
const KEYS: &[&str] = &["ant", "bee", "cat", "dog", "eel", "fox", "gnu", "hen"];

/// The source.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Model)]
#[mongotic(database = "watch_faults", collection = "entries")]
struct Entry {
    #[serde(rename = "_id")]
    id: ObjectId,
    key: String,
    n: i64,
}

/// The read model: documents per key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Model)]
#[mongotic(database = "watch_faults", collection = "key_counts")]
struct KeyCount {
    #[serde(rename = "_id")]
    #[mongotic(id)]
    key: String,
    count: i64,
}

/// The read model's memory of each source document's key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Model)]
#[mongotic(database = "watch_faults", collection = "mirror")]
struct Mirror {
    #[serde(rename = "_id")]
    id: ObjectId,
    key: String,
}

/// Events applied.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Model)]
#[mongotic(database = "watch_faults", collection = "applied")]
struct Applied {
    #[serde(rename = "_id")]
    #[mongotic(id)]
    id: String,
    events: i64,
}

/// A number from the environment, decimal or `0x` hexadecimal.
fn env_u64(name: &str, default: u64) -> u64 {
    let Ok(value) = std::env::var(name) else { return default };
    let parsed = match value.strip_prefix("0x").or_else(|| value.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => value.parse(),
    };
    parsed.unwrap_or_else(|_| panic!("{name}={value} is not a number"))
}

/// xorshift64*: reproducible from the seed, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

fn inconsistent(message: String) -> Error {
    Error::InvalidStatement { message }
}

async fn add_to(session: &mut Session, key: &str, delta: i64) -> mongotic::Result<()> {
    match session.get::<KeyCount>(key).await? {
        Some(count) => count.write().count += delta,
        None => {
            session.add(KeyCount { key: key.to_owned(), count: delta });
        }
    }
    Ok(())
}

/// The consumer's handler: not idempotent, and strict about what it expects.
async fn apply(session: &mut Session, event: Event<Entry>) -> mongotic::Result<()> {
    match event.change() {
        Change::Insert { document } => {
            if session.get::<Mirror>(document.id).await?.is_some() {
                return Err(inconsistent(format!("{} inserted twice", document.id)));
            }
            session.add(Mirror { id: document.id, key: document.key.clone() });
            add_to(session, &document.key, 1).await?;
        }
        Change::Update(_) | Change::Replace { .. } => {
            let id: ObjectId = event.model_id()?;
            let key = match event.change() {
                Change::Replace { document, .. } => Some(document.key.clone()),
                _ => event.updated(Entry::key)?,
            };
            let Some(mirror) = session.get::<Mirror>(id).await? else {
                return Err(inconsistent(format!("{id} changed but never inserted")));
            };
            if let Some(key) = key {
                let old = mirror.read().key.clone();
                if old != key {
                    add_to(session, &old, -1).await?;
                    add_to(session, &key, 1).await?;
                    mirror.write().key = key;
                }
            }
        }
        Change::Delete { .. } => {
            let id: ObjectId = event.model_id()?;
            let Some(mirror) = session.get::<Mirror>(id).await? else {
                return Err(inconsistent(format!("{id} deleted but never inserted (or deleted twice)")));
            };
            let old = mirror.read().key.clone();
            add_to(session, &old, -1).await?;
            session.delete(&mirror)?;
        }
        _ => return Ok(()),
    }
    match session.get::<Applied>("events").await? {
        Some(applied) => applied.write().events += 1,
        None => {
            session.add(Applied { id: "events".into(), events: 1 });
        }
    }
    Ok(())
}

/// One run of the consumer, in a task of its own.
fn start_consumer(factory: &SessionFactory) -> tokio::task::JoinHandle<mongotic::Result<mongotic::watch::Stopped>> {
    let consumer = Consumer::new(factory, "read-model")
        .watch(watch::<Entry>().max_await(Duration::from_millis(200)))
        .batch_size(50)
        .checkpoint_interval(Duration::from_millis(500))
        // Through restarts: the default two minutes, with backoff up to half a second.
        .retry_policy(RetryPolicy::default());
    tokio::spawn(async move { consumer.run(async move |session, event| apply(session, event).await).await })
}

/// A write of the source, retried through connection errors and restarts; an insert whose
/// first attempt landed is a duplicate key the second time, which is done too.
async fn write(entries: &Collection<Document>, op: &Op) -> Result<(), String> {
    let mut tries = 0;
    loop {
        tries += 1;
        let result = match op {
            Op::Insert { id, key } => entries.insert_one(doc! { "_id": id, "key": key, "n": 0_i64 }).await.map(|_| ()),
            Op::SetKey { id, key } => {
                entries.update_one(doc! { "_id": id }, doc! { "$set": { "key": key } }).await.map(|_| ())
            }
            Op::Bump { id } => {
                entries.update_one(doc! { "_id": id }, doc! { "$inc": { "n": 1_i64 } }).await.map(|_| ())
            }
            Op::Replace { id, key } => {
                entries.replace_one(doc! { "_id": id }, doc! { "key": key, "n": -1_i64 }).await.map(|_| ())
            }
            Op::Delete { id } => entries.delete_one(doc! { "_id": id }).await.map(|_| ()),
        };
        match result {
            Ok(()) => return Ok(()),
            Err(err) if err.to_string().contains("E11000") || err.to_string().contains("uplicate") => return Ok(()),
            Err(err) if tries < 200 => {
                let _ = err;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(err) => return Err(format!("the writer gave up on {op:?}: {err}")),
        }
    }
}

#[derive(Debug)]
enum Op {
    Insert { id: ObjectId, key: String },
    SetKey { id: ObjectId, key: String },
    Bump { id: ObjectId },
    Replace { id: ObjectId, key: String },
    Delete { id: ObjectId },
}

/// The commands of the consumer a network fault hits, weighted by how often it sends them.
const NETWORK_COMMANDS: &[&str] =
    &["getMore", "getMore", "find", "find", "update", "commitTransaction", "commitTransaction", "insert", "aggregate"];

async fn the_read_model_equals_the_source_whatever_fails() -> TestResult {
    crate::harness::require(crate::harness::Need::OwnServer);
    let seed = env_u64("MONGOTIC_WATCH_FAULT_SEED", 0x0005_7EAD_FA57);
    let writes = env_u64("MONGOTIC_WATCH_FAULT_EVENTS", 1200);
    let consumer_kills = env_u64("MONGOTIC_WATCH_FAULT_KILLS", 24);
    let network_faults = env_u64("MONGOTIC_WATCH_FAULT_NETWORK", 16);
    let server_kills = env_u64("MONGOTIC_WATCH_FAULT_SERVER_KILLS", 2);
    println!(
        "MONGOTIC_WATCH_FAULT_SEED={seed:#x} MONGOTIC_WATCH_FAULT_EVENTS={writes} MONGOTIC_WATCH_FAULT_KILLS={consumer_kills} \
         MONGOTIC_WATCH_FAULT_NETWORK={network_faults} MONGOTIC_WATCH_FAULT_SERVER_KILLS={server_kills} \
         cargo test -p mongotic --all-features --test orm watch::faults"
    );
    let started = Instant::now();
    let mut rng = Rng(seed | 1);
    let mut server = DedicatedServer::start(Topology::ReplicaSet)?;
    let proxy = FaultProxy::start(server.port())?;
    let mut options = ClientOptions::parse(proxy.uri()).await?;
    options.app_name = Some("mongotic-watch-faults".into());
    options.server_selection_timeout = Some(Duration::from_secs(15));
    options.heartbeat_freq = Some(Duration::from_millis(500));
    let engine = Engine::from_options(options)?.with_database(DATABASE);
    let factory = sessionmaker(&engine);
    let direct = Client::with_uri_str(server.uri()).await?;
    let db = direct.database(DATABASE);
    // Made before any kill can land (see the flush fault test).
    for collection in ["entries", "key_counts", "mirror", "applied", "mongotic_checkpoints"] {
        db.create_collection(collection).await?;
    }
    let entries = db.collection::<Document>("entries");

    let mut consumer = start_consumer(&factory);
    let reader = Consumer::<Entry>::new(&factory, "read-model");
    assert!(
        eventually(Duration::from_secs(20), || async { reader.checkpoint().await.ok().flatten().is_some() }).await,
        "the consumer never wrote its first checkpoint"
    );
    let first = reader.checkpoint().await?.and_then(|checkpoint| checkpoint.token().cloned()).ok_or("no token")?;

    // The plan of faults: spread over the writes.
    let slots = writes.max(1);
    let mut kills_at: Vec<u64> = (0..consumer_kills).map(|_| rng.below(slots)).collect();
    let mut network_at: Vec<u64> = (0..network_faults).map(|_| rng.below(slots)).collect();
    let mut server_at: Vec<u64> = (0..server_kills).map(|k| slots * (k + 1) / (server_kills + 1)).collect();
    kills_at.sort_unstable();
    network_at.sort_unstable();
    server_at.sort_unstable();

    let mut live: Vec<ObjectId> = Vec::new();
    let (mut killed, mut networked, mut crashed) = (0_u64, 0_u64, 0_u64);
    for step in 0..writes {
        let op = if live.len() < 5 || rng.chance(35) {
            Op::Insert { id: ObjectId::new(), key: KEYS[rng.below(KEYS.len() as u64) as usize].into() }
        } else {
            let at = rng.below(live.len() as u64) as usize;
            let id = live[at];
            match rng.below(10) {
                0..=3 => Op::SetKey { id, key: KEYS[rng.below(KEYS.len() as u64) as usize].into() },
                4..=5 => Op::Bump { id },
                6 => Op::Replace { id, key: KEYS[rng.below(KEYS.len() as u64) as usize].into() },
                _ => {
                    live.swap_remove(at);
                    Op::Delete { id }
                }
            }
        };
        if let Op::Insert { id, .. } = &op {
            live.push(*id);
        }
        write(&entries, &op).await?;

        while kills_at.first() == Some(&step) {
            kills_at.remove(0);
            // Let it get into its batch first, by a random amount.
            tokio::time::sleep(Duration::from_millis(rng.below(40))).await;
            consumer.abort();
            let _ = consumer.await;
            killed += 1;
            consumer = start_consumer(&factory);
        }
        while network_at.first() == Some(&step) {
            network_at.remove(0);
            let command = NETWORK_COMMANDS[rng.below(NETWORK_COMMANDS.len() as u64) as usize];
            if rng.chance(50) {
                proxy.drop_request(command, 1)
            } else {
                proxy.lose_reply(command, 1)
            }
            networked += 1;
        }
        while server_at.first() == Some(&step) {
            server_at.remove(0);
            tokio::time::sleep(Duration::from_millis(rng.below(40))).await;
            tokio::task::block_in_place(|| server.kill())?;
            tokio::time::sleep(Duration::from_millis(200 + rng.below(800))).await;
            tokio::task::block_in_place(|| server.restart())?;
            crashed += 1;
        }
        if consumer.is_finished() {
            let ended = consumer.await?;
            return Err(format!("the consumer ended at step {step}: {ended:?}").into());
        }
    }
    proxy.reset();
    let wrote_in = started.elapsed();

    // How many events the source's stream has since the consumer's first checkpoint.
    let expected_events = count_events(&entries, first).await?;
    let caught_up = eventually(Duration::from_secs(120), || async {
        applied_events(&db).await == expected_events || consumer.is_finished()
    })
    .await;
    if consumer.is_finished() {
        let ended = consumer.await?;
        return Err(format!("the consumer ended: {ended:?}").into());
    }
    consumer.abort();
    let _ = consumer.await;
    assert!(caught_up, "the consumer did not catch up: {} of {expected_events} events", applied_events(&db).await);

    // The read model against the source.
    let mut expected_counts: BTreeMap<String, i64> = BTreeMap::new();
    let mut expected_mirror: BTreeMap<ObjectId, String> = BTreeMap::new();
    let grouped: Vec<Document> = db
        .collection::<Document>("entries")
        .aggregate([doc! { "$group": { "_id": "$key", "count": { "$sum": 1_i64 } } }])
        .await?
        .try_collect()
        .await?;
    for group in grouped {
        expected_counts.insert(group.get_str("_id")?.to_owned(), integer(group.get("count")));
    }
    for entry in all(&entries).await? {
        expected_mirror.insert(entry.get_object_id("_id")?, entry.get_str("key")?.to_owned());
    }
    let mut counts: BTreeMap<String, i64> = BTreeMap::new();
    for count in all(&db.collection("key_counts")).await? {
        let n = integer(count.get("count"));
        if n != 0 {
            counts.insert(count.get_str("_id")?.to_owned(), n);
        }
    }
    let mut mirror: BTreeMap<ObjectId, String> = BTreeMap::new();
    for entry in all(&db.collection("mirror")).await? {
        mirror.insert(entry.get_object_id("_id")?, entry.get_str("key")?.to_owned());
    }
    let checkpoint = reader.checkpoint().await?.ok_or("no checkpoint")?;
    println!(
        "watch fault campaign: {writes} writes, {expected_events} events applied once each, {killed} consumer kills, \
         {networked} network faults ({} fired), {crashed} server kills; {} checkpoint writes; writes took {:.1} s, \
         everything {:.1} s",
        proxy.injected(),
        checkpoint.sequence(),
        wrote_in.as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
    assert_eq!(counts, expected_counts, "documents per key");
    assert_eq!(mirror, expected_mirror, "the mirror of every document's key");
    assert_eq!(applied_events(&db).await, expected_events, "events applied");
    assert_eq!(checkpoint.events(), expected_events, "events in the checkpoint");
    assert!(killed >= consumer_kills.min(1), "the consumer was killed");
    drop(proxy);
    drop(server);
    Ok(())
}
test!(async(workers = 2) the_read_model_equals_the_source_whatever_fails, needs = [OwnServer]);

async fn all(collection: &Collection<Document>) -> mongotic::mongodb::error::Result<Vec<Document>> {
    collection.find(doc! {}).await?.try_collect().await
}

async fn applied_events(db: &mongotic::mongodb::Database) -> i64 {
    let found = db.collection::<Document>("applied").find_one(doc! { "_id": "events" }).await.ok().flatten();
    found.map_or(0, |doc| integer(doc.get("events")))
}

/// The events of the source's change stream after `token`, counted with the raw driver until
/// two quiet batches in a row.
async fn count_events(
    entries: &Collection<Document>,
    token: mongotic::watch::ResumeToken,
) -> Result<i64, Box<dyn std::error::Error>> {
    let mut stream = entries.watch().resume_after(token).max_await_time(Duration::from_millis(300)).await?;
    let (mut events, mut quiet) = (0_i64, 0);
    while quiet < 2 {
        match stream.next_if_any().await? {
            Some(event) => {
                let kind = bson_kind(&event.operation_type);
                if matches!(kind.as_str(), "insert" | "update" | "replace" | "delete") {
                    events += 1;
                }
                quiet = 0;
            }
            None => quiet += 1,
        }
    }
    Ok(events)
}

fn bson_kind(kind: &mongotic::mongodb::change_stream::event::OperationType) -> String {
    match mongotic::bson::to_bson(kind) {
        Ok(Bson::String(name)) => name,
        _ => String::new(),
    }
}

fn integer(value: Option<&Bson>) -> i64 {
    match value {
        Some(Bson::Int64(n)) => *n,
        Some(Bson::Int32(n)) => i64::from(*n),
        Some(Bson::Double(n)) => *n as i64,
        _ => i64::MIN,
    }
}
