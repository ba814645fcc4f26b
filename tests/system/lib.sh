# Helpers for tests/system/run.sh: containers booted with systemd-nspawn on an overlay of the
# cached root, on a private bridge (network zone) of their own; commands run inside by nsenter.
# Host needs: debootstrap, systemd-container (systemd-nspawn), iproute2; root.
WORK="${WORK:-/tmp/motcua-system.$$}"
ZONE="${ZONE:-motcua$$}"
ZONE="${ZONE:0:12}"
NET="${NET:-10.77.0}"
# machine names carry the run's number: nspawn names its veth vb-<machine> and keeps state under
# /run/systemd/nspawn/*/<machine>, so two runs at once (x86_64 and arm64) must not share names
RUN="${RUN:-$(( $$ % 1000 ))}"

# start_container NAME IP [BASE]: overlay upper dir kept in $WORK/NAME (a reboot keeps it);
# its host name is NAME, or $CHOST (a replacement Pi takes the old one's name)
start_container() {
    local name="$1" ip="$2" base="${3:-$BASE}" d="$WORK/$1" host="${CHOST:-$1}"
    mkdir -p "$d/upper" "$d/work" "$d/merged"
    if ! mountpoint -q "$d/merged"; then
        mount -t overlay overlay -o "lowerdir=$base,upperdir=$d/upper,workdir=$d/work" "$d/merged"
    fi
    local m="$d/merged"
    echo "$host" > "$m/etc/hostname"
    mkdir -p "$m/etc/systemd/network" "$m/etc/systemd/system/multi-user.target.wants" \
        "$m/etc/systemd/system/network-online.target.wants" "$m/etc/systemd/system/sockets.target.wants"
    printf '[Match]\nName=host0\n[Network]\nAddress=%s/24\nLinkLocalAddressing=no\nIPv6AcceptRA=no\n' "$ip" \
        > "$m/etc/systemd/network/10-host0.network"
    ln -sf /lib/systemd/system/systemd-networkd.service "$m/etc/systemd/system/multi-user.target.wants/"
    ln -sf /lib/systemd/system/systemd-networkd.socket "$m/etc/systemd/system/sockets.target.wants/"
    ln -sf /lib/systemd/system/systemd-networkd-wait-online.service "$m/etc/systemd/system/network-online.target.wants/"
    grep -q " $host\$" "$m/etc/hosts" 2>/dev/null || printf '%s %s\n' "$ip" "$host" >> "$m/etc/hosts"
    local extra=()
    [[ -z ${QEMU_ARCH:-} ]] || extra+=(--bind-ro="/usr/bin/qemu-$QEMU_ARCH-static")
    setsid systemd-nspawn --quiet --boot --register=no --keep-unit -D "$m" -M "$name-$RUN" \
        --network-zone="$ZONE" --bind-ro="$SRC:/src" "${extra[@]}" \
        > "$d/console.log" 2>&1 < /dev/null &
    echo $! > "$d/nspawn.pid"
    wait_booted "$name" || return 1
    if [[ -n ${QEMU_ARCH:-} ]]; then
        # systemd-networkd fails under qemu-user ("Protocol not supported": its netlink use is not
        # emulated): the host's own ip sets the address in the container's network namespace
        nsenter --target "$(leader "$name")" --net ip addr replace "$ip/24" dev host0
        nsenter --target "$(leader "$name")" --net ip link set host0 up
    fi
    bridge_up
}

bridge_up() {
    local l
    ip link set "vz-$ZONE" up 2>/dev/null || true
    for l in $(ip -o link show master "vz-$ZONE" 2>/dev/null | awk -F': ' '{print $2}' | cut -d@ -f1); do
        ip link set "$l" up
    done
}

leader() { pgrep -P "$(cat "$WORK/$1/nspawn.pid")" | head -1; }

cexec() {
    local name="$1"; shift
    nsenter --target "$(leader "$name")" --mount --uts --ipc --net --pid -- \
        env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 "$@"
}

wait_booted() {  # up to $BOOT_S seconds (default 300: five containers booting at once under qemu)
    local name="$1" state end=$((SECONDS + ${BOOT_S:-300}))
    while ((SECONDS < end)); do
        if [[ -n $(leader "$name" 2>/dev/null) ]]; then
            state="$(cexec "$name" systemctl is-system-running 2>/dev/null || true)"
            case "$state" in running|degraded) return 0 ;; esac
        fi
        sleep 0.5
    done
    echo "container $name did not boot; console:" >&2
    tail -30 "$WORK/$name/console.log" >&2
    return 1
}

stop_container() {
    local name="$1" pid
    pid="$(cat "$WORK/$name/nspawn.pid" 2>/dev/null || true)"
    if [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null; then
        cexec "$name" systemctl poweroff >/dev/null 2>&1 || kill "$pid"
        for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
        kill -9 "$pid" 2>/dev/null || true
    fi
}

reboot_container() {
    local name="$1" ip="$2"
    stop_container "$name"
    start_container "$name" "$ip"
}

cleanup_containers() {
    local d
    for d in "$WORK"/*/; do
        [[ -f $d/nspawn.pid ]] && stop_container "$(basename "$d")"
        mountpoint -q "$d/merged" && umount -l "$d/merged"
    done
    ip link del "vz-$ZONE" 2>/dev/null || true
    # a lazily unmounted overlay keeps its work dir busy until its last process is gone
    for _ in 1 2 3 4 5 6 7 8 9 10; do rm -rf "$WORK" 2>/dev/null && break; sleep 2; done
    [[ ! -e $WORK ]] || echo "note: could not remove $WORK yet (rm -rf it later)" >&2
}
