//! Runs the embedded demo Immich on its own, for benchmarks or for trying other clients:
//! `cargo run --release --example demo-immich -- [ASSETS]`. Prints its address, then serves
//! until interrupted.

use immich_mcp_gateway::demo::{self, Fault};

// The allocator the gateway's own `--demo` runs with (the demo builds each asset's JSON as a map:
// with the system allocator, allocating and freeing them was a quarter of its time).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let assets = std::env::args().nth(1).map_or(10_000, |n| n.parse().expect("ASSETS must be a number"));
    let addr = demo::spawn(assets, Fault::default());
    println!("http://{addr}");
    loop {
        std::thread::park();
    }
}
