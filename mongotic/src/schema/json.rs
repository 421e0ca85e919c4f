//! `$jsonSchema` from Rust types: the [`BsonSchema`] trait, its implementations for the types
//! models store, and the pieces the derives assemble object and enum schemas from.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::sync::Arc;

use bson::oid::ObjectId;
use bson::{Binary, Bson, DateTime, Decimal128, Document, Timestamp, Uuid, doc};

use crate::Model;
use crate::relation::Ref;

/// Past this many nested schemas (a recursive type), a value is described as any value.
const MAX_DEPTH: usize = 32;

/// A type whose stored BSON form has a `$jsonSchema`.
///
/// Implemented for the types models store: `String` and `char`, `bool`, the integers, `f32`
/// and `f64`, [`ObjectId`], [`DateTime`], [`Timestamp`], [`Uuid`], [`Binary`], [`Decimal128`],
/// [`Document`] and [`Bson`] (any value), `Option<T>`, `Box<T>` and `Arc<T>`, `Vec<T>` and the
/// other sequences and sets, maps with string keys, and [`Ref<T>`] (the referenced model's
/// id). `#[derive(Embedded)]` and `#[derive(Model)]` implement it for their structs;
/// `#[derive(BsonSchema)]` for any other struct or enum (following serde's representation of
/// enums); a type with a stored form of its own implements it by hand.
///
/// Numbers, as serde reads them: every integer type accepts both BSON integer types (`int` and
/// `long`), with its own range as `minimum`/`maximum` when it is narrower than 64 bits, and no
/// double; `f32` and `f64` accept `double`, `int` and `long`.
///
/// ```
/// use mongotic::bson::{Document, doc};
/// use mongotic::schema::{BsonSchema, SchemaGenerator};
///
/// /// Stored as a lowercase hexadecimal string.
/// struct Color(u32);
///
/// impl BsonSchema for Color {
///     fn bson_schema(_: &mut SchemaGenerator) -> Document {
///         doc! { "bsonType": "string", "pattern": "^[0-9a-f]{6}$" }
///     }
/// }
///
/// let schema = SchemaGenerator::new().schema_of::<Option<Color>>();
/// assert_eq!(schema, doc! { "bsonType": ["string", "null"], "pattern": "^[0-9a-f]{6}$" });
/// ```
pub trait BsonSchema {
    /// The schema of a stored value of this type.
    fn bson_schema(generator: &mut SchemaGenerator) -> Document;

    /// `true` when a field of this type may be missing from a document (`Option`).
    fn optional() -> bool {
        false
    }
}

/// Builds schemas, cutting recursive types short: past 32 nested schemas a value is described
/// as any value.
///
/// ```
/// use mongotic::schema::SchemaGenerator;
/// let schema = SchemaGenerator::new().schema_of::<Vec<String>>();
/// assert_eq!(schema, mongotic::bson::doc! { "bsonType": "array", "items": { "bsonType": "string" } });
/// ```
#[derive(Debug, Default)]
pub struct SchemaGenerator {
    depth: usize,
}

impl SchemaGenerator {
    /// A generator at the top of a document.
    ///
    /// ```
    /// let generator = mongotic::schema::SchemaGenerator::new();
    /// # let _ = generator;
    /// ```
    pub fn new() -> Self {
        SchemaGenerator { depth: 0 }
    }

    /// The schema of `T`, one level down.
    ///
    /// ```
    /// use mongotic::schema::SchemaGenerator;
    /// assert_eq!(SchemaGenerator::new().schema_of::<bool>(), mongotic::bson::doc! { "bsonType": "bool" });
    /// ```
    pub fn schema_of<T: BsonSchema + ?Sized>(&mut self) -> Document {
        if self.depth >= MAX_DEPTH {
            return Document::new();
        }
        self.depth += 1;
        let schema = T::bson_schema(self);
        self.depth -= 1;
        schema
    }
}

/// The generated `$jsonSchema` of model `M` (what `sync_schema` applies as its validator).
///
/// ```
/// use mongotic::prelude::*;
/// use mongotic::bson::doc;
///
/// #[derive(Debug, Serialize, Deserialize, Model)]
/// #[mongotic(collection = "notes")]
/// struct Note { #[serde(rename = "_id")] id: Option<ObjectId>, text: String, pinned: Option<bool> }
///
/// assert_eq!(
///     mongotic::schema::json_schema::<Note>(),
///     doc! {
///         "bsonType": "object",
///         "required": ["_id", "text"],
///         "properties": {
///             "_id": { "bsonType": "objectId" },
///             "text": { "bsonType": "string" },
///             "pinned": { "bsonType": ["bool", "null"] },
///         },
///     }
/// );
/// ```
pub fn json_schema<M: Model>() -> Document {
    (M::meta().schema)()
}

fn typed(bson_type: &str) -> Document {
    doc! { "bsonType": bson_type }
}

fn integer(range: Option<(i64, i64)>) -> Document {
    let mut schema = doc! { "bsonType": ["int", "long"] };
    if let Some((minimum, maximum)) = range {
        schema.insert("minimum", number(minimum));
        schema.insert("maximum", number(maximum));
    }
    schema
}

/// An integer bound as the narrowest BSON integer that holds it.
fn number(value: i64) -> Bson {
    match i32::try_from(value) {
        Ok(small) => Bson::Int32(small),
        Err(_) => Bson::Int64(value),
    }
}

macro_rules! simple {
    ($($ty:ty => $schema:expr),* $(,)?) => {
        $(impl BsonSchema for $ty {
            fn bson_schema(_: &mut SchemaGenerator) -> Document {
                $schema
            }
        })*
    };
}

