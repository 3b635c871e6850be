#!/usr/bin/env bash
# setup.sh: installs what drudge needs on Debian 12, builds it, and runs a job.
#
#   scripts/setup.sh demo    install, build, run the demo backlog (the main job)
#   scripts/setup.sh test    install, build, run the whole test suite (what CI runs)
#   scripts/setup.sh asan    the test suite again under AddressSanitizer + UBSan
#   scripts/setup.sh build   install and build only
#
# Idempotent: packages already installed are not fetched again, and an
# up-to-date build does nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
job=${1:-build}

packages=(
  build-essential cmake pkg-config clang clang-format
  liblua5.4-dev lua-cjson-dev libcurl4-openssl-dev libxdo-dev libx11-dev libsqlite3-dev
  libcmocka-dev libssl-dev nettle-dev libpng-dev libgmime-3.0-dev libmicrohttpd-dev libpq-dev
  sqlite3 curl ca-certificates openssl procps
  lua-check libxlsxwriter-dev libzip-dev libexpat1-dev libpoppler-glib-dev libargon2-dev
)
# What the test suite needs besides: real peers and servers.
test_packages=(
  xvfb xterm x11-utils python3 python3-httpbin dovecot-imapd python3-aiosmtpd chromium
  chromium-driver chromium-headless-shell
  valgrind postgresql-15 python3-openpyxl
  dpkg-dev man-db groff-base bsdutils zsh
)

install() {
  local want=("$@") missing=()
  for p in "${want[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "setup: installing ${missing[*]}"
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo=sudo
  $sudo apt-get update -q
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
}

build() { # build DIR [cmake args...]
  local dir=$1; shift
  cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >/dev/null
  echo "setup: building in $dir"
  cmake --build "$dir" -j "$(nproc)"
}

# The permission tests (tests/e2e/perm_unprivileged.sh) run drudge as an
# unprivileged user: root is refused nothing, so read-only directories and
# databases and unreadable scripts would go untested. As root, make it.
test_user() {
  if [ "$(id -u)" -eq 0 ] && ! id drudge-test >/dev/null 2>&1; then
    echo "setup: adding the user drudge-test for the permission tests"
    useradd --system --no-create-home --shell /usr/sbin/nologin drudge-test
  fi
}

case "$job" in
  build)
    install "${packages[@]}"
    build build
    ;;
  demo)
    install "${packages[@]}"
    build build
    exec build/drudge demo
    ;;
  test)
    install "${packages[@]}" "${test_packages[@]}"
    test_user
    build build
    # The code must also compile warning-free with clang.
    CC=clang build build-clang
    ctest --test-dir build --output-on-failure -j "$(nproc)"
    ;;
  asan)
    install "${packages[@]}" "${test_packages[@]}"
    test_user
    build build-asan -DDRUDGE_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug
    ctest --test-dir build-asan --output-on-failure -j "$(nproc)"
    ;;
  *)
    echo "usage: scripts/setup.sh demo|test|asan|build" >&2
    exit 2
    ;;
esac
