use super::*;
use crate::doctor::facts::Probe;
use crate::doctor::spf::Evaluation;
use crate::transcript::{Failure, FailureKind};

const IP: &str = "192.0.2.7";
const KEY: &str = "v=DKIM1; k=ed25519; p=AAAA";

fn ip() -> IpAddr {
    IP.parse().unwrap()
}

fn nx(name: &str) -> DnsError {
    DnsError::NxDomain { name: name.into() }
}

fn answered(saw: Option<&str>) -> ProbeOutcome {
    ProbeOutcome::Answered {
        greeting: "220 mx.b.test".into(),
        saw: saw.map(|s| s.parse().unwrap()),
    }
}

fn probes(outcomes: Vec<ProbeOutcome>) -> Vec<MxProbes> {
    let hosts = outcomes
        .into_iter()
        .enumerate()
        .map(|(i, outcome)| Probe {
            host: format!("mx{i}.b.test"),
            addr: format!("127.0.0.{}:25", 50 + i).parse().unwrap(),
            outcome,
        })
        .collect();
    vec![MxProbes {
        domain: "b.test".into(),
        hosts: Ok(hosts),
    }]
}

fn pass() -> Evaluation {
    Evaluation {
        record: Some(format!("v=spf1 ip4:{IP} -all")),
        result: Some(SpfResult::Pass),
        matched: Some(format!("ip4:{IP}")),
    }
}

fn key(published: Result<Vec<String>, DnsError>) -> DkimFacts {
    DkimFacts {
        section: "a.test".into(),
        signs_as: "a.test".into(),
        selector: "s".into(),
        expected: Ok(KEY.into()),
        published,
    }
}

/// Everything right.
fn good() -> Facts {
    Facts {
        sender: Some("a.test".into()),
        helo_name: "mail.a.test".into(),
        port25: probes(vec![answered(Some(IP))]),
        configured_address: None,
        ptr: Some(Ok(vec!["mail.a.test".into()])),
        ptr_forward: vec![("mail.a.test".into(), Ok(vec![ip()]))],
        helo_addresses: Ok(vec![ip()]),
        spf: Some(pass()),
        dkim: vec![key(Ok(vec![KEY.replace("; p=", "; p= ")]))],
        dmarc: Some((
            "_dmarc.a.test".into(),
            Ok(vec!["v=DMARC1; p=reject".into()]),
        )),
        relays: vec![RelayFacts {
            name: "isp".into(),
            server: "smtp.isp.test:587".into(),
            login: true,
            result: Ok(true),
        }],
    }
}

/// The verdict of the first finding whose check starts with `check`.
fn verdict(f: &Facts, check: &str) -> (Verdict, String) {
    let all = judge(f);
    let found = all
        .iter()
        .find(|x| x.check.starts_with(check))
        .unwrap_or_else(|| panic!("no {check} in {all:#?}"));
    let fix = found.fix.as_deref().unwrap_or("");
    (found.verdict, format!("{} / fix: {fix}", found.what))
}

#[test]
fn all_right_is_all_ok() {
    let findings = judge(&good());
    assert!(
        findings.iter().all(|f| f.verdict == Verdict::Ok),
        "{findings:#?}"
    );
    let checks: Vec<&str> = findings.iter().map(|f| f.check.as_str()).collect();
    assert_eq!(
        checks,
        [
            "port 25",
            "public address",
            "PTR",
            "HELO name",
            "SPF",
            "DKIM s._domainkey.a.test",
            "DMARC",
            "DMARC alignment",
            "relay isp"
        ]
    );
}

