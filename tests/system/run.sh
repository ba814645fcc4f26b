#!/usr/bin/env bash
# The system test: every role installed by setup.sh on a clean Debian 12 root booted with systemd
# in containers (systemd-nspawn) on a private network of their own, the site server in one of
# them. See docs/provisioning.md ("The system test").
#
#   sudo MOTCUA_SYSTEM=1 tests/system/run.sh                 (x86_64)
#   sudo MOTCUA_SYSTEM=1 MOTCUA_SYSTEM_ARCH=arm64 tests/system/run.sh     (arm64 under qemu-user-static)
#
# Needs root, debootstrap, systemd-container, iproute2 (arm64 also qemu-user-static and
# binfmt-support). The clean root is cached in $MOTCUA_SYSTEM_CACHE (default
# /var/cache/motcua-system); containers, overlays and the bridge are removed at the end.
# Exit code 0 when every row of the table passed.
#
# The whole script is one { ... } block: bash reads it all before running any of it, so editing
# this file while a run is under way (it takes a while) cannot change what that run does.
{
set -Euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
[[ ${MOTCUA_SYSTEM:-} == 1 ]] || { echo "system test skipped: set MOTCUA_SYSTEM=1 to run it (see docs/provisioning.md)"; exit 0; }
[[ $(id -u) == 0 ]] || { echo "run as root: sudo MOTCUA_SYSTEM=1 $0" >&2; exit 2; }
for t in debootstrap systemd-nspawn nsenter ip; do
    command -v "$t" >/dev/null || { echo "missing $t: apt-get install debootstrap systemd-container iproute2" >&2; exit 2; }
done
ARCH="${MOTCUA_SYSTEM_ARCH:-$(dpkg --print-architecture)}"
CACHE="${MOTCUA_SYSTEM_CACHE:-/var/cache/motcua-system}"
SITE=sys-test
T0=$SECONDS
export WORK="/tmp/motcua-system.$$" ZONE="mcs$$" NET=10.77.$(( $$ % 200 + 20 ))
QEMU_ARCH=""
if [[ $ARCH != "$(dpkg --print-architecture)" ]]; then
    case "$ARCH" in arm64) QEMU_ARCH=aarch64 ;; *) echo "unsupported arch $ARCH" >&2; exit 2 ;; esac
    [[ -x /usr/bin/qemu-$QEMU_ARCH-static ]] || { echo "apt-get install qemu-user-static binfmt-support" >&2; exit 2; }
    mountpoint -q /proc/sys/fs/binfmt_misc || mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
    [[ -e /proc/sys/fs/binfmt_misc/qemu-$QEMU_ARCH ]] || update-binfmts --enable "qemu-$QEMU_ARCH"
fi
export QEMU_ARCH
# shellcheck source=tests/system/lib.sh
source "$REPO/tests/system/lib.sh"

# Rows go to a file: device set-ups, reboots and doctor checks run in parallel jobs.
ROWS="$WORK/rows"
PHASES=()
row() {  # row NAME ok|FAIL DETAIL
    local line
    line="$(printf '%-50s %-5s %s' "$1" "$2" "$3")"
    echo "$line" >> "$ROWS"
    [[ $2 == ok ]] || echo "$1" >> "$WORK/fails"
    printf '[%4ds] %s\n' $((SECONDS - T0)) "$line" >&2
}
check() {  # check NAME DETAIL command...: a row from a command's exit code (its output in $LOG)
    local name="$1" detail="$2" log="${LOG:-$WORK/log}"; shift 2
    if "$@" >>"$log" 2>&1; then row "$name" ok "$detail"; else row "$name" FAIL "$detail (see $log)"; fi
}
# Parallel jobs: bg starts one, join waits for those started (never a bare wait: the
# containers' systemd-nspawn processes are children of this shell too).
JOBS=()
bg() { "$@" & JOBS+=($!); }
join() { local j; for j in "${JOBS[@]}"; do wait "$j"; done; JOBS=(); }
# CPU time of everything this test starts, containers included (a cpuacct cgroup of its own, on
# cgroup v1 hosts): unlike the wall time it does not depend on what else the machine runs.
CG=""
if [[ -d /sys/fs/cgroup/cpuacct && ! -e /sys/fs/cgroup/cpuacct/cgroup.subtree_control ]] \
    && mkdir "/sys/fs/cgroup/cpuacct/motcua-system.$$" 2>/dev/null; then
    CG="/sys/fs/cgroup/cpuacct/motcua-system.$$"
    echo $$ > "$CG/cgroup.procs" || CG=""
