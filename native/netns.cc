// Theory of operation: Node is multithreaded, and the kernel refuses
// unshare(CLONE_NEWUSER) and setns(CLONE_NEWUSER) to multithreaded processes
// (see doc/design.md, "Namespaces and a multithreaded runtime"). So every
// namespace operation happens in a freshly forked, single-threaded child:
//
// - nsCreate forks a child that unshares a user namespace (optional, with a
//   one-uid map to root) and a network namespace, reports success or the
//   failing step on a status pipe, then waits on a "go" pipe before it execs
//   the command, so the parent can set up the namespace (tap, addresses)
//   before the command runs. With no command the child holds the namespaces
//   until it is killed.
// - nsHelper forks a child that joins existing namespaces and then serves
//   requests on a SOCK_SEQPACKET socket: "make a socket" or "make a tap",
//   answered with the new fd passed back by SCM_RIGHTS. A socket keeps the
//   namespace it was created in, so the parent uses it from the host side.
//   Once pasta is set up, "lock" sandboxes the helper itself (LockHelper):
//   an empty root where it can have one, no capabilities, and a seccomp filter that lets it make sockets of the
//   families the engine still asks for and pass them back, nothing else; a
//   tap is refused from then on.
//
// Everything the children need (argv, env, uid/gid map text) is built before
// fork(); between fork() and exec/_exit a child only makes syscalls, with no
// allocation and no locale-dependent library calls, because another thread
// of the parent may have held a lock at the time of the fork. All signals are
// blocked around fork() so that no handler of Node's runs in the child before
// it resets every disposition to the default.
#include <dirent.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/sched.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <grp.h>
#include <unistd.h>

#include <cstring>
#include <string>
#include <vector>

#include "common.h"
#include "helper.h"
#include "tap.h"

#ifndef P_PIDFD
#define P_PIDFD 3
#endif
#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_close_range
#define SYS_close_range 436
#endif

namespace passt {
namespace {

// --- steps a child can fail at, reported as an index ------------------------

enum Step : int32_t {
  kStepOk = 0,
  kStepPrctl,
  kStepUnshareUser,
  kStepSetgroups,
  kStepUidMap,
  kStepGidMap,
  kStepUnshareNet,
  kStepStatUserns,
  kStepSetnsUser,
  kStepSetnsNet,
  kStepSetid,
  kStepUnshareUts,
  kStepChdir,
  kStepCount,
};

const char* const kStepNames[kStepCount] = {
    "ok",
    "prctl(PR_SET_PDEATHSIG)",
    "unshare(CLONE_NEWUSER)",
    "write /proc/self/setgroups",
    "write /proc/self/uid_map",
    "write /proc/self/gid_map",
    "unshare(CLONE_NEWNET)",
    "fstat(user namespace)",
    "setns(CLONE_NEWUSER)",
    "setns(CLONE_NEWNET)",
    "setgid/setuid",
    "unshare(CLONE_NEWUTS)",
    "chdir",
};

struct Status {
  int32_t err;   // errno, 0 on success
  int32_t step;  // Step
};

// --- async-signal-safe helpers for the children ------------------------------

size_t Length(const char* s) {
  size_t n = 0;
  while (s[n]) n++;
  return n;
}

/** Appends s to buf[*used, size), always leaving room for a NUL. */
void Append(char* buf, size_t size, size_t* used, const char* s) {
  for (size_t i = 0; s[i] && *used + 1 < size; i++) buf[(*used)++] = s[i];
  buf[*used] = 0;
}

void WriteAll(int fd, const char* p, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return;
    p += w;
    n -= static_cast<size_t>(w);
  }
}

/** Writes "WHAT ARG: strerror\n" to stderr without allocating (upstream's die_perror() form). */
void ReportToStderr(const char* what, const char* arg, int err) {
  char msg[1024];
  size_t used = 0;
  Append(msg, sizeof(msg), &used, what);
  Append(msg, sizeof(msg), &used, arg);
  Append(msg, sizeof(msg), &used, ": ");
  const char* desc = strerrordesc_np(err);
  Append(msg, sizeof(msg), &used, desc ? desc : "unknown error");
  Append(msg, sizeof(msg), &used, "\n");
  WriteAll(2, msg, used);
}

/** Writes a whole string to a file; returns 0 or errno. */
int WriteFile(const char* path, const char* text) {
  int fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) return errno;
  size_t n = Length(text);
  ssize_t w;
  do {
    w = write(fd, text, n);
  } while (w < 0 && errno == EINTR);
  int err = w < 0 ? errno : (static_cast<size_t>(w) == n ? 0 : EIO);
  close(fd);
  return err;
}

