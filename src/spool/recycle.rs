//! Spool files kept for reuse: a finished message's files are renamed to `.recycle-PID-µs-N`
//! instead of being deleted, and the next commit renames one to its `.tmp` name and writes
//! into it. Creating and deleting two files per message made the file system allocate and
//! free two inodes per message; on ext4 without a journal the inode allocator then skips
//! every inode freed in the last seconds to minutes, so its cost grew with the message rate
//! (17 % of the relay's CPU in a `perf` profile of 2,000 messages).
//!
//! A file is parked as it is, with its blocks ("used"). Under load the next commit writes over
//! them and cuts the file to its length: no block is freed or allocated per message (on a disk
//! mounted with `discard`, freeing meant two discard requests per message, a quarter of the
//! relay's CPU under load). When intake has been quiet for a moment (`QUIET`), a janitor
//! thread empties the used files ("empty"): a delivered message's bytes do not stay on disk
//! in a parked file, and at a light load each message is written into fresh blocks, which the
//! disks measured here (virtual, thin) take faster than an overwrite. The policy is `plan`,
//! a pure function of the parked files and the time.
//!
//! A parked file has no message ID in its name, so every reader of the spool ignores it; the
//! start-up scan removes them.

use std::collections::VecDeque;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, Once};
use std::time::{Duration, Instant};

/// Parked files are named `.recycle-PID-µs-N` (see `own_prefix`).
pub const PREFIX: &str = ".recycle-";
/// At most this many files are parked; more are deleted. Enough for a backlog of a couple
/// of thousand messages delivered in a burst (8 bytes each in memory).
const MAX_PARKED: usize = 4096;
/// Used files are emptied once no file has been taken for this long.
pub const QUIET: Duration = Duration::from_millis(20);

/// What `take` found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Taken {
    /// Nothing parked (or no way to move one without replacing): create the file.
    Nothing,
    /// An empty file is now at the path.
    Empty,
    /// A used file is now at the path: write over it, then cut it to length.
    Used,
}

/// The parked files by number `N`, and when intake last took one.
#[derive(Debug, Default)]
struct Parked {
    /// Emptied by the janitor.
    empty: Vec<u64>,
    /// As they were parked, oldest first.
    used: VecDeque<u64>,
    last_take: Option<Instant>,
    /// The recycler is gone: the janitor ends.
    closed: bool,
}

impl Parked {
    fn len(&self) -> usize {
        self.empty.len() + self.used.len()
    }
}

/// The janitor's next step.
#[derive(Debug, PartialEq, Eq)]
enum Plan {
    Stop,
    /// Sleep until woken, or at most this long.
    Wait(Option<Duration>),
    /// Empty the oldest used file.
    EmptyOne,
}

/// Decides the janitor's next step: nothing to do, wait for intake to be quiet, or empty a
/// used file.
fn plan(parked: &Parked, now: Instant, quiet: Duration) -> Plan {
    if parked.closed {
        return Plan::Stop;
    }
    if parked.used.is_empty() {
        return Plan::Wait(None);
    }
    let since = parked
        .last_take
        .map_or(quiet, |t| now.saturating_duration_since(t));
    match quiet.checked_sub(since) {
        Some(left) if !left.is_zero() => Plan::Wait(Some(left)),
        _ => Plan::EmptyOne,
    }
}

/// What the recycler and its janitor thread share.
struct Shared {
    dir: PathBuf,
    /// Keeps the names of two recyclers on one spool apart (two processes, or two runs of
    /// a server that got the same process ID): `.recycle-PID-µs-`.
    own: String,
    parked: Mutex<Parked>,
    /// Wakes the janitor: a file was parked, or the recycler is gone.
    wake: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Parked> {
        self.parked.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn path(&self, n: u64) -> PathBuf {
        self.dir.join(format!("{}{n}", self.own))
    }
}

/// This recycler's names: the prefix, the process ID and the time it was made.
fn own_prefix() -> String {
    let micros = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros());
    format!("{PREFIX}{}-{micros}-", std::process::id())
}

pub struct Recycler {
    shared: Arc<Shared>,
    next: AtomicU64,
    /// `None`: used files stay as they are (no janitor).
    quiet: Option<Duration>,
    janitor: Once,
}

impl Recycler {
    pub fn new(dir: &Path) -> Recycler {
        Recycler::with_quiet(dir, Some(QUIET))
    }

