// FUNCTION DUMP / RESTORE payload codec (format in function_dump.h), on the RDB pieces of
// wire/rdb_format.h.
#include "broker/scripting/function_dump.h"

namespace sluice::scripting {
namespace {

constexpr uint8_t kOpcodeFunction2 = 0xF5;

}  // namespace

std::string encode_function_dump(const std::vector<std::string_view>& library_codes) {
  std::string out;
  for (std::string_view code : library_codes) {
    out.push_back(static_cast<char>(kOpcodeFunction2));
    wire::rdb::put_length(out, code.size());
    out.append(code);
  }
  wire::rdb::seal_payload(out);
  return out;
}

bool decode_function_dump(std::string_view payload, std::vector<std::string>* codes,
                          std::string* error) {
  *error = "ERR DUMP payload version or checksum are wrong";
  std::string_view body;
  if (!wire::rdb::open_payload(payload, &body)) return false;
  wire::rdb::Reader r(body);
  while (!r.at_end()) {
    uint8_t op = 0;
    r.byte(&op);
    if (op != kOpcodeFunction2) {
      *error = "ERR given type is not a function";
      return false;
    }
    std::string code;
    if (!r.string(&code)) {
      *error = "ERR payload is not a valid function dump";
      return false;
    }
    codes->push_back(std::move(code));
  }
  error->clear();
  return true;
}

}  // namespace sluice::scripting
