// Theory of operation: the shared-memory half of a vhost-user back end
// (passt --vhost-user; the protocol itself is src/vhost/). A VuDevice holds
// what QEMU's messages set up — the guest's memory regions, mapped here
// (SET_MEM_TABLE), and two split virtqueues (RX 0, TX 1: their size, the
// addresses of their descriptor table, available and used rings, the next
// available index, the "call" eventfd) — and moves frames through them in
// batches, one call per batch as tapRead/tapWrite do for a tap:
//
//   txPop   every chain the guest made available on TX is walked, its
//           device-readable buffers gathered into one staging Buffer
//           (virtio-net header, then the frame, each at a multiple of 8
//           bytes, [offset, length] pairs as tapRead gives them), and given
//           back at once in the used ring: the frame is ours, copied.
//   rxPush  each frame built in a Buffer (its 12-byte virtio-net header
//           right before it) is copied into the guest's RX buffers, spread
//           over as many chains as it needs with mergeable buffers
//           (num_buffers in the header says how many), and published in the
//           used ring; frames that find no buffer stay with the caller.
//   rxPeek  TCP data is peeked from its socket straight into RX buffers
//   rxCommit (room left in each frame's first buffer for its headers), then
//           the caller's headers are put in place and the chains published;
//           those not filled go back (see the section below).
//
// Why here and not in JavaScript: the rings are written by another party
// while we read them. The avail index is read with acquire ordering before
// the ring entries and descriptors it covers, used entries are written
// before the used index is published with release ordering, and a full
// fence separates that from reading the guest's "no interrupt" flag —
// orderings JavaScript cannot express on memory that is not a
// SharedArrayBuffer (and V8 may keep a typed array load in a register).
// Every descriptor is read once into locals (and an indirect table copied)
// before it is checked, so the guest cannot change it between check and
// use; data is copied, so what the engine parses is ours. And a batch is
// one crossing of the native boundary, with no per-descriptor work in
// JavaScript (see doc/design.md, "vhost-user").
//
// Nothing the guest or QEMU writes can make this code touch memory outside
// the mapped regions: every guest address is translated through the region
// table with its length, a chain longer than the ring (a loop), a next index
// out of range, a writable buffer on TX or a readable one on RX, an indirect
// table that is empty, misaligned, nested or outside memory drop that chain
// (it is still returned, with length 0, and counted); a head index out of
// range or an available index further ahead than the ring is long mean the
// ring itself is broken: the call returns -EBADMSG and lastError() says why,
// so that the caller can disconnect the front end. Regions are mapped only
// from files (memfd, hugetlbfs, /dev/shm) large enough for them.
//
// For tests, a region can also be a Buffer standing for guest memory
// (addBufferRegion); the device keeps a reference to it.
#include <endian.h>
#include <fcntl.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "common.h"

