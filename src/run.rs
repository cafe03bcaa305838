//! The server as a running program: takes the spool's lock, starts the engine, the listeners
//! and the status page, restores the spool while already accepting mail, then waits for
//! orders (stop, reload) until it stops cleanly.

use crate::config::{Config, Live};
use crate::engine::Engine;
use crate::intake::Intake;
use crate::reload::{self, Control};
use crate::server::Server;
use crate::spool::Spool;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

#[cfg(unix)]
const RELOAD_HINT: &str = ", SIGHUP or `qksmtp reload` re-reads the settings";
#[cfg(not(unix))]
const RELOAD_HINT: &str = ", `qksmtp reload` re-reads the settings";
/// How long a stopping server lets sessions in DATA finish.
const STOP_GRACE: Duration = Duration::from_secs(30);
/// How long a stopping server waits for the reply to a message whose data went out in full
/// (deliveries that had not got that far are abandoned at once).
const REPLY_GRACE: Duration = Duration::from_secs(10);

/// Starts the log at `level`; returns whether `log_level` rules it (a reload may change it),
/// which it does unless `RUST_LOG` is set.
fn init_logging(level: log::LevelFilter) -> bool {
    let mut builder = env_logger::Builder::new();
    let Ok(spec) = std::env::var("RUST_LOG") else {
        // Everything passes the logger; the level in force is log's maximum, set below.
        builder.filter_level(log::LevelFilter::Trace).init();
        log::set_max_level(level);
        return true;
    };
    builder.filter_level(level).parse_filters(&spec).init();
    false
}

/// glibc gives a thread that meets another in malloc an arena of its own (up to eight per
/// core), and every arena keeps what was freed in it: with tens of session and delivery
/// threads that was most of the server's heap. Two arenas serve its allocation rate
/// (issue 20: the throughput phase's peak RSS, measured in docs/benchmarks.md). glibc's own
/// `MALLOC_ARENA_MAX` in the environment wins.
fn limit_malloc_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
        // SAFETY: mallopt only changes an allocator setting; it has no preconditions.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, 2);
        }
    }
}

/// The glibc tunable that keeps malloc's per-thread caches to blocks of 256 bytes at most.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const SMALL_THREAD_CACHES: &str = "glibc.malloc.tcache_max=256";

/// glibc's malloc keeps freed blocks in a cache of each thread (up to 7 of each size up to
/// 1 KiB), out of reach of the other threads and pinning the arena's pages around them: with
/// the server's 60 session and delivery threads that was about 2 MB of the throughput phase's
/// peak, more than the heap in use at its peak (1.45 MB). Caching blocks of up to 256 bytes
/// only keeps 1.9 of those 2.4 MB off (13.1 -> 10.5 MB) at the same count of instructions per
/// message (callgrind); no caches at all kept 0.5 MB more off but cost 11 % more
/// instructions (issue 20, docs/benchmarks.md section arena). Only `GLIBC_TUNABLES` at the
/// start of a program sets this, so the server starts itself again, once, with it (same PID,
/// arguments and descriptors), before anything else runs. A `GLIBC_TUNABLES` that sets a
/// `glibc.malloc.tcache_*` tunable already (the user's own, or this one) is left as it is;
/// if the new start fails, the server runs on with glibc's defaults. Returns unless it
/// started itself again.
pub fn with_small_thread_caches() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        use std::os::unix::process::CommandExt;
        let tunables = std::env::var_os("GLIBC_TUNABLES").unwrap_or_default();
        let Some(tunables) = tunables.to_str().and_then(with_small_caches) else {
            return;
        };
        let mut args = std::env::args_os();
        let arg0 = args.next().unwrap_or_default();
        let err = std::process::Command::new("/proc/self/exe")
            .arg0(arg0)
            .args(args)
            .env("GLIBC_TUNABLES", tunables)
            .exec();
        eprintln!(
            "qksmtp: note: running with malloc's default thread caches (cannot start again: {err})"
        );
    }
}

/// `GLIBC_TUNABLES` (colon-separated) with the thread caches made small, or `None` when it
/// sets them already.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn with_small_caches(tunables: &str) -> Option<String> {
    if tunables
        .split(':')
        .any(|t| t.starts_with("glibc.malloc.tcache_"))
    {
        return None;
    }
    Some(match tunables {
        "" => SMALL_THREAD_CACHES.to_string(),
        other => format!("{other}:{SMALL_THREAD_CACHES}"),
    })
}

