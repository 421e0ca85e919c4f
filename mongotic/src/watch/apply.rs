//! Following a change stream in a session: an event refreshes the entity the session tracks for
//! its document, without another read.

use bson::{Bson, Document, RawBsonRef, RawDocument, RawDocumentBuf};

use super::event::{Change, Event};
use crate::{Error, Model, Result, Session};

/// What [`Session::apply`] did with an event.
///
/// ```
/// use mongotic::watch::Applied;
/// assert_ne!(Applied::Refreshed, Applied::NotTracked);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Applied {
    /// The tracked entity now holds the document the event describes, as its value and as
    /// what the session knows the server has (so it is not dirty).
    Refreshed,
    /// The document was deleted: the session forgot the entity (it is detached).
    Removed,
    /// The session does not track the document: nothing changed.
    NotTracked,
    /// The session has a write of the entity staged or in doubt (new, merged, deleted, or a
    /// flush's outcome unknown): the event is left for that write to settle, nothing changed.
    Pending,
    /// The event did not say enough to rebuild the document (an update without its document,
    /// of an entity whose value before its pending change could not be kept): the entity is
    /// marked expired, to [`refresh`](Session::refresh).
    Expired,
    /// An event about the collection, not a document: nothing changed.
    Ignored,
}

impl Session {
    /// Brings the entity this session tracks for the event's document in step with the event,
    /// with no I/O: for caches that follow a change stream.
    ///
    /// - **Insert, replace, or update with its document** (looked up, or a post-image): the
    ///   entity's value becomes that document, and so does its baseline: the entity is not
    ///   dirty, and its pending field changes are dropped, as [`refresh`](Session::refresh)
    ///   drops them (the server's state wins).
    /// - **Update without its document**: the set, removed and truncated fields are applied to
    ///   what the session knows the server had (the value before the pending change, if there
    ///   is one), and the result loaded as above.
    /// - **Delete**: the session forgets the entity (it is detached, and adding it again would
    ///   insert it).
    /// - **A document the session does not track** is ignored ([`Applied::NotTracked`]): the
    ///   session stays the unit of work of what the program loaded, and does not grow with
    ///   the stream. To follow every document, [`merge`](Session::merge) the event's document
    ///   or [`get`](Session::get) it.
    ///
    /// A document that does not deserialize into the model is [`Error::Deserialize`], with
    /// the entity unchanged.
    ///
    /// ```no_run
    /// # use mongotic::prelude::*;
    /// # #[derive(Debug, Serialize, Deserialize, Model)]
    /// # #[mongotic(database = "app", collection = "users")]
    /// # struct User { #[serde(rename = "_id")] id: Option<ObjectId>, name: String }
    /// # async fn demo(engine: Engine, mut session: Session) -> mongotic::Result<()> {
    /// let users = session.scalars(select::<User>()).all().await?; // the cache
    /// let mut stream = mongotic::watch::watch::<User>().open(&engine).await?;
    /// while let Some(event) = stream.next().await {
    ///     session.apply(&event?)?; // users[..] follow the collection
    /// }
    /// # Ok(()) }
    /// ```
    pub fn apply<M: Model>(&mut self, event: &Event<M>) -> Result<Applied> {
        let document_key = match &event.change {
            Change::Collection { .. } => return Ok(Applied::Ignored),
            _ => &event.id,
        };
        let (entity, stored) = match self.followed::<M>(document_key)? {
            None => return Ok(Applied::NotTracked),
            Some(None) => return Ok(Applied::Pending),
            Some(Some(found)) => found,
        };
        let full = match event.raw.get("fullDocument") {
            Ok(Some(RawBsonRef::Document(doc))) => Some(doc.to_raw_document_buf()),
            _ => None,
        };
        let next: Option<RawDocumentBuf> = match &event.change {
            Change::Delete { .. } => {
                self.follow_deleted(&entity);
                return Ok(Applied::Removed);
            }
            Change::Insert { .. } | Change::Replace { .. } => full,
            Change::Update(update) => match full {
                Some(full) => Some(full),
                None => match stored {
                    Some(stored) => {
                        let (fields, removed, truncated) = update.parts();
                        updated_document(&stored, fields, removed, truncated)?
                    }
                    None => None,
                },
            },
            Change::Collection { .. } => return Ok(Applied::Ignored),
        };
        match next {
            Some(raw) => {
                self.follow_stored(&entity, &raw)?;
                Ok(Applied::Refreshed)
            }
            None => {
                self.expire(&entity);
                Ok(Applied::Expired)
            }
        }
    }
}

