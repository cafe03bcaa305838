//! Golden-file tests of rendered notices (tests/data/bounce/*.eml; `UPDATE_GOLDEN=1` rewrites
//! them), the NOTIFY rules, and the parse of every golden file by a MIME parser nobody here
//! wrote (Python's `email` package, through tests/data/bounce/parse_dsn.py).

use super::*;
use crate::dns::DnsError;
use crate::smtp::reply::{Enhanced, Reply};
use crate::smtp::{Address, MailParams, Orcpt};
use crate::spool::envelope::{MessageKind, RecipientState};
use crate::spool::id::MessageId;
use crate::transcript::StepKind;
use std::path::PathBuf;
use std::time::Duration;

const ORIGINAL: &[u8] = b"Received: from laptop.sender.test ([127.0.0.1])\r\n\tby mx.qksmtp.test (qksmtp) with ESMTP id 0194F2A3B4C5D001; Mon, 23 Nov 2026 07:37:00 +0000\r\n\
Message-ID: <report-42@sender.test>\r\nDate: Mon, 23 Nov 2026 07:36:58 +0000\r\nFrom: Alice <alice@sender.test>\r\n\
To: Bob <bob@a.test>\r\nSubject: Quarterly report\r\n\r\nHello Bob,\r\n\r\nthe report is attached.\r\n";

fn arrival() -> Timestamp {
    Timestamp::from_secs(1_795_419_420)
}

fn at(secs: u64) -> Timestamp {
    arrival().plus(Duration::from_secs(secs))
}

fn envelope(rcpts: &[&str]) -> Envelope {
    Envelope {
        id: MessageId::parse("0194F2A3B4C5D001").unwrap(),
        arrival: arrival(),
        sender: ReversePath::Mailbox(Address::new("alice", "sender.test")),
        client_ip: "127.0.0.1".parse().unwrap(),
        helo: "laptop.sender.test".into(),
        auth_user: None,
        local_user: None,
        size: ORIGINAL.len() as u64,
        params: MailParams::default(),
        recipients: rcpts
            .iter()
            .map(|a| {
                let (l, d) = a.split_once('@').unwrap();
                let mut r = Recipient::new(Address::new(l, d), None, None);
                r.direct_tries = 1;
                r
            })
            .collect(),
        kind: MessageKind::Mail,
        held: false,
        subject: Some("Hello".into()),
    }
}

fn rcpt_reply(route: &str, code: u16, e: (u8, u16, u16), text: &str) -> Outcome {
    let reply = Reply::new(code, Some(Enhanced::new(e.0, e.1, e.2)), text);
    Outcome::from_reply(StepKind::Rcpt, route, &reply)
}

const MX1: &str = "mx1.a.test [192.0.2.1]:25";

fn failed(index: usize, outcome: Outcome, why: GiveUp) -> Reported {
    Reported {
        index,
        action: Action::Failed,
        outcome: Some(outcome),
        why: Some(why),
    }
}

fn notice(envelope: Envelope, recipients: Vec<Reported>) -> Notice {
    Notice {
        envelope,
        recipients,
        retry_until: None,
    }
}

fn hard_bounce() -> Notice {
    let o = rcpt_reply(MX1, 550, (5, 1, 1), "No such user");
    notice(
        envelope(&["bob@a.test"]),
        vec![failed(0, o, GiveUp::Permanent)],
    )
}

fn soft_bounce() -> Notice {
    let mut env = envelope(&["carol@a.test"]);
    env.recipients[0].direct_tries = 8;
    let o = rcpt_reply(MX1, 452, (4, 2, 2), "Mailbox full, try again later");
    notice(env, vec![failed(0, o, GiveUp::AttemptsUsedUp)])
}