void ResetSignals() {
  struct sigaction sa;
  memset(&sa, 0, sizeof(sa));
  sa.sa_handler = SIG_DFL;
  for (int sig = 1; sig < NSIG; sig++) sigaction(sig, &sa, nullptr);  // fails harmlessly for KILL, STOP
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
}

bool Contains(const int* fds, int n, int fd) {
  for (int i = 0; i < n; i++)
    if (fds[i] == fd) return true;
  return false;
}

struct LinuxDirent64 {
  uint64_t d_ino;
  int64_t d_off;
  unsigned short d_reclen;
  unsigned char d_type;
  char d_name[1];
};

/**
 * Closes every fd from 3 up that is not in `keep`; with onlyCloexec, only
 * those marked FD_CLOEXEC (they would go at exec anyway, but a child that
 * waits before exec must not hold them meanwhile). Reads /proc/self/fd with
 * getdents64 into a stack buffer (no allocation).
 */
void CloseFds(const int* keep, int nkeep, bool onlyCloexec) {
  int dir = open("/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir < 0) {
    if (!onlyCloexec) {
      // No /proc: close_range around the fds to keep (sorted, small set).
      int sorted[8];
      int n = 0;
      for (int i = 0; i < nkeep && n < 8; i++)
        if (keep[i] >= 3) sorted[n++] = keep[i];
      for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && sorted[j - 1] > sorted[j]; j--) {
          int t = sorted[j];
          sorted[j] = sorted[j - 1];
          sorted[j - 1] = t;
        }
      unsigned from = 3;
      for (int i = 0; i < n; i++) {
        if (static_cast<unsigned>(sorted[i]) > from) syscall(SYS_close_range, from, sorted[i] - 1, 0);
        from = static_cast<unsigned>(sorted[i]) + 1;
      }
      syscall(SYS_close_range, from, ~0U, 0);
    }
    return;
  }
  alignas(8) char buf[4096];
  for (;;) {
    long n = syscall(SYS_getdents64, dir, buf, sizeof(buf));
    if (n <= 0) break;
    for (long off = 0; off < n;) {
      auto* d = reinterpret_cast<LinuxDirent64*>(buf + off);
      off += d->d_reclen;
      if (d->d_name[0] < '0' || d->d_name[0] > '9') continue;
      int fd = 0;
      for (const char* p = d->d_name; *p >= '0' && *p <= '9'; p++) fd = fd * 10 + (*p - '0');
      if (fd < 3 || fd == dir || Contains(keep, nkeep, fd)) continue;
      if (onlyCloexec) {
        int flags = fcntl(fd, F_GETFD);
        if (flags < 0 || !(flags & FD_CLOEXEC)) continue;
      }
      close(fd);
    }
  }
  close(dir);
}

/** Moves an fd that sits on 0, 1 or 2 above them, so stdio can be replaced. */
int AboveStdio(int fd) {
  if (fd < 0 || fd > 2) return fd;
  int moved = fcntl(fd, F_DUPFD_CLOEXEC, 3);
  if (moved < 0) return fd;
  close(fd);
  return moved;
}

/** Points stdin, stdout and stderr at /dev/null (a child that never prints). */
void StdioToDevNull() {
  int fd = open("/dev/null", O_RDWR);
  if (fd < 0) return;
  for (int i = 0; i < 3; i++)
    if (fd != i) dup2(fd, i);
  if (fd > 2) close(fd);
}

// --- nsCreate ------------------------------------------------------------------

struct CreatePlan {
  bool userns = false;
  bool holder = false;
  /** Switch to this user and group before unsharing (root running as --runas), if runAs. */
  bool runAs = false;
  uid_t runUid = 0;
  gid_t runGid = 0;
  /** A UTS namespace of its own, with this host name (empty: none). */
  std::string hostname;
  /** Join this user namespace (--userns with a command) instead of making one; -1: none. */
  int joinUserns = -1;
  pid_t parent = 0;
  std::string uidMap, gidMap, cwd;
  /** A holder execs this (build/Release/node-passt-nsholder), if not empty; see HolderExec. */
  std::string holderExe;
  std::vector<std::string> argv, env;
  std::vector<char*> argvp, envp;
  int goRead = -1, goWrite = -1, statusRead = -1, statusWrite = -1;
};

