//! Upserts on a natural key: the bulk statement (one round trip, `$setOnInsert`, counts and
//! upserted ids), the unit of work's staged upserts (same batch, stored `_id` read back, one
//! handle per key), and the duplicate-key race of concurrent upserts of the same new key.

use std::collections::BTreeSet;

use mongotic::bson::{Document, doc};
use mongotic::prelude::*;

use crate::common::*;

/// A member, known by e-mail (unique); `joined_by` is written only when the member is new.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Model)]
#[mongotic(database = "myapp", collection = "members", index(keys(email = 1), unique))]
pub struct Member {
    #[serde(rename = "_id", skip_serializing_if = "Option::is_none")]
    pub id: Option<ObjectId>,
    pub email: String,
    pub name: String,
    pub joined_by: String,
}

fn member(email: &str, name: &str, joined_by: &str) -> Member {
    Member { id: None, email: email.into(), name: name.into(), joined_by: joined_by.into() }
}

/// Ann and Bob as stored before a test, joined by "seed", under the ids given.
fn ann_and_bob(ann: ObjectId, bob: ObjectId) -> Vec<Document> {
    vec![
        doc! { "_id": ann, "email": "ann@example.com", "name": "Ann", "joined_by": "seed" },
        doc! { "_id": bob, "email": "bob@example.com", "name": "Bob", "joined_by": "seed" },
    ]
}

/// The stored members, by e-mail, without their ids.
fn by_email(docs: Vec<Document>) -> Vec<(String, String, String)> {
    let mut rows: Vec<(String, String, String)> = docs
        .iter()
        .map(|d| {
            let text = |key: &str| d.get_str(key).unwrap_or("<missing>").to_owned();
            (text("email"), text("name"), text("joined_by"))
        })
        .collect();
    rows.sort();
    rows
}

scenario!(the_statement_inserts_new_keys_and_updates_known_ones_in_one_round_trip, |ctx| {
    aw!(ctx.create_indexes::<Member>())?;
    let ann_id = ObjectId::new();
    let bob_id = ObjectId::new();
    aw!(ctx.insert::<Member>(ann_and_bob(ann_id, bob_id)));

    let mut session = ctx.session();
    let stmt = upsert::<Member>().on(Member::email).on_insert(Member::joined_by).values([
        member("ann@example.com", "Ann Lee", "import"),
        member("bob@example.com", "Bob", "import"),
        member("cy@example.com", "Cy", "import"),
        member("di@example.com", "Di", "import"),
    ]);
    ctx.log().clear();
    let result = aw!(session.execute(stmt))?;
    assert_eq!(ctx.log().names(), ["update"], "one round trip for the whole statement");
    assert_eq!((result.inserted, result.matched, result.modified), (2, 2, 1), "{result:?}");
    let positions: Vec<usize> = result.upserted_ids.iter().map(|(index, _)| *index).collect();
    assert_eq!(positions, [2, 3]);

    // The upserted ids are the stored ones; the known members kept theirs and `joined_by`.
    for (index, id) in &result.upserted_ids {
        let email = ["ann", "bob", "cy", "di"][*index];
        let stored = aw!(ctx.find_one::<Member>(doc! { "_id": *id })).ok_or("an upserted id is not stored")?;
        assert_eq!(stored.get_str("email").ok(), Some(format!("{email}@example.com").as_str()));
    }
    let ann = aw!(ctx.find_one::<Member>(doc! { "email": "ann@example.com" })).ok_or("ann")?;
    assert_eq!(ann.get_object_id("_id").ok(), Some(ann_id));
    assert_eq!(
        by_email(aw!(ctx.find_all::<Member>())),
        [
            ("ann@example.com".into(), "Ann Lee".into(), "seed".into()),
            ("bob@example.com".into(), "Bob".into(), "seed".into()),
            ("cy@example.com".into(), "Cy".into(), "import".into()),
            ("di@example.com".into(), "Di".into(), "import".into()),
        ]
    );

    // Sent again, everything matches and nothing changes.
    let again = upsert::<Member>()
        .on(Member::email)
        .on_insert(Member::joined_by)
        .values([member("cy@example.com", "Cy", "other"), member("di@example.com", "Di", "other")]);
    let result = aw!(session.execute(again))?;
    assert_eq!((result.inserted, result.matched, result.modified), (0, 2, 0), "{result:?}");
    assert!(result.upserted_ids.is_empty());
    assert_eq!(aw!(ctx.count::<Member>(doc! {})), 4);
});

scenario!(an_upsert_without_a_key_is_a_typed_error_and_sends_nothing, |ctx| {
    let mut session = ctx.session();
    ctx.log().clear();
    let err = aw!(session.execute(upsert::<Member>().values([member("a@b.c", "A", "x")]))).expect_err("no key named");
    assert!(matches!(err, mongotic::Error::InvalidStatement { .. }), "{err}");
    assert!(ctx.log().names().is_empty(), "{:?}", ctx.log().names());
    assert_eq!(aw!(ctx.count::<Member>(doc! {})), 0);
});

