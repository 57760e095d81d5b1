// memoize(), memoize_method(): keys, refresh, ignored arguments, hit callback, precache,
// exceptions and single flight across threads and processes.
#include "bucketcache/memoize.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <tuple>
#include <vector>

#include "bucketcache/backends/json.hpp"
#include "bucketcache/backends/msgpack.hpp"
#include "bucketcache/bucket.hpp"
#include "test_util.hpp"

namespace bc = bucketcache;
using bctest::TempDir;
using JsonBucket = bc::Bucket<bc::JsonBackend>;

namespace {

std::atomic<int> g_square_calls{0};
int square(int x) {
  ++g_square_calls;
  return x * x;
}
int square_noexcept(int x) noexcept { return x * x; }

// ---- Helpers for the multi-process tests ----

// Appends one line to path with O_APPEND (one write: atomic among processes).
void append_line(const std::string& path, const std::string& line) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (fd < 0) return;
  const std::string text = line + "\n";
  ssize_t n = ::write(fd, text.data(), text.size());
  (void)n;
  ::close(fd);
}

int count_lines(const std::string& path, const std::string& line) {
  std::string text;
  try {
    text = bctest::read_file(path);
  } catch (const std::exception&) {
    return 0;
  }
  int n = 0;
  std::istringstream in(text);
  for (std::string l; std::getline(in, l);) n += (l == line);
  return n;
}

// Waits for every child until the deadline; kills and reaps the stragglers. Returns the
// exit statuses (-1 for a child that was killed or did not exit normally).
std::vector<int> wait_children(const std::vector<pid_t>& pids, std::chrono::seconds limit) {
  std::vector<int> codes(pids.size(), -2);
  const auto deadline = std::chrono::steady_clock::now() + limit;
  std::size_t left = pids.size();
  while (left > 0 && std::chrono::steady_clock::now() < deadline) {
    for (std::size_t i = 0; i < pids.size(); ++i) {
      if (codes[i] != -2) continue;
      int status = 0;
      const pid_t r = ::waitpid(pids[i], &status, WNOHANG);
      if (r == pids[i]) {
        codes[i] = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
        --left;
      }
    }
    if (left > 0) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  for (std::size_t i = 0; i < pids.size(); ++i) {
    if (codes[i] != -2) continue;
    ::kill(pids[i], SIGKILL);
    int status = 0;
    ::waitpid(pids[i], &status, 0);
    codes[i] = -1;
    ADD_FAILURE() << "child " << pids[i] << " did not finish within " << limit.count()
                  << " s; killed";
  }
  return codes;
}

// A pipe used as a start barrier: children block in wait(); the parent's release() (closing
// the write end) wakes them all at the same moment.
class StartGate {
 public:
  StartGate() {
    if (::pipe(fds_) != 0) throw std::runtime_error("pipe");
  }
  ~StartGate() {
    close_read();
    release();
  }
  // In a child: block until the parent releases (bounded by 30 s).
  bool wait() {
    release();  // the child's copy of the write end
    struct pollfd p {
      fds_[0], POLLIN, 0
    };
    const int r = ::poll(&p, 1, 30000);
    char c;
    return r == 1 && ::read(fds_[0], &c, 1) == 0;
  }
  void release() {
    if (fds_[1] >= 0) ::close(fds_[1]);
    fds_[1] = -1;
  }
  void close_read() {
    if (fds_[0] >= 0) ::close(fds_[0]);
    fds_[0] = -1;
  }

 private:
  int fds_[2] = {-1, -1};
};

// ---- Types for method mode and ignored arguments ----

struct Rectangle {
  int width = 0;
  int height = 0;
  std::string label;  // not part of the state that matters for the result
  int* calls = nullptr;

  int area(int scale) const {
    ++*calls;
    return width * height * scale;
  }
  std::string describe(const std::string& unit) {
    ++*calls;
    return std::to_string(width) + "x" + std::to_string(height) + unit;
  }
  void write_key(bc::KeyWriter& w) const {
    w.begin_object();
    w.key("height");
    w.integer(height);
    w.key("width");
    w.integer(width);
    w.end_object();
  }
};

}  // namespace

namespace shapes {
// State through an ADL free function.
struct Circle {
  int radius = 0;
  int* calls = nullptr;
  int diameter() const {
    ++*calls;
    return 2 * radius;
  }
};
void write_key(bc::KeyWriter& w, const Circle& c) { w.integer(c.radius); }
}  // namespace shapes

