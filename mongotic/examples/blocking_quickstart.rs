//! The seed walkthrough with the blocking API: a plain `fn main`, no async runtime, no `.await`.
//!
//! Runs against the project's embedded test server, or `MONGODB_URI` when it is set.
//!
//! ```text
//! cargo run --example blocking_quickstart
//! ```

use mongotic::Row;
use mongotic::blocking::{create_engine, create_indexes, sessionmaker};
use mongotic::prelude::*;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Model)]
#[mongotic(database = "myapp", collection = "users")]
struct User {
    #[serde(rename = "_id")]
    id: Option<ObjectId>,
    name: String,
    #[mongotic(unique)]
    email: String,
    age: Option<i32>,
    company: Option<String>,
    role: Option<String>,
    active: bool,
}

fn user(name: &str, age: i32) -> User {
    User {
        id: None,
        name: name.into(),
        email: format!("{}@example.com", name.to_lowercase()),
        age: Some(age),
        company: Some("Acme".into()),
        role: Some("guest".into()),
        active: true,
    }
}

fn main() -> mongotic::Result<()> {
    let uri = mongotic_test_server::uri();
    let scratch = mongotic_test_server::TestDb::new();

    // Setup and indexes.
    let engine = create_engine(&uri)?.with_database(scratch.name());
    create_indexes::<User>(&engine)?;
    let session_local = sessionmaker(&engine);
    let mut session = session_local.session();

    // Stage and commit.
    session.add(user("Alice", 30));
    session.add_all(vec![user("Bob", 25), user("Carol", 28)]);
    session.commit()?;
    let dave = session.add(user("Dave", 17));
    session.flush()?;
    println!("Dave's id after flush: {:?}", dave.id());

    // Queries.
    let adults = session.scalars(select::<User>().filter(User::age.gte(18))).all()?;
    println!("{} adults", adults.len());
    let alice = session.scalars(select::<User>().filter(User::email.eq("alice@example.com"))).one()?;
    let missing = session.scalars(select::<User>().filter(User::email.eq("nobody@example.com"))).one();
    println!("one: {}; no match is NotFound: {}", alice.read().name, missing.is_err_and(|err| err.is_not_found()));
    println!("count at Acme: {}", session.scalars(select::<User>().filter(User::company.eq("Acme"))).count()?);
    for user in session.scalars(select::<User>().order_by(User::name)) {
        println!("  {}", user?.read().name);
    }
    let age = session.scalar(select::<User>().columns(User::age).filter(User::name.eq("Alice")))?;
    println!("scalar: {age:?}");
    let rows: Vec<Row> = session.execute(select::<User>().columns((User::name, User::age)))?.rows()?;
    println!("first row: {:?} / {:?}", rows[0].get::<String>("name")?, rows[0].get::<Option<i32>>(1)?);
    for (column, value) in &rows[0] {
        println!("  {column} = {value}");
    }
    let found = session.get::<User>(dave.id().unwrap_or_default())?;
    println!("get: {:?}", found.map(|u| u.read().name.clone()));

    // Change tracking, refresh, rollback, merge.
    alice.write().age = Some(31);
    session.commit()?;
    alice.write().age = Some(99);
    session.rollback();
    session.refresh(&alice)?;
    println!("Alice is {:?} after rollback and refresh", alice.read().age);
    session.merge(User { id: alice.id(), ..user("Alice", 32) })?;
    session.commit()?;

    // Bulk DML.
    let r = session.execute(insert::<User>().value(user("Erin", 27)))?;
    println!("inserted {:?}", r.inserted_ids); // Vec<ObjectId>
    let r = session.execute(update::<User>().filter(User::role.eq("guest")).set(User::role, "member"))?;
    println!("{} promoted", r.rowcount);
    let r = session.execute(delete::<User>().filter(User::age.lt(18)))?;
    println!("{} removed", r.rowcount);

    // Expunge, expire, state inspection.
    let bob = session.scalars(select::<User>().filter(User::name.eq("Bob"))).one()?;
    bob.write().age = Some(50);
    session.expunge(&bob); // this session will not write age 50; one that gets `bob` back will
    session.expire(&alice);
    println!("dirty: {:?}, Alice expired: {}", session.dirty(), alice.is_expired());
    session.delete(&alice)?;
    println!("deleted Alice: {}", session.deleted() == [&alice]);
    session.commit()?;
    println!("{} users left", session.scalars(select::<User>()).count()?);
    Ok(())
}
