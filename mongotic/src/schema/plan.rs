//! The plan of a schema sync: what the models declare, compared with what the server has,
//! as the commands that would make them agree.

use std::fmt;

use bson::{Bson, Document, doc};

use super::kind::{CollectionKind, Granularity, int};
use super::view::{View, ViewSource};
use crate::error::Error;
use crate::model::{IndexDecl, IndexKey, ModelMeta};
use crate::{Engine, Result};

/// What [`sync_schema`](super::sync_schema) does besides creating and updating: whether it
/// only plans, and whether it drops indexes the models do not declare.
///
/// ```
/// use mongotic::schema::SyncOptions;
/// let options = SyncOptions::new().dry_run(true).drop_undeclared_indexes(true);
/// assert!(options.is_dry_run());
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SyncOptions {
    dry_run: bool,
    drop_undeclared: bool,
}

impl SyncOptions {
    /// Apply the plan, keep undeclared indexes (the default).
    ///
    /// ```
    /// assert_eq!(mongotic::schema::SyncOptions::new(), Default::default());
    /// ```
    pub fn new() -> Self {
        SyncOptions::default()
    }

    /// Only plan: read the server's state and return the commands, sending none.
    ///
    /// ```
    /// assert!(mongotic::schema::SyncOptions::new().dry_run(true).is_dry_run());
    /// ```
    pub fn dry_run(mut self, dry_run: bool) -> Self {
        self.dry_run = dry_run;
        self
    }

    /// Drop the indexes no model declares (always reported), and replace a declared index
    /// whose options changed; without it such an index makes the sync fail.
    ///
    /// ```
    /// let options = mongotic::schema::SyncOptions::new().drop_undeclared_indexes(true);
    /// assert!(options.drops_undeclared_indexes());
    /// ```
    pub fn drop_undeclared_indexes(mut self, drop: bool) -> Self {
        self.drop_undeclared = drop;
        self
    }

    /// `true` when only planning.
    ///
    /// ```
    /// assert!(!mongotic::schema::SyncOptions::new().is_dry_run());
    /// ```
    pub fn is_dry_run(&self) -> bool {
        self.dry_run
    }

    /// `true` when undeclared indexes are dropped.
    ///
    /// ```
    /// assert!(!mongotic::schema::SyncOptions::new().drops_undeclared_indexes());
    /// ```
    pub fn drops_undeclared_indexes(&self) -> bool {
        self.drop_undeclared
    }
}

/// What one command of a plan does.
///
/// ```
/// assert_eq!(mongotic::schema::SchemaAction::CreateIndexes.to_string(), "create indexes");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SchemaAction {
    /// `create` of a collection, with its kind's options and its validator.
    CreateCollection,
    /// `create` of a view.
    CreateView,
    /// `collMod` of a collection's validator.
    SetValidator,
    /// `collMod` of a collection's options (capped size, time-series granularity, expiry).
    ModifyCollection,
    /// `collMod` of a view's pipeline.
    ModifyView,
    /// `collMod` of an index's expiry.
    ModifyIndex,
    /// `dropIndexes` of one index.
    DropIndex,
    /// `createIndexes`.
    CreateIndexes,
}

impl fmt::Display for SchemaAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SchemaAction::CreateCollection => "create collection",
            SchemaAction::CreateView => "create view",
            SchemaAction::SetValidator => "set validator",
            SchemaAction::ModifyCollection => "modify collection",
            SchemaAction::ModifyView => "modify view",
            SchemaAction::ModifyIndex => "modify index",
            SchemaAction::DropIndex => "drop index",
            SchemaAction::CreateIndexes => "create indexes",
        })
    }
}

/// One command of a plan, run on `database`.
///
/// ```no_run
/// # use mongotic::prelude::*;
/// # #[derive(Debug, Serialize, Deserialize, Model)]
/// # #[mongotic(database = "app", collection = "users")]
/// # struct User { #[serde(rename = "_id")] id: Option<ObjectId>, #[mongotic(unique)] email: String }
/// # async fn demo(engine: Engine) -> mongotic::Result<()> {
/// use mongotic::schema::{SyncOptions, sync_schema};
/// let plan = sync_schema::<User>(&engine, SyncOptions::new().dry_run(true)).await?;
/// for step in plan.steps() {
///     println!("{} {}: {}", step.action, step.namespace, step.command);
/// }
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct SchemaStep {
    /// What it does.
    pub action: SchemaAction,
    /// `database.collection` it is about.
    pub namespace: String,
    /// The database it runs on.
    pub database: String,
    /// The command, as sent.
    pub command: Document,
}

