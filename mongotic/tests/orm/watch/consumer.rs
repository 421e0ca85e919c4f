//! The durable consumer: exactly once across runs, a handler's failure commits nothing, a
//! cancelled run commits nothing, quiet streams keep their token fresh, a lost history is a
//! typed error, undecodable events by policy.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use mongotic::bson::doc;
use mongotic::mongodb::options::ClientOptions;
use mongotic::prelude::*;
use mongotic::watch::{Change, Consumer, Event, Stopped, Undecodable, watch};
use mongotic::{Error, TransactionMode};
use mongotic_test_server::{DedicatedServer, Topology};

use super::{Item, eventually, item};
use crate::common::{AsyncCtx, TestResult};

/// A read model: events seen per key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Model)]
#[mongotic(database = "watch", collection = "tallies")]
struct Tally {
    #[serde(rename = "_id")]
    #[mongotic(id)]
    key: String,
    count: i64,
}

/// Counts `event` in its key's tally (inserts and replacements; updates and deletes under
/// the key `"~"`).
async fn tally(session: &mut Session, event: Event<Item>) -> mongotic::Result<()> {
    let key = match event.change() {
        Change::Insert { document } | Change::Replace { document, .. } => document.key.clone(),
        _ => "~".to_owned(),
    };
    match session.get::<Tally>(key.as_str()).await? {
        Some(tally) => tally.write().count += 1,
        None => {
            session.add(Tally { key, count: 1 });
        }
    }
    Ok(())
}

async fn tallies(ctx: &AsyncCtx) -> Vec<(String, i64)> {
    let mut session = ctx.session();
    let all = session.scalars(select::<Tally>().order_by(Tally::key)).all().await.unwrap_or_default();
    all.iter().map(|tally| (tally.read().key.clone(), tally.read().count)).collect()
}

async fn total(ctx: &AsyncCtx) -> i64 {
    tallies(ctx).await.iter().map(|(_, count)| count).sum()
}

async fn insert_items(ctx: &AsyncCtx, key: &str, count: usize) -> TestResult {
    let mut session = ctx.session();
    session.add_all((0..count).map(|n| item(key, n as i32)));
    session.commit().await?;
    Ok(())
}

async fn a_consumer_applies_each_event_once_and_resumes_from_its_checkpoint() -> TestResult {
    let ctx = AsyncCtx::new().await;
    let factory = sessionmaker(&ctx.engine);
    let consumer = Consumer::new(&factory, "tallies").watch(watch::<Item>()).batch_size(4);
    let stop = consumer.stop_handle();
    let run = tokio::spawn(async move {
        let stopped = consumer.run(async move |session, event| tally(session, event).await).await;
        (stopped, consumer.applied())
    });
    let reader = Consumer::<Item>::new(&factory, "tallies");
    assert!(eventually(Duration::from_secs(10), || async { reader.checkpoint().await.ok().flatten().is_some() }).await);
    insert_items(&ctx, "a", 10).await?;
    assert!(
        eventually(Duration::from_secs(20), || async { total(&ctx).await == 10 }).await,
        "{:?}",
        tallies(&ctx).await
    );
    stop.stop();
    let (stopped, applied) = run.await?;
    assert_eq!(stopped?, Stopped::Requested);
    assert_eq!(applied, 10);

    // While it is stopped, more changes; the next run starts from its checkpoint.
    insert_items(&ctx, "b", 5).await?;
    let consumer = Consumer::new(&factory, "tallies").watch(watch::<Item>());
    let stop = consumer.stop_handle();
    let run = tokio::spawn(async move { consumer.run(async move |session, event| tally(session, event).await).await });
    assert!(
        eventually(Duration::from_secs(20), || async { total(&ctx).await == 15 }).await,
        "{:?}",
        tallies(&ctx).await
    );
    stop.stop();
    run.await??;
    assert_eq!(tallies(&ctx).await, [("a".to_owned(), 10), ("b".to_owned(), 5)]);
    let checkpoint = reader.checkpoint().await?.ok_or("no checkpoint")?;
    assert_eq!(checkpoint.events(), 15);
    assert!(checkpoint.namespace().ends_with(".items"));
    Ok(())
}
test!(async(workers = 2) a_consumer_applies_each_event_once_and_resumes_from_its_checkpoint, needs = [ReplicaSet]);

