//! The derive macros of mongotic: `#[derive(Model)]` and `#[derive(Embedded)]`.
//!
//! Use them through the `mongotic` crate, which re-exports both and documents the attributes.
//! The macros read `#[mongotic(...)]` attributes and the `serde` attributes that change stored
//! names (`rename`, `rename_all`, `skip`, `flatten`), so that query paths always match what
//! serde writes. Every misuse is a compile error that says what to write instead.

use proc_macro::TokenStream;
use syn::{DeriveInput, parse_macro_input};

mod attrs;
mod constraints;
mod expand;
mod naming;
mod polymorphic;
mod schema;

/// Maps a struct, or an enum of structs (a polymorphic model), to a MongoDB collection. See
/// `mongotic::Model`.
#[proc_macro_derive(Model, attributes(mongotic))]
pub fn derive_model(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    let expanded = match &input.data {
        syn::Data::Enum(data) => polymorphic::model(&input, data),
        _ => expand::model(&input),
    };
    expanded.unwrap_or_else(syn::Error::into_compile_error).into()
}

/// Field descriptors for a struct embedded in a model's documents, or for an internally tagged
/// enum of such structs. See `mongotic::Embedded`.
#[proc_macro_derive(Embedded, attributes(mongotic))]
pub fn derive_embedded(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    let expanded = match &input.data {
        syn::Data::Enum(data) => polymorphic::embedded(&input, data),
        _ => expand::embedded(&input),
    };
    expanded.unwrap_or_else(syn::Error::into_compile_error).into()
}

/// The `$jsonSchema` of a struct or an enum stored inside models. See
/// `mongotic::schema::BsonSchema`.
#[proc_macro_derive(BsonSchema, attributes(mongotic))]
pub fn derive_bson_schema(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    expand::bson_schema(&input).unwrap_or_else(syn::Error::into_compile_error).into()
}
