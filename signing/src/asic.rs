//! ASiC-E containers (ETSI EN 319 162-1) with a CAdES signature over an `ASiCManifest`.
//!
//! Layout written:
//! ```text
//! mimetype                      stored, first, "application/vnd.etsi.asic-e+zip"
//! <documents>                   deflated
//! META-INF/ASiCManifest.xml     lists each document with its SHA-256 digest and points
//!                               (SigReference) at the signature
//! META-INF/signature001.p7s     CAdES B-T detached signature over the manifest bytes
//! ```
//!
//! Building is split like signing: [`ContainerBuilder::prepare`] yields the manifest to sign,
//! the server signs and time-stamps it with [`crate::cades`], then [`PreparedContainer::seal`]
//! writes the ZIP.
//!
//! Reading ([`AsicContainer::read`]) treats the bytes as hostile: bounded container size, entry
//! count, per-entry and total decompressed size (zip bombs); no path traversal, absolute paths,
//! backslashes or duplicate (also case-insensitively duplicate) names. [`verify_container`]
//! re-hashes every document and names each file that does not match.

use std::collections::HashSet;
use std::io::{Cursor, Read, Write};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use quick_xml::events::Event;
use sha2::{Digest, Sha256, Sha512};
use zip::CompressionMethod;
use zip::write::SimpleFileOptions;

use crate::cades::CadesSignature;
use crate::error::{Error, InputError, MisuseError};
use crate::verify::{
    Check, Finding, SignatureReport, TrustAnchors, VerifyOptions, verify_detached,
};

/// The ASiC-E media type, content of the `mimetype` entry.
pub const MIMETYPE: &str = "application/vnd.etsi.asic-e+zip";
/// Path of the manifest.
pub const MANIFEST_PATH: &str = "META-INF/ASiCManifest.xml";
/// Path of the CAdES signature over the manifest.
pub const SIGNATURE_PATH: &str = "META-INF/signature001.p7s";

const ASIC_NS: &str = "http://uri.etsi.org/02918/v1.2.1#";
const DS_NS: &str = "http://www.w3.org/2000/09/xmldsig#";
const XMLENC_SHA256: &str = "http://www.w3.org/2001/04/xmlenc#sha256";
const XMLENC_SHA512: &str = "http://www.w3.org/2001/04/xmlenc#sha512";
/// Largest manifest accepted when reading, in bytes.
const MAX_MANIFEST_LEN: u64 = 1024 * 1024;
/// Longest document name accepted.
const MAX_NAME_LEN: usize = 255;

/// A document to put in a container.
#[derive(Clone)]
struct Document {
    name: String,
    mime_type: String,
    content: Vec<u8>,
}

/// Collects the documents of a container.
#[derive(Clone, Default)]
pub struct ContainerBuilder {
    documents: Vec<Document>,
}

impl std::fmt::Debug for ContainerBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ContainerBuilder")
            .field("documents", &self.documents.len())
            .finish()
    }
}

/// Checks a document name we are about to write: a relative path of safe characters.
///
/// Names are restricted to ASCII letters, digits, `.`, `_`, `-` and `/` as a separator so they
/// can go into the manifest's URI attribute without escaping and mean the same on every system.
fn check_document_name(name: &str) -> Result<(), MisuseError> {
    let refuse = |reason| {
        Err(MisuseError::DocumentName {
            name: name.to_owned(),
            reason,
        })
    };
    if name.is_empty() || name.len() > MAX_NAME_LEN {
        return refuse("must be 1 to 255 bytes");
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'/'))
    {
        return refuse("only ASCII letters, digits, '.', '_', '-' and '/' are allowed");
    }
    if name
        .split('/')
        .any(|seg| seg.is_empty() || seg == "." || seg == "..")
    {
        return refuse("empty, '.' or '..' path segment");
    }
    if name == "mimetype" || name.starts_with("META-INF/") || name.eq_ignore_ascii_case("META-INF")
    {
        return refuse("reserved by ASiC");
    }
    Ok(())
}

