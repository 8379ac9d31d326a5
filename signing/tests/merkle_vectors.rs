//! Known-answer tests: the transparency-dev/merkle probes and the 8-leaf CT reference tree
//! (see `tests/data/merkle/README.md` for where the data comes from).

use assize_signing::merkle::{
    CompactRange, MerkleTree, NodeHash, ProofError, TreeHead, decode_proof, empty_root, leaf_hash,
    verify_consistency, verify_inclusion,
};

const INCLUSION: &str = include_str!("data/merkle/inclusion.txt");
const CONSISTENCY: &str = include_str!("data/merkle/consistency.txt");
const REFERENCE_TREE: &str = include_str!("data/merkle/reference_tree_8.txt");

/// Probes where Assize's verdict differs from the upstream one, with the reason.
const DEVIATIONS: &[(&str, &str)] = &[(
    "consistency/additional/sizes-are-equal-one-and-proof-is-empty",
    "its roots are 12-byte placeholders; upstream compares raw bytes, Assize rejects any hash that is not 32 bytes",
)];

fn data_lines(text: &str) -> impl Iterator<Item = Vec<&str>> {
    text.lines()
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(|line| line.split(' ').collect())
}

fn bytes(field: &str) -> Vec<u8> {
    if field == "-" || field == "~" {
        Vec::new()
    } else {
        hex::decode(field).expect("test data is hex")
    }
}

fn proof_items(field: &str) -> Vec<Vec<u8>> {
    if field == "-" {
        Vec::new()
    } else {
        field.split(',').map(bytes).collect()
    }
}

fn hash(hex_text: &str) -> NodeHash {
    NodeHash::from_slice(&bytes(hex_text)).expect("a 32-byte hash")
}

/// Decodes untrusted parts and verifies, the way a client holding raw bytes would.
fn check_inclusion(fields: &[&str]) -> Result<(), ProofError> {
    let index: u64 = fields[1].parse().expect("index is a number");
    let size: u64 = fields[2].parse().expect("size is a number");
    let leaf = NodeHash::from_slice(&bytes(fields[3]))?;
    let root = NodeHash::from_slice(&bytes(fields[4]))?;
    let proof = decode_proof(proof_items(fields[5]))?;
    verify_inclusion(&leaf, index, &proof, &TreeHead::new(size, root))
}

fn check_consistency(fields: &[&str]) -> Result<(), ProofError> {
    let size1: u64 = fields[1].parse().expect("size1 is a number");
    let size2: u64 = fields[2].parse().expect("size2 is a number");
    let root1 = NodeHash::from_slice(&bytes(fields[3]))?;
    let root2 = NodeHash::from_slice(&bytes(fields[4]))?;
    let proof = decode_proof(proof_items(fields[5]))?;
    verify_consistency(
        &TreeHead::new(size1, root1),
        &TreeHead::new(size2, root2),
        &proof,
    )
}

fn run_probes(text: &str, check: fn(&[&str]) -> Result<(), ProofError>) -> (usize, usize) {
    let mut failures = Vec::new();
    let (mut ok, mut err) = (0, 0);
    for fields in data_lines(text) {
        assert_eq!(fields.len(), 7, "malformed probe line {fields:?}");
        let name = fields[0];
        let upstream_ok = match fields[6] {
            "ok" => true,
            "err" => false,
            other => panic!("unknown verdict {other} in {name}"),
        };
        let deviates = DEVIATIONS.iter().any(|(probe, _)| *probe == name);
        let want_ok = upstream_ok != deviates;
        let got = check(&fields);
        match (&got, want_ok) {
            (Ok(()), true) => ok += 1,
            (Err(_), false) => err += 1,
            _ => failures.push(format!("{name}: want ok={want_ok}, got {got:?}")),
        }
    }
    assert!(
        failures.is_empty(),
        "probes failed:\n{}",
        failures.join("\n")
    );
    (ok, err)
}

#[test]
fn every_transparency_dev_inclusion_probe_gets_the_upstream_verdict() {
    let (ok, err) = run_probes(INCLUSION, check_inclusion);
    // Five happy paths plus "single entry: matching root and leaf".
    assert_eq!((ok, err), (6, 92), "the data file lost or gained probes");
}

#[test]
fn every_transparency_dev_consistency_probe_gets_the_upstream_verdict_or_a_documented_stricter_one()
{
    let (ok, err) = run_probes(CONSISTENCY, check_consistency);
    // Five happy paths, plus "sizes equal (one), proof empty" which is rejected here (see DEVIATIONS).
    assert_eq!((ok, err), (5, 93), "the data file lost or gained probes");
}

