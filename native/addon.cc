// Theory of operation: the addon is a thin layer of syscalls on file
// descriptors (see src/native.ts for the typed surface). Each source file
// registers its own functions here; there is no state shared between them.
#include "common.h"

namespace passt {
void InitSandbox(Napi::Env env, Napi::Object exports);
void InitEngine(Napi::Env env, Napi::Object exports);
}

namespace {

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  passt::InitPoll(env, exports);
  passt::InitTap(env, exports);
  passt::InitSock(env, exports);
  passt::InitNetns(env, exports);
  passt::InitSplice(env, exports);
  passt::InitVhost(env, exports);
  passt::InitSandbox(env, exports);
  passt::InitEngine(env, exports);
  return exports;
}

}  // namespace

NODE_API_MODULE(passt_native, Init)
