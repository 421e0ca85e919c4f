//! Typed events of each kind, the filters of a stream, an undecodable document, pre-images,
//! and a session following a stream.

use mongotic::Error;
use mongotic::bson::{Bson, doc};
use mongotic::prelude::*;
use mongotic::watch::{Applied, BeforeChange, Change, FullDocument, Operation, enable_pre_and_post_images, watch};

use super::{Item, item, next};
use crate::common::{AsyncCtx, TestResult};

/// A model of the same collection that needs a field the others do not write.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Model)]
#[mongotic(database = "watch", collection = "items")]
struct Strict {
    #[serde(rename = "_id")]
    id: ObjectId,
    key: String,
    n: i32,
}

async fn each_kind_of_event_is_typed() -> TestResult {
    let ctx = AsyncCtx::new().await;
    let mut stream = watch::<Item>().open(&ctx.engine).await?;
    let mut session = ctx.session();
    let a = session.add(Item { note: Some("first".into()), ..item("a", 1) });
    session.commit().await?;
    let id = a.id().unwrap();
    a.write().n = 5;
    a.write().tags.push("red".into());
    a.write().note = None;
    session.commit().await?;
    session.merge(Item { id: Some(id), ..item("b", 9) })?;
    session.commit().await?;
    session.delete(&a)?;
    session.commit().await?;

    let inserted = next(&mut stream).await?;
    assert_eq!(inserted.operation(), "insert");
    assert_eq!(inserted.id(), &Bson::ObjectId(id));
    assert_eq!(inserted.model_id()?, id);
    match inserted.change() {
        Change::Insert { document } => assert_eq!(document.key, "a"),
        other => panic!("expected an insert, got {other:?}"),
    }
    assert!(inserted.cluster_time().is_some());

    let updated = next(&mut stream).await?;
    let Change::Update(update) = updated.change() else { panic!("expected an update, got {updated:?}") };
    assert_eq!(update.updated(Item::n)?, Some(5));
    assert_eq!(updated.updated(Item::n)?, Some(5));
    assert_eq!(update.updated(Item::tags)?, Some(vec!["red".to_owned()]));
    assert_eq!(update.updated(Item::key)?, None, "not changed");
    assert!(update.removed(Item::note));
    assert!(!update.removed(Item::n));
    assert!(update.touches(Item::tags) && !update.touches(Item::key));
    assert!(update.document().is_none(), "not looked up by default");

    let replaced = next(&mut stream).await?;
    match replaced.change() {
        Change::Replace { document, before } => {
            assert_eq!((document.key.as_str(), document.n), ("b", 9));
            assert!(before.is_none());
        }
        other => panic!("expected a replacement, got {other:?}"),
    }
    assert_eq!(replaced.document().map(|item| item.n), Some(9));

    let deleted = next(&mut stream).await?;
    assert!(matches!(deleted.change(), Change::Delete { before: None }), "{deleted:?}");
    assert_eq!(deleted.id(), &Bson::ObjectId(id));
    assert!(deleted.document().is_none());
    // Each event resumes after itself.
    assert_ne!(inserted.token(), deleted.token());
    Ok(())
}
test!(async each_kind_of_event_is_typed, needs = [ReplicaSet]);

async fn a_value_inside_a_parent_set_whole_and_a_null_are_typed() -> TestResult {
    let ctx = AsyncCtx::new().await;
    let mut stream = watch::<Item>().operations([Operation::Update]).open(&ctx.engine).await?;
    ctx.insert::<Item>(vec![doc! { "_id": 1, "key": "a", "n": 1, "note": "x", "tags": ["s"] }]).await;
    ctx.update::<Item>(doc! { "_id": 1 }, doc! { "$set": { "note": Bson::Null, "tags.0": "t" } }).await;
    let event = next(&mut stream).await?;
    let Change::Update(update) = event.change() else { panic!("{event:?}") };
    assert_eq!(update.updated(Item::note)?, Some(None), "set to null");
    assert_eq!(update.updated(Item::tags)?, None, "only a part of it changed");
    assert!(update.touches(Item::tags));
    assert_eq!(update.updated_paths().collect::<Vec<_>>().len(), 2);
    Ok(())
}
test!(async a_value_inside_a_parent_set_whole_and_a_null_are_typed, needs = [ReplicaSet]);

