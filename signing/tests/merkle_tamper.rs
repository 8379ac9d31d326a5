//! Tampering: every single-bit change of a valid proof (each bit of each proof hash, of the leaf hash, of
//! the roots and of the leaf index) is rejected, and hostile input of every shape gets a typed error
//! instead of a panic.
//!
//! Tree sizes are the exception the RFC 9162 algorithms cannot catch: a proof does not encode the size, so
//! a flipped size whose proof walk has the identical shape chains to the same root and passes. The tests
//! prove that this is the *only* way a changed size passes; the defence is that size and root come
//! together from a signed checkpoint (`TreeHead`), never from the prover.

use assize_signing::merkle::{
    CompactRange, MerkleTree, NodeHash, ProofError, TreeError, TreeHead, consistency_proof_len,
    decode_proof, inclusion_proof_len, leaf_hash, verify_consistency, verify_inclusion,
};

/// Tree sizes to tamper with: the small shapes, powers of two and their neighbours.
const SIZES: &[u64] = &[
    1, 2, 3, 4, 5, 6, 7, 8, 9, 13, 16, 17, 31, 32, 33, 63, 64, 65, 100,
];

fn tree(size: u64) -> MerkleTree {
    let mut tree = MerkleTree::new();
    for i in 0..size {
        tree.push_entry(format!("audit event {i}").as_bytes());
    }
    tree
}

/// All indices of a small tree; the edges and the middle of a larger one.
fn probe_points(size: u64) -> Vec<u64> {
    if size <= 17 {
        (0..size).collect()
    } else {
        vec![0, 1, size / 2 - 1, size / 2, size - 2, size - 1]
    }
}

fn flip(hash: &NodeHash, bit: usize) -> NodeHash {
    let mut bytes = hash.to_bytes();
    bytes[bit / 8] ^= 1 << (bit % 8);
    NodeHash::from_bytes(bytes)
}

/// The sequence of RFC 9162 §2.1.3.2 chaining steps (true: the proof hash goes on the left) for a
/// well-formed inclusion proof, or `None` if there is none for these coordinates. Two coordinates with the
/// same shape chain a proof into the very same root: the proof cannot tell them apart, only the checkpoint
/// (which binds size and root) can.
fn inclusion_shape(index: u64, size: u64) -> Option<Vec<bool>> {
    let len = inclusion_proof_len(index, size)?;
    let (mut fnode, mut snode) = (index, size - 1);
    let mut shape = Vec::with_capacity(len);
    for _ in 0..len {
        if fnode & 1 == 1 || fnode == snode {
            shape.push(true);
            while fnode & 1 == 0 && fnode != 0 {
                fnode >>= 1;
                snode >>= 1;
            }
        } else {
            shape.push(false);
        }
        fnode >>= 1;
        snode >>= 1;
    }
    Some(shape)
}

/// Same for consistency (RFC 9162 §2.1.4.2): whether the first proof hash is replaced by the old root,
/// then the chaining steps.
fn consistency_shape(size1: u64, size2: u64) -> Option<(bool, Vec<bool>)> {
    let len = consistency_proof_len(size1, size2)?;
    if size1 == size2 {
        return Some((true, Vec::new()));
    }
    let seeded = size1.is_power_of_two();
    let (mut fnode, mut snode) = (size1 - 1, size2 - 1);
    while fnode & 1 == 1 {
        fnode >>= 1;
        snode >>= 1;
    }
    let mut shape = Vec::new();
    for _ in 0..len - usize::from(!seeded) {
        if fnode & 1 == 1 || fnode == snode {
            shape.push(true);
            while fnode & 1 == 0 && fnode != 0 {
                fnode >>= 1;
                snode >>= 1;
            }
        } else {
            shape.push(false);
        }
        fnode >>= 1;
        snode >>= 1;
    }
    Some((seeded, shape))
}

