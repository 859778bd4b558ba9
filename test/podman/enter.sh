#!/bin/bash
# test/podman/enter.sh [-u USER] [CMD...]: run CMD (default bash) inside the
# Podman test bed that ./setup.sh builds ($NODE_PASST_PODMAN_CACHE/trixie,
# default /var/cache/node-passt-podman/trixie), as root or as USER (for
# example "pod", the rootless user), with a clean environment.
#
# A private mount namespace and pivot_root, NOT chroot(2): the kernel refuses
# unshare(CLONE_NEWUSER) to a chrooted process, which breaks rootless Podman
# ("cannot clone: Operation not permitted") and pasta. The network namespace
# is the caller's: run this from a private network namespace to keep the
# containers' traffic inside it (test/e2e/podman.test.ts does).
set -e
CACHE=${NODE_PASST_PODMAN_CACHE:-/var/cache/node-passt-podman}
ROOT=$CACHE/trixie
U=root
if [ "${1:-}" = -u ]; then U=$2; shift 2; fi
[ $# -gt 0 ] || set -- /bin/bash
mountpoint -q "$ROOT/proc" || "$(dirname "$0")/setup.sh" mount
exec unshare -m --propagation private -- /bin/sh -ec '
  R=$1 U=$2; shift 2
  cd "$R"; mkdir -p .oldroot; pivot_root . .oldroot; cd /
  umount -l /.oldroot; mount --make-rshared /
  E="PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin TERM=${TERM:-xterm} PODMAN_IGNORE_CGROUPSV1_WARNING=1"
  if [ "$U" = root ]; then
    exec env -i $E HOME=/root USER=root LOGNAME=root "$@"
  fi
  uid=$(id -u "$U"); home=$(getent passwd "$U" | cut -d: -f6)
  mkdir -p /run/user/$uid; chown "$U:" /run/user/$uid; chmod 700 /run/user/$uid
  cd "$home"
  exec setpriv --reuid="$U" --regid="$U" --init-groups --reset-env \
    env -i $E HOME="$home" USER="$U" LOGNAME="$U" XDG_RUNTIME_DIR=/run/user/$uid "$@"
' sh "$ROOT" "$U" "$@"
