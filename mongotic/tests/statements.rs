//! What each operator, combinator and statement compiles to, byte for byte (field order
//! included). No server needed: statements are values.

use std::collections::HashSet;

use mongotic::bson::{DateTime, Document, doc, oid::ObjectId};
use mongotic::prelude::*;
use mongotic::{Error, Filter};

#[derive(Debug, Clone, Serialize, Deserialize, Embedded)]
struct Address {
    city: String,
    zip: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, Embedded)]
struct Line {
    sku: String,
    qty: i32,
}

#[derive(Debug, Clone, Serialize, Deserialize, Model)]
#[mongotic(collection = "users")]
struct User {
    #[serde(rename = "_id", skip_serializing_if = "Option::is_none")]
    #[mongotic(id)]
    id: Option<ObjectId>,
    name: String,
    email: Option<String>,
    age: Option<i32>,
    score: f64,
    active: bool,
    joined: DateTime,
    address: Option<Address>,
    lines: Vec<Line>,
    tags: Vec<String>,
    labels: HashSet<String>,
    big: u64,
    #[serde(rename = "displayName")]
    display_name: String,
}

/// Equality that also compares field order, which `Document`'s `==` ignores.
#[track_caller]
fn assert_doc(actual: &Document, expected: Document) {
    assert_eq!(actual.to_string(), expected.to_string());
}

#[track_caller]
fn assert_filter(filter: Filter<User>, expected: Document) {
    assert_doc(&filter.to_document().expect("compiles"), expected);
}

#[test]
fn comparisons() {
    assert_filter(User::age.eq(30), doc! { "age": { "$eq": 30 } });
    assert_filter(User::age.ne(30), doc! { "age": { "$ne": 30 } });
    assert_filter(User::age.gt(30), doc! { "age": { "$gt": 30 } });
    assert_filter(User::age.gte(30), doc! { "age": { "$gte": 30 } });
    assert_filter(User::age.lt(30), doc! { "age": { "$lt": 30 } });
    assert_filter(User::age.lte(30), doc! { "age": { "$lte": 30 } });
    assert_filter(User::age.eq(None), doc! { "age": { "$eq": null } });
    assert_filter(User::age.eq(Some(5)), doc! { "age": { "$eq": 5 } });
    assert_filter(User::name.eq("Alice"), doc! { "name": { "$eq": "Alice" } });
    assert_filter(User::name.eq(String::from("Bob")), doc! { "name": { "$eq": "Bob" } });
    assert_filter(User::email.ne("a@x.io"), doc! { "email": { "$ne": "a@x.io" } });
    assert_filter(User::score.gt(1.5), doc! { "score": { "$gt": 1.5 } });
    assert_filter(User::active.eq(false), doc! { "active": { "$eq": false } });
    let at = DateTime::from_millis(1_700_000_000_000);
    assert_filter(User::joined.lt(at), doc! { "joined": { "$lt": at } });
    let id = ObjectId::new();
    assert_filter(User::id.eq(id), doc! { "_id": { "$eq": id } });
    assert_filter(User::display_name.eq("A"), doc! { "displayName": { "$eq": "A" } });
}

#[test]
fn between_is_inclusive_on_both_ends() {
    assert_filter(User::age.between(18, 65), doc! { "age": { "$gte": 18, "$lte": 65 } });
}

#[test]
fn membership() {
    assert_filter(User::name.in_(["Alice", "Bob"]), doc! { "name": { "$in": ["Alice", "Bob"] } });
    assert_filter(User::age.not_in(vec![1, 2]), doc! { "age": { "$nin": [1, 2] } });
    assert_filter(User::age.in_(Vec::<i32>::new()), doc! { "age": { "$in": [] } });
}

#[test]
fn null_and_presence() {
    assert_filter(User::email.is_null(), doc! { "email": null });
    assert_filter(User::email.is_not_null(), doc! { "email": { "$ne": null } });
    assert_filter(User::email.exists(false), doc! { "email": { "$exists": false } });
}

#[test]
fn string_operators_match_literally() {
    assert_filter(User::name.like("Al%"), doc! { "name": { "$regex": r"^Al.*\z", "$options": "s" } });
    assert_filter(User::name.like("A_ce"), doc! { "name": { "$regex": r"^A.ce\z", "$options": "s" } });
    assert_filter(User::name.ilike("al%"), doc! { "name": { "$regex": r"^al.*\z", "$options": "si" } });
    assert_filter(User::name.contains("a.b"), doc! { "name": { "$regex": r"a\.b", "$options": "s" } });
    assert_filter(User::name.starts_with("(x)"), doc! { "name": { "$regex": r"^\(x\)", "$options": "s" } });
    assert_filter(User::email.ends_with("$"), doc! { "email": { "$regex": r"\$\z", "$options": "s" } });
    assert_filter(User::name.like(r"100\%"), doc! { "name": { "$regex": r"^100\%\z", "$options": "s" } });
}

