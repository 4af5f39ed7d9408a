// The `admin` section: defaults, the token, and every error with its exact position.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "config/loader.hpp"
#include "config/redact.hpp"

namespace usher::config {
namespace {

constexpr std::string_view kHead =
    "listeners:\n  - address: 127.0.0.1:8080\nclusters:\n  app:\n    endpoints: "
    "[\"127.0.0.1:9000\"]\n";  // 5 lines

std::vector<std::string> errors_of(const std::string& admin) {
    const auto r = load_string(std::string(kHead) + admin, "usher.yaml");
    std::vector<std::string> out;
    for (const auto& d : r.errors) {
        out.push_back(d.to_string());
    }
    return out;
}

TEST(AdminConfig, AbsentMeansNoAdminListener) {
    const auto r = load_string(std::string(kHead), "usher.yaml");
    ASSERT_TRUE(r.ok());
    EXPECT_FALSE(r.config->admin.has_value());
}

TEST(AdminConfig, EmptySectionListensOnLoopbackWithoutToken) {
    const auto r = load_string(std::string(kHead) + "admin: {}\n", "usher.yaml");
    ASSERT_TRUE(r.ok());
    ASSERT_TRUE(r.config->admin.has_value());
    EXPECT_EQ(r.config->admin->listen.to_string(), "127.0.0.1:9901");
    EXPECT_EQ(r.config->admin->token, "");
}

TEST(AdminConfig, ReadsListenAndToken) {
    const auto r = load_string(
        std::string(kHead) + "admin:\n  listen: \"[::1]:9000\"\n  token: abcdefghijklmnop\n",
        "usher.yaml");
    ASSERT_TRUE(r.ok()) << r.errors.front().to_string();
    EXPECT_EQ(r.config->admin->listen.to_string(), "[::1]:9000");
    EXPECT_EQ(r.config->admin->token, "abcdefghijklmnop");
}

TEST(AdminConfig, ReportsBadValuesWithTheirPosition) {
    using Errors = std::vector<std::string>;
    EXPECT_EQ(errors_of("admin:\n  token: short\n"),
              Errors{"usher.yaml:7:10: admin.token: the token is too short (at least 16 "
                     "characters)"});
    EXPECT_EQ(errors_of("admin:\n  token: \"has a space in it!!\"\n"),
              Errors{"usher.yaml:7:10: admin.token: the token must be printable ASCII without "
                     "spaces"});
    EXPECT_EQ(errors_of("admin:\n  listen: 127.0.0.1:8080\n"),
              Errors{"usher.yaml:7:11: admin.listen: the admin listener cannot share the address "
                     "127.0.0.1:8080 of listener \"127.0.0.1:8080\""});
    const auto bad_port = errors_of("admin:\n  listen: 127.0.0.1:99999\n");
    ASSERT_EQ(bad_port.size(), 1u);
    EXPECT_EQ(bad_port[0].rfind("usher.yaml:7:11: admin.listen: ", 0), 0u) << bad_port[0];
    const auto unknown = errors_of("admin:\n  tokn: abcdefghijklmnopq\n");
    ASSERT_EQ(unknown.size(), 1u);
    EXPECT_EQ(unknown[0].rfind("usher.yaml:7:3: admin", 0), 0u) << unknown[0];
    EXPECT_NE(unknown[0].find("token"), std::string::npos) << "did you mean";
    const auto scalar = errors_of("admin: yes\n");
    ASSERT_EQ(scalar.size(), 1u);
    EXPECT_EQ(scalar[0].rfind("usher.yaml:6:8: admin", 0), 0u) << scalar[0];
}

TEST(AdminConfig, KeepsTheTextAndRedactsTheToken) {
    const std::string yaml = std::string(kHead) + "admin:\n  token: abcdefghijklmnop\n";
    const auto r = load_string(yaml, "usher.yaml");
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r.config->text, yaml);
    const auto shown = redacted_yaml(*r.config);
    EXPECT_EQ(shown.find("abcdefghijklmnop"), std::string::npos) << shown;
    EXPECT_NE(shown.find("token: <redacted>"), std::string::npos) << shown;
    EXPECT_NE(shown.find("127.0.0.1:9000"), std::string::npos) << shown;
    // What /config shows is the same config, but for the token (too short to be one).
    const auto again = load_string(shown, "shown.yaml");
    ASSERT_EQ(again.errors.size(), 1u);
    EXPECT_NE(again.errors[0].to_string().find("admin.token"), std::string::npos);
}

TEST(AdminConfig, ClustersCompareByValue) {
    const auto a = load_string(std::string(kHead), "a.yaml");
    const auto b = load_string(std::string(kHead), "b.yaml");
    const auto c = load_string(std::string(kHead) + "    balancer: random\n", "c.yaml");
    ASSERT_TRUE(a.ok() && b.ok() && c.ok());
    EXPECT_TRUE(a.config->clusters.at("app") == b.config->clusters.at("app"));
    EXPECT_FALSE(a.config->clusters.at("app") == c.config->clusters.at("app"));
}

}  // namespace
}  // namespace usher::config
