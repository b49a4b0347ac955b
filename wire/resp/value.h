// A parsed RESP3 value, as the client (and tests) see replies. Not used on the server's hot path.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace sluice::wire::resp {

struct Value {
  enum class Type : uint8_t {
    kSimple,     // +
    kError,      // - and ! (blob error)
    kInteger,    // :
    kBulk,       // $
    kNull,       // _ , $-1, *-1
    kArray,      // *
    kMap,        // %  (elems holds key, value, key, value, ...)
    kSet,        // ~
    kPush,       // >
    kDouble,     // ,
    kBoolean,    // #
    kVerbatim,   // =  (str holds the text after "txt:")
    kBigNumber,  // (  (str holds the digits)
  };

  Type type = Type::kNull;
  std::string str;                // simple, error, bulk, verbatim, big number
  int64_t integer = 0;            // integer, boolean (0/1)
  double dbl = 0;                 // double
  std::vector<Value> elems;       // array, map (flattened), set, push
  std::vector<Value> attributes;  // a preceding |attribute map, flattened; usually empty

  bool is_error() const { return type == Type::kError; }
  bool is_null() const { return type == Type::kNull; }
  bool is_aggregate() const {
    return type == Type::kArray || type == Type::kMap || type == Type::kSet || type == Type::kPush;
  }
  // Human-readable, redis-cli-like rendering, for test failure messages and examples.
  std::string debug_string() const;
};

}  // namespace sluice::wire::resp
