// Theory of operation: a tap fd delivers one Ethernet frame per read(2) and
// takes one per write(2). tapRead drains every ready frame in one call into a
// shared Buffer (each frame at a multiple of 8 bytes, so views over headers
// stay aligned) and describes them as [offset, length] pairs; tapWrite sends
// a batch described the same way. Both stop at EAGAIN and retry EINTR.
//
// Taps are created with IFF_VNET_HDR: every frame is preceded by a 10-byte
// struct virtio_net_hdr. On the way to the namespace the caller builds it in
// the buffer just before each frame (so a TCP segment can say
// VIRTIO_NET_HDR_F_NEEDS_CSUM and carry only its pseudo-header sum: the
// namespace's kernel treats it as a locally made packet whose checksum is
// not needed for delivery, and completes it if it forwards it); on the way
// from the namespace it is stripped here. With a vnetHdrLen of 0 the calls work on
// plain frames (a tap without the flag, a socket in tests).
//
// With segmentation offload enabled (tapSetOffload: TUNSETOFFLOAD), the
// namespace's kernel hands us TCP (and, with USO, UDP) super-frames of up to
// 64 KiB whatever its MTU, described by the virtio-net header, which is left
// in the buffer before each frame for the caller to read; and takes such
// frames from us, segmenting them itself. A read therefore keeps room for the
// largest frame there is: 65535 bytes of IP, the Ethernet header and the
// virtio-net header.
//
// tap_create (tap.h), the plain-C part used by the namespace helper, is in tapcreate.cc.
#include "tap.h"

#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cstring>

#include "common.h"

