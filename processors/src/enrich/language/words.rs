//! Function words (articles, pronouns, prepositions, auxiliaries, common particles) of the
//! languages the fast path knows, and the table that maps a lower-cased word to the set of
//! languages that use it.
//!
//! Why function words: they are the most frequent words of any text in their language,
//! whatever the topic, and few of them are shared across languages; counting them is a cheap
//! and well-known way to tell languages apart on short texts. A word used by several
//! languages (`de`, `a`, `in`) counts for each of them, with a weight split between them.
//!
//! The lists were written for this crate. Two kinds of language are listed:
//! - **answerable** ones, which the fast path may return: the Latin-script languages most
//!   used on Reddit;
//! - **guards**: languages close to an answerable one (Catalan and Galician to Spanish and
//!   Portuguese, Afrikaans to Dutch, the Scandinavian languages) or common on Reddit with
//!   short function words that collide with them (Indonesian, Tagalog, Romanian, Turkish).
//!   The fast path never returns a guard; when a guard scores best, or scores close to the
//!   best, the text goes to whatlang instead.
//!
//! Lists hold lower-case words, apostrophes written `'`. French and Italian elided forms are
//! listed with their apostrophe (`l'`, `qu'`, `dell'`): a word the table does not hold is
//! looked up again up to its first apostrophe.

use hashbrown::HashMap;

/// One language the fast path knows.
#[derive(Debug, Clone, Copy)]
pub struct Language {
    /// ISO 639-3 code, as whatlang reports it.
    pub code: &'static str,
    /// Whether the fast path may return it (`false`: a guard, see the module docs).
    pub answerable: bool,
    words: &'static str,
}

/// Every language the fast path scores; an index into this array is a bit of a [`Mask`].
pub const LANGUAGES: [Language; 15] = [
    Language {
        code: "eng",
        answerable: true,
        words: ENGLISH_WORDS,
    },
    Language {
        code: "deu",
        answerable: true,
        words: GERMAN,
    },
    Language {
        code: "spa",
        answerable: true,
        words: SPANISH,
    },
    Language {
        code: "fra",
        answerable: true,
        words: FRENCH,
    },
    Language {
        code: "por",
        answerable: true,
        words: PORTUGUESE,
    },
    Language {
        code: "ita",
        answerable: true,
        words: ITALIAN,
    },
    Language {
        code: "nld",
        answerable: true,
        words: DUTCH,
    },
    Language {
        code: "cat",
        answerable: false,
        words: CATALAN,
    },
    Language {
        code: "glg",
        answerable: false,
        words: GALICIAN,
    },
    Language {
        code: "afr",
        answerable: false,
        words: AFRIKAANS,
    },
    Language {
        // Danish, Norwegian and Swedish together: they share most function words.
        code: "dan/nob/swe",
        answerable: false,
        words: SCANDINAVIAN,
    },
    Language {
        code: "ind",
        answerable: false,
        words: INDONESIAN,
    },
    Language {
        code: "tgl",
        answerable: false,
        words: TAGALOG,
    },
    Language {
        code: "ron",
        answerable: false,
        words: ROMANIAN,
    },
    Language {
        code: "tur",
        answerable: false,
        words: TURKISH,
    },
];

/// Index of English in [`LANGUAGES`].
pub const ENGLISH: usize = 0;

/// The set of languages that use a word: bit `i` is `LANGUAGES[i]`.
pub type Mask = u16;

/// Longest word, in UTF-8 bytes, the table holds; longer words cannot be function words.
pub const MAX_WORD_BYTES: usize = 24;

/// Lower-cased word → the languages that use it. Built once per detector.
pub struct FunctionWords {
    table: HashMap<&'static [u8], Mask>,
}

impl FunctionWords {
    pub fn new() -> Self {
        let mut table: HashMap<&'static [u8], Mask> = HashMap::new();
        for (index, language) in LANGUAGES.iter().enumerate() {
            for word in language.words.split_whitespace() {
                *table.entry(word.as_bytes()).or_default() |= 1 << index;
            }
        }
        Self { table }
    }

    /// The languages that use `word` (lower-case UTF-8), or 0.
    #[inline]
    pub fn languages(&self, word: &[u8]) -> Mask {
        self.table.get(word).copied().unwrap_or(0)
    }
}

impl Default for FunctionWords {
    fn default() -> Self {
        Self::new()
    }
}

