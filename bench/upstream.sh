#!/bin/sh
# Build upstream passt(1)/pasta(1) from current source into a cache outside
# git, for bench/run.js's tool "upstream" (and passt(1) in its passt section):
# Debian's pasta is a 2023 build, and the figure to compare with is today's.
#
#   bash bench/upstream.sh [--dest DIR] [--ref REF] GIT_URL   clone GIT_URL (or $UPSTREAM_GIT), build, install
#   bash bench/upstream.sh [--dest DIR] --src DIR             build an existing source tree, install
#
# DIR defaults to $NODE_PASST_UPSTREAM_DIR, else /var/cache/node-passt-upstream.
# The cache then holds
#
#   passt, passt.avx2 (x86_64)    the binaries (passt re-executes itself as
#                                 passt.avx2 beside it when the CPU has AVX2)
#   pasta, pasta.avx2             symlinks to them, as upstream's `make` makes
#   VERSION                       `pasta --version`'s first line, the source's
#                                 commit, and the date of the build
#
# Only the binaries are built (`make passt pasta [passt.avx2 pasta.avx2]`,
# a few seconds): no manual pages, nothing installed elsewhere. A clone goes
# to a temporary directory that is removed afterwards; its default branch is
# built, or upstream's master where the default branch has no passt source
# (a mirror's), or --ref REF. The cache is made
# readable by everyone: the bench runs the tools as an unprivileged user.
set -eu

usage() {
	sed -n '6,7p' "$0" | sed 's/^#  */usage: /' >&2
	exit 2
}

dest=${NODE_PASST_UPSTREAM_DIR:-/var/cache/node-passt-upstream}
src=
url=${UPSTREAM_GIT:-}
ref=
while [ $# -gt 0 ]; do
	case $1 in
	--src) [ $# -ge 2 ] || usage; src=$2; shift 2 ;;
	--dest) [ $# -ge 2 ] || usage; dest=$2; shift 2 ;;
	--ref) [ $# -ge 2 ] || usage; ref=$2; shift 2 ;;
	-h|--help) usage ;;
	-*) echo "upstream.sh: unknown option $1" >&2; usage ;;
	*) url=$1; shift ;;
	esac
done

tmp=
cleanup() { [ -z "$tmp" ] || rm -rf "$tmp"; }
trap cleanup EXIT INT TERM

if [ -z "$src" ]; then
	[ -n "$url" ] || { echo "upstream.sh: give a git URL (or \$UPSTREAM_GIT), or --src DIR" >&2; usage; }
	tmp=$(mktemp -d "${TMPDIR:-/tmp}/node-passt-upstream.XXXXXX")
	git clone --quiet "$url" "$tmp/src"
	if [ -n "$ref" ]; then
		git -C "$tmp/src" checkout --quiet "$ref"
	elif [ ! -f "$tmp/src/passt.c" ]; then
		# a mirror whose default branch is not upstream's: upstream develops on master
		git -C "$tmp/src" checkout --quiet master 2>/dev/null || true
	fi
	src=$tmp/src
elif [ -n "$ref" ]; then
	echo "upstream.sh: --ref goes with a git URL, not with --src" >&2
	exit 2
fi
[ -f "$src/passt.c" ] && [ -f "$src/Makefile" ] || { echo "upstream.sh: $src is not a passt source tree" >&2; exit 1; }

targets="passt pasta"
[ "$(uname -m)" = x86_64 ] && targets="$targets passt.avx2 pasta.avx2"
# shellcheck disable=SC2086 # the targets are words
make -C "$src" -j"$(nproc 2>/dev/null || echo 2)" $targets >/dev/null

# Install next to the cache, then swap it in: a half-written cache is never used.
mkdir -p "$(dirname "$dest")"
new=$(mktemp -d "$dest.new.XXXXXX")
for b in passt passt.avx2; do
	[ -f "$src/$b" ] && install -m 0755 "$src/$b" "$new/$b"
done
ln -s passt "$new/pasta"
[ -f "$new/passt.avx2" ] && ln -s passt.avx2 "$new/pasta.avx2"
version=$("$new/pasta" --version 2>/dev/null | head -n 1 || true)
commit=$(git -C "$src" rev-parse HEAD 2>/dev/null || echo unknown)
printf 'version: %s\ncommit: %s\nbuilt: %s\n' "${version:-unknown}" "$commit" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" >"$new/VERSION"
chmod 0755 "$new"
chmod 0644 "$new/VERSION"
rm -rf "$dest.old"
[ ! -e "$dest" ] || mv "$dest" "$dest.old"
mv "$new" "$dest"
rm -rf "$dest.old"
echo "upstream.sh: ${version:-unknown} ($commit) in $dest"
