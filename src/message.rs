//! The only changes qksmtp makes to a message: a `Received:` header on top, and `Message-ID:`
//! and `Date:` when the message has none. Pure: the caller gives the time and the ID.

use crate::time::Timestamp;

/// What the header block of a message already has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct HeaderFacts {
    pub has_message_id: bool,
    pub has_date: bool,
}

/// Looks through the header block (up to the first empty line; a line that is not a header
/// field nor a continuation also ends it) for Message-ID and Date.
pub fn header_facts(message: &[u8]) -> HeaderFacts {
    let mut facts = HeaderFacts::default();
    for line in message.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            break;
        }
        if line[0] == b' ' || line[0] == b'\t' {
            continue;
        }
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            break;
        };
        let name = &line[..colon];
        if name.is_empty() || !name.iter().all(|&b| (33..=126).contains(&b)) {
            break;
        }
        facts.has_message_id |= name.eq_ignore_ascii_case(b"message-id");
        facts.has_date |= name.eq_ignore_ascii_case(b"date");
    }
    facts
}

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
    fn finds_header_fields_only_in_the_header_block() {
        let cases: &[(&[u8], bool, bool)] = &[
            (
                b"Subject: x\r\nMessage-ID: <a@b>\r\nDate: now\r\n\r\nbody\r\n",
                true,
                true,
            ),
            (b"message-id: <a@b>\r\n\r\n", true, false),
            (b"Subject: x\r\n folded\r\nDATE: y\r\n\r\n", false, true),
            (
                b"Subject: x\r\n\r\nMessage-ID: <in body>\r\nDate: z\r\n",
                false,
                false,
            ),
            (b"no header here\r\nDate: x\r\n", false, false),
            (b"", false, false),
            (b"X-Message-ID: no\r\nDates: no\r\n\r\n", false, false),
        ];
        for (msg, id, date) in cases {
            let f = header_facts(msg);
            assert_eq!(
                (f.has_message_id, f.has_date),
                (*id, *date),
                "{}",
                String::from_utf8_lossy(msg)
            );
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
