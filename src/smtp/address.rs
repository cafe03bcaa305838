//! Parsers for MAIL FROM / RCPT TO arguments: paths, addresses, parameters, xtext.
//!
//! Grammar references: RFC 5321 §4.1.2 (paths), §4.5.3.1 (lengths), RFC 6531 (UTF-8 in
//! addresses), RFC 1870 (SIZE), RFC 6152 (BODY), RFC 3461 §4 (DSN parameters, xtext),
//! RFC 4954 §5 (AUTH=), RFC 6533 §3 (utf-8-addr-xtext in ORCPT).

use super::{Address, Body, CommandError, MailParams, Notify, Orcpt, RcptParams, Ret, ReversePath};
use std::net::{Ipv4Addr, Ipv6Addr};

/// Longest local part in octets (RFC 5321 §4.5.3.1.1).
const MAX_LOCAL: usize = 64;
/// Longest domain in octets (RFC 5321 §4.5.3.1.2).
const MAX_DOMAIN: usize = 255;
/// Longest path in octets, brackets included (RFC 5321 §4.5.3.1.3).
const MAX_PATH: usize = 256;
/// Longest domain label in octets.
const MAX_LABEL: usize = 63;
/// Longest decoded ENVID (RFC 3461 §4.4).
const MAX_ENVID: usize = 100;
/// Longest ORCPT value (RFC 3461 §4.2).
const MAX_ORCPT: usize = 500;

/// Parses the text after `MAIL FROM:`: a reverse path (`<>` allowed) and its parameters.
/// A non-ASCII sender without the SMTPUTF8 parameter is `NonAscii`.
pub fn parse_mail_args(args: &str) -> Result<(ReversePath, MailParams), CommandError> {
    let (path, rest) = split_path(args).ok_or(CommandError::BadSender)?;
    let from = if path == "<>" {
        ReversePath::Null
    } else {
        ReversePath::Mailbox(parse_path(path).ok_or(CommandError::BadSender)?)
    };
    let mut params = MailParams::default();
    let mut seen = Vec::new();
    for (key, value) in parameters(rest)? {
        check_duplicate(&mut seen, &key)?;
        mail_param(&mut params, &key, value)?;
    }
    if let ReversePath::Mailbox(a) = &from
        && a.is_utf8()
        && !params.smtputf8
    {
        return Err(CommandError::NonAscii);
    }
    Ok((from, params))
}

/// Parses the text after `RCPT TO:`: a forward path (or `<postmaster>`) and its parameters.
/// Non-ASCII addresses are returned as they are; the session checks them against SMTPUTF8.
pub fn parse_rcpt_args(args: &str) -> Result<(Address, RcptParams), CommandError> {
    let (path, rest) = split_path(args).ok_or(CommandError::BadRecipient)?;
    let to = if path.eq_ignore_ascii_case("<postmaster>") {
        Address::new("postmaster", "")
    } else {
        parse_path(path).ok_or(CommandError::BadRecipient)?
    };
    let mut params = RcptParams::default();
    let mut seen = Vec::new();
    for (key, value) in parameters(rest)? {
        check_duplicate(&mut seen, &key)?;
        rcpt_param(&mut params, &key, value)?;
    }
    Ok((to, params))
}

/// Splits `<path> params` into the bracketed path (brackets included) and the text after it.
/// Leading spaces are skipped (the lenient `MAIL FROM: <a@b>`). A `>` inside a quoted local
/// part does not close the path. `None` when there is no complete `<...>`.
fn split_path(args: &str) -> Option<(&str, &str)> {
    let args = args.trim_start_matches(' ');
    if !args.starts_with('<') {
        return None;
    }
    let bytes = args.as_bytes();
    let (mut quoted, mut escaped) = (false, false);
    for (i, &b) in bytes.iter().enumerate().skip(1) {
        if escaped {
            escaped = false;
        } else if quoted && b == b'\\' {
            escaped = true;
        } else if b == b'"' {
            quoted = !quoted;
        } else if b == b'>' && !quoted {
            return Some((&args[..=i], &args[i + 1..]));
        }
    }
    None
}

/// Parses a bracketed path `<[@route,@route:]local@domain>` into an address, dropping the
/// obsolete source route. `None` when anything is malformed or too long.
pub fn parse_path(path: &str) -> Option<Address> {
    if path.len() > MAX_PATH {
        return None;
    }
    let inner = path.strip_prefix('<')?.strip_suffix('>')?;
    let mailbox = strip_source_route(inner)?;
    parse_mailbox(mailbox)
}

