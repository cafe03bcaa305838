//! The effective settings rendered back as INI text (for `qksmtp check`): every section and
//! key with its value, secrets masked. Reading the text back gives the same `Config`
//! (except relay passwords, shown as `********`, and user password hashes).

use super::value::{self, word};
use super::{Config, DomainRule, RelayConfig};
use std::fmt::Write;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

/// The effective settings of `config` as INI text.
pub fn render(config: &Config) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "; Effective settings of {}", config.path.display());
    server(&mut out, config);
    access(&mut out, config);
    out.push_str("\n[users]\n");
    if config.users.is_empty() {
        out.push_str("; (no users)\n");
    }
    for user in &config.users {
        let shown = if user.password.starts_with('$') {
            "(hash)"
        } else {
            "(plain text!)"
        };
        line(&mut out, &user.name, shown);
    }
    delivery(&mut out, config);
    out.push_str("\n[domain:*]\n");
    domain(&mut out, &config.default_rule);
    for (name, rule) in &config.domains {
        let _ = writeln!(out, "\n[domain:{name}]");
        domain(&mut out, rule);
    }
    for relay_config in &config.relays {
        relay(&mut out, relay_config);
    }
    out
}

/// `key = value`, quoting the value when it would otherwise not read back the same.
fn line(out: &mut String, key: &str, value: &str) {
    let needs_quotes = value.trim() != value
        || value.contains(" ;")
        || value.contains(" #")
        || value.contains("\t;")
        || value.contains("\t#")
        || value.starts_with(['"', '\'']);
    if value.is_empty() {
        let _ = writeln!(out, "{key} =");
    } else if value.ends_with('\\') {
        // A final \ would join the next line; a following comment (two spaces: the \
        // takes the first) ends the value instead.
        let _ = writeln!(out, "{key} = {value}  ;");
    } else if needs_quotes && !value.contains('"') {
        let _ = writeln!(out, "{key} = \"{value}\"");
    } else if needs_quotes && !value.contains('\'') {
        let _ = writeln!(out, "{key} = '{value}'");
    } else {
        let _ = writeln!(out, "{key} = {value}");
    }
}

fn list<T: ToString>(items: &[T]) -> String {
    items
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

fn opt_addr(addr: &Option<SocketAddr>) -> String {
    addr.map(|a| a.to_string()).unwrap_or_default()
}

fn opt_path(path: &Option<impl AsRef<Path>>) -> String {
    path.as_ref()
        .map(|p| p.as_ref().display().to_string())
        .unwrap_or_default()
}

fn yes_no(b: bool) -> &'static str {
    if b { "yes" } else { "no" }
}

fn server(out: &mut String, config: &Config) {
    let s = &config.server;
    out.push_str("\n[server]\n");
    line(out, "listen", &list(&s.listen));
    line(out, "listen_tls", &list(&s.listen_tls));
    line(out, "hostname", &s.hostname);
    line(out, "status_listen", &opt_addr(&s.status_listen));
    line(out, "status_allow", &list(&s.status_allow));
    line(out, "spool_dir", &s.spool_dir.display().to_string());
    line(out, "log_file", &opt_path(&s.log_file));
    line(out, "log_level", word(value::LOG_LEVELS, s.log_level));
    line(out, "tls_cert", &opt_path(&s.tls_cert));
    line(out, "tls_key", &opt_path(&s.tls_key));
    line(out, "require_tls", yes_no(s.require_tls));
    line(
        out,
        "bare_newline",
        word(value::BARE_NEWLINES, s.bare_newline),
    );
    line(out, "max_message_size", &format_size(s.max_message_size));
    line(out, "max_recipients", &s.max_recipients.to_string());
    line(out, "max_sessions", &s.max_sessions.to_string());
    line(
        out,
        "max_sessions_per_ip",
        &s.max_sessions_per_ip.to_string(),
    );
    line(out, "max_errors", &s.max_errors.to_string());
    line(out, "idle_timeout", &format_duration(s.idle_timeout));
    line(out, "max_hops", &s.max_hops.to_string());
}

fn access(out: &mut String, config: &Config) {
    out.push_str("\n[access]\n");
    if config.access.rules.is_empty() {
        out.push_str("; (no allow/deny lines: only this computer may connect)\n");
    }
    for rule in &config.access.rules {
        line(out, &rule.action.to_string(), &rule.cidr.to_string());
    }
    line(out, "relay_from", &list(&config.access.relay_from));
}

