//! Documents without a model: tracked by the session as typed entities are (identity map,
//! path diffs, batched flush, transactions), queried by untyped paths whose values stay
//! operands, and never tracked twice (as a typed entity and as a document) in one session.

use mongotic::bson::{Bson, Document, doc};
use mongotic::expr::path;
use mongotic::prelude::*;
use mongotic_test_server::Topology;

use crate::common::*;

/// The whole collection of `User`s, by `_id`, as the server has it.
async fn stored(ctx: &AsyncCtx) -> Vec<Document> {
    let mut docs = ctx.find_all::<User>().await;
    docs.sort_by_key(|doc| doc.get("_id").map(|id| id.to_string()));
    docs
}

async fn documents_are_tracked_edited_by_path_and_flushed_as_diffs(topology: Topology) -> Result<(), String> {
    let ctx = AsyncCtx::on(topology).await;
    let mut session = ctx.session();
    let mut users = session.documents("users").map_err(|e| e.to_string())?;
    let ann =
        users.add(doc! { "name": "Ann", "address": { "city": "Paris" }, "legacy": 1 }).map_err(|e| e.to_string())?;
    let bob = users.add(doc! { "_id": 2, "name": "Bob" }).map_err(|e| e.to_string())?;
    ctx.log().clear();
    users.flush().await.map_err(|e| e.to_string())?;
    let writes: Vec<String> = ctx.log().names().into_iter().filter(|name| name != "commitTransaction").collect();
    assert_eq!(writes, ["insert"], "both documents in one insert");
    let ann_id = ann.id().ok_or("ann got no _id")?;
    assert!(matches!(ann_id, Bson::ObjectId(_)), "{ann_id:?}");

    // The same document is the same handle, from the identity map (no I/O).
    ctx.log().clear();
    let again = users.get(ann_id.clone()).await.map_err(|e| e.to_string())?.ok_or("ann not found")?;
    assert!(again.ptr_eq(&ann));
    assert!(ctx.log().names().is_empty(), "{:?}", ctx.log().names());

    // Edits by path become `$set`/`$unset` of exactly those paths.
    ann.set("address.zip", "75001").map_err(|e| e.to_string())?;
    assert_eq!(ann.unset("legacy"), Some(Bson::Int32(1)));
    assert!(ann.set("name.first", "A").is_err(), "a path through a string is refused");
    assert!(ann.set("$where", "1").is_err(), "an operator is not a path");
    bob.rename("name", "full_name").map_err(|e| e.to_string())?;
    ctx.log().clear();
    users.flush().await.map_err(|e| e.to_string())?;
    let updates = ctx.log().commands("update");
    let sent: Vec<Document> = updates
        .iter()
        .flat_map(|command| command.get_array("updates").cloned().unwrap_or_default())
        .filter_map(|update| update.as_document().and_then(|u| u.get_document("u").ok()).cloned())
        .collect();
    assert!(sent.contains(&doc! { "$set": { "address.zip": "75001" }, "$unset": { "legacy": "" } }), "{sent:?}");
    assert!(sent.contains(&doc! { "$set": { "full_name": "Bob" }, "$unset": { "name": "" } }), "{sent:?}");
    assert_eq!(
        stored(&ctx).await,
        {
            let mut expected = vec![
                doc! { "_id": ann_id.clone(), "name": "Ann", "address": { "city": "Paris", "zip": "75001" } },
                doc! { "_id": 2, "full_name": "Bob" },
            ];
            expected.sort_by_key(|doc| doc.get("_id").map(|id| id.to_string()));
            expected
        },
        "the whole collection is what the program intended"
    );

    // Delete.
    users.delete(&bob).map_err(|e| e.to_string())?;
    users.flush().await.map_err(|e| e.to_string())?;
    assert_eq!(ctx.count::<User>(doc! {}).await, 1);
    Ok(())
}

async fn on_replica_set() -> Result<(), String> {
    documents_are_tracked_edited_by_path_and_flushed_as_diffs(Topology::ReplicaSet).await
}
async fn on_standalone() -> Result<(), String> {
    documents_are_tracked_edited_by_path_and_flushed_as_diffs(Topology::Standalone).await
}
test!(async on_replica_set, needs = [ReplicaSet]);
test!(async on_standalone, needs = [Standalone]);

