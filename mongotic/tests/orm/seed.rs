//! The seed page (`async-api`), snippet by snippet. Each scenario is named after the seed
//! section it covers, asserts what the seed says happens, and runs in both the async and the
//! blocking API (see `scenario!`).

use mongotic::bson::{doc, oid::ObjectId};
use mongotic::prelude::*;
use mongotic::{Error, Row, Tracked};

use crate::common::*;

fn names(users: &[Tracked<User>]) -> Vec<String> {
    let mut names: Vec<String> = users.iter().map(|u| u.read().name.clone()).collect();
    names.sort();
    names
}

fn seed_users() -> Vec<User> {
    vec![
        user("Alice", "alice@example.com", 30).at("Acme"),
        user("Bob", "bob@example.com", 17).at("Acme"),
        user("Carol", "carol@example.com", 28).at("Acme"),
        user("Dan", "dan@example.com", 45).at("Globex"),
    ]
}

// Section "Querying — session.scalars(stmt)": all, first, one, one_or_none, count, exists.
scenario!(querying_scalars, |ctx| {
    let mut session = ctx.session();
    session.add_all(seed_users());
    aw!(session.commit())?;

    // All matching documents
    let users = aw!(session.scalars(select::<User>().filter(User::age.gte(18))).all())?;
    assert_eq!(names(&users), ["Alice", "Carol", "Dan"]);

    // First match or None
    let by_email = |email: &str| select::<User>().filter(User::email.eq(email));
    let alice = aw!(session.scalars(by_email("alice@example.com")).first())?;
    assert_eq!(alice.map(|u| u.read().name.clone()).as_deref(), Some("Alice"));
    assert!(aw!(session.scalars(by_email("nobody@example.com")).first())?.is_none());

    // Exactly one result — NotFound or MultipleResultsFound
    let one = aw!(session.scalars(by_email("alice@example.com")).one())?;
    assert_eq!(one.read().name, "Alice");
    let missing = aw!(session.scalars(by_email("nobody@example.com")).one());
    assert!(matches!(missing, Err(Error::NotFound { .. })), "{missing:?}");
    let acme = || select::<User>().filter(User::company.eq("Acme"));
    let several = aw!(session.scalars(acme()).one());
    assert!(matches!(several, Err(Error::MultipleResultsFound { .. })), "{several:?}");

    // One or None — MultipleResultsFound on 2+
    assert!(aw!(session.scalars(by_email("alice@example.com")).one_or_none())?.is_some());
    assert!(aw!(session.scalars(by_email("nobody@example.com")).one_or_none())?.is_none());
    let several = aw!(session.scalars(acme()).one_or_none());
    assert!(matches!(several, Err(Error::MultipleResultsFound { .. })), "{several:?}");

    // Count and existence
    assert_eq!(aw!(session.scalars(acme()).count())?, 3);
    assert!(aw!(session.scalars(acme()).exists())?);
    assert!(!aw!(session.scalars(select::<User>().filter(User::company.eq("Initech"))).exists())?);
});

// Section "session.scalar(stmt) shortcut": the first unwrapped value, or None.
scenario!(scalar_shortcut, |ctx| {
    let mut session = ctx.session();
    session.add_all(seed_users());
    aw!(session.commit())?;

    let age = aw!(session.scalar(select::<User>().columns(User::age).filter(User::email.eq("alice@example.com"))))?;
    assert_eq!(age, Some(Some(30)));
    let none = aw!(session.scalar(select::<User>().columns(User::age).filter(User::email.eq("nobody@example.com"))))?;
    assert_eq!(none, None);
});

