// Theory of operation: thin wrappers over the socket syscalls (and the
// generic fd calls: close, read, write, open, O_NONBLOCK, poll). Addresses
// cross the boundary as 4-byte (IPv4) or 16-byte (IPv6) Uint8Arrays plus a
// port and a scope id; results that carry an address fill a 16-byte
// Uint8Array and an Int32Array [family, port, scopeId]. Data moves between
// sockets and caller-owned Buffers described by offsets and lengths, many
// slices per syscall (recvmsg/sendmsg with iovecs, recvmmsg/sendmmsg); ICMP
// errors come from a datagram socket's error queue (recvErr).
//
// Every runtime failure returns -errno; EINTR is retried where a retry cannot
// change the meaning of the call. Sends never raise SIGPIPE (MSG_NOSIGNAL)
// and never block (MSG_DONTWAIT). Scratch arrays (iovecs, message headers,
// the discard buffer of recvPeek) are thread_local and reused across calls.
#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/errqueue.h>
#include <linux/sockios.h>
#include <linux/tcp.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <linux/sock_diag.h>
#include <sys/socket.h>
#include <netinet/udp.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cstddef>
#include <cstring>
#include <vector>

#include "common.h"

namespace passt {
namespace {

constexpr size_t kMaxDiscard = 16 << 20;

/**
 * Fills `ss` from a 4-byte (IPv4) or 16-byte (IPv6) address. Returns the
 * sockaddr length, or 0 when the address has another length.
 */
socklen_t ToSockaddr(const uint8_t* addr, size_t len, uint16_t port, uint32_t scopeId,
                     sockaddr_storage* ss) {
  memset(ss, 0, sizeof(*ss));
  if (len == 4) {
    auto* sin = reinterpret_cast<sockaddr_in*>(ss);
    sin->sin_family = AF_INET;
    sin->sin_port = htons(port);
    memcpy(&sin->sin_addr, addr, 4);
    return sizeof(sockaddr_in);
  }
  if (len == 16) {
    auto* sin6 = reinterpret_cast<sockaddr_in6*>(ss);
    sin6->sin6_family = AF_INET6;
    sin6->sin6_port = htons(port);
    memcpy(&sin6->sin6_addr, addr, 16);
    sin6->sin6_scope_id = scopeId;
    return sizeof(sockaddr_in6);
  }
  return 0;
}

/** Writes a sockaddr as 16 address bytes (IPv4 in the first 4) and [family, port, scopeId]. */
void FromSockaddr(const sockaddr_storage& ss, uint8_t* addrOut, int32_t* info) {
  memset(addrOut, 0, 16);
  info[0] = ss.ss_family;
  info[1] = 0;
  info[2] = 0;
  if (ss.ss_family == AF_INET) {
    auto* sin = reinterpret_cast<const sockaddr_in*>(&ss);
    memcpy(addrOut, &sin->sin_addr, 4);
    info[1] = ntohs(sin->sin_port);
  } else if (ss.ss_family == AF_INET6) {
    auto* sin6 = reinterpret_cast<const sockaddr_in6*>(&ss);
    memcpy(addrOut, &sin6->sin6_addr, 16);
    info[1] = ntohs(sin6->sin6_port);
    info[2] = static_cast<int32_t>(sin6->sin6_scope_id);
  }
}

/** Reads the (addr, port, scopeId) arguments starting at index i into a sockaddr. */
socklen_t AddressArgs(Args& a, size_t i, sockaddr_storage* ss) {
  Span<uint8_t> addr = a.U8(i);
  int64_t port = a.Int64(i + 1);
  uint32_t scopeId = a.Uint(i + 2);
  if (!a.ok) return 0;
  if (addr.length != 4 && addr.length != 16) {
    a.Range(std::string(a.fn()) + ": argument " + std::to_string(i + 1) +
            " must be a 4-byte (IPv4) or 16-byte (IPv6) address");
    return 0;
  }
  if (port < 0 || port > 65535) {
    a.Range(std::string(a.fn()) + ": port must be between 0 and 65535");
    return 0;
  }
  return ToSockaddr(addr.data, addr.length, static_cast<uint16_t>(port), scopeId, ss);
}

/** Waits up to timeoutMs for POLLIN; returns 1 when readable, 0 on timeout, -errno. */
int WaitReadable(int fd, int timeoutMs) {
  pollfd p{fd, POLLIN, 0};
  int r;
  do {
    r = poll(&p, 1, timeoutMs);
  } while (r < 0 && errno == EINTR);
  return r < 0 ? -errno : r;
}

// --- generic fd operations ---------------------------------------------------

Napi::Value Close(const Napi::CallbackInfo& info) {
  Args a(info, "close", 1);
  int fd = a.Int(0);
  if (!a.ok) return a.Fail();
  // Linux releases the fd even when close is interrupted: never retry.
  int r = close(fd);
  return Num(a.Env(), r < 0 && errno != EINTR ? -errno : 0);
}

Napi::Value Read(const Napi::CallbackInfo& info) {
  Args a(info, "read", 4);
  int fd = a.Int(0);
  Span<uint8_t> buf = a.Bytes(1);
  int64_t off = a.Int64(2);
  int64_t len = a.Int64(3);
  a.InRange(off, len, buf.length, "slice");
  if (!a.ok) return a.Fail();
  ssize_t n;
  do {
    n = read(fd, buf.data + off, static_cast<size_t>(len));
  } while (n < 0 && errno == EINTR);
  return Num(a.Env(), n < 0 ? -errno : static_cast<double>(n));
}

Napi::Value Write(const Napi::CallbackInfo& info) {
  Args a(info, "write", 4);
  int fd = a.Int(0);
  Span<uint8_t> buf = a.Bytes(1);
  int64_t off = a.Int64(2);
  int64_t len = a.Int64(3);
  a.InRange(off, len, buf.length, "slice");
  if (!a.ok) return a.Fail();
  ssize_t n;
  do {
    n = write(fd, buf.data + off, static_cast<size_t>(len));
  } while (n < 0 && errno == EINTR);
  return Num(a.Env(), n < 0 ? -errno : static_cast<double>(n));
}

Napi::Value Open(const Napi::CallbackInfo& info) {
  Args a(info, "open", 2);
  std::string path = a.Str(0);
  int flags = a.Int(1);
  if (!a.ok) return a.Fail();
  int fd;
  do {
    fd = open(path.c_str(), flags | O_CLOEXEC, 0666);
  } while (fd < 0 && errno == EINTR);
  return Num(a.Env(), fd < 0 ? -errno : fd);
}

Napi::Value SetNonblock(const Napi::CallbackInfo& info) {
  Args a(info, "setNonblock", 2);
  int fd = a.Int(0);
  bool on = a.Bool(1);
  if (!a.ok) return a.Fail();
  int flags = fcntl(fd, F_GETFL);
  if (flags < 0) return Num(a.Env(), -errno);
  int wanted = on ? (flags | O_NONBLOCK) : (flags & ~O_NONBLOCK);
  if (wanted != flags && fcntl(fd, F_SETFL, wanted) < 0) return Num(a.Env(), -errno);
  return Num(a.Env(), 0);
}

Napi::Value PollFd(const Napi::CallbackInfo& info) {
  Args a(info, "pollFd", 3);
  int fd = a.Int(0);
  int events = a.Int(1);
  int timeoutMs = a.Int(2);
  if (!a.ok) return a.Fail();
  pollfd p{fd, static_cast<short>(events), 0};
  int r;
  do {
    r = poll(&p, 1, timeoutMs);
  } while (r < 0 && errno == EINTR);
  if (r < 0) return Num(a.Env(), -errno);
  return Num(a.Env(), r == 0 ? 0 : static_cast<uint16_t>(p.revents));
}

// --- sockets ---------------------------------------------------------------

Napi::Value Socket(const Napi::CallbackInfo& info) {
  Args a(info, "socket", 3);
  int family = a.Int(0);
  int type = a.Int(1);
  int protocol = a.Int(2);
  if (!a.ok) return a.Fail();
  int fd = socket(family, type | SOCK_CLOEXEC, protocol);
  return Num(a.Env(), fd < 0 ? -errno : fd);
}

Napi::Value Connect(const Napi::CallbackInfo& info) {
  Args a(info, "connect", 4);
  int fd = a.Int(0);
  sockaddr_storage ss;
  socklen_t sl = AddressArgs(a, 1, &ss);
  if (!a.ok) return a.Fail();
  int r = connect(fd, reinterpret_cast<sockaddr*>(&ss), sl);
  return Num(a.Env(), r < 0 ? -errno : 0);
}

Napi::Value Bind(const Napi::CallbackInfo& info) {
  Args a(info, "bind", 4);
  int fd = a.Int(0);
  sockaddr_storage ss;
  socklen_t sl = AddressArgs(a, 1, &ss);
  if (!a.ok) return a.Fail();
  int r = bind(fd, reinterpret_cast<sockaddr*>(&ss), sl);
  return Num(a.Env(), r < 0 ? -errno : 0);
}

Napi::Value Listen(const Napi::CallbackInfo& info) {
  Args a(info, "listen", 2);
  int fd = a.Int(0);
  int backlog = a.Int(1);
  if (!a.ok) return a.Fail();
  int r = listen(fd, backlog);
  return Num(a.Env(), r < 0 ? -errno : 0);
}

/** Reads the (addrOut, info) output arguments starting at index i. */
bool AddressOutArgs(Args& a, size_t i, Span<uint8_t>* addr, Span<int32_t>* info) {
  *addr = a.U8(i);
  *info = a.I32(i + 1);
  a.AtLeast(addr->length, 16, "addrOut");
  a.AtLeast(info->length, 3, "info");
  return a.ok;
}

Napi::Value Accept(const Napi::CallbackInfo& info) {
  Args a(info, "accept", 3);
  int fd = a.Int(0);
  Span<uint8_t> addr;
  Span<int32_t> out;
  if (!AddressOutArgs(a, 1, &addr, &out)) return a.Fail();
  sockaddr_storage ss;
  memset(&ss, 0, sizeof(ss));
  socklen_t sl = sizeof(ss);
  int r;
  do {
    r = accept4(fd, reinterpret_cast<sockaddr*>(&ss), &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
  } while (r < 0 && errno == EINTR);
  if (r < 0) return Num(a.Env(), -errno);
  FromSockaddr(ss, addr.data, out.data);
  return Num(a.Env(), r);
}

template <int (*Get)(int, sockaddr*, socklen_t*)>
Napi::Value SockName(const Napi::CallbackInfo& info, const char* fn) {
  Args a(info, fn, 3);
  int fd = a.Int(0);
  Span<uint8_t> addr;
  Span<int32_t> out;
  if (!AddressOutArgs(a, 1, &addr, &out)) return a.Fail();
  sockaddr_storage ss;
  memset(&ss, 0, sizeof(ss));
  socklen_t sl = sizeof(ss);
  if (Get(fd, reinterpret_cast<sockaddr*>(&ss), &sl) < 0) return Num(a.Env(), -errno);
  FromSockaddr(ss, addr.data, out.data);
  return Num(a.Env(), 0);
}

int GetSockName(int fd, sockaddr* sa, socklen_t* sl) { return getsockname(fd, sa, sl); }
int GetPeerName(int fd, sockaddr* sa, socklen_t* sl) { return getpeername(fd, sa, sl); }

Napi::Value GetSockNameJs(const Napi::CallbackInfo& info) {
  return SockName<GetSockName>(info, "getsockname");
}
Napi::Value GetPeerNameJs(const Napi::CallbackInfo& info) {
  return SockName<GetPeerName>(info, "getpeername");
}

Napi::Value SetSockoptInt(const Napi::CallbackInfo& info) {
  Args a(info, "setsockoptInt", 4);
  int fd = a.Int(0);
  int level = a.Int(1);
  int name = a.Int(2);
  int value = a.Int(3);
  if (!a.ok) return a.Fail();
  int r = setsockopt(fd, level, name, &value, sizeof(value));
  return Num(a.Env(), r < 0 ? -errno : 0);
}

Napi::Value SetSockoptBytes(const Napi::CallbackInfo& info) {
  Args a(info, "setsockoptBytes", 4);
  int fd = a.Int(0);
  int level = a.Int(1);
  int name = a.Int(2);
  Span<uint8_t> value = a.U8(3);
  if (!a.ok) return a.Fail();
  int r = setsockopt(fd, level, name, value.data, static_cast<socklen_t>(value.length));
  return Num(a.Env(), r < 0 ? -errno : 0);
}

Napi::Value GetSockoptInt(const Napi::CallbackInfo& info) {
  Args a(info, "getsockoptInt", 4);
  int fd = a.Int(0);
  int level = a.Int(1);
  int name = a.Int(2);
  Span<int32_t> out = a.I32(3);
  a.AtLeast(out.length, 1, "out");
  if (!a.ok) return a.Fail();
  int value = 0;
  socklen_t sl = sizeof(value);
  if (getsockopt(fd, level, name, &value, &sl) < 0) return Num(a.Env(), -errno);
  out.data[0] = value;
  return Num(a.Env(), 0);
}

Napi::Value Shutdown(const Napi::CallbackInfo& info) {
  Args a(info, "shutdown", 2);
  int fd = a.Int(0);
  int how = a.Int(1);
  if (!a.ok) return a.Fail();
  int r = shutdown(fd, how);
  return Num(a.Env(), r < 0 ? -errno : 0);
}

Napi::Value CloseReset(const Napi::CallbackInfo& info) {
  Args a(info, "closeReset", 1);
  int fd = a.Int(0);
  if (!a.ok) return a.Fail();
  linger lg{1, 0};
  int err = setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)) < 0 ? -errno : 0;
  // The fd is closed in every case, so the caller never has to close it again.
  if (close(fd) < 0 && errno != EINTR) err = -errno;
  return Num(a.Env(), err);
}

Napi::Value Recv(const Napi::CallbackInfo& info) {
  Args a(info, "recv", 6);
  int fd = a.Int(0);
  Span<uint8_t> buf = a.Bytes(1);
  int64_t off = a.Int64(2);
  int64_t len = a.Int64(3);
  int flags = a.Int(4);
  int timeoutMs = a.Int(5);
  a.InRange(off, len, buf.length, "slice");
  if (!a.ok) return a.Fail();
  if (timeoutMs >= 0) {
    int w = WaitReadable(fd, timeoutMs);
    if (w < 0) return Num(a.Env(), w);
    if (w == 0) return Num(a.Env(), -EAGAIN);
  }
  ssize_t n;
  do {
    n = recv(fd, buf.data + off, static_cast<size_t>(len), flags);
  } while (n < 0 && errno == EINTR);
  return Num(a.Env(), n < 0 ? -errno : static_cast<double>(n));
}

/** Reads (offsets, lens, count) and checks every slice against a buffer. */
bool SlicesArgs(Args& a, size_t i, size_t bufLength, Span<int32_t>* offsets,
                Span<int32_t>* lens, int64_t* count) {
  *offsets = a.I32(i);
  *lens = a.I32(i + 1);
  *count = a.Int64(i + 2);
  if (a.ok && *count < 0) a.Range(std::string(a.fn()) + ": count must not be negative");
  a.AtLeast(offsets->length, static_cast<uint64_t>(*count), "offsets");
  a.AtLeast(lens->length, static_cast<uint64_t>(*count), "lens");
  for (int64_t k = 0; a.ok && k < *count; k++) {
    a.InRange(offsets->data[k], lens->data[k], bufLength, "slice");
  }
  return a.ok;
}

thread_local std::vector<iovec> tIov;
thread_local std::vector<uint8_t> tDiscard;

Napi::Value RecvPeek(const Napi::CallbackInfo& info) {
  Args a(info, "recvPeek", 6);
  int fd = a.Int(0);
  Span<uint8_t> buf = a.Bytes(1);
  int64_t discard = a.Int64(2);
  Span<int32_t> offsets, lens;
  int64_t count = 0;
  if (!SlicesArgs(a, 3, buf.length, &offsets, &lens, &count)) return a.Fail();
  if (discard < 0 || static_cast<uint64_t>(discard) > kMaxDiscard) return Num(a.Env(), -EINVAL);

  tIov.resize(static_cast<size_t>(count) + 1);
  size_t n = 0;
  if (discard > 0) {
    if (tDiscard.size() < static_cast<size_t>(discard)) tDiscard.resize(static_cast<size_t>(discard));
    tIov[n].iov_base = tDiscard.data();
    tIov[n].iov_len = static_cast<size_t>(discard);
    n++;
  }
  for (int64_t k = 0; k < count; k++, n++) {
    tIov[n].iov_base = buf.data + offsets.data[k];
    tIov[n].iov_len = static_cast<size_t>(lens.data[k]);
  }
  msghdr mh{};
  mh.msg_iov = tIov.data();
  mh.msg_iovlen = n;
  ssize_t r;
  do {
    r = recvmsg(fd, &mh, MSG_PEEK | MSG_DONTWAIT);
  } while (r < 0 && errno == EINTR);
  if (r < 0) return Num(a.Env(), -errno);
  if (r == 0) return Num(a.Env(), 0);
  // Only already-sent bytes are queued: nothing new, which is not EOF.
  if (r <= discard) return Num(a.Env(), -EAGAIN);
  return Num(a.Env(), static_cast<double>(r - discard));
}

Napi::Value RecvDiscard(const Napi::CallbackInfo& info) {
  Args a(info, "recvDiscard", 2);
  int fd = a.Int(0);
  int64_t n = a.Int64(1);
  if (a.ok && n < 0) a.Range("recvDiscard: n must not be negative");
  if (!a.ok) return a.Fail();
  ssize_t r;
  do {
    r = recv(fd, nullptr, static_cast<size_t>(n), MSG_TRUNC | MSG_DONTWAIT);
  } while (r < 0 && errno == EINTR);
  return Num(a.Env(), r < 0 ? -errno : static_cast<double>(r));
}

Napi::Value Send(const Napi::CallbackInfo& info) {
  Args a(info, "send", 5);
  int fd = a.Int(0);
  Span<uint8_t> buf = a.Bytes(1);
  int64_t off = a.Int64(2);
  int64_t len = a.Int64(3);
  int flags = a.Int(4);
  a.InRange(off, len, buf.length, "slice");
  if (!a.ok) return a.Fail();
  ssize_t n;
  do {
    n = send(fd, buf.data + off, static_cast<size_t>(len), MSG_NOSIGNAL | MSG_DONTWAIT | flags);
  } while (n < 0 && errno == EINTR);
  return Num(a.Env(), n < 0 ? -errno : static_cast<double>(n));
}

/**
 * sendv(fd, buf, offsets, lens, count, flags, segSize?): one sendmsg(2)
 * gathering the slices. With segSize > 0 (a UDP socket), a UDP_SEGMENT
 * control message makes the kernel send the gathered bytes as datagrams of
 * segSize bytes each (the last one shorter): UDP GSO, Linux 4.18.
 */
Napi::Value Sendv(const Napi::CallbackInfo& info) {
  Args a(info, "sendv", 6, 7);
  int fd = a.Int(0);
  Span<uint8_t> buf = a.Bytes(1);
  Span<int32_t> offsets, lens;
  int64_t count = 0;
  SlicesArgs(a, 2, buf.length, &offsets, &lens, &count);
  int flags = a.Int(5);
  int64_t segSize = info.Length() > 6 ? a.Int64(6) : 0;
  if (a.ok && (segSize < 0 || segSize > 65535)) a.Range("sendv: segSize must be between 0 and 65535");
  if (!a.ok) return a.Fail();
  tIov.resize(static_cast<size_t>(count));
  for (int64_t k = 0; k < count; k++) {
    tIov[k].iov_base = buf.data + offsets.data[k];
    tIov[k].iov_len = static_cast<size_t>(lens.data[k]);
  }
  msghdr mh{};
  mh.msg_iov = tIov.data();
  mh.msg_iovlen = static_cast<size_t>(count);
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(uint16_t))];
  if (segSize > 0) {
    memset(control, 0, sizeof(control));
    mh.msg_control = control;
    mh.msg_controllen = sizeof(control);
    cmsghdr* cm = CMSG_FIRSTHDR(&mh);
    cm->cmsg_level = SOL_UDP;
    cm->cmsg_type = UDP_SEGMENT;
    cm->cmsg_len = CMSG_LEN(sizeof(uint16_t));
    uint16_t gso = static_cast<uint16_t>(segSize);
    memcpy(CMSG_DATA(cm), &gso, sizeof(gso));
  }
  ssize_t n;
  do {
    n = sendmsg(fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT | flags);
  } while (n < 0 && errno == EINTR);
  return Num(a.Env(), n < 0 ? -errno : static_cast<double>(n));
}

