//! Every phone-state and fault flag of `camroll sim`, exercised through the real binary
//! with the `idevice` crate as the client. Durations are only ever lower bounds.

mod support;

use std::time::{Duration, Instant};

use futures::StreamExt;
use idevice::afc::errors::AfcError;
use idevice::afc::opcode::AfcFopenMode;
use idevice::afc::AfcClient;
use idevice::usbmuxd::UsbmuxdListenEvent;
use idevice::{IdeviceError, IdeviceService};
use support::*;

async fn afc(sim: &SimProc) -> AfcClient {
    let p = provider(&sim.plain_addr()).await;
    AfcClient::connect(&p).await.expect("AFC service")
}

async fn read_file(afc: &mut AfcClient, path: &str) -> Result<Vec<u8>, IdeviceError> {
    afc_read_raw(afc, path).await
}

fn is_afc(e: &IdeviceError, want: AfcError) -> bool {
    matches!(e, IdeviceError::Afc(a) if *a == want)
}

#[test]
fn writes_are_refused_unless_writable() {
    let media = media_fixture();
    let sim = SimProc::start(media.path(), &[]);
    rt().block_on(within(60, async {
        let mut afc = afc(&sim).await;
        match afc.open("/DCIM/new.txt", AfcFopenMode::WrOnly).await {
            Err(e) => assert!(is_afc(&e, AfcError::PermDenied), "{e:?}"),
            Ok(_) => panic!("write open allowed on a read-only phone"),
        }
        let e = afc.mk_dir("/Downloads").await.expect_err("mkdir refused");
        assert!(is_afc(&e, AfcError::PermDenied), "{e:?}");
        let e = afc
            .remove("/DCIM/100APPLE/IMG_0003.PNG")
            .await
            .expect_err("rm refused");
        assert!(is_afc(&e, AfcError::PermDenied), "{e:?}");
    }));
    assert!(media.path().join("DCIM/100APPLE/IMG_0003.PNG").exists());
    drop(sim);

    let sim = SimProc::start(media.path(), &["--writable"]);
    rt().block_on(within(60, async {
        let mut afc = afc(&sim).await;
        afc.mk_dir("/Downloads/a/b").await.expect("mkdir -p");
        let mut f = afc
            .open("/Downloads/a/b/note.txt", AfcFopenMode::WrOnly)
            .await
            .expect("open for writing");
        f.write_entire(b"hello phone").await.expect("write");
        f.close().await.expect("close");
        assert_eq!(
            read_file(&mut afc, "/Downloads/a/b/note.txt")
                .await
                .expect("read back"),
            b"hello phone"
        );
        afc.rename("/Downloads/a/b/note.txt", "/Downloads/note.txt")
            .await
            .expect("rename");
        afc.remove("/DCIM/100APPLE/IMG_0003.PNG").await.expect("rm");
    }));
    assert_eq!(
        std::fs::read(media.path().join("Downloads/note.txt")).expect("written"),
        b"hello phone"
    );
    assert!(!media.path().join("DCIM/100APPLE/IMG_0003.PNG").exists());
}

#[test]
fn locked_phone_refuses_services_until_unlocked() {
    let media = media_fixture();
    let sim = SimProc::start(media.path(), &["--locked", "--unlock-after", "2"]);
    rt().block_on(within(60, async {
        let p = provider(&sim.plain_addr()).await;
        match AfcClient::connect(&p).await {
            Err(IdeviceError::PasswordProtected) => {}
            other => panic!("expected PasswordProtected, got {:?}", other.err()),
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            match AfcClient::connect(&p).await {
                Ok(mut afc) => {
                    afc.list_dir("/").await.expect("ReadDir after unlock");
                    break;
                }
                Err(IdeviceError::PasswordProtected) if Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(e) => panic!("never unlocked: {e:?}"),
            }
        }
    }));
}

#[test]
fn untrusted_phone_has_no_pair_record_until_the_trust_tap() {
    let media = media_fixture();
    let sim = SimProc::start(media.path(), &["--untrusted", "--trust-after", "2"]);
    rt().block_on(within(60, async {
        let addr = idevice_addr(&sim.plain_addr());
        let mut listener = addr.connect(9).await.expect("usbmuxd");
        let mut events = listener.listen().await.expect("Listen");
        let mut mux = addr.connect(1).await.expect("usbmuxd");
        assert!(mux.get_pair_record(&sim.udid).await.is_err());
        // Attached first, then the trust tap makes usbmuxd announce Paired (skipped by the
        // crate's stream), and the record appears.
        match events.next().await {
            Some(Ok(UsbmuxdListenEvent::Connected(d))) => assert_eq!(d.udid, sim.udid),
            other => panic!("expected Attached, got {other:?}"),
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let mut mux = addr.connect(1).await.expect("usbmuxd");
            match mux.get_pair_record(&sim.udid).await {
                Ok(_) => break,
                Err(_) if Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(200)).await
                }
                Err(e) => panic!("never trusted: {e:?}"),
            }
        }
        let mut afc = afc(&sim).await;
        assert!(afc
            .list_dir("/DCIM")
            .await
            .expect("ReadDir")
            .contains(&"100APPLE".into()));
    }));
}

