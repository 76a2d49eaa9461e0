//! Recognising an arXiv identifier: new style `YYMM.NNNN` or `YYMM.NNNNN`, old style
//! `archive[.XX]/YYMMNNN` (e.g. `hep-th/9901001`, `math.AG/0501001`), each with an optional
//! version `vN`; written bare, with an `arXiv:` prefix, or as an arxiv.org `abs/` or `pdf/`
//! URL (scheme optional, `.pdf` suffix allowed).

/// Hosts whose `abs/` and `pdf/` paths name an arXiv id.
const HOSTS: [&str; 3] = ["arxiv.org", "www.arxiv.org", "export.arxiv.org"];

/// The bare id (version kept), or `None` when `text` does not name one.
pub fn parse(text: &str) -> Option<String> {
    let text = text.trim();
    let bare = strip_prefix_ignore_case(text, "arxiv:")
        .map(str::trim_start)
        .or_else(|| from_url(text))
        .unwrap_or(text);
    is_id(bare).then(|| bare.to_string())
}

/// The id part of an arxiv.org `abs/` or `pdf/` URL.
fn from_url(text: &str) -> Option<&str> {
    let rest = strip_prefix_ignore_case(text, "https://")
        .or_else(|| strip_prefix_ignore_case(text, "http://"))
        .unwrap_or(text);
    let (host, path) = rest.split_once('/')?;
    if !HOSTS.iter().any(|known| host.eq_ignore_ascii_case(known)) {
        return None;
    }
    let path = path.split(['?', '#']).next().unwrap_or_default();
    let id = path
        .strip_prefix("abs/")
        .or_else(|| path.strip_prefix("pdf/"))?
        .trim_end_matches('/');
    Some(id.strip_suffix(".pdf").unwrap_or(id))
}

fn strip_prefix_ignore_case<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    text.get(..prefix.len())
        .filter(|head| head.eq_ignore_ascii_case(prefix))
        .map(|_| &text[prefix.len()..])
}

fn is_id(text: &str) -> bool {
    let unversioned = match text.rsplit_once('v') {
        Some((body, version)) if all_digits(version, 1..=usize::MAX) => body,
        _ => text,
    };
    is_new_style(unversioned) || is_old_style(unversioned)
}

/// `YYMM.NNNN` (2007 to 2014) or `YYMM.NNNNN` (since 2015).
fn is_new_style(text: &str) -> bool {
    text.split_once('.')
        .is_some_and(|(date, number)| is_year_month(date) && all_digits(number, 4..=5))
}

/// `archive[.XX]/YYMMNNN`: a lower-case archive name (hyphenated parts allowed), an optional
/// two-letter upper-case subject class, then year, month and a three-digit number.
fn is_old_style(text: &str) -> bool {
    let Some((archive, number)) = text.split_once('/') else {
        return false;
    };
    let (name, class) = archive.split_once('.').unwrap_or((archive, "XX"));
    let name_ok = name
        .split('-')
        .all(|part| !part.is_empty() && part.bytes().all(|byte| byte.is_ascii_lowercase()));
    let class_ok = class.len() == 2 && class.bytes().all(|byte| byte.is_ascii_uppercase());
    name_ok && class_ok && all_digits(number, 7..=7) && number.get(..4).is_some_and(is_year_month)
}

fn is_year_month(text: &str) -> bool {
    all_digits(text, 4..=4) && matches!(text[2..].parse::<u8>(), Ok(1..=12))
}

fn all_digits(text: &str, lengths: core::ops::RangeInclusive<usize>) -> bool {
    lengths.contains(&text.len()) && text.bytes().all(|byte| byte.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepted_forms() {
        let cases = [
            ("2101.00001", "2101.00001"),
            ("2101.00001v2", "2101.00001v2"),
            ("0704.0001", "0704.0001"),
            (" arXiv:2101.00001v12 ", "2101.00001v12"),
            ("ARXIV: 1501.00001", "1501.00001"),
            ("hep-th/9901001", "hep-th/9901001"),
            ("hep-th/9901001v3", "hep-th/9901001v3"),
            ("math.AG/0501001", "math.AG/0501001"),
            ("solv-int/9901001v1", "solv-int/9901001v1"),
            ("arXiv:cond-mat/0211034", "cond-mat/0211034"),
            ("https://arxiv.org/abs/2101.00001v2", "2101.00001v2"),
            (
                "http://export.arxiv.org/abs/hep-th/9901001",
                "hep-th/9901001",
            ),
            ("https://arxiv.org/pdf/2101.00001v2.pdf", "2101.00001v2"),
            ("https://www.arxiv.org/pdf/2101.00001/", "2101.00001"),
            ("arxiv.org/abs/2101.00001?context=cs#x", "2101.00001"),
            ("HTTPS://ArXiv.org/pdf/hep-th/9901001v1", "hep-th/9901001v1"),
        ];
        for (text, id) in cases {
            assert_eq!(parse(text).as_deref(), Some(id), "{text}");
        }
    }

    #[test]
    fn refused_forms() {
        for text in [
            "",
            "arXiv:",
            "10.1000/not-arxiv",
            "2113.00001",
            "2101.001",
            "2101.000001",
            "2101.00001v",
            "2101.00001v2x",
            "Hep-th/9901001",
            "hep-th/990100",
            "hep-th/9913001",
            "hep-/9901001",
            "math.ag/0501001",
            "https://example.org/abs/2101.00001",
            "https://arxiv.org/list/2101.00001",
            "https://arxiv.org/abs/",
        ] {
            assert_eq!(parse(text), None, "{text}");
        }
    }
}
