#!/bin/bash
# test/podman/setup.sh: the Podman 5 test bed for test/e2e/podman.test.ts.
#
# Theory of operation
# -------------------
# Podman 5 is not in bookworm, so the test runs it in a Debian trixie tree
# (debootstrap minbase + podman, crun, conmon, netavark, catatonit, uidmap,
# busybox-static), kept in a cache OUTSIDE the repository
# ($NODE_PASST_PODMAN_CACHE, default /var/cache/node-passt-podman; the tree is
# $CACHE/trixie) and reused when present: about a minute and a half to build,
# well under a second to mount after that. The real pasta (Debian's passt) is
# deliberately NOT installed, so a Podman that did not find our pasta fails
# instead of silently using another one.
#
# Podman cannot run under chroot(2) (the kernel refuses CLONE_NEWUSER to a
# chrooted process), so ./enter.sh uses a private mount namespace and
# pivot_root. What the tree needs mounted is mounted here in the caller's
# mount namespace:
#   - the root bound onto itself (pivot_root and containers/storage need a mount point);
#   - proc, a fresh sysfs with only cgroup2 at /sys/fs/cgroup (crun refuses the
#     hybrid cgroup layout some hosts have);
#   - its own /dev (tmpfs + mknod) where /dev/net/tun is 0666, so that a
#     rootless pasta can open it without touching the host's /dev;
#   - tmpfs /run and /tmp;
#   - the host's node binary, read-only, at /usr/local/bin/node (bin/pasta.js
#     starts with `#!/usr/bin/env node`);
#   - this repository, READ-ONLY, at its own path (bin/pasta.js, dist/, build/).
# Because the repository is bound inside, never delete the tree with a plain
# rm -rf: use `setup.sh purge`, which unmounts first.
#
# /etc/resolv.conf inside names only 127.0.0.1 (the test starts its own
# resolver there, in its private network namespace); the host's resolver is
# copied in only while apt-get runs during the build.
#
#   setup.sh           build if missing, mount, make the image localhost/node-passt-bb:1
#                      (root's and user pod's stores); last line "ready: ROOT"
#   setup.sh mount     only mount
#   setup.sh umount    stop what runs inside (rootless pause process), unmount everything
#   setup.sh purge     umount, then delete the tree
#
# Run as root. Needs only Debian's mirror ($MIRROR) for the build; debootstrap
# is installed from the host's apt sources when missing. Serialized with flock.
set -euo pipefail
CACHE=${NODE_PASST_PODMAN_CACHE:-/var/cache/node-passt-podman}
ROOT=$CACHE/trixie
SUITE=trixie
MIRROR=${MIRROR:-http://deb.debian.org/debian}
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
NODE_BIN=$(readlink -f "${NODE_BIN:-$(command -v node)}")
PKGS="podman crun conmon netavark catatonit uidmap busybox-static"
IMAGE=localhost/node-passt-bb:1
# A file at the top of the tree: says what the tree is and which packages it
# holds, and finds the processes running inside it (/proc/PID/root/$MARK).
MARK=.node-passt-podman

die() { echo "setup.sh: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "must run as root (it builds a chroot and mounts file systems)"
case "$ROOT" in /*/*) ;; *) die "refusing cache path '$ROOT'";; esac
case "$REPO/" in "$CACHE"/*) die "the repository ($REPO) must not be inside the cache ($CACHE)";; esac

mkdir -p "$CACHE"
if [ -z "${NODE_PASST_PODMAN_LOCKED:-}" ]; then # enter.sh may call back into us
  exec 9>"$CACHE/lock"
  flock -w 600 9 || die "timed out waiting for $CACHE/lock"
  export NODE_PASST_PODMAN_LOCKED=1
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
  printf '# node-passt podman test bed: the test resolver in the private topology\nnameserver 127.0.0.1\n' > "$ROOT/etc/resolv.conf"
}

do_mount() {
  mountpoint -q "$ROOT" || { mount --bind "$ROOT" "$ROOT"; mount --make-private "$ROOT"; }
  mnt /proc -t proc proc
  mnt /sys -t sysfs sysfs
  mnt /sys/fs/cgroup -t cgroup2 cgroup2
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
  # The rootless user runs our pasta from the checkout: it must be able to enter its top
  # directory (a checkout made in `mktemp -d` is 0700). Only that directory's search bit
  # is added; what is inside keeps the modes git gave it.
  if [ "$(stat -c %A "$REPO" | cut -c10)" = - ]; then
    echo "setup.sh: adding o+x to $REPO so that the rootless Podman user can run pasta from it" >&2
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
    # the rootless pause process pins the mounts; stop it the supported way first
    timeout 30 "$HERE/enter.sh" -u pod podman system migrate >/dev/null 2>&1 || true
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
  E="$HERE/enter.sh"
  "$E" env DEBIAN_FRONTEND=noninteractive apt-get -q -o Dpkg::Use-Pty=0 update ||
    { write_resolv_conf; die "apt-get update in the $SUITE tree failed (is $MIRROR reachable?)"; }
  "$E" env DEBIAN_FRONTEND=noninteractive apt-get -q -o Dpkg::Use-Pty=0 install -y $PKGS ||
    { write_resolv_conf; die "apt-get install $PKGS in the $SUITE tree failed"; }
  "$E" apt-get clean
  write_resolv_conf

  # podman without systemd or journald
  mkdir -p "$ROOT/etc/containers/containers.conf.d"
  cat > "$ROOT/etc/containers/containers.conf.d/50-node-passt.conf" <<'EOF'
[containers]
log_driver = "k8s-file"
[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
EOF
  # the rootless user, with subordinate ids
  "$E" sh -c 'id pod >/dev/null 2>&1 || useradd -m -s /bin/sh pod'
  grep -q '^pod:' "$ROOT/etc/subuid" 2>/dev/null || echo 'pod:100000:65536' >> "$ROOT/etc/subuid"
  grep -q '^pod:' "$ROOT/etc/subgid" 2>/dev/null || echo 'pod:100000:65536' >> "$ROOT/etc/subgid"
  printf 'packages: %s\nnode-passt podman test bed (test/podman/setup.sh); delete with setup.sh purge, never rm -rf\n' "$PKGS" > "$ROOT/$MARK"
fi
do_mount
E="$HERE/enter.sh"

# 3. The container image: static busybox with its applets, /www/index.html, and a static
#    UDP echo server (udpecho.c: busybox's nc cannot listen on UDP). An image from before
#    udpecho was added is rebuilt.
TAR=$ROOT/var/tmp/node-passt-bb.tar
if [ ! -s "$TAR" ] || ! tar -tf "$TAR" ./bin/udpecho >/dev/null 2>&1; then
  step "building $IMAGE"
  r=$(mktemp -d "$ROOT/var/tmp/bb.XXXXXX")
  mkdir -p "$r/bin" "$r/etc" "$r/www" "$r/tmp" "$r/root"
  cp "$ROOT/bin/busybox" "$r/bin/busybox"
  cc -static -O2 -o "$r/bin/udpecho" "$HERE/udpecho.c" || die "cannot build udpecho (cc -static: needs gcc and libc6-dev)"
  for a in $(chroot "$ROOT" /bin/busybox --list); do [ "$a" = busybox ] || ln -s busybox "$r/bin/$a"; done
  echo "root:x:0:0:root:/root:/bin/sh" > "$r/etc/passwd"; echo "root:x:0:" > "$r/etc/group"
  echo "hello from bb" > "$r/www/index.html"
  tar -C "$r" -cf "$TAR.tmp" . && chmod 644 "$TAR.tmp" && mv "$TAR.tmp" "$TAR"
  rm -rf --one-file-system "$r"
  for u in root pod; do "$E" -u $u podman rmi -f "$IMAGE" >/dev/null 2>&1 || true; done
fi
for u in root pod; do
  "$E" -u $u sh -c "podman image exists $IMAGE || podman import -q --change CMD=/bin/sh /var/tmp/node-passt-bb.tar $IMAGE >/dev/null" ||
    die "podman import as $u failed"
done
# no rootless pause process left behind in the caller's network namespace
"$E" -u pod podman system migrate >/dev/null 2>&1 || true
step "podman $("$E" dpkg-query -W -f '${Version}' podman) ready"
echo "ready: $ROOT"
