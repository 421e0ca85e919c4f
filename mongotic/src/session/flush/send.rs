//! Sending a plan: one client `bulkWrite` when the writes span several commands and the
//! server has it (MongoDB 8.0+), otherwise one ordered command per collection and kind (see
//! `commands`).
//!
//! The result is the [`Fate`] of every write, taken only from what the server said: a write is
//! [`Fate::Done`] when a reply acknowledged it, [`Fate::Unknown`] whenever the reply is missing
//! or does not prove it (a dropped connection, a write concern error, an error from a batch of a
//! command the driver split). Nothing here guesses; the caller reads the server to settle what
//! is unknown (see `reconcile`).

use std::ops::Range;

use bson::{Bson, Document, RawDocumentBuf};
use mongodb::ClientSession;
use mongodb::error::{ErrorKind, RETRYABLE_WRITE_ERROR, TRANSIENT_TRANSACTION_ERROR};
use mongodb::options::BulkWriteOptions;
use mongodb::results::VerboseBulkWriteResult;

use super::commands::{self, Command, chunks, groups, write_command, write_model};
use super::conflict::explain_unmatched;
use super::outcome::{Failure, Fate, Outcome};
use super::plan::{Plan, Write};
use super::upsert::read_upserted;
use tracing::Instrument;

use crate::error::{Error, WriteKind};
use crate::options::{DriverOptions, Options};
use crate::session::scope::Scope;
use crate::session::store::{stored, version_in};
use crate::{Engine, telemetry};

/// Sends the plan in `session` when one is given (a transaction's, when `in_transaction`).
pub(crate) async fn send(
    engine: &Engine,
    mut session: Option<&mut ClientSession>,
    in_transaction: bool,
    options: &Options,
    plan: &Plan,
) -> Outcome {
    // In a transaction the commit carries the write concern: its commands may not.
    let in_transaction_options;
    let options = if in_transaction {
        in_transaction_options = Options { write_concern: None, ..options.clone() };
        &in_transaction_options
    } else {
        options
    };
    let mut fates = vec![Fate::NotSent; plan.writes.len()];
    let mut ambiguous_deletes = false;
    let groups = groups(&plan.writes);
    if commands::uses_bulk_write(engine, &groups) {
        let namespace = if let [only] = plan.namespaces.as_slice() { Some(only) } else { None };
        let span = telemetry::write_command("bulkWrite", namespace, plan.writes.len());
        // Outside a transaction the client `bulkWrite` goes without the causal session: the
        // driver would add that session's `afterClusterTime` read concern to it, which a write
        // needs not and some servers refuse.
        let bulk_session = if in_transaction { session.as_deref_mut() } else { None };
        let sent = send_bulk_write(engine, bulk_session, options, plan, &mut fates).instrument(span.clone()).await;
        telemetry::finish_command(&span, sent.as_ref().and_then(Option::as_ref).map(|failure| &failure.error));
        match sent {
            Some(mut failure) => {
                engine.set_bulk_write_supported(true);
                if failure.is_none() {
                    // Per-operation counts say which writes matched nothing; a read says why
                    // for the versioned ones (gone, or changed by someone else).
                    let unmatched: Vec<usize> = (0..plan.writes.len())
                        .filter(|index| fates[*index] == Fate::Stale && plan.writes[*index].version.is_some())
                        .collect();
                    failure = explain_unmatched(engine, session.as_deref_mut(), plan, unmatched, Some(0), &mut fates)
                        .await
                        .err();
                }
                return finish(engine, session, plan, fates, failure, ambiguous_deletes).await;
            }
            None => engine.set_bulk_write_supported(false),
        }
    }
    for (command, range) in groups {
        let command_session = session.as_deref_mut();
        let namespace = &plan.namespaces[plan.writes[range.start].namespace];
        let span = telemetry::write_command(command.name(), Some(namespace), range.len());
        if let Some(meta) = plan.metas.get(plan.writes[range.start].namespace) {
            let scope = Scope::of_writes(meta);
            if !scope.is_empty() {
                span.record("mongotic.scope", scope);
            }
        }
        let failure = send_chunked(
            engine,
            command_session,
            in_transaction,
            options,
            plan,
            range,
            command,
            &mut fates,
            &mut ambiguous_deletes,
        )
        .instrument(span.clone())
        .await;
        telemetry::finish_command(&span, failure.as_ref().map(|failure| &failure.error));
        if failure.is_some() {
            return finish(engine, session, plan, fates, failure, ambiguous_deletes).await;
        }
    }
    finish(engine, session, plan, fates, None, ambiguous_deletes).await
}

