//! Change detection: the difference between what the server last had for an entity and what
//! it holds now, as a MongoDB update.
//!
//! Changed fields become `$set`, removed fields `$unset`. Embedded documents are compared field
//! by field and written by dotted path; arrays and other values are written whole. Numbers
//! that are equal in value are equal even when their BSON types differ (an `i64` field reading
//! an int32 is not a change). When a changed key cannot be addressed by a dotted path (it
//! contains a `.`, starts with `$` or is empty) the enclosing document is written whole, and at
//! the top level the whole entity is replaced.

use bson::{RawBsonRef, RawDocument, RawDocumentBuf};

/// What a flush must write for one entity.
#[derive(Debug, PartialEq)]
pub(crate) enum Change {
    /// Nothing differs.
    None,
    /// Apply this update document (`$set` and/or `$unset`), already in wire form.
    Update(RawDocumentBuf),
    /// The difference cannot be expressed by paths; replace the document.
    Replace,
}

/// Compares the stored document `old` with the current one `new`. `_id` is not compared; the
/// caller checks it separately.
pub(crate) fn diff(old: &RawDocument, new: &RawDocument) -> Change {
    if old.as_bytes() == new.as_bytes() {
        return Change::None;
    }
    let mut set = RawDocumentBuf::new();
    let mut unset = RawDocumentBuf::new();
    if !diff_into("", old, new, &mut set, &mut unset) {
        return Change::Replace;
    }
    let mut update = RawDocumentBuf::new();
    if !set.is_empty() {
        update.append("$set", set);
    }
    if !unset.is_empty() {
        update.append("$unset", unset);
    }
    if update.is_empty() { Change::None } else { Change::Update(update) }
}

/// The stored paths a change writes, for `before_update` hooks: the `$set` and `$unset` paths
/// of an update, or the top-level fields that differ when the document is replaced.
pub(crate) fn changed_paths(old: &RawDocument, new: &RawDocument, change: &Change) -> Vec<String> {
    match change {
        Change::None => Vec::new(),
        Change::Update(update) => update
            .iter()
            .filter_map(Result::ok)
            .filter_map(|(_, section)| section.as_document())
            .flat_map(|section| section.iter().filter_map(Result::ok).map(|(path, _)| path.to_owned()))
            .collect(),
        Change::Replace => {
            let old_elements = elements(old);
            let new_elements = elements(new);
            let differs = |key: &str, value: RawBsonRef<'_>, other: &[(&str, RawBsonRef<'_>)]| {
                !other.iter().any(|(other_key, other_value)| *other_key == key && same_value(*other_value, value))
            };
            let mut paths: Vec<String> = new_elements
                .iter()
                .filter(|(key, value)| differs(key, *value, &old_elements))
                .map(|(key, _)| (*key).to_owned())
                .collect();
            for (key, _) in &old_elements {
                if !new_elements.iter().any(|(new_key, _)| new_key == key) {
                    paths.push((*key).to_owned());
                }
            }
            paths
        }
    }
}

/// `true` when every field of `part` is in `whole` with an equal value: a stored document
/// (which may hold fields the model does not know) shows what a write of `part` left.
pub(crate) fn contains_all(whole: &RawDocument, part: &RawDocument) -> bool {
    let stored = elements(whole);
    elements(part).iter().all(|(key, value)| {
        stored.iter().any(|(stored_key, stored_value)| stored_key == key && same_value(*stored_value, *value))
    })
}

/// A key that can be part of a dotted update path.
fn addressable(key: &str) -> bool {
    !key.is_empty() && !key.contains('.') && !key.starts_with('$')
}

fn elements(doc: &RawDocument) -> Vec<(&str, RawBsonRef<'_>)> {
    // A document the server sent or bson serialized is well formed; an element that fails to
    // parse is skipped here and shows up as a difference, which writes the value whole.
    doc.iter().filter_map(Result::ok).collect()
}

