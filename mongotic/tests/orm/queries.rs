//! The query language against the server: which documents each operator selects, null versus
//! missing, ordering with ties, paging, distinct, and user strings that look like operators.

use mongotic::bson::{Document, doc};
use mongotic::prelude::*;
use mongotic::{Filter, Select};

use crate::common::*;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Embedded)]
pub struct Spec {
    pub color: String,
    #[serde(default)]
    pub weight: Option<i32>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Model)]
#[mongotic(database = "shop", collection = "items")]
pub struct Item {
    #[serde(rename = "_id")]
    #[mongotic(id)]
    pub id: i64,
    pub name: String,
    #[serde(default)]
    pub size: Option<i32>,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub spec: Option<Spec>,
}

/// Documents written raw, so that `size` and `spec` are null in some and missing in others.
fn catalogue() -> Vec<Document> {
    vec![
        doc! { "_id": 1_i64, "name": "apple", "size": 3, "tags": ["fruit", "red"], "spec": { "color": "red", "weight": 150 } },
        doc! { "_id": 2_i64, "name": "Apricot", "size": null, "tags": ["fruit"], "spec": { "color": "orange" } },
        doc! { "_id": 3_i64, "name": "banana", "tags": ["fruit", "yellow"] },
        doc! { "_id": 4_i64, "name": "blueberry", "size": 1, "tags": [], "spec": { "color": "blue", "weight": 2 } },
        doc! { "_id": 5_i64, "name": "cherry.pie", "size": 3, "tags": ["dessert", "red"], "spec": null },
        doc! { "_id": 6_i64, "name": "100% juice", "size": 5, "tags": ["drink"] },
        doc! { "_id": 7_i64, "name": "a_b", "size": 2, "tags": ["x"] },
    ]
}

async fn setup() -> (AsyncCtx, Session) {
    let ctx = AsyncCtx::new().await;
    ctx.insert::<Item>(catalogue()).await;
    let session = ctx.session();
    (ctx, session)
}

/// The ids a filter selects, sorted.
async fn ids(session: &mut Session, filter: Filter<Item>) -> Vec<i64> {
    let mut ids = session.scalars(select::<Item>().columns(Item::id).filter(filter)).all().await.expect("query");
    ids.sort();
    ids
}

/// The ids a statement returns, in its order.
async fn ordered(session: &mut Session, stmt: Select<Item>) -> Vec<i64> {
    session.scalars(stmt).all().await.expect("query").iter().map(|item| item.read().id).collect()
}

test!(async comparison_operators, needs = [ReplicaSet]);
async fn comparison_operators() {
    let (_ctx, mut s) = setup().await;
    assert_eq!(ids(&mut s, Item::name.eq("apple")).await, [1]);
    assert_eq!(ids(&mut s, Item::size.ne(3)).await, [2, 3, 4, 6, 7], "null and missing are not equal to 3");
    assert_eq!(ids(&mut s, Item::size.gt(2)).await, [1, 5, 6]);
    assert_eq!(ids(&mut s, Item::size.gte(3)).await, [1, 5, 6]);
    assert_eq!(ids(&mut s, Item::size.lt(3)).await, [4, 7]);
    assert_eq!(ids(&mut s, Item::size.lte(3)).await, [1, 4, 5, 7]);
    assert_eq!(ids(&mut s, Item::size.between(1, 3)).await, [1, 4, 5, 7], "both ends included");
    assert_eq!(ids(&mut s, Item::id.gt(5)).await, [6, 7]);
}

test!(async membership_operators, needs = [ReplicaSet]);
async fn membership_operators() {
    let (_ctx, mut s) = setup().await;
    assert_eq!(ids(&mut s, Item::size.in_([1, 2])).await, [4, 7]);
    assert_eq!(ids(&mut s, Item::size.not_in([3])).await, [2, 3, 4, 6, 7]);
    assert_eq!(ids(&mut s, Item::name.in_(Vec::<&str>::new())).await, Vec::<i64>::new());
}

test!(async null_versus_missing, needs = [ReplicaSet]);
async fn null_versus_missing() {
    let (_ctx, mut s) = setup().await;
    assert_eq!(ids(&mut s, Item::size.is_null()).await, [2, 3], "null or missing");
    assert_eq!(ids(&mut s, Item::size.is_not_null()).await, [1, 4, 5, 6, 7]);
    assert_eq!(ids(&mut s, Item::size.exists(false)).await, [3], "missing only");
    assert_eq!(ids(&mut s, Item::size.eq(None)).await, [2, 3]);
    assert_eq!(ids(&mut s, Item::spec.is_null()).await, [3, 5, 6, 7]);
}

