//! Tests of `load::parse` and `load::load`: defaults, every error with its line, inheritance.

use super::*;
use crate::access::Cidr;
use crate::config::{DEFAULT_INI, HostPort, IpFamily, RelayAuth, RelayTls};
use std::time::Duration;

const PATH: &str = "/etc/qksmtp/qksmtp.ini";
const HOST: &str = "host.example.test";

fn ok(text: &str) -> (Config, Vec<Warning>) {
    parse(text, Path::new(PATH), HOST).unwrap_or_else(|e| panic!("{text}\n{e:?}"))
}

fn errors(text: &str) -> Vec<ConfigError> {
    match parse(text, Path::new(PATH), HOST) {
        Ok(_) => panic!("no error for {text:?}"),
        Err(errors) => errors,
    }
}

#[test]
fn default_file_is_the_defaults() {
    let (config, warnings) = ok(DEFAULT_INI);
    assert_eq!(config, defaults(Path::new(PATH), HOST));
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(ok("").0, config);
    assert_eq!(config.server.spool_dir, Path::new("/etc/qksmtp/spool"));
    assert_eq!(
        config.server.log_file.as_deref(),
        Some(Path::new("/etc/qksmtp/qksmtp.log"))
    );
    assert_eq!(config.delivery.helo_name, HOST);
}

#[test]
fn default_file_has_every_key() {
    use crate::config::keys::{SectionKind, rows};
    let keys = [
        ("server", SectionKind::Server),
        ("delivery", SectionKind::Delivery),
        ("domain:*", SectionKind::Domain),
        ("relay:isp", SectionKind::Relay),
        ("access", SectionKind::Access),
    ];
    for (section, kind) in keys {
        assert!(DEFAULT_INI.contains(&format!("[{section}]")), "{section}");
        for key in rows(kind).iter().map(|row| row.name) {
            let set = format!("\n{key} =");
            let commented = format!("\n;{key} =");
            assert!(
                DEFAULT_INI.contains(&set) || DEFAULT_INI.contains(&commented),
                "{section} {key}"
            );
        }
    }
    assert!(
        DEFAULT_INI.contains("qksmtp passwd")
            && DEFAULT_INI.contains("setcap cap_net_bind_service=+ep")
    );
    assert!(
        DEFAULT_INI.contains("[domain:hotmail.com]") && DEFAULT_INI.contains("openssl req -x509")
    );
}