/** True when the kernel filled tcp_info up to and including `end` bytes. */
inline bool Filled(socklen_t got, size_t end) { return static_cast<size_t>(got) >= end; }
#define TCPI_END(field) (offsetof(struct tcp_info, field) + sizeof(((struct tcp_info*)nullptr)->field))

Napi::Value TcpInfo(const Napi::CallbackInfo& info) {
  Args a(info, "tcpInfo", 2);
  int fd = a.Int(0);
  Span<uint32_t> out = a.U32(1);
  a.AtLeast(out.length, 16, "out");
  if (!a.ok) return a.Fail();

  struct tcp_info ti;
  memset(&ti, 0, sizeof(ti));
  socklen_t sl = sizeof(ti);
  if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &sl) < 0) return Num(a.Env(), -errno);
  int outq = 0, inq = 0, sndbuf = 0;
  if (ioctl(fd, SIOCOUTQ, &outq) < 0) return Num(a.Env(), -errno);
  if (ioctl(fd, SIOCINQ, &inq) < 0) return Num(a.Env(), -errno);
  socklen_t il = sizeof(sndbuf);
  if (getsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, &il) < 0) return Num(a.Env(), -errno);

  // Fields the kernel did not fill (older kernels return a shorter struct) stay 0.
  uint32_t* o = out.data;
  o[0] = ti.tcpi_state;
  o[1] = Filled(sl, TCPI_END(tcpi_snd_mss)) ? ti.tcpi_snd_mss : 0;
  o[2] = Filled(sl, TCPI_END(tcpi_rcv_mss)) ? ti.tcpi_rcv_mss : 0;
  o[3] = Filled(sl, TCPI_END(tcpi_rtt)) ? ti.tcpi_rtt : 0;
  o[4] = Filled(sl, TCPI_END(tcpi_snd_wnd)) ? ti.tcpi_snd_wnd : 0;
  uint64_t acked = Filled(sl, TCPI_END(tcpi_bytes_acked)) ? ti.tcpi_bytes_acked : 0;
  uint64_t received = Filled(sl, TCPI_END(tcpi_bytes_received)) ? ti.tcpi_bytes_received : 0;
  o[5] = static_cast<uint32_t>(acked);
  o[6] = static_cast<uint32_t>(acked >> 32);
  o[7] = static_cast<uint32_t>(received);
  o[8] = static_cast<uint32_t>(received >> 32);
  o[9] = Filled(sl, TCPI_END(tcpi_notsent_bytes)) ? ti.tcpi_notsent_bytes : 0;
  o[10] = static_cast<uint32_t>(outq);
  o[11] = static_cast<uint32_t>(sndbuf);
  o[12] = static_cast<uint32_t>(inq);
  o[13] = Filled(sl, offsetof(struct tcp_info, tcpi_rto)) ? ti.tcpi_snd_wscale : 0;
  o[14] = Filled(sl, TCPI_END(tcpi_rcv_space)) ? ti.tcpi_rcv_space : 0;
  o[15] = ti.tcpi_options;
  if (out.length >= 18) {
    // Send buffer accounting as the kernel does it (SO_MEMINFO): queued memory
    // including overhead against the limit, which is what decides whether a
    // write is taken.
    uint32_t mem[SK_MEMINFO_VARS];
    memset(mem, 0, sizeof(mem));
    socklen_t ml = sizeof(mem);
    if (getsockopt(fd, SOL_SOCKET, SO_MEMINFO, mem, &ml) < 0) return Num(a.Env(), -errno);
    o[16] = mem[SK_MEMINFO_WMEM_QUEUED];
    o[17] = mem[SK_MEMINFO_SNDBUF];
  }
  return Num(a.Env(), 0);
}

