// Names of payload and notify types for logs and error messages.
#include "wire/constants.h"

namespace ikecluster::wire {

const char* payload_name(std::uint8_t type) {
    switch (PayloadType(type)) {
        case PayloadType::NONE:
            return "no next payload";
        case PayloadType::SA:
            return "SA";
        case PayloadType::KE:
            return "KE";
        case PayloadType::IDi:
            return "IDi";
        case PayloadType::IDr:
            return "IDr";
        case PayloadType::CERT:
            return "CERT";
        case PayloadType::CERTREQ:
            return "CERTREQ";
        case PayloadType::AUTH:
            return "AUTH";
        case PayloadType::NONCE:
            return "Nonce";
        case PayloadType::NOTIFY:
            return "Notify";
        case PayloadType::DELETE:
            return "Delete";
        case PayloadType::VENDOR:
            return "Vendor ID";
        case PayloadType::TSi:
            return "TSi";
        case PayloadType::TSr:
            return "TSr";
        case PayloadType::SK:
            return "SK";
        case PayloadType::CP:
            return "CP";
        case PayloadType::EAP:
            return "EAP";
        case PayloadType::SKF:
            return "SKF";
    }
    return "unknown";
}

namespace {

struct NotifyName {
    NotifyType type;
    const char* name;
};

// Every value of NotifyType, in order (tests check the table is complete).
constexpr NotifyName kNotifyNames[] = {
    {NotifyType::UNSUPPORTED_CRITICAL_PAYLOAD, "UNSUPPORTED_CRITICAL_PAYLOAD"},
    {NotifyType::INVALID_IKE_SPI, "INVALID_IKE_SPI"},
    {NotifyType::INVALID_MAJOR_VERSION, "INVALID_MAJOR_VERSION"},
    {NotifyType::INVALID_SYNTAX, "INVALID_SYNTAX"},
    {NotifyType::INVALID_MESSAGE_ID, "INVALID_MESSAGE_ID"},
    {NotifyType::INVALID_SPI, "INVALID_SPI"},
    {NotifyType::NO_PROPOSAL_CHOSEN, "NO_PROPOSAL_CHOSEN"},
    {NotifyType::INVALID_KE_PAYLOAD, "INVALID_KE_PAYLOAD"},
    {NotifyType::AUTHENTICATION_FAILED, "AUTHENTICATION_FAILED"},
    {NotifyType::SINGLE_PAIR_REQUIRED, "SINGLE_PAIR_REQUIRED"},
    {NotifyType::NO_ADDITIONAL_SAS, "NO_ADDITIONAL_SAS"},
    {NotifyType::INTERNAL_ADDRESS_FAILURE, "INTERNAL_ADDRESS_FAILURE"},
    {NotifyType::FAILED_CP_REQUIRED, "FAILED_CP_REQUIRED"},
    {NotifyType::TS_UNACCEPTABLE, "TS_UNACCEPTABLE"},
    {NotifyType::INVALID_SELECTORS, "INVALID_SELECTORS"},
    {NotifyType::TEMPORARY_FAILURE, "TEMPORARY_FAILURE"},
    {NotifyType::CHILD_SA_NOT_FOUND, "CHILD_SA_NOT_FOUND"},
    {NotifyType::INITIAL_CONTACT, "INITIAL_CONTACT"},
    {NotifyType::SET_WINDOW_SIZE, "SET_WINDOW_SIZE"},
    {NotifyType::ADDITIONAL_TS_POSSIBLE, "ADDITIONAL_TS_POSSIBLE"},
    {NotifyType::IPCOMP_SUPPORTED, "IPCOMP_SUPPORTED"},
    {NotifyType::NAT_DETECTION_SOURCE_IP, "NAT_DETECTION_SOURCE_IP"},
    {NotifyType::NAT_DETECTION_DESTINATION_IP, "NAT_DETECTION_DESTINATION_IP"},
    {NotifyType::COOKIE, "COOKIE"},
    {NotifyType::USE_TRANSPORT_MODE, "USE_TRANSPORT_MODE"},
    {NotifyType::HTTP_CERT_LOOKUP_SUPPORTED, "HTTP_CERT_LOOKUP_SUPPORTED"},
    {NotifyType::REKEY_SA, "REKEY_SA"},
    {NotifyType::ESP_TFC_PADDING_NOT_SUPPORTED, "ESP_TFC_PADDING_NOT_SUPPORTED"},
    {NotifyType::NON_FIRST_FRAGMENTS_ALSO, "NON_FIRST_FRAGMENTS_ALSO"},
    {NotifyType::MOBIKE_SUPPORTED, "MOBIKE_SUPPORTED"},
    {NotifyType::ADDITIONAL_IP4_ADDRESS, "ADDITIONAL_IP4_ADDRESS"},
    {NotifyType::ADDITIONAL_IP6_ADDRESS, "ADDITIONAL_IP6_ADDRESS"},
    {NotifyType::NO_ADDITIONAL_ADDRESSES, "NO_ADDITIONAL_ADDRESSES"},
    {NotifyType::UPDATE_SA_ADDRESSES, "UPDATE_SA_ADDRESSES"},
    {NotifyType::COOKIE2, "COOKIE2"},
    {NotifyType::NO_NATS_ALLOWED, "NO_NATS_ALLOWED"},
    {NotifyType::AUTH_LIFETIME, "AUTH_LIFETIME"},
    {NotifyType::MULTIPLE_AUTH_SUPPORTED, "MULTIPLE_AUTH_SUPPORTED"},
    {NotifyType::ANOTHER_AUTH_FOLLOWS, "ANOTHER_AUTH_FOLLOWS"},
    {NotifyType::REDIRECT_SUPPORTED, "REDIRECT_SUPPORTED"},
    {NotifyType::REDIRECT, "REDIRECT"},
    {NotifyType::REDIRECTED_FROM, "REDIRECTED_FROM"},
    {NotifyType::TICKET_LT_OPAQUE, "TICKET_LT_OPAQUE"},
    {NotifyType::TICKET_REQUEST, "TICKET_REQUEST"},
    {NotifyType::TICKET_ACK, "TICKET_ACK"},
    {NotifyType::TICKET_NACK, "TICKET_NACK"},
    {NotifyType::TICKET_OPAQUE, "TICKET_OPAQUE"},
    {NotifyType::EAP_ONLY_AUTHENTICATION, "EAP_ONLY_AUTHENTICATION"},
    {NotifyType::CHILDLESS_IKEV2_SUPPORTED, "CHILDLESS_IKEV2_SUPPORTED"},
    {NotifyType::IKEV2_MESSAGE_ID_SYNC_SUPPORTED, "IKEV2_MESSAGE_ID_SYNC_SUPPORTED"},
    {NotifyType::IPSEC_REPLAY_COUNTER_SYNC_SUPPORTED, "IPSEC_REPLAY_COUNTER_SYNC_SUPPORTED"},
    {NotifyType::IKEV2_MESSAGE_ID_SYNC, "IKEV2_MESSAGE_ID_SYNC"},
    {NotifyType::IPSEC_REPLAY_COUNTER_SYNC, "IPSEC_REPLAY_COUNTER_SYNC"},
    {NotifyType::SECURE_PASSWORD_METHODS, "SECURE_PASSWORD_METHODS"},
    {NotifyType::IKEV2_FRAGMENTATION_SUPPORTED, "IKEV2_FRAGMENTATION_SUPPORTED"},
    {NotifyType::SIGNATURE_HASH_ALGORITHMS, "SIGNATURE_HASH_ALGORITHMS"},
};

}  // namespace

const char* notify_name(std::uint16_t type) {
    for (const NotifyName& n : kNotifyNames) {
        if (std::uint16_t(n.type) == type) return n.name;
    }
    return nullptr;
}

std::span<const NotifyType> all_notify_types() {
    static constexpr auto kAll = [] {
        std::array<NotifyType, std::size(kNotifyNames)> a{};
        for (std::size_t i = 0; i < a.size(); ++i)
            a[i] = kNotifyNames[i].type;
        return a;
    }();
    return kAll;
}

}  // namespace ikecluster::wire
