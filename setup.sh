#!/usr/bin/env bash
# motcua set-up. Two uses:
#
#   ./setup.sh            development set-up (or ./setup.sh --dev): system packages when root,
#                         .venv in the repo, pip install -e '.[all,dev]'. Idempotent.
#
#   sudo ./setup.sh --role server|rating-terminal|kiosk|display|camera --site SITE --device ID \
#        [--desk N] [--broker URL] [--bundle DIR] [--password P] [--tls] [--mock-hardware]
#        [--province mqtts://HOST:8883 --province-bundle DIR]   (server: bridge to the province)
#                         provision this machine (Raspberry Pi OS / Debian 12) into one role:
#                         apt packages of that role, the motcua system user, a venv under
#                         /opt/motcua with only that role's extra, the role's config under
#                         /etc/motcua, its systemd unit(s) installed and enabled.
#
# Both are idempotent (a second run changes nothing and says so).
#   --dry-run    print every action, do none
#   --root DIR   write every file under DIR (tests, building an image); apt-get, useradd,
#                systemctl and pip are then printed as "skipped (root prefix)", never run
#   --mock-hardware  serve the role without its hardware (no GPIO, screen, camera): mock pins,
#                an off-screen window, a test clip; for system tests and demos only
# Exit codes: 0 done, 2 bad arguments, 3 this machine cannot serve the role (nothing installed),
#             4 a step failed (the running version, if any, is left as it was).
# See docs/provisioning.md.
set -Eeuo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROLE="" SITE="" DEVICE="" DESK="" BROKER="" BUNDLE="" PASSWORD="" TLS=0
PROVINCE="" PROVINCE_BUNDLE=""
DRY_RUN=0 ROOT="" DEV=0 MOCK_HW=0
PREFIX=/opt/motcua
ETC=/etc/motcua
CHANGES=()
# Development and CI: the broker, a screen for Kivy, a pty pair, voice, the browser, systemd-analyze.
# fonts-dejavu-core: Vietnamese glyphs for the server's PDF reports where there is no Kivy.
# postgresql: the PostgreSQL 15 server binaries for private clusters (ops/pgcluster.py: tests, demo).
DEV_PACKAGES="python3-venv mosquitto mosquitto-clients xvfb socat espeak-ng chromium sox systemd fonts-dejavu-core postgresql"
APT_UPDATED=0

usage() {
    sed -n '2,26p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
    echo
    echo "example: sudo ./setup.sh --role rating-terminal --site camau-hcc --device rt-05 --desk 5 --bundle ~/rt-05"
}

die() { echo "setup.sh: lỗi / error: $*" >&2; exit 2; }
say() { echo "$*"; }
changed() { CHANGES+=("$*"); say "changed: $*"; }

# Every action goes through run: printed, skipped in --dry-run.
run() {
    say "+ $*"
    if [[ $DRY_RUN == 1 ]]; then return 0; fi
    "$@"
}

# Actions on the machine itself (packages, users, services): never run with --root.
run_system() {
    if [[ -n $ROOT ]]; then
        say "skipped (root prefix): $*"
        return 0
    fi
    run "$@"
}

is_root() { [[ $(id -u) == 0 ]]; }

parse_args() {
    while [[ $# -gt 0 ]]; do
        case "$1" in
            --role) ROLE="$2"; shift 2 ;;
            --site) SITE="$2"; shift 2 ;;
            --device) DEVICE="$2"; shift 2 ;;
            --desk) DESK="$2"; shift 2 ;;
            --broker) BROKER="$2"; shift 2 ;;
            --bundle) BUNDLE="$2"; shift 2 ;;
            --password) PASSWORD="$2"; shift 2 ;;
            --tls) TLS=1; shift ;;
            --province) PROVINCE="$2"; shift 2 ;;
            --province-bundle) PROVINCE_BUNDLE="$2"; shift 2 ;;
            --mock-hardware) MOCK_HW=1; shift ;;
            --root) ROOT="$(mkdir -p "$2" && cd "$2" && pwd)"; shift 2 ;;
            --dry-run) DRY_RUN=1; shift ;;
            --dev) DEV=1; shift ;;
            -h|--help) usage; exit 0 ;;
            *) die "unknown option $1 (./setup.sh --help)" ;;
        esac
    done
    if [[ $ROOT == / ]]; then ROOT=""; fi
}

