//! A failed flush loses nothing, writes nothing twice and never wedges: one test per finding
//! of the "commit you can trust" issue, on the paths where it applies.
//!
//! The cases about a write whose outcome is unknown run without transactions (on a replica
//! set a transaction makes them impossible: it lands whole or not at all), so they use an
//! engine with `TransactionMode::Never` on both topologies. "The write landed, its reply was
//! lost and the server could not be read since" is staged by dropping every connection that
//! sends an `insert` or a `find` (so the flush fails with its inserts in doubt), then storing
//! the very documents the session sent with a raw client.

use mongotic::bson::{Bson, Document, doc};
use mongotic::prelude::*;
use mongotic::{Error, TransactionMode};

use crate::common::*;

/// A large document, so that a few dozen make the driver split one `insert` into batches.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Model)]
#[mongotic(database = "myapp", collection = "blobs")]
pub struct Blob {
    #[serde(rename = "_id", skip_serializing_if = "Option::is_none")]
    #[mongotic(id)]
    pub id: Option<ObjectId>,
    pub n: i32,
    pub payload: String,
}

/// A model with a client-chosen `String` id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Model)]
#[mongotic(database = "myapp", collection = "tags")]
pub struct Tag {
    #[serde(rename = "_id")]
    #[mongotic(id)]
    pub id: String,
    pub uses: i64,
}

/// Arms connection drops on `insert` and `find` (enough to beat every retry), and turns them
/// off again after the flush they are for.
macro_rules! lose_inserts {
    ($ctx:ident, $flush:expr) => {{
        aw!($ctx.fail_commands(&["insert", "find"], None, 20));
        let result = $flush;
        aw!($ctx.fail_off());
        match &result {
            Err(Error::Flush(failure)) => assert!(failure.in_doubt() > 0, "{failure}"),
            other => panic!("expected a flush with inserts in doubt, got {other:?}"),
        }
    }};
}

fn comment_doc(id: i64, body: &str) -> Document {
    doc! { "_id": id, "body": body }
}

// Findings 1 and 2: a write concern error on the first batch, or an error on the second
// batch, of an insert the driver splits. What the error counts as written is what the server
// holds, the rest stays staged, and flushing again stores every document exactly once.
// On the standalone server only: these cases move 50 MB a round, and on a replica set the
// flush is a transaction, which lands whole or not at all (covered by the transaction tests).
scenario!(split_insert_failures_lose_nothing, on = [Standalone], needs = [FailPoints], |ctx| {
    let faults = [
        (
            doc! { "times": 1 },
            doc! { "failCommands": ["insert"], "writeConcernError": { "code": 64, "errmsg": "waiting for replication timed out" } },
        ),
        (doc! { "skip": 1 }, doc! { "failCommands": ["insert"], "errorCode": 11600 }),
    ];
    let payload = "x".repeat(1_200_000);
    for (round, (mode, data)) in faults.into_iter().enumerate() {
        let mut session = ctx.session();
        let blobs =
            session.add_all((0..45).map(|n| Blob { id: None, n: n + 100 * round as i32, payload: payload.clone() }));
        aw!(ctx.fail_point(mode, data));
        let result = aw!(session.flush());
        aw!(ctx.fail_point(doc! { "times": 0 }, doc! { "failCommands": ["insert"], "errorCode": 1 }));
        let round_filter = doc! { "n": { "$gte": 100 * round as i32, "$lt": 100 * round as i32 + 100 } };
        let stored = aw!(ctx.count::<Blob>(round_filter.clone())) as usize;
        if let Err(Error::Flush(failure)) = &result {
            assert_eq!(failure.written(), stored, "the error counts what the server holds: {failure}");
            assert_eq!(session.new().len(), 45 - stored, "what did not land stays staged");
            assert_eq!(blobs.iter().filter(|blob| blob.is_persistent()).count(), stored);
        } else {
            assert!(result.is_ok(), "{result:?}");
        }
        aw!(session.flush())?;
        assert_eq!(aw!(ctx.count::<Blob>(round_filter)), 45, "every document stored, once");
        assert!(session.new().is_empty());
    }
});

// Finding 3: an insert of a client-chosen id whose reply was lost is not retried blindly:
// the next flush reads it back, finds it landed, and writes what is staged behind it.
scenario!(lost_reply_of_client_id_insert_converges, needs = [FailPoints], |ctx| {
    ctx.engine = ctx.engine.with_transactions(TransactionMode::Never);
    let mut session = ctx.session();
    let first = session.add(Comment { id: 1, body: "one".into() });
    session.add(Comment { id: 2, body: "two".into() });
    lose_inserts!(ctx, aw!(session.flush()));
    // The first insert landed after all; its reply was what got lost.
    aw!(ctx.insert::<Comment>(vec![comment_doc(1, "one")]));
    aw!(session.flush())?;
    assert!(first.is_persistent());
    assert_eq!(aw!(ctx.find_all::<Comment>()), [comment_doc(1, "one"), comment_doc(2, "two")]);
    // A client-chosen id someone else holds with other content is a real duplicate key.
    aw!(ctx.insert::<Comment>(vec![comment_doc(3, "theirs")]));
    let mine = session.add(Comment { id: 3, body: "mine".into() });
    let result = aw!(session.flush());
    assert!(result.as_ref().is_err_and(Error::is_duplicate_key), "{result:?}");
    assert!(session.new()[0] == mine);
});

