// Theory of operation: the system calls of the sandbox (src/sandbox/ decides
// what to apply; see its index.ts). Nothing here chooses a policy: the
// seccomp programs come from TypeScript as bytes, and which capabilities to
// keep comes as a mask.
//
// Node runs several threads before any JavaScript starts, and much of what
// isolates a process is per thread in Linux: capabilities (capset,
// PR_CAPBSET_DROP, the ambient set) and the filesystem root (unshare of a
// mount namespace gives the calling thread alone a new one). So:
//
// - sandboxEmptyRoot() runs on the main thread (Node's JavaScript thread):
//   a mount namespace of its own, an empty read-only tmpfs as its root by
//   pivot_root(2) (or chroot(2) with --chroot-fallback), the old root
//   detached, as upstream's isolate_prefork().
// - sandboxThreads() applies one operation to every thread it can reach:
//   join that mount namespace (after unsharing the thread's fs_struct, so it
//   has a root of its own to change), drop the bounding set, clear the
//   ambient and inheritable sets, and reduce the effective and permitted
//   sets to a mask. The calling thread does it itself, last; each other thread
//   is sent a real-time signal (tgkill) whose handler does it and
//   acknowledges on an eventfd; the caller waits for the acknowledgements,
//   at most kAckTimeoutMs. A thread that blocks that signal (Node's
//   inspector thread blocks them all, forever) cannot be reached: it is
//   reported, not waited for. The capabilities of every thread are then read
//   back with capget(2) for the report.
// - sandboxSeccomp() sets no_new_privs, makes the process undumpable, and
//   installs one seccomp filter on all threads at once
//   (SECCOMP_FILTER_FLAG_TSYNC, which also gives them all no_new_privs). A
//   call the filter traps (SECCOMP_RET_TRAP) raises SIGSYS in the calling
//   thread: the handler here writes one line naming the call to the report
//   fds, then dies of SIGSYS, as a filter that kills would.
//
// Also here: RLIMIT_NOFILE, reading a directory through an fd opened before
// the lock-down (the namespace-quit watch), a socket pair (the API's child
// process), and the "unlinker": a small forked child that removes passt's
// socket file when asked or when the engine goes, since the engine itself
// can no longer unlink anything.
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <string>
#include <vector>

#include "common.h"

#ifndef SECCOMP_FILTER_FLAG_TSYNC
#define SECCOMP_FILTER_FLAG_TSYNC (1UL << 0)
#endif
#ifndef SECCOMP_FILTER_FLAG_LOG
#define SECCOMP_FILTER_FLAG_LOG (1UL << 1)
#endif
#ifndef PR_CAP_AMBIENT
#define PR_CAP_AMBIENT 47
#define PR_CAP_AMBIENT_CLEAR_ALL 4
#endif
#ifndef SYS_close_range
#define SYS_close_range 436
#endif
#ifndef SYS_landlock_create_ruleset
#define SYS_landlock_create_ruleset 444
#define SYS_landlock_restrict_self 446
#endif

namespace passt {
namespace {

// --- capabilities ------------------------------------------------------------

struct Caps {
  uint64_t effective = 0, permitted = 0, inheritable = 0;
};

/** capget(2) of a thread (0: the calling one); 0 or errno. */
int CapGet(pid_t tid, Caps* out) {
  __user_cap_header_struct hdr{_LINUX_CAPABILITY_VERSION_3, tid};
  __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3];
  memset(data, 0, sizeof(data));
  if (syscall(SYS_capget, &hdr, data) < 0) return errno;
  out->effective = data[0].effective | (static_cast<uint64_t>(data[1].effective) << 32);
  out->permitted = data[0].permitted | (static_cast<uint64_t>(data[1].permitted) << 32);
  out->inheritable = data[0].inheritable | (static_cast<uint64_t>(data[1].inheritable) << 32);
  return 0;
}

/** capset(2) of the calling thread; 0 or errno. */
int CapSet(const Caps& c) {
  __user_cap_header_struct hdr{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3];
  data[0].effective = static_cast<uint32_t>(c.effective);
  data[1].effective = static_cast<uint32_t>(c.effective >> 32);
  data[0].permitted = static_cast<uint32_t>(c.permitted);
  data[1].permitted = static_cast<uint32_t>(c.permitted >> 32);
  data[0].inheritable = static_cast<uint32_t>(c.inheritable);
  data[1].inheritable = static_cast<uint32_t>(c.inheritable >> 32);
  if (syscall(SYS_capset, &hdr, data) < 0) return errno;
  return 0;
}

// --- what sandboxThreads() does in each thread ------------------------------------

struct ThreadOp {
  /** Join this mount namespace (-1: no). */
  int mntnsFd = -1;
  /** Drop every capability not in `keep` from the bounding set. */
  bool bounding = false;
  /** Reduce the effective and permitted sets to `keep`. */
  bool reduce = false;
  uint64_t keep = 0;
  /** Enter this Landlock ruleset (-1: no), after no_new_privs, which it needs. */
  int landlockFd = -1;
};

/**
 * Applies `op` to the calling thread: only system calls, so that it can run
 * in a signal handler. Returns 0, or the errno of the first step that
 * failed, naming it in *step.
 */
int ApplyOp(const ThreadOp& op, const char** step) {
  if (op.mntnsFd >= 0) {
    // Threads share one fs_struct (root and working directory); setns() into a mount
    // namespace wants one of our own.
    if (unshare(CLONE_FS) < 0) {
      *step = "unshare(CLONE_FS)";
      return errno;
    }
    if (setns(op.mntnsFd, CLONE_NEWNS) < 0) {
      *step = "setns(CLONE_NEWNS)";
      return errno;
    }
  }
  if (op.bounding) {
    for (int cap = 0; cap < 64; cap++) {
      if (op.keep & (1ULL << cap)) continue;
      // EINVAL: no such capability; EPERM: no CAP_SETPCAP (nothing to drop then that exec
      // could use, and exec is refused by the filter anyway).
      if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno != EINVAL && errno != EPERM) {
        *step = "prctl(PR_CAPBSET_DROP)";
        return errno;
      }
    }
  }
  // Ambient capabilities would survive an exec; none are wanted (EINVAL: a kernel without them).
  if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL) {
    *step = "prctl(PR_CAP_AMBIENT_CLEAR_ALL)";
    return errno;
  }
  Caps c;
  if (int e = CapGet(0, &c)) {
    *step = "capget";
    return e;
  }
  Caps want = c;
  want.inheritable = 0;
  if (op.reduce) {
    want.effective &= op.keep;
    want.permitted &= op.keep;
  }
  if (want.effective != c.effective || want.permitted != c.permitted || want.inheritable != c.inheritable) {
    if (int e = CapSet(want)) {
      *step = "capset";
      return e;
    }
  }
  if (op.landlockFd >= 0) {
    // Both per thread: no_new_privs (which landlock_restrict_self wants without
    // CAP_SYS_ADMIN), then the domain, which threads started later inherit.
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
      *step = "prctl(PR_SET_NO_NEW_PRIVS)";
      return errno;
    }
    if (syscall(SYS_landlock_restrict_self, op.landlockFd, 0U) < 0) {
      *step = "landlock_restrict_self";
      return errno;
    }
  }
  return 0;
}