namespace passt {
namespace {

constexpr uint16_t kDescNext = 1;
constexpr uint16_t kDescWrite = 2;
constexpr uint16_t kDescIndirect = 4;
constexpr uint16_t kAvailNoInterrupt = 1;
constexpr uint16_t kUsedNoNotify = 1;
constexpr uint32_t kMaxQueueSize = 32768;
constexpr uint32_t kMaxIndirect = 1024;
constexpr size_t kMaxRegions = 32;
constexpr int kQueues = 2;
/** The largest frame either way: 65535 bytes of IP and an Ethernet header. */
constexpr size_t kMaxFrame = 65535 + 14;
constexpr size_t kMinFrame = 14;

inline uint16_t Load16(const uint8_t* p) { return le16toh(__atomic_load_n(reinterpret_cast<const uint16_t*>(p), __ATOMIC_RELAXED)); }
inline uint32_t Load32(const uint8_t* p) { return le32toh(__atomic_load_n(reinterpret_cast<const uint32_t*>(p), __ATOMIC_RELAXED)); }
inline uint64_t Load64(const uint8_t* p) { return le64toh(__atomic_load_n(reinterpret_cast<const uint64_t*>(p), __ATOMIC_RELAXED)); }
inline void Store16(uint8_t* p, uint16_t v) { __atomic_store_n(reinterpret_cast<uint16_t*>(p), htole16(v), __ATOMIC_RELAXED); }
inline void Store32(uint8_t* p, uint32_t v) { __atomic_store_n(reinterpret_cast<uint32_t*>(p), htole32(v), __ATOMIC_RELAXED); }

struct Region {
  uint64_t gpa = 0;
  uint64_t size = 0;
  uint64_t qva = 0;
  uint8_t* host = nullptr;  // the region's first byte in our address space
  void* map = nullptr;      // what to munmap (nullptr for a Buffer region)
  size_t mapLen = 0;
  std::unique_ptr<Napi::Reference<Napi::Value>> buffer;  // a Buffer region's Buffer
};

/** One descriptor, read once. */
struct Desc {
  uint64_t addr;
  uint32_t len;
  uint16_t flags;
  uint16_t next;
};

/** A piece of a chain's buffer in our address space. */
struct Seg {
  uint8_t* p;
  uint32_t len;
};

struct Queue {
  uint32_t num = 0;
  bool addrSet = false;
  uint64_t descQva = 0, availQva = 0, usedQva = 0;
  uint8_t* desc = nullptr;
  uint8_t* avail = nullptr;
  uint8_t* used = nullptr;
  uint16_t lastAvail = 0;  // next available entry to take
  uint16_t usedIdx = 0;    // next used entry to write (published at the end of a call)
  int callFd = -1;
  bool notifyDue = false;  // used entries published by rxCommit, the guest not yet interrupted (rxNotify)
  // VIRTIO_RING_F_EVENT_IDX: the used index when we last decided whether to interrupt (valid once we have).
  uint16_t signalledUsed = 0;
  bool signalledValid = false;
};

/** Why a chain was dropped, or the ring is broken. */
enum class Walk { Ok, BadChain, Broken };

class VuDevice : public Napi::ObjectWrap<VuDevice> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "VuDevice",
                       {
                           InstanceMethod<&VuDevice::AddRegion>("addRegion"),
                           InstanceMethod<&VuDevice::AddBufferRegion>("addBufferRegion"),
                           InstanceMethod<&VuDevice::ClearRegions>("clearRegions"),
                           InstanceMethod<&VuDevice::SetVringNum>("setVringNum"),
                           InstanceMethod<&VuDevice::SetVringAddr>("setVringAddr"),
                           InstanceMethod<&VuDevice::SetVringBase>("setVringBase"),
                           InstanceMethod<&VuDevice::GetVringBase>("getVringBase"),
                           InstanceMethod<&VuDevice::SetCallFd>("setCallFd"),
                           InstanceMethod<&VuDevice::SetNotify>("setNotify"),
                           InstanceMethod<&VuDevice::SetEventIdx>("setEventIdx"),
                           InstanceMethod<&VuDevice::Ready>("ready"),
                           InstanceMethod<&VuDevice::TxPop>("txPop"),
                           InstanceMethod<&VuDevice::RxPush>("rxPush"),
                           InstanceMethod<&VuDevice::RxPeek>("rxPeek"),
                           InstanceMethod<&VuDevice::RxCommit>("rxCommit"),
                           InstanceMethod<&VuDevice::RxNotify>("rxNotify"),
                           InstanceMethod<&VuDevice::RxAvailable>("rxAvailable"),
                           InstanceMethod<&VuDevice::Stats>("stats"),
                           InstanceMethod<&VuDevice::LastError>("lastError"),
                           InstanceMethod<&VuDevice::Reset>("reset"),
                       });
  }

  explicit VuDevice(const Napi::CallbackInfo& info) : Napi::ObjectWrap<VuDevice>(info) {
    Args a(info, "VuDevice", 0);
    if (!a.ok) return;
    segs_.resize(kMaxQueueSize + kMaxIndirect);
    indirect_.resize(2 * kMaxIndirect);
    chains_.reserve(256);
  }

  ~VuDevice() override { ResetAll(); }

 private:
  // --- arguments ---------------------------------------------------------

  /** A BigInt argument, lossless, as uint64 (a number is accepted when it is a safe integer). */
  static bool U64(Args& a, const Napi::CallbackInfo& info, size_t i, uint64_t* out) {
    if (!a.ok) return false;
    Napi::Value v = info[i];
    if (v.IsBigInt()) {
      bool lossless = false;
      uint64_t r = v.As<Napi::BigInt>().Uint64Value(&lossless);
      if (!lossless) {
        a.Range(std::string(a.fn()) + ": argument " + std::to_string(i + 1) + " must be a 64-bit unsigned integer");
        return false;
      }
      *out = r;
      return true;
    }
    int64_t n = a.Int64(i);
    if (!a.ok) return false;
    if (n < 0) {
      a.Range(std::string(a.fn()) + ": argument " + std::to_string(i + 1) + " must not be negative");
      return false;
    }
    *out = static_cast<uint64_t>(n);
    return true;
  }

  Queue* QueueArg(Args& a, int64_t q) {
    if (!a.ok) return nullptr;
    if (q < 0 || q >= kQueues) {
      a.Range(std::string(a.fn()) + ": queue must be 0 (RX) or 1 (TX)");
      return nullptr;
    }
    return &vq_[q];
  }

  // --- address translation -------------------------------------------------

  /** Our address for guest physical [gpa, gpa+*len): capped to the region it starts in (*len); nullptr if none. */
  uint8_t* Gpa(uint64_t gpa, uint64_t* len) const {
    for (const Region& r : regions_) {
      if (gpa >= r.gpa && gpa - r.gpa < r.size) {
        uint64_t left = r.size - (gpa - r.gpa);
        if (*len > left) *len = left;
        return r.host + (gpa - r.gpa);
      }
    }
    return nullptr;
  }

  /** Our address for QEMU's virtual address range [qva, qva+len), wholly inside one region; nullptr if none. */
  uint8_t* Qva(uint64_t qva, uint64_t len) const {
    for (const Region& r : regions_) {
      if (qva >= r.qva && qva - r.qva < r.size && len <= r.size - (qva - r.qva)) return r.host + (qva - r.qva);
    }
    return nullptr;
  }

  /** Map (or re-map after a new memory table) a queue's rings; false if they do not lie in memory. */
  bool MapRings(Queue& q) {
    q.desc = q.avail = q.used = nullptr;
    if (!q.addrSet || q.num == 0) return false;
    uint8_t* d = Qva(q.descQva, 16ull * q.num);
    uint8_t* av = Qva(q.availQva, 6ull + 2ull * q.num);
    uint8_t* u = Qva(q.usedQva, 6ull + 8ull * q.num);
    if (!d || !av || !u) return false;
    // The alignments the split ring requires (virtio 1.x 2.7): our loads are aligned.
    if ((reinterpret_cast<uintptr_t>(d) & 15) || (reinterpret_cast<uintptr_t>(av) & 1) || (reinterpret_cast<uintptr_t>(u) & 3)) return false;
    q.desc = d;
    q.avail = av;
    q.used = u;
    return true;
  }

  void SetError(const std::string& why) { lastError_ = why; }

  /** A receive chain (device-writable buffers) as WalkChain walks it; one with no room at all is a bad chain. */
  Walk WalkRxChain(const Queue& q, uint32_t head, size_t* nsegs, uint64_t* total) {
    Walk w = WalkChain(q, head, true, nsegs, total);
    if (w == Walk::Ok && *total == 0) {
      SetError("receive chain from " + std::to_string(head) + " has no room");
      w = Walk::BadChain;
    }
    return w;
  }

  /**
   * Walk the chain at `head`, appending its buffers to segs_ from index
   * *nsegs on: device-writable ones when `write`, readable ones otherwise.
   * *total gets their length. Dropped chains say why in lastError_.
   */
  Walk WalkChain(const Queue& q, uint32_t head, bool write, size_t* nsegs, uint64_t* total) {
    *total = 0;
    size_t n = *nsegs;
    const size_t cap = segs_.size();
    Desc d = ReadDesc(q.desc, head);
    const uint8_t* table = q.desc;
    uint32_t max = q.num;
    uint32_t i = head;
    bool viaIndirect = false;
    if (d.flags & kDescIndirect) {
      if (d.len == 0 || d.len % 16 || d.len / 16 > kMaxIndirect) {
        SetError("indirect descriptor table of " + std::to_string(d.len) + " bytes");
        return Walk::BadChain;
      }
      // Copied whole: the guest cannot change it under us afterwards.
      uint64_t addr = d.addr;
      uint64_t left = d.len;
      uint8_t* to = reinterpret_cast<uint8_t*>(indirect_.data());
      while (left) {
        uint64_t l = left;
        uint8_t* from = Gpa(addr, &l);
        if (!from) {
          SetError("indirect descriptor table at 0x" + Hex(addr) + " is outside guest memory");
          return Walk::BadChain;
        }
        memcpy(to, from, l);
        to += l;
        addr += l;
        left -= l;
      }
      table = reinterpret_cast<const uint8_t*>(indirect_.data());
      max = d.len / 16;
      i = 0;
      viaIndirect = true;
    }
    uint32_t count = 0;
    for (;;) {
      d = viaIndirect ? ReadDescCopied(table, i) : ReadDesc(table, i);
      if (++count > max) {
        SetError("descriptor chain from " + std::to_string(head) + " loops");
        return Walk::BadChain;
      }
      if (d.flags & kDescIndirect) {
        SetError("indirect descriptor inside a chain (from " + std::to_string(head) + ")");
        return Walk::BadChain;
      }
      if (((d.flags & kDescWrite) != 0) != write) {
        SetError(std::string(write ? "device-readable" : "device-writable") + " buffer in a " + (write ? "receive" : "transmit") + " chain (from " + std::to_string(head) + ")");
        return Walk::BadChain;
      }
      uint64_t addr = d.addr;
      uint64_t left = d.len;
      if (addr + left < addr) {
        SetError("buffer at 0x" + Hex(addr) + " wraps around");
        return Walk::BadChain;
      }
      while (left) {
        uint64_t l = left;
        uint8_t* p = Gpa(addr, &l);
        if (!p) {
          SetError("buffer at 0x" + Hex(addr) + " (" + std::to_string(d.len) + " bytes) is outside guest memory");
          return Walk::BadChain;
        }
        if (n >= cap) {
          SetError("descriptor chain from " + std::to_string(head) + " has too many pieces");
          return Walk::BadChain;
        }
        segs_[n].p = p;
        segs_[n].len = static_cast<uint32_t>(l);
        n++;
        *total += l;
        addr += l;
        left -= l;
      }
      if (!(d.flags & kDescNext)) break;
      i = d.next;
      if (i >= max) {
        SetError("next descriptor " + std::to_string(i) + " is out of range (" + std::to_string(max) + ")");
        return Walk::BadChain;
      }
    }
    *nsegs = n;
    return Walk::Ok;
  }

  static Desc ReadDesc(const uint8_t* table, uint32_t i) {
    const uint8_t* p = table + 16ull * i;
    return Desc{Load64(p), Load32(p + 8), Load16(p + 12), Load16(p + 14)};
  }

  static Desc ReadDescCopied(const uint8_t* table, uint32_t i) {
    Desc d;
    const uint8_t* p = table + 16ull * i;
    uint64_t a;
    uint32_t l;
    uint16_t f, n;
    memcpy(&a, p, 8);
    memcpy(&l, p + 8, 4);
    memcpy(&f, p + 12, 2);
    memcpy(&n, p + 14, 2);
    d.addr = le64toh(a);
    d.len = le32toh(l);
    d.flags = le16toh(f);
    d.next = le16toh(n);
    return d;
  }

  static std::string Hex(uint64_t v) {
    char s[24];
    snprintf(s, sizeof(s), "%llx", static_cast<unsigned long long>(v));
    return s;
  }

  /** The available index, with acquire ordering: ring entries and descriptors are read after it. */
  static uint16_t AvailIdx(const Queue& q) {
    uint16_t v = __atomic_load_n(reinterpret_cast<const uint16_t*>(q.avail + 2), __ATOMIC_ACQUIRE);
    return le16toh(v);
  }

  /**
   * The available index of `q` (AvailIdx), or false, with lastError naming
   * `ring`, if the guest claims more buffers available than the ring holds.
   */
  bool ReadAvail(const Queue& q, const char* ring, uint16_t* idx) {
    uint16_t v = AvailIdx(q);
    uint16_t pending = static_cast<uint16_t>(v - q.lastAvail);
    if (pending > q.num) {
      SetError(std::string(ring) + ": " + std::to_string(pending) + " buffers available in a ring of " + std::to_string(q.num));
      return false;
    }
    *idx = v;
    return true;
  }

  /** The head descriptor of the next available chain of `q`, or false, with lastError naming `ring`, if it is outside the ring. */
  bool NextHead(const Queue& q, const char* ring, uint32_t* head) {
    uint32_t h = Load16(q.avail + 4 + 2ull * (q.lastAvail % q.num));
    if (h >= q.num) {
      SetError(std::string(ring) + ": the guest says descriptor " + std::to_string(h) + " is available in a ring of " + std::to_string(q.num));
      return false;
    }
    *head = h;
    return true;
  }

  void UsedWrite(Queue& q, uint32_t head, uint32_t len) {
    uint8_t* e = q.used + 4 + 8ull * (q.usedIdx % q.num);
    Store32(e, head);
    Store32(e + 4, len);
    q.usedIdx++;
  }

  /**
   * Publish the used entries written since `from` and interrupt the guest
   * unless it asked not to be; with `notify` false the interrupt waits for
   * Notify() (rxNotify), so that several publications make one.
   */
  void Publish(Queue& q, uint16_t from, bool notify = true) {
    if (q.usedIdx == from) {
      if (notify && q.notifyDue) Notify(q);
      return;
    }
    // Buffers and used entries before the index (release), the index before the flag we read (full fence).
    __atomic_store_n(reinterpret_cast<uint16_t*>(q.used + 2), htole16(q.usedIdx), __ATOMIC_RELEASE);
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    stats_[kStatPublished]++;
    q.notifyDue = true;
    if (notify) Notify(q);
  }

  /** vring_need_event() of the virtio specification (2.7.10): whether moving from `old` to `now` passes `event`. */
  static bool NeedEvent(uint16_t event, uint16_t now, uint16_t old) {
    return static_cast<uint16_t>(now - event - 1) < static_cast<uint16_t>(now - old);
  }

  /**
   * With EVENT_IDX: ask the guest to kick when it makes entry `idx` of the
   * available ring available (avail_event, after our used ring), then a
   * full fence: entries it made available before it saw this are found by
   * the caller's next look at the ring.
   */
  void SetAvailEvent(Queue& q, uint16_t idx) {
    Store16(q.used + 4 + 8ull * q.num, idx);
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
  }

  /** Interrupt the guest for the entries published since the last interrupt, unless it asked not to be. */
  void Notify(Queue& q) {
    if (!q.notifyDue) return;
    q.notifyDue = false;
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    if (q.callFd < 0) return;
    if (eventIdx_) {
      // The guest's used_event (after its available ring): interrupt once our used index passes it.
      const uint16_t old = q.signalledUsed;
      const bool valid = q.signalledValid;
      q.signalledUsed = q.usedIdx;
      q.signalledValid = true;
      if (valid && !NeedEvent(Load16(q.avail + 4 + 2ull * q.num), q.usedIdx, old)) return;
    } else if (Load16(q.avail) & kAvailNoInterrupt) {
      return;
    }
    uint64_t one = 1;
    ssize_t r;
    do {
      r = write(q.callFd, &one, sizeof(one));
    } while (r < 0 && errno == EINTR);
    if (r == sizeof(one)) stats_[kStatCalls]++;
  }

  // --- statistics ------------------------------------------------------------

  enum StatIndex {
    kStatTxFrames = 0,
    kStatTxBytes,
    kStatTxDropped,    // chains dropped: bad descriptors, or a frame of a bad size
    kStatRxFrames,
    kStatRxBytes,
    kStatRxDropped,    // frames that could never fit (no mergeable buffers, chain too small)
    kStatRxBadChains,  // RX chains with bad descriptors, returned empty
    kStatCalls,        // interrupts (call eventfd writes)
    kStatPublished,    // used index updates
    kStatCount,
  };
  double stats_[kStatCount] = {};

  // --- JavaScript methods ----------------------------------------------------

  /**
   * addRegion(gpa, size, qva, mmapOffset, fd): map `size` bytes of the
   * file `fd` from `mmapOffset` as guest physical `gpa`, QEMU's virtual
   * address `qva`. The fd is not closed. 0 or -errno (EINVAL: no file with a
   * size, too small, overlapping, too many regions).
   */
  Napi::Value AddRegion(const Napi::CallbackInfo& info) {
    Args a(info, "addRegion", 5);
    uint64_t gpa = 0, size = 0, qva = 0, off = 0;
    U64(a, info, 0, &gpa);
    U64(a, info, 1, &size);
    U64(a, info, 2, &qva);
    U64(a, info, 3, &off);
    int fd = a.Int(4);
    if (!a.ok) return a.Fail();
    if (regions_.size() >= kMaxRegions || size == 0 || gpa + size < gpa || qva + size < qva || off + size < off) return Num(a.Env(), -EINVAL);
    if (Overlaps(gpa, size)) return Num(a.Env(), -EINVAL);
    // A mapping past the end of the file would fault (SIGBUS) when touched: the file must hold it.
    // Its size by lseek(2), not fstat(2): glibc's fstat is newfstatat, which the sandbox's
    // allow-list does not have (src/sandbox/policy.ts). A pipe or socket has no size (ESPIPE),
    // a character device none that fits, and mmap refuses what cannot be mapped.
    off_t end = lseek(fd, 0, SEEK_END);
    if (end < 0) return Num(a.Env(), errno == ESPIPE ? -EINVAL : -errno);
    if (static_cast<uint64_t>(end) < off + size) return Num(a.Env(), -EINVAL);
    // Offset 0 and the offset added here: mmap wants a page-aligned offset, QEMU's need not be.
    size_t len = static_cast<size_t>(off + size);
    void* m = mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, fd, 0);
    if (m == MAP_FAILED) return Num(a.Env(), -errno);
    Region r;
    r.gpa = gpa;
    r.size = size;
    r.qva = qva;
    r.host = static_cast<uint8_t*>(m) + off;
    r.map = m;
    r.mapLen = len;
    regions_.push_back(std::move(r));
    RemapAll();
    return Num(a.Env(), 0);
  }

  /** addBufferRegion(buf, gpa, qva): a Buffer standing for guest memory (tests). 0 or -EINVAL. */
  Napi::Value AddBufferRegion(const Napi::CallbackInfo& info) {
    Args a(info, "addBufferRegion", 3);
    Span<uint8_t> buf = a.Bytes(0);
    uint64_t gpa = 0, qva = 0;
    U64(a, info, 1, &gpa);
    U64(a, info, 2, &qva);
    if (!a.ok) return a.Fail();
    uint64_t size = buf.length;
    if (regions_.size() >= kMaxRegions || size == 0 || gpa + size < gpa || qva + size < qva || Overlaps(gpa, size)) return Num(a.Env(), -EINVAL);
    Region r;
    r.gpa = gpa;
    r.size = size;
    r.qva = qva;
    r.host = buf.data;
    r.buffer = std::make_unique<Napi::Reference<Napi::Value>>(Napi::Persistent(info[0]));
    regions_.push_back(std::move(r));
    RemapAll();
    return Num(a.Env(), 0);
  }

  bool Overlaps(uint64_t gpa, uint64_t size) const {
    for (const Region& r : regions_) {
      if (gpa < r.gpa + r.size && r.gpa < gpa + size) return true;
    }
    return false;
  }

  void RemapAll() {
    for (Queue& q : vq_) {
      if (q.addrSet) MapRings(q);
    }
  }

  void UnmapAll() {
    peekActive_ = false;  // its buffers' addresses go with the memory
    for (Region& r : regions_) {
      if (r.map) munmap(r.map, r.mapLen);
    }
    regions_.clear();
    for (Queue& q : vq_) q.desc = q.avail = q.used = nullptr;
  }

  /** clearRegions(): unmap every region (a new memory table follows). */
  Napi::Value ClearRegions(const Napi::CallbackInfo& info) {
    Args a(info, "clearRegions", 0);
    if (!a.ok) return a.Fail();
    UnmapAll();
    return Num(a.Env(), 0);
  }

  /** setVringNum(q, num): the queue's size, a power of 2 up to 32768. 0 or -EINVAL. */
  Napi::Value SetVringNum(const Napi::CallbackInfo& info) {
    Args a(info, "setVringNum", 2);
    Queue* q = QueueArg(a, a.Int64(0));
    int64_t num = a.Int64(1);
    if (!a.ok) return a.Fail();
    if (num < 1 || num > kMaxQueueSize || (num & (num - 1))) return Num(a.Env(), -EINVAL);
    q->num = static_cast<uint32_t>(num);
    if (q->addrSet) MapRings(*q);
    return Num(a.Env(), 0);
  }

  /**
   * setVringAddr(q, desc, avail, used): the rings, as QEMU's virtual
   * addresses. 0, or -EINVAL when they do not lie wholly in guest memory,
   * suitably aligned, for the queue's size.
   */
  Napi::Value SetVringAddr(const Napi::CallbackInfo& info) {
    Args a(info, "setVringAddr", 4);
    Queue* q = QueueArg(a, a.Int64(0));
    uint64_t d = 0, av = 0, u = 0;
    U64(a, info, 1, &d);
    U64(a, info, 2, &av);
    U64(a, info, 3, &u);
    if (!a.ok) return a.Fail();
    q->descQva = d;
    q->availQva = av;
    q->usedQva = u;
    q->addrSet = true;
    if (!MapRings(*q)) return Num(a.Env(), -EINVAL);
    // Where the guest left off (a reconnection): our next used entry follows its used index.
    q->usedIdx = Load16(q->used + 2);
    return Num(a.Env(), 0);
  }

  /** setVringBase(q, base): the next available entry to take. */
  Napi::Value SetVringBase(const Napi::CallbackInfo& info) {
    Args a(info, "setVringBase", 2);
    Queue* q = QueueArg(a, a.Int64(0));
    int64_t base = a.Int64(1);
    if (a.ok && (base < 0 || base > 0xffff)) a.Range("setVringBase: base must be between 0 and 65535");
    if (!a.ok) return a.Fail();
    q->lastAvail = static_cast<uint16_t>(base);
    q->signalledValid = false;
    return Num(a.Env(), 0);
  }

  /** getVringBase(q): the next available entry to take; the queue stops (its rings are forgotten, its call fd closed). */
  Napi::Value GetVringBase(const Napi::CallbackInfo& info) {
    Args a(info, "getVringBase", 1);
    Queue* q = QueueArg(a, a.Int64(0));
    if (!a.ok) return a.Fail();
    if (q == &vq_[0]) CancelPeek();
    uint16_t base = q->lastAvail;
    StopQueue(*q);
    return Num(a.Env(), base);
  }

  void StopQueue(Queue& q) {
    if (&q == &vq_[0]) peekActive_ = false;  // its chains go with the queue
    if (q.callFd >= 0) close(q.callFd);
    q = Queue();
  }

  /** setCallFd(q, fd): the eventfd to interrupt the guest through (-1: none); a previous one is closed. */
  Napi::Value SetCallFd(const Napi::CallbackInfo& info) {
    Args a(info, "setCallFd", 2);
    Queue* q = QueueArg(a, a.Int64(0));
    int fd = a.Int(1);
    if (!a.ok) return a.Fail();
    if (q->callFd >= 0 && q->callFd != fd) close(q->callFd);
    q->callFd = fd;
    return Num(a.Env(), 0);
  }

  /**
   * setNotify(q, on): whether the guest should kick this queue when it
   * makes buffers available (VRING_USED_F_NO_NOTIFY cleared or set). After
   * turning it on, a full fence: buffers made available before the guest
   * saw the flag are found by the next look at the ring. 0 or -ENOTCONN.
   */
  Napi::Value SetNotify(const Napi::CallbackInfo& info) {
    Args a(info, "setNotify", 2);
    Queue* q = QueueArg(a, a.Int64(0));
    bool on = a.Bool(1);
    if (!a.ok) return a.Fail();
    if (!q->used) return Num(a.Env(), -ENOTCONN);
    Store16(q->used, on ? 0 : kUsedNoNotify);
    // With EVENT_IDX the guest reads avail_event, not the flag: a kick for its next entry. Turned
    // off, it stays where it was: at most one more kick, when the guest's index passes it again.
    if (eventIdx_ && on) SetAvailEvent(*q, AvailIdx(*q));
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    return Num(a.Env(), 0);
  }

  /**
   * setEventIdx(on): VIRTIO_RING_F_EVENT_IDX was negotiated (or not): the
   * guest's used_event decides interrupts instead of its no-interrupt flag,
   * and our avail_event its kicks instead of the no-notify flag.
   */
  Napi::Value SetEventIdx(const Napi::CallbackInfo& info) {
    Args a(info, "setEventIdx", 1);
    bool on = a.Bool(0);
    if (!a.ok) return a.Fail();
    eventIdx_ = on;
    for (Queue& q : vq_) q.signalledValid = false;
    return Num(a.Env(), 0);
  }
  bool eventIdx_ = false;

  /** ready(q): whether the queue's rings are set and lie in guest memory. */
  Napi::Value Ready(const Napi::CallbackInfo& info) {
    Args a(info, "ready", 1);
    Queue* q = QueueArg(a, a.Int64(0));
    if (!a.ok) return a.Fail();
    return Napi::Boolean::New(a.Env(), q->desc != nullptr && q->num != 0);
  }

  /**
   * txPop(buf, frames, maxFrames, hdrLen, info): take what the guest
   * transmitted on queue 1. Each chain's readable buffers are copied to
   * `buf` (at a multiple of 8 bytes): `hdrLen` bytes of virtio-net header,
   * then the frame, whose [offset, length] goes to `frames`; every chain
   * goes back to the guest in the used ring, which is published (and the
   * guest interrupted) once at the end. A chain that cannot be walked, or
   * whose frame is shorter than an Ethernet header or longer than 65549
   * bytes, is returned and counted as dropped. Stops at `maxFrames` or when
   * `buf` has no room for the largest frame; info[0] is then 1 if chains
   * are left. info[1] gets the number of chains dropped. Returns the frame
   * count, -ENOTCONN if the queue is not set
   * up, or -EBADMSG if the ring is broken (lastError() says how).
   */
  Napi::Value TxPop(const Napi::CallbackInfo& info) {
    Args a(info, "txPop", 5);
    Span<uint8_t> buf = a.Bytes(0);
    Span<int32_t> frames = a.I32(1);
    int64_t maxFrames = a.Int64(2);
    int64_t hdr = a.Int64(3);
    Span<int32_t> more = a.I32(4);
    if (a.ok && (hdr < 0 || hdr > 64)) a.Range("txPop: hdrLen must be between 0 and 64");
    if (a.ok && maxFrames < 0) a.Range("txPop: maxFrames must not be negative");
    a.AtLeast(frames.length, 2 * static_cast<uint64_t>(maxFrames), "frames");
    a.AtLeast(more.length, 2, "info");
    if (a.ok && buf.length > INT32_MAX) a.Range("txPop: buf must be smaller than 2 GiB");
    if (a.ok && buf.length < kMaxFrame + 2 * 64) a.Range("txPop: buf must hold at least the largest frame and its header");
    if (!a.ok) return a.Fail();
    more.data[0] = more.data[1] = 0;
    Queue& q = vq_[1];
    if (!q.desc) return Num(a.Env(), -ENOTCONN);
    const size_t h = static_cast<size_t>(hdr);
    uint16_t availIdx;
    if (!ReadAvail(q, "transmit ring", &availIdx)) return Num(a.Env(), -EBADMSG);
    const uint16_t from = q.usedIdx;
    int64_t count = 0;
    size_t off = 0;
    while (q.lastAvail != availIdx) {
      if (count >= maxFrames || buf.length - off < kMaxFrame + h + 8) {
        more.data[0] = 1;
        break;
      }
      uint32_t head;
      if (!NextHead(q, "transmit ring", &head)) {
        Publish(q, from);
        return Num(a.Env(), -EBADMSG);
      }
      q.lastAvail++;
      size_t nsegs = 0;
      uint64_t total = 0;
      Walk w = WalkChain(q, head, false, &nsegs, &total);
      if (w == Walk::Ok && (total < h + kMinFrame || total > h + kMaxFrame)) {
        SetError("transmit chain from " + std::to_string(head) + ": a frame of " + std::to_string(total >= h ? total - h : 0) + " bytes");
        w = Walk::BadChain;
      }
      if (w == Walk::Ok) {
        uint8_t* to = buf.data + off;
        for (size_t s = 0; s < nsegs; s++) {
          memcpy(to, segs_[s].p, segs_[s].len);
          to += segs_[s].len;
        }
        frames.data[2 * count] = static_cast<int32_t>(off + h);
        frames.data[2 * count + 1] = static_cast<int32_t>(total - h);
        count++;
        stats_[kStatTxFrames]++;
        stats_[kStatTxBytes] += static_cast<double>(total - h);
        off = (off + total + 7) & ~static_cast<size_t>(7);
      } else {
        stats_[kStatTxDropped]++;
        more.data[1]++;
      }
      UsedWrite(q, head, 0);
    }
    Publish(q, from);
    if (eventIdx_ && !more.data[0]) {
      // Kicks for whatever comes next; what came meanwhile (no kick for it) is read in the next round.
      SetAvailEvent(q, q.lastAvail);
      if (AvailIdx(q) != q.lastAvail) more.data[0] = 1;
    }
    return Num(a.Env(), static_cast<double>(count));
  }

  /**
   * rxPush(buf, frames, count, hdrLen, mergeable, out): deliver frames to
   * the guest on queue 0. Frame i is buf[frames[2i], +frames[2i+1]) with its
   * virtio-net header in the `hdrLen` bytes before it (num_buffers, its last
   * two bytes, is set here). With `mergeable` a frame is spread over as many
   * chains as it needs; without, it must fit one. Frames go in order; the
   * first that finds too few buffers stops the call (it and those after it
   * stay with the caller). A frame that can never fit (a chain without
   * mergeable buffers too small for it) is dropped. The used ring is
   * published, and the guest interrupted, once at the end. out (Int32Array
   * of 4) gets [frames dropped, chains returned empty because their
   * descriptors were bad, 1 if stopped for lack of buffers, bytes of the
   * frames delivered]. Returns how
   * many frames were taken (delivered or dropped), -ENOTCONN if the queue
   * is not set up, or -EBADMSG if the ring is broken.
   */
  Napi::Value RxPush(const Napi::CallbackInfo& info) {
    Args a(info, "rxPush", 6);
    Span<uint8_t> buf = a.Bytes(0);
    Span<int32_t> frames = a.I32(1);
    int64_t count = a.Int64(2);
    int64_t hdr = a.Int64(3);
    bool mergeable = a.Bool(4);
    Span<int32_t> out = a.I32(5);
    if (a.ok && (hdr < 2 || hdr > 64)) a.Range("rxPush: hdrLen must be between 2 and 64");
    if (a.ok && count < 0) a.Range("rxPush: count must not be negative");
    a.AtLeast(frames.length, 2 * static_cast<uint64_t>(count), "frames");
    a.AtLeast(out.length, 4, "out");
    for (int64_t i = 0; a.ok && i < count; i++) {
      a.InRange(static_cast<int64_t>(frames.data[2 * i]) - hdr, static_cast<int64_t>(frames.data[2 * i + 1]) + hdr, buf.length, "frame");
    }
    if (!a.ok) return a.Fail();
    CancelPeek();
    out.data[0] = out.data[1] = out.data[2] = out.data[3] = 0;
    Queue& q = vq_[0];
    if (!q.desc) return Num(a.Env(), -ENOTCONN);
    const size_t h = static_cast<size_t>(hdr);
    uint16_t availIdx;
    if (!ReadAvail(q, "receive ring", &availIdx)) return Num(a.Env(), -EBADMSG);
    const uint16_t from = q.usedIdx;
    int64_t taken = 0;
    for (; taken < count; taken++) {
      uint8_t* frame = buf.data + frames.data[2 * taken] - h;
      const uint64_t need = static_cast<uint64_t>(frames.data[2 * taken + 1]) + h;
      // Where to go back to when this frame must wait: after any bad chain already given back.
      uint16_t saved = q.lastAvail;
      chains_.clear();
      size_t nsegs = 0;
      uint64_t have = 0;
      bool stop = false, drop = false, mixed = false;
      while (have < need) {
        if (q.lastAvail == availIdx) {
          // Buffers made available since we looked?
          if (!ReadAvail(q, "receive ring", &availIdx)) {
            Publish(q, from);
            return Num(a.Env(), -EBADMSG);
          }
          if (q.lastAvail == availIdx) {
            stop = true;
            break;
          }
        }
        uint32_t head;
        if (!NextHead(q, "receive ring", &head)) {
          q.lastAvail = saved;
          Publish(q, from);
          return Num(a.Env(), -EBADMSG);
        }
        q.lastAvail++;
        size_t first = nsegs;
        uint64_t len = 0;
        Walk w = WalkRxChain(q, head, &nsegs, &len);
        if (w != Walk::Ok) {
          // Given back empty at once, ahead of this frame's chains (those must follow each other).
          nsegs = first;
          UsedWrite(q, head, 0);
          stats_[kStatRxBadChains]++;
          out.data[1]++;
          if (chains_.empty()) saved = q.lastAvail;
          else mixed = true;
          continue;
        }
        if (!mergeable && len < need) {
          // Too small for this frame, and a frame takes one chain: the frame goes, the chain stays.
          q.lastAvail--;
          nsegs = first;
          drop = true;
          break;
        }
        chains_.push_back(Chain{head, first, nsegs, 0});
        have += len;
      }
      if (stop && mixed) {
        // A bad chain came between this frame's chains: they cannot be taken back; give them back empty.
        for (const Chain& c : chains_) UsedWrite(q, c.head, 0);
        stats_[kStatRxDropped]++;
        out.data[0]++;
        out.data[2] = 1;
        taken++;
        break;
      }
      if (stop) {
        // Not enough buffers: the frame waits for more; the chains taken for it go back.
        q.lastAvail = saved;
        out.data[2] = 1;
        break;
      }
      if (drop || chains_.size() > 0xffff) {
        for (const Chain& c : chains_) UsedWrite(q, c.head, 0);
        stats_[kStatRxDropped]++;
        out.data[0]++;
        continue;
      }
      // num_buffers, the header's last field, then the copy chain by chain.
      frame[h - 2] = static_cast<uint8_t>(chains_.size());
      frame[h - 1] = static_cast<uint8_t>(chains_.size() >> 8);
      uint64_t left = need;
      const uint8_t* from8 = frame;
      for (Chain& c : chains_) {
        uint32_t used = 0;
        for (size_t s = c.firstSeg; s < c.endSeg && left; s++) {
          size_t l = segs_[s].len < left ? segs_[s].len : static_cast<size_t>(left);
          memcpy(segs_[s].p, from8, l);
          from8 += l;
          left -= l;
          used += static_cast<uint32_t>(l);
        }
        UsedWrite(q, c.head, used);
      }
      stats_[kStatRxFrames]++;
      stats_[kStatRxBytes] += static_cast<double>(need - h);
      out.data[3] += static_cast<int32_t>(need - h);
    }
    Publish(q, from);
    return Num(a.Env(), static_cast<double>(taken));
  }

  // --- zero-copy receive: rxPeek, then rxCommit --------------------------------
  //
  // TCP data for the guest is peeked from its socket straight into the
  // guest's RX buffers, as upstream's tcp_vu.c does, instead of into our
  // transmit buffer and copied again by rxPush. rxPeek takes available
  // chains for frames of up to `frameLen` payload bytes, leaving room for
  // the virtio-net header and the frame's headers at the start of each
  // frame's first buffer, and peeks (MSG_PEEK) into the rest with one
  // recvmsg(2); rxCommit then copies the headers the caller built (they
  // depend on how much was read) into place, sets num_buffers, and
  // publishes the chains used. Chains taken and not filled go back: the
  // available index is rewound to them (they were not used), except where
  // a bad chain returned meanwhile lies after them (they are then returned
  // empty). Bad chains are returned empty before the frames, whose chains
  // must follow each other in the used ring (mergeable buffers).

  struct PeekChain {
    uint32_t head;
    uint32_t pos;  // its available entry, counted from where rxPeek started
    size_t firstSeg, endSeg;
    uint64_t len;
  };
  struct PeekFrame {
    size_t firstChain, endChain;
    uint8_t* hdr;  // the virtio-net header's place: the first byte of the first buffer
    uint64_t cap;  // payload bytes the frame's buffers take after the headers
  };
  static constexpr size_t kMaxIov = 1024;   // UIO_MAXIOV
  static constexpr size_t kMaxDiscard = 16 << 20;
  static constexpr size_t kVnetHdr = 12;    // struct virtio_net_hdr_mrg_rxbuf

  /** Bad chains of the pending peek returned empty; the unused good ones from `firstUnused` on rewound or returned empty. */
  void PeekRelease(Queue& q, size_t firstUnused) {
    for (uint32_t head : peekBad_) UsedWrite(q, head, 0);
    const uint32_t taken = static_cast<uint16_t>(q.lastAvail - peekStart_);
    uint32_t rewindTo = firstUnused < peekChains_.size() ? peekChains_[firstUnused].pos : taken;
    for (uint32_t pos : peekBadPos_) {
      if (pos >= rewindTo) rewindTo = pos + 1;
    }
    for (size_t c = firstUnused; c < peekChains_.size(); c++) {
      if (peekChains_[c].pos < rewindTo) UsedWrite(q, peekChains_[c].head, 0);
    }
    q.lastAvail = static_cast<uint16_t>(peekStart_ + rewindTo);
    peekBad_.clear();
    peekBadPos_.clear();
    peekChains_.clear();
    peekFrames_.clear();
  }

  /** Give back whatever an uncommitted rxPeek took. */
  void CancelPeek() {
    if (!peekActive_) return;
    peekActive_ = false;
    Queue& q = vq_[0];
    if (!q.used) return;
    const uint16_t from = q.usedIdx;
    PeekRelease(q, 0);
    Publish(q, from, false);
  }

  /**
   * rxPeek(fd, discard, frameHdrLen, frameLen, maxBytes, mergeable, lens,
   * out): peek up to `maxBytes` bytes of the stream socket `fd`, after
   * skipping `discard` bytes (0 with SO_PEEK_OFF), straight into the
   * guest's RX buffers: frames of up to `frameLen` payload bytes, each with
   * room for the 12-byte virtio-net header and `frameHdrLen` bytes of
   * headers before its payload, in its first buffer. Returns the bytes
   * read, 0 at end of file, -EAGAIN if nothing new is queued, -ENOBUFS if
   * the guest has no (suitable) buffer, -errno of recvmsg, -ENOTCONN if the
   * queue is not set up, or -EBADMSG if the ring is broken; on all but a
   * positive return nothing stays taken. lens[i] gets frame i's payload
   * length; out (Int32Array of 4) = [frames filled, why fewer than
   * maxBytes were reserved (0: a limit of ours, or none; 1: the ring has no
   * buffer left; 2: the next chain cannot take headers whole, a case for
   * rxPush), bad chains returned empty, payload bytes reserved]. After a
   * positive return the frames wait for rxCommit (any other RX call gives
   * them back first).
   */
  Napi::Value RxPeek(const Napi::CallbackInfo& info) {
    Args a(info, "rxPeek", 8);
    int fd = a.Int(0);
    int64_t discard = a.Int64(1);
    int64_t fhdr = a.Int64(2);
    int64_t frameLen = a.Int64(3);
    int64_t maxBytes = a.Int64(4);
    bool mergeable = a.Bool(5);
    Span<int32_t> lens = a.I32(6);
    Span<int32_t> out = a.I32(7);
    if (a.ok && (fhdr < 0 || fhdr > 256)) a.Range("rxPeek: frameHdrLen must be between 0 and 256");
    if (a.ok && (frameLen < 1 || frameLen > static_cast<int64_t>(kMaxFrame))) a.Range("rxPeek: frameLen must be between 1 and 65549");
    if (a.ok && (maxBytes < 1 || maxBytes > (64 << 20))) a.Range("rxPeek: maxBytes must be between 1 and 64 MiB");
    if (a.ok && (discard < 0 || discard > static_cast<int64_t>(kMaxDiscard))) a.Range("rxPeek: discard must be between 0 and 16 MiB");
    a.AtLeast(lens.length, 1, "lens");
    a.AtLeast(out.length, 4, "out");
    if (!a.ok) return a.Fail();
    CancelPeek();
    out.data[0] = out.data[1] = out.data[2] = out.data[3] = 0;
    Queue& q = vq_[0];
    if (!q.desc) return Num(a.Env(), -ENOTCONN);
    const uint64_t hdr = kVnetHdr + static_cast<uint64_t>(fhdr);
    uint16_t availIdx;
    if (!ReadAvail(q, "receive ring", &availIdx)) return Num(a.Env(), -EBADMSG);
    const uint16_t from = q.usedIdx;
    peekStart_ = q.lastAvail;
    peekChains_.clear();
    peekFrames_.clear();
    peekBad_.clear();
    peekBadPos_.clear();
    size_t nsegs = 0, niov = discard > 0 ? 1 : 0;
    uint64_t reserved = 0;
    int shortWhy = 0;  // 1: no buffer left in the ring; 2: a chain rxPeek cannot use (left for rxPush)
    bool stop = false;
    while (reserved < static_cast<uint64_t>(maxBytes) && peekFrames_.size() < lens.length && !stop) {
      const uint64_t want = std::min<uint64_t>(static_cast<uint64_t>(frameLen), static_cast<uint64_t>(maxBytes) - reserved);
      PeekFrame f{peekChains_.size(), peekChains_.size(), nullptr, 0};
      uint64_t have = 0;
      while (have < hdr + want) {
        if (q.lastAvail == availIdx) {
          if (!ReadAvail(q, "receive ring", &availIdx)) {
            PeekRelease(q, 0);
            Publish(q, from, false);
            return Num(a.Env(), -EBADMSG);
          }
          if (q.lastAvail == availIdx) {
            shortWhy = 1;
            stop = true;
            break;
          }
        }
        uint32_t head;
        if (!NextHead(q, "receive ring", &head)) {
          PeekRelease(q, 0);
          Publish(q, from, false);
          return Num(a.Env(), -EBADMSG);
        }
        const uint32_t pos = static_cast<uint16_t>(q.lastAvail - peekStart_);
        q.lastAvail++;
        size_t first = nsegs;
        uint64_t len = 0;
        Walk w = WalkRxChain(q, head, &nsegs, &len);
        if (w != Walk::Ok) {
          nsegs = first;
          peekBad_.push_back(head);
          peekBadPos_.push_back(pos);
          stats_[kStatRxBadChains]++;
          out.data[2]++;
          continue;
        }
        // The headers go in a frame's first buffer, whole; a chain that cannot hold them (or
        // whose pieces would not fit one recvmsg) stays in the ring for rxPush, which copies.
        const bool firstOfFrame = f.endChain == f.firstChain;
        const bool unusable = (firstOfFrame && segs_[first].len < hdr) || (!mergeable && len <= hdr);
        if (unusable || niov + (nsegs - first) > kMaxIov) {
          q.lastAvail--;
          nsegs = first;
          if (unusable) shortWhy = 2;
          stop = true;
          break;
        }
        niov += nsegs - first;
        peekChains_.push_back(PeekChain{head, pos, first, nsegs, len});
        f.endChain++;
        have += len;
        if (!mergeable) break;
      }
      if (f.endChain == f.firstChain || have <= hdr) break;  // (chains of a frame with no room stay unused)
      f.hdr = segs_[peekChains_[f.firstChain].firstSeg].p;
      f.cap = std::min(have - hdr, want);
      peekFrames_.push_back(f);
      reserved += f.cap;
    }
    out.data[1] = shortWhy;
    out.data[3] = static_cast<int32_t>(reserved);
    if (peekFrames_.empty()) {
      PeekRelease(q, 0);
      Publish(q, from, false);
      return Num(a.Env(), -ENOBUFS);
    }
    // The payload's pieces: each frame's buffers after its headers, up to its capacity.
    peekIov_.clear();
    if (discard > 0) {
      if (peekDiscard_.size() < static_cast<size_t>(discard)) peekDiscard_.resize(static_cast<size_t>(discard));
      peekIov_.push_back(iovec{peekDiscard_.data(), static_cast<size_t>(discard)});
    }
    for (const PeekFrame& f : peekFrames_) {
      uint64_t left = f.cap;
      const size_t firstSeg = peekChains_[f.firstChain].firstSeg;
      for (size_t c = f.firstChain; c < f.endChain && left; c++) {
        for (size_t s = peekChains_[c].firstSeg; s < peekChains_[c].endSeg && left; s++) {
          uint8_t* p = segs_[s].p;
          uint64_t l = segs_[s].len;
          if (s == firstSeg) {
            p += hdr;
            l -= hdr;
          }
          if (l > left) l = left;
          if (l == 0) continue;
          peekIov_.push_back(iovec{p, static_cast<size_t>(l)});
          left -= l;
        }
      }
    }
    msghdr mh{};
    mh.msg_iov = peekIov_.data();
    mh.msg_iovlen = peekIov_.size();
    ssize_t r;
    do {
      r = recvmsg(fd, &mh, MSG_PEEK | MSG_DONTWAIT);
    } while (r < 0 && errno == EINTR);
    const int err = errno;
    if (r <= discard) {
      PeekRelease(q, 0);
      Publish(q, from, false);
      if (r < 0) return Num(a.Env(), -err);
      // Nothing at all is end of file; only bytes already sent is nothing new.
      return Num(a.Env(), r == 0 ? 0 : -EAGAIN);
    }
    uint64_t left = static_cast<uint64_t>(r - discard);
    size_t filled = 0;
    peekLens_.clear();
    for (size_t i = 0; i < peekFrames_.size(); i++) {
      uint64_t l = std::min(left, peekFrames_[i].cap);
      lens.data[i] = static_cast<int32_t>(l);
      peekLens_.push_back(static_cast<int64_t>(l));
      left -= l;
      if (l) filled = i + 1;
    }
    peekFilled_ = filled;
    peekHdr_ = static_cast<size_t>(hdr);
    peekActive_ = true;
    out.data[0] = static_cast<int32_t>(filled);
    // Bad chains already seen are published with the frames, by rxCommit.
    return Num(a.Env(), static_cast<double>(r - discard));
  }

  /**
   * rxCommit(stage, frames, count): the frames of the last rxPeek, all of
   * them (count is the number it filled): frame i's headers are
   * stage[frames[2i] - 12, frames[2i] + frameHdrLen) — the virtio-net
   * header, then the frame's — and frames[2i+1] its length (frameHdrLen
   * and the payload length rxPeek gave). They are copied into place,
   * num_buffers set, the chains used published (the guest is interrupted
   * at rxNotify or at the next rxPush), and the chains not used given
   * back. Returns count, or -ENOTCONN if the queue went meanwhile.
   */
  Napi::Value RxCommit(const Napi::CallbackInfo& info) {
    Args a(info, "rxCommit", 3);
    Span<uint8_t> stage = a.Bytes(0);
    Span<int32_t> frames = a.I32(1);
    int64_t count = a.Int64(2);
    if (a.ok && !peekActive_) a.Range("rxCommit: no rxPeek is waiting");
    if (a.ok && count != static_cast<int64_t>(peekFilled_)) a.Range("rxCommit: count must be the " + std::to_string(peekFilled_) + " frames rxPeek filled");
    a.AtLeast(frames.length, 2 * static_cast<uint64_t>(count < 0 ? 0 : count), "frames");
    for (int64_t i = 0; a.ok && i < count; i++) {
      const int64_t off = static_cast<int64_t>(frames.data[2 * i]) - static_cast<int64_t>(kVnetHdr);
      a.InRange(off, static_cast<int64_t>(peekHdr_), stage.length, "headers");
      if (a.ok && static_cast<int64_t>(frames.data[2 * i + 1]) != static_cast<int64_t>(peekHdr_ - kVnetHdr) + lenOf(i)) {
        a.Range("rxCommit: frame " + std::to_string(i) + " must be its headers and the " + std::to_string(lenOf(i)) + " bytes peeked");
      }
    }
    if (!a.ok) {
      CancelPeek();
      return a.Fail();
    }
    peekActive_ = false;
    Queue& q = vq_[0];
    if (!q.used) return Num(a.Env(), -ENOTCONN);
    const uint16_t from = q.usedIdx;
    for (uint32_t head : peekBad_) UsedWrite(q, head, 0);
    peekBad_.clear();
    size_t firstUnused = 0;
    for (size_t i = 0; i < peekFilled_; i++) {
      const PeekFrame& f = peekFrames_[i];
      uint64_t left = peekHdr_ + static_cast<uint64_t>(lenOf(i));
      memcpy(f.hdr, stage.data + frames.data[2 * i] - kVnetHdr, peekHdr_);
      size_t c = f.firstChain;
      for (; c < f.endChain && left; c++) {
        uint32_t used = static_cast<uint32_t>(std::min(left, peekChains_[c].len));
        UsedWrite(q, peekChains_[c].head, used);
        left -= used;
      }
      const size_t nb = c - f.firstChain;
      f.hdr[kVnetHdr - 2] = static_cast<uint8_t>(nb);
      f.hdr[kVnetHdr - 1] = static_cast<uint8_t>(nb >> 8);
      firstUnused = c;
      stats_[kStatRxFrames]++;
      stats_[kStatRxBytes] += static_cast<double>(peekHdr_ - kVnetHdr + lenOf(i));
    }
    PeekRelease(q, firstUnused);
    Publish(q, from, false);
    return Num(a.Env(), static_cast<double>(count));
  }

  int64_t lenOf(size_t i) const { return i < peekLens_.size() ? peekLens_[i] : 0; }

  /** rxAvailable(): buffers (chains) the guest has made available on RX and we have not taken; -ENOTCONN, or -EBADMSG if the ring is broken. */
  Napi::Value RxAvailable(const Napi::CallbackInfo& info) {
    Args a(info, "rxAvailable", 0);
    if (!a.ok) return a.Fail();
    Queue& q = vq_[0];
    if (!q.desc) return Num(a.Env(), -ENOTCONN);
    uint16_t idx;
    if (!ReadAvail(q, "receive ring", &idx)) return Num(a.Env(), -EBADMSG);
    return Num(a.Env(), static_cast<uint16_t>(idx - q.lastAvail));
  }

  /** rxNotify(): interrupt the guest for what rxCommit published (unless it asked not to be). 0. */
  Napi::Value RxNotify(const Napi::CallbackInfo& info) {
    Args a(info, "rxNotify", 0);
    if (!a.ok) return a.Fail();
    if (vq_[0].used) Notify(vq_[0]);
    return Num(a.Env(), 0);
  }

  bool peekActive_ = false;
  uint16_t peekStart_ = 0;
  size_t peekFilled_ = 0;
  size_t peekHdr_ = 0;
  std::vector<PeekChain> peekChains_;
  std::vector<PeekFrame> peekFrames_;
  std::vector<int64_t> peekLens_;
  std::vector<uint32_t> peekBad_;
  std::vector<uint32_t> peekBadPos_;
  std::vector<iovec> peekIov_;
  std::vector<uint8_t> peekDiscard_;

  struct Chain {
    uint32_t head;
    size_t firstSeg;
    size_t endSeg;
    uint32_t pad;
  };

  /**
   * stats(out): Float64Array of 9: [txFrames, txBytes, txDropped, rxFrames,
   * rxBytes, rxDropped, rxBadChains, interrupts, used-index updates].
   */
  Napi::Value Stats(const Napi::CallbackInfo& info) {
    Args a(info, "stats", 1);
    Napi::Value v = info[0];
    if (a.ok && !v.IsTypedArray()) a.Range("stats: argument 1 must be a Float64Array");
    if (!a.ok) return a.Fail();
    Napi::TypedArray t = v.As<Napi::TypedArray>();
    if (t.TypedArrayType() != napi_float64_array || t.ElementLength() < kStatCount) {
      a.Range("stats: argument 1 must be a Float64Array of 9");
      return a.Fail();
    }
    Napi::Float64Array f = v.As<Napi::Float64Array>();
    for (int i = 0; i < kStatCount; i++) f[i] = stats_[i];
    return Num(a.Env(), 0);
  }

  /** lastError(): why the last chain was dropped or the ring found broken ("" if nothing since the last call). */
  Napi::Value LastError(const Napi::CallbackInfo& info) {
    Args a(info, "lastError", 0);
    if (!a.ok) return a.Fail();
    std::string s;
    s.swap(lastError_);
    return Napi::String::New(a.Env(), s);
  }

  void ResetAll() {
    for (Queue& q : vq_) StopQueue(q);
    UnmapAll();
  }

  /** reset(): stop both queues (closing their call fds) and unmap guest memory; counters are kept. */
  Napi::Value Reset(const Napi::CallbackInfo& info) {
    Args a(info, "reset", 0);
    if (!a.ok) return a.Fail();
    ResetAll();
    return Num(a.Env(), 0);
  }

  std::vector<Region> regions_;
  Queue vq_[kQueues];
  std::vector<Seg> segs_;
  std::vector<uint64_t> indirect_;  // a copied indirect table: 1024 descriptors of 16 bytes
  std::vector<Chain> chains_;
  std::string lastError_;
};

