// Data-parallel training's communicator (native/dist/) as exported functions. A communicator
// is an opaque, type-tagged JS object; createTrainer({ communicator }) hands it to a trainer,
// and the run loop uses the collectives here for its metrics and stop requests.
#pragma once
#include <napi.h>

#include <memory>

#include "dist/communicator.h"

namespace hexa::binding {

// The communicator behind `value`, or a TypeError naming `fn` and `name`.
std::shared_ptr<dist::Communicator> CommunicatorOf(const Napi::Value& value, const char* fn, const std::string& name);

Napi::Value DistBackends(const Napi::CallbackInfo& info);
Napi::Value ConnectProcessGroup(const Napi::CallbackInfo& info);
Napi::Value CommunicatorAllReduce(const Napi::CallbackInfo& info);
Napi::Value CommunicatorBroadcast(const Napi::CallbackInfo& info);
Napi::Value CommunicatorBarrier(const Napi::CallbackInfo& info);
Napi::Value CommunicatorClose(const Napi::CallbackInfo& info);

}  // namespace hexa::binding