async fn untyped_queries_filter_sort_and_keep_values_as_operands() -> Result<(), String> {
    let ctx = AsyncCtx::new().await;
    ctx.insert::<User>(vec![
        doc! { "_id": 1, "name": "Ann", "age": 30, "address": { "city": "Paris" } },
        doc! { "_id": 2, "name": "Bob", "age": 20, "address": { "city": "Lyon" } },
        doc! { "_id": 3, "name": "Cy", "age": 40, "address": { "city": "Paris" } },
    ])
    .await;
    let mut session = ctx.session();
    let mut users = session.documents("users").map_err(|e| e.to_string())?;
    let paris =
        users.find(path("address.city").eq("Paris")).order_by(-path("age")).all().await.map_err(|e| e.to_string())?;
    let names: Vec<Option<Bson>> = paris.iter().map(|doc| doc.get("name")).collect();
    assert_eq!(names, [Some(Bson::from("Cy")), Some(Bson::from("Ann"))]);
    assert_eq!(users.count(path("age").gte(25)).await.map_err(|e| e.to_string())?, 2);
    // Documents only read are not written.
    ctx.log().clear();
    users.flush().await.map_err(|e| e.to_string())?;
    assert!(ctx.log().names().is_empty(), "an untouched document is not written: {:?}", ctx.log().names());
    // A user's document is compared as a value, never read as an operator.
    let sneaky = users.find(path("name").eq(doc! { "$ne": "" })).all().await.map_err(|e| e.to_string())?;
    assert!(sneaky.is_empty(), "{sneaky:?}");
    let refused = users.find(path("$where").eq("1")).all().await;
    assert!(matches!(refused, Err(mongotic::Error::InvalidStatement { .. })), "{refused:?}");
    // A query result never overwrites a tracked document's pending change.
    let ann = users.get(1).await.map_err(|e| e.to_string())?.ok_or("ann")?;
    ann.set("age", 31).map_err(|e| e.to_string())?;
    let again = users.find(path("_id").eq(1)).first().await.map_err(|e| e.to_string())?.ok_or("ann again")?;
    assert!(again.ptr_eq(&ann));
    assert_eq!(again.get("age"), Some(Bson::Int32(31)));
    Ok(())
}
test!(async untyped_queries_filter_sort_and_keep_values_as_operands, needs = [ReplicaSet]);

async fn one_document_is_one_entity_across_shapes() -> Result<(), String> {
    let ctx = AsyncCtx::new().await;
    let id = ObjectId::new();
    ctx.insert::<User>(vec![doc! { "_id": id, "name": "Ann", "age": 30 }]).await;

    // Typed first: the document shape is refused while the typed entity is tracked.
    let mut session = ctx.session();
    let typed = session.get::<User>(id).await.map_err(|e| e.to_string())?.ok_or("typed ann")?;
    let refused = session.documents("users").map_err(|e| e.to_string())?.get(id).await;
    match refused {
        Err(mongotic::Error::TrackedInAnotherShape { tracked_as, .. }) => assert_eq!(tracked_as, "User"),
        other => return Err(format!("expected TrackedInAnotherShape, got {other:?}")),
    }
    let added = session.documents("users").map_err(|e| e.to_string())?.add(doc! { "_id": id, "name": "Other" });
    assert!(matches!(added, Err(mongotic::Error::TrackedInAnotherShape { .. })), "{added:?}");
    // Once the typed entity is let go of, the document can be tracked.
    session.expunge(&typed);
    let doc = session.documents("users").map_err(|e| e.to_string())?.get(id).await.map_err(|e| e.to_string())?;
    let doc = doc.ok_or("document ann")?;

    // Document first: the typed shape is refused.
    let refused = session.get::<User>(id).await;
    match refused {
        Err(mongotic::Error::TrackedInAnotherShape { tracked_as, .. }) => assert_eq!(tracked_as, "Document"),
        other => return Err(format!("expected TrackedInAnotherShape, got {other:?}")),
    }
    let refused = session.scalars(select::<User>()).all().await;
    assert!(matches!(refused, Err(mongotic::Error::TrackedInAnotherShape { .. })), "{refused:?}");

    // Another collection's document with the same id is another document.
    let other = session.documents("others").map_err(|e| e.to_string())?.add(doc! { "_id": id });
    assert!(other.is_ok(), "{other:?}");
    doc.set("age", 31).map_err(|e| e.to_string())?;
    session.commit().await.map_err(|e| e.to_string())?;
    let stored = ctx.find_one::<User>(doc! { "_id": id }).await.ok_or("stored")?;
    assert_eq!(stored, doc! { "_id": id, "name": "Ann", "age": 31 });
    Ok(())
}
test!(async one_document_is_one_entity_across_shapes, needs = [ReplicaSet]);

