// Owners for libevent's C handles, and the loop thread both of the rig's
// servers (HttpTestServer, LatencyProxy) run on.
#pragma once

#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/listener.h>
#include <signal.h>

#include <memory>
#include <thread>

namespace taskfarm::testserver {

struct EventBaseDeleter {
  void operator()(event_base* base) const { event_base_free(base); }
};
struct EventConfigDeleter {
  void operator()(event_config* config) const { event_config_free(config); }
};
struct EvhttpDeleter {
  void operator()(evhttp* http) const { evhttp_free(http); }
};
struct EventDeleter {
  void operator()(event* ev) const { event_free(ev); }
};
struct EvbufferDeleter {
  void operator()(evbuffer* buf) const { evbuffer_free(buf); }
};
struct BuffereventDeleter {
  void operator()(bufferevent* bev) const { bufferevent_free(bev); }
};
struct ListenerDeleter {
  void operator()(evconnlistener* listener) const { evconnlistener_free(listener); }
};
using EventBasePtr = std::unique_ptr<event_base, EventBaseDeleter>;
using EventConfigPtr = std::unique_ptr<event_config, EventConfigDeleter>;
using EvhttpPtr = std::unique_ptr<evhttp, EvhttpDeleter>;
using EventPtr = std::unique_ptr<event, EventDeleter>;
using EvbufferPtr = std::unique_ptr<evbuffer, EvbufferDeleter>;
using BuffereventPtr = std::unique_ptr<bufferevent, BuffereventDeleter>;
using ListenerPtr = std::unique_ptr<evconnlistener, ListenerDeleter>;

// Runs `base`'s loop (until event_base_loopexit/break) on a new thread that
// blocks every asynchronous signal, so the host process keeps receiving
// them where it expects and a write to a vanished peer is EPIPE, not a
// process-killing SIGPIPE. Synchronous fault signals stay unblocked so
// crashes still crash.
inline std::thread StartLoopThread(event_base* base) {
  sigset_t blocked;
  sigfillset(&blocked);
  for (int sig : {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGABRT}) sigdelset(&blocked, sig);
  sigset_t previous;
  pthread_sigmask(SIG_SETMASK, &blocked, &previous);
  std::thread loop([base] { event_base_loop(base, EVLOOP_NO_EXIT_ON_EMPTY); });
  pthread_sigmask(SIG_SETMASK, &previous, nullptr);
  return loop;
}

}  // namespace taskfarm::testserver