/// An index the server has that no model of the sync declares.
///
/// ```
/// let index = mongotic::schema::UndeclaredIndex {
///     namespace: "app.users".into(),
///     name: "legacy_1".into(),
///     keys: mongotic::bson::doc! { "legacy": 1 },
///     dropped: false,
/// };
/// assert_eq!(index.to_string(), "app.users: legacy_1 { \"legacy\": 1 } (kept)");
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct UndeclaredIndex {
    /// `database.collection`.
    pub namespace: String,
    /// The index's name.
    pub name: String,
    /// Its keys.
    pub keys: Document,
    /// Whether the plan drops it ([`SyncOptions::drop_undeclared_indexes`]).
    pub dropped: bool,
}

impl fmt::Display for UndeclaredIndex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let fate = if self.dropped { "dropped" } else { "kept" };
        write!(f, "{}: {} {} ({fate})", self.namespace, self.name, self.keys)
    }
}

/// The commands that make the server's collections, validators and indexes what the models
/// declare, in the order they run, with the indexes no model declares. Returned by
/// [`sync_schema`](super::sync_schema): sent, or (in a dry run) only planned.
///
/// ```no_run
/// # use mongotic::prelude::*;
/// # #[derive(Debug, Serialize, Deserialize, Model)]
/// # #[mongotic(database = "app", collection = "users")]
/// # struct User { #[serde(rename = "_id")] id: Option<ObjectId>, #[mongotic(unique)] email: String }
/// # async fn demo(engine: Engine) -> mongotic::Result<()> {
/// use mongotic::schema::{SyncOptions, sync_schema};
/// sync_schema::<User>(&engine, SyncOptions::new()).await?;
/// let again = sync_schema::<User>(&engine, SyncOptions::new().dry_run(true)).await?;
/// assert!(again.is_empty()); // nothing left to do
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SchemaPlan {
    pub(crate) steps: Vec<SchemaStep>,
    pub(crate) undeclared: Vec<UndeclaredIndex>,
    pub(crate) applied: bool,
}

impl SchemaPlan {
    /// The commands, in order.
    ///
    /// ```
    /// assert!(mongotic::schema::SchemaPlan::default().steps().is_empty());
    /// ```
    pub fn steps(&self) -> &[SchemaStep] {
        &self.steps
    }

    /// `true` when there is nothing to send: the server has what the models declare (indexes
    /// it keeps although no model declares them are not changes).
    ///
    /// ```
    /// assert!(mongotic::schema::SchemaPlan::default().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }

    /// The indexes no model declares, and whether they are dropped.
    ///
    /// ```
    /// assert!(mongotic::schema::SchemaPlan::default().undeclared_indexes().is_empty());
    /// ```
    pub fn undeclared_indexes(&self) -> &[UndeclaredIndex] {
        &self.undeclared
    }

    /// `true` when the commands were sent, `false` for a dry run.
    ///
    /// ```
    /// assert!(!mongotic::schema::SchemaPlan::default().was_applied());
    /// ```
    pub fn was_applied(&self) -> bool {
        self.applied
    }

    /// The commands, as sent (or as they would be).
    ///
    /// ```
    /// assert!(mongotic::schema::SchemaPlan::default().commands().is_empty());
    /// ```
    pub fn commands(&self) -> Vec<&Document> {
        self.steps.iter().map(|step| &step.command).collect()
    }
}

impl fmt::Display for SchemaPlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.steps.is_empty() {
            f.write_str("nothing to change")?;
        }
        for (index, step) in self.steps.iter().enumerate() {
            if index > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{} {} on {}: {}", step.action, step.namespace, step.database, step.command)?;
        }
        for index in &self.undeclared {
            write!(f, "\nundeclared index {index}")?;
        }
        Ok(())
    }
}

