//! Reading stored documents into `bson::Document`s, for documents without a model.
//!
//! Every document a backfill or an admin tool loads is read into a `bson::Document`, so this
//! runs once per loaded document. `bson`'s own reader (`Document::try_from(&RawDocument)`)
//! spends a good part of that on its iterator: each element's key is read as a C string and
//! checked with error context attached, whether or not anything goes wrong. This reader walks
//! the elements with the crate's byte-level reader (the one the diff uses) and builds the
//! values of the common types itself: strings, numbers, booleans, null, `ObjectId`s,
//! date-times, embedded documents and arrays.
//!
//! It gives exactly what `bson` gives (the tests compare them, on random documents and on
//! damaged bytes). For anything else (the other BSON types, text that is not UTF-8, framing
//! that does not hold, nesting past MongoDB's limit) it gives up on the whole document, and
//! `bson` reads it, errors included.

use bson::oid::ObjectId;
use bson::{Bson, DateTime, Document, RawDocument};

use crate::wire::{self, Element, MAX_DEPTH, kind};

/// A stored document as a `bson::Document`, as `Document::try_from(raw)` reads it.
pub(crate) fn document_from_raw(raw: &RawDocument) -> Result<Document, bson::de::Error> {
    match read_document(raw.as_bytes(), 1) {
        Some(document) => Ok(document),
        None => Document::try_from(raw).map_err(bson::de::Error::from),
    }
}

/// The document `bytes` (length, elements, NUL), `depth` levels down; `None` for anything
/// left to `bson`.
fn read_document(bytes: &[u8], depth: usize) -> Option<Document> {
    if depth > MAX_DEPTH {
        return None;
    }
    let mut document = Document::new();
    let mut elements = wire::elements(bytes);
    for element in elements.by_ref() {
        let element = element?;
        let key = std::str::from_utf8(element.key).ok()?;
        // As `bson` builds it: a repeated key keeps its first place and takes the last value.
        document.insert(key, read_value(element, depth)?);
    }
    elements.is_complete().then_some(document)
}

/// The array `bytes`: its values in order (its keys are not looked at beyond being text, as
/// `bson` reads an array).
fn read_array(bytes: &[u8], depth: usize) -> Option<Vec<Bson>> {
    if depth > MAX_DEPTH {
        return None;
    }
    let mut values = Vec::new();
    let mut elements = wire::elements(bytes);
    for element in elements.by_ref() {
        let element = element?;
        std::str::from_utf8(element.key).ok()?;
        values.push(read_value(element, depth)?);
    }
    elements.is_complete().then_some(values)
}

fn read_value(element: Element<'_>, depth: usize) -> Option<Bson> {
    let value = element.value;
    Some(match element.kind {
        kind::DOUBLE => Bson::Double(f64::from_le_bytes(value.try_into().ok()?)),
        kind::STRING => Bson::String(read_string(value)?),
        kind::DOCUMENT => Bson::Document(read_document(value, depth + 1)?),
        kind::ARRAY => Bson::Array(read_array(value, depth + 1)?),
        kind::OBJECT_ID => Bson::ObjectId(ObjectId::from_bytes(value.try_into().ok()?)),
        kind::BOOLEAN => match value {
            [0] => Bson::Boolean(false),
            [1] => Bson::Boolean(true),
            _ => return None,
        },
        kind::DATE_TIME => Bson::DateTime(DateTime::from_millis(i64::from_le_bytes(value.try_into().ok()?))),
        kind::NULL => Bson::Null,
        kind::INT32 => Bson::Int32(i32::from_le_bytes(value.try_into().ok()?)),
        kind::INT64 => Bson::Int64(i64::from_le_bytes(value.try_into().ok()?)),
        _ => return None,
    })
}

