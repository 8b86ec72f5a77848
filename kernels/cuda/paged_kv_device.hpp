#pragma once
// Device-side entry points of the paged KV copies, for callers that keep their own device
// buffers (the benchmarks, a device-resident cache): raw pointers and sizes in, one
// asynchronous launch on `stream` out. No host transfer, no synchronisation, no index check
// that would need to read device memory: the caller checks indices on the host
// (check_paged_kv_write / check_paged_kv_gather) before uploading them. The kernels still
// skip out-of-range slots and pages rather than write outside the buffers.
#include <cuda_runtime.h>

#include <cstdint>

#include "ssmkit/dtype.hpp"

namespace ssmkit::cuda {

// Rows are kv_heads * head_dim elements of `dtype` (float32, bfloat16 or float16).
struct PagedKvWriteDeviceArgs {
  const void* key = nullptr;    // (num_tokens, row)
  const void* value = nullptr;  // (num_tokens, row)
  void* key_cache = nullptr;    // (num_pages * page_size, row)
  void* value_cache = nullptr;  // (num_pages * page_size, row)
  const std::int64_t* slot_mapping = nullptr;  // (num_tokens); negative: padding, skipped
  std::int64_t num_tokens = 0;
  std::int64_t num_slots = 0;     // num_pages * page_size
  std::int64_t row_elements = 0;  // kv_heads * head_dim
  DType dtype = DType::float32;
};

struct PagedKvGatherDeviceArgs {
  const void* key_cache = nullptr;    // (num_pages, page_size, row)
  const void* value_cache = nullptr;  // (num_pages, page_size, row)
  void* key = nullptr;                // (batch, max_len, row)
  void* value = nullptr;              // (batch, max_len, row)
  const std::int32_t* block_tables = nullptr;  // (batch, max_pages_per_seq), vLLM's int32
  const std::int32_t* seq_lens = nullptr;      // (batch)
  std::int64_t batch = 0, max_len = 0, max_pages_per_seq = 0;
  std::int64_t num_pages = 0, page_size = 0;
  std::int64_t row_elements = 0;
  DType dtype = DType::float32;
};

// One warp per token row; 16-byte loads and stores when every row is 16-byte aligned,
// element-wide ones otherwise. Throws std::invalid_argument for an unsupported dtype and
// the CUDA error of a failed launch.
void launch_paged_kv_write(const PagedKvWriteDeviceArgs& args, cudaStream_t stream);
void launch_paged_kv_gather(const PagedKvGatherDeviceArgs& args, cudaStream_t stream);

}  // namespace ssmkit::cuda
