#include "proxy/idle_list.hpp"

namespace usher::proxy {

void IdleList::push(IdleEntry& e, Clock::time_point deadline, const Executor& ex) {
    remove(e);
    e.list_ = this;
    e.deadline_ = deadline;
    heap_.push_back(&e);
    e.slot_ = heap_.size() - 1;
    sift_up(e.slot_);
    if (deadline < armed_for_) {
        arm(ex);
    }
}

void IdleList::remove(IdleEntry& e) noexcept {
    if (e.list_ != nullptr) {
        e.list_->erase(e.slot_);
    }
    // The timer is left as it is: if it was armed for this entry it fires early and re-arms.
}

void IdleList::erase(std::size_t slot) noexcept {
    IdleEntry* gone = heap_[slot];
    gone->list_ = nullptr;
    IdleEntry* last = heap_.back();
    heap_.pop_back();
    if (last != gone) {
        place(last, slot);
        sift_up(slot);
        sift_down(last->slot_);
    }
}

void IdleList::place(IdleEntry* e, std::size_t slot) noexcept {
    heap_[slot] = e;
    e->slot_ = slot;
}

void IdleList::sift_up(std::size_t slot) noexcept {
    IdleEntry* e = heap_[slot];
    while (slot > 0) {
        const std::size_t parent = (slot - 1) / 2;
        if (heap_[parent]->deadline_ <= e->deadline_) {
            break;
        }
        place(heap_[parent], slot);
        slot = parent;
    }
    place(e, slot);
}

void IdleList::sift_down(std::size_t slot) noexcept {
    IdleEntry* e = heap_[slot];
    const std::size_t n = heap_.size();
    for (;;) {
        std::size_t child = 2 * slot + 1;
        if (child >= n) {
            break;
        }
        if (child + 1 < n && heap_[child + 1]->deadline_ < heap_[child]->deadline_) {
            ++child;
        }
        if (e->deadline_ <= heap_[child]->deadline_) {
            break;
        }
        place(heap_[child], slot);
        slot = child;
    }
    place(e, slot);
}

void IdleList::close_all() noexcept {
    stopped_ = true;
    while (!heap_.empty()) {
        IdleEntry* e = heap_.front();
        erase(0);
        e->on_expired_(*e);
    }
    timer_.reset();
    armed_for_ = Clock::time_point::max();
}

void IdleList::arm(const Executor& ex) {
    const auto when = heap_.empty() ? Clock::time_point::max() : heap_.front()->deadline_;
    if (stopped_ || when == Clock::time_point::max()) {
        return;
    }
    if (!timer_) {
        timer_.emplace(ex);
    }
    armed_for_ = when;
    timer_->expires_at(when);
    timer_->async_wait([this](const asio::error_code& ec) {
        if (ec != asio::error::operation_aborted) {
            on_timer();
        }
    });
}

void IdleList::on_timer() {
    armed_for_ = Clock::time_point::max();
    const auto now = Clock::now();
    while (!heap_.empty() && heap_.front()->deadline_ <= now) {
        IdleEntry* e = heap_.front();
        erase(0);
        e->on_expired_(*e);
    }
    if (timer_) {
        arm(timer_->get_executor());
    }
}

}  // namespace usher::proxy
