//! The only changes qksmtp makes to a message: a `Received:` header on top, `Message-ID:`
//! and `Date:` when the message has none, and the empty line that ends the header block when
//! the message has none (a first line that is not a header field starts the body). Pure: the
//! caller gives the time and the ID.

use crate::headers::{HeaderFacts, header_block, header_facts};
use crate::identity::TlsUsed;
use crate::time::Timestamp;

/// Where the message came from, for the Received header.
pub struct Trace<'a> {
    pub helo: &'a str,
    pub client_ip: std::net::IpAddr,
    pub hostname: &'a str,
    /// `ESMTP`, `ESMTPS`, `ESMTPA`, `ESMTPSA`, `SMTP`, `UTF8SMTP`... (RFC 3848, RFC 6531)
    pub protocol: &'a str,
    /// The TLS version and cipher, named in a comment as Postfix does (`(using TLSv1.3 with
    /// cipher TLS_AES_256_GCM_SHA384)`); none in plain text or where the platform cannot tell.
    pub tls: Option<TlsUsed>,
    /// The local user who handed the message over (named in a comment, as Postfix's
    /// `from userid`).
    pub local_user: Option<&'a crate::spool::envelope::LocalUser>,
    pub id: &'a str,
    /// Named in `for <...>` when the message has exactly one recipient.
    pub single_recipient: Option<String>,
    pub now: Timestamp,
}

impl<'a> Trace<'a> {
    /// The trace of `sub` received by `hostname` as message `id` at `now`.
    pub fn of(sub: &'a super::Submission, hostname: &'a str, id: &'a str, now: Timestamp) -> Self {
        Trace {
            helo: &sub.helo,
            client_ip: sub.client_ip,
            hostname,
            protocol: &sub.protocol,
            tls: sub.tls,
            local_user: sub.local_user.as_ref(),
            id,
            single_recipient: match sub.recipients.as_slice() {
                [only] => Some(only.address.to_string()),
                _ => None,
            },
            now,
        }
    }
}

/// The header lines to put in front of the message.
pub fn prefix(trace: &Trace<'_>, facts: HeaderFacts) -> Vec<u8> {
    let ip = match trace.client_ip {
        std::net::IpAddr::V4(v4) => v4.to_string(),
        std::net::IpAddr::V6(v6) => format!("IPv6:{v6}"),
    };
    let helo = sanitize(trace.helo);
    let mut s = format!("Received: from {helo} ([{ip}])");
    if let Some(tls) = trace.tls {
        // OpenSSL's names: letters, digits, '_', '-' and '.' only.
        s.push_str(&format!("\r\n\t(using {tls})"));
    }
    if let Some(user) = trace.local_user {
        match &user.name {
            Some(name) => s.push_str(&format!(
                "\r\n\t(from userid {} {})",
                user.uid,
                sanitize(name)
            )),
            None => s.push_str(&format!("\r\n\t(from userid {})", user.uid)),
        }
    }
    s.push_str(&format!(
        "\r\n\tby {} (qksmtp) with {} id {}",
        trace.hostname, trace.protocol, trace.id
    ));
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
}

/// A message that has passed through more than `max_hops` servers: a mail loop (RFC 5321
/// §6.3), refused with `554 5.4.6`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooManyHops {
    pub hops: usize,
    pub max: usize,
}

