#!/bin/bash
# scripts/auth-flood.sh -- password guessing in bulk against a release build (issue 21).
#
# 200 sessions from 20 addresses (127.0.2.1-20, 10 each) send a wrong AUTH PLAIN at the same
# moment; 0.2 s later a session from 127.0.0.1 logs in with the right password. The users
# line is made by `qksmtp passwd` (Argon2id, m=19 MiB, t=2). It prints the server's resident
# memory before, its peak (VmHWM) during, and 5 s after the attack, the honest login's time
# to its 235, and how the 200 wrong logins were answered (535, or 454 for the checks that
# did not get a verifier thread in time).
#
# Goal: peak RSS under 64 MB, the honest login within 1 s.
# Run from the repository: scripts/auth-flood.sh  (Linux; needs python3)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked -q
BIN=$PWD/target/release/qksmtp
DIR=$(mktemp -d)
trap 'kill "$PID" 2>/dev/null || true; rm -rf "$DIR"' EXIT
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
USER_LINE=$(echo "right password" | "$BIN" passwd alice)
cat > "$DIR/qksmtp.ini" <<INI
[server]
listen = 127.0.0.1:$PORT
hostname = flood.qksmtp.test
status_listen =
spool_dir = spool
log_file =
log_level = error
max_sessions = 400
[access]
allow = 127.0.0.0/8
[users]
$USER_LINE
INI
"$BIN" --config "$DIR/qksmtp.ini" > "$DIR/out" 2> "$DIR/err" &
PID=$!
python3 - "$PID" "$PORT" <<'PY'
import smtplib, sys, threading, time

pid, port = int(sys.argv[1]), int(sys.argv[2])

def status(field):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024  # MiB

def session(source):
    for _ in range(200):
        try:
            s = smtplib.SMTP("127.0.0.1", port, source_address=(source, 0), timeout=60)
            s.ehlo("flood.test")
            return s
        except OSError:
            time.sleep(0.05)  # not listening yet
    raise SystemExit("cannot connect")

def login(s, user, password):
    s.user, s.password = user, password
    try:
        code, _ = s.auth("PLAIN", s.auth_plain)
    except smtplib.SMTPAuthenticationError as e:
        code = e.smtp_code
    return code

session("127.0.0.1").quit()
before = status("VmRSS")
attackers = [session(f"127.0.2.{1 + i % 20}") for i in range(200)]
go = threading.Barrier(len(attackers) + 1)
codes = []
def attack(s):
    go.wait()
    codes.append(login(s, "alice", "wrong guess"))
threads = [threading.Thread(target=attack, args=(s,)) for s in attackers]
for t in threads:
    t.start()
honest = session("127.0.0.1")
go.wait()
time.sleep(0.2)
started = time.monotonic()
honest_code = login(honest, "alice", "right password")
honest_secs = time.monotonic() - started
for t in threads:
    t.join()
peak = status("VmHWM")
time.sleep(5)
after = status("VmRSS")
summary = {c: codes.count(c) for c in sorted(set(codes))}
print(f"RSS before {before:.1f} MiB, peak {peak:.1f} MiB, 5 s after {after:.1f} MiB")
print(f"honest login from 127.0.0.1: {honest_code} in {honest_secs:.3f} s")
print(f"200 wrong logins answered: {summary}")
ok = peak < 64 * 1000 * 1000 / 2**20 and honest_code == 235 and honest_secs < 1
print("goal met" if ok else "GOAL MISSED")
sys.exit(0 if ok else 1)
PY
