//! Why a write that expected a document matched none: the document is gone (someone deleted
//! it), or, for a versioned entity, it holds a version the session did not expect (someone
//! changed it), or the write had already landed (a write sent again after its reply was lost).
//! A read of the documents tells which; it happens only on this failure path.
//!
//! A stored document that holds exactly what a versioned write stores proves nothing by
//! itself: it may be someone else's equal write (two increments of one counter). It is this
//! write's only when the server's count of matched writes says so. (A write whose earlier
//! attempt may have landed is settled by reading before it is sent again: see `reconcile`.)

use bson::Bson;
use mongodb::ClientSession;

use super::outcome::{Failure, Fate};
use super::plan::{Body, Plan};
use crate::Engine;
use crate::session::diff::contains_all;
use crate::session::store::{ById, stored, version_in};

/// What a read showed about one write that may have matched nothing.
enum Seen {
    /// No document: it is gone.
    Missing,
    /// The document exists (an unversioned write matched it).
    Present,
    /// A versioned write's document holds another version or content: not this write's.
    Other(Option<i64>),
    /// The document holds exactly what this versioned write stores.
    Equal(i64),
}

/// Sets the fates of the writes `indices` of `plan` (all to one collection's documents, each
/// expecting one) from what is stored: `Stale` when the document is missing, `Conflict` when a
/// versioned write's document holds another version. A document that holds exactly what a
/// versioned write stores is this write's when `matched` (how many of these writes the server
/// counted as matched, when it only gave a total) proves every such write matched; otherwise
/// it is someone else's equal write, and a conflict. An unversioned write whose document
/// exists matched it.
pub(crate) async fn explain_unmatched(
    engine: &Engine,
    session: Option<&mut ClientSession>,
    plan: &Plan,
    indices: Vec<usize>,
    matched: Option<u64>,
    fates: &mut [Fate],
) -> Result<(), Failure> {
    let Some(&first) = indices.first() else { return Ok(()) };
    let namespace = &plan.namespaces[plan.writes[first].namespace];
    let ids: Vec<Bson> = indices.iter().map(|index| plan.writes[*index].id_bson()).collect();
    let versioned = indices.iter().any(|index| plan.writes[*index].version.is_some());
    let keys = plan.keys(&indices);
    let found = stored(engine, session, namespace, &ids, &keys, !versioned).await.map_err(|error| Failure {
        error,
        failed: None,
        retryable: true,
        transient: false,
    })?;
    let mut by_id = ById::new(found);
    let seen: Vec<Seen> = indices
        .iter()
        .map(|index| {
            let write = &plan.writes[*index];
            let Some(doc) = by_id.take(&write.id.key()) else { return Seen::Missing };
            let Some(check) = write.version else { return Seen::Present };
            let found = version_in(&doc, check.field);
            let equal = found == Some(check.written)
                && match &write.body {
                    Body::Document(sent) | Body::Update { snapshot: sent, .. } => contains_all(&doc, sent),
                    Body::Delete | Body::Upsert { .. } => false,
                };
            if equal { Seen::Equal(check.written) } else { Seen::Other(found) }
        })
        .collect();
    let not_matched = seen.iter().filter(|seen| matches!(seen, Seen::Missing | Seen::Other(_))).count();
    let all_equal_matched = matched.is_some_and(|matched| matched >= (indices.len() - not_matched) as u64);
    for (index, seen) in indices.into_iter().zip(seen) {
        fates[index] = match seen {
            Seen::Missing => Fate::Stale,
            Seen::Present => continue,
            Seen::Other(found) => Fate::Conflict { found },
            Seen::Equal(_) if all_equal_matched => Fate::Done,
            Seen::Equal(found) => Fate::Conflict { found: Some(found) },
        };
    }
    Ok(())
}