simple! {
    String => typed("string"),
    str => typed("string"),
    char => doc! { "bsonType": "string", "minLength": 1, "maxLength": 1 },
    bool => typed("bool"),
    i8 => integer(Some((i64::from(i8::MIN), i64::from(i8::MAX)))),
    i16 => integer(Some((i64::from(i16::MIN), i64::from(i16::MAX)))),
    i32 => integer(Some((i64::from(i32::MIN), i64::from(i32::MAX)))),
    i64 => integer(None),
    isize => integer(None),
    u8 => integer(Some((0, i64::from(u8::MAX)))),
    u16 => integer(Some((0, i64::from(u16::MAX)))),
    u32 => integer(Some((0, i64::from(u32::MAX)))),
    u64 => integer(Some((0, i64::MAX))),
    usize => integer(Some((0, i64::MAX))),
    f32 => doc! { "bsonType": ["double", "int", "long"] },
    f64 => doc! { "bsonType": ["double", "int", "long"] },
    ObjectId => typed("objectId"),
    DateTime => typed("date"),
    Timestamp => typed("timestamp"),
    Uuid => typed("binData"),
    Binary => typed("binData"),
    Decimal128 => typed("decimal"),
    Document => typed("object"),
    Bson => Document::new(),
}

impl<T: BsonSchema> BsonSchema for Option<T> {
    fn bson_schema(generator: &mut SchemaGenerator) -> Document {
        nullable(generator.schema_of::<T>())
    }

    fn optional() -> bool {
        true
    }
}

impl<T: BsonSchema + ?Sized> BsonSchema for Box<T> {
    fn bson_schema(generator: &mut SchemaGenerator) -> Document {
        generator.schema_of::<T>()
    }

    fn optional() -> bool {
        T::optional()
    }
}

impl<T: BsonSchema + ?Sized> BsonSchema for Arc<T> {
    fn bson_schema(generator: &mut SchemaGenerator) -> Document {
        generator.schema_of::<T>()
    }

    fn optional() -> bool {
        T::optional()
    }
}

fn array_of<T: BsonSchema>(generator: &mut SchemaGenerator) -> Document {
    let items = generator.schema_of::<T>();
    if items.is_empty() {
        typed("array")
    } else {
        doc! { "bsonType": "array", "items": items }
    }
}

macro_rules! sequence {
    ($($ty:ident),*) => {
        $(impl<T: BsonSchema> BsonSchema for $ty<T> {
            fn bson_schema(generator: &mut SchemaGenerator) -> Document {
                array_of::<T>(generator)
            }
        })*
    };
}

sequence!(Vec, VecDeque, BTreeSet);

impl<T: BsonSchema, S> BsonSchema for HashSet<T, S> {
    fn bson_schema(generator: &mut SchemaGenerator) -> Document {
        array_of::<T>(generator)
    }
}

impl<T: BsonSchema> BsonSchema for [T] {
    fn bson_schema(generator: &mut SchemaGenerator) -> Document {
        array_of::<T>(generator)
    }
}

impl<T: BsonSchema, const N: usize> BsonSchema for [T; N] {
    fn bson_schema(generator: &mut SchemaGenerator) -> Document {
        let mut schema = array_of::<T>(generator);
        let length = number(i64::try_from(N).unwrap_or(i64::MAX));
        schema.insert("minItems", length.clone());
        schema.insert("maxItems", length);
        schema
    }
}

fn map_of<V: BsonSchema>(generator: &mut SchemaGenerator) -> Document {
    let values = generator.schema_of::<V>();
    if values.is_empty() {
        typed("object")
    } else {
        doc! { "bsonType": "object", "additionalProperties": values }
    }
}

impl<K, V: BsonSchema, S> BsonSchema for HashMap<K, V, S> {
    fn bson_schema(generator: &mut SchemaGenerator) -> Document {
        map_of::<V>(generator)
    }
}

impl<K, V: BsonSchema> BsonSchema for BTreeMap<K, V> {
    fn bson_schema(generator: &mut SchemaGenerator) -> Document {
        map_of::<V>(generator)
    }
}

impl<T: Model> BsonSchema for Ref<T>
where
    T::Id: BsonSchema,
{
    fn bson_schema(generator: &mut SchemaGenerator) -> Document {
        generator.schema_of::<T::Id>()
    }
}

/// `schema` that also accepts null: `null` joins its BSON types (and its `enum`, if any), or
/// the schema becomes an `anyOf` of itself and null.
pub(crate) fn nullable(mut schema: Document) -> Document {
    if schema.is_empty() {
        return schema;
    }
    if let Some(Bson::Array(values)) = schema.get_mut("enum")
        && !values.contains(&Bson::Null)
    {
        values.push(Bson::Null);
    }
    let has_enum = schema.contains_key("enum");
    match schema.get_mut("bsonType") {
        Some(Bson::String(single)) => {
            if single != "null" {
                let single = std::mem::take(single);
                schema.insert("bsonType", vec![Bson::String(single), Bson::String("null".into())]);
            }
            schema
        }
        Some(Bson::Array(types)) => {
            if !types.iter().any(|value| value.as_str() == Some("null")) {
                types.push(Bson::String("null".into()));
            }
            schema
        }
        _ if has_enum => schema,
        _ => doc! { "anyOf": [schema, { "bsonType": "null" }] },
    }
}

/// The BSON types a schema node accepts, when it names them.
pub(crate) fn bson_types(node: &Document) -> Vec<&str> {
    match node.get("bsonType") {
        Some(Bson::String(single)) => vec![single.as_str()],
        Some(Bson::Array(types)) => types.iter().filter_map(Bson::as_str).collect(),
        _ => Vec::new(),
    }
}
