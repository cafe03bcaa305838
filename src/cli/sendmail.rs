//! `qksmtp send`: the sendmail-compatible command line and the preparation of a message read
//! from standard input (line ends to CRLF, `-t` recipients from To/Cc/Bcc, Bcc removed, a
//! From: added when missing). Pure; `commands::send` does the I/O.

pub mod input;

use crate::smtp::Address;
use crate::smtp::address::parse_mailbox;

/// sysexits.h
pub const EX_USAGE: u8 = 64;
pub const EX_DATAERR: u8 = 65;
pub const EX_NOINPUT: u8 = 66;
pub const EX_CANTCREAT: u8 = 73;
pub const EX_TEMPFAIL: u8 = 75;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SendOptions {
    /// `-t`: recipients from the To, Cc and Bcc headers (added to those given).
    pub extract: bool,
    /// `-f FROM` / `-r FROM`: the envelope sender (`<>` or empty for the null sender).
    pub from: Option<String>,
    /// `-F NAME`: the full name for an added From: header.
    pub full_name: Option<String>,
    /// `-i` / `-oi`: a line with a lone "." does not end the input.
    pub ignore_dots: bool,
    /// `-v`: say the queue ID.
    pub verbose: bool,
    pub recipients: Vec<String>,
}

/// Parses sendmail's options; options of sendmail that do not apply here are accepted and
/// ignored (`-oXXX`, `-bm`, `-B`, `-N`, `-R`, `-V`, `-X`, `-U`). The error is for EX_USAGE.
pub fn parse_args(args: &[String]) -> Result<SendOptions, String> {
    let mut o = SendOptions::default();
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let mut value = |flag: &str| -> Result<String, String> {
            match arg.strip_prefix(flag).filter(|v| !v.is_empty()) {
                Some(v) => Ok(v.to_string()),
                None => it.next().cloned().ok_or(format!("{flag} needs a value")),
            }
        };
        match arg.as_str() {
            "--" => {
                o.recipients.extend(it.by_ref().cloned());
                break;
            }
            "-t" => o.extract = true,
            "-i" | "-oi" => o.ignore_dots = true,
            "-v" => o.verbose = true,
            "-bm" | "-U" | "-oem" | "-oee" | "-odi" | "-odb" | "-odq" => {}
            a if a.starts_with("-f") => o.from = Some(value("-f")?),
            a if a.starts_with("-r") => o.from = Some(value("-r")?),
            a if a.starts_with("-F") => o.full_name = Some(value("-F")?),
            a if a.starts_with("-o") => {}
            a if ["-B", "-N", "-R", "-V", "-X"]
                .iter()
                .any(|f| a.starts_with(f)) =>
            {
                let flag = &a[..2];
                value(flag)?;
            }
            a if a.starts_with('-') && a.len() > 1 => return Err(format!("unknown option {a}")),
            a => o.recipients.push(a.to_string()),
        }
    }
    Ok(o)
}

/// A message ready for the spool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prepared {
    /// `None` = the null sender.
    pub sender: Option<Address>,
    pub recipients: Vec<Address>,
    /// CRLF line ends, Bcc removed, From: present.
    pub content: Vec<u8>,
}

/// The input up to a lone "." line (unless `ignore_dots`), with CRLF line ends (the whole
/// input at once: what `Lines` and `input::Input` are tested against).
#[cfg(test)]
pub fn normalize(input: &[u8], ignore_dots: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len() + input.len() / 32);
    let mut lines = Lines::new(ignore_dots);
    lines.feed(input, &mut out);
    lines.finish(&mut out);
    out
}

/// `normalize` a piece at a time: the input's lines with CRLF ends, up to a lone "." line
/// (unless `ignore_dots`); a line split between pieces waits for its end.
#[derive(Debug, Default)]
pub struct Lines {
    ignore_dots: bool,
    /// The start of a line whose end has not come yet.
    partial: Vec<u8>,
    /// The lone "." came: the rest of the input is not the message.
    pub ended: bool,
}

impl Lines {
    pub fn new(ignore_dots: bool) -> Lines {
        Lines {
            ignore_dots,
            ..Lines::default()
        }
    }

    /// Appends the complete lines of `piece` (with the partial line before it) to `out`.
    pub fn feed(&mut self, piece: &[u8], out: &mut Vec<u8>) {
        let mut rest = piece;
        while !self.ended {
            let Some(lf) = rest.iter().position(|&b| b == b'\n') else {
                self.partial.extend_from_slice(rest);
                return;
            };
            if self.partial.is_empty() {
                self.line(&rest[..lf], out);
            } else {
                self.partial.extend_from_slice(&rest[..lf]);
                let line = std::mem::take(&mut self.partial);
                self.line(&line, out);
            }
            rest = &rest[lf + 1..];
        }
    }

    fn line(&mut self, line: &[u8], out: &mut Vec<u8>) {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if !self.ignore_dots && line == b"." {
            self.ended = true;
            return;
        }
        out.extend_from_slice(line);
        out.extend_from_slice(b"\r\n");
    }

    /// The input ended: a last line without its line end is a line.
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        if !self.partial.is_empty() && !self.ended {
            let line = std::mem::take(&mut self.partial);
            self.line(&line, out);
        }
    }
}

/// Whether the header block of normalized content is complete in `content`: an empty line
/// came (a block longer than `most` is taken as it is).
pub fn head_complete(content: &[u8], most: usize) -> bool {
    content.starts_with(b"\r\n")
        || content.windows(4).any(|w| w == b"\r\n\r\n")
        || content.len() >= most
}

