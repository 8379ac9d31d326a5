//! The log's in-memory tree; see [`MerkleTree`] for the storage layout and how a server persists it.

use super::error::TreeError;
use super::hash::{NodeHash, empty_root, leaf_hash, node_hash};
use super::verify::TreeHead;

/// An append-only Merkle tree (RFC 9162 §2.1) over the hashes of the log's entries.
///
/// It answers roots and proofs for the current size and every earlier size.
///
/// # Storage layout
/// Every node of the tree that covers a *perfect* (power-of-two, aligned) run of leaves never changes once
/// its last leaf is appended. The tree keeps exactly those, level by level: `levels[0]` are the leaf hashes,
/// `levels[k][i]` is the hash of leaves `i·2^k .. (i+1)·2^k`. That is about two hashes per leaf (64 bytes;
/// 64 MB for a million entries). The nodes on the right border of a tree whose size is not a power of two
/// are recomputed on demand from at most 64 perfect nodes, so a root or proof for any size costs
/// O(log n) hashes and an append costs O(1) amortised (O(log n) worst case).
///
/// # Persistence
/// This type keeps everything in memory and does no IO. A node is addressed by `(level, index)` and its
/// hash is final once it exists, so the server can persist the tree in either of two ways:
/// - store the leaf hashes (or entries) in append order ([`MerkleTree::leaf_hashes`]) and rebuild with
///   [`MerkleTree::from_leaf_hashes`] at start: a million leaves is about a million node hashes, a quarter
///   of a second in a release build. This is the intended use today.
/// - also store interior nodes as they become final: after leaf `i` is appended, level `k >= 1` gains node
///   `((i + 1) >> k) - 1` for every `k` with `2^k` dividing `i + 1` (read it with [`MerkleTree::node`]).
///   That is the layout a future disk-backed node store (tiles) would serve from, without changing the
///   proof algorithms, which only ever read perfect nodes by `(level, index)`.
#[derive(Clone, Default)]
pub struct MerkleTree {
    /// `levels[k][i]` is the root of the perfect subtree over leaves `i·2^k .. (i+1)·2^k`.
    /// `levels[0]` holds the leaf hashes. Empty levels are not kept.
    levels: Vec<Vec<NodeHash>>,
}

impl std::fmt::Debug for MerkleTree {
    /// The size and root only: a million hashes would swamp a log line.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MerkleTree")
            .field("size", &self.len())
            .field("root", &self.root())
            .finish()
    }
}

/// The largest power of two strictly below `n`; `n` must be at least 2 (the RFC's `k`).
fn split_point(n: u64) -> u64 {
    debug_assert!(n >= 2, "only trees of two or more leaves are split");
    1 << (u64::BITS - 1 - (n - 1).leading_zeros())
}

impl MerkleTree {
    /// An empty tree.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Rebuilds a tree from leaf hashes in append order (for instance read back from storage).
    #[must_use]
    pub fn from_leaf_hashes<I: IntoIterator<Item = NodeHash>>(leaf_hashes: I) -> Self {
        let mut tree = Self::new();
        for hash in leaf_hashes {
            tree.push_leaf_hash(hash);
        }
        tree
    }

    /// Appends an entry and returns its leaf index.
    pub fn push_entry(&mut self, entry: &[u8]) -> u64 {
        self.push_leaf_hash(leaf_hash(entry))
    }

    /// Appends a leaf hash (already `SHA-256(0x00 || entry)`) and returns its leaf index.
    pub fn push_leaf_hash(&mut self, hash: NodeHash) -> u64 {
        let index = self.len();
        let mut node = hash;
        let mut level = 0;
        loop {
            if self.levels.len() == level {
                self.levels.push(Vec::new());
            }
            let nodes = &mut self.levels[level];
            nodes.push(node);
            // An even count means the new node completed a pair: its parent is now perfect too.
            if !nodes.len().is_multiple_of(2) {
                break;
            }
            let left = &nodes[nodes.len() - 2];
            node = node_hash(left, &node);
            level += 1;
        }
        index
    }

    /// Number of leaves appended so far.
    #[must_use]
    pub fn len(&self) -> u64 {
        self.levels.first().map_or(0, |leaves| leaves.len() as u64)
    }

    /// Whether no leaf has been appended yet.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// All leaf hashes in append order (what a server persists to rebuild the tree).
    #[must_use]
    pub fn leaf_hashes(&self) -> &[NodeHash] {
        self.levels.first().map_or(&[], Vec::as_slice)
    }

    /// The hash of leaf `index`, if it exists.
    #[must_use]
    pub fn leaf_hash(&self, index: u64) -> Option<NodeHash> {
        self.node(0, index)
    }

    /// The root of the perfect subtree over leaves `index·2^level .. (index+1)·2^level`, once all of those
    /// leaves have been appended. This hash never changes afterwards.
    #[must_use]
    pub fn node(&self, level: u32, index: u64) -> Option<NodeHash> {
        let nodes = self.levels.get(usize::try_from(level).ok()?)?;
        nodes.get(usize::try_from(index).ok()?).copied()
    }

    /// The Merkle Tree Hash of the whole log.
    #[must_use]
    pub fn root(&self) -> NodeHash {
        self.range_hash(0, self.len())
    }

    /// The current size and root, the content of a checkpoint.
    #[must_use]
    pub fn tree_head(&self) -> TreeHead {
        TreeHead::new(self.len(), self.root())
    }

