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
