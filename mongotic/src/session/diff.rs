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

use super::tracked::{Baseline, ErasedEntity};
use crate::model::IdKey;
use crate::wire::{self, Element, MAX_DEPTH, kind};

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

/// `true` when a persistent entity's value differs from its baseline (what the server last
/// had): what `Session::dirty` lists and the flush writes.
pub(crate) fn has_changes(entity: &dyn ErasedEntity) -> bool {
    let state = entity.state();
    if state.changes() == 0 {
        return false;
    }
    let Ok(current) = entity.to_raw() else {
        // Locked or unserializable: report it, the flush will say what is wrong.
        return true;
    };
    match &state.sync().baseline {
        Baseline::Taken(baseline) => id_key(baseline) != id_key(&current) || diff(baseline, &current) != Change::None,
        Baseline::Current | Baseline::Unknown => true,
    }
}

/// The identity-map key of a serialized entity's `_id`: ids compare by value, so an `i64`
/// field holding a stored `NumberInt(1)` is the same id.
pub(crate) fn id_key(doc: &RawDocumentBuf) -> Option<IdKey> {
    IdKey::of_document(doc)
}

/// Compares the stored document `old` with the current one `new`. `_id` is not compared; the
/// caller checks it separately.
pub(crate) fn diff(old: &RawDocument, new: &RawDocument) -> Change {
    if old.as_bytes() == new.as_bytes() {
        return Change::None;
    }
    // One buffer for both comparisons: the general one starts over in the in-step one's.
    let mut buffer = Vec::with_capacity(64);
    if let Some(change) = diff_in_step(old.as_bytes(), new.as_bytes(), None, &mut buffer) {
        return change;
    }
    diff_general(old, new, buffer)
}

/// The most top-level fields a [`Watch`] looks out for.
pub(crate) const MAX_WATCHED: usize = 4;

/// Top-level fields [`diff_watching`] looks out for while it walks the documents side by side:
/// a write's shard key, whose values the write's filter carries. What it saw costs nothing
/// more than the comparison itself, where finding the fields again would walk the document.
#[derive(Clone)]
pub(crate) struct Watch {
    keys: [&'static str; MAX_WATCHED],
    count: usize,
    /// The first bytes of the keys, as a set: most elements are passed over on one test.
    first_bytes: [u64; 4],
    /// Per key, its element in the new document: the BSON type (0 when the document has no
    /// such field) and the value's byte range. Kept small: every change of a watched model
    /// fills one.
    found: [(u8, u32, u32); MAX_WATCHED],
    /// A watched field's value differs between the documents.
    pub(crate) changed: bool,
    /// The walk went over every top-level element of both documents side by side: only then
    /// do `found` and `changed` say anything.
    pub(crate) complete: bool,
    /// An element could not be noted (an offset beyond 32 bits, which BSON's int32 lengths
    /// rule out): the walk is not complete.
    lost: bool,
}

impl Watch {
    /// Watches nothing.
    pub(crate) fn none() -> Watch {
        Watch {
            keys: [""; MAX_WATCHED],
            count: 0,
            first_bytes: [0; 4],
            found: [(0, 0, 0); MAX_WATCHED],
            changed: false,
            complete: false,
            lost: false,
        }
    }

    /// Watches the top-level fields `keys`; `None` when there are more than [`MAX_WATCHED`] or
    /// one is a dotted path.
    pub(crate) fn of<'a>(keys: impl Iterator<Item = &'a &'static str>) -> Option<Watch> {
        let mut watch = Watch::none();
        for key in keys {
            if watch.count == MAX_WATCHED || key.contains('.') {
                return None;
            }
            watch.keys[watch.count] = key;
            watch.count += 1;
            let first = usize::from(key.as_bytes().first().copied().unwrap_or(0));
            watch.first_bytes[first / 64] |= 1 << (first % 64);
        }
        Some(watch)
    }

    /// The watched keys, in the order given.
    pub(crate) fn keys(&self) -> &[&'static str] {
        &self.keys[..self.count]
    }

    /// The element of the key at `index` in the new document: its BSON type and the value's
    /// byte range; `None` when the document has no such field.
    pub(crate) fn found(&self, index: usize) -> Option<(u8, std::ops::Range<usize>)> {
        let (kind, start, end) = *self.found.get(index)?;
        (kind != 0).then_some((kind, start as usize..end as usize))
    }

