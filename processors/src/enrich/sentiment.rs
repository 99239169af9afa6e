//! Lexicon-based sentiment in the spirit of VADER, with our own word list
//! ([`super::lexicon`]): each word with a feeling adds its weight, adjusted by the words
//! around it, and the sum is squashed into [-1, 1].
//!
//! Rules, in the order they apply to a word:
//! - an intensifier just before strengthens it ("very good"), a softener weakens it
//!   ("slightly annoying"); one two words before counts half;
//! - a word in capitals amid lower-case text is shouted: stronger;
//! - a negation within the three words before turns it around and weakens it
//!   ("not good" is bad, "not bad" is mildly good);
//! - after "but", words count more and words before it less ("nice idea, but useless").
//!
//! Exclamation marks (up to four) push the total further in its own direction.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::LazyLock;

use super::lexicon::{INTENSIFIERS, NEGATIONS, SYMBOLS, WORDS};

/// How much a negated word keeps of its weight, with its sign turned.
const NEGATED: f32 = -0.6;
/// Extra weight of a shouted word.
const SHOUT: f32 = 0.6;
/// Weights before and after a contrasting "but".
const BEFORE_BUT: f32 = 0.5;
const AFTER_BUT: f32 = 1.5;
/// Added per exclamation mark, towards the total's sign.
const EXCLAMATION: f32 = 0.25;
/// The squashing constant: a total of ±4 (one strong word) maps to about ±0.7.
const SQUASH: f32 = 16.0;

struct Lexicon {
    words: HashMap<&'static str, f32>,
    intensifiers: HashMap<&'static str, f32>,
    symbols: HashMap<&'static str, f32>,
}

static LEXICON: LazyLock<Lexicon> = LazyLock::new(|| Lexicon {
    words: WORDS.iter().copied().collect(),
    intensifiers: INTENSIFIERS.iter().copied().collect(),
    symbols: SYMBOLS.iter().copied().collect(),
});

struct Token<'a> {
    /// Lowercased, curly apostrophes made straight; borrowed from the text when it already is.
    word: Cow<'a, str>,
    shouted: bool,
    valence: f32,
}

/// Sentiment of plain text in [-1, 1]; 0 for neutral or empty text.
pub fn score(plain: &str) -> f64 {
    let lexicon = &*LEXICON;
    let tokens = tokenize(plain, lexicon);
    if tokens.is_empty() {
        return 0.0;
    }
    let letters = plain.chars().filter(|c| c.is_alphabetic()).count();
    let upper = plain.chars().filter(|c| c.is_uppercase()).count();
    // Shouting only stands out in text that is not all capitals.
    let mostly_upper = letters > 0 && upper * 2 > letters;
    let last_but = tokens.iter().rposition(|t| t.word == "but");

    let mut total = 0.0f32;
    for (i, token) in tokens.iter().enumerate() {
        let mut v = token.valence;
        if v == 0.0 {
            continue;
        }
        let sign = v.signum();

        for (distance, weight) in [(1usize, 1.0f32), (2, 0.5)] {
            if let Some(prev) = i.checked_sub(distance).map(|j| &tokens[j]) {
                if let Some(boost) = lexicon.intensifiers.get(prev.word.as_ref()) {
                    v += sign * boost * weight * v.abs().max(1.0);
                }
            }
        }
        if token.shouted && !mostly_upper {
            v += sign * SHOUT;
        }
        if tokens[i.saturating_sub(3)..i]
            .iter()
            .any(|t| is_negation(&t.word))
        {
            v *= NEGATED;
        }
        match last_but {
            Some(b) if i < b => v *= BEFORE_BUT,
            Some(b) if i > b => v *= AFTER_BUT,
            _ => {}
        }
        total += v;
    }

    if total != 0.0 {
        let bangs = plain.chars().filter(|c| *c == '!').count().min(4) as f32;
        total += total.signum() * bangs * EXCLAMATION;
    }
    let squashed = total / (total * total + SQUASH).sqrt();
    f64::from(squashed.clamp(-1.0, 1.0))
}

