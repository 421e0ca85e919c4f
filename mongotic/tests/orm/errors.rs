//! Bad input and server failures give typed errors, never panics or hangs.

use std::time::Duration;

use mongotic::bson::doc;
use mongotic::prelude::*;
use mongotic::{Error, blocking};

use crate::common::*;

test!(async bad_uri_is_a_typed_error, needs = []);
async fn bad_uri_is_a_typed_error() {
    for uri in ["not a uri", "mongodb://", "mongodb://host:notaport", "postgres://localhost"] {
        let result = create_engine(uri).await;
        assert!(matches!(result, Err(Error::InvalidUri { .. })), "{uri}: {result:?}");
    }
}

test!(bad_uri_is_a_typed_error_blocking, needs = []);
fn bad_uri_is_a_typed_error_blocking() {
    let result = blocking::create_engine("mongodb://host:notaport");
    assert!(matches!(result, Err(Error::InvalidUri { .. })), "{result:?}");
}

scenario!(malformed_ids_are_typed_errors, |ctx| {
    let mut session = ctx.session();
    for text in ["", "xyz", "507f1f77bcf86cd79943901", "507f1f77bcf86cd799439011ff", "{\"$ne\": null}"] {
        let result = aw!(session.get::<User>(text));
        assert!(matches!(result, Err(Error::MalformedId { ref value, .. }) if value == text), "{text:?}: {result:?}");
    }
    let result = aw!(session.get::<Comment>("12x"));
    assert!(matches!(result, Err(Error::MalformedId { .. })), "{result:?}");
    assert!(aw!(session.get::<Comment>("12"))?.is_none());
});

scenario!(document_that_does_not_match_the_model, |ctx| {
    let bad_id = mongotic::bson::oid::ObjectId::new();
    aw!(ctx.insert::<User>(vec![doc! { "_id": bad_id, "name": 42, "age": "old" }]));
    let mut session = ctx.session();
    let result = aw!(session.scalars(select::<User>()).all());
    let Err(Error::Deserialize { namespace, id, .. }) = &result else {
        return Err(format!("expected a deserialize error, got {result:?}").into());
    };
    assert!(namespace.ends_with(".users"), "{namespace}");
    assert_eq!(id.as_deref(), Some(&mongotic::bson::Bson::ObjectId(bad_id)));
    let message = result.as_ref().map(|_| ()).unwrap_err().to_string();
    assert!(message.contains(&bad_id.to_hex()) && message.contains("users"), "{message}");

    let by_get = aw!(session.get::<User>(bad_id));
    assert!(matches!(by_get, Err(Error::Deserialize { .. })), "{by_get:?}");
});

scenario!(duplicate_key_on_flush, |ctx| {
    aw!(ctx.create_indexes::<Account>())?;
    let mut session = ctx.session();
    session.add(Account { id: Some("a".into()), login: "ann".into() });
    aw!(session.commit())?;
    let twin = session.add(Account { id: Some("b".into()), login: "ann".into() });
    let result = aw!(session.commit());
    let Err(Error::Flush(failure)) = &result else {
        return Err(format!("expected a flush error, got {result:?}").into());
    };
    assert!(matches!(failure.cause(), Error::DuplicateKey { .. }), "{:?}", failure.cause());
    assert_eq!(failure.cause().server_code(), Some(11000));
    let failed = failure.failed().ok_or("which write failed")?;
    assert_eq!(failed.id, mongotic::bson::Bson::String("b".into()));
    assert!(session.new()[0] == twin, "the refused insert stays staged");
});

scenario!(missing_client_chosen_id, |ctx| {
    let mut session = ctx.session();
    session.add(Account { id: None, login: "nobody".into() });
    let result = aw!(session.commit());
    assert!(matches!(result, Err(Error::MissingId { .. })), "{result:?}");
    assert_eq!(session.new().len(), 1, "still staged");
    let result = aw!(session.execute(insert::<Account>().values(vec![Account { id: None, login: "x".into() }])));
    assert!(matches!(result, Err(Error::MissingId { .. })), "{result:?}");
});

scenario!(changing_an_id_is_refused, |ctx| {
    let mut session = ctx.session();
    let comment = session.add(Comment { id: 1, body: "hi".into() });
    aw!(session.commit())?;
    comment.write().id = 2;
    let result = aw!(session.commit());
    assert!(matches!(result, Err(Error::IdChanged { .. })), "{result:?}");
    assert_eq!(aw!(ctx.count::<Comment>(doc! {})), 1);
    assert_eq!(aw!(ctx.count::<Comment>(doc! { "_id": 1_i64 })), 1);
});

