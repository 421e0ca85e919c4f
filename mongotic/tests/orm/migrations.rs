//! Migrations: the worked example (rename a field, split one into two with a backfill), the
//! ledger, runners started together, runners stopped mid-step and started again, and a
//! property test over random step lists and stop points. Every check compares the whole
//! collection with what the steps intend.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures::TryStreamExt;
use mongotic::bson::{Bson, Document, doc};
use mongotic::expr::path;
use mongotic::migrate::Migrations;
use mongotic_test_server::Topology;

use crate::common::*;

fn collection(ctx: &AsyncCtx, name: &str) -> mongodb::Collection<Document> {
    ctx.engine.client().database(ctx.raw.db.name()).collection(name)
}

async fn all(ctx: &AsyncCtx, name: &str) -> Vec<Document> {
    let cursor = collection(ctx, name).find(doc! {}).sort(doc! { "_id": 1 }).await.expect("find");
    cursor.try_collect().await.expect("find")
}

async fn seed(ctx: &AsyncCtx, n: i64) {
    let docs: Vec<Document> = (0..n)
        .map(|i| doc! { "_id": i, "fullname": format!("First{i} Last{i}"), "mail": format!("u{i}@example.com") })
        .collect();
    if !docs.is_empty() {
        collection(ctx, "people").insert_many(docs).await.expect("seed");
    }
}

/// What the worked example turns document `i` into.
fn migrated(i: i64, visits: i32) -> Document {
    doc! { "_id": i, "email": format!("u{i}@example.com"), "first_name": format!("First{i}"), "last_name": format!("Last{i}"), "visits": visits }
}

/// The worked example: split `fullname` (a backfill, counting its visits per document, so a
/// document changed twice shows), then rename `mail` (a pipeline-free update).
fn worked_example(page: u32) -> Migrations {
    Migrations::new()
        .lease(Duration::from_millis(800))
        .backfill("split-fullname", "people", path("fullname").exists(true), |person| {
            let fullname = person.get("fullname").and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default();
            let (first, last) = fullname.split_once(' ').unwrap_or((fullname.as_str(), ""));
            person.set("first_name", first)?;
            person.set("last_name", last)?;
            let visits = person.get("visits").and_then(|v| v.as_i32()).unwrap_or(0);
            person.set("visits", visits + 1)?;
            person.unset("fullname");
            Ok(())
        })
        .page_size(page)
        .update("rename-mail", "people", path("mail").exists(true), doc! { "$rename": { "mail": "email" } })
}

fn fields_in_order(doc: &Document) -> Document {
    let mut keys: Vec<&String> = doc.keys().collect();
    keys.sort();
    keys.into_iter().map(|key| (key.clone(), doc.get(key).cloned().unwrap_or(Bson::Null))).collect()
}

async fn assert_migrated(ctx: &AsyncCtx, n: i64) -> Result<(), String> {
    let stored: Vec<Document> = all(ctx, "people").await.iter().map(fields_in_order).collect();
    let expected: Vec<Document> = (0..n).map(|i| fields_in_order(&migrated(i, 1))).collect();
    if stored != expected {
        let wrong: Vec<_> = stored.iter().zip(&expected).filter(|(s, e)| s != e).take(3).collect();
        return Err(format!("{} stored, {} expected; first differences: {wrong:?}", stored.len(), expected.len()));
    }
    let ledger = all(ctx, "mongotic_migrations").await;
    let applied: Vec<&str> = ledger
        .iter()
        .filter(|entry| entry.get_str("state") == Ok("applied"))
        .filter_map(|e| e.get_str("name").ok())
        .collect();
    assert_eq!(applied, ["rename-mail", "split-fullname"], "{ledger:?}");
    assert!(!ledger.iter().any(|entry| entry.get_str("_id") == Ok("lease")), "the lease is let go of: {ledger:?}");
    Ok(())
}

