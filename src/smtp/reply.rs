//! The SMTP reply: one type shared by the server (what we say) and the client (what we hear),
//! the named constructors for every reply the server sends, and the wire rendering.

use std::fmt;

/// An RFC 3463 enhanced status code such as `5.1.1` (class.subject.detail).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Enhanced {
    pub class: u8,
    pub subject: u16,
    pub detail: u16,
}

impl Enhanced {
    pub const fn new(class: u8, subject: u16, detail: u16) -> Enhanced {
        Enhanced {
            class,
            subject,
            detail,
        }
    }

    /// Parses `X.Y.Z` (class 2, 4 or 5; subject and detail up to 3 digits).
    pub fn parse(text: &str) -> Option<Enhanced> {
        let mut parts = text.split('.');
        let class: u8 = parse_digits(parts.next()?, 1)?;
        let subject: u16 = parse_digits(parts.next()?, 3)?;
        let detail: u16 = parse_digits(parts.next()?, 3)?;
        if parts.next().is_some() || !matches!(class, 2 | 4 | 5) {
            return None;
        }
        Some(Enhanced {
            class,
            subject,
            detail,
        })
    }
}

fn parse_digits<T: std::str::FromStr>(text: &str, max_len: usize) -> Option<T> {
    if text.is_empty() || text.len() > max_len || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

impl fmt::Display for Enhanced {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.class, self.subject, self.detail)
    }
}

/// One SMTP reply: a three-digit code, an optional enhanced status code and one or more text
/// lines (without the code prefix).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub code: u16,
    pub enhanced: Option<Enhanced>,
    pub lines: Vec<String>,
}

impl Reply {
    pub fn new(code: u16, enhanced: Option<Enhanced>, text: impl Into<String>) -> Reply {
        Reply {
            code,
            enhanced,
            lines: vec![text.into()],
        }
    }

    fn std(code: u16, class: u8, subject: u16, detail: u16, text: impl Into<String>) -> Reply {
        Reply::new(code, Some(Enhanced::new(class, subject, detail)), text)
    }

    pub fn is_positive(&self) -> bool {
        (200..400).contains(&self.code)
    }
    pub fn is_transient(&self) -> bool {
        (400..500).contains(&self.code)
    }
    pub fn is_permanent(&self) -> bool {
        (500..600).contains(&self.code)
    }

    /// The reply as sent on the wire: `250-first\r\n250 last\r\n`; the enhanced code (when
    /// present) is repeated on every line, as RFC 2034 asks.
    pub fn write_to(&self, out: &mut Vec<u8>) {
        let empty = [String::new()];
        let lines: &[String] = if self.lines.is_empty() {
            &empty
        } else {
            &self.lines
        };
        for (i, line) in lines.iter().enumerate() {
            let sep = if i + 1 == lines.len() { ' ' } else { '-' };
            match self.enhanced {
                Some(e) => {
                    out.extend_from_slice(format!("{}{}{} {}", self.code, sep, e, line).as_bytes())
                }
                None => out.extend_from_slice(format!("{}{}{}", self.code, sep, line).as_bytes()),
            }
            out.extend_from_slice(b"\r\n");
        }
    }

    pub fn to_wire(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.write_to(&mut out);
        out
    }

    /// All lines joined with a space, for logs and status pages: `550 5.1.1 no such user`.
    pub fn one_line(&self) -> String {
        let mut s = self.code.to_string();
        if let Some(e) = self.enhanced {
            s.push(' ');
            s.push_str(&e.to_string());
        }
        for line in &self.lines {
            if !line.is_empty() {
                s.push(' ');
                s.push_str(line);
            }
        }
        s
    }

