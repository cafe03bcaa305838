//! What the client says for a message, given what the server offers: the MAIL FROM and
//! RCPT TO commands with the parameters the server understands (or the reply that explains
//! why the message cannot go to it at all), and the AUTH lines. The lines themselves are
//! written by `smtp::command` and `smtp::sasl`, which the server parses back.

use super::{OutgoingMessage, RecipientOut};
use crate::smtp::command::Command;
use crate::smtp::extensions::Extensions;
use crate::smtp::reply::{Enhanced, Reply};
use crate::smtp::{Address, Body, MailParams, RcptParams, ReversePath, sasl};

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
    let params = MailParams {
        size: ext.size.then_some(size),
        body: match ext.eight_bit_mime {
            true => msg.params.body,
            false => Body::SevenBit,
        },
        smtputf8: needs_smtputf8(msg),
        ret: msg.params.ret.filter(|_| ext.dsn),
        envid: msg.params.envid.clone().filter(|_| ext.dsn),
        auth: None,
    };
    let from = msg.sender.clone();
    Ok(Command::Mail { from, params }.line())
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
    let params = RcptParams {
        notify: rcpt.notify.filter(|_| ext.dsn),
        orcpt: rcpt.orcpt.clone().filter(|_| ext.dsn),
    };
    let to = rcpt.address.clone();
    Command::Rcpt { to, params }.line()
}

/// `AUTH PLAIN base64(\0user\0password)\r\n` (RFC 4616, empty authorization identity).
pub fn auth_plain(username: &str, password: &str) -> String {
    let initial = Some(sasl::plain_response(username, password));
    let mechanism = "PLAIN".to_string();
    Command::Auth { mechanism, initial }.line()
}

/// One line of the LOGIN exchange: `base64(text)\r\n`.
pub fn auth_login_line(text: &str) -> String {
    format!("{}\r\n", sasl::login_response(text))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::smtp::{Notify, Orcpt, Ret};

    #[test]
    fn auth_lines() {
        assert_eq!(
            auth_plain("user", "pass"),
            "AUTH PLAIN AHVzZXIAcGFzcw==\r\n"
        );
        assert_eq!(auth_login_line("user"), "dXNlcg==\r\n");
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

    /// What the client writes for a message parses back, on the server's side, into the
    /// message's own values.
    #[test]
    fn the_server_reads_back_what_the_client_writes() {
        use crate::smtp::command::parse_command;
        let sender = ReversePath::Mailbox(Address::new("jörg", "x.test"));
        let params = MailParams {
            body: Body::EightBitMime,
            ret: Some(Ret::Full),
            envid: Some("id 1+2=3".into()),
            ..MailParams::default()
        };
        let recipients = [rcpt("b@y.test"), rcpt("c@y.test")];
        let msg = OutgoingMessage {
            sender: &sender,
            params: &params,
            recipients: &recipients,
            content: b"Subject: x\r\n\r\nhi\r\n",
        };
        let all = ext(|e| {
            e.size = true;
            e.eight_bit_mime = true;
            e.smtputf8 = true;
            e.dsn = true;
        });
        let line = mail_command(&msg, &all).unwrap();
        let want = MailParams {
            size: Some(msg.content.len() as u64),
            smtputf8: true,
            ..params.clone()
        };
        assert_eq!(
            parse_command(line.trim_end().as_bytes()),
            Ok(Command::Mail {
                from: sender.clone(),
                params: want
            })
        );
        for r in &recipients {
            let line = rcpt_command(r, &all);
            let params = RcptParams {
                notify: r.notify,
                orcpt: r.orcpt.clone(),
            };
            let to = r.address.clone();
            let want = Command::Rcpt { to, params };
            assert_eq!(parse_command(line.trim_end().as_bytes()), Ok(want));
        }
        let line = auth_plain("alice", "s3cret");
        let Ok(Command::Auth { mechanism, initial }) = parse_command(line.trim_end().as_bytes())
        else {
            panic!("not AUTH: {line:?}")
        };
        let credentials = sasl::Credentials {
            user: "alice".into(),
            password: "s3cret".into(),
        };
        assert_eq!(
            sasl::start(&mechanism, initial.as_deref()),
            Ok(sasl::Step::Done(credentials))
        );
    }
}
