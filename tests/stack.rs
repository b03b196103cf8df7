//! No stack overflow on deep or wide groups, on a thread with a small stack.
mod common;

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;

use trygroup::{Handle, TryGroup};

const N: usize = if cfg!(miri) { 1_000 } else { 100_000 };
const STACK: usize = 256 * 1024;

fn on_small_stack(f: impl FnOnce() + Send + 'static) {
    std::thread::Builder::new()
        .stack_size(STACK)
        .spawn(f)
        .unwrap()
        .join()
        .expect("the test thread overflowed or panicked");
}

#[test]
fn dropping_100k_pending_children_on_a_256k_stack() {
    on_small_stack(|| {
        let dropped = Arc::new(AtomicUsize::new(0));
        let mut group = TryGroup::<(), ()>::new();
        for _ in 0..N {
            let guard = common::DropCount(dropped.clone());
            group.push(async move {
                let _guard = guard;
                futures::future::pending::<Result<(), ()>>().await
            });
        }
        assert!(common::poll_once(&mut group).is_pending());
        drop(group);
        assert_eq!(dropped.load(SeqCst), N);
    });
}

#[test]
fn a_chain_of_100k_children_each_pushing_the_next_on_a_256k_stack() {
    // Not an `async fn`: a recursive one would need its `Send`ness proved
    // through its own opaque type, which the compiler cannot do.
    #[allow(clippy::manual_async_fn)]
    fn link(
        handle: Handle<'static, usize, ()>,
        depth: usize,
    ) -> impl std::future::Future<Output = Result<usize, ()>> + Send {
        async move {
            if depth + 1 < N {
                handle
                    .push(link(handle.clone(), depth + 1))
                    .map_err(|_| ())?;
            }
            Ok(depth)
        }
    }
    on_small_stack(|| {
        let mut group = TryGroup::new();
        group.push(link(group.handle(), 0));
        let values = futures::executor::block_on(group).unwrap();
        assert_eq!(values.len(), N);
        assert!(
            values.iter().enumerate().all(|(i, v)| i == *v),
            "push order"
        );
    });
}
