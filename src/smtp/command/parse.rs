//! The SMTP command-line parser: one line in, one `Command` (or the reason it is bad) out.
//!
//! The verb is case-insensitive and separated from its arguments by spaces. Trailing spaces
//! are ignored (some clients send `QUIT `). MAIL/RCPT arguments are parsed in `address`.

use super::Command;
use crate::smtp::CommandError;
use crate::smtp::address::{parse_mail_args, parse_rcpt_args};

/// The verbs we know.
const VERBS: [(&str, Verb); 14] = [
    ("EHLO", Verb::Ehlo),
    ("HELO", Verb::Helo),
    ("MAIL", Verb::Mail),
    ("RCPT", Verb::Rcpt),
    ("DATA", Verb::Data),
    ("BDAT", Verb::Bdat),
    ("RSET", Verb::Rset),
    ("NOOP", Verb::Noop),
    ("QUIT", Verb::Quit),
    ("HELP", Verb::Help),
    ("VRFY", Verb::Vrfy),
    ("EXPN", Verb::Expn),
    ("STARTTLS", Verb::StartTls),
    ("AUTH", Verb::Auth),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verb {
    Ehlo,
    Helo,
    Mail,
    Rcpt,
    Data,
    Bdat,
    Rset,
    Noop,
    Quit,
    Help,
    Vrfy,
    Expn,
    StartTls,
    Auth,
}

/// Parses one command line, given WITHOUT its CRLF.
pub fn parse_command(line: &[u8]) -> Result<Command, CommandError> {
    let verb_end = line.iter().position(|&b| b == b' ').unwrap_or(line.len());
    let verb_bytes = &line[..verb_end];
    let verb = VERBS
        .iter()
        .find(|(name, _)| name.as_bytes().eq_ignore_ascii_case(verb_bytes))
        .map(|&(_, v)| v)
        .ok_or(CommandError::Unrecognized)?;
    let args = std::str::from_utf8(&line[verb_end..])
        .map_err(|_| CommandError::Syntax("invalid UTF-8"))?
        .trim_start_matches(' ')
        .trim_end_matches([' ', '\t']);
    match verb {
        Verb::Ehlo => one_token(args, "EHLO needs a domain").map(Command::Ehlo),
        Verb::Helo => one_token(args, "HELO needs a domain").map(Command::Helo),
        Verb::Mail => {
            let rest = strip_keyword(args, "FROM:")
                .ok_or(CommandError::Syntax("expected MAIL FROM:<address>"))?;
            let (from, params) = parse_mail_args(rest)?;
            Ok(Command::Mail { from, params })
        }
        Verb::Rcpt => {
            let rest = strip_keyword(args, "TO:")
                .ok_or(CommandError::Syntax("expected RCPT TO:<address>"))?;
            let (to, params) = parse_rcpt_args(rest)?;
            Ok(Command::Rcpt { to, params })
        }
        Verb::Data => no_args(args, Command::Data),
        Verb::Bdat => parse_bdat(args),
        Verb::Rset => no_args(args, Command::Rset),
        Verb::Quit => no_args(args, Command::Quit),
        Verb::StartTls => no_args(args, Command::StartTls),
        Verb::Noop => Ok(Command::Noop),
        Verb::Help => Ok(Command::Help),
        Verb::Vrfy => non_empty(args, "VRFY needs an argument").map(Command::Vrfy),
        Verb::Expn => non_empty(args, "EXPN needs an argument").map(Command::Expn),
        Verb::Auth => parse_auth(args),
    }
}

/// `args` with a case-insensitive `keyword` prefix removed.
fn strip_keyword<'a>(args: &'a str, keyword: &str) -> Option<&'a str> {
    let head = args.get(..keyword.len())?;
    head.eq_ignore_ascii_case(keyword)
        .then(|| &args[keyword.len()..])
}

fn no_args(args: &str, command: Command) -> Result<Command, CommandError> {
    if args.is_empty() {
        Ok(command)
    } else {
        Err(CommandError::Syntax("no arguments allowed"))
    }
}

fn non_empty(args: &str, reason: &'static str) -> Result<String, CommandError> {
    if args.is_empty() {
        Err(CommandError::Syntax(reason))
    } else {
        Ok(args.to_string())
    }
}

/// Exactly one token without spaces or control characters.
fn one_token(args: &str, reason: &'static str) -> Result<String, CommandError> {
    let token = non_empty(args, reason)?;
    if token.chars().any(|c| c == ' ' || c.is_control()) {
        return Err(CommandError::Syntax("one domain expected"));
    }
    Ok(token)
}

