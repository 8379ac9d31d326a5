//! Delivery of outgoing messages to other states' servers, and the deadline watcher.
//!
//! The queue is the `mla_messages` table itself (direction `out`, transport status
//! `SUBMITTED`): a message is written there in the same transaction as the step it records, so
//! nothing is lost when the server stops or the other side is down. The loop posts the oldest
//! undelivered message of each request (so each request's messages arrive in order), and:
//! - on a sealed receipt that verifies → `DELIVERED` (for a request: its `received_at` is the
//!   receiver's);
//! - on a sealed negative receipt → `FAILED` with the reason (retrying cannot help);
//! - on anything else (no answer, 5xx, a receipt that does not verify) → retried with
//!   exponential backoff up to `mla.retry_max_secs`. The receiver's idempotency makes a retry
//!   after a lost answer harmless.
//!
//! Different requests' messages travel concurrently, at most [`MAX_IN_FLIGHT`] at a time: one
//! request's delivery waiting on the other server (sealing its receipt, a slow link, a retry)
//! does not hold up the others. Within one request it stays one message at a time, in order: a
//! request with a message in flight is skipped until that message's outcome is recorded, and
//! only then does its next message become the oldest undelivered one (head of line per request).
//! At-least-once is unchanged: a message is `SUBMITTED` until its answer is recorded, so one cut
//! off by a stop or a crash goes out again, and the receiver's idempotency absorbs the repeat.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use serde_json::json;
use sha2::{Digest as _, Sha256};

use super::workflow::{self, DeadlineState, Kind, Status, Timeline};
use super::{Envelope, MessageType, Mla, Receipt, WireAttachment, WireMessage, WireReceipt};
use crate::audit::{Actor, AuditEvent};
use crate::federation::FederationClient;
use crate::store::AuthorityRecord;
use crate::store::mla::{MessageRow, RequestRow};
use crate::store::now;

fn b64() -> base64::engine::GeneralPurpose {
    base64::engine::general_purpose::STANDARD
}

/// What became of one attempt.
#[derive(Debug)]
enum Outcome {
    Delivered {
        receipt: Vec<u8>,
        seal: Vec<u8>,
        received_at: i64,
    },
    Refused {
        receipt: Vec<u8>,
        seal: Vec<u8>,
        reason: String,
    },
    Retry(String),
}

/// Most messages being delivered at once (each of a different request).
pub const MAX_IN_FLIGHT: usize = 16;

impl Mla {
    /// Runs until the task is aborted: delivers due messages — up to [`MAX_IN_FLIGHT`] at once,
    /// never two of the same request — then sleeps until the next is due, a new one is queued
    /// or a delivery ends.
    pub async fn run_delivery(self: Arc<Self>, client: FederationClient) {
        let mut deliveries = tokio::task::JoinSet::new();
        // The request of each delivery in flight, by task.
        let mut requests: HashMap<tokio::task::Id, String> = HashMap::new();
        let mut busy: HashSet<String> = HashSet::new();
        loop {
            while let Some(done) = deliveries.try_join_next_with_id() {
                finished(done, &mut requests, &mut busy);
            }
            let mut started = false;
            if deliveries.len() < MAX_IN_FLIGHT {
                // Enough heads that those in flight cannot hide the ones still to start.
                match self
                    .store
                    .mla_due_messages(now(), 2 * MAX_IN_FLIGHT as i64)
                    .await
                {
                    Ok(due) => {
                        for m in due {
                            if deliveries.len() >= MAX_IN_FLIGHT {
                                break;
                            }
                            if !busy.insert(m.request_id.clone()) {
                                continue;
                            }
                            started = true;
                            let (mla, client) = (self.clone(), client.clone());
                            let request = m.request_id.clone();
                            let task = deliveries.spawn(async move {
                                if let Err(e) = mla.deliver_one(&client, &m).await {
                                    tracing::error!(message = %m.id, error = format!("{e:#}"), "delivery bookkeeping failed");
                                }
                            });
                            requests.insert(task.id(), request);
                        }
                    }
                    Err(e) => tracing::error!(error = %e, "cannot read the MLA delivery queue"),
                }
            }
            if started {
                continue;
            }
            let wait = match self.store.mla_next_due().await {
                Ok(Some(due)) => Duration::from_secs((due - now()).clamp(0, 30) as u64)
                    .max(Duration::from_millis(200)),
                _ => Duration::from_secs(30),
            };
            tokio::select! {
                Some(done) = deliveries.join_next_with_id(), if !deliveries.is_empty() => {
                    finished(done, &mut requests, &mut busy);
                }
                _ = tokio::time::timeout(wait, self.wake.notified()) => {}
            }
        }
    }

