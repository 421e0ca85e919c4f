//! BSON documents read and written as bytes, for the paths a flush takes once per entity:
//! comparing an entity with its baseline, and building the statements of a write command.
//!
//! `bson`'s raw iterator validates every key as UTF-8 and every value as it goes, and
//! `RawDocumentBuf`'s appends check and grow per element; that is most of the cost of a diff
//! or of a statement. Documents here were written by a serializer or sent by the server, so
//! only their framing is checked: an element whose framing does not hold stops the reading
//! (the caller then takes the slower, fully checked path).

/// One element of a document: its type byte, its key (without the NUL) and its value bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Element<'a> {
    pub(crate) kind: u8,
    pub(crate) key: &'a [u8],
    pub(crate) value: &'a [u8],
}

/// The BSON element types mongotic reads and writes itself (the serializer and the byte-level
/// diff and commands).
pub(crate) mod kind {
    pub(crate) const DOUBLE: u8 = 0x01;
    pub(crate) const STRING: u8 = 0x02;
    pub(crate) const DOCUMENT: u8 = 0x03;
    pub(crate) const ARRAY: u8 = 0x04;
    pub(crate) const BINARY: u8 = 0x05;
    pub(crate) const OBJECT_ID: u8 = 0x07;
    pub(crate) const BOOLEAN: u8 = 0x08;
    pub(crate) const DATE_TIME: u8 = 0x09;
    pub(crate) const NULL: u8 = 0x0A;
    pub(crate) const INT32: u8 = 0x10;
    pub(crate) const INT64: u8 = 0x12;
}

/// How deep documents and arrays may nest, counting the document itself as the first level:
/// MongoDB's limit. Every walk over a value or a document that recurses (the serializer, the
/// diff, decoding) refuses anything deeper before it recurses, so no input can exhaust a
/// thread's stack.
pub(crate) const MAX_DEPTH: usize = 100;

/// `true` unless `document` nests documents or arrays more than [`MAX_DEPTH`] levels deep.
/// It walks the framing without recursing, so any input is safe to check. A document whose
/// framing breaks within the limit counts as within it: the decoder reports what is wrong.
pub(crate) fn nesting_within_limit(document: &[u8]) -> bool {
    // Where each enclosing document ends (its final NUL), innermost last: on the stack for the
    // few levels documents have, on the heap beyond (so nothing is zeroed per call).
    const ON_STACK: usize = 8;
    let mut near = [0usize; ON_STACK];
    let mut far: Vec<usize> = Vec::new();
    // Each level below the first takes at least six bytes of its own before its content (the
    // element's type, the key's NUL, the length), so a document shorter than this cannot
    // reach past the limit, however its framing lies: most documents stop here.
    const SHORTEST_TOO_DEEP: usize = 4 + 6 * MAX_DEPTH;
    if document.len() < SHORTEST_TOO_DEEP {
        return true;
    }
    let Some(last) = document.len().checked_sub(1) else { return true };
    near[0] = last;
    let mut depth = 1;
    let mut end = last;
    let mut at = 4;
    loop {
        while at >= end {
            if depth > ON_STACK {
                far.pop();
            }
            depth -= 1;
            if depth == 0 {
                return true;
            }
            // Past the inner document's NUL, in the one around it.
            at = end + 1;
            end = if depth <= ON_STACK { near[depth - 1] } else { far.last().copied().unwrap_or(last) };
        }
        let Some(&kind) = document.get(at) else { return true };
        let Some(key_len) = document.get(at + 1..end).and_then(|rest| rest.iter().position(|&byte| byte == 0)) else {
            return true;
        };
        let value_start = at + key_len + 2;
        let Some(value_end) = value_len(kind, document, value_start).and_then(|len| value_start.checked_add(len))
        else {
            return true;
        };
        if value_end > end {
            return true;
        }
        if kind == kind::DOCUMENT || kind == kind::ARRAY {
            if depth == MAX_DEPTH {
                return false;
            }
            if value_end < value_start + 5 {
                return true;
            }
            if depth < ON_STACK {
                near[depth] = value_end - 1;
            } else {
                far.push(value_end - 1);
            }
            depth += 1;
            end = value_end - 1;
            at = value_start + 4;
        } else {
            at = value_end;
        }
    }
}

