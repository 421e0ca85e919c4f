//! The checkpoints of consumers: one document per consumer name, holding the resume token after
//! the last event whose effects were committed, and a sequence number that every write moves
//! on, so a write based on an old checkpoint is refused instead of overwriting a newer one.

use bson::{Bson, DateTime, Document, doc};
use mongodb::change_stream::event::ResumeToken;
use mongodb::{ClientSession, Collection};

use crate::error::DUPLICATE_KEY;
use crate::{Engine, Error, Result};

/// The collection consumers keep their checkpoints in unless told otherwise.
pub const DEFAULT_COLLECTION: &str = "mongotic_checkpoints";

/// A consumer's checkpoint as stored: where its stream resumes, and how far it got.
///
/// ```no_run
/// # use mongotic::prelude::*;
/// # #[derive(Debug, Serialize, Deserialize, Model)]
/// # #[mongotic(database = "app", collection = "users")]
/// # struct User { #[serde(rename = "_id")] id: Option<ObjectId>, name: String }
/// # async fn demo(consumer: mongotic::watch::Consumer<User>) -> mongotic::Result<()> {
/// if let Some(checkpoint) = consumer.checkpoint().await? {
///     println!("{} events applied, last at {:?}", checkpoint.events(), checkpoint.updated_at());
/// }
/// # Ok(()) }
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Checkpoint {
    pub(crate) token: Option<ResumeToken>,
    pub(crate) sequence: i64,
    pub(crate) events: i64,
    pub(crate) namespace: String,
    pub(crate) updated_at: Option<DateTime>,
}

impl Checkpoint {
    /// The token the consumer's stream resumes after (`None` before its first one).
    ///
    /// ```no_run
    /// # fn demo(checkpoint: mongotic::watch::Checkpoint) {
    /// println!("{:?}", checkpoint.token());
    /// # }
    /// ```
    pub fn token(&self) -> Option<&ResumeToken> {
        self.token.as_ref()
    }

    /// How many events the consumer's handler committed, in all its runs.
    ///
    /// ```no_run
    /// # fn demo(checkpoint: mongotic::watch::Checkpoint) {
    /// assert!(checkpoint.events() >= 0);
    /// # }
    /// ```
    pub fn events(&self) -> i64 {
        self.events
    }

    /// How many times the checkpoint was written (each commit of events, and each refresh of
    /// the token on a quiet stream).
    ///
    /// ```no_run
    /// # fn demo(checkpoint: mongotic::watch::Checkpoint) {
    /// assert!(checkpoint.sequence() >= checkpoint.events().min(1));
    /// # }
    /// ```
    pub fn sequence(&self) -> i64 {
        self.sequence
    }

    /// `database.collection` the consumer watches.
    ///
    /// ```no_run
    /// # fn demo(checkpoint: mongotic::watch::Checkpoint) {
    /// println!("{}", checkpoint.namespace());
    /// # }
    /// ```
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// When the checkpoint was last written (the client's clock).
    ///
    /// ```no_run
    /// # fn demo(checkpoint: mongotic::watch::Checkpoint) {
    /// println!("{:?}", checkpoint.updated_at());
    /// # }
    /// ```
    pub fn updated_at(&self) -> Option<DateTime> {
        self.updated_at
    }
}

/// The checkpoint document of one consumer.
pub(crate) struct Checkpoints {
    collection: Collection<Document>,
    name: String,
    /// `database.collection` of the checkpoints, for errors.
    namespace: String,
}

/// Whether a checkpoint write took effect.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Written {
    Done,
    /// Someone else moved the checkpoint on since it was read: another run of the same
    /// consumer, or an earlier commit of this one whose reply was lost.
    Moved,
}

impl Checkpoints {
    pub(crate) fn new(engine: &Engine, database: &str, collection: &str, name: &str) -> Result<Checkpoints> {
        let db = engine.client().database(database);
        Ok(Checkpoints {
            collection: db.collection(collection),
            name: name.to_owned(),
            namespace: format!("{database}.{collection}"),
        })
    }

    fn failed(&self, err: mongodb::error::Error) -> Error {
        Error::from_driver(err, &self.namespace, Some(&Bson::String(self.name.clone())))
    }

    /// The stored checkpoint, read from the primary.
    pub(crate) async fn load(&self) -> Result<Option<Checkpoint>> {
        let found = self.collection.find_one(doc! { "_id": &self.name }).await.map_err(|err| self.failed(err))?;
        let Some(found) = found else { return Ok(None) };
        let token = match found.get("token") {
            None | Some(Bson::Null) => None,
            Some(token) => Some(bson::from_bson(token.clone()).map_err(|source| Error::Deserialize {
                namespace: self.namespace.clone(),
                id: Some(Box::new(Bson::String(self.name.clone()))),
                source,
            })?),
        };
        Ok(Some(Checkpoint {
            token,
            sequence: integer(found.get("sequence")),
            events: integer(found.get("events")),
            namespace: found.get_str("namespace").unwrap_or_default().to_owned(),
            updated_at: found.get_datetime("updatedAt").ok().copied(),
        }))
    }

    /// Moves the checkpoint from sequence `expected` on to `token`, counting `events` more
    /// events; in the driver session `session` (the handler's transaction) when there is one.
    /// A checkpoint that moved since `expected` is left alone.
    pub(crate) async fn advance(
        &self,
        session: Option<&mut ClientSession>,
        expected: i64,
        token: &ResumeToken,
        events: i64,
        namespace: &str,
    ) -> Result<Written> {
        let token = bson::to_bson(token).map_err(|source| Error::serialize(&self.namespace, source))?;
        let filter = doc! { "_id": &self.name, "sequence": expected };
        let update = doc! {
            "$set": { "token": token, "namespace": namespace, "updatedAt": DateTime::now() },
            "$inc": { "sequence": 1_i64, "events": events },
        };
        let action = self.collection.update_one(filter, update).upsert(true);
        let result = match session {
            Some(session) => action.session(session).await,
            None => action.await,
        };
        match result {
            Ok(outcome) if outcome.matched_count == 1 || outcome.upserted_id.is_some() => Ok(Written::Done),
            Ok(_) => Ok(Written::Moved),
            // The upsert met the consumer's document at another sequence.
            Err(err) => match self.failed(err) {
                Error::DuplicateKey { .. } => Ok(Written::Moved),
                Error::Server { code: DUPLICATE_KEY, .. } => Ok(Written::Moved),
                other => Err(other),
            },
        }
    }

    /// Deletes the checkpoint.
    pub(crate) async fn delete(&self) -> Result<bool> {
        let deleted = self.collection.delete_one(doc! { "_id": &self.name }).await.map_err(|err| self.failed(err))?;
        Ok(deleted.deleted_count == 1)
    }
}

fn integer(value: Option<&Bson>) -> i64 {
    match value {
        Some(Bson::Int64(n)) => *n,
        Some(Bson::Int32(n)) => i64::from(*n),
        Some(Bson::Double(n)) => *n as i64,
        _ => 0,
    }
}
