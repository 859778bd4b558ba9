#!/bin/sh
# udhcpc6 event script of the test guest (/etc/dhcp6.sh): add the address the
# DHCPv6 server gave and print it on one line that tests parse:
#   DHCP6 ip=A dns=LIST search=LIST
case "$1" in
  bound|renew)
    ip -6 addr add "$ipv6/128" dev "$interface" 2>/dev/null
    echo "DHCP6 ip=$ipv6 dns=$dns search=$search"
    ;;
esac
exit 0