namespace {

// Not a key type (no write_key): may only be an ignored argument.
struct Connection {
  int id = 0;
};

// ---- Wrapping callables ----

TEST(MemoizeFunction, FreeFunctionComputesOnceAndTheNextProcessIsServedFromDisk) {
  TempDir dir;
  g_square_calls = 0;
  {
    JsonBucket b(dir.path());
    auto f = bc::memoize(b, "square", square);
    EXPECT_EQ(f(7), 49);
    EXPECT_EQ(f(7), 49);
    EXPECT_EQ(g_square_calls.load(), 1);
    EXPECT_EQ(f(8), 64);
    EXPECT_EQ(g_square_calls.load(), 2);
  }
  JsonBucket again(dir.path());  // a new bucket object: empty memory layer
  auto f = bc::memoize(again, "square", &square);
  EXPECT_EQ(f(7), 49);
  EXPECT_EQ(g_square_calls.load(), 2);
}

TEST(MemoizeFunction, LambdaStdFunctionFunctorAndNoexcept) {
  TempDir dir;
  JsonBucket b(dir.path());
  int calls = 0;
  auto lam = bc::memoize(b, "lambda", [&calls](int a, const std::string& s) {
    ++calls;
    return s + std::to_string(a);
  });
  EXPECT_EQ(lam(1, "x"), "x1");
  EXPECT_EQ(lam(1, "x"), "x1");
  EXPECT_EQ(calls, 1);

  std::function<double(double)> half = [&calls](double v) {
    ++calls;
    return v / 2;
  };
  auto f = bc::memoize(b, "half", half);
  EXPECT_EQ(f(3.0), 1.5);
  EXPECT_EQ(f(3.0), 1.5);
  EXPECT_EQ(calls, 2);

  struct Twice {
    int* calls;
    std::vector<int> operator()(const std::vector<int>& v) const {
      ++*calls;
      std::vector<int> r = v;
      r.insert(r.end(), v.begin(), v.end());
      return r;
    }
  };
  auto t = bc::memoize(b, "twice", Twice{&calls});
  EXPECT_EQ(t({1, 2}), (std::vector<int>{1, 2, 1, 2}));
  EXPECT_EQ(t({1, 2}), (std::vector<int>{1, 2, 1, 2}));
  EXPECT_EQ(calls, 3);

  auto n = bc::memoize(b, "noexcept", square_noexcept);
  EXPECT_EQ(n(3), 9);

  // A mutable lambda and no arguments at all.
  auto counter = bc::memoize(b, "mutable", [&calls, k = 0]() mutable {
    ++calls;
    return ++k;
  });
  EXPECT_EQ(counter(), 1);
  EXPECT_EQ(counter(), 1);
  EXPECT_EQ(calls, 4);
}

TEST(MemoizeFunction, GenericLambdaWorkaroundThroughStdFunction) {
  TempDir dir;
  JsonBucket b(dir.path());
  auto generic = [](auto x) { return x + x; };
  auto f = bc::memoize(b, "doubled", std::function<int(int)>(generic));
  EXPECT_EQ(f(21), 42);
  EXPECT_TRUE(f.cached(21));
  static_assert(!bc::detail::has_call_signature_v<decltype(generic)>);
}

TEST(MemoizeFunction, RvalueAndMoveOnlyParameters) {
  TempDir dir;
  JsonBucket b(dir.path());
  int calls = 0;
  auto f = bc::memoize(b, "consume", [&calls](std::string&& s) {
    ++calls;
    std::string mine = std::move(s);
    return mine.size();
  });
  EXPECT_EQ(f(std::string("abc")), 3u);
  EXPECT_EQ(f(std::string("abc")), 3u);
  EXPECT_EQ(calls, 1);
  // refresh() stores after calling: the key must not see a moved-from argument.
  EXPECT_EQ(f.refresh(std::string("abcd")), 4u);
  EXPECT_TRUE(f.cached("abcd"));
  EXPECT_EQ(calls, 2);

  // An ignored move-only argument is moved into the function.
  auto g = bc::memoize(
      b, "owned",
      [&calls](int x, std::unique_ptr<int> p) {
        ++calls;
        return x + *p;
      },
      bc::ignore_args<1>{});
  EXPECT_EQ(g(1, std::make_unique<int>(10)), 11);
  EXPECT_EQ(g(1, std::make_unique<int>(99)), 11);  // hit: the ignored argument is not used
  EXPECT_EQ(g.refresh(1, std::make_unique<int>(5)), 6);
  EXPECT_EQ(calls, 4);
}

// ---- Key format and backend ----

TEST(MemoizeKey, KeyIsNamePlusCanonicalArgumentsAndValueGoesThroughTheBackend) {
  TempDir dir;
  JsonBucket b(dir.path());
  auto f = bc::memoize(b, "join", [](const std::string& a, int n, std::vector<double> v) {
    return a + std::to_string(n) + std::to_string(v.size());
  });
  EXPECT_EQ(f.canonical_key("x", 2, {1.5, 2.0}), R"({"args":["x",2,[1.5,2]],"name":"join"})");
  EXPECT_EQ(f("x", 2, {1.5, 2.0}), "x22");

  // The entry is the bucket's entry for that canonical key, value in the backend's format.
  bc::Entry e;
  const bc::Digest d = b.store().digest(R"({"args":["x",2,[1.5,2]],"name":"join"})");
  ASSERT_EQ(b.store().get(d, e), bc::ReadStatus::found);
  EXPECT_EQ(*e.value, R"("x22")");

  // The same function under another name, or other arguments, is another entry.
  auto other = bc::memoize(b, "join2", [](const std::string& a, int n, std::vector<double> v) {
    return a + std::to_string(n) + std::to_string(v.size()) + "!";
  });
  EXPECT_EQ(other("x", 2, {1.5, 2.0}), "x22!");
  EXPECT_EQ(f("x", 3, {1.5, 2.0}), "x32");
}

TEST(MemoizeKey, OtherBackend) {
  TempDir dir;
  bc::Bucket<bc::MsgpackBackend> b(dir.path());
  int calls = 0;
  auto f = bc::memoize(b, "pair", [&calls](int a) {
    ++calls;
    return std::vector<std::string>(static_cast<std::size_t>(a), "v");
  });
  EXPECT_EQ(f(2), (std::vector<std::string>{"v", "v"}));
  EXPECT_EQ(f(2), (std::vector<std::string>{"v", "v"}));
  EXPECT_EQ(calls, 1);
}

TEST(MemoizeKey, ValueUnreadableAsTheResultTypeIsRecomputedAndReplaced) {
  TempDir dir;
  JsonBucket b(dir.path());
  int calls = 0;
  auto f = bc::memoize(b, "num", [&calls](int a) {
    ++calls;
    return a + 1;
  });
  b.store().set(b.store().digest(f.canonical_key(1)), R"("not a number")");
  EXPECT_EQ(f(1), 2);
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(f(1), 2);
  EXPECT_EQ(calls, 1);
}

// ---- Method mode ----

TEST(MemoizeMethod, ObjectStateIsPartOfTheKeyAndEqualStatesShareEntries) {
  TempDir dir;
  JsonBucket b(dir.path());
  int calls = 0;
  auto area = bc::memoize_method(b, "Rectangle::area", &Rectangle::area);
  Rectangle r1{2, 3, "first", &calls};
  Rectangle r2{2, 3, "second", &calls};  // equal state (label is not part of it)
  Rectangle r3{4, 3, "third", &calls};
  EXPECT_EQ(area(r1, 10), 60);
  EXPECT_EQ(area(r2, 10), 60);  // shared entry
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(area(r3, 10), 120);
  EXPECT_EQ(calls, 2);
  EXPECT_EQ(area(r1, 1), 6);
  EXPECT_EQ(calls, 3);
  EXPECT_EQ(area.canonical_key(r1, 10),
            R"({"args":[10],"name":"Rectangle::area","self":{"height":3,"width":2}})");

  const Rectangle& cr = r1;
  EXPECT_EQ(area(cr, 10), 60);  // const object with a const method
  EXPECT_EQ(calls, 3);

  // A non-const method.
  auto describe = bc::memoize_method(b, "Rectangle::describe", &Rectangle::describe);
  EXPECT_EQ(describe(r1, "cm"), "2x3cm");
  EXPECT_EQ(describe(r2, "cm"), "2x3cm");
  EXPECT_EQ(calls, 4);
}

TEST(MemoizeMethod, AdlFreeWriteKeyAndIgnoredArguments) {
  TempDir dir;
  JsonBucket b(dir.path());
  int calls = 0;
  auto diameter = bc::memoize_method(b, "Circle::diameter", &shapes::Circle::diameter);
  shapes::Circle a{5, &calls};
  shapes::Circle same{5, &calls};
  EXPECT_EQ(diameter(a), 10);
  EXPECT_EQ(diameter(same), 10);
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(diameter.canonical_key(a), R"({"args":[],"name":"Circle::diameter","self":5})");

  struct Worker {
    int base;
    int run(int x, std::ostream& log) const {
      log << "run " << x << "\n";
      return base + x;
    }
    void write_key(bc::KeyWriter& w) const { w.integer(base); }
  };
  auto run = bc::memoize_method(b, "Worker::run", &Worker::run, bc::ignore_args<1>{});
  std::ostringstream log1, log2;
  Worker w{100};
  EXPECT_EQ(run(w, 1, log1), 101);
  EXPECT_EQ(run(w, 1, log2), 101);
  EXPECT_EQ(log1.str(), "run 1\n");
  EXPECT_EQ(log2.str(), "");  // served from the cache
  EXPECT_EQ(run.canonical_key(w, 1, log1), R"({"args":[1],"name":"Worker::run","self":100})");
}

TEST(MemoizeMethod, RefQualifiedAndNoexceptMethods) {
  struct Qualified {
    int v = 0;
    int get() const& noexcept { return v; }
    int add(int k) & { return v + k; }
    int twice() noexcept { return 2 * v; }
    void write_key(bc::KeyWriter& w) const { w.integer(v); }
  };
  TempDir dir;
  JsonBucket b(dir.path());
  Qualified q{4};
  EXPECT_EQ(bc::memoize_method(b, "get", &Qualified::get)(q), 4);
  EXPECT_EQ(bc::memoize_method(b, "add", &Qualified::add)(q, 1), 5);
  EXPECT_EQ(bc::memoize_method(b, "twice", &Qualified::twice)(q), 8);
  Qualified other{4};
  auto add = bc::memoize_method(b, "add", &Qualified::add);
  add.on_hit([](const bc::CachedCallInfo<int>& info) { EXPECT_EQ(info.arguments, "[1]"); });
  EXPECT_TRUE(add.cached(other, 1));
  EXPECT_EQ(add(other, 1), 5);
}

TEST(MemoizeOnHit, ExceptionFromTheCallbackPropagates) {
  TempDir dir;
  JsonBucket b(dir.path());
  auto f = bc::memoize(b, "f", [](int x) { return x; });
  f.on_hit([](const bc::CachedCallInfo<int>&) { throw std::logic_error("from callback"); });
  EXPECT_EQ(f(1), 1);
  EXPECT_THROW(f(1), std::logic_error);
}

// ---- refresh (nocache) ----

TEST(MemoizeRefresh, ForcesACallAndOverwritesTheEntry) {
  TempDir dir;
  JsonBucket b(dir.path());
  int calls = 0;
  int offset = 0;
  auto f = bc::memoize(b, "plus", [&](int x) {
    ++calls;
    return x + offset;
  });
  EXPECT_EQ(f(1), 1);
  offset = 100;
  EXPECT_EQ(f(1), 1);  // cached
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(f.refresh(1), 101);
  EXPECT_EQ(calls, 2);
  EXPECT_EQ(f(1), 101);  // the overwritten entry
  EXPECT_EQ(calls, 2);
  JsonBucket fresh(dir.path());
  auto g = bc::memoize(fresh, "plus", [](int) { return -1; });
  EXPECT_EQ(g(1), 101);  // on disk too
}

// ---- Ignored arguments ----

TEST(MemoizeIgnore, IgnoredArgumentsAreLeftOutOfTheKeyAndNeedNotBeKeyTypes) {
  TempDir dir;
  JsonBucket b(dir.path());
  int calls = 0;
  auto f = bc::memoize(
      b, "query",
      [&calls](const Connection& c, const std::string& sql, std::ostream& log) {
        ++calls;
        log << "query on " << c.id << "\n";
        return sql + "!";
      },
      bc::ignore_args<0, 2>{});
  std::ostringstream log;
  EXPECT_EQ(f(Connection{1}, "select", log), "select!");
  EXPECT_EQ(f(Connection{2}, "select", log), "select!");
  EXPECT_EQ(f(Connection{3}, "update", log), "update!");
  EXPECT_EQ(calls, 2);
  EXPECT_EQ(log.str(), "query on 1\nquery on 3\n");
  EXPECT_EQ(f.canonical_key(Connection{9}, "select", log), R"({"args":["select"],"name":"query"})");
  EXPECT_TRUE(f.cached(Connection{}, "update", log));
}

// ---- Hit callback ----

TEST(MemoizeOnHit, CallbackGetsArgumentsValueAndExpiryOnHitsOnly) {
  TempDir dir;
  bc::Options o;
  o.lifetime = std::chrono::hours(1);
  JsonBucket b(dir.path(), o);
  std::vector<std::string> seen_args;
  std::vector<std::string> seen_values;
  std::vector<std::optional<std::chrono::system_clock::time_point>> seen_expiry;
  std::string seen_name;
  auto f = bc::memoize(
      b, "greet",
      [](const std::string& who, int n, std::ostream&) { return "hi " + who + std::to_string(n); },
      bc::ignore_args<2>{});
  f.on_hit([&](const bc::CachedCallInfo<std::string>& info) {
    seen_args.push_back(info.arguments);
    seen_values.push_back(info.value);
    seen_expiry.push_back(info.expires);
    seen_name = info.name;
  });
  std::ostringstream os;
  const auto before = std::chrono::system_clock::now();
  EXPECT_EQ(f("bob", 2, os), "hi bob2");  // miss: no callback
  EXPECT_TRUE(seen_args.empty());
  EXPECT_EQ(f("bob", 2, os), "hi bob2");
  ASSERT_EQ(seen_args.size(), 1u);
  EXPECT_EQ(seen_args[0], R"(["bob",2])");
  EXPECT_EQ(seen_values[0], "hi bob2");
  EXPECT_EQ(seen_name, "greet");
  ASSERT_TRUE(seen_expiry[0].has_value());
  EXPECT_GE(*seen_expiry[0], before + std::chrono::minutes(59));
  EXPECT_LE(*seen_expiry[0], std::chrono::system_clock::now() + std::chrono::hours(1));

  // Never-expiring entries report no expiry; hits from disk (new bucket object) too.
  TempDir dir2;
  {
    JsonBucket forever(dir2.path());
    bc::memoize(forever, "id", [](int x) { return x; })(5);
  }
  JsonBucket forever(dir2.path());
  std::optional<std::optional<std::chrono::system_clock::time_point>> expiry;
  int value = 0;
  auto g = bc::memoize(forever, "id", [](int x) { return x; });
  g.on_hit([&](const bc::CachedCallInfo<int>& info) {
    expiry = info.expires;
    value = info.value;
  });
  EXPECT_EQ(g(5), 5);
  ASSERT_TRUE(expiry.has_value());
  EXPECT_FALSE(expiry->has_value());
  EXPECT_EQ(value, 5);
}

// ---- precache, cached, erase ----

TEST(MemoizePrecache, StoresAValueWithoutCallingTheFunction) {
  TempDir dir;
  JsonBucket b(dir.path());
  int calls = 0;
  auto f = bc::memoize(b, "slow", [&calls](int x, const std::string& s) {
    ++calls;
    return s + std::to_string(x);
  });
  EXPECT_FALSE(f.cached(1, "a"));
  f.precache("precached", 1, "a");
  EXPECT_TRUE(f.cached(1, "a"));
  EXPECT_EQ(f(1, "a"), "precached");
  EXPECT_EQ(calls, 0);
  EXPECT_TRUE(f.erase(1, "a"));
  EXPECT_FALSE(f.cached(1, "a"));
  EXPECT_EQ(f(1, "a"), "a1");
  EXPECT_EQ(calls, 1);

  Rectangle r{1, 1, "", &calls};
  auto area = bc::memoize_method(b, "area", &Rectangle::area);
  area.precache(-5, r, 3);
  EXPECT_EQ(area(r, 3), -5);
  EXPECT_EQ(calls, 1);
  EXPECT_TRUE(area.cached(r, 3));
  EXPECT_TRUE(area.erase(r, 3));
  EXPECT_EQ(area(r, 3), 3);
  EXPECT_EQ(calls, 2);
}

// ---- Exceptions ----

TEST(MemoizeException, PropagatesAndCachesNothing) {
  TempDir dir;
  JsonBucket b(dir.path());
  int calls = 0;
  bool fail = true;
  auto f = bc::memoize(b, "flaky", [&](int x) {
    ++calls;
    if (fail) throw std::runtime_error("boom");
    return x;
  });
  EXPECT_THROW(f(1), std::runtime_error);
  EXPECT_FALSE(f.cached(1));
  EXPECT_FALSE(::access(b.store().entry_path(b.store().digest(f.canonical_key(1))).c_str(), F_OK) ==
               0);
  EXPECT_THROW(f.refresh(1), std::runtime_error);
  EXPECT_FALSE(f.cached(1));
  // The lock file is gone too.
  std::string lock = b.store().entry_path(b.store().digest(f.canonical_key(1)));
  lock.replace(lock.rfind('.'), std::string::npos, ".lock");
  EXPECT_NE(::access(lock.c_str(), F_OK), 0);
  fail = false;
  EXPECT_EQ(f(1), 1);
  EXPECT_EQ(calls, 3);
  EXPECT_EQ(f(1), 1);
  EXPECT_EQ(calls, 3);
}

TEST(MemoizeException, WaitersComputeAfterTheLeaderThrows) {
  TempDir dir;
  JsonBucket b(dir.path());
  std::atomic<int> calls{0};
  std::promise<void> leader_in;
  std::shared_future<void> leader_in_f = leader_in.get_future().share();
  std::promise<void> let_leader_fail;
  std::shared_future<void> fail_f = let_leader_fail.get_future().share();
  auto f = bc::memoize(b, "once-failing", [&](int x) {
    if (calls++ == 0) {
      leader_in.set_value();
      fail_f.wait_for(std::chrono::seconds(30));
      throw std::runtime_error("first call fails");
    }
    return x * 2;
  });
  std::thread leader([&] { EXPECT_THROW(f(4), std::runtime_error); });
  ASSERT_EQ(leader_in_f.wait_for(std::chrono::seconds(30)), std::future_status::ready);
  auto waiter = std::async(std::launch::async, [&] { return f(4); });
  std::this_thread::sleep_for(std::chrono::milliseconds(50));  // usually blocked by now
  let_leader_fail.set_value();
  leader.join();
  ASSERT_EQ(waiter.wait_for(std::chrono::seconds(30)), std::future_status::ready);
  EXPECT_EQ(waiter.get(), 8);
  EXPECT_EQ(calls.load(), 2);
}

// ---- Single flight ----

TEST(MemoizeSingleFlight, FourThreadsComputeOnce) {
  TempDir dir;
  JsonBucket b(dir.path());
  const std::string record = dir.sub("executions.log");
  std::atomic<int> calls{0};
  auto slow = bc::memoize(b, "slow", [&](int x) {
    ++calls;
    append_line(record, "run");
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    return x * 3;
  });
  std::mutex mu;
  std::condition_variable cv;
  bool go = false;
  std::vector<int> results(4, 0);
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&, i] {
      {
        std::unique_lock<std::mutex> lock(mu);
        cv.wait(lock, [&] { return go; });
      }
      results[static_cast<std::size_t>(i)] = slow(14);
    });
  }
  {
    std::lock_guard<std::mutex> lock(mu);
    go = true;
  }
  cv.notify_all();
  for (auto& t : threads) t.join();
  EXPECT_EQ(calls.load(), 1);
  EXPECT_EQ(count_lines(record, "run"), 1);
  for (int r : results) EXPECT_EQ(r, 42);
}