async fn the_worked_example_runs_once(topology: Topology) -> Result<(), String> {
    let ctx = AsyncCtx::on(topology).await;
    seed(&ctx, 1_234).await;
    let seen = Arc::new(AtomicU64::new(0));
    let progress = seen.clone();
    let migrations = worked_example(500).on_progress(move |p| {
        progress.fetch_max(p.done, Ordering::Relaxed);
    });
    assert_eq!(migrations.pending(&ctx.engine).await.map_err(|e| e.to_string())?, ["split-fullname", "rename-mail"]);
    let report = migrations.run(&ctx.engine).await.map_err(|e| e.to_string())?;
    assert_eq!(report.applied, ["split-fullname", "rename-mail"]);
    assert_eq!(seen.load(Ordering::Relaxed), 1_234, "progress reached every document");
    assert_migrated(&ctx, 1_234).await?;
    assert!(migrations.pending(&ctx.engine).await.map_err(|e| e.to_string())?.is_empty());
    let again = migrations.run(&ctx.engine).await.map_err(|e| e.to_string())?;
    assert!(again.applied.is_empty() && again.already_applied.len() == 2, "{again:?}");
    assert_migrated(&ctx, 1_234).await
}

async fn worked_example_on_replica_set() -> Result<(), String> {
    the_worked_example_runs_once(Topology::ReplicaSet).await
}
async fn worked_example_on_standalone() -> Result<(), String> {
    the_worked_example_runs_once(Topology::Standalone).await
}
test!(async worked_example_on_replica_set, needs = [ReplicaSet]);
test!(async worked_example_on_standalone, needs = [Standalone]);

/// A step that is not idempotent (`$inc`), so a second application shows.
fn counting(migrations: Migrations, name: &str) -> Migrations {
    let key = name.to_owned();
    migrations.step(name, move |session| {
        let key = key.clone();
        Box::pin(async move {
            let mut counters = session.documents("counters")?;
            match counters.get(key.as_str()).await? {
                Some(counter) => {
                    let n = counter.get("n").and_then(|v| v.as_i32()).unwrap_or(0);
                    counter.set("n", n + 1)?;
                }
                None => {
                    counters.add(doc! { "_id": key.as_str(), "n": 1 })?;
                }
            }
            Ok(())
        })
    })
}

async fn runners_started_together_apply_each_step_once(topology: Topology) -> Result<(), String> {
    let ctx = AsyncCtx::on(topology).await;
    seed(&ctx, 600).await;
    let make = || counting(counting(worked_example(100), "count-a"), "count-b");
    let (first, second, third) = (make(), make(), make());
    let (a, b, c) = tokio::join!(first.run(&ctx.engine), second.run(&ctx.engine), third.run(&ctx.engine));
    let reports = [a.map_err(|e| e.to_string())?, b.map_err(|e| e.to_string())?, c.map_err(|e| e.to_string())?];
    let applied: usize = reports.iter().map(|report| report.applied.len()).sum();
    assert_eq!(applied, 4, "each step applied by exactly one runner: {reports:?}");
    assert_eq!(all(&ctx, "counters").await, vec![doc! { "_id": "count-a", "n": 1 }, doc! { "_id": "count-b", "n": 1 }]);
    let stored: Vec<Document> = all(&ctx, "people").await.iter().map(fields_in_order).collect();
    let expected: Vec<Document> = (0..600).map(|i| fields_in_order(&migrated(i, 1))).collect();
    assert!(stored == expected, "every document migrated once");
    Ok(())
}

async fn together_on_replica_set() -> Result<(), String> {
    runners_started_together_apply_each_step_once(Topology::ReplicaSet).await
}
async fn together_on_standalone() -> Result<(), String> {
    runners_started_together_apply_each_step_once(Topology::Standalone).await
}
test!(async(workers = 2) together_on_replica_set, needs = [ReplicaSet]);
test!(async(workers = 2) together_on_standalone, needs = [Standalone]);