// --- reaching every thread ------------------------------------------------------

constexpr int kMaxThreads = 1024;
constexpr int kAckTimeoutMs = 1000;

enum SlotState : int { kPending = 0, kDone = 1, kBlocked = 2, kGone = 3, kSelf = 4 };
/** A thread that blocks every signal and started less than this long ago may be being created. */
constexpr int kStartingWindowMs = 50;
/** How long such a thread is given to set its own signal mask. */
constexpr int kStartingGraceMs = 50;

struct Slot {
  pid_t tid;
  std::atomic<int> state;
  int err;
  const char* step;
};

ThreadOp g_op;
Slot g_slots[kMaxThreads];
std::atomic<int> g_nslots{0};
int g_ackFd = -1;
/** /proc/self/task, opened before the root goes away. */
int g_tasksFd = -1;

void BroadcastHandler(int, siginfo_t*, void*) {
  int saved = errno;
  pid_t self = static_cast<pid_t>(syscall(SYS_gettid));
  int n = g_nslots.load(std::memory_order_acquire);
  for (int i = 0; i < n; i++) {
    if (g_slots[i].tid != self) continue;
    if (g_slots[i].state.load(std::memory_order_acquire) != kPending) break;
    const char* step = "";
    g_slots[i].err = ApplyOp(g_op, &step);
    g_slots[i].step = step;
    g_slots[i].state.store(kDone, std::memory_order_release);
    uint64_t one = 1;
    ssize_t w = write(g_ackFd, &one, sizeof(one));
    (void)w;
    break;
  }
  errno = saved;
}

