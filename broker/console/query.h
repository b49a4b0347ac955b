// Query strings of the web console's requests: percent-decoding and parameter lookup.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace sluice::console {

// Decodes a query component as application/x-www-form-urlencoded (what the page's
// URLSearchParams sends): %XX escapes, and '+' as a space. False on a malformed escape.
bool percent_decode(std::string_view in, std::string* out);
// The decoded value of the first `name` parameter of a query ("a=1&b=2"); nullopt when absent
// or malformed. A parameter without '=' has the value "".
std::optional<std::string> query_param(std::string_view query, std::string_view name);

}  // namespace sluice::console
