//! S/MIME signed messages (RFC 8551 `multipart/signed`, RFC 1847), for requests to authorities
//! that have no Assize server and receive them by e-mail.
//!
//! The signed entity is a MIME part built here with CRLF line endings and only 7-bit transfer
//! encodings (quoted-printable text, base64 attachments), so no relay has a reason to rewrite it
//! and the signature survives transport. It is signed with a detached PKCS#7 signature
//! (`openssl`'s `PKCS7_sign`, SHA-256 with the key's algorithm, signer certificate and chain
//! included) and wrapped by `SMIME_write_PKCS7`. The result is a complete RFC 5322 message that
//! any S/MIME client, and `openssl smime -verify`, checks without Assize.

use anyhow::Context as _;
use lettre::message::header::{self, ContentTransferEncoding, ContentType, Headers};
use lettre::message::{Attachment, Body, Mailbox, Mailboxes, MultiPart, SinglePart};
use openssl::pkcs7::{Pkcs7, Pkcs7Flags};
use openssl::pkey::PKey;
use openssl::stack::Stack;
use openssl::x509::X509;

use crate::pki::DataDir;

/// One attachment: file name, media type (`application/pdf`), content.
pub type AttachmentRef<'a> = (&'a str, &'a str, &'a [u8]);

/// A complete `multipart/signed` RFC 5322 message (CRLF line endings) from `from` to `to`,
/// signed with the PEM certificate and key (the certificate's first PEM block is the signer;
/// `chain_pem` adds intermediate certificates and may be empty). The signed part holds
/// `text_body` and, when given, the attachments (`multipart/mixed`). Date and Message-ID are set
/// now.
///
/// # Errors
/// When an address, media type, certificate or key cannot be used, or signing fails.
#[allow(clippy::too_many_arguments)] // the parts of one message; a struct would add nothing
pub fn smime_signed(
    signer_cert_pem: &[u8],
    signer_key_pem: &[u8],
    chain_pem: &[u8],
    from: &str,
    to: &[impl AsRef<str>],
    subject: &str,
    text_body: &str,
    attachments: &[AttachmentRef<'_>],
) -> anyhow::Result<Vec<u8>> {
    let from: Mailbox = from
        .parse()
        .with_context(|| format!("{from:?} is not an e-mail address"))?;
    let mut recipients = Mailboxes::new();
    for r in to {
        let r = r.as_ref();
        recipients.push(
            r.parse::<Mailbox>()
                .with_context(|| format!("{r:?} is not an e-mail address"))?,
        );
    }
    anyhow::ensure!(
        recipients.iter().next().is_some(),
        "a signed message needs at least one recipient"
    );

    let entity = signed_entity(text_body, attachments)?;

    let signer = X509::from_pem(signer_cert_pem).context("the signer certificate is not PEM")?;
    let key =
        PKey::private_key_from_pem(signer_key_pem).context("the signer key is not a PEM key")?;
    let mut chain = Stack::new()?;
    if !chain_pem.is_empty() {
        for c in X509::stack_from_pem(chain_pem).context("the chain is not PEM certificates")? {
            chain.push(c)?;
        }
    }
    // BINARY: sign the entity's bytes exactly as built (already canonical CRLF).
    let flags = Pkcs7Flags::DETACHED | Pkcs7Flags::BINARY;
    let pkcs7 = Pkcs7::sign(&signer, &key, &chain, &entity, flags).context("signing failed")?;
    let smime = pkcs7
        .to_smime(&entity, flags | Pkcs7Flags::CRLFEOL)
        .context("cannot write the S/MIME structure")?;

    let mut headers = Headers::new();
    headers.set(header::MessageId::from(format!(
        "<{}@{}>",
        uuid::Uuid::new_v4().simple(),
        from.email.domain()
    )));
    headers.set(header::Date::now());
    headers.set(header::From::from(Mailboxes::from(from)));
    headers.set(header::To::from(recipients));
    headers.set(header::Subject::from(subject.to_string()));
    let mut message = headers.to_string().into_bytes();
    // OpenSSL writes MIME-Version, Content-Type (multipart/signed, micalg, boundary) and the
    // parts. Its base64 lines end in a bare LF; the signed entity has no bare LF, so making every
    // line end in CRLF leaves the signed bytes unchanged.
    message.extend_from_slice(&crlf_lines(&smime));
    Ok(message)
}

/// A signed message from this server's signing identity in the data directory
/// (`pki/signing.crt`, `pki/signing.key`; further certificates in `signing.crt` form the chain).
///
/// # Errors
/// As [`smime_signed`], and when the files cannot be read.
pub fn signed_by_server(
    data_dir: &DataDir,
    from: &str,
    to: &[impl AsRef<str>],
    subject: &str,
    text_body: &str,
    attachments: &[AttachmentRef<'_>],
) -> anyhow::Result<Vec<u8>> {
    let cert = std::fs::read(&data_dir.signing_cert)
        .with_context(|| format!("cannot read {}", data_dir.signing_cert.display()))?;
    let key = std::fs::read(&data_dir.signing_key)
        .with_context(|| format!("cannot read {}", data_dir.signing_key.display()))?;
    let chain: Vec<u8> = X509::stack_from_pem(&cert)
        .context("the signing certificate is not PEM")?
        .iter()
        .skip(1)
        .map(|c| c.to_pem())
        .collect::<Result<Vec<_>, _>>()?
        .concat();
    smime_signed(
        &cert,
        &key,
        &chain,
        from,
        to,
        subject,
        text_body,
        attachments,
    )
}

/// The MIME entity that is signed: the text alone, or `multipart/mixed` with the attachments.
fn signed_entity(text_body: &str, attachments: &[AttachmentRef<'_>]) -> anyhow::Result<Vec<u8>> {
    let text = SinglePart::builder().header(ContentType::TEXT_PLAIN).body(
        Body::new_with_encoding(
            text_body.to_string(),
            ContentTransferEncoding::QuotedPrintable,
        )
        .map_err(|_| anyhow::anyhow!("the text cannot be quoted-printable encoded"))?,
    );
    if attachments.is_empty() {
        return Ok(text.formatted());
    }
    let mut mixed = MultiPart::mixed().singlepart(text);
    for (filename, media_type, bytes) in attachments {
        let content_type = ContentType::parse(media_type)
            .with_context(|| format!("{media_type:?} is not a media type"))?;
        let body = Body::new_with_encoding(bytes.to_vec(), ContentTransferEncoding::Base64)
            .map_err(|_| anyhow::anyhow!("{filename:?} cannot be base64 encoded"))?;
        mixed = mixed.singlepart(Attachment::new((*filename).to_string()).body(body, content_type));
    }
    Ok(mixed.formatted())
}

/// `bytes` with every bare LF turned into CRLF (CRLF stays as it is).
fn crlf_lines(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len() + bytes.len() / 32);
    for (i, &b) in bytes.iter().enumerate() {
        if b == b'\n' && (i == 0 || bytes[i - 1] != b'\r') {
            out.push(b'\r');
        }
        out.push(b);
    }
    out
}

#[cfg(test)]
mod tests {
    use openssl::x509::store::X509StoreBuilder;

    use super::*;

    fn verify(message: &[u8], ca: &X509) -> Result<Vec<u8>, openssl::error::ErrorStack> {
        let (pkcs7, content) = Pkcs7::from_smime(message)?;
        let content = content.expect("detached content");
        let mut store = X509StoreBuilder::new()?;
        store.add_cert(ca.clone())?;
        let store = store.build();
        let mut out = Vec::new();
        let no_extra_certs: Stack<X509> = Stack::new()?;
        pkcs7.verify(
            &no_extra_certs,
            &store,
            Some(&content),
            Some(&mut out),
            Pkcs7Flags::empty(),
        )?;
        Ok(out)
    }

    #[test]
    fn a_signed_message_verifies_and_a_changed_byte_does_not() {
        let dir = tempfile::tempdir().unwrap();
        let dd = DataDir::bootstrap(dir.path()).unwrap();
        let ca = X509::from_pem(&std::fs::read(&dd.ca_cert).unwrap()).unwrap();
        let message = signed_by_server(
            &dd,
            "Assize <assize@court.example>",
            &["central.authority@justice.example"],
            "Request 2026/17",
            "Please find the request attached.\nKind regards\n",
            &[(
                "request.pdf",
                "application/pdf",
                b"%PDF-1.7 not really\x00\xff",
            )],
        )
        .unwrap();
        let text = String::from_utf8(message.clone()).unwrap();
        assert!(text.contains("Content-Type: multipart/signed"), "{text}");
        assert!(text.contains("micalg=\"sha-256\""), "{text}");
        assert!(
            text.contains("To: central.authority@justice.example\r\n"),
            "{text}"
        );
        assert_eq!(crlf_lines(&message), message, "CRLF line endings only");
        crate::mail::check_rfc5322(&message).unwrap();
        verify(&message, &ca).unwrap();

        let at = text.find("Please find").unwrap();
        let mut tampered = message.clone();
        tampered[at] = b'p';
        assert!(verify(&tampered, &ca).is_err());
    }

    #[test]
    fn bad_inputs_are_errors_not_panics() {
        let dir = tempfile::tempdir().unwrap();
        let dd = DataDir::bootstrap(dir.path()).unwrap();
        let no_one: [&str; 0] = [];
        for (from, to, media) in [
            ("nobody", &["a@b.example"][..], "text/plain"),
            ("a@b.example", &["not an address"][..], "text/plain"),
            ("a@b.example", &no_one[..], "text/plain"),
            ("a@b.example", &["c@d.example"][..], "no media type"),
        ] {
            assert!(
                signed_by_server(&dd, from, to, "s", "b", &[("f", media, b"x")]).is_err(),
                "{from} {to:?} {media}"
            );
        }
        assert!(
            smime_signed(
                b"junk",
                b"junk",
                b"",
                "a@b.example",
                &["c@d.example"],
                "s",
                "b",
                &[]
            )
            .is_err()
        );
    }
}
