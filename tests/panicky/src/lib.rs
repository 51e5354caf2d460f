//! A test handler: answers, collects one digit, and panics if it is `9`. On `7` another
//! thread wakes the call twice (tokens 70 and 71); the handler records the tokens in the
//! variable `woken` ("70,71") and hangs up after the second. Any other digit is stored in
//! the variable `digit` and the call hung up.

use tipring_handler::{CallHandler, Channel, Collect, Event, HandlerError};

/// One call.
#[derive(Debug, Default)]
pub struct Panicky {
    woken: Vec<u64>,
}

impl CallHandler for Panicky {
    fn new(_params: &str) -> Result<Self, HandlerError> {
        Ok(Panicky::default())
    }

    fn on_event(&mut self, ch: &mut Channel<'_>, ev: &Event<'_>) -> Result<(), HandlerError> {
        match ev {
            Event::Offer { .. } => {
                ch.answer()?;
            }
            Event::Answered => {
                ch.collect(&Collect::digits(1))?;
            }
            Event::OpComplete { digits, .. } if !digits.is_empty() => {
                assert!(*digits != "9", "the caller keyed 9");
                ch.set_var("digit", digits)?;
                if *digits == "7" {
                    let waker = ch.waker();
                    std::thread::spawn(move || {
                        let _ = waker.wake(70);
                        let _ = waker.wake(71);
                    });
                } else {
                    ch.hangup(16)?;
                }
            }
            Event::Wake { token } => {
                self.woken.push(*token);
                let list: Vec<String> = self.woken.iter().map(u64::to_string).collect();
                ch.set_var("woken", &list.join(","))?;
                if self.woken.len() == 2 {
                    ch.hangup(16)?;
                }
            }
            _ => {}
        }
        Ok(())
    }
}

tipring_handler::export_handler!(Panicky, name = "panicky", version = "0.0.1");
