//! Dotted paths (`address.city`, `lines.0.sku`) inside a `bson::Document`: reading, setting and
//! removing a value, as a document entity's edits need.

use bson::{Bson, Document};

use crate::expr::refused_path;
use crate::{Error, Result};

/// The value at `path`, looking through embedded documents and (by index) arrays.
pub(crate) fn get<'a>(doc: &'a Document, path: &str) -> Option<&'a Bson> {
    let mut segments = path.split('.');
    let mut value = doc.get(segments.next()?)?;
    for segment in segments {
        value = step(value, segment)?;
    }
    Some(value)
}

fn step<'a>(value: &'a Bson, segment: &str) -> Option<&'a Bson> {
    match value {
        Bson::Document(inner) => inner.get(segment),
        Bson::Array(items) => items.get(segment.parse::<usize>().ok()?),
        _ => None,
    }
}

fn step_mut<'a>(value: &'a mut Bson, segment: &str) -> Option<&'a mut Bson> {
    match value {
        Bson::Document(inner) => inner.get_mut(segment),
        Bson::Array(items) => items.get_mut(segment.parse::<usize>().ok()?),
        _ => None,
    }
}

/// Sets `path` to `value`, creating the embedded documents on the way that are missing (as
/// `$set` does). A segment that runs into a value that is neither a document nor an array with
/// that index is an [`Error::InvalidValue`], and nothing changes.
pub(crate) fn set(doc: &mut Document, path: &str, value: Bson) -> Result<Option<Bson>> {
    refuse(path)?;
    let (parents, last) = path.rsplit_once('.').map_or((None, path), |(parents, last)| (Some(parents), last));
    let Some(parents) = parents else { return Ok(doc.insert(last, value)) };
    let mut segments = parents.split('.');
    let first = segments.next().unwrap_or(parents);
    let mut at = doc.entry(first.to_owned()).or_insert_with(|| Bson::Document(Document::new()));
    for segment in segments {
        at = match at {
            Bson::Document(inner) => inner.entry(segment.to_owned()).or_insert_with(|| Bson::Document(Document::new())),
            other => match step_mut(other, segment) {
                Some(next) => next,
                None => return Err(blocked(path, segment)),
            },
        };
    }
    match at {
        Bson::Document(inner) => Ok(inner.insert(last, value)),
        Bson::Array(items) => match last.parse::<usize>().ok().and_then(|index| items.get_mut(index)) {
            Some(slot) => Ok(Some(std::mem::replace(slot, value))),
            None => Err(blocked(path, last)),
        },
        _ => Err(blocked(path, last)),
    }
}

/// Removes `path`, returning what was there (as `$unset` does; a missing path is no change).
pub(crate) fn unset(doc: &mut Document, path: &str) -> Option<Bson> {
    let Some((parents, last)) = path.rsplit_once('.') else { return doc.remove(path) };
    let mut segments = parents.split('.');
    let mut at = doc.get_mut(segments.next()?)?;
    for segment in segments {
        at = step_mut(at, segment)?;
    }
    match at {
        Bson::Document(inner) => inner.remove(last),
        // `$unset` of an array element sets it to null rather than shifting the others.
        Bson::Array(items) => {
            items.get_mut(last.parse::<usize>().ok()?).map(|slot| std::mem::replace(slot, Bson::Null))
        }
        _ => None,
    }
}

fn refuse(path: &str) -> Result<()> {
    match refused_path(path) {
        Some(why) => Err(Error::InvalidValue { path: path.to_owned(), message: why.to_owned() }),
        None => Ok(()),
    }
}

fn blocked(path: &str, segment: &str) -> Error {
    Error::InvalidValue {
        path: path.to_owned(),
        message: format!(
            "`{segment}` is not reachable: a value on the way is neither a document nor an array holding it"
        ),
    }
}

#[cfg(test)]
mod tests {
    use bson::doc;

    use super::*;

    #[test]
    fn paths_are_read_through_documents_and_arrays() {
        let doc = doc! { "a": { "b": 1 }, "lines": [{ "sku": "x" }] };
        assert_eq!(get(&doc, "a.b"), Some(&Bson::Int32(1)));
        assert_eq!(get(&doc, "lines.0.sku"), Some(&Bson::String("x".into())));
        assert_eq!(get(&doc, "lines.1.sku"), None);
        assert_eq!(get(&doc, "a.b.c"), None);
    }

    #[test]
    fn set_creates_missing_documents_and_refuses_to_go_through_a_scalar() {
        let mut doc = doc! { "a": 1 };
        set(&mut doc, "x.y.z", Bson::Int32(2)).unwrap();
        assert_eq!(doc, doc! { "a": 1, "x": { "y": { "z": 2 } } });
        let before = doc.clone();
        assert!(matches!(set(&mut doc, "a.b", Bson::Int32(3)), Err(Error::InvalidValue { .. })));
        assert!(matches!(set(&mut doc, "$where", Bson::Int32(3)), Err(Error::InvalidValue { .. })));
        assert_eq!(doc, before);
        let mut doc = doc! { "lines": [{ "sku": "x" }] };
        set(&mut doc, "lines.0.sku", Bson::String("y".into())).unwrap();
        assert_eq!(doc, doc! { "lines": [{ "sku": "y" }] });
    }

    #[test]
    fn unset_removes_and_reports_what_was_there() {
        let mut doc = doc! { "a": { "b": 1, "c": 2 }, "list": [1, 2] };
        assert_eq!(unset(&mut doc, "a.b"), Some(Bson::Int32(1)));
        assert_eq!(unset(&mut doc, "a.missing"), None);
        assert_eq!(unset(&mut doc, "list.0"), Some(Bson::Int32(1)));
        assert_eq!(doc, doc! { "a": { "c": 2 }, "list": [null, 2] });
    }
}
