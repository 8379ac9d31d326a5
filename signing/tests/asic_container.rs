//! ASiC-E containers: built, read back, verified; every change to any file's content is caught
//! and named; hostile ZIPs are refused.

// Helpers outside #[test] functions are test code too.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::{Cursor, Write};

use assize_signing::InputError;
use assize_signing::asic::{
    AsicContainer, ContainerBuilder, MANIFEST_PATH, MIMETYPE, ReadLimits, SIGNATURE_PATH,
    verify_container,
};
use assize_signing::cades::sign_detached;
use assize_signing::verify::{Check, Finding};
use common::*;
use time::OffsetDateTime;
use zip::CompressionMethod;
use zip::write::SimpleFileOptions;

const REQUEST: &[u8] = b"%PDF-1.7 request for mutual legal assistance, case 2026/117, page 1 of 1";
const ANNEX: &[u8] = b"<annex><item>witness statement</item><item>bank records</item></annex>";

fn build(pki: &Pki) -> Vec<u8> {
    let mut builder = ContainerBuilder::new();
    builder
        .add_document("request.pdf", "application/pdf", REQUEST.to_vec())
        .unwrap();
    builder
        .add_document("annex/list.xml", "application/xml", ANNEX.to_vec())
        .unwrap();
    let prepared = builder.prepare().unwrap();
    let pending = sign_detached(
        &pki.signer_identity(),
        prepared.manifest(),
        OffsetDateTime::now_utc(),
    )
    .unwrap();
    let token = pki
        .tsa()
        .stamp_imprint(
            &pending.timestamp_imprint(),
            serials().next_serial().unwrap(),
            OffsetDateTime::now_utc(),
        )
        .unwrap();
    prepared
        .seal(&pending.attach_timestamp(&token).unwrap())
        .unwrap()
}

#[test]
fn a_sealed_container_reads_back_and_verifies() {
    let pki = Pki::new();
    let zip = build(&pki);
    // mimetype is the first local header, stored, right after the 30-byte header + name.
    assert_eq!(&zip[0..4], b"PK\x03\x04");
    assert_eq!(&zip[30..38], b"mimetype");
    assert_eq!(&zip[38..38 + MIMETYPE.len()], MIMETYPE.as_bytes());

    let container = AsicContainer::read(&zip, &ReadLimits::default()).unwrap();
    let names: Vec<_> = container.names().collect();
    assert_eq!(
        names,
        [
            "request.pdf",
            "annex/list.xml",
            MANIFEST_PATH,
            SIGNATURE_PATH
        ]
    );
    let report = verify_container(&container, &pki.anchors(), &options());
    assert!(report.is_valid(), "{report:#?}");
    assert!(report.failed_files().is_empty());
    assert_eq!(report.documents.len(), 2);

    // The signature over the manifest verifies with openssl too.
    pki.write("manifest.xml", container.get(MANIFEST_PATH).unwrap());
    pki.write("sig.p7s", container.get(SIGNATURE_PATH).unwrap());
    let out = openssl(
        &[
            &"cms",
            &"-verify",
            &"-binary",
            &"-inform",
            &"DER",
            &"-in",
            &"sig.p7s",
            &"-content",
            &"manifest.xml",
            &"-CAfile",
            &"ca.pem",
            &"-purpose",
            &"any",
            &"-out",
            &"/dev/null",
        ],
        pki.dir.path(),
    );
    assert!(out.status.success(), "{}", describe(&out));
}

