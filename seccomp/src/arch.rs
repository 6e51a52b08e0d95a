//! The architecture a profile is resolved for.

use std::fmt;
use std::str::FromStr;

use oci_spec::runtime::Arch;

use crate::SeccompError;

/// A Linux architecture, named as libseccomp-golang names it (`amd64`, `arm64`, ...).
///
/// Those names are the ones used by `includes.arches` / `excludes.arches` in
/// Podman/Docker profiles; [`TargetArch::seccomp_arch`] gives the matching
/// `SCMP_ARCH_*` value used by `archMap` and by the OCI spec.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TargetArch {
    /// 32-bit x86 (`x86`).
    X86,
    /// x86-64 (`amd64`).
    Amd64,
    /// x32 ABI (`x32`).
    X32,
    /// 32-bit ARM (`arm`).
    Arm,
    /// AArch64 (`arm64`).
    Arm64,
    /// MIPS big-endian (`mips`).
    Mips,
    /// MIPS little-endian (`mipsel`).
    Mipsel,
    /// MIPS64 big-endian (`mips64`).
    Mips64,
    /// MIPS64 little-endian (`mipsel64`).
    Mipsel64,
    /// MIPS64 n32 ABI big-endian (`mips64n32`).
    Mips64N32,
    /// MIPS64 n32 ABI little-endian (`mipsel64n32`).
    Mipsel64N32,
    /// 32-bit PowerPC (`ppc`).
    Ppc,
    /// PowerPC64 big-endian (`ppc64`).
    Ppc64,
    /// PowerPC64 little-endian (`ppc64le`).
    Ppc64Le,
    /// 31-bit s390 (`s390`).
    S390,
    /// s390x (`s390x`).
    S390X,
    /// RISC-V 64 (`riscv64`).
    Riscv64,
    /// LoongArch64 (`loong64`).
    Loong64,
}

const ALL: [TargetArch; 18] = [
    TargetArch::X86,
    TargetArch::Amd64,
    TargetArch::X32,
    TargetArch::Arm,
    TargetArch::Arm64,
    TargetArch::Mips,
    TargetArch::Mipsel,
    TargetArch::Mips64,
    TargetArch::Mipsel64,
    TargetArch::Mips64N32,
    TargetArch::Mipsel64N32,
    TargetArch::Ppc,
    TargetArch::Ppc64,
    TargetArch::Ppc64Le,
    TargetArch::S390,
    TargetArch::S390X,
    TargetArch::Riscv64,
    TargetArch::Loong64,
];

impl TargetArch {
    /// Every architecture this type knows.
    pub const ALL: [TargetArch; 18] = ALL;

    /// The architecture this crate was compiled for, or `None` on an
    /// architecture seccomp profiles have no name for.
    pub fn native() -> Option<Self> {
        if cfg!(target_arch = "x86_64") {
            if cfg!(target_pointer_width = "32") {
                Some(Self::X32)
            } else {
                Some(Self::Amd64)
            }
        } else if cfg!(target_arch = "x86") {
            Some(Self::X86)
        } else if cfg!(target_arch = "aarch64") {
            Some(Self::Arm64)
        } else if cfg!(target_arch = "arm") {
            Some(Self::Arm)
        } else if cfg!(target_arch = "mips") {
            Some(pick_endian(Self::Mipsel, Self::Mips))
        } else if cfg!(target_arch = "mips64") {
            if cfg!(target_pointer_width = "32") {
                Some(pick_endian(Self::Mipsel64N32, Self::Mips64N32))
            } else {
                Some(pick_endian(Self::Mipsel64, Self::Mips64))
            }
        } else if cfg!(target_arch = "powerpc") {
            Some(Self::Ppc)
        } else if cfg!(target_arch = "powerpc64") {
            Some(pick_endian(Self::Ppc64Le, Self::Ppc64))
        } else if cfg!(target_arch = "s390x") {
            Some(Self::S390X)
        } else if cfg!(target_arch = "riscv64") {
            Some(Self::Riscv64)
        } else if cfg!(target_arch = "loongarch64") {
            Some(Self::Loong64)
        } else {
            None
        }
    }

