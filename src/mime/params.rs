//! A structured MIME header's value read (pure): `type/subtype; name=value; ...` with quoted
//! values, RFC 2231 parameters (`filename*=utf-8''...`, continuations `filename*0*=`), and
//! RFC 2047 encoded words (`=?utf-8?B?...?=`) as mail programs put them in names and subjects.

use super::decode;

/// `Content-Type` or `Content-Disposition`: the lower-cased value and the raw parameters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Field {
    pub value: String,
    params: Vec<(String, String)>,
}

impl Field {
    pub fn parse(raw: &str) -> Field {
        let mut pieces = split_unquoted(raw, b';').into_iter();
        let value = pieces
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        let params = pieces
            .filter_map(|p| {
                let (name, value) = p.split_once('=')?;
                Some((name.trim().to_ascii_lowercase(), unquote(value.trim())))
            })
            .collect();
        Field { value, params }
    }

    /// A parameter's value, decoded: RFC 2231 first (with continuations), else the plain
    /// one with any RFC 2047 encoded words.
    pub fn param(&self, name: &str) -> Option<String> {
        if let Some(v) = self.extended(name) {
            return Some(v);
        }
        let plain = self.params.iter().find(|(n, _)| n == name)?;
        Some(encoded_words(&plain.1))
    }

    /// `name*=charset'lang'%XX..` or `name*0[*]=..; name*1[*]=..`.
    fn extended(&self, name: &str) -> Option<String> {
        let mut segments: Vec<(u32, bool, &str)> = Vec::new();
        for (n, v) in &self.params {
            let Some(rest) = n.strip_prefix(name).and_then(|r| r.strip_prefix('*')) else {
                continue;
            };
            let (index, encoded) = match rest {
                "" => (0, true),
                r => match r.strip_suffix('*') {
                    Some(i) => (i.parse().ok()?, true),
                    None => (r.parse().ok()?, false),
                },
            };
            segments.push((index, encoded, v));
        }
        if segments.is_empty() {
            return None;
        }
        segments.sort_by_key(|s| s.0);
        let mut charset = None;
        let mut bytes = Vec::new();
        for (i, &(_, encoded, v)) in segments.iter().enumerate() {
            let mut v = v;
            if i == 0 && encoded {
                let mut parts = v.splitn(3, '\'');
                if let (Some(cs), Some(_lang), Some(rest)) =
                    (parts.next(), parts.next(), parts.next())
                {
                    charset = Some(cs.to_string()).filter(|c| !c.is_empty());
                    v = rest;
                }
            }
            match encoded {
                true => bytes.extend(percent_decode(v)),
                false => bytes.extend_from_slice(v.as_bytes()),
            }
        }
        Some(decode::text(
            &bytes,
            Some(charset.as_deref().unwrap_or("utf-8")),
        ))
    }
}

