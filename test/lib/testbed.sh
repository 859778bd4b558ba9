# test/lib/testbed.sh: the part of a Debian trixie test bed that test/podman/setup.sh
# and test/libvirt/setup.sh share; each sources it and then calls `testbed_main "$@"`.
#
# A test bed is a debootstrapped Debian tree in a cache OUTSIDE the repository
# ($CACHE/trixie), with some packages installed, reused when present, and
# mounted for use (see do_mount) in the caller's mount namespace; enter.sh
# (test/lib/enter.sh) runs commands in it through pivot_root. The file $MARK
# at the top of the tree says what the tree is and which packages it holds
# (a changed package list installs again), and finds the processes running
# inside it (/proc/PID/root/$MARK). Because the repository is bound inside,
# the tree is never deleted with a plain rm -rf: `setup.sh purge` unmounts first.
#
# The sourcing script sets:
#   BED       short name (podman, libvirt): messages, the marker, the lock variable
#   CACHE     the cache directory
#   PKGS      the packages to install (without recommends)
#   HERE      the directory of the sourcing script (holds enter.sh)
#   RUNNER    who runs this checkout inside the tree, for a message
# and may define these hooks:
#   bed_mount        more mounts, after the common ones
#   bed_umount       before the processes inside are killed (a clean stop)
#   bed_apt_prepare  before apt-get update (pins, policy-rc.d)
#   bed_install      after the packages are installed (users, configuration)
#
# Run as root. Needs only Debian's mirror ($MIRROR) for the build; debootstrap
# is installed from the host's apt sources when missing. Serialized with flock
# on $CACHE/lock.
set -euo pipefail
ROOT=$CACHE/trixie
SUITE=trixie
MIRROR=${MIRROR:-http://deb.debian.org/debian}
REPO=$(cd "$HERE/../.." && pwd)
NODE_BIN=$(readlink -f "${NODE_BIN:-$(command -v node)}")
MARK=.node-passt-$BED
E="$HERE/enter.sh"

die() { echo "setup.sh: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "must run as root (it builds a chroot and mounts file systems)"
case "$ROOT" in /*/*) ;; *) die "refusing cache path '$ROOT'";; esac
case "$REPO/" in "$CACHE"/*) die "the repository ($REPO) must not be inside the cache ($CACHE)";; esac

mkdir -p "$CACHE"
LOCKED_VAR=NODE_PASST_${BED^^}_LOCKED
if [ -z "${!LOCKED_VAR:-}" ]; then # enter.sh may call back into us
  exec 9>"$CACHE/lock"
  flock -w 900 9 || die "timed out waiting for $CACHE/lock"
  export "$LOCKED_VAR=1"
fi

t0=$(date +%s)
step() { echo "setup.sh: [$(( $(date +%s) - t0 ))s] $*"; }
has() { declare -F "$1" >/dev/null; }

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

# /etc/resolv.conf inside names only 127.0.0.1: the tests start their own
# resolver there, in their private network namespace. The host's resolver is
# copied in only while apt-get runs during the build.
write_resolv_conf() {
  rm -f "$ROOT/etc/resolv.conf"
  printf '# node-passt %s test bed: the test resolver on the private topology'"'"'s loopback\nnameserver 127.0.0.1\n' "$BED" > "$ROOT/etc/resolv.conf"
}

# What the tree needs mounted:
#   - the root bound onto itself (pivot_root needs a mount point);
#   - proc and a fresh sysfs;
#   - its own /dev (tmpfs + mknod) where /dev/net/tun is 0666, so that an
#     unprivileged pasta or passt can open it without touching the host's
#     /dev, with devpts and its own ptmx;
#   - tmpfs /run and /tmp;
#   - the host's node binary, read-only, at /usr/local/bin/node (bin/*.js
#     start with `#!/usr/bin/env node`);
#   - this repository, READ-ONLY, at its own path (bin/, dist/, build/).
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
  # The unprivileged user inside runs this checkout: it must be able to enter its top
  # directory (a checkout made in `mktemp -d` is 0700). Only that directory's search bit
  # is added; what is inside keeps the modes git gave it.
  if [ "$(stat -c %A "$REPO" | cut -c10)" = - ]; then
    echo "setup.sh: adding o+x to $REPO so that $RUNNER can run it" >&2
    chmod o+x "$REPO"
  fi
  if ! mountpoint -q "$ROOT$REPO"; then
    mkdir -p "$ROOT$REPO"
    mount --rbind "$REPO" "$ROOT$REPO"
    mount --make-rslave "$ROOT$REPO"
    mount -o remount,bind,ro "$ROOT$REPO"
  fi
  if has bed_mount; then bed_mount; fi
  write_resolv_conf
}

inside_pids() { # processes whose root is this tree
  local p
  for p in /proc/[0-9]*; do
    [ -e "$p/root/$MARK" ] && [ "$(stat -Lc %i "$p/root/$MARK" 2>/dev/null)" = "$(stat -c %i "$ROOT/$MARK")" ] && echo "${p#/proc/}"
  done 2>/dev/null || true
}

do_umount() {
  # Runs that use the tree without owning it (test/e2e/vhost-user.test.ts and
  # bench/vhost.js use the libvirt bed's QEMU) hold a shared lock on
  # $CACHE/users meanwhile (test/lib/bedlock.js): the tree is then left
  # mounted, not pulled from under them with their processes killed.
  exec 8>>"$CACHE/users"
  if ! flock -n -x 8; then
    echo "setup.sh: the $BED test bed is in use by another run (a shared lock on $CACHE/users): left mounted"
    exec 8>&-
    return 0
  fi
  if mountpoint -q "$ROOT/proc" && [ -e "$ROOT/$MARK" ]; then
    if has bed_umount; then bed_umount; fi
    local pids; pids=$(inside_pids)
    # shellcheck disable=SC2086
    [ -z "$pids" ] || kill -KILL $pids 2>/dev/null || true
  fi
  umount_under "$ROOT"
  exec 8>&-
}

# testbed_main [all|mount|umount|purge]: returns (with the tree built and
# mounted) only for "all"; the sourcing script then finishes its own set-up.
testbed_main() {
  case "${1:-all}" in
    umount) [ ! -d "$ROOT" ] || do_umount; exit 0 ;;
    purge)
      [ ! -d "$ROOT" ] || do_umount
      umount_under "$ROOT.new"
      [ -z "$(mounts_under "$ROOT"; mounts_under "$ROOT.new")" ] || die "still mounted under $ROOT; not deleting"
      rm -rf --one-file-system "$ROOT" "$ROOT.new"; exit 0 ;;
    mount) [ -e "$ROOT/$MARK" ] || die "no test bed at $ROOT: run $HERE/setup.sh first"; do_mount; exit 0 ;;
    all) ;;
    *) die "usage: setup.sh [mount|umount|purge]" ;;
  esac

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
    if has bed_apt_prepare; then bed_apt_prepare; fi
    # shellcheck disable=SC2086
    "$E" env DEBIAN_FRONTEND=noninteractive apt-get -q -o Dpkg::Use-Pty=0 update ||
      { write_resolv_conf; die "apt-get update in the $SUITE tree failed (is $MIRROR reachable?)"; }
    # shellcheck disable=SC2086
    "$E" env DEBIAN_FRONTEND=noninteractive apt-get -q -o Dpkg::Use-Pty=0 install -y $PKGS ||
      { write_resolv_conf; die "apt-get install $PKGS in the $SUITE tree failed"; }
    "$E" apt-get clean
    write_resolv_conf
    if has bed_install; then bed_install; fi
    printf 'packages: %s\nnode-passt %s test bed (test/%s/setup.sh); delete with setup.sh purge, never rm -rf\n' "$PKGS" "$BED" "$BED" > "$ROOT/$MARK"
  fi
  do_mount
}
