//! Stop strings over streamed text: text that might be the start of a stop string is held
//! back until it is known not to be; a stop string itself is never released.

/// Result of feeding text to a [`StopMatcher`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Released {
    /// Text that is safe to emit now.
    pub text: String,
    /// True when a stop string was found: generation must end, `text` is everything
    /// before it and nothing after it will ever be released.
    pub stopped: bool,
}

/// Incremental stop-string detector.
#[derive(Debug, Clone, Default)]
pub struct StopMatcher {
    stops: Vec<String>,
    held: String,
}

impl StopMatcher {
    /// Matcher for the given stop strings (empty strings are ignored).
    pub fn new<S: AsRef<str>>(stops: &[S]) -> Self {
        Self {
            stops: stops
                .iter()
                .map(|s| s.as_ref().to_string())
                .filter(|s| !s.is_empty())
                .collect(),
            held: String::new(),
        }
    }

    /// Adds a stop string.
    pub fn add(&mut self, stop: &str) {
        if !stop.is_empty() && !self.stops.iter().any(|s| s == stop) {
            self.stops.push(stop.to_string());
        }
    }

    /// Text currently held back.
    pub fn held(&self) -> &str {
        &self.held
    }

    /// Appends generated text; returns what can be released.
    pub fn push(&mut self, text: &str) -> Released {
        self.held.push_str(text);
        // Earliest complete stop string wins.
        let hit = self
            .stops
            .iter()
            .filter_map(|s| self.held.find(s.as_str()))
            .min();
        if let Some(at) = hit {
            let mut text = std::mem::take(&mut self.held);
            text.truncate(at);
            return Released {
                text,
                stopped: true,
            };
        }
        // Hold back the longest suffix that is a proper prefix of some stop string.
        let keep_from = self
            .held
            .char_indices()
            .map(|(i, _)| i)
            .find(|&i| {
                let tail = &self.held[i..];
                self.stops.iter().any(|s| s.starts_with(tail))
            })
            .unwrap_or(self.held.len());
        let rest = self.held.split_off(keep_from);
        let text = std::mem::replace(&mut self.held, rest);
        Released {
            text,
            stopped: false,
        }
    }

    /// Ends the stream without a stop string: releases everything held back.
    pub fn finish(&mut self) -> String {
        std::mem::take(&mut self.held)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `chunks`, returns (released text, stopped) — the released text never
    /// contains a stop string.
    fn run(stops: &[&str], chunks: &[&str]) -> (String, bool) {
        let mut m = StopMatcher::new(stops);
        let mut out = String::new();
        for c in chunks {
            let r = m.push(c);
            out.push_str(&r.text);
            if r.stopped {
                return (out, true);
            }
        }
        out.push_str(&m.finish());
        (out, false)
    }

    #[test]
    fn cuts_before_a_stop_split_across_chunks() {
        assert_eq!(
            run(&["\nUser:"], &["Hi", " there\nU", "se", "r: more"]),
            ("Hi there".into(), true)
        );
        assert_eq!(run(&["</s>"], &["a</s>b"]), ("a".into(), true));
        assert_eq!(run(&["ab"], &["ab"]), ("".into(), true));
    }

    #[test]
    fn holds_back_only_possible_prefixes() {
        let mut m = StopMatcher::new(&["STOP"]);
        assert_eq!(m.push("xxS").text, "xx");
        assert_eq!(m.held(), "S");
        assert_eq!(m.push("T").text, "");
        let r = m.push("x");
        assert_eq!((r.text.as_str(), r.stopped), ("STx", false));
        assert_eq!(m.held(), "");
    }

    #[test]
    fn false_start_is_released_and_later_match_found() {
        // "aab" with stop "ab": the first 'a' is a false start.
        assert_eq!(run(&["ab"], &["a", "a", "b"]), ("a".into(), true));
        assert_eq!(run(&["abc"], &["ab", "ab", "c"]), ("ab".into(), true));
    }

    #[test]
    fn earliest_of_several_stops_and_unicode() {
        assert_eq!(run(&["yz", "b"], &["ab", "cyz"]), ("a".into(), true));
        assert_eq!(run(&["é!"], &["café", "?"]), ("café?".into(), false));
        assert_eq!(run(&["é!"], &["café", "!"]), ("caf".into(), true));
        assert_eq!(run(&["✓✓"], &["a✓", "b"]), ("a✓b".into(), false));
    }

    #[test]
    fn no_stops_releases_everything_immediately() {
        let mut m = StopMatcher::new::<&str>(&[]);
        assert_eq!(m.push("abc").text, "abc");
        assert_eq!(m.finish(), "");
        let mut m = StopMatcher::new(&[""]);
        assert_eq!(m.push("abc").text, "abc");
    }

    #[test]
    fn finish_flushes_a_held_prefix() {
        assert_eq!(run(&["###"], &["x", "##"]), ("x##".into(), false));
    }
}
