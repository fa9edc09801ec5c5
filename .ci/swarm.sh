# shellcheck shell=bash
# 6. A Swarm cluster: two more hosts like host2, joined by a veth pair ---------------------
# Sourced by .ci/setup after step 5 (uses its constants and functions). swarm1 is the manager,
# swarm2 a worker; each is a network namespace with its own dockerd and sshd (start_host).
# The veth pair joins the two namespaces only (never the root one): the swarm's control plane
# (2377/tcp, 7946) and the overlay's vxlan (4789/udp) run over it. The main engine and host2
# are never put in swarm mode.
SWARM_LINK=wb-swarm                      # the veth's name in both namespaces
SWARM1_SOCK=/run/$SWARM1_NS/docker.sock
SWARM2_SOCK=/run/$SWARM2_NS/docker.sock
T6=$(date +%s)

# The namespaces and the veth come before the dockerds: after a reboot the data root still
# holds the swarm, and the manager resumes it only if its address is there when it starts.
for ns in "$SWARM1_NS" "$SWARM2_NS"; do
    [[ -e /run/netns/$ns ]] || ip netns add "$ns"
done
if ! ip -n "$SWARM1_NS" link show "$SWARM_LINK" >/dev/null 2>&1 ||
    ! ip -n "$SWARM2_NS" link show "$SWARM_LINK" >/dev/null 2>&1; then
    log "veth $SWARM_LINK between $SWARM1_NS and $SWARM2_NS"
    ip -n "$SWARM1_NS" link del "$SWARM_LINK" 2>/dev/null || true
    ip -n "$SWARM2_NS" link del "$SWARM_LINK" 2>/dev/null || true
    ip -n "$SWARM1_NS" link add "$SWARM_LINK" type veth peer name "$SWARM_LINK" netns "$SWARM2_NS"
fi
ip -n "$SWARM1_NS" addr replace "$SWARM1_ADDR/24" dev "$SWARM_LINK"
ip -n "$SWARM2_NS" addr replace "$SWARM2_ADDR/24" dev "$SWARM_LINK"
ip -n "$SWARM1_NS" link set "$SWARM_LINK" up
ip -n "$SWARM2_NS" link set "$SWARM_LINK" up

# Both at once: from scratch, copying the base image into each engine is most of the time.
start_host swarm1 "$SWARM1_NS" "$SWARM1_PORT" & pid1=$!
start_host swarm2 "$SWARM2_NS" "$SWARM2_PORT" & pid2=$!
wait "$pid1" || die "host swarm1 failed (see above)"
wait "$pid2" || die "host swarm2 failed (see above)"

# The swarm: init on swarm1 unless it already manages a healthy swarm at $SWARM1_ADDR; join
# swarm2 as a worker unless the manager sees it ready. Any other state is stale (e.g. the
# data root remembers a swarm whose address or peers are gone): leave it and make it anew.
# Overlay networks take /24s of 10.232.0.0/16, away from the veth's 10.231.0.0/24.
on1() { "$DOCKER" -H "unix://$SWARM1_SOCK" "$@"; }
on2() { "$DOCKER" -H "unix://$SWARM2_SOCK" "$@"; }
# settled SOCK: the node's swarm state once it is no longer "pending" (a restarted node
# takes a moment to resume its swarm).
settled() {
    local now
    for _ in $(seq 40); do
        now=$("$DOCKER" -H "unix://$1" info --format '{{.Swarm.LocalNodeState}}')
        [[ $now == pending ]] || break
        sleep 0.25
    done
    printf '%s' "$now"
}
manager_ok() {
    [[ $(settled "$SWARM1_SOCK") == active ]] &&
        [[ $(on1 info --format '{{.Swarm.ControlAvailable}} {{.Swarm.NodeAddr}}') == "true $SWARM1_ADDR" ]] &&
        on1 node ls -q >/dev/null 2>&1
}
# worker_ok: swarm2 is a node of the manager's swarm, a worker, and ready (a node the manager
# knows may need seconds to report back after a restart; one it does not know never will).
worker_ok() {
    local id seen
    [[ $(settled "$SWARM2_SOCK") == active ]] || return 1
    id=$(on2 info --format '{{.Swarm.NodeID}}')
    for _ in $(seq 60); do
        seen=$(on1 node inspect "$id" --format '{{.Spec.Role}} {{.Status.State}}' 2>/dev/null) ||
            return 1
        [[ $seen == "worker ready" ]] && return 0
        sleep 0.25
    done
    return 1
}
# join_worker: swarm2 leaves whatever swarm it remembers and joins the manager's as a worker.
join_worker() {
    [[ $(on2 info --format '{{.Swarm.LocalNodeState}}') == inactive ]] ||
        on2 swarm leave --force >/dev/null
    log "swarm2 joins the swarm as a worker"
    joined=yes
    on2 swarm join --token "$(on1 swarm join-token -q worker)" --advertise-addr "$SWARM2_ADDR" \
        --listen-addr "$SWARM2_ADDR:2377" --data-path-addr "$SWARM2_ADDR" "$SWARM1_ADDR:2377" \
        >/dev/null || die "swarm2 could not join the swarm at $SWARM1_ADDR:2377"
    worker_ok || die "swarm2 joined but the manager does not see it ready"
}
if ! manager_ok; then
    stale=$(settled "$SWARM1_SOCK")
    if [[ $stale != inactive ]]; then
        log "swarm1 holds a stale swarm ($stale); leaving it"
        on1 swarm leave --force >/dev/null
    fi
    log "docker swarm init on swarm1 ($SWARM1_ADDR)"
    on1 swarm init --advertise-addr "$SWARM1_ADDR" --listen-addr "$SWARM1_ADDR:2377" \
        --data-path-addr "$SWARM1_ADDR" --default-addr-pool 10.232.0.0/16 \
        --default-addr-pool-mask-length 24 >/dev/null || die "docker swarm init on swarm1 failed"
    manager_ok || die "swarm1 is not a working manager after docker swarm init"
