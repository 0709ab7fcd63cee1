#[coring::main(backend = "all")]
async fn main() {}
