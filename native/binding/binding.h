// What the binding's files share (docs/design.md, "The native core: capture
// and binding"): the Init* function of each JS class's file, which addon.cc
// calls, and the few values one file hands another. Arguments are read with
// args.h; system errors are built with system_error.h.
#pragma once

#include <napi.h>

namespace flatstream {
class ValidatorChain;
}  // namespace flatstream

namespace flatstream_binding {

void InitArena(Napi::Env env, Napi::Object exports);      // native/binding/arena.cc
void InitValidator(Napi::Env env, Napi::Object exports);  // native/binding/validator.cc
void InitCapture(Napi::Env env, Napi::Object exports);    // native/binding/capture.cc

// scanFrames' and resyncFrames' `validators` argument (`name` in errors):
// nullptr for undefined or null, the chain of a ValidatorChain, a TypeError
// for anything else (native/binding/validator.cc).
const flatstream::ValidatorChain* validator_chain_arg(const Napi::Value& v, const char* name);

}  // namespace flatstream_binding
