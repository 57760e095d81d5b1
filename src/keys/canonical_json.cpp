// canonicalize_json: JSON text -> canonical key form, via nlohmann-json's SAX parser.
//
// The parser is iterative, and so is everything here: the document becomes a small tree
// (object members in a std::map, so in UTF-8 byte order), which is written through a
// KeyWriter (sharing its escaping and number formatting) and torn down without recursion.

#include <cstddef>
#include <cstdint>
#include <iterator>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "bucketcache/canonical.hpp"
#include "bucketcache/error.hpp"
#include "keys/canonical_internal.hpp"

BUCKETCACHE_NAMESPACE_BEGIN

namespace {

using json = nlohmann::json;

struct Node {
  enum class Kind : unsigned char {
    null,
    boolean,
    integer,
    unsigned_integer,
    number,
    string,
    array,
    object
  };
  Kind kind = Kind::null;
  bool b = false;
  std::int64_t i = 0;
  std::uint64_t u = 0;
  double d = 0;
  std::string str;
  std::vector<std::unique_ptr<Node>> items;
  std::map<std::string, std::unique_ptr<Node>> members;  // std::string order = byte order
};

// Owns a tree and destroys it without recursion.
struct Tree {
  std::unique_ptr<Node> root;

  Tree() = default;
  Tree(const Tree&) = delete;
  Tree& operator=(const Tree&) = delete;
  ~Tree() {
    std::vector<std::unique_ptr<Node>> pending;
    if (root) pending.push_back(std::move(root));
    while (!pending.empty()) {
      std::unique_ptr<Node> n = std::move(pending.back());
      pending.pop_back();
      for (auto& c : n->items) pending.push_back(std::move(c));
      for (auto& m : n->members) pending.push_back(std::move(m.second));
    }  // each node dies with only empty children
  }
};

// Input iterator over the text that records how far the parser has read, so errors found
// by the handler (depth, duplicate names) can name a byte offset.
class TrackingIterator {
 public:
  using iterator_category = std::input_iterator_tag;
  using value_type = char;
  using difference_type = std::ptrdiff_t;
  using pointer = const char*;
  using reference = const char&;

  TrackingIterator(const char* p, const char** cursor) : p_(p), cursor_(cursor) {}
  reference operator*() const { return *p_; }
  TrackingIterator& operator++() {
    *cursor_ = ++p_;
    return *this;
  }
  TrackingIterator operator++(int) {
    TrackingIterator old = *this;
    ++*this;
    return old;
  }
  bool operator==(const TrackingIterator& other) const { return p_ == other.p_; }
  bool operator!=(const TrackingIterator& other) const { return p_ != other.p_; }

 private:
  const char* p_;
  const char** cursor_;
};

// nlohmann's exception text without its "[json.exception...] parse error at ..." prefix.
std::string short_reason(const std::string& what) {
  std::string s = what;
  if (!s.empty() && s[0] == '[') {
    std::size_t close = s.find("] ");
    if (close != std::string::npos) s.erase(0, close + 2);
  }
  if (s.compare(0, 11, "parse error") == 0) {
    std::size_t colon = s.find(": ");
    if (colon != std::string::npos) s.erase(0, colon + 2);
  }
  return s;
}

class Builder {
 public:
  Builder(Tree& tree, const char* begin, const char* const* cursor)
      : tree_(tree), begin_(begin), cursor_(cursor) {}

  // Set when a handler returned false (or the parser reported an error).
  const std::string& error() const { return error_; }

  bool null() {
    scalar();  // a new node is null
    return true;
  }
  bool boolean(bool v) {
    Node* n = scalar();
    n->kind = Node::Kind::boolean;
    n->b = v;
    return true;
  }
  bool number_integer(json::number_integer_t v) {
    Node* n = scalar();
    n->kind = Node::Kind::integer;
    n->i = v;
    return true;
  }
  bool number_unsigned(json::number_unsigned_t v) {
    Node* n = scalar();
    n->kind = Node::Kind::unsigned_integer;
    n->u = v;
    return true;
  }
  bool number_float(json::number_float_t v, const json::string_t& /*text*/) {
    Node* n = scalar();
    n->kind = Node::Kind::number;
    n->d = v;
    return true;
  }
  bool string(json::string_t& v) {
    Node* n = scalar();
    n->kind = Node::Kind::string;
    n->str = std::move(v);
    return true;
  }
  bool binary(json::binary_t& /*v*/) { return fail_here("binary values are not JSON"); }

  bool start_object(std::size_t /*elements*/) { return open(Node::Kind::object); }
  bool start_array(std::size_t /*elements*/) { return open(Node::Kind::array); }
  bool end_object() { return close(); }
  bool end_array() { return close(); }

  bool key(json::string_t& name) {
    Frame& f = stack_.back();
    auto [it, inserted] = f.node->members.try_emplace(name);
    if (!inserted) return fail_here("duplicate member name " + detail::quote_for_message(name));
    it->second = std::make_unique<Node>();
    f.slot = it->second.get();
    return true;
  }

  bool parse_error(std::size_t position, const std::string& /*last_token*/,
                   const nlohmann::detail::exception& ex) {
    // position counts characters read; the offending one is at position - 1.
    return fail_at(position > 0 ? position - 1 : 0, short_reason(ex.what()));
  }