/// The outcome of a send, that stopped at `failure` if any. A versioned `merge` refused as a
/// duplicate of its own `_id` is a version conflict: its upsert did not match the version, so
/// it tried to insert a document that exists. An upsert on a natural key refused as a
/// duplicate lost the race for its key to another writer: sent again, it updates the winner's
/// document. Once everything is sent, the upserts' documents are read back (see `upsert`).
async fn finish(
    engine: &Engine,
    session: Option<&mut ClientSession>,
    plan: &Plan,
    mut fates: Vec<Fate>,
    mut failure: Option<Failure>,
    ambiguous_deletes: bool,
) -> Outcome {
    if let Some(stopped) = failure.as_mut()
        && let Some(index) = stopped.failed
        && plan.writes.get(index).is_some_and(|write| write.kind == WriteKind::Upsert)
        && stopped.error.is_duplicate_key()
    {
        stopped.retryable = true;
        stopped.transient = true;
    }
    let mut upserted = Vec::new();
    if failure.is_none() && plan.writes.iter().any(|write| write.kind == WriteKind::Upsert) {
        match read_upserted(engine, session, plan, &fates).await {
            Ok(found) => upserted = found,
            Err(read) => {
                // Done, but their documents are unknown: sent again, they find them.
                for (index, write) in plan.writes.iter().enumerate() {
                    if write.kind == WriteKind::Upsert && fates[index] == Fate::Done {
                        fates[index] = Fate::Unknown;
                    }
                }
                failure = Some(read);
            }
        }
    }
    if let Some(stopped) = failure.as_mut()
        && let Some(index) = stopped.failed
        && let Some(write) = plan.writes.get(index)
        && write.upsert
        && stopped.error.is_duplicate_key()
        && let Some(check) = write.version
    {
        // Read outside any transaction: the refused write ended it.
        let namespace = &plan.namespaces[write.namespace];
        let found = stored(engine, None, namespace, &[write.id_bson()], &plan.keys(&[index]), false)
            .await
            .ok()
            .and_then(|docs| docs.first().and_then(|doc| version_in(doc, check.field)));
        fates[index] = Fate::Conflict { found };
        stopped.error = plan.conflict_error(index, found);
    }
    Outcome { fates, failure, ambiguous_deletes, upserted }
}

/// What an `update` or `delete` command's reply says.
struct Reply {
    /// Documents matched (updates, counting upserts) or deleted.
    n: u64,
    /// The lowest index of a write error, with the error.
    write_error: Option<(usize, Error)>,
    /// A write concern error: the writes were applied but not acknowledged as asked.
    concern_error: Option<Failure>,
}

/// Runs one ordered write command, in `session` when given (a transaction's when
/// `in_transaction`), with the flush's comment and, outside a transaction, its write concern
/// (a raw command does not get them from the driver).
async fn run_write_command(
    engine: &Engine,
    session: Option<&mut ClientSession>,
    in_transaction: bool,
    options: &Options,
    plan: &Plan,
    range: Range<usize>,
    mut command: RawDocumentBuf,
) -> std::result::Result<Reply, Failure> {
    let namespace = &plan.namespaces[plan.writes[range.start].namespace];
    let name = &plan.names[plan.writes[range.start].namespace];
    let database = engine.raw_database(&namespace.db).map_err(|error| Failure::plain(error, None))?;
    if let Some(comment) = &options.comment
        && let Ok(comment) = bson::RawBson::try_from(comment.clone())
    {
        command.append("comment", comment);
    }
    if !in_transaction && let Some(concern) = engine.wire_write_concern(options) {
        command.append("writeConcern", concern);
    }
    let reply = match session {
        Some(session) => database.run_raw_command(command).session(session).await,
        None => database.run_raw_command(command).await,
    };
    let reply = reply.map_err(|err| Failure::from_driver(err, name))?;
    let write_error = reply.get_array("writeErrors").ok().and_then(|errors| {
        let (index, error) = errors
            .iter()
            .filter_map(Bson::as_document)
            .filter_map(|e| Some((usize::try_from(e.get_i32("index").ok()?).ok()?, e)))
            .min_by_key(|(index, _)| *index)?;
        let error_document = error;
        let code = error.get_i32("code").unwrap_or_default();
        let code_name = error.get_str("codeName").unwrap_or_default().to_owned();
        let message = error.get_str("errmsg").unwrap_or_default().to_owned();
        let id = plan.writes.get(range.start + index).map(Write::id_bson);
        let error = Error::from_write_error(name, id, code, code_name, message);
        Some((index, error.with_write_info(error_info(error_document))))
    });
    let concern_error = reply.get_document("writeConcernError").ok().map(|concern| {
        let labels = reply.get_array("errorLabels").map(|labels| labels.iter().collect::<Vec<_>>()).unwrap_or_default();
        let retryable = labels.iter().any(|label| label.as_str() == Some(RETRYABLE_WRITE_ERROR));
        let error = Error::from_write_error(
            name,
            None,
            concern.get_i32("code").unwrap_or_default(),
            concern.get_str("codeName").unwrap_or_default().to_owned(),
            concern.get_str("errmsg").unwrap_or_default().to_owned(),
        );
        Failure { error, failed: None, retryable, transient: false }
    });
    Ok(Reply { n: count(&reply, "n"), write_error, concern_error })
}