#[test]
fn user_strings_never_become_operators() {
    assert_filter(User::name.eq("{\"$ne\": null}"), doc! { "name": { "$eq": "{\"$ne\": null}" } });
    assert_filter(User::name.eq("$where"), doc! { "name": { "$eq": "$where" } });
    assert_filter(User::name.contains("$where"), doc! { "name": { "$regex": r"\$where", "$options": "s" } });
    assert_filter(User::name.like(".*"), doc! { "name": { "$regex": r"^\.\*\z", "$options": "s" } });
}

#[test]
fn combinators() {
    let adult = || User::age.gte(18);
    let named = || User::name.eq("Al");
    assert_filter(adult() & named(), doc! { "$and": [{ "age": { "$gte": 18 } }, { "name": { "$eq": "Al" } }] });
    assert_filter(and_([adult(), named()]), doc! { "$and": [{ "age": { "$gte": 18 } }, { "name": { "$eq": "Al" } }] });
    assert_filter(adult() | named(), doc! { "$or": [{ "age": { "$gte": 18 } }, { "name": { "$eq": "Al" } }] });
    assert_filter(or_([adult(), named()]), doc! { "$or": [{ "age": { "$gte": 18 } }, { "name": { "$eq": "Al" } }] });
    assert_filter(
        adult() & named() & User::active.eq(true),
        doc! { "$and": [{ "age": { "$gte": 18 } }, { "name": { "$eq": "Al" } }, { "active": { "$eq": true } }] },
    );
    assert_filter(
        (adult() | named()) & User::active.eq(true),
        doc! { "$and": [{ "$or": [{ "age": { "$gte": 18 } }, { "name": { "$eq": "Al" } }] }, { "active": { "$eq": true } }] },
    );
    assert_filter(and_([adult()]), doc! { "age": { "$gte": 18 } });
    assert_filter(and_(Vec::new()), doc! {});
    assert_filter(or_(Vec::new()), doc! { "_id": { "$in": [] } });
}

#[test]
fn negation() {
    assert_filter(!User::age.gte(18), doc! { "age": { "$not": { "$gte": 18 } } });
    assert_filter(not_(User::age.gte(18)), doc! { "age": { "$not": { "$gte": 18 } } });
    assert_filter(not_(User::name.starts_with("A")), doc! { "name": { "$not": { "$regex": "^A", "$options": "s" } } });
    assert_filter(!User::email.is_null(), doc! { "email": { "$not": { "$eq": null } } });
    assert_filter(!!User::age.gte(18), doc! { "age": { "$gte": 18 } });
    assert_filter(
        not_(or_([User::age.lt(18), User::name.eq("x")])),
        doc! { "$nor": [{ "age": { "$lt": 18 } }, { "name": { "$eq": "x" } }] },
    );
    assert_filter(
        !(User::age.lt(18) & User::name.eq("x")),
        doc! { "$nor": [{ "$and": [{ "age": { "$lt": 18 } }, { "name": { "$eq": "x" } }] }] },
    );
    assert_filter(
        !!(User::age.lt(18) | User::name.eq("x")),
        doc! { "$or": [{ "age": { "$lt": 18 } }, { "name": { "$eq": "x" } }] },
    );
}

#[test]
fn nested_and_array_fields() {
    assert_filter(User::address.dot(Address::city).eq("Paris"), doc! { "address.city": { "$eq": "Paris" } });
    assert_filter(User::address.dot(Address::zip).is_null(), doc! { "address.zip": null });
    assert_filter(User::lines.dot(Line::qty).gt(2), doc! { "lines.qty": { "$gt": 2 } });
    assert_filter(User::tags.has("rust"), doc! { "tags": { "$eq": "rust" } });
    assert_filter(User::tags.has_all(["a", "b"]), doc! { "tags": { "$all": ["a", "b"] } });
    assert_filter(User::labels.has_any(["x"]), doc! { "labels": { "$in": ["x"] } });
    assert_filter(User::tags.has_size(2), doc! { "tags": { "$size": 2_i64 } });
}