/// `s` split at `sep` outside double quotes.
fn split_unquoted(s: &str, sep: u8) -> Vec<String> {
    let mut out = Vec::new();
    let (mut quoted, mut escaped, mut start) = (false, false, 0);
    for (i, &b) in s.as_bytes().iter().enumerate() {
        match b {
            _ if escaped => escaped = false,
            b'\\' if quoted => escaped = true,
            b'"' => quoted = !quoted,
            _ if b == sep && !quoted => {
                out.push(s[start..i].to_string());
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(s[start..].to_string());
    out
}

fn unquote(v: &str) -> String {
    let Some(inner) = v.strip_prefix('"') else {
        return v.to_string();
    };
    let inner = inner.strip_suffix('"').unwrap_or(inner);
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.extend(chars.next()),
            c => out.push(c),
        }
    }
    out
}

fn percent_decode(v: &str) -> Vec<u8> {
    let b = v.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |j: usize| b.get(j).and_then(|&c| (c as char).to_digit(16));
        match (b[i], hex(i + 1), hex(i + 2)) {
            (b'%', Some(h), Some(l)) => {
                out.push((h * 16 + l) as u8);
                i += 3;
            }
            (c, _, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    out
}

/// Text with RFC 2047 encoded words decoded; white space between two encoded words goes.
pub fn encoded_words(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    let mut after_word = false;
    while let Some(start) = rest.find("=?") {
        let (before, from) = rest.split_at(start);
        match word(from) {
            Some((text, len)) => {
                if !(after_word && before.trim().is_empty()) {
                    out.push_str(before);
                }
                out.push_str(&text);
                rest = &from[len..];
                after_word = true;
            }
            None => {
                out.push_str(before);
                out.push_str("=?");
                rest = &from[2..];
                after_word = false;
            }
        }
    }
    out.push_str(rest);
    out
}

/// One `=?charset?B|Q?text?=` at the start of `s`: its text and its length.
fn word(s: &str) -> Option<(String, usize)> {
    let body = s.strip_prefix("=?")?;
    let (charset, body) = body.split_once('?')?;
    let (how, body) = body.split_once('?')?;
    let end = body.find("?=")?;
    let encoded = &body[..end];
    if encoded.contains(char::is_whitespace) {
        return None;
    }
    let bytes = match how {
        "B" | "b" => decode::base64(encoded.as_bytes()),
        "Q" | "q" => decode::quoted_printable(encoded.as_bytes(), true),
        _ => return None,
    };
    let len = 2 + charset.len() + 1 + how.len() + 1 + end + 2;
    // `charset*lang` (RFC 2231 §5).
    let charset = charset.split('*').next().unwrap_or(charset);
    Some((decode::text(&bytes, Some(charset)), len))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_plain_quoted_and_extended() {
        let cases = [
            ("text/plain", "charset", None),
            ("TEXT/Plain; charset=UTF-8", "charset", Some("UTF-8")),
            (
                "multipart/mixed; boundary=\"a;b=c\"",
                "boundary",
                Some("a;b=c"),
            ),
            (
                "attachment; filename=\"say \\\"hi\\\".txt\"",
                "filename",
                Some("say \"hi\".txt"),
            ),
            (
                "attachment; filename*=utf-8''%E2%82%AC%20rates.pdf",
                "filename",
                Some("€ rates.pdf"),
            ),
            (
                "attachment; FILENAME*=iso-8859-1'de'Gr%FC%DFe.txt",
                "filename",
                Some("Grüße.txt"),
            ),
            (
                "attachment; filename*0*=utf-8''Gr%C3%BC; filename*1=\"n long\"; filename*2*=%21.txt",
                "filename",
                Some("Grün long!.txt"),
            ),
            (
                "attachment; filename=\"=?UTF-8?B?w6TDtsO8LnR4dA==?=\"",
                "filename",
                Some("äöü.txt"),
            ),
            (
                "attachment; filename=plain.txt; filename*=utf-8''better.txt",
                "filename",
                Some("better.txt"),
            ),
        ];
        for (raw, name, want) in cases {
            let f = Field::parse(raw);
            assert_eq!(f.param(name).as_deref(), want, "{raw}");
        }
        assert_eq!(Field::parse(" Text/HTML ; x=y").value, "text/html");
    }

    #[test]
    fn encoded_words_are_decoded() {
        let cases = [
            ("plain text", "plain text"),
            ("=?utf-8?q?caf=C3=A9_cr=C3=A8me?=", "café crème"),
            (
                "=?ISO-8859-1?Q?Gr=FC=DFe?= aus =?utf-8?B?S8O2bG4=?=",
                "Grüße aus Köln",
            ),
            ("=?utf-8?B?YQ==?= =?utf-8?B?Yg==?=", "ab"),
            ("=?utf-8?Q?a?=\r\n =?utf-8?Q?b?=", "ab"),
            ("=?broken", "=?broken"),
            ("x =?utf-8?X?abc?= y", "x =?utf-8?X?abc?= y"),
            ("=?utf-8*en?Q?hi?=", "hi"),
        ];
        for (raw, want) in cases {
            assert_eq!(encoded_words(raw), want, "{raw}");
        }
    }
}
