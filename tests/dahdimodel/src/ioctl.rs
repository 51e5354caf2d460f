//! The ioctls, by request number. FUSE passes "restricted" ioctls: the kernel copies in and
//! out exactly the size the request number encodes, so each request is recognised by its
//! full number (a size one byte off is `ENOTTY`, as from the driver).

use crate::chan::{Chan, DEFAULT_CADENCE, Done, Kind, Ringer};
use crate::dial::Tone;
use crate::plain::{from_bytes, get_str, int_from, put_str, to_bytes};
use crate::state::State;
use tipring_dsp::g711::Law;
use tipring_hal::dahdi::sys;

/// The header's name of a request, without `DAHDI_` (`"SET_BLOCKSIZE"`).
// The request type is `c_ulong` on glibc and `c_int` on musl: the cast is not a no-op
// everywhere.
#[allow(clippy::unnecessary_cast)]
pub(crate) fn request_name(cmd: u32) -> Option<&'static str> {
    sys::REQUESTS
        .iter()
        .find(|(_, r)| *r as u64 == u64::from(cmd))
        .map(|(n, _)| n.strip_prefix("DAHDI_").unwrap_or(n))
}

/// The name a channel's ioctl log shows for a request.
pub(crate) fn log_name(cmd: u32) -> String {
    request_name(cmd).map_or_else(|| format!("{cmd:#010x}"), str::to_string)
}

/// The `GET_PARAMS` bit asking for the master channel.
const RETURN_MASTER: i32 = 0x4000_0000;
/// `DAHDI_MAX_EVENTSIZE`-style limits of `SET_BUFINFO`.
const MAX_NUMBUFS: i32 = 32;
const MAX_BLOCKSIZE: i32 = 8192;
const MIN_BLOCKSIZE: i32 = 16;
/// `DAHDI_MAX_ECHOCANPARAMS`.
const MAX_EC_PARAMS: u32 = 8;

type Res = Result<Vec<u8>, i32>;

fn int_out(v: i32) -> Res {
    Ok(v.to_ne_bytes().to_vec())
}

fn arg_int(input: &[u8]) -> Result<i32, i32> {
    int_from(input).ok_or(libc::EINVAL)
}

fn arg<T: crate::plain::Plain>(input: &[u8]) -> Result<T, i32> {
    from_bytes(input).ok_or(libc::EINVAL)
}

impl State {
    /// An ioctl on file `fh`: the bytes to copy out, or an errno.
    pub(crate) fn ioctl(&mut self, fh: u64, cmd: u32, input: &[u8], out: &mut Vec<Done>) -> Res {
        let h = self.handles.get(&fh).copied().ok_or(libc::EBADF)?;
        let name = request_name(cmd);
        if h.ctl {
            return match name {
                Some("SPANSTAT") => self.spanstat(input, None),
                Some("GET_PARAMS") => {
                    let p: sys::Params = arg(input)?;
                    let channo = p.channo & !RETURN_MASTER;
                    let channo = u32::try_from(channo).map_err(|_| libc::EINVAL)?;
                    self.params(channo)
                }
                Some("MAINT") => {
                    let spanno = input.get(..4).and_then(int_from).ok_or(libc::EINVAL)?;
                    let command = input.get(4..).and_then(int_from).ok_or(libc::EINVAL)?;
                    let span = usize::try_from(spanno)
                        .ok()
                        .and_then(|s| s.checked_sub(1))
                        .and_then(|s| self.spans.get_mut(s))
                        .ok_or(libc::EINVAL)?;
                    span.maint = command;
                    Ok(Vec::new())
                }
                Some("GETVERSION") => version(),
                _ => Err(libc::ENOTTY),
            };
        }
        let Some(channo) = h.chan else {
            // `/dev/dahdi/channel` before SPECIFY: nothing else is allowed.
            return match name {
                Some("SPECIFY") => {
                    self.specify(fh, arg_int(input)?)?;
                    Ok(Vec::new())
                }
                _ => Err(libc::EINVAL),
            };
        };
        let now = self.now_ms;
        let spanstat_span = self.chan(channo).map(|c| c.span);
        if let Some(c) = self.chan_mut(channo) {
            c.log.push(log_name(cmd));
        }
        let r = match name {
            Some("SPANSTAT") => self.spanstat(input, spanstat_span),
            Some("GET_PARAMS") => self.params(channo),
            Some("GETVERSION") => version(),
            _ => {
                let c = self.chan_mut(channo).ok_or(libc::ENXIO)?;
                chan_ioctl(c, name, input, now)
            }
        };
        if let Some(c) = self.chan_mut(channo) {
            c.service(out);
        }
        r
    }