fi
cpu_s() { if [[ -n $CG ]]; then echo $(( $(cat "$CG/cpuacct.usage") / 1000000000 )); else echo 0; fi; }
P0=$SECONDS C0=$(cpu_s)
phase() {  # phase NAME: the wall and CPU time of the phase that ends here (the table's time section)
    local c
    c=$(cpu_s)
    PHASES+=("$(printf '%-50s %5d s wall %6d s CPU' "$1" $((SECONDS - P0)) $((c - C0)))")
    P0=$SECONDS C0=$c
}
exec 3>&1 4>&2   # the table goes here even when a timeout stops a check whose output goes to a log
finish() {
    local rc=$? n fails
    exec 1>&3 2>&4
    local j
    for j in "${JOBS[@]}"; do kill "$j" 2>/dev/null; done   # jobs still running (a timeout)
    n="$(wc -l < "$ROWS" 2>/dev/null || echo 0)"
    fails="$(cat "$WORK/fails" 2>/dev/null | wc -l)"
    echo
    echo "motcua system test, $ARCH, $(date -u +%FT%TZ), $((SECONDS - T0)) s"
    printf '%-50s %-5s %s\n' "check" "result" "detail"
    cat "$ROWS" 2>/dev/null
    echo "$((n - fails)) of $n passed"
    echo
    echo "where the time went (CPU: user + system of every process, both cores; load average now $(cut -d' ' -f1-3 /proc/loadavg)):"
    printf '%s\n' "${PHASES[@]}"
    printf '%-50s %5d s wall %6d s CPU\n' "in all" $((SECONDS - T0)) "$(cpu_s)"
    if [[ ${MOTCUA_SYSTEM_KEEP:-} == 1 ]]; then echo "kept: $WORK (containers still running)"; else cleanup_containers; fi
    if [[ -n $CG ]]; then
        echo $$ > /sys/fs/cgroup/cpuacct/cgroup.procs
        rmdir "$CG" 2>/dev/null || echo "note: $CG not removed yet (processes left in it)" >&2
    fi
    [[ $fails == 0 && $n -gt 0 && $rc == 0 ]] || exit 1
}
trap finish EXIT
trap 'exit 143' TERM INT   # a timeout still prints the table and cleans up
mkdir -p "$WORK"
: > "$ROWS"

# ------------------------------------------------------------------------ the clean root
BASE="$("$REPO/tests/system/build-root.sh" "$ARCH" "$CACHE" "$REPO")" || { row "clean Debian 12 root" FAIL "build-root.sh"; exit 1; }
export BASE
row "clean Debian 12 root ($ARCH)" ok "$BASE ($((SECONDS - T0)) s)"
# the source as a technician copies it (the working tree, tracked and new files)
export SRC="$WORK/src"
mkdir -p "$SRC"
(cd "$REPO" && git ls-files -co --exclude-standard -z | xargs -0 tar -cf - 2>/dev/null) | tar -xf - -C "$SRC"

