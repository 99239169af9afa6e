//! Language detection on the plain text: a function-word fast path for the Latin-script
//! languages most used on Reddit, whatlang for the rest.
//!
//! **Why two paths.** whatlang's trigram method looks up about 300 trigrams for every
//! candidate language of the text's script (about 40 for Latin), whatever the text's length:
//! about 70 µs an item, ten times every other enricher together. Most Reddit text is English
//! and holds many function words (`the`, `and`, `you`, `is`), which a hash lookup per word
//! recognises in a microsecond or two.
//!
//! **How an answer is reached**, for text of at least [`MIN_CHARS`] non-blank characters:
//! 1. One pass over the text (at most [`MAX_WORDS`] words) counts letters by script and
//!    looks every word up in the function-word lists of [`words`], skipping links, paths,
//!    e-mail addresses and tokens with digits. A word several languages use counts for each,
//!    its weight split between them.
//! 2. When at least 90% of the letters are Latin, the best-scoring language is answered if
//!    it is one the fast path may answer (English, German, Spanish, French, Portuguese,
//!    Italian, Dutch; not one of the guard languages of [`words`]), at least [`MIN_HITS`]
//!    words and [`MIN_SHARE`] of all words are its function words (or [`LONG_HITS`] and
//!    [`LONG_SHARE`] on long texts, which hold tables and lists), and no other language
//!    scores more than [`MAX_RIVAL`] of it. English headlines, short on function words, may
//!    answer with [`HEADLINE_SHARE`] when the text is all ASCII and no other language
//!    scores more than [`HEADLINE_RIVAL`] of English. The confidence is the answer's share
//!    of the evidence of the two best languages, `best / (best + second)` (at least 2/3).
//! 3. Otherwise, ASCII text of fewer than [`SHORT_WORDS`] words where English scored best,
//!    or nothing scored, has no language. Such text is English titles and fragments
//!    ("Disregard Reddit, acquire bananas."): whatlang is rarely reliable on it (5 of the 392
//!    such texts of the shared Reddit data, all English headlines), and asking it anyway is
//!    what made detection slow.
//! 4. Everything else (other scripts, accented or guard-language text, longer undecided
//!    text) goes to whatlang, whose answer is kept only when whatlang calls it reliable, as
//!    before.
//!
//! **How far it can be trusted.** `agreement.rs` runs both over every comment and post of
//! the shared Reddit data (dumps and recorded API responses): where whatlang is reliable the
//! fast path gives the same language on at least 99% of the texts it answers (measured: all
//! but one of 3,873; the one is an English comment whatlang calls French). Where whatlang is
//! not reliable, the fast path still answers most short English texts, which whatlang left
//! without a language; a sample of them read by hand was all English.

mod words;

#[cfg(test)]
mod agreement;

use whatlang::Detector;

use words::{FunctionWords, Mask, ENGLISH, LANGUAGES, MAX_WORD_BYTES};

/// Below this many non-blank characters neither path detects anything worth keeping.
pub const MIN_CHARS: usize = 20;
/// The fewest function words of the answered language.
pub const MIN_HITS: u16 = 2;
/// The smallest share of all words that must be function words of the answered language.
pub const MIN_SHARE: f32 = 0.3;
/// Long texts (tables, lists, code with prose around it) may answer with this many hits...
pub const LONG_HITS: u16 = 15;
/// ...when they are at least this share of the words.
pub const LONG_SHARE: f32 = 0.15;
/// The runner-up's evidence may be at most this share of the answered language's.
pub const MAX_RIVAL: f32 = 0.5;
/// English headlines ("Jim Zorn Named Head Coach of The Redskins") hold fewer function
/// words: this share is enough when the text is (nearly) all ASCII, as English is and most
/// other Latin-script languages are not...
pub const HEADLINE_SHARE: f32 = 0.2;
/// ...and no other language scores more than this share of English.
pub const HEADLINE_RIVAL: f32 = 0.4;
/// Undecided ASCII text with fewer words than this, where English scored best or nothing
/// scored, has no language (whatlang is not asked).
pub const SHORT_WORDS: usize = 10;
/// Words read by the fast path; beyond this many the answer does not change, only the cost.
pub const MAX_WORDS: usize = 256;