test!(async string_operators, needs = [ReplicaSet]);
async fn string_operators() {
    let (_ctx, mut s) = setup().await;
    assert_eq!(ids(&mut s, Item::name.like("a%")).await, [1, 7], "case-sensitive");
    assert_eq!(ids(&mut s, Item::name.ilike("a%")).await, [1, 2, 7]);
    assert_eq!(ids(&mut s, Item::name.like("a_b")).await, [7]);
    assert_eq!(ids(&mut s, Item::name.like("_pple")).await, [1]);
    assert_eq!(ids(&mut s, Item::name.like("%.%")).await, [5], "a dot is literal");
    assert_eq!(ids(&mut s, Item::name.like(r"100\%%")).await, [6], "an escaped percent is literal");
    assert_eq!(ids(&mut s, Item::name.like("%e")).await, [1, 5, 6]);
    assert_eq!(ids(&mut s, Item::name.like("apple")).await, [1], "no wildcard: the whole value");
    assert_eq!(ids(&mut s, Item::name.like("appl")).await, Vec::<i64>::new());
    assert_eq!(ids(&mut s, Item::name.contains("err")).await, [4, 5]);
    assert_eq!(ids(&mut s, Item::name.contains(".")).await, [5]);
    assert_eq!(ids(&mut s, Item::name.contains("%")).await, [6]);
    assert_eq!(ids(&mut s, Item::name.starts_with("b")).await, [3, 4]);
    assert_eq!(ids(&mut s, Item::name.ends_with("e")).await, [1, 5, 6]);
    assert_eq!(ids(&mut s, Item::name.ends_with("E")).await, Vec::<i64>::new());
}

test!(async combinators_and_negation, needs = [ReplicaSet]);
async fn combinators_and_negation() {
    let (_ctx, mut s) = setup().await;
    assert_eq!(ids(&mut s, Item::size.gte(2) & Item::tags.has("red")).await, [1, 5]);
    assert_eq!(ids(&mut s, and_([Item::size.gte(2), Item::tags.has("red")])).await, [1, 5]);
    assert_eq!(ids(&mut s, Item::name.eq("apple") | Item::size.eq(5)).await, [1, 6]);
    assert_eq!(ids(&mut s, or_([Item::name.eq("apple"), Item::size.eq(5)])).await, [1, 6]);
    assert_eq!(ids(&mut s, not_(or_([Item::name.eq("apple"), Item::size.eq(5)]))).await, [2, 3, 4, 5, 7]);
    assert_eq!(ids(&mut s, !Item::size.gte(3)).await, [2, 3, 4, 7], "field-level $not keeps null and missing");
    assert_eq!(ids(&mut s, !Item::name.starts_with("b")).await, [1, 2, 5, 6, 7]);
    assert_eq!(ids(&mut s, !(Item::size.gte(2) & Item::tags.has("fruit"))).await, [2, 3, 4, 5, 6, 7]);
    let several = select::<Item>().columns(Item::id).filter(Item::size.gte(2)).filter(Item::size.lte(3));
    let mut both: Vec<i64> = s.scalars(several).all().await.expect("query");
    both.sort();
    assert_eq!(both, [1, 5, 7], "several filter calls are ANDed");
}

test!(async nested_and_array_fields, needs = [ReplicaSet]);
async fn nested_and_array_fields() {
    let (_ctx, mut s) = setup().await;
    let color = || Item::spec.dot(Spec::color);
    let weight = || Item::spec.dot(Spec::weight);
    assert_eq!(ids(&mut s, color().eq("red")).await, [1]);
    assert_eq!(ids(&mut s, color().in_(["red", "blue"])).await, [1, 4]);
    assert_eq!(ids(&mut s, weight().gt(100)).await, [1]);
    assert_eq!(ids(&mut s, weight().is_null()).await, [2, 3, 5, 6, 7]);
    assert_eq!(ids(&mut s, Item::tags.has("red")).await, [1, 5]);
    assert_eq!(ids(&mut s, Item::tags.has_all(["fruit", "red"])).await, [1]);
    assert_eq!(ids(&mut s, Item::tags.has_any(["drink", "dessert"])).await, [5, 6]);
    assert_eq!(ids(&mut s, Item::tags.has_size(0)).await, [4]);
    assert_eq!(ids(&mut s, Item::tags.has_size(2)).await, [1, 3, 5]);
}

