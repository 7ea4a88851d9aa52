//! A private PostgreSQL cluster under `./.data/postgres`, used when no server answers at the
//! default address but PostgreSQL's server binaries are installed. It listens on a loopback
//! port chosen once and remembered, and is reused by later runs.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context as _};

pub struct Cluster {
    pub url: String,
    pub data_dir: PathBuf,
    pub port: u16,
}

const PORT_FILE: &str = "internal-store.port";

pub async fn start_or_reuse() -> anyhow::Result<Cluster> {
    tokio::task::spawn_blocking(start_blocking)
        .await
        .context("cluster start-up task panicked")?
}

fn start_blocking() -> anyhow::Result<Cluster> {
    let bin = find_bin_dir().context("PostgreSQL's initdb/pg_ctl are not installed")?;
    let root = std::env::current_dir()?.join(".data");
    let data_dir = root.join("postgres");
    let as_root = is_root();
    if !data_dir.join("PG_VERSION").exists() {
        std::fs::create_dir_all(&data_dir)?;
        if as_root {
            // initdb refuses to run as root: the cluster belongs to the `postgres` system user.
            run(Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(&root))?;
        }
        let mut initdb = command_as_owner(&bin.join("initdb"), as_root);
        initdb.arg("-D").arg(&data_dir).args([
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--no-instructions",
        ]);
        run(&mut initdb).context("initdb failed")?;
    }
    let port_file = data_dir.join(PORT_FILE);
    let port = match std::fs::read_to_string(&port_file)
        .ok()
        .and_then(|s| s.trim().parse::<u16>().ok())
    {
        Some(port) => port,
        None => {
            let port = free_port()?;
            std::fs::write(&port_file, port.to_string())?;
            port
        }
    };
    let mut status = command_as_owner(&bin.join("pg_ctl"), as_root);
    status.arg("-D").arg(&data_dir).arg("status");
    let running = status.output().map(|o| o.status.success()).unwrap_or(false);
    if !running {
        let mut start = command_as_owner(&bin.join("pg_ctl"), as_root);
        start
            .arg("-D")
            .arg(&data_dir)
            .arg("-l")
            .arg(data_dir.join("server.log"))
            .arg("-o")
            .arg(format!(
                "-p {port} -c listen_addresses=127.0.0.1 -c unix_socket_directories=''"
            ))
            .args(["-w", "-t", "30", "start"]);
        run(&mut start).context("pg_ctl start failed (see .data/postgres/server.log)")?;
    }
    Ok(Cluster {
        url: format!("postgres://postgres@127.0.0.1:{port}/internal_store"),
        data_dir,
        port,
    })
}

fn find_bin_dir() -> Option<PathBuf> {
    let on_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .find(|dir| dir.join("initdb").is_file() && dir.join("pg_ctl").is_file())
    });
    on_path.or_else(|| {
        let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
            .ok()?
            .filter_map(|entry| entry.ok().map(|e| e.path().join("bin")))
            .filter(|bin| bin.join("initdb").is_file())
            .collect();
        versions.sort_by_key(|p| {
            p.parent()
                .and_then(Path::file_name)
                .and_then(|n| n.to_str())
                .and_then(|n| n.parse::<u32>().ok())
                .unwrap_or(0)
        });
        versions.pop()
    })
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

fn command_as_owner(program: &Path, as_root: bool) -> Command {
    if as_root {
        let mut command = Command::new("runuser");
        command.args(["-u", "postgres", "--"]).arg(program);
        // The caller's working directory may be closed to the postgres user.
        command.current_dir("/");
        command
    } else {
        Command::new(program)
    }
}

fn run(command: &mut Command) -> anyhow::Result<()> {
    let output = command
        .output()
        .with_context(|| format!("running {command:?}"))?;
    if !output.status.success() {
        bail!(
            "{:?} exited with {}: {}",
            command.get_program(),
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(())
}

fn free_port() -> anyhow::Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}
