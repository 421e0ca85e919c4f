//! Loading relations and many entities by id, in batches, through the identity map.
//!
//! A load sends one `find` for a whole batch of entities: `_id: {$in: ids}` for references
//! (many-to-one, many-to-many) and `field: {$in: ids}` for the reverse side (one-to-many).
//! What it finds goes through the identity map like any query, so a document the session
//! already tracks comes back as the same handle with its pending changes, and documents the
//! session already holds are not fetched again.
//!
//! Reading a relation ([`Session::related`]) does no I/O. For a reference the answer is in
//! the identity map (the referenced ids are in the entity itself), plus the ids a load asked
//! for and did not find, which make a dangling reference an error of its own rather than
//! "not loaded". For the reverse side the session keeps, per entity and relation, which
//! referring documents the load found.

use std::any::TypeId;
use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::marker::PhantomData;

use bson::{Bson, Document, RawBsonRef, RawDocument};

use super::Session;
use super::query::{Loader, SelectResult};
use super::space::Space;
use super::tracked::Tracked;
use super::unit_of_work::Status;
use crate::expr::{Node, SortKey, Test, Value};
use crate::model::{IdKey, IntoId, ModelId};
use crate::options::Options;
use crate::relation::Relation;
use crate::statement::{Projection, Select};
use crate::{Error, Model, Result};

/// The most ids one `find` asks for; larger batches take several (a `$in` of 50,000 ObjectIds
/// is about a megabyte, well under the server's 16 MB command limit).
const IDS_PER_FIND: usize = 50_000;

/// The batch size of a reverse load's `find`: large, so that the server's 16 MB batch limit is
/// what ends the first batch.
const REFERRERS_PER_BATCH: u32 = 1_000_000;

/// What the session knows about relations beyond its identity map.
#[derive(Default)]
pub(crate) struct Relations {
    /// Ids a load asked for that the server did not have, per model: reading a reference to
    /// one is a dangling reference, not a relation left unloaded.
    missing: HashSet<(TypeId, IdKey)>,
    /// For each loaded reverse relation of an entity, the referring documents found.
    referrers: HashMap<ReverseKey, Vec<IdKey>>,
}

/// One reverse relation of one entity: the referenced entity (model and id) and the
/// referring model and field.
#[derive(PartialEq, Eq, Hash)]
struct ReverseKey {
    target: (TypeId, IdKey),
    referrer: TypeId,
    path: Cow<'static, str>,
}

impl Session {
    /// Loads `relation` for every entity in `entities` with one query, for entities already in
    /// hand (a select loads them with [`Select::load`]). Read it with [`Session::related`].
    ///
    /// For a reference field, the ids the entities hold that the session does not track yet
    /// are fetched with one `find` (none at all when it tracks them all); for the reverse side,
    /// the referring documents of all the entities are fetched with one `find`. Everything
    /// found goes through the identity map.
    ///
    /// ```no_run
    /// # use mongotic::prelude::*;
    /// # use mongotic::relation::Ref;
    /// # #[derive(Debug, Serialize, Deserialize, Model)]
    /// # #[mongotic(database = "blog", collection = "users")]
    /// # struct User { #[serde(rename = "_id")] id: Option<ObjectId>, name: String }
    /// # #[derive(Debug, Serialize, Deserialize, Model)]
    /// # #[mongotic(database = "blog", collection = "posts")]
    /// # struct Post { #[serde(rename = "_id")] id: Option<ObjectId>, author: Ref<User> }
    /// # async fn demo(mut session: Session) -> mongotic::Result<()> {
    /// let posts = session.scalars(select::<Post>()).all().await?;
    /// session.load(&posts, Post::author).await?; // one query for every author
    /// let author = session.related(&posts[0], Post::author)?;
    /// # Ok(()) }
    /// ```
    pub async fn load<M: Model, R: Relation<M>>(&mut self, entities: &[Tracked<M>], relation: R) -> Result<()> {
        relation.load(self, entities, &Options::default()).await
    }

