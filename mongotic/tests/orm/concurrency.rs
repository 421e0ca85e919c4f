//! Optimistic concurrency: a `#[mongotic(version)]` field turns a lost update into a typed
//! conflict, on both send paths (client `bulkWrite`, and one command per collection and kind),
//! with and without transactions.

use mongotic::bson::doc;
use mongotic::prelude::*;
use mongotic::{Error, TransactionMode};

use crate::common::*;

/// A versioned model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Model)]
#[mongotic(database = "myapp", collection = "documents")]
pub struct Doc {
    #[serde(rename = "_id")]
    #[mongotic(id)]
    pub id: i64,
    pub title: String,
    #[serde(default)]
    #[mongotic(version)]
    pub version: i64,
}

fn doc_value(id: i64, title: &str) -> Doc {
    Doc { id, title: title.into(), version: 0 }
}

scenario!(the_second_writer_gets_a_conflict_and_the_first_change_stays, |ctx| {
    let mut setup = ctx.session();
    setup.add(doc_value(1, "draft"));
    aw!(setup.commit())?;

    let mut first = ctx.session();
    let mut second = ctx.session();
    let mine = aw!(first.get::<Doc>(1))?.ok_or("doc 1")?;
    let theirs = aw!(second.get::<Doc>(1))?.ok_or("doc 1")?;
    mine.write().title = "first".into();
    theirs.write().title = "second".into();
    aw!(first.commit())?;
    assert_eq!(mine.read().version, 1, "memory follows what was written");

    let err = aw!(second.commit()).expect_err("the second writer read version 0");
    assert!(err.is_conflict(), "{err}");
    assert_eq!(err.version_conflict(), Some((0, Some(1))), "{err}");
    assert_eq!(
        aw!(ctx.find_one::<Doc>(doc! { "_id": 1 })),
        Some(doc! { "_id": 1_i64, "title": "first", "version": 1_i64 })
    );
    // The losing change stays staged, with the version the session last saw.
    assert_eq!(theirs.read().version, 0);
    assert_eq!(second.dirty().len(), 1);

    // The way on: reload, apply the change again, commit.
    aw!(second.refresh(&theirs))?;
    assert_eq!(*theirs.read(), Doc { id: 1, title: "first".into(), version: 1 });
    theirs.write().title = "second".into();
    aw!(second.commit())?;
    assert_eq!(
        aw!(ctx.find_one::<Doc>(doc! { "_id": 1 })),
        Some(doc! { "_id": 1_i64, "title": "second", "version": 2_i64 })
    );
});

scenario!(without_a_version_the_last_writer_wins, |ctx| {
    let mut setup = ctx.session();
    setup.add(Comment { id: 1, body: "draft".into() });
    aw!(setup.commit())?;
    let mut first = ctx.session();
    let mut second = ctx.session();
    let mine = aw!(first.get::<Comment>(1))?.ok_or("comment 1")?;
    let theirs = aw!(second.get::<Comment>(1))?.ok_or("comment 1")?;
    mine.write().body = "first".into();
    theirs.write().body = "second".into();
    aw!(first.commit())?;
    aw!(second.commit())?;
    assert_eq!(aw!(ctx.find_one::<Comment>(doc! { "_id": 1 })), Some(doc! { "_id": 1_i64, "body": "second" }));
});

scenario!(a_stale_delete_is_a_conflict_and_deletes_nothing, |ctx| {
    let mut setup = ctx.session();
    setup.add(doc_value(1, "draft"));
    aw!(setup.commit())?;
    let mut editor = ctx.session();
    let mut remover = ctx.session();
    let edited = aw!(editor.get::<Doc>(1))?.ok_or("doc 1")?;
    let removed = aw!(remover.get::<Doc>(1))?.ok_or("doc 1")?;
    edited.write().title = "edited".into();
    aw!(editor.commit())?;

    remover.delete(&removed)?;
    let err = aw!(remover.commit()).expect_err("the delete expected version 0");
    assert_eq!(err.version_conflict(), Some((0, Some(1))), "{err}");
    assert_eq!(aw!(ctx.count::<Doc>(doc! { "_id": 1, "title": "edited" })), 1);
    assert_eq!(remover.deleted().len(), 1, "the delete stays staged");

    aw!(remover.refresh(&removed))?;
    remover.delete(&removed)?;
    aw!(remover.commit())?;
    assert_eq!(aw!(ctx.count::<Doc>(doc! {})), 0);
});

