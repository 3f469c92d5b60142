//! A SIP caller for tests: real UDP/TCP sockets, an RTP socket, the requests a phone sends.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};

/// A test line: always open (or always closed), short tone prompts, two targets.
pub fn write_line(dir: &Path, open: bool) {
    let plans = dir.join("dialplans");
    let prompts = dir.join("prompts");
    std::fs::create_dir_all(&plans).unwrap();
    std::fs::create_dir_all(&prompts).unwrap();
    for (i, name) in
        ["welcome", "menu", "invalid", "transfer", "closed", "holiday", "voicemail", "goodbye"].iter().enumerate()
    {
        let spec = hound::WavSpec {
            channels: 1,
            sample_rate: 16000,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let mut w = hound::WavWriter::create(prompts.join(format!("{name}.wav")), spec).unwrap();
        let freq = 300.0 + 100.0 * i as f32;
        for n in 0..(16000 * 3 / 10) {
            w.write_sample(((n as f32 * freq * std::f32::consts::TAU / 16000.0).sin() * 12000.0) as i16).unwrap();
        }
        w.finalize().unwrap();
    }
    let days = if open { r#"["mon","tue","wed","thu","fri","sat","sun"]"# } else { "[]" };
    std::fs::write(
        plans.join("test.toml"),
        format!(
            "numbers = [\"*\"]\n[hours]\nopen = \"00:00\"\nclose = \"23:59\"\ndays = {days}\npublic_holidays = false\nyear_end = false\n\
[open]\nwelcome = \"welcome\"\nmenu = \"menu\"\nmenu_timeout_secs = 3\nretries = 1\ninvalid = \"invalid\"\nno_choice = \"tier1\"\ntransfer = \"transfer\"\n\
[open.choices]\n\"1\" = \"tier1\"\n\"2\" = \"tier2\"\n\
[closed]\nannouncement = \"closed\"\nholiday = \"holiday\"\nvoicemail = \"voicemail\"\nvoicemail_max_secs = 10\nvoicemail_silence_secs = 1\ngoodbye = \"goodbye\"\n\
[targets]\ntier1 = \"sip:helpdesk@pbx.test\"\ntier2 = \"sip:operations@pbx.test\"\n"
        ),
    )
    .unwrap();
}

/// The whole service on a fresh database of `db` (None: PostgreSQL is not there) with the test
/// line of [`write_line`] and `ports` for RTP.
pub async fn line_on(db: super::Db, open: bool, ports: &str, test: &str) -> Option<super::TestApp> {
    let db = super::TestDb::new(db, test).await?;
    write_line(db.dir.path(), open);
    let dir = db.dir.path().to_owned();
    let ports = ports.to_owned();
    Some(
        super::spawn_with(db, move |s| {
            s.sip.dialplans = dir.join("dialplans").display().to_string();
            s.sip.prompts = dir.join("prompts").display().to_string();
            s.sip.rtp_ports = ports.parse().unwrap();
        })
        .await,
    )
}

/// The whole service with the test line of [`write_line`] and `ports` for RTP.
pub async fn spawn_line(
    open: bool,
    ports: &str,
    adjust: impl FnOnce(&mut madoguchi::config::Settings) + Send + 'static,
) -> super::TestApp {
    let db = super::TestDb::new(super::Db::Sqlite, "sip line").await.unwrap();
    write_line(db.dir.path(), open);
    let dir = db.dir.path().to_owned();
    let ports = ports.to_owned();
    super::spawn_with(db, move |s| {
        s.sip.dialplans = dir.join("dialplans").display().to_string();
        s.sip.prompts = dir.join("prompts").display().to_string();
        s.sip.rtp_ports = ports.parse().unwrap();
        adjust(s);
    })
    .await
}

pub enum Link {
    Udp(UdpSocket, SocketAddr),
    Tcp(TcpStream, Vec<u8>),
}

/// One phone: its signalling link, its RTP socket.
pub struct Phone {
    pub link: Link,
    pub rtp: UdpSocket,
    pub call_id: String,
    pub local: SocketAddr,
    cseq: u32,
}

#[derive(Debug, Clone)]
pub struct Msg {
    pub first: String,
    pub text: String,
}

impl Msg {
    pub fn code(&self) -> u16 {
        self.first
            .split(' ')
            .nth(1)
            .and_then(|c| c.parse().ok())
            .filter(|_| self.first.starts_with("SIP/"))
            .unwrap_or(0)
    }
    pub fn method(&self) -> &str {
        if self.first.starts_with("SIP/") { "" } else { self.first.split(' ').next().unwrap_or("") }
    }
    pub fn header(&self, name: &str) -> Option<String> {
        self.text.split("\r\n").find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.trim().eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
        })
    }
    pub fn body(&self) -> &str {
        self.text.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("")
    }
}

