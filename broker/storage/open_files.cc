// The storage descriptor budget: see open_files.h.
#include "broker/storage/open_files.h"

#include <utility>

namespace sluice::storage {

// An intrusive doubly linked list, most recently used first: opened/used/closed are O(1) and
// need no allocation, which matters on the write path of every stream.
struct OpenFileList {
  IdleFile* head = nullptr;
  IdleFile* tail = nullptr;
  size_t count = 0;   // linked IdleFiles
  size_t pinned = 0;  // pin_descriptors()
  size_t limit = 4096;
  uint64_t closed_idle = 0;

  void unlink(IdleFile& f) {
    (f.prev_ ? f.prev_->next_ : head) = f.next_;
    (f.next_ ? f.next_->prev_ : tail) = f.prev_;
    f.prev_ = f.next_ = nullptr;
    f.linked_ = false;
    --count;
  }
  void push_front(IdleFile& f) {
    f.prev_ = nullptr;
    f.next_ = head;
    (head ? head->prev_ : tail) = &f;
    head = &f;
    f.linked_ = true;
    ++count;
  }

  // Closes least recently used idle files while more than the limit are open. A busy file goes
  // back to the front (a second chance), so files that stay busy (streams written all the time)
  // are not looked at again and again; at most a bounded number of files is looked at per call,
  // and the next safe point goes on.
  size_t in_use() const { return count + pinned; }
  size_t close_idle() {
    if (in_use() <= limit) return 0;
    size_t budget = 2 * (in_use() - limit) + 64;
    size_t closed = 0;
    while (in_use() > limit && tail != nullptr && budget-- > 0) {
      IdleFile* f = tail;
      if (f->close_if_idle_()) {
        if (f->linked_) unlink(*f);  // (an owner that did not call closed())
        ++closed;
      } else {
        unlink(*f);
        push_front(*f);
      }
    }
    closed_idle += closed;
    return closed;
  }
};

namespace {

OpenFileList& list() {
  static OpenFileList files;
  return files;
}

}  // namespace

IdleFile::IdleFile(std::function<bool()> close_if_idle)
    : close_if_idle_(std::move(close_if_idle)) {}

IdleFile::~IdleFile() { closed(); }

void IdleFile::opened() {
  if (linked_) list().unlink(*this);
  list().push_front(*this);
}

void IdleFile::used() {
  if (!linked_ || list().head == this) return;
  list().unlink(*this);
  list().push_front(*this);
}

void IdleFile::closed() {
  if (linked_) list().unlink(*this);
}

void set_open_files_limit(size_t limit) { list().limit = limit; }
size_t open_files_limit() { return list().limit; }
void pin_descriptors(int delta) {
  size_t& pinned = list().pinned;
  pinned = delta < 0 && pinned < static_cast<size_t>(-delta) ? 0 : pinned + delta;
}
size_t open_files() { return list().in_use(); }
uint64_t idle_files_closed() { return list().closed_idle; }

size_t close_idle_files() { return list().close_idle(); }

bool open_files_over_limit() {
  OpenFileList& l = list();
  if (l.in_use() <= l.limit) return false;
  l.close_idle();
  return l.in_use() > l.limit;
}

}  // namespace sluice::storage