    /// Reads back what `one_line` writes, as a one-line reply that writes the same text (the
    /// line breaks of a multi-line reply are not in that text). The enhanced code is taken
    /// when its class matches the reply code, as `reply_parser` does.
    pub fn from_one_line(text: &str) -> Option<Reply> {
        let digits = text.get(..3)?;
        let valid = digits.bytes().all(|b| b.is_ascii_digit())
            && (b'2'..=b'5').contains(&text.as_bytes()[0]);
        if !valid {
            return None;
        }
        let code: u16 = digits.parse().ok()?;
        let rest = match &text[3..] {
            "" => "",
            rest => rest.strip_prefix(' ')?,
        };
        let (token, after) = rest.split_once(' ').unwrap_or((rest, ""));
        let enhanced = Enhanced::parse(token).filter(|e| u16::from(e.class) == code / 100);
        let line = if enhanced.is_some() { after } else { rest };
        Some(Reply::new(code, enhanced, line))
    }
}

impl fmt::Display for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.one_line())
    }
}

/// The replies the server sends, by name. Texts are generic on purpose: details go to the log.
impl Reply {
    pub fn greeting(hostname: &str) -> Reply {
        Reply::new(220, None, format!("{hostname} ESMTP qksmtp"))
    }
    pub fn ehlo(hostname: &str, client: &str, extensions: &[String]) -> Reply {
        let mut lines = vec![format!("{hostname} greets {client}")];
        lines.extend(extensions.iter().cloned());
        Reply {
            code: 250,
            enhanced: None,
            lines,
        }
    }
    pub fn helo(hostname: &str) -> Reply {
        Reply::new(250, None, hostname.to_string())
    }
    pub fn ok() -> Reply {
        Reply::std(250, 2, 0, 0, "Ok")
    }
    pub fn sender_ok() -> Reply {
        Reply::std(250, 2, 1, 0, "Ok")
    }
    pub fn recipient_ok() -> Reply {
        Reply::std(250, 2, 1, 5, "Ok")
    }
    pub fn queued(id: &str) -> Reply {
        Reply::std(250, 2, 0, 0, format!("Ok: queued as {id}"))
    }
    /// A BDAT chunk received (not the last): the octets of the message so far.
    pub fn chunk_received(octets: u64) -> Reply {
        Reply::std(250, 2, 0, 0, format!("Ok: {octets} octets received"))
    }
    pub fn bye() -> Reply {
        Reply::std(221, 2, 0, 0, "Bye")
    }
    pub fn start_data() -> Reply {
        Reply::new(354, None, "End data with <CR><LF>.<CR><LF>")
    }
    pub fn cannot_verify() -> Reply {
        Reply::std(
            252,
            2,
            0,
            0,
            "Cannot VRFY user, but will accept message and attempt delivery",
        )
    }
    /// The commands this session takes: STARTTLS and AUTH only when they are offered.
    pub fn help(starttls: bool, auth: bool) -> Reply {
        let mut commands =
            String::from("qksmtp commands: EHLO HELO MAIL RCPT DATA BDAT RSET NOOP QUIT HELP VRFY");
        if starttls {
            commands.push_str(" STARTTLS");
        }
        if auth {
            commands.push_str(" AUTH");
        }
        Reply {
            code: 214,
            enhanced: Some(Enhanced::new(2, 0, 0)),
            lines: vec![
                commands,
                "See RFC 5321; the status page explains what happened to each message".into(),
            ],
        }
    }
    pub fn expn_refused() -> Reply {
        Reply::std(502, 5, 5, 1, "EXPN not available")
    }

    // --- refusals at connect and of the session -------------------------------------------
    pub fn access_denied() -> Reply {
        Reply::std(554, 5, 7, 1, "Access denied")
    }
    pub fn too_many_sessions() -> Reply {
        Reply::std(421, 4, 7, 0, "Too many connections, try again later")
    }
    pub fn too_many_errors() -> Reply {
        Reply::std(421, 4, 7, 0, "Too many errors, closing connection")
    }
    pub fn idle_timeout() -> Reply {
        Reply::std(421, 4, 4, 2, "Timeout, closing connection")
    }
    pub fn shutting_down() -> Reply {
        Reply::std(421, 4, 3, 2, "Service shutting down, try again later")
    }

