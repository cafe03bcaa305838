//! The MTA-STS policy download (RFC 8461 §3.3): `GET
//! https://mta-sts.DOMAIN/.well-known/mta-sts.txt`, the certificate verified (the system's
//! CAs and `tls_ca_file`), no redirects followed, 10 s in all, at most 64 KiB, `text/plain`.
//! A small HTTP/1.1 GET of our own over native-tls: an HTTP client crate would add more to
//! the binary than these lines (see the commit that brought them).

use crate::config::IpFamily;
use crate::dns::Lookup;
use native_tls::{Certificate, TlsConnector};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::time::{Duration, Instant};

/// The whole download, connection to last byte.
pub const TIME_LIMIT: Duration = Duration::from_secs(10);
/// The largest policy body taken.
pub const SIZE_LIMIT: usize = 64 * 1024;
/// Room for the status line and headers on top of the body.
const HEAD_ROOM: usize = 16 * 1024;

/// The policy text of `domain`, or why it could not be had.
pub fn fetch(
    domain: &str,
    resolver: &dyn Lookup,
    family: IpFamily,
    ca_file: Option<&Path>,
) -> Result<String, String> {
    let host = format!("mta-sts.{}", domain.trim_end_matches('.'));
    let deadline = Instant::now() + TIME_LIMIT;
    let ips = resolver
        .addresses(&host, family)
        .map_err(|e| e.to_string())?;
    let connector = connector(ca_file)?;
    let mut last = String::new();
    for ip in ips {
        let addr = SocketAddr::new(ip, 443);
        let url = format!("https://{host}/.well-known/mta-sts.txt ({addr})");
        match get(&connector, &host, addr, deadline) {
            Ok(raw) => return response(&raw).map_err(|why| format!("{url}: {why}")),
            Err(why) => last = format!("{url}: {why}"),
        }
    }
    Err(last)
}

fn connector(ca_file: Option<&Path>) -> Result<TlsConnector, String> {
    let mut builder = TlsConnector::builder();
    if let Some(path) = ca_file {
        let pem =
            std::fs::read(path).map_err(|e| format!("tls_ca_file {}: {e}", path.display()))?;
        let certs = Certificate::stack_from_pem(&pem)
            .map_err(|e| format!("tls_ca_file {}: {e}", path.display()))?;
        for cert in certs {
            builder.add_root_certificate(cert);
        }
    }
    builder.build().map_err(|e| e.to_string())
}

/// The raw response, read to its end (the server closes: `Connection: close`).
fn get(
    connector: &TlsConnector,
    host: &str,
    addr: SocketAddr,
    deadline: Instant,
) -> Result<Vec<u8>, String> {
    let left = || {
        deadline
            .saturating_duration_since(Instant::now())
            .max(Duration::from_millis(1))
    };
    let tcp = TcpStream::connect_timeout(&addr, left()).map_err(|e| e.to_string())?;
    tcp.set_read_timeout(Some(left()))
        .map_err(|e| e.to_string())?;
    tcp.set_write_timeout(Some(left()))
        .map_err(|e| e.to_string())?;
    let mut tls = connector.connect(host, tcp).map_err(|e| match e {
        native_tls::HandshakeError::Failure(e) => format!("TLS: {e}"),
        native_tls::HandshakeError::WouldBlock(_) => "TLS handshake timed out".to_string(),
    })?;
    let request = format!(
        "GET /.well-known/mta-sts.txt HTTP/1.1\r\nHost: {host}\r\nUser-Agent: qksmtp\r\n\
         Accept: text/plain\r\nConnection: close\r\n\r\n"
    );
    tls.write_all(request.as_bytes())
        .map_err(|e| e.to_string())?;
    let mut raw = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        if Instant::now() >= deadline {
            return Err(format!(
                "no complete answer within {}s",
                TIME_LIMIT.as_secs()
            ));
        }
        tls.get_ref()
            .set_read_timeout(Some(left()))
            .map_err(|e| e.to_string())?;
        match tls.read(&mut buf) {
            Ok(0) => return Ok(raw),
            Ok(n) => raw.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(raw),
            Err(e) => return Err(e.to_string()),
        }
        if raw.len() > SIZE_LIMIT + HEAD_ROOM {
            return Err(format!(
                "the policy is larger than {} KiB",
                SIZE_LIMIT / 1024
            ));
        }
    }
}

