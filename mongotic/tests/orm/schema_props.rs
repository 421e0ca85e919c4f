//! Property: the validator generated for a model with every supported field type accepts
//! every value of the model (and the model reads back what was stored), and refuses a
//! document that breaks one of the declared constraints or types.

use std::collections::{BTreeSet, HashMap};

use garde::Validate;
use mongotic::bson::spec::BinarySubtype;
use mongotic::bson::{Binary, Bson, DateTime, Decimal128, Document, Timestamp, Uuid, doc, oid::ObjectId};
use mongotic::prelude::*;
use mongotic::relation::Ref;
use mongotic::schema::{BsonSchema, SyncOptions};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};

use crate::common::*;
use crate::schema_derive::Tier;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Model)]
#[mongotic(collection = "owners")]
pub struct Owner {
    #[serde(rename = "_id")]
    pub id: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Embedded)]
pub struct Inner {
    pub label: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Embedded)]
pub struct Stamp {
    pub by: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, BsonSchema)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Shape {
    Circle { radius: f64 },
    Dot,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, BsonSchema)]
pub enum Payment {
    Cash,
    Card(String),
    Transfer { iban: String },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, BsonSchema)]
#[serde(tag = "t", content = "c")]
pub enum Signal {
    Ping,
    Text(String),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, BsonSchema)]
#[serde(untagged)]
pub enum Loose {
    Number(i64),
    Words(Vec<String>),
}

/// A field of every type the schema supports, and every rule it expresses.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Model, Validate)]
#[mongotic(collection = "everything", schema(additional = false))]
#[garde(allow_unvalidated)]
pub struct Everything {
    #[serde(rename = "_id")]
    pub id: ObjectId,
    pub text: String,
    pub letter: char,
    pub flag: bool,
    pub tiny: i8,
    pub small: i16,
    pub int: i32,
    pub long: i64,
    pub byte: u8,
    pub word: u16,
    pub dword: u32,
    pub qword: u64,
    pub single: f32,
    pub double: f64,
    pub oid: ObjectId,
    pub at: DateTime,
    pub uuid: Uuid,
    pub bytes: Binary,
    pub money: Decimal128,
    pub clock: Timestamp,
    pub doc: Document,
    pub anything: Bson,
    pub maybe: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub missing: Option<String>,
    pub list: Vec<i64>,
    pub nested: Vec<Vec<String>>,
    pub set: BTreeSet<String>,
    pub map: HashMap<String, f64>,
    pub boxed: Box<Inner>,
    pub fixed: [u8; 3],
    pub owner: Ref<Owner>,
    pub inner: Inner,
    pub inners: Vec<Inner>,
    pub tier: Tier,
    pub maybe_tier: Option<Tier>,
    pub shape: Shape,
    pub payment: Payment,
    pub signal: Signal,
    pub loose: Loose,
    #[serde(flatten)]
    pub stamp: Stamp,
    #[garde(length(min = 2, max = 10))]
    pub name: String,
    #[garde(length(chars, min = 1, max = 5))]
    pub short: String,
    #[garde(range(min = -10, max = 10))]
    pub score: i32,
    #[garde(range(min = 0.0, max = 1.0))]
    pub ratio: f64,
    #[garde(pattern(r"^[a-z]+$"))]
    pub slug: String,
    #[garde(length(max = 3), inner(range(min = 0, max = 9)))]
    pub digits: Vec<i32>,
    #[garde(prefix("id-"))]
    pub code: String,
}

fn text() -> impl Strategy<Value = String> {
    "\\PC{0,12}"
}

fn key() -> impl Strategy<Value = String> {
    "[a-z]{1,5}"
}

fn finite() -> impl Strategy<Value = f64> {
    -1.0e12..1.0e12
}

fn decimal(n: u32) -> Decimal128 {
    let mut bytes = [0_u8; 16];
    bytes[..4].copy_from_slice(&n.to_le_bytes());
    bytes[14] = 0x40;
    bytes[15] = 0x30;
    Decimal128::from_bytes(bytes)
}

