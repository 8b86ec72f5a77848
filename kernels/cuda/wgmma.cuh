#pragma once
// Hopper warpgroup matrix products (wgmma, sm_90a only) for 16-bit operands with float32
// accumulators, on tiles stored as 128-byte-swizzled planes. The descriptor fields and step
// offsets below were checked on an H200 with a stand-alone exact test (docs/history/
// chunk-scan-notes.md, "wgmma layouts"); accumulator and register-A layouts: PTX, m64nNk16.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>
#include <type_traits>

namespace ssmkit::cuda::wgmma {

// Byte offset of element (row, col) of a 16-bit tile with `rows` rows, stored as planes of 64
// columns: a plane is rows x 128 bytes whose 16-byte chunks are XOR-swizzled by row % 8 (the
// layout wgmma's 128-byte swizzle mode reads), planes one after another. Tiles start on
// 1024-byte boundaries.
__host__ __device__ constexpr std::uint32_t plane_offset(int row, int col, int rows) {
  return static_cast<std::uint32_t>(
      ((col / 64) * rows * 8 + row * 8 + (((col / 8) & 7) ^ (row & 7))) * 16 + (col % 8) * 2);
}

__device__ __forceinline__ std::uint64_t descriptor(std::uint32_t addr, std::uint32_t lbo,
                                                    std::uint32_t sbo) {
  return static_cast<std::uint64_t>((addr & 0x3FFFF) >> 4) |
         (static_cast<std::uint64_t>(lbo >> 4) << 16) |
         (static_cast<std::uint64_t>(sbo >> 4) << 32) | (1ull << 62);  // 128-byte swizzle
}

// Operand whose reduction dimension K runs along a row (A = rows m x k, or B given as rows
// n x k): the 16-wide K step kk of a planed tile with `rows` rows.
__device__ __forceinline__ std::uint64_t k_major(std::uint32_t tile, int rows, int kk) {
  return descriptor(tile + static_cast<std::uint32_t>((kk / 4) * rows * 128 + (kk % 4) * 32), 16,
                    1024);
}

// B operand stored as rows k x 64 columns n (one plane), read transposed: K step kk.
__device__ __forceinline__ std::uint64_t mn_major(std::uint32_t plane, int kk) {
  return descriptor(plane + static_cast<std::uint32_t>(kk * 2048), 0, 1024);
}

__device__ __forceinline__ void fence() {
  asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory");
}
__device__ __forceinline__ void commit() {
  asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory");
}
template <int kPending>
__device__ __forceinline__ void wait() {
  asm volatile("wgmma.wait_group.sync.aligned %0;\n" ::"n"(kPending) : "memory");
}
// Keeps the compiler from moving reads or writes of accumulators across a wait or a product.
template <int kCount>
__device__ __forceinline__ void pin(float (&d)[kCount]) {
#pragma unroll
  for (int i = 0; i < kCount; ++i) asm volatile("" : "+f"(d[i])::"memory");
}

// Generic-proxy writes to shared memory (st.shared, cp.async) visible to wgmma's reads.
__device__ __forceinline__ void fence_shared_for_async() {
  asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory");
}

#define SSMKIT_WGMMA_D32                                                                        \
  "{%0,%1,%2,%3,%4,%5,%6,%7,%8,%9,%10,%11,%12,%13,%14,%15,%16,%17,%18,%19,%20,%21,%22,%23,%24," \
  "%25,%26,%27,%28,%29,%30,%31}"
#define SSMKIT_WGMMA_OUT32(d)                                                                     \
  "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), \
      "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]),    \
      "+f"(d[15]), "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]),  \
      "+f"(d[22]), "+f"(d[23]), "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]),  \
      "+f"(d[29]), "+f"(d[30]), "+f"(d[31])

// d (64 x 64, this warpgroup) = A . B + (accumulate ? d : 0), A and B from shared memory,
// B stored as rows n x k (k_major). Thread (warp w, lane 4g + q) holds d[i] at row
// 16w + g + 8 ((i / 2) % 2), column 8 (i / 4) + 2q + i % 2.
template <class T>
__device__ __forceinline__ void mma_ss(float (&d)[32], std::uint64_t a, std::uint64_t b,
                                       bool accumulate) {
  if constexpr (std::is_same_v<T, __nv_bfloat16>) {
    asm volatile(
        "{\n.reg .pred p;\nsetp.ne.b32 p, %34, 0;\n"
        "wgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16 " SSMKIT_WGMMA_D32
        ", %32, %33, p, 1, 1, 0, 0;\n}\n"
        : SSMKIT_WGMMA_OUT32(d)
        : "l"(a), "l"(b), "r"(static_cast<int>(accumulate)));
  } else {
    asm volatile(
        "{\n.reg .pred p;\nsetp.ne.b32 p, %34, 0;\n"
        "wgmma.mma_async.sync.aligned.m64n64k16.f32.f16.f16 " SSMKIT_WGMMA_D32
        ", %32, %33, p, 1, 1, 0, 0;\n}\n"
        : SSMKIT_WGMMA_OUT32(d)
        : "l"(a), "l"(b), "r"(static_cast<int>(accumulate)));
  }
}

// d (64 x 64) += A . B with A from registers in mma.m16n8k16's A-fragment layout (warp w
// holds rows 16w..16w+15) and B stored as rows k x 64 columns n (mn_major).
template <class T>
__device__ __forceinline__ void mma_rs(float (&d)[32], const std::uint32_t (&a)[4],
                                       std::uint64_t b) {
  if constexpr (std::is_same_v<T, __nv_bfloat16>) {
    asm volatile("wgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16 " SSMKIT_WGMMA_D32
                 ", {%32,%33,%34,%35}, %36, 1, 1, 1, 1;\n"
                 : SSMKIT_WGMMA_OUT32(d)
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(b));
  } else {
    asm volatile("wgmma.mma_async.sync.aligned.m64n64k16.f32.f16.f16 " SSMKIT_WGMMA_D32
                 ", {%32,%33,%34,%35}, %36, 1, 1, 1, 1;\n"
                 : SSMKIT_WGMMA_OUT32(d)
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(b));
  }
}

#undef SSMKIT_WGMMA_D32
#undef SSMKIT_WGMMA_OUT32

}  // namespace ssmkit::cuda::wgmma