[[noreturn]] void CreateChild(const CreatePlan& p) {
  close(p.goWrite);
  close(p.statusRead);
  Status st{0, kStepOk};

  if (p.holder) {
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0) st = {errno, kStepPrctl};
    if (getppid() != p.parent) _exit(0);
  }
  ResetSignals();

  // The command's working directory, entered while we are still who the caller is: after the
  // switch to --runas's user it may no longer be reachable by path (a root-only directory),
  // but a working directory, once entered, stays (upstream's command inherits it).
  if (st.err == 0 && !p.holder && !p.cwd.empty() && chdir(p.cwd.c_str()) < 0) st = {errno, kStepChdir};
  // As upstream's isolate_user(): drop to the user first, so that the user namespace is
  // owned by it. A change of credentials makes the process undumpable, which would close
  // /proc/self/uid_map to it: make it dumpable again (it execs the command next).
  if (st.err == 0 && p.runAs) {
    if (setgroups(0, nullptr) < 0 && errno != EPERM) st = {errno, kStepSetid};
    else if (setgid(p.runGid) < 0 || setuid(p.runUid) < 0) st = {errno, kStepSetid};
    else prctl(PR_SET_DUMPABLE, 1);
  }
  if (st.err == 0 && p.joinUserns >= 0) {
    if (setns(p.joinUserns, CLONE_NEWUSER) < 0) st = {errno, kStepSetnsUser};
  } else if (st.err == 0 && p.userns) {
    if (unshare(CLONE_NEWUSER) < 0) {
      st = {errno, kStepUnshareUser};
    } else if (int e = WriteFile("/proc/self/setgroups", "deny")) {
      st = {e, kStepSetgroups};
    } else if (int e2 = WriteFile("/proc/self/uid_map", p.uidMap.c_str())) {
      st = {e2, kStepUidMap};
    } else if (int e3 = WriteFile("/proc/self/gid_map", p.gidMap.c_str())) {
      st = {e3, kStepGidMap};
    }
  }
  if (st.err == 0 && unshare(CLONE_NEWNET) < 0) st = {errno, kStepUnshareNet};
  if (st.err == 0 && !p.holder) {
    // As upstream's pasta_spawn_cmd(): the command may use ping sockets (group 0 of its
    // user namespace), and has a host name of its own. Both best effort.
    WriteFile("/proc/sys/net/ipv4/ping_group_range", "0 0");
    if (!p.hostname.empty()) {
      if (unshare(CLONE_NEWUTS) < 0) st = {errno, kStepUnshareUts};
      else sethostname(p.hostname.data(), p.hostname.size());
    }
  }

  WriteAll(p.statusWrite, reinterpret_cast<const char*>(&st), sizeof(st));
  close(p.statusWrite);
  if (st.err != 0) _exit(126);

  // Do not hold the parent's fds (other children's go pipes, control
  // sockets) while waiting: that would keep their peers from seeing EOF.
  int goRead = p.holder ? AboveStdio(p.goRead) : p.goRead;
  CloseFds(&goRead, 1, !p.holder);
  if (p.holder) StdioToDevNull();

  char go = 0;
  ssize_t n;
  do {
    n = read(goRead, &go, 1);
  } while (n < 0 && errno == EINTR);
  if (n <= 0) _exit(0);  // the parent gave up (or died) before saying go
  close(goRead);

  if (p.holder) {
    // A fork of Node that only waits would keep a copy-on-write snapshot of the
    // whole Node heap as it was at the fork, and each page becomes its own as the
    // parent's heap changes: up to the parent's anonymous memory per holder. So it
    // execs a program that only waits (native/nsholder.c), which drops all of that
    // (doc/design.md, "The namespace holder"). PR_SET_PDEATHSIG survives the exec.
    // Without the program (a prebuild that lacks it), it waits here as before.
    if (!p.holderExe.empty()) {
      char name[] = "node-passt-nsholder";
      char* argv[] = {name, nullptr};
      char* envp[] = {nullptr};
      execve(p.holderExe.c_str(), argv, envp);
    }
    for (;;) pause();
  }
  // Node marks its own stdin, stdout and stderr close-on-exec; the command
  // inherits them.
  for (int fd = 0; fd < 3; fd++) {
    int flags = fcntl(fd, F_GETFD);
    if (flags >= 0 && (flags & FD_CLOEXEC)) fcntl(fd, F_SETFD, flags & ~FD_CLOEXEC);
  }
  // execvp searches the PATH of `environ`: point it at the new environment
  // so the command is found (and run) with the PATH it is given.
  environ = const_cast<char**>(p.envp.data());
  execvp(p.argvp[0], p.argvp.data());
  // In upstream's words (pasta.c).
  ReportToStderr("Failed to start command or shell", "", errno);
  _exit(127);
}

/** Throws Error("<what>: <strerror>") with .code, .errno (negative) and .syscall. */
Napi::Value ThrowErrno(Napi::Env env, const std::string& what, int err) {
  const char* name = strerrorname_np(err);
  Napi::Error e = Napi::Error::New(env, what + ": " + strerror(err));
  e.Set("code", Napi::String::New(env, name ? name : "EUNKNOWN"));
  e.Set("errno", Napi::Number::New(env, -err));
  e.Set("syscall", Napi::String::New(env, what));
  e.ThrowAsJavaScriptException();
  return env.Undefined();
}

/** waitpid that retries EINTR. */
void Reap(pid_t pid) {
  while (waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
  }
}

