//! Every configuration key, declared once: its section, type, default, help line and checks.
//! The file key, the `IMG_*` variable, the flag and `--help` are all derived from here; adding a
//! key is one line in the section of the component that uses it (DESIGN.md §7).

use std::net::IpAddr;
use std::time::Duration;

use ipnet::IpNet;

use super::namespaces::Namespaces;
use super::schema::{ByteSize, in_range, sections};
use super::values::{DefaultQuality, LogFormat, SigningKey, StorageUrl};
use crate::model::Extension;

/// Every extension listed can be answered by this build.
#[allow(clippy::ptr_arg)] // checks take the field's own type
fn written_extensions(list: &Vec<Extension>) -> Result<(), String> {
    list.iter().copied().try_for_each(Extension::check_written)
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(2, usize::from)
}

sections! {
    /// The two ports, their connections and the process around them.
    server: ServerConfig ("Server") {
        /// Main port (0 picks a free one)
        server_port: u16 = 7000, flag = "--port";
        /// Status port (0 picks a free one)
        status_port: u16 = 7001;
        /// Address of the main port
        listen: IpAddr = "127.0.0.1";
        /// Address of the status port
        status_listen: IpAddr = "127.0.0.1";
        /// Seconds shutdown waits for requests in flight
        shutdown_grace_secs: Duration = 30, check = in_range::<0, 3600>;
        /// Seconds a client has to send its request headers, from connecting or from a request's first byte
        header_read_timeout_secs: Duration = 10, check = in_range::<1, 3600>;
        /// Seconds a connection (HTTP/1 or HTTP/2) may stay without a request in flight
        idle_timeout_secs: Duration = 60, check = in_range::<1, 3600>;
        /// Seconds an answer may make no progress towards a client that reads nothing before the connection is dropped
        write_timeout_secs: Duration = 30, check = in_range::<1, 3600>;
        /// Seconds a client has to send a request body
        body_read_timeout_secs: Duration = 60, check = in_range::<1, 3600>;
        /// Connections served at once; past it new connections wait in the listen backlog
        max_connections: usize = 10000, check = in_range::<1, 1_000_000>;
        /// Connections one client (an IPv4 address, an IPv6 /64) may hold at once, trusted_proxies exempt; past it new ones are closed; 0 turns the cap off
        max_connections_per_client: usize = 64, check = in_range::<0, 1_000_000>;
        /// Log format: text or json (one object a line)
        log_format: LogFormat = "text";
        /// Also log a line for each answer from memory or storage (renders, uploads, deletes and failures always get one)
        log_hits: bool = false;
    }

    /// Where originals and variants are kept.
    storage: StorageConfig ("Storage") {
        /// Storage URL: file://DIR, memory://, s3://BUCKET/PREFIX, gs://BUCKET/PREFIX, az://CONTAINER/PREFIX
        storage: StorageUrl = "file://./data";
        /// Separate storage for originals, info and working copies [default: the storage]
        originals_storage: Option<StorageUrl> = null;
        /// Public base URL of the storage: info answers list the URLs of stored variants
        remote_base_url: Option<String> = null, value = "URL";
    }

    /// The memory caches in front of storage.
    cache: CacheConfig ("Cache") {
        /// Memory caches: 5/8 for variants and info, 1/4 for the sources renders read, 1/8 for their decoded pixels
        memory_cache_bytes: ByteSize = "256MiB";
        /// Seconds a node answers an image from memory before it confirms the image in storage again (one read): deletes and changes made on other nodes are seen within it
        delete_visibility_secs: Duration = 10, check = in_range::<0, 86_400>;
    }

    /// How variants are rendered.
    render: RenderConfig ("Rendering") {
        /// Render threads
        workers: usize = (cores()), shown = "the number of cores", check = in_range::<1, 1024>;
        /// Quality without -q: a number, or JSON by format like {"jpg":80,"webp":75}
        default_quality: DefaultQuality = { "jpg": 80, "webp": 80, "avif": 60, "jxl": 75 };
        /// Long side of the working copy made at upload; 0 turns working copies off
        working_copy_max_side: u32 = 2048, check = in_range::<0, 65535>;
    }

    /// What a request may ask for and what an upload may cost.
    limits: LimitsConfig ("Limits") {
        /// Extensions that may be asked for, comma-separated
        whitelisted_extensions: Vec<Extension> = (Extension::written().iter().map(|e| e.as_str()).collect::<Vec<_>>()),
            check = written_extensions;
        /// Largest width a URL may ask for
        maximum_width: u32 = 4096, check = in_range::<1, 65535>;
        /// Largest height a URL may ask for
        maximum_height: u32 = 4096, check = in_range::<1, 65535>;
        /// Largest upload or source download, bytes or e.g. 25MiB
        max_upload_bytes: ByteSize = "25MiB", check = in_range::<1, { u64::MAX }>;
        /// Largest width x height an original may declare
        max_source_pixels: u64 = 50_000_000, check = in_range::<1, { u64::MAX }>;
        /// Outputs one upload may ask for with ?outputs=; more is 400
        max_outputs_per_upload: usize = 16, check = in_range::<0, 10_000>;
        /// Renders that may wait for a thread before 503
        queue_size: usize = 128, check = in_range::<0, 1_000_000>;
        /// Memory all renders and uploads may hold at once, in pixels of 4 bytes, each charged what its codecs hold
        decode_budget_pixels: u64 = 100_000_000, check = in_range::<1_000_000, { u64::MAX }>;
        /// Upload and source-download bytes held in memory at once over all requests; past it 503
        upload_buffer_bytes: ByteSize = "256MiB", check = in_range::<1, { u64::MAX }>;
        /// Bytes of image and info answers not yet written to their clients at once over all requests; past it 503
        response_buffer_bytes: ByteSize = "256MiB", check = in_range::<1, { u64::MAX }>;
        /// Scans a progressive JPEG may have (real files have about 10); past it 422
        max_jpeg_scans: u32 = 100, check = in_range::<1, 100_000>;
        /// Seconds a JPEG decode may run before it is abandoned with 422
        decode_timeout_secs: Duration = 10, check = in_range::<1, 3600>;
        /// Frames an animated GIF or WebP variant may have; longer animations give their first frame
        max_animation_frames: u32 = 300, check = in_range::<1, 100_000>;
    }

    /// Downloads of originals from source URLs.
    sources: SourcesConfig ("Sources") {
        /// Let ?source= fetch from loopback and private networks
        source_allow_private: bool = false;
        /// Timeout of a source download in seconds
        source_timeout_secs: Duration = 10, check = in_range::<1, 3600>;
        /// Redirects a source download follows
        source_max_redirects: usize = 3, check = in_range::<0, 20>;
    }

    /// Who may do what: signed URLs, upload tokens, closed namespaces, rate limits.
    access: AccessConfig ("Access") {
        /// Keys signing URLs, hex, at least 32 bytes each: the first signs, every one verifies (comma-separated)
        signing_keys: Vec<SigningKey> = [], secret = true;
        /// Bearer tokens for uploads and deletes, comma-separated (namespaces may add their own)
        upload_tokens: Vec<String> = [], secret = true;
        /// Let DELETE through without a token in namespaces that have no upload tokens (otherwise such deletes are 403)
        allow_open_delete: bool = false;
        /// Serve namespaces absent from `namespaces` (false: they are 404)
        allow_unknown_namespaces: bool = true;
        /// Units of work (a render or upload of up to 4 megapixels decoded plus encoded is one; a delete is one) a client (an address, an IPv6 /64) may start a minute; 0 turns the limit off
        rate_limit_per_minute: u32 = 0, check = in_range::<0, 1_000_000>;
        /// Networks (CIDR, comma-separated) whose X-Forwarded-For is believed
        trusted_proxies: Vec<IpNet> = [];
    }

    /// statsd, and what the status port serves.
    metrics: MetricsConfig ("Metrics") {
        /// statsd host:port (UDP; off when unset)
        statsd: Option<String> = null, value = "HOST:PORT";
        /// Prefix of statsd names
        statsd_prefix: String = "image_server", value = "PREFIX";
        /// Serve profiling endpoints on the status port
        profile: bool = false;
    }

    /// Work done after an upload's answer, the hooks it calls, and the leases between nodes.
    background: BackgroundConfig ("Background work and hooks") {
        /// Seconds a node's lease on a job or a render lasts unless renewed (a killed node's work is taken over after it)
        lease_secs: Duration = 30, check = in_range::<1, 3600>;
        /// Take a lease in storage before rendering a miss, so that one node renders each variant
        render_leases: bool = true;
        /// Seconds an undelivered notification is retried, with backoff
        notify_retry_secs: Duration = 3600, check = in_range::<0, 604_800>;
        /// Seconds one call to a notification or moderation hook may take
        hook_timeout_secs: Duration = 10, check = in_range::<1, 300>;
    }

    /// Settings of single namespaces.
    namespaces: NamespacesConfig ("Namespaces") {
        /// Per-namespace settings as JSON: outputs, limits, origin pull
        namespaces: Namespaces = {};
    }
}
