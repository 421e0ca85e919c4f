//! A dry run of a flush: the commands it would send, built by the code that builds them for
//! real (see `commands`), with nothing sent.

use bson::Document;

use super::commands::{self, chunks, groups, to_document, write_command};
use super::plan::{Plan, build_plan};
use super::record::abandon;
use crate::options::Options;
use crate::session::Session;
use crate::{Engine, Result};

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
    /// The fields the driver adds to the commands a flush sends, which
    /// [`commands`](FlushPreview::commands) leaves out: the session (`lsid`), the database
    /// (`$db`), the cluster time (`$clusterTime`), the read preference (`$readPreference`),
    /// and in a transaction its number and markers (`txnNumber`, `startTransaction`,
    /// `autocommit`) and, on its first command, its read concern (`readConcern`).
    ///
    /// ```
    /// use mongotic::bson::doc;
    /// use mongotic::session::FlushPreview;
    ///
    /// let mut sent = doc! { "insert": "users", "documents": [], "ordered": true, "lsid": { "id": 1 }, "$db": "app" };
    /// for field in FlushPreview::DRIVER_FIELDS {
    ///     sent.remove(field);
    /// }
    /// assert_eq!(sent, doc! { "insert": "users", "documents": [], "ordered": true });
    /// ```
    pub const DRIVER_FIELDS: &'static [&'static str] = &[
        "lsid",
        "$db",
        "$clusterTime",
        "$readPreference",
        "txnNumber",
        "startTransaction",
        "autocommit",
        "readConcern",
    ];

    /// The write commands, in the order the flush sends them, as the server receives them less
    /// the fields the driver adds to each command for its own bookkeeping, named in
    /// [`FlushPreview::DRIVER_FIELDS`]: remove those from a command seen through the driver's
    /// command monitoring and it equals the command shown here. Empty when there is nothing
    /// to write.
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
    /// ([`Error::Validation`](crate::Error::Validation) as the flush would give it). The only
    /// I/O is the one `hello` per engine that tells whether the deployment has transactions,
    /// if nothing asked yet.
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
        let reads_first = self.uow.entries().any(|(_, entry)| entry.entity.state().in_doubt());
        let plan = build_plan(&self.engine, &mut self.uow)?;
        let previewed = self.preview_plan(&plan).await;
        // Nothing was sent: the versions set for the writes go back, as after a flush that
        // did not start.
        abandon(&self.uow, &plan);
        let (commands, transaction) = previewed?;
        Ok(FlushPreview { commands, transaction, reads_first })
    }

    /// The commands a flush of `plan` would send, and whether in a transaction.
    async fn preview_plan(&self, plan: &Plan) -> Result<(Vec<Document>, bool)> {
        let transaction = self.txn.is_explicit() || plan.in_transaction(&self.engine).await?;
        let options = self.effective_options(&Options::default())?;
        Ok((preview_commands(&self.engine, &options, plan, transaction)?, transaction))
    }
}

/// How many round trips a flush of `plan` takes when nothing fails: its commands, plus the
/// commit of a transaction.
pub(crate) fn planned_round_trips(engine: &Engine, plan: &Plan, transaction: bool) -> usize {
    if plan.writes.is_empty() {
        return 0;
    }
    commands::command_count(engine, plan) + usize::from(transaction)
}

/// The commands a flush sends for `plan`, as the server receives them (less what the driver
/// adds; see [`FlushPreview::commands`]).
fn preview_commands(engine: &Engine, options: &Options, plan: &Plan, transaction: bool) -> Result<Vec<Document>> {
    let groups = groups(&plan.writes);
    let mut documents = Vec::new();
    if commands::uses_bulk_write(engine, &groups) {
        documents.push(commands::bulk_write_command(plan)?);
    } else {
        for (command, range) in groups {
            let collection = &plan.namespaces[plan.writes[range.start].namespace].coll;
            for chunk in chunks(plan, range) {
                let built = write_command(command, collection, plan, chunk);
                documents.push(to_document(&built.map_err(|failure| failure.error)?)?);
            }
        }
    }
    for document in &mut documents {
        if let Some(comment) = &options.comment {
            document.insert("comment", comment.clone());
        }
    }
    if !transaction && let Some(concern) = engine.wire_write_concern(options) {
        let concern = to_document(&concern)?;
        for document in &mut documents {
            document.insert("writeConcern", concern.clone());
        }
    }
    Ok(documents)
}