impl Phone {
    pub async fn udp(server: SocketAddr, call_id: &str) -> Phone {
        let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let local = sock.local_addr().unwrap();
        Phone {
            link: Link::Udp(sock, server),
            rtp: UdpSocket::bind("127.0.0.1:0").await.unwrap(),
            call_id: call_id.into(),
            local,
            cseq: 1,
        }
    }

    pub async fn tcp(server: SocketAddr, call_id: &str) -> Phone {
        let stream = TcpStream::connect(server).await.unwrap();
        let local = stream.local_addr().unwrap();
        Phone {
            link: Link::Tcp(stream, Vec::new()),
            rtp: UdpSocket::bind("127.0.0.1:0").await.unwrap(),
            call_id: call_id.into(),
            local,
            cseq: 1,
        }
    }

    pub async fn send(&mut self, text: &str) {
        match &mut self.link {
            Link::Udp(s, server) => {
                s.send_to(text.as_bytes(), *server).await.unwrap();
            }
            Link::Tcp(s, _) => s.write_all(text.as_bytes()).await.unwrap(),
        }
    }

    /// The next message, or None after `wait`.
    pub async fn recv(&mut self, wait: Duration) -> Option<Msg> {
        let fut = async {
            match &mut self.link {
                Link::Udp(s, _) => {
                    let mut buf = vec![0u8; 65536];
                    let (n, _) = s.recv_from(&mut buf).await.ok()?;
                    Some(String::from_utf8_lossy(&buf[..n]).into_owned())
                }
                Link::Tcp(s, buf) => loop {
                    if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        let head = String::from_utf8_lossy(&buf[..end]).into_owned();
                        let len = head
                            .lines()
                            .find_map(|l| {
                                l.strip_prefix("Content-Length:").map(|v| v.trim().parse::<usize>().unwrap_or(0))
                            })
                            .unwrap_or(0);
                        if buf.len() >= end + 4 + len {
                            let msg: Vec<u8> = buf.drain(..end + 4 + len).collect();
                            return Some(String::from_utf8_lossy(&msg).into_owned());
                        }
                    }
                    let mut chunk = [0u8; 8192];
                    let n = s.read(&mut chunk).await.ok()?;
                    if n == 0 {
                        return None;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                },
            }
        };
        let text = tokio::time::timeout(wait, fut).await.ok().flatten()?;
        Some(Msg { first: text.lines().next().unwrap_or("").to_owned(), text })
    }

    /// Waits for a message matching `pred`, answering nothing else.
    pub async fn expect(&mut self, what: &str, pred: impl Fn(&Msg) -> bool) -> Msg {
        loop {
            let m = self.recv(Duration::from_secs(15)).await.unwrap_or_else(|| panic!("waited for {what}"));
            if pred(&m) {
                return m;
            }
        }
    }

    /// Sends `req` and resends it every 500 ms (as a UDP phone does, timer A) until a
    /// response comes.
    pub async fn transact(&mut self, req: &str) -> Msg {
        for _ in 0..20 {
            self.send(req).await;
            if let Some(m) = self.recv(Duration::from_millis(500)).await
                && m.code() > 0
            {
                return m;
            }
        }
        panic!("no response to {}", req.lines().next().unwrap_or(""));
    }