/// Each snippet has exactly one error, on the given line, containing the given text.
#[test]
fn errors_name_their_line() {
    let cases: &[(&str, usize, &str)] = &[
        ("listen = 127.0.0.1:25\n", 1, "before any [section]"),
        ("[server]\n\n[bogus]\n", 3, "unknown section [bogus]"),
        ("[Server]\n", 1, "lower-case: [server]"),
        ("[domain:]\n", 1, "not a domain name"),
        ("[relay:]\n", 1, "needs a name"),
        (
            "[server]\nlisten = 127.0.0.1:2525\nfoo = 1\n",
            3,
            "unknown key \"foo\" in [server]; the keys there are: listen,",
        ),
        (
            "[server]\n;c\n\nmax_message_size = 12Q\n",
            4,
            "max_message_size = \"12Q\": expected a size like 10M",
        ),
        (
            "[server]\nlisten = localhost:25\n",
            2,
            "host names are not allowed",
        ),
        (
            "[server]\nlisten = 127.0.0.1:25\nlisten = 127.0.0.1:26\n",
            3,
            "set twice in [server] (first set on line 2)",
        ),
        (
            "[server]\n[delivery]\n[server]\n",
            3,
            "duplicate section [server] (first on line 1)",
        ),
        (
            "[domain:A.test]\n[domain:a.test.]\n",
            2,
            "duplicate section",
        ),
        ("[relay:isp]\nport = 25\n", 1, "has no host"),
        (
            "[relay:isp]\nhost = smtp.example.net\nauth = login\nusername = u\n",
            3,
            "needs both username and password",
        ),
        (
            "[relay:isp]\nhost = smtp.example.net\nport = 0\n",
            3,
            "port number",
        ),
        (
            "[relay:isp]\nhost = smtp.example.net\ntls = ssl\n",
            3,
            "expected starttls, tls or none",
        ),
        ("[domain:*]\ndirect_attempts = 0\n", 2, "both 0"),
        // A tls_policy that cannot apply to the route.
        (
            "[domain:x.test]\nmx = hub.x.test\ntls_policy = mta-sts\n",
            3,
            "[domain:x.test]: tls_policy = mta-sts cannot apply to a fixed route (mx =)",
        ),
        (
            "[domain:*]\nmx = hub.x.test\n[domain:x.test]\n\ntls_policy = mta-sts\n",
            5,
            "cannot apply to a fixed route",
        ),
        (
            "[domain:x.test]\ntls_policy = dane\n",
            2,
            "[domain:x.test]: tls_policy = dane needs dnssec = yes in [delivery]",
        ),
        (
            "[delivery]\ndnssec = yes\n[relay:isp]\nhost = smtp.x.test\ntls = none\ntls_policy = dane\n",
            6,
            "[relay:isp]: tls_policy = dane needs TLS, but tls = none",
        ),
        (
            "[relay:isp]\nhost = smtp.x.test\ntls_policy = mta-sts\n",
            3,
            "mta-sts is for [domain:] sections",
        ),
        ("[domain:x.test]\ndirect_attempts = 0\n", 2, "both 0"),
        (
            "[domain:*]\nrelay_attempts = 0\n[domain:x.test]\nmx = a.test\ndirect_attempts = 0\n",
            5,
            "both 0",
        ),
        (
            "[domain:*]\nrelay_attempts = 2\n",
            2,
            "no [relay:NAME] section",
        ),
        (
            "[domain:x.test]\nretry_backoff = 0.5\n",
            2,
            "retry_backoff = \"0.5\": expected a number from 1",
        ),
        ("[domain:x.test]\nmx = a..test\n", 2, "mx = \"a..test\""),
        ("[domain:x.test]\nmax_connections = 0\n", 2, "from 1 to"),
        ("[server]\nlisten =\n", 2, "nothing to listen on"),
        (
            "[server]\nlisten =\nlisten_tls = 127.0.0.1:465\n",
            3,
            "listen_tls needs a certificate",
        ),
        ("[server]\n\ntls_cert = c.pem\n", 3, "tls_key is not"),
        ("[server]\n\ntls_key = k.pem\n", 3, "tls_cert is not"),
        ("[server]\nrequire_tls = yes\n", 2, "needs a certificate"),
        ("[server]\nrequire_tls = maybe\n", 2, "expected yes or no"),
        ("[server]\nstatus_allow =\n", 2, "at least one"),
        ("[server]\nidle_timeout = 0\n", 2, "above 0"),
        ("[server]\nspool_dir =\n", 2, "expected a folder"),
        ("[server]\nhostname = has space\n", 2, "host name"),
        (
            "[server]\nbare_newline = strip\n",
            2,
            "expected normalize or reject",
        ),
        (
            "[server]\nlog_level = loud\n",
            2,
            "expected error, warn, info, debug, trace or off",
        ),
        ("[access]\nallow = 10.0.0.0/33\n", 2, "prefix"),
        ("[access]\nallow =\n", 2, "at least one"),
        ("[access]\nrelay_from = everyone\n", 2, "relay_from"),
        ("[users]\nbob =\n", 2, "no password"),
        ("[users]\nbob = h\nbob = i\n", 3, "set twice"),
        ("[users]\nbob = $1$salt$hash\n", 2, "not an Argon2 hash"),
        ("[delivery]\nworkers = 0\n", 2, "workers = \"0\""),
        (
            "[delivery]\ndns_server = dns.example.test\n",
            2,
            "dns_server",
        ),
        (
            "[delivery]\ntimeout_connect = 5x\n",
            2,
            "expected a duration",
        ),
        (
            "[delivery]\nip_family = ipv5\n",
            2,
            "expected any, ipv4 or ipv6",
        ),
        (
            "[server]\njunk here\nlisten = 127.0.0.1:25\n",
            2,
            "\"junk here\" is not a [section] header",
        ),
        (
            "[server]\nspool_dir = C:\\q\\\nlog_file = x\n",
            2,
            "goes on to the next line",
        ),
        ("[server]\n= 5\n", 2, "no key name"),
        ("[server]\nhostname = \"open\n", 2, "never closed"),
        ("[server\n", 1, "no closing ]"),
    ];
    for (text, line, needle) in cases {
        let errors = errors(text);
        assert_eq!(errors.len(), 1, "{text:?}: {errors:?}");
        assert_eq!(errors[0].line, Some(*line), "{text:?}: {errors:?}");
        assert!(
            errors[0].message.contains(needle),
            "{text:?}: {} lacks {needle:?}",
            errors[0]
        );
    }
}

