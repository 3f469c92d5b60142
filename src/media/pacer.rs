//! One thread sends every call's announcement RTP. Each 20 ms tick, taken from a monotonic
//! clock, it sends the next packet of every stream that is playing, one non-blocking send each,
//! then sleeps until the next tick. A task and a timer per call cost a wake-up and a trip
//! through the scheduler per packet; here a tick costs one wake-up for all calls, and the
//! packets of one call stay exactly 20 ms apart because every tick sends in the same order.

use super::g711::Codec;
use super::rtp::{FRAME, PTIME};
use crate::metrics::Metrics;
use std::collections::HashMap;
use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::sync::mpsc as std_mpsc;
use std::time::Instant;
use tokio::sync::oneshot;

enum Order {
    Open {
        id: u64,
        socket: UdpSocket,
        remote: Option<SocketAddr>,
        codec: Codec,
        ssrc: u32,
    },
    Play {
        id: u64,
        samples: Arc<Vec<i16>>,
        done: oneshot::Sender<()>,
    },
    /// Stops what `id` is playing (barge-in), if it is still the prompt of `done`'s play.
    Stop {
        id: u64,
        generation: u64,
    },
    Remote {
        id: u64,
        remote: SocketAddr,
    },
    Close {
        id: u64,
    },
}

/// Where calls open their outbound streams.
#[derive(Clone)]
pub struct Pacer {
    orders: std_mpsc::Sender<Order>,
    ids: Arc<std::sync::atomic::AtomicU64>,
}

impl Pacer {
    /// Starts the sending thread; it ends when every handle (and every stream) is dropped. It
    /// counts what it sends, drops and how late into `metrics` (atomics only).
    pub fn start(metrics: Arc<Metrics>) -> std::io::Result<Pacer> {
        let (orders, rx) = std_mpsc::channel();
        std::thread::Builder::new().name("rtp-pacer".into()).spawn(move || run(rx, &metrics))?;
        Ok(Pacer { orders, ids: Arc::default() })
    }

    /// A stream from `socket` (the call's own RTP port: the caller sees our packets come from
    /// where it sends) to `remote`; with `None`, prompts play on time but nothing is sent until
    /// a destination is set (the caller's first packet shows where it wants our audio).
    pub fn open(&self, socket: UdpSocket, remote: Option<SocketAddr>, codec: Codec, ssrc: u32) -> Stream {
        let id = self.ids.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let _ = self.orders.send(Order::Open { id, socket, remote, codec, ssrc });
        Stream { id, orders: self.orders.clone(), generation: 0 }
    }
}

/// One call's outbound RTP; closed when dropped.
pub struct Stream {
    id: u64,
    orders: std_mpsc::Sender<Order>,
    generation: u64,
}

impl Stream {
    /// Plays `samples` (8 kHz); returns when the last packet is sent. Dropping the future stops
    /// the prompt at the next tick (a key pressed during an announcement).
    pub async fn play(&mut self, samples: Arc<Vec<i16>>) {
        self.generation += 1;
        let (done, finished) = oneshot::channel();
        if self.orders.send(Order::Play { id: self.id, samples, done }).is_err() {
            return;
        }
        let mut guard = StopOnDrop { stream: self, armed: true };
        let _ = finished.await;
        guard.armed = false;
    }

    /// A handle that moves the stream's destination (a NATed caller latched elsewhere).
    pub fn remote_setter(&self) -> RemoteSetter {
        RemoteSetter { id: self.id, orders: self.orders.clone() }
    }
}

pub struct RemoteSetter {
    id: u64,
    orders: std_mpsc::Sender<Order>,
}

impl RemoteSetter {
    pub fn set(&self, remote: SocketAddr) {
        let _ = self.orders.send(Order::Remote { id: self.id, remote });
    }
}

struct StopOnDrop<'a> {
    stream: &'a Stream,
    armed: bool,
}

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        if self.armed {
            let _ = self.stream.orders.send(Order::Stop { id: self.stream.id, generation: self.stream.generation });
        }
    }
}

