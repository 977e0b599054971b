package backend

// fifo is a slice-backed queue of entries that also allows removal from
// the middle (a selector or a message group skips an entry that later
// consumers may take): a removed slot becomes nil until compaction.
type fifo struct {
	items []*entry
	head  int // index of the first slot that may be live
	live  int // non-nil slots
}

func (f *fifo) len() int { return f.live }

func (f *fifo) push(e *entry) {
	f.items = append(f.items, e)
	f.live++
}

// popFront removes and returns the first live entry, or nil.
func (f *fifo) popFront() *entry {
	for f.head < len(f.items) {
		e := f.items[f.head]
		f.items[f.head] = nil
		f.head++
		if e != nil {
			f.live--
			f.compact()
			return e
		}
	}
	f.compact()
	return nil
}

// removeAt empties slot i, which must be live. It never moves slots, so a
// caller iterating by index may go on; call compact when done.
func (f *fifo) removeAt(i int) {
	f.items[i] = nil
	f.live--
	if i == f.head {
		for f.head < len(f.items) && f.items[f.head] == nil {
			f.head++
		}
	}
}

// compact reclaims the dead prefix and, when the queue is mostly holes,
// squeezes them out.
func (f *fifo) compact() {
	switch {
	case f.live == 0:
		clear(f.items[f.head:])
		f.items, f.head = f.items[:0], 0
	case f.head > 1024 && f.head*2 > len(f.items):
		n := copy(f.items, f.items[f.head:])
		clear(f.items[n:])
		f.items, f.head = f.items[:n], 0
	case len(f.items)-f.head > 4096 && f.live*4 < len(f.items)-f.head:
		n := 0
		for _, e := range f.items[f.head:] {
			if e != nil {
				f.items[n] = e
				n++
			}
		}
		clear(f.items[n:])
		f.items, f.head = f.items[:n], 0
	}
}
