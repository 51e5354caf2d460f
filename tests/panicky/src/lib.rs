//! A test handler: answers, collects one digit, and panics if it is `9`; otherwise stores
//! the digit in the variable `digit` and hangs up.

use tipring_handler::{CallHandler, Channel, Collect, Event, HandlerError};

/// One call.
#[derive(Debug)]
pub struct Panicky;

impl CallHandler for Panicky {
    fn new(_params: &str) -> Result<Self, HandlerError> {
        Ok(Panicky)
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
                ch.hangup(16)?;
            }
            _ => {}
        }
        Ok(())
    }
}

tipring_handler::export_handler!(Panicky, name = "panicky", version = "0.0.1");
