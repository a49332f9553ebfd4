//! Boot test of the GPU display (scenario `tests/scenarios/gpu.toml`): the gpu driver
//! brings up QEMU's `virtio-gpu-pci` (modern virtio over PCI), sets scanout 0 to its
//! framebuffer and draws the tile status screen; the `gpu-status` client sets the title
//! (the uptime) and one row per domain (its state, read from the supervisor) through the
//! display protocol. Commands complete by interrupt (MSI-X). Then the test asks QEMU's monitor (a UNIX
//! socket beside the runner's `-monitor none`: QEMU keeps every `-monitor` option, and
//! `none` adds nothing) for a `screendump`, parses the PPM and checks its size against the
//! mode the driver logged and its pixels against the screen layout: title bar, background,
//! row stripes and text. The scenario's telemetry domain gets gpu-status's own call
//! latencies, and gpu-status shows them in the screen's telemetry section (its row's text
//! is in the log when first shown). `-display none` stays: QEMU renders the scanout for the dump
//! without a display.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, Instant};
use tileos_qemu::host::wait_for;
use tileos_qemu::images::{scenario_archive, test_images};
use tileos_qemu::{Ended, Machine, run_until};

const TIMEOUT: Duration = Duration::from_secs(120);
/// The row gpu-status shows once chaos-pci had the supervisor restart "pci".
const RESTARTED_ROW: &str = "gpu-status: row 1 now \"pci          running    gen 1 restarts 1\"";
/// The telemetry section's first row (after the 6 domain rows and a blank one): gpu-status's
/// own calls, as the telemetry domain counts them.
const TELEMETRY_ROW: &str = "gpu-status: telemetry row 7 first shown \"gpu-status   calls ";
/// The mode QEMU's virtio GPU offers by default (its `xres` and `yres` properties).
const WIDTH: usize = 1280;
const HEIGHT: usize = 800;

// The screen layout and colours of `tileos_driver_gpu::screen` (B8G8R8X8 `0x00RRGGBB`),
// repeated here because the runner does not depend on the driver crate.
const TITLE_HEIGHT: usize = 32;
const ROW_TOP: usize = 40;
const ROW_HEIGHT: usize = 20;
const BACKGROUND: [u8; 3] = [0x1E, 0x24, 0x30];
const STRIPE: [u8; 3] = [0x28, 0x30, 0x40];
const TITLE_BAR: [u8; 3] = [0x1F, 0x6F, 0xC0];
const TITLE_TEXT: [u8; 3] = [0xFF, 0xFF, 0xFF];
const ROW_TEXT: [u8; 3] = [0xA0, 0xE8, 0xA0];

/// Reads from the monitor until what came in ends with a fresh prompt.
fn read_to_prompt(monitor: &mut UnixStream) -> Result<String, String> {
    let mut seen = Vec::new();
    let mut buffer = [0u8; 4096];
    while !String::from_utf8_lossy(&seen).contains("\n(qemu) ") {
        let count = monitor.read(&mut buffer).map_err(|error| format!("read the monitor: {error}"))?;
        if count == 0 {
            return Err(format!("the monitor closed (got {:?})", String::from_utf8_lossy(&seen)));
        }
        seen.extend_from_slice(&buffer[..count]);
    }
    Ok(String::from_utf8_lossy(&seen).into_owned())
}