/// The `errInfo` of a write error in a command's reply.
fn error_info(error: &Document) -> Option<&Document> {
    error.get_document("errInfo").ok()
}

/// A count field of a reply, whatever its numeric type.
fn count(reply: &Document, key: &str) -> u64 {
    match reply.get(key) {
        Some(Bson::Int32(n)) => u64::try_from(*n).unwrap_or_default(),
        Some(Bson::Int64(n)) => u64::try_from(*n).unwrap_or_default(),
        Some(Bson::Double(n)) if *n >= 0.0 => *n as u64,
        _ => 0,
    }
}

/// Applies a reply's write error and write concern error to the fates of `chunk`, whose
/// statements are otherwise `Done`. Returns the failure to stop at, if any.
fn apply_errors(reply: &mut Reply, chunk: Range<usize>, fates: &mut [Fate], one_statement: bool) -> Option<Failure> {
    let mut failure = None;
    if let Some((index, error)) = reply.write_error.take() {
        let at = (chunk.start + index).min(chunk.end);
        if one_statement || at >= chunk.end {
            // The error is about the one statement that covers the chunk (or names no write of
            // it): nothing of the chunk is known done.
            fates[chunk.clone()].fill(Fate::Unknown);
            failure = Some(Failure::plain(error, None));
        } else {
            fates[at] = Fate::Refused;
            fates[at + 1..chunk.end].fill(Fate::NotSent);
            failure = Some(Failure::plain(error, Some(at)));
        }
    }
    if let Some(concern) = reply.concern_error.take() {
        // Applied, but not acknowledged as the write concern asked: not proven.
        for fate in &mut fates[chunk] {
            if *fate == Fate::Done || *fate == Fate::Stale {
                *fate = Fate::Unknown;
            }
        }
        failure = failure.or(Some(concern));
    }
    failure
}

