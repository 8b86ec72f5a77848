#pragma once
// The Mamba2 state update (A per head) as a stream: a grid of a few blocks per SM walks the
// tiles (kRows rows of one head's state), and each block keeps the next tiles' reads in
// flight by bulk copies into a ring of shared-memory stages while it updates the current
// one in place and bulk-stores it. The register kernel ends each block with a serial chain
// (load, arithmetic, reductions, store) that memory waits behind; here that chain overlaps
// the following tiles' reads (docs/optimisation-notes.md, state update step 11).
#include <cstdint>

#include "bulk_copy.cuh"
#include "state_update_rows.cuh"

namespace ssmkit::cuda::state_update {

constexpr int kStreamRowsPerThread = 4;  // 8 KB tiles at N = 128
constexpr int kStreamStages = 4;         // the current tile, two reads ahead, one store behind

// What a row's threads need of its scalars, computed once per row by one thread.
struct RowTerms {
  float decay, dtx, dx, gate;
};

template <class T, class S, int kN>
struct alignas(128) StreamStage {
  using Tl = Tiling<T, S, kN, kStreamRowsPerThread>;
  static_assert(Tl::kRows <= Tl::kThreads, "one thread prepares each row's scalars");
  S state[Tl::kRows * kN];  // first: bulk copies need 16-byte aligned destinations
  T bc[2 * kN];             // B, then C, of the tile's batch row and group
  RowTerms rows[Tl::kRows];
  long long slot;  // the tile's state slot; the padding slot: nothing loaded or stored
};

// Tile t = ((b * nheads + h) * tiles_per_head + tile of the head's rows).
struct TileIndex {
  long long b;
  int h, p0;
};
__device__ __forceinline__ TileIndex locate(const Args& a, long long t, int tiles_per_head,
                                            int rows_per_tile) {
  const long long bh = t / tiles_per_head;
  return {bh / a.nheads, static_cast<int>(bh % a.nheads),
          static_cast<int>(t % tiles_per_head) * rows_per_tile};
}

// The tile's rows in place in shared memory, and their outputs.
template <class T, class S, int kN>
__device__ __forceinline__ void update_tile(StreamStage<T, S, kN>& st, int nrows, T* out) {
  using Tl = typename StreamStage<T, S, kN>::Tl;
  constexpr int kVec = Tl::kVec, kVPT = Tl::kVPT, kTPR = Tl::kTPR;
  const int sub = threadIdx.x % kTPR;
  float Bv[kVPT][kVec], Cv[kVPT][kVec];
#pragma unroll
  for (int v = 0; v < kVPT; ++v) {
    const int n0 = (sub + v * kTPR) * kVec;
    const auto bb = load_array<kVec>(st.bc + n0);
    const auto cc = load_array<kVec>(st.bc + kN + n0);
#pragma unroll
    for (int e = 0; e < kVec; ++e) {
      Bv[v][e] = to_float(bb.v[e]);
      Cv[v][e] = to_float(cc.v[e]);
    }
  }
#pragma unroll
  for (int r = 0; r < kStreamRowsPerThread; ++r) {
    const int lr = threadIdx.x / kTPR + r * Tl::kRowsPerPass;
    const bool valid = lr < nrows;  // the same for a row's kTPR lanes
    const RowTerms m = st.rows[lr];
    float part = 0.f;
#pragma unroll
    for (int v = 0; v < kVPT; ++v) {
      if (!valid) continue;
      S* vec = st.state + lr * kN + (sub + v * kTPR) * kVec;
      auto sv = load_array<kVec>(vec);
#pragma unroll
      for (int e = 0; e < kVec; ++e) {
        const float nv = to_float(sv.v[e]) * m.decay + m.dtx * Bv[v][e];
        sv.v[e] = from_float<S>(nv);
        part += nv * Cv[v][e];
      }
      store_array<kVec>(vec, sv);
    }
#pragma unroll
    for (int offset = kTPR / 2; offset > 0; offset >>= 1) {
      part += __shfl_xor_sync(0xffffffffu, part, offset);
    }
    if (valid && sub == 0) out[lr] = from_float<T>((part + m.dx) * m.gate);
  }
}

template <class T, class S, int kN>
__global__ __launch_bounds__(128) void state_update_stream(const Args a, const int tiles_per_head,
                                                           const long long ntiles) {
  using Stage = StreamStage<T, S, kN>;
  using Tl = typename Stage::Tl;
  constexpr int kRows = Tl::kRows;
  extern __shared__ __align__(128) unsigned char smem[];
  auto* stages = reinterpret_cast<Stage*>(smem);
  __shared__ __align__(8) std::uint64_t full[kStreamStages];
  const int tid = threadIdx.x;
  const int P = static_cast<int>(a.headdim);
  const long long step = gridDim.x;

  // Thread 0 starts tile t's reads into its stage (a padding tile's reads are none).
  auto start_reads = [&](long long t, int s) {
    const TileIndex at = locate(a, t, tiles_per_head, kRows);
    const long long slot = a.state_batch_indices ? a.state_batch_indices[at.b] : at.b;
    stages[s].slot = slot;
    if (slot == a.pad_slot_id) return bulk::arrive(&full[s]);
    const auto tile_bytes = static_cast<std::uint32_t>(min(kRows, P - at.p0) * kN * sizeof(S));
    constexpr auto kVectorBytes = static_cast<std::uint32_t>(kN * sizeof(T));
    const long long g = at.h / (a.nheads / a.ngroups);
    bulk::expect_bytes(&full[s], tile_bytes + 2 * kVectorBytes);
    bulk::load(stages[s].state,
               static_cast<const S*>(a.state) + ((slot * a.nheads + at.h) * P + at.p0) * kN,
               tile_bytes, &full[s]);
    bulk::load(stages[s].bc, static_cast<const T*>(a.B) + (at.b * a.ngroups + g) * kN,
               kVectorBytes, &full[s]);
    bulk::load(stages[s].bc + kN, static_cast<const T*>(a.C) + (at.b * a.ngroups + g) * kN,
               kVectorBytes, &full[s]);
  };
  // Thread r < kRows prepares row r's terms a tile ahead of their use, from loads issued a
  // tile before that, so that no load latency sits between two tiles.
  RowLoads<T> next{};
  float next_a = 0.f;
  auto load_rows_of = [&](long long t) {
    const TileIndex at = locate(a, t, tiles_per_head, kRows);
    next = load_row<T>(a, at.b, at.h, min(at.p0 + tid, P - 1));
    next_a = a.A[at.h] * kLog2e;
  };
  auto terms_of_next = [&]() -> RowTerms {
    const RowInputs in = finish_row(a, next);
    return {fast_exp2(in.dt * next_a), in.dt * in.x, in.dx, in.gate};
  };

  const long long first = blockIdx.x;
  if (tid == 0) {
    for (int s = 0; s < kStreamStages; ++s) bulk::init_barrier(&full[s]);
    start_reads(first, 0);
    if (first + step < ntiles) start_reads(first + step, 1);
  }
  if (tid < kRows) {
    load_rows_of(first);
    stages[0].rows[tid] = terms_of_next();
    if (first + step < ntiles) load_rows_of(first + step);
  }
  __syncthreads();  // the barriers' initialisation, the first tile's row terms

  int i = 0;
  for (long long t = first; t < ntiles; t += step, ++i) {
    Stage& st = stages[i % kStreamStages];
    const TileIndex at = locate(a, t, tiles_per_head, kRows);
    const int nrows = min(kRows, P - at.p0);
    T* out = static_cast<T*>(a.out) + (at.b * a.nheads + at.h) * P + at.p0;
    const bool pad = st.slot == a.pad_slot_id;
    bulk::wait(&full[i % kStreamStages], static_cast<std::uint32_t>(i / kStreamStages) & 1u);
    if (pad) {
      if (tid < nrows) out[tid] = from_float<T>(0.f);
    } else {
      update_tile<T, S, kN>(st, nrows, out);
    }
    if (tid < kRows && t + step < ntiles) {
      stages[(i + 1) % kStreamStages].rows[tid] = terms_of_next();
      if (t + 2 * step < ntiles) load_rows_of(t + 2 * step);
    }
    bulk::fence_writes_for_store();
    __syncthreads();  // the tile is updated; the next tile's row terms are written
    if (tid == 0) {
      if (!pad) {
        bulk::store(static_cast<S*>(a.state) + ((st.slot * a.nheads + at.h) * P + at.p0) * kN,
                    st.state, static_cast<std::uint32_t>(nrows * kN * sizeof(S)));
      }
      bulk::commit_stores();  // one group per tile, empty for padding: the ring counts on it
      if (t + 2 * step < ntiles) {
        // The stage of tile i + 2 held tile i - 2: its store (two groups back) must have
        // been read.
        bulk::wait_stores_read<2>();
        start_reads(t + 2 * step, (i + 2) % kStreamStages);
      }
    }
  }
  if (tid == 0) bulk::wait_stores_read<0>();
}

}  // namespace ssmkit::cuda::state_update