scenario!(a_staged_upsert_takes_the_stored_id_and_is_the_tracked_handle, |ctx| {
    aw!(ctx.create_indexes::<Member>())?;
    let ann_id = ObjectId::new();
    let bob_id = ObjectId::new();
    aw!(ctx.insert::<Member>(ann_and_bob(ann_id, bob_id)));

    let mut session = ctx.session();
    // Ann is loaded: upserting her key updates the same entity.
    let loaded = aw!(session.scalars(select::<Member>().filter(Member::email.eq("ann@example.com"))).one())?;
    let ann = session.upsert(Member::email, member("ann@example.com", "Ann Lee", "import"))?;
    assert!(ann.ptr_eq(&loaded), "one key, one entity");
    assert_eq!(ann.read().id, Some(ann_id));
    assert_eq!(ann.read().name, "Ann Lee");
    // Bob is stored but not loaded; Cy is new. Both in the same flush as Ann's change.
    let bob = session.upsert(Member::email, member("bob@example.com", "Robert", "import"))?;
    let cy = session.upsert(Member::email, member("cy@example.com", "Cy", "import"))?;
    assert!(session.upsert(Member::email, member("cy@example.com", "Cy Young", "import"))?.ptr_eq(&cy));

    ctx.log().clear();
    aw!(session.commit())?;
    let names = ctx.log().names();
    assert_eq!(names.iter().filter(|name| *name == "update").count(), 1, "one write command: {names:?}");
    assert_eq!(names.iter().filter(|name| *name == "find").count(), 1, "one read-back: {names:?}");

    // Bob's handle holds his stored id, not one made up for an insert.
    assert_eq!(bob.read().id, Some(bob_id));
    assert_eq!(bob.read().name, "Robert");
    let cy_id = cy.read().id.ok_or("cy has no id after the flush")?;
    let stored_cy = aw!(ctx.find_one::<Member>(doc! { "_id": cy_id })).ok_or("cy is not stored under its id")?;
    assert_eq!(stored_cy.get_str("name").ok(), Some("Cy Young"));
    assert_eq!(
        by_email(aw!(ctx.find_all::<Member>())),
        [
            ("ann@example.com".into(), "Ann Lee".into(), "import".into()),
            ("bob@example.com".into(), "Robert".into(), "import".into()),
            ("cy@example.com".into(), "Cy Young".into(), "import".into()),
        ]
    );
    // The session now knows them by id: a get answers from the identity map.
    ctx.log().clear();
    let again = aw!(session.get::<Member>(bob_id))?.ok_or("bob")?;
    assert!(again.ptr_eq(&bob));
    assert!(ctx.log().names().is_empty(), "{:?}", ctx.log().names());
    // And the flushed upsert is an ordinary tracked entity: a change is an update by id.
    cy.write().name = "C. Young".into();
    aw!(session.commit())?;
    assert_eq!(
        aw!(ctx.find_one::<Member>(doc! { "_id": cy_id })).and_then(|d| d.get_str("name").ok().map(str::to_owned)),
        Some("C. Young".to_owned())
    );
});

scenario!(a_staged_upsert_writes_its_insert_only_fields_only_on_insert, |ctx| {
    aw!(ctx.create_indexes::<Member>())?;
    aw!(ctx.insert::<Member>(ann_and_bob(ObjectId::new(), ObjectId::new())));
    let mut session = ctx.session();
    // Bob is loaded: the entity takes the value but keeps what only an insert writes.
    let bob = aw!(session.scalars(select::<Member>().filter(Member::email.eq("bob@example.com"))).one())?;
    let handles = session.upsert_with(upsert::<Member>().on(Member::email).on_insert(Member::joined_by).values([
        member("ann@example.com", "Ann Lee", "import"),
        member("bob@example.com", "Robert", "import"),
        member("cy@example.com", "Cy", "import"),
    ]))?;
    assert_eq!(handles.len(), 3);
    assert!(handles[1].ptr_eq(&bob));
    assert_eq!((bob.read().name.as_str(), bob.read().joined_by.as_str()), ("Robert", "seed"));
    aw!(session.commit())?;
    assert_eq!(
        by_email(aw!(ctx.find_all::<Member>())),
        [
            ("ann@example.com".into(), "Ann Lee".into(), "seed".into()),
            ("bob@example.com".into(), "Robert".into(), "seed".into()),
            ("cy@example.com".into(), "Cy".into(), "import".into()),
        ]
    );
    // The handles hold the stored documents: Ann's `joined_by` is the stored one.
    assert_eq!(handles[0].read().joined_by, "seed");
    assert_eq!(handles[2].read().joined_by, "import");
    let err = session.upsert_with(upsert::<Member>().values([member("d@example.com", "D", "x")])).expect_err("no key");
    assert!(matches!(err, mongotic::Error::InvalidStatement { .. }), "{err}");
});

