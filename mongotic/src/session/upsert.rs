//! Upserts on a natural key: the bulk [`Upsert`] statement, and entities staged with
//! [`Session::upsert`] for the flush to write.

use std::collections::HashMap;

use bson::RawDocumentBuf;

use super::Session;
use super::execute::Executable;
use super::scope::Scope;
use super::space::Space;
use super::tracked::CellError;
use super::unit_of_work::{Status, UpsertOn};
use crate::model::ModelId;
use crate::options::Options;
use crate::statement::{Upsert, UpsertKey, UpsertResult, upsert_statement};
use crate::validation::{Invalid, Violations};
use crate::wire::{value_at, values_key};
use crate::{Error, Model, Result, Tracked, Writable};

impl<'s, M: Model> Executable<'s> for Upsert<M> {
    type Output = UpsertResult<M::Id>;

    async fn execute_in(self, session: &'s mut Session) -> Result<UpsertResult<M::Id>> {
        if self.values.is_empty() {
            return Ok(UpsertResult::default());
        }
        let meta = M::meta();
        let io = session.io(meta, "upsert", &self.options).await?;
        let namespace = io.namespace().to_owned();
        let tenant = io.scope().tenant().cloned();
        let scope = io.scope().equalities();
        let now = bson::DateTime::now();
        let mut ids = Vec::with_capacity(self.values.len());
        let mut statements: Vec<(RawDocumentBuf, RawDocumentBuf)> = Vec::with_capacity(self.values.len());
        let mut invalid = Vec::new();
        for mut value in self.values {
            // Ids are chosen here, so the result can list the inserted ones; the timestamps
            // are set as a flush sets them (`created_at` is written only on insert).
            let id = match value.id() {
                Some(id) => id.clone(),
                None => {
                    let id = M::Id::generate().ok_or_else(|| Error::MissingId { namespace: namespace.clone() })?;
                    value.set_id(id.clone());
                    id
                }
            };
            value.__stamp(true, now);
            if let Some(tenant) = &tenant {
                value.__set_tenant(tenant).map_err(|source| Error::Deserialize {
                    namespace: namespace.clone(),
                    id: Some(Box::new(id.to_bson())),
                    source,
                })?;
            }
            let raw = crate::encode::entity_to_raw(&value).map_err(|err| Error::serialize(&namespace, err))?;
            if meta.validates {
                let mut violations = Violations::default();
                value.__validate(&mut violations);
                if !violations.is_empty() {
                    invalid.push(Invalid { model: meta.name, id: Some(id.to_bson()), violations });
                }
            }
            statements.push(upsert_statement(meta, &raw, &self.key, &self.insert_only, &scope)?);
            ids.push(id);
        }
        if !invalid.is_empty() {
            return Err(Error::Validation { invalid });
        }
        let done = io.upsert_many(&statements).await?;
        let upserted_ids: Vec<(usize, M::Id)> =
            done.inserted.iter().filter_map(|index| Some((*index, ids.get(*index)?.clone()))).collect();
        Ok(UpsertResult {
            inserted: upserted_ids.len() as u64,
            matched: done.matched,
            modified: done.modified,
            upserted_ids,
        })
    }
}

impl Session {
    /// Stages `value` to be written on its natural key `key` (a field, or a tuple of fields,
    /// usually with a unique index): the next flush inserts it, or updates the document that
    /// has the key, in the same batch as the rest of the flush. The entity then holds the stored
    /// document: its `_id`, and the fields an update leaves as stored. No I/O here.
    ///
    /// When the session already tracks an entity of `M` with the same key (loaded, added,
    /// merged or upserted), that entity takes `value` (keeping its id) and its handle is
    /// returned: one key, one entity. Two sessions upserting the same new key at once leave one
    /// document; the flush whose insert loses the race sends its upsert again, which updates
    /// the winner's document.
    ///
    /// A model's scopes apply: the key is matched among the session tenant's live documents,
    /// and an inserted document is stamped with the tenant.
    ///
    /// ```no_run
    /// # use mongotic::prelude::*;
    /// # #[derive(Debug, Serialize, Deserialize, Model)]
    /// # #[mongotic(collection = "users", index(keys(email = 1), unique))]
    /// # struct User { #[serde(rename = "_id")] id: Option<ObjectId>, email: String, name: String }
    /// # async fn demo(mut session: Session) -> mongotic::Result<()> {
    /// let ann = session.upsert(User::email, User { id: None, email: "ann@example.com".into(), name: "Ann".into() })?;
    /// session.commit().await?; // one update command with upsert: true, then ann's document is read back
    /// println!("{:?}", ann.id()); // the stored _id, whether it was inserted or updated
    /// # Ok(()) }
    /// ```
    pub fn upsert<M: Writable>(&mut self, key: impl UpsertKey<M>, value: M) -> Result<Tracked<M>> {
        let mut handles = self.upsert_all(key, [value])?;
        handles.pop().ok_or_else(|| Error::InvalidStatement { message: "an upsert of one value staged none".into() })
    }

