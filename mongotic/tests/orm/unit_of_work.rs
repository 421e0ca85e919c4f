//! The unit of work: identity map, change tracking by snapshot, batched flush, and the
//! failure semantics: nothing lost, nothing written twice.

use mongotic::bson::{Bson, Document, doc};
use mongotic::prelude::*;
use mongotic::{Error, WriteKind};

use crate::common::*;

/// The update documents (`u`) of the `update` commands in the log, in order.
fn update_documents(commands: &[Document]) -> Vec<Document> {
    commands
        .iter()
        .flat_map(|command| command.get_array("updates").cloned().unwrap_or_default())
        .filter_map(|statement| statement.as_document().and_then(|s| s.get_document("u").ok()).cloned())
        .collect()
}

scenario!(one_document_is_one_handle, |ctx| {
    let mut session = ctx.session();
    let alice = session.add(user("Alice", "alice@example.com", 30));
    aw!(session.commit())?;
    let id = alice.id().ok_or("no id")?;

    let mut session = ctx.session();
    let first = aw!(session.scalars(select::<User>().filter(User::name.eq("Alice"))).one())?;
    first.write().age = Some(40);
    ctx.log().clear();
    let by_get = aw!(session.get::<User>(id))?.ok_or("missing")?;
    assert!(ctx.log().is_empty(), "get of a tracked entity needs no round trip");
    let by_query = aw!(session.scalars(select::<User>()).all())?;
    assert!(first.ptr_eq(&by_get));
    assert!(first.ptr_eq(&by_query[0]));
    assert_eq!(by_query[0].read().age, Some(40), "the pending change is intact");
    assert_eq!(session.len(), 1);
    aw!(session.commit())?;
    assert_eq!(aw!(ctx.count::<User>(doc! { "age": 40 })), 1);
});

scenario!(nested_change_is_one_dotted_set, |ctx| {
    let mut session = ctx.session();
    let alice = session.add(User {
        address: Some(Address { city: "Paris".into(), zip: Some("75001".into()) }),
        ..user("Alice", "alice@example.com", 30)
    });
    aw!(session.commit())?;
    ctx.log().clear();

    if let Some(address) = alice.write().address.as_mut() {
        address.city = "Lyon".into();
    }
    aw!(session.commit())?;
    assert_eq!(ctx.log().names(), ctx.flush_commands(&["update"]));
    assert_eq!(update_documents(&ctx.log().commands("update")), [doc! { "$set": { "address.city": "Lyon" } }]);
    assert_eq!(aw!(ctx.count::<User>(doc! { "address.city": "Lyon", "address.zip": "75001" })), 1);
});

scenario!(removed_field_is_unset_and_array_set_whole, |ctx| {
    let mut session = ctx.session();
    let alice = session.add(User { tags: vec!["a".into(), "b".into()], ..user("Alice", "alice@example.com", 30) });
    aw!(session.commit())?;
    ctx.log().clear();
    {
        let mut alice = alice.write();
        alice.email = None; // skipped when None: removed from the document
        alice.tags.push("c".into());
    }
    aw!(session.commit())?;
    assert_eq!(
        update_documents(&ctx.log().commands("update")),
        [doc! { "$set": { "tags": ["a", "b", "c"] }, "$unset": { "email": "" } }]
    );
    let stored = aw!(ctx.find_one::<User>(doc! {})).ok_or("gone")?;
    assert!(!stored.contains_key("email"));
});

scenario!(changed_and_changed_back_is_not_dirty, |ctx| {
    let mut session = ctx.session();
    let alice = session.add(user("Alice", "alice@example.com", 30));
    let bob = session.add(user("Bob", "bob@example.com", 25));
    aw!(session.commit())?;
    ctx.log().clear();

    alice.write().age = Some(31);
    alice.write().age = Some(30);
    let _untouched = bob.write(); // a write guard without a change
    drop(_untouched);
    assert!(session.dirty().is_empty());
    aw!(session.commit())?;
    assert!(ctx.log().is_empty(), "nothing changed, nothing sent: {:?}", ctx.log().names());
});