/**
 * vuRecv(fd, buf, off, len, fds): one recvmsg(2) (MSG_DONTWAIT,
 * MSG_CMSG_CLOEXEC) into buf[off, off+len), with file descriptors passed
 * along (SCM_RIGHTS): fds[0] gets their number, fds[1...] the fds. More than
 * fds.length - 1 of them (the rest were cut: MSG_CTRUNC) closes them all and
 * returns -EMSGSIZE. Returns bytes, 0 at end of file, or -errno.
 */
Napi::Value VuRecv(const Napi::CallbackInfo& info) {
  Args a(info, "vuRecv", 5);
  int fd = a.Int(0);
  Span<uint8_t> buf = a.Bytes(1);
  int64_t off = a.Int64(2);
  int64_t len = a.Int64(3);
  Span<int32_t> fds = a.I32(4);
  a.InRange(off, len, buf.length, "range");
  a.AtLeast(fds.length, 1, "fds");
  if (a.ok && fds.length > 65) a.Range("vuRecv: fds must hold at most 65 elements");
  if (!a.ok) return a.Fail();
  fds.data[0] = 0;
  const size_t maxFds = fds.length - 1;
  alignas(struct cmsghdr) char control[CMSG_SPACE(64 * sizeof(int))];
  struct iovec iov = {buf.data + off, static_cast<size_t>(len)};
  struct msghdr msg;
  memset(&msg, 0, sizeof(msg));
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = CMSG_SPACE(maxFds > 0 ? maxFds * sizeof(int) : sizeof(int));
  ssize_t n;
  do {
    n = recvmsg(fd, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
  } while (n < 0 && errno == EINTR);
  if (n < 0) return Num(a.Env(), -errno);
  size_t got = 0;
  bool tooMany = (msg.msg_flags & MSG_CTRUNC) != 0;
  for (struct cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    const unsigned char* data = CMSG_DATA(c);
    for (size_t i = 0; i < k; i++) {
      int f;
      memcpy(&f, data + i * sizeof(int), sizeof(int));
      if (got < maxFds) {
        fds.data[1 + got++] = f;
      } else {
        close(f);
        tooMany = true;
      }
    }
  }
  if (tooMany) {
    for (size_t i = 0; i < got; i++) close(fds.data[1 + i]);
    fds.data[0] = 0;
    return Num(a.Env(), -EMSGSIZE);
  }
  fds.data[0] = static_cast<int32_t>(got);
  return Num(a.Env(), static_cast<double>(n));
}

/**
 * vuSend(fd, buf, off, len, fds, count): one sendmsg(2) (MSG_NOSIGNAL |
 * MSG_DONTWAIT) of buf[off, off+len) passing fds[0...count) along
 * (SCM_RIGHTS; none with count 0). Bytes or -errno. The front end's side,
 * for tests.
 */
Napi::Value VuSend(const Napi::CallbackInfo& info) {
  Args a(info, "vuSend", 6);
  int fd = a.Int(0);
  Span<uint8_t> buf = a.Bytes(1);
  int64_t off = a.Int64(2);
  int64_t len = a.Int64(3);
  Span<int32_t> fds = a.I32(4);
  int64_t count = a.Int64(5);
  a.InRange(off, len, buf.length, "range");
  if (a.ok && (count < 0 || count > 64)) a.Range("vuSend: count must be between 0 and 64");
  a.AtLeast(fds.length, static_cast<uint64_t>(count), "fds");
  if (!a.ok) return a.Fail();
  alignas(struct cmsghdr) char control[CMSG_SPACE(64 * sizeof(int))];
  struct iovec iov = {buf.data + off, static_cast<size_t>(len)};
  struct msghdr msg;
  memset(&msg, 0, sizeof(msg));
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  if (count > 0) {
    msg.msg_control = control;
    msg.msg_controllen = CMSG_SPACE(count * sizeof(int));
    struct cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(count * sizeof(int));
    memcpy(CMSG_DATA(c), fds.data, count * sizeof(int));
  }
  ssize_t n;
  do {
    n = sendmsg(fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
  } while (n < 0 && errno == EINTR);
  return Num(a.Env(), n < 0 ? -errno : static_cast<double>(n));
}

/** eventfd(initval, nonblock): an eventfd (EFD_CLOEXEC, EFD_NONBLOCK if asked). fd or -errno. The front end's side, for tests. */
Napi::Value EventFd(const Napi::CallbackInfo& info) {
  Args a(info, "eventfd", 2);
  uint32_t init = a.Uint(0);
  bool nonblock = a.Bool(1);
  if (!a.ok) return a.Fail();
  int fd = eventfd(init, EFD_CLOEXEC | (nonblock ? EFD_NONBLOCK : 0));
  return Num(a.Env(), fd < 0 ? -errno : fd);
}

/** socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC) into out[0], out[1]. 0 or -errno. For tests. */
Napi::Value UnixPair(const Napi::CallbackInfo& info) {
  Args a(info, "unixPair", 1);
  Span<int32_t> out = a.I32(0);
  a.AtLeast(out.length, 2, "out");
  if (!a.ok) return a.Fail();
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0) return Num(a.Env(), -errno);
  out.data[0] = sv[0];
  out.data[1] = sv[1];
  return Num(a.Env(), 0);
}

/** memfd(size): a memfd_create(2) file of `size` bytes (guest memory for tests). fd or -errno. */
Napi::Value Memfd(const Napi::CallbackInfo& info) {
  Args a(info, "memfd", 1);
  int64_t size = a.Int64(0);
  if (a.ok && size < 0) a.Range("memfd: size must not be negative");
  if (!a.ok) return a.Fail();
  int fd = memfd_create("node-passt-test", MFD_CLOEXEC);
  if (fd < 0) return Num(a.Env(), -errno);
  if (ftruncate(fd, size) < 0) {
    int e = errno;
    close(fd);
    return Num(a.Env(), -e);
  }
  return Num(a.Env(), fd);
}

}  // namespace

void InitVhost(Napi::Env env, Napi::Object exports) {
  exports.Set("VuDevice", VuDevice::Define(env));
  exports.Set("vuRecv", Napi::Function::New<VuRecv>(env, "vuRecv"));
  exports.Set("vuSend", Napi::Function::New<VuSend>(env, "vuSend"));
  exports.Set("eventfd", Napi::Function::New<EventFd>(env, "eventfd"));
  exports.Set("unixPair", Napi::Function::New<UnixPair>(env, "unixPair"));
  exports.Set("memfd", Napi::Function::New<Memfd>(env, "memfd"));
}

}  // namespace passt
