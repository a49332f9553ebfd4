//! The lab's tiles: processes the lab starts, kills (SIGKILL) and starts again on the same
//! spool or disk. A [`HostNode`] is `tileos-dtn-node`'s store-and-forward node (run by this
//! crate's binary as `tileos-tile-lab host-node`, the same code); a [`QemuTile`] is one QEMU
//! process booting a tile archive built from the tile's generated description.

use std::fs::{File, OpenOptions};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tileos_dtn_node::node::Route;
use tileos_qemu::{Boot, BootModule, Machine};

use crate::state::{SerialLogReader, SpoolReader, StateReader};
use crate::tiletoml::TCPCL_PORT;

/// One tile of the lab.
pub trait Tile: Send {
    /// Starts its process; returns once its TCPCL listener accepts connections (host
    /// nodes) or once the guest printed `@event fed.ready` (QEMU tiles).
    fn start(&mut self) -> Result<(), String>;
    /// Kills its process at once (SIGKILL): nothing it did not make durable survives.
    fn kill(&mut self) -> Result<(), String>;
    /// Whether its process runs.
    fn running(&mut self) -> bool;
    /// The host address of its TCPCL listener (relays forward to it).
    fn listen_addr(&self) -> String;
    /// How its delivered bundles and replicated state are read.
    fn reader(&self) -> &dyn StateReader;
    /// Its log file (host node: standard error; QEMU: serial log), appended across restarts.
    fn log(&self) -> PathBuf;
}

