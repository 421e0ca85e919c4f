//! One description (`ModelMeta`) per namespace whose documents are used without a model.
//!
//! The session's flush, `Io` layer and identity map work from a `&'static ModelMeta`; a
//! namespace named at run time gets one made on first use and kept for the life of the
//! process, so every session in the process shares it and a namespace costs its names once.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock, PoisonError};

use crate::model::ModelMeta;

/// The description of the documents of `database.collection`.
pub(crate) fn meta(database: &str, collection: &str) -> &'static ModelMeta {
    static KNOWN: OnceLock<Mutex<HashMap<(String, String), &'static ModelMeta>>> = OnceLock::new();
    let mut known = KNOWN.get_or_init(Mutex::default).lock().unwrap_or_else(PoisonError::into_inner);
    let key = (database.to_owned(), collection.to_owned());
    if let Some(meta) = known.get(&key) {
        return meta;
    }
    // Kept for the process: a namespace's names are leaked once, like a model's are static.
    let database: &'static str = Box::leak(key.0.clone().into_boxed_str());
    let collection: &'static str = Box::leak(key.1.clone().into_boxed_str());
    let meta: &'static ModelMeta = Box::leak(Box::new(ModelMeta::untyped(database, collection)));
    known.insert(key, meta);
    meta
}
