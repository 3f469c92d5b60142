//! RFC 3261 §17.2 server transactions (with RFC 6026's Accepted state), without I/O: each
//! input (a retransmitted request, a response from the core, an ACK, a timer) gives actions
//! (send these bytes, start a timer, the transaction is over). Timers are inputs, so the
//! machine is table-tested without clocks.
//!
//! ```text
//! INVITE:     Proceeding ─1xx─► Proceeding ─2xx─► Accepted ─ACK─► Accepted (acked) ─Timer L─► Terminated
//!              │ (Timer Trying: 100 if the core is slow) └─Timer L─► Terminated (no ACK: NoAck)
//!              └─3xx-6xx─► Completed ─ACK─► Confirmed ─Timer I─► Terminated
//!                             └─Timer H─► Terminated (NoAck)
//! non-INVITE: Trying ─1xx─► Proceeding ─final─► Completed ─Timer J─► Terminated
//! ```
//! Retransmitted requests are absorbed: the last response is sent again (nothing in Trying,
//! nothing once a 2xx was acknowledged: RFC 6026 keeps the transaction until Timer L exactly so
//! that a late copy of the INVITE never reaches the core as a new call).

use super::{T1, T2, T4};
use std::time::Duration;

/// RFC 3261 §17.2.1: a 100 Trying goes out only if the core has not answered within 200 ms.
pub const TRYING_DELAY: Duration = Duration::from_millis(200);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Timer {
    /// Send 100 Trying if nothing was sent yet.
    Trying,
    /// Retransmit the final response (unreliable transport, or any 2xx).
    G,
    /// Give up waiting for the ACK of a non-2xx final response.
    H,
    /// Leave Confirmed.
    I,
    /// Leave Completed (non-INVITE).
    J,
    /// Give up waiting for the ACK of a 2xx.
    L,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Trying,
    Proceeding,
    Accepted,
    Completed,
    Confirmed,
    Terminated,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// The same request arrived again.
    Retransmission,
    /// The core responds.
    Respond {
        code: u16,
        bytes: Vec<u8>,
    },
    Ack,
    Timer(Timer),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Transmit(Vec<u8>),
    Start(Timer, Duration),
    /// The core has been slow: send it a 100 Trying to give to this transaction.
    SendTrying,
    /// A final response was never acknowledged (the call must be ended if it was a 2xx).
    NoAck,
    /// The transaction is over and can be forgotten.
    Done,
}

#[derive(Debug, Clone)]
pub struct ServerTransaction {
    invite: bool,
    reliable: bool,
    state: State,
    last: Option<Vec<u8>>,
    g: Duration,
    acked: bool,
}

impl ServerTransaction {
    /// A new transaction and what to do at once (an INVITE arms the Trying timer).
    pub fn new(invite: bool, reliable: bool) -> (ServerTransaction, Vec<Action>) {
        let t = ServerTransaction {
            invite,
            reliable,
            state: if invite { State::Proceeding } else { State::Trying },
            last: None,
            g: T1,
            acked: false,
        };
        let first = if invite { vec![Action::Start(Timer::Trying, TRYING_DELAY)] } else { vec![] };
        (t, first)
    }

    pub fn state(&self) -> State {
        self.state
    }

