//! The only changes qksmtp makes to a message: a `Received:` header on top, `Message-ID:`
//! and `Date:` when the message has none, and the empty line that ends the header block when
//! the message has none (a first line that is not a header field starts the body). Pure: the
//! caller gives the time and the ID.

use crate::headers::{HeaderFacts, header_block, header_facts};
use crate::time::Timestamp;

/// Where the message came from, for the Received header.
pub struct Trace<'a> {
    pub helo: &'a str,
    pub client_ip: std::net::IpAddr,
    pub hostname: &'a str,
    /// `ESMTP`, `ESMTPS`, `ESMTPA`, `ESMTPSA`, `SMTP`, `UTF8SMTP`... (RFC 3848, RFC 6531)
    pub protocol: &'a str,
    pub id: &'a str,
    /// Named in `for <...>` when the message has exactly one recipient.
    pub single_recipient: Option<String>,
    pub now: Timestamp,
}

/// The header lines to put in front of the message.
pub fn prefix(trace: &Trace<'_>, facts: HeaderFacts) -> Vec<u8> {
    let ip = match trace.client_ip {
        std::net::IpAddr::V4(v4) => v4.to_string(),
        std::net::IpAddr::V6(v6) => format!("IPv6:{v6}"),
    };
    let helo = sanitize(trace.helo);
    let mut s = format!(
        "Received: from {helo} ([{ip}])\r\n\tby {} (qksmtp) with {} id {}",
        trace.hostname, trace.protocol, trace.id
    );
    if let Some(rcpt) = &trace.single_recipient {
        s.push_str(&format!("\r\n\tfor <{}>", sanitize(rcpt)));
    }
    s.push_str(&format!("; {}\r\n", trace.now.rfc5322()));
    if !facts.has_message_id {
        s.push_str(&format!(
            "Message-ID: <{}@{}>\r\n",
            trace.id, trace.hostname
        ));
    }
    if !facts.has_date {
        s.push_str(&format!("Date: {}\r\n", trace.now.rfc5322()));
    }
    s.into_bytes()
}

/// A message ready to store, kept as parts so that the client's bytes are never copied: our
/// header lines, the client's header block, the empty line it lacked (if it did), the rest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prepared<'a> {
    pub prefix: Vec<u8>,
    pub head: &'a [u8],
    pub separator: bool,
    pub rest: &'a [u8],
}

impl<'a> Prepared<'a> {
    /// The parts in order, as they are written.
    pub fn parts(&self) -> Vec<&[u8]> {
        let sep: &[u8] = if self.separator { b"\r\n" } else { b"" };
        vec![&self.prefix, self.head, sep, self.rest]
    }

    pub fn len(&self) -> usize {
        self.parts().iter().map(|p| p.len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Our header lines on top of `content`, and the empty line after its header block when a
/// body follows without one (as Postfix's cleanup does): otherwise mail readers take the
/// body's first line for a broken header field.
pub fn prepare<'a>(trace: &Trace<'_>, content: &'a [u8]) -> Prepared<'a> {
    let head = header_block(content);
    let rest = &content[head.len()..];
    let separator = !rest.is_empty() && !rest.starts_with(b"\r\n") && !rest.starts_with(b"\n");
    Prepared {
        prefix: prefix(trace, header_facts(content)),
        head,
        separator,
        rest,
    }
}

/// Keeps client-chosen text from breaking the header (no controls, no parentheses games).
fn sanitize(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_control() || c == '(' || c == ')' {
                '?'
            } else {
                c
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_body_without_a_header_block_gets_the_empty_line_that_ends_the_headers() {
        let trace = Trace {
            helo: "client.test",
            client_ip: "127.0.0.1".parse().unwrap(),
            hostname: "mx.qksmtp.test",
            protocol: "ESMTP",
            id: "ID1",
            single_recipient: None,
            now: Timestamp::from_secs(0),
        };
        // (content, separator added, where the header block ends)
        let cases: &[(&[u8], bool, usize)] = &[
            (b"just a body\r\n", true, 0),
            (b"Subject: x\r\n\r\nbody\r\n", false, 12),
            (b"Subject: x\r\n", false, 12),
            (b"Subject: x\r\nnot a header line\r\n", true, 12),
            (b"Subject: x\n\nbare line ends\n", false, 11),
            (b"", false, 0),
            (b"\r\nbody after an empty header block\r\n", false, 0),
        ];
        for &(content, separator, head) in cases {
            let p = prepare(&trace, content);
            let shown = String::from_utf8_lossy(content);
            assert_eq!((p.separator, p.head.len()), (separator, head), "{shown}");
            let joined: Vec<u8> = p.parts().concat();
            assert_eq!(joined.len(), p.len());
            let (top, client) = joined.split_at(p.prefix.len());
            assert!(top.starts_with(b"Received: from client.test"), "{shown}");
            let expected: Vec<u8> = if separator {
                [&content[..head], b"\r\n", &content[head..]].concat()
            } else {
                content.to_vec()
            };
            assert_eq!(client, &expected[..], "{shown}");
        }
    }

    #[test]
    fn prefix_adds_what_is_missing() {
        let trace = Trace {
            helo: "laptop.test",
            client_ip: "127.0.0.1".parse().unwrap(),
            hostname: "mx.test",
            protocol: "ESMTP",
            id: "0123456789ABCDEF",
            single_recipient: Some("bob@example.test".into()),
            now: Timestamp::from_secs(1_795_419_420),
        };
        let all = String::from_utf8(prefix(&trace, HeaderFacts::default())).unwrap();
        assert_eq!(
            all,
            "Received: from laptop.test ([127.0.0.1])\r\n\tby mx.test (qksmtp) with ESMTP id 0123456789ABCDEF\r\n\tfor <bob@example.test>; Mon, 23 Nov 2026 07:37:00 +0000\r\n\
             Message-ID: <0123456789ABCDEF@mx.test>\r\nDate: Mon, 23 Nov 2026 07:37:00 +0000\r\n"
        );
        let facts = HeaderFacts {
            has_message_id: true,
            has_date: true,
        };
        let only_received = String::from_utf8(prefix(&trace, facts)).unwrap();
        assert!(only_received.starts_with("Received:") && !only_received.contains("Message-ID"));
        assert!(!only_received.contains("\r\nDate:"));
    }

    #[test]
    fn hostile_helo_cannot_inject_headers() {
        let trace = Trace {
            helo: "x)\r\nBcc: victim@example.test",
            client_ip: "::1".parse().unwrap(),
            hostname: "mx.test",
            protocol: "SMTP",
            id: "0123456789ABCDEF",
            single_recipient: None,
            now: Timestamp::from_secs(0),
        };
        let text = String::from_utf8(prefix(&trace, HeaderFacts::default())).unwrap();
        assert!(!text.contains("\r\nBcc"), "{text}");
        assert!(text.contains("([IPv6:::1])"));
    }
}
