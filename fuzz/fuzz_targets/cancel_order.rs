//! Fuzzes the ordering of children, outside cancels, limits, handle pushes,
//! panics and drops: the input is a `Script` (hand-written `Arbitrary`, see
//! `tests/model/mod.rs`), run by the same interpreter and checked against the
//! same model as `tests/model_prop.rs`.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../../tests/model/mod.rs"]
mod model;

fuzz_target!(|script: model::Script| {
    // Strict; while a found crate bug awaits its fix, switch to
    // `model::run_tolerant` (the regression test holds the bug).
    if let Err(violation) = model::run(&script) {
        panic!("{violation}");
    }
});
