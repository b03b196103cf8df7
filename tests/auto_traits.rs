//! Auto traits, asserted both ways (futures `tests/auto_traits.rs` style):
//! Send children make `TryGroup: Send`, handles `Send + Sync`, tokens and
//! their futures `Send + Sync + 'static`, `Panicked: Send + Sync`; a group of
//! `!Send` children only fits `LocalTryGroup`, which is `!Send`.
//!
//! The negative side uses the ambiguity trick of `static_assertions`: if the
//! type implemented the trait, two impls would apply and the build fails.
//! The runtime side uses autoref specialisation, so each #[test] also checks
//! its answer at run time.
#![allow(dead_code)] // the probes exist for their trait bounds

mod common;

use std::cell::Cell;
use std::future::Future;
use std::marker::{PhantomData, PhantomPinned};
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use futures::executor::block_on;
use futures::future::{FusedFuture, TryFuture};
use trygroup::{try_join_iter, TryJoinIter};
use trygroup::{
    CancelReason, CancelToken, Cancelled, Closed, Handle, LocalHandle, LocalTryGroup, Panicked,
    TryGroup, WaitCancelled,
};

fn assert_send<T: Send>() {}
fn assert_sync<T: Sync>() {}
fn assert_static<T: 'static>() {}
fn assert_unpin<T: Unpin>() {}
fn assert_fused<T: FusedFuture>() {}
fn assert_error<T: std::error::Error + Send + Sync + 'static>() {}

/// Fails to compile if `$ty` implements `$trait`.
macro_rules! assert_not_impl {
    ($ty:ty: $trait:path) => {
        const _: fn() = || {
            trait AmbiguousIfImpl<A> {
                fn some_item() {}
            }
            impl<T: ?Sized> AmbiguousIfImpl<()> for T {}
            struct Invalid;
            impl<T: ?Sized + $trait> AmbiguousIfImpl<Invalid> for T {}
            let _ = <$ty as AmbiguousIfImpl<_>>::some_item;
        };
    };
}

struct Probe<T: ?Sized>(PhantomData<T>);

trait ViaSend {
    fn is_send(&self) -> bool {
        true
    }
}
impl<T: ?Sized + Send> ViaSend for Probe<T> {}
trait ViaFallbackSend {
    fn is_send(&self) -> bool {
        false
    }
}
impl<T: ?Sized> ViaFallbackSend for &Probe<T> {}

trait ViaSync {
    fn is_sync(&self) -> bool {
        true
    }
}
impl<T: ?Sized + Sync> ViaSync for Probe<T> {}
trait ViaFallbackSync {
    fn is_sync(&self) -> bool {
        false
    }
}
impl<T: ?Sized> ViaFallbackSync for &Probe<T> {}

/// Whether `$ty: Send`, decided at compile time, observed at run time.
macro_rules! is_send {
    ($ty:ty) => {
        (&Probe::<$ty>(PhantomData)).is_send()
    };
}
macro_rules! is_sync {
    ($ty:ty) => {
        (&Probe::<$ty>(PhantomData)).is_sync()
    };
}

type Group = TryGroup<'static, u32, String>;
type BorrowingGroup<'a> = TryGroup<'a, &'a str, String>;
type RcGroup = LocalTryGroup<'static, Rc<u32>, Rc<str>>;
type PlainLocalGroup = LocalTryGroup<'static, u32, String>;

