//! RFC 3261 §17.1.2 non-INVITE client transactions (our BYE and REFER), without I/O. Over UDP
//! the request is resent on Timer E (T1 doubling to T2) until a response comes; Timer F gives up
//! after 64·T1; Timer K keeps absorbing response copies for T4.
//!
//! ```text
//! Trying ─1xx─► Proceeding ─final─► Completed ─Timer K─► Terminated
//!   └──────────────final──────────────┘
//!   └─Timer F (also from Proceeding)─► Terminated (Timeout)
//! ```

use super::{T1, T2, T4};
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Timer {
    /// Resend the request (unreliable transport only).
    E,
    /// Give up.
    F,
    /// Leave Completed.
    K,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Trying,
    Proceeding,
    Completed,
    Terminated,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Input {
    Response(u16),
    Timer(Timer),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Transmit(Vec<u8>),
    Start(Timer, Duration),
    /// The final response, for the core.
    Deliver(u16),
    /// No final response came: for the core, as a 408 would be.
    Timeout,
    Done,
}

#[derive(Debug, Clone)]
pub struct ClientTransaction {
    request: Vec<u8>,
    reliable: bool,
    state: State,
    e: Duration,
}

impl ClientTransaction {
    /// Sends `request` and arms the timers.
    pub fn new(request: Vec<u8>, reliable: bool) -> (ClientTransaction, Vec<Action>) {
        let mut first = vec![Action::Transmit(request.clone()), Action::Start(Timer::F, 64 * T1)];
        if !reliable {
            first.push(Action::Start(Timer::E, T1));
        }
        (ClientTransaction { request, reliable, state: State::Trying, e: T1 }, first)
    }

    #[cfg(test)]
    pub fn state(&self) -> State {
        self.state
    }

    pub fn on(&mut self, input: Input) -> Vec<Action> {
        use Action::*;
        use State::*;
        match (self.state, input) {
            (Trying | Proceeding, Input::Response(code)) if code < 200 => {
                self.state = Proceeding;
                vec![]
            }
            (Trying | Proceeding, Input::Response(code)) => {
                self.state = Completed;
                vec![Deliver(code), Start(Timer::K, if self.reliable { Duration::ZERO } else { T4 })]
            }
            (Trying | Proceeding, Input::Timer(Timer::E)) => {
                // In Proceeding the interval is T2 at once (§17.1.2.2).
                self.e = if self.state == Proceeding { T2 } else { (self.e * 2).min(T2) };
                vec![Transmit(self.request.clone()), Start(Timer::E, self.e)]
            }
            (Trying | Proceeding, Input::Timer(Timer::F)) => {
                self.state = Terminated;
                vec![Timeout, Done]
            }
            (Completed, Input::Timer(Timer::K)) => {
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

    #[test]
    fn udp_request_is_resent_until_answered_and_copies_absorbed() {
        let (mut t, first) = ClientTransaction::new(b"BYE".to_vec(), false);
        assert_eq!(first, vec![Transmit(b"BYE".to_vec()), Start(Timer::F, 64 * T1), Start(Timer::E, T1)]);
        let table: Vec<(Input, Vec<Action>, State)> = vec![
            (Input::Timer(Timer::E), vec![Transmit(b"BYE".to_vec()), Start(Timer::E, 2 * T1)], State::Trying),
            (Input::Timer(Timer::E), vec![Transmit(b"BYE".to_vec()), Start(Timer::E, 4 * T1)], State::Trying),
            (Input::Response(100), vec![], State::Proceeding),
            (Input::Timer(Timer::E), vec![Transmit(b"BYE".to_vec()), Start(Timer::E, T2)], State::Proceeding),
            (Input::Response(200), vec![Deliver(200), Start(Timer::K, T4)], State::Completed),
            (Input::Response(200), vec![], State::Completed),
            (Input::Timer(Timer::E), vec![], State::Completed),
            (Input::Timer(Timer::F), vec![], State::Completed),
            (Input::Timer(Timer::K), vec![Done], State::Terminated),
            (Input::Response(200), vec![], State::Terminated),
        ];
        for (i, (input, want, state)) in table.into_iter().enumerate() {
            assert_eq!(t.on(input), want, "step {i}");
            assert_eq!(t.state(), state, "step {i}");
        }
    }

    /// The machine driven by the endpoint's timer queue on paused time: an unanswered BYE over
    /// UDP goes out at 0, 0.5, 1.5, 3.5, 7.5 s and then every 4 s (T2), and gives up at 32 s.
    #[tokio::test(start_paused = true)]
    async fn unanswered_udp_request_follows_timers_e_and_f_on_the_clock() {
        let start = tokio::time::Instant::now();
        let mut timers = crate::sip::timers::Timers::default();
        let (mut t, mut actions) = ClientTransaction::new(b"BYE".to_vec(), false);
        let mut sent = Vec::new();
        let gave_up = loop {
            let mut done = None;
            for a in actions.drain(..) {
                match a {
                    Transmit(_) => sent.push(start.elapsed().as_millis()),
                    Start(timer, after) => {
                        timers.start(after, timer);
                    }
                    Timeout => done = Some(start.elapsed().as_millis()),
                    Deliver(_) | Done => {}
                }
            }
            if let Some(at) = done {
                break at;
            }
            let timer = timers.expired().await;
            actions = t.on(Input::Timer(timer));
        };
        assert_eq!(sent, [0, 500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500]);
        assert_eq!(gave_up, 32_000);
    }

    #[test]
    fn no_answer_times_out_and_tcp_is_never_resent() {
        let (mut t, _) = ClientTransaction::new(b"REFER".to_vec(), false);
        assert_eq!(t.on(Input::Timer(Timer::F)), vec![Timeout, Done]);
        assert_eq!(t.on(Input::Response(202)), vec![]);

        let (mut tcp, first) = ClientTransaction::new(b"BYE".to_vec(), true);
        assert_eq!(first, vec![Transmit(b"BYE".to_vec()), Start(Timer::F, 64 * T1)]);
        assert_eq!(tcp.on(Input::Response(481)), vec![Deliver(481), Start(Timer::K, Duration::ZERO)]);
    }
}