fn wait_listening(port: u16, child: &mut Child, deadline: Instant, what: &str) -> Result<(), String> {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    loop {
        if TcpStream::connect_timeout(&addr, Duration::from_millis(100)).is_ok() {
            // Someone listens there; make sure it is this process.
            std::thread::sleep(Duration::from_millis(20));
            return match child.try_wait() {
                Ok(Some(status)) => Err(format!("{what} exited ({status}); is port {port} taken by another program?")),
                _ => Ok(()),
            };
        }
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("{what} exited ({status}) before listening on port {port}"));
        }
        if Instant::now() > deadline {
            return Err(format!("{what} did not listen on port {port} within 10 s"));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The serial line a QEMU tile's federation domain prints once its TCPCL listener is up.
pub const LISTENING_EVENT: &str = "@event fed.ready";

/// How long a QEMU tile may take to boot to [`LISTENING_EVENT`].
const BOOT_TIMEOUT: Duration = Duration::from_secs(120);

/// Waits until file `path` contains `needle`, failing if `child` exits or `deadline` passes.
pub fn wait_for_line(path: &Path, needle: &str, child: &mut Child, deadline: Instant) -> Result<(), String> {
    loop {
        if std::fs::read(path).is_ok_and(|bytes| String::from_utf8_lossy(&bytes).contains(needle)) {
            return Ok(());
        }
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("the process exited ({status}) before {} showed {needle:?}", path.display()));
        }
        if Instant::now() > deadline {
            return Err(format!("{} did not show {needle:?} in time", path.display()));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn append_log(path: &Path) -> Result<File, String> {
    OpenOptions::new().create(true).append(true).open(path).map_err(|e| format!("cannot open {}: {e}", path.display()))
}

/// A host node: `PROGRAM host-node 127.0.0.1:PORT --node ipn:N.0 --spool DIR --route …`.
pub struct HostNode {
    program: PathBuf,
    name: String,
    node: u32,
    port: u16,
    dir: PathBuf,
    routes: Vec<Route>,
    child: Option<Child>,
    reader: SpoolReader,
}

impl HostNode {
    /// A node `node` named `name` listening on 127.0.0.1:`port`, keeping its spool and log
    /// in `dir`, forwarding by `routes`, run by `program` (this crate's binary).
    pub fn new(program: PathBuf, name: &str, node: u32, port: u16, dir: PathBuf, routes: Vec<Route>) -> HostNode {
        let reader = SpoolReader::new(&dir.join("spool"));
        HostNode { program, name: name.to_string(), node, port, dir, routes, child: None, reader }
    }

    /// The command line after the program.
    pub fn args(&self) -> Vec<String> {
        let mut args = vec![
            "host-node".to_string(),
            format!("127.0.0.1:{}", self.port),
            "--node".into(),
            format!("ipn:{}.0", self.node),
            "--spool".into(),
            self.dir.join("spool").display().to_string(),
            "--retry-max-ms".into(),
            "500".into(),
            "--status-interval-ms".into(),
            "1000".into(),
        ];
        for route in &self.routes {
            args.push("--route".into());
            args.push(format!("{}={}", route.pattern, route.addr));
        }
        args
    }
}

impl Tile for HostNode {
    fn start(&mut self) -> Result<(), String> {
        std::fs::create_dir_all(&self.dir).map_err(|e| format!("cannot create {}: {e}", self.dir.display()))?;
        let log = append_log(&self.log())?;
        let mut child = Command::new(&self.program)
            .args(self.args())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .map_err(|e| format!("tile {}: cannot start {}: {e}", self.name, self.program.display()))?;
        let result = wait_listening(self.port, &mut child, Instant::now() + Duration::from_secs(10), &format!("host node {}", self.name));
        self.child = Some(child);
        result
    }

    fn kill(&mut self) -> Result<(), String> {
        if let Some(mut child) = self.child.take() {
            child.kill().map_err(|e| format!("tile {}: cannot kill: {e}", self.name))?;
            let _ = child.wait();
        }
        Ok(())
    }

    fn running(&mut self) -> bool {
        self.child.as_mut().is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    fn listen_addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    fn reader(&self) -> &dyn StateReader {
        &self.reader
    }

    fn log(&self) -> PathBuf {
        self.dir.join("node.log")
    }
}

impl Drop for HostNode {
    fn drop(&mut self) {
        let _ = self.kill();
    }
}

/// Where a QEMU tile's images are: the test kernel (ELF32), the root server and the tile
/// archive built from the tile's description (`tools/imagebuild`).
#[derive(Clone, Debug)]
pub struct QemuImages {
    /// `build/test/kernel.elf32`.
    pub kernel: PathBuf,
    /// `build/test/rootserver.elf`.
    pub rootserver: PathBuf,
}

/// Size of a new tile disk: as `tileos-qemu --tile-devices` makes it.
const DISK_BYTES: u64 = 68 << 20;

/// A QEMU tile: one `qemu-system-x86_64` with `memory_mib` of RAM, an NVMe disk kept in its
/// directory (the store keeps its spool there across reboots), and a virtio-net on QEMU's
/// user network with host port `port` forwarded to the tile's TCPCL port 4556.
pub struct QemuTile {
    name: String,
    port: u16,
    dir: PathBuf,
    images: QemuImages,
    archive: PathBuf,
    memory_mib: u32,
    child: Option<Child>,
    reader: SerialLogReader,
}

impl QemuTile {
    /// A tile named `name` whose archive is `archive`, kept in `dir`.
    pub fn new(name: &str, port: u16, dir: PathBuf, images: QemuImages, archive: PathBuf, memory_mib: u32) -> QemuTile {
        let reader = SerialLogReader::new(&[dir.join("serial.log"), dir.join("serial.part")]);
        QemuTile { name: name.to_string(), port, dir, images, archive, memory_mib, child: None, reader }
    }

    /// The QEMU command line (without the program name).
    pub fn args(&self) -> Vec<String> {
        let disk = self.dir.join("disk.img");
        let machine = Machine {
            memory_mib: self.memory_mib,
            extra_args: tileos_qemu::nvme_disk_args(&disk)
                .into_iter()
                .chain([
                    "-netdev".into(),
                    format!("user,id=n0,hostfwd=tcp:127.0.0.1:{}-:{TCPCL_PORT}", self.port),
                    "-device".into(),
                    "virtio-net-pci,netdev=n0".into(),
                ])
                .collect(),
            ..Machine::default()
        };
        let boot = Boot::Kernel {
            kernel: self.images.kernel.clone(),
            cmdline: String::new(),
            modules: vec![
                BootModule { path: self.images.rootserver.clone(), cmdline: "rootserver".into() },
                BootModule { path: self.archive.clone(), cmdline: "tile-archive".into() },
            ],
        };
        let mut args = machine.args(&boot);
        args.extend(["-monitor".into(), "none".into(), "-serial".into(), format!("file:{}", self.dir.join("serial.part").display())]);
        args
    }
}

impl Tile for QemuTile {
    fn start(&mut self) -> Result<(), String> {
        std::fs::create_dir_all(&self.dir).map_err(|e| format!("cannot create {}: {e}", self.dir.display()))?;
        let disk = self.dir.join("disk.img");
        if !disk.exists() {
            File::create(&disk).and_then(|f| f.set_len(DISK_BYTES)).map_err(|e| format!("cannot create {}: {e}", disk.display()))?;
        }
        // QEMU truncates its serial file: each boot writes serial.part, appended to serial.log
        // when the tile is killed (the reader also reads the part of the running boot).
        let _ = std::fs::remove_file(self.dir.join("serial.part"));
        let mut child = Command::new("qemu-system-x86_64")
            .args(self.args())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(append_log(&self.dir.join("qemu.stderr"))?)
            .spawn()
            .map_err(|e| format!("tile {}: cannot start qemu-system-x86_64: {e}", self.name))?;
        // QEMU's port forward accepts connections before the guest listens: wait for the
        // federation domain to say it listens.
        let ready = wait_for_line(&self.dir.join("serial.part"), LISTENING_EVENT, &mut child, Instant::now() + BOOT_TIMEOUT);
        self.child = Some(child);
        ready.map_err(|e| format!("tile {}: {e}", self.name))
    }

    fn kill(&mut self) -> Result<(), String> {
        if let Some(mut child) = self.child.take() {
            child.kill().map_err(|e| format!("tile {}: cannot kill QEMU: {e}", self.name))?;
            let _ = child.wait();
            let part = std::fs::read(self.dir.join("serial.part")).unwrap_or_default();
            use std::io::Write as _;
            append_log(&self.log())?.write_all(&part).map_err(|e| format!("tile {}: serial log: {e}", self.name))?;
            let _ = std::fs::remove_file(self.dir.join("serial.part"));
        }
        Ok(())
    }

    fn running(&mut self) -> bool {
        self.child.as_mut().is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    fn listen_addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    fn reader(&self) -> &dyn StateReader {
        &self.reader
    }

    fn log(&self) -> PathBuf {
        self.dir.join("serial.log")
    }
}

impl Drop for QemuTile {
    fn drop(&mut self) {
        let _ = self.kill();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_qemu_tile_forwards_its_tcpcl_port_and_boots_its_archive() {
        let images = QemuImages { kernel: "k.elf32".into(), rootserver: "r.elf".into() };
        let tile = QemuTile::new("a/1", 41000, PathBuf::from("/tmp/lab/a-1"), images, "/tmp/lab/a-1/tile.archive".into(), 64);
        let args = tile.args().join(" ");
        assert!(args.contains("-m 64M"), "{args}");
        assert!(args.contains("user,id=n0,hostfwd=tcp:127.0.0.1:41000-:4556"), "{args}");
        assert!(args.contains("virtio-net-pci,netdev=n0"), "{args}");
        assert!(args.contains("file=/tmp/lab/a-1/disk.img,if=none,format=raw,id=nvm"), "{args}");
        assert!(args.contains("-initrd r.elf rootserver,/tmp/lab/a-1/tile.archive tile-archive"), "{args}");
        assert!(args.ends_with("-serial file:/tmp/lab/a-1/serial.part"), "{args}");
    }

    #[test]
    fn waiting_for_a_line_sees_it_appear_and_notices_an_exit() {
        let dir = std::env::temp_dir().join(format!("tile-lab-wait-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("serial.part");
        let script = format!("sleep 0.2; echo 'x @event fed.ready node=3 port=4556' > {}; sleep 5", file.display());
        let mut child = Command::new("sh").args(["-c", &script]).spawn().unwrap();
        wait_for_line(&file, LISTENING_EVENT, &mut child, Instant::now() + Duration::from_secs(10)).unwrap();
        child.kill().unwrap();
        child.wait().unwrap();
        let mut quitter = Command::new("true").spawn().unwrap();
        let error = wait_for_line(&dir.join("never"), LISTENING_EVENT, &mut quitter, Instant::now() + Duration::from_secs(10)).unwrap_err();
        assert!(error.contains("exited"), "{error}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_host_node_gets_its_routes_on_the_command_line() {
        let route = Route { pattern: "ipn:2.*".into(), addr: "127.0.0.1:4000".into() };
        let node = HostNode::new("prog".into(), "hub", 1, 5000, PathBuf::from("/tmp/x"), vec![route]);
        assert_eq!(
            node.args().join(" "),
            "host-node 127.0.0.1:5000 --node ipn:1.0 --spool /tmp/x/spool --retry-max-ms 500 --status-interval-ms 1000 --route ipn:2.*=127.0.0.1:4000"
        );
    }
}