/// Runs `migrations` and stops it (drops the run where it is, as a killed process would:
/// no rollback, no release of the lease) once `stop_after` pages or steps have been reported.
async fn run_and_stop(ctx: &AsyncCtx, migrations: Migrations, stop_after: u64) {
    let reported = Arc::new(AtomicU64::new(0));
    let counter = reported.clone();
    let migrations = migrations.on_progress(move |_| {
        counter.fetch_add(1, Ordering::Relaxed);
    });
    let engine = ctx.engine.clone();
    let run = async move { migrations.run(&engine).await };
    let watch = async {
        while reported.load(Ordering::Relaxed) < stop_after {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    };
    tokio::select! {
        _ = run => {}
        _ = watch => {}
    }
}

/// What a runner stopped mid-backfill leaves in the ledger: its lease (held until it expires)
/// and the backfill's entry, whose count of documents done (returned) lies in `expected`.
async fn left_by_a_stopped_runner(ctx: &AsyncCtx, expected: std::ops::Range<i64>) -> Result<i64, String> {
    let ledger = all(ctx, "mongotic_migrations").await;
    let lease_held = ledger.iter().any(|entry| entry.get_str("_id") == Ok("lease"));
    assert!(lease_held, "a stopped runner keeps the lease until it expires: {ledger:?}");
    let part = ledger.iter().find(|e| e.get_str("name") == Ok("split-fullname")).ok_or("no entry for the backfill")?;
    let done = part.get_i64("done").unwrap_or(0);
    assert!(expected.contains(&done), "the backfill recorded its pages: {part:?}");
    Ok(done)
}

async fn a_runner_stopped_mid_backfill_is_resumed(topology: Topology) -> Result<(), String> {
    let ctx = AsyncCtx::on(topology).await;
    seed(&ctx, 1_000).await;
    run_and_stop(&ctx, worked_example(100), 3).await;
    let done = left_by_a_stopped_runner(&ctx, 300..1_000).await?;
    // Started again: it waits for the lease to expire and carries on from the position.
    let report = worked_example(100).run(&ctx.engine).await.map_err(|e| e.to_string())?;
    assert!(report.applied.contains(&"split-fullname".to_owned()), "{report:?}");
    // The update step changes all 1,000; the backfill only what the first run left.
    let backfilled = report.documents - 1_000;
    assert_eq!(backfilled, 1_000 - done as u64, "the second run resumed rather than started over: {report:?}");
    assert_migrated(&ctx, 1_000).await
}

async fn resumed_on_replica_set() -> Result<(), String> {
    a_runner_stopped_mid_backfill_is_resumed(Topology::ReplicaSet).await
}
async fn resumed_on_standalone() -> Result<(), String> {
    a_runner_stopped_mid_backfill_is_resumed(Topology::Standalone).await
}
test!(async resumed_on_replica_set, needs = [ReplicaSet]);
test!(async resumed_on_standalone, needs = [Standalone]);

/// A runner whose lease another runner took over (as when it stalls past the expiry) stops at
/// its next page with `MigrationLeaseLost`, and that page is not applied: with transactions,
/// its writes are rolled back with the lease update that did not match; without, the unit's
/// lease check fails before it writes.
async fn a_runner_that_lost_its_lease_applies_nothing_more(topology: Topology) -> Result<(), String> {
    let ctx = AsyncCtx::on(topology).await;
    seed(&ctx, 300).await;
    let options = ctx.raw.engine_options().await;
    let database = ctx.raw.db.name().to_owned();
    let taken = Arc::new(AtomicU64::new(0));
    let once = taken.clone();
    // Once the first page has committed, another runner takes the lease: from a thread and a
    // client of its own, before this runner goes on to the next page.
    let migrations = worked_example(100).on_progress(move |progress| {
        if progress.finished || once.swap(1, Ordering::SeqCst) == 1 {
            return;
        }
        let (options, database) = (options.clone(), database.clone());
        let other = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
            runtime.block_on(async {
                let client = mongodb::Client::with_options(options).expect("client");
                let ledger = client.database(&database).collection::<Document>("mongotic_migrations");
                let taken = ledger
                    .update_one(doc! { "_id": "lease" }, doc! { "$set": { "owner": "another runner" } })
                    .await
                    .expect("take the lease");
                assert_eq!(taken.matched_count, 1, "the lease is there to take");
            });
        });
        other.join().expect("the other runner");
    });
    match migrations.run(&ctx.engine).await {
        Err(mongotic::Error::MigrationLeaseLost { .. }) => {}
        Err(err) => return Err(format!("expected MigrationLeaseLost, got {err}")),
        Ok(report) => return Err(format!("the runner went on without its lease: {report:?}")),
    }
    assert_eq!(taken.load(Ordering::SeqCst), 1, "the lease was taken after the first page");
    let people = all(&ctx, "people").await;
    let changed: Vec<i64> =
        people.iter().filter(|p| p.contains_key("first_name")).filter_map(|p| p.get_i64("_id").ok()).collect();
    assert_eq!(changed, (0..100).collect::<Vec<i64>>(), "the first page only");
    assert_eq!(people.iter().filter(|p| p.contains_key("fullname")).count(), 200, "the others untouched");
    let ledger = all(&ctx, "mongotic_migrations").await;
    let entry = ledger.iter().find(|e| e.get_str("name") == Ok("split-fullname")).ok_or("no entry for the backfill")?;
    assert_eq!((entry.get_i64("done"), entry.get("position")), (Ok(100), Some(&Bson::Int64(99))), "{entry:?}");
    assert_eq!(entry.get_str("state"), Ok("running"));
    let lease = ledger.iter().find(|e| e.get_str("_id") == Ok("lease")).ok_or("the lease is gone")?;
    assert_eq!(lease.get_str("owner"), Ok("another runner"), "the lease is the other runner's: {lease:?}");
    Ok(())
}

