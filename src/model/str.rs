//! [`Str`]: the string of a [`Value`](super::Value), shared or immortal.
//!
//! A string is either *shared* (reference counted, freed with its last copy, like an
//! `Arc<str>`) or *immortal* (kept for the rest of the process). Copying or dropping an immortal
//! string touches no counter. Reference counts are atomic, and every operator that keeps or
//! copies a row pays one atomic update per string cell; on several worker threads the copies of
//! a hot key's strings also fight over the counter's cache line. The [`Interner`] makes the
//! strings that recur in the records immortal (up to a process-wide budget,
//! [`IMMORTAL_BUDGET`]), so that copying a row of them is a plain copy.
//!
//! Both kinds behave alike in every other way: they compare, order and hash as their text
//! (equal to `str`'s own order and hash), and serialise as a string.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::borrow::Borrow;
use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::ops::Deref;
use std::ptr::NonNull;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering as AtomicOrdering};

/// The bit of [`Str`]'s length word that marks a shared (reference-counted) string.
const SHARED: usize = 1 << (usize::BITS - 1);

/// A string of a [`Value`](super::Value): a pointer and a length, either to a reference-counted
/// allocation (as `Arc<str>`) or to text kept for the life of the process. Cloning copies the
/// pointer; only a shared string also counts the copy.
pub struct Str {
    /// The first byte of the text.
    ptr: NonNull<u8>,
    /// The text's length in bytes, with [`SHARED`] set when `ptr` is the data of an `Arc<str>`.
    len: usize,
}

// SAFETY: a `Str` is either an `Arc<str>` (Send and Sync) or a `&'static str` (Send and Sync);
// it gives out only shared references to immutable text.
unsafe impl Send for Str {}
// SAFETY: as above.
unsafe impl Sync for Str {}

impl Str {
    /// A string kept for the life of the process: copying and dropping it touch no counter.
    pub fn immortal(text: &'static str) -> Str {
        Str {
            ptr: NonNull::from(text).cast(),
            len: text.len(),
        }
    }

    /// True for a string made by [`Str::immortal`] (or interned as one).
    pub fn is_immortal(&self) -> bool {
        self.len & SHARED == 0
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        let len = self.len & !SHARED;
        // SAFETY: `ptr` and `len` come from a `str` (an `Arc<str>`'s data or a `&'static str`)
        // that lives at least as long as `self`: an immortal text is never freed, and a shared
        // one is freed only when its last `Str` drops.
        unsafe { std::str::from_utf8_unchecked(std::slice::from_raw_parts(self.ptr.as_ptr(), len)) }
    }

    /// True when both are the same text at the same address: equal without reading the bytes.
    pub fn ptr_eq(a: &Str, b: &Str) -> bool {
        a.ptr == b.ptr && a.len == b.len
    }

    /// The `*const str` an `Arc::into_raw` gave, for a shared string.
    fn raw(&self) -> *const str {
        std::ptr::slice_from_raw_parts(self.ptr.as_ptr() as *const u8, self.len & !SHARED)
            as *const str
    }
}

impl From<Arc<str>> for Str {
    fn from(text: Arc<str>) -> Str {
        let len = text.len();
        let raw = Arc::into_raw(text);
        // SAFETY: `Arc::into_raw` never gives a null pointer.
        let ptr = unsafe { NonNull::new_unchecked(raw as *const u8 as *mut u8) };
        Str {
            ptr,
            len: len | SHARED,
        }
    }
}

impl From<&str> for Str {
    fn from(text: &str) -> Str {
        Str::from(Arc::<str>::from(text))
    }
}

impl From<String> for Str {
    fn from(text: String) -> Str {
        Str::from(Arc::<str>::from(text))
    }
}

impl From<Box<str>> for Str {
    fn from(text: Box<str>) -> Str {
        Str::from(Arc::<str>::from(text))
    }
}

impl Clone for Str {
    fn clone(&self) -> Str {
        if !self.is_immortal() {
            // SAFETY: a shared string's `raw()` is the pointer `Arc::into_raw` gave, and the
            // `Arc` it counts is alive while `self` is.
            unsafe { Arc::increment_strong_count(self.raw()) };
        }
        Str {
            ptr: self.ptr,
            len: self.len,
        }
    }
}

