#include "cache_util.hpp"

#include <cstring>
#include <set>

#include "ssmkit/cache/cache_config.hpp"
#include "ssmkit/error.hpp"

namespace ssmkit::cache_util {
namespace {

void store_value(std::byte* p, DType dtype, double v) {
  switch (dtype) {
    case DType::float32: {
      const float f = static_cast<float>(v);
      std::memcpy(p, &f, 4);
      return;
    }
    case DType::float64: std::memcpy(p, &v, 8); return;
    case DType::bfloat16: {
      const std::uint16_t b = float_to_bfloat16(static_cast<float>(v));
      std::memcpy(p, &b, 2);
      return;
    }
    case DType::float16: {
      const std::uint16_t h = float_to_float16(static_cast<float>(v));
      std::memcpy(p, &h, 2);
      return;
    }
    case DType::int32:
    case DType::int64: break;
  }
  throw std::logic_error("cache storage must be a floating dtype");
}

}  // namespace

void require_positive(const std::string& where, const std::string& field, std::int64_t value) {
  if (value <= 0) {
    throw InputError(where, field, "a positive integer, got " + std::to_string(value));
  }
}

void require_cache_dtype(const std::string& where, const std::string& field, DType dtype) {
  if (!is_cache_dtype(dtype)) {
    throw InputError(
        where, field,
        "one of float32, bfloat16, float16, float64; got " + std::string(dtype_name(dtype)));
  }
}

void require_index(const std::string& where, const std::string& field, std::int64_t value,
                   std::int64_t bound) {
  if (value < 0 || value >= bound) {
    throw InputError(where, field,
                     "in [0, " + std::to_string(bound) + "), got " + std::to_string(value));
  }
}

void require_shape(const std::string& where, const std::string& field, const Tensor& tensor,
                   const Shape& expected) {
  if (!tensor.defined()) throw InputError(where, field, "a tensor of shape " + shape_str(expected));
  if (!is_floating(tensor.dtype())) {
    throw InputError(where, field,
                     "a floating tensor, got " + std::string(dtype_name(tensor.dtype())));
  }
  if (tensor.shape() != expected) {
    throw InputError(where, field,
                     "shape " + shape_str(expected) + ", got " + shape_str(tensor.shape()));
  }
}

void require_slots(const std::string& where, std::span<const std::int64_t> slots,
                   std::int64_t num_slots) {
  std::set<std::int64_t> seen;
  for (std::size_t i = 0; i < slots.size(); ++i) {
    const std::int64_t slot = slots[i];
    if (slot == kPadSlot) continue;
    const std::string field = "slots[" + std::to_string(i) + "]";
    if (slot < 0 || slot >= num_slots) {
      throw InputError(where, field,
                       "a slot in [0, " + std::to_string(num_slots) + ") or the padding slot " +
                           std::to_string(kPadSlot) + ", got " + std::to_string(slot));
    }
    if (!seen.insert(slot).second) {
      throw InputError(where, field,
                       "each slot at most once; slot " + std::to_string(slot) + " appears twice");
    }
  }
}

void copy_elements(const Tensor& src, std::int64_t src_offset, Tensor& dst, std::int64_t dst_offset,
                   std::int64_t count) {
  if (count == 0) return;  // an empty tensor may have no storage to point at
  const std::size_t dst_size = dtype_size(dst.dtype());
  std::byte* out = dst.bytes() + static_cast<std::size_t>(dst_offset) * dst_size;
  if (src.dtype() == dst.dtype()) {
    std::memcpy(out, src.bytes() + static_cast<std::size_t>(src_offset) * dst_size,
                static_cast<std::size_t>(count) * dst_size);
    return;
  }
  for (std::int64_t i = 0; i < count; ++i) {
    store_value(out + static_cast<std::size_t>(i) * dst_size, dst.dtype(),
                src.value(src_offset + i));
  }
}

void store_elements(const Tensor& src, std::int64_t src_offset, CacheTensor& dst,
                    std::int64_t dst_offset, std::int64_t count) {
  if (count == 0) return;
  if (src.dtype() == dst.dtype()) {
    dst.write_elements(dst_offset, count, src, src_offset);
    return;
  }
  Tensor rounded(dst.dtype(), {count});
  copy_elements(src, src_offset, rounded, 0, count);
  dst.write_elements(dst_offset, count, rounded, 0);
}

std::string layer_name(std::int64_t layer) { return "layer_" + std::to_string(layer); }

}  // namespace ssmkit::cache_util