    async fn deliver_one(&self, client: &FederationClient, m: &MessageRow) -> anyhow::Result<()> {
        let Some(request) = self.store.mla_request(&m.request_id).await? else {
            anyhow::bail!("message {} has no request", m.id);
        };
        let (issuing, executing) = self
            .parties(&request)
            .await
            .map_err(|e| anyhow::anyhow!("{}", e.message))?;
        let peer = if request.side == "issuing" {
            executing
        } else {
            issuing
        };
        let outcome = match (&peer.endpoint, &peer.email) {
            (Some(endpoint), _) => self.post(client, endpoint, &peer, m).await,
            (None, Some(email)) => return self.send_by_email(m, &request, &peer.code, email).await,
            (None, None) => Outcome::Refused {
                receipt: Vec::new(),
                seal: Vec::new(),
                reason: format!(
                    "{} has neither a server endpoint nor an e-mail address in the directory: add one",
                    peer.code
                ),
            },
        };
        let t = now();
        match outcome {
            Outcome::Delivered {
                receipt,
                seal,
                received_at,
            } => {
                self.store
                    .mla_record_answer(&m.id, "DELIVERED", &receipt, &seal, None, t)
                    .await?;
                if m.message_type == MessageType::Request.as_str() {
                    self.store
                        .mla_set_received(&request.id, received_at)
                        .await?;
                }
                tracing::info!(message = %m.id, peer = %peer.code, "MLA message delivered");
                self.audit
                    .append(
                        AuditEvent::new(Actor::System, "mla.message_delivered", format!("mla_request:{}", request.id))
                            .with(json!({ "message": m.id, "to": peer.code, "receipt_sha256": hex::encode(Sha256::digest(&receipt)) })),
                    )
                    .await?;
            }
            Outcome::Refused {
                receipt,
                seal,
                reason,
            } => {
                self.store
                    .mla_record_answer(&m.id, "FAILED", &receipt, &seal, Some(&reason), t)
                    .await?;
                tracing::warn!(message = %m.id, peer = %peer.code, %reason, "MLA message refused");
                self.audit
                    .append(
                        AuditEvent::new(
                            Actor::System,
                            "mla.message_failed",
                            format!("mla_request:{}", request.id),
                        )
                        .with(json!({ "message": m.id, "to": peer.code, "reason": reason })),
                    )
                    .await?;
            }
            Outcome::Retry(error) => {
                let backoff = 1i64
                    .checked_shl(m.attempts.clamp(0, 20) as u32)
                    .unwrap_or(i64::MAX)
                    .min(self.settings.retry_max_secs as i64);
                tracing::info!(message = %m.id, peer = %peer.code, %error, retry_in_secs = backoff, "MLA delivery will be retried");
                self.store
                    .mla_retry_later(&m.id, &error, t + backoff)
                    .await?;
            }
        }
        Ok(())
    }

    /// For an authority without an Assize server: the sealed document, its seal and the
    /// attachments go out as one S/MIME-signed e-mail, through the outbox, in the same
    /// transaction that marks the message handed over. There is no signed receipt: the other
    /// authority acknowledges by its own means.
    async fn send_by_email(
        &self,
        m: &MessageRow,
        request: &RequestRow,
        peer: &str,
        email: &str,
    ) -> anyhow::Result<()> {
        let Some(data_dir) = &self.data_dir else {
            anyhow::bail!("no data directory to sign e-mail with");
        };
        let mut files: Vec<(String, String, Vec<u8>)> = vec![
            (
                format!("{}.json", m.message_type),
                "application/json".into(),
                m.document.clone(),
            ),
            (
                format!("{}.json.p7s", m.message_type),
                "application/pkcs7-signature".into(),
                m.seal.clone(),
            ),
        ];
        for a in self.store.mla_message_attachments(&m.id).await? {
            let plain = self
                .open_attachment(&a)
                .map_err(|e| anyhow::anyhow!("attachment {}: {}", a.id, e.message))?;
            files.push((a.filename.clone(), a.media_type.clone(), plain));
        }
        let refs: Vec<(&str, &str, &[u8])> = files
            .iter()
            .map(|(n, t, c)| (n.as_str(), t.as_str(), c.as_slice()))
            .collect();
        let subject = format!(
            "[Assize] {} {} — {} ({})",
            request.kind.to_uppercase(),
            request.reference,
            m.to_status,
            m.id
        );
        let body = format!(
            "This e-mail carries a {} under reference {} (status {}), sealed by the sending authority.\r\n\r\n\
             {}.json is the document; {}.json.p7s its CAdES signature with a time-stamp \
             (openssl cms -verify -binary -inform DER -in {}.json.p7s -content {}.json -CAfile <the sender's CA>).\r\n\
             The e-mail itself is signed (S/MIME). Please acknowledge receipt to the sender.\r\n",
            request.kind.to_uppercase(),
            request.reference,
            m.to_status,
            m.message_type,
            m.message_type,
            m.message_type,
            m.message_type,
        );
        let raw = crate::mail::smime::signed_by_server(
            data_dir,
            &self.mail.from,
            &[email],
            &subject,
            &body,
            &refs,
        )?;
        let mail = crate::mail::OutgoingMail::prebuilt(
            crate::mail::MailKind::Signed,
            [email],
            &subject,
            raw,
        )
        .map_err(|e| anyhow::anyhow!("{e}"))?;
        let t = now();
        let mut tx = self.store.begin_write().await?;
        let outbox_id = crate::mail::enqueue(&mut tx, &mail).await?;
        crate::store::mla::hand_over_by_email(
            &mut tx,
            &m.id,
            &format!("sent by S/MIME e-mail to {email} (outbox {outbox_id}); no signed receipt"),
            t,
        )
        .await?;
        tx.commit().await?;
        tracing::info!(message = %m.id, %peer, "MLA message handed to the mail outbox (S/MIME)");
        self.audit
            .append(
                AuditEvent::new(
                    Actor::System,
                    "mla.message_emailed",
                    format!("mla_request:{}", request.id),
                )
                .with(json!({ "message": m.id, "to": peer, "outbox": outbox_id })),
            )
            .await?;
        Ok(())
    }

