//! E-mail: notices to officers (deadlines, arrivals) and S/MIME-signed requests to authorities
//! that have no Assize server.
//!
//! Mail follows the transactional-outbox pattern. Whoever decides that a message must go out
//! builds it ([`OutgoingMail`]) and writes it with [`enqueue`] **inside the same database
//! transaction** as the change it announces: either both are committed or neither is, so no
//! notice is ever sent for a change that was rolled back, and none is lost for one that was
//! committed. The stored row holds the complete RFC 5322 message, so what is sent is exactly what
//! was decided (for S/MIME, exactly what was signed).
//!
//! The [`dispatch`] task, started by [`crate::app::Application::build`], sends due rows over SMTP
//! (`[mail]` settings), marks them sent, and on failure retries with exponential backoff. It never
//! deletes mail: an SMTP server that is down delays mail and loses none. Delivery is at least
//! once: a crash between the SMTP server's acceptance and the database update sends the message
//! again after the row's lease runs out.
//!
//! - [`OutgoingMail`]: a checked message (valid addresses, CRLF lines) ready to queue.
//! - [`enqueue`]: write it in the caller's transaction; [`crate::store::Store::enqueue_mail`]
//!   does the same in a transaction of its own.
//! - [`dispatch`]: the dispatcher and its retry policy.
//! - [`smime`]: multipart/signed (RFC 8551) messages signed with the server's identity.

pub mod dispatch;
pub mod smime;

use lettre::Address;
use lettre::message::Mailbox;
use lettre::message::header::ContentType;

pub use dispatch::{MailTasks, RetryPolicy};

use crate::config::MailSettings;

/// At most this many recipients per message (one SMTP transaction).
pub const MAX_RECIPIENTS: usize = 100;

/// What a queued message is, for operators (`assize mail queue`) and the `kind` column.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum MailKind {
    /// A plain-text notice to officers.
    Notice,
    /// A pre-built message, typically S/MIME signed (a request to an authority).
    Signed,
    /// A test message queued by `assize mail test`.
    Test,
}

impl MailKind {
    /// The name stored in the `kind` column.
    pub fn as_str(self) -> &'static str {
        match self {
            MailKind::Notice => "notice",
            MailKind::Signed => "signed",
            MailKind::Test => "test",
        }
    }
}

/// Why a message could not be built. Nothing is queued then.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MailError {
    /// A sender or recipient is not an e-mail address.
    #[error("{0:?} is not an e-mail address")]
    InvalidAddress(String),
    /// The message has no recipient, or more than [`MAX_RECIPIENTS`].
    #[error("a message needs 1 to {MAX_RECIPIENTS} recipients, not {0}")]
    Recipients(usize),
    /// A pre-built message is not a complete RFC 5322 message with CRLF line endings.
    #[error("the pre-built message is malformed: {0}")]
    Malformed(&'static str),
    /// The message could not be assembled.
    #[error("the message could not be built: {0}")]
    Build(#[from] lettre::error::Error),
}

/// A message ready to be queued: recipients checked, the complete RFC 5322 bytes built.
///
/// Built only through [`OutgoingMail::notice`] or [`OutgoingMail::prebuilt`], so a value of
/// this type is always a well-formed message.
#[derive(Clone)]
pub struct OutgoingMail {
    kind: MailKind,
    recipients: Vec<String>,
    subject: String,
    message: Vec<u8>,
}

impl std::fmt::Debug for OutgoingMail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Recipients, subject and text identify people and cases.
        f.debug_struct("OutgoingMail")
            .field("kind", &self.kind)
            .field("recipients", &self.recipients.len())
            .field("subject", &"REDACTED")
            .field("message_bytes", &self.message.len())
            .finish()
    }
}

impl OutgoingMail {
    /// A plain-text notice from `from` (the configured sender: see [`MailSettings::notice`]).
    /// Date and Message-ID are set now; non-ASCII subjects and text are encoded as MIME requires.
    ///
    /// # Errors
    /// [`MailError`] when an address is invalid or there are no recipients.
    pub fn notice(
        from: &str,
        to: impl IntoIterator<Item = impl AsRef<str>>,
        subject: &str,
        body: &str,
    ) -> Result<Self, MailError> {
        Self::plain(MailKind::Notice, from, to, subject, body)
    }

