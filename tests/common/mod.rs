//! Test harness: runs the real qksmtp binary from a temporary INI on 127.0.0.1:0, reads the
//! bound port from its start-up lines, and speaks SMTP to it.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc;
use std::time::Duration;

pub const BIN: &str = env!("CARGO_BIN_EXE_qksmtp");
const WAIT: Duration = Duration::from_secs(20);

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

/// A loopback port where nothing listens (connections are refused).
pub const DEAD: &str = "127.0.0.1:9";

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
        let dir = TempDir::new(name);
        std::fs::write(dir.path().join("qksmtp.ini"), ini).unwrap();
        Server::start_in(dir)
    }

    /// Like `start`, with a fresh self-signed `cert.pem` + `key.pem` (openssl CLI) beside the
    /// INI, so that `tls_cert = cert.pem` / `tls_key = key.pem` in it work.
    pub fn start_tls(name: &str, ini: &str) -> Server {
        let dir = TempDir::new(name);
        make_cert(dir.path());
        std::fs::write(dir.path().join("qksmtp.ini"), ini).unwrap();
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
        let rx = forward_lines(child.stdout.take().unwrap());
        let stderr = forward_lines(child.stderr.take().unwrap());
        let mut startup = Vec::new();
        let mut addr = None;
        let mut status_addr = None;
        let mut tls_addr = None;
        loop {
            let line = rx
                .recv_timeout(WAIT)
                .unwrap_or_else(|_| panic!("no 'ready' line; got {startup:?}"));
            if let Some(rest) = line.strip_prefix("qksmtp: listening on ") {
                let (bound, kind) = rest.split_once(' ').unwrap();
                let bound: SocketAddr = bound.parse().unwrap();
                match kind {
                    "(smtps)" => tls_addr = tls_addr.or(Some(bound)),
                    _ => addr = addr.or(Some(bound)),
                }
            }
            if let Some(rest) = line.strip_prefix("qksmtp: status page http://") {
                status_addr = Some(rest.trim_end_matches('/').parse().unwrap());
            }
            let ready = line.starts_with("qksmtp: ready");
            startup.push(line);
            if ready {
                break;
            }
        }
        Server {
            dir,
            child,
            addr: addr.expect("a listening line"),
            status_addr,
            tls_addr,
            lines: rx,
            startup,
            stderr,
        }
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
        tcp.set_read_timeout(Some(WAIT)).unwrap();
        let tls = tls_connector().connect("localhost", tcp).unwrap();
        TlsClient {
            reader: BufReader::new(tls),
        }
    }

    /// A field of the server's `/proc/PID/status` in kB (`VmRSS`, `VmHWM`) or as a count
    /// (`Threads`).
    pub fn proc_status(&self, field: &str) -> u64 {
        proc_status(self.child.id(), field)
    }

    pub fn spool(&self) -> PathBuf {
        self.dir.path().join("spool")
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
        let deadline = std::time::Instant::now() + WAIT;
        let mut seen = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
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
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(std::time::Instant::now() < deadline, "qksmtp did not exit");
        std::thread::sleep(Duration::from_millis(20));
    }
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

/// Runs `qksmtp ARGS --config DIR/qksmtp.ini`; returns (exit code, stdout, stderr).
pub fn run_cli(dir: &Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(BIN)
        .args(args)
        .arg("--config")
        .arg(dir.join("qksmtp.ini"))
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A minimal SMTP client for tests: raw writes, reply reads.
pub struct Client {
    pub stream: TcpStream,
    reader: BufReader<TcpStream>,
}

impl Client {
    pub fn new(stream: TcpStream) -> Client {
        stream.set_read_timeout(Some(WAIT)).unwrap();
        let reader = BufReader::new(stream.try_clone().unwrap());
        Client { stream, reader }
    }

    /// Reads one (possibly multi-line) reply; returns its lines joined with '\n'.
    /// An empty string means the server closed the connection.
    pub fn reply(&mut self) -> String {
        read_reply(&mut self.reader)
    }

    /// STARTTLS (must get 220), then the TLS handshake (any certificate accepted).
    pub fn starttls(mut self) -> TlsClient {
        let r = self.cmd("STARTTLS");
        assert!(r.starts_with("220 2.0.0"), "{r}");
        assert!(self.reader.buffer().is_empty(), "bytes after the 220");
        let tls = tls_connector().connect("localhost", self.stream).unwrap();
        TlsClient {
            reader: BufReader::new(tls),
        }
    }

    pub fn send(&mut self, raw: &str) {
        self.stream.write_all(raw.as_bytes()).unwrap();
    }

    pub fn send_bytes(&mut self, raw: &[u8]) {
        self.stream.write_all(raw).unwrap();
    }

    /// Sends one command line and returns the reply.
    pub fn cmd(&mut self, line: &str) -> String {
        self.send(&format!("{line}\r\n"));
        self.reply()
    }

    /// True when the server has closed the connection (reads EOF).
    pub fn closed(&mut self) -> bool {
        let mut buf = [0u8; 1];
        matches!(self.reader.read(&mut buf), Ok(0) | Err(_))
    }

    /// Greeting + EHLO; returns the EHLO reply.
    pub fn hello(&mut self) -> String {
        let greeting = self.reply();
        assert!(greeting.starts_with("220 "), "{greeting}");
        let ehlo = self.cmd("EHLO client.qksmtp.test");
        assert!(ehlo.starts_with("250"), "{ehlo}");
        ehlo
    }

    /// A whole transaction; returns the final reply to the data.
    pub fn send_mail(&mut self, from: &str, to: &[&str], data: &str) -> String {
        assert!(self.cmd(&format!("MAIL FROM:<{from}>")).starts_with("250"));
        for rcpt in to {
            let r = self.cmd(&format!("RCPT TO:<{rcpt}>"));
            assert!(r.starts_with("250"), "RCPT {rcpt}: {r}");
        }
        assert!(self.cmd("DATA").starts_with("354"));
        self.send(data);
        self.reply()
    }
}

/// Reads one (possibly multi-line) reply; "" when the connection is closed.
fn read_reply<R: BufRead>(reader: &mut R) -> String {
    let mut all = Vec::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return all.join("\n");
        }
        let line = line.trim_end_matches(['\r', '\n']).to_string();
        let last = line.as_bytes().get(3) != Some(&b'-');
        all.push(line);
        if last {
            return all.join("\n");
        }
    }
}

