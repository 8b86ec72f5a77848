#include "ssmkit/suite.hpp"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <set>

#include "scenario/yaml_schema.hpp"
#include "ssmkit/file_io.hpp"
#include "ssmkit/tolerance.hpp"

namespace ssmkit {
namespace {

bool is_golden_path(const std::filesystem::path& p) {
  const auto ext = p.extension();
  return ext == ".h5" || ext == ".hdf5";
}

std::string at(const std::filesystem::path& file, const YAML::Node& node) {
  const YAML::Mark m = node.Mark();
  return file.string() + ":" + std::to_string(m.line + 1) + ":" + std::to_string(m.column + 1);
}

void add_path(const std::filesystem::path& path, const SuiteEntry& settings,
              CollectedSuite& out, const std::string& where, int depth);

std::optional<double> tolerance_field(const std::filesystem::path& file, const YAML::Node& node,
                                      const char* key) {
  if (!node[key]) return std::nullopt;
  double v = 0.0;
  try {
    v = node[key].as<double>();
  } catch (const YAML::Exception&) {
    throw InputError(at(file, node[key]), key, "expected a number >= 0");
  }
  require_tolerance_value(v, at(file, node[key]), key);
  return v;
}

void add_yaml_suite(const std::filesystem::path& file, CollectedSuite& out, int depth) {
  // Bounded and checked as scenarios are: a regular file, one document, bounded nesting.
  const YAML::Node root =
      yaml_schema::parse(yaml_schema::Doc{file.string()}, read_text_file(file, "a YAML suite"));
  if (!root.IsMap()) throw InputError(file.string(), "", "expected a mapping with 'cases'");
  std::set<std::string> seen;
  for (const auto& kv : root) {
    const auto key = kv.first.as<std::string>();
    if (key != "name" && key != "cases") {
      throw InputError(at(file, kv.first), key, "unknown key; expected 'name' or 'cases'");
    }
    // The parser keeps a repeated key and a lookup sees only the first: a second `cases`
    // list would be skipped without a word.
    if (!seen.insert(key).second) throw InputError(at(file, kv.first), key, "a key given once, given again");
  }
  const YAML::Node cases = root["cases"];
  if (!cases || !cases.IsSequence()) {
    throw InputError(file.string(), "cases", "expected a list of golden paths");
  }
  const auto base = file.parent_path();
  for (const auto& item : cases) {
    SuiteEntry settings;
    YAML::Node path_node = item;
    if (item.IsMap()) {
      for (const auto& kv : item) {
        const auto key = kv.first.as<std::string>();
        if (key != "path" && key != "atol" && key != "rtol") {
          throw InputError(at(file, kv.first), key,
                           "unknown key; expected 'path', 'atol' or 'rtol'");
        }
      }
      path_node.reset(item["path"]);  // operator= would overwrite `item` itself
      if (!path_node) throw InputError(at(file, item), "path", "case entry without a path");
      settings.atol = tolerance_field(file, item, "atol");
      settings.rtol = tolerance_field(file, item, "rtol");
    }
    if (!path_node.IsScalar()) {
      throw InputError(at(file, path_node), "cases", "expected a path or {path, atol, rtol}");
    }
    add_path(base / path_node.as<std::string>(), settings, out, at(file, path_node), depth + 1);
  }
}

void add_path(const std::filesystem::path& path, const SuiteEntry& settings,
              CollectedSuite& out, const std::string& where, int depth) {
  if (depth > 8) {
    out.errors.emplace_back(where, path.string(), "suites nest too deeply (a cycle?)");
    return;
  }
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) {
    out.errors.emplace_back(path.string(), "", "no such file or directory" +
                                                   (where.empty() ? "" : " (listed at " + where + ")"));
    return;
  }
  if (std::filesystem::is_directory(path, ec)) {
    std::vector<std::filesystem::path> files;
    for (const auto& e : std::filesystem::recursive_directory_iterator(path, ec)) {
      if (e.is_regular_file() && is_golden_path(e.path())) files.push_back(e.path());
    }
    std::sort(files.begin(), files.end());
    if (files.empty()) out.errors.emplace_back(path.string(), "", "directory holds no .h5 files");
    for (const auto& f : files) out.entries.push_back({f, settings.atol, settings.rtol});
    return;
  }
  if (is_yaml_path(path)) {
    try {
      add_yaml_suite(path, out, depth);
    } catch (const InputError& e) {
      out.errors.push_back(e);
    } catch (const YAML::Exception& e) {
      out.errors.emplace_back(path.string() + ":" + std::to_string(e.mark.line + 1) + ":" +
                                  std::to_string(e.mark.column + 1),
                              "", "unexpected YAML structure: " + e.msg);
    }
    return;
  }
  // Anything else is taken as a golden file; loading it reports what is wrong with it.
  out.entries.push_back({path, settings.atol, settings.rtol});
}

}  // namespace

bool is_yaml_path(const std::filesystem::path& path) {
  const auto ext = path.extension();
  return ext == ".yaml" || ext == ".yml";
}

CollectedSuite collect_suite(const std::vector<std::filesystem::path>& paths) {
  CollectedSuite out;
  for (const auto& p : paths) add_path(p, {}, out, "", 0);
  return out;
}

}  // namespace ssmkit