# ----------------------------------------------------------------------------- packages
missing_packages() {
    local p
    for p in "$@"; do
        if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
            echo "$p"
        fi
    done
}

apt_install() {
    if [[ -n $ROOT ]]; then
        say "skipped (root prefix): apt-get install -y $*"
        return 0
    fi
    local missing
    missing=$(missing_packages "$@" | tr '\n' ' ')
    if [[ -z ${missing// /} ]]; then
        say "ok: apt packages present: $*"
        return 0
    fi
    if ! is_root && [[ $DRY_RUN == 0 ]]; then
        say "warning: missing apt packages: $missing (run: sudo ./setup.sh $ORIG_ARGS)"
        return 0
    fi
    if [[ $APT_UPDATED == 0 ]]; then
        run apt-get update
        APT_UPDATED=1
    fi
    # shellcheck disable=SC2086
    run env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $missing
    changed "apt packages installed: $missing"
}

# The server's postgresql package brings the binaries for motcua's own private clusters
# (ops/pgcluster.py); Debian's default "main" cluster would be one more server running unused
# (and a minute of initdb on a Pi): postgresql-common reads this before it would make one.
pg_no_main_cluster() {
    [[ $ROLE == server ]] || return 0
    local f="$ROOT/etc/postgresql-common/createcluster.d/motcua.conf"
    local text="# motcua (setup.sh): no default cluster; motcua runs its own (ops/pgcluster.py)
create_main_cluster = false"
    if [[ -f $f && "$(cat "$f")" == "$text" ]]; then
        say "ok: $f"
        return 0
    fi
    run install -d -m 0755 "$(dirname "$f")"
    if [[ $DRY_RUN == 0 ]]; then printf '%s\n' "$text" > "$f"; fi
    changed "$f (no default PostgreSQL cluster)"
}

# ----------------------------------------------------------------------------- development
dev_setup() {
    say "== motcua development set-up in $REPO"
    if is_root || [[ $DRY_RUN == 1 ]]; then
        apt_install $DEV_PACKAGES
    else
        local missing
        missing=$(missing_packages $DEV_PACKAGES | tr '\n' ' ')
        [[ -z ${missing// /} ]] || say "warning: missing apt packages: $missing (sudo ./setup.sh installs them)"
    fi
    local venv="$REPO/.venv" stamp want
    if [[ -x $venv/bin/python ]]; then
        say "ok: $venv exists"
    else
        run python3 -m venv "$venv"
        changed "created $venv"
    fi
    want="$(sha256sum "$REPO/pyproject.toml" | cut -d' ' -f1)"
    stamp="$venv/.motcua-stamp"
    if [[ -f $stamp && $(cat "$stamp") == "$want" ]]; then
        say "ok: motcua installed in $venv (pyproject.toml unchanged)"
    else
        run "$venv/bin/pip" install --quiet -e "$REPO[all,dev]"
        if [[ $DRY_RUN == 0 ]]; then echo "$want" > "$stamp"; fi
        changed "pip install -e '.[all,dev]' into $venv"
    fi
    summary_dev
}

summary_dev() {
    echo
    if [[ ${#CHANGES[@]} == 0 ]]; then
        say "Không có gì thay đổi / nothing changed: the development set-up was already complete."
    else
        say "Đã làm / done: ${#CHANGES[@]} change(s)."
    fi
    say "Next: .venv/bin/python -m pytest -q     or     .venv/bin/motcua --help"
}

# ----------------------------------------------------------------------------- roles
role_packages() {
    local base="python3-venv python3-pip"
    # devices verify the server's signed releases (motcua update) with the system's cryptography
    [[ $ROLE == server ]] || base+=" python3-cryptography"
    local kivy="libsdl2-2.0-0 libsdl2-ttf-2.0-0 libsdl2-image-2.0-0 libsdl2-mixer-2.0-0 libmtdev1 libgl1 libgles2 libegl1 libgbm1 fonts-noto-core"
    case "$ROLE" in
        server) echo "$base mosquitto mosquitto-clients sqlite3 fonts-dejavu-core postgresql" ;;
        rating-terminal) echo "$base" ;;
        kiosk) echo "$base $kivy" ;;
        display) echo "$base $kivy espeak-ng alsa-utils" ;;
        camera) echo "$base libgl1 v4l-utils" ;;
    esac
}

# Packages Raspberry Pi OS has in apt and plain Debian does not: "apt-name:pypi-name" (an empty
# PyPI name: nothing to install elsewhere, the role works without it).
role_os_packages() {
    case "$ROLE" in
        rating-terminal|kiosk) echo "python3-lgpio:lgpio" ;;
        camera) echo "python3-picamera2:" ;;
    esac
}

# Whether apt can install PKG here. MOTCUA_OS=raspios|debian decides instead (tests, images).
apt_has() {
    case "${MOTCUA_OS:-}" in
        raspios) return 0 ;;
        debian) return 1 ;;
    esac
    LC_ALL=C apt-cache policy "$1" 2>/dev/null | grep -q 'Candidate: [^(]'
}