/// `Session::add` returns no `Result`: a typed entity added (or merged) with the `_id` of a
/// document the session tracks is refused by the flush, before any I/O, and nothing is written.
async fn a_typed_add_of_a_tracked_document_is_refused_by_the_flush() -> Result<(), String> {
    let ctx = AsyncCtx::new().await;
    let id = ObjectId::new();
    let mut session = ctx.session();
    session
        .documents("users")
        .map_err(|e| e.to_string())?
        .add(doc! { "_id": id, "name": "Doc" })
        .map_err(|e| e.to_string())?;
    session.add(User { id: Some(id), ..user("Typed", "typed@example.com", 30) });
    ctx.log().clear();
    match session.flush().await {
        // Whichever of the two the flush plans first names the other.
        Err(mongotic::Error::TrackedInAnotherShape { tracked_as, .. }) => {
            assert!(["User", "Document"].contains(&tracked_as), "{tracked_as}")
        }
        other => return Err(format!("expected TrackedInAnotherShape, got {other:?}")),
    }
    assert!(ctx.log().names().is_empty(), "nothing sent: {:?}", ctx.log().names());
    assert!(stored(&ctx).await.is_empty());

    // A merge (which replaces the stored document by its id) of a document the session has
    // read without a model and left unchanged: refused the same way.
    ctx.insert::<User>(vec![doc! { "_id": id, "name": "Doc" }]).await;
    let mut session = ctx.session();
    let mut users = session.documents("users").map_err(|e| e.to_string())?;
    users.get(id).await.map_err(|e| e.to_string())?.ok_or("the document")?;
    session.merge(User { id: Some(id), ..user("Merged", "merged@example.com", 31) }).map_err(|e| e.to_string())?;
    ctx.log().clear();
    let merged = session.flush().await;
    assert!(matches!(merged, Err(mongotic::Error::TrackedInAnotherShape { .. })), "{merged:?}");
    assert!(ctx.log().names().is_empty(), "nothing sent: {:?}", ctx.log().names());
    assert_eq!(stored(&ctx).await, [doc! { "_id": id, "name": "Doc" }]);
    ctx.delete::<User>(doc! {}).await;

    // Typed first, then a document read by a query meets it: refused as before; and a typed
    // entity of another `_id` is written with the document.
    let mut session = ctx.session();
    let other = ObjectId::new();
    session.add(User { id: Some(other), ..user("Other", "other@example.com", 40) });
    session
        .documents("users")
        .map_err(|e| e.to_string())?
        .add(doc! { "_id": id, "name": "Doc" })
        .map_err(|e| e.to_string())?;
    session.commit().await.map_err(|e| e.to_string())?;
    let names: Vec<String> =
        stored(&ctx).await.iter().filter_map(|doc| doc.get_str("name").ok().map(str::to_owned)).collect();
    assert_eq!(names.len(), 2, "{names:?}");
    Ok(())
}
test!(async a_typed_add_of_a_tracked_document_is_refused_by_the_flush, needs = [ReplicaSet]);

/// A tenant's session cannot reach documents without a model: they have no tenant field to
/// scope them, so opening them would read every tenant's documents.
async fn a_tenant_session_does_not_open_documents() -> Result<(), String> {
    let ctx = AsyncCtx::new().await;
    ctx.insert::<User>(vec![doc! { "_id": 1, "name": "Ann" }]).await;
    let mut session = ctx.tenant_session("acme");
    let refused = session.documents("users").map(drop);
    assert!(matches!(refused, Err(mongotic::Error::InvalidOptions { .. })), "{refused:?}");
    let refused = session.documents_in("other", "users").map(drop);
    assert!(matches!(refused, Err(mongotic::Error::InvalidOptions { .. })), "{refused:?}");
    let mut unscoped = ctx.session();
    assert!(unscoped.documents("users").map_err(|e| e.to_string())?.get(1).await.map_err(|e| e.to_string())?.is_some());
    Ok(())
}
test!(async a_tenant_session_does_not_open_documents, needs = [ReplicaSet]);

