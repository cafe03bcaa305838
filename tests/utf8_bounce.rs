//! Mail from a sender with a UTF-8 address to a server without SMTPUTF8 cannot go (553
//! 5.6.7); the bounce reaches the sender through the sender's own server, which takes
//! SMTPUTF8, and says why the message could not go.

mod common;

use common::fake_mx::{FakeMx, Options};
use common::*;

#[test]
fn the_bounce_to_a_utf8_sender_goes_through_a_server_that_takes_smtputf8() {
    let mx = FakeMx::start(Options::new());
    let home = FakeMx::start(Options {
        extensions: vec!["SMTPUTF8".into(), "8BITMIME".into()],
        ..Options::new()
    });
    let rest = format!(
        "{}{}",
        route("x.test", &mx, ""),
        route("sender.test", &home, "")
    );
    let server = Server::start("utf8-bounce", &base_ini("", &rest));
    let mut c = server.connect();
    c.hello();
    assert!(
        c.cmd("MAIL FROM:<jürgen@sender.test> SMTPUTF8")
            .starts_with("250")
    );
    assert!(c.cmd("RCPT TO:<u@x.test>").starts_with("250"));
    assert!(c.cmd("DATA").starts_with("354"));
    c.send("From: jürgen@sender.test\r\nSubject: grüße\r\n\r\nHallo.\r\n.\r\n");
    assert!(c.reply().starts_with("250"));
    let d = home.wait_deliveries(1, WAIT);
    assert_eq!(d[0].rcpt_addrs(), ["jürgen@sender.test"]);
    let text = d[0].text();
    assert!(text.contains("5.6.7"), "{text}");
    assert!(text.contains("SMTPUTF8"), "the notice says why: {text}");
    assert!(mx.deliveries().is_empty());
}
