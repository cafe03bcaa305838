//! The `qksmtp` program: finds and loads the INI, then runs the server or a command. Run as
//! `sendmail`, `mailq` or `newaliases` (a link or a copy by that name), it reads its command
//! line as those do.

use qksmtp::cli::args::{self as cli, Command, Persona};
use qksmtp::cli::commands::Order;
use qksmtp::config::{self, Config, DEFAULT_INI, Live, load::ConfigError};
use qksmtp::engine::Engine;
use qksmtp::intake::Intake;
use qksmtp::reload::{self, Control};
use qksmtp::server::Server;
use qksmtp::spool::id::MessageId;
use qksmtp::spool::{Listing, Spool};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

const INI_NAME: &str = "qksmtp.ini";
#[cfg(unix)]
const RELOAD_HINT: &str = ", SIGHUP or `qksmtp reload` re-reads the settings";
#[cfg(not(unix))]
const RELOAD_HINT: &str = ", `qksmtp reload` re-reads the settings";
/// How long a stopping server lets sessions in DATA finish.
const STOP_GRACE: Duration = Duration::from_secs(30);

fn main() -> ExitCode {
    let mut args = std::env::args();
    let persona = Persona::of(&args.next().unwrap_or_default());
    let invocation = match persona.parse(args) {
        Ok(i) => i,
        Err(e) if persona == Persona::Qksmtp => {
            eprintln!("qksmtp: {e}\n\n{}", cli::USAGE);
            return ExitCode::from(2);
        }
        Err(e) => {
            eprintln!("{}: {e}", persona.name());
            return ExitCode::from(qksmtp::cli::sendmail::EX_USAGE);
        }
    };
    let explicit = invocation.config.clone();
    match invocation.command {
        Command::Help => {
            print!("{}", cli::USAGE);
            ExitCode::SUCCESS
        }
        Command::Version => {
            println!("qksmtp {}", env!("CARGO_PKG_VERSION"));
            ExitCode::SUCCESS
        }
        Command::Check => with_config(explicit, false, check),
        Command::Queue => with_config(explicit, false, |c, w| order(c, w, Order::Queue)),
        Command::Flush => with_config(explicit, false, |c, w| order(c, w, Order::Flush)),
        Command::Reload => reload_running(explicit),
        Command::Show(id) => by_id(explicit, &id, Order::Show),
        Command::Retry(id) => by_id(explicit, &id, Order::Retry),
        Command::Delete(id) => by_id(explicit, &id, Order::Delete),
        Command::Hold(id) => by_id(explicit, &id, Order::Hold),
        Command::Release(id) => by_id(explicit, &id, Order::Release),
        Command::Send(args) => with_config(explicit, false, move |c, w| {
            print_warnings(&w);
            ExitCode::from(qksmtp::cli::commands::send(&c, &args))
        }),
        Command::Smtp => with_config(explicit, false, |c, w| {
            print_warnings(&w);
            ExitCode::from(qksmtp::cli::commands::smtp_session(&c))
        }),
        Command::Nothing => ExitCode::SUCCESS,
        Command::Run => {
            let code = with_config(explicit, true, run);
            if code != ExitCode::SUCCESS {
                qksmtp::console::hold_own_window();
            }
            code
        }
        Command::Passwd(name) => match qksmtp::cli::setup::passwd(name.as_deref()) {
            Ok(line) => {
                println!("{line}");
                if name.is_none() {
                    eprintln!("qksmtp: put it in [users] of qksmtp.ini as: NAME = {line}");
                }
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("qksmtp: {e}");
                ExitCode::from(1)
            }
        },
        Command::DkimKeygen(keygen) => match qksmtp::cli::dkim_keygen::run(&keygen) {
            Ok(text) => {
                print!("{text}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("qksmtp: {e}");
                ExitCode::from(1)
            }
        },
        Command::Gencert { days, out } => {
            match qksmtp::cli::setup::gencert(days, &out, &config::system_hostname()) {
                Ok(text) => {
                    print!("{text}");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("qksmtp: {e}");
                    ExitCode::from(1)
                }
            }
        }
    }
}

/// Finds the INI (writing the default first if `create` and there is none), loads it and
/// hands it to `then`; a missing or invalid INI is exit code 1 with every error printed.
fn with_config(
    explicit: Option<PathBuf>,
    create: bool,
    then: impl FnOnce(Config, Vec<ConfigError>) -> ExitCode,
) -> ExitCode {
    with_loaded(explicit, create, |path, loaded| match loaded {
        Ok((config, warnings)) => then(config, warnings),
        Err(errors) => {
            print_errors(path, &errors);
            ExitCode::from(1)
        }
    })
}

/// Loaded settings and their warnings, or every error.
type Loaded = Result<(Config, Vec<ConfigError>), Vec<ConfigError>>;

/// Finds the INI (see `with_config`) and hands its path and what loading it gave to `then`;
/// no INI found is exit code 1.
fn with_loaded(
    explicit: Option<PathBuf>,
    create: bool,
    then: impl FnOnce(&Path, Loaded) -> ExitCode,
) -> ExitCode {
    match locate(explicit, create) {
        Ok(path) => then(&path, config::load::load(&path)),
        Err(e) => {
            eprintln!("qksmtp: {e}");
            ExitCode::from(1)
        }
    }
}

fn print_errors(path: &Path, errors: &[ConfigError]) {
    eprintln!("qksmtp: {} has {} error(s):", path.display(), errors.len());
    for e in errors {
        eprintln!("{}: {e}", path.display());
    }
}

/// `qksmtp reload`. With errors in the INI, the server is still asked when its spool can be
/// told (it then answers with the errors it finds, and logs them); else they are printed here.
fn reload_running(explicit: Option<PathBuf>) -> ExitCode {
    use qksmtp::cli::reload;
    with_loaded(explicit, false, |path, loaded| match loaded {
        Ok((config, _)) => ExitCode::from(reload::run(&config)),
        Err(errors) => match reload::without_faulty_lines(path, &errors) {
            Some(config) => ExitCode::from(reload::run(&config)),
            None => {
                print_errors(path, &errors);
                ExitCode::from(1)
            }
        },
    })
}

/// `--config FILE`, else ./qksmtp.ini, else qksmtp.ini beside the program; with `create`,
/// writes the commented default to the current folder (or beside the program) when none.
fn locate(explicit: Option<PathBuf>, create: bool) -> Result<PathBuf, String> {
    if let Some(path) = explicit {
        return if path.is_file() {
            Ok(absolute(&path))
        } else {
            Err(format!("{}: no such file", path.display()))
        };
    }
    let here = absolute(Path::new(INI_NAME));
    let beside = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|d| d.join(INI_NAME)));
    let candidates: Vec<PathBuf> = std::iter::once(here).chain(beside).collect();
    if let Some(found) = candidates.iter().find(|p| p.is_file()) {
        return Ok(found.clone());
    }
    if !create {
        let looked: Vec<String> = candidates.iter().map(|p| p.display().to_string()).collect();
        return Err(format!(
            "no {INI_NAME} found (looked at {}); run qksmtp once to create one, or use --config FILE",
            looked.join(", ")
        ));
    }
    for target in &candidates {
        if std::fs::write(target, DEFAULT_INI).is_ok() {
            println!(
                "qksmtp: wrote the default configuration to {} (edit it, then restart)",
                target.display()
            );
            return Ok(target.clone());
        }
    }
    Err(format!(
        "no {INI_NAME} found and none could be written in {}",
        candidates[0].display()
    ))
}

fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

fn print_warnings(warnings: &[ConfigError]) {
    for w in warnings {
        eprintln!("qksmtp: warning: {w}");
    }
}

fn check(config: Config, warnings: Vec<ConfigError>) -> ExitCode {
    print_warnings(&warnings);
    println!(
        "; {} is valid. Effective settings (defaults filled in):\n",
        config.path.display()
    );
    print!("{}", config::render::render(&config));
    report_corrupt(&config.server.spool_dir);
    ExitCode::SUCCESS
}

/// `check` also says when damaged spool entries wait in `corrupt/` (as a comment, so that the
/// output stays an INI file).
fn report_corrupt(dir: &Path) {
    if !dir.is_dir() {
        return;
    }
    let line = match Spool::open(dir).and_then(|s| s.corrupt_files()) {
        Ok(names) => qksmtp::cli::listing::render_corrupt(&names),
        Err(e) => format!("cannot read {}: {e}\n", dir.join("corrupt").display()),
    };
    if !line.is_empty() {
        print!("\n; spool {}: {line}", dir.display());
    }
}

/// A queue command on one message ID (exit 1 when it is not one).
fn by_id(explicit: Option<PathBuf>, id: &str, make: fn(MessageId) -> Order) -> ExitCode {
    match MessageId::parse(id) {
        Some(id) => with_config(explicit, false, move |c, w| order(c, w, make(id))),
        None => {
            eprintln!(
                "qksmtp: {id} is not a message ID (16 hex digits, as `qksmtp queue` lists them)"
            );
            ExitCode::from(1)
        }
    }
}