/** fork() with every signal blocked in the parent thread across the call. */
pid_t ForkBlocked(sigset_t* saved) {
  sigset_t all;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, saved);
  return fork();
}

/** Reads a string array property; throws a TypeError naming nsCreate. */
bool StringArray(Napi::Env env, Napi::Object opts, const char* key, std::vector<std::string>* out) {
  Napi::Value v = opts.Get(key);
  if (!v.IsArray()) {
    Napi::TypeError::New(env, std::string("nsCreate: opts.") + key + " must be an array of strings")
        .ThrowAsJavaScriptException();
    return false;
  }
  Napi::Array arr = v.As<Napi::Array>();
  for (uint32_t i = 0; i < arr.Length(); i++) {
    Napi::Value s = arr.Get(i);
    if (!s.IsString()) {
      Napi::TypeError::New(env, std::string("nsCreate: opts.") + key + " must be an array of strings")
          .ThrowAsJavaScriptException();
      return false;
    }
    std::string str = s.As<Napi::String>().Utf8Value();
    if (str.find('\0') != std::string::npos) {
      Napi::TypeError::New(env, std::string("nsCreate: opts.") + key + " must not contain NUL characters")
          .ThrowAsJavaScriptException();
      return false;
    }
    out->push_back(std::move(str));
  }
  return true;
}