// Section "Column projection — session.execute(select(Model.col, ...))": rows by position and
// by name; a single-column select through scalars gives plain values.
scenario!(column_projection, |ctx| {
    let mut session = ctx.session();
    session.add_all(seed_users());
    aw!(session.commit())?;
    ctx.log().clear();

    let stmt = || select::<User>().columns((User::name, User::age)).filter(User::age.gte(18)).order_by(User::name);
    let rows: Vec<(String, Option<i32>)> = aw!(aw!(session.execute(stmt()))?.all())?;
    assert_eq!(rows, [("Alice".to_string(), Some(30)), ("Carol".to_string(), Some(28)), ("Dan".to_string(), Some(45))]);
    let find = ctx.log().commands("find").remove(0);
    assert_eq!(find.get_document("projection")?, &doc! { "name": 1, "age": 1, "_id": 0 });

    let rows: Vec<Row> = aw!(aw!(session.execute(stmt()))?.rows())?;
    for row in &rows {
        let name: String = row.get("name")?;
        let by_index: String = row.get(0)?;
        let age: Option<i32> = row.get("age")?;
        assert_eq!(name, by_index);
        assert!(age.unwrap_or_default() >= 18);
    }
    assert_eq!(rows[0].get::<String>("name")?, "Alice");
    assert!(rows[0].get::<String>("email").is_err(), "not a selected column");

    // For a single-column projection, session.scalars() unwraps each row to a plain value.
    let names: Vec<String> = aw!(session
        .scalars(select::<User>().columns(User::name).filter(User::company.eq("Acme")).order_by(User::name))
        .all())?;
    assert_eq!(names, ["Alice", "Bob", "Carol"]);
});

// Section "Primary key lookup": get by id string returns the entity, or None.
scenario!(primary_key_lookup, |ctx| {
    let mut session = ctx.session();
    let alice = session.add(user("Alice", "alice@example.com", 30));
    aw!(session.commit())?;
    let id = alice.id().ok_or("no id after commit")?.to_hex();

    let mut other = ctx.session();
    let found = aw!(other.get::<User>(id.as_str()))?.ok_or("not found")?;
    assert_eq!(found.read().name, "Alice");
    assert!(aw!(other.get::<User>("507f1f77bcf86cd799439011"))?.is_none());
    let malformed = aw!(other.get::<User>("not-an-object-id"));
    assert!(matches!(malformed, Err(Error::MalformedId { .. })), "{malformed:?}");
});

// Section "session.add() and session.add_all()": staging needs no await; commit writes.
scenario!(add_and_add_all, |ctx| {
    let mut session = ctx.session();
    session.add(User { id: None, ..user("Alice", "alice@example.com", 30) });
    session.add_all(vec![user("Bob", "bob@example.com", 25), user("Carol", "carol@example.com", 28)]);
    assert_eq!(aw!(ctx.count::<User>(doc! {})), 0, "staging does no I/O");
    aw!(session.commit())?;
    assert_eq!(aw!(ctx.count::<User>(doc! {})), 3);
    assert_eq!(aw!(ctx.count::<User>(doc! { "name": "Bob", "age": 25 })), 1);
});

// Section "session.commit() and session.flush()": ids are available after flush; commit with
// nothing staged is a no-op.
scenario!(commit_and_flush, |ctx| {
    let mut session = ctx.session();
    let dave = session.add(User { email: None, ..user("Dave", "", 0) });
    assert_eq!(dave.id(), None);
    aw!(session.flush())?;
    let id = dave.id().ok_or("no id after flush")?;
    assert_eq!(aw!(ctx.count::<User>(doc! { "_id": id, "name": "Dave" })), 1);

    ctx.log().clear();
    aw!(session.commit())?;
    assert!(ctx.log().is_empty(), "commit with nothing staged sent {:?}", ctx.log().names());
});

// Section "session.rollback()": discards staged changes that were not flushed.
scenario!(rollback_discards_unflushed, |ctx| {
    let mut session = ctx.session();
    let alice = session.add(user("Alice", "alice@example.com", 30));
    aw!(session.commit())?;

    let eve = session.add(user("Eve", "eve@example.com", 22));
    alice.write().age = Some(99);
    session.delete(&alice)?;
    ctx.log().clear();
    session.rollback();
    assert!(ctx.log().is_empty(), "rollback does no I/O");
    assert!(session.new().is_empty() && session.dirty().is_empty() && session.deleted().is_empty());
    assert!(!eve.is_attached());
    assert_eq!(alice.read().age, Some(30), "the change is undone");

    aw!(session.commit())?;
    assert_eq!(aw!(ctx.count::<User>(doc! {})), 1);
    assert_eq!(aw!(ctx.count::<User>(doc! { "name": "Alice", "age": 30 })), 1);
});

