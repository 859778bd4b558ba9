// Theory of operation: the spliced loopback path moves TCP data between two
// sockets without copying it through user space. Each direction of a
// connection has a pipe; splice(2) moves pages from the source socket into
// the pipe's write end and from the pipe's read end into the destination
// socket. Two calls:
//
// - pipe(out, size?): a nonblocking pipe, optionally resized (F_SETPIPE_SZ).
// - spliceBatch(ops, count, results): many directions in one call. Each
//   direction is pumped until nothing more can move: the source would block
//   (or reached EOF) with the pipe empty, the destination would block with
//   data left in the pipe, the byte budget is spent, or a syscall failed.
//   What happened is reported per direction; the caller (src/fwd/splice.ts)
//   owns the state and decides what to watch next.
//
// The op and result layouts are documented in src/native.ts. Every call uses
// SPLICE_F_NONBLOCK and every socket is expected to be O_NONBLOCK (the socket
// side of splice(2) honours the file's flag), so nothing here ever blocks.
// Writing to a socket that was reset may raise SIGPIPE (splice has no
// MSG_NOSIGNAL); Node ignores SIGPIPE, so the call returns EPIPE instead.
// No protocol logic: only syscalls and byte counts.
#include <fcntl.h>
#include <unistd.h>

#include <climits>
#include <cstddef>

#include "common.h"

namespace passt {
namespace {

/** Ints per op: [fromFd, toFd, pipeR, pipeW, inPipe, maxBytes]. */
constexpr size_t kOpInts = 6;
/** Ints per result: [moved, inPipe, flags, errno]. */
constexpr size_t kResultInts = 4;

/** Result flag bits. */
constexpr int32_t kSourceEof = 1;
constexpr int32_t kSourceAgain = 2;
constexpr int32_t kDestinationAgain = 4;
constexpr int32_t kSourceError = 8;
constexpr int32_t kDestinationError = 16;

/** Most bytes asked of one splice(2) call (the pipe's capacity limits it anyway). */
constexpr int64_t kMaxSpliceLen = 1 << 30;

/** pipe(out, size?): see src/native.ts. */
Napi::Value Pipe(const Napi::CallbackInfo& info) {
  Args a(info, "pipe", 1, 2);
  Span<int32_t> out = a.I32(0);
  int64_t size = 0;
  if (info.Length() > 1 && !info[1].IsUndefined()) size = a.Int64(1);
  a.AtLeast(out.length, 3, "out");
  if (a.ok && (size < 0 || size > INT_MAX)) a.Range("pipe: size must be between 0 and 2147483647");
  if (!a.ok) return a.Fail();

  int fds[2];
  if (pipe2(fds, O_NONBLOCK | O_CLOEXEC) < 0) return Num(a.Env(), -errno);
  // A refused resize (over /proc/sys/fs/pipe-max-size or the per-user page
  // limits) keeps the default size; the size in effect is reported.
  if (size > 0) fcntl(fds[1], F_SETPIPE_SZ, static_cast<int>(size));
  int actual = fcntl(fds[1], F_GETPIPE_SZ);
  out.data[0] = fds[0];
  out.data[1] = fds[1];
  out.data[2] = actual < 0 ? 0 : actual;
  return Num(a.Env(), 0);
}

/** splice(2) with EINTR retried. Returns bytes moved or -errno. */
ssize_t SpliceRetry(int from, int to, size_t len) {
  ssize_t n;
  do {
    n = splice(from, nullptr, to, nullptr, len, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
  } while (n < 0 && errno == EINTR);
  return n < 0 ? -errno : n;
}

/**
 * Pumps one direction; writes [moved, inPipe, flags, errno] to `result`.
 * fromFd < 0 means the source is finished (EOF seen earlier): only the pipe
 * is drained.
 */
void PumpOne(const int32_t* op, int32_t* result) {
  const int fromFd = op[0];
  const int toFd = op[1];
  const int pipeR = op[2];
  const int pipeW = op[3];
  int64_t inPipe = op[4];
  const int64_t maxBytes = op[5];
  int64_t moved = 0;
  int32_t flags = 0;
  int32_t error = 0;
  bool sourceOpen = fromFd >= 0;

  for (;;) {
    bool progress = false;
    bool destinationAgain = false;
    flags &= ~kSourceAgain;  // describes the last attempt only

    int64_t budget = maxBytes - moved - inPipe;
    if (sourceOpen && budget > 0) {
      ssize_t n = SpliceRetry(fromFd, pipeW, static_cast<size_t>(budget < kMaxSpliceLen ? budget : kMaxSpliceLen));
      if (n > 0) {
        inPipe += n;
        progress = true;
      } else if (n == 0) {
        flags |= kSourceEof;
        sourceOpen = false;
      } else if (n == -EAGAIN) {
        // The socket has nothing queued, or the pipe is full.
        flags |= kSourceAgain;
      } else {
        flags |= kSourceError;
        error = static_cast<int32_t>(-n);
        sourceOpen = false;
      }
    }

    if (inPipe > 0) {
      ssize_t n = SpliceRetry(pipeR, toFd, static_cast<size_t>(inPipe < kMaxSpliceLen ? inPipe : kMaxSpliceLen));
      if (n > 0) {
        inPipe -= n;
        moved += n;
        progress = true;
      } else if (n == -EAGAIN || n == 0) {
        destinationAgain = true;
      } else {
        flags |= kDestinationError;
        error = static_cast<int32_t>(-n);
        break;
      }
    }

    if (flags & kSourceError) break;
    if (inPipe > 0 && destinationAgain) {
      flags |= kDestinationAgain;
      break;
    }
    if (!progress) break;
    if (moved >= maxBytes) break;
  }

  result[0] = static_cast<int32_t>(moved);
  result[1] = static_cast<int32_t>(inPipe);
  result[2] = flags;
  result[3] = error;
}

/** spliceBatch(ops, count, results): see src/native.ts. */
Napi::Value SpliceBatch(const Napi::CallbackInfo& info) {
  Args a(info, "spliceBatch", 3);
  Span<int32_t> ops = a.I32(0);
  int64_t count = a.Int64(1);
  Span<int32_t> results = a.I32(2);
  if (a.ok && count < 0) a.Range("spliceBatch: count must not be negative");
  a.AtLeast(ops.length, kOpInts * static_cast<uint64_t>(count), "ops");
  a.AtLeast(results.length, kResultInts * static_cast<uint64_t>(count), "results");
  for (int64_t k = 0; a.ok && k < count; k++) {
    const int32_t* op = ops.data + kOpInts * k;
    if (op[4] < 0) {
      a.Range("spliceBatch: op " + std::to_string(k) + ": inPipe must not be negative");
    } else if (op[5] <= 0) {
      a.Range("spliceBatch: op " + std::to_string(k) + ": maxBytes must be positive");
    }
  }
  if (!a.ok) return a.Fail();

  for (int64_t k = 0; k < count; k++) {
    PumpOne(ops.data + kOpInts * k, results.data + kResultInts * k);
  }
  return Num(a.Env(), static_cast<double>(count));
}

}  // namespace

void InitSplice(Napi::Env env, Napi::Object exports) {
  exports.Set("pipe", Napi::Function::New<Pipe>(env, "pipe"));
  exports.Set("spliceBatch", Napi::Function::New<SpliceBatch>(env, "spliceBatch"));
}

}  // namespace passt
