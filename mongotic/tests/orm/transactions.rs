//! Transactions: an atomic flush where the deployment has them, explicit transactions with
//! SQLAlchemy's meaning, the engine's `TransactionMode`, and retries of transient failures.

use mongotic::bson::doc;
use mongotic::prelude::*;
use mongotic::{Error, TransactionMode};
use mongotic_test_server::Topology;

use crate::common::*;

// An explicit transaction: its reads see its own writes, nobody else sees them before the
// commit, and the commit makes them visible at once.
scenario!(explicit_transaction_commits_queries_and_flushes, on = [ReplicaSet], |ctx| {
    let mut session = ctx.session();
    let alice = session.add(user("Alice", "alice@example.com", 30));
    aw!(session.commit())?;

    aw!(session.begin())?;
    assert!(session.in_transaction());
    alice.write().age = Some(31);
    session.add(user("Bob", "bob@example.com", 25));
    aw!(session.flush())?;
    let inside = aw!(session.scalars(select::<User>().filter(User::age.gte(25))).count())?;
    assert_eq!(inside, 2, "the transaction sees its own writes");
    assert_eq!(aw!(ctx.count::<User>(doc! {})), 1, "nobody else does before the commit");
    assert_eq!(aw!(ctx.count::<User>(doc! { "age": 31 })), 0);
    aw!(session.commit())?;
    assert!(!session.in_transaction());
    assert_eq!(aw!(ctx.count::<User>(doc! {})), 2);
    assert_eq!(aw!(ctx.count::<User>(doc! { "age": 31 })), 1);
});

// Where the deployment runs no transactions, `begin` says so.
scenario!(begin_is_refused_without_transactions, on = [Standalone], |ctx| {
    let result = aw!(ctx.session().begin());
    assert!(matches!(result, Err(Error::TransactionsUnavailable { .. })), "{result:?}");
});

// `rollback` aborts: nothing the transaction flushed is kept, and the session's entities
// are back as they were at `begin`.
scenario!(rollback_aborts_what_was_flushed, on = [ReplicaSet], |ctx| {
    let mut session = ctx.session();
    let alice = session.add(user("Alice", "alice@example.com", 30));
    let bob = session.add(user("Bob", "bob@example.com", 25));
    aw!(session.commit())?;

    aw!(session.begin())?;
    alice.write().age = Some(99);
    session.delete(&bob)?;
    let carol = session.add(user("Carol", "carol@example.com", 28));
    aw!(session.flush())?;
    assert!(alice.is_persistent() && carol.is_persistent() && !bob.is_attached());
    session.rollback();

    assert!(!session.in_transaction());
    assert_eq!(alice.read().age, Some(30), "the value before the transaction");
    assert!(bob.is_attached() && bob.is_persistent(), "the delete was taken back");
    assert!(!carol.is_attached() && !carol.is_persistent(), "the insert was taken back");
    assert!(session.dirty().is_empty() && session.new().is_empty() && session.deleted().is_empty());
    ctx.log().clear();
    aw!(session.commit())?;
    assert!(ctx.log().is_empty(), "nothing left to write: {:?}", ctx.log().names());
    assert_eq!(aw!(ctx.count::<User>(doc! {})), 2);
    assert_eq!(aw!(ctx.count::<User>(doc! { "age": 30 })), 1);
});

// An error aborts the explicit transaction: nothing of it is kept, the changes are staged
// again, and I/O is refused until `rollback`.
scenario!(an_error_aborts_the_explicit_transaction, on = [ReplicaSet], |ctx| {
    aw!(ctx.create_indexes::<User>())?;
    let mut session = ctx.session();
    aw!(session.begin())?;
    let first = session.add(user("First", "first@example.com", 1));
    aw!(session.flush())?;
    session.add(user("Twin", "first@example.com", 2));
    let result = aw!(session.commit());
    assert!(result.as_ref().is_err_and(Error::is_duplicate_key), "{result:?}");
    assert_eq!(aw!(ctx.count::<User>(doc! {})), 0, "the whole transaction was aborted");
    assert!(!first.is_persistent(), "its bookkeeping went back to begin");
    let refused = aw!(session.scalars(select::<User>()).all());
    assert!(matches!(refused, Err(Error::TransactionAborted)), "{refused:?}");
    session.rollback();
    assert!(session.new().is_empty());
    aw!(session.commit())?;
});

