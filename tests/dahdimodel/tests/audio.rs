//! Blocks at 8 kHz, law and linear reads and writes, errno 500 while an event waits, and
//! `poll` waking a sleeping thread.

mod common;

use common::*;
use std::time::{Duration, Instant};
use tipring_dahdi_model::{Port, Spec, wait_until};
use tipring_hal::dahdi::sys;

fn fxs_fxo() -> Spec {
    Spec::analog(&[Port::Fxs, Port::Fxo])
}

#[test]
fn blocking_reads_are_paced_at_8_khz() {
    let Some(model) = mount(fxs_fxo()) else {
        return;
    };
    let f = specify(&model, 2, false);
    setup_audio(&f, 160, false);
    // Start on a block boundary.
    read(&f, 160).unwrap();
    let t = Instant::now();
    let s0 = model.stalled_ms();
    for _ in 0..50 {
        assert_eq!(read(&f, 160).unwrap().len(), 160);
    }
    let took = t.elapsed();
    // 50 × 20 ms = 1 s; the machine is shared and noisy, so loosely. While the machine
    // stalls the model's time stands still, so that much wall time does not count.
    let stalled = Duration::from_millis(model.stalled_ms() - s0);
    assert!(
        took >= Duration::from_millis(800)
            && took.saturating_sub(stalled) <= Duration::from_secs(2),
        "50 blocks of 160 took {took:?} (model stalled {stalled:?})"
    );
}

#[test]
fn linear_blocks_are_twice_law_blocks_and_short_reads_consume_a_block() {
    let Some(model) = mount(fxs_fxo()) else {
        return;
    };
    let line = model.channel(2).unwrap();
    let f = specify(&model, 2, false);
    setup_audio(&f, 80, false);
    assert_eq!(read(&f, 4096).unwrap().len(), 80);
    ioctl_int(&f, sys::SETLINEAR, 1).unwrap();
    assert!(line.linear());
    assert_eq!(read(&f, 4096).unwrap().len(), 160);

    // What the exchange says arrives in order; a 10-byte read takes a whole block.
    ioctl_int(&f, sys::FLUSH, sys::FLUSH_READ).unwrap();
    let ramp: Vec<i16> = (0..400).map(|i| i * 10).collect();
    line.speak(&ramp);
    let mut got = Vec::new();
    while got.len() < 400 {
        got.extend(samples(&read(&f, 160).unwrap()));
    }
    let start = got.iter().position(|&s| s == 10).expect("the ramp") - 1;
    assert_eq!(&got[start..start + 50], &ramp[..50]);
    line.speak(&ramp);
    assert!(wait_until(Duration::from_secs(2), || line.speaking() == 0));
    let short = read(&f, 10).unwrap();
    assert_eq!(short.len(), 10);
    let next = read(&f, 160).unwrap();
    assert_eq!(next.len(), 160);

    // μ-law by default on analog; A-law on request: silence codes differ.
    ioctl_int(&f, sys::SETLINEAR, 0).unwrap();
    ioctl_int(&f, sys::FLUSH, sys::FLUSH_READ).unwrap();
    assert!(read(&f, 80).unwrap().iter().all(|&b| b == 0xFF));
    ioctl_int(&f, sys::SETLAW, sys::LAW_ALAW).unwrap();
    ioctl_int(&f, sys::FLUSH, sys::FLUSH_READ).unwrap();
    assert!(read(&f, 80).unwrap().iter().all(|&b| b == 0xD5));
}

#[test]
fn nonblocking_reads_and_writes_say_eagain() {
    let Some(model) = mount(fxs_fxo()) else {
        return;
    };
    let f = specify(&model, 1, true);
    setup_audio(&f, 160, true);
    assert_eq!(read(&f, 320), Err(libc::EAGAIN));
    // Two buffers by default: a third write finds them full.
    let block = le(&[100; 160]);
    assert_eq!(write(&f, &block), Ok(320));
    assert_eq!(write(&f, &block), Ok(320));
    let third = write(&f, &block);
    // The clock may just have drained the first one.
    assert!(third == Err(libc::EAGAIN) || third == Ok(320), "{third:?}");
    // More than a block is a short write of one block.
    assert!(wait_until(Duration::from_secs(2), || {
        write(&f, &le(&[1; 400])) == Ok(320)
    }));
}

