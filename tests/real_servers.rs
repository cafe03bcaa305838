//! Delivery against servers that behave like real ones (issue 22): they close idle
//! connections (silently, or with `421 4.4.2 idle timeout`) and close after a message, take
//! only so many recipients per transaction (`452 4.5.3`), and a route may point back at
//! qksmtp itself. None of it may cost an attempt, a `retry_delay` wait or a bounce that a
//! real server would not have asked for; a loop must stop at once.

mod common;

use common::fake_mx::{Act, FakeMx, Options, Rule, Step};
use common::*;
use std::time::Duration;

const MSG: &str = "Subject: real\r\nFrom: a@sender.test\r\n\r\nHello.\r\n.\r\n";

/// `real.test` to `mx`, failed recipients waiting an hour (a retry would not come within
/// the test), the status page on (for `qksmtp show`).
fn ini(mx: &FakeMx, extra: &str) -> String {
    status_ini(&route(
        "real.test",
        mx,
        &format!("retry_delay = 1h\n{extra}"),
    ))
}

/// Sends one message to `x@real.test` while the connection of the one before is parked,
/// after the fake MX has closed that connection its own way; the message must go out at
/// once on a new connection, as its first attempt, and its record must say why.
fn closed_while_parked(name: &str, mx: FakeMx) {
    let server = Server::start(name, &ini(&mx, ""));
    submit(&server, "a@sender.test", &["first@real.test"], MSG);
    mx.wait_deliveries(1, WAIT);
    assert!(
        mx.wait_sessions_ended(1, WAIT),
        "the fake MX closes the idle connection\n{}",
        mx.transcript()
    );
    let id = submit(&server, "a@sender.test", &["x@real.test"], MSG);
    let d = mx.wait_deliveries(2, WAIT);
    assert_eq!(d[1].rcpt_addrs(), ["x@real.test"]);
    assert_eq!(d[1].session, 1, "a fresh connection");
    let line = server.wait_log(&["to=<x@real.test>"]);
    assert!(
        line.contains("result=\"delivered\"") && line.contains("attempt=\"direct 1 of 8\""),
        "delivered on its first attempt, nothing charged: {line}"
    );
    let log = std::fs::read_to_string(server.dir.path().join("delivery.log")).unwrap();
    let lines = log
        .lines()
        .filter(|l| l.contains("to=<x@real.test>"))
        .count();
    assert_eq!(lines, 1, "one attempt only:\n{log}");
    let (code, show, err) = run_cli(server.dir.path(), &["show", &id]);
    assert_eq!(code, 0, "{err}");
    assert!(
        show.contains("the server had closed the reused connection")
            && show.contains("reconnected"),
        "{show}"
    );
}

#[test]
fn a_parked_connection_the_server_closed_silently_costs_no_attempt() {
    let mx = FakeMx::start(Options {
        idle: Some(Duration::from_millis(200)),
        ..Options::scripted(vec![Rule::new(Step::Idle, Act::Close)])
    });
    closed_while_parked("idle_close", mx);
}

#[test]
fn a_parked_connection_closed_with_421_idle_timeout_costs_no_attempt() {
    let idle = Act::ReplyClose("421 4.4.2 idle timeout".into());
    let mx = FakeMx::start(Options {
        idle: Some(Duration::from_millis(200)),
        ..Options::scripted(vec![Rule::new(Step::Idle, idle)])
    });
    closed_while_parked("idle_421", mx);
}