/// Removes `@a.test,@b.test:` in front of a mailbox, checking each route domain.
fn strip_source_route(inner: &str) -> Option<&str> {
    if !inner.starts_with('@') {
        return Some(inner);
    }
    let colon = inner.find(':')?;
    for hop in inner[..colon].split(',') {
        if !is_domain(hop.strip_prefix('@')?) {
            return None;
        }
    }
    Some(&inner[colon + 1..])
}

/// Parses `local@domain`; the local part is a dot-string or a quoted string (kept quoted).
pub fn parse_mailbox(s: &str) -> Option<Address> {
    let local_len = if s.starts_with('"') {
        quoted_len(s)?
    } else {
        s.find('@')?
    };
    let (local, at_domain) = s.split_at(local_len);
    let domain = at_domain.strip_prefix('@')?;
    let local_ok = local.starts_with('"') || is_dot_string(local);
    if !local_ok || local.len() > MAX_LOCAL || !is_domain(domain) {
        return None;
    }
    Some(Address::new(local, domain))
}

/// Length in bytes of the quoted string at the start of `s` (quotes included).
fn quoted_len(s: &str) -> Option<usize> {
    let mut escaped = false;
    for (i, c) in s.char_indices().skip(1) {
        if escaped {
            // quoted-pairSMTP: backslash followed by %d32-126.
            if !(' '..='~').contains(&c) {
                return None;
            }
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if c == '"' {
            return Some(i + 1);
        } else if !(c == ' ' || c == '!' || ('#'..='~').contains(&c) || !c.is_ascii()) {
            // qtextSMTP: %d32-33 / %d35-91 / %d93-126 / UTF8-non-ascii ('\\' handled above).
            return None;
        }
    }
    None
}

/// RFC 5321 atext, extended with any non-ASCII character (RFC 6531).
fn is_atext(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~".contains(c) || !c.is_ascii()
}

/// A dot-string: atoms of atext joined by single dots.
fn is_dot_string(s: &str) -> bool {
    s.split('.')
        .all(|atom| !atom.is_empty() && atom.chars().all(is_atext))
}

/// A domain name (ASCII or U-labels) or an address literal `[192.0.2.1]` / `[IPv6:...]`.
pub fn is_domain(s: &str) -> bool {
    if let Some(literal) = s.strip_prefix('[') {
        return literal.strip_suffix(']').is_some_and(is_address_literal);
    }
    !s.is_empty() && s.len() <= MAX_DOMAIN && s.split('.').all(is_label)
}

fn is_label(label: &str) -> bool {
    let letter_digit = |c: char| c.is_ascii_alphanumeric() || !c.is_ascii();
    !label.is_empty()
        && label.len() <= MAX_LABEL
        && !label.starts_with('-')
        && !label.ends_with('-')
        && label.chars().all(|c| letter_digit(c) || c == '-')
}

/// The inside of `[...]`: an IPv4 address or `IPv6:` and an IPv6 address.
fn is_address_literal(s: &str) -> bool {
    if let Some(tag) = s.get(..5)
        && tag.eq_ignore_ascii_case("ipv6:")
    {
        return s[5..].parse::<Ipv6Addr>().is_ok();
    }
    s.parse::<Ipv4Addr>().is_ok()
}

/// Splits the parameter text into `(KEYWORD uppercased, value)` pairs. Runs of spaces are
/// tolerated; the path must be followed by a space or nothing.
fn parameters(rest: &str) -> Result<Vec<(String, Option<&str>)>, CommandError> {
    if !rest.is_empty() && !rest.starts_with(' ') {
        return Err(CommandError::Syntax("space expected after the address"));
    }
    let mut out = Vec::new();
    for token in rest.split(' ').filter(|t| !t.is_empty()) {
        let (key, value) = match token.split_once('=') {
            Some((k, v)) => (k, Some(v)),
            None => (token, None),
        };
        let key_ok = key.starts_with(|c: char| c.is_ascii_alphanumeric())
            && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
        if !key_ok {
            return Err(CommandError::Syntax("malformed parameter name"));
        }
        if let Some(v) = value
            && (v.is_empty() || v.chars().any(|c| c == '=' || c.is_control()))
        {
            return Err(CommandError::Syntax("malformed parameter value"));
        }
        out.push((key.to_ascii_uppercase(), value));
    }
    Ok(out)
}

fn check_duplicate(seen: &mut Vec<String>, key: &str) -> Result<(), CommandError> {
    if seen.iter().any(|k| k == key) {
        return Err(CommandError::Syntax("duplicate parameter"));
    }
    seen.push(key.to_string());
    Ok(())
}

fn need<'a>(value: Option<&'a str>, reason: &'static str) -> Result<&'a str, CommandError> {
    value.ok_or(CommandError::Syntax(reason))
}

fn mail_param(p: &mut MailParams, key: &str, value: Option<&str>) -> Result<(), CommandError> {
    use CommandError::Syntax;
    match key {
        "SIZE" => p.size = Some(parse_size(need(value, "SIZE needs a value")?)?),
        "BODY" => {
            let v = need(value, "BODY needs a value")?;
            p.body = if v.eq_ignore_ascii_case("7BIT") {
                Body::SevenBit
            } else if v.eq_ignore_ascii_case("8BITMIME") {
                Body::EightBitMime
            } else {
                return Err(Syntax("BODY must be 7BIT or 8BITMIME"));
            };
        }
        "SMTPUTF8" if value.is_some() => return Err(Syntax("SMTPUTF8 takes no value")),
        "SMTPUTF8" => p.smtputf8 = true,
        "RET" => {
            let v = need(value, "RET needs a value")?;
            p.ret = Some(if v.eq_ignore_ascii_case("FULL") {
                Ret::Full
            } else if v.eq_ignore_ascii_case("HDRS") {
                Ret::Headers
            } else {
                return Err(Syntax("RET must be FULL or HDRS"));
            });
        }
        "ENVID" => {
            let v = xtext_decode(need(value, "ENVID needs a value")?)
                .ok_or(Syntax("ENVID is not valid xtext"))?;
            let printable = v.bytes().all(|b| (b' '..=b'~').contains(&b));
            if v.is_empty() || v.len() > MAX_ENVID || !printable {
                return Err(Syntax("ENVID must be 1 to 100 printable ASCII characters"));
            }
            p.envid = Some(v);
        }
        "AUTH" => {
            let v = need(value, "AUTH needs a value")?;
            let v = if v == "<>" {
                v.to_string()
            } else {
                xtext_decode(v)
                    .filter(|s| !s.is_empty())
                    .ok_or(Syntax("AUTH is not valid xtext"))?
            };
            p.auth = Some(v);
        }
        _ => return Err(CommandError::UnknownParameter(key.to_string())),
    }
    Ok(())
}

/// SIZE=: 1 to 20 digits; a value beyond u64 saturates (it is over any limit anyway).
fn parse_size(v: &str) -> Result<u64, CommandError> {
    if v.is_empty() || v.len() > 20 || !v.bytes().all(|b| b.is_ascii_digit()) {
        return Err(CommandError::Syntax("SIZE must be a number"));
    }
    Ok(v.parse::<u64>().unwrap_or(u64::MAX))
}

fn rcpt_param(p: &mut RcptParams, key: &str, value: Option<&str>) -> Result<(), CommandError> {
    match key {
        "NOTIFY" => p.notify = Some(parse_notify(need(value, "NOTIFY needs a value")?)?),
        "ORCPT" => p.orcpt = Some(parse_orcpt(need(value, "ORCPT needs a value")?)?),
        _ => return Err(CommandError::UnknownParameter(key.to_string())),
    }
    Ok(())
}

/// NOTIFY=NEVER or a comma list of SUCCESS, FAILURE, DELAY (repeats are ignored).
fn parse_notify(v: &str) -> Result<Notify, CommandError> {
    use CommandError::Syntax;
    let (mut never, mut success, mut failure, mut delay) = (false, false, false, false);
    for item in v.split(',') {
        match item.to_ascii_uppercase().as_str() {
            "NEVER" => never = true,
            "SUCCESS" => success = true,
            "FAILURE" => failure = true,
            "DELAY" => delay = true,
            _ => return Err(Syntax("NOTIFY must be NEVER or SUCCESS,FAILURE,DELAY")),
        }
    }
    match (never, success || failure || delay) {
        (true, true) => Err(Syntax("NOTIFY=NEVER cannot be combined")),
        (true, false) => Ok(Notify::Never),
        _ => Ok(Notify::On {
            success,
            failure,
            delay,
        }),
    }
}

/// ORCPT=addr-type;xtext. The type is stored lowercase; for `utf-8` the `\x{HEX}` escapes of
/// RFC 6533 are decoded as well.
fn parse_orcpt(v: &str) -> Result<Orcpt, CommandError> {
    use CommandError::Syntax;
    if v.len() > MAX_ORCPT {
        return Err(Syntax("ORCPT too long"));
    }
    let (addr_type, encoded) = v
        .split_once(';')
        .ok_or(Syntax("ORCPT needs type;address"))?;
    if addr_type.is_empty() || !addr_type.chars().all(|c| c.is_ascii() && is_atext(c)) {
        return Err(Syntax("ORCPT address type is not an atom"));
    }
    let addr_type = addr_type.to_ascii_lowercase();
    let mut address = xtext_decode(encoded).ok_or(Syntax("ORCPT address is not valid xtext"))?;
    if addr_type == "utf-8" {
        address = unicode_escapes_decode(&address).ok_or(Syntax("ORCPT bad \\x{} escape"))?;
    }
    if address.is_empty() || address.chars().any(|c| c.is_control()) {
        return Err(Syntax("ORCPT address is empty or has control characters"));
    }
    Ok(Orcpt { addr_type, address })
}

/// Decodes RFC 3461 xtext: `+XX` hex escapes, other characters `!`..`~` except `+` and `=`.
/// Lowercase hex digits are tolerated. `None` when malformed or the result is not UTF-8.
pub fn xtext_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => {
                let hex = s.get(i + 1..i + 3)?;
                if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                    return None;
                }
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'=' => return None,
            b @ b'!'..=b'~' => {
                out.push(b);
                i += 1;
            }
            _ => return None,
        }
    }
    String::from_utf8(out).ok()
}

