//! The key table against the default qksmtp.ini: every key documented, nothing else; and
//! each row parses what it shows.

use super::*;
use crate::config::DEFAULT_INI;
use crate::config::load::defaults;
use std::collections::BTreeSet;

/// The section kind of a header line of the default INI, active (`[server]`) or commented
/// out as an example (`;[relay:isp]`).
fn header_kind(line: &str) -> Option<SectionKind> {
    let name = line.strip_prefix(';').unwrap_or(line).strip_prefix('[')?;
    let name = name.strip_suffix(']')?;
    let kind = match name.split_once(':').map_or(name, |(kind, _)| kind) {
        "server" => SectionKind::Server,
        "access" => SectionKind::Access,
        "users" => SectionKind::Users,
        "delivery" => SectionKind::Delivery,
        "domain" => SectionKind::Domain,
        "relay" => SectionKind::Relay,
        "dkim" => SectionKind::Dkim,
        other => panic!("unknown section [{other}] in qksmtp.ini"),
    };
    Some(kind)
}

/// The settings the default INI documents: `key = value` lines, set or commented out with
/// `;` right before the key (prose comments have a space after the `;`). `[users]` lines
/// are user names, not keys.
fn documented(text: &str) -> BTreeSet<(String, &str)> {
    let mut kind = None;
    let mut out = BTreeSet::new();
    for line in text.lines() {
        if let Some(k) = header_kind(line) {
            kind = Some(k);
            continue;
        }
        let setting = line.strip_prefix(';').unwrap_or(line);
        let Some((name, _)) = setting.split_once(" =") else {
            continue;
        };
        let is_key = !name.is_empty() && name.chars().all(|c| c.is_ascii_lowercase() || c == '_');
        match kind {
            Some(SectionKind::Users) | None => {}
            Some(k) if is_key => {
                out.insert((format!("{k:?}"), name));
            }
            Some(_) => {}
        }
    }
    out
}

#[test]
fn default_ini_documents_exactly_the_table() {
    let table: BTreeSet<(String, &str)> = all()
        .iter()
        .map(|row| (format!("{:?}", row.kind), row.name))
        .collect();
    let documented = documented(DEFAULT_INI);
    let undocumented: Vec<_> = table.difference(&documented).collect();
    let unknown: Vec<_> = documented.difference(&table).collect();
    assert!(
        undocumented.is_empty(),
        "keys missing from qksmtp.ini: {undocumented:?}"
    );
    assert!(
        unknown.is_empty(),
        "qksmtp.ini documents keys not in the table: {unknown:?}"
    );
}

/// The completeness check itself catches a key left out and a key made up.
#[test]
fn the_completeness_check_can_fail() {
    let without_workers = DEFAULT_INI.replace("\nworkers = 64\n", "\n");
    assert!(!documented(&without_workers).contains(&("Delivery".to_string(), "workers")));
    let with_extra = format!("{DEFAULT_INI}\n;[relay:x]\n;made_up_key = 5\n");
    assert!(documented(&with_extra).contains(&("Relay".to_string(), "made_up_key")));
    assert!(!all().iter().any(|row| row.name == "made_up_key"));
}

#[test]
fn rows_are_unique_and_documented() {
    let rows = all();
    for row in &rows {
        let same = rows
            .iter()
            .filter(|r| (r.kind, r.name) == (row.kind, row.name));
        assert_eq!(same.count(), 1, "{row:?}");
        assert!(!row.doc.is_empty() && !row.doc.contains('\n'), "{row:?}");
    }
    let repeats: Vec<&str> = rows.iter().filter(|r| r.repeats).map(|r| r.name).collect();
    assert_eq!(repeats, ["allow", "deny"]);
}

/// Every shown value, parsed back by its own row, gives the same settings (the built-in
/// defaults here; `render`'s round-trip tests cover other values).
#[test]
fn each_row_reads_back_what_it_shows() {
    let config = defaults(Path::new("/etc/qksmtp/qksmtp.ini"), "host.example.test");
    let base = Path::new("/etc/qksmtp");
    fn check<T: Clone + PartialEq + std::fmt::Debug>(table: &[Key<T>], settings: &T, base: &Path) {
        for key in table {
            let Some(show) = key.show else { continue };
            let mut again = settings.clone();
            let shown = show(settings);
            let parsed = (key.parse)(&mut again, &shown, base);
            if key.name == "password" {
                continue; // shown masked
            }
            assert_eq!(parsed, Ok(()), "{} = {shown}", key.name);
            assert_eq!(&again, settings, "{} = {shown}", key.name);
        }
    }
    check(SERVER, &config.server, base);
    check(ACCESS, &config.access, base);
    check(DELIVERY, &config.delivery, base);
    check(DOMAIN, &config.default_rule, base);
    let mut relay = RelayConfig::defaults("isp");
    relay.host = "smtp.example.test".into();
    check(RELAY, &relay, base);
    let mut dkim = crate::config::DkimConfig::defaults("example.test", "s1");
    dkim.key = base.join("example.test.s1.key");
    check(DKIM, &dkim, base);
    dkim.expire = Some(std::time::Duration::from_secs(7 * 86400));
    dkim.algorithm = Some(crate::dkim::Algorithm::Ed25519Sha256);
    dkim.canonicalization.1 = crate::dkim::Canon::Simple;
    check(DKIM, &dkim, base);
}
