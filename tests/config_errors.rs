//! `consentry check` on bad configurations: each validation rule reports
//! `PATH:LINE:COL: message` (the path as given) and exits 1.

use std::process::Command;

fn check(yaml: &str) -> (i32, String, String) {
    let dir = std::env::temp_dir().join(format!(
        "consentry-check-{}-{}",
        std::process::id(),
        yaml.len()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join(format!("p{:x}.yaml", fxhash(yaml)));
    std::fs::write(&file, yaml).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_consentry"))
        .args(["check", "--config"])
        .arg(&file)
        .output()
        .unwrap();
    let _ = std::fs::remove_file(&file);
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).replace(&file.display().to_string(), "FILE"),
    )
}

fn fxhash(s: &str) -> u64 {
    s.bytes().fold(0xcbf29ce484222325, |h, b| {
        (h ^ b as u64).wrapping_mul(0x100000001b3)
    })
}

const BASE: &str = "listen:\n  http: 127.0.0.1:8080\ncategories:\n  necessary: { required: true }\n  statistics: {}\ncookies:\n  - name: _ga*\n    category: statistics\nsites:\n  - name: a\n    hosts: [a.test]\n    upstream: http://127.0.0.1:8001\n";

fn assert_error(yaml: &str, expected: &str) {
    let (code, _, stderr) = check(yaml);
    assert_eq!(code, 1, "expected failure for:\n{yaml}\n{stderr}");
    assert!(
        stderr.contains(expected),
        "expected {expected:?} in:\n{stderr}"
    );
}

