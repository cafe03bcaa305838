//! A doctor report: when, about what, the findings; in words for people (`text`), as the
//! exit code for scripts (`ok`). The JSON form is the status API's (`status::api::doctor`).

use super::judge::{Finding, Verdict};
use crate::time::Timestamp;
use std::fmt::Write;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub at: Timestamp,
    pub sender: Option<String>,
    /// The recipient domains whose MX hosts were tried.
    pub to: Vec<String>,
    pub findings: Vec<Finding>,
}

impl Report {
    /// True when nothing is a problem (warnings allowed): exit code 0.
    pub fn ok(&self) -> bool {
        self.findings.iter().all(|f| f.verdict != Verdict::Problem)
    }

    pub fn count(&self, verdict: Verdict) -> usize {
        self.findings
            .iter()
            .filter(|f| f.verdict == verdict)
            .count()
    }

    /// One paragraph per finding: `problem  SPF: ...` then the fix, indented.
    pub fn text(&self) -> String {
        let mut out = format!(
            "qksmtp doctor, {}: sender domain {}, recipient domain(s) {}\n\n",
            self.at.iso(),
            self.sender.as_deref().unwrap_or("unknown"),
            if self.to.is_empty() {
                "none".to_string()
            } else {
                self.to.join(", ")
            }
        );
        for f in &self.findings {
            let _ = writeln!(out, "{:<8} {}: {}", f.verdict.name(), f.check, f.what);
            if let Some(fix) = &f.fix {
                let mut lines = fix.lines();
                let _ = writeln!(out, "         fix: {}", lines.next().unwrap_or(""));
                for line in lines {
                    match line.is_empty() {
                        true => out.push('\n'),
                        false => {
                            let _ = writeln!(out, "              {line}");
                        }
                    }
                }
            }
        }
        let _ = writeln!(
            out,
            "\n{} problem(s), {} warning(s), {} ok",
            self.count(Verdict::Problem),
            self.count(Verdict::Warning),
            self.count(Verdict::Ok)
        );
        out
    }
}
