// The launcher's side of the shared engine (doc/design.md, "The shared
// engine"; the engine is src/cli/shared.ts): pasta's first process hands
// its command line to the user's engine and waits for the namespace to be
// ready, with no Node of its own.
//
// - The socket and its lock file are $XDG_RUNTIME_DIR/node-passt/
//   engine-USERNS-MNTNS-BUILD.{sock,lock} (/run/user/UID if that is not
//   set): one engine per user namespace (whose namespaces it can enter),
//   mount namespace (in which the paths of a command line mean the same)
//   and build of this package (BuildKey: an upgrade starts an engine of its
//   own). The directory must be ours and closed to others (0700).
// - Under the lock (flock): connect, or start the engine (`node SCRIPT` in a
//   new session, NODE_PASTA_ENGINE_SOCKET and NODE_PASTA_ENGINE_READY_FD
//   set; it reports "ok" on that pipe once it listens) and connect; then let
//   the lock go. The engine exits when idle only holding the lock, after a
//   last look for connections, so a connection made under it is served.
// - One request (SOCK_SEQPACKET): "node-pasta-engine 1", the working
//   directory and the arguments, NUL-separated, our standard error passed
//   along (SCM_RIGHTS). One reply: "error" and the message (print it, exit
//   1), "fallback" (return: pasta runs by itself), or "ok", -f or not, the
//   PID file and log file of the command line.
// - "ok": with -f this process stays; otherwise it forks a process that
//   stays, in a new session, standard streams on /dev/null, and exits 0
//   once the PID file names that process. The process that stays holds the
//   connection and nothing else; killing it ends the namespace's service. It
//   exits with the status of the engine's "quit" (0: the namespace went
//   away), or, when the connection ends without one (the engine was killed
//   or crashed), says so — on standard error with -f, else to syslog, and to
//   the --log-file if there is one — and exits 1.
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "launch.h"