async fn lease_lost_on_replica_set() -> Result<(), String> {
    a_runner_that_lost_its_lease_applies_nothing_more(Topology::ReplicaSet).await
}
async fn lease_lost_on_standalone() -> Result<(), String> {
    a_runner_that_lost_its_lease_applies_nothing_more(Topology::Standalone).await
}
test!(async lease_lost_on_replica_set, needs = [ReplicaSet]);
test!(async lease_lost_on_standalone, needs = [Standalone]);

/// Random step lists, stopped at random points, run again until done: every step applied
/// once, every backfilled document changed once, the ledger complete.
async fn random_step_lists_stopped_anywhere() -> Result<(), String> {
    let mut seed_state: u64 = 0x5EED_2026;
    let mut next = move |bound: u64| {
        seed_state = seed_state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (seed_state >> 33) % bound
    };
    for case in 0..6 {
        let ctx = AsyncCtx::new().await;
        let documents = 50 + next(250) as i64;
        seed(&ctx, documents).await;
        let steps = 1 + next(3);
        let page = 10 + next(60) as u32;
        let make = |steps: u64| {
            let mut migrations = worked_example(page);
            for step in 0..steps {
                migrations = counting(migrations, &format!("count-{step}"));
            }
            migrations
        };
        let mut stops = 0;
        loop {
            let stop_after = 1 + next(6);
            run_and_stop(&ctx, make(steps), stop_after).await;
            stops += 1;
            let pending = make(steps).pending(&ctx.engine).await.map_err(|e| e.to_string())?;
            if pending.is_empty() || stops > 20 {
                break;
            }
        }
        // Whatever is left, one run finishes.
        make(steps).run(&ctx.engine).await.map_err(|e| format!("case {case}: {e}"))?;
        let counters = all(&ctx, "counters").await;
        let expected: Vec<Document> = (0..steps).map(|step| doc! { "_id": format!("count-{step}"), "n": 1 }).collect();
        assert_eq!(counters, expected, "case {case}: every step applied once");
        assert_migrated_with(&ctx, documents, steps as usize + 2).await.map_err(|e| format!("case {case}: {e}"))?;
    }
    Ok(())
}
test!(async random_step_lists_stopped_anywhere, needs = [ReplicaSet]);