OS_APT="" OS_PIP=""
resolve_os_packages() {
    local pair a p
    for pair in $(role_os_packages); do
        a="${pair%%:*}" p="${pair#*:}"
        if apt_has "$a"; then
            OS_APT+=" $a"
        elif [[ -n $p ]]; then
            OS_PIP+=" $p"
            say "note: $a is not in this system's apt (not Raspberry Pi OS): $p comes from PyPI instead"
        else
            say "note: $a is not in this system's apt (not Raspberry Pi OS): not installed, the role works without it"
        fi
    done
}

# Groups the role's unit names in SupplementaryGroups=: made when the system lacks them (plain
# Debian has no gpio group; systemd would refuse the unit with 216/GROUP).
role_groups() {
    local u
    for u in $(role_units); do
        sed -n 's/^SupplementaryGroups=//p' "$REPO/systemd/$u"
    done | tr ' ' '\n' | sed '/^$/d' | LC_ALL=C sort -u | tr '\n' ' '
}

has_group() {
    if [[ -n $ROOT ]]; then grep -q "^$1:" "$ROOT/etc/group" 2>/dev/null; else getent group "$1" >/dev/null; fi
}

ensure_groups() {
    local g
    for g in $(role_groups); do
        [[ $g == motcua ]] && continue
        if has_group "$g"; then
            say "ok: group $g exists"
        elif [[ -n $ROOT ]]; then
            say "skipped (root prefix): groupadd --system $g"
        else
            run groupadd --system "$g"
            changed "group $g"
        fi
    done
}

# Can this machine serve the role? Checked before anything is installed: a machine without the
# role's hardware gets a clear message and exit code 3, never a half-installed role.
# MOTCUA_DEV=DIR looks for devices under DIR instead of /dev (tests).
hw_missing() {
    local dev="${MOTCUA_DEV:-/dev}"
    case "$ROLE" in
        rating-terminal)
            compgen -G "$dev/gpiochip*" >/dev/null || echo "GPIO (no $dev/gpiochip*)|chân GPIO (không có $dev/gpiochip*)" ;;
        kiosk|display)
            compgen -G "$dev/dri/card*" >/dev/null || echo "a display (no $dev/dri/card*: no KMS screen attached or enabled)|màn hình (không có $dev/dri/card*: chưa cắm hoặc chưa bật màn hình)" ;;
        camera)
            compgen -G "$dev/video*" >/dev/null || echo "a camera (no $dev/video*)|camera (không có $dev/video*)" ;;
    esac
}

