//! (method, path) -> [`Route`]: the only place URL paths are taken apart. Public for the fuzz
//! target of the URL grammar.

use hyper::Method;

use super::ApiError;
use crate::model::{ImageHash, ImageId, Namespace, OriginPathError, Variant, VariantError};

/// What a request asks for.
#[derive(Debug, PartialEq, Eq)]
pub enum Route {
    /// `POST /{ns}`
    Upload(Namespace),
    /// `GET|HEAD /{ns}/{id}/info.json`
    Info(Namespace, ImageId),
    /// `GET|HEAD /{ns}/{id}/{variant}`
    Variant(Namespace, ImageId, Variant),
    /// `DELETE /{ns}/{partitioned-hash}`
    Delete(Namespace, ImageId),
    /// `PUT /{ns}/{partitioned-hash}/focus`
    Focus(Namespace, ImageId),
    /// `POST /{ns}/{partitioned-hash}/process` (wanelo's): an upload's outputs, of a stored image
    Process(Namespace, ImageId),
    /// `GET|HEAD /status_check` (wanelo's load-balancer probe): the one route outside namespaces
    StatusCheck,
}

impl Route {
    /// The namespace asked for (none for [`Route::StatusCheck`]).
    pub fn namespace(&self) -> Option<&Namespace> {
        match self {
            Route::Upload(ns)
            | Route::Info(ns, _)
            | Route::Variant(ns, ..)
            | Route::Delete(ns, _)
            | Route::Focus(ns, _)
            | Route::Process(ns, _) => Some(ns),
            Route::StatusCheck => None,
        }
    }
}

/// wanelo's health probe on the main port.
const STATUS_CHECK: &str = "/status_check";