/// Each case changes the good facts and names the check, its verdict and words it must say.
#[test]
fn each_fault_gets_its_verdict_and_fix() {
    type Change = fn(&mut Facts);
    let mut cases: Vec<(&str, Change, Verdict, &str)> = vec![
        (
            "port 25",
            |f| {
                f.port25 = probes(vec![
                    ProbeOutcome::Refused("connection refused".into()),
                    ProbeOutcome::Silent("no greeting within 6s".into()),
                ])
            },
            Verdict::Problem,
            "your network blocks port 25",
        ),
        (
            "port 25",
            |f| f.port25 = probes(vec![ProbeOutcome::Other("554 go away".into())]),
            Verdict::Problem,
            "no MX host would talk to us",
        ),
        (
            "port 25",
            |f| f.port25 = Vec::new(),
            Verdict::Warning,
            "--to gmail.com",
        ),
        (
            "port 25",
            |f| {
                f.port25 = vec![MxProbes {
                    domain: "b.test".into(),
                    hosts: Err(nx("b.test")),
                }]
            },
            Verdict::Warning,
            "no MX host found",
        ),
        (
            "public address",
            |f| f.port25 = probes(vec![answered(None)]),
            Verdict::Warning,
            "public_address = YOUR.PUBLIC.IP",
        ),
        (
            "public address",
            |f| f.configured_address = Some("198.51.100.1".parse().unwrap()),
            Verdict::Warning,
            "public_address = 192.0.2.7",
        ),
        (
            "PTR",
            |f| f.ptr = Some(Ok(Vec::new())),
            Verdict::Problem,
            "has no PTR",
        ),
        (
            "PTR",
            |f| f.ptr = Some(Err(nx("7.2.0.192.in-addr.arpa"))),
            Verdict::Problem,
            "set its PTR to mail.a.test",
        ),
        (
            "PTR",
            |f| f.ptr_forward = vec![("mail.a.test".into(), Ok(vec![]))],
            Verdict::Problem,
            "publish mail.a.test. IN A 192.0.2.7",
        ),
        (
            "HELO name",
            |f| f.helo_addresses = Err(nx("mail.a.test")),
            Verdict::Problem,
            "does not resolve to 192.0.2.7",
        ),
        (
            "HELO name",
            |f| {
                f.ptr = Some(Ok(vec!["host-7.isp.test".into()]));
                f.ptr_forward = vec![("host-7.isp.test".into(), Ok(vec![ip()]))];
            },
            Verdict::Warning,
            "helo_name = host-7.isp.test",
        ),
        (
            "SPF",
            |f| {
                f.spf = Some(Evaluation {
                    record: None,
                    result: Some(SpfResult::None),
                    matched: None,
                })
            },
            Verdict::Problem,
            "v=spf1 ip4:192.0.2.7 ~all",
        ),
        (
            "SPF",
            |f| {
                f.spf = Some(Evaluation {
                    record: Some("v=spf1 -all".into()),
                    result: Some(SpfResult::Fail),
                    matched: Some("-all".into()),
                })
            },
            Verdict::Problem,
            "add ip4:192.0.2.7",
        ),
        (
            "SPF",
            |f| {
                f.spf = Some(Evaluation {
                    record: Some("v=spf1 ?all".into()),
                    result: Some(SpfResult::Neutral),
                    matched: Some("?all".into()),
                })
            },
            Verdict::Warning,
            "neutral",
        ),
        (
            "SPF",
            |f| {
                f.spf = Some(Evaluation {
                    record: Some("v=spf1 bogus".into()),
                    result: Some(SpfResult::PermError("\"bogus\" is not".into())),
                    matched: None,
                })
            },
            Verdict::Problem,
            "is broken",
        ),
        (
            "DKIM s.",
            |f| f.dkim = vec![key(Ok(vec![]))],
            Verdict::Problem,
            "publish s._domainkey.a.test. IN TXT \"v=DKIM1; k=ed25519; p=AAAA\"",
        ),
        (
            "DKIM s.",
            |f| f.dkim = vec![key(Ok(vec!["v=DKIM1; k=ed25519; p=BBBB".into()]))],
            Verdict::Problem,
            "not the configured key's",
        ),
        (
            "DKIM s.",
            |f| f.dkim = vec![key(Ok(vec!["v=DKIM1; p=".into()]))],
            Verdict::Problem,
            "revoked",
        ),
        (
            "DKIM",
            |f| f.dkim = Vec::new(),
            Verdict::Problem,
            "qksmtp dkim-keygen a.test",
        ),
        (
            "DMARC",
            |f| f.dmarc = Some(("_dmarc.a.test".into(), Err(nx("_dmarc.a.test")))),
            Verdict::Warning,
            "v=DMARC1; p=none",
        ),
        (
            "DMARC",
            |f| f.dmarc = Some(("_dmarc.a.test".into(), Ok(vec!["v=DMARC1; rua=x".into()]))),
            Verdict::Problem,
            "no valid p=",
        ),
        (
            "DMARC",
            |f| f.dmarc = Some(("_dmarc.a.test".into(), Ok(vec!["v=DMARC1; p=none".into()]))),
            Verdict::Ok,
            "only report",
        ),
        (
            "DMARC alignment",
            |f| {
                f.spf = None;
                f.dkim = vec![key(Ok(vec![]))];
            },
            Verdict::Problem,
            "fails DMARC",
        ),
        (
            "DMARC alignment",
            |f| f.spf = None,
            Verdict::Ok,
            "DKIM (d=a.test)",
        ),
        (
            "relay isp",
            |f| {
                f.relays[0].result = Err(Failure::new(
                    StepKind::Auth,
                    FailureKind::Protocol("535".into()),
                ))
            },
            Verdict::Problem,
            "check username, password",
        ),
        (
            "relay isp",
            |f| {
                f.relays[0].result = Err(Failure::new(
                    StepKind::StartTls,
                    FailureKind::Protocol("not offered".into()),
                ))
            },
            Verdict::Problem,
            "tls_verify = no",
        ),
    ];
    cases.push((
        "relay isp",
        |f| f.relays[0].result = Ok(false),
        Verdict::Warning,
        "the password travels unencrypted",
    ));
    for (check, change, want, words) in cases {
        let mut f = good();
        change(&mut f);
        let (got, text) = verdict(&f, check);
        assert_eq!(got, want, "{check}: {text}");
        assert!(text.contains(words), "{check}: no {words:?} in {text}");
    }
}

#[test]
fn organizational_domains() {
    for (d, org) in [
        ("a.test", "a.test"),
        ("mail.a.test", "a.test"),
        ("x.y.a.test", "a.test"),
        ("test", "test"),
    ] {
        assert_eq!(organizational(d), org);
    }
}
