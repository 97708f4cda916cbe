// Owners for libevent's C handles, and the loop thread both of the rig's
// servers (HttpTestServer, LatencyProxy) run on.
#pragma once

#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/listener.h>
#include <signal.h>

#include <thread>

#include "common/c_handle.h"

namespace taskfarm::testserver {

using EventBasePtr = CHandle<event_base, event_base_free>;
using EventConfigPtr = CHandle<event_config, event_config_free>;
using EvhttpPtr = CHandle<evhttp, evhttp_free>;
using EventPtr = CHandle<event, event_free>;
using EvbufferPtr = CHandle<evbuffer, evbuffer_free>;
using BuffereventPtr = CHandle<bufferevent, bufferevent_free>;
using ListenerPtr = CHandle<evconnlistener, evconnlistener_free>;

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

// Ends the loop StartLoopThread started and joins its thread, by making
// `stop_event` (whose callback breaks the loop) active: that is queued even
// if the loop has not started yet, where event_base_loopbreak from here
// would be forgotten by a loop that starts afterwards.
inline void StopLoopThread(event* stop_event, std::thread* loop) {
  if (!loop->joinable()) return;
  event_active(stop_event, EV_READ, 0);
  loop->join();
}

}  // namespace taskfarm::testserver
