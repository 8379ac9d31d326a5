//! Checkpoints: the signed text of a tree head.
//!
//! The note follows the layout of C2SP's `tlog-checkpoint` (origin, size, base64 root), with the
//! time as an extension line:
//!
//! ```text
//! assize/127.0.0.1:8443
//! 1234
//! 6PNZ6zYmDOVx2Vl2nfG9IpfhXbeUSHXX0OCH87e9OOE=
//! time 2026-11-29T09:12:44.123Z
//! ```
//!
//! The note's bytes are signed with a detached CAdES B-T signature (the server's signing key and a
//! time-stamp from its TSA), so the time is attested by the token, not only claimed by the text.

use assize_signing::merkle::{NodeHash, TreeHead};
use base64::Engine as _;
use time::OffsetDateTime;

/// The fields of a note.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Note {
    pub origin: String,
    pub head: TreeHead,
    pub time: String,
}

/// Writes the note text for a tree head.
///
/// # Errors
/// Only if the time cannot be formatted.
pub fn note(origin: &str, head: &TreeHead, at: OffsetDateTime) -> anyhow::Result<String> {
    let time = at.format(&time::format_description::well_known::Rfc3339)?;
    let root = base64::engine::general_purpose::STANDARD.encode(head.root.as_bytes());
    Ok(format!("{origin}\n{}\n{root}\ntime {time}\n", head.size))
}

/// Reads a note; outside input (exports, peers), so every field is checked.
///
/// # Errors
/// A sentence saying which line is wrong.
pub fn parse_note(text: &str) -> Result<Note, String> {
    if text.len() > 4096 {
        return Err("the checkpoint note is longer than 4096 bytes".into());
    }
    let lines: Vec<&str> = text
        .strip_suffix('\n')
        .ok_or("the note does not end with a newline")?
        .split('\n')
        .collect();
    let [origin, size, root, time] = lines.as_slice() else {
        return Err(format!("the note has {} lines, expected 4", lines.len()));
    };
    if origin.is_empty() {
        return Err("the note's origin line is empty".into());
    }
    let size: u64 = size
        .parse()
        .map_err(|_| format!("the note's size line {size:?} is not a number"))?;
    let root = base64::engine::general_purpose::STANDARD
        .decode(root)
        .map_err(|_| "the note's root line is not base64".to_string())?;
    let root = NodeHash::from_slice(&root).map_err(|e| format!("the note's root: {e}"))?;
    let time = time
        .strip_prefix("time ")
        .ok_or("the note's fourth line does not start with `time `")?;
    OffsetDateTime::parse(time, &time::format_description::well_known::Rfc3339)
        .map_err(|_| format!("the note's time {time:?} is not RFC 3339"))?;
    Ok(Note {
        origin: origin.to_string(),
        head: TreeHead::new(size, root),
        time: time.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use assize_signing::merkle::empty_root;

    use super::*;

    #[test]
    fn notes_round_trip() {
        let head = TreeHead::new(42, empty_root());
        let text = note("assize/example", &head, OffsetDateTime::UNIX_EPOCH).unwrap();
        let parsed = parse_note(&text).unwrap();
        assert_eq!(parsed.head, head);
        assert_eq!(parsed.origin, "assize/example");
    }

    #[test]
    fn malformed_notes_are_refused_with_a_reason() {
        let good = note(
            "o",
            &TreeHead::new(1, empty_root()),
            OffsetDateTime::UNIX_EPOCH,
        )
        .unwrap();
        for bad in [
            String::new(),
            good.trim_end().to_string(),
            good.replace("\n1\n", "\nx\n"),
            good.replacen("time ", "when ", 1),
            format!("{good}extra\n"),
            "o\n1\nAAAA\ntime 1970-01-01T00:00:00Z\n".to_string(),
            "x".repeat(5000),
        ] {
            assert!(parse_note(&bad).is_err(), "{bad:?}");
        }
    }
}
