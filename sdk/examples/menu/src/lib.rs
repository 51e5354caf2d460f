//! An example Tipring handler in Rust: a digit menu that can bridge the caller to another
//! line.
//!
//! The caller hears "enter the number you wish to call, followed by pound" and keys a line
//! number (`2#`). The handler places a call to that line (`originate`), tells the caller to
//! hold, and bridges the two when it answers; busy, no answer or a bad number get "please
//! try again later". Three empty or invalid entries end the call. A hook flash (a phone on
//! an FXS port) while the menu waits for a number starts it over; the call's variable
//! `flashes` counts them.
//!
//! Route params (JSON): `{"prompts": "/usr/share/asterisk/sounds/en"}`.

#![deny(missing_docs)]

use tipring_handler::{CallHandler, Channel, Collect, Event, HandlerError, OpId, OpResult, Play};

/// What the menu waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Answered; the menu prompt and digit collection run.
    Menu,
    /// "Invalid", then the menu again.
    Invalid,
    /// Calling the line the caller chose.
    Calling,
    /// Bridged to it.
    Bridged,
    /// "Try again later" / "goodbye", then hang up.
    Leaving,
}

/// One call's menu.
#[derive(Debug)]
pub struct Menu {
    prompts: String,
    state: State,
    /// The operation whose completion moves the menu on.
    op: Option<OpId>,
    tries: u32,
    target: u32,
    flashes: u32,
}

/// The value of `"key": "value"` in a flat JSON object (enough for route params).
fn param<'a>(json: &'a str, key: &str) -> Option<&'a str> {
    let k = format!("\"{key}\"");
    let rest = &json[json.find(&k)? + k.len()..];
    let rest = rest.trim_start().strip_prefix(':')?.trim_start();
    let rest = rest.strip_prefix('"')?;
    Some(&rest[..rest.find('"')?])
}

impl Menu {
    fn play(&mut self, ch: &mut Channel<'_>, name: &str) -> Result<(), HandlerError> {
        self.op = Some(ch.play(&Play::new(&format!("file:{}/{name}.wav", self.prompts)))?);
        Ok(())
    }

    fn menu(&mut self, ch: &mut Channel<'_>) -> Result<(), HandlerError> {
        self.state = State::Menu;
        let p = Play::new(&format!("file:{}/vm-enter-num-to-call.wav", self.prompts))
            .collect(Collect::digits(3).term("#"));
        self.op = Some(ch.play(&p)?);
        Ok(())
    }

    fn leave(&mut self, ch: &mut Channel<'_>, prompt: &str) -> Result<(), HandlerError> {
        self.state = State::Leaving;
        self.play(ch, prompt)
    }
}

impl CallHandler for Menu {
    fn new(params: &str) -> Result<Self, HandlerError> {
        Ok(Menu {
            prompts: param(params, "prompts")
                .unwrap_or("/usr/share/asterisk/sounds/en")
                .to_string(),
            state: State::Menu,
            op: None,
            tries: 0,
            target: 0,
            flashes: 0,
        })
    }

    fn on_event(&mut self, ch: &mut Channel<'_>, ev: &Event<'_>) -> Result<(), HandlerError> {
        match ev {
            Event::Offer { .. } => {
                ch.answer()?;
            }
            Event::Answered if self.op.is_none() => self.menu(ch)?,
            Event::Flash => {
                self.flashes += 1;
                ch.set_var("flashes", &self.flashes.to_string())?;
                if matches!(self.state, State::Menu | State::Invalid) {
                    ch.log_info("hook flash: the menu starts over");
                    self.tries = 0;
                    match self.op {
                        // Stopping is asynchronous: the menu restarts when the stopped
                        // prompt completes (as after "invalid").
                        Some(op) => {
                            self.state = State::Invalid;
                            let _ = ch.stop(op);
                        }
                        None => self.menu(ch)?,
                    }
                }
            }
            Event::OpComplete {
                op,
                result,
                digits,
                cause,
                ..
            } if Some(*op) == self.op => match self.state {
                State::Menu => match digits.parse::<u32>() {
                    Ok(line) if line > 0 => {
                        self.target = line;
                        self.state = State::Calling;
                        ch.log_info(&format!("calling line {line} for the caller"));
                        ch.set_var("bridge_to", &line.to_string())?;
                        self.op = Some(ch.originate(&format!("channel:{line}"), "{}")?);
                        // Let the caller know while the line rings (a separate media op).
                        let _ = ch.play(&Play::new(&format!(
                            "file:{}/pls-hold-while-try.wav",
                            self.prompts
                        )));
                    }
                    _ => {
                        self.tries += 1;
                        if self.tries >= 3 {
                            self.leave(ch, "goodbye")?;
                        } else {
                            self.state = State::Invalid;
                            self.play(ch, "pbx-invalid")?;
                        }
                    }
                },
                State::Invalid => self.menu(ch)?,
                State::Calling => {
                    if *result == OpResult::Done {
                        self.state = State::Bridged;
                        self.op = Some(ch.bridge(self.target)?);
                    } else {
                        ch.log_info(&format!(
                            "line {} did not answer ({result:?}, cause {cause})",
                            self.target
                        ));
                        self.leave(ch, "please-try-call-later")?;
                    }
                }
                // The bridge lasts until one side hangs up: then say goodbye.
                State::Bridged => self.leave(ch, "goodbye")?,
                State::Leaving => ch.hangup(16)?,
            },
            _ => {}
        }
        Ok(())
    }
}

tipring_handler::export_handler!(Menu, name = "menu", version = env!("CARGO_PKG_VERSION"));

#[cfg(test)]
mod tests {
    use super::param;

    #[test]
    fn params_are_read() {
        assert_eq!(param(r#"{"prompts": "/x/y"}"#, "prompts"), Some("/x/y"));
        assert_eq!(param(r#"{"prompts":"/z"}"#, "prompts"), Some("/z"));
        assert_eq!(param(r#"{}"#, "prompts"), None);
    }
}
