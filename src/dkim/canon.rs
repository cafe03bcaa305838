//! DKIM canonicalization (RFC 6376 §3.4): the message split into header fields and body the
//! way a receiver sees it on the wire, the `simple` and `relaxed` forms of a field and of the
//! body, and the bottom-up choice of field instances for `h=` (§5.4.2). Pure.

/// `simple` or `relaxed`, for the header or the body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Canon {
    Simple,
    Relaxed,
}

impl Canon {
    pub fn name(self) -> &'static str {
        match self {
            Canon::Simple => "simple",
            Canon::Relaxed => "relaxed",
        }
    }
}

/// One header field: its name and its lines (the first and any continuations), each without
/// its line end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field<'a> {
    pub name: &'a [u8],
    pub lines: Vec<&'a [u8]>,
}

/// The first line of `bytes` without its end, and how many bytes it takes with its end. A
/// line ends at CRLF, a bare CR or a bare LF: each leaves as CRLF (the client's `dot_stuff`),
/// so the receiver sees a line end at each.
fn next_line(bytes: &[u8]) -> (&[u8], usize) {
    match bytes.iter().position(|&b| b == b'\r' || b == b'\n') {
        None => (bytes, bytes.len()),
        Some(end) if bytes[end..].starts_with(b"\r\n") => (&bytes[..end], end + 2),
        Some(end) => (&bytes[..end], end + 1),
    }
}

/// Every line of `bytes`, without line ends (a last line without an end included).
pub fn lines(mut bytes: &[u8]) -> impl Iterator<Item = &[u8]> {
    std::iter::from_fn(move || {
        if bytes.is_empty() {
            return None;
        }
        let (line, used) = next_line(bytes);
        bytes = &bytes[used..];
        Some(line)
    })
}

/// The header fields (up to the first empty line) and the body after that empty line.
pub fn split(message: &[u8]) -> (Vec<Field<'_>>, &[u8]) {
    let mut fields: Vec<Field<'_>> = Vec::new();
    let mut at = 0;
    while at < message.len() {
        let (line, used) = next_line(&message[at..]);
        at += used;
        if line.is_empty() {
            break;
        }
        match (line[0], fields.last_mut()) {
            (b' ' | b'\t', Some(field)) => field.lines.push(line),
            _ => {
                let colon = line.iter().position(|&b| b == b':').unwrap_or(line.len());
                fields.push(Field {
                    name: trim_wsp(&line[..colon]),
                    lines: vec![line],
                });
            }
        }
    }
    (fields, &message[at..])
}

fn is_wsp(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

fn trim_wsp(mut s: &[u8]) -> &[u8] {
    while let [first, rest @ ..] = s
        && is_wsp(*first)
    {
        s = rest;
    }
    while let [rest @ .., last] = s
        && is_wsp(*last)
    {
        s = rest;
    }
    s
}

/// Appends `s` with every run of spaces and tabs made one space.
fn push_collapsed(out: &mut Vec<u8>, s: &[u8]) {
    for &b in s {
        if !is_wsp(b) {
            out.push(b);
        } else if out.last() != Some(&b' ') {
            out.push(b' ');
        }
    }
}

/// The canonical form of one field, with its CRLF.
pub fn header(field: &Field<'_>, canon: Canon) -> Vec<u8> {
    let mut out = Vec::new();
    match canon {
        Canon::Simple => {
            for line in &field.lines {
                out.extend_from_slice(line);
                out.extend_from_slice(b"\r\n");
            }
        }
        Canon::Relaxed => {
            out.extend(field.name.iter().map(u8::to_ascii_lowercase));
            out.push(b':');
            let first = field.lines[0];
            let colon = first.iter().position(|&b| b == b':');
            let mut value = Vec::new();
            push_collapsed(&mut value, colon.map_or(&[][..], |c| &first[c + 1..]));
            for line in &field.lines[1..] {
                push_collapsed(&mut value, line);
            }
            out.extend_from_slice(trim_wsp(&value));
            out.extend_from_slice(b"\r\n");
        }
    }
    out
}

/// Feeds the canonical body to `sink` piece by piece: lines with CRLF, trailing empty lines
/// dropped (relaxed: after spaces are collapsed and trailing spaces removed); an empty body is
/// one CRLF in `simple` and nothing in `relaxed`.
pub fn body(body: &[u8], canon: Canon, sink: &mut dyn FnMut(&[u8])) {
    let mut empty_lines = 0usize;
    let mut wrote = false;
    let mut relaxed = Vec::new();
    for line in lines(body) {
        let line = match canon {
            Canon::Simple => line,
            Canon::Relaxed => {
                relaxed.clear();
                push_collapsed(&mut relaxed, line);
                if relaxed.last() == Some(&b' ') {
                    relaxed.pop();
                }
                &relaxed[..]
            }
        };
        if line.is_empty() {
            empty_lines += 1;
            continue;
        }
        for _ in 0..empty_lines {
            sink(b"\r\n");
        }
        empty_lines = 0;
        sink(line);
        sink(b"\r\n");
        wrote = true;
    }
    if !wrote && canon == Canon::Simple {
        sink(b"\r\n");
    }
}

/// The fields that the names of `h=` stand for, in `h=` order (RFC 6376 §5.4.2): each name
/// takes the last instance not yet taken, so a name listed twice takes the last two from the
/// bottom up; a name with no instance left stands for nothing (`None`, the null string).
pub fn select<'f, 'a>(fields: &'f [Field<'a>], names: &[&str]) -> Vec<Option<&'f Field<'a>>> {
    let mut taken = vec![false; fields.len()];
    names
        .iter()
        .map(|name| {
            let i = (0..fields.len())
                .rev()
                .find(|&i| !taken[i] && fields[i].name.eq_ignore_ascii_case(name.as_bytes()))?;
            taken[i] = true;
            Some(&fields[i])
        })
        .collect()
}
