//! Code generation for the derives.

use proc_macro2::TokenStream;
use quote::{format_ident, quote};
use syn::ext::IdentExt;
use syn::spanned::Spanned;
use syn::{Data, DeriveInput, Fields, Ident, Path, Type, Visibility};

use crate::attrs::{ContainerAttrs, FieldAttrs, IndexAttr, IndexDirection, IndexKeyName, parse_container, parse_field};
use crate::naming::apply_rename_all;

/// One struct field as the macros see it.
struct FieldInfo<'a> {
    ident: &'a Ident,
    ty: &'a Type,
    vis: &'a Visibility,
    /// The name serde stores it under.
    stored: String,
    attrs: FieldAttrs,
}

fn named_fields<'a>(
    input: &'a DeriveInput,
    container: &ContainerAttrs,
    derive: &str,
) -> syn::Result<Vec<FieldInfo<'a>>> {
    let fields = match &input.data {
        Data::Struct(data) => match &data.fields {
            Fields::Named(fields) => &fields.named,
            _ => {
                return Err(syn::Error::new(
                    input.ident.span(),
                    format!("#[derive({derive})] needs a struct with named fields"),
                ));
            }
        },
        _ => {
            return Err(syn::Error::new(
                input.ident.span(),
                format!("#[derive({derive})] needs a struct with named fields"),
            ));
        }
    };
    fields
        .iter()
        .map(|field| {
            let ident = field.ident.as_ref().ok_or_else(|| syn::Error::new(field.span(), "unnamed field"))?;
            let attrs = parse_field(&field.attrs)?;
            let rust_name = ident.unraw().to_string();
            let stored = match (&attrs.rename, &container.rename_all) {
                (Some(rename), _) => rename.clone(),
                (None, Some(rule)) => apply_rename_all(rule, &rust_name).unwrap_or(rust_name),
                (None, None) => rust_name,
            };
            Ok(FieldInfo { ident, ty: &field.ty, vis: &field.vis, stored, attrs })
        })
        .collect()
}

