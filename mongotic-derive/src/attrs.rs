//! Parsing of `#[mongotic(...)]` and of the `#[serde(...)]` options that change stored names.

use proc_macro2::Span;
use syn::meta::ParseNestedMeta;
use syn::spanned::Spanned;
use syn::{Attribute, Expr, ExprLit, ExprUnary, Ident, Lit, LitInt, LitStr, Path, Token, UnOp};

use crate::naming::apply_rename_all;

const CONTAINER_OPTIONS: &str = "database, collection, index, shard_key, hooks, crate";
const INDEX_OPTIONS: &str = "keys, name, unique, sparse, expire_after_secs, partial_filter";
const FIELD_OPTIONS: &str = "id, index, unique, sparse, version, created_at, updated_at, soft_delete, tenant";

/// The struct-level options.
#[derive(Default)]
pub(crate) struct ContainerAttrs {
    pub(crate) database: Option<LitStr>,
    pub(crate) collection: Option<LitStr>,
    pub(crate) indexes: Vec<IndexAttr>,
    pub(crate) krate: Option<Path>,
    pub(crate) rename_all: Option<String>,
    /// `hooks`: the model implements `mongotic::Hooks` itself.
    pub(crate) hooks: bool,
    /// The struct carries `#[garde(...)]` options: it derives `garde::Validate`.
    pub(crate) garde: bool,
    /// `shard_key(field, ...)`: the fields the collection is sharded on, in order.
    pub(crate) shard_key: Option<(Span, Vec<IndexKeyName>)>,
}

/// One `index(...)` declaration.
pub(crate) struct IndexAttr {
    pub(crate) span: Span,
    pub(crate) keys: Vec<(IndexKeyName, IndexDirection)>,
    pub(crate) name: Option<LitStr>,
    pub(crate) unique: bool,
    pub(crate) sparse: bool,
    pub(crate) expire_after_secs: Option<LitInt>,
    pub(crate) partial_filter: Option<Path>,
}

/// A key of an index: a Rust field name or a stored path written as a string.
pub(crate) enum IndexKeyName {
    Field(Ident),
    Path(LitStr),
}

#[derive(Clone, Copy)]
pub(crate) enum IndexDirection {
    Ascending,
    Descending,
    Text,
    Hashed,
    Sphere2d,
}

/// The field-level options.
#[derive(Default)]
pub(crate) struct FieldAttrs {
    pub(crate) id: bool,
    pub(crate) index: bool,
    pub(crate) unique: bool,
    pub(crate) sparse: bool,
    pub(crate) rename: Option<String>,
    pub(crate) skip: bool,
    pub(crate) flatten: bool,
    /// `version`: the optimistic-concurrency counter.
    pub(crate) version: bool,
    /// `created_at` / `updated_at`: timestamps the flush sets.
    pub(crate) created_at: bool,
    pub(crate) updated_at: bool,
    /// The field's `#[garde(...)]` attributes, copied onto the per-field check of bulk updates.
    pub(crate) garde: Vec<Attribute>,
    /// `soft_delete`: the `Option<DateTime>` a delete sets instead of removing the document.
    pub(crate) soft_delete: bool,
    /// `tenant`: the field a session bound to a tenant filters and stamps.
    pub(crate) tenant: bool,
}

fn unknown(meta: &ParseNestedMeta<'_>, what: &str, expected: &str) -> syn::Error {
    let name = meta.path.get_ident().map_or_else(|| "?".to_owned(), Ident::to_string);
    meta.error(format!("unknown {what} `{name}`; expected one of: {expected}"))
}

/// Consumes the value of a serde option mongotic does not need (`default`, `with = ".."`,
/// `bound(..)`…).
fn skip_value(meta: &ParseNestedMeta<'_>) -> syn::Result<()> {
    if meta.input.peek(Token![=]) {
        meta.value()?.parse::<Expr>()?;
    } else if meta.input.peek(syn::token::Paren) {
        meta.parse_nested_meta(|inner| skip_value(&inner))?;
    }
    Ok(())
}

