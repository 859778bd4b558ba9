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
# The tree is built, mounted and entered as the Podman bed is
# (test/lib/testbed.sh, test/lib/enter.sh): upstream's passt isolates itself
# in a new user namespace, which the kernel refuses under chroot(2). QEMU and
# libvirt read the common proc and sysfs; there is no cgroup file system, so
# the session daemon runs without cgroups. The test's per-run files go under
# the tree's /tmp, which the test reaches from outside through $ROOT/tmp. The
# tree's /etc/resolv.conf names only 127.0.0.1, the test's own resolver: that
# is the loopback resolver libvirt's passt finds.
#
# The unprivileged user "virt" runs the session daemon (libvirt's qemu:///session
# is what an unprivileged user gets; as root, libvirtd would be the system
# instance with its qemu user, cgroups and security drivers).
#
#   setup.sh           build if missing, mount; last line "ready: ROOT"
#   setup.sh mount     only mount
#   setup.sh umount    stop what runs inside the tree, unmount everything
#   setup.sh purge     umount, then delete the tree
BED=libvirt
CACHE=${NODE_PASST_LIBVIRT_CACHE:-/var/cache/node-passt-libvirt}
PKGS="libvirt-daemon libvirt-daemon-driver-qemu libvirt-clients qemu-system-x86"
HERE=$(cd "$(dirname "$0")" && pwd)
RUNNER="the libvirt session user"
VUSER=virt
# shellcheck source=../lib/testbed.sh
. "$HERE/../lib/testbed.sh"

bed_apt_prepare() {
  # Debian's passt must never come in (the test must run ours)
  mkdir -p "$ROOT/etc/apt/preferences.d"
  printf 'Package: passt\nPin: release *\nPin-Priority: -1\n' > "$ROOT/etc/apt/preferences.d/90node-passt-no-passt"
  # no service starts inside the tree while packages install
  printf '#!/bin/sh\nexit 101\n' > "$ROOT/usr/sbin/policy-rc.d"; chmod 755 "$ROOT/usr/sbin/policy-rc.d"
}

bed_install() {
  # the session user
  "$E" sh -c "id $VUSER >/dev/null 2>&1 || useradd -m -s /bin/sh $VUSER"
}

testbed_main "$@"

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