    fn transport(&self) -> &'static str {
        if matches!(self.link, Link::Udp(..)) { "UDP" } else { "TCP" }
    }

    pub fn request(&mut self, method: &str, branch: &str, to_tag: Option<&str>, extra: &str, body: &str) -> String {
        let to = match to_tag {
            Some(t) => format!("<sip:0120000111@madoguchi>;tag={t}"),
            None => "<sip:0120000111@madoguchi>".into(),
        };
        let cseq = if method == "ACK" || method == "CANCEL" {
            self.cseq
        } else {
            self.cseq += 1;
            self.cseq
        };
        format!(
            "{method} sip:0120000111@madoguchi SIP/2.0\r\nVia: SIP/2.0/{} {};branch={branch}\r\nMax-Forwards: 70\r\n\
From: \"山田 太郎\" <sip:0312345678@pbx.test>;tag=caller1\r\nTo: {to}\r\nCall-ID: {}\r\nCSeq: {cseq} {method}\r\n\
Contact: <sip:caller@{}>\r\n{extra}Content-Length: {}\r\n\r\n{body}",
            self.transport(),
            self.local,
            self.call_id,
            self.local,
            body.len()
        )
    }

    pub fn offer(&self) -> String {
        let rtp = self.rtp.local_addr().unwrap();
        format!(
            "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio {} RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\n",
            rtp.port()
        )
    }

    /// INVITE with an offer; returns the 200 OK (after 100 and 180).
    pub async fn call(&mut self, extra: &str) -> (Msg, Vec<u16>) {
        let body = self.offer();
        let invite =
            self.request("INVITE", "z9hG4bKinv1", None, &format!("{extra}Content-Type: application/sdp\r\n"), &body);
        self.send(&invite).await;
        let mut codes = Vec::new();
        loop {
            let m = self.expect("a response to INVITE", |m| m.code() > 0).await;
            codes.push(m.code());
            if m.code() >= 200 {
                return (m, codes);
            }
        }
    }

    /// INVITE with an offer as a UDP phone sends it: resent on timer A (500 ms, doubling) until
    /// a response comes, given up on timer B (32 s). The final response and how many times the
    /// INVITE was resent; None if no final response came (after a provisional one, within 32 s).
    ///
    /// Its branch is the call's own: a fresh socket may get the port of an earlier phone whose
    /// INVITE transaction the service still keeps (RFC 6026, 32 s), and the same branch from the
    /// same address and port would be taken, rightly, for that INVITE's retransmission.
    pub async fn invite(&mut self, extra: &str) -> (Option<Msg>, u32) {
        let body = self.offer();
        let branch = format!("z9hG4bKinv-{}", self.call_id);
        let invite = self.request("INVITE", &branch, None, &format!("{extra}Content-Type: application/sdp\r\n"), &body);
        let give_up = tokio::time::Instant::now() + Duration::from_secs(32);
        let (mut timer_a, mut resent, mut provisional) = (Duration::from_millis(500), 0, false);
        self.send(&invite).await;
        loop {
            let left = give_up.saturating_duration_since(tokio::time::Instant::now());
            let wait = if provisional { left } else { timer_a.min(left) };
            match self.recv(wait).await {
                Some(m) if m.code() >= 200 => return (Some(m), resent),
                Some(m) if m.code() >= 100 => provisional = true,
                Some(_) => {}
                None if provisional || left.is_zero() => return (None, resent),
                None => {
                    self.send(&invite).await;
                    resent += 1;
                    timer_a *= 2;
                }
            }
        }
    }

    pub async fn ack(&mut self, to_tag: &str) {
        let ack = self.request("ACK", "z9hG4bKack1", Some(to_tag), "", "");
        self.send(&ack).await;
    }

    /// Answers a request from the service with `code`.
    pub async fn answer(&mut self, req: &Msg, code: u16) {
        let mut text = format!("SIP/2.0 {code} OK\r\n");
        for name in ["Via", "From", "To", "Call-ID", "CSeq"] {
            if let Some(v) = req.header(name) {
                text.push_str(&format!("{name}: {v}\r\n"));
            }
        }
        text.push_str("Content-Length: 0\r\n\r\n");
        self.send(&text).await;
    }

    /// Sends an RFC 4733 key press to where the service's RTP comes from.
    pub async fn press(&self, to: SocketAddr, digit: u8, seq: u16, ts: u32) {
        for (i, end) in [false, false, true, true, true].iter().enumerate() {
            let p =
                madoguchi::media::rtp::dtmf_packet(101, 0x1234, seq + i as u16, ts, digit, *end, 160 * (i as u16 + 1));
            self.rtp.send_to(&p, to).await.unwrap();
        }
    }
}