#[test]
fn every_error_is_collected() {
    let text = "[server]\nmax_sessions = x\nmax_errors = y\n[nope]\n[domain:*]\nretry_delay = z\n";
    let lines: Vec<Option<usize>> = errors(text).iter().map(|e| e.line).collect();
    assert_eq!(lines, [Some(2), Some(3), Some(4), Some(6)]);
    assert_eq!(
        errors(text)[0].to_string(),
        "line 2: max_sessions = \"x\": expected a whole number from 1 to 100000"
    );
    assert_eq!(ConfigError::new(None, "oops").to_string(), "oops");
}

#[test]
fn backslash_paths_stay_verbatim() {
    let text = "[server]\nspool_dir = C:\\temp\\new\nlog_file = D:\\logs\\x.log ; comment\n\
                tls_cert = \"C:\\Program Files\\q\\cert.pem\"\ntls_key = \\\\server\\share\\key.pem\n";
    let (config, _) = ok(text);
    let s = &config.server;
    assert!(
        s.spool_dir.to_string_lossy().ends_with("C:\\temp\\new"),
        "{:?}",
        s.spool_dir
    );
    assert!(
        s.log_file
            .as_ref()
            .unwrap()
            .to_string_lossy()
            .ends_with("D:\\logs\\x.log")
    );
    assert!(
        s.tls_cert
            .as_ref()
            .unwrap()
            .to_string_lossy()
            .ends_with("C:\\Program Files\\q\\cert.pem")
    );
    assert!(
        s.tls_key
            .as_ref()
            .unwrap()
            .to_string_lossy()
            .ends_with("\\\\server\\share\\key.pem")
    );
    let (config, _) = ok("[server]\nspool_dir = /var/spool/qksmtp\nlog_file =\nstatus_listen =\n");
    assert_eq!(config.server.spool_dir, Path::new("/var/spool/qksmtp"));
    assert_eq!(
        (config.server.log_file, config.server.status_listen),
        (None, None)
    );
}

#[test]
fn access_rules_keep_file_order() {
    let text =
        "[access]\nallow = 127.0.0.1\ndeny = 10.0.0.13\nallow = 10.0.0.0/8, ::1\nrelay_from =\n";
    let (config, warnings) = ok(text);
    let rules: Vec<String> = config
        .access
        .rules
        .iter()
        .map(|r| format!("{} {}", r.action, r.cidr))
        .collect();
    assert_eq!(
        rules,
        [
            "allow 127.0.0.1/32",
            "deny 10.0.0.13/32",
            "allow 10.0.0.0/8",
            "allow ::1/128"
        ]
    );
    assert!(config.access.relay_from.is_empty() && warnings.is_empty());
    let (_, warnings) = ok("[access]\nallow = 192.168.0.0/16\n");
    assert_eq!(warnings.len(), 1);
    assert!(warnings[0].message.contains("127.0.0.1"));
}

#[test]
fn domains_inherit_from_star() {
    let text = "[domain:Hotmail.COM]\nmax_connections = 1\n[relay:isp]\nhost = smtp.example.net\n\
                [domain:*]\nmax_continuous = 3\nrelay_attempts = 2\nmx = mx.example.test:2525, ::1\n\
                [domain:*.example.test]\nip_family = ipv6\nmx =\n";
    let (config, _) = ok(text);
    let star = &config.default_rule;
    assert_eq!(
        (
            star.max_continuous,
            star.relay_attempts,
            star.max_connections
        ),
        (3, 2, 2)
    );
    let hp = |host: &str, port| HostPort {
        host: host.to_string(),
        port,
    };
    assert_eq!(star.mx, [hp("mx.example.test", 2525), hp("::1", 25)]);
    assert_eq!(config.domains.len(), 2);
    let (name, hotmail) = &config.domains[0];
    assert_eq!(name, "hotmail.com");
    assert_eq!(
        (
            hotmail.max_connections,
            hotmail.max_continuous,
            hotmail.relay_attempts
        ),
        (1, 3, 2)
    );
    assert_eq!(hotmail.mx, star.mx);
    assert_eq!(config.domains[1].0, "*.example.test");
    assert_eq!(
        config.rule_for("a.b.Example.Test").ip_family,
        IpFamily::Ipv6
    );
    assert!(config.rule_for("a.b.example.test").mx.is_empty());
    assert_eq!(config.rule_for("HOTMAIL.com.").max_connections, 1);
    assert_eq!(config.rule_for("other.test"), star);
}

