//! Just enough HTTP/1.1 for the status page: one request per connection, read with limits
//! (head 16 KiB, body 64 KiB), and a response with security headers. `parse_head` is pure.

use std::io::{self, Read, Write};
use std::net::{IpAddr, TcpStream};
use std::time::Instant;

const MAX_HEAD: usize = 16 * 1024;
const MAX_BODY: usize = 64 * 1024;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub method: String,
    /// The path without the query, e.g. `/api/messages`.
    pub path: String,
    pub query: String,
    /// Header names lower-cased.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub peer: IpAddr,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// A query parameter's raw value.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.query
            .split('&')
            .filter_map(|kv| kv.split_once('='))
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v)
    }

    /// A query parameter, percent-decoded (`+` is a space), as text.
    pub fn text_param(&self, name: &str) -> Option<String> {
        let raw = self.param(name)?.as_bytes();
        let hex = |b: Option<&u8>| b.and_then(|&b| (b as char).to_digit(16));
        let mut out = Vec::with_capacity(raw.len());
        let mut i = 0;
        while i < raw.len() {
            match (raw[i], hex(raw.get(i + 1)), hex(raw.get(i + 2))) {
                (b'%', Some(hi), Some(lo)) => {
                    out.push((hi * 16 + lo) as u8);
                    i += 3;
                    continue;
                }
                (b'+', _, _) => out.push(b' '),
                (b, _, _) => out.push(b),
            }
            i += 1;
        }
        Some(String::from_utf8_lossy(&out).into_owned())
    }

    /// A request for tests and the CLI: no headers, no body.
    pub fn new(method: &str, target: &str, peer: IpAddr) -> Request {
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        Request {
            method: method.into(),
            path: path.into(),
            query: query.into(),
            headers: Vec::new(),
            body: Vec::new(),
            peer,
        }
    }

    #[cfg(test)]
    pub fn with(mut self, name: &str, value: &str) -> Request {
        self.headers.push((name.to_ascii_lowercase(), value.into()));
        self
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub content_type: &'static str,
    pub body: Vec<u8>,
    /// A file name: the browser saves the body instead of showing it.
    pub download: Option<String>,
    /// A stricter Content-Security-Policy for content we did not write (a message's HTML),
    /// which our own pages may then frame.
    pub framed: Option<&'static str>,
    /// A `WWW-Authenticate` challenge (with a 401).
    pub challenge: Option<&'static str>,
}

pub const JSON: &str = "application/json";
pub const HTML: &str = "text/html; charset=utf-8";
pub const TEXT: &str = "text/plain; charset=utf-8";

impl Response {
    pub fn new(status: u16, content_type: &'static str, body: impl Into<Vec<u8>>) -> Response {
        Response {
            status,
            content_type,
            body: body.into(),
            download: None,
            framed: None,
            challenge: None,
        }
    }

    /// Content shown in a frame of our pages, under `policy` instead of ours.
    pub fn framed(mut self, policy: &'static str) -> Response {
        self.framed = Some(policy);
        self
    }

    /// The body as a file to save under `name` (made of safe characters by the caller).
    pub fn download(mut self, name: &str) -> Response {
        self.download = Some(name.to_string());
        self
    }

    /// The answer asks for credentials (`WWW-Authenticate`).
    pub fn challenge(mut self, challenge: &'static str) -> Response {
        self.challenge = Some(challenge);
        self
    }

    /// `{"error":"..."}` with the status.
    pub fn error(status: u16, message: &str) -> Response {
        let body = super::json::J::obj(vec![("error", message.into())]).to_string();
        Response::new(status, JSON, body)
    }