    // --- syntax and sequence ------------------------------------------------------------------
    pub fn line_too_long() -> Reply {
        Reply::std(500, 5, 5, 2, "Line too long")
    }
    pub fn unrecognized() -> Reply {
        Reply::std(500, 5, 5, 2, "Command not recognized")
    }
    pub fn syntax(what: &str) -> Reply {
        Reply::std(501, 5, 5, 4, format!("Syntax error: {what}"))
    }
    pub fn bad_sender_syntax() -> Reply {
        Reply::std(501, 5, 1, 7, "Bad sender address syntax")
    }
    pub fn bad_recipient_syntax() -> Reply {
        Reply::std(501, 5, 1, 3, "Bad recipient address syntax")
    }
    pub fn unknown_parameter(name: &str) -> Reply {
        Reply::std(555, 5, 5, 4, format!("Unsupported parameter {name}"))
    }
    pub fn non_ascii_address() -> Reply {
        Reply::std(553, 5, 6, 7, "Non-ASCII address needs SMTPUTF8")
    }
    pub fn bad_sequence(what: &str) -> Reply {
        Reply::std(503, 5, 5, 1, format!("Bad sequence of commands: {what}"))
    }
    pub fn not_implemented() -> Reply {
        Reply::std(502, 5, 5, 1, "Command not implemented")
    }
    pub fn no_valid_recipients() -> Reply {
        Reply::std(554, 5, 5, 1, "No valid recipients")
    }

    // --- policy and limits ----------------------------------------------------------------------
    pub fn relay_denied() -> Reply {
        Reply::std(550, 5, 7, 1, "Relaying denied")
    }
    pub fn recipient_needs_domain() -> Reply {
        Reply::std(550, 5, 1, 3, "Recipient address needs a domain")
    }
    pub fn too_many_recipients() -> Reply {
        Reply::std(452, 4, 5, 3, "Too many recipients")
    }
    pub fn message_too_big() -> Reply {
        Reply::std(552, 5, 3, 4, "Message size exceeds fixed limit")
    }
    pub fn bare_newline_refused() -> Reply {
        Reply::std(
            554,
            5,
            6,
            0,
            "Message contains bare CR or LF; use CRLF line endings",
        )
    }
    /// RFC 5321 §6.3: more `Received:` fields than `max_hops`, a mail loop.
    pub fn too_many_hops() -> Reply {
        Reply::std(554, 5, 4, 6, "Too many hops")
    }
    pub fn storage_failed() -> Reply {
        Reply::std(452, 4, 3, 1, "Insufficient system storage, try again later")
    }
    pub fn tls_required() -> Reply {
        Reply::std(530, 5, 7, 0, "Must issue a STARTTLS command first")
    }

    // --- STARTTLS (RFC 3207) ----------------------------------------------------------------
    pub fn ready_for_tls() -> Reply {
        Reply::std(220, 2, 0, 0, "Ready to start TLS")
    }
    pub fn tls_not_available() -> Reply {
        Reply::std(
            502,
            5,
            5,
            1,
            "STARTTLS not available (no certificate configured)",
        )
    }
    pub fn already_tls() -> Reply {
        Reply::std(503, 5, 5, 1, "Bad sequence of commands: already in TLS")
    }
    /// Commands pipelined after STARTTLS (CVE-2011-0411 class): refused, then the session ends.
    pub fn pipelined_after_starttls() -> Reply {
        Reply::std(
            554,
            5,
            5,
            1,
            "Commands pipelined after STARTTLS are not allowed, closing connection",
        )
    }

