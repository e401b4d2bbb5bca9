// Text and JSON views of engine state, shared by the structured event log and
// the control socket so both name SAs the same way.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "ike/config.h"
#include "ike/state.h"

namespace ikecluster::daemon {

// "0123456789abcdef_fedcba9876543210": initiator SPI, then responder SPI,
// 16 hex digits each, the form the control protocol accepts back.
std::string spis_text(const ike::IkeSpis& s);
std::optional<ike::IkeSpis> parse_spis(std::string_view text);
// A Child SA SPI: 8 hex digits (an optional 0x prefix is accepted).
std::string spi_text(std::uint32_t spi);
std::optional<std::uint32_t> parse_spi(std::string_view text);

std::string suite_text(const ike::IkeSuite& s);
std::string child_suite_text(const ike::ChildSaState& c);
std::string ts_text(const ike::TsList& ts);
std::string_view reason_text(ike::DeleteReason r);

// One log line per event, key=value so it can be grepped and parsed.
// nullopt for events that are not worth a line at info (message IDs).
std::optional<std::string> event_line(const ike::Event& e);

nlohmann::json child_json(const ike::ChildSaState& c);
nlohmann::json ike_sa_json(const ike::IkeSaState& s);
nlohmann::json connection_json(const ike::ConnectionConfig& c);

}  // namespace ikecluster::daemon