// Both send paths: the per-operation counts of bulkWrite, and the `n` of an `update` command
// followed by a read. Outside a transaction the other writes of the flush land; in one,
// nothing does.
scenario!(a_conflict_in_a_flush_of_many_writes, |ctx| {
    let base = ctx.engine.clone();
    for (round, bulk_write) in [true, false].into_iter().enumerate() {
        ctx.engine = base.with_client_bulk_write(bulk_write);
        let (a, b) = (round as i64 * 10, round as i64 * 10 + 1);
        let mut setup = ctx.session();
        setup.add_all([doc_value(a, "a"), doc_value(b, "b")]);
        aw!(setup.commit())?;

        let mut session = ctx.session();
        let docs = aw!(session.scalars(select::<Doc>().filter(Doc::id.in_([a, b]))).all())?;
        // Someone else moves `b` on.
        aw!(ctx.update::<Doc>(doc! { "_id": b }, doc! { "$set": { "title": "theirs" }, "$inc": { "version": 1 } }));
        for doc in &docs {
            doc.write().title = "mine".into();
        }
        session.add(post(&format!("post {round}")));
        ctx.log().clear();
        let err = aw!(session.commit()).expect_err("b moved on");
        assert_eq!(err.version_conflict(), Some((0, Some(1))), "{err}");
        let stored_a = aw!(ctx.find_one::<Doc>(doc! { "_id": a })).ok_or("a")?;
        let posts = aw!(ctx.count::<Post>(doc! { "title": format!("post {round}") }));
        if ctx.transactional() {
            assert_eq!(stored_a, doc! { "_id": a, "title": "a", "version": 0_i64 }, "nothing lands");
            assert_eq!(posts, 0);
            assert_eq!(docs[0].read().version, 0);
        } else {
            assert_eq!(stored_a, doc! { "_id": a, "title": "mine", "version": 1_i64 }, "the rest lands");
            assert_eq!(posts, 1, "bulkWrite {bulk_write}");
            assert_eq!(docs[0].read().version, 1);
        }
        assert_eq!(aw!(ctx.count::<Doc>(doc! { "_id": b, "title": "theirs", "version": 1 })), 1);
        assert_eq!(docs[1].read().version, 0, "the conflicting entity keeps the version it read");
    }
});

scenario!(a_thousand_dirty_versioned_entities_are_one_write_command, |ctx| {
    let mut session = ctx.session();
    session.add_all((0..1000).map(|i| doc_value(i, "new")));
    aw!(session.commit())?;
    let docs = aw!(session.scalars(select::<Doc>()).all())?;
    for doc in &docs {
        doc.write().title = "changed".into();
    }
    ctx.log().clear();
    aw!(session.commit())?;
    assert_eq!(ctx.log().names(), ctx.flush_commands(&["update"]));
    assert_eq!(aw!(ctx.count::<Doc>(doc! { "title": "changed", "version": 1 })), 1000);
    assert!(docs.iter().all(|doc| doc.read().version == 1));
});

scenario!(merge_carries_the_version_its_caller_saw, |ctx| {
    let mut setup = ctx.session();
    setup.add(doc_value(1, "draft"));
    aw!(setup.commit())?;
    aw!(ctx.update::<Doc>(doc! { "_id": 1 }, doc! { "$set": { "title": "theirs" }, "$inc": { "version": 1 } }));

    // A value built from an old read (say, a form posted back) is refused.
    let mut session = ctx.session();
    let merged = session.merge(Doc { id: 1, title: "mine".into(), version: 0 })?;
    let err = aw!(session.commit()).expect_err("merged version 0, stored 1");
    assert_eq!(err.version_conflict(), Some((0, Some(1))), "{err}");
    assert_eq!(merged.read().version, 0);
    assert_eq!(aw!(ctx.count::<Doc>(doc! { "_id": 1, "title": "theirs" })), 1);

    // With the current version it replaces the document and moves the version on.
    let mut session = ctx.session();
    let merged = session.merge(Doc { id: 1, title: "mine".into(), version: 1 })?;
    aw!(session.commit())?;
    assert_eq!(merged.read().version, 2);
    assert_eq!(
        aw!(ctx.find_one::<Doc>(doc! { "_id": 1 })),
        Some(doc! { "_id": 1_i64, "title": "mine", "version": 2_i64 })
    );

    // A merge of a new id inserts it.
    let mut session = ctx.session();
    session.merge(Doc { id: 2, title: "fresh".into(), version: 0 })?;
    aw!(session.commit())?;
    assert_eq!(aw!(ctx.count::<Doc>(doc! { "_id": 2, "version": 1 })), 1);
});

