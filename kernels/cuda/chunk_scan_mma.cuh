#pragma once
// Warp-level tensor-core building blocks (sm_80+ mma.sync, ldmatrix, cp.async) for the
// chunked scan. Fragment layouts are those of the PTX ISA for mma.m16n8k16 with 16-bit
// operands and float32 accumulators.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>

namespace ssmkit::cuda::mma {

__device__ __forceinline__ std::uint32_t smem_addr(const void* p) {
  return static_cast<std::uint32_t>(__cvta_generic_to_shared(p));
}

// 16-byte asynchronous copy; `valid == false` fills the 16 bytes with zeros instead.
__device__ __forceinline__ void cp_async_16(std::uint32_t dst, const void* src, bool valid) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(dst), "l"(src),
               "r"(valid ? 16 : 0));
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n"); }
__device__ __forceinline__ void cp_async_wait_all() {
  asm volatile("cp.async.wait_group 0;\n" ::: "memory");
}

__device__ __forceinline__ void ldmatrix_x4(std::uint32_t (&r)[4], std::uint32_t addr) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(addr));
}
__device__ __forceinline__ void ldmatrix_x4_trans(std::uint32_t (&r)[4], std::uint32_t addr) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(addr));
}

// d += a * b for one 16x8x16 tile, T = __nv_bfloat16 or __half.
template <class T>
__device__ __forceinline__ void mma_16816(float (&d)[4], const std::uint32_t (&a)[4],
                                          std::uint32_t b0, std::uint32_t b1);
template <>
__device__ __forceinline__ void mma_16816<__nv_bfloat16>(float (&d)[4],
                                                         const std::uint32_t (&a)[4],
                                                         std::uint32_t b0, std::uint32_t b1) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, "
      "{%8,%9}, {%0,%1,%2,%3};\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}
template <>
__device__ __forceinline__ void mma_16816<__half>(float (&d)[4], const std::uint32_t (&a)[4],
                                                  std::uint32_t b0, std::uint32_t b1) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, "
      "{%8,%9}, {%0,%1,%2,%3};\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

// Two floats as one register of two 16-bit values, `lo` in the low half (the lower column).
template <class T>
__device__ __forceinline__ std::uint32_t pack2(float lo, float hi);
template <>
__device__ __forceinline__ std::uint32_t pack2<__nv_bfloat16>(float lo, float hi) {
  const __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);
  return *reinterpret_cast<const std::uint32_t*>(&v);
}
template <>
__device__ __forceinline__ std::uint32_t pack2<__half>(float lo, float hi) {
  const __half2 v = __floats2half2_rn(lo, hi);
  return *reinterpret_cast<const std::uint32_t*>(&v);
}

template <class T>
__device__ __forceinline__ float2 unpack2(std::uint32_t v);
template <>
__device__ __forceinline__ float2 unpack2<__nv_bfloat16>(std::uint32_t v) {
  return __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162*>(&v));
}
template <>
__device__ __forceinline__ float2 unpack2<__half>(std::uint32_t v) {
  return __half22float2(*reinterpret_cast<const __half2*>(&v));
}

// Byte offset of 16-byte chunk `chunk` of row `row` in a tile of `chunks_per_row` chunks,
// XOR-swizzled so that eight consecutive rows read by one ldmatrix phase hit distinct banks.
__device__ __forceinline__ std::uint32_t swizzled(int row, int chunk, int chunks_per_row) {
  return static_cast<std::uint32_t>((row * chunks_per_row + (chunk ^ (row & 7))) * 16);
}

// ldmatrix addresses of one lane into a swizzled tile, for rows R0 + lane_row and chunks
// C0 + lane_chunk with R0 a multiple of 8 and C0 even, both known at compile time. The
// swizzle then depends on the lane and on C0 % 8 only, so four precomputed registers plus
// an immediate offset give every address (instead of one live register per address).
template <int kChunksPerRow>
struct SwizzledLane {
  std::uint32_t base[4];
  __device__ __forceinline__ SwizzledLane(std::uint32_t tile, int lane_row, int lane_chunk) {
    const int u = lane_chunk ^ (lane_row & 7);
#pragma unroll
    for (int k = 0; k < 4; ++k) {
      base[k] = tile + static_cast<std::uint32_t>((lane_row * kChunksPerRow + ((2 * k) ^ u)) * 16);
    }
  }
  __device__ __forceinline__ std::uint32_t at(int row0, int chunk0) const {
    return base[(chunk0 & 7) / 2] +
           static_cast<std::uint32_t>((row0 * kChunksPerRow + (chunk0 & ~7)) * 16);
  }
};

}  // namespace ssmkit::cuda::mma