/// Routes a request. The id between namespace and leaf is a partitioned hash (3/3/3/23), or, in
/// namespaces for which `origin_pull` says so, any origin path.
pub fn route(method: &Method, path: &str, origin_pull: impl Fn(&Namespace) -> bool) -> Result<Route, ApiError> {
    // A `POST` to it stays an upload to the namespace `status_check`, as it was for wanelo.
    if path == STATUS_CHECK && (method == Method::GET || method == Method::HEAD) {
        return Ok(Route::StatusCheck);
    }
    let rest = path.strip_prefix('/').ok_or(ApiError::NotFound)?;
    let segments: Vec<&str> = rest.split('/').collect();
    let ns: Namespace = segments[0].parse().map_err(|_| ApiError::NotFound)?;
    // Parsed once: every variant of a stored image is asked this way.
    let hash = match segments.as_slice() {
        [_, a, b, c, d, ..] => ImageHash::from_partitions([a, b, c, d]).ok(),
        _ => None,
    };
    let (id, leaf) = match (segments.as_slice(), hash) {
        ([_], _) => {
            if method != Method::POST {
                return Err(ApiError::MethodNotAllowed("POST"));
            }
            return Ok(Route::Upload(ns));
        }
        ([_, _, _, _, _], Some(hash)) => {
            if method != Method::DELETE {
                return Err(ApiError::MethodNotAllowed("DELETE"));
            }
            return Ok(Route::Delete(ns, ImageId::Hash(hash)));
        }
        ([_, _, _, _, _, "focus"], Some(hash)) => {
            if method != Method::PUT {
                return Err(ApiError::MethodNotAllowed("PUT"));
            }
            return Ok(Route::Focus(ns, ImageId::Hash(hash)));
        }
        ([_, _, _, _, _, "process"], Some(hash)) => {
            if method != Method::POST {
                return Err(ApiError::MethodNotAllowed("POST"));
            }
            return Ok(Route::Process(ns, ImageId::Hash(hash)));
        }
        ([_, _, _, _, _, leaf], Some(hash)) => (ImageId::Hash(hash), *leaf),
        ([_, middle @ .., leaf], _) if !middle.is_empty() && origin_pull(&ns) => {
            let path = middle.join("/").parse().map_err(|e| match e {
                OriginPathError::Malformed => ApiError::NotFound,
                refused @ (OriginPathError::ReservedSegment(_) | OriginPathError::UnderAHash) => {
                    ApiError::BadOriginPath(refused)
                }
            })?;
            (ImageId::Path(path), *leaf)
        }
        _ => return Err(ApiError::NotFound),
    };
    let route = if leaf == "info.json" {
        Route::Info(ns, id)
    } else {
        let variant = leaf.parse::<Variant>().map_err(|e| match e {
            VariantError::Malformed => ApiError::NotFound,
            other => ApiError::BadVariant(other),
        })?;
        Route::Variant(ns, id, variant)
    };
    if method != Method::GET && method != Method::HEAD {
        return Err(ApiError::MethodNotAllowed("GET, HEAD"));
    }
    Ok(route)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HASH: &str = "6e0/072/682/e66287b662827da75b244a3";

    fn no_pull(_: &Namespace) -> bool {
        false
    }

    #[test]
    fn origin_pull_namespaces_take_any_path() {
        let pull = |ns: &Namespace| ns.as_str() == "user";
        let Ok(Route::Variant(_, ImageId::Path(path), v)) = route(&Method::GET, "/user/avatar/3589782/w500.jpg", pull)
        else {
            panic!("not an origin-pull variant")
        };
        assert_eq!((path.as_str(), v.to_string().as_str()), ("avatar/3589782", "w500.jpg"));
        assert!(matches!(route(&Method::GET, "/user/a/info.json", pull), Ok(Route::Info(_, ImageId::Path(_)))));
        assert!(matches!(
            route(&Method::GET, &format!("/user/{HASH}/x1.jpg"), pull),
            Ok(Route::Variant(_, ImageId::Hash(_), _))
        ));
        assert_eq!(route(&Method::GET, "/user/a/../b/x1.jpg", pull), Err(ApiError::NotFound));
        assert!(matches!(
            route(&Method::GET, "/user/victim/info.json/w100.jpg", pull),
            Err(ApiError::BadOriginPath(OriginPathError::ReservedSegment(_)))
        ));
        assert_eq!(route(&Method::GET, "/other/avatar/3589782/w500.jpg", pull), Err(ApiError::NotFound));
    }

    #[test]
    fn routes_the_grammar() {
        assert!(matches!(route(&Method::POST, "/p", no_pull), Ok(Route::Upload(_))));
        assert!(matches!(route(&Method::GET, &format!("/p/{HASH}/info.json"), no_pull), Ok(Route::Info(..))));
        assert!(matches!(route(&Method::HEAD, &format!("/p/{HASH}/x200-q30.jpg"), no_pull), Ok(Route::Variant(..))));
        assert!(matches!(route(&Method::DELETE, &format!("/p/{HASH}"), no_pull), Ok(Route::Delete(..))));
        assert_eq!(route(&Method::GET, &format!("/p/{HASH}"), no_pull), Err(ApiError::MethodNotAllowed("DELETE")));
        assert!(matches!(route(&Method::PUT, &format!("/p/{HASH}/focus"), no_pull), Ok(Route::Focus(..))));
        assert_eq!(route(&Method::GET, &format!("/p/{HASH}/focus"), no_pull), Err(ApiError::MethodNotAllowed("PUT")));
        // Only a partitioned hash has a focus to set: an origin path ending in `focus` is no route.
        assert_eq!(route(&Method::PUT, "/user/a/focus", |_: &Namespace| true), Err(ApiError::NotFound));
    }

    /// wanelo's server/server.go routes: `POST /{ns}/{hash}/process` (`resizeMany`) and
    /// `/status_check`.
    #[test]
    fn routes_the_wanelo_additions() {
        assert!(matches!(route(&Method::POST, &format!("/p/{HASH}/process"), no_pull), Ok(Route::Process(..))));
        assert_eq!(
            route(&Method::GET, &format!("/p/{HASH}/process"), no_pull),
            Err(ApiError::MethodNotAllowed("POST"))
        );
        assert_eq!(route(&Method::POST, "/user/a/process", |_: &Namespace| true), Err(ApiError::NotFound));
        assert_eq!(route(&Method::GET, "/status_check", no_pull), Ok(Route::StatusCheck));
        assert_eq!(route(&Method::HEAD, "/status_check", no_pull), Ok(Route::StatusCheck));
        assert_eq!(route(&Method::GET, "/status_check", no_pull).unwrap().namespace(), None);
        assert!(matches!(route(&Method::POST, "/status_check", no_pull), Ok(Route::Upload(_))));
        assert_eq!(route(&Method::GET, "/status_check/", no_pull), Err(ApiError::NotFound));
        assert!(matches!(
            route(&Method::GET, &format!("/p/{HASH}/full_size-q10.jpg"), no_pull),
            Ok(Route::Variant(_, _, v)) if v.to_string() == "full-q10.jpg"
        ));
    }

    #[test]
    fn outside_the_grammar_is_not_found() {
        for path in [
            "",
            "/",
            "/P",
            "/p/",
            "/p/6e0/072/682",
            &format!("/p/{HASH}/"),
            &format!("/p/{HASH}/x200"),
            &format!("/p/{HASH}/x200.jpg/more"),
            "/p/6e0/072/682/E66287B662827DA75B244A3/x200.jpg",
            "/p/6e00/72/682/e66287b662827da75b244a3/x200.jpg",
            &format!("/p/{HASH}/w0200.jpg"),
        ] {
            assert_eq!(route(&Method::GET, path, no_pull), Err(ApiError::NotFound), "{path}");
        }
    }

    #[test]
    fn bad_values_and_methods() {
        assert!(matches!(
            route(&Method::GET, &format!("/p/{HASH}/x200-q0.jpg"), no_pull),
            Err(ApiError::BadVariant(_))
        ));
        assert!(matches!(route(&Method::GET, &format!("/p/{HASH}/x200.bmp"), no_pull), Err(ApiError::BadVariant(_))));
        assert_eq!(route(&Method::GET, "/p", no_pull), Err(ApiError::MethodNotAllowed("POST")));
        assert_eq!(
            route(&Method::DELETE, &format!("/p/{HASH}/x200.jpg"), no_pull),
            Err(ApiError::MethodNotAllowed("GET, HEAD"))
        );
    }
}