async fn filters_and_operations_compile_to_the_streams_match() -> TestResult {
    let ctx = AsyncCtx::new().await;
    let stmt = watch::<Item>().filter(Item::key.eq("a")).operations([Operation::Insert, Operation::Update]);
    let mut stream = stmt.open(&ctx.engine).await?;
    let mut session = ctx.session();
    let a = session.add(item("a", 1));
    let b = session.add(item("b", 1));
    session.commit().await?;
    a.write().n = 2;
    b.write().n = 2;
    session.commit().await?;
    session.delete(&b)?;
    session.commit().await?;
    // A last insert that matches, so everything before it has been seen or filtered out.
    session.add(item("a", 3));
    session.commit().await?;

    let mut seen = Vec::new();
    for _ in 0..3 {
        let event = next(&mut stream).await?;
        seen.push((event.operation().to_owned(), event.document().map(|item| (item.key.clone(), item.n))));
    }
    assert_eq!(
        seen,
        [
            ("insert".to_owned(), Some(("a".to_owned(), 1))),
            // The filter needs the document, so updates are looked up.
            ("update".to_owned(), Some(("a".to_owned(), 2))),
            ("insert".to_owned(), Some(("a".to_owned(), 3))),
        ]
    );

    // A filter on the id reaches deletes too (through documentKey).
    let id = a.id().unwrap();
    let mut by_id = watch::<Item>().filter(Item::id.eq(Some(id))).open(&ctx.engine).await?;
    session.delete(&a)?;
    session.commit().await?;
    let event = next(&mut by_id).await?;
    assert!(matches!(event.change(), Change::Delete { .. }), "{event:?}");
    Ok(())
}
test!(async filters_and_operations_compile_to_the_streams_match, needs = [ReplicaSet]);

async fn an_undecodable_document_is_an_error_of_that_event_and_the_stream_goes_on() -> TestResult {
    let ctx = AsyncCtx::new().await;
    let mut stream = watch::<Strict>().open(&ctx.engine).await?;
    let bad = ObjectId::new();
    let good = ObjectId::new();
    ctx.insert::<Item>(vec![doc! { "_id": bad, "key": "a" }]).await; // no `n`
    ctx.insert::<Item>(vec![doc! { "_id": good, "key": "b", "n": 2 }]).await;
    let token = match next(&mut stream).await {
        Err(Error::UndecodableEvent { id, operation, token, namespace, .. }) => {
            assert_eq!(id.as_deref(), Some(&Bson::ObjectId(bad)));
            assert_eq!(operation, "insert");
            assert!(namespace.ends_with(".items"), "{namespace}");
            token
        }
        other => panic!("expected an undecodable event, got {other:?}"),
    };
    let after = next(&mut stream).await?;
    assert_eq!(after.id(), &Bson::ObjectId(good));
    assert!(stream.is_alive());
    // Its token resumes right after it.
    let mut resumed = watch::<Strict>().resume_after(*token).open(&ctx.engine).await?;
    assert_eq!(next(&mut resumed).await?.id(), &Bson::ObjectId(good));
    Ok(())
}
test!(async an_undecodable_document_is_an_error_of_that_event_and_the_stream_goes_on, needs = [ReplicaSet]);

