//! A slab with generation-checked keys: a key names one occupant, and a
//! stale key (its slot freed and reused) finds nothing, so a late wake or
//! a late completion can never reach the wrong task or socket.
//!
//! Not for: the Poller's interest table (indexed by fd, `table.rs`) or
//! anything shared between threads; one owner, one thread.

/// A slot index in the low 32 bits, its generation in the high 32.
/// Generations wrap within 24 bits, so that a key fits the io_uring core's
/// `user_data` encoding (`crate::uring::UserData`) unchanged.
pub(crate) type Key = u64;

/// The generation after `g`, wrapping within 24 bits.
fn next_generation(g: u32) -> u32 {
    g.wrapping_add(1) & ((1 << 24) - 1)
}

enum Entry<T> {
    Occupied { generation: u32, value: T },
    Vacant { generation: u32 },
}

/// Entries per page: a slab grows a page at a time, so it never copies its
/// entries and never holds more than one page it does not use (a `Vec`
/// doubling would hold up to as many again: 60 % more at 10,000 sockets).
const PAGE: usize = 64;

/// A growable array in pages of `PAGE` entries.
struct Pages<T> {
    pages: Vec<Vec<T>>,
    len: usize,
}

impl<T> Pages<T> {
    fn len(&self) -> usize {
        self.len
    }

    fn push(&mut self, value: T) {
        if self.len.is_multiple_of(PAGE) {
            self.pages.push(Vec::with_capacity(PAGE));
        }
        self.pages.last_mut().expect("a page with room").push(value);
        self.len += 1;
    }

    fn get(&self, i: usize) -> Option<&T> {
        self.pages.get(i / PAGE)?.get(i % PAGE)
    }

    fn get_mut(&mut self, i: usize) -> Option<&mut T> {
        self.pages.get_mut(i / PAGE)?.get_mut(i % PAGE)
    }

    fn iter(&self) -> impl Iterator<Item = &T> {
        self.pages.iter().flatten()
    }

    fn iter_mut(&mut self) -> impl Iterator<Item = &mut T> {
        self.pages.iter_mut().flatten()
    }
}

impl<T> std::ops::Index<usize> for Pages<T> {
    type Output = T;
    fn index(&self, i: usize) -> &T {
        self.get(i).expect("an index below len")
    }
}

impl<T> std::ops::IndexMut<usize> for Pages<T> {
    fn index_mut(&mut self, i: usize) -> &mut T {
        self.get_mut(i).expect("an index below len")
    }
}

pub(crate) struct Slab<T> {
    entries: Pages<Entry<T>>,
    free: Vec<u32>,
    len: usize,
}

impl<T> Default for Slab<T> {
    fn default() -> Slab<T> {
        Slab {
            entries: Pages {
                pages: Vec::new(),
                len: 0,
            },
            free: Vec::new(),
            len: 0,
        }
    }
}

fn split(key: Key) -> (usize, u32) {
    ((key & 0xffff_ffff) as usize, (key >> 32) as u32)
}

fn join(i: usize, generation: u32) -> Key {
    (u64::from(generation) << 32) | i as u64
}

impl<T> Slab<T> {
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// The key the next `insert` returns.
    pub(crate) fn next_key(&self) -> Key {
        match self.free.last() {
            Some(&i) => match self.entries[i as usize] {
                Entry::Vacant { generation } => (u64::from(generation) << 32) | u64::from(i),
                Entry::Occupied { .. } => unreachable!("a free slot is vacant"),
            },
            None => self.entries.len() as u64,
        }
    }

    pub(crate) fn insert(&mut self, value: T) -> Key {
        self.len += 1;
        match self.free.pop() {
            Some(i) => {
                let entry = &mut self.entries[i as usize];
                let generation = match entry {
                    Entry::Vacant { generation } => *generation,
                    Entry::Occupied { .. } => unreachable!("a free slot is vacant"),
                };
                *entry = Entry::Occupied { generation, value };
                (u64::from(generation) << 32) | u64::from(i)
            }
            None => {
                let i = self.entries.len();
                self.entries.push(Entry::Occupied {
                    generation: 0,
                    value,
                });
                i as u64
            }
        }
    }

    pub(crate) fn get(&self, key: Key) -> Option<&T> {
        let (i, g) = split(key);
        match self.entries.get(i) {
            Some(Entry::Occupied { generation, value }) if *generation == g => Some(value),
            _ => None,
        }
    }

    pub(crate) fn get_mut(&mut self, key: Key) -> Option<&mut T> {
        let (i, g) = split(key);
        match self.entries.get_mut(i) {
            Some(Entry::Occupied { generation, value }) if *generation == g => Some(value),
            _ => None,
        }
    }

    pub(crate) fn remove(&mut self, key: Key) -> Option<T> {
        let (i, g) = split(key);
        let entry = self.entries.get_mut(i)?;
        match entry {
            Entry::Occupied { generation, .. } if *generation == g => {
                let next = Entry::Vacant {
                    generation: next_generation(g),
                };
                let Entry::Occupied { value, .. } = std::mem::replace(entry, next) else {
                    unreachable!("matched as occupied")
                };
                self.free.push(i as u32);
                self.len -= 1;
                Some(value)
            }
            _ => None,
        }
    }

    /// Every occupant with its key, in slot order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (Key, &T)> {
        self.entries
            .iter()
            .enumerate()
            .filter_map(|(i, entry)| match entry {
                Entry::Occupied { generation, value } => Some((join(i, *generation), value)),
                Entry::Vacant { .. } => None,
            })
    }

    /// Every occupant with its key, in slot order, to change in place.
    pub(crate) fn iter_mut(&mut self) -> impl Iterator<Item = (Key, &mut T)> {
        self.entries
            .iter_mut()
            .enumerate()
            .filter_map(|(i, entry)| match entry {
                Entry::Occupied { generation, value } => Some((join(i, *generation), value)),
                Entry::Vacant { .. } => None,
            })
    }

    /// Every occupant, removed (the slab stays usable).
    pub(crate) fn drain(&mut self) -> Vec<T> {
        let mut out = Vec::with_capacity(self.len);
        for (i, entry) in self.entries.iter_mut().enumerate() {
            if let Entry::Occupied { generation, .. } = entry {
                let next = Entry::Vacant {
                    generation: next_generation(*generation),
                };
                if let Entry::Occupied { value, .. } = std::mem::replace(entry, next) {
                    out.push(value);
                    self.free.push(i as u32);
                }
            }
        }
        self.len = 0;
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stale_key_finds_nothing_after_reuse() {
        let mut slab = Slab::default();
        let a = slab.insert("a");
        assert_eq!(slab.remove(a), Some("a"));
        let b = slab.insert("b");
        assert_ne!(a, b, "the reused slot has a new generation");
        assert_eq!(slab.get(a), None);
        assert_eq!(slab.get(b), Some(&"b"));
        assert_eq!(slab.next_key(), 1);
        assert_eq!(slab.len(), 1);
        assert_eq!(slab.iter().collect::<Vec<_>>(), vec![(b, &"b")]);
        assert_eq!(slab.drain(), vec!["b"]);
        assert_eq!(slab.get(b), None);
    }
}
