//! SMTP AUTH end to end: PLAIN and LOGIN good and bad, the replies for every misuse, relaying
//! only after AUTH from a client outside `relay_from`, and `qksmtp passwd` hashes that work.
//! Clients connect from 127.0.0.2 (loopback, so AUTH is offered without TLS) while
//! `relay_from` holds only 127.0.0.1.

mod common;
use common::*;
use std::process::Command;
use std::time::{Duration, Instant};

const MSG: &str = "Subject: auth\r\n\r\nhello.\r\n.\r\n";

/// Users in `[users]`; only 127.0.0.1 may relay without AUTH.
fn users_ini(users: &str) -> String {
    base_ini(
        "max_errors = 50",
        &format!("[access]\nrelay_from = 127.0.0.1/32\n[users]\n{users}\n"),
    )
}

#[test]
fn relaying_is_allowed_only_after_auth() {
    let server = Server::start("authrelay", &users_ini("alice = s3cret"));
    let mut c = server.connect_from("127.0.0.2");
    let ehlo = c.hello();
    assert!(
        ehlo.lines().any(|l| &l[4..] == "AUTH PLAIN LOGIN"),
        "{ehlo}"
    );
    assert!(c.cmd("MAIL FROM:<a@example.test>").starts_with("250"));
    assert!(c.cmd("RCPT TO:<b@elsewhere.test>").starts_with("550 5.7.1"));
    let r = c.cmd(&format!("AUTH PLAIN {}", b64(b"\0alice\0s3cret")));
    assert!(r.starts_with("503 5.5.1"), "AUTH inside a transaction: {r}");
    assert!(c.cmd("RSET").starts_with("250"));
    let r = c.cmd(&format!("AUTH PLAIN {}", b64(b"\0alice\0s3cret")));
    assert_eq!(r, "235 2.7.0 Authentication successful");
    let r = c.cmd(&format!("AUTH PLAIN {}", b64(b"\0alice\0s3cret")));
    assert!(r.starts_with("503 5.5.1"), "second AUTH: {r}");
    let id = queued_id(&c.send_mail("a@example.test", &["b@elsewhere.test"], MSG));
    let env = std::fs::read_to_string(&server.spool_files("env")[0]).unwrap();
    assert!(env.contains("\nauth alice\n"), "{env}");
    let msg = std::fs::read_to_string(&server.spool_files("msg")[0]).unwrap();
    assert!(msg.contains(&format!("with ESMTPA id {id}")), "{msg}");
}

#[test]
fn plain_with_a_challenge_and_login_good_and_bad() {
    let server = Server::start("authmech", &users_ini("alice = s3cret\nbob = hunter2"));
    let mut c = server.connect_from("127.0.0.2");
    c.hello();
    // PLAIN, wrong password: 535 after the delay.
    let started = Instant::now();
    let r = c.cmd(&format!("AUTH PLAIN {}", b64(b"\0alice\0wrong")));
    assert_eq!(r, "535 5.7.8 Authentication credentials invalid");
    assert!(started.elapsed() >= Duration::from_millis(900));
    // PLAIN with a 334 challenge; malformed base64; cancel.
    assert_eq!(c.cmd("AUTH PLAIN"), "334 ");
    assert!(c.cmd("not*base64").starts_with("501 5.5.2"));
    assert_eq!(c.cmd("AUTH PLAIN"), "334 ");
    assert!(c.cmd("*").starts_with("501 5.7.0"));
    // LOGIN, cancelled at the password, then wrong, then right.
    assert_eq!(c.cmd("AUTH LOGIN"), "334 VXNlcm5hbWU6");
    assert_eq!(c.cmd(&b64(b"bob")), "334 UGFzc3dvcmQ6");
    assert!(c.cmd("*").starts_with("501 5.7.0"));
    assert_eq!(
        c.cmd(&format!("AUTH LOGIN {}", b64(b"bob"))),
        "334 UGFzc3dvcmQ6"
    );
    assert!(c.cmd(&b64(b"hunter3")).starts_with("535 5.7.8"));
    assert!(c.cmd("AUTH CRAM-MD5").starts_with("504 5.5.4"));
    assert_eq!(c.cmd("AUTH LOGIN"), "334 VXNlcm5hbWU6");
    assert_eq!(c.cmd(&b64(b"bob")), "334 UGFzc3dvcmQ6");
    assert_eq!(
        c.cmd(&b64(b"hunter2")),
        "235 2.7.0 Authentication successful"
    );
    queued_id(&c.send_mail("b@example.test", &["x@elsewhere.test"], MSG));
    let env = std::fs::read_to_string(&server.spool_files("env")[0]).unwrap();
    assert!(env.contains("\nauth bob\n"), "{env}");
}