/// The soft bounce as rebuilt after a restart (it could not be written before): no outcome
/// in memory, only what the envelope kept (the last result, its status, why it ended).
fn soft_bounce_after_restart() -> Notice {
    let mut env = envelope(&["carol@a.test"]);
    let r = &mut env.recipients[0];
    r.state = RecipientState::Failed;
    r.direct_tries = 8;
    // The last attempt, 15 minutes before the notice could be written.
    r.last_attempt = Some(at(97_200));
    r.last_result = Some("452 4.2.2 Mailbox full, try again later".into());
    r.last_status = Some(Enhanced::new(4, 2, 2));
    r.gave_up = Some(GiveUp::AttemptsUsedUp);
    r.owed = Some(Action::Failed);
    let rebuilt = Reported {
        index: 0,
        action: Action::Failed,
        outcome: None,
        why: env.recipients[0].gave_up,
    };
    notice(env, vec![rebuilt])
}

fn mixed() -> Notice {
    let mut env = envelope(&["dave@b.test", "bob@a.test"]);
    env.recipients[0].notify = Some(Notify::On {
        success: true,
        failure: true,
        delay: false,
    });
    env.recipients[0].state = RecipientState::Delivered;
    let ok = Outcome::from_reply(
        StepKind::DataDone,
        "mx.b.test [192.0.2.7]:25",
        &Reply::new(250, Some(Enhanced::new(2, 0, 0)), "Ok: queued as 7F3A"),
    );
    let relayed = Reported {
        index: 0,
        action: Action::Relayed,
        outcome: Some(ok),
        why: None,
    };
    let refused = rcpt_reply(MX1, 550, (5, 1, 1), "No such user");
    notice(env, vec![relayed, failed(1, refused, GiveUp::Permanent)])
}

fn ret_full() -> Notice {
    let mut n = hard_bounce();
    n.envelope.params.ret = Some(Ret::Full);
    n
}

fn envid_orcpt() -> Notice {
    let mut env = envelope(&["bob@a.test"]);
    env.params.envid = Some("QK-2026-0042".into());
    env.params.ret = Some(Ret::Headers);
    env.recipients[0].orcpt = Some(Orcpt {
        addr_type: "rfc822".into(),
        address: "Bob.Original@a.test".into(),
    });
    env.recipients[0].relay_tries = 1;
    let o = rcpt_reply(
        "relay isp (smtp.isp.test [192.0.2.9]:587)",
        554,
        (5, 7, 1),
        "Relay access denied",
    );
    notice(env, vec![failed(0, o, GiveUp::Permanent)])
}

fn receipt() -> Notice {
    let mut env = envelope(&["bob@a.test"]);
    env.recipients[0].notify = Some(Notify::On {
        success: true,
        failure: false,
        delay: false,
    });
    env.recipients[0].state = RecipientState::Delivered;
    let reply = Reply {
        code: 250,
        enhanced: Some(Enhanced::new(2, 0, 0)),
        lines: vec!["Ok: queued as 7F3A".into(), "Have a nice day".into()],
    };
    let ok = Outcome::from_reply(StepKind::DataDone, MX1, &reply);
    let delivered = Reported {
        index: 0,
        action: Action::Delivered,
        outcome: Some(ok),
        why: None,
    };
    notice(env, vec![delivered])
}

fn delay() -> Notice {
    let mut env = envelope(&["erin@slow.test"]);
    env.recipients[0].direct_tries = 5;
    env.recipients[0].warned = true;
    let o = rcpt_reply(
        "mx.slow.test [192.0.2.20]:25",
        451,
        (4, 7, 1),
        "Greylisted, try again later",
    );
    Notice {
        envelope: env,
        recipients: vec![Reported {
            index: 0,
            action: Action::Delayed,
            outcome: Some(o),
            why: None,
        }],
        retry_until: Some(at(5 * 86_400)),
    }
}

fn nxdomain() -> Notice {
    let nx = DnsError::NxDomain {
        name: "nowhere.test".into(),
    };
    let o = Outcome::from_dns("nowhere.test", &nx);
    notice(
        envelope(&["frank@nowhere.test"]),
        vec![failed(0, o, GiveUp::Permanent)],
    )
}

fn null_mx() -> Notice {
    let o = Outcome::null_mx("nomail.test");
    notice(
        envelope(&["gina@nomail.test"]),
        vec![failed(0, o, GiveUp::Permanent)],
    )
}

