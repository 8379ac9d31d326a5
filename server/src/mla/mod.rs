//! Mutual legal assistance between central authorities: requests (EIO and generic MLA), their
//! workflow, sealed messages between servers, encrypted attachments, deadlines.
//!
//! ## The exchange
//! Every step that concerns both sides is a **message**: a canonical JSON document ([`Envelope`],
//! RFC 8785) sealed by the acting server (CAdES B-T: its signing key and a time-stamp from its
//! TSA). The sender records the step and queues the message in one transaction; the
//! [`deliver`](transport) loop posts it to the other server over mutual TLS until that server
//! answers with a sealed [`Receipt`]. The message id is the idempotency key: a retry after a
//! timeout returns the first receipt and changes nothing. The receiver verifies everything
//! (sender = the mTLS peer, seal and time-stamp chain to the trusted CAs, the time-stamp is
//! neither stale nor in the future, attachments match their digests, evidence packages returned
//! with EVIDENCE_TRANSMITTED verify as `assize verify` checks them, the move is legal from its
//! own copy of the request) and answers anything that fails with a sealed *negative* receipt
//! saying why; nothing of a refused message is stored. An arriving EIO is acknowledged at once
//! with a sealed Annex B.

pub mod evidence;
pub mod forms;
pub mod transport;
pub mod workflow;

use std::sync::Arc;

use axum::http::StatusCode;
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

use crate::audit::{Actor, AuditEvent, AuditLog};
use crate::config::MlaSettings;
use crate::http::ApiError;
use crate::notary::Notary;
use crate::store::mla::{self as db, AttachmentRow, MessageRow, RequestRow};
use crate::store::{AuthorityRecord, Store, StoreError, now};
use crate::vault::{Sealed, Vault};
use workflow::{Kind, Side, Status};

/// The version of the message format.
pub const FORMAT_VERSION: u32 = 1;
/// Most attachments one message may carry.
pub const MAX_ATTACHMENTS: usize = 100;
/// Accepted clock difference between servers for "future-dated" time-stamps.
pub const MAX_CLOCK_SKEW_SECS: i64 = 300;

/// What a message is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MessageType {
    /// The request itself (issuing → executing), moving it to TRANSMITTED.
    Request,
    /// A change of status, with an optional note, form (Annex B) and attachments.
    Transition,
    /// The executing side extends the recognition deadline once, with reasons (Art. 12(5)).
    Extension,
}

impl MessageType {
    fn as_str(self) -> &'static str {
        match self {
            MessageType::Request => "request",
            MessageType::Transition => "transition",
            MessageType::Extension => "extension",
        }
    }
}

/// An attachment as a message lists it (its content travels beside the document).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttachmentRef {
    pub id: String,
    pub filename: String,
    pub media_type: String,
    pub size: u64,
    /// SHA-256 of the content, hex.
    pub sha256: String,
}

/// The sealed document of a message: exactly these fields, canonical JSON (RFC 8785).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Envelope {
    pub v: u32,
    pub message_id: String,
    pub request_id: String,
    pub kind: Kind,
    /// The issuing authority's file reference.
    pub reference: String,
    /// The sending authority's code.
    pub from: String,
    /// The receiving authority's code.
    pub to: String,
    #[serde(rename = "type")]
    pub message_type: MessageType,
    pub from_status: Option<Status>,
    pub to_status: Status,
    pub urgent: bool,
    /// The request's form (type `request`, and `INFO_PROVIDED` when the issuing side amends
    /// it), or the Annex B acknowledgement.
    pub form: Option<Value>,
    /// Reasons, questions, answers, in the sender's words.
    pub note: Option<String>,
    pub attachments: Vec<AttachmentRef>,
    /// When the sender recorded the step (Unix seconds).
    pub created_at: i64,
}

impl Envelope {
    /// The exact bytes that are sealed.
    ///
    /// # Errors
    /// Never in practice (the envelope is plain data).
    pub fn to_canonical(&self) -> anyhow::Result<Vec<u8>> {
        Ok(serde_json_canonicalizer::to_vec(self)?)
    }
}

/// What one server answers another for each delivered message, sealed by the receiver.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Receipt {
    pub v: u32,
    pub message_id: String,
    /// SHA-256 of the document received (hex); empty when it could not be read.
    pub document_sha256: String,
    /// `accepted` or `rejected`.
    pub outcome: String,
    /// A stable code for the refusal (`bad_seal`, `illegal_transition`…).
    pub code: Option<String>,
    /// Why it was refused, for the sending officer.
    pub reason: Option<String>,
    /// When the receiver accepted it (for an accepted request: the start of its deadlines).
    pub received_at: i64,
    /// The receiving authority's code, when known.
    pub by: Option<String>,
}

/// A message as it travels: `POST /api/v1/federation/mla/messages`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WireMessage {
    /// The envelope's canonical bytes, base64.
    pub document: String,
    /// The CAdES seal over them, base64 (DER).
    pub seal: String,
    #[serde(default)]
    pub attachments: Vec<WireAttachment>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WireAttachment {
    pub id: String,
    /// base64
    pub content: String,
}

/// A sealed receipt as it travels back.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WireReceipt {
    /// The receipt's canonical JSON, base64.
    pub receipt: String,
    /// The CAdES seal over it, base64.
    pub seal: String,
}

fn b64() -> base64::engine::GeneralPurpose {
    base64::engine::general_purpose::STANDARD
}

/// A refusal of a delivered message: code and reason, sent back in a negative receipt.
#[derive(Debug)]
pub struct Refusal {
    pub code: &'static str,
    pub reason: String,
}

fn refuse(code: &'static str, reason: impl Into<String>) -> Refusal {
    Refusal {
        code,
        reason: reason.into(),
    }
}

/// The MLA service: shared by the HTTP handlers and the background loops.
#[derive(Debug)]
pub struct Mla {
    pub(crate) store: Store,
    pub(crate) notary: Arc<Notary>,
    pub(crate) vault: Vault,
    pub(crate) audit: AuditLog,
    pub(crate) anchors: Arc<assize_signing::verify::TrustAnchors>,
    pub(crate) settings: MlaSettings,
    /// Where notices come from (`mail.from`).
    pub(crate) mail: crate::config::MailSettings,
    /// The data directory (the signing identity for S/MIME e-mail).
    pub(crate) data_dir: Option<crate::pki::DataDir>,
    /// Woken when a message is queued, so delivery starts at once.
    pub(crate) wake: tokio::sync::Notify,
}

/// What an officer asks for when moving a request on.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Act {
    /// The status to move to.
    pub to: String,
    /// Reasons, questions or answers (required for INFO_REQUESTED, REFUSED, POSTPONED,
    /// DIFFERENT_MEASURE_PROPOSED, WITHDRAWN).
    pub note: Option<String>,
    /// With INFO_PROVIDED: an amended form.
    pub form: Option<Value>,
}

/// Longest note accepted (characters).
pub const MAX_NOTE: usize = 20_000;