#[test]
fn inclusion_rejects_every_bit_flip_and_a_flipped_size_passes_only_with_an_identical_proof_shape() {
    let mut cases = 0;
    let mut size_flips_with_identical_shape = 0;
    for &size in SIZES {
        let tree = tree(size);
        let head = tree.tree_head();
        for index in probe_points(size) {
            let leaf = tree.leaf_hash(index).expect("index < size");
            let proof = tree.inclusion_proof(index, size).expect("index < size");
            assert_eq!(verify_inclusion(&leaf, index, &proof, &head), Ok(()));

            for (position, item) in proof.iter().enumerate() {
                for bit in 0..256 {
                    let mut bad = proof.clone();
                    bad[position] = flip(item, bit);
                    assert_eq!(
                        verify_inclusion(&leaf, index, &bad, &head),
                        Err(ProofError::RootMismatch),
                        "proof[{position}] bit {bit}, index {index}, size {size}"
                    );
                    cases += 1;
                }
            }
            for bit in 0..256 {
                assert!(verify_inclusion(&flip(&leaf, bit), index, &proof, &head).is_err());
                let bad_head = TreeHead::new(size, flip(&head.root, bit));
                assert!(verify_inclusion(&leaf, index, &proof, &bad_head).is_err());
                cases += 2;
            }
            for bit in 0..64 {
                let bad_index = index ^ (1 << bit);
                assert!(
                    verify_inclusion(&leaf, bad_index, &proof, &head).is_err(),
                    "index {index} -> {bad_index}, size {size} accepted"
                );
                let bad_size = size ^ (1 << bit);
                let accepted =
                    verify_inclusion(&leaf, index, &proof, &TreeHead::new(bad_size, head.root))
                        .is_ok();
                if accepted {
                    // The proof is not what carries the size: with the root of the true size, a size with the
                    // same proof shape chains to the same root. Prove that is the only way it gets through.
                    assert_eq!(
                        inclusion_shape(index, bad_size),
                        inclusion_shape(index, size),
                        "size {size} -> {bad_size} accepted with a different proof shape"
                    );
                    size_flips_with_identical_shape += 1;
                }
                cases += 2;
            }
            // Structural changes: drop, repeat or add one hash.
            for position in 0..proof.len() {
                let mut bad = proof.clone();
                bad.remove(position);
                assert!(matches!(
                    verify_inclusion(&leaf, index, &bad, &head),
                    Err(ProofError::WrongProofLength { .. })
                ));
                let mut bad = proof.clone();
                bad.insert(position, proof[position]);
                assert!(verify_inclusion(&leaf, index, &bad, &head).is_err());
            }
            let mut bad = proof.clone();
            bad.push(leaf);
            assert!(verify_inclusion(&leaf, index, &bad, &head).is_err());
            if proof.len() >= 2 {
                let mut bad = proof.clone();
                bad.swap(0, 1);
                assert!(verify_inclusion(&leaf, index, &bad, &head).is_err() || bad == proof);
            }
        }
    }
    assert!(cases > 100_000, "only {cases} tampered proofs were tried");
    println!(
        "{cases} tampered inclusion proofs rejected; {size_flips_with_identical_shape} size flips with an \
         identical proof shape (undetectable without the checkpoint) accepted"
    );
}

#[test]
fn consistency_rejects_every_bit_flip_and_a_flipped_size_passes_only_with_an_identical_proof_shape()
{
    let mut cases = 0;
    let mut size_flips_with_identical_shape = 0;
    let big = tree(*SIZES.last().expect("non-empty"));
    for &size2 in SIZES {
        let new = TreeHead::new(size2, big.root_at(size2).expect("size2 within the tree"));
        for size1 in probe_points(size2).into_iter().map(|p| p + 1) {
            let old = TreeHead::new(size1, big.root_at(size1).expect("size1 within the tree"));
            let proof = big.consistency_proof(size1, size2).expect("ordered sizes");
            assert_eq!(verify_consistency(&old, &new, &proof), Ok(()));

            for (position, item) in proof.iter().enumerate() {
                for bit in 0..256 {
                    let mut bad = proof.clone();
                    bad[position] = flip(item, bit);
                    assert!(
                        matches!(
                            verify_consistency(&old, &new, &bad),
                            Err(ProofError::FirstRootMismatch | ProofError::SecondRootMismatch)
                        ),
                        "proof[{position}] bit {bit}, sizes {size1} -> {size2}"
                    );
                    cases += 1;
                }
            }
            for bit in 0..256 {
                let bad_old = TreeHead::new(size1, flip(&old.root, bit));
                let bad_new = TreeHead::new(size2, flip(&new.root, bit));
                assert!(verify_consistency(&bad_old, &new, &proof).is_err());
                assert!(verify_consistency(&old, &bad_new, &proof).is_err());
                cases += 2;
            }
            for bit in 0..64 {
                for (bad_size1, bad_size2) in
                    [(size1 ^ (1 << bit), size2), (size1, size2 ^ (1 << bit))]
                {
                    let accepted = verify_consistency(
                        &TreeHead::new(bad_size1, old.root),
                        &TreeHead::new(bad_size2, new.root),
                        &proof,
                    )
                    .is_ok();
                    if accepted {
                        assert_eq!(
                            consistency_shape(bad_size1, bad_size2),
                            consistency_shape(size1, size2),
                            "sizes {size1} -> {size2} changed to {bad_size1} -> {bad_size2} accepted with a \
                             different proof shape"
                        );
                        size_flips_with_identical_shape += 1;
                    }
                    cases += 1;
                }
            }
            for position in 0..proof.len() {
                let mut bad = proof.clone();
                bad.remove(position);
                assert!(verify_consistency(&old, &new, &bad).is_err());
                let mut bad = proof.clone();
                bad.insert(position, proof[position]);
                assert!(verify_consistency(&old, &new, &bad).is_err());
            }
            let mut bad = proof.clone();
            bad.push(old.root);
            assert!(verify_consistency(&old, &new, &bad).is_err());
        }
    }
    assert!(cases > 100_000, "only {cases} tampered proofs were tried");
    println!(
        "{cases} tampered consistency proofs rejected; {size_flips_with_identical_shape} size flips with an \
         identical proof shape (undetectable without the checkpoint) accepted"
    );
}

