#[coring::main]
fn main() {}
