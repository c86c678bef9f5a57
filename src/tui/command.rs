//! The `:` command line: `:deploy demo v2`, `:restart demo web`,
//! `:lock demo "db migration"`, `:theme light`, `:apps`, ... An app may be
//! written `app@destination`. Parsing is pure; the model decides what to do.

/// What a command line asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    View(super::tab::Tab),
    Deploy {
        target: String,
        version: Option<String>,
    },
    Restart {
        target: String,
        role: Option<String>,
    },
    Rollback {
        target: String,
        version: Option<String>,
    },
    Destroy {
        target: String,
    },
    Lock {
        target: String,
        message: Option<String>,
    },
    Unlock {
        target: String,
    },
    Theme(String),
    Help,
    Quit,
}

/// Command words with what they take, for `?` and completion.
pub const COMMANDS: &[(&str, &str)] = &[
    ("deploy", "APP VERSION"),
    ("restart", "APP [ROLE]"),
    ("rollback", "APP [VERSION]"),
    ("destroy", "APP"),
    ("lock", "APP \"MESSAGE\""),
    ("unlock", "APP"),
    ("theme", "NAME"),
    ("hosts", ""),
    ("apps", ""),
    ("containers", ""),
    ("runs", ""),
    ("events", ""),
    ("help", ""),
    ("quit", ""),
];

const VIEWS: &[&[&str]] = &[
    &["hosts", "host", "h"],
    &["apps", "app", "a"],
    &["containers", "container", "co", "ps"],
    &["runs", "run"],
    &["events", "event", "ev"],
];

/// Splits as a POSIX shell would: `"..."` or `'...'` keeps spaces inside
/// one word, and a backslash escapes the next character.
pub fn words(line: &str) -> Result<Vec<String>, String> {
    shlex::split(line).ok_or_else(|| "unclosed quote".to_string())
}

pub fn parse(line: &str) -> Result<Command, String> {
    let w = words(line)?;
    let Some((head, rest)) = w.split_first() else {
        return Err("empty command (try :help)".into());
    };
    if let Some(tab) = VIEWS
        .iter()
        .position(|names| names.contains(&head.as_str()))
        .and_then(super::tab::Tab::nth)
    {
        return Ok(Command::View(tab));
    }
    let arg = |i: usize| rest.get(i).cloned();
    let need_app = || -> Result<String, String> {
        arg(0).ok_or_else(|| format!(":{head} needs an app (:{head} APP)"))
    };
    let too_many = |n: usize| -> Result<(), String> {
        if rest.len() > n {
            Err(format!(
                ":{head} takes at most {n} argument{} (quote a message with spaces)",
                if n == 1 { "" } else { "s" }
            ))
        } else {
            Ok(())
        }
    };
    match head.as_str() {
        "deploy" => {
            too_many(2)?;
            Ok(Command::Deploy {
                target: need_app()?,
                version: arg(1),
            })
        }
        "restart" => {
            too_many(2)?;
            Ok(Command::Restart {
                target: need_app()?,
                role: arg(1),
            })
        }
        "rollback" => {
            too_many(2)?;
            Ok(Command::Rollback {
                target: need_app()?,
                version: arg(1),
            })
        }
        "destroy" => {
            too_many(1)?;
            Ok(Command::Destroy {
                target: need_app()?,
            })
        }
        "lock" => {
            too_many(2)?;
            Ok(Command::Lock {
                target: need_app()?,
                message: arg(1),
            })
        }
        "unlock" => {
            too_many(1)?;
            Ok(Command::Unlock {
                target: need_app()?,
            })
        }
        "theme" | "skin" => {
            too_many(1)?;
            arg(0).map(Command::Theme).ok_or_else(|| {
                ":theme needs a name (default, light, high-contrast, monochrome, or a path)".into()
            })
        }
        "help" | "?" => Ok(Command::Help),
        "q" | "quit" | "q!" | "quit!" => Ok(Command::Quit),
        other => {
            let best = COMMANDS
                .iter()
                .map(|(c, _)| (strsim::jaro_winkler(c, other), *c))
                .max_by(|a, b| a.0.total_cmp(&b.0))
                .filter(|(s, _)| *s > 0.75)
                .map(|(_, c)| format!("; did you mean :{c}?"))
                .unwrap_or_default();
            Err(format!("unknown command :{other}{best} (:help lists them)"))
        }
    }
}

