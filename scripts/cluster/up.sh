#!/usr/bin/env bash
# Start a real Kubernetes control plane on 127.0.0.1 with one real node and KWOK fake nodes.
#
#   scripts/cluster/up.sh [STATE_DIR]                      # whole cluster
#   scripts/cluster/up.sh --only kube-apiserver STATE_DIR  # (re)start one component
#
# Components: etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kwok (which
# makes pods on its fake nodes Running: no kubelet, no containers), and the real node:
# containerd and a kubelet running real containers (node.sh; needs root).
# Everything lives in STATE_DIR (default ${GOLDENPATH_CACHE:-~/.cache/goldenpath}/cluster):
#   kubeconfig, cluster.env (ports, the node's subnet), images.env (the images loaded into
#   the node), pki/, etcd/ (data), node/, logs/, pids/.
# Re-running on an existing STATE_DIR restarts the stopped components and keeps
# the etcd data. Stop with scripts/cluster/down.sh [STATE_DIR].
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
COMPONENTS=(etcd kube-apiserver kube-controller-manager kube-scheduler kwok containerd kubelet)

# Log to fd 3 (the original stderr) so messages survive the 2>/dev/null of probes.
exec 3>&2
log() { printf '[up %s] %s\n' "$(date +%H:%M:%S)" "$*" >&3; }
die() { log "ERROR: $*"; exit 1; }

ONLY=""
if [[ "${1:-}" == "--only" ]]; then ONLY="${2:?--only needs a component name}"; shift 2; fi
STATE="${1:-${GOLDENPATH_CACHE:-$HOME/.cache/goldenpath}/cluster}"
mkdir -p "$STATE"/{pki,logs,pids}
STATE="$(cd "$STATE" && pwd)"
PKI="$STATE/pki"
KUBECONFIG_FILE="$STATE/kubeconfig"

# Binaries: build (or find cached) unless GOLDENPATH_K8S_BIN points at them.
BIN="${GOLDENPATH_K8S_BIN:-$("$HERE/build.sh" | tail -n 1)}"
for b in etcd kube-apiserver kube-controller-manager kube-scheduler kubectl kwok kubelet; do
  [[ -x "$BIN/$b" ]] || die "missing $BIN/$b: run scripts/cluster/build.sh"
done
kubectl() { "$BIN/kubectl" --kubeconfig "$KUBECONFIG_FILE" "$@"; }

