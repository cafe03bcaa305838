//! Reload without a restart, end to end: each kind of setting is changed (`qksmtp reload`,
//! SIGHUP) while a sender submits continuously, and the new behaviour takes effect while no
//! connection that should be taken is refused and no message is lost or delivered twice
//! (the fake MXes' deliveries against the 250s). An invalid INI changes nothing; the second
//! Ctrl-C of a stop ends it at once.

mod common;
use common::fake_mx::{FakeMx, Options};
use common::*;
use std::collections::HashMap;
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::Instant;

/// One message the sender got its 250 for.
struct Sent {
    n: usize,
    /// When its session started (before the connect).
    started: Instant,
}

/// A thread submitting one message per session to `to`, over and over, until stopped.
struct Load {
    stop: Arc<AtomicBool>,
    count: Arc<AtomicUsize>,
    thread: JoinHandle<(Vec<Sent>, Vec<String>)>,
}

impl Load {
    fn start(addr: SocketAddr, to: &'static str) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let count = Arc::new(AtomicUsize::new(0));
        let (flag, counter) = (stop.clone(), count.clone());
        let thread = std::thread::spawn(move || {
            let (mut sent, mut failures) = (Vec::new(), Vec::new());
            let mut n = 0;
            while !flag.load(Ordering::SeqCst) {
                let started = Instant::now();
                match submit_one(addr, to, n) {
                    Ok(()) => {
                        sent.push(Sent { n, started });
                        counter.fetch_add(1, Ordering::SeqCst);
                    }
                    Err(e) => failures.push(format!("message {n}: {e}")),
                }
                n += 1;
            }
            (sent, failures)
        });
        Load {
            stop,
            count,
            thread,
        }
    }

    /// Waits until `more` further messages got their 250.
    fn wait_more(&self, more: usize) {
        let target = self.count.load(Ordering::SeqCst) + more;
        wait_until(
            || self.count.load(Ordering::SeqCst) >= target,
            "the sender's messages",
        );
    }

    /// Stops the sender; panics on any refused connection or reply; returns what was sent.
    fn finish(self) -> Vec<Sent> {
        self.stop.store(true, Ordering::SeqCst);
        let (sent, failures) = self.thread.join().unwrap();
        assert!(
            failures.is_empty(),
            "the sender saw:\n{}",
            failures.join("\n")
        );
        sent
    }
}

fn submit_one(addr: SocketAddr, to: &str, n: usize) -> Result<(), String> {
    let stream = TcpStream::connect(addr).map_err(|e| format!("connect: {e}"))?;
    let mut c = Client::new(stream);
    let steps = [
        (None, "220 "),
        (Some("EHLO load.qksmtp.test".to_string()), "250"),
        (Some("MAIL FROM:<load@qksmtp.test>".into()), "250"),
        (Some(format!("RCPT TO:<{to}>")), "250"),
        (Some("DATA".into()), "354"),
        (
            Some(format!(
                "Subject: load {n}\r\nX-Load: {n}\r\n\r\nload {n}\r\n."
            )),
            "250 2.0.0",
        ),
    ];
    for (command, want) in steps {
        let reply = match command {
            Some(line) => c.cmd(&line),
            None => c.reply(),
        };
        if !reply.starts_with(want) {
            return Err(format!("{want}... expected, got {reply:?}"));
        }
    }
    c.cmd("QUIT");
    Ok(())
}

/// Which load messages each MX received (by their X-Load number).
fn received(mxes: &[&FakeMx]) -> Vec<(usize, usize)> {
    let mut got = Vec::new();
    for (which, mx) in mxes.iter().enumerate() {
        for d in mx.deliveries() {
            let text = d.text();
            let n = text
                .lines()
                .find_map(|l| l.strip_prefix("X-Load: "))
                .and_then(|v| v.trim().parse().ok());
            if let Some(n) = n {
                got.push((n, which));
            }
        }
    }
    got
}

