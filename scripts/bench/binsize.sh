#!/usr/bin/env bash
# scripts/bench/binsize.sh [COMMIT] -- what an HTTPS client crate would add to the binary
# (issue 16): the release binary of COMMIT (default HEAD) with the MTA-STS policy download as
# it is (a small GET of our own over native-tls), then with ureq 3 (native-tls feature, no
# default features) linked and called instead. Prints both sizes, as built (the release
# profile keeps line tables: debug = 1) and stripped. Builds in a temporary worktree with its
# own target folder (a few minutes on 2 cores).
set -euo pipefail
commit=${1:-HEAD}
root=$(git rev-parse --show-toplevel)
work=$(mktemp -d)
trap 'git -C "$root" worktree remove --force "$work/src" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
git -C "$root" worktree add --detach "$work/src" "$commit" >/dev/null
cd "$work/src"
export CARGO_TARGET_DIR="$work/target"
size() {
  cargo build --release --quiet "$@"
  strip -o "$work/stripped" "$CARGO_TARGET_DIR/release/qksmtp"
  echo "$(stat -c %s "$CARGO_TARGET_DIR/release/qksmtp") $(stat -c %s "$work/stripped")"
}
own=$(size --locked)
python3 - <<'PY'
p = 'Cargo.toml'; s = open(p).read()
s = s.replace('native-tls = "0.2"', 'native-tls = "0.2"\nureq = { version = "3", default-features = false, features = ["native-tls"] }', 1)
open(p, 'w').write(s)
p = 'src/deliver/tls_policy/fetch.rs'; s = open(p).read()
s = s.replace("    let deadline = Instant::now() + TIME_LIMIT;\n",
              "    if std::env::var_os(\"QKSMTP_UREQ\").is_some() {\n        return by_ureq(&host);\n    }\n"
              "    let deadline = Instant::now() + TIME_LIMIT;\n", 1)
s += '''
fn by_ureq(host: &str) -> Result<String, String> {
    use ureq::tls::{TlsConfig, TlsProvider};
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .tls_config(TlsConfig::builder().provider(TlsProvider::NativeTls).build())
        .max_redirects(0)
        .timeout_global(Some(TIME_LIMIT))
        .build()
        .into();
    let url = format!("https://{host}/.well-known/mta-sts.txt");
    let mut resp = agent.get(&url).call().map_err(|e| e.to_string())?;
    resp.body_mut().with_config().limit(SIZE_LIMIT as u64).read_to_string().map_err(|e| e.to_string())
}
'''
open(p, 'w').write(s)
PY
with=$(size)
read -r own_full own_strip <<<"$own"
read -r ureq_full ureq_strip <<<"$with"
echo "commit $(git rev-parse --short HEAD): own GET $own_full bytes ($own_strip stripped); with ureq $ureq_full bytes ($ureq_strip stripped); ureq adds $((ureq_full - own_full)) ($((ureq_strip - own_strip)) stripped)"
