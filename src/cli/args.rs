//! The command line as a value: which command, which INI file. Pure; `main` acts on it.
//! Installed or linked as `sendmail`, `mailq` or `newaliases`, qksmtp reads its command line
//! as those programs do (`Persona`, from the name it was run by).

use crate::dkim::Algorithm;
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