#[test]
fn auth_needs_ehlo_and_users_and_failures_count_as_errors() {
    let server = Server::start(
        "autherrs",
        &base_ini("max_errors = 2", "[users]\nalice = s3cret\n"),
    );
    let mut c = server.connect();
    assert!(c.reply().starts_with("220"));
    assert!(c.cmd("AUTH LOGIN").starts_with("503 5.5.1"));
    assert!(c.cmd("EHLO c.test").starts_with("250"));
    let r = c.cmd(&format!("AUTH PLAIN {}", b64(b"\0alice\0nope")));
    assert!(r.starts_with("535"), "{r}");
    assert!(c.reply().starts_with("421 4.7.0"), "max_errors reached");
    assert!(c.closed());

    let server = Server::start("nousers", &base_ini("", ""));
    let mut c = server.connect();
    assert!(!c.hello().contains("AUTH"));
    assert!(c.cmd("AUTH PLAIN").starts_with("502 5.5.1"));
}

#[test]
fn a_long_initial_response_is_accepted() {
    let password = "p".repeat(3000);
    let server = Server::start("authlong", &users_ini(&format!("alice = {password}")));
    let mut c = server.connect_from("127.0.0.2");
    c.hello();
    let payload = format!("\0alice\0{password}");
    let r = c.cmd(&format!("AUTH PLAIN {}", b64(payload.as_bytes())));
    assert!(r.starts_with("235"), "{r}");
    let r = c.cmd(&format!("NOOP {}", "x".repeat(600)));
    assert!(
        r.starts_with("500 5.5.2"),
        "commands keep the 512 limit: {r}"
    );
    // Past 12288 even an AUTH line is too long, and the exchange ends.
    let mut c = server.connect_from("127.0.0.2");
    c.hello();
    assert_eq!(c.cmd("AUTH PLAIN"), "334 ");
    assert!(c.cmd(&"QUFB".repeat(3100)).starts_with("500 5.5.2"));
    assert!(c.cmd("NOOP").starts_with("250"), "back to commands");
}