    /// The loaded `relation` of `entity`, without I/O: the referenced handle (`Ref<T>`), an
    /// optional one (`Option<Ref<T>>`), the list of them in stored order (`Vec<Ref<T>>`), or the
    /// referring entities for the reverse side, in `_id` order.
    ///
    /// - [`Error::NotLoaded`] when the relation was not loaded (nothing is fetched behind your
    ///   back). A referenced entity the session tracks for another reason counts as loaded.
    /// - [`Error::DanglingReference`] when a load found no document for a referenced id.
    ///
    /// A reference is read from the entity as it is now (change `post.author` and the new
    /// author is what `related` looks for); the reverse side is what the last load found.
    ///
    /// ```no_run
    /// # use mongotic::prelude::*;
    /// # use mongotic::relation::Ref;
    /// # #[derive(Debug, Serialize, Deserialize, Model)]
    /// # #[mongotic(database = "blog", collection = "users")]
    /// # struct User { #[serde(rename = "_id")] id: Option<ObjectId>, name: String }
    /// # #[derive(Debug, Serialize, Deserialize, Model)]
    /// # #[mongotic(database = "blog", collection = "posts")]
    /// # struct Post { #[serde(rename = "_id")] id: Option<ObjectId>, author: Option<Ref<User>> }
    /// # async fn demo(mut session: Session) -> mongotic::Result<()> {
    /// let post = session.scalars(select::<Post>().load(Post::author)).one().await?;
    /// match session.related(&post, Post::author) {
    ///     Ok(Some(author)) => println!("by {}", author.read().name),
    ///     Ok(None) => println!("anonymous"),
    ///     Err(err) if err.is_not_found() => println!("its author was deleted"),
    ///     Err(err) => return Err(err),
    /// }
    /// # Ok(()) }
    /// ```
    pub fn related<M: Model, R: Relation<M>>(&self, entity: &Tracked<M>, relation: R) -> Result<R::Related> {
        relation.related(self, entity)
    }

    /// The entities with the given ids, in the order asked, `None` where there is no such
    /// document: those the session tracks from its identity map, the rest with one `find`
    /// (none when it tracks them all). Malformed id text is [`Error::MalformedId`] before
    /// anything is sent.
    ///
    /// ```no_run
    /// # use mongotic::prelude::*;
    /// # #[derive(Debug, Serialize, Deserialize, Model)]
    /// # #[mongotic(database = "app", collection = "users")]
    /// # struct User { #[serde(rename = "_id")] id: Option<ObjectId>, name: String }
    /// # async fn demo(mut session: Session) -> mongotic::Result<()> {
    /// let ids = ["507f1f77bcf86cd799439011", "507f1f77bcf86cd799439012"];
    /// let users: Vec<Option<Tracked<User>>> = session.get_many::<User>(ids).await?;
    /// # Ok(()) }
    /// ```
    pub async fn get_many<M: Model>(
        &mut self,
        ids: impl IntoIterator<Item = impl IntoId<M::Id>>,
    ) -> Result<Vec<Option<Tracked<M>>>> {
        let ids = ids.into_iter().map(|id| id.into_id().map(|id| id.to_bson())).collect::<Result<Vec<_>>>()?;
        self.fetch_by_id::<M>(&ids, &Options::default()).await?;
        Ok(ids.iter().map(|id| self.tracked::<M>(&IdKey::from_bson(id))).collect())
    }

    /// Loads the entities of `T` that the reference field `path` of `entities` points to.
    pub(crate) async fn load_references<M: Model, T: Model>(
        &mut self,
        path: Cow<'static, str>,
        entities: &[Tracked<M>],
        options: &Options,
    ) -> Result<()> {
        let mut ids = Vec::new();
        for entity in entities {
            ids.extend(self.references_of(&path, entity)?);
        }
        self.fetch_by_id::<T>(&ids, options).await
    }

    /// The handles `entity`'s reference field `path` points to, from the identity map.
    pub(crate) fn referenced<M: Model, T: Model>(&self, path: &str, entity: &Tracked<M>) -> Result<Vec<Tracked<T>>> {
        let mut found = Vec::new();
        for id in self.references_of(path, entity)? {
            let key = IdKey::from_bson(&id);
            match self.tracked::<T>(&key) {
                Some(handle) => found.push(handle),
                None if self.relations.missing.contains(&(TypeId::of::<T>(), key)) => {
                    return Err(Error::DanglingReference {
                        model: M::meta().name,
                        relation: path.to_owned(),
                        namespace: self.namespace_text::<T>(),
                        id: Box::new(id),
                    });
                }
                None => return Err(not_loaded(path, entity)),
            }
        }
        Ok(found)
    }