Napi::Value NsCreate(const Napi::CallbackInfo& info) {
  Args a(info, "nsCreate", 1);
  Napi::Object opts = a.Obj(0);
  if (!a.ok) return a.Fail();
  Napi::Env env = info.Env();

  CreatePlan p;
  Napi::Value userns = opts.Get("userns");
  Napi::Value uid = opts.Get("uid");
  Napi::Value gid = opts.Get("gid");
  Napi::Value cwd = opts.Get("cwd");
  const char* bad = nullptr;
  if (!userns.IsBoolean()) bad = "nsCreate: opts.userns must be a boolean";
  else if (!uid.IsNumber()) bad = "nsCreate: opts.uid must be a number";
  else if (!gid.IsNumber()) bad = "nsCreate: opts.gid must be a number";
  else if (!cwd.IsString()) bad = "nsCreate: opts.cwd must be a string";
  if (bad) {
    Napi::TypeError::New(env, bad).ThrowAsJavaScriptException();
    return env.Undefined();
  }
  p.userns = userns.As<Napi::Boolean>().Value();
  Napi::Value runAs = opts.Get("runAs");
  if (runAs.IsObject()) {
    Napi::Object r = runAs.As<Napi::Object>();
    if (!r.Get("uid").IsNumber() || !r.Get("gid").IsNumber()) {
      Napi::TypeError::New(env, "nsCreate: opts.runAs must be { uid, gid }").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    p.runAs = true;
    p.runUid = r.Get("uid").As<Napi::Number>().Uint32Value();
    p.runGid = r.Get("gid").As<Napi::Number>().Uint32Value();
  }
  Napi::Value joinUserns = opts.Get("usernsFd");
  if (joinUserns.IsNumber()) p.joinUserns = joinUserns.As<Napi::Number>().Int32Value();
  Napi::Value hostname = opts.Get("hostname");
  if (hostname.IsString()) p.hostname = hostname.As<Napi::String>().Utf8Value();
  Napi::Value holderExe = opts.Get("holderExe");
  if (holderExe.IsString()) p.holderExe = holderExe.As<Napi::String>().Utf8Value();
  p.uidMap = "0 " + std::to_string(uid.As<Napi::Number>().Uint32Value()) + " 1";
  p.gidMap = "0 " + std::to_string(gid.As<Napi::Number>().Uint32Value()) + " 1";
  p.cwd = cwd.As<Napi::String>().Utf8Value();
  if (!StringArray(env, opts, "argv", &p.argv) || !StringArray(env, opts, "env", &p.env)) {
    return env.Undefined();
  }
  p.holder = p.argv.empty();
  for (auto& s : p.argv) p.argvp.push_back(&s[0]);
  p.argvp.push_back(nullptr);
  for (auto& s : p.env) p.envp.push_back(&s[0]);
  p.envp.push_back(nullptr);
  p.parent = getpid();

  int go[2], status[2];
  if (pipe2(go, O_CLOEXEC) < 0) return ThrowErrno(env, "nsCreate: pipe", errno);
  if (pipe2(status, O_CLOEXEC) < 0) {
    int err = errno;
    close(go[0]);
    close(go[1]);
    return ThrowErrno(env, "nsCreate: pipe", err);
  }
  p.goRead = go[0];
  p.goWrite = go[1];
  p.statusRead = status[0];
  p.statusWrite = status[1];

  sigset_t saved;
  pid_t pid = ForkBlocked(&saved);
  if (pid == 0) CreateChild(p);
  int forkErr = errno;
  pthread_sigmask(SIG_SETMASK, &saved, nullptr);
  close(p.goRead);
  close(p.statusWrite);
  if (pid < 0) {
    close(p.goWrite);
    close(p.statusRead);
    return ThrowErrno(env, "nsCreate: fork", forkErr);
  }

  Status st{0, kStepOk};
  ssize_t n;
  do {
    n = read(p.statusRead, &st, sizeof(st));
  } while (n < 0 && errno == EINTR);
  int readErr = errno;
  close(p.statusRead);
  if (n != static_cast<ssize_t>(sizeof(st)) || st.err != 0) {
    close(p.goWrite);
    Reap(pid);
    if (n < 0) return ThrowErrno(env, "nsCreate: read status", readErr);
    if (n != static_cast<ssize_t>(sizeof(st))) {
      Napi::Error::New(env, "nsCreate: the child exited before reporting").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    const char* step = st.step > 0 && st.step < kStepCount ? kStepNames[st.step] : "namespace setup";
    return ThrowErrno(env, step, st.err);
  }

  // The child waits for "go", so its /proc entries are stable here.
  std::string proc = "/proc/" + std::to_string(pid) + "/ns/";
  int netnsFd = open((proc + "net").c_str(), O_RDONLY | O_CLOEXEC);
  int err = errno;
  std::string failed = proc + "net";
  int usernsFd = -1;
  int pidfd = -1;
  if (netnsFd >= 0 && (p.userns || p.joinUserns >= 0)) {
    usernsFd = open((proc + "user").c_str(), O_RDONLY | O_CLOEXEC);
    err = errno;
    failed = proc + "user";
  }
  if (netnsFd >= 0 && (!(p.userns || p.joinUserns >= 0) || usernsFd >= 0)) {
    pidfd = static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
    err = errno;
    failed = "pidfd_open";
  }
  if (pidfd < 0) {
    if (netnsFd >= 0) close(netnsFd);
    if (usernsFd >= 0) close(usernsFd);
    close(p.goWrite);
    kill(pid, SIGKILL);
    Reap(pid);
    return ThrowErrno(env, "nsCreate: open " + failed, err);
  }

  Napi::Object result = Napi::Object::New(env);
  result.Set("pid", Napi::Number::New(env, pid));
  result.Set("pidfd", Napi::Number::New(env, pidfd));
  result.Set("netnsFd", Napi::Number::New(env, netnsFd));
  result.Set("usernsFd", Napi::Number::New(env, usernsFd));
  result.Set("goFd", Napi::Number::New(env, p.goWrite));
  return result;
}

Napi::Value NsGo(const Napi::CallbackInfo& info) {
  Args a(info, "nsGo", 1);
  int fd = a.Int(0);
  if (!a.ok) return a.Fail();
  char go = 1;
  ssize_t n;
  do {
    n = write(fd, &go, 1);
  } while (n < 0 && errno == EINTR);
  int err = n < 0 ? -errno : 0;
  if (close(fd) < 0 && errno != EINTR && err == 0) err = -errno;
  return Num(a.Env(), err);
}

// --- nsHelper ------------------------------------------------------------------

/**
 * Would exec(2) keep this process's capabilities as they are — neither lose
 * any nor gain any — for a program without file capabilities? As root
 * (euid 0) the new permitted set is the bounding set: the same if the
 * permitted set already holds all of it (nothing was dropped from it but
 * also from the bounding set). As another user it is empty (no ambient
 * capabilities here): the same if it is empty now. Read from
 * /proc/self/status; false if that cannot be read.
 */
bool ExecKeepsCapabilities() {
  FILE* f = fopen("/proc/self/status", "re");
  if (!f) return false;
  char line[256];
  unsigned long long prm = 0, bnd = 0;
  int found = 0;
  while (fgets(line, sizeof(line), f)) {
    if (sscanf(line, "CapPrm: %llx", &prm) == 1) found |= 1;
    if (sscanf(line, "CapBnd: %llx", &bnd) == 1) found |= 2;
  }
  fclose(f);
  if (found != 3) return false;
  return geteuid() == 0 ? (bnd & ~prm) == 0 : prm == 0;
}

[[noreturn]] void HelperChild(int sock, int usernsFd, int netnsFd, pid_t parent, const char* helperExe) {
  // Its own name in ps(1) and in the kernel's seccomp log lines (comm=), rather than "node".
  prctl(PR_SET_NAME, "nshelper", 0, 0, 0);
  Status st{0, kStepOk};
  if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0) st = {errno, kStepPrctl};
  if (getppid() != parent) _exit(0);
  ResetSignals();
  sock = AboveStdio(sock);
  usernsFd = AboveStdio(usernsFd);
  netnsFd = AboveStdio(netnsFd);
  int keep[3] = {sock, usernsFd, netnsFd};
  CloseFds(keep, 3, false);
  StdioToDevNull();

  bool joinedUserns = false;
  if (st.err == 0 && usernsFd >= 0) {
    // Joining the user namespace we are already in fails with EINVAL: skip it.
    struct stat target, self;
    if (fstat(usernsFd, &target) < 0) {
      st = {errno, kStepStatUserns};
    } else if (stat("/proc/self/ns/user", &self) < 0 || self.st_ino != target.st_ino ||
               self.st_dev != target.st_dev) {
      if (setns(usernsFd, CLONE_NEWUSER) < 0) st = {errno, kStepSetnsUser};
      else joinedUserns = true;
    }
  }
  if (st.err == 0 && setns(netnsFd, CLONE_NEWNET) < 0) st = {errno, kStepSetnsNet};
  if (usernsFd >= 0) close(usernsFd);
  close(netnsFd);
  while (send(sock, &st, sizeof(st), MSG_NOSIGNAL) < 0 && errno == EINTR) {
  }
  if (st.err != 0) _exit(126);

  // A fork of Node serving requests would keep a copy-on-write image of the whole Node
  // process, which becomes its own page by page as the parent's heap changes (doc/design.md,
  // "The namespace holder"), so it execs node-passt-nsholder, which serves the same loop
  // (native/helper.cc) on fd 3. Only where the exec keeps what the helper may do: having
  // joined a user namespace, it holds every capability in it, and an exec as root there
  // (uid 0 in it) keeps them all (the bounding set), so tap devices can still be made;
  // without joining one (root of the namespace's own user namespace: Podman's and
  // rootlesskit's pasta, the shared engine), only if the exec neither loses capabilities
  // nor gains ones dropped from the permitted set (ExecKeepsCapabilities); otherwise it
  // serves here as before.
  if (helperExe != nullptr && helperExe[0] != 0 && ((joinedUserns && geteuid() == 0) || (!joinedUserns && ExecKeepsCapabilities()))) {
    int fd = sock;
    if (fd != 3 && dup2(sock, 3) == 3) {
      close(sock);
      fd = 3;
    } else if (fd == 3) {
      fcntl(fd, F_SETFD, 0);
    }
    if (fd == 3) {
      char name[] = "nshelper";
      char mode[] = "helper";
      char* argv[] = {name, mode, nullptr};
      char* envp[] = {nullptr};
      execve(helperExe, argv, envp);
      fcntl(fd, F_SETFD, FD_CLOEXEC);
    }
    sock = fd;
  }
  HelperServe(sock);
}

Napi::Value NsHelper(const Napi::CallbackInfo& info) {
  Args a(info, "nsHelper", 2, 3);
  int usernsFd = a.Int(0);
  int netnsFd = a.Int(1);
  if (!a.ok) return a.Fail();
  Napi::Env env = info.Env();
  // The helper's program (see HelperChild), built before the fork.
  std::string helperExe;
  if (info.Length() > 2 && info[2].IsString()) helperExe = info[2].As<Napi::String>().Utf8Value();
  if (usernsFd < 0) usernsFd = -1;

  int sv[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
    return ThrowErrno(env, "nsHelper: socketpair", errno);
  }
  pid_t parent = getpid();
  sigset_t saved;
  pid_t pid = ForkBlocked(&saved);
  if (pid == 0) HelperChild(sv[1], usernsFd, netnsFd, parent, helperExe.c_str());
  int forkErr = errno;
  pthread_sigmask(SIG_SETMASK, &saved, nullptr);
  close(sv[1]);
  if (pid < 0) {
    close(sv[0]);
    return ThrowErrno(env, "nsHelper: fork", forkErr);
  }

  Status st{0, kStepOk};
  ssize_t n;
  do {
    n = recv(sv[0], &st, sizeof(st), 0);
  } while (n < 0 && errno == EINTR);
  int readErr = errno;
  if (n != static_cast<ssize_t>(sizeof(st)) || st.err != 0) {
    close(sv[0]);
    Reap(pid);
    if (n < 0) return ThrowErrno(env, "nsHelper: recv status", readErr);
    if (n != static_cast<ssize_t>(sizeof(st))) {
      Napi::Error::New(env, "nsHelper: the helper exited before reporting").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    const char* step = st.step > 0 && st.step < kStepCount ? kStepNames[st.step] : "namespace setup";
    return ThrowErrno(env, step, st.err);
  }

  Napi::Object result = Napi::Object::New(env);
  result.Set("pid", Napi::Number::New(env, pid));
  result.Set("ctlFd", Napi::Number::New(env, sv[0]));
  return result;
}

/**
 * One request/reply with the helper: the fds it passed go to `fds` (at most
 * `max`; any beyond are closed). Returns the count of fds, or -errno (none
 * kept). `reply` gets the helper's reply.
 */
int HelperExchange(int ctlFd, const HelperRequest& req, int* fds, int max, HelperReply* replyOut) {
  ssize_t n;
  do {
    n = send(ctlFd, &req, sizeof(req), MSG_NOSIGNAL);
  } while (n < 0 && errno == EINTR);
  if (n < 0) return -errno;

  HelperReply reply{-EIO, 0};
  iovec iov{&reply, sizeof(reply)};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * (kMaxBatchFds + 4))];
  msghdr mh{};
  mh.msg_iov = &iov;
  mh.msg_iovlen = 1;
  mh.msg_control = control;
  mh.msg_controllen = sizeof(control);
  do {
    n = recvmsg(ctlFd, &mh, MSG_CMSG_CLOEXEC);
  } while (n < 0 && errno == EINTR);
  if (n < 0) return -errno;
  if (n == 0) return -EPIPE;  // the helper is gone

  int count = 0;
  for (cmsghdr* cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm)) {
    if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS) continue;
    size_t nfds = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (size_t i = 0; i < nfds; i++) {
      int got;
      memcpy(&got, CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
      if (count < max) fds[count++] = got;
      else close(got);
    }
  }
  auto dropAll = [&]() {
    for (int i = 0; i < count; i++) close(fds[i]);
  };
  if (n != static_cast<ssize_t>(sizeof(reply))) {
    dropAll();
    return -EBADMSG;
  }
  if (replyOut) *replyOut = reply;  // on failure too: kOpTap says there which step failed
  if (reply.result < 0) {
    dropAll();
    return reply.result;
  }
  if (count == 0) return (mh.msg_flags & MSG_CTRUNC) ? -EMFILE : -EBADMSG;
  return count;
}