#[test]
fn select_compiles_to_find_arguments() {
    let find = select::<User>()
        .filter(User::age.gte(18))
        .filter(User::name.ne("root"))
        .order_by((-User::age, User::name.asc()))
        .order_by(User::score.desc())
        .offset(20)
        .limit(10)
        .yield_per(500)
        .compile()
        .expect("compiles");
    assert_doc(&find.filter, doc! { "$and": [{ "age": { "$gte": 18 } }, { "name": { "$ne": "root" } }] });
    assert_doc(&find.sort.expect("sorted"), doc! { "age": -1, "name": 1, "score": -1 });
    assert_eq!((find.skip, find.limit, find.batch_size), (Some(20), Some(10), Some(500)));
    assert_eq!(find.projection, None);

    let find = select::<User>().columns((User::name, User::address.dot(Address::city))).compile().expect("compiles");
    assert_doc(&find.projection.expect("projected"), doc! { "name": 1, "address.city": 1, "_id": 0 });
    assert_doc(&find.filter, doc! {});
}

#[test]
fn distinct_carries_field_and_filter() {
    let stmt = select::<User>().filter(User::active.eq(true)).distinct(User::email);
    assert_eq!(stmt.field(), "email");
    assert_doc(&stmt.compile_filter().expect("compiles"), doc! { "active": { "$eq": true } });
}

#[test]
fn bulk_statements() {
    let (filter, changes) = update::<User>()
        .filter(User::name.eq("Al"))
        .set(User::age, 31)
        .set(User::address.dot(Address::city), "Rome")
        .inc(User::score, 1.0)
        .unset(User::email)
        .compile()
        .expect("compiles");
    assert_doc(&filter, doc! { "name": { "$eq": "Al" } });
    assert_doc(
        &changes,
        doc! { "$set": { "age": 31, "address.city": "Rome" }, "$inc": { "score": 1.0 }, "$unset": { "email": "" } },
    );
    assert!(matches!(update::<User>().compile(), Err(Error::InvalidStatement { .. })));
    assert_doc(
        &delete::<User>().filter(User::active.eq(false)).compile().expect("compiles"),
        doc! { "active": { "$eq": false } },
    );
    assert_doc(&delete::<User>().compile().expect("compiles"), doc! {});
}

#[test]
fn unserializable_values_are_typed_errors() {
    let result = User::big.eq(u64::MAX).to_document();
    assert!(matches!(result, Err(Error::InvalidValue { ref path, .. }) if path == "big"), "{result:?}");
    let result = select::<User>().filter(User::big.gt(u64::MAX)).compile();
    assert!(matches!(result, Err(Error::InvalidValue { .. })), "{result:?}");
    let result = update::<User>().set(User::big, u64::MAX).compile();
    assert!(matches!(result, Err(Error::InvalidValue { .. })), "{result:?}");
    assert!(User::big.eq(5_u64).to_document().is_ok());
}

/// An enum model checks a value a bulk update sets against every variant that has the field:
/// a constraint the variants share is reported once, one only a variant has still counts.
#[cfg(feature = "garde")]
mod enum_field_checks {
    use mongotic::bson::Bson;
    use mongotic::prelude::*;
    use mongotic::validation::Violations;

    #[derive(Debug, Clone, Serialize, Deserialize, Model)]
    #[serde(tag = "kind")]
    #[mongotic(collection = "pets")]
    enum Pet {
        Cat(Cat),
        Dog(Dog),
    }

    #[derive(Debug, Clone, Serialize, Deserialize, Model, garde::Validate)]
    #[mongotic(variant_of = Pet)]
    #[garde(allow_unvalidated)]
    struct Cat {
        #[serde(rename = "_id")]
        id: i64,
        #[garde(length(min = 1))]
        name: String,
    }

    #[derive(Debug, Clone, Serialize, Deserialize, Model, garde::Validate)]
    #[mongotic(variant_of = Pet)]
    #[garde(allow_unvalidated)]
    struct Dog {
        #[serde(rename = "_id")]
        id: i64,
        #[garde(length(min = 1))]
        name: String,
        #[garde(range(min = 0))]
        bark: i32,
    }

    #[test]
    fn a_constraint_shared_by_variants_is_reported_once() {
        let mut report = Violations::default();
        <Pet as Model>::__validate_field("name", &Bson::String(String::new()), &mut report);
        assert_eq!(report.len(), 1, "{report}");
        <Pet as Model>::__validate_field("bark", &Bson::Int32(-1), &mut report);
        assert_eq!(report.len(), 2, "{report}");
        <Pet as Model>::__validate_field("name", &Bson::String("Rex".into()), &mut report);
        assert_eq!(report.len(), 2, "a valid value adds nothing: {report}");
    }
}
