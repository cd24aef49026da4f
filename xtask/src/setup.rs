//! What `cargo xtask ci` needs beyond Rust, installed on a fresh Debian machine: Python 3 with
//! pip and venv (the real-world guests, the Python package), a C and C++ compiler, pkg-config
//! and valgrind (the C library's tests). Missing packages are installed with `apt-get` when
//! running as root; otherwise the task says what is missing and goes on (the step that needs
//! it then fails with its own message).

use std::process::{Command, Stdio};

/// A requirement: how to tell it is there, and the Debian packages that provide it.
struct Need {
    what: &'static str,
    present: fn() -> bool,
    packages: &'static [&'static str],
}

fn command_exists(name: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {name}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

const NEEDS: &[Need] = &[
    Need {
        what: "python3 with pip and venv",
        present: || {
            Command::new("python3")
                .args(["-c", "import ensurepip, venv"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|status| status.success())
        },
        packages: &["python3-venv", "python3-pip"],
    },
    Need {
        what: "a C compiler (cc)",
        present: || command_exists("cc"),
        packages: &["gcc"],
    },
    Need {
        what: "a C++ compiler (c++)",
        present: || command_exists("c++"),
        packages: &["g++"],
    },
    Need {
        what: "pkg-config",
        present: || command_exists("pkg-config"),
        packages: &["pkg-config"],
    },
    Need {
        what: "valgrind",
        present: || command_exists("valgrind"),
        packages: &["valgrind"],
    },
];

/// Installs what is missing, if it can.
pub fn ensure() -> anyhow::Result<()> {
    let missing: Vec<&Need> = NEEDS.iter().filter(|need| !(need.present)()).collect();
    if missing.is_empty() {
        return Ok(());
    }
    let packages: Vec<&str> = missing
        .iter()
        .flat_map(|need| need.packages.iter().copied())
        .collect();
    let names: Vec<&str> = missing.iter().map(|need| need.what).collect();
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| String::from_utf8_lossy(&out.stdout).trim() == "0");
    if !root || !command_exists("apt-get") {
        println!(
            "warning: missing {}; install the Debian packages {}",
            names.join(", "),
            packages.join(" ")
        );
        return Ok(());
    }
    println!("==> apt-get install {}", packages.join(" "));
    let update = Command::new("apt-get").args(["update", "-qq"]).status()?;
    let install = Command::new("apt-get")
        .args(["install", "-y", "-qq"])
        .args(&packages)
        .stdout(Stdio::null())
        .status()?;
    if !update.success() || !install.success() {
        anyhow::bail!("apt-get could not install {}", packages.join(" "));
    }
    Ok(())
}
