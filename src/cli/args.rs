//! The command line as a value: which command, which INI file. Pure; `main` acts on it.

use std::path::PathBuf;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Run the server (no command given).
    Run,
    /// Validate the INI and print the effective settings.
    Check,
    /// List the spool.
    Queue,
    /// One message in detail, with the step record of every attempt.
    Show(String),
    /// Try every waiting recipient now.
    Flush,
    /// The running server re-reads its INI.
    Reload,
    /// Try a message's waiting recipients now.
    Retry(String),
    /// Remove a message from the queue.
    Delete(String),
    /// Keep a message from being tried until released.
    Hold(String),
    Release(String),
    /// `qksmtp send [sendmail options] [RCPT...]`: the arguments after `send`, except
    /// `--config`, parsed by `sendmail::parse_args`.
    Send(Vec<String>),
    /// Read a password from standard input, print the `[users]` line with its hash.
    Passwd(Option<String>),
    /// Make a self-signed certificate and key with the openssl CLI.
    Gencert {
        days: u32,
        out: PathBuf,
    },
    Help,
    Version,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invocation {
    pub command: Command,
    pub config: Option<PathBuf>,
}

pub const USAGE: &str = "\
qksmtp - send mail from this computer directly to the recipients' servers

Usage:
  qksmtp [--config FILE]           run the server (writes a commented qksmtp.ini if none exists)
  qksmtp check [--config FILE]     validate the INI and print the effective settings
  qksmtp queue [--config FILE]     list the messages in the spool (also while stopped)
  qksmtp show ID [--config FILE]   one message: recipients and every attempt, step by step
  qksmtp flush                     try every waiting message now
  qksmtp reload                    the running server re-reads qksmtp.ini, says what changed
  qksmtp retry ID                  try this message's waiting recipients now
  qksmtp delete ID                 remove a message from the queue
  qksmtp hold ID | release ID      keep a message from being tried / let it go again
  qksmtp send [-t] [-f FROM] [-F NAME] [-i|-oi] [RCPT...]
                                   sendmail-compatible: a message from standard input
  qksmtp passwd [NAME]             read a password, print the [users] line with its hash
  qksmtp gencert [--days N] [--out DIR]
                                   make a self-signed cert.pem + key.pem (needs openssl)
  qksmtp --help | --version

With the server running, queue/show/flush/retry/delete/hold/release/reload go through its
status API (status_listen); with it stopped they act on the spool directly. Exit codes: 0 done,
1 not found or refused, 2 usage (send: sysexits.h codes).

The INI is FILE, else qksmtp.ini in the current folder, else beside the program.
Diagnostics go to stderr; RUST_LOG (e.g. RUST_LOG=debug) overrides [server] log_level.
";

/// Parses the arguments after the program name. The error is the message to print with
/// the usage (exit code 2).
pub fn parse<I: IntoIterator<Item = String>>(args: I) -> Result<Invocation, String> {
    let mut command = None;
    let mut config = None;
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let cmd = match arg.as_str() {
            "--config" | "-c" => {
                let file = args.next().ok_or("--config needs a file name")?;
                if config.replace(PathBuf::from(file)).is_some() {
                    return Err("--config given twice".into());
                }
                continue;
            }
            a if a.starts_with("--config=") => {
                config = Some(PathBuf::from(&a["--config=".len()..]));
                continue;
            }
            "-h" | "--help" | "help" => Command::Help,
            "-V" | "--version" | "version" => Command::Version,
            "run" => Command::Run,
            "check" => Command::Check,
            "queue" => Command::Queue,
            "show" => Command::Show(args.next().ok_or("show needs a message ID")?),
            "flush" => Command::Flush,
            "reload" => Command::Reload,
            "retry" => Command::Retry(args.next().ok_or("retry needs a message ID")?),
            "delete" => Command::Delete(args.next().ok_or("delete needs a message ID")?),
            "hold" => Command::Hold(args.next().ok_or("hold needs a message ID")?),
            "release" => Command::Release(args.next().ok_or("release needs a message ID")?),
            "send" | "sendmail" => Command::Send(send_args(&mut args, &mut config)?),
            "passwd" => Command::Passwd(None),
            "gencert" => Command::Gencert {
                days: 3650,
                out: PathBuf::from("."),
            },
            "--days" => {
                let n = args.next().ok_or("--days needs a number")?;
                match &mut command {
                    Some(Command::Gencert { days, .. }) => {
                        *days = n
                            .parse()
                            .ok()
                            .filter(|d| *d > 0)
                            .ok_or("--days needs a number of days")?
                    }
                    _ => return Err("--days goes after gencert".into()),
                }
                continue;
            }
            "--out" => {
                let dir = args.next().ok_or("--out needs a folder")?;
                match &mut command {
                    Some(Command::Gencert { out, .. }) => *out = PathBuf::from(dir),
                    _ => return Err("--out goes after gencert".into()),
                }
                continue;
            }
            other if other.starts_with('-') => return Err(format!("unknown option {other}")),
            other => match &mut command {
                Some(Command::Passwd(name @ None)) => {
                    *name = Some(other.to_string());
                    continue;
                }
                _ => return Err(format!("unknown command {other}")),
            },
        };
        command = match (command, cmd) {
            (None, c) => Some(c),
            (Some(c @ (Command::Help | Command::Version)), _)
            | (_, c @ (Command::Help | Command::Version)) => Some(c),
            (Some(_), _) => return Err("give one command at a time".into()),
        };
    }
    Ok(Invocation {
        command: command.unwrap_or(Command::Run),
        config,
    })
}