/// `qksmtp passwd NAME` with the password on standard input.
fn passwd(name: &str, password: &str) -> String {
    let out = run_with_stdin(
        Command::new(BIN).args(["passwd", name]),
        &format!("{password}\n"),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn passwd_prints_a_users_line_that_works() {
    let line = passwd("carol", "correct horse");
    assert!(line.starts_with("carol = $argon2id$v=19$"), "{line}");
    assert!(!line.contains("correct horse"));
    let server = Server::start("passwd", &users_ini(line.trim()));
    let (code, _, err) = run_cli(server.dir.path(), &["check"]);
    assert_eq!(code, 0, "{err}");
    assert!(!err.contains("plain-text"), "{err}");
    let mut c = server.connect_from("127.0.0.2");
    c.hello();
    let good = format!("AUTH PLAIN {}", b64(b"\0carol\0correct horse"));
    let bad = format!("AUTH PLAIN {}", b64(b"\0carol\0correct horsE"));
    assert!(c.cmd(&bad).starts_with("535 5.7.8"));
    assert!(c.cmd(&good).starts_with("235 2.7.0"));
}

#[test]
fn an_address_that_fails_too_often_is_refused_for_a_while_and_it_is_logged_once() {
    let ini = base_ini(
        "auth_fail_limit = 2\nauth_fail_window = 1h",
        &format!(
            "[users]\nalice = {}\n",
            passwd("alice", "s3cret").split_once(" = ").unwrap().1
        ),
    );
    let server = Server::start("authpenalty", &ini);
    let good = format!("AUTH PLAIN {}", b64(b"\0alice\0s3cret"));
    let bad = format!("AUTH PLAIN {}", b64(b"\0alice\0guess"));
    let mut c = server.connect_from("127.0.0.3");
    c.hello();
    assert!(c.cmd(&bad).starts_with("535 5.7.8"));
    assert!(c.cmd(&bad).starts_with("535 5.7.8"));
    let refused = "454 4.7.0 Too many failed logins from your address; try again later";
    assert_eq!(c.cmd(&good), refused, "even the right password");
    let mut again = server.connect_from("127.0.0.3");
    again.hello();
    assert_eq!(again.cmd(&bad), refused);
    let mut other = server.connect_from("127.0.0.4");
    other.hello();
    assert!(other.cmd(&good).starts_with("235 2.7.0"), "another address");
    // The log up to the last login: the refusal is said once, however often it happens.
    let said = "127.0.0.3: 2 failed logins in a row; its logins are refused for 1h";
    let mut times = 0;
    for line in server.stderr.iter() {
        times += usize::from(line.contains(said));
        if line.contains("127.0.0.4") && line.contains("authenticated as alice") {
            break;
        }
    }
    assert_eq!(times, 1);
}

/// `slow` hashed with Argon2id m=8 KiB, t=60000: about 0.3 s a check on a quiet machine (small
/// memory, much time). Short enough that a check started at once ends within a login's 5 s
/// even on a machine several times busier than when the test timed it.
fn slow_hash() -> String {
    use argon2::password_hash::PasswordHasher;
    use argon2::{Algorithm, Argon2, Params, Version};
    let params = Params::new(8, 60_000, 1, None).unwrap();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
        .hash_password(b"slow")
        .unwrap()
        .to_string()
}

#[test]
fn logins_that_wait_too_long_for_a_password_check_get_454() {
    let ini = base_ini(
        "max_errors = 50\nmax_sessions = 1000",
        &format!(
            "[access]\nrelay_from = 127.0.0.1/32\n[users]\nslow = {}\n",
            slow_hash()
        ),
    );
    let server = Server::start("authbusy", &ini);
    // As many checks run at once as there are cores, and a login waits 5 s at most. How long
    // one check takes depends on the machine and on what else runs on it: time three alone and
    // take the fastest (a busy moment only makes a check look slower), then queue twice the
    // rounds that could start within 5 s, so the last ones cannot even if the machine gets
    // quieter meanwhile.
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let one = (0..3)
        .map(|i| {
            let mut alone = server.connect_from(&format!("127.0.2.{}", i + 1));
            alone.hello();
            let started = std::time::Instant::now();
            let reply = alone.cmd(&format!("AUTH PLAIN {}", b64(b"\0slow\0slow")));
            assert!(reply.starts_with("235 "), "{reply}");
            started.elapsed().as_secs_f64()
        })
        .fold(f64::INFINITY, f64::min)
        .max(0.1);
    let rounds = (5.0 / one).ceil() as usize * 2 + 2;
    let logins: Vec<_> = (0..cores * rounds)
        .map(|i| {
            let mut c = server.connect_from(&format!("127.0.{}.{}", 10 + i / 200, i % 200 + 1));
            c.hello();
            std::thread::spawn(move || c.cmd(&format!("AUTH PLAIN {}", b64(b"\0slow\0slow"))))
        })
        .collect();
    let replies: Vec<String> = logins.into_iter().map(|t| t.join().unwrap()).collect();
    let busy = replies
        .iter()
        .filter(|r| *r == "454 4.7.0 Temporary authentication failure")
        .count();
    let ok = replies.iter().filter(|r| r.starts_with("235 ")).count();
    assert!(busy >= cores, "{replies:?}");
    assert!(ok >= cores, "{replies:?}");
    assert_eq!(busy + ok, replies.len(), "{replies:?}");
}

#[test]
fn a_client_that_wants_to_log_in_where_there_are_no_users_is_told_and_logged() {
    let server = Server::start("auth-no-users", &base_ini("", ""));
    let mut c = server.connect();
    c.hello();
    let reply = c.cmd(&format!("AUTH PLAIN {}", b64(b"\0alice\0secret")));
    assert!(reply.starts_with("502 5.5.1"), "{reply}");
    let line = server.wait_stderr("wants to log in (AUTH), but [users]");
    assert!(line.contains("qksmtp passwd NAME"), "{line}");
}
