//! The commands the client writes, as pure functions: HELO/EHLO argument, MAIL FROM and RCPT TO
//! with their ESMTP parameters, AUTH payloads (with a tiny base64 encoder), and dot-stuffing.

use super::extensions::Extensions;
use super::{OutgoingMessage, RecipientOut};
use crate::smtp::address::xtext_encode;
use crate::smtp::reply::{Enhanced, Reply};
use crate::smtp::{Address, Body, Notify, Ret, ReversePath};
use std::net::IpAddr;

/// The EHLO/HELO argument: a name as is (trailing dot removed), an IP address as an address
/// literal (`[192.0.2.1]`, `[IPv6:2001:db8::1]`).
pub fn helo_argument(name: &str) -> String {
    let name = name.trim_end_matches('.');
    match name.parse::<IpAddr>() {
        Ok(IpAddr::V4(ip)) => format!("[{ip}]"),
        Ok(IpAddr::V6(ip)) => format!("[IPv6:{ip}]"),
        Err(_) => name.to_string(),
    }
}

/// True when the message cannot go without SMTPUTF8: the sender asked for it when it was
/// submitted, or an address has non-ASCII characters.
pub fn needs_smtputf8(msg: &OutgoingMessage) -> bool {
    let sender_utf8 = matches!(msg.sender, ReversePath::Mailbox(a) if a.is_utf8());
    msg.params.smtputf8 || sender_utf8 || msg.recipients.iter().any(|r| r.address.is_utf8())
}

/// `MAIL FROM:<a@x.test> SIZE=123 BODY=8BITMIME\r\n`, or the reply that explains why the
/// message cannot be given to this server at all (too big for its SIZE, needs SMTPUTF8, an
/// address with control characters). Parameters are only used when the server offers them.
pub fn mail_command(msg: &OutgoingMessage, ext: &Extensions) -> Result<String, Reply> {
    let size = msg.content.len() as u64;
    if let Some(limit) = ext.size_limit.filter(|&limit| size > limit) {
        return Err(Reply::new(
            552,
            Some(Enhanced::new(5, 3, 4)),
            format!("Message size {size} exceeds the server's fixed limit of {limit} bytes"),
        ));
    }
    if needs_smtputf8(msg) && !ext.smtputf8 {
        return Err(Reply::new(
            553,
            Some(Enhanced::new(5, 6, 7)),
            "The message needs SMTPUTF8 and the server does not offer it",
        ));
    }
    let bad_sender = matches!(msg.sender, ReversePath::Mailbox(a) if has_controls(a));
    if bad_sender || msg.recipients.iter().any(|r| has_controls(&r.address)) {
        return Err(Reply::new(
            501,
            Some(Enhanced::new(5, 1, 3)),
            "An address contains control characters",
        ));
    }
    let mut line = format!("MAIL FROM:{}", msg.sender);
    if ext.size {
        line.push_str(&format!(" SIZE={size}"));
    }
    if msg.params.body == Body::EightBitMime && ext.eight_bit_mime {
        line.push_str(" BODY=8BITMIME");
    }
    if needs_smtputf8(msg) {
        line.push_str(" SMTPUTF8");
    }
    if ext.dsn {
        match msg.params.ret {
            Some(Ret::Full) => line.push_str(" RET=FULL"),
            Some(Ret::Headers) => line.push_str(" RET=HDRS"),
            None => {}
        }
        if let Some(envid) = &msg.params.envid {
            line.push_str(&format!(" ENVID={}", xtext_encode(envid)));
        }
    }
    line.push_str("\r\n");
    Ok(line)
}

fn has_controls(a: &Address) -> bool {
    a.local
        .chars()
        .chain(a.domain.chars())
        .any(char::is_control)
}

/// `RCPT TO:<b@x.test> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;b@x.test\r\n`; the DSN parameters
/// only when the server offers DSN.
pub fn rcpt_command(rcpt: &RecipientOut, ext: &Extensions) -> String {
    let mut line = format!("RCPT TO:<{}>", rcpt.address);
    if ext.dsn {
        if let Some(notify) = rcpt.notify {
            line.push_str(&format!(" NOTIFY={}", notify_value(notify)));
        }
        if let Some(orcpt) = &rcpt.orcpt {
            let value = format!("{};{}", orcpt.addr_type, orcpt.address);
            line.push_str(&format!(" ORCPT={}", xtext_encode(&value)));
        }
    }
    line.push_str("\r\n");
    line
}

fn notify_value(notify: Notify) -> String {
    match notify {
        Notify::Never => "NEVER".to_string(),
        Notify::On {
            success,
            failure,
            delay,
        } => {
            let words = [(success, "SUCCESS"), (failure, "FAILURE"), (delay, "DELAY")];
            let on: Vec<&str> = words.iter().filter(|w| w.0).map(|w| w.1).collect();
            on.join(",")
        }
    }
}

