//! `#[derive(Model)]` on an enum: a polymorphic model whose newtype variants each hold a
//! struct declared `#[mongotic(variant_of = Enum)]`, stored in serde's internally tagged form.
//!
//! The enum's model delegates everything per value (id, version, timestamps, hooks,
//! validation) to the variant it holds, and builds its meta at compile time from the
//! variants' metas: the roles they agree on, and their indexes (each partial to its tag).

use proc_macro2::TokenStream;
use quote::quote;
use syn::ext::IdentExt;
use syn::spanned::Spanned;
use syn::{DataEnum, DeriveInput, Fields, Ident, Type};

use crate::attrs::{ContainerAttrs, KindAttr, parse_container, parse_variant};
use crate::expand::{FieldInfo, collection_kind, crate_path, validation};
use crate::naming::variant_name;
use crate::schema;

/// One variant of the enum as the derive sees it.
struct VariantInfo<'a> {
    ident: &'a Ident,
    ty: &'a Type,
    /// The tag it is stored under; `None` for the catch-all (`#[serde(untagged)]`).
    tag: Option<String>,
}

pub(crate) fn model(input: &DeriveInput, data: &DataEnum) -> syn::Result<TokenStream> {
    let container = &parse_container(&input.attrs)?;
    let name = &input.ident;
    let refuse = |message: &str| Err(syn::Error::new(name.span(), message));
    if !input.generics.params.is_empty() {
        return refuse("#[derive(Model)] does not support generic enums: a collection stores concrete types");
    }
    let Some(collection) = &container.collection else {
        return refuse("#[derive(Model)] needs a collection: add #[mongotic(collection = \"...\")] to the enum");
    };
    let Some(tag_field) = container.serde.tag.as_deref() else {
        return refuse(
            "an enum model is stored internally tagged: add #[serde(tag = \"kind\")] (any field name) to the enum",
        );
    };
    if container.serde.content.is_some() || container.serde.untagged {
        return refuse("an enum model is stored internally tagged: use #[serde(tag = \"..\")] alone");
    }
    if let Some(KindAttr::View { span, .. } | KindAttr::TimeSeries { span, .. }) = &container.kind {
        return Err(syn::Error::new(*span, "an enum model is a plain, capped or clustered collection"));
    }
    if let Some(index) = container.indexes.first() {
        return Err(syn::Error::new(index.span, "declare indexes on the variants: each is partial to its tag"));
    }
    if let Some((span, _)) = &container.shard_key {
        return Err(syn::Error::new(*span, "declare the shard key on every variant (the same fields)"));
    }
    let variants = variants(container, data)?;
    let krate = crate_path(container);
    let private = quote!(#krate::model::variant::__private);
    let type_name = name.unraw().to_string();
    let database = match &container.database {
        Some(database) => quote!(::core::option::Option::Some(#database)),
        None => quote!(::core::option::Option::None),
    };
    let tagged: Vec<&VariantInfo<'_>> = variants.iter().filter(|variant| variant.tag.is_some()).collect();
    let catch_all = variants.iter().find(|variant| variant.tag.is_none());
    let Some(first) = tagged.first() else {
        return refuse("an enum model needs at least one tagged variant");
    };
    let first_ty = first.ty;
    let tags: Vec<&String> = tagged.iter().filter_map(|variant| variant.tag.as_ref()).collect();
    let types: Vec<&Type> = tagged.iter().map(|variant| variant.ty).collect();
    let idents: Vec<&Ident> = tagged.iter().map(|variant| variant.ident).collect();
    let view_metas = quote!([#(&<#types as #private::VariantView>::META),*]);
    let index_parts = quote!([#(<#types as #private::VariantView>::META.indexes),*]);
    let hooks = container.hooks;
    let kind = collection_kind(&krate, container, &[] as &[FieldInfo<'_>])?;
    let validation = validation(&krate, container)?;
    let schema_impl = schema::implementation(&krate, input, schema::enum_body(&krate, container, data)?);

    // Per-value delegation: `match self { Self::A(v) => f(v), .., Self::Other(v) => other }`.
    let each = |call: TokenStream, other: TokenStream| {
        let catch = catch_all.map(|variant| {
            let ident = variant.ident;
            quote!(Self::#ident(value) => #other,)
        });
        quote! {
            match self {
                #(Self::#idents(value) => #call,)*
                #catch
            }
        }
    };
    let id = each(quote!(#krate::Model::id(value)), quote!(::core::option::Option::Some(value.id())));
    let set_id = each(quote!(#krate::Model::set_id(value, id)), quote!(value.set_id(id)));
    let version = each(quote!(#krate::Model::__version(value)), quote!(::core::option::Option::None));
    let set_version = each(quote!(#krate::Model::__set_version(value, version)), quote!(()));
    let stamp = each(quote!(#krate::Model::__stamp(value, inserting, now)), quote!(()));
    let set_deleted = each(quote!(#krate::Model::__set_deleted(value, at)), quote!(()));
    let set_tenant = each(quote!(#krate::Model::__set_tenant(value, tenant)), quote!(::core::result::Result::Ok(())));
    let validate = each(quote!(#krate::Model::__validate(value, report)), quote!(()));
    let hooks_impl = if hooks {
        quote!()
    } else {
        let ok = quote!(::core::result::Result::Ok(()));
        let insert = each(quote!(#krate::Hooks::before_insert(value, ctx)), ok.clone());
        let update = each(quote!(#krate::Hooks::before_update(value, &changes.__as(), ctx)), ok.clone());
        let delete = each(quote!(#krate::Hooks::before_delete(value, ctx)), ok);
        let load = each(quote!(#krate::Hooks::after_load(value)), quote!(()));
        let check = each(quote!(#krate::Hooks::validate(value, report)), quote!(()));
        quote! {
            #[automatically_derived]
            impl #krate::Hooks for #name {
                fn before_insert(&mut self, ctx: &mut #krate::HookContext<'_>) -> ::core::result::Result<(), #krate::HookError> {
                    #insert
                }
                fn before_update(
                    &mut self,
                    changes: &#krate::Changes<Self>,
                    ctx: &mut #krate::HookContext<'_>,
                ) -> ::core::result::Result<(), #krate::HookError> {
                    #update
                }
                fn before_delete(&self, ctx: &mut #krate::HookContext<'_>) -> ::core::result::Result<(), #krate::HookError> {
                    #delete
                }
                fn after_load(&mut self) {
                    #load
                }
                fn validate(&self, report: &mut #krate::validation::Violations) {
                    #check
                }
            }
        }
    };
    let unknown = match catch_all {
        Some(variant) => {
            let ident = variant.ident;
            quote!(::core::result::Result::Ok(Self::#ident(#krate::UnknownVariant::from_raw(raw)?)))
        }
        None => quote!(::core::result::Result::Err(#krate::error::Undecodable::UnknownTag {
            field: #tag_field,
            tag: tag.map(::std::borrow::ToOwned::to_owned),
        })),
    };

    Ok(quote! {
        #[automatically_derived]
        impl #name {
            /// Query descriptor of the `_id` every variant shares.
            pub const ID: #krate::Field<#name, <#first_ty as #krate::Model>::Id> = #krate::Field::new("_id");
            /// Query descriptor of the tag field (`Enum::TAG.eq("..")`, or `.in_([..])` for
            /// several variants).
            pub const TAG: #krate::Field<#name, ::std::string::String> = #krate::Field::new(#tag_field);
        }

        #hooks_impl

        #schema_impl

        #[automatically_derived]
        impl #krate::Writable for #name {}

        // The enum has a scope when its variants have it (they agree on their roles, checked
        // at compile time). The derive cannot see another type's attributes, so the marks
        // follow the first variant; `for<'a>` keeps the bound from being checked as a
        // trivially false one when that variant has no such scope.
        #[automatically_derived]
        impl #krate::SoftDelete for #name where for<'__mongotic> #first_ty: #krate::SoftDelete {}
        #[automatically_derived]
        impl #krate::TenantScoped for #name where for<'__mongotic> #first_ty: #krate::TenantScoped {}

        #[automatically_derived]
        impl #krate::Polymorphic for #name {
            const TAG_FIELD: &'static str = #tag_field;
            const TAGS: &'static [&'static str] = &[#(#tags),*];
            const COLLECTION: &'static str = #collection;
            const DATABASE: ::core::option::Option<&'static str> = #database;
        }

        #(
            #[automatically_derived]
            impl #krate::Variant for #types {
                type Of = #name;
                const TAG: &'static str = #tags;

                fn into_enum(self) -> #name {
                    #name::#idents(self)
                }
            }

            #[automatically_derived]
            impl ::core::convert::From<#types> for #name {
                fn from(value: #types) -> Self {
                    #name::#idents(value)
                }
            }

            // Every variant has the enum's id type.
            const _: () = #private::same_id::<#types, <#first_ty as #krate::Model>::Id>();
        )*

        #[automatically_derived]
        impl #krate::Model for #name {
            type Id = <#first_ty as #krate::Model>::Id;

            fn meta() -> &'static #krate::ModelMeta {
                const COUNT: usize = #private::count_indexes(&#index_parts);
                static INDEXES: [#krate::IndexDecl; COUNT] = #private::concat_indexes::<COUNT>(&#index_parts);
                static META: #krate::ModelMeta = #private::enum_meta(
                    #krate::ModelMeta::new(#type_name, #database, #collection, &INDEXES)
                        .with_schema(#krate::schema::__private::model_schema::<#name>, #validation, #kind),
                    #tag_field,
                    &#view_metas,
                    #hooks,
                );
                &META
            }

            fn id(&self) -> ::core::option::Option<&Self::Id> {
                #id
            }

            fn set_id(&mut self, id: Self::Id) {
                #set_id
            }

            fn __version(&self) -> ::core::option::Option<i64> {
                #version
            }

            fn __set_version(&mut self, version: i64) {
                #set_version
            }

            fn __stamp(&mut self, inserting: bool, now: #krate::bson::DateTime) {
                #stamp
            }

            fn __set_deleted(&mut self, at: ::core::option::Option<#krate::bson::DateTime>) {
                #set_deleted
            }

            fn __set_tenant(&mut self, tenant: &#krate::bson::Bson) -> ::core::result::Result<(), #krate::bson::de::Error> {
                #set_tenant
            }

            fn __validate(&self, report: &mut #krate::validation::Violations) {
                #validate
            }

            fn __validate_field(path: &str, value: &#krate::bson::Bson, report: &mut #krate::validation::Violations) {
                // Every variant may have a field of this name; a constraint they share is
                // reported once.
                let start = report.len();
                #(<#types as #krate::Model>::__validate_field(path, value, report);)*
                report.__dedup_from(start);
            }

            // The tag is read from the raw bytes and the matching variant decoded directly:
            // serde's internally tagged path would buffer the whole document first.
            fn __decode(raw: &#krate::bson::RawDocument) -> ::core::result::Result<Self, #krate::error::Undecodable> {
                let tag = #krate::model::variant::tag_of(raw, #tag_field);
                match tag {
                    #(::core::option::Option::Some(#tags) => ::core::result::Result::Ok(
                        Self::#idents(<#types as #krate::Model>::__decode(raw)?)
                    ),)*
                    _ => #unknown,
                }
            }
        }
    })
}

/// The variants, each a newtype over a struct; the last may be the catch-all.
fn variants<'a>(container: &ContainerAttrs, data: &'a DataEnum) -> syn::Result<Vec<VariantInfo<'a>>> {
    let mut found = Vec::new();
    let count = data.variants.len();
    for (position, variant) in data.variants.iter().enumerate() {
        let attrs = parse_variant(&variant.attrs)?;
        let error = |message: &str| Err(syn::Error::new(variant.span(), message));
        if attrs.skip || attrs.other {
            return error(
                "every variant of an enum model is stored: remove `skip`/`other` (a catch-all is `#[serde(untagged)] Other(mongotic::UnknownVariant<Id>)`)",
            );
        }
        let ty = match &variant.fields {
            Fields::Unnamed(fields) if fields.unnamed.len() == 1 => &fields.unnamed[0].ty,
            _ => {
                return error(
                    "each variant of an enum model holds one struct, `Click(Click)`, declared with #[mongotic(variant_of = ..)]",
                );
            }
        };
        let tag = if attrs.untagged {
            if position + 1 != count {
                return error("the catch-all (`#[serde(untagged)]`) variant comes last");
            }
            None
        } else {
            Some(variant_name(&variant.ident, attrs.rename.as_ref(), container.rename_all.as_ref()))
        };
        found.push(VariantInfo { ident: &variant.ident, ty, tag });
    }
    Ok(found)
}

/// `#[derive(Embedded)]` on an enum: a value inside a model's documents that is one of several
/// embedded structs, stored internally tagged. The derive gives the enum its `TAG` descriptor
/// and, for each struct variant `V` and each field type holding the enum (the enum, `Option`,
/// `Box`, `Vec`, `Option<Vec>`), `Embeds<V>` (so `dot` reaches `V`'s fields) and
/// `HoldsVariant<V>` (so `is::<V>()` filters on its tag).
pub(crate) fn embedded(input: &DeriveInput, data: &DataEnum) -> syn::Result<TokenStream> {
    let container = &parse_container(&input.attrs)?;
    let name = &input.ident;
    let refuse = |message: &str| Err(syn::Error::new(name.span(), message));
    if !input.generics.params.is_empty() {
        return refuse("#[derive(Embedded)] does not support generic enums");
    }
    if container.collection.is_some() || container.database.is_some() || container.kind.is_some() {
        return refuse("an embedded enum has no collection: use #[derive(Model)] for a collection of variants");
    }
    if container.hooks || !container.indexes.is_empty() || container.shard_key.is_some() {
        return refuse("hooks, indexes and shard keys belong to the model that stores this enum");
    }
    let Some(tag_field) = container.serde.tag.as_deref() else {
        return refuse(
            "an embedded enum is queried by its tag: store it internally tagged, #[serde(tag = \"kind\")] (any field name)",
        );
    };
    if container.serde.content.is_some() || container.serde.untagged {
        return refuse("an embedded enum is stored internally tagged: use #[serde(tag = \"..\")] alone");
    }
    let mut holders = Vec::new();
    for variant in &data.variants {
        let attrs = parse_variant(&variant.attrs)?;
        let error = |message: &str| Err(syn::Error::new(variant.span(), message));
        if attrs.skip || attrs.untagged {
            return error("every variant of an embedded enum is stored under its tag: remove `skip`/`untagged`");
        }
        if attrs.other {
            return error(
                "`#[serde(other)]` would read an unknown variant as a unit and drop its fields when the document is \
                 written back: remove it (an unknown tag is then an error naming it)",
            );
        }
        let tag = variant_name(&variant.ident, attrs.rename.as_ref(), container.rename_all.as_ref());
        match &variant.fields {
            Fields::Unit => {}
            Fields::Unnamed(fields) if fields.unnamed.len() == 1 => {
                let ty = &fields.unnamed[0].ty;
                let spelled = quote!(#ty).to_string();
                if holders.iter().any(|(other, _): &(&Type, String)| quote!(#other).to_string() == spelled) {
                    return error("two variants hold the same struct: `is::<..>()` could not tell them apart");
                }
                holders.push((ty, tag));
            }
            _ => {
                return error(
                    "each variant of an embedded enum holds one struct deriving Embedded, `Card(Card)`, or nothing: \
                     its fields then have descriptors",
                );
            }
        }
    }
    let krate = crate_path(container);
    let schema_impl = schema::implementation(&krate, input, schema::enum_body(&krate, container, data)?);
    let wrappers = [
        (quote!(#name), quote!(One)),
        (quote!(::core::option::Option<#name>), quote!(One)),
        (quote!(::std::boxed::Box<#name>), quote!(One)),
        (quote!(::std::vec::Vec<#name>), quote!(Many)),
        (quote!(::core::option::Option<::std::vec::Vec<#name>>), quote!(Many)),
    ];
    let variant_types: Vec<&Type> = holders.iter().map(|(ty, _)| *ty).collect();
    let impls = holders.iter().flat_map(|(variant, tag)| {
        let krate = &krate;
        wrappers.iter().map(move |(wrapper, shape)| {
            quote! {
                #[automatically_derived]
                impl #krate::Embeds<#variant> for #wrapper {
                    type Shape = #krate::expr::#shape;
                }

                #[automatically_derived]
                impl #krate::HoldsVariant<#variant> for #wrapper {
                    const TAG_FIELD: &'static str = #tag_field;
                    const TAG: &'static str = #tag;
                }
            }
        })
    });
    Ok(quote! {
        #[automatically_derived]
        impl #name {
            /// Query descriptor of the tag field, reached through the field holding the enum:
            /// `Model::field.dot(Enum::TAG).eq("..")`.
            pub const TAG: #krate::Field<#name, ::std::string::String> = #krate::Field::new(#tag_field);
        }

        #[automatically_derived]
        impl #krate::Embedded for #name {}

        #schema_impl

        #(#impls)*

        // A variant's struct has field descriptors of its own (and serde can tag it).
        const _: fn() = || {
            fn embedded<T: #krate::Embedded>() {}
            #(embedded::<#variant_types>();)*
        };
    })
}
