//! Channel lists: `"1-4,7"` in a profile and in system.conf.

use crate::profile::MAX_CHANNEL;

/// Parses a channel list written as text, `"1-4,7"` (spaces allowed around the parts),
/// into ascending channel numbers.
///
/// # Errors
/// A message (without the key) for a part that is not a number or range, a range that runs
/// backwards, channel 0 or a channel above [`MAX_CHANNEL`], a channel listed twice, or an
/// empty list.
pub fn parse_list(text: &str) -> Result<Vec<u32>, String> {
    let mut out = Vec::new();
    let mut seen = vec![false; MAX_CHANNEL as usize + 1];
    for part in text.split(',') {
        let part = part.trim();
        let (lo, hi) = match part.split_once('-') {
            Some((a, b)) => (number(a.trim(), text)?, number(b.trim(), text)?),
            None => {
                let n = number(part, text)?;
                (n, n)
            }
        };
        if hi < lo {
            return Err(format!("{text:?}: the range {part} runs backwards"));
        }
        check(lo)?;
        check(hi)?;
        // Refuse a repeat at once, so no input can make the list longer than MAX_CHANNEL.
        for n in lo..=hi {
            if std::mem::replace(&mut seen[n as usize], true) {
                return Err(format!("channel {n} is listed twice"));
            }
            out.push(n);
        }
    }
    finish(out)
}

/// Checks a list given as TOML integers and returns it ascending.
///
/// # Errors
/// As [`parse_list`].
pub fn from_numbers(numbers: &[i64]) -> Result<Vec<u32>, String> {
    let mut out = Vec::with_capacity(numbers.len());
    for &n in numbers {
        let n = u32::try_from(n)
            .ok()
            .filter(|n| (1..=MAX_CHANNEL).contains(n))
            .ok_or_else(|| out_of_range(n))?;
        out.push(n);
    }
    finish(out)
}

/// Writes ascending, distinct channel numbers as `"1-4,7"`.
pub fn format_list(channels: &[u32]) -> String {
    let mut out = String::new();
    let mut i = 0;
    while i < channels.len() {
        let start = channels[i];
        let mut end = start;
        while i + 1 < channels.len() && channels[i + 1] == end + 1 {
            end += 1;
            i += 1;
        }
        if !out.is_empty() {
            out.push(',');
        }
        if end == start {
            out.push_str(&start.to_string());
        } else {
            out.push_str(&format!("{start}-{end}"));
        }
        i += 1;
    }
    out
}

fn number(s: &str, whole: &str) -> Result<u32, String> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "{whole:?} is not a channel list; write it like \"1-4,7\" or [1, 2, 3]"
        ));
    }
    // Only digits: the one failure left is overflow.
    s.parse::<u32>().map_err(|_| out_of_range(i64::MAX))
}

fn check(n: u32) -> Result<(), String> {
    if (1..=MAX_CHANNEL).contains(&n) {
        Ok(())
    } else {
        Err(out_of_range(i64::from(n)))
    }
}

fn out_of_range(n: i64) -> String {
    if n == i64::MAX {
        format!("channel numbers run from 1 to {MAX_CHANNEL}")
    } else {
        format!("channel {n}: channel numbers run from 1 to {MAX_CHANNEL}")
    }
}

fn finish(mut out: Vec<u32>) -> Result<Vec<u32>, String> {
    if out.is_empty() {
        return Err("no channels; write them like \"1-4,7\" or [1, 2, 3]".into());
    }
    out.sort_unstable();
    if let Some(w) = out.windows(2).find(|w| w[0] == w[1]) {
        return Err(format!("channel {} is listed twice", w[0]));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_and_singles() {
        assert_eq!(parse_list("1-4,7").unwrap(), vec![1, 2, 3, 4, 7]);
        assert_eq!(parse_list(" 9 , 2 - 3 ").unwrap(), vec![2, 3, 9]);
        assert_eq!(format_list(&[1, 2, 3, 4, 7]), "1-4,7");
        assert_eq!(format_list(&[1, 2, 3, 4, 7, 8]), "1-4,7-8");
        assert_eq!(format_list(&[5]), "5");
        assert_eq!(format_list(&[]), "");
        assert_eq!(from_numbers(&[3, 1, 2]).unwrap(), vec![1, 2, 3]);
    }

    #[test]
    fn bad_lists_say_why() {
        assert_eq!(
            parse_list("4-1").unwrap_err(),
            "\"4-1\": the range 4-1 runs backwards"
        );
        assert_eq!(
            parse_list("1-x").unwrap_err(),
            "\"1-x\" is not a channel list; write it like \"1-4,7\" or [1, 2, 3]"
        );
        assert_eq!(
            parse_list("1-3,2").unwrap_err(),
            "channel 2 is listed twice"
        );
        assert_eq!(
            parse_list("0-2").unwrap_err(),
            "channel 0: channel numbers run from 1 to 4096"
        );
        assert_eq!(
            parse_list("1-99999999999").unwrap_err(),
            "channel numbers run from 1 to 4096"
        );
        assert_eq!(
            from_numbers(&[-1]).unwrap_err(),
            "channel -1: channel numbers run from 1 to 4096"
        );
        assert!(parse_list("").is_err());
        assert!(from_numbers(&[]).is_err());
        assert!(parse_list("1,,2").is_err());
    }
}
