//! Delivery end to end: the real binary delivers to in-test fake MX servers (and relays) on
//! 127.0.0.1 that misbehave on magic local parts, and to domains answered by a fake DNS.

mod common;
#[path = "../src/dns/fake.rs"]
#[allow(dead_code)]
mod fake_dns;

use common::fake_mx::{FakeMx, Options};
use common::*;
use std::time::Duration;

const MSG: &str = "Subject: hello\r\nFrom: a@sender.test\r\n\r\nHi there.\r\n..dot line\r\n.\r\n";

#[test]
fn mail_leaves_at_once_with_recipients_of_a_domain_in_one_pipelined_transaction() {
    let mx = FakeMx::start(Options::new());
    let server = Server::start("now", &base_ini("", &route("a.test", &mx, "")));
    let id = submit(
        &server,
        "a@sender.test",
        &["b@a.test", "c@a.test", "d@elsewhere.test"],
        MSG,
    );
    let d = mx.wait_deliveries(1, WAIT);
    assert_eq!(d[0].rcpt_addrs(), ["b@a.test", "c@a.test"]);
    let text = d[0].text();
    assert!(
        text.starts_with("Received: from client.qksmtp.test"),
        "{text}"
    );
    assert!(
        text.ends_with("\r\n\r\nHi there.\r\n.dot line\r\n"),
        "{text:?}"
    );
    let sessions = mx.sessions();
    let grouped = sessions[0]
        .reads
        .iter()
        .any(|read| read.len() == 4 && read[0].starts_with("MAIL FROM:") && read[3] == "DATA");
    assert!(
        grouped,
        "MAIL, 2 RCPT and DATA in one write: {:?}",
        sessions[0].reads
    );
    let line = server.wait_log(&["to=<c@a.test>", "result=\"delivered\""]);
    assert!(
        line.contains(&id)
            && line.contains("attempt=\"direct 1 of 8\"")
            && line.contains("[127.0.0.1]"),
        "{line}"
    );
    // The recipient at the unreachable domain is still queued; the others are done.
    server.wait_log(&["to=<d@elsewhere.test>", "deferred"]);
    let (_, out, _) = run_cli(server.dir.path(), &["queue"]);
    assert!(
        out.contains("delivered b@a.test") && out.contains("deferred  d@elsewhere.test"),
        "{out}"
    );
}

#[test]
fn a_temporary_failure_is_retried_while_other_mail_keeps_flowing() {
    let mx = FakeMx::start(Options::new());
    let server = Server::start(
        "tempfail",
        &base_ini("", &route("a.test", &mx, "retry_delay = 2s")),
    );
    let first = submit(&server, "a@sender.test", &["tempfail@a.test"], MSG);
    server.wait_log(&["to=<tempfail@a.test>", "deferred", "451 4.7.1"]);
    let (_, shown, _) = run_cli(server.dir.path(), &["show", &first]);
    assert!(
        shown.contains("RCPT") && shown.contains("451 4.7.1"),
        "the step record shows the failing step:\n{shown}"
    );
    submit(&server, "a@sender.test", &["other@a.test"], MSG);
    let d = mx.wait_deliveries(2, WAIT);
    assert_eq!(
        d[0].rcpt_addrs(),
        ["other@a.test"],
        "other mail is not held up"
    );
    assert_eq!(d[1].rcpt_addrs(), ["tempfail@a.test"]);
    server.wait_log(&[
        "to=<tempfail@a.test>",
        "direct 2 of 8",
        "result=\"delivered\"",
    ]);
}

#[test]
fn a_permanent_failure_fails_at_once_and_leaves_the_queue() {
    let mx = FakeMx::start(Options::new());
    let server = Server::start("permfail", &base_ini("", &route("a.test", &mx, "")));
    submit(
        &server,
        "a@sender.test",
        &["permfail@a.test", "policy@a.test"],
        MSG,
    );
    let line = server.wait_log(&["to=<permfail@a.test>", "failed (permanent)"]);
    assert!(
        line.contains("status=5.1.1") && line.contains("550 5.1.1"),
        "{line}"
    );
    // Without relay attempts, a policy refusal is final too.
    let line = server.wait_log(&["to=<policy@a.test>", "failed (refused by policy)"]);
    assert!(line.contains("status=5.7.1"), "{line}");
    assert!(mx.deliveries().is_empty());
    // The message has left the queue; what is left is the bounce to its sender (whose domain
    // is parked on a dead port here).
    let (_, out, _) = run_cli(server.dir.path(), &["queue"]);
    assert!(
        out.contains("1 message")
            && out.contains("from <>")
            && (out.contains("queued    a@sender.test") || out.contains("deferred  a@sender.test")),
        "{out}"
    );
}

