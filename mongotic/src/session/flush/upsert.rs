//! The read-back of a flush's upserts: an upsert on a natural key that matched a stored
//! document does not learn the document's `_id` (nor the fields written only on insert) from
//! the reply, so once the upserts are done the flush reads their documents by key, in the same
//! session (inside the flush's transaction when it has one), and the entities take them.

use std::collections::HashMap;

use bson::{Bson, Document, RawDocumentBuf};
use mongodb::ClientSession;

use super::outcome::{Failure, Fate};
use super::plan::{Body, Plan};
use crate::session::store::matching;
use crate::wire::values_key;
use crate::{Engine, Error};

/// Keys per read.
const KEYS_PER_READ: usize = 10_000;

/// The upserts of one read whose filters name the same fields, by the values of those fields.
struct SameFields {
    paths: Vec<String>,
    by_key: HashMap<Vec<u8>, usize>,
}

/// The stored documents of the plan's upserts whose fate is `Done`, by write index. An upsert
/// whose document the read does not find (deleted meanwhile) is left out: it stays staged.
pub(crate) async fn read_upserted(
    engine: &Engine,
    mut session: Option<&mut ClientSession>,
    plan: &Plan,
    fates: &[Fate],
) -> Result<Vec<(usize, RawDocumentBuf)>, Failure> {
    let mut found = Vec::new();
    for namespace in 0..plan.namespaces.len() {
        let writes: Vec<(usize, &RawDocumentBuf)> = plan
            .writes
            .iter()
            .enumerate()
            .filter(|(index, write)| write.namespace == namespace && fates[*index] == Fate::Done)
            .filter_map(|(index, write)| match &write.body {
                Body::Upsert { filter, .. } => Some((index, filter)),
                _ => None,
            })
            .collect();
        for chunk in writes.chunks(KEYS_PER_READ) {
            let mut groups: Vec<SameFields> = Vec::new();
            let mut filters = Vec::with_capacity(chunk.len());
            for (index, filter) in chunk {
                let paths: Vec<String> = filter.iter().flatten().map(|(path, _)| path.to_owned()).collect();
                let key = values_key(&paths, filter);
                match groups.iter_mut().find(|group| group.paths == paths) {
                    Some(group) => {
                        group.by_key.insert(key, *index);
                    }
                    None => groups.push(SameFields { paths, by_key: HashMap::from([(key, *index)]) }),
                }
                let filter: Document = filter.as_ref().try_into().map_err(|err: bson::raw::Error| {
                    Failure::plain(Error::InvalidStatement { message: err.to_string() }, Some(*index))
                })?;
                filters.push(Bson::Document(filter));
            }
            let docs = matching(
                engine,
                session.as_deref_mut(),
                &plan.namespaces[namespace],
                bson::doc! { "$or": filters },
                None,
            )
            .await
            .map_err(|error| Failure { error, failed: None, retryable: true, transient: false })?;
            for doc in docs {
                // The document is the one of the upsert whose key it holds.
                if let Some(index) =
                    groups.iter_mut().find_map(|group| group.by_key.remove(&values_key(&group.paths, &doc)))
                {
                    found.push((index, doc));
                }
            }
        }
    }
    Ok(found)
}
