//! What the derives' generated schemas are assembled from. Not part of the API.

use std::marker::PhantomData;

use bson::{Bson, Document, doc};

use super::json::{BsonSchema, SchemaGenerator, bson_types};

/// The generated schema of model `M`, as a function pointer for its `ModelMeta`.
pub fn model_schema<M: BsonSchema>() -> Document {
    SchemaGenerator::new().schema_of::<M>()
}

/// Picks a field type's schema: its `BsonSchema` when it has one, any value otherwise.
pub struct Probe<T: ?Sized>(PhantomData<fn() -> Box<T>>);

impl<T: ?Sized> Probe<T> {
    #[allow(clippy::new_without_default)]
    pub fn new() -> Self {
        Probe(PhantomData)
    }
}

/// The schema of a type that has one.
pub trait ViaBsonSchema {
    fn __mongotic_schema(&self, generator: &mut SchemaGenerator) -> (Document, bool);
}

impl<T: BsonSchema + ?Sized> ViaBsonSchema for Probe<T> {
    fn __mongotic_schema(&self, generator: &mut SchemaGenerator) -> (Document, bool) {
        (generator.schema_of::<T>(), T::optional())
    }
}

/// Any value, for a type without a schema.
pub trait ViaAnyValue {
    #[deprecated(note = "this field's type does not implement mongotic::schema::BsonSchema, so the generated \
                         validator accepts any value here: implement it (#[derive(BsonSchema)] on the type), or \
                         mark the field #[mongotic(schema(any))] to say so")]
    fn __mongotic_schema(&self, generator: &mut SchemaGenerator) -> (Document, bool);
}

impl<T: ?Sized> ViaAnyValue for &Probe<T> {
    fn __mongotic_schema(&self, _: &mut SchemaGenerator) -> (Document, bool) {
        (Document::new(), false)
    }
}

/// Any value.
pub fn any() -> Document {
    Document::new()
}

/// The BSON types listed in `types` (comma separated).
pub fn bson_type(types: &str) -> Document {
    let listed: Vec<&str> = types.split(',').map(str::trim).filter(|name| !name.is_empty()).collect();
    match listed.as_slice() {
        [one] => doc! { "bsonType": *one },
        _ => doc! { "bsonType": listed },
    }
}

/// Exactly the string `value`.
pub fn constant(value: &str) -> Document {
    doc! { "enum": [value] }
}

/// Null, as serde stores a unit.
pub fn null() -> Document {
    doc! { "bsonType": "null" }
}

/// An array of exactly these items, in order (a tuple).
pub fn tuple(items: Vec<Document>) -> Document {
    let length = items.len() as i64;
    doc! { "bsonType": "array", "items": items, "minItems": length, "maxItems": length }
}

/// An object schema, built field by field.
#[derive(Default)]
pub struct ObjectSchema {
    properties: Document,
    required: Vec<String>,
    /// A flattened map's schema for the fields not listed.
    additional: Option<Document>,
    /// A flattened value whose fields are unknown: any field is allowed.
    open: bool,
}

impl ObjectSchema {
    pub fn new() -> Self {
        ObjectSchema::default()
    }

    pub fn property(&mut self, name: &str, schema: Document, required: bool) {
        if required && !self.required.iter().any(|known| known == name) {
            self.required.push(name.to_owned());
        }
        self.properties.insert(name, schema);
    }

    /// The fields of a flattened value (`#[serde(flatten)]`) join this object's; an optional
    /// one's fields are not required.
    pub fn flatten(&mut self, schema: Document, optional: bool) {
        let optional = optional || bson_types(&schema).contains(&"null");
        let properties = schema.get_document("properties").ok();
        for (name, property) in properties.into_iter().flatten() {
            self.properties.insert(name.clone(), property.clone());
        }
        if !optional && let Ok(required) = schema.get_array("required") {
            for name in required.iter().filter_map(Bson::as_str) {
                if !self.required.iter().any(|known| known == name) {
                    self.required.push(name.to_owned());
                }
            }
        }
        match schema.get("additionalProperties") {
            // A map: its values' schema holds for the fields this object does not list.
            Some(Bson::Document(values)) => self.additional = Some(values.clone()),
            // A struct: its fields are listed now.
            _ if properties.is_some() => {}
            // Nothing is known of its fields (any value, a map of anything): allow any field.
            _ => self.open = true,
        }
    }