/// The DNS server named in `dns_server` does not answer.
fn dns_silent() -> Outcome {
    let e = DnsError::Temporary {
        name: "quiet.test".into(),
        detail: "DNS server 127.0.0.1:9 did not answer (connection refused)".into(),
    };
    Outcome::from_dns("quiet.test", &e)
}

fn dns_delay() -> Notice {
    let mut n = delay();
    n.envelope = envelope(&["hank@quiet.test"]);
    n.envelope.recipients[0].direct_tries = 5;
    n.envelope.recipients[0].warned = true;
    n.recipients[0].outcome = Some(dns_silent());
    n
}

fn dns_down() -> Notice {
    let mut env = envelope(&["hank@quiet.test"]);
    env.recipients[0].direct_tries = 8;
    notice(env, vec![failed(0, dns_silent(), GiveUp::AttemptsUsedUp)])
}

fn mx_unresolvable() -> Notice {
    let nx = DnsError::NxDomain {
        name: "mx.gone.test".into(),
    };
    let o = Outcome::from_host_dns("mx.gone.test", &nx);
    notice(
        envelope(&["ivy@gone.test"]),
        vec![failed(0, o, GiveUp::Permanent)],
    )
}

/// (golden file name, notice, seconds after arrival it is rendered)
fn cases() -> Vec<(&'static str, Notice, u64)> {
    vec![
        ("hard_bounce", hard_bounce(), 2),
        ("soft_bounce", soft_bounce(), 97_200 + 300),
        (
            "soft_bounce_after_restart",
            soft_bounce_after_restart(),
            97_200 + 900,
        ),
        ("mixed", mixed(), 3),
        ("ret_full", ret_full(), 2),
        ("envid_orcpt", envid_orcpt(), 65),
        ("receipt", receipt(), 1),
        ("delay", delay(), 4 * 3600),
        ("nxdomain", nxdomain(), 0),
        ("null_mx", null_mx(), 0),
        ("dns_delay", dns_delay(), 4 * 3600),
        ("dns_down", dns_down(), 97_200 + 300),
        ("mx_unresolvable", mx_unresolvable(), 0),
    ]
}

fn golden_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("tests/data/bounce/{name}.eml"))
}

fn rendered(n: &Notice, secs: u64) -> Vec<u8> {
    let ctx = RenderContext {
        host: "mx.qksmtp.test",
        message_id: "0194F2A3B4C5E002.notice@mx.qksmtp.test",
        now: at(secs),
    };
    render(n, ORIGINAL, &ctx)
}

#[test]
fn rendered_notices_match_the_golden_files() {
    let update = std::env::var_os("UPDATE_GOLDEN").is_some();
    for (name, n, secs) in cases() {
        let got = rendered(&n, secs);
        let path = golden_path(name);
        if update {
            std::fs::write(&path, &got).unwrap();
        }
        let want = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(
            got == want,
            "{name} differs from {} (UPDATE_GOLDEN=1 rewrites it):\n{}",
            path.display(),
            String::from_utf8_lossy(&got)
        );
    }
}

#[test]
fn notices_are_well_formed_mail() {
    for (name, n, secs) in cases() {
        let got = rendered(&n, secs);
        for (i, line) in got.split(|&b| b == b'\n').enumerate() {
            let ends_ok = i + 1 == got.split(|&b| b == b'\n').count() || line.ends_with(b"\r");
            assert!(ends_ok, "{name}: line {i} ends with a bare LF");
            assert!(
                !line[..line.len().saturating_sub(1)].contains(&b'\r'),
                "{name}: bare CR"
            );
            assert!(line.len() <= 998, "{name}: line {i} too long");
        }
        let facts = crate::headers::header_facts(&got);
        assert!(facts.has_date && facts.has_message_id, "{name}");
    }
}

