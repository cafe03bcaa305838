#!/bin/bash
# scripts/windows-smoke.sh -- the Windows build of qksmtp, run under Wine: does the program a
# Windows user double-clicks accept, spool, deliver, survive a kill and take orders?
#
# What it checks (qksmtp.exe cross-built for x86_64-pc-windows-gnu with MinGW, run by Wine 8):
#   - `--version` runs; `check` on an INI with a bad value names its line and exits 1;
#   - the server starts from an INI in a temp folder (paths like Z:\tmp\...\spool), prints its
#     start-up lines, takes a message for two recipients over SMTP (Python's smtplib);
#   - one recipient is delivered to Postfix's smtp-sink (the copy arrives, the delivery log
#     says result="delivered"), the other (a refused port) is deferred, as `queue` shows
#     through the running server's API;
#   - killed hard (SIGKILL), the spool still lists the pending recipient (`queue` offline);
#     restarted, it reports the message again, and `delete ID` through the API removes it.
#
# How to run: as root on Debian (bookworm): `sudo scripts/windows-smoke.sh`. It installs
# gcc-mingw-w64-x86-64-posix and wine64 with apt and the Rust target with rustup when missing,
# and postfix (for smtp-sink) through ../shared/bench/install-peers.sh. When the Rust target or
# the packages cannot be installed it says so and exits 0 without testing (SKIPPED); a build
# or a check that fails exits 1. Everything listens on 127.0.0.1, on ports chosen at run time.
# Wine 8 lacks bcryptprimitives.dll (ProcessPrng), which Rust's std needs on Windows: a
# stand-in built from scripts/windows/processprng.c is put beside the .exe (test only).
# Environment: KEEP=1 keeps the temp folder; QK_WIN_TIMEOUT (seconds per wait, default 90).
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
target=x86_64-pc-windows-gnu
wait_s=${QK_WIN_TIMEOUT:-90}

skip() { echo "windows-smoke: SKIPPED: $*"; exit 0; }
fail() { echo "windows-smoke: FAIL: $*" >&2; echo "windows-smoke: files kept in $work" >&2; exit 1; }
pass() { echo "PASS  $*"; }

if ! command -v x86_64-w64-mingw32-gcc >/dev/null || [ ! -x /usr/lib/wine/wine64 ]; then
  [ "$(id -u)" = 0 ] || skip "needs MinGW and Wine (run as root to install them)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq --no-install-recommends gcc-mingw-w64-x86-64-posix wine64 >/dev/null \
    || skip "apt-get could not install gcc-mingw-w64-x86-64-posix wine64"
fi
command -v smtp-sink >/dev/null || [ -x /usr/sbin/smtp-sink ] \
  || bash ../shared/bench/install-peers.sh >/dev/null \
  || skip "cannot install postfix for smtp-sink"
sink_bin=$(command -v smtp-sink || echo /usr/sbin/smtp-sink)
rustup target list --installed | grep -qx "$target" \
  || rustup target add "$target" >/dev/null 2>&1 \
  || skip "rustup cannot install the $target target here"

cargo build --release --locked --target "$target"
exe="$repo/target/$target/release/qksmtp.exe"

work=$(mktemp -d /tmp/qksmtp-win.XXXXXX)
export WINEPREFIX="$work/wineprefix" WINEDEBUG=-all
wine=/usr/lib/wine/wine64
wineserver=/usr/lib/wine/wineserver
sink_pid=""
server_pid=""
cleanup() {
  [ -n "$sink_pid" ] && kill "$sink_pid" 2>/dev/null || true
  "$wineserver" -k 2>/dev/null || true
  if [ "${KEEP:-0}" != 1 ] && [ "${ok:-0}" = 1 ]; then rm -rf "$work"; fi
}
trap cleanup EXIT

x86_64-w64-mingw32-gcc -shared -O2 -o "$work/bcryptprimitives.dll" \
  scripts/windows/processprng.c -ladvapi32 -Wl,--kill-at
cp "$exe" "$work/qksmtp.exe"
cd "$work"
qk() { timeout "$wait_s" "$wine" qksmtp.exe "$@"; }

# Waits until FILE contains the text (fixed string), or fails saying what was awaited.
wait_for() {
  local file=$1 text=$2 what=$3 n=0
  until grep -qF -- "$text" "$file" 2>/dev/null; do
    n=$((n + 1))
    [ "$n" -le $((wait_s * 10)) ] || fail "no $what in $file: $(tail -5 "$file" 2>/dev/null)"
    sleep 0.1
  done
}

version=$(qk --version)
[ "$version" = "qksmtp $(sed -n 's/^version = "\(.*\)"/\1/p' "$repo/Cargo.toml" | head -1)" ] \
  || fail "--version printed: $version"
pass "--version: $version"

printf '[server]\nlisten = 127.0.0.1:0\nmax_recipients = lots\n' > bad.ini
if qk check --config bad.ini > check.out 2>&1; then fail "check accepted a bad INI"; fi
grep -q "line 3" check.out || fail "check did not name line 3: $(cat check.out)"
pass "check names the line of a bad value and exits 1"

