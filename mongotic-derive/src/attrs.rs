//! Parsing of `#[mongotic(...)]` and of the `#[serde(...)]` options that change stored names.

use proc_macro2::Span;
use syn::meta::ParseNestedMeta;
use syn::spanned::Spanned;
use syn::{Attribute, Expr, ExprLit, ExprUnary, Ident, Lit, LitInt, LitStr, Path, Token, UnOp};

use crate::naming::apply_rename_all;

const CONTAINER_OPTIONS: &str =
    "database, collection, variant_of, index, shard_key, hooks, crate, schema, view, timeseries, capped, clustered";
const INDEX_OPTIONS: &str = "keys, name, unique, sparse, expire_after_secs, partial_filter";
const FIELD_OPTIONS: &str = "id, index, unique, sparse, version, created_at, updated_at, soft_delete, tenant, schema";
const SCHEMA_OPTIONS: &str = "additional, level, action, validator";
const FIELD_SCHEMA_OPTIONS: &str = "any, bson_type, with";
const VIEW_OPTIONS: &str = "on, pipeline";
const TIMESERIES_OPTIONS: &str = "time, meta, granularity, bucket_span_secs, expire_after_secs";
const CAPPED_OPTIONS: &str = "size, max";
const CLUSTERED_OPTIONS: &str = "expire_after_secs";

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
    /// `#[mongotic(schema(...))]`: how the collection's validator is built and applied.
    pub(crate) schema: SchemaAttr,
    /// `view(...)`, `timeseries(...)`, `capped(...)` or `clustered`: the collection's kind.
    pub(crate) kind: Option<KindAttr>,
    /// serde's options that change the stored shape of the type.
    pub(crate) serde: SerdeContainer,
    /// `variant_of = Enum`: the struct is a variant of the polymorphic model `Enum`, and its
    /// model a read-only view of that variant.
    pub(crate) variant_of: Option<Path>,
}

/// `#[mongotic(schema(additional = false, level = "moderate", action = "warn", validator = false))]`.
#[derive(Default)]
pub(crate) struct SchemaAttr {
    /// `additional = false`: fields the model does not declare are refused.
    pub(crate) additional: Option<bool>,
    pub(crate) level: Option<LitStr>,
    pub(crate) action: Option<LitStr>,
    /// `validator = false`: `sync_schema` leaves the collection's validator alone.
    pub(crate) validator: Option<bool>,
}

/// The collection kind a model declares.
pub(crate) enum KindAttr {
    View {
        span: Span,
        on: ViewOn,
        pipeline: Path,
    },
    TimeSeries {
        span: Span,
        time: Ident,
        meta: Option<Ident>,
        granularity: Option<LitStr>,
        bucket_span_secs: Option<LitInt>,
        expire_after_secs: Option<LitInt>,
    },
    Capped {
        span: Span,
        size: LitInt,
        max: Option<LitInt>,
    },
    Clustered {
        span: Span,
        expire_after_secs: Option<LitInt>,
    },
}

impl KindAttr {
    pub(crate) fn span(&self) -> Span {
        match self {
            KindAttr::View { span, .. }
            | KindAttr::TimeSeries { span, .. }
            | KindAttr::Capped { span, .. }
            | KindAttr::Clustered { span, .. } => *span,
        }
    }
}

/// What a view is defined on: another model, or a collection by name.
pub(crate) enum ViewOn {
    Model(Path),
    Collection(LitStr),
}

/// serde's container options that change what is stored.
#[derive(Default)]
pub(crate) struct SerdeContainer {
    /// `default`: every field may be missing.
    pub(crate) default: bool,
    /// `deny_unknown_fields`: the type cannot read fields it does not declare.
    pub(crate) deny_unknown_fields: bool,
    pub(crate) tag: Option<String>,
    pub(crate) content: Option<String>,
    pub(crate) untagged: bool,
    pub(crate) transparent: bool,
    pub(crate) rename_all_fields: Option<String>,
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
    /// serde's `default`: the field may be missing from a stored document.
    pub(crate) default: bool,
    /// serde's `skip_serializing_if`: the field may be left out when written.
    pub(crate) skip_serializing_if: bool,
    /// serde's `with`, `serialize_with` or `deserialize_with`: the stored form is not the type's.
    pub(crate) with: bool,
    /// `#[mongotic(schema(...))]` on the field.
    pub(crate) schema: FieldSchemaAttr,
}