/// A small deterministic generator, so the hostile-input sweep is reproducible.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn hash(&mut self) -> NodeHash {
        let mut bytes = [0u8; 32];
        for chunk in bytes.chunks_mut(8) {
            chunk.copy_from_slice(&self.next().to_le_bytes());
        }
        NodeHash::from_bytes(bytes)
    }

    /// Sizes biased towards the edges: tiny, powers of two and their neighbours, near u64::MAX.
    fn size(&mut self) -> u64 {
        let r = self.next();
        match r % 5 {
            0 => r >> 58,
            1 => 1u64 << (r >> 58),
            2 => (1u64 << (r >> 58))
                .wrapping_add((r >> 8) % 3)
                .wrapping_sub(1),
            3 => u64::MAX - (r >> 59),
            _ => r,
        }
    }
}

#[test]
fn hostile_proofs_of_any_size_and_length_get_typed_errors_never_panics() {
    let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
    for _ in 0..20_000 {
        let (a, b) = (rng.size(), rng.size());
        let len = usize::try_from(rng.next() % 140).expect("small");
        let proof: Vec<NodeHash> = (0..len).map(|_| rng.hash()).collect();
        let (h1, h2) = (rng.hash(), rng.hash());
        // Random hashes never verify; what matters is that every outcome is a typed error.
        assert!(verify_inclusion(&h1, a, &proof, &TreeHead::new(b, h2)).is_err());
        assert!(verify_consistency(&TreeHead::new(a, h1), &TreeHead::new(b, h2), &proof).is_err());
        // With the exact length the sizes need, the hashing path runs to the end too.
        if let Some(need) = inclusion_proof_len(a, b) {
            assert!(need <= 64, "inclusion proof of {need} items for ({a}, {b})");
            let proof: Vec<NodeHash> = (0..need).map(|_| rng.hash()).collect();
            assert_eq!(
                verify_inclusion(&h1, a, &proof, &TreeHead::new(b, h2)),
                Err(ProofError::RootMismatch)
            );
        }
        let (small, large) = (a.min(b), a.max(b));
        if let Some(need) = consistency_proof_len(small, large) {
            assert!(
                need <= 65,
                "consistency proof of {need} items for ({small}, {large})"
            );
            let proof: Vec<NodeHash> = (0..need).map(|_| rng.hash()).collect();
            assert!(matches!(
                verify_consistency(&TreeHead::new(small, h1), &TreeHead::new(large, h2), &proof),
                Err(ProofError::FirstRootMismatch | ProofError::SecondRootMismatch)
            ));
        }
    }
}