scenario!(unchanged_entities_produce_no_write, |ctx| {
    let mut session = ctx.session();
    session.add_all((0..20).map(|i| user(&format!("u{i}"), &format!("u{i}@example.com"), i)));
    aw!(session.commit())?;
    let loaded = aw!(session.scalars(select::<User>()).all())?;
    assert_eq!(loaded.len(), 20);
    loaded[7].write().company = Some("Acme".into());
    ctx.log().clear();
    aw!(session.commit())?;
    assert_eq!(ctx.log().names(), ctx.flush_commands(&["update"]));
    let command = &ctx.log().commands("update")[0];
    assert_eq!(command.get_array("updates")?.len(), 1, "only the changed entity is written");
});

scenario!(hundred_dirty_entities_one_command, |ctx| {
    let mut session = ctx.session();
    session.add_all((0..100).map(|i| user(&format!("u{i}"), &format!("u{i}@example.com"), i)));
    aw!(session.commit())?;

    let mut session = ctx.session();
    let users = aw!(session.scalars(select::<User>()).all())?;
    for user in &users {
        let mut user = user.write();
        user.age = user.age.map(|age| age + 1000);
    }
    assert_eq!(session.dirty().len(), 100);
    ctx.log().clear();
    aw!(session.commit())?;
    assert_eq!(ctx.log().names(), ctx.flush_commands(&["update"]), "one command for 100 dirty entities");
    assert_eq!(aw!(ctx.count::<User>(doc! { "age": { "$gte": 1000 } })), 100);
});

// One bulkWrite where the server has it; otherwise (servers before 8.0, or turned off) one
// ordered command per collection and kind of write: deletes, updates, inserts.
scenario!(flush_over_three_collections, |ctx| {
    let base = ctx.engine.clone();
    let modes = [(true, vec!["bulkWrite"]), (false, vec!["delete", "update", "insert", "insert", "insert"])];
    for (round, (bulk_write, expected)) in modes.into_iter().enumerate() {
        ctx.engine = base.with_client_bulk_write(bulk_write);
        let tag = |name: &str| format!("{name}-{round}");
        let mut session = ctx.session();
        let alice = session.add(user(&tag("Alice"), &tag("alice"), 30));
        let old_post = session.add(post(&tag("old")));
        aw!(session.commit())?;
        ctx.log().clear();

        alice.write().age = Some(31);
        session.delete(&old_post)?;
        session.add(post(&tag("new")));
        session.add(Comment { id: round as i64, body: "first".into() });
        session.add(user(&tag("Bob"), &tag("bob"), 25));
        aw!(session.commit())?;
        assert_eq!(ctx.log().names(), ctx.flush_commands(&expected), "client bulkWrite {bulk_write}");
        assert_eq!(aw!(ctx.count::<User>(doc! { "name": { "$in": [tag("Alice"), tag("Bob")] } })), 2);
        assert_eq!(aw!(ctx.count::<User>(doc! { "name": tag("Alice"), "age": 31 })), 1);
        assert_eq!(aw!(ctx.count::<Post>(doc! { "title": tag("old") })), 0);
        assert_eq!(aw!(ctx.count::<Post>(doc! { "title": tag("new") })), 1);
        assert_eq!(aw!(ctx.count::<Comment>(doc! { "_id": round as i64 })), 1);
        assert!(!old_post.is_attached());
    }
});

scenario!(add_then_delete_writes_nothing, |ctx| {
    let mut session = ctx.session();
    let ghost = session.add(user("Ghost", "ghost@example.com", 1));
    session.delete(&ghost)?;
    assert!(session.new().is_empty() && session.deleted().is_empty());
    aw!(session.commit())?;
    assert!(ctx.log().is_empty(), "{:?}", ctx.log().names());
    assert!(!ghost.is_attached());
});

