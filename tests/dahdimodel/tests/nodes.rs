//! Opening and binding channels: the nodes, `DAHDI_SPECIFY`, one opener per channel,
//! `ctl`'s requests, refused requests, and the unmount.

mod common;

use common::*;
use std::os::fd::AsFd;
use tipring_dahdi_model::{DigitalSig, Port, SpanSpec, Spec};
use tipring_hal::dahdi::sys;

fn two_spans() -> Spec {
    Spec::analog(&[Port::Fxs, Port::Fxs, Port::Fxo, Port::Fxo]).span(SpanSpec::t1(DigitalSig::Pri))
}

#[test]
fn specify_must_come_first_and_only_once() {
    let Some(model) = mount(two_spans()) else {
        return;
    };
    let f = open(&model, "channel", false).unwrap();
    // Nothing but SPECIFY before SPECIFY; reads and writes neither.
    assert_eq!(ioctl_int(&f, sys::GET_BLOCKSIZE, 0), Err(libc::EINVAL));
    assert_eq!(ioctl_int(&f, sys::GETEVENT, 0), Err(libc::EINVAL));
    assert_eq!(read(&f, 160), Err(libc::EINVAL));
    // Unknown channels.
    assert_eq!(ioctl_int(&f, sys::SPECIFY, 0), Err(libc::ENXIO));
    assert_eq!(ioctl_int(&f, sys::SPECIFY, 29), Err(libc::ENXIO));
    assert_eq!(ioctl_int(&f, sys::SPECIFY, -3), Err(libc::ENXIO));
    // Bound, then never again.
    assert_eq!(ioctl_int(&f, sys::SPECIFY, 3), Ok(3));
    assert_eq!(ioctl_int(&f, sys::SPECIFY, 3), Err(libc::EINVAL));
    assert_eq!(ioctl_int(&f, sys::SPECIFY, 4), Err(libc::EINVAL));
    assert_eq!(ioctl_int(&f, sys::CHANNO, 0), Ok(3));
    // The driver's default block size: callers must set theirs.
    assert_eq!(ioctl_int(&f, sys::GET_BLOCKSIZE, 0), Ok(1024));
    let ch3 = model.channel(3).unwrap();
    assert!(ch3.is_open());
    assert_eq!(
        ch3.ioctl_log(),
        ["SPECIFY", "SPECIFY", "SPECIFY", "CHANNO", "GET_BLOCKSIZE"]
    );
    // A second opener of the same channel is refused, by SPECIFY or by node.
    let g = open(&model, "channel", false).unwrap();
    assert_eq!(ioctl_int(&g, sys::SPECIFY, 3), Err(libc::EBUSY));
    assert_eq!(
        open(&model, "chan/001/003", false)
            .unwrap_err()
            .raw_os_error(),
        Some(libc::EBUSY)
    );
    assert_eq!(
        open(&model, "3", false).unwrap_err().raw_os_error(),
        Some(libc::EBUSY)
    );
    // Closing frees it.
    drop(f);
    assert!(tipring_dahdi_model::wait_until(
        std::time::Duration::from_secs(2),
        || !ch3.is_open()
    ));
    assert_eq!(ioctl_int(&g, sys::SPECIFY, 3), Ok(3));
}

