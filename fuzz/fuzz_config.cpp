// libFuzzer target: the daemon's TOML configuration parser and validator
// (shell/config/config_file.h) on arbitrary text. parse_config is pure --
// text in, DaemonConfig or an error out -- so every input is independent.
//
// The first octet picks the overload: even, the one that leaves cluster key
// files unresolved; odd, the one with a SecretFileReader, here a reader that
// answers from the path itself (a path naming "missing" fails, anything else
// returns its own name repeated to 32 octets and beyond), so the key-file
// checks run without touching the file system. The rest is the file's text.
// Each run also feeds the text to parse_duration, the value parser the
// lifetimes and timers share.
//
// Seed corpus: fuzz/corpus/config, the packaging/*.toml files and
// configurations from tests/config (scripts/test copies it per run).
#include <cstdint>
#include <string>
#include <string_view>

#include "config/config_file.h"

using namespace ikecluster;

namespace {

Result<std::string> fake_key_file(const std::string& path) {
    if (path.find("missing") != std::string::npos)
        return Error{0, path + ": cannot open the key file"};
    std::string s;
    while (s.size() < 40)
        s += path.empty() ? std::string("k") : path;
    return s;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) return 0;
    const bool resolve = data[0] & 1;
    std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);
    auto r = resolve ? config::parse_config(text, "fuzz.toml", fake_key_file)
                     : config::parse_config(text, "fuzz.toml");
    if (!r) {
        // An error must name a place: "fuzz.toml:line:column: problem".
        if (r.error().what.rfind("fuzz.toml:", 0) != 0) __builtin_trap();
    } else if (r->cluster) {
        // A parsed cluster section names this member among its members.
        (void)r->cluster->self();
        (void)r->cluster->member_index();
    }
    if (text.size() < 64) (void)config::parse_duration(text);
    return 0;
}