/// Encodes as RFC 3461 xtext: bytes outside `!`..`~`, `+` and `=` become `+XX`.
pub fn xtext_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if (b'!'..=b'~').contains(&b) && b != b'+' && b != b'=' {
            out.push(b as char);
        } else {
            out.push_str(&format!("+{b:02X}"));
        }
    }
    out
}

/// Decodes the `\x{HEX}` escapes of RFC 6533 utf-8-addr-xtext; other text is kept.
fn unicode_escapes_decode(s: &str) -> Option<String> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(pos) = rest.find("\\x{") {
        out.push_str(&rest[..pos]);
        let after = &rest[pos + 3..];
        let end = after.find('}')?;
        let hex = &after[..end];
        if hex.is_empty() || hex.len() > 6 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        out.push(char::from_u32(u32::from_str_radix(hex, 16).ok()?)?);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use CommandError::*;

    fn mbox(local: &str, domain: &str) -> ReversePath {
        ReversePath::Mailbox(Address::new(local, domain))
    }

    #[test]
    fn mail_paths() {
        let long_local = format!("<{}@x.test>", "a".repeat(65));
        let long_label = format!("<a@{}.test>", "b".repeat(64));
        // A 251-octet domain: "<ab@...>" is 256 octets (fine), "<abc@...>" 257 (too long).
        let domain = format!("{}.{}", vec!["c".repeat(63); 3].join("."), "d".repeat(59));
        let long_path = format!("<abc@{domain}>");
        let max_path = format!("<ab@{domain}>");
        let table: Vec<(&str, Result<ReversePath, CommandError>)> = vec![
            ("<a@b.test>", Ok(mbox("a", "b.test"))),
            (" <a@b.test>", Ok(mbox("a", "b.test"))),
            ("<>", Ok(ReversePath::Null)),
            (
                "<first.last+tag@sub.b-c.test>",
                Ok(mbox("first.last+tag", "sub.b-c.test")),
            ),
            (
                "<!#$%&'*/=?^_`{|}~-@x>",
                Ok(mbox("!#$%&'*/=?^_`{|}~-", "x")),
            ),
            ("<\"a b\"@b.test>", Ok(mbox("\"a b\"", "b.test"))),
            ("<\"a>b@c\"@b.test>", Ok(mbox("\"a>b@c\"", "b.test"))),
            ("<\"a\\\"b\"@b.test>", Ok(mbox("\"a\\\"b\"", "b.test"))),
            ("<@a.test,@b.test:user@c.test>", Ok(mbox("user", "c.test"))),
            ("<@a.test:user@c.test>", Ok(mbox("user", "c.test"))),
            ("<a@[192.0.2.1]>", Ok(mbox("a", "[192.0.2.1]"))),
            (
                "<a@[IPv6:2001:db8::1]>",
                Ok(mbox("a", "[IPv6:2001:db8::1]")),
            ),
            ("<a@[ipv6:::1]>", Ok(mbox("a", "[ipv6:::1]"))),
            ("a@b.test", Err(BadSender)),
            ("<a@b.test", Err(BadSender)),
            ("<a>", Err(BadSender)),
            ("<@b.test>", Err(BadSender)),
            ("<a@>", Err(BadSender)),
            ("<.a@b.test>", Err(BadSender)),
            ("<a.@b.test>", Err(BadSender)),
            ("<a..b@b.test>", Err(BadSender)),
            ("<a b@b.test>", Err(BadSender)),
            ("<a@b..test>", Err(BadSender)),
            ("<a@-b.test>", Err(BadSender)),
            ("<a@b-.test>", Err(BadSender)),
            ("<a@b_c.test>", Err(BadSender)),
            ("<a@b.test.>", Err(BadSender)),
            ("<a@[192.0.2.256]>", Err(BadSender)),
            ("<a@[IPv6:zz]>", Err(BadSender)),
            ("<a@[foo:bar]>", Err(BadSender)),
            ("<a@[ää:1]>", Err(BadSender)),
            ("<a@[IPv6:]>", Err(BadSender)),
            ("<@a.test,b.test:user@c.test>", Err(BadSender)),
            ("<@a_b:user@c.test>", Err(BadSender)),
            ("<\"a@b.test>", Err(BadSender)),
            ("<\"a\"b@b.test>", Err(BadSender)),
            ("<postmaster>", Err(BadSender)),
            ("", Err(BadSender)),
            (&long_local, Err(BadSender)),
            (&long_label, Err(BadSender)),
            (&long_path, Err(BadSender)),
            (&max_path, Ok(mbox("ab", &domain))),
            (
                "<a@b.test>SIZE=1",
                Err(Syntax("space expected after the address")),
            ),
            ("<jös@bücher.test>", Err(NonAscii)),
            ("<a@bücher.test>", Err(NonAscii)),
        ];
        for (input, want) in table {
            assert_eq!(parse_mail_args(input).map(|(p, _)| p), want, "{input}");
        }
        let (from, params) = parse_mail_args("<jös@bücher.test> SMTPUTF8").unwrap();
        assert_eq!(from, mbox("jös", "bücher.test"));
        assert!(params.smtputf8);
    }

    #[test]
    fn rcpt_paths() {
        let table: Vec<(&str, Result<Address, CommandError>)> = vec![
            ("<a@b.test>", Ok(Address::new("a", "b.test"))),
            ("<postmaster>", Ok(Address::new("postmaster", ""))),
            ("<PostMaster>", Ok(Address::new("postmaster", ""))),
            (
                "<Postmaster@b.test>",
                Ok(Address::new("Postmaster", "b.test")),
            ),
            ("<@r.test:a@b.test>", Ok(Address::new("a", "b.test"))),
            ("<jös@bücher.test>", Ok(Address::new("jös", "bücher.test"))),
            ("<>", Err(BadRecipient)),
            ("<bob>", Err(BadRecipient)),
            ("a@b.test", Err(BadRecipient)),
            ("<a@b.test> FOO=1", Err(UnknownParameter("FOO".into()))),
        ];
        for (input, want) in table {
            assert_eq!(parse_rcpt_args(input).map(|(a, _)| a), want, "{input}");
        }
    }

    #[test]
    fn xtext() {
        let table = [
            ("", ""),
            ("abc", "abc"),
            ("a+b=c", "a+2Bb+3Dc"),
            ("a b\n", "a+20b+0A"),
            ("é", "+C3+A9"),
        ];
        for (plain, encoded) in table {
            assert_eq!(xtext_encode(plain), encoded);
            assert_eq!(xtext_decode(encoded).as_deref(), Some(plain));
        }
        for bad in ["a=b", "a+", "a+2", "a+GG", "a b", "é", "+FF"] {
            assert_eq!(xtext_decode(bad), None, "{bad}");
        }
        assert_eq!(xtext_decode("+2b").as_deref(), Some("+"));
    }
}
