// Hostile configuration text (docs/hostile-input.md): every broken file is a
// clear "source:line:column: problem" error, never a crash or undefined
// behaviour. The first cases are what fuzz/fuzz_config found.
#include <gtest/gtest.h>

#include <string>

#include "config/config_file.h"

using namespace ikecluster;
using namespace ikecluster::config;

namespace {

std::string error_of(std::string_view text) {
    auto r = parse_config(text, "bad.toml");
    return r.ok() ? std::string("(no error)") : r.error().what;
}

}  // namespace

// fuzz_config crash-f0509d42: U+02F3 outside a string sent toml++ 3.3 into
// __builtin_unreachable() (its non-ASCII whitespace table misses most code
// points in U+00A1-U+0499). Now refused before the library sees it.
TEST(HostileConfig, NonAsciiOutsideStringsIsAnErrorNotUndefinedBehaviour) {
    EXPECT_EQ(error_of("\xcb\xb3_\x00"
                       "4"),
              "bad.toml:1:1: a non-ASCII character outside a string or comment");
    EXPECT_EQ(error_of("caf\xc3\xa9 = 1\n"),
              "bad.toml:1:4: a non-ASCII character outside a string or comment");
    EXPECT_EQ(error_of("[log]\nlevel = \"info\" \xc3\xa9\n"),
              "bad.toml:2:16: a non-ASCII character outside a string or comment");
    EXPECT_EQ(error_of("a = [\xe3\x80\x81]\n"),  // U+3001, in the second broken range
              "bad.toml:1:6: a non-ASCII character outside a string or comment");
}

// fuzz_config crash-d6fad60f: a quote in the middle of a malformed bare
// value is not a string to toml++, which went on checking the characters
// after it (U+FEF7) for whitespace.
TEST(HostileConfig, AQuoteInsideABareValueOpensNoString) {
    EXPECT_EQ(error_of("t_file = 2/etc/ikeclu~~'''~~\xef\xbb\xb7"
                       "er/old.\n"),
              "bad.toml:1:29: a non-ASCII character outside a string or comment");
    EXPECT_EQ(error_of("a = x\"\xc3\xa9\"\n"),
              "bad.toml:1:7: a non-ASCII character outside a string or comment");
}

// fuzz_config crash-b902d331 (CI, 2026-12-04): "250rtY='4" + U+02DE. An '='
// ends a bare key but not a bare value: toml++ read on through the quote
// and checked U+02DE for whitespace.
TEST(HostileConfig, AnEqualsSignInsideABareValueOpensNoString) {
    const std::string crash(
        "\x00priority = 250rtY='4\xcb\x9ertbec nt t\"[ 2s\x7f\x00\x00\x00"
        "0\n",
        44);
    EXPECT_EQ(error_of(crash), "bad.toml:1:22: a non-ASCII character outside a string or comment");
    EXPECT_EQ(error_of("a = 1x='\xc3\xa9'\n"),
              "bad.toml:1:9: a non-ASCII character outside a string or comment");
    // In an inline table, a key follows the comma again; in an array, a value.
    EXPECT_EQ(error_of("a = { b = 1, c = x='\xc3\xa9' }\n"),
              "bad.toml:1:21: a non-ASCII character outside a string or comment");
    EXPECT_EQ(error_of("a = [1,\n x='\xc3\xa9']\n"),
              "bad.toml:2:5: a non-ASCII character outside a string or comment");
    // Where '=' ends a key, the string after it is one.
    EXPECT_EQ(error_of("a='\xc3\xa9'\n").find("non-ASCII"), std::string::npos);
    EXPECT_EQ(error_of("a = {b=1,c='\xc3\xa9'}\n").find("non-ASCII"), std::string::npos);
    EXPECT_EQ(error_of("[t]\nk='\xc3\xa9'\n").find("non-ASCII"), std::string::npos);
    EXPECT_EQ(error_of("[[t]]\nk='\xc3\xa9'\n").find("non-ASCII"), std::string::npos);
}