/**
 * sendSpace(fd, out Uint32Array(2)): the send buffer as the kernel accounts
 * it (SO_MEMINFO): out[0] = memory queued (with overhead), out[1] = the
 * limit. One getsockopt: what the TCP window towards the guest is made of.
 * 0 or -errno.
 */
Napi::Value SendSpace(const Napi::CallbackInfo& info) {
  Args a(info, "sendSpace", 2);
  int fd = a.Int(0);
  Span<uint32_t> out = a.U32(1);
  a.AtLeast(out.length, 2, "out");
  if (!a.ok) return a.Fail();
  uint32_t mem[SK_MEMINFO_VARS];
  memset(mem, 0, sizeof(mem));
  socklen_t ml = sizeof(mem);
  if (getsockopt(fd, SOL_SOCKET, SO_MEMINFO, mem, &ml) < 0) return Num(a.Env(), -errno);
  out.data[0] = mem[SK_MEMINFO_WMEM_QUEUED];
  out.data[1] = mem[SK_MEMINFO_SNDBUF];
  return Num(a.Env(), 0);
}

thread_local std::vector<mmsghdr> tMsgs;
thread_local std::vector<sockaddr_storage> tAddrs;

Napi::Value RecvMmsg(const Napi::CallbackInfo& info) {
  Args a(info, "recvmmsg", 7);
  int fd = a.Int(0);
  Span<uint8_t> buf = a.Bytes(1);
  Span<int32_t> offsets = a.I32(2);
  int64_t slotLen = a.Int64(3);
  int64_t count = a.Int64(4);
  Span<int32_t> out = a.I32(5);
  Span<uint8_t> addrs = a.U8(6);
  if (a.ok && (count < 0 || count > 1024)) a.Range("recvmmsg: count must be between 0 and 1024");
  a.AtLeast(offsets.length, static_cast<uint64_t>(count), "offsets");
  a.AtLeast(out.length, 5 * static_cast<uint64_t>(count), "out");
  a.AtLeast(addrs.length, 16 * static_cast<uint64_t>(count), "addrs");
  for (int64_t k = 0; a.ok && k < count; k++) a.InRange(offsets.data[k], slotLen, buf.length, "slot");
  if (!a.ok) return a.Fail();

  size_t c = static_cast<size_t>(count);
  tMsgs.resize(c);
  tIov.resize(c);
  tAddrs.resize(c);
  for (size_t k = 0; k < c; k++) {
    tIov[k].iov_base = buf.data + offsets.data[k];
    tIov[k].iov_len = static_cast<size_t>(slotLen);
    memset(&tMsgs[k], 0, sizeof(mmsghdr));
    tMsgs[k].msg_hdr.msg_iov = &tIov[k];
    tMsgs[k].msg_hdr.msg_iovlen = 1;
    tMsgs[k].msg_hdr.msg_name = &tAddrs[k];
    tMsgs[k].msg_hdr.msg_namelen = sizeof(sockaddr_storage);
  }
  int r;
  do {
    r = recvmmsg(fd, tMsgs.data(), static_cast<unsigned>(c), MSG_DONTWAIT, nullptr);
  } while (r < 0 && errno == EINTR);
  if (r < 0) return Num(a.Env(), -errno);
  for (int k = 0; k < r; k++) {
    int32_t* o = out.data + 5 * k;
    sockaddr_storage& ss = tAddrs[k];
    if (tMsgs[k].msg_hdr.msg_namelen == 0) ss.ss_family = AF_UNSPEC;
    o[0] = static_cast<int32_t>(tMsgs[k].msg_len);
    FromSockaddr(ss, addrs.data + 16 * k, o + 1);
    o[4] = tMsgs[k].msg_hdr.msg_flags;
  }
  return Num(a.Env(), r);
}