/** One request/reply with the helper for a single fd; returns the fd or -errno. */
int HelperCall(int ctlFd, const HelperRequest& req, int* ifindex) {
  int fd = -1;
  HelperReply reply{};
  int n = HelperExchange(ctlFd, req, &fd, 1, &reply);
  if (ifindex) *ifindex = reply.ifindex;
  if (n < 0) return n;
  return fd;
}

Napi::Value NsSocket(const Napi::CallbackInfo& info) {
  Args a(info, "nsSocket", 4);
  int ctlFd = a.Int(0);
  HelperRequest req{};
  req.op = kOpSocket;
  req.family = a.Int(1);
  req.type = a.Int(2);
  req.protocol = a.Int(3);
  if (!a.ok) return a.Fail();
  return Num(a.Env(), HelperCall(ctlFd, req, nullptr));
}

Napi::Value NsSockets(const Napi::CallbackInfo& info) {
  Args a(info, "nsSockets", 5);
  int ctlFd = a.Int(0);
  HelperRequest req{};
  req.op = kOpSockets;
  req.family = a.Int(1);
  req.type = a.Int(2);
  req.protocol = a.Int(3);
  Span<int32_t> out = a.I32(4);
  a.AtLeast(out.length, 1, "out");
  if (!a.ok) return a.Fail();
  req.count = static_cast<int32_t>(out.length < kMaxBatchFds ? out.length : kMaxBatchFds);
  int fds[kMaxBatchFds];
  int n = HelperExchange(ctlFd, req, fds, req.count, nullptr);
  for (int i = 0; i < n; i++) out.data[i] = fds[i];
  return Num(a.Env(), n);
}

