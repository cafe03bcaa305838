//! The SMTP server side, end to end: the real binary, real sockets, real dialogues.

mod common;
use common::*;

const MSG: &str = "Subject: hello\r\nFrom: a@example.test\r\n\r\nHi there.\r\n.\r\n";

#[test]
fn ehlo_offers_the_extensions_and_a_message_is_queued_durably() {
    let server = Server::start("basic", &base_ini("max_message_size = 10M", ""));
    let mut c = server.connect();
    let ehlo = c.hello();
    for ext in [
        "PIPELINING",
        "SIZE 10485760",
        "8BITMIME",
        "SMTPUTF8",
        "ENHANCEDSTATUSCODES",
        "DSN",
    ] {
        assert!(
            ehlo.lines().any(|l| &l[4..] == ext),
            "{ext} missing in {ehlo}"
        );
    }
    let reply = c.send_mail("alice@example.test", &["bob@example.test"], MSG);
    let id = queued_id(&reply);
    assert_eq!(c.cmd("QUIT"), "221 2.0.0 Bye");

    let msgs = server.spool_files("msg");
    assert_eq!(msgs.len(), 1);
    let stored = std::fs::read_to_string(&msgs[0]).unwrap();
    assert!(
        stored
            .starts_with("Received: from client.qksmtp.test ([127.0.0.1])\r\n\tby mx.qksmtp.test"),
        "{stored}"
    );
    assert!(stored.contains(&format!("Message-ID: <{id}@mx.qksmtp.test>\r\n")));
    assert!(
        stored.ends_with("Subject: hello\r\nFrom: a@example.test\r\n\r\nHi there.\r\n"),
        "{stored}"
    );

    let (code, out, _) = run_cli(server.dir.path(), &["queue"]);
    assert_eq!(code, 0);
    assert!(
        out.contains(&id) && out.contains("from <alice@example.test>"),
        "{out}"
    );
    assert!(
        out.contains("queued    bob@example.test") || out.contains("deferred  bob@example.test"),
        "{out}"
    );
}

#[test]
fn pipelined_commands_get_replies_in_order() {
    let server = Server::start("pipelining", &base_ini("", ""));
    let mut c = server.connect();
    c.hello();
    c.send("MAIL FROM:<a@example.test> BODY=8BITMIME\r\nRCPT TO:<b@example.test>\r\nRCPT TO:<c@example.test> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;c@example.test\r\nDATA\r\n");
    assert_eq!(c.reply(), "250 2.1.0 Ok");
    assert_eq!(c.reply(), "250 2.1.5 Ok");
    assert_eq!(c.reply(), "250 2.1.5 Ok");
    assert!(c.reply().starts_with("354"));
    c.send(
        "Subject: p\r\n\r\n..dot stuffed\r\n.\r\nMAIL FROM:<a@example.test>\r\nRSET\r\nQUIT\r\n",
    );
    queued_id(&c.reply());
    assert_eq!(c.reply(), "250 2.1.0 Ok");
    assert_eq!(c.reply(), "250 2.0.0 Ok");
    assert_eq!(c.reply(), "221 2.0.0 Bye");
    let env = std::fs::read_to_string(&server.spool_files("env")[0]).unwrap();
    assert!(env.contains("body 8bitmime"), "{env}");
    assert!(
        env.contains(
            "rcpt c@example.test state=pending notify=success,failure orcpt=rfc822;c@example.test"
        ),
        "{env}"
    );
    let msg = std::fs::read_to_string(&server.spool_files("msg")[0]).unwrap();
    assert!(msg.ends_with("\r\n\r\n.dot stuffed\r\n"), "{msg}");
}

#[test]
fn bad_and_out_of_sequence_commands_get_standard_replies_and_the_session_goes_on() {
    let server = Server::start("sequence", &base_ini("max_errors = 50", ""));
    let mut c = server.connect();
    assert!(c.reply().starts_with("220"));
    let cases: &[(&str, &str)] = &[
        ("MAIL FROM:<a@example.test>", "503 5.5.1"),
        ("EHLO client.qksmtp.test", "250"),
        ("RCPT TO:<b@example.test>", "503 5.5.1"),
        ("DATA", "503 5.5.1"),
        ("FROB", "500 5.5.2"),
        ("MAIL FROM:<a@example.test> FROB=1", "555 5.5.4"),
        ("MAIL FROM:a@example.test", "501 5.1.7"),
        ("mail from:<a@example.test>", "250 2.1.0"),
        ("MAIL FROM:<a@example.test>", "503 5.5.1"),
        ("RCPT TO:<b@example.test> NOTIFY=NEVER,SUCCESS", "501 5.5.4"),
        ("DATA", "554 5.5.1"),
        ("RCPT TO:<postmaster>", "550 5.1.3"),
        ("VRFY bob", "252 2.0.0"),
        ("EXPN list", "502 5.5.1"),
        ("HELP", "214"),
        ("NOOP", "250 2.0.0"),
        ("RSET", "250 2.0.0"),
        ("QUIT", "221 2.0.0"),
    ];
    for (command, want) in cases {
        let got = c.cmd(command);
        assert!(got.starts_with(want), "{command}: want {want}, got {got}");
    }
}