#[test]
fn a_document_swapped_for_another_is_named() {
    let pki = Pki::new();
    let zip = build(&pki);
    let original = AsicContainer::read(&zip, &ReadLimits::default()).unwrap();
    // Rebuild the ZIP with the same manifest and signature but one byte changed in the annex.
    let mut tampered_annex = ANNEX.to_vec();
    tampered_annex[5] ^= 0x20;
    let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let stored = SimpleFileOptions::default().compression_method(CompressionMethod::Stored);
    w.start_file("mimetype", stored).unwrap();
    w.write_all(MIMETYPE.as_bytes()).unwrap();
    for name in original.names() {
        w.start_file(name, stored).unwrap();
        let content = if name == "annex/list.xml" {
            &tampered_annex[..]
        } else {
            original.get(name).unwrap()
        };
        w.write_all(content).unwrap();
    }
    let zip = w.finish().unwrap().into_inner();
    let container = AsicContainer::read(&zip, &ReadLimits::default()).unwrap();
    let report = verify_container(&container, &pki.anchors(), &options());
    assert!(!report.is_valid());
    assert_eq!(report.failed_files(), ["annex/list.xml"]);
    let annex = report
        .documents
        .iter()
        .find(|d| d.name == "annex/list.xml")
        .unwrap();
    assert_eq!(annex.digest, Check::Failed(Finding::DigestMismatch));
}

#[test]
fn one_changed_byte_anywhere_never_goes_unnoticed() {
    let pki = Pki::new();
    let zip = build(&pki);
    let original = AsicContainer::read(&zip, &ReadLimits::default()).unwrap();
    let contents = |c: &AsicContainer| -> Vec<(String, Vec<u8>)> {
        c.names()
            .map(|n| (n.to_owned(), c.get(n).unwrap().to_vec()))
            .collect()
    };
    let original_contents = contents(&original);
    let anchors = pki.anchors();
    let opts = options();
    let mut named = 0;
    for pos in 0..zip.len() {
        let mut z = zip.clone();
        z[pos] ^= 0x01;
        match AsicContainer::read(&z, &ReadLimits::default()) {
            Err(InputError::CorruptEntry { name, .. }) => {
                assert!(
                    name == "mimetype" || original_contents.iter().any(|(n, _)| *n == name),
                    "{name}"
                );
                named += 1;
            }
            Err(_) => {}
            Ok(c) if contents(&c) == original_contents => {
                // The flip hit ZIP metadata that carries no content (a date, a version field).
                assert!(verify_container(&c, &anchors, &opts).is_valid());
            }
            Ok(c) => {
                let report = verify_container(&c, &anchors, &opts);
                assert!(!report.is_valid(), "flip at {pos} went unnoticed");
                assert!(
                    !report.failed_files().is_empty(),
                    "flip at {pos}: no file named"
                );
                named += 1;
            }
        }
    }
    assert!(named > 0);
}

fn raw_zip(entries: &[(&str, CompressionMethod, &[u8])]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
    for (name, method, content) in entries {
        w.start_file(
            *name,
            SimpleFileOptions::default().compression_method(*method),
        )
        .unwrap();
        w.write_all(content).unwrap();
    }
    w.finish().unwrap().into_inner()
}

const S: CompressionMethod = CompressionMethod::Stored;
const D: CompressionMethod = CompressionMethod::Deflated;