/// The body of a `200` `text/plain` answer of at most 64 KiB (plain or chunked).
pub fn response(raw: &[u8]) -> Result<String, String> {
    let end = find(raw, b"\r\n\r\n").ok_or("the answer has no end of headers")?;
    let head = String::from_utf8_lossy(&raw[..end]);
    let body = &raw[end + 4..];
    let mut lines = head.split("\r\n");
    let status = lines.next().unwrap_or_default();
    let code = status.split(' ').nth(1).unwrap_or_default();
    match code {
        "200" => {}
        c if c.starts_with('3') => {
            return Err(format!(
                "HTTP {}: a redirect, not followed (RFC 8461)",
                status_text(status)
            ));
        }
        _ => return Err(format!("HTTP {}", status_text(status))),
    }
    let header = |name: &str| {
        head.split("\r\n").skip(1).find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_string())
        })
    };
    let kind = header("content-type").unwrap_or_default();
    let media = kind.split(';').next().unwrap_or_default().trim();
    if !media.eq_ignore_ascii_case("text/plain") {
        return Err(format!("Content-Type {kind:?}, not text/plain"));
    }
    let chunked = header("transfer-encoding").is_some_and(|t| t.eq_ignore_ascii_case("chunked"));
    let body = if chunked {
        dechunk(body)?
    } else {
        body.to_vec()
    };
    if body.len() > SIZE_LIMIT {
        return Err(format!(
            "the policy is larger than {} KiB",
            SIZE_LIMIT / 1024
        ));
    }
    if let Some(len) = header("content-length").and_then(|l| l.parse::<usize>().ok())
        && !chunked
        && len != body.len()
    {
        return Err(format!(
            "the answer ended after {} of {len} bytes",
            body.len()
        ));
    }
    String::from_utf8(body).map_err(|_| "the policy is not UTF-8 text".to_string())
}

/// `301 Moved Permanently` from `HTTP/1.1 301 Moved Permanently`.
fn status_text(status: &str) -> &str {
    status.split_once(' ').map_or(status, |(_, rest)| rest)
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// A chunked body (RFC 9112 §7.1) put together.
fn dechunk(mut body: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    loop {
        let eol = find(body, b"\r\n").ok_or("a chunk has no size line")?;
        let size_text = String::from_utf8_lossy(&body[..eol]);
        let size_text = size_text.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_text, 16).map_err(|_| "a bad chunk size")?;
        body = &body[eol + 2..];
        if size == 0 {
            return Ok(out);
        }
        if body.len() < size + 2 || out.len() + size > SIZE_LIMIT {
            return Err("a chunk is cut short or too large".into());
        }
        out.extend_from_slice(&body[..size]);
        body = &body[size + 2..];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn responses() {
        let policy = "version: STSv1\r\nmode: enforce\r\nmx: mx.a.test\r\nmax_age: 60\r\n";
        let ok = |raw: String| response(raw.as_bytes());
        let big = "x".repeat(SIZE_LIMIT + 1);
        let cases: Vec<(String, Result<String, String>)> = vec![
            (
                format!("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n{policy}", policy.len()),
                Ok(policy.into()),
            ),
            (
                format!("HTTP/1.0 200 OK\r\ncontent-type: Text/Plain; charset=utf-8\r\n\r\n{policy}"),
                Ok(policy.into()),
            ),
            (
                "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n".into(),
                Ok("hello world".into()),
            ),
            (
                "HTTP/1.1 301 Moved Permanently\r\nLocation: https://elsewhere.test/\r\n\r\n".into(),
                Err("HTTP 301 Moved Permanently: a redirect, not followed (RFC 8461)".into()),
            ),
            ("HTTP/1.1 404 Not Found\r\n\r\n".into(), Err("HTTP 404 Not Found".into())),
            (
                format!("HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\r\n{policy}"),
                Err("Content-Type \"text/html\", not text/plain".into()),
            ),
            (
                format!("HTTP/1.1 200 OK\r\n\r\n{policy}"),
                Err("Content-Type \"\", not text/plain".into()),
            ),
            (
                format!("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n{big}"),
                Err("the policy is larger than 64 KiB".into()),
            ),
            (
                "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 100\r\n\r\nshort".into(),
                Err("the answer ended after 5 of 100 bytes".into()),
            ),
            ("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n".into(), Err("the answer has no end of headers".into())),
        ];
        for (raw, want) in cases {
            assert_eq!(ok(raw.clone()), want, "{raw:?}");
        }
    }
}
