//! A plain SMTP client for tests (real TCP), and a sink that plays the relay acknowledgements
//! are sent through, reporting each message it receives on a channel.
#![allow(dead_code)]

use std::net::SocketAddr;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::mpsc;

pub struct Smtp {
    reader: BufReader<OwnedReadHalf>,
    writer: OwnedWriteHalf,
}

impl Smtp {
    pub async fn connect(addr: SocketAddr) -> (Smtp, u16) {
        let stream = tokio::net::TcpStream::connect(addr).await.expect("connect to the mail listener");
        let (r, w) = stream.into_split();
        let mut smtp = Smtp { reader: BufReader::new(r), writer: w };
        let (code, _) = smtp.reply().await;
        (smtp, code)
    }

    /// One reply, all of its lines.
    pub async fn reply(&mut self) -> (u16, String) {
        let mut text = String::new();
        loop {
            let mut line = String::new();
            // A closed or reset connection answers 0: the service is gone.
            if !matches!(self.reader.read_line(&mut line).await, Ok(n) if n > 0) {
                return (0, text);
            }
            text.push_str(&line);
            if line.len() < 4 || line.as_bytes()[3] == b' ' {
                return (line[..3].parse().unwrap_or(0), text);
            }
        }
    }

    pub async fn send_raw(&mut self, bytes: &[u8]) {
        // A failed write shows as the next reply's 0.
        let _ = self.writer.write_all(bytes).await;
    }

    pub async fn cmd(&mut self, line: &str) -> (u16, String) {
        self.send_raw(format!("{line}\r\n").as_bytes()).await;
        self.reply().await
    }

    /// Sends a message body after DATA's 354: dot-stuffed, CRLF line ends, then `.`.
    pub async fn data(&mut self, message: &[u8]) -> (u16, String) {
        let mut out = Vec::with_capacity(message.len() + 64);
        let text = message.strip_suffix(b"\r\n").unwrap_or(message);
        for line in text.split(|&b| b == b'\n') {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            if line.first() == Some(&b'.') {
                out.push(b'.');
            }
            out.extend_from_slice(line);
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b".\r\n");
        self.send_raw(&out).await;
        self.reply().await
    }
}

/// A whole SMTP transaction; returns the reply to the end of DATA (or the first refusal).
pub async fn send_mail(addr: SocketAddr, from: &str, to: &str, message: &[u8]) -> (u16, String) {
    let (mut s, code) = Smtp::connect(addr).await;
    assert_eq!(code, 220);
    assert_eq!(s.cmd("EHLO test.example").await.0, 250);
    for (cmd, want) in [(format!("MAIL FROM:<{from}>"), 250), (format!("RCPT TO:<{to}>"), 250), ("DATA".into(), 354)] {
        let reply = s.cmd(&cmd).await;
        if reply.0 != want {
            return reply;
        }
    }
    let reply = s.data(message).await;
    s.cmd("QUIT").await;
    reply
}

/// The ticket number in a `250 … stored as ticket N` reply.
pub fn ticket_of(reply: &(u16, String)) -> String {
    assert_eq!(reply.0, 250, "{}", reply.1);
    reply.1.trim().rsplit(' ').next().unwrap().to_owned()
}

/// A minimal relay: answers 250 to everything and hands each message's data to the channel.
pub async fn sink(listener: TcpListener) -> mpsc::UnboundedReceiver<String> {
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let tx = tx.clone();
            tokio::spawn(async move {
                let (r, mut w) = stream.into_split();
                let mut r = BufReader::new(r);
                w.write_all(b"220 sink ESMTP\r\n").await.ok()?;
                let mut data: Option<String> = None;
                loop {
                    let mut line = String::new();
                    if r.read_line(&mut line).await.ok()? == 0 {
                        return Some(());
                    }
                    if let Some(d) = data.as_mut() {
                        if line == ".\r\n" {
                            tx.send(data.take().unwrap()).ok()?;
                            w.write_all(b"250 ok\r\n").await.ok()?;
                        } else {
                            d.push_str(&line);
                        }
                        continue;
                    }
                    let upper = line.to_ascii_uppercase();
                    let reply: &[u8] = if upper.starts_with("DATA") {
                        data = Some(String::new());
                        b"354 go\r\n"
                    } else if upper.starts_with("QUIT") {
                        w.write_all(b"221 bye\r\n").await.ok()?;
                        return Some(());
                    } else {
                        b"250 ok\r\n"
                    };
                    w.write_all(reply).await.ok()?;
                }
            });
        }
    });
    rx
}