impl Drop for Stream {
    fn drop(&mut self) {
        let _ = self.orders.send(Order::Close { id: self.id });
    }
}

struct Playing {
    samples: Arc<Vec<i16>>,
    offset: usize,
    done: oneshot::Sender<()>,
    generation: u64,
}

struct Outbound {
    socket: UdpSocket,
    remote: Option<SocketAddr>,
    codec: Codec,
    ssrc: u32,
    seq: u16,
    timestamp: u32,
    first: bool,
    plays: u64,
    playing: Option<Playing>,
}

impl Outbound {
    /// Writes the next packet of what is playing into `buf`; false when nothing is.
    fn next_packet(&mut self, buf: &mut [u8; 12 + FRAME]) -> bool {
        let Some(p) = &mut self.playing else { return false };
        let end = (p.offset + FRAME).min(p.samples.len());
        let frame = &p.samples[p.offset..end];
        buf[0] = 0x80;
        buf[1] = self.codec.payload_type() | if self.first { 0x80 } else { 0 };
        buf[2..4].copy_from_slice(&self.seq.to_be_bytes());
        buf[4..8].copy_from_slice(&self.timestamp.to_be_bytes());
        buf[8..12].copy_from_slice(&self.ssrc.to_be_bytes());
        let payload = &mut buf[12..];
        // The last frame of a prompt is padded with silence.
        payload.fill(self.codec.silence());
        self.codec.encode_into(frame, payload);
        self.first = false;
        self.seq = self.seq.wrapping_add(1);
        self.timestamp = self.timestamp.wrapping_add(FRAME as u32);
        p.offset = end;
        true
    }

    fn finish_if_done(&mut self) {
        if self.playing.as_ref().is_some_and(|p| p.offset >= p.samples.len())
            && let Some(p) = self.playing.take()
        {
            let _ = p.done.send(());
        }
    }
}

/// Each 20 ms is cut into this many slots, and each stream sends in its own slot: the packets of
/// one call stay exactly 20 ms apart, and the packets of all calls leave in ten small bursts
/// rather than one large one (kinder to the receivers and to the other work on these cores).
const SLOTS: usize = 10;

/// `reason` index of a packet that could not be sent, in `madoguchi_rtp_packets_dropped_total`.
const SEND_FAILED: usize = 0;

fn run(orders: std_mpsc::Receiver<Order>, metrics: &Metrics) {
    let mut streams: HashMap<u64, Outbound> = HashMap::new();
    // Which streams send in each slot; the order within a slot stays fixed between ticks.
    let mut slots: Vec<Vec<u64>> = vec![Vec::new(); SLOTS];
    let mut buf = [0u8; 12 + FRAME];
    let slot_time = PTIME / SLOTS as u32;
    let mut slot = 0;
    let mut next = Instant::now();
    loop {
        let idle = streams.values().all(|s| s.playing.is_none());
        if idle {
            // Nothing to send: wait for an order instead of ticking.
            match orders.recv() {
                Ok(o) => apply(o, &mut streams, &mut slots),
                Err(_) => return,
            }
            next = Instant::now();
        }
        loop {
            match orders.try_recv() {
                Ok(o) => apply(o, &mut streams, &mut slots),
                Err(std_mpsc::TryRecvError::Empty) => break,
                Err(std_mpsc::TryRecvError::Disconnected) => return,
            }
        }
        for id in &slots[slot] {
            if let Some(s) = streams.get_mut(id)
                && s.next_packet(&mut buf)
            {
                // A full socket buffer loses this packet, as the network might; never wait.
                if let Some(remote) = s.remote {
                    match s.socket.send_to(&buf, remote) {
                        Ok(_) => metrics.rtp_sent.inc(),
                        Err(_) => metrics.rtp_dropped.add_at(SEND_FAILED, 1),
                    }
                    // `next` is this slot's place in the schedule.
                    metrics.rtp_pacing_error.observe_duration(Instant::now().saturating_duration_since(next));
                }
                s.finish_if_done();
            }
        }
        slot = (slot + 1) % SLOTS;
        next += slot_time;
        let now = Instant::now();
        if next > now {
            std::thread::sleep(next - now);
        } else if now - next > PTIME * 5 {
            // Far behind (the machine stalled): start afresh rather than send a burst.
            next = now;
        }
    }
}