/// The message as it goes on the wire after 354: line ends made CRLF (a bare CR or LF becomes
/// CRLF, so nothing can be smuggled past the receiver), a `.` at the start of a line doubled
/// (RFC 5321 §4.5.2), CRLF added when the content does not end with one, then `.` CRLF.
pub fn dot_stuff(content: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(content.len() + content.len() / 64 + 5);
    let mut line_start = true;
    let mut rest = content;
    while !rest.is_empty() {
        if line_start && rest[0] == b'.' {
            out.push(b'.');
        }
        // Copy the rest of the line in one go; only its end needs a look.
        let Some(end) = rest.iter().position(|&b| b == b'\r' || b == b'\n') else {
            out.extend_from_slice(rest);
            line_start = false;
            break;
        };
        out.extend_from_slice(&rest[..end]);
        out.extend_from_slice(b"\r\n");
        let newline = if rest[end..].starts_with(b"\r\n") {
            2
        } else {
            1
        };
        rest = &rest[end + newline..];
        line_start = true;
    }
    if !line_start {
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b".\r\n");
    out
}

/// Standard base64 (RFC 4648 §4) with padding.
pub fn base64(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let n = (u32::from(chunk[0]) << 16)
            | (u32::from(*chunk.get(1).unwrap_or(&0)) << 8)
            | u32::from(*chunk.get(2).unwrap_or(&0));
        for (i, shift) in [18u32, 12, 6, 0].into_iter().enumerate() {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> shift) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// `AUTH PLAIN base64(\0user\0password)\r\n` (RFC 4616, empty authorization identity).
pub fn auth_plain(username: &str, password: &str) -> String {
    let mut payload = Vec::with_capacity(username.len() + password.len() + 2);
    payload.push(0);
    payload.extend_from_slice(username.as_bytes());
    payload.push(0);
    payload.extend_from_slice(password.as_bytes());
    format!("AUTH PLAIN {}\r\n", base64(&payload))
}

/// One line of the LOGIN exchange: `base64(text)\r\n`.
pub fn auth_login_line(text: &str) -> String {
    format!("{}\r\n", base64(text.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::smtp::{MailParams, Orcpt};

    #[test]
    fn base64_table() {
        let cases: &[(&[u8], &str)] = &[
            (b"", ""),
            (b"f", "Zg=="),
            (b"fo", "Zm8="),
            (b"foo", "Zm9v"),
            (b"foob", "Zm9vYg=="),
            (b"fooba", "Zm9vYmE="),
            (b"foobar", "Zm9vYmFy"),
            (b"\0user\0pass", "AHVzZXIAcGFzcw=="),
            (b"\xff\xfe\xfd", "//79"),
        ];
        for (input, want) in cases {
            assert_eq!(base64(input), *want, "{input:?}");
        }
        assert_eq!(
            auth_plain("user", "pass"),
            "AUTH PLAIN AHVzZXIAcGFzcw==\r\n"
        );
        assert_eq!(auth_login_line("user"), "dXNlcg==\r\n");
    }

    #[test]
    fn dot_stuffing_table() {
        let cases: &[(&[u8], &[u8])] = &[
            (b"", b".\r\n"),
            (b"a\r\n", b"a\r\n.\r\n"),
            (b"a", b"a\r\n.\r\n"),
            (b".\r\n", b"..\r\n.\r\n"),
            (b".a\r\n.\r\n..b\r\n", b"..a\r\n..\r\n...b\r\n.\r\n"),
            (b"x\r\n.y", b"x\r\n..y\r\n.\r\n"),
            (b"a.b\r\n", b"a.b\r\n.\r\n"),
            // Bare LF / CR become CRLF; a dot after them is stuffed too.
            (b"a\n.\nb", b"a\r\n..\r\nb\r\n.\r\n"),
            (b"a\r.\r\n", b"a\r\n..\r\n.\r\n"),
            (b"\r\n\r\n", b"\r\n\r\n.\r\n"),
            (b"", b".\r\n"),
            (b"\r\r\n.", b"\r\n\r\n..\r\n.\r\n"),
            (b"\n\r", b"\r\n\r\n.\r\n"),
            (b"..", b"...\r\n.\r\n"),
        ];
        for (input, want) in cases {
            assert_eq!(
                String::from_utf8_lossy(&dot_stuff(input)),
                String::from_utf8_lossy(want),
                "{:?}",
                String::from_utf8_lossy(input)
            );
        }
    }

    #[test]
    fn helo_argument_table() {
        let cases = [
            ("client.test", "client.test"),
            ("client.test.", "client.test"),
            ("127.0.0.1", "[127.0.0.1]"),
            ("::1", "[IPv6:::1]"),
        ];
        for (input, want) in cases {
            assert_eq!(helo_argument(input), want);
        }
    }

    fn ext(f: impl FnOnce(&mut Extensions)) -> Extensions {
        let mut e = Extensions::default();
        f(&mut e);
        e
    }

    fn rcpt(addr: &str) -> RecipientOut {
        let (local, domain) = addr.split_once('@').unwrap();
        RecipientOut {
            address: Address::new(local, domain),
            notify: Some(Notify::On {
                success: true,
                failure: true,
                delay: false,
            }),
            orcpt: Some(Orcpt {
                addr_type: "rfc822".into(),
                address: format!("{local}+x={local}@{domain}"),
            }),
        }
    }

    #[test]
    fn mail_command_table() {
        let sender = ReversePath::Mailbox(Address::new("a", "x.test"));
        let params = MailParams {
            body: Body::EightBitMime,
            ret: Some(Ret::Headers),
            envid: Some("id 1+2".into()),
            ..MailParams::default()
        };
        let recipients = [rcpt("b@y.test")];
        let msg = OutgoingMessage {
            sender: &sender,
            params: &params,
            recipients: &recipients,
            content: b"Subject: x\r\n\r\nhi\r\n",
        };
        let cases: Vec<(Extensions, &str)> = vec![
            (Extensions::default(), "MAIL FROM:<a@x.test>\r\n"),
            (
                ext(|e| {
                    e.size = true;
                    e.eight_bit_mime = true;
                }),
                "MAIL FROM:<a@x.test> SIZE=18 BODY=8BITMIME\r\n",
            ),
            (
                ext(|e| e.dsn = true),
                "MAIL FROM:<a@x.test> RET=HDRS ENVID=id+201+2B2\r\n",
            ),
            (
                ext(|e| {
                    e.size = true;
                    e.size_limit = Some(18);
                }),
                "MAIL FROM:<a@x.test> SIZE=18\r\n",
            ),
        ];
        for (e, want) in cases {
            assert_eq!(mail_command(&msg, &e).unwrap(), want, "{e:?}");
        }
        let too_small = ext(|e| e.size_limit = Some(17));
        let refusal = mail_command(&msg, &too_small).unwrap_err();
        assert_eq!(
            (refusal.code, refusal.enhanced),
            (552, Some(Enhanced::new(5, 3, 4)))
        );
    }

    #[test]
    fn smtputf8_needed_and_offered_or_refused() {
        let sender = ReversePath::Mailbox(Address::new("jörg", "x.test"));
        let params = MailParams::default();
        let msg = OutgoingMessage {
            sender: &sender,
            params: &params,
            recipients: &[],
            content: b"",
        };
        let refusal = mail_command(&msg, &Extensions::default()).unwrap_err();
        assert_eq!(
            (refusal.code, refusal.enhanced),
            (553, Some(Enhanced::new(5, 6, 7)))
        );
        let offered = ext(|e| e.smtputf8 = true);
        assert_eq!(
            mail_command(&msg, &offered).unwrap(),
            "MAIL FROM:<jörg@x.test> SMTPUTF8\r\n"
        );
        let null = ReversePath::Null;
        let plain = OutgoingMessage {
            sender: &null,
            ..msg
        };
        assert_eq!(mail_command(&plain, &offered).unwrap(), "MAIL FROM:<>\r\n");
    }

    #[test]
    fn control_characters_are_refused() {
        let sender = ReversePath::Mailbox(Address::new("a\r\nRSET", "x.test"));
        let params = MailParams::default();
        let msg = OutgoingMessage {
            sender: &sender,
            params: &params,
            recipients: &[],
            content: b"",
        };
        assert_eq!(
            mail_command(&msg, &Extensions::default()).unwrap_err().code,
            501
        );
    }

    #[test]
    fn rcpt_command_table() {
        let r = rcpt("b@y.test");
        assert_eq!(
            rcpt_command(&r, &Extensions::default()),
            "RCPT TO:<b@y.test>\r\n"
        );
        assert_eq!(
            rcpt_command(&r, &ext(|e| e.dsn = true)),
            "RCPT TO:<b@y.test> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;b+2Bx+3Db@y.test\r\n"
        );
        let never = RecipientOut {
            notify: Some(Notify::Never),
            orcpt: None,
            ..r
        };
        assert_eq!(
            rcpt_command(&never, &ext(|e| e.dsn = true)),
            "RCPT TO:<b@y.test> NOTIFY=NEVER\r\n"
        );
    }
}
