#!/bin/bash
# test/podman/enter.sh [-u USER] [CMD...]: run CMD (default bash) inside the
# podman test bed that ./setup.sh builds ($NODE_PASST_PODMAN_CACHE/trixie,
# default /var/cache/node-passt-podman/trixie), as root or as USER, with a clean
# environment: see test/lib/enter.sh.
HERE=$(cd "$(dirname "$0")" && pwd)
CACHE=${NODE_PASST_PODMAN_CACHE:-/var/cache/node-passt-podman}
ENTER_ENV=PODMAN_IGNORE_CGROUPSV1_WARNING=1 exec "$HERE/../lib/enter.sh" "$CACHE/trixie" "$HERE/setup.sh" "$@"