fn loose_bson() -> impl Strategy<Value = Bson> {
    prop_oneof![
        any::<i32>().prop_map(Bson::Int32),
        any::<i64>().prop_map(Bson::Int64),
        text().prop_map(Bson::String),
        Just(Bson::Null),
        any::<bool>().prop_map(Bson::Boolean),
        (key(), any::<i32>()).prop_map(|(k, v)| Bson::Document(doc! { k: v })),
    ]
}

fn inner() -> impl Strategy<Value = Inner> {
    (text(), proptest::option::of(text())).prop_map(|(label, note)| Inner { label, note })
}

fn tier() -> impl Strategy<Value = Tier> {
    prop_oneof![Just(Tier::Free), Just(Tier::Pro), Just(Tier::Enterprise)]
}

fn everything() -> impl Strategy<Value = Everything> {
    let scalars = (
        text(),
        any::<char>(),
        any::<bool>(),
        any::<i8>(),
        any::<i16>(),
        any::<i32>(),
        any::<i64>(),
        any::<u8>(),
        any::<u16>(),
        any::<u32>(),
        0..=(i64::MAX as u64),
        -1.0e6_f32..1.0e6_f32,
    );
    let values = (
        finite(),
        any::<[u8; 12]>(),
        0_i64..4_000_000_000_000,
        any::<[u8; 16]>(),
        proptest::collection::vec(any::<u8>(), 0..8),
        any::<u32>(),
        (any::<u32>(), any::<u32>()),
        (key(), any::<i32>()),
        loose_bson(),
        proptest::option::of(any::<i32>()),
        proptest::option::of(text()),
    );
    let collections = (
        proptest::collection::vec(any::<i64>(), 0..4),
        proptest::collection::vec(proptest::collection::vec(text(), 0..3), 0..3),
        proptest::collection::btree_set(key(), 0..4),
        proptest::collection::hash_map(key(), finite(), 0..4),
        inner(),
        any::<[u8; 3]>(),
        any::<i64>(),
        inner(),
        proptest::collection::vec(inner(), 0..3),
        tier(),
        proptest::option::of(tier()),
    );
    let variants = (
        prop_oneof![finite().prop_map(|radius| Shape::Circle { radius }), Just(Shape::Dot)],
        prop_oneof![
            Just(Payment::Cash),
            text().prop_map(Payment::Card),
            text().prop_map(|iban| Payment::Transfer { iban })
        ],
        prop_oneof![Just(Signal::Ping), text().prop_map(Signal::Text)],
        prop_oneof![
            any::<i64>().prop_map(Loose::Number),
            proptest::collection::vec(text(), 0..3).prop_map(Loose::Words)
        ],
        text(),
    );
    let ruled = (
        "[a-zé😀]{1,5}".prop_filter("2 to 10 bytes", |name| (2..=10).contains(&name.len())),
        "\\PC{1,5}",
        -10..=10_i32,
        0.0..=1.0_f64,
        "[a-z]{1,8}",
        proptest::collection::vec(0..=9_i32, 0..=3),
        "id-[a-z0-9]{0,4}",
    );
    (scalars, values, collections, variants, ruled).prop_map(
        |(
            (text, letter, flag, tiny, small, int, long, byte, word, dword, qword, single),
            (double, oid, at, uuid, bytes, money, (time, increment), (doc_key, doc_value), anything, maybe, missing),
            (list, nested, set, map, boxed, fixed, owner, inner, inners, tier, maybe_tier),
            (shape, payment, signal, loose, by),
            (name, short, score, ratio, slug, digits, code),
        )| Everything {
            id: ObjectId::new(),
            text,
            letter,
            flag,
            tiny,
            small,
            int,
            long,
            byte,
            word,
            dword,
            qword,
            single,
            double,
            oid: ObjectId::from_bytes(oid),
            at: DateTime::from_millis(at),
            uuid: Uuid::from_bytes(uuid),
            bytes: Binary { subtype: BinarySubtype::Generic, bytes },
            money: decimal(money),
            clock: Timestamp { time, increment },
            doc: doc! { doc_key: doc_value },
            anything,
            maybe,
            missing,
            list,
            nested,
            set,
            map,
            boxed: Box::new(boxed),
            fixed,
            owner: Ref::new(owner),
            inner,
            inners,
            tier,
            maybe_tier,
            shape,
            payment,
            signal,
            loose,
            stamp: Stamp { by },
            name,
            short,
            score,
            ratio,
            slug,
            digits,
            code,
        },
    )
}

