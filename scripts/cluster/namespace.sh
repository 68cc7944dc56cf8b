#!/usr/bin/env bash
# Create or update a namespace for a goldenpath environment, as a platform team would:
#   - the shared admission policies (server/cluster-policies) enforced on it;
#   - Pod Security Admission `restricted` enforced, warned and audited;
#   - with --real-node, its pods run on the real node: a default node selector and
#     toleration (admission plugins PodNodeSelector, PodTolerationRestriction), so the
#     service template stays the same for every cluster.
#
#   scripts/cluster/namespace.sh [--real-node] NAME [STATE_DIR]
# Env: NAMESPACE_KUBECONFIG: another cluster's kubeconfig instead of STATE_DIR's.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REAL=""
if [[ "${1:-}" == "--real-node" ]]; then REAL=1; shift; fi
NAME="${1:?usage: namespace.sh [--real-node] NAME [STATE_DIR]}"
STATE="${2:-${GOLDENPATH_CACHE:-$HOME/.cache/goldenpath}/cluster}"
BIN="${GOLDENPATH_K8S_BIN:-$("$HERE/build.sh" | tail -n 1)}"
kubectl() { "$BIN/kubectl" --kubeconfig "${NAMESPACE_KUBECONFIG:-$STATE/kubeconfig}" "$@"; }

kubectl create namespace "$NAME" --dry-run=client -o yaml | kubectl apply -f - >/dev/null
kubectl label namespace "$NAME" --overwrite >/dev/null \
  goldenpath.dev/policies=enforced \
  pod-security.kubernetes.io/enforce=restricted pod-security.kubernetes.io/enforce-version=latest \
  pod-security.kubernetes.io/warn=restricted pod-security.kubernetes.io/audit=restricted
if [[ -n "$REAL" ]]; then
  kubectl annotate namespace "$NAME" --overwrite >/dev/null \
    scheduler.alpha.kubernetes.io/node-selector=goldenpath.dev/node=real \
    scheduler.alpha.kubernetes.io/defaultTolerations='[{"key": "goldenpath.dev/real-node", "operator": "Exists", "effect": "NoSchedule"}]'
fi