struct ReferenceTree {
    entries: Vec<Vec<u8>>,
    nodes: Vec<(u32, u64, NodeHash)>,
    roots: Vec<NodeHash>,
}

fn reference_tree() -> ReferenceTree {
    let mut tree = ReferenceTree {
        entries: Vec::new(),
        nodes: Vec::new(),
        roots: Vec::new(),
    };
    for fields in data_lines(REFERENCE_TREE) {
        match fields[0] {
            "leaf" => tree.entries.push(bytes(fields[2])),
            "node" => tree.nodes.push((
                fields[1].parse().expect("level"),
                fields[2].parse().expect("index"),
                hash(fields[3]),
            )),
            "root" => tree.roots.push(hash(fields[2])),
            other => panic!("unknown line kind {other}"),
        }
    }
    assert_eq!(
        (tree.entries.len(), tree.nodes.len(), tree.roots.len()),
        (8, 15, 9)
    );
    tree
}

#[test]
fn empty_tree_hash_is_sha256_of_nothing() {
    assert_eq!(
        empty_root().to_string(),
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    );
    assert_eq!(MerkleTree::new().root(), empty_root());
    assert_eq!(CompactRange::new().root(), empty_root());
}

#[test]
fn reference_tree_has_the_published_leaf_and_node_hashes() {
    let reference = reference_tree();
    let mut tree = MerkleTree::new();
    for entry in &reference.entries {
        tree.push_entry(entry);
    }
    for (level, index, want) in &reference.nodes {
        assert_eq!(
            tree.node(*level, *index),
            Some(*want),
            "node ({level}, {index})"
        );
    }
    assert_eq!(
        tree.node(4, 0),
        None,
        "no perfect subtree of 16 leaves exists yet"
    );
    assert_eq!(tree.node(0, 8), None);
}

#[test]
fn reference_tree_has_the_published_root_at_every_size() {
    let reference = reference_tree();
    let mut tree = MerkleTree::new();
    let mut range = CompactRange::new();
    assert_eq!(tree.root(), reference.roots[0]);
    for (size, entry) in (1u64..).zip(&reference.entries) {
        tree.push_entry(entry);
        range.push_entry(entry);
        let want = reference.roots[usize::try_from(size).expect("small")];
        assert_eq!(tree.root(), want, "live root at size {size}");
        assert_eq!(range.root(), want, "compact range root at size {size}");
        assert_eq!(range.verify(&TreeHead::new(size, want)), Ok(()));
    }
    for (size, want) in (0u64..).zip(&reference.roots) {
        assert_eq!(
            tree.root_at(size),
            Ok(*want),
            "historical root at size {size}"
        );
    }
}

#[test]
fn proofs_generated_for_the_reference_tree_equal_the_published_happy_paths() {
    let reference = reference_tree();
    let mut tree = MerkleTree::new();
    for entry in &reference.entries {
        tree.push_entry(entry);
    }
    let mut checked = 0;
    for fields in data_lines(INCLUSION).filter(|f| f[0].ends_with("/happy-path")) {
        let index: u64 = fields[1].parse().expect("index");
        let size: u64 = fields[2].parse().expect("size");
        let want: Vec<NodeHash> = proof_items(fields[5])
            .iter()
            .map(|item| NodeHash::from_slice(item).expect("32 bytes"))
            .collect();
        assert_eq!(tree.leaf_hash(index), Some(hash(fields[3])));
        assert_eq!(tree.root_at(size), Ok(hash(fields[4])));
        assert_eq!(tree.inclusion_proof(index, size), Ok(want), "{}", fields[0]);
        checked += 1;
    }
    for fields in data_lines(CONSISTENCY).filter(|f| f[0].ends_with("/happy-path")) {
        let size1: u64 = fields[1].parse().expect("size1");
        let size2: u64 = fields[2].parse().expect("size2");
        let want: Vec<NodeHash> = proof_items(fields[5])
            .iter()
            .map(|item| NodeHash::from_slice(item).expect("32 bytes"))
            .collect();
        assert_eq!(tree.root_at(size1), Ok(hash(fields[3])));
        assert_eq!(tree.root_at(size2), Ok(hash(fields[4])));
        assert_eq!(
            tree.consistency_proof(size1, size2),
            Ok(want),
            "{}",
            fields[0]
        );
        checked += 1;
    }
    assert_eq!(checked, 10);
}

#[test]
fn leaf_hash_of_the_empty_entry_is_the_published_one() {
    assert_eq!(
        leaf_hash(b"").to_string(),
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
    );
}
