#include "storage/file/file_storage.hpp"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "bucketcache/error.hpp"
#include "storage/entry_codec.hpp"
#include "storage/file/file_lock.hpp"
#include "support/log_internal.hpp"
#include "support/posix_io.hpp"

namespace bucketcache {
inline namespace v1 {
namespace storage {

namespace {

// Entries up to this size are read with one readv() of header and rest; larger files have
// their header read and checked first, so a huge or sparse junk file allocates nothing.
constexpr std::uint64_t kSingleReadLimit = 64 * 1024;
// Entries whose key and value fit this many bytes are read into the stack first.
constexpr std::size_t kStackReadLimit = 4096;

}  // namespace

FileStorage::FileStorage(std::string root, FileStorageOptions options)
    : dirs_(std::move(root), options.directory_mode), options_(std::move(options)) {}

EntryVersion FileStorage::version_of(const struct stat& st) {
  EntryVersion v;
  v.a = static_cast<std::uint64_t>(st.st_dev);
  v.b = static_cast<std::uint64_t>(st.st_ino);
  v.c = static_cast<std::uint64_t>(st.st_size);
  v.d = static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
  return v;
}

int FileStorage::open_entry(const Digest& key, int flags, Found& found, struct stat& st) const {
  const int fd = open_entry_at(key, flags | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK, found);
  if (fd < 0) return -1;
  Fd owned(fd);
  if (::fstat(fd, &st) != 0) throw_io("cannot stat entry", dirs_.entry_path(key), errno);
  if (!S_ISREG(st.st_mode)) {  // a FIFO, a device...: never read or written
    found = Found::foreign;
    return -1;
  }
  return owned.release();
}

int FileStorage::open_entry_at(const Digest& key, int flags, Found& found) const {
  int fd = dirs_.open_entry(key, flags);
  if (fd >= 0) return fd;
  found = Found::absent;
  if (errno == ENOENT) return -1;
  Fd shard(dirs_.open(key, false, false));
  if (shard.get() < 0) {
    if (errno == ENOENT) return -1;
    if (is_foreign_dir_error(errno)) {
      found = Found::foreign;  // a symlinked shard is never ours
      return -1;
    }
    throw_io("cannot open shard directory", dirs_.shard_path(key), errno);
  }
  fd = ::openat(shard.get(), ShardDirs::entry_name(key).c_str(), flags);
  if (fd >= 0) return fd;
  if (errno == ENOENT || errno == ENOTDIR) return -1;
  if (errno == ELOOP) {
    found = Found::foreign;  // a symlink is never ours
    return -1;
  }
  throw_io("cannot open entry", dirs_.entry_path(key), errno);
}

Found FileStorage::read(const Digest& key, StoredEntry& out) {
  // One readv of the header and the payload's first kStackReadLimit bytes: the whole of a
  // small entry, and the header (so the lengths) of any other. The file is fstat()ed only
  // when something needs it: its version (wanted, or the entry expires and may be removed
  // by the caller), a value too large to allocate on the header's word, or an anomaly (a
  // failed read, a short or malformed file), where a non-regular file (a FIFO, a device, a
  // directory) is foreign whatever it read as. O_NONBLOCK: no read of one ever waits.
  Found found = Found::absent;
  Fd fd(open_entry_at(key, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK, found));
  if (fd.get() < 0) return found;
  const int f = fd.get();
  struct stat st;
  bool stated = false;
  auto stat_entry = [&]() {
    if (::fstat(f, &st) != 0) throw_io("cannot stat entry", dirs_.entry_path(key), errno);
    stated = true;
    return S_ISREG(st.st_mode);
  };
  auto judged = [&](Found status) { return stat_entry() ? status : Found::foreign; };

  unsigned char header[format::kHeaderSize];
  char prefix[kStackReadLimit];
  struct iovec iov[2] = {{header, sizeof(header)}, {prefix, sizeof(prefix)}};
  ssize_t got;
  do {
    got = ::readv(f, iov, 2);
  } while (got < 0 && errno == EINTR);
  if (got < 0) {
    const int err = errno;
    if (!stat_entry()) return Found::foreign;
    throw_io("cannot read entry", dirs_.entry_path(key), err);
  }
  if (static_cast<std::size_t>(got) < format::kHeaderSize) return judged(Found::corrupt);
  format::EntryHeader& h = out.header;
  if ((found = decode_entry_header(header, h)) != Found::yes) return judged(found);
  const std::uint64_t size = h.entry_size();
  const auto read_so_far = static_cast<std::uint64_t>(got);
  const std::size_t have = static_cast<std::size_t>(got) - format::kHeaderSize;
  if (size < read_so_far) return judged(Found::corrupt);  // bytes after the entry
  const std::uint64_t payload_size = size - format::kHeaderSize;
  if (out.want_version || h.expires_us != 0 || payload_size > kSingleReadLimit) {
    if (!stat_entry()) return Found::foreign;
    // Allocates nothing for junk: the lengths must be the file's.
    if (static_cast<std::uint64_t>(st.st_size) != size) return Found::corrupt;
  }
  const std::size_t key_length = h.key_length;
  const auto value_length = static_cast<std::size_t>(h.value_length);

  if (size == read_so_far) {  // all of it is in the stack
    if (!stated && have == sizeof(prefix)) {
      // A full buffer does not show the end of the file: junk may follow.
      if (!stat_entry()) return Found::foreign;
      if (static_cast<std::uint64_t>(st.st_size) != size) return Found::corrupt;
    }
    const std::string_view key_bytes(prefix, key_length);
    const std::string_view value_bytes(prefix + key_length, value_length);
    if (format::payload_crc(key_bytes, value_bytes) != h.payload_crc) return Found::corrupt;
    out.key_bytes.assign(key_bytes);
    if (out.sink != nullptr) {
      char* into = out.sink->allocate(value_length);
      if (value_length != 0) std::memcpy(into, value_bytes.data(), value_length);
      out.value.reset();
    } else {
      out.value = std::make_shared<std::string>(value_bytes);
    }
  } else {
    // The rest follows the prefix: the key's remaining bytes, then the value's, read straight
    // into the key string and the value's buffer (the reader's sink when it has one: no
    // zero-filled string, no copy afterwards). Without an fstat, read_all_to_end shows that
    // the file ends where the entry does.
    out.key_bytes.resize(key_length);
    std::shared_ptr<std::string> value;
    char* into = nullptr;
    if (out.sink != nullptr) {
      into = out.sink->allocate(value_length);
    } else {
      value = std::make_shared<std::string>();
      value->resize(value_length);
      into = value->data();
    }
    const std::size_t key_have = std::min(have, key_length);
    if (key_have != 0) std::memcpy(out.key_bytes.data(), prefix, key_have);
    if (have > key_have) std::memcpy(into, prefix + key_have, have - key_have);
    const std::size_t value_have = have - key_have;
    struct iovec rest[2] = {{out.key_bytes.data() + key_have, key_length - key_have},
                            {into + value_have, value_length - value_have}};
    bool short_read = false;
    bool longer = false;
    const bool ok =
        stated ? read_all(f, rest, 2, short_read) : read_all_to_end(f, rest, 2, short_read, longer);
    if (!ok) {
      if (short_read || longer) return Found::corrupt;  // truncated, or bytes after the entry
      const int err = errno;
      if (!stated && !stat_entry()) return Found::foreign;  // EAGAIN from a FIFO...
      throw_io("cannot read entry", dirs_.entry_path(key), err);
    }
    if (format::payload_crc(out.key_bytes, std::string_view(into, value_length)) != h.payload_crc) {
      return Found::corrupt;
    }
    out.value = std::move(value);
  }
  if (stated) out.version = version_of(st);
  out.stored_bytes = size;
  return Found::yes;
}

Found FileStorage::peek(const Digest& key, StoredEntry& out) {
  Found found = Found::absent;
  struct stat st;
  Fd fd(open_entry(key, O_RDONLY, found, st));
  if (fd.get() < 0) return found;
  unsigned char header[format::kHeaderSize];
  struct iovec iov[1] = {{header, sizeof(header)}};
  bool short_read = false;
  if (!read_all(fd.get(), iov, 1, short_read)) {
    if (short_read) return Found::corrupt;
    throw_io("cannot read entry", dirs_.entry_path(key), errno);
  }
  if ((found = decode_entry_header(header, out.header)) != Found::yes) return found;
  if (out.header.entry_size() != static_cast<std::uint64_t>(st.st_size)) return Found::corrupt;
  out.key_bytes.resize(out.header.key_length);
  if (!out.key_bytes.empty()) {
    struct iovec kiov[1] = {{out.key_bytes.data(), out.key_bytes.size()}};
    if (!read_all(fd.get(), kiov, 1, short_read)) {
      if (short_read) return Found::corrupt;
      throw_io("cannot read entry", dirs_.entry_path(key), errno);
    }
  }
  out.value.reset();
  out.version = version_of(st);
  out.stored_bytes = static_cast<std::uint64_t>(st.st_size);
  return Found::yes;
}

bool FileStorage::write(const Digest& key, const EntryToWrite& entry, Overwrite overwrite,
                        EntryVersion* written) {
  unsigned char header[format::kHeaderSize];
  format::encode_header(complete_header(key, entry), header);
  const std::string shard_path = dirs_.shard_path(key);
  const std::string path = dirs_.entry_path(key);

  // A shard directory removed by a prune between opening it and creating the temp file in
  // it (ENOENT) is opened, and so created, again.
  for (int attempt = 0;; ++attempt) {
    Fd shard(dirs_.open(key, true, options_.fsync));
    if (shard.get() < 0) {
      if (errno == ENOENT && attempt < 64) continue;
      if (is_foreign_dir_error(errno)) {
        throw_io("shard directory is a symlink or not a directory; not writing through it:",
                 shard_path, errno);
      }
      throw_io("cannot open shard directory", shard_path, errno);
    }
    std::unique_ptr<AtomicFile> file;
    try {
      file = std::make_unique<AtomicFile>(shard.get(), shard_path, options_.file_mode,
                                          options_.temp_namer);
    } catch (const IoError& e) {
      if (e.errno_value() == ENOENT && attempt < 64) continue;
      throw;
    }
    struct iovec iov[3] = {{header, sizeof(header)},
                           {const_cast<char*>(entry.key_bytes.data()), entry.key_bytes.size()},
                           {const_cast<char*>(entry.value.data()), entry.value.size()}};
    file->write(iov, 3, options_.fsync, path);
    if (written != nullptr) {
      struct stat st;
      if (::fstat(file->fd(), &st) != 0) throw_io("cannot stat temp file", path, errno);
      *written = version_of(st);
    }
    const bool stored =
        file->commit(ShardDirs::entry_name(key), overwrite == Overwrite::yes, options_.fsync);
    if (stored) {
      BC_LOG(LogLevel::debug, "wrote entry {} ({} bytes)", key_label(key), entry.value.size());
    }
    return stored;
  }
}

bool FileStorage::remove(const Digest& key) {
  Fd shard(dirs_.open(key, false, false));
  if (shard.get() < 0) {
    if (errno == ENOENT || is_foreign_dir_error(errno)) return false;
    throw_io("cannot open shard directory", dirs_.shard_path(key), errno);
  }
  if (::unlinkat(shard.get(), ShardDirs::entry_name(key).c_str(), 0) == 0) return true;
  if (errno == ENOENT || errno == ENOTDIR) return false;
  throw_io("cannot remove entry", dirs_.entry_path(key), errno);
}

bool FileStorage::unlink_if_same(int dir, const std::string& name,
                                 const EntryVersion& judged) const {
  // Unlinking by name could remove a fresh entry renamed over the judged one after it was
  // judged. So the file at the name is renamed aside first, and the aside file's identity
  // decides: the judged file is unlinked; anything else (a fresh entry) is linked back
  // unless a still newer one took the name meanwhile (link() never replaces).
  const std::string aside =
      format::kAsidePrefix + random_temp_name().substr(std::strlen(format::kTempPrefix));
  if (::renameat(dir, name.c_str(), dir, aside.c_str()) != 0) return false;  // gone already
  struct stat st;
  if (::fstatat(dir, aside.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0) {
    if (version_of(st) == judged) return ::unlinkat(dir, aside.c_str(), 0) == 0;
  }
  if (::linkat(dir, aside.c_str(), dir, name.c_str(), 0) != 0 && errno != EEXIST) {
    // No hard links on this file system: put it back by rename (which replaces only a
    // newer entry landing within these few system calls).
    if (::renameat(dir, aside.c_str(), dir, name.c_str()) == 0) return false;
  }
  ::unlinkat(dir, aside.c_str(), 0);
  return false;
}

bool FileStorage::remove_if_same(const Digest& key, const EntryVersion& judged) {
  Fd shard(dirs_.open(key, false, false));
  if (shard.get() < 0) return false;
  return unlink_if_same(shard.get(), ShardDirs::entry_name(key), judged);
}

bool FileStorage::version(const Digest& key, EntryVersion& out) {
  Fd shard(dirs_.open(key, false, false));
  if (shard.get() < 0) {
    if (errno == ENOENT || is_foreign_dir_error(errno)) return false;
    throw_io("cannot open shard directory", dirs_.shard_path(key), errno);
  }
  struct stat st;
  if (::fstatat(shard.get(), ShardDirs::entry_name(key).c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
    if (errno == ENOENT || errno == ENOTDIR) return false;
    throw_io("cannot stat entry", dirs_.entry_path(key), errno);
  }
  out = version_of(st);
  return true;
}

bool FileStorage::touch(const Digest& key, std::int64_t expires_us, std::uint32_t flags) {
  // The header is rewritten in place (one pwrite of 128 bytes): the value bytes never
  // change, so a concurrent set (a new file) is never undone. A reader racing the pwrite
  // may see a header failing its checksum: a miss, never a wrong value.
  Found found = Found::absent;
  struct stat st;
  Fd fd(open_entry(key, O_RDWR, found, st));
  if (fd.get() < 0) return false;
  unsigned char header[format::kHeaderSize];
  if (::pread(fd.get(), header, sizeof(header), 0) != static_cast<ssize_t>(sizeof(header))) {
    return false;
  }
  format::EntryHeader h;
  if (format::decode_header(header, h) != format::HeaderStatus::ok) return false;
  h.expires_us = expires_us;
  h.flags = (h.flags & format::kKeyOmitted) | (flags & ~format::kKeyOmitted);
  format::encode_header(h, header);
  if (::pwrite(fd.get(), header, sizeof(header), 0) != static_cast<ssize_t>(sizeof(header))) {
    throw_io("cannot write entry header", dirs_.entry_path(key), errno);
  }
  if (options_.fsync && ::fdatasync(fd.get()) != 0)
    throw_io("cannot fsync entry", dirs_.entry_path(key), errno);
  return true;
}

std::unique_ptr<KeyLock> FileStorage::lock(const Digest& key,
                                           std::chrono::steady_clock::time_point deadline,
                                           const std::function<bool()>& done,
                                           LockOutcome& outcome) {
  return lock_key_file(dirs_, key, options_.file_mode, deadline, done, outcome);
}

}  // namespace storage
}  // namespace v1
}  // namespace bucketcache
