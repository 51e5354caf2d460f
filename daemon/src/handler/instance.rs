//! One handler instance: one call's state inside the handler.

use super::host::{CallCtx, with_call};
use super::loader::Handler;
use std::ffi::c_void;
use std::sync::Arc;
use tipring_handler::sys;
/// An event for a handler (defined with the handler-host protocol, which carries it).
pub use tipring_wire::HostEvent;

/// What a callback said.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// It returned 0.
    Ok,
    /// It returned this negative (or non-zero) code: the call is hung up.
    Failed(i32),
}

/// A live instance. Dropping it without [`destroy`](Self::destroy) leaks the handler's state
/// (never frees it twice).
#[derive(Debug)]
pub struct Instance {
    handler: Arc<Handler>,
    ctx: Box<CallCtx>,
    instance: *mut c_void,
}

// SAFETY: an instance is used by one thread at a time (the switch's), which is what the ABI
// promises handlers: events of one call are never delivered concurrently.
unsafe impl Send for Instance {}

impl Instance {
    /// Creates the handler's instance for the call in `ctx`.
    ///
    /// # Errors
    /// The handler refused the call (its return code).
    pub fn create(
        handler: Arc<Handler>,
        ctx: Box<CallCtx>,
        params: &str,
    ) -> Result<Self, (i32, Box<CallCtx>)> {
        let Some((vtable, global)) = handler.loaded() else {
            return Err((-1, ctx));
        };
        let Some(create) = vtable.instance_create else {
            return Err((-1, ctx));
        };
        let mut instance: *mut c_void = std::ptr::null_mut();
        let p = sys::tipring_str {
            ptr: params.as_ptr().cast(),
            len: params.len(),
        };
        let ch = ctx.as_channel();
        let global = global.0;
        let rc = with_call(&ctx, || {
            // SAFETY: the handler's instance_create with its global, our live channel
            // context, a params string valid for the call and an out-pointer to a local.
            unsafe { create(global, ch, p, &mut instance) }
        });
        if rc != 0 {
            return Err((rc, ctx));
        }
        Ok(Instance {
            handler,
            ctx,
            instance,
        })
    }

    /// The call's host context (requests, variables, wakes).
    pub fn ctx(&self) -> &CallCtx {
        &self.ctx
    }

    /// The handler.
    pub fn handler(&self) -> &Arc<Handler> {
        &self.handler
    }

    /// Delivers one event.
    pub fn deliver(&mut self, ev: &HostEvent) -> Outcome {
        let Some(on_event) = self.handler.loaded().and_then(|(v, _)| v.on_event) else {
            return Outcome::Failed(-1);
        };
        let s = |v: &String| sys::tipring_str {
            ptr: v.as_ptr().cast(),
            len: v.len(),
        };
        let raw = sys::tipring_event {
            struct_size: std::mem::size_of::<sys::tipring_event>() as u32,
            kind: ev.kind,
            op: ev.op,
            result: ev.result,
            cause: ev.cause,
            digits: s(&ev.digits),
            detail_json: s(&ev.detail),
            wake_token: ev.wake_token,
            mono_ns: ev.mono_ns,
        };
        let ch = self.ctx.as_channel();
        let inst = self.instance;
        let rc = with_call(&self.ctx, || {
            // SAFETY: the handler's on_event with the instance it created, our live channel
            // context and an event whose strings outlive the call.
            unsafe { on_event(inst, ch, &raw) }
        });
        if rc == 0 {
            Outcome::Ok
        } else {
            Outcome::Failed(rc)
        }
    }

    /// Destroys the instance (exactly once), then frees the call's context.
    pub fn destroy(self) {
        if let Some(destroy) = self.handler.loaded().and_then(|(v, _)| v.instance_destroy) {
            let inst = self.instance;
            with_call(&self.ctx, || {
                // SAFETY: the handler's instance_destroy with the instance it created; this
                // consumes `self`, so it runs once.
                unsafe { destroy(inst) }
            });
        }
        // The context (and with it the channel pointer handed out) is freed only now,
        // after instance_destroy returned.
        drop(self.ctx);
    }
}