namespace launch {

namespace {

const char kProtocol[] = "node-pasta-engine 1";

[[noreturn]] void Fail(const std::string& message) {
  Say(message + "\n");
  exit(1);
}

/** A NUL-separated message's fields. */
std::vector<std::string> Fields(const char* data, size_t len) {
  std::vector<std::string> out(1);
  for (size_t i = 0; i < len; i++) {
    if (data[i] == '\0')
      out.emplace_back();
    else
      out.back() += data[i];
  }
  return out;
}

/** A connected SOCK_SEQPACKET socket to `path`, or -errno. */
int Connect(const std::string& path) {
  struct sockaddr_un sun;
  memset(&sun, 0, sizeof(sun));
  sun.sun_family = AF_UNIX;
  if (path.size() >= sizeof(sun.sun_path)) return -ENAMETOOLONG;
  memcpy(sun.sun_path, path.data(), path.size());
  int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  if (fd < 0) return -errno;
  int rc;
  do {
    rc = connect(fd, reinterpret_cast<struct sockaddr*>(&sun), sizeof(sun));
  } while (rc < 0 && errno == EINTR);
  if (rc < 0) {
    int err = errno;
    close(fd);
    return -err;
  }
  return fd;
}

/** Start the engine for `sock` (we hold the lock) and wait until it listens; exits 1 if it does not. */
void StartEngine(const char* script, const std::string& sock) {
  int report[2];
  if (pipe2(report, O_CLOEXEC) < 0) Fail(std::string("pasta: cannot start the shared engine: ") + strerror(errno));
  std::vector<std::string> env = NodeEnv();
  // Buffers of a namespace the engine stopped serving are freed while others are made: with
  // glibc's sliding mmap threshold, the next ones (a TapOut is 8 MiB) come from the heap, are
  // zeroed there page by page and stay resident after free. A fixed threshold keeps every large
  // buffer an mmap of its own, untouched until used and returned when freed (unless the
  // user's environment already says otherwise).
  if (!getenv("MALLOC_MMAP_THRESHOLD_")) env.push_back("MALLOC_MMAP_THRESHOLD_=262144");
  env.push_back("NODE_PASTA_ENGINE_SOCKET=" + sock);
  env.push_back("NODE_PASTA_ENGINE_READY_FD=3");
  std::vector<char*> envp;
  for (auto& s : env) envp.push_back(&s[0]);
  envp.push_back(nullptr);
  static char node[] = "node";
  // --expose-gc: the engine collects its garbage once a burst of requests is over (src/cli/shared.ts).
  static char exposeGc[] = "--expose-gc";
  char* nodeArgv[] = {node, exposeGc, const_cast<char*>(script), nullptr};
  pid_t pid = fork();
  if (pid < 0) Fail(std::string("pasta: cannot start the shared engine: ") + strerror(errno));
  if (pid == 0) {
    // Twice, so that the engine is nobody's child of ours: it outlives every pasta.
    pid_t engine = fork();
    if (engine != 0) _exit(engine < 0 ? 126 : 0);
    if (chdir("/") < 0) _exit(126);
    // NODE_PASTA_ENGINE_LOG=FILE: the engine's own standard error (a crash, a fatal error of
    // Node) goes there, appended, instead of /dev/null.
    const char* logPath = getenv("NODE_PASTA_ENGINE_LOG");
    int err = logPath && *logPath ? open(logPath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600) : -1;
    ExecDetachedNode(nodeArgv, envp.data(), report[1], -1, err);
  }
  close(report[1]);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  std::string text = ReadReport(report[0]);
  close(report[0]);
  size_t eol = text.find('\n');
  if (eol == std::string::npos) Fail("pasta: the shared engine exited before it was ready");
  std::string line = text.substr(0, eol);
  if (line == "ok") return;
  Fail(line.compare(0, 6, "error ") == 0 ? line.substr(6) : "pasta: the shared engine did not start: " + line);
}

/**
 * Under the lock: a connection to the engine at `sock`, started first if
 * nothing listens there; exits 1 if there is none.
 */
int ConnectOrStart(const char* script, const std::string& sock, const std::string& lock) {
  int lockFd = open(lock.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (lockFd < 0) Fail("pasta: --shared-engine: cannot open " + lock + ": " + strerror(errno));
  while (flock(lockFd, LOCK_EX) < 0 && errno == EINTR) {
  }
  int fd = Connect(sock);
  if (fd == -ENOENT || fd == -ECONNREFUSED) {
    StartEngine(script, sock);
    fd = Connect(sock);
  }
  if (fd < 0) Fail("pasta: cannot connect to the shared engine at " + sock + ": " + strerror(-fd));
  close(lockFd);
  return fd;
}

/** Send the request, our standard error along (if open). -1 with errno on failure. */
int SendRequest(int fd, std::string& request) {
  struct iovec iov = {&request[0], request.size()};
  struct msghdr msg;
  memset(&msg, 0, sizeof(msg));
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  alignas(struct cmsghdr) char control[CMSG_SPACE(sizeof(int))];
  int console = 2;
  if (fcntl(console, F_GETFD) >= 0) {
    msg.msg_control = control;
    msg.msg_controllen = sizeof(control);
    struct cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &console, sizeof(int));
  }
  ssize_t sent;
  do {
    sent = sendmsg(fd, &msg, MSG_NOSIGNAL);
  } while (sent < 0 && errno == EINTR);
  return sent < 0 ? -1 : 0;
}

/**
 * Which build of node-passt this is, as 16 hex digits: a hash of the
 * device, inode and modification time of SCRIPT (bin/pasta.js) and of the
 * engine's compiled module beside it (dist/cli/shared.js, rewritten by every
 * build). Part of the engine's socket name, so that an upgraded or another
 * install of the package starts an engine of its own, never hands its
 * namespaces to an older one still running.
 */
std::string BuildKey(const char* script) {
  std::string dir = script;
  size_t slash = dir.rfind('/');
  dir = slash == std::string::npos ? "." : dir.substr(0, slash);
  uint64_t h = 1469598103934665603ULL;  // FNV-1a
  auto mix = [&h](uint64_t v) {
    for (int i = 0; i < 8; i++) {
      h ^= (v >> (8 * i)) & 0xff;
      h *= 1099511628211ULL;
    }
  };
  for (const std::string& file : {std::string(script), dir + "/../dist/cli/shared.js"}) {
    struct stat st;
    if (stat(file.c_str(), &st) < 0) continue;
    mix(st.st_dev);
    mix(st.st_ino);
    mix(static_cast<uint64_t>(st.st_mtim.tv_sec));
    mix(static_cast<uint64_t>(st.st_mtim.tv_nsec));
  }
  char hex[17];
  snprintf(hex, sizeof(hex), "%016llx", static_cast<unsigned long long>(h));
  return hex;
}

/** Write our PID file as pasta(1) does ("PID\n"), or say why not. */
bool WritePidFile(const std::string& path, pid_t pid) {
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    Say("Couldn't open PID file " + path + ": " + strerror(errno) + "\n");
    return false;
  }
  std::string text = std::to_string(pid) + "\n";
  bool ok = write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  if (!ok) Say("Couldn't write PID file " + path + ": " + strerror(errno) + "\n");
  close(fd);
  return ok;
}

/** What the process that stays says when its namespace's service ended badly. */
void Tell(const std::string& message, bool foreground, const std::string& logFile, const struct timespec& start) {
  if (foreground) {
    Say("pasta: " + message + "\n");
  } else {
    openlog("pasta", LOG_PID, LOG_DAEMON);
    syslog(LOG_ERR, "%s", message.c_str());
    closelog();
  }
  if (logFile.empty()) return;
  // As the engine's lines there (src/log.ts): seconds since start, the level, the message.
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  double elapsed = static_cast<double>(now.tv_sec - start.tv_sec) + static_cast<double>(now.tv_nsec - start.tv_nsec) / 1e9;
  char stamp[32];
  snprintf(stamp, sizeof(stamp), "%.4f", elapsed);
  std::string line = std::string(stamp) + ": ERROR:   " + message + "\n";
  int fd = open(logFile.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC);
  if (fd < 0) return;
  if (write(fd, line.data(), line.size()) < 0) {
    // Nothing more to be done.
  }
  close(fd);
}

/** The process that stays: hold the connection until the engine says "quit", or goes. */
[[noreturn]] void Stay(int fd, bool foreground, const std::string& logFile) {
  struct timespec start;
  clock_gettime(CLOCK_MONOTONIC, &start);
  char buf[4096];
  for (;;) {
    ssize_t n = recv(fd, buf, sizeof(buf), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      Tell("the shared engine exited: this namespace has no network any more", foreground, logFile, start);
      _exit(1);
    }
    std::vector<std::string> f = Fields(buf, static_cast<size_t>(n));
    if (f[0] != "quit" || f.size() < 2) continue;
    int status = atoi(f[1].c_str());
    if (status != 0) Tell(f.size() > 2 && !f[2].empty() ? f[2] : "the shared engine stopped serving this namespace", foreground, logFile, start);
    _exit(status);
  }
}

}  // namespace

