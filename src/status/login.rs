//! Who may see the page at all when `[server] status_password` is set: a browser (or curl)
//! that gives the password by HTTP Basic authentication (any user name), or a command of this
//! program that gives the per-process token from `spool/.status` (readable by the server's
//! user only) in `X-Qksmtp-Token`. Anyone else gets `401` and nothing else: not the page, so
//! not the action token in it either.
//!
//! HTTP Basic rather than a login form with a cookie: the browser asks and remembers by
//! itself (no session store, no login page, no cookie to protect against cross-site use),
//! curl says `-u`, and the page's own requests (fetch, the event stream) carry it without a
//! line of script. The password crosses the connection readable, which is why the page is
//! for loopback (`status_allow`); a proxy with TLS in front is the way to reach it from afar.
//!
//! The password is written as `qksmtp passwd` makes it (an Argon2 hash; plain text is taken
//! with a warning from `check`). A right answer is remembered (its SHA-256, with the setting
//! it was checked against), so that the page's many requests cost one Argon2 check; checks
//! run one at a time, so that guesses cannot take more than one check's memory.
//!
//! A wrong password costs its guesser time: the `401` waits 1 s after the first failure from
//! an address, doubling up to 8 s (the SMTP AUTH penalty table, `server::auth::penalty`:
//! bounded, forgotten after a right password or 15 minutes), and each failure is logged.

use super::http::{Request, Response};
use super::route::TOKEN_HEADER;
use crate::server::auth::penalty::{Penalties, Rule};
use base64ct::{Base64, Encoding};
use sha2::{Digest, Sha256};
use std::net::IpAddr;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// The realm the browser shows in its password prompt.
pub const CHALLENGE: &str = "Basic realm=\"qksmtp status page\", charset=\"UTF-8\"";

/// Wrong passwords from one address are counted in a row within this long of each other;
/// the page never refuses an address outright (its owner could not get in either).
const PENALTY: Rule = Rule {
    limit: 0,
    window: Duration::from_secs(15 * 60),
};

/// The remembered right answer, the one Argon2 check at a time, and the wrong guesses.
#[derive(Default)]
pub struct Login {
    known: Mutex<Option<[u8; 32]>>,
    checking: Mutex<()>,
    penalties: Mutex<Penalties>,
}

/// A request refused: the `401`, and how long after `now` it may be answered.
pub struct Refused {
    pub response: Response,
    pub delay: Duration,
}

impl Login {
    /// `Ok` when the request may go on: no password set, the token, or the password; else
    /// the `401`, after the address's penalty for a wrong password.
    pub fn check(
        &self,
        req: &Request,
        password: Option<&str>,
        token: &str,
    ) -> Result<(), Response> {
        let started = Instant::now();
        self.check_at(req, password, token, started)
            .map_err(|refused| {
                std::thread::sleep(refused.delay.saturating_sub(started.elapsed()));
                refused.response
            })
    }

    /// `check` at `now`, without the wait (which the refusal carries).
    pub fn check_at(
        &self,
        req: &Request,
        password: Option<&str>,
        token: &str,
        now: Instant,
    ) -> Result<(), Refused> {
        let Some(stored) = password else {
            return Ok(());
        };
        let refused = |delay| Refused {
            response: refusal(),
            delay,
        };
        if req
            .header(TOKEN_HEADER)
            .is_some_and(|t| super::route::constant_time_eq(t.as_bytes(), token.as_bytes()))
        {
            return Ok(());
        }
        let given = req.header("authorization").and_then(basic_password);
        match given {
            Some(given) if self.right(stored, &given) => {
                self.penalties().succeeded(req.peer);
                Ok(())
            }
            Some(_) => Err(refused(self.failed(req.peer, now))),
            // No password given (a browser's first request, before it asks): no guess.
            None => Err(refused(Duration::ZERO)),
        }
    }

    fn penalties(&self) -> MutexGuard<'_, Penalties> {
        self.penalties.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Counts a wrong password from `peer` and says so; how long its answer waits.
    fn failed(&self, peer: IpAddr, now: Instant) -> Duration {
        let mut penalties = self.penalties();
        let delay = penalties.failed(peer, PENALTY, now).delay;
        let n = penalties.failures(peer);
        log::warn!(
            "{peer}: wrong status_password ({n} in a row); the answer waits {}s",
            delay.as_secs()
        );
        delay
    }

    fn right(&self, stored: &str, given: &str) -> bool {
        let key: [u8; 32] = Sha256::new()
            .chain_update(stored.as_bytes())
            .chain_update([0])
            .chain_update(given.as_bytes())
            .finalize()
            .into();
        let known = |l: &Mutex<Option<[u8; 32]>>| {
            let guard = l.lock().unwrap_or_else(|p| p.into_inner());
            guard.is_some_and(|k| super::route::constant_time_eq(&k, &key))
        };
        if known(&self.known) {
            return true;
        }
        let _one = self.checking.lock().unwrap_or_else(|p| p.into_inner());
        if known(&self.known) {
            return true;
        }
        let right = crate::password::verify(stored, given);
        if right {
            *self.known.lock().unwrap_or_else(|p| p.into_inner()) = Some(key);
        }
        right
    }
}