int EnsureTasksFd() {
  if (g_tasksFd >= 0) return 0;
  g_tasksFd = open("/proc/self/task", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  return g_tasksFd < 0 ? errno : 0;
}

struct LinuxDirent64 {
  uint64_t d_ino;
  int64_t d_off;
  unsigned short d_reclen;
  unsigned char d_type;
  char d_name[1];
};

/** Reads the names of a directory fd from its start; calls f(name) for each. Returns 0 or errno. */
template <typename F>
int ForEachEntry(int dirFd, F f) {
  if (lseek(dirFd, 0, SEEK_SET) < 0) return errno;
  alignas(8) char buf[4096];
  for (;;) {
    long n = syscall(SYS_getdents64, dirFd, buf, sizeof(buf));
    if (n < 0) return errno;
    if (n == 0) return 0;
    for (long off = 0; off < n;) {
      auto* d = reinterpret_cast<LinuxDirent64*>(buf + off);
      off += d->d_reclen;
      if (!f(static_cast<const char*>(d->d_name))) return 0;
    }
  }
}

/** The thread ids of this process (from /proc/self/task). */
int ListTids(std::vector<pid_t>* out) {
  if (int e = EnsureTasksFd()) return e;
  return ForEachEntry(g_tasksFd, [&](const char* name) {
    if (name[0] >= '0' && name[0] <= '9') out->push_back(static_cast<pid_t>(atoi(name)));
    return true;
  });
}

/** Does thread `tid` block signal `sig` (its SigBlk line)? Unknown counts as no. */
bool Blocks(pid_t tid, int sig) {
  char path[32];
  snprintf(path, sizeof(path), "%d/status", static_cast<int>(tid));
  int fd = openat(g_tasksFd, path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  char text[4096];
  ssize_t n = read(fd, text, sizeof(text) - 1);
  close(fd);
  if (n <= 0) return false;
  text[n] = 0;
  const char* line = strstr(text, "\nSigBlk:");
  if (!line) return false;
  unsigned long long mask = strtoull(line + 8, nullptr, 16);
  return (mask >> (sig - 1)) & 1;
}

/** Thread `tid`'s start time (field 22 of its stat file), in clock ticks since boot; 0 if unknown. */
unsigned long long StartTicks(pid_t tid) {
  char path[32];
  snprintf(path, sizeof(path), "%d/stat", static_cast<int>(tid));
  int fd = openat(g_tasksFd, path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  char text[1024];
  ssize_t n = read(fd, text, sizeof(text) - 1);
  close(fd);
  if (n <= 0) return 0;
  text[n] = 0;
  // Fields after the command name, which may hold spaces and parentheses: from the last ')'.
  const char* p = strrchr(text, ')');
  if (!p) return 0;
  p += 2;  // field 3, the state
  for (int field = 3; field < 22 && p; field++) {
    p = strchr(p, ' ');
    if (p) p++;
  }
  return p ? strtoull(p, nullptr, 10) : 0;
}

/**
 * Is thread `tid`, which blocks every signal, perhaps one being created?
 * pthread_create starts a thread so until it sets its own mask. Yes if it
 * started within the last kStartingWindowMs, and later than that after the
 * process itself: the threads Node makes as it starts (its inspector's,
 * which blocks every signal for good) are older.
 */
bool MayBeStarting(pid_t tid, pid_t pid) {
  long hz = sysconf(_SC_CLK_TCK);
  struct timespec now;
  unsigned long long start = StartTicks(tid), proc = StartTicks(pid);
  if (hz <= 0 || start == 0 || proc == 0 || clock_gettime(CLOCK_BOOTTIME, &now) < 0) return false;
  unsigned long long nowTicks = static_cast<unsigned long long>(now.tv_sec) * hz + static_cast<unsigned long long>(now.tv_nsec) / (1000000000ULL / hz);
  unsigned long long window = static_cast<unsigned long long>(kStartingWindowMs) * hz / 1000;
  return start > proc + window && nowTicks <= start + window + 1;
}

/** A real-time signal nobody handles, or 0. */
int FreeSignal() {
  for (int sig = SIGRTMAX - 1; sig > SIGRTMIN + 2; sig--) {
    struct sigaction sa;
    if (sigaction(sig, nullptr, &sa) < 0) continue;
    if (!(sa.sa_flags & SA_SIGINFO) && (sa.sa_handler == SIG_DFL || sa.sa_handler == SIG_IGN)) return sig;
  }
  return 0;
}

int64_t NowMs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

Napi::Value ThrowErrno(Napi::Env env, const std::string& what, int err) {
  const char* name = strerrorname_np(err);
  Napi::Error e = Napi::Error::New(env, what + ": " + strerror(err));
  e.Set("code", Napi::String::New(env, name ? name : "EUNKNOWN"));
  e.Set("errno", Napi::Number::New(env, -err));
  e.Set("syscall", Napi::String::New(env, what));
  e.ThrowAsJavaScriptException();
  return env.Undefined();
}

Napi::BigInt Big(Napi::Env env, uint64_t v) { return Napi::BigInt::New(env, v); }

uint64_t BigArg(Napi::Value v, bool* ok) {
  if (!v.IsBigInt()) {
    *ok = false;
    return 0;
  }
  bool lossless = true;
  uint64_t r = v.As<Napi::BigInt>().Uint64Value(&lossless);
  if (!lossless) *ok = false;
  return r;
}

// --- exports ----------------------------------------------------------------------

/** sandboxCaps(tid): { effective, permitted, inheritable } (BigInts) of a thread (0: this one). Throws on failure. */
Napi::Value SandboxCaps(const Napi::CallbackInfo& info) {
  Args a(info, "sandboxCaps", 1);
  int tid = a.Int(0);
  if (!a.ok) return a.Fail();
  Caps c;
  if (int e = CapGet(tid, &c)) return ThrowErrno(info.Env(), "capget", e);
  Napi::Object r = Napi::Object::New(info.Env());
  r.Set("effective", Big(info.Env(), c.effective));
  r.Set("permitted", Big(info.Env(), c.permitted));
  r.Set("inheritable", Big(info.Env(), c.inheritable));
  return r;
}

/** raiseNofile(): soft RLIMIT_NOFILE to the hard limit; returns [soft, hard] as they are now, or throws. */
Napi::Value RaiseNofile(const Napi::CallbackInfo& info) {
  Args a(info, "raiseNofile", 0);
  if (!a.ok) return a.Fail();
  rlimit lim;
  if (getrlimit(RLIMIT_NOFILE, &lim) < 0) return ThrowErrno(info.Env(), "getrlimit(RLIMIT_NOFILE)", errno);
  if (lim.rlim_cur != lim.rlim_max) {
    lim.rlim_cur = lim.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &lim) < 0) return ThrowErrno(info.Env(), "setrlimit(RLIMIT_NOFILE)", errno);
  }
  Napi::Array r = Napi::Array::New(info.Env(), 2);
  auto num = [&](rlim_t v) { return Napi::Number::New(info.Env(), v == RLIM_INFINITY ? -1.0 : static_cast<double>(v)); };
  r.Set(0u, num(lim.rlim_cur));
  r.Set(1u, num(lim.rlim_max));
  return r;
}

/**
 * sandboxEmptyRoot(chrootFallback): a mount namespace of this thread's own
 * whose root is an empty read-only tmpfs. Returns { mntnsFd, chroot }
 * (chroot: the fallback was used). Throws an Error in upstream's words
 * ("Failed to pivot_root() into empty tmpfs: ...") naming the failed step.
 */
Napi::Value SandboxEmptyRoot(const Napi::CallbackInfo& info) {
  Args a(info, "sandboxEmptyRoot", 1);
  bool fallback = a.Bool(0);
  if (!a.ok) return a.Fail();
  Napi::Env env = info.Env();
  static const char kTmp[] = "/tmp";
  if (int e = EnsureTasksFd()) return ThrowErrno(env, "Failed to open /proc/self/task", e);
  if (unshare(CLONE_NEWNS) < 0) return ThrowErrno(env, "Failed to detach isolating namespaces", errno);
  if (mount("", "/", "", MS_UNBINDABLE | MS_REC, nullptr) < 0) return ThrowErrno(env, "Failed to remount /", errno);
  if (mount("", kTmp, "tmpfs", MS_NODEV | MS_NOEXEC | MS_NOSUID | MS_RDONLY, "nr_inodes=2,nr_blocks=0") < 0)
    return ThrowErrno(env, "Failed to mount empty tmpfs for sandboxing", errno);
  int mntnsFd = open("/proc/thread-self/ns/mnt", O_RDONLY | O_CLOEXEC);
  if (mntnsFd < 0) return ThrowErrno(env, "Failed to open the new mount namespace", errno);
  if (chdir(kTmp) < 0) {
    int e = errno;
    close(mntnsFd);
    return ThrowErrno(env, "Failed to change directory into empty tmpfs", e);
  }
  bool chrooted = false;
  if (syscall(SYS_pivot_root, ".", ".") < 0) {
    int e = errno;
    if (!fallback) {
      close(mntnsFd);
      return ThrowErrno(env, "Failed to pivot_root() into empty tmpfs", e);
    }
    // Upstream's move_root(): the tmpfs moved over /, and chroot(2) into it.
    if (mount(kTmp, "/", "", MS_MOVE, "") < 0) {
      e = errno;
      close(mntnsFd);
      return ThrowErrno(env, "Failed to move root into empty tmpfs", e);
    }
    if (chroot(".") < 0) {
      e = errno;
      close(mntnsFd);
      return ThrowErrno(env, "Failed to chroot() into empty tmpfs", e);
    }
    if (chdir("/") < 0) {
      e = errno;
      close(mntnsFd);
      return ThrowErrno(env, "Failed to change directory into new root", e);
    }
    chrooted = true;
  } else if (umount2(".", MNT_DETACH | UMOUNT_NOFOLLOW) < 0) {
    int e = errno;
    close(mntnsFd);
    return ThrowErrno(env, "Failed to unmount original root filesystem", e);
  }
  Napi::Object r = Napi::Object::New(env);
  r.Set("mntnsFd", Napi::Number::New(env, mntnsFd));
  r.Set("chroot", Napi::Boolean::New(env, chrooted));
  return r;
}

/**
 * sandboxThreads({ mntnsFd, bounding, keep }): see ThreadOp; `keep` a
 * BigInt, or null to leave the effective and permitted sets alone. Returns
 * one entry per thread: { tid, state: 'self' | 'done' | 'blocked' | 'gone' |
 * 'timeout', error (a message, or ''), effective, permitted } (BigInts, read
 * back afterwards; -1n when unreadable).
 */
Napi::Value SandboxThreads(const Napi::CallbackInfo& info) {
  Args a(info, "sandboxThreads", 1);
  Napi::Object o = a.Obj(0);
  if (!a.ok) return a.Fail();
  Napi::Env env = info.Env();
  ThreadOp op;
  Napi::Value mnt = o.Get("mntnsFd");
  op.mntnsFd = mnt.IsNumber() ? mnt.As<Napi::Number>().Int32Value() : -1;
  op.bounding = o.Get("bounding").ToBoolean().Value();
  Napi::Value ll = o.Get("landlockFd");
  op.landlockFd = ll.IsNumber() ? ll.As<Napi::Number>().Int32Value() : -1;
  Napi::Value keep = o.Get("keep");
  if (!keep.IsNull() && !keep.IsUndefined()) {
    bool ok = true;
    op.keep = BigArg(keep, &ok);
    if (!ok) {
      Napi::TypeError::New(env, "sandboxThreads: keep must be a BigInt or null").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    op.reduce = true;
  }

  int sig = FreeSignal();
  if (sig == 0) return ThrowErrno(env, "sandboxThreads: no free real-time signal", EBUSY);
  g_ackFd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (g_ackFd < 0) return ThrowErrno(env, "sandboxThreads: eventfd", errno);

  pid_t self = static_cast<pid_t>(syscall(SYS_gettid));
  pid_t pid = getpid();

  struct sigaction sa, old;
  memset(&sa, 0, sizeof(sa));
  sa.sa_sigaction = BroadcastHandler;
  sa.sa_flags = SA_SIGINFO | SA_RESTART;
  sigfillset(&sa.sa_mask);
  g_op = op;
  g_nslots.store(0, std::memory_order_release);
  sigaction(sig, &sa, &old);

  // Rounds: a thread that started while we signalled the others is found by the next one.
  std::vector<pid_t> seen;
  int expected = 0;
  for (int round = 0; round < 3; round++) {
    std::vector<pid_t> tids;
    if (int e = ListTids(&tids)) {
      sigaction(sig, &old, nullptr);
      close(g_ackFd);
      g_ackFd = -1;
      return ThrowErrno(env, "sandboxThreads: /proc/self/task", e);
    }
    bool fresh = false;
    // Signal a slot's thread: it is expected to acknowledge, or gone if it cannot be signalled.
    auto signalSlot = [&](Slot& slot) {
      if (syscall(SYS_tgkill, pid, slot.tid, sig) < 0) {
        slot.state.store(kGone, std::memory_order_release);
      } else {
        expected++;
        fresh = true;
      }
    };
    for (pid_t tid : tids) {
      bool known = false;
      for (pid_t s : seen) known = known || s == tid;
      if (known) continue;
      seen.push_back(tid);
      int i = g_nslots.load(std::memory_order_relaxed);
      if (i >= kMaxThreads) break;
      Slot& slot = g_slots[i];
      slot.tid = tid;
      slot.err = 0;
      slot.step = "";
      if (tid == self) {
        slot.state.store(kSelf, std::memory_order_relaxed);
      } else if (Blocks(tid, sig)) {
        slot.state.store(kBlocked, std::memory_order_relaxed);
      } else {
        slot.state.store(kPending, std::memory_order_relaxed);
      }
      g_nslots.store(i + 1, std::memory_order_release);
      if (tid == self || slot.state.load() == kBlocked) continue;
      signalSlot(slot);
    }
    // A thread blocking our signal that started just now is most likely still being created
    // (pthread_create starts it with every signal blocked until it sets its own mask): give it
    // a moment to unblock (up to kStartingGraceMs, in 1 ms steps) and then signal it too. One
    // that blocks for good (Node's inspector thread, started with the process) is not waited for.
    for (int i = 0, n = g_nslots.load(std::memory_order_acquire); i < n; i++) {
      Slot& slot = g_slots[i];
      if (slot.state.load() != kBlocked || !MayBeStarting(slot.tid, pid)) continue;
      for (int waited = 0; waited < kStartingGraceMs && Blocks(slot.tid, sig); waited++) usleep(1000);
      if (Blocks(slot.tid, sig)) continue;
      slot.state.store(kPending, std::memory_order_release);
      signalSlot(slot);
    }
    if (!fresh) break;
    // Wait for the acknowledgements of everything signalled so far.
    int64_t deadline = NowMs() + kAckTimeoutMs;
    for (;;) {
      int done = 0;
      int n = g_nslots.load(std::memory_order_acquire);
      for (int i = 0; i < n; i++) done += g_slots[i].state.load(std::memory_order_acquire) == kDone;
      if (done >= expected) break;
      int64_t left = deadline - NowMs();
      if (left <= 0) break;
      pollfd p{g_ackFd, POLLIN, 0};
      poll(&p, 1, static_cast<int>(left));
      uint64_t count;
      ssize_t r = read(g_ackFd, &count, sizeof(count));
      (void)r;
    }
  }
  // This thread last: what the others block is read from /proc, which a Landlock domain of
  // this thread's own would hide (and this thread starts no thread meanwhile).
  const char* selfStep = "";
  int selfErr = ApplyOp(op, &selfStep);
  for (int i = 0, n = g_nslots.load(std::memory_order_acquire); i < n; i++) {
    if (g_slots[i].tid != self) continue;
    g_slots[i].err = selfErr;
    g_slots[i].step = selfStep;
  }
  // A late signal must not kill the process (the default action of a real-time signal).
  struct sigaction ign;
  memset(&ign, 0, sizeof(ign));
  ign.sa_handler = SIG_IGN;
  sigaction(sig, &ign, nullptr);
  close(g_ackFd);
  g_ackFd = -1;

  int n = g_nslots.load(std::memory_order_acquire);
  Napi::Array out = Napi::Array::New(env, n);
  for (int i = 0; i < n; i++) {
    Slot& s = g_slots[i];
    int state = s.state.load(std::memory_order_acquire);
    const char* name = state == kSelf ? "self" : state == kDone ? "done" : state == kBlocked ? "blocked" : state == kGone ? "gone" : "timeout";
    Napi::Object t = Napi::Object::New(env);
    t.Set("tid", Napi::Number::New(env, s.tid));
    t.Set("state", Napi::String::New(env, name));
    std::string err;
    if ((state == kSelf || state == kDone) && s.err) err = std::string(s.step) + ": " + strerror(s.err);
    t.Set("error", Napi::String::New(env, err));
    Caps c;
    bool read = CapGet(s.tid, &c) == 0;
    t.Set("effective", read ? Big(env, c.effective) : Napi::BigInt::New(env, static_cast<int64_t>(-1)));
    t.Set("permitted", read ? Big(env, c.permitted) : Napi::BigInt::New(env, static_cast<int64_t>(-1)));
    out.Set(static_cast<uint32_t>(i), t);
  }
  return out;
}

// --- seccomp -------------------------------------------------------------------------

/** Where a trapped call is reported, and how. */
int g_reportFds[2] = {2, -1};
char g_program[16] = "node-passt";
/** Names of the calls of this architecture by number, for the report ("" when unknown). */
std::vector<std::string> g_names;

void Put(int fd, const char* s, size_t n) {
  // A log file is written at explicit offsets by its writer: append after what it holds.
  off_t end = lseek(fd, 0, SEEK_END);
  if (end >= 0) {
    ssize_t w = pwrite(fd, s, n, end);
    (void)w;
  } else {
    ssize_t w = write(fd, s, n);
    (void)w;
  }
}

void AppendNum(char* buf, size_t size, size_t* used, unsigned long v) {
  char digits[24];
  int k = 0;
  do {
    digits[k++] = static_cast<char>('0' + v % 10);
    v /= 10;
  } while (v && k < 23);
  while (k > 0 && *used + 1 < size) buf[(*used)++] = digits[--k];
  buf[*used] = 0;
}

void AppendStr(char* buf, size_t size, size_t* used, const char* s) {
  for (size_t i = 0; s[i] && *used + 1 < size; i++) buf[(*used)++] = s[i];
  buf[*used] = 0;
}

void SigsysHandler(int sig, siginfo_t* si, void*) {
  char msg[256];
  size_t used = 0;
  msg[0] = 0;
  int nr = si->si_syscall;
  AppendStr(msg, sizeof(msg), &used, g_program);
  AppendStr(msg, sizeof(msg), &used, ": sandbox: system call ");
  if (nr >= 0 && static_cast<size_t>(nr) < g_names.size() && !g_names[nr].empty()) {
    AppendStr(msg, sizeof(msg), &used, g_names[nr].c_str());
    AppendStr(msg, sizeof(msg), &used, " (");
    AppendNum(msg, sizeof(msg), &used, static_cast<unsigned long>(nr));
    AppendStr(msg, sizeof(msg), &used, ")");
  } else {
    AppendNum(msg, sizeof(msg), &used, static_cast<unsigned long>(nr));
  }
  AppendStr(msg, sizeof(msg), &used, " is not permitted after set-up; exiting\n");
  for (int fd : g_reportFds)
    if (fd >= 0) Put(fd, msg, used);
  // Die of SIGSYS, as a filter that kills: the default action, raised now and delivered
  // as soon as this handler returns (SIGSYS is blocked while it runs).
  struct sigaction dfl;
  memset(&dfl, 0, sizeof(dfl));
  dfl.sa_handler = SIG_DFL;
  sigaction(SIGSYS, &dfl, nullptr);
  syscall(SYS_tgkill, getpid(), syscall(SYS_gettid), sig);
}

/**
 * sandboxSeccomp(program, names, reportFd, programName, log): no_new_privs,
 * not dumpable, then the filter (`program`: struct sock_filter[] as bytes)
 * on every thread (TSYNC; with `log`, also SECCOMP_FILTER_FLAG_LOG). A
 * trapped call is reported on standard error and on `reportFd` (-1: none),
 * naming it from `names` (indexed by number). Closes the fds kept for
 * sandboxThreads(). Returns 0, -errno, or the id of a thread that could not
 * be synchronised.
 */
Napi::Value SandboxSeccomp(const Napi::CallbackInfo& info) {
  Args a(info, "sandboxSeccomp", 5);
  Span<uint8_t> prog = a.Bytes(0);
  Napi::Value namesV = info.Length() > 1 ? info[1] : info.Env().Undefined();
  int reportFd = a.Int(2);
  std::string program = a.Str(3);
  bool log = a.Bool(4);
  if (!a.ok) return a.Fail();
  Napi::Env env = info.Env();
  if (prog.length == 0 || prog.length % sizeof(sock_filter) != 0 || prog.length / sizeof(sock_filter) > BPF_MAXINSNS) {
    Napi::RangeError::New(env, "sandboxSeccomp: the program must be 1 to 4096 instructions of 8 bytes").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  if (!namesV.IsArray()) {
    Napi::TypeError::New(env, "sandboxSeccomp: argument 2 must be an array of strings").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  Napi::Array names = namesV.As<Napi::Array>();
  g_names.clear();
  for (uint32_t i = 0; i < names.Length(); i++) {
    Napi::Value n = names.Get(i);
    g_names.push_back(n.IsString() ? n.As<Napi::String>().Utf8Value() : std::string());
  }
  snprintf(g_program, sizeof(g_program), "%s", program.c_str());
  g_reportFds[1] = reportFd;

  std::vector<sock_filter> copy(prog.length / sizeof(sock_filter));
  memcpy(copy.data(), prog.data, prog.length);
  sock_fprog fprog{static_cast<unsigned short>(copy.size()), copy.data()};

  struct sigaction sa;
  memset(&sa, 0, sizeof(sa));
  sa.sa_sigaction = SigsysHandler;
  sa.sa_flags = SA_SIGINFO;
  sigfillset(&sa.sa_mask);
  if (sigaction(SIGSYS, &sa, nullptr) < 0) return Num(env, NegErrno());
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) return Num(env, NegErrno());
  // As upstream's isolate_postfork(): no core dumps (they would hold traffic), and no
  // ptrace or /proc access by processes of the same user.
  prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
  unsigned long flags = SECCOMP_FILTER_FLAG_TSYNC | (log ? SECCOMP_FILTER_FLAG_LOG : 0);
  long r = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, &fprog);
  if (r < 0) return Num(env, NegErrno());
  if (r > 0) return Num(env, static_cast<double>(r));
  if (g_tasksFd >= 0) {
    close(g_tasksFd);
    g_tasksFd = -1;
  }
  return Num(env, 0);
}

// --- Landlock ----------------------------------------------------------------------

constexpr unsigned kLandlockCreateRulesetVersion = 1U << 0;
constexpr unsigned kLandlockRestrictSelfTsync = 1U << 3;  // ABI 8 (Linux 7.0)

/** landlockAbi(): the kernel's Landlock ABI version, or -errno (EOPNOTSUPP: disabled; ENOSYS: absent). */
Napi::Value LandlockAbi(const Napi::CallbackInfo& info) {
  Args a(info, "landlockAbi", 0);
  if (!a.ok) return a.Fail();
  long v = syscall(SYS_landlock_create_ruleset, nullptr, 0, kLandlockCreateRulesetVersion);
  return Num(info.Env(), v < 0 ? NegErrno() : static_cast<double>(v));
}

/**
 * landlockDenyFiles(handledFs): a Landlock domain handling the filesystem
 * rights `handledFs` (a mask the ABI knows) with no rule granting any, on
 * every thread at once (LANDLOCK_RESTRICT_SELF_TSYNC, ABI 8); needs
 * no_new_privs first. Returns 0 or -errno.
 */
Napi::Value LandlockDenyFiles(const Napi::CallbackInfo& info) {
  Args a(info, "landlockDenyFiles", 1);
  int64_t handled = a.Int64(0);
  if (!a.ok) return a.Fail();
  struct {
    uint64_t handled_access_fs, handled_access_net, scoped;
  } attr{static_cast<uint64_t>(handled), 0, 0};
  long fd = syscall(SYS_landlock_create_ruleset, &attr, sizeof(attr), 0);
  if (fd < 0) return Num(info.Env(), NegErrno());
  long r = syscall(SYS_landlock_restrict_self, fd, kLandlockRestrictSelfTsync);
  int err = r < 0 ? errno : 0;
  close(static_cast<int>(fd));
  return Num(info.Env(), -err);
}

/**
 * landlockRuleset(handledFs): a Landlock ruleset handling the filesystem
 * rights `handledFs` with no rule granting any (close-on-exec), for
 * sandboxThreads() to enter on every thread it reaches where the kernel has
 * no LANDLOCK_RESTRICT_SELF_TSYNC. Returns the fd or -errno.
 */
Napi::Value LandlockRuleset(const Napi::CallbackInfo& info) {
  Args a(info, "landlockRuleset", 1);
  int64_t handled = a.Int64(0);
  if (!a.ok) return a.Fail();
  struct {
    uint64_t handled_access_fs;
  } attr{static_cast<uint64_t>(handled)};
  // The ABI 1 size of struct landlock_ruleset_attr: every kernel with Landlock takes it.
  long fd = syscall(SYS_landlock_create_ruleset, &attr, sizeof(attr), 0);
  return Num(info.Env(), fd < 0 ? NegErrno() : static_cast<double>(fd));
}

/** sandboxNoNewPrivs(): PR_SET_NO_NEW_PRIVS (this thread; the seccomp filter's TSYNC gives it to all). 0 or -errno. */
Napi::Value SandboxNoNewPrivs(const Napi::CallbackInfo& info) {
  Args a(info, "sandboxNoNewPrivs", 0);
  if (!a.ok) return a.Fail();
  return Num(info.Env(), prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ? NegErrno() : 0);
}

/** dirHasEntry(fd, name): 1 if the directory open at `fd` has an entry `name` (read from its start), 0 if not, or -errno. */
Napi::Value DirHasEntry(const Napi::CallbackInfo& info) {
  Args a(info, "dirHasEntry", 2);
  int fd = a.Int(0);
  std::string name = a.Str(1);
  if (!a.ok) return a.Fail();
  bool found = false;
  int e = ForEachEntry(fd, [&](const char* entry) {
    found = name == entry;
    return !found;
  });
  if (e) return Num(info.Env(), -e);
  return Num(info.Env(), found ? 1 : 0);
}

/** socketpair(out): an AF_UNIX SOCK_SEQPACKET pair with SOCK_CLOEXEC into out[0], out[1]. Returns 0 or -errno. */
Napi::Value SocketPair(const Napi::CallbackInfo& info) {
  Args a(info, "socketpair", 1);
  Span<int32_t> out = a.I32(0);
  a.AtLeast(out.length, 2, "out");
  if (!a.ok) return a.Fail();
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) return Num(info.Env(), NegErrno());
  out.data[0] = sv[0];
  out.data[1] = sv[1];
  return Num(info.Env(), 0);
}

// --- the unlinker ---------------------------------------------------------------------

/** Removes `path` if it is still the socket file it was (same device and inode); 0 or -errno. */
int UnlinkIfSame(const char* path, const struct stat& was) {
  struct stat now;
  if (lstat(path, &now) < 0) return -errno;
  if (now.st_dev != was.st_dev || now.st_ino != was.st_ino) return -ESTALE;
  if (unlink(path) < 0) return -errno;
  return 0;
}

/**
 * Where this process's command line lives ([arg_start, arg_end) of
 * /proc/self/stat), so that the unlinker can show a title of its own there
 * instead of a copy of passt's command line, which would count as a second
 * passt for anyone who looks for one by its arguments (ps, libvirt's tests).
 */
bool ArgArea(uintptr_t* start, uintptr_t* end) {
  int fd = open("/proc/self/stat", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  char buf[2048];
  ssize_t n = read(fd, buf, sizeof(buf) - 1);
  close(fd);
  if (n <= 0) return false;
  buf[n] = 0;
  // Fields after the command name (which may hold spaces and parentheses): the last ')'.
  const char* p = strrchr(buf, ')');
  if (!p) return false;
  // p + 2 is field 3 (state); arg_start and arg_end are fields 48 and 49.
  p += 2;
  for (int field = 3; field < 48 && *p; field++) {
    p = strchr(p, ' ');
    if (!p) return false;
    p++;
  }
  char* after = nullptr;
  *start = strtoull(p, &after, 10);
  if (!after || *after != ' ') return false;
  *end = strtoull(after + 1, nullptr, 10);
  return *start && *end > *start;
}

[[noreturn]] void UnlinkerChild(int sock, const char* path, const sock_filter* filter, unsigned short len, pid_t parent,
                                uintptr_t argStart, uintptr_t argEnd, const char* title) {
  // Default dispositions, nothing blocked: no handler of Node's may run here.
  struct sigaction dfl;
  memset(&dfl, 0, sizeof(dfl));
  dfl.sa_handler = SIG_DFL;
  for (int s = 1; s < NSIG; s++) sigaction(s, &dfl, nullptr);
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  if (sock != 3) {
    if (dup2(sock, 3) < 0) _exit(126);
    sock = 3;
  }
  syscall(SYS_close_range, 4U, ~0U, 0U);
  int null = open("/dev/null", O_RDWR | O_CLOEXEC);
  if (null >= 0) {
    for (int i = 0; i < 3; i++) dup2(null, i);
    if (null > 2) close(null);
  }
  (void)parent;
  prctl(PR_SET_NAME, "unlinker", 0, 0, 0);
  if (argStart) {
    char* area = reinterpret_cast<char*>(argStart);
    size_t size = argEnd - argStart;
    memset(area, 0, size);
    size_t t = strlen(title);
    memcpy(area, title, t < size - 1 ? t : size - 1);
  }
  struct stat was;
  bool have = lstat(path, &was) == 0;
  // Tell the parent the title is in place: it returns only then, so nobody who looks for
  // passt by its arguments once passt reported ready can see this child as a second one.
  const char ready = 'r';
  ssize_t told = write(sock, &ready, 1);
  (void)told;
  // No capabilities: the file is ours (we made it), which is what removing it takes.
  for (int cap = 0; cap < 64; cap++) prctl(PR_CAPBSET_DROP, cap, 0, 0, 0);
  CapSet(Caps{});
  sock_fprog fprog{len, const_cast<sock_filter*>(filter)};
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 || syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &fprog) < 0) _exit(126);
  for (;;) {
    char c;
    ssize_t n = read(sock, &c, 1);
    if (n < 0 && errno == EINTR) continue;
    int32_t result = have ? UnlinkIfSame(path, was) : -ENOENT;
    if (n == 1) {
      ssize_t w = write(sock, &result, sizeof(result));
      (void)w;
    }
    _exit(0);
  }
}

