//! A dry run of a flush: the commands it would send, built by the code that builds them for
//! real, with nothing sent.

use std::ops::Range;

use bson::{Bson, Document, RawDocumentBuf, doc};

use super::plan::{Body, Plan, Write};
use super::send::{Command, delete_command, filter_of, groups, to_document, update_command};
use super::{abandon, build_plan};
use crate::error::WriteKind;
use crate::session::Session;
use crate::{Error, Result};

/// Documents per `insert` command, and bytes, as the driver splits an `insert_many`.
const INSERT_BATCH: usize = 100_000;
const INSERT_BYTES: usize = 48_000_000;

/// What the next flush of a session would send: see [`Session::preview_flush`].
///
/// ```no_run
/// # use mongotic::prelude::*;
/// # #[derive(Debug, Serialize, Deserialize, Model)]
/// # #[mongotic(database = "app", collection = "users")]
/// # struct User { #[serde(rename = "_id")] id: Option<ObjectId>, name: String }
/// # async fn demo(mut session: Session) -> mongotic::Result<()> {
/// session.add(User { id: None, name: "Ann".into() });
/// let preview = session.preview_flush().await?;
/// assert_eq!(preview.commands()[0].get_str("insert").ok(), Some("users"));
/// assert_eq!(preview.round_trips(), if preview.in_transaction() { 2 } else { 1 });
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct FlushPreview {
    commands: Vec<Document>,
    transaction: bool,
    reads_first: bool,
}

impl FlushPreview {
    /// The write commands, in the order the flush sends them, as the server receives them
    /// (without the fields the driver adds to every command: `lsid`, `$db`, `txnNumber`,
    /// `$clusterTime`…). Empty when there is nothing to write.
    ///
    /// ```
    /// # use mongotic::session::FlushPreview;
    /// # fn show(preview: &FlushPreview) {
    /// for command in preview.commands() {
    ///     println!("{command}");
    /// }
    /// # }
    /// ```
    pub fn commands(&self) -> &[Document] {
        &self.commands
    }

    /// `true` when the flush runs in a transaction (then it ends with `commitTransaction`).
    ///
    /// ```
    /// # use mongotic::session::FlushPreview;
    /// # fn show(preview: &FlushPreview) {
    /// println!("atomic: {}", preview.in_transaction());
    /// # }
    /// ```
    pub fn in_transaction(&self) -> bool {
        self.transaction
    }

    /// The round trips the flush needs when nothing fails: its commands, and the commit.
    ///
    /// ```
    /// # use mongotic::session::FlushPreview;
    /// # fn show(preview: &FlushPreview) {
    /// println!("{} round trips", preview.round_trips());
    /// # }
    /// ```
    pub fn round_trips(&self) -> usize {
        if self.commands.is_empty() {
            return 0;
        }
        self.commands.len() + usize::from(self.transaction)
    }

    /// `true` when writes of an earlier, failed flush are in doubt: the flush first reads them
    /// back (one `find` per collection), which may take writes out of the plan shown here.
    ///
    /// ```
    /// # use mongotic::session::FlushPreview;
    /// # fn show(preview: &FlushPreview) {
    /// assert!(!preview.reads_first() || preview.round_trips() > 0 || preview.commands().is_empty());
    /// # }
    /// ```
    pub fn reads_first(&self) -> bool {
        self.reads_first
    }
}

impl Session {
    /// What the next [`flush`](Session::flush) would send, without sending anything: the
    /// commands in order, whether they run in a transaction, and the round trips. For tests,
    /// and for reviewing what a data migration is about to do.
    ///
    /// Planning runs as for a flush: generated ids are assigned and hooks run (once per
    /// pending change, so the flush does not run them again), and values are checked
    /// ([`Error::Validation`] as the flush would give it). The only I/O is the one `hello`
    /// per engine that tells whether the deployment has transactions, if nothing asked yet.
    ///
    /// ```no_run
    /// # use mongotic::prelude::*;
    /// # #[derive(Debug, Serialize, Deserialize, Model)]
    /// # #[mongotic(database = "app", collection = "users")]
    /// # struct User { #[serde(rename = "_id")] id: Option<ObjectId>, name: String }
    /// # async fn demo(mut session: Session) -> mongotic::Result<()> {
    /// for user in session.scalars(select::<User>()).all().await? {
    ///     user.write().name = user.read().name.to_uppercase();
    /// }
    /// let preview = session.preview_flush().await?;
    /// println!("{} commands: {:?}", preview.commands().len(), preview.commands());
    /// session.commit().await?; // sends exactly those
    /// # Ok(()) }
    /// ```
    pub async fn preview_flush(&mut self) -> Result<FlushPreview> {
        let transaction = self.txn.is_open() || self.engine.use_transactions().await?;
        let reads_first = self.uow.entries().any(|(_, entry)| entry.entity.state().in_doubt());
        let plan = build_plan(self)?;
        let commands = commands(self, &plan, transaction);
        // Nothing was sent: the versions set for the writes go back, as after a flush that
        // did not start.
        abandon(self, &plan);
        Ok(FlushPreview { commands: commands?, transaction, reads_first })
    }
}

