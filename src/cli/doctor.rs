//! `qksmtp doctor`: runs the checks, prints the report (in words, or JSON with `--json`),
//! exits 1 when any finding is a problem.

use super::args::Doctor;
use crate::config::Config;
use crate::doctor::{self, Ask};

/// The exit code: 0 nothing is a problem, 1 something is (or the checks could not run).
pub fn run(config: &Config, args: &Doctor) -> u8 {
    let ask = Ask {
        sender: args.sender.clone(),
        to: args.to.clone(),
    };
    let report = match doctor::run(config, &ask) {
        Ok(report) => report,
        Err(e) => {
            eprintln!("qksmtp: doctor: {e}");
            return 1;
        }
    };
    if args.json {
        println!("{}", crate::status::api::doctor(&report));
    } else {
        print!("{}", report.text());
    }
    if report.ok() { 0 } else { 1 }
}
