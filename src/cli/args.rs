//! The command line as a value: which command, which INI file. Pure; `main` acts on it.
//! Installed or linked as `sendmail`, `mailq` or `newaliases`, qksmtp reads its command line
//! as those programs do (`Persona`, from the name it was run by).

use crate::dkim::Algorithm;
use crate::queue::select::{Selector, Verb};
use std::path::PathBuf;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Run the server (no command given).
    Run,
    /// Validate the INI and print the effective settings.
    Check,
    /// List the spool.
    Queue,
    /// `queue --history [TEXT]`: the finished messages of the history journal (those whose
    /// ID, sender, recipients or subject contain TEXT).
    History(String),
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
    /// `retry|hold|release|delete` with selectors instead of an ID.
    Bulk(BulkArgs),
    /// `qksmtp send [sendmail options] [RCPT...]`: the arguments after `send`, except
    /// `--config`, parsed by `sendmail::parse_args`.
    Send(Vec<String>),
    /// `sendmail -bs`: an SMTP session on standard input and output.
    Smtp,
    /// `sendmail -bi`, `newaliases`: nothing to do (qksmtp has no aliases).
    Nothing,
    /// Read a password from standard input, print the `[users]` line with its hash.
    Passwd(Option<String>),
    /// Make a self-signed certificate and key with the openssl CLI.
    Gencert {
        days: u32,
        out: PathBuf,
    },
    /// Make a DKIM key, print its INI section and DNS record.
    DkimKeygen(Keygen),
    /// Check what decides whether direct delivery works (port 25, PTR, SPF, DKIM, DMARC,
    /// relays).
    Doctor(Doctor),
    Help,
    Version,
}

/// `qksmtp dkim-keygen DOMAIN [--selector S] [--algorithm rsa|ed25519] [--bits N] [--out DIR]`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keygen {
    pub domain: String,
    /// None: `qksmtp` for RSA, `qksmtp-ed25519` for Ed25519.
    pub selector: Option<String>,
    pub algorithm: Algorithm,
    /// RSA only; None: 2048.
    pub bits: Option<usize>,
    pub out: PathBuf,
}

/// `qksmtp doctor [SENDER_DOMAIN] [--to RECIPIENT_DOMAIN]... [--json]`
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Doctor {
    pub sender: Option<String>,
    pub to: Vec<String>,
    pub json: bool,
}

/// `qksmtp VERB --all|--domain D|--from ADDR|--older-than DURATION [--dry-run] [--yes]`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BulkArgs {
    pub verb: Verb,
    /// Checked: it says which messages. `arrived_by` is set when the command runs.
    pub selector: Selector,
    /// Only list what would be taken.
    pub dry_run: bool,
    /// Delete without asking.
    pub yes: bool,
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
  qksmtp queue --history [TEXT]    the finished messages kept in the history journal (those
                                   whose ID, sender, recipient, domain or subject has TEXT)
  qksmtp show ID [--config FILE]   one message: recipients and every attempt, step by step
                                   (also a finished one, from the history)
  qksmtp flush                     try every waiting message now
  qksmtp reload                    the running server re-reads qksmtp.ini, says what changed
  qksmtp retry ID                  try this message's waiting recipients now
  qksmtp delete ID                 remove a message from the queue
  qksmtp hold ID | release ID      keep a message from being tried / let it go again
  qksmtp retry|hold|release|delete --all | [--domain D] [--from ADDR] [--older-than 2d]
                                   the same on many messages: --all, or those with a waiting
                                   recipient at D, sent by ADDR (@D: from domain D, <> bounces),
                                   arrived at least DURATION ago (given together: all must
                                   match). --dry-run lists them and changes nothing; delete
                                   asks first on a terminal, else needs --yes
  qksmtp send [-t] [-f FROM] [-F NAME] [-i|-oi] [RCPT...]
                                   sendmail-compatible: a message from standard input
  qksmtp passwd [NAME]             read a password, print the [users] line with its hash
  qksmtp gencert [--days N] [--out DIR]
                                   make a self-signed cert.pem + key.pem (needs openssl)
  qksmtp dkim-keygen DOMAIN [--selector S] [--algorithm rsa|ed25519] [--bits N] [--out DIR]
                                   write a DKIM key DOMAIN.S.key (rsa 2048 unless told), print
                                   its [dkim:...] section and the DNS TXT record to publish
  qksmtp doctor [SENDER_DOMAIN] [--to RECIPIENT_DOMAIN]... [--json]
                                   will direct delivery work from here? port 25, public
                                   address and PTR, SPF, DKIM, DMARC, relays: each ok, warning
                                   or problem with the fix (exit 1 when any is a problem)
  qksmtp --help | --version