/// The models of one namespace.
struct Target {
    database: String,
    collection: &'static str,
    metas: Vec<&'static ModelMeta>,
}

impl Target {
    fn namespace(&self) -> String {
        format!("{}.{}", self.database, self.collection)
    }
}

/// The plan for `metas`, from the server's current state (read, never changed).
pub(crate) async fn plan(engine: &Engine, metas: Vec<&'static ModelMeta>, options: SyncOptions) -> Result<SchemaPlan> {
    let mut targets: Vec<Target> = Vec::new();
    for meta in metas {
        let database = engine.database_name(meta)?.to_owned();
        match targets.iter_mut().find(|target| target.database == database && target.collection == meta.collection) {
            Some(target) => target.metas.push(meta),
            None => targets.push(Target { database, collection: meta.collection, metas: vec![meta] }),
        }
    }
    // Collections before the views that may read them.
    targets.sort_by_key(|target| matches!(target.metas[0].kind, CollectionKind::View(_)));
    let mut phases: [Vec<SchemaStep>; 4] = Default::default();
    let mut undeclared = Vec::new();
    for target in &targets {
        let state = State::read(engine, target).await?;
        plan_target(engine, target, &state, options, &mut phases, &mut undeclared)?;
    }
    let steps = phases.into_iter().flatten().collect();
    Ok(SchemaPlan { steps, undeclared, applied: false })
}

/// What the server has of one namespace.
struct State {
    /// The `listCollections` entry, if the collection or view exists.
    info: Option<Document>,
    indexes: Vec<Document>,
}

impl State {
    async fn read(engine: &Engine, target: &Target) -> Result<State> {
        let namespace = target.namespace();
        let database = engine.raw_database(&target.database)?;
        let listed = database
            .run_command(doc! { "listCollections": 1, "filter": { "name": target.collection } })
            .await
            .map_err(|err| Error::from_driver(err, &namespace, None))?;
        let info = first_batch(&listed).into_iter().next();
        let is_view = info.as_ref().is_some_and(|info| info.get_str("type") == Ok("view"));
        let mut indexes = Vec::new();
        if info.is_some() && !is_view {
            match database.run_command(doc! { "listIndexes": target.collection }).await {
                Ok(reply) => indexes = first_batch(&reply),
                Err(err) if server_code(&err) == Some(26) => {}
                Err(err) => return Err(Error::from_driver(err, &namespace, None)),
            }
        }
        Ok(State { info, indexes })
    }

    fn options(&self) -> Document {
        self.info.as_ref().and_then(|info| info.get_document("options").ok()).cloned().unwrap_or_default()
    }
}

fn server_code(err: &mongodb::error::Error) -> Option<i32> {
    match err.kind.as_ref() {
        mongodb::error::ErrorKind::Command(command) => Some(command.code),
        _ => None,
    }
}

fn first_batch(reply: &Document) -> Vec<Document> {
    reply
        .get_document("cursor")
        .and_then(|cursor| cursor.get_array("firstBatch"))
        .map(|batch| batch.iter().filter_map(Bson::as_document).cloned().collect())
        .unwrap_or_default()
}

fn refuse(target: &Target, reason: impl Into<String>) -> Error {
    Error::SchemaChange { namespace: target.namespace(), reason: reason.into() }
}

/// What the models of `target` declare for the collection itself: its kind and validator.
struct Declared {
    kind: CollectionKind,
    validator: Option<(Document, super::Validation)>,
}

fn declared(target: &Target) -> Result<Declared> {
    let first = target.metas[0];
    let mut validator: Option<(Document, super::Validation)> = None;
    for meta in &target.metas {
        if kind_options(&meta.kind) != kind_options(&first.kind) {
            return Err(refuse(
                target,
                format!("{} and {} declare different kinds for one collection", first.name, meta.name),
            ));
        }
        if let Some(validation) = meta.validation {
            let schema = doc! { "$jsonSchema": (meta.schema)() };
            match &validator {
                Some((known, known_validation)) if !same_doc(known, &schema) || *known_validation != validation => {
                    return Err(refuse(
                        target,
                        format!(
                            "{} and {} share the collection but their validators differ: give all but one \
                             #[mongotic(schema(validator = false))]",
                            first.name, meta.name
                        ),
                    ));
                }
                Some(_) => {}
                None => validator = Some((schema, validation)),
            }
        }
    }
    Ok(Declared { kind: first.kind, validator })
}