test!(async ordering_with_ties_and_paging, needs = [ReplicaSet]);
async fn ordering_with_ties_and_paging() {
    let (_ctx, mut s) = setup().await;
    // size descending (null and missing sort lowest, so last), ties broken by name.
    let expected = [6, 1, 5, 7, 4, 2, 3];
    assert_eq!(ordered(&mut s, select::<Item>().order_by((Item::size.desc(), Item::name.asc()))).await, expected);
    assert_eq!(ordered(&mut s, select::<Item>().order_by(-Item::size).order_by(Item::name)).await, expected);
    assert_eq!(
        ordered(&mut s, select::<Item>().order_by((Item::size.asc(), -Item::name))).await,
        [3, 2, 4, 7, 5, 1, 6]
    );

    let page = |n: u64| select::<Item>().order_by(Item::id).offset(n * 3).limit(3);
    assert_eq!(ordered(&mut s, page(0)).await, [1, 2, 3]);
    assert_eq!(ordered(&mut s, page(1)).await, [4, 5, 6]);
    assert_eq!(ordered(&mut s, page(2)).await, [7]);
    assert_eq!(ordered(&mut s, page(3)).await, Vec::<i64>::new());
    assert_eq!(s.scalars(select::<Item>().offset(2).limit(3)).count().await.expect("count"), 3);
    assert_eq!(s.scalars(select::<Item>().offset(5)).count().await.expect("count"), 2);
}

test!(async distinct_values, needs = [ReplicaSet]);
async fn distinct_values() {
    let (_ctx, mut s) = setup().await;
    let mut colors: Vec<String> = s
        .execute(select::<Item>().filter(Item::tags.has("fruit")).distinct(Item::spec.dot(Spec::color)))
        .await
        .expect("distinct");
    colors.sort();
    assert_eq!(colors, ["orange", "red"]);
    let sizes: Vec<Option<i32>> =
        s.execute(select::<Item>().filter(Item::tags.has("red")).distinct(Item::size)).await.expect("distinct");
    assert_eq!(sizes, [Some(3)], "one value for two documents");
}

test!(async operator_lookalike_strings_are_data, needs = [ReplicaSet]);
async fn operator_lookalike_strings_are_data() {
    let (ctx, mut s) = setup().await;
    ctx.insert::<Item>(vec![
        doc! { "_id": 100_i64, "name": "{\"$ne\": null}" },
        doc! { "_id": 101_i64, "name": "$where" },
        doc! { "_id": 102_i64, "name": ".*" },
    ])
    .await;
    assert_eq!(ids(&mut s, Item::name.eq("{\"$ne\": null}")).await, [100]);
    assert_eq!(ids(&mut s, Item::name.eq("$where")).await, [101]);
    assert_eq!(ids(&mut s, Item::name.in_(["$where", "$gt"])).await, [101]);
    assert_eq!(ids(&mut s, Item::name.contains("$ne")).await, [100]);
    assert_eq!(ids(&mut s, Item::name.like(".*")).await, [102]);
    assert_eq!(ids(&mut s, Item::name.starts_with(".*")).await, [102]);
    assert_eq!(ids(&mut s, Item::name.contains("*")).await, [102]);
}

// Typed entities come back through the identity map, whatever the query.
scenario!(typed_entities_roundtrip, |ctx| {
    aw!(ctx.insert::<Item>(catalogue()));
    let mut session = ctx.session();
    let apple = aw!(session.scalars(select::<Item>().filter(Item::name.eq("apple"))).one())?;
    assert_eq!(apple.read().spec, Some(Spec { color: "red".into(), weight: Some(150) }));
    let red = aw!(session.scalars(select::<Item>().filter(Item::tags.has("red")).order_by(Item::id)).all())?;
    assert!(red[0].ptr_eq(&apple));
});

// Untracked reads: plain values, nothing in the session, and changing them writes nothing.
scenario!(untracked_reads_are_plain_values, |ctx| {
    let mut session = ctx.session();
    session.add_all((0..5).map(|i| user(&format!("u{i}"), &format!("u{i}@x.io"), i)));
    aw!(session.commit())?;
    let mut reader = ctx.session();
    let mut users: Vec<User> = aw!(reader.scalars(select::<User>().untracked().order_by(User::age)).all())?;
    assert_eq!(users.iter().map(|u| u.age).collect::<Vec<_>>(), (0..5).map(Some).collect::<Vec<_>>());
    assert!(reader.is_empty(), "nothing tracked");
    users[0].age = Some(99);
    ctx.log().clear();
    aw!(reader.commit())?;
    assert!(ctx.log().is_empty(), "an untracked value is not a pending change");
    let first: Option<User> = aw!(reader.scalars(select::<User>().untracked().filter(User::age.eq(4))).first())?;
    assert_eq!(first.map(|u| u.name), Some("u4".to_owned()));
});