    /// A message built elsewhere, sent byte for byte (S/MIME: see [`smime::smime_signed`]).
    /// `to` becomes the SMTP envelope's recipients and should match the message's `To:`.
    ///
    /// # Errors
    /// [`MailError::Malformed`] unless `message` has a header, a blank line and CRLF line
    /// endings only; [`MailError`] for invalid recipients.
    pub fn prebuilt(
        kind: MailKind,
        to: impl IntoIterator<Item = impl AsRef<str>>,
        subject: &str,
        message: Vec<u8>,
    ) -> Result<Self, MailError> {
        let recipients = checked_recipients(to)?;
        check_rfc5322(&message)?;
        Ok(Self {
            kind,
            recipients,
            subject: subject.to_string(),
            message,
        })
    }

    fn plain(
        kind: MailKind,
        from: &str,
        to: impl IntoIterator<Item = impl AsRef<str>>,
        subject: &str,
        body: &str,
    ) -> Result<Self, MailError> {
        let recipients = checked_recipients(to)?;
        let from: Mailbox = from
            .parse()
            .map_err(|_| MailError::InvalidAddress(from.to_string()))?;
        let mut builder = lettre::Message::builder()
            .message_id(Some(message_id(&from.email)))
            .from(from)
            .subject(subject);
        for r in &recipients {
            builder = builder.to(Mailbox::new(None, parse_address(r)?));
        }
        let message = builder
            .header(ContentType::TEXT_PLAIN)
            .body(body.to_string())?
            .formatted();
        Ok(Self {
            kind,
            recipients,
            subject: subject.to_string(),
            message,
        })
    }

    /// What the message is.
    pub fn kind(&self) -> MailKind {
        self.kind
    }

    /// The envelope recipients.
    pub fn recipients(&self) -> &[String] {
        &self.recipients
    }

    /// The subject (kept in its own column for operators).
    pub fn subject(&self) -> &str {
        &self.subject
    }

    /// The complete RFC 5322 message.
    pub fn message(&self) -> &[u8] {
        &self.message
    }
}

impl MailSettings {
    /// A notice from the configured sender (`mail.from`).
    ///
    /// # Errors
    /// [`MailError`] when an address is invalid or there are no recipients.
    pub fn notice(
        &self,
        to: impl IntoIterator<Item = impl AsRef<str>>,
        subject: &str,
        body: &str,
    ) -> Result<OutgoingMail, MailError> {
        OutgoingMail::notice(&self.from, to, subject, body)
    }

    /// The message `assize mail test` queues: proves the whole path to `to` works.
    ///
    /// # Errors
    /// [`MailError::InvalidAddress`] when `to` is not an address.
    pub fn test_message(&self, to: &str) -> Result<OutgoingMail, MailError> {
        let at = time::OffsetDateTime::now_utc()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default();
        OutgoingMail::plain(
            MailKind::Test,
            &self.from,
            [to],
            "Assize test message",
            &format!(
                "This is a test message from Assize, queued at {at} with `assize mail test`.\n\
                 If you read it, the server's mail settings work. No reply is needed.\n"
            ),
        )
    }
}

/// Writes `mail` to the outbox inside the caller's transaction, so that it is sent if and only
/// if the transaction commits. Returns the message's id (see `assize mail queue`).
///
/// The message is due at once; a running dispatcher sends it within `mail.poll_interval_ms` of
/// the commit (or later, if the SMTP server is unreachable).
///
/// # Errors
/// The database's error; the caller should roll back (dropping the transaction does).
pub async fn enqueue(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    mail: &OutgoingMail,
) -> Result<String, sqlx::Error> {
    crate::store::insert_outbox(tx, mail).await
}

fn parse_address(s: &str) -> Result<Address, MailError> {
    s.trim()
        .parse::<Address>()
        .map_err(|_| MailError::InvalidAddress(s.to_string()))
}

fn checked_recipients(
    to: impl IntoIterator<Item = impl AsRef<str>>,
) -> Result<Vec<String>, MailError> {
    let recipients = to
        .into_iter()
        .map(|r| parse_address(r.as_ref()).map(|a| a.to_string()))
        .collect::<Result<Vec<_>, _>>()?;
    if recipients.is_empty() || recipients.len() > MAX_RECIPIENTS {
        return Err(MailError::Recipients(recipients.len()));
    }
    Ok(recipients)
}

/// A globally unique Message-ID in the sender's domain.
fn message_id(from: &Address) -> String {
    format!("<{}@{}>", uuid::Uuid::new_v4().simple(), from.domain())
}