#[test]
fn a_line_over_512_octets_is_refused_and_the_session_continues() {
    let server = Server::start("longline", &base_ini("", ""));
    let mut c = server.connect();
    c.hello();
    let long = format!("NOOP {}", "x".repeat(600));
    assert_eq!(c.cmd(&long), "500 5.5.2 Line too long");
    assert_eq!(c.cmd(&format!("NOOP {}", "y".repeat(500))), "250 2.0.0 Ok");
    assert!(
        c.cmd(&format!("NOOP {}", "y".repeat(506)))
            .starts_with("500 5.5.2")
    );
    assert_eq!(c.cmd("NOOP"), "250 2.0.0 Ok");
}

#[test]
fn size_limits_at_mail_and_during_data() {
    let server = Server::start("size", &base_ini("max_message_size = 1K", ""));
    let mut c = server.connect();
    c.hello();
    assert!(
        c.cmd("MAIL FROM:<a@example.test> SIZE=2000")
            .starts_with("552 5.3.4")
    );
    let big = format!("Subject: big\r\n\r\n{}\r\n.\r\n", "z".repeat(3000));
    assert!(
        c.send_mail("a@example.test", &["b@example.test"], &big)
            .starts_with("552 5.3.4")
    );
    // The session goes on and a small message still passes.
    queued_id(&c.send_mail("a@example.test", &["b@example.test"], MSG));
    assert_eq!(server.spool_files("msg").len(), 1);
}

#[test]
fn recipients_per_message_are_limited() {
    let server = Server::start("maxrcpt", &base_ini("max_recipients = 2", ""));
    let mut c = server.connect();
    c.hello();
    c.cmd("MAIL FROM:<a@example.test>");
    assert!(c.cmd("RCPT TO:<r1@example.test>").starts_with("250"));
    assert!(c.cmd("RCPT TO:<r2@example.test>").starts_with("250"));
    assert!(c.cmd("RCPT TO:<r3@example.test>").starts_with("452 4.5.3"));
    assert!(c.cmd("DATA").starts_with("354"));
    c.send(MSG);
    queued_id(&c.reply());
}

#[test]
fn relaying_is_refused_outside_relay_from() {
    let ini = base_ini(
        "",
        "[access]\nallow = 127.0.0.0/8\nrelay_from = 127.0.0.1/32\n",
    );
    let server = Server::start("relay", &ini);
    let mut outside = server.connect_from("127.0.0.2");
    outside.hello();
    assert!(outside.cmd("MAIL FROM:<a@example.test>").starts_with("250"));
    assert_eq!(
        outside.cmd("RCPT TO:<b@example.test>"),
        "550 5.7.1 Relaying denied"
    );
    assert!(outside.cmd("DATA").starts_with("554 5.5.1"));
    let mut inside = server.connect_from("127.0.0.1");
    inside.hello();
    queued_id(&inside.send_mail("a@example.test", &["b@example.test"], MSG));
    assert_eq!(server.spool_files("msg").len(), 1);
}

#[test]
fn access_rules_refuse_at_connect() {
    let ini = base_ini("", "[access]\ndeny = 127.0.0.2\nallow = 127.0.0.0/8\n");
    let server = Server::start("access", &ini);
    let mut denied = server.connect_from("127.0.0.2");
    assert_eq!(denied.reply(), "554 5.7.1 Access denied");
    assert!(denied.closed());
    let mut allowed = server.connect_from("127.0.0.3");
    assert!(allowed.reply().starts_with("220"));
}

#[test]
fn sessions_per_ip_are_limited() {
    let server = Server::start("perip", &base_ini("max_sessions_per_ip = 2", ""));
    let mut a = server.connect();
    let mut b = server.connect();
    assert!(a.reply().starts_with("220") && b.reply().starts_with("220"));
    let mut third = server.connect();
    assert_eq!(
        third.reply(),
        "421 4.7.0 Too many connections, try again later"
    );
    assert!(third.closed());
    let mut other_ip = server.connect_from("127.0.0.5");
    assert!(other_ip.reply().starts_with("220"));
    assert!(a.cmd("QUIT").starts_with("221"));
    // The place is free as soon as the client has read 221: reconnecting at once works.
    let mut again = server.connect();
    assert!(again.reply().starts_with("220"));
    assert_eq!(again.cmd("NOOP"), "250 2.0.0 Ok");
}