/// Sends the inserts, the field updates and replacements, or the deletes of `range` (one
/// group of `command`s), one ordered command per chunk, and sets their fates from the replies.
#[allow(clippy::too_many_arguments)]
async fn send_chunked(
    engine: &Engine,
    mut session: Option<&mut ClientSession>,
    in_transaction: bool,
    options: &Options,
    plan: &Plan,
    range: Range<usize>,
    command: Command,
    fates: &mut [Fate],
    ambiguous: &mut bool,
) -> Option<Failure> {
    let namespace = &plan.namespaces[plan.writes[range.start].namespace];
    for chunk in chunks(plan, range.clone()) {
        let body = match write_command(command, &namespace.coll, plan, chunk.clone()) {
            Ok(body) => body,
            Err(failure) => return Some(failure),
        };
        let mut reply =
            match run_write_command(engine, session.as_deref_mut(), in_transaction, options, plan, chunk.clone(), body)
                .await
            {
                Ok(reply) => reply,
                Err(failure) => {
                    fates[chunk].fill(Fate::Unknown);
                    return Some(failure);
                }
            };
        // Ordered: before the first write error applied (the reply says so, and the command
        // is one of ours), it refused, the rest not sent.
        fates[chunk.clone()].fill(Fate::Done);
        if command == Command::Delete {
            let expecting: Vec<usize> = chunk.clone().filter(|index| plan.writes[*index].expect_match).collect();
            if reply.write_error.is_none() && reply.n < expecting.len() as u64 {
                // Some expected documents were not deleted. A versioned delete may have met a
                // newer version: a read tells those (still there) from the ones that are gone.
                let versioned: Vec<usize> =
                    expecting.iter().copied().filter(|index| plan.writes[*index].version.is_some()).collect();
                if let Err(failure) =
                    explain_unmatched(engine, session.as_deref_mut(), plan, versioned, None, fates).await
                {
                    fates[chunk].fill(Fate::Unknown);
                    return Some(failure);
                }
                let gone: Vec<usize> =
                    expecting.iter().copied().filter(|index| !matches!(fates[*index], Fate::Conflict { .. })).collect();
                for index in &gone {
                    fates[*index] = Fate::Done;
                }
                if reply.n < gone.len() as u64 {
                    // Some documents were gone already. The reply does not say which; they are
                    // all gone now, which is what the deletes were for. The deletes that
                    // expected a document are marked stale so the flush reports it.
                    *ambiguous |= gone.len() > 1;
                    for index in gone {
                        fates[index] = Fate::Stale;
                    }
                }
            }
        } else if command == Command::Update {
            let applied = match &reply.write_error {
                Some((index, _)) => chunk.start..(chunk.start + index).min(chunk.end),
                None => chunk.clone(),
            };
            // `n` counts the statements that matched (or upserted). When it falls short, find
            // out which documents are missing (their updates matched nothing) or, for versioned
            // entities, were changed by someone else.
            let sent = applied.len() as u64;
            let expecting: Vec<usize> = applied.filter(|index| plan.writes[*index].expect_match).collect();
            // Writes that expect no document (merges) upsert, so they count in `n` too.
            let matched = reply.n.saturating_sub(sent - expecting.len() as u64);
            if reply.n < sent
                && let Err(failure) =
                    explain_unmatched(engine, session.as_deref_mut(), plan, expecting, Some(matched), fates).await
            {
                fates[chunk].fill(Fate::Unknown);
                return Some(failure);
            }
        }
        if let Some(failure) = apply_errors(&mut reply, chunk, fates, command == Command::Delete) {
            // An insert refused as a duplicate may be this session's own document, sent again
            // after a reply that was lost: it is read back, as an unknown outcome is.
            if command == Command::Insert
                && let Some(at) = failure.failed
                && fates[at] == Fate::Refused
                && failure.error.is_duplicate_key()
            {
                fates[at] = Fate::Unknown;
            }
            return Some(failure);
        }
    }
    None
}

