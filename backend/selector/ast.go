package selector

import (
	"math"
	"strconv"
	"strings"
)

// op is the operation of an expression node.
type op uint8

const (
	opLit     op = iota // literal: val
	opIdent             // header field or property: name
	opNeg               // unary minus
	opAdd               // + (numbers; string concatenation)
	opSub               // -
	opMul               // *
	opDiv               // /
	opMod               // % (ActiveMQ extension)
	opEq                // =
	opNe                // <>
	opLt                // <
	opLe                // <=
	opGt                // >
	opGe                // >=
	opAnd               // AND, n-ary
	opOr                // OR, n-ary
	opNot               // NOT
	opIsNull            // IS [NOT] NULL
	opLike              // [NOT] LIKE
	opBetween           // [NOT] BETWEEN: kids x, low, high
	opIn                // [NOT] IN
)

var opText = [...]string{
	opAdd: "+", opSub: "-", opMul: "*", opDiv: "/", opMod: "%",
	opEq: "=", opNe: "<>", opLt: "<", opLe: "<=", opGt: ">", opGe: ">=",
	opAnd: "AND", opOr: "OR",
}

// node is one node of a compiled selector. Nodes are immutable after Parse.
type node struct {
	op   op
	not  bool // IS NOT NULL, NOT LIKE, NOT BETWEEN, NOT IN
	neg  bool // opLit: a number literal folded with a unary minus
	h    int  // height of the subtree, 1 for a leaf
	pos  int  // byte offset of the node's first token
	val  value
	name string
	kids []*node
	like *likeMatcher
	in   *inSet
}

// isBoolean reports whether n yields a boolean (or unknown) by its form, as
// ActiveMQ's BooleanExpression: comparisons, logic, and the TRUE, FALSE and
// NULL literals.
func (n *node) isBoolean() bool {
	switch n.op {
	case opEq, opNe, opLt, opLe, opGt, opGe, opAnd, opOr, opNot, opIsNull, opLike, opBetween, opIn:
		return true
	case opLit:
		return n.val.k == kBool || n.val.k == kNull
	}
	return false
}

// isLiteral reports whether n is a literal written as such (not folded from
// an expression), with kind k.
func (n *node) isLiteral(k kind) bool { return n.op == opLit && !n.neg && n.val.k == k }

// canon writes n fully parenthesised. Parsing the result yields a tree that
// prints the same and evaluates the same; the tests and fuzzer rely on it.
func (n *node) canon(b *strings.Builder) {
	switch n.op {
	case opLit:
		writeLiteral(b, n.val)
	case opIdent:
		b.WriteString(n.name)
	case opNeg:
		b.WriteString("(- ")
		n.kids[0].canon(b)
		b.WriteByte(')')
	case opNot:
		b.WriteString("(NOT ")
		n.kids[0].canon(b)
		b.WriteByte(')')
	case opAnd, opOr, opAdd, opSub, opMul, opDiv, opMod, opEq, opNe, opLt, opLe, opGt, opGe:
		b.WriteByte('(')
		for i, k := range n.kids {
			if i > 0 {
				b.WriteByte(' ')
				b.WriteString(opText[n.op])
				b.WriteByte(' ')
			}
			k.canon(b)
		}
		b.WriteByte(')')
	case opIsNull:
		b.WriteByte('(')
		n.kids[0].canon(b)
		b.WriteString(n.notWord(" IS NOT NULL)", " IS NULL)"))
	case opLike:
		b.WriteByte('(')
		n.kids[0].canon(b)
		b.WriteString(n.notWord(" NOT LIKE ", " LIKE "))
		writeString(b, n.like.pattern)
		if n.like.hasEsc {
			b.WriteString(" ESCAPE ")
			writeString(b, string(n.like.esc))
		}
		b.WriteByte(')')
	case opBetween:
		b.WriteByte('(')
		n.kids[0].canon(b)
		b.WriteString(n.notWord(" NOT BETWEEN ", " BETWEEN "))
		n.kids[1].canon(b)
		b.WriteString(" AND ")
		n.kids[2].canon(b)
		b.WriteByte(')')
	case opIn:
		b.WriteByte('(')
		n.kids[0].canon(b)
		b.WriteString(n.notWord(" NOT IN (", " IN ("))
		for i, s := range n.in.list {
			if i > 0 {
				b.WriteString(", ")
			}
			writeString(b, s)
		}
		b.WriteString("))")
	}
}

func (n *node) notWord(yes, no string) string {
	if n.not {
		return yes
	}
	return no
}

// writeLiteral writes a literal so that the lexer reads back the same value.
func writeLiteral(b *strings.Builder, v value) {
	switch v.k {
	case kNull:
		b.WriteString("NULL")
	case kBool:
		if v.b {
			b.WriteString("TRUE")
		} else {
			b.WriteString("FALSE")
		}
	case kInt:
		b.WriteString(strconv.FormatInt(v.i, 10))
	case kFloat:
		switch {
		case math.IsInf(v.f, 1):
			b.WriteString("1e999")
		case math.IsInf(v.f, -1):
			b.WriteString("-1e999")
		default:
			s := strconv.FormatFloat(v.f, 'g', -1, 64)
			b.WriteString(s)
			if !strings.ContainsAny(s, ".eN") {
				b.WriteString(".0")
			}
		}
	case kString:
		writeString(b, v.s)
	}
}

// writeString writes s as a selector string literal, doubling quotes.
func writeString(b *strings.Builder, s string) {
	b.WriteByte('\'')
	b.WriteString(strings.ReplaceAll(s, "'", "''"))
	b.WriteByte('\'')
}

// inSet is the string list of an IN predicate. Long lists get a map.
type inSet struct {
	list []string
	set  map[string]struct{}
}

// inMapMin is the list length from which an IN predicate uses a map.
const inMapMin = 8

func newInSet(list []string) *inSet {
	s := &inSet{list: list}
	if len(list) >= inMapMin {
		s.set = make(map[string]struct{}, len(list))
		for _, v := range list {
			s.set[v] = struct{}{}
		}
	}
	return s
}

func (s *inSet) has(v string) bool {
	if s.set != nil {
		_, ok := s.set[v]
		return ok
	}
	for _, e := range s.list {
		if e == v {
			return true
		}
	}
	return false
}
