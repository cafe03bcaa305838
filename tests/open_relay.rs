//! The open-relay check: a client outside `relay_from` (bound to 127.0.0.2) cannot have mail
//! relayed by any way of writing an external address, and a client inside it finds every such
//! form taken literally (source routes dropped, `%` and `!` not re-read as routing).

mod common;

use common::fake_mx::{FakeMx, Options};
use common::*;

const MSG: &str = "Subject: relay?\r\n\r\nHello.\r\n.\r\n";

/// Every way of naming a recipient at ext.test (or routing through another host).
const FORMS: &[&str] = &[
    "<a@ext.test>",
    "<A@EXT.TEST>",
    "<a@Ext.Test>",
    "<a@ext.test.>",
    "<@x.test:a@ext.test>",
    "<@x.test,@local.test:a@ext.test>",
    "<\"a@ext.test\"@local.test>",
    "<\"a%ext.test\"@local.test>",
    "<a%ext.test@local.test>",
    "<a!ext.test@local.test>",
    "<ext.test!a@local.test>",
    "<a@ext.test@local.test>",
    "<a@[192.0.2.1]>",
    "<a@[IPv6:2001:db8::1]>",
    "<postmaster@ext.test>",
    "<postmaster>",
    "<a@local.test>",
];

/// The INI: anyone on 127.0.0.0/8 may connect, only 127.0.0.1 may relay; ext.test, x.test
/// and local.test go to their fake MX servers, everything else to a dead port.
fn relay_ini(ext: &FakeMx, x: &FakeMx, local: &FakeMx) -> String {
    let rest = format!(
        "[access]\nallow = 127.0.0.0/8\nrelay_from = 127.0.0.1/32\n{}{}{}",
        route("ext.test", ext, ""),
        route("x.test", x, ""),
        route("local.test", local, "")
    );
    base_ini("", &rest)
}

#[test]
fn no_form_of_an_external_address_is_relayed_for_a_client_outside_relay_from() {
    let (ext, x, local) = (
        FakeMx::start(Options::new()),
        FakeMx::start(Options::new()),
        FakeMx::start(Options::new()),
    );
    let server = Server::start("relay-out", &relay_ini(&ext, &x, &local));
    for form in FORMS {
        // One session each: refusals count towards max_errors.
        let mut c = server.connect_from("127.0.0.2");
        c.hello();
        assert!(c.cmd("MAIL FROM:<a@sender.test>").starts_with("250"));
        let r = c.cmd(&format!("RCPT TO:{form}"));
        println!("127.0.0.2 RCPT TO:{form} -> {r}");
        // Refused: relaying denied, or (a trailing dot, two @, no domain) not an address
        // qksmtp accepts at all.
        let refused = r.starts_with("550 5.7.1 ")
            || r.starts_with("501 5.1.3 ")
            || (*form == "<postmaster>" && r.starts_with("550 5.1.3 "));
        assert!(refused, "{form}: {r}");
        let r = c.cmd("DATA");
        assert!(
            r.starts_with("554 ") || r.starts_with("503 "),
            "{form}: {r}"
        );
        assert!(c.cmd("QUIT").starts_with("221"));
    }
    assert!(server.spool_files("msg").is_empty(), "nothing was queued");
    assert!(server.spool_files("env").is_empty());
    for mx in [&ext, &x, &local] {
        assert!(mx.sessions().is_empty(), "{}", mx.transcript());
    }
}

/// Submits one message to `form` from 127.0.0.1; `None` when RCPT was refused.
fn submit_form(server: &Server, form: &str) -> Option<String> {
    let mut c = server.connect();
    c.hello();
    assert!(c.cmd("MAIL FROM:<a@sender.test>").starts_with("250"));
    let r = c.cmd(&format!("RCPT TO:{form}"));
    println!("127.0.0.1 RCPT TO:{form} -> {r}");
    if !r.starts_with("250") {
        assert!(r.starts_with('5'), "{form}: {r}");
        return None;
    }
    assert!(c.cmd("DATA").starts_with("354"));
    c.send(MSG);
    Some(queued_id(&c.reply()))
}

#[test]
fn inside_relay_from_each_form_is_taken_literally() {
    let (ext, x, local) = (
        FakeMx::start(Options::new()),
        FakeMx::start(Options::new()),
        FakeMx::start(Options::new()),
    );
    let server = Server::start("relay-in", &relay_ini(&ext, &x, &local));
    // (form, the MX it must reach, the RCPT it must get there).
    let delivered: &[(&str, &FakeMx, &str)] = &[
        ("<a@ext.test>", &ext, "a@ext.test"),
        ("<A@EXT.TEST>", &ext, "A@EXT.TEST"),
        // RFC 5321 appendix C: the source route is dropped, the mailbox is used.
        ("<@x.test:a@ext.test>", &ext, "a@ext.test"),
        ("<@x.test,@local.test:a@ext.test>", &ext, "a@ext.test"),
        // The local part is opaque: local.test decides what it means.
        (
            "<\"a@ext.test\"@local.test>",
            &local,
            "\"a@ext.test\"@local.test",
        ),
        ("<a%ext.test@local.test>", &local, "a%ext.test@local.test"),
        ("<a!ext.test@local.test>", &local, "a!ext.test@local.test"),
        ("<ext.test!a@local.test>", &local, "ext.test!a@local.test"),
    ];
    for (n, (form, mx, rcpt)) in delivered.iter().enumerate() {
        let before = mx.deliveries().len();
        submit_form(&server, form).unwrap_or_else(|| panic!("{form} refused"));
        mx.wait_deliveries(before + 1, WAIT);
        assert_eq!(
            mx.deliveries()[before].rcpt_addrs(),
            [rcpt.to_string()],
            "{form}"
        );
        let total: usize = [&ext, &x, &local]
            .iter()
            .map(|m| m.deliveries().len())
            .sum();
        assert_eq!(total, n + 1, "{form} went to exactly one server");
    }
    assert!(
        x.sessions().is_empty(),
        "the source route's host is never contacted"
    );
    // Not addresses: refused.
    assert_eq!(submit_form(&server, "<a@ext.test@local.test>"), None);
    assert_eq!(submit_form(&server, "<a@ext.test.>"), None);
    // An address literal is accepted but, with `[domain:*] mx` set, goes there (the test's
    // dead port) like every domain without a rule: never to 192.0.2.1 itself.
    let id = submit_form(&server, "<a@[192.0.2.1]>").expect("literal accepted");
    let line = server.wait_log(&[&id]);
    let (host, port) = DEAD.split_once(':').unwrap();
    assert!(
        line.contains(&format!("route=\"{host} [{host}]:{port}\"")),
        "{line}"
    );
    assert!(!line.contains("route=\"192.0.2.1"), "{line}");
}
