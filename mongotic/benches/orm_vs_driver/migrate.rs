//! Migration mode (`MONGOTIC_BENCH_MIGRATE=1`): a backfill over 10,000 and 100,000 documents
//! (split `fullname` into `first_name` and `last_name`, drop `fullname`) through
//! `mongotic::migrate`, against a hand-written driver loop doing the same updates in bulk (a
//! cursor over the same filter in `_id` order, one `update` command of 1,000 statements per
//! 1,000 documents). Both sides start from the same freshly seeded collection; for each, the
//! median time and client CPU of the runs and the peak heap in use during a run (from the
//! counting allocator), so a reader sees whether memory grows with the collection.
//! `MONGOTIC_BENCH_MIGRATE_SIZES=10000,100000` picks the sizes.

use std::time::Duration;

use futures::TryStreamExt;
use mongotic::bson::{Bson, Document, doc};
use mongotic::expr::path;
use mongotic::migrate::Migrations;
use mongotic::mongodb::options::ClientOptions;
use mongotic::mongodb::{Client, Database};
use mongotic::prelude::*;
use mongotic_test_server::{CommandLog, TestDb};

use super::{Sample, median, ms, peak_bytes, start_peak, timed};

const PAGE: u32 = 1_000;

fn sizes() -> Vec<usize> {
    std::env::var("MONGOTIC_BENCH_MIGRATE_SIZES")
        .ok()
        .map(|list| list.split(',').filter_map(|n| n.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![10_000, 100_000])
}

async fn seed(db: &Database, n: usize) {
    let people = db.collection::<Document>("people");
    people.drop().await.expect("drop");
    db.collection::<Document>("mongotic_migrations").drop().await.expect("drop ledger");
    for chunk in (0..n).collect::<Vec<_>>().chunks(10_000) {
        let docs: Vec<Document> = chunk
            .iter()
            .map(|i| doc! { "_id": *i as i64, "fullname": format!("First{i} Last{i}"), "email": format!("u{i}@example.com") })
            .collect();
        people.insert_many(docs).await.expect("seed");
    }
}

fn split(fullname: &str) -> (String, String) {
    let (first, last) = fullname.split_once(' ').unwrap_or((fullname, ""));
    (first.to_owned(), last.to_owned())
}

fn migrations() -> Migrations {
    Migrations::new()
        .backfill("split-fullname", "people", path("fullname").exists(true), |person| {
            let fullname = person.get("fullname").and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default();
            let (first, last) = split(&fullname);
            person.set("first_name", first)?;
            person.set("last_name", last)?;
            person.unset("fullname");
            Ok(())
        })
        .page_size(PAGE)
}

/// The hand-written driver loop: the same filter and order, the same updates, in bulk.
async fn driver_backfill(db: &Database) {
    let people = db.collection::<Document>("people");
    let mut cursor = people
        .find(doc! { "fullname": { "$exists": true } })
        .sort(doc! { "_id": 1 })
        .batch_size(PAGE)
        .await
        .expect("find");
    let mut updates = Vec::with_capacity(PAGE as usize);
    while let Some(person) = cursor.try_next().await.expect("next") {
        let (first, last) = split(person.get_str("fullname").unwrap_or_default());
        updates.push(Bson::Document(doc! {
            "q": { "_id": person.get("_id").cloned().unwrap_or(Bson::Null) },
            "u": { "$set": { "first_name": first, "last_name": last }, "$unset": { "fullname": "" } },
        }));
        if updates.len() == PAGE as usize {
            send(db, std::mem::take(&mut updates)).await;
        }
    }
    if !updates.is_empty() {
        send(db, updates).await;
    }
}

async fn send(db: &Database, updates: Vec<Bson>) {
    let reply =
        db.run_command(doc! { "update": "people", "updates": updates, "ordered": false }).await.expect("update");
    assert!(reply.get_array("writeErrors").is_err(), "{reply:?}");
}

async fn check(db: &Database, n: usize) {
    let people = db.collection::<Document>("people");
    let left = people.count_documents(doc! { "fullname": { "$exists": true } }).await.expect("count");
    let done = people.count_documents(doc! { "first_name": { "$exists": true } }).await.expect("count");
    assert_eq!((left, done), (0, n as u64), "the backfill is complete");
}

/// Prints the commands each side sends for the smallest size, counted with command monitoring.
async fn round_trips(uri: &str, database: &str, db: &Database) {
    let log = CommandLog::new();
    let mut options = ClientOptions::parse(uri).await.expect("uri");
    options.command_event_handler = Some(CommandLog::handler(&log));
    let watched = mongotic::Engine::from_options(options.clone()).expect("engine").with_database(database);
    let watched_db = Client::with_options(options).expect("client").database(database);
    let n = sizes().into_iter().min().unwrap_or(10_000);
    seed(db, n).await;
    log.clear();
    migrations().run(&watched).await.expect("migrate");
    let orm_trips = summary(&log.names());
    seed(db, n).await;
    log.clear();
    driver_backfill(&watched_db).await;
    let raw_trips = summary(&log.names());
    println!("\nround trips for {n} documents: mongotic {orm_trips}; driver {raw_trips}");
}

/// `find 1, update 10, ...`: the commands of a run, counted by name.
fn summary(names: &[String]) -> String {
    let mut counts: Vec<(String, usize)> = Vec::new();
    for name in names {
        match counts.iter_mut().find(|(known, _)| known == name) {
            Some((_, count)) => *count += 1,
            None => counts.push((name.clone(), 1)),
        }
    }
    let total: usize = counts.iter().map(|(_, count)| count).sum();
    let parts: Vec<String> = counts.into_iter().map(|(name, count)| format!("{name} {count}")).collect();
    format!("{total} ({})", parts.join(", "))
}

pub fn run(runtime: &tokio::runtime::Runtime, runs: usize) {
    let uri = mongotic_test_server::uri();
    let scratch = TestDb::new();
    runtime.block_on(async {
        let client = Client::with_uri_str(&uri).await.expect("client");
        let db = client.database(scratch.name());
        let engine = create_engine(&uri).await.expect("engine").with_database(scratch.name());
        // Round trips, in a run of their own with command monitoring (on the smallest size);
        // `MONGOTIC_BENCH_PROFILE=1` leaves it out, for a profiler to see the timed runs only.
        if std::env::var_os("MONGOTIC_BENCH_PROFILE").is_none() {
            round_trips(&uri, scratch.name(), &db).await;
        }
        println!(
            "\n| backfill | mongotic ms | driver ms | ratio | client CPU ms (mongotic / driver) | ratio | user + system ms, mongotic | user + system ms, driver | peak heap MB (mongotic / driver) |"
        );
        println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|");
        for n in sizes() {
            let (mut orm, mut raw): (Vec<Sample>, Vec<Sample>) = (Vec::new(), Vec::new());
            let (mut orm_peak, mut raw_peak) = (0_isize, 0_isize);
            for _ in 0..runs {
                seed(&db, n).await;
                let base = start_peak();
                orm.push(timed(async { migrations().run(&engine).await.map(drop).expect("migrate") }).await);
                orm_peak = orm_peak.max(peak_bytes() - base);
                check(&db, n).await;
                seed(&db, n).await;
                let base = start_peak();
                raw.push(timed(driver_backfill(&db)).await);
                raw_peak = raw_peak.max(peak_bytes() - base);
                check(&db, n).await;
            }
            let wall = |samples: &[Sample]| median(samples.iter().map(|s| s.wall).collect());
            let cpu = |samples: &[Sample]| median(samples.iter().map(|s| s.cpu).collect());
            let ratio = |a: Duration, b: Duration| a.as_secs_f64() / b.as_secs_f64().max(1e-9);
            let mb = |bytes: isize| bytes as f64 / 1e6;
            // Where the CPU went (`getrusage`, every thread of the process): medians per side.
            let split = |samples: &[Sample]| {
                let user = median(samples.iter().map(|s| s.usage.user).collect());
                let system = median(samples.iter().map(|s| s.usage.system).collect());
                format!("{} + {}", ms(user), ms(system))
            };
            println!(
                "| {n} documents | {} | {} | {:.2}x | {} / {} | {:.2}x | {} | {} | {:.1} / {:.1} |",
                ms(wall(&orm)),
                ms(wall(&raw)),
                ratio(wall(&orm), wall(&raw)),
                ms(cpu(&orm)),
                ms(cpu(&raw)),
                ratio(cpu(&orm), cpu(&raw)),
                split(&orm),
                split(&raw),
                mb(orm_peak),
                mb(raw_peak),
            );
        }
        let _ = db.drop().await;
    });
}
