//! SMTP AUTH (RFC 4954) on the server side: when AUTH is offered and allowed, the replies for
//! SASL errors, and checking credentials against `[users]`: password hashes on the verifier
//! threads (`verifier`, `line`), failures paid for per client address (`penalty`). The
//! process has one verifier and one penalty table, shared by every session. The exchange
//! itself is `smtp::sasl` (pure); the session drives it.

mod line;
pub(crate) mod penalty;
mod verifier;

use super::connection::Connection;
use crate::config::Config;
use crate::password::{self, Stored};
use crate::smtp::reply::Reply;
use crate::smtp::sasl::{Credentials, SaslError};
use log::{debug, error, info, warn};
use penalty::{Penalties, Rule};
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};
use verifier::{Busy, Verifier};

/// RFC 4954 §4: a line of the AUTH exchange (the AUTH command with its initial response, or
/// a response to a challenge) may be up to 12288 octets.
pub const MAX_AUTH_LINE: usize = 12288;

/// How long a login may wait for a verifier thread before `454 4.7.0`.
pub const LINE_DEADLINE: Duration = Duration::from_secs(5);

/// The EHLO keyword, when AUTH is offered to this connection.
pub const EHLO_KEYWORD: &str = "AUTH PLAIN LOGIN";

/// AUTH is offered when there are users, and only over TLS or to a client on this computer
/// (passwords never cross a network in clear text).
pub fn offered(config: &Config, conn: &Connection) -> bool {
    !config.users.is_empty() && (conn.tls || conn.peer.ip().to_canonical().is_loopback())
}

/// Whether AUTH may start now (the session has checked it is outside a transaction).
pub fn may_start(config: &Config, conn: &Connection) -> Result<(), Reply> {
    if config.users.is_empty() {
        log::warn!(
            "{}: the client wants to log in (AUTH), but [users] in {} is empty: make a password \
             hash with `qksmtp passwd NAME` and add NAME = HASH there, or set the mail client \
             to send without logging in",
            conn.peer,
            config.path.display()
        );
        Err(Reply::auth_not_available())
    } else if conn.auth_user.is_some() {
        Err(Reply::bad_sequence("already authenticated"))
    } else if !offered(config, conn) {
        Err(Reply::auth_needs_encryption())
    } else {
        Ok(())
    }
}

pub fn sasl_error_reply(e: SaslError) -> Reply {
    match e {
        SaslError::UnknownMechanism => Reply::auth_unknown_mechanism(),
        SaslError::Malformed => Reply::auth_malformed(),
        SaslError::Cancelled => Reply::auth_cancelled(),
    }
}

/// The user's name when the password is right. Otherwise the reply: 535 after a delay that
/// grows with the address's recent failures (the same for an unknown user and a wrong
/// password); 454 when the address failed too often lately, or when the check did not get
/// its turn on a verifier thread within `LINE_DEADLINE`.
pub fn check(config: &Config, addr: IpAddr, creds: &Credentials) -> Result<String, Reply> {
    let started = Instant::now();
    let rule = Rule {
        limit: config.server.auth_fail_limit,
        window: config.server.auth_fail_window,
    };
    let guard = guard();
    if guard
        .penalties()
        .refused_until(addr, rule, started)
        .is_some()
    {
        debug!("{addr}: AUTH refused (too many failed logins)");
        return Err(Reply::auth_refused_for_now());
    }
    let Some(user) = config.users.iter().find(|u| u.name == creds.user) else {
        return Err(guard.failed(addr, rule, creds, started));
    };
    let matches = match password::classify(&user.password) {
        Stored::Hash => guard.verify(addr, &user.password, &creds.password, started),
        Stored::Plain | Stored::Unknown => Ok(password::verify(&user.password, &creds.password)),
    };
    match matches {
        Ok(true) => {
            guard.penalties().succeeded(addr);
            Ok(user.name.clone())
        }
        Ok(false) => Err(guard.failed(addr, rule, creds, started)),
        Err(Busy) => {
            info!("{addr}: AUTH: the password could not be checked within {LINE_DEADLINE:?}");
            Err(Reply::auth_temporary_failure())
        }
    }
}

/// What every session shares for checking passwords.
struct Guard {
    penalties: Arc<Mutex<Penalties>>,
    /// `None` when its threads could not be started: then every check is `Busy`.
    verifier: Option<Verifier>,
}

fn guard() -> &'static Guard {
    static GUARD: OnceLock<Guard> = OnceLock::new();
    GUARD.get_or_init(|| {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let penalties = Arc::new(Mutex::new(Penalties::default()));
        let table = penalties.clone();
        let failures = Arc::new(move |addr| lock(&table).failures(addr));
        let verifier = Verifier::start(cores, failures)
            .inspect_err(|e| error!("cannot start the password verifier threads: {e}"))
            .ok();
        Guard {
            penalties,
            verifier,
        }
    })
}

