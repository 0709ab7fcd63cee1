#[coring::test(cores = 0)]
async fn no_cores() {}

#[coring::test(entries = "many")]
async fn entries_not_a_number() {}

#[coring::test(backend = epoll)]
async fn backend_not_a_string() {}

#[coring::test(cores = 2, cores = 3)]
async fn twice() {}

#[coring::test(cores = "many")]
async fn cores_not_all() {}

fn main() {}
