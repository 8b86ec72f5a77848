#pragma once
#include <filesystem>
#include <span>
#include <string>
#include <vector>

#include "ssmkit/cache/cache_storage.hpp"
#include "ssmkit/cache/cache_types.hpp"
#include "ssmkit/hdf5_file.hpp"

namespace ssmkit {

// A snapshot is one HDF5 file: root attributes `format` and `format_version`, then the
// cache: its metadata (the config) as attributes of its group, its storage tensors and its
// bookkeeping (positions, page tables, slot assignments) as datasets. A HybridCache puts
// each part in a subgroup. Every cache class has
//   void save(SnapshotWriter& out) const;
//   void restore(const SnapshotReader& in);  // all or nothing
// and save_snapshot / restore_snapshot below work for any of them.

// Writes into one group of a snapshot file.
class SnapshotWriter {
 public:
  SnapshotWriter(Hdf5Writer& file, std::string group);  // "" is the file's root
  SnapshotWriter subgroup(const std::string& name) const;

  // Bit-exact, whatever the bits (NaN payloads, signalling NaNs): float64 as itself;
  // float32, bfloat16 and float16 as their bit patterns in an int32 dataset with attribute
  // encoding = "bits" (numpy: .astype(np.uint32).view(np.float32), or for 16-bit dtypes
  // .astype(np.uint16) and a bfloat16/float16 view). float32 is not stored as float
  // because Hdf5Reader reads floats as float64, and that conversion quiets signalling
  // NaNs. Every tensor dataset carries its dtype as attribute `dtype`.
  void tensor(const std::string& name, const Tensor& tensor);
  void tensor(const std::string& name, const CacheTensor& tensor);  // through to_host()
  void integers(const std::string& name, std::span<const std::int64_t> values);
  // Attributes of this group. The group exists once a dataset has been written in it.
  void metadata(const CacheMetadata& metadata);

 private:
  std::string path(const std::string& name) const;
  Hdf5Writer* file_;
  std::string group_;
};

// Reads from one group of a snapshot file. Every problem is an InputError whose `where` is
// the file and whose field names the dataset or attribute.
class SnapshotReader {
 public:
  SnapshotReader(const Hdf5Reader& file, std::string group);
  SnapshotReader subgroup(const std::string& name) const;

  // Refuses a snapshot whose metadata differs from the target cache's, naming the first
  // field that differs.
  void check_metadata(const CacheMetadata& expected) const;
  // Fills `target` byte for byte; the dataset must have target's dtype and shape.
  void tensor_into(const std::string& name, Tensor& target) const;
  void tensor_into(const std::string& name, CacheTensor& target) const;  // via a host copy
  std::vector<std::int64_t> integers(const std::string& name) const;
  [[noreturn]] void fail(const std::string& name, const std::string& expected) const;
  std::string file() const;  // the `where` of this reader's errors

 private:
  std::string path(const std::string& name) const;
  const Hdf5Reader* file_;
  std::string group_;
};

void write_snapshot_header(Hdf5Writer& file);
void check_snapshot_header(const Hdf5Reader& file);

template <class Cache>
void save_snapshot(const Cache& cache, const std::filesystem::path& path) {
  Hdf5Writer file(path);
  write_snapshot_header(file);
  SnapshotWriter out(file, "");
  cache.save(out);
}

template <class Cache>
void restore_snapshot(Cache& cache, const std::filesystem::path& path) {
  Hdf5Reader file(path);
  check_snapshot_header(file);
  cache.restore(SnapshotReader(file, ""));
}

}  // namespace ssmkit