fn check_mime_type(mime: &str) -> Result<(), MisuseError> {
    let ok = !mime.is_empty()
        && mime.len() <= 255
        && mime
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$&^_.+-/".contains(&b))
        && mime.matches('/').count() == 1;
    if ok {
        Ok(())
    } else {
        Err(MisuseError::Config(format!(
            "not a plain media type: {mime:?}"
        )))
    }
}

impl ContainerBuilder {
    /// An empty builder.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a document.
    ///
    /// # Errors
    /// [`MisuseError::DocumentName`] when the name is unsafe, reserved or already used
    /// (case-insensitively); [`MisuseError::Config`] when the media type is not plain.
    pub fn add_document(
        &mut self,
        name: &str,
        mime_type: &str,
        content: Vec<u8>,
    ) -> Result<&mut Self, MisuseError> {
        check_document_name(name)?;
        check_mime_type(mime_type)?;
        if self
            .documents
            .iter()
            .any(|d| d.name.eq_ignore_ascii_case(name))
        {
            return Err(MisuseError::DocumentName {
                name: name.to_owned(),
                reason: "already in the container",
            });
        }
        self.documents.push(Document {
            name: name.to_owned(),
            mime_type: mime_type.to_owned(),
            content,
        });
        Ok(self)
    }

    /// Writes the manifest: the bytes to sign.
    ///
    /// # Errors
    /// [`MisuseError::Config`] when no document was added.
    pub fn prepare(self) -> Result<PreparedContainer, MisuseError> {
        if self.documents.is_empty() {
            return Err(MisuseError::Config(
                "a container needs at least one document".into(),
            ));
        }
        let mut xml = String::new();
        xml.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n");
        xml.push_str(&format!(
            "<asic:ASiCManifest xmlns:asic=\"{ASIC_NS}\" xmlns:ds=\"{DS_NS}\">\n"
        ));
        xml.push_str(&format!(
            "  <asic:SigReference URI=\"{SIGNATURE_PATH}\" MimeType=\"application/pkcs7-signature\"/>\n"
        ));
        for d in &self.documents {
            // Names and media types were restricted to characters that need no XML escaping.
            let digest = BASE64.encode(Sha256::digest(&d.content));
            xml.push_str(&format!(
                "  <asic:DataObjectReference URI=\"{}\" MimeType=\"{}\">\n    <ds:DigestMethod Algorithm=\"{XMLENC_SHA256}\"/>\n    <ds:DigestValue>{digest}</ds:DigestValue>\n  </asic:DataObjectReference>\n",
                d.name, d.mime_type
            ));
        }
        xml.push_str("</asic:ASiCManifest>\n");
        Ok(PreparedContainer {
            documents: self.documents,
            manifest: xml.into_bytes(),
        })
    }
}

/// Documents plus their manifest, waiting for the signature over the manifest.
#[derive(Clone)]
pub struct PreparedContainer {
    documents: Vec<Document>,
    manifest: Vec<u8>,
}

impl std::fmt::Debug for PreparedContainer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PreparedContainer")
            .field("documents", &self.documents.len())
            .field("manifest_len", &self.manifest.len())
            .finish()
    }
}

impl PreparedContainer {
    /// The manifest bytes: sign these with [`crate::cades::sign_detached`].
    pub fn manifest(&self) -> &[u8] {
        &self.manifest
    }

