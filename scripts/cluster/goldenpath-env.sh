#!/usr/bin/env bash
# Prepare a running cluster for goldenpath, as a platform team would: apply the shared
# admission policies, create the environment namespaces with the policies enforced, and
# write a platform config (dev on the local target, staging and prod on this cluster).
#
#   scripts/cluster/goldenpath-env.sh [STATE_DIR]
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
STATE="${1:-${GOLDENPATH_CACHE:-$HOME/.cache/goldenpath}/cluster}"
BIN="${GOLDENPATH_K8S_BIN:-$("$HERE/build.sh" | tail -n 1)}"
kubectl() { "$BIN/kubectl" --kubeconfig "$STATE/kubeconfig" "$@"; }

kubectl apply -f "$REPO/server/cluster-policies/" >/dev/null
for env in staging prod; do
  kubectl create namespace "gp-$env" --dry-run=client -o yaml | kubectl apply -f - >/dev/null
  kubectl label namespace "gp-$env" goldenpath.dev/policies=enforced --overwrite >/dev/null
done
# The runtime image cannot be built here (no Docker); KWOK nodes never pull it.
cat >"$STATE/goldenpath.yaml" <<YAML
environments:
  dev: {target: local}
  staging:
    target: kubernetes
    kubeconfig: $STATE/kubeconfig
    namespace: gp-staging
    runtime_image: registry.example/goldenpath-serving@sha256:$(printf 'b%.0s' $(seq 64))
  prod:
    target: kubernetes
    kubeconfig: $STATE/kubeconfig
    namespace: gp-prod
    runtime_image: registry.example/goldenpath-serving@sha256:$(printf 'b%.0s' $(seq 64))
YAML
cat <<EOF

Policies applied; namespaces gp-staging and gp-prod enforce them. Run the server with:

  GOLDENPATH_CONFIG=$STATE/goldenpath.yaml .venv/bin/goldenpath server

then gp.deploy(model, sample=X[:5]) goes live locally in dev and d.promote("staging") rolls
it out to the cluster (kubectl get pods -n gp-staging).
EOF