    /// A recycler whose janitor empties used files after `quiet` (never with `None`).
    pub fn with_quiet(dir: &Path, quiet: Option<Duration>) -> Recycler {
        Recycler {
            shared: Arc::new(Shared {
                dir: dir.to_path_buf(),
                own: own_prefix(),
                parked: Mutex::new(Parked::default()),
                wake: Condvar::new(),
            }),
            next: AtomicU64::new(0),
            quiet,
            janitor: Once::new(),
        }
    }

    /// Parks `path` for reuse (deletes it when enough are parked). Errors are those of
    /// removing it: `NotFound` when there is no such file.
    /// What the names of the files this recycler parks start with (no other's do).
    pub fn own_prefix(&self) -> &str {
        &self.shared.own
    }

    pub fn park(&self, path: &Path) -> io::Result<()> {
        if self.shared.lock().len() >= MAX_PARKED {
            return fs::remove_file(path);
        }
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        match fs::rename(path, self.shared.path(n)) {
            Ok(()) => {
                self.shared.lock().used.push_back(n);
                self.start_janitor();
                self.shared.wake.notify_one();
                Ok(())
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => Err(e),
            Err(_) => fs::remove_file(path),
        }
    }

    /// Moves a parked file to `path` if there is one and `path` does not exist, an empty one
    /// first. `AlreadyExists` (and the parked file kept) when `path` exists.
    pub fn take(&self, path: &Path) -> io::Result<Taken> {
        let (n, taken) = {
            let mut parked = self.shared.lock();
            parked.last_take = Some(Instant::now());
            match parked.empty.pop() {
                Some(n) => (n, Taken::Empty),
                None => match parked.used.pop_back() {
                    Some(n) => (n, Taken::Used),
                    None => return Ok(Taken::Nothing),
                },
            }
        };
        let parked = self.shared.path(n);
        match rename_no_replace(&parked, path) {
            Ok(()) => Ok(taken),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                let mut back = self.shared.lock();
                match taken {
                    Taken::Empty => back.empty.push(n),
                    _ => back.used.push_back(n),
                }
                Err(e)
            }
            Err(_) => {
                let _ = fs::remove_file(&parked);
                Ok(Taken::Nothing)
            }
        }
    }

    /// Starts the janitor thread at the first park (a spool opened only to be read never
    /// parks, and never starts one). Without a thread, used files stay as they are.
    fn start_janitor(&self) {
        let Some(quiet) = self.quiet else { return };
        self.janitor.call_once(|| {
            let shared = self.shared.clone();
            let _ = std::thread::Builder::new()
                .name("spool-janitor".into())
                .spawn(move || janitor(&shared, quiet));
        });
    }
}

impl Drop for Recycler {
    fn drop(&mut self) {
        self.shared.lock().closed = true;
        self.shared.wake.notify_all();
    }
}

/// Empties used files whenever intake has been quiet for `quiet`, until the recycler is gone.
fn janitor(shared: &Shared, quiet: Duration) {
    let mut parked = shared.lock();
    loop {
        parked = match plan(&parked, Instant::now(), quiet) {
            Plan::Stop => return,
            Plan::Wait(None) => shared.wake.wait(parked).unwrap_or_else(|p| p.into_inner()),
            Plan::Wait(Some(d)) => {
                let waited = shared.wake.wait_timeout(parked, d);
                waited.unwrap_or_else(|p| p.into_inner()).0
            }
            Plan::EmptyOne => {
                let Some(n) = parked.used.pop_front() else {
                    continue;
                };
                drop(parked);
                let path = shared.path(n);
                let emptied = empty(&path).is_ok();
                let mut parked = shared.lock();
                if emptied {
                    parked.empty.push(n);
                } else {
                    let _ = fs::remove_file(&path);
                }
                parked
            }
        };
    }
}

/// Truncates the file at `path` to nothing.
fn empty(path: &Path) -> io::Result<()> {
    fs::OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(path)
        .map(drop)
}