fn crate_path(container: &ContainerAttrs) -> TokenStream {
    match &container.krate {
        Some(path) => quote!(#path),
        None => quote!(::mongotic),
    }
}

/// `pub const name: Field<Self, Type> = Field::new("stored");` for each field serde writes.
fn descriptors(krate: &TokenStream, owner: &TokenStream, fields: &[FieldInfo<'_>]) -> TokenStream {
    let consts = fields.iter().filter(|field| !field.attrs.skip && !field.attrs.flatten).map(|field| {
        let FieldInfo { ident, ty, vis, stored, .. } = field;
        let doc = format!("Query descriptor of the field `{}`, stored as `{stored}`.", ident.unraw());
        quote! {
            #[doc = #doc]
            #vis const #ident: #krate::Field<#owner, #ty> = #krate::Field::new(#stored);
        }
    });
    quote!(#(#consts)*)
}

pub(crate) fn embedded(input: &DeriveInput) -> syn::Result<TokenStream> {
    let container = parse_container(&input.attrs)?;
    if let Some(option) = container.database.as_ref().or(container.collection.as_ref()) {
        return Err(syn::Error::new(
            option.span(),
            "an embedded struct has no database or collection: use #[derive(Model)] for a collection",
        ));
    }
    let fields = named_fields(input, &container, "Embedded")?;
    let krate = crate_path(&container);
    let name = &input.ident;
    let (impl_generics, type_generics, where_clause) = input.generics.split_for_impl();
    let owner = quote!(#name #type_generics);
    let consts = descriptors(&krate, &owner, &fields);
    Ok(quote! {
        #[automatically_derived]
        #[allow(non_upper_case_globals)]
        impl #impl_generics #name #type_generics #where_clause {
            #consts
        }

        #[automatically_derived]
        impl #impl_generics #krate::Embedded for #name #type_generics #where_clause {}
    })
}

pub(crate) fn model(input: &DeriveInput) -> syn::Result<TokenStream> {
    let container = parse_container(&input.attrs)?;
    if !input.generics.params.is_empty() {
        return Err(syn::Error::new(
            input.generics.span(),
            "#[derive(Model)] does not support generic structs: a collection stores one concrete type",
        ));
    }
    let fields = named_fields(input, &container, "Model")?;
    let krate = crate_path(&container);
    let name = &input.ident;
    let owner = quote!(#name);

    let Some(collection) = &container.collection else {
        return Err(syn::Error::new(
            name.span(),
            "#[derive(Model)] needs a collection: add #[mongotic(collection = \"...\")] to the struct",
        ));
    };
    let id_field = find_id_field(name, &fields)?;
    let id_ident = id_field.ident;
    let id_type = id_field.ty;

    let database = match &container.database {
        Some(database) => quote!(::core::option::Option::Some(#database)),
        None => quote!(::core::option::Option::None),
    };
    let type_name = name.unraw().to_string();
    let mut indexes = field_indexes(&krate, &fields);
    for index in &container.indexes {
        indexes.push(model_index(&krate, index, &fields)?);
    }
    let consts = descriptors(&krate, &owner, &fields);

    Ok(quote! {
        #[automatically_derived]
        #[allow(non_upper_case_globals)]
        impl #name {
            #consts
        }

        #[automatically_derived]
        impl #krate::Model for #name {
            type Id = <#id_type as #krate::IdField>::Id;

            fn meta() -> &'static #krate::ModelMeta {
                static INDEXES: &[#krate::IndexDecl] = &[#(#indexes),*];
                static META: #krate::ModelMeta = #krate::ModelMeta::new(#type_name, #database, #collection, INDEXES);
                &META
            }

            fn id(&self) -> ::core::option::Option<&Self::Id> {
                #krate::IdField::get_id(&self.#id_ident)
            }

            fn set_id(&mut self, id: Self::Id) {
                #krate::IdField::set_id(&mut self.#id_ident, id)
            }
        }
    })
}

/// The field marked `#[mongotic(id)]`, or else the one stored as `_id`; it must be stored as
/// `_id`.
fn find_id_field<'f, 'a>(name: &Ident, fields: &'f [FieldInfo<'a>]) -> syn::Result<&'f FieldInfo<'a>> {
    let marked: Vec<&FieldInfo<'_>> = fields.iter().filter(|field| field.attrs.id).collect();
    let field = match marked.as_slice() {
        [one] => *one,
        [] => fields.iter().find(|field| field.stored == "_id").ok_or_else(|| {
            syn::Error::new(
                name.span(),
                "#[derive(Model)] needs an id field: mark the field stored as `_id` with #[mongotic(id)], e.g.\n\
                 #[serde(rename = \"_id\", skip_serializing_if = \"Option::is_none\")]\n\
                 #[mongotic(id)]\n\
                 id: Option<ObjectId>,",
            )
        })?,
        [_, second, ..] => {
            return Err(syn::Error::new(second.ident.span(), "only one field can be #[mongotic(id)]"));
        }
    };
    if field.stored != "_id" {
        return Err(syn::Error::new(
            field.ident.span(),
            format!(
                "the id field `{}` is stored as `{}`, but MongoDB ids live in `_id`: add #[serde(rename = \"_id\")] to it",
                field.ident.unraw(),
                field.stored
            ),
        ));
    }
    if field.attrs.skip || field.attrs.flatten {
        return Err(syn::Error::new(field.ident.span(), "the id field cannot be skipped or flattened"));
    }
    Ok(field)
}

fn index_decl(
    krate: &TokenStream,
    keys: &[(String, IndexDirection)],
    name: Option<&syn::LitStr>,
    unique: bool,
    sparse: bool,
    expire_after_secs: Option<&syn::LitInt>,
    partial_filter: Option<&Path>,
) -> TokenStream {
    let keys = keys.iter().map(|(path, direction)| {
        let direction = match direction {
            IndexDirection::Ascending => format_ident!("Ascending"),
            IndexDirection::Descending => format_ident!("Descending"),
            IndexDirection::Text => format_ident!("Text"),
            IndexDirection::Hashed => format_ident!("Hashed"),
            IndexDirection::Sphere2d => format_ident!("Sphere2d"),
        };
        quote!((#path, #krate::IndexKey::#direction))
    });
    let name = match name {
        Some(name) => quote!(::core::option::Option::Some(#name)),
        None => quote!(::core::option::Option::None),
    };
    let expire = match expire_after_secs {
        Some(secs) => quote!(::core::option::Option::Some(#secs)),
        None => quote!(::core::option::Option::None),
    };
    let partial = match partial_filter {
        Some(path) => quote!(::core::option::Option::Some(#path as fn() -> #krate::bson::Document)),
        None => quote!(::core::option::Option::None),
    };
    quote! {
        #krate::IndexDecl {
            keys: &[#(#keys),*],
            name: #name,
            unique: #unique,
            sparse: #sparse,
            expire_after_secs: #expire,
            partial_filter: #partial,
        }
    }
}

/// Single-field indexes from `#[mongotic(index)]`, `unique` and `sparse`.
fn field_indexes(krate: &TokenStream, fields: &[FieldInfo<'_>]) -> Vec<TokenStream> {
    fields
        .iter()
        .filter(|field| field.attrs.index || field.attrs.unique || field.attrs.sparse)
        .map(|field| {
            let keys = [(field.stored.clone(), IndexDirection::Ascending)];
            index_decl(krate, &keys, None, field.attrs.unique, field.attrs.sparse, None, None)
        })
        .collect()
}

/// A struct-level `index(...)`, with its keys resolved to stored names.
fn model_index(krate: &TokenStream, index: &IndexAttr, fields: &[FieldInfo<'_>]) -> syn::Result<TokenStream> {
    let mut keys = Vec::new();
    for (key, direction) in &index.keys {
        let path = match key {
            IndexKeyName::Field(ident) => {
                let wanted = ident.unraw().to_string();
                let field = fields.iter().find(|field| field.ident.unraw() == wanted).ok_or_else(|| {
                    let known: Vec<String> = fields.iter().map(|field| field.ident.unraw().to_string()).collect();
                    syn::Error::new(
                        ident.span(),
                        format!("no field `{wanted}` to index; the fields are: {}", known.join(", ")),
                    )
                })?;
                field.stored.clone()
            }
            IndexKeyName::Path(path) => {
                let text = path.value();
                let first = text.split('.').next().unwrap_or_default();
                if !fields.iter().any(|field| field.stored == first) {
                    return Err(syn::Error::new(
                        path.span(),
                        format!("`{text}` does not start with a stored field name of this model"),
                    ));
                }
                text
            }
        };
        keys.push((path, *direction));
    }
    Ok(index_decl(
        krate,
        &keys,
        index.name.as_ref(),
        index.unique,
        index.sparse,
        index.expire_after_secs.as_ref(),
        index.partial_filter.as_ref(),
    ))
}
