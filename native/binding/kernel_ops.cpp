#include "binding/kernel_ops.h"

namespace hexa::binding {

void RegisterKernelOps(Napi::Env env, Napi::Object exports) {}

}  // namespace hexa::binding