    /// `SPANSTAT`; `own` is the span of the calling channel (for `spanno` 0).
    fn spanstat(&self, input: &[u8], own: Option<u32>) -> Res {
        let q: sys::SpanInfo = arg(input)?;
        let asked = q.spanno;
        let spanno = match (asked, own) {
            (0, Some(own)) => own,
            _ => u32::try_from(asked).map_err(|_| libc::EINVAL)?,
        };
        let s = self.span(spanno).ok_or(libc::EINVAL)?;
        let mut si = sys::SpanInfo {
            spanno: spanno as i32,
            alarms: s.alarms,
            numchans: (s.first..s.first + s.count)
                .filter(|&c| self.chan(c).is_some_and(|c| c.kind != Kind::None))
                .count() as i32,
            totalchans: s.count as i32,
            totalspans: self.spans.len() as i32,
            lineconfig: s.spec.lineconfig(),
            linecompat: s.spec.linecompat(),
            syncsrc: 0,
            ..Default::default()
        };
        put_str(&mut si.name, &format!("MODEL/{spanno}"));
        put_str(
            &mut si.desc,
            &format!("Tipring DAHDI model span {spanno} ({})", s.spec.spantype()),
        );
        put_str(&mut si.lboname, "0 db (CSU)/0-133 feet (DSX-1)");
        put_str(&mut si.location, "FUSE");
        put_str(&mut si.manufacturer, "Tipring");
        put_str(&mut si.devicetype, "DAHDI model");
        put_str(&mut si.spantype, s.spec.spantype());
        Ok(to_bytes(&si))
    }

    /// `GET_PARAMS` of a channel.
    fn params(&self, channo: u32) -> Res {
        let c = self.chan(channo).ok_or(libc::EINVAL)?;
        let t = c.sig.timing;
        let mut p = sys::Params {
            channo: c.channo as i32,
            spanno: c.span as i32,
            chanpos: c.chanpos as i32,
            sigtype: c.sigtype,
            sigcap: sigcap(c.kind),
            rxisoffhook: i32::from(match c.kind {
                Kind::Fxs => c.far.phone_off_hook,
                Kind::Fxo => c.far.ring_on,
                _ => false,
            }),
            rxbits: c.far.rxbits,
            txbits: c.sig.txbits,
            txhooksig: i32::from(c.sig.off_hook),
            rxhooksig: 0,
            curlaw: law_code(c.io.law),
            idlebits: 0,
            prewinktime: t[0],
            preflashtime: t[1],
            winktime: t[2],
            flashtime: t[3],
            starttime: t[4],
            rxwinktime: t[5],
            rxflashtime: t[6],
            debouncetime: t[7],
            pulsebreaktime: t[8],
            pulsemaketime: t[9],
            pulseaftertime: t[10],
            chan_alarms: c.alarms as u32,
            ..Default::default()
        };
        put_str(&mut p.name, &c.name);
        Ok(to_bytes(&p))
    }
}

fn law_code(law: Law) -> i32 {
    match law {
        Law::Mu => sys::LAW_MULAW,
        Law::A => sys::LAW_ALAW,
    }
}

fn sigcap(kind: Kind) -> i32 {
    match kind {
        Kind::Fxs => sys::SIG_FXOKS | sys::SIG_FXOLS | sys::SIG_FXOGS,
        Kind::Fxo => sys::SIG_FXSKS | sys::SIG_FXSLS | sys::SIG_FXSGS,
        Kind::Clear | Kind::DChan => sys::SIG_CLEAR | sys::SIG_HDLCFCS,
        Kind::Em => sys::SIG_EM | sys::SIG_EM_E1 | sys::SIG_CLEAR,
        Kind::None => 0,
    }
}

fn version() -> Res {
    let mut v = sys::Version {
        version: [0; 80],
        echo_canceller: [0; 80],
    };
    put_str(&mut v.version, "3.4.0 (Tipring DAHDI model)");
    Ok(to_bytes(&v))
}

