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

/// What the words after a command can be, from the console's state.
#[derive(Clone, Debug, Default)]
pub struct Known {
    pub apps: Vec<String>,
    pub themes: Vec<String>,
    /// Each app's roles, by app.
    pub roles: std::collections::BTreeMap<String, Vec<String>>,
    /// Each app's versions the hosts hold (running or kept), newest first.
    pub versions: std::collections::BTreeMap<String, Vec<String>>,
}

/// The line split at the word being typed: the words before it (as one
/// string ending in a space, or empty), the partial word, and every
/// candidate that fits it, in order.
pub fn candidates(line: &str, known: &Known) -> (String, String, Vec<String>) {
    let ends_with_space = line.is_empty() || line.ends_with(' ');
    let w = words(line).unwrap_or_default();
    let (done, partial): (&[String], &str) = match (w.split_last(), ends_with_space) {
        (None, _) => (&[], ""),
        (Some(_), true) => (&w[..], ""),
        (Some((last, head)), false) => (head, last.as_str()),
    };
    let app_arg = |cmd: &str| {
        COMMANDS
            .iter()
            .any(|(c, args)| *c == cmd && args.starts_with("APP"))
    };
    let of = |map: &std::collections::BTreeMap<String, Vec<String>>, app: &str| {
        // `app@destination` has the app's own roles and versions.
        let bare = app.split('@').next().unwrap_or(app);
        map.get(app)
            .or_else(|| map.get(bare))
            .cloned()
            .unwrap_or_default()
    };
    let all: Vec<String> = match done {
        [] => COMMANDS.iter().map(|(c, _)| c.to_string()).collect(),
        [cmd] if matches!(cmd.as_str(), "theme" | "skin") => known.themes.clone(),
        [cmd] if app_arg(cmd) => known.apps.clone(),
        [cmd, app] if cmd == "restart" => of(&known.roles, app),
        [cmd, app] if matches!(cmd.as_str(), "deploy" | "rollback") => of(&known.versions, app),
        _ => Vec::new(),
    };
    let mut head = done.join(" ");
    if !head.is_empty() {
        head.push(' ');
    }
    let fits = all.into_iter().filter(|c| c.starts_with(partial)).collect();
    (head, partial.to_string(), fits)
}

/// What the first word's candidates take, for the suggestions shown as
/// the operator types: `deploy APP VERSION`.
pub fn usage(command: &str) -> Option<String> {
    COMMANDS
        .iter()
        .find(|(c, _)| *c == command)
        .map(|(c, args)| format!("{c} {args}").trim_end().to_string())
}

/// Tab completion: the line completed as far as it is unambiguous, or the
/// line as it was when nothing fits.
pub fn complete(line: &str, known: &Known) -> String {
    let (head, _, fits) = candidates(line, known);
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
    let mut out = head;
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

    fn known() -> Known {
        Known {
            apps: vec!["demo".into(), "docs".into(), "api".into()],
            themes: vec!["default".into(), "light".into()],
            roles: [(
                "demo".to_string(),
                vec!["web".to_string(), "worker".to_string()],
            )]
            .into(),
            versions: [("demo".to_string(), vec!["v7".to_string(), "v6".to_string()])].into(),
        }
    }

    #[test]
    fn completes_commands_apps_and_themes() {
        let k = known();
        assert_eq!(complete("dep", &k), "deploy ");
        // Ambiguous: restart, rollback, runs.
        assert_eq!(complete("r", &k), "r");
        assert_eq!(complete("ro", &k), "rollback ");
        assert_eq!(complete("deploy d", &k), "deploy d");
        assert_eq!(complete("deploy de", &k), "deploy demo ");
        assert_eq!(complete("deploy ", &k), "deploy ");
        assert_eq!(complete("theme l", &k), "theme light ");
        assert_eq!(complete("deploy demo v", &k), "deploy demo v");
        assert_eq!(complete("restart demo w", &k), "restart demo w");
        assert_eq!(complete("restart demo wo", &k), "restart demo worker ");
        assert_eq!(
            complete("rollback demo@staging v6", &k),
            "rollback demo@staging v6 "
        );
        // Nothing follows a finished command.
        assert_eq!(complete("destroy demo x", &k), "destroy demo x");
    }

    #[test]
    fn candidates_are_the_words_that_fit_where_the_cursor_is() {
        let k = known();
        let (head, partial, fits) = candidates("r", &k);
        assert_eq!((head.as_str(), partial.as_str()), ("", "r"));
        assert_eq!(fits, ["restart", "rollback", "runs"]);
        assert_eq!(candidates("", &k).2.len(), COMMANDS.len());
        assert_eq!(candidates("deploy ", &k).2, ["demo", "docs", "api"]);
        assert_eq!(candidates("deploy demo ", &k).2, ["v7", "v6"]);
        assert_eq!(candidates("restart demo ", &k).2, ["web", "worker"]);
        assert!(candidates("restart nosuch ", &k).2.is_empty());
        assert_eq!(usage("deploy").as_deref(), Some("deploy APP VERSION"));
        assert_eq!(usage("apps").as_deref(), Some("apps"));
    }
}