/// Which way [`LanguageDetector::detect_traced`] reached its answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Path {
    /// Fewer than [`MIN_CHARS`] non-blank characters: no language.
    TooShort,
    /// Answered by the function-word fast path.
    FunctionWords,
    /// Short ASCII text the fast path could not decide: no language, whatlang not asked.
    Undecided,
    /// Asked whatlang (its answer, when reliable).
    Whatlang,
}

/// Language detection, built once per enricher: the function-word table and whatlang.
pub struct LanguageDetector {
    words: FunctionWords,
    whatlang: Detector,
}

impl Default for LanguageDetector {
    fn default() -> Self {
        Self::new()
    }
}

impl LanguageDetector {
    pub fn new() -> Self {
        Self {
            words: FunctionWords::new(),
            whatlang: Detector::new(),
        }
    }

    /// The language of `plain` as an ISO 639-3 code with a confidence in (0, 1]; `None`
    /// when the text is too short or no path is confident.
    pub fn detect(&self, plain: &str) -> Option<(&'static str, f64)> {
        self.detect_traced(plain).0
    }

    /// [`detect`](Self::detect), and which path answered (for the benchmark and the
    /// agreement test).
    pub fn detect_traced(&self, plain: &str) -> (Option<(&'static str, f64)>, Path) {
        let scan = self.scan(plain);
        if scan.non_blank < MIN_CHARS {
            return (None, Path::TooShort);
        }
        if scan.mostly_latin() {
            match scan.decide() {
                Verdict::Answer(code, confidence) => {
                    return (Some((code, confidence)), Path::FunctionWords)
                }
                Verdict::Unsure { english: true }
                    if scan.words < SHORT_WORDS && scan.plain_ascii() =>
                {
                    return (None, Path::Undecided)
                }
                Verdict::Unsure { .. } => {}
            }
        }
        (self.whatlang(plain), Path::Whatlang)
    }

    /// whatlang alone, as detection worked before the fast path: its answer when it calls it
    /// reliable. The reference of the agreement test and the benchmark's baseline.
    pub fn whatlang(&self, plain: &str) -> Option<(&'static str, f64)> {
        if plain.chars().filter(|c| !c.is_whitespace()).count() < MIN_CHARS {
            return None;
        }
        let info = self.whatlang.detect(plain)?;
        info.is_reliable()
            .then(|| (info.lang().code(), info.confidence()))
    }

    /// One pass over the text: script counts and function-word scores, no allocation.
    fn scan(&self, plain: &str) -> Scan {
        let mut scan = Scan::default();
        let mut word = Word::default();
        for chunk in plain.split_whitespace() {
            if is_address(chunk) {
                scan.non_blank += chunk.chars().count();
                continue;
            }
            for c in chunk.chars() {
                scan.non_blank += 1;
                if c.is_alphabetic() {
                    if c.is_ascii() {
                        scan.latin_letters += 1;
                    } else if is_latin(c) {
                        scan.latin_letters += 1;
                        scan.accented_letters += 1;
                        word.has_accent = true;
                    } else {
                        scan.other_letters += 1;
                    }
                    word.push_letter(c);
                } else if c.is_numeric() {
                    word.has_digit = true;
                } else if c == '\'' || c == '’' {
                    word.push_apostrophe();
                } else {
                    self.end_word(&mut scan, &mut word);
                }
            }
            self.end_word(&mut scan, &mut word);
            if scan.words >= MAX_WORDS {
                break;
            }
        }
        scan
    }

    /// Counts the word in `word` (if it is one) and clears it for the next.
    fn end_word(&self, scan: &mut Scan, word: &mut Word) {
        if word.has_letter && !word.has_digit {
            scan.words += 1;
            if word.has_accent {
                scan.accented_words += 1;
            }
            if !word.overflow {
                let mut mask = self.words.languages(word.bytes());
                if mask == 0 {
                    if let Some(elided) = word.up_to_apostrophe() {
                        mask = self.words.languages(elided);
                    }
                }
                scan.add(mask);
            }
        }
        word.clear();
    }
}

/// [`LanguageDetector::detect`] as a function, for callers that hold the detector.
pub fn detect(detector: &LanguageDetector, plain: &str) -> Option<(&'static str, f64)> {
    detector.detect(plain)
}

/// Links, subreddit and user paths (`r/rust`, `/u/name`) and e-mail addresses: their parts
/// are not words of the text's language.
fn is_address(chunk: &str) -> bool {
    chunk.starts_with("www.") || chunk.bytes().any(|b| b == b'/' || b == b'@')
}

/// Basic Latin through Latin Extended-B, and Latin Extended Additional (Vietnamese).
fn is_latin(c: char) -> bool {
    c <= '\u{024F}' || ('\u{1E00}'..='\u{1EFF}').contains(&c)
}

/// What the fast path learned from one text.
#[derive(Default)]
struct Scan {
    non_blank: usize,
    latin_letters: usize,
    /// Latin letters outside ASCII (`é`, `ß`, `ł`): rare in English, common elsewhere.
    accented_letters: usize,
    other_letters: usize,
    words: usize,
    /// Words with an accented Latin letter.
    accented_words: usize,
    /// Function words of each language of [`LANGUAGES`].
    hits: [u16; LANGUAGES.len()],
    /// The same, each word's weight split between the languages that use it.
    evidence: [f32; LANGUAGES.len()],
}

impl Scan {
    fn add(&mut self, mask: Mask) {
        if mask == 0 {
            return;
        }
        let share = 1.0 / mask.count_ones() as f32;
        let mut rest = mask;
        while rest != 0 {
            let i = rest.trailing_zeros() as usize;
            self.hits[i] = self.hits[i].saturating_add(1);
            self.evidence[i] += share;
            rest &= rest - 1;
        }
    }