fn read_i32(bytes: &[u8], at: usize) -> Option<i32> {
    let field = bytes.get(at..at.checked_add(4)?)?;
    Some(i32::from_le_bytes([field[0], field[1], field[2], field[3]]))
}

/// The length of a value of type `kind` starting at `at`, from its framing.
fn value_len(kind: u8, bytes: &[u8], at: usize) -> Option<usize> {
    let length_prefixed = |extra: usize| -> Option<usize> {
        let declared = usize::try_from(read_i32(bytes, at)?).ok()?;
        declared.checked_add(extra)
    };
    let cstring = |from: usize| -> Option<usize> {
        let rest = bytes.get(from..)?;
        Some(rest.iter().position(|&byte| byte == 0)? + 1)
    };
    match kind {
        // double, date-time, timestamp, int64
        0x01 | 0x09 | 0x11 | 0x12 => Some(8),
        // string, JavaScript code, symbol: int32 length (with the NUL), then the bytes
        0x02 | 0x0D | 0x0E => length_prefixed(4),
        // document, array, code with scope: the int32 length counts itself
        0x03 | 0x04 | 0x0F => length_prefixed(0),
        // binary: int32 length, subtype byte, bytes
        0x05 => length_prefixed(5),
        // undefined, null, min key, max key
        0x06 | 0x0A | 0xFF | 0x7F => Some(0),
        0x07 => Some(12),
        0x08 => Some(1),
        // regex: two cstrings
        0x0B => {
            let pattern = cstring(at)?;
            Some(pattern + cstring(at + pattern)?)
        }
        // DB pointer: a string and an ObjectId
        0x0C => length_prefixed(4 + 12),
        0x10 => Some(4),
        0x13 => Some(16),
        _ => None,
    }
}

/// The value at the dotted `path` of `doc`, if there is one.
pub(crate) fn value_at<'a>(doc: &'a bson::RawDocument, path: &str) -> Option<bson::RawBsonRef<'a>> {
    let mut current = bson::RawBsonRef::Document(doc);
    for step in path.split('.') {
        let bson::RawBsonRef::Document(inner) = current else { return None };
        current = inner.get(step).ok().flatten()?;
    }
    Some(current)
}

/// The values `doc` has at `paths`, in wire form, as one comparable key; a missing value reads
/// as `null`, as a filter's equality with `null` matches it. (Two documents with the same key
/// hold the same values there, compared as the server stores them.)
pub(crate) fn values_key<P: AsRef<str>>(paths: &[P], doc: &bson::RawDocument) -> Vec<u8> {
    let mut key = Vec::new();
    for path in paths {
        let mut single = bson::RawDocumentBuf::new();
        match value_at(doc, path.as_ref()) {
            Some(value) => single.append_ref("", value),
            None => single.append("", bson::RawBson::Null),
        }
        key.extend_from_slice(single.as_bytes());
    }
    key
}

/// The element at the dotted `path` of `document` (a whole document), read from its framing
/// alone: no key is checked for UTF-8 and no value decoded, so it costs a scan of the keys on
/// the way. `None` when there is no such element, or the framing breaks before it.
pub(crate) fn element_at<'a>(document: &'a [u8], path: &str) -> Option<Element<'a>> {
    if !path.contains('.') {
        return elements(document).map_while(|element| element).find(|element| element.key == path.as_bytes());
    }
    let mut within = document;
    let mut steps = path.split('.').peekable();
    while let Some(step) = steps.next() {
        let found = elements(within).map_while(|element| element).find(|element| element.key == step.as_bytes())?;
        if steps.peek().is_none() {
            return Some(found);
        }
        if found.kind != kind::DOCUMENT {
            return None;
        }
        within = found.value;
    }
    None
}

/// The elements of `document` (a whole document: int32 length, elements, NUL), in order.
/// `None` as soon as the framing does not hold.
pub(crate) fn elements(document: &[u8]) -> Elements<'_> {
    let end = document.len().saturating_sub(1);
    let framed = document.len() >= 5
        && read_i32(document, 0).and_then(|len| usize::try_from(len).ok()) == Some(document.len())
        && document.last() == Some(&0);
    Elements { bytes: document, at: if framed { 4 } else { end }, end, broken: !framed }
}

/// See [`elements`].
pub(crate) struct Elements<'a> {
    bytes: &'a [u8],
    at: usize,
    end: usize,
    broken: bool,
}

