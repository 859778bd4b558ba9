#!/bin/busybox sh
# /init of the test guest's initramfs (built by build.js; run by guest.js).
#
# Theory of operation: the kernel runs this as PID 1 with /dev/console on the
# serial port (console=ttyS0), which QEMU connects to its stdio. It mounts the
# pseudo file systems, loads the virtio-net driver (modules listed in
# /etc/modules.order by build.js, dependencies first), turns IPv6 duplicate
# address detection and the router-solicitation delay off so that SLAAC from
# passt's router advertisements is immediate, brings eth0 up, and then runs the
# test's script: /test.sh (guest.js appends it to the initramfs as a second
# cpio archive), or else the base64 shell text of `guestcmd=` on the kernel
# command line. The script's output goes to the console between two marker
# lines that guest.js looks for:
#
#   @@GUEST-BEGIN@@
#   ...whatever the script prints...
#   @@GUEST-END rc=N@@
#
# and the guest powers off (QEMU runs with -no-reboot, so a panic also ends
# it). The script's stdin is the console: guest.js can send it lines.

/bin/busybox mkdir -p /proc /sys /dev /tmp /run /sbin /usr/bin /usr/sbin /var/run /etc
/bin/busybox --install -s
export PATH=/sbin:/bin:/usr/sbin:/usr/bin
export HOME=/ TERM=dumb

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mount -t tmpfs tmpfs /tmp
# Only emergencies from the kernel on the console from now on: the output is parsed.
dmesg -n 1
stty -echo -onlcr 2>/dev/null

fail() {
  echo "@@GUEST-BEGIN@@"
  echo "init: $*"
  echo "@@GUEST-END rc=125@@"
  poweroff -f
}

echo 0 > /proc/sys/net/ipv6/conf/all/accept_dad
echo 0 > /proc/sys/net/ipv6/conf/default/accept_dad
echo 0 > /proc/sys/net/ipv6/conf/default/router_solicitation_delay 2>/dev/null
ip link set lo up

if [ -f /etc/modules.order ]; then
  while read -r module; do
    [ -z "$module" ] && continue
    insmod "/lib/modules/$module" || fail "cannot load $module"
  done < /etc/modules.order
fi

i=0
while [ ! -e /sys/class/net/eth0 ]; do
  i=$((i + 1))
  [ $i -gt 200 ] && fail "no eth0 (interfaces: $(ls /sys/class/net | tr '\n' ' '))"
  sleep 0.05
done
ip link set eth0 up || fail "cannot bring eth0 up"

if [ ! -f /test.sh ]; then
  for arg in $(cat /proc/cmdline); do
    case "$arg" in
      guestcmd=*) echo "${arg#guestcmd=}" | base64 -d > /test.sh ;;
    esac
  done
fi
[ -f /test.sh ] || fail "no /test.sh and no guestcmd= on the kernel command line"

cd /tmp
echo "@@GUEST-BEGIN@@"
sh /test.sh < /dev/console > /dev/console 2>&1
echo "@@GUEST-END rc=$?@@"
sync
poweroff -f