    /// Loads the entities of `C` whose reference field `path` points to one of `entities`.
    pub(crate) async fn load_referrers<M: Model, C: Model>(
        &mut self,
        path: Cow<'static, str>,
        entities: &[Tracked<M>],
        options: &Options,
    ) -> Result<()> {
        let mut targets: Vec<(IdKey, Bson)> = Vec::new();
        let mut seen = HashSet::new();
        for entity in entities {
            let Some(id) = entity.id().map(|id| id.to_bson()) else { continue };
            let key = IdKey::from_bson(&id);
            if seen.insert(key.clone()) {
                targets.push((key, id));
            }
        }
        let mut found: HashMap<IdKey, Vec<IdKey>> = HashMap::new();
        for chunk in targets.chunks(IDS_PER_FIND) {
            let ids: Vec<Bson> = chunk.iter().map(|(_, id)| id.clone()).collect();
            let referring = Referring { path: path.clone(), _model: PhantomData };
            // How many documents refer to these is unknown: unless the options say how many a
            // batch holds, let the first batch be as large as the server allows, so one `find`
            // brings them all unless they pass 16 MB.
            let per_batch = options.get_batch_size().or(self.options().get_batch_size()).unwrap_or(REFERRERS_PER_BATCH);
            let stmt = by_field::<C, _>(path.clone(), ids, referring, options).yield_per(per_batch);
            for (referrer, references) in SelectResult::open(self, stmt).await?.all().await? {
                let Some(referrer) = referrer.id().map(|id| IdKey::from_bson(&id.to_bson())) else { continue };
                for reference in references {
                    let key = IdKey::from_bson(&reference);
                    if seen.contains(&key) {
                        // A referrer that names the target twice is one referrer: its
                        // references are read together, so a repeat is the list's last.
                        let referrers = found.entry(key).or_default();
                        if referrers.last() != Some(&referrer) {
                            referrers.push(referrer.clone());
                        }
                    }
                }
            }
        }
        for (key, _) in targets {
            let referrers = found.remove(&key).unwrap_or_default();
            let reverse =
                ReverseKey { target: (TypeId::of::<M>(), key), referrer: TypeId::of::<C>(), path: path.clone() };
            self.relations.referrers.insert(reverse, referrers);
        }
        Ok(())
    }

    /// The entities of `C` the last load found referring to `entity` through `path`.
    pub(crate) fn referrers<M: Model, C: Model>(&self, path: &str, entity: &Tracked<M>) -> Result<Vec<Tracked<C>>> {
        let Some(id) = entity.id().map(|id| id.to_bson()) else {
            return Err(Error::NoId { model: M::meta().name });
        };
        let reverse = ReverseKey {
            target: (TypeId::of::<M>(), IdKey::from_bson(&id)),
            referrer: TypeId::of::<C>(),
            path: Cow::Owned(path.to_owned()),
        };
        let Some(referrers) = self.relations.referrers.get(&reverse) else {
            return Err(not_loaded(path, entity));
        };
        // A referrer the session stopped tracking (expunged) is left out.
        Ok(referrers.iter().filter_map(|key| self.tracked::<C>(key)).collect())
    }

    /// Makes sure the session tracks the entities of `M` with `ids` that exist: fetches, with
    /// one `find` per [`IDS_PER_FIND`], those it does not track (or whose insert is in
    /// doubt), and records which ids the server does not have.
    async fn fetch_by_id<M: Model>(&mut self, ids: &[Bson], options: &Options) -> Result<()> {
        let mut wanted = Vec::new();
        let mut seen = HashSet::new();
        for id in ids {
            let key = IdKey::from_bson(id);
            if self.needs_fetch::<M>(&key) && seen.insert(key) {
                wanted.push(id.clone());
            }
        }
        for chunk in wanted.chunks(IDS_PER_FIND) {
            // One more than the ids asked for: a batch that is not full tells the server the
            // cursor is done, so no `getMore` follows.
            let batch = u32::try_from(chunk.len() + 1).unwrap_or(u32::MAX);
            let stmt =
                by_field::<M, _>(Cow::Borrowed("_id"), chunk.to_vec(), crate::statement::Entities::new(), options)
                    .yield_per(batch);
            let found = SelectResult::open(self, stmt).await?.all().await?;
            let found: HashSet<IdKey> =
                found.iter().filter_map(|entity| entity.id()).map(|id| IdKey::from_bson(&id.to_bson())).collect();
            for id in chunk {
                let key = (TypeId::of::<M>(), IdKey::from_bson(id));
                if found.contains(&key.1) {
                    self.relations.missing.remove(&key);
                } else {
                    self.relations.missing.insert(key);
                }
            }
        }
        Ok(())
    }

