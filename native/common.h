// Theory of operation: every exported function starts by reading its
// arguments through an `Args` reader. The reader checks the argument count
// and each argument's type; the first mismatch throws a TypeError naming the
// function ("tapRead: argument 2 must be a Buffer") and every later read is a
// no-op, so a function reads all its arguments, then returns early once with
// `if (!a.ok) return a.Fail();`. Offsets and lengths into buffers are checked
// against the buffer's size (a RangeError naming the function), because a
// wrong offset here would be a memory-safety bug, not a runtime failure.
//
// Runtime failures of syscalls are never thrown: functions return -errno.
// C++ exceptions are disabled (NAPI_DISABLE_CPP_EXCEPTIONS).
#pragma once

#include <napi.h>

#include <cerrno>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>

namespace passt {

/** A typed view of a JavaScript typed array argument. */
template <typename T>
struct Span {
  T* data = nullptr;
  size_t length = 0;  // in elements
};

/** Reads and checks the arguments of one call; see the file comment. */
class Args {
 public:
  Args(const Napi::CallbackInfo& info, const char* fn, size_t count)
      : info_(info), fn_(fn) {
    if (info.Length() != count) {
      Throw(std::string(fn) + ": expected " + std::to_string(count) +
            (count == 1 ? " argument" : " arguments") + ", got " +
            std::to_string(info.Length()));
    }
  }

  /** Like the above, for calls with optional trailing arguments. */
  Args(const Napi::CallbackInfo& info, const char* fn, size_t min, size_t max)
      : info_(info), fn_(fn) {
    if (info.Length() < min || info.Length() > max) {
      Throw(std::string(fn) + ": expected " + std::to_string(min) + " to " +
            std::to_string(max) + " arguments, got " +
            std::to_string(info.Length()));
    }
  }

  bool ok = true;

  Napi::Env Env() const { return info_.Env(); }

  /** The value to return after a failed check (an exception is pending). */
  Napi::Value Fail() const { return info_.Env().Undefined(); }

  /** An integer-valued number; values outside int64 or non-integers throw. */
  int64_t Int64(size_t i) {
    if (!ok) return 0;
    Napi::Value v = info_[i];
    if (!v.IsNumber()) {
      TypeAt(i, "an integer");
      return 0;
    }
    double d = v.As<Napi::Number>().DoubleValue();
    if (!std::isfinite(d) || d != std::trunc(d) || d < -9007199254740992.0 ||
        d > 9007199254740992.0) {
      TypeAt(i, "an integer");
      return 0;
    }
    return static_cast<int64_t>(d);
  }

  /** An integer that fits int32 or uint32 (bit masks like EPOLLET may come either way). */
  int32_t Int(size_t i) {
    int64_t v = Int64(i);
    if (!ok) return 0;
    if (v < INT32_MIN || v > static_cast<int64_t>(UINT32_MAX)) {
      RangeAt(i, "a 32-bit integer");
      return 0;
    }
    return static_cast<int32_t>(static_cast<uint32_t>(v & 0xffffffff));
  }

  uint32_t Uint(size_t i) { return static_cast<uint32_t>(Int(i)); }

  bool Bool(size_t i) {
    if (!ok) return false;
    Napi::Value v = info_[i];
    if (!v.IsBoolean()) {
      TypeAt(i, "a boolean");
      return false;
    }
    return v.As<Napi::Boolean>().Value();
  }

  std::string Str(size_t i) {
    if (!ok) return std::string();
    Napi::Value v = info_[i];
    if (!v.IsString()) {
      TypeAt(i, "a string");
      return std::string();
    }
    return v.As<Napi::String>().Utf8Value();
  }

  Napi::Function Func(size_t i) {
    if (!ok) return Napi::Function();
    Napi::Value v = info_[i];
    if (!v.IsFunction()) {
      TypeAt(i, "a function");
      return Napi::Function();
    }
    return v.As<Napi::Function>();
  }