/// Returns the heap's free pages to the system (glibc keeps them otherwise): after reading a
/// large spool, the peak of the read would stay in the resident size for good.
fn give_back_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only returns free memory to the system; it has no preconditions.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Runs the server on `config` until it is stopped.
pub fn run(config: Config) -> ExitCode {
    limit_malloc_arenas();
    let log_level_from_ini = init_logging(config.server.log_level);
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    log::debug!(
        "malloc: GLIBC_TUNABLES={}",
        std::env::var("GLIBC_TUNABLES").unwrap_or_default()
    );
    let live = Live::new(config);
    let config = live.get();
    let Some(_spool_lock) = lock_spool(&config.server.spool_dir) else {
        return ExitCode::from(1);
    };
    let spool = match open_spool(&config) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("qksmtp: {e}");
            return ExitCode::from(1);
        }
    };
    let (control_tx, control_rx) = crossbeam_channel::unbounded::<Control>();
    if let Err(e) = crate::signals::install(control_tx.clone()) {
        eprintln!("qksmtp: {e}");
    }
    let (commit_tx, commit_rx) = crossbeam_channel::unbounded();
    let intake = Intake::new(spool.clone(), live.clone(), Some(commit_tx));
    let engine = match Engine::start(live.clone(), &intake, commit_rx) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("qksmtp: {e}");
            return ExitCode::from(1);
        }
    };
    crate::server::open_files::raise_for(&config);
    let spool_for_status = spool.clone();
    let mut server = match Server::start(live.clone(), intake) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("qksmtp: {}", e.message);
            eprintln!(
                "qksmtp: nothing to listen on; fix [server] listen in {}",
                config.path.display()
            );
            return ExitCode::from(1);
        }
    };
    println!(
        "qksmtp {} using {}",
        env!("CARGO_PKG_VERSION"),
        config.path.display()
    );
    for bound in server.bound() {
        println!("qksmtp: listening on {bound}");
    }
    for failure in server.unbound() {
        eprintln!("qksmtp: warning: {failure}");
    }
    let status = crate::status::start_page(&live, spool_for_status, engine.events(), control_tx);
    // Mail is accepted from here on, and the page answers, while the spool's messages are
    // read and handed to the scheduler (a large spool takes seconds to read).
    if let Err(e) = restore(&spool, &config.server.spool_dir, &engine) {
        eprintln!("qksmtp: {e}");
        if let Some(page) = status {
            crate::spool::lock::StatusFile::remove(&config.server.spool_dir);
            page.stop();
        }
        server.stop(STOP_GRACE);
        engine.stop(REPLY_GRACE);
        return ExitCode::from(1);
    }
    // The read's envelope batches are freed by now, in the middle of the heap.
    give_back_freed_memory();
    println!("qksmtp: ready; Ctrl-C stops{RELOAD_HINT}");
    until_stopped(&control_rx, &live, &mut server, log_level_from_ini);
    println!(
        "qksmtp: stopping: waiting for {} open session(s) (idle ones end now, one receiving a \
         message gets up to {}s); {} delivery job(s) in flight end now, unless their message \
         went out and its reply is due (up to {}s); Ctrl-C again stops at once, losing no \
         accepted message",
        server.sessions(),
        STOP_GRACE.as_secs(),
        engine.in_flight(),
        REPLY_GRACE.as_secs()
    );
    if let Some(page) = status {
        crate::spool::lock::StatusFile::remove(&config.server.spool_dir);
        page.stop();
    }
    server.stop(STOP_GRACE);
    engine.stop(REPLY_GRACE);
    println!("qksmtp: stopped");
    ExitCode::SUCCESS
}

/// Carries out reloads until told to stop.
fn until_stopped(
    control: &crossbeam_channel::Receiver<Control>,
    live: &Live,
    server: &mut Server,
    log_level_from_ini: bool,
) {
    for order in control.iter() {
        match order {
            Control::Stop => return,
            Control::Reload(answer) => {
                let said = reload::reload(live, server, log_level_from_ini);
                said.log();
                if let Some(to) = answer {
                    let _ = to.send(said);
                }
            }
        }
    }
}

