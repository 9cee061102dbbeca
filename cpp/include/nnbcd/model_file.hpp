// Reading nnbcd model files: the deployed network the Python package saves (MLP.save), in the
// safetensors format (https://github.com/huggingface/safetensors).
//
// A file is an 8-byte little-endian header length N, N bytes of JSON header, then the data
// buffer. The header maps each tensor name to its dtype, shape and byte range in the buffer;
// its "__metadata__" entry "nnbcd" holds, as a JSON string, the architecture and each layer's
// compression, and "crc32" (see check_checksum). Per layer i, all C-order:
//   layers.{i}.bias                      (rows,)        rows x cols: the layer's W
//   dense:  layers.{i}.weight            (rows, cols)
//   pruned: layers.{i}.values            (nnz,)         G in CSR form
//           layers.{i}.column_indices    (nnz,)         I64
//           layers.{i}.row_offsets       (rows + 1,)    I64
//   tensor train: layers.{i}.core.{k}    (r_k, n_k, r_{k+1}), r_0 = r_d = 1
//
// Files may be corrupt or hostile, so everything is checked before it is used, and sizes before
// anything is allocated: a bad file gives std::runtime_error saying what is wrong (asking for
// the wrong dtype: std::invalid_argument), never a crash or an unbounded allocation. Hence two
// limits: headers up to 16 MiB and models up to 2^28 weights.
#pragma once

#include <algorithm>
#include <array>
#include <cctype>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <limits>
#include <locale>
#include <map>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "json.hpp"
#include "mlp.hpp"

