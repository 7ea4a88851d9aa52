//! With nothing answering at the default address and no DATABASE_URL, the binary starts a
//! private PostgreSQL cluster under `./.data/postgres`, migrates it, and reuses it next time.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::Command;

fn migrate_in(dir: &Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_internal-store"))
        .arg("migrate")
        .current_dir(dir)
        .env_remove("DATABASE_URL")
        // Port 9 (discard) on loopback: nothing answers there.
        .env(
            "INTERNAL_STORE_DEFAULT_DATABASE_URL",
            "postgres://postgres@127.0.0.1:9/internal_store",
        )
        .env("RUST_LOG", "info")
        .output()
        .unwrap()
}

fn pg_bin(name: &str) -> Option<std::path::PathBuf> {
    let on_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(name))
            .find(|p| p.is_file())
    });
    on_path.or_else(|| {
        std::fs::read_dir("/usr/lib/postgresql")
            .ok()?
            .filter_map(|e| e.ok().map(|e| e.path().join("bin").join(name)))
            .find(|p| p.is_file())
    })
}

#[test]
fn a_private_cluster_is_started_and_reused_when_nothing_answers() {
    let Some(pg_ctl) = pg_bin("pg_ctl") else {
        eprintln!("PostgreSQL server binaries are not installed; nothing to test here");
        return;
    };
    let dir = std::env::temp_dir().join(format!("is-private-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    // The postgres system user (used when running as root) must be able to enter it.
    Command::new("chmod").arg("755").arg(&dir).status().unwrap();

    let first = migrate_in(&dir);
    let log = String::from_utf8_lossy(&first.stderr).to_string();
    let data = dir.join(".data/postgres");
    let stop = || {
        let as_root = Command::new("id")
            .arg("-u")
            .output()
            .map(|o| o.stdout == b"0\n")
            .unwrap_or(false);
        let mut command = if as_root {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&pg_ctl);
            c
        } else {
            Command::new(&pg_ctl)
        };
        command
            .current_dir("/")
            .arg("-D")
            .arg(&data)
            .args(["-m", "immediate", "stop"])
            .output()
            .unwrap();
    };
    let outcome = std::panic::catch_unwind(|| {
        assert!(first.status.success(), "{log}");
        assert!(
            log.contains("using the private PostgreSQL cluster"),
            "{log}"
        );
        assert!(data.join("PG_VERSION").is_file());
        let port: u16 = std::fs::read_to_string(data.join("internal-store.port"))
            .unwrap()
            .trim()
            .parse()
            .unwrap();

        // Second run: the same cluster and port, already running, nothing to migrate.
        let second = migrate_in(&dir);
        let log = String::from_utf8_lossy(&second.stderr).to_string();
        assert!(second.status.success(), "{log}");
        assert!(log.contains(&format!("port={port}")), "{log}");

        // It is a real database with our schema.
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            use diesel_async::RunQueryDsl;
            let url = format!("postgres://postgres@127.0.0.1:{port}/internal_store");
            let mut conn = internal_store::db::connect(&url).await.unwrap();
            diesel::sql_query("SELECT 1 FROM products LIMIT 1")
                .execute(&mut conn)
                .await
                .unwrap();
        });
    });
    stop();
    let _ = Command::new("rm").arg("-rf").arg(&dir).status();
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}
