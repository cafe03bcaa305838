//! The verdicts of `qksmtp doctor`, made from `Facts` alone: one `Finding` per check, each
//! with what it means and the fix. Pure.

use super::facts::{DkimFacts, Facts, MxProbes, ProbeOutcome, RelayFacts};
use super::spf::SpfResult;
use crate::dns::DnsError;
use crate::transcript::StepKind;
use std::net::IpAddr;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Ok,
    Warning,
    Problem,
}

impl Verdict {
    pub fn name(self) -> &'static str {
        match self {
            Verdict::Ok => "ok",
            Verdict::Warning => "warning",
            Verdict::Problem => "problem",
        }
    }
}

/// One line of the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// What was checked: `port 25`, `PTR`, `SPF`, `DKIM s._domainkey.d`, `relay NAME`...
    pub check: String,
    pub verdict: Verdict,
    /// What was found and what it means, in plain words.
    pub what: String,
    /// What to do about it (lines to paste included), when there is something to do.
    pub fix: Option<String>,
}

fn finding(check: &str, verdict: Verdict, what: String, fix: Option<String>) -> Finding {
    Finding {
        check: check.to_string(),
        verdict,
        what,
        fix,
    }
}

/// Every verdict, in the order a person fixes things: the network, the address, then the
/// domain's records, then the relays.
pub fn judge(f: &Facts) -> Vec<Finding> {
    let mut out = vec![port25(&f.port25)];
    let (address, said) = public_address(f);
    out.push(said);
    out.extend(reverse_dns(f, address));
    match &f.sender {
        None => out.push(finding(
            "sender domain",
            Verdict::Warning,
            "no sender domain given, none in [dkim:...] and none in helo_name: SPF, DKIM and \
             DMARC were not checked"
                .into(),
            Some("name it: qksmtp doctor example.com".into()),
        )),
        Some(sender) => {
            out.push(spf(f, sender, address));
            out.extend(dkim(f, sender));
            out.extend(dmarc(f, sender));
        }
    }
    out.extend(f.relays.iter().map(relay));
    out
}

/// The address to check PTR and SPF against: the configured one, else the one an MX saw.
pub fn address(f: &Facts) -> Option<IpAddr> {
    f.configured_address.or_else(|| seen(f).map(|(_, ip)| ip))
}

/// The first address an MX said it saw, with that MX's name.
fn seen(f: &Facts) -> Option<(&str, IpAddr)> {
    f.port25
        .iter()
        .filter_map(|d| d.hosts.as_ref().ok())
        .flatten()
        .find_map(|p| match p.outcome {
            ProbeOutcome::Answered { saw: Some(ip), .. } => Some((p.host.as_str(), ip)),
            _ => None,
        })
}

const RELAY_LINES: &str = "[relay:isp]\nhost = smtp.your-provider.example\nport = 587\n\
     tls = starttls\nauth = login\nusername = you@your-provider.example\npassword = ...\n\n\
     [domain:*]\ndirect_attempts = 0\nrelay_attempts = 8";

fn port25(domains: &[MxProbes]) -> Finding {
    let check = "port 25";
    if domains.is_empty() {
        return finding(
            check,
            Verdict::Warning,
            "not checked: no recipient domain given and none in [domain:...]".into(),
            Some("name one: qksmtp doctor --to gmail.com".into()),
        );
    }
    let probes: Vec<_> = domains
        .iter()
        .filter_map(|d| d.hosts.as_ref().ok())
        .flatten()
        .collect();
    let answered = probes
        .iter()
        .find(|p| matches!(p.outcome, ProbeOutcome::Answered { .. }));
    if let Some(p) = answered {
        return finding(
            check,
            Verdict::Ok,
            format!(
                "{} [{}] answered on port 25: this network lets mail out directly",
                p.host, p.addr
            ),
            None,
        );
    }
    if probes.is_empty() {
        let why: Vec<String> = domains
            .iter()
            .filter_map(|d| d.hosts.as_ref().err().map(|e| e.to_string()))
            .collect();
        return finding(
            check,
            Verdict::Warning,
            format!("not checked: no MX host found ({})", why.join("; ")),
            Some("check the domain name, or the DNS (dns_server)".into()),
        );
    }
    let how: Vec<String> = probes
        .iter()
        .map(|p| {
            let what = match &p.outcome {
                ProbeOutcome::Refused(e) => format!("refused ({e})"),
                ProbeOutcome::Silent(e) => format!("silent ({e})"),
                ProbeOutcome::Other(e) => e.clone(),
                ProbeOutcome::Answered { .. } => "answered".into(),
            };
            format!("{} [{}]: {what}", p.host, p.addr)
        })
        .collect();
    let blocked = probes.iter().all(|p| {
        matches!(
            p.outcome,
            ProbeOutcome::Refused(_) | ProbeOutcome::Silent(_)
        )
    });
    let what = if blocked {
        format!(
            "your network blocks port 25: no MX host answered ({}); direct delivery cannot \
             work from here",
            how.join(", ")
        )
    } else {
        format!("no MX host would talk to us: {}", how.join(", "))
    };
    finding(
        check,
        Verdict::Problem,
        what,
        Some(format!(
            "use a relay (your provider's submission server) and send everything through \
             it; add to qksmtp.ini:\n{RELAY_LINES}"
        )),
    )
}

