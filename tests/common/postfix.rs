//! A throwaway Postfix instance (Debian's postfix; nobody here wrote it) as a second sender to
//! compare qksmtp with: its own config, queue and data folders in the test's folder, smtpd on
//! a loopback address for the test to submit to, every relay domain sent on by its smtp
//! client. It runs in a private mount namespace (`unshare -m`, root) where its own
//! resolv.conf is bind-mounted on /etc/resolv.conf, so that its libc resolver asks the
//! test's DNS server; the machine's own resolv.conf (other tests run at once) is untouched.

use super::{Client, Smtp, queued_id, wait_for, wait_until};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;

pub struct Postfix {
    /// Where its smtpd listens.
    pub addr: SocketAddr,
    conf: PathBuf,
    log: PathBuf,
}

/// The postfix and unshare programs, if installed; `None` (skip, saying so) only outside CI.
pub fn programs() -> Option<()> {
    let missing: Vec<&str> = ["/usr/sbin/postfix", "/usr/bin/unshare"]
        .into_iter()
        .filter(|p| !Path::new(p).exists())
        .collect();
    if missing.is_empty() {
        return Some(());
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "CI must have {missing:?} (.ci/run installs postfix)"
    );
    eprintln!("skipped: no {missing:?} (apt-get install postfix)");
    None
}

impl Postfix {
    /// Starts an instance in `dir` listening on `listen`, resolving through the DNS server on
    /// `resolver`:53 (with `options trust-ad`, so that glibc keeps the AD bit), with the
    /// `main.cf` lines `extra` (e.g. its TLS policy) after the instance's own.
    pub fn start(dir: &Path, listen: SocketAddr, resolver: IpAddr, extra: &str) -> Postfix {
        let (conf, queue, data) = (dir.join("conf"), dir.join("queue"), dir.join("data"));
        for d in [&conf, &queue, &data] {
            std::fs::create_dir_all(d).unwrap();
        }
        let chown = Command::new("chown").arg("postfix").arg(&data).status();
        assert!(chown.is_ok_and(|s| s.success()), "chown postfix {data:?}");
        let log = dir.join("maillog");
        std::fs::write(
            conf.join("main.cf"),
            main_cf(dir, &queue, &data, &log) + extra,
        )
        .unwrap();
        std::fs::write(conf.join("master.cf"), master_cf(listen)).unwrap();
        let resolv = dir.join("resolv.conf");
        std::fs::write(
            &resolv,
            format!("nameserver {resolver}\noptions trust-ad\n"),
        )
        .unwrap();
        let out = Command::new("unshare")
            .args(["-m", "--propagation", "private", "sh", "-c"])
            .arg("mount --bind \"$1\" /etc/resolv.conf && exec postfix -c \"$2\" start")
            .arg("sh")
            .arg(&resolv)
            .arg(&conf)
            .output()
            .expect("unshare");
        assert!(
            out.status.success(),
            "postfix start (its errors show on a terminal only: run \
             `postfix -c {} check` there): {}{}{}",
            conf.display(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        let postfix = Postfix {
            addr: listen,
            conf,
            log,
        };
        wait_until(
            || TcpStream::connect(listen).is_ok(),
            "Postfix's smtpd listens",
        );
        postfix
    }

    /// Submits one message over SMTP; returns Postfix's queue ID.
    pub fn submit(&self, from: &str, to: &[&str], data: &str) -> String {
        let mut c = Client::new(TcpStream::connect(self.addr).unwrap());
        c.hello();
        let id = queued_id(&c.send_mail(from, to, data));
        c.cmd("QUIT");
        id
    }

    /// Waits for the log line saying what became of `rcpt` (`status=sent`, `deferred`,
    /// `bounced`); returns it.
    pub fn wait_status(&self, rcpt: &str) -> String {
        let to = format!(" to=<{rcpt}>,");
        wait_for(super::WAIT, || {
            let log = std::fs::read_to_string(&self.log).unwrap_or_default();
            let line = log
                .lines()
                .find(|l| l.contains(&to) && l.contains(" status="));
            line.map(str::to_string)
                .ok_or_else(|| format!("no status for <{rcpt}> in Postfix's log:\n{log}"))
        })
    }

    /// Postfix's whole log.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// The instance's own settings. `inet_interfaces` must name an interface's address (Postfix
/// refuses another loopback address as "no local interface"): smtpd's own address is in master.cf.
fn main_cf(dir: &Path, queue: &Path, data: &Path, log: &Path) -> String {
    format!(
        "compatibility_level = 3.6\nqueue_directory = {}\ndata_directory = {}\n\
         command_directory = /usr/sbin\ndaemon_directory = /usr/lib/postfix/sbin\n\
         meta_directory = /etc/postfix\nshlib_directory = /usr/lib/postfix\n\
         mail_owner = postfix\nsetgid_group = postdrop\nmyhostname = postfix.qksmtp.test\n\
         mydomain = qksmtp.test\nmyorigin = $myhostname\nmydestination =\n\
         local_recipient_maps =\nlocal_transport = error:local delivery disabled\n\
         alias_maps =\nalias_database =\nrelay_domains =\nrelayhost =\nbiff = no\n\
         append_dot_mydomain = no\ninet_interfaces = 127.0.0.1\ninet_protocols = ipv4\n\
         mynetworks = 127.0.0.0/8\nsmtpd_relay_restrictions = permit_mynetworks, reject\n\
         smtpd_peername_lookup = no\nsmtp_host_lookup = dns\nmaillog_file = {}\n\
         maillog_file_prefixes = {}\n",
        queue.display(),
        data.display(),
        log.display(),
        dir.display()
    )
}

fn master_cf(listen: SocketAddr) -> String {
    let services = [
        "pickup unix n - n 60 1 pickup",
        "cleanup unix n - n - 0 cleanup",
        "qmgr unix n - n 300 1 qmgr",
        "tlsmgr unix - - n 1000? 1 tlsmgr",
        "rewrite unix - - n - - trivial-rewrite",
        "bounce unix - - n - 0 bounce",
        "defer unix - - n - 0 bounce",
        "trace unix - - n - 0 bounce",
        "verify unix - - n - 1 verify",
        "flush unix n - n 1000? 0 flush",
        "proxymap unix - - n - - proxymap",
        "proxywrite unix - - n - 1 proxymap",
        "smtp unix - - n - - smtp",
        "relay unix - - n - - smtp",
        "showq unix n - n - - showq",
        "error unix - - n - - error",
        "retry unix - - n - - error",
        "discard unix - - n - - discard",
        "anvil unix - - n - 1 anvil",
        "scache unix - - n - 1 scache",
        "postlog unix-dgram n - n - 1 postlogd",
    ];
    format!("{listen} inet n - n - - smtpd\n{}\n", services.join("\n"))
}

impl Drop for Postfix {
    fn drop(&mut self) {
        let _ = Command::new("postfix")
            .arg("-c")
            .arg(&self.conf)
            .arg("abort")
            .output();
    }
}
