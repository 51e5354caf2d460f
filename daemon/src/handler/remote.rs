//! A call's handler instance, wherever it runs: in this process ([`Instance`], delivered
//! synchronously) or in an isolated host ([`Remote`], delivered by message: one event in
//! flight at a time, its answer handled when it arrives).
//!
//! Either way the switch keeps the call's [`CallCtx`] here and reads the handler's
//! requests from it, so call control does not care where the handler runs. For a remote
//! instance the context mirrors the host's: the switch's view (media busy, gone, timers)
//! travels with each event, and the effects of the requests that come back (a media
//! operation makes the call busy, a timer counts, a hangup makes it gone) are applied here
//! as the host table applies them in process.

use super::host::{CallCtx, Request};
use super::instance::{HostEvent, Instance, Outcome};
use super::loader::Handler;
use super::process::HostProc;
use super::wire::{CallState, ToHost, check_request};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

/// The event kind an in-flight `Create` is recorded as.
pub const CREATE: u32 = 0;

/// An event sent to a host and not yet answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InFlight {
    /// When it was sent.
    pub since: Instant,
    /// Its kind (`TIPRING_EV_*`, or [`CREATE`]).
    pub kind: u32,
}

/// An instance in an isolated host.
#[derive(Debug)]
pub struct Remote {
    /// Its host.
    pub host: Arc<HostProc>,
    handler: Arc<Handler>,
    ctx: Box<CallCtx>,
    /// The event awaiting its answer.
    pub in_flight: Option<InFlight>,
}

/// How a delivery went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// Delivered in process: the requests are in the context now.
    Done(Outcome),
    /// Sent to the host: the answer comes later.
    Sent,
}

impl Remote {
    /// Asks `host` to create the call's instance; the answer comes later. A host that
    /// cannot be written to is killed (its end report then ends this call too).
    pub fn create(
        host: Arc<HostProc>,
        handler: Arc<Handler>,
        ctx: Box<CallCtx>,
        params: &str,
    ) -> Self {
        let msg = ToHost::Create {
            call: ctx.call.0,
            channel: ctx.channel.0,
            params: params.to_string(),
        };
        if let Err(e) = host.send(&msg) {
            host.kill(e);
        }
        host.calls
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Remote {
            host,
            handler,
            ctx,
            in_flight: Some(InFlight {
                since: Instant::now(),
                kind: CREATE,
            }),
        }
    }

    fn state(&self) -> CallState {
        CallState {
            media_busy: self.ctx.media_busy.get(),
            gone: self.ctx.gone.get(),
            timers: self.ctx.timers.get() as u32,
        }
    }

    fn send_event(&self, ev: &HostEvent) {
        let msg = ToHost::Event {
            call: self.ctx.call.0,
            state: self.state(),
            ev: ev.clone(),
        };
        if let Err(e) = self.host.send(&msg) {
            self.host.kill(e);
        }
    }

    /// Takes the host's answer to the event in flight: checks each request as the host
    /// table would and applies its effect on the call's state; queues them for the switch.
    ///
    /// # Errors
    /// A request no handler could have made through the host table: the host is broken
    /// (or hostile), in words.
    pub fn answered(
        &mut self,
        requests: Vec<(u64, Request)>,
        vars: Option<BTreeMap<String, String>>,
    ) -> Result<(), String> {
        for (_, r) in &requests {
            check_request(r)?;
        }
        if let Some(v) = &vars {
            check_vars(v)?;
        }
        // What the host table would have refused in process (EGONE, EBUSY, ELIMIT) a host
        // that follows the protocol never relays.
        let ctx = &self.ctx;
        let mut busy = ctx.media_busy.get();
        let mut timers = ctx.timers.get();
        for (_, r) in &requests {
            if ctx.gone.get() && !matches!(r, Request::Hangup(_)) {
                return Err("it relayed a request for a call that has ended".into());
            }
            match r {
                Request::Play { .. }
                | Request::Collect(_)
                | Request::Record { .. }
                | Request::SendDtmf(_) => {
                    if busy {
                        return Err("it relayed a second media operation at once".into());
                    }
                    busy = true;
                }
                Request::Timer(_) => {
                    timers += 1;
                    if timers > super::host::MAX_TIMERS {
                        return Err("it relayed more timers than a call may have".into());
                    }
                }
                _ => {}
            }
        }
        for (op, r) in requests {
            match &r {
                Request::Play { .. }
                | Request::Collect(_)
                | Request::Record { .. }
                | Request::SendDtmf(_) => ctx.media_busy.set(true),
                Request::Timer(_) => ctx.timers.set(ctx.timers.get() + 1),
                Request::Hangup(_) => ctx.gone.set(true),
                _ => {}
            }
            ctx.requests.borrow_mut().push((op, r));
        }
        if let Some(v) = vars {
            *ctx.vars.borrow_mut() = v;
        }
        Ok(())
    }
}

