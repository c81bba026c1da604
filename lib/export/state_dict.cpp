#include "lib/export/state_dict.h"

#include <caffe2/serialize/inline_container.h>

#include <cstring>
#include <filesystem>
#include <variant>

#include "lib/core/error.h"

namespace zoo {

namespace {

// The values a state_dict pickle builds.
struct Value;
using ValuePtr = std::shared_ptr<Value>;
struct Global {
  std::string module, name;
};
struct Storage {
  torch::Tensor bytes;  // 1-D, of the storage's dtype
};
struct Mark {};
struct Value {
  std::variant<std::monostate, bool, int64_t, double, std::string, std::vector<ValuePtr>, std::vector<std::pair<ValuePtr, ValuePtr>>,
               Global, Storage, torch::Tensor, Mark>
      v;
  bool is_tuple = false;  // std::vector<ValuePtr> serves tuples and lists
};

template <typename T>
ValuePtr make(T x) {
  auto p = std::make_shared<Value>();
  p->v = std::move(x);
  return p;
}

c10::ScalarType storage_dtype(const std::string& name) {
  static const std::map<std::string, c10::ScalarType> types{
      {"FloatStorage", torch::kFloat32}, {"DoubleStorage", torch::kFloat64}, {"HalfStorage", torch::kFloat16},
      {"BFloat16Storage", torch::kBFloat16}, {"LongStorage", torch::kInt64}, {"IntStorage", torch::kInt32},
      {"ShortStorage", torch::kInt16}, {"CharStorage", torch::kInt8}, {"ByteStorage", torch::kUInt8}, {"BoolStorage", torch::kBool}};
  auto it = types.find(name);
  if (it == types.end()) throw Error("unsupported storage type torch." + name);
  return it->second;
}

class StateDictUnpickler {
 public:
  StateDictUnpickler(caffe2::serialize::PyTorchStreamReader& reader, const std::string& path) : reader_(reader), path_(path) {}

  ValuePtr run(const char* data, size_t size) {
    data_ = data, size_ = size, pos_ = 0;
    while (true) {
      const uint8_t op = u8();
      switch (op) {
        case 0x80: u8(); break;                 // PROTO
        case 0x95: bytes(8); break;             // FRAME (protocol 4)
        case 0x94: memo_[memo_.size()] = top(); break;  // MEMOIZE
        case '.': return pop();                 // STOP
        case '(': stack_.push_back(make(Mark{})); break;  // MARK
        case 'N': stack_.push_back(make(std::monostate{})); break;
        case 0x88: stack_.push_back(make(true)); break;   // NEWTRUE
        case 0x89: stack_.push_back(make(false)); break;  // NEWFALSE
        case 'K': stack_.push_back(make(static_cast<int64_t>(u8()))); break;  // BININT1
        case 'M': stack_.push_back(make(static_cast<int64_t>(le<uint16_t>()))); break;  // BININT2
        case 'J': stack_.push_back(make(static_cast<int64_t>(le<int32_t>()))); break;   // BININT
        case 0x8a: {  // LONG1
          const uint8_t n = u8();
          int64_t v = 0;
          const char* b = bytes(n);
          for (int i = n - 1; i >= 0; --i) v = (v << 8) | static_cast<uint8_t>(b[i]);
          if (n > 0 && n < 8 && (static_cast<uint8_t>(b[n - 1]) & 0x80)) v -= int64_t{1} << (8 * n);
          stack_.push_back(make(v));
          break;
        }
        case 'G': {  // BINFLOAT, big-endian
          uint64_t bits = 0;
          const char* b = bytes(8);
          for (int i = 0; i < 8; ++i) bits = (bits << 8) | static_cast<uint8_t>(b[i]);
          double d;
          std::memcpy(&d, &bits, 8);
          stack_.push_back(make(d));
          break;
        }
        case 'X': { const uint32_t n = le<uint32_t>(); stack_.push_back(make(std::string(bytes(n), n))); break; }  // BINUNICODE
        case 0x8c: { const uint8_t n = u8(); stack_.push_back(make(std::string(bytes(n), n))); break; }        // SHORT_BINUNICODE
        case 'q': memo_[u8()] = top(); break;              // BINPUT
        case 'r': memo_[le<uint32_t>()] = top(); break;    // LONG_BINPUT
        case 'h': stack_.push_back(memo(u8())); break;     // BINGET
        case 'j': stack_.push_back(memo(le<uint32_t>())); break;  // LONG_BINGET
        case ')': stack_.push_back(tuple({})); break;      // EMPTY_TUPLE
        case ']': stack_.push_back(make(std::vector<ValuePtr>{})); break;  // EMPTY_LIST
        case '}': stack_.push_back(make(std::vector<std::pair<ValuePtr, ValuePtr>>{})); break;  // EMPTY_DICT
        case 't': stack_.push_back(tuple(pop_mark())); break;  // TUPLE
        case 0x85: { auto a = pop(); stack_.push_back(tuple({a})); break; }  // TUPLE1
        case 0x86: { auto b = pop(), a = pop(); stack_.push_back(tuple({a, b})); break; }  // TUPLE2
        case 0x87: { auto c = pop(), b = pop(), a = pop(); stack_.push_back(tuple({a, b, c})); break; }  // TUPLE3
        case 'a': { auto x = pop(); list(top()).push_back(x); break; }  // APPEND
        case 'e': { auto items = pop_mark(); auto& l = list(top()); l.insert(l.end(), items.begin(), items.end()); break; }  // APPENDS
        case 's': { auto v = pop(), k = pop(); dict(top()).emplace_back(k, v); break; }  // SETITEM
        case 'u': {  // SETITEMS
          auto items = pop_mark();
          if (items.size() % 2) fail("odd SETITEMS");
          for (size_t i = 0; i < items.size(); i += 2) dict(top()).emplace_back(items[i], items[i + 1]);
          break;
        }
        case 'c': {  // GLOBAL "module\nname\n"
          std::string module = line(), name = line();
          stack_.push_back(make(Global{module, name}));
          break;
        }
        case 'R': { auto args = pop(), fn = pop(); stack_.push_back(reduce(fn, args)); break; }  // REDUCE
        case 0x81: { pop(), pop(); stack_.push_back(make(std::monostate{})); break; }  // NEWOBJ: an object zoo does not read
        case 'Q': { auto pid = pop(); stack_.push_back(load_storage(pid)); break; }  // BINPERSID
        case 'b': pop(); break;  // BUILD: the OrderedDict's state (_metadata) is not needed
        case '0': pop(); break;  // POP
        default: {
          char hex[8];
          std::snprintf(hex, sizeof(hex), "0x%02x", op);
          fail(std::string("unsupported pickle opcode ") + hex);
        }
      }
    }
  }

