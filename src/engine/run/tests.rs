use super::*;
use std::sync::atomic::{AtomicUsize, Ordering};

#[tokio::test]
async fn bounded_keeps_order_and_never_exceeds_its_limit() {
    let (now, most) = (AtomicUsize::new(0), AtomicUsize::new(0));
    let work = (0..20u64).map(|i| {
        let (now, most) = (&now, &most);
        async move {
            let n = now.fetch_add(1, Ordering::SeqCst) + 1;
            most.fetch_max(n, Ordering::SeqCst);
            // Later ones finish first: order must come from the input.
            tokio::time::sleep(Duration::from_millis(20 - i)).await;
            now.fetch_sub(1, Ordering::SeqCst);
            i
        }
    });
    let out = bounded(3, work).await;
    assert_eq!(out, (0..20).collect::<Vec<_>>());
    assert_eq!(most.load(Ordering::SeqCst), 3);
}
