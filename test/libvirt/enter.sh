#!/bin/bash
# test/libvirt/enter.sh [-u USER] [CMD...]: run CMD (default bash) inside the
# libvirt test bed that ./setup.sh builds ($NODE_PASST_LIBVIRT_CACHE/trixie,
# default /var/cache/node-passt-libvirt/trixie), as root or as USER, with a clean
# environment: see test/lib/enter.sh.
HERE=$(cd "$(dirname "$0")" && pwd)
CACHE=${NODE_PASST_LIBVIRT_CACHE:-/var/cache/node-passt-libvirt}
exec "$HERE/../lib/enter.sh" "$CACHE/trixie" "$HERE/setup.sh" "$@"