impl Drop for Str {
    fn drop(&mut self) {
        if !self.is_immortal() {
            // SAFETY: a shared string owns one count of the `Arc` that `raw()` points into,
            // taken when it was made or cloned; this gives it back.
            unsafe { drop(Arc::from_raw(self.raw())) };
        }
    }
}

impl Default for Str {
    fn default() -> Str {
        Str::immortal("")
    }
}

impl Deref for Str {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for Str {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl Borrow<str> for Str {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

impl PartialEq for Str {
    fn eq(&self, other: &Str) -> bool {
        Str::ptr_eq(self, other) || self.as_str() == other.as_str()
    }
}

impl Eq for Str {}

impl PartialEq<str> for Str {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for Str {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl PartialOrd for Str {
    fn partial_cmp(&self, other: &Str) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Str {
    fn cmp(&self, other: &Str) -> Ordering {
        if Str::ptr_eq(self, other) {
            Ordering::Equal
        } else {
            self.as_str().cmp(other.as_str())
        }
    }
}

impl Hash for Str {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_str().hash(state)
    }
}

impl fmt::Debug for Str {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for Str {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self.as_str(), f)
    }
}

impl Serialize for Str {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Str {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Str, D::Error> {
        let text = String::deserialize(deserializer)?;
        Ok(Str::from(text))
    }
}

/// How many bytes of text the whole process may make immortal (64 MiB). Past it, the
/// [`Interner`] goes on sharing equal strings as reference-counted ones.
pub const IMMORTAL_BUDGET: usize = 64 << 20;

/// Bytes of text made immortal so far, by every interner of the process.
static IMMORTAL_BYTES: AtomicUsize = AtomicUsize::new(0);

/// Takes `bytes` from the process's immortal budget; false (and nothing taken) when it would
/// go past [`IMMORTAL_BUDGET`].
fn take_budget(bytes: usize) -> bool {
    IMMORTAL_BYTES
        .fetch_update(AtomicOrdering::Relaxed, AtomicOrdering::Relaxed, |used| {
            used.checked_add(bytes)
                .filter(|total| *total <= IMMORTAL_BUDGET)
        })
        .is_ok()
}

/// Makes equal strings share one allocation: rows whose strings are interned take less memory,
/// and their equal strings compare by pointer rather than byte by byte.
///
/// A string seen for the first time is kept as it is (shared). Seen again, it becomes
/// immortal: it is copied once into memory kept for the process, and this and every later
/// equal string is handed out as that copy, whose clones touch no counter. Strings that occur
/// once (a record's correlation id) are thus never kept; those that recur (service principal
/// ids, names, addresses) are, up to [`IMMORTAL_BUDGET`] bytes for the whole process.
///
/// The interner keeps at most `limit` distinct strings at a time; past that it forgets those
/// seen once (and the immortal ones too when they fill half the limit) and starts again;
/// strings already handed out stay valid. A long-running reader's memory stays bounded: by the
/// limit, and by the budget for immortal text.
#[derive(Debug)]
pub struct Interner {
    strings: rustc_hash::FxHashSet<Str>,
    limit: usize,
}

impl Default for Interner {
    fn default() -> Interner {
        Interner::with_limit(1 << 20)
    }
}

impl Interner {
    /// An interner that keeps at most `limit` distinct strings at a time.
    pub fn with_limit(limit: usize) -> Interner {
        Interner {
            strings: rustc_hash::FxHashSet::default(),
            limit: limit.max(1),
        }
    }

    /// `s`, or the equal string interned before it (immortal from its second sight on, while
    /// the budget lasts).
    pub fn intern(&mut self, s: &Str) -> Str {
        if let Some(known) = self.strings.get(s.as_str()) {
            if known.is_immortal() || !take_budget(known.len()) {
                return known.clone();
            }
            let text: &'static str = Box::leak(Box::<str>::from(known.as_str()));
            let kept = Str::immortal(text);
            self.strings.replace(kept.clone());
            return kept;
        }
        if self.strings.len() >= self.limit {
            // Forget the strings seen once; keep the immortal ones (they cost nothing more to
            // remember) unless they fill half the limit themselves.
            self.strings.retain(Str::is_immortal);
            if self.strings.len() >= self.limit / 2 {
                self.strings.clear();
            }
        }
        self.strings.insert(s.clone());
        s.clone()
    }

