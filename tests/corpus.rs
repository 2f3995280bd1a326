//! The tests that read the public corpus under `../shared/corpus` (Sentinel rules, the seed
//! queries) are compiled only with the `corpus` feature, since a clone of this repository does
//! not have it. Without the feature this file checks that the README tells how to run them
//! (`cargo test --workspace --features corpus`), so that a plain `cargo test` names the way.

#![cfg(not(feature = "corpus"))]

#[test]
fn corpus_tests_run_with_features_corpus_as_the_readme_says() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))
        .expect("README.md");
    assert!(
        readme.contains("cargo test --workspace --features corpus"),
        "the README must give the command that runs the corpus tests"
    );
}