async fn pre_images_come_where_the_collection_keeps_them() -> TestResult {
    let ctx = AsyncCtx::new().await;
    enable_pre_and_post_images::<Item>(&ctx.engine).await?;
    enable_pre_and_post_images::<Item>(&ctx.engine).await?; // idempotent
    let stmt = watch::<Item>().before_change(BeforeChange::WhenAvailable).full_document(FullDocument::WhenAvailable);
    let mut stream = stmt.open(&ctx.engine).await?;
    let mut session = ctx.session();
    let a = session.add(item("a", 1));
    session.commit().await?;
    a.write().n = 2;
    session.commit().await?;

    let inserted = next(&mut stream).await?;
    assert!(inserted.before().is_none(), "an insert has no before");
    let updated = next(&mut stream).await?;
    assert_eq!(updated.before().map(|item| item.n), Some(1), "{updated:?}");
    // (SecantusDB gives the post-image by looking the document up when the event is read, so
    // it is read before the delete.)
    assert_eq!(updated.document().map(|item| item.n), Some(2), "the post-image");
    session.delete(&a)?;
    session.commit().await?;
    let deleted = next(&mut stream).await?;
    assert_eq!(deleted.before().map(|item| item.n), Some(2), "{deleted:?}");

    // A filter on the document before the change.
    let mut were_big = watch::<Item>().filter_before(Item::n.gte(10)).open(&ctx.engine).await?;
    let (small, big) = (ObjectId::new(), ObjectId::new());
    ctx.insert::<Item>(vec![doc! { "_id": small, "key": "x", "n": 5 }, doc! { "_id": big, "key": "y", "n": 50 }]).await;
    ctx.delete::<Item>(doc! {}).await;
    let event = next(&mut were_big).await?;
    assert_eq!((event.operation(), event.id()), ("delete", &Bson::ObjectId(big)));
    Ok(())
}
test!(async pre_images_come_where_the_collection_keeps_them, needs = [ReplicaSet]);

async fn a_session_follows_the_stream_without_reading() -> TestResult {
    let ctx = AsyncCtx::new().await;
    let ids: Vec<ObjectId> = (0..4).map(|_| ObjectId::new()).collect();
    ctx.insert::<Item>(vec![
        doc! { "_id": ids[0], "key": "a", "n": 1, "tags": ["x", "y"] },
        doc! { "_id": ids[1], "key": "b", "n": 1 },
        doc! { "_id": ids[2], "key": "c", "n": 1 },
    ])
    .await;
    let mut session = ctx.session();
    let tracked = session.scalars(select::<Item>().order_by(Item::key)).all().await?;
    let mut stream = watch::<Item>().open(&ctx.engine).await?;
    ctx.update::<Item>(doc! { "_id": ids[0] }, doc! { "$set": { "n": 7, "tags.1": "z" }, "$unset": { "note": "" } })
        .await;
    ctx.update::<Item>(doc! { "_id": ids[1] }, doc! { "$set": { "key": "B" } }).await;
    ctx.delete::<Item>(doc! { "_id": ids[2] }).await;
    ctx.insert::<Item>(vec![doc! { "_id": ids[3], "key": "d", "n": 1 }]).await;
    // A pending change of entity 2 is dropped: the server's state wins.
    tracked[1].write().n = 99;

    let mut events = Vec::new();
    for _ in 0..4 {
        events.push(next(&mut stream).await?);
    }
    ctx.log().clear();
    assert_eq!(session.apply(&events[0])?, Applied::Refreshed);
    assert_eq!(session.apply(&events[1])?, Applied::Refreshed);
    assert_eq!(session.apply(&events[2])?, Applied::Removed);
    assert_eq!(session.apply(&events[3])?, Applied::NotTracked);
    assert!(ctx.log().is_empty(), "applying read nothing: {:?}", ctx.log().names());

    assert_eq!((tracked[0].read().n, tracked[0].read().tags.clone()), (7, vec!["x".to_owned(), "z".to_owned()]));
    assert_eq!((tracked[1].read().key.as_str(), tracked[1].read().n), ("B", 1));
    assert!(session.dirty().is_empty(), "in step with the server: nothing to write");
    assert!(!tracked[2].is_attached() && !tracked[2].is_persistent());
    assert_eq!(session.len(), 2);
    Ok(())
}
test!(async a_session_follows_the_stream_without_reading, needs = [ReplicaSet]);

async fn a_standalone_server_has_no_change_streams() -> TestResult {
    let ctx = AsyncCtx::on(mongotic_test_server::Topology::Standalone).await;
    let opened = watch::<Item>().open(&ctx.engine).await;
    assert!(opened.is_err(), "a standalone server cannot stream changes");
    Ok(())
}
test!(async a_standalone_server_has_no_change_streams, needs = [Standalone]);