/// Header fields of the header block: (name, whole field text with its CRLFs).
fn header_fields(content: &[u8]) -> (Vec<(String, Vec<u8>)>, usize) {
    let mut fields: Vec<(String, Vec<u8>)> = Vec::new();
    let mut pos = 0;
    while pos < content.len() {
        let end = content[pos..]
            .windows(2)
            .position(|w| w == b"\r\n")
            .map_or(content.len(), |p| pos + p + 2);
        let line = &content[pos..end];
        let text = line.strip_suffix(b"\r\n").unwrap_or(line);
        if text.is_empty() {
            return (fields, end);
        }
        if matches!(text[0], b' ' | b'\t') && !fields.is_empty() {
            fields
                .last_mut()
                .expect("checked")
                .1
                .extend_from_slice(line);
        } else if let Some(colon) = text.iter().position(|&b| b == b':')
            && colon > 0
            && text[..colon].iter().all(|&b| (33..=126).contains(&b))
        {
            let name = String::from_utf8_lossy(&text[..colon]).to_ascii_lowercase();
            fields.push((name, line.to_vec()));
        } else {
            break; // not a header: the body starts here (no empty line)
        }
        pos = end;
    }
    (fields, pos)
}

/// Addresses in an address-list header value: `a@x, "B" <b@y>, group: c@z;`.
pub fn addresses(value: &str) -> Vec<String> {
    let mut out = Vec::new();
    let (mut depth, mut quoted, mut cur) = (0u32, false, String::new());
    let mut push = |s: &mut String| {
        let t = s.trim();
        let t = t
            .rsplit_once(':')
            .map_or(t, |(_, a)| a)
            .trim()
            .trim_end_matches(';');
        let addr = match (t.rfind('<'), t.rfind('>')) {
            (Some(a), Some(b)) if a < b => t[a + 1..b].trim(),
            _ => t.trim(),
        };
        if !addr.is_empty() {
            out.push(addr.to_string());
        }
        s.clear();
    };
    for c in value.chars() {
        match c {
            '"' if depth == 0 => quoted = !quoted,
            '(' if !quoted => depth += 1,
            ')' if !quoted && depth > 0 => depth -= 1,
            ',' | ';' if !quoted && depth == 0 => push(&mut cur),
            _ if depth > 0 => {}
            _ => cur.push(c),
        }
        if c == '"' && depth == 0 {
            cur.push(c);
        }
    }
    push(&mut cur);
    out
}

fn field_value(field: &[u8]) -> String {
    let text = String::from_utf8_lossy(field);
    let value = text.split_once(':').map_or("", |(_, v)| v);
    value.replace("\r\n", " ")
}

/// Builds the message and its envelope from the whole input. The error is (sysexits code,
/// message).
#[cfg(test)]
pub fn prepare(
    input: &[u8],
    o: &SendOptions,
    default_sender: &str,
) -> Result<Prepared, (u8, String)> {
    prepare_normalized(normalize(input, o.ignore_dots), o, default_sender)
}

/// `prepare` for content already normalized: all of it, or its start with the whole header
/// block (the rest of the body follows `Prepared::content` unchanged).
pub fn prepare_normalized(
    content: Vec<u8>,
    o: &SendOptions,
    default_sender: &str,
) -> Result<Prepared, (u8, String)> {
    let (fields, body_at) = header_fields(&content);
    let mut wanted: Vec<String> = o.recipients.iter().flat_map(|r| addresses(r)).collect();
    let mut head = Vec::new();
    let mut from_header = None;
    for (name, field) in &fields {
        if o.extract && matches!(name.as_str(), "to" | "cc" | "bcc") {
            wanted.extend(addresses(&field_value(field)));
        }
        if name == "from" && from_header.is_none() {
            from_header = addresses(&field_value(field)).into_iter().next();
        }
        if name != "bcc" {
            head.extend_from_slice(field);
        }
    }
    let data_err = |m: String| (EX_DATAERR, m);
    let mut recipients = Vec::new();
    for w in &wanted {
        let a = parse_mailbox(w).ok_or_else(|| data_err(format!("bad recipient address {w:?}")))?;
        if !recipients.contains(&a) {
            recipients.push(a);
        }
    }
    if recipients.is_empty() {
        return Err((
            EX_USAGE,
            "no recipients (give them, or -t with To/Cc/Bcc headers)".into(),
        ));
    }
    let sender_text = o
        .from
        .clone()
        .or(from_header)
        .unwrap_or(default_sender.to_string());
    let sender_text = sender_text
        .trim_start_matches('<')
        .trim_end_matches('>')
        .to_string();
    let sender = if sender_text.is_empty() {
        None
    } else {
        Some(
            parse_mailbox(&sender_text)
                .ok_or_else(|| data_err(format!("bad sender address {sender_text:?}")))?,
        )
    };
    if !fields.iter().any(|(n, _)| n == "from") {
        let who = sender
            .as_ref()
            .map_or(default_sender.to_string(), |a| a.to_string());
        let line = match &o.full_name {
            Some(name) => format!(
                "From: \"{}\" <{who}>\r\n",
                name.replace(['"', '\\', '\r', '\n'], "")
            ),
            None => format!("From: {who}\r\n"),
        };
        head.splice(0..0, line.into_bytes());
    }
    let body = &content[body_at..];
    let mut out = head;
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body);
    Ok(Prepared {
        sender,
        recipients,
        content: out,
    })
}

#[cfg(test)]
mod tests;