TEST(MemoizeSingleFlight, FourThreadsWithTheirOwnBucketObjectsComputeOnce) {
  TempDir dir;
  std::atomic<int> calls{0};
  std::atomic<int> ready{0};
  std::vector<int> results(4, 0);
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&, i] {
      JsonBucket b(dir.path());
      auto slow = bc::memoize(b, "slow", [&](int x) {
        ++calls;
        std::this_thread::sleep_for(std::chrono::milliseconds(300));
        return x + 1;
      });
      ++ready;
      while (ready.load() < 4) std::this_thread::yield();
      results[static_cast<std::size_t>(i)] = slow(1);
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(calls.load(), 1);
  for (int r : results) EXPECT_EQ(r, 2);
}

TEST(MemoizeSingleFlight, FourProcessesComputeOnce) {
  TempDir dir;
  const std::string record = dir.sub("executions.log");
  StartGate gate;
  std::vector<pid_t> pids;
  for (int i = 0; i < 4; ++i) {
    const pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      int code = 0;
      try {
        JsonBucket b(dir.path());
        auto slow = bc::memoize(b, "slow-process", [&](int x) {
          append_line(record, "run");
          std::this_thread::sleep_for(std::chrono::milliseconds(300));
          return std::to_string(x) + "!";
        });
        if (!gate.wait()) ::_exit(3);
        code = slow(12) == "12!" ? 0 : 1;
      } catch (...) {
        code = 2;
      }
      ::_exit(code);
    }
    pids.push_back(pid);
  }
  gate.release();  // all four start at the same moment
  const std::vector<int> codes = wait_children(pids, std::chrono::seconds(30));
  for (int c : codes) EXPECT_EQ(c, 0);
  EXPECT_EQ(count_lines(record, "run"), 1);
  JsonBucket b(dir.path());
  auto check = bc::memoize(b, "slow-process", [](int) { return std::string("recomputed"); });
  EXPECT_EQ(check(12), "12!");
}