Napi::Value SendMmsg(const Napi::CallbackInfo& info) {
  Args a(info, "sendmmsg", 7);
  int fd = a.Int(0);
  Span<uint8_t> buf = a.Bytes(1);
  Span<int32_t> offsets, lens;
  int64_t count = 0;
  SlicesArgs(a, 2, buf.length, &offsets, &lens, &count);
  Span<int32_t> dest = a.I32(5);
  Span<uint8_t> addrs = a.U8(6);
  if (a.ok && count > 1024) a.Range("sendmmsg: count must be between 0 and 1024");
  a.AtLeast(dest.length, 3 * static_cast<uint64_t>(count), "dest");
  for (int64_t k = 0; a.ok && k < count; k++) {
    int32_t family = dest.data[3 * k];
    int32_t port = dest.data[3 * k + 1];
    if (family != 0 && family != AF_INET && family != AF_INET6) {
      a.Range("sendmmsg: dest family must be 0, AF_INET or AF_INET6");
    } else if (family != 0 && (port < 0 || port > 65535)) {
      a.Range("sendmmsg: dest port must be between 0 and 65535");
    } else if (family != 0) {
      a.AtLeast(addrs.length, 16 * static_cast<uint64_t>(k + 1), "addrs");
    }
  }
  if (!a.ok) return a.Fail();

  size_t c = static_cast<size_t>(count);
  tMsgs.resize(c);
  tIov.resize(c);
  tAddrs.resize(c);
  for (size_t k = 0; k < c; k++) {
    tIov[k].iov_base = buf.data + offsets.data[k];
    tIov[k].iov_len = static_cast<size_t>(lens.data[k]);
    memset(&tMsgs[k], 0, sizeof(mmsghdr));
    tMsgs[k].msg_hdr.msg_iov = &tIov[k];
    tMsgs[k].msg_hdr.msg_iovlen = 1;
    int32_t family = dest.data[3 * k];
    if (family != 0) {
      const uint8_t* addr = addrs.data + 16 * k;
      uint16_t port = static_cast<uint16_t>(dest.data[3 * k + 1]);
      uint32_t scopeId = static_cast<uint32_t>(dest.data[3 * k + 2]);
      tMsgs[k].msg_hdr.msg_name = &tAddrs[k];
      tMsgs[k].msg_hdr.msg_namelen =
          ToSockaddr(addr, family == AF_INET ? 4 : 16, port, scopeId, &tAddrs[k]);
    }
  }
  int r;
  do {
    r = sendmmsg(fd, tMsgs.data(), static_cast<unsigned>(c), MSG_DONTWAIT | MSG_NOSIGNAL);
  } while (r < 0 && errno == EINTR);
  return Num(a.Env(), r < 0 ? -errno : r);
}

