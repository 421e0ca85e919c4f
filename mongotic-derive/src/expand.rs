//! Code generation for the derives.

use proc_macro2::TokenStream;
use quote::{format_ident, quote, quote_spanned};
use syn::ext::IdentExt;
use syn::spanned::Spanned;
use syn::{Data, DeriveInput, Fields, Ident, Path, Type, Visibility};

use crate::attrs::{
    ContainerAttrs, FieldAttrs, IndexAttr, IndexDirection, IndexKeyName, KindAttr, ViewOn, parse_container, parse_field,
};
use crate::naming::apply_rename_all;
use crate::schema::{self, SchemaField};

/// One struct field as the macros see it.
pub(crate) struct FieldInfo<'a> {
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

pub(crate) fn crate_path(container: &ContainerAttrs) -> TokenStream {
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
    if container.hooks {
        return Err(syn::Error::new(input.ident.span(), "hooks run for models: an embedded struct has none"));
    }
    if let Some(kind) = &container.kind {
        return Err(syn::Error::new(kind.span(), "a collection kind belongs to a model: an embedded struct has none"));
    }
    let fields = named_fields(input, &container, "Embedded")?;
    if let Some(field) =
        fields.iter().find(|field| field.attrs.version || field.attrs.created_at || field.attrs.updated_at)
    {
        return Err(syn::Error::new(
            field.ident.span(),
            "version and timestamp fields belong to the model, not to an embedded struct",
        ));
    }
    let krate = crate_path(&container);
    let name = &input.ident;
    let (impl_generics, type_generics, where_clause) = input.generics.split_for_impl();
    let owner = quote!(#name #type_generics);
    let consts = descriptors(&krate, &owner, &fields);
    let flattened = if input.generics.params.is_empty() { flattened_fields(&krate, input, &fields) } else { quote!() };
    let schema_impl = schema_impl(&krate, input, &container, &fields, None)?;
    Ok(quote! {
        #schema_impl

        #[automatically_derived]
        #[allow(non_upper_case_globals)]
        impl #impl_generics #name #type_generics #where_clause {
            #consts
        }

        #[automatically_derived]
        impl #impl_generics #krate::Embedded for #name #type_generics #where_clause {}

        #flattened
    })
}

