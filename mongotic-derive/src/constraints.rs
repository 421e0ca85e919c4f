//! The `#[garde(...)]` rules a field declares, as `$jsonSchema` keywords where the schema can
//! express them soundly (never refusing a value garde accepts).
//!
//! Expressed: `length` (strings, arrays, maps; per garde's counting mode), `range`, `pattern`
//! (a literal), `ascii`, `prefix`, `suffix` and `contains` (literals), `required`, and
//! `inner(...)` (the same rules on the items of an array or the values of a map). Every other
//! rule (`email`, `url`, `ip`, `alphanumeric`, `credit_card`, `phone_number`, `custom`,
//! `matches`, a `pattern` given as a path, arguments that are not literals where a literal is
//! needed) is checked by garde alone before writing.

use proc_macro2::TokenStream;
use quote::quote;
use syn::meta::ParseNestedMeta;
use syn::{Attribute, Expr, ExprLit, Lit, LitStr, Token};

/// What a field's rules add to its schema node.
#[derive(Default)]
pub(crate) struct Constraints {
    /// Statements on `node: &mut Document`.
    pub(crate) statements: Vec<TokenStream>,
    /// `required`: the field must be present and not null.
    pub(crate) required: bool,
}

/// The rules of `attrs` (a field's `#[garde(...)]` attributes).
pub(crate) fn of(krate: &TokenStream, attrs: &[Attribute]) -> syn::Result<Constraints> {
    let mut constraints = Constraints::default();
    for attr in attrs.iter().filter(|attr| attr.path().is_ident("garde")) {
        attr.parse_nested_meta(|rule| {
            let statement = rule_statement(krate, &rule, &mut constraints.required)?;
            constraints.statements.extend(statement);
            Ok(())
        })?;
    }
    Ok(constraints)
}

/// The statement of one rule (or none when the schema cannot express it), consuming its
/// arguments.
fn rule_statement(
    krate: &TokenStream,
    rule: &ParseNestedMeta<'_>,
    required: &mut bool,
) -> syn::Result<Option<TokenStream>> {
    let private = quote!(#krate::schema::__private);
    let name = rule.path.get_ident().map(ToString::to_string).unwrap_or_default();
    Ok(match name.as_str() {
        "length" => {
            let (mut min, mut max, mut unit) = (None, None, quote!(Bytes));
            rule.parse_nested_meta(|option| {
                let option_name = option.path.get_ident().map(ToString::to_string).unwrap_or_default();
                match option_name.as_str() {
                    "min" => min = Some(option.value()?.parse::<Expr>()?),
                    "max" => max = Some(option.value()?.parse::<Expr>()?),
                    "equal" => {
                        let value: Expr = option.value()?.parse()?;
                        min = Some(value.clone());
                        max = Some(value);
                    }
                    "simple" | "bytes" => unit = quote!(Bytes),
                    "chars" => unit = quote!(Chars),
                    "graphemes" => unit = quote!(Graphemes),
                    "utf16" => unit = quote!(Utf16),
                    _ => skip(&option)?,
                }
                Ok(())
            })?;
            let min = optional(min.map(|min| quote!((#min) as u64)));
            let max = optional(max.map(|max| quote!((#max) as u64)));
            Some(quote!(#private::length(node, #min, #max, #private::LengthUnit::#unit);))
        }
        "range" => {
            let (mut min, mut max) = (None, None);
            rule.parse_nested_meta(|option| {
                if option.path.is_ident("min") {
                    min = Some(option.value()?.parse::<Expr>()?);
                } else if option.path.is_ident("max") {
                    max = Some(option.value()?.parse::<Expr>()?);
                } else if option.path.is_ident("equal") {
                    let value: Expr = option.value()?.parse()?;
                    min = Some(value.clone());
                    max = Some(value);
                } else {
                    skip(&option)?;
                }
                Ok(())
            })?;
            let min = optional(min.map(|min| quote!(#private::bound(&(#min)))));
            let max = optional(max.map(|max| quote!(#private::bound(&(#max)))));
            Some(quote!(#private::range(node, #min, #max);))
        }
        "pattern" => literal_argument(rule)?.map(|pattern| quote!(#private::pattern(node, #pattern);)),
        "prefix" => literal_argument(rule)?.map(|text| quote!(#private::affix(node, #private::Affix::Prefix, #text);)),
        "suffix" => literal_argument(rule)?.map(|text| quote!(#private::affix(node, #private::Affix::Suffix, #text);)),
        "contains" => {
            literal_argument(rule)?.map(|text| quote!(#private::affix(node, #private::Affix::Contains, #text);))
        }
        "ascii" => Some(quote!(#private::pattern(node, "^[\\x00-\\x7F]*$");)),
        "required" => {
            *required = true;
            Some(quote!(#private::not_null(node);))
        }
        "inner" => {
            let mut inner = Vec::new();
            let mut ignored = false;
            rule.parse_nested_meta(|nested| {
                inner.extend(rule_statement(krate, &nested, &mut ignored)?);
                Ok(())
            })?;
            Some(quote! {
                if let ::core::option::Option::Some(node) = #private::inner(node) {
                    #(#inner)*
                }
            })
        }
        _ => {
            skip(rule)?;
            None
        }
    })
}

fn optional(value: Option<TokenStream>) -> TokenStream {
    match value {
        Some(value) => quote!(::core::option::Option::Some(#value)),
        None => quote!(::core::option::Option::None),
    }
}

/// The string literal argument of a rule such as `pattern("...")`, or `None` when the argument
/// is not a literal (it is consumed either way).
fn literal_argument(rule: &ParseNestedMeta<'_>) -> syn::Result<Option<LitStr>> {
    if !rule.input.peek(syn::token::Paren) {
        return Ok(None);
    }
    let content;
    syn::parenthesized!(content in rule.input);
    let argument: Expr = content.parse()?;
    while !content.is_empty() {
        content.parse::<Token![,]>()?;
        if !content.is_empty() {
            content.parse::<Expr>()?;
        }
    }
    Ok(match argument {
        Expr::Lit(ExprLit { lit: Lit::Str(text), .. }) => Some(text),
        _ => None,
    })
}

/// Consumes the arguments of a rule or option this module does not read.
fn skip(meta: &ParseNestedMeta<'_>) -> syn::Result<()> {
    if meta.input.peek(Token![=]) {
        meta.value()?.parse::<Expr>()?;
    } else if meta.input.peek(syn::token::Paren) {
        let content;
        syn::parenthesized!(content in meta.input);
        content.parse::<TokenStream>()?;
    }
    Ok(())
}