# --- ports --------------------------------------------------------------------
# A port is free when nothing accepts a connection on it. Ports are picked below
# the kernel's ephemeral range: a port there may be the local end of some
# outgoing connection, which connect() cannot see but which makes bind() fail.
# Ports recorded in cluster.env are reused when still free: etcd remembers its peer URL.
port_free() { ! (exec 4<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
EPHEMERAL_LOW="$(awk '{print $1}' /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)"
TAKEN=" "
pick_port() {
  local p
  while :; do
    p=$((10000 + RANDOM % (EPHEMERAL_LOW - 10000)))
    [[ "$TAKEN" != *" $p "* ]] && port_free "$p" && break
  done
  TAKEN+="$p "; echo "$p"
}
# Each port variable and the component that listens on it.
declare -A PORT_OWNER=([ETCD_PORT]=etcd [ETCD_PEER_PORT]=etcd [APISERVER_PORT]=kube-apiserver
  [KCM_PORT]=kube-controller-manager [SCHEDULER_PORT]=kube-scheduler [KWOK_PORT]=kwok
  [KUBELET_PORT]=kubelet [KUBELET_HEALTHZ_PORT]=kubelet)
PORT_VARS=(ETCD_PORT ETCD_PEER_PORT APISERVER_PORT KCM_PORT SCHEDULER_PORT KWOK_PORT
  KUBELET_PORT KUBELET_HEALTHZ_PORT)
assign_ports() {
  local v
  # shellcheck disable=SC1091
  [[ -f "$STATE/cluster.env" ]] && source "$STATE/cluster.env"
  for v in "${PORT_VARS[@]}"; do
    # Keep a recorded port that is free or held by our own running component.
    if [[ -z "${!v:-}" ]] || ! { port_free "${!v}" || running "${PORT_OWNER[$v]}"; }; then
      printf -v "$v" '%s' "$(pick_port)"
    fi
    TAKEN+="${!v} "
  done
  save_env
}
# save_env: ports and the node's subnet (NODE_NET, chosen by node.sh) for later runs.
save_env() {
  local v
  { for v in "${PORT_VARS[@]}"; do echo "$v=${!v}"; done
    echo "NODE_NET=${NODE_NET:-}"; } > "$STATE/cluster.env"
}

# --- certificates ---------------------------------------------------------------
# EC keys: generated instantly, accepted by every component and by Python's ssl.
gen_key() { openssl ecparam -name prime256v1 -genkey -noout -out "$1" 2>/dev/null; chmod 600 "$1"; }
# sign NAME SUBJECT EXTENSIONS: key + certificate signed by the cluster CA.
sign() {
  gen_key "$PKI/$1.key"
  openssl req -new -key "$PKI/$1.key" -subj "$2" -out "$PKI/$1.csr" 2>/dev/null
  printf '%s\n' "$3" > "$PKI/$1.ext"
  openssl x509 -req -in "$PKI/$1.csr" -CA "$PKI/ca.crt" -CAkey "$PKI/ca.key" -CAcreateserial \
    -days 3650 -sha256 -extfile "$PKI/$1.ext" -out "$PKI/$1.crt" 2>/dev/null
  rm -f "$PKI/$1.csr" "$PKI/$1.ext"
}
make_pki() {
  [[ -f "$PKI/admin.crt" ]] && return
  log "generating certificates in $PKI"
  gen_key "$PKI/ca.key"
  openssl req -x509 -new -key "$PKI/ca.key" -subj "/CN=goldenpath-cluster-ca" -days 3650 \
    -sha256 -out "$PKI/ca.crt" 2>/dev/null
  # 10.96.0.1 is the `kubernetes` Service IP (first of --service-cluster-ip-range).
  sign apiserver "/CN=kube-apiserver" "basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=IP:127.0.0.1,IP:10.96.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local"
  # system:masters: cluster-admin for the user, the controllers and kwok alike.
  sign admin "/O=system:masters/CN=goldenpath-admin" "basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=clientAuth"
  gen_key "$PKI/sa.key"
  openssl ec -in "$PKI/sa.key" -pubout -out "$PKI/sa.pub" 2>/dev/null
}

write_kubeconfig() {
  # Certificates are embedded so the file can be copied anywhere on this machine.
  local b64="base64 -w0"
  cat > "$KUBECONFIG_FILE" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: goldenpath
  cluster:
    server: https://127.0.0.1:$APISERVER_PORT
    certificate-authority-data: $($b64 < "$PKI/ca.crt")
users:
- name: goldenpath-admin
  user:
    client-certificate-data: $($b64 < "$PKI/admin.crt")
    client-key-data: $($b64 < "$PKI/admin.key")
contexts:
- name: goldenpath
  context: {cluster: goldenpath, user: goldenpath-admin}
current-context: goldenpath
EOF
  chmod 600 "$KUBECONFIG_FILE"
}

# --- processes -------------------------------------------------------------------
pid_of() { cat "$STATE/pids/$1.pid" 2>/dev/null || true; }
# bin_of NAME: the binary a component runs (containerd is Debian's, the rest built here).
bin_of() { if [[ "$1" == containerd ]]; then command -v containerd; else echo "$BIN/$1"; fi; }
# running NAME: the recorded pid is alive and still runs our binary. While the launcher
# shell is exec'ing the binary, /proc/PID/cmdline can read empty for a moment: a live pid
# gets a few looks before it counts as someone else's.
running() {
  local pid cmd _; pid="$(pid_of "$1")"
  [[ -n "$pid" ]] || return 1
  for _ in 1 2 3 4 5; do
    kill -0 "$pid" 2>/dev/null || return 1
    cmd="$(tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null || true)"
    [[ "$cmd" == *"$(bin_of "$1") "* ]] && return 0
    sleep 0.1
  done
  return 1
}
# launch NAME ARGS...: start detached (own session, so Ctrl-C in the calling
# shell does not kill it), log to logs/NAME.log, record the real pid. It must
# hold none of our stdio (fd 3 included): callers read those pipes to EOF.
launch() {
  local name="$1"; shift
  if running "$name"; then log "$name already running (pid $(pid_of "$name"))"; return; fi
  log "starting $name"
  # shellcheck disable=SC2016  # expanded by the inner shell
  setsid bash -c 'echo $$ > "$0"; exec "$@"' "$STATE/pids/$name.pid" "$(bin_of "$name")" "$@" \
    >> "$STATE/logs/$name.log" 2>&1 < /dev/null 3>&- &
  for _ in $(seq 50); do [[ -s "$STATE/pids/$name.pid" ]] && break; sleep 0.1; done
}
# wait_for WHAT TIMEOUT CMD...: retry CMD until it succeeds.
wait_for() {
  local what="$1" timeout="$2" start=$SECONDS; shift 2
  until "$@" >/dev/null 2>&1; do
    ((SECONDS - start < timeout)) || die "timed out after ${timeout}s waiting for $what (logs: $STATE/logs)"
    sleep 0.5
  done
}
check_alive() { running "$1" || die "$1 exited; last log lines:
$(tail -n 20 "$STATE/logs/$1.log" 2>/dev/null)"; }

start_etcd() {
  # --unsafe-no-fsync: a disposable dev/test cluster; fsync makes tests slow.
  launch etcd --name=goldenpath --data-dir="$STATE/etcd" \
    --listen-client-urls="http://127.0.0.1:$ETCD_PORT" \
    --advertise-client-urls="http://127.0.0.1:$ETCD_PORT" \
    --listen-peer-urls="http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-advertise-peer-urls="http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-cluster="goldenpath=http://127.0.0.1:$ETCD_PEER_PORT" \
    --unsafe-no-fsync --log-level=warn
  wait_for "etcd health" 30 etcd_healthy
}
etcd_healthy() { check_alive etcd; curl -sf "http://127.0.0.1:$ETCD_PORT/health" | grep -q '"health":"true"'; }

start_kube-apiserver() {
  # --endpoint-reconciler-type=none: 127.0.0.1 is not a valid Endpoints address,
  # and nothing runs inside this cluster that needs the `kubernetes` Service.
  launch kube-apiserver \
    --etcd-servers="http://127.0.0.1:$ETCD_PORT" \
    --bind-address=127.0.0.1 --advertise-address=127.0.0.1 --secure-port="$APISERVER_PORT" \
    --tls-cert-file="$PKI/apiserver.crt" --tls-private-key-file="$PKI/apiserver.key" \
    --client-ca-file="$PKI/ca.crt" \
    --service-account-key-file="$PKI/sa.pub" --service-account-signing-key-file="$PKI/sa.key" \
    --service-account-issuer=https://kubernetes.default.svc.cluster.local \
    --service-cluster-ip-range=10.96.0.0/16 \
    --authorization-mode=Node,RBAC --allow-privileged=true \
    --enable-admission-plugins=PodNodeSelector,PodTolerationRestriction \
    --kubelet-client-certificate="$PKI/admin.crt" --kubelet-client-key="$PKI/admin.key" \
    --kubelet-certificate-authority="$PKI/ca.crt" --kubelet-preferred-address-types=InternalIP \
    --endpoint-reconciler-type=none --shutdown-watch-termination-grace-period=1s \
    --cert-dir="$STATE/pki/generated" --profiling=false
  wait_for "kube-apiserver /readyz" 90 apiserver_ready
}
apiserver_ready() {
  check_alive kube-apiserver
  curl -sf --cacert "$PKI/ca.crt" --cert "$PKI/admin.crt" --key "$PKI/admin.key" \
    "https://127.0.0.1:$APISERVER_PORT/readyz" | grep -q ok
}

start_kube-controller-manager() {
  # --leader-elect=false: a single instance; its node lifecycle controller
  # removes the not-ready taint once KWOK reports the nodes Ready.
  # --node-monitor-grace-period: KWOK heartbeats its fake nodes about every 55 s, longer
  # than the default 50 s grace, so nodes (and their pods' readiness) flapped NotReady.
  launch kube-controller-manager --kubeconfig="$KUBECONFIG_FILE" \
    --node-monitor-grace-period=10m \
    --authentication-kubeconfig="$KUBECONFIG_FILE" --authorization-kubeconfig="$KUBECONFIG_FILE" \
    --bind-address=127.0.0.1 --secure-port="$KCM_PORT" --leader-elect=false \
    --service-account-private-key-file="$PKI/sa.key" --root-ca-file="$PKI/ca.crt" \
    --cluster-signing-cert-file="$PKI/ca.crt" --cluster-signing-key-file="$PKI/ca.key" \
    --cert-dir="$STATE/pki/generated" --profiling=false
}

start_kube-scheduler() {
  launch kube-scheduler --kubeconfig="$KUBECONFIG_FILE" \
    --authentication-kubeconfig="$KUBECONFIG_FILE" --authorization-kubeconfig="$KUBECONFIG_FILE" \
    --bind-address=127.0.0.1 --secure-port="$SCHEDULER_PORT" --leader-elect=false \
    --cert-dir="$STATE/pki/generated" --profiling=false
}

start_kwok() {
  # Manages only nodes annotated kwok.x-k8s.io/node=fake (see nodes.yaml) and
  # the pods bound to them, using KWOK's built-in stages (v0.7).
  # Fake pod IPs come from 10.245.0.0/16 (the real node's are 10.244.N.0/24) and are
  # blackholed: a request proxied to a fake pod fails here instead of leaving the machine.
  # Node IP 127.0.0.1: the API server (InternalIP first) never dials out for their logs.
  ip route replace blackhole 10.245.0.0/16 2>/dev/null || true
  launch kwok --kubeconfig="$KUBECONFIG_FILE" \
    --manage-all-nodes=false \
    --manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake \
    --cidr=10.245.0.1/16 --node-ip=127.0.0.1 \
    --server-address="127.0.0.1:$KWOK_PORT"
}

# shellcheck source=node.sh
source "$HERE/node.sh"

# --- main ----------------------------------------------------------------------------
if [[ -n "$ONLY" ]]; then
  [[ -f "$STATE/cluster.env" ]] || die "no cluster in $STATE: run up.sh $STATE first"
  [[ " ${COMPONENTS[*]} " == *" $ONLY "* ]] || die "unknown component $ONLY (one of: ${COMPONENTS[*]})"
  # shellcheck disable=SC1091
  source "$STATE/cluster.env"
  "start_$ONLY"
  exit 0
fi

# start_watchdog: with GOLDENPATH_CLUSTER_OWNER_PID set (tests set it), stop the
# cluster when that process dies, so a killed test run leaks no processes.
start_watchdog() {
  local owner="${GOLDENPATH_CLUSTER_OWNER_PID:-}" pid
  [[ -n "$owner" ]] || return 0
  pid="$(cat "$STATE/pids/watchdog.pid" 2>/dev/null || true)"
  if [[ -n "$pid" ]] && tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null | grep -qF "goldenpath-cluster-watchdog "; then
    return 0
  fi
  # shellcheck disable=SC2016  # expanded by the inner shell
  setsid bash -c 'echo $$ > "$1"; while kill -0 "$2" 2>/dev/null; do sleep 2; done; exec "$3" "$4"' \
    goldenpath-cluster-watchdog "$STATE/pids/watchdog.pid" "$owner" "$HERE/down.sh" "$STATE" \
    >> "$STATE/logs/watchdog.log" 2>&1 < /dev/null 3>&- &
}

start=$SECONDS
make_pki
start_watchdog
assign_ports
write_kubeconfig
for c in "${COMPONENTS[@]}"; do "start_$c"; done

log "registering KWOK nodes"
wait_for "nodes to apply" 30 kubectl apply -f "$HERE/nodes.yaml"
wait_for "the real node to register" 60 kubectl get node "$NODE_NAME"
wait_for "nodes Ready" 60 kubectl wait --for=condition=Ready node --all --timeout=5s
# The node lifecycle controller removes the node.kubernetes.io/not-ready taint
# a moment after Ready; until then nothing schedules.
nodes_untainted() {
  ! kubectl get nodes -o jsonpath='{.items[*].spec.taints[*].key}' | grep -q 'node.kubernetes.io/'
}
wait_for "node taints cleared" 60 nodes_untainted
# Pods need the namespace's default ServiceAccount (made by the controller-manager).
wait_for "default ServiceAccount" 60 kubectl -n default get serviceaccount default
for c in "${COMPONENTS[@]}"; do check_alive "$c"; done

log "cluster ready in $((SECONDS - start))s: $(kubectl get nodes --no-headers | wc -l) nodes (real: $NODE_NAME), state in $STATE"
cat <<EOF

export KUBECONFIG=$KUBECONFIG_FILE
export PATH=$BIN:\$PATH   # kubectl $("$BIN/kube-apiserver" --version | awk '{print $2}')

Pods run on $NODE_NAME in namespaces made with scripts/cluster/namespace.sh --real-node NAME;
they reach this machine at $(node_gateway) (run the promotion server there).
scripts/cluster/goldenpath-env.sh $STATE makes goldenpath's namespaces and platform config.
Stop it with: scripts/cluster/down.sh $STATE
EOF