#[test]
fn direct_attempts_used_up_then_the_relays_in_file_order() {
    let first = FakeMx::start(Options {
        tempfail_all: true,
        ..Options::new()
    });
    let second = FakeMx::start(Options::new());
    let rest = format!(
        "[domain:r.test]\nmx = {DEAD}\ndirect_attempts = 1\nrelay_attempts = 2\n\
         [relay:first]\nhost = 127.0.0.1\nport = {}\ntls = none\nretry_delay = 1s\n\
         [relay:second]\nhost = 127.0.0.1\nport = {}\ntls = none\n",
        first.port(),
        second.port()
    );
    let server = Server::start("relays", &base_ini("", &rest));
    submit(&server, "a@sender.test", &["u@r.test"], MSG);
    let d = second.wait_deliveries(1, WAIT);
    assert_eq!(d[0].rcpt_addrs(), ["u@r.test"]);
    assert_eq!(first.sessions().len(), 1, "the first relay was tried once");
    server.wait_log(&["attempt=\"direct 1 of 1\"", "connection refused"]);
    server.wait_log(&["attempt=\"relay 1 of 2\"", "route=\"relay first", "451"]);
    server.wait_log(&[
        "attempt=\"relay 2 of 2\"",
        "route=\"relay second",
        "delivered",
    ]);
}

#[test]
fn a_policy_refusal_skips_the_remaining_direct_attempts() {
    let blocked = Some("554 5.7.1 client host blocked".to_string());
    let mx = FakeMx::start(Options {
        greeting: blocked,
        ..Options::new()
    });
    let relay = FakeMx::start(Options::new());
    let rest = format!(
        "{}[relay:isp]\nhost = 127.0.0.1\nport = {}\ntls = none\n",
        route("p.test", &mx, "direct_attempts = 3\nrelay_attempts = 1"),
        relay.port()
    );
    let server = Server::start("policy", &base_ini("", &rest));
    submit(&server, "a@sender.test", &["someone@p.test"], MSG);
    relay.wait_deliveries(1, WAIT);
    assert_eq!(mx.sessions().len(), 1, "one direct attempt only");
    server.wait_log(&["attempt=\"direct 1 of 3\"", "554 5.7.1"]);
    server.wait_log(&["attempt=\"relay 1 of 1\"", "delivered"]);
}

#[test]
fn max_connections_is_never_exceeded() {
    let mx = FakeMx::start(Options::new());
    let rules = "max_connections = 2\nmax_continuous = 1\ncontinuous_delay = 0";
    let server = Server::start("maxconn", &base_ini("", &route("c.test", &mx, rules)));
    let mut c = server.connect();
    c.hello();
    for _ in 0..8 {
        queued_id(&c.send_mail("a@sender.test", &["slow@c.test"], MSG));
    }
    mx.wait_deliveries(8, WAIT);
    assert_eq!(
        mx.max_concurrent(),
        2,
        "two connections at most, and both used"
    );
}

#[test]
fn pending_mail_survives_a_restart_and_goes_out_in_runs_of_max_continuous() {
    let dead = base_ini(
        "",
        &format!("[domain:k.test]\nmx = {DEAD}\nretry_delay = 1s\n"),
    );
    let server = Server::start("runs", &dead);
    let mut c = server.connect();
    c.hello();
    for _ in 0..4 {
        queued_id(&c.send_mail("a@sender.test", &["r@k.test"], MSG));
    }
    drop(c);
    let dir = server.kill9();
    let mx = FakeMx::start(Options::new());
    let rules = "max_connections = 1\nmax_continuous = 2\ncontinuous_delay = 1s\nretry_delay = 1s";
    write_ini(dir.path(), &base_ini("", &route("k.test", &mx, rules)));
    let server = Server::start_in(dir);
    assert!(
        server
            .startup
            .iter()
            .any(|l| l.contains("4 message(s), 4 recipient(s) pending")),
        "{:?}",
        server.startup
    );
    let d = mx.wait_deliveries(4, WAIT);
    let sessions = mx.sessions();
    assert_eq!(
        sessions.len(),
        2,
        "two runs of two messages:\n{}",
        mx.transcript()
    );
    assert!(d.iter().all(|x| x.session < 2));
    let pause = sessions[1]
        .started
        .duration_since(sessions[0].ended.unwrap());
    assert!(
        pause >= Duration::from_millis(900),
        "continuous_delay observed: {pause:?}"
    );
}