check_hardware() {
    local miss
    miss="$(hw_missing)"
    [[ -n $miss ]] || return 0
    if [[ $MOCK_HW == 1 ]]; then
        say "note: this machine lacks ${miss%%|*}: --mock-hardware, the role runs on stand-ins"
        return 0
    fi
    if [[ -n $ROOT && -z ${MOTCUA_DEV:-} ]]; then
        say "note: ${miss%%|*} not checked under a root prefix"
        return 0
    fi
    {
        echo "setup.sh: máy này không chạy được vai trò $ROLE: thiếu ${miss#*|}."
        echo "setup.sh: this machine cannot serve the role $ROLE: it lacks ${miss%%|*}."
        echo "Chưa cài gì / nothing was installed. Gắn phần cứng rồi chạy lại / attach it and run again"
        echo "(a demo or test without the hardware: add --mock-hardware)."
    } >&2
    exit 3
}

role_extra() {
    case "$ROLE" in
        server) echo server ;; rating-terminal) echo rating ;; kiosk|display) echo kiosk ;; camera) echo camera ;;
    esac
}

role_units() {
    case "$ROLE" in
        server) echo "motcua-ticketing.service motcua-collector.service motcua-portal.service" ;;  # portal: docs/portal.md
        rating-terminal) echo "motcua-rating-terminal.service" ;;
        kiosk) echo "motcua-kiosk.service" ;;
        display) echo "motcua-display.service" ;;
        camera) echo "motcua-camera-agent.service" ;;
    esac
}

# Units beside the role's own: the release server on the site server, the update agent on devices.
helper_units() {
    if [[ $ROLE == server ]]; then echo "motcua-release.service"; else echo "motcua-update.service"; fi
}

role_configs() {
    case "$ROLE" in
        server) echo "ticketing.toml collector.toml site.toml portal.toml" ;;
        rating-terminal) echo "rating-terminal.toml" ;;
        kiosk) echo "kiosk.toml" ;;
        display) echo "display.toml" ;;
        camera) echo "camera.toml" ;;
    esac
}

check_role_args() {
    case "$ROLE" in
        server|rating-terminal|kiosk|display|camera) ;;
        *) die "--role must be server, rating-terminal, kiosk, display or camera (got '$ROLE')" ;;
    esac
    [[ $SITE =~ ^[a-z0-9-]{1,32}$ ]] || die "--site: 1 to 32 lower-case letters, digits, '-' (e.g. camau-hcc)"
    if [[ $ROLE == server && -z $DEVICE ]]; then DEVICE=ticketing; fi
    [[ $DEVICE =~ ^[a-z0-9-]{1,32}$ ]] || die "--device: 1 to 32 lower-case letters, digits, '-' (e.g. rt-05)"
    [[ -z $DESK || $DESK =~ ^[0-9]+$ ]] || die "--desk must be a number"
    if [[ -n $BUNDLE && ! -f $BUNDLE/mqtt.toml ]]; then die "--bundle $BUNDLE has no mqtt.toml (from motcua provision-device)"; fi
    if [[ -n $PROVINCE && ( $ROLE != server || ! -f $PROVINCE_BUNDLE/bridge.toml ) ]]; then
        die "--province needs --role server and --province-bundle DIR with bridge.toml (from motcua province-bridge add-site)"
    fi
    if [[ $ROLE != server && -z $BUNDLE && -z $PASSWORD ]]; then
        say "warning: no --bundle or --password: the device will have no broker credentials yet (motcua provision-device on the server)"
    fi
    if [[ -z $ROOT && $DRY_RUN == 0 ]] && ! is_root; then die "run as root: sudo ./setup.sh ..."; fi
}

helper_py() {
    if [[ -n ${MOTCUA_PYTHON:-} ]]; then echo "$MOTCUA_PYTHON"
    elif [[ -z $ROOT && -x $PREFIX/venv/bin/python ]]; then echo "$PREFIX/venv/bin/python"
    else echo python3; fi
}