// Section "session.refresh(instance)": reloads all fields from the database in place.
scenario!(refresh_reloads, |ctx| {
    let mut session = ctx.session();
    session.add(user("Alice", "alice@example.com", 30));
    aw!(session.commit())?;

    let mut session = ctx.session();
    let alice = aw!(session.scalars(select::<User>().filter(User::name.eq("Alice"))).one())?;
    // ... external process modifies the document ...
    aw!(ctx.update::<User>(doc! { "name": "Alice" }, doc! { "$set": { "age": 41, "company": "Initech" } }));
    assert_eq!(alice.read().age, Some(30));
    aw!(session.refresh(&alice))?;
    assert_eq!(alice.read().age, Some(41));
    assert_eq!(alice.read().company.as_deref(), Some("Initech"));
    assert!(session.dirty().is_empty());
});

// Section "session.merge(instance)": an upsert — replaces the document when _id is set,
// inserts otherwise.
scenario!(merge_upserts, |ctx| {
    let id: ObjectId = "507f1f77bcf86cd799439011".parse()?;
    let mut session = ctx.session();
    session.merge(User { id: Some(id), email: None, ..user("Alice", "", 30) })?;
    aw!(session.commit())?;
    let stored = aw!(ctx.find_one::<User>(doc! { "_id": id })).ok_or("not upserted")?;
    assert_eq!(stored.get_str("name")?, "Alice");

    let mut session = ctx.session();
    session.merge(User { id: Some(id), email: None, company: Some("Acme".into()), ..user("Alice", "", 31) })?;
    aw!(session.commit())?;
    assert_eq!(aw!(ctx.count::<User>(doc! {})), 1, "replaced, not duplicated");
    let stored = aw!(ctx.find_one::<User>(doc! { "_id": id })).ok_or("gone")?;
    assert_eq!(stored.get_i32("age")?, 31);
    assert_eq!(stored.get_str("company")?, "Acme");

    let fresh = session.merge(User { email: None, ..user("Bob", "", 25) })?;
    aw!(session.commit())?;
    assert!(fresh.id().is_some());
    assert_eq!(aw!(ctx.count::<User>(doc! {})), 2, "no id: inserted");
});

// Section "Field assignment (auto-tracking)": a change on an attached instance is written as
// $set on commit, with nothing else called.
scenario!(field_assignment_is_tracked, |ctx| {
    let mut session = ctx.session();
    session.add(user("Alice", "alice@example.com", 30).at("Acme"));
    aw!(session.commit())?;

    let mut session = ctx.session();
    let user = aw!(session.scalars(select::<User>().filter(User::name.eq("Alice"))).one())?;
    user.write().age = Some(31);
    assert_eq!(session.dirty().len(), 1);
    ctx.log().clear();
    aw!(session.commit())?;
    let updates = ctx.log().commands("update");
    assert_eq!(updates.len(), 1, "{:?}", ctx.log().names());
    let statement = updates[0].get_array("updates")?[0].as_document().ok_or("statement")?.clone();
    assert_eq!(statement.get_document("u")?, &doc! { "$set": { "age": 31 } });
    assert_eq!(aw!(ctx.count::<User>(doc! { "name": "Alice", "age": 31, "company": "Acme" })), 1);
});

// Section "Bulk DML": insert/update/delete statements return rowcount and inserted_ids, and
// bulk-inserted documents are not in session.new, .dirty or .deleted.
scenario!(bulk_dml, |ctx| {
    let mut session = ctx.session();
    let result = aw!(session.execute(
        insert::<User>().values(vec![user("Alice", "alice@example.com", 30), user("Bob", "bob@example.com", 25)])
    ))?;
    assert_eq!(result.rowcount, 2);
    assert_eq!(result.inserted_ids.len(), 2);
    for id in &result.inserted_ids {
        assert_eq!(aw!(ctx.count::<User>(doc! { "_id": id })), 1);
    }
    assert!(session.new().is_empty() && session.dirty().is_empty() && session.deleted().is_empty());
    assert!(session.is_empty(), "bulk insert does not touch the identity map");

    aw!(ctx.update::<User>(doc! {}, doc! { "$set": { "role": "guest", "active": true } }));
    aw!(ctx.update::<User>(doc! { "name": "Bob" }, doc! { "$set": { "active": false } }));

    let result = aw!(session.execute(update::<User>().filter(User::role.eq("guest")).set(User::role, "member")))?;
    assert_eq!(result.rowcount, 2, "number of modified documents");
    assert_eq!(aw!(ctx.count::<User>(doc! { "role": "member" })), 2);

    let result = aw!(session.execute(delete::<User>().filter(User::active.eq(false))))?;
    assert_eq!(result.rowcount, 1, "number of deleted documents");
    assert_eq!(aw!(ctx.count::<User>(doc! {})), 1);
    assert_eq!(aw!(ctx.count::<User>(doc! { "name": "Bob" })), 0);
});

