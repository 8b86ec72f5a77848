#include "yaml_schema.hpp"

#include <yaml-cpp/eventhandler.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "ssmkit/error.hpp"
#include "ssmkit/file_io.hpp"
#include "ssmkit/limits.hpp"

namespace ssmkit::yaml_schema {

std::string Doc::at(const YAML::Node& node) const {
  const YAML::Mark mark = node.Mark();
  if (mark.is_null()) return file;
  return file + ":" + std::to_string(mark.line + 1) + ":" + std::to_string(mark.column + 1);
}

namespace {

// yaml-cpp parses nested nodes recursively: a document nested thousands deep would overflow
// the stack before any schema check runs. An upper estimate of the depth, from the text:
// open flow brackets, plus block nesting (each level indents, or opens a "- " item).
void check_nesting(const Doc& doc, const std::string& text) {
  const std::size_t max_indent = 4 * static_cast<std::size_t>(limits::kMaxNestingDepth);
  int flow = 0;
  std::size_t line = 1, column = 0, indent = 0;
  bool leading = true;
  char quote = 0;
  bool comment = false;
  char prev = '\n';
  for (const char c : text) {
    const char before = prev;
    prev = c;
    ++column;
    if (c == '\n') {
      ++line, column = 0, indent = 0, leading = true, comment = false;
      if (quote == '\'') quote = 0;  // keeps a stray quote from hiding the rest of the file
      continue;
    }
    if (leading && (c == ' ' || c == '-' || c == '\t')) {
      if (++indent > max_indent) {
        throw InputError(doc.file + ":" + std::to_string(line), "",
                         "YAML nested at most limits::kMaxNestingDepth = " +
                             std::to_string(limits::kMaxNestingDepth) + " levels (indented at most " +
                             std::to_string(max_indent) + " columns)");
      }
      continue;
    }
    leading = false;
    if (comment) continue;
    if (quote == 0 && c == '#' && (before == ' ' || before == '\t' || before == '\n')) comment = true;
    if (comment) continue;
    if (quote != 0) {
      if (c == quote) quote = 0;
      continue;
    }
    if (c == '"' || c == '\'') quote = c;
    if (c == '[' || c == '{') ++flow;
    if ((c == ']' || c == '}') && flow > 0) --flow;
    if (flow > limits::kMaxNestingDepth) {
      throw InputError(doc.file + ":" + std::to_string(line) + ":" + std::to_string(column), "",
                       "YAML nested at most limits::kMaxNestingDepth = " +
                           std::to_string(limits::kMaxNestingDepth) + " levels");
    }
  }
}

// Records where each document starts and builds nothing.
class DocumentStarts : public YAML::EventHandler {
 public:
  YAML::Mark start;
  void OnDocumentStart(const YAML::Mark& mark) override { start = mark; }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
  void OnAlias(const YAML::Mark&, YAML::anchor_t) override {}
  void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t, const std::string&) override {}
  void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                       YAML::EmitterStyle::value) override {}
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                  YAML::EmitterStyle::value) override {}
  void OnMapEnd() override {}
};

std::string at_mark(const Doc& doc, const YAML::Mark& mark) {
  return doc.file + ":" + std::to_string(mark.line + 1) + ":" + std::to_string(mark.column + 1);
}

// Refuses a second document, which would otherwise be ignored without a word. Counted here
// rather than with YAML::LoadAll: where no node can start (a ',' outside brackets),
// yaml-cpp 0.7 reports an empty document without consuming the token, and LoadAll asks
// again forever, allocating a node each time until memory runs out (jbeder/yaml-cpp#1040;
// fixed upstream by PR #1319, after the 0.7 that Debian 12 ships). A document that starts
// where the previous one started is that stuck token; three documents tell it apart.
void check_one_document(const Doc& doc, const std::string& text) {
  std::istringstream in(text);
  YAML::Parser parser(in);
  DocumentStarts handler;
  std::vector<YAML::Mark> starts;
  while (starts.size() < 3 && parser.HandleNextDocument(handler)) {
    if (!starts.empty() && handler.start.pos == starts.back().pos) {
      const YAML::Mark& stuck = handler.start;
      const std::size_t pos = static_cast<std::size_t>(stuck.pos);
      const std::string token = pos < text.size() ? quote_for_message(text.substr(pos, 1)) : "";
      throw InputError(at_mark(doc, stuck), "",
                       "YAML syntax error: no value can start with '" + token + "' here");
    }
    starts.push_back(handler.start);
  }
  if (starts.size() > 1) {
    throw InputError(at_mark(doc, starts[1]), "", "one YAML document; a second one starts here ('---')");
  }
}

}  // namespace

YAML::Node parse(const Doc& doc, const std::string& text) {
  check_nesting(doc, text);
  try {
    check_one_document(doc, text);
    return YAML::Load(text);  // the first document only
  } catch (const YAML::ParserException& e) {
    throw InputError(at_mark(doc, e.mark), "", "YAML syntax error: " + e.msg);
  }
}

std::string read_text(const std::string& path) { return read_text_file(path, "a YAML file"); }

std::string join(std::string_view path, std::string_view key) {
  return path.empty() ? std::string(key) : std::string(path) + "." + std::string(key);
}

std::string describe(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Scalar: return "'" + node.Scalar() + "'";
    case YAML::NodeType::Map: return "a mapping";
    case YAML::NodeType::Sequence: return "a list";
    case YAML::NodeType::Null: return "nothing";
    case YAML::NodeType::Undefined: return "nothing";
  }
  return "something else";
}