 private:
  [[noreturn]] void fail(const std::string& why) const {
    throw Error(path_ + " is not a state_dict this reader understands (" + why + " at byte " + std::to_string(pos_) + ")");
  }
  const char* bytes(size_t n) {
    if (pos_ + n > size_) fail("truncated pickle");
    const char* p = data_ + pos_;
    pos_ += n;
    return p;
  }
  uint8_t u8() { return static_cast<uint8_t>(*bytes(1)); }
  template <typename T>
  T le() {
    T v;
    std::memcpy(&v, bytes(sizeof(T)), sizeof(T));  // x86 and arm64 are little-endian, as pickle's ints
    return v;
  }
  std::string line() {
    std::string s;
    for (char c = static_cast<char>(u8()); c != '\n'; c = static_cast<char>(u8())) s += c;
    return s;
  }
  ValuePtr pop() {
    if (stack_.empty()) fail("stack underflow");
    auto v = stack_.back();
    stack_.pop_back();
    return v;
  }
  ValuePtr top() {
    if (stack_.empty()) fail("stack underflow");
    return stack_.back();
  }
  ValuePtr memo(uint32_t key) {
    auto it = memo_.find(key);
    if (it == memo_.end()) fail("unknown memo entry");
    return it->second;
  }
  std::vector<ValuePtr> pop_mark() {
    std::vector<ValuePtr> items;
    while (true) {
      auto v = pop();
      if (std::holds_alternative<Mark>(v->v)) break;
      items.push_back(v);
    }
    std::reverse(items.begin(), items.end());
    return items;
  }
  ValuePtr tuple(std::vector<ValuePtr> items) {
    auto v = make(std::move(items));
    v->is_tuple = true;
    return v;
  }
  std::vector<ValuePtr>& list(const ValuePtr& v) {
    if (auto* l = std::get_if<std::vector<ValuePtr>>(&v->v)) return *l;
    fail("APPEND to a non-list");
  }
  std::vector<std::pair<ValuePtr, ValuePtr>>& dict(const ValuePtr& v) {
    if (auto* d = std::get_if<std::vector<std::pair<ValuePtr, ValuePtr>>>(&v->v)) return *d;
    fail("SETITEM on a non-dict");
  }
  int64_t integer(const ValuePtr& v) {
    if (auto* i = std::get_if<int64_t>(&v->v)) return *i;
    fail("expected an integer");
  }
  std::vector<int64_t> integers(const ValuePtr& v) {
    std::vector<int64_t> out;
    if (auto* l = std::get_if<std::vector<ValuePtr>>(&v->v))
      for (const auto& x : *l) out.push_back(integer(x));
    return out;
  }

