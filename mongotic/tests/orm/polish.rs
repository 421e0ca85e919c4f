//! What porting a peer's test suite ran into: each wrong result, and the new form of each
//! rough edge, against the server.

use mongotic::bson::{Document, doc};
use mongotic::prelude::*;
use mongotic::{Error, Row};

use crate::common::*;

scenario!(limit_zero_selects_nothing_and_sends_nothing, |ctx| {
    let mut session = ctx.session();
    session.add_all([user("A", "a@x.io", 1), user("B", "b@x.io", 2)]);
    aw!(session.commit())?;
    ctx.log().clear();
    assert!(aw!(session.scalars(select::<User>().limit(0)).all())?.is_empty());
    assert_eq!(aw!(session.scalars(select::<User>().limit(0)).count())?, 0);
    assert!(!aw!(session.scalars(select::<User>().limit(0)).exists())?);
    assert!(aw!(session.scalars(select::<User>().limit(0)).first())?.is_none());
    let names: Vec<String> = aw!(aw!(session.execute(select::<User>().columns(User::name).limit(0)))?.all())?;
    assert!(names.is_empty());
    assert!(ctx.log().is_empty(), "no I/O: {:?}", ctx.log().names());
    assert_eq!(aw!(session.scalars(select::<User>().limit(1)).all())?.len(), 1, "limit(1) still limits");
});

// The rule: a delete is a pending change like any other; until the flush, `get` and queries
// both return the entity (and `deleted()` lists it); after it, neither does.
scenario!(get_and_queries_agree_on_a_staged_delete, |ctx| {
    let mut session = ctx.session();
    let alice = session.add(user("Alice", "alice@x.io", 30));
    aw!(session.commit())?;
    session.delete(&alice)?;
    let id = alice.id().ok_or("id")?;
    let got = aw!(session.get::<User>(id))?.ok_or("get returns the staged delete")?;
    assert!(got.ptr_eq(&alice));
    let found = aw!(session.scalars(select::<User>().filter(User::name.eq("Alice"))).all())?;
    assert!(found.len() == 1 && found[0].ptr_eq(&alice));
    assert_eq!(session.deleted(), [&alice]);
    aw!(session.commit())?;
    assert!(aw!(session.get::<User>(id))?.is_none());
    assert!(aw!(session.scalars(select::<User>()).all())?.is_empty());
});

scenario!(errors_answer_the_common_questions_whatever_raised_them, |ctx| {
    aw!(ctx.create_indexes::<User>())?;
    let mut session = ctx.session();
    session.add(user("Alice", "same@x.io", 30));
    aw!(session.commit())?;
    session.add(user("Bob", "same@x.io", 25));
    let err = aw!(session.commit()).expect_err("a duplicate email");
    assert!(matches!(err, Error::Flush(_)), "a flush error: {err}");
    assert!(matches!(err.cause(), Error::DuplicateKey { .. }), "{err}");
    assert!(err.is_duplicate_key() && !err.is_not_found() && !err.is_conflict() && !err.is_validation());
    session.rollback();

    let err = aw!(session.scalars(select::<User>().filter(User::name.eq("nobody"))).one()).expect_err("no such user");
    assert!(err.is_not_found() && matches!(err.cause(), Error::NotFound { .. }), "{err}");
    let err =
        aw!(session.execute(insert::<User>().values([user("Carol", "same@x.io", 1)]))).expect_err("a duplicate email");
    assert!(matches!(err.cause(), Error::DuplicateKey { .. }), "{err}");
});

scenario!(rows_iterate_convert_and_read_one_at_a_time, |ctx| {
    let mut session = ctx.session();
    session.add_all([user("Ann", "ann@x.io", 30), user("Bob", "bob@x.io", 40)]);
    aw!(session.commit())?;
    let stmt = || select::<User>().columns((User::name, User::age)).order_by(User::age);
    let mut result = aw!(session.execute(stmt()))?;
    let row: Row = aw!(result.next_row())?.ok_or("a first row")?;
    assert_eq!(row.value("name"), Some(&"Ann".into()));
    assert_eq!(row.value(1), Some(&30.into()));
    let pairs: Vec<(&str, String)> = row.iter().map(|(column, value)| (column, value.to_string())).collect();
    assert_eq!(pairs, [("name", "\"Ann\"".to_owned()), ("age", "30".to_owned())]);
    let document: Document = row.into();
    assert_eq!(document, doc! { "name": "Ann", "age": 30 });

    let first: Option<(String, Option<i32>)> = aw!(aw!(session.execute(stmt()))?.first())?;
    assert_eq!(first, Some(("Ann".to_owned(), Some(30))));
});

scenario!(inserted_ids_have_the_model_id_type, |ctx| {
    let mut session = ctx.session();
    let result = aw!(session.execute(insert::<User>().value(user("Ann", "ann@x.io", 30))))?;
    let ids: Vec<ObjectId> = result.inserted_ids;
    assert_eq!(ids.len(), 1);
    let ann = aw!(session.get::<User>(ids[0]))?.ok_or("inserted")?;
    assert_eq!(ann.read().name, "Ann");
    let result = aw!(session.execute(insert::<Comment>().value(Comment { id: 7, body: "hi".into() })))?;
    assert_eq!(result.inserted_ids, [7_i64]);
});

