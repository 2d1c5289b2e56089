// CutMix paste on the CPU: parallel over (sample, channel) planes, every plane written with
// at most five memcpys (rows above the box, the box rows in three pieces, rows below).
// In place, the partners' box regions are first gathered into a scratch buffer (only boxes
// whose partner is another sample), then pasted: nothing else is read or written.
#include <ATen/Parallel.h>

#include <cstring>
#include <vector>

#include "kernels/cutmix.h"

namespace hexa::kernels::detail {

namespace {

template <class T>
void pastePlane(const T* own, const T* partner, T* dst, const CutmixBox& b, int64_t h, int64_t w) {
  const size_t row = static_cast<size_t>(w) * sizeof(T);
  if (b.y0 == b.y1 || b.x0 == b.x1 || partner == own) {
    std::memcpy(dst, own, row * h);
    return;
  }
  std::memcpy(dst, own, row * b.y0);
  for (int64_t y = b.y0; y < b.y1; ++y) {
    const int64_t r = y * w;
    std::memcpy(dst + r, own + r, b.x0 * sizeof(T));
    std::memcpy(dst + r + b.x0, partner + r + b.x0, (b.x1 - b.x0) * sizeof(T));
    std::memcpy(dst + r + b.x1, own + r + b.x1, (w - b.x1) * sizeof(T));
  }
  std::memcpy(dst + b.y1 * w, own + b.y1 * w, row * (h - b.y1));
}

// Copies box b of every channel plane between `image` ([channels, h, w]) and a packed
// [channels, bh, bw] buffer, in the direction given.
template <class T>
void copyBox(T* image, T* packed, const CutmixBox& b, const CutmixGeometry& g, bool toPacked) {
  const int64_t bh = b.y1 - b.y0, bw = b.x1 - b.x0;
  for (int64_t c = 0; c < g.channels; ++c) {
    for (int64_t y = 0; y < bh; ++y) {
      T* pixel = image + (c * g.h + b.y0 + y) * g.w + b.x0;
      T* slot = packed + (c * bh + y) * bw;
      if (toPacked) std::memcpy(slot, pixel, bw * sizeof(T));
      else std::memcpy(pixel, slot, bw * sizeof(T));
    }
  }
}

template <class T>
void pasteInPlace(T* x, const std::vector<CutmixBox>& boxes, const CutmixGeometry& g) {
  const int64_t plane = g.h * g.w, image = g.channels * plane;
  std::vector<int64_t> offset(boxes.size() + 1, 0);
  for (size_t i = 0; i < boxes.size(); ++i) {
    const auto& b = boxes[i];
    const bool moves = b.partner != static_cast<int64_t>(i);
    offset[i + 1] = offset[i] + (moves ? g.channels * (b.y1 - b.y0) * (b.x1 - b.x0) : 0);
  }
  if (offset.back() == 0) return;
  std::vector<T> scratch(static_cast<size_t>(offset.back()));
  for (bool gather : {true, false}) {
    at::parallel_for(0, g.n, 1, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) {
        if (offset[i + 1] == offset[i]) continue;
        const auto& b = boxes[i];
        copyBox(x + (gather ? b.partner : i) * image, scratch.data() + offset[i], b, g, gather);
      }
    });
  }
}

}  // namespace

void cutmixCpu(const at::Tensor& x, const std::vector<CutmixBox>& boxes, const at::Tensor& out,
               const CutmixGeometry& g) {
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, x.scalar_type(), "cutmixCpu", [&] {
    const auto* src = x.const_data_ptr<scalar_t>();
    auto* dst = out.mutable_data_ptr<scalar_t>();
    if (src == dst) return pasteInPlace(dst, boxes, g);
    const int64_t plane = g.h * g.w;
    at::parallel_for(0, g.n * g.channels, 1, [&](int64_t begin, int64_t end) {
      for (int64_t k = begin; k < end; ++k) {
        const int64_t i = k / g.channels, c = k % g.channels;
        const CutmixBox& b = boxes[i];
        pastePlane(src + k * plane, src + (b.partner * g.channels + c) * plane, dst + k * plane, b, g.h, g.w);
      }
    });
  });
}

}  // namespace hexa::kernels::detail
