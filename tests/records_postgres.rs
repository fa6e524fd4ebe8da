//! Consent records in PostgreSQL, against a real server the test starts: a
//! throwaway cluster (`initdb`, `pg_ctl`) in a temporary directory on an ephemeral
//! port. Without the PostgreSQL binaries the tests say they are skipped, and why,
//! and pass. As root (CI), the cluster runs as the `postgres` user, since the
//! server refuses to run as root.

mod common;

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{CATEGORIES_AND_RULES, fixed, get, send};
use consentry::config::records::StoreUrl;
use consentry::ops::records::record::{Event, Record};
use consentry::ops::records::store::{self, Query};

const PORTAL: &str = "portal.test";

/// The directory of `initdb` and `pg_ctl`: `PG_BIN`, else the newest Debian
/// `/usr/lib/postgresql/N/bin`, else `PATH`.
fn pg_bin() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("PG_BIN") {
        return Some(PathBuf::from(dir));
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let n = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((n, bin))
        })
        .collect();
    versions.sort();
    if let Some((_, bin)) = versions.pop() {
        return Some(bin);
    }
    let found = Command::new("sh")
        .args(["-c", "command -v initdb"])
        .output()
        .ok()?;
    let path = String::from_utf8(found.stdout).ok()?;
    Path::new(path.trim()).parent().map(Path::to_path_buf)
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A running throwaway cluster, stopped and removed on drop.
struct Cluster {
    dir: PathBuf,
    bin: PathBuf,
    port: u16,
    as_postgres: bool,
}

impl Cluster {
    /// Starts one, or says why not (then the test is skipped).
    fn start(name: &str) -> Result<Cluster, String> {
        let bin = pg_bin().ok_or("no PostgreSQL binaries (initdb, pg_ctl) found")?;
        let dir = std::env::temp_dir().join(format!("consentry-pg-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        let as_postgres = is_root();
        if as_postgres {
            let chown = Command::new("chown")
                .args(["-R", "postgres:"])
                .arg(&dir)
                .status()
                .map_err(|e| e.to_string())?;
            if !chown.success() {
                return Err("cannot give the cluster's directory to the postgres user".into());
            }
        }
        let cluster = Cluster {
            dir,
            bin,
            port: free_port(),
            as_postgres,
        };
        let data = cluster.dir.join("data");
        cluster.run(
            "initdb",
            &[
                "-D",
                &data.display().to_string(),
                "-A",
                "trust",
                "-U",
                "consentry",
                "-E",
                "UTF8",
                "--no-sync",
            ],
        )?;
        cluster.pg_ctl_start()?;
        Ok(cluster)
    }

    fn run(&self, program: &str, args: &[&str]) -> Result<(), String> {
        let exe = self.bin.join(program);
        let mut command = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&exe);
            c
        } else {
            Command::new(&exe)
        };
        let out = command
            .args(args)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("{}: {e}", exe.display()))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(format!(
                "{program} failed: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ))
        }
    }