/// Waits until every sent message arrived; panics on a lost or doubled one. Returns, per
/// message number, the index of the MX that got it.
fn each_delivered_once(sent: &[Sent], mxes: &[&FakeMx]) -> HashMap<usize, usize> {
    wait_for(WAIT, || {
        let got = received(mxes);
        (got.len() >= sent.len())
            .then_some(())
            .ok_or_else(|| format!("{} of {} delivered", got.len(), sent.len()))
    });
    let got = received(mxes);
    let mut at = HashMap::new();
    for (n, which) in &got {
        assert!(
            at.insert(*n, *which).is_none(),
            "message {n} delivered twice"
        );
    }
    for s in sent {
        assert!(at.contains_key(&s.n), "message {} lost", s.n);
    }
    assert_eq!(
        got.len(),
        sent.len(),
        "deliveries that were never acknowledged"
    );
    at
}

/// Rewrites the INI, runs `qksmtp reload`; returns its exit code and output (stdout then
/// stderr).
fn reload(server: &Server, ini: &str) -> (i32, String) {
    write_ini(server.dir.path(), ini);
    let (code, out, err) = run_cli(server.dir.path(), &["reload"]);
    (code, format!("{out}{err}"))
}

fn reloaded(server: &Server, ini: &str) -> String {
    let (code, out) = reload(server, ini);
    assert_eq!(code, 0, "{out}");
    assert!(out.starts_with("qksmtp: reloaded "), "{out}");
    out
}

#[test]
fn a_domain_routed_elsewhere_takes_new_mail_there_and_nothing_is_lost_or_doubled() {
    let (mx1, mx2) = (FakeMx::start(Options::new()), FakeMx::start(Options::new()));
    let ini = |mx: &FakeMx| status_ini(&route("x.test", mx, FAST));
    let server = Server::start("reload-mx", &ini(&mx1));
    let load = Load::start(server.addr, "r@x.test");
    load.wait_more(10);
    let out = reloaded(&server, &ini(&mx2));
    let reloaded_at = Instant::now();
    assert!(
        out.contains(&format!("[domain:x.test] mx = 127.0.0.1:{}", mx2.port())),
        "{out}"
    );
    load.wait_more(10);
    let sent = load.finish();
    let at = each_delivered_once(&sent, &[&mx1, &mx2]);
    let after: Vec<&Sent> = sent.iter().filter(|s| s.started > reloaded_at).collect();
    assert!(after.len() >= 10);
    for s in after {
        assert_eq!(at[&s.n], 1, "message {} began after the reload", s.n);
    }
    assert!(
        at.values().any(|&which| which == 0),
        "mx1 got the early ones"
    );
}

/// The load's domain goes to `mx` over connections that carry any number of messages (so
/// delivery keeps up with the sender).
const FAST: &str = "max_connections = 8\nmax_continuous = 1000\ncontinuous_delay = 0";

fn session_ini(mx: &FakeMx, server: &str, rest: &str) -> String {
    with_status_page(&base_ini(
        server,
        &format!("{rest}\n{}", route("x.test", mx, FAST)),
    ))
}

/// RCPT replies for `n` recipients in a new transaction on `c`.
fn rcpts(c: &mut Client, n: usize) -> Vec<String> {
    assert!(c.cmd("MAIL FROM:<a@qksmtp.test>").starts_with("250"));
    let replies = (0..n)
        .map(|i| c.cmd(&format!("RCPT TO:<r{i}@x.test>")))
        .collect();
    assert!(c.cmd("RSET").starts_with("250"));
    replies
}

