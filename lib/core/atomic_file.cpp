#include "lib/core/atomic_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>

#include "lib/core/error.h"

namespace fs = std::filesystem;

namespace zoo {

namespace {

// fsync a file or folder by path; fsync on a folder makes a rename inside it durable.
void sync_path(const std::string& path, const std::string& culprit) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw Error("cannot write " + culprit + ": " + errno_text(errno));
  const int rc = ::fsync(fd), error = errno;
  ::close(fd);
  // Some file systems cannot sync folders (EINVAL); the rename itself is still atomic there.
  if (rc != 0 && error != EINVAL && error != EROFS) throw Error("cannot write " + culprit + ": " + errno_text(error));
}

std::string parent_of(const std::string& path) {
  const fs::path parent = fs::path(path).parent_path();
  return parent.empty() ? "." : parent.string();
}

void remove_quietly(const std::string& path) {
  std::error_code ignored;
  fs::remove(path, ignored);
}

std::string temporary_beside(const std::string& path) { return path + ".tmp." + std::to_string(::getpid()); }

// When process `pid` started, in seconds since the epoch (from /proc); nullopt if unknown.
std::optional<double> process_start_seconds(long pid) {
  std::ifstream stat_file("/proc/" + std::to_string(pid) + "/stat");
  std::string stat_line;
  if (!std::getline(stat_file, stat_line)) return std::nullopt;
  // Field 22, starttime in clock ticks since boot, counted after the command name's ')'.
  const auto name_end = stat_line.rfind(')');
  if (name_end == std::string::npos) return std::nullopt;
  std::istringstream fields(stat_line.substr(name_end + 1));
  std::string field;
  for (int i = 3; i <= 22 && fields >> field; ++i)
    if (i == 22) {
      std::ifstream system_stat("/proc/stat");
      std::string key;
      long long boot_seconds = 0;
      while (system_stat >> key)
        if (key == "btime" && system_stat >> boot_seconds) break;
      if (boot_seconds == 0) return std::nullopt;
      return static_cast<double>(boot_seconds) + std::strtod(field.c_str(), nullptr) / static_cast<double>(::sysconf(_SC_CLK_TCK));
    }
  return std::nullopt;
}

// Whether the process that wrote `file` (NAME.tmp.PID) may still be writing it. A live process
// with that pid is the writer unless it started after the file's last change (the pid was reused;
// ctime, which a hard link also moves, and not mtime, which a link keeps from the linked file).
bool writer_may_live(long pid, const std::string& file) {
  if (::kill(static_cast<pid_t>(pid), 0) != 0 && errno != EPERM) return false;
  struct stat file_stat {};
  if (::stat(file.c_str(), &file_stat) != 0) return true;
  const auto started = process_start_seconds(pid);
  // btime has whole seconds: a margin of 2 s keeps a writer that just started alive.
  return !started || *started <= static_cast<double>(file_stat.st_ctime) + 2.0;
}

}  // namespace

void write_atomically(const std::string& path, const std::function<void(const std::string&)>& write) {
  const std::string tmp = temporary_beside(path);
  try {
    write(tmp);
    sync_path(tmp, path);
  } catch (const Error&) {
    remove_quietly(tmp);
    throw;
  } catch (const std::exception& e) {
    // A library's own error (LibTorch's serializer, a TorchScript save): its first line, which
    // is its message without the backtrace, under the file's name.
    remove_quietly(tmp);
    throw Error("cannot write " + path + ": " + first_line(e.what()));
  } catch (...) {
    remove_quietly(tmp);
    throw;
  }
  std::error_code ec;
  fs::rename(tmp, path, ec);  // atomic on one file system
  if (ec) {
    remove_quietly(tmp);
    throw Error("cannot write " + path + ": " + ec.message());
  }
  sync_path(parent_of(path), path);
}

void write_file_atomic(const std::string& path, const std::string& text) {
  write_atomically(path, [&](const std::string& tmp) {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << text;
    out.flush();
    if (!out) throw Error("cannot write " + path + (errno ? ": " + errno_text(errno) : std::string()));
  });
}

void link_atomically(const std::string& path, const std::string& link_path) {
  const std::string tmp = temporary_beside(link_path);
  remove_quietly(tmp);
  if (::link(path.c_str(), tmp.c_str()) != 0) {
    std::error_code ec;
    fs::copy_file(path, tmp, fs::copy_options::overwrite_existing, ec);  // file systems without hard links
    if (ec) {
      remove_quietly(tmp);
      throw Error("cannot write " + link_path + ": " + ec.message());
    }
    sync_path(tmp, link_path);
  }
  std::error_code ec;
  fs::rename(tmp, link_path, ec);
  // rename(2) of one hard link over another of the same file succeeds and does nothing: link_path
  // already pointed at path, and tmp is still there.
  remove_quietly(tmp);
  if (ec) throw Error("cannot write " + link_path + ": " + ec.message());
  sync_path(parent_of(link_path), link_path);
}

void remove_stale_temporaries(const std::string& dir) {
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    const auto at = name.rfind(".tmp.");
    if (at == std::string::npos) continue;
    const std::string pid_text = name.substr(at + 5);
    if (pid_text.empty() || pid_text.find_first_not_of("0123456789") != std::string::npos) continue;
    const long pid = std::strtol(pid_text.c_str(), nullptr, 10);
    if (pid == ::getpid() || writer_may_live(pid, entry.path().string())) continue;
    remove_quietly(entry.path().string());
  }
}


}  // namespace zoo