    // --- AUTH (RFC 4954) ----------------------------------------------------------------------
    /// `334 text`: the server's SASL challenge (already base64).
    pub fn auth_challenge(base64: &str) -> Reply {
        Reply::new(334, None, base64.to_string())
    }
    pub fn auth_succeeded() -> Reply {
        Reply::std(235, 2, 7, 0, "Authentication successful")
    }
    pub fn auth_failed() -> Reply {
        Reply::std(535, 5, 7, 8, "Authentication credentials invalid")
    }
    pub fn auth_malformed() -> Reply {
        Reply::std(501, 5, 5, 2, "Invalid authentication data (bad base64)")
    }
    pub fn auth_cancelled() -> Reply {
        Reply::std(501, 5, 7, 0, "Authentication cancelled")
    }
    pub fn auth_unknown_mechanism() -> Reply {
        Reply::std(504, 5, 5, 4, "Unrecognized authentication mechanism")
    }
    pub fn auth_needs_encryption() -> Reply {
        Reply::std(
            538,
            5,
            7,
            11,
            "Encryption required for requested authentication mechanism",
        )
    }
    pub fn auth_not_available() -> Reply {
        Reply::std(502, 5, 5, 1, "AUTH not available (no users configured)")
    }
    /// The password could not be checked in time (too many logins at once).
    pub fn auth_temporary_failure() -> Reply {
        Reply::std(454, 4, 7, 0, "Temporary authentication failure")
    }
    /// The client's address failed to log in too often lately.
    pub fn auth_refused_for_now() -> Reply {
        Reply::std(
            454,
            4,
            7,
            0,
            "Too many failed logins from your address; try again later",
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_multiline_with_enhanced_code_on_each_line() {
        let r = Reply {
            code: 250,
            enhanced: Some(Enhanced::new(2, 0, 0)),
            lines: vec!["a".into(), "b".into()],
        };
        assert_eq!(r.to_wire(), b"250-2.0.0 a\r\n250 2.0.0 b\r\n");
        assert_eq!(
            Reply::start_data().to_wire(),
            b"354 End data with <CR><LF>.<CR><LF>\r\n"
        );
    }

    #[test]
    fn ehlo_lists_extensions_without_enhanced_code() {
        let r = Reply::ehlo(
            "h.test",
            "c.test",
            &["PIPELINING".into(), "8BITMIME".into()],
        );
        assert_eq!(
            r.to_wire(),
            b"250-h.test greets c.test\r\n250-PIPELINING\r\n250 8BITMIME\r\n"
        );
    }

    #[test]
    fn enhanced_parse_table() {
        type Case = (&'static str, Option<(u8, u16, u16)>);
        let cases: &[Case] = &[
            ("5.1.1", Some((5, 1, 1))),
            ("4.7.0", Some((4, 7, 0))),
            ("2.0.0", Some((2, 0, 0))),
            ("5.1.10", Some((5, 1, 10))),
            ("3.1.1", None),
            ("5.1", None),
            ("5.1.1.1", None),
            ("5..1", None),
            ("5.1000.1", None),
            ("x.1.1", None),
        ];
        for (text, want) in cases {
            let got = Enhanced::parse(text).map(|e| (e.class, e.subject, e.detail));
            assert_eq!(got, *want, "{text}");
        }
    }

    #[test]
    fn one_line_reads_back() {
        let replies = [
            Reply::new(550, Some(Enhanced::new(5, 1, 1)), "no such user"),
            Reply::new(550, Some(Enhanced::new(5, 1, 1)), ""),
            Reply::new(250, None, "mx.test"),
            Reply::new(250, None, ""),
            Reply::new(250, None, " two  spaces -> and an arrow "),
            Reply::new(451, Some(Enhanced::new(4, 7, 1)), "4.7.1 twice"),
            Reply::queued("0123456789ABCDEF"),
        ];
        for reply in replies {
            assert_eq!(Reply::from_one_line(&reply.one_line()), Some(reply.clone()));
        }
        // Lines are joined, enhanced codes of another class kept as text: the text is the same.
        let odd = [
            Reply::help(true, true),
            Reply::ehlo("mx.test", "c.test", &["PIPELINING".into()]),
            Reply::new(250, None, "5.1.1 odd"),
        ];
        for reply in odd {
            let read = Reply::from_one_line(&reply.one_line()).unwrap();
            assert_eq!(read.one_line(), reply.one_line());
        }
        for bad in ["", "25", "abc def", "650 x", "250x", "2500 x"] {
            assert_eq!(Reply::from_one_line(bad), None, "{bad}");
        }
    }

    #[test]
    fn one_line_joins() {
        assert_eq!(
            Reply::relay_denied().one_line(),
            "550 5.7.1 Relaying denied"
        );
    }
}