async fn a_failing_handler_commits_nothing_of_its_batch() -> TestResult {
    let ctx = AsyncCtx::new().await;
    let factory = sessionmaker(&ctx.engine);
    let consumer = Consumer::new(&factory, "fails").watch(watch::<Item>()).batch_size(1);
    let runs = Arc::new(AtomicUsize::new(0));
    let seen = runs.clone();
    let run = tokio::spawn(async move {
        consumer
            .run(async move |session, event| {
                let n = event.document().map_or(0, |item| item.n);
                tally(session, event).await?;
                seen.fetch_add(1, Ordering::SeqCst);
                if n == 2 {
                    // After its write was staged: the batch must not commit.
                    return Err(Error::InvalidStatement { message: "no twos".into() });
                }
                Ok(())
            })
            .await
    });
    let reader = Consumer::<Item>::new(&factory, "fails");
    assert!(eventually(Duration::from_secs(10), || async { reader.checkpoint().await.ok().flatten().is_some() }).await);
    insert_items(&ctx, "a", 4).await?;
    let ended = tokio::time::timeout(Duration::from_secs(20), run).await??;
    assert!(matches!(ended, Err(Error::InvalidStatement { .. })), "{ended:?}");
    assert_eq!(runs.load(Ordering::SeqCst), 3, "not retried: the error is not transient");
    assert_eq!(tallies(&ctx).await, [("a".to_owned(), 2)]);
    assert_eq!(reader.checkpoint().await?.map(|c| c.events()), Some(2));
    Ok(())
}
test!(async(workers = 2) a_failing_handler_commits_nothing_of_its_batch, needs = [ReplicaSet]);

async fn a_run_cut_short_commits_nothing_and_the_next_applies_it_once() -> TestResult {
    let ctx = AsyncCtx::new().await;
    let factory = sessionmaker(&ctx.engine);
    let started = Arc::new(AtomicUsize::new(0));
    let inside = started.clone();
    let consumer = Consumer::new(&factory, "cut").watch(watch::<Item>());
    let run = tokio::spawn(async move {
        consumer
            .run(async move |session, event| {
                tally(session, event).await?;
                session.flush().await?; // written in the transaction, not committed
                inside.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_secs(3600)).await;
                Ok(())
            })
            .await
    });
    let reader = Consumer::<Item>::new(&factory, "cut");
    assert!(eventually(Duration::from_secs(10), || async { reader.checkpoint().await.ok().flatten().is_some() }).await);
    insert_items(&ctx, "a", 3).await?;
    assert!(eventually(Duration::from_secs(10), || async { started.load(Ordering::SeqCst) == 1 }).await);
    run.abort();
    let _ = run.await;
    assert!(tallies(&ctx).await.is_empty(), "nothing committed");
    assert_eq!(reader.checkpoint().await?.map(|c| c.events()), Some(0));

    let consumer = Consumer::new(&factory, "cut").watch(watch::<Item>());
    let stop = consumer.stop_handle();
    let run = tokio::spawn(async move { consumer.run(async move |session, event| tally(session, event).await).await });
    assert!(
        eventually(Duration::from_secs(20), || async { total(&ctx).await == 3 }).await,
        "{:?}",
        tallies(&ctx).await
    );
    stop.stop();
    assert_eq!(run.await??, Stopped::Requested);
    assert_eq!(tallies(&ctx).await, [("a".to_owned(), 3)]);
    Ok(())
}
test!(async(workers = 2) a_run_cut_short_commits_nothing_and_the_next_applies_it_once, needs = [ReplicaSet]);

