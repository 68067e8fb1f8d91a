//! The process-wide rustls crypto provider (ring), installed once before any TLS client exists.

/// Installs ring as rustls' default provider; later calls do nothing.
pub(crate) fn install_crypto_provider() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}