/// A serde name option: `= "name"` or `(serialize = "a", deserialize = "a")`. The two
/// directions must agree, since one stored name serves both reading and writing.
fn serde_name(meta: &ParseNestedMeta<'_>) -> syn::Result<String> {
    if meta.input.peek(Token![=]) {
        return Ok(meta.value()?.parse::<LitStr>()?.value());
    }
    let mut serialize = None;
    let mut deserialize = None;
    meta.parse_nested_meta(|inner| {
        let value = inner.value()?.parse::<LitStr>()?.value();
        if inner.path.is_ident("serialize") {
            serialize = Some(value);
        } else if inner.path.is_ident("deserialize") {
            deserialize = Some(value);
        }
        Ok(())
    })?;
    match (serialize, deserialize) {
        (Some(a), Some(b)) if a == b => Ok(a),
        (Some(a), None) | (None, Some(a)) => Ok(a),
        _ => Err(meta.error("mongotic needs one stored name per field: give serialize and deserialize the same name")),
    }
}

pub(crate) fn parse_container(attrs: &[Attribute]) -> syn::Result<ContainerAttrs> {
    let mut parsed = ContainerAttrs::default();
    for attr in attrs {
        if attr.path().is_ident("mongotic") {
            attr.parse_nested_meta(|meta| {
                if meta.path.is_ident("database") {
                    parsed.database = Some(meta.value()?.parse()?);
                } else if meta.path.is_ident("collection") {
                    parsed.collection = Some(meta.value()?.parse()?);
                } else if meta.path.is_ident("crate") {
                    let path: LitStr = meta.value()?.parse()?;
                    parsed.krate = Some(path.parse()?);
                } else if meta.path.is_ident("index") {
                    parsed.indexes.push(parse_index(&meta)?);
                } else if meta.path.is_ident("hooks") {
                    parsed.hooks = true;
                } else if meta.path.is_ident("shard_key") {
                    let span = meta.path.span();
                    let content;
                    syn::parenthesized!(content in meta.input);
                    let mut keys = Vec::new();
                    while !content.is_empty() {
                        keys.push(if content.peek(LitStr) {
                            IndexKeyName::Path(content.parse()?)
                        } else {
                            IndexKeyName::Field(content.parse()?)
                        });
                        if !content.is_empty() {
                            content.parse::<Token![,]>()?;
                        }
                    }
                    if keys.is_empty() {
                        return Err(meta.error("a shard key names at least one field"));
                    }
                    parsed.shard_key = Some((span, keys));
                } else {
                    return Err(unknown(&meta, "mongotic option", CONTAINER_OPTIONS));
                }
                Ok(())
            })?;
        } else if attr.path().is_ident("garde") {
            parsed.garde = true;
        } else if attr.path().is_ident("serde") {
            attr.parse_nested_meta(|meta| {
                if meta.path.is_ident("rename_all") {
                    let rule = serde_name(&meta)?;
                    if apply_rename_all(&rule, "x").is_none() {
                        return Err(meta.error(format!("unknown serde rename_all rule `{rule}`")));
                    }
                    parsed.rename_all = Some(rule);
                    Ok(())
                } else {
                    skip_value(&meta)
                }
            })?;
        }
    }
    Ok(parsed)
}

fn parse_index(meta: &ParseNestedMeta<'_>) -> syn::Result<IndexAttr> {
    let mut index = IndexAttr {
        span: meta.path.span(),
        keys: Vec::new(),
        name: None,
        unique: false,
        sparse: false,
        expire_after_secs: None,
        partial_filter: None,
    };
    meta.parse_nested_meta(|option| {
        if option.path.is_ident("keys") {
            parse_keys(&option, &mut index)?;
        } else if option.path.is_ident("name") {
            index.name = Some(option.value()?.parse()?);
        } else if option.path.is_ident("unique") {
            index.unique = true;
        } else if option.path.is_ident("sparse") {
            index.sparse = true;
        } else if option.path.is_ident("expire_after_secs") {
            index.expire_after_secs = Some(option.value()?.parse()?);
        } else if option.path.is_ident("partial_filter") {
            index.partial_filter = Some(option.value()?.parse()?);
        } else {
            return Err(unknown(&option, "index option", INDEX_OPTIONS));
        }
        Ok(())
    })?;
    if index.keys.is_empty() {
        return Err(syn::Error::new(index.span, "an index needs keys: index(keys(field = 1, other = -1))"));
    }
    Ok(index)
}