TEST(MemoizeSingleFlight, HolderKilledWithSigkillWhileComputingOthersStillFinish) {
  TempDir dir;
  const std::string record = dir.sub("executions.log");
  auto make = [&](JsonBucket& b, bool hang) {
    return bc::memoize(b, "killed", [&record, hang](int x) {
      append_line(record, "start");
      if (hang) {
        append_line(record, "holding");
        for (int i = 0; i < 600; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(100));
      } else {
        std::this_thread::sleep_for(std::chrono::milliseconds(300));
      }
      append_line(record, "done");
      return x * 10;
    });
  };

  // The holder: starts computing, then hangs until killed.
  const pid_t holder = ::fork();
  ASSERT_GE(holder, 0);
  if (holder == 0) {
    try {
      JsonBucket b(dir.path());
      auto f = make(b, true);
      f(5);
    } catch (...) {
    }
    ::_exit(9);
  }
  // Wait (bounded) until the holder is inside the computation, i.e. holds the key's lock.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (count_lines(record, "holding") == 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ASSERT_EQ(count_lines(record, "holding"), 1) << "holder never started computing";

  StartGate gate;
  std::vector<pid_t> waiters;
  for (int i = 0; i < 3; ++i) {
    const pid_t pid = ::fork();
    if (pid == 0) {
      int code = 0;
      try {
        JsonBucket b(dir.path());
        auto f = make(b, false);
        if (!gate.wait()) ::_exit(3);
        code = f(5) == 50 ? 0 : 1;
      } catch (...) {
        code = 2;
      }
      ::_exit(code);
    }
    if (pid < 0) break;
    waiters.push_back(pid);
  }
  gate.release();
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // let them queue on the lock
  ::kill(holder, SIGKILL);
  int status = 0;
  ::waitpid(holder, &status, 0);
  EXPECT_TRUE(WIFSIGNALED(status));
  ASSERT_EQ(waiters.size(), 3u);
  const std::vector<int> codes = wait_children(waiters, std::chrono::seconds(30));
  for (int c : codes) EXPECT_EQ(c, 0);
  EXPECT_EQ(count_lines(record, "start"), 2);  // the killed holder and one waiter
  EXPECT_EQ(count_lines(record, "done"), 1);
  JsonBucket b(dir.path());
  EXPECT_EQ(make(b, false)(5), 50);
  EXPECT_EQ(count_lines(record, "start"), 2);
}

