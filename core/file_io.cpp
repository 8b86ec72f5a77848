#include "ssmkit/file_io.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <fstream>

#include "ssmkit/error.hpp"
#include "ssmkit/limits.hpp"

namespace ssmkit {

void require_regular_file(const std::filesystem::path& path, const std::string& what) {
  const std::string where = path.string();
  struct stat st {};
  // stat, never open: opening a FIFO blocks until a writer comes.
  if (::stat(path.c_str(), &st) != 0) {
    throw InputError(where, "", "cannot be read (no such file, or no permission); expected " + what);
  }
  if (S_ISDIR(st.st_mode)) throw InputError(where, "", "is a directory (expected " + what + ")");
  if (!S_ISREG(st.st_mode)) {
    throw InputError(where, "",
                     "is a special file (a device, FIFO or socket); expected " + what +
                         " as a regular file");
  }
}

std::string read_text_file(const std::filesystem::path& path, const std::string& what) {
  require_regular_file(path, what);
  const std::string where = path.string();
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError(where, "", "cannot be read (no such file, or no permission)");
  std::string text;
  char buf[1 << 16];
  // Counted while reading too: a file may grow after the stat.
  while (in.read(buf, sizeof buf) || in.gcount() > 0) {
    text.append(buf, static_cast<std::size_t>(in.gcount()));
    if (text.size() > limits::kMaxTextFileBytes) {
      throw InputError(where, "",
                       what + " of at most limits::kMaxTextFileBytes = " +
                           std::to_string(limits::kMaxTextFileBytes >> 20) + " MiB");
    }
  }
  return text;
}

bool is_utf8(std::string_view text) {
  std::size_t i = 0;
  while (i < text.size()) {
    const auto c = static_cast<unsigned char>(text[i]);
    std::size_t n = 0;
    std::uint32_t cp = 0;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c & 0xE0) == 0xC0) {
      n = 1, cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      n = 2, cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      n = 3, cp = c & 0x07;
    } else {
      return false;
    }
    for (std::size_t k = 1; k <= n; ++k) {
      if (i + k >= text.size()) return false;
      const auto d = static_cast<unsigned char>(text[i + k]);
      if ((d & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (d & 0x3F);
    }
    // Overlong forms, surrogates and code points past U+10FFFF are not UTF-8.
    const std::uint32_t min[] = {0, 0x80, 0x800, 0x10000};
    if (cp < min[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += n + 1;
  }
  return true;
}

std::string quote_for_message(std::string_view text) {
  std::string out;
  const std::size_t n = std::min(text.size(), limits::kMaxQuotedChars);
  for (std::size_t i = 0; i < n; ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c >= 0x20 && c < 0x7F) {
      out += static_cast<char>(c);
    } else {
      char hex[8];
      std::snprintf(hex, sizeof hex, "\\x%02X", c);
      out += hex;
    }
  }
  if (text.size() > n) out += "... (" + std::to_string(text.size()) + " bytes)";
  return out;
}

namespace {

std::filesystem::path temp_name_for(const std::filesystem::path& path) {
  static std::atomic<int> counter{0};
  std::filesystem::path temp = path;
  temp += ".tmp-" + std::to_string(::getpid()) + "-" + std::to_string(counter++);
  return temp;
}

void rename_over(const std::filesystem::path& from, const std::filesystem::path& to,
                 const std::string& flag) {
  std::error_code ec;
  std::filesystem::rename(from, to, ec);
  if (ec) {
    std::filesystem::remove(from, ec);
    throw InputError(to.string(), flag, "cannot be written (renaming the finished file failed)");
  }
}

}  // namespace

void write_file_atomically(const std::filesystem::path& path, const std::string& text,
                           const std::string& flag) {
  AtomicOutputPath out(path);
  {
    std::ofstream f(out.temp_path(), std::ios::binary);
    if (!f) throw InputError(path.string(), flag, "cannot open the file for writing");
    f << text;
    if (!f.flush()) throw InputError(path.string(), flag, "writing failed");
  }
  out.commit(flag);
}

AtomicOutputPath::AtomicOutputPath(std::filesystem::path path)
    : path_(std::move(path)), temp_(temp_name_for(path_)) {}

AtomicOutputPath::~AtomicOutputPath() {
  if (committed_) return;
  std::error_code ec;
  std::filesystem::remove(temp_, ec);
}

void AtomicOutputPath::commit(const std::string& flag) {
  rename_over(temp_, path_, flag);
  committed_ = true;
}

}  // namespace ssmkit
