//! The console's tabs, and a value kept per tab (its filter, selection,
//! scroll offset, visible rows): a type, not a number into an array, so
//! no lookup can miss.

/// One of the console's main views.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Tab {
    Hosts,
    #[default]
    Apps,
    Containers,
    Runs,
    Events,
}

impl Tab {
    /// In the order of the tab bar (and of the keys `1`…`5`).
    pub const ALL: [Tab; 5] = [
        Tab::Hosts,
        Tab::Apps,
        Tab::Containers,
        Tab::Runs,
        Tab::Events,
    ];

    pub fn title(self) -> &'static str {
        match self {
            Tab::Hosts => "Hosts",
            Tab::Apps => "Apps",
            Tab::Containers => "Containers",
            Tab::Runs => "Runs",
            Tab::Events => "Events",
        }
    }

    /// The tab of key `1`…`5` (`0` is the first).
    pub fn nth(n: usize) -> Option<Tab> {
        Tab::ALL.get(n).copied()
    }

    fn position(self) -> usize {
        Tab::ALL.iter().position(|t| *t == self).unwrap_or(0)
    }

    /// The next tab to the right, wrapping.
    pub fn next(self) -> Tab {
        Tab::nth((self.position() + 1) % Tab::ALL.len()).unwrap_or_default()
    }

    /// The next tab to the left, wrapping.
    pub fn prev(self) -> Tab {
        Tab::nth((self.position() + Tab::ALL.len() - 1) % Tab::ALL.len()).unwrap_or_default()
    }
}

/// One `T` for each tab.
#[derive(Clone, Debug, Default)]
pub struct PerTab<T> {
    hosts: T,
    apps: T,
    containers: T,
    runs: T,
    events: T,
}

impl<T> PerTab<T> {
    pub fn of(&self, tab: Tab) -> &T {
        match tab {
            Tab::Hosts => &self.hosts,
            Tab::Apps => &self.apps,
            Tab::Containers => &self.containers,
            Tab::Runs => &self.runs,
            Tab::Events => &self.events,
        }
    }

    pub fn of_mut(&mut self, tab: Tab) -> &mut T {
        match tab {
            Tab::Hosts => &mut self.hosts,
            Tab::Apps => &mut self.apps,
            Tab::Containers => &mut self.containers,
            Tab::Runs => &mut self.runs,
            Tab::Events => &mut self.events,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tabs_wrap_both_ways_and_keys_name_them() {
        assert_eq!(Tab::Events.next(), Tab::Hosts);
        assert_eq!(Tab::Hosts.prev(), Tab::Events);
        assert_eq!(Tab::Apps.next(), Tab::Containers);
        assert_eq!(Tab::nth(2), Some(Tab::Containers));
        assert_eq!(Tab::nth(5), None);
        let mut p: PerTab<usize> = PerTab::default();
        *p.of_mut(Tab::Runs) = 3;
        assert_eq!((*p.of(Tab::Runs), *p.of(Tab::Apps)), (3, 0));
    }
}