Napi::Value NsTap(const Napi::CallbackInfo& info) {
  Args a(info, "nsTap", 3);
  int ctlFd = a.Int(0);
  std::string name = a.Str(1);
  Span<int32_t> out = a.I32(2);
  a.AtLeast(out.length, 1, "info");
  if (!a.ok) return a.Fail();
  HelperRequest req{};
  req.op = kOpTap;
  if (name.size() >= sizeof(req.name) || name.find('\0') != std::string::npos) {
    return Num(a.Env(), -EINVAL);
  }
  memcpy(req.name, name.data(), name.size());
  int ifindex = 0;
  int fd = HelperCall(ctlFd, req, &ifindex);
  if (fd >= 0) {
    out.data[0] = ifindex;
    // Taps are made with IFF_VNET_HDR and the default header size.
    if (out.length > 1) out.data[1] = TAP_VNET_HDR_LEN;
  } else if (out.length > 2) {
    out.data[2] = ifindex;  // which step failed: TAP_STEP_*
  }
  return Num(a.Env(), fd);
}

Napi::Value NsLock(const Napi::CallbackInfo& info) {
  Args a(info, "nsLock", 2);
  int ctlFd = a.Int(0);
  Span<uint8_t> program = a.Bytes(1);
  if (!a.ok) return a.Fail();
  if (program.length == 0 || program.length > kMaxProgram) return Num(a.Env(), -EINVAL);
  HelperRequest req{};
  req.op = kOpLock;
  req.count = static_cast<int32_t>(program.length);
  ssize_t n;
  do {
    n = send(ctlFd, &req, sizeof(req), MSG_NOSIGNAL);
  } while (n < 0 && errno == EINTR);
  if (n < 0) return Num(a.Env(), NegErrno());
  do {
    n = send(ctlFd, program.data, program.length, MSG_NOSIGNAL);
  } while (n < 0 && errno == EINTR);
  if (n < 0) return Num(a.Env(), NegErrno());
  HelperReply reply{-EIO, 0};
  do {
    n = recv(ctlFd, &reply, sizeof(reply), 0);
  } while (n < 0 && errno == EINTR);
  if (n < 0) return Num(a.Env(), NegErrno());
  if (n != static_cast<ssize_t>(sizeof(reply))) return Num(a.Env(), n == 0 ? -EPIPE : -EBADMSG);
  return Num(a.Env(), reply.result);
}

