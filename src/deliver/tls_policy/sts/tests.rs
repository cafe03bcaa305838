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
