// Theory of operation: a tap fd delivers one Ethernet frame per read(2) and
// takes one per write(2). tapRead drains every ready frame in one call into a
// shared Buffer (each frame at a multiple of 8 bytes, so views over headers
// stay aligned) and describes them as [offset, length] pairs; tapWrite sends
// a batch described the same way. Both stop at EAGAIN and retry EINTR.
//
// tap_create (tap.h) is the plain-C part used by the namespace helper.
#include "tap.h"

#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>

#include "common.h"

extern "C" int tap_create(const char *name, int *ifindex) {
  int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return -errno;

  struct ifreq ifr;
  memset(&ifr, 0, sizeof(ifr));
  ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
  for (size_t i = 0; name && name[i] && i < IFNAMSIZ - 1; i++) ifr.ifr_name[i] = name[i];
  if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
    int err = errno;
    close(fd);
    return -err;
  }
  if (ifindex) {
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

namespace passt {
namespace {

constexpr size_t kMaxFrame = 65536;

Napi::Value TapRead(const Napi::CallbackInfo& info) {
  Args a(info, "tapRead", 4);
  int fd = a.Int(0);
  Span<uint8_t> buf = a.Bytes(1);
  Span<int32_t> out = a.I32(2);
  int64_t maxFrames = a.Int64(3);
  if (a.ok && maxFrames < 0) a.Range("tapRead: maxFrames must not be negative");
  a.AtLeast(out.length, 2 * static_cast<uint64_t>(maxFrames), "out");
  if (a.ok && buf.length < kMaxFrame) a.Range("tapRead: buf must hold at least 65536 bytes");
  if (a.ok && buf.length > INT32_MAX) a.Range("tapRead: buf must be smaller than 2 GiB");
  if (!a.ok) return a.Fail();

  int64_t count = 0;
  size_t off = 0;
  while (count < maxFrames && buf.length - off >= kMaxFrame) {
    ssize_t n;
    do {
      n = read(fd, buf.data + off, buf.length - off);
    } while (n < 0 && errno == EINTR);
    if (n < 0) {
      if (errno == EAGAIN || count > 0) break;
      return Num(a.Env(), -errno);
    }
    if (n == 0) break;
    out.data[2 * count] = static_cast<int32_t>(off);
    out.data[2 * count + 1] = static_cast<int32_t>(n);
    count++;
    off = (off + static_cast<size_t>(n) + 7) & ~static_cast<size_t>(7);
    if (off >= buf.length) break;
  }
  return Num(a.Env(), static_cast<double>(count));
}

Napi::Value TapWrite(const Napi::CallbackInfo& info) {
  Args a(info, "tapWrite", 4);
  int fd = a.Int(0);
  Span<uint8_t> buf = a.Bytes(1);
  Span<int32_t> frames = a.I32(2);
  int64_t count = a.Int64(3);
  if (a.ok && count < 0) a.Range("tapWrite: count must not be negative");
  a.AtLeast(frames.length, 2 * static_cast<uint64_t>(count), "frames");
  for (int64_t i = 0; a.ok && i < count; i++) {
    a.InRange(frames.data[2 * i], frames.data[2 * i + 1], buf.length, "frame");
  }
  if (!a.ok) return a.Fail();

  int64_t i = 0;
  for (; i < count; i++) {
    ssize_t n;
    do {
      n = write(fd, buf.data + frames.data[2 * i], static_cast<size_t>(frames.data[2 * i + 1]));
    } while (n < 0 && errno == EINTR);
    if (n < 0) {
      if (i == 0) return Num(a.Env(), -errno);
      break;
    }
  }
  return Num(a.Env(), static_cast<double>(i));
}

}  // namespace

void InitTap(Napi::Env env, Napi::Object exports) {
  exports.Set("tapRead", Napi::Function::New<TapRead>(env, "tapRead"));
  exports.Set("tapWrite", Napi::Function::New<TapWrite>(env, "tapWrite"));
}

}  // namespace passt
