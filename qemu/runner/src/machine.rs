//! The machine every tileos image runs on under QEMU, in one place.

use std::path::PathBuf;

/// CPU model: the one the reference seL4 figures were measured on (see docs/research.md),
/// so instruction counts are comparable. `enforce` makes QEMU refuse to start rather than
/// silently drop a feature.
pub const CPU: &str = "Nehalem,-vme,+pdpe1gb,-xsave,-xsaveopt,-xsavec,-fsgsbase,-invpcid,+syscall,+lm,enforce";

/// A QEMU x86_64 machine for tileos.
#[derive(Clone, Debug)]
pub struct Machine {
    /// Guest RAM in MiB.
    pub memory_mib: u32,
    /// Count guest instructions (`-icount shift=0,sleep=off`): guest `rdtsc` then advances
    /// one tick per instruction, so measured path lengths repeat exactly.
    pub icount: bool,
    /// Wait for a debugger: QEMU's gdb stub on TCP port 1234, CPU halted at the first
    /// instruction.
    pub gdb: bool,
    /// Virtual CPUs (`-smp`); 1, the default, adds no option.
    pub cpus: u32,
    /// Further QEMU arguments appended after the machine's own (devices and their backing
    /// files, e.g. `-drive …,id=nvm -device nvme,drive=nvm`); empty by default.
    pub extra_args: Vec<String>,
    /// The q35 machine with QEMU's VT-d IOMMU (`intel-iommu`, interrupt remapping off),
    /// created before every other device so that all their DMA goes through it; else the
    /// `pc` machine without an IOMMU (the default).
    pub iommu: bool,
}

impl Default for Machine {
    fn default() -> Self {
        Machine { memory_mib: 256, icount: false, gdb: false, cpus: 1, extra_args: Vec::new(), iommu: false }
    }
}

/// The devices of a full tile, as `make run` boots it: an NVMe controller on a disk image,
/// a virtio network device on QEMU's user network with the tile's services forwarded to
/// host ports, and a virtio GPU instead of the standard VGA.
#[derive(Clone, Debug)]
pub struct TileDevices {
    /// Raw disk image behind the NVMe controller (kept between runs).
    pub disk: PathBuf,
    /// Host port forwarded to the tile status service (guest TCP port 8080).
    pub tcp_port: u16,
    /// Host port forwarded to the UDP echo service (guest UDP port 7).
    pub udp_port: u16,
    /// Host port forwarded to the net-client domain's TCP line service (guest TCP port
    /// [`CLIENT_TCP_PORT`]).
    pub client_tcp_port: u16,
    /// Host port forwarded to the net-client domain's UDP service (guest UDP port
    /// [`CLIENT_UDP_PORT`]).
    pub client_udp_port: u16,
    /// Host port forwarded to the update agent, tilectl's end on the tile (guest TCP port
    /// [`AGENT_PORT`]).
    pub agent_port: u16,
}

/// The QEMU arguments of an NVMe controller on the raw disk image `disk` (the tile's disk).
pub fn nvme_disk_args(disk: &std::path::Path) -> Vec<String> {
    vec![
        "-drive".into(),
        format!("file={},if=none,format=raw,id=nvm", escape_commas(&disk.display().to_string())),
        "-device".into(),
        "nvme,serial=tileos,drive=nvm".into(),
    ]
}

/// The QEMU arguments that connect COM2 (I/O ports 0x2f8, IRQ 3: the sensors domain's
/// serial link, docs/sensors.md) to the tile simulator (`tools/tile-sim`) listening on TCP
/// `host:port`. QEMU connects in the background and again every second after the
/// simulator closes the connection (or before it listens), so the guest never waits for it.
pub fn sensor_link_args(host: &str, port: u16) -> Vec<String> {
    vec![
        "-chardev".into(),
        format!("socket,id=sensors,host={},port={port},reconnect=1", escape_commas(host)),
        "-device".into(),
        "isa-serial,chardev=sensors,index=1".into(),
    ]
}

/// Guest TCP port of the net-client domain (the example user of the socket protocol).
pub const CLIENT_TCP_PORT: u16 = 7070;
/// Guest UDP port of the net-client domain.
pub const CLIENT_UDP_PORT: u16 = 5000;
/// Guest TCP port of the update agent (`tileos_tilectl_wire::PORT`, docs/tilectl.md).
pub const AGENT_PORT: u16 = 7700;

