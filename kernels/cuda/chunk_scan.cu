#include <stdexcept>
#include <string>

#include "chunk_scan_internal.hpp"

namespace ssmkit::cuda {
namespace {

void require(bool ok, const char* what) {
  if (!ok) throw std::invalid_argument(std::string("launch_chunk_scan: ") + what);
}

bool runs_ssd(const ChunkScanDeviceArgs& a) {
  return a.dtype != DType::float32 && chunk_scan_ssd_supports(a);
}

bool runs_wgmma(const ChunkScanDeviceArgs& a) {
#ifdef SSMKIT_HAVE_SM90A
  return chunk_scan_wgmma_supports(a);
#else
  (void)a;
  return false;
#endif
}

}  // namespace

std::size_t chunk_scan_workspace_bytes(const ChunkScanDeviceArgs& a) {
  return runs_ssd(a) && !runs_wgmma(a) ? chunk_scan_ssd_workspace_bytes(a) : 0;
}

void launch_chunk_scan(const ChunkScanDeviceArgs& a, cudaStream_t stream) {
  require(a.dtype == DType::float32 || a.dtype == DType::bfloat16 || a.dtype == DType::float16,
          "dtype must be float32, bfloat16 or float16");
  require(a.batch > 0 && a.seqlen > 0 && a.nheads > 0 && a.headdim > 0 && a.dstate > 0,
          "sizes must be positive");
  require(a.ngroups > 0 && a.nheads % a.ngroups == 0, "nheads must be a multiple of ngroups");
  require(a.x && a.dt && a.A && a.B && a.C && a.out && a.final_states,
          "x, dt, A, B, C, out and final_states are required");
  require(!a.cu_seqlens || (a.seq_idx && a.batch == 1 && a.nseq > 0 && a.varlen_states),
          "cu_seqlens needs seq_idx, batch 1, nseq > 0 and varlen_states");
  if (runs_wgmma(a)) {
#ifdef SSMKIT_HAVE_SM90A
    launch_chunk_scan_wgmma(a, stream);
#endif
  } else if (runs_ssd(a)) {
    launch_chunk_scan_ssd(a, stream);
  } else {
    launch_chunk_scan_recurrent(a, stream);
  }
}

}  // namespace ssmkit::cuda