    fn pg_ctl_start(&self) -> Result<(), String> {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=50",
            self.port,
            self.dir.display()
        );
        self.run(
            "pg_ctl",
            &[
                "-D",
                &self.dir.join("data").display().to_string(),
                "-o",
                &options,
                "-l",
                &self.dir.join("log").display().to_string(),
                "-w",
                "-t",
                "60",
                "start",
            ],
        )
    }

    fn stop(&self) {
        let _ = self.run(
            "pg_ctl",
            &[
                "-D",
                &self.dir.join("data").display().to_string(),
                "-m",
                "immediate",
                "-w",
                "stop",
            ],
        );
    }

    fn url(&self) -> String {
        format!("postgres://consentry@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Starts a cluster or prints why the test is skipped.
fn cluster_or_skip(name: &str) -> Option<Cluster> {
    match Cluster::start(name) {
        Ok(cluster) => Some(cluster),
        Err(why) => {
            eprintln!(
                "SKIPPED: the PostgreSQL test `{name}` needs a local PostgreSQL server: {why}"
            );
            None
        }
    }
}

fn yaml(upstream: &str, format: &str, store: &str, listen: &str, admin: &str) -> String {
    format!(
        "listen:\n  http: {listen}\nadmin:\n  listen: {admin}\nconsent:\n  format: {format}\n{CATEGORIES_AND_RULES}policy:\n  path: /terms/cookies-policy/\nsites:\n  - name: portal\n    hosts: [portal.test]\n    upstream: {upstream}\nrecords:\n  store: \"{store}\"\n"
    )
}

async fn records(store: &str) -> Vec<Record> {
    let url = StoreUrl::parse(store, Path::new(".")).unwrap();
    let query = Query {
        limit: 10_000,
        ..Query::default()
    };
    store::query(&url, &query)
        .await
        .map(|rows| rows.into_iter().map(|(_, r)| r).collect())
        .unwrap_or_default()
}

async fn records_when(store: &str, n: usize) -> Vec<Record> {
    let started = Instant::now();
    loop {
        let found = records(store).await;
        if found.len() >= n || started.elapsed() > Duration::from_secs(10) {
            return found;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn metric(admin: SocketAddr, name: &str) -> u64 {
    let text = get(admin, "admin", "/metrics", &[]).await.text();
    text.lines()
        .filter(|l| l.starts_with(name) && l[name.len()..].starts_with([' ', '{']))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as u64
}

/// A proxy process of the real binary, killed on drop.
struct Process {
    child: Child,
    http: SocketAddr,
    admin: SocketAddr,
    _dir: PathBuf,
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self._dir);
    }
}

async fn process(name: &str, upstream: &str, store: &str) -> Process {
    let dir = std::env::temp_dir().join(format!("consentry-pg-proc-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let http: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let admin: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let file = dir.join("proxy.yaml");
    std::fs::write(
        &file,
        yaml(
            upstream,
            "onetrust",
            store,
            &http.to_string(),
            &admin.to_string(),
        ),
    )
    .unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_consentry"))
        .arg("--config")
        .arg(&file)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let process = Process {
        child,
        http,
        admin,
        _dir: dir,
    };
    let started = Instant::now();
    loop {
        let ready = tokio::time::timeout(
            Duration::from_secs(2),
            tokio::net::TcpStream::connect(admin),
        )
        .await;
        if matches!(ready, Ok(Ok(_))) {
            let text = get(admin, "admin", "/readyz", &[]).await.text();
            if text.contains("up") {
                break;
            }
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the proxy process {name} did not become ready with its store"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    process
}

/// Sends `n` requests, each with a new OneTrust consent state `PREFIX-i`: every one
/// answered 200, none waiting on the store.
async fn send_new_states(addr: SocketAddr, prefix: &str, n: usize) {
    let started = Instant::now();
    for i in 0..n {
        let cookie = format!("OptanonConsent=consentId={prefix}-{i}&groups=C0001%3A1");
        assert_eq!(
            get(addr, PORTAL, "/", &[("cookie", &cookie)]).await.status,
            200
        );
    }
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "no request waited"
    );
}

/// Waits (15 s at most) until a metric reaches `at_least`, and returns its value.
async fn metric_reaching(admin: SocketAddr, name: &str, at_least: u64) -> u64 {
    let waited = Instant::now();
    while metric(admin, name).await < at_least && waited.elapsed() < Duration::from_secs(15) {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    metric(admin, name).await
}

/// Sends a new state (`cookie(ms)`) every 300 ms until the store holds `n`
/// records (20 s at most): recording has resumed.
async fn until_recorded(addr: SocketAddr, store: &str, n: usize, cookie: impl Fn(u128) -> String) {
    let waited = Instant::now();
    loop {
        get(
            addr,
            PORTAL,
            "/",
            &[("cookie", &cookie(waited.elapsed().as_millis()))],
        )
        .await;
        if records(store).await.len() >= n || waited.elapsed() > Duration::from_secs(20) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    assert!(records(store).await.len() >= n, "recording resumed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_proxy_processes_share_one_database_and_record_each_state_once() {
    let Some(cluster) = cluster_or_skip("replicas") else {
        return;
    };
    let store = cluster.url();
    let up = fixed(200, &[], "ok").await;
    let a = process("a", &up.url(), &store).await;
    let b = process("b", &up.url(), &store).await;

    // The same new state through both replicas, many times and at once: one record.
    let same = "OptanonConsent=consentId=shared-1&groups=C0001%3A1%2CC0002%3A1";
    let mut burst = Vec::new();
    for i in 0..20 {
        let addr = if i % 2 == 0 { a.http } else { b.http };
        burst.push(tokio::spawn(async move {
            get(addr, PORTAL, "/", &[("cookie", same)]).await.status
        }));
    }
    for request in burst {
        assert_eq!(request.await.unwrap(), 200);
    }
    // Different states, one through each replica: one record each.
    get(
        a.http,
        PORTAL,
        "/",
        &[("cookie", "OptanonConsent=consentId=only-a&groups=C0001%3A1")],
    )
    .await;
    get(
        b.http,
        PORTAL,
        "/",
        &[("cookie", "OptanonConsent=consentId=only-b&groups=C0001%3A1")],
    )
    .await;
    let found = records_when(&store, 3).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let found_later = records(&store).await;
    assert_eq!(found_later.len(), 3, "{found:?}");
    let mut ids: Vec<&str> = found_later.iter().map(|r| r.consent_id.as_str()).collect();
    ids.sort();
    assert_eq!(ids, ["only-a", "only-b", "shared-1"]);
    assert!(found_later.iter().all(|r| r.event == Event::Observed));
    let written = metric(a.admin, "consentry_records_written_total").await
        + metric(b.admin, "consentry_records_written_total").await;
    assert_eq!(written, 3, "one replica wrote each");

    // The records command reads the shared database.
    let file = a._dir.join("proxy.yaml");
    let out = Command::new(env!("CARGO_BIN_EXE_consentry"))
        .args(["records", "--consent-id", "shared-1", "--config"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn choices_are_recorded_and_a_database_that_disappears_loses_no_request() {
    let Some(cluster) = cluster_or_skip("outage") else {
        return;
    };
    let store = cluster.url();
    let up = fixed(200, &[], "ok").await;
    let p = common::proxy(&yaml(
        &up.url(),
        "json",
        &store,
        "127.0.0.1:0",
        "127.0.0.1:0",
    ))
    .await;
    let (addr, admin) = (p.http_addr.unwrap(), p.admin_addr.unwrap());
    let form = [
        ("content-type", "application/x-www-form-urlencoded"),
        ("origin", "http://portal.test"),
    ];
    let got = send(
        addr,
        "POST",
        PORTAL,
        "/.consentry/consent",
        &form,
        "choice=accept_all",
    )
    .await;
    assert_eq!(got.status, 303);
    let found = records(&store).await;
    assert_eq!(found.len(), 1, "written before the endpoint answered");
    assert_eq!(found[0].event, Event::Given);
    let url = StoreUrl::parse(&store, Path::new(".")).unwrap();
    let sha = found[0].policy_sha256.clone().unwrap();
    assert!(store::policy_text(&url, &sha).await.unwrap().is_some());

    // The database goes away: requests go on, as fast, and losses are counted.
    cluster.stop();
    let started = Instant::now();
    for i in 0..20 {
        let cookie = format!("cookies_preferences={{\"statistics\":true,\"n\":{i}}}");
        assert_eq!(
            get(addr, PORTAL, "/", &[("cookie", &cookie)]).await.status,
            200
        );
    }
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "requests did not wait on the database"
    );
    let consent = send(
        addr,
        "POST",
        PORTAL,
        "/.consentry/consent",
        &form,
        "choice=refuse_all",
    )
    .await;
    assert_eq!(consent.status, 303, "the choice applies without its record");
    let waited = Instant::now();
    while metric(admin, "consentry_records_dropped_total").await < 21
        && waited.elapsed() < Duration::from_secs(15)
    {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(metric(admin, "consentry_records_dropped_total").await, 21);
    assert!(
        get(admin, "admin", "/readyz", &[])
            .await
            .text()
            .contains("DOWN")
    );

    // It comes back: records are written again.
    cluster.pg_ctl_start().unwrap();
    until_recorded(addr, &store, 2, |ms| {
        format!("cookies_preferences={{\"first_party\":true,\"t\":{ms}}}")
    })
    .await;
    p.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_that_refuses_writes_loses_no_request_and_says_why() {
    let Some(cluster) = cluster_or_skip("read-only") else {
        return;
    };
    let store = cluster.url();
    let up = fixed(200, &[], "ok").await;
    let p = common::proxy(&yaml(
        &up.url(),
        "onetrust",
        &store,
        "127.0.0.1:0",
        "127.0.0.1:0",
    ))
    .await;
    let (addr, admin) = (p.http_addr.unwrap(), p.admin_addr.unwrap());
    get(
        addr,
        PORTAL,
        "/",
        &[("cookie", "OptanonConsent=consentId=before&groups=C0001%3A1")],
    )
    .await;
    assert_eq!(records_when(&store, 1).await.len(), 1);

    // The database turns read-only, and the proxy's session is cut: every write
    // from now on is refused.
    let (db, connection) = tokio_postgres::connect(&store, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    db.batch_execute(
        "ALTER DATABASE postgres SET default_transaction_read_only = on; \
         SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE application_name = 'consentry' AND pid <> pg_backend_pid();",
    )
    .await
    .unwrap();
    send_new_states(addr, "refused", 10).await;
    assert_eq!(
        metric_reaching(admin, "consentry_records_dropped_total", 10).await,
        10
    );
    // The writer opens the store again (at most once a second) for the next record,
    // and the database says why it refuses.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let cookie = "OptanonConsent=consentId=refused-again&groups=C0001%3A1";
    get(addr, PORTAL, "/", &[("cookie", cookie)]).await;
    assert_eq!(
        metric_reaching(admin, "consentry_records_dropped_total", 11).await,
        11
    );
    let ready = get(admin, "admin", "/readyz", &[]).await.text();
    assert!(
        ready.contains("DOWN") && ready.contains("read-only"),
        "{ready}"
    );

    // Writable again: recording resumes.
    db.batch_execute("ALTER DATABASE postgres SET default_transaction_read_only = off")
        .await
        .unwrap();
    until_recorded(addr, &store, 2, |ms| {
        format!("OptanonConsent=consentId=after-{ms}&groups=C0001%3A1")
    })
    .await;
    p.shutdown().await;
}

/// A database whose disk fills up mid-run: every insert fails as PostgreSQL fails
/// it then (SQLSTATE 53100 `disk_full`, "could not extend file": raised here by a
/// trigger, since a real disk cannot be filled in a test). No request is lost or
/// delayed, the losses are counted and `/readyz` says why; once there is room
/// again, recording resumes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_whose_disk_fills_up_loses_no_request_and_says_why() {
    let Some(cluster) = cluster_or_skip("disk-full") else {
        return;
    };
    let store = cluster.url();
    let up = fixed(200, &[], "ok").await;
    let p = common::proxy(&yaml(
        &up.url(),
        "onetrust",
        &store,
        "127.0.0.1:0",
        "127.0.0.1:0",
    ))
    .await;
    let (addr, admin) = (p.http_addr.unwrap(), p.admin_addr.unwrap());
    get(
        addr,
        PORTAL,
        "/",
        &[("cookie", "OptanonConsent=consentId=before&groups=C0001%3A1")],
    )
    .await;
    assert_eq!(records_when(&store, 1).await.len(), 1);

    let (db, connection) = tokio_postgres::connect(&store, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    db.batch_execute(
        "CREATE FUNCTION consentry_test_disk_full() RETURNS trigger AS $$ BEGIN \
           RAISE EXCEPTION 'could not extend file \"base/5/16384\": No space left on device' \
             USING ERRCODE = 'disk_full'; \
         END $$ LANGUAGE plpgsql; \
         CREATE TRIGGER disk_full BEFORE INSERT ON consent_records \
           FOR EACH ROW EXECUTE FUNCTION consentry_test_disk_full();",
    )
    .await
    .unwrap();
    let dropped_before = metric(admin, "consentry_records_dropped_total").await;
    send_new_states(addr, "full", 10).await;
    assert_eq!(
        metric_reaching(
            admin,
            "consentry_records_dropped_total",
            dropped_before + 10
        )
        .await,
        dropped_before + 10
    );
    assert!(metric(admin, "consentry_records_store_errors_total").await > 0);
    let ready = get(admin, "admin", "/readyz", &[]).await.text();
    assert!(
        ready.contains("DOWN") && ready.contains("No space left"),
        "{ready}"
    );

    // Room again: recording resumes.
    db.batch_execute("DROP TRIGGER disk_full ON consent_records")
        .await
        .unwrap();
    until_recorded(addr, &store, 2, |ms| {
        format!("OptanonConsent=consentId=after-{ms}&groups=C0001%3A1")
    })
    .await;
    p.shutdown().await;
}
