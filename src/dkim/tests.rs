//! Table tests of canonicalization, `h=` selection, signer choice and key loading, and the
//! proof by a verifier nobody here wrote: Python's dkimpy checks our RSA-2048 and Ed25519
//! signatures, and fails them once the message is altered. Keys are made at test time. Without
//! dkimpy those tests skip, saying so, except under CI (`CI` set), where .ci/run installs it.

use super::canon::{self, Canon, Field};
use super::*;
use crate::time::Timestamp;
use rsa::pkcs1::EncodeRsaPrivateKey;
use rsa::pkcs8::LineEnding;
use std::path::Path;
use std::sync::OnceLock;

#[path = "../../tests/common/dkimpy.rs"]
pub(crate) mod dkimpy;
use dkimpy::dkimpy;

const NOW: u64 = 1_796_000_000;

fn canonical(message: &[u8], c: (Canon, Canon)) -> (String, String) {
    let (fields, body) = canon::split(message);
    let head: Vec<u8> = fields.iter().flat_map(|f| canon::header(f, c.0)).collect();
    let mut out = Vec::new();
    canon::body(body, c.1, &mut |p| out.extend_from_slice(p));
    (
        String::from_utf8_lossy(&head).into_owned(),
        String::from_utf8_lossy(&out).into_owned(),
    )
}

#[test]
fn canonicalization_table() {
    use Canon::{Relaxed as R, Simple as S};
    // RFC 6376 §3.4.5's example first, then the cases the issue names.
    let rfc: &[u8] = b"A: X\r\nB : Y\t\r\n\tZ  \r\n\r\n C \r\nD \t E\r\n\r\n\r\n";
    let cases: &[(&str, &[u8], Canon, &str, &str)] = &[
        ("rfc relaxed", rfc, R, "a:X\r\nb:Y Z\r\n", " C\r\nD E\r\n"),
        (
            "rfc simple",
            rfc,
            S,
            "A: X\r\nB : Y\t\r\n\tZ  \r\n",
            " C \r\nD \t E\r\n",
        ),
        (
            "empty body",
            b"Subject: x\r\n\r\n",
            S,
            "Subject: x\r\n",
            "\r\n",
        ),
        ("empty body", b"Subject: x\r\n\r\n", R, "subject:x\r\n", ""),
        (
            "no body, no blank",
            b"Subject: x\r\n",
            R,
            "subject:x\r\n",
            "",
        ),
        (
            "trailing blank lines",
            b"S: x\r\n\r\nhi\r\n\r\n \r\n\r\n",
            S,
            "S: x\r\n",
            "hi\r\n\r\n \r\n",
        ),
        (
            "trailing blank lines",
            b"S: x\r\n\r\nhi\r\n\r\n \r\n\r\n",
            R,
            "s:x\r\n",
            "hi\r\n",
        ),
        (
            "inner blank lines kept",
            b"S: x\r\n\r\na\r\n\r\n\r\nb\r\n",
            R,
            "s:x\r\n",
            "a\r\n\r\n\r\nb\r\n",
        ),
        (
            "no final CRLF",
            b"S: x\r\n\r\nlast line",
            S,
            "S: x\r\n",
            "last line\r\n",
        ),
        (
            "no final CRLF",
            b"S: x\r\n\r\nlast  line ",
            R,
            "s:x\r\n",
            "last line\r\n",
        ),
        (
            "8-bit",
            b"S: \xc3\xa9t\xc3\xa9\r\n\r\ncaf\xc3\xa9 \xff\r\n",
            R,
            "s:\u{e9}t\u{e9}\r\n",
            "caf\u{e9} \u{fffd}\r\n",
        ),
        (
            "bare LF as on the wire",
            b"S: x\n y\n\na\nb",
            S,
            "S: x\r\n y\r\n",
            "a\r\nb\r\n",
        ),
        (
            "folded header",
            b"Subject: one\r\n  two\r\n\tthree\r\n\r\n",
            R,
            "subject:one two three\r\n",
            "",
        ),
        (
            "empty value",
            b"X-Empty:\r\nY:   \r\n\r\n",
            R,
            "x-empty:\r\ny:\r\n",
            "",
        ),
    ];
    for &(what, message, c, head, body) in cases {
        assert_eq!(
            canonical(message, (c, c)),
            (head.into(), body.into()),
            "{what} {c:?}"
        );
    }
}