#[test]
fn relays() {
    let text = "[relay:one]\nhost = smtp.example.net\nauth = plain\nusername = u\npassword = \"p ;w\"\n\
                [relay:two]\nhost = [::1]\ntls = tls\n[relay:three]\nhost = 192.0.2.1\ntls = none\n\
                [relay:four]\nhost = relay.example.test\ntls = none\nport = 2525\ntls_verify = no\n\
                retry_delay = 30s\nmax_connections = 4\n";
    let (config, warnings) = ok(text);
    assert!(warnings.is_empty());
    let summary: Vec<(&str, &str, u16, RelayTls)> = config
        .relays
        .iter()
        .map(|r| (r.name.as_str(), r.host.as_str(), r.port, r.tls))
        .collect();
    let expected = [
        ("one", "smtp.example.net", 587, RelayTls::StartTls),
        ("two", "::1", 465, RelayTls::Tls),
        ("three", "192.0.2.1", 25, RelayTls::None),
        ("four", "relay.example.test", 2525, RelayTls::None),
    ];
    assert_eq!(summary, expected);
    let one = &config.relays[0];
    assert_eq!(
        (one.auth, one.username.as_str(), one.password.as_str()),
        (RelayAuth::Plain, "u", "p ;w")
    );
    let four = &config.relays[3];
    assert!(!four.tls_verify);
    assert_eq!(
        (four.retry_delay, four.max_connections),
        (Duration::from_secs(30), 4)
    );
    let (_, warnings) = ok("[relay:x]\nhost = a.test\nusername = u\n");
    assert_eq!(warnings[0].line, Some(3));
}

#[test]
fn users_and_warnings() {
    let text = format!(
        "[users]\nalice = {}\nbob@example.test = secret\n",
        crate::password::TEST_HASH
    );
    let (config, warnings) = ok(&text);
    assert_eq!(config.users.len(), 2);
    assert_eq!(
        (
            config.users[1].name.as_str(),
            config.users[1].password.as_str()
        ),
        ("bob@example.test", "secret")
    );
    assert_eq!(warnings.len(), 1);
    assert_eq!(
        warnings[0].to_string(),
        "line 3: user bob@example.test has a plain-text password; make a hash with `qksmtp passwd`"
    );
}

#[test]
fn server_and_delivery_values() {
    let text = "\u{feff}[delivery]\ndns_server = 192.0.2.53\ndelay_warning = 0\ntimeout_data_done = 1h\n\
                [server]\nhostname = mx.example.test\nlisten = [::1]:2525\nmax_message_size = 10M\n\
                status_allow = 10.0.0.0/8\nidle_timeout = 90\n";
    let (config, _) = ok(text);
    let d = &config.delivery;
    assert_eq!(d.dns_server, Some("192.0.2.53:53".parse().unwrap()));
    assert_eq!(d.delay_warning, Duration::ZERO);
    assert_eq!(d.timeouts.data_done, Duration::from_secs(3600));
    assert_eq!(
        d.helo_name, "mx.example.test",
        "helo_name follows [server] hostname"
    );
    let s = &config.server;
    assert_eq!(s.listen, ["[::1]:2525".parse().unwrap()]);
    assert_eq!(s.max_message_size, 10 << 20);
    assert_eq!(s.status_allow, ["10.0.0.0/8".parse::<Cidr>().unwrap()]);
    assert_eq!(s.idle_timeout, Duration::from_secs(90));
    let (config, _) = ok("[server]\nhostname = a.test\n[delivery]\nhelo_name = b.test\n");
    assert_eq!(config.delivery.helo_name, "b.test");
}

