//! Table tests of the TLSA matcher. The chain (a P-256 CA and a server certificate for
//! mx.dane.test, made once with the openssl CLI) is in ee.der and ca.der; each record's data
//! was computed by the openssl CLI and sha256sum/sha512sum, not by this code:
//! `openssl x509 -pubkey -noout | openssl pkey -pubin -outform DER | sha256sum`.

use super::*;

const EE: &[u8] = include_bytes!("ee.der");
const CA: &[u8] = include_bytes!("ca.der");
const EE_301: &str = "ac7039893231f884c007f0bb723640bd4cdc00a897446a610e4ebbb8c63dbefc";
const EE_311: &str = "5ed0d4d1fd6edc3ba26da21d24a28585325b756217fb40d351a6f4d750e5d1ed";
const EE_312: &str = "7d675604ee848a864501a54c30a30eeff33c41ec6169232d478a153d322c7bbb\
                      b71a5b16e79ced4b86e5bb7d6afc846eb5d0ea4026b9e17abca2d6482cecebb9";
const EE_310: &str = "3059301306072a8648ce3d020106082a8648ce3d030107034200042063ca1889\
                      a2877c552c20238c8baf5698cbb76fb84bf0db42074767d150309b663acafb0c\
                      a959922756e81ca6523b2f89897514cdb1635a5d15cda0f6b1cb7f";
const EE_302: &str = "a6269281d4871963bf27fbe1dc5a3a0af8d2d71fd105a44b2c1db1d5a2a51d62\
                      fc8b64b11e83fe040a4e74c23c5ee2de1fd5c98e04a6cc2fae94aad80f1fc83f";
const CA_201: &str = "f207394907b2f53fd254bd51b6261239b900b1bbd927259bcbfa26a810d0885c";
const CA_211: &str = "a8fe428473a8e351dc3693df3be912ebd3981b281aaa0af1cf3049142674246c";

fn rec(usage: u8, selector: u8, matching: u8, hex: &str) -> Tlsa {
    let hex: String = hex.split_whitespace().collect();
    let data = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect();
    Tlsa {
        usage,
        selector,
        matching,
        data,
    }
}

#[test]
fn records_against_the_chain() {
    let chain = vec![EE.to_vec(), CA.to_vec()];
    let m = |record, cert| Some(Matched { record, cert });
    let cases: Vec<(&str, Vec<Tlsa>, Option<Matched>)> = vec![
        (
            "DANE-EE whole cert SHA-256",
            vec![rec(3, 0, 1, EE_301)],
            m(0, 0),
        ),
        ("DANE-EE SPKI SHA-256", vec![rec(3, 1, 1, EE_311)], m(0, 0)),
        ("DANE-EE SPKI SHA-512", vec![rec(3, 1, 2, EE_312)], m(0, 0)),
        ("DANE-EE SPKI exact", vec![rec(3, 1, 0, EE_310)], m(0, 0)),
        (
            "DANE-EE whole cert SHA-512",
            vec![rec(3, 0, 2, EE_302)],
            m(0, 0),
        ),
        (
            "DANE-EE whole cert exact",
            vec![rec(3, 0, 0, &fingerprint_hex(EE))],
            m(0, 0),
        ),
        ("DANE-TA whole CA cert", vec![rec(2, 0, 1, CA_201)], m(0, 1)),
        ("DANE-TA CA SPKI", vec![rec(2, 1, 1, CA_211)], m(0, 1)),
        (
            "DANE-EE record naming the CA",
            vec![rec(3, 0, 1, CA_201)],
            None,
        ),
        (
            "DANE-TA record naming the server",
            vec![rec(2, 0, 1, EE_301)],
            None,
        ),
        ("PKIX-EE is unusable", vec![rec(1, 0, 1, EE_301)], None),
        ("PKIX-TA is unusable", vec![rec(0, 0, 1, CA_201)], None),
        ("unknown selector", vec![rec(3, 2, 1, EE_301)], None),
        ("unknown matching type", vec![rec(3, 0, 3, EE_301)], None),
        ("wrong digest", vec![rec(3, 1, 1, CA_211)], None),
        (
            "the second record matches",
            vec![rec(3, 1, 1, CA_211), rec(3, 1, 1, EE_311)],
            m(1, 0),
        ),
        ("no records", vec![], None),
    ];
    for (what, records, want) in cases {
        assert_eq!(find(&records, &chain), want, "{what}");
    }
}

#[test]
fn a_chain_without_its_ca_matches_no_dane_ta() {
    let chain = vec![EE.to_vec()];
    assert_eq!(find(&[rec(2, 0, 1, CA_201)], &chain), None);
    assert_eq!(find(&[rec(3, 1, 1, EE_311)], &[]), None);
}

#[test]
fn usable_sets() {
    assert!(usable(&[rec(0, 0, 1, CA_201), rec(3, 1, 1, EE_311)]));
    assert!(usable(&[rec(2, 0, 1, CA_201)]));
    assert!(!usable(&[rec(1, 0, 1, EE_301), rec(0, 1, 1, CA_211)]));
    assert!(!usable(&[rec(3, 1, 9, EE_311)]));
    assert!(!usable(&[]));
}

#[test]
fn garbage_is_no_match_and_no_panic() {
    let records = [rec(3, 1, 1, EE_311), rec(2, 1, 1, CA_211)];
    for bad in [
        &[][..],
        &[0x30],
        &[0x30, 0x84, 0xff, 0xff, 0xff, 0xff],
        &EE[..40],
    ] {
        assert_eq!(find(&records, &[bad.to_vec(), bad.to_vec()]), None);
    }
}

#[test]
fn fingerprints_are_sha256_hex() {
    assert_eq!(fingerprint(EE), EE_301);
}

fn fingerprint_hex(der: &[u8]) -> String {
    der.iter().map(|b| format!("{b:02x}")).collect()
}
