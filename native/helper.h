// The namespace helper's protocol and request loop (native/helper.cc), shared
// by the addon (native/netns.cc) and node-passt-nsholder (native/nsholder.cc).
#pragma once

#include <linux/filter.h>
#include <stddef.h>
#include <stdint.h>

namespace passt {

enum HelperOp : int32_t { kOpSocket = 1, kOpTap = 2, kOpSockets = 3, kOpLock = 4 };

/** Most sockets one kOpSockets request makes (all passed in one SCM_RIGHTS message). */
constexpr int kMaxBatchFds = 32;

struct HelperRequest {
  int32_t op;
  int32_t family;
  int32_t type;
  int32_t protocol;
  int32_t count;  // kOpSockets: how many
  char name[16];
};

struct HelperReply {
  int32_t result;  // fd (passed by SCM_RIGHTS) or -errno
  int32_t ifindex;
};

/** The largest seccomp program a kOpLock request may carry. */
constexpr size_t kMaxProgram = BPF_MAXINSNS * sizeof(sock_filter);

/** Serves the helper's requests on `sock` until its peer closes it; then _exit(0). */
[[noreturn]] void HelperServe(int sock);

}  // namespace passt