/// A kind's options as a document, to compare two declarations.
fn kind_options(kind: &CollectionKind) -> Document {
    match kind {
        CollectionKind::View(view) => doc! { "viewOn": view.source_collection(), "pipeline": view.pipeline_bson() },
        other => other.create_options(),
    }
}

fn plan_target(
    engine: &Engine,
    target: &Target,
    state: &State,
    options: SyncOptions,
    phases: &mut [Vec<SchemaStep>; 4],
    undeclared: &mut Vec<UndeclaredIndex>,
) -> Result<()> {
    let declared = declared(target)?;
    let namespace = target.namespace();
    let step = |action, command| SchemaStep {
        action,
        namespace: namespace.clone(),
        database: target.database.clone(),
        command,
    };
    let name = target.collection;
    if let CollectionKind::View(view) = &declared.kind {
        check_view_source(engine, target, view)?;
        let pipeline = view.pipeline_bson();
        let source = view.source_collection();
        match &state.info {
            None => phases[1]
                .push(step(SchemaAction::CreateView, doc! { "create": name, "viewOn": source, "pipeline": pipeline })),
            Some(info) if info.get_str("type") != Ok("view") => {
                return Err(refuse(
                    target,
                    "the models declare a view but the server has a collection here: drop it first",
                ));
            }
            Some(_) => {
                let current = state.options();
                let same_source = current.get_str("viewOn") == Ok(source);
                let same_pipeline = current.get("pipeline").is_some_and(|stored| same(stored, &pipeline));
                if !same_source || !same_pipeline {
                    phases[1].push(step(
                        SchemaAction::ModifyView,
                        doc! { "collMod": name, "viewOn": source, "pipeline": pipeline },
                    ));
                }
            }
        }
        return Ok(());
    }
    match &state.info {
        None => {
            let mut command = doc! { "create": name };
            command.extend(declared.kind.create_options());
            if let Some((validator, validation)) = &declared.validator {
                command.insert("validator", validator.clone());
                command.insert("validationLevel", validation.level.as_str());
                command.insert("validationAction", validation.action.as_str());
            }
            phases[0].push(step(SchemaAction::CreateCollection, command));
        }
        Some(info) => {
            if info.get_str("type") == Ok("view") {
                return Err(refuse(
                    target,
                    format!(
                        "the server has a view here but the models declare {}: drop the view first",
                        declared.kind.name()
                    ),
                ));
            }
            let current = state.options();
            if let Some(change) = kind_change(target, &declared.kind, &current)? {
                let mut command = doc! { "collMod": name };
                command.extend(change);
                phases[0].push(step(SchemaAction::ModifyCollection, command));
            }
            if let Some((validator, validation)) = &declared.validator {
                let same_validator = current.get_document("validator").is_ok_and(|stored| same_doc(stored, validator));
                let level = current.get_str("validationLevel").unwrap_or("strict");
                let action = current.get_str("validationAction").unwrap_or("error");
                if !same_validator || level != validation.level.as_str() || action != validation.action.as_str() {
                    phases[0].push(step(
                        SchemaAction::SetValidator,
                        doc! {
                            "collMod": name,
                            "validator": validator.clone(),
                            "validationLevel": validation.level.as_str(),
                            "validationAction": validation.action.as_str(),
                        },
                    ));
                }
            }
        }
    }
    plan_indexes(target, state, options, phases, undeclared)
}

/// A view reads a collection of its own database.
fn check_view_source(engine: &Engine, target: &Target, view: &View) -> Result<()> {
    if let ViewSource::Model(source) = view.on {
        let source = source();
        let database = engine.database_name(source)?;
        if database != target.database {
            return Err(refuse(
                target,
                format!("a view reads a collection of its own database, but {} lives in {database}", source.name),
            ));
        }
    }
    Ok(())
}

fn number(value: Option<&Bson>) -> Option<i64> {
    match value? {
        Bson::Int32(n) => Some(i64::from(*n)),
        Bson::Int64(n) => Some(*n),
        Bson::Double(n) => Some(*n as i64),
        _ => None,
    }
}