/// The checks a pre-built message must pass before it may be queued: headers, a blank line,
/// and CRLF line endings only (SMTP servers reject or rewrite bare LF, which would break a
/// signature).
fn check_rfc5322(message: &[u8]) -> Result<(), MailError> {
    let Some(end_of_header) = message.windows(4).position(|w| w == b"\r\n\r\n") else {
        return Err(MailError::Malformed("no blank line ends the header"));
    };
    let header = &message[..end_of_header];
    if header.is_empty() || !header.contains(&b':') {
        return Err(MailError::Malformed("the header is empty"));
    }
    for (i, &b) in message.iter().enumerate() {
        if b == b'\n' && (i == 0 || message[i - 1] != b'\r') {
            return Err(MailError::Malformed("a line ends in a bare LF, not CRLF"));
        }
        if b == b'\r' && message.get(i + 1) != Some(&b'\n') {
            return Err(MailError::Malformed("a bare CR"));
        }
    }
    let has = |name: &str| {
        header.split(|&b| b == b'\n').any(|line| {
            line.len() > name.len()
                && line[..name.len()].eq_ignore_ascii_case(name.as_bytes())
                && line[name.len()] == b':'
        })
    };
    for name in ["From", "Date"] {
        if !has(name) {
            return Err(MailError::Malformed("a From or Date header is missing"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_notice_is_a_complete_message_with_crlf_lines() {
        let m = OutgoingMail::notice(
            "Assize <assize@court.example>",
            ["officer@ca.example"],
            "Frist läuft ab",
            "Die Frist für Ersuchen 2026/17 läuft morgen ab.\n",
        )
        .unwrap();
        let text = String::from_utf8(m.message().to_vec()).unwrap();
        assert!(
            text.contains("From: Assize <assize@court.example>\r\n"),
            "{text}"
        );
        assert!(text.contains("To: officer@ca.example\r\n"), "{text}");
        assert!(text.contains("Message-ID: <"), "{text}");
        assert!(text.contains("@court.example>"), "{text}");
        assert!(text.contains("Date: "), "{text}");
        assert!(
            text.contains("=?utf-8?") && !text.contains("läuft"),
            "non-ASCII is encoded: {text}"
        );
        check_rfc5322(m.message()).unwrap();
        assert_eq!(m.kind(), MailKind::Notice);
    }

    #[test]
    fn bad_addresses_and_empty_recipient_lists_are_refused() {
        let from = "assize@court.example";
        assert!(matches!(
            OutgoingMail::notice(from, ["not an address"], "s", "b"),
            Err(MailError::InvalidAddress(_))
        ));
        assert!(matches!(
            OutgoingMail::notice(from, ["a@b.example\r\nBcc: x@evil.example"], "s", "b"),
            Err(MailError::InvalidAddress(_))
        ));
        assert!(matches!(
            OutgoingMail::notice(from, Vec::<String>::new(), "s", "b"),
            Err(MailError::Recipients(0))
        ));
        assert!(matches!(
            OutgoingMail::notice("nobody", ["a@b.example"], "s", "b"),
            Err(MailError::InvalidAddress(_))
        ));
    }

    #[test]
    fn a_header_injected_through_the_subject_stays_in_the_subject() {
        let m = OutgoingMail::notice(
            "assize@court.example",
            ["a@b.example"],
            "hello\r\nBcc: victim@evil.example",
            "b",
        )
        .unwrap();
        let text = String::from_utf8(m.message().to_vec()).unwrap();
        assert!(!text.contains("\r\nBcc:"), "{text}");
    }

    #[test]
    fn malformed_prebuilt_messages_are_refused() {
        let good = b"From: a@b.example\r\nDate: Thu, 1 Jan 2026 00:00:00 +0000\r\n\r\nhi\r\n";
        OutgoingMail::prebuilt(MailKind::Signed, ["c@d.example"], "s", good.to_vec()).unwrap();
        for bad in [
            &b""[..],
            b"no header at all",
            b"From: a@b.example\nDate: x\n\nbare LF\n",
            b"From: a@b.example\r\nDate: x\r\n\r\nbare\rCR\r\n",
            b"Subject: no from\r\nDate: x\r\n\r\nbody\r\n",
        ] {
            assert!(
                OutgoingMail::prebuilt(MailKind::Signed, ["c@d.example"], "s", bad.to_vec())
                    .is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn debug_output_redacts_people_and_text() {
        let m =
            OutgoingMail::notice("assize@court.example", ["x@y.example"], "Case 17", "t").unwrap();
        let d = format!("{m:?}");
        assert!(!d.contains("x@y.example") && !d.contains("Case 17"), "{d}");
    }
}
