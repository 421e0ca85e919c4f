//! Serializing entities and documents without a model to BSON in wire form, for the session.
//!
//! Every flush serializes the entities it writes, and the first change of a loaded entity
//! serializes its baseline, so this runs once or twice per written document. `bson`'s own
//! serializer spends most of that time on two things: it grows its buffer from empty, and it
//! writes an `ObjectId` by formatting it as hex text and parsing the text back. This serializer
//! writes into a buffer kept by the thread, and turns that text into the 12 bytes with a
//! plain table-free decoder.
//!
//! An entity's `_id`, when it is an `ObjectId`, is not serialized at all: the entity's id is
//! written instead (see [`entity_to_raw`]), saving the hex text round trip on the one
//! `ObjectId` every document has.
//!
//! It produces exactly the bytes `bson::to_raw_document_buf` does (the tests compare them byte
//! for byte) for what models are made of: structs, maps, sequences, tuples, options, enums,
//! strings, numbers, booleans, bytes, `ObjectId`s and `DateTime`s. For anything else (the
//! other special BSON values: UUIDs, binaries with a subtype, raw documents, timestamps,
//! decimals, regexes, values that must be human-readable…) it gives up on that one value and
//! `bson` serializes it, so every type serializes as `bson` would, errors included.

use std::any::Any;
use std::cell::Cell;
use std::fmt;

use bson::RawDocumentBuf;
use bson::oid::ObjectId;
use serde::ser::{self, Serialize, SerializeMap};

use crate::Model;

use crate::wire::{MAX_DEPTH, kind as element};

/// `bson` refuses binaries longer than its maximum document size.
const MAX_BINARY_LEN: usize = 16 * 1024 * 1024;

/// A thread's buffer is kept for the next document only up to this size, so one huge
/// document does not pin its memory for the thread's life.
const MAX_KEPT_BUFFER: usize = 1024 * 1024;

thread_local! {
    static BUFFER: Cell<Vec<u8>> = const { Cell::new(Vec::new()) };
    /// How many documents and arrays the value being serialized is inside, to refuse one that
    /// nests deeper than MongoDB allows before the recursion goes on (see [`MAX_DEPTH`]).
    static DEPTH: Cell<usize> = const { Cell::new(0) };
}

/// Enters a document or array of the value being serialized.
fn enter() -> Result<()> {
    let depth = DEPTH.get() + 1;
    if depth > MAX_DEPTH {
        let message =
            format!("the value nests documents and arrays more than {MAX_DEPTH} levels deep (MongoDB's limit)");
        return Err(Error::Bson(<bson::ser::Error as ser::Error>::custom(message)));
    }
    DEPTH.set(depth);
    Ok(())
}

/// Leaves the document or array last entered.
fn leave() {
    DEPTH.set(DEPTH.get().saturating_sub(1));
}

/// An entity serialized as a BSON document, byte for byte what `bson::to_raw_document_buf`
/// gives (and failing where it fails). An `ObjectId` `_id` is written from the entity's id
/// rather than serialized: the field the model serializes as `_id` is its id field (the derive
/// makes it so), so the bytes are the same, without `ObjectId`'s detour through hex text.
pub(crate) fn entity_to_raw<M: Model>(entity: &M) -> Result<RawDocumentBuf, bson::ser::Error> {
    let id = entity.id().and_then(|id| (id as &dyn Any).downcast_ref::<ObjectId>()).copied();
    encode(entity, id)
}

/// A document without a model serialized, byte for byte what `bson::to_raw_document_buf` gives
/// (and failing where it fails): every flush of a document entity serializes it, and `bson`'s
/// serializer costs about twice this one. An `ObjectId` `_id` is written from its bytes, as for
/// an entity.
///
/// The common types (strings, numbers, booleans, null, `ObjectId`s, date-times, embedded
/// documents and arrays) are written straight from the `bson::Bson` values, without serde;
/// a document holding anything else goes through [`encode`] whole.
pub(crate) fn document_to_raw(document: &bson::Document) -> Result<RawDocumentBuf, bson::ser::Error> {
    let mut buffer = BUFFER.take();
    buffer.clear();
    let written = match write_document(&mut buffer, document, 1) {
        Ok(()) => Some(RawDocumentBuf::from_bytes(buffer.clone())),
        Err(_) => None,
    };
    if buffer.capacity() <= MAX_KEPT_BUFFER {
        BUFFER.set(buffer);
    }
    match written {
        Some(Ok(raw)) => Ok(raw),
        _ => {
            let id = match document.get("_id") {
                Some(bson::Bson::ObjectId(id)) => Some(*id),
                _ => None,
            };
            encode(document, id)
        }
    }
}

/// `document` (`depth` levels down) in wire form; [`Error::Fallback`] for a value of another
/// type than the common ones, or anything `bson` would refuse.
fn write_document(out: &mut Vec<u8>, document: &bson::Document, depth: usize) -> Result<()> {
    if depth > MAX_DEPTH {
        return Err(Error::Fallback);
    }
    let at = out.len();
    write_i32(out, 0);
    for (key, value) in document {
        let kind_at = out.len();
        out.push(0);
        write_cstring(out, key)?;
        out[kind_at] = write_value(out, value, depth)?;
    }
    close(out, at)
}

/// A value's bytes; returns its BSON type.
fn write_value(out: &mut Vec<u8>, value: &bson::Bson, depth: usize) -> Result<u8> {
    use bson::Bson;
    Ok(match value {
        Bson::Double(number) => {
            out.extend_from_slice(&number.to_le_bytes());
            element::DOUBLE
        }
        Bson::String(text) => {
            write_string(out, text)?;
            element::STRING
        }
        Bson::Document(inner) => {
            write_document(out, inner, depth + 1)?;
            element::DOCUMENT
        }
        Bson::Array(items) => {
            if depth + 1 > MAX_DEPTH {
                return Err(Error::Fallback);
            }
            let at = out.len();
            write_i32(out, 0);
            for (index, item) in items.iter().enumerate() {
                let kind_at = out.len();
                out.push(0);
                write_index(out, index);
                out[kind_at] = write_value(out, item, depth + 1)?;
            }
            close(out, at)?;
            element::ARRAY
        }
        Bson::Boolean(flag) => {
            out.push(u8::from(*flag));
            element::BOOLEAN
        }
        Bson::Null => element::NULL,
        Bson::Int32(number) => {
            write_i32(out, *number);
            element::INT32
        }
        Bson::Int64(number) => {
            out.extend_from_slice(&number.to_le_bytes());
            element::INT64
        }
        Bson::ObjectId(id) => {
            out.extend_from_slice(&id.bytes());
            element::OBJECT_ID
        }
        Bson::DateTime(at) => {
            out.extend_from_slice(&at.timestamp_millis().to_le_bytes());
            element::DATE_TIME
        }
        _ => return Err(Error::Fallback),
    })
}