TEST(MemoizeSingleFlight, WaiterWithShortLockWaitComputesItselfInsteadOfHanging) {
  TempDir dir;
  JsonBucket holder_bucket(dir.path());
  bc::Options short_wait;
  short_wait.lock_wait = std::chrono::milliseconds(100);
  JsonBucket waiter_bucket(dir.path(), short_wait);

  std::promise<void> holder_in;
  auto holder_in_f = holder_in.get_future();
  std::promise<void> release_holder;
  std::shared_future<void> release_f = release_holder.get_future().share();
  std::atomic<int> holder_calls{0};
  std::atomic<int> waiter_calls{0};
  auto held = bc::memoize(holder_bucket, "slow", [&](int x) {
    ++holder_calls;
    holder_in.set_value();
    release_f.wait_for(std::chrono::seconds(30));  // slow until the test says so
    return x;
  });
  int waiter_hits = 0;
  auto waiting = bc::memoize(waiter_bucket, "slow", [&](int x) {
    ++waiter_calls;
    return x;
  });
  waiting.on_hit([&](const bc::CachedCallInfo<int>&) { ++waiter_hits; });

  std::thread holder([&] { EXPECT_EQ(held(7), 7); });
  ASSERT_EQ(holder_in_f.wait_for(std::chrono::seconds(30)), std::future_status::ready);
  auto waiter = std::async(std::launch::async, [&] { return waiting(7); });
  // The holder stays inside its computation until the waiter is done: the waiter can only
  // finish by giving up its wait.
  const bool waiter_done = waiter.wait_for(std::chrono::seconds(30)) == std::future_status::ready;
  release_holder.set_value();
  holder.join();
  ASSERT_TRUE(waiter_done) << "the waiter hung past lock_wait";
  EXPECT_EQ(waiter.get(), 7);
  EXPECT_EQ(waiter_calls.load(), 1);
  EXPECT_EQ(waiter_hits, 0);
  EXPECT_EQ(holder_calls.load(), 1);

  // lock_wait = 0: never waits.
  bc::Options no_wait;
  no_wait.lock_wait = std::chrono::milliseconds(0);
  EXPECT_NO_THROW(JsonBucket(dir.sub("nowait"), no_wait));
  bc::Options negative;
  negative.lock_wait = std::chrono::milliseconds(-1);
  EXPECT_THROW(JsonBucket(dir.sub("negative"), negative), bc::InvalidArgument);
}

}  // namespace

