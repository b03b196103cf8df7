//! proptest strategies for [`Script`](crate::model::Script).
//!
//! Included by `tests/model_prop.rs` with `#[path]`, so that the fuzz crate,
//! which shares `tests/model/mod.rs`, needs no proptest.

use proptest::collection::vec;
use proptest::prelude::*;

use crate::model::{ChildSpec, Mode, Op, Parent, Script, Step, MAX_TEMPLATES, SLOTS};

pub fn step() -> impl Strategy<Value = Step> {
    // Terminal steps (`Ok`, `Err`, `Panic`) are kept rare enough that most
    // children live through several polls.
    prop_oneof![
        3 => Just(Step::Ok),
        2 => Just(Step::Err),
        1 => Just(Step::Panic),
        4 => Just(Step::SelfWake),
        10 => (0..SLOTS as u8).prop_map(Step::Slot),
        3 => (0..MAX_TEMPLATES as u8).prop_map(Step::Push),
        4 => Just(Step::AwaitToken),
        6 => (1u8..=4).prop_map(Step::Yield),
    ]
}

pub fn child_spec() -> impl Strategy<Value = ChildSpec> {
    (vec(step(), 0..8), prop::bool::weighted(0.06))
        .prop_map(|(steps, drop_panics)| ChildSpec { steps, drop_panics })
}

pub fn op() -> impl Strategy<Value = Op> {
    let t = 0..MAX_TEMPLATES as u8;
    prop_oneof![
        12 => Just(Op::Poll),
        2 => Just(Op::SpuriousPoll),
        1 => Just(Op::ChangeWaker),
        5 => (0..SLOTS as u8).prop_map(Op::FireSlot),
        1 => Just(Op::HandleCancel),
        1 => Just(Op::FireTrigger),
        1 => Just(Op::CancelParent),
        1 => (0u8..7).prop_map(Op::SetLimit),
        1 => t.clone().prop_map(Op::Push),
        1 => t.clone().prop_map(Op::TryPush),
        2 => t.clone().prop_map(Op::HandlePush),
        1 => t.prop_map(Op::Feed),
        1 => any::<bool>().prop_map(Op::Permit),
        1 => Just(Op::DropGroup),
    ]
}

pub fn script() -> impl Strategy<Value = Script> {
    (
        prop_oneof![Just(Mode::Future), Just(Mode::Settle), Just(Mode::Stream)],
        any::<bool>(),
        any::<bool>(),
        prop::option::weighted(0.5, 1u8..=6),
        prop::option::weighted(0.2, 1u8..=6),
        prop::bool::weighted(0.3),
        prop_oneof![
            6 => Just(Parent::None),
            2 => Just(Parent::Fresh),
            1 => Just(Parent::Fired),
        ],
        vec(child_spec(), 0..10),
        vec(op(), 0..48),
    )
        .prop_map(
            |(mode, drain, catch_panics, limit, semaphore, trigger, parent, children, ops)| {
                Script {
                    mode,
                    drain,
                    catch_panics,
                    limit,
                    semaphore,
                    trigger,
                    parent,
                    children,
                    ops,
                }
            },
        )
}