// Section "session.expunge(instance)": detaches and discards pending updates (this session does
// not write them); the instance can be modified and re-added to a new session afterwards, and
// that session writes what its value holds: memory and store do not drift apart silently.
scenario!(expunge_detaches, |ctx| {
    let mut session = ctx.session();
    session.add(user("Alice", "alice@example.com", 30));
    aw!(session.commit())?;

    let mut session = ctx.session();
    let user = aw!(session.scalars(select::<User>().filter(User::name.eq("Alice"))).one())?;
    user.write().age = Some(99);
    session.expunge(&user);
    assert!(session.dirty().is_empty());
    assert!(!user.is_attached());
    session.expunge(&user); // idempotent
    aw!(session.commit())?;
    assert_eq!(aw!(ctx.count::<User>(doc! { "age": 30 })), 1, "the pending update was discarded");

    let mut other = ctx.session();
    other.add(&user);
    assert!(user.is_attached());
    assert!(other.new().is_empty(), "a persisted entity is re-added as persistent");
    user.write().company = Some("Acme".into());
    aw!(other.commit())?;
    assert_eq!(aw!(ctx.count::<User>(doc! {})), 1);
    let stored = aw!(ctx.find_one::<User>(doc! {})).ok_or("gone")?;
    assert_eq!(stored.get_str("company")?, "Acme");
    assert_eq!(stored.get_i32("age")?, 99, "the handle's value is what is stored");
    assert!(other.dirty().is_empty());
});

// Section "session.expire(instance)": marks stale, clears pending updates, keeps values, no
// reload until refresh.
scenario!(expire_marks_stale, |ctx| {
    let mut session = ctx.session();
    let user = session.add(user("Alice", "alice@example.com", 30));
    aw!(session.commit())?;

    user.write().age = Some(77);
    ctx.log().clear();
    session.expire(&user);
    assert!(user.is_expired());
    assert_eq!(user.read().age, Some(77), "values still reflect the in-memory state");
    assert!(session.dirty().is_empty(), "pending updates are cleared");
    assert!(ctx.log().is_empty(), "no lazy reload");
    aw!(session.commit())?;
    assert_eq!(aw!(ctx.count::<User>(doc! { "age": 30 })), 1);

    aw!(session.refresh(&user))?;
    assert!(!user.is_expired());
    assert_eq!(user.read().age, Some(30));
});

// Section "State inspection": session.new, .dirty, .deleted.
scenario!(state_inspection, |ctx| {
    let mut session = ctx.session();
    let user = session.add(user("Alice", "alice@example.com", 30));
    assert_eq!(session.new(), [user.clone()].map(|u| u.as_entity_ref()));
    assert_eq!(format!("{:?}", session.new()), format!("[{:?}]", user.read()));
    aw!(session.commit())?;
    assert!(session.new().is_empty());

    user.write().age = Some(99);
    assert!(session.dirty()[0] == user);
    session.delete(&user)?;
    assert!(session.deleted()[0] == user);
    aw!(session.commit())?;
    assert!(session.new().is_empty() && session.dirty().is_empty() && session.deleted().is_empty());
    assert_eq!(aw!(ctx.count::<User>(doc! {})), 0);
    assert!(!user.is_attached());
});