#[test]
fn a_421_at_mail_on_a_reused_connection_is_sent_again_on_a_fresh_one() {
    // The first connection takes one message, then answers the next MAIL with 421 and
    // closes: the parked socket looked fine, the failure shows only at MAIL.
    let idle = Act::ReplyClose("421 4.4.2 idle timeout".into());
    let mx = FakeMx::start(Options::scripted(vec![
        Rule::new(Step::Mail, idle).sessions(0..1).from(2),
    ]));
    let server = Server::start("mail_421", &ini(&mx, ""));
    submit(&server, "a@sender.test", &["first@real.test"], MSG);
    mx.wait_deliveries(1, WAIT);
    let id = submit(&server, "a@sender.test", &["x@real.test"], MSG);
    let d = mx.wait_deliveries(2, WAIT);
    assert_eq!(
        (d[1].session, d[1].rcpt_addrs()),
        (1, vec!["x@real.test".into()])
    );
    let line = server.wait_log(&["to=<x@real.test>"]);
    assert!(
        line.contains("result=\"delivered\"") && line.contains("attempt=\"direct 1 of 8\""),
        "{line}"
    );
    let (_, show, _) = run_cli(server.dir.path(), &["show", &id]);
    assert!(
        show.contains("the server had closed the reused connection")
            && show.contains("421 4.4.2 idle timeout"),
        "{show}"
    );
}

/// 350 recipients at one domain with 3 direct attempts; the fake MX takes `takes` per
/// transaction and answers `452 4.5.3` to the rest. Returns the transactions it saw.
fn many_recipients(name: &str, takes: usize, extra: &str) -> Vec<usize> {
    let too_many = Act::Reply("452 4.5.3 Too many recipients".into());
    let mx = FakeMx::start(Options::scripted(vec![
        Rule::new(Step::Rcpt, too_many).from(takes + 1),
    ]));
    let extra = format!("direct_attempts = 3\n{extra}");
    let server = Server::start(name, &ini(&mx, &extra));
    let rcpts: Vec<String> = (0..350).map(|i| format!("r{i}@real.test")).collect();
    let to: Vec<&str> = rcpts.iter().map(String::as_str).collect();
    submit(&server, "a@sender.test", &to, MSG);
    let all = |d: &[common::fake_mx::Delivery]| d.iter().map(|d| d.rcpts.len()).sum::<usize>();
    assert!(
        mx.wait_until(WAIT, |d, _| all(d) >= 350),
        "all 350 delivered\n{}",
        mx.transcript()
    );
    server.wait_log(&["to=<r349@real.test>", "result=\"delivered\""]);
    let log = std::fs::read_to_string(server.dir.path().join("delivery.log")).unwrap();
    let delivered = log
        .lines()
        .filter(|l| l.contains("result=\"delivered\"") && l.contains("direct 1 of 3"))
        .count();
    assert_eq!(delivered, 350, "each on its first attempt:\n{log}");
    assert!(
        !log.contains("deferred") && !log.contains("bounced"),
        "{log}"
    );
    let mut got: Vec<String> = mx
        .deliveries()
        .iter()
        .flat_map(|d| d.rcpt_addrs())
        .collect();
    got.sort();
    got.dedup();
    assert_eq!(got.len(), 350, "each recipient once");
    mx.deliveries().iter().map(|d| d.rcpts.len()).collect()
}

#[test]
fn recipients_over_the_servers_limit_go_in_further_transactions_at_once() {
    let sizes = many_recipients("rcpt100", 100, "");
    assert_eq!(sizes, [100, 100, 100, 50]);
    // 40 a transaction: each transaction of 100 gives 40, the other 60 go first in the next.
    let sizes = many_recipients("rcpt40", 40, "");
    assert_eq!(sizes, [40, 40, 40, 40, 40, 40, 40, 40, 30]);
}

#[test]
fn max_rcpt_per_transaction_splits_from_the_start() {
    // The server would take 100; we send 60 at a time, so it never has to refuse.
    let sizes = many_recipients("rcpt60", 100, "max_rcpt_per_transaction = 60");
    assert_eq!(sizes, [60, 60, 60, 60, 60, 50]);
}

