//! Scopes: the documents a statement may see and write, decided once per statement from the
//! model's declarations (a soft-delete field, a tenant field), the session's tenant and the
//! statement's opt-outs (`with_deleted`, `only_deleted`, `unscoped`).
//!
//! The rule reaches every path because every path goes through the one place that applies
//! it: a statement's commands through [`Io`](super::io::Io), which adds the scope's filter to
//! each of them (as the first `$match` of a pipeline), and the flush's writes through their
//! filters (`flush::plan`), which carry the tenant and, for a live document, the soft-delete
//! field's `null`.

use bson::{Bson, Document, RawBsonRef, RawDocument, RawDocumentBuf, doc};
use mongodb::options::UpdateModifications;

use super::Session;
use super::diff::Watch;
use super::tracked::{ErasedEntity, stored_document};
use super::unit_of_work::Status;
use crate::error::Error;
use crate::model::{Discriminator, ModelMeta};
use crate::options::{Deleted, Options};
use crate::wire::{self, value_at};
use crate::{Model, Result, SoftDelete, Tracked};

impl Session {
    /// Undoes the soft delete of an entity of a model with a `#[mongotic(soft_delete)]`
    /// field: a delete staged and not yet flushed is unstaged, and the field of an entity read
    /// with [`with_deleted`](crate::Select::with_deleted) or
    /// [`only_deleted`](crate::Select::only_deleted) is cleared, so the next flush writes the
    /// document back to life. No I/O. An entity this session does not track (one whose soft
    /// delete was flushed is let go) is [`Error::Detached`]: read it with `only_deleted()`
    /// first.
    ///
    /// ```no_run
    /// # use mongotic::prelude::*;
    /// # #[derive(Debug, Serialize, Deserialize, Model)]
    /// # #[mongotic(collection = "notes")]
    /// # struct Note { #[serde(rename = "_id")] id: i64, text: String, #[serde(default)] #[mongotic(soft_delete)] deleted_at: Option<mongotic::bson::DateTime> }
    /// # async fn demo(mut session: Session) -> mongotic::Result<()> {
    /// let binned = session.scalars(select::<Note>().only_deleted()).all().await?;
    /// for note in &binned {
    ///     session.restore(note)?;
    /// }
    /// session.commit().await?; // each note's deleted_at is null again
    /// # Ok(()) }
    /// ```
    pub fn restore<M: SoftDelete + crate::Writable>(&mut self, entity: &Tracked<M>) -> Result<()> {
        let detached =
            || Error::Detached { model: M::meta().name, id: entity.erased().current_id().ok().flatten().map(Box::new) };
        let Some(key) = self.uow.key_of(entity.state()) else { return Err(detached()) };
        let Some(entry) = self.uow.get(key) else { return Err(detached()) };
        if entry.status == Status::Deleted {
            self.uow.restage(key, Status::Persistent);
        }
        let namespace = self.engine.namespace(M::meta())?.to_string();
        entity
            .erased()
            .set_deleted(None)
            .map_err(|err| err.into_error(&namespace, entity.erased().current_id().ok().flatten()))
    }

    /// Whether the session's scope (its tenant, soft deletes hidden) admits the stored
    /// document of `entity`, which the identity map holds: `get` answers from the map only
    /// then.
    pub(crate) fn admits<M: Model>(&self, entity: &dyn ErasedEntity) -> Result<bool> {
        let meta = M::meta();
        if meta.tenant.is_none() && meta.soft_delete.is_none() {
            return Ok(true);
        }
        let scope = Scope::of(meta, self.uow.tenant(), &self.effective_options(&Options::default())?)?;
        Ok(match stored_document(entity) {
            Ok(stored) => scope.admits(&stored),
            // A value that cannot be serialized is asked of the server.
            Err(_) => false,
        })
    }
}

