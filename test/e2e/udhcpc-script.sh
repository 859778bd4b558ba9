#!/bin/sh
# udhcpc script for tests: configure the interface and print what was given.
case "$1" in
  bound|renew)
    ip addr add "$ip/$mask" dev "$interface"
    [ -n "$router" ] && ip route add default via "$router" dev "$interface"
    echo "DHCP ip=$ip mask=$mask router=$router mtu=$mtu dns=$dns domain=$domain search=$search"
    ;;
esac
