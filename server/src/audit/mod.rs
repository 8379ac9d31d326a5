//! The tamper-evident audit log: every security-relevant action, as a leaf of an RFC 9162 Merkle
//! tree, with signed and time-stamped checkpoints.
//!
//! - An entry is its canonical JSON (RFC 8785): `{"action", "actor", "details", "object", "seq",
//!   "time"}`. Those exact bytes are the Merkle leaf: leaf hash = SHA-256(0x00 || body).
//! - **Group commit.** Callers send entries to one writer task; it takes everything waiting (up
//!   to [`MAX_BATCH`]), assigns sequence numbers, writes the batch in one transaction and only
//!   then answers each caller with its sequence number — so a caller learns its number only once
//!   the entry is durable, and one fsync serves the whole batch.
//! - **Checkpoints** (`checkpoint` module): every `audit.checkpoint_interval_secs` or
//!   `audit.checkpoint_every_entries`, the tree head (size, root, time) is sealed with the
//!   server's CAdES key and its own TSA.
//! - **Proofs**: inclusion and consistency proofs by the algorithms of RFC 9162 §2.1.3–2.1.4,
//!   from the in-memory tree (`assize_signing::merkle`).
//! - **Several writers** (the server and an `assize user …` command at the same time): the
//!   writer checks the database's next sequence number inside its transaction; if another process
//!   appended meanwhile, it loads those leaves and retries.
//!
//! # Security
//! Protected witnesses never appear in clear: callers pass [`witness_reference`] (a pseudonym and
//! an HMAC of the identity under a server key), never the name.

pub mod checkpoint;
pub mod export;

use std::sync::{Arc, RwLock};
use std::time::Duration;

use anyhow::Context as _;
use assize_signing::merkle::{MerkleTree, NodeHash, TreeHead, leaf_hash};
use serde_json::{Value, json};
use time::OffsetDateTime;
use tokio::sync::{mpsc, oneshot, watch};

use crate::federation::FederationClient;
use crate::notary::Notary;
use crate::policy::Subject;
use crate::store::{AuditRow, CheckpointRow, Store, StoreError};

/// Most entries written in one transaction.
pub const MAX_BATCH: usize = 2048;

/// Who did something.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Actor {
    /// The server itself (start-up, checkpoints, scheduled work).
    System,
    /// An operator at the server's command line.
    Operator,
    /// Someone not signed in.
    Anonymous,
    /// A user account, by id.
    User(String),
    /// Another state's server, by authority id.
    Authority(String),
    /// A hearing participant without an account (redeemed invitation), by participant id.
    Participant(String),
}

impl Actor {
    fn as_string(&self) -> String {
        match self {
            Actor::System => "system".into(),
            Actor::Operator => "operator".into(),
            Actor::Anonymous => "anonymous".into(),
            Actor::User(id) => format!("user:{id}"),
            Actor::Authority(id) => format!("authority:{id}"),
            Actor::Participant(id) => format!("participant:{id}"),
        }
    }
}

impl From<&Subject> for Actor {
    fn from(s: &Subject) -> Self {
        match s {
            Subject::Anonymous => Actor::Anonymous,
            Subject::User { user_id, .. } => Actor::User(user_id.clone()),
            Subject::Authority { authority_id } => Actor::Authority(authority_id.clone()),
            Subject::HearingParticipant { participant_id, .. } => {
                Actor::Participant(participant_id.clone())
            }
        }
    }
}

/// One thing that happened. `action` is a stable dotted name (`auth.sign_in`, `user.disable`…);
/// `object` names what it happened to (`user:<id>`); `details` is any JSON object.
#[derive(Clone, Debug)]
pub struct AuditEvent {
    pub actor: Actor,
    pub action: &'static str,
    pub object: String,
    pub details: Value,
}

impl AuditEvent {
    pub fn new(actor: Actor, action: &'static str, object: impl Into<String>) -> Self {
        Self {
            actor,
            action,
            object: object.into(),
            details: json!({}),
        }
    }

