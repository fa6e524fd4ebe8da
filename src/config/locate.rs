//! Finds where a value stands in the YAML source, so that errors found after
//! deserialisation (an unknown category, a duplicate host) can still be reported as
//! `FILE:LINE:COL`. serde_yaml keeps no spans, so the text is walked once more with
//! yaml-rust2's event parser, which marks every node.

use std::collections::HashMap;

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::Marker;

/// One step of a path into the document: a mapping key or a sequence index.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Seg {
    Key(String),
    Index(usize),
}

/// A path such as `sites[1].hosts[0]`.
pub type Path = Vec<Seg>;

/// Renders a path the way a user reads it: `sites[1].hosts[0]`.
pub fn display_path(path: &[Seg]) -> String {
    let mut out = String::new();
    for seg in path {
        match seg {
            Seg::Key(k) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(k);
            }
            Seg::Index(i) => out.push_str(&format!("[{i}]")),
        }
    }
    out
}

/// The path [`display_path`] rendered, read back: `None` when `text` is not one.
pub fn parse_path(text: &str) -> Option<Path> {
    let mut path = Path::new();
    if text.is_empty() {
        return Some(path);
    }
    for part in text.split('.') {
        let (key, mut indexes) = match part.find('[') {
            Some(at) => (&part[..at], &part[at..]),
            None => (part, ""),
        };
        if !key.is_empty() {
            path.push(Seg::Key(key.to_owned()));
        }
        while let Some(rest) = indexes.strip_prefix('[') {
            let (index, after) = rest.split_once(']')?;
            path.push(Seg::Index(index.parse().ok()?));
            indexes = after;
        }
        if !indexes.is_empty() {
            return None;
        }
    }
    Some(path)
}

/// Line and column (both 1-based) of every node, by path.
#[derive(Debug, Default)]
pub struct Locations {
    nodes: HashMap<Path, (usize, usize)>,
    /// Where the key of each mapping value stands.
    keys: HashMap<Path, (usize, usize)>,
}

impl Locations {
    /// Indexes `source`. A document the parser rejects yields an empty index; serde_yaml
    /// reports that error itself, with its own location.
    pub fn index(source: &str) -> Self {
        let mut walker = Walker::default();
        let mut parser = Parser::new_from_str(source);
        let _ = parser.load(&mut walker, false);
        Locations {
            nodes: walker.nodes,
            keys: walker.keys,
        }
    }

    /// Where the key of the mapping value at `path` stands (of the last, if the key
    /// repeats): what a duplicate-key error points at.
    pub fn key(&self, path: &[Seg]) -> Option<(usize, usize)> {
        self.keys.get(path).copied()
    }

    /// The location of the node at `path` exactly (of the last, if the path repeats).
    pub fn get(&self, path: &[Seg]) -> Option<(usize, usize)> {
        self.nodes.get(path).copied()
    }

    /// The location of the node at `path`, or of its nearest ancestor that has one.
    pub fn find(&self, path: &[Seg]) -> (usize, usize) {
        let mut len = path.len();
        loop {
            if let Some(at) = self.nodes.get(&path[..len]) {
                return *at;
            }
            if len == 0 {
                return (1, 1);
            }
            len -= 1;
        }
    }
}

enum Frame {
    Mapping { key: Option<String> },
    Sequence { next: usize },
}

#[derive(Default)]
struct Walker {
    stack: Vec<Frame>,
    path: Path,
    nodes: HashMap<Path, (usize, usize)>,
    keys: HashMap<Path, (usize, usize)>,
    /// Where the key of the value being entered stands.
    key_at: Option<(usize, usize)>,
    /// Collections with no key of their own (sequence items, the root), located at
    /// their first key once it is seen.
    unlocated: Vec<Path>,
}

