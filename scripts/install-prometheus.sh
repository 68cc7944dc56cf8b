#!/usr/bin/env bash
# The Prometheus server binary from Debian's `prometheus` package, without installing the
# package (no service, no user, no systemd): the .deb is downloaded and unpacked into
# ${GOLDENPATH_CACHE:-~/.cache/goldenpath}/prometheus/VERSION/, cached by that version.
# Prints the binary's path; a no-op (one apt-cache look-up) when that version is there.
#   PROMETHEUS=$(scripts/install-prometheus.sh)
# Used by tests/monitoring (they read GOLDENPATH_PROMETHEUS, else look in this cache).
set -euo pipefail
CACHE="${GOLDENPATH_CACHE:-$HOME/.cache/goldenpath}/prometheus"

log() { printf '[prometheus] %s\n' "$*" >&2; }

# candidate: the version apt would install now (empty when the package lists lack it).
candidate() {
  apt-cache policy prometheus 2>/dev/null | awk '/Candidate:/ {print $2}' | grep -v '(none)' || true
}

version="$(candidate)"
if [[ -z "$version" ]]; then
  # A fresh machine has no package lists: with the newest cached binary, keep it.
  newest="$(ls -d "$CACHE"/*/usr/bin/prometheus 2>/dev/null | sort -V | tail -1 || true)"
  if [[ -n "$newest" ]]; then echo "$newest"; exit 0; fi
  log "updating the package lists (prometheus is not in them)"
  apt-get update -qq >/dev/null
  version="$(candidate)"
  [[ -n "$version" ]] || { log "ERROR: no prometheus package in apt's sources"; exit 1; }
fi
dir="$CACHE/${version//[:~]/_}"
binary="$dir/usr/bin/prometheus"
if [[ -x "$binary" ]]; then echo "$binary"; exit 0; fi

log "downloading prometheus $version from Debian"
mkdir -p "$CACHE"
work="$(mktemp -d "$CACHE/.download-XXXXXX")"
trap 'rm -rf "$work"' EXIT
# apt-get download writes into the current folder; as root it hands the download to the
# _apt user, who cannot write into a private temp folder: let it.
chmod 755 "$work"
(cd "$work" && apt-get download -qq "prometheus=$version" >/dev/null 2>&1) ||
  { apt-get update -qq >/dev/null && (cd "$work" && apt-get download -qq "prometheus=$version" >/dev/null); }
dpkg-deb -x "$work"/prometheus_*.deb "$work/root"
"$work/root/usr/bin/prometheus" --version >/dev/null 2>&1 ||
  { log "ERROR: the unpacked binary does not run: $work/root/usr/bin/prometheus"; exit 1; }
# Appear whole or not at all (two runs at once: the first one wins).
mv -T "$work/root" "$dir" 2>/dev/null || [[ -x "$binary" ]]
log "prometheus $version in $dir"
echo "$binary"
