// CaptureHandle: the binding of flatstream::Capture (native/capture/capture.h). It
// converts arguments, hands the staging mappings to JS as external
// ArrayBuffers (each keeps its mapping alive), forwards the writer thread's
// progress through an unref'd thread-safe function, and closes the capture
// in an environment cleanup hook so a terminated worker still drains. The
// policy logic (block / drop / grow, exit and signal handling) lives in
// lib/capture/capture-sink.ts.
#include "capture/capture.h"

#include <napi.h>

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_set>

#include "args.h"
#include "binding.h"
#include "layout.h"
#include "system_error.h"

namespace {

using flatstream::Capture;
using flatstream::CaptureConfig;
using flatstream::SysError;

Napi::Error to_error(Napi::Env env, const SysError& e) {
  return flatstream_binding::system_error(env, e);
}

using flatstream_binding::arg_range_error;
using flatstream_binding::bool_arg;
using flatstream_binding::function_arg;
using flatstream_binding::integer_arg;
using flatstream_binding::string_arg;

// Argument i as a u32 (native/binding/args.h).
uint32_t u32(const Napi::CallbackInfo& info, size_t i, const char* name,
             uint32_t max = UINT32_MAX) {
  return flatstream_binding::u32_arg(info[i], name, max);
}

void release_region(napi_env, void*, void* hint) {
  delete static_cast<std::shared_ptr<Capture::Region>*>(hint);
}

// An ArrayBuffer over a mapping that it keeps alive; null where the host
// forbids external ArrayBuffers (JS then refuses to capture).
Napi::Value region_buffer(Napi::Env env, const std::shared_ptr<Capture::Region>& region) {
  auto* hold = new std::shared_ptr<Capture::Region>(region);
  napi_value ab = nullptr;
  const napi_status status =
      napi_create_external_arraybuffer(env, region->data, region->size, release_region, hold, &ab);
  if (status != napi_ok) {
    delete hold;
    if (status == napi_no_external_buffers_allowed) return env.Null();
    NAPI_THROW_IF_FAILED(env, status, Napi::Value());
  }
  return Napi::Value(env, ab);
}

// A capture opened off the event loop by openCaptureAsync, until a
// CaptureHandle adopts it (docs/design.md, "Rotation": the prefetch). One
// never adopted is closed when the External holding it is collected.
struct PreparedCapture {
  std::unique_ptr<Capture> capture;
};

// Every PreparedCapture this addon made and has not freed, in any thread's
// environment: an External from elsewhere (another addon, a forged value)
// is refused instead of read as one of ours.
std::mutex prepared_mutex;
std::unordered_set<const void*> prepared_live;

PreparedCapture* prepared_arg(const Napi::Value& v) {
  void* p = v.As<Napi::External<void>>().Data();
  std::lock_guard<std::mutex> lock(prepared_mutex);
  if (prepared_live.count(p) == 0)
    throw Napi::TypeError::New(v.Env(), "The \"prepared\" argument is not a prepared capture");
  return static_cast<PreparedCapture*>(p);
}

// Reads a CaptureConfig from info[first..first+5] (slabSize, scratchSize,
// slots, maxSlots, mode, syncIntervalMs).
CaptureConfig config_args(const Napi::CallbackInfo& info, size_t first) {
  CaptureConfig config;
  config.slab_size = u32(info, first, "slabSize");
  config.scratch_size = u32(info, first + 1, "scratchSize");
  config.initial_slots = u32(info, first + 2, "slots");
  config.max_slots = u32(info, first + 3, "maxSlots");
  config.mode = u32(info, first + 4, "mode", 07777);
  config.sync_interval_ms = u32(info, first + 5, "syncIntervalMs");
  return config;
}

// Capture::open (files, claims, recovery, the staging's reservation and
// mappings: the 1-23 ms a CaptureSink's constructor waits) on a libuv pool
// thread; the callback gets (error) or (null, prepared).
class OpenWorker : public Napi::AsyncWorker {
 public:
  OpenWorker(Napi::Function callback, std::string stream_path, std::string staging_path,
             CaptureConfig config)
      : Napi::AsyncWorker(callback, "flatstream capture open"),
        stream_path_(std::move(stream_path)),
        staging_path_(std::move(staging_path)),
        config_(config) {}

  void Execute() override {
    capture_ = Capture::open(stream_path_, staging_path_, config_, error_);
  }