/// `401` with the challenge that makes a browser ask for the password.
pub fn refusal() -> Response {
    Response::error(
        401,
        "the status page needs its password (status_password in qksmtp.ini)",
    )
    .challenge(CHALLENGE)
}

/// The password of an `Authorization: Basic` value (`user:password`, base64): what follows
/// the first colon. `None` for another scheme or a value that does not decode.
pub fn basic_password(value: &str) -> Option<String> {
    let (scheme, encoded) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = Base64::decode_vec(encoded.trim()).ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (_, password) = text.split_once(':')?;
    Some(password.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_values() {
        // (Authorization value, the password in it)
        let table: &[(&str, Option<&str>)] = &[
            ("Basic YWRtaW46c2VjcmV0", Some("secret")), // admin:secret
            ("basic YWRtaW46c2VjcmV0", Some("secret")),
            ("Basic OnNlY3JldA==", Some("secret")), // :secret
            ("Basic YTpiOmM=", Some("b:c")),        // a:b:c
            ("Basic YWRtaW4=", None),               // admin (no colon)
            ("Bearer YWRtaW46c2VjcmV0", None),
            ("Basic !!!", None),
            ("Basic", None),
            ("", None),
        ];
        for &(value, want) in table {
            assert_eq!(basic_password(value).as_deref(), want, "{value}");
        }
    }

    #[test]
    fn the_password_or_the_token_lets_in_and_nothing_else() {
        let peer = "127.0.0.1".parse().unwrap();
        let hash = crate::password::hash("s3cret").unwrap();
        let basic = |p: &str| {
            format!(
                "Basic {}",
                Base64::encode_string(format!("u:{p}").as_bytes())
            )
        };
        /// (password setting, headers, let in)
        type Case<'a> = (Option<&'a str>, Vec<(&'a str, String)>, bool);
        let table: Vec<Case> = vec![
            (None, vec![], true),
            (Some(&hash), vec![], false),
            (Some(&hash), vec![("Authorization", basic("s3cret"))], true),
            (Some(&hash), vec![("Authorization", basic("s3cret"))], true),
            (Some(&hash), vec![("Authorization", basic("wrong"))], false),
            (Some(&hash), vec![(TOKEN_HEADER, "tok".into())], true),
            (Some(&hash), vec![(TOKEN_HEADER, "tok2".into())], false),
            (Some("plain"), vec![("Authorization", basic("plain"))], true),
            (
                Some("plain"),
                vec![("Authorization", basic("s3cret"))],
                false,
            ),
        ];
        let login = Login::default();
        for (password, headers, want) in table {
            let mut req = Request::new("GET", "/", peer);
            for (name, value) in &headers {
                req = req.with(name, value);
            }
            let got = login
                .check_at(&req, password, "tok", Instant::now())
                .map_err(|r| r.response);
            assert_eq!(got.is_ok(), want, "{password:?} {headers:?}");
            if let Err(refused) = got {
                assert_eq!(refused.status, 401);
                assert_eq!(refused.challenge, Some(CHALLENGE));
            }
        }
    }

    #[test]
    fn wrong_passwords_cost_their_address_more_time_until_a_right_one_or_a_quiet_while() {
        let hash = crate::password::hash("s3cret").unwrap();
        let a: IpAddr = "127.0.0.2".parse().unwrap();
        let b: IpAddr = "::1".parse().unwrap();
        let basic = |p: &str| {
            format!(
                "Basic {}",
                Base64::encode_string(format!("u:{p}").as_bytes())
            )
        };
        // (seconds, from, password given (None: no Authorization), let in, delay in seconds)
        #[rustfmt::skip]
        let table: &[(u64, IpAddr, Option<&str>, bool, u64)] = &[
            (0, a, None, false, 0),            // the browser's first request: no guess
            (1, a, Some("guess1"), false, 1),
            (2, a, Some("guess2"), false, 2),
            (3, b, Some("guess1"), false, 1),  // another address: its own count
            (4, a, Some("guess3"), false, 4),
            (5, a, Some("guess4"), false, 8),
            (6, a, Some("guess5"), false, 8),  // at most 8 s
            (7, a, None, false, 0),
            (8, a, Some("s3cret"), true, 0),   // a right one forgets the failures
            (9, a, Some("guess6"), false, 1),
            (10, b, Some("guess2"), false, 2),
            (10 + 15 * 60, b, Some("guess3"), false, 1), // a quiet quarter hour: forgotten
        ];
        let t0 = Instant::now();
        let login = Login::default();
        for (i, &(at, peer, given, want, delay)) in table.iter().enumerate() {
            let mut req = Request::new("GET", "/", peer);
            if let Some(p) = given {
                req = req.with("Authorization", &basic(p));
            }
            let now = t0 + Duration::from_secs(at);
            match login.check_at(&req, Some(&hash), "tok", now) {
                Ok(()) => assert!(want, "row {i} let in"),
                Err(refused) => {
                    assert!(!want, "row {i} refused");
                    assert_eq!(refused.delay, Duration::from_secs(delay), "row {i}");
                    assert_eq!(refused.response.status, 401, "row {i}");
                }
            }
        }
    }
}
