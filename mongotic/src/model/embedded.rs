//! Values stored inside a model's documents: embedded structs with field descriptors of their
//! own, and embedded enums (one of several structs, told apart by a tag field), so queries can
//! reach nested fields through [`Field::dot`](crate::Field::dot) and filter on the variant an
//! enum holds with [`Field::is`](crate::Field::is).

use crate::expr::{Many, One, Shape};

/// A struct or an enum stored inside a model's documents, with field descriptors of its own.
///
/// Implemented by `#[derive(Embedded)]`; it lets [`Field::dot`](crate::Field::dot) reach the
/// nested fields in queries.
///
/// ```
/// use mongotic::prelude::*;
///
/// #[derive(Debug, Clone, Serialize, Deserialize, Embedded)]
/// struct Address { city: String, zip: String }
///
/// assert_eq!(Address::city.path(), "city");
/// ```
///
/// On an enum stored in serde's internally tagged form (`#[serde(tag = "..")]`) whose
/// variants hold an embedded struct each (or nothing), the derive gives the enum a `TAG`
/// descriptor, lets `dot` reach the variants' fields through any field holding the enum, and
/// [`Field::is`](crate::Field::is) filter on the variant:
///
/// ```
/// use mongotic::prelude::*;
/// use mongotic::bson::doc;
///
/// #[derive(Debug, Clone, Serialize, Deserialize, Embedded)]
/// struct Card { last4: String }
///
/// #[derive(Debug, Clone, Serialize, Deserialize, Embedded)]
/// struct Transfer { iban: String }
///
/// #[derive(Debug, Clone, Serialize, Deserialize, Embedded)]
/// #[serde(tag = "method")]
/// enum Payment { Card(Card), Transfer(Transfer), Cash }
///
/// #[derive(Debug, Serialize, Deserialize, Model)]
/// #[mongotic(collection = "orders")]
/// struct Order {
///     #[serde(rename = "_id")] #[mongotic(id)] id: i64,
///     payment: Option<Payment>,
/// }
///
/// assert_eq!(Order::payment.is::<Card>().to_document().unwrap(),
///            doc! { "payment.method": { "$eq": "Card" } });
/// assert_eq!(Order::payment.dot(Card::last4).eq("4242").to_document().unwrap(),
///            doc! { "payment.last4": { "$eq": "4242" } });
/// // A unit variant has no struct to name: compare the tag.
/// assert_eq!(Order::payment.dot(Payment::TAG).eq("Cash").to_document().unwrap(),
///            doc! { "payment.method": { "$eq": "Cash" } });
/// ```
pub trait Embedded {}

/// Marks a model that flattens the struct `B` into its documents (`#[serde(flatten)] base: B`);
/// implemented by `#[derive(Model)]`. With it, `B`'s derived `BFields` trait gives the model
/// descriptors for `B`'s fields, stored at the top level (the Rust form of model inheritance).
///
/// ```
/// use mongotic::prelude::*;
///
/// #[derive(Debug, Serialize, Deserialize, Embedded)]
/// struct Person { name: String, email: String }
///
/// #[derive(Debug, Serialize, Deserialize, Model)]
/// #[mongotic(collection = "admins")]
/// struct Admin {
///     #[serde(rename = "_id")]
///     id: i64,
///     #[serde(flatten)]
///     person: Person,
///     role: String,
/// }
///
/// // `PersonFields` is derived with `Person`; in scope here, it gives `Admin::name`.
/// assert_eq!(Admin::name.path(), "name");
/// assert_eq!(Admin::role.path(), "role");
/// let filter = Admin::name.eq("Ann") & Admin::role.eq("owner");
/// # let _ = filter;
/// ```
pub trait Flattens<B> {}

/// A field type that holds an embedded struct `E`: `E` itself, `Option<E>`, `Box<E>` or a
/// `Vec<E>` (where a nested path matches any element, as in MongoDB), or the same of an
/// embedded enum that has `E` among its variants (the derive implements those).
///
/// ```
/// use mongotic::prelude::*;
///
/// #[derive(Debug, Serialize, Deserialize, Embedded)]
/// struct Line { sku: String, qty: i32 }
///
/// #[derive(Debug, Serialize, Deserialize, Model)]
/// #[mongotic(collection = "orders")]
/// struct Order {
///     #[serde(rename = "_id")] #[mongotic(id)] id: i64,
///     lines: Vec<Line>,
/// }
///
/// assert_eq!(Order::lines.dot(Line::sku).path(), "lines.sku");
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` does not hold the embedded struct `{E}`",
    label = "`dot` needs a field whose type is `{E}`, `Option<{E}>`, `Box<{E}>` or `Vec<{E}>`",
    note = "derive `Embedded` on `{E}` and use its field descriptors; a variant's fields are reached \
            through a field holding its enum, which derives `Embedded` too"
)]
pub trait Embeds<E> {
    /// [`One`] for a single embedded struct, [`Many`]
    /// through an array of them.
    type Shape: Shape;
}

impl<E: Embedded> Embeds<E> for E {
    type Shape = One;
}
impl<E: Embedded> Embeds<E> for Option<E> {
    type Shape = One;
}
impl<E: Embedded> Embeds<E> for Box<E> {
    type Shape = One;
}
impl<E: Embedded> Embeds<E> for Vec<E> {
    type Shape = Many;
}
impl<E: Embedded> Embeds<E> for Option<Vec<E>> {
    type Shape = Many;
}

/// A field type that holds an embedded enum with the variant struct `E`: the enum itself,
/// `Option`, `Box` or `Vec` of it. [`Field::is`](crate::Field::is) uses it to filter on the
/// variant; `#[derive(Embedded)]` on the enum implements it for the same field types as
/// [`Embeds`].
///
/// ```
/// use mongotic::prelude::*;
/// use mongotic::HoldsVariant;
///
/// #[derive(Debug, Serialize, Deserialize, Embedded)]
/// struct Circle { radius: f64 }
///
/// #[derive(Debug, Serialize, Deserialize, Embedded)]
/// #[serde(tag = "shape", rename_all = "snake_case")]
/// enum Shape { Circle(Circle) }
///
/// assert_eq!(<Vec<Shape> as HoldsVariant<Circle>>::TAG, "circle");
/// assert_eq!(<Vec<Shape> as HoldsVariant<Circle>>::TAG_FIELD, "shape");
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` does not hold an embedded enum with the variant `{E}`",
    label = "`is` needs a field holding an enum (or `Option`, `Box`, `Vec` of one) with a variant `{E}`",
    note = "derive `Embedded` on the enum, internally tagged (`#[serde(tag = \"..\")]`), with a variant holding `{E}`"
)]
pub trait HoldsVariant<E>: Embeds<E> {
    /// The enum's tag field.
    const TAG_FIELD: &'static str;
    /// The tag value of the variant holding `E`.
    const TAG: &'static str;
}