    pub fn write_to(&self, w: &mut impl Write) -> io::Result<()> {
        let mut head = head(self.status, self.content_type, Some(self.body.len()));
        if let Some(policy) = self.framed {
            head = head
                .replace("X-Frame-Options: DENY", "X-Frame-Options: SAMEORIGIN")
                .replace(OUR_POLICY, policy);
        }
        if let Some(name) = &self.download {
            let at = head.len() - 2;
            head.insert_str(
                at,
                &format!("Content-Disposition: attachment; filename=\"{name}\"\r\n"),
            );
        }
        if let Some(challenge) = self.challenge {
            let at = head.len() - 2;
            head.insert_str(at, &format!("WWW-Authenticate: {challenge}\r\n"));
        }
        w.write_all(head.as_bytes())?;
        w.write_all(&self.body)?;
        w.flush()
    }
}

/// What our own pages may load: their own script and style, and frames of our own.
const OUR_POLICY: &str = "default-src 'self'; frame-ancestors 'none'; form-action 'self'";

/// The status line and headers (with the security headers), with a length or none (a stream
/// that ends when the connection closes).
fn head(status: u16, content_type: &str, length: Option<usize>) -> String {
    let length = length.map_or(String::new(), |n| format!("Content-Length: {n}\r\n"));
    format!(
        "HTTP/1.1 {status} {}\r\nContent-Type: {content_type}\r\n{length}Connection: close\r\n\
         Cache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\n\
         X-Frame-Options: DENY\r\nReferrer-Policy: no-referrer\r\n\
         Content-Security-Policy: {OUR_POLICY}\r\n\r\n",
        reason(status),
    )
}

/// The head of a Server-Sent Events stream, and how soon the browser reconnects.
pub fn event_stream_head(retry_ms: u64) -> String {
    head(200, "text/event-stream", None) + &format!("retry: {retry_ms}\n\n")
}

/// One Server-Sent Event: `id`, `event` and one line of `data` (JSON has no raw newline).
pub fn event(id: u64, name: &str, data: &str) -> String {
    debug_assert!(!data.contains('\n'));
    format!("id: {id}\nevent: {name}\ndata: {data}\n\n")
}

pub fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        413 => "Payload Too Large",
        421 => "Misdirected Request",
        422 => "Unprocessable Content",
        431 => "Request Header Fields Too Large",
        503 => "Service Unavailable",
        _ => "Error",
    }
}

/// Parses the request line and headers (the bytes before the empty line).
pub fn parse_head(head: &[u8], peer: IpAddr) -> Result<Request, Response> {
    let bad = || Response::error(400, "bad request");
    let text = std::str::from_utf8(head).map_err(|_| bad())?;
    let mut lines = text.split("\r\n");
    let first = lines.next().ok_or_else(bad)?;
    let mut parts = first.split(' ');
    let (method, target, version) = (parts.next(), parts.next(), parts.next());
    let (Some(method), Some(target), Some(version)) = (method, target, version) else {
        return Err(bad());
    };
    if !version.starts_with("HTTP/1.") || !target.starts_with('/') || parts.next().is_some() {
        return Err(bad());
    }
    let mut req = Request::new(method, target, peer);
    for line in lines.filter(|l| !l.is_empty()) {
        let (name, value) = line.split_once(':').ok_or_else(bad)?;
        req.headers
            .push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
    }
    Ok(req)
}

/// Reads one request (the socket has its timeouts set by the caller).
/// A socket whose reads must all end by one deadline: each read waits at most the time left
/// (a client trickling a byte at a time cannot hold the connection past it).
pub struct Deadlined<'a> {
    stream: &'a TcpStream,
    deadline: Instant,
}

impl<'a> Deadlined<'a> {
    pub fn new(stream: &'a TcpStream, deadline: Instant) -> Deadlined<'a> {
        Deadlined { stream, deadline }
    }
}

impl Read for Deadlined<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = self.deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::ErrorKind::TimedOut.into());
        }
        self.stream.set_read_timeout(Some(left))?;
        (&mut &*self.stream).read(buf)
    }
}

