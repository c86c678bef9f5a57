//! `berth keys`: the console's keys in force.

/// The keys in force, a table per context, and where they came from.
pub fn table(map: &crate::tui::keymap::Keymap) -> String {
    use crate::tui::keymap::{Keymap, TABLE};
    let mut out = String::new();
    if let Some(f) = &map.file {
        out.push_str(&format!(
            "# with the rebindings of {}\n",
            crate::sanitize::one_line(&f.display().to_string())
        ));
    }
    for ctx in Keymap::contexts() {
        out.push_str(&format!("{}\n", ctx.title()));
        let rows: Vec<Vec<String>> = TABLE
            .iter()
            .filter(|b| b.context == ctx)
            .map(|b| {
                vec![
                    format!("  {}", map.shown(b.intent)),
                    b.help.to_string(),
                    b.intent.name(),
                ]
            })
            .collect();
        out.push_str(&super::table::render(&rows, 0));
    }
    out
}