in_c() { local c="$1"; shift; cexec "$c" bash -c "$*"; }
setup_role() {  # setup_role CONTAINER ARGS...: copies the source in, runs setup.sh
    local c="$1"; shift
    in_c "$c" "rm -rf /root/motcua && cp -r /src /root/motcua && cd /root/motcua && ./setup.sh $*"
}
active() {  # active CONTAINER UNIT...: each active (running) within 180 s (a unit's TimeoutStartSec is 120)
    local c="$1" u end; shift
    for u in "$@"; do
        end=$((SECONDS + 180))
        while ((SECONDS < end)); do
            [[ $(cexec "$c" systemctl show -p SubState --value "$u") == running ]] && break
            sleep 1
        done
        [[ $(cexec "$c" systemctl show -p SubState --value "$u") == running ]] || { echo "$c: $u not running"; cexec "$c" journalctl -u "$u" -n 30 --no-pager; return 1; }
    done
}
SRV_IP="$NET.2"
# name:role:address:setup.sh and provision-device options:provision-device only (a camera's desks)
DEVICES=("rt-05:rating-terminal:$NET.3:--desk 5:" "kiosk-1:kiosk:$NET.4::" "display-1:display:$NET.5::" "cam-01:camera:$NET.6::--desks 5")
# MOTCUA_SYSTEM_ROLES="rating-terminal camera" limits the device roles (default: every one; the
# rating terminal is always in: the rating, update and replacement checks use it)
if [[ -n ${MOTCUA_SYSTEM_ROLES+set} ]]; then   # set, even empty: only these (empty: the rating terminal)
    kept=()
    for spec in "${DEVICES[@]}"; do
        IFS=: read -r _ role _ <<< "$spec"
        [[ $role == rating-terminal || " $MOTCUA_SYSTEM_ROLES " == *" $role "* ]] && kept+=("$spec")
    done
    DEVICES=("${kept[@]}")
fi
unit_of() { case "$1" in camera) echo motcua-camera-agent.service ;; *) echo "motcua-$1.service" ;; esac; }
SERVER_UNITS="mosquitto motcua-ticketing motcua-collector motcua-portal motcua-release"

# ------------------------------------------------------------------------ boot; the site server
phase "the clean root"
start_container srv "$SRV_IP" || { row "server container boots" FAIL "see $WORK/srv/console.log"; exit 1; }
row "server container boots with systemd" ok "$SRV_IP"
refused() {  # refused DEV ROLE EXTRA: boots the device, whose setup.sh without hardware must refuse
    local dev="$1" role="$2" extra="$3" rc
    start_container "$dev" "$(ip_of "$dev")" || { row "$dev: container boots" FAIL "see $WORK/$dev/console.log"; return 1; }
    # no GPIO, screen or camera in a container: the refusal first, then the mock hardware
    in_c "$dev" "cd /src && ./setup.sh --role $role --site $SITE --device $dev $extra" >"$WORK/$dev/refused.log" 2>&1
    rc=$?
    if [[ $rc == 3 ]] && grep -q "cannot serve the role" "$WORK/$dev/refused.log" && cexec "$dev" test ! -e /opt/motcua; then
        row "$dev: no hardware -> refused, nothing installed" ok "exit 3, bilingual message"
    else
        row "$dev: no hardware -> refused, nothing installed" FAIL "exit $rc"
    fi
}
ip_of() { local spec d ip; for spec in "${DEVICES[@]}"; do IFS=: read -r d _ ip _ <<< "$spec"; [[ $d == "$1" ]] && echo "$ip"; done; }
# the devices boot (and refuse to install without hardware) while the server is set up
for spec in "${DEVICES[@]}"; do
    IFS=: read -r dev role ip extra _ <<< "$spec"
    LOG="$WORK/$dev.log" bg refused "$dev" "$role" "$extra"
done
check "server: setup.sh --role server" "site $SITE" setup_role srv --role server --site "$SITE"
check "server: units active (running)" "$SERVER_UNITS" active srv $SERVER_UNITS
join
phase "server set-up (devices booting meanwhile)"