/// The requests served by a bound channel itself.
fn chan_ioctl(c: &mut Chan, name: Option<&str>, input: &[u8], now: u64) -> Res {
    let audio = !matches!(c.kind, Kind::DChan | Kind::None);
    match name {
        Some("SPECIFY") => Err(libc::EINVAL),
        Some("GET_BLOCKSIZE") => int_out(c.io.blocksize as i32),
        Some("SET_BLOCKSIZE") => {
            let v = arg_int(input)?;
            if !(MIN_BLOCKSIZE..=MAX_BLOCKSIZE).contains(&v) {
                return Err(libc::EINVAL);
            }
            let n = c.io.numbufs;
            c.io.realloc(v as usize, n);
            Ok(Vec::new())
        }
        Some("GET_BUFINFO") => Ok(to_bytes(&sys::BufferInfo {
            txbufpolicy: c.io.txpolicy,
            rxbufpolicy: c.io.rxpolicy,
            numbufs: c.io.numbufs as i32,
            bufsize: c.io.blocksize as i32,
            readbufs: c.io.rx_ready.len() as i32,
            writebufs: c.io.tx_bufs.len() as i32,
        })),
        Some("SET_BUFINFO") => {
            let b: sys::BufferInfo = arg(input)?;
            let policies = sys::POLICY_IMMEDIATE..=sys::POLICY_HALF_FULL;
            if !(MIN_BLOCKSIZE..=MAX_BLOCKSIZE).contains(&b.bufsize)
                || !(2..=MAX_NUMBUFS).contains(&b.numbufs)
                || !policies.contains(&b.txbufpolicy)
                || !policies.contains(&b.rxbufpolicy)
            {
                return Err(libc::EINVAL);
            }
            c.io.txpolicy = b.txbufpolicy;
            c.io.rxpolicy = b.rxbufpolicy;
            c.io.realloc(b.bufsize as usize, b.numbufs as usize);
            Ok(Vec::new())
        }
        Some("SET_PARAMS") => {
            let p: sys::Params = arg(input)?;
            let t = [
                p.prewinktime,
                p.preflashtime,
                p.winktime,
                p.flashtime,
                p.starttime,
                p.rxwinktime,
                p.rxflashtime,
                p.debouncetime,
                p.pulsebreaktime,
                p.pulsemaketime,
                p.pulseaftertime,
            ];
            if t.iter().any(|&v| v < 0) {
                return Err(libc::EINVAL);
            }
            c.sig.timing = t;
            Ok(Vec::new())
        }
        Some("HOOK") => {
            hook(c, arg_int(input)?, now)?;
            Ok(Vec::new())
        }
        Some("GETEVENT") => int_out(c.events.pop_front().unwrap_or(sys::EVENT_NONE)),
        Some("SETLINEAR") if audio => {
            c.io.linear = arg_int(input)? != 0;
            Ok(Vec::new())
        }
        Some("SETLAW") if audio => {
            c.io.law = match arg_int(input)? {
                sys::LAW_DEFAULT => c.deflaw,
                sys::LAW_MULAW => Law::Mu,
                sys::LAW_ALAW => Law::A,
                _ => return Err(libc::EINVAL),
            };
            Ok(Vec::new())
        }
        Some("FLUSH") => {
            let what = arg_int(input)?;
            if what & sys::FLUSH_READ != 0 {
                c.io.flush_read();
            }
            if what & sys::FLUSH_WRITE != 0 {
                c.io.flush_write();
            }
            if what & sys::FLUSH_EVENT != 0 {
                c.events.clear();
            }
            Ok(Vec::new())
        }
        Some("DIAL") if audio => {
            let d: sys::DialOperation = arg(input)?;
            let s = get_str(&d.dialstr[..255]);
            if c.dialer.dial(d.op, &s)? {
                c.raise(sys::EVENT_DIALCOMPLETE);
            }
            if d.op != sys::DIAL_OP_CANCEL {
                c.tone = None;
                c.sig.sendtone = -1;
            }
            Ok(Vec::new())
        }
        Some("DIALING") => int_out(i32::from(c.dialer.is_dialing())),
        Some("CHANNO") => int_out(c.channo as i32),
        Some("SETPOLARITY") if c.kind == Kind::Fxs => {
            c.sig.reversed = arg_int(input)? != 0;
            Ok(Vec::new())
        }
        Some("ONHOOKTRANSFER") if c.kind == Kind::Fxs => {
            let ms = arg_int(input)?;
            if ms < 0 {
                return Err(libc::EINVAL);
            }
            c.sig.oht_until = now + ms as u64;
            Ok(Vec::new())
        }
        Some("SETCADENCE") if c.kind == Kind::Fxs => {
            if input.len() != 64 {
                return Err(libc::EINVAL);
            }
            let v: Vec<i32> = input.chunks_exact(4).filter_map(int_from).collect();
            if v.iter().any(|&x| x < 0) {
                return Err(libc::EINVAL);
            }
            let cad: Vec<u32> = v
                .iter()
                .take_while(|&&x| x > 0)
                .map(|&x| x as u32)
                .collect();
            c.sig.cadence = if cad.is_empty() {
                DEFAULT_CADENCE.to_vec()
            } else {
                cad
            };
            Ok(Vec::new())
        }
        Some("SETTONEZONE") => {
            let z = arg_int(input)?;
            if !(-1..=255).contains(&z) {
                return Err(libc::EINVAL);
            }
            c.sig.tonezone = z.max(0);
            Ok(Vec::new())
        }
        Some("GETTONEZONE") => int_out(c.sig.tonezone),
        Some("ECHOCANCEL") if audio => {
            let taps = arg_int(input)?;
            c.sig.ec_taps = u32::try_from(taps).map_err(|_| libc::EINVAL)?;
            c.sig.ec_params = 0;
            Ok(Vec::new())
        }
        Some("ECHOCANCEL_PARAMS") if audio => {
            let p: sys::EchoCanParams = arg(input)?;
            if p.param_count > MAX_EC_PARAMS {
                return Err(libc::EINVAL);
            }
            c.sig.ec_taps = p.tap_length;
            c.sig.ec_params = p.param_count;
            Ok(Vec::new())
        }
        Some("SENDTONE") if audio => {
            let t = arg_int(input)?;
            c.dialer.cancel();
            if t == -1 {
                c.tone = None;
            } else {
                c.tone = Some(Tone::new(t)?);
            }
            c.sig.sendtone = t;
            Ok(Vec::new())
        }
        Some("BUFFER_EVENTS") => {
            c.io.buffer_events = arg_int(input)? != 0;
            Ok(Vec::new())
        }
        Some("TONEDETECT") => Err(libc::EINVAL),
        Some("GETRXBITS") if c.kind == Kind::Em => int_out(c.far.rxbits),
        Some("SETTXBITS") if c.kind == Kind::Em => {
            c.sig.txbits = arg_int(input)? & 0xF;
            Ok(Vec::new())
        }
        Some("VMWI") if c.kind == Kind::Fxs => {
            let n = arg_int(input)?;
            if n < 0 {
                return Err(libc::EINVAL);
            }
            c.sig.vmwi = n;
            int_out(n)
        }
        // Known requests that do not fit this channel.
        Some(
            "SETLINEAR" | "SETLAW" | "DIAL" | "SETPOLARITY" | "ONHOOKTRANSFER" | "SETCADENCE"
            | "ECHOCANCEL" | "ECHOCANCEL_PARAMS" | "SENDTONE" | "GETRXBITS" | "SETTXBITS" | "VMWI",
        ) => Err(libc::EINVAL),
        _ => Err(libc::ENOTTY),
    }
}