/// Ways to break a stored document, each against a declared constraint or type.
const BREAKS: usize = 14;

fn break_document(doc: &mut Document, which: usize) -> &'static str {
    match which {
        0 => {
            doc.insert("name", "abcdefghijk");
            "name longer than 10"
        }
        1 => {
            doc.insert("short", "");
            "short empty"
        }
        2 => {
            doc.insert("short", "ééééééé");
            "short longer than 5 characters"
        }
        3 => {
            doc.insert("score", 11);
            "score above 10"
        }
        4 => {
            doc.insert("ratio", -0.5);
            "ratio below 0"
        }
        5 => {
            doc.insert("slug", "Not A Slug");
            "slug not matching its pattern"
        }
        6 => {
            doc.insert("digits", vec![1, 2, 3, 4]);
            "digits with 4 items"
        }
        7 => {
            doc.insert("digits", vec![10]);
            "a digit above 9"
        }
        8 => {
            doc.insert("code", "xx-1");
            "code without its prefix"
        }
        9 => {
            doc.insert("tier", "gold");
            "an unknown tier"
        }
        10 => {
            doc.insert("int", "seven");
            "a string for an i32"
        }
        11 => {
            doc.remove("text");
            "text missing"
        }
        12 => {
            doc.insert("zzz", 1);
            "a field the model does not declare"
        }
        _ => {
            doc.insert("byte", 300);
            "a u8 above 255"
        }
    }
}

test!(random_values_pass_the_generated_validator, needs = [ReplicaSet]);
fn random_values_pass_the_generated_validator() -> TestResult {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let ctx = runtime.block_on(AsyncCtx::new());
    runtime.block_on(mongotic::schema::sync_schema::<Everything>(&ctx.engine, SyncOptions::new()))?;
    let collection = runtime.block_on(async {
        let options = mongotic_test_server::client_options_for(ctx.raw.topology, None).await.expect("a server");
        mongotic::mongodb::Client::with_options(options)
            .map(|client| client.database(ctx.raw.db.name()).collection::<Document>("everything"))
    })?;
    let mut runner = TestRunner::new(Config { cases: 64, failure_persistence: None, ..Config::default() });
    runner.run(&(everything(), 0..BREAKS), |(value, which)| {
        value.validate().map_err(|err| TestCaseError::fail(format!("the strategy made an invalid value: {err}")))?;
        let stored = mongotic::bson::to_document(&value).map_err(|err| TestCaseError::fail(err.to_string()))?;
        runtime
            .block_on(async { collection.insert_one(stored.clone()).await })
            .map_err(|err| TestCaseError::fail(format!("a valid value was refused: {err}\n{stored}")))?;
        let read = runtime
            .block_on(async { collection.find_one(doc! { "_id": value.id }).await })
            .map_err(|err| TestCaseError::fail(err.to_string()))?
            .ok_or_else(|| TestCaseError::fail("stored"))?;
        let back: Everything =
            mongotic::bson::from_document(read).map_err(|err| TestCaseError::fail(err.to_string()))?;
        prop_assert_eq!(&back, &value);

        let mut broken = stored;
        broken.insert("_id", ObjectId::new());
        let what = break_document(&mut broken, which);
        let result = runtime.block_on(async { collection.insert_one(broken.clone()).await });
        let code = match &result {
            Err(err) => match err.kind.as_ref() {
                mongotic::mongodb::error::ErrorKind::Write(mongotic::mongodb::error::WriteFailure::WriteError(
                    write,
                )) => Some(write.code),
                _ => None,
            },
            Ok(_) => None,
        };
        prop_assert_eq!(code, Some(121), "{} was not refused: {:?}\n{}", what, result, broken);
        Ok(())
    })?;
    Ok(())
}