/// `BDAT chunk-size [LAST]` (RFC 3030 §2: `chunk-size ::= 1*DIGIT`, `end-marker ::= "LAST"`).
fn parse_bdat(args: &str) -> Result<Command, CommandError> {
    let mut parts = args.split(' ').filter(|p| !p.is_empty());
    let size = parts
        .next()
        .ok_or(CommandError::Syntax("BDAT needs a chunk size"))?;
    if !size.bytes().all(|b| b.is_ascii_digit()) {
        return Err(CommandError::Syntax("BDAT chunk size must be a number"));
    }
    let size = size
        .parse()
        .map_err(|_| CommandError::Syntax("BDAT chunk size is too large"))?;
    let last = match parts.next() {
        None => false,
        Some(marker) if marker.eq_ignore_ascii_case("LAST") => true,
        Some(_) => return Err(CommandError::Syntax("BDAT takes only LAST after the size")),
    };
    if parts.next().is_some() {
        return Err(CommandError::Syntax("BDAT takes only LAST after the size"));
    }
    Ok(Command::Bdat { size, last })
}

/// `AUTH mechanism [initial-response]`.
fn parse_auth(args: &str) -> Result<Command, CommandError> {
    let mut parts = args.split(' ').filter(|p| !p.is_empty());
    let mechanism = parts
        .next()
        .ok_or(CommandError::Syntax("AUTH needs a mechanism"))?;
    let initial = parts.next().map(str::to_string);
    if parts.next().is_some() {
        return Err(CommandError::Syntax("too many AUTH arguments"));
    }
    let mech_ok = mechanism
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if !mech_ok || mechanism.len() > 20 {
        return Err(CommandError::Syntax("bad AUTH mechanism name"));
    }
    Ok(Command::Auth {
        mechanism: mechanism.to_ascii_uppercase(),
        initial,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::smtp::{Address, Body, MailParams, Notify, Orcpt, RcptParams, Ret, ReversePath};
    use CommandError::*;

    /// MAIL FROM:`args` through the whole parser.
    fn mail(args: &str) -> Result<(ReversePath, MailParams), CommandError> {
        match parse_command(format!("MAIL FROM:{args}").as_bytes())? {
            Command::Mail { from, params } => Ok((from, params)),
            other => panic!("not MAIL: {other:?}"),
        }
    }

    /// RCPT TO:`args` through the whole parser.
    fn rcpt(args: &str) -> Result<(Address, RcptParams), CommandError> {
        match parse_command(format!("RCPT TO:{args}").as_bytes())? {
            Command::Rcpt { to, params } => Ok((to, params)),
            other => panic!("not RCPT: {other:?}"),
        }
    }

    fn auth(mechanism: &str, initial: Option<&str>) -> Command {
        Command::Auth {
            mechanism: mechanism.into(),
            initial: initial.map(String::from),
        }
    }

    fn bdat(size: u64, last: bool) -> Command {
        Command::Bdat { size, last }
    }

    #[test]
    fn commands() {
        let a = Address::new("a", "b.test");
        let mail = |from| {
            Ok(Command::Mail {
                from,
                params: MailParams::default(),
            })
        };
        let rcpt = |to| {
            Ok(Command::Rcpt {
                to,
                params: RcptParams::default(),
            })
        };
        let table: Vec<(&[u8], Result<Command, CommandError>)> = vec![
            (
                b"EHLO mx.example.test",
                Ok(Command::Ehlo("mx.example.test".into())),
            ),
            (b"ehlo [192.0.2.1]", Ok(Command::Ehlo("[192.0.2.1]".into()))),
            (b"HeLo  x ", Ok(Command::Helo("x".into()))),
            (b"EHLO", Err(Syntax("EHLO needs a domain"))),
            (b"HELO ", Err(Syntax("HELO needs a domain"))),
            (b"EHLO a b", Err(Syntax("one domain expected"))),
            (
                b"MAIL FROM:<a@b.test>",
                mail(ReversePath::Mailbox(a.clone())),
            ),
            (
                b"mail from: <a@b.test>",
                mail(ReversePath::Mailbox(a.clone())),
            ),
            (b"MAIL FROM:<>", mail(ReversePath::Null)),
            (
                b"MAIL TO:<a@b.test>",
                Err(Syntax("expected MAIL FROM:<address>")),
            ),
            (b"MAIL", Err(Syntax("expected MAIL FROM:<address>"))),
            (b"MAIL FROM:", Err(BadSender)),
            (b"MAIL FROM:a@b.test", Err(BadSender)),
            (b"RCPT TO:<a@b.test>", rcpt(a.clone())),
            (
                b"rcpt to: <postmaster>",
                rcpt(Address::new("postmaster", "")),
            ),
            (
                b"RCPT FROM:<a@b.test>",
                Err(Syntax("expected RCPT TO:<address>")),
            ),
            (b"RCPT TO:<>", Err(BadRecipient)),
            (b"DATA", Ok(Command::Data)),
            (b"data ", Ok(Command::Data)),
            (b"DATA x", Err(Syntax("no arguments allowed"))),
            (b"BDAT 0 LAST", Ok(bdat(0, true))),
            (b"bdat 1000 last", Ok(bdat(1000, true))),
            (b"BDAT 18446744073709551615", Ok(bdat(u64::MAX, false))),
            (
                b"BDAT 18446744073709551616",
                Err(Syntax("BDAT chunk size is too large")),
            ),
            (b"BDAT", Err(Syntax("BDAT needs a chunk size"))),
            (
                b"BDAT LAST",
                Err(Syntax("BDAT chunk size must be a number")),
            ),
            (b"BDAT -1", Err(Syntax("BDAT chunk size must be a number"))),
            (b"BDAT +1", Err(Syntax("BDAT chunk size must be a number"))),
            (
                b"BDAT 10 FIRST",
                Err(Syntax("BDAT takes only LAST after the size")),
            ),
            (
                b"BDAT 10 LAST x",
                Err(Syntax("BDAT takes only LAST after the size")),
            ),
            (b"RSET", Ok(Command::Rset)),
            (b"RSET now", Err(Syntax("no arguments allowed"))),
            (b"QUIT", Ok(Command::Quit)),
            (b"QUIT bye", Err(Syntax("no arguments allowed"))),
            (b"STARTTLS", Ok(Command::StartTls)),
            (b"StartTLS x", Err(Syntax("no arguments allowed"))),
            (b"NOOP", Ok(Command::Noop)),
            (b"NOOP anything at all", Ok(Command::Noop)),
            (b"HELP", Ok(Command::Help)),
            (b"HELP MAIL", Ok(Command::Help)),
            (b"VRFY bob", Ok(Command::Vrfy("bob".into()))),
            (b"VRFY", Err(Syntax("VRFY needs an argument"))),
            (b"EXPN list", Ok(Command::Expn("list".into()))),
            (b"AUTH PLAIN", Ok(auth("PLAIN", None))),
            (b"auth login dXNlcg==", Ok(auth("LOGIN", Some("dXNlcg==")))),
            (b"AUTH PLAIN =", Ok(auth("PLAIN", Some("=")))),
            (b"AUTH", Err(Syntax("AUTH needs a mechanism"))),
            (b"AUTH PLAIN a b", Err(Syntax("too many AUTH arguments"))),
            (b"AUTH PL@IN", Err(Syntax("bad AUTH mechanism name"))),
            (b"", Err(Unrecognized)),
            (b" ", Err(Unrecognized)),
            (b"QUITX", Err(Unrecognized)),
            (b"FOO bar", Err(Unrecognized)),
            (b"GET / HTTP/1.1", Err(Unrecognized)),
            (b"\xff\xfe", Err(Unrecognized)),
            (b"VRFY \xff", Err(Syntax("invalid UTF-8"))),
            (b"MAIL FROM:<a\xff@b.test>", Err(Syntax("invalid UTF-8"))),
            (b"NOOP \xff", Err(Syntax("invalid UTF-8"))),
        ];
        for (line, want) in table {
            assert_eq!(parse_command(line), want, "{}", line.escape_ascii());
        }
    }

    #[test]
    fn mail_params() {
        let p = |f: fn(&mut MailParams)| {
            let mut m = MailParams::default();
            f(&mut m);
            Ok(m)
        };
        let table: Vec<(&str, Result<MailParams, CommandError>)> = vec![
            ("", Ok(MailParams::default())),
            (" SIZE=1000", p(|m| m.size = Some(1000))),
            ("  size=0  ", p(|m| m.size = Some(0))),
            (" SIZE=99999999999999999999", p(|m| m.size = Some(u64::MAX))),
            (
                " SIZE=123456789012345678901",
                Err(Syntax("SIZE must be a number")),
            ),
            (" SIZE=-1", Err(Syntax("SIZE must be a number"))),
            (" SIZE", Err(Syntax("SIZE needs a value"))),
            (" SIZE=", Err(Syntax("malformed parameter value"))),
            (" BODY=8bitmime", p(|m| m.body = Body::EightBitMime)),
            (" BODY=7BIT", p(|m| m.body = Body::SevenBit)),
            (
                " BODY=BINARYMIME",
                Err(Syntax("BODY must be 7BIT or 8BITMIME")),
            ),
            (" SMTPUTF8", p(|m| m.smtputf8 = true)),
            (" SMTPUTF8=yes", Err(Syntax("SMTPUTF8 takes no value"))),
            (" RET=FULL", p(|m| m.ret = Some(Ret::Full))),
            (" ret=hdrs", p(|m| m.ret = Some(Ret::Headers))),
            (" RET=ALL", Err(Syntax("RET must be FULL or HDRS"))),
            (
                " ENVID=QQ314159+2B1",
                p(|m| m.envid = Some("QQ314159+1".into())),
            ),
            (" ENVID=a+2", Err(Syntax("ENVID is not valid xtext"))),
            (
                " ENVID=a+0A",
                Err(Syntax("ENVID must be 1 to 100 printable ASCII characters")),
            ),
            (" AUTH=<>", p(|m| m.auth = Some("<>".into()))),
            (
                " AUTH=e+3Dmc2@x.test",
                p(|m| m.auth = Some("e=mc2@x.test".into())),
            ),
            (" SIZE=1 SIZE=2", Err(Syntax("duplicate parameter"))),
            (" size=1 SIZE=1", Err(Syntax("duplicate parameter"))),
            (" X-FOO=bar", Err(UnknownParameter("X-FOO".into()))),
            (" notify=never", Err(UnknownParameter("NOTIFY".into()))),
            (" =x", Err(Syntax("malformed parameter name"))),
            (" A_B=1", Err(Syntax("malformed parameter name"))),
            (" SIZE=1=2", Err(Syntax("malformed parameter value"))),
        ];
        for (input, want) in table {
            let got = mail(&format!("<a@b.test>{input}")).map(|(_, p)| p);
            assert_eq!(got, want, "{input}");
        }
        let envid = format!(" ENVID={}", "x".repeat(100));
        assert!(mail(&format!("<>{envid}")).is_ok());
        assert!(mail(&format!("<>{envid}x")).is_err());
        let all = "<> SIZE=5 BODY=8BITMIME SMTPUTF8 RET=HDRS ENVID=id AUTH=<>";
        let (from, params) = mail(all).unwrap();
        assert_eq!(from, ReversePath::Null);
        assert_eq!(
            (params.size, params.ret, params.envid.as_deref()),
            (Some(5), Some(Ret::Headers), Some("id"))
        );
    }

    #[test]
    fn rcpt_params() {
        let on = |success, failure, delay| {
            Some(Notify::On {
                success,
                failure,
                delay,
            })
        };
        let orcpt = |t: &str, a: &str| {
            Some(Orcpt {
                addr_type: t.into(),
                address: a.into(),
            })
        };
        type Want = Result<(Option<Notify>, Option<Orcpt>), CommandError>;
        let table: Vec<(&str, Want)> = vec![
            ("", Ok((None, None))),
            (" NOTIFY=NEVER", Ok((Some(Notify::Never), None))),
            (" NOTIFY=success,Delay", Ok((on(true, false, true), None))),
            (
                " NOTIFY=FAILURE,FAILURE",
                Ok((on(false, true, false), None)),
            ),
            (
                " NOTIFY=SUCCESS,FAILURE,DELAY",
                Ok((on(true, true, true), None)),
            ),
            (
                " NOTIFY=NEVER,DELAY",
                Err(Syntax("NOTIFY=NEVER cannot be combined")),
            ),
            (
                " NOTIFY=SOMETIMES",
                Err(Syntax("NOTIFY must be NEVER or SUCCESS,FAILURE,DELAY")),
            ),
            (
                " NOTIFY=SUCCESS,",
                Err(Syntax("NOTIFY must be NEVER or SUCCESS,FAILURE,DELAY")),
            ),
            (" NOTIFY", Err(Syntax("NOTIFY needs a value"))),
            (
                " ORCPT=rfc822;a+2Bb@x.test",
                Ok((None, orcpt("rfc822", "a+b@x.test"))),
            ),
            (
                " ORCPT=RFC822;a@x.test",
                Ok((None, orcpt("rfc822", "a@x.test"))),
            ),
            (
                " ORCPT=utf-8;j\\x{F6}s@x.test",
                Ok((None, orcpt("utf-8", "jös@x.test"))),
            ),
            (
                " ORCPT=rfc822;",
                Err(Syntax("ORCPT address is empty or has control characters")),
            ),
            (" ORCPT=a@x.test", Err(Syntax("ORCPT needs type;address"))),
            (
                " ORCPT=;a@x.test",
                Err(Syntax("ORCPT address type is not an atom")),
            ),
            (
                " ORCPT=rfc822;a+zz",
                Err(Syntax("ORCPT address is not valid xtext")),
            ),
            (
                " NOTIFY=NEVER NOTIFY=NEVER",
                Err(Syntax("duplicate parameter")),
            ),
            (" SIZE=1", Err(UnknownParameter("SIZE".into()))),
        ];
        for (input, want) in table {
            let got = rcpt(&format!("<a@b.test>{input}")).map(|(_, p)| (p.notify, p.orcpt));
            assert_eq!(got, want, "{input}");
        }
        let long = format!(" ORCPT=rfc822;{}", "a".repeat(493));
        assert!(rcpt(&format!("<a@b.test>{long}")).is_ok());
        assert!(rcpt(&format!("<a@b.test>{long}a")).is_err());
    }
}