/// For a struct that models flatten (`#[serde(flatten)] base: Base`, a base shared by several
/// models): a trait `BaseFields` whose constants are `Base`'s descriptors in every model that
/// flattens it, so `Admin::name` exists (with the trait in scope) and stores at the top level.
fn flattened_fields(krate: &TokenStream, input: &DeriveInput, fields: &[FieldInfo<'_>]) -> TokenStream {
    let name = &input.ident;
    let vis = &input.vis;
    let trait_name = format_ident!("{}Fields", name.unraw());
    let fields: Vec<&FieldInfo<'_>> = fields.iter().filter(|field| !field.attrs.skip && !field.attrs.flatten).collect();
    let declarations = fields.iter().map(|field| {
        let FieldInfo { ident, ty, stored, .. } = field;
        let doc = format!(
            "Query descriptor of `{name}::{}` in a model that flattens it, stored as `{stored}`.",
            ident.unraw()
        );
        quote! {
            #[doc = #doc]
            const #ident: #krate::Field<Self, #ty>;
        }
    });
    let definitions = fields.iter().map(|field| {
        let FieldInfo { ident, ty, stored, .. } = field;
        quote!(const #ident: #krate::Field<Owner, #ty> = #krate::Field::new(#stored);)
    });
    let doc = format!(
        "The descriptors of `{name}`'s fields in the models that flatten it (`#[serde(flatten)]`): \
         bring `{trait_name}` into scope with `{name}` to write `Model::field`."
    );
    quote! {
        #[doc = #doc]
        #[allow(non_upper_case_globals)]
        #vis trait #trait_name: ::core::marker::Sized {
            #(#declarations)*
        }

        #[automatically_derived]
        #[allow(non_upper_case_globals)]
        impl<Owner: #krate::Flattens<#name>> #trait_name for Owner {
            #(#definitions)*
        }
    }
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

    let variant_of = container.variant_of.as_ref();
    if let Some(of) = variant_of {
        check_variant(&container, of)?;
    }
    let collection = match (&container.collection, variant_of) {
        (Some(collection), _) => quote!(#collection),
        (None, Some(of)) => quote!(<#of as #krate::Polymorphic>::COLLECTION),
        (None, None) => {
            return Err(syn::Error::new(
                name.span(),
                "#[derive(Model)] needs a collection: add #[mongotic(collection = \"...\")] to the struct",
            ));
        }
    };
    // The tag field and the tag of a variant's documents, as a pair of constants.
    let variant =
        variant_of.map(|of| quote!((<#of as #krate::Polymorphic>::TAG_FIELD, <#name as #krate::Variant>::TAG)));
    let id_field = find_id_field(name, &fields)?;
    let id_ident = id_field.ident;
    let id_type = id_field.ty;

    let database = match (&container.database, variant_of) {
        (Some(database), _) => quote!(::core::option::Option::Some(#database)),
        (None, Some(of)) => quote!(<#of as #krate::Polymorphic>::DATABASE),
        (None, None) => quote!(::core::option::Option::None),
    };
    let type_name = name.unraw().to_string();
    let mut indexes = field_indexes(&krate, &fields, variant.as_ref());
    for index in &container.indexes {
        indexes.push(model_index(&krate, index, &fields, variant.as_ref())?);
    }
    let consts = descriptors(&krate, &owner, &fields);
    let behaviour = Behaviour::of(&container, &fields)?;
    let is_view = matches!(container.kind, Some(KindAttr::View { .. }));
    if is_view {
        check_view(&container, &fields, &behaviour)?;
    }
    let kind = collection_kind(&krate, &container, &fields)?;
    let validation = validation(&krate, &container)?;
    let schema_impl = schema_impl(&krate, input, &container, &fields, Some(id_ident))?;
    let writable = if is_view || variant_of.is_some() {
        quote!()
    } else {
        quote! {
            #[automatically_derived]
            impl #krate::Writable for #name {}
        }
    };
    let behaviour_methods = behaviour.methods(&krate, &container, &fields);
    let prepares = container.hooks || behaviour.created_at.is_some() || behaviour.updated_at.is_some();
    let stored_name = |field: Option<&FieldInfo<'_>>| match field {
        Some(field) => {
            let stored = &field.stored;
            quote!(::core::option::Option::Some(#stored))
        }
        None => quote!(::core::option::Option::None),
    };
    let version_name = stored_name(behaviour.version);
    let updated_name = stored_name(behaviour.updated_at);
    let created_name = stored_name(behaviour.created_at);
    let soft_delete_name = stored_name(behaviour.soft_delete);
    let tenant_name = stored_name(behaviour.tenant);
    let scope_markers = {
        let soft = behaviour.soft_delete.map(|_| quote!(#[automatically_derived] impl #krate::SoftDelete for #name {}));
        let tenant = behaviour.tenant.map(|_| quote!(#[automatically_derived] impl #krate::TenantScoped for #name {}));
        quote!(#soft #tenant)
    };
    let shard_key = match &container.shard_key {
        Some((_, keys)) => {
            keys.iter().map(|key| stored_path(key, &fields, "shard on")).collect::<syn::Result<Vec<_>>>()?
        }
        None => Vec::new(),
    };
    let validates = container.hooks || behaviour.garde;
    let flattens = fields.iter().filter(|field| field.attrs.flatten).map(|field| {
        let ty = field.ty;
        quote! {
            #[automatically_derived]
            impl #krate::Flattens<#ty> for #name {}
        }
    });
    let hooks_impl = if container.hooks {
        quote!()
    } else {
        quote! {
            #[automatically_derived]
            impl #krate::Hooks for #name {}
        }
    };

    let meta_value = quote! {
        #krate::ModelMeta::new(#type_name, #database, #collection, INDEXES)
            .with_behaviour(#version_name, #updated_name, #prepares, #validates)
            .with_shard_key(&[#(#shard_key),*])
            .with_scopes(#soft_delete_name, #tenant_name)
            .with_created_at(#created_name)
            .with_schema(#krate::schema::__private::model_schema::<#name>, #validation, #kind)
    };
    // A variant's meta is a constant, so that the enum's can be built from it at compile time.
    let (meta_static, variant_view) = match &variant {
        Some(tag) => (
            quote!(static META: #krate::ModelMeta = <#name as #krate::model::variant::__private::VariantView>::META;),
            quote! {
                #[automatically_derived]
                impl #krate::model::variant::__private::VariantView for #name {
                    const META: #krate::ModelMeta = {
                        const INDEXES: &[#krate::IndexDecl] = &[#(#indexes),*];
                        let (field, tag) = #tag;
                        #krate::model::variant::__private::view_meta(#meta_value, field, tag)
                    };
                }
            },
        ),
        None => (
            quote! {
                static INDEXES: &[#krate::IndexDecl] = &[#(#indexes),*];
                static META: #krate::ModelMeta = #meta_value;
            },
            quote!(),
        ),
    };

    Ok(quote! {
        #[automatically_derived]
        #[allow(non_upper_case_globals)]
        impl #name {
            #consts
        }

        #hooks_impl

        #scope_markers

        #schema_impl

        #writable

        #(#flattens)*

        #variant_view

        #[automatically_derived]
        impl #krate::Model for #name {
            type Id = <#id_type as #krate::IdField>::Id;

            fn meta() -> &'static #krate::ModelMeta {
                #meta_static
                &META
            }

            fn id(&self) -> ::core::option::Option<&Self::Id> {
                #krate::IdField::get_id(&self.#id_ident)
            }

            fn set_id(&mut self, id: Self::Id) {
                #krate::IdField::set_id(&mut self.#id_ident, id)
            }

            #behaviour_methods
        }
    })
}

/// What a model does at flush besides being written: its version field, timestamps and
/// validation.
struct Behaviour<'f, 'a> {
    version: Option<&'f FieldInfo<'a>>,
    soft_delete: Option<&'f FieldInfo<'a>>,
    tenant: Option<&'f FieldInfo<'a>>,
    created_at: Option<&'f FieldInfo<'a>>,
    updated_at: Option<&'f FieldInfo<'a>>,
    /// The model derives `garde::Validate` (it carries `#[garde(...)]` options).
    garde: bool,
}

impl<'f, 'a> Behaviour<'f, 'a> {
    fn of(container: &ContainerAttrs, fields: &'f [FieldInfo<'a>]) -> syn::Result<Self> {
        let single = |option: &str, marked: fn(&FieldAttrs) -> bool| -> syn::Result<Option<&'f FieldInfo<'a>>> {
            let mut found = fields.iter().filter(|field| marked(&field.attrs));
            let first = found.next();
            if let Some(second) = found.next() {
                return Err(syn::Error::new(
                    second.ident.span(),
                    format!("only one field can be #[mongotic({option})]"),
                ));
            }
            if let Some(field) = first
                && (field.attrs.skip || field.attrs.flatten || field.attrs.id)
            {
                return Err(syn::Error::new(
                    field.ident.span(),
                    format!(
                        "the {option} field is stored with the document: it cannot be the id, skipped or flattened"
                    ),
                ));
            }
            Ok(first)
        };
        Ok(Behaviour {
            version: single("version", |attrs| attrs.version)?,
            soft_delete: single("soft_delete", |attrs| attrs.soft_delete)?,
            tenant: single("tenant", |attrs| attrs.tenant)?,
            created_at: single("created_at", |attrs| attrs.created_at)?,
            updated_at: single("updated_at", |attrs| attrs.updated_at)?,
            garde: container.garde || fields.iter().any(|field| !field.attrs.garde.is_empty()),
        })
    }

    /// The hidden `Model` methods the flush calls for this behaviour (the defaults do nothing).
    fn methods(&self, krate: &TokenStream, container: &ContainerAttrs, fields: &[FieldInfo<'_>]) -> TokenStream {
        let mut methods = TokenStream::new();
        if let Some(field) = self.version {
            let (ident, ty) = (field.ident, field.ty);
            methods.extend(quote! {
                fn __version(&self) -> ::core::option::Option<i64> {
                    ::core::option::Option::Some(<#ty as #krate::VersionField>::get(&self.#ident))
                }
                fn __set_version(&mut self, version: i64) {
                    <#ty as #krate::VersionField>::set(&mut self.#ident, version)
                }
            });
        }
        if let Some(field) = self.soft_delete {
            let (ident, ty) = (field.ident, field.ty);
            methods.extend(quote! {
                fn __set_deleted(&mut self, at: ::core::option::Option<#krate::bson::DateTime>) {
                    <#ty as #krate::SoftDeleteField>::set(&mut self.#ident, at)
                }
            });
        }
        if let Some(field) = self.tenant {
            let (ident, ty) = (field.ident, field.ty);
            methods.extend(quote! {
                fn __set_tenant(&mut self, tenant: &#krate::bson::Bson) -> ::core::result::Result<(), #krate::bson::de::Error> {
                    self.#ident = #krate::bson::from_bson::<#ty>(::core::clone::Clone::clone(tenant))?;
                    ::core::result::Result::Ok(())
                }
            });
        }
        if self.created_at.is_some() || self.updated_at.is_some() {
            let created = self.created_at.map(|field| {
                let (ident, ty) = (field.ident, field.ty);
                quote!(if inserting { <#ty as #krate::TimestampField>::stamp_created(&mut self.#ident, now); })
            });
            let updated = self.updated_at.map(|field| {
                let (ident, ty) = (field.ident, field.ty);
                quote!(<#ty as #krate::TimestampField>::stamp_updated(&mut self.#ident, now);)
            });
            methods.extend(quote! {
                fn __stamp(&mut self, inserting: bool, now: #krate::bson::DateTime) {
                    #created
                    #updated
                }
            });
        }
        if self.garde || container.hooks {
            let garde = self.garde.then(|| quote!(#krate::validation::__garde_model(self, report);));
            let hooks = container.hooks.then(|| quote!(<Self as #krate::Hooks>::validate(self, report);));
            methods.extend(quote! {
                fn __validate(&self, report: &mut #krate::validation::Violations) {
                    #garde
                    #hooks
                }
            });
        }
        let checks: Vec<TokenStream> = fields.iter().filter_map(|field| field_check(krate, field)).collect();
        if !checks.is_empty() {
            methods.extend(quote! {
                fn __validate_field(
                    path: &str,
                    value: &#krate::bson::Bson,
                    report: &mut #krate::validation::Violations,
                ) {
                    match path {
                        #(#checks)*
                        _ => {}
                    }
                }
            });
        }
        methods
    }
}

/// The check of one field's `#[garde(...)]` rules on a value a bulk `update` sets: the rules
/// are copied onto a one-field struct that derives `garde::Validate`. Rules that read other
/// fields (`matches`) cannot be checked on one value, and `skip` has nothing to check.
fn field_check(krate: &TokenStream, field: &FieldInfo<'_>) -> Option<TokenStream> {
    if field.attrs.garde.is_empty() || field.attrs.skip || field.attrs.flatten {
        return None;
    }
    let rules = &field.attrs.garde;
    let text = quote!(#(#rules)*).to_string();
    if text.contains("matches") || text.contains("skip") {
        return None;
    }
    let (stored, ty) = (&field.stored, field.ty);
    let name = field.ident.unraw().to_string();
    Some(quote! {
        #stored => {
            #[derive(::garde::Validate)]
            struct __MongoticFieldCheck(#(#rules)* #ty);
            #krate::validation::__garde_field(#name, value, __MongoticFieldCheck, report);
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
                "#[derive(Model)] needs an id field: the field serde stores as `_id`, e.g.\n\
                 #[serde(rename = \"_id\")]\n\
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

/// Which documents an index covers: the filter it declares, and for a variant of a
/// polymorphic model, its tag (the pair of constants `(field, tag)`).
#[derive(Clone, Copy)]
struct Partial<'a> {
    declared: Option<&'a Path>,
    variant: Option<&'a TokenStream>,
}

fn index_decl(
    krate: &TokenStream,
    keys: &[(String, IndexDirection)],
    name: Option<&syn::LitStr>,
    unique: bool,
    sparse: bool,
    expire_after_secs: Option<&syn::LitInt>,
    partial: Partial<'_>,
) -> TokenStream {
    let Partial { declared: partial_filter, variant } = partial;
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
    let declared = match partial_filter {
        Some(path) => quote!(::core::option::Option::Some(#path as fn() -> #krate::bson::Document)),
        None => quote!(::core::option::Option::None),
    };
    // A variant's index covers the documents of its variant only.
    let partial = match variant {
        Some(tag) => quote!(::core::option::Option::Some({
            fn partial() -> #krate::bson::Document {
                let (field, tag) = #tag;
                #krate::model::variant::__private::partial_to_tag(field, tag, #declared)
            }
            partial as fn() -> #krate::bson::Document
        })),
        None => declared,
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
fn field_indexes(krate: &TokenStream, fields: &[FieldInfo<'_>], variant: Option<&TokenStream>) -> Vec<TokenStream> {
    fields
        .iter()
        .filter(|field| field.attrs.index || field.attrs.unique || field.attrs.sparse)
        .map(|field| {
            let keys = [(field.stored.clone(), IndexDirection::Ascending)];
            let partial = Partial { declared: None, variant };
            index_decl(krate, &keys, None, field.attrs.unique, field.attrs.sparse, None, partial)
        })
        .collect()
}

/// The stored path a key of an index or a shard key names: a Rust field's stored name, or a
/// dotted path (as a string) that starts with one.
fn stored_path(key: &IndexKeyName, fields: &[FieldInfo<'_>], what: &str) -> syn::Result<String> {
    match key {
        IndexKeyName::Field(ident) => {
            let wanted = ident.unraw().to_string();
            let field = fields.iter().find(|field| field.ident.unraw() == wanted).ok_or_else(|| {
                let known: Vec<String> = fields.iter().map(|field| field.ident.unraw().to_string()).collect();
                syn::Error::new(
                    ident.span(),
                    format!("no field `{wanted}` to {what}; the fields are: {}", known.join(", ")),
                )
            })?;
            Ok(field.stored.clone())
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
            Ok(text)
        }
    }
}

/// A struct-level `index(...)`, with its keys resolved to stored names.
fn model_index(
    krate: &TokenStream,
    index: &IndexAttr,
    fields: &[FieldInfo<'_>],
    variant: Option<&TokenStream>,
) -> syn::Result<TokenStream> {
    let mut keys = Vec::new();
    for (key, direction) in &index.keys {
        let path = stored_path(key, fields, "index")?;
        keys.push((path, *direction));
    }
    model_index_decl(krate, index, keys, variant)
}

fn model_index_decl(
    krate: &TokenStream,
    index: &IndexAttr,
    keys: Vec<(String, IndexDirection)>,
    variant: Option<&TokenStream>,
) -> syn::Result<TokenStream> {
    Ok(index_decl(
        krate,
        &keys,
        index.name.as_ref(),
        index.unique,
        index.sparse,
        index.expire_after_secs.as_ref(),
        Partial { declared: index.partial_filter.as_ref(), variant },
    ))
}

/// The `BsonSchema` implementation of a model (`id` names its id field) or an embedded struct.
fn schema_impl(
    krate: &TokenStream,
    input: &DeriveInput,
    container: &ContainerAttrs,
    fields: &[FieldInfo<'_>],
    id: Option<&Ident>,
) -> syn::Result<TokenStream> {
    let fields: Vec<SchemaField<'_>> = fields
        .iter()
        .map(|field| SchemaField {
            ty: field.ty,
            stored: field.stored.clone(),
            attrs: &field.attrs,
            id: id.is_some_and(|id| id == field.ident),
        })
        .collect();
    let name = input.ident.unraw().to_string();
    let tag = container.serde.tag.as_deref().map(|tag| (tag, name.as_str()));
    let body = schema::object_body(krate, container, &fields, tag)?;
    Ok(schema::implementation(krate, input, body))
}

/// A variant's struct takes its collection from the enum, and reads the documents serde's
/// internally tagged form writes (its fields beside the tag).
fn check_variant(container: &ContainerAttrs, of: &Path) -> syn::Result<()> {
    let refuse = |message: &str| Err(syn::Error::new(of.span(), message));
    if container.collection.is_some() || container.database.is_some() {
        return refuse("a variant is stored in its enum's collection: remove `collection`/`database`, or `variant_of`");
    }
    if container.kind.is_some() {
        return refuse("a variant's collection is its enum's: declare its kind on the enum");
    }
    if container.serde.deny_unknown_fields {
        return refuse(
            "a variant's documents carry the enum's tag field: remove #[serde(deny_unknown_fields)] from the variant",
        );
    }
    Ok(())
}

/// A view is read: it declares no indexes, versions, timestamps nor validator.
fn check_view(container: &ContainerAttrs, fields: &[FieldInfo<'_>], behaviour: &Behaviour<'_, '_>) -> syn::Result<()> {
    let span = container.kind.as_ref().map_or_else(proc_macro2::Span::call_site, KindAttr::span);
    if let Some(index) = container.indexes.first() {
        return Err(syn::Error::new(
            index.span,
            "a view has no indexes of its own: declare them on the model it reads",
        ));
    }
    if let Some(field) = fields.iter().find(|field| field.attrs.index || field.attrs.unique || field.attrs.sparse) {
        return Err(syn::Error::new(
            field.ident.span(),
            "a view has no indexes of its own: declare them on the model it reads",
        ));
    }
    if let Some(field) = behaviour.version.or(behaviour.created_at).or(behaviour.updated_at) {
        return Err(syn::Error::new(
            field.ident.span(),
            "a view is read-only: version and timestamp fields are set by writes, which a view has none of",
        ));
    }
    let schema = &container.schema;
    if schema.additional.is_some()
        || schema.level.is_some()
        || schema.action.is_some()
        || schema.validator == Some(true)
    {
        return Err(syn::Error::new(span, "a view has no validator: declare it on the model it reads"));
    }
    Ok(())
}

/// The stored name of the field `ident` (a Rust name), for a kind's options.
fn stored_name(fields: &[FieldInfo<'_>], ident: &Ident) -> syn::Result<String> {
    let wanted = ident.unraw().to_string();
    fields
        .iter()
        .find(|field| field.ident.unraw() == wanted && !field.attrs.skip && !field.attrs.flatten)
        .map(|field| field.stored.clone())
        .ok_or_else(|| {
            let known: Vec<String> = fields.iter().map(|field| field.ident.unraw().to_string()).collect();
            syn::Error::new(ident.span(), format!("no stored field `{wanted}`; the fields are: {}", known.join(", ")))
        })
}

fn option_u64(value: Option<&syn::LitInt>) -> TokenStream {
    match value {
        Some(value) => quote!(::core::option::Option::Some(#value)),
        None => quote!(::core::option::Option::None),
    }
}

/// The `CollectionKind` the model declares.
pub(crate) fn collection_kind(
    krate: &TokenStream,
    container: &ContainerAttrs,
    fields: &[FieldInfo<'_>],
) -> syn::Result<TokenStream> {
    let kinds = quote!(#krate::schema);
    Ok(match &container.kind {
        None => quote!(#kinds::CollectionKind::Standard),
        Some(KindAttr::Capped { size, max, .. }) => {
            let max = option_u64(max.as_ref());
            quote!(#kinds::CollectionKind::Capped(#kinds::Capped { size: #size, max: #max }))
        }
        Some(KindAttr::Clustered { expire_after_secs, .. }) => {
            let expire = option_u64(expire_after_secs.as_ref());
            quote!(#kinds::CollectionKind::Clustered(#kinds::Clustered { expire_after_secs: #expire }))
        }
        Some(KindAttr::TimeSeries { time, meta, granularity, bucket_span_secs, expire_after_secs, .. }) => {
            let time_stored = stored_name(fields, time)?;
            let time_field = fields.iter().find(|field| field.ident.unraw() == time.unraw()).map(|field| field.ty);
            let check = time_field.map(|ty| {
                quote_spanned! {ty.span()=>
                    const _: fn() = || {
                        fn time_field<T: #krate::schema::TimeField>() {}
                        time_field::<#ty>();
                    };
                }
            });
            let meta = match meta {
                Some(meta) => {
                    let stored = stored_name(fields, meta)?;
                    quote!(::core::option::Option::Some(#stored))
                }
                None => quote!(::core::option::Option::None),
            };
            let granularity = match granularity.as_ref().map(syn::LitStr::value).as_deref() {
                Some("seconds") => quote!(::core::option::Option::Some(#kinds::Granularity::Seconds)),
                Some("minutes") => quote!(::core::option::Option::Some(#kinds::Granularity::Minutes)),
                Some("hours") => quote!(::core::option::Option::Some(#kinds::Granularity::Hours)),
                _ => quote!(::core::option::Option::None),
            };
            let bucket = option_u64(bucket_span_secs.as_ref());
            let expire = option_u64(expire_after_secs.as_ref());
            quote!({
                #check
                #kinds::CollectionKind::TimeSeries(#kinds::TimeSeries {
                    time_field: #time_stored,
                    meta_field: #meta,
                    granularity: #granularity,
                    bucket_span_secs: #bucket,
                    expire_after_secs: #expire,
                })
            })
        }
        Some(KindAttr::View { on, pipeline, .. }) => {
            let source = match on {
                ViewOn::Collection(name) => quote!(#kinds::ViewSource::Collection(#name)),
                ViewOn::Model(path) => quote!(#kinds::ViewSource::Model(<#path as #krate::Model>::meta)),
            };
            quote!(#kinds::CollectionKind::View(#kinds::View {
                on: #source,
                pipeline: #pipeline as fn() -> ::std::vec::Vec<#krate::bson::Document>,
            }))
        }
    })
}

/// The validator settings: `None` for a view, a time series or `schema(validator = false)`.
pub(crate) fn validation(krate: &TokenStream, container: &ContainerAttrs) -> syn::Result<TokenStream> {
    let schema = &container.schema;
    let none = quote!(::core::option::Option::None);
    match &container.kind {
        Some(KindAttr::View { .. }) => return Ok(none),
        Some(KindAttr::TimeSeries { span, .. }) => {
            if schema.level.is_some() || schema.action.is_some() || schema.validator == Some(true) {
                return Err(syn::Error::new(
                    *span,
                    "MongoDB applies no validator to a time-series collection: remove the schema options",
                ));
            }
            return Ok(none);
        }
        _ => {}
    }
    if schema.validator == Some(false) {
        return Ok(none);
    }
    let level = match schema.level.as_ref().map(syn::LitStr::value).as_deref() {
        Some("moderate") => quote!(Moderate),
        Some("off") => quote!(Off),
        _ => quote!(Strict),
    };
    let action = match schema.action.as_ref().map(syn::LitStr::value).as_deref() {
        Some("warn") => quote!(Warn),
        Some("errorAndLog") => quote!(ErrorAndLog),
        _ => quote!(Error),
    };
    let paths = quote!(#krate::schema);
    Ok(quote!(::core::option::Option::Some(#paths::Validation {
        level: #paths::ValidationLevel::#level,
        action: #paths::ValidationAction::#action,
    })))
}

/// `#[derive(BsonSchema)]`.
pub(crate) fn bson_schema(input: &DeriveInput) -> syn::Result<TokenStream> {
    let container = parse_container(&input.attrs)?;
    if container.collection.is_some() || container.kind.is_some() {
        return Err(syn::Error::new(
            input.ident.span(),
            "a collection is declared with #[derive(Model)], which implements BsonSchema itself",
        ));
    }
    let krate = crate_path(&container);
    schema::derive(input, &container, &krate)
}
