//! Cross-core round trips and spawn_blocking: coring vs tokio (in progress).

fn main() {}
