#!/usr/bin/env bash
# Test hosts for fleets: Linux network namespaces, each with a veth pair to this machine, its
# own loopback and an sshd of its own. The one test bed of the fleet end-to-end tests
# (Tests/EndToEndTests/Support/NetnsHosts.swift runs this script) and of bench/fleet-bench.sh.
#
#   scripts/netns-hosts.sh up DIR COUNT [--prefix P] [--net A.B] [--subnet S] [--port N] [--bind I:SRC:DST]...
#   scripts/netns-hosts.sh down DIR
#   scripts/netns-hosts.sh kill-host DIR I
#
# up      makes hosts 1..COUNT: namespace P-hI (P default tetra-netns), a veth pair with
#         A.B.<S+I>.1 on this machine's end and A.B.<S+I>.2 inside, and an sshd on
#         A.B.<S+I>.2:N inside (A.B default 10.231, S default 0, N default 2222). DIR (created, mode 0700) receives: client_key (the one key every
#         host authorizes), known_hosts (every host's key), hosts (one line per host:
#         "NAME ADDRESS PORT"), and per host sshd_config.I, sshd.I.pid, sshd.I.log.
#         --bind I:SRC:DST bind-mounts SRC over DST for host I's sshd and its sessions only
#         (for example a `uname` that names another platform). Idempotent: hosts of an earlier
#         `up` into DIR, and namespaces named P-h*, are removed first; so are the namespaces
#         of test runs whose process is gone (tetra-<pid>-h*, pid not running).
# down    stops every sshd of DIR, ends every process left in its namespaces and removes them
#         (their veth pairs go with them) and DIR. Safe to run twice.
# kill-host   host I goes down: its sshd and every process in its namespace are killed, so a
#         new connection is refused (a host dying half-way through a push).
#
# Root's ~/.bashrc is covered by an empty file inside each host (bash reads it for every ssh
# command), so the hosts' sessions start like a fresh server's whatever this machine's root
# runs at shell start-up. Needs root, iproute2 and openssh-server.
set -euo pipefail

die() { echo "netns-hosts: $*" >&2; exit 2; }

ip_cmd() { command ip "$@"; }

remove_ns() {
    ip_cmd netns pids "$1" 2>/dev/null | xargs -r kill -9 2>/dev/null || true
    ip_cmd netns del "$1" 2>/dev/null || true
}

# Namespaces of test processes that died without cleaning up.
remove_stale() {
    local name pid
    for name in $(ip_cmd netns list 2>/dev/null | awk '{print $1}'); do
        [[ "$name" =~ ^tetra-([0-9]+)-h[0-9]+$ ]] || continue
        pid="${BASH_REMATCH[1]}"
        kill -0 "$pid" 2>/dev/null || remove_ns "$name"
    done
}

down() {
    local dir="$1" name pidfile
    [ -d "$dir" ] || return 0
    for pidfile in "$dir"/sshd.*.pid; do
        [ -f "$pidfile" ] && kill -9 "$(cat "$pidfile")" 2>/dev/null || true
    done
    if [ -f "$dir/hosts" ]; then
        while read -r name _; do remove_ns "$name"; done <"$dir/hosts"
    fi
    rm -rf "$dir"
}

kill_host() {
    local dir="$1" i="$2" name
    name="$(sed -n "${i}p" "$dir/hosts" | cut -d' ' -f1)"
    [ -n "$name" ] || die "no host $i in $dir/hosts"
    [ -f "$dir/sshd.$i.pid" ] && kill -9 "$(cat "$dir/sshd.$i.pid")" 2>/dev/null || true
    ip_cmd netns pids "$name" 2>/dev/null | xargs -r kill -9 2>/dev/null || true
}

