//! Identity spaces: which table of the identity map an entity is filed in.

use std::any::TypeId;

/// The identity space an entity is filed in: one per model type (a variant's view has its own,
/// beside its enum's), and one per namespace for documents without a model, so one id names
/// at most one entity in each.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Space {
    Model(TypeId),
    /// The documents of one namespace, named by the address of its interned description
    /// (see `crate::document`), which lives as long as the process.
    Documents(usize),
}

impl Space {
    /// The space of model `M`.
    pub(crate) fn of<M: 'static>() -> Space {
        Space::Model(TypeId::of::<M>())
    }

    /// The space of the documents described by `meta`.
    pub(crate) fn documents(meta: &'static crate::model::ModelMeta) -> Space {
        Space::Documents(std::ptr::from_ref(meta) as usize)
    }
}