impl Walker {
    /// Called for each node; returns false when the node was a mapping key. A scalar
    /// is located where it stands; a mapping or sequence where its key stands (the
    /// parser marks block collections at their first inner token).
    fn enter_node(&mut self, scalar: Option<&str>, mark: Marker) -> bool {
        let mut at = (mark.line(), mark.col() + 1);
        let key_at = self.key_at.take();
        if scalar.is_none() {
            at = key_at.unwrap_or(at);
        }
        match self.stack.last_mut() {
            Some(Frame::Mapping { key }) if key.is_none() => {
                *key = Some(scalar.unwrap_or_default().to_owned());
                self.key_at = Some(at);
                if self.unlocated.last() == Some(&self.path) {
                    self.unlocated.pop();
                    self.nodes.insert(self.path.clone(), at);
                }
                return false;
            }
            Some(Frame::Mapping { key }) => {
                self.path.push(Seg::Key(key.take().unwrap_or_default()));
            }
            Some(Frame::Sequence { next }) => {
                self.path.push(Seg::Index(*next));
                *next += 1;
            }
            None => {}
        }
        // A repeated key (an error serde_yaml reports) is located at its last occurrence.
        self.nodes.insert(self.path.clone(), at);
        if let Some(key_at) = key_at {
            self.keys.insert(self.path.clone(), key_at);
        }
        if scalar.is_none() && key_at.is_none() {
            self.unlocated.push(self.path.clone());
        }
        true
    }

    fn leave_node(&mut self) {
        if !self.stack.is_empty() {
            self.path.pop();
        }
    }
}

impl MarkedEventReceiver for Walker {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        match ev {
            Event::Scalar(value, ..) if self.enter_node(Some(&value), mark) => self.leave_node(),
            Event::Alias(_) if self.enter_node(None, mark) => self.leave_node(),
            Event::MappingStart(..) => {
                self.enter_node(None, mark);
                self.stack.push(Frame::Mapping { key: None });
            }
            Event::SequenceStart(..) => {
                self.enter_node(None, mark);
                self.stack.push(Frame::Sequence { next: 0 });
            }
            Event::MappingEnd | Event::SequenceEnd => {
                self.stack.pop();
                self.leave_node();
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(k: &str) -> Seg {
        Seg::Key(k.to_owned())
    }

    #[test]
    fn finds_nested_values_in_block_and_flow_style() {
        let src = "a:\n  b: 1\nsites:\n  - name: x\n    hosts: [h1, h2]\n";
        let loc = Locations::index(src);
        assert_eq!(loc.find(&[key("a"), key("b")]), (2, 6));
        assert_eq!(
            loc.find(&[key("sites"), Seg::Index(0), key("name")]),
            (4, 11)
        );
        assert_eq!(
            loc.find(&[key("sites"), Seg::Index(0), key("hosts"), Seg::Index(1)]),
            (5, 17)
        );
    }

    #[test]
    fn locates_a_mapping_in_a_sequence_at_its_first_key() {
        let loc = Locations::index("items:\n  - name: a\n    x: 1\n");
        assert_eq!(loc.find(&[key("items"), Seg::Index(0)]), (2, 5));
    }

    #[test]
    fn locates_keys_apart_from_their_values() {
        let loc = Locations::index("a:\n  b:   1\n  b: [x]\n");
        assert_eq!(loc.key(&[key("a"), key("b")]), Some((3, 3)));
        assert_eq!(loc.find(&[key("a"), key("b")]), (3, 3));
        let loc = Locations::index("a:\n  b:   1\n");
        assert_eq!(loc.key(&[key("a"), key("b")]), Some((2, 3)));
        assert_eq!(loc.find(&[key("a"), key("b")]), (2, 8));
    }

    #[test]
    fn falls_back_to_the_nearest_ancestor() {
        let loc = Locations::index("a:\n  b: 1\n");
        assert_eq!(loc.find(&[key("a"), key("missing")]), (1, 1));
    }

    #[test]
    fn renders_paths_for_people() {
        let p = vec![key("sites"), Seg::Index(1), key("hosts"), Seg::Index(0)];
        assert_eq!(display_path(&p), "sites[1].hosts[0]");
    }
}
