//! The three hashes of RFC 9162 §2.1: leaf, interior node and empty tree.

use std::fmt;

use sha2::{Digest, Sha256};

use super::error::ProofError;

/// Length in bytes of every hash in the tree (SHA-256).
pub const HASH_LEN: usize = 32;

/// Domain-separation prefix of a leaf hash (RFC 9162 §2.1.1).
const LEAF_PREFIX: u8 = 0x00;
/// Domain-separation prefix of an interior node hash (RFC 9162 §2.1.1).
const NODE_PREFIX: u8 = 0x01;

/// A 32-byte hash of a leaf, an interior node or a whole tree.
///
/// The type does not record which of the three it is: RFC 9162 proofs are lists of plain hashes, and the
/// domain separation lives in the 0x00/0x01 prefixes that went into computing them. A value of this type is
/// always exactly [`HASH_LEN`] bytes; bytes of another length are rejected by [`NodeHash::from_slice`].
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeHash([u8; HASH_LEN]);

impl NodeHash {
    /// Wraps 32 bytes that already are a hash (for instance read back from storage).
    #[must_use]
    pub const fn from_bytes(bytes: [u8; HASH_LEN]) -> Self {
        Self(bytes)
    }

    /// Decodes a hash received from outside (a proof, a checkpoint).
    ///
    /// # Errors
    /// [`ProofError::MalformedHash`] when `bytes` is not exactly [`HASH_LEN`] bytes long.
    pub fn from_slice(bytes: &[u8]) -> Result<Self, ProofError> {
        <[u8; HASH_LEN]>::try_from(bytes)
            .map(Self)
            .map_err(|_| ProofError::MalformedHash { len: bytes.len() })
    }

    /// The raw 32 bytes.
    #[must_use]
    pub const fn as_bytes(&self) -> &[u8; HASH_LEN] {
        &self.0
    }

    /// The raw 32 bytes, by value.
    #[must_use]
    pub const fn to_bytes(self) -> [u8; HASH_LEN] {
        self.0
    }
}

impl AsRef<[u8]> for NodeHash {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl From<[u8; HASH_LEN]> for NodeHash {
    fn from(bytes: [u8; HASH_LEN]) -> Self {
        Self(bytes)
    }
}

impl TryFrom<&[u8]> for NodeHash {
    type Error = ProofError;

    fn try_from(bytes: &[u8]) -> Result<Self, Self::Error> {
        Self::from_slice(bytes)
    }
}

/// Lower-case hex, the way CT tools and test vectors print hashes.
impl fmt::Display for NodeHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for byte in self.0 {
            write!(f, "{byte:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for NodeHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NodeHash({self})")
    }
}

/// Decodes a list of proof hashes received from outside.
///
/// # Errors
/// [`ProofError::MalformedProofHash`] naming the first item that is not exactly [`HASH_LEN`] bytes long.
pub fn decode_proof<I>(items: I) -> Result<Vec<NodeHash>, ProofError>
where
    I: IntoIterator,
    I::Item: AsRef<[u8]>,
{
    items
        .into_iter()
        .enumerate()
        .map(|(position, item)| {
            let bytes = item.as_ref();
            NodeHash::from_slice(bytes).map_err(|_| ProofError::MalformedProofHash {
                position,
                len: bytes.len(),
            })
        })
        .collect()
}

/// The hash of one log entry: `SHA-256(0x00 || entry)` (RFC 9162 §2.1.1).
#[must_use]
pub fn leaf_hash(entry: &[u8]) -> NodeHash {
    let mut hasher = Sha256::new();
    hasher.update([LEAF_PREFIX]);
    hasher.update(entry);
    NodeHash(hasher.finalize().into())
}

/// The hash of an interior node: `SHA-256(0x01 || left || right)` (RFC 9162 §2.1.1).
#[must_use]
pub fn node_hash(left: &NodeHash, right: &NodeHash) -> NodeHash {
    let mut hasher = Sha256::new();
    hasher.update([NODE_PREFIX]);
    hasher.update(left.0);
    hasher.update(right.0);
    NodeHash(hasher.finalize().into())
}

/// The Merkle Tree Hash of the empty tree: `SHA-256("")` (RFC 9162 §2.1.1),
/// `e3b0c442…b855`.
#[must_use]
pub fn empty_root() -> NodeHash {
    NodeHash(Sha256::digest([]).into())
}