fn lock(penalties: &Mutex<Penalties>) -> MutexGuard<'_, Penalties> {
    penalties.lock().unwrap_or_else(|p| p.into_inner())
}

impl Guard {
    fn penalties(&self) -> MutexGuard<'_, Penalties> {
        lock(&self.penalties)
    }

    fn verify(&self, addr: IpAddr, stored: &str, pw: &str, started: Instant) -> Result<bool, Busy> {
        let verifier = self.verifier.as_ref().ok_or(Busy)?;
        verifier.verify(addr, stored, pw, started + LINE_DEADLINE)
    }

    /// Counts the failure, says so (and once, that the address is refused from now on), and
    /// returns the 535 when the failure's delay has passed since `started`.
    fn failed(&self, addr: IpAddr, rule: Rule, creds: &Credentials, started: Instant) -> Reply {
        let failure = self.penalties().failed(addr, rule, Instant::now());
        warn!("{addr}: AUTH failed for user {:?}", creds.user);
        if failure.refused_from_now {
            warn!(
                "{addr}: {} failed logins in a row; its logins are refused for {}",
                rule.limit,
                crate::config::value::format_duration(rule.window)
            );
        }
        std::thread::sleep(failure.delay.saturating_sub(started.elapsed()));
        Reply::auth_failed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conn(peer: &str, tls: bool) -> Connection {
        Connection {
            peer: peer.parse().unwrap(),
            helo: Some("c.test".into()),
            esmtp: true,
            relay_allowed: false,
            auth_user: None,
            local_user: None,
            tls,
            tls_used: None,
            errors: 0,
        }
    }

    #[test]
    fn offered_over_tls_or_to_loopback_when_there_are_users() {
        let mut config = crate::config::load::defaults(std::path::Path::new("/x.ini"), "h.test");
        let remote = conn("192.0.2.7:1025", false);
        assert_eq!(
            may_start(&config, &remote),
            Err(Reply::auth_not_available())
        );
        config.users.push(crate::config::User {
            name: "alice".into(),
            password: "pw".into(),
        });
        assert!(!offered(&config, &remote));
        assert_eq!(
            may_start(&config, &remote),
            Err(Reply::auth_needs_encryption())
        );
        assert_eq!(Reply::auth_needs_encryption().code, 538);
        assert!(offered(&config, &conn("192.0.2.7:1025", true)));
        assert!(offered(&config, &conn("127.0.0.2:1025", false)));
        assert!(offered(&config, &conn("[::1]:1025", false)));
        assert_eq!(may_start(&config, &conn("[::1]:1025", false)), Ok(()));
        let mut done = conn("127.0.0.1:1025", false);
        done.auth_user = Some("alice".into());
        assert!(may_start(&config, &done).unwrap_err().code == 503);
    }

    #[test]
    fn check_accepts_the_right_password_delays_failures_then_refuses_the_address() {
        let ini = format!(
            "[server]\nauth_fail_limit = 2\n[users]\nalice = {}\nbob = plain\n",
            password::TEST_HASH
        );
        let path = std::path::Path::new("/q/qksmtp.ini");
        let (config, _) = crate::config::load::parse(&ini, path, "h.test").unwrap();
        let addr: IpAddr = "192.0.2.201".parse().unwrap();
        let other: IpAddr = "192.0.2.202".parse().unwrap();
        let creds = |user: &str, password: &str| Credentials {
            user: user.into(),
            password: password.into(),
        };
        let t = Instant::now();
        assert_eq!(
            check(&config, addr, &creds("alice", "s3cret")),
            Ok("alice".into())
        );
        assert_eq!(
            check(&config, addr, &creds("bob", "plain")),
            Ok("bob".into())
        );
        // (user, password, reply) in a row from one address: an unknown user fails as a wrong
        // password does; the second failure reaches the limit; then even the right password
        // is refused.
        for (user, password, expect) in [
            ("carol", "s3cret", Err(Reply::auth_failed())),
            ("alice", "wrong", Err(Reply::auth_failed())),
            ("alice", "s3cret", Err(Reply::auth_refused_for_now())),
        ] {
            assert_eq!(
                check(&config, addr, &creds(user, password)),
                expect,
                "{user}"
            );
        }
        assert!(t.elapsed() >= penalty::FIRST_DELAY * 3, "1 s then 2 s");
        assert_eq!(
            check(&config, other, &creds("alice", "s3cret")),
            Ok("alice".into())
        );
    }
}