# Runs a `python -m ops` helper; its "changed:" lines count as changes.
ops_helper() {
    local py out line
    py="$(helper_py)"
    say "+ $py -m ops $*"
    if [[ $DRY_RUN == 1 ]]; then return 0; fi
    out="$(PYTHONPATH="$REPO${PYTHONPATH:+:$PYTHONPATH}" "$py" -m ops "$@")"
    while IFS= read -r line; do
        case "$line" in
            changed:*) CHANGES+=("${line#changed: }"); say "$line" ;;
            *) say "$line" ;;
        esac
    done <<< "$out"
}

ensure_user() {
    if [[ -n $ROOT ]]; then
        say "skipped (root prefix): useradd --system --user-group --home-dir /var/lib/motcua --shell /usr/sbin/nologin motcua"
        return 0
    fi
    if id motcua >/dev/null 2>&1; then
        say "ok: system user motcua exists"
    else
        run useradd --system --user-group --home-dir /var/lib/motcua --shell /usr/sbin/nologin motcua
        changed "system user motcua"
    fi
}

source_hash() {
    (cd "$REPO" && find pyproject.toml mqtt common ops rating_terminal kiosk camera_agent ticketing collector portal \
        -type f \( -name '*.py' -o -name '*.toml' -o -name '*.kv' -o -name '*.html' -o -name '*.css' -o -name '*.js' \) \
        2>/dev/null | LC_ALL=C sort | xargs sha256sum | sha256sum | cut -d' ' -f1)
}

release_version() { sed -n 's/^version = "\(.*\)"/\1/p' "$REPO/pyproject.toml" | head -1; }

# The role's venv lives in $PREFIX/venvs/<version>-<hash>; $PREFIX/venv is a symlink to the one
# in use (what the units run), switched atomically only once the new venv is complete, so a
# failed install leaves the running version as it was (motcua update switches the same way).
install_package() {
    local extra venv want link="$PREFIX/venv" id
    extra="$(role_extra)"
    want="$extra $(source_hash)${OS_PIP:+ +$OS_PIP}"
    id="$(release_version)-$(echo "$want" | sha256sum | cut -c1-12)"
    venv="$PREFIX/venvs/$id"
    if [[ -n $ROOT ]]; then
        say "skipped (root prefix): python3 -m venv --system-site-packages --without-pip $venv"
        say "skipped (root prefix): $venv/bin/python -m pip install --no-build-isolation '$REPO[$extra]'$OS_PIP"
        say "skipped (root prefix): ln -sfn $venv $link"
        return 0
    fi
    if [[ -f $venv/.motcua-stamp && $(cat "$venv/.motcua-stamp") == "$want" ]]; then
        say "ok: motcua[$extra] installed in $venv (source unchanged)"
    else
        if [[ -e $venv ]]; then run rm -rf "$venv"; fi   # an earlier, unfinished attempt
        run install -d -m 0755 "$PREFIX/venvs"
        FAILED_VENV="$venv"
        # the system's pip, setuptools and wheel (python3-pip) build and install into the venv: no
        # pip of its own (ensurepip) and no isolated build env, each a minute and more on a slow Pi
        # (under qemu, measured for a rating terminal: 94 s for ensurepip, 90 s for the build env, of 260)
        run python3 -m venv --system-site-packages --without-pip "$venv"
        # shellcheck disable=SC2086
        run "$venv/bin/python" -m pip install --quiet --no-build-isolation "$REPO[$extra]" $OS_PIP
        if [[ $DRY_RUN == 0 ]]; then echo "$want" > "$venv/.motcua-stamp"; fi
        FAILED_VENV=""
        changed "pip install motcua[$extra]$OS_PIP into $venv"
    fi
    if [[ -d $link && ! -L $link ]]; then   # a venv from before venvs/: kept as the previous one
        run mv -T "$link" "$PREFIX/venvs/legacy"
    fi
    if [[ $(readlink "$link" 2>/dev/null) == "$venv" ]]; then
        say "ok: $link -> $venv"
    else
        run ln -sfn "$venv" "$link.new"
        run mv -T "$link.new" "$link"
        changed "$link -> $venv"
    fi
}

