// Precompiled for every C++ file of the core (CMakeLists.txt: hexa_core, and the C++ tests
// reuse it): ATen is most of each file's compile time. Files still include what they use; this
// only makes it cheap. No Node-API here: the core does not see it (native/binding/pch.h does).
#pragma once
#include <ATen/ATen.h>