#[test]
fn too_many_errors_end_the_session() {
    let server = Server::start("errors", &base_ini("max_errors = 3", ""));
    let mut c = server.connect();
    c.hello();
    assert!(c.cmd("BOGUS1").starts_with("500"));
    assert!(c.cmd("BOGUS2").starts_with("500"));
    assert_eq!(c.cmd("BOGUS3"), "500 5.5.2 Command not recognized");
    assert_eq!(c.reply(), "421 4.7.0 Too many errors, closing connection");
    assert!(c.closed());
}

#[test]
fn an_idle_client_is_timed_out() {
    let server = Server::start("idle", &base_ini("idle_timeout = 1s", ""));
    let mut c = server.connect();
    c.hello();
    assert_eq!(c.reply(), "421 4.4.2 Timeout, closing connection");
    assert!(c.closed());
}

#[test]
fn smuggled_end_of_data_does_not_start_a_second_transaction() {
    let server = Server::start("smuggle", &base_ini("", ""));
    let mut c = server.connect();
    c.hello();
    let smuggled = "Subject: s\r\n\r\nbody\n.\nMAIL FROM:<evil@example.test>\nRCPT TO:<victim@example.test>\nDATA\nforged\r\n.\r\n";
    queued_id(&c.send_mail("a@example.test", &["b@example.test"], smuggled));
    assert_eq!(c.cmd("NOOP"), "250 2.0.0 Ok");
    let msgs = server.spool_files("msg");
    assert_eq!(msgs.len(), 1, "one message, not two");
    let stored = std::fs::read_to_string(&msgs[0]).unwrap();
    assert!(stored.ends_with("body\r\n.\r\nMAIL FROM:<evil@example.test>\r\nRCPT TO:<victim@example.test>\r\nDATA\r\nforged\r\n"), "{stored:?}");
}

#[test]
fn bare_newlines_can_be_rejected() {
    let server = Server::start("bare", &base_ini("bare_newline = reject", ""));
    let mut c = server.connect();
    c.hello();
    let reply = c.send_mail(
        "a@example.test",
        &["b@example.test"],
        "Subject: s\r\n\r\nline\nnext\r\n.\r\n",
    );
    assert!(reply.starts_with("554 5.6.0"), "{reply}");
    queued_id(&c.send_mail("a@example.test", &["b@example.test"], MSG));
    assert_eq!(server.spool_files("msg").len(), 1);
}

#[test]
fn a_queued_message_survives_kill_9_and_a_restart() {
    let server = Server::start("crash", &base_ini("", ""));
    let mut c = server.connect();
    c.hello();
    let id = queued_id(&c.send_mail(
        "alice@example.test",
        &["bob@example.test", "carol@example.test"],
        MSG,
    ));
    let dir = server.kill9();
    let (code, out, _) = run_cli(dir.path(), &["queue"]);
    assert_eq!(code, 0);
    assert!(
        out.contains(&id) && out.contains("carol@example.test"),
        "{out}"
    );
    assert!(out.contains("1 message, 2 recipients pending"), "{out}");
    let restarted = Server::start_in(dir);
    assert!(
        restarted
            .startup
            .iter()
            .any(|l| l.contains("(1 message(s), 2 recipient(s) pending)")),
        "{:?}",
        restarted.startup
    );
}

#[test]
fn sigterm_stops_cleanly_and_lets_a_message_in_data_finish() {
    let server = Server::start("sigterm", &base_ini("", ""));
    let mut idle = server.connect();
    idle.hello();
    let mut busy = server.connect();
    busy.hello();
    busy.cmd("MAIL FROM:<a@example.test>");
    busy.cmd("RCPT TO:<b@example.test>");
    assert!(busy.cmd("DATA").starts_with("354"));
    busy.send("Subject: half\r\n\r\nfirst half\r\n");
    signal(&server.child, "TERM");
    // The idle session is told at once; the one in DATA may finish its message.
    assert_eq!(
        idle.reply(),
        "421 4.3.2 Service shutting down, try again later"
    );
    busy.send("second half\r\n.\r\n");
    let id = queued_id(&busy.reply());
    assert!(busy.reply().starts_with("421 4.3.2"));
    let (status, dir) = server.terminate();
    assert!(status.success(), "{status:?}");
    let (_, out, _) = run_cli(dir.path(), &["queue"]);
    assert!(out.contains(&id), "{out}");
}