/// Records the difference between `old` and `new` (both at `prefix`) in `set`/`unset`.
/// Returns `false` when a changed key at this level cannot be addressed by path, so the caller
/// writes the enclosing document whole. (Keys come from parsed BSON, so they hold no NUL and
/// appending them cannot fail.)
fn diff_into(
    prefix: &str,
    old: &RawDocument,
    new: &RawDocument,
    set: &mut RawDocumentBuf,
    unset: &mut RawDocumentBuf,
) -> bool {
    let old_elements = elements(old);
    let new_elements = elements(new);
    let mut old_seen = vec![false; old_elements.len()];
    let mut changes: Vec<(&str, Option<RawBsonRef<'_>>, Option<RawBsonRef<'_>>)> = Vec::new();

    for (position, (key, new_value)) in new_elements.iter().enumerate() {
        if prefix.is_empty() && *key == "_id" {
            mark_seen(&old_elements, &mut old_seen, position, key);
            continue;
        }
        let old_value = mark_seen(&old_elements, &mut old_seen, position, key);
        match old_value {
            Some(old_value) if same_value(old_value, *new_value) => {}
            old_value => changes.push((key, old_value, Some(*new_value))),
        }
    }
    for (seen, (key, old_value)) in old_seen.iter().zip(&old_elements) {
        let is_id = prefix.is_empty() && *key == "_id";
        if !seen && !is_id {
            changes.push((key, Some(*old_value), None));
        }
    }

    if changes.iter().any(|(key, _, _)| !addressable(key)) {
        return false;
    }
    for (key, old_value, new_value) in changes {
        let path = if prefix.is_empty() { key.to_owned() } else { format!("{prefix}.{key}") };
        match (old_value, new_value) {
            (Some(RawBsonRef::Document(old_doc)), Some(RawBsonRef::Document(new_doc))) => {
                let mut nested_set = RawDocumentBuf::new();
                let mut nested_unset = RawDocumentBuf::new();
                if diff_into(&path, old_doc, new_doc, &mut nested_set, &mut nested_unset) {
                    append_all(set, &nested_set);
                    append_all(unset, &nested_unset);
                } else {
                    set.append_ref(path, RawBsonRef::Document(new_doc));
                }
            }
            (_, Some(new_value)) => set.append_ref(path, new_value),
            (_, None) => unset.append(path, ""),
        }
    }
    true
}

fn append_all(into: &mut RawDocumentBuf, from: &RawDocument) {
    for (key, value) in from.iter().filter_map(Result::ok) {
        into.append_ref(key, value);
    }
}

/// Finds `key` among the old elements, trying the same position first (serde writes fields in
/// declaration order, so they usually line up), and marks it seen.
fn mark_seen<'a>(
    old_elements: &[(&str, RawBsonRef<'a>)],
    seen: &mut [bool],
    position: usize,
    key: &str,
) -> Option<RawBsonRef<'a>> {
    let index = match old_elements.get(position) {
        Some((old_key, _)) if *old_key == key => Some(position),
        _ => old_elements.iter().position(|(old_key, _)| *old_key == key),
    }?;
    seen[index] = true;
    Some(old_elements[index].1)
}

/// Equality as a flush sees it: identical values, or numbers equal in value.
fn same_value(a: RawBsonRef<'_>, b: RawBsonRef<'_>) -> bool {
    if a == b {
        return true;
    }
    match (as_number(a), as_number(b)) {
        (Some(x), Some(y)) => x == y,
        _ => false,
    }
}

/// Numbers compared by value: integers exactly, doubles only when they hold an integer.
#[derive(PartialEq)]
enum Number {
    Int(i64),
    Float(u64),
}