# ------------------------------------------------------------------------ every device role, in parallel
bundle_for() {  # bundle_for CONTAINER DEVICE: the server's provisioning folder, copied as a technician does
    mkdir -p "$WORK/$1/merged/root/bundle"
    rm -f "$WORK/$1/merged/root/bundle/"*
    cp "$WORK/srv/merged/etc/motcua/provision/$2/"* "$WORK/$1/merged/root/bundle/"
}
device_setup() {  # device_setup DEV ROLE EXTRA
    local dev="$1" role="$2" extra="$3"
    [[ -f $WORK/$dev/nspawn.pid ]] || return 1
    bundle_for "$dev" "$dev"
    check "$dev: setup.sh --role $role --mock-hardware" "bundle from provision-device" \
        setup_role "$dev" --role "$role" --site "$SITE" --device "$dev" $extra --bundle /root/bundle --mock-hardware
    check "$dev: $(unit_of "$role") active (running)" "+ motcua-update.service" active "$dev" "$(unit_of "$role")" motcua-update.service
}
for spec in "${DEVICES[@]}"; do   # provisioning writes the server's password file: one at a time
    IFS=: read -r dev role ip extra only <<< "$spec"
    in_c srv "/opt/motcua/venv/bin/motcua provision-device --site $SITE --device $dev --role $role $extra $only --broker mqtt://$SRV_IP:1883" >>"$WORK/log" 2>&1 \
        || row "$dev: provision-device on the server" FAIL "see $WORK/log"
done
for spec in "${DEVICES[@]}"; do
    IFS=: read -r dev role ip extra _ <<< "$spec"
    LOG="$WORK/$dev.log" bg device_setup "$dev" "$role" "$extra"
done
join
phase "device set-ups (in parallel)"

# ------------------------------------------------------------------------ a rating reaches the collector
sql() { cexec srv sqlite3 /var/lib/motcua/collector.db "$1" 2>/dev/null; }
ratings() { sql "SELECT count(*) FROM events WHERE device='$1' AND type='rating'" || echo 0; }
PINS=/run/motcua-rating-terminal/pins
press() {  # press CONTAINER SCORE: a visitor's finger on the mock pin of the running unit (rating_terminal/mockpins.py)
    local c="$1"
    for _ in $(seq 1 60); do cexec "$c" test -p "$PINS" && break; sleep 1; done
    in_c "$c" "echo $2 > $PINS"
}
pressed_by_unit() {  # pressed_by_unit CONTAINER SCORE N: the unit's own log says it pressed the pin, and N ratings arrived
    local c="$1" dev="$2" n="$3"
    for _ in $(seq 1 60); do [[ $(ratings "$dev") -ge $n ]] && break; sleep 1; done
    cexec "$c" journalctl -u motcua-rating-terminal --no-pager | grep "mock pins: key '5' pressed GPIO" || return 1
    [[ $(ratings "$dev") -ge $n ]] && echo "$(ratings "$dev") rating(s) from $dev in collector.db"
}
press rt-05 5 >>"$WORK/log" 2>&1
check "rt-05: rating pressed on a mock pin -> collector" "echo 5 > $PINS in the running unit" pressed_by_unit rt-05 rt-05 1

# ------------------------------------------------------------------------ restart, reboot, idempotence
all_active() {
    active srv $SERVER_UNITS || return 1
    local spec dev role
    for spec in "${DEVICES[@]}"; do IFS=: read -r dev role _ <<< "$spec"; active "$dev" "$(unit_of "$role")" || return 1; done
}
for spec in "${DEVICES[@]}"; do IFS=: read -r dev role _ <<< "$spec"; cexec "$dev" systemctl restart --no-block "$(unit_of "$role")"; done
cexec srv systemctl restart --no-block motcua-ticketing motcua-collector motcua-portal
check "every unit survives systemctl restart" "server + ${#DEVICES[@]} devices" all_active
phase "rating, restarts"
for c in srv $(for spec in "${DEVICES[@]}"; do echo "${spec%%:*}"; done); do bg stop_container "$c"; done
join
bg start_container srv "$SRV_IP" >>"$WORK/log" 2>&1
for spec in "${DEVICES[@]}"; do IFS=: read -r dev role ip _ <<< "$spec"; bg start_container "$dev" "$ip" >>"$WORK/$dev.log" 2>&1; done
join
check "every unit active after a container reboot" "$(( ${#DEVICES[@]} + 1 )) containers rebooted" all_active
phase "reboots (in parallel)"
second() {
    local out
    out="$(setup_role "$1" "${@:2}")" || return 1
    grep -q "nothing changed" <<< "$out"
}
LOG="$WORK/srv.log" bg check "server: second setup.sh changes nothing" "" second srv --role server --site "$SITE"
LOG="$WORK/rt-05.log" bg check "rt-05: second setup.sh changes nothing" "" second rt-05 --role rating-terminal --site "$SITE" --device rt-05 --desk 5 --bundle /root/bundle --mock-hardware
join
phase "second setup.sh (in parallel)"

