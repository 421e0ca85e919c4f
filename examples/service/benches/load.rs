//! The load run: at least 1,000 concurrent clients send a mix of reads and writes to the
//! service for a fixed time; prints throughput, p50/p99 latency and errors, then checks that
//! the stored data matches what the clients were told (nothing lost, nothing extra).
//!
//! `cargo bench -p mongotic-example-service --bench load` (against the project's test server,
//! or `MONGODB_URI`). `LOAD_CLIENTS` (default 1000) and `LOAD_SECONDS` (default 10).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use mongotic::prelude::*;
use mongotic::{create_engine, create_indexes, sessionmaker};
use mongotic_example_service::{Post, User, app};
use serde_json::{Value, json};

#[derive(Default)]
struct Tally {
    visits: AtomicU64,
    posts: AtomicU64,
    errors: AtomicU64,
}

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|value| value.parse().ok()).unwrap_or(default)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    if !std::env::args().any(|arg| arg == "--bench") {
        return Ok(());
    }
    let clients = env_number("LOAD_CLIENTS", 1000);
    let seconds = env_number("LOAD_SECONDS", 10);
    let uri = match std::env::var("MONGODB_URI") {
        Ok(uri) => uri,
        Err(_) => mongotic_test_server::try_uri()?,
    };
    let db = mongotic_test_server::TestDb::new();
    let engine = create_engine(&uri).await?.with_database(db.name());
    create_indexes::<(User, Post)>(&engine).await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let service_engine = engine.clone();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app(sessionmaker(&service_engine))).await;
    });

    let http = reqwest::Client::builder().pool_max_idle_per_host(clients as usize).build()?;
    let mut ids = Vec::new();
    for n in 0..100 {
        let created: Value = http
            .post(format!("{base}/users"))
            .json(&json!({ "email": format!("u{n}@load.io"), "name": "load" }))
            .send()
            .await?
            .json()
            .await?;
        ids.push(created["id"].as_str().ok_or("an id")?.to_owned());
    }
    let ids = Arc::new(ids);
    let tally = Arc::new(Tally::default());
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for client in 0..clients {
        let (http, base, ids, tally) = (http.clone(), base.clone(), ids.clone(), tally.clone());
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut n = client;
            while Instant::now() < deadline {
                n = n.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                let id = &ids[(n >> 33) as usize % ids.len()];
                let roll = (n >> 20) % 100;
                let start = Instant::now();
                let (request, counter) = if roll < 60 {
                    (http.get(format!("{base}/users/{id}")), None)
                } else if roll < 85 {
                    (http.post(format!("{base}/users/{id}/visit")), Some(&tally.visits))
                } else {
                    (
                        http.post(format!("{base}/users/{id}/posts")).json(&json!({ "title": "load" })),
                        Some(&tally.posts),
                    )
                };
                match request.send().await {
                    Ok(response) if response.status().is_success() => {
                        if let Some(counter) = counter {
                            counter.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    _ => {
                        tally.errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
                latencies.push(start.elapsed());
            }
            latencies
        }));
    }
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await?);
    }
    let elapsed = started.elapsed();
    latencies.sort_unstable();
    let percentile = |p: f64| latencies.get(((latencies.len() as f64 - 1.0) * p) as usize).copied().unwrap_or_default();

    // What the clients were told must be what is stored.
    let mut session = sessionmaker(&engine).session();
    let stored_visits: i64 = session.scalars(select::<User>().columns(User::visits)).all().await?.iter().sum();
    let stored_posts = session.scalars(select::<Post>()).count().await?;
    let told_visits = tally.visits.load(Ordering::Relaxed);
    let told_posts = tally.posts.load(Ordering::Relaxed);
    println!("load: {clients} concurrent clients for {seconds} s against {uri}");
    println!(
        "requests: {} in {:.1} s = {:.0}/s; p50 {:?}, p99 {:?}; errors: {}",
        latencies.len(),
        elapsed.as_secs_f64(),
        latencies.len() as f64 / elapsed.as_secs_f64(),
        percentile(0.50),
        percentile(0.99),
        tally.errors.load(Ordering::Relaxed),
    );
    println!(
        "visits: {told_visits} acknowledged, {stored_visits} stored; posts: {told_posts} acknowledged, {stored_posts} stored"
    );
    if stored_visits as u64 != told_visits || stored_posts != told_posts {
        return Err("what is stored differs from what the clients were told".into());
    }
    Ok(())
}
