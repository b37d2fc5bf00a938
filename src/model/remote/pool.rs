//! Several servers serving one model, used as one: each request goes to the live server with the
//! fewest requests in flight (at most `per_server` each, callers wait for a free slot), a server
//! whose requests keep failing for server reasons is dropped with a notice, and the request goes
//! on at another. What each server did is counted for progress lines.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

use super::http::{Failure, Server, ServerError};

/// A request at one server: its result and how many tokens it moved.
pub type Request<'a, T> = dyn FnMut(&Server) -> Result<(T, usize), ServerError> + 'a;

/// Failed requests in a row (each after its own retries) before a server is dropped.
const STRIKES: usize = 2;

/// What one server did so far.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ServerStats {
    pub url: String,
    pub requests: usize,
    pub failures: usize,
    /// Tokens generated or scored through this server.
    pub tokens: usize,
    /// Time spent in successful requests.
    pub busy: Duration,
    pub dropped: bool,
}

/// A server's changing state (the servers themselves never change, so they are used unlocked).
struct Member {
    stats: ServerStats,
    in_flight: usize,
    strikes: usize,
}

pub struct Pool {
    servers: Vec<Server>,
    members: Mutex<Vec<Member>>,
    freed: Condvar,
    per_server: usize,
    notices: Mutex<Vec<String>>,
}

impl Pool {
    pub fn new(servers: Vec<Server>, per_server: usize) -> Pool {
        let members = servers
            .iter()
            .map(|server| Member {
                stats: ServerStats { url: server.url().to_string(), ..ServerStats::default() },
                in_flight: 0,
                strikes: 0,
            })
            .collect();
        Pool {
            servers,
            members: Mutex::new(members),
            freed: Condvar::new(),
            per_server: per_server.max(1),
            notices: Mutex::default(),
        }
    }

    /// The URLs of the servers still in use.
    pub fn live(&self) -> Vec<String> {
        let members = self.members.lock().unwrap_or_else(|e| e.into_inner());
        members.iter().filter(|m| !m.stats.dropped).map(|m| m.stats.url.clone()).collect()
    }

    /// Requests that may run at once over all live servers.
    pub fn capacity(&self) -> usize {
        self.live().len() * self.per_server
    }

    pub fn stats(&self) -> Vec<ServerStats> {
        let members = self.members.lock().unwrap_or_else(|e| e.into_inner());
        members.iter().map(|m| m.stats.clone()).collect()
    }

    /// Messages about dropped servers since the last call.
    pub fn take_notices(&self) -> Vec<String> {
        std::mem::take(&mut *self.notices.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// Runs `request` at a server. `request` returns its result and how many tokens it moved. A
    /// server fault (after the request's own retries) counts a strike and the request goes on at
    /// a live server; a fault of the request itself (a 4xx, a malformed answer) returns at once.
    pub fn call<T>(&self, cancel: &AtomicBool, request: &mut Request<T>) -> Result<T, ServerError> {
        let mut last: Option<ServerError> = None;
        loop {
            let Some(at) = self.acquire(cancel, &last)? else {
                return Err(last.unwrap_or_else(|| ServerError {
                    server: "(none)".into(),
                    failure: Failure::Connect("no server is left".into()),
                }));
            };
            let started = Instant::now();
            let result = request(&self.servers[at]);
            let mut members = self.members.lock().unwrap_or_else(|e| e.into_inner());
            let m = &mut members[at];
            m.in_flight -= 1;
            m.stats.requests += 1;
            self.freed.notify_all();
            match result {
                Ok((value, tokens)) => {
                    m.strikes = 0;
                    m.stats.tokens += tokens;
                    m.stats.busy += started.elapsed();
                    return Ok(value);
                }
                Err(e) if !e.failure.retryable() => {
                    if e.failure != Failure::Cancelled {
                        m.stats.failures += 1;
                    }
                    return Err(e);
                }
                Err(e) => {
                    m.stats.failures += 1;
                    m.strikes += 1;
                    if m.strikes >= STRIKES && !m.stats.dropped {
                        m.stats.dropped = true;
                        let left = members.iter().filter(|m| !m.stats.dropped).count();
                        let notice =
                            format!("dropping {e} ({STRIKES} failed requests in a row; {left} server(s) left)");
                        self.notices.lock().unwrap_or_else(|e| e.into_inner()).push(notice);
                    }
                    last = Some(e);
                }
            }
        }
    }

    /// Takes a slot at the live server with the fewest requests in flight, waiting for one to free;
    /// `None` when no server is left.
    fn acquire(&self, cancel: &AtomicBool, last: &Option<ServerError>) -> Result<Option<usize>, ServerError> {
        let mut members = self.members.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if cancel.load(Ordering::Relaxed) {
                let server = last.as_ref().map_or_else(|| "(none)".to_string(), |e| e.server.clone());
                return Err(ServerError { server, failure: Failure::Cancelled });
            }
            let live = members.iter().enumerate().filter(|(_, m)| !m.stats.dropped);
            let Some((at, m)) = live.min_by_key(|(_, m)| m.in_flight) else { return Ok(None) };
            if m.in_flight < self.per_server {
                members[at].in_flight += 1;
                return Ok(Some(at));
            }
            let (guard, _) =
                self.freed.wait_timeout(members, Duration::from_millis(50)).unwrap_or_else(|e| e.into_inner());
            members = guard;
        }
    }
}
