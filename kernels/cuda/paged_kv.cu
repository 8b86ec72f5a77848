#include <cstdint>
#include <initializer_list>
#include <limits>

#include "op_bindings.hpp"
#include "dispatch.cuh"
#include "paged_kv_device.hpp"
#include "ssmkit/error.hpp"

namespace ssmkit {
namespace cuda {
namespace {

constexpr int kWarpsPerBlock = 4;

// A warp copies one row, each lane every 32nd unit; a null source writes zeros.
template <class Unit>
__device__ __forceinline__ void copy_row(const Unit* __restrict__ src, Unit* __restrict__ dst,
                                         long long units, int lane) {
  for (long long i = lane; i < units; i += 32) dst[i] = src ? src[i] : Unit{};
}

template <class Unit>
__global__ void paged_kv_write_kernel(const Unit* __restrict__ key, const Unit* __restrict__ value,
                                      Unit* __restrict__ key_cache, Unit* __restrict__ value_cache,
                                      const std::int64_t* __restrict__ slot_mapping,
                                      long long num_tokens, long long num_slots,
                                      long long row_units) {
  const long long token = static_cast<long long>(blockIdx.x) * kWarpsPerBlock + threadIdx.x / 32;
  if (token >= num_tokens) return;
  const long long slot = slot_mapping[token];
  if (slot < 0 || slot >= num_slots) return;  // padding (out of range: refused on the host)
  const int lane = threadIdx.x % 32;
  copy_row(key + token * row_units, key_cache + slot * row_units, row_units, lane);
  copy_row(value + token * row_units, value_cache + slot * row_units, row_units, lane);
}

template <class Unit>
__global__ void paged_kv_gather_kernel(const Unit* __restrict__ key_cache,
                                       const Unit* __restrict__ value_cache,
                                       Unit* __restrict__ key, Unit* __restrict__ value,
                                       const std::int32_t* __restrict__ block_tables,
                                       const std::int32_t* __restrict__ seq_lens, long long rows,
                                       long long max_len, long long max_pages_per_seq,
                                       long long num_pages, long long page_size,
                                       long long row_units) {
  const long long row = static_cast<long long>(blockIdx.x) * kWarpsPerBlock + threadIdx.x / 32;
  if (row >= rows) return;
  const long long b = row / max_len, pos = row % max_len;
  const Unit* src_k = nullptr;
  const Unit* src_v = nullptr;
  if (pos < seq_lens[b] && pos / page_size < max_pages_per_seq) {
    const long long page = block_tables[b * max_pages_per_seq + pos / page_size];
    if (page >= 0 && page < num_pages) {
      const long long slot = page * page_size + pos % page_size;
      src_k = key_cache + slot * row_units;
      src_v = value_cache + slot * row_units;
    }
  }
  const int lane = threadIdx.x % 32;
  copy_row(src_k, key + row * row_units, row_units, lane);
  copy_row(src_v, value + row * row_units, row_units, lane);
}

// The widest copy unit (16, 8, 4 or 2 bytes) that divides a row and every row's address,
// as a template parameter. The values are copied bit for bit, so only their size matters.
template <class F>
void dispatch_copy_unit(DType dtype, std::int64_t row_elements,
                        std::initializer_list<const void*> buffers, F&& f) {
  if (dtype != DType::float32 && dtype != DType::bfloat16 && dtype != DType::float16) {
    throw std::invalid_argument("cuda: paged KV caches hold float32, bfloat16 or float16, not " +
                                std::string(dtype_name(dtype)));
  }
  const auto row_bytes = static_cast<std::uintptr_t>(row_elements) * dtype_size(dtype);
  auto fits = [&](std::uintptr_t unit) {
    if (row_bytes % unit != 0) return false;
    for (const void* p : buffers) {
      if (reinterpret_cast<std::uintptr_t>(p) % unit != 0) return false;
    }
    return true;
  };
  if (fits(16)) return f(TypeTag<uint4>{}, row_bytes / 16);
  if (fits(8)) return f(TypeTag<uint2>{}, row_bytes / 8);
  if (fits(4)) return f(TypeTag<std::uint32_t>{}, row_bytes / 4);
  return f(TypeTag<std::uint16_t>{}, row_bytes / 2);
}

// Checks the launch without waiting for it (the callers time these launches).
void check_launch(const char* op) {
  const cudaError_t err = cudaGetLastError();
  if (err != cudaSuccess) throw_cuda_error(err, op, __FILE__, __LINE__);
}

unsigned blocks_for_rows(std::int64_t rows) {
  return static_cast<unsigned>((rows + kWarpsPerBlock - 1) / kWarpsPerBlock);
}

}  // namespace

void launch_paged_kv_write(const PagedKvWriteDeviceArgs& a, cudaStream_t stream) {
  if (a.num_tokens == 0 || a.row_elements == 0) return;
  dispatch_copy_unit(a.dtype, a.row_elements, {a.key, a.value, a.key_cache, a.value_cache},
                     [&](auto tag, std::uintptr_t row_units) {
                       using U = typename decltype(tag)::type;
                       paged_kv_write_kernel<U><<<blocks_for_rows(a.num_tokens),
                                                  kWarpsPerBlock * 32, 0, stream>>>(
                           static_cast<const U*>(a.key), static_cast<const U*>(a.value),
                           static_cast<U*>(a.key_cache), static_cast<U*>(a.value_cache),
                           a.slot_mapping, a.num_tokens, a.num_slots,
                           static_cast<long long>(row_units));
                     });
  check_launch("paged_kv_write launch");
}

void launch_paged_kv_gather(const PagedKvGatherDeviceArgs& a, cudaStream_t stream) {
  const std::int64_t rows = a.batch * a.max_len;
  if (rows == 0 || a.row_elements == 0) return;
  dispatch_copy_unit(a.dtype, a.row_elements, {a.key_cache, a.value_cache, a.key, a.value},
                     [&](auto tag, std::uintptr_t row_units) {
                       using U = typename decltype(tag)::type;
                       paged_kv_gather_kernel<U><<<blocks_for_rows(rows), kWarpsPerBlock * 32,
                                                   0, stream>>>(
                           static_cast<const U*>(a.key_cache), static_cast<const U*>(a.value_cache),
                           static_cast<U*>(a.key), static_cast<U*>(a.value), a.block_tables,
                           a.seq_lens, rows, a.max_len, a.max_pages_per_seq, a.num_pages,
                           a.page_size, static_cast<long long>(row_units));
                     });
  check_launch("paged_kv_gather launch");
}

// ---- binds: the ops' tensors on the device; the cache is written in place -----------------
namespace {

// The device takes vLLM's int32 block tables and sequence lengths.
void require_int32(const std::string& where, const std::string& field, std::int64_t v) {
  if (v > std::numeric_limits<std::int32_t>::max()) {
    throw InputError(where, field, "at most 2^31 - 1 on the CUDA backend, got " + std::to_string(v));
  }
}

class PagedKvWriteBinding final
    : public Binding<PagedKvWriteBinding, PagedKvWriteDeviceArgs, PagedKvWriteResult, launch_paged_kv_write> {
 public:
  explicit PagedKvWriteBinding(const PagedKvWriteParams& p) {
    check_paged_kv_write(p, "paged_kv_write");
    const DType act = activation_dtype(p.input_dtype);
    key_ = b_.input(p.key, act);
    value_ = b_.input(p.value, act);
    key_cache_ = b_.input(p.key_cache, act);
    value_cache_ = b_.input(p.value_cache, act);
    slots_ = b_.input(index_tensor(p.slot_mapping), DType::int64);
    proto_.num_tokens = p.num_tokens, proto_.num_slots = p.num_pages * p.page_size;
    proto_.row_elements = p.kv_heads * p.head_dim, proto_.dtype = act;
  }
  PagedKvWriteDeviceArgs args() const {
    auto a = proto_;
    a.key = b_.ptr(key_), a.value = b_.ptr(value_), a.key_cache = b_.ptr(key_cache_);
    a.value_cache = b_.ptr(value_cache_), a.slot_mapping = b_.ptr<std::int64_t>(slots_);
    return a;
  }
  PagedKvWriteResult read() const { return {b_[key_cache_].download(), b_[value_cache_].download()}; }

 private:
  int key_ = -1, value_ = -1, key_cache_ = -1, value_cache_ = -1, slots_ = -1;
};

class PagedKvGatherBinding final
    : public Binding<PagedKvGatherBinding, PagedKvGatherDeviceArgs, PagedKvGatherResult, launch_paged_kv_gather> {
 public:
  explicit PagedKvGatherBinding(const PagedKvGatherParams& p) {
    const std::string where = "paged_kv_gather";
    check_paged_kv_gather(p, where);
    require_int32(where, "num_pages", p.num_pages);
    require_int32(where, "max_len", p.max_len);
    const DType act = activation_dtype(p.input_dtype);
    key_cache_ = b_.input(p.key_cache, act);
    value_cache_ = b_.input(p.value_cache, act);
    // Entries past a sequence's pages are never read: clamped to -1 so any padding fits int32.
    std::vector<std::int64_t> tables = p.block_tables;
    for (auto& page : tables) {
      if (page < 0 || page >= p.num_pages) page = -1;
    }
    tables_ = b_.input(index_tensor(tables), DType::int32);
    lens_ = b_.input(index_tensor(p.seq_lens), DType::int32);
    key_ = b_.output(act, {p.batch, p.max_len, p.kv_heads, p.head_dim});
    value_ = b_.output(act, {p.batch, p.max_len, p.kv_heads, p.head_dim});
    proto_.batch = p.batch, proto_.max_len = p.max_len, proto_.max_pages_per_seq = p.max_pages_per_seq;
    proto_.num_pages = p.num_pages, proto_.page_size = p.page_size;
    proto_.row_elements = p.kv_heads * p.head_dim, proto_.dtype = act;
  }
  PagedKvGatherDeviceArgs args() const {
    auto a = proto_;
    a.key_cache = b_.ptr(key_cache_), a.value_cache = b_.ptr(value_cache_);
    a.block_tables = b_.ptr<std::int32_t>(tables_), a.seq_lens = b_.ptr<std::int32_t>(lens_);
    a.key = b_.ptr(key_), a.value = b_.ptr(value_);
    return a;
  }
  PagedKvGatherResult read() const { return {b_[key_].download(), b_[value_].download()}; }

 private:
  int key_cache_ = -1, value_cache_ = -1, tables_ = -1, lens_ = -1, key_ = -1, value_ = -1;
};

}  // namespace

template <>
std::unique_ptr<BoundOp> bind_op(const PagedKvWriteParams& p) {
  return std::make_unique<PagedKvWriteBinding>(p);
}
template <>
std::unique_ptr<BoundOp> bind_op(const PagedKvGatherParams& p) {
  return std::make_unique<PagedKvGatherBinding>(p);
}

}  // namespace cuda
}  // namespace ssmkit