// A write whose earlier attempt landed (its reply was lost) matches nothing when sent again;
// the read that follows shows the document holds exactly what it writes, so it is done, not a
// conflict. Staged without transactions (where an outcome can be unknown): the connection drops
// on every `update` and `find` (so the flush fails with its update in doubt and cannot read
// the document back), then the very update the session sent is stored with a raw client.
scenario!(a_versioned_write_sent_again_after_landing_is_not_a_conflict, needs = [FailPoints], |ctx| {
    ctx.engine = ctx.engine.with_transactions(TransactionMode::Never);
    // Sent again as it was, and changed once more before it is sent again.
    for (id, changed_again) in [(1_i64, false), (2, true)] {
        let mut session = ctx.session();
        let doc = session.add(doc_value(id, "draft"));
        aw!(session.commit())?;
        doc.write().title = "mine".into();
        aw!(ctx.fail_commands(&["update", "bulkWrite", "find"], None, 20));
        let lost = aw!(session.commit());
        aw!(ctx.fail_off());
        let Err(Error::Flush(failure)) = lost else { panic!("expected a lost update reply, got {lost:?}") };
        assert_eq!(failure.in_doubt(), 1, "{failure}");
        assert_eq!(doc.read().version, 0, "memory shows the version known to be stored");

        aw!(ctx.update::<Doc>(doc! { "_id": id }, doc! { "$set": { "title": "mine", "version": 1_i64 } }));
        let (title, version) = if changed_again { ("mine, again", 2_i64) } else { ("mine", 1) };
        doc.write().title = title.into();
        aw!(session.commit())?;
        assert_eq!(doc.read().version, version);
        assert!(session.dirty().is_empty());
        assert_eq!(
            aw!(ctx.find_one::<Doc>(doc! { "_id": id })),
            Some(doc! { "_id": id, "title": title, "version": version })
        );
    }
});

// A merge that creates the document, whose reply was lost: the session had never seen that
// document, so it reads it back by the merge's own id before sending again, and finds its own
// write (found by the randomized fault test: the merge was re-sent expecting version 0 and
// failed as a conflict on every later flush).
scenario!(a_merge_that_created_its_document_unseen_is_read_back, needs = [FailPoints], |ctx| {
    ctx.engine = ctx.engine.with_transactions(TransactionMode::Never);
    let mut session = ctx.session();
    let merged = session.merge(doc_value(3, "merged"))?;
    aw!(ctx.fail_commands(&["update", "bulkWrite", "find"], None, 20));
    let lost = aw!(session.commit());
    aw!(ctx.fail_off());
    let Err(Error::Flush(failure)) = lost else { panic!("expected a lost reply, got {lost:?}") };
    assert_eq!(failure.in_doubt(), 1, "{failure}");
    // What the merge stores, as if it had landed before its reply was lost.
    aw!(ctx.insert::<Doc>(vec![doc! { "_id": 3_i64, "title": "merged", "version": 1_i64 }]));
    aw!(session.commit())?;
    assert_eq!(merged.read().version, 1);
    assert!(merged.is_persistent());
    assert!(session.dirty().is_empty() && session.new().is_empty());
    merged.write().title = "edited".into();
    aw!(session.commit())?;
    assert_eq!(
        aw!(ctx.find_one::<Doc>(doc! { "_id": 3 })),
        Some(doc! { "_id": 3_i64, "title": "edited", "version": 2_i64 })
    );
});

// The same document written by someone else, at the same version, is their write, not ours:
// a first send that matches nothing is a conflict even when the stored document equals it.
scenario!(an_equal_write_by_someone_else_is_still_a_conflict, |ctx| {
    let mut session = ctx.session();
    let doc = session.add(doc_value(1, "0"));
    aw!(session.commit())?;
    doc.write().title = "1".into();
    aw!(ctx.update::<Doc>(doc! { "_id": 1 }, doc! { "$set": { "title": "1", "version": 1_i64 } }));
    let err = aw!(session.commit()).expect_err("someone else incremented first");
    assert_eq!(err.version_conflict(), Some((0, Some(1))), "{err}");
});