fn delivery(out: &mut String, config: &Config) {
    let d = &config.delivery;
    let t = &d.timeouts;
    out.push_str("\n[delivery]\n");
    line(out, "workers", &d.workers.to_string());
    line(out, "dns_server", &opt_addr(&d.dns_server));
    line(out, "helo_name", &d.helo_name);
    line(out, "ip_family", word(value::IP_FAMILIES, d.ip_family));
    line(out, "timeout_connect", &format_duration(t.connect));
    line(out, "timeout_greeting", &format_duration(t.greeting));
    line(out, "timeout_command", &format_duration(t.command));
    line(out, "timeout_data_init", &format_duration(t.data_init));
    line(out, "timeout_data_block", &format_duration(t.data_block));
    line(out, "timeout_data_done", &format_duration(t.data_done));
    line(out, "timeout_dns", &format_duration(d.timeout_dns));
    line(
        out,
        "max_queue_lifetime",
        &format_duration(d.max_queue_lifetime),
    );
    line(out, "bounce_lifetime", &format_duration(d.bounce_lifetime));
    line(out, "delay_warning", &format_duration(d.delay_warning));
}

fn domain(out: &mut String, rule: &DomainRule) {
    line(out, "direct_attempts", &rule.direct_attempts.to_string());
    line(out, "relay_attempts", &rule.relay_attempts.to_string());
    line(out, "max_connections", &rule.max_connections.to_string());
    line(out, "retry_delay", &format_duration(rule.retry_delay));
    line(out, "retry_backoff", &rule.retry_backoff.to_string());
    line(
        out,
        "max_retry_delay",
        &format_duration(rule.max_retry_delay),
    );
    line(out, "max_continuous", &rule.max_continuous.to_string());
    line(
        out,
        "continuous_delay",
        &format_duration(rule.continuous_delay),
    );
    line(
        out,
        "max_rcpt_per_transaction",
        &rule.max_rcpt_per_transaction.to_string(),
    );
    line(out, "mx", &list(&rule.mx));
    line(out, "ip_family", word(value::IP_FAMILIES, rule.ip_family));
}

fn relay(out: &mut String, r: &RelayConfig) {
    let _ = writeln!(out, "\n[relay:{}]", r.name);
    line(out, "host", &r.host);
    line(out, "port", &r.port.to_string());
    line(out, "tls", word(value::RELAY_TLS, r.tls));
    line(out, "tls_verify", yes_no(r.tls_verify));
    line(out, "auth", word(value::RELAY_AUTH, r.auth));
    line(out, "username", &r.username);
    line(
        out,
        "password",
        if r.password.is_empty() {
            ""
        } else {
            "********"
        },
    );
    line(out, "max_connections", &r.max_connections.to_string());
    line(out, "retry_delay", &format_duration(r.retry_delay));
    line(out, "max_continuous", &r.max_continuous.to_string());
    line(
        out,
        "continuous_delay",
        &format_duration(r.continuous_delay),
    );
    line(
        out,
        "max_rcpt_per_transaction",
        &r.max_rcpt_per_transaction.to_string(),
    );
}

/// The shortest exact form of a duration: `2d`, `4h`, `5m`, `30s`, `250ms`, `0`.
pub fn format_duration(d: Duration) -> String {
    let millis = d.as_millis();
    if millis == 0 {
        return "0".to_string();
    }
    for (unit, size) in [
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1000),
    ] {
        if millis.is_multiple_of(size) {
            return format!("{}{unit}", millis / size);
        }
    }
    format!("{millis}ms")
}

