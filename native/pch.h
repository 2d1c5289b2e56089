// Precompiled for every C++ file of the addon (CMakeLists.txt): ATen is most of each file's
// compile time. Files still include what they use; this only makes it cheap.
#pragma once
#include <ATen/ATen.h>
