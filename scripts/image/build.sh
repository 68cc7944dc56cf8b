#!/usr/bin/env bash
# Build goldenpath's container images without a daemon (buildah) and without pulling
# anything from a registry: the base is a Debian root filesystem made here from Debian
# packages (mmdebstrap), Python packages come from PyPI during the build.
#
#   runtime        the shared serving runtime (serving/Dockerfile): BentoML with
#                  scikit-learn, XGBoost, LightGBM and CatBoost
#   runtime-torch  the same plus PyTorch (GOLDENPATH_TORCH_INDEX_URL: e.g. the CPU wheel
#                  index; without it pip takes PyPI's torch, the CUDA build, ~5 GB)
#   app            a small HTTP server (scripts/image/app): an example app release
#   pause          the pod sandbox image of the real node (scripts/image/pause)
#
# Usage: scripts/image/build.sh [--push REGISTRY/REPO] VARIANT...
#   prints one line per variant: VARIANT REF ARCHIVE   (REF = NAME@sha256:DIGEST)
# Each image is cached by the hash of its inputs (its Containerfile and sources, the
# versions it pins, its base) in ${GOLDENPATH_CACHE:-~/.cache/goldenpath}/images/VARIANT-HASH/:
#   image.tar (OCI archive), ref, versions.txt (runtime: pip freeze), size_bytes, build_s.
# Env: GOLDENPATH_BASE_IMAGE    build FROM this image (python3 + venv) instead of the
#                               Debian root filesystem, e.g. from a platform's registry
#      GOLDENPATH_IMAGE_PYTHON  the Python whose package versions the runtime pins
#                               (default: the repo's .venv, the one notebooks train with)
#      DEBIAN_MIRROR, DEBIAN_SUITE (bookworm), GO
# --podman also loads each image into podman's storage (where the local target runs app
# releases) and prints only its REF: IMAGE=$(scripts/image/build.sh --podman app).
# --push also pushes each image to REGISTRY/REPO-VARIANT (buildah's credentials) and
# prints that registry's REF instead. --context DIR VARIANT only writes the build context
# into DIR and prints the Containerfile (for docker build, kaniko, ...).
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
CACHE="${GOLDENPATH_CACHE:-$HOME/.cache/goldenpath}/images"
# Bump when the way images are assembled changes (not their inputs): rebuilds all.
FORMAT=1
SUITE="${DEBIAN_SUITE:-bookworm}"
MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
PY="${GOLDENPATH_IMAGE_PYTHON:-$REPO/.venv/bin/python}"
NAME_PREFIX=goldenpath.local

