//! What `cargo xtask ci` needs beyond Rust, installed on a fresh Debian machine: Python 3 with
//! pip and venv (the real-world guests, the Python package), a C and C++ compiler, pkg-config
//! and valgrind (the C library's tests), and PostgreSQL (the execution service's scale-out
//! tests), started, with the role and database the tests use ([`postgres`]). Missing packages are installed with `apt-get` when
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
    Need {
        what: "PostgreSQL",
        present: || command_exists("pg_ctlcluster") && command_exists("psql"),
        packages: &["postgresql"],
    },
];

/// The role, password and database of the tests (`sandbox_server::store::testing`).
const TEST_URL: &str = "postgres://sandbox:sandbox@127.0.0.1:5432/sandbox_test";

/// Makes PostgreSQL answer at [`TEST_URL`] (unless `SANDBOX_TEST_POSTGRES` names another
/// server): starts Debian's cluster (it runs as `postgres`, not root), creates the role
/// `sandbox` (may create databases: each test makes its own) and the database `sandbox_test`.
pub fn postgres() -> anyhow::Result<()> {
    if std::env::var_os("SANDBOX_TEST_POSTGRES").is_some() {
        return Ok(());
    }
    let answers = || {
        Command::new("psql")
            .args([TEST_URL, "-qAtc", "SELECT 1"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|status| status.success())
    };
    if answers() {
        return Ok(());
    }
    println!("==> starting PostgreSQL for the service's tests");
    let clusters = Command::new("pg_lsclusters")
        .arg("--no-header")
        .output()
        .map_err(|error| anyhow::anyhow!("pg_lsclusters: {error} (is postgresql installed?)"))?;
    let listing = String::from_utf8_lossy(&clusters.stdout).to_string();
    let mut fields = listing.lines().next().unwrap_or("").split_whitespace();
    let (version, cluster) = match (fields.next(), fields.next()) {
        (Some(version), Some(cluster)) => (version.to_string(), cluster.to_string()),
        _ => {
            // No cluster yet: make Debian's default one.
            let version = Command::new("sh")
                .args(["-c", "ls /usr/lib/postgresql | sort -n | tail -1"])
                .output()?;
            let version = String::from_utf8_lossy(&version.stdout).trim().to_string();
            run("pg_createcluster", &[&version, "main"])?;
            (version, "main".to_string())
        }
    };
    // Already running is fine.
    let _ = Command::new("pg_ctlcluster")
        .args([&version, &cluster, "start"])
        .status();
    let psql = |sql: &str| {
        Command::new("runuser")
            .args(["-u", "postgres", "--", "psql", "-qc", sql])
            .stdout(Stdio::null())
            .status()
    };
    let _ = psql("CREATE ROLE sandbox LOGIN CREATEDB PASSWORD 'sandbox'");
    let _ = psql("CREATE DATABASE sandbox_test OWNER sandbox");
    for _ in 0..50 {
        if answers() {
            return Ok(());
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    anyhow::bail!(
        "PostgreSQL does not answer at {TEST_URL} after starting cluster {version}/{cluster}"
    )
}

fn run(program: &str, args: &[&str]) -> anyhow::Result<()> {
    let status = Command::new(program).args(args).status()?;
    if !status.success() {
        anyhow::bail!("{program} {} failed with {status}", args.join(" "));
    }
    Ok(())
}

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
