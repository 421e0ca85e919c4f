//! serde's `rename_all` conventions, applied to Rust field names.

/// The stored name of a snake_case field under a serde `rename_all` rule, or `None` for an
/// unknown rule.
pub(crate) fn apply_rename_all(rule: &str, field: &str) -> Option<String> {
    let words = || field.split('_').filter(|word| !word.is_empty());
    let capitalized = |word: &str| {
        let mut chars = word.chars();
        match chars.next() {
            Some(first) => first.to_uppercase().chain(chars).collect::<String>(),
            None => String::new(),
        }
    };
    Some(match rule {
        "lowercase" => field.to_lowercase(),
        "UPPERCASE" => field.to_uppercase(),
        "PascalCase" => words().map(capitalized).collect(),
        "camelCase" => {
            let pascal: String = words().map(capitalized).collect();
            let mut chars = pascal.chars();
            match chars.next() {
                Some(first) => first.to_lowercase().chain(chars).collect(),
                None => String::new(),
            }
        }
        "snake_case" => field.to_owned(),
        "SCREAMING_SNAKE_CASE" => field.to_uppercase(),
        "kebab-case" => field.replace('_', "-"),
        "SCREAMING-KEBAB-CASE" => field.to_uppercase().replace('_', "-"),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::apply_rename_all;

    #[test]
    fn conventions() {
        let cases = [
            ("lowercase", "created_at"),
            ("UPPERCASE", "CREATED_AT"),
            ("PascalCase", "CreatedAt"),
            ("camelCase", "createdAt"),
            ("snake_case", "created_at"),
            ("SCREAMING_SNAKE_CASE", "CREATED_AT"),
            ("kebab-case", "created-at"),
            ("SCREAMING-KEBAB-CASE", "CREATED-AT"),
        ];
        for (rule, expected) in cases {
            assert_eq!(apply_rename_all(rule, "created_at").as_deref(), Some(expected), "{rule}");
        }
        assert_eq!(apply_rename_all("Title Case", "x"), None);
    }
}

/// The name serde stores a variant under (its tag): its own `rename`, else the enum's
/// `rename_all` rule applied to its Rust name, else that name.
pub(crate) fn variant_name(ident: &syn::Ident, rename: Option<&String>, rename_all: Option<&String>) -> String {
    let rust_name = syn::ext::IdentExt::unraw(ident).to_string();
    match (rename, rename_all) {
        (Some(rename), _) => rename.clone(),
        (None, Some(rule)) => apply_rename_all_variant(rule, &rust_name).unwrap_or(rust_name),
        (None, None) => rust_name,
    }
}

/// The stored name of a PascalCase enum variant under a serde `rename_all` rule, or `None` for
/// an unknown rule.
pub(crate) fn apply_rename_all_variant(rule: &str, variant: &str) -> Option<String> {
    let snake = || {
        let mut out = String::new();
        for (index, ch) in variant.char_indices() {
            if index > 0 && ch.is_uppercase() {
                out.push('_');
            }
            out.extend(ch.to_lowercase());
        }
        out
    };
    Some(match rule {
        "lowercase" => variant.to_lowercase(),
        "UPPERCASE" => variant.to_uppercase(),
        "PascalCase" => variant.to_owned(),
        "camelCase" => {
            let mut chars = variant.chars();
            match chars.next() {
                Some(first) => first.to_lowercase().chain(chars).collect(),
                None => String::new(),
            }
        }
        "snake_case" => snake(),
        "SCREAMING_SNAKE_CASE" => snake().to_uppercase(),
        "kebab-case" => snake().replace('_', "-"),
        "SCREAMING-KEBAB-CASE" => snake().to_uppercase().replace('_', "-"),
        _ => return None,
    })
}

#[cfg(test)]
mod variant_tests {
    use super::apply_rename_all_variant;

    #[test]
    fn variant_conventions() {
        let cases = [
            ("lowercase", "inprogress"),
            ("UPPERCASE", "INPROGRESS"),
            ("PascalCase", "InProgress"),
            ("camelCase", "inProgress"),
            ("snake_case", "in_progress"),
            ("SCREAMING_SNAKE_CASE", "IN_PROGRESS"),
            ("kebab-case", "in-progress"),
            ("SCREAMING-KEBAB-CASE", "IN-PROGRESS"),
        ];
        for (rule, expected) in cases {
            assert_eq!(apply_rename_all_variant(rule, "InProgress").as_deref(), Some(expected), "{rule}");
        }
    }
}