fn expiry_change(declared: Option<u64>, current: &Document, change: &mut Document) {
    let stored = number(current.get("expireAfterSeconds"));
    let wanted = declared.map(|secs| i64::try_from(secs).unwrap_or(i64::MAX));
    if stored != wanted {
        change.insert("expireAfterSeconds", declared.map_or(Bson::String("off".into()), int));
    }
}

/// The `collMod` options that make the existing collection (`current`, its
/// `listCollections` options) the declared kind, or a refusal when it cannot be done in
/// place.
fn kind_change(target: &Target, kind: &CollectionKind, current: &Document) -> Result<Option<Document>> {
    let capped = current.get_bool("capped").unwrap_or(false);
    let series = current.get_document("timeseries").ok();
    let clustered = current.contains_key("clusteredIndex");
    let found = if capped {
        "a capped collection"
    } else if series.is_some() {
        "a time-series collection"
    } else if clustered {
        "a clustered collection"
    } else {
        "a plain collection"
    };
    if found != kind.name() {
        return Err(refuse(
            target,
            format!(
                "the server has {found} here and the models declare {}; MongoDB cannot change a collection's kind \
                 in place: copy the documents into a new collection (or drop this one) first",
                kind.name()
            ),
        ));
    }
    let mut change = Document::new();
    match kind {
        CollectionKind::Capped(declared) => {
            let size = number(current.get("size")).unwrap_or_default();
            let wanted = i64::try_from(declared.size).unwrap_or(i64::MAX);
            let rounded = wanted.saturating_add(255) / 256 * 256;
            if size != wanted && size != rounded {
                change.insert("cappedSize", int(declared.size));
            }
            let max = number(current.get("max")).filter(|max| *max > 0);
            let wanted_max = declared.max.map(|max| i64::try_from(max).unwrap_or(i64::MAX));
            if max != wanted_max {
                change.insert("cappedMax", declared.max.map_or(Bson::Int32(0), int));
            }
        }
        CollectionKind::TimeSeries(declared) => {
            let series = series.cloned().unwrap_or_default();
            if series.get_str("timeField").ok() != Some(declared.time_field) {
                return Err(refuse(target, "the time field of a time series cannot change in place"));
            }
            if series.get_str("metaField").ok() != declared.meta_field {
                return Err(refuse(target, "the meta field of a time series cannot change in place"));
            }
            let mut timeseries = Document::new();
            match declared.bucket_span_secs {
                Some(span) => {
                    let wanted = i64::try_from(span).unwrap_or(i64::MAX);
                    if number(series.get("bucketMaxSpanSeconds")) != Some(wanted)
                        || number(series.get("bucketRoundingSeconds")) != Some(wanted)
                    {
                        timeseries.insert("bucketMaxSpanSeconds", int(span));
                        timeseries.insert("bucketRoundingSeconds", int(span));
                    }
                }
                None => {
                    let wanted = declared.granularity.unwrap_or(Granularity::Seconds);
                    let stored = match series.get_str("granularity") {
                        Ok(name) => Granularity::parse(name),
                        Err(_) if series.contains_key("bucketRoundingSeconds") => None,
                        Err(_) => Some(Granularity::Seconds),
                    };
                    match stored {
                        Some(stored) if stored == wanted => {}
                        Some(stored) if stored > wanted => {
                            return Err(refuse(
                                target,
                                format!(
                                    "a time series' granularity only grows coarser in place: the server has {} and the \
                                     models declare {}",
                                    stored.as_str(),
                                    wanted.as_str()
                                ),
                            ));
                        }
                        _ => {
                            timeseries.insert("granularity", wanted.as_str());
                        }
                    }
                }
            }
            if !timeseries.is_empty() {
                change.insert("timeseries", timeseries);
            }
            expiry_change(declared.expire_after_secs, current, &mut change);
        }
        CollectionKind::Clustered(declared) => expiry_change(declared.expire_after_secs, current, &mut change),
        CollectionKind::Standard | CollectionKind::View(_) => {}
    }
    Ok((!change.is_empty()).then_some(change))
}

