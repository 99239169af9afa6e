//! Language detection on the plain text.

use whatlang::Detector;

/// Below this many characters whatlang guesses more than it detects.
pub const MIN_CHARS: usize = 20;

/// The detected language as an ISO 639-3 code, with whatlang's confidence; `None` when the
/// text is too short or the detection is not reliable.
pub fn detect(detector: &Detector, plain: &str) -> Option<(&'static str, f64)> {
    if plain.chars().filter(|c| !c.is_whitespace()).count() < MIN_CHARS {
        return None;
    }
    let info = detector.detect(plain)?;
    info.is_reliable()
        .then(|| (info.lang().code(), info.confidence()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lang(text: &str) -> Option<&'static str> {
        detect(&Detector::new(), text).map(|(code, _)| code)
    }

    #[test]
    fn detects_common_languages_as_iso_639_3() {
        assert_eq!(
            lang("I have been using this library for years and it has never let me down once."),
            Some("eng")
        );
        assert_eq!(
            lang("Ich habe diese Bibliothek seit Jahren benutzt und sie hat mich nie enttäuscht."),
            Some("deu")
        );
        assert_eq!(
            lang(
                "Llevo muchos años usando esta biblioteca y nunca me ha fallado. Además, \
                 la documentación es clara y la comunidad siempre ayuda cuando hay dudas."
            ),
            Some("spa")
        );
        assert_eq!(
            lang("Я пользуюсь этой библиотекой много лет, и она ни разу меня не подвела."),
            Some("rus")
        );
    }

    #[test]
    fn short_or_empty_text_has_no_language() {
        assert_eq!(lang("lol same"), None);
        assert_eq!(lang(""), None);
        assert_eq!(lang("👀👀👀👀👀👀👀👀👀👀👀👀👀👀👀👀👀👀👀👀👀"), None);
    }
}