/**
 * recvErr(fd, buf, off, len, info, offender): one recvmsg(2) with
 * MSG_ERRQUEUE | MSG_DONTWAIT (needs IP_RECVERR / IPV6_RECVERR on the
 * socket). The payload of the datagram the error is about goes to
 * buf[off, off+len); info gets [ee_errno, ee_origin, ee_type, ee_code,
 * ee_info, offender family, msg_flags]; offender (16 bytes) the address of
 * the node that reported the error (SO_EE_OFFENDER), zeroed when the kernel
 * gives none. Returns the payload bytes placed, or -errno (-EAGAIN: the
 * error queue is empty).
 */
Napi::Value RecvErr(const Napi::CallbackInfo& info) {
  Args a(info, "recvErr", 6);
  int fd = a.Int(0);
  Span<uint8_t> buf = a.Bytes(1);
  int64_t off = a.Int64(2);
  int64_t len = a.Int64(3);
  Span<int32_t> out = a.I32(4);
  Span<uint8_t> offender = a.U8(5);
  a.InRange(off, len, buf.length, "slice");
  a.AtLeast(out.length, 7, "info");
  a.AtLeast(offender.length, 16, "offender");
  if (!a.ok) return a.Fail();

  iovec iov{buf.data + off, static_cast<size_t>(len)};
  alignas(cmsghdr) uint8_t control[256];
  msghdr mh{};
  mh.msg_iov = &iov;
  mh.msg_iovlen = 1;
  mh.msg_control = control;
  mh.msg_controllen = sizeof(control);
  ssize_t r;
  do {
    r = recvmsg(fd, &mh, MSG_ERRQUEUE | MSG_DONTWAIT);
  } while (r < 0 && errno == EINTR);
  if (r < 0) return Num(a.Env(), -errno);

  for (int k = 0; k < 6; k++) out.data[k] = 0;
  out.data[6] = mh.msg_flags;
  memset(offender.data, 0, 16);
  for (cmsghdr* cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm)) {
    bool v4 = cm->cmsg_level == IPPROTO_IP && cm->cmsg_type == IP_RECVERR;
    bool v6 = cm->cmsg_level == IPPROTO_IPV6 && cm->cmsg_type == IPV6_RECVERR;
    if (!v4 && !v6) continue;
    const size_t dataLen = cm->cmsg_len - CMSG_LEN(0);
    if (dataLen < sizeof(sock_extended_err)) continue;
    sock_extended_err ee;
    memcpy(&ee, CMSG_DATA(cm), sizeof(ee));
    out.data[0] = static_cast<int32_t>(ee.ee_errno);
    out.data[1] = ee.ee_origin;
    out.data[2] = ee.ee_type;
    out.data[3] = ee.ee_code;
    out.data[4] = static_cast<int32_t>(ee.ee_info);
    // The offender's sockaddr follows the extended error (SO_EE_OFFENDER).
    sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    size_t saLen = dataLen - sizeof(ee);
    if (saLen > sizeof(ss)) saLen = sizeof(ss);
    memcpy(&ss, CMSG_DATA(cm) + sizeof(ee), saLen);
    if ((ss.ss_family == AF_INET && saLen >= sizeof(sockaddr_in)) ||
        (ss.ss_family == AF_INET6 && saLen >= sizeof(sockaddr_in6))) {
      int32_t where[3];
      FromSockaddr(ss, offender.data, where);
      out.data[5] = where[0];
    }
    break;
  }
  return Num(a.Env(), static_cast<double>(r));
}

