//! `LocalTryGroup` and `LocalHandle`: children that are not `Send` (`Rc`,
//! `RefCell`), and children borrowing local data, with the same semantics as
//! `TryGroup`.
mod common;

use common::*;
use futures::executor::{block_on, LocalPool};
use futures::task::LocalSpawnExt;
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use trygroup::{CancelReason, Cancelled, LocalTryGroup, TryGroup};

#[test]
fn rc_children_in_push_order() {
    let shared = Rc::new(RefCell::new(Vec::new()));
    let mut group = LocalTryGroup::with_limit(2);
    for i in 0..6usize {
        let shared = shared.clone();
        group.push(async move {
            yield_times(6 - i).await;
            shared.borrow_mut().push(i);
            Ok::<_, ()>(Rc::new(i * 2))
        });
    }
    let out = block_on(group).unwrap();
    assert_eq!(
        out.iter().map(|v| **v).collect::<Vec<_>>(),
        vec![0, 2, 4, 6, 8, 10]
    );
    assert_eq!(shared.borrow().len(), 6);
}

#[test]
fn rc_children_short_circuit_and_drop() {
    let alive = Rc::new(());
    let mut group = LocalTryGroup::<(), Rc<str>>::new();
    let token = group.token();
    for _ in 0..3 {
        let alive = alive.clone();
        group.push(async move {
            let _alive = alive;
            futures::future::pending().await
        });
    }
    group.push(async {
        yield_now().await;
        Err(Rc::from("local error"))
    });
    assert_eq!(&*block_on(group).unwrap_err(), "local error");
    assert_eq!(Rc::strong_count(&alive), 1, "every sibling was dropped");
    assert_eq!(token.reason(), Some(CancelReason::Failed { index: 3 }));
}

#[test]
fn children_borrow_local_data() {
    let names = vec![String::from("ada"), String::from("grace")];
    let counter = Cell::new(0);
    let log = RefCell::new(Vec::new());
    {
        let mut group = LocalTryGroup::new();
        for name in &names {
            let (counter, log) = (&counter, &log);
            group.push(async move {
                yield_now().await;
                counter.set(counter.get() + 1);
                log.borrow_mut().push(name.as_str());
                Ok::<_, ()>(name.len())
            });
        }
        assert_eq!(block_on(group), Ok(vec![3, 5]));
    }
    assert_eq!(counter.get(), 2);
    assert_eq!(log.borrow().len(), 2);

    // TryGroup's children may borrow too ('a), as long as they are Send.
    let data = [1u32, 2, 3];
    let mut group = TryGroup::new();
    for x in &data {
        group.push(async move { Ok::<_, ()>(*x * 10) });
    }
    assert_eq!(block_on(group), Ok(vec![10, 20, 30]));
}

#[test]
fn a_child_may_mutate_borrowed_state_through_a_local_handle() {
    let total = RefCell::new(0u32);
    let mut group = LocalTryGroup::new();
    let handle = group.handle();
    let t = &total;
    group.push(async move {
        for i in 1..=4u32 {
            let rc = Rc::new(i);
            handle
                .push(async move {
                    *t.borrow_mut() += *rc;
                    Ok::<_, ()>(*rc)
                })
                .unwrap();
        }
        Ok(0)
    });
    assert_eq!(block_on(group), Ok(vec![0, 1, 2, 3, 4]));
    assert_eq!(*total.borrow(), 10);
}

#[test]
fn local_handle_push_after_finish_gives_the_future_back() {
    let group = LocalTryGroup::<Rc<u8>, ()>::new();
    let handle = group.handle();
    block_on(group).unwrap();
    assert!(handle.is_closed());
    let rc = Rc::new(5u8);
    let back = handle.push(async move { Ok(rc) }).unwrap_err();
    assert_eq!(*block_on(back.into_inner()).unwrap(), 5);
}

#[test]
fn local_handle_cancel_and_token() {
    let mut group = LocalTryGroup::<(), Cancelled>::new();
    let handle = group.handle();
    let token = handle.token();
    group.push(futures::future::pending());
    group.push(async move {
        let _local = Rc::new(());
        yield_now().await;
        handle.cancel();
        Ok(())
    });
    assert_eq!(
        block_on(group).unwrap_err().reason(),
        CancelReason::Cancelled
    );
    assert_eq!(token.reason(), Some(CancelReason::Cancelled));
}

#[test]
fn local_group_on_a_local_executor_with_a_local_pusher_task() {
    let mut pool = LocalPool::new();
    let spawner = pool.spawner();
    let result = Rc::new(RefCell::new(None));
    let mut group = LocalTryGroup::<Rc<u32>, ()>::new();
    let handle = group.handle();
    let gate = Gate::new();
    let g = gate.clone();
    group.push(async move {
        g.wait().await;
        Ok(Rc::new(0))
    });
    let r = result.clone();
    spawner
        .spawn_local(async move {
            *r.borrow_mut() = Some(group.await);
        })
        .unwrap();
    spawner
        .spawn_local(async move {
            for i in 1..=3 {
                handle.push(async move { Ok(Rc::new(i)) }).unwrap();
                yield_now().await;
            }
            gate.open();
        })
        .unwrap();
    pool.run();
    let out = result.borrow_mut().take().unwrap().unwrap();
    assert_eq!(
        out.iter().map(|v| **v).collect::<Vec<_>>(),
        vec![0, 1, 2, 3]
    );
}

#[test]
fn local_group_catch_panics_settle_and_stream() {
    use futures::StreamExt;
    let mut group = LocalTryGroup::<Rc<u8>, TestError>::new().catch_panics();
    group.push(async { Ok(Rc::new(1)) });
    group.push(async { panic!("local panic") });
    let out = block_on(group.settle());
    assert_eq!(*out[0].as_ref().unwrap().as_ref(), 1);
    assert_eq!(out[1].as_ref().unwrap_err().panicked().unwrap().index(), 1);

    let mut group = LocalTryGroup::<Rc<u8>, u8>::new();
    group.push(async { Ok(Rc::new(1)) });
    group.push(async {
        yield_now().await;
        Err(2)
    });
    let items: Vec<_> = block_on(group.into_stream().collect::<Vec<_>>());
    assert_eq!(items.len(), 2);
    assert_eq!(items[1].as_ref().unwrap_err(), &2);
}

#[test]
fn local_group_feed_and_limit() {
    let tracker = Tracker::new();
    let mut group = LocalTryGroup::<Rc<usize>, ()>::with_limit(3);
    let t = tracker.clone();
    group.feed((0..50).map(move |i| {
        let local = Rc::new(i);
        t.track(i, async move {
            yield_times(i % 3).await;
            Ok(local)
        })
    }));
    let out = block_on(group).unwrap();
    assert_eq!(out.len(), 50);
    assert!(tracker.max_active() <= 3);
    tracker.assert_all_dropped();
}