/**
 * unlinker(path, program, title): fork a child that removes `path` (if it is
 * still the same file) when asked with unlinkerRun(), or when our end of the
 * socket closes (this process exited). The child shows `title` as its
 * command line, drops its capabilities and runs under `program` (a seccomp
 * filter, as bytes). Returns { pid, fd }.
 */
Napi::Value Unlinker(const Napi::CallbackInfo& info) {
  Args a(info, "unlinker", 3);
  std::string path = a.Str(0);
  Span<uint8_t> prog = a.Bytes(1);
  std::string titleArg = a.Str(2);
  if (!a.ok) return a.Fail();
  Napi::Env env = info.Env();
  if (prog.length == 0 || prog.length % sizeof(sock_filter) != 0 || prog.length / sizeof(sock_filter) > BPF_MAXINSNS) {
    Napi::RangeError::New(env, "unlinker: the program must be 1 to 4096 instructions of 8 bytes").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  if (path.empty() || path.find('\0') != std::string::npos) {
    Napi::TypeError::New(env, "unlinker: path must be a non-empty string without NUL").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  std::vector<sock_filter> filter(prog.length / sizeof(sock_filter));
  memcpy(filter.data(), prog.data, prog.length);
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) return ThrowErrno(env, "unlinker: socketpair", errno);
  pid_t parent = getpid();
  uintptr_t argStart = 0, argEnd = 0;
  if (!ArgArea(&argStart, &argEnd)) argStart = argEnd = 0;
  const std::string& title = titleArg;
  sigset_t all, saved;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &saved);
  pid_t pid = fork();
  if (pid == 0) {
    close(sv[0]);
    UnlinkerChild(sv[1], path.c_str(), filter.data(), static_cast<unsigned short>(filter.size()), parent, argStart, argEnd,
                  title.c_str());
  }
  int forkErr = errno;
  pthread_sigmask(SIG_SETMASK, &saved, nullptr);
  close(sv[1]);
  if (pid < 0) {
    close(sv[0]);
    return ThrowErrno(env, "unlinker: fork", forkErr);
  }
  // Wait (2 s at most) until the child shows its own title (see UnlinkerChild).
  pollfd pfd{sv[0], POLLIN, 0};
  int polled;
  do {
    polled = poll(&pfd, 1, 2000);
  } while (polled < 0 && errno == EINTR);
  if (polled > 0 && pfd.revents & POLLIN) {
    char ready;
    ssize_t got = recv(sv[0], &ready, 1, MSG_DONTWAIT);
    (void)got;
  }
  Napi::Object r = Napi::Object::New(env);
  r.Set("pid", Napi::Number::New(env, pid));
  r.Set("fd", Napi::Number::New(env, sv[0]));
  return r;
}

