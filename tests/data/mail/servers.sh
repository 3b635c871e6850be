# Mail servers for the integration tests: source it after tests/lib.sh.
#   start_dovecot DIR [tls]  Dovecot IMAP on a free loopback port ($IMAP_PORT),
#                            user "robot" / password "$IMAP_PASS", Maildir in DIR;
#                            with "tls": a self-signed certificate, $IMAP_CA is its file
#   seed_maildir FILE...     delivers messages into the INBOX (new/)
#   start_smtp DIR           aiosmtpd on $SMTP_PORT, each message saved in DIR
#   start_smtp_auth DIR      the same, but AUTH (PLAIN/LOGIN) is required before
#                            MAIL FROM: user robot, password $SMTP_PASS; each
#                            message's N.auth holds the login it came under
#   stop_servers             (called from the EXIT trap)
# Skips (exit 77) when Dovecot or aiosmtpd is not installed.

IMAP_PASS="s3cret-Imap-pw!"
SMTP_PASS="s3cret-Smtp-pw!"
_mail_pids=()

_mail_groups=()

stop_servers() {
  local p
  # Dovecot in its own session: the whole group at once, since a polite
  # SIGTERM leaves login processes waiting seconds on the dying stats service.
  for p in "${_mail_groups[@]}"; do kill -KILL -- "-$p" 2>/dev/null || true; done
  for p in "${_mail_pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${_mail_pids[@]}" "${_mail_groups[@]}"; do wait "$p" 2>/dev/null || true; done
  _mail_pids=() _mail_groups=()
}

start_dovecot() {
  local dir=$1 tls=${2:-}
  command -v dovecot >/dev/null || { echo "dovecot not installed" >&2; exit 77; }
  [ "$(id -u)" = 0 ] || { echo "dovecot tests need root" >&2; exit 77; }
  getent passwd dovecot >/dev/null || exit 77
  IMAP_PORT=$(free_port)
  mkdir -p "$dir/run" "$dir/state" "$dir/home/robot/Maildir"/{cur,new,tmp}
  # Dovecot's auth and mail processes run as the dovecot user: let them in.
  chmod 755 "$dir" "$(dirname "$dir")"
  echo "robot:{PLAIN}$IMAP_PASS::::::" > "$dir/passwd"
  local ssl_conf="ssl = no"
  if [ "$tls" = tls ]; then
    openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=127.0.0.1 \
      -addext subjectAltName=IP:127.0.0.1 -keyout "$dir/key.pem" -out "$dir/cert.pem" 2>/dev/null
    IMAP_CA=$dir/cert.pem
    ssl_conf="ssl = required
ssl_cert = <$dir/cert.pem
ssl_key = <$dir/key.pem"
  fi
  local imap_listener="inet_listener imap {
    address = 127.0.0.1
    port = $IMAP_PORT
  }
  inet_listener imaps {
    port = 0
  }"
  if [ "$tls" = tls ]; then
    imap_listener="inet_listener imap {
    port = 0
  }
  inet_listener imaps {
    address = 127.0.0.1
    port = $IMAP_PORT
    ssl = yes
  }"
  fi
  cat > "$dir/dovecot.conf" <<CONF
base_dir = $dir/run
state_dir = $dir/state
log_path = $dir/dovecot.log
protocols = imap
listen = 127.0.0.1
default_internal_user = dovecot
default_login_user = dovenull
first_valid_uid = 1
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_failure_delay = 0
login_trusted_networks = 127.0.0.0/8
$ssl_conf
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%u $dir/passwd
}
userdb {
  driver = static
  args = uid=dovecot gid=dovecot home=$dir/home/%u
}
mail_location = maildir:~/Maildir
namespace inbox {
  inbox = yes
  separator = /
}
service imap-login {
  $imap_listener
}
service anvil {
  unix_listener anvil-auth-penalty {
    mode = 0
  }
}
service stats {
  unix_listener stats-reader {
    mode = 0666
  }
  unix_listener stats-writer {
    mode = 0666
  }
}
CONF
  chown -R dovecot:dovecot "$dir/home"
  setsid dovecot -F -c "$dir/dovecot.conf" >"$dir/dovecot.out" 2>&1 &
  _mail_groups+=($!)
  DOVECOT_PID=$!
  wait_port "$IMAP_PORT" || { cat "$dir/dovecot.out" "$dir/dovecot.log" >&2; exit 1; }
  MAILDIR=$dir/home/robot/Maildir
}

