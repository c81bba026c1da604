// Files replaced whole or not at all, and the temporary files a killed writer leaves (checkpoints,
// config.json, metrics.jsonl, TensorBoard's event file, exports). No LibTorch here: the fuzz
// targets build the event-file reader with it.
#pragma once
#include <functional>
#include <string>

namespace zoo {

// Runs `write` on a temporary path beside `path`, fsyncs it, renames it over `path` and fsyncs
// the folder: readers, and the file system after a power cut, see the old file or the new one,
// never half of one. Errors name `path`.
void write_atomically(const std::string& path, const std::function<void(const std::string& tmp_path)>& write);

// Points `link_path` at the same file as `path` (a hard link, a copy where links are not
// supported), replacing it atomically.
void link_atomically(const std::string& path, const std::string& link_path);

// Removes temporary files a killed writer left in `dir` (NAME.tmp.PID of a process that is gone).
void remove_stale_temporaries(const std::string& dir);

// Writes `text` to `path` atomically.
void write_file_atomic(const std::string& path, const std::string& text);

}  // namespace zoo