/// A port on 127.0.0.1 that was free a moment ago.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Mail for `loop.test` whose route is this server: bounced at once with 5.4.6, and its
/// bounce (to a local sender at `sender.test`) is not looped either.
fn assert_loop_bounced(server: &Server, sessions_before: usize, mx: &FakeMx) {
    let id = submit(server, "a@sender.test", &["x@loop.test"], MSG);
    let line = server.wait_log(&["to=<x@loop.test>", "status=5.4.6"]);
    assert!(
        line.contains("loops back to myself") && line.contains("attempt=\"direct 1 of 8\""),
        "{line}"
    );
    let (code, show, err) = run_cli(server.dir.path(), &["show", &id]);
    assert_eq!(code, 0, "{err}");
    assert!(
        show.contains("mail for loop.test loops back to myself"),
        "{show}"
    );
    // The bounce went to the sender's route, not round the loop.
    let d = mx.wait_deliveries(1, WAIT);
    assert_eq!(d[0].rcpt_addrs(), ["a@sender.test"]);
    assert!(d[0].text().contains("5.4.6"), "{}", d[0].text());
    assert_eq!(mx.sessions().len(), sessions_before + 1);
}

#[test]
fn mail_routed_to_our_own_listener_is_bounced_not_looped() {
    let port = free_port();
    let senders = FakeMx::start(Options::new());
    let rest = format!(
        "[domain:loop.test]\nmx = 127.0.0.1:{port}\n{}",
        route("sender.test", &senders, "")
    );
    let ini = status_ini(&rest).replacen(
        "\nlisten = 127.0.0.1:0\n",
        &format!("\nlisten = 127.0.0.1:{port}\n"),
        1,
    );
    let server = Server::start("loop_addr", &ini);
    assert_eq!(server.addr.port(), port);
    assert_loop_bounced(&server, 0, &senders);
}

#[test]
fn a_server_that_greets_with_our_hostname_is_this_server() {
    // Another address, but it calls itself mx.qksmtp.test: ours (a NAT, a second listener
    // that is not in `listen`).
    let twin = FakeMx::start(Options {
        name: "mx.qksmtp.test".into(),
        ..Options::new()
    });
    let senders = FakeMx::start(Options::new());
    let rest = format!(
        "{}{}",
        route("loop.test", &twin, ""),
        route("sender.test", &senders, "")
    );
    let server = Server::start("loop_name", &status_ini(&rest));
    assert_loop_bounced(&server, 0, &senders);
    assert!(twin.deliveries().is_empty(), "nothing sent to the twin");
}

#[test]
fn a_message_with_too_many_received_fields_is_refused_at_the_end_of_data() {
    let mx = FakeMx::start(Options::new());
    let server = Server::start("hops", &ini(&mx, ""));
    let hops = |n: usize| {
        let mut m =
            "Received: from a.test by b.test; Mon, 23 Nov 2026 07:37:00 +0000\r\n".repeat(n);
        m.push_str(MSG);
        m
    };
    let mut c = server.connect();
    c.hello();
    let reply = c.send_mail("a@sender.test", &["x@real.test"], &hops(51));
    assert!(reply.starts_with("554 5.4.6 Too many hops"), "{reply}");
    // The session goes on; 50 hops are fine.
    let reply = c.send_mail("a@sender.test", &["y@real.test"], &hops(50));
    assert!(reply.starts_with("250 2.0.0"), "{reply}");
    c.cmd("QUIT");
    let d = mx.wait_deliveries(1, WAIT);
    assert_eq!(d[0].rcpt_addrs(), ["y@real.test"]);
    // `qksmtp send` says so and stores nothing.
    let (code, out, err) = run_cli_stdin(server.dir.path(), &["send", "z@real.test"], &hops(60));
    assert_ne!(code, 0, "{out}");
    assert!(
        err.contains("mail loop") && err.contains("554 5.4.6 Too many hops"),
        "{err}"
    );
}