/// The shortest exact form of a size: `25M`, `512K`, `1G`, `1000`.
pub fn format_size(bytes: u64) -> String {
    for (unit, size) in [("G", 1u64 << 30), ("M", 1 << 20), ("K", 1 << 10)] {
        if bytes != 0 && bytes.is_multiple_of(size) {
            return format!("{}{unit}", bytes / size);
        }
    }
    bytes.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::DEFAULT_INI;
    use crate::config::load::parse;

    const PATH: &str = "/etc/qksmtp/qksmtp.ini";

    fn round_trip(text: &str) {
        let (config, _) = parse(text, Path::new(PATH), "host.example.test").unwrap();
        let rendered = render(&config);
        let (again, _) = parse(&rendered, Path::new(PATH), "other.example.test")
            .unwrap_or_else(|e| panic!("{rendered}\n{e:?}"));
        assert_eq!(again, config, "{rendered}");
    }

    #[test]
    fn default_round_trip() {
        round_trip(DEFAULT_INI);
    }

    #[test]
    fn rich_round_trip() {
        let text = "[server]\nlisten = 0.0.0.0:2525, [::1]:25\nlisten_tls = 127.0.0.1:465\n\
            hostname = mx.example.test\nstatus_listen =\nlog_file =\nspool_dir = C:\\q\\new spool\n\
            tls_cert = c.pem\ntls_key = k.pem\nrequire_tls = yes\nmax_message_size = 1000000\n\
            idle_timeout = 90\nlog_level = off\n\
            [access]\ndeny = 10.0.0.13\nallow = 10.0.0.0/8, ::1\nrelay_from =\n\
            [delivery]\ndns_server = 192.0.2.53\nhelo_name = out.example.test\nip_family = ipv4\n\
            delay_warning = 0\ntimeout_connect = 1500ms\n\
            [domain:*]\nrelay_attempts = 1\nretry_backoff = 1.5\nmx = a.example.test, [::1]:26\n\
            [domain:Example.ORG]\ndirect_attempts = 0\n[domain:*.example.test]\nip_family = ipv6\n\
            [relay:isp]\nhost = smtp.example.net\ntls = tls\nauth = none\n\
            [relay:second]\nhost = 192.0.2.25\nport = 2525\ntls = none\ntls_verify = no\n";
        round_trip(text);
    }

    #[test]
    fn secrets_are_masked() {
        let text = format!(
            "[users]\nalice = {}\nbob = secret\n\
            [relay:isp]\nhost = smtp.example.net\nauth = login\nusername = me\npassword = hunter2\n",
            crate::password::TEST_HASH
        );
        let (config, _) = parse(&text, Path::new(PATH), "h").unwrap();
        let rendered = render(&config);
        assert!(rendered.contains("alice = (hash)\n"), "{rendered}");
        assert!(rendered.contains("bob = (plain text!)\n"), "{rendered}");
        assert!(rendered.contains("password = ********\n"), "{rendered}");
        assert!(
            !rendered.contains("hunter2")
                && !rendered.contains("secret")
                && !rendered.contains("$argon2")
        );
        assert!(rendered.contains("port = 587\n"), "{rendered}");
    }

    #[test]
    fn duration_formatting() {
        let cases = [
            (Duration::from_secs(0), "0"),
            (Duration::from_secs(30), "30s"),
            (Duration::from_secs(60), "1m"),
            (Duration::from_secs(90), "90s"),
            (Duration::from_secs(300), "5m"),
            (Duration::from_secs(4 * 3600), "4h"),
            (Duration::from_secs(2 * 86400), "2d"),
            (Duration::from_secs(86400 + 3600), "25h"),
            (Duration::from_millis(1500), "1500ms"),
        ];
        for (d, text) in cases {
            assert_eq!(format_duration(d), text);
            assert_eq!(value::duration(text), Ok(d), "round trip {text}");
        }
    }

    #[test]
    fn size_formatting() {
        for (bytes, text) in [
            (25 << 20, "25M"),
            (512 << 10, "512K"),
            (1 << 30, "1G"),
            (1000, "1000"),
            (0, "0"),
        ] {
            assert_eq!(format_size(bytes), text);
            assert_eq!(value::size(text), Ok(bytes));
        }
    }

    #[test]
    fn quoting() {
        let cases = [
            ("plain", "k = plain\n"),
            ("a ;b", "k = \"a ;b\"\n"),
            (" lead", "k = \" lead\"\n"),
            ("\"x ;y", "k = '\"x ;y'\n"),
            ("", "k =\n"),
            ("C:\\q\\", "k = C:\\q\\  ;\n"),
        ];
        for (value, expected) in cases {
            let mut out = String::new();
            line(&mut out, "k", value);
            assert_eq!(out, expected);
        }
    }
}