// Section "Indexes": create_indexes for one model and several at once; idempotent.
scenario!(indexes, |ctx| {
    let created = aw!(ctx.create_indexes::<User>())?;
    assert_eq!(created, ["email_1", "created_at_-1"]);
    assert_eq!(aw!(ctx.index_names::<User>()), ["_id_", "created_at_-1", "email_1"]);
    aw!(ctx.create_indexes::<User>())?;
    aw!(ctx.create_indexes::<(User, Post, Comment)>())?;
    assert_eq!(aw!(ctx.index_names::<Post>()), ["_id_", "title_1"]);

    let mut session = ctx.session();
    session.add(user("Alice", "alice@example.com", 30));
    session.add(user("Alias", "alice@example.com", 31));
    let duplicate = aw!(session.commit());
    assert!(duplicate.as_ref().is_err_and(Error::is_duplicate_key), "{duplicate:?}");
});

// Section "Session lifecycle — async context manager": changes committed in the block are
// kept; un-flushed changes are discarded when the session ends.
scenario!(session_lifecycle, |ctx| {
    {
        let mut session = ctx.session();
        session.add(user("Alice", "alice@example.com", 30));
        aw!(session.commit())?;
    }
    let dropped = {
        let mut session = ctx.session();
        session.add(user("Ghost", "ghost@example.com", 1))
    };
    assert!(!dropped.is_attached());
    let closed = {
        let mut session = ctx.session();
        let handle = session.add(user("Ghost2", "ghost2@example.com", 2));
        session.close();
        handle
    };
    assert!(!closed.is_attached());
    assert_eq!(aw!(ctx.count::<User>(doc! {})), 1);
    assert_eq!(aw!(ctx.count::<User>(doc! { "name": "Alice" })), 1);
});

// Section "Overview — Setup": create_async_engine, async_sessionmaker, open a session.
test!(async setup_async, needs = [ReplicaSet]);
async fn setup_async() -> TestResult {
    let uri = mongotic_test_server::uri();
    let async_engine = create_engine(&uri).await?;
    let async_session_local = sessionmaker(&async_engine);
    let mut session = async_session_local.session();
    let db = mongotic_test_server::TestDb::new();
    let mut session_in_db = sessionmaker(&async_engine.with_database(db.name())).session();
    assert_eq!(session_in_db.scalars(select::<User>()).count().await?, 0);
    session.commit().await?;
    Ok(())
}

// The same setup, blocking (cheat sheet row "Open session": `Session()`).
test!(setup_blocking, needs = [ReplicaSet]);
fn setup_blocking() -> TestResult {
    let uri = mongotic_test_server::uri();
    let engine = mongotic::blocking::create_engine(&uri)?;
    let factory = mongotic::blocking::sessionmaker(&engine);
    let db = mongotic_test_server::TestDb::new();
    let mut session = mongotic::blocking::sessionmaker(&engine.with_database(db.name())).session();
    assert_eq!(session.scalars(select::<User>()).count()?, 0);
    factory.session().commit()?;
    Ok(())
}

// Section "Async iteration": `async for obj in s.scalars(stmt)`, fetched batch by batch.
test!(async async_iteration, needs = [ReplicaSet]);
async fn async_iteration() -> TestResult {
    use futures::TryStreamExt;
    let ctx = AsyncCtx::new().await;
    let mut session = ctx.session();
    session.add_all(seed_users());
    session.commit().await?;
    ctx.log().clear();

    let mut stream = session.scalars(select::<User>().order_by(User::name).yield_per(2)).stream();
    let mut seen = Vec::new();
    while let Some(user) = stream.try_next().await? {
        seen.push(user.read().name.clone());
    }
    drop(stream);
    assert_eq!(seen, ["Alice", "Bob", "Carol", "Dan"]);
    assert_eq!(ctx.log().count("find"), 1);
    assert!(ctx.log().count("getMore") >= 1, "yield_per(2) fetches in batches: {:?}", ctx.log().names());
    Ok(())
}

// The blocking counterpart of async iteration: a plain `for` loop.
test!(blocking_iteration, needs = [ReplicaSet]);
fn blocking_iteration() -> TestResult {
    let ctx = BlockingCtx::new();
    let mut session = ctx.session();
    session.add_all(seed_users());
    session.commit()?;
    let mut seen = Vec::new();
    for user in session.scalars(select::<User>().order_by(-User::name).yield_per(3)) {
        seen.push(user?.read().name.clone());
    }
    assert_eq!(seen, ["Dan", "Carol", "Bob", "Alice"]);
    Ok(())
}