# Each file's name is unique across calls: a maildir name seen before (the
# same second, pid and count of an earlier call) is the same message to
# Dovecot, which then never shows the new one.
_seeded=0
seed_maildir() {
  local f
  for f in "$@"; do
    _seeded=$((_seeded + 1))
    # Dovecot gives UIDs in name order: seconds, then the M microseconds,
    # then the rest. One clock reading for both (two could straddle a
    # second and sort this file before the last one) and a padded count.
    local now
    now=$(date +%s%N)
    cp "$f" "$MAILDIR/new/${now:0:10}.M${now:10:6}P$$Q$(printf %06d $_seeded).drudge-test"
  done
  chown -R dovecot:dovecot "$MAILDIR"
}

# _smtp_prepare DIR: skips without aiosmtpd, picks $SMTP_PORT, makes DIR.
_smtp_prepare() {
  /usr/bin/python3 -c 'import aiosmtpd' 2>/dev/null || { echo "aiosmtpd not installed" >&2; exit 77; }
  SMTP_PORT=$(free_port)
  mkdir -p "$1"
}

# _smtp_started DIR PID: keeps PID for stop_servers and waits for the port.
_smtp_started() {
  _mail_pids+=("$2")
  wait_port "$SMTP_PORT" || { cat "$1.log" >&2; exit 1; }
}

start_smtp() {
  local dir=$1
  _smtp_prepare "$dir"
  # Saves each message's bytes as received (N.eml) and its envelope (N.env).
  cat > "${dir}_handler.py" <<'PY'
import os, sys
class Saver:
    def __init__(self, d):
        self.d, self.n = d, 0
    @classmethod
    def from_cli(cls, parser, *args):
        return cls(*args)
    async def handle_DATA(self, server, session, envelope):
        self.n += 1
        base = os.path.join(self.d, "%03d" % self.n)
        with open(base + ".env", "w") as f:
            f.write("from " + envelope.mail_from + "\n")
            for r in envelope.rcpt_tos:
                f.write("rcpt " + r + "\n")
        with open(base + ".tmp", "wb") as f:
            f.write(envelope.original_content)
        os.rename(base + ".tmp", base + ".eml")
        return "250 OK"
PY
  (cd "$(dirname "$dir")" && exec /usr/bin/python3 -m aiosmtpd -n -l "127.0.0.1:$SMTP_PORT" \
    -c "$(basename "$dir")_handler.Saver" "$dir") >"$dir.log" 2>&1 &
  _smtp_started "$dir" $!
}

start_smtp_auth() {
  local dir=$1
  _smtp_prepare "$dir"
  # aiosmtpd's own AUTH (its command line has no authenticator): required
  # before MAIL FROM, over plain TCP since the test has no certificate.
  cat > "${dir}_auth.py" <<'PY'
import os, sys, threading
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
d, port, password = sys.argv[1], int(sys.argv[2]), sys.argv[3].encode()
def authenticator(server, session, envelope, mechanism, auth_data):
    ok = isinstance(auth_data, LoginPassword) and auth_data.login == b"robot" \
        and auth_data.password == password
    # handled=False: a refusal is answered by aiosmtpd (535), not by us
    return AuthResult(success=ok, handled=False,
                      auth_data=auth_data.login.decode() if ok else None)
class Saver:
    n = 0
    async def handle_DATA(self, server, session, envelope):
        Saver.n += 1
        base = os.path.join(d, "%03d" % Saver.n)
        with open(base + ".auth", "w") as f:
            f.write(str(session.auth_data) + "\n")
        with open(base + ".tmp", "wb") as f:
            f.write(envelope.original_content)
        os.rename(base + ".tmp", base + ".eml")
        return "250 OK"
c = Controller(Saver(), hostname="127.0.0.1", port=port, authenticator=authenticator,
               auth_required=True, auth_require_tls=False)
c.start()
threading.Event().wait()
PY
  /usr/bin/python3 "${dir}_auth.py" "$dir" "$SMTP_PORT" "$SMTP_PASS" >"$dir.log" 2>&1 &
  _smtp_started "$dir" $!
}