# --mock-hardware: a drop-in beside the role's unit (mock pins, an off-screen window, no tty).
mock_dropin() {
    case "$ROLE" in
        # keys written to /run/motcua-rating-terminal/pins press the mock pins (rating_terminal/mockpins.py)
        rating-terminal) printf '[Service]\nEnvironment=GPIOZERO_PIN_FACTORY=mock MOTCUA_MOCK_PINS=/run/motcua-rating-terminal/pins\nRuntimeDirectory=motcua-rating-terminal\nRuntimeDirectoryMode=0750\n' ;;
        kiosk) printf '[Service]\nEnvironment=GPIOZERO_PIN_FACTORY=mock SDL_VIDEODRIVER=offscreen\nTTYPath=\nStandardInput=null\n' ;;
        display) printf '[Service]\nEnvironment=SDL_VIDEODRIVER=offscreen SDL_AUDIODRIVER=dummy\nTTYPath=\nStandardInput=null\n' ;;
    esac
}

install_dropins() {
    local u text dest
    [[ $MOCK_HW == 1 ]] || return 0
    text="$(mock_dropin)"
    [[ -n $text ]] || return 0
    for u in $(role_units); do
        dest="$ROOT/etc/systemd/system/$u.d/mock-hardware.conf"
        if [[ -f $dest && "$(cat "$dest")" == "$text" ]]; then
            say "ok: $dest"
        else
            run install -d -m 0755 "$(dirname "$dest")"
            if [[ $DRY_RUN == 0 ]]; then printf '%s\n' "$text" > "$dest"; fi
            changed "$dest (mock hardware)"
        fi
    done
}

# A step that fails: say so in both languages, drop the unfinished venv, exit 4.
on_error() {
    local rc=$?
    trap - ERR
    if [[ -n ${FAILED_VENV:-} && -d $FAILED_VENV && $DRY_RUN == 0 ]]; then rm -rf "$FAILED_VENV"; fi
    {
        echo "setup.sh: một bước bị lỗi (mã $rc, dòng ${BASH_LINENO[0]}): vai trò $ROLE chưa được đổi; phiên bản đang chạy (nếu có) vẫn giữ nguyên. Sửa lỗi ở trên rồi chạy lại."
        echo "setup.sh: a step failed (code $rc, line ${BASH_LINENO[0]}): the role $ROLE was not switched; the running version (if any) is unchanged. Fix the error above and run again."
    } >&2
    exit 4
}

# Copies a file when different. install_file SRC DEST MODE
install_file() {
    local src="$1" dest="$2" mode="$3"
    if [[ ! -f $src ]]; then say "note: $src missing in this checkout, not installed"; return 0; fi
    if [[ -f $dest ]] && cmp -s "$src" "$dest"; then
        say "ok: $dest"
        return 0
    fi
    run install -D -m "$mode" "$src" "$dest"
    changed "$dest"
}

