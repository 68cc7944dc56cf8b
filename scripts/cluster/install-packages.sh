#!/usr/bin/env bash
# Install the Debian packages of the real node and of the image builds, when missing:
#   node:  containerd, runc and the CNI plugins
#   image: buildah, and mmdebstrap unless GOLDENPATH_BASE_IMAGE names a base to build from
#   podman: podman and slirp4netns (app releases on the local target)
#   scripts/cluster/install-packages.sh [node] [image] [podman]     (default: node image)
# Needs root (apt-get) when something is missing; a no-op otherwise. Called by
# scripts/test.sh, by up.sh (node.sh) and by scripts/image/build.sh.
set -euo pipefail
(($#)) || set -- node image
missing=()
for part in "$@"; do
  case "$part" in
    node)
      command -v containerd >/dev/null || missing+=(containerd)
      command -v runc >/dev/null || missing+=(runc)
      [[ -x /usr/lib/cni/bridge ]] || missing+=(containernetworking-plugins) ;;
    image)
      command -v buildah >/dev/null || missing+=(buildah)
      [[ -n "${GOLDENPATH_BASE_IMAGE:-}" ]] || command -v mmdebstrap >/dev/null ||
        missing+=(mmdebstrap) ;;
    podman)
      command -v podman >/dev/null || missing+=(podman)
      command -v slirp4netns >/dev/null || missing+=(slirp4netns) ;;
    *) echo "unknown part $part (node, image, podman)" >&2; exit 2 ;;
  esac
done
((${#missing[@]} == 0)) && exit 0
if ((EUID != 0)); then
  echo "missing Debian packages: ${missing[*]}; as root: apt-get install -y ${missing[*]}" >&2
  exit 1
fi
echo "[packages] installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
# Package lists may be stale or absent on a fresh machine: update once and retry.
apt-get install -y -qq "${missing[@]}" >/dev/null 2>&1 ||
  { apt-get update -qq && apt-get install -y -qq "${missing[@]}" >/dev/null; }