// A delete takes effect at the flush (see `polish::get_and_queries_agree_on_a_staged_delete`).
scenario!(delete_then_get_after_the_flush_finds_nothing, |ctx| {
    let mut session = ctx.session();
    let alice = session.add(user("Alice", "alice@example.com", 30));
    aw!(session.commit())?;
    let id = alice.id().ok_or("no id")?;
    session.delete(&alice)?;
    assert!(aw!(session.get::<User>(id))?.is_some_and(|got| got.ptr_eq(&alice)), "staged, not yet deleted");
    aw!(session.commit())?;
    assert!(aw!(session.get::<User>(id))?.is_none());
    assert_eq!(aw!(ctx.count::<User>(doc! {})), 0);
    assert!(!alice.is_persistent());
});

scenario!(merge_replaces_tracked_entity_and_drops_its_changes, |ctx| {
    let mut session = ctx.session();
    let alice = session.add(user("Alice", "alice@example.com", 30).at("Acme"));
    aw!(session.commit())?;
    alice.write().company = Some("pending change".into());

    let merged = session.merge(User { id: alice.id(), ..user("Alice", "alice@example.com", 60) })?;
    assert!(merged.ptr_eq(&alice), "the tracked handle is reused");
    assert_eq!(alice.read().company, None, "pending changes are replaced");
    assert!(session.dirty()[0] == alice);
    aw!(session.commit())?;
    let stored = aw!(ctx.find_one::<User>(doc! {})).ok_or("gone")?;
    assert_eq!(stored.get_i32("age")?, 60);
    assert!(matches!(stored.get("company"), Some(Bson::Null)));
});

scenario!(handle_moves_between_sessions, |ctx| {
    let mut first = ctx.session();
    let alice = first.add(user("Alice", "alice@example.com", 30));
    aw!(first.commit())?;
    alice.write().age = Some(33);

    let mut second = ctx.session();
    second.add(&alice);
    assert!(!first.contains(&alice) && second.contains(&alice));
    ctx.log().clear();
    aw!(first.commit())?;
    assert!(ctx.log().is_empty(), "the first session forgot it");
    aw!(second.commit())?;
    assert_eq!(aw!(ctx.count::<User>(doc! { "age": 33 })), 1, "its pending change moved with it");
});

scenario!(rollback_cancels_staged_delete_and_merge, |ctx| {
    let mut session = ctx.session();
    let alice = session.add(user("Alice", "alice@example.com", 30));
    aw!(session.commit())?;
    session.delete(&alice)?;
    let merged =
        session.merge(User { id: Some(mongotic::bson::oid::ObjectId::new()), ..user("Ghost", "g@example.com", 1) })?;
    session.rollback();
    assert!(session.deleted().is_empty() && session.dirty().is_empty());
    assert!(alice.is_attached() && !merged.is_attached());
    ctx.log().clear();
    aw!(session.commit())?;
    assert!(ctx.log().is_empty());
    assert_eq!(aw!(ctx.count::<User>(doc! {})), 1);
});

