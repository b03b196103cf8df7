//! Fuzzes the ordering of children, outside cancels, limits, handle pushes,
//! panics and drops: the input is a `Script` (hand-written `Arbitrary`, see
//! `tests/model/mod.rs`), run by the same interpreter and checked against the
//! same model as `tests/model_prop.rs`.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../../tests/model/mod.rs"]
mod model;

fuzz_target!(|script: model::Script| {
    // Tolerant of the crate bugs found and not yet fixed (see
    // `model::run_tolerant`): the regression tests hold those.
    if let Err(violation) = model::run_tolerant(&script) {
        panic!("{violation}");
    }
});
