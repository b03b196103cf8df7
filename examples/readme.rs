use trygroup::TryGroup;

async fn fetch(id: u32) -> Result<u32, String> {
    match id {
        42 => Err(format!("request {id} failed")),
        _ => Ok(id * 2),
    }
}

fn main() {
    let mut group = TryGroup::with_limit(8); // at most 8 children in flight
    group.extend((0..100).map(fetch));
    let token = group.token();
    let result = futures::executor::block_on(group); // or smol, tokio, async-std, pollster
    assert_eq!(result, Err("request 42 failed".to_string())); // the rest were dropped
    assert!(token.is_cancelled()); // and the token told every watcher
}