write_configs() {
    local etc="$ROOT$ETC" f args
    if [[ ! -d $etc ]]; then run install -d -m 0755 "$etc"; changed "$etc"; fi
    if [[ -n $BUNDLE ]]; then
        local c
        for c in ca.crt device.crt device.key; do
            if [[ -f $BUNDLE/$c ]]; then install_file "$BUNDLE/$c" "$etc/tls/$c" 0640; fi
        done
        # the server's release signing key: motcua update installs only releases it signed
        if [[ -f $BUNDLE/release.pub ]]; then install_file "$BUNDLE/release.pub" "$etc/release.pub" 0644; fi
    fi
    for f in $(role_configs); do
        args=(write-config --role "${f%.toml}" --template "$REPO/config/$f" --out "$etc/$f" --site "$SITE")
        if [[ $f == "$(role_configs | cut -d' ' -f1)" ]]; then
            args+=(--device "$DEVICE")
            if [[ -n $DESK ]]; then args+=(--desk "$DESK"); fi
            if [[ -n $BROKER ]]; then args+=(--broker "$BROKER"); fi
            if [[ -n $PASSWORD ]]; then args+=(--password "$PASSWORD"); fi
            if [[ -n $BUNDLE ]]; then args+=(--mqtt-file "$BUNDLE/mqtt.toml"); fi
        fi
        [[ -f $REPO/config/$f || -f $etc/$f ]] || say "note: no template config/$f in this version: writing a minimal one"
        ops_helper "${args[@]}"
    done
    seed_outbox
    if [[ $ROLE == server ]]; then
        local tls=()
        [[ $TLS == 0 ]] || tls=(--tls)
        ops_helper server-init --site "$SITE" --root "${ROOT:-/}" "${tls[@]}"
        # the citizen portal: device "portal" (its login, registry entry, ticket-token secret; docs/portal.md)
        ops_helper portal-init --site "$SITE" --root "${ROOT:-/}"
        # Mosquitto reads its password file after dropping to the mosquitto user (found by the
        # system test: "Unable to open pwfile" when it was root:root 0640)
        local f
        for f in /etc/mosquitto/motcua/passwd /etc/mosquitto/motcua/acl; do
            if [[ -n $ROOT || $DRY_RUN == 1 ]] || [[ $(stat -c %G:%a "$f" 2>/dev/null) != mosquitto:640 ]]; then
                run_system chgrp mosquitto "$f"
                run_system chmod 0640 "$f"
            fi
        done
        if [[ -n $PROVINCE ]]; then  # docs/province.md
            ops_helper province-bridge join --root "${ROOT:-/}" --bundle "$PROVINCE_BUNDLE" --province "$PROVINCE"
        fi
    fi
    run_system chown -R root:motcua "$ETC"
    run_system chmod -R g+rX,o-rwx "$ETC"
}

# A replacement device (motcua replace-device on the server put continue.toml in the bundle):
# the role's new, empty outbox starts at the seq after the collector's last one from this device
# id (every role with an outbox: ops/roles.py Role.outbox; the display has none).
seed_outbox() {
    [[ -n $BUNDLE && -f $BUNDLE/continue.toml ]] || return 0
    case "$ROLE" in server|display) say "note: $ROLE keeps no outbox: continue.toml not needed"; return 0 ;; esac
    local cfg owner=()
    cfg="$(role_configs | cut -d' ' -f1)"
    [[ -n $ROOT ]] || owner=(--owner motcua)
    ops_helper seed-outbox --role "$ROLE" --config "$ROOT$ETC/$cfg" --root "${ROOT:-/}" "${owner[@]}" \
        --site "$SITE" --device "$DEVICE" --continue-file "$BUNDLE/continue.toml"
}

mosquitto_include() {
    local main="$ROOT/etc/mosquitto/mosquitto.conf"
    if [[ -f $main ]] && grep -q '^include_dir /etc/mosquitto/conf.d' "$main"; then
        say "ok: $main includes conf.d"
    elif [[ -f $main ]]; then
        run sh -c "echo 'include_dir /etc/mosquitto/conf.d' >> '$main'"
        changed "$main: include_dir /etc/mosquitto/conf.d"
    else
        say "note: $main absent (mosquitto not installed yet under this root)"
    fi
}

# A unit that is not running is (re)started even when no file changed (an earlier run that failed).
unit_active() { [[ -n $ROOT || $DRY_RUN == 1 ]] || systemctl is-active --quiet "$1" 2>/dev/null; }

# The site server signs and serves releases built from this source (motcua update on devices).
release_setup() {
    [[ $ROLE == server ]] || return 0
    local motcua="$PREFIX/venv/bin/motcua" stamp="$ROOT/var/lib/motcua/releases/.source" want
    want="$(release_version) $(source_hash)"
    if [[ -n $ROOT ]]; then
        say "skipped (root prefix): $motcua release keygen; $motcua release build --repo $REPO"
        return 0
    fi
    if [[ -f $ETC/release/signing.key ]]; then
        say "ok: release signing key $ETC/release/signing.key"
    else
        run "$motcua" release keygen
        changed "release signing key $ETC/release/signing.key"
    fi
    if [[ -f $stamp && $(cat "$stamp") == "$want" ]]; then
        say "ok: release $(release_version) of this source published"
    else
        run "$motcua" release build --repo "$REPO"
        if [[ $DRY_RUN == 0 ]]; then echo "$want" > "$stamp"; fi
        changed "release $(release_version) published in /var/lib/motcua/releases"
    fi
}