/// Ends the document or array started at `at` (its NUL, then its length).
fn close(out: &mut Vec<u8>, at: usize) -> Result<()> {
    if crate::wire::end(out, at) { Ok(()) } else { Err(Error::Fallback) }
}

/// Serializes `value` as `bson::to_raw_document_buf` does; `id` is the `ObjectId` to write for
/// a top-level `_id` field that serializes as one.
fn encode<T: Serialize>(value: &T, id: Option<ObjectId>) -> Result<RawDocumentBuf, bson::ser::Error> {
    let mut buffer = BUFFER.take();
    buffer.clear();
    // A failure leaves documents unclosed: every serialization starts from the top.
    DEPTH.set(0);
    let written = value.serialize(Top { out: &mut buffer, id });
    // Copied out at its exact size: the document may be kept (as a baseline) a long time.
    let result = match written {
        Ok(()) => RawDocumentBuf::from_bytes(buffer.clone()).map_err(|err| ser::Error::custom(err.to_string())),
        Err(Error::Bson(err)) => Err(err),
        Err(Error::Fallback | Error::KnownId) => bson::to_raw_document_buf(value),
    };
    if buffer.capacity() <= MAX_KEPT_BUFFER {
        BUFFER.set(buffer);
    }
    result
}

/// Why a value was not written.
#[derive(Debug)]
enum Error {
    /// This serializer does not write it (or `bson` would fail on it): `bson` serializes it.
    Fallback,
    /// `bson` serialized it, and failed.
    Bson(bson::ser::Error),
    /// The `_id` is an `ObjectId` known beforehand: it is written without serializing it.
    /// (Returned as soon as the value starts serializing as an `ObjectId`, before the value
    /// formats itself as text.)
    KnownId,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Fallback => f.write_str("left to bson"),
            Error::KnownId => f.write_str("a known ObjectId"),
            Error::Bson(err) => err.fmt(f),
        }
    }
}

impl std::error::Error for Error {}

impl ser::Error for Error {
    /// A `Serialize` impl that fails: `bson` runs it again and reports the failure its way.
    fn custom<T: fmt::Display>(_: T) -> Self {
        Error::Fallback
    }
}

type Result<T, E = Error> = std::result::Result<T, E>;

fn write_i32(out: &mut Vec<u8>, value: i32) {
    out.extend_from_slice(&value.to_le_bytes());
}

/// A key: its bytes and a NUL (`bson` refuses keys holding a NUL).
fn write_cstring(out: &mut Vec<u8>, text: &str) -> Result<()> {
    // A plain loop: keys are short, and a `memchr` call costs more than it saves on them.
    if text.bytes().any(|byte| byte == 0) {
        return Err(Error::Fallback);
    }
    out.extend_from_slice(text.as_bytes());
    out.push(0);
    Ok(())
}

/// A string value: its length with the NUL, its bytes and a NUL.
fn write_string(out: &mut Vec<u8>, text: &str) -> Result<()> {
    let length = i32::try_from(text.len() + 1).map_err(|_| Error::Fallback)?;
    write_i32(out, length);
    out.extend_from_slice(text.as_bytes());
    out.push(0);
    Ok(())
}

/// An array index as a key (a C string), in decimal.
fn write_index(out: &mut Vec<u8>, index: usize) {
    let mut digits = [0u8; 20];
    out.extend_from_slice(crate::wire::index_key(index, &mut digits));
    out.push(0);
}

/// The 12 bytes of an `ObjectId` from its 24 hex digits (either case, as `bson` accepts).
fn parse_object_id(hex: &str) -> Option<[u8; 12]> {
    fn digit(byte: u8) -> Option<u8> {
        match byte {
            b'0'..=b'9' => Some(byte - b'0'),
            b'a'..=b'f' => Some(byte - b'a' + 10),
            b'A'..=b'F' => Some(byte - b'A' + 10),
            _ => None,
        }
    }
    let hex = hex.as_bytes();
    if hex.len() != 24 {
        return None;
    }
    let mut bytes = [0u8; 12];
    for (byte, pair) in bytes.iter_mut().zip(hex.chunks_exact(2)) {
        *byte = digit(pair[0])? << 4 | digit(pair[1])?;
    }
    Some(bytes)
}

/// A document or array being written: its length is filled in at the end.
struct Document<'a> {
    out: &'a mut Vec<u8>,
    start: usize,
    /// Elements written, for array keys.
    count: usize,
    /// The key of the map entry whose value comes next.
    key: Option<usize>,
    /// The entity's `ObjectId`, for its `_id` field (top-level documents only).
    id: Option<ObjectId>,
}

impl<'a> Document<'a> {
    fn start(out: &'a mut Vec<u8>) -> Result<Self> {
        enter()?;
        let start = out.len();
        write_i32(out, 0);
        Ok(Document { out, start, count: 0, key: None, id: None })
    }

    fn end(self) -> Result<()> {
        leave();
        self.out.push(0);
        let length = i32::try_from(self.out.len() - self.start).map_err(|_| Error::Fallback)?;
        if let Some(slot) = self.out.get_mut(self.start..self.start + 4) {
            slot.copy_from_slice(&length.to_le_bytes());
        }
        Ok(())
    }

    /// Writes the element `key: value`. A value this serializer leaves to `bson` is serialized
    /// by `bson` alone, and spliced in.
    fn element<T: Serialize + ?Sized>(&mut self, key: &str, value: &T) -> Result<()> {
        let at = self.out.len();
        self.out.push(0);
        write_cstring(self.out, key)?;
        if key == "_id"
            && let Some(id) = self.id
        {
            return match value.serialize(Value { out: self.out, at, id: Some(id) }) {
                Err(Error::KnownId) => {
                    self.out.truncate(at);
                    self.out.push(element::OBJECT_ID);
                    self.out.extend_from_slice(b"_id\0");
                    self.out.extend_from_slice(&id.bytes());
                    Ok(())
                }
                Err(Error::Fallback) => {
                    self.out.truncate(at);
                    splice(self.out, key, value)
                }
                other => other,
            };
        }
        self.value(at, key, value)
    }