/// The public address line, and the address itself.
fn public_address(f: &Facts) -> (Option<IpAddr>, Finding) {
    let check = "public address";
    let fix =
        "set it: [delivery] public_address = YOUR.PUBLIC.IP (your router or provider shows it)";
    let said = match (f.configured_address, seen(f)) {
        (Some(ip), Some((mx, other))) if other != ip => finding(
            check,
            Verdict::Warning,
            format!("public_address is {ip}, but {mx} saw this machine as {other}"),
            Some(format!("correct it: [delivery] public_address = {other}")),
        ),
        (Some(ip), _) => finding(check, Verdict::Ok, format!("{ip} (public_address)"), None),
        (None, Some((mx, ip))) => finding(
            check,
            Verdict::Ok,
            format!("{ip} (as {mx} saw this machine)"),
            None,
        ),
        (None, None) => finding(
            check,
            Verdict::Warning,
            "unknown: public_address is not set and no MX host said what it saw; PTR and SPF \
             cannot be checked against it"
                .into(),
            Some(fix.into()),
        ),
    };
    (address(f), said)
}

/// The PTR line and the HELO name line.
fn reverse_dns(f: &Facts, address: Option<IpAddr>) -> Vec<Finding> {
    let (Some(ip), Some(ptr)) = (address, &f.ptr) else {
        return Vec::new();
    };
    let helo = &f.helo_name;
    let names = match ptr {
        Err(e @ DnsError::Temporary { .. }) => {
            let ptr = finding(
                "PTR",
                Verdict::Warning,
                format!("could not look up the PTR of {ip}: {e}"),
                Some("try again later, or check dns_server".into()),
            );
            return vec![ptr, helo_line(f, ip, None)];
        }
        Err(_) => Vec::new(),
        Ok(names) => names.clone(),
    };
    if names.is_empty() {
        return vec![
            finding(
                "PTR",
                Verdict::Problem,
                format!(
                    "{ip} has no PTR (reverse DNS) record: Gmail, Outlook and most providers \
                     refuse or spam-folder mail from such addresses"
                ),
                Some(format!(
                    "ask whoever gives you {ip} (your ISP or host) to set its PTR to {helo}, \
                     or use a relay"
                )),
            ),
            helo_line(f, ip, None),
        ];
    }
    let confirmed = f
        .ptr_forward
        .iter()
        .find(|(_, ips)| ips.as_ref().is_ok_and(|ips| ips.contains(&ip)))
        .map(|(name, _)| name.clone());
    let ptr_line = match &confirmed {
        Some(name) => finding(
            "PTR",
            Verdict::Ok,
            format!("{ip} is {name}, which points back to {ip} (forward-confirmed)"),
            None,
        ),
        None => finding(
            "PTR",
            Verdict::Problem,
            format!(
                "{ip} is {}, which does not point back to {ip}: receivers see a forged-looking \
                 name",
                names.join(", ")
            ),
            Some(format!("publish {}. IN A {ip} (or fix the PTR)", names[0])),
        ),
    };
    vec![
        ptr_line,
        helo_line(f, ip, confirmed.or(names.first().cloned())),
    ]
}

