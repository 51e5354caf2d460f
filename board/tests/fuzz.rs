//! Parsing never panics, whatever the input: arbitrary strings, and built-in profiles with
//! random edits (which keep the input close to valid, where the checks run deep).

use proptest::prelude::*;
use tipring_board::{Profile, builtin_text};

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn parse_never_panics_on_arbitrary_text(text in ".{0,400}") {
        let _ = Profile::parse("fuzz.toml", &text);
    }

    #[test]
    fn parse_never_panics_on_edited_builtins(
        which in 0usize..6,
        at in any::<prop::sample::Index>(),
        cut in 0usize..40,
        insert in prop::sample::select(vec![
            "", "0", "-1", "99999999999", "\"", "[", "]", "\n", "=", ",", "-", "é",
            "4096", "4097", "\"1-4096,1-4096\"", "[[span]]\n", "[[group]]\n", "dchannel = 0\n",
            "first_channel = 4095\n", "channels = 4096\n", "\"sim\"", "\"t1\"", "\"e1\"",
            "\"analog\"", "\"clear\"", "\"em-wink\"", "\"cas\"", "\"ccs\"", "number = 128\n",
        ]),
    ) {
        let name = Profile::builtin_names()[which];
        let text = builtin_text(name).unwrap_or_default();
        let mut i = at.index(text.len() + 1);
        while !text.is_char_boundary(i) {
            i -= 1;
        }
        let mut end = (i + cut).min(text.len());
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        let edited = format!("{}{insert}{}", &text[..i], &text[end..]);
        if let Ok(p) = Profile::parse("fuzz.toml", &edited) {
            // Whatever is accepted writes out and reads back the same.
            let _ = p.system_conf();
            let again = Profile::parse("again.toml", &p.to_toml());
            prop_assert_eq!(again.ok(), Some(p));
        }
    }
}
