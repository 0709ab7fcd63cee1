#[coring::test]
async fn takes_one(n: u32) {
    let _ = n;
}

fn main() {}