fi
# drop_stale_nodes: entries of nodes that left stay "down" for good (e.g. the worker's old
# entry after it joined anew); a node that is not the manager has none either in a 1-node swarm.
drop_stale_nodes() {
    on1 node ls --format '{{.ID}} {{.Status}} {{.Self}}' |
        awk -v all="$1" '$3 == "false" && ($2 == "Down" || all == "all") {print $1}' |
        xargs -r "$DOCKER" -H "unix://$SWARM1_SOCK" node rm --force >/dev/null
}
# Node labels name the hosts (both nodes have this machine's hostname):
# placement constraints can say node.labels.host==swarm2.
label_node() {   # label_node SOCK NAME
    local id
    id=$("$DOCKER" -H "unix://$1" info --format '{{.Swarm.NodeID}}')
    [[ $(on1 node inspect "$id" --format '{{index .Spec.Labels "host"}}') == "$2" ]] ||
        on1 node update --label-add "host=$2" "$id" >/dev/null
}
label_node "$SWARM1_SOCK" swarm1

# Prove the overlay across the veth: an attachable overlay network and a service of N
# replicas (dnsrr, at most one per node, each serving its node id over HTTP, published in
# host mode on 48080). A task on swarm1 must resolve N addresses by the service name and get
# N different node ids from them, and 127.0.0.1:48080 in swarm1's namespace must answer.
# (No IPVS in this kernel: VIPs and the ingress mesh do not answer; dnsrr and host mode do.)
PROBE=wb-ci-probe
# Run in a task on swarm1 (NAME N): the addresses NAME resolves to and the node ids they
# answer with. A remote task's name may take a moment to arrive (gossip) and a server to
# listen (refused): both are retried; a timeout (nothing crosses the overlay) fails at once.
PROBE_FETCH='
import socket, sys, time, urllib.request
name, n = sys.argv[1], int(sys.argv[2])
for _ in range(40):
    try:
        addrs = sorted({a[4][0] for a in socket.getaddrinfo(name, 8000, proto=socket.IPPROTO_TCP)})
    except socket.gaierror:
        addrs = []
    if len(addrs) >= n:
        break
    time.sleep(0.25)
ids = set()
for addr in addrs:
    for _ in range(40):
        try:
            ids.add(urllib.request.urlopen(f"http://{addr}:8000/node", timeout=3).read().strip())
            break
        except OSError as error:
            if not isinstance(getattr(error, "reason", error), ConnectionRefusedError):
                print(f"http://{addr}:8000/node: {error}", file=sys.stderr)
                break
            time.sleep(0.25)