With the server running, queue/show/flush/retry/delete/hold/release/reload go through its
status API (status_listen); with it stopped they act on the spool directly. Exit codes: 0 done,
1 not found or refused, 2 usage (send: sysexits.h codes).

The INI is FILE, else qksmtp.ini in the current folder, else beside the program.
Linked or copied as sendmail, mailq or newaliases, qksmtp reads its command line as those
do (sendmail -t -i -f, -bs for SMTP on standard input and output, -bp, -q, -bi; -C FILE).
Diagnostics go to stderr; RUST_LOG (e.g. RUST_LOG=debug) overrides [server] log_level.
";

/// The name qksmtp was run by, which decides how its command line reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Persona {
    Qksmtp,
    Sendmail,
    Mailq,
    Newaliases,
}

impl Persona {
    /// From `argv[0]`: its file name, without `.exe` (any case, for Windows).
    pub fn of(argv0: &str) -> Persona {
        let name = argv0.rsplit(['/', '\\']).next().unwrap_or(argv0);
        let name = name.to_ascii_lowercase();
        match name.strip_suffix(".exe").unwrap_or(&name) {
            "sendmail" => Persona::Sendmail,
            "mailq" => Persona::Mailq,
            "newaliases" => Persona::Newaliases,
            _ => Persona::Qksmtp,
        }
    }

    /// The name to put before an error message.
    pub fn name(self) -> &'static str {
        match self {
            Persona::Qksmtp => "qksmtp",
            Persona::Sendmail => "sendmail",
            Persona::Mailq => "mailq",
            Persona::Newaliases => "newaliases",
        }
    }

    /// Reads the arguments after the program name as this program does.
    pub fn parse<I: IntoIterator<Item = String>>(self, args: I) -> Result<Invocation, String> {
        match self {
            Persona::Qksmtp => parse(args),
            Persona::Sendmail => parse_sendmail(args),
            Persona::Mailq => compat(args, Command::Queue),
            Persona::Newaliases => compat(args, Command::Nothing),
        }
    }
}

/// sendmail's command line: the mode (`-bm` send, the default; `-bs` SMTP on standard input
/// and output; `-bp` the queue; `-bi` nothing; `-q` flush the queue), `-C FILE` for the INI;
/// in send mode every other argument goes to `sendmail::parse_args`.
fn parse_sendmail<I: IntoIterator<Item = String>>(args: I) -> Result<Invocation, String> {
    let mut mode = None;
    let mut config = None;
    let mut rest = Vec::new();
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let next = match arg.as_str() {
            "-bm" => Command::Send(Vec::new()),
            "-bs" => Command::Smtp,
            "-bp" => Command::Queue,
            "-bi" => Command::Nothing,
            a if a.starts_with("-b") => return Err(format!("mode {a} is not supported")),
            a if a.starts_with("-q") => Command::Flush,
            _ => {
                if !config_arg(&arg, &mut args, &mut config)? {
                    rest.push(arg);
                }
                continue;
            }
        };
        if mode.replace(next).is_some() {
            return Err("give one mode at a time".into());
        }
    }
    let command = match mode.unwrap_or(Command::Send(Vec::new())) {
        Command::Send(_) => Command::Send(rest),
        other => other,
    };
    Ok(Invocation { command, config })
}

/// `mailq` and `newaliases`: `-C FILE` or `--config FILE` for the INI; other options (e.g.
/// `mailq -v`) are accepted and ignored.
fn compat<I: IntoIterator<Item = String>>(args: I, command: Command) -> Result<Invocation, String> {
    let mut config = None;
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        config_arg(&arg, &mut args, &mut config)?;
    }
    Ok(Invocation { command, config })
}