const ENGLISH_WORDS: &str = "
    the be to of and a an in that have i it for not on with he as you do at this but his by
    from they we say her she or will my one all would there their what so up out if about who
    get which go me when make can like time no just him know take people into year your good
    some could them see other than then now look only come its over think also back after use
    two how our work first well way even new want because any these give day most us is are
    was were been has had did does doing am being got going should might must very really much
    more many something nothing anything everything someone anyone everyone thing things where
    why here those too still never always yeah yes lol thanks thank please sure same though
    through while off down again own each few both every before between under around without
    against since until maybe actually pretty need right said made lot better best great love
    mean feel find tell whose gonna wanna kinda
    i'm it's don't can't won't didn't doesn't isn't aren't wasn't weren't haven't hasn't
    wouldn't couldn't shouldn't i've you've we've they've i'd you'd he'd she'd we'd they'd
    i'll you'll he'll she'll we'll they'll it'll you're we're they're that's there's what's
    he's she's let's who's here's
    im dont cant wont didnt doesnt isnt arent wasnt havent wouldnt couldnt shouldnt ive youre
    theyre thats theres whats
";

const GERMAN: &str = "
    der die das und in den von zu mit sich des auf für ist im dem nicht ein eine als auch es
    an werden aus er hat dass daß sie nach wird bei einer um am sind noch wie einem über einen
    so zum war haben nur oder aber vor zur bis mehr durch man sein wurde sei hatte kann gegen
    vom können schon wenn habe seine ihre dann unter wir soll ich eines diese dieser wieder
    keine seiner worden will zwischen immer was gibt alle diesen seit muss doch jetzt du mich
    mir dich dir uns euch ihr ihm ihn hier da weil also ja nein nichts etwas sehr gut viel
    warum wer wo bin bist seid danke mal eben halt denn ob ohne kein mein dein unser gibt's
    geht
";

const SPANISH: &str = "
    de la que el en y a los se del las un por con no una su para es al lo como más mas pero
    sus le ya o este sí si porque esta entre cuando muy sin sobre también me hasta hay donde
    quien desde todo nos durante todos uno les ni contra otros ese eso ante ellos e esto mí
    antes algunos qué unos yo otro otras otra él tanto esa estos mucho quienes nada muchos
    cual poco ella estar estas algunas algo nosotros mi mis tú te ti tu tus ellas fue son está
    están ser tiene tengo hace puede pues bien así ahora aquí solo sólo creo gracias hola
    vamos estoy era había soy eres
";

const FRENCH: &str = "
    de la le et les des en un du une que est pour qui dans a par plus pas au sur ne se ce il
    sont mais ou avec son aux je tu nous vous ils elle elles on y été cette ces sa ses leur
    leurs mon ma mes ton ta tes notre votre très bien aussi comme tout tous toute fait être
    avoir ai as avons avez ont suis es sommes êtes était peut faire si même non oui quoi où
    quand alors donc car parce rien merci ça cela ici encore déjà toujours jamais moi toi lui
    eux chez sans sous entre vers après avant depuis pendant
    c'est j'ai n'est qu'il d'un d'une l' d' c' j' qu' n' s' m' t'
";

const PORTUGUESE: &str = "
    de a o que e do da em um para é com não uma os no se na por mais as dos como mas foi ao
    ele das tem à seu sua ou ser quando muito há nos já está eu também só pelo pela até isso
    ela entre era depois sem mesmo aos ter seus quem nas me esse eles estão você tinha foram
    essa num nem suas meu às minha têm numa pelos elas havia seja qual será nós tenho lhe
    deles essas esses pelas este fosse dele tu te vocês vos lhes meus minhas teu tua nosso
    nossa isto aquilo aqui agora então porque obrigado obrigada bem ainda pra vai sim
";

const ITALIAN: &str = "
    di e il la che a per in un è non una del i della le si con da al lo gli come ma più sono
    anche ha ho dei nel alla se o mi ci ti io tu lui lei noi voi loro questo questa quello
    quella cosa tutto tutti molto bene sempre già ancora solo quando perché dove chi cui però
    poi ora qui essere fare fatto stato era sei siamo hanno hai delle degli nella nei sul
    sulla dal dalla grazie ciao niente nessuno mio mia tuo tua suo sua nostro
    c'è l' all' dell' nell' un' dall' sull'
";