#[test]
fn a_dns_server_that_does_not_answer_is_named_and_never_bounces() {
    // `dead.test` has no rule of its own: its MX is looked up at the dead DNS server.
    let dead = DEAD;
    let rest = format!(
        "[delivery]\ndns_server = {dead}\ntimeout_dns = 1s\n[domain:*]\nretry_delay = 1h\n"
    );
    let server = Server::start("dns_dead", &status_ini(&rest));
    let id = submit(&server, "a@sender.test", &["x@dead.test"], MSG);
    let line = server.wait_log(&["to=<x@dead.test>"]);
    assert!(line.contains("result=\"deferred until"), "{line}");
    assert!(
        line.contains("DNS server 127.0.0.1:9 did not answer (connection refused)"),
        "{line}"
    );
    assert!(!line.contains("does not exist"), "{line}");
    let (_, show, _) = run_cli(server.dir.path(), &["show", &id]);
    assert!(
        show.contains("DNS server 127.0.0.1:9 did not answer"),
        "{show}"
    );
}

/// The status API's view of `real.test` (its object in `destinations`, as text).
fn real_test_dest(server: &Server) -> String {
    let (_, body) = http(server.status_addr.unwrap(), "GET", "/api/status", &[]);
    let at = body.find("\"name\":\"real.test\"").unwrap_or(body.len());
    body[at..]
        .split("\"per_minute\"")
        .next()
        .unwrap()
        .to_string()
}

#[test]
fn a_421_4_7_28_at_rcpt_throttles_the_destination_until_mail_gets_through_again() {
    // The first connection gets Gmail's throttling reply to RCPT; later ones are served.
    let gmail = "421 4.7.28 Our system has detected an unusual rate of unsolicited mail";
    let mx = FakeMx::start(Options::scripted(vec![
        Rule::new(Step::Rcpt, Act::ReplyClose(gmail.into())).sessions(0..1),
    ]));
    let server = Server::start(
        "throttle",
        &ini(&mx, "throttle_delay = 6s\nmax_connections = 2"),
    );
    submit(&server, "a@sender.test", &["first@real.test"], MSG);
    let line = server.wait_log(&["to=<first@real.test>"]);
    assert!(
        line.contains("result=\"deferred until") && line.contains("4.7.28"),
        "{line}"
    );
    let dest = wait_for(WAIT, || {
        let d = real_test_dest(&server);
        d.contains("\"throttled\":{").then_some(d.clone()).ok_or(d)
    });
    assert!(
        dest.contains(&format!("\"reason\":\"{gmail}\"")) && dest.contains("\"next_message\":"),
        "since when, why and when next: {dest}"
    );
    // The next message waits for the throttle, and says so, rather than going straight at
    // the server that asked us to slow down.
    let id = submit(&server, "a@sender.test", &["second@real.test"], MSG);
    let addr = server.status_addr.unwrap();
    let waiting = wait_http(
        addr,
        &format!("/api/messages/{id}"),
        &["\"throttled_until\":"],
    );
    assert!(
        waiting.contains("is slowing us down (421 4.7.28"),
        "{waiting}"
    );
    assert_eq!(mx.sessions().len(), 1, "no connection while it waits");
    // After throttle_delay it goes, on one connection; the throttle eases step by step:
    // no pause any more, but still one connection, then back to its limits.
    let d = mx.wait_deliveries(1, WAIT);
    assert_eq!(d[0].rcpt_addrs(), ["second@real.test"]);
    let line = server.wait_log(&["to=<second@real.test>"]);
    assert!(line.contains("result=\"delivered\""), "{line}");
    wait_until(
        || real_test_dest(&server).contains("\"delay_seconds\":0,\"connections\":1"),
        "the pause is gone, one connection left",
    );
    submit(&server, "a@sender.test", &["third@real.test"], MSG);
    mx.wait_deliveries(2, WAIT);
    wait_until(
        || real_test_dest(&server).contains("\"throttled\":null"),
        "back to its configured limits",
    );
    let (_, metrics) = http(addr, "GET", "/metrics", &[]);
    assert!(
        !metrics.contains("qksmtp_destination_throttled_since_seconds{"),
        "{metrics}"
    );
}