    /// The next array element.
    fn array_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<()> {
        let at = self.out.len();
        self.out.push(0);
        let index = self.count;
        write_index(self.out, index);
        self.count += 1;
        self.value_or_fallback(at, value, || index.to_string())
    }

    /// Writes the value of the element whose type byte is at `at` and whose key follows it.
    fn value<T: Serialize + ?Sized>(&mut self, at: usize, key: &str, value: &T) -> Result<()> {
        self.value_or_fallback(at, value, || key.to_owned())
    }

    fn value_or_fallback<T: Serialize + ?Sized>(
        &mut self,
        at: usize,
        value: &T,
        key: impl FnOnce() -> String,
    ) -> Result<()> {
        match value.serialize(Value { out: self.out, at, id: None }) {
            Err(Error::Fallback) => {
                self.out.truncate(at);
                splice(self.out, &key(), value)
            }
            other => other,
        }
    }
}

/// Writes `key: value` as `bson` serializes `value`: `bson` writes `{"": value}` and its one
/// element is copied with `key`.
fn splice<T: Serialize + ?Sized>(out: &mut Vec<u8>, key: &str, value: &T) -> Result<()> {
    struct One<'v, T: ?Sized>(&'v T);

    impl<T: Serialize + ?Sized> Serialize for One<'_, T> {
        fn serialize<S: ser::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            let mut map = serializer.serialize_map(Some(1))?;
            map.serialize_entry("", self.0)?;
            map.end()
        }
    }

    let document = bson::to_raw_document_buf(&One(value)).map_err(Error::Bson)?;
    // int32 length, type byte, the empty key's NUL, the value, the document's NUL.
    let bytes = document.as_bytes();
    let (Some(&kind), Some(value)) = (bytes.get(4), bytes.get(6..bytes.len().saturating_sub(1))) else {
        return Err(Error::Bson(ser::Error::custom("bson wrote no element")));
    };
    out.push(kind);
    write_cstring(out, key).map_err(|_| Error::Bson(bson::ser::Error::InvalidCString(key.to_owned())))?;
    out.extend_from_slice(value);
    Ok(())
}

/// The serializer of the whole document: only a struct or a map is a document.
struct Top<'a> {
    out: &'a mut Vec<u8>,
    /// The entity's `ObjectId`, for its `_id` field.
    id: Option<ObjectId>,
}

/// The serializer of one element's value, whose type byte is at `at`.
struct Value<'a> {
    out: &'a mut Vec<u8>,
    at: usize,
    /// For the `_id` of an entity whose id is this `ObjectId`: an `ObjectId` value is not
    /// serialized but reported as [`Error::KnownId`].
    id: Option<ObjectId>,
}

impl<'a> Value<'a> {
    fn set_type(&mut self, kind: u8) {
        if let Some(byte) = self.out.get_mut(self.at) {
            *byte = kind;
        }
    }

    fn scalar(mut self, kind: u8, bytes: &[u8]) -> Result<()> {
        self.set_type(kind);
        self.out.extend_from_slice(bytes);
        Ok(())
    }

    fn document(mut self, kind: u8) -> Result<Document<'a>> {
        self.set_type(kind);
        Document::start(self.out)
    }

    /// `{variant: value}`.
    fn variant<T: Serialize + ?Sized>(self, variant: &str, value: &T) -> Result<()> {
        let mut document = self.document(element::DOCUMENT)?;
        document.element(variant, value)?;
        document.end()
    }

    /// `{variant: <document or array>}`, the inner one written by the returned serializer.
    fn variant_body(self, variant: &str, kind: u8) -> Result<Variant<'a>> {
        let outer = self.document(element::DOCUMENT)?;
        outer.out.push(kind);
        write_cstring(outer.out, variant)?;
        enter()?;
        let start = outer.out.len();
        write_i32(outer.out, 0);
        Ok(Variant {
            outer_start: outer.start,
            inner: Document { out: outer.out, start, count: 0, key: None, id: None },
        })
    }
}

/// Refuses what this serializer leaves to `bson`.
macro_rules! fall_back {
    ($($method:ident($($arg:ty),*)),* $(,)?) => {
        $(fn $method(self, $(_: $arg),*) -> Result<Self::Ok> {
            Err(Error::Fallback)
        })*
    };
}

/// The same, for the serializer methods that take a value or start a compound, named one by
/// one: `fall_back_compound!(serialize_seq, serialize_map)`.
macro_rules! fall_back_compound {
    ($($method:ident),* $(,)?) => {
        $(fall_back_compound!(@one $method);)*
    };
    (@one serialize_some) => {
        fn serialize_some<V: Serialize + ?Sized>(self, _: &V) -> Result<Self::Ok> {
            Err(Error::Fallback)
        }
    };
    (@one serialize_newtype_struct) => {
        fn serialize_newtype_struct<V: Serialize + ?Sized>(self, _: &'static str, _: &V) -> Result<Self::Ok> {
            Err(Error::Fallback)
        }
    };
    (@one serialize_newtype_variant) => {
        fn serialize_newtype_variant<V: Serialize + ?Sized>(
            self,
            _: &'static str,
            _: u32,
            _: &'static str,
            _: &V,
        ) -> Result<Self::Ok> {
            Err(Error::Fallback)
        }
    };
    (@one serialize_seq) => {
        fn serialize_seq(self, _: Option<usize>) -> Result<Self::SerializeSeq> {
            Err(Error::Fallback)
        }
    };
    (@one serialize_tuple) => {
        fn serialize_tuple(self, _: usize) -> Result<Self::SerializeTuple> {
            Err(Error::Fallback)
        }
    };
    (@one serialize_tuple_struct) => {
        fn serialize_tuple_struct(self, _: &'static str, _: usize) -> Result<Self::SerializeTupleStruct> {
            Err(Error::Fallback)
        }
    };
    (@one serialize_tuple_variant) => {
        fn serialize_tuple_variant(
            self,
            _: &'static str,
            _: u32,
            _: &'static str,
            _: usize,
        ) -> Result<Self::SerializeTupleVariant> {
            Err(Error::Fallback)
        }
    };
    (@one serialize_map) => {
        fn serialize_map(self, _: Option<usize>) -> Result<Self::SerializeMap> {
            Err(Error::Fallback)
        }
    };
    (@one serialize_struct) => {
        fn serialize_struct(self, _: &'static str, _: usize) -> Result<Self::SerializeStruct> {
            Err(Error::Fallback)
        }
    };
    (@one serialize_struct_variant) => {
        fn serialize_struct_variant(
            self,
            _: &'static str,
            _: u32,
            _: &'static str,
            _: usize,
        ) -> Result<Self::SerializeStructVariant> {
            Err(Error::Fallback)
        }
    };
}

