#!/bin/bash
# test/libvirt/setup.sh: the libvirt 11.3 test bed for test/e2e/libvirt.test.ts.
#
# Theory of operation
# -------------------
# The test drives Debian trixie's libvirt 11.3 (libvirtd in session mode,
# virsh) and QEMU 10.0 with this project's passt. Debian ships no modular
# virtqemud (libvirt-daemon has libvirtd, which serves qemu:///session when an
# unprivileged user runs it). They run from a Debian trixie tree (debootstrap
# minbase + libvirt-daemon, libvirt-daemon-driver-qemu, libvirt-clients,
# qemu-system-x86, installed without recommends) kept in a cache OUTSIDE the
# repository ($NODE_PASST_LIBVIRT_CACHE, default /var/cache/node-passt-libvirt;
# the tree is $CACHE/trixie, about 370 MB) and reused when present: 100-120 s
# to build the first time here (2 cores), well under a second to mount after
# that. This script is separate from test/podman/setup.sh (its own tree,
# cache, lock and marker), but built the same way.
#
# Debian's passt (a Recommends of libvirt-daemon-driver-qemu) is deliberately
# NOT installed, and an apt pin forbids it: a libvirt that did not find our
# passt fails instead of silently using another one. libvirt 11.3 looks passt
# up at run time, by its bare name "passt" in the daemon's PATH (qemu_passt.c:
# `#define PASST "passt"`; virCommand resolves a relative name in PATH when it
# executes it; the driver holds no /usr/bin/passt string); it is not a path
# fixed at build time. So the test gives libvirtd a PATH whose first entry is
# a per-run directory holding `passt` (a symlink to bin/passt.js, or a copy of
# another passt binary), and nothing else in the tree's PATH is called passt
# (checked here on every run).
#
# Upstream's passt isolates itself in a new user namespace, which the kernel
# refuses under chroot(2): so ./enter.sh uses a private mount namespace and
# pivot_root, like the Podman bed. What the tree needs mounted is mounted here in the caller's mount
# namespace:
#   - the root bound onto itself (pivot_root needs a mount point);
#   - proc and a fresh sysfs (QEMU and libvirt read both; no cgroup file
#     system: the session daemon then runs without cgroups);
#   - its own /dev (tmpfs + mknod, devpts with its own ptmx);
#   - tmpfs /run and /tmp (the test's per-run files go under /tmp, so that
#     the test reaches them from outside through $ROOT/tmp);
#   - the host's node binary, read-only, at /usr/local/bin/node (bin/passt.js
#     starts with `#!/usr/bin/env node`);
#   - this repository, READ-ONLY, at its own path (bin/passt.js, dist/, build/).
# Because the repository is bound inside, never delete the tree with a plain
# rm -rf: use `setup.sh purge`, which unmounts first.
#
# /etc/resolv.conf inside names only 127.0.0.1 (the test starts its own
# resolver there, in its private network namespace): that is the loopback
# resolver libvirt's passt finds. The host's resolver is copied in only while
# apt-get runs during the build.
#
# The unprivileged user "virt" runs the session daemon (libvirt's qemu:///session
# is what an unprivileged user gets; as root, libvirtd would be the system
# instance with its qemu user, cgroups and security drivers).
#
#   setup.sh           build if missing, mount; last line "ready: ROOT"
#   setup.sh mount     only mount
#   setup.sh umount    stop what runs inside the tree, unmount everything
#   setup.sh purge     umount, then delete the tree
#
# Run as root. Needs only Debian's mirror ($MIRROR) for the build; debootstrap
# is installed from the host's apt sources when missing. Serialized with flock.
set -euo pipefail
CACHE=${NODE_PASST_LIBVIRT_CACHE:-/var/cache/node-passt-libvirt}
ROOT=$CACHE/trixie
SUITE=trixie
MIRROR=${MIRROR:-http://deb.debian.org/debian}
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
NODE_BIN=$(readlink -f "${NODE_BIN:-$(command -v node)}")
PKGS="libvirt-daemon libvirt-daemon-driver-qemu libvirt-clients qemu-system-x86"
VUSER=virt
# A file at the top of the tree: says what the tree is and which packages it
# holds, and finds the processes running inside it (/proc/PID/root/$MARK).
MARK=.node-passt-libvirt

die() { echo "setup.sh: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "must run as root (it builds a chroot and mounts file systems)"
case "$ROOT" in /*/*) ;; *) die "refusing cache path '$ROOT'";; esac
case "$REPO/" in "$CACHE"/*) die "the repository ($REPO) must not be inside the cache ($CACHE)";; esac

mkdir -p "$CACHE"
if [ -z "${NODE_PASST_LIBVIRT_LOCKED:-}" ]; then # enter.sh may call back into us
  exec 9>"$CACHE/lock"
  flock -w 900 9 || die "timed out waiting for $CACHE/lock"
  export NODE_PASST_LIBVIRT_LOCKED=1
fi

mounts_under() { # mount points at or below $1, deepest first
  awk -v r="$1" '$5==r || index($5, r"/")==1 {print $5}' /proc/self/mountinfo | sort -r
}

umount_under() {
  local m
  for m in $(mounts_under "$1"); do umount -l "$m" 2>/dev/null || true; done
}

mnt() { # mnt <path-under-root> <mount args...>
  local t="$ROOT$1"; shift
  mkdir -p "$t"; mountpoint -q "$t" || mount "$@" "$t"
}

write_resolv_conf() {
  rm -f "$ROOT/etc/resolv.conf"
  printf '# node-passt libvirt test bed: the test resolver on the private topology host'"'"'s loopback\nnameserver 127.0.0.1\n' > "$ROOT/etc/resolv.conf"
}

do_mount() {
  mountpoint -q "$ROOT" || { mount --bind "$ROOT" "$ROOT"; mount --make-private "$ROOT"; }
  mnt /proc -t proc proc
  mnt /sys -t sysfs sysfs
  if ! mountpoint -q "$ROOT/dev"; then
    mnt /dev -t tmpfs -o mode=755,nosuid tmpfs
    local d="$ROOT/dev"
    mknod -m 666 "$d/null" c 1 3; mknod -m 666 "$d/zero" c 1 5; mknod -m 666 "$d/full" c 1 7
    mknod -m 666 "$d/random" c 1 8; mknod -m 666 "$d/urandom" c 1 9; mknod -m 666 "$d/tty" c 5 0
    mkdir -p "$d/net" "$d/pts" "$d/shm"; mknod -m 666 "$d/net/tun" c 10 200
    mount -t devpts -o newinstance,ptmxmode=0666,mode=620 devpts "$d/pts"
    ln -s pts/ptmx "$d/ptmx"; ln -s /proc/self/fd "$d/fd"
    ln -s /proc/self/fd/0 "$d/stdin"; ln -s /proc/self/fd/1 "$d/stdout"; ln -s /proc/self/fd/2 "$d/stderr"
    mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs "$d/shm"
  fi
  mnt /run -t tmpfs -o mode=755,nosuid,nodev tmpfs
  mnt /tmp -t tmpfs -o mode=1777,nosuid,nodev tmpfs
  mkdir -p "$ROOT/run/lock"
  [ -x "$NODE_BIN" ] || die "no node binary at '$NODE_BIN' (set NODE_BIN)"
  [ -e "$ROOT/usr/local/bin/node" ] || { mkdir -p "$ROOT/usr/local/bin"; touch "$ROOT/usr/local/bin/node"; }
  mountpoint -q "$ROOT/usr/local/bin/node" || mount --bind -o ro "$NODE_BIN" "$ROOT/usr/local/bin/node"
  # The session user runs our passt from the checkout: it must be able to enter its top
  # directory (a checkout made in `mktemp -d` is 0700). Only that directory's search bit
  # is added; what is inside keeps the modes git gave it.
  if [ "$(stat -c %A "$REPO" | cut -c10)" = - ]; then
    echo "setup.sh: adding o+x to $REPO so that the libvirt session user can run passt from it" >&2
    chmod o+x "$REPO"
  fi
  if ! mountpoint -q "$ROOT$REPO"; then
    mkdir -p "$ROOT$REPO"
    mount --rbind "$REPO" "$ROOT$REPO"
    mount --make-rslave "$ROOT$REPO"
    mount -o remount,bind,ro "$ROOT$REPO"
  fi
  write_resolv_conf
}

inside_pids() { # processes whose root is this tree
  local p
  for p in /proc/[0-9]*; do
    [ -e "$p/root/$MARK" ] && [ "$(stat -Lc %i "$p/root/$MARK" 2>/dev/null)" = "$(stat -c %i "$ROOT/$MARK")" ] && echo "${p#/proc/}"
  done 2>/dev/null || true
}

do_umount() {
  if mountpoint -q "$ROOT/proc" && [ -e "$ROOT/$MARK" ]; then
    local pids; pids=$(inside_pids)
    # shellcheck disable=SC2086
    [ -z "$pids" ] || kill -KILL $pids 2>/dev/null || true
  fi
  umount_under "$ROOT"
}

case "${1:-all}" in
  umount) [ -d "$ROOT" ] && do_umount; exit 0 ;;
  purge)
    [ -d "$ROOT" ] && do_umount
    umount_under "$ROOT.new"
    [ -z "$(mounts_under "$ROOT"; mounts_under "$ROOT.new")" ] || die "still mounted under $ROOT; not deleting"
    rm -rf --one-file-system "$ROOT" "$ROOT.new"; exit 0 ;;
  mount) [ -e "$ROOT/$MARK" ] || die "no test bed at $ROOT: run $0 first"; do_mount; exit 0 ;;
  all) ;;
  *) die "usage: $0 [mount|umount|purge]" ;;
esac

t0=$(date +%s)
step() { echo "setup.sh: [$(( $(date +%s) - t0 ))s] $*"; }

# 1. The base system, built beside the final path and moved there when complete.
if [ ! -x "$ROOT/usr/bin/apt-get" ]; then
  if ! command -v debootstrap >/dev/null; then
    step "installing debootstrap"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -qq -o Dpkg::Use-Pty=0 --no-install-recommends debootstrap ||
      { apt-get update -qq && apt-get install -y -qq -o Dpkg::Use-Pty=0 --no-install-recommends debootstrap; } ||
      die "cannot install debootstrap with apt-get"
  fi
  [ ! -e "$ROOT.new" ] || { umount_under "$ROOT.new"; rm -rf --one-file-system "$ROOT.new"; }
  [ ! -e "$ROOT" ] || { umount_under "$ROOT"; rm -rf --one-file-system "$ROOT"; }
  step "debootstrap $SUITE from $MIRROR"
  debootstrap --variant=minbase "$SUITE" "$ROOT.new" "$MIRROR" ||
    { umount_under "$ROOT.new"; rm -rf --one-file-system "$ROOT.new"
      die "debootstrap $SUITE from $MIRROR failed (is the mirror reachable?)"; }
  umount_under "$ROOT.new"
  mv "$ROOT.new" "$ROOT"
fi

# 2. Packages (the marker file lists them; a changed list installs again).
if [ "$(head -1 "$ROOT/$MARK" 2>/dev/null)" != "packages: $PKGS" ]; then
  rm -f "$ROOT/$MARK"; touch "$ROOT/$MARK"
  do_mount
  step "apt-get install $PKGS"
  rm -f "$ROOT/etc/resolv.conf"; cp -L /etc/resolv.conf "$ROOT/etc/resolv.conf" 2>/dev/null || true
  printf 'Acquire::Languages "none";\nAPT::Install-Recommends "false";\n' > "$ROOT/etc/apt/apt.conf.d/90node-passt"
  # Debian's passt must never come in (the test must run ours)
  mkdir -p "$ROOT/etc/apt/preferences.d"
  printf 'Package: passt\nPin: release *\nPin-Priority: -1\n' > "$ROOT/etc/apt/preferences.d/90node-passt-no-passt"
  # no service starts inside the tree while packages install
  printf '#!/bin/sh\nexit 101\n' > "$ROOT/usr/sbin/policy-rc.d"; chmod 755 "$ROOT/usr/sbin/policy-rc.d"
  E="$HERE/enter.sh"
  "$E" env DEBIAN_FRONTEND=noninteractive apt-get -q -o Dpkg::Use-Pty=0 update ||
    { write_resolv_conf; die "apt-get update in the $SUITE tree failed (is $MIRROR reachable?)"; }
  "$E" env DEBIAN_FRONTEND=noninteractive apt-get -q -o Dpkg::Use-Pty=0 install -y $PKGS ||
    { write_resolv_conf; die "apt-get install $PKGS in the $SUITE tree failed"; }
  "$E" apt-get clean
  write_resolv_conf
  # the session user
  "$E" sh -c "id $VUSER >/dev/null 2>&1 || useradd -m -s /bin/sh $VUSER"
  printf 'packages: %s\nnode-passt libvirt test bed (test/libvirt/setup.sh); delete with setup.sh purge, never rm -rf\n' "$PKGS" > "$ROOT/$MARK"
fi
do_mount
E="$HERE/enter.sh"

# 3. Checks: the tools are there, and no passt but the one the test provides.
for b in /usr/sbin/libvirtd /usr/bin/virsh /usr/bin/qemu-system-x86_64; do
  [ -x "$ROOT$b" ] || die "the tree has no $b: purge it ($0 purge) and build again"
done
if "$E" dpkg-query -W -f '${Status}\n' passt 2>/dev/null | grep -q 'install ok installed'; then
  die "Debian's passt is installed in the tree: purge it ($0 purge) and build again"
fi
for d in /usr/local/sbin /usr/local/bin /usr/sbin /usr/bin /sbin /bin; do
  [ ! -e "$ROOT$d/passt" ] || die "the tree has a passt at $d/passt: libvirt could run it instead of the test's"
done
step "libvirt $("$E" dpkg-query -W -f '${Version}' libvirt-daemon-driver-qemu), qemu $("$E" dpkg-query -W -f '${Version}' qemu-system-x86) ready; session user $VUSER uid $("$E" id -u $VUSER)"
echo "ready: $ROOT"