/// Takes `arg` (with the next argument when it needs one) when it names the INI: `-C FILE`,
/// `-CFILE`, `--config FILE`, `--config=FILE`. False when it is something else.
fn config_arg(
    arg: &str,
    args: &mut impl Iterator<Item = String>,
    config: &mut Option<PathBuf>,
) -> Result<bool, String> {
    let file = match arg {
        "-C" | "--config" => args.next().ok_or(format!("{arg} needs a file name"))?,
        a if a.starts_with("--config=") => a["--config=".len()..].to_string(),
        a if a.starts_with("-C") => a[2..].to_string(),
        _ => return Ok(false),
    };
    *config = Some(PathBuf::from(file));
    Ok(true)
}

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
            "retry" | "delete" | "hold" | "release" => {
                let verb = Verb::from_name(&arg).expect("the four verbs");
                let next = args.next().ok_or(format!(
                    "{arg} needs a message ID, or --all, --domain D, --from ADDR, --older-than DURATION"
                ))?;
                match (verb, next) {
                    (_, n) if n.starts_with('-') => {
                        let rest: Vec<String> = std::iter::once(n).chain(args.by_ref()).collect();
                        Command::Bulk(bulk_args(verb, rest, &mut config)?)
                    }
                    (Verb::Retry, id) => Command::Retry(id),
                    (Verb::Delete, id) => Command::Delete(id),
                    (Verb::Hold, id) => Command::Hold(id),
                    (Verb::Release, id) => Command::Release(id),
                }
            }
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
            "dkim-keygen" => Command::DkimKeygen(Keygen {
                domain: args
                    .next()
                    .filter(|d| !d.starts_with('-'))
                    .ok_or("dkim-keygen needs a domain first")?,
                selector: None,
                algorithm: Algorithm::RsaSha256,
                bits: None,
                out: PathBuf::from("."),
            }),
            "--out" => {
                let dir = args.next().ok_or("--out needs a folder")?;
                match &mut command {
                    Some(Command::Gencert { out, .. }) => *out = PathBuf::from(dir),
                    Some(Command::DkimKeygen(k)) => k.out = PathBuf::from(dir),
                    _ => return Err("--out goes after gencert or dkim-keygen".into()),
                }
                continue;
            }
            "doctor" => Command::Doctor(Doctor::default()),
            "--to" | "--json" => {
                let Some(Command::Doctor(d)) = &mut command else {
                    return Err(format!("{arg} goes after doctor"));
                };
                match arg.as_str() {
                    "--json" => d.json = true,
                    _ => d.to.push(
                        args.next()
                            .filter(|v| !v.starts_with('-'))
                            .ok_or("--to needs a recipient domain")?,
                    ),
                }
                continue;
            }
            "--history" => {
                match &mut command {
                    Some(c @ Command::Queue) => *c = Command::History(String::new()),
                    _ => return Err("--history goes after queue".into()),
                }
                continue;
            }
            "--selector" | "--algorithm" | "--bits" => {
                let Some(Command::DkimKeygen(k)) = &mut command else {
                    return Err(format!("{arg} goes after dkim-keygen DOMAIN"));
                };
                keygen_option(k, &arg, args.next())?;
                continue;
            }
            other if other.starts_with('-') => return Err(format!("unknown option {other}")),
            other => match &mut command {
                Some(Command::Passwd(name @ None)) => {
                    *name = Some(other.to_string());
                    continue;
                }
                Some(Command::Doctor(Doctor {
                    sender: s @ None, ..
                })) => {
                    *s = Some(other.to_string());
                    continue;
                }
                Some(Command::History(text)) if text.is_empty() => {
                    *text = other.to_string();
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

/// The selectors and options after `VERB` (the rest of the line): `--all`, `--domain D`,
/// `--from ADDR`, `--older-than DURATION` (also as `--key=value`), `--dry-run` (`-n`),
/// `--yes` (`-y`), `--config FILE`.
fn bulk_args(
    verb: Verb,
    rest: Vec<String>,
    config: &mut Option<PathBuf>,
) -> Result<BulkArgs, String> {
    let mut b = BulkArgs {
        verb,
        selector: Selector::default(),
        dry_run: false,
        yes: false,
    };
    let mut rest = rest.into_iter();
    while let Some(arg) = rest.next() {
        let (name, inline) = match arg.split_once('=') {
            Some((n, v)) if n.starts_with("--") => (n.to_string(), Some(v.to_string())),
            _ => (arg.clone(), None),
        };
        let key = match name.as_str() {
            "--dry-run" | "-n" => {
                b.dry_run = true;
                continue;
            }
            "--yes" | "-y" => {
                b.yes = true;
                continue;
            }
            "--all" => {
                b.selector.set("all", "yes").map_err(|e| e.to_string())?;
                continue;
            }
            "--config" | "-c" => "config",
            "--domain" => "domain",
            "--from" => "from",
            "--older-than" => "older_than",
            _ => return Err(format!("unknown option {arg} for {}", verb.name())),
        };
        let value = match inline {
            Some(v) => v,
            None => rest.next().ok_or(format!("{name} needs a value"))?,
        };
        match key {
            "config" => *config = Some(PathBuf::from(value)),
            _ => b.selector.set(key, &value).map_err(|e| e.to_string())?,
        }
    }
    b.selector.check().map_err(|e| e.to_string())?;
    Ok(b)
}

/// One option of `dkim-keygen` and its value.
fn keygen_option(k: &mut Keygen, option: &str, value: Option<String>) -> Result<(), String> {
    let value = value.ok_or(format!("{option} needs a value"))?;
    match option {
        "--selector" => k.selector = Some(value),
        "--algorithm" => {
            k.algorithm = match value.to_ascii_lowercase().as_str() {
                "rsa" | "rsa-sha256" => Algorithm::RsaSha256,
                "ed25519" | "ed25519-sha256" => Algorithm::Ed25519Sha256,
                _ => return Err(format!("--algorithm is rsa or ed25519, not {value}")),
            }
        }
        _ => {
            let bits = value.parse().map_err(|_| "--bits needs a number")?;
            k.bits = Some(bits);
        }
    }
    if k.bits.is_some() && k.algorithm == Algorithm::Ed25519Sha256 {
        return Err("--bits is for RSA keys; Ed25519 keys have one size".into());
    }
    Ok(())
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

    fn as_(persona: Persona, args: &[&str]) -> Result<Invocation, String> {
        persona.parse(args.iter().map(|s| s.to_string()))
    }

    #[test]
    fn the_name_run_by_decides_the_persona() {
        let table = [
            ("qksmtp", Persona::Qksmtp),
            ("/usr/local/bin/qksmtp", Persona::Qksmtp),
            ("/usr/sbin/sendmail", Persona::Sendmail),
            ("sendmail", Persona::Sendmail),
            ("C:\\Program Files\\qksmtp\\SENDMAIL.EXE", Persona::Sendmail),
            ("sendmail.exe", Persona::Sendmail),
            ("/usr/bin/mailq", Persona::Mailq),
            ("newaliases", Persona::Newaliases),
            ("sendmail-old", Persona::Qksmtp),
            ("", Persona::Qksmtp),
        ];
        for (argv0, want) in table {
            assert_eq!(Persona::of(argv0), want, "{argv0}");
        }
    }

    #[test]
    fn sendmail_modes_and_options() {
        let strings = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        // (arguments, command)
        let table: &[(&[&str], Command)] = &[
            (&[], Command::Send(vec![])),
            (
                &["-t", "-i", "-f", "a@x.test"],
                Command::Send(strings(&["-t", "-i", "-f", "a@x.test"])),
            ),
            (
                &["-bm", "-oi", "b@y.test"],
                Command::Send(strings(&["-oi", "b@y.test"])),
            ),
            (&["-bs"], Command::Smtp),
            (&["-bs", "-oem", "-v"], Command::Smtp),
            (&["-bp"], Command::Queue),
            (&["-bi"], Command::Nothing),
            (&["-q"], Command::Flush),
            (&["-q30m"], Command::Flush),
            (&["-qf", "-v"], Command::Flush),
        ];
        for (args, want) in table {
            assert_eq!(
                &as_(Persona::Sendmail, args).unwrap().command,
                want,
                "{args:?}"
            );
        }
        let with_config = as_(Persona::Sendmail, &["-C", "/etc/q.ini", "-t"]).unwrap();
        assert_eq!(with_config.config, Some(PathBuf::from("/etc/q.ini")));
        assert_eq!(with_config.command, Command::Send(strings(&["-t"])));
        let glued = as_(Persona::Sendmail, &["-bs", "-C/etc/q.ini"]).unwrap();
        assert_eq!(glued.config, Some(PathBuf::from("/etc/q.ini")));
        assert!(as_(Persona::Sendmail, &["-bd"]).is_err());
        assert!(as_(Persona::Sendmail, &["-bs", "-bp"]).is_err());
        assert!(as_(Persona::Sendmail, &["-C"]).is_err());
        let mailq = as_(Persona::Mailq, &["-v", "--config", "q.ini"]).unwrap();
        assert_eq!(mailq.command, Command::Queue);
        assert_eq!(mailq.config, Some(PathBuf::from("q.ini")));
        assert_eq!(
            as_(Persona::Newaliases, &[]).unwrap().command,
            Command::Nothing
        );
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
            p(&["queue", "--history"]).unwrap().command,
            Command::History(String::new())
        );
        assert_eq!(
            p(&["queue", "--history", "bob@y.test"]).unwrap().command,
            Command::History("bob@y.test".into())
        );
        assert!(p(&["--history"]).is_err());
        assert!(p(&["queue", "--history", "a", "b"]).is_err());
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

    #[test]
    fn bulk_actions_take_selectors_and_keep_the_single_id_form() {
        let bulk = |verb, pairs: &[(&str, &str)], dry_run, yes| {
            let mut selector = Selector::default();
            for (k, v) in pairs {
                selector.set(k, v).unwrap();
            }
            Command::Bulk(BulkArgs {
                verb,
                selector,
                dry_run,
                yes,
            })
        };
        // (arguments, command or a word of the error)
        let table: &[(&[&str], Result<Command, &str>)] = &[
            (&["delete", "0123"], Ok(Command::Delete("0123".into()))),
            (
                &["delete", "--all", "--yes"],
                Ok(bulk(Verb::Delete, &[("all", "yes")], false, true)),
            ),
            (
                &["hold", "--domain", "y.test", "--older-than=2d", "-n"],
                Ok(bulk(
                    Verb::Hold,
                    &[("domain", "y.test"), ("older_than", "2d")],
                    true,
                    false,
                )),
            ),
            (
                &["retry", "--from", "<>"],
                Ok(bulk(Verb::Retry, &[("from", "<>")], false, false)),
            ),
            (
                &["release", "--from=@x.test", "--config", "q.ini"],
                Ok(bulk(Verb::Release, &[("from", "@x.test")], false, false)),
            ),
            (&["delete", "--yes"], Err("say which messages")),
            (
                &["delete", "--all", "--domain", "y.test"],
                Err("--all takes"),
            ),
            (&["retry", "--older-than", "soon"], Err("older_than")),
            (&["hold", "--domain"], Err("needs a value")),
            (&["hold", "--colour", "red"], Err("unknown option")),
            (&["delete"], Err("--all")),
        ];
        for (args, want) in table {
            match (p(args), want) {
                (Ok(got), Ok(want)) => assert_eq!(&got.command, want, "{args:?}"),
                (Err(got), Err(word)) => assert!(got.contains(word), "{args:?}: {got}"),
                (got, want) => panic!("{args:?}: {got:?}, wanted {want:?}"),
            }
        }
        let with_config = p(&["release", "--all", "--config", "q.ini"]).unwrap();
        assert_eq!(with_config.config, Some(PathBuf::from("q.ini")));
    }

    #[test]
    fn dkim_keygen_table() {
        let keygen = |domain: &str| Keygen {
            domain: domain.into(),
            selector: None,
            algorithm: Algorithm::RsaSha256,
            bits: None,
            out: PathBuf::from("."),
        };
        let cases: &[(&[&str], Result<Keygen, &str>)] = &[
            (&["dkim-keygen", "a.test"], Ok(keygen("a.test"))),
            (
                &[
                    "dkim-keygen",
                    "a.test",
                    "--selector",
                    "s1",
                    "--bits",
                    "3072",
                    "--out",
                    "k",
                ],
                Ok(Keygen {
                    selector: Some("s1".into()),
                    bits: Some(3072),
                    out: PathBuf::from("k"),
                    ..keygen("a.test")
                }),
            ),
            (
                &["dkim-keygen", "a.test", "--algorithm", "Ed25519"],
                Ok(Keygen {
                    algorithm: Algorithm::Ed25519Sha256,
                    ..keygen("a.test")
                }),
            ),
            (&["dkim-keygen"], Err("dkim-keygen needs a domain first")),
            (
                &["dkim-keygen", "--selector", "s"],
                Err("dkim-keygen needs a domain first"),
            ),
            (
                &["dkim-keygen", "a.test", "--bits"],
                Err("--bits needs a value"),
            ),
            (
                &["dkim-keygen", "a.test", "--bits", "x"],
                Err("--bits needs a number"),
            ),
            (
                &["dkim-keygen", "a.test", "--algorithm", "dsa"],
                Err("--algorithm is rsa or ed25519, not dsa"),
            ),
            (
                &[
                    "dkim-keygen",
                    "a.test",
                    "--algorithm",
                    "ed25519",
                    "--bits",
                    "2048",
                ],
                Err("--bits is for RSA keys; Ed25519 keys have one size"),
            ),
            (
                &["--selector", "s"],
                Err("--selector goes after dkim-keygen DOMAIN"),
            ),
            (
                &["dkim-keygen", "a.test", "b.test"],
                Err("unknown command b.test"),
            ),
        ];
        for (args, expected) in cases {
            let got = p(args).map(|i| i.command);
            let expected = expected
                .clone()
                .map(Command::DkimKeygen)
                .map_err(String::from);
            assert_eq!(got, expected, "{args:?}");
        }
    }
}