#[test]
fn the_phone_hears_what_is_written_and_blocking_writes_wait_for_room() {
    let Some(model) = mount(fxs_fxo()) else {
        return;
    };
    let phone = model.channel(1).unwrap();
    let f = specify(&model, 1, false);
    setup_audio(&f, 160, true);
    phone.phone_off_hook().unwrap();
    assert_eq!(getevent(&f), sys::EVENT_RINGOFFHOOK);
    phone.take_heard();
    let t = Instant::now();
    for k in 0..25i16 {
        let block: Vec<i16> = (0..160).map(|i| k * 1000 + i).collect();
        assert_eq!(write(&f, &le(&block)), Ok(320));
    }
    // 25 blocks through 2 buffers: the writer waited for the clock.
    let took = t.elapsed();
    assert!(
        took >= Duration::from_millis(350),
        "25 blocking writes took {took:?}"
    );
    assert!(wait_until(Duration::from_secs(2), || phone.heard().len()
        >= 25 * 160 + 200));
    let heard = phone.take_heard();
    let first = heard.iter().position(|&s| s == 1).expect("the first block") - 1;
    for k in 0..25i16 {
        let at = first + k as usize * 160;
        assert_eq!(heard[at], k * 1000, "block {k} not contiguous");
        assert_eq!(heard[at + 159], k * 1000 + 159);
    }
    assert_eq!(phone.blocks().1, 25);
    assert!(phone.underruns() >= 1, "the stream ran dry at its end");
}

#[test]
fn a_pending_event_fails_reads_and_writes_with_errno_500_until_getevent() {
    let Some(model) = mount(fxs_fxo()) else {
        return;
    };
    let phone = model.channel(1).unwrap();
    let f = specify(&model, 1, false);
    setup_audio(&f, 160, false);
    read(&f, 160).unwrap();
    phone.phone_off_hook().unwrap();
    assert_eq!(read(&f, 160), Err(sys::ELAST));
    assert_eq!(read(&f, 160), Err(500));
    assert_eq!(write(&f, &[0xFF; 160]), Err(500));
    assert_eq!(getevent(&f), sys::EVENT_RINGOFFHOOK);
    assert_eq!(getevent(&f), sys::EVENT_NONE);
    assert_eq!(read(&f, 160).unwrap().len(), 160);
    assert_eq!(write(&f, &[0xFF; 160]), Ok(160));

    // A reader blocked when the event comes is woken with ELAST.
    let reader = {
        let f = f.try_clone().unwrap();
        std::thread::spawn(move || {
            // Empty the buffers first, so the read blocks.
            ioctl_int(&f, sys::FLUSH, sys::FLUSH_READ).unwrap();
            read(&f, 160)
        })
    };
    std::thread::sleep(Duration::from_millis(5));
    phone.phone_on_hook().unwrap();
    let r = reader.join().unwrap();
    assert!(
        r == Err(500) || r.as_ref().is_ok_and(|b| b.len() == 160),
        "{r:?}"
    );
    assert_eq!(getevent(&f), sys::EVENT_ONHOOK);
}