scenario!(duplicate_key_on_third_of_five_inserts, |ctx| {
    aw!(ctx.create_indexes::<User>())?;
    aw!(ctx.insert::<User>(vec![doc! { "name": "existing", "email": "c@example.com" }]));
    let mut session = ctx.session();
    let users = session
        .add_all(["a", "b", "c", "d", "e"].map(|name| user(&format!("new-{name}"), &format!("{name}@example.com"), 1)));
    let result = aw!(session.commit());
    let Err(Error::Flush(failure)) = &result else {
        return Err(format!("expected a flush error, got {result:?}").into());
    };
    assert!(failure.cause().is_duplicate_key());
    let failed = failure.failed().ok_or("which write")?;
    assert_eq!(failed.kind, WriteKind::Insert);
    assert_eq!(Some(&failed.id), users[2].id().map(Bson::ObjectId).as_ref());
    // In a transaction nothing lands; without one the two before the duplicate do.
    let landed = if ctx.transactional() { 0 } else { 2 };
    assert_eq!((failure.written(), failure.staged()), (landed, 5 - landed));
    assert_eq!(aw!(ctx.count::<User>(doc! { "name": { "$regex": "^new-" } })), landed as u64);
    assert!(users.iter().take(landed).all(|user| user.is_persistent()));
    assert!(users.iter().skip(landed).all(|user| !user.is_persistent()));
    assert_eq!(session.new().len(), 5 - landed);
    assert!(session.new().contains(&users[2].as_entity_ref()));

    users[2].write().email = Some("c2@example.com".into());
    ctx.log().clear();
    aw!(session.commit())?;
    let sent = ctx.log().commands("insert");
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].get_array("documents").map(Vec::len).ok(), Some(5 - landed), "exactly the remaining ones");
    assert_eq!(aw!(ctx.count::<User>(doc! { "name": { "$regex": "^new-" } })), 5);
    for name in ["a", "b", "c", "d", "e"] {
        assert_eq!(aw!(ctx.count::<User>(doc! { "name": format!("new-{name}") })), 1, "{name} written once");
    }
    assert!(session.new().is_empty());
});

scenario!(server_error_on_update_keeps_changes_staged, needs = [FailPoints], |ctx| {
    let mut session = ctx.session();
    let users = session.add_all((0..3).map(|i| user(&format!("u{i}"), &format!("u{i}@example.com"), i)));
    aw!(session.commit())?;
    for user in &users {
        user.write().company = Some("Acme".into());
    }
    aw!(ctx.fail_commands(&["update"], Some(2), 1));
    let result = aw!(session.commit());
    let Err(Error::Flush(failure)) = &result else {
        return Err(format!("expected a flush error, got {result:?}").into());
    };
    assert_eq!(failure.cause().server_code(), Some(2));
    assert_eq!((failure.written(), failure.staged()), (0, 3));
    assert_eq!(session.dirty().len(), 3);
    assert_eq!(aw!(ctx.count::<User>(doc! { "company": "Acme" })), 0);

    aw!(session.commit())?;
    assert!(session.dirty().is_empty());
    assert_eq!(aw!(ctx.count::<User>(doc! { "company": "Acme" })), 3);
});

scenario!(server_error_on_bulk_write_loses_nothing, needs = [FailPoints], |ctx| {
    let mut session = ctx.session();
    let alice = session.add(user("Alice", "alice@example.com", 30));
    aw!(session.commit())?;
    alice.write().age = Some(31);
    session.add(post("p"));
    session.add(Comment { id: 7, body: "c".into() });
    aw!(ctx.fail_commands(&["bulkWrite"], Some(2), 1));
    let result = aw!(session.commit());
    assert!(matches!(&result, Err(Error::Flush(f)) if f.written() == 0 && f.staged() == 3), "{result:?}");
    assert_eq!((session.new().len(), session.dirty().len()), (2, 1));
    aw!(session.commit())?;
    assert_eq!(aw!(ctx.count::<User>(doc! { "age": 31 })), 1);
    assert_eq!(aw!(ctx.count::<Post>(doc! {})), 1);
    assert_eq!(aw!(ctx.count::<Comment>(doc! {})), 1);
});

scenario!(dropped_connection_never_writes_twice, needs = [FailPoints], |ctx| {
    let mut session = ctx.session();
    let users = session.add_all((0..3).map(|i| user(&format!("u{i}"), &format!("u{i}@example.com"), i)));
    // Two failures: the driver (replica set) or the session (standalone) retries once. In a
    // transaction the whole transaction is retried, so the commit goes through.
    aw!(ctx.fail_commands(&["insert"], None, 2));
    let result = aw!(session.commit());
    if ctx.transactional() {
        assert!(result.is_ok(), "{result:?}");
    } else {
        let Err(Error::Flush(failure)) = &result else {
            return Err(format!("expected a flush error, got {result:?}").into());
        };
        assert!(matches!(failure.cause(), Error::Connection { .. }), "{:?}", failure.cause());
        assert_eq!(session.new().len(), 3, "nothing lost");

        // Pretend the first insert reached the server before the connection dropped.
        let id = users[0].id().ok_or("ids are assigned at the first attempt")?;
        aw!(ctx.insert::<User>(vec![doc! { "_id": id, "name": "u0", "email": "u0@example.com", "age": 0 }]));
        aw!(session.commit())?;
    }
    assert_eq!(aw!(ctx.count::<User>(doc! {})), 3, "no document written twice");
    assert!(session.new().is_empty());
});

