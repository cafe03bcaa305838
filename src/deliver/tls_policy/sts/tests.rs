//! Table tests of the MTA-STS parsers: the TXT record, the policy file, the `*.` rule.

use super::*;

fn txt(records: &[&str]) -> Vec<String> {
    records.iter().map(|r| r.to_string()).collect()
}

#[test]
fn txt_records() {
    let cases: &[(&[&str], Option<&str>)] = &[
        (&["v=STSv1; id=20240101T000000"], Some("20240101T000000")),
        (&["v=STSv1;id=abc"], Some("abc")),
        (&["v=STSv1; id=abc;"], Some("abc")),
        (&["v=STSv1; id=abc; ext=1"], Some("abc")),
        (&["v=spf1 -all", "v=STSv1; id=abc"], Some("abc")),
        (&["v=STSv1; id=abc", "v=STSv1; id=def"], None),
        (&["v=STSv1"], None),
        (&["v=STSv1; id="], None),
        (&["v=STSv1; id=has space"], None),
        (&["v=STSv1; id=a-b"], None),
        (&["v=STSv1; id=123456789012345678901234567890123"], None),
        (&["v=STSv2; id=abc"], None),
        (&[], None),
    ];
    for (records, want) in cases {
        assert_eq!(record_id(&txt(records)).as_deref(), *want, "{records:?}");
    }
}

#[test]
fn policies() {
    let ok = |mode, mx: &[&str], secs| {
        Ok(Policy {
            mode,
            mx: mx.iter().map(|m| m.to_string()).collect(),
            max_age: Duration::from_secs(secs),
        })
    };
    let err = |e: &str| Err(e.to_string());
    let cases = [
        (
            "version: STSv1\r\nmode: enforce\r\nmx: mx.example.test\r\nmax_age: 86400\r\n",
            ok(Mode::Enforce, &["mx.example.test"], 86400),
        ),
        (
            "version: STSv1\nmode: testing\nmx: *.Example.TEST\nmx: mx2.example.test.\nmax_age: 604800\n",
            ok(
                Mode::Testing,
                &["*.example.test", "mx2.example.test"],
                604800,
            ),
        ),
        (
            "version: STSv1\nmode: none\nmax_age: 0\n",
            ok(Mode::None, &[], 0),
        ),
        (
            "version: STSv1\nmode: enforce\nmx: a.test\nmax_age: 31557600\nunknown: field\n",
            ok(Mode::Enforce, &["a.test"], 31557600),
        ),
        (
            "version:STSv1\nmode:enforce\nmx:a.test\nmax_age:60",
            ok(Mode::Enforce, &["a.test"], 60),
        ),
        (
            "version: STSv2\nmode: enforce\nmx: a.test\nmax_age: 60\n",
            err("version \"STSv2\", not STSv1"),
        ),
        (
            "mode: enforce\nmx: a.test\nmax_age: 60\n",
            err("no version"),
        ),
        (
            "version: STSv1\nmode: strict\nmx: a.test\nmax_age: 60\n",
            err("mode \"strict\", not enforce, testing or none"),
        ),
        ("version: STSv1\nmx: a.test\nmax_age: 60\n", err("no mode")),
        (
            "version: STSv1\nmode: enforce\nmx: a.test\n",
            err("no max_age"),
        ),
        (
            "version: STSv1\nmode: enforce\nmx: a.test\nmax_age: 31557601\n",
            err("max_age 31557601 is above 31557600"),
        ),
        (
            "version: STSv1\nmode: enforce\nmx: a.test\nmax_age: -1\n",
            err("max_age \"-1\" is not a number of seconds"),
        ),
        (
            "version: STSv1\nmode: enforce\nmx: a.test\nmax_age: 1d\n",
            err("max_age \"1d\" is not a number of seconds"),
        ),
        ("version: STSv1\nmode: enforce\nmax_age: 60\n", err("no mx")),
        (
            "version: STSv1\nmode: enforce\nmx: a..test\nmax_age: 60\n",
            err("mx \"a..test\" is not a host name or *.name"),
        ),
        (
            "version: STSv1\nmode: enforce\nmx: mx.*.test\nmax_age: 60\n",
            err("mx \"mx.*.test\" is not a host name or *.name"),
        ),
        (
            "<html>not a policy</html>\n",
            err("line \"<html>not a policy</html>\" is not `key: value`"),
        ),
    ];
    for (text, want) in cases {
        assert_eq!(parse(text), want, "{text:?}");
    }
}

