//! The efficient tree against a straightforward transcription of RFC 9162's recursive definitions
//! (MTH §2.1.1, PATH §2.1.3.1, PROOF/SUBPROOF §2.1.4.1), exhaustively for every tree size 1..=130, every
//! leaf index and every pair of sizes. The reference hashes with `sha2` directly, so it shares no code with
//! the module under test.

use assize_signing::merkle::{
    CompactRange, MerkleTree, NodeHash, TreeHead, consistency_proof_len, inclusion_proof_len,
    verify_consistency, verify_inclusion,
};
use sha2::{Digest, Sha256};

const MAX_SIZE: usize = 130;

mod reference {
    use super::{Digest, NodeHash, Sha256};

    pub fn leaf(entry: &[u8]) -> NodeHash {
        let mut hasher = Sha256::new();
        hasher.update([0x00]);
        hasher.update(entry);
        NodeHash::from_bytes(hasher.finalize().into())
    }

    fn node(left: &NodeHash, right: &NodeHash) -> NodeHash {
        let mut hasher = Sha256::new();
        hasher.update([0x01]);
        hasher.update(left.as_bytes());
        hasher.update(right.as_bytes());
        NodeHash::from_bytes(hasher.finalize().into())
    }

    /// The largest power of two smaller than `n` (`n > 1`).
    fn k(n: usize) -> usize {
        let mut k = 1;
        while k * 2 < n {
            k *= 2;
        }
        k
    }

    /// MTH(D[n]) over leaf hashes.
    pub fn mth(d: &[NodeHash]) -> NodeHash {
        match d.len() {
            0 => NodeHash::from_bytes(Sha256::digest([]).into()),
            1 => d[0],
            n => node(&mth(&d[..k(n)]), &mth(&d[k(n)..])),
        }
    }

    /// PATH(m, D[n]).
    pub fn path(m: usize, d: &[NodeHash]) -> Vec<NodeHash> {
        let n = d.len();
        if n == 1 {
            return Vec::new();
        }
        let k = k(n);
        if m < k {
            let mut p = path(m, &d[..k]);
            p.push(mth(&d[k..]));
            p
        } else {
            let mut p = path(m - k, &d[k..]);
            p.push(mth(&d[..k]));
            p
        }
    }

    /// PROOF(m, D[n]) = SUBPROOF(m, D[n], true).
    pub fn proof(m: usize, d: &[NodeHash]) -> Vec<NodeHash> {
        subproof(m, d, true)
    }

    fn subproof(m: usize, d: &[NodeHash], b: bool) -> Vec<NodeHash> {
        let n = d.len();
        if m == n {
            return if b { Vec::new() } else { vec![mth(d)] };
        }
        let k = k(n);
        if m <= k {
            let mut p = subproof(m, &d[..k], b);
            p.push(mth(&d[k..]));
            p
        } else {
            let mut p = subproof(m - k, &d[k..], false);
            p.push(mth(&d[..k]));
            p
        }
    }
}

fn entry(i: usize) -> Vec<u8> {
    // Entries of varied lengths, including the empty one.
    (0..i % 7).map(|j| (i * 31 + j) as u8).collect()
}

fn leaves() -> Vec<NodeHash> {
    (0..MAX_SIZE).map(|i| reference::leaf(&entry(i))).collect()
}

fn u(n: usize) -> u64 {
    n as u64
}

#[test]
fn live_and_historical_roots_equal_the_recursive_mth_for_every_size() {
    let d = leaves();
    let mut live = MerkleTree::new();
    let mut range = CompactRange::new();
    for (n, entry) in (1..=MAX_SIZE).map(|n| (n, entry(n - 1))) {
        live.push_entry(&entry);
        range.push_entry(&entry);
        let want = reference::mth(&d[..n]);
        assert_eq!(live.root(), want, "live root, size {n}");
        assert_eq!(range.root(), want, "compact range root, size {n}");
        assert_eq!(range.tree_head(), TreeHead::new(u(n), want));
    }
    assert_eq!(live.leaf_hashes(), d.as_slice());
    for n in 0..=MAX_SIZE {
        assert_eq!(
            live.root_at(u(n)),
            Ok(reference::mth(&d[..n])),
            "root_at({n})"
        );
    }
    let rebuilt = MerkleTree::from_leaf_hashes(d.iter().copied());
    assert_eq!(rebuilt.tree_head(), live.tree_head());
}

#[test]
fn inclusion_proofs_equal_the_recursive_path_for_every_size_and_index() {
    let d = leaves();
    let tree = MerkleTree::from_leaf_hashes(d.iter().copied());
    for n in 1..=MAX_SIZE {
        let head = TreeHead::new(u(n), reference::mth(&d[..n]));
        for m in 0..n {
            let want = reference::path(m, &d[..n]);
            let got = tree.inclusion_proof(u(m), u(n)).expect("in range");
            assert_eq!(got, want, "PATH({m}, D[{n}])");
            assert_eq!(inclusion_proof_len(u(m), u(n)), Some(want.len()));
            assert_eq!(
                verify_inclusion(&d[m], u(m), &got, &head),
                Ok(()),
                "verify ({m}, {n})"
            );
        }
    }
}

#[test]
fn consistency_proofs_equal_the_recursive_proof_for_every_pair_of_sizes() {
    let d = leaves();
    let tree = MerkleTree::from_leaf_hashes(d.iter().copied());
    let roots: Vec<NodeHash> = (0..=MAX_SIZE).map(|n| reference::mth(&d[..n])).collect();
    for n in 1..=MAX_SIZE {
        let new = TreeHead::new(u(n), roots[n]);
        for (m, old_root) in roots.iter().enumerate().take(n + 1).skip(1) {
            let want = if m == n {
                Vec::new()
            } else {
                reference::proof(m, &d[..n])
            };
            let got = tree
                .consistency_proof(u(m), u(n))
                .expect("ordered sizes in range");
            assert_eq!(got, want, "PROOF({m}, D[{n}])");
            assert_eq!(consistency_proof_len(u(m), u(n)), Some(want.len()));
            let old = TreeHead::new(u(m), *old_root);
            assert_eq!(
                verify_consistency(&old, &new, &got),
                Ok(()),
                "verify ({m}, {n})"
            );
        }
    }
}

#[test]
fn each_append_finalises_exactly_the_documented_interior_nodes() {
    let d = leaves();
    let mut tree = MerkleTree::new();
    for (i, leaf) in d.iter().enumerate() {
        let i = u(i);
        tree.push_leaf_hash(*leaf);
        for level in 1..8u32 {
            let finalised = (i + 1).is_multiple_of(1 << level);
            let index = ((i + 1) >> level).wrapping_sub(1);
            if finalised {
                let start = usize::try_from(index << level).expect("small");
                let want = reference::mth(&d[start..start + (1 << level)]);
                assert_eq!(
                    tree.node(level, index),
                    Some(want),
                    "node ({level}, {index})"
                );
            }
            // The next node on this level does not exist yet.
            assert_eq!(tree.node(level, (i + 1) >> level), None);
        }
    }
}