    /// The name used in `includes.arches` / `excludes.arches` (libseccomp-golang's name).
    pub fn name(self) -> &'static str {
        match self {
            Self::X86 => "x86",
            Self::Amd64 => "amd64",
            Self::X32 => "x32",
            Self::Arm => "arm",
            Self::Arm64 => "arm64",
            Self::Mips => "mips",
            Self::Mipsel => "mipsel",
            Self::Mips64 => "mips64",
            Self::Mipsel64 => "mipsel64",
            Self::Mips64N32 => "mips64n32",
            Self::Mipsel64N32 => "mipsel64n32",
            Self::Ppc => "ppc",
            Self::Ppc64 => "ppc64",
            Self::Ppc64Le => "ppc64le",
            Self::S390 => "s390",
            Self::S390X => "s390x",
            Self::Riscv64 => "riscv64",
            Self::Loong64 => "loong64",
        }
    }

    /// The matching `SCMP_ARCH_*` value.
    pub fn seccomp_arch(self) -> Arch {
        match self {
            Self::X86 => Arch::ScmpArchX86,
            Self::Amd64 => Arch::ScmpArchX86_64,
            Self::X32 => Arch::ScmpArchX32,
            Self::Arm => Arch::ScmpArchArm,
            Self::Arm64 => Arch::ScmpArchAarch64,
            Self::Mips => Arch::ScmpArchMips,
            Self::Mipsel => Arch::ScmpArchMipsel,
            Self::Mips64 => Arch::ScmpArchMips64,
            Self::Mipsel64 => Arch::ScmpArchMipsel64,
            Self::Mips64N32 => Arch::ScmpArchMips64n32,
            Self::Mipsel64N32 => Arch::ScmpArchMipsel64n32,
            Self::Ppc => Arch::ScmpArchPpc,
            Self::Ppc64 => Arch::ScmpArchPpc64,
            Self::Ppc64Le => Arch::ScmpArchPpc64le,
            Self::S390 => Arch::ScmpArchS390,
            Self::S390X => Arch::ScmpArchS390x,
            Self::Riscv64 => Arch::ScmpArchRiscv64,
            Self::Loong64 => Arch::ScmpArchLoongarch64,
        }
    }

    /// The value of `ENOSYS` for processes of this architecture
    /// (MIPS numbers its errors differently from every other Linux architecture).
    pub fn enosys(self) -> u32 {
        match self {
            Self::Mips
            | Self::Mipsel
            | Self::Mips64
            | Self::Mipsel64
            | Self::Mips64N32
            | Self::Mipsel64N32 => 89,
            _ => 38,
        }
    }
}

fn pick_endian(little: TargetArch, big: TargetArch) -> TargetArch {
    if cfg!(target_endian = "little") {
        little
    } else {
        big
    }
}

impl fmt::Display for TargetArch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for TargetArch {
    type Err = SeccompError;

    /// Accepts the libseccomp-golang name (`amd64`), the kernel/Rust name
    /// (`x86_64`, `aarch64`, `i686`, ...) or the `SCMP_ARCH_*` name, ignoring case.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let lower = s.trim().to_ascii_lowercase();
        let wanted = lower.strip_prefix("scmp_arch_").unwrap_or(&lower);
        let alias = match wanted {
            "386" | "i386" | "i486" | "i586" | "i686" => Some(Self::X86),
            "x86_64" => Some(Self::Amd64),
            "aarch64" => Some(Self::Arm64),
            "armv7l" | "armv6l" | "armhf" | "armel" => Some(Self::Arm),
            "powerpc" => Some(Self::Ppc),
            "powerpc64" => Some(Self::Ppc64),
            "powerpc64le" => Some(Self::Ppc64Le),
            "loongarch64" => Some(Self::Loong64),
            _ => None,
        };
        alias
            .or_else(|| ALL.into_iter().find(|a| a.name() == wanted))
            .ok_or_else(|| SeccompError::UnknownArch(s.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for arch in TargetArch::ALL {
            assert_eq!(arch.name().parse::<TargetArch>().ok(), Some(arch));
            let scmp = serde_json::to_value(arch.seccomp_arch()).ok();
            let scmp = scmp.as_ref().and_then(|v| v.as_str()).unwrap_or_default();
            assert_eq!(scmp.parse::<TargetArch>().ok(), Some(arch), "{scmp}");
        }
    }

    #[test]
    fn aliases() {
        assert_eq!("x86_64".parse::<TargetArch>().ok(), Some(TargetArch::Amd64));
        assert_eq!(
            "AARCH64".parse::<TargetArch>().ok(),
            Some(TargetArch::Arm64)
        );
        assert_eq!(
            "SCMP_ARCH_X86_64".parse::<TargetArch>().ok(),
            Some(TargetArch::Amd64)
        );
        assert!(matches!(
            "vax".parse::<TargetArch>(),
            Err(SeccompError::UnknownArch(name)) if name == "vax"
        ));
    }

    #[test]
    #[cfg(all(target_arch = "x86_64", target_pointer_width = "64"))]
    fn native_is_amd64() {
        assert_eq!(TargetArch::native(), Some(TargetArch::Amd64));
    }

    #[test]
    fn enosys() {
        assert_eq!(TargetArch::Amd64.enosys(), 38);
        assert_eq!(TargetArch::Arm64.enosys(), 38);
        assert_eq!(TargetArch::Mipsel64.enosys(), 89);
    }
}