scenario!(a_document_written_before_the_version_field_reads_as_version_zero, |ctx| {
    aw!(ctx.insert::<Doc>(vec![doc! { "_id": 1_i64, "title": "legacy" }]));
    let mut session = ctx.session();
    let doc = aw!(session.get::<Doc>(1))?.ok_or("doc 1")?;
    assert_eq!(doc.read().version, 0);
    doc.write().title = "current".into();
    aw!(session.commit())?;
    assert_eq!(
        aw!(ctx.find_one::<Doc>(doc! { "_id": 1 })),
        Some(doc! { "_id": 1_i64, "title": "current", "version": 1_i64 })
    );
});

scenario!(a_bulk_update_moves_the_version_on, |ctx| {
    let mut session = ctx.session();
    let doc = session.add(doc_value(1, "draft"));
    aw!(session.commit())?;
    aw!(session.execute(update::<Doc>().filter(Doc::id.eq(1)).set(Doc::title, "bulk")))?;
    assert_eq!(aw!(ctx.count::<Doc>(doc! { "_id": 1, "title": "bulk", "version": 1 })), 1);
    // The session's entity is now behind: its change is a conflict, not a lost update.
    doc.write().title = "mine".into();
    let err = aw!(session.commit()).expect_err("the bulk update moved the version");
    assert_eq!(err.version_conflict(), Some((0, Some(1))), "{err}");
});

/// 50 tasks increment one counter by read-modify-write, retrying on conflict: every increment
/// lands exactly once.
async fn fifty_increments(topology: mongotic_test_server::Topology) -> TestResult {
    let ctx = AsyncCtx::on(topology).await;
    let mut setup = ctx.session();
    setup.add(doc_value(1, "0"));
    setup.commit().await?;
    let factory = sessionmaker(&ctx.engine);
    let mut tasks = Vec::new();
    for _ in 0..50 {
        let factory = factory.clone();
        tasks.push(tokio::spawn(async move {
            let mut conflicts = 0_u32;
            loop {
                let mut session = factory.session();
                let counter = session.get::<Doc>(1).await?.ok_or("the counter")?;
                let next = counter.read().title.parse::<i64>()? + 1;
                counter.write().title = next.to_string();
                match session.commit().await {
                    Ok(()) => return Ok::<u32, Box<dyn std::error::Error + Send + Sync>>(conflicts),
                    Err(err) if err.is_conflict() => conflicts += 1,
                    Err(err) => return Err(err.into()),
                }
            }
        }));
    }
    let mut conflicts = 0;
    for task in tasks {
        conflicts += task.await?.map_err(|err| err.to_string())?;
    }
    let stored = ctx.find_one::<Doc>(doc! { "_id": 1 }).await.ok_or("the counter")?;
    assert_eq!(stored, doc! { "_id": 1_i64, "title": "50", "version": 50_i64 }, "{conflicts} conflicts were retried");
    Ok(())
}

test!(async(workers = 4) fifty_concurrent_increments_on_a_replica_set, needs = [ReplicaSet]);
async fn fifty_concurrent_increments_on_a_replica_set() -> TestResult {
    fifty_increments(mongotic_test_server::Topology::ReplicaSet).await
}

test!(async(workers = 4) fifty_concurrent_increments_on_a_standalone_server, needs = [Standalone]);
async fn fifty_concurrent_increments_on_a_standalone_server() -> TestResult {
    fifty_increments(mongotic_test_server::Topology::Standalone).await
}

// In an explicit transaction a flush records its writes at once; a rollback puts the entity
// back as it was (version included), so the next commit expects the version the server has.
scenario!(rollback_puts_the_version_back, on = [ReplicaSet], |ctx| {
    let mut session = ctx.session();
    let doc = session.add(doc_value(1, "draft"));
    aw!(session.commit())?;
    aw!(session.begin())?;
    doc.write().title = "in a transaction".into();
    aw!(session.flush())?;
    assert_eq!(doc.read().version, 1);
    session.rollback();
    assert_eq!(*doc.read(), doc_value(1, "draft"), "the transaction did not commit");
    doc.write().title = "after".into();
    aw!(session.commit())?;
    assert_eq!(
        aw!(ctx.find_one::<Doc>(doc! { "_id": 1 })),
        Some(doc! { "_id": 1_i64, "title": "after", "version": 1_i64 })
    );
    assert_eq!(doc.read().version, 1);
});
