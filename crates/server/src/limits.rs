//! Per-address connection limits on every listener: how many connections
//! one client address may hold open, and how many of them may be still
//! sending a request's headers (the slow-header attack holds many such
//! connections; hyper's header timeout ends each one, this caps how many
//! one address has at a time). A connection over either limit is closed
//! when accepted, before any byte is read.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

/// The limits, shared by every listener of the process.
pub struct ConnLimits {
    max_open: u32,
    max_pending: u32,
    by_ip: Mutex<HashMap<IpAddr, Arc<PerIp>>>,
}

#[derive(Default)]
struct PerIp {
    open: AtomicU32,
    pending: AtomicU32,
}

/// Why a connection was not admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    TooManyOpen,
    TooManyPending,
}

impl ConnLimits {
    pub fn new(max_open: u32, max_pending: u32) -> Arc<Self> {
        Arc::new(ConnLimits {
            max_open,
            max_pending,
            by_ip: Mutex::new(HashMap::new()),
        })
    }

    /// Admits a connection from `ip`, counted open and still sending its
    /// first head until its guard says otherwise or is dropped.
    pub fn admit(self: &Arc<Self>, ip: IpAddr) -> Result<ConnGuard, Refused> {
        let ip = ip.to_canonical();
        let mut by_ip = self.by_ip.lock().expect("connection limits lock");
        let entry = by_ip.entry(ip).or_default().clone();
        if entry.open.load(Ordering::Relaxed) >= self.max_open {
            return Err(Refused::TooManyOpen);
        }
        if entry.pending.load(Ordering::Relaxed) >= self.max_pending {
            return Err(Refused::TooManyPending);
        }
        entry.open.fetch_add(1, Ordering::Relaxed);
        entry.pending.fetch_add(1, Ordering::Relaxed);
        drop(by_ip);
        Ok(ConnGuard {
            limits: self.clone(),
            ip,
            entry,
            pending: true,
        })
    }

    /// Connections open from `ip` now.
    #[cfg(test)]
    fn open(&self, ip: IpAddr) -> u32 {
        let by_ip = self.by_ip.lock().expect("connection limits lock");
        by_ip.get(&ip).map_or(0, |e| e.open.load(Ordering::Relaxed))
    }
}

/// One admitted connection's place in the counts; dropping it frees it.
pub struct ConnGuard {
    limits: Arc<ConnLimits>,
    ip: IpAddr,
    entry: Arc<PerIp>,
    pending: bool,
}

impl ConnGuard {
    /// Whether the connection is in the middle of sending a head.
    pub fn set_pending(&mut self, pending: bool) {
        if pending != self.pending {
            self.pending = pending;
            if pending {
                self.entry.pending.fetch_add(1, Ordering::Relaxed);
            } else {
                self.entry.pending.fetch_sub(1, Ordering::Relaxed);
            }
        }
    }
}

impl Drop for ConnGuard {
    fn drop(&mut self) {
        // Under the map's lock, so an address's entry is removed only when
        // no admission is adding to it.
        let mut by_ip = self.limits.by_ip.lock().expect("connection limits lock");
        if self.pending {
            self.entry.pending.fetch_sub(1, Ordering::Relaxed);
        }
        if self.entry.open.fetch_sub(1, Ordering::Relaxed) == 1 {
            by_ip.remove(&self.ip);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_is_held_to_its_open_and_pending_limits_and_freed_on_drop() {
        let limits = ConnLimits::new(3, 2);
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let mut first = limits.admit(a).unwrap();
        let _second = limits.admit(a).unwrap();
        // Two still sending heads: a third is refused, another address is not.
        assert_eq!(limits.admit(a).err(), Some(Refused::TooManyPending));
        let other = limits.admit(b).unwrap();
        // One finishes its head: room for one more, then the open limit.
        first.set_pending(false);
        let mut third = limits.admit(a).unwrap();
        third.set_pending(false);
        assert_eq!(limits.admit(a).err(), Some(Refused::TooManyOpen));
        drop(first);
        assert_eq!(limits.open(a), 2);
        let _fourth = limits.admit(a).unwrap();
        drop(other);
        assert_eq!(limits.open(b), 0);
        assert!(limits.by_ip.lock().unwrap().get(&b).is_none());
    }

    #[test]
    fn ipv4_mapped_addresses_count_as_the_ipv4_address() {
        let limits = ConnLimits::new(1, 1);
        let _g = limits.admit("10.0.0.1".parse().unwrap()).unwrap();
        assert_eq!(
            limits.admit("::ffff:10.0.0.1".parse().unwrap()).err(),
            Some(Refused::TooManyOpen)
        );
    }
}