/// Call variables as a host may send them: within the host table's limits.
///
/// # Errors
/// Beyond them (a host that follows the protocol never sends such), in words.
pub fn check_vars(v: &BTreeMap<String, String>) -> Result<(), String> {
    if v.len() > super::host::MAX_VARS
        || v.iter()
            .any(|(k, x)| k.len() > 64 || x.len() > super::host::MAX_VAR_LEN)
    {
        return Err("it sent call variables beyond the limits".into());
    }
    Ok(())
}

impl Drop for Remote {
    fn drop(&mut self) {
        self.host
            .calls
            .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    }
}

/// A call's handler instance.
#[derive(Debug)]
pub enum Attached {
    /// In this process.
    Local(Instance),
    /// In an isolated host.
    Remote(Remote),
}

impl Attached {
    /// The call's host context.
    pub fn ctx(&self) -> &CallCtx {
        match self {
            Attached::Local(i) => i.ctx(),
            Attached::Remote(r) => &r.ctx,
        }
    }

    /// The handler.
    pub fn handler(&self) -> &Arc<Handler> {
        match self {
            Attached::Local(i) => i.handler(),
            Attached::Remote(r) => &r.handler,
        }
    }

    /// An event is with the host, unanswered.
    pub fn in_flight(&self) -> Option<InFlight> {
        match self {
            Attached::Local(_) => None,
            Attached::Remote(r) => r.in_flight,
        }
    }

    /// Delivers one event: in process at once; to a host by message.
    pub fn deliver(&mut self, ev: &HostEvent) -> Delivery {
        match self {
            Attached::Local(i) => Delivery::Done(i.deliver(ev)),
            Attached::Remote(r) => {
                r.send_event(ev);
                r.in_flight = Some(InFlight {
                    since: Instant::now(),
                    kind: ev.kind,
                });
                Delivery::Sent
            }
        }
    }

    /// Delivers an event whose requests are moot (the call is over).
    pub fn deliver_last(&mut self, ev: &HostEvent) {
        match self {
            Attached::Local(i) => {
                let _ = i.deliver(ev);
                i.ctx().requests.borrow_mut().clear();
            }
            Attached::Remote(r) => r.send_event(ev),
        }
    }

    /// Destroys the instance (exactly once).
    pub fn destroy(self) {
        match self {
            Attached::Local(i) => i.destroy(),
            Attached::Remote(r) => {
                r.send_destroy();
                // Dropping `r` counts the call off its host (a retired host then ends).
            }
        }
    }
}

impl Remote {
    /// Tells the host to destroy the call's instance once it has handled the events sent
    /// before. The host keeps counting the call until `self` is dropped, so a retired host
    /// stays up for the answers still to come.
    pub fn send_destroy(&self) {
        if let Err(e) = self.host.send(&ToHost::Destroy {
            call: self.ctx.call.0,
        }) {
            self.host.kill(e);
        }
    }
}