    /// At least 90% of the letters are Latin (true for text without letters).
    fn mostly_latin(&self) -> bool {
        self.other_letters * 10 <= self.latin_letters + self.other_letters
    }

    /// At most 2% of the Latin letters are accented: English, or a language written without
    /// accents, rather than most other Latin-script languages.
    fn plain_ascii(&self) -> bool {
        self.accented_letters * 50 <= self.latin_letters
    }

    /// The fast path's verdict (see the module docs).
    fn decide(&self) -> Verdict {
        let mut best = 0;
        for i in 1..LANGUAGES.len() {
            if self.evidence[i] > self.evidence[best] {
                best = i;
            }
        }
        let top = self.evidence[best];
        if top == 0.0 {
            return Verdict::Unsure { english: true };
        }
        let runner_up = (0..LANGUAGES.len())
            .filter(|&i| i != best)
            .map(|i| self.evidence[i])
            .fold(0.0_f32, f32::max);
        let hits = self.hits[best];
        let words = self.words as f32;
        let enough = hits >= MIN_HITS
            && (f32::from(hits) >= MIN_SHARE * words
                || (hits >= LONG_HITS && f32::from(hits) >= LONG_SHARE * words));
        let clear = runner_up <= MAX_RIVAL * top;
        // English barely uses accents: many accented words mean another language that
        // quotes English (or a language the fast path does not know).
        let spelling = best != ENGLISH || self.accented_words * 8 <= self.words;
        let headline = best == ENGLISH
            && hits >= MIN_HITS
            && f32::from(hits) >= HEADLINE_SHARE * words
            && runner_up <= HEADLINE_RIVAL * top
            && self.plain_ascii();
        if LANGUAGES[best].answerable && spelling && ((enough && clear) || headline) {
            Verdict::Answer(LANGUAGES[best].code, f64::from(top / (top + runner_up)))
        } else {
            Verdict::Unsure {
                english: best == ENGLISH,
            }
        }
    }
}

enum Verdict {
    /// Clearly this language, with this confidence.
    Answer(&'static str, f64),
    /// Not clear; `english`: English scored best, or nothing scored.
    Unsure { english: bool },
}

/// The word being read, lower-cased into a fixed buffer (no allocation).
#[derive(Default)]
struct Word {
    buf: [u8; MAX_WORD_BYTES],
    len: usize,
    /// Longer than any listed word: counted as a word, not looked up.
    overflow: bool,
    has_letter: bool,
    has_digit: bool,
    has_accent: bool,
    /// Length up to and including the first apostrophe (French `l'`, Italian `dell'`).
    elision: Option<usize>,
}

impl Word {
    fn clear(&mut self) {
        self.len = 0;
        self.overflow = false;
        self.has_letter = false;
        self.has_digit = false;
        self.has_accent = false;
        self.elision = None;
    }