/// `stored` with an update applied: arrays truncated, then fields set, then fields removed, as
/// the server applied them. `None` when a path cannot be followed (it goes through a value that
/// is neither a document nor an array).
fn updated_document(
    stored: &RawDocument,
    fields: &RawDocument,
    removed: &[String],
    truncated: &[(String, u32)],
) -> Result<Option<RawDocumentBuf>> {
    let malformed = |err: &dyn std::fmt::Display| Error::UnexpectedReply { message: format!("an update event: {err}") };
    let mut doc = Document::try_from(stored).map_err(|err| malformed(&err))?;
    for (path, len) in truncated {
        match slot(&mut doc, path, false) {
            Some(Bson::Array(items)) => items.truncate(*len as usize),
            _ => return Ok(None),
        }
    }
    for element in fields.iter() {
        let (path, value) = element.map_err(|err| malformed(&err))?;
        let value = Bson::try_from(value.to_raw_bson()).map_err(|err| malformed(&err))?;
        match slot(&mut doc, path, true) {
            Some(target) => *target = value,
            None => return Ok(None),
        }
    }
    for path in removed {
        remove(&mut doc, path);
    }
    RawDocumentBuf::from_document(&doc).map(Some).map_err(|err| malformed(&err))
}

/// The value at the dotted `path` of `doc`, created (documents for missing parents, nulls to
/// pad an array) when `create`.
fn slot<'a>(doc: &'a mut Document, path: &str, create: bool) -> Option<&'a mut Bson> {
    let (first, rest) = match path.split_once('.') {
        Some((first, rest)) => (first, Some(rest)),
        None => (path, None),
    };
    if create && !doc.contains_key(first) {
        let fresh = if rest.is_some() { Bson::Document(Document::new()) } else { Bson::Null };
        doc.insert(first, fresh);
    }
    let value = doc.get_mut(first)?;
    match rest {
        None => Some(value),
        Some(rest) => descend(value, rest, create),
    }
}

fn descend<'a>(value: &'a mut Bson, path: &str, create: bool) -> Option<&'a mut Bson> {
    match value {
        Bson::Document(inner) => slot(inner, path, create),
        Bson::Array(items) => {
            let (first, rest) = match path.split_once('.') {
                Some((first, rest)) => (first, Some(rest)),
                None => (path, None),
            };
            let index: usize = first.parse().ok()?;
            if create && items.len() <= index {
                items.resize(index + 1, Bson::Null);
                if rest.is_some() {
                    items[index] = Bson::Document(Document::new());
                }
            }
            let item = items.get_mut(index)?;
            match rest {
                None => Some(item),
                Some(rest) => descend(item, rest, create),
            }
        }
        _ => None,
    }
}

/// Removes the dotted `path` of `doc` (an array element becomes null, as `$unset` makes it).
fn remove(doc: &mut Document, path: &str) {
    match path.rsplit_once('.') {
        None => {
            doc.remove(path);
        }
        Some((parent, last)) => match slot(doc, parent, false) {
            Some(Bson::Document(inner)) => {
                inner.remove(last);
            }
            Some(Bson::Array(items)) => {
                if let Some(item) = last.parse::<usize>().ok().and_then(|index| items.get_mut(index)) {
                    *item = Bson::Null;
                }
            }
            _ => {}
        },
    }
}

#[cfg(test)]
mod tests {
    use bson::{doc, rawdoc};

    use super::*;

    #[test]
    fn an_update_is_applied_as_the_server_applied_it() -> Result<()> {
        let stored = rawdoc! { "_id": 1, "name": "a", "tags": ["x", "y", "z"], "address": { "city": "P", "zip": "1" } };
        let fields = rawdoc! { "name": "b", "address.city": "Q", "tags.1": "w", "new.deep": 5 };
        let removed = vec!["address.zip".to_owned()];
        let truncated = vec![("tags".to_owned(), 2)];
        let next = updated_document(&stored, &fields, &removed, &truncated)?.map(|raw| raw.to_document());
        let expected =
            doc! { "_id": 1, "name": "b", "tags": ["x", "w"], "address": { "city": "Q" }, "new": { "deep": 5 } };
        assert_eq!(next.transpose().ok().flatten(), Some(expected));
        Ok(())
    }

    #[test]
    fn a_path_through_a_scalar_cannot_be_followed() -> Result<()> {
        let stored = rawdoc! { "_id": 1, "name": "a" };
        assert!(updated_document(&stored, &rawdoc! { "name.first": "b" }, &[], &[])?.is_none());
        Ok(())
    }
}
