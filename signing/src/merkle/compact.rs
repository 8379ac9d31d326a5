//! One-pass root recomputation; see [`CompactRange`].

use super::error::ProofError;
use super::hash::{NodeHash, empty_root, leaf_hash, node_hash};
use super::verify::TreeHead;

/// Recomputes a log's root from its entries in one pass and O(log n) memory, for checking an export
/// against a checkpoint.
///
/// After `n` leaves the tree `D[0:n]` is tiled by one perfect subtree per set bit of `n` (largest on the
/// left). Those at most 64 subtree roots are all that is needed to keep appending or to compute the root:
/// this is the "compact range" `[0, n)` of transparency-dev's compact ranges, restricted to ranges that
/// start at 0. A million entries take about two million hashes (a third of a second in a release build).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CompactRange {
    /// Number of leaves pushed.
    size: u64,
    /// One hash per set bit of `size`, leftmost (largest) subtree first.
    peaks: Vec<NodeHash>,
}

impl CompactRange {
    /// The range of the empty tree.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of leaves pushed so far.
    #[must_use]
    pub const fn size(&self) -> u64 {
        self.size
    }

    /// Hashes an entry as a leaf and appends it.
    pub fn push_entry(&mut self, entry: &[u8]) {
        self.push_leaf_hash(leaf_hash(entry));
    }

    /// Appends a leaf hash (already `SHA-256(0x00 || entry)`).
    pub fn push_leaf_hash(&mut self, hash: NodeHash) {
        // Every trailing one bit of `size` is a perfect subtree of the same height as the one being
        // carried: merge them, like binary addition.
        let mut node = hash;
        let mut carries = self.size.trailing_ones();
        while carries > 0 {
            let left = self.peaks.pop().expect(
                "there is one peak per set bit of `size`, and `carries` counts set bits of it",
            );
            node = node_hash(&left, &node);
            carries -= 1;
        }
        self.peaks.push(node);
        self.size = self
            .size
            .checked_add(1)
            .expect("2^64 leaves cannot be pushed: at one per nanosecond that takes 584 years");
    }

    /// The Merkle Tree Hash of all leaves pushed so far (`SHA-256("")` for none).
    #[must_use]
    pub fn root(&self) -> NodeHash {
        let mut peaks = self.peaks.iter().rev();
        let Some(last) = peaks.next() else {
            return empty_root();
        };
        peaks.fold(*last, |right, left| node_hash(left, &right))
    }

    /// The size and root, to compare with a checkpoint.
    #[must_use]
    pub fn tree_head(&self) -> TreeHead {
        TreeHead::new(self.size, self.root())
    }

    /// Checks that the entries pushed are exactly those the checkpoint `head` commits to.
    ///
    /// # Errors
    /// [`ProofError::SizeMismatch`] if a different number of leaves was pushed, [`ProofError::RootMismatch`]
    /// if the recomputed root differs.
    pub fn verify(&self, head: &TreeHead) -> Result<(), ProofError> {
        if self.size != head.size {
            return Err(ProofError::SizeMismatch {
                expected: head.size,
                actual: self.size,
            });
        }
        if self.root() != head.root {
            return Err(ProofError::RootMismatch);
        }
        Ok(())
    }
}

impl Extend<NodeHash> for CompactRange {
    fn extend<I: IntoIterator<Item = NodeHash>>(&mut self, leaf_hashes: I) {
        for hash in leaf_hashes {
            self.push_leaf_hash(hash);
        }
    }
}
