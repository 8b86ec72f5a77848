#include "op_bindings.hpp"

namespace ssmkit::cuda {

BufferSet::BufferSet(const BufferSet& other) {
  buffers_.reserve(other.buffers_.size());
  for (const auto& b : other.buffers_) buffers_.push_back(b.clone());
}

int BufferSet::input(const Tensor& host, DType dtype) {
  buffers_.push_back(DeviceTensor::upload(host, dtype));
  return static_cast<int>(buffers_.size()) - 1;
}

int BufferSet::output(DType dtype, Shape shape) {
  DeviceTensor t(dtype, std::move(shape));
  if (t.bytes() > 0) SSMKIT_CUDA_CHECK(cudaMemset(t.data<void>(), 0xff, t.bytes()));
  buffers_.push_back(std::move(t));
  return static_cast<int>(buffers_.size()) - 1;
}

// ---- causal_conv1d -------------------------------------------------------------------

CausalConv1dBinding::CausalConv1dBinding(const CausalConv1dParams& p) {
  const DType act = activation_dtype(p.input_dtype);
  x_ = b_.input(p.x, act);
  weight_ = b_.input(p.weight, DType::float32);
  bias_ = b_.input(p.bias, DType::float32);
  init_ = b_.input(p.initial_states, act);
  out_ = b_.output(act, {p.batch, p.dim, p.seqlen});
  final_ = b_.output(act, {p.batch, p.dim, p.width - 1});
  conv_ = b_.output(act, {p.batch, p.dim, p.width});
  proto_.batch = p.batch, proto_.dim = p.dim, proto_.seqlen = p.seqlen, proto_.width = p.width;
  proto_.silu = p.silu;
  proto_.act_dtype = act;
}
CausalConv1dDeviceArgs CausalConv1dBinding::args() const {
  auto a = proto_;
  a.x = b_.ptr(x_), a.weight = b_.ptr<float>(weight_), a.bias = b_.ptr<float>(bias_);
  a.initial_states = b_.ptr(init_), a.out = b_.ptr(out_);
  a.final_states = b_.ptr(final_), a.conv_state = b_.ptr(conv_);
  return a;
}
CausalConv1dResult CausalConv1dBinding::result() const {
  return {b_[out_].download(), b_[final_].download(), b_[conv_].download()};
}

// ---- causal_conv1d_update: the window is updated in place, as engines keep it ----------

CausalConv1dUpdateBinding::CausalConv1dUpdateBinding(const CausalConv1dUpdateParams& p) {
  const DType act = activation_dtype(p.input_dtype);
  x_ = b_.input(p.x, act);
  state_ = b_.input(p.conv_state, act);
  weight_ = b_.input(p.weight, DType::float32);
  bias_ = b_.input(p.bias, DType::float32);
  out_ = b_.output(act, {p.batch, p.dim, p.seqlen});
  proto_.batch = p.batch, proto_.dim = p.dim, proto_.seqlen = p.seqlen, proto_.width = p.width;
  proto_.state_len = p.state_len, proto_.silu = p.silu, proto_.act_dtype = act;
}
CausalConv1dUpdateDeviceArgs CausalConv1dUpdateBinding::args() const {
  auto a = proto_;
  a.x = b_.ptr(x_), a.conv_state = b_.ptr(state_), a.new_state = b_.ptr(state_);
  a.weight = b_.ptr<float>(weight_), a.bias = b_.ptr<float>(bias_), a.out = b_.ptr(out_);
  return a;
}
CausalConv1dUpdateResult CausalConv1dUpdateBinding::result() const {
  return {b_[out_].download(), b_[state_].download()};
}

// ---- selective_scan ----------------------------------------------------------------------

SelectiveScanBinding::SelectiveScanBinding(const SelectiveScanParams& p) {
  const DType act = activation_dtype(p.input_dtype);
  u_ = b_.input(p.u, act);
  delta_ = b_.input(p.delta, act);
  A_ = b_.input(p.A, DType::float32);
  B_ = b_.input(p.B, act);
  C_ = b_.input(p.C, act);
  D_ = b_.input(p.D, DType::float32);
  z_ = b_.input(p.z, act);
  bias_ = b_.input(p.delta_bias, DType::float32);
  out_ = b_.output(act, {p.batch, p.dim, p.seqlen});
  last_ = b_.output(DType::float32, {p.batch, p.dim, p.dstate});
  proto_.batch = p.batch, proto_.dim = p.dim, proto_.seqlen = p.seqlen, proto_.dstate = p.dstate;
  proto_.ngroups = p.ngroups, proto_.delta_softplus = p.delta_softplus, proto_.act_dtype = act;
}
SelectiveScanDeviceArgs SelectiveScanBinding::args() const {
  auto a = proto_;
  a.u = b_.ptr(u_), a.delta = b_.ptr(delta_), a.A = b_.ptr<float>(A_);
  a.B = b_.ptr(B_), a.C = b_.ptr(C_), a.D = b_.ptr<float>(D_), a.z = b_.ptr(z_);
  a.delta_bias = b_.ptr<float>(bias_), a.out = b_.ptr(out_), a.last_state = b_.ptr<float>(last_);
  return a;
}
SelectiveScanResult SelectiveScanBinding::result() const {
  return {b_[out_].download(), b_[last_].download()};
}

// ---- selective_state_update: the state is updated in place ------------------------------

SelectiveStateUpdateBinding::SelectiveStateUpdateBinding(const SelectiveStateUpdateParams& p) {
  const DType act = activation_dtype(p.input_dtype);
  state_ = b_.input(p.state, p.state_dtype);
  x_ = b_.input(p.x, act);
  dt_ = b_.input(p.dt, act);
  A_ = b_.input(p.A, DType::float32);
  B_ = b_.input(p.B, act);
  C_ = b_.input(p.C, act);
  D_ = b_.input(p.D, DType::float32);
  z_ = b_.input(p.z, act);
  bias_ = b_.input(p.dt_bias, DType::float32);
  if (!p.state_batch_indices.empty()) {
    slots_ = b_.input(Tensor::from_vector<std::int64_t>({p.batch}, p.state_batch_indices),
                      DType::int64);
  }
  out_ = b_.output(act, {p.batch, p.nheads, p.headdim});
  proto_.batch = p.batch, proto_.nheads = p.nheads, proto_.headdim = p.headdim;
  proto_.dstate = p.dstate, proto_.ngroups = p.ngroups, proto_.pad_slot_id = p.pad_slot_id;
  proto_.dt_per_head = p.dt.rank() == 2;
  proto_.a_per_head = p.A.rank() == 1;
  proto_.d_per_head = p.D.defined() && p.D.rank() == 1;
  proto_.dt_bias_per_head = p.dt_bias.defined() && p.dt_bias.rank() == 1;
  proto_.dt_softplus = p.dt_softplus, proto_.act_dtype = act, proto_.state_dtype = p.state_dtype;
}
SelectiveStateUpdateDeviceArgs SelectiveStateUpdateBinding::args() const {
  auto a = proto_;
  a.state = b_.ptr(state_), a.x = b_.ptr(x_), a.dt = b_.ptr(dt_), a.A = b_.ptr<float>(A_);
  a.B = b_.ptr(B_), a.C = b_.ptr(C_), a.D = b_.ptr<float>(D_), a.z = b_.ptr(z_);
  a.dt_bias = b_.ptr<float>(bias_), a.out = b_.ptr(out_);
  a.state_batch_indices = slots_ >= 0 ? b_.ptr<std::int64_t>(slots_) : nullptr;
  return a;
}
SelectiveStateUpdateResult SelectiveStateUpdateBinding::result() const {
  return {b_[out_].download(), b_[state_].download()};
}

// ---- gated_rmsnorm -------------------------------------------------------------------------

GatedRmsNormBinding::GatedRmsNormBinding(const GatedRmsNormParams& p) {
  const DType act = activation_dtype(p.input_dtype);
  x_ = b_.input(p.x, act);
  z_ = b_.input(p.z, act);
  weight_ = b_.input(p.weight, DType::float32);
  bias_ = b_.input(p.bias, DType::float32);
  out_ = b_.output(act, {p.rows, p.dim});
  proto_.rows = p.rows, proto_.dim = p.dim, proto_.group_size = p.group_size;
  proto_.eps = static_cast<float>(p.eps), proto_.norm_before_gate = p.norm_before_gate;
  proto_.act_dtype = act;
}
GatedRmsNormDeviceArgs GatedRmsNormBinding::args() const {
  auto a = proto_;
  a.x = b_.ptr(x_), a.z = b_.ptr(z_), a.weight = b_.ptr<float>(weight_);
  a.bias = b_.ptr<float>(bias_), a.out = b_.ptr(out_);
  return a;
}
GatedRmsNormResult GatedRmsNormBinding::result() const { return {b_[out_].download()}; }

// ---- lightning_attention -------------------------------------------------------------------

LightningAttentionBinding::LightningAttentionBinding(const LightningAttentionParams& p) {
  const DType act = activation_dtype(p.input_dtype);
  q_ = b_.input(p.q, act);
  k_ = b_.input(p.k, act);
  v_ = b_.input(p.v, act);
  slope_ = b_.input(p.slope, DType::float32);
  init_ = b_.input(p.initial_state, DType::float32);
  out_ = b_.output(act, {p.batch, p.nheads, p.seqlen, p.value_dim});
  final_ = b_.output(DType::float32, {p.batch, p.nheads, p.key_dim, p.value_dim});
  proto_.batch = p.batch, proto_.nheads = p.nheads, proto_.seqlen = p.seqlen;
  proto_.key_dim = p.key_dim, proto_.value_dim = p.value_dim, proto_.act_dtype = act;
}
LightningAttentionDeviceArgs LightningAttentionBinding::args() const {
  auto a = proto_;
  a.q = b_.ptr(q_), a.k = b_.ptr(k_), a.v = b_.ptr(v_), a.slope = b_.ptr<float>(slope_);
  a.initial_state = b_.ptr<float>(init_), a.out = b_.ptr(out_);
  a.final_state = b_.ptr<float>(final_);
  return a;
}
LightningAttentionResult LightningAttentionBinding::result() const {
  return {b_[out_].download(), b_[final_].download()};
}

// ---- mamba_chunk_scan_combined -----------------------------------------------------------

ChunkScanBinding::ChunkScanBinding(const ChunkScanParams& p) {
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
    cu_ = b_.input(Tensor::from_vector<std::int64_t>({nseq + 1}, p.cu_seqlens), DType::int64);
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
ChunkScanDeviceArgs ChunkScanBinding::args() const {
  auto a = proto_;
  a.x = b_.ptr(x_), a.dt = b_.ptr(dt_), a.A = b_.ptr<float>(A_), a.B = b_.ptr(B_), a.C = b_.ptr(C_);
  a.D = b_.ptr<float>(D_), a.z = b_.ptr(z_), a.dt_bias = b_.ptr<float>(bias_);
  a.initial_states = b_.ptr<float>(init_);
  a.seq_idx = seq_idx_ >= 0 ? b_.ptr<std::int64_t>(seq_idx_) : nullptr;
  a.cu_seqlens = cu_ >= 0 ? b_.ptr<std::int64_t>(cu_) : nullptr;
  a.out = b_.ptr(out_), a.final_states = b_.ptr<float>(final_);
  a.varlen_states = varlen_ >= 0 ? b_.ptr<float>(varlen_) : nullptr;
  a.workspace = workspace_ >= 0 ? b_.ptr(workspace_) : nullptr;
  return a;
}
ChunkScanResult ChunkScanBinding::result() const {
  ChunkScanResult r{b_[out_].download(), b_[final_].download(), {}};
  if (varlen_ >= 0) r.varlen_states = b_[varlen_].download();
  return r;
}

// ---- paged KV ------------------------------------------------------------------------------

namespace {
Tensor indices(std::vector<std::int64_t> v) {
  const auto n = static_cast<std::int64_t>(v.size());
  return Tensor::from_vector<std::int64_t>({n}, v);
}
}  // namespace

PagedKvWriteBinding::PagedKvWriteBinding(const PagedKvWriteParams& p) {
  check_paged_kv_write(p, "paged_kv_write");
  const DType act = activation_dtype(p.input_dtype);
  key_ = b_.input(p.key, act);
  value_ = b_.input(p.value, act);
  key_cache_ = b_.input(p.key_cache, act);
  value_cache_ = b_.input(p.value_cache, act);
  slots_ = b_.input(indices(p.slot_mapping), DType::int64);
  proto_.num_tokens = p.num_tokens, proto_.num_slots = p.num_pages * p.page_size;
  proto_.row_elements = p.kv_heads * p.head_dim, proto_.dtype = act;
}
PagedKvWriteDeviceArgs PagedKvWriteBinding::args() const {
  auto a = proto_;
  a.key = b_.ptr(key_), a.value = b_.ptr(value_), a.key_cache = b_.ptr(key_cache_);
  a.value_cache = b_.ptr(value_cache_), a.slot_mapping = b_.ptr<std::int64_t>(slots_);
  return a;
}
PagedKvWriteResult PagedKvWriteBinding::result() const {
  return {b_[key_cache_].download(), b_[value_cache_].download()};
}

PagedKvGatherBinding::PagedKvGatherBinding(const PagedKvGatherParams& p) {
  check_paged_kv_gather(p, "paged_kv_gather");
  const DType act = activation_dtype(p.input_dtype);
  key_cache_ = b_.input(p.key_cache, act);
  value_cache_ = b_.input(p.value_cache, act);
  // vLLM's int32 tables; entries past a sequence's pages are never read, clamp them to -1.
  std::vector<std::int64_t> tables = p.block_tables;
  for (auto& page : tables) {
    if (page < 0 || page >= p.num_pages) page = -1;
  }
  tables_ = b_.input(indices(tables), DType::int32);
  lens_ = b_.input(indices(p.seq_lens), DType::int32);
  key_ = b_.output(act, {p.batch, p.max_len, p.kv_heads, p.head_dim});
  value_ = b_.output(act, {p.batch, p.max_len, p.kv_heads, p.head_dim});
  proto_.batch = p.batch, proto_.max_len = p.max_len, proto_.max_pages_per_seq = p.max_pages_per_seq;
  proto_.num_pages = p.num_pages, proto_.page_size = p.page_size;
  proto_.row_elements = p.kv_heads * p.head_dim, proto_.dtype = act;
}
PagedKvGatherDeviceArgs PagedKvGatherBinding::args() const {
  auto a = proto_;
  a.key_cache = b_.ptr(key_cache_), a.value_cache = b_.ptr(value_cache_);
  a.block_tables = b_.ptr<std::int32_t>(tables_), a.seq_lens = b_.ptr<std::int32_t>(lens_);
  a.key = b_.ptr(key_), a.value = b_.ptr(value_);
  return a;
}
PagedKvGatherResult PagedKvGatherBinding::result() const {
  return {b_[key_].download(), b_[value_].download()};
}

// ---- memory copy -----------------------------------------------------------------------

MemoryCopyBinding::MemoryCopyBinding(const MemoryCopyParams& p)
    : bytes_(p.bytes), src_(DType::float32, {p.bytes / 4}), dst_(DType::float32, {p.bytes / 4}) {
  if (src_.bytes() > 0) SSMKIT_CUDA_CHECK(cudaMemset(src_.data<void>(), 0x3c, src_.bytes()));
}
void MemoryCopyBinding::launch(cudaStream_t s) const {
  SSMKIT_CUDA_CHECK(cudaMemcpyAsync(dst_.data<void>(), src_.data<void>(), src_.bytes(),
                                    cudaMemcpyDeviceToDevice, s));
}

}  // namespace ssmkit::cuda