    /// Writes the ZIP with `signature` (over [`Self::manifest`]) as `META-INF/signature001.p7s`.
    ///
    /// Timestamps inside the ZIP are fixed (1980-01-01) so the same input gives the same bytes.
    ///
    /// # Errors
    /// [`InputError::Zip`] if the ZIP writer fails (not expected for in-memory output).
    pub fn seal(self, signature: &CadesSignature) -> Result<Vec<u8>, Error> {
        let zip_err = |e: zip::result::ZipError| InputError::Zip(format!("writing: {e}"));
        let io_err = |e: std::io::Error| InputError::Zip(format!("writing: {e}"));
        let mut zip = zip::ZipWriter::new(Cursor::new(Vec::new()));
        let stored = SimpleFileOptions::default().compression_method(CompressionMethod::Stored);
        let deflated = SimpleFileOptions::default().compression_method(CompressionMethod::Deflated);
        zip.start_file("mimetype", stored).map_err(zip_err)?;
        zip.write_all(MIMETYPE.as_bytes()).map_err(io_err)?;
        for d in &self.documents {
            zip.start_file(d.name.as_str(), deflated).map_err(zip_err)?;
            zip.write_all(&d.content).map_err(io_err)?;
        }
        zip.start_file(MANIFEST_PATH, deflated).map_err(zip_err)?;
        zip.write_all(&self.manifest).map_err(io_err)?;
        zip.start_file(SIGNATURE_PATH, stored).map_err(zip_err)?;
        zip.write_all(signature.as_der()).map_err(io_err)?;
        Ok(zip.finish().map_err(zip_err)?.into_inner())
    }
}

/// Bounds applied when reading a container from outside.
#[derive(Clone, Copy, Debug)]
pub struct ReadLimits {
    /// Largest container (ZIP) size in bytes.
    pub max_container_len: u64,
    /// Most entries (files and directories).
    pub max_entries: usize,
    /// Largest decompressed size of one entry.
    pub max_entry_len: u64,
    /// Largest decompressed size of all entries together.
    pub max_total_len: u64,
}

impl Default for ReadLimits {
    /// 256 MiB container, 1,000 entries, 256 MiB per entry and 512 MiB in total.
    fn default() -> Self {
        Self {
            max_container_len: 256 << 20,
            max_entries: 1000,
            max_entry_len: 256 << 20,
            max_total_len: 512 << 20,
        }
    }
}

/// A container read from outside, with every entry decompressed and checked for safety.
/// Not yet verified: see [`verify_container`].
#[derive(Clone)]
pub struct AsicContainer {
    /// Entries other than `mimetype` and directories, in ZIP order.
    entries: Vec<(String, Vec<u8>)>,
}

impl std::fmt::Debug for AsicContainer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AsicContainer")
            .field(
                "entries",
                &self.entries.iter().map(|(n, _)| n).collect::<Vec<_>>(),
            )
            .finish()
    }
}

/// Checks an entry name from outside.
fn check_entry_name(name: &str) -> Result<(), InputError> {
    let unsafe_name = || InputError::UnsafeEntryName {
        name: name.to_owned(),
    };
    if name.is_empty()
        || name.len() > 1024
        || name.starts_with('/')
        || name.contains('\\')
        || name.contains('\0')
        || name.chars().any(char::is_control)
        // A drive letter or other colon-qualified path ("C:", "file:").
        || name.contains(':')
    {
        return Err(unsafe_name());
    }
    let trimmed = name.strip_suffix('/').unwrap_or(name);
    if trimmed
        .split('/')
        .any(|seg| seg.is_empty() || seg == "." || seg == "..")
    {
        return Err(unsafe_name());
    }
    Ok(())
}

fn le16(bytes: &[u8], at: usize) -> Option<usize> {
    bytes
        .get(at..at.checked_add(2)?)
        .map(|b| usize::from(u16::from_le_bytes([b[0], b[1]])))
}

fn le32(bytes: &[u8], at: usize) -> Option<usize> {
    bytes
        .get(at..at.checked_add(4)?)
        .and_then(|b| usize::try_from(u32::from_le_bytes([b[0], b[1], b[2], b[3]])).ok())
}