/// The host's side once the status screen is up: `screendump` to `dump`, wait until the
/// file is whole, then `quit` (which ends the run).
fn take_screendump(socket: &Path, dump: &Path) -> Result<(), String> {
    let mut monitor = UnixStream::connect(socket).map_err(|error| format!("connect to the monitor {}: {error}", socket.display()))?;
    monitor.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    read_to_prompt(&mut monitor)?;
    let _ = std::fs::remove_file(dump);
    writeln!(monitor, "screendump {}", dump.display()).map_err(|error| format!("send screendump: {error}"))?;
    let answer = read_to_prompt(&mut monitor)?;
    let whole = format!("P6\n{WIDTH} {HEIGHT}\n255\n").len() + WIDTH * HEIGHT * 3;
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::fs::metadata(dump).map_or(0, |meta| meta.len() as usize) < whole {
        if Instant::now() > deadline {
            return Err(format!("no complete screendump in {} (monitor said {answer:?})", dump.display()));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    writeln!(monitor, "quit").map_err(|error| format!("send quit: {error}"))?;
    // QEMU closes the connection as it exits; hanging up first could drop the command.
    let _ = monitor.read_to_end(&mut Vec::new());
    Ok(())
}

/// A binary PPM (P6, maxval 255): width, height and RGB pixels.
struct Image {
    width: usize,
    height: usize,
    pixels: Vec<u8>,
}

impl Image {
    fn parse(bytes: &[u8]) -> Result<Image, String> {
        // Header: magic, width, height, maxval, separated by whitespace, one whitespace byte
        // before the pixels (QEMU writes no comments).
        let mut fields = Vec::new();
        let mut at = 0;
        while fields.len() < 4 {
            while at < bytes.len() && bytes[at].is_ascii_whitespace() {
                at += 1;
            }
            let start = at;
            while at < bytes.len() && !bytes[at].is_ascii_whitespace() {
                at += 1;
            }
            if start == at {
                return Err("the PPM header ends early".into());
            }
            fields.push(String::from_utf8_lossy(&bytes[start..at]).into_owned());
        }
        at += 1;
        if fields[0] != "P6" || fields[3] != "255" {
            return Err(format!("not a P6 PPM with maxval 255: {fields:?}"));
        }
        let number = |field: &String| field.parse::<usize>().map_err(|error| format!("PPM size {field:?}: {error}"));
        let (width, height) = (number(&fields[1])?, number(&fields[2])?);
        let pixels = bytes.get(at..).unwrap_or_default().to_vec();
        if pixels.len() != width * height * 3 {
            return Err(format!("{width}x{height} PPM with {} pixel bytes", pixels.len()));
        }
        Ok(Image { width, height, pixels })
    }

    fn pixel(&self, x: usize, y: usize) -> [u8; 3] {
        let at = 3 * (y * self.width + x);
        [self.pixels[at], self.pixels[at + 1], self.pixels[at + 2]]
    }

    /// Pixels of `colour` in rows `rows`.
    fn count(&self, colour: [u8; 3], rows: std::ops::Range<usize>) -> usize {
        rows.flat_map(|y| (0..self.width).map(move |x| (x, y))).filter(|&(x, y)| self.pixel(x, y) == colour).count()
    }
}

#[test]
fn gpu_driver_shows_the_tile_status_screen_in_a_screendump() {
    let images = test_images().unwrap_or_else(|error| panic!("{error}"));
    let boot = images.tile_boot(scenario_archive("gpu"));
    // A short path: UNIX socket names are limited to about 100 bytes.
    let socket = std::env::temp_dir().join(format!("tileos-gpu-monitor-{}.sock", std::process::id()));
    let _ = std::fs::remove_file(&socket);
    let machine = Machine {
        extra_args: vec![
            "-vga".into(),
            "none".into(),
            "-device".into(),
            "virtio-gpu-pci".into(),
            "-monitor".into(),
            format!("unix:{},server,nowait", socket.display()),
        ],
        ..Machine::default()
    };
    let log = images.logs.join("tile-gpu.log");
    let dump: PathBuf = images.logs.join("gpu-screen.ppm");
    std::fs::create_dir_all(&images.logs).expect("log directory");
    // No line from an earlier run may be seen before QEMU starts.
    std::fs::write(&log, b"").expect("empty the serial log");
    let (sender, results) = mpsc::channel();
    let (watched, host_socket, host_dump) = (log.clone(), socket.clone(), dump.clone());
    let host = std::thread::spawn(move || {
        let deadline = Instant::now() + TIMEOUT;
        let result = match [RESTARTED_ROW, TELEMETRY_ROW].into_iter().find(|row| !wait_for(&watched, row, deadline)) {
            None => take_screendump(&host_socket, &host_dump),
            Some(row) => Err(format!("gpu-status never logged {row:?}")),
        };
        let _ = sender.send(result);
    });
    // The run ends when the host side sends `quit` (or at the timeout).
    let outcome = run_until(&machine, &boot, &log, TIMEOUT, &[]).unwrap_or_else(|error| panic!("{error}"));
    host.join().expect("the host side does not panic");
    let _ = std::fs::remove_file(&socket);
    let host_result = results.try_recv().unwrap_or_else(|_| Err("the host side did not finish".into()));
    host_result.unwrap_or_else(|error| panic!("{error}; the run ended: {}; last serial lines:\n{}", outcome.ended, outcome.tail(30)));
    assert!(matches!(outcome.ended, Ended::QemuStatus(Some(0), _)), "QEMU did not quit on the monitor's command: {}", outcome.ended);
    // `NOT SHOWN`: gpu-status got another answer than `Shown` to a display call.
    for bad in ["KERNEL EXCEPTION", "panic at", "stopping", "NOT SHOWN"] {
        assert!(!outcome.serial.contains(bad), "serial log contains {bad:?}:\n{}", outcome.tail(40));
    }
    assert!(!outcome.serial.contains("stopped:"), "a domain faulted:\n{}", outcome.tail(40));
    // The pci domain located the GPU where SeaBIOS put it; the root server mapped both
    // memory BARs (the MSI-X table's and the virtio structures') into the driver's window.
    outcome.assert_serial_contains(
        "rootserver: pci device \"gpu\" is 00:03.0 (1af4:1050): BAR1 mem 0xfebe0000+0x1000, BAR4 mem 0xfebfc000+0x4000, MSI-X",
    );
    outcome.assert_serial_contains(
        "gpu: virtio GPU at 00:03.0: structures in BAR4 at 0xfebfc000 size 0x4000 mapped at 0x60004000 (common 0x0, notify 0x3000 x4, isr 0x1000, device 0x2000)",
    );
    outcome.assert_serial_contains(
        "gpu: virtio GPU ready: 2 queues, control queue of 16 entries (device offers 64), completion by interrupt (MSI-X vector 0)",
    );
    outcome.assert_serial_contains(&format!("gpu: display info: scanout 0 enabled at {WIDTH}x{HEIGHT}"));
    outcome.assert_serial_contains(&format!(
        "gpu: scanout 0 set to resource 1 ({WIDTH}x{HEIGHT} B8G8R8X8, framebuffer of {:#x} bytes in 4 regions)",
        WIDTH * HEIGHT * 4
    ));
    // One interrupt per command: the driver waits for each completion's interrupt.
    outcome.assert_serial_contains("gpu: first frame shown (6 commands, 6 interrupts)");
    // The first four requests: gpu-status's mode query, its row 200 (refused), the title
    // and row 0 (each shown: two commands and two interrupts apiece).
    outcome.assert_serial_contains(
        "gpu: 2 display updates served, 1 refused, 0 failed on the device, 1 mode queries (10 commands, 10 interrupts so far)",
    );
    let counts: Vec<&str> = outcome.serial.lines().filter(|line| line.contains(" display updates served, ")).collect();
    assert!(counts.len() >= 3, "{}", outcome.tail(40));
    for line in counts {
        assert!(line.contains(" 0 failed on the device, 1 mode queries "), "{line}");
    }
    // One row per domain of the scenario, as the supervisor reports them, refreshed when
    // chaos-pci has pci restarted; shown only when every display call of that look answered
    // `Shown` (the title and at least the six rows).
    let shown = outcome.serial.lines().find_map(|line| line.split("gpu-status: status screen shown (title and 6 rows; ").nth(1));
    let calls: Vec<u32> = shown
        .and_then(|rest| rest.strip_suffix(" display calls answered Shown)"))
        .map(|counts| counts.split(" of ").filter_map(|n| n.parse().ok()).collect())
        .unwrap_or_default();
    assert!(calls.len() == 2 && calls[0] == calls[1] && calls[1] >= 7, "status screen line {shown:?}:\n{}", outcome.tail(40));
    outcome.assert_serial_contains("gpu-status: row 1 now \"pci          running    gen 0 restarts 0\"");
    outcome.assert_event("domain.killed", &[("domain", "pci"), ("client", "chaos-pci"), ("generation", "0")]);
    // (The test quits QEMU as soon as this row is logged: the "screen refreshed" line that
    // follows it may not make it into the log.)
    outcome.assert_serial_contains(RESTARTED_ROW);
    // The telemetry section: gpu-status's own row (calls, 99th percentile, CPU, power).
    let telemetry = outcome.serial.lines().find(|line| line.contains(TELEMETRY_ROW)).expect("the telemetry row");
    // (First shown before gpu-status's first report is counted: its calls may still be 0.)
    let calls: Option<u64> = telemetry.split("calls ").nth(1).and_then(|rest| rest.split(' ').next()).and_then(|n| n.parse().ok());
    assert!(calls.is_some() && telemetry.contains(" p99 ") && telemetry.contains("mW"), "{telemetry}");
    let first = outcome.serial.find("gpu-status: row 1 now \"pci          running    gen 0 restarts 0\"");
    let refreshed = outcome.serial.find(RESTARTED_ROW);
    assert!(first.is_some() && refreshed > first, "pci's row was not shown at generation 0 first:\n{}", outcome.tail(30));
    outcome.assert_serial_contains(&format!("gpu-status: display mode Ok(Mode {{ width: {WIDTH}, height: {HEIGHT} }})"));
    outcome.assert_serial_contains("gpu-status: row 200 answered Ok(Refused(RowOutOfRange { row: 200, rows: 16 }))");

    // The screendump: the mode's size, and the status screen's layout.
    let image = Image::parse(&std::fs::read(&dump).expect("read the screendump")).unwrap_or_else(|error| panic!("{error}"));
    assert_eq!((image.width, image.height), (WIDTH, HEIGHT), "screendump size");
    let right = WIDTH - 1;
    assert_eq!(image.pixel(right, 0), TITLE_BAR, "title bar at the top right");
    assert_eq!(image.pixel(right, TITLE_HEIGHT - 1), TITLE_BAR, "title bar bottom edge");
    assert_eq!(image.pixel(right, TITLE_HEIGHT), BACKGROUND, "background below the title bar");
    assert_eq!(image.pixel(right, ROW_TOP + ROW_HEIGHT + 1), STRIPE, "row 1 is striped");
    assert_eq!(image.pixel(right, HEIGHT - 1), BACKGROUND, "background at the bottom right");
    // "tileos tile, up …" in the bar; six rows of text (console, pci, gpu, gpu-status,
    // chaos-pci, telemetry), a blank row, the telemetry section's one row (gpu-status, the
    // only reporter), nothing below it.
    assert!(image.count(TITLE_TEXT, 0..TITLE_HEIGHT) > 500, "title text in the title bar");
    let rows = |first: usize, last: usize| ROW_TOP + first * ROW_HEIGHT..ROW_TOP + last * ROW_HEIGHT;
    for row in (0..6).chain([7]) {
        assert!(image.count(ROW_TEXT, rows(row, row + 1)) > 300, "row {row} has text");
    }
    assert_eq!(image.count(ROW_TEXT, rows(6, 7)), 0, "row 6 (between the sections) is empty");
    assert_eq!(image.count(ROW_TEXT, rows(8, 16)), 0, "rows 8.. are empty");
    assert_eq!(image.count(TITLE_TEXT, TITLE_HEIGHT..HEIGHT), 0, "white only in the title bar");
    let mut colours: Vec<[u8; 3]> = image.pixels.chunks(3).map(|pixel| [pixel[0], pixel[1], pixel[2]]).collect();
    colours.sort_unstable();
    colours.dedup();
    assert_eq!(colours.len(), 5, "background, stripe, title bar, title text, row text: {colours:x?}");
}
