#include "ssmkit/hdf5_file.hpp"

#include <hdf5.h>

#include <algorithm>
#include <cstring>
#include <exception>

#include "ssmkit/error.hpp"
#include "ssmkit/file_io.hpp"
#include "ssmkit/limits.hpp"

namespace ssmkit {
namespace {

// Closes an HDF5 identifier with the matching close function when it leaves scope.
class Handle {
 public:
  using Closer = herr_t (*)(hid_t);
  Handle(hid_t id, Closer close) : id_(id), close_(close) {}
  ~Handle() {
    if (id_ >= 0) close_(id_);
  }
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;
  hid_t get() const { return id_; }
  bool valid() const { return id_ >= 0; }

 private:
  hid_t id_;
  Closer close_;
};

void silence_hdf5_errors() {
  static const bool done = [] {
    H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
    return true;
  }();
  (void)done;
}

std::string where(const std::filesystem::path& p) { return p.string(); }

// True if every link on the path exists (H5Lexists fails on a missing intermediate).
bool path_exists(hid_t file, const std::string& name) {
  std::string partial;
  std::size_t start = name.front() == '/' ? 1 : 0;
  while (start <= name.size()) {
    std::size_t slash = name.find('/', start);
    std::string piece = name.substr(start, slash == std::string::npos ? std::string::npos
                                                                      : slash - start);
    if (!piece.empty()) {
      partial += "/" + piece;
      if (H5Lexists(file, partial.c_str(), H5P_DEFAULT) <= 0) return false;
    }
    if (slash == std::string::npos) break;
    start = slash + 1;
  }
  return true;
}

// HDF5 1.12 added a `fields` argument; Debian 12 ships 1.10.
#if H5_VERSION_GE(1, 12, 0)
herr_t object_info(hid_t file, const char* name, H5O_info2_t* info) {
  return H5Oget_info_by_name3(file, name, info, H5O_INFO_BASIC | H5O_INFO_NUM_ATTRS, H5P_DEFAULT);
}
using ObjectInfo = H5O_info2_t;
#else
herr_t object_info(hid_t file, const char* name, H5O_info_t* info) {
  return H5Oget_info_by_name(file, name, info, H5P_DEFAULT);
}
using ObjectInfo = H5O_info_t;
#endif

// Attribute values are a few numbers or one short string; more is a corrupt header.
constexpr hssize_t kMaxAttributeValues = 1 << 20;

H5O_type_t object_type(hid_t file, const std::string& name) {
  ObjectInfo info;
  if (object_info(file, name.c_str(), &info) < 0) return H5O_TYPE_UNKNOWN;
  return info.type;
}

}  // namespace

Hdf5Reader::Hdf5Reader(std::filesystem::path path) : path_(std::move(path)) {
  silence_hdf5_errors();
  std::error_code ec;
  if (!std::filesystem::exists(path_, ec)) throw InputError(where(path_), "", "file not found");
  require_regular_file(path_, "an HDF5 file");
  if (H5Fis_hdf5(path_.c_str()) <= 0) {
    throw InputError(where(path_), "", "not an HDF5 file (no HDF5 signature)");
  }
  file_ = H5Fopen(path_.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  if (file_ < 0) {
    throw InputError(where(path_), "", "cannot be opened as HDF5 (truncated or corrupt file)");
  }
}

Hdf5Reader::~Hdf5Reader() {
  if (file_ >= 0) H5Fclose(file_);
}

bool Hdf5Reader::has_group(const std::string& name) const {
  return path_exists(file_, name) && object_type(file_, name) == H5O_TYPE_GROUP;
}

bool Hdf5Reader::has_dataset(const std::string& name) const {
  return path_exists(file_, name) && object_type(file_, name) == H5O_TYPE_DATASET;
}

std::vector<std::string> Hdf5Reader::members(const std::string& group) const {
  std::vector<std::string> names;
  if (!has_group(group)) return names;
  Handle g(H5Gopen2(file_, group.c_str(), H5P_DEFAULT), H5Gclose);
  if (!g.valid()) throw InputError(where(path_), group, "group cannot be opened (corrupt file)");
  H5G_info_t info;
  if (H5Gget_info(g.get(), &info) < 0) {
    throw InputError(where(path_), group, "group cannot be listed (corrupt file)");
  }
  for (hsize_t i = 0; i < info.nlinks; ++i) {
    ssize_t len = H5Lget_name_by_idx(g.get(), ".", H5_INDEX_NAME, H5_ITER_INC, i, nullptr, 0,
                                     H5P_DEFAULT);
    if (len < 0 || len > 4096) throw InputError(where(path_), group, "group cannot be listed (corrupt file)");
    std::string name(static_cast<std::size_t>(len), '\0');
    H5Lget_name_by_idx(g.get(), ".", H5_INDEX_NAME, H5_ITER_INC, i, name.data(),
                       static_cast<std::size_t>(len) + 1, H5P_DEFAULT);
    // Soft and external links point outside what this file holds (another file, a path that
    // may not exist): a golden is one self-contained file.
    H5L_info_t link;
    if (H5Lget_info_by_idx(g.get(), ".", H5_INDEX_NAME, H5_ITER_INC, i, &link, H5P_DEFAULT) < 0) {
      throw InputError(where(path_), group, "group cannot be listed (corrupt file)");
    }
    if (link.type != H5L_TYPE_HARD) {
      throw InputError(where(path_), group + "/" + quote_for_message(name),
                       "a dataset stored in this file; soft and external links are refused");
    }
    names.push_back(name);
  }
  std::sort(names.begin(), names.end());
  return names;
}

Tensor Hdf5Reader::read_tensor(const std::string& name) const {
  if (!has_dataset(name)) throw InputError(where(path_), name, "dataset is missing");
  Handle ds(H5Dopen2(file_, name.c_str(), H5P_DEFAULT), H5Dclose);
  if (!ds.valid()) throw InputError(where(path_), name, "dataset cannot be opened (corrupt file)");
  Handle space(H5Dget_space(ds.get()), H5Sclose);
  Handle type(H5Dget_type(ds.get()), H5Tclose);
  if (!space.valid() || !type.valid()) {
    throw InputError(where(path_), name, "dataset header unreadable (corrupt file)");
  }
  const int rank = H5Sget_simple_extent_ndims(space.get());
  if (rank < 0) throw InputError(where(path_), name, "expected a simple (array) dataspace");
  Handle dcpl(H5Dget_create_plist(ds.get()), H5Pclose);
  if (!dcpl.valid()) throw InputError(where(path_), name, "dataset header unreadable (corrupt file)");
  const H5D_layout_t layout = H5Pget_layout(dcpl.get());
  if (H5Pget_external_count(dcpl.get()) != 0 || layout == H5D_VIRTUAL || layout < 0) {
    throw InputError(where(path_), name,
                     "data stored in this file; external and virtual storage are refused");
  }
  std::vector<hsize_t> dims(static_cast<std::size_t>(rank));
  H5Sget_simple_extent_dims(space.get(), dims.data(), nullptr);
  // A header can declare any size; read no more than a golden case could sensibly hold.
  constexpr auto kMaxElements = static_cast<hsize_t>(limits::kMaxGoldenElementsPerCase);
  hsize_t elements = 1;
  for (hsize_t d : dims) {
    if (d != 0 && elements > kMaxElements / d) {
      throw InputError(where(path_), name,
                       "at most limits::kMaxGoldenElementsPerCase = " + std::to_string(kMaxElements) +
                           " elements per case; the dataset declares more");
    }
    elements *= d;
  }
  // Unfiltered data takes its full size in the file: a header declaring more than the file
  // holds is corrupt, and is refused before anything is allocated.
  if (H5Pget_nfilters(dcpl.get()) == 0 && elements > 0) {
    std::error_code ec;
    const auto file_bytes = std::filesystem::file_size(path_, ec);
    const std::size_t element_bytes = H5Tget_size(type.get());
    if (!ec && (element_bytes == 0 || elements > file_bytes / element_bytes)) {
      throw InputError(where(path_), name,
                       "data that fits the file: " + std::to_string(elements) + " elements of " +
                           std::to_string(element_bytes) + " bytes declared, the file has " +
                           std::to_string(file_bytes) + " bytes");
    }
  }
  Shape shape(dims.begin(), dims.end());

  const H5T_class_t cls = H5Tget_class(type.get());
  DType dtype;
  hid_t mem_type;
  if (cls == H5T_FLOAT) {
    dtype = DType::float64;
    mem_type = H5T_NATIVE_DOUBLE;
  } else if (cls == H5T_INTEGER) {
    dtype = DType::int64;
    mem_type = H5T_NATIVE_INT64;
  } else {
    throw InputError(where(path_), name, "expected a float or integer dataset");
  }
  Tensor t(dtype, shape);
  if (t.numel() > 0 &&
      H5Dread(ds.get(), mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, t.bytes()) < 0) {
    throw InputError(where(path_), name, "data cannot be read (truncated or corrupt file)");
  }
  return t;
}

std::vector<std::string> Hdf5Reader::attribute_names(const std::string& object) const {
  std::vector<std::string> names;
  ObjectInfo info;
  if (object_info(file_, object.c_str(), &info) < 0) {
    throw InputError(where(path_), object, "object cannot be read (corrupt file)");
  }
  for (hsize_t i = 0; i < info.num_attrs; ++i) {
    ssize_t len = H5Aget_name_by_idx(file_, object.c_str(), H5_INDEX_NAME, H5_ITER_INC, i,
                                     nullptr, 0, H5P_DEFAULT);
    if (len < 0) throw InputError(where(path_), object, "attributes cannot be listed");
    std::string name(static_cast<std::size_t>(len), '\0');
    H5Aget_name_by_idx(file_, object.c_str(), H5_INDEX_NAME, H5_ITER_INC, i, name.data(),
                       static_cast<std::size_t>(len) + 1, H5P_DEFAULT);
    names.push_back(name);
  }
  return names;
}

AttrValue Hdf5Reader::read_attribute(const std::string& name, const std::string& object) const {
  const std::string field = "attribute '" + name + "'";
  if (H5Aexists_by_name(file_, object.c_str(), name.c_str(), H5P_DEFAULT) <= 0) {
    throw InputError(where(path_), field, "attribute is missing");
  }
  Handle attr(H5Aopen_by_name(file_, object.c_str(), name.c_str(), H5P_DEFAULT, H5P_DEFAULT),
              H5Aclose);
  if (!attr.valid()) throw InputError(where(path_), field, "cannot be opened (corrupt file)");
  Handle type(H5Aget_type(attr.get()), H5Tclose);
  Handle space(H5Aget_space(attr.get()), H5Sclose);
  const hssize_t count = H5Sget_simple_extent_npoints(space.get());
  if (count < 0 || count > kMaxAttributeValues) {
    throw InputError(where(path_), field, "a readable dataspace of at most 2^20 values (corrupt file)");
  }
  const H5T_class_t cls = H5Tget_class(type.get());

  if (cls == H5T_STRING) {
    if (count != 1) throw InputError(where(path_), field, "expected a single string");
    if (H5Tis_variable_str(type.get()) > 0) {
      Handle mem(H5Tcopy(H5T_C_S1), H5Tclose);
      H5Tset_size(mem.get(), H5T_VARIABLE);
      H5Tset_cset(mem.get(), H5Tget_cset(type.get()));
      char* text = nullptr;
      if (H5Aread(attr.get(), mem.get(), &text) < 0 || text == nullptr) {
        throw InputError(where(path_), field, "string cannot be read");
      }
      std::string value(text);
      H5free_memory(text);
      return value;
    }
    const std::size_t size = H5Tget_size(type.get());
    if (size == 0 || size > static_cast<std::size_t>(kMaxAttributeValues)) {
      throw InputError(where(path_), field, "a string of at most 2^20 bytes (corrupt file)");
    }
    std::string value(size + 1, '\0');
    if (H5Aread(attr.get(), type.get(), value.data()) < 0) {
      throw InputError(where(path_), field, "string cannot be read");
    }
    value.resize(std::strlen(value.c_str()));  // fixed-length strings are NUL padded
    return value;
  }

  // h5py writes numpy booleans as an enum over int8: read through its base integer type.
  hid_t read_type = H5T_NATIVE_DOUBLE;
  std::vector<double> values(static_cast<std::size_t>(count));
  if (cls == H5T_ENUM) {
    std::vector<long long> ints(static_cast<std::size_t>(count));
    if (H5Aread(attr.get(), H5T_NATIVE_LLONG, ints.data()) < 0) {
      Handle base(H5Tget_super(type.get()), H5Tclose);
      if (H5Aread(attr.get(), base.get(), ints.data()) < 0) {
        throw InputError(where(path_), field, "enum value cannot be read");
      }
    }
    std::transform(ints.begin(), ints.end(), values.begin(),
                   [](long long v) { return static_cast<double>(v); });
    return values;
  }
  if (cls != H5T_INTEGER && cls != H5T_FLOAT) {
    throw InputError(where(path_), field, "expected a number, a list of numbers or a string");
  }
  if (count > 0 && H5Aread(attr.get(), read_type, values.data()) < 0) {
    throw InputError(where(path_), field, "value cannot be read");
  }
  return values;
}

Hdf5Writer::Hdf5Writer(std::filesystem::path path)
    : path_(std::move(path)),
      output_(std::make_unique<AtomicOutputPath>(path_)),
      exceptions_at_start_(std::uncaught_exceptions()) {
  silence_hdf5_errors();
  file_ = H5Fcreate(output_->temp_path().c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  if (file_ < 0) throw InputError(where(path_), "", "cannot be created for writing");
}

// The file appears under its name only when the writer finished without an exception in
// flight; otherwise the temporary is removed and an older file of that name is kept.
Hdf5Writer::~Hdf5Writer() {
  const bool closed = file_ < 0 || H5Fclose(file_) >= 0;
  if (closed && std::uncaught_exceptions() == exceptions_at_start_) {
    try {
      output_->commit();
    } catch (const InputError&) {  // a destructor cannot throw; the temporary is removed
    }
  }
}

void Hdf5Writer::ensure_parent_groups(const std::string& dataset) {
  std::size_t pos = 0;
  while ((pos = dataset.find('/', pos + 1)) != std::string::npos) {
    std::string group = dataset.substr(0, pos);
    if (group.empty() || group == "/") continue;
    if (H5Lexists(file_, group.c_str(), H5P_DEFAULT) > 0) continue;
    Handle g(H5Gcreate2(file_, group.c_str(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), H5Gclose);
    if (!g.valid()) throw InputError(where(path_), group, "group cannot be created");
  }
}

void Hdf5Writer::write_tensor(const std::string& name, const Tensor& tensor) {
  ensure_parent_groups(name);
  Tensor stored = tensor;
  hid_t type = H5T_NATIVE_DOUBLE;
  switch (tensor.dtype()) {
    case DType::float64: type = H5T_NATIVE_DOUBLE; break;
    case DType::float32: type = H5T_NATIVE_FLOAT; break;
    case DType::int32: type = H5T_NATIVE_INT32; break;
    case DType::int64: type = H5T_NATIVE_INT64; break;
    case DType::bfloat16:
    case DType::float16:
      stored = tensor.to(DType::float32);
      type = H5T_NATIVE_FLOAT;
      break;
  }
  std::vector<hsize_t> dims(stored.shape().begin(), stored.shape().end());
  Handle space(H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr), H5Sclose);
  Handle ds(H5Dcreate2(file_, name.c_str(), type, space.get(), H5P_DEFAULT, H5P_DEFAULT,
                       H5P_DEFAULT),
            H5Dclose);
  if (!ds.valid()) throw InputError(where(path_), name, "dataset cannot be created");
  if (stored.numel() > 0 &&
      H5Dwrite(ds.get(), type, H5S_ALL, H5S_ALL, H5P_DEFAULT, stored.bytes()) < 0) {
    throw InputError(where(path_), name, "dataset cannot be written");
  }
}

void Hdf5Writer::write_attribute(const std::string& name, const AttrValue& value,
                                 const std::string& object) {
  const std::string field = "attribute '" + name + "'";
  if (const auto* text = std::get_if<std::string>(&value)) {
    Handle type(H5Tcopy(H5T_C_S1), H5Tclose);
    H5Tset_size(type.get(), H5T_VARIABLE);
    H5Tset_cset(type.get(), H5T_CSET_UTF8);
    Handle space(H5Screate(H5S_SCALAR), H5Sclose);
    Handle attr(H5Acreate_by_name(file_, object.c_str(), name.c_str(), type.get(), space.get(),
                                  H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT),
                H5Aclose);
    const char* p = text->c_str();
    if (!attr.valid() || H5Awrite(attr.get(), type.get(), &p) < 0) {
      throw InputError(where(path_), field, "cannot be written");
    }
    return;
  }
  const auto& numbers = std::get<std::vector<double>>(value);
  hsize_t n = numbers.size();
  Handle space(n == 1 ? H5Screate(H5S_SCALAR) : H5Screate_simple(1, &n, nullptr), H5Sclose);
  Handle attr(H5Acreate_by_name(file_, object.c_str(), name.c_str(), H5T_NATIVE_DOUBLE,
                                space.get(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT),
              H5Aclose);
  if (!attr.valid() || H5Awrite(attr.get(), H5T_NATIVE_DOUBLE, numbers.data()) < 0) {
    throw InputError(where(path_), field, "cannot be written");
  }
}

}  // namespace ssmkit