fn apply(order: Order, streams: &mut HashMap<u64, Outbound>, slots: &mut [Vec<u64>]) {
    match order {
        Order::Open { id, socket, remote, codec, ssrc } => {
            let (seq, timestamp) = ((ssrc >> 16) as u16, ssrc.rotate_left(7));
            let s = Outbound { socket, remote, codec, ssrc, seq, timestamp, first: true, plays: 0, playing: None };
            streams.insert(id, s);
            if let Some(least) = slots.iter_mut().min_by_key(|ids| ids.len()) {
                least.push(id);
            }
        }
        Order::Play { id, samples, done } => {
            if let Some(s) = streams.get_mut(&id) {
                s.plays += 1;
                if let Some(old) = s.playing.take() {
                    let _ = old.done.send(());
                }
                s.playing = Some(Playing { samples, offset: 0, done, generation: s.plays });
                s.finish_if_done();
            }
        }
        Order::Stop { id, generation } => {
            if let Some(s) = streams.get_mut(&id)
                && s.playing.as_ref().is_some_and(|p| p.generation == generation)
            {
                s.playing = None;
            }
        }
        Order::Remote { id, remote } => {
            if let Some(s) = streams.get_mut(&id) {
                s.remote = Some(remote);
            }
        }
        Order::Close { id } => {
            streams.remove(&id);
            for ids in slots.iter_mut() {
                ids.retain(|i| *i != id);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rtp_rs::RtpReader;
    use std::time::Duration;

    #[tokio::test]
    async fn prompts_are_sent_paced_in_order_and_barge_in_stops_them() {
        let metrics = Metrics::new();
        let pacer = Pacer::start(metrics.clone()).unwrap();
        let receiver = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        let mut stream = pacer.open(socket, Some(receiver.local_addr().unwrap()), Codec::Pcmu, 0x1234_5678);
        let prompt: Arc<Vec<i16>> = Arc::new((0..FRAME * 5 + 10).map(|i| (i as i16) * 7).collect());
        let started = Instant::now();
        stream.play(prompt.clone()).await;
        assert!(started.elapsed() >= PTIME * 4, "{:?}", started.elapsed());
        let mut buf = [0u8; 1500];
        let mut packets = Vec::new();
        for _ in 0..6 {
            let n = receiver.recv(&mut buf).await.unwrap();
            let p = RtpReader::new(&buf[..n]).unwrap();
            packets.push((u16::from(p.sequence_number()), p.timestamp(), p.mark(), p.payload().to_vec()));
        }
        assert!(packets[0].2 && !packets[1].2, "marker on the first packet only");
        for w in packets.windows(2) {
            assert_eq!(w[1].0, w[0].0.wrapping_add(1));
            assert_eq!(w[1].1, w[0].1.wrapping_add(FRAME as u32));
        }
        assert_eq!(packets[0].3, Codec::Pcmu.encode(&prompt[..FRAME]));
        assert_eq!(&packets[5].3[10..], &[Codec::Pcmu.silence(); FRAME - 10][..], "padded with silence");

        // Barge-in: the play is dropped after two ticks; the stream falls silent.
        let long: Arc<Vec<i16>> = Arc::new(vec![1000; FRAME * 500]);
        let _ = tokio::time::timeout(PTIME * 2, stream.play(long)).await;
        let mut after = 0;
        while tokio::time::timeout(Duration::from_millis(200), receiver.recv(&mut buf)).await.is_ok() {
            after += 1;
        }
        assert!(after < 10, "{after} packets after the prompt was stopped");
        let sent = metrics.rtp_sent.get();
        assert!(sent >= 8, "{sent} packets counted");
        assert_eq!(metrics.rtp_pacing_error.count(), sent, "each packet's lateness is observed");
    }
}
