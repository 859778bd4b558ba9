#!/bin/bash
# test/libvirt/enter.sh [-u USER] [CMD...]: run CMD (default bash) inside the
# libvirt test bed that ./setup.sh builds ($NODE_PASST_LIBVIRT_CACHE/trixie,
# default /var/cache/node-passt-libvirt/trixie), as root or as USER (for
# example "virt", the libvirt session user), with a clean environment (CMD can
# be `env VAR=... PROGRAM` to set more).
#
# A private mount namespace and pivot_root, NOT chroot(2): the kernel refuses
# unshare(CLONE_NEWUSER) to a chrooted process, and passt(1) isolates itself
# in a new user namespace. The network namespace is the caller's: run this
# from a private network namespace to keep the guests' traffic inside it
# (test/e2e/libvirt.test.ts does, with nsenter -n).
set -e
CACHE=${NODE_PASST_LIBVIRT_CACHE:-/var/cache/node-passt-libvirt}
ROOT=$CACHE/trixie
U=root
if [ "${1:-}" = -u ]; then U=$2; shift 2; fi
[ $# -gt 0 ] || set -- /bin/bash
mountpoint -q "$ROOT/proc" || "$(dirname "$0")/setup.sh" mount
exec unshare -m --propagation private -- /bin/sh -ec '
  R=$1 U=$2; shift 2
  cd "$R"; mkdir -p .oldroot; pivot_root . .oldroot; cd /
  umount -l /.oldroot; mount --make-rshared /
  E="PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin TERM=${TERM:-xterm}"
  if [ "$U" = root ]; then
    exec env -i $E HOME=/root USER=root LOGNAME=root "$@"
  fi
  uid=$(id -u "$U"); home=$(getent passwd "$U" | cut -d: -f6)
  mkdir -p /run/user/$uid; chown "$U:" /run/user/$uid; chmod 700 /run/user/$uid
  cd "$home"
  exec setpriv --reuid="$U" --regid="$U" --init-groups --reset-env \
    env -i $E HOME="$home" USER="$U" LOGNAME="$U" XDG_RUNTIME_DIR=/run/user/$uid "$@"
' sh "$ROOT" "$U" "$@"