/// Takes the spool's lock (waiting a little for a command that holds it); `None` (after
/// saying why) when another server uses this spool: said at once, with its PID.
fn lock_spool(dir: &Path) -> Option<crate::spool::lock::SpoolLock> {
    use crate::spool::lock::{self, Holder};
    let in_use = |pid: Option<u32>| {
        let who = pid.map_or(String::new(), |pid| format!(" (PID {pid})"));
        eprintln!(
            "qksmtp: the spool {} is in use by another qksmtp{who}; stop it first, or give this one its own spool_dir",
            dir.display()
        );
    };
    for _ in 0..50 {
        match lock::try_lock(dir) {
            Ok(Some(mut held)) => {
                if let Err(e) = held.claim(true) {
                    log::warn!("cannot write the spool's lock file: {e}");
                }
                return Some(held);
            }
            Ok(None) => match lock::holder(dir) {
                Some(Holder::Server(pid)) => {
                    in_use(Some(pid));
                    return None;
                }
                _ => std::thread::sleep(Duration::from_millis(100)),
            },
            Err(e) => {
                eprintln!("qksmtp: cannot lock the spool {}: {e}", dir.display());
                return None;
            }
        }
    }
    in_use(match lock::holder(dir) {
        Some(Holder::Server(pid) | Holder::Command(pid)) => Some(pid),
        None => None,
    });
    None
}

/// Opens the spool, noting from now on the IDs it hands out (the start-up scan leaves this
/// run's messages to the intake). Announcements are taken away before the spool watcher
/// starts: those messages are committed already, and the scan finds them.
fn open_spool(config: &Config) -> Result<Arc<Spool>, String> {
    let dir = &config.server.spool_dir;
    let spool =
        Spool::open(dir).map_err(|e| format!("cannot open the spool {}: {e}", dir.display()))?;
    spool.track_own_ids();
    spool
        .unannounce_all()
        .map_err(|e| format!("cannot read the spool {}: {e}", dir.display()))?;
    Ok(Arc::new(spool))
}

/// Reads the spool's messages of earlier runs and hands them to the scheduler a thousand at
/// a time as they are read; removes leftovers of unfinished writes, sets damage aside, and
/// reports what waits in the spool.
fn restore(spool: &Spool, dir: &Path, engine: &Engine) -> Result<(), String> {
    let (mut messages, mut pending) = (0, 0);
    let scan = spool
        .restore(|found| {
            messages += found.len();
            pending += found.iter().map(|e| e.pending().count()).sum::<usize>();
            engine.restore(found);
        })
        .map_err(|e| format!("cannot read the spool {}: {e}", dir.display()))?;
    for (path, why) in &scan.damaged {
        let aside = spool.corrupt_dir();
        log::error!(
            "damaged spool entry {}: {why}; moved to {}",
            path.display(),
            aside.display()
        );
        println!(
            "qksmtp: damaged spool entry {} moved to {} ({why})",
            path.display(),
            aside.display()
        );
    }
    for path in &scan.skipped {
        log::warn!("{}: not a regular file; skipped", path.display());
        println!(
            "qksmtp: {} is not a regular file; skipped (remove it from the spool)",
            path.display()
        );
    }
    if !scan.leftovers.is_empty() {
        log::info!("removed {} unfinished spool file(s)", scan.leftovers.len());
    }
    println!(
        "qksmtp: spool {} ({messages} message(s), {pending} recipient(s) pending)",
        dir.display()
    );
    Ok(())
}

#[cfg(all(test, target_os = "linux", target_env = "gnu"))]
mod tests {
    use super::with_small_caches;

    #[test]
    fn thread_caches_are_made_small_unless_the_environment_sets_them() {
        let cases = [
            ("", Some("glibc.malloc.tcache_max=256")),
            (
                "glibc.malloc.arena_max=1",
                Some("glibc.malloc.arena_max=1:glibc.malloc.tcache_max=256"),
            ),
            ("glibc.malloc.tcache_max=256", None),
            ("glibc.malloc.tcache_count=0", None),
            (
                "glibc.malloc.arena_max=1:glibc.malloc.tcache_max=1032",
                None,
            ),
            (
                "glibc.malloc.mxfast=0",
                Some("glibc.malloc.mxfast=0:glibc.malloc.tcache_max=256"),
            ),
        ];
        for (tunables, want) in cases {
            assert_eq!(with_small_caches(tunables).as_deref(), want, "{tunables:?}");
        }
    }
}
