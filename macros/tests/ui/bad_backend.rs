#[coring::test(backend = "kqueue")]
async fn on_kqueue() {}

fn main() {}
