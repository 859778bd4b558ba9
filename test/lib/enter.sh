#!/bin/bash
# test/lib/enter.sh ROOT SETUP [-u USER] [CMD...]: what test/podman/enter.sh and
# test/libvirt/enter.sh do (they call it with their tree and setup.sh): run CMD
# (default bash) inside the test bed at ROOT, mounting it with `SETUP mount`
# first when needed, as root or as USER, with a clean environment ($ENTER_ENV
# adds variables; CMD can be `env VAR=... PROGRAM` to set more).
#
# A private mount namespace and pivot_root, NOT chroot(2): the kernel refuses
# unshare(CLONE_NEWUSER) to a chrooted process, which breaks rootless Podman
# ("cannot clone: Operation not permitted"), pasta and passt, which isolate
# themselves in a new user namespace. The network namespace is the caller's:
# run this from a private network namespace to keep the test's traffic inside
# it (the e2e tests do, with nsenter -n).
set -e
ROOT=$1 SETUP=$2; shift 2
U=root
if [ "${1:-}" = -u ]; then U=$2; shift 2; fi
[ $# -gt 0 ] || set -- /bin/bash
mountpoint -q "$ROOT/proc" || "$SETUP" mount
exec unshare -m --propagation private -- /bin/sh -ec '
  R=$1 U=$2 X=$3; shift 3
  cd "$R"; mkdir -p .oldroot; pivot_root . .oldroot; cd /
  umount -l /.oldroot; mount --make-rshared /
  E="PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin TERM=${TERM:-xterm} $X"
  if [ "$U" = root ]; then
    exec env -i $E HOME=/root USER=root LOGNAME=root "$@"
  fi
  uid=$(id -u "$U"); home=$(getent passwd "$U" | cut -d: -f6)
  mkdir -p /run/user/$uid; chown "$U:" /run/user/$uid; chmod 700 /run/user/$uid
  cd "$home"
  exec setpriv --reuid="$U" --regid="$U" --init-groups --reset-env \
    env -i $E HOME="$home" USER="$U" LOGNAME="$U" XDG_RUNTIME_DIR=/run/user/$uid "$@"
' sh "$ROOT" "$U" "${ENTER_ENV:-}" "$@"