/// Whether `helo_name` resolves to the public address (and matches its PTR name).
fn helo_line(f: &Facts, ip: IpAddr, ptr_name: Option<String>) -> Finding {
    let helo = &f.helo_name;
    let check = "HELO name";
    let resolves = f.helo_addresses.as_ref().is_ok_and(|ips| ips.contains(&ip));
    if !resolves {
        let found = match &f.helo_addresses {
            Ok(ips) => format!(
                "it resolves to {}",
                ips.iter()
                    .map(|i| i.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Err(e) => e.to_string(),
        };
        let fix = match &ptr_name {
            Some(name) => {
                format!("set [delivery] helo_name = {name}, or publish {helo}. IN A {ip}")
            }
            None => format!("publish {helo}. IN A {ip}, and a PTR of {ip} to {helo}"),
        };
        return finding(
            check,
            Verdict::Problem,
            format!(
                "helo_name {helo} does not resolve to {ip} ({found}): many receivers refuse such greetings"
            ),
            Some(fix),
        );
    }
    match ptr_name {
        Some(name) if !name.eq_ignore_ascii_case(helo) => finding(
            check,
            Verdict::Warning,
            format!(
                "{helo} resolves to {ip}, but the PTR of {ip} is {name}; some receivers compare the two"
            ),
            Some(format!("set [delivery] helo_name = {name}")),
        ),
        _ => finding(check, Verdict::Ok, format!("{helo} resolves to {ip}"), None),
    }
}

fn spf(f: &Facts, sender: &str, address: Option<IpAddr>) -> Finding {
    let check = "SPF";
    let mechanism = match address {
        Some(IpAddr::V6(ip)) => format!("ip6:{ip}"),
        Some(ip) => format!("ip4:{ip}"),
        None => "ip4:YOUR.PUBLIC.IP".into(),
    };
    let publish = format!("publish {sender}. IN TXT \"v=spf1 {mechanism} ~all\"");
    let Some(eval) = &f.spf else {
        return finding(check, Verdict::Warning, "not checked".into(), None);
    };
    let record = eval.record.as_deref().unwrap_or("");
    let at = address.map_or("this machine".to_string(), |ip| ip.to_string());
    let add = format!("add {mechanism} to it, before the all: {record}");
    let (verdict, what, fix) = match &eval.result {
        None if eval.record.is_some() => (
            Verdict::Warning,
            format!(
                "{sender} has an SPF record ({record}); whether it lets this machine send is unknown (no public address)"
            ),
            None,
        ),
        None | Some(SpfResult::None) => (
            Verdict::Problem,
            format!(
                "{sender} has no SPF record: receivers cannot tell that {at} may send its mail"
            ),
            Some(publish),
        ),
        Some(SpfResult::Pass) => (
            Verdict::Ok,
            format!(
                "{sender} authorizes {at} ({})",
                eval.matched.as_deref().unwrap_or("pass")
            ),
            None,
        ),
        Some(r @ (SpfResult::Fail | SpfResult::SoftFail)) => (
            Verdict::Problem,
            format!(
                "{sender}'s SPF record does not authorize {at} ({}: {}): receivers refuse or \
                 spam-folder its mail",
                r.name(),
                eval.matched.as_deref().unwrap_or("")
            ),
            Some(add),
        ),
        Some(SpfResult::Neutral) => (
            Verdict::Warning,
            format!("{sender}'s SPF record says nothing about {at} (neutral)"),
            Some(add),
        ),
        Some(SpfResult::PermError(e)) => (
            Verdict::Problem,
            format!("{sender}'s SPF record is broken: {e}; receivers treat it as a failure"),
            Some(format!("correct the record, e.g. {publish}")),
        ),
        Some(SpfResult::TempError(e)) => (
            Verdict::Warning,
            format!("could not evaluate SPF of {sender}: {e}"),
            Some("try again later, or check dns_server".into()),
        ),
    };
    finding(check, verdict, what, fix)
}

/// The `p=` value of a TXT record of tags (`v=DKIM1; k=rsa; p=...`), whitespace removed.
fn tag(record: &str, name: &str) -> Option<String> {
    record.split(';').find_map(|t| {
        let (k, v) = t.split_once('=')?;
        (k.trim().eq_ignore_ascii_case(name))
            .then(|| v.chars().filter(|c| !c.is_whitespace()).collect())
    })
}

fn dkim(f: &Facts, sender: &str) -> Vec<Finding> {
    let mut out: Vec<Finding> = f.dkim.iter().map(dkim_key).collect();
    if !f.dkim.iter().any(|d| covers(d, sender)) {
        out.push(finding(
            "DKIM",
            Verdict::Problem,
            format!("mail from {sender} is not DKIM-signed: no [dkim:...] section covers it"),
            Some(format!(
                "qksmtp dkim-keygen {sender}, then paste the section it prints into qksmtp.ini \
                 and publish the TXT record it prints"
            )),
        ));
    }
    out
}

/// Whether the section signs mail from `sender`.
fn covers(d: &DkimFacts, sender: &str) -> bool {
    d.section == "*" || sender == d.section || sender.ends_with(&format!(".{}", d.section))
}

fn dkim_key(d: &DkimFacts) -> Finding {
    let name = format!("{}._domainkey.{}", d.selector, d.signs_as);
    let check = format!("DKIM {name}");
    let expected = match &d.expected {
        Ok(record) => record,
        Err(e) => {
            return finding(
                &check,
                Verdict::Problem,
                format!("the key cannot be used: {e}; mail goes out unsigned"),
                Some("see qksmtp check".into()),
            );
        }
    };
    let publish = format!("publish {name}. IN TXT \"{expected}\" (split into 255-byte strings)");
    let records = match &d.published {
        Err(e @ DnsError::Temporary { .. }) => {
            return finding(
                &check,
                Verdict::Warning,
                format!("could not look it up: {e}"),
                None,
            );
        }
        Err(_) => Vec::new(),
        Ok(records) => records.clone(),
    };
    let want = tag(expected, "p");
    let keys: Vec<Option<String>> = records.iter().map(|r| tag(r, "p")).collect();
    let (verdict, what, fix) = if records.is_empty() {
        (
            Verdict::Problem,
            "no TXT record: receivers cannot verify the signature, so it counts as none".into(),
            Some(publish),
        )
    } else if keys.contains(&want) {
        (
            Verdict::Ok,
            "published, and it is the public key of the configured private key".into(),
            None,
        )
    } else if keys.iter().any(|k| k.as_deref() == Some("")) {
        (
            Verdict::Problem,
            "published with an empty p=: the key is revoked".into(),
            Some(publish),
        )
    } else {
        (
            Verdict::Problem,
            "the published public key is not the configured key's: every signature fails".into(),
            Some(publish),
        )
    };
    finding(&check, verdict, what, fix)
}

/// Whether a DKIM key that signs `sender`'s mail is published correctly, and its domain.
fn dkim_passes<'a>(f: &'a Facts, sender: &str) -> Vec<&'a str> {
    f.dkim
        .iter()
        .filter(|d| covers(d, sender) && dkim_key(d).verdict == Verdict::Ok)
        .map(|d| d.signs_as.as_str())
        .collect()
}

