#!/bin/bash
# scripts/interop-postfix.sh -- qksmtp's hand-written SMTP client against real MTAs.
#
# What it checks (issue 4, "one scripted run against a real MTA that nobody here wrote"):
#   A. Postfix's smtp-sink as the MX of sink.test ([domain:sink.test] mx = 127.0.0.1:PORT;
#      smtp-sink advertises PIPELINING and 8BITMIME and dumps every transaction to a file):
#        - a message with 2 recipients arrives once, in ONE transaction (2 RCPT);
#        - a message with leading-dot lines (".", "..", ".first", "..leading dot", a last line
#          ".last") and 8-bit bytes (UTF-8 and raw Latin-1) arrives byte for byte, i.e.
#          qksmtp dot-stuffed what it sent and the sink's unstuffing gives back the original;
#        - a ~300 KB message with a leading dot every few lines arrives byte for byte;
#        - qksmtp's delivery log says result="delivered" for every recipient, and the
#          queue has nothing pending afterwards.
#   B. A throwaway Postfix instance as an authenticating relay (own config/queue/data dirs
#      in the temp dir, cyrus SASL with a private sasldb, STARTTLS with a self-signed
#      certificate, smtpd_tls_auth_only = yes, smtpd_relay_restrictions =
#      permit_sasl_authenticated, reject, 127.0.0.1 NOT in mynetworks), relaying
#      viarelay.test on to the smtp-sink. First sanity checks of the peer itself with swaks
#      (unauthenticated relaying refused; AUTH not offered before STARTTLS; swaks with
#      STARTTLS + AUTH relays). Then qksmtp with [domain:viarelay.test] direct_attempts = 0,
#      relay_attempts = 2 and [relay:postfix] tls = starttls, tls_verify = no:
#        - auth = plain: delivered; the sink's copy carries Postfix's Received header
#          "with ESMTPSA" (TLS + AUTH) and Postfix logged sasl_method=PLAIN;
#        - auth = login: the same with sasl_method=LOGIN;
#        - a WRONG password: the delivery log shows the attempt failing at AUTH with 535, the
#          message never reaches the sink, and `qksmtp queue` shows the recipient as the
#          log's result says (deferred when deferred, failed when failed).
#   The password contains a space and a ';' (quoted in the INI) to exercise quoting + base64.
#
# How to run: as root on Debian (bookworm), from anywhere:
#     sudo scripts/interop-postfix.sh
# It installs postfix (via ../shared/bench/install-peers.sh: no system instance is configured
# or started), sasl2-bin, libsasl2-modules and swaks with apt when missing; builds
# target/release/qksmtp with cargo when missing (or uses $QKSMTP). Everything listens on
# 127.0.0.1 only, on free ports chosen at run time; DNS stays on loopback (dns_server =
# 127.0.0.1:9); all domains are .test. Exit status 0 = every check passed.
# Environment: QKSMTP=/path/to/qksmtp (binary to test), KEEP=1 (keep the temp dir on success;
# it is always kept on failure), QK_INTEROP_TIMEOUT (seconds per wait, default 60).
#
# How long: about 7 s once the packages are installed and the binary is built (10 s with the
# CPUs busy); the first run adds the apt install (~30-60 s) and a release build if there is
# none. Every wait polls a condition with a deadline (QK_INTEROP_TIMEOUT), none is a fixed sleep.
# The binary is only built when missing: build it first (or set QKSMTP) to test fresh sources.

# Functions run through `check`, `wait_until` and the EXIT trap look unreachable to shellcheck.
# shellcheck disable=SC2317
set -euo pipefail

START_SECONDS=$SECONDS
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
INSTALL_PEERS=$HERE/../../shared/bench/install-peers.sh
WAIT=${QK_INTEROP_TIMEOUT:-60}

# Test identities. The password has a space and a ';' on purpose (INI quoting, base64).
SASL_USER=user
SASL_REALM=relay.test
SASL_LOGIN=$SASL_USER@$SASL_REALM
SASL_PASS='s3cret pa;ss'
RELAY_NAME=relay-postfix.test
SENDER=sender@qksmtp.test

log() { printf '[%5ss] %s\n' "$((SECONDS - START_SECONDS))" "$*" >&2; }

