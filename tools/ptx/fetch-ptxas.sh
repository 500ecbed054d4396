#!/usr/bin/env bash
# Fetches NVIDIA's ptxas (CUDA 11.8, from Debian bookworm's non-free nvidia-cuda-toolkit) into a
# private, git-ignored folder (.tools/cuda by default) without installing anything system-wide:
# a private APT configuration (its own sources list, lists and cache) runs `apt-get update` and
# `apt-get download`, and `dpkg -x` unpacks the package. The system's APT state is never touched.
# Needs network access to a Debian mirror only; the mirror is taken from /etc/apt/sources.list*
# (override with DEBIAN_MIRROR=http://...). Idempotent: does nothing if ptxas is already there.
# Prints the absolute path of ptxas on stdout (progress goes to stderr).
set -euo pipefail

root="$(cd "$(dirname "$0")/../.." && pwd)"
dest="${PTXAS_HOME:-$root/.tools/cuda}"
package="nvidia-cuda-toolkit"          # Debian ships ptxas (/usr/bin/ptxas) in this package
suite="bookworm"
keyring="/usr/share/keyrings/debian-archive-keyring.gpg"

ptxas="$dest/usr/bin/ptxas"
if [ -x "$ptxas" ]; then
  echo "$ptxas"
  exit 0
fi

log() { echo "fetch-ptxas: $*" >&2; }

# The Debian mirror this machine already uses (deb822 .sources first, then one-line sources.list).
mirror="${DEBIAN_MIRROR:-}"
if [ -z "$mirror" ]; then
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    # first URIs: line of a stanza whose Suites name $suite (not the security archive)
    mirror=$(awk -v suite="$suite" '
      /^[[:space:]]*$/ { if (uris != "" && hit) { print uris; exit } uris=""; hit=0; next }
      tolower($1) == "uris:"   { uris=$2 }
      tolower($1) == "suites:" { for (i = 2; i <= NF; i++) if ($i == suite) hit=1 }
      END { if (uris != "" && hit) print uris }' "$f" | grep -v -- '-security' | head -n 1 || true)
    [ -n "$mirror" ] && break
  done
fi
if [ -z "$mirror" ]; then
  mirror=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null \
    | awk -v suite="$suite" '$1 == "deb" { i = 2; if ($i ~ /^\[/) { while ($i !~ /\]$/) i++; i++ }
                                           if ($(i+1) == suite) { print $i; exit } }' || true)
fi
case "$mirror" in
  http://*|https://*) ;;
  *) mirror="http://deb.debian.org/debian" ;;   # none found, or a scheme such as mirror+file: or cdrom:
esac
mirror="${mirror%/}"
log "mirror $mirror"

[ -r "$keyring" ] || { log "missing $keyring (install debian-archive-keyring)"; exit 1; }

# Private APT configuration: nothing under /etc/apt or /var/lib/apt is read for sources or written.
apt_dir="$root/.tools/apt"
mkdir -p "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial" "$apt_dir/sources.list.d" "$apt_dir/debs"
echo "deb [signed-by=$keyring] $mirror $suite non-free" > "$apt_dir/sources.list"
apt_opts=(
  -o "Dir::Etc::sourcelist=$apt_dir/sources.list"
  -o "Dir::Etc::sourceparts=$apt_dir/sources.list.d"
  -o "Dir::State::Lists=$apt_dir/lists"
  -o "Dir::Cache=$apt_dir/cache"
)
# As root, apt downloads as the _apt user, which cannot write into the private folders.
[ "$(id -u)" -eq 0 ] && apt_opts+=(-o "APT::Sandbox::User=root")

log "apt-get update ($suite non-free, private lists in $apt_dir)"
apt-get "${apt_opts[@]}" -q update >&2

log "apt-get download $package"
rm -f "$apt_dir/debs/"*.deb
(cd "$apt_dir/debs" && apt-get "${apt_opts[@]}" -q download "$package" >&2)
deb=$(ls "$apt_dir/debs/${package}_"*.deb | head -n 1)

contents=$(dpkg -c "$deb")
if ! grep -q ' \./usr/bin/ptxas$' <<<"$contents"; then
  log "$deb has no usr/bin/ptxas"
  exit 1
fi

log "dpkg -x $(basename "$deb") $dest"
rm -rf "$dest.tmp"
mkdir -p "$dest.tmp"
dpkg -x "$deb" "$dest.tmp"
basename "$deb" .deb > "$dest.tmp/PACKAGE"   # e.g. nvidia-cuda-toolkit_11.8.89~11.8.0-5~deb12u1_amd64 (check.sh cites it)
rm -rf "$dest"
mv "$dest.tmp" "$dest"
rm -f "$deb"                           # the unpacked tree is all that is kept
"$ptxas" --version >&2
echo "$ptxas"