    /// [`upsert`](Session::upsert) for many values on the same key: the session's tracked
    /// entities of `M` are looked through once for the whole call (finding them serializes
    /// each), so staging many values costs one pass, not one per value. Returns a handle per
    /// value, in order (two values with the same key get the same handle, holding the later).
    ///
    /// ```no_run
    /// # use mongotic::prelude::*;
    /// # #[derive(Debug, Serialize, Deserialize, Model)]
    /// # #[mongotic(collection = "users")]
    /// # struct User { #[serde(rename = "_id")] id: Option<ObjectId>, email: String, name: String }
    /// # async fn demo(mut session: Session, imported: Vec<User>) -> mongotic::Result<()> {
    /// let users = session.upsert_all(User::email, imported)?;
    /// session.commit().await?;
    /// # Ok(()) }
    /// ```
    pub fn upsert_all<M: Writable>(
        &mut self,
        key: impl UpsertKey<M>,
        values: impl IntoIterator<Item = M>,
    ) -> Result<Vec<Tracked<M>>> {
        let on = UpsertOn { key: key.paths().into(), insert_only: Vec::new().into() };
        self.stage_upserts(on, values)
    }

    /// Stages the values of an [`Upsert`] statement as [`upsert_all`](Session::upsert_all)
    /// does, on its key and with the fields it writes only on insert: a document that is new
    /// gets the value's, one that exists keeps its own. An entity the session tracks with the
    /// same key takes the value but keeps its own insert-only fields (and `created_at`). No I/O;
    /// the statement's options are not used (the flush's are).
    ///
    /// ```no_run
    /// # use mongotic::prelude::*;
    /// # #[derive(Debug, Serialize, Deserialize, Model)]
    /// # #[mongotic(collection = "users", index(keys(email = 1), unique))]
    /// # struct User { #[serde(rename = "_id")] id: Option<ObjectId>, email: String, name: String, signed_up_by: String }
    /// # async fn demo(mut session: Session, imported: Vec<User>) -> mongotic::Result<()> {
    /// let users = session.upsert_with(upsert::<User>().on(User::email).on_insert(User::signed_up_by).values(imported))?;
    /// session.commit().await?; // known users keep how they signed up; new ones get "import"
    /// # Ok(()) }
    /// ```
    pub fn upsert_with<M: Writable>(&mut self, stmt: Upsert<M>) -> Result<Vec<Tracked<M>>> {
        if stmt.key.is_empty() {
            return Err(Error::InvalidStatement {
                message: format!("an upsert of {} names no key: call .on(field)", M::meta().name),
            });
        }
        let on = UpsertOn { key: stmt.key.into(), insert_only: stmt.insert_only.into() };
        self.stage_upserts(on, stmt.values)
    }

