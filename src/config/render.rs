//! The effective settings rendered back as INI text (for `qksmtp check`): every section and
//! key of the key table (`config::keys`) with its value, secrets masked. Reading the text back gives the same `Config`
//! (except relay passwords, shown as `********`, and user password hashes).

use super::Config;
use super::keys::{self, Key};
use std::fmt::Write;

/// The effective settings of `config` as INI text.
pub fn render(config: &Config) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "; Effective settings of {}", config.path.display());
    out.push_str("\n[server]\n");
    keys(&mut out, keys::SERVER, &config.server);
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
    out.push_str("\n[delivery]\n");
    keys(&mut out, keys::DELIVERY, &config.delivery);
    out.push_str("\n[domain:*]\n");
    keys(&mut out, keys::DOMAIN, &config.default_rule);
    for (name, rule) in &config.domains {
        let _ = writeln!(out, "\n[domain:{name}]");
        keys(&mut out, keys::DOMAIN, rule);
    }
    for relay in &config.relays {
        let _ = writeln!(out, "\n[relay:{}]", relay.name);
        keys(&mut out, keys::RELAY, relay);
    }
    for dkim in &config.dkim {
        let _ = writeln!(out, "\n[dkim:{}:{}]", dkim.domain, dkim.selector);
        keys(&mut out, keys::DKIM, dkim);
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

/// One `key = value` line for each row of `table` that shows its own value.
fn keys<T>(out: &mut String, table: &[Key<T>], settings: &T) {
    for key in table {
        if let Some(show) = key.show {
            line(out, key.name, &show(settings));
        }
    }
}

fn access(out: &mut String, config: &Config) {
    out.push_str("\n[access]\n");
    if config.access.rules.is_empty() {
        out.push_str("; (no allow/deny lines: only this computer may connect)\n");
    }
    for rule in &config.access.rules {
        line(out, &rule.action.to_string(), &rule.cidr.to_string());
    }
    keys(out, keys::ACCESS, &config.access);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::load::parse;
    use crate::config::value::{format_duration, format_size};
    use crate::config::{DEFAULT_INI, value};
    use std::path::Path;
    use std::time::Duration;

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