// Calls whose arguments are all std::string build their key text without the key writer:
// for every byte value in an argument or the name, the text is what the writer writes.
TEST(MemoizeKey, PlainStringArgumentsGiveTheWritersTextForEveryByte) {
  using K2 =
      bucketcache::detail::CallKey<bucketcache::ignore_args<>, void, std::string, std::string>;
  using K1 =
      bucketcache::detail::CallKey<bucketcache::ignore_args<0>, void, std::string, std::string>;
  for (int c = 0; c < 256; ++c) {
    std::string odd = "a";
    odd += static_cast<char>(c);
    if (c >= 0x80) odd = "a\xc3\xa9";  // a complete UTF-8 character
    for (const auto& [name, x, y] :
         {std::tuple<std::string, std::string, std::string>{"f", odd, "y"},
          std::tuple<std::string, std::string, std::string>{odd, "x", ""}}) {
      const K2 k2{name, nullptr, std::tie(x, y)};
      const K1 k1{name, nullptr, std::tie(x, y)};
      for (const std::string& fast : {bucketcache::canonical_key(k2)}) {
        std::string written;
        bucketcache::StringKeySink sink(written);
        bucketcache::write_canonical_key(k2, sink);
        EXPECT_EQ(fast, written) << "byte " << c;
      }
      std::string written1;
      bucketcache::StringKeySink sink1(written1);
      bucketcache::write_canonical_key(k1, sink1);
      EXPECT_EQ(bucketcache::canonical_key(k1), written1) << "byte " << c;
    }
  }
  const std::string a = "k1", b = "k2";
  EXPECT_EQ(
      bucketcache::canonical_key(
          bucketcache::detail::CallKey<bucketcache::ignore_args<>, void, std::string, std::string>{
              "fn", nullptr, std::tie(a, b)}),
      "{\"args\":[\"k1\",\"k2\"],\"name\":\"fn\"}");
}