#[test]
fn rate_limits_afc_reads() {
    let media = media_fixture();
    // 3 MB at 2 MB/s cannot take less than ~1.5 s; only the lower bound is checked.
    let sim = SimProc::start(media.path(), &["--rate", "2"]);
    rt().block_on(within(60, async {
        let mut afc = afc(&sim).await;
        let t = Instant::now();
        let bytes = read_file(&mut afc, "/DCIM/100APPLE/IMG_0001.JPG")
            .await
            .expect("read");
        assert_eq!(bytes.len(), 3_000_000);
        assert!(
            t.elapsed() >= Duration::from_millis(1200),
            "{:?}",
            t.elapsed()
        );
    }));
}

#[test]
fn latency_is_added_to_every_afc_request() {
    let media = media_fixture();
    let sim = SimProc::start(media.path(), &["--latency-ms", "150"]);
    rt().block_on(within(60, async {
        let mut afc = afc(&sim).await;
        let t = Instant::now();
        for _ in 0..6 {
            afc.list_dir("/DCIM").await.expect("ReadDir");
        }
        assert!(
            t.elapsed() >= Duration::from_millis(900),
            "{:?}",
            t.elapsed()
        );
    }));
}

#[test]
fn unplug_drops_connections_announces_detach_and_replugs() {
    let media = media_fixture();
    let sim = SimProc::start(
        media.path(),
        &["--unplug-after-bytes", "1000000", "--replug-after", "1"],
    );
    let source = std::fs::read(media.path().join("DCIM/100APPLE/IMG_0001.JPG")).expect("src");
    rt().block_on(within(60, async {
        let addr = idevice_addr(&sim.plain_addr());
        let mut listener = addr.connect(9).await.expect("usbmuxd");
        let mut events = listener.listen().await.expect("Listen");
        let first = match events.next().await {
            Some(Ok(UsbmuxdListenEvent::Connected(d))) => d.device_id,
            other => panic!("expected Attached, got {other:?}"),
        };
        let mut afc = afc(&sim).await;
        assert!(
            read_file(&mut afc, "/DCIM/100APPLE/IMG_0001.JPG")
                .await
                .is_err(),
            "a 3 MB read must not survive a pull after 1 MB"
        );
        match events.next().await {
            Some(Ok(UsbmuxdListenEvent::Disconnected(id))) => assert_eq!(id, first),
            other => panic!("expected Detached, got {other:?}"),
        }
        let second = match events.next().await {
            Some(Ok(UsbmuxdListenEvent::Connected(d))) => d.device_id,
            other => panic!("expected Attached again, got {other:?}"),
        };
        assert_ne!(first, second, "a replugged phone gets a new DeviceID");
        let mut afc = self::afc(&sim).await;
        let bytes = read_file(&mut afc, "/DCIM/100APPLE/IMG_0001.JPG")
            .await
            .expect("read");
        assert!(bytes == source);
    }));
}

#[test]
fn io_error_glob_fails_reads_of_matching_files_only() {
    let media = media_fixture();
    let sim = SimProc::start(media.path(), &["--io-error", "DCIM/*/IMG_0002.*"]);
    rt().block_on(within(60, async {
        let mut afc = afc(&sim).await;
        let e = read_file(&mut afc, "/DCIM/100APPLE/IMG_0002.MOV")
            .await
            .expect_err("placeholder read fails");
        assert!(is_afc(&e, AfcError::ReadError), "{e:?}");
        let ok = read_file(&mut afc, "/DCIM/100APPLE/IMG_0001.JPG")
            .await
            .expect("read");
        assert_eq!(ok.len(), 3_000_000);
        // Listing and stat still work, as they do for optimised assets.
        afc.get_file_info("/DCIM/100APPLE/IMG_0002.MOV")
            .await
            .expect("stat");
    }));
}

#[test]
fn max_open_files_answers_no_resources_beyond_the_limit() {
    let media = media_fixture();
    let sim = SimProc::start(media.path(), &["--max-open-files", "2"]);
    rt().block_on(within(60, async {
        let mut a = afc(&sim).await;
        let mut b = afc(&sim).await;
        let mut c = afc(&sim).await;
        let fa = a
            .open("/DCIM/100APPLE/IMG_0001.JPG", AfcFopenMode::RdOnly)
            .await
            .expect("1st");
        let fb = b
            .open("/DCIM/100APPLE/IMG_0002.MOV", AfcFopenMode::RdOnly)
            .await
            .expect("2nd");
        match c
            .open("/DCIM/100APPLE/IMG_0003.PNG", AfcFopenMode::RdOnly)
            .await
        {
            Err(e) => assert!(is_afc(&e, AfcError::NoResources), "{e:?}"),
            Ok(_) => panic!("third handle allowed"),
        }
        fa.close().await.expect("close");
        let fc = c
            .open("/DCIM/100APPLE/IMG_0003.PNG", AfcFopenMode::RdOnly)
            .await
            .expect("slot freed");
        fc.close().await.expect("close");
        fb.close().await.expect("close");
    }));
}