    /// The schema; `additional` says whether fields not listed are allowed.
    pub fn finish(self, additional: bool) -> Document {
        let mut schema = doc! { "bsonType": "object" };
        if !self.required.is_empty() {
            schema.insert("required", self.required);
        }
        if !self.properties.is_empty() {
            schema.insert("properties", self.properties);
        }
        match self.additional {
            Some(values) => {
                schema.insert("additionalProperties", values);
            }
            None if !additional && !self.open => {
                schema.insert("additionalProperties", false);
            }
            None => {}
        }
        schema
    }
}

/// The schema of an enum: its unit variants stored as strings, and its other variants.
#[derive(Default)]
pub struct EnumSchema {
    units: Vec<String>,
    variants: Vec<Document>,
}

impl EnumSchema {
    pub fn new() -> Self {
        EnumSchema::default()
    }

    /// A unit variant of an externally tagged enum: the string `name`.
    pub fn unit(&mut self, name: &str) {
        self.units.push(name.to_owned());
    }

    pub fn variant(&mut self, schema: Document) {
        self.variants.push(schema);
    }

    pub fn finish(self) -> Document {
        let mut alternatives = Vec::new();
        if !self.units.is_empty() {
            alternatives.push(doc! { "bsonType": "string", "enum": self.units });
        }
        alternatives.extend(self.variants);
        if alternatives.iter().any(Document::is_empty) {
            return Document::new();
        }
        match alternatives.len() {
            0 => Document::new(),
            1 => alternatives.into_iter().next().unwrap_or_default(),
            _ => doc! { "anyOf": alternatives },
        }
    }
}

/// An externally tagged variant with content: `{name: content}`.
pub fn external(name: &str, content: Document) -> Document {
    doc! {
        "bsonType": "object",
        "required": [name],
        "properties": { name: content },
        "additionalProperties": false,
    }
}

/// An internally tagged variant: `{tag: name, ..fields of content}`.
pub fn tagged(tag: &str, name: &str, content: Option<Document>) -> Document {
    let mut object = ObjectSchema::new();
    object.property(tag, constant(name), true);
    if let Some(content) = content {
        object.flatten(content, false);
    }
    object.finish(true)
}

/// The `#[serde(other)]` variant of a tagged enum: any tag.
pub fn tagged_any(tag: &str) -> Document {
    doc! { "bsonType": "object", "required": [tag], "properties": { tag: { "bsonType": "string" } } }
}

/// An adjacently tagged variant: `{tag: name, content: content}`.
pub fn adjacent(tag: &str, name: &str, content_key: &str, content: Document) -> Document {
    let mut object = ObjectSchema::new();
    object.property(tag, constant(name), true);
    object.property(content_key, content, true);
    object.finish(false)
}

/// How garde's `length` counts.
#[derive(Clone, Copy)]
pub enum LengthUnit {
    /// UTF-8 bytes of a string (garde's `simple` and `bytes`), items of a collection.
    Bytes,
    /// Characters (code points), as `$jsonSchema` counts them.
    Chars,
    /// Grapheme clusters.
    Graphemes,
    /// UTF-16 code units.
    Utf16,
}

/// garde's `length(min, max)`: `minLength`/`maxLength` on strings (per `unit`, never stricter
/// than garde), `minItems`/`maxItems` on arrays, `minProperties`/`maxProperties` on maps.
pub fn length(node: &mut Document, min: Option<u64>, max: Option<u64>, unit: LengthUnit) {
    let types: Vec<String> = bson_types(node).into_iter().map(str::to_owned).collect();
    let count = |value: u64| Bson::Int64(i64::try_from(value).unwrap_or(i64::MAX));
    for bson_type in types {
        match bson_type.as_str() {
            "string" => {
                // A character is 1 to 4 UTF-8 bytes and 1 or 2 UTF-16 units, and at least one
                // character per grapheme: the bounds below hold for every string garde accepts.
                let (min, max) = match unit {
                    LengthUnit::Chars => (min, max),
                    LengthUnit::Bytes => (min.map(|min| min.div_ceil(4)), max),
                    LengthUnit::Utf16 => (min.map(|min| min.div_ceil(2)), max),
                    LengthUnit::Graphemes => (min, None),
                };
                if let Some(min) = min.filter(|min| *min > 0) {
                    node.insert("minLength", count(min));
                }
                if let Some(max) = max {
                    node.insert("maxLength", count(max));
                }
            }
            "array" => {
                if let Some(min) = min.filter(|min| *min > 0) {
                    node.insert("minItems", count(min));
                }
                if let Some(max) = max {
                    node.insert("maxItems", count(max));
                }
            }
            "object" if node.contains_key("additionalProperties") && !node.contains_key("properties") => {
                if let Some(min) = min.filter(|min| *min > 0) {
                    node.insert("minProperties", count(min));
                }
                if let Some(max) = max {
                    node.insert("maxProperties", count(max));
                }
            }
            _ => {}
        }
    }
}

/// A bound of garde's `range`, as a BSON number.
pub trait Bound {
    fn to_bound(&self) -> Option<Bson>;
}

macro_rules! bounds {
    ($($ty:ty => |$value:ident| $bson:expr),* $(,)?) => {
        $(impl Bound for $ty {
            fn to_bound(&self) -> Option<Bson> {
                let $value = *self;
                $bson
            }
        })*
    };
}

bounds! {
    i8 => |v| Some(Bson::Int32(i32::from(v))),
    i16 => |v| Some(Bson::Int32(i32::from(v))),
    i32 => |v| Some(Bson::Int32(v)),
    i64 => |v| Some(Bson::Int64(v)),
    isize => |v| Some(Bson::Int64(v as i64)),
    u8 => |v| Some(Bson::Int32(i32::from(v))),
    u16 => |v| Some(Bson::Int32(i32::from(v))),
    u32 => |v| Some(Bson::Int64(i64::from(v))),
    u64 => |v| i64::try_from(v).ok().map(Bson::Int64),
    usize => |v| i64::try_from(v).ok().map(Bson::Int64),
    f32 => |v| Some(Bson::Double(f64::from(v))),
    f64 => |v| Some(Bson::Double(v)),
}

pub fn bound<T: Bound>(value: &T) -> Option<Bson> {
    value.to_bound()
}

/// garde's `range(min, max)`: `minimum`/`maximum` on numbers.
pub fn range(node: &mut Document, min: Option<Option<Bson>>, max: Option<Option<Bson>>) {
    let numeric = bson_types(node).iter().any(|name| matches!(*name, "int" | "long" | "double" | "decimal" | "number"));
    if !numeric {
        return;
    }
    if let Some(Some(min)) = min {
        node.insert("minimum", min);
    }
    if let Some(Some(max)) = max {
        node.insert("maximum", max);
    }
}

/// garde's `pattern("...")` on strings (the server reads it as a PCRE pattern).
pub fn pattern(node: &mut Document, pattern: &str) {
    if !bson_types(node).contains(&"string") {
        return;
    }
    match node.get("pattern") {
        // Two patterns must both match: the second one goes in an `allOf`.
        Some(_) => {
            let extra = doc! { "pattern": pattern };
            match node.get_array_mut("allOf") {
                Ok(all) => all.push(Bson::Document(extra)),
                Err(_) => {
                    node.insert("allOf", vec![extra]);
                }
            }
        }
        None => {
            node.insert("pattern", pattern);
        }
    }
}

/// Where garde's `prefix`, `suffix` and `contains` look for their text.
#[derive(Clone, Copy)]
pub enum Affix {
    Prefix,
    Suffix,
    Contains,
}

/// garde's `prefix`, `suffix` or `contains` of a literal, as an escaped pattern.
pub fn affix(node: &mut Document, affix: Affix, text: &str) {
    let mut escaped = String::with_capacity(text.len() + 2);
    if matches!(affix, Affix::Prefix) {
        escaped.push('^');
    }
    for ch in text.chars() {
        if ch.is_ascii_punctuation() {
            escaped.push('\\');
        }
        escaped.push(ch);
    }
    if matches!(affix, Affix::Suffix) {
        // `$` also matches before a final newline: looser than garde, never stricter.
        escaped.push('$');
    }
    pattern(node, &escaped);
}

/// garde's `required`: the value is present and not null.
pub fn not_null(node: &mut Document) {
    if let Some(Bson::Array(types)) = node.get_mut("bsonType") {
        types.retain(|value| value.as_str() != Some("null"));
        if let [only] = types.as_slice() {
            let only = only.clone();
            node.insert("bsonType", only);
        }
    }
    if let Some(Bson::Array(values)) = node.get_mut("enum") {
        values.retain(|value| value != &Bson::Null);
    }
}

/// The node garde's `inner(...)` rules apply to: the items of an array, the values of a map.
pub fn inner(node: &mut Document) -> Option<&mut Document> {
    let types = bson_types(node);
    let key = if types.contains(&"array") {
        "items"
    } else if types.contains(&"object") && !node.contains_key("properties") {
        "additionalProperties"
    } else {
        return None;
    };
    node.get_document_mut(key).ok()
}
