//! A first end-to-end check of the main paths on every executor.
mod common;

use common::*;
use trygroup::{CancelReason, TryGroup};

#[test]
fn ok_error_and_limit_on_every_executor() {
    on_every_executor(|| async {
        let tracker = Tracker::new();
        let mut group = TryGroup::with_limit(3);
        for i in 0..20usize {
            group.push(tracker.track(i, async move {
                yield_times(i % 3).await;
                Ok::<_, String>(i * 2)
            }));
        }
        assert_eq!(group.await, Ok((0..20).map(|i| i * 2).collect::<Vec<_>>()));
        assert!(tracker.max_active() <= 3);
        tracker.assert_all_dropped();

        let tracker = Tracker::new();
        let mut group = TryGroup::with_limit(2);
        let token = group.token();
        group.push(tracker.track(0, futures::future::pending()));
        group.push(tracker.track(1, async {
            yield_now().await;
            Err("boom".to_string())
        }));
        for i in 2..10 {
            group.push(tracker.track(i, async { Ok(0) }));
        }
        assert_eq!(group.await, Err("boom".to_string()));
        assert_eq!(token.reason(), Some(CancelReason::Failed { index: 1 }));
        assert_eq!(tracker.started(), 2, "queued children never start");
        tracker.assert_all_dropped();
    });
}