/** The inode number of the initial user namespace, always (PROC_USER_INIT_INO, <linux/proc_ns.h>). */
constexpr ino_t kInitialUserns = 0xeffffffdU;

bool SharedWanted(int argc, char** argv) {
  const char* fallback = getenv("NODE_PASTA_SHARED_FALLBACK");
  if (fallback && *fallback) return false;
  // Root of the initial user namespace runs pasta by itself (the engine would say so too).
  struct stat user;
  if (geteuid() == 0 && (stat("/proc/self/ns/user", &user) < 0 || user.st_ino == kInitialUserns)) return false;
  // Only a command line that may attach goes to the engine (--netns, or a PID last, as
  // MayAttach() looks, loosely: the engine has the last word); a command of pasta's own
  // would only be sent back.
  bool mayAttach = argc > 0 && argv[argc - 1][0] != '\0' && strspn(argv[argc - 1], "0123456789") == strlen(argv[argc - 1]);
  const char* env = getenv("NODE_PASTA_SHARED_ENGINE");
  bool wanted = env && *env && strcmp(env, "0") != 0;
  for (int i = 0; i < argc; i++) {
    const char* arg = argv[i];
    if (strcmp(arg, "--") == 0) break;
    if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0 || strcmp(arg, "--version") == 0) return false;
    // --shared-engine, or an abbreviation getopt_long takes for it (no other option starts "--sh").
    size_t len = strlen(arg);
    if (len >= 4 && strncmp(arg, "--sh", 4) == 0 && strncmp("shared-engine", arg + 2, len - 2) == 0) wanted = true;
    if (strncmp(arg, "--ne", 4) == 0) mayAttach = true;
  }
  return wanted && mayAttach;
}

