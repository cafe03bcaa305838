//! Whether the certificate a server showed in the handshake proves what `Secure::check`
//! asks, and what vouched for it; `Err` says why not, in the words of the step record. Pure:
//! the handshake's findings in (`Peer`), a verdict out.

use super::dane;
use super::tls::{Check, Peer, Secure};
use crate::transcript::tls::{Demand, VerifiedBy};

/// The verdict on `peer` for `secure.check`. `anchor(i)` tells whether chain certificate
/// `i`, taken as the only trusted CA, vouches for the server's name (DANE-TA).
pub fn judge(
    secure: &Secure,
    peer: &Peer,
    name: &str,
    anchor: &dyn Fn(usize) -> Result<(), String>,
) -> Result<Option<VerifiedBy>, String> {
    match &secure.check {
        Check::Nothing => Ok(None),
        Check::Pkix => match &peer.pkix {
            Ok(()) if matches!(secure.demand, Demand::MtaSts { .. }) => {
                Ok(Some(VerifiedBy::MtaSts))
            }
            Ok(()) => Ok(Some(VerifiedBy::Ca)),
            Err(why) => Err(format!("certificate not valid for {name}: {why}")),
        },
        Check::Dane { records, port } => {
            let digest = peer
                .chain
                .first()
                .map_or("none".to_string(), |c| dane::fingerprint(c));
            let Some(m) = dane::find(records, &peer.chain) else {
                let shown: Vec<String> = records.iter().map(|r| r.to_string()).collect();
                return Err(format!(
                    "DANE: no TLSA record of _{port}._tcp.{name} ({}) matches the certificate \
                     (SHA-256 {digest})",
                    shown.join("; ")
                ));
            };
            match m.cert {
                0 => Ok(Some(VerifiedBy::DaneEe)),
                i => match anchor(i) {
                    Ok(()) => Ok(Some(VerifiedBy::DaneTa)),
                    Err(why) => Err(format!(
                        "DANE: TLSA record {} matches a CA of the chain, but it does not \
                         vouch for {name} (SHA-256 {digest}): {why}",
                        records[m.record]
                    )),
                },
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::tls::TlsPolicy;
    use crate::dns::Tlsa;
    use std::sync::Arc;

    fn secure(check: Check, demand: Demand) -> Secure {
        Secure {
            mode: TlsPolicy::Required,
            check,
            enforce: true,
            demand,
            ca_file: None,
        }
    }

    #[test]
    fn verdicts() {
        let ee = b"not really DER".to_vec();
        let sha = dane::fingerprint(&ee);
        let tlsa = |usage, data: &str| Tlsa {
            usage,
            selector: 0,
            matching: 0,
            data: data.as_bytes().to_vec(),
        };
        let good = Peer {
            chain: vec![ee.clone(), b"the CA".to_vec()],
            pkix: Ok(()),
            version: None,
        };
        let bad = Peer {
            chain: vec![ee.clone()],
            pkix: Err("self-signed certificate".into()),
            version: None,
        };
        let dane = |r: Vec<Tlsa>| Check::Dane {
            records: Arc::from(r),
            port: 25,
        };
        let sts = Demand::MtaSts { enforce: true };
        let ok_anchor = |_: usize| Ok(());
        let no_anchor = |_: usize| Err("Hostname mismatch".to_string());
        type Anchor<'a> = &'a dyn Fn(usize) -> Result<(), String>;
        type Case<'a> = (
            Check,
            Demand,
            &'a Peer,
            Anchor<'a>,
            Result<Option<VerifiedBy>, String>,
        );
        let cases: Vec<Case> = vec![
            (
                Check::Nothing,
                Demand::Opportunistic,
                &bad,
                &ok_anchor,
                Ok(None),
            ),
            (
                Check::Pkix,
                Demand::Verify,
                &good,
                &ok_anchor,
                Ok(Some(VerifiedBy::Ca)),
            ),
            (
                Check::Pkix,
                sts,
                &good,
                &ok_anchor,
                Ok(Some(VerifiedBy::MtaSts)),
            ),
            (
                Check::Pkix,
                sts,
                &bad,
                &ok_anchor,
                Err("certificate not valid for mx.example.test: self-signed certificate".into()),
            ),
            (
                dane(vec![tlsa(3, "not really DER")]),
                Demand::Dane,
                &bad,
                &no_anchor,
                Ok(Some(VerifiedBy::DaneEe)),
            ),
            (
                dane(vec![tlsa(2, "the CA")]),
                Demand::Dane,
                &good,
                &ok_anchor,
                Ok(Some(VerifiedBy::DaneTa)),
            ),
            (
                dane(vec![tlsa(2, "the CA")]),
                Demand::Dane,
                &good,
                &no_anchor,
                Err(format!(
                    "DANE: TLSA record 2 0 0 746865204341 matches a CA of the chain, but it \
                     does not vouch for mx.example.test (SHA-256 {sha}): Hostname mismatch"
                )),
            ),
            (
                dane(vec![tlsa(3, "ab")]),
                Demand::Dane,
                &good,
                &ok_anchor,
                Err(format!(
                    "DANE: no TLSA record of _25._tcp.mx.example.test (3 0 0 6162) matches the \
                     certificate (SHA-256 {sha})"
                )),
            ),
        ];
        for (check, demand, peer, anchor, want) in cases {
            let s = secure(check.clone(), demand);
            assert_eq!(
                judge(&s, peer, "mx.example.test", anchor),
                want,
                "{check:?}"
            );
        }
    }
}
