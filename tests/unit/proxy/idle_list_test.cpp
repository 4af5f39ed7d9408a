#include "proxy/idle_list.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

namespace usher::proxy {
namespace {

using namespace std::chrono_literals;
using Clock = IdleList::Clock;

// A parked entry that records when the list expired it.
class Entry final : public IdleEntry {
  public:
    Entry(std::string name, std::vector<std::string>& log)
        : IdleEntry(&Entry::expired), name_(std::move(name)), log_(log) {}

  private:
    static void expired(IdleEntry& e) noexcept {
        auto& self = static_cast<Entry&>(e);
        self.log_.push_back(self.name_);
    }
    std::string name_;
    std::vector<std::string>& log_;
};

// One list on its own io_context, three entries, and the time the test started.
class IdleListTest : public ::testing::Test {
  protected:
    asio::io_context io;
    IdleList list;
    std::vector<std::string> expired;  // names, in the order the list expired them
    Entry a{"a", expired}, b{"b", expired}, c{"c", expired};
    const Clock::time_point start = Clock::now();

    void park(IdleEntry& e, Clock::time_point deadline) {
        list.push(e, deadline, io.get_executor());
    }
    // Runs the io_context until `done` holds or `limit` passes.
    template <typename Pred>
    void run_until(Pred done, Clock::duration limit = 2s) {
        const auto end = Clock::now() + limit;
        while (!done() && Clock::now() < end) {
            io.run_for(5ms);
            io.restart();
        }
    }
};

TEST_F(IdleListTest, ExpiresEntriesInDeadlineOrderAndNotBefore) {
    park(a, start + 30ms);
    park(b, start + 60ms);
    park(c, start + 90ms);
    EXPECT_EQ(list.size(), 3u);
    run_until([&] { return expired.size() == 1; });
    EXPECT_GE(Clock::now() - start, 30ms);
    EXPECT_EQ(expired, std::vector<std::string>{"a"});
    EXPECT_EQ(list.size(), 2u) << "an expired entry is unlinked before it is told";
    run_until([&] { return expired.size() == 3; });
    EXPECT_GE(Clock::now() - start, 90ms);
    EXPECT_EQ(expired, (std::vector<std::string>{"a", "b", "c"}));
    EXPECT_EQ(list.size(), 0u);
}

TEST_F(IdleListTest, RemovedEntriesNeverExpireAndTheTimerMovesOnToTheNext) {
    park(a, start + 20ms);  // the timer is armed for a
    park(b, start + 40ms);
    park(c, start + 60ms);
    IdleList::remove(a);  // head removed: the timer fires early and re-arms for b
    IdleList::remove(c);  // tail removed
    IdleList::remove(c);  // twice: a no-op
    EXPECT_EQ(list.size(), 1u);
    run_until([&] { return !expired.empty(); });
    EXPECT_EQ(expired, std::vector<std::string>{"b"});
    EXPECT_GE(Clock::now() - start, 40ms);
    run_until([] { return false; }, 100ms);
    EXPECT_EQ(expired, std::vector<std::string>{"b"}) << "removed entries must not expire";
}

TEST_F(IdleListTest, ReparkingGivesAnEntryItsNewDeadline) {
    park(a, start + 20ms);
    park(b, start + 40ms);
    park(a, start + 60ms);  // served a request, parked again
    EXPECT_EQ(list.size(), 2u);
    run_until([&] { return expired.size() == 2; });
    EXPECT_EQ(expired, (std::vector<std::string>{"b", "a"}));
}

TEST_F(IdleListTest, DeadlinesAreExactWhateverTheParkingOrder) {
    // After a reload changed the idle timeout (or a busy connection parks with what is left of
    // its idle time) deadlines do not follow the parking order; an entry without a limit
    // never holds back one with a limit.
    Entry forever("forever", expired), late("late", expired), soon("soon", expired);
    park(forever, Clock::time_point::max());
    park(late, start + 80ms);
    park(soon, start + 20ms);
    run_until([&] { return !expired.empty(); });
    EXPECT_EQ(expired, std::vector<std::string>{"soon"});
    EXPECT_LT(Clock::now() - start, 75ms) << "soon waited for late";
    run_until([&] { return expired.size() == 2; });
    EXPECT_EQ(expired, (std::vector<std::string>{"soon", "late"}));
    run_until([] { return false; }, 50ms);
    EXPECT_EQ(list.size(), 1u) << "no limit: parked until it is removed";
    IdleList::remove(forever);
    EXPECT_EQ(list.size(), 0u);
}

TEST_F(IdleListTest, ManyEntriesInRandomOrderExpireSorted) {
    std::vector<std::unique_ptr<Entry>> entries;
    const auto base = Clock::now() + 10ms;
    // 64 deadlines 1 ms apart, pushed in a scrambled order (37 is coprime with 64); every
    // third one is removed again.
    for (int i = 0; i < 64; ++i) {
        const int k = (i * 37) % 64;
        entries.push_back(std::make_unique<Entry>(std::to_string(k), expired));
        park(*entries.back(), base + std::chrono::milliseconds(k));
    }
    std::vector<std::string> want;
    for (int i = 0; i < 64; ++i) {
        const int k = (i * 37) % 64;
        if (k % 3 == 0) {
            IdleList::remove(*entries[static_cast<std::size_t>(i)]);
        }
    }
    for (int k = 0; k < 64; ++k) {
        if (k % 3 != 0) {
            want.push_back(std::to_string(k));
        }
    }
    EXPECT_EQ(list.size(), want.size());
    run_until([&] { return expired.size() == want.size(); });
    EXPECT_EQ(expired, want);
}

TEST_F(IdleListTest, CloseAllExpiresEveryEntryAtOnceAndNeverFiresAgain) {
    park(a, Clock::now() + 1h);
    park(b, Clock::now() + 10ms);
    park(c, Clock::time_point::max());
    list.close_all();
    EXPECT_EQ(expired, (std::vector<std::string>{"b", "a", "c"}));
    EXPECT_EQ(list.size(), 0u);
    park(a, Clock::now() + 10ms);
    run_until([] { return false; }, 60ms);
    EXPECT_EQ(expired.size(), 3u) << "a closed list arms no timer";
    IdleList::remove(a);
}

TEST_F(IdleListTest, ADeadlineInThePastIsDueOnTheNextTurnNotInline) {
    // ClientConnection::drain() parks an entry with time_point::min() while the worker iterates
    // its connections: the expiry must not run inside push().
    park(a, Clock::now() + 1h);
    park(b, Clock::time_point::min());
    EXPECT_TRUE(expired.empty());
    run_until([&] { return !expired.empty(); });
    EXPECT_EQ(expired, std::vector<std::string>{"b"});
    IdleList::remove(a);
}

}  // namespace
}  // namespace usher::proxy
