#!/bin/sh
# Installs Warden on a bare Debian 12 / Ubuntu 22.04+ host as a hardened systemd service.
#
#   sudo deploy/install.sh                 after scripts/build.sh (uses build/src/warden)
#   deploy/install.sh --root DIR --no-systemd    stage everything under DIR (packaging, tests)
#
# What it does (idempotent: run it again after a rebuild to upgrade the binaries):
#   * a system user and group `warden` (no shell, no home login);
#   * /etc/warden (0755) with warden.yaml and policies/ — existing files are never overwritten;
#     a newer shipped file is written next to yours as *.dist;
#   * /etc/warden/secrets (0700 warden): the key-hashing key and the audit master and signing
#     keys, 32 random bytes each, mode 0600 — created only when absent, never replaced;
#   * /etc/warden/warden.env (0600 root): WARDEN_ADMIN_TOKEN, a fresh random token;
#   * /var/lib/warden (0700 warden): RocksDB and the audit log;
#   * PREFIX/bin: warden, warden-audit, direct-call; the unit in /etc/systemd/system, enabled
#     and started (unless --no-systemd).
set -eu
umask 022
src=$(cd "$(dirname "$0")/.." && pwd)
root=""
prefix=/usr/local
systemd=1
bindir_build=$src/build
while [ $# -gt 0 ]; do
  case $1 in
    --root) root=$2; shift 2 ;;
    --prefix) prefix=$2; shift 2 ;;
    --build-dir) bindir_build=$2; shift 2 ;;
    --no-systemd) systemd=0; shift ;;
    -h|--help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "install.sh: unknown argument '$1'" >&2; exit 2 ;;
  esac
done
if [ -z "$root" ] && [ "$(id -u)" != 0 ]; then
  echo "install.sh: run as root (or stage with --root DIR --no-systemd)" >&2
  exit 2
fi
for f in "$bindir_build/src/warden" "$bindir_build/audit/warden-audit"; do
  [ -x "$f" ] || { echo "install.sh: $f is missing; run scripts/build.sh first" >&2; exit 1; }
done

# Ownership only applies when we are root; a staged tree keeps the caller as owner.
as_root=0; [ "$(id -u)" = 0 ] && as_root=1
owner() { if [ "$as_root" = 1 ] && id warden >/dev/null 2>&1; then chown "$1" "$2"; fi; }

if [ "$as_root" = 1 ] && [ -z "$root" ] && ! id warden >/dev/null 2>&1; then
  useradd --system --user-group --home-dir /var/lib/warden --no-create-home --shell /usr/sbin/nologin warden
  echo "install.sh: created the system user warden"
fi

etc=$root/etc/warden
install -d -m 0755 "$etc" "$etc/policies" "$etc/policies/redaction" "$root$prefix/bin"
install -d -m 0700 "$etc/secrets" "$root/var/lib/warden"
owner warden:warden "$etc/secrets"
owner warden:warden "$root/var/lib/warden"

install -m 0755 "$bindir_build/src/warden" "$bindir_build/audit/warden-audit" "$src/deploy/direct-call" "$root$prefix/bin/"

# Config and policies: the operator's copies win.
place() {  # place SRC DEST
  if [ ! -e "$2" ]; then install -m 0644 "$1" "$2"
  elif ! cmp -s "$1" "$2"; then install -m 0644 "$1" "$2.dist"; echo "install.sh: kept $2 (new version in $2.dist)"
  fi
}
place "$src/deploy/config/warden.yaml" "$etc/warden.yaml"
for f in "$src"/policies/*.yaml; do place "$f" "$etc/policies/$(basename "$f")"; done
for f in "$src"/policies/redaction/*.yaml; do place "$f" "$etc/policies/redaction/$(basename "$f")"; done

# Keys: 32 random bytes each, created once. Losing audit-master.key makes the audit log
# unreadable; back it up off the host (SECURITY.md, "Key management").
umask 077
for k in key-hash audit-master audit-signing; do
  f=$etc/secrets/$k.key
  if [ ! -e "$f" ]; then
    head -c 32 /dev/urandom >"$f.tmp" && chmod 0600 "$f.tmp" && mv "$f.tmp" "$f"
    owner warden:warden "$f"
    echo "install.sh: created $f"
  fi
done
if [ ! -e "$etc/warden.env" ]; then
  printf 'WARDEN_ADMIN_TOKEN=%s\n' "$(od -An -tx1 -N24 /dev/urandom | tr -d ' \n')" >"$etc/warden.env"
  chmod 0600 "$etc/warden.env"
  echo "install.sh: created $etc/warden.env (the admin token; root-only)"
fi
umask 022

install -d -m 0755 "$root/etc/systemd/system"
sed "s#/usr/local/bin/#$prefix/bin/#g" "$src/deploy/warden.service" >"$root/etc/systemd/system/warden.service"
chmod 0644 "$root/etc/systemd/system/warden.service"

if [ "$systemd" = 1 ] && [ -z "$root" ]; then
  runuser -u warden -- "$prefix/bin/warden" check-config --config "$etc/warden.yaml"
  systemctl daemon-reload
  systemctl enable --now warden
  echo "install.sh: warden is running; systemctl status warden, journalctl -u warden"
else
  echo "install.sh: staged under ${root:-/}; systemd left alone"
fi