async fn assert_migrated_with(ctx: &AsyncCtx, n: i64, steps: usize) -> Result<(), String> {
    let stored: Vec<Document> = all(ctx, "people").await.iter().map(fields_in_order).collect();
    let expected: Vec<Document> = (0..n).map(|i| fields_in_order(&migrated(i, 1))).collect();
    if stored != expected {
        return Err(format!("{} stored, {} expected", stored.len(), expected.len()));
    }
    let ledger = all(ctx, "mongotic_migrations").await;
    let applied = ledger.iter().filter(|entry| entry.get_str("state") == Ok("applied")).count();
    if applied != steps {
        return Err(format!("{applied} steps applied in the ledger, {steps} expected: {ledger:?}"));
    }
    Ok(())
}

async fn a_failing_step_stops_the_run_and_names_itself() -> Result<(), String> {
    let ctx = AsyncCtx::new().await;
    seed(&ctx, 10).await;
    let failing = worked_example(4).step("boom", |session| {
        Box::pin(async move {
            session.documents("counters")?.add(doc! { "_id": "boom" })?;
            Err(mongotic::Error::InvalidStatement { message: "boom".into() })
        })
    });
    match failing.run(&ctx.engine).await {
        Err(mongotic::Error::Migration { step, .. }) => assert_eq!(step, "boom"),
        other => return Err(format!("expected Error::Migration, got {other:?}")),
    }
    assert!(all(&ctx, "counters").await.is_empty(), "the failed step's work was not written");
    assert_eq!(failing.pending(&ctx.engine).await.map_err(|e| e.to_string())?, ["boom"]);
    let duplicate =
        Migrations::new().step("a", |_| Box::pin(async { Ok(()) })).step("a", |_| Box::pin(async { Ok(()) }));
    assert!(matches!(duplicate.run(&ctx.engine).await, Err(mongotic::Error::InvalidStatement { .. })));
    Ok(())
}
test!(async a_failing_step_stops_the_run_and_names_itself, needs = [ReplicaSet]);

