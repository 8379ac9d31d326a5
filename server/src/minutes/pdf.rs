//! A text-only PDF (ISO 32000-1) of plain lines: A4 pages set in the standard Helvetica font
//! (one of the 14 fonts every reader has, so nothing is embedded), WinAnsi encoding, lines
//! wrapped to the page, uncompressed content streams. Pure.
//!
//! About a hundred lines rather than a PDF library: the minutes need nothing but text, and the
//! output is checked in the tests by an independent reader (poppler's `pdftotext`).

use std::fmt::Write as _;

/// A4 in points.
const PAGE_WIDTH: u32 = 595;
const PAGE_HEIGHT: u32 = 842;
const MARGIN: u32 = 50;
const FONT_SIZE: u32 = 9;
const LEADING: u32 = 12;
/// Characters per line: Helvetica at 9 pt averages about 5 pt a character.
const LINE_CHARS: usize = 95;
const LINES_PER_PAGE: usize = ((PAGE_HEIGHT - 2 * MARGIN) / LEADING) as usize;

/// A character in WinAnsiEncoding (Windows-1252), `?` when it has none.
fn win_ansi(c: char) -> u8 {
    match c {
        ' '..='~' => c as u8,
        '\u{a0}'..='\u{ff}' => u8::try_from(u32::from(c)).unwrap_or(b'?'),
        '€' => 0x80,
        '‚' => 0x82,
        '„' => 0x84,
        '…' => 0x85,
        '‘' => 0x91,
        '’' => 0x92,
        '“' => 0x93,
        '”' => 0x94,
        '•' => 0x95,
        '–' => 0x96,
        '—' => 0x97,
        '→' => b'>',
        _ => b'?',
    }
}

/// Wraps a line at spaces (or hard, for a long word) to [`LINE_CHARS`].
fn wrap(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    for word in line.split(' ') {
        let mut word = word.to_string();
        while word.chars().count() > LINE_CHARS {
            if !current.is_empty() {
                out.push(std::mem::take(&mut current));
            }
            let head: String = word.chars().take(LINE_CHARS).collect();
            word = word.chars().skip(LINE_CHARS).collect();
            out.push(head);
        }
        let extra = usize::from(!current.is_empty());
        if current.chars().count() + extra + word.chars().count() > LINE_CHARS {
            out.push(std::mem::take(&mut current));
        }
        if !current.is_empty() {
            current.push(' ');
        }
        current.push_str(&word);
    }
    out.push(current);
    out
}

/// A PDF string literal's bytes: WinAnsi, with `\`, `(` and `)` escaped.
fn literal(line: &str, out: &mut Vec<u8>) {
    out.push(b'(');
    for c in line.chars() {
        let b = win_ansi(c);
        if matches!(b, b'\\' | b'(' | b')') {
            out.push(b'\\');
        }
        out.push(b);
    }
    out.push(b')');
}

/// The PDF of `lines`, `title` in the document information.
pub fn render(title: &str, lines: &[String]) -> Vec<u8> {
    let wrapped: Vec<String> = lines.iter().flat_map(|l| wrap(l)).collect();
    let pages: Vec<&[String]> = if wrapped.is_empty() {
        vec![&[][..]]
    } else {
        wrapped.chunks(LINES_PER_PAGE).collect()
    };
    // Objects: 1 catalog, 2 page tree, 3 font, 4 info, then per page: page, content.
    let mut objects: Vec<Vec<u8>> = Vec::new();
    objects.push(b"<< /Type /Catalog /Pages 2 0 R >>".to_vec());
    let kids: String = (0..pages.len())
        .map(|i| format!("{} 0 R", 5 + 2 * i))
        .collect::<Vec<_>>()
        .join(" ");
    objects.push(format!("<< /Type /Pages /Kids [{kids}] /Count {} >>", pages.len()).into_bytes());
    objects.push(
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>"
            .to_vec(),
    );
    let mut info = b"<< /Producer (assize) /Title ".to_vec();
    literal(title, &mut info);
    info.extend_from_slice(b" >>");
    objects.push(info);
    for (i, page) in pages.iter().enumerate() {
        let content_id = 6 + 2 * i;
        objects.push(
            format!(
                "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {PAGE_WIDTH} {PAGE_HEIGHT}] \
                 /Resources << /Font << /F1 3 0 R >> >> /Contents {content_id} 0 R >>"
            )
            .into_bytes(),
        );
        let mut stream = format!(
            "BT /F1 {FONT_SIZE} Tf {LEADING} TL {MARGIN} {} Td\n",
            PAGE_HEIGHT - MARGIN
        )
        .into_bytes();
        for line in *page {
            literal(line, &mut stream);
            stream.extend_from_slice(b" '\n");
        }
        stream.extend_from_slice(b"ET\n");
        let mut content = format!("<< /Length {} >>\nstream\n", stream.len()).into_bytes();
        content.extend_from_slice(&stream);
        content.extend_from_slice(b"endstream");
        objects.push(content);
    }
    let mut pdf = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n".to_vec();
    let mut offsets = Vec::with_capacity(objects.len());
    for (i, body) in objects.iter().enumerate() {
        offsets.push(pdf.len());
        pdf.extend_from_slice(format!("{} 0 obj\n", i + 1).as_bytes());
        pdf.extend_from_slice(body);
        pdf.extend_from_slice(b"\nendobj\n");
    }
    let xref = pdf.len();
    let mut tail = format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1);
    for o in offsets {
        let _ = writeln!(tail, "{o:010} 00000 n ");
    }
    let _ = write!(
        tail,
        "trailer\n<< /Size {} /Root 1 0 R /Info 4 0 R >>\nstartxref\n{xref}\n%%EOF\n",
        objects.len() + 1
    );
    pdf.extend_from_slice(tail.as_bytes());
    pdf
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_lines_wrap_and_words_longer_than_a_line_are_cut() {
        let line = "word ".repeat(40);
        let w = wrap(line.trim_end());
        assert!(w.len() > 1);
        assert!(w.iter().all(|l| l.chars().count() <= LINE_CHARS));
        let long = "x".repeat(LINE_CHARS * 2 + 3);
        assert_eq!(wrap(&long).len(), 3);
    }

    #[test]
    fn the_structure_is_a_pdf_with_a_correct_cross_reference_table() {
        let lines: Vec<String> = (0..200).map(|i| format!("line {i} (é) \\")).collect();
        let pdf = render("t", &lines);
        assert!(pdf.starts_with(b"%PDF-1.4"));
        assert!(pdf.ends_with(b"%%EOF\n"));
        let text = String::from_utf8_lossy(&pdf);
        // 200 lines at 58 a page: 4 pages.
        assert!(text.contains("/Count 4"));
        // Every offset in the table points at its object.
        let xref = text.find("xref\n").expect("xref");
        for (n, entry) in text[xref..].lines().skip(3).take(12).enumerate() {
            let off: usize = entry[..10].parse().expect("offset");
            assert!(pdf[off..].starts_with(format!("{} 0 obj", n + 1).as_bytes()));
        }
        // `(`, `)` and `\` escaped, é as its WinAnsi byte.
        assert!(pdf.windows(5).any(|w| w == b"\\(\xe9\\)"));
    }
}