/// A client that accepts any certificate (the tests' certificates are self-signed).
pub fn tls_connector() -> native_tls::TlsConnector {
    native_tls::TlsConnector::builder()
        .danger_accept_invalid_certs(true)
        .danger_accept_invalid_hostnames(true)
        .build()
        .unwrap()
}

/// The test client after STARTTLS or on an implicit-TLS port.
pub struct TlsClient {
    reader: BufReader<native_tls::TlsStream<TcpStream>>,
}

impl TlsClient {
    pub fn reply(&mut self) -> String {
        read_reply(&mut self.reader)
    }

    pub fn send(&mut self, raw: &str) {
        self.reader.get_mut().write_all(raw.as_bytes()).unwrap();
    }

    pub fn cmd(&mut self, line: &str) -> String {
        self.send(&format!("{line}\r\n"));
        self.reply()
    }

    /// True when the server has closed the connection.
    pub fn closed(&mut self) -> bool {
        let mut buf = [0u8; 1];
        matches!(self.reader.read(&mut buf), Ok(0) | Err(_))
    }

    /// EHLO (after STARTTLS there is no new greeting); returns the reply.
    pub fn ehlo(&mut self) -> String {
        let ehlo = self.cmd("EHLO client.qksmtp.test");
        assert!(ehlo.starts_with("250"), "{ehlo}");
        ehlo
    }

    /// A whole transaction; returns the final reply to the data.
    pub fn send_mail(&mut self, from: &str, to: &[&str], data: &str) -> String {
        let r = self.cmd(&format!("MAIL FROM:<{from}>"));
        assert!(r.starts_with("250"), "MAIL: {r}");
        for rcpt in to {
            let r = self.cmd(&format!("RCPT TO:<{rcpt}>"));
            assert!(r.starts_with("250"), "RCPT {rcpt}: {r}");
        }
        assert!(self.cmd("DATA").starts_with("354"));
        self.send(data);
        self.reply()
    }
}

/// Writes a self-signed `cert.pem` + PKCS#8 `key.pem` for localhost into `dir` (openssl CLI).
pub fn make_cert(dir: &Path) {
    let out = Command::new("openssl")
        .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes"])
        .args(["-keyout", "key.pem", "-out", "cert.pem", "-days", "2"])
        .args(["-subj", "/CN=localhost"])
        .current_dir(dir)
        .output()
        .expect("the openssl CLI is needed for the TLS tests");
    assert!(
        out.status.success(),
        "openssl req failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Standard base64, for AUTH payloads.
pub fn b64(data: &[u8]) -> String {
    fake_mx::b64_encode(data)
}

/// The queue ID from a `250 2.0.0 Ok: queued as ID` reply.
pub fn queued_id(reply: &str) -> String {
    assert!(reply.starts_with("250 2.0.0 Ok: queued as "), "{reply}");
    reply.rsplit(' ').next().unwrap().to_string()
}

pub mod dkimpy;
pub mod fake_mx;

/// One HTTP request to the status page; returns (status code, body). `token` adds the
/// action token header.
pub fn http(addr: SocketAddr, method: &str, path: &str, headers: &[(&str, &str)]) -> (u16, String) {
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
    (code, body.to_string())
}

/// Polls `path` until the body contains every one of `parts`; returns the body.
pub fn wait_http(addr: SocketAddr, path: &str, parts: &[&str]) -> String {
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let (_, body) = http(addr, "GET", path, &[]);
        if parts.iter().all(|p| body.contains(p)) {
            return body;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{path}: no {parts:?} in:\n{body}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The INI with the status page on a free loopback port.
pub fn status_ini(rest: &str) -> String {
    base_ini("", rest).replace("status_listen =\n", "status_listen = 127.0.0.1:0\n")
}

/// Runs `qksmtp ARGS --config DIR/qksmtp.ini` with `stdin` as standard input.
pub fn run_cli_stdin(dir: &Path, args: &[&str], stdin: &str) -> (i32, String, String) {
    let mut child = Command::new(BIN)
        .args(args)
        .arg("--config")
        .arg(dir.join("qksmtp.ini"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
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
