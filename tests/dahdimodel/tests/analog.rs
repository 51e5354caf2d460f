//! Analog call flows: the test as the telephone on an FXS port and as the exchange on an
//! FXO port.

mod common;

use common::*;
use std::time::{Duration, Instant};
use tipring_dahdi_model::{Port, Spec, wait_until};
use tipring_dsp::cid::{
    CidEvent, CidReceiver, CidRxConfig, Format, FskConfig, FskModulator, Message,
};
use tipring_dsp::dtmf::{DtmfEvent, DtmfRx, DtmfRxConfig};
use tipring_hal::dahdi::sys;

fn ports() -> Spec {
    Spec::analog(&[Port::Fxs, Port::Fxo, Port::FxoLoopStart])
}

fn params(f: &std::fs::File) -> sys::Params {
    let mut p = sys::Params::default();
    ioctl_mut(f, sys::GET_PARAMS, &mut p).unwrap();
    p
}

#[test]
fn fxs_the_phone_lifts_flashes_and_hangs_up() {
    let Some(model) = mount(ports()) else {
        return;
    };
    let phone = model.channel(1).unwrap();
    let f = specify(&model, 1, true);
    assert_eq!(params(&f).rxisoffhook, 0);
    phone.phone_off_hook().unwrap();
    assert_eq!(getevent(&f), sys::EVENT_RINGOFFHOOK);
    assert_eq!(params(&f).rxisoffhook, 1);
    phone.phone_flash().unwrap();
    assert_eq!(getevent(&f), sys::EVENT_WINKFLASH);
    // The daemon answers with polarity reversal; the phone sees it.
    ioctl_int(&f, sys::SETPOLARITY, 1).unwrap();
    assert!(phone.polarity_reversed());
    phone.phone_on_hook().unwrap();
    assert_eq!(getevent(&f), sys::EVENT_ONHOOK);
    assert_eq!(getevent(&f), sys::EVENT_NONE);
    assert!(phone.phone_flash().is_err(), "no flash while on hook");
    // Exchange controls do not fit an FXS port.
    assert!(phone.ring_begin().is_err());
}