# ------------------------------------------------------------------------ updates
# the replacement Pi's SD card is written (a container from the clean root) while the old one still runs
CHOST=rt-05 bg start_container rt-05b "$NET.7" >>"$WORK/rt-05b.log" 2>&1
version_of() { cexec "$1" /opt/motcua/venv/bin/motcua --version; }
waves() { in_c srv "/opt/motcua/venv/bin/motcua update-devices --site $SITE --devices $1 --wave 1 --timeout 400"; }
in_c srv "/opt/motcua/venv/bin/motcua release build --repo /root/motcua --version 0.1.0+sys2" >>"$WORK/log" 2>&1
updated() { waves rt-05 && [[ $(version_of rt-05) == 0.1.0+sys2 ]] && active rt-05 motcua-rating-terminal.service; }
check "rt-05: update to 0.1.0+sys2 (update-devices)" "signed, new venv, switched, healthy" updated
# a broken release: starts (motcua --version works) but the rating terminal crashes at start
in_c srv "rm -rf /tmp/broken && cp -r /root/motcua /tmp/broken && echo 'raise RuntimeError(\"broken on purpose\")' >> /tmp/broken/rating_terminal/app.py && /opt/motcua/venv/bin/motcua release build --repo /tmp/broken --version 0.1.0+broken3" >>"$WORK/log" 2>&1
rolled_back() {
    ! waves rt-05 && [[ $(version_of rt-05) == 0.1.0+sys2 ]] && active rt-05 motcua-rating-terminal.service \
        && cexec rt-05 bash -c 'ls -d /opt/motcua/venvs/0.1.0+broken3-*/.motcua-broken'
}
check "rt-05: broken release rolled back by itself" "back on 0.1.0+sys2, unit running" rolled_back
phase "update, broken update rolled back"