    /// The Merkle Tree Hash of the first `size` leaves: the root the log had when it had `size` entries.
    ///
    /// # Errors
    /// [`TreeError::SizeBeyondLog`] if `size` is larger than [`len`](Self::len).
    pub fn root_at(&self, size: u64) -> Result<NodeHash, TreeError> {
        self.check_size(size)?;
        Ok(self.range_hash(0, size))
    }

    /// The inclusion proof of leaf `index` in the tree of the first `size` leaves (RFC 9162 §2.1.3.1,
    /// `PATH(index, D[0:size])`), ordered from the leaf upwards as the verifier consumes it.
    ///
    /// # Errors
    /// [`TreeError::SizeBeyondLog`] if `size > len()`, [`TreeError::IndexOutOfRange`] if `index >= size`.
    pub fn inclusion_proof(&self, index: u64, size: u64) -> Result<Vec<NodeHash>, TreeError> {
        self.check_size(size)?;
        if index >= size {
            return Err(TreeError::IndexOutOfRange { index, size });
        }
        // Walk the RFC recursion from the root down: the current subtree is leaves `lo..hi`, `m` is the
        // index relative to `lo`. Each step records the sibling subtree; the proof lists them bottom-up.
        let (mut lo, mut hi, mut m) = (0, size, index);
        let mut proof = Vec::with_capacity(64);
        while hi - lo > 1 {
            let k = split_point(hi - lo);
            if m < k {
                // PATH(m, D[0:k]) : MTH(D[k:n])
                proof.push(self.range_hash(lo + k, hi));
                hi = lo + k;
            } else {
                // PATH(m - k, D[k:n]) : MTH(D[0:k])
                proof.push(self.range_hash(lo, lo + k));
                lo += k;
                m -= k;
            }
        }
        proof.reverse();
        Ok(proof)
    }

    /// The consistency proof from the tree of the first `size1` leaves to the tree of the first `size2`
    /// leaves (RFC 9162 §2.1.4.1, `PROOF(size1, D[0:size2])`). Equal sizes give an empty proof.
    ///
    /// # Errors
    /// [`TreeError::SizeBeyondLog`] if `size2 > len()`, [`TreeError::SizesOutOfOrder`] if
    /// `size1 > size2`, [`TreeError::ConsistencyFromEmptyTree`] if `size1 == 0`.
    pub fn consistency_proof(&self, size1: u64, size2: u64) -> Result<Vec<NodeHash>, TreeError> {
        self.check_size(size2)?;
        if size1 > size2 {
            return Err(TreeError::SizesOutOfOrder { size1, size2 });
        }
        if size1 == 0 {
            return Err(TreeError::ConsistencyFromEmptyTree);
        }
        if size1 == size2 {
            return Ok(Vec::new());
        }
        // SUBPROOF(m, D[lo:hi], b) unrolled: each step records one subtree hash that comes *after* the
        // recursive part, so they are collected top-down and reversed at the end.
        let (mut lo, mut hi, mut m) = (0, size2, size1);
        let mut whole_old_tree_known = true; // the RFC's `b`
        let mut proof = Vec::with_capacity(64);
        loop {
            let n = hi - lo;
            if m == n {
                // The old tree's remainder is this whole subtree; the verifier knows its hash already
                // if it is the entire old tree (b = true).
                if !whole_old_tree_known {
                    proof.push(self.range_hash(lo, hi));
                }
                break;
            }
            let k = split_point(n);
            if m <= k {
                // SUBPROOF(m, D[0:k], b) : MTH(D[k:n])
                proof.push(self.range_hash(lo + k, hi));
                hi = lo + k;
            } else {
                // SUBPROOF(m - k, D[k:n], false) : MTH(D[0:k])
                proof.push(self.range_hash(lo, lo + k));
                lo += k;
                m -= k;
                whole_old_tree_known = false;
            }
        }
        // The base-case hash (if any) was pushed last but comes first; the others in reverse order.
        proof.reverse();
        Ok(proof)
    }

    fn check_size(&self, size: u64) -> Result<(), TreeError> {
        let len = self.len();
        if size > len {
            return Err(TreeError::SizeBeyondLog { size, len });
        }
        Ok(())
    }

    /// The perfect node at `level` starting at leaf `start`; both come from the tree shape, so it exists.
    fn perfect(&self, level: u32, start: u64) -> NodeHash {
        self.node(level, start >> level).expect(
            "callers only ask for perfect subtrees inside len(), and every one of those is stored",
        )
    }

    /// `MTH(D[start:end])` for a subtree of the RFC tree: `start` is a multiple of the largest power of two
    /// not above `end - start`, and `end <= len()`. Assembled right to left from the perfect subtrees that
    /// tile the range, largest first.
    fn range_hash(&self, start: u64, end: u64) -> NodeHash {
        debug_assert!(start <= end && end <= self.len());
        let size = end - start;
        if size == 0 {
            return empty_root();
        }
        // Tiling: one perfect subtree per set bit of `size`, from the highest bit (leftmost) down.
        let mut acc: Option<NodeHash> = None;
        let mut offset = end;
        let mut rest = size;
        while rest != 0 {
            let level = rest.trailing_zeros();
            offset -= 1 << level;
            let hash = self.perfect(level, offset);
            acc = Some(match acc {
                None => hash,
                Some(right) => node_hash(&hash, &right),
            });
            rest &= rest - 1;
        }
        acc.unwrap_or_else(empty_root)
    }
}