// Finding 4: deleting (or rolling back) an entity whose insert may have landed removes the
// document (or keeps it tracked as the persistent entity it is), never forgets it.
scenario!(delete_or_rollback_of_an_insert_in_doubt, needs = [FailPoints], |ctx| {
    ctx.engine = ctx.engine.with_transactions(TransactionMode::Never);
    let mut session = ctx.session();
    let doomed = session.add(Comment { id: 10, body: "doomed".into() });
    let kept = session.add(Comment { id: 11, body: "kept".into() });
    lose_inserts!(ctx, aw!(session.flush()));
    aw!(ctx.insert::<Comment>(vec![comment_doc(10, "doomed"), comment_doc(11, "kept")]));

    session.delete(&doomed)?;
    aw!(session.flush())?;
    assert_eq!(aw!(ctx.count::<Comment>(doc! { "_id": 10 })), 0, "the delete reached the landed document");

    session.rollback();
    aw!(session.flush())?;
    assert_eq!(aw!(ctx.count::<Comment>(doc! { "_id": 11 })), 1);
    assert!(kept.is_persistent() && session.contains(&kept), "rolled back, but it landed: tracked as persistent");
});

// Findings 5 and 7: after an insert whose outcome is unknown, a query returns the same
// handle (the identity map files the id at flush), and the doubt travels with the handle to
// another session.
scenario!(doubt_travels_with_the_entity, needs = [FailPoints], |ctx| {
    ctx.engine = ctx.engine.with_transactions(TransactionMode::Never);
    let mut session = ctx.session();
    let alice = session.add(user("Alice", "alice@example.com", 30));
    lose_inserts!(ctx, aw!(session.flush()));
    let id = alice.id().ok_or("the id is assigned at the first attempt")?;
    aw!(ctx.insert::<User>(vec![
        doc! { "_id": id, "name": "Alice", "email": "alice@example.com", "age": 30, "tags": [] }
    ]));

    let found = aw!(session.get::<User>(id))?.ok_or("found")?;
    assert!(found.ptr_eq(&alice), "one document, one handle");
    assert!(alice.is_persistent(), "the read proved the insert landed");
    alice.write().age = Some(31);
    aw!(session.flush())?;
    assert_eq!(aw!(ctx.count::<User>(doc! {})), 1);
    assert_eq!(aw!(ctx.count::<User>(doc! { "age": 31 })), 1);

    // Finding 7: the same, when the handle moves to another session before anyone reads.
    let tag = session.add(Tag { id: "rust".into(), uses: 1 });
    lose_inserts!(ctx, aw!(session.flush()));
    aw!(ctx.insert::<Tag>(vec![doc! { "_id": "rust", "uses": 1_i64 }]));
    session.expunge(&tag);
    let mut other = ctx.session();
    other.add(&tag);
    aw!(other.flush())?;
    assert!(tag.is_persistent());
    assert_eq!(aw!(ctx.count::<Tag>(doc! {})), 1);
});

// Finding 6: a change to a document someone else deleted is a typed conflict, stays staged,
// and `expunge` resolves it; a delete of a vanished document reports it once and lets go.
scenario!(changes_to_vanished_documents_are_conflicts, |ctx| {
    let mut session = ctx.session();
    let alice = session.add(user("Alice", "alice@example.com", 30));
    let bob = session.add(user("Bob", "bob@example.com", 25));
    let carol = session.add(user("Carol", "carol@example.com", 28));
    aw!(session.commit())?;
    aw!(ctx.delete::<User>(doc! { "name": { "$in": ["Alice", "Bob"] } }));

    alice.write().age = Some(31);
    carol.write().age = Some(29);
    let result = aw!(session.commit());
    let Err(Error::Flush(failure)) = &result else { return Err(format!("expected a conflict, got {result:?}").into()) };
    assert!(failure.cause().is_conflict(), "{failure}");
    assert!(
        matches!(failure.cause(), Error::Stale { id: Some(id), .. } if **id == Bson::ObjectId(alice.id().ok_or("id")?))
    );
    assert!(session.dirty().contains(&alice.as_entity_ref()), "the change stays staged");
    session.expunge(&alice);
    aw!(session.commit())?;
    assert_eq!(aw!(ctx.count::<User>(doc! { "name": "Carol", "age": 29 })), 1);

    session.delete(&bob)?;
    let result = aw!(session.commit());
    assert!(result.as_ref().is_err_and(Error::is_conflict), "{result:?}");
    assert!(!bob.is_attached(), "the document is gone, as the delete wanted");
    aw!(session.commit())?;
});

// Finding 8: an `i64` id stored as `NumberInt` by another driver is the same id.
scenario!(integer_ids_compare_by_value, |ctx| {
    aw!(ctx.insert::<Comment>(vec![doc! { "_id": 1_i32, "body": "from another driver" }]));
    let mut session = ctx.session();
    let comment = aw!(session.get::<Comment>(1_i64))?.ok_or("found")?;
    comment.write().body = "edited".into();
    aw!(session.commit())?;
    assert_eq!(aw!(ctx.find_all::<Comment>()), [doc! { "_id": 1_i32, "body": "edited" }]);
});

// Finding 9: `merge` of an id the session stages for insert joins that entity.
scenario!(merge_joins_a_staged_insert, |ctx| {
    let mut session = ctx.session();
    let added = session.add(Comment { id: 5, body: "added".into() });
    let merged = session.merge(Comment { id: 5, body: "merged".into() })?;
    assert!(merged.ptr_eq(&added));
    assert_eq!(session.len(), 1);
    aw!(session.commit())?;
    aw!(session.commit())?;
    assert_eq!(aw!(ctx.find_all::<Comment>()), [comment_doc(5, "merged")]);
});