/// Our header lines on top of `content`, and the empty line after its header block when a
/// body follows without one (as Postfix's cleanup does): otherwise mail readers take the
/// body's first line for a broken header field. A message with more than `max_hops`
/// `Received:` fields is refused.
pub fn prepare<'a>(
    trace: &Trace<'_>,
    content: &'a [u8],
    max_hops: usize,
) -> Result<Prepared<'a>, TooManyHops> {
    let head = header_block(content);
    let facts = header_facts(content);
    if facts.received > max_hops {
        return Err(TooManyHops {
            hops: facts.received,
            max: max_hops,
        });
    }
    let rest = &content[head.len()..];
    let separator = !rest.is_empty() && !rest.starts_with(b"\r\n") && !rest.starts_with(b"\n");
    Ok(Prepared {
        prefix: prefix(trace, facts),
        head,
        separator,
        rest,
    })
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

    /// A message from client.test to mx.qksmtp.test, at time 0.
    fn plain_trace() -> Trace<'static> {
        Trace {
            helo: "client.test",
            client_ip: "127.0.0.1".parse().unwrap(),
            hostname: "mx.qksmtp.test",
            protocol: "ESMTP",
            tls: None,
            local_user: None,
            id: "ID1",
            single_recipient: None,
            now: Timestamp::from_secs(0),
        }
    }

    #[test]
    fn a_body_without_a_header_block_gets_the_empty_line_that_ends_the_headers() {
        let trace = plain_trace();
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
            let p = prepare(&trace, content, 50).unwrap();
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
    fn more_received_fields_than_max_hops_is_a_loop() {
        let trace = plain_trace();
        let hops = |n: usize, field: &str| {
            let mut m = format!("{field}: from a.test by b.test; x\r\n\tfolded\r\n").repeat(n);
            m.push_str("Subject: s\r\n\r\nReceived: in the body\r\n");
            m.into_bytes()
        };
        // (Received fields, how the field is written, max_hops, refused)
        let cases = [
            (0, "Received", 25, None),
            (25, "Received", 25, None),
            (26, "Received", 25, Some(TooManyHops { hops: 26, max: 25 })),
            (50, "received", 50, None),
            (51, "RECEIVED", 50, Some(TooManyHops { hops: 51, max: 50 })),
            (60, "X-Received", 50, None),
        ];
        for (n, field, max, want) in cases {
            let content = hops(n, field);
            let got = prepare(&trace, &content, max).err();
            assert_eq!(got, want, "{n} {field} max {max}");
        }
    }

    #[test]
    fn prefix_adds_what_is_missing() {
        let trace = Trace {
            helo: "laptop.test",
            client_ip: "127.0.0.1".parse().unwrap(),
            hostname: "mx.test",
            protocol: "ESMTP",
            tls: None,
            local_user: None,
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
            received: 3,
        };
        let only_received = String::from_utf8(prefix(&trace, facts)).unwrap();
        assert!(only_received.starts_with("Received:") && !only_received.contains("Message-ID"));
        assert!(!only_received.contains("\r\nDate:"));
    }

    #[test]
    fn a_local_user_is_named_by_user_id_and_name() {
        use crate::spool::envelope::LocalUser;
        // (user, the line after the first)
        let table = [
            (1000, Some("alice"), "\t(from userid 1000 alice)\r\n"),
            (65534, None, "\t(from userid 65534)\r\n"),
            (
                7,
                Some("x)\r\nBcc: v@x.test"),
                "\t(from userid 7 x???Bcc: v@x.test)\r\n",
            ),
        ];
        for (uid, name, want) in table {
            let user = LocalUser {
                uid,
                name: name.map(String::from),
            };
            let trace = Trace {
                helo: "localhost",
                client_ip: "127.0.0.1".parse().unwrap(),
                hostname: "mx.test",
                protocol: "ESMTP",
                tls: None,
                local_user: Some(&user),
                id: "0123456789ABCDEF",
                single_recipient: None,
                now: Timestamp::from_secs(0),
            };
            let text = String::from_utf8(prefix(&trace, HeaderFacts::default())).unwrap();
            let second = text.split_inclusive("\r\n").nth(1).unwrap();
            assert_eq!(second, want, "{text}");
        }
    }

    #[test]
    fn a_tls_session_names_its_version_and_cipher() {
        let used = TlsUsed {
            version: "TLSv1.3",
            cipher: "TLS_AES_256_GCM_SHA384",
        };
        // (how it came, the line after the first)
        let table = [
            (
                Some(used),
                "\t(using TLSv1.3 with cipher TLS_AES_256_GCM_SHA384)\r\n",
            ),
            (None, "\tby mx.qksmtp.test (qksmtp) with ESMTP id ID1; "),
        ];
        for (tls, want) in table {
            let trace = Trace {
                tls,
                ..plain_trace()
            };
            let text = String::from_utf8(prefix(&trace, HeaderFacts::default())).unwrap();
            let second = text.split_inclusive("\r\n").nth(1).unwrap();
            assert!(second.starts_with(want), "{text}");
        }
    }

    #[test]
    fn hostile_helo_cannot_inject_headers() {
        let trace = Trace {
            helo: "x)\r\nBcc: victim@example.test",
            client_ip: "::1".parse().unwrap(),
            hostname: "mx.test",
            protocol: "SMTP",
            tls: None,
            local_user: None,
            id: "0123456789ABCDEF",
            single_recipient: None,
            now: Timestamp::from_secs(0),
        };
        let text = String::from_utf8(prefix(&trace, HeaderFacts::default())).unwrap();
        assert!(!text.contains("\r\nBcc"), "{text}");
        assert!(text.contains("([IPv6:::1])"));
    }
}
