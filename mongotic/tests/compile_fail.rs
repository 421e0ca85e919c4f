//! Misuse that must not compile, with messages that say what to write instead. The expected
//! compiler output is in `tests/ui/*.stderr`.

#[test]
fn misuse_is_a_compile_error() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail("tests/ui/*.rs");
}