scenario!(session_lists_compare_with_handles_from_the_prelude, |ctx| {
    let mut session = ctx.session();
    assert_eq!(session.new(), Vec::<EntityRef>::new());
    let ann = session.add(user("Ann", "ann@x.io", 30));
    assert_eq!(session.new(), [&ann]);
    aw!(session.commit())?;
    ann.write().age = Some(31);
    assert_eq!(session.dirty(), [&ann]);
    assert!(session.new().is_empty() && session.deleted().is_empty());
});

/// The id declared with one attribute, plain serde.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Model)]
#[mongotic(database = "myapp", collection = "notes")]
pub struct Note {
    #[serde(rename = "_id")]
    pub id: Option<ObjectId>,
    pub text: String,
}

scenario!(an_id_declared_with_one_attribute_is_generated_before_it_is_written, |ctx| {
    let mut session = ctx.session();
    let note = session.add(Note { id: None, text: "one".into() });
    aw!(session.commit())?;
    let id = note.id().ok_or("generated at flush")?;
    aw!(session.execute(insert::<Note>().value(Note { id: None, text: "two".into() })))?;
    session.merge(Note { id: None, text: "three".into() })?;
    aw!(session.commit())?;
    let stored = aw!(ctx.find_all::<Note>());
    assert_eq!(stored.len(), 3);
    assert!(stored.iter().all(|doc| doc.get_object_id("_id").is_ok()), "never a null _id: {stored:?}");
    let mut other = ctx.session();
    assert_eq!(aw!(other.get::<Note>(id))?.ok_or("found")?.read().text, "one");
});

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Embedded)]
pub struct Stop {
    pub city: String,
    #[serde(default)]
    pub nights: Option<i32>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Model)]
#[mongotic(database = "myapp", collection = "trips")]
pub struct Trip {
    #[serde(rename = "_id")]
    pub id: i64,
    pub name: String,
    pub stops: Vec<Stop>,
}

// A path through an array of embedded documents has the `Many` shape: its column is the
// values of every element (what the server's projection keeps), as a `Vec`; filtering on it
// matches any element.
scenario!(a_column_through_an_array_gives_every_element_value, |ctx| {
    let stop = |city: &str, nights| Stop { city: city.into(), nights };
    let mut session = ctx.session();
    session.add_all([
        Trip { id: 1, name: "north".into(), stops: vec![stop("Oslo", Some(2)), stop("Bergen", None)] },
        Trip { id: 2, name: "none".into(), stops: Vec::new() },
    ]);
    aw!(session.commit())?;
    let cities = || Trip::stops.dot(Stop::city);
    let by_trip: Vec<(String, Vec<String>)> =
        aw!(aw!(session.execute(select::<Trip>().columns((Trip::name, cities())).order_by(Trip::id)))?.all())?;
    assert_eq!(
        by_trip,
        [("north".to_owned(), vec!["Oslo".to_owned(), "Bergen".to_owned()]), ("none".to_owned(), vec![])]
    );
    let nights: Vec<Vec<i32>> =
        aw!(session.scalars(select::<Trip>().columns(Trip::stops.dot(Stop::nights)).order_by(Trip::id)).all())?
            .into_iter()
            .map(|values: Vec<Option<i32>>| values.into_iter().flatten().collect())
            .collect();
    assert_eq!(nights, [vec![2], vec![]]);
    let via_bergen = aw!(session.scalars(select::<Trip>().filter(cities().eq("Bergen"))).all())?;
    assert_eq!(via_bergen.len(), 1);
    let rows = aw!(aw!(session.execute(select::<Trip>().columns(cities()).filter(Trip::id.eq(1))))?.rows())?;
    assert_eq!(rows[0].value(0), Some(&mongotic::bson::bson!(["Oslo", "Bergen"])));
});

/// A base shared by several models, flattened into their documents.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Embedded)]
pub struct Person {
    pub name: String,
    pub email: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Model)]
#[mongotic(database = "myapp", collection = "admins")]
pub struct Admin {
    #[serde(rename = "_id")]
    pub id: i64,
    #[serde(flatten)]
    pub person: Person,
    pub role: String,
}

scenario!(fields_of_a_flattened_base_can_be_queried, |ctx| {
    let mut session = ctx.session();
    let admin = |id, name: &str, role: &str| Admin {
        id,
        person: Person { name: name.into(), email: format!("{name}@x.io") },
        role: role.into(),
    };
    session.add_all([admin(1, "ann", "owner"), admin(2, "bob", "editor")]);
    aw!(session.commit())?;
    assert_eq!(
        aw!(ctx.find_one::<Admin>(doc! { "_id": 1 })),
        Some(doc! { "_id": 1_i64, "name": "ann", "email": "ann@x.io", "role": "owner" })
    );
    let found = aw!(session.scalars(select::<Admin>().filter(Admin::name.eq("bob") & Admin::role.eq("editor"))).one())?;
    assert_eq!(found.read().id, 2);
    let emails: Vec<String> =
        aw!(session.scalars(select::<Admin>().columns(Admin::email).order_by(Admin::name)).all())?;
    assert_eq!(emails, ["ann@x.io", "bob@x.io"]);
});