impl Elements<'_> {
    /// `true` when the document was read to its end without a framing error.
    pub(crate) fn is_complete(&self) -> bool {
        !self.broken && self.at == self.end
    }
}

impl<'a> Iterator for Elements<'a> {
    type Item = Option<Element<'a>>;

    /// `Some(None)` for an element whose framing does not hold (and nothing after it).
    fn next(&mut self) -> Option<Option<Element<'a>>> {
        if self.at >= self.end {
            return None;
        }
        let element = self.read();
        if element.is_none() {
            self.broken = true;
            self.at = self.end;
        }
        Some(element)
    }
}

impl<'a> Elements<'a> {
    fn read(&mut self) -> Option<Element<'a>> {
        // Everything before the document's final NUL.
        let body = self.bytes.get(..self.end)?;
        let kind = *body.get(self.at)?;
        let key_start = self.at + 1;
        let key_len = body.get(key_start..)?.iter().position(|&byte| byte == 0)?;
        let value_start = key_start + key_len + 1;
        let value_end = value_start.checked_add(value_len(kind, body, value_start)?)?;
        let value = body.get(value_start..value_end)?;
        self.at = value_end;
        Some(Element { kind, key: &body[key_start..key_start + key_len], value })
    }
}

/// Appends the element `key: value` (value bytes of type `kind`).
pub(crate) fn append(out: &mut Vec<u8>, kind: u8, key: &[u8], value: &[u8]) {
    out.push(kind);
    out.extend_from_slice(key);
    out.push(0);
    out.extend_from_slice(value);
}

/// Appends the element `prefix.key: value` (just `key` when `prefix` is empty).
pub(crate) fn append_path(out: &mut Vec<u8>, kind: u8, prefix: &[u8], key: &[u8], value: &[u8]) {
    out.push(kind);
    if !prefix.is_empty() {
        out.extend_from_slice(prefix);
        out.push(b'.');
    }
    out.extend_from_slice(key);
    out.push(0);
    out.extend_from_slice(value);
}

/// Appends the string element `key: text`; `false` (and nothing written) for a string longer
/// than BSON allows.
pub(crate) fn append_str(out: &mut Vec<u8>, key: &str, text: &str) -> bool {
    let Ok(length) = i32::try_from(text.len() + 1) else { return false };
    out.push(kind::STRING);
    out.extend_from_slice(key.as_bytes());
    out.push(0);
    out.extend_from_slice(&length.to_le_bytes());
    out.extend_from_slice(text.as_bytes());
    out.push(0);
    true
}

/// Starts an embedded document or array element `key`; finish it with [`end`].
pub(crate) fn begin(out: &mut Vec<u8>, kind: u8, key: &[u8]) -> usize {
    out.push(kind);
    out.extend_from_slice(key);
    out.push(0);
    start(out)
}

/// Starts a top-level document; finish it with [`end`].
pub(crate) fn start(out: &mut Vec<u8>) -> usize {
    let at = out.len();
    out.extend_from_slice(&[0; 4]);
    at
}

/// Ends the document started at `at`, writing its length. `false` (and nothing written) when
/// the document would be longer than BSON allows.
pub(crate) fn end(out: &mut Vec<u8>, at: usize) -> bool {
    out.push(0);
    let Ok(length) = i32::try_from(out.len() - at) else { return false };
    match out.get_mut(at..at + 4) {
        Some(slot) => {
            slot.copy_from_slice(&length.to_le_bytes());
            true
        }
        None => false,
    }
}