/// `#[mongotic(schema(any))]`, `schema(bson_type = "date")` or `schema(with = path)` on a field.
#[derive(Default)]
pub(crate) enum FieldSchemaAttr {
    /// From the field's type.
    #[default]
    Derived,
    /// Any value.
    Any,
    /// One BSON type (or several, comma separated).
    BsonType(LitStr),
    /// A function returning the schema document.
    With(Path),
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
                } else if meta.path.is_ident("variant_of") {
                    parsed.variant_of = Some(meta.value()?.parse()?);
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
                } else if meta.path.is_ident("schema") {
                    parse_schema(&meta, &mut parsed.schema)?;
                } else if meta.path.is_ident("view")
                    || meta.path.is_ident("timeseries")
                    || meta.path.is_ident("capped")
                    || meta.path.is_ident("clustered")
                {
                    let kind = parse_kind(&meta)?;
                    if parsed.kind.is_some() {
                        return Err(
                            meta.error("a collection has one kind: view, timeseries, capped or clustered, not several")
                        );
                    }
                    parsed.kind = Some(kind);
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
                } else if meta.path.is_ident("rename_all_fields") {
                    let rule = serde_name(&meta)?;
                    if apply_rename_all(&rule, "x").is_none() {
                        return Err(meta.error(format!("unknown serde rename_all_fields rule `{rule}`")));
                    }
                    parsed.serde.rename_all_fields = Some(rule);
                    Ok(())
                } else if meta.path.is_ident("default") {
                    parsed.serde.default = true;
                    skip_value(&meta)
                } else if meta.path.is_ident("deny_unknown_fields") {
                    parsed.serde.deny_unknown_fields = true;
                    Ok(())
                } else if meta.path.is_ident("tag") {
                    parsed.serde.tag = Some(meta.value()?.parse::<LitStr>()?.value());
                    Ok(())
                } else if meta.path.is_ident("content") {
                    parsed.serde.content = Some(meta.value()?.parse::<LitStr>()?.value());
                    Ok(())
                } else if meta.path.is_ident("untagged") {
                    parsed.serde.untagged = true;
                    Ok(())
                } else if meta.path.is_ident("transparent") {
                    parsed.serde.transparent = true;
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
                } else if meta.path.is_ident("schema") {
                    parsed.schema = parse_field_schema(&meta)?;
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
                } else if meta.path.is_ident("default") {
                    parsed.default = true;
                    skip_value(&meta)?;
                } else if meta.path.is_ident("skip_serializing_if") {
                    parsed.skip_serializing_if = true;
                    skip_value(&meta)?;
                } else if meta.path.is_ident("with")
                    || meta.path.is_ident("serialize_with")
                    || meta.path.is_ident("deserialize_with")
                {
                    parsed.with = true;
                    skip_value(&meta)?;
                } else {
                    skip_value(&meta)?;
                }
                Ok(())
            })?;
        }
    }
    Ok(parsed)
}

fn parse_bool(meta: &ParseNestedMeta<'_>) -> syn::Result<bool> {
    Ok(meta.value()?.parse::<syn::LitBool>()?.value)
}

fn one_of(meta: &ParseNestedMeta<'_>, allowed: &[&str], what: &str) -> syn::Result<LitStr> {
    let value: LitStr = meta.value()?.parse()?;
    if !allowed.contains(&value.value().as_str()) {
        return Err(syn::Error::new(
            value.span(),
            format!("unknown {what} `{}`; expected one of: {}", value.value(), allowed.join(", ")),
        ));
    }
    Ok(value)
}

/// `schema(additional = false, level = "...", action = "...", validator = false)`.
fn parse_schema(meta: &ParseNestedMeta<'_>, schema: &mut SchemaAttr) -> syn::Result<()> {
    meta.parse_nested_meta(|option| {
        if option.path.is_ident("additional") {
            schema.additional = Some(parse_bool(&option)?);
        } else if option.path.is_ident("level") {
            schema.level = Some(one_of(&option, &["strict", "moderate", "off"], "validation level")?);
        } else if option.path.is_ident("action") {
            schema.action = Some(one_of(&option, &["error", "warn", "errorAndLog"], "validation action")?);
        } else if option.path.is_ident("validator") {
            schema.validator = Some(parse_bool(&option)?);
        } else {
            return Err(unknown(&option, "schema option", SCHEMA_OPTIONS));
        }
        Ok(())
    })
}

/// `schema(any)`, `schema(bson_type = "date")` or `schema(with = path)` on a field.
fn parse_field_schema(meta: &ParseNestedMeta<'_>) -> syn::Result<FieldSchemaAttr> {
    let mut parsed = FieldSchemaAttr::Derived;
    meta.parse_nested_meta(|option| {
        if option.path.is_ident("any") {
            parsed = FieldSchemaAttr::Any;
        } else if option.path.is_ident("bson_type") {
            parsed = FieldSchemaAttr::BsonType(option.value()?.parse()?);
        } else if option.path.is_ident("with") {
            parsed = FieldSchemaAttr::With(option.value()?.parse()?);
        } else {
            return Err(unknown(&option, "field schema option", FIELD_SCHEMA_OPTIONS));
        }
        Ok(())
    })?;
    Ok(parsed)
}

