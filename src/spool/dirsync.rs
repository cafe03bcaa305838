//! The spool directory's fsync, shared between threads (group commit): the directory stays
//! open, and a caller whose renames are done waits for the first fsync that *starts* after
//! it asked. While one fsync runs, everyone who arrives waits for the next one, which the
//! first of them runs for all. So N sessions committing at once cost about two directory
//! fsyncs, not N, and nobody is told "done" before an fsync covering their renames ended.
//! Where directories cannot be fsynced (Windows), `rename` writes each rename through instead.

use std::fs::File;
use std::io;
use std::path::Path;
use std::sync::{Condvar, Mutex, MutexGuard};

pub struct DirSync {
    /// `None` where directories cannot be fsynced (not Unix).
    dir: Option<File>,
    state: Mutex<Rounds>,
    done: Condvar,
}

/// The fsyncs so far, numbered from 1.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
struct Rounds {
    /// The last round started.
    started: u64,
    /// The last round finished (all rounds up to it have finished: one runs at a time).
    finished: u64,
    /// The last round that succeeded.
    succeeded: u64,
    /// The error of the last round that failed.
    error: Option<(io::ErrorKind, String)>,
}

/// What a caller that needs round `need` does next.
#[derive(Debug, PartialEq, Eq)]
enum Next {
    /// A round that covers it succeeded.
    Done,
    /// Every round that covers it so far failed.
    Failed,
    /// Run round `started + 1` (none is running).
    Run,
    /// Wait for the running round to finish.
    Wait,
}

impl Rounds {
    /// The first round that will cover changes made now.
    fn needed(&self) -> u64 {
        self.started + 1
    }

    fn next(&self, need: u64) -> Next {
        if self.succeeded >= need {
            Next::Done
        } else if self.finished >= need {
            Next::Failed
        } else if self.started == self.finished {
            Next::Run
        } else {
            Next::Wait
        }
    }
}

impl DirSync {
    pub fn open(dir: &Path) -> io::Result<DirSync> {
        #[cfg(unix)]
        let dir = Some(File::open(dir)?);
        #[cfg(not(unix))]
        let dir = {
            let _ = dir;
            None
        };
        Ok(DirSync {
            dir,
            state: Mutex::new(Rounds::default()),
            done: Condvar::new(),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Rounds> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Returns once a directory fsync that started after this call has succeeded (changes
    /// made in the directory before the call are durable), or with that fsync's error.
    pub fn sync(&self) -> io::Result<()> {
        let mut rounds = self.lock();
        let need = rounds.needed();
        loop {
            match rounds.next(need) {
                Next::Done => return Ok(()),
                Next::Failed => {
                    let (kind, text) = rounds
                        .error
                        .clone()
                        .unwrap_or((io::ErrorKind::Other, "directory fsync failed".to_string()));
                    return Err(io::Error::new(kind, text));
                }
                Next::Run => {
                    rounds.started += 1;
                    let round = rounds.started;
                    drop(rounds);
                    let result = match &self.dir {
                        Some(dir) => dir.sync_all(),
                        None => Ok(()),
                    };
                    rounds = self.lock();
                    rounds.finished = round;
                    match result {
                        Ok(()) => rounds.succeeded = round,
                        Err(e) => rounds.error = Some((e.kind(), e.to_string())),
                    }
                    self.done.notify_all();
                }
                Next::Wait => {
                    rounds = self.done.wait(rounds).unwrap_or_else(|p| p.into_inner());
                }
            }
        }
    }
}

/// Renames `from` to `to` (replacing it) for a commit: on Unix a plain rename, made durable by
/// the directory fsync above; on Windows, which cannot fsync a directory, a rename that does
/// not return before it is on disk (`MoveFileExW` with `MOVEFILE_WRITE_THROUGH`).
pub fn rename(from: &Path, to: &Path) -> io::Result<()> {
    #[cfg(windows)]
    {
        use std::os::windows::ffi::OsStrExt;
        const MOVEFILE_REPLACE_EXISTING: u32 = 0x1;
        const MOVEFILE_WRITE_THROUGH: u32 = 0x8;
        #[link(name = "kernel32")]
        unsafe extern "system" {
            fn MoveFileExW(from: *const u16, to: *const u16, flags: u32) -> i32;
        }
        let wide = |p: &Path| -> Vec<u16> { p.as_os_str().encode_wide().chain([0]).collect() };
        let (from, to) = (wide(from), wide(to));
        let flags = MOVEFILE_REPLACE_EXISTING | MOVEFILE_WRITE_THROUGH;
        // SAFETY: two NUL-terminated wide strings that outlive the call.
        if unsafe { MoveFileExW(from.as_ptr(), to.as_ptr(), flags) } == 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }
    #[cfg(not(windows))]
    {
        std::fs::rename(from, to)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rounds(started: u64, finished: u64, succeeded: u64) -> Rounds {
        Rounds {
            started,
            finished,
            succeeded,
            error: None,
        }
    }

    #[test]
    fn which_round_covers_a_caller() {
        // (rounds, need, next)
        let cases = [
            (rounds(0, 0, 0), 1, Next::Run),
            // A round started before the caller asked does not cover it: wait, then run.
            (rounds(1, 0, 0), 2, Next::Wait),
            (rounds(1, 1, 1), 2, Next::Run),
            (rounds(2, 1, 1), 2, Next::Wait),
            (rounds(2, 2, 2), 2, Next::Done),
            // A later round covers it too.
            (rounds(3, 3, 3), 2, Next::Done),
            (rounds(2, 2, 1), 2, Next::Failed),
            (rounds(3, 3, 1), 2, Next::Failed),
            (rounds(3, 2, 1), 3, Next::Wait),
        ];
        for (r, need, want) in cases {
            assert_eq!(r.next(need), want, "{r:?} need {need}");
        }
        assert_eq!(rounds(4, 3, 3).needed(), 5);
    }

    #[test]
    fn many_threads_share_fsyncs_and_all_return() {
        let dir = std::env::temp_dir().join(format!("qksmtp-dirsync-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let sync = std::sync::Arc::new(DirSync::open(&dir).unwrap());
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let sync = sync.clone();
                std::thread::spawn(move || {
                    for _ in 0..5 {
                        sync.sync().unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let rounds = sync.lock().clone();
        assert!(rounds.finished >= 1 && rounds.finished <= 40, "{rounds:?}");
        assert_eq!(rounds.started, rounds.finished);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