    pub(crate) fn reset(&mut self) {
        self.found = [(0, 0, 0); MAX_WATCHED];
        self.changed = false;
        self.complete = false;
        self.lost = false;
    }

    /// Notes the top-level element pair `old`/`new` (of the document starting at `base`).
    #[inline]
    fn see(&mut self, old: Element<'_>, new: Element<'_>, base: *const u8) {
        let first = usize::from(new.key.first().copied().unwrap_or(0));
        if self.first_bytes[first / 64] & (1 << (first % 64)) == 0 {
            return;
        }
        for (index, key) in self.keys[..self.count].iter().enumerate() {
            if new.key == key.as_bytes() {
                let start = (new.value.as_ptr() as usize).wrapping_sub(base as usize);
                // A document's offsets fit in 32 bits (BSON lengths are int32).
                match (u32::try_from(start), u32::try_from(start + new.value.len())) {
                    (Ok(from), Ok(to)) => self.found[index] = (new.kind, from, to),
                    _ => self.lost = true,
                }
                self.changed |= !same_element(old, new);
            }
        }
    }
}

/// [`diff`], noting the fields `watch` looks out for.
pub(crate) fn diff_watching(old: &RawDocument, new: &RawDocument, watch: &mut Watch) -> Change {
    watch.reset();
    if old.as_bytes() == new.as_bytes() {
        return Change::None;
    }
    let mut buffer = Vec::with_capacity(64);
    if let Some(change) = diff_in_step(old.as_bytes(), new.as_bytes(), Some(&mut *watch), &mut buffer) {
        return change;
    }
    watch.reset();
    diff_general(old, new, buffer)
}

/// The comparison for any two documents (keys added, removed or reordered, nested changes):
/// `$set`/`$unset` by dotted path, or a whole replacement where a path cannot address a key.
/// Read at the byte level, as the in-step comparison is; a document whose framing does not
/// hold goes to [`diff_general_parsed`], which gives the same answer (the tests compare them).
/// The update is written into `update` (emptied first): `$set`'s elements in place, `$unset`'s
/// apart (most changes remove nothing, and then that buffer allocates nothing).
fn diff_general(old: &RawDocument, new: &RawDocument, mut update: Vec<u8>) -> Change {
    update.clear();
    // Keys that moved usually come with new values: room for about the new document (within
    // reason: the update lives only until the flush ends).
    update.reserve((new.as_bytes().len() + 32).min(1024));
    let top = wire::start(&mut update);
    let set_header = update.len();
    let set_at = wire::begin(&mut update, kind::DOCUMENT, b"$set");
    let set_from = update.len();
    let mut unset = Vec::new();
    match diff_level_general(b"", 1, old.as_bytes(), new.as_bytes(), &mut update, &mut unset) {
        None => return diff_general_parsed(old, new),
        Some(false) => return Change::Replace,
        Some(true) => {}
    }
    let has_set = update.len() > set_from;
    if !has_set && unset.is_empty() {
        return Change::None;
    }
    if !has_set {
        update.truncate(set_header);
    } else if !wire::end(&mut update, set_at) {
        return diff_general_parsed(old, new);
    }
    if !unset.is_empty() {
        let unset_at = wire::begin(&mut update, kind::DOCUMENT, b"$unset");
        update.extend_from_slice(&unset);
        if !wire::end(&mut update, unset_at) {
            return diff_general_parsed(old, new);
        }
    }
    if !wire::end(&mut update, top) {
        return diff_general_parsed(old, new);
    }
    match RawDocumentBuf::from_bytes(update) {
        Ok(update) => Change::Update(update),
        Err(_) => diff_general_parsed(old, new),
    }
}

/// How many elements of a level [`diff_level_general`] keeps on the stack; a level with more
/// goes to the heap.
const ELEMENTS_ON_STACK: usize = 16;