// A flush outside an explicit transaction is atomic, and transient failures are retried
// whole: the commit goes through and every document is stored once.
scenario!(transient_failures_are_retried_whole, on = [ReplicaSet], needs = [FailPoints], |ctx| {
    let mut session = ctx.session();
    session.add_all((0..10).map(|i| user(&format!("u{i}"), &format!("u{i}@example.com"), i)));
    aw!(ctx.fail_point(
        doc! { "times": 1 },
        doc! { "failCommands": ["insert"], "errorCode": 112, "errorLabels": ["TransientTransactionError"] }
    ));
    ctx.log().clear();
    aw!(session.commit())?;
    assert_eq!(ctx.log().count("insert"), 2, "the transaction ran twice: {:?}", ctx.log().names());
    assert_eq!(aw!(ctx.count::<User>(doc! {})), 10);

    // A commit whose result is unknown is committed again, not the whole transaction.
    for user in aw!(session.scalars(select::<User>()).all())? {
        user.write().role = Some("member".into());
    }
    aw!(ctx.fail_point(
        doc! { "times": 1 },
        doc! { "failCommands": ["commitTransaction"], "errorCode": 91, "errorLabels": ["UnknownTransactionCommitResult"] }
    ));
    ctx.log().clear();
    aw!(session.commit())?;
    assert_eq!(ctx.log().count("update"), 1, "{:?}", ctx.log().names());
    assert!(ctx.log().count("commitTransaction") >= 2, "{:?}", ctx.log().names());
    assert_eq!(aw!(ctx.count::<User>(doc! { "role": "member" })), 10);
    assert!(session.dirty().is_empty());
});

test!(async transaction_mode_never_writes_without_one, needs = [ReplicaSet]);
/// `TransactionMode::Never` writes without a transaction even on a replica set.
async fn transaction_mode_never_writes_without_one() -> TestResult {
    let ctx = AsyncCtx::new().await;
    let mut session = sessionmaker(&ctx.engine.with_transactions(TransactionMode::Never)).session();
    session.add(user("Alice", "alice@example.com", 30));
    ctx.log().clear();
    session.commit().await?;
    assert_eq!(ctx.log().names(), ["insert"]);
    assert!(matches!(session.begin().await, Err(Error::TransactionsUnavailable { .. })));
    Ok(())
}

test!(async transaction_mode_always_refuses_a_standalone_server, needs = [Standalone]);
/// `TransactionMode::Always` refuses a standalone server before sending anything.
async fn transaction_mode_always_refuses_a_standalone_server() -> TestResult {
    let standalone = AsyncCtx::on(Topology::Standalone).await;
    let mut session = sessionmaker(&standalone.engine.with_transactions(TransactionMode::Always)).session();
    session.add(user("Bob", "bob@example.com", 25));
    standalone.log().clear();
    let result = session.commit().await;
    assert!(matches!(result, Err(Error::TransactionsUnavailable { .. })), "{result:?}");
    assert!(standalone.log().is_empty(), "nothing sent: {:?}", standalone.log().names());
    assert_eq!(session.new().len(), 1, "still staged");
    Ok(())
}