/// The scope of one statement on one model.
#[derive(Debug, Default)]
pub(crate) struct Scope {
    /// The filter every command of the statement adds to its own, when there is one.
    filter: Option<Document>,
    /// The tenant field and the session's tenant, when the statement is bound to one.
    tenant: Option<(&'static str, Bson)>,
    /// What the scope is, for telemetry (never the tenant's value).
    kind: &'static str,
}

impl Scope {
    /// The scope of a statement on `meta`, in a session bound to `tenant`, with the
    /// statement's `options`. A tenant-scoped model in a session bound to no tenant is
    /// [`Error::TenantRequired`] unless the statement is `unscoped()`.
    pub(crate) fn of(meta: &ModelMeta, tenant: Option<&Bson>, options: &Options) -> Result<Scope> {
        let mut filter = Document::new();
        let mut kinds = Vec::new();
        let mut bound = None;
        if let Some(field) = meta.tenant {
            match (tenant, options.unscoped) {
                (_, true) => kinds.push("unscoped"),
                (Some(tenant), false) => {
                    filter.insert(field, tenant.clone());
                    bound = Some((field, tenant.clone()));
                    kinds.push("tenant");
                }
                (None, false) => return Err(Error::TenantRequired { model: meta.name }),
            }
        }
        if let Some(field) = meta.soft_delete {
            match options.deleted.unwrap_or_default() {
                Deleted::Hidden => {
                    filter.insert(field, Bson::Null);
                    kinds.push("live");
                }
                Deleted::Only => {
                    filter.insert(field, doc! { "$ne": Bson::Null });
                    kinds.push("deleted");
                }
                Deleted::Included => kinds.push("with_deleted"),
            }
        }
        // A variant's view reads its own tag: not a scope a statement may leave, but the
        // definition of the model, so `unscoped()` keeps it.
        if let Some(Discriminator { field, tag: Some(tag) }) = meta.discriminator {
            filter.insert(field, tag);
        }
        let kind = match kinds.as_slice() {
            [] => "",
            ["tenant"] => "tenant",
            ["unscoped"] => "unscoped",
            ["live"] => "live",
            ["deleted"] => "deleted",
            ["with_deleted"] => "with_deleted",
            ["tenant", "live"] => "tenant,live",
            ["tenant", "deleted"] => "tenant,deleted",
            ["tenant", "with_deleted"] => "tenant,with_deleted",
            ["unscoped", "live"] => "unscoped,live",
            ["unscoped", "deleted"] => "unscoped,deleted",
            _ => "unscoped,with_deleted",
        };
        Ok(Scope { filter: (!filter.is_empty()).then_some(filter), tenant: bound, kind })
    }

    /// The scope as equalities an upsert's filter carries (so an inserted document gets
    /// them): the tenant, and a soft-delete field's `null`.
    pub(crate) fn equalities(&self) -> RawDocumentBuf {
        let mut equalities = RawDocumentBuf::new();
        for (field, value) in self.filter.iter().flatten() {
            if !matches!(value, Bson::Document(_))
                && let Ok(value) = bson::RawBson::try_from(value.clone())
            {
                equalities.append(field, value);
            }
        }
        equalities
    }

    /// Refuses an update document in wire form that names the tenant field, when the
    /// statement is bound to a tenant.
    pub(crate) fn check_raw_update(&self, update: &RawDocument, namespace: &str) -> Result<()> {
        let Some((field, _)) = &self.tenant else { return Ok(()) };
        let touched = update.iter().flatten().any(|(_, paths)| match paths {
            RawBsonRef::Document(paths) => paths
                .iter()
                .flatten()
                .any(|(path, _)| path == *field || path.strip_prefix(*field).is_some_and(|rest| rest.starts_with('.'))),
            _ => true,
        });
        if touched {
            return Err(Error::TenantChanged { namespace: namespace.to_owned(), id: None });
        }
        Ok(())
    }

    /// The tenant the statement writes for, when it is bound to one.
    pub(crate) fn tenant(&self) -> Option<&Bson> {
        self.tenant.as_ref().map(|(_, tenant)| tenant)
    }

