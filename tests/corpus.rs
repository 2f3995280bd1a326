//! The tests that read the public corpus under `../shared/corpus` (Sentinel rules, the seed
//! queries) are compiled only with the `corpus` feature, since a clone of this repository does
//! not have it. Without the feature this file holds one ignored test, whose reason says how to
//! run them; it is not a pass.

#![cfg(not(feature = "corpus"))]

#[test]
#[ignore = "the tests of the public corpus are not compiled: with ../shared beside the checkout, run `cargo test --workspace --features corpus`"]
fn corpus_tests_need_the_corpus_feature() {
    panic!(
        "the tests of the public corpus are compiled only with `--features corpus` \
         (and need ../shared/corpus beside the checkout): cargo test --workspace --features corpus"
    );
}