/// `rename` that fails with `AlreadyExists` instead of replacing `to` (Linux `renameat2`
/// with `RENAME_NOREPLACE`); `Unsupported` elsewhere.
fn rename_no_replace(from: &Path, to: &Path) -> io::Result<()> {
    #[cfg(target_os = "linux")]
    {
        use std::ffi::CString;
        use std::os::unix::ffi::OsStrExt;
        let from = CString::new(from.as_os_str().as_bytes())?;
        let to = CString::new(to.as_os_str().as_bytes())?;
        // SAFETY: both are valid NUL-terminated paths that outlive the call.
        let r = unsafe {
            libc::renameat2(
                libc::AT_FDCWD,
                from.as_ptr(),
                libc::AT_FDCWD,
                to.as_ptr(),
                libc::RENAME_NOREPLACE,
            )
        };
        if r == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = (from, to);
        Err(io::ErrorKind::Unsupported.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("qksmtp-recycle-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn the_janitor_waits_for_quiet_then_empties_the_oldest() {
        let quiet = Duration::from_millis(20);
        let t0 = Instant::now();
        let ms = |n| t0 + Duration::from_millis(n);
        let parked = |used: &[u64], last_take: Option<Instant>, closed| Parked {
            empty: vec![7],
            used: used.iter().copied().collect(),
            last_take,
            closed,
        };
        let cases = [
            (parked(&[], None, false), ms(0), Plan::Wait(None)),
            (parked(&[1, 2], None, false), ms(0), Plan::EmptyOne),
            (
                parked(&[1], Some(ms(10)), false),
                ms(15),
                Plan::Wait(Some(Duration::from_millis(15))),
            ),
            (parked(&[1], Some(ms(10)), false), ms(30), Plan::EmptyOne),
            (parked(&[1], Some(ms(10)), false), ms(31), Plan::EmptyOne),
            // A clock that went back: still waits, and for no longer than `quiet`.
            (
                parked(&[1], Some(ms(10)), false),
                ms(5),
                Plan::Wait(Some(quiet)),
            ),
            (parked(&[1], None, true), ms(0), Plan::Stop),
            (parked(&[], None, true), ms(0), Plan::Stop),
        ];
        for (parked, now, want) in cases {
            assert_eq!(plan(&parked, now, quiet), want, "{parked:?}");
        }
    }

    #[test]
    fn a_parked_file_is_hidden_and_taken_once() {
        let dir = temp_dir("park");
        let r = Recycler::with_quiet(&dir, None);
        let old = dir.join("A.msg");
        fs::write(&old, b"secret").unwrap();
        r.park(&old).unwrap();
        assert!(!old.exists());
        assert_eq!(r.park(&old).unwrap_err().kind(), io::ErrorKind::NotFound);
        let parked = names(&dir);
        assert_eq!(parked.len(), 1);
        assert!(parked[0].starts_with(PREFIX), "{parked:?}");
        let new = dir.join("B.msg.tmp");
        assert_eq!(r.take(&new).unwrap(), Taken::Used);
        assert_eq!(
            fs::read(&new).unwrap(),
            b"secret",
            "the caller writes over it"
        );
        assert_eq!(r.take(&dir.join("C.msg.tmp")).unwrap(), Taken::Nothing);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn take_never_replaces_an_existing_file() {
        let dir = temp_dir("noreplace");
        let r = Recycler::with_quiet(&dir, None);
        let old = dir.join("A.msg");
        fs::write(&old, b"x").unwrap();
        r.park(&old).unwrap();
        let busy = dir.join("B.msg.tmp");
        fs::write(&busy, b"someone else's").unwrap();
        assert_eq!(
            r.take(&busy).unwrap_err().kind(),
            io::ErrorKind::AlreadyExists
        );
        assert_eq!(fs::read(&busy).unwrap(), b"someone else's");
        assert_eq!(
            r.take(&dir.join("C.msg.tmp")).unwrap(),
            Taken::Used,
            "still parked"
        );
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn quiet_intake_gets_used_files_emptied_and_taken_first() {
        let dir = temp_dir("janitor");
        let r = Recycler::with_quiet(&dir, Some(Duration::from_millis(1)));
        for name in ["A.msg", "A.env.tmp"] {
            fs::write(dir.join(name), b"a delivered message").unwrap();
            r.park(&dir.join(name)).unwrap();
        }
        // Wait (for the janitor thread) until both parked files are empty.
        let deadline = Instant::now() + Duration::from_secs(10);
        while names(&dir)
            .iter()
            .any(|n| fs::metadata(dir.join(n)).unwrap().len() > 0)
        {
            assert!(Instant::now() < deadline, "still not emptied");
            std::thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(r.take(&dir.join("B.msg.tmp")).unwrap(), Taken::Empty);
        assert_eq!(fs::read(dir.join("B.msg.tmp")).unwrap(), b"");
        drop(r);
        fs::remove_dir_all(&dir).unwrap();
    }
}