/// The entry names of the central directory, read independently of the `zip` crate.
///
/// The `zip` crate keys entries by name and silently keeps one of two entries with the same
/// name; other tools may pick the other one. Walking the central directory ourselves lets us
/// see every entry. ZIP64 is refused: within our limits it is never needed.
fn central_directory_names(bytes: &[u8]) -> Result<Vec<&[u8]>, InputError> {
    const EOCD: [u8; 4] = [0x50, 0x4b, 0x05, 0x06];
    const CDH: [u8; 4] = [0x50, 0x4b, 0x01, 0x02];
    let bad = |what: &str| InputError::Zip(format!("central directory: {what}"));
    // The EOCD record is 22 bytes plus a comment of at most 65,535 bytes at the very end.
    let search_from = bytes.len().saturating_sub(22 + 65_535);
    let eocd = (search_from..=bytes.len().saturating_sub(22))
        .rev()
        .find(|&i| bytes.get(i..i + 4) == Some(&EOCD[..]))
        .ok_or_else(|| bad("end record not found"))?;
    let count = le16(bytes, eocd + 10).ok_or_else(|| bad("truncated end record"))?;
    let offset = le32(bytes, eocd + 16).ok_or_else(|| bad("truncated end record"))?;
    if count == 0xffff || offset == 0xffff_ffff {
        return Err(bad("ZIP64 containers are not accepted"));
    }
    let mut names = Vec::with_capacity(count.min(1024));
    let mut at = offset;
    for _ in 0..count {
        if bytes.get(at..at + 4) != Some(&CDH[..]) {
            return Err(bad("entry header expected"));
        }
        let name_len = le16(bytes, at + 28).ok_or_else(|| bad("truncated entry"))?;
        let extra_len = le16(bytes, at + 30).ok_or_else(|| bad("truncated entry"))?;
        let comment_len = le16(bytes, at + 32).ok_or_else(|| bad("truncated entry"))?;
        let name = bytes
            .get(at + 46..at + 46 + name_len)
            .ok_or_else(|| bad("truncated entry name"))?;
        names.push(name);
        at += 46 + name_len + extra_len + comment_len;
    }
    Ok(names)
}

/// The name in the local file header at `header_start`, which must equal the central
/// directory's name: tools that stream local headers would otherwise see other files.
fn local_header_name(bytes: &[u8], header_start: u64) -> Option<&[u8]> {
    let at = usize::try_from(header_start).ok()?;
    if bytes.get(at..at.checked_add(4)?) != Some(&[0x50, 0x4b, 0x03, 0x04][..]) {
        return None;
    }
    let name_len = le16(bytes, at + 26)?;
    bytes.get(at + 30..at + 30 + name_len)
}

