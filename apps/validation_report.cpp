#include "validation_report.hpp"

#include <algorithm>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <sstream>

#include "report_output.hpp"

namespace ssmkit::app {
namespace {

int count(const ValidationReport& r, std::initializer_list<CaseStatus> statuses) {
  return static_cast<int>(std::count_if(r.rows.begin(), r.rows.end(), [&](const CaseResult& c) {
    return std::find(statuses.begin(), statuses.end(), c.status) != statuses.end();
  }));
}

std::string sci(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2e", v);
  return buf;
}

std::string xml_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&apos;"; break;
      default:
        // XML 1.0 forbids most control characters even when escaped.
        if (static_cast<unsigned char>(c) < 0x20 && c != '\n' && c != '\t' && c != '\r') {
          out += '?';
        } else {
          out += c;
        }
    }
  }
  return out;
}

}  // namespace

int ValidationReport::passed() const { return count(*this, {CaseStatus::pass}); }
int ValidationReport::failed() const {
  return count(*this, {CaseStatus::fail, CaseStatus::backend_error});
}
int ValidationReport::input_errors() const { return count(*this, {CaseStatus::input_error}); }

void print_table(std::ostream& os, const ValidationReport& report) {
  const std::vector<std::string> header = {"case", "op", "backend", "dtype", "shape",
                                           "outputs compared", "max abs err", "rel L2",
                                           "atol/rtol", "status", "time ms"};
  std::vector<std::vector<std::string>> cells;
  for (const auto& r : report.rows) {
    const bool ran = r.status == CaseStatus::pass || r.status == CaseStatus::fail;
    char ms[32];
    std::snprintf(ms, sizeof ms, "%.2f", r.seconds * 1e3);
    std::string compared;
    for (const auto& o : r.outputs) compared += (compared.empty() ? "" : ",") + o.name;
    cells.push_back({r.case_name, r.op.empty() ? "-" : r.op, r.backend,
                     r.input_dtype.empty() ? "-" : r.input_dtype, r.shapes.empty() ? "-" : r.shapes,
                     compared.empty() ? "-" : compared,
                     ran ? sci(r.max_abs_error()) : "-", ran ? sci(r.max_rel_l2_error()) : "-",
                     ran ? sci(r.tolerance.atol) + "/" + sci(r.tolerance.rtol) : "-",
                     std::string(status_name(r.status)), ran ? ms : "-"});
  }
  std::vector<std::size_t> width(header.size());
  for (std::size_t c = 0; c < header.size(); ++c) {
    width[c] = header[c].size();
    for (const auto& row : cells) width[c] = std::max(width[c], row[c].size());
  }
  auto print_row = [&](const std::vector<std::string>& row) {
    for (std::size_t c = 0; c < row.size(); ++c) {
      os << row[c] << (c + 1 < row.size() ? std::string(width[c] - row[c].size() + 2, ' ') : "");
    }
    os << '\n';
  };
  print_row(header);
  std::vector<std::string> rule;
  for (auto w : width) rule.emplace_back(w, '-');
  print_row(rule);
  for (const auto& row : cells) print_row(row);

  bool first = true;
  for (const auto& r : report.rows) {
    if (r.status == CaseStatus::pass) continue;
    if (first) os << '\n';
    first = false;
    os << status_name(r.status) << ' ' << r.case_name << " [" << r.backend << "]: " << r.message
       << '\n';
  }
  std::string last_noted;
  for (const auto& r : report.rows) {
    if (r.free_attributes.empty() || r.path == last_noted) continue;
    last_noted = r.path;
    os << "NOTE " << r.case_name << ": attributes the op does not read (kept as metadata): ";
    for (std::size_t i = 0; i < r.free_attributes.size(); ++i) {
      os << (i ? ", " : "") << r.free_attributes[i];
    }
    os << '\n';
  }
  for (const auto& s : report.skipped) os << "SKIP backend " << s.name << ": " << s.reason << '\n';
  os << '\n' << report.passed() << " passed, " << report.failed() << " failed";
  if (report.input_errors() > 0) os << ", " << report.input_errors() << " input errors";
  os << '\n';
}

void write_json(const std::filesystem::path& path, const ValidationReport& report) {
  using nlohmann::json;
  json cases = json::array();
  for (const auto& r : report.rows) {
    json outputs = json::array();
    for (const auto& o : r.outputs) {
      const Comparison& c = o.comparison;
      outputs.push_back({{"name", o.name},
                         {"shape", c.shape},
                         {"passed", c.passed()},
                         {"shape_matches", c.shape_matches},
                         {"elements", c.elements},
                         {"max_abs_error", c.max_abs_error},
                         {"max_rel_error", c.max_rel_error},
                         {"rel_l2_error", c.rel_l2_error},
                         {"mismatches", c.mismatches},
                         {"nonfinite", c.nonfinite},
                         {"worst_index", c.worst_index >= 0
                                             ? json(multi_index_str(c.shape, c.worst_index))
                                             : json(nullptr)},
                         {"worst_actual", c.worst_actual},
                         {"worst_expected", c.worst_expected}});
    }
    cases.push_back({{"case", r.case_name},
                     {"path", r.path},
                     {"op", r.op},
                     {"backend", r.backend},
                     {"input_dtype", r.input_dtype},
                     {"shapes", r.shapes},
                     {"status", status_name(r.status)},
                     {"message", r.message},
                     {"seconds", r.seconds},
                     {"tolerance", {{"atol", r.tolerance.atol}, {"rtol", r.tolerance.rtol}}},
                     {"outputs", outputs},
                     {"free_attributes", r.free_attributes}});
  }
  json skipped = json::array();
  for (const auto& s : report.skipped) skipped.push_back({{"backend", s.name}, {"reason", s.reason}});
  json doc = {{"tool", "ssmkit validate"},
              {"backends", report.backends},
              {"skipped_backends", skipped},
              {"summary",
               {{"passed", report.passed()},
                {"failed", report.failed()},
                {"input_errors", report.input_errors()}}},
              {"cases", cases}};
  write_output_file(path, "--json", json_text(doc));
}

void write_junit(const std::filesystem::path& path, const ValidationReport& report) {
  double total = 0.0;
  for (const auto& r : report.rows) total += r.seconds;
  std::ostringstream xml;
  xml << "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
  xml << "<testsuites name=\"ssmkit validate\" tests=\"" << report.rows.size() << "\" failures=\""
      << report.failed() << "\" errors=\"" << report.input_errors() << "\" time=\"" << total
      << "\">\n";
  xml << "  <testsuite name=\"ssmkit validate\" tests=\"" << report.rows.size()
      << "\" failures=\"" << report.failed() << "\" errors=\"" << report.input_errors()
      << "\" skipped=\"0\" time=\"" << total << "\">\n";
  for (const auto& r : report.rows) {
    xml << "    <testcase classname=\"" << xml_escape(r.op.empty() ? "golden" : r.op)
        << "\" name=\"" << xml_escape(r.case_name + " [" + r.backend + "]") << "\" time=\""
        << r.seconds << "\"";
    if (r.status == CaseStatus::pass) {
      xml << "/>\n";
      continue;
    }
    const char* tag = r.status == CaseStatus::input_error ? "error" : "failure";
    xml << ">\n      <" << tag << " message=\"" << xml_escape(r.message) << "\">"
        << xml_escape(r.path + ": " + r.message) << "</" << tag << ">\n    </testcase>\n";
  }
  xml << "  </testsuite>\n</testsuites>\n";
  write_output_file(path, "--junit", xml.str());
}

}  // namespace ssmkit::app
