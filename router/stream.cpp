#include "stream.hpp"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <poll.h>
#include <sys/uio.h>
#include <unistd.h>


namespace mitosis::router {

namespace {
constexpr std::size_t in_capacity = 64 * 1024;
} // namespace

stream::stream(stream_id id, unique_fd rfd, unique_fd wfd, stream_options opts)
  : id_(id),
    rfd_(std::move(rfd)),
    wfd_(std::move(wfd)),
    opts_(std::move(opts)),
    awaiting_hello_(opts_.expect_hello) {
  in_.resize(in_capacity);
  if (opts_.driver)
    driver_fd_ = opts_.driver->watch_fd();
}

stream::~stream() = default;

int& stream::deferring() noexcept {
  thread_local int runs = 0;
  return runs;
}

stream::send_result stream::send(serialization::outgoing&& wire) {
  bool wrote = false;
  send_result r;
  const auto bytes = wire.size();
  {
    std::lock_guard<std::mutex> guard{out_mtx_};
    r = send_locked(std::move(wire), wrote);
  }
  if (r != send_result::closed && r != send_result::overflow) {
    traffic_.frames_out.fetch_add(1, std::memory_order_relaxed);
    traffic_.bytes_out.fetch_add(bytes, std::memory_order_relaxed);
  }
  // Everything goes through the fd in order, so pushing on what is there
  // never lets a frame overtake bytes queued before it.
  if (wrote && opts_.driver && deferring() == 0)
    opts_.driver->push();
  return r;
}

stream::send_result stream::send_locked(serialization::outgoing&& wire, bool& wrote) {
  if (closed_)
    return send_result::closed;
  if (!out_q_.empty()) {
    // A peer that leaves this much unread gets nothing more: the queue
    // never grows past the limit and one frame.
    if (out_bytes_ > opts_.max_queued)
      return send_result::overflow;
    auto flat = std::move(wire).flatten();
    out_bytes_ += flat.size();
    out_q_.push_back(std::move(flat));
    return send_result::queued;
  }
  // Wire order: header, blob, rest of the payload.
  const auto head = std::min(serialization::frame_header::size, wire.bytes.size());
  iovec parts[3] = {
    {wire.bytes.data(), head},
    {const_cast<char*>(wire.blob), wire.blob_len},
    {wire.bytes.data() + head, wire.bytes.size() - head},
  };
  std::size_t total = wire.size();
  std::size_t off = 0;
  // A borrowed blob comes from a calling thread (never the I/O thread):
  // wait a little for the peer to drain rather than copy the rest into the
  // queue. Bounded, so that a stuck peer costs one short stall and a copy.
  auto wait_budget = std::chrono::milliseconds{wire.blob && wire.may_wait ? 50 : 0};
  const auto started = std::chrono::steady_clock::now();
  bool handed_back = false;
  while (off < total) {
    // Skip what is written already.
    iovec iov[3];
    int cnt = 0;
    std::size_t skip = off;
    for (auto& p : parts) {
      if (skip >= p.iov_len) {
        skip -= p.iov_len;
        continue;
      }
      iov[cnt++] = {static_cast<char*>(p.iov_base) + skip, p.iov_len - skip};
      skip = 0;
    }
    auto n = ::writev(write_fd(), iov, cnt);
    if (n > 0) {
      off += static_cast<std::size_t>(n);
      wrote = true;
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      // Full: a big transfer. The driver's own thread moves it from here.
      if (opts_.driver && !handed_back) {
        opts_.driver->hand_back();
        handed_back = true;
      }
      auto left = wait_budget - std::chrono::duration_cast<std::chrono::milliseconds>(
                                  std::chrono::steady_clock::now() - started);
      if (left.count() <= 0)
        break;
      pollfd pfd{write_fd(), POLLOUT, 0};
      ::poll(&pfd, 1, static_cast<int>(left.count()));
    } else {
      closed_ = true; // the read side reports the loss
      return send_result::closed;
    }
  }
  if (wrote)
    mark_sent();
  if (off == total)
    return send_result::sent;
  // Keep the rest; the blob is borrowed, so it is copied now.
  auto flat = std::move(wire).flatten();
  out_off_ = off;
  out_bytes_ += flat.size();
  out_q_.push_back(std::move(flat));
  return send_result::queued_first;
}

bool stream::flush() {
  bool wrote = false;
  bool empty;
  {
    std::lock_guard<std::mutex> guard{out_mtx_};
    empty = flush_locked(wrote);
  }
  if (opts_.driver) {
    if (!empty)
      opts_.driver->hand_back(); // still full: a big transfer
    else if (wrote)
      opts_.driver->push();
  }
  if (wrote)
    mark_sent();
  return empty;
}

void stream::mark_sent() noexcept {
  if (!alive_.sent.load(std::memory_order_relaxed))
    alive_.sent.store(true, std::memory_order_relaxed);
}

bool stream::has_queued() const {
  std::lock_guard<std::mutex> guard{out_mtx_};
  return !out_q_.empty();
}

std::size_t stream::queued_bytes() const {
  std::lock_guard<std::mutex> guard{out_mtx_};
  return out_bytes_ - out_off_; // the front buffer's written part is gone
}

std::uint32_t stream::add_refusal(std::chrono::steady_clock::time_point now,
                                  std::chrono::milliseconds window) {
  std::lock_guard<std::mutex> guard{refusal_mtx_};
  if (now - refusal_window_start_ >= window) {
    refusal_window_start_ = now;
    refusals_ = 0;
  }
  return ++refusals_;
}

bool stream::flush_locked(bool& wrote) {
  while (!out_q_.empty()) {
    auto& b = out_q_.front();
    auto n = ::write(write_fd(), b.data() + out_off_, b.size() - out_off_);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK)
        return false;
      closed_ = true;
      out_q_.clear();
      out_bytes_ = 0;
      return true;
    }
    out_off_ += static_cast<std::size_t>(n);
    wrote = true;
    if (out_off_ == b.size()) {
      out_bytes_ -= b.size();
      out_q_.pop_front();
      out_off_ = 0;
    }
  }
  return true;
}

