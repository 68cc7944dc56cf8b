# The real node, sourced by up.sh and down.sh: a kubelet with containerd, runc and the
# CNI bridge plugin (Debian packages), running real containers beside the KWOK fakes.
#
# What it needs from the caller: STATE, PKI, BIN, KUBECONFIG_FILE, REPO and (up.sh) the
# functions log, die, launch, wait_for, check_alive.
#
# Everything lives in STATE/node: containerd's root and state, the kubelet's root dir,
# the CNI config and its IP allocations, pod logs. Pods get 10.244.NODE_NET.0/24 on the
# bridge gpbrNODE_NET, whose gateway address .1 is also the node's address: the API server
# reaches the kubelet and pods (service proxy) there, and pods reach the host there (e.g.
# the promotion server, for bundles). Pods get no default route: nothing they send can
# leave the machine. The node is tainted goldenpath.dev/real-node:NoSchedule and labelled
# goldenpath.dev/node=real; namespaces opt in (namespace.sh --real-node), everything else
# stays on the KWOK nodes.
NODE_NAME=gp-node
NODE_DIR="$STATE/node"
REAL_NODE_TAINT=goldenpath.dev/real-node
REAL_NODE_LABEL=goldenpath.dev/node=real
CONTAINERD_SOCK="$NODE_DIR/containerd/containerd.sock"
# Images the node gets at start (scripts/image/build.sh variants; pause is required).
NODE_IMAGES="${GOLDENPATH_CLUSTER_IMAGES:-pause runtime app}"

node_ctr() { ctr --address "$CONTAINERD_SOCK" --namespace k8s.io "$@"; }
node_gateway() { echo "10.244.$NODE_NET.1"; }
node_bridge() { echo "gpbr$NODE_NET"; }
node_cgroup_root() { echo "/goldenpath-$NODE_NET"; }
# The cgroup v1 hierarchies (these machines are "hybrid": v1 controllers, an empty v2).
node_cgroup_mounts() { awk '$3 == "cgroup" {print $2}' /proc/self/mounts; }

# node_require: the Debian packages of a real node, installed on first use.
node_require() {
  "$REPO/scripts/cluster/install-packages.sh" node >> "$STATE/logs/packages.log" 2>&1 ||
    die "the real node's Debian packages are missing: $(tail -n 3 "$STATE/logs/packages.log")"
}

# node_network: pick a free 10.244.N.0/24 (kept in cluster.env) and make its bridge, so
# the gateway address exists before any pod does (servers bind it, kubelet listens on it).
node_network() {
  local n
  taken() { ip -4 -o addr show | grep -q " 10\.244\.$1\.1/"; }
  # The recorded subnet, unless someone else holds its address now.
  if [[ -n "${NODE_NET:-}" ]] && ! ip link show "gpbr$NODE_NET" >/dev/null 2>&1 &&
      taken "$NODE_NET"; then
    NODE_NET=""
  fi
  if [[ -z "${NODE_NET:-}" ]]; then
    for n in $(shuf -i 1-254); do
      taken "$n" && continue
      ip link add "gpbr$n" type bridge 2>/dev/null || continue  # another cluster's, just now
      NODE_NET="$n"; break
    done
    [[ -n "$NODE_NET" ]] || die "no free 10.244.N.0/24 for the node's pods"
  fi
  save_env
  ip link show "$(node_bridge)" >/dev/null 2>&1 || ip link add "$(node_bridge)" type bridge
  ip -4 -o addr show dev "$(node_bridge)" | grep -q " $(node_gateway)/" ||
    ip addr add "$(node_gateway)/24" dev "$(node_bridge)"
  ip link set "$(node_bridge)" up
  mkdir -p "$NODE_DIR/cni/net.d" "$NODE_DIR/cni/ipam"
  # ipMasq off and no routes beyond the subnet: pods talk to each other and the host only.
  cat > "$NODE_DIR/cni/net.d/10-goldenpath.conflist" <<EOF
{"cniVersion": "0.4.0", "name": "goldenpath-$NODE_NET", "plugins": [
  {"type": "bridge", "bridge": "$(node_bridge)", "isGateway": true, "ipMasq": false,
   "hairpinMode": true,
   "ipam": {"type": "host-local", "dataDir": "$NODE_DIR/cni/ipam",
            "ranges": [[{"subnet": "10.244.$NODE_NET.0/24", "gateway": "$(node_gateway)"}]]}}
]}
EOF
}