/** unlinkerRun(fd, timeoutMs): ask the unlinker to remove its file now; returns its result (0 or -errno), or -ETIMEDOUT. Closes fd. */
Napi::Value UnlinkerRun(const Napi::CallbackInfo& info) {
  Args a(info, "unlinkerRun", 2);
  int fd = a.Int(0);
  int timeoutMs = a.Int(1);
  if (!a.ok) return a.Fail();
  int32_t result = -EIO;
  // A "ready" the constructor did not wait long enough for: not the answer.
  char ready;
  while (recv(fd, &ready, 1, MSG_DONTWAIT) == 1) {
  }
  char c = 'u';
  if (send(fd, &c, 1, MSG_NOSIGNAL) != 1) {
    result = NegErrno();
  } else {
    pollfd p{fd, POLLIN, 0};
    int r;
    do {
      r = poll(&p, 1, timeoutMs);
    } while (r < 0 && errno == EINTR);
    if (r == 0) result = -ETIMEDOUT;
    else if (r < 0) result = NegErrno();
    else if (recv(fd, &result, sizeof(result), 0) != static_cast<ssize_t>(sizeof(result))) result = -EPIPE;
  }
  close(fd);
  return Num(info.Env(), result);
}

}  // namespace

void InitSandbox(Napi::Env env, Napi::Object exports) {
  exports.Set("sandboxCaps", Napi::Function::New<SandboxCaps>(env, "sandboxCaps"));
  exports.Set("raiseNofile", Napi::Function::New<RaiseNofile>(env, "raiseNofile"));
  exports.Set("sandboxEmptyRoot", Napi::Function::New<SandboxEmptyRoot>(env, "sandboxEmptyRoot"));
  exports.Set("sandboxThreads", Napi::Function::New<SandboxThreads>(env, "sandboxThreads"));
  exports.Set("sandboxSeccomp", Napi::Function::New<SandboxSeccomp>(env, "sandboxSeccomp"));
  exports.Set("landlockAbi", Napi::Function::New<LandlockAbi>(env, "landlockAbi"));
  exports.Set("landlockRuleset", Napi::Function::New<LandlockRuleset>(env, "landlockRuleset"));
  exports.Set("landlockDenyFiles", Napi::Function::New<LandlockDenyFiles>(env, "landlockDenyFiles"));
  exports.Set("sandboxNoNewPrivs", Napi::Function::New<SandboxNoNewPrivs>(env, "sandboxNoNewPrivs"));
  exports.Set("dirHasEntry", Napi::Function::New<DirHasEntry>(env, "dirHasEntry"));
  exports.Set("socketpair", Napi::Function::New<SocketPair>(env, "socketpair"));
  exports.Set("unlinker", Napi::Function::New<Unlinker>(env, "unlinker"));
  exports.Set("unlinkerRun", Napi::Function::New<UnlinkerRun>(env, "unlinkerRun"));
}

}  // namespace passt