    /// Refuses a document to insert that does not carry the statement's tenant.
    pub(crate) fn check_insert(&self, doc: &RawDocument, namespace: &str, id: &Bson) -> Result<()> {
        let Some((field, tenant)) = &self.tenant else { return Ok(()) };
        let carried = value_at(doc, field).and_then(|value| Bson::try_from(value.to_raw_bson()).ok());
        if carried.as_ref() != Some(tenant) {
            return Err(Error::TenantChanged { namespace: namespace.to_owned(), id: Some(Box::new(id.clone())) });
        }
        Ok(())
    }

    /// Refuses an update that would change the tenant field (with any operator, or a pipeline
    /// stage that sets or replaces fields), when the statement is bound to a tenant.
    pub(crate) fn check_update(&self, update: &UpdateModifications, namespace: &str) -> Result<()> {
        let Some((field, _)) = &self.tenant else { return Ok(()) };
        let touches =
            |path: &str| path == *field || path.strip_prefix(*field).is_some_and(|rest| rest.starts_with('.'));
        let touched = match update {
            UpdateModifications::Document(update) => update.iter().any(|(operator, paths)| match paths {
                Bson::Document(paths) => paths.iter().any(|(path, value)| {
                    touches(path) || (operator == "$rename" && value.as_str().is_some_and(touches))
                }),
                _ => true,
            }),
            UpdateModifications::Pipeline(stages) => stages.iter().any(|stage| {
                stage.iter().any(|(name, spec)| match (name.as_str(), spec) {
                    ("$set" | "$addFields", Bson::Document(paths)) => paths.keys().any(|path| touches(path)),
                    ("$unset", Bson::String(path)) => touches(path),
                    ("$unset", Bson::Array(paths)) => paths.iter().any(|path| path.as_str().is_some_and(touches)),
                    _ => true,
                })
            }),
            _ => true,
        };
        if touched {
            return Err(Error::TenantChanged { namespace: namespace.to_owned(), id: None });
        }
        Ok(())
    }

    /// What the scope of a flush's writes to `meta`'s collection is, for a span attribute:
    /// every write to a tenant-scoped model filters on a tenant, and an update of a live
    /// document of a soft-delete model on its field being `null`.
    pub(crate) fn of_writes(meta: &ModelMeta) -> &'static str {
        match (meta.tenant.is_some(), meta.soft_delete.is_some()) {
            (true, true) => "tenant,live",
            (true, false) => "tenant",
            (false, true) => "live",
            (false, false) => "",
        }
    }

    /// Whether the stored document `doc` is in the scope (the identity map answers `get` only
    /// for an entity whose document the scope would let a read return).
    pub(crate) fn admits(&self, doc: &RawDocument) -> bool {
        let Some(filter) = &self.filter else { return true };
        filter.iter().all(|(field, wanted)| {
            let stored = value_at(doc, field).map(|value| value.to_raw_bson());
            match wanted {
                // `{field: {$ne: null}}`: deleted documents only.
                Bson::Document(_) => !matches!(stored, None | Some(bson::RawBson::Null)),
                Bson::Null => matches!(stored, None | Some(bson::RawBson::Null)),
                wanted => stored.and_then(|value| Bson::try_from(value).ok()).as_ref() == Some(wanted),
            }
        })
    }

    /// What the scope is, for a span attribute: `tenant`, `live`, `unscoped`, … (empty for a
    /// model without scopes).
    pub(crate) fn kind(&self) -> &'static str {
        self.kind
    }

    /// `filter`, narrowed to the scope.
    pub(crate) fn narrow(&self, filter: Document) -> Document {
        match &self.filter {
            None => filter,
            Some(scope) if filter.is_empty() => scope.clone(),
            Some(scope) => doc! { "$and": [scope.clone(), filter] },
        }
    }

    /// The pipeline `stages`, narrowed to the scope by a first `$match`.
    pub(crate) fn narrow_pipeline(&self, mut stages: Vec<Document>) -> Vec<Document> {
        if let Some(scope) = &self.filter {
            stages.insert(0, doc! { "$match": scope.clone() });
        }
        stages
    }
}

