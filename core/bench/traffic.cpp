// The byte and FLOP floors of one call, one formula per op. Bytes: every input read once,
// every output written once, in the device backend's storage dtypes (activations `a` bytes,
// float32 parameters 4, states `s`). FLOPs: a multiply-add counts 2, exp/log/division 1.
#include "ssmkit/bench/bench_case.hpp"

#include <algorithm>
#include <cmath>

namespace ssmkit::bench {
namespace {

double act_bytes(DType input_dtype) {
  return static_cast<double>(dtype_size(input_dtype == DType::float64 ? DType::float32 : input_dtype));
}
double n_or0(const Tensor& t) { return t.defined() ? static_cast<double>(t.numel()) : 0.0; }

template <class... F>
struct Overloaded : F... {
  using F::operator()...;
};
template <class... F>
Overloaded(F...) -> Overloaded<F...>;

}  // namespace

Traffic traffic(const OpParams& op) {
  return std::visit(
      Overloaded{
          [](const CausalConv1dParams& p) {
            const double a = act_bytes(p.input_dtype), B = p.batch, D = p.dim, L = p.seqlen,
                         W = p.width;
            Traffic t;
            t.bytes = a * (B * D * L + n_or0(p.initial_states)) + 4.0 * (D * W + n_or0(p.bias)) +
                      a * (B * D * L + B * D * (W - 1) + B * D * W);
            t.flops = B * D * L * (2 * W + (p.silu ? 4 : 0));
            t.formula =
                "bytes = a*(x + initial_states) + 4*(weight + bias) + a*(out + final_states(W-1) + "
                "conv_state(W)); flops = B*D*L*(2W + 4 silu)";
            return t;
          },
          [](const CausalConv1dUpdateParams& p) {
            const double a = act_bytes(p.input_dtype), B = p.batch, D = p.dim, L = p.seqlen,
                         W = p.width, S = p.state_len;
            Traffic t;
            t.bytes = a * (B * D * L + B * D * S) + 4.0 * (D * W + n_or0(p.bias)) +
                      a * (B * D * L + B * D * S);
            t.flops = B * D * L * (2 * W + (p.silu ? 4 : 0));
            t.formula =
                "bytes = a*(x + conv_state) + 4*(weight + bias) + a*(out + conv_state); "
                "flops = B*D*L*(2W + 4 silu)";
            return t;
          },
          [](const SelectiveScanParams& p) {
            const double a = act_bytes(p.input_dtype), B = p.batch, D = p.dim, L = p.seqlen,
                         N = p.dstate, G = p.ngroups;
            Traffic t;
            t.bytes = a * (2 * B * D * L + n_or0(p.z) + 2 * B * G * N * L) +
                      4.0 * (D * N + n_or0(p.D) + n_or0(p.delta_bias)) + a * B * D * L +
                      4.0 * B * D * N;
            t.flops = B * D * L * (7 * N + 12);
            t.formula =
                "bytes = a*(u + delta + z + B + C) + 4*(A + D + delta_bias) + a*out + 4*last_state; "
                "flops = B*D*L*(7N [dt*A, exp, dt*u*B, h fma, C*h fma] + 12 [bias, softplus, D, "
                "silu gate])";
            return t;
          },
          [](const SelectiveStateUpdateParams& p) {
            const double a = act_bytes(p.input_dtype), s = static_cast<double>(dtype_size(p.state_dtype));
            const double B = p.batch, H = p.nheads, P = p.headdim, N = p.dstate, G = p.ngroups;
            const bool a_per_head = p.A.rank() == 1;
            Traffic t;
            t.bytes = 2 * s * B * H * P * N + a * (B * H * P + n_or0(p.dt) + 2 * B * G * N + n_or0(p.z)) +
                      4.0 * (n_or0(p.A) + n_or0(p.D) + n_or0(p.dt_bias)) + a * B * H * P;
            t.flops = B * H * P * (N * (a_per_head ? 4 : 6) + 12);
            t.formula =
                "bytes = 2*s*state(B,H,P,N) [read+write] + a*(x + dt + B + C + z) + 4*(A + D + "
                "dt_bias) + a*out; flops = B*H*P*(N*(4, +2 with per-element A exp) + 12)";
            return t;
          },
          [](const ChunkScanParams& p) {
            const double a = act_bytes(p.input_dtype), B = p.batch, L = p.seqlen, H = p.nheads,
                         P = p.headdim, N = p.dstate, G = p.ngroups,
                         Q = static_cast<double>(std::min(p.chunk_size, p.seqlen));
            Traffic t;
            t.bytes = a * (B * L * H * P + B * L * H + 2 * B * L * G * N + n_or0(p.z)) +
                      4.0 * (H + n_or0(p.D) + n_or0(p.dt_bias) + n_or0(p.initial_states)) +
                      a * B * L * H * P + 4.0 * B * H * P * N;
            // SSD per chunk: C.B^T per group (2QN per token), the masked intra-chunk product
            // (2QP per token and head), chunk states and their read-out (2PN each).
            t.flops = B * L * (G * 2 * Q * N + H * (2 * Q * P + 4 * P * N));
            t.formula =
                "bytes = a*(x + dt + B + C + z) + 4*(A + D + dt_bias + initial_states) + a*out + "
                "4*final_states; flops = B*L*(G*2QN + H*(2QP + 4PN)) (chunked SSD)";
            return t;
          },
          [](const GatedRmsNormParams& p) {
            const double a = act_bytes(p.input_dtype), R = p.rows, D = p.dim;
            Traffic t;
            t.bytes = a * (R * D + n_or0(p.z)) + 4.0 * (D + n_or0(p.bias)) + a * R * D;
            t.flops = R * D * (p.z.defined() ? 9 : 5);
            t.formula = "bytes = a*(x + z) + 4*(weight + bias) + a*out; flops = rows*D*(5 + 4 gate)";
            return t;
          },
          [](const LightningAttentionParams& p) {
            const double a = act_bytes(p.input_dtype), B = p.batch, H = p.nheads, L = p.seqlen,
                         K = p.key_dim, V = p.value_dim;
            Traffic t;
            t.bytes = a * B * H * L * (2 * K + V) + 4.0 * (H + n_or0(p.initial_state)) +
                      a * B * H * L * V + 4.0 * B * H * K * V;
            t.flops = B * H * L * K * V * 5;
            t.formula =
                "bytes = a*(q + k + v) + 4*(slope + initial_state) + a*out + 4*final_state; "
                "flops = B*H*L*K*V*5 (recurrent form: decay, k v^T fma, q.S fma)";
            return t;
          },
          [](const PagedKvWriteParams& p) {
            const double a = act_bytes(p.input_dtype), T = p.num_tokens,
                         row = static_cast<double>(p.kv_heads * p.head_dim);
            Traffic t;
            t.bytes = 2 * (2 * a * T * row) + 8.0 * T;
            t.formula = "bytes = a*(key + value) read + a*(their cache rows) written + 8*slot_mapping";
            return t;
          },
          [](const PagedKvGatherParams& p) {
            const double a = act_bytes(p.input_dtype), row = static_cast<double>(p.kv_heads * p.head_dim);
            double tokens = 0;
            for (auto len : p.seq_lens) tokens += static_cast<double>(len);
            Traffic t;
            t.bytes = 2 * a * tokens * row + 2 * a * static_cast<double>(p.batch * p.max_len) * row +
                      4.0 * static_cast<double>(p.block_tables.size() + p.seq_lens.size());
            t.formula =
                "bytes = a*(cached K and V rows of every sequence) read + a*(K, V (batch, max_len)) "
                "written + 4*(block_tables + seq_lens)";
            return t;
          },
          [](const MemoryCopyParams& p) {
            Traffic t;
            t.bytes = 2.0 * static_cast<double>(p.bytes);
            t.formula = "bytes = read + write of the buffer";
            return t;
          },
      },
      op);
}

int default_copies(const Traffic& traffic) {
  constexpr double kPassBytes = 256.0 * (1 << 20);
  constexpr int kMaxCopies = 64;
  const int copies = static_cast<int>(std::ceil(kPassBytes / std::max(traffic.bytes, 1.0)));
  return std::clamp(copies, 1, kMaxCopies);
}

}  // namespace ssmkit::bench