#[test]
fn fxs_ringing_follows_the_cadence_until_answered() {
    let Some(model) = mount(ports()) else {
        return;
    };
    let phone = model.channel(1).unwrap();
    let f = specify(&model, 1, true);
    let mut cad = [0i32; 16];
    cad[..4].copy_from_slice(&[200, 300, 400, 300]);
    ioctl_mut(&f, sys::SETCADENCE, &mut cad).unwrap();
    assert_eq!(phone.cadence(), [200, 300, 400, 300]);
    let t = Instant::now();
    let t0 = model.now_ms();
    ioctl_int(&f, sys::HOOK, sys::HOOK_RING).unwrap();
    assert!(phone.ringing());
    let mut seen = Vec::new();
    let mut ms = Vec::new();
    while seen.len() < 5 && t.elapsed() < Duration::from_secs(10) {
        let e = getevent(&f);
        if e != 0 {
            seen.push(e);
            ms.push(model.now_ms() - t0);
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    use sys::{EVENT_RINGEROFF as OFF, EVENT_RINGERON as ON};
    assert_eq!(seen, [ON, OFF, ON, OFF, ON], "at {ms:?} ms of model time");
    // Edges at 0, 200, 500, 900, 1200 ms of the model's time (the cadence is the card's;
    // this thread polls every 2 ms and may itself be late).
    for (got, want) in ms.iter().zip([0u64, 200, 500, 900, 1200]) {
        assert!(
            *got >= want && *got <= want + 400,
            "edges at {ms:?} ms of model time (model stalled {} ms)",
            model.stalled_ms()
        );
    }
    // Answering stops the ringer.
    phone.phone_off_hook().unwrap();
    assert!(!phone.ring_cadence_active());
    assert_eq!(
        wait_event(&f, sys::EVENT_RINGOFFHOOK, Duration::from_secs(1)).last(),
        Some(&2)
    );
    // A negative cadence entry is refused.
    cad[1] = -300;
    assert_eq!(ioctl_mut(&f, sys::SETCADENCE, &mut cad), Err(libc::EINVAL));
    // RING while the phone is off hook is refused; RINGOFF stops a ringer.
    assert_eq!(ioctl_int(&f, sys::HOOK, sys::HOOK_RING), Err(libc::EBUSY));
    phone.phone_on_hook().unwrap();
    ioctl_int(&f, sys::HOOK, sys::HOOK_RING).unwrap();
    ioctl_int(&f, sys::HOOK, sys::HOOK_RINGOFF).unwrap();
    assert!(!phone.ring_cadence_active());
}

#[test]
fn fxs_caller_id_written_during_onhook_transfer_reaches_the_phone() {
    let Some(model) = mount(ports()) else {
        return;
    };
    let phone = model.channel(1).unwrap();
    let f = specify(&model, 1, false);
    setup_audio(&f, 160, true);
    // A message-waiting burst, Bell 202, as the daemon would send between rings.
    let mut m = FskModulator::new(FskConfig::default());
    m.load_message(
        &Message::Mwi {
            active: true,
            count: None,
        },
        Format::Sdmf,
    )
    .unwrap();
    let mut burst = vec![0i16; m.remaining_samples()];
    m.generate(&mut burst);
    // On hook without a transfer: nothing reaches the phone.
    write(&f, &le(&[3000; 160])).unwrap();
    std::thread::sleep(Duration::from_millis(60));
    assert!(phone.take_heard().is_empty());

    let ms = (burst.len() / 8 + 300) as i32;
    ioctl_int(&f, sys::ONHOOKTRANSFER, ms).unwrap();
    assert!(phone.onhook_transfer_active());
    burst.resize(burst.len().div_ceil(160) * 160, 0);
    for block in burst.chunks(160) {
        write(&f, &le(block)).unwrap();
    }
    assert!(wait_until(Duration::from_secs(3), || phone.heard().len()
        >= burst.len()));
    let heard = phone.take_heard();
    let mut rx = CidReceiver::new(CidRxConfig::default());
    assert_eq!(rx.process(&heard), heard.len());
    let mut got = None;
    while let Some(e) = rx.poll_event() {
        if let CidEvent::Message { message, .. } = e {
            got = Some(message);
        }
    }
    assert_eq!(
        got,
        Some(Message::Mwi {
            active: true,
            count: None
        })
    );
    assert!(wait_until(Duration::from_secs(3), || !phone.onhook_transfer_active()));
}

#[test]
fn fxo_ring_bursts_answer_dial_and_flash() {
    let Some(model) = mount(ports()) else {
        return;
    };
    let line = model.channel(2).unwrap();
    let f = specify(&model, 2, true);
    setup_audio(&f, 160, true);
    line.ring_begin().unwrap();
    assert_eq!(params(&f).rxisoffhook, 1);
    line.ring_end().unwrap();
    assert_eq!(params(&f).rxisoffhook, 0);
    assert_eq!(getevent(&f), sys::EVENT_RINGBEGIN);
    assert_eq!(getevent(&f), sys::EVENT_RINGOFFHOOK);
    line.polarity().unwrap();
    assert_eq!(getevent(&f), sys::EVENT_POLARITY);
    // Phone controls and FXS-only requests do not fit an FXO port.
    assert!(line.phone_off_hook().is_err());
    assert_eq!(ioctl_int(&f, sys::HOOK, sys::HOOK_RING), Err(libc::EINVAL));
    assert_eq!(ioctl_int(&f, sys::ONHOOKTRANSFER, 100), Err(libc::EINVAL));

    // Seize, and dial: the exchange hears the digits as DTMF.
    assert!(!line.line_seized());
    ioctl_int(&f, sys::HOOK, sys::HOOK_OFFHOOK).unwrap();
    assert!(line.line_seized());
    line.take_heard();
    let mut d = sys::DialOperation {
        op: sys::DIAL_OP_APPEND,
        dialstr: [0; 256],
    };
    for (i, b) in b"Tw123".iter().enumerate() {
        d.dialstr[i] = *b as libc::c_char;
    }
    sys::ioctl_ptr(std::os::fd::AsFd::as_fd(&f), sys::DIAL, &d).unwrap();
    assert_eq!(ioctl_int(&f, sys::DIALING, 0), Ok(1));
    let seen = wait_event(&f, sys::EVENT_DIALCOMPLETE, Duration::from_secs(5));
    assert_eq!(seen, [sys::EVENT_DIALCOMPLETE]);
    assert_eq!(ioctl_int(&f, sys::DIALING, 0), Ok(0));
    assert_eq!(line.dialled(), "123");
    let heard = line.take_heard();
    let mut rx = DtmfRx::new(DtmfRxConfig::default()).unwrap();
    assert_eq!(rx.process(&heard), heard.len());
    let mut digits = String::new();
    while let Some(e) = rx.poll_event() {
        if let DtmfEvent::Begin { digit, .. } = e {
            digits.push(digit);
        }
    }
    assert_eq!(digits, "123");
    // The 500 ms pause (`w`) came first.
    let onset = heard.iter().position(|&s| s != 0).unwrap();
    assert!(onset >= 3900, "the first digit began after {onset} samples");

    // A flash: on hook for the flash time, then HOOKCOMPLETE.
    ioctl_int(&f, sys::HOOK, sys::HOOK_FLASH).unwrap();
    assert!(!line.line_seized());
    assert_eq!(
        wait_event(&f, sys::EVENT_HOOKCOMPLETE, Duration::from_secs(3)),
        [sys::EVENT_HOOKCOMPLETE]
    );
    assert!(line.line_seized());
    assert_eq!(line.flashes(), 1);

    // The exchange clears: kewlstart reports it.
    line.battery_drop().unwrap();
    assert_eq!(getevent(&f), sys::EVENT_ONHOOK);
    ioctl_int(&f, sys::HOOK, sys::HOOK_ONHOOK).unwrap();
    assert!(!line.line_seized());
    // Closing a seized line releases it.
    ioctl_int(&f, sys::HOOK, sys::HOOK_OFFHOOK).unwrap();
    drop(f);
    assert!(wait_until(Duration::from_secs(2), || !line.line_seized()));
}

#[test]
fn fxo_loop_start_has_no_disconnect_supervision() {
    let Some(model) = mount(ports()) else {
        return;
    };
    let line = model.channel(3).unwrap();
    let f = specify(&model, 3, true);
    assert_eq!(params(&f).sigtype, sys::SIG_FXSLS);
    line.battery_drop().unwrap();
    assert_eq!(getevent(&f), sys::EVENT_NONE);
}

#[test]
fn written_audio_goes_before_dialling() {
    let Some(model) = mount(ports()) else {
        return;
    };
    let line = model.channel(2).unwrap();
    let f = specify(&model, 2, false);
    setup_audio(&f, 160, true);
    ioctl_int(&f, sys::HOOK, sys::HOOK_OFFHOOK).unwrap();
    let mut d = sys::DialOperation {
        op: sys::DIAL_OP_REPLACE,
        dialstr: [0; 256],
    };
    d.dialstr[0] = b'5' as libc::c_char;
    line.take_heard();
    // Keep writing silence: as in the driver, written audio wins and the digit waits.
    for _ in 0..15 {
        write(&f, &le(&[0; 160])).unwrap();
        if line.heard().len() > 160 {
            sys::ioctl_ptr(std::os::fd::AsFd::as_fd(&f), sys::DIAL, &d).ok();
            d.op = sys::DIAL_OP_APPEND;
            d.dialstr[0] = 0;
        }
    }
    assert!(line.dialing());
    // Stop writing: the digit plays and completes.
    wait_event(&f, sys::EVENT_DIALCOMPLETE, Duration::from_secs(3));
    assert_eq!(line.dialled(), "5");
}
