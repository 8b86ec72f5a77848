#include <stdexcept>
#include <string>

#include "chunk_scan_internal.hpp"
#include "op_bindings.hpp"

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

// ---- bind: the op's tensors on the device --------------------------------------------------
namespace {

class ChunkScanBinding final
    : public Binding<ChunkScanBinding, ChunkScanDeviceArgs, ChunkScanResult, launch_chunk_scan> {
 public:
  explicit ChunkScanBinding(const ChunkScanParams& p) {
    const DType act = activation_dtype(p.input_dtype);
    x_ = b_.input(p.x, act);
    dt_ = b_.input(p.dt, act);
    A_ = b_.input(p.A, DType::float32);
    B_ = b_.input(p.B, act);
    C_ = b_.input(p.C, act);
    D_ = b_.input(p.D, DType::float32);
    z_ = b_.input(p.z, act);
    bias_ = b_.input(p.dt_bias, DType::float32);
    init_ = b_.input(p.initial_states, DType::float32);
    const auto nseq = static_cast<std::int64_t>(p.cu_seqlens.size()) - 1;
    if (!p.seq_idx.empty()) {
      seq_idx_ = b_.input(Tensor::from_vector<std::int64_t>({p.batch, p.seqlen}, p.seq_idx), DType::int64);
    }
    if (nseq > 0) {
      cu_ = b_.input(index_tensor(p.cu_seqlens), DType::int64);
      varlen_ = b_.output(DType::float32, {nseq, p.nheads, p.headdim, p.dstate});
    }
    out_ = b_.output(act, {p.batch, p.seqlen, p.nheads, p.headdim});
    final_ = b_.output(DType::float32, {p.batch, p.nheads, p.headdim, p.dstate});
    proto_.dtype = act;
    proto_.batch = static_cast<int>(p.batch), proto_.seqlen = p.seqlen;
    proto_.nheads = static_cast<int>(p.nheads), proto_.headdim = static_cast<int>(p.headdim);
    proto_.ngroups = static_cast<int>(p.ngroups), proto_.dstate = static_cast<int>(p.dstate);
    proto_.dt_softplus = p.dt_softplus;
    proto_.dt_min = static_cast<float>(p.dt_min), proto_.dt_max = static_cast<float>(p.dt_max);
    proto_.nseq = nseq > 0 ? nseq : 0;
    // The workspace lets long sequences be split between blocks; its size depends only on
    // the shape, so the args here (pointers still null) are enough to ask.
    const auto ws_floats = static_cast<std::int64_t>((chunk_scan_workspace_bytes(proto_) + 3) / 4);
    if (ws_floats > 0) workspace_ = b_.output(DType::float32, {ws_floats});
  }
  ChunkScanDeviceArgs args() const {
    auto a = proto_;
    a.x = b_.ptr(x_), a.dt = b_.ptr(dt_), a.A = b_.ptr<float>(A_), a.B = b_.ptr(B_), a.C = b_.ptr(C_);
    a.D = b_.ptr<float>(D_), a.z = b_.ptr(z_), a.dt_bias = b_.ptr<float>(bias_);
    a.initial_states = b_.ptr<float>(init_);
    a.seq_idx = b_.ptr<std::int64_t>(seq_idx_), a.cu_seqlens = b_.ptr<std::int64_t>(cu_);
    a.out = b_.ptr(out_), a.final_states = b_.ptr<float>(final_);
    a.varlen_states = b_.ptr<float>(varlen_), a.workspace = b_.ptr(workspace_);
    return a;
  }
  ChunkScanResult read() const {
    ChunkScanResult r{b_[out_].download(), b_[final_].download(), {}};
    if (varlen_ >= 0) r.varlen_states = b_[varlen_].download();
    return r;
  }

 private:
  int x_ = -1, dt_ = -1, A_ = -1, B_ = -1, C_ = -1, D_ = -1, z_ = -1, bias_ = -1, init_ = -1,
      seq_idx_ = -1, cu_ = -1, out_ = -1, final_ = -1, varlen_ = -1, workspace_ = -1;
};

}  // namespace

template <>
std::unique_ptr<BoundOp> bind_op(const ChunkScanParams& p) {
  return std::make_unique<ChunkScanBinding>(p);
}

}  // namespace ssmkit::cuda