// Compile-time negatives.
assert_not_impl!(RcGroup: Send);
assert_not_impl!(RcGroup: Sync);
assert_not_impl!(PlainLocalGroup: Send);
assert_not_impl!(LocalHandle<'static, Rc<u32>, ()>: Send);
assert_not_impl!(LocalHandle<'static, u32, ()>: Send);
// The probe itself must be able to say "no".
assert_not_impl!(Rc<u8>: Send);

#[test]
fn probes_tell_send_from_not_send() {
    assert!(is_send!(u8));
    assert!(!is_send!(Rc<u8>));
    assert!(is_sync!(u8));
    assert!(!is_sync!(Cell<u8>));
}

#[test]
fn send_children_make_a_send_group() {
    assert_send::<Group>();
    assert_send::<BorrowingGroup<'_>>();
    assert_unpin::<Group>();
    assert_fused::<Group>();
    assert!(is_send!(Group));

    // The futures and streams built from a group are Send too.
    fn settle_of(g: Group) -> impl Send {
        g.settle()
    }
    fn stream_of(g: Group) -> impl Send {
        g.into_stream()
    }
    let _ = settle_of(Group::new());
    let _ = stream_of(Group::new());

    // Which makes it spawnable on a work-stealing runtime.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    let mut group = Group::new();
    group.push(async { Ok(1) });
    assert_eq!(rt.block_on(rt.spawn(group)).unwrap(), Ok(vec![1]));
}

#[test]
fn handles_are_send_and_sync() {
    assert_send::<Handle<'static, u32, String>>();
    assert_sync::<Handle<'static, u32, String>>();
    assert!(is_send!(Handle<'static, u32, String>));
    assert!(is_sync!(Handle<'static, u32, String>));
}

#[test]
fn tokens_and_their_futures_are_send_sync_static() {
    assert_send::<CancelToken>();
    assert_sync::<CancelToken>();
    assert_static::<CancelToken>();
    assert_send::<WaitCancelled>();
    assert_sync::<WaitCancelled>();
    assert_static::<WaitCancelled>();
    assert_unpin::<WaitCancelled>();
    fn clone_of<T: Clone>() {}
    clone_of::<CancelToken>();
    fn copy_eq_debug<T: Copy + Eq + std::fmt::Debug + Send + Sync + 'static>() {}
    copy_eq_debug::<CancelReason>();
    assert!(is_send!(WaitCancelled) && is_sync!(WaitCancelled));
    // run_until_cancelled of a Send future is Send.
    fn run_of(t: CancelToken) -> impl Send {
        async move { t.run_until_cancelled(async { 1 }).await }
    }
    let _ = run_of(TryGroup::<(), ()>::new().token());
}

#[test]
fn error_types_are_errors_and_thread_safe() {
    assert_error::<Panicked>();
    assert_error::<Cancelled>();
    assert_error::<Closed<std::future::Ready<u8>>>();
    assert!(is_send!(Panicked) && is_sync!(Panicked));
    // Closed<F>: Debug without F: Debug.
    struct NoDebug;
    fn debug<T: std::fmt::Debug>() {}
    debug::<Closed<NoDebug>>();
    // Panicked converts into anyhow::Error.
    fn into_anyhow(p: Panicked) -> anyhow::Error {
        p.into()
    }
    let _ = into_anyhow;
}

#[test]
fn local_groups_with_rc_are_not_send() {
    assert!(!is_send!(RcGroup));
    assert!(!is_send!(PlainLocalGroup));
    assert!(!is_send!(LocalHandle<'static, Rc<u32>, ()>));
    assert_unpin::<RcGroup>();
    assert_fused::<RcGroup>();
    // ...and still usable where they are.
    let mut group = RcGroup::new();
    group.push(async { Ok(Rc::new(3)) });
    let out = futures::executor::block_on(group).unwrap();
    assert_eq!(*out[0], 3);
}

#[test]
fn debug_is_implemented_without_t_debug() {
    struct Opaque;
    let group = TryGroup::<Opaque, Opaque>::with_limit(3);
    let text = format!("{group:?}");
    assert!(
        text.contains('3'),
        "Debug shows live state such as the limit: {text}"
    );
    let handle = group.handle();
    assert!(!format!("{handle:?}").is_empty());
    let token = group.token();
    assert!(!format!("{token:?}").is_empty());
    assert!(!format!("{:?}", token.cancelled()).is_empty());
    let local = LocalTryGroup::<Opaque, Opaque>::new();
    assert!(!format!("{local:?}").is_empty());
    assert!(!format!("{:?}", local.handle()).is_empty());
}

/// The group is moved by value at every `.await`; at 288 bytes that move
/// cost W9 (groups of three) a fifth of its wall time, at 256 it did not
/// (BENCHMARKS.md). Guard the size a small group is moved at.
#[test]
fn a_group_is_at_most_256_bytes() {
    assert!(std::mem::size_of::<TryGroup<'static, usize, usize>>() <= 256);
    assert!(std::mem::size_of::<LocalTryGroup<'static, usize, usize>>() <= 256);
    assert!(std::mem::size_of::<TryGroup<'static, u64, std::io::Error>>() <= 256);
}

// ---- try_join_iter ---------------------------------------------------------

/// A future that is `!Unpin`.
struct NotUnpin(PhantomPinned);
impl Future for NotUnpin {
    type Output = Result<u8, ()>;
    fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Self::Output> {
        Poll::Ready(Ok(1))
    }
}

/// An iterator that is `!Unpin` (and `!Send`, with an `Rc`).
struct PinnedIter(u8, PhantomPinned);
impl Iterator for PinnedIter {
    type Item = NotUnpin;
    fn next(&mut self) -> Option<NotUnpin> {
        self.0 = self.0.checked_sub(1)?;
        Some(NotUnpin(PhantomPinned))
    }
}

type Ready<T> = futures::future::Ready<Result<T, ()>>;
type SendIter = std::iter::Map<std::ops::Range<usize>, fn(usize) -> Ready<usize>>;
type RcOutIter = std::iter::Map<std::ops::Range<usize>, fn(usize) -> Ready<Rc<usize>>>;
type RcIter = std::iter::Map<std::iter::Repeat<Rc<u8>>, fn(Rc<u8>) -> Ready<u8>>;
type NotUnpinGroup = TryJoinIter<PinnedIter>;

assert_not_impl!(TryJoinIter<RcOutIter>: Send);
assert_not_impl!(TryJoinIter<RcIter>: Send);
assert_not_impl!(NotUnpin: Unpin);
assert_not_impl!(PinnedIter: Unpin);

#[test]
fn try_join_iter_is_send_when_its_parts_are_and_always_unpin() {
    assert_send::<TryJoinIter<SendIter>>();
    assert_unpin::<TryJoinIter<SendIter>>();
    assert_fused::<TryJoinIter<SendIter>>();
    assert!(is_send!(TryJoinIter<SendIter>));
    assert!(!is_send!(TryJoinIter<RcOutIter>));
    assert!(!is_send!(TryJoinIter<RcIter>));
    // Unpin whatever the children and the iterator are.
    assert_unpin::<NotUnpinGroup>();
    assert_unpin::<TryJoinIter<RcIter>>();
    // Async blocks (which are !Unpin) from a closure: Send and Unpin.
    fn of<I: Iterator>(g: TryJoinIter<I>) -> TryJoinIter<I>
    where
        I::Item: TryFuture,
    {
        g
    }
    fn send_unpin<T: Send + Unpin>(t: T) -> T {
        t
    }
    let g = send_unpin(of(try_join_iter((0..3).map(|i| async move {
        common::yield_now().await;
        Ok::<_, String>(i)
    }))));
    assert_eq!(block_on(g), Ok(vec![0, 1, 2]));
    let g = try_join_iter(PinnedIter(3, PhantomPinned));
    assert_eq!(block_on(g), Ok(vec![1, 1, 1]));
}