namespace {

// What KeyWriter writes for key (the reference the fast paths must match byte for byte).
template <class K>
std::string writers_text(const K& key) {
  std::string written;
  bucketcache::StringKeySink sink(written);
  bucketcache::write_canonical_key(key, sink);
  return written;
}

// The fixed-buffer text of key, or nullopt if key takes the std::string path.
template <class K>
std::optional<std::string> buffer_text(const K& key) {
  bucketcache::detail::PlainTextBuffer buf;
  if (!bucketcache::detail::plain_text_of(key, buf)) {
    EXPECT_EQ(buf.size(), 0u);
    return std::nullopt;
  }
  return std::string(buf.view());
}

// Every way a call key becomes bytes and digests agrees with the key writer: the fixed
// buffer (when it is taken), the std::string shortcut, with_canonical_key, and the
// DefaultKeyMaker digest against the streaming keymaker's (which uses the key writer).
template <class K>
void expect_key_paths_agree(const K& key, bool buffer_expected, const std::string& what) {
  const std::string written = writers_text(key);
  const std::optional<std::string> fixed = buffer_text(key);
  EXPECT_EQ(fixed.has_value(), buffer_expected) << what;
  if (fixed) {
    EXPECT_EQ(*fixed, written) << what;
  }
  EXPECT_EQ(bucketcache::canonical_key(key), written) << what;
  EXPECT_EQ(bucketcache::with_canonical_key(key, [](std::string_view t) { return std::string(t); }),
            written)
      << what;
  const bc::Digest d = bc::DefaultKeyMaker{}.make_digest(key, "json");
  EXPECT_EQ(d, bc::digest_key("json", "json", written)) << what;
  EXPECT_EQ(d, bc::StreamingDefaultKeyMaker{}.make_digest(key, "json")) << what;
}

}  // namespace

