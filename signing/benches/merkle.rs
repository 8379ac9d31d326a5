//! Audit-log Merkle tree at the scale of a busy year: one million entries.
//!
//! Run: `cargo bench -p assize-signing --bench merkle`

use std::hint::black_box;
use std::time::Duration;

use assize_signing::merkle::{
    CompactRange, MerkleTree, NodeHash, leaf_hash, verify_consistency, verify_inclusion,
};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

const LEAVES: u64 = 1_000_000;

fn entry(i: u64) -> [u8; 16] {
    let mut entry = [0u8; 16];
    entry[..8].copy_from_slice(b"audit ev");
    entry[8..].copy_from_slice(&i.to_be_bytes());
    entry
}

fn leaf_hashes() -> Vec<NodeHash> {
    (0..LEAVES).map(|i| leaf_hash(&entry(i))).collect()
}

fn proofs(c: &mut Criterion) {
    let tree = MerkleTree::from_leaf_hashes(leaf_hashes());
    let head = tree.tree_head();
    let mut group = c.benchmark_group("merkle_1m");

    // A spread of indices so no single path is favoured by the cache.
    let mut next = 0u64;
    let mut index = move || {
        next = (next + 7_919) % LEAVES;
        next
    };
    group.bench_function("inclusion_proof_generate", |b| {
        b.iter(|| tree.inclusion_proof(black_box(index()), black_box(LEAVES)))
    });

    let target = 765_432;
    let proof = tree
        .inclusion_proof(target, LEAVES)
        .expect("the index is inside the tree");
    let leaf = tree
        .leaf_hash(target)
        .expect("the index is inside the tree");
    group.bench_function("inclusion_proof_verify", |b| {
        b.iter(|| verify_inclusion(black_box(&leaf), target, black_box(&proof), &head))
    });

    let old = tree
        .root_at(654_321)
        .map(|root| assize_signing::merkle::TreeHead::new(654_321, root))
        .expect("the size is inside the tree");
    group.bench_function("consistency_proof_generate", |b| {
        b.iter(|| tree.consistency_proof(black_box(old.size), black_box(LEAVES)))
    });
    let consistency = tree
        .consistency_proof(old.size, LEAVES)
        .expect("the sizes are inside the tree and ordered");
    group.bench_function("consistency_proof_verify", |b| {
        b.iter(|| verify_consistency(&old, &head, black_box(&consistency)))
    });
    group.bench_function("root_of_1m_tree", |b| b.iter(|| black_box(&tree).root()));
    group.finish();
}

fn append(c: &mut Criterion) {
    let mut group = c.benchmark_group("merkle_append");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(10));
    group.throughput(Throughput::Elements(LEAVES));
    // Growing the log from empty to a million entries, one append at a time (entry hashing included):
    // the amortised append cost, and what a server pays to rebuild from stored entries.
    group.bench_function("append_1m_entries", |b| {
        b.iter(|| {
            let mut tree = MerkleTree::new();
            for i in 0..LEAVES {
                tree.push_entry(&entry(i));
            }
            tree.len()
        })
    });
    group.finish();
}

fn recompute(c: &mut Criterion) {
    let mut group = c.benchmark_group("merkle_recompute_1m");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(10));
    group.throughput(Throughput::Elements(LEAVES));
    // Checking an export: hash every entry as a leaf and fold the tree, O(log n) memory.
    group.bench_function("compact_range_from_entries", |b| {
        b.iter(|| {
            let mut range = CompactRange::new();
            for i in 0..LEAVES {
                range.push_entry(&entry(i));
            }
            range.root()
        })
    });
    // Rebuilding the full in-memory tree from stored leaf hashes (server start).
    let hashes = leaf_hashes();
    group.bench_function("tree_from_leaf_hashes", |b| {
        b.iter(|| MerkleTree::from_leaf_hashes(hashes.iter().copied()).root())
    });
    group.finish();
}

criterion_group!(benches, proofs, append, recompute);
criterion_main!(benches);
