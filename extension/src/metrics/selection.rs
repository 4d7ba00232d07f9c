//! Which metrics are written: groups and single metrics switched on and off by configuration.

use super::{Group, MetricDef, catalogue};

/// A set of catalogue metrics (a bit per entry of [`catalogue::ALL`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Selection(u64);

fn index(def: &MetricDef) -> Option<usize> {
    let i = usize::from(def.index);
    catalogue::ALL
        .get(i)
        .filter(|d| std::ptr::eq(**d, def))
        .map(|_| i)
}

impl Selection {
    pub(crate) fn none() -> Self {
        Self(0)
    }

    /// The default: [`catalogue::DEFAULT`], what `AWS/Lambda` does not give for free. Every
    /// metric (times each set of dimension values) is a billed custom metric, so the rest is
    /// opt-in; see the README's cost table (`docs/metrics.md` has every metric).
    pub(crate) fn default_set() -> Self {
        Self::none().with(|d| catalogue::DEFAULT.iter().any(|x| std::ptr::eq(*x, d)))
    }

    fn with(self, pick: impl Fn(&MetricDef) -> bool) -> Self {
        let mut bits = self.0;
        for (i, def) in catalogue::ALL.iter().enumerate() {
            if pick(def) {
                bits |= 1 << i;
            }
        }
        Self(bits)
    }

    fn without(self, pick: impl Fn(&MetricDef) -> bool) -> Self {
        let mut bits = self.0;
        for (i, def) in catalogue::ALL.iter().enumerate() {
            if pick(def) {
                bits &= !(1 << i);
            }
        }
        Self(bits)
    }

    pub(crate) fn contains(&self, def: &MetricDef) -> bool {
        index(def).is_some_and(|i| self.0 & (1 << i) != 0)
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.0.count_ones() as usize
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.0 == 0
    }

    /// Parses a list such as `default,Duration`, `all,-Threads` or `-resources`: group names
    /// (`core`, `detail`, `resources`, `cost`, `extension`), `default`, `all` and metric names,
    /// case-insensitive; a leading `-` removes. A list that starts with a removal starts from
    /// the default set. Returns the selection and the tokens that name nothing.
    pub(crate) fn parse(text: &str) -> (Self, Vec<String>) {
        let tokens: Vec<&str> = text.split(',').map(str::trim).filter(|t| !t.is_empty()).collect();
        let mut selection = match tokens.first() {
            Some(t) if t.starts_with('-') => Self::default_set(),
            _ => Self::none(),
        };
        let mut unknown = Vec::new();
        for token in tokens {
            let (remove, name) = match token.strip_prefix('-') {
                Some(rest) => (true, rest.trim()),
                None => (false, token),
            };
            let pick: Box<dyn Fn(&MetricDef) -> bool> = if name.eq_ignore_ascii_case("all") {
                Box::new(|_| true)
            } else if name.eq_ignore_ascii_case("default") {
                let default = Self::default_set();
                Box::new(move |d| default.contains(d))
            } else if let Some(group) = Group::ALL
                .into_iter()
                .find(|g| g.name().eq_ignore_ascii_case(name))
            {
                Box::new(move |d| d.group == group)
            } else if let Some(def) = catalogue::by_name(name) {
                Box::new(move |d| std::ptr::eq(d, def))
            } else {
                unknown.push(token.to_owned());
                continue;
            };
            selection = if remove {
                selection.without(pick)
            } else {
                selection.with(pick)
            };
        }
        (selection, unknown)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_is_what_aws_lambda_does_not_give() {
        let s = Selection::default_set();
        assert!(s.contains(&catalogue::COLD_STARTS));
        assert!(s.contains(&catalogue::ESTIMATED_COST));
        // AWS/Lambda publishes these for free.
        assert!(!s.contains(&catalogue::INVOCATIONS));
        assert!(!s.contains(&catalogue::DURATION));
        assert!(!s.contains(&catalogue::CPU_TOTAL_TIME));
        assert!(!s.contains(&catalogue::EXTENSION_MEMORY));
        assert_eq!(s.len(), catalogue::DEFAULT.len());
        assert_eq!(Selection::parse("default").0, s);
        assert_eq!(
            Selection::parse("-Invocations").0,
            s,
            "a removal starts from the default"
        );
    }

    #[test]
    fn groups_names_and_removals() {
        let (s, bad) = Selection::parse("core, -ProducedBytes, threads");
        assert!(bad.is_empty());
        assert!(s.contains(&catalogue::DURATION));
        assert!(!s.contains(&catalogue::PRODUCED_BYTES));
        assert!(s.contains(&catalogue::THREADS));
        assert!(!s.contains(&catalogue::CPU_TOTAL_TIME));

        let (s, _) = Selection::parse("-cost");
        assert!(s.contains(&catalogue::COLD_STARTS) && !s.contains(&catalogue::ESTIMATED_COST));

        let (s, _) = Selection::parse("all");
        assert_eq!(s.len(), catalogue::ALL.len());
    }

    #[test]
    fn unknown_tokens_are_returned() {
        let (s, bad) = Selection::parse("core,bogus,-nope");
        assert_eq!(bad, ["bogus", "-nope"]);
        assert!(s.contains(&catalogue::INVOCATIONS));
    }

    #[test]
    fn the_catalogue_fits_the_bit_set() {
        assert!(catalogue::ALL.len() <= 64);
    }
}
