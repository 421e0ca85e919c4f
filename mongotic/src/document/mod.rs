//! Documents without a model: a namespace and a `bson::Document`, tracked by the session like
//! a typed entity.
//!
//! A model is the right shape for a collection whose documents have one Rust type. Some code
//! works on documents that have no type (any more): a migration moving documents from an old
//! shape to a new one, an admin tool, a front in another language over this core. For them,
//! [`Session::documents`] opens a collection by name and returns [`TrackedDocument`] handles
//! that go through everything a typed entity goes through:
//!
//! - the identity map (one handle per stored document and session),
//! - change tracking: edits (through [`TrackedDocument::write`] or the path methods
//!   [`set`](TrackedDocument::set) / [`unset`](TrackedDocument::unset)) are compared with the
//!   stored document at the next flush and written as `$set`/`$unset` of the changed paths,
//!   as a typed entity's field changes are,
//! - the batched flush, transactions, the reconciliation of writes whose outcome is unknown,
//!   options, telemetry.
//!
//! Queries take untyped [`path`](crate::expr::path)s: values are sent as operands (a user's
//! string never becomes an operator) and a path that would be an operator (`$where`) is
//! refused.
//!
//! **One document, one entity.** A session never tracks the same stored document both as a
//! typed entity and as a document without a model: they would be two handles writing one
//! document against each other. Reading or adding a document that the session tracks as a
//! `User` (or the other way round) is [`Error::TrackedInAnotherShape`](crate::Error::TrackedInAnotherShape); flush and
//! [`expunge`](crate::Session::expunge) the one, or use a second session for the other shape.
//! A typed entity given to [`Session::add`](crate::Session::add) (which returns no `Result`)
//! with the `_id` of a tracked document is refused by the next flush, before it sends anything.
//!
//! **What a document does not have.** No model declares its fields, so a document has no
//! shard key, tenant field, soft-delete field, version or validation: its writes filter by
//! `_id` alone (on a sharded collection the server routes an `_id`-only write to every shard
//! that may hold it, where a typed model's writes carry the shard key and go to one), a
//! session bound to a tenant does not open documents at all (see [`Session::documents`]), and
//! a soft-deleted document is read and written like any other. Where those rules matter, use a
//! typed model.
//!
//! ```no_run
//! use mongotic::prelude::*;
//! use mongotic::bson::doc;
//! use mongotic::expr::path;
//!
//! # async fn demo(mut session: Session) -> mongotic::Result<()> {
//! let mut users = session.documents("users")?;
//! let ann = users.add(doc! { "name": "Ann", "address": { "city": "Paris" } })?;
//! users.flush().await?; // insert, with a generated _id
//! ann.set("address.zip", "75001")?;
//! ann.unset("name");
//! users.flush().await?; // {$set: {"address.zip": "75001"}, $unset: {name: ""}}
//! for user in users.find(path("address.city").eq("Paris")).all().await? {
//!     println!("{:?}", user.get("address.zip"));
//! }
//! # Ok(()) }
//! ```

mod cell;
mod collection;
mod namespace;
mod paths;

pub use cell::TrackedDocument;
pub use collection::{DocumentFind, Documents};

use crate::{Result, Session};

impl Session {
    /// The documents of `collection` (in the engine's database, as a model without a
    /// `database` would be), without a model. See [`document`](crate::document).
    ///
    /// Fails with [`Error::NoDatabase`](crate::Error::NoDatabase) when the engine has no
    /// database for it, and with [`Error::InvalidOptions`](crate::Error::InvalidOptions) in a
    /// session bound to a tenant: a document without a model has no tenant field to scope it
    /// by, so a tenant's session could read every tenant's documents (use a session without a
    /// tenant, as for `unscoped()`).
    ///
    /// ```no_run
    /// # use mongotic::prelude::*;
    /// # async fn demo(mut session: Session) -> mongotic::Result<()> {
    /// let found = session.documents("users")?.get(7).await?;
    /// # Ok(()) }
    /// ```
    pub fn documents(&mut self, collection: &str) -> Result<Documents<'_>> {
        refuse_for_tenant(self)?;
        let database = self.engine().resolve_database(None)?;
        Ok(Documents::new(self, namespace::meta(&database, collection)))
    }

    /// The documents of `database.collection`, without a model. An engine made
    /// [`with_database`](crate::Engine::with_database) puts them in its database instead, as
    /// it does for models.
    ///
    /// ```no_run
    /// # use mongotic::prelude::*;
    /// # async fn demo(mut session: Session) -> mongotic::Result<()> {
    /// let audit = session.documents_in("ops", "audit")?.count(mongotic::expr::path("level").eq("warn")).await?;
    /// # Ok(()) }
    /// ```
    pub fn documents_in(&mut self, database: &str, collection: &str) -> Result<Documents<'_>> {
        refuse_for_tenant(self)?;
        let database = self.engine().resolve_database(Some(database))?;
        Ok(Documents::new(self, namespace::meta(&database, collection)))
    }

    /// Updates every document of `collection` matching `filter` with `update` (operators or a
    /// pipeline), in the session's transaction when it has one, without loading them. Returns
    /// how many changed. Documents the session tracks are not refreshed: this is a bulk
    /// statement, as [`update`](crate::update) is for models.
    pub(crate) async fn update_documents(
        &mut self,
        collection: &str,
        filter: crate::Filter<crate::expr::Untyped>,
        update: mongodb::options::UpdateModifications,
    ) -> Result<u64> {
        let database = self.engine().resolve_database(None)?;
        let filter = filter.to_document()?;
        self.update_erased(namespace::meta(&database, collection), filter, update).await
    }

    /// Runs bookkeeping `statements` (filter, update, upsert) on `collection`, in order, in
    /// one `update` command in the session's transaction (when it has one): how many matched
    /// or upserted a document.
    pub(crate) async fn update_documents_in_order(
        &mut self,
        collection: &str,
        statements: &[(bson::RawDocumentBuf, bson::RawDocumentBuf, bool)],
    ) -> Result<u64> {
        let database = self.engine().resolve_database(None)?;
        self.update_in_order_erased(namespace::meta(&database, collection), statements).await
    }
}

/// A session bound to a tenant reads only that tenant's documents; documents without a model
/// have no tenant field to narrow by, so such a session does not open them.
fn refuse_for_tenant(session: &Session) -> Result<()> {
    match session.tenant() {
        None => Ok(()),
        Some(_) => Err(crate::Error::InvalidOptions {
            message: "a session bound to a tenant cannot open documents without a model (they have no tenant field \
                      to scope them): use a session without a tenant"
                .into(),
        }),
    }
}
