//! The `BsonSchema` implementation of a struct or an enum: its `$jsonSchema`, following the
//! names and shapes serde stores (renames, `default`, `skip_serializing_if`, `flatten`, the
//! enum representations).

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::ext::IdentExt;
use syn::spanned::Spanned;
use syn::{Data, DeriveInput, Fields, GenericParam, Type};

use crate::attrs::{ContainerAttrs, FieldAttrs, FieldSchemaAttr, parse_field, parse_variant};
use crate::constraints;
use crate::naming::{apply_rename_all, variant_name};

/// One field as the schema sees it.
pub(crate) struct SchemaField<'a> {
    pub(crate) ty: &'a Type,
    /// The stored name.
    pub(crate) stored: String,
    pub(crate) attrs: &'a FieldAttrs,
    /// The model's id: stored as `_id`, always present, never null.
    pub(crate) id: bool,
}

/// The schema node of a value of type `ty`: `(node, optional)`, from its `BsonSchema` when it
/// has one, or any value (with a deprecation warning that says so) when it does not.
fn probe(krate: &TokenStream, ty: &Type) -> TokenStream {
    // Spanned at the type, so a missing impl points at the field; the generator is named at
    // the call site, where `bson_schema` binds it (a model declared by a `macro_rules!` has
    // its field types in another hygiene context).
    let generator = syn::Ident::new("generator", proc_macro2::Span::call_site());
    quote_spanned! {ty.span()=>
        {
            #[allow(unused_imports)]
            use #krate::schema::__private::{ViaAnyValue as _, ViaBsonSchema as _};
            (&#krate::schema::__private::Probe::<#ty>::new()).__mongotic_schema(#generator)
        }
    }
}

/// The statements that add one field to `object` (an `ObjectSchema`).
fn field_statement(
    krate: &TokenStream,
    container: &ContainerAttrs,
    field: &SchemaField<'_>,
) -> syn::Result<TokenStream> {
    let private = quote!(#krate::schema::__private);
    let ty = field.ty;
    let node = if field.id {
        probe(krate, &syn::parse_quote!(<#ty as #krate::IdField>::Id))
    } else {
        match &field.attrs.schema {
            FieldSchemaAttr::Any => quote!((#private::any(), false)),
            FieldSchemaAttr::BsonType(types) => quote!((#private::bson_type(#types), false)),
            FieldSchemaAttr::With(path) => quote!((#path(), false)),
            // A field serialized by a function of its own is stored in a form its type does not
            // tell: any value.
            FieldSchemaAttr::Derived if field.attrs.with => quote!((#private::any(), false)),
            FieldSchemaAttr::Derived => probe(krate, ty),
        }
    };
    if field.attrs.flatten {
        return Ok(quote! {
            let (node, optional) = #node;
            object.flatten(node, optional);
        });
    }
    let constraints = constraints::of(krate, &field.attrs.garde)?;
    let statements = &constraints.statements;
    let stored = &field.stored;
    let may_be_missing =
        !field.id && (container.serde.default || field.attrs.default || field.attrs.skip_serializing_if);
    let required = if field.id || constraints.required {
        quote!(true)
    } else if may_be_missing || is_option(ty) {
        quote!(false)
    } else {
        quote!(!optional)
    };
    Ok(quote! {
        let (mut schema, optional) = #node;
        {
            #[allow(unused_variables)]
            let node = &mut schema;
            #(#statements)*
        }
        let _ = optional;
        object.property(#stored, schema, #required);
    })
}

/// The body of `bson_schema` for named fields: an object schema.
pub(crate) fn object_body(
    krate: &TokenStream,
    container: &ContainerAttrs,
    fields: &[SchemaField<'_>],
    tag: Option<(&str, &str)>,
) -> syn::Result<TokenStream> {
    let private = quote!(#krate::schema::__private);
    let mut statements = Vec::new();
    if let Some((tag, name)) = tag {
        statements.push(quote!(object.property(#tag, #private::constant(#name), true);));
    }
    for field in fields.iter().filter(|field| !field.attrs.skip) {
        statements.push(field_statement(krate, container, field)?);
    }
    let additional = match container.schema.additional {
        Some(additional) => additional,
        None => !container.serde.deny_unknown_fields,
    };
    Ok(quote! {
        let mut object = #private::ObjectSchema::new();
        #(#statements)*
        object.finish(#additional)
    })
}

/// `impl BsonSchema for Type` with `body` (which may use `generator`); a generic type's
/// parameters must implement `BsonSchema` too.
pub(crate) fn implementation(krate: &TokenStream, input: &DeriveInput, body: TokenStream) -> TokenStream {
    let name = &input.ident;
    let mut generics = input.generics.clone();
    let params: Vec<_> = generics
        .params
        .iter()
        .filter_map(|param| match param {
            GenericParam::Type(param) => Some(param.ident.clone()),
            _ => None,
        })
        .collect();
    if !params.is_empty() {
        let where_clause = generics.make_where_clause();
        for param in params {
            where_clause.predicates.push(syn::parse_quote!(#param: #krate::schema::BsonSchema));
        }
    }
    let (impl_generics, type_generics, where_clause) = generics.split_for_impl();
    quote! {
        #[automatically_derived]
        impl #impl_generics #krate::schema::BsonSchema for #name #type_generics #where_clause {
            #[allow(unused_variables)]
            fn bson_schema(generator: &mut #krate::schema::SchemaGenerator) -> #krate::bson::Document {
                #body
            }
        }
    }
}

/// `#[derive(BsonSchema)]`: structs (named fields, or a newtype) and enums.
pub(crate) fn derive(input: &DeriveInput, container: &ContainerAttrs, krate: &TokenStream) -> syn::Result<TokenStream> {
    let body = match &input.data {
        Data::Struct(data) => match &data.fields {
            Fields::Named(named) => {
                let parsed = parse_fields(named.named.iter(), container.rename_all.as_deref())?;
                if container.serde.transparent {
                    let field = parsed.iter().find(|(_, attrs, _)| !attrs.skip).ok_or_else(|| {
                        syn::Error::new(input.ident.span(), "a transparent struct needs one stored field")
                    })?;
                    let node = probe(krate, field.0);
                    quote!(#node.0)
                } else {
                    let fields: Vec<SchemaField<'_>> = parsed
                        .iter()
                        .map(|(ty, attrs, stored)| SchemaField { ty, stored: stored.clone(), attrs, id: false })
                        .collect();
                    let name = input.ident.unraw().to_string();
                    let tag = container.serde.tag.as_deref().map(|tag| (tag, name.as_str()));
                    object_body(krate, container, &fields, tag)?
                }
            }
            Fields::Unnamed(unnamed) if unnamed.unnamed.len() == 1 => {
                let ty = &unnamed.unnamed[0].ty;
                let node = probe(krate, ty);
                quote!(#node.0)
            }
            _ => {
                return Err(syn::Error::new(
                    input.ident.span(),
                    "#[derive(BsonSchema)] needs named fields, one field (a newtype) or an enum: \
                     implement mongotic::schema::BsonSchema by hand for this type",
                ));
            }
        },
        Data::Enum(data) => enum_body(krate, container, data)?,
        Data::Union(_) => {
            return Err(syn::Error::new(input.ident.span(), "#[derive(BsonSchema)] does not support unions"));
        }
    };
    Ok(implementation(krate, input, body))
}

/// The type, attributes and stored name of each named field.
fn parse_fields<'a>(
    fields: impl Iterator<Item = &'a syn::Field>,
    rename_all: Option<&str>,
) -> syn::Result<Vec<(&'a Type, FieldAttrs, String)>> {
    fields
        .map(|field| {
            let ident = field.ident.as_ref().ok_or_else(|| syn::Error::new(field.span(), "unnamed field"))?;
            let attrs = parse_field(&field.attrs)?;
            let rust_name = ident.unraw().to_string();
            let stored = match (&attrs.rename, rename_all) {
                (Some(rename), _) => rename.clone(),
                (None, Some(rule)) => apply_rename_all(rule, &rust_name).unwrap_or(rust_name),
                (None, None) => rust_name,
            };
            Ok((&field.ty, attrs, stored))
        })
        .collect()
}

/// The schema of an enum, per serde's representation of it: externally tagged (the default),
/// internally tagged (`tag`), adjacently tagged (`tag` and `content`) or untagged.
pub(crate) fn enum_body(
    krate: &TokenStream,
    container: &ContainerAttrs,
    data: &syn::DataEnum,
) -> syn::Result<TokenStream> {
    let private = quote!(#krate::schema::__private);
    let mut statements = Vec::new();
    let tag = container.serde.tag.as_deref();
    let content = container.serde.content.as_deref();
    for variant in &data.variants {
        let attrs = parse_variant(&variant.attrs)?;
        if attrs.skip {
            continue;
        }
        let name = variant_name(&variant.ident, attrs.rename.as_ref(), container.rename_all.as_ref());
        let field_rule = attrs.rename_all.as_deref().or(container.serde.rename_all_fields.as_deref());
        // The variant's content alone, as an untagged enum stores it.
        let content_schema = match &variant.fields {
            Fields::Unit => quote!(#private::null()),
            Fields::Unnamed(fields) if fields.unnamed.len() == 1 => {
                let node = probe(krate, &fields.unnamed[0].ty);
                quote!(#node.0)
            }
            Fields::Unnamed(fields) => {
                let items = fields.unnamed.iter().map(|field| {
                    let node = probe(krate, &field.ty);
                    quote!(#node.0)
                });
                quote!(#private::tuple(::std::vec![#(#items),*]))
            }
            Fields::Named(fields) => {
                let parsed = parse_fields(fields.named.iter(), field_rule)?;
                let fields: Vec<SchemaField<'_>> = parsed
                    .iter()
                    .map(|(ty, attrs, stored)| SchemaField { ty, stored: stored.clone(), attrs, id: false })
                    .collect();
                let body = object_body(krate, &ContainerAttrs::default(), &fields, None)?;
                quote!({ #body })
            }
        };
        let statement = if container.serde.untagged || attrs.untagged {
            quote!(alternatives.variant(#content_schema);)
        } else if let Some(tag) = tag {
            if attrs.other {
                quote!(alternatives.variant(#private::tagged_any(#tag));)
            } else if let Some(content) = content {
                match &variant.fields {
                    Fields::Unit => {
                        quote!(alternatives.variant(#private::tagged(#tag, #name, ::core::option::Option::None));)
                    }
                    _ => quote! {
                        alternatives.variant(#private::adjacent(#tag, #name, #content, #content_schema));
                    },
                }
            } else {
                match &variant.fields {
                    Fields::Unnamed(fields) if fields.unnamed.len() > 1 => {
                        return Err(syn::Error::new(
                            variant.span(),
                            "serde cannot store a tuple variant in an internally tagged enum",
                        ));
                    }
                    Fields::Unit => {
                        quote!(alternatives.variant(#private::tagged(#tag, #name, ::core::option::Option::None));)
                    }
                    _ => quote! {
                        alternatives.variant(#private::tagged(#tag, #name, ::core::option::Option::Some(#content_schema)));
                    },
                }
            }
        } else {
            match &variant.fields {
                Fields::Unit => quote!(alternatives.unit(#name);),
                _ => quote!(alternatives.variant(#private::external(#name, #content_schema));),
            }
        };
        statements.push(statement);
    }
    Ok(quote! {
        let mut alternatives = #private::EnumSchema::new();
        #(#statements)*
        alternatives.finish()
    })
}

/// `true` for a type written `Option<..>`: a field of it may be missing, whatever schema
/// replaces its type's.
fn is_option(ty: &Type) -> bool {
    match ty {
        Type::Path(path) => {
            path.qself.is_none() && path.path.segments.last().is_some_and(|last| last.ident == "Option")
        }
        Type::Group(group) => is_option(&group.elem),
        Type::Paren(paren) => is_option(&paren.elem),
        _ => false,
    }
}
