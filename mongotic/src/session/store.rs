//! Reading stored documents by `_id`: what the session uses to find out what the server holds
//! (a `get`, a `refresh`, the read-back of writes in doubt, the explanation of a write that
//! matched nothing). It knows the engine and BSON, nothing of the unit of work.

use std::collections::HashSet;

use bson::{Bson, Document, RawBsonRef, RawDocument, RawDocumentBuf, doc};
use mongodb::{ClientSession, Namespace};

use crate::error::Error;
use crate::model::IdKey;
use crate::{Engine, Result};

/// Ids per `find` when reading many back.
const IDS_PER_READ: usize = 20_000;

/// The stored documents with one of `ids` (just their `_id` when `ids_only`), read in
/// `session` when one is given. `keys` holds, beside each id, the fields beyond `_id` its
/// document is known by (its shard key, so a sharded cluster can route the read; its tenant,
/// so the read stays in it), or is empty.
pub(crate) async fn stored(
    engine: &Engine,
    mut session: Option<&mut ClientSession>,
    namespace: &Namespace,
    ids: &[Bson],
    keys: &[Option<RawDocumentBuf>],
    ids_only: bool,
) -> Result<Vec<RawDocumentBuf>> {
    let mut found = Vec::new();
    for (at, chunk) in ids.chunks(IDS_PER_READ).enumerate() {
        let start = at * IDS_PER_READ;
        let chunk_keys = keys.get(start..(start + chunk.len()).min(keys.len())).unwrap_or_default();
        let filter = by_ids(chunk, chunk_keys)?;
        let projection = ids_only.then(|| doc! { "_id": 1 });
        found.extend(matching(engine, session.as_deref_mut(), namespace, filter, projection).await?);
    }
    Ok(found)
}

/// Every stored document matching `filter` (with `projection` when given), read in `session`
/// when one is given.
pub(crate) async fn matching(
    engine: &Engine,
    session: Option<&mut ClientSession>,
    namespace: &Namespace,
    filter: Document,
    projection: Option<Document>,
) -> Result<Vec<RawDocumentBuf>> {
    let name = namespace.to_string();
    let collection = engine.raw_collection(namespace)?;
    let find = collection.find(filter);
    let find = match projection {
        Some(projection) => find.projection(projection),
        None => find,
    };
    let failed = |err| Error::from_driver(err, &name, None);
    let mut found = Vec::new();
    match session {
        Some(session) => {
            let mut cursor = find.session(&mut *session).await.map_err(failed)?;
            while cursor.advance(session).await.map_err(failed)? {
                found.push(cursor.current().to_raw_document_buf());
            }
        }
        None => {
            let mut cursor = find.await.map_err(failed)?;
            while cursor.advance().await.map_err(failed)? {
                found.push(cursor.current().to_raw_document_buf());
            }
        }
    }
    Ok(found)
}

/// The filter of the documents with `ids`: `{_id: {$in: ids}}`, or with the keys beside them,
/// `{$or: [{_id: id, <key>}, ...]}`.
fn by_ids(ids: &[Bson], keys: &[Option<RawDocumentBuf>]) -> Result<Document> {
    if keys.iter().all(Option::is_none) {
        return Ok(doc! { "_id": { "$in": ids } });
    }
    let mut each = Vec::with_capacity(ids.len());
    for (index, id) in ids.iter().enumerate() {
        let mut filter = doc! { "_id": id.clone() };
        if let Some(Some(key)) = keys.get(index) {
            for element in key.iter() {
                let (path, value) =
                    element.map_err(|err| Error::InvalidValue { path: "<key>".into(), message: err.to_string() })?;
                let value = Bson::try_from(value.to_raw_bson())
                    .map_err(|err| Error::InvalidValue { path: path.to_owned(), message: err.to_string() })?;
                filter.insert(path, value);
            }
        }
        each.push(filter);
    }
    Ok(doc! { "$or": each })
}

/// The identity keys of the stored documents with one of `ids`.
pub(crate) async fn stored_ids(
    engine: &Engine,
    session: Option<&mut ClientSession>,
    namespace: &Namespace,
    ids: &[Bson],
    keys: &[Option<RawDocumentBuf>],
) -> Result<HashSet<IdKey>> {
    let found = stored(engine, session, namespace, ids, keys, true).await?;
    Ok(found.iter().filter_map(|doc| doc.get("_id").ok().flatten().map(IdKey::from_raw)).collect())
}

/// Refuses a stored document that nests deeper than MongoDB allows (a server that is not
/// MongoDB may store one), before any decoding recurses into it.
pub(crate) fn within_depth(namespace: &str, raw: &RawDocument) -> Result<()> {
    if crate::wire::nesting_within_limit(raw.as_bytes()) {
        return Ok(());
    }
    let message =
        format!("it nests documents and arrays more than {} levels deep (MongoDB's limit)", crate::wire::MAX_DEPTH);
    Err(Error::deserialize(namespace, raw, <bson::de::Error as serde::de::Error>::custom(message)))
}

/// Stored documents looked up by `_id`, each taken at most once: the answer of [`stored`],
/// matched to the writes or entities that asked.
pub(crate) struct ById {
    found: Vec<(IdKey, RawDocumentBuf)>,
}

impl ById {
    pub(crate) fn new(found: Vec<RawDocumentBuf>) -> ById {
        let found = found
            .into_iter()
            .filter_map(|doc| Some((doc.get("_id").ok().flatten().map(IdKey::from_raw)?, doc)))
            .collect();
        ById { found }
    }

    /// The document with `_id` `id`, if it was found and not taken yet.
    pub(crate) fn take(&mut self, id: &IdKey) -> Option<RawDocumentBuf> {
        let at = self.found.iter().position(|(found, _)| found == id)?;
        Some(self.found.swap_remove(at).1)
    }
}

/// The version field `field` of a stored or serialized document.
pub(crate) fn version_in(doc: &RawDocument, field: &str) -> Option<i64> {
    match doc.get(field).ok().flatten()? {
        RawBsonRef::Int64(version) => Some(version),
        RawBsonRef::Int32(version) => Some(i64::from(version)),
        RawBsonRef::Double(version) if version.fract() == 0.0 => Some(version as i64),
        _ => None,
    }
}
