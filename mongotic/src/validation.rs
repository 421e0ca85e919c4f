//! Validation: constraints checked before anything is written.
//!
//! A model's values are checked at every flush (each new, merged or changed entity) and by
//! the bulk [`insert`](crate::insert) and [`update`](crate::update) statements. One failing
//! value fails the whole operation before anything is sent, with
//! [`Error::Validation`](crate::Error::Validation) listing every failing field of every value.
//!
//! Two sources of checks, used together or alone:
//!
//! - **Declared constraints**, with the [`garde`](https://docs.rs/garde) crate (mongotic's
//!   `garde` feature, and `garde` in your dependencies): derive `garde::Validate` on the model
//!   and write garde's rules on its fields (`range`, `length`, `pattern`, `email`, `custom`,
//!   `dive` into embedded structs…). mongotic finds them and runs them. A bulk `update` checks
//!   the values it sets with the rules of their fields (rules that compare with other fields,
//!   `matches`, need the whole value and are checked at flush only).
//! - **Hand-written checks**, in [`Hooks::validate`](crate::Hooks::validate), which needs no
//!   feature.
//!
//! Why garde rather than `validator`: garde's rules take their arguments inline (a `pattern`
//! is a string literal compiled once, where `validator` needs a `static` regex declared
//! beside the model), it reports the full path of each failure (`address.city`,
//! `lines[2].qty`) with a readable message, and `#[garde(allow_unvalidated)]` leaves the
//! fields without rules (the id, most fields of a model) unannotated. `validator` is the
//! older and more downloaded crate, with nested maps of error codes that would need
//! flattening before anyone could read them.
//!
//! ```
//! # #[cfg(feature = "garde")] mod example {
//! use mongotic::prelude::*;
//!
//! #[derive(Debug, Serialize, Deserialize, Model, garde::Validate)]
//! #[mongotic(collection = "people")]
//! #[garde(allow_unvalidated)]
//! struct Person {
//!     #[serde(rename = "_id")]
//!     #[mongotic(id)]
//!     id: i64,
//!     #[garde(length(min = 1, max = 80))]
//!     name: String,
//!     #[garde(range(min = 0, max = 150))]
//!     age: i32,
//! }
//! # }
//! ```

use std::fmt;

use bson::Bson;

/// The failures of the checks of one value: each a field path and a message.
///
/// ```
/// use mongotic::validation::Violations;
///
/// let mut report = Violations::default();
/// assert!(report.is_empty());
/// report.add("age", "greater than 150");
/// assert_eq!(report.len(), 1);
/// assert_eq!(report.iter().next().map(|v| v.path.as_str()), Some("age"));
/// assert_eq!(report.to_string(), "age: greater than 150");
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Violations {
    entries: Vec<Violation>,
}

/// One failed check: which field, and what is wrong with it.
///
/// ```
/// use mongotic::validation::Violation;
/// let violation = Violation { path: "name".into(), message: "length is lower than 1".into() };
/// assert_eq!(violation.to_string(), "name: length is lower than 1");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// The Rust path of the field (`address.city`, `lines[2].qty`); empty for a check of the
    /// whole value.
    pub path: String,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() { f.write_str(&self.message) } else { write!(f, "{}: {}", self.path, self.message) }
    }
}

impl Violations {
    /// Records that `path` fails with `message`.
    ///
    /// ```
    /// use mongotic::validation::Violations;
    /// let mut report = Violations::default();
    /// report.add("email", "is not an email address");
    /// assert!(!report.is_empty());
    /// ```
    pub fn add(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.entries.push(Violation { path: path.into(), message: message.into() });
    }

    /// `true` when every check passed.
    ///
    /// ```
    /// assert!(mongotic::validation::Violations::default().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// How many checks failed.
    ///
    /// ```
    /// assert_eq!(mongotic::validation::Violations::default().len(), 0);
    /// ```
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// The failures, in the order they were found.
    ///
    /// ```
    /// use mongotic::validation::Violations;
    /// let mut report = Violations::default();
    /// report.add("a", "bad");
    /// let paths: Vec<&str> = report.iter().map(|v| v.path.as_str()).collect();
    /// assert_eq!(paths, ["a"]);
    /// ```
    pub fn iter(&self) -> std::slice::Iter<'_, Violation> {
        self.entries.iter()
    }

    /// `true` when `path` failed a check.
    ///
    /// ```
    /// use mongotic::validation::Violations;
    /// let mut report = Violations::default();
    /// report.add("age", "greater than 150");
    /// assert!(report.has("age"));
    /// assert!(!report.has("name"));
    /// ```
    pub fn has(&self, path: &str) -> bool {
        self.entries.iter().any(|violation| violation.path == path)
    }

    /// Drops the repeats among the entries from `start` on, keeping the first of each: an enum
    /// model checks a field against every variant, and variants often share a constraint.
    #[doc(hidden)]
    pub fn __dedup_from(&mut self, start: usize) {
        let mut index = start;
        while index < self.entries.len() {
            if self.entries[start..index].contains(&self.entries[index]) {
                self.entries.remove(index);
            } else {
                index += 1;
            }
        }
    }
}