  void OnOK() override {
    Napi::Env env = Env();
    Napi::HandleScope scope(env);
    if (!capture_) {
      Callback().Call({to_error(env, error_).Value()});
      return;
    }
    auto* prepared = new PreparedCapture{std::move(capture_)};
    {
      std::lock_guard<std::mutex> lock(prepared_mutex);
      prepared_live.insert(prepared);
    }
    Napi::Value ext =
        Napi::External<PreparedCapture>::New(env, prepared, [](Napi::Env, PreparedCapture* p) {
          {
            std::lock_guard<std::mutex> lock(prepared_mutex);
            prepared_live.erase(p);
          }
          delete p;
        });
    Callback().Call({env.Null(), ext});
  }

 private:
  std::string stream_path_;
  std::string staging_path_;
  CaptureConfig config_;
  std::unique_ptr<Capture> capture_;
  SysError error_;
};

// openCaptureAsync(streamPath, stagingPath, slabSize, scratchSize, slots,
//                  maxSlots, mode, syncIntervalMs, callback)
Napi::Value OpenCaptureAsync(const Napi::CallbackInfo& info) {
  const std::string stream_path = string_arg(info[0], "streamPath");
  const std::string staging_path = string_arg(info[1], "stagingPath");
  const CaptureConfig config = config_args(info, 2);
  const Napi::Function callback = function_arg(info[8], "callback");
  (new OpenWorker(callback, stream_path, staging_path, config))->Queue();
  return info.Env().Undefined();
}

class CaptureHandle : public Napi::ObjectWrap<CaptureHandle> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "CaptureHandle",
                       {
                           InstanceMethod<&CaptureHandle::Bind>("bind"),
                           InstanceMethod<&CaptureHandle::Header>("header"),
                           InstanceMethod<&CaptureHandle::Slot>("slot"),
                           InstanceMethod<&CaptureHandle::Acquire>("acquire"),
                           InstanceMethod<&CaptureHandle::Submit>("submit"),
                           InstanceMethod<&CaptureHandle::RequestSync>("requestSync"),
                           InstanceMethod<&CaptureHandle::LastTicket>("lastTicket"),
                           InstanceMethod<&CaptureHandle::Completed>("completed"),
                           InstanceMethod<&CaptureHandle::NotifyAt>("notifyAt"),
                           InstanceMethod<&CaptureHandle::NotifyBelow>("notifyBelow"),
                           InstanceMethod<&CaptureHandle::InUse>("inUse"),
                           InstanceMethod<&CaptureHandle::Unref>("unref"),
                           InstanceMethod<&CaptureHandle::FlushSync>("flushSync"),
                           InstanceMethod<&CaptureHandle::Close>("close"),
                           InstanceMethod<&CaptureHandle::Stats>("stats"),
                           InstanceMethod<&CaptureHandle::Recovery>("recovery"),
                           InstanceMethod<&CaptureHandle::Error>("error"),
                           InstanceMethod<&CaptureHandle::Inject>("inject"),
                       });
  }

  // new CaptureHandle(streamPath, stagingPath, slabSize, scratchSize, slots,
  //                   maxSlots, mode, syncIntervalMs, exitTimeoutMs, onNotify)
  // new CaptureHandle(prepared, exitTimeoutMs, onNotify): adopts a capture
  //                   openCaptureAsync opened (once).
  explicit CaptureHandle(const Napi::CallbackInfo& info) : Napi::ObjectWrap<CaptureHandle>(info) {
    Napi::Env env = info.Env();
    Napi::Function on_notify;
    if (info[0].IsExternal()) {
      auto* prepared = prepared_arg(info[0]);
      exit_timeout_ms_ = u32(info, 1, "exitTimeoutMs");
      on_notify = function_arg(info[2], "onNotify");
      if (!prepared || !prepared->capture)
        throw Napi::Error::New(env, "this prepared capture was already adopted");
      capture_ = std::move(prepared->capture);
    } else {
      const std::string stream_path = string_arg(info[0], "streamPath");
      const std::string staging_path = string_arg(info[1], "stagingPath");
      const CaptureConfig config = config_args(info, 2);
      exit_timeout_ms_ = u32(info, 8, "exitTimeoutMs");
      on_notify = function_arg(info[9], "onNotify");
      SysError e;
      capture_ = Capture::open(stream_path, staging_path, config, e);
      if (!capture_) throw to_error(env, e);
    }
    napi_threadsafe_function tsfn = nullptr;
    NAPI_THROW_IF_FAILED_VOID(
        env, napi_create_threadsafe_function(
                 env, on_notify, nullptr, Napi::String::New(env, "flatstream capture"), 0, 1,
                 nullptr, nullptr, nullptr, &CaptureHandle::CallJs, &tsfn));
    tsfn_ = Napi::ThreadSafeFunction(tsfn);
    tsfn_.Unref(env);
    capture_->set_notify(
        [tsfn]() { napi_call_threadsafe_function(tsfn, nullptr, napi_tsfn_nonblocking); });
    napi_add_env_cleanup_hook(env, &CaptureHandle::Cleanup, this);
    hooked_ = true;
  }

  ~CaptureHandle() override { Shutdown(); }

 private:
  // Runs onNotify on the JS thread. Never throws into C: a call that cannot
  // run (the environment is being torn down) is dropped, and an exception
  // onNotify threw is reported like any uncaught exception.
  static void CallJs(napi_env env, napi_value js_cb, void*, void*) {
    if (env == nullptr || js_cb == nullptr) return;
    napi_value undefined = nullptr;
    napi_value result = nullptr;
    if (napi_get_undefined(env, &undefined) != napi_ok) return;
    if (napi_call_function(env, undefined, js_cb, 0, nullptr, &result) == napi_ok) return;
    bool pending = false;
    if (napi_is_exception_pending(env, &pending) == napi_ok && pending) {
      napi_value error = nullptr;
      if (napi_get_and_clear_last_exception(env, &error) == napi_ok)
        napi_fatal_exception(env, error);
    }
  }

  // Env teardown (a worker terminated, or the main environment freed): drain.
  static void Cleanup(void* self) {
    auto* h = static_cast<CaptureHandle*>(self);
    h->hooked_ = false;
    h->Shutdown();
  }

  // Closes the capture (joins the thread: no notify after this) and lets go
  // of the thread-safe function; the Capture stays for stats() and error().
  SysError Shutdown() {
    if (!capture_ || shut_) return {};
    shut_ = true;
    if (hooked_) {
      napi_remove_env_cleanup_hook(Env(), &CaptureHandle::Cleanup, this);
      hooked_ = false;
    }
    const SysError e = capture_->close(exit_timeout_ms_);
    tsfn_.Release();
    return e;
  }

  Capture& live(Napi::Env env) {
    if (!capture_ || shut_) throw Napi::Error::New(env, "capture is closed");
    return *capture_;
  }

  Napi::Value Bind(const Napi::CallbackInfo& info) {
    const uint32_t kind = u32(info, 0, "kind", flatstream::kCustomKind);
    const uint32_t header_size = u32(info, 1, "headerSize");
    if (SysError e = live(info.Env()).bind(int32_t(kind), header_size))
      throw to_error(info.Env(), e);
    return info.Env().Undefined();
  }

  Napi::Value Header(const Napi::CallbackInfo& info) {
    return region_buffer(info.Env(), live(info.Env()).header_region());
  }

  Napi::Value Slot(const Napi::CallbackInfo& info) {
    Capture& c = live(info.Env());
    const uint32_t slot = u32(info, 0, "slot");
    auto region = c.slot_region(slot);
    if (!region) throw arg_range_error(info.Env(), "slot", "It must be a slot of the staging");
    return region_buffer(info.Env(), region);
  }

  // acquire(grow, waitMs) -> slot index + kInUseUnit * (slots in use after
  // it), or -1 none, -2 timed out, -3 failed. One call per slab tells JS
  // both (its backpressure mark, docs/design.md, "Backpressure").
  Napi::Value Acquire(const Napi::CallbackInfo& info) {
    bool grown = false;
    SysError e;
    Capture& c = live(info.Env());
    const bool grow = bool_arg(info[0], "grow");
    const int32_t r = c.acquire(grow, u32(info, 1, "waitMs"), &grown, e);
    if (e) throw to_error(info.Env(), e);
    if (r < 0) return Napi::Number::New(info.Env(), r);
    return Napi::Number::New(info.Env(),
                             double(r) + flatstream_binding::kInUseUnit * double(c.in_use()));
  }

  // notifyBelow(slots): onNotify() runs once fewer slots are in use (the
  // thread freed one); the process is kept alive until then.
  Napi::Value NotifyBelow(const Napi::CallbackInfo& info) {
    Capture& c = live(info.Env());
    const uint32_t slots = u32(info, 0, "slots");
    tsfn_.Ref(info.Env());
    c.notify_below(slots);
    return info.Env().Undefined();
  }

  Napi::Value InUse(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), double(live(info.Env()).in_use()));
  }

  Napi::Value Submit(const Napi::CallbackInfo& info) {
    Capture& c = live(info.Env());
    const uint32_t slot = u32(info, 0, "slot");
    const uint32_t len = u32(info, 1, "len", c.slab_size());
    const uint32_t frames = u32(info, 2, "frames");
    if (slot >= c.slot_count())
      throw arg_range_error(info.Env(), "slot", "It must be a slot of the staging");
    c.submit(slot, len, frames);
    return info.Env().Undefined();
  }

  Napi::Value RequestSync(const Napi::CallbackInfo& info) {
    live(info.Env()).request_sync();
    return info.Env().Undefined();
  }

  Napi::Value LastTicket(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), double(live(info.Env()).last_ticket()));
  }

  Napi::Value Completed(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), double(capture_->completed()));
  }

  // notifyAt(ticket): onNotify() runs once the thread completed it (or failed);
  // the process is kept alive until then.
  Napi::Value NotifyAt(const Napi::CallbackInfo& info) {
    Capture& c = live(info.Env());
    const uint64_t ticket = integer_arg(info[0], "ticket", 0, flatstream_binding::kMaxSafeInteger);
    tsfn_.Ref(info.Env());
    c.notify_at(ticket);
    return info.Env().Undefined();
  }

  Napi::Value Unref(const Napi::CallbackInfo& info) {
    if (!shut_) tsfn_.Unref(info.Env());
    return info.Env().Undefined();
  }

  Napi::Value FlushSync(const Napi::CallbackInfo& info) {
    Capture& c = live(info.Env());
    if (SysError e = c.flush_sync(u32(info, 0, "timeoutMs"))) throw to_error(info.Env(), e);
    return info.Env().Undefined();
  }

  // close(timeoutMs): drains, joins the thread, marks the staging clean.
  Napi::Value Close(const Napi::CallbackInfo& info) {
    const uint32_t timeout_ms = u32(info, 0, "timeoutMs");
    if (shut_) return info.Env().Undefined();
    exit_timeout_ms_ = timeout_ms;
    if (SysError e = Shutdown()) throw to_error(info.Env(), e);
    return info.Env().Undefined();
  }

  Napi::Value Stats(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const flatstream::CaptureStats s = capture_->stats();
    Napi::Object o = Napi::Object::New(env);
    auto set = [&](const char* k, double v) { o.Set(k, Napi::Number::New(env, v)); };
    set("frames", double(s.frames));
    set("bytes", double(s.bytes));
    set("framesWritten", double(s.frames_written));
    set("bytesWritten", double(s.bytes_written));
    set("flushes", double(s.flushes));
    set("writes", double(s.writes));
    set("fsyncs", double(s.fsyncs));
    set("errors", double(s.errors));
    set("queueDepth", double(s.queue_depth));
    set("slabs", double(s.slots));
    set("growFailures", double(s.grow_failures));
    set("grownAhead", double(s.grown_ahead));
    Napi::Object lat = Napi::Object::New(env);
    lat.Set("p50", s.latency.p50_us);
    lat.Set("p99", s.latency.p99_us);
    lat.Set("p999", s.latency.p999_us);
    lat.Set("max", s.latency.max_us);
    lat.Set("samples", double(s.latency.samples));
    o.Set("writeLatency", lat);
    return o;
  }

  Napi::Value Recovery(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const flatstream::RecoveryInfo& r = live(env).recovery();
    Napi::Object o = Napi::Object::New(env);
    o.Set("slabs", double(r.slots));
    o.Set("frames", double(r.frames));
    o.Set("bytes", double(r.bytes));
    o.Set("tornBytes", double(r.torn_bytes));
    o.Set("walked", r.walked);
    o.Set("orphanedFrames", double(r.orphaned_frames));
    o.Set("orphanedBytes", double(r.orphaned_bytes));
    o.Set("orphanPath", r.orphan_path.empty() ? env.Null() : Napi::String::New(env, r.orphan_path));
    return o;
  }

  // error() -> the writer thread's sticky failure as a system error, or null.
  Napi::Value Error(const Napi::CallbackInfo& info) {
    const SysError e = capture_->error();
    if (!e) return info.Env().Null();
    return to_error(info.Env(), e).Value();
  }

  // inject(errno, afterWrites, delayMs): test hook (see Fault).
  Napi::Value Inject(const Napi::CallbackInfo& info) {
    flatstream::Fault f;
    f.code = int(u32(info, 0, "errno", 4095));
    f.after_writes = u32(info, 1, "afterWrites");
    f.delay_ms = u32(info, 2, "delayMs");
    live(info.Env()).inject(f);
    return info.Env().Undefined();
  }

  std::unique_ptr<Capture> capture_;
  Napi::ThreadSafeFunction tsfn_;
  uint32_t exit_timeout_ms_ = 5000;
  bool hooked_ = false;
  bool shut_ = false;
};

}  // namespace

void flatstream_binding::InitCapture(Napi::Env env, Napi::Object exports) {
  exports.Set("CaptureHandle", CaptureHandle::Define(env));
  exports.Set("openCaptureAsync", Napi::Function::New(env, OpenCaptureAsync, "openCaptureAsync"));
}
