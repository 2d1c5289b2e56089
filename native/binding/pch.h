// Precompiled for every C++ file of the binding layer (CMakeLists.txt): ATen and
// node-addon-api are most of each file's compile time. Files still include what they use.
// The core has its own, without Node-API (native/pch.h).
#pragma once
#include <ATen/ATen.h>
#include <napi.h>