#[test]
fn duplicate_headers_are_selected_bottom_up() {
    let message = b"To: first\r\nSubject: s\r\nTo: second\r\nTo: third\r\n\r\n";
    let (fields, _) = canon::split(message);
    let value = |f: Option<&Field<'_>>| f.map(|f| String::from_utf8_lossy(f.lines[0]).into_owned());
    // (h= names, the lines they stand for)
    let cases: &[(&[&str], &[Option<&str>])] = &[
        (&["to"], &[Some("To: third")]),
        (&["To", "TO"], &[Some("To: third"), Some("To: second")]),
        (
            &["to", "subject", "to", "to", "to"],
            &[
                Some("To: third"),
                Some("Subject: s"),
                Some("To: second"),
                Some("To: first"),
                None,
            ],
        ),
        (&["cc"], &[None]),
    ];
    for (names, expected) in cases {
        let got: Vec<_> = canon::select(&fields, names)
            .into_iter()
            .map(value)
            .collect();
        let expected: Vec<_> = expected.iter().map(|e| e.map(String::from)).collect();
        assert_eq!(got, expected, "{names:?}");
    }
}

pub(crate) fn ed25519() -> PrivateKey {
    PrivateKey::generate(Algorithm::Ed25519Sha256, 0).unwrap()
}

/// One RSA-2048 key for all tests (making one takes a moment).
fn rsa_pem() -> &'static str {
    static PEM: OnceLock<String> = OnceLock::new();
    PEM.get_or_init(|| {
        PrivateKey::generate(Algorithm::RsaSha256, 2048)
            .unwrap()
            .to_pem()
            .unwrap()
    })
}

pub(crate) fn rsa() -> PrivateKey {
    key::parse_pem(rsa_pem()).unwrap()
}

fn signer(domain: &str, selector: &str, scope: Scope) -> Signer {
    Signer {
        scope,
        ..Signer::new(domain, selector, ed25519()).unwrap()
    }
}

#[test]
fn h_lists_what_is_present_and_signs_from_once_more() {
    let s = signer("a.test", "s", Scope::Domain);
    let cases: &[(&[u8], &str)] = &[
        (
            b"From: a@a.test\r\nTo: b@b.test\r\nX-Other: 1\r\n\r\n",
            "From:From:To",
        ),
        (
            b"To: b@b.test\r\nto: c@b.test\r\nFROM: a@a.test\r\nSubject: x\r\n\r\n",
            "From:From:To:To:Subject",
        ),
        (b"Subject: no from\r\n\r\n", "From:Subject"),
        (
            b"From: a\r\nFrom: b\r\nDate: d\r\nMessage-ID: <m>\r\nReceived: r\r\n\r\n",
            "From:From:From:Date:Message-ID",
        ),
    ];
    for (message, expected) in cases {
        let (fields, _) = canon::split(message);
        assert_eq!(s.signed_names(&fields).join(":"), *expected);
    }
    let mut custom = s.clone();
    custom.headers = vec!["subject".into(), "SUBJECT".into()];
    let (fields, _) = canon::split(b"Subject: x\r\nFrom: a\r\n\r\n");
    assert_eq!(custom.signed_names(&fields).join(":"), "subject:From:From");
}

#[test]
fn the_most_specific_domain_signs_with_all_its_selectors() {
    let signers = vec![
        signer("example.test", "rsa", Scope::Domain),
        signer("example.test", "ed", Scope::Domain),
        signer("mail.example.test", "m", Scope::Domain),
        signer("other.test", "o", Scope::Domain),
        signer("fallback.test", "star", Scope::Everything),
    ];
    let cases: &[(Option<&str>, &[&str])] = &[
        (Some("example.test"), &["rsa", "ed"]),
        (Some("EXAMPLE.test."), &["rsa", "ed"]),
        (Some("deep.sub.example.test"), &["rsa", "ed"]),
        (Some("mail.example.test"), &["m"]),
        (Some("x.mail.example.test"), &["m"]),
        (Some("badexample.test"), &["star"]),
        (Some("other.test"), &["o"]),
        (Some("unknown.test"), &["star"]),
        (Some("fallback.test"), &["star"]),
        (None, &["star"]),
    ];
    for (from, expected) in cases {
        let got: Vec<&str> = choose(&signers, *from)
            .iter()
            .map(|s| s.selector.as_str())
            .collect();
        assert_eq!(got, *expected, "{from:?}");
    }
    assert!(choose(&signers[..4], Some("unknown.test")).is_empty());
}