namespace passt {
namespace {

/** Room for the largest frame: 65535 bytes of IP plus the Ethernet header, rounded up. */
constexpr size_t kMaxFrame = 65535 + 14 + 1;

Napi::Value TapRead(const Napi::CallbackInfo& info) {
  Args a(info, "tapRead", 4, 5);
  int fd = a.Int(0);
  Span<uint8_t> buf = a.Bytes(1);
  Span<int32_t> out = a.I32(2);
  int64_t maxFrames = a.Int64(3);
  int64_t vnet = info.Length() > 4 ? a.Int64(4) : 0;
  if (a.ok && (vnet < 0 || vnet > 64)) a.Range("tapRead: vnetHdrLen must be between 0 and 64");
  if (a.ok && maxFrames < 0) a.Range("tapRead: maxFrames must not be negative");
  a.AtLeast(out.length, 2 * static_cast<uint64_t>(maxFrames), "out");
  if (a.ok && buf.length < kMaxFrame + 64) a.Range("tapRead: buf must hold at least 65614 bytes");
  if (a.ok && buf.length > INT32_MAX) a.Range("tapRead: buf must be smaller than 2 GiB");
  if (!a.ok) return a.Fail();

  int64_t count = 0;
  size_t off = 0;
  const size_t hdr = static_cast<size_t>(vnet);
  while (count < maxFrames && buf.length - off >= kMaxFrame + hdr) {
    ssize_t n;
    do {
      n = read(fd, buf.data + off, buf.length - off);
    } while (n < 0 && errno == EINTR);
    if (n < 0) {
      if (errno == EAGAIN || count > 0) break;
      return Num(a.Env(), -errno);
    }
    if (n == 0) break;
    if (static_cast<size_t>(n) < hdr) continue;  // no room for even the header: nothing to report
    out.data[2 * count] = static_cast<int32_t>(off + hdr);
    out.data[2 * count + 1] = static_cast<int32_t>(static_cast<size_t>(n) - hdr);
    count++;
    off = (off + static_cast<size_t>(n) + 7) & ~static_cast<size_t>(7);
    if (off >= buf.length) break;
  }
  return Num(a.Env(), static_cast<double>(count));
}

Napi::Value TapWrite(const Napi::CallbackInfo& info) {
  Args a(info, "tapWrite", 4, 5);
  int fd = a.Int(0);
  Span<uint8_t> buf = a.Bytes(1);
  Span<int32_t> frames = a.I32(2);
  int64_t count = a.Int64(3);
  int64_t vnet = info.Length() > 4 ? a.Int64(4) : 0;
  if (a.ok && (vnet < 0 || vnet > 12)) a.Range("tapWrite: vnetHdrLen must be between 0 and 12");
  if (a.ok && count < 0) a.Range("tapWrite: count must not be negative");
  a.AtLeast(frames.length, 2 * static_cast<uint64_t>(count), "frames");
  for (int64_t i = 0; a.ok && i < count; i++) {
    a.InRange(frames.data[2 * i] - static_cast<int32_t>(vnet), frames.data[2 * i + 1] + static_cast<int32_t>(vnet), buf.length, "frame");
  }
  if (!a.ok) return a.Fail();

  int64_t i = 0;
  for (; i < count; i++) {
    ssize_t n;
    // With a virtio-net header, the caller built it in the buffer right before the frame.
    const uint8_t* start = buf.data + frames.data[2 * i] - vnet;
    const size_t len = static_cast<size_t>(frames.data[2 * i + 1]) + static_cast<size_t>(vnet);
    do {
      n = write(fd, start, len);
    } while (n < 0 && errno == EINTR);
    if (n < 0) {
      if (i == 0) return Num(a.Env(), -errno);
      break;
    }
  }
  return Num(a.Env(), static_cast<double>(i));
}

/**
 * tapInfo(fd, out): what a tap fd handed to us (pasta -F) is: out[0] its
 * interface flags (TUNGETIFF: IFF_TAP, IFF_NO_PI, IFF_VNET_HDR...), out[1]
 * the virtio-net header length before each frame (0 without IFF_VNET_HDR).
 * Returns 0 or -errno (ENOTTY: not a tun/tap fd).
 */
Napi::Value TapInfo(const Napi::CallbackInfo& info) {
  Args a(info, "tapInfo", 2);
  int fd = a.Int(0);
  Span<int32_t> out = a.I32(1);
  a.AtLeast(out.length, 2, "out");
  if (!a.ok) return a.Fail();
  struct ifreq ifr;
  memset(&ifr, 0, sizeof(ifr));
  if (ioctl(fd, TUNGETIFF, &ifr) < 0) return Num(a.Env(), -errno);
  int hdr = 0;
  if (ifr.ifr_flags & IFF_VNET_HDR) {
    if (ioctl(fd, TUNGETVNETHDRSZ, &hdr) < 0) return Num(a.Env(), -errno);
  }
  out.data[0] = static_cast<uint16_t>(ifr.ifr_flags);
  out.data[1] = hdr;
  return Num(a.Env(), 0);
}

/**
 * tapSetOffload(fd, flags): TUNSETOFFLOAD with TUN_F_* flags (CSUM 0x01,
 * TSO4 0x02, TSO6 0x04, USO4 0x20, USO6 0x40): the offloads the tap's
 * network device announces, and so what the namespace's kernel may hand us.
 * 0 or -errno (EINVAL: a flag this kernel does not know).
 */
Napi::Value TapSetOffload(const Napi::CallbackInfo& info) {
  Args a(info, "tapSetOffload", 2);
  int fd = a.Int(0);
  int64_t flags = a.Int64(1);
  if (a.ok && (flags < 0 || flags > 0xff)) a.Range("tapSetOffload: flags must be between 0 and 255");
  if (!a.ok) return a.Fail();
  if (ioctl(fd, TUNSETOFFLOAD, static_cast<unsigned long>(flags)) < 0) return Num(a.Env(), -errno);
  return Num(a.Env(), 0);
}

}  // namespace

void InitTap(Napi::Env env, Napi::Object exports) {
  exports.Set("tapSetOffload", Napi::Function::New<TapSetOffload>(env, "tapSetOffload"));
  exports.Set("tapInfo", Napi::Function::New<TapInfo>(env, "tapInfo"));
  exports.Set("tapRead", Napi::Function::New<TapRead>(env, "tapRead"));
  exports.Set("tapWrite", Napi::Function::New<TapWrite>(env, "tapWrite"));
}

}  // namespace passt
