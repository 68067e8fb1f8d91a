//! A real Azure Blob Storage-compatible server for the tests: Azurite's blob service (the npm
//! package in tests/tools) started here on a free loopback port, in memory, and stopped with the
//! test process. Every test works under a prefix of its own in one container of Azurite's
//! well-known account.
//!
//! The server reaches it through object_store's emulator switch, `AZURE_STORAGE_USE_EMULATOR`,
//! with the emulator's URL in `AZURITE_BLOB_STORAGE_URL`.

use std::process::Command;
use std::sync::OnceLock;
use std::time::SystemTime;

use crate::support::server::ServerOptions;
use crate::support::{emulator, tools};

pub const CONTAINER: &str = "image-server-test";

/// Azurite's well-known account and its key (public: the same in every Azurite).
const ACCOUNT: &str = "devstoreaccount1";
const ACCOUNT_KEY: &str = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

/// The server's endpoint, started (and the container made) on first use.
pub fn endpoint() -> &'static str {
    static ENDPOINT: OnceLock<String> = OnceLock::new();
    ENDPOINT.get_or_init(|| {
        let endpoint = start_azurite();
        create_container(&endpoint);
        endpoint
    })
}

fn start_azurite() -> String {
    let port = emulator::free_port();
    let mut cmd = Command::new(tools::path("node_modules/.bin/azurite-blob"));
    cmd.args(["--blobHost", "127.0.0.1", "--blobPort", &port.to_string()]);
    cmd.args(["--inMemoryPersistence", "--skipApiVersionCheck", "--loose", "--disableTelemetry", "--silent"]);
    emulator::start(
        cmd,
        port,
        "azurite-blob, the Azure Blob Storage server of the tests",
        "run scripts/test, which installs it ((cd tests/tools && npm ci))",
    );
    format!("http://127.0.0.1:{port}")
}

/// Creates the test container (idempotent: an existing one is fine). object_store has no call
/// for that, so this one request is signed here, with the account key (Shared Key).
fn create_container(endpoint: &str) {
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD;
    use hmac::Mac;
    const VERSION: &str = "2023-11-03";
    let date = http_date(SystemTime::now());
    // VERB and eleven standard headers, all empty but the verb, then the x-ms headers and the resource.
    let to_sign = format!(
        "PUT\n\n\n\n\n\n\n\n\n\n\n\nx-ms-date:{date}\nx-ms-version:{VERSION}\n/{ACCOUNT}/{ACCOUNT}/{CONTAINER}\nrestype:container"
    );
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&STANDARD.decode(ACCOUNT_KEY).unwrap()).unwrap();
    mac.update(to_sign.as_bytes());
    let signature = STANDARD.encode(mac.finalize().into_bytes());
    let r = crate::support::server::client()
        .put(format!("{endpoint}/{ACCOUNT}/{CONTAINER}?restype=container"))
        .header("x-ms-date", date)
        .header("x-ms-version", VERSION)
        .header("authorization", format!("SharedKey {ACCOUNT}:{signature}"))
        .send()
        .expect("the Azure test server answers");
    assert!(
        r.status().is_success() || r.status().as_u16() == 409,
        "create container: {} {}",
        r.status(),
        r.text().unwrap_or_default()
    );
}

/// `t` as an HTTP date (RFC 9110's IMF-fixdate), as x-ms-date wants it.
fn http_date(t: SystemTime) -> String {
    let secs = t.duration_since(SystemTime::UNIX_EPOCH).unwrap().as_secs();
    let (days, rem) = ((secs / 86_400) as i64, secs % 86_400);
    // Days to a civil date (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let weekday = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"][days.rem_euclid(7) as usize];
    let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let (h, m, s) = (rem / 3600, rem / 60 % 60, rem % 60);
    format!("{weekday}, {day:02} {} {year} {h:02}:{m:02}:{s:02} GMT", months[month as usize - 1])
}

/// A fresh prefix in the test container.
pub fn prefix() -> String {
    emulator::prefix()
}

/// `opts` on `az://CONTAINER/{prefix}` of the test Azure server.
pub fn storage(opts: ServerOptions, prefix: &str) -> ServerOptions {
    through(opts.arg(&format!("--storage az://{CONTAINER}/{prefix}")), endpoint())
}

/// `opts` on `az://CONTAINER/{prefix}` through an endpoint where nothing listens: a backend that is down.
pub fn unreachable_storage(opts: ServerOptions, prefix: &str) -> ServerOptions {
    through(opts.arg(&format!("--storage az://{CONTAINER}/{prefix}")), "http://127.0.0.1:9")
}

/// The Azure variables that point a server at the emulator at `endpoint`, with its account.
fn through(opts: ServerOptions, endpoint: &str) -> ServerOptions {
    opts.env("AZURE_STORAGE_USE_EMULATOR", "true")
        .env("AZURITE_BLOB_STORAGE_URL", endpoint)
        .env("AZURE_STORAGE_ACCOUNT_NAME", ACCOUNT)
        .env("AZURE_STORAGE_ACCOUNT_KEY", ACCOUNT_KEY)
}

/// The test container through object_store. Not through its emulator switch, which takes the
/// URL from this process's environment: Azurite's account URL as the endpoint, which object_store
/// signs the same way.
fn container() -> object_store::azure::MicrosoftAzure {
    let _ = rustls::crypto::ring::default_provider().install_default();
    object_store::azure::MicrosoftAzureBuilder::new()
        .with_endpoint(format!("{}/{ACCOUNT}", endpoint()))
        .with_allow_http(true)
        .with_account(ACCOUNT)
        .with_access_key(ACCOUNT_KEY)
        .with_container_name(CONTAINER)
        .build()
        .unwrap()
}

/// Every key under `prefix/`, relative to it, sorted.
pub fn keys(prefix: &str) -> Vec<String> {
    emulator::keys(&container(), prefix)
}

/// An object's bytes.
pub fn get(prefix: &str, key: &str) -> Option<Vec<u8>> {
    emulator::get(&container(), prefix, key)
}

/// Replaces an object.
pub fn put(prefix: &str, key: &str, bytes: &[u8]) {
    emulator::put(&container(), prefix, key, bytes)
}

#[test]
fn http_dates() {
    use std::time::Duration;
    let at = |secs| http_date(SystemTime::UNIX_EPOCH + Duration::from_secs(secs));
    assert_eq!(at(0), "Thu, 01 Jan 1970 00:00:00 GMT");
    assert_eq!(at(951_782_400), "Tue, 29 Feb 2000 00:00:00 GMT");
    assert_eq!(at(1_764_640_861), "Tue, 02 Dec 2025 02:01:01 GMT");
}
