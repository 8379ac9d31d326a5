//! Errors: [`ProofError`] for untrusted input that fails to check out, [`TreeError`] for a caller asking our
//! own tree for something it does not have.

/// Why a proof, a hash or a recomputed root from outside did not check out.
///
/// Every variant means "do not trust this"; the variants only say *what* was wrong, for logs and for the
/// client's error message. None of them is ever a panic.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProofError {
    /// A hash (leaf hash, root) was not exactly 32 bytes long.
    #[error("a hash must be 32 bytes, got {len}")]
    MalformedHash {
        /// The length that was supplied.
        len: usize,
    },
    /// An item of a proof was not exactly 32 bytes long.
    #[error("proof item {position} must be 32 bytes, got {len}")]
    MalformedProofHash {
        /// Zero-based position of the item in the proof.
        position: usize,
        /// The length that was supplied.
        len: usize,
    },
    /// An inclusion proof was checked against a tree of size 0, which has no leaves.
    #[error("the empty tree contains no leaves")]
    EmptyTree,
    /// The leaf index is not inside the tree (`index >= size`).
    #[error("leaf index {index} is outside a tree of {size} leaves")]
    IndexOutOfRange {
        /// The claimed leaf index.
        index: u64,
        /// The tree size it was checked against.
        size: u64,
    },
    /// A consistency proof was asked to go from a larger tree to a smaller one.
    #[error("first tree size {size1} is larger than second tree size {size2}")]
    SizesOutOfOrder {
        /// The first (older) tree size.
        size1: u64,
        /// The second (newer) tree size.
        size2: u64,
    },
    /// A consistency proof from the empty tree was supplied; it proves nothing (every tree extends the empty
    /// tree) and RFC 9162 defines none, so it is refused rather than silently accepted.
    #[error("a consistency proof from the empty tree is meaningless")]
    ConsistencyFromEmptyTree,
    /// The proof has the wrong number of hashes for the claimed index and size(s). Too long, too short or
    /// empty proofs all land here, before any hashing is done.
    #[error("proof has {actual} hashes, the tree shape needs {expected}")]
    WrongProofLength {
        /// How many hashes the RFC 9162 algorithm consumes for these sizes.
        expected: usize,
        /// How many the proof had.
        actual: usize,
    },
    /// The root recomputed from an inclusion proof (or from a streamed export) differs from the expected root.
    #[error("recomputed root does not match the expected root")]
    RootMismatch,
    /// The root of the first (older) tree recomputed from a consistency proof differs from the one supplied.
    #[error("recomputed first-tree root does not match the supplied first root")]
    FirstRootMismatch,
    /// The root of the second (newer) tree recomputed from a consistency proof differs from the one supplied.
    #[error("recomputed second-tree root does not match the supplied second root")]
    SecondRootMismatch,
    /// A streamed export had a different number of entries than the checkpoint it was checked against.
    #[error("export has {actual} entries, the checkpoint says {expected}")]
    SizeMismatch {
        /// The size in the checkpoint.
        expected: u64,
        /// The number of entries streamed.
        actual: u64,
    },
}

/// Why the in-memory tree could not produce a root or a proof: the caller asked for a size or index it does
/// not have. These are programming or request errors, not evidence of tampering.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TreeError {
    /// The requested tree size is larger than the number of leaves appended so far.
    #[error("tree size {size} requested, but the log has only {len} leaves")]
    SizeBeyondLog {
        /// The requested tree size.
        size: u64,
        /// The number of leaves in the log.
        len: u64,
    },
    /// The leaf index is not inside the requested tree size (`index >= size`).
    #[error("leaf index {index} is outside a tree of {size} leaves")]
    IndexOutOfRange {
        /// The requested leaf index.
        index: u64,
        /// The requested tree size.
        size: u64,
    },
    /// A consistency proof was requested from a larger tree size to a smaller one.
    #[error("first tree size {size1} is larger than second tree size {size2}")]
    SizesOutOfOrder {
        /// The first (older) tree size.
        size1: u64,
        /// The second (newer) tree size.
        size2: u64,
    },
    /// A consistency proof from the empty tree was requested; RFC 9162 defines none (see
    /// [`ProofError::ConsistencyFromEmptyTree`]).
    #[error("a consistency proof from the empty tree is meaningless")]
    ConsistencyFromEmptyTree,
}
