// The commands of the command-line tool (docs/cli.md).
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <iostream>
#include <map>
#include <set>
#include <tuple>

#include "bucketcache/canonical.hpp"
#include "bucketcache/digest.hpp"
#include "bucketcache/error.hpp"
#include "cli/cli.hpp"
#include "support/clock.hpp"
#include "support/posix_io.hpp"

namespace bucketcache {
inline namespace v1 {
namespace cli {

namespace {

// A temp or aside file untouched this long is stale (as FileStorage::sweep judges it).
constexpr std::int64_t kStaleSeconds = 60;

std::vector<Entry> collect(Bucket& b, const GlobalOptions& g, const char* what) {
  std::vector<Entry> out;
  Progress progress(g.progress, what);
  b.walk([&out](Entry& e) { out.push_back(std::move(e)); }, progress);
  progress.finish();
  return out;
}

std::string status_name(Entry::Status s) {
  return s == Entry::Status::corrupt ? "corrupt" : "foreign";
}

void warn_damaged(const Entry& e) {
  warn(status_name(e.status) + " entry: " + e.where +
       (e.status == Entry::Status::corrupt ? " (run verify --fix to remove it)"
                                           : " (not a format-2 entry file; left alone)"));
}

std::string human_bytes(std::uint64_t n) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(n);
  int u = 0;
  while (v >= 1024 && u < 4) {
    v /= 1024;
    ++u;
  }
  char buf[32];
  if (u == 0) {
    std::snprintf(buf, sizeof(buf), "%llu B", static_cast<unsigned long long>(n));
  } else {
    std::snprintf(buf, sizeof(buf), "%.1f %s", v, units[u]);
  }
  return buf;
}

}  // namespace

int cmd_ls(Bucket& b, const GlobalOptions& g, const LsOptions& o) {
  const std::int64_t now = now_us();
  std::vector<Entry> all = collect(b, g, "ls");
  std::vector<Entry> shown;
  for (Entry& e : all) {
    if (e.status != Entry::Status::ok) {
      warn_damaged(e);
      continue;
    }
    if (!o.filters.matches(e.stored.header)) continue;
    if (o.expired_only && !is_expired(e.stored, now)) continue;
    shown.push_back(std::move(e));
  }
  auto expires_key = [](const Entry& e) {
    return e.stored.header.expires_us == 0 ? INT64_MAX : e.stored.header.expires_us;
  };
  std::stable_sort(shown.begin(), shown.end(), [&](const Entry& x, const Entry& y) {
    if (o.sort == "size") {
      if (x.stored.stored_bytes != y.stored.stored_bytes)
        return x.stored.stored_bytes < y.stored.stored_bytes;
    } else if (o.sort == "created") {
      if (x.stored.header.created_us != y.stored.header.created_us) {
        return x.stored.header.created_us < y.stored.header.created_us;
      }
    } else if (o.sort == "expires") {
      if (expires_key(x) != expires_key(y)) return expires_key(x) < expires_key(y);
    }
    const std::string kx = key_text(x), ky = key_text(y);
    return kx != ky ? kx < ky : x.name < y.name;
  });
  if (g.json) {
    nlohmann::json arr = nlohmann::json::array();
    for (const Entry& e : shown) arr.push_back(entry_json(e, now));
    print_json(arr);
    return kExitOk;
  }
  std::vector<std::vector<std::string>> rows;
  for (const Entry& e : shown) {
    const auto& h = e.stored.header;
    std::string expires = format_time(h.expires_us);
    if (is_expired(e.stored, now)) expires += " (expired)";
    rows.push_back({key_text(e), h.backend_id, h.keymaker_id, std::to_string(e.stored.stored_bytes),
                    format_time(h.created_us), expires});
  }
  print_table({"KEY", "BACKEND", "KEYS", "SIZE", "CREATED", "EXPIRES"}, rows,
              {false, false, false, true, false, false});
  return kExitOk;
}

int cmd_show(Bucket& b, const GlobalOptions& g, const ShowOptions& o) {
  Digest key;
  std::string backend = o.backend, key_format = o.raw_key ? "raw" : o.key_format;
  if (o.digest) {
    std::string hex = o.key;
    std::transform(hex.begin(), hex.end(), hex.begin(), [](char c) {
      return static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    });
    if (hex.size() != 64 || hex.find_first_not_of("0123456789abcdef") != std::string::npos) {
      throw CliError("--digest wants 64 hex digits, not '" + o.key + "'");
    }
    for (std::size_t i = 0; i < 32; ++i) {
      key.bytes[i] = static_cast<unsigned char>(std::stoi(hex.substr(2 * i, 2), nullptr, 16));
    }
  } else {
    std::string bytes = o.key;
    if (key_format == "json") {
      try {
        bytes = canonicalize_json(o.key);
      } catch (const Error& e) {
        throw CliError("KEY is not valid JSON (" + std::string(e.what()) +
                       "); give JSON text, e.g. '\"name\"', or --raw-key for raw keys");
      }
    }
    key = digest_key(backend, key_format, bytes);
  }
  storage::StoredEntry entry;
  const std::string where = b.storage().locate(key);
  switch (b.storage().read(key, entry)) {
    case storage::Found::yes:
      break;
    case storage::Found::absent:
      warn("no entry for that key (backend " + backend + ", key format " + key_format +
           "): " + where);
      return kExitProblems;
    case storage::Found::corrupt:
      throw CliError("corrupt entry: " + where);
    case storage::Found::foreign:
      throw CliError("not a format-2 entry file: " + where);
  }
  Entry e;
  e.name = key.hex();
  e.where = where;
  e.stored = entry;
  const std::int64_t now = now_us();
  const std::string& value = *entry.value;
  std::string why;
  std::optional<nlohmann::json> decoded;
  if (!o.hex) decoded = decode_value(entry.header.backend_id, value, why);
  if (g.json) {
    nlohmann::json j = entry_json(e, now);
    j["explicit_lifetime"] = (entry.header.flags & format::kExplicitLifetime) != 0;
    if (decoded) {
      j["value"] = *decoded;
      j["value_encoding"] = "json";
    } else if (o.hex) {
      j["value"] = hex_bytes(value);
      j["value_encoding"] = "hex";
    } else {
      j["value"] = escape_bytes(value);
      j["value_encoding"] = "escaped";
    }
    print_json(j);
    return kExitOk;
  }
  const auto& h = entry.header;
  std::string flags;
  if (h.flags & format::kExplicitLifetime) flags += "explicit-lifetime ";
  if (h.flags & format::kKeyOmitted) flags += "key-omitted ";
  if (flags.empty()) flags = "-";
  std::cout << "path:        " << where << '\n'
            << "digest:      " << e.name << '\n'
            << "backend:     " << h.backend_id << '\n'
            << "key format:  " << h.keymaker_id << '\n'
            << "key:         " << key_text(e) << '\n'
            << "created:     " << format_time(h.created_us) << '\n'
            << "expires:     " << format_time(h.expires_us)
            << (is_expired(entry, now) ? " (expired)" : "") << '\n'
            << "flags:       " << flags << '\n'
            << "size:        " << entry.stored_bytes << " bytes (value " << h.value_length << ")\n"
            << "value:\n";
  if (decoded) {
    std::cout << decoded->dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << '\n';
  } else if (o.hex) {
    for (std::size_t i = 0; i < value.size(); i += 32) {
      std::cout << hex_bytes(std::string_view(value).substr(i, 32)) << '\n';
    }
  } else {
    if (h.backend_id == "json" || h.backend_id == "msgpack") warn(why);
    std::cout << escape_bytes(value) << '\n';
  }
  return kExitOk;
}

// A bucket's persisted statistics counters (docs/cache-management.md, "Statistics").
struct BucketCounters {
  std::string backend, key_format;
  storage::Counters c;
};

std::string unhex(const std::string& h, bool& ok) {
  std::string out;
  ok = h.size() % 2 == 0 && !h.empty();
  for (std::size_t i = 0; ok && i < h.size(); i += 2) {
    const auto nib = [&](char x) -> int {
      if (x >= '0' && x <= '9') return x - '0';
      if (x >= 'a' && x <= 'f') return x - 'a' + 10;
      ok = false;
      return 0;
    };
    out.push_back(static_cast<char>(nib(h[i]) << 4 | nib(h[i + 1])));
  }
  return out;
}

std::uint64_t counter_field(const nlohmann::json& j, const char* name) {
  const auto it = j.find(name);
  return it != j.end() && it->is_number_unsigned() ? it->get<std::uint64_t>() : 0;
}

// The counters of the buckets seen in the walk (backend, key format) and, in a directory,
// of every `.stats-<hex backend>-<hex key format>` file (read only, never created).
std::vector<BucketCounters> persisted_counters(
    Bucket& b, const std::set<std::pair<std::string, std::string>>& seen, const Filters& f) {
  std::vector<BucketCounters> out;
  if (b.is_directory()) {
    Fd root(::open(b.describe().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (root.get() < 0) return out;
    for (const std::string& name : list_dir(root.get())) {
      if (name.rfind(".stats-", 0) != 0) continue;
      const std::size_t dash = name.find('-', 7);
      if (dash == std::string::npos) continue;
      bool ok1 = false, ok2 = false;
      BucketCounters bc;
      bc.backend = unhex(name.substr(7, dash - 7), ok1);
      bc.key_format = unhex(name.substr(dash + 1), ok2);
      if (!ok1 || !ok2) continue;
      format::EntryHeader h;
      h.backend_id = bc.backend;
      h.keymaker_id = bc.key_format;
      if (!f.matches(h)) continue;
      Fd fd(::openat(root.get(), name.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK));
      if (fd.get() < 0) continue;
      std::string text(4096, '\0');
      const ssize_t n = ::read(fd.get(), text.data(), text.size());
      if (n < 0) continue;
      text.resize(static_cast<std::size_t>(n));
      const nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
      if (!j.is_object()) continue;
      bc.c.hits = counter_field(j, "hits");
      bc.c.misses = counter_field(j, "misses");
      bc.c.writes = counter_field(j, "writes");
      bc.c.evictions = counter_field(j, "evictions");
      bc.c.expired = counter_field(j, "expired");
      out.push_back(bc);
    }
  } else {
    static const char digits[] = "0123456789abcdef";
    const auto hex = [&](const std::string& id) {
      std::string r;
      for (const unsigned char ch : id) {
        r.push_back(digits[ch >> 4]);
        r.push_back(digits[ch & 15]);
      }
      return r;
    };
    for (const auto& [backend, key_format] : seen) {
      BucketCounters bc{backend, key_format, {}};
      try {
        bc.c = b.storage().merge_counters(hex(backend) + "-" + hex(key_format), {}, false);
      } catch (const Error&) {
        continue;
      }
      out.push_back(bc);
    }
  }
  std::sort(out.begin(), out.end(), [](const BucketCounters& x, const BucketCounters& y) {
    return std::tie(x.backend, x.key_format) < std::tie(y.backend, y.key_format);
  });
  return out;
}

int cmd_stats(Bucket& b, const GlobalOptions& g, const Filters& f) {
  const std::int64_t now = now_us();
  struct Count {
    std::uint64_t entries = 0, bytes = 0;
  };
  Count total, expired;
  std::uint64_t corrupt = 0, foreign = 0, omitted = 0;
  std::map<std::string, Count> by_backend, by_key_format;
  std::map<std::string, std::uint64_t> per_shard;
  std::set<std::pair<std::string, std::string>> seen;
  Progress progress(g.progress, "stats");
  b.walk(
      [&](Entry& e) {
        if (e.status != Entry::Status::ok) {
          (e.status == Entry::Status::corrupt ? corrupt : foreign) += 1;
          return;
        }
        const auto& h = e.stored.header;
        if (!f.matches(h)) return;
        const std::uint64_t n = e.stored.stored_bytes;
        total.entries += 1;
        total.bytes += n;
        by_backend[h.backend_id].entries += 1;
        by_backend[h.backend_id].bytes += n;
        by_key_format[h.keymaker_id].entries += 1;
        by_key_format[h.keymaker_id].bytes += n;
        seen.emplace(h.backend_id, h.keymaker_id);
        if (is_expired(e.stored, now)) {
          expired.entries += 1;
          expired.bytes += n;
        }
        if (h.flags & format::kKeyOmitted) omitted += 1;
        per_shard[e.name.substr(0, 2)] += 1;
      },
      progress);
  progress.finish();
  const std::vector<BucketCounters> counters = persisted_counters(b, seen, f);
  std::uint64_t smin = 0, smax = 0;
  for (const auto& [shard, n] : per_shard) {
    smin = smin == 0 ? n : std::min(smin, n);
    smax = std::max(smax, n);
  }
  const double mean = per_shard.empty() ? 0.0
                                        : static_cast<double>(total.entries) /
                                              static_cast<double>(per_shard.size());
  if (g.json) {
    nlohmann::json j;
    j["bucket"] = b.describe();
    j["entries"] = total.entries;
    j["bytes"] = total.bytes;
    j["expired"] = {{"entries", expired.entries}, {"bytes", expired.bytes}};
    j["corrupt"] = corrupt;
    j["foreign"] = foreign;
    j["key_omitted"] = omitted;
    for (const auto& [k, c] : by_backend)
      j["by_backend"][k] = {{"entries", c.entries}, {"bytes", c.bytes}};
    for (const auto& [k, c] : by_key_format) {
      j["by_key_format"][k] = {{"entries", c.entries}, {"bytes", c.bytes}};
    }
    if (by_backend.empty()) j["by_backend"] = nlohmann::json::object();
    if (by_key_format.empty()) j["by_key_format"] = nlohmann::json::object();
    j["shards"] = {
        {"used", per_shard.size()}, {"of", 256}, {"min", smin}, {"max", smax}, {"mean", mean}};
    j["counters"] = nlohmann::json::array();
    for (const BucketCounters& c : counters) {
      j["counters"].push_back({{"backend", c.backend},
                               {"key_format", c.key_format},
                               {"hits", c.c.hits},
                               {"misses", c.c.misses},
                               {"writes", c.c.writes},
                               {"evictions", c.c.evictions},
                               {"expired", c.c.expired}});
    }
    print_json(j);
    return kExitOk;
  }
  std::cout << "bucket:       " << b.describe() << '\n'
            << "entries:      " << total.entries << '\n'
            << "bytes:        " << total.bytes << " (" << human_bytes(total.bytes) << ")\n"
            << "expired:      " << expired.entries << " (" << human_bytes(expired.bytes) << ")\n"
            << "corrupt:      " << corrupt << '\n'
            << "foreign:      " << foreign << '\n'
            << "key omitted:  " << omitted << '\n';
  char buf[128];
  std::snprintf(buf, sizeof(buf),
                "%zu of 256 used, entries per shard min %llu, max %llu, mean %.1f",
                per_shard.size(), static_cast<unsigned long long>(smin),
                static_cast<unsigned long long>(smax), mean);
  std::cout << "shards:       " << buf << "\n\n";
  std::vector<std::vector<std::string>> rows;
  for (const auto& [k, c] : by_backend) {
    rows.push_back({"backend", k, std::to_string(c.entries), std::to_string(c.bytes)});
  }
  for (const auto& [k, c] : by_key_format) {
    rows.push_back({"key format", k, std::to_string(c.entries), std::to_string(c.bytes)});
  }
  print_table({"BY", "NAME", "ENTRIES", "BYTES"}, rows, {false, false, true, true});
  if (!counters.empty()) {
    std::cout << "\ncounters (totals of every process, saved by the library):\n";
    std::vector<std::vector<std::string>> crows;
    for (const BucketCounters& c : counters) {
      crows.push_back({escape_bytes(c.backend), escape_bytes(c.key_format),
                       std::to_string(c.c.hits), std::to_string(c.c.misses),
                       std::to_string(c.c.writes), std::to_string(c.c.evictions),
                       std::to_string(c.c.expired)});
    }
    print_table({"BACKEND", "KEY FORMAT", "HITS", "MISSES", "WRITES", "EVICTIONS", "EXPIRED"},
                crows, {false, false, true, true, true, true, true});
  }
  return kExitOk;
}

int cmd_verify(Bucket& b, const GlobalOptions& g, bool fix) {
  struct Problem {
    std::string where, what;
    bool fixed = false;
  };
  std::vector<Problem> problems;
  std::uint64_t checked = 0, foreign = 0;
  Progress progress(g.progress, "verify");
  b.walk(
      [&](Entry& e) {
        checked += 1;
        if (e.status == Entry::Status::foreign) {
          foreign += 1;
          warn("foreign file at an entry path (left alone): " + e.where);
          return;
        }
        Digest key;
        for (std::size_t i = 0; i < 32; ++i) {
          key.bytes[i] =
              static_cast<unsigned char>(std::stoi(e.name.substr(2 * i, 2), nullptr, 16));
        }
        std::string what;
        storage::EntryVersion version = e.stored.version;
        if (e.status == Entry::Status::corrupt) {
          what = "damaged header or length";
        } else {
          storage::StoredEntry full;
          const storage::Found found = b.storage().read(key, full);
          if (found == storage::Found::absent) return;  // removed meanwhile
          if (found == storage::Found::corrupt) {
            what = "payload checksum mismatch";
          } else if (found == storage::Found::foreign) {
            foreign += 1;
            return;
          } else {
            version = full.version;
            const auto& h = full.header;
            if (h.key != key) {
              what = "header digest " + h.key.hex() + " does not match the name";
            } else if (!(h.flags & format::kKeyOmitted) &&
                       digest_key(h.backend_id, h.keymaker_id, full.key_bytes) != key) {
              what = "name is not the digest of the stored key";
            } else if (h.backend_id == "json" || h.backend_id == "msgpack") {
              std::string why;
              if (!decode_value(h.backend_id, *full.value, why)) what = why;
            }
          }
        }
        if (what.empty()) return;
        Problem p{e.where, what};
        if (fix) p.fixed = b.storage().remove_if_same(key, version);
        problems.push_back(p);
      },
      progress);
  progress.finish();
  const std::int64_t stale_before = now_us() / 1000000 - kStaleSeconds;
  for (const OtherFile& f : b.other_files()) {
    if ((f.kind == OtherFile::Kind::temp || f.kind == OtherFile::Kind::aside) &&
        f.mtime_s < stale_before) {
      problems.push_back({f.path, "stale temp file"});
    }
  }
  std::uint64_t swept = 0;
  if (fix) {
    swept = b.storage().sweep().files;
    if (b.is_directory()) {
      for (Problem& p : problems) {
        if (p.what == "stale temp file") p.fixed = ::access(p.where.c_str(), F_OK) != 0;
      }
    }
  }
  if (g.json) {
    nlohmann::json j;
    j["bucket"] = b.describe();
    j["checked"] = checked;
    j["foreign"] = foreign;
    j["problems"] = nlohmann::json::array();
    for (const Problem& p : problems) {
      nlohmann::json pj = {{"path", p.where}, {"problem", p.what}};
      if (fix) pj["fixed"] = p.fixed;
      j["problems"].push_back(pj);
    }
    if (fix) j["swept_files"] = swept;
    print_json(j);
  } else {
    for (const Problem& p : problems) {
      std::cout << p.where << ": " << p.what << (fix ? (p.fixed ? " (removed)" : " (kept)") : "")
                << '\n';
    }
    std::cout << checked << " entries checked, " << problems.size() << " problem"
              << (problems.size() == 1 ? "" : "s") << (fix ? " (fixed)" : "") << '\n';
  }
  return problems.empty() ? kExitOk : kExitProblems;
}

int cmd_prune(Bucket& b, const GlobalOptions& g, const Filters& f) {
  const std::int64_t now = now_us();
  std::uint64_t expired = 0;
  Progress progress(g.progress, "prune");
  const storage::ScanResult r = b.storage().scan(
      [&](const storage::ScanItem& item) {
        progress.tick();
        if (!f.matches(item.entry.header) || !past_expiry(item.entry.header.expires_us, now)) {
          return storage::ScanAction::keep;
        }
        expired += 1;
        return storage::ScanAction::remove;
      },
      true, false);
  progress.finish();
  const storage::SweepResult s = b.storage().sweep();
  if (g.json) {
    print_json({{"bucket", b.describe()},
                {"expired", expired},
                {"removed_entries", r.removed_files},
                {"removed_bytes", r.removed_bytes},
                {"swept_files", s.files},
                {"swept_bytes", s.bytes}});
  } else {
    std::cout << "removed " << r.removed_files << " expired entr"
              << (r.removed_files == 1 ? "y" : "ies") << " (" << human_bytes(r.removed_bytes)
              << "), " << s.files << " stale temp/lock file" << (s.files == 1 ? "" : "s") << '\n';
  }
  return kExitOk;
}

int cmd_clear(Bucket& b, const GlobalOptions& g, const Filters& f, bool yes) {
  if (!yes) {
    if (!::isatty(STDIN_FILENO)) {
      throw CliError("clear: refusing to remove entries without --yes (stdin is not a terminal)");
    }
    std::uint64_t n = 0;
    {
      Progress progress(g.progress, "clear");
      b.walk(
          [&](Entry& e) {
            const bool all = f.backend.empty() && f.key_format.empty();
            if ((all && e.status == Entry::Status::corrupt) ||
                (e.status == Entry::Status::ok && f.matches(e.stored.header))) {
              n += 1;
            }
          },
          progress);
      progress.finish();
    }
    std::cerr << "Remove " << n << " entr" << (n == 1 ? "y" : "ies") << " from " << b.describe()
              << "? [y/N] " << std::flush;
    std::string answer;
    std::getline(std::cin, answer);
    if (answer != "y" && answer != "Y" && answer != "yes") {
      std::cerr << "nothing removed\n";
      return kExitOk;
    }
  }
  const bool all = f.backend.empty() && f.key_format.empty();
  Progress progress(g.progress, "clear");
  const storage::ScanResult r = b.storage().scan(
      [&](const storage::ScanItem& item) {
        progress.tick();
        return f.matches(item.entry.header) ? storage::ScanAction::remove
                                            : storage::ScanAction::keep;
      },
      true, all);
  progress.finish();
  const storage::SweepResult s = b.storage().sweep();
  if (g.json) {
    print_json({{"bucket", b.describe()},
                {"removed_entries", r.removed_files},
                {"removed_bytes", r.removed_bytes},
                {"damaged_removed", r.damaged_removed},
                {"swept_files", s.files}});
  } else {
    std::cout << "removed " << r.removed_files << " entr" << (r.removed_files == 1 ? "y" : "ies")
              << " (" << human_bytes(r.removed_bytes) << ")\n";
  }
  return kExitOk;
}

int cmd_du(Bucket& b, const GlobalOptions& g) {
  struct Use {
    std::uint64_t files = 0, bytes = 0, disk = 0;
  };
  Use entries, temp, locks, other;
  std::uint64_t shards = 0;
  if (b.is_directory()) {
    const Bucket::DiskUse d = b.entry_disk_use();
    entries = {d.files, d.bytes, d.disk_bytes};
    shards = d.shards;
    for (const OtherFile& f : b.other_files()) {
      Use& u = f.kind == OtherFile::Kind::lock    ? locks
               : f.kind == OtherFile::Kind::other ? other
                                                  : temp;
      u.files += 1;
      u.bytes += f.bytes;
      u.disk += f.disk_bytes;
    }
  } else {
    Progress progress(g.progress, "du");
    b.walk(
        [&](Entry& e) {
          entries.files += 1;
          entries.bytes += e.stored.stored_bytes;
          entries.disk += e.stored.stored_bytes;
        },
        progress);
    progress.finish();
  }
  const Use total{entries.files + temp.files + locks.files + other.files,
                  entries.bytes + temp.bytes + locks.bytes + other.bytes,
                  entries.disk + temp.disk + locks.disk + other.disk};
  if (g.json) {
    auto uj = [](const Use& u) {
      return nlohmann::json{{"files", u.files}, {"bytes", u.bytes}, {"disk_bytes", u.disk}};
    };
    print_json({{"bucket", b.describe()},
                {"entries", uj(entries)},
                {"temp", uj(temp)},
                {"locks", uj(locks)},
                {"other", uj(other)},
                {"total", uj(total)},
                {"shards", shards}});
    return kExitOk;
  }
  std::vector<std::vector<std::string>> rows;
  auto row = [&rows](const char* name, const Use& u) {
    rows.push_back({name, std::to_string(u.files), std::to_string(u.bytes), human_bytes(u.disk)});
  };
  row("entries", entries);
  row("temp", temp);
  row("locks", locks);
  row("other", other);
  row("total", total);
  print_table({"WHAT", "FILES", "BYTES", "ON DISK"}, rows, {false, true, true, true});
  return kExitOk;
}

}  // namespace cli
}  // namespace v1
}  // namespace bucketcache