/// A self-signed pair made by the openssl CLI: `{name}-cert.pem`, `{name}-key.pem` in `dir`.
fn openssl_pair(dir: &Path, name: &str) {
    let out = std::process::Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
        ])
        .args([
            "-subj",
            "/CN=localhost",
            "-keyout",
            &format!("{name}-key.pem"),
        ])
        .args(["-out", &format!("{name}-cert.pem")])
        .current_dir(dir)
        .output()
        .expect("the openssl CLI is needed for this test");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn load_checks_tls_files() {
    let dir = std::env::temp_dir().join(format!("qksmtp-config-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let ini = dir.join("qksmtp.ini");
    let write = |name: &str, text: &str| std::fs::write(dir.join(name), text).unwrap();
    openssl_pair(&dir, "a");
    openssl_pair(&dir, "b");
    write(
        "cert.pem",
        "-----BEGIN CERTIFICATE-----\nMII\n-----END CERTIFICATE-----\n",
    );
    write(
        "key.pem",
        "-----BEGIN PRIVATE KEY-----\nMII\n-----END PRIVATE KEY-----\n",
    );
    write(
        "rsa.pem",
        "-----BEGIN RSA PRIVATE KEY-----\nMII\n-----END RSA PRIVATE KEY-----\n",
    );
    let cases: [(&str, Option<(usize, &str)>); 6] = [
        (
            "[server]\ntls_cert = a-cert.pem\ntls_key = a-key.pem\n",
            None,
        ),
        (
            "[server]\ntls_cert = missing.pem\ntls_key = a-key.pem\n",
            Some((2, "no such file")),
        ),
        (
            "[server]\ntls_cert = a-cert.pem\n\ntls_key = rsa.pem\n",
            Some((4, "PKCS#8")),
        ),
        (
            "[server]\ntls_cert = a-key.pem\ntls_key = a-key.pem\n",
            Some((2, "not a PEM certificate")),
        ),
        (
            "[server]\ntls_cert = cert.pem\ntls_key = key.pem\n",
            Some((3, "cannot be used")),
        ),
        (
            "[server]\ntls_key = b-key.pem\ntls_cert = a-cert.pem\n",
            Some((2, "does not go with the certificate")),
        ),
    ];
    for (text, want) in cases {
        write("qksmtp.ini", text);
        match (load(&ini), want) {
            (Ok((config, _)), None) => {
                assert_eq!(config.server.tls_cert, Some(dir.join("a-cert.pem")))
            }
            (Err(errors), Some((line, words))) => {
                assert_eq!(errors[0].line, Some(line), "{text}: {errors:?}");
                assert!(errors[0].message.contains(words), "{text}: {errors:?}");
            }
            (result, _) => panic!("{text}: {result:?}"),
        }
    }
    let missing = load(&dir.join("nope.ini")).unwrap_err();
    assert!(missing[0].line.is_none() && missing[0].message.contains("cannot read"));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn dkim_sections_read_and_their_errors_name_the_line() {
    let text = "[dkim:Example.TEST]\nselector = s1\nkey = keys/a.key\n\
                [dkim:example.test:s2]\nkey = /k/b.key\ncanonicalization = simple\nexpire = 7d\n\
                [dkim:*]\nselector = any\nkey = c.key\nalgorithm = ed25519-sha256\nheaders = From, Subject\n";
    let (config, _) = ok(text);
    let d = &config.dkim;
    assert_eq!(d.len(), 3);
    assert_eq!(
        (d[0].domain.as_str(), d[0].selector.as_str()),
        ("example.test", "s1")
    );
    assert_eq!(d[0].key, Path::new("/etc/qksmtp/keys/a.key"));
    assert_eq!(d[0].headers.len(), crate::dkim::DEFAULT_HEADERS.len());
    assert_eq!(d[1].selector, "s2", "taken from the section name");
    use crate::dkim::Canon::{Relaxed, Simple};
    assert_eq!(d[1].canonicalization, (Simple, Simple));
    assert_eq!(d[1].expire, Some(std::time::Duration::from_secs(7 * 86400)));
    assert_eq!(d[2].domain, "*");
    assert_eq!(d[2].algorithm, Some(crate::dkim::Algorithm::Ed25519Sha256));
    assert_eq!(d[2].headers, ["From", "Subject"]);
    assert_eq!(d[0].canonicalization, (Relaxed, Relaxed));
    let cases: &[(&str, usize, &str)] = &[
        ("[dkim:a.test]\nkey = k\n", 1, "has no selector"),
        ("[dkim:a.test]\nselector = s\n", 1, "has no key"),
        (
            "[dkim:a.test:s1]\nselector = s2\nkey = k\n",
            2,
            "differs from the s1",
        ),
        ("[dkim:a;b]\n", 1, "expected a domain"),
        (
            "[dkim:a.test]\nselector = s\nkey = k\ncanonicalization = tight\n",
            4,
            "expected relaxed/relaxed",
        ),
        (
            "[dkim:a.test]\nselector = s\nkey = k\nalgorithm = dsa\n",
            4,
            "expected rsa-sha256",
        ),
        (
            "[dkim:a.test]\nselector = a b\nkey = k\n",
            2,
            "dot-separated labels",
        ),
        (
            "[dkim:a.test]\nselector = s\nkey = k\n[dkim:a.test]\n",
            4,
            "duplicate section",
        ),
    ];
    for (text, line, needle) in cases {
        let errs = errors(text);
        assert!(
            errs.iter()
                .any(|e| e.line == Some(*line) && e.message.contains(needle)),
            "{text:?}: {errs:?}"
        );
    }
}

#[test]
fn a_dkim_key_file_is_checked_when_the_ini_is_loaded() {
    let dir = std::env::temp_dir().join(format!("qksmtp-dkim-load-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let key = crate::dkim::PrivateKey::generate(crate::dkim::Algorithm::Ed25519Sha256, 0).unwrap();
    std::fs::write(dir.join("good.key"), key.to_pem().unwrap()).unwrap();
    std::fs::write(dir.join("bad.key"), "not a key\n").unwrap();
    let ini = dir.join("qksmtp.ini");
    let write =
        |body: &str| std::fs::write(&ini, format!("[server]\nspool_dir = spool\n{body}")).unwrap();
    write("[dkim:a.test]\nselector = s\nkey = bad.key\n");
    let errs = load(&ini).unwrap_err();
    assert!(
        errs.iter()
            .any(|e| e.line == Some(5) && e.message.contains("[dkim:a.test:s]")),
        "{errs:?}"
    );
    write("[dkim:a.test]\nselector = s\nkey = good.key\nalgorithm = rsa-sha256\n");
    let errs = load(&ini).unwrap_err();
    assert!(
        errs.iter()
            .any(|e| e.message.contains("holds a ed25519-sha256 key")),
        "{errs:?}"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let good = dir.join("good.key");
        std::fs::set_permissions(&good, std::fs::Permissions::from_mode(0o644)).unwrap();
        write("[dkim:a.test]\nselector = s\nkey = good.key\n");
        let (_, warnings) = load(&ini).unwrap();
        assert!(
            warnings.iter().any(|w| w.message.contains("chmod 600")),
            "{warnings:?}"
        );
        std::fs::set_permissions(&good, std::fs::Permissions::from_mode(0o600)).unwrap();
        let (config, warnings) = load(&ini).unwrap();
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(config.dkim.len(), 1);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_loosely_spelt_size_is_taken_with_a_warning_that_says_how_it_was_read() {
    let (config, warnings) = ok("[server]\n\nmax_message_size = 25 MB\n");
    assert_eq!(config.server.max_message_size, 25 << 20);
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert_eq!(warnings[0].line, Some(3));
    assert!(
        warnings[0].message.contains("is read as 25M"),
        "{warnings:?}"
    );
    assert!(ok("[server]\nmax_message_size = 25M\n").1.is_empty());
    let errs = errors("[server]\nstatus_listen = 127.0.0.1:99999\n");
    assert!(
        errs[0].message.contains("port 99999 is out of range"),
        "{errs:?}"
    );
}

#[test]
fn a_long_bad_value_is_quoted_cut_at_80_characters() {
    let long = "x".repeat(10_000_000);
    let cut = &long[..80];
    let said = format!("\"{cut}... (10000000 characters)\"");
    // (INI, what the message must say)
    let cases = [
        (format!("[server]\nmax_sessions = {long}\n"), said.clone()),
        (
            format!("[server]\nlisten = 127.0.0.1:25, {long}\n"),
            said.clone(),
        ),
        (format!("[domain:*]\nmx = {long}\n"), said.clone()),
        (format!("[server]\n{long} = 1\n"), said.clone()),
        (format!("[server]\nhostname = é{}\n", "x".repeat(100)), {
            format!("\"é{}... (101 characters)\"", "x".repeat(79))
        }),
    ];
    for (ini, expect) in &cases {
        let errors = errors(ini);
        assert_eq!(errors.len(), 1, "{:.200}", errors[0].message);
        let message = &errors[0].message;
        assert!(message.contains(expect.as_str()), "{message:.300}");
        assert!(message.len() < 1000, "{message:.300}");
        assert_eq!(errors[0].line, Some(2));
    }
    assert_eq!(
        crate::config::value::shown(&long[..80]),
        cut,
        "80 characters are shown whole"
    );
}