async fn a_rolled_back_transaction_leaves_document_edits_unwritten() -> Result<(), String> {
    let ctx = AsyncCtx::new().await;
    ctx.insert::<User>(vec![doc! { "_id": 1, "name": "Ann" }]).await;
    let mut session = ctx.session();
    session.begin().await.map_err(|e| e.to_string())?;
    let mut users = session.documents("users").map_err(|e| e.to_string())?;
    let ann = users.get(1).await.map_err(|e| e.to_string())?.ok_or("ann")?;
    ann.set("name", "Ann Lee").map_err(|e| e.to_string())?;
    let bob = users.add(doc! { "_id": 2, "name": "Bob" }).map_err(|e| e.to_string())?;
    users.flush().await.map_err(|e| e.to_string())?;
    session.rollback();
    assert_eq!(stored(&ctx).await, vec![doc! { "_id": 1, "name": "Ann" }]);
    // As for typed entities: back to the values at `begin`, the added document let go of.
    assert_eq!(ann.get("name"), Some(Bson::from("Ann")));
    assert!(!bob.is_attached());
    session.commit().await.map_err(|e| e.to_string())?;
    assert_eq!(stored(&ctx).await, vec![doc! { "_id": 1, "name": "Ann" }], "nothing left to write");
    // And a committed transaction writes them.
    session.begin().await.map_err(|e| e.to_string())?;
    ann.set("name", "Ann Lee").map_err(|e| e.to_string())?;
    session
        .documents("users")
        .map_err(|e| e.to_string())?
        .add(doc! { "_id": 2, "name": "Bob" })
        .map_err(|e| e.to_string())?;
    session.commit().await.map_err(|e| e.to_string())?;
    assert_eq!(stored(&ctx).await, vec![doc! { "_id": 1, "name": "Ann Lee" }, doc! { "_id": 2, "name": "Bob" }]);
    Ok(())
}
test!(async a_rolled_back_transaction_leaves_document_edits_unwritten, needs = [ReplicaSet]);

/// The blocking mirror: the same documents, edits, queries and migrations without `.await`.
fn the_blocking_api_tracks_documents_and_runs_migrations() -> Result<(), String> {
    let ctx = BlockingCtx::new();
    let mut session = ctx.session();
    let mut users = session.documents("users").map_err(|e| e.to_string())?;
    let ann = users.add(doc! { "_id": 1, "fullname": "Ann Lee" }).map_err(|e| e.to_string())?;
    users.add(doc! { "_id": 2, "fullname": "Bob Ray" }).map_err(|e| e.to_string())?;
    users.flush().map_err(|e| e.to_string())?;
    ann.set("age", 30).map_err(|e| e.to_string())?;
    users.flush().map_err(|e| e.to_string())?;
    let found = users.find(path("age").eq(30)).all().map_err(|e| e.to_string())?;
    assert!(found.len() == 1 && found[0].ptr_eq(&ann));
    assert_eq!(users.count(path("fullname").exists(true)).map_err(|e| e.to_string())?, 2);

    let migrations =
        mongotic::migrate::Migrations::new().backfill("split", "users", path("fullname").exists(true), |user| {
            let fullname = user.get("fullname").and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default();
            let (first, last) = fullname.split_once(' ').unwrap_or((fullname.as_str(), ""));
            user.set("first", first)?;
            user.set("last", last)?;
            user.unset("fullname");
            Ok(())
        });
    assert_eq!(ctx.engine.pending_migrations(&migrations).map_err(|e| e.to_string())?, ["split"]);
    let report = ctx.engine.migrate(&migrations).map_err(|e| e.to_string())?;
    assert_eq!((report.applied.len(), report.documents), (1, 2));
    let stored = ctx.find_all::<User>();
    assert_eq!(
        stored,
        vec![
            doc! { "_id": 1, "age": 30, "first": "Ann", "last": "Lee" },
            doc! { "_id": 2, "first": "Bob", "last": "Ray" },
        ]
    );
    Ok(())
}
test!(the_blocking_api_tracks_documents_and_runs_migrations, needs = [ReplicaSet]);
