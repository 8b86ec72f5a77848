#pragma once
// Strict reading of YAML documents against a schema: every error names the file, the
// line and column of the offending node (yaml-cpp's Mark), and the field's dotted path.
#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <initializer_list>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

namespace ssmkit::yaml_schema {

// Where a document came from; nodes built in code (sweep overrides) have no mark and are
// reported by file alone.
struct Doc {
  std::string file;
  std::string at(const YAML::Node& node) const;  // "file:line:column"
};

// Parses YAML text; syntax errors are InputErrors at file:line:column.
YAML::Node parse(const Doc& doc, const std::string& text);
// Reads a file's text; an unreadable file is an InputError.
std::string read_text(const std::string& path);

std::string join(std::string_view path, std::string_view key);  // "cache" + "page_size"
std::string describe(const YAML::Node& node);  // "'abc'", "a mapping", "a list"

// `node` must be a mapping whose keys are all in `allowed`.
void require_map(const Doc& doc, const YAML::Node& node, const std::string& path,
                 std::initializer_list<std::string_view> allowed);
// A required child of a mapping; InputError at the mapping when missing.
YAML::Node required(const Doc& doc, const YAML::Node& map, const std::string& path,
                    const char* key);

std::string read_string(const Doc& doc, const YAML::Node& node, const std::string& path);
// An integer in [min, max]; the max keeps sizes whose products must fit in 64 bits sane.
std::int64_t read_int(const Doc& doc, const YAML::Node& node, const std::string& path,
                      std::int64_t min, std::int64_t max = std::numeric_limits<std::int64_t>::max());
std::uint64_t read_uint64(const Doc& doc, const YAML::Node& node, const std::string& path);
// A finite number >= min (or, with allow_infinity, also .inf).
double read_number(const Doc& doc, const YAML::Node& node, const std::string& path, double min,
                   bool allow_infinity = false);
bool read_bool(const Doc& doc, const YAML::Node& node, const std::string& path);

// A deep copy that carries no marks: an override's errors must not point at lines of the
// document it is written into.
YAML::Node unmarked(const YAML::Node& node);
// A scalar as written, anything else in YAML flow style: "16", "{gpu: h100, ...}".
std::string flow(const YAML::Node& node);
std::vector<std::string> split_path(const std::string& dotted);
// Sets the field at a dotted path, creating mappings on the way; an InputError (where
// empty, field `dotted`) when the way crosses something that is not a mapping.
void set_path(YAML::Node root, const std::string& dotted, const YAML::Node& value);

[[noreturn]] void fail(const Doc& doc, const YAML::Node& node, const std::string& path,
                       const std::string& expected);

}  // namespace ssmkit::yaml_schema