namespace nnbcd {

namespace model_file_detail {

// nnbcd headers are a few kilobytes. The parsed JSON takes up to ~20x its text in memory, so
// this also bounds what a hostile header can make the reader allocate.
constexpr std::uint64_t kMaxHeaderBytes = 16 << 20;
// The most weights (entries of all W) a model may have: far beyond what BCD trains, and the
// bound on what a lying header can make the reader allocate, since compressed layers are
// expanded to a dense W and G.
constexpr Index kMaxWeights = Index(1) << 28;

struct Tensor {
  std::string dtype;  // "F32", "F64" or "I64"
  std::vector<Index> shape;
  std::uint64_t begin = 0, end = 0;  // byte range in the data buffer
};

struct ModelFile {
  std::string header;  // the file's first 8 + N bytes
  std::map<std::string, Tensor> tensors;
  json::Value metadata;  // the "nnbcd" metadata
  std::uint64_t data_start = 0, data_size = 0;
  std::vector<char> data;  // the data buffer, once read
};

struct LayerSpec {
  Index rows = 0, cols = 0;  // W's shape
  Compression compression;
};

// What the metadata says about the network.
struct ModelSpec {
  std::string dtype;  // "float32" or "float64"
  std::vector<Index> sizes;
  ConvGeometry conv;
  std::vector<LayerSpec> layers;
};

[[noreturn]] inline void fail(const std::string& what) { throw std::runtime_error(what); }

[[noreturn]] inline void fail_in(const std::string& context, const char* inner) {
  std::string text = inner;
  if (text.rfind("nnbcd: ", 0) == 0) text.erase(0, 7);
  fail(context + ": " + text);
}

// Runs f. Its errors (ours, and the core's std::invalid_argument on what the file describes)
// are problems with the file: std::runtime_error, with `context` in front of the message.
template <class F>
auto with_context(const std::string& context, F&& f) -> decltype(f()) {
  try {
    return f();
  } catch (const std::invalid_argument& e) {
    fail_in(context, e.what());
  } catch (const std::runtime_error& e) {
    fail_in(context, e.what());
  }
}

// The product of `factors` (all >= 0), or -1 if it exceeds `limit`: size arithmetic that
// cannot overflow.
inline Index product_within(const std::vector<Index>& factors, Index limit) {
  if (std::find(factors.begin(), factors.end(), Index(0)) != factors.end()) return 0;
  Index product = 1;
  for (Index factor : factors) {
    if (product > limit / factor) return -1;
    product *= factor;
  }
  return product;
}

inline constexpr Index kAnySize = -1;  // in an expected shape: any size

inline std::string shape_string(const std::vector<Index>& shape) {
  std::string text = "(";
  for (std::size_t k = 0; k < shape.size(); ++k)
    text += (k ? ", " : "") + (shape[k] == kAnySize ? std::string("*") : std::to_string(shape[k]));
  return text + (shape.size() == 1 ? ",)" : ")");
}

inline std::string number_string(double value) {
  std::ostringstream text;
  text.imbue(std::locale::classic());
  text << value;
  return text.str();
}

inline std::string describe(const json::Value& value) {
  return value.type() == json::Type::number ? number_string(value.as_number())
                                            : json::type_name(value.type());
}

// --- JSON fields, with messages that name them ---

inline const json::Value& member(const json::Value& object, const std::string& key) {
  const json::Value* value = object.find(key);
  if (!value) fail("missing \"" + key + "\"");
  return *value;
}

// Rejects keys outside `known`, so that a field this reader does not understand is not ignored.
inline void check_keys(const json::Value& object, const std::set<std::string>& known) {
  for (const auto& m : object.as_object())
    if (!known.count(m.first)) fail("unknown key \"" + m.first + "\"");
}

inline const json::Value::Object& object_value(const json::Value& value, const std::string& what) {
  if (value.type() != json::Type::object) fail(what + " must be an object, got " + describe(value));
  return value.as_object();
}

inline const std::string& string_member(const json::Value& object, const std::string& key) {
  const json::Value& value = member(object, key);
  if (value.type() != json::Type::string)
    fail("\"" + key + "\" must be a string, got " + describe(value));
  return value.as_string();
}

inline double number_member(const json::Value& object, const std::string& key) {
  const json::Value& value = member(object, key);
  if (value.type() != json::Type::number)
    fail("\"" + key + "\" must be a number, got " + describe(value));
  return value.as_number();
}

inline Index integer_at_least(const json::Value& value, Index min, const std::string& what) {
  if (!value.is_integer() || value.as_integer() < min)
    fail(what + " must be an integer >= " + std::to_string(min) + ", got " + describe(value));
  return value.as_integer();
}

inline Index integer_member(const json::Value& object, const std::string& key, Index min) {
  return integer_at_least(member(object, key), min, "\"" + key + "\"");
}

inline std::vector<Index> integer_list(const json::Value& value, Index min,
                                       const std::string& what) {
  if (value.type() != json::Type::array)
    fail(what + " must be a list of integers, got " + describe(value));
  std::vector<Index> list;
  for (const json::Value& item : value.as_array())
    list.push_back(integer_at_least(item, min, "every entry of " + what));
  return list;
}

// --- The safetensors container ---

inline Index itemsize(const std::string& dtype) {
  return dtype == "F32" ? 4 : dtype == "F64" || dtype == "I64" ? 8 : 0;
}

inline Tensor parse_tensor_entry(const json::Value& entry, std::uint64_t data_size) {
  object_value(entry, "the entry");
  check_keys(entry, {"dtype", "shape", "data_offsets"});
  Tensor t;
  t.dtype = string_member(entry, "dtype");
  const Index item = itemsize(t.dtype);
  if (item == 0) fail("dtype " + t.dtype + " is not one of nnbcd's (F32, F64, I64)");
  t.shape = integer_list(member(entry, "shape"), 0, "\"shape\"");
  const std::vector<Index> offsets = integer_list(member(entry, "data_offsets"), 0,
                                                  "\"data_offsets\"");
  if (offsets.size() != 2) fail("\"data_offsets\" must be [begin, end]");
  t.begin = static_cast<std::uint64_t>(offsets[0]);
  t.end = static_cast<std::uint64_t>(offsets[1]);
  if (t.begin > t.end || t.end > data_size)
    fail("data_offsets [" + std::to_string(t.begin) + ", " + std::to_string(t.end) +
         "] are not a range in the " + std::to_string(data_size) + "-byte data buffer");
  std::vector<Index> factors = t.shape;
  factors.push_back(item);
  const Index bytes = product_within(factors, std::numeric_limits<Index>::max());
  if (bytes < 0 || static_cast<std::uint64_t>(bytes) != t.end - t.begin)
    fail("data_offsets span " + std::to_string(t.end - t.begin) + " bytes, but shape " +
         shape_string(t.shape) + " of " + t.dtype + " needs " +
         (bytes < 0 ? std::string("more than 2^63") : std::to_string(bytes)));
  return t;
}

// The "nnbcd" entry of __metadata__ (a map of strings), parsed.
inline json::Value parse_metadata_entry(const json::Value& entry) {
  object_value(entry, "__metadata__");
  for (const auto& m : entry.as_object())
    if (m.second.type() != json::Type::string)
      fail("__metadata__ \"" + m.first + "\" must be a string, got " + describe(m.second));
  const json::Value* text = entry.find("nnbcd");
  if (!text) fail("__metadata__ has no \"nnbcd\" entry: not an nnbcd model file");
  json::Value metadata = with_context("the nnbcd metadata",
                                      [&] { return json::parse(text->as_string()); });
  object_value(metadata, "the nnbcd metadata");
  return metadata;
}

// As safetensors requires: the tensors fill the data buffer, without gaps or overlaps.
inline void check_tiling(const ModelFile& file) {
  std::vector<std::pair<std::pair<std::uint64_t, std::uint64_t>, const std::string*>> ranges;
  for (const auto& [name, t] : file.tensors) ranges.push_back({{t.begin, t.end}, &name});
  std::sort(ranges.begin(), ranges.end());
  std::uint64_t covered = 0;
  for (const auto& [range, name] : ranges) {
    if (range.first != covered)
      fail("tensor " + *name + " starts at byte " + std::to_string(range.first) +
           " of the data buffer, expected " + std::to_string(covered) +
           " (the tensors must fill it without gaps or overlaps)");
    covered = range.second;
  }
  if (covered != file.data_size)
    fail("the tensors end at byte " + std::to_string(covered) + " of the " +
         std::to_string(file.data_size) + "-byte data buffer");
}

inline void read_exactly(std::ifstream& in, char* out, std::uint64_t count) {
  in.read(out, static_cast<std::streamsize>(count));
  if (static_cast<std::uint64_t>(in.gcount()) != count) fail("cannot read the file");
}

inline std::ifstream open_model_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail("cannot open the file");
  return in;
}

// The header, checked against the safetensors rules; the data buffer is left unread.
inline ModelFile read_header(std::ifstream& in) {
  in.seekg(0, std::ios::end);
  const std::streamoff file_size = in.tellg();
  in.seekg(0);
  if (file_size < 0 || !in) fail("cannot determine the file's size");
  if (file_size < 8)
    fail("the file has " + std::to_string(file_size) + " bytes, too few for a model file");
  ModelFile file;
  file.header.resize(8);
  read_exactly(in, file.header.data(), 8);
  std::uint64_t header_size = 0;
  for (int k = 7; k >= 0; --k)
    header_size = header_size << 8 | static_cast<unsigned char>(file.header[k]);
  const std::uint64_t rest = static_cast<std::uint64_t>(file_size) - 8;
  if (header_size > rest)
    fail("the header length " + std::to_string(header_size) + " exceeds the " +
         std::to_string(rest) + " bytes after it (truncated, or not a model file?)");
  if (header_size > kMaxHeaderBytes)
    fail("the header length " + std::to_string(header_size) + " exceeds the limit of " +
         std::to_string(kMaxHeaderBytes) + " bytes");
  file.header.resize(8 + header_size);
  read_exactly(in, file.header.data() + 8, header_size);
  file.data_start = 8 + header_size;
  file.data_size = rest - header_size;
  const json::Value header = with_context(
      "the header", [&] { return json::parse(std::string_view(file.header).substr(8)); });
  object_value(header, "the header");
  for (const auto& [name, entry] : header.as_object()) {
    if (name == "__metadata__")
      file.metadata = parse_metadata_entry(entry);
    else
      file.tensors[name] = with_context("tensor " + name,
                                        [&] { return parse_tensor_entry(entry, file.data_size); });
  }
  if (file.metadata.is_null()) fail("the header has no __metadata__: not an nnbcd model file");
  check_tiling(file);
  return file;
}

inline void read_data(std::ifstream& in, ModelFile& file) {
  file.data.resize(file.data_size);
  in.seekg(static_cast<std::streamoff>(file.data_start));
  read_exactly(in, file.data.data(), file.data_size);
}

// CRC-32 as zlib computes it, continued from `crc` (0 to start) over `bytes`.
inline std::uint32_t crc32(std::uint32_t crc, const char* bytes, std::size_t size) {
  static const auto table = [] {
    std::array<std::uint32_t, 256> t{};
    for (std::uint32_t n = 0; n < 256; ++n) {
      std::uint32_t c = n;
      for (int k = 0; k < 8; ++k) c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
      t[n] = c;
    }
    return t;
  }();
  crc = ~crc;
  for (std::size_t i = 0; i < size; ++i)
    crc = table[(crc ^ static_cast<unsigned char>(bytes[i])) & 0xFF] ^ (crc >> 8);
  return ~crc;
}

// The metadata's "crc32": 8 hex digits, the CRC-32 of the whole file with those digits read as
// "00000000". It catches corruption that leaves the file well-formed, such as a flipped bit in
// the weights.
inline void check_checksum(const ModelFile& file) {
  const json::Value* stored = file.metadata.find("crc32");
  if (!stored) fail("the metadata has no \"crc32\" (a file written by nnbcd has one)");
  const auto is_hex = [](char c) { return std::isxdigit(static_cast<unsigned char>(c)) != 0; };
  if (stored->type() != json::Type::string || stored->as_string().size() != 8 ||
      !std::all_of(stored->as_string().begin(), stored->as_string().end(), is_hex))
    fail("the metadata's \"crc32\" must be 8 hex digits");
  // Where the digits are, found as the Python package finds them: after the key, as it appears
  // (escaped) in the header.
  const std::string key = "\\\"crc32\\\": \\\"";
  const std::size_t at = file.header.find(key);
  if (at == std::string::npos || file.header.find(key, at + 1) != std::string::npos ||
      file.header.compare(at + key.size(), 8, stored->as_string()) != 0)
    fail("the header does not hold the metadata's \"crc32\" once, as written by nnbcd");
  const std::size_t digits = at + key.size();
  std::uint32_t crc = crc32(0, file.header.data(), digits);
  crc = crc32(crc, "00000000", 8);
  crc = crc32(crc, file.header.data() + digits + 8, file.header.size() - digits - 8);
  crc = crc32(crc, file.data.data(), file.data.size());
  if (crc != std::stoul(stored->as_string(), nullptr, 16))
    fail("the file does not match its checksum (crc32 " + stored->as_string() +
         "): it is corrupt");
}

// --- The nnbcd metadata ---

inline ConvGeometry parse_conv(const json::Value& conv) {
  object_value(conv, "\"conv\"");
  check_keys(conv, {"input_shape", "filters", "kernel", "stride"});
  const std::vector<Index> input = integer_list(member(conv, "input_shape"), 1, "\"input_shape\"");
  if (input.size() != 3) fail("\"input_shape\" must be [height, width, channels]");
  ConvGeometry g;
  g.height = input[0];
  g.width = input[1];
  g.channels = input[2];
  g.filters = integer_member(conv, "filters", 1);
  g.kernel = integer_member(conv, "kernel", 1);
  g.stride = integer_member(conv, "stride", 1);
  g.validate();
  // ConvGeometry's sizes, checked here because it computes them without overflow checks.
  const Index limit = std::numeric_limits<Index>::max();
  if (product_within({g.height, g.width, g.channels}, limit) < 0 ||
      product_within({g.kernel, g.kernel, g.channels}, limit) < 0 ||
      product_within({g.out_height(), g.out_width(), g.filters}, limit) < 0)
    fail("the convolution's sizes are too large");
  return g;
}

inline TtFormat parse_tt_format(const json::Value& layer, Index rows, Index cols) {
  TtFormat f;
  const std::string& layout = string_member(layer, "layout");
  if (layout != "reshape" && layout != "matrix")
    fail("\"layout\" is \"" + layout + "\", expected \"reshape\" or \"matrix\"");
  const json::Value& shape = member(layer, "shape");
  if (shape.is_null())  // nnbcd's default modes, as when training
    return TtFormat::default_for(layout == "matrix" ? TtLayout::matrix : TtLayout::reshape, rows,
                                 cols);
  if (layout == "reshape") {
    f.modes = integer_list(shape, 1, "\"shape\"");
    if (product_within(f.modes, rows * cols) != rows * cols)
      fail("the modes of \"shape\" " + shape_string(f.modes) + " must multiply to the " +
           std::to_string(rows) + " x " + std::to_string(cols) + " layer's " +
           std::to_string(rows * cols) + " weights");
  } else {
    f.layout = TtLayout::matrix;
    if (shape.type() != json::Type::array || shape.as_array().size() != 2)
      fail("\"shape\" must be [row modes, column modes] for the matrix layout");
    f.row_modes = integer_list(shape.as_array()[0], 1, "the row modes");
    f.col_modes = integer_list(shape.as_array()[1], 1, "the column modes");
    if (product_within(f.row_modes, rows) != rows || product_within(f.col_modes, cols) != cols)
      fail("the row modes " + shape_string(f.row_modes) + " and column modes " +
           shape_string(f.col_modes) + " must multiply to the layer's " + std::to_string(rows) +
           " rows and " + std::to_string(cols) + " columns");
  }
  return f;
}

inline Compression parse_compression(const json::Value& layer, Index rows, Index cols) {
  object_value(layer, "the entry");
  const std::string& kind = string_member(layer, "compression");
  Compression c;
  if (kind == "dense") {
    check_keys(layer, {"compression"});
  } else if (kind == "pruned") {
    check_keys(layer, {"compression", "sparsity", "scope"});
    c.kind = Compression::Kind::pruned;
    c.sparsity = number_member(layer, "sparsity");
    const std::string& scope = string_member(layer, "scope");
    if (scope != "layer" && scope != "global")
      fail("\"scope\" is \"" + scope + "\", expected \"layer\" or \"global\"");
    c.global = scope == "global";
  } else if (kind == "tensor_train") {
    check_keys(layer, {"compression", "rank", "tol", "layout", "shape", "initial_rank",
                       "anneal_iterations"});
    c.kind = Compression::Kind::tensor_train;
    c.rank = integer_member(layer, "rank", 1);
    c.tol = number_member(layer, "tol");
    c.format = parse_tt_format(layer, rows, cols);
    // Training settings: checked, but the deployed cores do not depend on them.
    const json::Value& initial_rank = member(layer, "initial_rank");
    if (!initial_rank.is_null()) integer_at_least(initial_rank, 1, "\"initial_rank\"");
    integer_member(layer, "anneal_iterations", 1);
  } else {
    fail("\"compression\" is \"" + kind + "\", expected \"dense\", \"pruned\" or "
         "\"tensor_train\"");
  }
  c.validate(rows, cols);
  return c;
}

inline ModelSpec parse_spec(const json::Value& metadata) {
  const std::string& format = string_member(metadata, "format");
  if (format != "nnbcd.model") fail("\"format\" is \"" + format + "\", expected \"nnbcd.model\"");
  const Index version = integer_member(metadata, "version", 1);
  if (version != 1)
    fail("format version " + std::to_string(version) + " is newer than this reader's (1)");
  ModelSpec spec;
  spec.dtype = string_member(metadata, "dtype");
  if (spec.dtype != "float32" && spec.dtype != "float64")
    fail("\"dtype\" is \"" + spec.dtype + "\", expected \"float32\" or \"float64\"");
  spec.sizes = integer_list(member(metadata, "sizes"), 1, "\"sizes\"");
  if (spec.sizes.size() < 2) fail("\"sizes\" needs at least two widths");

  const std::string& model = string_member(metadata, "model");
  if (model != "MLP" && model != "ConvNet")
    fail("\"model\" is \"" + model + "\", expected \"MLP\" or \"ConvNet\"");
  const json::Value& conv = member(metadata, "conv");
  if (model == "MLP" && !conv.is_null()) fail("\"conv\" must be null for an MLP");
  if (model == "ConvNet") {
    spec.conv = with_context("conv", [&] { return parse_conv(conv); });
    if (spec.sizes.size() < 3)
      fail("a ConvNet needs a fully connected layer after the convolution");
    if (spec.sizes[0] != spec.conv.input_size() || spec.sizes[1] != spec.conv.output_size())
      fail("\"sizes\" starts with " + std::to_string(spec.sizes[0]) + ", " +
           std::to_string(spec.sizes[1]) + ", but the convolution's input and output sizes are " +
           std::to_string(spec.conv.input_size()) + ", " +
           std::to_string(spec.conv.output_size()));
  }

  const json::Value& layers = member(metadata, "layers");
  const std::size_t n_layers = spec.sizes.size() - 1;
  if (layers.type() != json::Type::array || layers.as_array().size() != n_layers)
    fail("\"layers\" must be a list of " + std::to_string(n_layers) +
         " entries (one per layer of \"sizes\")");
  Index weights = 0;
  for (std::size_t i = 0; i < n_layers; ++i) {
    LayerSpec layer;
    const bool convolution = i == 0 && spec.conv.active();  // as Mlp builds it
    layer.rows = convolution ? spec.conv.filters : spec.sizes[i + 1];
    layer.cols = convolution ? spec.conv.patch_size() : spec.sizes[i];
    const Index count = product_within({layer.rows, layer.cols}, kMaxWeights);
    if (count < 0 || weights + count > kMaxWeights)
      fail("the model has more than " + std::to_string(kMaxWeights) +
           " weights, this reader's limit");
    weights += count;
    layer.compression = with_context("layers[" + std::to_string(i) + "]", [&] {
      return parse_compression(layers.as_array()[i], layer.rows, layer.cols);
    });
    spec.layers.push_back(layer);
  }
  return spec;
}

// --- Tensors into the network ---

template <class T>
struct Dtype;
template <>
struct Dtype<float> {
  static constexpr const char* model = "float32";
  static constexpr const char* tensor = "F32";
};
template <>
struct Dtype<double> {
  static constexpr const char* model = "float64";
  static constexpr const char* tensor = "F64";
};
template <>
struct Dtype<std::int64_t> {
  static constexpr const char* tensor = "I64";
};

inline std::string layer_prefix(std::size_t i) { return "layers." + std::to_string(i) + "."; }

inline void check_tensor_names(const ModelSpec& spec, const ModelFile& file) {
  std::set<std::string> expected;
  for (std::size_t i = 0; i < spec.layers.size(); ++i) {
    const std::string prefix = layer_prefix(i);
    const Compression& c = spec.layers[i].compression;
    expected.insert(prefix + "bias");
    switch (c.kind) {
      case Compression::Kind::dense:
        expected.insert(prefix + "weight");
        break;
      case Compression::Kind::pruned:
        expected.insert({prefix + "values", prefix + "column_indices", prefix + "row_offsets"});
        break;
      case Compression::Kind::tensor_train:
        for (std::size_t k = 0; k < c.format.tensor_modes().size(); ++k)
          expected.insert(prefix + "core." + std::to_string(k));
        break;
    }
  }
  for (const std::string& name : expected)
    if (!file.tensors.count(name)) fail("missing tensor " + name);
  for (const auto& entry : file.tensors)
    if (!expected.count(entry.first))
      fail("unexpected tensor " + entry.first + " (not one the metadata's layers have)");
}

// The tensor `name` (known to exist), checked to have V's dtype and the given shape.
template <class V>
const Tensor& checked_tensor(const ModelFile& file, const std::string& name,
                             const std::vector<Index>& shape) {
  const Tensor& t = file.tensors.at(name);
  if (t.dtype != Dtype<V>::tensor)
    fail("tensor " + name + " has dtype " + t.dtype + ", expected " + Dtype<V>::tensor);
  bool matches = t.shape.size() == shape.size();
  for (std::size_t k = 0; matches && k < shape.size(); ++k)
    matches = shape[k] == kAnySize || shape[k] == t.shape[k];
  if (!matches)
    fail("tensor " + name + " has shape " + shape_string(t.shape) + ", expected " +
         shape_string(shape));
  return t;
}

// Copies the tensor into `out`, which has room for it; floating-point values must be finite.
template <class V>
void read_tensor(const ModelFile& file, const std::string& name, const std::vector<Index>& shape,
                 V* out) {
  const Tensor& t = checked_tensor<V>(file, name, shape);
  const std::size_t count = (t.end - t.begin) / sizeof(V);
  // memcpy: the buffer has no alignment guarantee. Little-endian data, as on every host that
  // numpy and nnbcd's Python package support.
  if (count > 0) std::memcpy(out, file.data.data() + t.begin, count * sizeof(V));
  if constexpr (std::is_floating_point_v<V>)
    if (!std::all_of(out, out + count, [](V v) { return std::isfinite(v); }))
      fail("tensor " + name + " has non-finite values");
}

// A pruned layer's CSR tensors (validated by Csr::from_arrays).
template <class T>
Csr<T> read_csr(const ModelFile& file, const std::string& prefix, Index rows, Index cols) {
  const std::string values_name = prefix + "values";
  const Index nnz = checked_tensor<T>(file, values_name, {kAnySize}).shape[0];
  std::vector<T> values(static_cast<std::size_t>(nnz));
  std::vector<std::int64_t> columns(values.size()), offsets(static_cast<std::size_t>(rows) + 1);
  read_tensor(file, values_name, {nnz}, values.data());
  read_tensor(file, prefix + "column_indices", {nnz}, columns.data());
  read_tensor(file, prefix + "row_offsets", {rows + 1}, offsets.data());
  return Csr<T>::from_arrays(rows, cols, values.data(), columns.data(), offsets.data(), nnz);
}

// The cores of a tensor-train layer: their shapes must chain, (r_k, n_k, r_{k+1}) with
// r_0 = r_d = 1 and n_k the layer's modes.
template <class T>
TensorTrain<T> read_cores(const ModelFile& file, const std::string& prefix, const Compression& c) {
  TensorTrain<T> tt;
  tt.modes = c.format.tensor_modes();
  const Index size = product_of(tt.modes);  // the layer's rows * cols, checked
  Index rank = 1, leading_size = 1;         // r_k, and n_0 ... n_{k-1} multiplied
  for (std::size_t k = 0; k < tt.modes.size(); ++k) {
    const std::string name = prefix + "core." + std::to_string(k);
    const Index mode = tt.modes[k];
    const bool last = k + 1 == tt.modes.size();
    const Index next = checked_tensor<T>(file, name, {rank, mode, last ? 1 : kAnySize}).shape[2];
    leading_size *= mode;
    // TT-SVD never gives a rank above the layer's nor above the smaller side of the unfolding;
    // the bound also keeps every contraction of the cores within the layer's size.
    const Index max_rank = std::min({c.rank, leading_size, size / leading_size});
    if (next < 1 || next > max_rank)
      fail("tensor " + name + " has TT rank " + std::to_string(next) + ", outside [1, " +
           std::to_string(max_rank) + "]");
    RowMatrix<T> core(rank * mode, next);
    read_tensor(file, name, {rank, mode, next}, core.data());
    tt.cores.push_back(std::move(core));
    rank = next;
  }
  return tt;
}

template <class T>
void restore_layer(Mlp<T>& net, std::size_t i, const ModelFile& file) {
  Layer<T>& layer = net.layer(static_cast<Index>(i));
  const Index rows = layer.W.rows(), cols = layer.W.cols();
  const std::string prefix = layer_prefix(i);
  read_tensor(file, prefix + "bias", {rows}, layer.b.data());
  switch (layer.compression.kind) {
    case Compression::Kind::dense:
      read_tensor(file, prefix + "weight", {rows, cols}, layer.W.data());
      break;
    case Compression::Kind::pruned:
      layer.restore_pruned(read_csr<T>(file, prefix, rows, cols));
      break;
    case Compression::Kind::tensor_train:
      layer.restore_tensor_train(read_cores<T>(file, prefix, layer.compression));
      break;
  }
}

template <class T>
Mlp<T> build(const ModelSpec& spec, const ModelFile& file) {
  Mlp<T> net(spec.sizes, spec.conv);
  // All compressions first: setting a pruned layer re-prunes every pruned layer (a global
  // threshold spans them), which would overwrite layers already restored.
  for (std::size_t i = 0; i < spec.layers.size(); ++i)
    with_context("layer " + std::to_string(i), [&] {
      net.set_compression(static_cast<Index>(i), spec.layers[i].compression);
    });
  for (std::size_t i = 0; i < spec.layers.size(); ++i)
    with_context("layer " + std::to_string(i), [&] { restore_layer(net, i, file); });
  with_context("the pruned layers", [&] { net.check_global_pruning(); });
  return net;
}

inline std::string file_context(const std::string& path) { return "nnbcd: model file " + path; }

inline ModelSpec read_spec(const ModelFile& file) {
  return with_context("metadata", [&] { return parse_spec(file.metadata); });
}

}  // namespace model_file_detail

