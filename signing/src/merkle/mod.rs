//! # Tamper-evident audit log: the RFC 9162 Merkle tree
//!
//! Assize's audit log is append-only and *verifiably* so. Every event is an entry; the entries, in order,
//! are the leaves of a Merkle tree as defined by RFC 9162 (Certificate Transparency 2.0) §2.1. The log
//! periodically publishes a **checkpoint** (RFC 9162 "signed tree head"): the number of entries and the
//! root hash of the tree over them, signed by the server. That root commits to every entry and its position;
//! nobody, the operator included, can later change, drop or reorder an entry without changing the root.
//!
//! Two kinds of proof let anyone holding a checkpoint check the log without trusting or downloading it:
//! - an **inclusion proof** (§2.1.3) shows that a given entry is at a given index of the tree the
//!   checkpoint commits to (about log2(n) hashes);
//! - a **consistency proof** (§2.1.4) shows that the tree of an older checkpoint is a prefix of the tree of
//!   a newer one: between the two the log only appended. A client (a lawyer's office, a court registry, an
//!   external witness) that remembers the last checkpoint it saw and checks consistency to each new one
//!   detects any rewriting of history, including a "split view" where different parties are shown
//!   different logs.
//!
//! What a checkpoint does *not* prove: that the entries are true, or that nothing was left out before
//! being logged. It proves the log is one fixed, append-only sequence.
//!
//! ## Hashing and why the 0x00/0x01 prefixes
//! - leaf hash: `SHA-256(0x00 || entry)`;
//! - interior node: `SHA-256(0x01 || left || right)`;
//! - the empty tree: `SHA-256("")`.
//!
//! Without the prefixes a 64-byte entry equal to `left || right` of some interior node would hash to that
//! node, so an attacker could claim an interior node is a leaf (a second-preimage attack on the tree) and
//! "prove" the inclusion of an entry that was never logged. The distinct prefixes put leaves and nodes in
//! disjoint hash domains.
//!
//! ## What is here
//! - [`hash`](leaf_hash): [`NodeHash`], [`leaf_hash`], [`node_hash`], [`empty_root`], [`decode_proof`];
//! - [`MerkleTree`]: the in-memory log tree; roots and proofs for the current size and every earlier size;
//!   its storage layout and how a server persists it are described on the type;
//! - [`CompactRange`]: one-pass, O(log n)-memory root recomputation, for checking an export against a
//!   checkpoint;
//! - [`verify_inclusion`] and [`verify_consistency`]: the RFC 9162 verification algorithms, step by step,
//!   against a [`TreeHead`] (size + root from a checkpoint the caller trusts). They never panic; hostile
//!   input gets a [`ProofError`]. Asking [`MerkleTree`] for something it has not got is a [`TreeError`].
//!
//! This module does no IO and signs nothing: signing and publishing checkpoints is the server's job.
//!
//! ## Example
//! ```
//! use assize_signing::merkle::{MerkleTree, leaf_hash, verify_consistency, verify_inclusion};
//!
//! let mut log = MerkleTree::new();
//! log.push_entry(b"hearing 17 opened");
//! let old = log.tree_head();
//! let index = log.push_entry(b"exhibit A admitted");
//! let new = log.tree_head();
//!
//! let proof = log.inclusion_proof(index, new.size)?;
//! verify_inclusion(&leaf_hash(b"exhibit A admitted"), index, &proof, &new)?;
//!
//! let proof = log.consistency_proof(old.size, new.size)?;
//! verify_consistency(&old, &new, &proof)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod compact;
mod error;
mod hash;
mod tree;
mod verify;

pub use compact::CompactRange;
pub use error::{ProofError, TreeError};
pub use hash::{HASH_LEN, NodeHash, decode_proof, empty_root, leaf_hash, node_hash};
pub use tree::MerkleTree;
pub use verify::{
    TreeHead, consistency_proof_len, inclusion_proof_len, verify_consistency, verify_inclusion,
};