/// The `listening on ADDR (smtp)` address of a reload's answer for this IP.
fn new_listener(answer: &str, ip: &str) -> SocketAddr {
    let line = answer
        .lines()
        .find(|l| l.trim().starts_with(&format!("listening on {ip}:")))
        .unwrap_or_else(|| panic!("no new listener on {ip} in:\n{answer}"));
    line.trim()["listening on ".len()..]
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

#[test]
fn limits_users_access_and_listeners_change_for_new_sessions_while_mail_flows() {
    let mx = FakeMx::start(Options::new());
    let before = session_ini(&mx, "max_recipients = 5\nmax_sessions_per_ip = 4", "");
    let server = Server::start("reload-session", &before);
    let load = Load::start(server.addr, "r@x.test");
    let mut early = server.connect();
    early.hello();
    let mut outsider = server.connect_from("127.0.0.2");
    let ehlo = outsider.hello();
    assert!(!ehlo.contains("AUTH"), "no users yet: {ehlo}");
    let mut crowd: Vec<Client> = (0..4).map(|_| server.connect_from("127.0.0.5")).collect();
    assert!(crowd.iter_mut().all(|c| c.reply().starts_with("220 ")));
    let mut fifth = server.connect_from("127.0.0.5");
    assert!(fifth.reply().starts_with("421 4.7.0"));
    load.wait_more(5);

    let after = session_ini(
        &mx,
        "max_recipients = 2\nmax_sessions_per_ip = 5",
        "[access]\ndeny = 127.0.0.3\nallow = 127.0.0.0/8\n[users]\nalice = s3cret\n",
    )
    .replace(
        "\nlisten = 127.0.0.1:0\n",
        "\nlisten = 127.0.0.1:0, 127.0.0.2:0\n",
    );
    let out = reloaded(&server, &after);
    assert!(out.contains("[server] max_recipients = 2"), "{out}");
    assert!(out.contains("[users] alice = (plain text!)"), "{out}");
    let second = new_listener(&out, "127.0.0.2");

    // A new session has the new limit; the one open before keeps its settings.
    let mut c = server.connect();
    c.hello();
    let replies = rcpts(&mut c, 3);
    assert!(replies[1].starts_with("250"), "{replies:?}");
    assert!(replies[2].starts_with("452 4.5.3"), "{replies:?}");
    assert!(rcpts(&mut early, 3).iter().all(|r| r.starts_with("250")));
    // One more session per address now.
    let mut fifth = server.connect_from("127.0.0.5");
    assert!(fifth.reply().starts_with("220 "));
    drop(crowd);
    // The new user can log in from a new session.
    let mut user = server.connect_from("127.0.0.2");
    let ehlo = user.hello();
    assert!(ehlo.contains("AUTH PLAIN LOGIN"), "{ehlo}");
    let r = user.cmd(&format!("AUTH PLAIN {}", b64(b"\0alice\0s3cret")));
    assert!(r.starts_with("235 2.7.0"), "{r}");
    assert!(
        outsider.cmd("NOOP").starts_with("250"),
        "open sessions go on"
    );
    // The deny rule refuses 127.0.0.3 at once.
    let mut denied = server.connect_from("127.0.0.3");
    assert_eq!(denied.reply(), "554 5.7.1 Access denied");
    // The new listener takes mail.
    let mut on_second = Client::new(TcpStream::connect(second).unwrap());
    on_second.hello();

    // Removed again: it refuses new connections, its open session finishes.
    let out = reloaded(&server, &before);
    assert!(
        out.contains(&format!("no longer listening on {second} (smtp)")),
        "{out}"
    );
    let refused = TcpStream::connect(second);
    assert!(refused.is_err(), "{second} still accepts");
    let reply = on_second.send_mail(
        "a@qksmtp.test",
        &["last@x.test"],
        "Subject: s\r\n\r\nx\r\n.\r\n",
    );
    let id = queued_id(&reply);
    let arrived = mx.wait_until(WAIT, |d, _| {
        d.iter().any(|d| d.rcpt_addrs() == ["last@x.test"])
    });
    assert!(
        arrived,
        "the message sent on the removed listener's open session"
    );
    let sent = load.finish();
    each_delivered_once(&sent, &[&mx]);
    assert!(!id.is_empty());
}

#[test]
fn an_invalid_file_changes_nothing_and_sighup_reloads_like_the_command() {
    let mx = FakeMx::start(Options::new());
    let ini = |server: &str, level: &str| {
        session_ini(&mx, server, "").replace("log_level = debug", &format!("log_level = {level}"))
    };
    let server = Server::start("reload-invalid", &ini("max_recipients = 3", "warn"));
    let load = Load::start(server.addr, "r@x.test");
    load.wait_more(3);

    // Invalid: exit 1 with the lines; the server goes on with what it had.
    let invalid = ini("max_recipients = 3\nmax_errors = lots\nworkers = 2", "warn");
    let (code, out) = reload(&server, &invalid);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("nothing changed"), "{out}");
    assert!(out.contains(": line 9: max_errors"), "{out}");
    assert!(out.contains(": line 10: unknown key \"workers\""), "{out}");
    server.wait_stderr("line 9: max_errors");
    // The API says the same (422), and only with the token.
    let status = server.status_addr.unwrap();
    let token = std::fs::read_to_string(server.spool().join(".status")).unwrap();
    let token = token.lines().nth(1).unwrap();
    let (code, body) = http(status, "POST", "/api/reload", &[("X-Qksmtp-Token", token)]);
    assert_eq!(code, 422, "{body}");
    assert!(body.contains("\"reloaded\":false"), "{body}");
    assert!(body.contains("line 10: unknown key"), "{body}");
    assert_eq!(http(status, "POST", "/api/reload", &[]).0, 403);
    let mut c = server.connect();
    c.hello();
    let replies = rcpts(&mut c, 4);
    assert!(
        replies[2].starts_with("250") && replies[3].starts_with("452"),
        "{replies:?}"
    );
    load.wait_more(3);

    // SIGHUP: the same, valid this time; the log level follows, workers waits for a restart.
    let valid =
        ini("max_recipients = 1", "debug").replace("[delivery]\n", "[delivery]\nworkers = 3\n");
    write_ini(server.dir.path(), &valid);
    signal(&server.child, "HUP");
    server.wait_stderr("workers changed: takes effect at the next start");
    let mut c = server.connect();
    c.hello();
    let replies = rcpts(&mut c, 2);
    assert!(replies[1].starts_with("452 4.5.3"), "{replies:?}");
    server.wait_stderr("DEBUG");
    // SIGHUP with errors: logged, nothing changes.
    write_ini(server.dir.path(), "[server]\nmax_recipients = none\n");
    signal(&server.child, "HUP");
    server.wait_stderr("line 2: max_recipients");
    load.wait_more(3);
    let mut c = server.connect();
    c.hello();
    assert!(rcpts(&mut c, 2)[1].starts_with("452 4.5.3"));
    let sent = load.finish();
    each_delivered_once(&sent, &[&mx]);
}

