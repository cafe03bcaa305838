//! The status page, its JSON API and /metrics on the real binary, the queue commands with the
//! server up (through the API) and down (on the locked spool), and `qksmtp send`.

mod common;
use common::fake_mx::{FakeMx, Options};
use common::*;
use std::time::Duration;

const MSG: &str = "Subject: status test\r\nFrom: a@sender.test\r\n\r\nHi.\r\n.\r\n";

fn token(server: &Server) -> String {
    let text = std::fs::read_to_string(server.spool().join(".status")).unwrap();
    text.lines().nth(1).unwrap().to_string()
}

#[test]
fn the_api_shows_a_delivered_and_a_deferred_message_with_their_steps() {
    let mx = FakeMx::start(Options::new());
    let server = Server::start(
        "api",
        &status_ini(&route("a.test", &mx, "retry_delay = 1h")),
    );
    let page = server
        .status_addr
        .expect("the status page address is printed");
    let good = submit(&server, "a@sender.test", &["ok@a.test"], MSG);
    let bad = submit(&server, "a@sender.test", &["tempfail@a.test"], MSG);
    let list = wait_http(
        page,
        "/api/messages",
        &["\"state\":\"delivered\"", "\"state\":\"deferred\""],
    );
    assert!(list.contains(&good) && list.contains(&bad), "{list}");
    assert!(list.contains("\"subject\":\"status test\""), "{list}");
    let (code, delivered) = http(page, "GET", &format!("/api/messages/{good}"), &[]);
    assert_eq!(code, 200, "{delivered}");
    assert!(
        delivered.contains("\"step\":\"DATA-DONE\"") && delivered.contains("250"),
        "{delivered}"
    );
    assert!(
        delivered.contains("Subject: status test"),
        "headers: {delivered}"
    );
    let (_, deferred) = http(page, "GET", &format!("/api/messages/{bad}"), &[]);
    assert!(
        deferred.contains("\"ok\":false,\"step\":\"RCPT\"") && deferred.contains("451 4.7.1"),
        "the failing step: {deferred}"
    );
    let status = wait_http(page, "/api/status", &["\"deferred\":1"]);
    // The chart's minutes, sparse: the minutes with a result only.
    assert!(
        status.contains("\"per_minute\":{\"minutes\":60,\"busy\":[[59,")
            || status.contains("\"per_minute\":{\"minutes\":60,\"busy\":[[58,"),
        "{status}"
    );
    assert!(
        status.contains("\"delivered\":1") && status.contains("\"name\":\"a.test\""),
        "{status}"
    );
    let (_, metrics) = http(page, "GET", "/metrics", &[]);
    for line in [
        "qksmtp_delivered_total 1",
        "qksmtp_deferred_total 1",
        "qksmtp_queue_recipients{state=\"deferred\"} 1",
    ] {
        assert!(metrics.lines().any(|l| l == line), "{line} in\n{metrics}");
    }
    assert!(
        metrics.contains("qksmtp_attempt_duration_seconds_count 2"),
        "{metrics}"
    );
    let (code, html) = http(page, "GET", &format!("/message/{bad}"), &[]);
    assert_eq!(code, 200);
    assert!(
        html.contains("<tr class=\"fail\">") && html.contains("451 4.7.1"),
        "{html}"
    );
}

#[test]
fn actions_are_refused_without_the_token_or_from_another_site() {
    let server = Server::start("csrf", &status_ini(""));
    let page = server.status_addr.unwrap();
    let tok = token(&server);
    let origin = format!("http://{page}");
    assert_eq!(http(page, "POST", "/api/flush", &[]).0, 403);
    assert_eq!(
        http(page, "GET", "/api/flush", &[("X-Qksmtp-Token", &tok)]).0,
        405
    );
    let evil = [
        ("X-Qksmtp-Token", tok.as_str()),
        ("Origin", "http://evil.test"),
    ];
    assert_eq!(http(page, "POST", "/api/flush", &evil).0, 403);
    let cross = [
        ("X-Qksmtp-Token", tok.as_str()),
        ("Sec-Fetch-Site", "cross-site"),
    ];
    assert_eq!(http(page, "POST", "/api/flush", &cross).0, 403);
    let good = [
        ("X-Qksmtp-Token", tok.as_str()),
        ("Origin", origin.as_str()),
    ];
    assert_eq!(http(page, "POST", "/api/flush", &good).0, 200);
    let missing = "/api/messages/0123456789ABCDEF/retry";
    assert_eq!(http(page, "POST", missing, &good).0, 404);
}