/// The last two labels: a stand-in for the organizational domain (RFC 7489 §3.2), without
/// the public suffix list.
pub fn organizational(domain: &str) -> &str {
    let mut dots = domain.rmatch_indices('.');
    match (dots.next(), dots.next()) {
        (Some(_), Some((at, _))) => &domain[at + 1..],
        _ => domain,
    }
}

fn dmarc(f: &Facts, sender: &str) -> Vec<Finding> {
    let Some((name, answer)) = &f.dmarc else {
        return Vec::new();
    };
    let check = "DMARC";
    let publish = format!(
        "publish _dmarc.{sender}. IN TXT \"v=DMARC1; p=none; rua=mailto:postmaster@{sender}\" \
         (p=quarantine or p=reject once all your mail passes)"
    );
    let records: Vec<&String> = match answer {
        Err(e @ DnsError::Temporary { .. }) => {
            let what = format!("could not look up {name}: {e}");
            return vec![finding(check, Verdict::Warning, what, None)];
        }
        Err(_) => Vec::new(),
        Ok(r) => r
            .iter()
            .filter(|r| r.trim_start().to_ascii_lowercase().starts_with("v=dmarc1"))
            .collect(),
    };
    let policy = records.first().and_then(|r| tag(r, "p"));
    let record_line = match (records.len(), policy.as_deref()) {
        (0, _) => finding(
            check,
            Verdict::Warning,
            format!(
                "no DMARC record at _dmarc.{sender}: Gmail and Yahoo require one from bulk senders"
            ),
            Some(publish),
        ),
        (1, Some(p @ ("none" | "quarantine" | "reject"))) => {
            let means = match p {
                "none" => "receivers only report, they do not act on failures",
                "quarantine" => "receivers spam-folder mail that fails DMARC",
                _ => "receivers refuse mail that fails DMARC",
            };
            finding(check, Verdict::Ok, format!("{name}: p={p}: {means}"), None)
        }
        (1, _) => finding(
            check,
            Verdict::Problem,
            format!("{name} has no valid p= policy: receivers ignore the record"),
            Some(publish),
        ),
        (n, _) => finding(
            check,
            Verdict::Problem,
            format!("{name} has {n} DMARC records: receivers ignore them all"),
            Some("keep exactly one".into()),
        ),
    };
    let strict = |t: &str| records.first().and_then(|r| tag(r, t)).as_deref() == Some("s");
    vec![record_line, alignment(f, sender, strict("adkim"))]
}