/// How many commands `send` sends for `plan` (without building them), plus the commit of a
/// transaction: what a flush records as its round trips when nothing fails.
pub(crate) fn planned_round_trips(session: &Session, plan: &Plan, transaction: bool) -> usize {
    if plan.writes.is_empty() {
        return 0;
    }
    let groups = groups(&plan.writes);
    let commands = if groups.len() > 1 && session.engine.bulk_write_supported() != Some(false) {
        1
    } else {
        groups
            .into_iter()
            .map(|(command, range)| match command {
                Command::Insert => {
                    let (mut batches, mut count, mut bytes) = (1, 0, 0);
                    for write in &plan.writes[range] {
                        let size = write.estimated_size();
                        if count > 0 && (count == INSERT_BATCH || bytes + size > INSERT_BYTES) {
                            (batches, count, bytes) = (batches + 1, 0, 0);
                        }
                        (count, bytes) = (count + 1, bytes + size);
                    }
                    batches
                }
                Command::Update | Command::Delete => super::send::chunks(plan, range).len(),
            })
            .sum()
    };
    commands + usize::from(transaction)
}

/// The commands `send` sends for `plan`.
fn commands(session: &Session, plan: &Plan, transaction: bool) -> Result<Vec<Document>> {
    let groups = groups(&plan.writes);
    if groups.len() > 1 && session.engine.bulk_write_supported() != Some(false) {
        return Ok(vec![bulk_write(plan)?]);
    }
    let mut commands = Vec::new();
    for (command, range) in groups {
        let collection = &plan.namespaces[plan.writes[range.start].namespace].coll;
        match command {
            Command::Insert => commands.extend(inserts(collection, plan, range)?),
            Command::Update | Command::Delete => {
                for chunk in super::send::chunks(plan, range) {
                    let built = match command {
                        Command::Delete => delete_command(collection, plan, chunk),
                        _ => update_command(collection, plan, chunk),
                    };
                    let mut document = to_document(&built.map_err(|failure| failure.error)?)?;
                    if !transaction
                        && let Some(concern) = session.engine.client().write_concern()
                        && let Ok(concern) = bson::to_document(concern)
                        && !concern.is_empty()
                    {
                        document.insert("writeConcern", concern);
                    }
                    commands.push(document);
                }
            }
        }
    }
    Ok(commands)
}

/// The `insert` commands of `range`, split as the driver splits an ordered `insert_many`.
fn inserts(collection: &str, plan: &Plan, range: Range<usize>) -> Result<Vec<Document>> {
    let mut commands = Vec::new();
    let mut documents = Vec::new();
    let mut bytes = 0;
    for write in &plan.writes[range] {
        let Body::Document(doc) = &write.body else { continue };
        let size = doc.as_bytes().len();
        if !documents.is_empty() && (documents.len() == INSERT_BATCH || bytes + size > INSERT_BYTES) {
            commands.push(insert_command(collection, std::mem::take(&mut documents)));
            bytes = 0;
        }
        bytes += size;
        documents.push(Bson::Document(to_document(doc)?));
    }
    if !documents.is_empty() {
        commands.push(insert_command(collection, documents));
    }
    Ok(commands)
}

fn insert_command(collection: &str, documents: Vec<Bson>) -> Document {
    doc! { "insert": collection, "documents": documents, "ordered": true }
}

/// The client `bulkWrite` command of the whole plan, as the driver builds it: the namespaces
/// are listed in the order the operations first use them.
fn bulk_write(plan: &Plan) -> Result<Document> {
    let mut listed: Vec<usize> = Vec::new();
    let mut ops = Vec::with_capacity(plan.writes.len());
    for write in &plan.writes {
        let index = match listed.iter().position(|namespace| *namespace == write.namespace) {
            Some(index) => index,
            None => {
                listed.push(write.namespace);
                listed.len() - 1
            }
        };
        ops.push(bulk_op(write, index)?);
    }
    let namespaces: Vec<Bson> =
        listed.iter().map(|namespace| Bson::Document(doc! { "ns": &plan.names[*namespace] })).collect();
    Ok(doc! { "bulkWrite": 1, "errorsOnly": false, "ordered": true, "ops": ops, "nsInfo": namespaces })
}

fn bulk_op(write: &Write, index: usize) -> Result<Bson> {
    let index = i32::try_from(index)
        .map_err(|_| Error::InvalidStatement { message: "too many collections in one flush".into() })?;
    let filter = || -> Result<Document> { to_document(&filter_of(write)?) };
    let op = match (&write.body, write.kind) {
        (Body::Document(doc), WriteKind::Insert) => doc! { "insert": index, "document": to_document(doc)? },
        (Body::Document(doc), _) => doc! {
            "update": index,
            "multi": false,
            "filter": filter()?,
            "updateMods": to_document(doc)?,
            "upsert": write.upsert,
        },
        (Body::Update { update, .. }, _) => doc! {
            "update": index,
            "multi": false,
            "filter": filter()?,
            "updateMods": to_document(update as &RawDocumentBuf)?,
        },
        (Body::Delete, _) => doc! { "delete": index, "multi": false, "filter": filter()? },
    };
    Ok(Bson::Document(op))
}