# node_images_build: build (or find cached) the node's images; sets PAUSE_IMAGE etc.
node_images_build() {
  local out variant ref archive
  log "images: $NODE_IMAGES (scripts/image/build.sh; cached by the hash of their inputs)"
  out="$("$REPO/scripts/image/build.sh" $NODE_IMAGES)" || die "building the node's images failed"
  : > "$STATE/images.env"
  while read -r variant ref archive; do
    variant="${variant^^}"; variant="${variant//-/_}"
    printf '%s_IMAGE=%s\n%s_ARCHIVE=%s\n' "$variant" "$ref" "$variant" "$archive" >> "$STATE/images.env"
  done <<<"$out"
  # shellcheck disable=SC1091
  source "$STATE/images.env"
  [[ -n "${PAUSE_IMAGE:-}" ]] || die "GOLDENPATH_CLUSTER_IMAGES must include pause"
}

# node_images_load: import each image into the node's containerd, named by its digest too:
# a pod's image NAME@sha256:... resolves only to an image record of exactly that name.
node_images_load() {
  local v ref archive tag have
  have="$(node_ctr images ls -q)"
  for v in $NODE_IMAGES; do
    v="${v^^}"; v="${v//-/_}"
    ref="${v}_IMAGE"; ref="${!ref}"; archive="${v}_ARCHIVE"; archive="${!archive}"
    grep -qxF "$ref" <<<"$have" && continue
    tag="${ref%@*}:$(basename "$(dirname "$archive")")"
    log "loading $tag into the node's containerd"
    node_ctr images import "$archive" >/dev/null || die "ctr images import $archive failed"
    node_ctr images tag --force "$tag" "$ref" >/dev/null
  done
}

start_containerd() {
  node_require
  node_network
  node_images_build
  mkdir -p "$NODE_DIR/containerd" "$NODE_DIR/certs.d/goldenpath.local"
  # No registry is reachable: pulls of goldenpath's own names go to a closed loopback port
  # and fail at once (an image that was not loaded), instead of asking DNS.
  printf 'server = "http://127.0.0.1:9"\n' > "$NODE_DIR/certs.d/goldenpath.local/hosts.toml"
  # restrict_oom_score_adj: the sandbox may not lower oom_score_adj (no CAP_SYS_RESOURCE);
  # without it every pod sandbox fails ("can't get final child's PID from pipe").
  # SystemdCgroup = false: cgroupfs, like the kubelet (no systemd here).
  cat > "$NODE_DIR/containerd.toml" <<EOF
version = 2
root = "$NODE_DIR/containerd/root"
state = "$NODE_DIR/containerd/state"
disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs",
  "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs",
  "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing"]
[grpc]
  address = "$CONTAINERD_SOCK"
[ttrpc]
  address = "$CONTAINERD_SOCK.ttrpc"
[plugins."io.containerd.internal.v1.opt"]
  path = "$NODE_DIR/containerd/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$PAUSE_IMAGE"
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$NODE_DIR/cni/net.d"
    max_conf_num = 1
  [plugins."io.containerd.grpc.v1.cri".registry]
    config_path = "$NODE_DIR/certs.d"
EOF
  launch containerd --config "$NODE_DIR/containerd.toml"
  wait_for "containerd" 30 containerd_ready
  node_images_load
}
containerd_ready() { check_alive containerd; node_ctr version; }

# node_pki: the kubelet's client certificate (system:node:NAME, for the Node authorizer)
# and serving certificate (the gateway address, so the API server can verify it).
node_pki() {
  [[ -f "$PKI/kubelet.crt" ]] && openssl x509 -in "$PKI/kubelet.crt" -noout -ext subjectAltName \
    2>/dev/null | grep -q "IP Address:$(node_gateway)\$" && return 0
  sign kubelet "/O=system:nodes/CN=system:node:$NODE_NAME" "basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=clientAuth,serverAuth
subjectAltName=IP:$(node_gateway),DNS:$NODE_NAME"
}