#[test]
fn the_shipped_configuration_is_valid_and_summarised() {
    let out = Command::new(env!("CARGO_BIN_EXE_consentry"))
        .args([
            "check",
            "--config",
            concat!(env!("CARGO_MANIFEST_DIR"), "/proxy.yaml"),
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("sites: 5"), "{stdout}");
    assert!(stdout.contains("categories: 4"), "{stdout}");
    assert!(stdout.contains("goldcoast.opendatasoft.com"), "{stdout}");
}

/// `consentry check | head -1` panicked (exit 101): `print!` panics on a closed pipe.
/// 2,000 sites make a summary larger than a pipe's buffer, so the write after the
/// reader has gone fails for sure.
#[test]
fn check_with_a_reader_that_stops_early_exits_cleanly() {
    use std::io::{BufRead, BufReader};
    let mut yaml = BASE.replace(
        "sites:\n  - name: a\n    hosts: [a.test]\n    upstream: http://127.0.0.1:8001\n",
        "sites:\n",
    );
    for i in 0..2000 {
        yaml.push_str(&format!(
            "  - name: site-{i}\n    hosts: [site-{i}.example.test]\n    upstream: http://127.0.0.1:8001\n"
        ));
    }
    let dir = std::env::temp_dir().join(format!("consentry-pipe-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("many-sites.yaml");
    std::fs::write(&file, &yaml).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_consentry"))
        .args(["check", "--config"])
        .arg(&file)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    // The reader is dropped here, as `head -1` exits.
    let out = child.wait_with_output().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(first.ends_with(": ok\n"), "{first}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{:?} {stderr}", out.status);
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn the_base_configuration_is_valid() {
    let (code, stdout, stderr) = check(BASE);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("sites: 1"));
}

#[test]
fn unknown_key_is_located() {
    assert_error(
        &BASE.replace(
            "  http: 127.0.0.1:8080",
            "  http: 127.0.0.1:8080\n  htps: 1",
        ),
        "FILE:3:3: listen: unknown field `htps`",
    );
}

#[test]
fn wrong_type_is_located() {
    assert_error(
        &BASE.replace("{ required: true }", "{ required: maybe }"),
        "FILE:4:26:",
    );
}

#[test]
fn unknown_category_in_a_rule() {
    assert_error(
        &BASE.replace("category: statistics", "category: stats"),
        "FILE:8:15: cookies[0].category: unknown category `stats`",
    );
}

#[test]
fn duplicate_host() {
    let yaml =
        format!("{BASE}  - name: b\n    hosts: [A.test]\n    upstream: http://127.0.0.1:8002\n");
    assert_error(
        &yaml,
        "FILE:14:13: sites[1].hosts[0]: host `A.test` is already served by site `a`",
    );
}

#[test]
fn duplicate_site_name() {
    let yaml =
        format!("{BASE}  - name: a\n    hosts: [b.test]\n    upstream: http://127.0.0.1:8002\n");
    assert_error(
        &yaml,
        "FILE:13:11: sites[1].name: site name `a` is already used",
    );
}

#[test]
fn bad_listen_address() {
    assert_error(
        &BASE.replace("127.0.0.1:8080", "localhost"),
        "FILE:2:9: listen.http: `localhost` is not an address",
    );
}

#[test]
fn bad_upstream_url() {
    assert_error(
        &BASE.replace("http://127.0.0.1:8001", "ftp://x"),
        "FILE:12:15: sites[0].upstream: `ftp://x` is not a usable upstream URL",
    );
    assert_error(
        &BASE.replace("http://127.0.0.1:8001", "not a url"),
        "sites[0].upstream",
    );
}

#[test]
fn empty_sites() {
    let yaml = BASE.split("sites:").next().unwrap().to_owned() + "sites: []\n";
    assert_error(&yaml, "sites: no sites");
}

#[test]
fn no_required_category() {
    assert_error(
        &BASE.replace("{ required: true }", "{}"),
        "no category is `required: true`",
    );
}

#[test]
fn unknown_consent_format_and_unclassified_policy() {
    assert_error(
        &format!("consent:\n  format: yaml\n{BASE}"),
        "FILE:2:11: consent.format: unknown consent format `yaml`",
    );
    assert_error(
        &format!("consent:\n  unclassified: maybe\n{BASE}"),
        "FILE:2:17: consent.unclassified: `maybe` is not one of block, allow, catalogue",
    );
}

#[test]
fn https_without_tls_and_unreadable_certificates() {
    assert_error(
        &BASE.replace("  http: 127.0.0.1:8080", "  https: 127.0.0.1:8443"),
        "listen.https: `listen.https` needs a `tls` section",
    );
    let yaml = format!(
        "tls:\n  certificates:\n    - cert: /nonexistent/c.pem\n      key: /nonexistent/k.pem\n{BASE}"
    );
    assert_error(
        &yaml,
        "FILE:3:13: tls.certificates[0].cert: cannot read /nonexistent/c.pem",
    );
}

#[test]
fn admin_on_a_public_port() {
    assert_error(
        &format!("admin:\n  listen: 0.0.0.0:8080\n{BASE}"),
        "admin.listen: the admin listener must not share port 8080",
    );
}

#[test]
fn policy_path_must_be_a_path() {
    assert_error(
        &format!("policy:\n  path: cookies\n{BASE}"),
        "FILE:2:9: policy.path: `cookies` is not a path",
    );
    assert_error(
        &format!("policy:\n  path: /.consentry/x\n{BASE}"),
        "reserved for consentry",
    );
    // A global key every site inherits is one error, not one per site (a review of
    // the docs' claims found it five times over the five portals).
    let three_sites = format!(
        "policy:\n  path: /.consentry/x\n{BASE}  - name: b\n    hosts: [b.test]\n    upstream: http://127.0.0.1:8002\n  - name: c\n    hosts: [c.test]\n    upstream: http://127.0.0.1:8003\n"
    );
    let (code, _, stderr) = check(&three_sites);
    assert_eq!(code, 1);
    assert_eq!(
        stderr.matches("reserved for consentry").count(),
        1,
        "{stderr}"
    );
}

#[test]
fn bad_durations_and_limits() {
    assert_error(&format!("timeouts:\n  idle: forever\n{BASE}"), "FILE:2:9:");
    assert_error(
        &format!("timeouts:\n  idle: 0s\n{BASE}"),
        "timeouts.idle: must be longer than zero",
    );
    assert_error(
        &format!("limits:\n  max_connections: 0\n{BASE}"),
        "limits.max_connections: must be at least 1",
    );
}

#[test]
fn per_site_override_errors_point_into_the_site() {
    let yaml = BASE.replace("    upstream: http://127.0.0.1:8001\n", "    upstream: http://127.0.0.1:8001\n    consent:\n      unclassified: nope\n    cookies:\n      - name: x\n        category: nope\n");
    let (code, _, stderr) = check(&yaml);
    assert_eq!(code, 1);
    assert!(
        stderr.contains("FILE:14:21: sites[0].consent.unclassified"),
        "{stderr}"
    );
    assert!(
        stderr.contains("FILE:17:19: sites[0].cookies[0].category: unknown category `nope`"),
        "{stderr}"
    );
}

#[test]
fn every_error_is_reported_not_just_the_first() {
    let yaml = BASE
        .replace("category: statistics", "category: stats")
        .replace("http://127.0.0.1:8001", "ftp://x");
    let (_, _, stderr) = check(&yaml);
    assert_eq!(stderr.lines().count(), 2, "{stderr}");
}

#[test]
fn a_missing_file_names_the_file() {
    let out = Command::new(env!("CARGO_BIN_EXE_consentry"))
        .args(["check", "--config", "/nonexistent/proxy.yaml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .starts_with("/nonexistent/proxy.yaml:1:1: cannot read")
    );
}

#[test]
fn a_certificate_that_is_not_pem_is_reported() {
    let dir = std::env::temp_dir().join(format!("consentry-badcert-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("c.pem"), "not a certificate").unwrap();
    std::fs::write(dir.join("k.pem"), "not a key").unwrap();
    let yaml = format!(
        "tls:\n  certificates:\n    - cert: {0}/c.pem\n      key: {0}/k.pem\n{BASE}",
        dir.display()
    );
    assert_error(
        &yaml,
        "FILE:3:13: tls.certificates[0].cert: unusable certificate:",
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_duplicate_key_is_located_at_the_duplicate_key_not_at_its_mapping_or_value() {
    assert_error(
        &BASE.replace(
            "    upstream: http://127.0.0.1:8001\n",
            "    upstream: http://127.0.0.1:8001\n    upstream: http://127.0.0.1:8002\n",
        ),
        "FILE:13:5: sites[0]: duplicate field `upstream`",
    );
    assert_error(
        &BASE.replace("  statistics: {}\n", "  statistics: {}\n  statistics: {}\n"),
        "FILE:6:3: categories: duplicate key `statistics`",
    );
}

#[test]
fn a_rule_name_with_outer_spaces_could_never_match() {
    assert_error(
        &BASE.replace("name: _ga*", "name: ' _ga*'"),
        "FILE:7:11: cookies[0].name: ` _ga*` is not a cookie name or glob",
    );
}

#[test]
fn a_certificate_with_another_certificates_key_is_refused() {
    let dir = std::env::temp_dir().join(format!("consentry-mismatch-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for name in ["a.test", "b.test"] {
        let generated = rcgen::generate_simple_self_signed(vec![name.to_owned()]).unwrap();
        std::fs::write(dir.join(format!("{name}.crt")), generated.cert.pem()).unwrap();
        std::fs::write(
            dir.join(format!("{name}.key")),
            generated.signing_key.serialize_pem(),
        )
        .unwrap();
    }
    std::fs::write(dir.join("garbage.pem"), "no key here\n").unwrap();
    let yaml = |cert: &str, key: &str| {
        format!(
            "tls:\n  certificates:\n    - cert: {0}/{cert}\n      key: {0}/{key}\n{BASE}",
            dir.display()
        )
    };
    assert_error(
        &yaml("a.test.crt", "b.test.key"),
        &format!(
            "b.test.key: is not the key of the certificate {}/a.test.crt",
            dir.display()
        ),
    );
    // Located at the `key:` line, the file at fault.
    assert_error(
        &yaml("a.test.crt", "garbage.pem"),
        "FILE:4:12: tls.certificates[0].key: unusable certificate:",
    );
    assert_error(
        &yaml("a.test.crt", "garbage.pem"),
        "garbage.pem: holds no PEM private key",
    );
    let (code, _, stderr) = check(&yaml("a.test.crt", "a.test.key"));
    assert_eq!(code, 0, "{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn tracker_settings_are_checked_with_their_location() {
    let with = |trackers: &str| format!("{BASE}trackers:\n{trackers}");
    assert_error(
        &with("  rules:\n    - url: stats.example.org/js/*\n      category: ads\n"),
        "FILE:16:17: trackers.rules[0].category: unknown category `ads`",
    );
    assert_error(
        &with("  rules:\n    - url: \"stats example.org\"\n      category: statistics\n"),
        "FILE:15:12: trackers.rules[0].url: `stats example.org` is not a URL pattern",
    );
    assert_error(
        &with("  rules:\n    - { url: a.example, inline: \"a.init(\", category: statistics }\n"),
        "FILE:15:9: trackers.rules[0]: a tracker rule has either `url` or `inline`, not both",
    );
    assert_error(
        &with("  rules:\n    - { inline: \"a(\", category: statistics }\n"),
        "trackers.rules[0].inline: an inline signature needs at least 4 characters",
    );
    assert_error(
        &with("  consent_mode:\n    analytics_storage: audience\n"),
        "FILE:15:24: trackers.consent_mode.analytics_storage: `audience` is neither `granted`, `denied` nor a category",
    );
    assert_error(
        &with("  consent_mode:\n    ads_storage: granted\n"),
        "trackers.consent_mode.ads_storage: `ads_storage` is not a Consent Mode type",
    );
    assert_error(
        &with("  catalogue_categories:\n    statistics: audience\n"),
        "trackers.catalogue_categories.statistics: unknown category `audience`",
    );
    assert_error(&with("  blok: true\n"), "unknown field `blok`");
    // A site's own trackers are located in the site.
    let site = format!(
        "{BASE}    trackers:\n      rules:\n        - {{ url: x.example, category: nope }}\n"
    );
    assert_error(
        &site,
        "FILE:15:39: sites[0].trackers.rules[0].category: unknown category `nope`",
    );
}

#[test]
fn bad_records_settings_are_located() {
    assert_error(
        &format!("records:\n  store: mysql://db/consent\n{BASE}"),
        "FILE:2:10: records.store: unknown store `mysql`: write sqlite:PATH or postgres://USER@HOST/DATABASE",
    );
    assert_error(
        &format!("records:\n  store: \"sqlite:\"\n{BASE}"),
        "FILE:2:10: records.store: `sqlite:` names no file",
    );
    assert_error(
        &format!("records:\n  store: postgres://u@db/c?sslmode=sometimes\n{BASE}"),
        "FILE:2:10: records.store: `postgres://u@db/c?sslmode=sometimes` is not a PostgreSQL URL",
    );
    assert_error(
        &format!("records:\n  store: postgres://app:hunter2@db:port/c\n{BASE}"),
        "app:***@db",
    );
    let (_, _, stderr) = check(&format!(
        "records:\n  store: postgres://app:hunter2@db:port/c\n{BASE}"
    ));
    assert!(!stderr.contains("hunter2"), "{stderr}");
    assert_error(
        &format!("records:\n  retain: forever\n{BASE}"),
        "FILE:2:11:",
    );
    assert_error(
        &format!("records:\n  retain: 0d\n{BASE}"),
        "FILE:2:11: records.retain: must be longer than zero",
    );
    assert_error(
        &format!("records:\n  stor: sqlite:x.db\n{BASE}"),
        "unknown field `stor`",
    );
}

#[test]
fn a_site_language_must_be_a_registered_tag() {
    let yaml = format!("{BASE}policy:\n  languages: [en, english]\n");
    assert_error(
        &yaml,
        "FILE:14:19: policy.languages[1]: `english`: `english` is not a registered language",
    );
    let yaml = format!("{BASE}policy:\n  languages: []\n");
    assert_error(
        &yaml,
        "FILE:14:3: policy.languages: list at least one language",
    );
}

#[test]
fn a_records_section_is_summarised() {
    let dir = std::env::temp_dir().join(format!("consentry-check-records-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("proxy.yaml");
    std::fs::write(
        &file,
        format!("records:\n  store: sqlite:r.db\n  retain: 30d\n{BASE}"),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_consentry"))
        .args(["check", "--config"])
        .arg(&file)
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    assert!(
        stdout.contains(&format!(
            "consent records: sqlite:{} (kept 30 days)",
            dir.join("r.db").display()
        )),
        "relative to the file's directory: {stdout}"
    );
}

#[test]
fn a_text_map_names_only_the_sites_languages_and_gives_their_default() {
    let yaml = BASE.replace(
        "statistics: {}",
        "statistics: { title: { en: Statistics, de: Statistik } }",
    ) + "policy:\n  languages: [en, fr]\n";
    assert_error(
        &yaml,
        "FILE:5:46: categories.statistics.title.de: `de` is not a language of any site this text applies to",
    );
    let yaml = BASE.replace(
        "statistics: {}",
        "statistics: { title: { fr: Statistiques } }",
    ) + "policy:\n  languages: [en, fr]\n";
    assert_error(
        &yaml,
        "categories.statistics.title: no text in `en`, the default language of site `a`",
    );
}