impl Mla {
    pub fn new(
        store: Store,
        notary: Arc<Notary>,
        vault: Vault,
        audit: AuditLog,
        anchors: Arc<assize_signing::verify::TrustAnchors>,
        settings: MlaSettings,
        mail: crate::config::MailSettings,
    ) -> Self {
        Self {
            store,
            notary,
            vault,
            audit,
            anchors,
            settings,
            mail,
            data_dir: None,
            wake: tokio::sync::Notify::new(),
        }
    }

    /// Lets the service sign S/MIME e-mail with the data directory's signing identity.
    #[must_use]
    pub fn with_data_dir(mut self, data_dir: crate::pki::DataDir) -> Self {
        self.data_dir = Some(data_dir);
        self
    }

    /// The problems of a form of this kind, or a parse error naming the field.
    pub fn check_form(kind: Kind, form: &Value) -> Result<Vec<forms::Problem>, ApiError> {
        let parsed = match kind {
            Kind::Eio => {
                serde_json::from_value::<forms::EioForm>(form.clone()).map(|f| f.missing())
            }
            Kind::Mla => {
                serde_json::from_value::<forms::MlaForm>(form.clone()).map(|f| f.missing())
            }
        };
        parsed.map_err(|e| {
            ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_form",
                format!("The form cannot be read: {e}. Fix that field and send it again."),
            )
        })
    }

    /// Creates a draft request from a local authority to another.
    ///
    /// # Errors
    /// 422 for an unreadable form or an unknown recipient.
    pub async fn create_draft(
        &self,
        user_id: &str,
        issuing: &AuthorityRecord,
        executing: &AuthorityRecord,
        kind: Kind,
        form: Value,
    ) -> Result<RequestRow, ApiError> {
        Self::check_form(kind, &form)?;
        let t = now();
        let (reference, urgent, requested_date) = summary_of(kind, &form);
        let row = RequestRow {
            id: uuid::Uuid::new_v4().to_string(),
            kind: kind.as_str().into(),
            reference,
            issuing_authority_id: issuing.id.clone(),
            executing_authority_id: executing.id.clone(),
            side: Side::Issuing.as_str().into(),
            status: Status::Draft.as_str().into(),
            urgent,
            form: serde_json::to_string(&form).map_err(anyhow::Error::from)?,
            requested_date,
            transmitted_at: None,
            received_at: None,
            acknowledged_at: None,
            recognised_at: None,
            finished_at: None,
            extended_at: None,
            extension_reason: None,
            retrieved_at: None,
            created_by: Some(user_id.into()),
            created_at: t,
            updated_at: t,
        };
        let mut tx = self.store.begin_write().await.map_err(StoreError::from)?;
        db::insert_request(&mut tx, &row).await?;
        tx.commit().await.map_err(StoreError::from)?;
        self.audit
            .append(
                AuditEvent::new(
                    Actor::User(user_id.into()),
                    "mla.draft",
                    format!("mla_request:{}", row.id),
                )
                .with(json!({ "kind": row.kind, "issuing": issuing.code, "executing": executing.code })),
            )
            .await?;
        Ok(row)
    }

    /// Replaces a draft's form.
    ///
    /// # Errors
    /// 409 unless the request is a DRAFT on the issuing side.
    pub async fn update_draft(
        &self,
        user_id: &str,
        request: &RequestRow,
        form: Value,
    ) -> Result<RequestRow, ApiError> {
        if request.status != Status::Draft.as_str() || request.side != Side::Issuing.as_str() {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "not_a_draft",
                "Only a draft can be edited. A validated request must go back to DRAFT first; a transmitted one is amended with INFO_PROVIDED.",
            ));
        }
        let kind = Kind::parse(&request.kind).ok_or_else(|| anyhow::anyhow!("bad kind"))?;
        Self::check_form(kind, &form)?;
        let (reference, urgent, requested_date) = summary_of(kind, &form);
        let mut row = request.clone();
        row.form = serde_json::to_string(&form).map_err(anyhow::Error::from)?;
        row.reference = reference;
        row.urgent = urgent;
        row.requested_date = requested_date;
        row.updated_at = now();
        let mut tx = self.store.begin_write().await.map_err(StoreError::from)?;
        db::update_request(&mut tx, &row, Status::Draft.as_str()).await?;
        tx.commit().await.map_err(StoreError::from)?;
        self.audit
            .append(AuditEvent::new(
                Actor::User(user_id.into()),
                "mla.draft_update",
                format!("mla_request:{}", row.id),
            ))
            .await?;
        Ok(row)
    }

    /// Stores an attachment, encrypted, to go with the request's next message.
    ///
    /// # Errors
    /// 409 when the request is finished; 413 when too large.
    pub async fn add_attachment(
        &self,
        actor: Actor,
        request: &RequestRow,
        filename: &str,
        media_type: &str,
        content: &[u8],
    ) -> Result<AttachmentRow, ApiError> {
        let status = Status::parse(&request.status).ok_or_else(|| anyhow::anyhow!("bad status"))?;
        if status == Status::Closed {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "request_closed",
                "This request is closed: nothing more can be attached.",
            ));
        }
        if content.len() as u64 > self.settings.max_attachment_bytes {
            return Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "attachment_too_large",
                format!(
                    "The file is larger than {} bytes (mla.max_attachment_bytes): split it or ask the administrator.",
                    self.settings.max_attachment_bytes
                ),
            ));
        }
        let id = uuid::Uuid::new_v4().to_string();
        let sealed = self.vault.seal(&id, content);
        let row = AttachmentRow {
            id,
            request_id: request.id.clone(),
            message_id: None,
            filename: filename.into(),
            media_type: media_type.into(),
            size: content.len() as i64,
            sha256: hex::encode(Sha256::digest(content)),
            wrapped_key: sealed.wrapped_key,
            ciphertext: sealed.ciphertext,
            created_at: now(),
        };
        let mut tx = self.store.begin_write().await.map_err(StoreError::from)?;
        db::insert_attachment(&mut tx, &row).await?;
        tx.commit().await.map_err(StoreError::from)?;
        self.audit
            .append(
                AuditEvent::new(
                    actor,
                    "mla.attachment_add",
                    format!("mla_request:{}", request.id),
                )
                .with(json!({ "attachment": row.id, "sha256": row.sha256, "size": row.size })),
            )
            .await?;
        Ok(row)
    }

    /// Decrypts an attachment.
    ///
    /// # Errors
    /// 500 when the stored file fails to open (altered, or another master key).
    pub fn open_attachment(&self, a: &AttachmentRow) -> Result<Vec<u8>, ApiError> {
        let plain = self
            .vault
            .open(
                &a.id,
                &Sealed {
                    wrapped_key: a.wrapped_key.clone(),
                    ciphertext: a.ciphertext.clone(),
                },
            )
            .map_err(|e| ApiError::internal(anyhow::Error::from(e)))?;
        if hex::encode(Sha256::digest(&plain)) != a.sha256 {
            return Err(ApiError::internal(anyhow::anyhow!(
                "attachment {} does not match its recorded digest",
                a.id
            )));
        }
        Ok(plain)
    }

    /// An officer's (or validating judge's) move of a request: checked against the table,
    /// sealed, recorded and — unless it stays here — queued for the other server.
    ///
    /// # Errors
    /// 409 with the legal next states; 422 with the missing fields when validating an
    /// incomplete request or a note is missing.
    pub async fn act(
        &self,
        user_id: &str,
        request: &RequestRow,
        act: Act,
    ) -> Result<(RequestRow, MessageRow), ApiError> {
        self.act_with(user_id, request, act, Vec::new()).await
    }

    /// [`Mla::act`], with files (`new_files`, sealed by the vault, not yet stored) that are
    /// stored in the same transaction as the step and travel with its message: either all of it
    /// is recorded or nothing is.
    async fn act_with(
        &self,
        user_id: &str,
        request: &RequestRow,
        act: Act,
        new_files: Vec<AttachmentRow>,
    ) -> Result<(RequestRow, MessageRow), ApiError> {
        let side = Side::parse(&request.side).ok_or_else(|| anyhow::anyhow!("bad side"))?;
        let from = Status::parse(&request.status).ok_or_else(|| anyhow::anyhow!("bad status"))?;
        let kind = Kind::parse(&request.kind).ok_or_else(|| anyhow::anyhow!("bad kind"))?;
        let to = Status::parse(&act.to).ok_or_else(|| {
            ApiError::bad_request(
                "invalid_status",
                format!(
                    "{:?} is not a status. Use one of the legal next states.",
                    act.to
                ),
            )
            .with_details(json!({ "legal": names(&workflow::legal_next(from, side)) }))
        })?;
        if from == Status::Transmitted && to == Status::Acknowledged {
            return Err(illegal_move(
                from,
                to,
                side,
                "The executing server acknowledges by itself on arrival.",
            ));
        }
        workflow::transition(from, to, side).map_err(|e| {
            ApiError::new(StatusCode::CONFLICT, "illegal_transition", format!("{e}.")).with_details(
                json!({ "from": from.as_str(), "to": to.as_str(), "legal": names(&e.legal) }),
            )
        })?;
        let note = act.note.as_deref().map(str::trim).filter(|n| !n.is_empty());
        if note.is_some_and(|n| n.chars().count() > MAX_NOTE) {
            return Err(ApiError::bad_request(
                "invalid_note",
                format!("Shorten the note to at most {MAX_NOTE} characters."),
            )
            .with_details(json!({ "field": "note" })));
        }
        if note.is_none()
            && matches!(
                to,
                Status::InfoRequested
                    | Status::Refused
                    | Status::Postponed
                    | Status::DifferentMeasureProposed
                    | Status::Withdrawn
            )
        {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "note_required",
                format!(
                    "Moving to {} needs a note giving the reasons or the question.",
                    to.as_str()
                ),
            )
            .with_details(json!({ "field": "note" })));
        }
        let mut row = request.clone();
        // An amended form may come with the answer to a request for information.
        let mut form_out = None;
        if let Some(form) = act.form {
            if to != Status::InfoProvided {
                return Err(ApiError::bad_request(
                    "unexpected_form",
                    "A form can only be sent with INFO_PROVIDED (or edited while DRAFT).",
                )
                .with_details(json!({ "field": "form" })));
            }
            let problems = Self::check_form(kind, &form)?;
            if !problems.is_empty() {
                return Err(incomplete(problems));
            }
            row.form = serde_json::to_string(&form).map_err(anyhow::Error::from)?;
            form_out = Some(form);
        }
        if to == Status::Validated {
            let form: Value = serde_json::from_str(&row.form).map_err(anyhow::Error::from)?;
            let problems = Self::check_form(kind, &form)?;
            if !problems.is_empty() {
                return Err(incomplete(problems));
            }
        }
        let (issuing, executing) = self.parties(request).await?;
        let (me, them) = match side {
            Side::Issuing => (&issuing, &executing),
            Side::Executing => (&executing, &issuing),
        };
        let local = workflow::is_local(from, to);
        let message_type = if to == Status::Transmitted {
            MessageType::Request
        } else {
            MessageType::Transition
        };
        if message_type == MessageType::Request {
            form_out = Some(serde_json::from_str(&row.form).map_err(anyhow::Error::from)?);
        }
        // Seal before the transaction: sealing may reserve TSA serials in the database.
        let t = now();
        let message_id = uuid::Uuid::new_v4().to_string();
        if local && !new_files.is_empty() {
            return Err(ApiError::internal(anyhow::anyhow!(
                "files given with a step that is not sent"
            )));
        }
        let mut pending: Vec<AttachmentRow> = if local {
            Vec::new()
        } else {
            self.store
                .mla_attachments(&row.id)
                .await?
                .into_iter()
                .filter(|a| a.message_id.is_none())
                .collect()
        };
        let stored = pending.len();
        pending.extend(new_files);
        let envelope = Envelope {
            v: FORMAT_VERSION,
            message_id: message_id.clone(),
            request_id: row.id.clone(),
            kind,
            reference: row.reference.clone(),
            from: me.code.clone(),
            to: if local {
                me.code.clone()
            } else {
                them.code.clone()
            },
            message_type,
            from_status: Some(from),
            to_status: to,
            urgent: row.urgent,
            form: form_out,
            note: note.map(str::to_owned),
            attachments: pending.iter().map(attachment_ref).collect(),
            created_at: t,
        };
        let document = envelope.to_canonical()?;
        // Sealed by the acting authority (ours), with its own key.
        let seal = self.notary.seal_for(me, &document).await?;
        apply_timestamps(&mut row, to, t);
        row.status = to.as_str().into();
        row.updated_at = t;
        let mut tx = self.store.begin_write().await.map_err(StoreError::from)?;
        let seq = db::next_seq(&mut tx, &row.id).await?;
        let message = MessageRow {
            id: message_id,
            request_id: row.id.clone(),
            seq,
            direction: if local { "local" } else { "out" }.into(),
            message_type: message_type.as_str().into(),
            from_status: Some(from.as_str().into()),
            to_status: to.as_str().into(),
            document_sha256: hex::encode(Sha256::digest(&document)),
            document,
            seal,
            transport_status: if local { "LOCAL" } else { "SUBMITTED" }.into(),
            attempts: 0,
            next_attempt_at: if local { None } else { Some(t) },
            last_error: None,
            receipt: None,
            receipt_seal: None,
            actor: format!("user:{user_id}"),
            created_at: t,
            delivered_at: None,
        };
        // The status must still be the one the move was checked from.
        db::update_request(&mut tx, &row, from.as_str()).await?;
        db::insert_message(&mut tx, &message).await?;
        for a in &pending[..stored] {
            db::bind_attachment(&mut tx, &a.id, &message.id).await?;
        }
        for a in &pending[stored..] {
            // Checked again here, where a concurrent step of the same request either is
            // already visible or collides on the message's sequence number.
            if let Some(earlier) =
                db::attachment_named(&mut tx, &row.id, &a.filename, &a.id).await?
            {
                return Err(already_transmitted(&earlier));
            }
            let mut a = a.clone();
            a.message_id = Some(message.id.clone());
            db::insert_attachment(&mut tx, &a).await?;
        }
        // An attachment added between the two transactions would travel unsigned: refuse.
        if !local && !db::unsent_attachments(&mut tx, &row.id).await?.is_empty() {
            return Err(ApiError::conflict(
                "An attachment was added while this step was being sealed. Send the step again.",
            ));
        }
        tx.commit().await.map_err(StoreError::from)?;
        self.audit
            .append(
                AuditEvent::new(
                    Actor::User(user_id.into()),
                    "mla.transition",
                    format!("mla_request:{}", row.id),
                )
                .with(json!({
                    "from": from.as_str(), "to": to.as_str(), "message": message.id,
                    "document_sha256": message.document_sha256,
                    "attachments": pending.iter().map(|a| &a.sha256).collect::<Vec<_>>(),
                })),
            )
            .await?;
        if !local {
            self.wake.notify_one();
        }
        Ok((row, message))
    }

    /// The executing side extends the recognition deadline once, with reasons.
    ///
    /// # Errors
    /// 409 when already extended, decided, or not the executing side.
    pub async fn extend(
        &self,
        user_id: &str,
        request: &RequestRow,
        reason: &str,
    ) -> Result<RequestRow, ApiError> {
        let status = Status::parse(&request.status).ok_or_else(|| anyhow::anyhow!("bad status"))?;
        let reason = reason.trim();
        if request.side != Side::Executing.as_str()
            || request.kind != Kind::Eio.as_str()
            || request.extended_at.is_some()
            || request.recognised_at.is_some()
            || workflow::is_finished(status)
        {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "cannot_extend",
                "Only the executing authority of an EIO may extend the recognition deadline, once, before deciding on it.",
            ));
        }
        if reason.is_empty() || reason.chars().count() > MAX_NOTE {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "note_required",
                "Give the reasons for the extension (Art. 12(5)), at most 20000 characters.",
            )
            .with_details(json!({ "field": "reason" })));
        }
        let (issuing, executing) = self.parties(request).await?;
        let t = now();
        let envelope = Envelope {
            v: FORMAT_VERSION,
            message_id: uuid::Uuid::new_v4().to_string(),
            request_id: request.id.clone(),
            kind: Kind::Eio,
            reference: request.reference.clone(),
            from: executing.code.clone(),
            to: issuing.code.clone(),
            message_type: MessageType::Extension,
            from_status: Some(status),
            to_status: status,
            urgent: request.urgent,
            form: None,
            note: Some(reason.into()),
            attachments: Vec::new(),
            created_at: t,
        };
        let document = envelope.to_canonical()?;
        let seal = self.notary.seal_for(&executing, &document).await?;
        let mut row = request.clone();
        row.extended_at = Some(t);
        row.extension_reason = Some(reason.into());
        row.updated_at = t;
        let mut tx = self.store.begin_write().await.map_err(StoreError::from)?;
        let seq = db::next_seq(&mut tx, &row.id).await?;
        db::update_request(&mut tx, &row, status.as_str()).await?;
        db::insert_message(
            &mut tx,
            &out_message(&envelope, document, seal, seq, format!("user:{user_id}")),
        )
        .await?;
        tx.commit().await.map_err(StoreError::from)?;
        self.audit
            .append(
                AuditEvent::new(
                    Actor::User(user_id.into()),
                    "mla.extend",
                    format!("mla_request:{}", row.id),
                )
                .with(json!({ "message": envelope.message_id })),
            )
            .await?;
        self.wake.notify_one();
        Ok(row)
    }

    /// The two authorities of a request.
    ///
    /// # Errors
    /// 500 when the directory lost one (foreign keys prevent it).
    pub async fn parties(
        &self,
        r: &RequestRow,
    ) -> Result<(AuthorityRecord, AuthorityRecord), ApiError> {
        let issuing = self
            .store
            .authority_by_id(&r.issuing_authority_id)
            .await?
            .ok_or_else(|| anyhow::anyhow!("issuing authority missing"))?;
        let executing = self
            .store
            .authority_by_id(&r.executing_authority_id)
            .await?
            .ok_or_else(|| anyhow::anyhow!("executing authority missing"))?;
        Ok((issuing, executing))
    }

    /// Seals a receipt: by the receiving authority when it is one hosted here, else (a message
    /// addressed to no authority of ours, or unreadable) by this server.
    async fn sealed_receipt(
        &self,
        by: Option<&AuthorityRecord>,
        receipt: &Receipt,
    ) -> anyhow::Result<(Vec<u8>, Vec<u8>)> {
        let bytes = serde_json_canonicalizer::to_vec(receipt)?;
        let seal = match by.filter(|a| a.local) {
            Some(authority) => self.notary.seal_for(authority, &bytes).await?,
            None => self.notary.seal(&bytes).await?,
        };
        Ok((bytes, seal))
    }

    /// Handles a message delivered by another state's server (`sender`, known by its mTLS
    /// certificate). Always answers with a sealed receipt: accepted (200) or negative (422).
    ///
    /// # Errors
    /// Only when even a negative receipt cannot be sealed, or the database fails (the sender
    /// then retries).
    pub async fn receive(
        &self,
        sender: &AuthorityRecord,
        wire: WireMessage,
    ) -> Result<(StatusCode, WireReceipt), ApiError> {
        let t = now();
        let document = b64().decode(wire.document.as_bytes()).unwrap_or_default();
        let digest = hex::encode(Sha256::digest(&document));
        let parsed: Option<Envelope> = serde_json::from_slice(&document).ok();
        let message_id = parsed
            .as_ref()
            .map(|e| e.message_id.clone())
            .unwrap_or_default();
        match self.accept(sender, &wire, &document, &digest, t).await {
            Ok(Accepted::New(receipt, seal)) | Ok(Accepted::Duplicate(receipt, seal)) => Ok((
                StatusCode::OK,
                WireReceipt {
                    receipt: b64().encode(receipt),
                    seal: b64().encode(seal),
                },
            )),
            Err(Rejected::Fatal(e)) => Err(e),
            Err(Rejected::Refused(refusal)) => {
                tracing::warn!(sender = %sender.code, code = refusal.code, reason = %refusal.reason, "refused a delivered MLA message");
                self.audit
                    .append(
                        AuditEvent::new(
                            Actor::Authority(sender.id.clone()),
                            "mla.message_refused",
                            format!("mla_message:{message_id}"),
                        )
                        .with(json!({ "code": refusal.code, "reason": refusal.reason, "document_sha256": digest })),
                    )
                    .await?;
                let receipt = Receipt {
                    v: FORMAT_VERSION,
                    message_id,
                    document_sha256: if document.is_empty() {
                        String::new()
                    } else {
                        digest
                    },
                    outcome: "rejected".into(),
                    code: Some(refusal.code.into()),
                    reason: Some(refusal.reason),
                    received_at: t,
                    by: parsed.map(|e| e.to),
                };
                let by = match &receipt.by {
                    Some(code) => self.store.authority_by_code(code).await?,
                    None => None,
                };
                let (bytes, seal) = self.sealed_receipt(by.as_ref(), &receipt).await?;
                Ok((
                    StatusCode::UNPROCESSABLE_ENTITY,
                    WireReceipt {
                        receipt: b64().encode(bytes),
                        seal: b64().encode(seal),
                    },
                ))
            }
        }
    }

    async fn accept(
        &self,
        sender: &AuthorityRecord,
        wire: &WireMessage,
        document: &[u8],
        digest: &str,
        t: i64,
    ) -> Result<Accepted, Rejected> {
        if document.is_empty() {
            return Err(refuse("malformed", "the document is not base64 or is empty").into());
        }
        let env = read_envelope(document)?;
        if env.from != sender.code {
            return Err(refuse(
                "sender_mismatch",
                format!(
                    "the message is from {:?} but the connection is from {:?}",
                    env.from, sender.code
                ),
            )
            .into());
        }
        let recipient = self
            .store
            .authority_by_code(&env.to)
            .await
            .map_err(fatal)?
            .filter(|a| a.local)
            .ok_or_else(|| {
                refuse(
                    "unknown_recipient",
                    format!("no authority {:?} is hosted on this server", env.to),
                )
            })?;

        // Idempotency: the same message again gets the same receipt.
        {
            let mut conn = self
                .store
                .begin_write()
                .await
                .map_err(|e| fatal(e.into()))?;
            let existing = db::message_in(&mut conn, &env.message_id)
                .await
                .map_err(fatal)?;
            conn.rollback().await.map_err(|e| fatal(e.into()))?;
            if let Some(m) = existing {
                return duplicate(m, digest);
            }
        }

        // The seal: structure, signature, certificate chain, time-stamp.
        let seal = b64()
            .decode(wire.seal.as_bytes())
            .map_err(|_| refuse("bad_seal", "the seal is not base64"))?;
        let report = assize_signing::verify::verify_detached(
            &seal,
            document,
            &self.anchors,
            &assize_signing::verify::VerifyOptions {
                now: time::OffsetDateTime::now_utc(),
                extra_certificates: Vec::new(),
            },
        );
        if let Some((check, finding)) = report.first_failure() {
            return Err(refuse(
                "bad_seal",
                format!("the seal does not verify: {check}: {finding}"),
            )
            .into());
        }
        let Some(verified) = report.verified() else {
            return Err(refuse("bad_seal", "the seal does not verify").into());
        };
        // Sealed by the sending authority itself, not by another authority of its state or by
        // its server: the certificate the directory lists for it, or one naming it.
        crate::notary::seal_is_of(verified.signer_certificate(), sender)
            .map_err(|why| refuse("wrong_authority", why))?;
        let sealed_at = verified.timestamp_time().unix_timestamp();
        if sealed_at > t + MAX_CLOCK_SKEW_SECS {
            return Err(refuse(
                "future_timestamp",
                "the seal's time-stamp is in the future: check the sending server's clock",
            )
            .into());
        }
        if t - sealed_at > self.settings.max_message_age_secs as i64 {
            return Err(refuse(
                "stale_timestamp",
                "the seal's time-stamp is too old: seal the message again",
            )
            .into());
        }

        // Attachments: exactly those listed, each matching its digest.
        if env.attachments.len() > MAX_ATTACHMENTS
            || wire.attachments.len() != env.attachments.len()
        {
            return Err(refuse(
                "attachment_mismatch",
                "the attachments sent are not those the document lists",
            )
            .into());
        }
        let mut files = Vec::new();
        for listed in &env.attachments {
            let Some(sent) = wire.attachments.iter().find(|a| a.id == listed.id) else {
                return Err(refuse(
                    "attachment_mismatch",
                    format!("attachment {} is listed but was not sent", listed.id),
                )
                .into());
            };
            let content = b64().decode(sent.content.as_bytes()).map_err(|_| {
                refuse(
                    "attachment_mismatch",
                    format!("attachment {} is not base64", listed.id),
                )
            })?;
            if content.len() as u64 != listed.size
                || hex::encode(Sha256::digest(&content)) != listed.sha256
            {
                return Err(refuse(
                    "attachment_mismatch",
                    format!(
                        "attachment {} ({}) does not match its digest",
                        listed.id, listed.filename
                    ),
                )
                .into());
            }
            if content.len() as u64 > self.settings.max_attachment_bytes {
                return Err(refuse(
                    "attachment_too_large",
                    format!(
                        "attachment {} is larger than this server accepts",
                        listed.id
                    ),
                )
                .into());
            }
            if uuid::Uuid::parse_str(&listed.id).is_err()
                || listed.filename.is_empty()
                || listed.filename.len() > 255
            {
                return Err(refuse(
                    "malformed",
                    "attachment ids must be UUIDs and names 1–255 bytes",
                )
                .into());
            }
            files.push((listed.clone(), content));
        }

        // Evidence packages returned with EVIDENCE_TRANSMITTED: the checks of `assize verify`.
        let checks = self.check_evidence(&env, &files, t).await?;

        match env.message_type {
            MessageType::Request => {
                self.accept_request(sender, &recipient, &env, document, &seal, digest, files, t)
                    .await
            }
            MessageType::Transition | MessageType::Extension => {
                self.accept_step(
                    sender, &recipient, &env, document, &seal, digest, files, &checks, t,
                )
                .await
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    async fn accept_request(
        &self,
        sender: &AuthorityRecord,
        recipient: &AuthorityRecord,
        env: &Envelope,
        document: &[u8],
        seal: &[u8],
        digest: &str,
        files: Vec<(AttachmentRef, Vec<u8>)>,
        t: i64,
    ) -> Result<Accepted, Rejected> {
        if env.from_status != Some(Status::Validated) || env.to_status != Status::Transmitted {
            return Err(refuse(
                "illegal_transition",
                "a request arrives as VALIDATED → TRANSMITTED",
            )
            .into());
        }
        let form = env
            .form
            .clone()
            .ok_or_else(|| refuse("incomplete", "the request carries no form"))?;
        let problems = Self::check_form(env.kind, &form)
            .map_err(|e| refuse("invalid_form", e.message.to_string()))?;
        if let Some(p) = problems.first() {
            return Err(refuse(
                "incomplete",
                format!("the request is incomplete: {}: {}", p.field, p.message),
            )
            .into());
        }
        if self
            .store
            .mla_request(&env.request_id)
            .await
            .map_err(fatal)?
            .is_some()
        {
            return Err(refuse(
                "request_exists",
                "a request with this id already exists here",
            )
            .into());
        }
        let (_, urgent, requested_date) = summary_of(env.kind, &form);
        let row = RequestRow {
            id: env.request_id.clone(),
            kind: env.kind.as_str().into(),
            reference: env.reference.clone(),
            issuing_authority_id: sender.id.clone(),
            executing_authority_id: recipient.id.clone(),
            side: Side::Executing.as_str().into(),
            status: Status::Acknowledged.as_str().into(),
            urgent: urgent || env.urgent,
            form: serde_json::to_string(&form).map_err(|e| fatal_any(e.into()))?,
            requested_date,
            transmitted_at: Some(env.created_at),
            received_at: Some(t),
            acknowledged_at: Some(t),
            recognised_at: None,
            finished_at: None,
            extended_at: None,
            extension_reason: None,
            retrieved_at: None,
            created_by: None,
            created_at: t,
            updated_at: t,
        };
        // The acknowledgement (Annex B), sealed now and queued with the request.
        let annex_b = forms::AnnexB {
            issuing_reference: env.reference.clone(),
            issued_on: rfc3339(env.created_at),
            received_at: rfc3339(t),
            receiving_authority: recipient.name.clone(),
            receiving_country: recipient.country.clone(),
            executing_authority: None,
            executing_reference: executing_reference(&recipient.code, &env.request_id),
        };
        let ack = Envelope {
            v: FORMAT_VERSION,
            message_id: uuid::Uuid::new_v4().to_string(),
            request_id: env.request_id.clone(),
            kind: env.kind,
            reference: env.reference.clone(),
            from: recipient.code.clone(),
            to: sender.code.clone(),
            message_type: MessageType::Transition,
            from_status: Some(Status::Transmitted),
            to_status: Status::Acknowledged,
            urgent: row.urgent,
            form: Some(serde_json::to_value(&annex_b).map_err(|e| fatal_any(e.into()))?),
            note: None,
            attachments: Vec::new(),
            created_at: t,
        };
        let ack_doc = ack.to_canonical().map_err(fatal_any)?;
        let ack_seal = self
            .notary
            .seal_for(recipient, &ack_doc)
            .await
            .map_err(fatal_any)?;
        let (receipt, receipt_seal) = self.positive_receipt(env, digest, recipient, t).await?;
        let notice = self.arrival_notice(recipient, sender, env, &row);

        let mut tx = self
            .store
            .begin_write()
            .await
            .map_err(|e| fatal(e.into()))?;
        let result: Result<(), StoreError> = async {
            db::insert_request(&mut tx, &row).await?;
            db::insert_message(
                &mut tx,
                &in_message(
                    env,
                    document,
                    seal,
                    digest,
                    1,
                    &receipt,
                    &receipt_seal,
                    sender,
                    t,
                ),
            )
            .await?;
            store_files(
                &mut tx,
                &self.vault,
                &env.request_id,
                &env.message_id,
                &files,
                t,
            )
            .await?;
            db::insert_message(
                &mut tx,
                &out_message(&ack, ack_doc, ack_seal, 2, "system".into()),
            )
            .await?;
            if let Some(mail) = &notice {
                crate::mail::enqueue(&mut tx, mail).await?;
            }
            Ok(())
        }
        .await;
        if let Err(e) = result {
            drop(tx);
            return self.after_conflict(e, &env.message_id, digest).await;
        }
        tx.commit().await.map_err(|e| fatal(e.into()))?;
        self.audit_arrival(sender, env, digest).await?;
        self.audit
            .append(
                AuditEvent::new(
                    Actor::System,
                    "mla.acknowledge",
                    format!("mla_request:{}", env.request_id),
                )
                .with(json!({ "message": ack.message_id, "annex": "B" })),
            )
            .await
            .map_err(fatal_any)?;
        self.wake.notify_one();
        Ok(Accepted::New(receipt, receipt_seal))
    }

    #[allow(clippy::too_many_arguments)]
    async fn accept_step(
        &self,
        sender: &AuthorityRecord,
        recipient: &AuthorityRecord,
        env: &Envelope,
        document: &[u8],
        seal: &[u8],
        digest: &str,
        files: Vec<(AttachmentRef, Vec<u8>)>,
        checks: &[db::EvidenceCheckRow],
        t: i64,
    ) -> Result<Accepted, Rejected> {
        let Some(mut row) = self
            .store
            .mla_request(&env.request_id)
            .await
            .map_err(fatal)?
        else {
            return Err(refuse("unknown_request", "no such request here").into());
        };
        // The two parties must be exactly the sender and the recipient, on opposite sides.
        let my_side =
            Side::parse(&row.side).ok_or_else(|| fatal_any(anyhow::anyhow!("bad side")))?;
        let (mine, theirs) = match my_side {
            Side::Issuing => (&row.issuing_authority_id, &row.executing_authority_id),
            Side::Executing => (&row.executing_authority_id, &row.issuing_authority_id),
        };
        if *mine != recipient.id || *theirs != sender.id {
            return Err(refuse(
                "not_a_party",
                "the sending authority is not a party to this request",
            )
            .into());
        }
        let current =
            Status::parse(&row.status).ok_or_else(|| fatal_any(anyhow::anyhow!("bad status")))?;
        if env.from_status != Some(current) {
            return Err(refuse(
                "out_of_order",
                format!(
                    "the message moves the request from {} but it is {} here",
                    env.from_status.map_or("nothing", Status::as_str),
                    current.as_str()
                ),
            )
            .into());
        }
        let their_side = my_side.other();
        match env.message_type {
            MessageType::Extension => {
                if their_side != Side::Executing
                    || row.extended_at.is_some()
                    || env.to_status != current
                {
                    return Err(refuse(
                        "cannot_extend",
                        "the recognition deadline can be extended once, by the executing side",
                    )
                    .into());
                }
                row.extended_at = Some(env.created_at);
                row.extension_reason = env.note.clone();
            }
            _ => {
                if let Err(e) = workflow::transition(current, env.to_status, their_side) {
                    return Err(refuse("illegal_transition", format!("{e}")).into());
                }
                if let Some(form) = &env.form {
                    if env.to_status == Status::InfoProvided {
                        let problems =
                            Self::check_form(Kind::parse(&row.kind).unwrap_or(Kind::Eio), form)
                                .map_err(|e| refuse("invalid_form", e.message.to_string()))?;
                        if !problems.is_empty() {
                            return Err(
                                refuse("incomplete", "the amended form is incomplete").into()
                            );
                        }
                        row.form = serde_json::to_string(form).map_err(|e| fatal_any(e.into()))?;
                    } else if env.to_status == Status::Acknowledged {
                        serde_json::from_value::<forms::AnnexB>(form.clone()).map_err(|e| {
                            refuse("invalid_form", format!("the Annex B cannot be read: {e}"))
                        })?;
                    } else {
                        return Err(refuse(
                            "unexpected_form",
                            "only INFO_PROVIDED and ACKNOWLEDGED carry a form",
                        )
                        .into());
                    }
                }
                apply_timestamps(&mut row, env.to_status, t);
                row.status = env.to_status.as_str().into();
            }
        }
        row.updated_at = t;
        let (receipt, receipt_seal) = self.positive_receipt(env, digest, recipient, t).await?;
        let notice = self.arrival_notice(recipient, sender, env, &row);
        let mut tx = self
            .store
            .begin_write()
            .await
            .map_err(|e| fatal(e.into()))?;
        let result: Result<(), StoreError> = async {
            let seq = db::next_seq(&mut tx, &row.id).await?;
            db::update_request(&mut tx, &row, current.as_str()).await?;
            db::insert_message(
                &mut tx,
                &in_message(
                    env,
                    document,
                    seal,
                    digest,
                    seq,
                    &receipt,
                    &receipt_seal,
                    sender,
                    t,
                ),
            )
            .await?;
            store_files(&mut tx, &self.vault, &row.id, &env.message_id, &files, t).await?;
            for check in checks {
                db::insert_evidence_check(&mut tx, check).await?;
            }
            if let Some(mail) = &notice {
                crate::mail::enqueue(&mut tx, mail).await?;
            }
            Ok(())
        }
        .await;
        if let Err(e) = result {
            drop(tx);
            return self.after_conflict(e, &env.message_id, digest).await;
        }
        tx.commit().await.map_err(|e| fatal(e.into()))?;
        self.audit_arrival(sender, env, digest).await?;
        for check in checks {
            self.audit
                .append(
                    AuditEvent::new(
                        Actor::Authority(sender.id.clone()),
                        "mla.evidence_verified",
                        format!("mla_request:{}", env.request_id),
                    )
                    .with(json!({
                        "message": env.message_id, "attachment": check.attachment_id,
                        "files": check.files,
                    })),
                )
                .await
                .map_err(fatal_any)?;
        }
        Ok(Accepted::New(receipt, receipt_seal))
    }

    /// The e-mail that tells the receiving authority's mailbox what arrived (none without a
    /// mailbox). It names the request and the step, never the persons in it.
    fn arrival_notice(
        &self,
        recipient: &AuthorityRecord,
        sender: &AuthorityRecord,
        env: &Envelope,
        row: &RequestRow,
    ) -> Option<crate::mail::OutgoingMail> {
        let to = recipient.email.as_deref()?;
        let what = match env.message_type {
            MessageType::Request => format!("a new {} has arrived", row.kind.to_uppercase()),
            MessageType::Extension => "the recognition deadline was extended".to_string(),
            MessageType::Transition => format!("it is now {}", env.to_status.as_str()),
        };
        let subject = format!(
            "[Assize] {} {}: {what}",
            row.kind.to_uppercase(),
            row.reference
        );
        let body = format!(
            "From {} ({}), file reference {}: {what}.\n\nRequest {}\n\nOpen it in Assize to read it and act on it.\n",
            sender.name, sender.country, row.reference, row.id
        );
        match self.mail.notice([to], &subject, &body) {
            Ok(m) => Some(m),
            Err(e) => {
                tracing::warn!(error = %e, authority = %recipient.code, "cannot write the arrival notice");
                None
            }
        }
    }

    async fn positive_receipt(
        &self,
        env: &Envelope,
        digest: &str,
        recipient: &AuthorityRecord,
        t: i64,
    ) -> Result<(Vec<u8>, Vec<u8>), Rejected> {
        self.sealed_receipt(
            Some(recipient),
            &Receipt {
                v: FORMAT_VERSION,
                message_id: env.message_id.clone(),
                document_sha256: digest.into(),
                outcome: "accepted".into(),
                code: None,
                reason: None,
                received_at: t,
                by: Some(recipient.code.clone()),
            },
        )
        .await
        .map_err(fatal_any)
    }

    /// A concurrent delivery of the same message won the race: answer with its receipt.
    async fn after_conflict(
        &self,
        e: StoreError,
        message_id: &str,
        digest: &str,
    ) -> Result<Accepted, Rejected> {
        match e {
            StoreError::Conflict(_) => {
                let mut conn = self
                    .store
                    .begin_write()
                    .await
                    .map_err(|e| fatal(e.into()))?;
                let existing = db::message_in(&mut conn, message_id).await.map_err(fatal)?;
                conn.rollback().await.map_err(|e| fatal(e.into()))?;
                match existing {
                    Some(m) => duplicate(m, digest),
                    None => Err(refuse(
                        "out_of_order",
                        "the request changed while this message was checked; send it again",
                    )
                    .into()),
                }
            }
            other => Err(fatal(other)),
        }
    }

    async fn audit_arrival(
        &self,
        sender: &AuthorityRecord,
        env: &Envelope,
        digest: &str,
    ) -> Result<(), Rejected> {
        self.audit
            .append(
                AuditEvent::new(
                    Actor::Authority(sender.id.clone()),
                    "mla.message_received",
                    format!("mla_request:{}", env.request_id),
                )
                .with(json!({
                    "message": env.message_id, "type": env.message_type.as_str(),
                    "from": env.from_status.map(Status::as_str), "to": env.to_status.as_str(),
                    "document_sha256": digest,
                    "attachments": env.attachments.iter().map(|a| &a.sha256).collect::<Vec<_>>(),
                })),
            )
            .await
            .map_err(fatal_any)?;
        Ok(())
    }
}

/// Reads a delivered document: a v1 [`Envelope`] with UUID ids and, when it carries the
/// request, a form of its kind. Pure; the first check of every delivery (and a fuzz target).
///
/// # Errors
/// The [`Refusal`] that goes into the negative receipt.
pub fn read_envelope(document: &[u8]) -> Result<Envelope, Refusal> {
    if document.is_empty() {
        return Err(refuse(
            "malformed",
            "the document is not base64 or is empty",
        ));
    }
    let env: Envelope = serde_json::from_slice(document).map_err(|e| {
        refuse(
            "malformed",
            format!("the document is not a v1 message: {e}"),
        )
    })?;
    if env.v != FORMAT_VERSION {
        return Err(refuse(
            "unsupported_version",
            format!("message format v{} is not supported (v1 is)", env.v),
        ));
    }
    if uuid::Uuid::parse_str(&env.message_id).is_err()
        || uuid::Uuid::parse_str(&env.request_id).is_err()
    {
        return Err(refuse(
            "malformed",
            "message_id and request_id must be UUIDs",
        ));
    }
    if let Some(form) = &env.form
        && env.message_type == MessageType::Request
    {
        Mla::check_form(env.kind, form)
            .map_err(|e| refuse("invalid_form", e.message.to_string()))?;
    }
    Ok(env)
}

enum Accepted {
    New(Vec<u8>, Vec<u8>),
    Duplicate(Vec<u8>, Vec<u8>),
}

enum Rejected {
    Refused(Refusal),
    Fatal(ApiError),
}

impl From<Refusal> for Rejected {
    fn from(r: Refusal) -> Self {
        Rejected::Refused(r)
    }
}

fn fatal(e: StoreError) -> Rejected {
    Rejected::Fatal(e.into())
}

fn fatal_any(e: anyhow::Error) -> Rejected {
    Rejected::Fatal(ApiError::internal(e))
}

fn duplicate(m: MessageRow, digest: &str) -> Result<Accepted, Rejected> {
    match (m.direction.as_str(), m.receipt, m.receipt_seal) {
        ("in", Some(r), Some(s)) if m.document_sha256 == digest => Ok(Accepted::Duplicate(r, s)),
        _ => Err(refuse(
            "message_id_reused",
            "a different message with this id was already received: a replay or a forgery",
        )
        .into()),
    }
}

#[allow(clippy::too_many_arguments)]
fn in_message(
    env: &Envelope,
    document: &[u8],
    seal: &[u8],
    digest: &str,
    seq: i64,
    receipt: &[u8],
    receipt_seal: &[u8],
    sender: &AuthorityRecord,
    t: i64,
) -> MessageRow {
    MessageRow {
        id: env.message_id.clone(),
        request_id: env.request_id.clone(),
        seq,
        direction: "in".into(),
        message_type: env.message_type.as_str().into(),
        from_status: env.from_status.map(|s| s.as_str().into()),
        to_status: env.to_status.as_str().into(),
        document: document.to_vec(),
        seal: seal.to_vec(),
        document_sha256: digest.into(),
        transport_status: "DELIVERED".into(),
        attempts: 0,
        next_attempt_at: None,
        last_error: None,
        receipt: Some(receipt.to_vec()),
        receipt_seal: Some(receipt_seal.to_vec()),
        actor: format!("authority:{}", sender.id),
        created_at: t,
        delivered_at: Some(t),
    }
}

fn out_message(
    env: &Envelope,
    document: Vec<u8>,
    seal: Vec<u8>,
    seq: i64,
    actor: String,
) -> MessageRow {
    MessageRow {
        id: env.message_id.clone(),
        request_id: env.request_id.clone(),
        seq,
        direction: "out".into(),
        message_type: env.message_type.as_str().into(),
        from_status: env.from_status.map(|s| s.as_str().into()),
        to_status: env.to_status.as_str().into(),
        document_sha256: hex::encode(Sha256::digest(&document)),
        document,
        seal,
        transport_status: "SUBMITTED".into(),
        attempts: 0,
        next_attempt_at: Some(env.created_at),
        last_error: None,
        receipt: None,
        receipt_seal: None,
        actor,
        created_at: env.created_at,
        delivered_at: None,
    }
}

async fn store_files(
    conn: &mut sqlx::AnyConnection,
    vault: &Vault,
    request_id: &str,
    message_id: &str,
    files: &[(AttachmentRef, Vec<u8>)],
    t: i64,
) -> Result<(), StoreError> {
    for (r, content) in files {
        let sealed = vault.seal(&r.id, content);
        db::insert_attachment(
            conn,
            &AttachmentRow {
                id: r.id.clone(),
                request_id: request_id.into(),
                message_id: Some(message_id.into()),
                filename: r.filename.clone(),
                media_type: r.media_type.clone(),
                size: content.len() as i64,
                sha256: r.sha256.clone(),
                wrapped_key: sealed.wrapped_key,
                ciphertext: sealed.ciphertext,
                created_at: t,
            },
        )
        .await?;
    }
    Ok(())
}

fn attachment_ref(a: &AttachmentRow) -> AttachmentRef {
    AttachmentRef {
        id: a.id.clone(),
        filename: a.filename.clone(),
        media_type: a.media_type.clone(),
        size: a.size.max(0) as u64,
        sha256: a.sha256.clone(),
    }
}

/// The executing authority's reference for a request, as its Annex B states it.
pub fn executing_reference(executing_code: &str, request_id: &str) -> String {
    let short: String = request_id.chars().take(8).collect();
    format!("{executing_code}/{short}")
}

/// Records the dates the deadlines run from.
fn apply_timestamps(row: &mut RequestRow, to: Status, t: i64) {
    match to {
        Status::Transmitted => row.transmitted_at = Some(t),
        Status::Acknowledged => row.acknowledged_at = row.acknowledged_at.or(Some(t)),
        Status::Recognised => row.recognised_at = row.recognised_at.or(Some(t)),
        s if workflow::is_finished(s) && s != Status::Closed => {
            row.finished_at = row.finished_at.or(Some(t));
        }
        _ => {}
    }
}

/// Reference, urgency and requested date as the form states them.
fn summary_of(kind: Kind, form: &Value) -> (String, bool, Option<i64>) {
    let text = |v: &Value| {
        v.as_str()
            .unwrap_or_default()
            .chars()
            .take(200)
            .collect::<String>()
    };
    match kind {
        Kind::Eio => (
            text(&form["section_k"]["file_reference"]),
            form["section_b"]["urgent"].as_bool().unwrap_or(false),
            None,
        ),
        Kind::Mla => (
            text(&form["requesting_authority"]["file_reference"]),
            form["urgent"].as_bool().unwrap_or(false),
            forms::parse_date(form["requested_date"].as_str()),
        ),
    }
}

/// `409 already_transmitted`: this file went with an earlier step of the request.
fn already_transmitted(earlier: &AttachmentRow) -> ApiError {
    ApiError::new(
        StatusCode::CONFLICT,
        "already_transmitted",
        "This hearing's record was already returned in this request.",
    )
    .with_details(json!({ "attachment": earlier.id, "sha256": earlier.sha256 }))
}

fn names(s: &[Status]) -> Vec<&'static str> {
    s.iter().map(|x| x.as_str()).collect()
}

fn illegal_move(from: Status, to: Status, side: Side, why: &str) -> ApiError {
    ApiError::new(StatusCode::CONFLICT, "illegal_transition", why.to_owned()).with_details(json!({
        "from": from.as_str(), "to": to.as_str(), "legal": names(&workflow::legal_next(from, side)),
    }))
}

fn incomplete(problems: Vec<forms::Problem>) -> ApiError {
    let first = problems
        .first()
        .map(|p| format!("{}: {}", p.field, p.message))
        .unwrap_or_default();
    ApiError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "incomplete",
        format!("The request is not complete. First missing: {first}"),
    )
    .with_details(json!({ "missing": problems }))
}

fn rfc3339(t: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(t)
        .ok()
        .and_then(|d| {
            d.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

impl Mla {
    /// Queues a plain-text notice in the mail outbox, inside the caller's transaction.
    ///
    /// # Errors
    /// On database failure.
    pub(crate) async fn queue_notice(
        &self,
        tx: &mut sqlx::Transaction<'static, sqlx::Any>,
        to: &str,
        subject: &str,
        body: &str,
    ) -> anyhow::Result<()> {
        let mail = self
            .mail
            .notice([to], subject, body)
            .map_err(|e| anyhow::anyhow!("cannot write a notice to {to}: {e}"))?;
        crate::mail::enqueue(tx, &mail).await?;
        Ok(())
    }
}