    /// What `upsert_all` and `upsert_with` do.
    fn stage_upserts<M: Writable>(
        &mut self,
        on: UpsertOn,
        values: impl IntoIterator<Item = M>,
    ) -> Result<Vec<Tracked<M>>> {
        let paths = on.key.clone();
        let namespace = self.engine.namespace(M::meta())?.to_string();
        let mut tracked = self.tracked_by_key::<M>(&paths)?;
        let mut handles = Vec::new();
        for mut value in values {
            let raw = crate::encode::entity_to_raw(&value).map_err(|err| Error::serialize(&namespace, err))?;
            if let Some(path) = paths.iter().find(|path| value_at(&raw, path).is_none()) {
                return Err(Error::InvalidValue {
                    path: path.to_string(),
                    message: "an upsert's value has no value for its key field".into(),
                });
            }
            let key = values_key(&paths, &raw);
            if let Some(handle) = tracked.get(&key) {
                // One key, one entity: the tracked one takes the value, and keeps its id (and,
                // once stored, what only an insert writes).
                if let Some(id) = handle.id() {
                    value.set_id(id);
                }
                if handle.state().is_persistent() {
                    value = keep_insert_only(value, &handle.erased().to_raw().ok(), &on, &namespace)?;
                }
                match handle.cell.try_write() {
                    Ok(mut slot) => {
                        handle.cell.state.begin_change(|| crate::encode::entity_to_raw(&*slot).ok());
                        *slot = value;
                    }
                    Err(_) => {
                        return Err(self.cell_error::<M>(CellError::Busy, handle.erased().current_id().ok().flatten()));
                    }
                }
                if let Some(slot) = self.uow.key_of(handle.state())
                    && self.uow.get(slot).is_some_and(|entry| entry.status == Status::Upsert)
                {
                    self.uow.stage_upsert(slot, on.clone());
                }
                handles.push(handle.clone());
                continue;
            }
            let handle = Tracked::new(value);
            let slot = self.uow.track(handle.erased(), Status::Upsert, None);
            self.uow.stage_upsert(slot, on.clone());
            tracked.insert(key, handle.clone());
            handles.push(handle);
        }
        Ok(handles)
    }

    /// The entities of `M` the session tracks that an upsert on `paths` would match, by the
    /// values of their key, as they are in memory: stored ones that are in the session's scope
    /// as they are in memory (a restored soft delete is live again), and those staged to be
    /// written.
    fn tracked_by_key<M: Model>(
        &self,
        paths: &[std::borrow::Cow<'static, str>],
    ) -> Result<HashMap<Vec<u8>, Tracked<M>>> {
        let scope = Scope::of(M::meta(), self.uow.tenant(), &self.effective_options(&Options::default())?)?;
        let mut tracked = HashMap::new();
        for (_, entry) in self.uow.entries() {
            if entry.entity.space() != Space::of::<M>() || matches!(entry.status, Status::Deleted | Status::Uncertain) {
                continue;
            }
            let Ok(current) = entry.entity.to_raw() else { continue };
            if entry.status == Status::Persistent && !scope.admits(&current) {
                continue;
            }
            if let Some(handle) = Tracked::<M>::from_erased(entry.entity.clone()) {
                tracked.insert(values_key(paths, &current), handle);
            }
        }
        Ok(tracked)
    }
}

/// `value` with the fields an upsert writes only on insert (and `created_at`) taken from
/// `stored`, the entity's current document: an entity that exists keeps them.
fn keep_insert_only<M: Model>(value: M, stored: &Option<RawDocumentBuf>, on: &UpsertOn, namespace: &str) -> Result<M> {
    let meta = M::meta();
    let kept = |name: &str| on.insert_only.iter().any(|path| path == name) || Some(name) == meta.created_at;
    let Some(stored) = stored else { return Ok(value) };
    if on.insert_only.is_empty() && meta.created_at.is_none() {
        return Ok(value);
    }
    let raw = crate::encode::entity_to_raw(&value).map_err(|err| Error::serialize(namespace, err))?;
    let mut merged = RawDocumentBuf::new();
    for element in raw.iter_elements() {
        let element = element.map_err(|err| Error::InvalidStatement { message: err.to_string() })?;
        let name = element.key();
        let source = if kept(name) { value_at(stored, name) } else { None };
        match source {
            Some(stored_value) => merged.append_ref(name, stored_value),
            None => merged
                .append_ref(name, element.value().map_err(|err| Error::InvalidStatement { message: err.to_string() })?),
        }
    }
    M::__decode(&merged).map_err(|why| Error::undecodable(M::meta().name, namespace, &merged, why))
}