/// The name the server gives an index without one: each key's path and value, joined by `_`.
fn default_name(keys: &[(&str, IndexKey)]) -> String {
    let parts: Vec<String> = keys
        .iter()
        .map(|(path, kind)| match kind.to_bson() {
            Bson::String(text) => format!("{path}_{text}"),
            other => format!("{path}_{other}"),
        })
        .collect();
    parts.join("_")
}

/// The `createIndexes` entry of a declared index.
fn index_document(index: &IndexDecl) -> Document {
    let keys: Document = index.keys.iter().map(|(path, kind)| ((*path).to_owned(), kind.to_bson())).collect();
    let name = index.name.map_or_else(|| default_name(index.keys), str::to_owned);
    let mut document = doc! { "key": keys, "name": name };
    if index.unique {
        document.insert("unique", true);
    }
    if index.sparse {
        document.insert("sparse", true);
    }
    if let Some(secs) = index.expire_after_secs {
        document.insert("expireAfterSeconds", int(secs));
    }
    if let Some(filter) = index.partial_filter {
        document.insert("partialFilterExpression", filter());
    }
    document
}

/// How two index specifications differ: not at all, in their expiry only, or otherwise.
#[derive(PartialEq)]
enum IndexDifference {
    None,
    Expiry,
    Other,
}

fn compare_index(declared: &Document, existing: &Document) -> IndexDifference {
    let text = declared.get_document("key").is_ok_and(|keys| keys.values().any(|value| value.as_str() == Some("text")));
    // The server stores a text index's keys in a form of its own (`_fts`, `_ftsx`).
    let same_keys = text || matches!((declared.get("key"), existing.get("key")), (Some(a), Some(b)) if same(a, b));
    let flag = |doc: &Document, key: &str| doc.get_bool(key).unwrap_or(false);
    let same_options = flag(declared, "unique") == flag(existing, "unique")
        && flag(declared, "sparse") == flag(existing, "sparse")
        && match (declared.get("partialFilterExpression"), existing.get("partialFilterExpression")) {
            (None, None) => true,
            (Some(a), Some(b)) => same(a, b),
            _ => false,
        };
    if !same_keys || !same_options {
        return IndexDifference::Other;
    }
    if number(declared.get("expireAfterSeconds")) != number(existing.get("expireAfterSeconds")) {
        // An index gains or loses a TTL only by being built again; its value changes in place.
        let both = declared.contains_key("expireAfterSeconds") && existing.contains_key("expireAfterSeconds");
        return if both { IndexDifference::Expiry } else { IndexDifference::Other };
    }
    IndexDifference::None
}

fn plan_indexes(
    target: &Target,
    state: &State,
    options: SyncOptions,
    phases: &mut [Vec<SchemaStep>; 4],
    undeclared: &mut Vec<UndeclaredIndex>,
) -> Result<()> {
    let namespace = target.namespace();
    let step = |action, command| SchemaStep {
        action,
        namespace: namespace.clone(),
        database: target.database.clone(),
        command,
    };
    let name = target.collection;
    let mut wanted: Vec<Document> = Vec::new();
    for index in target.metas.iter().flat_map(|meta| meta.indexes.iter()) {
        let document = index_document(index);
        if !wanted.iter().any(|known| known.get("name") == document.get("name")) {
            wanted.push(document);
        }
    }
    let mut matched = vec![false; state.indexes.len()];
    let mut create = Vec::new();
    for index in wanted {
        let index_name = index.get_str("name").unwrap_or_default().to_owned();
        let by_name = state.indexes.iter().position(|existing| existing.get_str("name") == Ok(&index_name));
        if let Some(position) = by_name {
            matched[position] = true;
            match compare_index(&index, &state.indexes[position]) {
                IndexDifference::None => {}
                IndexDifference::Expiry => phases[3].push(step(
                    SchemaAction::ModifyIndex,
                    doc! {
                        "collMod": name,
                        "index": { "name": &index_name, "expireAfterSeconds": index.get("expireAfterSeconds").cloned().unwrap_or(Bson::Null) },
                    },
                )),
                IndexDifference::Other if options.drops_undeclared_indexes() => {
                    phases[2].push(step(SchemaAction::DropIndex, doc! { "dropIndexes": name, "index": &index_name }));
                    create.push(index);
                }
                IndexDifference::Other => {
                    return Err(refuse(
                        target,
                        format!(
                            "the index {index_name} differs from its declaration and an index cannot change in place: \
                             sync with drop_undeclared_indexes to build it again"
                        ),
                    ));
                }
            }
            continue;
        }
        // The same index under another name satisfies the declaration.
        let same_spec = state.indexes.iter().enumerate().position(|(position, existing)| {
            !matched[position] && compare_index(&index, existing) == IndexDifference::None && !is_builtin(existing)
        });
        match same_spec {
            Some(position) => matched[position] = true,
            None => create.push(index),
        }
    }
    for (existing, matched) in state.indexes.iter().zip(matched) {
        if matched || is_builtin(existing) {
            continue;
        }
        let index_name = existing.get_str("name").unwrap_or_default().to_owned();
        let dropped = options.drops_undeclared_indexes();
        if dropped {
            phases[2].push(step(SchemaAction::DropIndex, doc! { "dropIndexes": name, "index": &index_name }));
        }
        undeclared.push(UndeclaredIndex {
            namespace: namespace.clone(),
            name: index_name,
            keys: existing.get_document("key").cloned().unwrap_or_default(),
            dropped,
        });
    }
    if !create.is_empty() {
        phases[3].push(step(SchemaAction::CreateIndexes, doc! { "createIndexes": name, "indexes": create }));
    }
    Ok(())
}