    pub fn on(&mut self, input: Input) -> Vec<Action> {
        use Action::*;
        use State::*;
        let resend = |last: &Option<Vec<u8>>| last.clone().map(Transmit).into_iter().collect::<Vec<_>>();
        match (self.state, input) {
            (Terminated, _) => vec![],
            (Trying, Input::Retransmission) => vec![],
            (Accepted, Input::Retransmission) if self.acked => vec![],
            (Proceeding | Accepted | Completed, Input::Retransmission) => resend(&self.last),
            (Proceeding, Input::Timer(Timer::Trying)) if self.last.is_none() => vec![SendTrying],
            (Confirmed, Input::Retransmission) => vec![],
            (Trying | Proceeding, Input::Respond { code, bytes }) if code < 200 => {
                self.state = Proceeding;
                self.last = Some(bytes.clone());
                vec![Transmit(bytes)]
            }
            (Trying | Proceeding, Input::Respond { code, bytes }) => {
                self.last = Some(bytes.clone());
                let mut actions = vec![Transmit(bytes)];
                if !self.invite {
                    self.state = Completed;
                    actions.push(Start(Timer::J, if self.reliable { Duration::ZERO } else { 64 * T1 }));
                } else if code < 300 {
                    // 2xx is retransmitted end to end, whatever the transport (§13.3.1.4).
                    self.state = Accepted;
                    actions.push(Start(Timer::G, T1));
                    actions.push(Start(Timer::L, 64 * T1));
                } else {
                    self.state = Completed;
                    if !self.reliable {
                        actions.push(Start(Timer::G, T1));
                    }
                    actions.push(Start(Timer::H, 64 * T1));
                }
                actions
            }
            (Accepted, Input::Timer(Timer::G)) if self.acked => vec![],
            (Accepted | Completed, Input::Timer(Timer::G)) => {
                let mut actions = resend(&self.last);
                self.g = (self.g * 2).min(T2);
                actions.push(Start(Timer::G, self.g));
                actions
            }
            (Accepted, Input::Ack) => {
                self.acked = true;
                vec![]
            }
            (Completed, Input::Ack) if self.invite => {
                self.state = Confirmed;
                vec![Start(Timer::I, if self.reliable { Duration::ZERO } else { T4 })]
            }
            (Accepted, Input::Timer(Timer::L)) if self.acked => {
                self.state = Terminated;
                vec![Done]
            }
            (Accepted, Input::Timer(Timer::L)) | (Completed, Input::Timer(Timer::H)) => {
                self.state = Terminated;
                vec![NoAck, Done]
            }
            (Confirmed, Input::Timer(Timer::I)) | (Completed, Input::Timer(Timer::J)) => {
                self.state = Terminated;
                vec![Done]
            }
            _ => vec![],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Action::*;
    use super::*;

    fn respond(code: u16) -> Input {
        Input::Respond { code, bytes: format!("SIP/2.0 {code}").into_bytes() }
    }

    fn sent(code: u16) -> Action {
        Transmit(format!("SIP/2.0 {code}").into_bytes())
    }

    fn new(invite: bool, reliable: bool) -> ServerTransaction {
        ServerTransaction::new(invite, reliable).0
    }

    #[test]
    fn invite_answered_200_is_retransmitted_until_acked_then_copies_are_absorbed_until_l() {
        let (mut t, first) = ServerTransaction::new(true, false);
        assert_eq!(first, vec![Start(Timer::Trying, TRYING_DELAY)]);
        let table: Vec<(Input, Vec<Action>, State)> = vec![
            (Input::Retransmission, vec![], State::Proceeding),
            (Input::Timer(Timer::Trying), vec![SendTrying], State::Proceeding),
            (respond(100), vec![sent(100)], State::Proceeding),
            (Input::Retransmission, vec![sent(100)], State::Proceeding),
            (respond(180), vec![sent(180)], State::Proceeding),
            (respond(200), vec![sent(200), Start(Timer::G, T1), Start(Timer::L, 64 * T1)], State::Accepted),
            (Input::Timer(Timer::G), vec![sent(200), Start(Timer::G, 2 * T1)], State::Accepted),
            (Input::Retransmission, vec![sent(200)], State::Accepted),
            (Input::Timer(Timer::G), vec![sent(200), Start(Timer::G, 4 * T1)], State::Accepted),
            (Input::Timer(Timer::G), vec![sent(200), Start(Timer::G, T2)], State::Accepted),
            (Input::Ack, vec![], State::Accepted),
            (Input::Timer(Timer::G), vec![], State::Accepted),
            (Input::Retransmission, vec![], State::Accepted),
            (Input::Ack, vec![], State::Accepted),
            (Input::Timer(Timer::L), vec![Done], State::Terminated),
            (Input::Retransmission, vec![], State::Terminated),
        ];
        for (i, (input, want, state)) in table.into_iter().enumerate() {
            assert_eq!(t.on(input), want, "step {i}");
            assert_eq!(t.state(), state, "step {i}");
        }
    }

    /// Driven by the endpoint's timer queue on paused time: a 200 never acknowledged is resent
    /// at 0.5, 1.5, 3.5 s and then every 4 s, and the call is given up at 32 s (Timer L).
    #[tokio::test(start_paused = true)]
    async fn an_unacknowledged_200_follows_timers_g_and_l_on_the_clock() {
        let start = tokio::time::Instant::now();
        let mut timers = crate::sip::timers::Timers::default();
        let (mut t, first) = ServerTransaction::new(true, false);
        let mut actions = first;
        actions.extend(t.on(respond(200)));
        let mut sent = Vec::new();
        loop {
            let mut over = false;
            for a in actions.drain(..) {
                match a {
                    Transmit(_) => sent.push(start.elapsed().as_millis()),
                    Start(timer, after) => {
                        timers.start(after, timer);
                    }
                    NoAck => sent.push(u128::MAX),
                    Done => over = true,
                    SendTrying => panic!("the 200 went out before the Trying timer"),
                }
            }
            if over {
                break;
            }
            let timer = timers.expired().await;
            actions = t.on(Input::Timer(timer));
        }
        assert_eq!(start.elapsed().as_millis(), 32_000);
        assert_eq!(sent, [0, 500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500, u128::MAX]);
    }

    #[test]
    fn a_quick_answer_needs_no_trying() {
        let mut t = new(true, false);
        t.on(respond(180));
        assert_eq!(t.on(Input::Timer(Timer::Trying)), vec![]);
    }

    #[test]
    fn a_200_never_acked_ends_with_no_ack() {
        let mut t = new(true, true);
        t.on(respond(200));
        assert_eq!(t.on(Input::Timer(Timer::L)), vec![NoAck, Done]);
    }

    #[test]
    fn invite_rejected_waits_for_ack_then_confirmed() {
        let mut t = new(true, false);
        assert_eq!(t.on(respond(487)), vec![sent(487), Start(Timer::G, T1), Start(Timer::H, 64 * T1)]);
        assert_eq!(t.on(Input::Retransmission), vec![sent(487)]);
        assert_eq!(t.on(Input::Ack), vec![Start(Timer::I, T4)]);
        assert_eq!(t.state(), State::Confirmed);
        assert_eq!(t.on(Input::Retransmission), vec![]);
        assert_eq!(t.on(Input::Timer(Timer::I)), vec![Done]);

        let mut tcp = new(true, true);
        assert_eq!(tcp.on(respond(486)), vec![sent(486), Start(Timer::H, 64 * T1)]);
        assert_eq!(tcp.on(Input::Timer(Timer::H)), vec![NoAck, Done]);
    }

    #[test]
    fn non_invite_absorbs_retransmissions() {
        let mut t = new(false, false);
        assert_eq!(t.on(Input::Retransmission), vec![]);
        assert_eq!(t.on(respond(200)), vec![sent(200), Start(Timer::J, 64 * T1)]);
        assert_eq!(t.on(Input::Retransmission), vec![sent(200)]);
        assert_eq!(t.on(Input::Timer(Timer::J)), vec![Done]);
        let mut tcp = new(false, true);
        assert_eq!(tcp.on(respond(200)), vec![sent(200), Start(Timer::J, Duration::ZERO)]);
    }
}