impl TileDevices {
    /// The QEMU arguments that add these devices.
    pub fn args(&self) -> Vec<String> {
        ["-vga".into(), "none".into(), "-device".into(), "virtio-gpu-pci".into()]
            .into_iter()
            .chain(nvme_disk_args(&self.disk))
            .chain(forwarded_network_with(
                self.tcp_port,
                self.udp_port,
                &[
                    Forward { udp: false, host: self.client_tcp_port, guest: CLIENT_TCP_PORT },
                    Forward { udp: true, host: self.client_udp_port, guest: CLIENT_UDP_PORT },
                    Forward { udp: false, host: self.agent_port, guest: AGENT_PORT },
                ],
            ))
            .collect()
    }
}

/// QEMU arguments for a virtio network device on QEMU's user network with host TCP port
/// `tcp_port` forwarded to the tile status service (guest TCP 8080) and host UDP port
/// `udp_port` to the UDP echo (guest UDP 7).
pub fn forwarded_network(tcp_port: u16, udp_port: u16) -> Vec<String> {
    forwarded_network_with(tcp_port, udp_port, &[])
}

/// A further port forwarded from the host's loopback into the tile.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Forward {
    /// UDP (else TCP).
    pub udp: bool,
    /// Port on the host's 127.0.0.1.
    pub host: u16,
    /// Port on the tile's address.
    pub guest: u16,
}

/// As [`forwarded_network`], with the `extra` forwards after the two services'.
pub fn forwarded_network_with(tcp_port: u16, udp_port: u16, extra: &[Forward]) -> Vec<String> {
    let mut netdev = format!("user,id=n0,hostfwd=tcp:127.0.0.1:{tcp_port}-:8080,hostfwd=udp:127.0.0.1:{udp_port}-:7");
    for forward in extra {
        let protocol = if forward.udp { "udp" } else { "tcp" };
        netdev.push_str(&format!(",hostfwd={protocol}:127.0.0.1:{}-:{}", forward.host, forward.guest));
    }
    vec!["-netdev".into(), netdev, "-device".into(), "virtio-net-pci,netdev=n0".into()]
}

/// A file loaded next to the kernel as a Multiboot module.
#[derive(Clone, Debug)]
pub struct BootModule {
    /// File to load.
    pub path: PathBuf,
    /// The module's command line (its name first, by convention).
    pub cmdline: String,
}

/// What to boot.
#[derive(Clone, Debug)]
pub enum Boot {
    /// QEMU's own Multiboot loader (`-kernel`), which needs the ELF32 form of the kernel.
    Kernel {
        /// The kernel as ELF32 (see the Makefile's objcopy step).
        kernel: PathBuf,
        /// Kernel command line.
        cmdline: String,
        /// Boot modules, in order.
        modules: Vec<BootModule>,
    },
    /// A GRUB ISO image, booted as a CD-ROM exactly as on real hardware.
    Iso(PathBuf),
}

/// QEMU's option syntax doubles commas inside a value.
fn escape_commas(text: &str) -> String {
    text.replace(',', ",,")
}