// A plain call's key text is built in a fixed stack buffer when it fits, and in a string
// when it does not; both, and every fallback (ignored arguments, non-ASCII, escapes), give
// the key writer's bytes and therefore the same digests.
TEST(MemoizeKey, StackBufferTextEqualsTheWritersForEveryLength) {
  using K2 = bc::detail::CallKey<bc::ignore_args<>, void, std::string, std::string>;
  using KIgnore0 = bc::detail::CallKey<bc::ignore_args<0>, void, std::string, std::string>;
  using KIgnoreAll = bc::detail::CallKey<bc::ignore_args<0, 1>, void, std::string, std::string>;
  using K0 = bc::detail::CallKey<bc::ignore_args<>, void>;
  constexpr std::size_t cap = bc::detail::PlainTextBuffer::kCapacity;
  const std::string name = "fn";
  // {"args":["<x>","<y>"],"name":"fn"}: 28 bytes besides x and y.
  for (std::size_t n = 0; n <= cap + 40; ++n) {
    const std::string x(n, 'a');
    const std::string y = "yy";
    const std::string what = "x of " + std::to_string(n) + " bytes";
    const std::size_t text = 28 + n + y.size();
    // The buffer is taken when the text's bound (one comma per argument) fits it.
    expect_key_paths_agree(K2{name, nullptr, std::tie(x, y)}, text + 1 <= cap, what);
    // x ignored: the text does not hold it, whatever its size (or content).
    const std::string bad = x + "\xff";
    expect_key_paths_agree(KIgnore0{name, nullptr, std::tie(bad, y)}, true, what + ", ignored");
    expect_key_paths_agree(KIgnoreAll{name, nullptr, std::tie(bad, bad)}, true,
                           what + ", all ignored");
    // A long name.
    expect_key_paths_agree(K0{x, nullptr, {}}, 21 + n <= cap, what + " as the name");
  }
  // Not plain: the key writer's path (escapes, control bytes, non-ASCII, invalid UTF-8).
  for (const std::string& odd :
       {std::string("a\"b"), std::string("a\\b"), std::string("tab\t"), std::string("nul\0x", 5),
        std::string("\x7f"), std::string("caf\xc3\xa9"), std::string("\xe2\x82\xac 5")}) {
    expect_key_paths_agree(K2{name, nullptr, std::tie(odd, name)}, false, "arg " + odd);
    expect_key_paths_agree(K0{odd, nullptr, {}}, false, "name " + odd);
  }
  // Invalid UTF-8 in an argument in the key: rejected on every path.
  const std::string invalid = "a\xff";
  const K2 k{name, nullptr, std::tie(invalid, name)};
  EXPECT_FALSE(buffer_text(k).has_value());
  EXPECT_THROW(bc::canonical_key(k), bc::InvalidArgument);
  EXPECT_THROW(bc::DefaultKeyMaker{}.make_digest(k, "json"), bc::InvalidArgument);
}

// Through a bucket: calls with short (stack buffer) and long (string) plain keys, and
// non-ASCII ones, store their entries under the key writer's digest and keep the key
// writer's bytes as the entry's key.
TEST(MemoizeKey, BucketEntriesUseTheWritersDigestAndKeyBytes) {
  TempDir dir;
  JsonBucket bucket(dir.sub("b"));
  int calls = 0;
  auto f = bc::memoize(bucket, "size_of", [&](const std::string& s, const std::string& t) {
    ++calls;
    return static_cast<int>(s.size() + t.size());
  });
  using Key = bc::detail::CallKey<bc::ignore_args<>, void, std::string, std::string>;
  const std::vector<std::string> args = {
      "", "short", std::string(200, 'm'), std::string(300, 'l'), "caf\xc3\xa9", "quote\"d"};
  std::set<std::string> expected_keys;
  for (const std::string& a : args) {
    const std::string text = writers_text(Key{"size_of", nullptr, std::tie(a, a)});
    expected_keys.insert(text);
    EXPECT_EQ(f(a, a), static_cast<int>(2 * a.size()));
    EXPECT_EQ(f(a, a), static_cast<int>(2 * a.size()));  // a hit
    EXPECT_EQ(f.canonical_key(a, a), text);
    bc::Entry e;
    EXPECT_EQ(bucket.store().get(bc::digest_key(bc::JsonBackend::id, "json", text), e),
              bc::ReadStatus::found)
        << text;
    EXPECT_TRUE(f.cached(a, a));
  }
  EXPECT_EQ(calls, static_cast<int>(args.size()));
  std::set<std::string> stored_keys;
  bucket.for_each([&](const bc::EntryInfo& info) {
    stored_keys.insert(std::string(info.key_bytes));
    EXPECT_EQ(info.digest, bc::digest_key(bc::JsonBackend::id, "json", info.key_bytes));
    return true;
  });
  EXPECT_EQ(stored_keys, expected_keys);
}
