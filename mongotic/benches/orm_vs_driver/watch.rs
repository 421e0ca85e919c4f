//! Change stream mode (`MONGOTIC_BENCH_WATCH=1`): events per second through a consumer with a
//! trivial handler (it counts), against a raw driver watch loop doing the same count without
//! the exactly-once checkpoint, over the same events in the same run.
//!
//! The events are written once, before any side reads: `MONGOTIC_BENCH_WATCH_EVENTS` inserts
//! (default 5,000) after a resume token taken first. Each run of each side reads all of them
//! from that token, so both sides read the same oplog, and the writer's speed is not measured.
//! The sides:
//!
//! - the driver: `collection.watch().resume_after(token)`, `ChangeStreamEvent<Document>`s
//!   counted one by one;
//! - mongotic's typed stream: `watch::<M>().resume_after(token).open(..)`, each event decoded
//!   into the model, counted (what the consumer reads with, without its transactions);
//! - the consumer, with batches of 100 and of 1,000 events: each batch one transaction that
//!   moves the checkpoint (fresh consumer name per run, so it starts from the token).
//!
//! For each side: the median time of the runs, events per second, the ratio to the driver, the
//! round trips (counted in a separate run, with command monitoring) and the client's CPU time.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures::StreamExt;
use mongotic::bson::{Document, doc};
use mongotic::mongodb::Client;
use mongotic::mongodb::options::ClientOptions;
use mongotic::prelude::*;
use mongotic::watch::{Consumer, ResumeToken, watch};
use mongotic_test_server::{CommandLog, TestDb};

use super::{Sample, median, ms, timed};

#[derive(Debug, Clone, Serialize, Deserialize, Model)]
#[mongotic(database = "bench", collection = "events")]
struct Tick {
    #[serde(rename = "_id")]
    id: ObjectId,
    name: String,
    n: i64,
    tags: Vec<String>,
}

fn events() -> usize {
    std::env::var("MONGOTIC_BENCH_WATCH_EVENTS").ok().and_then(|n| n.parse().ok()).unwrap_or(5_000)
}

struct Side {
    engine: Engine,
    client: Client,
}

async fn side(uri: &str, db: &str, log: Option<&CommandLog>) -> Side {
    let mut options = ClientOptions::parse(uri).await.expect("uri");
    options.command_event_handler = log.map(CommandLog::handler);
    let engine = Engine::from_options(options.clone()).expect("engine").with_database(db);
    let client = Client::with_options(options).expect("client");
    Side { engine, client }
}

async fn driver(side: &Side, db: &str, token: &ResumeToken, n: usize, _run: usize) {
    let collection = side.client.database(db).collection::<Document>("events");
    let mut stream = collection.watch().resume_after(token.clone()).await.expect("watch");
    let mut seen = 0;
    while seen < n {
        match stream.next().await {
            Some(Ok(event)) => {
                std::hint::black_box(&event);
                seen += 1;
            }
            other => panic!("the driver's stream ended: {other:?}"),
        }
    }
}

async fn typed(side: &Side, token: &ResumeToken, n: usize, _run: usize) {
    let mut stream = watch::<Tick>().resume_after(token.clone()).open(&side.engine).await.expect("open");
    let mut seen = 0;
    while seen < n {
        match stream.next().await {
            Some(Ok(event)) => {
                std::hint::black_box(&event);
                seen += 1;
            }
            other => panic!("the typed stream ended: {other:?}"),
        }
    }
}

async fn consumer(side: &Side, token: &ResumeToken, n: usize, batch: usize, run: usize) {
    let factory = sessionmaker(&side.engine);
    let name = format!("bench-{batch}-{run}-{}", ObjectId::new());
    let consumer =
        Arc::new(Consumer::new(&factory, &name).watch(watch::<Tick>().resume_after(token.clone())).batch_size(batch));
    let seen = Arc::new(AtomicU64::new(0));
    let counter = seen.clone();
    let running = consumer.clone();
    let task = tokio::spawn(async move {
        running
            .run(async move |_session, event| {
                std::hint::black_box(&event);
                counter.fetch_add(1, Ordering::Relaxed);
                Ok(())
            })
            .await
    });
    while consumer.applied() < n as u64 {
        tokio::time::sleep(Duration::from_micros(200)).await;
    }
    consumer.stop();
    task.await.expect("the consumer's task").expect("the consumer");
}

pub fn run(runtime: &tokio::runtime::Runtime, runs: usize) {
    runtime.block_on(async {
        let uri = mongotic_test_server::uri();
        let db = TestDb::new();
        let n = events();
        let log = CommandLog::new();
        let timed_side = side(&uri, db.name(), None).await;
        let counted_side = side(&uri, db.name(), Some(&log)).await;
        // The events: written once, after the token every run starts from.
        let collection = timed_side.client.database(db.name()).collection::<Document>("events");
        let stream = collection.watch().await.expect("watch");
        let token = stream.resume_token().expect("a token");
        drop(stream);
        let docs: Vec<Document> = (0..n)
            .map(|i| doc! { "_id": ObjectId::new(), "name": format!("tick {i}"), "n": i as i64, "tags": ["a", "b"] })
            .collect();
        for chunk in docs.chunks(1000) {
            collection.insert_many(chunk.to_vec()).await.expect("insert");
        }
        println!("watch mode: {n} events per run, {runs} timed runs per side, medians");

        let mut rows: Vec<(&str, Vec<Sample>, usize)> = Vec::new();
        macro_rules! measure {
            ($name:expr, |$side:ident, $run:ident| $work:expr) => {{
                let $run = usize::MAX;
                let $side = &counted_side;
                log.clear();
                $work.await;
                let trips = log.len();
                let mut samples = Vec::new();
                for $run in 0..runs {
                    let $side = &timed_side;
                    samples.push(timed($work).await);
                }
                rows.push(($name, samples, trips));
            }};
        }
        measure!("driver watch loop (no checkpoint)", |s, run| driver(s, db.name(), &token, n, run));
        measure!("mongotic typed stream (no checkpoint)", |s, run| typed(s, &token, n, run));
        measure!("mongotic consumer, batches of 100", |s, run| consumer(s, &token, n, 100, run));
        measure!("mongotic consumer, batches of 1,000", |s, run| consumer(s, &token, n, 1000, run));

        let base =
            rows.first().map(|(_, samples, _)| median(samples.iter().map(|s| s.wall).collect())).unwrap_or_default();
        println!("\n| side | ms | events/s | ratio to the driver | round trips | client CPU ms |");
        println!("|---|---:|---:|---:|---:|---:|");
        for (name, samples, trips) in &rows {
            let wall = median(samples.iter().map(|s| s.wall).collect());
            let cpu = median(samples.iter().map(|s| s.cpu).collect());
            let rate = n as f64 / wall.as_secs_f64().max(1e-9);
            let ratio = wall.as_secs_f64() / base.as_secs_f64().max(1e-9);
            println!("| {name} | {} | {rate:.0} | {ratio:.2}x | {trips} | {} |", ms(wall), ms(cpu));
        }
    });
}
