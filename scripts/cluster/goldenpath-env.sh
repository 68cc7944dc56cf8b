#!/usr/bin/env bash
# Prepare a running cluster for goldenpath, as a platform team would: apply the shared
# admission policies, create the environment namespaces (policies and Pod Security
# `restricted` enforced; staging and prod on the real node, scale on the KWOK nodes) and
# write a platform config: dev on the local target, the others on this cluster, models on
# the runtime image that up.sh built and loaded into the node.
#
#   scripts/cluster/goldenpath-env.sh [STATE_DIR]
# Env: GOLDENPATH_PORT (8731): the port the promotion server will listen on.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
STATE="${1:-${GOLDENPATH_CACHE:-$HOME/.cache/goldenpath}/cluster}"
BIN="${GOLDENPATH_K8S_BIN:-$("$HERE/build.sh" | tail -n 1)}"
export GOLDENPATH_K8S_BIN="$BIN"
kubectl() { "$BIN/kubectl" --kubeconfig "$STATE/kubeconfig" "$@"; }
[[ -f "$STATE/images.env" ]] || { echo "no cluster in $STATE: run scripts/cluster/up.sh first" >&2; exit 1; }
# shellcheck disable=SC1091
source "$STATE/cluster.env"
# shellcheck disable=SC1091
source "$STATE/images.env"
# Pods reach the host at the node's gateway address: the promotion server listens there.
HOST="10.244.$NODE_NET.1"
PORT="${GOLDENPATH_PORT:-8731}"

kubectl apply -f "$REPO/server/cluster-policies/" >/dev/null
for env in staging prod; do "$HERE/namespace.sh" --real-node "gp-$env" "$STATE"; done
"$HERE/namespace.sh" gp-scale "$STATE"
cat >"$STATE/goldenpath.yaml" <<YAML
environments:
  dev: {target: local}
  staging:
    target: kubernetes
    kubeconfig: $STATE/kubeconfig
    namespace: gp-staging
    runtime_image: $RUNTIME_IMAGE
    bundle_base_url: http://$HOST:$PORT
    replicas: 1
  prod:
    target: kubernetes
    kubeconfig: $STATE/kubeconfig
    namespace: gp-prod
    runtime_image: $RUNTIME_IMAGE
    bundle_base_url: http://$HOST:$PORT
    replicas: 2
  # KWOK nodes: pods turn Running but no container starts (scale tests of the path itself).
  scale:
    target: kubernetes
    kubeconfig: $STATE/kubeconfig
    namespace: gp-scale
    runtime_image: $RUNTIME_IMAGE
    replicas: 20
YAML
cat <<EOF

Policies applied; gp-staging and gp-prod enforce them and Pod Security "restricted", and
run on the real node (models on $RUNTIME_IMAGE).
Run the server where pods can fetch bundles from it:

  GOLDENPATH_HOST=$HOST GOLDENPATH_PORT=$PORT GOLDENPATH_CONFIG=$STATE/goldenpath.yaml \\
    .venv/bin/goldenpath server

then with GOLDENPATH_SERVER=http://$HOST:$PORT, gp.deploy(model, sample=X[:5]) goes live
locally in dev, d.promote("staging") rolls it out on the real node, and d.predict(X[:3])
answers through the API server's service proxy (KUBECONFIG=$STATE/kubeconfig).
EOF