test!(async transaction_body_is_run_again_on_transient_errors, needs = [ReplicaSet, FailPoints]);
/// The convenient form: the body runs again when the transaction hits a transient error.
async fn transaction_body_is_run_again_on_transient_errors() -> TestResult {
    let ctx = AsyncCtx::new().await;
    let mut session = ctx.session();
    let alice = session.add(user("Alice", "alice@example.com", 30));
    session.commit().await?;
    ctx.fail_point(
        doc! { "times": 1 },
        doc! { "failCommands": ["commitTransaction"], "errorCode": 112, "errorLabels": ["TransientTransactionError"] },
    )
    .await;
    let mut runs = 0;
    let id = alice.id().ok_or("id")?;
    session
        .transaction(async |s| {
            runs += 1;
            if let Some(found) = s.get::<User>(id).await? {
                let age = found.read().age.unwrap_or_default();
                found.write().age = Some(age + 1);
            }
            Ok(())
        })
        .await?;
    // At least twice: the fail point fails the commit without aborting the transaction on
    // the server, so the second run may still meet its lock (a write conflict, transient too).
    assert!(runs >= 2, "{runs}");
    assert_eq!(ctx.count::<User>(doc! { "age": 31 }).await, 1, "applied once");
    Ok(())
}

/// A note that a delete only marks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Model)]
#[mongotic(database = "myapp", collection = "notes")]
pub struct Note {
    #[serde(rename = "_id")]
    pub id: i64,
    pub body: String,
    #[serde(default)]
    #[mongotic(soft_delete)]
    pub deleted_at: Option<mongotic::bson::DateTime>,
}

test!(async a_commit_that_may_have_landed_is_read_back_before_it_is_sent_again, needs = [ReplicaSet, FailPoints, OwnServer]);
/// A commit that landed but whose reply was lost, and whose retry then hears "no such
/// transaction" (as from a server that restarted and forgot it): the flush must not send the
/// transaction again as new inserts (a duplicate key forever); it reads them back first.
/// Found by the randomized fault test with a server killed during the commit.
async fn a_commit_that_may_have_landed_is_read_back_before_it_is_sent_again() -> TestResult {
    let ctx = AsyncCtx::new().await;
    let direct = ctx.raw.engine_options().await;
    // The project's server (`OwnServer`): on the loopback interface, at the port it names.
    let Some(mongotic::mongodb::options::ServerAddress::Tcp { port: Some(port), .. }) = direct.hosts.first().cloned()
    else {
        return Err(format!("the project's replica-set server has no TCP port: {:?}", direct.hosts).into());
    };
    let proxy = mongotic_test_server::FaultProxy::start(port)?;
    let mut options = mongotic::mongodb::options::ClientOptions::parse(proxy.uri()).await?;
    options.app_name = direct.app_name;
    let engine = Engine::from_options(options)?.with_database(ctx.raw.db.name());

    ctx.insert::<Note>(vec![doc! { "_id": 1_i64, "body": "n1" }]).await;
    let mut session = sessionmaker(&engine).session();
    let note = session.get::<Note>(1).await?.ok_or("note 1")?;
    let comments = session.add_all((1..=3).map(|id| Comment { id, body: format!("c{id}") }));
    // A soft delete in the same transaction: sent again blindly after it landed, its filter
    // (the note still live) would match nothing, a stale write forever.
    session.delete(&note)?;
    // The first commit lands but its reply is lost; the driver's retry of it is then told
    // the transaction does not exist (a transient error, which alone would mean "not
    // committed").
    proxy.lose_reply("commitTransaction", 1);
    ctx.fail_point(
        doc! { "skip": 1, "times": 1 },
        doc! { "failCommands": ["commitTransaction"], "errorCode": 251, "errorLabels": ["TransientTransactionError"] },
    )
    .await;
    session.commit().await?;
    assert!(comments.iter().all(Tracked::is_persistent));
    assert_eq!(ctx.count::<Comment>(doc! {}).await, 3, "each stored once");
    assert!(session.new().is_empty());
    assert_eq!(ctx.count::<Note>(doc! { "_id": 1_i64, "deleted_at": { "$type": "date" } }).await, 1, "marked deleted");
    assert!(!session.contains(&note), "the soft-deleted note is let go");
    assert!(session.deleted().is_empty());
    Ok(())
}
