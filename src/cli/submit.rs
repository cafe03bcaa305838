//! `qksmtp send` for a user who cannot write the spool: the message goes to the running
//! server through its local socket (`server::local`, `submit.sock` in the spool folder), in
//! one pipelined SMTP exchange (MAIL, RCPT..., `BDAT n LAST` with the message, QUIT). The
//! server knows the user from the system and records it. `sendmail -bs` for such a user
//! (`relay_session`): its standard input and output joined to a session on the socket.

use crate::cli::sendmail::input::Input;
use crate::cli::sendmail::{EX_DATAERR, EX_TEMPFAIL};
use crate::intake::Submission;
use crate::intake::content::IN_MEMORY;
use crate::smtp::command::Command;
use crate::smtp::reply::Reply;
use crate::smtp::reply_parser::ReplyParser;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;

/// Whether this user may not write the spool folder `dir` (it exists, and the system says
/// no): its submissions then go through the server.
pub fn cannot_write(dir: &Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let Ok(path) = std::ffi::CString::new(dir.as_os_str().as_bytes()) else {
        return false;
    };
    // SAFETY: `path` is a NUL-terminated string that outlives the call.
    let rc = unsafe { libc::access(path.as_ptr(), libc::W_OK) };
    rc != 0
        && matches!(
            std::io::Error::last_os_error().raw_os_error(),
            Some(libc::EACCES | libc::EROFS | libc::EPERM)
        )
}

/// `sendmail -bs` by a user who cannot write the spool `dir`: standard input goes to a
/// session on the server's socket and its replies to standard output, until the server
/// closes it. Without a server, one line and EX_TEMPFAIL. The exit code.
pub fn relay_session(dir: &Path) -> u8 {
    let path = crate::server::local::socket_path(dir);
    let stream = match UnixStream::connect(&path) {
        Ok(s) => s,
        Err(e) => {
            eprintln!(
                "sendmail -bs: this user cannot write the spool {} and no qksmtp server answers on {} ({e}); start the server, then try again",
                dir.display(),
                path.display()
            );
            return EX_TEMPFAIL;
        }
    };
    let (mut to_server, mut from_server) = match (stream.try_clone(), stream.try_clone()) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("sendmail -bs: {e}");
            return EX_TEMPFAIL;
        }
    };
    // The input may end before the session does (the server still answers what it read).
    let _ = std::thread::Builder::new()
        .name("stdin".into())
        .spawn(move || {
            let _ = std::io::copy(&mut std::io::stdin().lock(), &mut to_server);
            let _ = to_server.shutdown(std::net::Shutdown::Write);
        });
    match std::io::copy(&mut from_server, &mut std::io::stdout().lock()) {
        Ok(_) => 0,
        Err(e) => {
            eprintln!("sendmail -bs: the server went away: {e}");
            EX_TEMPFAIL
        }
    }
}

/// Hands the message to the server on the spool `dir`: its start `first` (with the header
/// block), then what is left of `input`, in `BDAT` chunks of at most about `IN_MEMORY` bytes
/// as they are read. The queue ID it gave, or the exit code (sysexits) and the one line to
/// print.
pub fn through_server<R: Read>(
    dir: &Path,
    sub: &Submission,
    first: &[u8],
    input: &mut Input<R>,
) -> Result<String, (u8, String)> {
    let path = crate::server::local::socket_path(dir);
    let mut stream = UnixStream::connect(&path).map_err(|e| {
        (
            EX_TEMPFAIL,
            format!(
                "this user cannot write the spool {} and no qksmtp server answers on {} ({e}); start the server, then try again",
                dir.display(),
                path.display()
            ),
        )
    })?;
    let broken = |e: std::io::Error| (EX_TEMPFAIL, format!("the server went away: {e}"));
    // Pipelined: the envelope, every chunk, QUIT; the replies are read at the end (a few
    // dozen bytes each, they wait in the socket's buffer).
    stream.write_all(envelope(sub).as_bytes()).map_err(broken)?;
    let mut chunk = first.to_vec();
    let mut chunks = 0;
    loop {
        while !input.done && chunk.len() < IN_MEMORY {
            input.next(&mut chunk)?;
        }
        let last = input.done;
        let size = chunk.len() as u64;
        let bdat = Command::Bdat { size, last }.line();
        stream.write_all(bdat.as_bytes()).map_err(broken)?;
        stream.write_all(&chunk).map_err(broken)?;
        chunks += 1;
        chunk.clear();
        if last {
            break;
        }
    }
    stream
        .write_all(Command::Quit.line().as_bytes())
        .map_err(broken)?;
    let mut replies = Replies {
        stream,
        parser: ReplyParser::new(),
    };
    // Greeting, EHLO, MAIL, each RCPT, each BDAT; QUIT's answer is not waited for.
    let expected = 3 + sub.recipients.len() + chunks;
    let mut last = None;
    for _ in 0..expected {
        let reply = replies.next().map_err(broken)?;
        if !(200..300).contains(&reply.code) {
            let code = if reply.code >= 500 {
                EX_DATAERR
            } else {
                EX_TEMPFAIL
            };
            return Err((code, format!("the server refused: {}", reply.one_line())));
        }
        last = Some(reply);
    }
    let last = last.map(|r| r.one_line()).unwrap_or_default();
    Ok(last.rsplit(' ').next().unwrap_or_default().to_string())
}

/// The envelope's commands as the client writes them, in one piece (the server offers
/// PIPELINING).
fn envelope(sub: &Submission) -> String {
    let mut wire = Command::Ehlo("localhost".into()).line();
    wire.push_str(
        &Command::Mail {
            from: sub.sender.clone(),
            params: sub.params.clone(),
        }
        .line(),
    );
    for r in &sub.recipients {
        let to = Command::Rcpt {
            to: r.address.clone(),
            params: Default::default(),
        };
        wire.push_str(&to.line());
    }
    wire
}

/// The replies read from the socket, one at a time.
struct Replies {
    stream: UnixStream,
    parser: ReplyParser,
}

impl Replies {
    fn next(&mut self) -> std::io::Result<Reply> {
        loop {
            match self.parser.next_reply() {
                Ok(Some(reply)) => return Ok(reply),
                Ok(None) => {}
                Err(e) => return Err(std::io::Error::other(e.to_string())),
            }
            let mut buf = [0u8; 4096];
            match self.stream.read(&mut buf)? {
                0 => return Err(std::io::ErrorKind::UnexpectedEof.into()),
                n => self.parser.feed(&buf[..n]),
            }
        }
    }
}
