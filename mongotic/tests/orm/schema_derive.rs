//! The `$jsonSchema` the derives generate: the sample model of the guide, serde's names and
//! shapes, enums in each of serde's representations.

use std::collections::BTreeMap;

use mongotic::bson::{DateTime, Document, doc};
use mongotic::prelude::*;
use mongotic::schema::{BsonSchema, SchemaGenerator, json_schema};

fn schema_of<T: BsonSchema>() -> Document {
    SchemaGenerator::new().schema_of::<T>()
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, BsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Tier {
    Free,
    Pro,
    Enterprise,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Embedded)]
pub struct PostalAddress {
    pub city: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zip: Option<String>,
}

/// The sample model of the guide's chapter on schemas.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Model, garde::Validate)]
#[mongotic(collection = "customers", schema(additional = false))]
#[serde(rename_all = "camelCase")]
#[garde(allow_unvalidated)]
pub struct Customer {
    #[serde(rename = "_id")]
    pub id: Option<ObjectId>,
    #[garde(length(chars, min = 1, max = 80))]
    pub full_name: String,
    #[garde(pattern(r"^[^@ ]+@[^@ ]+$"))]
    pub email: String,
    #[garde(range(min = 0, max = 150))]
    pub age: Option<i32>,
    pub tier: Tier,
    pub address: PostalAddress,
    #[garde(length(max = 5), inner(length(min = 1)))]
    pub tags: Vec<String>,
    #[serde(default)]
    #[mongotic(version)]
    pub version: i64,
    pub created_at: DateTime,
}

pub fn customer_schema() -> Document {
    doc! {
        "bsonType": "object",
        "required": ["_id", "fullName", "email", "tier", "address", "tags", "createdAt"],
        "properties": {
            "_id": { "bsonType": "objectId" },
            "fullName": { "bsonType": "string", "minLength": 1_i64, "maxLength": 80_i64 },
            "email": { "bsonType": "string", "pattern": r"^[^@ ]+@[^@ ]+$" },
            "age": { "bsonType": ["int", "long", "null"], "minimum": 0, "maximum": 150 },
            "tier": { "bsonType": "string", "enum": ["free", "pro", "enterprise"] },
            "address": {
                "bsonType": "object",
                "required": ["city"],
                "properties": {
                    "city": { "bsonType": "string" },
                    "zip": { "bsonType": ["string", "null"] },
                },
            },
            "tags": {
                "bsonType": "array",
                "items": { "bsonType": "string", "minLength": 1_i64 },
                "maxItems": 5_i64,
            },
            "version": { "bsonType": ["int", "long"] },
            "createdAt": { "bsonType": "date" },
        },
        "additionalProperties": false,
    }
}

test!(the_sample_models_schema, needs = []);
fn the_sample_models_schema() {
    assert_eq!(json_schema::<Customer>(), customer_schema());
}

#[derive(Debug, Serialize, Deserialize, BsonSchema)]
#[serde(tag = "kind")]
pub enum Shape {
    Circle { radius: f64 },
    Square { side: f64 },
    Empty,
}

#[derive(Debug, Serialize, Deserialize, BsonSchema)]
pub enum Payment {
    Cash,
    Card(String),
    Transfer { iban: String },
}

#[derive(Debug, Serialize, Deserialize, BsonSchema)]
#[serde(tag = "t", content = "c")]
pub enum Event {
    Ping,
    Text(String),
}

#[derive(Debug, Serialize, Deserialize, BsonSchema)]
#[serde(untagged)]
pub enum Loose {
    Number(i64),
    Words(Vec<String>),
}

test!(enums_follow_serdes_representations, needs = []);
fn enums_follow_serdes_representations() {
    assert_eq!(
        schema_of::<Shape>(),
        doc! { "anyOf": [
            { "bsonType": "object", "required": ["kind", "radius"], "properties": { "kind": { "enum": ["Circle"] }, "radius": { "bsonType": ["double", "int", "long"] } } },
            { "bsonType": "object", "required": ["kind", "side"], "properties": { "kind": { "enum": ["Square"] }, "side": { "bsonType": ["double", "int", "long"] } } },
            { "bsonType": "object", "required": ["kind"], "properties": { "kind": { "enum": ["Empty"] } } },
        ] }
    );
    assert_eq!(
        schema_of::<Payment>(),
        doc! { "anyOf": [
            { "bsonType": "string", "enum": ["Cash"] },
            { "bsonType": "object", "required": ["Card"], "properties": { "Card": { "bsonType": "string" } }, "additionalProperties": false },
            { "bsonType": "object", "required": ["Transfer"], "properties": { "Transfer": {
                "bsonType": "object", "required": ["iban"], "properties": { "iban": { "bsonType": "string" } },
            } }, "additionalProperties": false },
        ] }
    );
    assert_eq!(
        schema_of::<Event>(),
        doc! { "anyOf": [
            { "bsonType": "object", "required": ["t"], "properties": { "t": { "enum": ["Ping"] } } },
            { "bsonType": "object", "required": ["t", "c"], "properties": { "t": { "enum": ["Text"] }, "c": { "bsonType": "string" } }, "additionalProperties": false },
        ] }
    );
    assert_eq!(
        schema_of::<Loose>(),
        doc! { "anyOf": [
            { "bsonType": ["int", "long"] },
            { "bsonType": "array", "items": { "bsonType": "string" } },
        ] }
    );
    assert_eq!(
        schema_of::<Option<Tier>>(),
        doc! { "bsonType": ["string", "null"], "enum": ["free", "pro", "enterprise", null] }
    );
}

#[derive(Debug, Serialize, Deserialize, Embedded)]
pub struct Audit {
    pub by: String,
    pub at: Option<DateTime>,
}

#[derive(Debug, Serialize, Deserialize, Model)]
#[mongotic(collection = "documents")]
#[serde(deny_unknown_fields)]
pub struct Record {
    #[serde(rename = "_id")]
    pub id: String,
    #[serde(flatten)]
    pub audit: Audit,
    #[serde(rename = "n", default)]
    pub count: u8,
    pub scores: BTreeMap<String, f64>,
    #[serde(skip)]
    #[allow(dead_code)]
    pub cache: Option<String>,
    #[mongotic(schema(bson_type = "date"))]
    #[serde(with = "mongotic::bson::serde_helpers::hex_string_as_object_id")]
    pub owner: String,
    #[mongotic(schema(any))]
    pub extra: Option<mongotic::bson::Bson>,
}

test!(serde_names_and_shapes, needs = []);
fn serde_names_and_shapes() {
    assert_eq!(
        json_schema::<Record>(),
        doc! {
            "bsonType": "object",
            "required": ["_id", "by", "scores", "owner"],
            "properties": {
                "_id": { "bsonType": "string" },
                "by": { "bsonType": "string" },
                "at": { "bsonType": ["date", "null"] },
                "n": { "bsonType": ["int", "long"], "minimum": 0, "maximum": 255 },
                "scores": { "bsonType": "object", "additionalProperties": { "bsonType": ["double", "int", "long"] } },
                "owner": { "bsonType": "date" },
                "extra": {},
            },
            "additionalProperties": false,
        }
    );
}