print(len(addrs), len(ids))'
probe_clean() {
    on1 service rm "$PROBE" >/dev/null 2>&1 || true
    for _ in $(seq 40); do   # the network goes once its tasks have stopped
        on1 network inspect "$PROBE" >/dev/null 2>&1 || return 0
        on1 network rm "$PROBE" >/dev/null 2>&1 && return 0
        sleep 0.25
    done
    return 1
}
# probe N: 0 when the overlay works on N nodes (messages on stderr otherwise). Runs inside an
# `if`, where set -e is off: every step returns on failure.
probe() {
    local n=$1 out running container answer
    probe_clean || return 1
    on1 network create --driver overlay --attachable "$PROBE" >/dev/null || return 1
    # (a warning that the image has no registry digest goes to stderr: shown only on failure)
    out=$(on1 service create --detach --name "$PROBE" --network "$PROBE" --endpoint-mode dnsrr \
        --replicas "$n" --replicas-max-per-node 1 --hostname '{{.Node.ID}}' --stop-signal SIGINT \
        --publish mode=host,target=8000,published=48080 "$BASE_IMAGE" sh -c \
        'mkdir -p /srv && hostname >/srv/node && cd /srv && exec python3 -m http.server 8000' \
        2>&1) || { printf '%s\n' "$out" >&2; return 1; }
    for _ in $(seq 120); do
        running=$(on1 service ps "$PROBE" --filter desired-state=running \
            --format '{{.CurrentState}}' | grep -c '^Running' || true)
        ((running == n)) && break
        sleep 0.25
    done
    ((running == n)) || { echo "$running of $n probe tasks running" >&2; return 1; }
    container=$(on1 ps -q --filter "label=com.docker.swarm.service.name=$PROBE" | head -1)
    answer=$(on1 exec "$container" python3 -c "$PROBE_FETCH" "$PROBE" "$n")
    [[ $answer == "$n $n" ]] || { echo "task on swarm1: '$answer' (addresses, nodes), not '$n $n'" >&2; return 1; }
    nsenter --net="/run/netns/$SWARM1_NS" python3 -c 'import urllib.request
urllib.request.urlopen("http://127.0.0.1:48080/node", timeout=5)' ||
        { echo "host-mode port 48080 does not answer in $SWARM1_NS" >&2; return 1; }
    probe_clean
}
# The outcome is kept in $STATE/swarm1/overlay.probe ("KEY NODES") and the probe runs again
# whenever something may have changed it: the key names the kernel, the swarm, the engine,
# both dockerds' pids and the veth; a worker that joined in this run is probed too.
probe_key="$(uname -r) $(on1 info --format '{{.Swarm.Cluster.ID}} {{.ServerVersion}}') \
$(cat "/run/$SWARM1_NS/docker.pid") $(cat "/run/$SWARM2_NS/docker.pid") \
$(ip -n "$SWARM1_NS" -o link show "$SWARM_LINK" | cut -d: -f1)"
probe_key=$(printf '%s' "$probe_key" | tr -s ' \n' ' ')
probed=$(cat "$STATE/swarm1/overlay.probe" 2>/dev/null || true)
joined=no
if [[ $probed == "$probe_key 1" ]]; then
    SWARM_NODES=1   # known not to work across the veth on this machine (see below)
    [[ $(on2 info --format '{{.Swarm.LocalNodeState}}') == inactive ]] ||
        on2 swarm leave --force >/dev/null
    drop_stale_nodes all
else
    worker_ok || join_worker
    drop_stale_nodes down
    label_node "$SWARM2_SOCK" swarm2
    if [[ $probed == "$probe_key 2" && $joined == no ]]; then
        SWARM_NODES=2
    elif probe 2; then
        SWARM_NODES=2
        printf '%s 2' "$probe_key" >"$STATE/swarm1/overlay.probe"
        log "overlay across the veth ok (a dnsrr service on 2 nodes, a host-mode port)"
    else
        # The overlay does not work across the veth: swarm1 stays a one-node swarm and swarm2
        # a plain engine (for image distribution tests); the tests read WB_SWARM_NODES=1.
        log "WARNING: the overlay does not work across the veth; a one-node swarm on swarm1"
        probe_clean || true
        on2 swarm leave --force >/dev/null
        drop_stale_nodes all
        probe 1 || die "a one-node swarm on swarm1 fails the probe too (see above)"
        SWARM_NODES=1
        printf '%s 1' "$probe_key" >"$STATE/swarm1/overlay.probe"
    fi
fi
log "swarm of $SWARM_NODES node(s) ok; step 6 took $(($(date +%s) - T6)) s"