    async fn post(
        &self,
        client: &FederationClient,
        endpoint: &str,
        peer: &AuthorityRecord,
        m: &MessageRow,
    ) -> Outcome {
        let mut attachments = Vec::new();
        match self.store.mla_message_attachments(&m.id).await {
            Ok(rows) => {
                for a in rows {
                    match self.open_attachment(&a) {
                        Ok(plain) => attachments.push(WireAttachment {
                            id: a.id.clone(),
                            content: b64().encode(plain),
                        }),
                        Err(e) => {
                            return Outcome::Retry(format!(
                                "attachment {} unreadable: {}",
                                a.id, e.message
                            ));
                        }
                    }
                }
            }
            Err(e) => return Outcome::Retry(format!("database: {e}")),
        }
        let body = WireMessage {
            document: b64().encode(&m.document),
            seal: b64().encode(&m.seal),
            attachments,
        };
        let url = format!(
            "{}/api/v1/federation/mla/messages",
            endpoint.trim_end_matches('/')
        );
        let resp = match client.post_json(&url, &body).await {
            Ok(r) => r,
            Err(e) => return Outcome::Retry(format!("cannot reach {url}: {e}")),
        };
        let status = resp.status();
        let answer: Option<WireReceipt> = resp.json().await.ok();
        let Some(answer) = answer else {
            return Outcome::Retry(format!("{url} answered {status} without a receipt"));
        };
        match self.check_receipt(&answer, peer, m) {
            Ok((receipt, r_bytes, seal)) => match (status.as_u16(), receipt.outcome.as_str()) {
                (200, "accepted") => Outcome::Delivered {
                    receipt: r_bytes,
                    seal,
                    received_at: receipt.received_at,
                },
                (422, "rejected") => Outcome::Refused {
                    receipt: r_bytes,
                    seal,
                    reason: format!(
                        "{}: {}",
                        receipt.code.unwrap_or_default(),
                        receipt.reason.unwrap_or_default()
                    ),
                },
                _ => Outcome::Retry(format!(
                    "{url} answered {status} with an inconsistent receipt"
                )),
            },
            Err(e) => Outcome::Retry(format!("the receipt from {url} is not acceptable: {e}")),
        }
    }

    /// Checks a receipt: about this very message, sealed under a trusted CA and — when it
    /// accepts the message, the proof of delivery — by the receiving authority itself. A
    /// refusal may be sealed by the other server (it cannot seal for an authority it does not
    /// host, which is one of the reasons it refuses).
    fn check_receipt(
        &self,
        answer: &WireReceipt,
        peer: &AuthorityRecord,
        m: &MessageRow,
    ) -> anyhow::Result<(Receipt, Vec<u8>, Vec<u8>)> {
        let bytes = b64().decode(answer.receipt.as_bytes())?;
        let seal = b64().decode(answer.seal.as_bytes())?;
        let report = assize_signing::verify::verify_detached(
            &seal,
            &bytes,
            &self.anchors,
            &assize_signing::verify::VerifyOptions {
                now: time::OffsetDateTime::now_utc(),
                extra_certificates: Vec::new(),
            },
        );
        if let Some((check, finding)) = report.first_failure() {
            anyhow::bail!("its seal does not verify: {check}: {finding}");
        }
        let receipt: Receipt = serde_json::from_slice(&bytes)?;
        if receipt.outcome != "rejected" {
            let Some(verified) = report.verified() else {
                anyhow::bail!("its seal does not verify");
            };
            crate::notary::seal_is_of(verified.signer_certificate(), peer)
                .map_err(|why| anyhow::anyhow!("it is not sealed by {}: {why}", peer.code))?;
        }
        anyhow::ensure!(receipt.message_id == m.id, "it is about another message");
        anyhow::ensure!(
            receipt.document_sha256 == m.document_sha256,
            "it is about another version of the message"
        );
        Ok((receipt, bytes, seal))
    }