/// `view(on = Model, pipeline = path)`, `timeseries(time = field, ...)`, `capped(size = N, max = N)`
/// or `clustered` / `clustered(expire_after_secs = N)`.
fn parse_kind(meta: &ParseNestedMeta<'_>) -> syn::Result<KindAttr> {
    let span = meta.path.span();
    let has_options = meta.input.peek(syn::token::Paren);
    if meta.path.is_ident("view") {
        let (mut on, mut pipeline) = (None, None);
        meta.parse_nested_meta(|option| {
            if option.path.is_ident("on") {
                let value = option.value()?;
                on = Some(if value.peek(LitStr) {
                    ViewOn::Collection(value.parse()?)
                } else {
                    ViewOn::Model(value.parse()?)
                });
            } else if option.path.is_ident("pipeline") {
                pipeline = Some(option.value()?.parse()?);
            } else {
                return Err(unknown(&option, "view option", VIEW_OPTIONS));
            }
            Ok(())
        })?;
        let on =
            on.ok_or_else(|| syn::Error::new(span, "a view needs what it reads: view(on = Model, pipeline = f)"))?;
        let pipeline = pipeline.ok_or_else(|| {
            syn::Error::new(
                span,
                "a view needs a pipeline: view(on = Model, pipeline = f), with fn f() -> Vec<Document>",
            )
        })?;
        return Ok(KindAttr::View { span, on, pipeline });
    }
    if meta.path.is_ident("timeseries") {
        let (mut time, mut meta_field, mut granularity, mut bucket, mut expire) = (None, None, None, None, None);
        meta.parse_nested_meta(|option| {
            if option.path.is_ident("time") {
                time = Some(option.value()?.parse()?);
            } else if option.path.is_ident("meta") {
                meta_field = Some(option.value()?.parse()?);
            } else if option.path.is_ident("granularity") {
                granularity = Some(one_of(&option, &["seconds", "minutes", "hours"], "granularity")?);
            } else if option.path.is_ident("bucket_span_secs") {
                bucket = Some(option.value()?.parse()?);
            } else if option.path.is_ident("expire_after_secs") {
                expire = Some(option.value()?.parse()?);
            } else {
                return Err(unknown(&option, "timeseries option", TIMESERIES_OPTIONS));
            }
            Ok(())
        })?;
        let time = time.ok_or_else(|| {
            syn::Error::new(span, "a time-series collection needs its time field: timeseries(time = field)")
        })?;
        if granularity.is_some() && bucket.is_some() {
            return Err(syn::Error::new(
                span,
                "give a time series either a granularity or a bucket_span_secs, not both",
            ));
        }
        return Ok(KindAttr::TimeSeries {
            span,
            time,
            meta: meta_field,
            granularity,
            bucket_span_secs: bucket,
            expire_after_secs: expire,
        });
    }
    if meta.path.is_ident("capped") {
        let (mut size, mut max) = (None, None);
        meta.parse_nested_meta(|option| {
            if option.path.is_ident("size") {
                size = Some(option.value()?.parse()?);
            } else if option.path.is_ident("max") {
                max = Some(option.value()?.parse()?);
            } else {
                return Err(unknown(&option, "capped option", CAPPED_OPTIONS));
            }
            Ok(())
        })?;
        let size = size.ok_or_else(|| {
            syn::Error::new(span, "a capped collection needs its size in bytes: capped(size = 1048576)")
        })?;
        return Ok(KindAttr::Capped { span, size, max });
    }
    let mut expire = None;
    if has_options {
        meta.parse_nested_meta(|option| {
            if option.path.is_ident("expire_after_secs") {
                expire = Some(option.value()?.parse()?);
            } else {
                return Err(unknown(&option, "clustered option", CLUSTERED_OPTIONS));
            }
            Ok(())
        })?;
    }
    Ok(KindAttr::Clustered { span, expire_after_secs: expire })
}

/// serde's options on an enum variant.
#[derive(Default)]
pub(crate) struct VariantAttrs {
    pub(crate) rename: Option<String>,
    /// `skip`: never written nor read.
    pub(crate) skip: bool,
    /// `other`: the variant read for any unknown tag.
    pub(crate) other: bool,
    /// `untagged` on the variant: stored as its content alone.
    pub(crate) untagged: bool,
    /// `rename_all` on the variant: the convention of its fields' names.
    pub(crate) rename_all: Option<String>,
}

pub(crate) fn parse_variant(attrs: &[Attribute]) -> syn::Result<VariantAttrs> {
    let mut parsed = VariantAttrs::default();
    for attr in attrs.iter().filter(|attr| attr.path().is_ident("serde")) {
        attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("rename") {
                parsed.rename = Some(serde_name(&meta)?);
            } else if meta.path.is_ident("rename_all") {
                let rule = serde_name(&meta)?;
                if apply_rename_all(&rule, "x").is_none() {
                    return Err(meta.error(format!("unknown serde rename_all rule `{rule}`")));
                }
                parsed.rename_all = Some(rule);
            } else if meta.path.is_ident("skip") {
                parsed.skip = true;
            } else if meta.path.is_ident("other") {
                parsed.other = true;
            } else if meta.path.is_ident("untagged") {
                parsed.untagged = true;
            } else {
                skip_value(&meta)?;
            }
            Ok(())
        })?;
    }
    Ok(parsed)
}
