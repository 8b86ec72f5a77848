#include <stdexcept>
#include <string>

#include "chunk_scan_internal.hpp"
#include "cuda_backend.hpp"
#include "device_buffer.hpp"

namespace ssmkit {
namespace cuda {
namespace {

void require(bool ok, const char* what) {
  if (!ok) throw std::invalid_argument(std::string("launch_chunk_scan: ") + what);
}

bool runs_ssd(const ChunkScanDeviceArgs& a) {
  return a.dtype != DType::float32 && chunk_scan_ssd_supports(a);
}

}  // namespace

std::size_t chunk_scan_workspace_bytes(const ChunkScanDeviceArgs& a) {
  return runs_ssd(a) ? chunk_scan_ssd_workspace_bytes(a) : 0;
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
  if (runs_ssd(a)) {
    launch_chunk_scan_ssd(a, stream);
  } else {
    launch_chunk_scan_recurrent(a, stream);
  }
}

}  // namespace cuda

using cuda::DeviceTensor;

ChunkScanResult CudaBackend::mamba_chunk_scan_combined(const ChunkScanParams& p) {
  const DType act = cuda::activation_dtype(p.input_dtype);
  auto x = DeviceTensor::upload(p.x, act);
  auto dt = DeviceTensor::upload(p.dt, act);
  auto A = DeviceTensor::upload(p.A, DType::float32);
  auto Bm = DeviceTensor::upload(p.B, act);
  auto Cm = DeviceTensor::upload(p.C, act);
  auto Dv = DeviceTensor::upload(p.D, DType::float32);
  auto z = DeviceTensor::upload(p.z, act);
  auto bias = DeviceTensor::upload(p.dt_bias, DType::float32);
  auto init = DeviceTensor::upload(p.initial_states, DType::float32);
  DeviceTensor seq_idx, cu_seqlens, varlen_states;
  if (!p.seq_idx.empty()) {
    seq_idx = DeviceTensor::upload(
        Tensor::from_vector<std::int64_t>({p.batch, p.seqlen}, p.seq_idx), DType::int64);
  }
  const auto nseq = static_cast<std::int64_t>(p.cu_seqlens.size()) - 1;
  if (nseq > 0) {
    cu_seqlens = DeviceTensor::upload(
        Tensor::from_vector<std::int64_t>({nseq + 1}, p.cu_seqlens), DType::int64);
    varlen_states = DeviceTensor(DType::float32, {nseq, p.nheads, p.headdim, p.dstate});
  }
  DeviceTensor out(act, {p.batch, p.seqlen, p.nheads, p.headdim});
  DeviceTensor final_states(DType::float32, {p.batch, p.nheads, p.headdim, p.dstate});

  cuda::ChunkScanDeviceArgs a;
  a.dtype = act;
  a.batch = static_cast<int>(p.batch);
  a.seqlen = p.seqlen;
  a.nheads = static_cast<int>(p.nheads);
  a.headdim = static_cast<int>(p.headdim);
  a.ngroups = static_cast<int>(p.ngroups);
  a.dstate = static_cast<int>(p.dstate);
  a.dt_softplus = p.dt_softplus;
  a.dt_min = static_cast<float>(p.dt_min);
  a.dt_max = static_cast<float>(p.dt_max);
  a.x = x.data<void>();
  a.dt = dt.data<void>();
  a.A = A.data<float>();
  a.B = Bm.data<void>();
  a.C = Cm.data<void>();
  a.D = Dv.data<float>();
  a.z = z.data<void>();
  a.dt_bias = bias.data<float>();
  a.initial_states = init.data<float>();
  a.seq_idx = seq_idx.data<std::int64_t>();
  a.cu_seqlens = cu_seqlens.data<std::int64_t>();
  a.nseq = nseq > 0 ? nseq : 0;
  a.out = out.data<void>();
  a.final_states = final_states.data<float>();
  a.varlen_states = varlen_states.data<float>();
  const auto ws_floats = static_cast<std::int64_t>((cuda::chunk_scan_workspace_bytes(a) + 3) / 4);
  DeviceTensor workspace;
  if (ws_floats > 0) workspace = DeviceTensor(DType::float32, {ws_floats});
  a.workspace = workspace.data<void>();
  cuda::launch_chunk_scan(a, nullptr);

  ChunkScanResult r{out.download(), final_states.download(), {}};
  if (nseq > 0) r.varlen_states = varlen_states.download();
  return r;
}

}  // namespace ssmkit
