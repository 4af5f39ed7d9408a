#include "config/resilience_reader.hpp"

#include <algorithm>
#include <array>
#include <chrono>
#include <limits>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "config/syntax.hpp"
#include "core/units.hpp"

namespace usher::config::detail {
namespace {

using namespace std::chrono_literals;

const std::vector<std::string> kOutlierKeys{"consecutive_failures", "count_5xx",
                                            "base_ejection_time", "max_ejection_time",
                                            "max_ejected_percent"};
const std::vector<std::string> kCircuitBreakerKeys{"max_connections", "max_pending", "max_requests",
                                                   "max_retries"};
const std::vector<std::string> kRetryBudgetKeys{"percent", "min_retries"};
const std::vector<std::string> kRetryKeys{
    "retries", "on", "non_idempotent", "per_try_timeout", "backoff", "max_backoff", "max_body"};
const std::vector<std::string> kRetryWords{"connect_failure", "reset", "timeout", "5xx",
                                           "gateway_error"};

constexpr std::uint64_t kMaxRetries = 10;
constexpr std::uint64_t kMaxConsecutiveFailures = 1000;
constexpr std::uint64_t kMaxBudgetMinRetries = 100000;
constexpr std::uint16_t kLowestRetryStatus = 400;
constexpr std::uint16_t kHighestRetryStatus = 599;
constexpr std::array<std::uint16_t, 3> kGatewayErrors{502, 503, 504};
constexpr Duration kMinResolveInterval = 1s;
// Without max_backoff, the cap is this many times `backoff` (25ms -> 250ms, as Envoy does).
constexpr Duration::rep kDefaultBackoffCapFactor = 10;
constexpr std::uint64_t kUnbounded = std::numeric_limits<std::uint64_t>::max();

// "clusters.api.retry_budget.percent: 120 is out of range (0-100)" style integer keys.
void read_count(Reader& r, const Field& f, std::string_view key, std::uint64_t min,
                std::uint64_t max, std::uint64_t& out) {
    if (const auto v = r.get(f, key)) {
        out = r.integer(*v, min, max).value_or(out);
    }
}

// `later` (e.g. max_ejection_time) may not be shorter than `earlier` (base_ejection_time).
void check_not_less(Reader& r, const Field& later_field, Duration later,
                    std::string_view earlier_key, Duration earlier) {
    if (later < earlier) {
        r.error(later_field, "must be at least " + std::string(earlier_key) + " (" +
                                 format_duration(earlier) + "), got " + format_duration(later));
    }
}

void read_outlier_detection(Reader& r, const Field& f, Cluster& cluster) {
    if (!r.mapping(f, kOutlierKeys)) {
        return;
    }
    OutlierDetection o;
    read_count(r, f, "consecutive_failures", 1, kMaxConsecutiveFailures, o.consecutive_failures);
    if (const auto v = r.get(f, "count_5xx")) {
        o.count_5xx = r.boolean(*v).value_or(o.count_5xx);
    }
    bool base_ok = true;
    if (const auto v = r.get(f, "base_ejection_time")) {
        const auto d = r.duration(*v, false);
        base_ok = d.has_value();
        o.base_ejection_time = d.value_or(o.base_ejection_time);
    }
    if (const auto v = r.get(f, "max_ejection_time")) {
        if (const auto d = r.duration(*v, false)) {
            o.max_ejection_time = *d;
            if (base_ok) {
                check_not_less(r, *v, *d, "base_ejection_time", o.base_ejection_time);
            }
        }
    } else {
        // Only base_ejection_time set, above the default cap: the cap follows it.
        o.max_ejection_time = std::max(o.max_ejection_time, o.base_ejection_time);
    }
    read_count(r, f, "max_ejected_percent", 0, 100, o.max_ejected_percent);
    cluster.outlier_detection = o;
}

void read_circuit_breaker(Reader& r, const Field& f, CircuitBreaker& cb) {
    if (!r.mapping(f, kCircuitBreakerKeys)) {
        return;
    }
    read_count(r, f, "max_connections", 0, kUnbounded, cb.max_connections);
    read_count(r, f, "max_pending", 0, kUnbounded, cb.max_pending);
    read_count(r, f, "max_requests", 0, kUnbounded, cb.max_requests);
    read_count(r, f, "max_retries", 0, kUnbounded, cb.max_retries);
}

void read_retry_budget(Reader& r, const Field& f, RetryBudget& b) {
    if (!r.mapping(f, kRetryBudgetKeys)) {
        return;
    }
    read_count(r, f, "percent", 0, 100, b.percent);
    read_count(r, f, "min_retries", 0, kMaxBudgetMinRetries, b.min_retries);
}

bool looks_numeric(const std::string& s) {
    const std::size_t start = !s.empty() && s.front() == '-' ? 1 : 0;
    return s.size() > start && std::all_of(s.begin() + static_cast<std::ptrdiff_t>(start), s.end(),
                                           [](char c) { return c >= '0' && c <= '9'; });
}

void add_status(RetryPolicy& p, std::uint16_t status) {
    if (std::find(p.on_statuses.begin(), p.on_statuses.end(), status) == p.on_statuses.end()) {
        p.on_statuses.push_back(status);
    }
}

// One item of `retry.on`: a condition word or a status 400-599.
void read_retry_condition(Reader& r, const Field& item, RetryPolicy& p) {
    const std::string& s = item.node.Scalar();
    if (looks_numeric(s)) {
        if (const auto n = r.integer(item, kLowestRetryStatus, kHighestRetryStatus)) {
            add_status(p, static_cast<std::uint16_t>(*n));
        }
        return;
    }
    if (s == "connect_failure") {
        p.on_connect_failure = true;
    } else if (s == "reset") {
        p.on_reset = true;
    } else if (s == "timeout") {
        p.on_timeout = true;
    } else if (s == "5xx") {
        p.on_5xx = true;
    } else if (s == "gateway_error") {
        for (const std::uint16_t status : kGatewayErrors) {
            add_status(p, status);
        }
    } else {
        std::string message = "unknown retry condition \"" + s + "\"";
        if (const auto hint = closest_match(s, kRetryWords)) {
            message += " (did you mean '" + *hint + "'?)";
        } else {
            message +=
                " (expected connect_failure, reset, timeout, 5xx, gateway_error or a status "
                "400-599)";
        }
        r.error(item, std::move(message));
    }
}

void read_retry_on(Reader& r, const Field& f, RetryPolicy& p) {
    const auto items = r.strings(f);
    if (!items) {
        return;
    }
    if (items->empty()) {
        r.error(f, "empty list: nothing would be retried (leave out retry instead)");
        return;
    }
    // The list replaces the default conditions.
    p.on_connect_failure = p.on_reset = p.on_timeout = p.on_5xx = false;
    p.on_statuses.clear();
    for (const Field& item : *items) {
        read_retry_condition(r, item, p);
    }
    std::sort(p.on_statuses.begin(), p.on_statuses.end());
}

RetryPolicy read_retry_mapping(Reader& r, const Field& f) {
    RetryPolicy p;
    if (!r.mapping(f, kRetryKeys)) {
        return p;
    }
    read_count(r, f, "retries", 0, kMaxRetries, p.retries);
    if (const auto v = r.get(f, "on")) {
        read_retry_on(r, *v, p);
    }
    if (const auto v = r.get(f, "non_idempotent")) {
        p.non_idempotent = r.boolean(*v).value_or(p.non_idempotent);
    }
    if (const auto v = r.get(f, "per_try_timeout")) {
        p.per_try_timeout = r.duration(*v, false).value_or(p.per_try_timeout);
    }
    bool backoff_ok = true;
    if (const auto v = r.get(f, "backoff")) {
        const auto d = r.duration(*v, true);
        backoff_ok = d.has_value();
        p.backoff = d.value_or(p.backoff);
    }
    if (const auto v = r.get(f, "max_backoff")) {
        if (const auto d = r.duration(*v, true)) {
            p.max_backoff = *d;
            if (backoff_ok) {
                check_not_less(r, *v, *d, "backoff", p.backoff);
            }
        }
    } else if (r.get(f, "backoff")) {
        constexpr auto kMax = std::numeric_limits<Duration::rep>::max();
        p.max_backoff = p.backoff.count() > kMax / kDefaultBackoffCapFactor
                            ? Duration(kMax)
                            : p.backoff * kDefaultBackoffCapFactor;
    }
    if (const auto v = r.get(f, "max_body")) {
        p.max_body = r.size(*v, true).value_or(p.max_body);
    }
    return p;
}

}  // namespace

void read_cluster_resilience(Reader& r, const Field& cluster_field, Cluster& cluster) {
    if (const auto v = r.get(cluster_field, "outlier_detection")) {
        read_outlier_detection(r, *v, cluster);
    }
    if (const auto v = r.get(cluster_field, "panic")) {
        cluster.panic =
            r.choice<PanicMode>(*v, {{"spread", PanicMode::spread}, {"fail", PanicMode::fail}})
                .value_or(cluster.panic);
    }
    if (const auto v = r.get(cluster_field, "slow_start")) {
        cluster.slow_start = r.duration(*v, true).value_or(cluster.slow_start);
    }
    if (const auto v = r.get(cluster_field, "circuit_breaker")) {
        read_circuit_breaker(r, *v, cluster.circuit_breaker);
    }
    if (const auto v = r.get(cluster_field, "retry_budget")) {
        read_retry_budget(r, *v, cluster.retry_budget);
    }
    if (const auto v = r.get(cluster_field, "resolve_interval")) {
        if (const auto d = r.duration(*v, false)) {
            if (*d < kMinResolveInterval) {
                r.error(*v, "must be at least " + format_duration(kMinResolveInterval) + ", got " +
                                format_duration(*d));
            } else {
                cluster.resolve_interval = *d;
            }
        }
    }
}

std::optional<RetryPolicy> read_retry(Reader& r, const Field& f) {
    if (f.node.IsScalar()) {
        // Shorthand: `retry: 3` is {retries: 3}.
        if (!looks_numeric(f.node.Scalar())) {
            r.error(f,
                    "expected a number of retries or a mapping, got \"" + f.node.Scalar() + "\"");
            return std::nullopt;
        }
        const auto n = r.integer(f, 0, kMaxRetries);
        if (!n) {
            return std::nullopt;
        }
        RetryPolicy p;
        p.retries = *n;
        return p;
    }
    if (f.node.IsSequence()) {
        r.error(f, "expected a number of retries or a mapping, got a list");
        return std::nullopt;
    }
    return read_retry_mapping(r, f);
}

}  // namespace usher::config::detail