    fn push_letter(&mut self, c: char) {
        self.has_letter = true;
        if c.is_ascii() {
            self.push_byte(c.to_ascii_lowercase() as u8);
        } else {
            for lower in c.to_lowercase() {
                let mut utf8 = [0u8; 4];
                for &b in lower.encode_utf8(&mut utf8).as_bytes() {
                    self.push_byte(b);
                }
            }
        }
    }

    /// An apostrophe inside a word (`don't`, `l'eau`); leading ones are quotes.
    fn push_apostrophe(&mut self) {
        if self.has_letter {
            self.push_byte(b'\'');
            if self.elision.is_none() && !self.overflow {
                self.elision = Some(self.len);
            }
        }
    }

    fn push_byte(&mut self, b: u8) {
        if self.len < MAX_WORD_BYTES {
            self.buf[self.len] = b;
            self.len += 1;
        } else {
            self.overflow = true;
        }
    }

    /// The word without trailing apostrophes (closing quotes, plural possessives).
    fn bytes(&self) -> &[u8] {
        let mut end = self.len;
        while end > 0 && self.buf[end - 1] == b'\'' {
            end -= 1;
        }
        &self.buf[..end]
    }

    /// `l'` of `l'indignation`, when the word has an apostrophe before its end.
    fn up_to_apostrophe(&self) -> Option<&[u8]> {
        self.elision
            .filter(|&end| end < self.bytes().len())
            .map(|end| &self.buf[..end])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn traced(text: &str) -> (Option<&'static str>, Path) {
        let (answer, path) = LanguageDetector::new().detect_traced(text);
        (answer.map(|(code, _)| code), path)
    }

    fn lang(text: &str) -> Option<&'static str> {
        traced(text).0
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
    fn fast_path_answers_the_languages_it_knows() {
        for (text, code) in [
            ("Is this gay? Kinda seemed a tad gay to me.", "eng"),
            ("What do you think shouldn’t be illegal?", "eng"),
            (
                "Wir waren gestern im Kino, aber der Film war leider nicht so gut wie erwartet.",
                "deu",
            ),
            (
                "No sé qué hacer con mi vida, pero creo que voy a seguir estudiando un poco más.",
                "spa",
            ),
            (
                "Je ne sais pas pourquoi, mais c'est toujours la même chose avec ce jeu.",
                "fra",
            ),
            (
                "Eu não sei o que fazer com isso, mas acho que você tem razão sobre ele.",
                "por",
            ),
            (
                "Non so perché, ma questa cosa mi sembra molto strana e anche un po' inutile.",
                "ita",
            ),
            (
                "Ik weet niet waarom, maar het is altijd hetzelfde met deze game als je wint.",
                "nld",
            ),
        ] {
            assert_eq!(traced(text), (Some(code), Path::FunctionWords), "{text}");
        }
    }

    #[test]
    fn fast_path_leaves_languages_it_does_not_answer_to_whatlang() {
        // Close relatives of the answered languages (guards), and others with many short
        // words: the fast path must not claim them, whatever whatlang then says.
        for text in [
            // Catalan
            "Això és el que vull fer amb la meva vida, però encara no sé com començar-ho.",
            // Galician
            "Non sei se isto é unha boa idea, pero eu creo que tamén podemos facelo mañá.",
            // Afrikaans
            "Ek weet nie hoekom hy dit gesê het nie, maar ons sal more weer met hom praat.",
            // Danish
            "Jeg ved ikke hvad jeg skal gøre, men det er en god film og den er meget sjov.",
            // Swedish
            "Jag vet inte vad jag ska göra, men det är en bra film och den är mycket rolig.",
            // Norwegian
            "Jeg vet ikke hva jeg skal gjøre, men det er en god film og den er veldig morsom.",
            // Indonesian
            "Saya tidak tahu apa yang harus saya lakukan dengan ini, tapi terima kasih banyak.",
            // Tagalog
            "Hindi ko alam kung ano ang gagawin ko sa buhay ko, pero salamat sa tulong mo po.",
            // Romanian
            "Nu știu ce să fac cu viața mea, dar cred că voi continua să studiez încă un an.",
            // Turkish
            "Bu konuda ne yapacağımı bilmiyorum ama bence de çok güzel bir film olmuş gerçekten.",
            // Polish
            "Nie wiem, co mam zrobić z moim życiem, ale myślę, że będę dalej studiować.",
            // Czech
            "Nevím, co mám dělat se svým životem, ale myslím, že budu dál studovat.",
            // Latin
            "Gallia est omnis divisa in partes tres, quarum unam incolunt Belgae, aliam Aquitani.",
        ] {
            let (_, path) = traced(text);
            assert_ne!(path, Path::FunctionWords, "{text}");
        }
    }

    #[test]
    fn short_undecided_text_skips_whatlang() {
        assert_eq!(
            traced("Disregard Reddit, acquire bananas."),
            (None, Path::Undecided)
        );
        assert_eq!(
            traced("Bush Official Arrested in Corruption Probe"),
            (None, Path::Undecided)
        );
    }

    #[test]
    fn short_accented_or_guard_language_text_still_asks_whatlang() {
        // Skipping whatlang is for English-looking text only: these keep their language.
        assert_eq!(
            traced("Zítra v 18:00 by měl velký ohňostroj na Vltavě."),
            (Some("ces"), Path::Whatlang)
        );
        let (_, path) = traced("Saya tidak tahu apa itu, terima kasih");
        assert_eq!(path, Path::Whatlang);
    }

    #[test]
    fn english_needs_english_spelling() {
        // English title-case headline: few function words, but nothing else scores.
        assert_eq!(
            traced("Jim Zorn Named Head Coach of The Redskins"),
            (Some("eng"), Path::FunctionWords)
        );
        // Many English function words in accented Polish do not make it English.
        let (answer, _) = traced(
            "Najlepszy film roku według krytyków: the best of the year, łącznie z nagrodami",
        );
        assert_ne!(answer, Some("eng"));
    }

    #[test]
    fn links_and_mixed_tokens_are_not_words() {
        // Every part of the link and the id would look like a word otherwise, and none of
        // them is English or Dutch.
        let text = "see https://www.example.com/de/het/van/een/in/de/stad and \
                    3ea5dddf-c78a-44b8 for the rest of it, it is what you want";
        assert_eq!(traced(text), (Some("eng"), Path::FunctionWords));
    }

    #[test]
    fn confidence_is_the_winners_share_of_the_evidence() {
        let detector = LanguageDetector::new();
        let (_, confidence) = detector
            .detect("The cat sat on the mat and it was happy with that.")
            .expect("plain English");
        assert!(confidence > 0.9 && confidence <= 1.0, "{confidence}");
        let (_, confidence) = detector
            .detect("Is this gay? Kinda seemed a tad gay to me.")
            .expect("short English");
        assert!((2.0 / 3.0..1.0).contains(&confidence), "{confidence}");
    }

    #[test]
    fn short_or_empty_text_has_no_language() {
        assert_eq!(traced("lol same"), (None, Path::TooShort));
        assert_eq!(traced(""), (None, Path::TooShort));
        assert_eq!(lang("👀👀👀👀👀👀👀👀👀👀👀👀👀👀👀👀👀👀👀👀👀"), None);
        assert_eq!(lang("1234 5678 9012 3456 7890 1234 5678"), None);
    }
}