#[test]
fn per_channel_nodes_are_bound_at_open() {
    let Some(model) = mount(two_spans()) else {
        return;
    };
    let names: Vec<String> = std::fs::read_dir(model.root())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    for n in ["ctl", "channel", "pseudo", "chan", "1", "28"] {
        assert!(names.iter().any(|x| x == n), "{n} missing from {names:?}");
    }
    let spans: Vec<String> = std::fs::read_dir(model.path("chan"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(spans.len(), 2, "{spans:?}");
    assert_eq!(
        std::fs::read_dir(model.path("chan/002")).unwrap().count(),
        24
    );
    // Regular files, not character devices.
    let md = std::fs::metadata(model.path("chan/002/024")).unwrap();
    assert!(md.file_type().is_file());

    // chan/002/024 is the T1's D-channel, global channel 4 + 24 = 28.
    let d = open(&model, "chan/002/024", false).unwrap();
    assert_eq!(ioctl_int(&d, sys::CHANNO, 0), Ok(28));
    let mut p = sys::Params::default();
    ioctl_mut(&d, sys::GET_PARAMS, &mut p).unwrap();
    assert_eq!((p.spanno, p.chanpos, p.sigtype), (2, 24, sys::SIG_HDLCFCS));
    // SPECIFY on a bound node is refused.
    assert_eq!(ioctl_int(&d, sys::SPECIFY, 28), Err(libc::EINVAL));

    let n2 = open(&model, "2", false).unwrap();
    assert_eq!(ioctl_int(&n2, sys::CHANNO, 0), Ok(2));
    ioctl_mut(&n2, sys::GET_PARAMS, &mut p).unwrap();
    assert_eq!(p.sigtype, sys::SIG_FXOKS);
    assert_eq!(p.curlaw, sys::LAW_MULAW);
    let name = sys::c_str(&p.name);
    assert_eq!(name, "MODEL/1/2");
    assert_eq!(
        open(&model, "pseudo", false).unwrap_err().raw_os_error(),
        Some(libc::ENXIO)
    );
    assert!(open(&model, "29", false).is_err());
}

#[test]
fn ctl_answers_spanstat_and_params() {
    let Some(model) = mount(two_spans()) else {
        return;
    };
    let ctl = open(&model, "ctl", false).unwrap();
    let mut si = sys::SpanInfo {
        spanno: 2,
        ..Default::default()
    };
    ioctl_mut(&ctl, sys::SPANSTAT, &mut si).unwrap();
    let (totalchans, totalspans, lineconfig) = (si.totalchans, si.totalspans, si.lineconfig);
    assert_eq!((totalchans, totalspans, lineconfig), (24, 2, 0x20 | 0x80));
    let spantype = sys::c_str(&si.spantype);
    assert_eq!(spantype, "T1");
    si.spanno = 1;
    ioctl_mut(&ctl, sys::SPANSTAT, &mut si).unwrap();
    let spantype: Vec<u8> = si
        .spantype
        .iter()
        .take_while(|&&c| c != 0)
        .map(|&c| c as u8)
        .collect();
    // Mixed FXS/FXO: "ANALOG_MIXED" cut to the field's 5 characters, as strlcpy does.
    assert_eq!(spantype, b"ANALO");
    for bad in [0, 3, -1] {
        si.spanno = bad;
        assert_eq!(ioctl_mut(&ctl, sys::SPANSTAT, &mut si), Err(libc::EINVAL));
    }
    let mut p = sys::Params {
        channo: 3,
        ..Default::default()
    };
    ioctl_mut(&ctl, sys::GET_PARAMS, &mut p).unwrap();
    assert_eq!((p.channo, p.sigtype), (3, sys::SIG_FXSKS));
    p.channo = 0;
    assert_eq!(ioctl_mut(&ctl, sys::GET_PARAMS, &mut p), Err(libc::EINVAL));
    // Channel requests mean nothing on ctl.
    assert_eq!(ioctl_int(&ctl, sys::GETEVENT, 0), Err(libc::ENOTTY));
    let mut v = sys::Version {
        version: [0; 80],
        echo_canceller: [0; 80],
    };
    ioctl_mut(&ctl, sys::GETVERSION, &mut v).unwrap();
    assert_ne!(v.version[0], 0);
}

#[test]
fn unknown_requests_and_wrong_sizes_are_refused_without_harm() {
    let Some(model) = mount(two_spans()) else {
        return;
    };
    let f = specify(&model, 1, false);
    let fd = std::os::fd::AsRawFd::as_raw_fd(&f);
    let mut buf = [0u8; 512];
    // SET_BLOCKSIZE with an 8-byte size, a made-up number, GET_PARAMS one byte short.
    let wrong: [libc::Ioctl; 3] = [0x4008_DA01, 0xC010_DAEE, 0xC087_DA05];
    for req in wrong {
        // SAFETY: `buf` is larger than any size these numbers encode; the fd is open.
        let r = unsafe { libc::ioctl(fd, req, buf.as_mut_ptr()) };
        assert_eq!(r, -1);
        assert_eq!(
            std::io::Error::last_os_error().raw_os_error(),
            Some(libc::ENOTTY),
            "{req:#x}"
        );
    }
    // Out-of-range values.
    assert_eq!(ioctl_int(&f, sys::SET_BLOCKSIZE, 8), Err(libc::EINVAL));
    assert_eq!(ioctl_int(&f, sys::SET_BLOCKSIZE, 8193), Err(libc::EINVAL));
    assert_eq!(ioctl_int(&f, sys::SETLAW, 3), Err(libc::EINVAL));
    assert_eq!(ioctl_int(&f, sys::TONEDETECT, 1), Err(libc::EINVAL));
    let mut bi = sys::BufferInfo {
        numbufs: 33,
        bufsize: 160,
        ..Default::default()
    };
    assert_eq!(ioctl_mut(&f, sys::SET_BUFINFO, &mut bi), Err(libc::EINVAL));
    bi.numbufs = 4;
    ioctl_mut(&f, sys::SET_BUFINFO, &mut bi).unwrap();
    let mut got = sys::BufferInfo::default();
    ioctl_mut(&f, sys::GET_BUFINFO, &mut got).unwrap();
    assert_eq!((got.numbufs, got.bufsize), (4, 160));
    // HOOK values an FXS port cannot do.
    for v in [sys::HOOK_WINK, sys::HOOK_FLASH, sys::HOOK_START, 99] {
        assert_eq!(ioctl_int(&f, sys::HOOK, v), Err(libc::EINVAL), "{v}");
    }
    // ECHOCANCEL_PARAMS: only the header crosses FUSE.
    let ec = sys::EchoCanParams {
        tap_length: 128,
        param_count: 0,
    };
    sys::ioctl_ptr(f.as_fd(), sys::ECHOCANCEL_PARAMS, &ec).unwrap();
    assert_eq!(model.channel(1).unwrap().echo_canceller_taps(), 128);
    assert!(model.ioctl_log(1).iter().any(|n| n == "0xc010daee"));
    // The model still works.
    assert_eq!(ioctl_int(&f, sys::CHANNO, 0), Ok(1));
}

#[test]
fn dropping_the_model_unmounts_even_with_a_file_open() {
    let Some(model) = mount(two_spans()) else {
        return;
    };
    let root = root_of(&model);
    assert!(is_mounted(&root));
    let leaked = specify(&model, 1, false);
    drop(model);
    assert!(!is_mounted(&root), "{} still mounted", root.display());
    // The open file fails rather than hangs.
    assert!(read(&leaked, 160).is_err());
}

#[test]
fn explicit_unmount_reports_success() {
    let Some(model) = mount(two_spans()) else {
        return;
    };
    let root = root_of(&model);
    model.unmount().unwrap();
    assert!(!is_mounted(&root));
}

#[test]
fn a_panicking_test_leaves_no_mount_behind() {
    let mut root = None;
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let Some(model) = mount(two_spans()) else {
            return;
        };
        root = Some(root_of(&model));
        let _open = specify(&model, 1, false);
        panic!("a test failing with the model mounted and a channel open");
    }));
    if let Some(root) = root {
        assert!(r.is_err());
        assert!(!is_mounted(&root), "{} still mounted", root.display());
    }
}

#[test]
fn remounting_at_the_same_path_right_after_a_drop_stays_mounted() {
    let Some(model) = mount(two_spans()) else {
        return;
    };
    let root = root_of(&model);
    drop(model);
    for _ in 0..3 {
        let again = tipring_dahdi_model::Model::mount(&root, two_spans()).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(300));
        assert!(is_mounted(&root), "the new mount was taken down");
        let f = specify(&again, 1, false);
        assert_eq!(ioctl_int(&f, sys::CHANNO, 0), Ok(1));
        drop(f);
        drop(again);
    }
}