    pub fn with(mut self, details: Value) -> Self {
        self.details = details;
        self
    }
}

/// The reference under which a protected witness appears in the log: their pseudonym and an
/// HMAC-SHA-256 of their identity under `key` (so the same witness is recognisable across
/// entries by whoever holds the key, and by nobody else).
pub fn witness_reference(key: &[u8], pseudonym: &str, identity: &str) -> Value {
    use hmac::Mac as _;
    let mut mac = <hmac::Hmac<sha2::Sha256> as hmac::Mac>::new_from_slice(key)
        .expect("HMAC accepts any key length");
    mac.update(identity.as_bytes());
    json!({ "pseudonym": pseudonym, "identity_hmac": hex::encode(mac.finalize().into_bytes()) })
}

/// The canonical body (the Merkle leaf) of entry `seq`.
///
/// # Errors
/// Only if the details cannot be serialised (they are JSON already, so never in practice).
pub fn entry_body(seq: u64, at: OffsetDateTime, event: &AuditEvent) -> anyhow::Result<String> {
    let time = at
        .format(&time::format_description::well_known::Rfc3339)
        .context("formatting the entry time")?;
    let value = json!({
        "seq": seq,
        "time": time,
        "actor": event.actor.as_string(),
        "action": event.action,
        "object": event.object,
        "details": event.details,
    });
    serde_json_canonicalizer::to_string(&value).context("canonicalising the entry")
}

struct Pending {
    event: AuditEvent,
    at: OffsetDateTime,
    reply: oneshot::Sender<Result<u64, String>>,
}

struct Inner {
    tx: mpsc::Sender<Pending>,
    tree: Arc<RwLock<MerkleTree>>,
    store: Store,
    notary: Arc<Notary>,
    origin: String,
    checkpoint_lock: tokio::sync::Mutex<()>,
    peers: Option<FederationClient>,
}

/// Handle to the audit log. Cheap to clone.
#[derive(Clone)]
pub struct AuditLog {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for AuditLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditLog")
            .field("origin", &self.inner.origin)
            .finish_non_exhaustive()
    }
}

/// Background work of the log; abort on shutdown.
#[derive(Debug)]
pub struct AuditTasks {
    pub writer: tokio::task::JoinHandle<()>,
    pub checkpointer: tokio::task::JoinHandle<()>,
}

/// When to write checkpoints.
#[derive(Clone, Copy, Debug)]
pub struct CheckpointPolicy {
    pub every: Duration,
    pub every_entries: u64,
}

impl AuditLog {
    /// Loads the tree from the database and starts the writer and checkpointer tasks.
    ///
    /// # Errors
    /// When the database cannot be read, or a stored leaf hash is malformed.
    pub async fn open(
        store: Store,
        notary: Arc<Notary>,
        origin: String,
        policy: CheckpointPolicy,
        peers: Option<FederationClient>,
    ) -> anyhow::Result<(Self, AuditTasks)> {
        let mut tree = MerkleTree::new();
        catch_up(&store, &mut tree).await?;
        let tree = Arc::new(RwLock::new(tree));
        let (tx, rx) = mpsc::channel::<Pending>(MAX_BATCH * 4);
        let (size_tx, size_rx) = watch::channel(0u64);
        let inner = Arc::new(Inner {
            tx,
            tree: tree.clone(),
            store: store.clone(),
            notary,
            origin,
            checkpoint_lock: tokio::sync::Mutex::new(()),
            peers,
        });
        let writer = tokio::spawn(write_batches(rx, store, tree, size_tx));
        let log = AuditLog { inner };
        let checkpointer = tokio::spawn(checkpoint_periodically(log.clone(), size_rx, policy));
        Ok((
            log,
            AuditTasks {
                writer,
                checkpointer,
            },
        ))
    }

