//! Property tests: for random strings full of regex metacharacters, `%`, `_` and backslashes,
//! the string operators select on the server exactly the documents a plain Rust reference
//! matcher selects from the same data.

use mongotic::prelude::*;
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};

use crate::common::*;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Model)]
#[mongotic(database = "props", collection = "texts")]
pub struct Text {
    #[serde(rename = "_id")]
    #[mongotic(id)]
    pub id: i64,
    pub value: String,
}

/// Short strings over an alphabet rich in characters that mean something to regexes, to
/// `LIKE`, or to BSON.
fn text() -> impl Strategy<Value = String> {
    let alphabet = vec![
        'a', 'b', 'A', '%', '_', '\\', '.', '*', '+', '?', '^', '$', '(', ')', '[', ']', '{', '}', '|', '\n', '\0',
        'é', ' ', '-', '/', '#',
    ];
    vec(proptest::sample::select(alphabet), 0..6).prop_map(|chars| chars.into_iter().collect())
}

/// SQL `LIKE` with backslash escapes, by backtracking over characters.
fn like_matches(pattern: &str, value: &str) -> bool {
    enum Token {
        Literal(char),
        One,
        Any,
    }
    let mut tokens = Vec::new();
    let mut chars = pattern.chars();
    while let Some(ch) = chars.next() {
        tokens.push(match ch {
            '%' => Token::Any,
            '_' => Token::One,
            '\\' => Token::Literal(chars.next().unwrap_or('\\')),
            other => Token::Literal(other),
        });
    }
    fn matches(tokens: &[Token], value: &[char]) -> bool {
        match tokens.split_first() {
            None => value.is_empty(),
            Some((Token::Any, rest)) => (0..=value.len()).any(|skip| matches(rest, &value[skip..])),
            Some((Token::One, rest)) => !value.is_empty() && matches(rest, &value[1..]),
            Some((Token::Literal(ch), rest)) => value.first() == Some(ch) && matches(rest, &value[1..]),
        }
    }
    let value: Vec<char> = value.chars().collect();
    matches(&tokens, &value)
}

/// An operator under test: its name, the filter, and the reference matcher (needle, value).
type Check = (&'static str, Filter<Text>, fn(&str, &str) -> bool);

test!(string_operators_agree_with_a_reference_matcher, needs = [ReplicaSet]);
fn string_operators_agree_with_a_reference_matcher() {
    let ctx = BlockingCtx::new();
    let mut runner = TestRunner::new(Config { cases: 48, failure_persistence: None, ..Config::default() });
    let cases = (vec(text(), 1..10), text());
    let result = runner.run(&cases, |(values, needle)| {
        let mut session = ctx.session();
        session.execute(delete::<Text>()).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let docs: Vec<Text> =
            values.iter().enumerate().map(|(i, value)| Text { id: i as i64, value: value.clone() }).collect();
        session.execute(insert::<Text>().values(docs)).map_err(|e| TestCaseError::fail(e.to_string()))?;

        let checks: [Check; 4] = [
            ("contains", Text::value.contains(&needle), |n, v| v.contains(n)),
            ("starts_with", Text::value.starts_with(&needle), |n, v| v.starts_with(n)),
            ("ends_with", Text::value.ends_with(&needle), |n, v| v.ends_with(n)),
            ("like", Text::value.like(&needle), like_matches),
        ];
        for (name, filter, reference) in checks {
            let mut found: Vec<i64> = session
                .scalars(select::<Text>().columns(Text::id).filter(filter))
                .all()
                .map_err(|e| TestCaseError::fail(format!("{name}: {e}")))?;
            found.sort();
            let expected: Vec<i64> = values
                .iter()
                .enumerate()
                .filter(|(_, value)| reference(&needle, value))
                .map(|(i, _)| i as i64)
                .collect();
            prop_assert_eq!(&found, &expected, "{}({:?}) over {:?}", name, needle, values);
        }
        Ok(())
    });
    if let Err(failure) = result {
        panic!("{failure}");
    }
}

test!(reference_like_matcher, needs = []);
fn reference_like_matcher() {
    assert!(like_matches("a%", "abc"));
    assert!(like_matches("a_c", "abc"));
    assert!(!like_matches("a_c", "ac"));
    assert!(like_matches(r"100\%", "100%"));
    assert!(!like_matches(r"100\%", "1000"));
    assert!(like_matches("", ""));
    assert!(!like_matches("", "x"));
    assert!(like_matches("%", ""));
    assert!(like_matches("end\\", "end\\"));
}