impl<'a> ser::Serializer for Top<'a> {
    type Ok = ();
    type Error = Error;
    type SerializeSeq = ser::Impossible<(), Error>;
    type SerializeTuple = ser::Impossible<(), Error>;
    type SerializeTupleStruct = ser::Impossible<(), Error>;
    type SerializeTupleVariant = ser::Impossible<(), Error>;
    type SerializeMap = Document<'a>;
    type SerializeStruct = Document<'a>;
    type SerializeStructVariant = ser::Impossible<(), Error>;

    fn is_human_readable(&self) -> bool {
        false
    }

    fall_back! {
        serialize_bool(bool), serialize_i8(i8), serialize_i16(i16), serialize_i32(i32),
        serialize_i64(i64), serialize_u8(u8), serialize_u16(u16), serialize_u32(u32),
        serialize_u64(u64), serialize_f32(f32), serialize_f64(f64), serialize_char(char),
        serialize_str(&str), serialize_bytes(&[u8]), serialize_none(), serialize_unit(),
        serialize_unit_struct(&'static str), serialize_unit_variant(&'static str, u32, &'static str),
    }

    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<()> {
        value.serialize(self)
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(self, name: &'static str, value: &T) -> Result<()> {
        if name.starts_with('$') {
            return Err(Error::Fallback);
        }
        value.serialize(self)
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<()> {
        let mut document = Document::start(self.out)?;
        document.element(variant, value)?;
        document.end()
    }

    fn serialize_map(self, _: Option<usize>) -> Result<Self::SerializeMap> {
        Document::start(self.out)
    }

    fn serialize_struct(self, name: &'static str, _: usize) -> Result<Self::SerializeStruct> {
        if name.starts_with('$') {
            return Err(Error::Fallback);
        }
        let mut document = Document::start(self.out)?;
        document.id = self.id;
        Ok(document)
    }

    fall_back_compound!(
        serialize_seq,
        serialize_tuple,
        serialize_tuple_struct,
        serialize_tuple_variant,
        serialize_struct_variant
    );
}

impl<'a> ser::Serializer for Value<'a> {
    type Ok = ();
    type Error = Error;
    type SerializeSeq = Document<'a>;
    type SerializeTuple = Document<'a>;
    type SerializeTupleStruct = Document<'a>;
    type SerializeTupleVariant = Variant<'a>;
    type SerializeMap = Document<'a>;
    type SerializeStruct = Struct<'a>;
    type SerializeStructVariant = Variant<'a>;

    fn is_human_readable(&self) -> bool {
        false
    }

    fn serialize_bool(self, value: bool) -> Result<()> {
        self.scalar(element::BOOLEAN, &[u8::from(value)])
    }

    fn serialize_i8(self, value: i8) -> Result<()> {
        self.serialize_i32(value.into())
    }

    fn serialize_i16(self, value: i16) -> Result<()> {
        self.serialize_i32(value.into())
    }

    fn serialize_i32(self, value: i32) -> Result<()> {
        self.scalar(element::INT32, &value.to_le_bytes())
    }

    fn serialize_i64(self, value: i64) -> Result<()> {
        self.scalar(element::INT64, &value.to_le_bytes())
    }

    fn serialize_u8(self, value: u8) -> Result<()> {
        self.serialize_i32(value.into())
    }

    fn serialize_u16(self, value: u16) -> Result<()> {
        self.serialize_i32(value.into())
    }

    fn serialize_u32(self, value: u32) -> Result<()> {
        self.serialize_i64(value.into())
    }

    fn serialize_u64(self, value: u64) -> Result<()> {
        // Beyond `i64`, `bson` reports the error.
        self.serialize_i64(i64::try_from(value).map_err(|_| Error::Fallback)?)
    }

    fn serialize_f32(self, value: f32) -> Result<()> {
        self.serialize_f64(value.into())
    }

    fn serialize_f64(self, value: f64) -> Result<()> {
        self.scalar(element::DOUBLE, &value.to_le_bytes())
    }

    fn serialize_char(self, value: char) -> Result<()> {
        self.serialize_str(value.encode_utf8(&mut [0; 4]))
    }

    fn serialize_str(mut self, value: &str) -> Result<()> {
        self.set_type(element::STRING);
        write_string(self.out, value)
    }

    /// Bytes are a binary of the generic subtype.
    fn serialize_bytes(mut self, value: &[u8]) -> Result<()> {
        if value.len() > MAX_BINARY_LEN {
            return Err(Error::Fallback);
        }
        self.set_type(element::BINARY);
        write_i32(self.out, value.len() as i32);
        self.out.push(0);
        self.out.extend_from_slice(value);
        Ok(())
    }

    fn serialize_none(mut self) -> Result<()> {
        self.set_type(element::NULL);
        Ok(())
    }

    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<()> {
        value.serialize(self)
    }

    fn serialize_unit(self) -> Result<()> {
        self.serialize_none()
    }

    fn serialize_unit_struct(self, _: &'static str) -> Result<()> {
        self.serialize_none()
    }

    fn serialize_unit_variant(self, _: &'static str, _: u32, variant: &'static str) -> Result<()> {
        self.serialize_str(variant)
    }

    /// `bson`'s own wrappers (UUIDs, raw documents, human-readable values) have names that
    /// start with `$`: those are left to it.
    fn serialize_newtype_struct<T: Serialize + ?Sized>(self, name: &'static str, value: &T) -> Result<()> {
        if name.starts_with('$') {
            return Err(Error::Fallback);
        }
        value.serialize(self)
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<()> {
        self.variant(variant, value)
    }

    fn serialize_seq(self, _: Option<usize>) -> Result<Document<'a>> {
        self.document(element::ARRAY)
    }

    fn serialize_tuple(self, _: usize) -> Result<Document<'a>> {
        self.document(element::ARRAY)
    }

    fn serialize_tuple_struct(self, _: &'static str, _: usize) -> Result<Document<'a>> {
        self.document(element::ARRAY)
    }

    fn serialize_tuple_variant(self, _: &'static str, _: u32, variant: &'static str, _: usize) -> Result<Variant<'a>> {
        self.variant_body(variant, element::ARRAY)
    }

    fn serialize_map(self, _: Option<usize>) -> Result<Document<'a>> {
        self.document(element::DOCUMENT)
    }

    /// A struct is a document, except `bson`'s own values, which serialize as structs with
    /// names that start with `$`: `ObjectId` and `DateTime` are written here, the others are
    /// left to `bson`.
    fn serialize_struct(mut self, name: &'static str, _: usize) -> Result<Struct<'a>> {
        match name {
            "$oid" if self.id.is_some() => Err(Error::KnownId),
            "$oid" => {
                self.set_type(element::OBJECT_ID);
                Ok(Struct::ObjectId { out: self.out, done: false })
            }
            "$date" => {
                self.set_type(element::DATE_TIME);
                Ok(Struct::DateTime { out: self.out, done: false })
            }
            _ if name.starts_with('$') => Err(Error::Fallback),
            _ => Ok(Struct::Document(self.document(element::DOCUMENT)?)),
        }
    }

    fn serialize_struct_variant(self, _: &'static str, _: u32, variant: &'static str, _: usize) -> Result<Variant<'a>> {
        self.variant_body(variant, element::DOCUMENT)
    }
}

impl ser::SerializeStruct for Document<'_> {
    type Ok = ();
    type Error = Error;

