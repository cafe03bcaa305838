//! Who may write the spool: the running server holds an exclusive lock on `spool/.lock` for
//! its whole life; a command acting on a stopped server's spool takes the same lock. Beside
//! it, `spool/.status` (mode 0600) tells commands where the running server's API is and the
//! per-process token its actions need.

use std::fs::{self, File, OpenOptions, TryLockError};
use std::io::{self, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

const LOCK: &str = ".lock";
const STATUS: &str = ".status";

/// An exclusive lock on a spool, released when dropped (or when the process ends).
#[derive(Debug)]
pub struct SpoolLock {
    file: File,
}

/// Who holds a spool's lock, as the holder wrote it in the lock file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Holder {
    /// A running server (it holds the lock for its whole life).
    Server(u32),
    /// A command acting on a stopped server's spool (for a moment).
    Command(u32),
}

impl SpoolLock {
    /// Writes who holds the lock into the lock file, for whoever finds it taken.
    pub fn claim(&mut self, server: bool) -> io::Result<()> {
        let role = if server { "server" } else { "command" };
        self.file.set_len(0)?;
        use std::io::Seek;
        self.file.seek(io::SeekFrom::Start(0))?;
        writeln!(self.file, "{} {role}", std::process::id())
    }
}

/// Who holds the lock of `spool_dir`, when the holder said (see `SpoolLock::claim`).
pub fn holder(spool_dir: &Path) -> Option<Holder> {
    let text = fs::read_to_string(spool_dir.join(LOCK)).ok()?;
    let (pid, role) = text.trim().split_once(' ')?;
    let pid = pid.parse().ok()?;
    match role {
        "server" => Some(Holder::Server(pid)),
        "command" => Some(Holder::Command(pid)),
        _ => None,
    }
}

/// Takes the spool's lock without waiting: `Ok(None)` when someone else holds it.
pub fn try_lock(spool_dir: &Path) -> io::Result<Option<SpoolLock>> {
    fs::create_dir_all(spool_dir)?;
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(spool_dir.join(LOCK))?;
    match file.try_lock() {
        Ok(()) => Ok(Some(SpoolLock { file })),
        Err(TryLockError::WouldBlock) => Ok(None),
        Err(TryLockError::Error(e)) => Err(e),
    }
}

/// The running server's API: its address and the token for actions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusFile {
    pub addr: SocketAddr,
    pub token: String,
}

pub fn status_path(spool_dir: &Path) -> PathBuf {
    spool_dir.join(STATUS)
}

impl StatusFile {
    /// `addr\ntoken\n`, readable by the owner only.
    pub fn write(&self, spool_dir: &Path) -> io::Result<()> {
        let path = status_path(spool_dir);
        let tmp = spool_dir.join(".status.tmp");
        let _ = fs::remove_file(&tmp);
        let mut options = OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut f = options.open(&tmp)?;
        writeln!(f, "{}\n{}", self.addr, self.token)?;
        f.sync_all()?;
        fs::rename(&tmp, path)
    }

    pub fn read(spool_dir: &Path) -> Option<StatusFile> {
        let text = fs::read_to_string(status_path(spool_dir)).ok()?;
        let mut lines = text.lines();
        let addr = lines.next()?.trim().parse().ok()?;
        let token = lines.next()?.trim().to_string();
        (!token.is_empty()).then_some(StatusFile { addr, token })
    }

    pub fn remove(spool_dir: &Path) {
        let _ = fs::remove_file(status_path(spool_dir));
    }
}

/// 32 random hex digits from the system's random source (`/dev/urandom`), or from std's
/// randomly seeded hasher where there is none.
pub fn random_token() -> String {
    let mut bytes = [0u8; 16];
    let read =
        File::open("/dev/urandom").and_then(|mut f| io::Read::read_exact(&mut f, &mut bytes));
    if read.is_err() {
        use std::hash::{BuildHasher, Hasher};
        for chunk in bytes.chunks_mut(8) {
            let mut h = std::collections::hash_map::RandomState::new().build_hasher();
            h.write_u128(
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_nanos()),
            );
            chunk.copy_from_slice(&h.finish().to_le_bytes()[..chunk.len()]);
        }
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lock_is_exclusive_and_the_status_file_round_trips() {
        let dir = std::env::temp_dir().join(format!("qksmtp-lock-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let first = try_lock(&dir).unwrap();
        assert!(first.is_some());
        assert!(try_lock(&dir).unwrap().is_none(), "held by the first");
        let mut first = first.unwrap();
        first.claim(true).unwrap();
        assert_eq!(holder(&dir), Some(Holder::Server(std::process::id())));
        first.claim(false).unwrap();
        assert_eq!(holder(&dir), Some(Holder::Command(std::process::id())));
        drop(first);
        assert!(try_lock(&dir).unwrap().is_some());
        let status = StatusFile {
            addr: "127.0.0.1:8025".parse().unwrap(),
            token: random_token(),
        };
        assert_eq!(status.token.len(), 32);
        assert_ne!(status.token, random_token());
        status.write(&dir).unwrap();
        assert_eq!(StatusFile::read(&dir), Some(status));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(status_path(&dir))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        StatusFile::remove(&dir);
        assert_eq!(StatusFile::read(&dir), None);
        let _ = fs::remove_dir_all(&dir);
    }
}