/// What Python's `email` package must find in each golden file, besides the common fields.
fn expected(name: &str) -> Vec<&'static str> {
    let failed_bob = [
        "rcpt1.Final-Recipient=rfc822; bob@a.test",
        "rcpt1.Action=failed",
        "rcpt1.Status=5.1.1",
        "rcpt1.Remote-MTA=dns; mx1.a.test",
        "rcpt1.Diagnostic-Code=smtp; 550 5.1.1 No such user",
        "rcpt1.Last-Attempt-Date=Mon, 23 Nov 2026 07:37:02 +0000",
    ];
    match name {
        "hard_bounce" => [&failed_bob[..], &["part=text/rfc822-headers"]].concat(),
        "ret_full" => [
            &failed_bob[..],
            &[
                "part=message/rfc822",
                "returned.body='Hello Bob,\\r\\n\\r\\nthe report is attached.\\r\\n'",
            ],
        ]
        .concat(),
        "soft_bounce" => vec![
            "rcpt1.Final-Recipient=rfc822; carol@a.test",
            "rcpt1.Action=failed",
            "rcpt1.Status=4.2.2",
            "rcpt1.Diagnostic-Code=smtp; 452 4.2.2 Mailbox full, try again later",
            "text=--- carol@a.test: NOT DELIVERED (soft bounce)",
            "text=    Attempts: 8 attempts over 1 day 3 hours",
        ],
        "soft_bounce_after_restart" => vec![
            "rcpt1.Final-Recipient=rfc822; carol@a.test",
            "rcpt1.Action=failed",
            "rcpt1.Status=4.2.2",
            "rcpt1.Diagnostic-Code=X-qksmtp; 452 4.2.2 Mailbox full, try again later",
            "text=--- carol@a.test: NOT DELIVERED (soft bounce)",
            "text=    Last result: 452 4.2.2 Mailbox full, try again later",
            "rcpt1.Last-Attempt-Date=Tue, 24 Nov 2026 10:37:00 +0000",
            "text=    Attempts: 8 attempts over 1 day 3 hours",
        ],
        "mixed" => vec![
            "rcpt1.Final-Recipient=rfc822; dave@b.test",
            "rcpt1.Action=relayed",
            "rcpt1.Status=2.0.0",
            "rcpt1.Remote-MTA=dns; mx.b.test",
            "rcpt2.Final-Recipient=rfc822; bob@a.test",
            "rcpt2.Action=failed",
            "rcpt2.Status=5.1.1",
        ],
        "envid_orcpt" => vec![
            "message.Original-Envelope-Id=QK-2026-0042",
            "rcpt1.Original-Recipient=rfc822; Bob.Original@a.test",
            "rcpt1.Final-Recipient=rfc822; bob@a.test",
            "rcpt1.Status=5.7.1",
            "rcpt1.Remote-MTA=dns; smtp.isp.test",
            "rcpt1.Diagnostic-Code=smtp; 554 5.7.1 Relay access denied",
            "part=text/rfc822-headers",
        ],
        "receipt" => vec![
            "rcpt1.Action=delivered",
            "rcpt1.Status=2.0.0",
            "rcpt1.Diagnostic-Code=smtp; 250 2.0.0 Ok: queued as 7F3A Have a nice day",
            "header.Subject=Delivered: your message to bob@a.test",
        ],
        "delay" => vec![
            "rcpt1.Final-Recipient=rfc822; erin@slow.test",
            "rcpt1.Action=delayed",
            "rcpt1.Status=4.7.1",
            "rcpt1.Will-Retry-Until=Sat, 28 Nov 2026 07:37:00 +0000",
            "rcpt1.Diagnostic-Code=smtp; 451 4.7.1 Greylisted, try again later",
        ],
        "nxdomain" => vec![
            "rcpt1.Action=failed",
            "rcpt1.Status=5.1.2",
            "rcpt1.Diagnostic-Code=X-qksmtp; the domain nowhere.test does not exist (NXDOMAIN)",
        ],
        "null_mx" => vec![
            "rcpt1.Action=failed",
            "rcpt1.Status=5.1.10",
            "text=    The recipient's domain says it accepts no mail at all (null MX). This is",
        ],
        "dns_delay" => vec![
            "rcpt1.Action=delayed",
            "rcpt1.Status=4.4.3",
            "rcpt1.Diagnostic-Code=X-qksmtp; DNS lookup of quiet.test failed: DNS server \
             127.0.0.1:9 did not answer (connection refused)",
        ],
        "dns_down" => vec!["rcpt1.Action=failed", "rcpt1.Status=4.4.3"],
        "mx_unresolvable" => vec![
            "rcpt1.Action=failed",
            "rcpt1.Status=5.4.4",
            "rcpt1.Diagnostic-Code=X-qksmtp; the mail server mx.gone.test does not exist in \
             DNS: no usable mail server",
        ],
        other => panic!("no expectations for {other}"),
    }
}