impl<'a> IntoIterator for &'a Violations {
    type Item = &'a Violation;
    type IntoIter = std::slice::Iter<'a, Violation>;

    fn into_iter(self) -> Self::IntoIter {
        self.entries.iter()
    }
}

impl fmt::Display for Violations {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (index, violation) in self.entries.iter().enumerate() {
            if index > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{violation}")?;
        }
        Ok(())
    }
}

/// A value that failed its checks: which model, which entity, and every failure.
///
/// ```
/// use mongotic::validation::{Invalid, Violations};
/// let mut violations = Violations::default();
/// violations.add("age", "greater than 150");
/// let invalid = Invalid { model: "Person", id: Some(mongotic::bson::Bson::Int64(7)), violations };
/// assert_eq!(invalid.to_string(), "Person 7: age: greater than 150");
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Invalid {
    /// The Rust name of the model.
    pub model: &'static str,
    /// The entity's id, when it has one (a bulk `update` names none).
    pub id: Option<Bson>,
    /// What failed.
    pub violations: Violations,
}

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.id {
            Some(id) => write!(f, "{} {id}: {}", self.model, self.violations),
            None => write!(f, "{}: {}", self.model, self.violations),
        }
    }
}

/// Checks `value` as a whole; used by the derive.
#[cfg(feature = "garde")]
#[doc(hidden)]
pub fn __garde_model<T>(value: &T, report: &mut Violations)
where
    T: garde::Validate,
    T::Context: Default,
{
    if let Err(failures) = value.validate_with(&T::Context::default()) {
        for (path, error) in failures.iter() {
            report.add(path.to_string(), error.message());
        }
    }
}

/// Checks one value a bulk `update` sets on the field `name`; used by the derive. A value
/// that does not deserialize into the field's type is left to the server (it came from a
/// typed setter, so it does).
#[cfg(feature = "garde")]
#[doc(hidden)]
pub fn __garde_field<W, T>(name: &str, value: &Bson, wrap: fn(T) -> W, report: &mut Violations)
where
    W: garde::Validate,
    W::Context: Default,
    T: serde::de::DeserializeOwned,
{
    let Ok(typed) = bson::from_bson::<T>(value.clone()) else { return };
    if let Err(failures) = wrap(typed).validate_with(&W::Context::default()) {
        for (path, error) in failures.iter() {
            // The check struct's only field is `[0]`; nested paths follow it.
            let rest = path.to_string();
            let rest = rest.strip_prefix("[0]").unwrap_or(&rest);
            let rest = rest.strip_prefix('.').unwrap_or(rest);
            let full = if rest.is_empty() {
                name.to_owned()
            } else if rest.starts_with('[') {
                format!("{name}{rest}")
            } else {
                format!("{name}.{rest}")
            };
            report.add(full, error.message());
        }
    }
}

/// Stands in for garde when mongotic's `garde` feature is off, to say so.
#[cfg(not(feature = "garde"))]
#[doc(hidden)]
#[diagnostic::on_unimplemented(
    message = "`{Self}` has #[garde(...)] rules, but mongotic's `garde` feature is off",
    label = "mongotic cannot run these rules",
    note = "enable it: mongotic = {{ version = \"...\", features = [\"garde\"] }}"
)]
pub trait GardeFeatureIsOff {}

#[cfg(not(feature = "garde"))]
#[doc(hidden)]
pub fn __garde_model<T: GardeFeatureIsOff>(_value: &T, _report: &mut Violations) {}

#[cfg(not(feature = "garde"))]
#[doc(hidden)]
pub fn __garde_field<W: GardeFeatureIsOff, T>(_name: &str, _value: &Bson, _wrap: fn(T) -> W, _report: &mut Violations) {
}