/// The server certificate a TLS client sees, as DER.
fn cert_der(dir: &std::path::Path) -> Vec<u8> {
    let pem = std::fs::read(dir.join("cert.pem")).unwrap();
    native_tls::Certificate::from_pem(&pem)
        .unwrap()
        .to_der()
        .unwrap()
}

#[test]
fn a_certificate_is_added_and_swapped_and_a_bad_pair_changes_nothing() {
    let mx = FakeMx::start(Options::new());
    let server = Server::start("reload-tls", &session_ini(&mx, "", ""));
    let dir = server.dir.path();
    for d in ["a", "b"] {
        std::fs::create_dir(dir.join(d)).unwrap();
        make_cert(&dir.join(d));
    }
    let load = Load::start(server.addr, "r@x.test");
    let mut c = server.connect();
    assert!(!c.hello().contains("STARTTLS"));
    let (a, b) = (cert_der(&dir.join("a")), cert_der(&dir.join("b")));
    let with = |cert: &str, key: &str| {
        let tls = format!(
            "tls_cert = {cert}/cert.pem\ntls_key = {key}/key.pem\nlisten_tls = 127.0.0.1:0"
        );
        session_ini(&mx, &tls, "")
    };
    let starttls_cert = || {
        let mut c = server.connect();
        assert!(c.hello().contains("STARTTLS"));
        c.starttls().peer_certificate()
    };
    let out = reloaded(&server, &with("a", "a"));
    let smtps: SocketAddr = out
        .lines()
        .find_map(|l| {
            l.trim()
                .strip_prefix("listening on ")?
                .strip_suffix(" (smtps)")
        })
        .unwrap_or_else(|| panic!("no smtps listener in:\n{out}"))
        .parse()
        .unwrap();
    assert_eq!(starttls_cert(), a);
    let implicit = TlsClient::handshake(TcpStream::connect(smtps).unwrap());
    assert_eq!(implicit.peer_certificate(), a);
    // A key that does not go with the certificate: refused, the old pair stays.
    let (code, out) = reload(&server, &with("a", "b"));
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("tls_cert/tls_key"), "{out}");
    assert_eq!(starttls_cert(), a);
    reloaded(&server, &with("b", "b"));
    assert_eq!(starttls_cert(), b);
    load.wait_more(3);
    let sent = load.finish();
    each_delivered_once(&sent, &[&mx]);
}

