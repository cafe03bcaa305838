//! The program's entry: the command line read as `qksmtp`, `sendmail`, `mailq` or
//! `newaliases` (by the name it was run as), the INI found and loaded (or written on a first
//! start), and each command run; the server itself is `crate::run`.

use super::args::{self as cli, Command, Persona};
use super::commands::Order;
use crate::config::{self, Config, DEFAULT_INI, load::ConfigError};
use crate::spool::Spool;
use crate::spool::id::MessageId;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

const INI_NAME: &str = "qksmtp.ini";

/// Runs the program with its command line; the exit code to end with.
pub fn main() -> ExitCode {
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
            return ExitCode::from(crate::cli::sendmail::EX_USAGE);
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
        Command::Queue => with_config(explicit, false, |c, w| {
            print_warnings(&w);
            ExitCode::from(crate::cli::commands::list(&c))
        }),
        Command::History(text) => with_config(explicit, false, move |c, w| {
            print_warnings(&w);
            ExitCode::from(crate::cli::history::list(&c, &text))
        }),
        Command::Flush => with_config(explicit, false, |c, w| order(c, w, Order::Flush)),
        Command::Reload => reload_running(explicit),
        Command::Show(id) => by_id(explicit, &id, Order::Show),
        Command::Retry(id) => by_id(explicit, &id, Order::Retry),
        Command::Delete(id) => by_id(explicit, &id, Order::Delete),
        Command::Hold(id) => by_id(explicit, &id, Order::Hold),
        Command::Release(id) => by_id(explicit, &id, Order::Release),
        Command::Bulk(args) => with_config(explicit, false, move |c, w| {
            print_warnings(&w);
            ExitCode::from(crate::cli::bulk::run(&c, &args))
        }),
        Command::Send(args) => with_config(explicit, false, move |c, w| {
            print_warnings(&w);
            ExitCode::from(crate::cli::commands::send(&c, &args))
        }),
        Command::Smtp => with_config(explicit, false, |c, w| {
            print_warnings(&w);
            ExitCode::from(crate::cli::commands::smtp_session(&c))
        }),
        Command::Nothing => ExitCode::SUCCESS,
        Command::Run => {
            crate::run::with_small_thread_caches();
            let code = with_config(explicit, true, |c, w| {
                print_warnings(&w);
                crate::run::run(c)
            });
            if code != ExitCode::SUCCESS {
                crate::console::hold_own_window();
            }
            code
        }
        Command::Passwd(name) => match crate::cli::setup::passwd(name.as_deref()) {
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
        Command::Doctor(ask) => with_config(explicit, false, move |c, w| {
            print_warnings(&w);
            ExitCode::from(crate::cli::doctor::run(&c, &ask))
        }),
        Command::DkimKeygen(keygen) => printed(crate::cli::dkim_keygen::run(&keygen)),
        Command::Gencert { days, out } => printed(crate::cli::setup::gencert(
            days,
            &out,
            &config::system_hostname(),
        )),
    }
}

/// A command's text on standard output, or its error on standard error and exit code 1.
fn printed(result: Result<String, impl std::fmt::Display>) -> ExitCode {
    match result {
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
    use crate::cli::reload;
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
        Ok(names) => crate::cli::listing::render_corrupt(&names),
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
    ExitCode::from(crate::cli::commands::run(&config, order))
}