TEST(HostileConfig, NonAsciiAfterAMultiLineStringBackslashIsAnError) {
    EXPECT_EQ(error_of("a = \"\"\"x\\\n   \xc3\xa9\"\"\"\n"),
              "bad.toml:2:4: a non-ASCII character after a backslash in a multi-line string");
    EXPECT_EQ(error_of("a = \"\"\"x\\\xc3\xa9\"\"\"\n"),
              "bad.toml:1:10: a non-ASCII character after a backslash in a multi-line string");
}

// Where TOML allows them (strings, comments, a leading byte order mark),
// non-ASCII characters still reach the parser and its own checks.
TEST(HostileConfig, NonAsciiInStringsAndCommentsStillParses) {
    const char* ok =
        "\xEF\xBB\xBF# Z\xc3\xbcrich office\n"
        "[log]  # caf\xc3\xa9\n"
        "level = \"info\"\n"
        "[daemon]\n"
        "control_socket = '/run/\xc3\xa9.sock'\n";
    auto r = parse_config(ok, "ok.toml");
    ASSERT_TRUE(r.ok()) << r.error().what;
    EXPECT_EQ(r->control_socket, "/run/\xc3\xa9.sock");
    // Quoted and multi-line strings: unknown keys, but no scanner error.
    EXPECT_EQ(error_of("\"k\xc3\xa9\" = 1\n").find("non-ASCII"), std::string::npos);
    EXPECT_EQ(error_of("a = \"\"\"\xc3\xa9\n\xc3\xa9\"\"\"\"\n").find("non-ASCII"),
              std::string::npos);
    EXPECT_EQ(error_of("a = '''\xc3\xa9\\\n\xc3\xa9'''\n").find("non-ASCII"), std::string::npos);
    EXPECT_EQ(error_of("a = \"x\\\"\xc3\xa9\"\n").find("non-ASCII"), std::string::npos);
}

// Broken files of every kind give an error naming the place.
TEST(HostileConfig, BrokenFilesNameFileLineAndColumn) {
    for (const char* text : {
             "[daemon\n",                                   // unterminated table header
             "a = \"unterminated\n",                        // unterminated string
             "[daemon]\nlisten = [\"198.51.100.1\",\n",     // unterminated array
             "[daemon]\nlisten = 5\n",                      // wrong type
             "[daemon]\nunknown_key = 1\n",                 // unknown key
             "[ike]\nretransmit_tries = 99999999999999\n",  // out of range
             "[connections.x]\nproposals = \"nonsense\"\n",
             "= = =\n",
         }) {
        std::string e = error_of(text);
        EXPECT_EQ(e.rfind("bad.toml:", 0), 0u) << "for " << text << ": " << e;
    }
}

// fuzz/fuzz_config: a duration whose nanosecond count overflows was
// undefined behaviour; anything beyond ten years is an error now.
TEST(HostileConfig, AnAbsurdlyLongDurationIsAnErrorNotAnOverflow) {
    using namespace std::chrono_literals;
    EXPECT_FALSE(parse_duration("2777777777777").ok());
    EXPECT_FALSE(parse_duration("9223372036854775807ms").ok());
    EXPECT_FALSE(parse_duration("106752d").ok());
    EXPECT_FALSE(parse_duration("3651d").ok());
    EXPECT_EQ(*parse_duration("3650d"), std::chrono::hours(24 * 3650));
    EXPECT_EQ(*parse_duration("315360000"), std::chrono::seconds(315360000));
    EXPECT_EQ(*parse_duration("1500ms"), 1500ms);
}

// fuzz_config crash-f4b9ba9f: in "listen =0[\"18..." the bracket and the
// quote belong to the bare value "0[...", so the U+FEEF after them is
// outside any string to toml++, which sent it down the broken path.
TEST(HostileConfig, ABracketInsideABareValueOpensNoString) {
    EXPECT_EQ(error_of("[daemon]\nlisten =0[\"18\xef\xbb\xaf"
                       "8.5\"\n"),
              "bad.toml:2:14: a non-ASCII character outside a string or comment");
    // A real array after a number still has its strings.
    EXPECT_EQ(error_of("a = [1,\"\xc3\xa9\"]\n").find("non-ASCII"), std::string::npos);
}
