#!/bin/sh
# udhcpc event script of the test guest (/etc/dhcp4.sh): configure what the
# DHCP server gave and print it on one line that tests parse:
#   DHCP4 ip=A mask=PREFIXLEN router=GW mtu=MTU dns=LIST domain=D search=LIST
case "$1" in
  deconfig)
    ip -4 addr flush dev "$interface"
    ;;
  bound|renew)
    [ -n "$mtu" ] && ip link set dev "$interface" mtu "$mtu"
    ip addr add "$ip/$mask" dev "$interface"
    for r in $router; do
      ip route add default via "$r" dev "$interface"
      break
    done
    : > /etc/resolv.conf
    for d in $dns; do echo "nameserver $d" >> /etc/resolv.conf; done
    echo "DHCP4 ip=$ip mask=$mask router=$router mtu=$mtu dns=$dns domain=$domain search=$search"
    ;;
esac
exit 0
