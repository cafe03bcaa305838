//! Table tests of `connect_first` with an in-memory zone and scripted servers: which servers
//! are dialled, in which order, and which connection or outcome comes back (RFC 5321 §5.1: the
//! first server that answers; 421 and broken connections try the next; a failed STARTTLS to
//! an MX host is retried in plain text).

use super::*;
use crate::client::script::{Dial, Script, Scripted};
use crate::config::load::parse;
use crate::config::pattern::builtin;
use crate::dns::Zone;
use crate::outcome::Verdict;
use std::io::ErrorKind;

/// Greeting and EHLO, offering STARTTLS or not; the client stops there.
fn answers(starttls: bool) -> Script {
    let ext = if starttls { "STARTTLS" } else { "SIZE" };
    Script::new(&[
        "S: 220 mx.test ESMTP",
        "C: EHLO client.test",
        "S: 250-mx.test hello",
        &format!("S: 250 {ext}"),
    ])
}

/// Offers STARTTLS; the handshake succeeds and EHLO is said again.
fn encrypts() -> Script {
    Script::new(&[
        "S: 220 mx.test ESMTP",
        "C: EHLO client.test",
        "S: 250-mx.test hello",
        "S: 250 STARTTLS",
        "C: STARTTLS",
        "S: 220 2.0.0 go ahead",
        "C: EHLO client.test",
        "S: 250 mx.test hello again",
    ])
}

/// Offers STARTTLS, says go ahead, then the handshake fails.
fn handshake_fails() -> Script {
    let mut lines = vec![
        "S: 220 mx.test ESMTP",
        "C: EHLO client.test",
        "S: 250-mx.test hello",
        "S: 250 STARTTLS",
    ];
    lines.extend(["C: STARTTLS", "S: 220 2.0.0 go ahead"]);
    Script::new(&lines).tls_fails(FailureKind::Tls("handshake failed".into()))
}

fn greets(line: &str) -> Script {
    Script::new(&[&format!("S: {line}")])
}

/// a.test: MX a.mx.test (127.0.0.1), then b.mx.test (127.0.0.2).
fn targets(zone: &Zone) -> Vec<Target> {
    let ini = "[delivery]\nhelo_name = client.test\n";
    let (config, _) = parse(ini, std::path::Path::new("/q/qksmtp.ini"), "host.test").unwrap();
    let dest = Dest::Direct("a.test".into());
    route::targets(&dest, &config, zone, None, &mut Record::new()).unwrap()
}

/// A server that is not in the way: no listening address and a name no script uses.
fn nobody() -> Myself {
    Myself {
        domain: "a.test".into(),
        hostname: "host.test".into(),
        listen: Vec::new(),
    }
}

/// The routes (as the record and the outcomes name them) and the addresses dialled.
const A: &str = "a.mx.test [127.0.0.1]:25";
const B: &str = "b.mx.test [127.0.0.2]:25";
const IP_A: &str = "127.0.0.1:25";
const IP_B: &str = "127.0.0.2:25";

