// The shared engine's listening socket (doc/design.md, "The shared engine"):
// a UNIX domain SOCK_SEQPACKET socket under $XDG_RUNTIME_DIR, the peer
// credentials of each connection, and the lock file that orders starting
// and stopping the engine against clients connecting.
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "common.h"

namespace passt {

namespace {

/**
 * unixListen(path, backlog): a nonblocking SOCK_SEQPACKET socket bound to
 * `path` (made 0600 by the umask of the moment) and listening. Whatever is
 * at `path` already is the caller's to remove first. Returns the fd or
 * -errno (-ENAMETOOLONG for a path sockaddr_un cannot hold).
 */
Napi::Value UnixListen(const Napi::CallbackInfo& info) {
  Args a(info, "unixListen", 2);
  std::string path = a.Str(0);
  int backlog = a.Int(1);
  if (!a.ok) return a.Fail();
  struct sockaddr_un sun;
  memset(&sun, 0, sizeof(sun));
  sun.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof(sun.sun_path)) return Num(a.Env(), -ENAMETOOLONG);
  memcpy(sun.sun_path, path.data(), path.size());
  int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return Num(a.Env(), -errno);
  mode_t old = umask(0177);
  int rc = bind(fd, reinterpret_cast<struct sockaddr*>(&sun), sizeof(sun));
  int err = errno;
  umask(old);
  if (rc < 0 || listen(fd, backlog) < 0) {
    if (rc == 0) err = errno;
    close(fd);
    return Num(a.Env(), -err);
  }
  return Num(a.Env(), fd);
}

/**
 * unixAccept(fd, cred): accept4() one connection, nonblocking and
 * close-on-exec, and its peer's credentials (SO_PEERCRED) into
 * cred[0..2] = pid, uid, gid. Returns the fd or -errno (-EAGAIN: none).
 */
Napi::Value UnixAccept(const Napi::CallbackInfo& info) {
  Args a(info, "unixAccept", 2);
  int fd = a.Int(0);
  Span<int32_t> cred = a.I32(1);
  a.AtLeast(cred.length, 3, "cred");
  if (!a.ok) return a.Fail();
  int c;
  do {
    c = accept4(fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
  } while (c < 0 && errno == EINTR);
  if (c < 0) return Num(a.Env(), -errno);
  struct ucred uc;
  socklen_t len = sizeof(uc);
  if (getsockopt(c, SOL_SOCKET, SO_PEERCRED, &uc, &len) < 0) {
    int err = errno;
    close(c);
    return Num(a.Env(), -err);
  }
  cred.data[0] = uc.pid;
  cred.data[1] = static_cast<int32_t>(uc.uid);
  cred.data[2] = static_cast<int32_t>(uc.gid);
  return Num(a.Env(), c);
}

/** flock(fd, op): 0 or -errno (op: LOCK_EX 2, LOCK_NB 4, LOCK_UN 8, as <sys/file.h>). */
Napi::Value Flock(const Napi::CallbackInfo& info) {
  Args a(info, "flock", 2);
  int fd = a.Int(0);
  int op = a.Int(1);
  if (!a.ok) return a.Fail();
  int rc;
  do {
    rc = flock(fd, op);
  } while (rc < 0 && errno == EINTR);
  return Num(a.Env(), rc < 0 ? -errno : 0);
}

}  // namespace

void InitEngine(Napi::Env env, Napi::Object exports) {
  exports.Set("unixListen", Napi::Function::New<UnixListen>(env, "unixListen"));
  exports.Set("unixAccept", Napi::Function::New<UnixAccept>(env, "unixAccept"));
  exports.Set("flock", Napi::Function::New<Flock>(env, "flock"));
}

}  // namespace passt
