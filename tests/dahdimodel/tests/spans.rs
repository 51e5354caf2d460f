//! Spans: alarms on every channel of a span, what SPANSTAT and GET_PARAMS show, silence in
//! red alarm, E1 layout and law, and the PRI D-channel's frames.

mod common;

use common::*;
use std::time::Duration;
use tipring_dahdi_model::{DigitalSig, Port, SpanSpec, Spec, wait_until};
use tipring_hal::dahdi::sys;

fn spanstat(f: &std::fs::File, spanno: i32) -> sys::SpanInfo {
    let mut si = sys::SpanInfo {
        spanno,
        ..Default::default()
    };
    ioctl_mut(f, sys::SPANSTAT, &mut si).unwrap();
    si
}

fn chan_alarms(f: &std::fs::File) -> u32 {
    let mut p = sys::Params::default();
    ioctl_mut(f, sys::GET_PARAMS, &mut p).unwrap();
    p.chan_alarms
}

#[test]
fn a_span_alarm_reaches_every_channel_of_the_span_and_clears() {
    let Some(model) = mount(Spec::analog(&[Port::Fxs]).span(SpanSpec::t1(DigitalSig::Pri))) else {
        return;
    };
    let analog = specify(&model, 1, true);
    let b1 = specify(&model, 2, true);
    let d = open(&model, "chan/002/024", true).unwrap();
    let ctl = open(&model, "ctl", false).unwrap();
    setup_audio(&b1, 160, true);
    let b1_ctl = model.channel(2).unwrap();

    model
        .span_alarm(2, sys::ALARM_RED | sys::ALARM_YELLOW)
        .unwrap();
    assert_eq!(getevent(&b1), sys::EVENT_ALARM);
    assert_eq!(getevent(&d), sys::EVENT_ALARM);
    assert_eq!(getevent(&analog), sys::EVENT_NONE, "span 1 has no alarm");
    let red = sys::ALARM_RED | sys::ALARM_YELLOW;
    assert_eq!({ spanstat(&ctl, 2).alarms }, red);
    assert_eq!(
        { spanstat(&b1, 0).alarms },
        red,
        "spanno 0 is the fd's own span"
    );
    assert_eq!({ spanstat(&ctl, 1).alarms }, 0);
    assert_eq!(chan_alarms(&b1), red as u32);
    assert_eq!(model.span_alarms(2), Some(red));
    // Channels not open still queue the event (the driver keeps it until a close).
    assert_eq!(
        model.channel(3).unwrap().pending_events(),
        [sys::EVENT_ALARM]
    );

    // Red: the far end's audio does not arrive.
    b1_ctl.speak(&[8000; 1600]);
    ioctl_int(&b1, sys::FLUSH, sys::FLUSH_READ).unwrap();
    let mut got = Vec::new();
    assert!(wait_until(Duration::from_secs(2), || {
        while let Ok(b) = read(&b1, 320) {
            got.extend(samples(&b));
        }
        got.len() >= 1600
    }));
    assert!(got.iter().all(|&s| s == 0), "audio passed in red alarm");

    model.span_alarm(2, 0).unwrap();
    assert_eq!(getevent(&b1), sys::EVENT_NOALARM);
    assert_eq!(getevent(&d), sys::EVENT_NOALARM);
    assert_eq!({ spanstat(&ctl, 2).alarms }, 0);
    assert_eq!(chan_alarms(&b1), 0);
    b1_ctl.speak(&[8000; 800]);
    assert!(wait_until(Duration::from_secs(2), || {
        read(&b1, 320).is_ok_and(|b| samples(&b).contains(&8000))
    }));
    assert!(model.span_alarm(3, sys::ALARM_RED).is_err());
}

#[test]
fn the_d_channel_carries_frames_with_two_fcs_bytes() {
    let Some(model) = mount(Spec::new().span(SpanSpec::e1(DigitalSig::Pri))) else {
        return;
    };
    let d = specify(&model, 16, true);
    let dctl = model.channel(16).unwrap();
    let mut p = sys::Params::default();
    ioctl_mut(&d, sys::GET_PARAMS, &mut p).unwrap();
    assert_eq!(p.sigtype, sys::SIG_HDLCFCS);
    let bi = sys::BufferInfo {
        txbufpolicy: sys::POLICY_IMMEDIATE,
        rxbufpolicy: sys::POLICY_IMMEDIATE,
        numbufs: 32,
        bufsize: 1024,
        readbufs: 0,
        writebufs: 0,
    };
    sys::ioctl_ptr(std::os::fd::AsFd::as_fd(&d), sys::SET_BUFINFO, &bi).unwrap();
    assert_eq!(read(&d, 1024), Err(libc::EAGAIN));
    // libpri writes the frame and 2 bytes the driver replaces with the FCS.
    let sabme = [0x00, 0x01, 0x7F];
    assert_eq!(write(&d, &[&sabme[..], &[0, 0]].concat()), Ok(5));
    assert_eq!(dctl.dchan_take(), [sabme.to_vec()]);
    dctl.dchan_send(&[0x00, 0x01, 0x73]).unwrap();
    let got = read(&d, 1024).unwrap();
    assert_eq!(got.len(), 5);
    assert_eq!(&got[..3], &[0x00, 0x01, 0x73]);
    // B-channels are A-law clear channels; TS16 is the D-channel.
    let b = specify(&model, 1, true);
    ioctl_mut(&b, sys::GET_PARAMS, &mut p).unwrap();
    assert_eq!((p.sigtype, p.curlaw), (sys::SIG_CLEAR, sys::LAW_ALAW));
}

#[test]
fn e1_cas_leaves_timeslot_16_unconfigured() {
    let Some(model) = mount(Spec::new().span(SpanSpec::e1(DigitalSig::Em))) else {
        return;
    };
    assert_eq!(model.channels(), 31);
    let f = open(&model, "channel", false).unwrap();
    assert_eq!(ioctl_int(&f, sys::SPECIFY, 16), Err(libc::ENXIO));
    assert_eq!(ioctl_int(&f, sys::SPECIFY, 17), Ok(17));
    let ctl = open(&model, "ctl", false).unwrap();
    let si = spanstat(&ctl, 1);
    assert_eq!(({ si.numchans }, { si.totalchans }), (30, 31));
    // CAS bits both ways.
    let em = model.channel(17).unwrap();
    ioctl_int(&f, sys::SETTXBITS, 0b1101).unwrap();
    assert_eq!(em.tx_bits(), 0b1101);
    // E&M: the A bit is the far end's hook, reported as hook events.
    em.set_rx_bits(0b1001).unwrap();
    assert_eq!(getevent(&f), sys::EVENT_RINGOFFHOOK);
    assert_eq!(ioctl_int(&f, sys::GETRXBITS, 0), Ok(0b1001));
    em.set_rx_bits(0b0001).unwrap();
    assert_eq!(getevent(&f), sys::EVENT_ONHOOK);
}
