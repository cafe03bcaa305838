//! A small HTTPS server for the tests: serves a fixed answer per `Host` (an MTA-STS policy,
//! a redirect, a wrong type...) on port 443 of a loopback address of the test's own, with a
//! certificate of the test's CA, and counts the requests. Dropped, it stops listening.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// Host name -> the raw HTTP answer (status line, headers and body).
pub type Answers = Arc<Mutex<HashMap<String, String>>>;

pub struct HttpsServer {
    pub addr: SocketAddr,
    pub answers: Answers,
    requests: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

/// A `200` `text/plain` answer with `body`.
pub fn text_plain(body: &str) -> String {
    format!(
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

impl HttpsServer {
    pub fn start(addr: SocketAddr, identity: native_tls::Identity) -> HttpsServer {
        let listener = TcpListener::bind(addr).unwrap_or_else(|e| panic!("bind {addr}: {e}"));
        let acceptor = Arc::new(native_tls::TlsAcceptor::new(identity).unwrap());
        let answers: Answers = Arc::default();
        let requests = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (answers, requests, stop) = (answers.clone(), requests.clone(), stop.clone());
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(stream) = stream else { continue };
                    let (acceptor, answers) = (acceptor.clone(), answers.clone());
                    requests.fetch_add(1, Ordering::SeqCst);
                    std::thread::spawn(move || serve(stream, &acceptor, &answers));
                }
            })
        };
        HttpsServer {
            addr,
            answers,
            requests,
            stop,
            thread: Some(thread),
        }
    }

    /// Answers requests for `host` with `raw`.
    pub fn answer(&self, host: &str, raw: String) {
        self.answers.lock().unwrap().insert(host.to_string(), raw);
    }

    /// Connections accepted so far.
    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
}

fn serve(stream: TcpStream, acceptor: &native_tls::TlsAcceptor, answers: &Answers) {
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let Ok(mut tls) = acceptor.accept(stream) else {
        return;
    };
    let mut request = Vec::new();
    let mut buf = [0u8; 4096];
    while !request.windows(4).any(|w| w == b"\r\n\r\n") {
        match tls.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => request.extend_from_slice(&buf[..n]),
        }
    }
    let text = String::from_utf8_lossy(&request);
    let host = text
        .lines()
        .find_map(|l| {
            l.strip_prefix("Host: ")
                .or_else(|| l.strip_prefix("host: "))
        })
        .unwrap_or_default()
        .trim()
        .to_string();
    let raw = answers
        .lock()
        .unwrap()
        .get(&host)
        .cloned()
        .unwrap_or_else(|| "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n".into());
    let _ = tls.write_all(raw.as_bytes());
    let _ = tls.shutdown();
}

impl Drop for HttpsServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(5));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
