//! The INI reader: entries with their line numbers (as rust-ini read them before: these
//! tests were the scanner's), structural and fatal errors, Windows paths kept as written.

use super::*;

fn entries(text: &str) -> Vec<(Option<String>, String, String, Option<usize>)> {
    let (sections, errors) = read(text).unwrap();
    assert!(errors.is_empty(), "{errors:?}");
    let mut out = Vec::new();
    for section in sections {
        for e in section.entries {
            out.push((section.name.clone(), e.key, e.value, e.line));
        }
    }
    out
}

fn flat(text: &str) -> Vec<String> {
    entries(text)
        .into_iter()
        .map(|(s, k, v, l)| format!("{}|{k}|{v}|{}", s.unwrap_or_default(), l.unwrap_or(0)))
        .collect()
}

#[test]
fn lines_are_paired() {
    let text = "; top\n\n[server]\nlisten = 127.0.0.1:25 ; comment\n  # indented comment\n\
                hostname: mail.example.test\n\n[access]\nallow = 10.0.0.0/8\ndeny=10.1.0.0/16\n\
                allow = ::1\n  relay_from = 127.0.0.1\n[server]\nspool_dir = C:\\temp\\new\n\
                [domain:x]  ; c\nmx = \"a ;b\" \npassword = 'x'y\n[users]\nbob = pa;ss\n\
                eve = #x\nlast=";
    let expected = [
        "server|listen|127.0.0.1:25|4",
        "server|hostname|mail.example.test|6",
        "access|allow|10.0.0.0/8|9",
        "access|deny|10.1.0.0/16|10",
        "access|allow|::1|11",
        "access|relay_from|127.0.0.1|12",
        "server|spool_dir|C:\\temp\\new|14",
        "domain:x|mx|a ;b|16",
        "domain:x|password|xy|17",
        "users|bob|pa;ss|19",
        "users|eve|#x|20",
        "users|last||21",
    ];
    assert_eq!(flat(text), expected);
}

#[test]
fn indented_comments() {
    let text = "[server]\nlisten = x\n  ; see: the manual\n[delivery]\n\t# a = b\nworkers = 4\n";
    assert_eq!(flat(text), ["server|listen|x|2", "delivery|workers|4|6"]);
}

#[test]
fn crlf_and_general_section() {
    let text = "early = 1\r\n[server]\r\nlisten = a\\\r\n\r\nhostname = h\r\n";
    let expected = ["|early|1|1", "server|listen|a\\|3", "server|hostname|h|5"];
    assert_eq!(flat(text), expected);
}

#[test]
fn structural_errors() {
    let cases: [(&str, usize); 6] = [
        ("[server]\njunk line\nlisten = x\n", 2),
        ("[server]\nspool_dir = C:\\spool\\\nlog_file = x\n", 2),
        ("[server]\n\nhostname = \"a\nb\"\n", 3),
        ("[server\nlisten = x]\n", 1),
        ("[server]\n\n  \tjunk", 3),
        ("[server]\nlisten = 1\n", 0),
    ];
    for (text, line) in cases {
        let errors = match read(text) {
            Ok((_, errors)) => errors,
            Err(errors) => errors,
        };
        let lines: Vec<Option<usize>> = errors.iter().map(|e| e.line).collect();
        let expected = if line == 0 { vec![] } else { vec![Some(line)] };
        assert_eq!(lines, expected, "{text:?}: {errors:?}");
    }
}

#[test]
fn fatal_errors() {
    for (text, line) in [
        ("[server]\n= x\n", 2),
        ("[server]\nhostname = \"abc\n", 2),
        ("[server]\n\n[oops\n", 3),
    ] {
        let errors = read(text).unwrap_err();
        assert_eq!(errors[0].line, Some(line), "{text:?}: {errors:?}");
    }
}

/// Random texts built from tricky fragments: the reader never panics, and each entry it
/// returns is on the line it names. (Replacing rust-ini, this reader was compared with it
/// on the fuzz seeds, every INI text of the tests and 300,000 such texts: no difference
/// for a text either accepts cleanly, except that a line holding only `\\` is now an error.)
#[test]
fn entries_are_on_their_lines() {
    let fragments = [
        "[s]",
        "[t] ",
        " [s]",
        "k",
        " k",
        "\tk",
        "=",
        ":",
        " = ",
        "v",
        " ;c",
        "#c",
        ";c",
        " #c",
        "\"q\"",
        "'q'",
        "\\",
        "\n",
        "\r\n",
        "\n",
        "\n",
        " ",
        "\t",
        "[a:b]",
        "x=y",
        "\"a ;b\"",
        "]",
        "C:\\temp\\new",
        "\\\n",
        "=\"",
    ];
    let mut seed: u64 = 0x1234_5678;
    let mut read_ok = 0;
    for _ in 0..20_000 {
        let mut text = String::new();
        for _ in 0..12 {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            text.push_str(fragments[(seed >> 33) as usize % fragments.len()]);
        }
        let Ok((sections, _)) = read(&text) else {
            continue;
        };
        let lines: Vec<&str> = text.split('\n').collect();
        for e in sections.iter().flat_map(|s| &s.entries) {
            let line = e.line.expect("every entry has its line");
            assert!(lines[line - 1].contains(e.key.as_str()), "{text:?} {e:?}");
        }
        read_ok += 1;
    }
    assert!(read_ok > 1000, "{read_ok}");
}

#[test]
fn key_lines() {
    let text = "[server]\ntls_cert = a\n[delivery]\ntls_cert = b\n";
    assert_eq!(key_line(text, "server", "tls_cert"), Some(2));
    assert_eq!(key_line(text, "server", "tls_key"), None);
}
