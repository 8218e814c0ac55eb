//! The answer every handler returns, independent of the HTTP library.

use std::time::Duration;

use serde_json::{json, Value};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub status: u16,
    /// Header names are kept lowercase; `set_header` replaces a header of the same name.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// Fault answers only: instead of `body`, this many filler bytes, made while sent.
    pub filler: Option<u64>,
    /// Fault answers only: the body goes out one byte per this interval.
    pub trickle: Option<Duration>,
}

impl Reply {
    pub fn new(status: u16, content_type: &str, body: Vec<u8>) -> Reply {
        Reply {
            status,
            headers: vec![("content-type".into(), content_type.into())],
            body,
            filler: None,
            trickle: None,
        }
    }

    pub fn json(status: u16, value: &Value) -> Reply {
        Reply::new(status, "application/json", value.to_string().into_bytes())
    }

    /// Sentry's error shape: `{"detail": "..."}`.
    pub fn detail(status: u16, message: &str) -> Reply {
        Reply::json(status, &json!({ "detail": message }))
    }

    pub fn not_found() -> Reply {
        Reply::detail(404, "The requested resource does not exist")
    }

    pub fn method_not_allowed(method: &str) -> Reply {
        Reply::detail(405, &format!("Method \"{method}\" not allowed."))
    }

    pub fn set_header(&mut self, name: &str, value: &str) {
        let name = name.to_ascii_lowercase();
        self.headers.retain(|(n, _)| *n != name);
        self.headers.push((name, value.to_string()));
    }

    pub fn with_header(mut self, name: &str, value: &str) -> Reply {
        self.set_header(name, value);
        self
    }
}