// --- processes -----------------------------------------------------------------

Napi::Value PidfdOpen(const Napi::CallbackInfo& info) {
  Args a(info, "pidfdOpen", 1);
  int pid = a.Int(0);
  if (!a.ok) return a.Fail();
  long fd = syscall(SYS_pidfd_open, pid, 0);
  return Num(a.Env(), fd < 0 ? -errno : static_cast<double>(fd));
}

/** waitid(type, id, WEXITED | WNOHANG) into *si (zeroed first: si_pid stays 0 while the child runs), again on EINTR. */
int WaitExitedNoHang(idtype_t type, id_t id, siginfo_t* si) {
  memset(si, 0, sizeof(*si));
  int r;
  do {
    r = waitid(type, id, si, WEXITED | WNOHANG);
  } while (r < 0 && errno == EINTR);
  return r;
}

Napi::Value WaitPidfd(const Napi::CallbackInfo& info) {
  Args a(info, "waitPidfd", 1);
  int pidfd = a.Int(0);
  if (!a.ok) return a.Fail();
  siginfo_t si;
  if (WaitExitedNoHang(static_cast<idtype_t>(P_PIDFD), static_cast<id_t>(pidfd), &si) < 0) return Num(a.Env(), -errno - 1000);
  if (si.si_pid == 0) return Num(a.Env(), -1);
  if (si.si_code == CLD_EXITED) return Num(a.Env(), si.si_status);
  return Num(a.Env(), 128 + si.si_status);  // CLD_KILLED, CLD_DUMPED
}

/**
 * reapChild(pid): waitid(P_PID, WEXITED | WNOHANG) for a child of ours.
 * Returns 1 if it had exited (and is reaped now), 0 while it runs, -errno
 * (-ECHILD: not ours, or reaped already).
 */
Napi::Value ReapChild(const Napi::CallbackInfo& info) {
  Args a(info, "reapChild", 1);
  int pid = a.Int(0);
  if (!a.ok) return a.Fail();
  siginfo_t si;
  if (WaitExitedNoHang(P_PID, static_cast<id_t>(pid), &si) < 0) return Num(a.Env(), -errno);
  return Num(a.Env(), si.si_pid == pid ? 1 : 0);
}

Napi::Value Kill(const Napi::CallbackInfo& info) {
  Args a(info, "kill", 2);
  int pid = a.Int(0);
  int sig = a.Int(1);
  if (!a.ok) return a.Fail();
  return Num(a.Env(), kill(pid, sig) < 0 ? -errno : 0);
}

}  // namespace

void InitNetns(Napi::Env env, Napi::Object exports) {
  exports.Set("nsCreate", Napi::Function::New<NsCreate>(env, "nsCreate"));
  exports.Set("nsGo", Napi::Function::New<NsGo>(env, "nsGo"));
  exports.Set("nsHelper", Napi::Function::New<NsHelper>(env, "nsHelper"));
  exports.Set("nsSocket", Napi::Function::New<NsSocket>(env, "nsSocket"));
  exports.Set("nsSockets", Napi::Function::New<NsSockets>(env, "nsSockets"));
  exports.Set("nsTap", Napi::Function::New<NsTap>(env, "nsTap"));
  exports.Set("nsLock", Napi::Function::New<NsLock>(env, "nsLock"));
  exports.Set("pidfdOpen", Napi::Function::New<PidfdOpen>(env, "pidfdOpen"));
  exports.Set("waitPidfd", Napi::Function::New<WaitPidfd>(env, "waitPidfd"));
  exports.Set("reapChild", Napi::Function::New<ReapChild>(env, "reapChild"));
  exports.Set("kill", Napi::Function::New<Kill>(env, "kill"));
}

}  // namespace passt
