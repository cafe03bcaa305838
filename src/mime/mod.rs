//! A message read for people (pure): its text body, its HTML body and its attachments (name,
//! type, size), found by walking its MIME parts (nested multiparts, base64 and
//! quoted-printable, charsets, RFC 2047 and RFC 2231 names). The status page shows them.

pub mod decode;
pub mod params;

use crate::headers::{header_block, header_field};
use decode::Transfer;
use params::Field;

/// Nested multiparts deeper than this are listed as attachments, not opened.
const MAX_DEPTH: usize = 16;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Readable {
    /// The text/plain parts shown inline, one after the other.
    pub text: Option<String>,
    /// The first text/html part shown inline.
    pub html: Option<String>,
    pub attachments: Vec<Attachment>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    /// Its file name, or `(no name)`.
    pub name: String,
    /// `image/png`, lower-cased.
    pub content_type: String,
    /// Decoded bytes.
    pub size: usize,
}

/// Reads a whole message (headers and body).
pub fn read(message: &[u8]) -> Readable {
    let mut out = Readable::default();
    walk(message, &mut out, 0, "text/plain");
    out
}

/// One part: a multipart is opened, an inline text part kept, anything else listed.
fn walk(part: &[u8], out: &mut Readable, depth: usize, default_type: &str) {
    let (head, body) = split(part);
    let field = |name| header_field(head, name);
    let ctype =
        field("content-type").map_or_else(|| Field::parse(default_type), |raw| Field::parse(&raw));
    let boundary = ctype.param("boundary").filter(|b| !b.is_empty());
    if let (true, Some(boundary), true) = (
        ctype.value.starts_with("multipart/"),
        &boundary,
        depth < MAX_DEPTH,
    ) {
        let inner = match ctype.value.as_str() {
            "multipart/digest" => "message/rfc822",
            _ => "text/plain",
        };
        for sub in parts(body, boundary) {
            walk(sub, out, depth + 1, inner);
        }
        return;
    }
    let disposition = field("content-disposition").map(|raw| Field::parse(&raw));
    let name = disposition
        .as_ref()
        .and_then(|d| d.param("filename"))
        .or_else(|| ctype.param("name"))
        .filter(|n| !n.trim().is_empty());
    let bytes = Transfer::of(field("content-transfer-encoding").as_deref()).decode(body);
    let attached = disposition
        .as_ref()
        .is_some_and(|d| d.value == "attachment");
    let inline_text = !attached && name.is_none();
    match ctype.value.as_str() {
        "text/plain" | "" if inline_text => {
            let text = decode::text(&bytes, ctype.param("charset").as_deref());
            match &mut out.text {
                Some(all) => {
                    all.push('\n');
                    all.push_str(&text);
                }
                None => out.text = Some(text),
            }
        }
        "text/html" if inline_text && out.html.is_none() => {
            out.html = Some(decode::text(&bytes, ctype.param("charset").as_deref()));
        }
        _ => out.attachments.push(Attachment {
            name: name.unwrap_or_else(|| "(no name)".into()),
            content_type: ctype.value.clone(),
            size: bytes.len(),
        }),
    }
}

/// A part's header block and its body (after the empty line).
fn split(part: &[u8]) -> (&[u8], &[u8]) {
    let head = header_block(part);
    let rest = &part[head.len()..];
    let body = rest
        .strip_prefix(b"\r\n")
        .or_else(|| rest.strip_prefix(b"\n"))
        .unwrap_or(rest);
    (head, body)
}

/// The parts of a multipart body between its `--boundary` lines (the preamble and epilogue
/// dropped; a body whose closing line is missing keeps its last part).
fn parts<'a>(body: &'a [u8], boundary: &str) -> Vec<&'a [u8]> {
    let delimiter = format!("--{boundary}");
    let mut out = Vec::new();
    let mut start: Option<usize> = None;
    let mut pos = 0;
    for line in body.split_inclusive(|&b| b == b'\n') {
        let bare = line.trim_ascii_end();
        if let Some(tail) = bare.strip_prefix(delimiter.as_bytes())
            && (tail.is_empty() || tail == b"--")
        {
            if let Some(s) = start {
                let before = &body[s..pos];
                let before = before.strip_suffix(b"\n").unwrap_or(before);
                out.push(before.strip_suffix(b"\r").unwrap_or(before));
            }
            if tail == b"--" {
                return out;
            }
            start = Some(pos + line.len());
        }
        pos += line.len();
    }
    out.extend(start.map(|s| &body[s..]));
    out
}

#[cfg(test)]
mod tests;