/// Issue 20: the spool is read in the background while the restarted server accepts. Two
/// thousand queued messages (two of the scan's batches) and mail submitted during the read
/// each arrive exactly once.
#[test]
fn a_restart_with_thousands_queued_loses_and_duplicates_nothing_while_accepting() {
    const QUEUED: usize = 2000;
    const SESSIONS: usize = 4;
    const NEW: usize = 20;
    // Tried and failed meanwhile, each message is due again a second later.
    let rules = "retry_delay = 1s\nmax_retry_delay = 1s\ndirect_attempts = 1000\n";
    let dead = base_ini("", &format!("[domain:k.test]\nmx = {DEAD}\n{rules}"));
    let server = Server::start("thousands", &dead);
    let clients: Vec<_> = (0..SESSIONS).map(|_| server.connect()).collect();
    std::thread::scope(|s| {
        for (t, mut c) in clients.into_iter().enumerate() {
            s.spawn(move || {
                c.hello();
                for n in (t..QUEUED).step_by(SESSIONS) {
                    let to = format!("old{n}@k.test");
                    queued_id(&c.send_mail("a@sender.test", &[to.as_str()], MSG));
                }
            });
        }
    });
    let dir = server.kill9();
    let mx = FakeMx::start(Options::new());
    let rules = "max_connections = 8\nmax_continuous = 1000";
    write_ini(dir.path(), &base_ini("", &route("k.test", &mx, rules)));
    let server = Server::start_listening(dir);
    for n in 0..NEW {
        submit(&server, "a@sender.test", &[&format!("new{n}@k.test")], MSG);
    }
    let spool_line = wait_for(WAIT, || match server.lines.recv_timeout(WAIT) {
        Ok(line) if line.starts_with("qksmtp: spool ") => Ok(line),
        Ok(_) => Err("not yet".to_string()),
        Err(e) => Err(format!("no spool line: {e}")),
    });
    assert!(
        spool_line.contains(&format!(
            "({QUEUED} message(s), {QUEUED} recipient(s) pending)"
        )),
        "only the earlier run's messages are read from the spool: {spool_line}"
    );
    mx.wait_deliveries(QUEUED + NEW, 3 * WAIT);
    // Nothing is left to send: every envelope is gone from the spool.
    wait_until(|| server.spool_files("env").is_empty(), "the spool emptied");
    let mut rcpts: Vec<String> = mx
        .deliveries()
        .iter()
        .flat_map(|d| d.rcpt_addrs())
        .collect();
    rcpts.sort();
    let mut expected: Vec<String> = (0..QUEUED)
        .map(|n| format!("old{n}@k.test"))
        .chain((0..NEW).map(|n| format!("new{n}@k.test")))
        .collect();
    expected.sort();
    assert_eq!(rcpts.len(), expected.len(), "no message twice");
    assert_eq!(rcpts, expected, "every message once");
}

#[test]
fn starttls_to_an_mx_with_a_self_signed_certificate_and_each_attempt_says_how_it_travelled() {
    let dir = TempDir::new("tls-cert");
    let tls = FakeMx::start(Options {
        tls: Some(make_cert(dir.path())),
        ..Options::new()
    });
    let plain = FakeMx::start(Options::new());
    // Offers STARTTLS but answers it with 502.
    let refusing = FakeMx::start(Options {
        extensions: vec!["STARTTLS".into()],
        ..Options::new()
    });
    let routes = [
        route("t.test", &tls, ""),
        route("p.test", &plain, ""),
        route("r.test", &refusing, ""),
    ];
    let server = Server::start("starttls", &status_ini(&routes.concat()));
    let id = submit(
        &server,
        "a@sender.test",
        &["x@t.test", "y@p.test", "z@r.test"],
        MSG,
    );
    let d = tls.wait_deliveries(1, WAIT);
    assert!(d[0].tls, "delivered over TLS");
    assert!(!plain.wait_deliveries(1, WAIT)[0].tls);
    assert!(!refusing.wait_deliveries(1, WAIT)[0].tls);
    let cases = [
        (
            "x@t.test",
            "TLS 1.2, certificate not verified (opportunistic)",
        ),
        ("y@p.test", "plain text: the server offers no STARTTLS"),
        ("z@r.test", "plain text: the server refused STARTTLS"),
    ];
    for (to, words) in cases {
        let line = server.wait_log(&[&id, &format!("to=<{to}>"), "delivered"]);
        assert!(line.contains(&format!(" tls=\"{words}\" ")), "{line}");
    }
    // `qksmtp show` (the step record of each attempt) says the same.
    let shown = wait_for(WAIT, || {
        let (_, out, err) = run_cli(server.dir.path(), &["show", &id]);
        (out.matches("--- attempt:").count() == 3)
            .then_some(out.clone())
            .ok_or(format!("{out}{err}"))
    });
    for (_, words) in cases {
        assert!(shown.contains(words), "{words}: {shown}");
    }
}