#[test]
fn pythons_email_package_reads_every_golden_notice() {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/bounce/parse_dsn.py");
    let common = [
        "content-type=multipart/report",
        "report-type=delivery-status",
        "header.From=Mail Delivery System <MAILER-DAEMON@mx.qksmtp.test>",
        "header.To=<alice@sender.test>",
        "header.Auto-Submitted=auto-replied",
        "header.In-Reply-To=<report-42@sender.test>",
        "part=text/plain",
        "part=message/delivery-status",
        "message.Reporting-MTA=dns; mx.qksmtp.test",
        "message.Arrival-Date=Mon, 23 Nov 2026 07:37:00 +0000",
        "returned.Subject=Quarterly report",
    ];
    for (name, _, _) in cases() {
        let out = std::process::Command::new("python3")
            .arg(&script)
            .arg(golden_path(name))
            .output()
            .expect("python3 runs (the tests need it; see README)");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let lines: Vec<&str> = text.lines().collect();
        assert!(
            !lines.iter().any(|l| l.starts_with("defects=")),
            "{name}:\n{text}"
        );
        for want in common.iter().copied().chain(expected(name)) {
            assert!(lines.contains(&want), "{name}: no {want:?} in:\n{text}");
        }
        let parts = lines.iter().filter(|l| l.starts_with("part=")).count();
        assert_eq!(parts, 3, "{name}: three parts:\n{text}");
    }
}

#[test]
fn a_dns_failure_never_says_the_address_is_right_or_wrong() {
    for (name, n, secs) in [
        ("dns_delay", dns_delay(), 4 * 3600),
        ("dns_down", dns_down(), 97_200 + 300),
    ] {
        let text = String::from_utf8(rendered(&n, secs))
            .unwrap()
            .replace("\r\n", " ");
        let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
        assert!(
            text.contains("could not look up the domain"),
            "{name}: {text}"
        );
        assert!(!text.contains("probably right"), "{name}: {text}");
        assert!(!text.contains("does not exist"), "{name}: {text}");
    }
    let delayed = String::from_utf8(rendered(&dns_delay(), 4 * 3600)).unwrap();
    let delayed = delayed.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(
        delayed.contains("could not look up the domain; will try again"),
        "{delayed}"
    );
}

#[test]
fn notify_decides_who_hears_what() {
    let alice = ReversePath::Mailbox(Address::new("alice", "sender.test"));
    let on = |success, failure, delay| {
        Some(Notify::On {
            success,
            failure,
            delay,
        })
    };
    use Action::*;
    let cases = [
        (None, [true, true, false]),
        (Some(Notify::Never), [false, false, false]),
        (on(true, false, false), [false, false, true]),
        (on(false, true, true), [true, true, false]),
    ];
    for (notify, [f, d, s]) in cases {
        assert_eq!(wants(&alice, notify, Failed), f, "{notify:?}");
        assert_eq!(wants(&alice, notify, Delayed), d, "{notify:?}");
        assert_eq!(wants(&alice, notify, Delivered), s, "{notify:?}");
        assert_eq!(wants(&alice, notify, Relayed), s, "{notify:?}");
        for a in [Failed, Delayed, Delivered, Relayed] {
            assert!(!wants(&ReversePath::Null, notify, a), "never for <>");
        }
    }
}

