// Creating a tap device, for the namespace helper (netns.cc). Plain C: only
// syscalls, no allocation, so it is safe in a child forked from a
// multithreaded process.
#pragma once

#include <stdint.h>

/*
 * struct virtio_net_hdr (<linux/virtio_net.h> is not valid C++: it has a
 * member named "class"). Every frame on a tap made with IFF_VNET_HDR starts
 * with it; TAP_VNET_HDR_LEN is the kernel's default size.
 */
struct tap_vnet_hdr {
  uint8_t flags;
  uint8_t gso_type;
  uint16_t hdr_len;
  uint16_t gso_size;
  uint16_t csum_start;
  uint16_t csum_offset;
};
#define TAP_VNET_HDR_LEN 10
#define TAP_VNET_F_DATA_VALID 2

#ifdef __cplusplus
extern "C" {
#endif

/** The step of tap_create() that failed, stored in *ifindex on failure. */
#define TAP_STEP_OPEN 1   /* open("/dev/net/tun") */
#define TAP_STEP_SETIFF 2 /* ioctl(TUNSETIFF) */
#define TAP_STEP_INDEX 3  /* ioctl(SIOCGIFINDEX) */

/**
 * Opens /dev/net/tun (O_RDWR | O_NONBLOCK | O_CLOEXEC) and attaches it to the
 * tap device `name` (IFF_TAP | IFF_NO_PI | IFF_VNET_HDR; created if missing, "" lets the
 * kernel pick a name). Stores the interface index in *ifindex when ifindex is
 * not NULL, or, on failure, the step that failed (TAP_STEP_*). Returns the fd
 * or -errno.
 */
int tap_create(const char *name, int *ifindex);

#ifdef __cplusplus
}
#endif