    fn serialize_field<T: Serialize + ?Sized>(&mut self, key: &'static str, value: &T) -> Result<()> {
        self.element(key, value)
    }

    fn end(self) -> Result<()> {
        Document::end(self)
    }
}

impl ser::SerializeMap for Document<'_> {
    type Ok = ();
    type Error = Error;

    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<()> {
        let at = self.out.len();
        self.out.push(0);
        key.serialize(Key { out: self.out })?;
        self.key = Some(at);
        Ok(())
    }

    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<()> {
        let at = self.key.take().ok_or(Error::Fallback)?;
        // The key as written, for `bson` to write the value with, if it comes to that.
        let key = |out: &[u8]| {
            let written = out.get(at + 1..).unwrap_or_default();
            let end = written.iter().position(|&byte| byte == 0).unwrap_or(written.len());
            String::from_utf8_lossy(&written[..end]).into_owned()
        };
        match value.serialize(Value { out: self.out, at, id: None }) {
            Err(Error::Fallback) => {
                let key = key(self.out);
                self.out.truncate(at);
                splice(self.out, &key, value)
            }
            other => other,
        }
    }

    fn end(self) -> Result<()> {
        Document::end(self)
    }
}

macro_rules! array {
    ($trait:ident, $method:ident) => {
        impl ser::$trait for Document<'_> {
            type Ok = ();
            type Error = Error;

            fn $method<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<()> {
                self.array_element(value)
            }

            fn end(self) -> Result<()> {
                Document::end(self)
            }
        }
    };
}

array!(SerializeSeq, serialize_element);
array!(SerializeTuple, serialize_element);
array!(SerializeTupleStruct, serialize_field);

/// `{variant: <inner>}`: both lengths are filled in at the end.
struct Variant<'a> {
    outer_start: usize,
    inner: Document<'a>,
}

impl Variant<'_> {
    fn end_both(self) -> Result<()> {
        let Variant { outer_start, inner, .. } = self;
        let out = &mut *inner.out;
        let inner_start = inner.start;
        Document { out: &mut *out, start: inner_start, count: 0, key: None, id: None }.end()?;
        Document { out, start: outer_start, count: 0, key: None, id: None }.end()
    }
}

impl ser::SerializeTupleVariant for Variant<'_> {
    type Ok = ();
    type Error = Error;

    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<()> {
        self.inner.array_element(value)
    }

    fn end(self) -> Result<()> {
        self.end_both()
    }
}

impl ser::SerializeStructVariant for Variant<'_> {
    type Ok = ();
    type Error = Error;

    fn serialize_field<T: Serialize + ?Sized>(&mut self, key: &'static str, value: &T) -> Result<()> {
        self.inner.element(key, value)
    }

    fn end(self) -> Result<()> {
        self.end_both()
    }
}

/// A struct value: a document, or one of the two `bson` values written here.
enum Struct<'a> {
    Document(Document<'a>),
    /// `ObjectId` serializes as `{"$oid": <hex>}`.
    ObjectId {
        out: &'a mut Vec<u8>,
        done: bool,
    },
    /// `DateTime` serializes as `{"$date": {"$numberLong": <decimal>}}`.
    DateTime {
        out: &'a mut Vec<u8>,
        done: bool,
    },
}

impl ser::SerializeStruct for Struct<'_> {
    type Ok = ();
    type Error = Error;

    fn serialize_field<T: Serialize + ?Sized>(&mut self, key: &'static str, value: &T) -> Result<()> {
        match self {
            Struct::Document(document) => document.element(key, value),
            Struct::ObjectId { out, done: done @ false } if key == "$oid" => {
                out.extend_from_slice(&value.serialize(Text(parse_object_id))?);
                *done = true;
                Ok(())
            }
            Struct::DateTime { out, done: done @ false } if key == "$date" => {
                out.extend_from_slice(&value.serialize(NumberLong)?.to_le_bytes());
                *done = true;
                Ok(())
            }
            _ => Err(Error::Fallback),
        }
    }

    fn end(self) -> Result<()> {
        match self {
            Struct::Document(document) => document.end(),
            Struct::ObjectId { done: true, .. } | Struct::DateTime { done: true, .. } => Ok(()),
            _ => Err(Error::Fallback),
        }
    }
}

/// Writes a map key: a string (or what serializes as one), as `bson` accepts.
struct Key<'a> {
    out: &'a mut Vec<u8>,
}

