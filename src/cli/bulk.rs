//! `qksmtp retry|hold|release|delete` on many messages (`--all`, `--domain`, `--from`,
//! `--older-than`): counted first, then carried out through the API when the server runs or
//! on the spool when it is stopped, with the one matcher of `queue::select` either way.
//!
//! Deleting is the one verb that cannot be undone, so `delete` says how many messages it
//! would take and asks on a terminal; without a terminal (cron, scripts, a pipe) it needs
//! `--yes`, so that a typo in a script never empties the queue, and a script that means it
//! says so. The other verbs are undone by their opposite (hold/release) or harmless (retry)
//! and act at once. `--dry-run` lists the messages and changes nothing. Only mail that had
//! arrived when the command was given is taken: mail arriving while it asks is not.

use super::args::BulkArgs;
use super::commands::{Holder, NO_API, who_holds};
use crate::config::Config;
use crate::queue::select::{Bulk, LISTED, Taken, Verb};
use crate::spool::envelope::{Envelope, RecipientState};
use crate::spool::id::MessageId;
use crate::spool::{Spool, StateWriter};
use crate::status::client;
use crate::time::Timestamp;
use std::io::{BufRead, IsTerminal, Write};
use std::path::Path;

/// IDs shown before asking whether to delete.
const SHOWN: usize = 10;

/// Carries out a bulk command; the exit code (0 done, even when nothing matched; 1 refused).
pub fn run(config: &Config, args: &BulkArgs) -> u8 {
    let dir = &config.server.spool_dir;
    let now = Timestamp::now();
    let mut order = Bulk {
        verb: args.verb,
        selector: args.selector.clone(),
        dry_run: true,
    };
    order.selector.arrived_by = Some(now);
    let counted = match carry_out(dir, &order, now) {
        Ok(taken) => taken,
        Err(e) => {
            eprintln!("qksmtp: {e}");
            return 1;
        }
    };
    let verb = args.verb;
    if args.dry_run {
        for id in &counted.ids {
            println!("{id}");
        }
        if counted.count > counted.ids.len() {
            println!("... and {} more", counted.count - counted.ids.len());
        }
        println!(
            "qksmtp: {} message(s) would be {} (dry run: nothing changed)",
            counted.count,
            verb.done()
        );
        return 0;
    }
    if counted.count == 0 {
        println!("qksmtp: no message to be {}", verb.done());
        return 0;
    }
    if verb == Verb::Delete && !args.yes && !confirmed(&counted) {
        return 1;
    }
    order.dry_run = false;
    match carry_out(dir, &order, now) {
        Ok(done) => {
            println!("qksmtp: {} message(s) {}", done.count, verb.done());
            0
        }
        Err(e) => {
            eprintln!("qksmtp: {e}");
            1
        }
    }
}

/// Asks on the terminal whether to delete what was counted; without one, says to add --yes.
fn confirmed(counted: &Taken) -> bool {
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        eprintln!(
            "qksmtp: this would delete {} message(s); nothing is deleted without a terminal to ask on: \
             add --yes to delete them (--dry-run lists them)",
            counted.count
        );
        return false;
    }
    let shown: Vec<&str> = counted.ids.iter().take(SHOWN).map(|i| i.as_str()).collect();
    let more = match counted.count > shown.len() {
        true => format!(" and {} more", counted.count - shown.len()),
        false => String::new(),
    };
    print!(
        "Delete {} message(s) ({}{more})? This cannot be undone. [y/N] ",
        counted.count,
        shown.join(" ")
    );
    let _ = std::io::stdout().flush();
    let mut answer = String::new();
    let _ = stdin.lock().read_line(&mut answer);
    let yes = matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes");
    if !yes {
        println!("qksmtp: nothing deleted");
    }
    yes
}

/// The order through the running server's API, or on the spool of a stopped one.
fn carry_out(dir: &Path, order: &Bulk, now: Timestamp) -> Result<Taken, String> {
    match who_holds(dir)? {
        Holder::Stopped(_lock) => offline(dir, order, now),
        Holder::Running(status) => {
            let method = if order.dry_run { "GET" } else { "POST" };
            let path = format!(
                "/api/bulk/{}?{}",
                order.verb.name(),
                order.selector.to_query()
            );
            match client::call(&status, method, &path) {
                Ok((200, body)) => taken_of(&body),
                Ok((code, body)) => Err(format!(
                    "the server refused ({code}): {}",
                    client::error_text(&body)
                )),
                Err(e) => Err(format!(
                    "the server holds the spool but its API at {} does not answer: {e}",
                    status.addr
                )),
            }
        }
        Holder::NoApi if order.dry_run => offline(dir, order, now),
        Holder::NoApi => Err(NO_API.into()),
    }
}

/// `{"count": N, "ids": ["..", ..]}` read back (the API's answer, written by our server).
fn taken_of(body: &str) -> Result<Taken, String> {
    let bad = || format!("unexpected answer from the server: {body}");
    let count = body
        .split_once("\"count\":")
        .and_then(|(_, rest)| {
            let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
            digits.parse().ok()
        })
        .ok_or_else(bad)?;
    let list = body
        .split_once("\"ids\":[")
        .and_then(|(_, rest)| rest.split_once(']'))
        .ok_or_else(bad)?
        .0;
    let ids = list
        .split(',')
        .filter_map(|s| MessageId::parse(s.trim().trim_matches('"')))
        .collect();
    Ok(Taken { count, ids })
}

/// A stopped server's spool: every envelope read, the matching ones changed.
fn offline(dir: &Path, order: &Bulk, now: Timestamp) -> Result<Taken, String> {
    let spool = Spool::open(dir).map_err(|e| format!("cannot open the spool: {e}"))?;
    let scan = spool
        .scan(false)
        .map_err(|e| format!("cannot read the spool: {e}"))?;
    let mut writer = spool.state_writer();
    let mut taken = Taken::default();
    for mut env in scan.envelopes {
        if !(order.verb.applies(&env) && order.selector.matches(&env, &[], now)) {
            continue;
        }
        if !order.dry_run {
            change(&mut writer, &mut env, order.verb, now)
                .map_err(|e| format!("cannot update {}: {e}", env.id))?;
        }
        taken.count += 1;
        if taken.ids.len() < LISTED {
            taken.ids.push(env.id);
        }
    }
    Ok(taken)
}

/// One verb on one message of a stopped server's spool.
pub(crate) fn change(
    writer: &mut StateWriter,
    env: &mut Envelope,
    verb: Verb,
    now: Timestamp,
) -> std::io::Result<()> {
    match verb {
        Verb::Delete => writer.remove(&env.id, false),
        Verb::Hold | Verb::Release => {
            env.held = verb == Verb::Hold;
            writer.rewrite(env)
        }
        Verb::Retry => {
            for r in &mut env.recipients {
                if r.state == RecipientState::Pending {
                    r.next_try = Some(now);
                }
            }
            writer.rewrite(env)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_apis_answer_reads_back() {
        let body = r#"{"verb":"delete","dry_run":true,"count":1200,"ids":["0194F2A3B4C5D001","0194F2A3B4C5D002"]}"#;
        let taken = taken_of(body).unwrap();
        assert_eq!(taken.count, 1200);
        assert_eq!(taken.ids.len(), 2);
        let none = taken_of(r#"{"count":0,"ids":[]}"#).unwrap();
        assert_eq!(none, Taken::default());
        assert!(taken_of("<html>").is_err());
    }
}