scenario!(a_staged_upsert_that_is_rolled_back_leaves_nothing, |ctx| {
    let mut session = ctx.session();
    let dan = session.upsert(Member::email, member("dan@example.com", "Dan", "import"))?;
    assert!(session.contains(&dan));
    session.rollback();
    assert!(!session.contains(&dan), "a rolled-back upsert is no longer staged");
    ctx.log().clear();
    aw!(session.commit())?;
    assert!(!ctx.log().names().iter().any(|name| name == "update"), "{:?}", ctx.log().names());
    assert_eq!(aw!(ctx.count::<Member>(doc! {})), 0);
});

/// The keys every racer upserts.
fn race_keys() -> Vec<String> {
    (0..10).map(|i| format!("racer{i}@example.com")).collect()
}

/// Checks that the race left exactly one document per key.
async fn one_document_per_key(ctx: &AsyncCtx) -> TestResult {
    let stored = ctx.find_all::<Member>().await;
    let emails: BTreeSet<String> = stored.iter().filter_map(|d| d.get_str("email").ok().map(str::to_owned)).collect();
    assert_eq!(stored.len(), 10, "one document per key: {stored:?}");
    assert_eq!(emails, race_keys().into_iter().collect::<BTreeSet<_>>());
    Ok(())
}

/// Fifty sessions run the same bulk upsert of ten new keys at once (each in its own order):
/// every one succeeds, ten documents are stored, and ten inserts are counted in all.
async fn fifty_statements_upserting_ten_new_keys_leave_ten_documents() -> TestResult {
    let ctx = AsyncCtx::new().await;
    ctx.create_indexes::<Member>().await?;
    let racers = (0..50).map(|racer| {
        let mut session = ctx.session();
        let mut keys = race_keys();
        keys.rotate_left(racer % 10);
        tokio::spawn(async move {
            let values = keys.iter().map(|email| member(email, &format!("racer {racer}"), "race"));
            session.execute(upsert::<Member>().on(Member::email).values(values)).await
        })
    });
    let mut inserted = 0;
    for racer in futures::future::join_all(racers).await {
        let result = racer.map_err(|err| format!("a racer panicked: {err}"))??;
        assert_eq!(result.inserted + result.matched, 10, "{result:?}");
        inserted += result.inserted;
    }
    assert_eq!(inserted, 10, "each key inserted once");
    one_document_per_key(&ctx).await
}
test!(async(workers = 2) fifty_statements_upserting_ten_new_keys_leave_ten_documents, needs = [ReplicaSet]);

/// The same race through the unit of work: fifty sessions stage the ten keys and commit at
/// once; every commit succeeds and every handle ends with the one stored id of its key.
async fn fifty_sessions_upserting_ten_new_keys_leave_ten_documents() -> TestResult {
    let ctx = AsyncCtx::new().await;
    ctx.create_indexes::<Member>().await?;
    let racers = (0..50).map(|racer| {
        let mut session = ctx.session();
        let mut keys = race_keys();
        keys.rotate_left(racer % 10);
        tokio::spawn(async move {
            let mut handles = Vec::new();
            for email in &keys {
                handles.push((email.clone(), session.upsert(Member::email, member(email, "racer", "race"))?));
            }
            session.commit().await?;
            let ids: Vec<(String, Option<ObjectId>)> =
                handles.iter().map(|(email, handle)| (email.clone(), handle.read().id)).collect();
            Ok::<_, mongotic::Error>(ids)
        })
    });
    let results = futures::future::join_all(racers).await;
    let stored = ctx.find_all::<Member>().await;
    for racer in results {
        for (email, id) in racer.map_err(|err| format!("a racer panicked: {err}"))?? {
            let stored_id = stored
                .iter()
                .find(|d| d.get_str("email").ok() == Some(email.as_str()))
                .and_then(|d| d.get_object_id("_id").ok());
            assert_eq!(id, stored_id, "{email}: the handle holds the one stored id");
        }
    }
    one_document_per_key(&ctx).await
}
test!(async(workers = 2) fifty_sessions_upserting_ten_new_keys_leave_ten_documents, needs = [ReplicaSet]);

/// The race without transactions, on the standalone server.
async fn the_race_without_transactions_leaves_ten_documents() -> TestResult {
    let ctx = AsyncCtx::on(mongotic_test_server::Topology::Standalone).await;
    ctx.create_indexes::<Member>().await?;
    let racers = (0..50).map(|racer| {
        let mut session = ctx.session();
        let mut keys = race_keys();
        keys.rotate_left(racer % 10);
        tokio::spawn(async move {
            for email in &keys {
                session.upsert(Member::email, member(email, "racer", "race"))?;
            }
            session.commit().await
        })
    });
    for racer in futures::future::join_all(racers).await {
        racer.map_err(|err| format!("a racer panicked: {err}"))??;
    }
    one_document_per_key(&ctx).await
}
test!(async(workers = 2) the_race_without_transactions_leaves_ten_documents, needs = [Standalone]);
