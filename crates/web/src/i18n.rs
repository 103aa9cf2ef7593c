//! Messages in Kazakh, Russian and English (Fluent files under `i18n/`), and the choice of
//! language for a request: the language switch (`lang` cookie), else the user's own setting,
//! else `Accept-Language`, else Russian.

use std::cell::Cell;

use fluent_bundle::concurrent::FluentBundle;
use fluent_bundle::{FluentArgs, FluentResource, FluentValue};
use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Lang {
    Kk,
    Ru,
    En,
}

impl Lang {
    pub const ALL: [Lang; 3] = [Lang::Kk, Lang::Ru, Lang::En];
    /// Russian is understood by most users of every region; Kazakh is one click away.
    pub const DEFAULT: Lang = Lang::Ru;

    pub fn code(self) -> &'static str {
        match self {
            Lang::Kk => "kk",
            Lang::Ru => "ru",
            Lang::En => "en",
        }
    }

    pub fn parse(s: &str) -> Option<Lang> {
        let primary = s.trim().split(['-', '_']).next()?.to_ascii_lowercase();
        Lang::ALL.into_iter().find(|l| l.code() == primary)
    }

    /// Picks the first supported language of an `Accept-Language` header, honouring q-values.
    pub fn from_accept_language(header: &str) -> Option<Lang> {
        let mut choices: Vec<(f32, usize, Lang)> = header
            .split(',')
            .enumerate()
            .filter_map(|(i, part)| {
                let mut pieces = part.split(';');
                let lang = Lang::parse(pieces.next()?)?;
                let q = pieces
                    .find_map(|p| p.trim().strip_prefix("q=").and_then(|q| q.parse::<f32>().ok()))
                    .unwrap_or(1.0);
                (q > 0.0).then_some((q, i, lang))
            })
            .collect();
        choices.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        choices.first().map(|c| c.2)
    }
}

pub struct Messages {
    bundles: [FluentBundle<FluentResource>; 3],
}

impl std::fmt::Debug for Messages {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Messages")
    }
}

fn bundle(lang: Lang, source: &'static str) -> FluentBundle<FluentResource> {
    let resource = FluentResource::try_new(source.to_owned())
        .unwrap_or_else(|(_, errors)| panic!("i18n/{}.ftl does not parse: {errors:?}", lang.code()));
    let id = lang.code().parse().expect("kk, ru and en are valid language identifiers");
    let mut b = FluentBundle::new_concurrent(vec![id]);
    // Isolation marks would end up inside JSON problem bodies and HTML attributes.
    b.set_use_isolating(false);
    b.add_resource(resource).expect("message ids are unique within a file");
    b
}

impl Messages {
    pub fn load() -> Messages {
        Messages {
            bundles: [
                bundle(Lang::Kk, include_str!("../i18n/kk.ftl")),
                bundle(Lang::Ru, include_str!("../i18n/ru.ftl")),
                bundle(Lang::En, include_str!("../i18n/en.ftl")),
            ],
        }
    }

    fn bundle(&self, lang: Lang) -> &FluentBundle<FluentResource> {
        &self.bundles[lang as usize]
    }

    /// The message `key` in `lang` with `args`; falls back to English, then to the key itself,
    /// so a missing translation shows something a person can report.
    pub fn get(&self, lang: Lang, key: &str, args: &[(&str, String)]) -> String {
        let mut fluent_args = FluentArgs::new();
        for (k, v) in args {
            fluent_args.set(*k, FluentValue::from(v.as_str()));
        }
        for l in [lang, Lang::En] {
            let b = self.bundle(l);
            if let Some(pattern) = b.get_message(key).and_then(|m| m.value()) {
                let mut errors = Vec::new();
                return b.format_pattern(pattern, Some(&fluent_args), &mut errors).into_owned();
            }
        }
        key.to_owned()
    }

    /// Every message key of a language, for the completeness test.
    pub fn keys(lang: Lang) -> Vec<String> {
        let source = match lang {
            Lang::Kk => include_str!("../i18n/kk.ftl"),
            Lang::Ru => include_str!("../i18n/ru.ftl"),
            Lang::En => include_str!("../i18n/en.ftl"),
        };
        source
            .lines()
            .filter_map(|l| l.split_once(" = ").map(|(k, _)| k.trim()))
            .filter(|k| !k.starts_with('#') && !k.is_empty() && !k.contains(' '))
            .map(str::to_owned)
            .collect()
    }
}

/// The language a request is answered in, and whether the visitor chose it with the
/// language switch (which then beats their account setting).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LangChoice {
    pub lang: Lang,
    pub switched: bool,
}

tokio::task_local! {
    /// The language of the request being handled, so errors rendered deep in a handler speak it.
    pub static REQUEST_LANG: Cell<LangChoice>;
}

/// The current request's language (default outside a request).
pub fn current_lang() -> Lang {
    REQUEST_LANG.try_with(|c| c.get().lang).unwrap_or(Lang::DEFAULT)
}

/// Applies the authenticated user's own language setting for the rest of the request, unless
/// the visitor picked a language with the switch.
pub fn prefer_user_lang(lang: Lang) {
    let _ = REQUEST_LANG.try_with(|c| {
        if !c.get().switched {
            c.set(LangChoice { lang, switched: false });
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_language_honours_order_and_quality() {
        assert_eq!(Lang::from_accept_language("kk-KZ,ru;q=0.8"), Some(Lang::Kk));
        assert_eq!(Lang::from_accept_language("de,ru;q=0.5,en;q=0.9"), Some(Lang::En));
        assert_eq!(Lang::from_accept_language("fr, de"), None);
        assert_eq!(Lang::from_accept_language("en;q=0"), None);
    }

    #[test]
    fn every_language_has_every_message() {
        let en = Messages::keys(Lang::En);
        assert!(en.len() > 40);
        for lang in [Lang::Kk, Lang::Ru] {
            let keys = Messages::keys(lang);
            let missing: Vec<_> = en.iter().filter(|k| !keys.contains(k)).collect();
            assert!(missing.is_empty(), "{} lacks {missing:?}", lang.code());
        }
    }

    #[test]
    fn messages_take_arguments_in_each_language() {
        let m = Messages::load();
        let args = [("seconds", "30".to_owned())];
        assert_eq!(m.get(Lang::En, "problem-rate-limited-detail", &args), "Wait 30 seconds and try again.");
        assert!(m.get(Lang::Ru, "problem-rate-limited-detail", &args).contains("30 с"));
        assert!(m.get(Lang::Kk, "problem-rate-limited-detail", &args).contains("30 секунд"));
        assert_eq!(m.get(Lang::Kk, "no-such-key", &[]), "no-such-key");
    }
}
