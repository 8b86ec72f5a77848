#include "ssmkit/cache/cache_snapshot.hpp"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <sstream>

#include "ssmkit/error.hpp"

namespace ssmkit {
namespace {

constexpr const char* kFormat = "ssmkit cache snapshot";
constexpr double kFormatVersion = 1;

// A float32 / bfloat16 / float16 tensor as an int32 tensor of its elements' bit patterns.
Tensor bit_patterns(const Tensor& tensor) {
  Tensor bits(DType::int32, tensor.shape());
  auto out = bits.span<std::int32_t>();
  for (std::size_t i = 0; i < out.size(); ++i) {
    if (tensor.dtype() == DType::float32) {
      std::memcpy(&out[i], tensor.bytes() + 4 * i, 4);
    } else {
      std::uint16_t pattern;
      std::memcpy(&pattern, tensor.bytes() + 2 * i, 2);
      out[i] = pattern;
    }
  }
  return bits;
}

std::string describe(const AttrValue& value) {
  if (const auto* s = std::get_if<std::string>(&value)) return "'" + *s + "'";
  std::ostringstream os;
  const auto& numbers = std::get<std::vector<double>>(value);
  for (std::size_t i = 0; i < numbers.size(); ++i) os << (i ? ", " : "") << numbers[i];
  return os.str();
}

std::string join(const std::string& group, const std::string& name) {
  return group.empty() ? name : group + "/" + name;
}

}  // namespace

SnapshotWriter::SnapshotWriter(Hdf5Writer& file, std::string group)
    : file_(&file), group_(std::move(group)) {}

SnapshotWriter SnapshotWriter::subgroup(const std::string& name) const {
  return SnapshotWriter(*file_, join(group_, name));
}

std::string SnapshotWriter::path(const std::string& name) const { return join(group_, name); }

void SnapshotWriter::tensor(const std::string& name, const Tensor& tensor) {
  const std::string dataset = path(name);
  if (tensor.dtype() == DType::float64) {
    file_->write_tensor(dataset, tensor);
  } else {
    file_->write_tensor(dataset, bit_patterns(tensor));
    file_->write_attribute("encoding", std::string("bits"), dataset);
  }
  file_->write_attribute("dtype", std::string(dtype_name(tensor.dtype())), dataset);
}

void SnapshotWriter::tensor(const std::string& name, const CacheTensor& tensor) {
  this->tensor(name, tensor.to_host());
}

void SnapshotWriter::integers(const std::string& name, std::span<const std::int64_t> values) {
  file_->write_tensor(path(name), Tensor::from_vector<std::int64_t>(
                                      {static_cast<std::int64_t>(values.size())},
                                      std::vector<std::int64_t>(values.begin(), values.end())));
}

void SnapshotWriter::metadata(const CacheMetadata& metadata) {
  const std::string object = group_.empty() ? "/" : group_;
  for (const auto& [name, value] : metadata) file_->write_attribute(name, value, object);
}

SnapshotReader::SnapshotReader(const Hdf5Reader& file, std::string group)
    : file_(&file), group_(std::move(group)) {}

SnapshotReader SnapshotReader::subgroup(const std::string& name) const {
  return SnapshotReader(*file_, join(group_, name));
}

std::string SnapshotReader::path(const std::string& name) const { return join(group_, name); }

std::string SnapshotReader::file() const { return file_->path().string(); }

void SnapshotReader::fail(const std::string& name, const std::string& expected) const {
  throw InputError(file(), path(name), expected);
}

void SnapshotReader::check_metadata(const CacheMetadata& expected) const {
  const std::string object = group_.empty() ? "/" : group_;
  if (!group_.empty() && !file_->has_group(group_)) {
    throw InputError(file_->path().string(), group_, "group is missing from the snapshot");
  }
  const auto present = file_->attribute_names(object);
  for (const auto& [name, value] : expected) {
    if (std::find(present.begin(), present.end(), name) == present.end()) {
      fail(name, "present in the snapshot (target cache has " + describe(value) + ")");
    }
    const AttrValue actual = file_->read_attribute(name, object);
    if (actual != value) {
      fail(name, "snapshot has " + describe(actual) + ", target cache has " + describe(value));
    }
  }
}

void SnapshotReader::tensor_into(const std::string& name, Tensor& target) const {
  const std::string dataset = path(name);
  const Tensor stored = file_->read_tensor(dataset);  // InputError if missing
  const AttrValue dtype = file_->read_attribute("dtype", dataset);
  const std::string want(dtype_name(target.dtype()));
  if (dtype != AttrValue(want)) {
    fail(name, "a " + want + " tensor, snapshot has dtype " + describe(dtype));
  }
  if (stored.shape() != target.shape()) {
    fail(name,
         "shape " + shape_str(target.shape()) + ", snapshot has " + shape_str(stored.shape()));
  }
  if (target.dtype() == DType::float64) {
    if (stored.dtype() != DType::float64) fail(name, "a floating dataset");
    std::memcpy(target.bytes(), stored.bytes(), target.nbytes());
    return;
  }
  if (stored.dtype() != DType::int64) fail(name, "bit patterns stored as integers");
  const auto patterns = stored.span<std::int64_t>();
  const std::size_t width = dtype_size(target.dtype());
  for (std::size_t i = 0; i < patterns.size(); ++i) {
    if (width == 4) {
      if (patterns[i] < INT32_MIN || patterns[i] > INT32_MAX) {
        fail(name, "32-bit patterns, found " + std::to_string(patterns[i]));
      }
      const auto pattern = static_cast<std::int32_t>(patterns[i]);
      std::memcpy(target.bytes() + 4 * i, &pattern, 4);
    } else {
      if (patterns[i] < 0 || patterns[i] > 0xffff) {
        fail(name, "16-bit patterns, found " + std::to_string(patterns[i]));
      }
      const auto pattern = static_cast<std::uint16_t>(patterns[i]);
      std::memcpy(target.bytes() + 2 * i, &pattern, 2);
    }
  }
}

void SnapshotReader::tensor_into(const std::string& name, CacheTensor& target) const {
  Tensor host(target.dtype(), target.shape());
  tensor_into(name, host);
  target.from_host(host);
}

std::vector<std::int64_t> SnapshotReader::integers(const std::string& name) const {
  const Tensor stored = file_->read_tensor(path(name));
  if (stored.dtype() != DType::int64 || stored.rank() != 1) {
    fail(name, "a one-dimensional integer dataset");
  }
  const auto values = stored.span<std::int64_t>();
  return {values.begin(), values.end()};
}

void write_snapshot_header(Hdf5Writer& file) {
  file.write_attribute("format", std::string(kFormat));
  file.write_attribute("format_version", std::vector<double>{kFormatVersion});
}

void check_snapshot_header(const Hdf5Reader& file) {
  SnapshotReader(file, "").check_metadata(
      {{"format", std::string(kFormat)}, {"format_version", std::vector<double>{kFormatVersion}}});
}

}  // namespace ssmkit
