//! The retry policy: a transactional flush that keeps meeting transient failures is tried
//! again with waits that grow, until the policy's limit, and the commit's own retries.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mongotic::RetryPolicy;
use mongotic::bson::doc;
use mongotic::mongodb::event::EventHandler;
use mongotic::mongodb::event::command::CommandEvent;
use mongotic::prelude::*;

use crate::common::*;
use crate::telemetry::Capture;

/// When each command of `name` started, from command monitoring.
#[derive(Clone, Default)]
struct Starts(Arc<Mutex<Vec<(String, Instant)>>>);

impl Starts {
    fn handler(&self) -> EventHandler<CommandEvent> {
        let starts = self.0.clone();
        EventHandler::callback(move |event| {
            if let CommandEvent::Started(event) = event
                && let Ok(mut starts) = starts.lock()
            {
                starts.push((event.command_name, Instant::now()));
            }
        })
    }

    fn of(&self, name: &str) -> Vec<Instant> {
        self.0
            .lock()
            .map(|starts| starts.iter().filter(|(n, _)| n == name).map(|(_, at)| *at).collect())
            .unwrap_or_default()
    }
}

/// Under a fail point that fails every commit as transient, a flush tries again and again:
/// the waits between attempts grow (each longer than the one two before it), every gap
/// between two attempts is at least the wait before it, and it stops at the policy's limit
/// with nothing written and everything staged.
async fn transient_failures_are_retried_with_growing_waits_until_the_limit() -> TestResult {
    let ctx = AsyncCtx::new().await;
    let starts = Starts::default();
    let mut options = ctx.raw.engine_options().await;
    options.command_event_handler = Some(starts.handler());
    let engine = Engine::from_options(options)?
        .with_database(ctx.raw.db.name())
        .with_retry_policy(RetryPolicy::default().with_limit(Duration::from_millis(1_500)));
    let capture = Capture::default();
    let _listening = tracing::subscriber::set_default(capture.clone());

    ctx.fail_point(
        "alwaysOn",
        doc! { "failCommands": ["commitTransaction"], "errorCode": 112, "errorLabels": ["TransientTransactionError"] },
    )
    .await;
    let mut session = sessionmaker(&engine).session();
    session.add(user("Ann", "ann@x.io", 30));
    let err = session.commit().await.expect_err("every commit fails");
    ctx.fail_off().await;

    assert!(err.is_transient(), "{err}");
    assert_eq!(session.new().len(), 1, "still staged");
    assert_eq!(ctx.count::<User>(doc! {}).await, 0, "nothing written");
    // Every attempt starts with the insert (an attempt may also fail before its commit: the
    // earlier attempt's transaction, which the fail point did not let end, holds its lock).
    let commits = starts.of("insert");
    let waits: Vec<Duration> = capture
        .events_of("mongotic::retry")
        .iter()
        .filter_map(|event| event.get("wait_us")?.parse().ok())
        .map(Duration::from_micros)
        .collect();
    assert!(commits.len() >= 5, "{} attempts", commits.len());
    assert_eq!(waits.len(), commits.len() - 1, "a wait before every attempt but the first");
    assert!(waits.windows(3).all(|w| w[2] > w[0]), "the waits grow: {waits:?}");
    for (pair, wait) in commits.windows(2).zip(&waits) {
        assert!(pair[1] - pair[0] >= *wait, "a gap of {:?} after a wait of {wait:?}", pair[1] - pair[0]);
    }
    // No attempt started after the limit.
    assert!(*commits.last().ok_or("commits")? - commits[0] < Duration::from_millis(1_500));
    // The same entity commits once the server lets it.
    session.commit().await?;
    assert_eq!(ctx.count::<User>(doc! {}).await, 1);
    Ok(())
}
test!(async transient_failures_are_retried_with_growing_waits_until_the_limit, needs = [ReplicaSet, FailPoints]);
