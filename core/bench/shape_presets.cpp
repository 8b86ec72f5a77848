#include "ssmkit/bench/bench_case.hpp"
#include "ssmkit/error.hpp"

namespace ssmkit::bench {
namespace {

std::vector<ShapePreset> presets() {
  std::vector<ShapePreset> list;
  {
    ShapePreset p;
    p.name = "mamba-2.8b";
    p.source = "state-spaces/mamba-2.8b config: d_model 2560, expand 2, d_state 16, d_conv 4";
    p.mamba1 = Mamba1Shape{5120, 16, 4};
    list.push_back(p);
  }
  {
    ShapePreset p;
    p.name = "mamba2-2.7b";
    p.source = "state-spaces/mamba2-2.7b config: d_model 2560, expand 2, headdim 64, d_state 128, "
                  "ngroups 1, d_conv 4, chunk_size 256";
    p.mamba2 = Mamba2Shape{80, 64, 128, 1, 4, 256};
    list.push_back(p);
  }
  {
    ShapePreset p;
    p.name = "nemotron-h-8b";
    p.source = "nvidia/Nemotron-H-8B-Base-8K config: mamba_num_heads 128, mamba_head_dim 64, "
                  "ssm_state_size 128, n_groups 8, conv_kernel 4, chunk_size 256";
    p.mamba2 = Mamba2Shape{128, 64, 128, 8, 4, 256};
    p.attention = AttentionShape{8, 128, 16};  // its attention layers: 32 heads, 8 KV heads
    list.push_back(p);
  }
  {
    ShapePreset p;
    p.name = "minimax-text-01";
    p.source = "MiniMaxAI/MiniMax-Text-01 config: 64 heads, head_dim 128 (lightning attention layers)";
    p.lightning = LightningShape{64, 128, 128};
    list.push_back(p);
  }
  {
    ShapePreset p;
    p.name = "tiny";
    p.source = "small shapes of every layer kind, for the CPU reference and CI";
    p.mamba1 = Mamba1Shape{128, 16, 4};
    p.mamba2 = Mamba2Shape{4, 16, 32, 2, 4, 64};
    p.lightning = LightningShape{2, 32, 32};
    p.attention = AttentionShape{2, 32, 16};
    list.push_back(p);
  }
  return list;
}

}  // namespace

std::vector<std::string> preset_names() {
  std::vector<std::string> names;
  for (const auto& p : presets()) names.push_back(p.name);
  return names;
}

ShapePreset shape_preset(const std::string& name) {
  for (auto& p : presets()) {
    if (p.name == name) return p;
  }
  std::string known;
  for (const auto& n : preset_names()) known += (known.empty() ? "" : ", ") + n;
  throw InputError("--preset", name, "unknown shape preset; expected one of " + known);
}

ShapePreset shape_preset_for(const ModelSpec& model, std::int64_t page_size) {
  ShapePreset p;
  p.name = model.name;
  p.source = model.source.empty() ? model.name : model.source;
  if (const auto& m = model.mamba) p.mamba1 = Mamba1Shape{m->intermediate_size, m->d_state, m->conv_kernel};
  if (const auto& m = model.mamba2) {
    p.mamba2 = Mamba2Shape{m->num_heads, m->head_dim, m->d_state, m->n_groups, m->conv_kernel, 256};
  }
  if (const auto& l = model.linear_attention) p.lightning = LightningShape{l->num_heads, l->key_dim, l->value_dim};
  if (const auto& a = model.attention) p.attention = AttentionShape{a->kv_heads, a->head_dim, page_size};
  return p;
}


}  // namespace ssmkit::bench
