//! The fuzz targets' smoke run, in the test suite: every seed and every input the fuzzers ever
//! found interesting (`fuzz/corpus/<target>/`) replayed through its target, then 20,000 mutations
//! of them per target from a fixed seed — the same entry points `cargo fuzz` drives
//! (`fuzz/README.md` has the long, coverage-guided runs and their figures).

use immich_mcp_gateway::fuzzing::TARGETS;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::path::Path;

const MUTATIONS: usize = 20_000;

fn corpus(target: &str) -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus").join(target);
    let mut inputs: Vec<Vec<u8>> =
        std::fs::read_dir(&dir).unwrap().map(|e| std::fs::read(e.unwrap().path()).unwrap()).collect();
    assert!(!inputs.is_empty(), "{} has no seeds", dir.display());
    inputs.sort();
    inputs
}

/// One of libFuzzer's simpler moves: flip, insert, erase, duplicate or splice bytes.
fn mutate(rng: &mut StdRng, seeds: &[Vec<u8>]) -> Vec<u8> {
    let mut data = seeds[rng.random_range(0..seeds.len())].clone();
    for _ in 0..rng.random_range(1..6) {
        let at = if data.is_empty() { 0 } else { rng.random_range(0..data.len()) };
        match rng.random_range(0..5) {
            0 if !data.is_empty() => data[at] ^= 1 << rng.random_range(0..8),
            1 => data.insert(at, rng.random()),
            2 if !data.is_empty() => {
                data.remove(at);
            }
            3 => {
                let interesting = [b'"', b'\\', b'{', b'}', b'[', b']', b',', b':', b'%', b'/', b'.', b'~', b'=', 0];
                data.insert(at, interesting[rng.random_range(0..interesting.len())]);
            }
            _ => {
                let other = &seeds[rng.random_range(0..seeds.len())];
                let from = rng.random_range(0..=other.len());
                data.splice(at..at, other[from..].iter().copied().take(32));
            }
        }
    }
    data
}

#[test]
fn every_fuzz_target_survives_its_corpus_and_mutations_of_it() {
    for (name, target) in TARGETS {
        let seeds = corpus(name);
        for input in &seeds {
            target(input);
        }
        let mut rng = StdRng::seed_from_u64(20_261_207);
        for _ in 0..MUTATIONS {
            target(&mutate(&mut rng, &seeds));
        }
    }
}

#[test]
fn every_target_has_a_fuzzer_and_seeds() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    for (name, _) in TARGETS {
        assert!(root.join(format!("fuzz_targets/{name}.rs")).exists(), "fuzz/fuzz_targets/{name}.rs");
        assert!(!corpus(name).is_empty());
    }
}