 private:
  struct Frame {
    Node* node;
    Node* slot;  // object: node for the value of the last member name
  };

  // Node for the next value.
  Node* scalar() {
    if (stack_.empty()) {
      tree_.root = std::make_unique<Node>();
      return tree_.root.get();
    }
    Frame& f = stack_.back();
    if (f.node->kind == Node::Kind::array) {
      f.node->items.push_back(std::make_unique<Node>());
      return f.node->items.back().get();
    }
    Node* n = f.slot;
    f.slot = nullptr;
    return n;
  }

  bool open(Node::Kind kind) {
    if (stack_.size() >= kMaxKeyDepth) {
      return fail_here("nesting deeper than " + std::to_string(kMaxKeyDepth) + " levels");
    }
    Node* n = scalar();
    n->kind = kind;
    stack_.push_back(Frame{n, nullptr});
    return true;
  }

  bool close() {
    stack_.pop_back();
    return true;
  }

  // An error at the last byte the parser has read.
  bool fail_here(const std::string& what) {
    const std::size_t read = static_cast<std::size_t>(*cursor_ - begin_);
    return fail_at(read > 0 ? read - 1 : 0, what);
  }

  bool fail_at(std::size_t offset, const std::string& what) {
    if (error_.empty()) error_ = "invalid JSON key at byte " + std::to_string(offset) + ": " + what;
    return false;
  }

  Tree& tree_;
  const char* begin_;
  const char* const* cursor_;
  std::vector<Frame> stack_;
  std::string error_;
};

// Writes the tree through w, iteratively.
void emit(KeyWriter& w, const Node& root) {
  struct Pos {
    const Node* node;
    std::size_t index;
    std::map<std::string, std::unique_ptr<Node>>::const_iterator member;
  };
  std::vector<Pos> stack;
  auto write = [&](const Node& n) {
    switch (n.kind) {
      case Node::Kind::null:
        w.null();
        break;
      case Node::Kind::boolean:
        w.boolean(n.b);
        break;
      case Node::Kind::integer:
        w.integer(n.i);
        break;
      case Node::Kind::unsigned_integer:
        w.unsigned_integer(n.u);
        break;
      case Node::Kind::number:
        w.number(n.d);
        break;
      case Node::Kind::string:
        w.string(n.str);
        break;
      case Node::Kind::array:
        w.begin_array();
        stack.push_back(Pos{&n, 0, {}});
        break;
      case Node::Kind::object:
        w.begin_object();
        stack.push_back(Pos{&n, 0, n.members.begin()});
        break;
    }
  };
  write(root);
  while (!stack.empty()) {
    Pos& p = stack.back();
    if (p.node->kind == Node::Kind::array) {
      if (p.index == p.node->items.size()) {
        w.end_array();
        stack.pop_back();
      } else {
        write(*p.node->items[p.index++]);  // may push; p is not used afterwards
      }
    } else {
      if (p.member == p.node->members.end()) {
        w.end_object();
        stack.pop_back();
      } else {
        auto it = p.member++;
        w.key(it->first);
        write(*it->second);
      }
    }
  }
}

}  // namespace

namespace {
// Whether json_text is a JSON string of printable ASCII without escapes ("key-000123"):
// such text is its own canonical form (the most common memoize and binding key).
bool is_plain_ascii_string(std::string_view json_text) {
  if (json_text.size() < 2 || json_text.front() != '"' || json_text.back() != '"') return false;
  for (std::size_t i = 1; i + 1 < json_text.size(); ++i) {
    const auto c = static_cast<unsigned char>(json_text[i]);
    if (c < 0x20 || c > 0x7e || c == '"' || c == '\\') return false;
  }
  return true;
}
}  // namespace

std::string canonicalize_json(std::string_view json_text) {
  if (is_plain_ascii_string(json_text)) return std::string(json_text);
  // nlohmann skips a UTF-8 BOM; refuse it, as Python's json module (and the bindings) do.
  if (json_text.substr(0, 3) == "\xef\xbb\xbf") {
    throw InvalidArgument(
        "invalid JSON key at byte 0: byte order mark (U+FEFF) before the JSON text");
  }
  Tree tree;
  const char* begin = json_text.data();
  const char* end = begin + json_text.size();
  const char* cursor = begin;
  Builder builder(tree, begin, &cursor);
  bool ok = false;
  try {
    ok = json::sax_parse(TrackingIterator(begin, &cursor), TrackingIterator(end, &cursor), &builder,
                         json::input_format_t::json, /*strict=*/true,
                         /*ignore_comments=*/false);
  } catch (const nlohmann::json::exception& e) {
    throw InvalidArgument("invalid JSON key: " + short_reason(e.what()));
  }
  if (!ok || !tree.root) {
    throw InvalidArgument(builder.error().empty() ? std::string("invalid JSON key")
                                                  : builder.error());
  }
  std::string out;
  detail::StringSink sink(out);
  KeyWriter w(sink);
  emit(w, *tree.root);
  w.finish();
  return out;
}

BUCKETCACHE_NAMESPACE_END
