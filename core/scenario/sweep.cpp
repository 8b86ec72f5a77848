#include "ssmkit/scenario/sweep.hpp"

#include <charconv>
#include <cstdio>
#include <map>
#include <set>

#include "scenario_yaml.hpp"
#include "ssmkit/error.hpp"
#include "ssmkit/limits.hpp"
#include "yaml_schema.hpp"

namespace ssmkit {
namespace {

using limits::kMaxValueNodes;

// Whether the tree under `node` has at most `budget` nodes, counting each alias expansion.
bool within_nodes(const YAML::Node& node, std::int64_t budget) {
  std::int64_t left = budget;
  auto walk = [&left](const auto& self, const YAML::Node& n) -> bool {
    if (--left < 0) return false;
    if (n.IsSequence()) {
      for (const auto& item : n) {
        if (!self(self, item)) return false;
      }
    } else if (n.IsMap()) {
      for (const auto& kv : n) {
        if (!self(self, kv.second)) return false;
      }
    }
    return true;
  };
  return walk(walk, node);
}

using namespace yaml_schema;

bool is_prefix(const std::string& prefix, const std::string& path) {
  return path == prefix || (path.size() > prefix.size() && path.compare(0, prefix.size(), prefix) == 0 &&
                            path[prefix.size()] == '.');
}

std::string fnv1a_hex(const std::string& text) {
  std::uint64_t h = 0xcbf29ce484222325ULL;
  for (const unsigned char c : text) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
  return buf;
}

struct AxisSource {
  SweepAxis axis;
  YAML::Node key;
  std::vector<YAML::Node> values;
};

}  // namespace

Sweep load_sweep(const std::filesystem::path& file) {
  const Doc doc{file.string()};
  const YAML::Node root = parse(doc, read_text(file.string()));
  require_map(doc, root, "", {"name", "command", "base", "axes"});
  Sweep sweep;
  sweep.source = file.string();
  sweep.name = root["name"] ? read_string(doc, root["name"], "name") : file.stem().string();
  sweep.command = "replay";
  sweep.command_where = doc.at(root);
  if (root["command"]) {
    sweep.command = read_string(doc, root["command"], "command");
    sweep.command_where = doc.at(root["command"]);
  }

  // The base: a scenario file next to the sweep, or a scenario written inline.
  const YAML::Node base_node = required(doc, root, "", "base");
  YAML::Node base;
  std::string base_file = doc.file;
  std::filesystem::path base_dir = file.parent_path();
  if (base_node.IsScalar()) {
    const std::filesystem::path path = file.parent_path() / base_node.Scalar();
    std::error_code ec;
    if (!std::filesystem::exists(path, ec)) {
      fail(doc, base_node, "base", "a scenario file (relative to the sweep); " + path.string() +
                                       " does not exist");
    }
    base_file = path.string();
    base_dir = path.parent_path();
    base = parse(Doc{base_file}, read_text(base_file));
  } else if (base_node.IsMap()) {
    base = base_node;
  } else {
    fail(doc, base_node, "base", "a scenario file or an inline scenario, got " + describe(base_node));
  }
  scenario_from_yaml(base, base_file, base_dir);  // the base's own errors, at its own lines

  const YAML::Node axes = required(doc, root, "", "axes");
  if (!axes.IsMap() || axes.size() == 0) {
    fail(doc, axes, "axes", "a mapping from field paths to lists of values, got " + describe(axes));
  }
  std::vector<AxisSource> sources;
  for (const auto& kv : axes) {
    AxisSource s;
    s.key = kv.first;
    s.axis.path = kv.first.IsScalar() ? kv.first.Scalar() : "";
    const std::string field = "axes." + s.axis.path;
    for (const std::string& part : split_path(s.axis.path)) {
      if (part.empty()) fail(doc, kv.first, field, "a dotted field path such as cache.page_size");
    }
    for (const AxisSource& other : sources) {
      if (is_prefix(other.axis.path, s.axis.path) || is_prefix(s.axis.path, other.axis.path)) {
        fail(doc, kv.first, field, "an axis of its own; it overlaps axis '" + other.axis.path + "'");
      }
    }
    if (!kv.second.IsSequence() || kv.second.size() == 0) {
      fail(doc, kv.second, field, "a non-empty list of values, got " + describe(kv.second));
    }
    for (const auto& value : kv.second) {
      // Aliases can nest a small file into an exponential tree (the "billion laughs");
      // every point copies its values, so a value's size is bounded first.
      if (!within_nodes(value, kMaxValueNodes)) {
        fail(doc, value, field, "a value of at most " + std::to_string(kMaxValueNodes) +
                                    " YAML nodes with its aliases expanded");
      }
      s.values.push_back(value);
      s.axis.values.push_back(flow(value));
    }
    sources.push_back(std::move(s));
  }

  using limits::kMaxPoints;
  std::int64_t total = 1;
  for (const AxisSource& s : sources) {
    total *= static_cast<std::int64_t>(s.values.size());
    if (total > kMaxPoints) {
      fail(doc, axes, "axes", "at most " + std::to_string(kMaxPoints) + " points in all");
    }
  }
  std::map<std::string, std::string> model_errors;  // resolved once per model name
  std::string hashed = "ssmkit-sweep-v1\n" + sweep.command + "\n";
  for (std::int64_t index = 0; index < total; ++index) {
    SweepPoint point;
    point.index = index;
    YAML::Node doc_node = YAML::Clone(base);
    std::vector<std::size_t> choice(sources.size());
    std::int64_t rest = index;
    for (std::size_t a = sources.size(); a-- > 0;) {
      choice[a] = static_cast<std::size_t>(rest % static_cast<std::int64_t>(sources[a].values.size()));
      rest /= static_cast<std::int64_t>(sources[a].values.size());
    }
    std::string label;
    for (std::size_t a = 0; a < sources.size(); ++a) {
      point.values.push_back(sources[a].axis.values[choice[a]]);
      label += (label.empty() ? "" : ", ") + sources[a].axis.path + "=" + point.values.back();
    }
    // Errors of a point are reported at the axis they concern: at its path when the path
    // names no field, else at the value.
    auto blame = [&](const InputError& e) -> InputError {
      for (std::size_t a = 0; a < sources.size(); ++a) {
        const std::string& path = sources[a].axis.path;
        if (!is_prefix(path, e.field()) && !is_prefix(e.field(), path)) continue;
        if (e.expected().starts_with("unknown key") || e.expected().starts_with("a path through")) {
          return InputError(doc.at(sources[a].key), "axes." + path,
                            "the path of a scenario field; " + e.field() + ": " + e.expected());
        }
        return InputError(doc.at(sources[a].values[choice[a]]), "axes." + path,
                          "a value that makes a valid scenario; point " + std::to_string(index) +
                              " (" + label + "): " + e.what());
      }
      return InputError(doc.at(axes), "axes",
                        "values that make valid scenarios; point " + std::to_string(index) + " (" +
                            label + "): " + e.what());
    };
    try {
      for (std::size_t a = 0; a < sources.size(); ++a) {
        try {
          set_path(doc_node, sources[a].axis.path, unmarked(sources[a].values[choice[a]]));
        } catch (const InputError& e) {
          throw InputError(base_file, sources[a].axis.path, e.expected());
        }
      }
      point.scenario = scenario_from_yaml(doc_node, base_file, base_dir);
      auto [it, fresh] = model_errors.try_emplace(point.scenario.model);
      if (fresh) {
        try {
          scenario_model(point.scenario);
        } catch (const InputError& e) {
          it->second = e.what();
        }
      }
      if (!it->second.empty()) throw InputError(base_file, "model", it->second);
    } catch (const InputError& e) {
      throw blame(e);
    }
    YAML::Emitter emitted;
    emitted << doc_node;
    hashed += std::to_string(index) + "\n" + emitted.c_str() + "\n";
    sweep.points.push_back(std::move(point));
  }
  for (AxisSource& s : sources) sweep.axes.push_back(std::move(s.axis));
  sweep.hash = fnv1a_hex(hashed);
  return sweep;
}

Shard parse_shard(std::string_view text) {
  const std::string expected = "I/N with 0 <= I < N (points I, I+N, ...), got '" + std::string(text) + "'";
  const std::size_t slash = text.find('/');
  Shard shard;
  auto number = [&](std::string_view s, std::int64_t& out) {
    const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
    return ec == std::errc() && end == s.data() + s.size() && !s.empty();
  };
  if (slash == std::string_view::npos || !number(text.substr(0, slash), shard.index) ||
      !number(text.substr(slash + 1), shard.count) || shard.count < 1 || shard.index < 0 ||
      shard.index >= shard.count) {
    throw InputError("--shard", "", expected);
  }
  return shard;
}

std::vector<std::int64_t> shard_points(std::int64_t total_points, const Shard& shard) {
  std::vector<std::int64_t> points;
  // Stepping by count from index: written so that a huge count cannot overflow the index.
  for (std::int64_t i = shard.index; i < total_points; i = total_points - i > shard.count ? i + shard.count : total_points) {
    points.push_back(i);
  }
  return points;
}

}  // namespace ssmkit