start_kubelet() {
  node_pki
  local cg mount
  cg="$(node_cgroup_root)"
  # The kubelet puts every pod under this cgroup; it must exist in each hierarchy (and a
  # new cpuset cgroup has no CPUs until given its parent's).
  for mount in $(node_cgroup_mounts); do mkdir -p "$mount$cg"; done
  for f in cpuset.cpus cpuset.mems; do
    [[ -f "/sys/fs/cgroup/cpuset$cg/$f" && -z "$(cat "/sys/fs/cgroup/cpuset$cg/$f")" ]] &&
      cat "/sys/fs/cgroup/cpuset/$f" > "/sys/fs/cgroup/cpuset$cg/$f"
  done
  mkdir -p "$NODE_DIR/kubelet" "$NODE_DIR/pod-logs"
  cat > "$NODE_DIR/kubelet.kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: goldenpath
  cluster: {server: "https://127.0.0.1:$APISERVER_PORT", certificate-authority: "$PKI/ca.crt"}
users:
- name: kubelet
  user: {client-certificate: "$PKI/kubelet.crt", client-key: "$PKI/kubelet.key"}
contexts:
- name: goldenpath
  context: {cluster: goldenpath, user: kubelet}
current-context: goldenpath
EOF
  # resolvConf "": pods get no name server (nothing outside the machine to resolve).
  # Eviction thresholds low and image GC off: a test machine's disk is not the node's to
  # protect, and the images were loaded at start (nothing could pull them back: the pause
  # image the kubelet deleted on a full disk failed every pod after it).
  cat > "$NODE_DIR/kubelet.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: "$(node_gateway)"
port: $KUBELET_PORT
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: $KUBELET_HEALTHZ_PORT
tlsCertFile: "$PKI/kubelet.crt"
tlsPrivateKeyFile: "$PKI/kubelet.key"
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: "$PKI/ca.crt"}
authorization: {mode: Webhook}
cgroupDriver: cgroupfs
cgroupRoot: "$cg"
containerRuntimeEndpoint: "unix://$CONTAINERD_SOCK"
failSwapOn: false
podLogsDir: "$NODE_DIR/pod-logs"
resolvConf: ""
serializeImagePulls: false
evictionHard: {memory.available: 100Mi, nodefs.available: 1%, imagefs.available: 1%}
imageGCHighThresholdPercent: 100
registerWithTaints:
- {key: $REAL_NODE_TAINT, value: "true", effect: NoSchedule}
EOF
  launch kubelet --config="$NODE_DIR/kubelet.yaml" --kubeconfig="$NODE_DIR/kubelet.kubeconfig" \
    --root-dir="$NODE_DIR/kubelet" --cert-dir="$NODE_DIR/kubelet/pki" \
    --hostname-override="$NODE_NAME" --node-ip="$(node_gateway)" --node-labels="$REAL_NODE_LABEL"
  wait_for "kubelet /healthz" 60 kubelet_healthy
}
kubelet_healthy() { check_alive kubelet; curl -sf "http://127.0.0.1:$KUBELET_HEALTHZ_PORT/healthz"; }

# node_remove_pods: after the kubelet has stopped, with containerd still up, kill and
# delete every container it left (the shims unmount their root filesystems and exit).
node_remove_pods() {
  local id
  [[ -S "$CONTAINERD_SOCK" ]] && node_ctr version >/dev/null 2>&1 || return 0
  for id in $(node_ctr tasks ls -q 2>/dev/null); do node_ctr tasks kill -s SIGKILL "$id" 2>/dev/null || true; done
  for id in $(node_ctr tasks ls -q 2>/dev/null); do node_ctr tasks delete --force "$id" >/dev/null 2>&1 || true; done
  for id in $(node_ctr containers ls -q 2>/dev/null); do node_ctr containers delete "$id" >/dev/null 2>&1 || true; done
}

# node_cleanup: after containerd has stopped, remove what is left of the pods (all of it
# when containerd died first): processes in the node's cgroups, shims, network namespaces
# and other mounts, the cgroups, IP allocations, the bridge.
node_cleanup() {
  local mount m pid cg
  [[ -n "${NODE_NET:-}" ]] || return 0
  cg="$(node_cgroup_root)"
  for mount in $(node_cgroup_mounts); do
    [[ -d "$mount$cg" ]] || continue
    find "$mount$cg" -name cgroup.procs -exec cat {} + 2>/dev/null | xargs -r kill -KILL 2>/dev/null || true
  done
  for pid in $(pgrep -f "containerd-shim-runc-v2 .*-address $CONTAINERD_SOCK\$" || true); do
    kill -KILL "$pid" 2>/dev/null || true
  done
  # netns, rootfs, shm and the kubelet's bind of its own root: deepest first
  awk -v d="$NODE_DIR/" 'index($2, d) == 1 {print $2}' /proc/self/mounts | sort -r |
    while read -r m; do umount -l "$m" 2>/dev/null || true; done
  sleep 0.2  # killed processes leave their cgroups asynchronously
  for mount in $(node_cgroup_mounts); do
    [[ -d "$mount$cg" ]] && find "$mount$cg" -depth -type d -exec rmdir {} + 2>/dev/null
  done
  rm -rf "$NODE_DIR/cni/ipam"
  ip link del "$(node_bridge)" 2>/dev/null || true
}