/// The `_id` index and a clustered collection's index: the server's own, never dropped.
fn is_builtin(index: &Document) -> bool {
    index.get_str("name") == Ok("_id_") || index.get_bool("clustered").unwrap_or(false)
}

/// Documents equal as the server compares them: numbers by value, fields in any order.
pub(crate) fn same_doc(a: &Document, b: &Document) -> bool {
    a.len() == b.len() && a.iter().all(|(key, value)| b.get(key).is_some_and(|other| same(value, other)))
}

/// Values equal as the server compares them: numbers by value, fields in any order.
pub(crate) fn same(a: &Bson, b: &Bson) -> bool {
    match (a, b) {
        (Bson::Document(a), Bson::Document(b)) => same_doc(a, b),
        (Bson::Array(a), Bson::Array(b)) => a.len() == b.len() && a.iter().zip(b).all(|(a, b)| same(a, b)),
        (Bson::Int32(_) | Bson::Int64(_) | Bson::Double(_), Bson::Int32(_) | Bson::Int64(_) | Bson::Double(_)) => {
            as_f64(a) == as_f64(b)
        }
        _ => a == b,
    }
}

fn as_f64(value: &Bson) -> f64 {
    match value {
        Bson::Int32(n) => f64::from(*n),
        Bson::Int64(n) => *n as f64,
        Bson::Double(n) => *n,
        _ => f64::NAN,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_index_names_follow_the_server() {
        assert_eq!(default_name(&[("email", IndexKey::Ascending)]), "email_1");
        assert_eq!(default_name(&[("a.b", IndexKey::Descending), ("c", IndexKey::Text)]), "a.b_-1_c_text");
    }

    #[test]
    fn values_compare_as_the_server_does() {
        assert!(same(&Bson::Int32(5), &Bson::Int64(5)));
        assert!(same_doc(&doc! { "a": 1, "b": [1, 2] }, &doc! { "b": [1_i64, 2.0], "a": 1_i64 }));
        assert!(!same_doc(&doc! { "a": 1 }, &doc! { "a": 1, "b": 2 }));
        assert!(!same(&Bson::from(vec![1, 2]), &Bson::from(vec![2, 1])));
    }

    #[test]
    fn an_index_whose_expiry_changed_is_modified_in_place() {
        let declared = doc! { "key": { "seen": 1 }, "name": "seen_1", "expireAfterSeconds": 60 };
        let existing = doc! { "v": 2, "key": { "seen": 1 }, "name": "seen_1", "expireAfterSeconds": 30_i64 };
        assert!(compare_index(&declared, &existing) == IndexDifference::Expiry);
        let unique = doc! { "key": { "seen": 1 }, "name": "seen_1", "unique": true, "expireAfterSeconds": 30 };
        assert!(compare_index(&unique, &existing) == IndexDifference::Other);
    }
}