# --- results --------------------------------------------------------------------------------
PASSES=()
FAILS=()
pass() { PASSES+=("$1"); log "PASS: $1"; }
fail() { FAILS+=("$1"); log "FAIL: $1"; }
# check "description" command...: runs the command, records PASS or FAIL.
check() {
    local what=$1; shift
    if "$@"; then pass "$what"; else fail "$what"; fi
}
# die "why": a setup step failed; nothing after it can be meaningful.
die() { fail "$1"; exit 1; }

# --- cleanup --------------------------------------------------------------------------------
W=""
SINK_PID=""
QK_PID=""
PF_CONF=""
print_tails() {
    local f
    for f in "$W"/sink/sink.log "$W"/postfix/maillog "$W"/postfix/start.log \
             "$W"/qk-*/check.txt "$W"/qk-*/qksmtp.stderr "$W"/qk-*/delivery.log "$W"/qk-*/queue.txt "$W"/swaks-*.log; do
        [ -f "$f" ] || continue
        printf '\n----- tail of %s -----\n' "$f" >&2
        tail -n 40 "$f" | cat -v >&2
    done
}
stop_qksmtp() {
    [ -n "$QK_PID" ] || return 0
    if kill -0 "$QK_PID" 2>/dev/null; then
        kill -TERM "$QK_PID" 2>/dev/null || true
        local end=$((SECONDS + 15))
        while kill -0 "$QK_PID" 2>/dev/null && (( SECONDS < end )); do sleep 0.1; done
        kill -KILL "$QK_PID" 2>/dev/null || true
    fi
    wait "$QK_PID" 2>/dev/null || true
    QK_PID=""
}
stop_postfix() {
    [ -n "$PF_CONF" ] && [ -f "$PF_CONF/main.cf" ] || return 0
    local q pid=""
    q=$(postconf -c "$PF_CONF" -h queue_directory 2>/dev/null || true)
    [ -n "$q" ] && [ -s "$q/pid/master.pid" ] && pid=$(tr -d ' \n' < "$q/pid/master.pid")
    postfix -c "$PF_CONF" stop >/dev/null 2>&1 || true
    if [ -n "$pid" ]; then
        local end=$((SECONDS + 10))
        while kill -0 "$pid" 2>/dev/null && (( SECONDS < end )); do sleep 0.1; done
        if kill -0 "$pid" 2>/dev/null; then
            postfix -c "$PF_CONF" abort >/dev/null 2>&1 || true
            kill -KILL "$pid" 2>/dev/null || true
        fi
    fi
    PF_CONF=""
}
stop_sink() {
    [ -n "$SINK_PID" ] || return 0
    kill -TERM "$SINK_PID" 2>/dev/null || true
    wait "$SINK_PID" 2>/dev/null || true
    SINK_PID=""
}
on_exit() {
    local rc=$?
    set +e
    stop_qksmtp
    stop_postfix
    stop_sink
    if (( rc != 0 )) && (( ${#FAILS[@]} == 0 )); then
        FAILS+=("the script stopped unexpectedly (exit $rc, see the messages above)")
    fi
    printf '\n===== interop-postfix summary (%ss) =====\n' "$((SECONDS - START_SECONDS))"
    local t
    for t in "${PASSES[@]}"; do printf 'PASS  %s\n' "$t"; done
    for t in "${FAILS[@]}"; do printf 'FAIL  %s\n' "$t"; done
    if (( ${#FAILS[@]} > 0 )); then
        [ -n "$W" ] && [ -d "$W" ] && print_tails
        printf '\nRESULT: FAIL (%d failed, %d passed); logs kept in %s\n' \
            "${#FAILS[@]}" "${#PASSES[@]}" "${W:-(no temp dir)}"
        exit 1
    fi
    printf 'RESULT: PASS (%d checks)\n' "${#PASSES[@]}"
    if [ -n "$W" ] && [ -d "$W" ]; then
        if [ "${KEEP:-0}" = 1 ]; then printf 'logs kept in %s\n' "$W"; else rm -rf "$W"; fi
    fi
    exit 0
}
trap on_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- helpers ---------------------------------------------------------------------------------
# wait_until SECONDS command...: polls the command every 0.2 s until it succeeds or time is up.
wait_until() {
    local secs=$1; shift
    local end=$((SECONDS + secs))
    until "$@"; do
        (( SECONDS < end )) || return 1
        sleep 0.2
    done
}
listening() { ss -Hltn "sport = :$1" 2>/dev/null | grep -q .; }
# A free TCP port on 127.0.0.1, below the ephemeral range so that no outgoing connection
# takes it between the choice and the bind.
PICKED=" "
free_port() {
    local p _
    for _ in $(seq 200); do
        p=$((20000 + RANDOM % 12000))
        case "$PICKED" in *" $p "*) continue ;; esac
        listening "$p" && continue
        PICKED="$PICKED$p "
        echo "$p"; return 0
    done
    return 1
}

# --- 0. prerequisites -----------------------------------------------------------------------
[ "$(id -u)" = 0 ] || { echo "run as root (it installs Debian packages and starts Postfix)" >&2; exit 2; }

install_packages() {
    if [ -f "$INSTALL_PEERS" ]; then
        bash "$INSTALL_PEERS" >/dev/null
    elif ! { command -v postfix && command -v smtp-sink; } >/dev/null; then
        # The same as ../shared/bench/install-peers.sh: the postfix package without a system
        # instance (debconf "No configuration", policy-rc.d forbids starting services).
        apt-get update -qq
        echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
        local had_policy=0
        [ -e /usr/sbin/policy-rc.d ] && had_policy=1
        [ $had_policy = 1 ] || { printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d; }
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postfix >/dev/null
        [ $had_policy = 1 ] || rm -f /usr/sbin/policy-rc.d
    fi
    local missing=()
    command -v saslpasswd2 >/dev/null || missing+=(sasl2-bin)
    dpkg-query -W -f '${Status}' libsasl2-modules 2>/dev/null | grep -q 'ok installed' || missing+=(libsasl2-modules)
    command -v swaks >/dev/null || missing+=(swaks)
    command -v openssl >/dev/null || missing+=(openssl)
    command -v ss >/dev/null || missing+=(iproute2)
    if (( ${#missing[@]} > 0 )); then
        log "installing ${missing[*]}"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    fi
}
log "checking packages"
install_packages || die "install postfix, sasl2-bin, libsasl2-modules, swaks"

QK=${QKSMTP:-$REPO/target/release/qksmtp}
if [ ! -x "$QK" ]; then
    [ -z "${QKSMTP:-}" ] || die "QKSMTP=$QKSMTP is not an executable"
    log "building qksmtp (cargo build --release)"
    (cd "$REPO" && cargo build --release --quiet) || die "cargo build --release"
fi

W=$(mktemp -d /tmp/qk-interop.XXXXXX)
# smtp-sink and the Postfix daemons run as the postfix user and must reach their files here.
chmod 755 "$W"
log "work dir $W"
log "versions: $("$QK" --version 2>&1 | head -1); postfix $(postconf -d -h mail_version 2>/dev/null); $(dpkg-query -W -f 'swaks ${Version}' swaks)"

SINK_PORT=$(free_port) || die "find a free port"
RELAY_PORT=$(free_port) || die "find a free port"

# --- 1. smtp-sink, the MX of sink.test and the next hop of the Postfix relay -----------------
DUMP=$W/sink/dump
mkdir -p "$DUMP"
chown postfix "$DUMP"
# -u postfix: drop root after binding; -h: its name; -d: one file per transaction (the
# template is strftime-expanded, a random suffix is appended). PIPELINING and 8BITMIME are
# advertised by default (-p / -8 would turn them off). 64 = listen backlog.
smtp-sink -u postfix -h sink.test -d "$DUMP/%Y%m%d%H%M%S." "127.0.0.1:$SINK_PORT" 64 \
    > "$W/sink/sink.log" 2>&1 &
SINK_PID=$!
wait_until 10 listening "$SINK_PORT" || die "smtp-sink listens on 127.0.0.1:$SINK_PORT"
log "smtp-sink on 127.0.0.1:$SINK_PORT (pid $SINK_PID)"

# --- 2. the throwaway Postfix relay ----------------------------------------------------------
# Same approach as ../shared/bench/adapters/postfix.sh: every directory of its own under $W,
# all daemons unchrooted, logging to a file through postlogd; plus STARTTLS and cyrus SASL.
start_postfix() {
    local P=$W/postfix
    # The cyrus config dir is $C/sasl: Debian's Postfix looks for smtpd.conf in
    # <config_directory>/sasl first, so cyrus_sasl_config_path below names the same place.
    local C=$P/conf Q=$P/queue D=$P/data S=$P/conf/sasl
    mkdir -p "$C" "$Q" "$D" "$S"
    chown postfix "$D"
    openssl req -x509 -newkey rsa:2048 -nodes -keyout "$C/key.pem" -out "$C/cert.pem" \
        -days 2 -subj "/CN=$RELAY_NAME" >/dev/null 2>&1
    # The sasldb (user@realm) and the cyrus config of the application "smtpd".
    printf '%s' "$SASL_PASS" | saslpasswd2 -c -p -f "$S/sasldb2" -u "$SASL_REALM" "$SASL_USER"
    chown postfix "$S"/sasldb2*
    chmod 600 "$S"/sasldb2*
    cat > "$S/smtpd.conf" <<EOF
pwcheck_method: auxprop
auxprop_plugin: sasldb
mech_list: PLAIN LOGIN
sasldb_path: $S/sasldb2
EOF
    cat > "$C/main.cf" <<EOF
compatibility_level = 3.6
queue_directory = $Q
data_directory = $D
command_directory = /usr/sbin
daemon_directory = /usr/lib/postfix/sbin
meta_directory = /etc/postfix
shlib_directory = /usr/lib/postfix
mail_owner = postfix
setgid_group = postdrop
myhostname = $RELAY_NAME
mydomain = relay.test
myorigin = \$myhostname
mydestination =
local_recipient_maps =
local_transport = error:local delivery disabled
alias_maps =
alias_database =
relay_domains =
relayhost =
# viarelay.test goes on to the smtp-sink; nothing else can leave.
transport_maps = inline:{ viarelay.test=smtp:[127.0.0.1]:$SINK_PORT }
default_transport = error:interop: only viarelay.test is routed
biff = no
append_dot_mydomain = no
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
# 127.0.0.1 is NOT a trusted network: relaying needs SASL authentication.
mynetworks = 192.0.2.1/32
smtpd_relay_restrictions = permit_sasl_authenticated, reject
smtpd_recipient_restrictions =
smtpd_peername_lookup = no
smtpd_sasl_auth_enable = yes
smtpd_sasl_type = cyrus
smtpd_sasl_path = smtpd
cyrus_sasl_config_path = $S
smtpd_sasl_security_options = noanonymous
smtpd_sasl_tls_security_options = noanonymous
smtpd_tls_security_level = may
smtpd_tls_auth_only = yes
smtpd_tls_chain_files = $C/key.pem, $C/cert.pem
smtpd_tls_loglevel = 1
smtpd_tls_received_header = yes
smtp_tls_security_level = none
maillog_file = $P/maillog
maillog_file_prefixes = $W
EOF
    cat > "$C/master.cf" <<EOF
127.0.0.1:$RELAY_PORT inet n - n - - smtpd
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
EOF
    PF_CONF=$C
    postfix -c "$C" check > "$P/start.log" 2>&1
    postfix -c "$C" start >> "$P/start.log" 2>&1
}
start_postfix || die "start the Postfix relay (see postfix/start.log)"
wait_until 20 listening "$RELAY_PORT" || die "the Postfix relay listens on 127.0.0.1:$RELAY_PORT"
log "Postfix relay on 127.0.0.1:$RELAY_PORT"
PF_LOG=$W/postfix/maillog

# --- messages ---------------------------------------------------------------------------------
# write_message FILE ID SUBJECT BODYFILE: headers (with a unique X-Interop-Id) + blank line +
# body, without the body's last newline: swaks always ends the data with CRLF before ".", so
# what goes on the wire is exactly the body.
write_message() {
    local file=$1 id=$2 subject=$3 body=$4
    {
        printf 'From: Interop <%s>\n' "$SENDER"
        printf 'To: interop@qksmtp.test\n'
        printf 'Subject: %s\n' "$subject"
        printf 'X-Interop-Id: %s\n' "$id"
        printf 'MIME-Version: 1.0\n'
        printf 'Content-Type: text/plain; charset=utf-8\n'
        printf 'Content-Transfer-Encoding: 8bit\n'
        printf '\n'
        head -c -1 "$body"
    } > "$file"
}
B=$W/bodies
mkdir -p "$B"
printf 'Two recipients at sink.test, one transaction.\nSecond line.\n' > "$B/two.body"
# Leading dots everywhere, a lone "." (would end DATA if not stuffed), 8-bit UTF-8, raw
# Latin-1 bytes, trailing spaces, and a last line starting with a dot.
printf '.first line starts with a dot\n.\n..\n...\nplain line\n..leading dot\n. space after dot\ncaf\xc3\xa9 na\xc3\xafve \xe2\x82\xac \xf0\x9f\x93\xa8 (UTF-8)\nlatin-1: caf\xe9 \xff\xfe\ntrailing spaces   \n\ttab first\n.last line\n' > "$B/dots.body"
# ~300 KB: many data blocks, a leading dot every 7th line (across any buffer boundary).
awk 'BEGIN { for (i = 1; i <= 4000; i++) { if (i % 7 == 0) printf ".%05d dotted line of the big message, some filler text to make it longer\n", i; else printf "%05d line of the big message 0123456789 abcdefghijklmnopqrstuvwxyz ABCDEFGHIJ\n", i } }' > "$B/big.body"
printf 'Through the Postfix relay.\n..a dotted line through the relay\ncaf\xc3\xa9\n' > "$B/relay.body"

# submit NAME RCPTS(comma-separated) MESSAGEFILE: swaks to qksmtp; transcript in swaks-NAME.log.
submit() {
    local name=$1 rcpts=$2 msg=$3
    swaks --server "127.0.0.1:$QK_PORT" --helo client.qksmtp.test -f "$SENDER" -t "$rcpts" \
        --data "@$msg" --timeout 30 > "$W/swaks-$name.log" 2>&1
}

# find_dump ID: the sink dump file holding the message with X-Interop-Id: ID (first one).
find_dump() {
    grep -l -F -x "X-Interop-Id: $1" "$DUMP"/* 2>/dev/null | head -1
}
# The message body as the sink stored it: after the first empty line (smtp-sink's own
# headers and the message headers come before it), without the empty line the sink appends.
dump_body() {
    awk 'f { print } !f && /^$/ { f = 1 }' "$1" | sed '$d'
}
# body_matches ID BODYFILE: the sink's copy of the body is byte for byte the original.
body_matches() {
    local dump
    dump=$(find_dump "$1")
    [ -n "$dump" ] || { log "no sink dump for $1"; return 1; }
    # The dump must end with the sink's empty line (the whole message was written).
    [ -z "$(tail -n 1 "$dump")" ] || { log "the sink dump $dump does not end with its empty line"; return 1; }
    if ! dump_body "$dump" | cmp -s - "$2"; then
        log "body of $1 differs from the original ($dump vs $2):"
        diff <(dump_body "$dump" | cat -v) <(cat -v "$2") | head -20 >&2 || true
        return 1
    fi
}
# dump_count_is N ID: the sink holds exactly N transactions with that message.
dump_count_is() {
    local n
    n=$({ grep -l -F -x "X-Interop-Id: $2" "$DUMP"/* 2>/dev/null || true; } | wc -l)
    [ "$n" = "$1" ] || { log "the sink holds $n copies of $2, expected $1"; return 1; }
}
dump_complete() {
    local dump
    dump=$(find_dump "$1")
    [ -n "$dump" ] && [ -z "$(tail -n 1 "$dump")" ]
}

# --- qksmtp -------------------------------------------------------------------------------------
# start_qksmtp NAME AUTH PASSWORD: a fresh qksmtp in $W/qk-NAME; sets QK_DIR, QK_PORT, QK_PID.
start_qksmtp() {
    local name=$1 auth=$2 password=$3
    QK_DIR=$W/qk-$name
    mkdir -p "$QK_DIR"
    cat > "$QK_DIR/qksmtp.ini" <<EOF
; generated by scripts/interop-postfix.sh ($name)
[server]
listen = 127.0.0.1:0
hostname = qksmtp.test
status_listen =
spool_dir = spool
log_file = delivery.log
log_level = info

[access]
relay_from = 127.0.0.0/8

[delivery]
workers = 4
dns_server = 127.0.0.1:9
helo_name = qksmtp.test
timeout_connect = 10s
timeout_greeting = 30s
timeout_command = 30s
timeout_data_init = 30s
timeout_data_block = 30s
timeout_data_done = 30s

[domain:*]
direct_attempts = 1
relay_attempts = 0
retry_delay = 2s

[domain:sink.test]
mx = 127.0.0.1:$SINK_PORT
retry_delay = 2s

[domain:viarelay.test]
direct_attempts = 0
relay_attempts = 2
retry_delay = 2s

[relay:postfix]
host = 127.0.0.1
port = $RELAY_PORT
tls = starttls
tls_verify = no
auth = $auth
username = $SASL_LOGIN
password = "$password"
retry_delay = 2s
EOF
    if ! "$QK" check --config "$QK_DIR/qksmtp.ini" > "$QK_DIR/check.txt" 2>&1; then
        log "qksmtp check refused $QK_DIR/qksmtp.ini:"; cat "$QK_DIR/check.txt" >&2
        return 1
    fi
    "$QK" --config "$QK_DIR/qksmtp.ini" > "$QK_DIR/qksmtp.stderr" 2>&1 &
    QK_PID=$!
    if ! wait_until "$WAIT" grep -q 'qksmtp: ready' "$QK_DIR/qksmtp.stderr"; then
        log "qksmtp ($name) did not say ready"; return 1
    fi
    QK_PORT=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9][0-9]*\) (smtp).*/\1/p' "$QK_DIR/qksmtp.stderr" | head -1)
    [ -n "$QK_PORT" ] || { log "no 'listening on 127.0.0.1:PORT (smtp)' line"; return 1; }
    log "qksmtp ($name, relay auth = $auth) on 127.0.0.1:$QK_PORT (pid $QK_PID)"
}

# Delivery log lines for one recipient.
dlog_lines() { grep -F "to=<$1>" "$QK_DIR/delivery.log" 2>/dev/null || true; }
delivered() { dlog_lines "$1" | grep -qF 'result="delivered"'; }
failed_for_good() { dlog_lines "$1" | grep -qF 'result="failed'; }
# all_settled RCPT...: every recipient delivered, or one failed for good (stop waiting then).
all_settled() {
    local r
    for r in "$@"; do failed_for_good "$r" && return 0; done
    for r in "$@"; do delivered "$r" || return 1; done
}
# expect_delivered WHAT RCPT...: waits, then one check per recipient.
expect_delivered() {
    local what=$1; shift
    wait_until "$WAIT" all_settled "$@" || true
    local r
    for r in "$@"; do check "$what: delivery log says delivered for <$r>" delivered "$r"; done
}
queue_listing() { "$QK" queue --config "$QK_DIR/qksmtp.ini" > "$QK_DIR/queue.txt" 2>&1; }
nothing_pending() {
    queue_listing || return 1
    grep -qE '(^| )0 recipients? pending' "$QK_DIR/queue.txt"
}

# --- 3. sanity of the peers, with swaks (so that a failure below is qksmtp's) ----------------
# not COMMAND...: succeeds when the command fails (for check).
not() { ! "$@"; }
relay_refused_without_auth() {
    local t=$W/swaks-sanity-noauth.log
    ! swaks --server "127.0.0.1:$RELAY_PORT" --helo sanity.test -f "$SENDER" \
        -t nobody@viarelay.test --timeout 20 > "$t" 2>&1 &&
        grep -qE '^<\*\* +5[0-9][0-9] ' "$t"
}
auth_only_after_starttls() {
    local t=$W/swaks-sanity-ehlo.log
    swaks --server "127.0.0.1:$RELAY_PORT" --helo sanity.test --quit-after EHLO --timeout 20 \
        > "$t" 2>&1 &&
        grep -q '^<-  250.STARTTLS' "$t" && ! grep -q '^<-  250.AUTH' "$t"
}
check "Postfix relay refuses unauthenticated relaying from 127.0.0.1" relay_refused_without_auth
check "Postfix relay offers AUTH only after STARTTLS (smtpd_tls_auth_only)" auth_only_after_starttls
SANITY_ID=sanity-$RANDOM$RANDOM
if swaks --server "127.0.0.1:$RELAY_PORT" --helo sanity.test -tls --auth PLAIN \
        --auth-user "$SASL_LOGIN" --auth-password "$SASL_PASS" -f "$SENDER" -t sanity@viarelay.test \
        --header "X-Interop-Id: $SANITY_ID" --timeout 20 > "$W/swaks-sanity-auth.log" 2>&1; then
    pass "swaks relays through Postfix with STARTTLS + AUTH PLAIN (peer set-up works)"
    check "the sanity message reached the sink through Postfix" wait_until "$WAIT" dump_complete "$SANITY_ID"
else
    fail "swaks relays through Postfix with STARTTLS + AUTH PLAIN (peer set-up works)"
fi

# --- 4. qksmtp -> smtp-sink (MX), and -> Postfix (AUTH PLAIN) -> smtp-sink --------------------
RUN=$RANDOM$RANDOM
start_qksmtp plain plain "$SASL_PASS" || die "start qksmtp (plain)"

write_message "$W/two.eml" "two-$RUN" "two recipients" "$B/two.body"
write_message "$W/dots.eml" "dots-$RUN" "dots and 8-bit" "$B/dots.body"
write_message "$W/big.eml" "big-$RUN" "big message" "$B/big.body"
write_message "$W/plain.eml" "plain-$RUN" "relay with AUTH PLAIN" "$B/relay.body"
check "qksmtp accepts the 2-recipient message" submit two "a@sink.test,b@sink.test" "$W/two.eml"
check "qksmtp accepts the dot/8-bit message" submit dots "dots@sink.test" "$W/dots.eml"
check "qksmtp accepts the big message" submit big "big@sink.test" "$W/big.eml"
check "qksmtp accepts the relay (PLAIN) message" submit plain "plain@viarelay.test" "$W/plain.eml"

expect_delivered "smtp-sink MX" a@sink.test b@sink.test dots@sink.test big@sink.test
expect_delivered "relay AUTH PLAIN" plain@viarelay.test

for id in "two-$RUN" "dots-$RUN" "big-$RUN" "plain-$RUN"; do
    # After qksmtp's 250 the sink (or Postfix, then the sink) may still be writing: poll.
    check "sink: the message $id arrived (complete dump)" wait_until "$WAIT" dump_complete "$id"
done
check "sink: the 2-recipient message arrived exactly once" dump_count_is 1 "two-$RUN"
one_transaction() {
    local d; d=$(find_dump "two-$RUN")
    [ -n "$d" ] && grep -qx 'X-Rcpt-Args: <a@sink.test>' "$d" && grep -qx 'X-Rcpt-Args: <b@sink.test>' "$d"
}
check "sink: both recipients in one transaction (2 RCPT, 1 DATA)" one_transaction
check "sink: the 2-recipient body is exact" body_matches "two-$RUN" "$B/two.body"
check "sink: dot-stuffed / 8-bit body is exact (dots unstuffed correctly)" body_matches "dots-$RUN" "$B/dots.body"
check "sink: the ~300 KB body is exact" body_matches "big-$RUN" "$B/big.body"
helo_is_ours() { local d; d=$(find_dump "dots-$RUN"); [ -n "$d" ] && grep -qx 'X-Helo-Args: qksmtp.test' "$d"; }
check "sink: qksmtp greeted with EHLO qksmtp.test (helo_name)" helo_is_ours

# relayed_by_postfix ID MECH: the sink's copy came from Postfix after STARTTLS + AUTH MECH.
relayed_by_postfix() {
    local id=$1 mech=$2 d qid
    d=$(find_dump "$id")
    [ -n "$d" ] || { log "no sink dump for $id"; return 1; }
    grep -qx "X-Helo-Args: $RELAY_NAME" "$d" || { log "$id: not delivered to the sink by Postfix"; return 1; }
    grep -qE "^[[:space:]]+by $RELAY_NAME \(Postfix\) with ESMTPSA id " "$d" ||
        { log "$id: no 'by $RELAY_NAME (Postfix) with ESMTPSA' Received header"; return 1; }
    grep -qE '^Received: from qksmtp\.test ' "$d" ||
        { log "$id: Postfix's Received header does not name HELO qksmtp.test"; return 1; }
    # smtpd_tls_received_header = yes: "(using TLSv1.3 with cipher ...)" on the next line.
    grep -A1 -E '^Received: from qksmtp\.test ' "$d" | grep -qE '^[[:space:]]+\(using TLSv1' ||
        { log "$id: Postfix's Received header shows no TLS between qksmtp and Postfix"; return 1; }
    # Postfix's queue ID from its Received header, then its log line for that SASL login.
    qid=$(sed -n "s/^[[:space:]]*by $RELAY_NAME (Postfix) with ESMTPSA id \([0-9A-Za-z]*\).*/\1/p" "$d" | head -1)
    if [ -z "$qid" ] || ! grep -F "$qid: client=" "$PF_LOG" |
            grep -qF "sasl_method=$mech, sasl_username=$SASL_LOGIN"; then
        log "$id: Postfix did not log ${qid:-its queue ID} with sasl_method=$mech"; return 1
    fi
}
check "relay PLAIN: reached the sink through Postfix (STARTTLS, Received ... with ESMTPSA, sasl_method=PLAIN)" \
    relayed_by_postfix "plain-$RUN" PLAIN
check "relay PLAIN: body is exact" body_matches "plain-$RUN" "$B/relay.body"
check "relay: Postfix saw no improper command pipelining" not grep -q 'improper command pipelining' "$PF_LOG"
stop_qksmtp
check "qksmtp queue (plain run): nothing pending after delivery" nothing_pending

# --- 5. AUTH LOGIN ---------------------------------------------------------------------------
start_qksmtp login login "$SASL_PASS" || die "start qksmtp (login)"
write_message "$W/login.eml" "login-$RUN" "relay with AUTH LOGIN" "$B/relay.body"
check "qksmtp accepts the relay (LOGIN) message" submit login "login@viarelay.test" "$W/login.eml"
expect_delivered "relay AUTH LOGIN" login@viarelay.test
check "sink: the message login-$RUN arrived (complete dump)" wait_until "$WAIT" dump_complete "login-$RUN"
check "relay LOGIN: reached the sink through Postfix (STARTTLS, Received ... with ESMTPSA, sasl_method=LOGIN)" \
    relayed_by_postfix "login-$RUN" LOGIN
check "relay LOGIN: body is exact" body_matches "login-$RUN" "$B/relay.body"
stop_qksmtp
check "qksmtp queue (login run): nothing pending after delivery" nothing_pending

# --- 6. a wrong password ----------------------------------------------------------------------
start_qksmtp wrongpw plain "wrong $SASL_PASS" || die "start qksmtp (wrong password)"
write_message "$W/wrongpw.eml" "wrongpw-$RUN" "relay with a wrong password" "$B/relay.body"
check "qksmtp accepts the relay (wrong password) message" submit wrongpw "wrongpw@viarelay.test" "$W/wrongpw.eml"
auth_refused_logged() { dlog_lines wrongpw@viarelay.test | grep -qF 'reply="535'; }
check "wrong password: the delivery log shows the attempt refused with 535" wait_until "$WAIT" auth_refused_logged
check "wrong password: no attempt says delivered" not delivered wrongpw@viarelay.test
check "wrong password: Postfix logged the authentication failure" \
    grep -qE 'SASL (PLAIN|LOGIN) authentication failed' "$PF_LOG"
# What the rules say: the log's result decides what the queue must show for the recipient.
queue_matches_result() {
    local last result
    last=$(dlog_lines wrongpw@viarelay.test | grep -F 'reply="535' | tail -1)
    result=$(sed -n 's/.* result="\([^"]*\)".*/\1/p' <<< "$last")
    log "wrong password: last result=\"$result\""
    queue_listing || return 1
    case "$result" in
        deferred*) grep -qE '^ +deferred +wrongpw@viarelay\.test' "$QK_DIR/queue.txt" ;;
        failed*) grep -qE '^ +failed +wrongpw@viarelay\.test' "$QK_DIR/queue.txt" ||
                 ! grep -q 'wrongpw@viarelay\.test' "$QK_DIR/queue.txt" ;;
        *) return 1 ;;
    esac
}
check "wrong password: qksmtp queue shows the recipient as the log's result says" queue_matches_result
check "wrong password: the message never reached the sink" dump_count_is 0 "wrongpw-$RUN"
stop_qksmtp

each_once() { local id; for id in "$@"; do dump_count_is 1 "$id" || return 1; done; }
check "no message reached the sink twice" each_once "dots-$RUN" "big-$RUN" "plain-$RUN" "login-$RUN"
exit 0