scenario!(refresh_errors, |ctx| {
    let mut session = ctx.session();
    let never_flushed = session.add(user("New", "new@example.com", 1));
    let result = aw!(session.refresh(&never_flushed));
    assert!(matches!(result, Err(Error::NotPersistent { .. })), "{result:?}");

    let gone = session.add(user("Gone", "gone@example.com", 2));
    aw!(session.commit())?;
    aw!(session.execute(delete::<User>().filter(User::name.eq("Gone"))))?;
    let result = aw!(session.refresh(&gone));
    assert!(matches!(result, Err(Error::NotFound { id: Some(_), .. })), "{result:?}");

    let detached = Tracked::new(user("Loose", "loose@example.com", 3));
    let result = aw!(session.refresh(&detached));
    assert!(matches!(result, Err(Error::Detached { .. })), "{result:?}");
    assert!(matches!(session.delete(&detached), Err(Error::Detached { .. })));
});

// Holding the guard across the flush is the misuse under test.
test!(async live_write_guard_is_reported_not_deadlocked, needs = [ReplicaSet]);
#[allow(clippy::await_holding_lock)]
async fn live_write_guard_is_reported_not_deadlocked() -> TestResult {
    let ctx = AsyncCtx::new().await;
    let mut session = ctx.session();
    let alice = session.add(user("Alice", "alice@example.com", 30));
    session.commit().await?;
    let guard = alice.write();
    let result = session.commit().await;
    assert!(matches!(result, Err(Error::EntityBusy { .. })), "{result:?}");
    drop(guard);
    session.commit().await?;
    Ok(())
}

test!(async unreachable_server_fails_within_the_selection_timeout, needs = []);
async fn unreachable_server_fails_within_the_selection_timeout() {
    let engine = create_engine("mongodb://127.0.0.1:9/?serverSelectionTimeoutMS=300&connectTimeoutMS=300")
        .await
        .expect("the URI itself is valid");
    let mut session = sessionmaker(&engine.with_database("unreachable")).session();
    session.add(user("Alice", "alice@example.com", 30));
    let attempt = tokio::time::timeout(Duration::from_secs(60), session.commit()).await;
    let result = attempt.expect("bounded by serverSelectionTimeoutMS, not a hang");
    let Err(Error::Flush(failure)) = &result else { panic!("expected a flush error, got {result:?}") };
    assert!(matches!(failure.cause(), Error::Connection { .. }), "{:?}", failure.cause());
    assert_eq!(session.new().len(), 1, "nothing lost");

    let read = tokio::time::timeout(Duration::from_secs(60), session.get::<User>("507f1f77bcf86cd799439011"))
        .await
        .expect("bounded");
    assert!(matches!(read, Err(Error::Connection { .. })), "{read:?}");
}

// The blocking API is documented as safe everywhere: inside a (single-threaded) runtime it
// completes without deadlock or panic, because its work runs on its own runtime.
test!(async blocking_api_inside_a_runtime_completes, needs = [ReplicaSet]);
async fn blocking_api_inside_a_runtime_completes() -> TestResult {
    let db = mongotic_test_server::TestDb::new();
    let engine = blocking::create_engine(&mongotic_test_server::uri())?.with_database(db.name());
    let mut session = blocking::sessionmaker(&engine).session();
    session.add(user("Alice", "alice@example.com", 30));
    session.commit()?;
    let names: Vec<String> = session.scalars(select::<User>().columns(User::name)).iter().collect::<Result<_, _>>()?;
    assert_eq!(names, ["Alice"]);
    drop(session);
    drop(engine); // dropping the blocking runtime inside a runtime must not panic
    Ok(())
}

test!(blocking_api_works_from_spawned_blocking_code, needs = [ReplicaSet]);
fn blocking_api_works_from_spawned_blocking_code() -> TestResult {
    let runtime = tokio::runtime::Runtime::new()?;
    let counted = runtime.block_on(async {
        tokio::task::spawn_blocking(|| -> mongotic::Result<u64> {
            let ctx = BlockingCtx::new();
            let mut session = ctx.session();
            session.add(user("Alice", "alice@example.com", 30));
            session.commit()?;
            session.scalars(select::<User>()).count()
        })
        .await
    })??;
    assert_eq!(counted, 1);
    Ok(())
}
