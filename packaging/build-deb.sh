#!/usr/bin/env bash
# Builds the sipvsd Debian package (sipvsd_VERSION_ARCH.deb) into OUTDIR.
#
#   packaging/build-deb.sh [--head] [--version VERSION] [OUTDIR]
#
# dpkg-buildpackage wants debian/ at the root of the source tree, and the tree
# must not get build products: so the sources are copied to a temporary
# directory, packaging/debian is put there as debian/, and the package is
# built there. By default the copy is of the work tree as it is (tracked and
# untracked files, less what .gitignore ignores: build directories); --head
# takes the last commit instead (git archive HEAD).
# --version VERSION builds with another package version (the upgrade test uses
# it); the changelog in the copy gets a new entry, the repository is untouched.
# OUTDIR defaults to the current directory. Needs debhelper and dpkg-dev
# (scripts/install-deps.sh installs them) and the build dependencies.
set -euo pipefail

usage() { sed -n '2,16s/^# \{0,1\}//p' "$0"; exit 2; }

from_head=0
version=""
outdir="."
while [ $# -gt 0 ]; do
  case "$1" in
    --head) from_head=1 ;;
    --version) [ $# -ge 2 ] || usage; version="$2"; shift ;;
    -h|--help) usage ;;
    -*) echo "build-deb.sh: unknown option $1" >&2; usage ;;
    *) outdir="$1" ;;
  esac
  shift
done

for tool in dpkg-buildpackage dh git; do
  command -v "$tool" >/dev/null || { echo "build-deb.sh: $tool is missing (run scripts/install-deps.sh)" >&2; exit 1; }
done

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
mkdir -p "$outdir"
outdir="$(cd "$outdir" && pwd)"

work="$(mktemp -d /tmp/sipvsd-deb.XXXXXX)"
trap 'rm -rf "$work"' EXIT
src="$work/sipvsd"
mkdir "$src"

if [ "$from_head" = 1 ]; then
  git -C "$repo" archive --format=tar HEAD | tar -x -C "$src"
else
  # -z: names may hold any character. Files deleted but not yet committed are
  # listed by ls-files and skipped here.
  (cd "$repo" && git ls-files -z --cached --others --exclude-standard) |
    (cd "$repo" && while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done) |
    (cd "$repo" && tar --null -T - -cf -) | tar -x -C "$src"
fi
[ -d "$src/packaging/debian" ] || { echo "build-deb.sh: no packaging/debian in the source" >&2; exit 1; }
cp -a "$src/packaging/debian" "$src/debian"

# The package version (debian/changelog) follows the project's version
# (project(... VERSION x.y.z) in CMakeLists.txt): they must not drift apart.
cmake_version="$(sed -n 's/^project(sipvsd VERSION \([0-9.]*\).*/\1/p' "$src/CMakeLists.txt")"
deb_version="$(cd "$src" && dpkg-parsechangelog -SVersion)"
if [ -n "$cmake_version" ] && [ "${deb_version%%[-+~]*}" != "$cmake_version" ]; then
  echo "build-deb.sh: debian/changelog says $deb_version but CMakeLists.txt says $cmake_version:" >&2
  echo "  add a packaging/debian/changelog entry for $cmake_version" >&2
  exit 1
fi

if [ -n "$version" ]; then
  # A new top entry, written the way dch would (without needing devscripts).
  {
    echo "sipvsd ($version) unstable; urgency=medium"
    echo
    echo "  * Rebuilt as $version by build-deb.sh --version."
    echo
    echo " -- $(cd "$src" && dpkg-parsechangelog -SMaintainer)  $(date -R)"
    echo
    cat "$src/debian/changelog"
  } >"$src/debian/changelog.new"
  mv "$src/debian/changelog.new" "$src/debian/changelog"
fi

echo "build-deb.sh: building $(cd "$src" && dpkg-parsechangelog -SVersion) in $src" >&2
(cd "$src" && dpkg-buildpackage -us -uc -b -j"$(nproc)")

shopt -s nullglob
debs=("$work"/sipvsd_*.deb)
[ ${#debs[@]} -gt 0 ] || { echo "build-deb.sh: dpkg-buildpackage made no sipvsd_*.deb" >&2; exit 1; }
cp -f "${debs[@]}" "$work"/sipvsd-dbgsym_*.*deb "$outdir"/
for f in "${debs[@]}"; do echo "$outdir/$(basename "$f")"; done