#[test]
fn a_second_ctrl_c_while_stopping_ends_at_once_and_loses_nothing_accepted() {
    let mut server = Server::start("reload-ctrlc", &base_ini("", ""));
    let id = submit(
        &server,
        "a@qksmtp.test",
        &["r@nowhere.test"],
        "Subject: kept\r\n\r\nx\r\n.\r\n",
    );
    // A session in the middle of DATA holds a clean stop for up to 30 s.
    let mut c = server.connect();
    c.hello();
    assert!(c.cmd("MAIL FROM:<a@qksmtp.test>").starts_with("250"));
    assert!(c.cmd("RCPT TO:<r@nowhere.test>").starts_with("250"));
    assert!(c.cmd("DATA").starts_with("354"));
    c.send("Subject: half\r\n");
    signal(&server.child, "INT");
    let said = wait_for(WAIT, || match server.lines.recv_timeout(WAIT) {
        Ok(line) if line.starts_with("qksmtp: stopping") => Ok(line),
        other => Err(format!("{other:?}")),
    });
    assert!(said.contains("waiting for 1 open session(s)"), "{said}");
    assert!(said.contains("Ctrl-C again stops at once"), "{said}");
    signal(&server.child, "INT");
    // Within WAIT (20 s), well before the 30 s the clean stop would give the session.
    let status = wait_exit(&mut server.child);
    assert_eq!(status.code(), Some(130));
    server.wait_stderr("stopped at once");
    let envs = server.spool_files("env");
    assert_eq!(envs.len(), 1, "{envs:?}");
    assert!(envs[0].to_string_lossy().contains(&id), "{envs:?} {id}");
}

/// An address moved from `listen` to `listen_tls` (and back) in one reload keeps listening:
/// the same socket speaks TLS from the first byte, then plain SMTP again.
#[test]
fn an_address_moved_between_listen_and_listen_tls_stays_bound() {
    // A loopback address of the test's own: the address must stay the same across reloads.
    let moved = format!("{}:2465", loopback::free(2465).unwrap());
    let moved = moved.as_str();
    let ini = |server: &str| {
        let tls = format!("tls_cert = cert.pem\ntls_key = key.pem\n{server}");
        with_status_page(&base_ini(&tls, "").replacen("\nlisten = 127.0.0.1:0\n", "\n", 1))
    };
    let plain = ini(&format!("listen = 127.0.0.1:0, {moved}"));
    let dir = TempDir::with_ini("reload-move", &plain);
    make_cert(dir.path());
    let server = Server::start_in(dir);
    let greeting = |stream: TcpStream| Client::new(stream).hello();
    assert!(greeting(TcpStream::connect(moved).unwrap()).contains("STARTTLS"));
    let out = reloaded(
        &server,
        &ini(&format!("listen = 127.0.0.1:0\nlisten_tls = {moved}")),
    );
    assert!(
        out.contains(&format!("listening on {moved} (smtps)")),
        "{out}"
    );
    assert!(!out.contains("cannot"), "{out}");
    let mut implicit = TlsClient::handshake(TcpStream::connect(moved).unwrap());
    assert!(implicit.reply().starts_with("220 "));
    let out = reloaded(&server, &plain);
    assert!(
        out.contains(&format!("listening on {moved} (smtp)")),
        "{out}"
    );
    assert!(greeting(TcpStream::connect(moved).unwrap()).contains("STARTTLS"));
}