#[test]
fn remote_host_comes_from_the_route_of_a_server_that_answered() {
    let relay = rcpt_reply(
        "relay isp (smtp.isp.test [192.0.2.9]:587)",
        554,
        (5, 7, 1),
        "x",
    );
    assert_eq!(
        render::remote_host(&relay).as_deref(),
        Some("smtp.isp.test")
    );
    assert_eq!(
        render::remote_host(&rcpt_reply(MX1, 550, (5, 1, 1), "x")).as_deref(),
        Some("mx1.a.test")
    );
    assert_eq!(render::remote_host(&Outcome::null_mx("x.test")), None);
}

#[test]
fn a_tls_requirement_not_met_is_explained_in_plain_words() {
    use crate::transcript::tls::Demand;
    use crate::transcript::{Failure, FailureKind};
    let tls = |why: &str| Failure {
        step: StepKind::StartTls,
        kind: FailureKind::Tls(why.into()),
    };
    let no_starttls = Failure {
        step: StepKind::StartTls,
        kind: FailureKind::Protocol(
            "the server does not offer STARTTLS, which is required for this server".into(),
        ),
    };
    let cert = "certificate not valid for mx1.a.test: self-signed certificate";
    let cases = [
        (
            Outcome::tls_unmet(MX1, &tls(cert), Demand::MtaSts { enforce: true }),
            "a.test requires a verified encrypted connection (MTA-STS policy, enforce); its \
             mail server mx1.a.test [192.0.2.1]:25 did not give it (TLS failed: certificate not \
             valid for mx1.a.test: self-signed certificate), so the message was not sent.",
        ),
        (
            Outcome::tls_unmet(
                "mx2.a.test",
                &tls("MTA-STS: mx2.a.test does not match the policy"),
                Demand::MtaSts { enforce: true },
            ),
            "its mail server mx2.a.test did not give it (TLS failed: MTA-STS: mx2.a.test does \
             not match the policy), so the message was not sent.",
        ),
        (
            Outcome::tls_unmet(MX1, &tls("no TLSA record matched"), Demand::Dane),
            "a.test requires a verified encrypted connection (DANE); its mail server",
        ),
        (
            Outcome::tls_unmet(MX1, &no_starttls, Demand::Encrypt),
            "This server's settings require, for mail to a.test, an encrypted connection \
             (tls_policy = encrypt); its mail server mx1.a.test [192.0.2.1]:25 did not give it \
             (protocol error: the server does not offer STARTTLS, which is required for this \
             server), so the message was not sent.",
        ),
    ];
    for (outcome, words) in cases {
        let mut env = envelope(&["bob@a.test"]);
        env.recipients[0].direct_tries = 8;
        for (secs, n) in [
            (
                97_200,
                notice(
                    env.clone(),
                    vec![failed(0, outcome.clone(), GiveUp::AttemptsUsedUp)],
                ),
            ),
            (
                4 * 3600,
                notice(
                    env.clone(),
                    vec![Reported {
                        index: 0,
                        action: Action::Delayed,
                        outcome: Some(outcome.clone()),
                        why: None,
                    }],
                ),
            ),
        ] {
            let text = String::from_utf8(rendered(&n, secs)).unwrap();
            let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
            assert!(text.contains(words), "{words}\nin: {text}");
            assert!(!text.contains("greylisting"), "{text}");
        }
        let failed = String::from_utf8(rendered(
            &notice(env, vec![failed(0, outcome, GiveUp::AttemptsUsedUp)]),
            97_200,
        ))
        .unwrap();
        let failed = failed.split_whitespace().collect::<Vec<_>>().join(" ");
        assert!(
            failed.contains("must present a valid certificate"),
            "{failed}"
        );
    }
    // Any other TLS failure (opportunistic, then retried in plain text) keeps its old words.
    let plain = Outcome::from_failure(MX1, &tls(cert));
    assert_eq!(plain.unmet_tls(), None);
}
