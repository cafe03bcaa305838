//! The local submission socket: `submit.sock` in the spool folder, open to every user of this
//! computer, so that `qksmtp send` works for users who cannot write the spool. The server
//! learns who is at the other end from the system (`SO_PEERCRED`: it cannot be forged) and
//! the intake writes it into the Received header and the envelope. One thread accepts; each
//! connection is an SMTP session (`session::run_local`) on a thread of its own, with a seat in
//! the session registry like a network one (limits, stop, count). Linux only
//! (elsewhere there is no socket and `send` needs a writable spool).

use super::Context;
use super::registry::{Limits, Origin};
use super::session;
use super::tls::Pipe;
use crate::smtp::reply::Reply;
use crate::spool::envelope::LocalUser;
use log::{debug, info, warn};
use std::io;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
#[cfg(target_os = "linux")]
use std::os::unix::io::AsRawFd;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::thread::JoinHandle;

/// The socket's file name in the spool folder.
pub const SOCKET_NAME: &str = "submit.sock";

/// Where the socket of the spool `dir` is.
pub fn socket_path(dir: &Path) -> PathBuf {
    dir.join(SOCKET_NAME)
}

/// The listening socket and its accepting thread.
pub struct LocalSocket {
    path: PathBuf,
    acceptor: JoinHandle<()>,
}

impl LocalSocket {
    /// Binds `submit.sock` in the spool folder (replacing one left by a server that did not
    /// stop cleanly: the caller holds the spool's lock), open to all, and starts accepting.
    pub fn start(ctx: Arc<Context>, dir: &Path) -> io::Result<LocalSocket> {
        let path = socket_path(dir);
        match std::fs::remove_file(&path) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
        let listener = UnixListener::bind(&path)?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o666))?;
        let acceptor = std::thread::Builder::new()
            .name("local-accept".into())
            .spawn(move || accept(listener, ctx))?;
        Ok(LocalSocket { path, acceptor })
    }

    /// Stops accepting (the server's `stopping` flag is set) and removes the socket.
    /// Sessions under way finish on their own threads.
    pub fn stop(self) {
        // Wakes the blocked accept, which then sees the flag.
        let _ = UnixStream::connect(&self.path);
        let _ = self.acceptor.join();
        let _ = std::fs::remove_file(&self.path);
    }
}

fn accept(listener: UnixListener, ctx: Arc<Context>) {
    for stream in listener.incoming() {
        if ctx.stopping.load(Ordering::SeqCst) {
            return;
        }
        let stream = match stream {
            Ok(s) => s,
            Err(e) => {
                warn!("{SOCKET_NAME}: accept failed: {e}");
                continue;
            }
        };
        let ctx = ctx.clone();
        let spawned = std::thread::Builder::new()
            .name("local-session".into())
            .spawn(move || serve(stream, &ctx));
        if let Err(e) = spawned {
            warn!("{SOCKET_NAME}: cannot start a session: {e}");
        }
    }
}

/// One local session, as the user the system says is at the other end.
fn serve(stream: UnixStream, ctx: &Context) {
    let user = match peer_user(&stream) {
        Ok(user) => user,
        Err(e) => {
            warn!("{SOCKET_NAME}: cannot tell who connected ({e}); refused");
            return;
        }
    };
    let config = ctx.config.get();
    let window = Some(config.server.idle_timeout);
    let (input, handle) = match (stream.try_clone(), stream.try_clone()) {
        (Ok(input), Ok(handle)) => (input, handle),
        (Err(e), _) | (_, Err(e)) => {
            warn!("{SOCKET_NAME}: {e}");
            return;
        }
    };
    let limits = Limits {
        total: config.server.max_sessions,
        per_ip: config.server.max_sessions_per_ip,
    };
    // In the registry like a network session: the limits count it, a stop ends it.
    let seat = match ctx.registry.enter(Origin::User(user.uid), handle, limits) {
        Ok(seat) => seat,
        Err(refusal) => {
            info!("local session for {user} refused: {refusal:?}");
            let mut stream = stream;
            let _ = stream.set_write_timeout(Some(std::time::Duration::from_secs(2)));
            let _ = stream.write_all(&Reply::too_many_sessions().to_wire());
            return;
        }
    };
    let _ = stream.set_read_timeout(window);
    let _ = stream.set_write_timeout(window);
    info!("local session for {user}");
    let pipe = Pipe {
        input: Box::new(input),
        output: Box::new(stream),
    };
    session::run_local(
        config,
        &ctx.intake,
        pipe,
        Some(user),
        Some((&seat, &ctx.stopping)),
    );
    debug!("local session ended");
}

/// The user at the other end of `stream`: its user ID from the system, its name from the
/// user database when it has one.
#[cfg(target_os = "linux")]
fn peer_user(stream: &UnixStream) -> io::Result<LocalUser> {
    let mut cred = libc::ucred {
        pid: 0,
        uid: 0,
        gid: 0,
    };
    let mut len = std::mem::size_of::<libc::ucred>() as libc::socklen_t;
    // SAFETY: `cred` and `len` are valid for writes and `len` is `cred`'s size.
    let rc = unsafe {
        libc::getsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_PEERCRED,
            (&mut cred as *mut libc::ucred).cast(),
            &mut len,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(LocalUser {
        uid: cred.uid,
        name: user_name(cred.uid),
    })
}

#[cfg(not(target_os = "linux"))]
fn peer_user(_stream: &UnixStream) -> io::Result<LocalUser> {
    Err(io::Error::other("peer credentials are read on Linux only"))
}

/// The account name of `uid`, if the user database has one.
#[cfg(target_os = "linux")]
fn user_name(uid: u32) -> Option<String> {
    let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
    let mut buf = vec![0 as libc::c_char; 4096];
    let mut found: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: every pointer is valid for the call; `buf` outlives the use of `pwd`'s fields.
    let rc = unsafe { libc::getpwuid_r(uid, &mut pwd, buf.as_mut_ptr(), buf.len(), &mut found) };
    if rc != 0 || found.is_null() || pwd.pw_name.is_null() {
        return None;
    }
    // SAFETY: `pw_name` points to a NUL-terminated string inside `buf`.
    let name = unsafe { std::ffi::CStr::from_ptr(pwd.pw_name) };
    Some(name.to_string_lossy().into_owned())
}
