//! The seed page, end to end, in async Rust: every section in order, printing what happens.
//!
//! Runs against the project's embedded test server (installed and started on first use), or
//! against the server in `MONGODB_URI` when it is set. Everything is written to a database of
//! its own, dropped at the end.
//!
//! ```text
//! cargo run --example quickstart
//! ```

use futures::TryStreamExt;
use mongotic::Row;
use mongotic::bson::DateTime;
use mongotic::prelude::*;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Embedded)]
struct Address {
    city: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Model)]
#[mongotic(database = "myapp", collection = "users")]
#[mongotic(index(keys(created_at = -1)))]
struct User {
    #[serde(rename = "_id")]
    id: Option<ObjectId>,
    name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[mongotic(unique, sparse)]
    email: Option<String>,
    #[serde(default)]
    age: Option<i32>,
    #[serde(default)]
    company: Option<String>,
    #[serde(default)]
    role: Option<String>,
    #[serde(default)]
    active: Option<bool>,
    #[serde(default)]
    address: Option<Address>,
    #[serde(default)]
    created_at: Option<DateTime>,
}

fn user(name: &str, email: &str, age: i32, company: &str) -> User {
    User {
        id: None,
        name: name.into(),
        email: Some(email.into()),
        age: Some(age),
        company: Some(company.into()),
        role: None,
        active: Some(true),
        address: None,
        created_at: Some(DateTime::now()),
    }
}

fn step(title: &str) {
    println!("\n== {title}");
}

