//! A second server on the same spool is told at once that another qksmtp, with its PID,
//! holds the spool (it used to wait five seconds in silence first).

mod common;

use common::*;
use std::process::{Command, Stdio};

#[test]
fn a_second_server_on_the_same_spool_names_the_first_one_at_once() {
    let first = Server::start("second-instance", &base_ini("", ""));
    let out = Command::new(BIN)
        .arg("--config")
        .arg(first.dir.path().join("qksmtp.ini"))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    let pid = first.child.id();
    assert!(
        err.contains(&format!("in use by another qksmtp (PID {pid})")),
        "{err}"
    );
    // The first one goes on.
    let mut c = first.connect();
    assert!(c.hello().starts_with("250"));
}