// "float32" or "float64": the dtype the model at `path` was saved with, i.e. whether
// load_model<float> or load_model<double> reads it. Checks the header and the metadata.
inline std::string model_dtype(const std::string& path) {
  using namespace model_file_detail;
  return with_context(file_context(path), [&] {
    std::ifstream in = open_model_file(path);
    return read_spec(read_header(in)).dtype;
  });
}

// The network saved at `path`, with its deployed weights (compressed layers in their compressed
// form) ready for forward(). T must be the file's dtype (see model_dtype), else
// std::invalid_argument; any problem with the file: std::runtime_error.
template <class T>
Mlp<T> load_model(const std::string& path) {
  using namespace model_file_detail;
  static_assert(std::is_same_v<T, float> || std::is_same_v<T, double>,
                "nnbcd: models are float or double");
  std::ifstream in;
  ModelFile file;
  ModelSpec spec;
  with_context(file_context(path), [&] {
    in = open_model_file(path);
    file = read_header(in);
    spec = read_spec(file);
  });
  if (spec.dtype != Dtype<T>::model)
    throw std::invalid_argument(file_context(path) + ": the model is " + spec.dtype + ", not " +
                                Dtype<T>::model + ": read it with load_model<" +
                                (spec.dtype == "float32" ? "float" : "double") + ">");
  return with_context(file_context(path), [&] {
    read_data(in, file);
    check_checksum(file);
    check_tensor_names(spec, file);
    return build<T>(spec, file);
  });
}

}  // namespace nnbcd