log() { printf '[image %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

PUSH="" CONTEXT="" PODMAN=""
if [[ "${1:-}" == "--podman" ]]; then PODMAN=1; shift; fi
if [[ "${1:-}" == "--push" ]]; then PUSH="${2:?--push needs REGISTRY/REPO}"; shift 2; fi
if [[ "${1:-}" == "--context" ]]; then CONTEXT="${2:?--context needs a folder}"; shift 2; fi
(($#)) || die "name at least one variant: runtime, runtime-torch, app, pause"

"$REPO/scripts/cluster/install-packages.sh" image || die "buildah (and mmdebstrap) are needed"
mkdir -p "$CACHE"
# Temp folders of a build that failed half-way go away with it.
CLEANUP=()
trap 'rm -rf "${CLEANUP[@]}"' EXIT
# One build at a time per cache (CI and a developer may share a machine).
exec 9>"$CACHE/.lock"
flock 9
# buildah's own storage, private to goldenpath: the base layers stay here between builds.
bah() { buildah --root "$CACHE/storage" --runroot "$CACHE/run" --storage-driver overlay "$@"; }

# hash_of ARG...: sha256 of strings and of files' paths and contents (folders recursively).
hash_of() {
  local a
  for a in "$@"; do
    if [[ -d "$a" ]]; then
      (cd "$a" && find . -type f ! -path '*/__pycache__/*' -print0 | LC_ALL=C sort -z |
        xargs -0 sha256sum)
    elif [[ -f "$a" ]]; then sha256sum < "$a"
    else printf '%s\n' "$a"; fi
  done | sha256sum | cut -c1-16
}

# --- the base: Debian + python3, or the platform's own -----------------------------
# base_ref: the base's name (its tag is the hash of what it is made of).
base_ref() {
  if [[ -n "${GOLDENPATH_BASE_IMAGE:-}" ]]; then echo "$GOLDENPATH_BASE_IMAGE"; return; fi
  echo "$NAME_PREFIX/debian-python:$SUITE-$(hash_of "$FORMAT" "$SUITE" "$HERE/base/Containerfile" \
    "$HERE/base/packages")"
}
# ensure_base REF: make the Debian base unless buildah's storage has it (or it is the
# platform's own image, which buildah pulls itself).
ensure_base() {
  local ref="$1"
  [[ -z "${GOLDENPATH_BASE_IMAGE:-}" ]] || return 0
  bah inspect --type image "$ref" >/dev/null 2>&1 && return 0
  log "base $ref: making a Debian $SUITE root filesystem (mmdebstrap, ~1 min)"
  local ctx packages
  ctx="$(mktemp -d)"
  CLEANUP+=("$ctx")
  packages="$(grep -v '^#' "$HERE/base/packages" | paste -sd, -)"
  # Mirrors given explicitly: without them mmdebstrap may read sources from stdin.
  mmdebstrap --variant=minbase --include="$packages" --aptopt='Acquire::Retries "3"' \
    --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-exclude=/usr/share/man/*' \
    --dpkgopt='path-exclude=/usr/share/locale/*' \
    "$SUITE" "$ctx/rootfs.tar" "deb $MIRROR $SUITE main" "deb $MIRROR $SUITE-updates main" \
    "deb ${MIRROR%/debian}/debian-security $SUITE-security main" </dev/null >&2
  bah bud --quiet --isolation chroot -f "$HERE/base/Containerfile" -t "$ref" "$ctx" >/dev/null
  rm -rf "$ctx"
}

# --- what each variant is built from ------------------------------------------------
RUNTIME_PKGS=(bentoml cloudpickle numpy pandas scikit-learn lightgbm catboost)
RUNTIME_NODEPS=(xgboost)

# pins PKG...: PKG==VERSION as installed for $PY (the versions bundles will pin).
pins() {
  if [[ ! -x "$PY" && -z "${GOLDENPATH_IMAGE_PYTHON:-}" ]]; then
    # A fresh checkout (make cluster first): make the environment notebooks train in.
    log "no $PY yet: creating the repo's environment (scripts/setup.sh --test), whose versions the runtime pins"
    "$REPO/scripts/setup.sh" --test >&2 || die "scripts/setup.sh --test failed"
  fi
  [[ -x "$PY" ]] || die "$PY not found: run scripts/setup.sh --test, or set GOLDENPATH_IMAGE_PYTHON"
  "$PY" - "$@" <<'EOF'
import sys
from importlib.metadata import PackageNotFoundError, version
for name in sys.argv[1:]:
    try:
        print(f"{name}=={version(name)}")
    except PackageNotFoundError:
        sys.exit(f"{name} is not installed in {sys.executable}: the runtime image pins the "
                 "versions of that environment; install it there or set GOLDENPATH_IMAGE_PYTHON")
EOF
}

# context VARIANT DIR: fill the build context; prints the Containerfile to use.
context() {
  local variant="$1" dir="$2"
  case "$variant" in
    runtime | runtime-torch)
      cp -r "$REPO/serving/goldenpath_serving" "$REPO/serving/goldenpath_router" "$dir/"
      find "$dir" -name __pycache__ -prune -exec rm -rf {} +
      pins "${RUNTIME_PKGS[@]}" > "$dir/requirements.txt"
      [[ "$variant" == runtime-torch ]] && pins torch >> "$dir/requirements.txt"
      pins "${RUNTIME_NODEPS[@]}" > "$dir/no-deps.txt"
      # Everything else at the versions of the same environment (skip local/editable ones).
      "$PY" -m pip freeze --exclude-editable 2>/dev/null | grep -v ' @ ' > "$dir/constraints.txt"
      pip_conf "$dir"
      echo "$REPO/serving/Dockerfile" ;;
    app) cp "$HERE/app/server.py" "$dir/"; echo "$HERE/app/Containerfile" ;;
    pause)
      local go="${GO:-$(command -v go || echo /usr/local/go/bin/go)}"
      [[ -x "$go" ]] || die "Go is needed to build the pause image: install Go or set GO"
      (cd "$HERE/pause" && CGO_ENABLED=0 GOTOOLCHAIN=local GOFLAGS=-mod=mod \
        "$go" build -trimpath -ldflags "-s -w" -o "$dir/pause" main.go)
      echo "$HERE/pause/Containerfile" ;;
    *) die "unknown variant $variant (runtime, runtime-torch, app, pause)" ;;
  esac
}

# pip_conf DIR: the build machine's pip index and CA for the build (a TLS-inspecting proxy
# or a private PyPI mirror must work inside the build as it does outside).
pip_conf() {
  local cert="${PIP_CERT:-$("$PY" -m pip config get global.cert 2>/dev/null || true)}"
  local index="${PIP_INDEX_URL:-$("$PY" -m pip config get global.index-url 2>/dev/null || true)}"
  {
    echo "[global]"
    [[ -n "$index" ]] && echo "index-url = $index"
    [[ -n "${GOLDENPATH_TORCH_INDEX_URL:-}" ]] && echo "extra-index-url = $GOLDENPATH_TORCH_INDEX_URL"
    [[ -f "$cert" ]] && cp "$cert" "$1/ca.pem" && echo "cert = /tmp/gp-build/ca.pem"
    true
  } > "$1/pip.conf"
}

# key VARIANT BASE: the hash of everything the image is made of.
key() {
  case "$1" in
    runtime) hash_of "$FORMAT" "$2" "$REPO/serving/Dockerfile" "$REPO/serving/goldenpath_serving" \
      "$REPO/serving/goldenpath_router" \
      "$(pins "${RUNTIME_PKGS[@]}" "${RUNTIME_NODEPS[@]}")" ;;
    runtime-torch) hash_of "$FORMAT" "$2" "$REPO/serving/Dockerfile" \
      "$REPO/serving/goldenpath_serving" "$REPO/serving/goldenpath_router" \
      "${GOLDENPATH_TORCH_INDEX_URL:-}" \
      "$(pins "${RUNTIME_PKGS[@]}" "${RUNTIME_NODEPS[@]}" torch)" ;;
    app) hash_of "$FORMAT" "$2" "$HERE/app" ;;
    pause) hash_of "$FORMAT" "$HERE/pause" ;;
  esac
}

repo_name() {
  case "$1" in
    runtime | runtime-torch) echo "$NAME_PREFIX/goldenpath-serving" ;;
    app) echo "$NAME_PREFIX/goldenpath-example-app" ;;
    pause) echo "$NAME_PREFIX/pause" ;;
  esac
}

# prune VARIANT KEEP: forget all but the newest two builds of VARIANT (archives and tags;
# layers still shared stay in buildah's storage).
prune() {
  local old
  # VARIANT-<16 hex>: runtime-* alone would match runtime-torch-* too
  for old in $(ls -dt "$CACHE/$1"-???????????????? 2>/dev/null | grep -vxF "$2" | tail -n +2); do
    bah rmi "$(repo_name "$1"):$(basename "$old")" >/dev/null 2>&1 || true
    rm -rf "$old"
  done
}

build() {
  local variant="$1" base="" k name out
  [[ "$variant" == pause ]] || base="$(base_ref)"
  k="$(key "$variant" "$base")"
  name="$(repo_name "$variant"):$variant-$k"
  out="$CACHE/$variant-$k"
  if [[ -s "$out/ref" && -s "$out/image.tar" ]]; then
    log "$variant: cached ($out)"
  else
    log "$variant: building $name from ${base:-scratch}"
    local start=$SECONDS ctx tmp containerfile args=()
    ctx="$(mktemp -d)"; tmp="$out.tmp.$$"
    CLEANUP+=("$ctx" "$tmp")
    rm -rf "$tmp" && mkdir -p "$tmp" "$HOME/.cache/pip"
    [[ -z "$base" ]] || ensure_base "$base"
    containerfile="$(context "$variant" "$ctx")"
    [[ -n "$base" ]] && args+=(--build-arg "BASE=$base")
    # --layers: unchanged steps come from buildah's cache (the pip install, when only the
    # runtime's source changed). chroot isolation: RUN steps need no OCI runtime, cgroups
    # or rlimits of their own. pip's cache is the machine's: nothing is downloaded twice.
    bah bud --quiet --layers --isolation chroot "${args[@]}" \
      -v "$HOME/.cache/pip:/root/.cache/pip" -f "$containerfile" -t "$name" "$ctx" >&2
    # zstd: smaller and several times faster to write than gzip; containerd 1.6 reads it.
    bah push --quiet --compression-format zstd --digestfile "$tmp/digest" \
      "$name" "oci-archive:$tmp/image.tar:$name" >&2
    echo "$(repo_name "$variant")@$(cat "$tmp/digest")" > "$tmp/ref"
    if [[ "$variant" == runtime* ]]; then
      local c; c="$(bah from --quiet --pull=never "$name")"
      cp "$(bah mount "$c")/opt/venv/versions.txt" "$tmp/versions.txt"
      bah rm "$c" >/dev/null
    fi
    stat -c %s "$tmp/image.tar" > "$tmp/size_bytes"
    echo $((SECONDS - start)) > "$tmp/build_s"
    rm -rf "$ctx" "$out" && mv "$tmp" "$out"
    prune "$variant" "$out"
    log "$variant: built in $(cat "$out/build_s")s, $(($(cat "$out/size_bytes") / 1048576)) MiB: $(cat "$out/ref")"
  fi
  local ref; ref="$(cat "$out/ref")"
  if [[ -n "$PUSH" ]]; then
    local digestfile="$out/pushed.digest"
    bah push --digestfile "$digestfile" "$name" "docker://$PUSH-$variant:$variant-$k" >&2
    ref="$PUSH-$variant@$(cat "$digestfile")"
  fi
  if [[ -n "$PODMAN" ]]; then
    "$REPO/scripts/cluster/install-packages.sh" podman >&2 || die "podman is needed for --podman"
    podman image exists "$ref" || podman load --quiet -i "$out/image.tar" >&2
    echo "$ref"
    return
  fi
  echo "$variant $ref $out/image.tar"
}

if [[ -n "$CONTEXT" ]]; then
  # Only the build context, for another builder (docker build, kaniko): prints the
  # Containerfile to use with it; pass --build-arg BASE=... yourself.
  mkdir -p "$CONTEXT"
  context "$1" "$CONTEXT"
  exit 0
fi
for v in "$@"; do build "$v"; done