/// The fields beyond `_id` that the filter of a flush's write to the stored document `stored`
/// carries (and the reads that settle or explain it): the shard key, the tenant (the
/// session's when it is bound to one, else the document's) and, when `live_only` and the
/// document is live, a soft-delete model's field `null` (a document someone else deleted
/// meanwhile then matches nothing). `None` when there are none.
pub(crate) fn write_key(
    meta: &ModelMeta,
    tenant: Option<&Bson>,
    stored: &RawDocument,
    live_only: bool,
) -> Option<RawDocumentBuf> {
    // The shard key's values are copied as bytes (the stored document's framing is sound).
    let mut bytes = Vec::with_capacity(64);
    let at = wire::start(&mut bytes);
    for path in meta.shard_key.iter().filter(|path| **path != "_id" && Some(**path) != meta.tenant) {
        match wire::element_at(stored.as_bytes(), path) {
            Some(element) => wire::append(&mut bytes, element.kind, path.as_bytes(), element.value),
            None => wire::append(&mut bytes, wire::kind::NULL, path.as_bytes(), &[]),
        }
    }
    let mut key = match wire::end(&mut bytes, at).then(|| RawDocumentBuf::from_bytes(bytes)) {
        Some(Ok(key)) => key,
        // Not reached (a key is far below BSON's size limit); the checked way, all the same.
        _ => {
            let mut key = RawDocumentBuf::new();
            for path in meta.shard_key.iter().filter(|path| **path != "_id" && Some(**path) != meta.tenant) {
                match value_at(stored, path) {
                    Some(value) => key.append_ref(*path, value),
                    None => key.append(*path, bson::RawBson::Null),
                }
            }
            key
        }
    };
    if let Some(field) = meta.tenant {
        match tenant.and_then(|tenant| bson::RawBson::try_from(tenant.clone()).ok()) {
            Some(tenant) => key.append(field, tenant),
            None => match value_at(stored, field) {
                Some(value) => key.append_ref(field, value),
                None => key.append(field, bson::RawBson::Null),
            },
        }
    }
    if let Some(field) = meta.soft_delete
        && live_only
        && matches!(value_at(stored, field), None | Some(RawBsonRef::Null))
    {
        key.append(field, bson::RawBson::Null);
    }
    (!key.is_empty()).then_some(key)
}

/// The fields of a flush's write key ([`write_key`]) that a comparison can watch for as it
/// walks the documents: the shard key's top-level fields, for a model whose key has nothing
/// else (no tenant, no soft-delete field). `None` for any other model.
pub(crate) fn key_watch(meta: &ModelMeta) -> Option<Watch> {
    if meta.tenant.is_some() || meta.soft_delete.is_some() || meta.shard_key.iter().all(|path| *path == "_id") {
        return None;
    }
    Watch::of(meta.shard_key.iter().filter(|path| **path != "_id"))
}

/// A flush's write key ([`write_key`]), kept inline when it is small: one per write, and the
/// usual key is a field or two (a flush of a thousand entities then allocates none).
#[derive(Clone, Debug)]
pub(crate) enum WriteKey {
    Inline { len: u8, bytes: [u8; INLINE_KEY] },
    Heap(RawDocumentBuf),
}

/// The largest key document kept inline, in bytes.
const INLINE_KEY: usize = 62;

impl WriteKey {
    /// An inline key to fill (see [`watched_key_into`]).
    pub(crate) fn inline() -> WriteKey {
        WriteKey::Inline { len: 0, bytes: [0; INLINE_KEY] }
    }

    /// The key document's bytes (a whole BSON document).
    pub(crate) fn as_bytes(&self) -> &[u8] {
        match self {
            WriteKey::Inline { len, bytes } => &bytes[..usize::from(*len)],
            WriteKey::Heap(doc) => doc.as_bytes(),
        }
    }

    /// The key as a document, for a read of the write's document.
    pub(crate) fn to_document(&self) -> Option<RawDocumentBuf> {
        match self {
            WriteKey::Inline { .. } => RawDocumentBuf::from_bytes(self.as_bytes().to_vec()).ok(),
            WriteKey::Heap(doc) => Some(doc.clone()),
        }
    }
}