fn is_negation(word: &str) -> bool {
    NEGATIONS.contains(&word) || word.ends_with("n't")
}

/// The word as the lexicon spells it. Most words already are lowercase with straight
/// apostrophes, and are borrowed rather than copied (twice) per word.
fn lexicon_form(trimmed: &str) -> Cow<'_, str> {
    let changes = |c: char| {
        if c.is_ascii() {
            c.is_ascii_uppercase()
        } else {
            c == '’' || !c.to_lowercase().eq(std::iter::once(c))
        }
    };
    if trimmed.chars().any(changes) {
        Cow::Owned(trimmed.replace('’', "'").to_lowercase())
    } else {
        Cow::Borrowed(trimmed)
    }
}

fn tokenize<'a>(plain: &'a str, lexicon: &Lexicon) -> Vec<Token<'a>> {
    plain
        .split_whitespace()
        .filter_map(|raw| {
            if let Some(v) = lexicon.symbols.get(raw) {
                return Some(Token {
                    word: Cow::Borrowed(""),
                    shouted: false,
                    valence: *v,
                });
            }
            let trimmed = raw.trim_matches(|c: char| !c.is_alphanumeric() && c != '\'');
            let trimmed = trimmed.trim_matches('\'');
            if trimmed.is_empty() {
                return None;
            }
            let word = lexicon_form(trimmed);
            let shouted = trimmed.chars().count() > 1
                && trimmed.chars().all(|c| !c.is_lowercase())
                && trimmed.chars().any(char::is_uppercase);
            let valence = lexicon.words.get(word.as_ref()).copied().unwrap_or(0.0);
            Some(Token {
                word,
                shouted,
                valence,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn neutral_and_empty_text_is_zero() {
        assert_eq!(score(""), 0.0);
        assert_eq!(score("The meeting is at 3pm in room 204."), 0.0);
    }

    #[test]
    fn clear_feelings_have_the_right_sign() {
        assert!(score("This is a great library, thanks for sharing!") > 0.5);
        assert!(score("This update is terrible and the app is useless now.") < -0.5);
    }

    #[test]
    fn negation_turns_the_feeling_around() {
        assert!(score("this is good") > 0.0);
        assert!(score("this is not good") < 0.0);
        assert!(score("this isn't good") < 0.0);
        assert!(score("honestly not bad at all") > 0.0);
        assert!(score("not bad").abs() < score("bad").abs());
    }

    #[test]
    fn intensifiers_and_softeners_scale() {
        let plain = score("the movie was good");
        let boosted = score("the movie was very good");
        let softened = score("the movie was slightly good");
        assert!(boosted > plain, "{boosted} > {plain}");
        assert!(softened < plain, "{softened} < {plain}");
    }

    #[test]
    fn shouting_and_exclamations_strengthen() {
        assert!(score("this is GREAT") > score("this is great"));
        assert!(score("this is great!!!") > score("this is great"));
        // All-caps text is not shouting word by word.
        assert!((score("THIS IS GREAT") - score("this is great")).abs() < 1e-6);
    }

    #[test]
    fn but_shifts_weight_to_what_follows() {
        assert!(score("The idea is nice, but the implementation is awful") < 0.0);
        assert!(score("The docs are bad, but the library is excellent") > 0.0);
    }

    #[test]
    fn emoticons_and_emoji_count() {
        assert!(score("see you tomorrow :)") > 0.0);
        assert!(score("my build broke again 😭") < 0.0);
    }

    #[test]
    fn stays_within_bounds_on_long_rants() {
        let rant = "terrible awful horrible worst garbage ".repeat(200);
        let praise = "AMAZING excellent perfect love best!!!!! ".repeat(200);
        assert!((-1.0..=-0.99).contains(&score(&rant)));
        assert!((0.99..=1.0).contains(&score(&praise)));
    }
}
