// Balancers through the real binary: sticky cookies and consistent hashing on a header.
#include <gtest/gtest.h>

#include <map>
#include <set>

#include "harness.hpp"

namespace usher::test {
namespace {

std::string config(const std::vector<FakeBackend*>& backends, const std::string& balancer) {
    std::string eps;
    for (auto* b : backends) {
        eps += (eps.empty() ? "\"" : ", \"") + b->address() + "\"";
    }
    return "workers: 2\nlisteners:\n  - address: \"{LISTEN}\"\nclusters:\n  app:\n"
           "    endpoints: [" +
           eps + "]\n    balancer: " + balancer + "\n";
}

std::string cookie_from(const std::string& headers) {
    auto pos = headers.find("Set-Cookie: sid=");
    if (pos == std::string::npos) {
        return {};
    }
    auto start = pos + 12;
    return headers.substr(start, headers.find(';', start) - start);
}

TEST(Balancers, StickyCookieKeepsAClientOnOneEndpoint) {
    FakeBackend a(FakeBackend::responder(200, "A"));
    FakeBackend b(FakeBackend::responder(200, "B"));
    FakeBackend c(FakeBackend::responder(200, "C"));
    UsherProcess usher(config({&a, &b, &c}, "{kind: cookie, cookie: {name: sid}}"));
    ASSERT_TRUE(usher.started()) << usher.log();
    std::set<std::string> first_answers;
    for (int client = 0; client < 6; ++client) {
        auto first = curl_request(usher.url("/"));
        ASSERT_EQ(first.status, 200);
        auto cookie = cookie_from(first.headers);
        ASSERT_FALSE(cookie.empty()) << first.headers;
        first_answers.insert(first.body);
        for (int i = 0; i < 5; ++i) {
            auto again = curl_request(usher.url("/"), {.headers = {"Cookie: " + cookie}});
            EXPECT_EQ(again.body, first.body) << "client " << client << " moved";
            EXPECT_EQ(cookie_from(again.headers), "") << "a valid cookie is not set again";
        }
    }
    EXPECT_GT(first_answers.size(), 1u) << "new clients are spread over the endpoints";
}

TEST(Balancers, RingHashOnAHeaderIsConsistent) {
    FakeBackend a(FakeBackend::responder(200, "A"));
    FakeBackend b(FakeBackend::responder(200, "B"));
    UsherProcess usher(config({&a, &b}, "{kind: ring_hash, hash_on: header, name: X-User}"));
    ASSERT_TRUE(usher.started()) << usher.log();
    std::map<std::string, std::string> owner;
    for (int round = 0; round < 3; ++round) {
        for (int user = 0; user < 20; ++user) {
            auto id = "user-" + std::to_string(user);
            auto r = curl_request(usher.url("/"), {.headers = {"X-User: " + id}});
            ASSERT_EQ(r.status, 200);
            if (round == 0) {
                owner[id] = r.body;
            } else {
                EXPECT_EQ(r.body, owner[id]) << id << " moved between requests";
            }
        }
    }
    std::set<std::string> used;
    for (const auto& [id, o] : owner) {
        used.insert(o);
    }
    EXPECT_EQ(used.size(), 2u) << "20 users all hashed to one endpoint";
}

}  // namespace
}  // namespace usher::test