async fn a_quiet_stream_keeps_its_token_fresh() -> TestResult {
    let ctx = AsyncCtx::new().await;
    let factory = sessionmaker(&ctx.engine);
    let consumer = Consumer::new(&factory, "quiet")
        .watch(watch::<Item>().max_await(Duration::from_millis(100)))
        .checkpoint_interval(Duration::from_millis(200));
    let stop = consumer.stop_handle();
    let run = tokio::spawn(async move { consumer.run(async move |session, event| tally(session, event).await).await });
    let reader = Consumer::<Item>::new(&factory, "quiet");
    assert!(eventually(Duration::from_secs(10), || async { reader.checkpoint().await.ok().flatten().is_some() }).await);
    let first = reader.checkpoint().await?.ok_or("no checkpoint")?;
    // Changes elsewhere move the server's latest token, though this stream has no event.
    for round in 0..20 {
        ctx.insert::<Tally>(vec![doc! { "_id": format!("elsewhere-{round}"), "count": 0 }]).await;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let refreshed = eventually(Duration::from_secs(10), || async {
        reader.checkpoint().await.ok().flatten().is_some_and(|now| now.sequence() > first.sequence())
    })
    .await;
    stop.stop();
    run.await??;
    let last = reader.checkpoint().await?.ok_or("no checkpoint")?;
    assert!(refreshed, "the token was not refreshed: {first:?} then {last:?}");
    assert_ne!(last.token(), first.token());
    assert_eq!(last.events(), 0);
    // Written at most every interval: 20 rounds of 50 ms are about 1 s, so a handful.
    assert!(last.sequence() - first.sequence() <= 8, "{} writes", last.sequence() - first.sequence());
    Ok(())
}
test!(async(workers = 2) a_quiet_stream_keeps_its_token_fresh, needs = [ReplicaSet]);

/// Items whose `n` is required, to make undecodable events with documents without it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Model)]
#[mongotic(database = "watch", collection = "items")]
struct Strict {
    #[serde(rename = "_id")]
    id: ObjectId,
    key: String,
    n: i32,
}

async fn count_strict(session: &mut Session, event: Event<Strict>) -> mongotic::Result<()> {
    let key = event.document().map_or_else(|| "~".to_owned(), |doc| doc.key.clone());
    match session.get::<Tally>(key.as_str()).await? {
        Some(tally) => tally.write().count += 1,
        None => {
            session.add(Tally { key, count: 1 });
        }
    }
    Ok(())
}

async fn undecodable_events_stop_the_run_or_go_by_policy() -> TestResult {
    let ctx = AsyncCtx::new().await;
    let factory = sessionmaker(&ctx.engine);
    let docs = || {
        vec![
            doc! { "_id": ObjectId::new(), "key": "a", "n": 1 },
            doc! { "_id": ObjectId::new(), "key": "bad" },
            doc! { "_id": ObjectId::new(), "key": "a", "n": 2 },
        ]
    };
    // Stop (the default): the event before commits, the run ends at the bad one.
    let consumer = Consumer::new(&factory, "strict").watch(watch::<Strict>());
    let run = tokio::spawn(async move { consumer.run(async move |s, e| count_strict(s, e).await).await });
    let reader = Consumer::<Strict>::new(&factory, "strict");
    assert!(eventually(Duration::from_secs(10), || async { reader.checkpoint().await.ok().flatten().is_some() }).await);
    for doc in docs() {
        ctx.insert::<Item>(vec![doc]).await;
    }
    let ended = tokio::time::timeout(Duration::from_secs(20), run).await??;
    assert!(matches!(ended, Err(Error::UndecodableEvent { .. })), "{ended:?}");
    assert_eq!(tallies(&ctx).await, [("a".to_owned(), 1)]);
    // Run again: the same event stops it again; nothing is skipped.
    let again = Consumer::new(&factory, "strict").watch(watch::<Strict>());
    let ended =
        tokio::time::timeout(Duration::from_secs(20), again.run(async move |s, e| count_strict(s, e).await)).await?;
    assert!(matches!(ended, Err(Error::UndecodableEvent { .. })), "{ended:?}");

    // Dead letters: stored in the batch's transaction, and the run goes on.
    let parked = Consumer::new(&factory, "strict")
        .watch(watch::<Strict>())
        .on_undecodable(Undecodable::DeadLetter("dead".into()));
    let stop = parked.stop_handle();
    let run = tokio::spawn(async move { parked.run(async move |s, e| count_strict(s, e).await).await });
    assert!(
        eventually(Duration::from_secs(20), || async { total(&ctx).await == 2 }).await,
        "{:?}",
        tallies(&ctx).await
    );
    stop.stop();
    run.await??;
    let client = mongotic::mongodb::Client::with_options(ctx.raw.engine_options().await)?;
    let dead = client.database(ctx.raw.db.name()).collection::<mongotic::bson::Document>("dead");
    let letters: Vec<mongotic::bson::Document> = futures::TryStreamExt::try_collect(dead.find(doc! {}).await?).await?;
    assert_eq!(letters.len(), 1, "{letters:?}");
    assert_eq!(letters[0].get_str("consumer")?, "strict");
    assert_eq!(letters[0].get_document("event")?.get_document("fullDocument")?.get_str("key")?, "bad");

    // Skip: passed over, counted in the checkpoint's events.
    let skipping = Consumer::new(&factory, "skipper").watch(watch::<Strict>()).on_undecodable(Undecodable::Skip);
    let stop = skipping.stop_handle();
    let run = tokio::spawn(async move { skipping.run(async move |s, e| count_strict(s, e).await).await });
    let reader = Consumer::<Strict>::new(&factory, "skipper");
    assert!(eventually(Duration::from_secs(10), || async { reader.checkpoint().await.ok().flatten().is_some() }).await);
    for doc in docs() {
        ctx.insert::<Item>(vec![doc]).await;
    }
    assert!(
        eventually(Duration::from_secs(20), || async { total(&ctx).await == 4 }).await,
        "{:?}",
        tallies(&ctx).await
    );
    stop.stop();
    run.await??;
    assert_eq!(reader.checkpoint().await?.map(|c| c.events()), Some(3));
    Ok(())
}
test!(async(workers = 2) undecodable_events_stop_the_run_or_go_by_policy, needs = [ReplicaSet]);

async fn a_token_the_server_no_longer_has_is_a_typed_error() -> TestResult {
    crate::harness::require(crate::harness::Need::OwnServer);
    let server = DedicatedServer::start_with_args(Topology::ReplicaSet, &["--oplog-max-entries", "50"])?;
    let engine = Engine::from_options(ClientOptions::parse(server.uri()).await?)?.with_database("stale");
    let factory = sessionmaker(&engine);
    let consumer = Consumer::new(&factory, "stale").watch(watch::<Item>());
    let stop = consumer.stop_handle();
    let run = tokio::spawn(async move { consumer.run(async move |s, e| tally_any(s, e).await).await });
    let reader = Consumer::<Item>::new(&factory, "stale");
    assert!(eventually(Duration::from_secs(10), || async { reader.checkpoint().await.ok().flatten().is_some() }).await);
    let mut session = factory.session();
    session.add(item("a", 1));
    session.commit().await?;
    assert!(
        eventually(Duration::from_secs(20), || async {
            reader.checkpoint().await.ok().flatten().is_some_and(|c| c.events() == 1)
        })
        .await
    );
    stop.stop();
    run.await??;

    // While it is stopped, far more changes than the oplog keeps (SecantusDB prunes it every
    // thousand entries).
    let direct = mongotic::mongodb::Client::with_uri_str(server.uri()).await?;
    let items = direct.database("stale").collection::<mongotic::bson::Document>("items");
    let docs: Vec<_> = (0..1100).map(|n| doc! { "key": "b", "n": n }).collect();
    items.insert_many(docs).await?;
    let consumer = Consumer::new(&factory, "stale").watch(watch::<Item>());
    let ended =
        tokio::time::timeout(Duration::from_secs(30), consumer.run(async move |s, e| tally_any(s, e).await)).await?;
    match &ended {
        Err(err @ Error::ChangeStreamHistoryLost { consumer, code, .. }) => {
            assert_eq!(consumer.as_deref(), Some("stale"));
            assert!(matches!(code, 286 | 280), "{code}");
            assert!(err.to_string().contains("start from now"), "{err}");
        }
        other => panic!("expected a lost history, got {other:?}"),
    }
    assert_eq!(reader.checkpoint().await?.map(|c| c.events()), Some(1), "nothing skipped silently");

    // The way out: reset, and start from now.
    assert!(consumer.reset().await?);
    let stop = consumer.stop_handle();
    let fresh = tokio::spawn(async move { consumer.run(async move |s, e| tally_any(s, e).await).await });
    assert!(eventually(Duration::from_secs(10), || async { reader.checkpoint().await.ok().flatten().is_some() }).await);
    let mut session = factory.session();
    session.add(item("c", 1));
    session.commit().await?;
    assert!(
        eventually(Duration::from_secs(20), || async {
            reader.checkpoint().await.ok().flatten().is_some_and(|c| c.events() == 1)
        })
        .await
    );
    stop.stop();
    fresh.await??;
    Ok(())
}
test!(async(workers = 2) a_token_the_server_no_longer_has_is_a_typed_error, needs = [OwnServer]);

async fn tally_any(session: &mut Session, event: Event<Item>) -> mongotic::Result<()> {
    tally(session, event).await
}

async fn a_consumer_refuses_to_run_without_transactions() -> TestResult {
    let ctx = AsyncCtx::new().await;
    let factory = sessionmaker(&ctx.engine.with_transactions(TransactionMode::Never));
    let consumer = Consumer::new(&factory, "never").watch(watch::<Item>());
    let ended = consumer.run(async move |_, _| Ok(())).await;
    assert!(matches!(ended, Err(Error::TransactionsUnavailable { .. })), "{ended:?}");
    // And one run at a time of one value.
    let consumer = Arc::new(Consumer::new(&sessionmaker(&ctx.engine), "once").watch(watch::<Item>()));
    let first = consumer.clone();
    let run = tokio::spawn(async move { first.run(async move |_, _| Ok(())).await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let second = consumer.run(async move |_, _| Ok(())).await;
    assert!(matches!(second, Err(Error::InvalidOptions { .. })), "{second:?}");
    consumer.stop();
    assert_eq!(run.await??, Stopped::Requested);
    Ok(())
}
test!(async(workers = 2) a_consumer_refuses_to_run_without_transactions, needs = [ReplicaSet]);