    /// Replaces every string cell of `row` (at the top level) by its interned equal.
    pub fn intern_row(&mut self, row: &mut [super::Value]) {
        for v in row {
            if let super::Value::String(s) = v {
                *s = self.intern(s);
            }
        }
    }

    /// How many distinct strings are held.
    pub fn len(&self) -> usize {
        self.strings.len()
    }

    /// True when no string is held.
    pub fn is_empty(&self) -> bool {
        self.strings.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::hash_map::DefaultHasher;

    fn hash_of<T: Hash + ?Sized>(x: &T) -> u64 {
        let mut h = DefaultHasher::new();
        x.hash(&mut h);
        h.finish()
    }

    #[test]
    fn shared_strings_count_their_copies_and_free_with_the_last() {
        let arc: Arc<str> = Arc::from("service principal");
        let s = Str::from(arc.clone());
        assert_eq!(Arc::strong_count(&arc), 2);
        let t = s.clone();
        assert_eq!(Arc::strong_count(&arc), 3);
        drop(s);
        assert_eq!(Arc::strong_count(&arc), 2);
        assert_eq!(&*t, "service principal");
        drop(t);
        assert_eq!(Arc::strong_count(&arc), 1);
    }

    #[test]
    fn immortal_and_shared_strings_compare_and_hash_as_their_text() {
        let a = Str::immortal("abc");
        let b = Str::from("abc");
        let c = Str::from("abd");
        assert!(a.is_immortal() && !b.is_immortal());
        assert_eq!(a, b);
        assert_eq!(a.cmp(&c), Ordering::Less);
        assert_eq!(hash_of(&a), hash_of(&b));
        assert_eq!(hash_of(&a), hash_of("abc"));
        assert_eq!(format!("{a:?} {b}"), "\"abc\" abc");
        assert_eq!(Str::default(), Str::from(""));
    }

    #[test]
    fn strings_serialise_as_text() {
        let s = Str::immortal("x\"y");
        let text = serde_json::to_string(&s).unwrap();
        assert_eq!(text, "\"x\\\"y\"");
        let back: Str = serde_json::from_str(&text).unwrap();
        assert_eq!(back, s);
        assert!(!back.is_immortal());
    }

    #[test]
    fn a_string_becomes_immortal_when_seen_again() {
        let mut interner = Interner::default();
        let first = Str::from("a string seen twice by this test");
        let got = interner.intern(&first);
        assert!(Str::ptr_eq(&got, &first) && !got.is_immortal());
        let again = interner.intern(&Str::from("a string seen twice by this test"));
        assert!(again.is_immortal());
        let third = interner.intern(&Str::from("a string seen twice by this test"));
        assert!(Str::ptr_eq(&again, &third));
        assert_eq!(first, third);
        let once = interner.intern(&Str::from("a string seen once by this test"));
        assert!(!once.is_immortal());
    }

    #[test]
    fn immortal_strings_outlive_the_interners_limit() {
        let mut interner = Interner::with_limit(4);
        interner.intern(&Str::from("kept by the limit test"));
        let kept = interner.intern(&Str::from("kept by the limit test"));
        assert!(kept.is_immortal());
        for s in ["a", "b", "c", "d"] {
            interner.intern(&Str::from(s));
        }
        // At "d" the limit forgot "a", "b" and "c" but not the immortal string.
        assert_eq!(interner.len(), 2);
        let again = interner.intern(&Str::from("kept by the limit test"));
        assert!(Str::ptr_eq(&kept, &again));
    }

    #[test]
    fn a_value_stays_three_words() {
        // A string is two words, like the Arc<str> it replaces: a value (tag and payload) and
        // an optional string take no more room than before.
        assert_eq!(std::mem::size_of::<Str>(), 16);
        assert_eq!(std::mem::size_of::<Option<Str>>(), 16);
        assert_eq!(std::mem::size_of::<super::super::Value>(), 24);
    }
}