/// Tab completion: the line completed as far as it is unambiguous, or the
/// line as it was when nothing fits. `apps` and `themes` are the candidates
/// for the second word.
pub fn complete(line: &str, apps: &[String], themes: &[&str]) -> String {
    let ends_with_space = line.ends_with(' ');
    let w = words(line).unwrap_or_default();
    let (done, partial): (&[String], &str) = match (w.split_last(), ends_with_space) {
        (None, _) => (&[], ""),
        (Some(_), true) => (&w[..], ""),
        (Some((last, head)), false) => (head, last.as_str()),
    };
    let candidates: Vec<String> = match done {
        [] => COMMANDS.iter().map(|(c, _)| c.to_string()).collect(),
        [cmd] if matches!(cmd.as_str(), "theme" | "skin") => {
            themes.iter().map(|t| t.to_string()).collect()
        }
        [cmd]
            if COMMANDS
                .iter()
                .any(|(c, args)| c == cmd && args.starts_with("APP")) =>
        {
            apps.to_vec()
        }
        _ => return line.to_string(),
    };
    let fits: Vec<&String> = candidates
        .iter()
        .filter(|c| c.starts_with(partial))
        .collect();
    let Some(first) = fits.first() else {
        return line.to_string();
    };
    // The longest prefix every fitting candidate shares.
    let mut common = first.to_string();
    for c in fits.iter().skip(1) {
        while !c.starts_with(common.as_str()) {
            common.pop();
        }
    }
    let mut out = done.join(" ");
    if !out.is_empty() {
        out.push(' ');
    }
    out.push_str(&common);
    if fits.len() == 1 {
        out.push(' ');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_commands_of_the_issue() {
        assert_eq!(
            parse("deploy demo v2"),
            Ok(Command::Deploy {
                target: "demo".into(),
                version: Some("v2".into())
            })
        );
        assert_eq!(
            parse("restart demo web"),
            Ok(Command::Restart {
                target: "demo".into(),
                role: Some("web".into())
            })
        );
        assert_eq!(
            parse("lock demo \"db migration\""),
            Ok(Command::Lock {
                target: "demo".into(),
                message: Some("db migration".into())
            })
        );
        assert_eq!(parse("theme light"), Ok(Command::Theme("light".into())));
        assert_eq!(
            parse("ps"),
            Ok(Command::View(super::super::tab::Tab::Containers))
        );
        assert_eq!(parse("q"), Ok(Command::Quit));
    }

    #[test]
    fn errors_say_what_is_missing_or_meant() {
        assert_eq!(
            parse("deploy").unwrap_err(),
            ":deploy needs an app (:deploy APP)"
        );
        assert!(
            parse("lock demo db migration")
                .unwrap_err()
                .contains("quote")
        );
        assert!(
            parse("lock demo \"db")
                .unwrap_err()
                .contains("unclosed quote")
        );
        assert!(
            parse("depoly demo")
                .unwrap_err()
                .contains("did you mean :deploy?")
        );
    }

    #[test]
    fn completes_commands_apps_and_themes() {
        let apps = vec!["demo".to_string(), "docs".to_string(), "api".to_string()];
        let themes = ["default", "light"];
        assert_eq!(complete("dep", &apps, &themes), "deploy ");
        // Ambiguous: restart, rollback, runs.
        assert_eq!(complete("r", &apps, &themes), "r");
        assert_eq!(complete("ro", &apps, &themes), "rollback ");
        assert_eq!(complete("deploy d", &apps, &themes), "deploy d");
        assert_eq!(complete("deploy de", &apps, &themes), "deploy demo ");
        assert_eq!(complete("deploy ", &apps, &themes), "deploy ");
        assert_eq!(complete("theme l", &apps, &themes), "theme light ");
        assert_eq!(complete("deploy demo v", &apps, &themes), "deploy demo v");
    }
}
