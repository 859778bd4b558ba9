// tap_create (tap.h): plain syscalls, no Node-API, so that node-passt-nsholder
// (native/nsholder.cc) links it too.
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>

#include "tap.h"

extern "C" int tap_create(const char *name, int *ifindex) {
  // On failure *ifindex says which step failed (TAP_STEP_*), so that the
  // caller can say it in upstream's words.
  if (ifindex) *ifindex = TAP_STEP_OPEN;
  int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return -errno;

  struct ifreq ifr;
  memset(&ifr, 0, sizeof(ifr));
  ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
  for (size_t i = 0; name && name[i] && i < IFNAMSIZ - 1; i++) ifr.ifr_name[i] = name[i];
  if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
    int err = errno;
    close(fd);
    if (ifindex) *ifindex = TAP_STEP_SETIFF;
    return -err;
  }
  if (ifindex) {
    *ifindex = TAP_STEP_INDEX;
    // TUNSETIFF wrote the device's actual name back into ifr.
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (s < 0) s = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (s < 0) {
      int err = errno;
      close(fd);
      return -err;
    }
    int r = ioctl(s, SIOCGIFINDEX, &ifr);
    int err = errno;
    close(s);
    if (r < 0) {
      close(fd);
      return -err;
    }
    *ifindex = ifr.ifr_ifindex;
  }
  return fd;
}