/// An array index as a key, in decimal, without allocating.
pub(crate) fn index_key(index: usize, digits: &mut [u8; 20]) -> &[u8] {
    let mut at = digits.len();
    let mut rest = index;
    loop {
        at -= 1;
        digits[at] = b'0' + (rest % 10) as u8;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    &digits[at..]
}

/// `{a: {a: ... {leaf: value}}}`, `levels` documents deep, built without recursion: for the
/// tests of the walks that must not recurse past [`MAX_DEPTH`].
#[cfg(test)]
pub(crate) fn nested_document(levels: usize, value: i32) -> bson::RawDocumentBuf {
    let mut doc = bson::rawdoc! { "leaf": value };
    for _ in 1..levels {
        let mut outer = bson::RawDocumentBuf::new();
        outer.append("a", doc);
        doc = outer;
    }
    doc
}

#[cfg(test)]
mod tests {
    use super::nested_document;

    #[test]
    fn a_top_level_lookup_finds_what_a_walk_over_the_elements_finds() {
        use super::{element_at, elements};
        let doc = bson::rawdoc! { "_id": 1, "cityName": "x", "city": "Lyon", "c": { "city": 2 }, "n": null };
        for key in ["_id", "city", "cityName", "c", "n", "ci", "missing", ""] {
            let walked =
                elements(doc.as_bytes()).map_while(|element| element).find(|element| element.key == key.as_bytes());
            let found = element_at(doc.as_bytes(), key);
            assert_eq!(found.map(|e| (e.kind, e.key, e.value)), walked.map(|e| (e.kind, e.key, e.value)), "{key}");
        }
        assert_eq!(element_at(doc.as_bytes(), "c.city").map(|e| e.value), Some(&2_i32.to_le_bytes()[..]));
        // A framing that does not hold finds nothing.
        let mut broken = doc.as_bytes().to_vec();
        broken.pop();
        assert!(element_at(&broken, "city").is_none());
        let mut truncated = doc.as_bytes().to_vec();
        truncated.truncate(20);
        truncated[0] = 20;
        truncated[19] = 0;
        assert!(element_at(&truncated, "city").is_none());
    }

    #[test]
    fn nesting_is_checked_up_to_the_limit_without_recursion() {
        use super::{MAX_DEPTH, nesting_within_limit};
        let nested = |levels| nested_document(levels, 0);
        assert!(nesting_within_limit(nested(1).as_bytes()));
        assert!(nesting_within_limit(nested(MAX_DEPTH).as_bytes()));
        assert!(!nesting_within_limit(nested(MAX_DEPTH + 1).as_bytes()));
        // Far deeper than any stack would take recursively.
        assert!(!nesting_within_limit(nested(2_000).as_bytes()));
        // Deep branches that close and open again past the levels kept on the stack.
        let mut twice = bson::RawDocumentBuf::new();
        twice.append("one", nested(40));
        twice.append("two", nested(MAX_DEPTH - 1));
        assert!(nesting_within_limit(twice.as_bytes()));
        twice.append("three", nested(MAX_DEPTH));
        assert!(!nesting_within_limit(twice.as_bytes()));
        // Arrays count, and siblings after a deep branch are read.
        let wide = bson::rawdoc! { "x": [[[1]]], "y": { "z": 2 }, "w": "last" };
        assert!(nesting_within_limit(wide.as_bytes()));
        let mut deep_second = bson::RawDocumentBuf::new();
        deep_second.append("flat", 1);
        deep_second.append("deep", nested(MAX_DEPTH));
        assert!(!nesting_within_limit(deep_second.as_bytes()));
        // The shortest document that is too deep (empty keys, an empty innermost document)
        // is long enough to be walked, and refused.
        let mut shortest = bson::RawDocumentBuf::new();
        for _ in 0..MAX_DEPTH {
            let mut outer = bson::RawDocumentBuf::new();
            outer.append("", shortest);
            shortest = outer;
        }
        assert_eq!(shortest.as_bytes().len(), 5 + 7 * MAX_DEPTH);
        assert!(!nesting_within_limit(shortest.as_bytes()));
        // Broken framing is left to the decoder.
        assert!(nesting_within_limit(&[1, 2, 3]));
        assert!(nesting_within_limit(&[12, 0, 0, 0, 3, b'a', 0, 200, 0, 0, 0, 0]));
    }

    use bson::rawdoc;
    use bson::spec::BinarySubtype;

    use super::*;

    #[test]
    fn an_element_is_found_by_its_dotted_path() {
        let document = rawdoc! { "a": 1, "b": { "c": "x", "d": { "e": 2.5 } }, "f": [1, 2] };
        let bytes = document.as_bytes();
        let at = |path| element_at(bytes, path).map(|element| (element.kind, element.key.to_vec()));
        assert_eq!(at("a"), Some((kind::INT32, b"a".to_vec())));
        assert_eq!(at("b.c"), Some((kind::STRING, b"c".to_vec())));
        assert_eq!(at("b.d.e"), Some((kind::DOUBLE, b"e".to_vec())));
        assert_eq!(at("b"), Some((kind::DOCUMENT, b"b".to_vec())));
        // Arrays are not walked by index, missing keys and paths through scalars are none.
        assert_eq!(at("f.0"), None);
        assert_eq!(at("z"), None);
        assert_eq!(at("a.b"), None);
        assert_eq!(at("b.x"), None);
        // Its value is what bson reads there.
        let value = element_at(bytes, "b.d.e").map(|element| element.value.to_vec());
        assert_eq!(value, Some(2.5_f64.to_le_bytes().to_vec()));
        assert_eq!(element_at(&[1, 2, 3], "a"), None);
    }

    #[test]
    fn elements_of_every_type_are_framed_as_bson_reads_them() {
        let mut document = rawdoc! {
            "double": 1.5, "string": "text", "document": { "a": 1 }, "array": [1, "b"],
            "binary": bson::Binary { subtype: BinarySubtype::Generic, bytes: vec![1, 2, 3] },
            "undefined": bson::RawBson::Undefined, "oid": bson::oid::ObjectId::new(), "bool": true,
            "date": bson::DateTime::now(), "null": null,
            "regex": bson::Regex { pattern: "^a".into(), options: "i".into() },
            "code": bson::RawBson::JavaScriptCode("f()".into()), "symbol": bson::RawBson::Symbol("s".into()),
            "int32": 1, "timestamp": bson::Timestamp { time: 1, increment: 2 }, "int64": 2_i64,
            "decimal": bson::Decimal128::from_bytes([0; 16]), "min": bson::RawBson::MinKey, "max": bson::RawBson::MaxKey,
        };
        // A DB pointer (deprecated, and not constructible through bson's API): a string, then
        // an ObjectId.
        let mut bytes = document.as_bytes()[..document.as_bytes().len() - 1].to_vec();
        bytes.extend_from_slice(b"\x0cpointer\0\x08\0\0\0db.coll\0");
        bytes.extend_from_slice(&[7; 12]);
        bytes.push(0);
        let length = bytes.len() as i32;
        bytes[..4].copy_from_slice(&length.to_le_bytes());
        document = bson::RawDocumentBuf::from_bytes(bytes).expect("framed");
        let mut ours = elements(document.as_bytes());
        let mut theirs = document.iter_elements();
        for element in ours.by_ref() {
            let element = element.expect("framed");
            let expected = theirs.next().expect("as many").expect("valid");
            assert_eq!(element.key, expected.key().as_bytes());
            assert_eq!(element.kind, expected.element_type() as u8);
            let raw = expected.value().expect("value");
            let mut whole = Vec::new();
            append(&mut whole, element.kind, element.key, element.value);
            let mut single = bson::RawDocumentBuf::new();
            single.append_ref(expected.key(), raw);
            assert_eq!(&single.as_bytes()[4..single.as_bytes().len() - 1], &whole[..]);
        }
        assert!(theirs.next().is_none());
        assert!(ours.is_complete());
    }

    #[test]
    fn broken_framing_stops_the_reading() {
        let document = rawdoc! { "a": "text", "b": 1 };
        let mut bytes = document.as_bytes().to_vec();
        bytes[7] = 200; // the string's length runs past the end
        let mut elements = elements(&bytes);
        assert_eq!(elements.next(), Some(None));
        assert_eq!(elements.next(), None);
        assert!(!elements.is_complete());
        assert_eq!(super::elements(&[5, 0, 0, 0]).next(), None);
        assert!(!super::elements(&[5, 0, 0, 0]).is_complete());
    }

    #[test]
    fn documents_are_built_with_their_lengths() {
        let mut out = Vec::new();
        let top = start(&mut out);
        let inner = begin(&mut out, kind::ARRAY, b"list");
        let mut digits = [0; 20];
        append(&mut out, kind::INT32, index_key(0, &mut digits), &7i32.to_le_bytes());
        append(&mut out, kind::INT32, index_key(1, &mut digits), &8i32.to_le_bytes());
        assert!(end(&mut out, inner));
        assert!(end(&mut out, top));
        let built = bson::RawDocumentBuf::from_bytes(out).expect("framed");
        assert_eq!(built.to_document().expect("valid"), bson::doc! { "list": [7, 8] });
        assert_eq!(index_key(1234, &mut digits), b"1234");
    }
}
