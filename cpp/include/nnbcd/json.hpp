// A minimal, strict JSON parser (RFC 8259), for the headers of nnbcd model files.
//
// Strict, because the input may be corrupt or hostile: no comments, trailing commas, NaN or
// Infinity, unescaped control characters, invalid UTF-8, lone surrogates or duplicate object
// keys, and at most kMaxDepth nested arrays/objects (the parser recurses). Errors are
// std::runtime_error naming the byte offset.
#pragma once

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <locale>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace nnbcd::json {

constexpr int kMaxDepth = 64;

// In the order of Value's alternatives.
enum class Type { null, boolean, number, string, array, object };

inline const char* type_name(Type type) {
  static const char* const names[] = {"null", "a boolean", "a number",
                                      "a string", "an array", "an object"};
  return names[static_cast<int>(type)];
}

namespace detail {
class Parser;
}

class Value {
 public:
  using Array = std::vector<Value>;
  using Object = std::vector<std::pair<std::string, Value>>;  // in input order, keys unique

  Value() = default;  // null

  Type type() const { return static_cast<Type>(data_.index()); }
  bool is_null() const { return type() == Type::null; }
  // A number written without fraction or exponent that fits in 64 bits: exact, unlike doubles.
  bool is_integer() const {
    const Number* number = std::get_if<Number>(&data_);
    return number && number->is_integer;
  }

  bool as_bool() const { return get<bool>(Type::boolean); }
  double as_number() const { return get<Number>(Type::number).value; }
  std::int64_t as_integer() const {
    if (!is_integer()) throw std::runtime_error("nnbcd: JSON value is not an integer");
    return std::get<Number>(data_).integer;
  }
  const std::string& as_string() const { return get<std::string>(Type::string); }
  const Array& as_array() const { return get<Array>(Type::array); }
  const Object& as_object() const { return get<Object>(Type::object); }

  // The member `key` of an object, or nullptr.
  const Value* find(std::string_view key) const {
    for (const auto& member : as_object())
      if (member.first == key) return &member.second;
    return nullptr;
  }

 private:
  friend class detail::Parser;
  struct Number {
    double value = 0;
    bool is_integer = false;
    std::int64_t integer = 0;
  };
  using Data = std::variant<std::nullptr_t, bool, Number, std::string, Array, Object>;

  explicit Value(Data data) : data_(std::move(data)) {}

  template <class Alternative>
  const Alternative& get(Type expected) const {
    if (const Alternative* value = std::get_if<Alternative>(&data_)) return *value;
    throw std::runtime_error(std::string("nnbcd: JSON value is ") + type_name(type()) +
                             ", expected " + type_name(expected));
  }

  Data data_;
};

namespace detail {

class Parser {
 public:
  explicit Parser(std::string_view text) : text_(text) {
    number_stream_.imbue(std::locale::classic());  // "0.5" whatever the global locale
  }

  Value parse_document() {
    Value value = parse_value(0);
    skip_whitespace();
    if (pos_ < text_.size()) fail("unexpected data after the JSON value");
    return value;
  }

 private:
  [[noreturn]] void fail_at(std::size_t offset, const std::string& what) const {
    throw std::runtime_error("nnbcd: invalid JSON at byte " + std::to_string(offset) + ": " +
                             what);
  }
  [[noreturn]] void fail(const std::string& what) const { fail_at(pos_, what); }

  bool at_end() const { return pos_ == text_.size(); }
  bool next_is(char c) const { return !at_end() && text_[pos_] == c; }
  bool next_is_digit() const { return !at_end() && text_[pos_] >= '0' && text_[pos_] <= '9'; }

  void skip_whitespace() {
    while (!at_end() && (text_[pos_] == ' ' || text_[pos_] == '\t' || text_[pos_] == '\n' ||
                         text_[pos_] == '\r'))
      ++pos_;
  }

  // Skips whitespace, then consumes c if it comes next.
  bool consume(char c) {
    skip_whitespace();
    if (!next_is(c)) return false;
    ++pos_;
    return true;
  }

  void expect(char c, const char* what) {
    if (!consume(c)) fail(std::string("expected ") + what);
  }

  bool consume_word(std::string_view word) {
    if (text_.substr(pos_, word.size()) != word) return false;
    pos_ += word.size();
    return true;
  }

  // `depth`: the number of arrays/objects the value is inside.
  Value parse_value(int depth) {
    skip_whitespace();
    if (at_end()) fail("unexpected end of input");
    const char c = text_[pos_];
    if (c == '{' || c == '[') {
      if (depth == kMaxDepth)
        fail("arrays/objects nested more than " + std::to_string(kMaxDepth) + " deep");
      return c == '{' ? parse_object(depth + 1) : parse_array(depth + 1);
    }
    if (c == '"') return Value(parse_string());
    if (c == '-' || next_is_digit()) return Value(parse_number());
    if (consume_word("true")) return Value(true);
    if (consume_word("false")) return Value(false);
    if (consume_word("null")) return Value();
    const auto byte = static_cast<unsigned char>(c);
    fail(byte >= 0x20 && byte < 0x7f ? std::string("unexpected character '") + c + "'"
                                     : "unexpected byte " + std::to_string(byte));
  }

  Value parse_array(int depth) {
    ++pos_;  // '['
    Value::Array items;
    if (consume(']')) return Value(std::move(items));
    do items.push_back(parse_value(depth));
    while (consume(','));
    expect(']', "',' or ']' after an array element");
    return Value(std::move(items));
  }

  Value parse_object(int depth) {
    const std::size_t start = pos_++;  // '{'
    Value::Object members;
    if (consume('}')) return Value(std::move(members));
    do {
      skip_whitespace();
      if (!next_is('"')) fail("expected a string as object key");
      std::string key = parse_string();
      expect(':', "':' after an object key");
      Value value = parse_value(depth);
      members.emplace_back(std::move(key), std::move(value));
    } while (consume(','));
    expect('}', "',' or '}' after an object member");
    // Sorted, not pairwise: a large header must not take quadratic time.
    std::vector<const std::string*> keys;
    for (const auto& member : members) keys.push_back(&member.first);
    std::sort(keys.begin(), keys.end(), [](auto a, auto b) { return *a < *b; });
    const auto twin =
        std::adjacent_find(keys.begin(), keys.end(), [](auto a, auto b) { return *a == *b; });
    if (twin != keys.end()) fail_at(start, "duplicate key \"" + **twin + "\" in an object");
    return Value(std::move(members));
  }

  std::string parse_string() {
    const std::size_t start = pos_++;  // '"'
    std::string out;
    while (true) {
      if (at_end()) fail_at(start, "unterminated string");
      const unsigned char c = static_cast<unsigned char>(text_[pos_]);
      if (c == '"') {
        ++pos_;
        return out;
      }
      if (c == '\\') {
        append_escape(out);
        continue;
      }
      if (c < 0x20) fail("unescaped control character in a string");
      const std::size_t length = c < 0x80 ? 1 : utf8_sequence_length();
      if (length == 0) fail("invalid UTF-8 in a string");
      out.append(text_.substr(pos_, length));
      pos_ += length;
    }
  }

  // The length of the well-formed UTF-8 sequence of 2 to 4 bytes at pos_ (Unicode table 3-7:
  // no overlong forms, no surrogates, nothing above U+10FFFF), or 0.
  std::size_t utf8_sequence_length() const {
    const auto byte = [&](std::size_t k) -> unsigned {
      return pos_ + k < text_.size() ? static_cast<unsigned char>(text_[pos_ + k]) : 0;
    };
    const unsigned lead = byte(0);
    std::size_t length = 0;
    unsigned low = 0x80, high = 0xBF;  // the range of the second byte
    if (lead >= 0xC2 && lead <= 0xDF) {
      length = 2;
    } else if (lead >= 0xE0 && lead <= 0xEF) {
      length = 3;
      if (lead == 0xE0) low = 0xA0;
      if (lead == 0xED) high = 0x9F;
    } else if (lead >= 0xF0 && lead <= 0xF4) {
      length = 4;
      if (lead == 0xF0) low = 0x90;
      if (lead == 0xF4) high = 0x8F;
    } else {
      return 0;
    }
    if (byte(1) < low || byte(1) > high) return 0;
    for (std::size_t k = 2; k < length; ++k)
      if (byte(k) < 0x80 || byte(k) > 0xBF) return 0;
    return length;
  }

  void append_escape(std::string& out) {
    const std::size_t start = pos_++;  // '\'
    if (at_end()) fail_at(start, "unterminated string");
    switch (text_[pos_++]) {
      case '"': out += '"'; return;
      case '\\': out += '\\'; return;
      case '/': out += '/'; return;
      case 'b': out += '\b'; return;
      case 'f': out += '\f'; return;
      case 'n': out += '\n'; return;
      case 'r': out += '\r'; return;
      case 't': out += '\t'; return;
      case 'u': break;
      default: fail_at(start, "invalid escape sequence");
    }
    std::uint32_t code = hex4();
    if (code >= 0xDC00 && code <= 0xDFFF) fail_at(start, "unpaired surrogate in \\u escape");
    if (code >= 0xD800 && code <= 0xDBFF) {  // a high surrogate: the low one must follow
      if (!consume_word("\\u")) fail_at(start, "unpaired surrogate in \\u escape");
      const std::uint32_t low = hex4();
      if (low < 0xDC00 || low > 0xDFFF) fail_at(start, "unpaired surrogate in \\u escape");
      code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00);
    }
    append_utf8(out, code);
  }

  std::uint32_t hex4() {
    std::uint32_t code = 0;
    for (int k = 0; k < 4; ++k, ++pos_) {
      const char c = at_end() ? '\0' : text_[pos_];
      const int digit = c >= '0' && c <= '9'   ? c - '0'
                        : c >= 'a' && c <= 'f' ? c - 'a' + 10
                        : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                               : -1;
      if (digit < 0) fail("expected 4 hex digits in a \\u escape");
      code = code * 16 + static_cast<std::uint32_t>(digit);
    }
    return code;
  }

  static void append_utf8(std::string& out, std::uint32_t code) {
    const auto add = [&](std::uint32_t byte) { out += static_cast<char>(byte); };
    if (code < 0x80) {
      add(code);
    } else if (code < 0x800) {
      add(0xC0 | code >> 6);
      add(0x80 | (code & 0x3F));
    } else if (code < 0x10000) {
      add(0xE0 | code >> 12);
      add(0x80 | (code >> 6 & 0x3F));
      add(0x80 | (code & 0x3F));
    } else {
      add(0xF0 | code >> 18);
      add(0x80 | (code >> 12 & 0x3F));
      add(0x80 | (code >> 6 & 0x3F));
      add(0x80 | (code & 0x3F));
    }
  }

  Value::Number parse_number() {
    const std::size_t start = pos_;
    const auto skip_digits = [&] {
      while (next_is_digit()) ++pos_;
    };
    if (next_is('-')) ++pos_;
    if (next_is('0'))
      ++pos_;
    else if (next_is_digit())
      skip_digits();
    else
      fail("expected a digit");
    bool integral = true;
    if (next_is('.')) {
      ++pos_;
      integral = false;
      if (!next_is_digit()) fail("expected a digit after the decimal point");
      skip_digits();
    }
    if (next_is('e') || next_is('E')) {
      ++pos_;
      integral = false;
      if (next_is('+') || next_is('-')) ++pos_;
      if (!next_is_digit()) fail("expected a digit in the exponent");
      skip_digits();
    }
    const std::string_view literal = text_.substr(start, pos_ - start);
    Value::Number number;
    if (integral) {
      const auto result =
          std::from_chars(literal.data(), literal.data() + literal.size(), number.integer);
      number.is_integer = result.ec == std::errc();
    }
    if (number.is_integer) {
      number.value = static_cast<double>(number.integer);
      return number;
    }
    number_stream_.clear();
    number_stream_.str(std::string(literal));
    number_stream_ >> number.value;
    if (number_stream_.fail() || !std::isfinite(number.value))
      fail_at(start, "number out of range");
    return number;
  }

  std::string_view text_;
  std::size_t pos_ = 0;
  std::istringstream number_stream_;
};

}  // namespace detail

inline Value parse(std::string_view text) { return detail::Parser(text).parse_document(); }

}  // namespace nnbcd::json
