#[coring::main(cores = 2)]
async fn run() -> u32 {
    7
}

fn main() {
    let _ = run();
}
