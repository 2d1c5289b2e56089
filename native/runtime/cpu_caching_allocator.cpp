#include "runtime/cpu_caching_allocator.h"

#include <c10/core/Allocator.h>
#include <c10/core/CPUAllocator.h>
#include <c10/core/alignment.h>
#include <c10/core/impl/alloc_cpu.h>

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <unordered_map>
#include <vector>

namespace hexa::runtime {
namespace {

// Default idle cap: a quarter of physical memory, at most 8 GiB.
uint64_t DefaultLimit() {
  const long pages = sysconf(_SC_PHYS_PAGES), pageSize = sysconf(_SC_PAGESIZE);
  const uint64_t physical = pages > 0 && pageSize > 0 ? uint64_t(pages) * uint64_t(pageSize) : (uint64_t{4} << 30);
  return std::min<uint64_t>(physical / 4, uint64_t{8} << 30);
}

class CpuCachingAllocator final : public c10::Allocator {
 public:
  explicit CpuCachingAllocator(c10::Allocator* base) : base_(base), limit_(DefaultLimit()) {}

  c10::DataPtr allocate(size_t n) override {
    if (n < kMinCachedBytes) return base_->allocate(n);
    const size_t size = CpuCacheSizeClass(n);
    void* ptr = nullptr;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      auto it = free_.find(size);
      if (it != free_.end() && !it->second.empty()) {
        ptr = it->second.back();
        it->second.pop_back();
        cached_ -= size;
        ++hits_;
      } else {
        ++misses_;
      }
      inUse_ += size;
    }
    if (ptr == nullptr) {
      try {
        ptr = c10::alloc_cpu(size);  // 64-byte aligned, as c10's own; throws on OOM
      } catch (...) {
        // Out of memory with idle blocks kept: give them back and try once more.
        EmptyCache();
        try {
          ptr = c10::alloc_cpu(size);
        } catch (...) {
          std::lock_guard<std::mutex> lock(mutex_);
          inUse_ -= size;
          throw;
        }
      }
    }
    {
      std::lock_guard<std::mutex> lock(mutex_);
      sizes_.emplace(ptr, size);
    }
    // Context == data, so raw_allocate/raw_deallocate (used inside ATen) work as with c10's own.
    return {ptr, ptr, &CpuCachingAllocator::Delete, c10::Device(c10::DeviceType::CPU)};
  }

  // Frees a pointer from either path: a cached size class if it is ours, else c10's deleter.
  c10::DeleterFnPtr raw_deleter() const override { return &CpuCachingAllocator::Delete; }

  void copy_data(void* dest, const void* src, std::size_t count) const override { std::memcpy(dest, src, count); }

  void EmptyCache() {
    std::vector<void*> drop;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      for (auto& [size, ptrs] : free_) drop.insert(drop.end(), ptrs.begin(), ptrs.end());
      free_.clear();
      cached_ = 0;
    }
    for (void* p : drop) c10::free_cpu(p);
  }

  void SetLimit(uint64_t bytes) {
    bool over;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      limit_ = bytes;
      over = cached_ > bytes;
    }
    if (over) EmptyCache();
  }

  CpuCacheStats Stats() {
    std::lock_guard<std::mutex> lock(mutex_);
    return {true, cached_, inUse_, limit_, hits_, misses_};
  }

 private:
  static void Delete(void* ptr);

  void Put(void* ptr) {
    bool keep = false, ours = false;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      auto it = sizes_.find(ptr);
      if (it != sizes_.end()) {
        ours = true;
        const size_t size = it->second;
        sizes_.erase(it);
        inUse_ -= size;
        keep = cached_ + size <= limit_;
        if (keep) {
          free_[size].push_back(ptr);
          cached_ += size;
        }
      }
    }
    if (!ours) base_->raw_deleter()(ptr);  // a small block, raw-allocated through c10's allocator
    else if (!keep) c10::free_cpu(ptr);
  }

  c10::Allocator* base_;
  std::mutex mutex_;
  std::unordered_map<size_t, std::vector<void*>> free_;  // size class -> idle blocks
  std::unordered_map<void*, size_t> sizes_;                // block handed out -> size class
  uint64_t cached_ = 0, inUse_ = 0, limit_, hits_ = 0, misses_ = 0;
};

// Never destroyed: tensors may outlive static destruction.
CpuCachingAllocator* instance = nullptr;
std::once_flag installed;

void CpuCachingAllocator::Delete(void* ptr) { instance->Put(ptr); }

bool DisabledByEnvironment() {
  const char* v = std::getenv("HEXA_TORCH_NO_CPU_CACHING");
  return v != nullptr && std::strcmp(v, "1") == 0;
}

}  // namespace

size_t CpuCacheSizeClass(size_t bytes) {
  if (bytes <= kMinCachedBytes) return kMinCachedBytes;
  size_t pow2 = size_t{1} << (63 - __builtin_clzll(bytes - 1));  // largest power of two < bytes
  const size_t step = pow2 / 8;
  return (bytes + step - 1) / step * step;
}

void InstallCpuCachingAllocator() {
  std::call_once(installed, [] {
    if (DisabledByEnvironment()) return;
    instance = new CpuCachingAllocator(c10::GetCPUAllocator());
    // Priority 1 outranks c10's default CPU allocator (registered at 0).
    c10::SetCPUAllocator(instance, /*priority=*/1);
  });
}

void EmptyCpuCache() {
  if (instance != nullptr) instance->EmptyCache();
}

void SetCpuCacheLimit(uint64_t bytes) {
  if (instance != nullptr) instance->SetLimit(bytes);
}

CpuCacheStats GetCpuCacheStats() { return instance != nullptr ? instance->Stats() : CpuCacheStats{}; }

}  // namespace hexa::runtime