    /// Runs until aborted: every `mla.deadline_check_secs`, queues the notices of deadlines
    /// that approach or have lapsed, once each.
    pub async fn run_deadline_watch(self: Arc<Self>) {
        let period = Duration::from_secs(self.settings.deadline_check_secs);
        loop {
            if let Err(e) = self.check_deadlines(now()).await {
                tracing::error!(error = format!("{e:#}"), "deadline check failed");
            }
            tokio::time::sleep(period).await;
        }
    }

    /// One pass of the deadline watcher. Returns how many notices were queued.
    ///
    /// # Errors
    /// On database failure.
    pub async fn check_deadlines(&self, t: i64) -> anyhow::Result<usize> {
        let mut queued = 0;
        for r in self.store.mla_open_requests().await? {
            for d in deadlines_of(&r, t) {
                let kind = match d.state {
                    DeadlineState::Lapsed => "lapsed",
                    DeadlineState::Running if t >= d.warn_at => "approaching",
                    _ => continue,
                };
                if self.notify_deadline(&r, d.name, kind, d.due_at, t).await? {
                    queued += 1;
                }
            }
        }
        Ok(queued)
    }
}

/// A delivery ended: its request may send its next message.
fn finished(
    done: Result<(tokio::task::Id, ()), tokio::task::JoinError>,
    requests: &mut HashMap<tokio::task::Id, String>,
    busy: &mut HashSet<String>,
) {
    let id = match done {
        Ok((id, ())) => id,
        Err(e) => {
            // The message stays SUBMITTED and goes out again.
            tracing::error!(error = %e, "an MLA delivery task failed");
            e.id()
        }
    };
    if let Some(request) = requests.remove(&id) {
        busy.remove(&request);
    }
}

/// A request's deadlines as of `t`.
pub fn deadlines_of(r: &RequestRow, t: i64) -> Vec<workflow::Deadline> {
    let (Some(kind), Some(status)) = (Kind::parse(&r.kind), Status::parse(&r.status)) else {
        return Vec::new();
    };
    workflow::deadlines(
        kind,
        r.urgent,
        status,
        &Timeline {
            received_at: r.received_at,
            acknowledged_at: r.acknowledged_at,
            recognised_at: r.recognised_at,
            finished_at: r.finished_at,
            extended_at: r.extended_at,
            requested_date: r.requested_date,
        },
        t,
    )
}

/// The envelope of a stored message.
pub fn envelope_of(m: &MessageRow) -> Option<Envelope> {
    serde_json::from_slice(&m.document).ok()
}

impl Mla {
    /// Queues one deadline notice for the officers of the request's local authority, once.
    /// Returns `false` when it was already queued.
    async fn notify_deadline(
        &self,
        r: &RequestRow,
        deadline: &'static str,
        kind: &'static str,
        due_at: i64,
        t: i64,
    ) -> anyhow::Result<bool> {
        let local_id = if r.side == "issuing" {
            &r.issuing_authority_id
        } else {
            &r.executing_authority_id
        };
        let authority = self.store.authority_by_id(local_id).await?;
        let mut tx = self.store.begin_write().await?;
        let fresh =
            crate::store::mla::claim_deadline_notice(&mut tx, &r.id, deadline, kind, t).await?;
        if !fresh {
            return Ok(false);
        }
        if let Some(to) = authority.as_ref().and_then(|a| a.email.clone()) {
            let subject = format!(
                "[Assize] {} {}: the {deadline} deadline {}",
                r.kind.to_uppercase(),
                r.reference,
                if kind == "lapsed" {
                    "has passed"
                } else {
                    "is near"
                }
            );
            let body = format!(
                "Request {} ({}, file reference {}), status {}.\n\nThe {deadline} deadline {} {}.\n\nOpen the request in Assize to act on it.\n",
                r.id,
                r.kind.to_uppercase(),
                r.reference,
                r.status,
                if kind == "lapsed" {
                    "passed on"
                } else {
                    "falls on"
                },
                super::rfc3339(due_at),
            );
            self.queue_notice(&mut tx, &to, &subject, &body).await?;
        }
        tx.commit().await?;
        self.audit
            .append(
                AuditEvent::new(
                    Actor::System,
                    "mla.deadline_notice",
                    format!("mla_request:{}", r.id),
                )
                .with(json!({ "deadline": deadline, "kind": kind, "due_at": due_at })),
            )
            .await?;
        Ok(true)
    }
}
