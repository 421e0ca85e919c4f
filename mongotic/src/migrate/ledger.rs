//! The ledger collection: one lease document (who may run migrations now, and until when) and
//! one entry per step (applied or under way, and for a backfill the last `_id` it finished).

use std::time::Duration;

use bson::{Bson, DateTime, Document, doc};

use crate::{Engine, Error, Result, Session};

/// The `_id` of the lease document.
const LEASE: &str = "lease";

/// The `_id` of a step's entry.
pub(crate) fn entry_id(step: &str) -> String {
    format!("step:{step}")
}

/// What the ledger says about one step.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum StepState {
    NotStarted,
    /// A backfill that finished the documents up to `position` (`_id`), `done` of them.
    Running {
        position: Option<Bson>,
        done: u64,
    },
    Applied,
}

impl StepState {
    pub(crate) fn of(entry: Option<&Document>) -> StepState {
        let Some(entry) = entry else { return StepState::NotStarted };
        match entry.get_str("state") {
            Ok("applied") => StepState::Applied,
            _ => StepState::Running {
                position: entry.get("position").filter(|value| !matches!(value, Bson::Null)).cloned(),
                done: entry.get_i64("done").map_or(0, |done| u64::try_from(done).unwrap_or(0)),
            },
        }
    }
}

/// The ledger of one engine's migrations.
pub(crate) struct Ledger {
    pub(crate) collection: String,
    /// This runner's name in the lease.
    pub(crate) owner: String,
    pub(crate) lease: Duration,
}

impl Ledger {
    fn raw(&self, engine: &Engine) -> Result<mongodb::Collection<Document>> {
        let database = engine.resolve_database(None)?;
        Ok(engine.client().database(&database).collection(&self.collection))
    }

    fn expiry(&self) -> DateTime {
        let lease = i64::try_from(self.lease.as_millis()).unwrap_or(i64::MAX);
        DateTime::from_millis(DateTime::now().timestamp_millis().saturating_add(lease))
    }

    /// Takes the lease if it is free, expired or already this runner's; `false` when another
    /// runner holds it. One atomic update: two runners cannot both take it, since the losing
    /// upsert meets the unique `_id` of the winner's document.
    pub(crate) async fn try_acquire(&self, engine: &Engine) -> Result<bool> {
        let namespace = self.namespace(engine)?;
        let filter = doc! { "_id": LEASE, "$or": [
            { "owner": &self.owner },
            { "expires": { "$lt": DateTime::now() } },
        ] };
        let update = doc! { "$set": { "owner": &self.owner, "expires": self.expiry() } };
        match self.raw(engine)?.update_one(filter, update).upsert(true).await {
            Ok(_) => Ok(true),
            Err(err) if Error::from_driver(err.clone(), &namespace, None).is_duplicate_key() => Ok(false),
            Err(err) => Err(Error::from_driver(err, &namespace, None)),
        }
    }

    /// Extends this runner's lease, outside a transaction; [`Error::MigrationLeaseLost`] when
    /// another runner took it over (this one stalled past its expiry).
    pub(crate) async fn renew(&self, engine: &Engine) -> Result<()> {
        let namespace = self.namespace(engine)?;
        let filter = doc! { "_id": LEASE, "owner": &self.owner };
        let update = doc! { "$set": { "expires": self.expiry() } };
        let renewed = self
            .raw(engine)?
            .update_one(filter, update)
            .await
            .map_err(|err| Error::from_driver(err, &namespace, None))?;
        if renewed.matched_count == 1 { Ok(()) } else { Err(self.lost()) }
    }

    /// Extends the lease and records `fields` on the entry of `step` (created when missing),
    /// inside `session`'s unit of work (its transaction, when it has one), in one `update`
    /// command of two statements: the lease's only while it is still this runner's, then the
    /// entry's. Both must match, else [`Error::MigrationLeaseLost`]: in a transaction the
    /// unit then does not commit, so a runner that lost the lease cannot commit its writes;
    /// and the lease's new expiry commits with them, so a runner that takes the lease over
    /// meanwhile conflicts with this transaction rather than running beside it.
    pub(crate) async fn record_in(
        &self,
        session: &mut Session,
        step: &str,
        index: usize,
        fields: Document,
    ) -> Result<()> {
        let lease = (
            raw(doc! { "_id": LEASE, "owner": &self.owner })?,
            raw(doc! { "$set": { "expires": self.expiry() } })?,
            false,
        );
        let mut created = doc! {
            "name": step,
            "index": i64::try_from(index).unwrap_or(i64::MAX),
            "state": "running",
            "done": 0_i64,
            "started_at": DateTime::now(),
        };
        // `$setOnInsert` may not name a field `$set` sets.
        for key in fields.keys() {
            created.remove(key);
        }
        let entry =
            (raw(doc! { "_id": entry_id(step) })?, raw(doc! { "$set": fields, "$setOnInsert": created })?, true);
        let matched = session.update_documents_in_order(&self.collection, &[lease, entry]).await?;
        if matched == 2 { Ok(()) } else { Err(self.lost()) }
    }

    /// Lets the lease go (when this runner holds it).
    pub(crate) async fn release(&self, engine: &Engine) -> Result<()> {
        let namespace = self.namespace(engine)?;
        self.raw(engine)?
            .delete_one(doc! { "_id": LEASE, "owner": &self.owner })
            .await
            .map_err(|err| Error::from_driver(err, &namespace, None))?;
        Ok(())
    }

    /// The entries of every step, by step name.
    pub(crate) async fn entries(&self, engine: &Engine) -> Result<Vec<Document>> {
        use futures::TryStreamExt;
        let namespace = self.namespace(engine)?;
        let failed = |err| Error::from_driver(err, &namespace, None);
        let cursor = self.raw(engine)?.find(doc! { "_id": { "$regex": "^step:" } }).await.map_err(failed)?;
        cursor.try_collect().await.map_err(failed)
    }

    fn namespace(&self, engine: &Engine) -> Result<String> {
        Ok(format!("{}.{}", engine.resolve_database(None)?, self.collection))
    }

    fn lost(&self) -> Error {
        Error::MigrationLeaseLost { owner: self.owner.clone() }
    }
}

fn raw(document: Document) -> Result<bson::RawDocumentBuf> {
    bson::RawDocumentBuf::from_document(&document)
        .map_err(|err| Error::InvalidValue { path: String::new(), message: err.to_string() })
}
