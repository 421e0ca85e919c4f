//! `sync_schema`: makes the server's collections, validators and indexes what a set of models
//! declares, or (a dry run) says how it would.

use crate::engine::ModelSet;
use crate::error::Error;
use crate::{Engine, Result};

use super::plan::{SchemaPlan, SyncOptions, plan};

/// Brings the collections of the models in `S` (one model or a tuple, as for
/// [`create_indexes`](crate::create_indexes)) in line with their declarations, and returns
/// the plan it ran:
///
/// 1. creates each missing collection with its kind's options (time series, capped,
///    clustered) and its validator, and each missing view;
/// 2. on existing ones, applies with `collMod` what changed and can change in place: the
///    validator and its level and action, a capped collection's size and maximum, a time
///    series' granularity (coarser only) or bucketing, an expiry, a view's pipeline;
/// 3. creates the missing indexes (after their collection) and changes an index's expiry in
///    place;
/// 4. reports the indexes no model declares, and drops them only with
///    [`SyncOptions::drop_undeclared_indexes`] (which also rebuilds a declared index whose
///    options changed).
///
/// What the server cannot change in place (a collection's kind, a time series' time or meta
/// field) is refused with [`Error::SchemaChange`] before anything is sent, as is a plan
/// that would rebuild an index without leave to drop it. With [`SyncOptions::dry_run`] it
/// only reads the server's state and returns the plan. Running it twice in a row sends
/// nothing the second time.
///
/// ```no_run
/// # use mongotic::prelude::*;
/// # #[derive(Debug, Serialize, Deserialize, Model)]
/// # #[mongotic(database = "app", collection = "users")]
/// # struct User { #[serde(rename = "_id")] id: Option<ObjectId>, #[mongotic(unique)] email: String }
/// # #[derive(Debug, Serialize, Deserialize, Model)]
/// # #[mongotic(database = "app", collection = "posts")]
/// # struct Post { #[serde(rename = "_id")] id: Option<ObjectId>, title: String }
/// use mongotic::schema::{SyncOptions, sync_schema};
///
/// # async fn demo(engine: Engine) -> mongotic::Result<()> {
/// let plan = sync_schema::<(User, Post)>(&engine, SyncOptions::new().dry_run(true)).await?;
/// println!("{plan}"); // the commands it would send
/// sync_schema::<(User, Post)>(&engine, SyncOptions::new()).await?;
/// assert!(sync_schema::<(User, Post)>(&engine, SyncOptions::new().dry_run(true)).await?.is_empty());
/// # Ok(()) }
/// ```
pub async fn sync_schema<S: ModelSet>(engine: &Engine, options: SyncOptions) -> Result<SchemaPlan> {
    let mut plan = plan(engine, S::metas(), options).await?;
    if options.is_dry_run() {
        return Ok(plan);
    }
    for step in &plan.steps {
        engine
            .raw_database(&step.database)?
            .run_command(step.command.clone())
            .await
            .map_err(|err| Error::from_driver(err, &step.namespace, None))?;
    }
    plan.applied = true;
    Ok(plan)
}
