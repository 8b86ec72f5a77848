#include "ssmkit/cache/slotted_tensor.hpp"

#include "cache_util.hpp"
#include "ssmkit/cache/cache_types.hpp"

namespace ssmkit {
namespace {

Shape with_leading(std::int64_t n, const Shape& rest) {
  Shape shape{n};
  shape.insert(shape.end(), rest.begin(), rest.end());
  return shape;
}

}  // namespace

SlottedTensor::SlottedTensor(std::string name, DType dtype, std::int64_t slots, Shape slot_shape,
                             StorageAllocator& allocator)
    : name_(std::move(name)),
      slot_shape_(std::move(slot_shape)),
      storage_(allocator, dtype, with_leading(slots, slot_shape_)) {}

void SlottedTensor::check_slot(std::int64_t slot) const {
  cache_util::require_index(name_, "slot", slot, slots());
}

Tensor SlottedTensor::read(std::int64_t slot) const {
  check_slot(slot);
  Tensor out(dtype(), slot_shape_);
  storage_.read_elements(slot * slot_numel(), slot_numel(), out, 0);
  return out;
}

void SlottedTensor::write(std::int64_t slot, const Tensor& value) {
  check_slot(slot);
  cache_util::require_shape(name_, "value", value, slot_shape_);
  cache_util::store_elements(value, 0, storage_, slot * slot_numel(), slot_numel());
}

Tensor SlottedTensor::gather(std::span<const std::int64_t> slots) const {
  cache_util::require_slots(name_, slots, this->slots());
  const auto n = static_cast<std::int64_t>(slots.size());
  Tensor out(dtype(), with_leading(n, slot_shape_));
  for (std::int64_t row = 0; row < n; ++row) {
    if (slots[row] == kPadSlot) continue;  // already zero
    storage_.read_elements(slots[row] * slot_numel(), slot_numel(), out, row * slot_numel());
  }
  return out;
}

void SlottedTensor::scatter(std::span<const std::int64_t> slots, const Tensor& values) {
  cache_util::require_slots(name_, slots, this->slots());
  const auto n = static_cast<std::int64_t>(slots.size());
  cache_util::require_shape(name_, "values", values, with_leading(n, slot_shape_));
  for (std::int64_t row = 0; row < n; ++row) {
    if (slots[row] == kPadSlot) continue;
    cache_util::store_elements(values, row * slot_numel(), storage_, slots[row] * slot_numel(),
                               slot_numel());
  }
}

void SlottedTensor::zero(std::int64_t slot) {
  check_slot(slot);
  storage_.zero_rows(slot, 1);
}

void SlottedTensor::zero_all() { storage_.zero_rows(0, slots()); }

}  // namespace ssmkit