const DUTCH: &str = "
    de het een en van in is dat op te zijn voor met die niet aan er om ook als maar bij of
    uit nog wordt door naar dan wat heeft hij ze zij wij we jij je ik mijn jouw hun haar hem
    me mij was waren worden werd kan kunnen moet moeten zou zouden wel geen al nu hier daar
    waar hoe wie waarom omdat want dus toch even heel veel meer zo deze dit tot over onder
    tegen na zonder alleen altijd nooit iets niets ja nee bedankt dank gewoon echt hebben
    heb ben bent
";

const CATALAN: &str = "
    i el la els les de del dels que és amb per però també molt perquè aquest aquesta això són
    seva seu meu meva jo tu ell ella nosaltres vosaltres ells elles no un una en al als hi ha
    han he ho em et es ens us més com quan on sí fer ser estar tot tots res gent aquí ara
    doncs mai sempre encara bé gràcies
";

const GALICIAN: &str = "
    o a os as de do da dos das e en no na nos nas un unha que non se por para con máis mais
    como pero tamén moi xa iso isto ese esa este esta eu ti el ela nós vós eles elas meu miña
    teu túa seu súa é son foi era ten hai ao á coma cando onde porque grazas agora aquí
    sempre nunca nada todo
";

const AFRIKAANS: &str = "
    die en van is in het nie te op vir dat met as wat sy hy ek jy ons hulle dit om aan was
    word kan sal moet maar ook baie nog net daar hier al so toe na by uit oor tot sonder wil
    gaan kom mense my jou hom haar geen niks iets hoekom waar hoe wie ja nee dankie
";

const SCANDINAVIAN: &str = "
    og i er det den at en et til på som med han hun af av for ikke inte der var jeg jag mig
    meg sig seg men har om vi de dere dem min mitt din ditt sin hans hennes nu nå kan skal
    ska vil vill så fra från och är att för ett också også meget mycket mye bara bare kun
    hvad hva vad hvor hvorfor varför hvem vem når när ja nej nei tak takk tack eller efter
    etter mot over under her här där noget noe något ingen alle alla
";

const INDONESIAN: &str = "
    yang dan di ini itu dengan untuk tidak dari dalam akan pada juga ke karena ada saya aku
    kamu anda kami kita mereka dia bisa sudah belum lagi atau tapi tetapi jika kalau sangat
    banyak hanya oleh seperti apa siapa bagaimana kenapa mengapa ya tak nggak gak terima
    kasih sama jadi harus masih
";

const TAGALOG: &str = "
    ang ng sa na mga ako ko ka mo siya niya kami tayo sila nila hindi ay at ito iyan iyon
    naman lang po din rin pa ba kung para pero kasi may wala meron oo talaga ano sino bakit
    paano saan salamat ikaw yung nang
";

const ROMANIAN: &str = "
    și şi în este nu că pe cu la o un sunt mai care ce din de a se să fi fost ca dar sau am
    ai are au eu tu el ea noi voi ei ele foarte acest această acum aici când unde cum pentru
    despre fără mulțumesc mulţumesc da
";

const TURKISH: &str = "
    ve bir bu da de için ne ile çok ben sen o biz siz onlar var yok gibi daha ama ki mi mı mu
    mü en kadar sonra şey her olarak olan değil evet hayır nasıl neden
";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_hold_lower_case_words_the_lookup_can_find() {
        for language in LANGUAGES {
            for word in language.words.split_whitespace() {
                assert_eq!(word, word.to_lowercase(), "{}: {word}", language.code);
                assert!(word.len() <= MAX_WORD_BYTES, "{}: {word}", language.code);
                assert!(
                    !word.contains('’'),
                    "{}: write {word} with '",
                    language.code
                );
                assert!(
                    word.chars().all(|c| c.is_alphabetic() || c == '\''),
                    "{}: {word}",
                    language.code
                );
            }
        }
        assert!(LANGUAGES.len() <= Mask::BITS as usize);
    }

    #[test]
    fn shared_words_belong_to_every_language_that_uses_them() {
        let words = FunctionWords::new();
        let code = |mask: Mask| -> Vec<&str> {
            (0..LANGUAGES.len())
                .filter(|i| mask & (1 << i) != 0)
                .map(|i| LANGUAGES[i].code)
                .collect()
        };
        assert_eq!(code(words.languages(b"the")), ["eng"]);
        assert_eq!(code(words.languages(b"und")), ["deu"]);
        assert!(code(words.languages(b"de")).contains(&"spa"));
        assert!(code(words.languages(b"de")).contains(&"fra"));
        assert_eq!(words.languages(b"reddit"), 0);
    }
}