#[test]
fn hostile_containers_are_refused() {
    let limits = ReadLimits::default();
    let mime: (&str, CompressionMethod, &[u8]) = ("mimetype", S, MIMETYPE.as_bytes());

    for evil in [
        "../evil.sh",
        "a/../../evil",
        "/etc/cron.d/x",
        "dir\\..\\x",
        "C:/x",
    ] {
        let z = raw_zip(&[mime, (evil, D, b"x")]);
        assert!(
            matches!(
                AsicContainer::read(&z, &limits),
                Err(InputError::UnsafeEntryName { .. }) | Err(InputError::Zip(_))
            ),
            "{evil}"
        );
    }

    let z = raw_zip(&[mime, ("a.txt", D, b"1"), ("A.TXT", D, b"2")]);
    assert!(matches!(
        AsicContainer::read(&z, &limits),
        Err(InputError::DuplicateEntry { .. })
    ));

    // Exact duplicates: write two names of equal length and patch one into the other.
    let mut z = raw_zip(&[mime, ("a.txt", D, b"1"), ("b.txt", D, b"2")]);
    for i in 0..z.len() - 5 {
        if &z[i..i + 5] == b"b.txt" {
            z[i] = b'a';
        }
    }
    let r = AsicContainer::read(&z, &limits);
    assert!(
        matches!(
            r,
            Err(InputError::DuplicateEntry { .. }) | Err(InputError::Zip(_))
        ),
        "{r:?}"
    );

    // A local header that names another file than the central directory does.
    let mut z = raw_zip(&[mime, ("a.txt", D, b"1"), ("b.txt", D, b"2")]);
    let first = z.windows(5).position(|w| w == b"b.txt").unwrap();
    z[first] = b'c';
    let r = AsicContainer::read(&z, &limits);
    assert!(
        matches!(r, Err(InputError::Zip(ref m)) if m.contains("local header")),
        "{r:?}"
    );

    let z = raw_zip(&[("doc.txt", D, b"x"), mime]);
    assert!(matches!(
        AsicContainer::read(&z, &limits),
        Err(InputError::Invalid { .. })
    ));
    let z = raw_zip(&[("mimetype", D, MIMETYPE.as_bytes())]);
    assert!(matches!(
        AsicContainer::read(&z, &limits),
        Err(InputError::Invalid { .. })
    ));
    let z = raw_zip(&[("mimetype", S, b"application/zip")]);
    assert!(matches!(
        AsicContainer::read(&z, &limits),
        Err(InputError::Invalid { .. })
    ));

    // A zip bomb: 64 MiB of zeros deflates to ~64 KiB.
    let zeros = vec![0u8; 64 << 20];
    let z = raw_zip(&[mime, ("bomb.bin", D, &zeros)]);
    assert!(z.len() < 1 << 20);
    let small = ReadLimits {
        max_entry_len: 1 << 20,
        ..ReadLimits::default()
    };
    assert!(matches!(
        AsicContainer::read(&z, &small),
        Err(InputError::TooLarge { .. })
    ));
    let small_total = ReadLimits {
        max_total_len: 1 << 20,
        ..ReadLimits::default()
    };
    assert!(matches!(
        AsicContainer::read(&z, &small_total),
        Err(InputError::TooLarge { .. })
    ));

    // Many entries.
    let names: Vec<String> = (0..20).map(|i| format!("f{i}")).collect();
    let mut entries = vec![mime];
    entries.extend(names.iter().map(|n| (n.as_str(), S, &b""[..])));
    let z = raw_zip(&entries);
    let few = ReadLimits {
        max_entries: 10,
        ..ReadLimits::default()
    };
    assert!(matches!(
        AsicContainer::read(&z, &few),
        Err(InputError::TooLarge { .. })
    ));

    // Container size.
    let tiny = ReadLimits {
        max_container_len: 100,
        ..ReadLimits::default()
    };
    let z = raw_zip(&[mime, ("doc.txt", S, &[7u8; 200])]);
    assert!(matches!(
        AsicContainer::read(&z, &tiny),
        Err(InputError::TooLarge { .. })
    ));

    // Not a ZIP at all.
    assert!(matches!(
        AsicContainer::read(b"not a zip", &limits),
        Err(InputError::Zip(_))
    ));
}

#[test]
fn files_not_covered_by_the_manifest_are_reported() {
    let pki = Pki::new();
    let zip = build(&pki);
    let original = AsicContainer::read(&zip, &ReadLimits::default()).unwrap();
    let mut entries: Vec<(&str, CompressionMethod, &[u8])> =
        vec![("mimetype", S, MIMETYPE.as_bytes())];
    let names: Vec<String> = original.names().map(str::to_owned).collect();
    for n in &names {
        if n != "request.pdf" {
            entries.push((n.as_str(), D, original.get(n).unwrap()));
        }
    }
    entries.push(("smuggled.exe", D, b"MZ"));
    let container = AsicContainer::read(&raw_zip(&entries), &ReadLimits::default()).unwrap();
    let report = verify_container(&container, &pki.anchors(), &options());
    assert!(!report.is_valid());
    assert_eq!(report.unsigned_files, ["smuggled.exe"]);
    assert_eq!(report.missing_files, ["request.pdf"]);
    // The signature itself is still fine: the report pins the blame on the files.
    assert!(report.signature.as_ref().unwrap().is_valid());
}
