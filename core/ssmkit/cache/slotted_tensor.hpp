#pragma once
#include <cstdint>
#include <span>
#include <string>

#include "ssmkit/cache/cache_storage.hpp"
#include "ssmkit/tensor.hpp"

namespace ssmkit {

// A state tensor whose leading axis is the slot, (slots, *slot_shape): the layout engines
// use for recurrent states, so that a batch addresses its rows through slot ids. Values
// written are rounded to the storage dtype; values read come back in it. The storage lives
// wherever `allocator` puts it.
class SlottedTensor {
 public:
  // `name` appears in error messages ("Mamba2StateCache layer_1 ssm_state").
  SlottedTensor(std::string name, DType dtype, std::int64_t slots, Shape slot_shape,
                StorageAllocator& allocator);

  const std::string& name() const { return name_; }
  DType dtype() const { return storage_.dtype(); }
  std::int64_t slots() const { return storage_.dim(0); }
  const Shape& slot_shape() const { return slot_shape_; }
  std::int64_t slot_numel() const { return shape_numel(slot_shape_); }
  // (slots, *slot_shape), for kernels that address the slots themselves.
  const CacheTensor& storage() const { return storage_; }
  CacheTensor& storage() { return storage_; }

  Tensor read(std::int64_t slot) const;                // slot_shape
  void write(std::int64_t slot, const Tensor& value);  // slot_shape
  // (slots.size(), *slot_shape); rows of kPadSlot read as zeros.
  Tensor gather(std::span<const std::int64_t> slots) const;
  // Rows of kPadSlot are skipped; no slot may appear twice.
  void scatter(std::span<const std::int64_t> slots, const Tensor& values);
  void zero(std::int64_t slot);
  void zero_all();

 private:
  void check_slot(std::int64_t slot) const;

  std::string name_;
  Shape slot_shape_;
  CacheTensor storage_;
};

}  // namespace ssmkit
