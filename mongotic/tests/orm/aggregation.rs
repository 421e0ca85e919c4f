//! Typed aggregation against the server: group keys, aggregate functions, having, sorting,
//! totals, the raw pipeline, and a property test against values computed in Rust.

use std::collections::BTreeMap;

use mongotic::Error;
use mongotic::aggregate::{add_to_set, avg, count, max, min, pipeline, push, sum};
use mongotic::bson::{Bson, Document, doc};
use mongotic::prelude::*;
use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestRng, TestRunner};

use crate::common::BlockingCtx;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Embedded)]
pub struct Shop {
    #[serde(default)]
    pub city: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Model)]
#[mongotic(database = "myapp", collection = "sales")]
pub struct Sale {
    #[serde(rename = "_id")]
    pub id: i64,
    #[serde(default)]
    pub region: Option<String>,
    #[serde(default)]
    pub shop: Option<Shop>,
    #[serde(default)]
    pub qty: Option<i32>,
    pub price: f64,
}

fn sale(id: i64, region: &str, city: &str, qty: Option<i32>, price: f64) -> Sale {
    Sale { id, region: Some(region.into()), shop: Some(Shop { city: Some(city.into()) }), qty, price }
}

/// North: 1 (qty 2, 10.0), 2 (qty 3, 20.0), 3 (no qty, 5.0); South: 4 (qty 10, 100.0);
/// West: 5 (qty 1, 1.0), 6 (qty 1, 2.0).
fn sales() -> Vec<Sale> {
    vec![
        sale(1, "north", "Oslo", Some(2), 10.0),
        sale(2, "north", "Bergen", Some(3), 20.0),
        sale(3, "north", "Oslo", None, 5.0),
        sale(4, "south", "Rome", Some(10), 100.0),
        sale(5, "west", "Lima", Some(1), 1.0),
        sale(6, "west", "Lima", Some(1), 2.0),
    ]
}

scenario!(group_by_computes_typed_aggregates_in_one_command, |ctx| {
    let mut session = ctx.session();
    session.add_all(sales());
    aw!(session.commit())?;
    ctx.log().clear();

    let stmt = select::<Sale>()
        .group_by(Sale::region)
        .agg((count(), sum(Sale::qty), avg(Sale::qty), min(Sale::qty), max(Sale::price), push(Sale::id)))
        .order_by(Sale::region);
    let mut reader = ctx.session();
    let rows = aw!(reader.execute(stmt))?;
    assert_eq!(ctx.log().names(), ["aggregate"]);
    type Row = (Option<String>, (u64, i64, Option<f64>, Option<i32>, Option<f64>, Vec<i64>));
    let expected: Vec<Row> = vec![
        (Some("north".into()), (3, 5, Some(2.5), Some(2), Some(20.0), vec![1, 2, 3])),
        (Some("south".into()), (1, 10, Some(10.0), Some(10), Some(100.0), vec![4])),
        (Some("west".into()), (2, 2, Some(1.0), Some(1), Some(2.0), vec![5, 6])),
    ];
    let mut rows = rows;
    for (_, (.., ids)) in &mut rows {
        ids.sort();
    }
    assert_eq!(rows, expected);
    assert!(reader.is_empty(), "aggregates are values, not tracked entities");

    // Having (on an aggregate not returned), sorting by an aggregate, and a limit.
    let stmt = select::<Sale>()
        .filter(Sale::price.gt(1.5))
        .group_by(Sale::region)
        .agg(count())
        .having(sum(Sale::price).gte(2.0) & count().lt(3_u64))
        .order_by(-sum(Sale::price))
        .limit(2);
    let rows = aw!(session.execute(stmt))?;
    assert_eq!(rows, [(Some("south".to_owned()), 1), (Some("west".to_owned()), 1)]);
    let cities = aw!(session.execute(
        select::<Sale>().group_by(Sale::region).agg(add_to_set(Sale::shop.dot(Shop::city))).order_by(Sale::region)
    ))?;
    let mut north = cities[0].1.clone();
    north.sort();
    assert_eq!(north, [Some("Bergen".to_owned()), Some("Oslo".to_owned())]);
});