/** strerror(errno) in the C library's words ("Address already in use"): messages as upstream prints them. */
Napi::Value StrError(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsNumber()) {
    Napi::TypeError::New(env, "strerror(errno): errno must be a number").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  int err = info[0].As<Napi::Number>().Int32Value();
  if (err < 0) err = -err;
  const char* desc = strerrordesc_np(err);
  return Napi::String::New(env, desc ? desc : ("Unknown error " + std::to_string(err)).c_str());
}

}  // namespace

void InitSock(Napi::Env env, Napi::Object exports) {
  exports.Set("strerror", Napi::Function::New<StrError>(env, "strerror"));
  exports.Set("close", Napi::Function::New<Close>(env, "close"));
  exports.Set("read", Napi::Function::New<Read>(env, "read"));
  exports.Set("write", Napi::Function::New<Write>(env, "write"));
  exports.Set("open", Napi::Function::New<Open>(env, "open"));
  exports.Set("setNonblock", Napi::Function::New<SetNonblock>(env, "setNonblock"));
  exports.Set("pollFd", Napi::Function::New<PollFd>(env, "pollFd"));
  exports.Set("socket", Napi::Function::New<Socket>(env, "socket"));
  exports.Set("connect", Napi::Function::New<Connect>(env, "connect"));
  exports.Set("bind", Napi::Function::New<Bind>(env, "bind"));
  exports.Set("listen", Napi::Function::New<Listen>(env, "listen"));
  exports.Set("accept", Napi::Function::New<Accept>(env, "accept"));
  exports.Set("getsockname", Napi::Function::New<GetSockNameJs>(env, "getsockname"));
  exports.Set("getpeername", Napi::Function::New<GetPeerNameJs>(env, "getpeername"));
  exports.Set("setsockoptInt", Napi::Function::New<SetSockoptInt>(env, "setsockoptInt"));
  exports.Set("setsockoptBytes", Napi::Function::New<SetSockoptBytes>(env, "setsockoptBytes"));
  exports.Set("getsockoptInt", Napi::Function::New<GetSockoptInt>(env, "getsockoptInt"));
  exports.Set("shutdown", Napi::Function::New<Shutdown>(env, "shutdown"));
  exports.Set("closeReset", Napi::Function::New<CloseReset>(env, "closeReset"));
  exports.Set("recv", Napi::Function::New<Recv>(env, "recv"));
  exports.Set("recvPeek", Napi::Function::New<RecvPeek>(env, "recvPeek"));
  exports.Set("recvDiscard", Napi::Function::New<RecvDiscard>(env, "recvDiscard"));
  exports.Set("send", Napi::Function::New<Send>(env, "send"));
  exports.Set("sendv", Napi::Function::New<Sendv>(env, "sendv"));
  exports.Set("tcpInfo", Napi::Function::New<TcpInfo>(env, "tcpInfo"));
  exports.Set("sendSpace", Napi::Function::New<SendSpace>(env, "sendSpace"));
  exports.Set("recvmmsg", Napi::Function::New<RecvMmsg>(env, "recvmmsg"));
  exports.Set("sendmmsg", Napi::Function::New<SendMmsg>(env, "sendmmsg"));
  exports.Set("recvErr", Napi::Function::New<RecvErr>(env, "recvErr"));
}

}  // namespace passt