/// Whether mail From: `sender` passes DMARC: SPF passes for it (MAIL FROM is the same
/// domain), or a published DKIM key of an aligned domain signs it.
fn alignment(f: &Facts, sender: &str, strict_dkim: bool) -> Finding {
    let check = "DMARC alignment";
    let spf_ok = f
        .spf
        .as_ref()
        .is_some_and(|e| e.result == Some(SpfResult::Pass));
    let aligned = |d: &&str| match strict_dkim {
        true => *d == sender,
        false => organizational(d) == organizational(sender),
    };
    let dkim_ok: Vec<&str> = dkim_passes(f, sender).into_iter().filter(aligned).collect();
    let mut by = Vec::new();
    if spf_ok {
        by.push(format!("SPF ({sender})"));
    }
    by.extend(dkim_ok.iter().map(|d| format!("DKIM (d={d})")));
    if by.is_empty() {
        return finding(
            check,
            Verdict::Problem,
            format!(
                "mail From: {sender} fails DMARC: neither SPF nor an aligned DKIM signature \
                 passes for it"
            ),
            Some("fix the SPF or DKIM lines above (either one is enough; both is better)".into()),
        );
    }
    finding(
        check,
        Verdict::Ok,
        format!("From: {sender} is aligned with {}", by.join(" and ")),
        None,
    )
}

fn relay(r: &RelayFacts) -> Finding {
    let check = format!("relay {}", r.name);
    let failure = match &r.result {
        Ok(tls) => {
            let how = match (tls, r.login) {
                (true, true) => "encrypted, login accepted",
                (true, false) => "encrypted, no login asked",
                (false, true) => "login accepted over plain text",
                (false, false) => "plain text, no login asked",
            };
            let what = format!("{} answers: {how} (no mail sent)", r.server);
            if !tls && r.login {
                let what = format!("{what}: the password travels unencrypted");
                let fix = "tls = starttls (port 587) or tls = tls (port 465)";
                return finding(&check, Verdict::Warning, what, Some(fix.into()));
            }
            return finding(&check, Verdict::Ok, what, None);
        }
        Err(failure) => failure,
    };
    let fix = match failure.step {
        StepKind::Dns | StepKind::Connect | StepKind::Greeting => {
            "check host and port (587 with tls = starttls, 465 with tls = tls)"
        }
        StepKind::StartTls => {
            "check tls (starttls on 587, tls on 465), or tls_verify = no for a self-signed \
             certificate"
        }
        StepKind::Auth => "check username, password and auth (plain or login)",
        _ => "check the relay's settings with its provider",
    };
    finding(
        &check,
        Verdict::Problem,
        format!("{}: {failure}", r.server),
        Some(fix.into()),
    )
}

#[cfg(test)]
mod tests;