#[test]
fn auth_plain_and_login_to_a_relay() {
    for mech in ["plain", "login"] {
        let relay = FakeMx::start(Options {
            auth: Some(("qkuser".into(), "s3cret pass".into())),
            ..Options::new()
        });
        let rest = format!(
            "[domain:*]\nmx = {DEAD}\ndirect_attempts = 0\nrelay_attempts = 1\n\
             [relay:isp]\nhost = 127.0.0.1\nport = {}\ntls = none\nauth = {mech}\nusername = qkuser\npassword = \"s3cret pass\"\n",
            relay.port()
        );
        let server = Server::start(&format!("auth-{mech}"), &base_ini("", &rest));
        submit(&server, "a@sender.test", &["y@anywhere.test"], MSG);
        let d = relay.wait_deliveries(1, WAIT);
        assert_eq!(d[0].auth_user.as_deref(), Some("qkuser"), "{mech}");
        let lines = &relay.sessions()[0].lines;
        let auth = lines
            .iter()
            .find(|l| l.to_ascii_uppercase().starts_with("AUTH"))
            .unwrap();
        assert!(
            auth.to_ascii_uppercase()
                .starts_with(&format!("AUTH {}", mech.to_ascii_uppercase())),
            "{lines:?}"
        );
        if mech == "plain" {
            assert_eq!(auth, "AUTH PLAIN AHFrdXNlcgBzM2NyZXQgcGFzcw==");
        }
        let log = server.wait_log(&["delivered"]);
        assert!(!log.contains("s3cret"), "no password in the log");
    }
}

#[test]
fn a_drop_in_data_is_temporary_and_the_worker_goes_on() {
    let mx = FakeMx::start(Options::new());
    let server = Server::start(
        "drop",
        &base_ini("", &route("a.test", &mx, "retry_delay = 1h")),
    );
    submit(
        &server,
        "a@sender.test",
        &["disconnect-in-data@a.test"],
        MSG,
    );
    let line = server.wait_log(&["to=<disconnect-in-data@a.test>", "deferred"]);
    assert!(
        line.contains("closed the connection") || line.contains("network error"),
        "{line}"
    );
    submit(&server, "a@sender.test", &["fine@a.test"], MSG);
    let d = mx.wait_deliveries(1, WAIT);
    assert_eq!(d[0].rcpt_addrs(), ["fine@a.test"]);
}

#[test]
fn dns_answers_decide_permanent_and_temporary_failures() {
    use fake_dns::{FakeDns, NXDOMAIN, Reply, Rr, SERVFAIL, TYPE_MX};
    let dns = FakeDns::start(|name, qtype| match (name, qtype) {
        ("nowhere.test", _) => Reply::Rcode(NXDOMAIN),
        ("nullmx.test", TYPE_MX) => Reply::Answer(vec![Rr::Mx(0, ".".into())]),
        ("broken.test", _) => Reply::Rcode(SERVFAIL),
        _ => Reply::Rcode(NXDOMAIN),
    });
    let rest = format!(
        "[delivery]\ndns_server = {}\n[domain:*]\nretry_delay = 1h\n",
        dns.addr
    );
    let server = Server::start("dns", &base_ini("", &rest));
    submit(
        &server,
        "a@sender.test",
        &["a@nowhere.test", "b@nullmx.test", "c@broken.test"],
        MSG,
    );
    let nx = server.wait_log(&["to=<a@nowhere.test>"]);
    assert!(
        nx.contains("failed (permanent)") && nx.contains("status=5.1.2"),
        "{nx}"
    );
    let null = server.wait_log(&["to=<b@nullmx.test>"]);
    assert!(
        null.contains("failed (permanent)") && null.contains("status=5.1.10"),
        "{null}"
    );
    let tmp = server.wait_log(&["to=<c@broken.test>"]);
    assert!(
        tmp.contains("deferred") && tmp.contains("status=4.4.3"),
        "{tmp}"
    );
}

#[test]
fn the_connection_is_reused_for_the_next_message_to_the_same_destination() {
    let mx = FakeMx::start(Options::new());
    let server = Server::start(
        "reuse",
        &base_ini("", &route("a.test", &mx, "max_continuous = 5")),
    );
    submit(&server, "a@sender.test", &["one@a.test"], MSG);
    mx.wait_deliveries(1, WAIT);
    submit(&server, "a@sender.test", &["two@a.test"], MSG);
    let d = mx.wait_deliveries(2, WAIT);
    assert_eq!(
        d[1].session,
        d[0].session,
        "one connection:\n{}",
        mx.transcript()
    );
    assert_eq!(mx.sessions().len(), 1);
    // Idle for a while, the connection is closed politely.
    assert!(mx.wait_sessions_ended(1, WAIT), "{}", mx.transcript());
    assert_eq!(
        mx.sessions()[0].lines.last().map(String::as_str),
        Some("QUIT")
    );
}