impl AsicContainer {
    /// Reads and bounds-checks a container.
    ///
    /// # Errors
    /// [`InputError`] when the ZIP is malformed or corrupt (naming the entry), a limit is
    /// exceeded, `mimetype` is not the first, stored entry with the ASiC-E media type, an entry
    /// name is unsafe or repeated, or an entry is encrypted.
    pub fn read(bytes: &[u8], limits: &ReadLimits) -> Result<Self, InputError> {
        if bytes.len() as u64 > limits.max_container_len {
            return Err(InputError::TooLarge {
                what: "container",
                actual: bytes.len() as u64,
                limit: limits.max_container_len,
            });
        }
        let cd_names = central_directory_names(bytes)?;
        if cd_names.len() > limits.max_entries {
            return Err(InputError::TooLarge {
                what: "container entry count",
                actual: cd_names.len() as u64,
                limit: limits.max_entries as u64,
            });
        }
        let mut raw_seen = HashSet::new();
        for name in &cd_names {
            if !raw_seen.insert(*name) {
                return Err(InputError::DuplicateEntry {
                    name: String::from_utf8_lossy(name).into_owned(),
                });
            }
        }
        let mut archive =
            zip::ZipArchive::new(Cursor::new(bytes)).map_err(|e| InputError::Zip(e.to_string()))?;
        if archive.len() != cd_names.len() {
            return Err(InputError::Zip(format!(
                "{} entries in the central directory, {} readable",
                cd_names.len(),
                archive.len()
            )));
        }
        let mut seen = HashSet::new();
        let mut entries = Vec::new();
        let mut total: u64 = 0;
        for index in 0..archive.len() {
            let mut file = archive
                .by_index(index)
                .map_err(|e| InputError::Zip(format!("entry #{index}: {e}")))?;
            let name = std::str::from_utf8(file.name_raw())
                .map_err(|_| InputError::UnsafeEntryName {
                    name: String::from_utf8_lossy(file.name_raw()).into_owned(),
                })?
                .to_owned();
            check_entry_name(&name)?;
            if local_header_name(bytes, file.header_start()) != Some(file.name_raw()) {
                return Err(InputError::Zip(format!(
                    "entry {name:?}: local header name differs from the central directory"
                )));
            }
            if !seen.insert(name.to_ascii_lowercase()) {
                return Err(InputError::DuplicateEntry { name });
            }
            if file.encrypted() {
                return Err(crate::error::invalid(
                    "container",
                    format!("entry {name:?} is encrypted"),
                ));
            }
            if index == 0 {
                if name != "mimetype"
                    || file.compression() != CompressionMethod::Stored
                    || file.header_start() != 0
                {
                    return Err(crate::error::invalid(
                        "container",
                        "the first entry must be a stored \"mimetype\"",
                    ));
                }
            } else if name == "mimetype" {
                return Err(crate::error::invalid(
                    "container",
                    "\"mimetype\" must be the first entry",
                ));
            }
            if file.is_dir() {
                if file.size() != 0 {
                    return Err(crate::error::invalid(
                        "container",
                        format!("directory {name:?} has content"),
                    ));
                }
                continue;
            }
            let entry_limit = limits
                .max_entry_len
                .min(limits.max_total_len.saturating_sub(total));
            if file.size() > entry_limit {
                return Err(InputError::TooLarge {
                    what: "decompressed container entry",
                    actual: file.size(),
                    limit: entry_limit,
                });
            }
            // Never trust the declared size: read at most one byte past the limit.
            let mut content = Vec::new();
            (&mut file)
                .take(entry_limit + 1)
                .read_to_end(&mut content)
                .map_err(|e| InputError::CorruptEntry {
                    name: name.clone(),
                    reason: e.to_string(),
                })?;
            let len = content.len() as u64;
            if len > entry_limit {
                return Err(InputError::TooLarge {
                    what: "decompressed container entry",
                    actual: len,
                    limit: entry_limit,
                });
            }
            total += len;
            if index == 0 {
                if content != MIMETYPE.as_bytes() {
                    return Err(crate::error::invalid(
                        "container",
                        format!("mimetype is not {MIMETYPE}"),
                    ));
                }
                continue;
            }
            entries.push((name, content));
        }
        if archive.is_empty() {
            return Err(crate::error::invalid("container", "empty ZIP"));
        }
        Ok(Self { entries })
    }

    /// Names of the entries (without `mimetype` and directories).
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().map(|(n, _)| n.as_str())
    }

    /// Content of an entry.
    pub fn get(&self, name: &str) -> Option<&[u8]> {
        self.entries
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, c)| c.as_slice())
    }
}

/// A document reference parsed from a manifest.
#[derive(Clone, Debug, Eq, PartialEq)]
struct ManifestReference {
    uri: String,
    algorithm: Option<String>,
    digest: Option<String>,
}

#[derive(Clone, Debug, Default, Eq, PartialEq)]
struct Manifest {
    sig_reference: Option<String>,
    references: Vec<ManifestReference>,
}