install_units() {
    local u any=0 dest
    install_file "$REPO/docs/provisioning.md" "$ROOT$PREFIX/docs/provisioning.md" 0644
    for u in $(role_units) $(helper_units); do
        dest="$ROOT/etc/systemd/system/$u"
        if [[ -f $dest ]] && cmp -s "$REPO/systemd/$u" "$dest"; then
            say "ok: $dest"
        else
            run install -D -m 0644 "$REPO/systemd/$u" "$dest"
            changed "$dest"
            any=1
        fi
    done
    local before=${#CHANGES[@]}
    install_dropins
    [[ ${#CHANGES[@]} == "$before" ]] || any=1
    if [[ $ROLE == server ]]; then
        mosquitto_include
        run_system systemctl enable mosquitto
        if [[ ${#CHANGES[@]} -gt 0 ]] || ! unit_active mosquitto; then run_system systemctl restart mosquitto; fi
    fi
    if [[ $any == 1 ]]; then run_system systemctl daemon-reload; fi
    if [[ $ROLE == kiosk || $ROLE == display ]]; then
        # Kivy draws straight on the display: boot to the console, no desktop.
        run_system systemctl set-default multi-user.target
    fi
    for u in $(role_units) $(helper_units); do
        if [[ -z $ROOT && $DRY_RUN == 0 ]] && systemctl is-enabled --quiet "$u" 2>/dev/null && [[ ${#CHANGES[@]} == 0 ]] \
            && unit_active "$u"; then
            say "ok: $u enabled and active"
        else
            run_system systemctl enable "$u"
            run_system systemctl restart "$u"
        fi
    done
}

summary_role() {
    echo
    if [[ ${#CHANGES[@]} == 0 ]]; then
        say "Không có gì thay đổi / nothing changed: this machine was already set up as $ROLE ($SITE/$DEVICE)."
    else
        say "Đã làm / done (${#CHANGES[@]} change(s)) for $ROLE $SITE/$DEVICE:"
        local c
        for c in "${CHANGES[@]}"; do say "  - $c"; done
    fi
    echo
    say "Kiểm tra tiếp / check next:"
    say "  sudo $PREFIX/venv/bin/motcua doctor            (every check ok?)"
    for u in $(role_units); do say "  journalctl -u $u -f                (its log)"; done
    if [[ $ROLE == server ]]; then
        say "  sudo $PREFIX/venv/bin/motcua provision-device --site $SITE --device rt-01 --role rating-terminal --desk 1"
        say "  dashboard: http://$(hostname).local:8080/"
        say "  citizen portal: http://127.0.0.1:8070/ (a TLS reverse proxy in front; ticket_secret in kiosk.toml = $ETC/portal.secret; docs/portal.md)"
    else
        say "  the device should appear online in the dashboard within a minute"
    fi
}

main() {
    ORIG_ARGS="$*"
    parse_args "$@"
    if [[ -z $ROLE ]]; then
        dev_setup
        return 0
    fi
    [[ $DEV == 0 ]] || die "--dev and --role do not go together"
    check_role_args
    say "== motcua set-up: role $ROLE, site $SITE, device $DEVICE${DESK:+, desk $DESK}${ROOT:+ (root prefix $ROOT)}"
    [[ $DRY_RUN == 0 ]] || say "(dry run: nothing is changed)"
    check_hardware
    trap on_error ERR
    resolve_os_packages
    pg_no_main_cluster
    # shellcheck disable=SC2046
    apt_install $(role_packages) $OS_APT
    ensure_user
    ensure_groups
    install_package
    write_configs
    release_setup
    install_units
    summary_role
}

main "$@"