#[test]
fn connect_first_table() {
    type Want = Result<(&'static str, bool), (StepKind, Verdict, &'static str)>;
    // (connections as they answer, whether a.mx.test resolves, the result: the route and
    // whether TLS is on, or the outcome; the servers dialled)
    let cases: Vec<(Vec<Dial>, bool, Want, &[&str])> = vec![
        (
            vec![Dial::Answer(answers(false))],
            true,
            Ok((A, false)),
            &[IP_A],
        ),
        (vec![Dial::Answer(encrypts())], true, Ok((A, true)), &[IP_A]),
        // A failed handshake: the same server again, in plain text.
        (
            vec![Dial::Answer(handshake_fails()), Dial::Answer(answers(true))],
            true,
            Ok((A, false)),
            &[IP_A, IP_A],
        ),
        // 421 is "busy": the next server.
        (
            vec![
                Dial::Answer(greets("421 4.3.2 too busy")),
                Dial::Answer(answers(false)),
            ],
            true,
            Ok((B, false)),
            &[IP_A, IP_B],
        ),
        // A throttling 421 (throttle_on) ends it: the provider's other servers say the same.
        (
            vec![Dial::Answer(greets(
                "421 4.7.0 [TSS04] Messages from 192.0.2.1 temporarily deferred",
            ))],
            true,
            Err((StepKind::Greeting, Verdict::Temporary, A)),
            &[IP_A],
        ),
        // Any other answer ends the search, even with servers left.
        (
            vec![Dial::Answer(greets("554 5.7.1 go away"))],
            true,
            Err((StepKind::Greeting, Verdict::Policy, A)),
            &[IP_A],
        ),
        (
            vec![Dial::Answer(greets("554 5.3.2 not accepting mail"))],
            true,
            Err((StepKind::Greeting, Verdict::Permanent, A)),
            &[IP_A],
        ),
        // Refused, or silent: the next server; the last failure is the outcome.
        (
            vec![
                Dial::Fails(ErrorKind::ConnectionRefused),
                Dial::Answer(answers(false)),
            ],
            true,
            Ok((B, false)),
            &[IP_A, IP_B],
        ),
        (
            vec![
                Dial::Fails(ErrorKind::TimedOut),
                Dial::Fails(ErrorKind::ConnectionRefused),
            ],
            true,
            Err((StepKind::Connect, Verdict::Temporary, B)),
            &[IP_A, IP_B],
        ),
        // A host without an address is skipped.
        (
            vec![Dial::Answer(answers(false))],
            false,
            Ok((B, false)),
            &[IP_B],
        ),
    ];
    for (i, (dials, a_resolves, want, want_dialled)) in cases.into_iter().enumerate() {
        let mut zone = Zone::new()
            .mx("a.test", &[(10, "a.mx.test"), (20, "b.mx.test")])
            .host("b.mx.test", &["127.0.0.2"]);
        if a_resolves {
            zone = zone.host("a.mx.test", &["127.0.0.1"]);
        }
        let scripts: Vec<Script> = dials
            .iter()
            .filter_map(|d| match d {
                Dial::Answer(s) => Some(s.clone()),
                Dial::Fails(_) => None,
            })
            .collect();
        let dialer = Scripted::new(dials);
        let mut record = Record::new();
        let got = connect_first(
            &targets(&zone),
            (&nobody(), &builtin()),
            &zone,
            &dialer,
            &mut record,
        )
        .map(|(client, route)| (route, client.tls_active()))
        .map_err(|o| (o.step, o.verdict, o.route));
        let want = want
            .map(|(route, tls)| (route.to_string(), tls))
            .map_err(|(step, verdict, route)| (step, verdict, route.to_string()));
        assert_eq!(got, want, "case {i}\n{}", record.render());
        let dialled: Vec<String> = dialer.dialled().iter().map(|a| a.to_string()).collect();
        assert_eq!(dialled, *want_dialled, "case {i}");
        for script in scripts {
            let (turns, _) = script.left();
            assert!(turns.is_empty(), "case {i}: not played {turns:?}");
        }
    }
}

#[test]
fn the_plain_text_retry_is_in_the_record() {
    let zone = Zone::new()
        .mx("a.test", &[(10, "a.mx.test")])
        .host("a.mx.test", &["127.0.0.1"]);
    let dialer = Scripted::new(vec![
        Dial::Answer(handshake_fails()),
        Dial::Answer(answers(true)),
    ]);
    let mut record = Record::new();
    connect_first(
        &targets(&zone),
        (&nobody(), &builtin()),
        &zone,
        &dialer,
        &mut record,
    )
    .unwrap();
    let tls: Vec<(bool, &str)> = record
        .steps
        .iter()
        .filter(|s| s.kind == StepKind::StartTls)
        .map(|s| (s.ok, s.detail.as_str()))
        .collect();
    assert_eq!(
        tls,
        [
            (true, "STARTTLS"),
            (false, "STARTTLS handshake: TLS failed: handshake failed"),
            (true, "plain text after a failed handshake"),
        ]
    );
}

#[test]
fn a_destination_that_is_this_server_is_a_loop() {
    let zone = Zone::new()
        .mx("a.test", &[(10, "a.mx.test"), (20, "b.mx.test")])
        .host("a.mx.test", &["127.0.0.1"])
        .host("b.mx.test", &["127.0.0.2"]);
    // (our listening addresses, the greeting, the servers dialled)
    let cases: [(&[&str], &str, &[&str]); 4] = [
        (&[], "S: 220 HOST.test ESMTP qksmtp", &[IP_A]),
        (&["127.0.0.1:25"], "S: 220 mx.test ESMTP", &[]),
        (&["0.0.0.0:25"], "S: 220 mx.test ESMTP", &[]),
        (&["127.0.0.1:2525"], "S: 220 host.test. ESMTP", &[IP_A]),
    ];
    for (i, (listen, greeting, want_dialled)) in cases.into_iter().enumerate() {
        let myself = Myself {
            listen: listen.iter().map(|a| a.parse().unwrap()).collect(),
            ..nobody()
        };
        let script = Script::new(&[greeting, "C: EHLO client.test", "S: 250 mx.test", "C: QUIT"]);
        let dialer = Scripted::new(vec![Dial::Answer(script)]);
        let mut record = Record::new();
        let got = connect_first(&targets(&zone), (&myself, &[]), &zone, &dialer, &mut record);
        let outcome = got.err().unwrap_or_else(|| panic!("case {i}: connected"));
        assert_eq!(outcome.verdict, Verdict::Permanent, "case {i}");
        assert_eq!(outcome.status.to_string(), "5.4.6", "case {i}");
        assert_eq!(outcome.detail, "mail for a.test loops back to myself");
        let dialled: Vec<String> = dialer.dialled().iter().map(|a| a.to_string()).collect();
        assert_eq!(dialled, want_dialled, "case {i}\n{}", record.render());
    }
}