/// Percent-decodes a relative URI reference (RFC 3986) into a path.
fn decode_uri(uri: &str) -> Option<String> {
    let bytes = uri.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            let s = std::str::from_utf8(hex).ok()?;
            out.push(u8::from_str_radix(s, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Parses an ASiCManifest. Strict about shape, lenient about namespace prefixes.
fn parse_manifest(xml: &[u8], max_refs: usize) -> Result<Manifest, String> {
    let mut reader = quick_xml::Reader::from_reader(xml);
    reader.config_mut().trim_text(true);
    let mut manifest = Manifest::default();
    let mut depth = 0usize;
    let mut current: Option<ManifestReference> = None;
    let mut in_digest_value = false;
    let mut saw_root = false;
    let attr =
        |e: &quick_xml::events::BytesStart<'_>, key: &[u8]| -> Result<Option<String>, String> {
            for a in e.attributes() {
                let a = a.map_err(|e| e.to_string())?;
                if a.key.local_name().as_ref() == key {
                    return Ok(Some(
                        a.unescape_value().map_err(|e| e.to_string())?.into_owned(),
                    ));
                }
            }
            Ok(None)
        };
    loop {
        let event = reader.read_event().map_err(|e| e.to_string())?;
        match event {
            Event::DocType(_) => return Err("DOCTYPE is not allowed".into()),
            Event::Start(ref e) | Event::Empty(ref e) => {
                let is_empty = matches!(event, Event::Empty(_));
                let local = e.local_name();
                match (depth, local.as_ref()) {
                    (0, b"ASiCManifest") => saw_root = true,
                    (0, _) => return Err("root element is not ASiCManifest".into()),
                    (1, b"SigReference") => {
                        if manifest.sig_reference.is_some() {
                            return Err("more than one SigReference".into());
                        }
                        manifest.sig_reference = attr(e, b"URI")?;
                    }
                    (1, b"DataObjectReference") => {
                        if manifest.references.len() >= max_refs {
                            return Err("too many DataObjectReference elements".into());
                        }
                        let uri = attr(e, b"URI")?.ok_or("DataObjectReference without URI")?;
                        let r = ManifestReference {
                            uri,
                            algorithm: None,
                            digest: None,
                        };
                        if is_empty {
                            manifest.references.push(r);
                        } else {
                            current = Some(r);
                        }
                    }
                    (2, b"DigestMethod") => {
                        if let Some(r) = current.as_mut() {
                            r.algorithm = attr(e, b"Algorithm")?;
                        }
                    }
                    (2, b"DigestValue") => in_digest_value = current.is_some() && !is_empty,
                    (d, _) if d > 16 => return Err("manifest nested too deeply".into()),
                    _ => {}
                }
                if !is_empty {
                    depth += 1;
                }
            }
            Event::End(ref e) => {
                depth = depth.saturating_sub(1);
                match e.local_name().as_ref() {
                    b"DataObjectReference" if depth == 1 => {
                        if let Some(r) = current.take() {
                            manifest.references.push(r);
                        }
                    }
                    b"DigestValue" => in_digest_value = false,
                    _ => {}
                }
            }
            Event::Text(t) if in_digest_value => {
                let text = t.decode().map_err(|e| e.to_string())?;
                if let Some(r) = current.as_mut() {
                    let d = r.digest.get_or_insert_with(String::new);
                    d.push_str(text.trim());
                }
            }
            Event::GeneralRef(_) if in_digest_value => {
                return Err("entity reference in DigestValue".into());
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if !saw_root {
        return Err("no ASiCManifest element".into());
    }
    Ok(manifest)
}

/// Result for one document of a container.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct DocumentCheck {
    /// The document's name in the container.
    pub name: String,
    /// Whether its digest matches the manifest.
    pub digest: Check,
}

/// Report on an ASiC-E container.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ContainerReport {
    /// The manifest exists, parses, references `META-INF/signature001.p7s` and lists every
    /// document exactly once.
    pub manifest: Check,
    /// The signature over the manifest (the manifest's own integrity and the signer).
    pub signature: Option<SignatureReport>,
    /// Per-document digest checks, in manifest order.
    pub documents: Vec<DocumentCheck>,
    /// Files in the container that no signed manifest covers (each is a failure).
    pub unsigned_files: Vec<String>,
    /// Files the manifest lists that the container lacks (each is a failure).
    pub missing_files: Vec<String>,
}

impl ContainerReport {
    /// The manifest, its signature and every document verified; no file is unsigned or missing.
    pub fn is_valid(&self) -> bool {
        self.manifest.passed()
            && self
                .signature
                .as_ref()
                .is_some_and(SignatureReport::is_valid)
            && !self.documents.is_empty()
            && self.documents.iter().all(|d| d.digest.passed())
            && self.unsigned_files.is_empty()
            && self.missing_files.is_empty()
    }

    /// Names of the files that failed: changed documents, unsigned and missing files, and the
    /// manifest or signature when their check failed.
    pub fn failed_files(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        if !self.manifest.passed()
            || self
                .signature
                .as_ref()
                .is_some_and(|s| !s.content_digest.passed())
        {
            out.push(MANIFEST_PATH);
        }
        if self.signature.as_ref().is_none_or(|s| {
            s.checks()
                .iter()
                .any(|(name, c)| *name != "content_digest" && !c.passed())
        }) {
            out.push(SIGNATURE_PATH);
        }
        out.extend(
            self.documents
                .iter()
                .filter(|d| !d.digest.passed())
                .map(|d| d.name.as_str()),
        );
        out.extend(self.unsigned_files.iter().map(String::as_str));
        out.extend(self.missing_files.iter().map(String::as_str));
        out
    }
}

fn digest_for(algorithm: Option<&str>, content: &[u8]) -> Result<Vec<u8>, Finding> {
    match algorithm {
        Some(XMLENC_SHA256) => Ok(Sha256::digest(content).to_vec()),
        Some(XMLENC_SHA512) => Ok(Sha512::digest(content).to_vec()),
        Some(other) => Err(Finding::UnsupportedAlgorithm(other.to_owned())),
        None => Err(Finding::Malformed("DigestMethod missing".into())),
    }
}

/// Verifies a container: the signature over the manifest, and every file against the manifest.
///
/// Never fails: every problem is in the report, naming the file.
pub fn verify_container(
    container: &AsicContainer,
    anchors: &TrustAnchors,
    options: &VerifyOptions,
) -> ContainerReport {
    let mut report = ContainerReport {
        manifest: Check::NotChecked("not reached"),
        signature: None,
        documents: Vec::new(),
        unsigned_files: Vec::new(),
        missing_files: Vec::new(),
    };
    let (Some(manifest_bytes), Some(signature)) =
        (container.get(MANIFEST_PATH), container.get(SIGNATURE_PATH))
    else {
        report.manifest = Check::Failed(Finding::Malformed(format!(
            "{MANIFEST_PATH} or {SIGNATURE_PATH} is missing"
        )));
        report.unsigned_files = container.names().map(str::to_owned).collect();
        return report;
    };
    report.signature = Some(verify_detached(signature, manifest_bytes, anchors, options));

    let manifest = if manifest_bytes.len() as u64 > MAX_MANIFEST_LEN {
        Err("manifest larger than 1 MiB".to_owned())
    } else {
        parse_manifest(manifest_bytes, container.entries.len())
    };
    let manifest = match manifest {
        Ok(m) => m,
        Err(e) => {
            report.manifest = Check::Failed(Finding::Malformed(e));
            report.unsigned_files = container
                .names()
                .filter(|n| *n != MANIFEST_PATH && *n != SIGNATURE_PATH)
                .map(str::to_owned)
                .collect();
            return report;
        }
    };
    let mut manifest_problems = Vec::new();
    if manifest.sig_reference.as_deref() != Some(SIGNATURE_PATH) {
        manifest_problems.push(format!("SigReference does not point to {SIGNATURE_PATH}"));
    }
    let mut covered = HashSet::new();
    for r in &manifest.references {
        let Some(name) = decode_uri(&r.uri) else {
            manifest_problems.push(format!("undecodable URI {:?}", r.uri));
            continue;
        };
        if !covered.insert(name.clone()) {
            manifest_problems.push(format!("{name:?} listed twice"));
            continue;
        }
        if name == MANIFEST_PATH || name == SIGNATURE_PATH || name == "mimetype" {
            manifest_problems.push(format!("{name:?} cannot be a data object"));
            continue;
        }
        let Some(content) = container.get(&name) else {
            report.missing_files.push(name);
            continue;
        };
        let digest = match (
            digest_for(r.algorithm.as_deref(), content),
            r.digest.as_deref().map(|d| BASE64.decode(d)),
        ) {
            (Err(f), _) => Check::Failed(f),
            (_, None | Some(Err(_))) => Check::Failed(Finding::Malformed(
                "DigestValue missing or not base64".into(),
            )),
            (Ok(actual), Some(Ok(claimed))) if actual == claimed => Check::Passed,
            (Ok(_), Some(Ok(_))) => Check::Failed(Finding::DigestMismatch),
        };
        report.documents.push(DocumentCheck { name, digest });
    }
    report.unsigned_files = container
        .names()
        .filter(|n| *n != MANIFEST_PATH && *n != SIGNATURE_PATH && !covered.contains(*n))
        .map(str::to_owned)
        .collect();
    if manifest.references.is_empty() {
        manifest_problems.push("no DataObjectReference".into());
    }
    report.manifest = if manifest_problems.is_empty() {
        Check::Passed
    } else {
        Check::Failed(Finding::Malformed(manifest_problems.join("; ")))
    };
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn document_names_that_could_escape_or_collide_are_refused() {
        for bad in [
            "",
            "../x",
            "a/../b",
            "/etc/passwd",
            "a\\b",
            "a//b",
            "./a",
            "mimetype",
            "META-INF/x",
            "C:x",
            "a b",
            "é",
        ] {
            assert!(check_document_name(bad).is_err(), "{bad:?}");
        }
        for good in ["request.pdf", "annex/1-evidence_list.xml", "a.b.c"] {
            assert!(check_document_name(good).is_ok(), "{good:?}");
        }
    }

    #[test]
    fn entry_names_from_outside_are_checked() {
        for bad in [
            "../x",
            "a/../../b",
            "/abs",
            "a\\..\\b",
            "C:/x",
            "a//b",
            "a/./b",
            "nul\0",
        ] {
            assert!(check_entry_name(bad).is_err(), "{bad:?}");
        }
        for good in [
            "doc.pdf",
            "META-INF/",
            "META-INF/ASiCManifest.xml",
            "dir/file name.txt",
        ] {
            assert!(check_entry_name(good).is_ok(), "{good:?}");
        }
    }

    #[test]
    fn builder_refuses_case_insensitive_duplicates() {
        let mut b = ContainerBuilder::new();
        b.add_document("A.pdf", "application/pdf", vec![1]).unwrap();
        assert!(b.add_document("a.PDF", "application/pdf", vec![2]).is_err());
    }

    #[test]
    fn manifest_round_trips_through_the_parser() {
        let mut b = ContainerBuilder::new();
        b.add_document("one.txt", "text/plain", b"1".to_vec())
            .unwrap();
        b.add_document("dir/two.bin", "application/octet-stream", b"2".to_vec())
            .unwrap();
        let prepared = b.prepare().unwrap();
        let m = parse_manifest(prepared.manifest(), 10).unwrap();
        assert_eq!(m.sig_reference.as_deref(), Some(SIGNATURE_PATH));
        assert_eq!(m.references.len(), 2);
        assert_eq!(m.references[1].uri, "dir/two.bin");
        assert_eq!(m.references[0].algorithm.as_deref(), Some(XMLENC_SHA256));
        assert_eq!(
            BASE64
                .decode(m.references[0].digest.as_deref().unwrap())
                .unwrap(),
            Sha256::digest(b"1").to_vec()
        );
    }

    #[test]
    fn manifest_with_doctype_is_refused() {
        let xml = b"<?xml version=\"1.0\"?><!DOCTYPE x [<!ENTITY a \"b\">]><ASiCManifest/>";
        assert!(parse_manifest(xml, 10).is_err());
    }

    #[test]
    fn uris_are_percent_decoded() {
        assert_eq!(decode_uri("a%20b.txt").as_deref(), Some("a b.txt"));
        assert_eq!(decode_uri("bad%2"), None);
    }
}