impl ser::Serializer for Key<'_> {
    type Ok = ();
    type Error = Error;
    type SerializeSeq = ser::Impossible<(), Error>;
    type SerializeTuple = ser::Impossible<(), Error>;
    type SerializeTupleStruct = ser::Impossible<(), Error>;
    type SerializeTupleVariant = ser::Impossible<(), Error>;
    type SerializeMap = ser::Impossible<(), Error>;
    type SerializeStruct = ser::Impossible<(), Error>;
    type SerializeStructVariant = ser::Impossible<(), Error>;

    fn is_human_readable(&self) -> bool {
        false
    }

    fn serialize_str(self, key: &str) -> Result<()> {
        write_cstring(self.out, key)
    }

    fn serialize_unit_variant(self, _: &'static str, _: u32, variant: &'static str) -> Result<()> {
        self.serialize_str(variant)
    }

    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<()> {
        value.serialize(self)
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(self, _: &'static str, value: &T) -> Result<()> {
        value.serialize(self)
    }

    fall_back! {
        serialize_bool(bool), serialize_i8(i8), serialize_i16(i16), serialize_i32(i32),
        serialize_i64(i64), serialize_u8(u8), serialize_u16(u16), serialize_u32(u32),
        serialize_u64(u64), serialize_f32(f32), serialize_f64(f64), serialize_char(char),
        serialize_bytes(&[u8]), serialize_none(), serialize_unit(), serialize_unit_struct(&'static str),
    }

    fall_back_compound!(
        serialize_newtype_variant,
        serialize_seq,
        serialize_tuple,
        serialize_tuple_struct,
        serialize_tuple_variant,
        serialize_map,
        serialize_struct,
        serialize_struct_variant
    );
}

/// Reads a value that must serialize as a string, and parses it.
struct Text<T>(fn(&str) -> Option<T>);

/// Reads `{"$numberLong": <decimal>}` (how `DateTime` writes its milliseconds).
struct NumberLong;

/// The fields of [`NumberLong`]'s struct.
struct NumberLongFields(Option<i64>);

impl<T> ser::Serializer for Text<T> {
    type Ok = T;
    type Error = Error;
    type SerializeSeq = ser::Impossible<T, Error>;
    type SerializeTuple = ser::Impossible<T, Error>;
    type SerializeTupleStruct = ser::Impossible<T, Error>;
    type SerializeTupleVariant = ser::Impossible<T, Error>;
    type SerializeMap = ser::Impossible<T, Error>;
    type SerializeStruct = ser::Impossible<T, Error>;
    type SerializeStructVariant = ser::Impossible<T, Error>;

    fn is_human_readable(&self) -> bool {
        false
    }

    fn serialize_str(self, text: &str) -> Result<T> {
        (self.0)(text).ok_or(Error::Fallback)
    }

    fall_back! {
        serialize_bool(bool), serialize_i8(i8), serialize_i16(i16), serialize_i32(i32),
        serialize_i64(i64), serialize_u8(u8), serialize_u16(u16), serialize_u32(u32),
        serialize_u64(u64), serialize_f32(f32), serialize_f64(f64), serialize_char(char),
        serialize_bytes(&[u8]), serialize_none(), serialize_unit(), serialize_unit_struct(&'static str),
        serialize_unit_variant(&'static str, u32, &'static str),
    }

    fall_back_compound!(
        serialize_some,
        serialize_newtype_struct,
        serialize_newtype_variant,
        serialize_seq,
        serialize_tuple,
        serialize_tuple_struct,
        serialize_tuple_variant,
        serialize_map,
        serialize_struct,
        serialize_struct_variant
    );
}

impl ser::Serializer for NumberLong {
    type Ok = i64;
    type Error = Error;
    type SerializeSeq = ser::Impossible<i64, Error>;
    type SerializeTuple = ser::Impossible<i64, Error>;
    type SerializeTupleStruct = ser::Impossible<i64, Error>;
    type SerializeTupleVariant = ser::Impossible<i64, Error>;
    type SerializeMap = ser::Impossible<i64, Error>;
    type SerializeStruct = NumberLongFields;
    type SerializeStructVariant = ser::Impossible<i64, Error>;

    fn is_human_readable(&self) -> bool {
        false
    }

    fn serialize_struct(self, _: &'static str, _: usize) -> Result<NumberLongFields> {
        Ok(NumberLongFields(None))
    }

    fall_back! {
        serialize_bool(bool), serialize_i8(i8), serialize_i16(i16), serialize_i32(i32),
        serialize_i64(i64), serialize_u8(u8), serialize_u16(u16), serialize_u32(u32),
        serialize_u64(u64), serialize_f32(f32), serialize_f64(f64), serialize_char(char),
        serialize_str(&str), serialize_bytes(&[u8]), serialize_none(), serialize_unit(),
        serialize_unit_struct(&'static str), serialize_unit_variant(&'static str, u32, &'static str),
    }

    fall_back_compound!(
        serialize_some,
        serialize_newtype_struct,
        serialize_newtype_variant,
        serialize_seq,
        serialize_tuple,
        serialize_tuple_struct,
        serialize_tuple_variant,
        serialize_map,
        serialize_struct_variant
    );
}

impl ser::SerializeStruct for NumberLongFields {
    type Ok = i64;
    type Error = Error;

    fn serialize_field<T: Serialize + ?Sized>(&mut self, key: &'static str, value: &T) -> Result<()> {
        if key != "$numberLong" || self.0.is_some() {
            return Err(Error::Fallback);
        }
        self.0 = Some(value.serialize(Text(|text| text.parse::<i64>().ok()))?);
        Ok(())
    }

    fn end(self) -> Result<i64> {
        self.0.ok_or(Error::Fallback)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, HashMap};

    use bson::oid::ObjectId;
    use bson::spec::BinarySubtype;
    use bson::{Binary, Bson, DateTime, Decimal128, Document, Regex, Timestamp, Uuid, doc};
    use proptest::prelude::*;
    use serde::Serialize;

    /// Both serializers give the same bytes, or both fail.
    fn same<T: Serialize + std::fmt::Debug>(value: &T) {
        let ours = super::encode(value, None);
        let theirs = bson::to_raw_document_buf(value);
        match (ours, theirs) {
            (Ok(ours), Ok(theirs)) => assert_eq!(ours.as_bytes(), theirs.as_bytes(), "{value:?}"),
            (Err(ours), Err(theirs)) => assert_eq!(ours.to_string(), theirs.to_string(), "{value:?}"),
            (ours, theirs) => panic!("{value:?}: ours {ours:?}, bson's {theirs:?}"),
        }
    }

    /// `{a: {a: ... {}}}`, `levels` documents deep, built and dropped without deep recursion
    /// on the caller's side (dropping a `Document` recurses, so it is kept shallow enough).
    fn nested(levels: usize) -> Document {
        let mut doc = Document::new();
        for _ in 1..levels {
            doc = doc! { "a": doc };
        }
        doc
    }

    #[test]
    fn a_value_nested_deeper_than_mongodb_allows_is_refused_before_the_stack_runs_out() {
        let outcome = std::thread::Builder::new()
            .stack_size(2 * 1024 * 1024)
            .spawn(|| {
                let at_limit = super::encode(&nested(crate::wire::MAX_DEPTH), None).map(|_| ());
                let too_deep = super::encode(&nested(1_000), None).map(|_| ()).map_err(|err| err.to_string());
                // Every serialization starts from the top again after a refusal.
                let after = super::encode(&doc! { "a": { "b": 1 } }, None).map(|_| ());
                (at_limit.is_ok(), too_deep, after.is_ok())
            })
            .expect("thread")
            .join();
        let Ok((at_limit, too_deep, after)) = outcome else { panic!("the serializer overflowed its stack") };
        assert!(at_limit, "100 levels are allowed");
        assert!(too_deep.as_ref().is_err_and(|message| message.contains("100 levels")), "{too_deep:?}");
        assert!(after);
    }

    #[derive(Debug, Serialize)]
    enum Kind {
        Unit,
        Newtype(i32),
        Tuple(i32, String),
        Struct { a: bool, b: Option<f32> },
    }

    #[derive(Debug, Serialize)]
    #[serde(tag = "type")]
    enum Tagged {
        A { x: i64 },
        B { y: String },
    }

    #[derive(Debug, Serialize)]
    struct Inner {
        city: String,
        zip: Option<String>,
    }

    #[derive(Debug, Serialize)]
    struct Newtype(u16);

    #[derive(Debug, Serialize)]
    struct Everything {
        #[serde(rename = "_id")]
        id: ObjectId,
        maybe_id: Option<ObjectId>,
        #[serde(skip_serializing_if = "Option::is_none")]
        skipped: Option<i32>,
        text: String,
        character: char,
        flags: (bool, bool),
        small: (i8, i16, u8, u16),
        int: i32,
        long: i64,
        unsigned: u32,
        big: u64,
        float: f32,
        double: f64,
        nothing: (),
        newtype: Newtype,
        kinds: Vec<Kind>,
        tagged: Vec<Tagged>,
        inner: Inner,
        inners: Vec<Inner>,
        nested: Vec<Vec<i32>>,
        map: BTreeMap<String, Inner>,
        hash: HashMap<String, i32>,
        when: DateTime,
        whens: Vec<Option<DateTime>>,
        #[serde(with = "serde_bytes_like")]
        bytes: Vec<u8>,
        uuid: Uuid,
        binary: Binary,
        decimal: Decimal128,
        timestamp: Timestamp,
        regex: Regex,
        document: Document,
        values: Vec<Bson>,
        #[serde(flatten)]
        extra: BTreeMap<String, Bson>,
    }

    /// `Vec<u8>` as serde bytes, without another dependency.
    mod serde_bytes_like {
        pub fn serialize<S: serde::Serializer>(bytes: &[u8], serializer: S) -> Result<S::Ok, S::Error> {
            serializer.serialize_bytes(bytes)
        }
    }

    fn everything() -> Everything {
        Everything {
            id: ObjectId::new(),
            maybe_id: None,
            skipped: None,
            text: "héllo\u{0}world".into(),
            character: 'é',
            flags: (true, false),
            small: (-1, -300, 200, 60_000),
            int: i32::MIN,
            long: i64::MAX,
            unsigned: u32::MAX,
            big: 1 << 40,
            float: 1.5,
            double: -0.25,
            nothing: (),
            newtype: Newtype(7),
            kinds: vec![
                Kind::Unit,
                Kind::Newtype(3),
                Kind::Tuple(4, "four".into()),
                Kind::Struct { a: true, b: Some(2.5) },
            ],
            tagged: vec![Tagged::A { x: 1 }, Tagged::B { y: "b".into() }],
            inner: Inner { city: "Paris".into(), zip: None },
            inners: (0..12).map(|i| Inner { city: format!("c{i}"), zip: Some(i.to_string()) }).collect(),
            nested: vec![vec![], vec![1, 2, 3]],
            map: BTreeMap::from([("k".to_owned(), Inner { city: "Lyon".into(), zip: None })]),
            hash: HashMap::from([("one".to_owned(), 1)]),
            when: DateTime::from_millis(-1_234_567),
            whens: vec![Some(DateTime::now()), None],
            bytes: vec![0, 1, 2, 255],
            uuid: Uuid::new(),
            binary: Binary { subtype: BinarySubtype::UserDefined(0x80), bytes: vec![9, 8] },
            decimal: "1.5".parse().expect("decimal"),
            timestamp: Timestamp { time: 5, increment: 6 },
            regex: Regex { pattern: "^a".into(), options: "mi".into() },
            document: doc! { "a": 1, "b": { "c": [1, "x", null] }, "oid": ObjectId::new() },
            values: vec![Bson::MinKey, Bson::MaxKey, Bson::Undefined, Bson::Symbol("s".into())],
            extra: BTreeMap::from([
                ("flat".to_owned(), Bson::Int32(1)),
                ("when".to_owned(), Bson::DateTime(DateTime::now())),
            ]),
        }
    }

    #[test]
    fn every_kind_of_field_serializes_as_bson_does() {
        same(&everything());
    }

    /// What models are usually made of is written here, without `bson`.
    #[test]
    fn common_fields_need_no_fallback() {
        #[derive(Debug, Serialize)]
        struct Common {
            #[serde(rename = "_id")]
            id: Option<ObjectId>,
            name: String,
            tags: Vec<String>,
            inner: Inner,
            kinds: Vec<Kind>,
            when: DateTime,
            map: BTreeMap<String, f64>,
            document: Document,
        }
        let common = Common {
            id: Some(ObjectId::new()),
            name: "n".into(),
            tags: vec!["a".into()],
            inner: Inner { city: "Paris".into(), zip: None },
            kinds: vec![Kind::Unit, Kind::Newtype(1), Kind::Tuple(2, "b".into()), Kind::Struct { a: true, b: None }],
            when: DateTime::now(),
            map: BTreeMap::from([("x".to_owned(), 1.0)]),
            document: doc! { "a": [1, { "b": ObjectId::new() }], "at": DateTime::now() },
        };
        let mut out = Vec::new();
        assert!(common.serialize(super::Top { out: &mut out, id: None }).is_ok());
        same(&common);
    }

    #[test]
    fn entities_serialize_as_bson_does_with_their_ids_written_directly() {
        use crate::Model;

        #[derive(Debug, Serialize, serde::Deserialize, crate::Model)]
        #[mongotic(collection = "generated")]
        struct Generated {
            #[serde(rename = "_id", skip_serializing_if = "Option::is_none")]
            id: Option<ObjectId>,
            other: ObjectId,
        }
        #[derive(Debug, Serialize, serde::Deserialize, crate::Model)]
        #[mongotic(collection = "nullable")]
        struct Nullable {
            #[serde(rename = "_id")]
            id: Option<ObjectId>,
        }
        #[derive(Debug, Serialize, serde::Deserialize, crate::Model)]
        #[mongotic(collection = "plain")]
        struct Plain {
            name: String,
            #[serde(rename = "_id")]
            id: ObjectId,
        }
        #[derive(Debug, Serialize, serde::Deserialize, crate::Model)]
        #[mongotic(collection = "texts")]
        struct Text {
            #[serde(rename = "_id")]
            id: String,
        }

        fn check<M: Model + std::fmt::Debug>(entity: &M) {
            let ours = super::entity_to_raw(entity).expect("serialized");
            let theirs = bson::to_raw_document_buf(entity).expect("serialized");
            assert_eq!(ours.as_bytes(), theirs.as_bytes(), "{entity:?}");
        }
        check(&Generated { id: Some(ObjectId::new()), other: ObjectId::new() });
        check(&Generated { id: None, other: ObjectId::new() });
        check(&Nullable { id: Some(ObjectId::new()) });
        check(&Nullable { id: None });
        check(&Plain { name: "n".into(), id: ObjectId::new() });
        check(&Text { id: "t".into() });
    }

    #[test]
    fn top_level_shapes_serialize_as_bson_does() {
        same(&BTreeMap::from([("a".to_owned(), 1)]));
        same(&doc! {});
        same(&Some(doc! { "x": 1 }));
        same(&Kind::Newtype(1));
        same(&Tagged::A { x: 2 });
    }

    #[test]
    fn failures_are_bson_failures() {
        #[derive(Debug, Serialize)]
        struct TooBig {
            n: u64,
        }
        same(&TooBig { n: u64::MAX });
        same(&5_i32);
        same(&"text");
        same(&vec![1, 2]);
        same(&BTreeMap::from([("a\u{0}b".to_owned(), 1)]));
        same(&BTreeMap::from([(1, 1)]));
        same(&doc! { "nested": { "a\u{0}": 1 } });
    }

    #[test]
    fn malformed_object_ids_are_left_to_bson() {
        #[derive(Debug, Serialize)]
        #[serde(rename = "$oid")]
        struct FakeId {
            #[serde(rename = "$oid")]
            oid: String,
        }
        #[derive(Debug, Serialize)]
        struct Holder {
            id: FakeId,
        }
        same(&Holder { id: FakeId { oid: "zz".repeat(12) } });
        same(&Holder { id: FakeId { oid: "0123456789ABCDEFabcdef01".into() } });
    }

    fn leaf() -> impl Strategy<Value = Bson> {
        prop_oneof![
            any::<i32>().prop_map(Bson::Int32),
            any::<i64>().prop_map(Bson::Int64),
            any::<f64>().prop_map(Bson::Double),
            any::<bool>().prop_map(Bson::Boolean),
            ".{0,12}".prop_map(Bson::String),
            Just(Bson::Null),
            any::<[u8; 12]>().prop_map(|bytes| Bson::ObjectId(ObjectId::from_bytes(bytes))),
            any::<i64>().prop_map(|millis| Bson::DateTime(DateTime::from_millis(millis))),
            (any::<u8>(), proptest::collection::vec(any::<u8>(), 0..8))
                .prop_map(|(subtype, bytes)| { Bson::Binary(Binary { subtype: BinarySubtype::from(subtype), bytes }) }),
            (any::<u32>(), any::<u32>()).prop_map(|(time, increment)| Bson::Timestamp(Timestamp { time, increment })),
            any::<[u8; 16]>().prop_map(|bytes| Bson::Decimal128(bson::Decimal128::from_bytes(bytes))),
            ("[a-z]{0,4}", "[imsx]{0,3}")
                .prop_map(|(pattern, options)| Bson::RegularExpression(bson::Regex { pattern, options })),
            ".{0,6}".prop_map(Bson::Symbol),
            ".{0,6}".prop_map(Bson::JavaScriptCode),
            prop_oneof![Just(Bson::MinKey), Just(Bson::MaxKey), Just(Bson::Undefined)],
        ]
    }

    fn common_value() -> impl Strategy<Value = Bson> {
        let leaf = prop_oneof![
            any::<i32>().prop_map(Bson::Int32),
            any::<i64>().prop_map(Bson::Int64),
            any::<f64>().prop_map(Bson::Double),
            any::<bool>().prop_map(Bson::Boolean),
            ".{0,12}".prop_map(Bson::String),
            Just(Bson::Null),
            any::<[u8; 12]>().prop_map(|bytes| Bson::ObjectId(ObjectId::from_bytes(bytes))),
            any::<i64>().prop_map(|millis| Bson::DateTime(DateTime::from_millis(millis))),
        ];
        leaf.prop_recursive(3, 48, 6, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..12).prop_map(Bson::Array),
                proptest::collection::vec(("[a-z_$.]{0,6}", inner), 0..6)
                    .prop_map(|fields| Bson::Document(fields.into_iter().collect())),
            ]
        })
    }

    fn value() -> impl Strategy<Value = Bson> {
        leaf().prop_recursive(3, 48, 6, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..6).prop_map(Bson::Array),
                proptest::collection::vec(("[a-z_$.]{0,6}", inner), 0..6)
                    .prop_map(|fields| Bson::Document(fields.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #[test]
        fn random_documents_serialize_as_bson_does(
            fields in proptest::collection::vec(("[a-z_]{0,6}", value()), 0..8)
        ) {
            let document: Document = fields.into_iter().collect();
            same(&document);
        }

        /// A document of the common types is written without serde, as `bson` writes it.
        #[test]
        fn documents_of_the_common_types_are_written_directly(
            fields in proptest::collection::vec(("[a-z_]{0,6}", common_value()), 0..8)
        ) {
            let document: Document = fields.into_iter().collect();
            let mut direct = Vec::new();
            prop_assert!(super::write_document(&mut direct, &document, 1).is_ok());
            prop_assert_eq!(direct, bson::to_vec(&document).unwrap());
        }

        /// What a document without a model is written with, `_id` first as the server keeps
        /// it, keys with a NUL byte included (which `bson` refuses).
        #[test]
        fn documents_without_a_model_serialize_as_bson_does(
            id in prop_oneof![
                any::<[u8; 12]>().prop_map(|bytes| Bson::ObjectId(ObjectId::from_bytes(bytes))),
                leaf(),
            ],
            fields in proptest::collection::vec(("[a-z_\\x00]{0,6}", value()), 0..8)
        ) {
            let mut document = Document::new();
            document.insert("_id", id);
            document.extend(fields);
            let ours = super::document_to_raw(&document).map(bson::RawDocumentBuf::into_bytes).map_err(|err| err.to_string());
            let theirs = bson::to_raw_document_buf(&document).map(bson::RawDocumentBuf::into_bytes).map_err(|err| err.to_string());
            prop_assert_eq!(ours, theirs);
        }
    }
}
