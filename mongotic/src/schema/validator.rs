//! Validators: how the server applies a model's schema, and what it says when it refuses a
//! document (the `errInfo` of error 121, `DocumentValidationFailure`).

use std::fmt;

use bson::{Bson, Document};

/// How the collection's validator is applied: `#[mongotic(schema(level = "...", action = "..."))]`.
///
/// ```
/// use mongotic::prelude::*;
/// use mongotic::schema::{Validation, ValidationAction, ValidationLevel};
///
/// #[derive(Debug, Serialize, Deserialize, Model)]
/// #[mongotic(collection = "logs", schema(level = "moderate", action = "warn"))]
/// struct Log { #[serde(rename = "_id")] id: Option<ObjectId>, line: String }
///
/// let validation = Log::meta().validation.expect("a validator");
/// assert_eq!(validation, Validation { level: ValidationLevel::Moderate, action: ValidationAction::Warn });
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Validation {
    /// Which writes are checked.
    pub level: ValidationLevel,
    /// What happens to a document that fails.
    pub action: ValidationAction,
}

/// Which writes the server checks (`validationLevel`).
///
/// ```
/// assert_eq!(mongotic::schema::ValidationLevel::default().as_str(), "strict");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ValidationLevel {
    /// Every insert and update (the server's default).
    #[default]
    Strict,
    /// Inserts, and updates of documents that were valid before.
    Moderate,
    /// None: the validator is stored but not applied.
    Off,
}

/// What the server does with a document that fails (`validationAction`).
///
/// ```
/// assert_eq!(mongotic::schema::ValidationAction::default().as_str(), "error");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ValidationAction {
    /// Refuses the write with error 121 (the server's default).
    #[default]
    Error,
    /// Writes it and logs a warning.
    Warn,
    /// Refuses it and logs it too (MongoDB 8.1+).
    ErrorAndLog,
}

impl ValidationLevel {
    /// The server's name for it.
    ///
    /// ```
    /// assert_eq!(mongotic::schema::ValidationLevel::Moderate.as_str(), "moderate");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            ValidationLevel::Strict => "strict",
            ValidationLevel::Moderate => "moderate",
            ValidationLevel::Off => "off",
        }
    }
}

impl ValidationAction {
    /// The server's name for it.
    ///
    /// ```
    /// assert_eq!(mongotic::schema::ValidationAction::Warn.as_str(), "warn");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            ValidationAction::Error => "error",
            ValidationAction::Warn => "warn",
            ValidationAction::ErrorAndLog => "errorAndLog",
        }
    }
}

/// One rule of the collection's validator that a refused document failed, as the server's
/// `errInfo` explains it.
///
/// ```
/// use mongotic::schema::RuleFailure;
/// let failure = RuleFailure { path: "age".into(), rule: "minimum".into(), reason: "comparison failed".into(), value: None };
/// assert_eq!(failure.to_string(), "age: minimum (comparison failed)");
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct RuleFailure {
    /// The stored path of the value that failed (dotted, with array indexes); empty for the
    /// document itself.
    pub path: String,
    /// The schema keyword that failed (`minimum`, `bsonType`, `required`, ...).
    pub rule: String,
    /// The server's reason, with the missing or extra fields for `required` and
    /// `additionalProperties`.
    pub reason: String,
    /// The value the server considered, when it says.
    pub value: Option<Bson>,
}

impl fmt::Display for RuleFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.path.is_empty() {
            write!(f, "{}: ", self.path)?;
        }
        write!(f, "{}", self.rule)?;
        if !self.reason.is_empty() {
            write!(f, " ({})", self.reason)?;
        }
        if let Some(value) = &self.value {
            write!(f, ", found {value}")?;
        }
        Ok(())
    }
}

/// The failures the `errInfo` of a refused write lists (its `details`).
pub(crate) fn failures(info: &Document) -> Vec<RuleFailure> {
    let mut found = Vec::new();
    if let Ok(details) = info.get_document("details") {
        walk(details, "", &mut found, 0);
    }
    found
}

fn join(path: &str, name: &str) -> String {
    if path.is_empty() { name.to_owned() } else { format!("{path}.{name}") }
}

fn names(list: Option<&Bson>) -> String {
    match list {
        Some(Bson::Array(values)) => values.iter().filter_map(Bson::as_str).collect::<Vec<_>>().join(", "),
        _ => String::new(),
    }
}

/// Collects the failed rules of one `errInfo` node (an operator and what it found), at
/// `path`. The server nests them as deep as the schema; the walk stops at 100 levels.
fn walk(node: &Document, path: &str, found: &mut Vec<RuleFailure>, depth: usize) {
    if depth > 100 {
        return;
    }
    let operator = node.get_str("operatorName").unwrap_or_default();
    let mut nested = false;
    for key in ["schemaRulesNotSatisfied", "details"] {
        if let Ok(children) = node.get_array(key) {
            let child_path = match node.get("itemIndex") {
                Some(index @ (Bson::Int32(_) | Bson::Int64(_))) => join(path, &index.to_string()),
                _ => path.to_owned(),
            };
            for child in children.iter().filter_map(Bson::as_document) {
                nested = true;
                walk(child, &child_path, found, depth + 1);
            }
        }
    }
    if let Ok(properties) = node.get_array("propertiesNotSatisfied") {
        for property in properties.iter().filter_map(Bson::as_document) {
            let name = property.get_str("propertyName").unwrap_or_default();
            let property_path = join(path, name);
            if let Ok(details) = property.get_array("details") {
                for detail in details.iter().filter_map(Bson::as_document) {
                    nested = true;
                    walk(detail, &property_path, found, depth + 1);
                }
            }
        }
    }
    if nested || operator.is_empty() || operator == "$jsonSchema" {
        return;
    }
    let mut reason = node.get_str("reason").unwrap_or_default().to_owned();
    let listed = match operator {
        "required" => names(node.get("missingProperties")),
        "additionalProperties" => names(node.get("additionalProperties")),
        _ => String::new(),
    };
    if !listed.is_empty() {
        reason = if reason.is_empty() { listed } else { format!("{reason}: {listed}") };
    }
    found.push(RuleFailure {
        path: path.to_owned(),
        rule: operator.to_owned(),
        reason,
        value: node.get("consideredValue").cloned(),
    });
}

#[cfg(test)]
mod tests {
    use bson::doc;

    use super::*;

    #[test]
    fn the_failed_rules_of_an_err_info() {
        let info = doc! {
            "failingDocumentId": 1,
            "details": { "operatorName": "$jsonSchema", "schemaRulesNotSatisfied": [
                { "operatorName": "properties", "propertiesNotSatisfied": [
                    { "propertyName": "age", "details": [
                        { "operatorName": "minimum", "specifiedAs": { "minimum": 0 }, "reason": "comparison failed", "consideredValue": -1 },
                    ] },
                    { "propertyName": "tags", "details": [
                        { "operatorName": "items", "reason": "At least one item did not match the sub-schema", "itemIndex": 2, "details": [
                            { "operatorName": "bsonType", "reason": "type did not match", "consideredValue": 5 },
                        ] },
                    ] },
                ] },
                { "operatorName": "required", "specifiedAs": { "required": ["name"] }, "missingProperties": ["name"] },
            ] },
        };
        let found: Vec<String> = failures(&info).iter().map(ToString::to_string).collect();
        assert_eq!(
            found,
            [
                "age: minimum (comparison failed), found -1",
                "tags.2: bsonType (type did not match), found 5",
                "required (name)",
            ]
        );
    }
}