#[test]
fn queue_commands_work_with_the_server_up_and_down() {
    let mx = FakeMx::start(Options::new());
    let server = Server::start(
        "cli",
        &status_ini(&route("a.test", &mx, "retry_delay = 1h")),
    );
    let page = server.status_addr.unwrap();
    let dir = server.dir.path().to_path_buf();
    // Up: through the API.
    let id = submit(&server, "a@sender.test", &["tempfail@a.test"], MSG);
    wait_http(
        page,
        &format!("/api/messages/{id}"),
        &["\"state\":\"deferred\""],
    );
    let (code, out, err) = run_cli(&dir, &["hold", &id]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        std::fs::read_to_string(server.spool().join(format!("{id}.env")))
            .unwrap()
            .contains("\nheld 1\n")
    );
    let (_, listed, _) = run_cli(&dir, &["queue"]);
    assert!(
        listed.contains("[held]") && listed.contains("held      tempfail@a.test"),
        "{listed}"
    );
    assert_eq!(run_cli(&dir, &["retry", &id]).0, 0);
    mx.wait_until(Duration::from_millis(300), |d, _| !d.is_empty());
    assert_eq!(mx.deliveries().len(), 0, "a held message is not tried");
    assert_eq!(run_cli(&dir, &["release", &id]).0, 0);
    assert_eq!(run_cli(&dir, &["retry", &id]).0, 0);
    mx.wait_deliveries(1, WAIT);
    wait_http(
        page,
        &format!("/api/messages/{id}"),
        &["\"state\":\"delivered\""],
    );
    let (code, shown, _) = run_cli(&dir, &["show", &id]);
    assert!(code == 0 && shown.contains("DATA-DONE"), "{shown}");
    let parked = submit(&server, "a@sender.test", &["x@unrouted.test"], MSG);
    assert_eq!(run_cli(&dir, &["delete", &parked]).0, 0);
    assert_eq!(run_cli(&dir, &["delete", &parked]).0, 1, "not found");
    assert_eq!(run_cli(&dir, &["retry", "nonsense"]).0, 1);
    assert_eq!(run_cli(&dir, &["retry"]).0, 2);
    // Down: on the spool, under the lock.
    let second = submit(&server, "a@sender.test", &["later@a.test"], MSG);
    wait_http(page, "/api/status", &["\"delivered\":2"]);
    let held = submit(&server, "a@sender.test", &["x@unrouted.test"], MSG);
    let gone = submit(&server, "a@sender.test", &["y@unrouted.test"], MSG);
    let (_, dir_kept) = server.terminate();
    assert_eq!(run_cli(dir_kept.path(), &["hold", &held]).0, 0);
    assert_eq!(run_cli(dir_kept.path(), &["delete", &gone]).0, 0);
    assert_eq!(run_cli(dir_kept.path(), &["delete", &gone]).0, 1);
    assert_eq!(run_cli(dir_kept.path(), &["retry", &held]).0, 0);
    let (_, listed, _) = run_cli(dir_kept.path(), &["queue"]);
    assert!(
        listed.contains(&held) && listed.contains("[held]") && !listed.contains(&gone),
        "{listed}"
    );
    assert!(!listed.contains(&second));
    // Restarted, the hold persists; released through the API, the message is queued again.
    let server = Server::start_in(dir_kept);
    let page = server.status_addr.unwrap();
    wait_http(
        page,
        &format!("/api/messages/{held}"),
        &["\"state\":\"held\""],
    );
    assert_eq!(run_cli(server.dir.path(), &["release", &held]).0, 0);
    wait_http(
        page,
        &format!("/api/messages/{held}"),
        &["\"direct_tries\":1"],
    );
}