#[test]
fn mx_patterns() {
    let policy = parse(
        "version: STSv1\nmode: enforce\nmx: mx1.example.test\nmx: *.mail.example.test\nmax_age: 60\n",
    )
    .unwrap();
    let cases = [
        ("mx1.example.test", true),
        ("MX1.Example.Test.", true),
        ("mx2.example.test", false),
        ("a.mail.example.test", true),
        ("mail.example.test", false),
        ("b.a.mail.example.test", false),
        ("a.mail.example.test.evil.test", false),
        ("example.test", false),
    ];
    for (host, want) in cases {
        assert_eq!(policy.allows(host), want, "{host}");
    }
}

#[path = "../../../../tests/common/sts_resolver.rs"]
mod sts_resolver;

/// Our reading of a policy served as an HTTPS body: the fetch's checks, then the parser;
/// in the cross-check's form (mode, max_age, mx).
fn ours(text: &str) -> sts_resolver::Verdict {
    let raw = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n{text}",
        text.len()
    );
    let body = crate::deliver::tls_policy::fetch::response(raw.as_bytes()).ok()?;
    let p = parse(&body).ok()?;
    Some((p.mode.to_string(), p.max_age.as_secs(), p.mx))
}

/// Whether postfix-mta-sts-resolver reads a policy as we do.
enum Same {
    Yes,
    /// It does not; RFC 8461 decides, and says whether the policy is valid (`true`) or not.
    No {
        rfc_valid: bool,
        why: &'static str,
    },
}