#[test]
fn greylisting_only_defers_that_recipient_and_the_next_message_goes_at_once() {
    // `tempfail@` gets `451 4.7.1` the first time: greylisting. With an hour's
    // throttle_delay, a wrongly throttled destination would keep the next message for
    // longer than the test waits.
    let mx = FakeMx::start(Options::new());
    let server = Server::start("greylist", &ini(&mx, "throttle_delay = 1h"));
    submit(&server, "a@sender.test", &["tempfail@real.test"], MSG);
    let line = server.wait_log(&["to=<tempfail@real.test>"]);
    assert!(
        line.contains("result=\"deferred until") && line.contains("4.7.1"),
        "{line}"
    );
    submit(&server, "a@sender.test", &["next@real.test"], MSG);
    let d = mx.wait_deliveries(1, WAIT);
    assert_eq!(d[0].rcpt_addrs(), ["next@real.test"]);
    let dest = real_test_dest(&server);
    assert!(dest.contains("\"throttled\":null"), "{dest}");
}

#[test]
fn a_throttling_greeting_on_the_status_page_and_in_metrics() {
    // Yahoo's reply at the greeting, on every connection, with the built-in list.
    let yahoo = "421 4.7.0 [TSS04] Messages from 192.0.2.1 temporarily deferred";
    let mx = FakeMx::start(Options {
        greeting: Some(yahoo.into()),
        ..Options::new()
    });
    let server = Server::start("throttle_page", &ini(&mx, "throttle_delay = 1h"));
    submit(&server, "a@sender.test", &["x@real.test"], MSG);
    server.wait_log(&["to=<x@real.test>", "TSS04"]);
    let addr = server.status_addr.unwrap();
    let page = wait_http(addr, "/", &["throttled since"]);
    assert!(
        page.contains("[TSS04] Messages from 192.0.2.1 temporarily deferred): next message"),
        "{page}"
    );
    let metrics = wait_http(
        addr,
        "/metrics",
        &["qksmtp_destination_throttled_next_seconds{destination=\"real.test\"}"],
    );
    assert!(
        metrics.contains(&format!(
            "qksmtp_destination_throttled_since_seconds{{destination=\"real.test\",reason=\"{yahoo}\"}}"
        )),
        "{metrics}"
    );
}

#[test]
fn stalled_servers_do_not_hold_up_a_healthy_destination() {
    // Forty destinations whose servers never greet, two connections each, three messages
    // each, and the default pool: before, they took every worker (eight then; with 64 and
    // two each they would still take all) and the healthy mail waited for timeout_greeting
    // (5 minutes).
    let stalled: Vec<FakeMx> = (0..40)
        .map(|_| {
            FakeMx::start(Options::scripted(vec![Rule::new(
                Step::Greeting,
                Act::Silent,
            )]))
        })
        .collect();
    let healthy = FakeMx::start(Options::new());
    let mut rest = String::new();
    for (i, mx) in stalled.iter().enumerate() {
        rest.push_str(&route(&format!("stall{i}.test"), mx, "max_connections = 2"));
    }
    rest.push_str(&route("healthy.test", &healthy, ""));
    let server = Server::start("stalled", &base_ini("", &rest));
    for (i, _) in stalled.iter().enumerate() {
        for n in 0..3 {
            let to = format!("r{n}@stall{i}.test");
            submit(&server, "a@sender.test", &[to.as_str()], MSG);
        }
    }
    // Every stalled server holds at least one of our connections, none greeted.
    for mx in &stalled {
        wait_until(
            || mx.current_sessions() >= 1,
            "a connection to each stalled server",
        );
    }
    submit(&server, "a@sender.test", &["ok@healthy.test"], MSG);
    let d = healthy.wait_deliveries(1, WAIT);
    assert_eq!(d[0].rcpt_addrs(), ["ok@healthy.test"]);
    // ... while they still stall: not one of their sessions has ended.
    for mx in &stalled {
        let sessions = mx.sessions();
        assert!(
            sessions.iter().all(|s| s.ended.is_none()),
            "{}",
            mx.transcript()
        );
        assert!(mx.deliveries().is_empty());
    }
    let line = server.wait_log(&["to=<ok@healthy.test>"]);
    assert!(line.contains("result=\"delivered\""), "{line}");
}
