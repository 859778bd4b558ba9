// Creating a tap device, for the namespace helper (netns.cc). Plain C: only
// syscalls, no allocation, so it is safe in a child forked from a
// multithreaded process.
#pragma once

#ifdef __cplusplus
extern "C" {
#endif

/**
 * Opens /dev/net/tun (O_RDWR | O_NONBLOCK | O_CLOEXEC) and attaches it to the
 * tap device `name` (IFF_TAP | IFF_NO_PI; created if missing, "" lets the
 * kernel pick a name). Stores the interface index in *ifindex when ifindex is
 * not NULL. Returns the fd or -errno.
 */
int tap_create(const char *name, int *ifindex);

#ifdef __cplusplus
}
#endif
