#pragma once
// Hopper bulk copies (the TMA unit without tensor maps) between global and shared memory,
// completed through a shared-memory mbarrier. One thread moves a whole contiguous tile with
// one instruction, so the bytes in flight cost no registers and no per-thread requests.
// Sizes and both addresses must be multiples of 16 bytes.
#include <cstdint>

namespace ssmkit::cuda::bulk {

__device__ __forceinline__ std::uint32_t smem_addr(const void* p) {
  return static_cast<std::uint32_t>(__cvta_generic_to_shared(p));
}

// One arrival (the issuing thread's) plus the bytes announced by expect_bytes.
__device__ __forceinline__ void init_barrier(std::uint64_t* bar) {
  asm volatile("mbarrier.init.shared::cta.b64 [%0], 1;\n" ::"r"(smem_addr(bar)) : "memory");
  asm volatile("fence.mbarrier_init.release.cluster;\n" ::: "memory");
}

__device__ __forceinline__ void expect_bytes(std::uint64_t* bar, std::uint32_t bytes) {
  asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;\n" ::"r"(smem_addr(bar)),
               "r"(bytes)
               : "memory");
}

__device__ __forceinline__ void load(void* dst, const void* src, std::uint32_t bytes,
                                     std::uint64_t* bar) {
  asm volatile(
      "cp.async.bulk.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1], %2, [%3];\n" ::
          "r"(smem_addr(dst)),
      "l"(src), "r"(bytes), "r"(smem_addr(bar))
      : "memory");
}

// Completes the barrier's phase with no bytes (for a stage that loads nothing).
__device__ __forceinline__ void arrive(std::uint64_t* bar) {
  asm volatile("mbarrier.arrive.shared::cta.b64 _, [%0];\n" ::"r"(smem_addr(bar)) : "memory");
}

// Waits until the barrier's phase of this parity has completed.
__device__ __forceinline__ void wait(std::uint64_t* bar, std::uint32_t parity) {
  asm volatile(
      "{\n .reg .pred done;\n"
      "wait:\n mbarrier.try_wait.parity.shared::cta.b64 done, [%0], %1;\n @!done bra wait;\n}\n" ::
          "r"(smem_addr(bar)),
      "r"(parity)
      : "memory");
}

// Makes this thread's ordinary shared-memory writes visible to a later bulk store; every
// writing thread calls it before the block barrier that precedes the store.
__device__ __forceinline__ void fence_writes_for_store() {
  asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory");
}

__device__ __forceinline__ void store(void* dst, const void* src, std::uint32_t bytes) {
  asm volatile("cp.async.bulk.global.shared::cta.bulk_group [%0], [%1], %2;\n" ::"l"(dst),
               "r"(smem_addr(src)), "r"(bytes)
               : "memory");
}

// Closes a group of the stores issued since the last commit (possibly none).
__device__ __forceinline__ void commit_stores() {
  asm volatile("cp.async.bulk.commit_group;\n" ::: "memory");
}

// Waits until all but the kPending most recent store groups have read their shared-memory source
// (not until their global writes land), so that it may be overwritten or the block exit.
template <int kPending>
__device__ __forceinline__ void wait_stores_read() {
  asm volatile("cp.async.bulk.wait_group.read %0;\n" ::"n"(kPending) : "memory");
}

}  // namespace ssmkit::cuda::bulk
