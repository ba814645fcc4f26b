#!/usr/bin/env bash
# Builds (once) and caches a clean Debian 12 root for the system test: debootstrap minbase with
# systemd and python3, plus, NOT installed, what setup.sh will install offline inside a container
# with a private network: every role's .deb files in the root's apt cache and a wheelhouse of
# every role's PyPI packages (pip.conf in the root points pip at it, no index).
#   tests/system/build-root.sh ARCH CACHE_DIR REPO      (ARCH = amd64 or arm64)
# Prints the root's path. Rebuilt when this file or pyproject.toml changes.
set -Eeuo pipefail
ARCH="$1" CACHE="$2" REPO="$3"
MIRROR="${MOTCUA_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
BASE="$CACHE/bookworm-$ARCH"
KEY="$( (cat "${BASH_SOURCE[0]}" "$REPO/pyproject.toml"; sed -n '/^role_packages/,/^}/p;/^role_os_packages/,/^}/p' "$REPO/setup.sh") \
    | sha256sum | cut -c1-16)"
log() { echo "build-root: $*" >&2; }

if [[ -f $BASE/.motcua-root && $(cat "$BASE/.motcua-root") == "$KEY" ]]; then
    echo "$BASE"; exit 0
fi
if [[ $ARCH != "$(dpkg --print-architecture)" ]]; then  # a foreign root: qemu-user-static through binfmt_misc
    mountpoint -q /proc/sys/fs/binfmt_misc || mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
    update-binfmts --enable "qemu-${ARCH/arm64/aarch64}" >/dev/null 2>&1 || true
fi
TMP="$BASE.tmp"
if [[ -f $BASE/.motcua-root && ! -e $TMP ]]; then
    # an older cache: its debootstrap is reused (the slow part under qemu), only the downloads
    # are brought up to date
    log "reusing $BASE's base system; refreshing the downloads"
    mv "$BASE" "$TMP"
    rm -f "$TMP/.motcua-root"
    touch "$TMP/.debootstrap-ok"
fi
umount_all() { for m in proc sys dev/pts dev src; do umount -l "$TMP/$m" 2>/dev/null || true; done; }
trap umount_all EXIT
if [[ ! -f $TMP/.debootstrap-ok ]]; then
    rm -rf "$TMP"
    log "debootstrap bookworm $ARCH (about 1 min on x86_64, 3 under qemu)"
    debootstrap --arch="$ARCH" --variant=minbase \
        --include=systemd,systemd-sysv,dbus,python3,python3-venv,python3-pip,ca-certificates,iproute2,procps,sudo,mosquitto-clients,sqlite3 \
        bookworm "$TMP" "$MIRROR" >&2
    touch "$TMP/.debootstrap-ok"
fi
# the host's CA bundle (a proxy's CA, when there is one) and DNS, for the build only
cp /etc/ssl/certs/ca-certificates.crt "$TMP/etc/ssl/certs/motcua-host-ca.crt"
cp -L /etc/resolv.conf "$TMP/etc/resolv.conf"
mount -t proc proc "$TMP/proc"; mount --rbind /sys "$TMP/sys"; mount --bind /dev "$TMP/dev"; mount --bind /dev/pts "$TMP/dev/pts"
in_root() { chroot "$TMP" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 PIP_CONFIG_FILE=/dev/null \
    PIP_CERT=/etc/ssl/certs/motcua-host-ca.crt PIP_DISABLE_PIP_VERSION_CHECK=1 "$@"; }
# every role's apt packages, downloaded, not installed (setup.sh installs them)
PKGS="$(cd "$REPO" && for r in server rating-terminal kiosk display camera; do
    bash setup.sh --role "$r" --site sys-test --device dev-1 --dry-run --root /nonexistent-motcua 2>/dev/null \
        | sed -n 's/^skipped (root prefix): apt-get install -y //p'; done | tr ' ' '\n' | sort -u | tr '\n' ' ')"
log "apt download: $PKGS"
in_root apt-get update -q >&2
# shellcheck disable=SC2086
in_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --download-only --no-install-recommends $PKGS >&2
# every role's PyPI packages into a wheelhouse inside the root
mkdir -p "$TMP/src"
mount --bind "$REPO" "$TMP/src"
mkdir -p "$TMP/var/cache/motcua-wheels"
log "pip download (every extra, lgpio, build tools)"
in_root python3 -m pip download -q -d /var/cache/motcua-wheels "/src[rating,kiosk,camera,server]" lgpio \
    "setuptools>=68" wheel pip >&2
umount -l "$TMP/src"
rm -rf "$REPO/build" "$REPO"/*.egg-info 2>/dev/null || true
cat > "$TMP/etc/pip.conf" <<'PIP'
[global]
no-index = true
find-links = /var/cache/motcua-wheels
PIP
rm -f "$TMP/etc/ssl/certs/motcua-host-ca.crt"
: > "$TMP/etc/resolv.conf"
echo "motcua-sys" > "$TMP/etc/hostname"
# root may log in on the console (machinectl shell), no password prompt at first boot
in_root passwd -d root >/dev/null
umount_all
trap - EXIT
echo "$KEY" > "$TMP/.motcua-root"
rm -rf "$BASE"
mv "$TMP" "$BASE"
log "root ready: $BASE ($(du -sh "$BASE" | cut -f1))"
echo "$BASE"
