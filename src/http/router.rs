//! (method, path) -> [`Route`]: the only place URL paths are taken apart.

use hyper::Method;

use super::ApiError;
use crate::model::{ImageHash, Namespace, Variant, VariantError};

/// What a request asks for.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Route {
    /// `POST /{ns}`
    Upload(Namespace),
    /// `GET|HEAD /{ns}/{hash}/info.json`
    Info(Namespace, ImageHash),
    /// `GET|HEAD /{ns}/{hash}/{variant}`
    Variant(Namespace, ImageHash, Variant),
}

pub(crate) fn route(method: &Method, path: &str) -> Result<Route, ApiError> {
    let rest = path.strip_prefix('/').ok_or(ApiError::NotFound)?;
    let segments: Vec<&str> = rest.split('/').collect();
    let ns: Namespace = segments[0].parse().map_err(|_| ApiError::NotFound)?;
    match segments.as_slice() {
        [_] => {
            if method != Method::POST {
                return Err(ApiError::MethodNotAllowed("POST"));
            }
            Ok(Route::Upload(ns))
        }
        [_, a, b, c, d, leaf] => {
            let hash = ImageHash::from_partitions([a, b, c, d]).map_err(|_| ApiError::NotFound)?;
            let route = if *leaf == "info.json" {
                Route::Info(ns, hash)
            } else {
                let variant = leaf.parse::<Variant>().map_err(|e| match e {
                    VariantError::Malformed => ApiError::NotFound,
                    other => ApiError::BadVariant(other),
                })?;
                Route::Variant(ns, hash, variant)
            };
            if method != Method::GET && method != Method::HEAD {
                return Err(ApiError::MethodNotAllowed("GET, HEAD"));
            }
            Ok(route)
        }
        _ => Err(ApiError::NotFound),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HASH: &str = "6e0/072/682/e66287b662827da75b244a3";

    #[test]
    fn routes_the_grammar() {
        assert!(matches!(route(&Method::POST, "/p"), Ok(Route::Upload(_))));
        assert!(matches!(route(&Method::GET, &format!("/p/{HASH}/info.json")), Ok(Route::Info(..))));
        assert!(matches!(route(&Method::HEAD, &format!("/p/{HASH}/x200-q30.jpg")), Ok(Route::Variant(..))));
    }

    #[test]
    fn outside_the_grammar_is_not_found() {
        for path in [
            "",
            "/",
            "/P",
            "/p/",
            "/p/6e0/072/682",
            &format!("/p/{HASH}"),
            &format!("/p/{HASH}/"),
            &format!("/p/{HASH}/x200"),
            &format!("/p/{HASH}/x200.jpg/more"),
            "/p/6e0/072/682/E66287B662827DA75B244A3/x200.jpg",
            "/p/6e00/72/682/e66287b662827da75b244a3/x200.jpg",
            &format!("/p/{HASH}/w0200.jpg"),
        ] {
            assert_eq!(route(&Method::GET, path), Err(ApiError::NotFound), "{path}");
        }
    }

    #[test]
    fn bad_values_and_methods() {
        assert!(matches!(route(&Method::GET, &format!("/p/{HASH}/x200-q0.jpg")), Err(ApiError::BadVariant(_))));
        assert!(matches!(route(&Method::GET, &format!("/p/{HASH}/x200.bmp")), Err(ApiError::BadVariant(_))));
        assert_eq!(route(&Method::GET, "/p"), Err(ApiError::MethodNotAllowed("POST")));
        assert_eq!(
            route(&Method::DELETE, &format!("/p/{HASH}/x200.jpg")),
            Err(ApiError::MethodNotAllowed("GET, HEAD"))
        );
    }
}
