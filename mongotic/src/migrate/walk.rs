//! The walk of a backfill: one cursor over the documents to change, in ascending `_id`, cut
//! into pages, resumable after any `_id`.
//!
//! One cursor serves the whole walk (a query per page would cost a query plan and, on a
//! server without a range scan of the `_id` index, a scan of the collection per page). A
//! walk resumed after a position reads `_id > position` first; `$gt` compares within one
//! BSON type, so the ids of the types that sort after the position's are read next, by a
//! second cursor. A cursor the server dropped (idle past its timeout while a slow page was
//! written) is opened again after the last document read.

use bson::{Bson, RawDocumentBuf};

use crate::expr::{Filter, Test, Untyped, Value, path};
use crate::session::ErasedRows;
use crate::{Result, Session};

/// The server's code for a cursor it no longer has (`CursorNotFound`).
const CURSOR_NOT_FOUND: i32 = 43;

/// A backfill's walk over `collection`'s documents matching `filter`, read in its own
/// session (outside the units that change them).
pub(crate) struct Walk<'a> {
    collection: &'a str,
    filter: &'a Filter<Untyped>,
    page: u32,
    reader: Session,
    rows: ErasedRows,
    /// The documents of the later `_id` types, still to read when the first cursor ends.
    later: Option<Filter<Untyped>>,
    /// The `_id` of the last document read (or the position the walk started after).
    last: Option<Bson>,
}

impl<'a> Walk<'a> {
    /// Opens the walk after `after` (from the start when `None`), in a session of `reader`'s.
    pub(crate) async fn open(
        mut reader: Session,
        collection: &'a str,
        filter: &'a Filter<Untyped>,
        page: u32,
        after: Option<Bson>,
    ) -> Result<Walk<'a>> {
        let (first, later) = match &after {
            Some(after) => (Some(path("_id").gt(after.clone())), of_later_types(after)),
            None => (None, None),
        };
        let rows = cursor(&mut reader, collection, filter, page, first).await?;
        Ok(Walk { collection, filter, page, reader, rows, later, last: after })
    }

    /// The next page: up to `page` stored documents, fewer only at the end of the walk.
    pub(crate) async fn next_page(&mut self) -> Result<Vec<RawDocumentBuf>> {
        let size = self.page as usize;
        let mut page: Vec<RawDocumentBuf> = Vec::with_capacity(size);
        while page.len() < size {
            match self.rows.next(&mut self.reader).await {
                Ok(Some(raw)) => page.push(raw.to_owned()),
                Ok(None) => match self.later.take() {
                    Some(later) => {
                        self.rows =
                            cursor(&mut self.reader, self.collection, self.filter, self.page, Some(later)).await?
                    }
                    None => break,
                },
                Err(err) if err.server_code() == Some(CURSOR_NOT_FOUND) => {
                    let after = page.last().and_then(id_of).or_else(|| self.last.clone());
                    let Some(after) = after else { return Err(err) };
                    self.reopen(after).await?;
                }
                Err(err) => return Err(err),
            }
        }
        if let Some(id) = page.last().and_then(id_of) {
            self.last = Some(id);
        }
        Ok(page)
    }

    /// Opens the cursors again after `after`.
    async fn reopen(&mut self, after: Bson) -> Result<()> {
        self.later = of_later_types(&after);
        self.rows =
            cursor(&mut self.reader, self.collection, self.filter, self.page, Some(path("_id").gt(after.clone())))
                .await?;
        self.last = Some(after);
        Ok(())
    }
}

/// A cursor over the documents matching `filter` (and `narrow`), in `_id` order, a page per
/// batch.
async fn cursor(
    reader: &mut Session,
    collection: &str,
    filter: &Filter<Untyped>,
    page: u32,
    narrow: Option<Filter<Untyped>>,
) -> Result<ErasedRows> {
    let mut documents = reader.documents(collection)?;
    let mut find = documents.find(filter.clone()).order_by(path("_id")).yield_per(page);
    if let Some(narrow) = narrow {
        find = find.filter(narrow);
    }
    find.open().await
}

fn id_of(raw: &RawDocumentBuf) -> Option<Bson> {
    raw.get("_id").ok().flatten().and_then(|id| Bson::try_from(id.to_raw_bson()).ok())
}

/// The documents whose `_id` is of a BSON type that sorts after `after`'s (`None` when no type
/// does).
fn of_later_types(after: &Bson) -> Option<Filter<Untyped>> {
    let later: Vec<&str> = TYPE_ORDER
        .iter()
        .skip_while(|bracket| !bracket.contains(&type_alias(after)))
        .skip(1)
        .flat_map(|bracket| bracket.iter().copied())
        .collect();
    if later.is_empty() {
        return None;
    }
    let types = Bson::Array(later.into_iter().map(Bson::from).collect());
    Some(Filter::field("_id".into(), Test::Ops(vec![("$type", Value::Bson(types))])))
}

/// The BSON types an `_id` can have, in MongoDB's sort order, grouped where it compares them
/// as one (numbers; strings and symbols).
const TYPE_ORDER: &[&[&str]] = &[
    &["minKey"],
    &["null"],
    &["int", "long", "double", "decimal"],
    &["symbol", "string"],
    &["object"],
    &["binData"],
    &["objectId"],
    &["bool"],
    &["date"],
    &["timestamp"],
    &["maxKey"],
];

fn type_alias(value: &Bson) -> &'static str {
    match value {
        Bson::MinKey => "minKey",
        Bson::Null | Bson::Undefined => "null",
        Bson::Int32(_) => "int",
        Bson::Int64(_) => "long",
        Bson::Double(_) => "double",
        Bson::Decimal128(_) => "decimal",
        Bson::Symbol(_) => "symbol",
        Bson::String(_) => "string",
        Bson::Document(_) => "object",
        Bson::Binary(_) => "binData",
        Bson::ObjectId(_) => "objectId",
        Bson::Boolean(_) => "bool",
        Bson::DateTime(_) => "date",
        Bson::Timestamp(_) => "timestamp",
        Bson::MaxKey => "maxKey",
        _ => "object",
    }
}

#[cfg(test)]
mod tests {
    use bson::doc;

    use super::*;

    #[test]
    fn the_types_after_an_id_are_those_that_sort_later() {
        let later = of_later_types(&Bson::Int32(5)).unwrap().to_document().unwrap();
        let types = later.get_document("_id").unwrap().get_array("$type").unwrap().clone();
        assert!(types.contains(&Bson::from("string")) && types.contains(&Bson::from("objectId")));
        assert!(!types.contains(&Bson::from("long")), "numbers compare as one type");
        assert!(of_later_types(&Bson::MaxKey).is_none());
        assert_eq!(
            of_later_types(&Bson::DateTime(bson::DateTime::now())).unwrap().to_document().unwrap(),
            doc! { "_id": { "$type": ["timestamp", "maxKey"] } }
        );
    }
}