/// The server is killed (SIGKILL) while a backfill runs, and restarted: the run carries on,
/// every document is migrated once and the ledger is complete.
async fn a_server_killed_mid_backfill_loses_nothing() -> crate::common::TestResult {
    let mut server = mongotic_test_server::DedicatedServer::start(Topology::ReplicaSet)?;
    let uri = format!("{}&serverSelectionTimeoutMS=30000", server.uri());
    let engine = mongotic::create_engine(&uri).await?.with_database("migrate_kill");
    let raw = mongodb::Client::with_uri_str(&uri).await?.database("migrate_kill");
    let people: Vec<Document> = (0..1_500_i64)
        .map(|i| doc! { "_id": i, "fullname": format!("First{i} Last{i}"), "mail": format!("u{i}@example.com") })
        .collect();
    raw.collection::<Document>("people").insert_many(people).await?;

    let pages = Arc::new(AtomicU64::new(0));
    let counter = pages.clone();
    let migrations = worked_example(100).on_progress(move |_| {
        counter.fetch_add(1, Ordering::Relaxed);
    });
    let run = migrations.run(&engine);
    let killer = async {
        while pages.load(Ordering::Relaxed) < 4 {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        server.kill()?;
        tokio::time::sleep(Duration::from_millis(300)).await;
        server.restart()?;
        Ok::<(), String>(())
    };
    let (first, killed) = tokio::join!(run, killer);
    killed?;
    // The run retries the unit the kill cut short (from what the ledger says) and carries on.
    let report = first.map_err(|err| format!("the run did not carry on after the restart: {err}"))?;
    assert_eq!(report.applied, ["split-fullname", "rename-mail"]);
    assert!(worked_example(100).pending(&engine).await?.is_empty());

    let stored: Vec<Document> = raw
        .collection::<Document>("people")
        .find(doc! {})
        .sort(doc! { "_id": 1 })
        .await?
        .try_collect::<Vec<_>>()
        .await?
        .iter()
        .map(fields_in_order)
        .collect();
    let expected: Vec<Document> = (0..1_500).map(|i| fields_in_order(&migrated(i, 1))).collect();
    assert!(stored == expected, "every document migrated once ({} stored)", stored.len());
    let ledger: Vec<Document> =
        raw.collection::<Document>("mongotic_migrations").find(doc! {}).await?.try_collect().await?;
    let applied = ledger.iter().filter(|entry| entry.get_str("state") == Ok("applied")).count();
    assert_eq!(applied, 2, "{ledger:?}");
    Ok(())
}
test!(async a_server_killed_mid_backfill_loses_nothing, needs = [OwnServer]);

/// The variable that makes this test binary a migration runner (see [`runner_process`]):
/// `<uri> <database>`.
const RUNNER: &str = "MONGOTIC_TEST_MIGRATION_RUNNER";

/// When a test started this process as a migration runner: runs the worked example against
/// the database `MONGOTIC_TEST_MIGRATION_RUNNER` names, printing a line after each page, and
/// exits. `main` asks this first, so the runner is a real process the test can SIGKILL.
pub fn runner_process() -> Option<std::process::ExitCode> {
    let spec = std::env::var(RUNNER).ok()?;
    let (uri, database) = spec.rsplit_once(' ')?;
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().ok()?;
    let ran = runtime.block_on(async {
        let engine = mongotic::create_engine(uri).await?.with_database(database);
        let migrations = worked_example(100).on_progress(|progress| println!("page {}", progress.done));
        migrations.run(&engine).await
    });
    Some(match ran {
        Ok(_) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("migration runner: {err}");
            std::process::ExitCode::FAILURE
        }
    })
}

/// A runner process is SIGKILLed in the middle of a backfill (after its fifth page, while it
/// writes the next ones); a second run, here, waits out the dead runner's lease and resumes
/// where its ledger says: every document migrated once, nothing backfilled twice. With
/// transactions the resumed run does exactly what the ledger left; without, the page the kill
/// cut short may be written without its ledger entry, and the resumed run skips its documents
/// (the backfill's filter no longer selects them).
async fn a_runner_process_killed_mid_backfill(topology: Topology) -> Result<(), String> {
    use std::io::BufRead;
    let ctx = AsyncCtx::on(topology).await;
    seed(&ctx, 5_000).await;
    let uri = mongotic_test_server::uri_for(topology).ok_or("no server")?;
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut child = std::process::Command::new(exe)
        .env(RUNNER, format!("{uri} {}", ctx.raw.db.name()))
        .stdout(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start the runner: {e}"))?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let pages = tokio::task::spawn_blocking(move || {
        let mut lines = std::io::BufReader::new(stdout).lines();
        (0..5).take_while(|_| matches!(lines.next(), Some(Ok(_)))).count()
    })
    .await
    .map_err(|e| e.to_string())?;
    child.kill().map_err(|e| format!("cannot kill the runner: {e}"))?; // SIGKILL
    let status = child.wait().map_err(|e| e.to_string())?;
    assert_eq!(pages, 5, "the runner reported its pages before the kill ({status})");
    assert!(!status.success(), "the runner was killed before it finished ({status})");

    let done = left_by_a_stopped_runner(&ctx, 500..5_000).await?;

    let report = worked_example(100).run(&ctx.engine).await.map_err(|e| e.to_string())?;
    assert_eq!(report.applied, ["split-fullname", "rename-mail"]);
    let resumed = report.documents - 5_000;
    if ctx.transactional() {
        assert_eq!(resumed, 5_000 - done as u64, "resumed at the recorded position: {report:?}");
    } else {
        assert!(resumed <= 5_000 - done as u64, "resumed at the recorded position or later: {report:?}");
    }
    assert_migrated(&ctx, 5_000).await
}