YAML::Node unmarked(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Scalar: return YAML::Node(node.Scalar());
    case YAML::NodeType::Sequence: {
      YAML::Node out(YAML::NodeType::Sequence);
      for (const auto& item : node) out.push_back(unmarked(item));
      return out;
    }
    case YAML::NodeType::Map: {
      YAML::Node out(YAML::NodeType::Map);
      for (const auto& kv : node) out[kv.first.Scalar()] = unmarked(kv.second);
      return out;
    }
    default: return YAML::Node(YAML::NodeType::Null);
  }
}

std::string flow(const YAML::Node& node) {
  if (node.IsScalar()) return node.Scalar();
  YAML::Emitter out;
  out << YAML::Flow << node;
  return out.c_str();
}

std::vector<std::string> split_path(const std::string& dotted) {
  std::vector<std::string> parts;
  std::size_t start = 0;
  while (true) {
    const std::size_t dot = dotted.find('.', start);
    parts.push_back(dotted.substr(start, dot == std::string::npos ? std::string::npos : dot - start));
    if (dot == std::string::npos) return parts;
    start = dot + 1;
  }
}

void set_path(YAML::Node root, const std::string& dotted, const YAML::Node& value) {
  const std::vector<std::string> parts = split_path(dotted);
  for (const std::string& part : parts) {
    if (part.empty()) throw InputError("", dotted, "a dotted field path such as cache.page_size");
  }
  if (!root.IsMap()) throw InputError("", dotted, "a document that is a mapping");
  YAML::Node node;
  node.reset(root);
  for (std::size_t i = 0; i + 1 < parts.size(); ++i) {
    YAML::Node child = node[parts[i]];
    if (!child.IsDefined() || child.IsNull()) child = YAML::Node(YAML::NodeType::Map);
    if (!child.IsMap()) {
      throw InputError("", dotted, "a path through mappings; '" + parts[i] + "' is not one");
    }
    node.reset(child);
  }
  node[parts.back()] = value;
}

void fail(const Doc& doc, const YAML::Node& node, const std::string& path,
          const std::string& expected) {
  throw InputError(doc.at(node), path, expected);
}

void require_map(const Doc& doc, const YAML::Node& node, const std::string& path,
                 std::initializer_list<std::string_view> allowed) {
  std::string names;
  for (const std::string_view key : allowed) names += (names.empty() ? "" : ", ") + std::string(key);
  if (!node.IsMap()) {
    fail(doc, node, path.empty() ? "(document)" : path,
         "a mapping with keys " + names + ", got " + describe(node));
  }
  std::set<std::string> seen;
  for (const auto& kv : node) {
    const std::string key = kv.first.IsScalar() ? kv.first.Scalar() : describe(kv.first);
    bool known = false;
    for (const std::string_view a : allowed) known = known || a == key;
    if (!known) fail(doc, kv.first, join(path, key), "unknown key; expected one of " + names);
    // YAML forbids repeated keys, but the parser keeps both and a lookup sees the first.
    if (!seen.insert(key).second) fail(doc, kv.first, join(path, key), "a key given once, given again");
  }
}

YAML::Node required(const Doc& doc, const YAML::Node& map, const std::string& path,
                    const char* key) {
  const YAML::Node child = map[key];
  if (!child) fail(doc, map, join(path, key), "required, missing");
  return child;
}

std::string read_string(const Doc& doc, const YAML::Node& node, const std::string& path) {
  if (!node.IsScalar() || node.Scalar().empty()) {
    fail(doc, node, path, "a non-empty string, got " + describe(node));
  }
  return node.Scalar();
}

std::int64_t read_int(const Doc& doc, const YAML::Node& node, const std::string& path,
                      std::int64_t min, std::int64_t max) {
  const std::string expected = max == std::numeric_limits<std::int64_t>::max()
                                   ? "an integer >= " + std::to_string(min)
                                   : "an integer from " + std::to_string(min) + " to " + std::to_string(max);
  if (!node.IsScalar()) fail(doc, node, path, expected + ", got " + describe(node));
  std::int64_t v = 0;
  try {
    v = node.as<std::int64_t>();
  } catch (const YAML::Exception&) {
    fail(doc, node, path, expected + ", got " + describe(node));
  }
  if (v < min || v > max) fail(doc, node, path, expected + ", got " + std::to_string(v));
  return v;
}

std::uint64_t read_uint64(const Doc& doc, const YAML::Node& node, const std::string& path) {
  if (!node.IsScalar() || node.Scalar().empty() || node.Scalar()[0] == '-') {
    fail(doc, node, path, "a non-negative integer, got " + describe(node));
  }
  try {
    return node.as<std::uint64_t>();
  } catch (const YAML::Exception&) {
    fail(doc, node, path, "a non-negative integer, got " + describe(node));
  }
}

double read_number(const Doc& doc, const YAML::Node& node, const std::string& path, double min,
                   bool allow_infinity) {
  std::ostringstream expected;
  expected << (allow_infinity ? "a number (or .inf) >= " : "a finite number >= ") << min;
  if (!node.IsScalar()) fail(doc, node, path, expected.str() + ", got " + describe(node));
  double v = 0.0;
  try {
    v = node.as<double>();
  } catch (const YAML::Exception&) {
    fail(doc, node, path, expected.str() + ", got " + describe(node));
  }
  // Written so that NaN fails too.
  if (!(v >= min) || (std::isinf(v) && !allow_infinity)) {
    fail(doc, node, path, expected.str() + ", got " + describe(node));
  }
  return v;
}

bool read_bool(const Doc& doc, const YAML::Node& node, const std::string& path) {
  if (!node.IsScalar()) fail(doc, node, path, "true or false, got " + describe(node));
  try {
    return node.as<bool>();
  } catch (const YAML::Exception&) {
    fail(doc, node, path, "true or false, got " + describe(node));
  }
}

}  // namespace ssmkit::yaml_schema