#[test]
fn hostile_inclusion_inputs_are_named_precisely() {
    let h = leaf_hash(b"x");
    let head = |size| TreeHead::new(size, h);
    let table: &[(u64, u64, usize, ProofError)] = &[
        (0, 0, 0, ProofError::EmptyTree),
        (5, 0, 0, ProofError::EmptyTree),
        (1, 1, 0, ProofError::IndexOutOfRange { index: 1, size: 1 }),
        (8, 8, 3, ProofError::IndexOutOfRange { index: 8, size: 8 }),
        (
            u64::MAX,
            u64::MAX,
            64,
            ProofError::IndexOutOfRange {
                index: u64::MAX,
                size: u64::MAX,
            },
        ),
        (
            u64::MAX,
            1,
            0,
            ProofError::IndexOutOfRange {
                index: u64::MAX,
                size: 1,
            },
        ),
        (
            0,
            1,
            1,
            ProofError::WrongProofLength {
                expected: 0,
                actual: 1,
            },
        ),
        (
            0,
            8,
            0,
            ProofError::WrongProofLength {
                expected: 3,
                actual: 0,
            },
        ),
        (
            0,
            8,
            2,
            ProofError::WrongProofLength {
                expected: 3,
                actual: 2,
            },
        ),
        (
            0,
            8,
            4,
            ProofError::WrongProofLength {
                expected: 3,
                actual: 4,
            },
        ),
        (
            0,
            8,
            1_000,
            ProofError::WrongProofLength {
                expected: 3,
                actual: 1_000,
            },
        ),
        (
            0,
            u64::MAX,
            63,
            ProofError::WrongProofLength {
                expected: 64,
                actual: 63,
            },
        ),
        (0, u64::MAX, 64, ProofError::RootMismatch),
        (u64::MAX - 1, u64::MAX, 63, ProofError::RootMismatch),
        (1 << 63, u64::MAX, 64, ProofError::RootMismatch),
        ((1 << 63) - 1, 1 << 63, 63, ProofError::RootMismatch),
        (
            (1 << 63) - 1,
            1 << 63,
            64,
            ProofError::WrongProofLength {
                expected: 63,
                actual: 64,
            },
        ),
    ];
    for (index, size, len, want) in table {
        let proof = vec![h; *len];
        assert_eq!(
            verify_inclusion(&h, *index, &proof, &head(*size)).as_ref(),
            Err(want),
            "index {index}, size {size}, proof of {len}"
        );
    }
}

#[test]
fn hostile_consistency_inputs_are_named_precisely() {
    let h = leaf_hash(b"x");
    let other = leaf_hash(b"y");
    let table: &[(u64, u64, usize, ProofError)] = &[
        (1, 0, 0, ProofError::SizesOutOfOrder { size1: 1, size2: 0 }),
        (
            u64::MAX,
            1,
            0,
            ProofError::SizesOutOfOrder {
                size1: u64::MAX,
                size2: 1,
            },
        ),
        (0, 0, 0, ProofError::ConsistencyFromEmptyTree),
        (0, 8, 3, ProofError::ConsistencyFromEmptyTree),
        (0, u64::MAX, 0, ProofError::ConsistencyFromEmptyTree),
        (
            8,
            8,
            1,
            ProofError::WrongProofLength {
                expected: 0,
                actual: 1,
            },
        ),
        (
            1,
            8,
            0,
            ProofError::WrongProofLength {
                expected: 3,
                actual: 0,
            },
        ),
        (
            3,
            8,
            1_000,
            ProofError::WrongProofLength {
                expected: 4,
                actual: 1_000,
            },
        ),
        (u64::MAX, u64::MAX, 0, ProofError::SecondRootMismatch),
        // size1 = 1 is a power of two: the old root seeds the walk and never changes, so only the new
        // root can mismatch.
        (1, u64::MAX, 64, ProofError::SecondRootMismatch),
        (
            u64::MAX - 1,
            u64::MAX,
            0,
            ProofError::WrongProofLength {
                expected: 64,
                actual: 0,
            },
        ),
        (u64::MAX - 1, u64::MAX, 64, ProofError::FirstRootMismatch),
        // A perfect old tree of 2^63 leaves is the new tree's left half: one hash (the right half) proves it.
        (1 << 63, u64::MAX, 1, ProofError::SecondRootMismatch),
        (
            1 << 63,
            u64::MAX,
            63,
            ProofError::WrongProofLength {
                expected: 1,
                actual: 63,
            },
        ),
    ];
    for (size1, size2, len, want) in table {
        let proof = vec![h; *len];
        let got = verify_consistency(
            &TreeHead::new(*size1, h),
            &TreeHead::new(*size2, other),
            &proof,
        );
        assert_eq!(
            got.as_ref(),
            Err(want),
            "sizes {size1} -> {size2}, proof of {len}"
        );
    }
    // Equal sizes with equal roots and no proof: consistent (nothing was appended).
    assert_eq!(
        verify_consistency(&TreeHead::new(5, h), &TreeHead::new(5, h), &[]),
        Ok(())
    );
}