/// One level of [`diff_general`]: appends to `set` and `unset` (elements only) the differences
/// between `old` and `new`, both at `prefix`. `Some(false)` when a changed key cannot be
/// addressed by a path (the caller writes this level whole), with nothing appended; `None` when
/// a document's framing does not hold.
fn diff_level_general(
    prefix: &[u8],
    depth: usize,
    old: &[u8],
    new: &[u8],
    set: &mut Vec<u8>,
    unset: &mut Vec<u8>,
) -> Option<bool> {
    let top = prefix.is_empty();
    let (set_mark, unset_mark) = (set.len(), unset.len());
    // The old level's elements, looked up by key as the new level is walked: on the stack for
    // the common small level (this runs for every changed entity whose keys moved).
    let empty = Element { kind: 0, key: &[], value: &[] };
    let mut on_stack = [empty; ELEMENTS_ON_STACK];
    let mut on_heap = Vec::new();
    let mut count = 0;
    let mut reading = wire::elements(old);
    for element in reading.by_ref() {
        let element = element?;
        match on_stack.get_mut(count) {
            Some(slot) if on_heap.is_empty() => *slot = element,
            _ => {
                if on_heap.is_empty() {
                    on_heap.extend_from_slice(&on_stack);
                }
                on_heap.push(element);
            }
        }
        count += 1;
    }
    if !reading.is_complete() {
        return None;
    }
    let old_elements: &[Element<'_>] = if on_heap.is_empty() { &on_stack[..count] } else { &on_heap };
    let (mut seen_on_stack, mut seen_on_heap) = ([false; ELEMENTS_ON_STACK], Vec::new());
    let seen: &mut [bool] = match seen_on_stack.get_mut(..count) {
        Some(seen) => seen,
        None => {
            seen_on_heap.resize(count, false);
            &mut seen_on_heap
        }
    };
    let refused = |set: &mut Vec<u8>, unset: &mut Vec<u8>| {
        set.truncate(set_mark);
        unset.truncate(unset_mark);
        Some(false)
    };
    let mut reading = wire::elements(new);
    for (position, new) in reading.by_ref().enumerate() {
        let new = new?;
        let found = match old_elements.get(position) {
            Some(old) if old.key == new.key => Some(position),
            _ => old_elements.iter().position(|old| old.key == new.key),
        };
        if let Some(index) = found {
            seen[index] = true;
        }
        if top && new.key == b"_id" {
            continue;
        }
        let old = found.map(|index| old_elements[index]);
        if old.is_some_and(|old| same_element(old, new)) {
            continue;
        }
        if !(is_text(new.key) && addressable_bytes(new.key)) {
            return refused(set, unset);
        }
        match old {
            Some(old) if old.kind == kind::DOCUMENT && new.kind == kind::DOCUMENT && depth < MAX_DEPTH => {
                let path = [prefix, if top { b"" } else { b"." }, new.key].concat();
                if !diff_level_general(&path, depth + 1, old.value, new.value, set, unset)? {
                    wire::append(set, new.kind, &path, new.value);
                }
            }
            _ => wire::append_path(set, new.kind, prefix, new.key, new.value),
        }
    }
    if !reading.is_complete() {
        return None;
    }
    for (old, seen) in old_elements.iter().zip(seen.iter()) {
        if *seen || (top && old.key == b"_id") {
            continue;
        }
        if !(is_text(old.key) && addressable_bytes(old.key)) {
            return refused(set, unset);
        }
        if unset.is_empty() {
            // Room for a few removals at once: grown from nothing, a first one takes three
            // allocations.
            unset.reserve(64);
        }
        // `{path: ""}`: an empty string, as `$unset` takes.
        wire::append_path(unset, kind::STRING, prefix, old.key, &[1, 0, 0, 0, 0]);
    }
    Some(true)
}

/// [`diff_general`] over parsed elements: the reference the byte-level comparison is tested
/// against, and its fallback for documents whose framing does not hold.
fn diff_general_parsed(old: &RawDocument, new: &RawDocument) -> Change {
    let mut set = RawDocumentBuf::new();
    let mut unset = RawDocumentBuf::new();
    if !diff_into("", 1, old, new, &mut set, &mut unset) {
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

/// [`diff`] for the common case, without allocating per element: the documents have the same
/// keys in the same order wherever they differ (serde writes a struct's fields in declaration
/// order, so a changed entity lines up with its baseline). Then no field was removed, and the
/// update is a `$set` of what changed. `None` when the keys do not line up, or a document's
/// framing does not hold: the general comparison decides. Gives what the general comparison
/// gives (the tests compare them).
fn diff_in_step(old: &[u8], new: &[u8], mut watch: Option<&mut Watch>, update: &mut Vec<u8>) -> Option<Change> {
    update.clear();
    let top = wire::start(update);
    let set = wire::begin(update, kind::DOCUMENT, b"$set");
    let first_change = update.len();
    let lined_up = diff_level_in_step(b"", 1, old, new, update, watch.as_deref_mut(), new.as_ptr())?;
    if let Some(watch) = watch {
        watch.complete = lined_up && watch.count > 0 && !watch.lost;
    }
    if !lined_up {
        return Some(Change::Replace);
    }
    if update.len() == first_change {
        return Some(Change::None);
    }
    if !(wire::end(update, set) && wire::end(update, top)) {
        return None;
    }
    RawDocumentBuf::from_bytes(std::mem::take(update)).ok().map(Change::Update)
}

/// Appends to `set` the `$set` elements for the differences between `old` and `new` (both at
/// `prefix`, empty at the top). `Some(false)` when a changed key cannot be addressed by a
/// dotted path (the caller writes the enclosing document whole), with nothing appended.
/// `depth` counts the levels down to these documents: at MongoDB's limit of nesting the
/// documents are not compared further, and are written whole.
/// At the top, `watch` notes the fields it looks out for (`base`: where the new top-level
/// document starts).
fn diff_level_in_step(
    prefix: &[u8],
    depth: usize,
    old: &[u8],
    new: &[u8],
    set: &mut Vec<u8>,
    mut watch: Option<&mut Watch>,
    base: *const u8,
) -> Option<bool> {
    let top = prefix.is_empty();
    let mark = set.len();
    let mut old_elements = wire::elements(old);
    let mut new_elements = wire::elements(new);
    loop {
        let (old, new) = match (old_elements.next(), new_elements.next()) {
            (None, None) => break,
            (Some(Some(old)), Some(Some(new))) if old.key == new.key => (old, new),
            _ => return None,
        };
        if let Some(watch) = watch.as_deref_mut() {
            watch.see(old, new, base);
        }
        if same_element(old, new) || (top && new.key == b"_id") {
            continue;
        }
        // A key that is not text goes to the general comparison, which skips it.
        if !is_text(new.key) {
            return None;
        }
        if !addressable_bytes(new.key) {
            set.truncate(mark);
            return Some(false);
        }
        if old.kind == kind::DOCUMENT && new.kind == kind::DOCUMENT && depth < MAX_DEPTH {
            let path = [prefix, if top { b"" } else { b"." }, new.key].concat();
            if !diff_level_in_step(&path, depth + 1, old.value, new.value, set, None, base)? {
                wire::append(set, new.kind, &path, new.value);
            }
        } else {
            wire::append_path(set, new.kind, prefix, new.key, new.value);
        }
    }
    Some(old_elements.is_complete() && new_elements.is_complete()).filter(|complete| *complete)
}

/// [`same_value`] on raw elements: identical, or numbers equal in value. (Inlined: it runs
/// per element of every comparison, and the identical case is two compares.)
#[inline(always)]
fn same_element(old: Element<'_>, new: Element<'_>) -> bool {
    if old.kind == new.kind && old.value == new.value {
        return true;
    }
    let (Some(a), Some(b)) = (number(old), number(new)) else { return false };
    if let (RawNumber::Double(x), RawNumber::Double(y)) = (a, b)
        && x == y
    {
        return true;
    }
    a.as_number() == b.as_number()
}

#[derive(Clone, Copy)]
enum RawNumber {
    Int32(i32),
    Int64(i64),
    Double(f64),
}

impl RawNumber {
    fn as_number(self) -> Option<Number> {
        as_number(match self {
            RawNumber::Int32(i) => RawBsonRef::Int32(i),
            RawNumber::Int64(i) => RawBsonRef::Int64(i),
            RawNumber::Double(f) => RawBsonRef::Double(f),
        })
    }
}

fn number(element: Element<'_>) -> Option<RawNumber> {
    match element.kind {
        kind::INT32 => Some(RawNumber::Int32(i32::from_le_bytes(element.value.try_into().ok()?))),
        kind::INT64 => Some(RawNumber::Int64(i64::from_le_bytes(element.value.try_into().ok()?))),
        kind::DOUBLE => Some(RawNumber::Double(f64::from_le_bytes(element.value.try_into().ok()?))),
        _ => None,
    }
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
    addressable_bytes(key.as_bytes())
}

/// [`addressable`] on a key's bytes (known to be text).
fn addressable_bytes(key: &[u8]) -> bool {
    key.first().is_some_and(|first| *first != b'$') && !key.contains(&b'.')
}

/// A key is UTF-8: most are ASCII, which is tested a word at a time (keys are short, and the
/// full check costs a call and its setup per key).
fn is_text(key: &[u8]) -> bool {
    key.is_ascii() || std::str::from_utf8(key).is_ok()
}

fn elements(doc: &RawDocument) -> Vec<(&str, RawBsonRef<'_>)> {
    // A document the server sent or bson serialized is well formed; an element that fails to
    // parse is skipped here and shows up as a difference, which writes the value whole.
    doc.iter().filter_map(Result::ok).collect()
}

/// Records the difference between `old` and `new` (both at `prefix`) in `set`/`unset`.
/// Returns `false` when a changed key at this level cannot be addressed by path, so the caller
/// writes the enclosing document whole. (Keys come from parsed BSON, so they hold no NUL and
/// appending them cannot fail.) `depth` as for the in-step comparison.
fn diff_into(
    prefix: &str,
    depth: usize,
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
            (Some(RawBsonRef::Document(old_doc)), Some(RawBsonRef::Document(new_doc))) if depth < MAX_DEPTH => {
                let mut nested_set = RawDocumentBuf::new();
                let mut nested_unset = RawDocumentBuf::new();
                if diff_into(&path, depth + 1, old_doc, new_doc, &mut nested_set, &mut nested_unset) {
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
    use proptest::prelude::*;

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

    /// The general comparison alone, to check the in-step one against.
    fn general(old: &RawDocument, new: &RawDocument) -> Change {
        diff_general(old, new, Vec::new())
    }

    #[test]
    fn a_watch_reports_the_fields_it_looks_out_for_where_the_walk_saw_them_all() {
        let keys = ["city", "zone"];
        let watch_of = |old: &RawDocumentBuf, new: &RawDocumentBuf| {
            let mut watch = Watch::of(keys.iter()).expect("two top-level keys");
            let change = diff_watching(old, new, &mut watch);
            (change, watch)
        };
        let old = rawdoc! { "_id": 1, "city": "Lyon", "score": 1.0, "zone": 3_i32 };
        // Another field changed: both keys found, unchanged, at their place in `new`.
        let new = rawdoc! { "_id": 1, "city": "Lyon", "score": 2.0, "zone": 3_i64 };
        let (change, watch) = watch_of(&old, &new);
        assert!(matches!(change, Change::Update(_)));
        assert!(watch.complete && !watch.changed, "3 and 3 are one value");
        let (kind, range) = watch.found(0).expect("city");
        assert_eq!((kind, &new.as_bytes()[range]), (wire::kind::STRING, &b"\x05\0\0\0Lyon\0"[..]));
        assert_eq!(watch.found(1).map(|(kind, _)| kind), Some(wire::kind::INT64));
        // The key itself changed.
        let moved = rawdoc! { "_id": 1, "city": "Oslo", "score": 1.0, "zone": 3_i32 };
        let (_, watch) = watch_of(&old, &moved);
        assert!(watch.complete && watch.changed);
        // A missing key is found as missing; a walk that could not go side by side says nothing.
        let (_, watch) = watch_of(&rawdoc! { "_id": 1, "a": 1 }, &rawdoc! { "_id": 1, "a": 2 });
        assert!(watch.complete && watch.found(0).is_none() && watch.found(1).is_none());
        let (_, watch) = watch_of(&old, &rawdoc! { "_id": 1, "score": 1.0, "city": "Lyon", "zone": 3_i32 });
        assert!(!watch.complete);
        assert!(Watch::of(["a.b"].iter()).is_none(), "dotted paths are not watched");
    }

    #[test]
    fn in_step_comparison_agrees_with_the_general_one() {
        // Each case with whether its keys line up, so the in-step comparison must decide it.
        let cases = [
            (rawdoc! { "_id": 1, "a": 1, "b": "x" }, rawdoc! { "_id": 1, "a": 2, "b": "x" }, true),
            (rawdoc! { "_id": 1, "a": 1 }, rawdoc! { "_id": 2, "a": 1 }, true),
            (rawdoc! { "_id": 1, "n": 5_i32, "f": 0.0 }, rawdoc! { "_id": 1, "n": 5.0, "f": -0.0 }, true),
            (rawdoc! { "n": f64::NAN }, rawdoc! { "n": f64::NAN }, true),
            (rawdoc! { "n": 5_i64 }, rawdoc! { "n": 5.5 }, true),
            (rawdoc! { "a": { "b": { "c": 1, "d": 2 } } }, rawdoc! { "a": { "b": { "c": 1, "d": 3 } } }, true),
            (rawdoc! { "a": { "b.c": 1 }, "x": 1 }, rawdoc! { "a": { "b.c": 2 }, "x": 2 }, true),
            (rawdoc! { "$x": 1, "y": 1 }, rawdoc! { "$x": 2, "y": 2 }, true),
            (rawdoc! { "a": [1, 2], "b": null }, rawdoc! { "a": [1, 3], "b": { "c": 1 } }, true),
            (rawdoc! { "a": { "x": 1 } }, rawdoc! { "a": "text" }, true),
            (rawdoc! { "a": 1, "b": 2 }, rawdoc! { "b": 2, "a": 1 }, false),
            (rawdoc! { "a": 1, "b": 2 }, rawdoc! { "a": 1 }, false),
            (rawdoc! { "a": { "x": 1, "y": 2 } }, rawdoc! { "a": { "y": 2, "x": 3 } }, false),
        ];
        for (old, new, lined_up) in cases {
            let in_step = diff_in_step(old.as_bytes(), new.as_bytes(), None, &mut Vec::new());
            assert_eq!(in_step.is_some(), lined_up, "{old:?} -> {new:?}");
            if let Some(in_step) = &in_step {
                assert_eq!(*in_step, general(&old, &new), "{old:?} -> {new:?}");
            }
            assert_eq!(diff(&old, &new), general(&old, &new), "{old:?} -> {new:?}");
        }
    }

    /// Whether the in-step comparison can decide `old` against `new` (`top` for a whole
    /// entity): reading both in step, every pair of elements that differs has the same key,
    /// and a pair of documents among them is decided in step too, until a changed key that no
    /// path can address settles the level (its document is written whole).
    fn lined_up(old: &RawDocument, new: &RawDocument, top: bool) -> bool {
        let old: Vec<_> = old.iter().filter_map(Result::ok).collect();
        let new: Vec<_> = new.iter().filter_map(Result::ok).collect();
        for index in 0..old.len().max(new.len()) {
            let (Some((old_key, old_value)), Some((new_key, new_value))) = (old.get(index), new.get(index)) else {
                return false;
            };
            if old_key != new_key {
                return false;
            }
            if same_value(*old_value, *new_value) || (top && *new_key == "_id") {
                continue;
            }
            if !addressable(new_key) {
                return true;
            }
            if let (RawBsonRef::Document(a), RawBsonRef::Document(b)) = (old_value, new_value)
                && !lined_up(a, b, false)
            {
                return false;
            }
        }
        true
    }

    fn value() -> impl Strategy<Value = bson::Bson> {
        let leaf = prop_oneof![
            (0..3_i32).prop_map(bson::Bson::Int32),
            (0..3_i64).prop_map(bson::Bson::Int64),
            prop_oneof![Just(0.0), Just(-0.0), Just(1.0), Just(1.5), Just(f64::NAN)].prop_map(bson::Bson::Double),
            "[ab]{0,2}".prop_map(bson::Bson::String),
            Just(bson::Bson::Null),
        ];
        leaf.prop_recursive(3, 24, 4, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..3).prop_map(bson::Bson::Array),
                proptest::collection::vec(("[a-c.$]{0,2}", inner), 0..4)
                    .prop_map(|fields| bson::Bson::Document(fields.into_iter().collect())),
            ]
        })
    }

    proptest! {
        /// Documents with the same keys in the same order and random values, as a changed
        /// entity and its baseline usually are.
        #[test]
        fn in_step_comparison_agrees_on_random_documents(
            fields in proptest::collection::vec(("[a-d_]{1,3}", value(), value(), any::<bool>()), 0..6)
        ) {
            let old: Document = fields.iter().map(|(key, value, _, _)| (key.clone(), value.clone())).collect();
            let new: Document = fields
                .iter()
                .map(|(key, value, other, change)| (key.clone(), if *change { other.clone() } else { value.clone() }))
                .collect();
            let old = bson::RawDocumentBuf::from_document(&old).expect("valid");
            let new = bson::RawDocumentBuf::from_document(&new).expect("valid");
            let in_step = diff_in_step(old.as_bytes(), new.as_bytes(), None, &mut Vec::new());
            prop_assert_eq!(in_step.is_some(), lined_up(&old, &new, true));
            if let Some(in_step) = in_step {
                prop_assert_eq!(in_step, general(&old, &new));
            }
        }
    }

    proptest! {
        /// Any two documents (keys added, removed, reordered, nested, unaddressable): the
        /// byte-level general comparison gives what the comparison over parsed elements gives.
        #[test]
        fn the_byte_level_general_comparison_agrees_with_the_parsed_one(
            old in proptest::collection::vec(("[a-c_.$]{0,2}", value()), 0..6),
            new in proptest::collection::vec(("[a-c_.$]{0,2}", value()), 0..6),
        ) {
            let old: Document = old.into_iter().collect();
            let new: Document = new.into_iter().collect();
            let old = bson::RawDocumentBuf::from_document(&old).expect("valid");
            let new = bson::RawDocumentBuf::from_document(&new).expect("valid");
            prop_assert_eq!(diff_general(&old, &new, Vec::new()), diff_general_parsed(&old, &new));
            prop_assert_eq!(diff_general(&new, &old, Vec::new()), diff_general_parsed(&new, &old));
        }
    }

    #[test]
    fn the_byte_level_general_comparison_agrees_on_the_cases() {
        let cases = [
            (
                rawdoc! { "_id": 1, "fullname": "A B", "mail": "m" },
                rawdoc! { "_id": 1, "mail": "m", "first": "A", "last": "B" },
            ),
            (rawdoc! { "a": { "x": 1, "y": 2 }, "b": 1 }, rawdoc! { "a": { "y": 2, "z": 3 } }),
            (rawdoc! { "a": { "x.y": 1 }, "b": 1 }, rawdoc! { "a": { "z": 1 }, "c": 1 }),
            (rawdoc! { "$a": 1, "b": 1 }, rawdoc! { "b": 2 }),
            (rawdoc! { "n": 1_i32, "m": 2 }, rawdoc! { "m": 2, "n": 1.0 }),
            (rawdoc! {}, rawdoc! { "a": [1, { "b": 2 }] }),
        ];
        // Levels with more elements than the comparison keeps on the stack: reordered, some
        // changed, some removed.
        let mut wide_old = bson::RawDocumentBuf::new();
        let mut wide_new = bson::RawDocumentBuf::new();
        for i in 0..(ELEMENTS_ON_STACK as i32 * 2 + 3) {
            wide_old.append(format!("f{i}"), i);
            let j = ELEMENTS_ON_STACK as i32 * 2 + 2 - i;
            if j % 5 != 0 {
                wide_new.append(format!("f{j}"), if j % 3 == 0 { j + 1 } else { j });
            }
        }
        let mut nested_old = bson::RawDocumentBuf::new();
        nested_old.append("inner", wide_old.clone());
        let mut nested_new = bson::RawDocumentBuf::new();
        nested_new.append("inner", wide_new.clone());
        for (old, new) in [(&wide_old, &wide_new), (&nested_old, &nested_new)] {
            assert!(matches!(diff_general(old, new, Vec::new()), Change::Update(_)));
        }
        let cases = cases.into_iter().chain([(wide_old, wide_new), (nested_old, nested_new)]);
        for (old, new) in cases {
            assert_eq!(diff_general(&old, &new, Vec::new()), diff_general_parsed(&old, &new), "{old:?} -> {new:?}");
            assert_eq!(diff_general(&new, &old, Vec::new()), diff_general_parsed(&new, &old), "{new:?} -> {old:?}");
        }
    }

    #[test]
    fn documents_nested_past_the_limit_are_written_whole_below_it() {
        // Deeper than MongoDB allows (a stored document cannot be), and than a recursive walk
        // may go on a small stack: compared down to the limit, written whole from there.
        let (old, new) = (wire::nested_document(MAX_DEPTH + 50, 1), wire::nested_document(MAX_DEPTH + 50, 2));
        let std::thread::Result::Ok((in_step, general)) = std::thread::Builder::new()
            .stack_size(2 * 1024 * 1024)
            .spawn(move || {
                (
                    diff_in_step(old.as_bytes(), new.as_bytes(), None, &mut Vec::new()),
                    diff_general(&old, &new, Vec::new()),
                )
            })
            .expect("thread")
            .join()
        else {
            panic!("the comparison overflowed its stack");
        };
        for change in [in_step.expect("lined up"), general] {
            let Change::Update(update) = change else { panic!("an update") };
            let set = update.get_document("$set").expect("$set");
            let (path, _) = set.iter().next().expect("one path").expect("valid");
            assert_eq!(path.split('.').count(), MAX_DEPTH, "{path}");
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