pub fn read_request(stream: &mut impl Read, peer: IpAddr) -> Result<Request, Response> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        let end = buf.windows(4).position(|w| w == b"\r\n\r\n");
        if end.unwrap_or(buf.len()) > MAX_HEAD {
            return Err(Response::error(431, "request head too large"));
        }
        if let Some(p) = end {
            break p;
        }
        if buf.len() > MAX_HEAD {
            return Err(Response::error(431, "request head too large"));
        }
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => return Err(Response::error(400, "incomplete request")),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    };
    let mut req = parse_head(&buf[..head_end], peer)?;
    let length: usize = match req.header("content-length") {
        Some(v) => v
            .parse()
            .map_err(|_| Response::error(400, "bad Content-Length"))?,
        None => 0,
    };
    if length > MAX_BODY || req.header("transfer-encoding").is_some() {
        return Err(Response::error(413, "request body too large"));
    }
    let mut body = buf.split_off(head_end + 4);
    while body.len() < length {
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => return Err(Response::error(400, "incomplete body")),
            Ok(n) => body.extend_from_slice(&chunk[..n]),
        }
    }
    body.truncate(length);
    req.body = body;
    Ok(req)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_trickled_in_is_cut_at_its_deadline() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let trickle = std::thread::spawn(move || {
            let mut c = TcpStream::connect(addr).unwrap();
            // One byte every 50 ms: 200 bytes would take 10 s.
            for b in b"GET / HTTP/1.1\r\nX-Slow: "
                .iter()
                .chain([b'a'; 180].iter())
            {
                if c.write_all(&[*b]).is_err() {
                    return true;
                }
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            false
        });
        let (server, _) = listener.accept().unwrap();
        let deadline = Instant::now() + std::time::Duration::from_millis(300);
        let got = read_request(&mut Deadlined::new(&server, deadline), peer());
        assert_eq!(got.unwrap_err().status, 400);
        drop(server);
        assert!(trickle.join().unwrap(), "cut before the client was done");
    }

    fn peer() -> IpAddr {
        "127.0.0.1".parse().unwrap()
    }

    #[test]
    fn reads_a_request_with_headers_and_body() {
        let raw =
            b"POST /api/flush?x=1 HTTP/1.1\r\nHost: 127.0.0.1:8025\r\nContent-Length: 2\r\n\r\nhi";
        let req = read_request(&mut &raw[..], peer()).unwrap();
        assert_eq!(
            (req.method.as_str(), req.path.as_str()),
            ("POST", "/api/flush")
        );
        assert_eq!(req.param("x"), Some("1"));
        let q = Request::new("GET", "/?q=a%40b.test+x%2&n=%E2%9C%93%zz", peer());
        assert_eq!(q.text_param("q").as_deref(), Some("a@b.test x%2"));
        assert_eq!(q.text_param("n").as_deref(), Some("✓%zz"));
        assert_eq!(q.text_param("none"), None);
        assert_eq!(req.header("host"), Some("127.0.0.1:8025"));
        assert_eq!(req.body, b"hi");
    }

    #[test]
    fn a_download_is_saved_under_its_name() {
        let mut out = Vec::new();
        let eml = Response::new(200, "message/rfc822", "Subject: x\r\n").download("A.eml");
        eml.write_to(&mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(
            head.ends_with("\r\nContent-Disposition: attachment; filename=\"A.eml\""),
            "{head}"
        );
        assert_eq!(body, "Subject: x\r\n");
    }

    #[test]
    fn refuses_garbage_and_oversize() {
        for raw in [
            &b"GET\r\n\r\n"[..],
            b"GET x HTTP/1.1\r\n\r\n",
            b"GET / SPDY\r\n\r\n",
        ] {
            assert_eq!(read_request(&mut &raw[..], peer()).unwrap_err().status, 400);
        }
        let big = format!("GET / HTTP/1.1\r\nX: {}\r\n\r\n", "a".repeat(20_000));
        assert_eq!(
            read_request(&mut big.as_bytes(), peer())
                .unwrap_err()
                .status,
            431
        );
        let body = b"POST / HTTP/1.1\r\nContent-Length: 999999\r\n\r\n";
        assert_eq!(
            read_request(&mut &body[..], peer()).unwrap_err().status,
            413
        );
    }
}