/// `DAHDI_HOOK` with the signalling of the channel's kind.
fn hook(c: &mut Chan, v: i32, now: u64) -> Result<(), i32> {
    match (c.kind, v) {
        (Kind::Fxs, sys::HOOK_OFFHOOK) => {
            c.sig.ring = None;
            c.sig.off_hook = true;
        }
        (Kind::Fxs, sys::HOOK_ONHOOK) => {
            c.sig.ring = None;
            c.sig.off_hook = false;
        }
        (Kind::Fxs, sys::HOOK_RING) => {
            if c.far.phone_off_hook {
                return Err(libc::EBUSY);
            }
            let first = c.sig.cadence.first().copied().unwrap_or(DEFAULT_CADENCE[0]);
            c.sig.ring = Some(Ringer {
                idx: 0,
                left_ms: first.max(1),
            });
            c.raise(sys::EVENT_RINGERON);
        }
        (Kind::Fxs, sys::HOOK_RINGOFF) => c.sig.ring = None,
        (Kind::Fxo | Kind::Em, sys::HOOK_OFFHOOK) => {
            c.sig.off_hook = true;
            c.sig.pulse_until = None;
        }
        (Kind::Fxo | Kind::Em, sys::HOOK_ONHOOK) => {
            c.sig.off_hook = false;
            c.sig.pulse_until = None;
        }
        (Kind::Fxo | Kind::Em, sys::HOOK_FLASH) => {
            if !c.sig.off_hook || c.sig.pulse_until.is_some() {
                return Err(libc::EINVAL);
            }
            c.start_pulse(now, false);
        }
        (Kind::Em, sys::HOOK_WINK) => {
            if c.sig.pulse_until.is_some() {
                return Err(libc::EINVAL);
            }
            c.start_pulse(now, true);
        }
        (Kind::Em, sys::HOOK_START) => c.sig.off_hook = true,
        (Kind::Fxo, sys::HOOK_START) if c.sigtype == sys::SIG_FXSGS => c.sig.off_hook = true,
        _ => return Err(libc::EINVAL),
    }
    Ok(())
}
