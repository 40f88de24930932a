//! HTML escaping, and the palette's swatch beside a model's name.

use super::super::palette::look_of;

/// `s` safe in HTML text and in double-quoted attributes.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A model's name with a swatch of its plot colour before it.
pub fn model(name: &str) -> String {
    let hex = look_of(name).hex();
    format!(
        "<span class=\"model\" data-model=\"{m}\" data-colour=\"{hex}\"><i style=\"background:{hex}\"></i>{m}</span>",
        m = esc(name)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_quotes() {
        assert_eq!(
            esc("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
    }
}