# Alone in a console (Wine gives one on a terminal, as Windows does on a double-click), a
# server that cannot start waits for Enter before the window would close.
python3 - "$wine" <<'PTY' || fail "no 'Press Enter' after a fatal error in its own console"
import os, pty, select, sys, time
pid, fd = pty.fork()
if pid == 0:
    os.execv(sys.argv[1], ["wine64", "qksmtp.exe", "--config", "bad.ini"])
out, sent, code = b"", 0.0, None
deadline = time.time() + 90
while time.time() < deadline and code is None:
    if select.select([fd], [], [], 0.2)[0]:
        try:
            out += os.read(fd, 4096)
        except OSError:
            pass
    # The Enter key, again every half second until it exits: Wine's console may still be
    # switching the terminal's mode when the prompt appears, and a key then is not seen.
    if b"Press Enter" in out and time.time() - sent > 0.5:
        os.write(fd, b"\r")
        sent = time.time()
    done, status = os.waitpid(pid, os.WNOHANG)
    if done:
        code = os.waitstatus_to_exitcode(status)
sys.exit(0 if sent and code == 1 and b"line 3" in out else 1)
PTY
pass "a fatal error in its own console window waits for Enter, then exits 1"

sink_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
mkdir -p sink
"$sink_bin" -u root -d "$work/sink/%M." "127.0.0.1:$sink_port" 100 > sink.log 2>&1 &
sink_pid=$!
cat > qksmtp.ini <<EOF
[server]
listen = 127.0.0.1:0
status_listen = 127.0.0.1:0
hostname = mx.qksmtp.test
spool_dir = spool
log_file = delivery.log
[delivery]
dns_server = 127.0.0.1:9
[domain:*]
mx = 127.0.0.1:9
retry_delay = 1h
[domain:sink.test]
mx = 127.0.0.1:$sink_port
EOF

start() {
  "$wine" qksmtp.exe > "$1" 2> "$1.err" < /dev/null &
  server_pid=$!
  wait_for "$1" "ready" "start-up"
  port=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\) (smtp).*/\1/p' "$1" | head -1)
  [ -n "$port" ] || fail "no smtp port in $(cat "$1")"
}
start run1.out
pass "started: $(grep -c . run1.out) start-up lines, SMTP on 127.0.0.1:$port"

id=$(python3 - "$port" <<'EOF'
import re, smtplib, sys
s = smtplib.SMTP("127.0.0.1", int(sys.argv[1]), timeout=30)
s.ehlo("client.test")
s.mail("me@sender.test")
for r in ["you@sink.test", "stay@dead.test"]:
    code, _ = s.rcpt(r)
    assert code == 250, (r, code)
code, text = s.data(b"Subject: hello from Wine\r\n\r\nbody line\r\n.leading dot\r\n")
assert code == 250, (code, text)
s.quit()
print(re.search(rb"queued as (\S+)", text).group(1).decode())
EOF
)
pass "accepted as $id"

wait_for delivery.log 'to=<you@sink.test>' "attempt for you@sink.test"
grep -F 'to=<you@sink.test>' delivery.log | grep -q 'result="delivered"' \
  || fail "you@sink.test not delivered: $(cat delivery.log)"
n=0
until grep -rqF "hello from Wine" sink/ 2>/dev/null; do
  n=$((n + 1)); [ "$n" -le $((wait_s * 10)) ] || fail "the sink got no copy"; sleep 0.1
done
grep -rqF ".leading dot" sink/ || fail "the leading dot did not survive"
pass "you@sink.test delivered to smtp-sink (copy arrived, log says delivered)"

wait_for delivery.log 'to=<stay@dead.test>' "attempt for stay@dead.test"
qk queue > queue1.out 2>&1 || fail "queue: $(cat queue1.out)"
grep -q "deferred  stay@dead.test" queue1.out || fail "queue (API): $(cat queue1.out)"
pass "queue through the API: stay@dead.test deferred"

kill -9 "$server_pid"
wait "$server_pid" 2>/dev/null || true
! kill -0 "$server_pid" 2>/dev/null || fail "qksmtp.exe outlived SIGKILL"
qk queue > queue2.out 2>&1 || fail "queue after the kill: $(cat queue2.out)"
grep -qE "deferred +stay@dead.test" queue2.out || fail "queue (offline): $(cat queue2.out)"
pass "killed hard: the spool still lists stay@dead.test (queue offline)"

start run2.out
grep -q "(1 message(s), 1 recipient(s) pending)" run2.out || fail "restart: $(cat run2.out)"
qk delete "$id" > delete.out 2>&1 || fail "delete: $(cat delete.out)"
qk queue > queue3.out 2>&1
grep -q "^0 message" queue3.out || fail "queue after delete: $(cat queue3.out)"
pass "restarted with the message; delete $id through the API empties the queue"

ok=1
echo "windows-smoke: RESULT: PASS"