    /// Whether the entity of `M` with `id` must be read from the server: the session does not
    /// track it, or tracks it with an insert in doubt (reading settles the doubt).
    /// A stored entity outside the session's scope (read with `with_deleted`, or under
    /// another tenant) is read again too: the server answers within the scope.
    fn needs_fetch<M: Model>(&self, id: &IdKey) -> bool {
        match self.uow.lookup(Space::of::<M>(), id) {
            None => true,
            Some((_, entry)) => match entry.status {
                Status::New | Status::Uncertain => entry.entity.state().in_doubt(),
                Status::Merged | Status::Upsert => false,
                Status::Persistent | Status::Deleted => !self.admits::<M>(entry.entity.as_ref()).unwrap_or(false),
            },
        }
    }

    /// The handle of the entity of `M` with `id` that the session tracks, if any (an entity
    /// whose rolled-back insert may or may not have landed is not one).
    fn tracked<M: Model>(&self, id: &IdKey) -> Option<Tracked<M>> {
        let (_, entry) = self.uow.lookup(Space::of::<M>(), id)?;
        match entry.status {
            Status::Uncertain => return None,
            Status::Persistent | Status::Deleted if !self.admits::<M>(entry.entity.as_ref()).unwrap_or(false) => {
                return None;
            }
            _ => {}
        }
        Tracked::from_erased(entry.entity.clone())
    }

    /// The ids `entity` holds in its reference field `path`, as it is in memory.
    fn references_of<M: Model>(&self, path: &str, entity: &Tracked<M>) -> Result<Vec<Bson>> {
        let raw = entity.erased().to_raw().map_err(|err| self.cell_error::<M>(err, None))?;
        references_at(&raw, path).map_err(|message| Error::InvalidValue { path: path.to_owned(), message })
    }

    fn namespace_text<M: Model>(&self) -> String {
        self.engine.namespace(M::meta()).map_or_else(|_| M::meta().collection.to_owned(), |ns| ns.to_string())
    }
}

fn not_loaded<M: Model>(path: &str, entity: &Tracked<M>) -> Error {
    Error::NotLoaded {
        model: M::meta().name,
        relation: path.to_owned(),
        id: entity.id().map(|id| Box::new(id.to_bson())),
    }
}

/// A select of the documents of `M` whose `path` is one of `ids`, in `_id` order.
fn by_field<M: Model, P: Projection<M>>(
    path: Cow<'static, str>,
    ids: Vec<Bson>,
    projection: P,
    options: &Options,
) -> Select<M, P> {
    Select {
        filters: vec![Node::Field { path, test: Test::Ops(vec![("$in", Value::Bson(Bson::Array(ids)))]) }],
        sort: vec![SortKey::new(Cow::Borrowed("_id"), 1)],
        skip: None,
        limit: None,
        batch_size: None,
        paging: crate::statement::Paging::Off,
        projection,
        options: options.clone(),
    }
}

/// The ids at the dotted `path` of a stored reference field: none for null or missing, the
/// elements of an array, or the one value.
pub(crate) fn references_at(raw: &RawDocument, path: &str) -> std::result::Result<Vec<Bson>, String> {
    let mut current = RawBsonRef::Document(raw);
    for step in path.split('.') {
        let RawBsonRef::Document(doc) = current else { return Ok(Vec::new()) };
        match doc.get(step).map_err(|err| err.to_string())? {
            Some(value) => current = value,
            None => return Ok(Vec::new()),
        }
    }
    let owned = |value: RawBsonRef<'_>| Bson::try_from(value.to_raw_bson()).map_err(|err| err.to_string());
    match current {
        RawBsonRef::Null => Ok(Vec::new()),
        RawBsonRef::Array(items) => items
            .into_iter()
            .map(|item| item.map_err(|err| err.to_string()).and_then(owned))
            .filter(|item| !matches!(item, Ok(Bson::Null)))
            .collect(),
        value => owned(value).map(|id| vec![id]),
    }
}

/// Whole documents as tracked entities, with the ids their reference field `path` holds as
/// stored: what a reverse load needs to tell which entity each referring document belongs to.
struct Referring<M> {
    path: Cow<'static, str>,
    _model: PhantomData<fn() -> M>,
}

impl<M> Clone for Referring<M> {
    fn clone(&self) -> Self {
        Referring { path: self.path.clone(), _model: PhantomData }
    }
}

impl<M: Model> Projection<M> for Referring<M> {
    type Output = (Tracked<M>, Vec<Bson>);

    fn projection_document(&self) -> Option<Document> {
        None
    }

    fn decode(&self, raw: &RawDocument, loader: &mut Loader<'_>) -> Result<Self::Output> {
        let references = references_at(raw, &self.path).map_err(|message| Error::UnexpectedReply {
            message: format!("field `{}` in {}: {message}", self.path, loader.namespace()),
        })?;
        Ok((loader.entity(raw)?, references))
    }
}