# ------------------------------------------------------------------------ the doctor on every role, then faults
doctor_all() {  # doctor_all CONTAINER: motcua doctor for every role config there: broker ok, each failure with its fix
    local out
    out="$(cexec "$1" /opt/motcua/venv/bin/motcua doctor --json --timeout 3)"
    echo "$out"
    cexec "$1" /opt/motcua/venv/bin/python /src/tests/system/doctor-summary.py <<< "$out" > "$WORK/$1/doctor-summary"
    local rc=$?
    cat "$WORK/$1/doctor-summary"
    return $rc
}
doctor_row() {
    local c="$1"
    if LOG="$WORK/$c-doctor.log" doctor_all "$c" >>"$WORK/$c-doctor.log" 2>&1; then
        row "doctor on $c: broker ok, every failure with its fix" ok "$(paste -sd';' "$WORK/$c/doctor-summary")"
    else
        row "doctor on $c: broker ok, every failure with its fix" FAIL "$(paste -sd';' "$WORK/$c/doctor-summary" 2>/dev/null) (see $WORK/$c-doctor.log)"
    fi
}
for c in srv $(for spec in "${DEVICES[@]}"; do echo "${spec%%:*}"; done); do bg doctor_row "$c"; done
join
doctor_says() {  # doctor_says CONTAINER CONFIG TEXT
    local out
    out="$(cexec "$1" /opt/motcua/venv/bin/motcua doctor --config "$2" --timeout 2)"
    echo "$out"
    grep -q -- "$3" <<< "$out"
}
cexec srv systemctl stop mosquitto
check "doctor: broker down" "Mosquitto is not running" doctor_says rt-05 /etc/motcua/rating-terminal.toml "Mosquitto is not running"
cexec srv systemctl start mosquitto
in_c rt-05 "sed 's/^password = .*/password = \"wrong\"/' /etc/motcua/rating-terminal.toml > /root/wrong-rating-terminal.toml"
LOG="$WORK/rt-05.log" bg check "doctor: wrong password" "refused user 'rt-05'" doctor_says rt-05 /root/wrong-rating-terminal.toml "refused user"
clock() {  # the time service breaks: chrony (tests/system/fake-chronyc) first synchronised, then not
    in_c rt-05 "install -m 0755 /src/tests/system/fake-chronyc /usr/local/bin/chronyc && mkdir -p /run/fake-chrony && printf 'Reference ID    : 0A4D0002 (srv)\nSystem time     : 0.000021 seconds slow of NTP time\nLeap status     : Normal\n' > /run/fake-chrony/tracking"
    doctor_says rt-05 /etc/motcua/rating-terminal.toml "ok  *synchronised by chrony" || { echo "the doctor did not take chrony's word"; return 1; }
    in_c rt-05 "sed -i 's/: Normal/: Not synchronised/' /run/fake-chrony/tracking"
    doctor_says rt-05 /etc/motcua/rating-terminal.toml "leap status is 'Not synchronised'"
    local rc=$?
    in_c rt-05 "rm -rf /usr/local/bin/chronyc /run/fake-chrony"
    return $rc
}
LOG="$WORK/rt-05-clock.log" bg check "doctor: clock not synced (chrony's leap status)" "synchronised, then 'Not synchronised'" clock
if [[ -d $WORK/kiosk-1 ]]; then
    in_c kiosk-1 "sed 's|^port = .*|port = \"/dev/ttyUSB7\"|' /etc/motcua/kiosk.toml > /root/nothere-kiosk.toml"
    LOG="$WORK/kiosk-1.log" bg check "doctor: printer device missing" "/dev/ttyUSB7: no such device" doctor_says kiosk-1 /root/nothere-kiosk.toml "ttyUSB7: no such device"
fi
join
phase "doctor"

# ------------------------------------------------------------------------ a desk Pi replaced
replaced() {
    local before after seqs gaps
    press rt-05 5 && pressed_by_unit rt-05 rt-05 2 || return 1
    before="$(sql "SELECT max(seq) FROM events WHERE device='rt-05'")"
    stop_container rt-05
    # docs/provisioning.md step 4 as written (--broker: no .local names on this private network)
    in_c srv "/opt/motcua/venv/bin/motcua replace-device --site $SITE --device rt-05 --role rating-terminal --broker mqtt://$SRV_IP:1883" || return 1
    [[ -f $WORK/rt-05b/nspawn.pid ]] && wait_booted rt-05b || return 1
    bundle_for rt-05b rt-05
    setup_role rt-05b --role rating-terminal --site "$SITE" --device rt-05 --desk 5 --bundle /root/bundle --mock-hardware || return 1
    active rt-05b motcua-rating-terminal.service || return 1
    press rt-05b 5 && pressed_by_unit rt-05b rt-05 3 || return 1
    after="$(sql "SELECT min(seq) FROM events WHERE device='rt-05' AND seq > $before")"
    seqs="$(sql "SELECT count(*) - count(DISTINCT seq) FROM events WHERE device='rt-05'")"
    gaps="$(sql "SELECT count(*) FROM seq_gaps WHERE device='rt-05'")"
    echo "old device's last seq $before, new device's first $after, duplicate seqs $seqs, gaps $gaps"
    [[ $after == $((before + 1)) && $seqs == 0 && $gaps == 0 ]]
}
check "rt-05 replaced: history continues" "next seq = last + 1, no clash, no gap" replaced
phase "replacement"
exit 0
}