  Napi::Object Obj(size_t i) {
    if (!ok) return Napi::Object();
    Napi::Value v = info_[i];
    if (!v.IsObject()) {
      TypeAt(i, "an object");
      return Napi::Object();
    }
    return v.As<Napi::Object>();
  }

  /** A Buffer (any Uint8Array is accepted: Buffer is one). */
  Span<uint8_t> Bytes(size_t i, const char* what = "a Buffer") {
    return Typed<uint8_t>(i, napi_uint8_array, what);
  }
  Span<uint8_t> U8(size_t i) { return Typed<uint8_t>(i, napi_uint8_array, "a Uint8Array"); }
  Span<int32_t> I32(size_t i) { return Typed<int32_t>(i, napi_int32_array, "an Int32Array"); }
  Span<uint32_t> U32(size_t i) { return Typed<uint32_t>(i, napi_uint32_array, "a Uint32Array"); }

  /** Checks that [off, off + len) lies within a buffer of `size` bytes. */
  bool InRange(int64_t off, int64_t len, size_t size, const char* what) {
    if (!ok) return false;
    if (off < 0 || len < 0 || static_cast<uint64_t>(off) + static_cast<uint64_t>(len) > size) {
      Range(std::string(fn_) + ": " + what + " [" + std::to_string(off) + ", " +
            std::to_string(off) + "+" + std::to_string(len) + ") is outside the buffer of " +
            std::to_string(size) + " bytes");
      return false;
    }
    return true;
  }

  /** Checks that a typed array holds at least `need` elements. */
  bool AtLeast(size_t have, uint64_t need, const char* what) {
    if (!ok) return false;
    if (have < need) {
      Range(std::string(fn_) + ": " + what + " holds " + std::to_string(have) +
            " elements, " + std::to_string(need) + " needed");
      return false;
    }
    return true;
  }

  /** Throws a RangeError with this message (prefix it with the function name). */
  void Range(const std::string& message) {
    if (!ok) return;
    ok = false;
    Napi::RangeError::New(info_.Env(), message).ThrowAsJavaScriptException();
  }

  const char* fn() const { return fn_; }

 private:
  template <typename T>
  Span<T> Typed(size_t i, napi_typedarray_type type, const char* what) {
    Span<T> span;
    if (!ok) return span;
    napi_env env = info_.Env();
    napi_value v = info_[i];
    bool is = false;
    if (napi_is_typedarray(env, v, &is) != napi_ok || !is) {
      TypeAt(i, what);
      return span;
    }
    napi_typedarray_type actual;
    size_t length = 0;
    void* data = nullptr;
    if (napi_get_typedarray_info(env, v, &actual, &length, &data, nullptr, nullptr) != napi_ok ||
        actual != type) {
      TypeAt(i, what);
      return span;
    }
    span.data = static_cast<T*>(data);
    span.length = length;
    return span;
  }

  void Throw(const std::string& message) {
    if (!ok) return;
    ok = false;
    Napi::TypeError::New(info_.Env(), message).ThrowAsJavaScriptException();
  }

  void TypeAt(size_t i, const char* what) {
    Throw(std::string(fn_) + ": argument " + std::to_string(i + 1) + " must be " + what);
  }

  void RangeAt(size_t i, const char* what) {
    Range(std::string(fn_) + ": argument " + std::to_string(i + 1) + " must be " + what);
  }

  const Napi::CallbackInfo& info_;
  const char* fn_;
};

/** Returns r as a JS number. */
inline Napi::Value Num(const Napi::Env& env, double r) { return Napi::Number::New(env, r); }

/** -errno of the last failed call. */
inline int NegErrno() { return -errno; }

/** Registration of each source file's exports (called from addon.cc). */
void InitPoll(Napi::Env env, Napi::Object exports);
void InitTap(Napi::Env env, Napi::Object exports);
void InitSock(Napi::Env env, Napi::Object exports);
void InitNetns(Napi::Env env, Napi::Object exports);
void InitSplice(Napi::Env env, Napi::Object exports);
void InitVhost(Napi::Env env, Napi::Object exports);

}  // namespace passt
