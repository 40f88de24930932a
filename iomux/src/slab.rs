//! A slab with generation-checked keys: a key names one occupant, and a
//! stale key (its slot freed and reused) finds nothing, so a late wake or
//! a late completion can never reach the wrong task or socket.

/// A slot index in the low 32 bits, its generation in the high 32.
pub(crate) type Key = u64;

enum Entry<T> {
    Occupied { generation: u32, value: T },
    Vacant { generation: u32 },
}

pub(crate) struct Slab<T> {
    entries: Vec<Entry<T>>,
    free: Vec<u32>,
    len: usize,
}

impl<T> Default for Slab<T> {
    fn default() -> Slab<T> {
        Slab {
            entries: Vec::new(),
            free: Vec::new(),
            len: 0,
        }
    }
}

fn split(key: Key) -> (usize, u32) {
    ((key & 0xffff_ffff) as usize, (key >> 32) as u32)
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

    #[cfg_attr(not(feature = "uring"), allow(dead_code))]
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
                    generation: g.wrapping_add(1),
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

    /// Every occupant, removed (the slab stays usable).
    pub(crate) fn drain(&mut self) -> Vec<T> {
        let mut out = Vec::with_capacity(self.len);
        for (i, entry) in self.entries.iter_mut().enumerate() {
            if let Entry::Occupied { generation, .. } = entry {
                let next = Entry::Vacant {
                    generation: generation.wrapping_add(1),
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
        assert_eq!(slab.drain(), vec!["b"]);
        assert_eq!(slab.get(b), None);
    }
}
