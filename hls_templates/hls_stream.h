// hls_stream.h -- bnnfpga's own stand-in for hls::stream, for C simulation with g++ only.
//
// An unbounded FIFO (std::deque) with the blocking read/write interface the
// generated code uses.  The dataflow stages run one after another in C
// simulation, so a stage may write a whole batch of frames before the next one
// reads them.  Vivado/Vitis HLS use their own hls_stream.h: this file lives in
// csim_include/, which only bnnfpga's g++ build puts on the include path.
#ifndef BNNFPGA_HLS_STREAM_SHIM_H
#define BNNFPGA_HLS_STREAM_SHIM_H

#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <string>

namespace hls {

template <typename T>
class stream {
 public:
  stream() : name_("stream") {}
  explicit stream(const char* name) : name_(name) {}
  stream(const stream&) = delete;
  stream& operator=(const stream&) = delete;

  void write(const T& v) { q_.push_back(v); }
  void operator<<(const T& v) { write(v); }

  T read() {
    if (q_.empty()) {
      std::fprintf(stderr, "hls::stream '%s': read from an empty stream\n", name_.c_str());
      std::abort();
    }
    T v = q_.front();
    q_.pop_front();
    return v;
  }
  void read(T& v) { v = read(); }
  void operator>>(T& v) { v = read(); }
  bool read_nb(T& v) {
    if (q_.empty()) return false;
    v = read();
    return true;
  }
  bool write_nb(const T& v) {
    write(v);
    return true;
  }

  bool empty() const { return q_.empty(); }
  bool full() const { return false; }
  std::size_t size() const { return q_.size(); }

 private:
  std::deque<T> q_;
  std::string name_;
};

}  // namespace hls

#endif  // BNNFPGA_HLS_STREAM_SHIM_H