  ValuePtr reduce(const ValuePtr& fn, const ValuePtr& args_value) {
    auto* global = std::get_if<Global>(&fn->v);
    auto* args = std::get_if<std::vector<ValuePtr>>(&args_value->v);
    if (!global || !args) fail("REDUCE of a non-global");
    const std::string name = global->module + "." + global->name;
    if (name == "collections.OrderedDict") return make(std::vector<std::pair<ValuePtr, ValuePtr>>{});
    if (name == "torch._utils._rebuild_tensor_v2" || name == "torch._utils._rebuild_tensor") {
      // (storage, storage_offset, size, stride, ...)
      if (args->size() < 4) fail("short _rebuild_tensor_v2 arguments");
      auto* storage = std::get_if<Storage>(&(*args)[0]->v);
      if (!storage) fail("tensor without storage");
      auto t = storage->bytes.as_strided(integers((*args)[2]), integers((*args)[3]), integer((*args)[1]));
      return make(t.clone());
    }
    if (name == "torch._utils._rebuild_parameter") {
      if (args->empty() || !std::holds_alternative<torch::Tensor>((*args)[0]->v)) fail("bad _rebuild_parameter");
      return (*args)[0];
    }
    // Anything else (the argparse.Namespace a training checkpoint keeps beside the weights): an
    // opaque value; a state dict entry that is one is refused below.
    return make(std::monostate{});
  }

  // ('storage', torch.FloatStorage, key, location, numel) -> the record data/<key>.
  ValuePtr load_storage(const ValuePtr& pid) {
    auto* t = std::get_if<std::vector<ValuePtr>>(&pid->v);
    if (!t || t->size() < 5) fail("unexpected persistent id");
    auto* type = std::get_if<Global>(&(*t)[1]->v);
    auto* key = std::get_if<std::string>(&(*t)[2]->v);
    if (!type || !key) fail("unexpected persistent id");
    const auto dtype = storage_dtype(type->name);
    auto it = storages_.find(*key);
    if (it == storages_.end()) {
      at::DataPtr data;
      size_t bytes_size = 0;
      std::tie(data, bytes_size) = reader_.getRecord("data/" + *key);
      const auto element = c10::elementSize(dtype);
      auto raw = torch::empty({static_cast<int64_t>(bytes_size / element)}, torch::TensorOptions().dtype(dtype));
      std::memcpy(raw.data_ptr(), data.get(), bytes_size);
      it = storages_.emplace(*key, raw).first;
    }
    return make(Storage{it->second});
  }

  caffe2::serialize::PyTorchStreamReader& reader_;
  std::string path_;
  const char* data_ = nullptr;
  size_t size_ = 0, pos_ = 0;
  std::vector<ValuePtr> stack_;
  std::map<uint32_t, ValuePtr> memo_;
  std::map<std::string, torch::Tensor> storages_;
};

}  // namespace

NamedTensors read_torch_state_dict(const std::string& path) {
  if (!std::filesystem::is_regular_file(path)) throw Error("state_dict file not found: " + path);
  std::unique_ptr<caffe2::serialize::PyTorchStreamReader> reader;
  at::DataPtr pickle;
  size_t pickle_size = 0;
  try {
    reader = std::make_unique<caffe2::serialize::PyTorchStreamReader>(path);
    if (!reader->hasRecord("data.pkl")) throw Error(path + " holds no data.pkl: not a torch.save file");
    std::tie(pickle, pickle_size) = reader->getRecord("data.pkl");
  } catch (const c10::Error& e) {
    throw Error(path + " is not a zip-format torch.save file (" + first_line(e.what_without_backtrace()) + ")");
  }
  StateDictUnpickler unpickler(*reader, path);
  ValuePtr root;
  try {
    root = unpickler.run(static_cast<const char*>(pickle.get()), pickle_size);
  } catch (const c10::Error& e) {
    throw Error(path + ": " + first_line(e.what_without_backtrace()));
  }
  auto* items = std::get_if<std::vector<std::pair<ValuePtr, ValuePtr>>>(&root->v);
  if (!items) throw Error(path + " does not hold a dict of tensors (save model.state_dict(), not the model)");
  // A training checkpoint ({"model": state_dict, "optimizer": ..., "args": ...}, as DETR's and
  // many reference scripts save): its "model".
  for (const auto& [key, value] : *items) {
    auto* name = std::get_if<std::string>(&key->v);
    auto* inner = std::get_if<std::vector<std::pair<ValuePtr, ValuePtr>>>(&value->v);
    if (name && *name == "model" && inner) {
      items = inner;
      break;
    }
  }
  NamedTensors out;
  for (const auto& [key, value] : *items) {
    auto* name = std::get_if<std::string>(&key->v);
    auto* tensor = std::get_if<torch::Tensor>(&value->v);
    if (!name || !tensor) throw Error(path + " holds a non-tensor entry; expected a state_dict");
    out[*name] = *tensor;
  }
  return out;
}

}  // namespace zoo
