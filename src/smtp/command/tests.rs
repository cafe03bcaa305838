//! Round trips: every command written by `write` is parsed back by `parse` into the same
//! value, including every line the client sends.

use super::*;
use crate::smtp::{Body, Notify, Orcpt, Ret};

fn mailbox(local: &str, domain: &str) -> ReversePath {
    ReversePath::Mailbox(Address::new(local, domain))
}

fn mail(from: ReversePath, f: fn(&mut MailParams)) -> Command {
    let mut params = MailParams::default();
    f(&mut params);
    Command::Mail { from, params }
}

fn rcpt(local: &str, f: fn(&mut RcptParams)) -> Command {
    let mut params = RcptParams::default();
    f(&mut params);
    let to = Address::new(local, "y.test");
    Command::Rcpt { to, params }
}

fn orcpt(addr_type: &str, address: &str) -> Option<Orcpt> {
    Some(Orcpt {
        addr_type: addr_type.into(),
        address: address.into(),
    })
}

fn on(success: bool, failure: bool, delay: bool) -> Option<Notify> {
    Some(Notify::On {
        success,
        failure,
        delay,
    })
}

fn commands() -> Vec<Command> {
    let auth = |mechanism: &str, initial: Option<&str>| Command::Auth {
        mechanism: mechanism.into(),
        initial: initial.map(String::from),
    };
    vec![
        Command::Ehlo("client.test".into()),
        Command::Ehlo(helo_argument("192.0.2.1")),
        Command::Ehlo(helo_argument("2001:db8::1")),
        Command::Helo("client.test".into()),
        mail(mailbox("a", "x.test"), |_| {}),
        mail(ReversePath::Null, |_| {}),
        mail(mailbox("a", "x.test"), |p| p.size = Some(18)),
        mail(mailbox("a", "x.test"), |p| p.size = Some(0)),
        mail(mailbox("a", "x.test"), |p| p.body = Body::EightBitMime),
        mail(mailbox("jörg", "x.test"), |p| p.smtputf8 = true),
        mail(mailbox("a", "x.test"), |p| p.ret = Some(Ret::Full)),
        mail(mailbox("a", "x.test"), |p| p.ret = Some(Ret::Headers)),
        mail(mailbox("a", "x.test"), |p| {
            p.envid = Some("id 1+2=3".into())
        }),
        mail(ReversePath::Null, |p| p.auth = Some("<>".into())),
        mail(ReversePath::Null, |p| p.auth = Some("e=mc2@x.test".into())),
        mail(mailbox("a", "x.test"), |p| {
            p.size = Some(u64::MAX);
            p.body = Body::EightBitMime;
            p.smtputf8 = true;
            p.ret = Some(Ret::Headers);
            p.envid = Some("QQ314159+1".into());
        }),
        rcpt("b", |_| {}),
        rcpt("b", |p| p.notify = Some(Notify::Never)),
        rcpt("b", |p| p.notify = on(true, false, false)),
        rcpt("b", |p| p.notify = on(false, true, true)),
        rcpt("b", |p| p.notify = on(true, true, true)),
        rcpt("b", |p| p.orcpt = orcpt("rfc822", "b+x=b@y.test")),
        rcpt("b", |p| {
            p.notify = on(true, true, false);
            p.orcpt = orcpt("rfc822", "b b@y.test");
        }),
        rcpt("jös", |p| p.orcpt = orcpt("utf-8", "jös@y.test")),
        Command::Rcpt {
            to: Address::new("postmaster", ""),
            params: RcptParams::default(),
        },
        Command::Data,
        Command::Bdat {
            size: 0,
            last: true,
        },
        Command::Bdat {
            size: 65536,
            last: false,
        },
        Command::Rset,
        Command::Noop,
        Command::Quit,
        Command::Help,
        Command::Vrfy("bob".into()),
        Command::Expn("list".into()),
        Command::StartTls,
        auth("PLAIN", None),
        auth("PLAIN", Some("AHVzZXIAcGFzcw==")),
        auth("PLAIN", Some("=")),
        auth("LOGIN", None),
        auth("LOGIN", Some("dXNlcg==")),
    ]
}

#[test]
fn what_is_written_parses_back_the_same() {
    for command in commands() {
        let line = command.line();
        let bare = line
            .strip_suffix("\r\n")
            .unwrap_or_else(|| panic!("{line:?} ends with CRLF"));
        assert!(!bare.contains(['\r', '\n']), "{line:?}");
        assert_eq!(
            parse_command(bare.as_bytes()),
            Ok(command.clone()),
            "{line:?}"
        );
    }
}

/// The lines the client writes as they are (`client/mod.rs`, `client/transaction.rs`) are the
/// ones `write` makes.
#[test]
fn the_client_lines_are_the_written_commands() {
    let name = helo_argument("client.test.");
    let cases = [
        (format!("EHLO {name}\r\n"), Command::Ehlo(name.clone())),
        (format!("HELO {name}\r\n"), Command::Helo(name.clone())),
        ("DATA\r\n".into(), Command::Data),
        ("RSET\r\n".into(), Command::Rset),
        ("QUIT\r\n".into(), Command::Quit),
        ("STARTTLS\r\n".into(), Command::StartTls),
        (
            "AUTH LOGIN\r\n".into(),
            Command::Auth {
                mechanism: "LOGIN".into(),
                initial: None,
            },
        ),
    ];
    for (line, command) in cases {
        assert_eq!(command.line(), line);
        assert_eq!(parse_command(line.trim_end().as_bytes()), Ok(command));
    }
}

#[test]
fn written_lines_table() {
    let cases = [
        (
            mail(mailbox("a", "x.test"), |p| {
                p.size = Some(18);
                p.body = Body::EightBitMime;
                p.ret = Some(Ret::Headers);
                p.envid = Some("id 1+2".into());
            }),
            "MAIL FROM:<a@x.test> SIZE=18 BODY=8BITMIME RET=HDRS ENVID=id+201+2B2",
        ),
        (
            mail(ReversePath::Null, |p| p.body = Body::SevenBit),
            "MAIL FROM:<>",
        ),
        (
            rcpt("b", |p| {
                p.notify = on(true, true, false);
                p.orcpt = orcpt("rfc822", "b+x=b@y.test");
            }),
            "RCPT TO:<b@y.test> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;b+2Bx+3Db@y.test",
        ),
    ];
    for (command, want) in cases {
        assert_eq!(command.to_string(), want);
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
