//! What every lab page must show, checked on the HTML a run wrote: the
//! claims table with each claim's verdict, each plot inline with a
//! caption, one colour per model everywhere, the machine block.
//!
//! For tests only (the page's own, and the end-to-end tests of `iomux lab`
//! in `iomux-cli/tests/lab_*.rs`, which turn on the `page-checks` feature):
//! the lab itself never calls it. The checks panic on what they find wrong.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;

/// `s` as the page escapes text.
pub fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// The part of `html` from `start` to the next `end`.
pub fn between<'a>(html: &'a str, start: &str, end: &str) -> &'a str {
    let from = html
        .find(start)
        .unwrap_or_else(|| panic!("{start:?} is on the page"));
    let rest = &html[from..];
    &rest[..rest.find(end).unwrap_or(rest.len())]
}

fn attr<'a>(tag: &'a str, name: &str) -> &'a str {
    let key = format!("{name}=\"");
    let from = tag.find(&key).unwrap_or_else(|| panic!("{name} in {tag}")) + key.len();
    &tag[from..from + tag[from..].find('"').unwrap()]
}

/// Model → colour from the page's swatches; each model must have one.
fn palette(html: &str) -> BTreeMap<String, String> {
    let mut out: BTreeMap<String, String> = BTreeMap::new();
    for tag in html.split("<span class=\"model\" ").skip(1) {
        let tag = &tag[..tag.find('>').unwrap()];
        let (m, c) = (attr(tag, "data-model"), attr(tag, "data-colour"));
        let known = out.entry(m.to_string()).or_insert_with(|| c.to_string());
        assert_eq!(known, c, "{m} has one colour on the whole page");
    }
    let mut colours: Vec<&String> = out.values().collect();
    colours.sort();
    colours.dedup();
    assert_eq!(
        colours.len(),
        out.len(),
        "no two models share a colour: {out:?}"
    );
    out
}

/// The colours of an SVG's series lines in drawing order (each line, then
/// its markers, then the legend).
pub fn series_colours(svg: &str, n: usize) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for poly in svg.split("<polyline").skip(1) {
        let tag = &poly[..poly.find('>').unwrap()];
        if tag.contains("stroke-width=\"2\"") {
            let c = attr(tag, "stroke").to_string();
            if out.last() != Some(&c) {
                out.push(c);
            }
        }
    }
    out.truncate(n);
    out
}

/// Checks `dir`'s index.html against its report.json and SVG files.
pub fn check_page(dir: &Path) -> (String, Value) {
    let html = std::fs::read_to_string(dir.join("index.html")).expect("index.html");
    let json: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("report.json")).expect("report.json"),
    )
    .expect("JSON");
    // The claims table, first, with every claim's words and verdict.
    let main = between(&html, "<main>", "</main>");
    assert!(
        main.find("<table").is_some()
            && main.find("<table") == main.find("<table id=\"claims-table\""),
        "the claims table is the first table"
    );
    let table = between(&html, "<table id=\"claims-table\"", "</table>");
    let claims = json["claims"].as_array().expect("claims");
    assert_eq!(claims.len(), 10, "every claim of the seeds");
    for c in claims {
        let id = c["id"].as_str().unwrap();
        let row = between(table, &format!("data-claim=\"{id}\""), "</tr>");
        for field in ["verdict", "original", "translation", "claim"] {
            let text = c[field].as_str().unwrap();
            assert!(!text.is_empty(), "{id}: {field}");
            assert!(
                row.contains(&esc(text)),
                "{id}: the row shows its {field} {text:?}"
            );
        }
        assert!(row.contains("<a href=\"#"), "{id}: links to its evidence");
    }
    // Every plot written is on the page, inline, captioned, in the palette.
    let colours = palette(&html);
    let mut svgs = 0;
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let path = e.path();
        if path.extension().is_none_or(|x| x != "svg") {
            continue;
        }
        svgs += 1;
        let file = path.file_name().unwrap().to_str().unwrap();
        let svg = std::fs::read_to_string(&path).unwrap();
        let stem = file.trim_end_matches(".svg");
        let fig = between(&html, &format!("<figure id=\"plot-{stem}\""), "</figure>");
        assert!(fig.contains(&svg), "{file} is inline in its figure");
        let cap = between(fig, "<figcaption>", "</figcaption>");
        assert!(
            cap.contains("Measured:") && cap.contains("Sweep:") && cap.contains("Look for:"),
            "{file}: the caption says what is measured, on which sweep, what to see: {cap}"
        );
        let models: Vec<&str> = attr(fig, "data-models").split(',').collect();
        let expected: Vec<String> = models.iter().map(|m| colours[*m].clone()).collect();
        assert_eq!(
            series_colours(&svg, models.len()),
            expected,
            "{file}: each line in its model's colour"
        );
    }
    assert!(svgs >= 4, "plots written: {svgs}");
    // Which model when, and the machine.
    let advice = between(&html, "<table id=\"advice-table\"", "</table>");
    assert!(advice.contains("id=\"when-overall\""), "a summary row");
    let machine = between(&html, "<dl id=\"machine-block\"", "</dl>");
    for key in ["kernel", "command", "profile", "date"] {
        assert!(
            machine.contains(&format!("<dt>{key}</dt>")),
            "machine block: {key}"
        );
    }
    let kernel = json["machine"]["kernel"].as_str().unwrap();
    assert!(machine.contains(&esc(kernel)), "{machine}");
    assert!(machine.contains(&esc(json["command"].as_str().unwrap())));
    assert!(machine.contains(&esc(json["profile"].as_str().unwrap())));
    (html, json)
}