async fn send_bulk_write(
    engine: &Engine,
    session: Option<&mut ClientSession>,
    options: &Options,
    plan: &Plan,
    fates: &mut [Fate],
) -> Option<Option<Failure>> {
    let mut models = Vec::with_capacity(plan.writes.len());
    for (index, write) in plan.writes.iter().enumerate() {
        match write_model(write, &plan.namespaces[write.namespace]) {
            Ok(model) => models.push(model),
            Err(error) => return Some(Some(Failure::plain(error, Some(index)))),
        }
    }
    if let Err(error) = engine.check_auth() {
        return Some(Some(Failure::plain(error, None)));
    }
    let action =
        engine.client().bulk_write(models).with_options(BulkWriteOptions::from_options(options)).verbose_results();
    let result = match session {
        Some(session) => action.session(session).await,
        None => action.await,
    };
    let err = match result {
        Ok(result) => {
            apply_results(plan, &result, fates);
            return Some(None);
        }
        Err(err) => err,
    };
    let name = &plan.names[0];
    let ErrorKind::BulkWrite(failure) = err.kind.as_ref() else {
        if matches!(err.kind.as_ref(), ErrorKind::IncompatibleServer { .. }) {
            return None;
        }
        fates.fill(Fate::Unknown);
        return Some(Some(Failure::from_driver(err, name)));
    };
    // What is not reported done is unknown, except after a write error, where the ordered
    // bulk write stopped: the writes after it were not sent.
    fates.fill(Fate::Unknown);
    if let Some(mongodb::error::PartialBulkWriteResult::Verbose(verbose)) = &failure.partial_result {
        apply_results(plan, verbose, fates);
    }
    let first_error = failure.write_errors.iter().min_by_key(|(index, _)| **index);
    let mut result = None;
    if let Some((&index, error)) = first_error
        && index < plan.writes.len()
    {
        fates[index] = Fate::Refused;
        for fate in &mut fates[index + 1..] {
            if *fate == Fate::Unknown {
                *fate = Fate::NotSent;
            }
        }
        let code_name = error.code_name.clone().unwrap_or_default();
        let write = &plan.writes[index];
        let error = Error::from_write_error(
            &plan.names[write.namespace],
            Some(write.id_bson()),
            error.code,
            code_name,
            error.message.clone(),
        )
        .with_write_info(error.details.as_ref());
        result = Some(Failure::plain(error, Some(index)));
    }
    if let Some(concern) = failure.write_concern_errors.first() {
        for fate in fates.iter_mut() {
            if *fate == Fate::Done || *fate == Fate::Stale {
                *fate = Fate::Unknown;
            }
        }
        let error =
            Error::from_write_error(name, None, concern.code, concern.code_name.clone(), concern.message.clone());
        result = result.or(Some(Failure {
            error,
            failed: None,
            retryable: err.contains_label(RETRYABLE_WRITE_ERROR),
            transient: false,
        }));
    }
    if result.is_none() {
        // A top-level error (the connection dropped) after some batches were answered.
        let cause = std::error::Error::source(&err)
            .and_then(|source| source.downcast_ref::<mongodb::error::Error>())
            .cloned()
            .unwrap_or_else(|| err.clone());
        let mut top = Failure::from_driver(cause, name);
        top.retryable |= err.contains_label(RETRYABLE_WRITE_ERROR);
        top.transient |= err.contains_label(TRANSIENT_TRANSACTION_ERROR);
        result = Some(top);
    }
    Some(result)
}

/// The fates the per-operation results of a bulk write prove.
fn apply_results(plan: &Plan, result: &VerboseBulkWriteResult, fates: &mut [Fate]) {
    for index in result.insert_results.keys() {
        if let Some(fate) = fates.get_mut(*index) {
            *fate = Fate::Done;
        }
    }
    for (index, update) in &result.update_results {
        if let (Some(fate), Some(write)) = (fates.get_mut(*index), plan.writes.get(*index)) {
            let matched = update.matched_count > 0 || update.upserted_id.is_some();
            *fate = if matched || !write.expect_match { Fate::Done } else { Fate::Stale };
        }
    }
    for (index, delete) in &result.delete_results {
        if let (Some(fate), Some(write)) = (fates.get_mut(*index), plan.writes.get(*index)) {
            *fate = if delete.deleted_count > 0 || !write.expect_match { Fate::Done } else { Fate::Stale };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(write_error: Option<usize>, concern: bool) -> Reply {
        Reply {
            n: 0,
            write_error: write_error.map(|index| (index, Error::UnexpectedReply { message: "refused".into() })),
            concern_error: concern
                .then(|| Failure::plain(Error::UnexpectedReply { message: "write concern".into() }, None)),
        }
    }

    #[test]
    fn a_write_error_refuses_its_write_and_stops_the_rest() {
        let mut fates = vec![Fate::Done; 5];
        let failure = apply_errors(&mut reply(Some(2), false), 1..4, &mut fates, false).expect("a failure");
        assert_eq!(fates, [Fate::Done, Fate::Done, Fate::Done, Fate::Refused, Fate::Done]);
        assert_eq!(failure.failed, Some(3));
    }

    #[test]
    fn a_nonsensical_write_error_index_leaves_the_command_unknown() {
        let mut fates = vec![Fate::Done; 5];
        apply_errors(&mut reply(Some(7), false), 1..4, &mut fates, false).expect("a failure");
        assert_eq!(fates, [Fate::Done, Fate::Unknown, Fate::Unknown, Fate::Unknown, Fate::Done]);
    }

    #[test]
    fn a_write_concern_error_proves_nothing() {
        let mut fates = vec![Fate::Done; 3];
        apply_errors(&mut reply(None, true), 0..3, &mut fates, false).expect("a failure");
        assert_eq!(fates, [Fate::Unknown; 3]);
    }
}