/// The rest of the line after `send`, keeping `--config FILE` for ourselves.
fn send_args(
    args: &mut impl Iterator<Item = String>,
    config: &mut Option<PathBuf>,
) -> Result<Vec<String>, String> {
    let mut rest = Vec::new();
    while let Some(arg) = args.next() {
        if arg == "--config" {
            *config = Some(PathBuf::from(
                args.next().ok_or("--config needs a file name")?,
            ));
        } else if let Some(file) = arg.strip_prefix("--config=") {
            *config = Some(PathBuf::from(file));
        } else {
            rest.push(arg);
        }
    }
    Ok(rest)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(args: &[&str]) -> Result<Invocation, String> {
        parse(args.iter().map(|s| s.to_string()))
    }

    #[test]
    fn table() {
        let run = Invocation {
            command: Command::Run,
            config: None,
        };
        assert_eq!(p(&[]), Ok(run.clone()));
        assert_eq!(p(&["check"]).unwrap().command, Command::Check);
        assert_eq!(
            p(&["queue", "--config", "a.ini"]).unwrap().config,
            Some(PathBuf::from("a.ini"))
        );
        assert_eq!(
            p(&["--config=b.ini", "check"]).unwrap().config,
            Some(PathBuf::from("b.ini"))
        );
        assert_eq!(p(&["--help"]).unwrap().command, Command::Help);
        assert_eq!(
            p(&["check", "--version"]).unwrap().command,
            Command::Version
        );
        assert!(p(&["--config"]).is_err());
        assert!(p(&["--bogus"]).is_err());
        assert!(p(&["frobnicate"]).is_err());
        assert!(p(&["check", "queue"]).is_err());
        assert_eq!(
            p(&["show", "0123"]).unwrap().command,
            Command::Show("0123".into())
        );
        assert!(p(&["show"]).is_err());
        assert_eq!(
            p(&["hold", "X"]).unwrap().command,
            Command::Hold("X".into())
        );
        assert!(p(&["retry"]).is_err());
        let send = p(&[
            "send", "-t", "-f", "a@x.test", "--config", "q.ini", "b@y.test",
        ])
        .unwrap();
        assert_eq!(
            send.command,
            Command::Send(vec![
                "-t".into(),
                "-f".into(),
                "a@x.test".into(),
                "b@y.test".into()
            ])
        );
        assert_eq!(send.config, Some(PathBuf::from("q.ini")));
        assert_eq!(p(&["passwd"]).unwrap().command, Command::Passwd(None));
        assert_eq!(
            p(&["passwd", "alice"]).unwrap().command,
            Command::Passwd(Some("alice".into()))
        );
        assert!(p(&["passwd", "alice", "bob"]).is_err());
        assert_eq!(
            p(&["gencert", "--days", "30", "--out", "/tmp/x"])
                .unwrap()
                .command,
            Command::Gencert {
                days: 30,
                out: PathBuf::from("/tmp/x")
            }
        );
        assert_eq!(
            p(&["gencert"]).unwrap().command,
            Command::Gencert {
                days: 3650,
                out: PathBuf::from(".")
            }
        );
        assert!(p(&["gencert", "--days", "x"]).is_err());
        assert!(p(&["--days", "3"]).is_err());
    }
}