#[test]
fn hashes_of_the_wrong_length_are_rejected_with_their_length() {
    for len in [0, 1, 31, 33, 64, 1_000] {
        let bytes = vec![7u8; len];
        assert_eq!(
            NodeHash::from_slice(&bytes),
            Err(ProofError::MalformedHash { len })
        );
        assert_eq!(
            NodeHash::try_from(bytes.as_slice()),
            Err(ProofError::MalformedHash { len })
        );
    }
    let good = [1u8; 32];
    assert_eq!(NodeHash::from_slice(&good), Ok(NodeHash::from_bytes(good)));
    let items: Vec<Vec<u8>> = vec![vec![0; 32], vec![0; 32], vec![0; 31], vec![0; 33]];
    assert_eq!(
        decode_proof(&items),
        Err(ProofError::MalformedProofHash {
            position: 2,
            len: 31
        })
    );
    assert_eq!(decode_proof(&items[..2]).map(|p| p.len()), Ok(2));
    assert_eq!(decode_proof(Vec::<Vec<u8>>::new()), Ok(Vec::new()));
}

#[test]
fn asking_the_tree_for_what_it_has_not_got_is_a_tree_error() {
    let tree = tree(5);
    assert_eq!(
        tree.root_at(6),
        Err(TreeError::SizeBeyondLog { size: 6, len: 5 })
    );
    assert_eq!(
        tree.inclusion_proof(0, u64::MAX),
        Err(TreeError::SizeBeyondLog {
            size: u64::MAX,
            len: 5
        })
    );
    assert_eq!(
        tree.inclusion_proof(5, 5),
        Err(TreeError::IndexOutOfRange { index: 5, size: 5 })
    );
    assert_eq!(
        tree.inclusion_proof(0, 0),
        Err(TreeError::IndexOutOfRange { index: 0, size: 0 })
    );
    assert_eq!(
        tree.consistency_proof(4, 3),
        Err(TreeError::SizesOutOfOrder { size1: 4, size2: 3 })
    );
    assert_eq!(
        tree.consistency_proof(0, 3),
        Err(TreeError::ConsistencyFromEmptyTree)
    );
    assert_eq!(
        tree.consistency_proof(3, 9),
        Err(TreeError::SizeBeyondLog { size: 9, len: 5 })
    );
    assert_eq!(tree.consistency_proof(5, 5), Ok(Vec::new()));
    assert_eq!(tree.leaf_hash(5), None);
    assert_eq!(tree.node(99, 0), None);
    assert_eq!(tree.node(0, u64::MAX), None);
}

#[test]
fn an_export_with_a_missing_or_changed_entry_does_not_match_its_checkpoint() {
    let tree = tree(10);
    let head = tree.tree_head();
    let entries: Vec<Vec<u8>> = (0..10)
        .map(|i| format!("audit event {i}").into_bytes())
        .collect();

    let mut exact = CompactRange::new();
    entries.iter().for_each(|e| exact.push_entry(e));
    assert_eq!(exact.verify(&head), Ok(()));

    let mut short = CompactRange::new();
    entries[..9].iter().for_each(|e| short.push_entry(e));
    assert_eq!(
        short.verify(&head),
        Err(ProofError::SizeMismatch {
            expected: 10,
            actual: 9
        })
    );

    let mut changed = CompactRange::new();
    entries.iter().enumerate().for_each(|(i, e)| {
        changed.push_entry(if i == 3 { b"audit event 3 (edited)" } else { e });
    });
    assert_eq!(changed.verify(&head), Err(ProofError::RootMismatch));

    let mut swapped = CompactRange::new();
    swapped.extend([1, 0, 2, 3, 4, 5, 6, 7, 8, 9].map(|i| leaf_hash(&entries[i])));
    assert_eq!(swapped.verify(&head), Err(ProofError::RootMismatch));
}