up() {
    local dir="$1" count="$2"; shift 2
    local prefix="tetra-netns" net=10.231 subnet=0 port=2222 binds=()
    while [ $# -gt 0 ]; do
        case "$1" in
            --prefix) prefix="$2"; shift 2 ;;
            --net) net="$2"; shift 2 ;;
            --subnet) subnet="$2"; shift 2 ;;
            --port) port="$2"; shift 2 ;;
            --bind) binds+=("$2"); shift 2 ;;
            *) die "unknown option '$1'" ;;
        esac
    done
    [[ "$count" =~ ^[0-9]+$ ]] && [ "$count" -ge 1 ] || die "COUNT must be a number of hosts, not '$count'"
    [[ "$subnet" =~ ^[0-9]+$ ]] && [ $((subnet + count)) -le 254 ] || die "--subnet $subnet leaves no room for $count hosts"
    [[ "$net" =~ ^[0-9]+\.[0-9]+$ ]] || die "--net must be the first two bytes of an IPv4 address (10.231)"
    [[ "$prefix" =~ ^[a-z0-9-]+$ ]] || die "--prefix must be lower-case letters, digits and '-'"
    [ "$(id -u)" -eq 0 ] || die "needs root (it makes network namespaces)"
    local sshd=/usr/sbin/sshd
    [ -x "$sshd" ] || die "$sshd is missing (apt-get install -y openssh-server)"
    command -v ip >/dev/null || die "ip is missing (apt-get install -y iproute2)"

    down "$dir"
    remove_stale
    local name
    for name in $(ip_cmd netns list 2>/dev/null | awk '{print $1}'); do
        case "$name" in "$prefix"-h*) remove_ns "$name" ;; esac
    done
    mkdir -p "$dir" /run/sshd
    chmod 0700 "$dir"
    ssh-keygen -q -t ed25519 -N "" -C netns-host -f "$dir/host_key"
    ssh-keygen -q -t ed25519 -N "" -C netns-client -f "$dir/client_key"
    cp "$dir/client_key.pub" "$dir/authorized_keys"
    : >"$dir/known_hosts"
    : >"$dir/hosts"
    : >"$dir/empty_bashrc"
    local i n veth address
    for i in $(seq "$count"); do
        name="$prefix-h$i" n=$((subnet + i))
        address="$net.$n.2"
        veth="tv$(printf '%s' "$prefix" | cksum | cut -c1-6)-$i"
        ip_cmd netns add "$name"
        ip_cmd link add "$veth" type veth peer name eth0 netns "$name"
        ip_cmd addr add "$net.$n.1/24" dev "$veth"
        ip_cmd link set "$veth" up
        ip_cmd netns exec "$name" ip addr add "$address/24" dev eth0
        ip_cmd netns exec "$name" ip link set eth0 up
        ip_cmd netns exec "$name" ip link set lo up
        cat >"$dir/sshd_config.$i" <<CFG
Port $port
ListenAddress $address
HostKey $dir/host_key
AuthorizedKeysFile $dir/authorized_keys
PidFile $dir/sshd.$i.pid
StrictModes no
UsePAM no
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
LogLevel VERBOSE
MaxStartups 100:30:200
MaxSessions 100
Subsystem sftp internal-sftp
CFG
        "$sshd" -t -f "$dir/sshd_config.$i" || die "sshd rejected $dir/sshd_config.$i"
        # `ip netns exec` gives its command a mount namespace of its own: the binds made
        # there are seen by this host's sshd and sessions only.
        local mounts=() b
        [ -f /root/.bashrc ] && mounts+=("$dir/empty_bashrc" /root/.bashrc)
        for b in "${binds[@]+"${binds[@]}"}"; do
            IFS=: read -r bi bsrc bdst <<<"$b"
            [ "$bi" = "$i" ] && mounts+=("$bsrc" "$bdst")
        done
        setsid ip netns exec "$name" sh -c '
            while [ $# -gt 2 ]; do mount --bind "$1" "$2" || exit 1; shift 2; done
            exec "$1" -D -e -f "$2"' sh "${mounts[@]+"${mounts[@]}"}" "$sshd" "$dir/sshd_config.$i" \
            </dev/null >"$dir/sshd.$i.log" 2>&1 &
        echo "$name $address $port" >>"$dir/hosts"
        local known="[$address]:$port"
        [ "$port" = 22 ] && known="$address"
        echo "$known $(cut -d' ' -f1,2 "$dir/host_key.pub")" >>"$dir/known_hosts"
    done
    for i in $(seq "$count"); do
        address="$net.$((subnet + i)).2"
        local ok=""
        for _ in $(seq 200); do
            if (exec 3<>"/dev/tcp/$address/$port") 2>/dev/null; then ok=1; break; fi
            sleep 0.05
        done
        [ -n "$ok" ] || { echo "netns-hosts: sshd on host $i did not start:" >&2; cat "$dir/sshd.$i.log" >&2; exit 1; }
    done
}

[ $# -ge 2 ] || die "usage: $0 up DIR COUNT [options] | down DIR | kill-host DIR I"
case "$1" in
    up) shift; up "$@" ;;
    down) down "$2" ;;
    kill-host) [ $# -eq 3 ] || die "usage: $0 kill-host DIR I"; kill_host "$2" "$3" ;;
    *) die "unknown command '$1' (up, down, kill-host)" ;;
esac