/// Going back a version with mail queued: an envelope that a newer qksmtp wrote, with a key
/// and a recipient field this one does not know, is read without them and delivered, not
/// set aside as damaged; the log names each unknown key once.
#[test]
fn an_envelope_from_a_newer_version_is_delivered_not_set_aside() {
    let server = Server::start("newer-envelope", &base_ini("", ""));
    let id = submit(
        &server,
        "a@example.test",
        &["b@newer.test", "c@newer.test"],
        MSG,
    );
    let dir = server.kill9();
    let env = dir.path().join(format!("spool/{id}.env"));
    let text = std::fs::read_to_string(&env).unwrap();
    let newer = text
        .replacen("\nsize ", "\npriority high\nsize ", 1)
        .replace(" tries=", " via=relay:isp tries=");
    assert_ne!(newer, text);
    std::fs::write(&env, newer).unwrap();
    let mx = fake_mx::FakeMx::start(fake_mx::Options::new());
    write_ini(dir.path(), &base_ini("", &route("newer.test", &mx, "")));
    let restarted = Server::start_in(dir);
    let d = mx.wait_deliveries(1, WAIT);
    assert_eq!(d[0].rcpt_addrs(), ["b@newer.test", "c@newer.test"]);
    assert!(d[0].text().contains("Hi there."));
    restarted.wait_stderr("envelope key \"priority\" is not known to this qksmtp");
    restarted.wait_stderr("envelope recipient field \"via\" is not known");
    assert!(!restarted.spool().join("corrupt").exists());
}

#[test]
fn a_damaged_spool_is_moved_aside_at_start_up_not_dropped() {
    let server = Server::start("damaged", &base_ini("", ""));
    let mut c = server.connect();
    c.hello();
    let good = queued_id(&c.send_mail("a@example.test", &["b@example.test"], MSG));
    let dir = server.kill9();
    let spool = dir.path().join("spool");
    let damage: &[(&str, &str)] = &[
        (
            "1111111111111111.env",
            "qksmtp-envelope 1\nid 1111111111111111\narr",
        ),
        (
            "1111111111111111.msg",
            "Subject: truncated envelope\r\n\r\n",
        ),
        ("2222222222222222.msg", "Subject: no envelope\r\n\r\n"),
        ("3333333333333333.env", "qksmtp-envelope 99\n"),
        ("3333333333333333.msg", "Subject: from the future\r\n\r\n"),
        ("4444444444444444.msg.tmp", "half"),
    ];
    for (name, text) in damage {
        std::fs::write(spool.join(name), text).unwrap();
    }
    let (_, listing, _) = run_cli(dir.path(), &["queue"]);
    assert!(listing.contains(&good), "{listing}");
    assert_eq!(listing.matches("damaged:").count(), 3, "{listing}");
    // Restarted with its status API, so that `queue` lists through it while it runs.
    let text = std::fs::read_to_string(dir.path().join("qksmtp.ini")).unwrap();
    write_ini(dir.path(), &with_status_page(&text));
    let restarted = Server::start_in(dir);
    let moved = restarted
        .startup
        .iter()
        .filter(|l| l.contains("moved to"))
        .count();
    assert_eq!(moved, 3, "{:?}", restarted.startup);
    let corrupt = restarted.spool().join("corrupt");
    for name in [
        "1111111111111111.env",
        "1111111111111111.msg",
        "2222222222222222.msg",
        "3333333333333333.env",
    ] {
        assert!(corrupt.join(name).exists(), "{name} kept in corrupt/");
    }
    assert!(!restarted.spool().join("4444444444444444.msg.tmp").exists());
    assert!(
        restarted
            .startup
            .iter()
            .any(|l| l.contains("(1 message(s), 1 recipient(s) pending)")),
        "{:?}",
        restarted.startup
    );
    // Reported by `queue` (server up, then down) and `check` until someone looks.
    let set_aside = "set aside in corrupt/ (damaged, kept for a person to look at): 5 files: \
                     1111111111111111.env 1111111111111111.msg 2222222222222222.msg \
                     3333333333333333.env 3333333333333333.msg";
    assert!(restarted.status_addr.is_some());
    let (_, up, _) = run_cli(restarted.dir.path(), &["queue"]);
    assert!(up.contains(set_aside), "{up}");
    assert!(
        !up.contains("    pending "),
        "listed through the API (live states, not the file's): {up}"
    );
    let (status, dir) = restarted.terminate();
    assert!(status.success());
    let (_, down, _) = run_cli(dir.path(), &["queue"]);
    assert!(down.contains(set_aside), "{down}");
    let (code, check, _) = run_cli(dir.path(), &["check"]);
    assert_eq!(code, 0);
    assert!(
        check.contains(&format!("; spool {}", dir.path().join("spool").display())),
        "{check}"
    );
    assert!(check.contains(set_aside), "{check}");
}
