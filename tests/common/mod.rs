//! Test harness: runs the real qksmtp binary from a temporary INI on 127.0.0.1:0, reads the
//! bound port from its start-up lines, builds INIs, and waits for what tests look for.
//! The SMTP client is in `client.rs`, the fake SMTP server in `fake_mx.rs`.
// Each test file uses a part of the harness.
#![allow(dead_code, unused_imports)]

mod base64;
pub mod browser;
mod client;
pub mod dkimpy;
pub mod dnsmasq;
pub mod fake_mx;
pub mod https;
pub mod loopback;
pub mod nsd;
pub mod postfix;
pub mod sts_resolver;
mod tls;
pub mod unbound;

pub use base64::{b64, b64_decode};
pub use client::{Client, Smtp, TlsClient, queued_id, submit, trickle};
pub use tls::{TestCa, make_cert, openssl_out, tls_connector};

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_qksmtp");
/// How long a test waits for something that should happen.
pub const WAIT: Duration = Duration::from_secs(20);

/// A fresh, empty temporary folder, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(name: &str) -> TempDir {
        static N: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "qksmtp-test-{name}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    /// A new temp dir with `ini` as its `qksmtp.ini`.
    pub fn with_ini(name: &str, ini: &str) -> TempDir {
        let dir = TempDir::new(name);
        write_ini(dir.path(), ini);
        dir
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if !self.0.as_os_str().is_empty() {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

/// (Over)writes `dir/qksmtp.ini`.
pub fn write_ini(dir: &Path, ini: &str) {
    std::fs::write(dir.join("qksmtp.ini"), ini).unwrap();
}

/// The INI every test starts from: loopback port 0, no status page, its own spool. DNS goes
/// to a dead loopback port and every domain without its own rule is routed to a closed
/// loopback port, so nothing ever leaves 127.0.0.1 and such mail simply stays queued.
/// A `rest` with its own `[delivery]` must set `dns_server` itself.
pub fn base_ini(server_extra: &str, rest: &str) -> String {
    let mut ini = format!(
        "[server]\nlisten = 127.0.0.1:0\nhostname = mx.qksmtp.test\nstatus_listen =\nspool_dir = spool\n\
         log_file = delivery.log\nlog_level = debug\n{server_extra}\n{rest}\n"
    );
    if rest.contains("[delivery]") {
        assert!(
            rest.contains("dns_server"),
            "a test's [delivery] must set dns_server to loopback"
        );
    } else {
        ini.push_str(&format!("[delivery]\ndns_server = {DEAD}\n"));
    }
    if !rest.contains("[domain:*]") {
        ini.push_str(&format!("[domain:*]\nmx = {DEAD}\n"));
    }
    ini
}

/// `base_ini("", rest)` with the status page on a free loopback port.
pub fn status_ini(rest: &str) -> String {
    with_status_page(&base_ini("", rest))
}

/// This INI (made by `base_ini`) with the status page on a free loopback port.
pub fn with_status_page(ini: &str) -> String {
    let on = ini.replace("status_listen =\n", "status_listen = 127.0.0.1:0\n");
    assert_ne!(on, ini, "no 'status_listen =' line in the INI");
    on
}

/// A `[domain:DOMAIN]` section that sends its mail to the fake MX `mx`, with `extra` keys
/// (lines) in it.
pub fn route(domain: &str, mx: &fake_mx::FakeMx, extra: &str) -> String {
    format!("[domain:{domain}]\nmx = 127.0.0.1:{}\n{extra}\n", mx.port())
}

/// The `[delivery]` section of a secure-delivery test: DNS from `dns_server`, the test CA
/// trusted through `tls_ca_file`.
pub fn tls_delivery(dns_server: impl std::fmt::Display, ca: &TestCa) -> String {
    format!(
        "[delivery]\ndns_server = {dns_server}\ntls_ca_file = {}\n",
        ca.pem().display()
    )
}

/// `qksmtp show ID` once it lists `attempts` attempts.
pub fn shown(server: &Server, id: &str, attempts: usize) -> String {
    wait_for(WAIT, || {
        let (_, out, err) = run_cli(server.dir.path(), &["show", id]);
        (out.matches("--- attempt:").count() >= attempts)
            .then_some(out.clone())
            .ok_or(format!("{out}{err}"))
    })
}

/// A loopback port where nothing listens (connections are refused).
pub const DEAD: &str = "127.0.0.1:9";

/// Calls `probe` every 20 ms until it gives `Ok`, and returns that; after `within`, panics
/// with its last `Err` (what it saw instead).
pub fn wait_for<T>(within: Duration, mut probe: impl FnMut() -> Result<T, String>) -> T {
    let deadline = Instant::now() + within;
    loop {
        match probe() {
            Ok(v) => return v,
            Err(seen) if Instant::now() >= deadline => panic!("timed out after {within:?}: {seen}"),
            Err(_) => std::thread::sleep(Duration::from_millis(20)),
        }
    }
}

/// `wait_for` a plain condition: waits until `cond()` holds; `what` names it in the panic.
pub fn wait_until(mut cond: impl FnMut() -> bool, what: &str) {
    wait_for(WAIT, || {
        cond().then_some(()).ok_or_else(|| what.to_string())
    })
}

pub struct Server {
    pub dir: TempDir,
    pub child: Child,
    /// The first plain SMTP listener (`(smtp)` line).
    pub addr: SocketAddr,
    /// The status page's address, when `status_listen` is set.
    pub status_addr: Option<SocketAddr>,
    /// The first implicit-TLS listener (`(smtps)` line), if any.
    pub tls_addr: Option<SocketAddr>,
    /// stdout lines after "ready".
    pub lines: mpsc::Receiver<String>,
    /// Every start-up line up to "ready".
    pub startup: Vec<String>,
    /// stderr lines: the server's log (see `wait_stderr`).
    pub stderr: mpsc::Receiver<String>,
}

impl Server {
    /// Writes `ini` to a new temp dir and starts the server on it.
    pub fn start(name: &str, ini: &str) -> Server {
        Server::start_in(TempDir::with_ini(name, ini))
    }

    /// Like `start`, with a fresh self-signed `cert.pem` + `key.pem` (`make_cert`) beside the
    /// INI, so that `tls_cert = cert.pem` / `tls_key = key.pem` in it work.
    pub fn start_tls(name: &str, ini: &str) -> Server {
        let dir = TempDir::with_ini(name, ini);
        make_cert(dir.path());
        Server::start_in(dir)
    }

    /// Starts (or restarts) the server on the INI already in `dir`.
    pub fn start_in(dir: TempDir) -> Server {
        Server::start_wrapped(dir, &[])
    }

    /// Like `start_in`, with the binary run through `wrapper` (e.g. `["sh", "-c", "ulimit
    /// -n 4096; exec \"$0\" \"$@\""]`); the wrapper must `exec` it, so that the child's
    /// PID is the server's.
    pub fn start_wrapped(dir: TempDir, wrapper: &[&str]) -> Server {
        Server::spawn(dir, wrapper, "qksmtp: ready")
    }

    /// Restarts the server on the INI in `dir` and returns as soon as it listens, while it
    /// may still be reading the spool: `startup` ends at the first "listening on" line, the
    /// rest (the spool's line, "ready") comes on `lines`.
    pub fn start_listening(dir: TempDir) -> Server {
        Server::spawn(dir, &[], "qksmtp: listening on ")
    }

    /// Starts the binary (through `wrapper`) and reads its start-up lines up to `last`.
    fn spawn(dir: TempDir, wrapper: &[&str], last: &str) -> Server {
        let mut command = match wrapper {
            [] => Command::new(BIN),
            [program, args @ ..] => {
                let mut c = Command::new(program);
                c.args(args).arg(BIN);
                c
            }
        };
        let mut child = command
            .arg("--config")
            .arg(dir.path().join("qksmtp.ini"))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start qksmtp");
        let lines = forward_lines(child.stdout.take().unwrap());
        let stderr = forward_lines(child.stderr.take().unwrap());
        let mut server = Server {
            dir,
            child,
            addr: SocketAddr::from(([0, 0, 0, 0], 0)),
            status_addr: None,
            tls_addr: None,
            lines,
            startup: Vec::new(),
            stderr,
        };
        server.read_startup(last);
        server
    }

    /// Reads the start-up lines up to the one starting with `last` ("ready"), noting the
    /// addresses they give.
    fn read_startup(&mut self, last: &str) {
        let mut addr = None;
        loop {
            let line = self
                .lines
                .recv_timeout(WAIT)
                .unwrap_or_else(|_| panic!("no '{last}' line; got {:?}", self.startup));
            if let Some(rest) = line.strip_prefix("qksmtp: listening on ") {
                let (bound, kind) = rest.split_once(' ').unwrap();
                let bound: SocketAddr = bound.parse().unwrap();
                match kind {
                    "(smtps)" => self.tls_addr = self.tls_addr.or(Some(bound)),
                    _ => addr = addr.or(Some(bound)),
                }
            }
            if let Some(rest) = line.strip_prefix("qksmtp: status page http://") {
                self.status_addr = Some(rest.trim_end_matches('/').parse().unwrap());
            }
            let ready = line.starts_with(last);
            self.startup.push(line);
            if ready {
                break;
            }
        }
        self.addr = addr.expect("a listening line");
    }

    pub fn connect(&self) -> Client {
        Client::new(TcpStream::connect(self.addr).unwrap())
    }

    /// Connects from another loopback address (e.g. 127.0.0.2).
    pub fn connect_from(&self, source: &str) -> Client {
        let socket =
            socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
        let src: SocketAddr = format!("{source}:0").parse().unwrap();
        socket.bind(&src.into()).unwrap();
        socket.connect(&self.addr.into()).unwrap();
        Client::new(socket.into())
    }

    /// Connects to the implicit-TLS listener and does the handshake (any certificate).
    pub fn connect_tls(&self) -> TlsClient {
        let tcp = TcpStream::connect(self.tls_addr.expect("a listen_tls address")).unwrap();
        TlsClient::handshake(tcp)
    }

    /// A field of the server's `/proc/PID/status` in kB (`VmRSS`, `VmHWM`) or as a count
    /// (`Threads`).
    pub fn proc_status(&self, field: &str) -> u64 {
        proc_status(self.child.id(), field)
    }

    pub fn spool(&self) -> PathBuf {
        self.dir.path().join("spool")
    }

    /// The status API's action token (from `spool/.status`, as the commands read it).
    pub fn token(&self) -> String {
        let text = std::fs::read_to_string(self.spool().join(".status")).unwrap();
        text.lines().nth(1).unwrap().to_string()
    }

    /// Files in the spool with this extension ("msg", "env").
    pub fn spool_files(&self, ext: &str) -> Vec<PathBuf> {
        spool_files(&self.spool(), ext)
    }

    pub fn kill9(mut self) -> TempDir {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
        self.take_dir()
    }

    /// Sends SIGTERM and waits for the exit; returns the exit status and the dir.
    pub fn terminate(mut self) -> (std::process::ExitStatus, TempDir) {
        signal(&self.child, "TERM");
        let status = wait_exit(&mut self.child);
        (status, self.take_dir())
    }

    /// Waits for a line of the server's log (stderr) containing `needle`; returns it.
    /// Lines read before it are consumed.
    pub fn wait_stderr(&self, needle: &str) -> String {
        let deadline = Instant::now() + WAIT;
        let mut seen = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.stderr.recv_timeout(left) {
                Ok(line) if line.contains(needle) => return line,
                Ok(line) => seen.push(line),
                Err(_) => {
                    let tail = &seen[seen.len().saturating_sub(40)..];
                    panic!(
                        "no log line with {needle:?}; the last ones:\n{}",
                        tail.join("\n")
                    )
                }
            }
        }
    }

    /// Waits until the delivery log (`delivery.log`) has a line containing every one of
    /// `parts`; returns the first such line.
    pub fn wait_log(&self, parts: &[&str]) -> String {
        let path = self.dir.path().join("delivery.log");
        wait_for(WAIT, || {
            let log = std::fs::read_to_string(&path).unwrap_or_default();
            match log.lines().find(|l| parts.iter().all(|p| l.contains(p))) {
                Some(line) => Ok(line.to_string()),
                None => Err(format!("no log line with {parts:?} in:\n{log}")),
            }
        })
    }

    fn take_dir(&mut self) -> TempDir {
        std::mem::replace(&mut self.dir, TempDir(PathBuf::new()))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Reads lines from a child's pipe on a thread, into a channel (until the pipe closes).
fn forward_lines(pipe: impl Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(pipe).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

pub fn signal(child: &Child, name: &str) {
    let ok = Command::new("kill")
        .arg(format!("-{name}"))
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert!(ok.success());
}

pub fn wait_exit(child: &mut Child) -> std::process::ExitStatus {
    wait_for(WAIT, || {
        child
            .try_wait()
            .unwrap()
            .ok_or_else(|| "qksmtp did not exit".to_string())
    })
}

pub fn spool_files(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = match std::fs::read_dir(dir) {
        Ok(rd) => rd
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == ext))
            .collect(),
        Err(_) => Vec::new(),
    };
    v.sort();
    v
}

/// A message of `lines` lines of 100 bytes (LF ends, as a program writes it), to
/// `you@a.test` with a Bcc to `hidden@a.test`.
pub fn big_message(lines: usize) -> String {
    let mut m = String::from("To: you@a.test\nBcc: hidden@a.test\nSubject: big\n\n");
    for n in 0..lines {
        m.push_str(&format!("{n:08} {}\n", "x".repeat(91)));
    }
    m
}

/// Runs `send` (a `qksmtp send` command) and writes the first half of `message` to its
/// standard input; with the input still open, waits until the message is on its way in
/// the spool folder `spool` (an `ID.part.tmp`: the command streams what it has read instead
/// of reading everything first), then writes the rest and checks that it succeeds.
pub fn send_streaming(send: &mut Command, spool: &Path, message: &str) {
    let mut child = send
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{send:?}: {e}"));
    let mut stdin = child.stdin.take().unwrap();
    let (first, rest) = message.split_at(message.len() / 2);
    // A command that stops reading has failed: its exit and what it said are the news.
    let written = stdin.write_all(first.as_bytes()).and_then(|()| {
        wait_until(
            || !spool_files(spool, "tmp").is_empty() || child.try_wait().unwrap().is_some(),
            "a part of the message in the spool while the input is still open",
        );
        stdin.write_all(rest.as_bytes())
    });
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    if let Err(e) = written {
        let err = String::from_utf8_lossy(&out.stderr);
        panic!("{send:?} stopped reading ({e}): {:?} {err}", out.status);
    }
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{send:?}: {:?} {err}", out.status);
}

/// Runs `qksmtp ARGS --config DIR/qksmtp.ini`; returns (exit code, stdout, stderr).
pub fn run_cli(dir: &Path, args: &[&str]) -> (i32, String, String) {
    run_cli_stdin(dir, args, "")
}

/// Runs `qksmtp ARGS --config DIR/qksmtp.ini` with `stdin` as standard input; returns (exit
/// code, stdout, stderr).
pub fn run_cli_stdin(dir: &Path, args: &[&str], stdin: &str) -> (i32, String, String) {
    let mut command = Command::new(BIN);
    command
        .args(args)
        .arg("--config")
        .arg(dir.join("qksmtp.ini"));
    let out = run_with_stdin(&mut command, stdin);
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Runs `command` with `stdin` written to its standard input (then closed); returns its
/// output.
pub fn run_with_stdin(command: &mut Command, stdin: &str) -> Output {
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{command:?}: {e}"));
    // A command that does not read its input (mailq, -bi) may exit before it is written.
    let written = child.stdin.take().unwrap().write_all(stdin.as_bytes());
    if let Err(e) = written {
        assert_eq!(e.kind(), std::io::ErrorKind::BrokenPipe, "{command:?}: {e}");
    }
    child.wait_with_output().unwrap()
}

/// One HTTP request to the status page; returns (status code, body). `headers` are added to
/// the request (e.g. the action token).
pub fn http(addr: SocketAddr, method: &str, path: &str, headers: &[(&str, &str)]) -> (u16, String) {
    let (code, _, body) = http_full(addr, method, path, headers);
    (code, body)
}

/// `http`, with the response's head too: (status code, head, body).
pub fn http_full(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> (u16, String, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(WAIT)).unwrap();
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 0\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap();
    let code = head.split(' ').nth(1).unwrap().parse().unwrap();
    (code, head.to_string(), body.to_string())
}

/// Runs `script` with python3; panics unless it succeeds; returns its output, trimmed.
pub fn python(script: &str) -> String {
    let out = Command::new("python3")
        .arg("-c")
        .arg(script)
        .output()
        .expect("python3 is needed for this test");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout.trim().to_string()
}

/// Polls `path` until the body contains every one of `parts`; returns the body.
pub fn wait_http(addr: SocketAddr, path: &str, parts: &[&str]) -> String {
    wait_for(WAIT, || {
        let (_, body) = http(addr, "GET", path, &[]);
        match parts.iter().all(|p| body.contains(p)) {
            true => Ok(body),
            false => Err(format!("{path}: no {parts:?} in:\n{body}")),
        }
    })
}

/// A small tmpfs mounted on a fresh temporary folder (needs root), unmounted on drop, also
/// when the test fails. `None` when not running as root.
pub struct Tmpfs {
    dir: TempDir,
}

impl Tmpfs {
    /// Mounts a tmpfs of `size` (e.g. "256k"); panics if root cannot mount it.
    pub fn mount(name: &str, size: &str) -> Option<Tmpfs> {
        let uid = Command::new("id").arg("-u").output().ok()?;
        if String::from_utf8_lossy(&uid.stdout).trim() != "0" {
            return None;
        }
        let dir = TempDir::new(name);
        let out = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0700"),
                "tmpfs",
            ])
            .arg(dir.path())
            .output()
            .expect("the mount command");
        assert!(
            out.status.success(),
            "mount -t tmpfs failed as root: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Some(Tmpfs { dir })
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        // Lazy: detaches even if a killed server's files are still open.
        let _ = Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

/// A numeric field of `/proc/PID/status` (`VmRSS: 1234 kB` gives 1234).
pub fn proc_status(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"));
    line.split_whitespace().next().unwrap().parse().unwrap()
}

/// Raises this process's soft limit on open files to `want` (or to its hard limit when that
/// is lower), with the `prlimit` program; returns the soft limit now in force.
pub fn raise_nofile(want: u64) -> u64 {
    let pid = std::process::id().to_string();
    let limits = std::fs::read_to_string("/proc/self/limits").unwrap();
    let open_files = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .unwrap();
    let numbers: Vec<u64> = open_files
        .split_whitespace()
        .filter_map(|w| w.parse().ok())
        .collect();
    let (soft, hard) = (numbers[0], numbers[1]);
    if soft >= want {
        return soft;
    }
    let target = want.min(hard);
    let ok = Command::new("prlimit")
        .args(["--pid", &pid, &format!("--nofile={target}:")])
        .status()
        .is_ok_and(|s| s.success());
    if ok { target } else { soft }
}
