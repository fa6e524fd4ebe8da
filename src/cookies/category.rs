//! Cookie categories (`necessary`, `statistics`, …) and sets of them.
//!
//! Categories are configuration, not code, so they are numbered in the order
//! `proxy.yaml` lists them and a set of them is a 64-bit mask: granting, refusing
//! and comparing consent costs a few instructions on the request path.

use std::fmt;

/// A category's position in `categories:` (0 for the first listed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CategoryId(pub(crate) u8);

impl CategoryId {
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// The most categories one configuration may declare (the width of [`CategorySet`]).
pub const MAX_CATEGORIES: usize = 64;

/// A set of categories.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct CategorySet(u64);

impl CategorySet {
    pub const EMPTY: CategorySet = CategorySet(0);

    pub fn contains(self, id: CategoryId) -> bool {
        self.0 & (1 << id.0) != 0
    }
    pub fn insert(&mut self, id: CategoryId) {
        self.0 |= 1 << id.0;
    }
    pub fn with(mut self, id: CategoryId) -> Self {
        self.insert(id);
        self
    }
    pub fn union(self, other: CategorySet) -> Self {
        CategorySet(self.0 | other.0)
    }
    pub fn intersection(self, other: CategorySet) -> Self {
        CategorySet(self.0 & other.0)
    }
    pub fn without(self, other: CategorySet) -> Self {
        CategorySet(self.0 & !other.0)
    }
    pub fn is_subset(self, other: CategorySet) -> bool {
        self.0 & !other.0 == 0
    }
    /// Bit `N` for category `N`: how the guard script's URL carries the set.
    pub fn bits(self) -> u64 {
        self.0
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
    pub fn ids(self) -> impl Iterator<Item = CategoryId> {
        (0..MAX_CATEGORIES as u8)
            .map(CategoryId)
            .filter(move |id| self.contains(*id))
    }
}

impl fmt::Debug for CategorySet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.ids().map(|id| id.0)).finish()
    }
}

/// One category as configured.
#[derive(Debug, Clone)]
pub struct Category {
    pub name: String,
    pub title: crate::cookies::text::Text,
    pub description: crate::cookies::text::Text,
    /// Always granted; the visitor cannot refuse it.
    pub required: bool,
    /// Refused when the request carries `Sec-GPC: 1` and `honor_gpc` is on.
    pub gpc: bool,
}

/// All categories, in display order, with the sets the request path needs precomputed.
#[derive(Debug, Clone)]
pub struct Categories {
    list: Vec<Category>,
    required: CategorySet,
    gpc: CategorySet,
}

impl Categories {
    /// Builds the table; the caller has checked there are at most [`MAX_CATEGORIES`].
    pub fn new(list: Vec<Category>) -> Self {
        let mut required = CategorySet::EMPTY;
        let mut gpc = CategorySet::EMPTY;
        for (i, c) in list.iter().enumerate() {
            let id = CategoryId(i as u8);
            if c.required {
                required.insert(id);
            }
            if c.gpc {
                gpc.insert(id);
            }
        }
        Categories {
            list,
            required,
            // A required category is granted whatever the request says.
            gpc: gpc.without(required),
        }
    }

    pub fn id(&self, name: &str) -> Option<CategoryId> {
        self.list
            .iter()
            .position(|c| c.name == name)
            .map(|i| CategoryId(i as u8))
    }
    pub fn get(&self, id: CategoryId) -> &Category {
        &self.list[id.index()]
    }
    pub fn name(&self, id: CategoryId) -> &str {
        &self.list[id.index()].name
    }
    pub fn iter(&self) -> impl Iterator<Item = (CategoryId, &Category)> {
        self.list
            .iter()
            .enumerate()
            .map(|(i, c)| (CategoryId(i as u8), c))
    }
    pub fn len(&self) -> usize {
        self.list.len()
    }
    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }
    /// Categories that are granted whatever the visitor chose.
    pub fn required(&self) -> CategorySet {
        self.required
    }
    /// Categories refused under `Sec-GPC: 1` (never a required one).
    pub fn gpc(&self) -> CategorySet {
        self.gpc
    }
    /// Every category.
    pub fn all(&self) -> CategorySet {
        let mut set = CategorySet::EMPTY;
        for (id, _) in self.iter() {
            set.insert(id);
        }
        set
    }
    /// The category the preferences cookie itself belongs to: the first required one.
    pub fn necessary(&self) -> Option<CategoryId> {
        self.required.ids().next()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cat(name: &str, required: bool, gpc: bool) -> Category {
        Category {
            name: name.into(),
            title: name.into(),
            description: Default::default(),
            required,
            gpc,
        }
    }

    #[test]
    fn precomputes_required_and_gpc_sets() {
        let cats = Categories::new(vec![
            cat("necessary", true, false),
            cat("statistics", false, false),
            cat("third_party", false, true),
        ]);
        assert_eq!(cats.required(), CategorySet::EMPTY.with(CategoryId(0)));
        assert_eq!(cats.gpc(), CategorySet::EMPTY.with(CategoryId(2)));
        // Required wins over gpc: the GPC set leaves it out.
        let odd = Categories::new(vec![cat("necessary", true, true)]);
        assert!(odd.gpc().is_empty());
        assert_eq!(cats.id("statistics"), Some(CategoryId(1)));
        assert_eq!(cats.necessary(), Some(CategoryId(0)));
        assert_eq!(cats.all().ids().count(), 3);
    }

    #[test]
    fn set_operations_behave_like_sets() {
        let a = CategorySet::EMPTY.with(CategoryId(1)).with(CategoryId(3));
        let b = CategorySet::EMPTY.with(CategoryId(3));
        assert!(b.is_subset(a));
        assert!(!a.is_subset(b));
        assert_eq!(a.intersection(b), b);
        assert_eq!(a.without(b), CategorySet::EMPTY.with(CategoryId(1)));
        assert!(CategorySet::EMPTY.is_empty());
        assert!(a.contains(CategoryId(63).min(CategoryId(1))));
    }
}