#[tokio::main]
async fn main() -> mongotic::Result<()> {
    let uri = mongotic_test_server::uri();
    let scratch = mongotic_test_server::TestDb::new();

    step("Setup: create_engine, sessionmaker, a session");
    // `with_database` keeps the demo in a database of its own; a real program would use the
    // model's declared database ("myapp").
    let engine = create_engine(&uri).await?.with_database(scratch.name());
    let async_session_local = sessionmaker(&engine);
    let mut session = async_session_local.session();
    println!("connected; models go to database {:?}", scratch.name());

    step("Indexes: create_indexes (idempotent)");
    println!("created {:?}", create_indexes::<User>(&engine).await?);

    step("Writing: add and add_all stage without I/O; commit writes");
    session.add(user("Alice", "alice@example.com", 30, "Acme"));
    session.add_all(vec![user("Bob", "bob@example.com", 25, "Acme"), user("Carol", "carol@example.com", 28, "Acme")]);
    println!("staged: {} new", session.new().len());
    session.commit().await?;
    println!("committed; staged now: {} new", session.new().len());

    step("flush: ids are available right after");
    let dave = session.add(User { company: None, ..user("Dave", "dave@example.com", 17, "") });
    session.flush().await?;
    println!("Dave's id: {:?}", dave.id());
    session.commit().await?; // nothing else staged: no-op

    step("Querying: all, first, one, one_or_none, count, exists");
    let adults = session.scalars(select::<User>().filter(User::age.gte(18))).all().await?;
    println!("adults: {:?}", adults.iter().map(|u| u.read().name.clone()).collect::<Vec<_>>());
    let by_email = || select::<User>().filter(User::email.eq("alice@example.com"));
    let alice = session.scalars(by_email()).first().await?;
    println!("first: {:?}", alice.map(|u| u.read().name.clone()));
    let one = session.scalars(by_email()).one().await?;
    println!("one: {}", one.read().name);
    let nobody = session.scalars(select::<User>().filter(User::email.eq("nobody@example.com"))).one().await;
    println!("one with no match: {}", nobody.is_err_and(|err| err.is_not_found()));
    let maybe = session.scalars(by_email()).one_or_none().await?;
    println!("one_or_none: {:?}", maybe.map(|u| u.read().name.clone()));
    let acme = || select::<User>().filter(User::company.eq("Acme"));
    println!("count Acme: {}", session.scalars(acme()).count().await?);
    println!("exists Acme: {}", session.scalars(acme()).exists().await?);

    step("Async iteration: a stream");
    let mut stream = session.scalars(select::<User>().order_by(User::name).yield_per(2)).stream();
    while let Some(user) = stream.try_next().await? {
        println!("  {} ({:?})", user.read().name, user.read().age);
    }
    drop(stream);

    step("scalar: the first unwrapped value");
    let age = session.scalar(select::<User>().columns(User::age).filter(User::email.eq("alice@example.com"))).await?;
    println!("Alice's age: {age:?}");

    step("Column projection: rows as tuples, or by index and name");
    let stmt = || select::<User>().columns((User::name, User::age)).filter(User::age.gte(18)).order_by(User::name);
    for (name, age) in session.execute(stmt()).await?.all().await? {
        println!("  {name} {age:?}");
    }
    let rows: Vec<Row> = session.execute(stmt()).await?.rows().await?;
    let first = &rows[0];
    println!("row[0] = {:?}, row[\"name\"] = {:?}", first.get::<String>(0)?, first.get::<String>("name")?);
    println!("as a document: {}", first.to_document());
    let names: Vec<String> =
        session.scalars(select::<User>().columns(User::name).filter(User::company.eq("Acme"))).all().await?;
    println!("names at Acme: {names:?}");

    step("Primary key lookup: get");
    let id = dave.id().map(|id| id.to_hex()).unwrap_or_default();
    let found = session.get::<User>(id.as_str()).await?;
    println!("get({id}) -> {:?}", found.map(|u| u.read().name.clone()));
    println!("get(\"oops\") -> {:?}", session.get::<User>("oops").await.err().map(|e| e.to_string()));

    step("Field assignment: tracked automatically");
    let alice = session.scalars(select::<User>().filter(User::name.eq("Alice"))).one().await?;
    alice.write().age = Some(31);
    println!("dirty: {:?}", session.dirty());
    session.commit().await?;
    println!("committed: {{$set: {{age: 31}}}}");

    step("rollback: discards what was not flushed");
    session.add(user("Eve", "eve@example.com", 22, "Initech"));
    alice.write().age = Some(99);
    session.rollback();
    println!("after rollback: {} new, Alice's age back to {:?}", session.new().len(), alice.read().age);

    step("refresh: reloads from the database");
    session.execute(update::<User>().filter(User::name.eq("Alice")).set(User::company, "Globex")).await?;
    session.refresh(&alice).await?;
    println!("Alice's company after refresh: {:?}", alice.read().company);

    step("merge: upsert by id");
    let fixed: ObjectId = "507f1f77bcf86cd799439011".parse().unwrap_or_default();
    session.merge(User { id: Some(fixed), email: None, ..user("Mallory", "", 40, "Acme") })?;
    session.commit().await?;
    println!("merged: {:?}", session.get::<User>(fixed).await?.map(|u| u.read().name.clone()));

    step("Bulk DML: insert, update, delete statements");
    let r = session
        .execute(insert::<User>().values(vec![
            User { active: Some(false), ..user("Frank", "frank@example.com", 50, "Acme") },
            User { role: Some("guest".into()), ..user("Grace", "grace@example.com", 33, "Acme") },
        ]))
        .await?;
    println!("inserted {} -> {:?}", r.rowcount, r.inserted_ids); // Vec<ObjectId>
    let one = session.execute(insert::<User>().value(user("Judy", "judy@example.com", 41, "Acme"))).await?;
    println!("inserted one: {}", one.inserted_ids[0]);
    println!("bulk insert is not staged: {} new", session.new().len());
    let r = session.execute(update::<User>().filter(User::role.eq("guest")).set(User::role, "member")).await?;
    println!("updated {}", r.rowcount);
    let r = session.execute(delete::<User>().filter(User::active.eq(false))).await?;
    println!("deleted {}", r.rowcount);

    step("expunge: detach; this session forgets the pending change, one that gets the handle back writes it");
    let bob = session.scalars(select::<User>().filter(User::name.eq("Bob"))).one().await?;
    bob.write().age = Some(99);
    session.expunge(&bob);
    println!("dirty after expunge: {:?}; attached: {}", session.dirty(), bob.is_attached());

    step("expire: mark stale, no lazy reload");
    let carol = session.scalars(select::<User>().filter(User::name.eq("Carol"))).one().await?;
    session.expire(&carol);
    println!("expired: {}; age still {:?}", carol.is_expired(), carol.read().age);
    session.refresh(&carol).await?;
    println!("after refresh: expired {}", carol.is_expired());

    step("State inspection: new, dirty, deleted");
    let heidi = session.add(user("Heidi", "heidi@example.com", 29, "Acme"));
    println!("new: {:?} (is Heidi: {})", session.new(), session.new() == [&heidi]);
    session.commit().await?;
    heidi.write().age = Some(30);
    println!("dirty: {:?}", session.dirty());
    session.delete(&heidi)?;
    println!("deleted: {:?}", session.deleted());
    session.commit().await?;

    step("Session lifecycle: dropping a session discards what was not flushed");
    {
        let mut scoped = async_session_local.session();
        scoped.add(user("Ivan", "ivan@example.com", 44, "Acme"));
    }
    let ivan = session.scalars(select::<User>().filter(User::name.eq("Ivan"))).first().await?;
    println!("Ivan stored: {}", ivan.is_some());

    println!("\ndone: {} users stored", session.scalars(select::<User>()).count().await?);
    Ok(())
}