#[test]
fn from_domain_table() {
    let cases: &[(&[u8], Option<&str>)] = &[
        (b"From: a@Example.TEST\r\n\r\n", Some("example.test")),
        (b"From: \"A, B\" <a@x.test>\r\n\r\n", Some("x.test")),
        (b"From: A <a@x.test>, B <b@y.test>\r\n\r\n", Some("x.test")),
        (b"From: a@x.test (Alice)\r\n\r\n", Some("x.test")),
        (
            b"Subject: x\r\nfrom:\r\n <folded@z.test>\r\n\r\n",
            Some("z.test"),
        ),
        (b"From: no address\r\n\r\n", None),
        (b"Subject: none\r\n\r\nFrom: a@body.test\r\n", None),
    ];
    for (message, expected) in cases {
        assert_eq!(
            from_domain(message).as_deref(),
            *expected,
            "{}",
            String::from_utf8_lossy(message)
        );
    }
}

#[test]
fn names_that_cannot_go_in_a_header_are_refused() {
    for (domain, selector) in [
        ("a;b.test", "s"),
        ("a.test", "s x"),
        ("", "s"),
        ("a..test", "s"),
        ("a.test", ""),
    ] {
        assert!(
            matches!(
                Signer::new(domain, selector, ed25519()),
                Err(DkimError::BadName(_))
            ),
            "{domain} {selector}"
        );
    }
    assert_eq!(
        Signer::new("Mail.Example.TEST.", "s_1", ed25519())
            .unwrap()
            .domain,
        "mail.example.test"
    );
}

#[test]
fn keys_load_from_pem_or_say_why_not() {
    let rsa_key = rsa();
    let PrivateKey::Rsa(inner) = &rsa_key else {
        panic!()
    };
    let pkcs1 = inner.to_pkcs1_pem(LineEnding::LF).unwrap().to_string();
    let small = rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 768).unwrap();
    let small = small.to_pkcs1_pem(LineEnding::LF).unwrap().to_string();
    let ed = ed25519().to_pem().unwrap();
    let public = "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEAGb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE=\n-----END PUBLIC KEY-----\n";
    // (PEM, the algorithm it loads as, or the start of the error)
    let cases: Vec<(&str, Result<Algorithm, &str>)> = vec![
        (rsa_pem(), Ok(Algorithm::RsaSha256)),
        (&pkcs1, Ok(Algorithm::RsaSha256)),
        (&ed, Ok(Algorithm::Ed25519Sha256)),
        (&small, Err("an RSA key of 768 bits")),
        (public, Err("not a private key: a \"PUBLIC KEY\"")),
        ("hello\n", Err("not a private key: no PEM block")),
        (
            "-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----\n",
            Err("unsupported key"),
        ),
        (
            "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n",
            Err("unsupported key: an encrypted"),
        ),
        (
            "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
            Err("not a private key: damaged"),
        ),
    ];
    for (pem, expected) in cases {
        let got = key::parse_pem(pem)
            .map(|k| k.algorithm())
            .map_err(|e| e.to_string());
        match (&got, expected) {
            (Ok(a), Ok(b)) => assert_eq!(*a, b),
            (Err(e), Err(start)) => assert!(e.starts_with(start), "{e} / {start}"),
            _ => panic!("{got:?} for {pem}"),
        }
    }
    // An EC key in PKCS#8 (openssl genpkey -algorithm EC; a throwaway test key).
    let ec = "-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgevZzL1gdAFr88hb2\nOF/2NxApJCzGCEDdfSp6VQO30hyhRANCAAQRWz+jn65BtOMvdyHKcvjBeBSDZH2r\n1RTwjmYSi9R7zpBnuQ0SMtGCsnvGsXS4tq8eANsh9vBZbAvqphtASlXf\n-----END PRIVATE KEY-----\n";
    let err = key::parse_pem(ec).unwrap_err();
    assert!(matches!(err, DkimError::Unsupported(_)), "{err}");
    let missing = key::load(Path::new("/nonexistent.invalid/k.pem")).unwrap_err();
    assert!(matches!(missing, DkimError::Unreadable { .. }), "{missing}");
    assert!(
        format!("{rsa_key:?}").contains("2048 bits") && !format!("{rsa_key:?}").contains("BEGIN")
    );
}

#[test]
fn the_header_is_folded_and_carries_every_tag() {
    let mut s = Signer::new("example.test", "sel", rsa()).unwrap();
    s.expire = Some(std::time::Duration::from_secs(86400));
    let message = b"From: a@example.test\r\nTo: b@b.test\r\nSubject: hi\r\n\r\nbody\r\n";
    let header = String::from_utf8(s.sign(message, Timestamp::from_secs(NOW)).unwrap()).unwrap();
    assert!(
        header.starts_with("DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed;"),
        "{header}"
    );
    assert!(
        header.ends_with("\r\n") && !header.ends_with("\r\n\r\n"),
        "{header}"
    );
    for tag in [
        "d=example.test;",
        "s=sel;",
        &format!("t={NOW};"),
        &format!("x={};", NOW + 86400),
        "h=From:From:To:Subject;",
        "bh=",
        " b=",
    ] {
        assert!(header.contains(tag), "{tag} in {header}");
    }
    for line in header.trim_end().split("\r\n") {
        assert!(line.len() <= 78, "{line}");
    }
    let (fields, _) = canon::split(header.as_bytes());
    assert_eq!(fields.len(), 1, "one field: {header}");
    // Pure: the same message and time give the same bytes.
    assert_eq!(
        s.sign(message, Timestamp::from_secs(NOW)).unwrap(),
        header.as_bytes()
    );
}

