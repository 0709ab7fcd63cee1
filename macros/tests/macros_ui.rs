//! The macros' compile errors, checked with trybuild: each file in
//! tests/ui is a misuse, and its .stderr the error it must give. To
//! update the .stderr files after a wording change:
//! `TRYBUILD=overwrite cargo test -p coring-macros --test macros_ui`.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/*.rs");
}
