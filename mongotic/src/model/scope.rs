//! Scopes a model can declare: a soft-delete field, and a tenant field. The session applies
//! them on every path (see [`Session`](crate::Session) and the `scope` module of the session);
//! these are the marks the derive leaves on the model, so the statement methods that opt out
//! of a scope exist only where the scope does.

use bson::DateTime;

/// A model with a `#[mongotic(soft_delete)]` field: a delete sets the field instead of
/// removing the document, every read hides documents where it is set, and
/// [`Select::with_deleted`](crate::Select::with_deleted) /
/// [`only_deleted`](crate::Select::only_deleted) opt out. Implemented by the derive.
///
/// ```
/// use mongotic::prelude::*;
/// use mongotic::bson::DateTime;
///
/// #[derive(Debug, Serialize, Deserialize, Model)]
/// #[mongotic(collection = "notes")]
/// struct Note {
///     #[serde(rename = "_id")]
///     id: i64,
///     text: String,
///     #[serde(default)]
///     #[mongotic(soft_delete)]
///     deleted_at: Option<DateTime>,
/// }
///
/// fn assert_soft<M: mongotic::SoftDelete>() {}
/// assert_soft::<Note>();
/// let everything = select::<Note>().with_deleted();
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` has no soft-delete field",
    label = "only a model with a `#[mongotic(soft_delete)]` field can be restored or read with its deleted documents",
    note = "mark an `Option<DateTime>` field of `{Self}` with `#[mongotic(soft_delete)]`, or drop the call"
)]
pub trait SoftDelete: crate::Model {}

/// A model with a `#[mongotic(tenant)]` field: a session bound to a tenant
/// ([`SessionFactory::for_tenant`](crate::SessionFactory::for_tenant)) filters every read and
/// every write of the model on it and stamps every insert with it, and a read across tenants
/// needs [`Select::unscoped`](crate::Select::unscoped). Implemented by the derive.
///
/// ```
/// use mongotic::prelude::*;
///
/// #[derive(Debug, Serialize, Deserialize, Model)]
/// #[mongotic(collection = "invoices")]
/// struct Invoice {
///     #[serde(rename = "_id")]
///     id: i64,
///     #[mongotic(tenant)]
///     tenant: String,
///     total: i64,
/// }
///
/// fn assert_scoped<M: mongotic::TenantScoped>() {}
/// assert_scoped::<Invoice>();
/// let across_tenants = select::<Invoice>().unscoped();
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` has no tenant field, so there is no tenant scope to leave",
    label = "`unscoped()` exists only for models with a `#[mongotic(tenant)]` field",
    note = "drop the call: statements of `{Self}` already read every document"
)]
pub trait TenantScoped: crate::Model {}

/// The type of a `#[mongotic(soft_delete)]` field: `Option<DateTime>`, `None` while the
/// document is live.
///
/// ```
/// use mongotic::SoftDeleteField;
/// let mut deleted_at: Option<mongotic::bson::DateTime> = None;
/// SoftDeleteField::set(&mut deleted_at, Some(mongotic::bson::DateTime::now()));
/// assert!(deleted_at.is_some());
/// ```
#[diagnostic::on_unimplemented(
    message = "a `#[mongotic(soft_delete)]` field must be an `Option<DateTime>`, not `{Self}`",
    label = "the field holds when the document was deleted, `None` while it is live"
)]
pub trait SoftDeleteField {
    /// Sets when the document was deleted (`None` restores it).
    fn set(field: &mut Self, at: Option<DateTime>);
}

impl SoftDeleteField for Option<DateTime> {
    fn set(field: &mut Self, at: Option<DateTime>) {
        *field = at;
    }
}