/// `keys(created_at = -1, "address.city" = 1, ...)`: field names or string paths, each with a
/// direction. (String keys are not paths, so `parse_nested_meta` cannot read the list.)
fn parse_keys(option: &ParseNestedMeta<'_>, index: &mut IndexAttr) -> syn::Result<()> {
    let content;
    syn::parenthesized!(content in option.input);
    while !content.is_empty() {
        let name = if content.peek(LitStr) {
            IndexKeyName::Path(content.parse()?)
        } else {
            IndexKeyName::Field(content.parse()?)
        };
        content.parse::<Token![=]>()?;
        let value: Expr = content.parse()?;
        index.keys.push((name, direction_of(&value)?));
        if !content.is_empty() {
            content.parse::<Token![,]>()?;
        }
    }
    Ok(())
}

fn direction_of(value: &Expr) -> syn::Result<IndexDirection> {
    let invalid = || syn::Error::new(value.span(), "an index direction is 1, -1, \"text\", \"hashed\" or \"2dsphere\"");
    match value {
        Expr::Lit(ExprLit { lit: Lit::Int(int), .. }) if int.base10_digits() == "1" => Ok(IndexDirection::Ascending),
        Expr::Unary(ExprUnary { op: UnOp::Neg(_), expr, .. }) => match expr.as_ref() {
            Expr::Lit(ExprLit { lit: Lit::Int(int), .. }) if int.base10_digits() == "1" => {
                Ok(IndexDirection::Descending)
            }
            _ => Err(invalid()),
        },
        Expr::Lit(ExprLit { lit: Lit::Str(text), .. }) => match text.value().as_str() {
            "text" => Ok(IndexDirection::Text),
            "hashed" => Ok(IndexDirection::Hashed),
            "2dsphere" => Ok(IndexDirection::Sphere2d),
            _ => Err(invalid()),
        },
        _ => Err(invalid()),
    }
}

pub(crate) fn parse_field(attrs: &[Attribute]) -> syn::Result<FieldAttrs> {
    let mut parsed = FieldAttrs::default();
    for attr in attrs {
        if attr.path().is_ident("mongotic") {
            attr.parse_nested_meta(|meta| {
                if meta.path.is_ident("id") {
                    parsed.id = true;
                } else if meta.path.is_ident("index") {
                    parsed.index = true;
                } else if meta.path.is_ident("unique") {
                    parsed.unique = true;
                } else if meta.path.is_ident("sparse") {
                    parsed.sparse = true;
                } else if meta.path.is_ident("version") {
                    parsed.version = true;
                } else if meta.path.is_ident("created_at") {
                    parsed.created_at = true;
                } else if meta.path.is_ident("updated_at") {
                    parsed.updated_at = true;
                } else if meta.path.is_ident("soft_delete") {
                    parsed.soft_delete = true;
                } else if meta.path.is_ident("tenant") {
                    parsed.tenant = true;
                } else {
                    return Err(unknown(&meta, "mongotic field option", FIELD_OPTIONS));
                }
                Ok(())
            })?;
        } else if attr.path().is_ident("garde") {
            parsed.garde.push(attr.clone());
        } else if attr.path().is_ident("serde") {
            attr.parse_nested_meta(|meta| {
                if meta.path.is_ident("rename") {
                    parsed.rename = Some(serde_name(&meta)?);
                } else if meta.path.is_ident("skip") || meta.path.is_ident("skip_serializing") {
                    parsed.skip = true;
                } else if meta.path.is_ident("flatten") {
                    parsed.flatten = true;
                } else {
                    skip_value(&meta)?;
                }
                Ok(())
            })?;
        }
    }
    Ok(parsed)
}