impl From<RawDocumentBuf> for WriteKey {
    fn from(doc: RawDocumentBuf) -> Self {
        WriteKey::Heap(doc)
    }
}

/// [`write_key`] of `doc` from what a comparison watching [`key_watch`]'s fields saw of it:
/// the same document, without looking the fields up again. Written in place into `key` (made
/// with [`WriteKey::inline`]: every write of a sharded model makes one, and moving the inline
/// buffer around costs more than filling it); `false` when the key does not fit inline, and
/// the caller builds it the slower way.
pub(crate) fn watched_key_into(doc: &RawDocument, watch: &Watch, key: &mut WriteKey) -> bool {
    let WriteKey::Inline { len, bytes } = key else { return false };
    match fill_watched(doc, watch, bytes) {
        Some(size) => {
            *len = size;
            true
        }
        None => false,
    }
}

/// One pass into the zeroed `bytes`: the int32 length, per field its type, key, NUL and value,
/// the final NUL (the NULs are the buffer's zeros). The key's size, or `None`.
fn fill_watched(doc: &RawDocument, watch: &Watch, bytes: &mut [u8; INLINE_KEY]) -> Option<u8> {
    let mut at = 4;
    for (index, key) in watch.keys().iter().enumerate() {
        let (kind, value) = match watch.found(index) {
            Some((kind, range)) => (kind, doc.as_bytes().get(range)?),
            None => (wire::kind::NULL, &[][..]),
        };
        let key = key.as_bytes();
        let end = at + 2 + key.len() + value.len();
        let slot = bytes.get_mut(at..end)?;
        slot[0] = kind;
        slot[1..=key.len()].copy_from_slice(key);
        slot[2 + key.len()..].copy_from_slice(value);
        at = end;
    }
    let size = at + 1;
    if size > INLINE_KEY {
        return None;
    }
    bytes[..4].copy_from_slice(&i32::try_from(size).ok()?.to_le_bytes());
    u8::try_from(size).ok()
}

#[cfg(test)]
mod tests {
    use bson::rawdoc;

    use super::*;
    use crate::session::diff::diff_watching;

    /// The key a comparison's watch fills in is the document of the watched fields, as found in
    /// the current document (null where it has none), or `None` when it does not fit inline.
    #[test]
    fn a_watched_key_holds_the_watched_fields_of_the_current_document() {
        let keys: [&'static str; 2] = ["city", "_id"];
        let cases = [
            (rawdoc! { "_id": 1, "city": "Lyon", "n": 1 }, rawdoc! { "_id": 1, "city": "Lyon", "n": 2 }),
            (rawdoc! { "_id": "a", "n": 1 }, rawdoc! { "_id": "a", "n": 2 }),
            (
                rawdoc! { "_id": 1, "city": { "zip": "69" }, "n": 1 },
                rawdoc! { "_id": 1, "city": { "zip": "69" }, "n": 3 },
            ),
            (
                rawdoc! { "_id": 1, "city": "x".repeat(60), "n": 1 },
                rawdoc! { "_id": 1, "city": "x".repeat(60), "n": 2 },
            ),
        ];
        for (old, new) in cases {
            let mut watch = Watch::of(keys.iter()).expect("watchable");
            assert!(!matches!(diff_watching(&old, &new, &mut watch), crate::session::diff::Change::None));
            assert!(watch.complete);
            let mut expected = RawDocumentBuf::new();
            for key in keys {
                match new.get(key).ok().flatten() {
                    Some(value) => expected.append_ref(key, value),
                    None => expected.append(key, bson::RawBson::Null),
                }
            }
            let mut key = WriteKey::inline();
            let filled = watched_key_into(&new, &watch, &mut key);
            if expected.as_bytes().len() > INLINE_KEY {
                assert!(!filled, "{new:?}");
            } else {
                assert!(filled, "{new:?}");
                assert_eq!(key.as_bytes(), expected.as_bytes(), "{new:?}");
            }
        }
    }
}