/// The same policy texts to postfix-mta-sts-resolver and to us: the same accept/refuse and the
/// same mode, max_age and mx (the resolver keeps mx values as written; compared lower-cased
/// without a trailing dot, as matching does). Where it reads otherwise, RFC 8461 decides, the
/// row says why, and the difference must still be there (else the row is out of date).
#[test]
fn cross_checked_with_postfix_mta_sts_resolver() {
    let policy = |lines: &[&str], end: &str| lines.iter().map(|l| format!("{l}{end}")).collect();
    let base = [
        "version: STSv1",
        "mode: enforce",
        "mx: mx.example.test",
        "max_age: 86400",
    ];
    let with = |replace: &str, by: &str| -> String {
        let lines: Vec<&str> = base
            .iter()
            .map(|l| if l.starts_with(replace) { by } else { l })
            .collect();
        policy(&lines, "\n")
    };
    let without = |key: &str| -> String {
        let lines: Vec<&str> = base
            .iter()
            .copied()
            .filter(|l| !l.starts_with(key))
            .collect();
        policy(&lines, "\n")
    };
    // Unknown lines pad a policy to a size: 64 KiB exactly is taken, one byte more is not.
    let sized = |size: usize| {
        let head = policy(&base, "\n");
        let pad = size - head.len() - "pad: \n".len();
        format!("{head}pad: {}\n", "x".repeat(pad))
    };
    let limit = crate::deliver::tls_policy::fetch::SIZE_LIMIT;
    let cases: Vec<(&str, String, Same)> = vec![
        ("CRLF", policy(&base, "\r\n"), Same::Yes),
        ("LF", policy(&base, "\n"), Same::Yes),
        (
            "no final line end",
            policy(&base, "\n").trim_end().to_string(),
            Same::Yes,
        ),
        (
            "testing, two mx, *.",
            with("mx:", "mx: mx.example.test\nmx: *.backup.example.test")
                .replace("enforce", "testing"),
            Same::Yes,
        ),
        (
            "mode none without mx",
            without("mx:").replace("enforce", "none"),
            Same::Yes,
        ),
        (
            "unknown keys",
            with("max_age", "max_age: 86400\nfoo: bar\nx-ext: 1"),
            Same::Yes,
        ),
        ("blank lines", with("mode", "\nmode: enforce\n"), Same::Yes),
        (
            "spaces around the value",
            with("mode", "mode:    enforce   "),
            Same::Yes,
        ),
        (
            "mx in capitals, trailing dot",
            with("mx:", "mx: MX.Example.TEST."),
            Same::Yes,
        ),
        (
            "mx twice",
            with("mx:", "mx: mx.example.test\nmx: mx.example.test"),
            Same::Yes,
        ),
        ("no version", without("version"), Same::Yes),
        (
            "version STSv2",
            with("version", "version: STSv2"),
            Same::Yes,
        ),
        ("no mode", without("mode"), Same::Yes),
        ("mode Enforce", with("mode", "mode: Enforce"), Same::Yes),
        ("mode bogus", with("mode", "mode: strict"), Same::Yes),
        ("no max_age", without("max_age"), Same::Yes),
        ("max_age 0", with("max_age", "max_age: 0"), Same::Yes),
        (
            "max_age at the limit",
            with("max_age", "max_age: 31557600"),
            Same::Yes,
        ),
        (
            "max_age above the limit",
            with("max_age", "max_age: 31557601"),
            Same::Yes,
        ),
        (
            "max_age negative",
            with("max_age", "max_age: -1"),
            Same::Yes,
        ),
        (
            "max_age not a number",
            with("max_age", "max_age: 1d"),
            Same::Yes,
        ),
        ("enforce without mx", without("mx:"), Same::Yes),
        ("64 KiB", sized(limit), Same::Yes),
        ("64 KiB and one byte", sized(limit + 1), Same::Yes),
        (
            "max_age +86400",
            with("max_age", "max_age: +86400"),
            Same::No {
                rfc_valid: false,
                why: "§3.2 max-age-value = 1*10(DIGIT): no sign",
            },
        ),
        (
            "max_age 86_400",
            with("max_age", "max_age: 86_400"),
            Same::No {
                rfc_valid: false,
                why: "§3.2 1*10(DIGIT): Python's int() takes underscores",
            },
        ),
        (
            "max_age in 11 digits",
            with("max_age", "max_age: 00000086400"),
            Same::No {
                rfc_valid: false,
                why: "§3.2 1*10(DIGIT): at most ten digits",
            },
        ),
        (
            "mx empty",
            with("mx:", "mx: "),
            Same::No {
                rfc_valid: false,
                why: "§3.2 mx-value = [\"*.\"] Domain: not empty",
            },
        ),
        (
            "mx with a space",
            with("mx:", "mx: mx example test"),
            Same::No {
                rfc_valid: false,
                why: "§3.2 mx-value is a Domain",
            },
        ),
        (
            "mx *.*.",
            with("mx:", "mx: *.*.example.test"),
            Same::No {
                rfc_valid: false,
                why: "§3.2 [\"*.\"] Domain and §4.1: one wildcard label",
            },
        ),
        (
            "a line without a colon",
            with("mode", "mode: enforce\ngarbage"),
            Same::No {
                rfc_valid: false,
                why: "§3.2 every line is field-name \":\" value",
            },
        ),
        (
            "bare CR line ends",
            policy(&base, "\r"),
            Same::No {
                rfc_valid: false,
                why: "§3.2 sts-policy-term = LF / CRLF (Python's splitlines also splits at CR)",
            },
        ),
        (
            "mode twice",
            with("mode", "mode: testing\nmode: enforce"),
            Same::No {
                rfc_valid: true,
                why: "RFC 8461 does not say; ours keeps the first, the resolver the last \
                      (both read a policy, with different modes)",
            },
        ),
    ];
    let texts: Vec<String> = cases.iter().map(|(_, text, _)| text.clone()).collect();
    let Some(theirs) = sts_resolver::sts_resolver(&texts) else {
        return;
    };
    let normal = |v: sts_resolver::Verdict| {
        v.map(|(mode, age, mx)| {
            let mx = mx
                .iter()
                .map(|m| m.trim_end_matches('.').to_ascii_lowercase())
                .collect();
            (mode, age, mx)
        })
    };
    for ((name, text, same), theirs) in cases.iter().zip(theirs) {
        let (ours, theirs) = (ours(text), normal(theirs));
        match same {
            Same::Yes => assert_eq!(ours, theirs, "{name}: {text:?}"),
            Same::No { rfc_valid, why } => {
                assert_ne!(
                    ours, theirs,
                    "{name} ({why}) now reads the same: update the row"
                );
                assert_eq!(ours.is_some(), *rfc_valid, "{name}: {why}: {ours:?}");
            }
        }
    }
}
