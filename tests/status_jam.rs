//! The status page cannot be jammed: addresses `status_allow` does not name are refused at
//! once without holding a place, and one address cannot take every place with slow requests.

mod common;

use common::*;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// A connection to `addr` from the loopback address `source`.
fn connect_from(source: &str, addr: SocketAddr) -> TcpStream {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    let local: SocketAddr = format!("{source}:0").parse().unwrap();
    socket.bind(&local.into()).unwrap();
    socket.connect(&addr.into()).unwrap();
    let stream: TcpStream = socket.into();
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    stream
}

fn status_code(stream: &mut TcpStream) -> u16 {
    let mut raw = String::new();
    let _ = stream.read_to_string(&mut raw);
    let code = raw.split(' ').nth(1).unwrap_or("0");
    code.parse().unwrap_or(0)
}

#[test]
fn slow_and_refused_clients_leave_the_page_to_everyone_else() {
    let ini = status_ini("").replace(
        "status_listen = 127.0.0.1:0\n",
        "status_listen = 127.0.0.1:0\nstatus_allow = 127.0.0.1/32, 127.0.0.3/32\n",
    );
    let server = Server::start("status-jam", &ini);
    let page = server.status_addr.expect("status page on");
    // 40 connections from an address the page refuses: each is answered 403 and closed at
    // once, though none of them sends a byte.
    let mut refused: Vec<TcpStream> = (0..40).map(|_| connect_from("127.0.0.2", page)).collect();
    for stream in &mut refused {
        assert_eq!(status_code(stream), 403);
    }
    // One allowed address opening 40 connections with requests it never finishes: it gets
    // its 8 places; every other connection is answered 503 at once.
    let slow: Vec<TcpStream> = (0..40)
        .map(|_| {
            let mut s = connect_from("127.0.0.3", page);
            s.write_all(b"GET / HT").unwrap();
            s.set_nonblocking(true).unwrap();
            s
        })
        .collect();
    let answered = |s: &TcpStream| s.peek(&mut [0u8; 1]).is_ok_and(|n| n > 0);
    wait_until(
        || slow.iter().filter(|s| answered(s)).count() == 32,
        "32 of 40 slow connections turned away",
    );
    for s in slow.iter().filter(|s| answered(s)) {
        let mut head = [0u8; 12];
        s.set_nonblocking(false).unwrap();
        (&mut &*s).read_exact(&mut head).unwrap();
        assert_eq!(&head, b"HTTP/1.1 503");
    }
    // Meanwhile the page answers another allowed address at once.
    let (code, body) = http(page, "GET", "/api/status", &[]);
    assert_eq!(code, 200, "{body}");
    drop(slow);
}
