#!/usr/bin/env bash
# motcua set-up. Two uses:
#
#   ./setup.sh            development set-up (or ./setup.sh --dev): system packages when root,
#                         .venv in the repo, pip install -e '.[all,dev]'. Idempotent.
#
#   sudo ./setup.sh --role server|rating-terminal|kiosk|display|camera --site SITE --device ID \
#        [--desk N] [--broker URL] [--bundle DIR] [--password P] [--tls]
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
# See docs/provisioning.md.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROLE="" SITE="" DEVICE="" DESK="" BROKER="" BUNDLE="" PASSWORD="" TLS=0
PROVINCE="" PROVINCE_BUNDLE=""
DRY_RUN=0 ROOT="" DEV=0
PREFIX=/opt/motcua
ETC=/etc/motcua
CHANGES=()
# Development and CI: the broker, a screen for Kivy, a pty pair, voice, the browser, systemd-analyze.
DEV_PACKAGES="python3-venv mosquitto mosquitto-clients xvfb socat espeak-ng chromium sox systemd"
APT_UPDATED=0

usage() {
    sed -n '2,20p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
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
    local kivy="libsdl2-2.0-0 libsdl2-ttf-2.0-0 libsdl2-image-2.0-0 libsdl2-mixer-2.0-0 libmtdev1 libgl1 libgles2 fonts-noto-core"
    case "$ROLE" in
        server) echo "$base mosquitto mosquitto-clients sqlite3" ;;
        rating-terminal) echo "$base python3-lgpio" ;;
        kiosk) echo "$base python3-lgpio $kivy" ;;
        display) echo "$base $kivy espeak-ng alsa-utils" ;;
        camera) echo "$base python3-picamera2 libgl1 v4l-utils" ;;
    esac
}

role_extra() {
    case "$ROLE" in
        server) echo server ;; rating-terminal) echo rating ;; kiosk|display) echo kiosk ;; camera) echo camera ;;
    esac
}

role_units() {
    case "$ROLE" in
        server) echo "motcua-ticketing.service motcua-collector.service" ;;
        rating-terminal) echo "motcua-rating-terminal.service" ;;
        kiosk) echo "motcua-kiosk.service" ;;
        display) echo "motcua-display.service" ;;
        camera) echo "motcua-camera-agent.service" ;;
    esac
}

role_configs() {
    case "$ROLE" in
        server) echo "ticketing.toml collector.toml site.toml" ;;
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
    (cd "$REPO" && find pyproject.toml mqtt common ops rating_terminal kiosk camera_agent ticketing collector \
        -type f \( -name '*.py' -o -name '*.toml' -o -name '*.kv' -o -name '*.html' -o -name '*.css' -o -name '*.js' \) \
        2>/dev/null | LC_ALL=C sort | xargs sha256sum | sha256sum | cut -d' ' -f1)
}

install_package() {
    local extra venv stamp want
    extra="$(role_extra)"
    venv="$PREFIX/venv"
    if [[ -n $ROOT ]]; then
        say "skipped (root prefix): python3 -m venv --system-site-packages $venv"
        say "skipped (root prefix): $venv/bin/pip install '$REPO[$extra]'"
        return 0
    fi
    if [[ -x $venv/bin/python ]]; then
        say "ok: $venv exists"
    else
        run python3 -m venv --system-site-packages "$venv"
        changed "venv $venv"
    fi
    want="$extra $(source_hash)"
    stamp="$PREFIX/.motcua-stamp"
    if [[ -f $stamp && $(cat "$stamp") == "$want" ]]; then
        say "ok: motcua[$extra] installed in $venv (source unchanged)"
    else
        run "$venv/bin/pip" install --quiet "$REPO[$extra]"
        if [[ $DRY_RUN == 0 ]]; then echo "$want" > "$stamp"; fi
        changed "pip install motcua[$extra] into $venv"
    fi
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
    if [[ $ROLE == server ]]; then
        local tls=()
        [[ $TLS == 0 ]] || tls=(--tls)
        ops_helper server-init --site "$SITE" --root "${ROOT:-/}" "${tls[@]}"
        if [[ -n $PROVINCE ]]; then  # docs/province.md
            ops_helper province-bridge join --root "${ROOT:-/}" --bundle "$PROVINCE_BUNDLE" --province "$PROVINCE"
        fi
    fi
    run_system chown -R root:motcua "$ETC"
    run_system chmod -R g+rX,o-rwx "$ETC"
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

install_units() {
    local u any=0 dest
    install_file "$REPO/docs/provisioning.md" "$ROOT$PREFIX/docs/provisioning.md" 0644
    for u in $(role_units); do
        dest="$ROOT/etc/systemd/system/$u"
        if [[ -f $dest ]] && cmp -s "$REPO/systemd/$u" "$dest"; then
            say "ok: $dest"
        else
            run install -D -m 0644 "$REPO/systemd/$u" "$dest"
            changed "$dest"
            any=1
        fi
    done
    if [[ $ROLE == server ]]; then
        mosquitto_include
        run_system systemctl enable mosquitto
        if [[ ${#CHANGES[@]} -gt 0 ]]; then run_system systemctl restart mosquitto; fi
    fi
    if [[ $any == 1 ]]; then run_system systemctl daemon-reload; fi
    if [[ $ROLE == kiosk || $ROLE == display ]]; then
        # Kivy draws straight on the display: boot to the console, no desktop.
        run_system systemctl set-default multi-user.target
    fi
    for u in $(role_units); do
        if [[ -z $ROOT && $DRY_RUN == 0 ]] && systemctl is-enabled --quiet "$u" 2>/dev/null && [[ ${#CHANGES[@]} == 0 ]]; then
            say "ok: $u enabled"
        else
            run_system systemctl enable --now "$u"
            if [[ ${#CHANGES[@]} -gt 0 ]]; then run_system systemctl restart "$u"; fi
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
    # shellcheck disable=SC2046
    apt_install $(role_packages)
    ensure_user
    install_package
    write_configs
    install_units
    summary_role
}

main "$@"
