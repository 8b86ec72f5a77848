#pragma once
// Scenario parsing from an already-parsed YAML document: the sweep expansion builds one
// document per point and parses it here.
#include <yaml-cpp/yaml.h>

#include <filesystem>
#include <string>

#include "ssmkit/scenario/scenario.hpp"

namespace ssmkit {

Scenario scenario_from_yaml(const YAML::Node& root, const std::string& file,
                            const std::filesystem::path& base_dir);

}  // namespace ssmkit