scenario!(compound_and_nested_keys_group_null_and_missing_together, |ctx| {
    let mut session = ctx.session();
    session.add_all(sales());
    aw!(session.commit())?;
    aw!(ctx.insert::<Sale>(vec![
        doc! { "_id": 7_i64, "price": 3.0 }, // no region, no shop
        doc! { "_id": 8_i64, "region": Bson::Null, "shop": { "city": Bson::Null }, "price": 4.0 },
    ]));

    let stmt = select::<Sale>()
        .group_by((Sale::region, Sale::shop.dot(Shop::city)))
        .agg((count(), sum(Sale::price)))
        .order_by(Sale::region)
        .order_by(Sale::shop.dot(Shop::city).desc());
    let rows = aw!(session.execute(stmt))?;
    let s = |v: &str| Some(v.to_owned());
    assert_eq!(
        rows,
        [
            ((None, None), (2, 7.0)),
            ((s("north"), s("Oslo")), (2, 15.0)),
            ((s("north"), s("Bergen")), (1, 20.0)),
            ((s("south"), s("Rome")), (1, 100.0)),
            ((s("west"), s("Lima")), (2, 3.0)),
        ]
    );

    // Sorting by a field that is not part of the key is an error before anything is sent.
    ctx.log().clear();
    let err = aw!(session.execute(select::<Sale>().group_by(Sale::region).agg(count()).order_by(Sale::price)))
        .expect_err("not a key field");
    assert!(matches!(err, Error::InvalidStatement { .. }), "{err}");
    assert!(ctx.log().is_empty());
});

scenario!(totals_give_one_row_even_over_nothing, |ctx| {
    let mut session = ctx.session();
    session.add_all(sales());
    aw!(session.commit())?;
    let all = (count(), sum(Sale::qty), sum(Sale::price), avg(Sale::qty), min(Sale::price), push(Sale::id));
    let (n, qty, price, mean, cheapest, mut ids) = aw!(session.execute(select::<Sale>().aggregate(all.clone())))?;
    ids.sort();
    assert_eq!(
        (n, qty, price, mean, cheapest, ids),
        (6, 17, 138.0, Some(17.0 / 5.0), Some(1.0), vec![1, 2, 3, 4, 5, 6])
    );

    let none = aw!(session.execute(select::<Sale>().filter(Sale::price.gt(1e9)).aggregate(all.clone())))?;
    assert_eq!(none, (0, 0, 0.0, None, None, vec![]));
    ctx.log().clear();
    let nothing = aw!(session.execute(select::<Sale>().limit(0).aggregate(count())))?;
    assert_eq!(nothing, 0);
    let no_groups = aw!(session.execute(select::<Sale>().group_by(Sale::region).agg(count()).limit(0)))?;
    assert!(no_groups.is_empty());
    assert!(ctx.log().is_empty(), "limit(0) sends nothing");
    // The select's limit chooses the documents that are grouped.
    let first_three = aw!(session.execute(select::<Sale>().order_by(Sale::id).limit(3).aggregate(sum(Sale::price))))?;
    assert_eq!(first_three, 35.0);
});

scenario!(a_hand_written_pipeline_deserializes_into_a_given_type, |ctx| {
    #[derive(Debug, PartialEq, Deserialize)]
    struct CityTotal {
        #[serde(rename = "_id")]
        city: String,
        total: f64,
    }
    let mut session = ctx.session();
    session.add_all(sales());
    aw!(session.commit())?;
    let totals: Vec<CityTotal> = aw!(session.execute(pipeline::<Sale, CityTotal>([
        doc! { "$group": { "_id": "$shop.city", "total": { "$sum": "$price" } } },
        doc! { "$sort": { "total": -1 } },
        doc! { "$limit": 2 },
    ])))?;
    assert_eq!(
        totals,
        [CityTotal { city: "Rome".into(), total: 100.0 }, CityTotal { city: "Bergen".into(), total: 20.0 }]
    );
    let err = aw!(session.execute(pipeline::<Sale, CityTotal>([doc! { "$project": { "total": 1 } }])))
        .expect_err("no _id city");
    assert!(matches!(err, Error::Deserialize { .. }), "{err}");
});

/// A generated sale: `None` is a missing field, `Some(None)` a null.
type Generated = (Option<Option<u8>>, Option<Option<i32>>, i32);