    /// Appends an entry and returns its sequence number once it is durable.
    ///
    /// # Errors
    /// When the entry could not be written; the action it records should then be refused.
    pub async fn append(&self, event: AuditEvent) -> anyhow::Result<u64> {
        let (reply, rx) = oneshot::channel();
        self.inner
            .tx
            .send(Pending {
                event,
                at: OffsetDateTime::now_utc(),
                reply,
            })
            .await
            .map_err(|_| anyhow::anyhow!("the audit log is shut down"))?;
        rx.await
            .map_err(|_| anyhow::anyhow!("the audit writer stopped"))?
            .map_err(|e| anyhow::anyhow!("audit entry not written: {e}"))
    }

    /// The current tree size and root.
    pub fn tree_head(&self) -> TreeHead {
        self.inner
            .tree
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .tree_head()
    }

    /// An inclusion proof for entry `seq` in the tree of `size` entries.
    ///
    /// # Errors
    /// When `seq` or `size` is out of range.
    pub fn inclusion_proof(
        &self,
        seq: u64,
        size: u64,
    ) -> Result<(Vec<NodeHash>, NodeHash), String> {
        let tree = self.inner.tree.read().unwrap_or_else(|p| p.into_inner());
        let proof = tree.inclusion_proof(seq, size).map_err(|e| e.to_string())?;
        let root = tree.root_at(size).map_err(|e| e.to_string())?;
        Ok((proof, root))
    }

    /// A consistency proof from the tree of `from` entries to the tree of `to` entries.
    ///
    /// # Errors
    /// When the sizes are out of range or out of order.
    pub fn consistency_proof(&self, from: u64, to: u64) -> Result<Vec<NodeHash>, String> {
        let tree = self.inner.tree.read().unwrap_or_else(|p| p.into_inner());
        tree.consistency_proof(from, to).map_err(|e| e.to_string())
    }

    /// The name this log signs its checkpoints with.
    pub fn origin(&self) -> &str {
        &self.inner.origin
    }

    /// The store behind the log.
    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    /// The notary that seals checkpoints.
    pub fn notary(&self) -> &Arc<Notary> {
        &self.inner.notary
    }

    /// Writes a checkpoint for the current tree now, unless the latest one already covers it.
    /// Returns the latest checkpoint either way (None for an empty log).
    ///
    /// # Errors
    /// When sealing or storing fails.
    pub async fn checkpoint_now(&self) -> anyhow::Result<Option<CheckpointRow>> {
        let _one_at_a_time = self.inner.checkpoint_lock.lock().await;
        let head = self.tree_head();
        let latest = self.inner.store.latest_checkpoint().await?;
        if head.size == 0
            || latest
                .as_ref()
                .is_some_and(|c| u64::try_from(c.tree_size).unwrap_or(0) >= head.size)
        {
            return Ok(latest);
        }
        let at = OffsetDateTime::now_utc();
        let note = checkpoint::note(&self.inner.origin, &head, at)?;
        let signature = self.inner.notary.seal(note.as_bytes()).await?;
        let row = CheckpointRow {
            tree_size: i64::try_from(head.size)?,
            root_hash: head.root.as_bytes().to_vec(),
            at_ms: i64::try_from(at.unix_timestamp_nanos() / 1_000_000)?,
            note,
            signature,
        };
        self.inner.store.insert_checkpoint(&row).await?;
        tracing::info!(tree_size = head.size, "audit checkpoint sealed");
        if let Some(peers) = self.inner.peers.clone() {
            let cp = row.clone();
            tokio::spawn(async move { peers.push_checkpoint(&cp).await });
        }
        Ok(Some(row))
    }
}

/// Loads leaves the tree has not got yet from the database.
async fn catch_up(store: &Store, tree: &mut MerkleTree) -> anyhow::Result<()> {
    let from = i64::try_from(tree.len())?;
    for (seq, hash) in store.audit_leaf_hashes_from(from).await? {
        anyhow::ensure!(
            u64::try_from(seq)? == tree.len(),
            "audit log has a gap at entry {}",
            tree.len()
        );
        let h = NodeHash::from_slice(&hash)
            .map_err(|e| anyhow::anyhow!("entry {seq}: malformed leaf hash: {e}"))?;
        tree.push_leaf_hash(h);
    }
    Ok(())
}