impl Machine {
    /// QEMU arguments for this machine booting `boot`, without the serial and monitor options.
    pub fn args(&self, boot: &Boot) -> Vec<String> {
        let mut args: Vec<String> = [
            "-machine",
            if self.iommu { "q35" } else { "pc" },
            "-cpu",
            CPU,
            "-m",
            &format!("{}M", self.memory_mib),
            "-no-reboot",
            "-display",
            "none",
            "-device",
            "isa-debug-exit,iobase=0xf4,iosize=0x04",
        ]
        .iter()
        .map(|arg| arg.to_string())
        .collect();
        if self.iommu {
            args.extend(["-device", "intel-iommu,intremap=off"].map(String::from));
        }
        if self.icount {
            args.extend(["-icount", "shift=0,sleep=off"].map(String::from));
        }
        if self.gdb {
            args.extend(["-s", "-S"].map(String::from));
        }
        if self.cpus > 1 {
            args.extend(["-smp".to_string(), self.cpus.to_string()]);
        }
        args.extend(self.extra_args.iter().cloned());
        match boot {
            Boot::Kernel { kernel, cmdline, modules } => {
                args.push("-kernel".into());
                args.push(kernel.display().to_string());
                if !cmdline.is_empty() {
                    args.push("-append".into());
                    args.push(cmdline.clone());
                }
                if !modules.is_empty() {
                    let list: Vec<String> = modules
                        .iter()
                        .map(|module| {
                            let entry = format!("{} {}", module.path.display(), module.cmdline);
                            escape_commas(entry.trim_end())
                        })
                        .collect();
                    args.push("-initrd".into());
                    args.push(list.join(","));
                }
            }
            Boot::Iso(iso) => {
                args.push("-cdrom".into());
                args.push(iso.display().to_string());
                args.push("-boot".into());
                args.push("d".into());
            }
        }
        args
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn module_list_escapes_commas_and_joins_modules() {
        let boot = Boot::Kernel {
            kernel: "k.elf32".into(),
            cmdline: "tileos.test=boot".into(),
            modules: vec![
                BootModule { path: "a,b.elf".into(), cmdline: "rootserver".into() },
                BootModule { path: "c.bin".into(), cmdline: String::new() },
            ],
        };
        let args = Machine::default().args(&boot);
        let initrd = args.iter().position(|a| a == "-initrd").unwrap();
        assert_eq!(args[initrd + 1], "a,,b.elf rootserver,c.bin");
        let append = args.iter().position(|a| a == "-append").unwrap();
        assert_eq!(args[append + 1], "tileos.test=boot");
    }

    #[test]
    fn icount_and_gdb_add_their_options() {
        let machine = Machine { icount: true, gdb: true, ..Machine::default() };
        let args = machine.args(&Boot::Iso("x.iso".into()));
        assert!(args.windows(2).any(|w| w == ["-icount", "shift=0,sleep=off"]));
        assert!(args.contains(&"-S".to_string()));
        assert!(args.windows(2).any(|w| w == ["-cdrom", "x.iso"]));
    }

    #[test]
    fn one_cpu_is_the_default_and_more_add_smp() {
        let single = Machine::default().args(&Boot::Iso("x.iso".into()));
        assert!(!single.contains(&"-smp".to_string()));
        let args = Machine { cpus: 2, ..Machine::default() }.args(&Boot::Iso("x.iso".into()));
        assert!(args.windows(2).any(|w| w == ["-smp", "2"]));
    }

    #[test]
    fn tile_devices_name_disk_and_forwarded_ports() {
        let devices = TileDevices {
            disk: "build/a,b.img".into(),
            tcp_port: 18080,
            udp_port: 17007,
            client_tcp_port: 17070,
            client_udp_port: 15000,
            agent_port: 17700,
        };
        let args = devices.args();
        assert!(args.windows(2).any(|w| w == ["-drive", "file=build/a,,b.img,if=none,format=raw,id=nvm"]));
        assert!(args.windows(2).any(|w| w
            == [
                "-netdev",
                "user,id=n0,hostfwd=tcp:127.0.0.1:18080-:8080,hostfwd=udp:127.0.0.1:17007-:7,hostfwd=tcp:127.0.0.1:17070-:7070,hostfwd=udp:127.0.0.1:15000-:5000,hostfwd=tcp:127.0.0.1:17700-:7700"
            ]));
        assert!(args.windows(2).any(|w| w == ["-device", "virtio-gpu-pci"]));
        assert!(args.windows(2).any(|w| w == ["-vga", "none"]));
    }

    #[test]
    fn the_sensor_link_is_com2_on_a_reconnecting_socket() {
        assert_eq!(
            sensor_link_args("127.0.0.1", 7800),
            ["-chardev", "socket,id=sensors,host=127.0.0.1,port=7800,reconnect=1", "-device", "isa-serial,chardev=sensors,index=1"]
        );
    }

    #[test]
    fn the_iommu_machine_is_q35_with_intel_iommu_before_the_devices() {
        let machine = Machine { iommu: true, extra_args: vec!["-device".into(), "nvme,drive=nvm".into()], ..Machine::default() };
        let args = machine.args(&Boot::Iso("x.iso".into()));
        assert!(args.windows(2).any(|w| w == ["-machine", "q35"]));
        let iommu = args.iter().position(|a| a == "intel-iommu,intremap=off").expect("the IOMMU device");
        assert!(iommu < args.iter().position(|a| a == "nvme,drive=nvm").unwrap(), "created before the devices");
        assert!(Machine::default().args(&Boot::Iso("x.iso".into())).windows(2).any(|w| w == ["-machine", "pc"]));
    }

    #[test]
    fn extra_arguments_follow_the_machine_options() {
        let plain = Machine::default().args(&Boot::Iso("x.iso".into()));
        let machine = Machine { extra_args: vec!["-device".into(), "nvme,drive=nvm".into()], ..Machine::default() };
        let args = machine.args(&Boot::Iso("x.iso".into()));
        assert_eq!(args.len(), plain.len() + 2);
        assert!(args.windows(2).any(|w| w == ["-device", "nvme,drive=nvm"]));
    }
}