#[test]
fn send_t_with_a_here_document_delivers_and_waits_in_the_spool_when_stopped() {
    let mx = FakeMx::start(Options::new());
    let server = Server::start(
        "send",
        &status_ini(&route("a.test", &mx, "retry_delay = 1h")),
    );
    let script = format!(
        "{BIN} send -t -oi --config {}/qksmtp.ini <<'EOF'\nFrom: Me <me@sender.test>\nTo: You <you@a.test>\nBcc: hidden@a.test\nSubject: from a script\n\nline one\n.\nline three\nEOF\n",
        server.dir.path().display()
    );
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(&script)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let d = mx.wait_deliveries(1, WAIT);
    let mut rcpts = d[0].rcpt_addrs();
    rcpts.sort();
    assert_eq!(rcpts, ["hidden@a.test", "you@a.test"]);
    assert_eq!(d[0].sender_addr(), "me@sender.test");
    let text = d[0].text();
    assert!(!text.contains("Bcc") && !text.contains("hidden"), "{text}");
    assert!(
        text.contains("with local id") && text.contains("Message-ID: <"),
        "{text}"
    );
    assert!(
        text.ends_with("\r\n\r\nline one\r\n.\r\nline three\r\n"),
        "{text:?}"
    );
    // Stopped: it waits in the spool, and goes at the next start.
    let (_, dir) = server.terminate();
    let (code, _, err) = run_cli_stdin(
        dir.path(),
        &["send", "-f", "me@sender.test", "later@a.test"],
        "Subject: later\n\nbody\n",
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(spool_files(&dir.path().join("spool"), "env").len(), 1);
    let (code, _, _) = run_cli_stdin(dir.path(), &["send", "-t"], "Subject: nobody\n\nx\n");
    assert_eq!(code, 64, "no recipients: EX_USAGE");
    let _server = Server::start_in(dir);
    let d = mx.wait_deliveries(2, WAIT);
    assert_eq!(d[1].rcpt_addrs(), ["later@a.test"]);
}

/// The message page of a message to two domains: each attempt titled with its destination,
/// server, recipients and attempt n of N; the deferral in red is the RCPT's 451, not the 554
/// the pipelined DATA got; the deferred recipient's next try. A gone message gets a page.
#[test]
fn the_message_page_tells_each_attempt_apart() {
    let mx = FakeMx::start(Options::new());
    let routes = route("a.test", &mx, "") + &route("b.test", &mx, "retry_delay = 1h");
    let server = Server::start("pages", &status_ini(&routes));
    let page = server.status_addr.unwrap();
    let id = submit(
        &server,
        "a@sender.test",
        &["ok@a.test", "tempfail@b.test"],
        MSG,
    );
    let path = format!("/message/{id}");
    let html = wait_http(page, &path, &["st delivered", "st deferred"]);
    let port = mx.port();
    for (dest, rcpt) in [("a.test", "ok@a.test"), ("b.test", "tempfail@b.test")] {
        let title =
            format!("<h3>{dest} · 127.0.0.1:{port} (127.0.0.1) · {rcpt} · direct attempt 1 of ");
        assert!(html.contains(&title), "{title} in {html}");
    }
    let fails: Vec<&str> = html
        .split("<tr")
        .filter(|r| r.starts_with(" class=\"fail\""))
        .collect();
    assert_eq!(fails.len(), 1, "{html}");
    assert!(
        fails[0].contains("RCPT") && fails[0].contains("451 4.7.1"),
        "{html}"
    );
    assert!(
        html.contains("<span class=\"when\">next try <time datetime=\""),
        "{html}"
    );
    assert!(html.contains("data-action=\"retry\"") && !html.contains("data-action=\"release\""));

    assert!(
        html.contains(&format!("href=\"/message/{id}.eml\"")),
        "{html}"
    );
    let (code, eml) = http(page, "GET", &format!("/message/{id}.eml"), &[]);
    assert_eq!(code, 200);
    assert!(
        eml.contains("Subject: status test") && eml.contains("Received: "),
        "{eml}"
    );

    let (code, gone) = http(page, "GET", "/message/0123456789ABCDEF", &[]);
    assert_eq!(code, 404);
    assert!(
        gone.contains("<!doctype html>") && gone.contains("No message 0123456789ABCDEF"),
        "{gone}"
    );
}

/// An event stream (`GET /api/events`) read over a plain socket.
struct Events(std::io::BufReader<std::net::TcpStream>);

impl Events {
    fn open(addr: std::net::SocketAddr, last: Option<u64>) -> Events {
        use std::io::{BufRead, Write};
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        let again = last.map_or(String::new(), |n| format!("Last-Event-ID: {n}\r\n"));
        write!(s, "GET /api/events HTTP/1.1\r\nHost: {addr}\r\n{again}\r\n").unwrap();
        let mut reader = std::io::BufReader::new(s);
        let mut head = String::new();
        while !head.ends_with("\r\n\r\n") {
            assert!(reader.read_line(&mut head).unwrap() > 0, "{head}");
        }
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        assert!(head.contains("Content-Type: text/event-stream"), "{head}");
        Events(reader)
    }

    /// The next event: its id and data.
    fn next(&mut self) -> (u64, String) {
        use std::io::BufRead;
        let (mut id, mut data) = (None, None);
        loop {
            let mut line = String::new();
            assert!(self.0.read_line(&mut line).unwrap() > 0, "the stream ended");
            let line = line.trim_end();
            if let Some(v) = line.strip_prefix("id: ") {
                id = v.parse().ok();
            } else if let Some(v) = line.strip_prefix("data: ") {
                data = Some(v.to_string());
            } else if line.is_empty()
                && let (Some(id), Some(data)) = (id, data.take())
            {
                return (id, data);
            }
        }
    }
}

/// The page is told of each change as it happens: a delivery is pushed (no polling), and a
/// reconnect with `Last-Event-ID` gets the changes it missed.
#[test]
fn changes_are_pushed_as_server_sent_events() {
    let mx = FakeMx::start(Options::new());
    let server = Server::start("events", &status_ini(&route("a.test", &mx, "")));
    let page = server.status_addr.unwrap();
    let mut events = Events::open(page, None);
    let id = submit(&server, "a@sender.test", &["ok@a.test"], MSG);
    let mut seen = Vec::new();
    loop {
        let (seq, data) = events.next();
        if data == "{\"reset\":true}" {
            continue; // the spool scan at start-up
        }
        seen.push(seq);
        assert_eq!(data, format!("{{\"message\":\"{id}\"}}"));
        // Read only when told: the change that made it delivered was pushed.
        let (_, now) = http(page, "GET", &format!("/api/messages/{id}"), &[]);
        if now.contains("\"state\":\"delivered\"") {
            break;
        }
    }
    assert!(seen.len() >= 2, "arrived, then delivered: {seen:?}");
    let mut again = Events::open(page, Some(seen[0]));
    assert_eq!(
        again.next().0,
        seen[0] + 1,
        "the changes after the last one seen come first"
    );
    let mut restarted = Events::open(page, Some(9_999));
    assert_eq!(restarted.next().1, "{\"reset\":true}");
}

/// Search (ID, sender, recipient, domain, subject) and filters (state, destination) on the
/// page and the API, over the queue and the recently finished.
#[test]
fn messages_are_found_by_text_state_and_destination() {
    let mx = FakeMx::start(Options::new());
    let routes = route("a.test", &mx, "") + &route("c.test", &mx, "retry_delay = 1h");
    let server = Server::start("find", &status_ini(&routes));
    let page = server.status_addr.unwrap();
    let mail = |subject: &str| format!("Subject: {subject}\r\n\r\nHi.\r\n.\r\n");
    let invoice = submit(
        &server,
        "a@sender.test",
        &["ok@a.test"],
        &mail("Invoice March"),
    );
    let hello = submit(&server, "b@other.test", &["ok@a.test"], &mail("hello"));
    let waiting = submit(
        &server,
        "a@sender.test",
        &["tempfail@c.test"],
        &mail("greylisted"),
    );
    wait_http(
        page,
        &format!("/api/messages/{waiting}"),
        &["\"state\":\"deferred\""],
    );
    wait_http(
        page,
        &format!("/api/messages/{hello}"),
        &["\"state\":\"delivered\""],
    );
    let found = |query: &str| {
        let (code, body) = http(page, "GET", &format!("/api/messages?{query}"), &[]);
        assert_eq!(code, 200, "{body}");
        [&invoice, &hello, &waiting]
            .into_iter()
            .filter(|id| body.contains(id.as_str()))
            .map(|id| id[..].to_string())
            .collect::<Vec<String>>()
    };
    assert_eq!(found("q=invoice+MARCH"), [invoice.as_str()], "by subject");
    assert_eq!(
        found("q=greylisted"),
        [waiting.as_str()],
        "a queued one by subject"
    );
    assert_eq!(found("q=other.test"), [hello.as_str()], "by sender");
    assert_eq!(found("q=c.test"), [waiting.as_str()], "by domain");
    assert_eq!(
        found(&format!("q={}", &hello[..12])),
        [hello.as_str()],
        "by ID"
    );
    assert_eq!(found("state=deferred"), [waiting.as_str()]);
    assert_eq!(found("dest=a.test").len(), 2);
    assert_eq!(found("q=nothing-like-it"), Vec::<&str>::new());
    // The time range: an age or a UTC time, since inclusive, before exclusive.
    assert_eq!(found("since=1h").len(), 3);
    assert_eq!(found("since=2099-01-01"), Vec::<&str>::new());
    assert_eq!(
        found("before=2099-01-01+09%3A00&q=c.test"),
        [waiting.as_str()]
    );
    assert_eq!(found("before=2000-01-01T00:00:00Z"), Vec::<&str>::new());
    let (code, body) = http(page, "GET", "/api/messages?since=yesterday", &[]);
    assert_eq!(code, 400, "{body}");
    assert!(
        body.contains("since \\\"yesterday\\\" is not a time"),
        "{body}"
    );
    let (_, json) = http(page, "GET", "/api/messages?state=delivered&page=0", &[]);
    assert!(
        json.contains("\"total\":2,\"page\":0,\"per_page\":50"),
        "{json}"
    );
    let (code, html) = http(page, "GET", "/?q=greylisted", &[]);
    assert_eq!(code, 200);
    assert!(html.contains(&waiting) && !html.contains(&hello), "{html}");
    assert!(html.contains("name=\"q\" value=\"greylisted\""), "{html}");
}

/// The message lines of a listing without their age column (which moves on between two
/// listings): `ID SIZE AGE from SENDER` becomes `ID SIZE from SENDER`.
fn without_ages(listing: &str) -> Vec<String> {
    listing
        .lines()
        .map(|line| {
            let words: Vec<&str> = line.split_whitespace().collect();
            let is_message =
                words.first().is_some_and(|w| w.len() == 16) && words.get(3) == Some(&"from");
            if is_message {
                [&words[..2], &words[3..]].concat().join(" ")
            } else {
                line.to_string()
            }
        })
        .collect()
}

#[test]
fn queue_lists_every_message_the_same_way_whether_the_server_runs_or_not() {
    const COUNT: usize = 250;
    let server = Server::start(
        "listing",
        &status_ini(&format!("[domain:*]\nmx = {DEAD}\nretry_delay = 1h\n")),
    );
    assert!(server.status_addr.is_some(), "the server runs with its API");
    let ids: Vec<String> = (0..COUNT)
        .map(|n| submit(&server, "a@sender.test", &[&format!("r{n}@dead.test")], MSG))
        .collect();
    let dir = server.dir.path().to_path_buf();
    // The first attempts found nobody there: the destination pauses for an hour (the other
    // messages are not charged), so nothing changes until the server stops.
    let page = server.status_addr.unwrap();
    wait_for(WAIT, || {
        let (_, status) = http(page, "GET", "/api/status", &[]);
        let paused = status.contains("\"state\":\"idle\"")
            && !status.contains("\"deferred\":0,")
            && status.contains(&format!("\"messages\":{COUNT},"));
        paused.then_some(()).ok_or(status)
    });
    let (code, running, err) = run_cli(&dir, &["queue"]);
    assert_eq!(code, 0, "{err}");
    assert!(running.contains("deferred  r"), "{running}");
    for id in &ids {
        assert!(
            running.contains(&format!("{id} ")),
            "{id} listed: {running}"
        );
    }
    assert!(
        running.ends_with(&format!("{COUNT} messages, {COUNT} recipients pending\n")),
        "{running}"
    );
    let (_, _dir) = server.terminate();
    let (code, stopped, err) = run_cli(&dir, &["queue"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(without_ages(&running), without_ages(&stopped));
}

/// A message Python's `email` package builds (nested multiparts, latin-1 quoted-printable
/// text, a base64 HTML body with a script and a remote image, an attachment whose name is
/// RFC 2231-encoded, one RFC 2047-encoded) and `smtplib` sends: its page shows the text, the
/// HTML in a sandboxed frame served under a policy that blocks scripts and remote content,
/// the attachments with their sizes, and the `.eml`; its recipient's timeline of attempts.
#[test]
fn a_message_page_shows_its_text_html_and_attachments() {
    let mx = FakeMx::start(Options::new());
    let server = Server::start(
        "content",
        &status_ini(&route("a.test", &mx, "retry_delay = 1h")),
    );
    let page = server.status_addr.unwrap();
    let reply = python(&format!(
        r#"
import smtplib
from email.message import EmailMessage
m = EmailMessage()
m["From"] = "a@sender.test"
m["To"] = "tempfail@a.test"
m["Subject"] = "Quarterly figures"
m.set_content("Grüße aus Köln\nsee the figures\n", charset="iso-8859-1", cte="quoted-printable")
m.add_alternative('<p>Hello <b>HTML</b></p><script>parent.hacked=1</script>'
                  '<img src="http://127.0.0.1:9/remote.png">', subtype="html", cte="base64")
m.add_attachment(bytes(range(256)) * 4, maintype="application", subtype="pdf",
                 filename="Überblick € 2026.pdf")
m.add_attachment("a;b\n", filename="résumé.txt")
raw = m.as_bytes(policy=m.policy.clone(linesep="\r\n"))
assert b"filename*=utf-8''%C3%9Cberblick" in raw, raw
# The RFC 2047 form other mail programs write.
rfc2231 = b"filename*=utf-8''r%C3%A9sum%C3%A9.txt"
assert rfc2231 in raw, raw
raw = raw.replace(rfc2231, b'filename="=?utf-8?q?r=C3=A9sum=C3=A9=2Etxt?="')
with smtplib.SMTP("127.0.0.1", {port}) as s:
    s.ehlo("python.test")
    s.mail("a@sender.test")
    s.rcpt("tempfail@a.test")
    code, resp = s.data(raw)
    print(resp.decode())
"#,
        port = server.addr.port()
    ));
    let id = reply.rsplit(' ').next().unwrap().to_string();
    let api = wait_http(page, &format!("/api/messages/{id}"), &["\"deferred\""]);
    for part in [
        "\"text\":\"Grüße aus Köln\\nsee the figures\\n\"",
        "\"html\":\"\\u003cp>Hello \\u003cb>HTML",
        "{\"name\":\"Überblick € 2026.pdf\",\"type\":\"application/pdf\",\"size\":1024}",
        "{\"name\":\"résumé.txt\",\"type\":\"text/plain\",\"size\":5}",
        "\"truncated\":false",
    ] {
        assert!(api.contains(part), "{part} in {api}");
    }
    let (code, html) = http(page, "GET", &format!("/message/{id}"), &[]);
    assert_eq!(code, 200);
    for part in [
        "<pre class=\"body\">Grüße aus Köln\nsee the figures\n</pre>",
        &format!("<iframe class=\"html\" sandbox src=\"/message/{id}/body.html\""),
        "<tr><td>Überblick € 2026.pdf</td><td>application/pdf</td><td>1.0K</td></tr><tr><td>résumé.txt</td><td>text/plain</td><td>5 bytes</td></tr>",
        &format!("<a download href=\"/message/{id}.eml\">"),
        "<ol class=\"timeline\"><li class=\"fail\">",
        "RCPT TO:&lt;tempfail@a.test&gt; -&gt; 451",
        "<li class=\"next\">next try",
    ] {
        assert!(html.contains(part), "{part} in {html}");
    }
    let (code, head, body) = http_full(page, "GET", &format!("/message/{id}/body.html"), &[]);
    assert_eq!(code, 200);
    assert!(body.starts_with("<p>Hello <b>HTML</b></p>"), "{body}");
    assert!(
        head.contains("Content-Security-Policy: default-src 'none'; img-src data: cid:;")
            && head.contains("; sandbox")
            && head.contains("X-Frame-Options: SAMEORIGIN"),
        "{head}"
    );
    let (code, eml) = http(page, "GET", &format!("/message/{id}.eml"), &[]);
    assert_eq!(code, 200);
    assert!(eml.contains("Subject: Quarterly figures"), "{eml}");
}

/// The page's header says whether the server is healthy: the spool takes files, the DNS
/// answered its last lookup (here a DNS server that does not answer: unhealthy), and when
/// the last delivery was. From what the attempts saw, not a probe per page load.
#[test]
fn the_health_line_tells_the_spool_the_dns_and_the_last_delivery() {
    let mx = FakeMx::start(Options::new());
    let rest = format!(
        "[delivery]\ndns_server = {DEAD}\ntimeout_dns = 1s\n[domain:*]\nretry_delay = 1h\n{}",
        route("a.test", &mx, "")
    );
    let server = Server::start("health", &status_ini(&rest));
    let page = server.status_addr.unwrap();
    let (_, fresh) = http(page, "GET", "/api/status", &[]);
    let want = "\"health\":{\"healthy\":true,\"spool\":{\"writable\":true,\"error\":null},\
                \"dns\":null,\"last_delivery\":null}";
    assert!(fresh.contains(want), "{fresh}");
    submit(&server, "a@sender.test", &["ok@a.test"], MSG);
    let delivered = wait_http(page, "/api/status", &["\"last_delivery\":\"20"]);
    assert!(delivered.contains("\"healthy\":true"), "{delivered}");
    submit(&server, "a@sender.test", &["x@dead.test"], MSG);
    let status = wait_http(page, "/api/status", &["\"answering\":false"]);
    assert!(status.contains("\"healthy\":false"), "{status}");
    assert!(status.contains("did not answer"), "{status}");
    assert!(status.contains("\"last_delivery\":\"20"), "{status}");
    let (_, html) = http(page, "GET", "/", &[]);
    for part in [
        "<p id=\"health\"><span class=\"hl bad\">unhealthy</span> <span>spool writable</span>",
        " · <span class=\"bad\" title=\"",
        "DNS not answering (last lookup <time",
        " · <span>last delivery <time",
    ] {
        assert!(html.contains(part), "{part} in {html}");
    }
}

/// POSTs `/api/destinations/NAME/VERB` (pause, resume) with the token; the status code.
fn dest_action(server: &Server, name: &str, verb: &str) -> u16 {
    let path = format!("/api/destinations/{name}/{verb}");
    let token = server.token();
    let page = server.status_addr.unwrap();
    http(page, "POST", &path, &[("X-Qksmtp-Token", token.as_str())]).0
}

/// The `"state"` of destination `name` in `/api/status`.
fn dest_state(server: &Server, name: &str) -> String {
    let (_, status) = http(server.status_addr.unwrap(), "GET", "/api/status", &[]);
    let from = status.find(&format!("{{\"name\":\"{name}\",\"state\":\""));
    let at = from.unwrap_or_else(|| panic!("no destination {name} in {status}"));
    let rest = &status[at + name.len() + 20..];
    rest[..rest.find('"').unwrap()].to_string()
}

#[test]
fn a_destination_paused_from_the_page_stays_paused_across_restarts_until_resumed() {
    let mx = FakeMx::start(Options::new());
    let server = Server::start("pausekept", &status_ini(&route("kept.test", &mx, "")));
    assert_eq!(dest_action(&server, "kept.test", "pause"), 200);
    let (_, dir) = server.terminate();
    let server = Server::start_in(dir);
    let said = "qksmtp: destination kept.test is paused (from the status page: Resume there)";
    assert!(
        server.startup.iter().any(|l| l == said),
        "{:?}",
        server.startup
    );
    assert_eq!(dest_state(&server, "kept.test"), "paused");
    let id = submit(&server, "a@sender.test", &["x@kept.test"], MSG);
    let page = server.status_addr.unwrap();
    wait_http(
        page,
        &format!("/api/messages/{id}"),
        &["kept.test is paused"],
    );
    assert!(
        mx.deliveries().is_empty(),
        "a paused destination gets no connection"
    );
    assert_eq!(dest_action(&server, "kept.test", "resume"), 200);
    mx.wait_deliveries(1, WAIT);
    let (_, dir) = server.terminate();
    let server = Server::start_in(dir);
    assert!(
        !server.startup.iter().any(|l| l.contains("paused")),
        "{:?}",
        server.startup
    );
    submit(&server, "a@sender.test", &["y@kept.test"], MSG);
    mx.wait_deliveries(2, WAIT);
}

/// A queued message's subject is the one its envelope keeps from the intake (decoded): found
/// by a search at once and after a restart without its file being read (a changed file does
/// not change what is found); an envelope of an older qksmtp, without it, is found once its
/// subject has been read in the background.
#[test]
fn a_subject_is_found_from_the_envelope_at_once_and_after_a_restart() {
    let dead = format!("[domain:c.test]\nmx = {DEAD}\nretry_delay = 1h\n");
    let server = Server::start("subjects", &status_ini(&dead));
    let page = server.status_addr.unwrap();
    let mail = |subject: &str| format!("Subject: {subject}\r\n\r\nHi.\r\n.\r\n");
    let encoded = "=?UTF-8?Q?Gr=C3=BC=C3=9Fe_aus?=\r\n =?UTF-8?B?S8O2bG4=?= report";
    let koeln = submit(&server, "a@sender.test", &["a@c.test"], &mail(encoded));
    let older = submit(&server, "b@sender.test", &["b@c.test"], &mail("Quarterly"));
    // The message file says otherwise from now on: the search must not read it.
    for id in [&koeln, &older] {
        let path = server.spool().join(format!("{id}.msg"));
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::write(&path, text.replace("Subject:", "Subjext:")).unwrap();
    }
    let needle = "/api/messages?q=GR%C3%9C%C3%9FE+ausk%C3%B6ln+REPORT";
    let found = wait_http(page, needle, &[&koeln]);
    assert!(
        found.contains("\"subject\":\"Grüße ausKöln report\""),
        "{found}"
    );
    assert!(!found.contains(&older), "{found}");
    let (_, quarterly) = http(page, "GET", "/api/messages?q=quarterly", &[]);
    assert!(quarterly.contains(&older), "{quarterly}");
    // Restarted, with one envelope as an older qksmtp wrote it (no subject line).
    let (_, dir) = server.terminate();
    let env_path = dir.path().join("spool").join(format!("{older}.env"));
    let text = std::fs::read_to_string(&env_path).unwrap();
    assert!(text.contains("\nsubject Quarterly\n"), "{text}");
    let file = dir.path().join("spool").join(format!("{older}.msg"));
    let message = std::fs::read_to_string(&file).unwrap();
    std::fs::write(
        &file,
        message.replace("Subjext: Quarterly", "Subject: Yearly"),
    )
    .unwrap();
    std::fs::write(&env_path, text.replace("\nsubject Quarterly\n", "\n")).unwrap();
    let server = Server::start_in(dir);
    let page = server.status_addr.unwrap();
    let found = wait_http(page, needle, &[&koeln]);
    assert!(found.contains("Grüße ausKöln report"), "{found}");
    let found = wait_http(page, "/api/messages?q=yearly", &[&older]);
    assert!(!found.contains(&koeln), "{found}");
    let (_, listed) = http(page, "GET", "/api/messages?q=sender.test", &[]);
    assert!(listed.contains("\"subject\":\"Yearly\""), "{listed}");
}