fn stored(id: usize, (region, qty, cents): &Generated) -> Document {
    let mut doc = doc! { "_id": id as i64, "price": f64::from(*cents) / 100.0 };
    match region {
        Some(Some(r)) => doc.insert("region", format!("r{r}")),
        Some(None) => doc.insert("region", Bson::Null),
        None => None,
    };
    match qty {
        Some(Some(q)) => doc.insert("qty", *q),
        Some(None) => doc.insert("qty", Bson::Null),
        None => None,
    };
    doc
}

/// What the server should say for one group, computed in Rust.
#[derive(Debug, Default, PartialEq)]
struct Expected {
    count: u64,
    qty: i64,
    mean: Option<f64>,
    least: Option<i32>,
    most: Option<i32>,
    price: f64,
    ids: Vec<i64>,
}

fn expected(sales: &[Generated]) -> BTreeMap<Option<String>, Expected> {
    let mut groups: BTreeMap<Option<String>, (Expected, Vec<i32>)> = BTreeMap::new();
    for (id, (region, qty, cents)) in sales.iter().enumerate() {
        let key = region.flatten().map(|r| format!("r{r}"));
        let (group, quantities) = groups.entry(key).or_default();
        group.count += 1;
        group.price += f64::from(*cents) / 100.0;
        group.ids.push(id as i64);
        if let Some(Some(q)) = qty {
            quantities.push(*q);
        }
    }
    groups
        .into_iter()
        .map(|(key, (mut group, quantities))| {
            group.qty = quantities.iter().map(|q| i64::from(*q)).sum();
            group.mean = (!quantities.is_empty()).then(|| group.qty as f64 / quantities.len() as f64);
            group.least = quantities.iter().copied().min();
            group.most = quantities.iter().copied().max();
            (key, group)
        })
        .collect()
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
}

test!(aggregates_match_rust_over_random_data, needs = [ReplicaSet]);
/// Random sales, with null and missing regions and quantities (and none at all): every
/// aggregate the server computes per region equals the one computed in Rust.
fn aggregates_match_rust_over_random_data() {
    let ctx = BlockingCtx::new();
    let strategy = proptest::collection::vec(
        (
            proptest::option::of(proptest::option::of(0u8..4)),
            proptest::option::of(proptest::option::of(-1_000i32..1_000)),
            0i32..100_000,
        ),
        0..40,
    );
    let config = Config { cases: 24, failure_persistence: None, ..Config::default() };
    let mut runner = TestRunner::new_with_rng(config, TestRng::deterministic_rng(RngAlgorithm::ChaCha));
    let fail = |err: mongotic::Error| TestCaseError::fail(err.to_string());
    let result = runner.run(&strategy, |generated| {
        ctx.delete::<Sale>(doc! {});
        if !generated.is_empty() {
            ctx.insert::<Sale>(generated.iter().enumerate().map(|(id, sale)| stored(id, sale)).collect());
        }
        let mut session = ctx.session();
        let stmt = select::<Sale>().group_by(Sale::region).agg((
            count(),
            sum(Sale::qty),
            avg(Sale::qty),
            min(Sale::qty),
            max(Sale::qty),
            sum(Sale::price),
            push(Sale::id),
        ));
        let rows = session.execute(stmt).map_err(fail)?;
        let want = expected(&generated);
        prop_assert_eq!(rows.len(), want.len());
        for (key, (count, qty, mean, least, most, price, mut ids)) in rows {
            let Some(group) = want.get(&key) else {
                return Err(TestCaseError::fail(format!("unexpected group {key:?}")));
            };
            ids.sort();
            prop_assert_eq!(
                (count, qty, least, most, &ids),
                (group.count, group.qty, group.least, group.most, &group.ids)
            );
            prop_assert!(close(price, group.price), "price {} vs {}", price, group.price);
            match (mean, group.mean) {
                (Some(a), Some(b)) => prop_assert!(close(a, b), "mean {} vs {}", a, b),
                (a, b) => prop_assert_eq!(a, b),
            }
        }
        let (n, total) = session.execute(select::<Sale>().aggregate((count(), sum(Sale::qty)))).map_err(fail)?;
        prop_assert_eq!(n, generated.len() as u64);
        prop_assert_eq!(total, want.values().map(|g| g.qty).sum::<i64>());
        Ok(())
    });
    if let Err(err) = result {
        panic!("{err}");
    }
}
