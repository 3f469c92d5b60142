//! RFC 3261 §17 transactions without I/O: the server machine for requests we receive, the
//! client machine for our own requests (BYE, REFER), and the key that finds either. The endpoint
//! owns the tables and the timers; these machines only say what to do.

pub mod client;
pub mod server;

use super::message::{Method, Request};
use std::net::SocketAddr;
use std::time::Duration;

pub const T1: Duration = Duration::from_millis(500);
pub const T2: Duration = Duration::from_secs(4);
pub const T4: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    Server,
    Client,
}

/// What identifies a transaction: its role, the branch (with sent-by and source for server
/// transactions) and the method (ACK and CANCEL find their INVITE through it).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Key {
    pub role: Role,
    pub branch: String,
    pub method: String,
}

impl Key {
    /// RFC 3261 §17.2.3: branch and sent-by of the top Via, and the method (ACK as INVITE).
    /// The source address too: two phones reusing one branch are not one transaction.
    pub fn server(req: &Request, peer: SocketAddr) -> Key {
        let method = match req.method {
            Method::Ack | Method::Invite => "INVITE".to_owned(),
            ref m => m.as_str().to_owned(),
        };
        let sent_by = req
            .header("Via")
            .and_then(|v| v.split(',').next())
            .and_then(|v| v.split_whitespace().nth(1))
            .map(|s| s.split(';').next().unwrap_or(s))
            .unwrap_or("");
        let branch = match req.branch() {
            Some(b) if b.starts_with("z9hG4bK") && b.len() > 7 => format!("{b}|{sent_by}|{peer}"),
            // RFC 2543 peers: match on what identifies their request.
            _ => format!("2543:{}:{}:{}|{peer}", req.call_id(), req.cseq().0, req.tag_in_from().unwrap_or("")),
        };
        Key { role: Role::Server, branch, method }
    }

    /// The INVITE transaction a CANCEL (or ACK) with this key refers to.
    pub fn invite_of(&self) -> Key {
        Key { method: "INVITE".into(), ..self.clone() }
    }

    /// Our own request: the branch we chose and its method.
    pub fn client(branch: &str, method: &str) -> Key {
        Key { role: Role::Client, branch: branch.to_owned(), method: method.to_owned() }
    }
}
