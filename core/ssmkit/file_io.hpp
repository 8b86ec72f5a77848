#pragma once
// Reading input files and writing output files the one way ssmkit does it: inputs must be
// regular files of bounded size (a device or FIFO is refused by name, never read without
// end); outputs appear whole or not at all (written to a temporary name, then renamed).
#include <filesystem>
#include <string>
#include <string_view>

namespace ssmkit {

// An InputError naming `path` unless it is an existing regular file (symlinks followed).
// `what` says what was expected there: "a config.json file", "an HDF5 golden".
void require_regular_file(const std::filesystem::path& path, const std::string& what);

// The whole file, after require_regular_file; more than limits::kMaxTextFileBytes is an
// InputError naming the bound.
std::string read_text_file(const std::filesystem::path& path, const std::string& what);

// True when `text` is well-formed UTF-8.
bool is_utf8(std::string_view text);

// A user-supplied string as it may go into a message: at most limits::kMaxQuotedChars
// characters, bytes that are not printable ASCII shown as \xNN.
std::string quote_for_message(std::string_view text);

// The file `path` gets `text`, atomically: a killed run leaves the old file or none, never
// a truncated one. Errors are InputErrors naming the path and `flag`.
void write_file_atomically(const std::filesystem::path& path, const std::string& text,
                           const std::string& flag);

// For writers that need a path to write to (HDF5): write to temp_path(), then commit()
// renames it over the final path. Destroyed uncommitted, the temporary is removed.
class AtomicOutputPath {
 public:
  explicit AtomicOutputPath(std::filesystem::path path);
  ~AtomicOutputPath();
  AtomicOutputPath(const AtomicOutputPath&) = delete;
  AtomicOutputPath& operator=(const AtomicOutputPath&) = delete;

  const std::filesystem::path& temp_path() const { return temp_; }
  void commit(const std::string& flag = "");

 private:
  std::filesystem::path path_, temp_;
  bool committed_ = false;
};

}  // namespace ssmkit