async fn write_batches(
    mut rx: mpsc::Receiver<Pending>,
    store: Store,
    tree: Arc<RwLock<MerkleTree>>,
    size_tx: watch::Sender<u64>,
) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let result = write_batch(&store, &tree, &batch).await;
        match result {
            Ok(first) => {
                for (i, p) in batch.drain(..).enumerate() {
                    let _ = p.reply.send(Ok(first + i as u64));
                }
                let _ = size_tx.send(tree.read().unwrap_or_else(|p| p.into_inner()).len());
            }
            Err(e) => {
                tracing::error!(
                    error = format!("{e:#}"),
                    entries = batch.len(),
                    "audit batch not written"
                );
                let msg = format!("{e:#}");
                for p in batch.drain(..) {
                    let _ = p.reply.send(Err(msg.clone()));
                }
            }
        }
    }
}

/// Writes one batch; returns the first sequence number. On failure nothing is written and the
/// tree is unchanged.
async fn write_batch(
    store: &Store,
    tree: &Arc<RwLock<MerkleTree>>,
    batch: &[Pending],
) -> anyhow::Result<u64> {
    for _attempt in 0..5 {
        let first = tree.read().unwrap_or_else(|p| p.into_inner()).len();
        let mut rows = Vec::with_capacity(batch.len());
        let mut hashes = Vec::with_capacity(batch.len());
        for (i, p) in batch.iter().enumerate() {
            let seq = first + i as u64;
            let body = entry_body(seq, p.at, &p.event)?;
            let h = leaf_hash(body.as_bytes());
            rows.push(AuditRow {
                seq: i64::try_from(seq)?,
                at_ms: i64::try_from(p.at.unix_timestamp_nanos() / 1_000_000)?,
                actor: p.event.actor.as_string(),
                action: p.event.action.to_string(),
                object: p.event.object.clone(),
                body,
                leaf_hash: h.as_bytes().to_vec(),
            });
            hashes.push(h);
        }
        match store.append_audit(&rows).await {
            Ok(()) => {
                let mut t = tree.write().unwrap_or_else(|p| p.into_inner());
                for h in hashes {
                    t.push_leaf_hash(h);
                }
                return Ok(first);
            }
            Err(StoreError::Conflict(_)) => {
                // Another process appended: load its entries, then renumber ours.
                let from = tree.read().unwrap_or_else(|p| p.into_inner()).len();
                let leaves = store.audit_leaf_hashes_from(i64::try_from(from)?).await?;
                let mut t = tree.write().unwrap_or_else(|p| p.into_inner());
                for (seq, hash) in leaves {
                    if u64::try_from(seq)? == t.len() {
                        t.push_leaf_hash(NodeHash::from_slice(&hash).map_err(|e| {
                            anyhow::anyhow!("entry {seq}: malformed leaf hash: {e}")
                        })?);
                    }
                }
            }
            Err(e) => return Err(e.into()),
        }
    }
    anyhow::bail!("the audit log kept changing under this writer; giving up after 5 attempts")
}

async fn checkpoint_periodically(
    log: AuditLog,
    mut size_rx: watch::Receiver<u64>,
    policy: CheckpointPolicy,
) {
    let mut last_size = log.tree_head().size;
    let mut tick = tokio::time::interval(policy.every);
    tick.tick().await;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            changed = size_rx.changed() => {
                if changed.is_err() {
                    return;
                }
                if size_rx.borrow().saturating_sub(last_size) < policy.every_entries {
                    continue;
                }
            }
        }
        match log.checkpoint_now().await {
            Ok(Some(c)) => last_size = u64::try_from(c.tree_size).unwrap_or(last_size),
            Ok(None) => {}
            Err(e) => tracing::error!(error = format!("{e:#}"), "audit checkpoint failed"),
        }
    }
}