scenario!(fields_the_model_does_not_know_are_kept, |ctx| {
    aw!(ctx.insert::<User>(vec![doc! { "name": "Alice", "age": 30, "legacy": "keep me", "tags": [] }]));
    let mut session = ctx.session();
    let alice = aw!(session.scalars(select::<User>()).one())?;
    alice.write().age = Some(31);
    ctx.log().clear();
    aw!(session.commit())?;
    assert_eq!(update_documents(&ctx.log().commands("update")), [doc! { "$set": { "age": 31 } }]);
    let stored = aw!(ctx.find_one::<User>(doc! {})).ok_or("gone")?;
    assert_eq!(stored.get_str("legacy")?, "keep me");
    assert_eq!(stored.get_i32("age")?, 31);
});

scenario!(rollback_restores_the_value_a_merge_replaced, |ctx| {
    let mut session = ctx.session();
    let alice = session.add(user("Alice", "alice@example.com", 30));
    aw!(session.commit())?;
    session.merge(User { id: alice.id(), ..user("Impostor", "x@example.com", 99) })?;
    assert_eq!(alice.read().name, "Impostor");
    session.rollback();
    assert_eq!(alice.read().name, "Alice");
    assert!(session.dirty().is_empty());
    ctx.log().clear();
    aw!(session.commit())?;
    assert!(ctx.log().is_empty());
});

// Without client bulkWrite, a failure part way through the commands still records exactly
// what landed.
scenario!(partial_failure_without_bulk_write, |ctx| {
    ctx.engine = ctx.engine.with_client_bulk_write(false);
    let mut session = ctx.session();
    session.add(user("Alice", "alice@example.com", 30));
    session.add(Comment { id: 1, body: "first".into() });
    aw!(session.commit())?;

    // A failure part way still records exactly what landed. (Collections are written in the
    // order the session first tracked them: users, then comments.)
    session.add(Comment { id: 2, body: "second".into() });
    let duplicate = session.add(Comment { id: 1, body: "duplicate".into() });
    session.add(Comment { id: 3, body: "third".into() });
    session.add(user("Carol", "carol@example.com", 28));
    ctx.log().clear();
    let result = aw!(session.commit());
    // In a transaction nothing lands; without one Carol and the comment before the duplicate.
    let landed = if ctx.transactional() { 0 } else { 2 };
    assert!(
        matches!(&result, Err(Error::Flush(f)) if f.cause().is_duplicate_key() && f.written() == landed && f.staged() == 4 - landed),
        "{result:?}"
    );
    // Then the transaction is aborted; and the inserts (of the failed command, or the one
    // refused for its own id) are read back to learn which landed: the duplicate is not ours.
    let mut expected = vec!["insert", "insert"];
    if ctx.transactional() {
        expected.push("abortTransaction");
    }
    expected.push("find");
    assert_eq!(ctx.log().names(), expected);
    assert_eq!(aw!(ctx.count::<User>(doc! { "name": "Carol" })), landed as u64 / 2);
    assert_eq!(aw!(ctx.count::<Comment>(doc! {})), 1 + landed as u64 / 2);
    assert_eq!(session.new().len(), 4 - landed, "the duplicate and what it stopped are still staged");
    assert!(session.new().contains(&duplicate.as_entity_ref()));
    session.expunge(&duplicate);
    aw!(session.commit())?;
    assert_eq!(aw!(ctx.count::<Comment>(doc! {})), 3);
});
