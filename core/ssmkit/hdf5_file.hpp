#pragma once
#include <filesystem>
#include <memory>
#include <string>
#include <variant>
#include <vector>

#include "ssmkit/file_io.hpp"
#include "ssmkit/tensor.hpp"

namespace ssmkit {

// An HDF5 attribute as the golden files use them: text, or numbers (a scalar is a list of
// one). Integers, booleans (h5py's enum) and floats all arrive as doubles.
using AttrValue = std::variant<std::string, std::vector<double>>;

// Read access to one HDF5 file. Every failure is an InputError naming the file and the
// dataset or attribute, never an HDF5 error stack on stderr.
class Hdf5Reader {
 public:
  explicit Hdf5Reader(std::filesystem::path path);
  ~Hdf5Reader();
  Hdf5Reader(const Hdf5Reader&) = delete;
  Hdf5Reader& operator=(const Hdf5Reader&) = delete;

  const std::filesystem::path& path() const { return path_; }
  bool has_group(const std::string& name) const;
  bool has_dataset(const std::string& name) const;
  std::vector<std::string> members(const std::string& group) const;  // sorted names
  // Floating datasets come back as float64, integer ones as int64.
  Tensor read_tensor(const std::string& dataset) const;
  std::vector<std::string> attribute_names(const std::string& object = "/") const;
  AttrValue read_attribute(const std::string& name, const std::string& object = "/") const;

 private:
  std::filesystem::path path_;
  long long file_ = -1;  // hid_t, kept opaque so users need no HDF5 headers
};

// Creates (replaces) an HDF5 file, atomically: the data goes to a temporary name in the same
// directory, renamed over `path` when the writer is destroyed without an exception in
// flight. Intermediate groups are created as needed.
class Hdf5Writer {
 public:
  explicit Hdf5Writer(std::filesystem::path path);
  ~Hdf5Writer();
  Hdf5Writer(const Hdf5Writer&) = delete;
  Hdf5Writer& operator=(const Hdf5Writer&) = delete;

  // bfloat16/float16 tensors are stored as float32 (HDF5 has no standard type for them).
  void write_tensor(const std::string& dataset, const Tensor& tensor);
  void write_attribute(const std::string& name, const AttrValue& value,
                       const std::string& object = "/");

 private:
  void ensure_parent_groups(const std::string& dataset);
  std::filesystem::path path_;
  std::unique_ptr<AtomicOutputPath> output_;
  int exceptions_at_start_ = 0;
  long long file_ = -1;
};

}  // namespace ssmkit