/// The message as the receiver gets it: every line end CRLF (the delivery's `dot_stuff`).
fn wire(message: &[u8]) -> Vec<u8> {
    canon::lines(message)
        .flat_map(|l| [l, b"\r\n"])
        .collect::<Vec<_>>()
        .concat()
}

/// The DNS TXT record line for the dkimpy script.
pub(crate) fn record(s: &Signer) -> String {
    format!(
        "{}._domainkey.{}\t{}\n",
        s.selector,
        s.domain,
        s.key.dns_record().unwrap()
    )
}

#[test]
fn dkimpy_verifies_rsa_and_ed25519_and_fails_altered_messages() {
    let messages: &[(&str, &[u8])] = &[
        ("plain", b"From: Alice <alice@example.test>\r\nTo: bob@b.test\r\nSubject: hello\r\nDate: Tue, 1 Dec 2026 10:00:00 +0000\r\nMessage-ID: <1@example.test>\r\n\r\nHello Bob.\r\n"),
        ("folded headers", b"From: alice@example.test\r\nSubject: a subject\r\n  that is folded\r\n\tover three lines\r\nTo: b@b.test,\r\n c@c.test\r\n\r\nbody\r\n"),
        ("empty body", b"From: alice@example.test\r\nSubject: nothing\r\n\r\n"),
        ("trailing blank lines", b"From: alice@example.test\r\nSubject: x\r\n\r\ntext\r\n\r\n  \r\n\r\n"),
        ("8-bit", b"From: alice@example.test\r\nSubject: \xc3\xa9t\xc3\xa9\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\nCaf\xc3\xa9   cr\xc3\xa8me \t\r\n"),
        ("no final CRLF", b"From: alice@example.test\r\nSubject: x\r\n\r\nno line end"),
        ("bare LF", b"From: alice@example.test\nSubject: x\n\nline\nline\n"),
        ("duplicate headers", b"From: alice@example.test\r\nTo: one@b.test\r\nSubject: x\r\nTo: two@b.test\r\nDKIM-Signature: v=1; an=old; b=\r\n\r\nbody\r\n"),
    ];
    let mut signers = Vec::new();
    for (c, selector) in [(Canon::Relaxed, "rr"), (Canon::Simple, "ss")] {
        for (key, alg) in [(rsa(), "rsa"), (ed25519(), "ed")] {
            let mut s = Signer::new("example.test", &format!("{selector}-{alg}"), key).unwrap();
            s.canonicalization = (c, c);
            s.expire = Some(std::time::Duration::from_secs(3600 * 24 * 365 * 50));
            signers.push(s);
        }
    }
    let records: String = signers.iter().map(record).collect();
    let now = Timestamp::now();
    for (what, message) in messages {
        let mut signed = Vec::new();
        for s in &signers {
            signed.extend(s.sign(message, now).unwrap());
        }
        signed.extend_from_slice(message);
        let signed = wire(&signed);
        let Some(verdicts) = dkimpy(&signed, &records) else {
            return;
        };
        // Ours are the four on top; a client's signature below (here a broken one) stays.
        assert_eq!(
            verdicts[..4],
            [true; 4],
            "{what}:\n{}",
            String::from_utf8_lossy(&signed)
        );

        let altered: &[(&str, &[u8], &[u8])] = &[
            ("body", b"\r\n\r\n", b"\r\n\r\nP.S. added\r\n"),
            ("subject", b"Subject: ", b"Subject: Re: "),
            (
                "a From above",
                b"From: ",
                b"From: mallory@evil.test\r\nFrom: ",
            ),
        ];
        for (how, from, to) in altered {
            let text = String::from_utf8_lossy(&signed).replacen(
                &*String::from_utf8_lossy(from),
                &String::from_utf8_lossy(to),
                1,
            );
            let Some(verdicts) = dkimpy(text.as_bytes(), &records) else {
                return;
            };
            // Only the body changes when the header block ends the message (`empty body`).
            if text.as_bytes() != &signed[..] {
                assert_eq!(verdicts[..4], [false; 4], "{what}, {how} altered");
            }
        }
    }
}
