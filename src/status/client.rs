//! The CLI's side of the API: one HTTP/1.1 request to the running server (loopback), with
//! the token from `spool/.status`.

use super::route::TOKEN_HEADER;
use crate::spool::lock::StatusFile;
use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(15);

/// Sends `METHOD path`; returns the status code and the body.
pub fn call(status: &StatusFile, method: &str, path: &str) -> io::Result<(u16, String)> {
    let mut stream = TcpStream::connect_timeout(&status.addr, Duration::from_secs(3))?;
    stream.set_read_timeout(Some(TIMEOUT))?;
    stream.set_write_timeout(Some(TIMEOUT))?;
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {}\r\n{TOKEN_HEADER}: {}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        status.addr, status.token
    );
    stream.write_all(request.as_bytes())?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    let text = String::from_utf8_lossy(&raw);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| io::Error::other("incomplete HTTP answer"))?;
    let code = head
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| io::Error::other("bad HTTP status line"))?;
    Ok((code, body.to_string()))
}

/// The `"error"` of a JSON refusal, or the body as it is.
pub fn error_text(body: &str) -> String {
    body.split_once("\"error\":\"")
        .and_then(|(_, rest)| rest.split_once('"'))
        .map_or_else(|| body.trim().to_string(), |(e, _)| e.to_string())
}
