//! Proof verification, exactly as RFC 9162 §2.1.3.2 (inclusion) and §2.1.4.2 (consistency) describe it.
//!
//! The loops below follow the RFC's numbered steps one to one (`fn`/`sn` are the RFC's names, spelled
//! `fnode`/`snode` because `fn` is a keyword), so that an auditor can hold the RFC next to the code. Before
//! any hashing, the proof length is compared with the length the tree shape needs; that turns "too long",
//! "too short" and "empty" into one precise error and bounds the work: an inclusion proof has at most 64
//! items and a consistency proof at most 65, whatever the input.

use super::error::ProofError;
use super::hash::{NodeHash, node_hash};

/// What a checkpoint (RFC 9162 "signed tree head") commits to: the number of entries in the log and the
/// Merkle Tree Hash over exactly those entries.
///
/// This module does not sign or parse checkpoints; it only checks proofs against a tree head the caller
/// already trusts.
///
/// # Security
/// A proof does not carry the tree size; size and root must come together from the same signed
/// checkpoint, which is why they travel as one value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TreeHead {
    /// Number of entries (leaves) in the tree.
    pub size: u64,
    /// Merkle Tree Hash of those entries.
    pub root: NodeHash,
}

impl TreeHead {
    /// A tree head from its two parts.
    #[must_use]
    pub const fn new(size: u64, root: NodeHash) -> Self {
        Self { size, root }
    }
}

/// Number of hashes in the inclusion proof of leaf `index` in a tree of `size` leaves, or `None` when
/// `index >= size` (there is no such proof).
///
/// The proof has one hash per level where the path from the leaf to the root has a sibling: the levels
/// below the point where the paths of `index` and `size - 1` part (`inner`), plus one for every left
/// sibling above that point (`border`).
#[must_use]
pub fn inclusion_proof_len(index: u64, size: u64) -> Option<usize> {
    if index >= size {
        return None;
    }
    let inner = u64::BITS - (index ^ (size - 1)).leading_zeros();
    // `inner` can be 64 when the paths part at the top bit; `checked_shr` then yields no border bits.
    let border = index.checked_shr(inner).unwrap_or(0).count_ones();
    Some((inner + border) as usize)
}

/// Number of hashes in the consistency proof from a tree of `size1` leaves to one of `size2` leaves, or
/// `None` when RFC 9162 defines no proof (`size1 == 0` or `size1 > size2`). Equal sizes need an empty proof.
///
/// Computed by running the RFC 9162 §2.1.4.2 walk without hashing: each step consumes one hash until
/// `sn` reaches 0, plus the first hash unless `size1` is a power of two (then the verifier uses its own
/// first root instead).
#[must_use]
pub fn consistency_proof_len(size1: u64, size2: u64) -> Option<usize> {
    if size1 == 0 || size1 > size2 {
        return None;
    }
    if size1 == size2 {
        return Some(0);
    }
    let (mut fnode, mut snode) = (size1 - 1, size2 - 1);
    while fnode & 1 == 1 {
        fnode >>= 1;
        snode >>= 1;
    }
    let mut steps = 0;
    while snode != 0 {
        if fnode & 1 == 1 || fnode == snode {
            while fnode & 1 == 0 && fnode != 0 {
                fnode >>= 1;
                snode >>= 1;
            }
        }
        fnode >>= 1;
        snode >>= 1;
        steps += 1;
    }
    Some(steps + usize::from(!size1.is_power_of_two()))
}

/// Checks that the leaf with hash `leaf_hash` sits at position `index` of the tree `head` commits to
/// (RFC 9162 §2.1.3.2).
///
/// `leaf_hash` is [`leaf_hash`](super::leaf_hash) of the entry, not the entry itself.
///
/// # Errors
/// - [`ProofError::EmptyTree`] if `head.size == 0`;
/// - [`ProofError::IndexOutOfRange`] if `index >= head.size`;
/// - [`ProofError::WrongProofLength`] if the proof has too many or too few hashes;
/// - [`ProofError::RootMismatch`] if the recomputed root is not `head.root`.
///
/// # Security
/// The proof does not authenticate the tree size: with the root of one size, a different size whose proof
/// walk has the same shape chains to the same root. Take `head` (size *and* root together) from a checkpoint
/// the log signed, never the size from the prover.
pub fn verify_inclusion(
    leaf_hash: &NodeHash,
    index: u64,
    proof: &[NodeHash],
    head: &TreeHead,
) -> Result<(), ProofError> {
    let size = head.size;
    if size == 0 {
        return Err(ProofError::EmptyTree);
    }
    // Step 1: the index must be inside the tree.
    let expected =
        inclusion_proof_len(index, size).ok_or(ProofError::IndexOutOfRange { index, size })?;
    if proof.len() != expected {
        return Err(ProofError::WrongProofLength {
            expected,
            actual: proof.len(),
        });
    }
    // Steps 2 and 3.
    let (mut fnode, mut snode) = (index, size - 1);
    let mut r = *leaf_hash;
    // Step 4.
    for p in proof {
        // 4a. Unreachable after the length check above; kept so the loop is the RFC's, and safe on its own.
        if snode == 0 {
            return Err(ProofError::WrongProofLength {
                expected,
                actual: proof.len(),
            });
        }
        // 4b.
        if fnode & 1 == 1 || fnode == snode {
            r = node_hash(p, &r);
            while fnode & 1 == 0 && fnode != 0 {
                fnode >>= 1;
                snode >>= 1;
            }
        } else {
            r = node_hash(&r, p);
        }
        // 4c.
        fnode >>= 1;
        snode >>= 1;
    }
    // Step 5.
    if snode != 0 {
        return Err(ProofError::WrongProofLength {
            expected,
            actual: proof.len(),
        });
    }
    if r != head.root {
        return Err(ProofError::RootMismatch);
    }
    Ok(())
}