#[test]
fn poll_wakes_a_sleeping_thread_for_events_and_blocks() {
    let Some(model) = mount(fxs_fxo()) else {
        return;
    };
    let phone = model.channel(1).unwrap();
    let f = specify(&model, 1, true);
    setup_audio(&f, 160, false);
    // Nothing pending: POLLPRI alone sleeps until the phone goes off hook.
    assert_eq!(poll(&f, libc::POLLPRI, Duration::ZERO), 0);
    let sleeper = {
        let f = f.try_clone().unwrap();
        std::thread::spawn(move || {
            let t = Instant::now();
            let ev = poll(&f, libc::POLLPRI, Duration::from_secs(5));
            (ev, t.elapsed())
        })
    };
    std::thread::sleep(Duration::from_millis(200));
    phone.phone_off_hook().unwrap();
    let (ev, took) = sleeper.join().unwrap();
    assert_eq!(
        ev & libc::POLLPRI,
        libc::POLLPRI,
        "revents {ev:#x} after {took:?}"
    );
    assert!(
        took >= Duration::from_millis(150) && took < Duration::from_secs(4),
        "{took:?}"
    );
    assert_eq!(getevent(&f), sys::EVENT_RINGOFFHOOK);

    // POLLIN: empty the buffers, then sleep until the clock completes a block.
    ioctl_int(&f, sys::FLUSH, sys::FLUSH_READ).unwrap();
    let ev = poll(&f, libc::POLLIN, Duration::from_secs(2));
    assert_eq!(ev & libc::POLLIN, libc::POLLIN);
    assert_eq!(read(&f, 160).unwrap().len(), 160);
    // And again through epoll, the way the daemon's reactor waits.
    // SAFETY: plain epoll calls on fds this test owns.
    unsafe {
        let ep = libc::epoll_create1(libc::EPOLL_CLOEXEC);
        assert!(ep >= 0);
        let mut e = libc::epoll_event {
            events: (libc::EPOLLIN | libc::EPOLLPRI) as u32,
            u64: 7,
        };
        let fd = std::os::fd::AsRawFd::as_raw_fd(&f);
        assert_eq!(libc::epoll_ctl(ep, libc::EPOLL_CTL_ADD, fd, &mut e), 0);
        let mut blocks = 0;
        let t = Instant::now();
        while blocks < 10 && t.elapsed() < Duration::from_secs(3) {
            let mut out = [libc::epoll_event { events: 0, u64: 0 }; 1];
            let n = libc::epoll_wait(ep, out.as_mut_ptr(), 1, 1000);
            assert!(n >= 0);
            if n == 1 && out[0].events & libc::EPOLLIN as u32 != 0 {
                while read(&f, 160).is_ok() {
                    blocks += 1;
                }
            }
        }
        libc::close(ep);
        assert!(
            blocks >= 10,
            "epoll delivered {blocks} blocks in {:?}",
            t.elapsed()
        );
    }
}

#[test]
fn overruns_drop_new_audio_when_the_daemon_does_not_read() {
    let Some(model) = mount(fxs_fxo()) else {
        return;
    };
    let line = model.channel(2).unwrap();
    let f = specify(&model, 2, true);
    setup_audio(&f, 16, false);
    ioctl_int(&f, sys::BUFFER_EVENTS, 1).unwrap();
    // 2 ms blocks, 2 buffers: within 20 ms they overflow.
    assert!(wait_until(Duration::from_secs(2), || line.overruns() > 0));
    assert_eq!(read(&f, 16), Err(sys::ELAST));
    assert_eq!(getevent(&f), sys::EVENT_READ_OVERRUN);
}

#[test]
fn a_blocked_read_does_not_hold_up_writes_on_the_same_file_or_node() {
    let Some(model) = mount(Spec::analog(&[Port::Fxs, Port::Fxs])) else {
        return;
    };
    // Both channels through the one `channel` node (one inode).
    let a = specify(&model, 1, false);
    let b = specify(&model, 2, false);
    setup_audio(&a, 8000, false);
    setup_audio(&b, 160, false);
    // A reader waits a whole second for a block of 8000 on `a` …
    let reader = {
        let a = a.try_clone().unwrap();
        std::thread::spawn(move || read(&a, 8000).map(|v| v.len()))
    };
    // … and a writer blocks on `b` once its two buffers are full …
    let writer = {
        let b = b.try_clone().unwrap();
        std::thread::spawn(move || {
            for _ in 0..4 {
                write(&b, &[0xFF; 160]).unwrap();
            }
        })
    };
    std::thread::sleep(Duration::from_millis(20));
    // … while writes on the same file as the reader, and on the same node, go through.
    let t = Instant::now();
    assert_eq!(write(&a, &[0xFF; 160]), Ok(160));
    assert!(
        t.elapsed() < Duration::from_millis(300),
        "{:?}",
        t.elapsed()
    );
    writer.join().unwrap();
    assert_eq!(reader.join().unwrap(), Ok(8000));
}