void RunShared(const char* script, int argc, char** argv) {
  // $XDG_RUNTIME_DIR, else /run/user/UID if it is ours (Podman running as root in a user
  // namespace sets no XDG_RUNTIME_DIR for pasta, and uses that one itself).
  const char* env = getenv("XDG_RUNTIME_DIR");
  std::string runtime = env && *env ? env : "";
  if (runtime.empty()) {
    std::string fallback = "/run/user/" + std::to_string(geteuid());
    struct stat st;
    if (lstat(fallback.c_str(), &st) < 0 || !S_ISDIR(st.st_mode) || st.st_uid != geteuid())
      Fail("pasta: --shared-engine: XDG_RUNTIME_DIR is not set, and " + fallback + " is not a directory of ours");
    runtime = fallback;
  }
  std::string dir = runtime + "/node-passt";
  if (mkdir(dir.c_str(), 0700) < 0 && errno != EEXIST) Fail("pasta: --shared-engine: cannot create " + dir + ": " + strerror(errno));
  struct stat st;
  if (lstat(dir.c_str(), &st) < 0 || !S_ISDIR(st.st_mode) || st.st_uid != geteuid() || (st.st_mode & 077) != 0)
    Fail("pasta: --shared-engine: " + dir + " is not a directory of ours closed to others");
  struct stat user, mnt;
  if (stat("/proc/self/ns/user", &user) < 0 || stat("/proc/self/ns/mnt", &mnt) < 0)
    Fail(std::string("pasta: --shared-engine: cannot read our namespaces: ") + strerror(errno));
  std::string base = dir + "/engine-" + std::to_string(user.st_ino) + "-" + std::to_string(mnt.st_ino) + "-" + BuildKey(script);
  std::string sock = base + ".sock";
  std::string lock = base + ".lock";

  std::string request(kProtocol);
  char cwd[4096];
  request += '\0';
  request += getcwd(cwd, sizeof(cwd)) ? cwd : "/";
  for (int i = 0; i < argc; i++) {
    request += '\0';
    request += argv[i];
  }
  static char reply[256 * 1024];
  ssize_t n = -1;
  int fd = -1;
  // A connection the engine never accepted is reset when it exits (killed, say, with our
  // connection still in its queue: its clients may see it gone before its socket is):
  // that request was not served, so it goes to the next engine, started as needed.
  for (int attempt = 0;; attempt++) {
    fd = ConnectOrStart(script, sock, lock);
    if (SendRequest(fd, request) < 0) {
      n = -errno;
    } else {
      do {
        n = recv(fd, reply, sizeof(reply), 0);
      } while (n < 0 && errno == EINTR);
      if (n < 0) n = -errno;
    }
    if ((n == -ECONNRESET || n == -EPIPE) && attempt < 3) {
      close(fd);
      continue;
    }
    break;
  }
  if (n == 0 || n == -ECONNRESET) Fail("pasta: the shared engine exited before the namespace was ready");
  if (n < 0) Fail(std::string("pasta: cannot talk to the shared engine: ") + strerror(static_cast<int>(-n)));
  std::vector<std::string> f = Fields(reply, static_cast<size_t>(n));
  if (f[0] == "fallback") {
    close(fd);
    setenv("NODE_PASTA_SHARED_FALLBACK", "1", 1);
    return;
  }
  if (f[0] == "error") Fail(f.size() > 1 ? f[1] : "pasta: the shared engine refused the command line");
  if (f[0] != "ok" || f.size() < 4) Fail("pasta: the shared engine answered \"" + f[0] + "\"");
  bool foreground = f[1] == "1";
  const std::string& pidFile = f[2];
  const std::string& logFile = f[3];
  if (foreground) {
    if (!pidFile.empty() && !WritePidFile(pidFile, getpid())) exit(1);
    Stay(fd, true, logFile);
  }
  pid_t pid = fork();
  if (pid < 0) Fail(std::string("pasta: cannot fork: ") + strerror(errno));
  if (pid == 0) {
    setsid();
    if (chdir("/") < 0) {
      // Stays where it was; nothing depends on it.
    }
    int null = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (null >= 0) {
      dup2(null, 0);
      dup2(null, 1);
      dup2(null, 2);
    }
    // Nothing of the caller's stays open here but the connection (a caller such as Podman
    // waits for its pipes to close).
    for (int other = 3; other < 1024; other++)
      if (other != fd) close(other);
    Stay(fd, false, logFile);
  }
  if (!pidFile.empty() && !WritePidFile(pidFile, pid)) {
    kill(pid, SIGKILL);
    exit(1);
  }
  exit(0);
}

}  // namespace launch