/// A string value: int32 length (counting the NUL), the UTF-8 bytes, a NUL.
fn read_string(value: &[u8]) -> Option<String> {
    let (length, rest) = value.split_first_chunk::<4>()?;
    let length = usize::try_from(i32::from_le_bytes(*length)).ok()?;
    let (text, nul) = rest.split_at_checked(length.checked_sub(1)?)?;
    if nul != [0] {
        return None;
    }
    std::str::from_utf8(text).ok().map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use bson::spec::BinarySubtype;
    use bson::{Binary, RawDocumentBuf, Regex, Timestamp, doc};
    use proptest::prelude::*;

    use super::*;

    /// Both readers on `bytes`: the same document (compared as bytes, so `NaN`s compare), or
    /// both refusing.
    fn same(bytes: &[u8]) -> Result<(), TestCaseError> {
        let Ok(raw) = RawDocument::from_bytes(bytes) else { return Ok(()) };
        let ours = document_from_raw(raw).map(|doc| bson::to_vec(&doc).ok());
        let theirs = Document::try_from(raw).map(|doc| bson::to_vec(&doc).ok());
        prop_assert_eq!(ours.is_ok(), theirs.is_ok(), "{:?}", bytes);
        if let (Ok(ours), Ok(theirs)) = (ours, theirs) {
            prop_assert_eq!(ours, theirs);
        }
        Ok(())
    }

    #[test]
    fn every_type_reads_as_bson_reads_it() {
        let document = doc! {
            "_id": ObjectId::new(), "double": 1.5, "nan": f64::NAN, "text": "héllo", "empty": "",
            "doc": { "a": 1, "b": { "c": [1, "x", null] } }, "array": [1_i64, 2.5, true, { "d": false }],
            "binary": Binary { subtype: BinarySubtype::Generic, bytes: vec![1, 2] },
            "undefined": Bson::Undefined, "true": true, "false": false, "date": DateTime::from_millis(-5),
            "null": null, "regex": Regex { pattern: "a+".into(), options: "i".into() },
            "code": Bson::JavaScriptCode("f()".into()), "symbol": Bson::Symbol("s".into()),
            "int32": -7_i32, "timestamp": Timestamp { time: 1, increment: 2 }, "int64": i64::MIN,
            "decimal": bson::Decimal128::from_bytes([3; 16]), "min": Bson::MinKey, "max": Bson::MaxKey,
            "dup": 1, "other": 2,
        };
        let bytes = bson::to_vec(&document).unwrap();
        same(&bytes).unwrap();
        // Only the common types are read here; a document with a rare one is left to `bson`.
        let common = doc! { "_id": 1_i64, "name": "x", "tags": ["a"], "at": DateTime::from_millis(0), "n": null };
        let raw = RawDocumentBuf::from_document(&common).unwrap();
        assert_eq!(read_document(raw.as_bytes(), 1), Some(common));
        let rare = RawDocumentBuf::from_document(&doc! { "r": Bson::MinKey }).unwrap();
        assert_eq!(read_document(rare.as_bytes(), 1), None);
    }

    #[test]
    fn a_repeated_key_reads_as_bson_reads_it() {
        let mut raw = RawDocumentBuf::new();
        raw.append("a", 1);
        raw.append("b", 2);
        raw.append("a", "three");
        same(raw.as_bytes()).unwrap();
        assert_eq!(document_from_raw(&raw).unwrap(), doc! { "a": "three", "b": 2 });
    }

    #[test]
    fn nesting_past_the_limit_is_left_to_bson() {
        let raw = wire::nested_document(MAX_DEPTH + 5, 1);
        assert_eq!(read_document(raw.as_bytes(), 1), None);
        same(raw.as_bytes()).unwrap();
    }

    fn value() -> impl Strategy<Value = Bson> {
        let leaf = prop_oneof![
            any::<i32>().prop_map(Bson::Int32),
            any::<i64>().prop_map(Bson::Int64),
            any::<f64>().prop_map(Bson::Double),
            any::<bool>().prop_map(Bson::Boolean),
            ".{0,8}".prop_map(Bson::String),
            Just(Bson::Null),
            any::<[u8; 12]>().prop_map(|bytes| Bson::ObjectId(ObjectId::from_bytes(bytes))),
            any::<i64>().prop_map(|millis| Bson::DateTime(DateTime::from_millis(millis))),
            proptest::collection::vec(any::<u8>(), 0..4)
                .prop_map(|bytes| Bson::Binary(Binary { subtype: BinarySubtype::Generic, bytes })),
            Just(Bson::MaxKey),
        ];
        leaf.prop_recursive(3, 32, 5, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..5).prop_map(Bson::Array),
                proptest::collection::vec(("[a-z]{0,4}", inner), 0..5)
                    .prop_map(|fields| Bson::Document(fields.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #[test]
        fn random_documents_read_as_bson_reads_them(
            fields in proptest::collection::vec(("[a-z_é]{0,5}", value()), 0..8)
        ) {
            let document: Document = fields.into_iter().collect();
            same(&bson::to_vec(&document).unwrap())?;
        }

        /// Damaged bytes (a byte changed anywhere, lengths and types included): read the same,
        /// or refused by both.
        #[test]
        fn damaged_documents_read_as_bson_reads_them(
            fields in proptest::collection::vec(("[a-z]{0,4}", value()), 1..6),
            at in any::<prop::sample::Index>(),
            byte in any::<u8>(),
        ) {
            let document: Document = fields.into_iter().collect();
            let mut bytes = bson::to_vec(&document).unwrap();
            let at = at.index(bytes.len());
            bytes[at] = byte;
            same(&bytes)?;
        }
    }
}