/// Checks that the tree `old` commits to is a prefix of the tree `new` commits to: the log only appended
/// between the two checkpoints (RFC 9162 §2.1.4.2).
///
/// Equal sizes need an empty proof and equal roots. A proof from the empty tree is refused (RFC 9162
/// defines consistency proofs only for `0 < old.size < new.size`).
///
/// # Errors
/// - [`ProofError::SizesOutOfOrder`] if `old.size > new.size`;
/// - [`ProofError::ConsistencyFromEmptyTree`] if `old.size == 0`;
/// - [`ProofError::WrongProofLength`] if the proof has too many or too few hashes (including a non-empty
///   proof for equal sizes, and an empty proof for different sizes);
/// - [`ProofError::FirstRootMismatch`] / [`ProofError::SecondRootMismatch`] if a recomputed root differs
///   (for equal sizes with different roots: `SecondRootMismatch`).
///
/// # Security
/// The proof does not authenticate the tree size: with the root of one size, a different size whose proof
/// walk has the same shape chains to the same root. Take `head` (size *and* root together) from a checkpoint
/// the log signed, never the size from the prover.
pub fn verify_consistency(
    old: &TreeHead,
    new: &TreeHead,
    proof: &[NodeHash],
) -> Result<(), ProofError> {
    let (size1, size2) = (old.size, new.size);
    if size1 > size2 {
        return Err(ProofError::SizesOutOfOrder { size1, size2 });
    }
    if size1 == 0 {
        return Err(ProofError::ConsistencyFromEmptyTree);
    }
    let expected =
        consistency_proof_len(size1, size2).ok_or(ProofError::SizesOutOfOrder { size1, size2 })?;
    let wrong_length = ProofError::WrongProofLength {
        expected,
        actual: proof.len(),
    };
    if proof.len() != expected {
        return Err(wrong_length);
    }
    if size1 == size2 {
        return if old.root == new.root {
            Ok(())
        } else {
            Err(ProofError::SecondRootMismatch)
        };
    }
    // Step 1 (an empty proof) was rejected by the length check: for size1 < size2 `expected >= 1`.
    // Step 2: if size1 is a power of two, the proof omits the first root; start from the verifier's own.
    let (seed, rest) = if size1.is_power_of_two() {
        (old.root, proof)
    } else {
        match proof.split_first() {
            Some((first, rest)) => (*first, rest),
            None => return Err(wrong_length),
        }
    };
    // Step 3.
    let (mut fnode, mut snode) = (size1 - 1, size2 - 1);
    // Step 4.
    while fnode & 1 == 1 {
        fnode >>= 1;
        snode >>= 1;
    }
    // Step 5.
    let (mut fr, mut sr) = (seed, seed);
    // Step 6.
    for c in rest {
        // 6a. Unreachable after the length check; kept so the loop is the RFC's.
        if snode == 0 {
            return Err(wrong_length);
        }
        // 6b.
        if fnode & 1 == 1 || fnode == snode {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            while fnode & 1 == 0 && fnode != 0 {
                fnode >>= 1;
                snode >>= 1;
            }
        } else {
            sr = node_hash(&sr, c);
        }
        // 6c.
        fnode >>= 1;
        snode >>= 1;
    }
    // Step 7.
    if snode != 0 {
        return Err(wrong_length);
    }
    if fr != old.root {
        return Err(ProofError::FirstRootMismatch);
    }
    if sr != new.root {
        return Err(ProofError::SecondRootMismatch);
    }
    Ok(())
}