fn as_number(value: RawBsonRef<'_>) -> Option<Number> {
    match value {
        RawBsonRef::Int32(i) => Some(Number::Int(i64::from(i))),
        RawBsonRef::Int64(i) => Some(Number::Int(i)),
        RawBsonRef::Double(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => Some(Number::Int(f as i64)),
        RawBsonRef::Double(f) => Some(Number::Float(f.to_bits())),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use bson::{Document, doc, rawdoc};

    use super::*;

    /// The change as owned BSON, for readable assertions.
    #[derive(Debug, PartialEq)]
    enum Owned {
        None,
        Update(Document),
        Replace,
    }

    fn update(old: bson::RawDocumentBuf, new: bson::RawDocumentBuf) -> Owned {
        match diff(&old, &new) {
            Change::None => Owned::None,
            Change::Update(raw) => Owned::Update(raw.to_document().expect("valid")),
            Change::Replace => Owned::Replace,
        }
    }

    #[test]
    fn identical_documents_need_no_write() {
        assert_eq!(update(rawdoc! { "_id": 1, "a": 1 }, rawdoc! { "_id": 1, "a": 1 }), Owned::None);
    }

    #[test]
    fn changed_field_is_set() {
        assert_eq!(
            update(rawdoc! { "_id": 1, "a": 1, "b": "x" }, rawdoc! { "_id": 1, "a": 2, "b": "x" }),
            Owned::Update(doc! { "$set": { "a": 2 } })
        );
    }

    #[test]
    fn nested_change_uses_dotted_path() {
        assert_eq!(
            update(
                rawdoc! { "_id": 1, "address": { "city": "Paris", "zip": "75001" } },
                rawdoc! { "_id": 1, "address": { "city": "Lyon", "zip": "75001" } }
            ),
            Owned::Update(doc! { "$set": { "address.city": "Lyon" } })
        );
    }

    #[test]
    fn removed_field_is_unset_and_added_field_set() {
        assert_eq!(
            update(rawdoc! { "_id": 1, "a": 1, "b": 2 }, rawdoc! { "_id": 1, "a": 1, "c": 3 }),
            Owned::Update(doc! { "$set": { "c": 3 }, "$unset": { "b": "" } })
        );
    }

    #[test]
    fn arrays_are_written_whole() {
        assert_eq!(
            update(rawdoc! { "_id": 1, "tags": ["a", "b"] }, rawdoc! { "_id": 1, "tags": ["a", "c"] }),
            Owned::Update(doc! { "$set": { "tags": ["a", "c"] } })
        );
    }

    #[test]
    fn null_to_document_sets_the_document() {
        assert_eq!(
            update(rawdoc! { "_id": 1, "address": null }, rawdoc! { "_id": 1, "address": { "city": "Rome" } }),
            Owned::Update(doc! { "$set": { "address": { "city": "Rome" } } })
        );
    }

    #[test]
    fn numbers_equal_in_value_are_not_a_change() {
        assert_eq!(update(rawdoc! { "_id": 1, "n": 5_i32 }, rawdoc! { "_id": 1, "n": 5_i64 }), Owned::None);
        assert_eq!(update(rawdoc! { "_id": 1, "n": 5_i32 }, rawdoc! { "_id": 1, "n": 5.0 }), Owned::None);
        assert_ne!(update(rawdoc! { "_id": 1, "n": 5_i32 }, rawdoc! { "_id": 1, "n": 5.5 }), Owned::None);
    }

    #[test]
    fn reordered_fields_are_not_a_change() {
        assert_eq!(update(rawdoc! { "_id": 1, "a": 1, "b": 2 }, rawdoc! { "b": 2, "_id": 1, "a": 1 }), Owned::None);
    }

    #[test]
    fn unaddressable_nested_key_writes_the_parent_whole() {
        assert_eq!(
            update(rawdoc! { "_id": 1, "m": { "a.b": 1 } }, rawdoc! { "_id": 1, "m": { "a.b": 2 } }),
            Owned::Update(doc! { "$set": { "m": { "a.b": 2 } } })
        );
    }

    #[test]
    fn unaddressable_top_level_key_replaces() {
        assert_eq!(update(rawdoc! { "_id": 1, "$x": 1 }, rawdoc! { "_id": 1, "$x": 2 }), Owned::Replace);
    }
}
