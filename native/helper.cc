// The namespace helper's request loop (see the top of native/netns.cc and
// doc/design.md, "The namespace holder"): plain syscalls, no Node-API, so it
// runs both in the child nsHelper forks and in node-passt-nsholder
// (native/nsholder.cc) once that child has exec'd it.
#include "helper.h"

#include <errno.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstring>

#include "tap.h"

namespace passt {

/** Sends a reply, attaching the `count` fds at `fds` (none when count is 0). */
void SendReply(int sock, const HelperReply& reply, const int* fds, int count) {
  iovec iov{const_cast<HelperReply*>(&reply), sizeof(reply)};
  msghdr mh{};
  mh.msg_iov = &iov;
  mh.msg_iovlen = 1;
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * kMaxBatchFds)];
  if (count > 0) {
    memset(control, 0, sizeof(control));
    mh.msg_control = control;
    mh.msg_controllen = CMSG_SPACE(sizeof(int) * count);
    cmsghdr* cm = CMSG_FIRSTHDR(&mh);
    cm->cmsg_level = SOL_SOCKET;
    cm->cmsg_type = SCM_RIGHTS;
    cm->cmsg_len = CMSG_LEN(sizeof(int) * count);
    memcpy(CMSG_DATA(cm), fds, sizeof(int) * count);
  }
  while (sendmsg(sock, &mh, MSG_NOSIGNAL) < 0 && errno == EINTR) {
  }
}

/**
 * An empty read-only root of the helper's own, as the engine's (native/
 * sandbox.cc): a mount namespace, owned by the user namespace the helper
 * joined, whose root is an empty tmpfs. The helper is single-threaded, so
 * unlike the engine it can have one wherever it holds CAP_SYS_ADMIN, which
 * it does in the namespace's user namespace. Best effort: 0, or the errno
 * of the step that failed, leaving the helper's root as it was (a failure
 * after the unshare changes only its private copy).
 */
int HelperEmptyRoot() {
  if (unshare(CLONE_NEWNS) < 0) return errno;
  if (mount("", "/", "", MS_UNBINDABLE | MS_REC, nullptr) < 0) return errno;
  if (mount("", "/tmp", "tmpfs", MS_NODEV | MS_NOEXEC | MS_NOSUID | MS_RDONLY, "nr_inodes=2,nr_blocks=0") < 0) return errno;
  if (chdir("/tmp") < 0) return errno;
  if (syscall(SYS_pivot_root, ".", ".") < 0) return errno;
  if (umount2(".", MNT_DETACH | UMOUNT_NOFOLLOW) < 0) return errno;
  if (chdir("/") < 0) return errno;
  return 0;
}

/**
 * kOpLock: the helper's own sandbox, once pasta is set up (src/sandbox/):
 * an empty root (HelperEmptyRoot, best effort), no capabilities left (it
 * only makes sockets from now on, which takes none; binding them is the
 * engine's business), no_new_privs, not dumpable, and the seccomp filter
 * `program` (struct sock_filter[] as bytes, built by the engine from its
 * policy). Returns 1 (locked with an empty root), 0 (locked, its root as it
 * was), or -errno.
 */
int LockHelper(const char* program, size_t length) {
  if (length == 0 || length % sizeof(sock_filter) != 0 || length / sizeof(sock_filter) > BPF_MAXINSNS) return -EINVAL;
  // 1 below: locked with an empty root; 0: locked, its root as it was.
  int emptyRoot = HelperEmptyRoot() == 0 ? 1 : 0;
  for (int cap = 0; cap < 64; cap++) prctl(PR_CAPBSET_DROP, cap, 0, 0, 0);
  prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
  __user_cap_header_struct hdr{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct none[_LINUX_CAPABILITY_U32S_3];
  memset(none, 0, sizeof(none));
  if (syscall(SYS_capset, &hdr, none) < 0) return -errno;
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) return -errno;
  prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
  sock_fprog fprog{static_cast<unsigned short>(length / sizeof(sock_filter)),
                   reinterpret_cast<sock_filter*>(const_cast<char*>(program))};
  if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &fprog) < 0) return -errno;
  return emptyRoot;
}

[[noreturn]] void HelperServe(int sock) {
  bool locked = false;
  for (;;) {
    HelperRequest req;
    ssize_t n = recv(sock, &req, sizeof(req), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) _exit(0);  // the parent closed its end (or the socket broke)
    HelperReply reply{-EINVAL, 0};
    int fds[kMaxBatchFds];
    int count = 0;
    if (n == static_cast<ssize_t>(sizeof(req))) {
      if (req.op == kOpSocket) {
        int fd = socket(req.family, req.type | SOCK_CLOEXEC, req.protocol);
        reply.result = fd < 0 ? -errno : fd;
        if (fd >= 0) fds[count++] = fd;
      } else if (req.op == kOpSockets && req.count > 0 && req.count <= kMaxBatchFds) {
        // A batch: as many as can be made (at least one, or the first error).
        reply.result = 0;
        while (count < req.count) {
          int fd = socket(req.family, req.type | SOCK_CLOEXEC, req.protocol);
          if (fd < 0) {
            if (count == 0) reply.result = -errno;
            break;
          }
          fds[count++] = fd;
        }
        if (count > 0) reply.result = count;
      } else if (req.op == kOpTap && !locked) {
        req.name[sizeof(req.name) - 1] = 0;
        int ifindex = 0;
        int fd = tap_create(req.name, &ifindex);
        reply.result = fd;
        reply.ifindex = ifindex;  // the step that failed (TAP_STEP_*) when fd < 0
        if (fd >= 0) fds[count++] = fd;
      } else if (req.op == kOpLock && !locked && req.count > 0 && static_cast<size_t>(req.count) <= kMaxProgram) {
        // The program follows as a message of its own.
        static char program[kMaxProgram];
        ssize_t got;
        do {
          got = recv(sock, program, sizeof(program), 0);
        } while (got < 0 && errno == EINTR);
        if (got <= 0) _exit(0);
        reply.result = got == req.count ? LockHelper(program, static_cast<size_t>(got)) : -EINVAL;
        locked = reply.result >= 0;
      } else if (locked && (req.op == kOpTap || req.op == kOpLock)) {
        reply.result = -EPERM;  // set-up is over
      }
    }
    SendReply(sock, reply, fds, count);
    for (int i = 0; i < count; i++) close(fds[i]);
  }
}

}  // namespace passt