void stream::close() noexcept {
  std::lock_guard<std::mutex> guard{out_mtx_};
  closed_ = true;
}

bool stream::closed() const {
  std::lock_guard<std::mutex> guard{out_mtx_};
  return closed_;
}

void stream::cut(std::string reason) {
  std::lock_guard<std::mutex> guard{cut_mtx_};
  if (!cut_.load(std::memory_order_relaxed)) {
    cut_reason_ = std::move(reason);
    cut_.store(true, std::memory_order_release);
  }
}

std::string stream::cut_reason() const {
  std::lock_guard<std::mutex> guard{cut_mtx_};
  return cut_reason_;
}

stream::io_status stream::on_readable(frame_sink& r, std::string& reason,
                                     const std::function<bool()>* enough) {
  for (;;) {
    if (cut_.load(std::memory_order_acquire)) {
      reason = cut_reason();
      return io_status::closed;
    }
    ssize_t n;
    if (in_payload_) {
      n = ::read(read_fd(), cur_.payload.data() + got_, cur_.payload.size() - got_);
    } else {
      n = ::read(read_fd(), in_.data() + in_len_, in_.size() - in_len_);
    }
    if (n < 0) {
      if (errno == EINTR)
        continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK)
        return io_status::open;
      reason = std::string{"read failed: "} + std::strerror(errno);
      return io_status::closed;
    }
    if (n == 0) {
      reason = in_payload_ || in_len_ > 0 ? "stream closed in the middle of a frame"
                                          : "stream closed";
      if (opts_.driver)
        if (auto why = opts_.driver->closed_reason(); !why.empty())
          reason += ": " + why;
      return io_status::closed;
    }
    // Life, for the heartbeat timer: a flag, no clock read.
    if (!alive_.heard.load(std::memory_order_relaxed))
      alive_.heard.store(true, std::memory_order_relaxed);
    // A short read means the stream is drained for now: go back to the
    // poller instead of paying for a read that says EAGAIN.
    bool drained;
    if (in_payload_) {
      drained = static_cast<std::size_t>(n) < cur_.payload.size() - got_;
      got_ += static_cast<std::size_t>(n);
      if (got_ == cur_.payload.size()) {
        in_payload_ = false;
        r.on_frame(*this, std::move(cur_));
        cur_ = {};
      }
    } else {
      drained = static_cast<std::size_t>(n) < in_.size() - in_len_;
      in_len_ += static_cast<std::size_t>(n);
      if (!parse(r, reason))
        return io_status::closed;
    }
    if (drained && !cut_.load(std::memory_order_relaxed))
      return io_status::open;
    if (enough && (*enough)() && !cut_.load(std::memory_order_relaxed))
      return io_status::open;
  }
}

bool stream::parse(frame_sink& r, std::string& reason) {
  std::size_t off = 0;
  if (awaiting_hello_.load()) {
    if (in_len_ < serialization::hello::size)
      return true;
    auto check = serialization::check_hello(reinterpret_cast<const std::byte*>(in_.data()),
                                            serialization::local_hello());
    if (!check.ok) {
      reason = check.reason;
      r.on_handshake(*this, reason);
      return false;
    }
    awaiting_hello_ = false;
    off = serialization::hello::size;
    r.on_handshake(*this, {});
  }
  while (!cut_.load(std::memory_order_relaxed) && in_len_ - off >= serialization::frame_header::size) {
    auto hdr = serialization::decode_header(reinterpret_cast<const std::byte*>(in_.data() + off));
    if (auto err = hdr.valid(opts_.max_frame); err != errc::none) {
      reason = std::string{"malformed frame: "} + to_string(err) + " (length "
               + std::to_string(hdr.length) + ")";
      return false;
    }
    auto avail = in_len_ - off - serialization::frame_header::size;
    auto body = in_.data() + off + serialization::frame_header::size;
    if (avail >= hdr.length) {
      serialization::frame f{hdr, serialization::buffer(body, body + hdr.length)};
      off += serialization::frame_header::size + hdr.length;
      r.on_frame(*this, std::move(f));
    } else {
      cur_.hdr = hdr;
      cur_.payload.resize(hdr.length);
      std::memcpy(cur_.payload.data(), body, avail);
      got_ = avail;
      in_payload_ = true;
      off = in_len_;
    }
  }
  if (cut_.load(std::memory_order_acquire)) {
    reason = cut_reason();
    return false;
  }
  std::memmove(in_.data(), in_.data() + off, in_len_ - off);
  in_len_ -= off;
  return true;
}

} // namespace mitosis::router