async fn runner_killed_on_replica_set() -> Result<(), String> {
    a_runner_process_killed_mid_backfill(Topology::ReplicaSet).await
}
async fn runner_killed_on_standalone() -> Result<(), String> {
    a_runner_process_killed_mid_backfill(Topology::Standalone).await
}
test!(async runner_killed_on_replica_set, needs = [ReplicaSet]);
test!(async runner_killed_on_standalone, needs = [Standalone]);

/// The server drops the backfill's cursor (`CursorNotFound` on a `getMore`, as after its idle
/// timeout): the walk opens it again after the last document it read and carries on, every
/// document changed once.
async fn a_lost_cursor_is_opened_again() -> Result<(), String> {
    let ctx = AsyncCtx::on(Topology::ReplicaSet).await;
    seed(&ctx, 1_000).await;
    ctx.fail_commands(&["getMore"], Some(43), 2).await;
    let ran = worked_example(100).run(&ctx.engine).await;
    ctx.fail_off().await;
    let report = ran.map_err(|e| format!("the walk did not carry on past a lost cursor: {e}"))?;
    assert_eq!(report.applied, ["split-fullname", "rename-mail"]);
    assert_eq!(report.documents, 2_000, "each document backfilled once, then renamed: {report:?}");
    let walks = ctx.log().commands("find").iter().filter(|find| find.get_str("find") == Ok("people")).count();
    // Opened once, again after each of the two losses (after the last `_id` read), and once
    // more at the end for the ids of the types that sort after an integer.
    assert_eq!(walks, 4, "the walk's cursors: {walks}");
    assert_migrated(&ctx, 1_000).await
}
test!(async a_lost_cursor_is_opened_again, needs = [ReplicaSet, FailPoints]);

/// `$gt` compares within one BSON type: a backfill over ids of several types still walks them
/// all, page after page.
async fn a_backfill_walks_ids_of_every_type() -> Result<(), String> {
    let ctx = AsyncCtx::new().await;
    let mut docs: Vec<Document> = (0..7_i64).map(|i| doc! { "_id": i, "fullname": "A B" }).collect();
    docs.extend(["a", "b", "c", "d", "e"].map(|id| doc! { "_id": id, "fullname": "A B" }));
    docs.extend((0..4).map(|_| doc! { "_id": mongotic::bson::oid::ObjectId::new(), "fullname": "A B" }));
    docs.push(doc! { "_id": mongotic::bson::DateTime::now(), "fullname": "A B" });
    collection(&ctx, "people").insert_many(docs).await.map_err(|e| e.to_string())?;
    let migrations = Migrations::new()
        .backfill("mark", "people", path("fullname").exists(true), |person| {
            person.unset("fullname");
            person.set("marked", true)?;
            Ok(())
        })
        .page_size(3);
    let report = migrations.run(&ctx.engine).await.map_err(|e| e.to_string())?;
    assert_eq!(report.documents, 17, "{report:?}");
    let left = collection(&ctx, "people")
        .count_documents(doc! { "fullname": { "$exists": true } })
        .await
        .map_err(|e| e.to_string())?;
    let marked =
        collection(&ctx, "people").count_documents(doc! { "marked": true }).await.map_err(|e| e.to_string())?;
    assert_eq!((left, marked), (0, 17));
    Ok(())
}
test!(async a_backfill_walks_ids_of_every_type, needs = [ReplicaSet]);