/// Takes the transfer the service asks for: 202 to its REFER, a NOTIFY saying the transferee
/// answered, and 200 to the BYE that follows.
pub async fn accept_transfer(phone: &mut Phone, server: SocketAddr, tag: &str) {
    let refer = phone.expect("REFER", |m| m.method() == "REFER").await;
    phone.answer(&refer, 202).await;
    let notify = format!(
        "NOTIFY sip:madoguchi@{server} SIP/2.0\r\nVia: SIP/2.0/{} {};branch=z9hG4bKnot-{}\r\nMax-Forwards: 70\r\n\
         From: <sip:0312345678@pbx.test>;tag=caller1\r\nTo: <sip:0120000111@madoguchi>;tag={tag}\r\nCall-ID: {}\r\n\
         CSeq: 9 NOTIFY\r\nEvent: refer\r\nSubscription-State: terminated\r\nContent-Type: message/sipfrag\r\n\
         Content-Length: 16\r\n\r\nSIP/2.0 200 OK\r\n",
        phone.transport(),
        phone.local,
        phone.call_id,
        phone.call_id
    );
    phone.send(&notify).await;
    let bye = phone.expect("BYE after the transfer", |m| m.method() == "BYE").await;
    phone.answer(&bye, 200).await;
}

pub fn tag_of(m: &Msg) -> String {
    let to = m.header("To").unwrap();
    to.split(";tag=").nth(1).unwrap().split(';').next().unwrap().to_owned()
}

/// Receives RTP until `frames` packets came; returns their decoded audio and the sender's address.
pub async fn hear(phone: &Phone, frames: usize) -> (Vec<i16>, std::net::SocketAddr, Vec<(u16, u32, bool)>) {
    let mut audio = Vec::new();
    let mut headers = Vec::new();
    let mut from = None;
    let mut buf = [0u8; 2048];
    while headers.len() < frames {
        let (n, peer) = tokio::time::timeout(Duration::from_secs(10), phone.rtp.recv_from(&mut buf))
            .await
            .expect("RTP arrives")
            .unwrap();
        let rtp = rtp_rs::RtpReader::new(&buf[..n]).unwrap();
        assert_eq!(rtp.payload_type(), 0, "PCMU as negotiated");
        headers.push((u16::from(rtp.sequence_number()), rtp.timestamp(), rtp.mark()));
        audio.extend(madoguchi::media::g711::Codec::Pcmu.decode(rtp.payload()));
        from = Some(peer);
    }
    (audio, from.unwrap(), headers)
}

/// The real `madoguchi` binary serving the test line of [`write_line`] (written into the test's
/// directory) on `db`, with `ports` for RTP.
pub async fn start_line_binary(db: &super::TestDb, ports: &str) -> super::Process {
    let dir = db.dir.path();
    write_line(dir, true);
    let (data, plans, prompts) = (dir.join("data"), dir.join("dialplans"), dir.join("prompts"));
    let range: Vec<u32> = ports.split('-').map(|p| p.parse().unwrap()).collect();
    let max_calls = (range[1] - range[0] + 1).to_string();
    super::spawn_binary(
        dir,
        &[
            ("MADOGUCHI_DATA_DIR", data.to_str().unwrap()),
            ("MADOGUCHI_DATABASE_URL", &db.url),
            ("MADOGUCHI_SIP_DIALPLANS", plans.to_str().unwrap()),
            ("MADOGUCHI_SIP_PROMPTS", prompts.to_str().unwrap()),
            ("MADOGUCHI_SIP_RTP_PORTS", ports),
            ("MADOGUCHI_SIP_MAX_CALLS", &max_calls),
        ],
    )
    .await
}

/// What a caller hears first: the first 0.2 s (10 RTP packets, 1,600 samples) of a new call's
/// welcome, with the phone (still in the call) and the dialog's tag.
pub async fn first_words(sip: SocketAddr, call_id: &str) -> (Phone, Vec<i16>, String) {
    let mut phone = Phone::udp(sip, call_id).await;
    let (ok, _) = phone.call("").await;
    assert_eq!(ok.code(), 200, "{}", ok.text);
    let tag = tag_of(&ok);
    phone.ack(&tag).await;
    let (audio, _, _) = hear(&phone, 10).await;
    (phone, audio, tag)
}

/// Hangs up the call `phone` is in.
pub async fn hang_up(phone: &mut Phone, tag: &str) {
    let bye = phone.request("BYE", &format!("z9hG4bKbye-{}", phone.call_id), Some(tag), "", "");
    phone.send(&bye).await;
}