fn order(config: Config, warnings: Vec<ConfigError>, order: Order) -> ExitCode {
    print_warnings(&warnings);
    ExitCode::from(qksmtp::cli::commands::run(&config, order))
}

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

fn run(config: Config, warnings: Vec<ConfigError>) -> ExitCode {
    let log_level_from_ini = init_logging(config.server.log_level);
    print_warnings(&warnings);
    let live = Live::new(config);
    let config = live.get();
    let Some(_spool_lock) = lock_spool(&config.server.spool_dir) else {
        return ExitCode::from(1);
    };
    let (spool, listing) = match open_spool(&config) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("qksmtp: {e}");
            return ExitCode::from(1);
        }
    };
    let (control_tx, control_rx) = crossbeam_channel::unbounded::<Control>();
    if let Err(e) = qksmtp::signals::install(control_tx.clone()) {
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
    qksmtp::server::open_files::raise_for(&config);
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
    // Mail is accepted from here on, while the spool's messages are read and handed to the
    // scheduler (a large spool takes seconds to read).
    if let Err(e) = restore(&spool, listing, &config.server.spool_dir, &engine) {
        eprintln!("qksmtp: {e}");
        server.stop(STOP_GRACE);
        engine.stop(STOP_GRACE);
        return ExitCode::from(1);
    }
    let status = qksmtp::status::start_page(&live, spool_for_status, engine.events(), control_tx);
    println!("qksmtp: ready; Ctrl-C stops{RELOAD_HINT}");
    until_stopped(&control_rx, &live, &mut server, log_level_from_ini);
    println!(
        "qksmtp: stopping: waiting for {} open session(s) (idle ones end now, one receiving a \
         message gets up to {}s) and {} delivery job(s) in flight (up to {}s); Ctrl-C again \
         stops at once, losing no accepted message",
        server.sessions(),
        STOP_GRACE.as_secs(),
        engine.in_flight(),
        STOP_GRACE.as_secs()
    );
    if let Some(page) = status {
        qksmtp::spool::lock::StatusFile::remove(&config.server.spool_dir);
        page.stop();
    }
    server.stop(STOP_GRACE);
    engine.stop(STOP_GRACE);
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
fn lock_spool(dir: &Path) -> Option<qksmtp::spool::lock::SpoolLock> {
    use qksmtp::spool::lock::{self, Holder};
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

/// Opens the spool and lists its files (quick: no file is read yet).
fn open_spool(config: &Config) -> Result<(Arc<Spool>, Listing), String> {
    let dir = &config.server.spool_dir;
    let spool =
        Spool::open(dir).map_err(|e| format!("cannot open the spool {}: {e}", dir.display()))?;
    let listing = spool
        .list(true)
        .map_err(|e| format!("cannot read the spool {}: {e}", dir.display()))?;
    Ok((Arc::new(spool), listing))
}

/// Reads the listed messages and hands them to the scheduler a thousand at a time; removes
/// leftovers of unfinished writes, sets damage aside, and reports what waits in the spool.
fn restore(spool: &Spool, listing: Listing, dir: &Path, engine: &Engine) -> Result<(), String> {
    let (mut messages, mut pending) = (0, 0);
    let scan = spool
        .read(listing, true, |found| {
            messages += found.len();
            pending += found.iter().map(|e| e.pending().count()).sum::<usize>();
            engine.restore(std::mem::take(found));
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
