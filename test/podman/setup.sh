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
# well under a second to mount after that. How the tree is built, mounted and
# entered is shared with the libvirt bed: test/lib/testbed.sh and
# test/lib/enter.sh. The real pasta (Debian's passt) is deliberately NOT
# installed, so a Podman that did not find our pasta fails instead of
# silently using another one.
#
# Besides the common mounts, the tree gets a cgroup2 file system alone at
# /sys/fs/cgroup (crun refuses the hybrid cgroup layout some hosts have).
# Podman runs without systemd or journald (containers.conf.d/50-node-passt.conf),
# and the unprivileged user "pod", with subordinate ids, runs rootless Podman.
#
#   setup.sh           build if missing, mount, make the image localhost/node-passt-bb:1
#                      (root's and user pod's stores); last line "ready: ROOT"
#   setup.sh mount     only mount
#   setup.sh umount    stop what runs inside (rootless pause process), unmount everything
#   setup.sh purge     umount, then delete the tree
BED=podman
CACHE=${NODE_PASST_PODMAN_CACHE:-/var/cache/node-passt-podman}
PKGS="podman crun conmon netavark catatonit uidmap busybox-static"
HERE=$(cd "$(dirname "$0")" && pwd)
RUNNER="the rootless Podman user"
IMAGE=localhost/node-passt-bb:1
# shellcheck source=../lib/testbed.sh
. "$HERE/../lib/testbed.sh"

bed_mount() { mnt /sys/fs/cgroup -t cgroup2 cgroup2; }

bed_umount() {
  # the rootless pause process pins the mounts; stop it the supported way first
  timeout 30 "$E" -u pod podman system migrate >/dev/null 2>&1 || true
}

bed_install() {
  # podman without systemd or journald
  mkdir -p "$ROOT/etc/containers/containers.conf.d"
  cat > "$ROOT/etc/containers/containers.conf.d/50-node-passt.conf" <<'CONF'
[containers]
log_driver = "k8s-file"
[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
CONF
  # the rootless user, with subordinate ids
  "$E" sh -c 'id pod >/dev/null 2>&1 || useradd -m -s /bin/sh pod'
  grep -q '^pod:' "$ROOT/etc/subuid" 2>/dev/null || echo 'pod:100000:65536' >> "$ROOT/etc/subuid"
  grep -q '^pod:' "$ROOT/etc/subgid" 2>/dev/null || echo 'pod:100000:65536' >> "$ROOT/etc/subgid"
}

testbed_main "$@"

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
