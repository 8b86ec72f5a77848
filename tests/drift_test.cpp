// `drift`: the stored state's error against float64, stochastic rounding, and the command's
// reports and input errors. Expected values come from the rounding error analysis written
// out below and from an independent float64 recurrence in this file.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>

#include "backends.hpp"
#include "cli_util.hpp"
#include "ssmkit/drift/drift.hpp"
#include "ssmkit/hdf5_file.hpp"
#include "ssmkit/model/model_spec.hpp"
#include "test_util.hpp"

namespace ssmkit {
namespace {

using test::quoted;
using test::run_ssmkit;

std::string read_text(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// ---- stochastic rounding -----------------------------------------------------------------

TEST(DriftRounding, BracketsAreTheNeighboursInTheFormat) {
  // 1 + 0.3 * 2^-7 lies between bfloat16's 1 and 1 + 2^-7 (8 significand bits), and between
  // float16's 1 + 2^-10 * k neighbours k = 2 and 3 (0.3 * 2^-7 = 2.4 * 2^-10).
  const double v = 1.0 + 0.3 * std::ldexp(1.0, -7);
  const Bracket bf = bracket_in_dtype(v, DType::bfloat16);
  EXPECT_EQ(bf.lo, 1.0);
  EXPECT_EQ(bf.hi, 1.0 + std::ldexp(1.0, -7));
  const Bracket h = bracket_in_dtype(v, DType::float16);
  EXPECT_EQ(h.lo, 1.0 + 2 * std::ldexp(1.0, -10));
  EXPECT_EQ(h.hi, 1.0 + 3 * std::ldexp(1.0, -10));
  // Negative values and float16's subnormals (spacing 2^-24 below 2^-14).
  const Bracket n = bracket_in_dtype(-v, DType::bfloat16);
  EXPECT_EQ(n.lo, -1.0 - std::ldexp(1.0, -7));
  EXPECT_EQ(n.hi, -1.0);
  const Bracket sub = bracket_in_dtype(2.5 * std::ldexp(1.0, -24), DType::float16);
  EXPECT_EQ(sub.lo, 2 * std::ldexp(1.0, -24));
  EXPECT_EQ(sub.hi, 3 * std::ldexp(1.0, -24));
  EXPECT_EQ(bracket_in_dtype(0.75, DType::bfloat16).lo, 0.75);
  EXPECT_EQ(bracket_in_dtype(0.75, DType::bfloat16).hi, 0.75);
}

TEST(DriftRounding, StochasticRoundingIsUnbiased) {
  // v sits 0.3 of the way from lo to hi: it must round up with probability 0.3. With
  // n = 200000 draws the count's standard deviation is sqrt(n * 0.3 * 0.7) = 205.
  const double lo = 1.0, hi = 1.0 + std::ldexp(1.0, -7);
  const double v = lo + 0.3 * (hi - lo);
  UniformStream draws(7);
  const int n = 200000;
  int up = 0;
  for (int i = 0; i < n; ++i) {
    const double r = round_stochastic(v, DType::bfloat16, draws.next());
    ASSERT_TRUE(r == lo || r == hi) << r;
    up += r == hi;
  }
  EXPECT_NEAR(up, 0.3 * n, 5 * 205);
  EXPECT_EQ(round_stochastic(0.75, DType::float16, 0.999), 0.75) << "representable stays put";
  EXPECT_TRUE(std::isinf(round_stochastic(1e6, DType::float16, 0.0))) << "beyond 65504: overflow";
}

// ---- the acceptance test: float32's error bound and bfloat16's order ------------------------

constexpr std::int64_t kBatch = 2, kHeads = 2, kHeadDim = 16, kDState = 16;
constexpr std::int64_t kPrefill = 50, kSteps = 1000;
constexpr double kDt[kHeads] = {0.01, 0.003};
constexpr double kA[kHeads] = {-1.0, -2.0};

double to_f32(double v) { return static_cast<double>(static_cast<float>(v)); }
double inverse_softplus(double y) { return y + std::log(-std::expm1(-y)); }
double softplus(double v) { return std::log1p(std::exp(v)); }

// Inputs uniform in [-1, 1], float32 values, drawn once for every step.
struct TestTrace {
  std::vector<Tensor> x, B, C;
};
TestTrace make_trace(std::int64_t steps) {
  std::mt19937 rng(1234);
  std::uniform_real_distribution<double> u(-1.0, 1.0);
  auto draw = [&](Shape s) {
    Tensor t(DType::float64, std::move(s));
    for (auto& v : t.span<double>()) v = to_f32(u(rng));
    return t;
  };
  TestTrace t;
  for (std::int64_t i = 0; i < steps; ++i) {
    t.x.push_back(draw({kBatch, kHeads, kHeadDim}));
    t.B.push_back(draw({kBatch, 1, kDState}));
    t.C.push_back(draw({kBatch, 1, kDState}));
  }
  return t;
}

DriftLayer test_layer(const std::shared_ptr<TestTrace>& trace) {
  DriftLayer l;
  l.kind = LayerKind::mamba2;
  l.description = "test layer";
  l.batch = kBatch, l.nheads = kHeads, l.headdim = kHeadDim, l.dstate = kDState, l.ngroups = 1;
  l.A = Tensor::from_vector<double>({kHeads}, {kA[0], kA[1]});
  l.dt_bias = Tensor::from_vector<double>({kHeads}, {to_f32(inverse_softplus(kDt[0])),
                                                     to_f32(inverse_softplus(kDt[1]))});
  l.D = Tensor::from_vector<double>({kHeads}, {1.0, 1.0});
  l.prefill_steps = kPrefill;
  l.available_steps = static_cast<std::int64_t>(trace->x.size());
  l.inputs = [trace](std::int64_t t, DriftStepInputs& in) {
    in.x = trace->x[t], in.B = trace->B[t], in.C = trace->C[t];
    in.dt = Tensor(DType::float64, {kBatch, kHeads});
  };
  return l;
}

// The largest |h| the exact recurrence reaches, h <- exp(dt A) h + dt B x, written here
// independently of the code under test.
double largest_state(const TestTrace& trace, const Tensor& dt_bias) {
  std::vector<double> h(kBatch * kHeads * kHeadDim * kDState, 0.0);
  double largest = 0;
  for (std::size_t t = 0; t < trace.x.size(); ++t) {
    const auto x = trace.x[t].span<double>(), B = trace.B[t].span<double>();
    for (std::int64_t b = 0; b < kBatch; ++b) {
      for (std::int64_t hd = 0; hd < kHeads; ++hd) {
        const double dt = softplus(dt_bias.span<double>()[hd]);
        const double decay = std::exp(dt * kA[hd]);
        for (std::int64_t p = 0; p < kHeadDim; ++p) {
          for (std::int64_t n = 0; n < kDState; ++n) {
            double& s = h[((b * kHeads + hd) * kHeadDim + p) * kDState + n];
            s = decay * s + dt * B[b * kDState + n] * x[(b * kHeads + hd) * kHeadDim + p];
            largest = std::max(largest, std::fabs(s));
          }
        }
      }
    }
  }
  return largest;
}

const DriftPoint& at_step(const DriftLane& lane, std::int64_t step) {
  for (const DriftPoint& p : lane.points) {
    if (p.step == step) return p;
  }
  throw std::runtime_error("no point at step " + std::to_string(step));
}

TEST(DriftAcceptance, Float32ErrorBoundAndBfloat16Order) {
  auto trace = std::make_shared<TestTrace>(make_trace(kPrefill + kSteps));
  const DriftLayer layer = test_layer(trace);
  auto cpu = make_backend("cpu");
  auto reference = make_backend("cpu");
  DriftOptions options;
  options.checkpoints = {100, kSteps};
  options.state_dtypes = {DType::float32, DType::bfloat16, DType::float16};
  const DriftLayerResult r = run_drift(*cpu, *reference, layer, options);
  ASSERT_EQ(r.lanes.size(), 3u);
  const DriftLane& f32 = r.lanes[0];
  const DriftLane& bf16 = r.lanes[1];
  const DriftLane& f16 = r.lanes[2];

  // The bound. The CPU backend computes each step in float64 (relative error ~2^-53, left
  // out below and covered by the 1% slack), and the host stores the result in float32 with
  // rounding to nearest: h~_t = (a h~_{t-1} + b_t)(1 + d_t), |d_t| <= u = 2^-24, and the
  // prefill's state is stored the same way (d_0). The error e_t = h~_t - h_t then obeys
  //   e_t = a e_{t-1} + d_t (a h~_{t-1} + b_t),  so  |e_t| <= rho |e_{t-1}| + u M,
  // with rho = max exp(dt A) < 1 the slowest decay and M = max |h| over the run, giving
  //   |e_t| <= u M (1 + rho + ... + rho^t) <= u M min(t + 1, 1 / (1 - rho)).
  // With decay the error is bounded by u M / (1 - rho) whatever the number of steps; without
  // decay (rho = 1) the same sum grows like u M t in the worst case (and like u M sqrt(t) for
  // independent rounding errors). Here rho = exp(-0.003 * 2) or exp(-0.01), whichever is
  // larger: the bound is the decaying one, about 167 u M.
  const double u = std::ldexp(1.0, -24);
  const double rho = std::max(std::exp(softplus(layer.dt_bias.span<double>()[0]) * kA[0]),
                              std::exp(softplus(layer.dt_bias.span<double>()[1]) * kA[1]));
  const double M = largest_state(*trace, layer.dt_bias);
  const double bound = 1.01 * u * M * std::min(static_cast<double>(kSteps + 1), 1.0 / (1.0 - rho));
  const DriftPoint& f32_end = at_step(f32, kSteps);
  EXPECT_GT(f32_end.error.state_max_abs, 0.0) << "the float32 state must differ from float64";
  EXPECT_LE(f32_end.error.state_max_abs, bound) << "M " << M << ", rho " << rho;

  // The order. Both states carry the same linear propagation of independent per-step
  // rounding errors, each a uniform fraction of one unit in the last place, and a unit is
  // 2^-8 relative in bfloat16 (8 significand bits), 2^-11 in float16 and 2^-24 in float32:
  // the relative L2 errors stand in the ratio 2^16 (bfloat16 : float32) and 2^13
  // (float16 : float32), up to the sampling spread over the 2048 state elements; the band
  // is a factor of two either way.
  const double e32 = f32_end.error.state_rel_l2;
  const double ratio_bf16 = at_step(bf16, kSteps).error.state_rel_l2 / e32;
  const double ratio_f16 = at_step(f16, kSteps).error.state_rel_l2 / e32;
  EXPECT_GT(ratio_bf16, std::ldexp(1.0, 15));
  EXPECT_LT(ratio_bf16, std::ldexp(1.0, 17));
  EXPECT_GT(ratio_f16, std::ldexp(1.0, 12));
  EXPECT_LT(ratio_f16, std::ldexp(1.0, 14));

  // On the CPU backend every dtype is stored by the host (the kernel returns float64).
  EXPECT_GT(f32.host_rounded_values, 0);
  EXPECT_NE(f32.storage_path("cpu").find("the host stores it in float32"), std::string::npos);
  // Decay bounds the error: from step 100 to 1000 it may not grow like a random walk.
  EXPECT_EQ(f32.verdict(), "bounded") << *f32.growth_exponent;
}

TEST(DriftAcceptance, StochasticRoundingHappensOnTheHostFor16BitStatesOnly) {
  auto trace = std::make_shared<TestTrace>(make_trace(kPrefill + 200));
  const DriftLayer layer = test_layer(trace);
  auto cpu = make_backend("cpu");
  DriftOptions options;
  options.checkpoints = {200};
  options.state_dtypes = {DType::float32, DType::bfloat16};
  const DriftLayerResult nearest = run_drift(*cpu, *cpu, layer, options);
  options.rounding = StateRounding::stochastic;
  const DriftLayerResult stochastic = run_drift(*cpu, *cpu, layer, options);
  EXPECT_EQ(stochastic.lanes[0].rounding, StateRounding::nearest) << "float32 rounds to nearest";
  EXPECT_EQ(stochastic.lanes[1].rounding, StateRounding::stochastic);
  EXPECT_EQ(stochastic.lanes[1].kernel_state_dtype, DType::float32)
      << "the kernel must hand back a wider state for the host to round";
  EXPECT_NE(stochastic.lanes[1].storage_path("cpu").find("rounding to stochastic"), std::string::npos);
  EXPECT_GT(stochastic.lanes[1].host_rounded_values, 0);
  // An unbiased rounding's error per store has variance ulp^2 / 6 against nearest's ulp^2
  // / 12: sqrt(2) times the error, propagated the same way.
  const double ratio = at_step(stochastic.lanes[1], 200).error.state_rel_l2 /
                       at_step(nearest.lanes[1], 200).error.state_rel_l2;
  EXPECT_GT(ratio, 1.0);
  EXPECT_LT(ratio, 2.5);
  EXPECT_EQ(drift_sample_steps({200}), (std::vector<std::int64_t>{1, 2, 5, 10, 20, 50, 100, 200}));
}

// ---- Gated DeltaNet and KDA: the same bound through the delta rule ---------------------------

// A delta-rule layer of batch 2, two value heads (one q/k head each), K = V = 16, whose
// decays are fixed per head (GDN) or per key channel (KDA) so that the bound below has a
// constant rate.
constexpr std::int64_t kDeltaBatch = 2, kDeltaHeads = 2, kDeltaK = 16, kDeltaV = 16;
constexpr std::int64_t kDeltaPrefill = 50, kDeltaSteps = 1000;

// The per-step decay of head h, key channel i: 0.99 and 0.995 per head for GDN; for KDA
// from 0.9 up to the head's rate over the key channels.
double delta_decay(bool kda, std::int64_t h, std::int64_t i) {
  const double head = h == 0 ? 0.99 : 0.995;
  return kda ? 0.9 + (head - 0.9) * static_cast<double>(i) / (kDeltaK - 1) : head;
}

struct DeltaTrace {
  std::vector<Tensor> q, k, v, beta;
  Tensor g;  // the same every step: (batch, 1, heads) or (batch, 1, heads, K)
};
DeltaTrace make_delta_trace(bool kda, std::int64_t steps) {
  std::mt19937 rng(4321);
  std::uniform_real_distribution<double> u(-1.0, 1.0), b(0.1, 0.9);
  auto draw = [&](Shape s, auto& dist) {
    Tensor t(DType::float64, std::move(s));
    for (auto& v : t.span<double>()) v = to_f32(dist(rng));
    return t;
  };
  DeltaTrace t;
  for (std::int64_t i = 0; i < steps; ++i) {
    t.q.push_back(draw({kDeltaBatch, 1, kDeltaHeads, kDeltaK}, u));
    t.k.push_back(draw({kDeltaBatch, 1, kDeltaHeads, kDeltaK}, u));
    t.v.push_back(draw({kDeltaBatch, 1, kDeltaHeads, kDeltaV}, u));
    t.beta.push_back(draw({kDeltaBatch, 1, kDeltaHeads}, b));
  }
  t.g = kda ? Tensor(DType::float64, {kDeltaBatch, 1, kDeltaHeads, kDeltaK})
            : Tensor(DType::float64, {kDeltaBatch, 1, kDeltaHeads});
  auto g = t.g.span<double>();
  const std::int64_t per = kda ? kDeltaK : 1;
  for (std::size_t i = 0; i < g.size(); ++i) {
    const auto h = static_cast<std::int64_t>(i) / per % kDeltaHeads, c = static_cast<std::int64_t>(i) % per;
    g[i] = to_f32(std::log(delta_decay(kda, h, c)));
  }
  return t;
}

DriftLayer delta_test_layer(bool kda, const std::shared_ptr<DeltaTrace>& trace) {
  DriftLayer l;
  l.kind = kda ? LayerKind::kda : LayerKind::gated_delta_net;
  l.description = "test layer";
  l.batch = kDeltaBatch, l.nheads = kDeltaHeads, l.v_heads = kDeltaHeads;
  l.key_dim = kDeltaK, l.value_dim = kDeltaV, l.scale = 0.25;
  l.prefill_steps = kDeltaPrefill;
  l.available_steps = static_cast<std::int64_t>(trace->q.size());
  l.inputs = [trace](std::int64_t t, DriftStepInputs& in) {
    in.q = trace->q[t], in.k = trace->k[t], in.v = trace->v[t], in.beta = trace->beta[t];
    in.g = trace->g;
  };
  return l;
}

// The exact recurrence, written here from the op's definition: per row and head, k and q
// divided by sqrt(|x|^2 + 1e-6); S <- diag(exp g) S; S <- S + beta k (v - S^T k)^T.
// Returns ||S_t||_F over the whole state after the prefill (t = 0) and every decode step.
std::vector<double> delta_state_norms(bool kda, const DeltaTrace& trace) {
  std::vector<double> S(kDeltaBatch * kDeltaHeads * kDeltaK * kDeltaV, 0.0), norms;
  const auto g = trace.g.span<double>();
  for (std::size_t t = 0; t < trace.q.size(); ++t) {
    const auto k = trace.k[t].span<double>(), v = trace.v[t].span<double>();
    const auto beta = trace.beta[t].span<double>();
    for (std::int64_t b = 0; b < kDeltaBatch; ++b) {
      for (std::int64_t h = 0; h < kDeltaHeads; ++h) {
        const std::int64_t bh = b * kDeltaHeads + h;
        double kk = 0;
        for (std::int64_t i = 0; i < kDeltaK; ++i) kk += k[bh * kDeltaK + i] * k[bh * kDeltaK + i];
        std::vector<double> kn(kDeltaK);
        for (std::int64_t i = 0; i < kDeltaK; ++i) kn[i] = k[bh * kDeltaK + i] / std::sqrt(kk + 1e-6);
        double* s = &S[bh * kDeltaK * kDeltaV];
        for (std::int64_t i = 0; i < kDeltaK; ++i) {
          const double decay = std::exp(kda ? g[bh * kDeltaK + i] : g[bh]);
          for (std::int64_t c = 0; c < kDeltaV; ++c) s[i * kDeltaV + c] *= decay;
        }
        for (std::int64_t c = 0; c < kDeltaV; ++c) {
          double sk = 0;
          for (std::int64_t i = 0; i < kDeltaK; ++i) sk += s[i * kDeltaV + c] * kn[i];
          const double delta = beta[bh] * (v[bh * kDeltaV + c] - sk);
          for (std::int64_t i = 0; i < kDeltaK; ++i) s[i * kDeltaV + c] += kn[i] * delta;
        }
      }
    }
    if (static_cast<std::int64_t>(t) + 1 >= kDeltaPrefill) {
      double sum2 = 0;
      for (const double x : S) sum2 += x * x;
      norms.push_back(std::sqrt(sum2));
    }
  }
  return norms;
}

void expect_delta_rule_bound(bool kda) {
  auto trace = std::make_shared<DeltaTrace>(make_delta_trace(kda, kDeltaPrefill + kDeltaSteps));
  const DriftLayer layer = delta_test_layer(kda, trace);
  auto cpu = make_backend("cpu");
  DriftOptions options;
  options.checkpoints = {100, kDeltaSteps};
  options.state_dtypes = {DType::float32, DType::bfloat16};
  const DriftLayerResult r = run_drift(*cpu, *cpu, layer, options);
  ASSERT_EQ(r.lanes.size(), 2u);
  EXPECT_EQ(r.state_elements, kDeltaBatch * kDeltaHeads * kDeltaK * kDeltaV);

  // The bound, in the Frobenius norm over the whole state. One step maps a (row, head)
  // block to S' = P D S + beta k v^T with D = diag(exp g) and P = I - beta k k^T: with
  // |k| <= 1 (L2-normalised) and 0 < beta < 1, P's eigenvalues are 1 - beta |k|^2 in [0, 1]
  // and 1, so ||P D E||_F <= rho ||E||_F with rho = max exp(g), the slowest decay. The CPU
  // backend computes the step in float64 (error ~2^-53, in the 1% slack) and the host stores
  // it in float32: S~_t = S'(S~_{t-1}) + R_t with ||R_t||_F <= u ||S'(S~_{t-1})||_F, u = 2^-24,
  // and the prefill's state is stored the same way. The error E_t = S~_t - S_t obeys
  //   E_t = P_t D E_{t-1} + R_t,  ||E_t||_F <= rho ||E_{t-1}||_F + u M,
  // M = max_t ||S_t||_F (to first order in u), so ||E_N||_F <= u M min(N + 1, 1 / (1 - rho)).
  // rho is 0.995 (head 1; for KDA its last key channel): the bound is about 200 u M.
  const std::vector<double> norms = delta_state_norms(kda, *trace);
  ASSERT_EQ(norms.size(), static_cast<std::size_t>(kDeltaSteps + 1));
  const double u = std::ldexp(1.0, -24);
  const double rho = std::exp(to_f32(std::log(0.995)));
  const double M = *std::max_element(norms.begin(), norms.end());
  const double bound = 1.01 * u * M * std::min(static_cast<double>(kDeltaSteps + 1), 1.0 / (1.0 - rho));
  const double err32 = at_step(r.lanes[0], kDeltaSteps).error.state_rel_l2 * norms.back();
  EXPECT_GT(err32, 0.0) << "the float32 state must differ from float64";
  EXPECT_LE(err32, bound) << "M " << M << ", rho " << rho;

  // The order: the same linear propagation of independent roundings, each a uniform
  // fraction of a unit in the last place, 2^-8 relative in bfloat16 against 2^-24: the
  // ratio of the relative errors is 2^16, within a factor of two for the 1024 elements.
  const double ratio = at_step(r.lanes[1], kDeltaSteps).error.state_rel_l2 /
                       at_step(r.lanes[0], kDeltaSteps).error.state_rel_l2;
  EXPECT_GT(ratio, std::ldexp(1.0, 15));
  EXPECT_LT(ratio, std::ldexp(1.0, 17));
  // The delta-rule kernels keep float32 or bfloat16 states: both are asked of the kernel.
  EXPECT_EQ(r.lanes[0].kernel_state_dtype, DType::float32);
  EXPECT_EQ(r.lanes[1].kernel_state_dtype, DType::bfloat16);
}

TEST(DriftDeltaRule, GatedDeltaNetFloat32BoundAndBfloat16Order) { expect_delta_rule_bound(false); }
TEST(DriftDeltaRule, KdaFloat32BoundAndBfloat16Order) { expect_delta_rule_bound(true); }

TEST(DriftDeltaRule, Float16StateIsKeptInFloat32AndRoundedByTheHost) {
  auto trace = std::make_shared<DeltaTrace>(make_delta_trace(false, kDeltaPrefill + 20));
  auto cpu = make_backend("cpu");
  DriftOptions options;
  options.checkpoints = {20};
  options.state_dtypes = {DType::float16};
  const DriftLayerResult r = run_drift(*cpu, *cpu, delta_test_layer(false, trace), options);
  EXPECT_EQ(r.lanes[0].kernel_state_dtype, DType::float32) << "the op has no float16 state";
  EXPECT_GT(r.lanes[0].host_rounded_values, 0);
  EXPECT_NE(r.lanes[0].storage_path("cpu").find("the host stores it in float16"), std::string::npos);
}

// The synthetic delta-rule layers: shapes from the presets, and a stated slowest decay that
// is the geometric mean decay of the inputs. E[softplus(a)] for a ~ N(0, 1) is 0.8060592
// and E[softplus(a + 1)] is 1.4068563 (quadrature done outside this code).
double mean_log_decay_of_head0(const DriftLayer& l, std::int64_t steps) {
  const bool kda = l.kind == LayerKind::kda;
  double sum = 0;
  std::int64_t n = 0;
  DriftStepInputs in;
  for (std::int64_t t = 0; t < steps; ++t) {
    l.inputs(t, in);
    const auto g = in.g.span<double>();
    const std::int64_t per_row = kda ? l.v_heads * l.key_dim : l.v_heads;
    for (std::int64_t b = 0; b < l.batch; ++b) {
      for (std::int64_t i = 0; i < (kda ? l.key_dim : 1); ++i) {
        EXPECT_LE(g[b * per_row + i], 0.0);
        sum += g[b * per_row + i], ++n;
      }
    }
    for (const double beta : in.beta.span<double>()) {
      EXPECT_GT(beta, 0.0);
      EXPECT_LT(beta, 1.0);
    }
  }
  return sum / static_cast<double>(n);
}

TEST(DriftDeltaRule, SyntheticLayersFollowTheInits) {
  SyntheticInputOptions o;
  o.heads = 0;
  const DriftLayer kimi = synthetic_drift_layer(model_preset("Kimi-Linear-48B-A3B"), LayerKind::kda, o);
  EXPECT_EQ(kimi.nheads, 32);
  EXPECT_EQ(kimi.v_heads, 32);
  EXPECT_EQ(kimi.key_dim, 128);
  EXPECT_DOUBLE_EQ(kimi.scale, 1.0 / std::sqrt(128.0));
  EXPECT_EQ(kimi.state_shape(), (Shape{4, 32, 128, 128}));
  // A = exp(A_log) in [1, 16]: every head's decay exp(-A * 0.8060592) lies in between.
  EXPECT_LE(kimi.slowest_decay, std::exp(-0.8060592) * (1 + 1e-6));
  EXPECT_GE(kimi.slowest_decay, std::exp(-16 * 0.8060592));
  // 200 steps x 4 rows x 128 channels of softplus(N(0, 1)) (sd 0.52): the sample mean of g
  // is within 1% of E[g] = log(slowest_decay) at several standard errors.
  EXPECT_NEAR(mean_log_decay_of_head0(kimi, 200) / std::log(kimi.slowest_decay), 1.0, 0.01);

  const ModelSpec qwen = model_preset("Qwen3-Next-80B-A3B");
  const DriftLayer all = synthetic_drift_layer(qwen, LayerKind::gated_delta_net, o);
  EXPECT_EQ(all.nheads, 16) << "all heads keep the model's 32 value heads on 16 q/k heads";
  EXPECT_EQ(all.v_heads, 32);
  EXPECT_GE(all.slowest_decay, std::exp(-16 * 1.4068563));
  EXPECT_LT(all.slowest_decay, 1.0);
  o.heads = 2;
  const DriftLayer two = synthetic_drift_layer(qwen, LayerKind::gated_delta_net, o);
  EXPECT_EQ(two.nheads, 2) << "a subset gives every value head its own q/k head";
  EXPECT_EQ(two.v_heads, 2);
  EXPECT_EQ(two.slowest_decay, all.slowest_decay) << "the subset keeps the slowest heads";
  // 3000 steps x 4 rows of softplus(N(1, 1)) (sd 0.71): within 3%, six standard errors.
  EXPECT_NEAR(mean_log_decay_of_head0(two, 3000) / std::log(two.slowest_decay), 1.0, 0.03);
}

// The reference's batch rows run as separate calls on the workers: every thread count must
// give the one-call result, bit for bit, because no op sums across rows.
TEST(DriftThreads, ResultsDoNotDependOnTheThreadCount) {
  auto trace = std::make_shared<TestTrace>(make_trace(kPrefill + 30));
  const DriftLayer layer = test_layer(trace);
  auto cpu = make_backend("cpu");
  DriftOptions options;
  options.checkpoints = {10, 30};
  options.state_dtypes = {DType::float32, DType::bfloat16};
  options.rounding = StateRounding::stochastic;
  options.threads = 1;
  const DriftLayerResult one = run_drift(*cpu, *cpu, layer, options);
  for (const std::int64_t threads : {2, 3, 8}) {
    for (const bool reentrant : {false, true}) {
      options.threads = threads;
      options.reentrant_backend = reentrant;
      const DriftLayerResult many = run_drift(*cpu, *cpu, layer, options);
      ASSERT_EQ(many.lanes.size(), one.lanes.size());
      EXPECT_EQ(many.reference_state_rms, one.reference_state_rms) << threads;
      for (std::size_t i = 0; i < one.lanes.size(); ++i) {
        ASSERT_EQ(many.lanes[i].points.size(), one.lanes[i].points.size());
        EXPECT_EQ(many.lanes[i].host_rounded_values, one.lanes[i].host_rounded_values);
        for (std::size_t p = 0; p < one.lanes[i].points.size(); ++p) {
          const DriftError& a = one.lanes[i].points[p].error;
          const DriftError& b = many.lanes[i].points[p].error;
          EXPECT_EQ(a.state_rel_l2, b.state_rel_l2) << threads << " threads, lane " << i;
          EXPECT_EQ(a.state_max_abs, b.state_max_abs);
          EXPECT_EQ(a.out_rel_l2, b.out_rel_l2);
          EXPECT_EQ(a.out_max_abs, b.out_max_abs);
        }
      }
    }
  }
}

// ---- the command ---------------------------------------------------------------------------

TEST(DriftCli, ReportsEveryFormat) {
  const test::TempDir dir;
  const auto r = run_ssmkit("drift --model mamba2-2.7b --steps 20,200 --heads 1 --batch 1 "
                            "--prefill 8 --json " + quoted(dir / "d.json") + " --csv " +
                            quoted(dir / "d.csv") + " --svg " + quoted(dir / "d.svg"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("the 1 slowest-decaying of 80 heads"), std::string::npos) << r.output;
  const auto j = nlohmann::json::parse(read_text(dir / "d.json"));
  ASSERT_EQ(j.at("layers").size(), 1u);
  const auto& layer = j.at("layers")[0];
  EXPECT_EQ(layer.at("kind"), "mamba2");
  EXPECT_EQ(layer.at("state_elements"), 64 * 128);
  ASSERT_EQ(layer.at("lanes").size(), 3u);
  for (const auto& lane : layer.at("lanes")) {
    const std::string verdict = lane.at("verdict");
    EXPECT_TRUE(verdict == "bounded" || verdict == "growing") << verdict;
    EXPECT_EQ(lane.at("rounding"), "nearest");
  }
  const std::string csv = read_text(dir / "d.csv");
  EXPECT_EQ(csv.rfind("kind,state_dtype,rounding,step,checkpoint,", 0), 0u);
  EXPECT_NE(csv.find("mamba2,bfloat16,nearest,200,true,"), std::string::npos);
  EXPECT_EQ(read_text(dir / "d.svg").rfind("<?xml", 0), 0u);
}

TEST(DriftCli, RunsMamba1AndLightningLayers) {
  const auto jamba = run_ssmkit("drift --model Jamba-v0.1 --steps 10,30 --channels 8 --batch 1 --prefill 0");
  ASSERT_EQ(jamba.exit_code, 0) << jamba.output;
  EXPECT_NE(jamba.output.find("the 8 slowest-decaying of 8192 channels"), std::string::npos) << jamba.output;
  const auto minimax = run_ssmkit("drift --model MiniMax-Text-01 --steps 10 --heads 1 --batch 1 "
                                  "--prefill 0 --state-dtypes bf16 --rounding stochastic");
  ASSERT_EQ(minimax.exit_code, 0) << minimax.output;
  EXPECT_NE(minimax.output.find("decoder layer 78 of 80"), std::string::npos) << minimax.output;
  EXPECT_NE(minimax.output.find("rounding to stochastic"), std::string::npos) << minimax.output;
}

TEST(DriftCli, RunsGatedDeltaNetAndKdaLayers) {
  const auto qwen = run_ssmkit("drift --model Qwen3-Next-80B-A3B --steps 5,20 --heads 1 --batch 1 --prefill 4");
  ASSERT_EQ(qwen.exit_code, 0) << qwen.output;
  EXPECT_NE(qwen.output.find("== gated_delta_net: Gated DeltaNet, the 1 slowest-decaying of 32 value heads"),
            std::string::npos)
      << qwen.output;
  // bfloat16 is asked of the kernel; the CPU backend returns float64, so the host stores it.
  EXPECT_NE(qwen.output.find("kernel state_dtype bfloat16"), std::string::npos) << qwen.output;
  const auto kimi = run_ssmkit("drift --model Kimi-Linear-48B-A3B --steps 5 --heads 1 --batch 1 --prefill 0 "
                               "--state-dtypes fp16 --threads 2");
  ASSERT_EQ(kimi.exit_code, 0) << kimi.output;
  EXPECT_NE(kimi.output.find("== kda: KDA, the 1 slowest-decaying of 32 value heads"), std::string::npos)
      << kimi.output;
  EXPECT_EQ(kimi.output.find("== mla"), std::string::npos) << "MLA's latent KV cache does not drift";
}

void expect_input_error(const std::string& args, const std::string& named) {
  const auto r = run_ssmkit("drift " + args);
  EXPECT_EQ(r.exit_code, 2) << args << "\n" << r.output;
  EXPECT_NE(r.output.find(named), std::string::npos) << args << "\n" << r.output;
}

TEST(DriftCli, BadFlagsAreExit2NamingTheFlag) {
  expect_input_error("--model no-such-model --steps 10", "no-such-model");
  expect_input_error("--model Llama-3.1-8B --steps 10", "attention layers only");
  expect_input_error("--model mamba2-2.7b --steps 10 --state-dtypes float32,int8", "--state-dtypes");
  expect_input_error("--model mamba2-2.7b --steps 0", "--steps");
  expect_input_error("--model mamba2-2.7b --steps 10,ten", "--steps");
  expect_input_error("--model mamba2-2.7b --steps 10 --rounding up", "--rounding");
  expect_input_error("--model mamba2-2.7b --steps 10 --heads 81", "--heads");
  expect_input_error("--model mamba2-2.7b --steps 10 --batch 0", "--batch");
  expect_input_error("--model mamba2-2.7b --steps 10 --dt-min 0", "--dt-min");
  expect_input_error("--model mamba2-2.7b --backend tpu", "--backend");
  expect_input_error("--model mamba2-2.7b --steps 10 --threads -1", "--threads");
  expect_input_error("--model mamba2-2.7b --steps 10 --threads 100000", "--threads");
  expect_input_error("--model Qwen3-Next-80B-A3B --steps 10 --heads 33", "--heads");
}

using TraceEdit = std::function<void(std::map<std::string, Tensor>&)>;

// Writes the datasets, first edited to break the file in the way a test wants.
void write_datasets(const std::filesystem::path& path, std::map<std::string, Tensor> d, const TraceEdit& edit) {
  if (edit) edit(d);
  Hdf5Writer w(path);
  for (const auto& [name, t] : d) w.write_tensor(name, t);
}

// A Mamba2 trace for mamba2-2.7b (64 of head_dim, d_state 128): one head, batch 1.
void write_trace(const std::filesystem::path& path, std::int64_t steps,
                 const TraceEdit& edit = {}) {
  std::mt19937 rng(5);
  std::map<std::string, Tensor> d = {
      {"mamba2/x", test::random_tensor({steps, 1, 1, 64}, rng)},
      {"mamba2/dt", test::random_tensor({steps, 1, 1}, rng)},
      {"mamba2/B", test::random_tensor({steps, 1, 1, 128}, rng)},
      {"mamba2/C", test::random_tensor({steps, 1, 1, 128}, rng)},
      {"mamba2/A", test::full({1}, -2.0)},
      {"mamba2/dt_bias", test::full({1}, -4.0)},
      {"mamba2/D", test::full({1}, 1.0)},
  };
  write_datasets(path, std::move(d), edit);
}

// Runs drift on a trace, expecting exit 0 and `wanted` in the report; returns the report.
std::string expect_trace_runs(const std::string& args, const std::filesystem::path& trace,
                              const std::string& wanted) {
  const auto r = run_ssmkit("drift " + args + " --inputs " + quoted(trace));
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find(wanted), std::string::npos) << r.output;
  return r.output;
}

TEST(DriftCli, RecordedTraceRuns) {
  const test::TempDir dir;
  write_trace(dir / "t.h5", 40);
  expect_trace_runs("--model mamba2-2.7b --steps 10,40", dir / "t.h5", "40 recorded steps of batch 1");
}

TEST(DriftCli, MalformedTraceIsExit2NamingTheDataset) {
  const test::TempDir dir;
  const auto run = [&](const std::string& name, const std::string& args) {
    return "--model mamba2-2.7b --steps 10 " + args + " --inputs " + quoted(dir / name);
  };
  write_trace(dir / "extra.h5", 10, [](auto& d) { d["mamba2/bogus"] = test::full({1}, 0.0); });
  expect_input_error(run("extra.h5", ""), "mamba2/bogus");
  write_trace(dir / "missing.h5", 10, [](auto& d) { d.erase("mamba2/D"); });
  expect_input_error(run("missing.h5", ""), "mamba2/D");
  write_trace(dir / "shape.h5", 10, [](auto& d) { d["mamba2/x"] = test::full({10, 1, 1, 32}, 0.0); });
  expect_input_error(run("shape.h5", ""), "mamba2/x");
  write_trace(dir / "positive_a.h5", 10, [](auto& d) { d["mamba2/A"] = test::full({1}, 0.5); });
  expect_input_error(run("positive_a.h5", ""), "mamba2/A");
  write_trace(dir / "group.h5", 10, [](auto& d) { d["gdn/x"] = test::full({1}, 0.0); });
  expect_input_error(run("group.h5", ""), "gdn");
  // A kind the model does not have: mamba2-2.7b has no Gated DeltaNet layer.
  write_trace(dir / "kind.h5", 10, [](auto& d) { d["gated_delta_net/q"] = test::full({10, 1, 1, 128}, 0.0); });
  expect_input_error(run("kind.h5", ""), "gated_delta_net");
  write_trace(dir / "short.h5", 5);
  expect_input_error(run("short.h5", ""), "--steps");
  expect_input_error(run("short.h5", "--batch 2"), "--batch");
  std::ofstream(dir / "not.h5") << "not an HDF5 file";
  expect_input_error(run("not.h5", ""), "not.h5");
}

// A Gated DeltaNet trace for Qwen3-Next-80B-A3B (K = V = 128): two value heads sharing one
// q/k head, batch 1.
void write_delta_trace(const std::filesystem::path& path, std::int64_t steps,
                       const TraceEdit& edit = {}) {
  std::mt19937 rng(6);
  std::map<std::string, Tensor> d = {
      {"gated_delta_net/q", test::random_tensor({steps, 1, 1, 128}, rng)},
      {"gated_delta_net/k", test::random_tensor({steps, 1, 1, 128}, rng)},
      {"gated_delta_net/v", test::random_tensor({steps, 1, 2, 128}, rng)},
      {"gated_delta_net/g", test::random_tensor({steps, 1, 2}, rng, -0.5, -0.01)},
      {"gated_delta_net/beta", test::random_tensor({steps, 1, 2}, rng, 0.1, 0.9)},
  };
  write_datasets(path, std::move(d), edit);
}

TEST(DriftCli, RecordedDeltaRuleTraceRuns) {
  const test::TempDir dir;
  write_delta_trace(dir / "t.h5", 30);
  const std::string out = expect_trace_runs("--model Qwen3-Next-80B-A3B --steps 10,30", dir / "t.h5",
                                            "Gated DeltaNet, 2 value heads (1 q/k heads)");
  // The slowest decay is exp of the largest recorded g, which lies in [-0.5, -0.01).
  const std::size_t at = out.find("slowest per-step decay ");
  ASSERT_NE(at, std::string::npos) << out;
  const double decay = std::stod(out.substr(at + 23));
  EXPECT_GT(decay, std::exp(-0.5));
  EXPECT_LT(decay, std::exp(-0.01));
}

TEST(DriftCli, MalformedDeltaRuleTraceIsExit2NamingTheDataset) {
  const test::TempDir dir;
  const auto run = [&](const std::string& name) {
    return "--model Qwen3-Next-80B-A3B --steps 10 --inputs " + quoted(dir / name);
  };
  write_delta_trace(dir / "missing.h5", 10, [](auto& d) { d.erase("gated_delta_net/beta"); });
  expect_input_error(run("missing.h5"), "gated_delta_net/beta");
  write_delta_trace(dir / "kdim.h5", 10, [](auto& d) {
    d["gated_delta_net/q"] = test::full({10, 1, 1, 64}, 0.5);
    d["gated_delta_net/k"] = test::full({10, 1, 1, 64}, 0.5);
  });
  expect_input_error(run("kdim.h5"), "gated_delta_net/q");
  write_delta_trace(dir / "groups.h5", 10, [](auto& d) {
    d["gated_delta_net/v"] = test::full({10, 1, 3, 128}, 0.5);
    d["gated_delta_net/g"] = test::full({10, 1, 3}, -0.1);
    d["gated_delta_net/beta"] = test::full({10, 1, 3}, 0.5);
    d["gated_delta_net/q"] = test::full({10, 1, 2, 128}, 0.5);
    d["gated_delta_net/k"] = test::full({10, 1, 2, 128}, 0.5);
  });
  expect_input_error(run("groups.h5"), "gated_delta_net/q");
  write_delta_trace(dir / "gshape.h5", 10, [](auto& d) { d["gated_delta_net/g"] = test::full({10, 1, 2, 128}, -0.1); });
  expect_input_error(run("gshape.h5"), "gated_delta_net/g");
  write_delta_trace(dir / "growth.h5", 10, [](auto& d) { d["gated_delta_net/g"] = test::full({10, 1, 2}, 0.1); });
  expect_input_error(run("growth.h5"), "gated_delta_net/g");
  write_delta_trace(dir / "state.h5", 10, [](auto& d) { d["gated_delta_net/initial_state"] = test::full({1, 2, 128, 64}, 0.0); });
  expect_input_error(run("state.h5"), "gated_delta_net/initial_state");
}

}  // namespace
}  // namespace ssmkit
