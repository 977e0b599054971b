package selector

import (
	"unicode/utf8"
)

// parser is a recursive-descent parser for the grammar in doc.go. It stops
// at the first error.
type parser struct {
	lx    lexer
	tok   token // the lookahead
	depth int   // current nesting of parentheses, NOT and unary signs
}

// maxNesting bounds the parser's recursion (parentheses, NOT, unary signs).
// It is twice MaxDepth so that the fully parenthesised form of any accepted
// tree parses again.
const maxNesting = 2 * MaxDepth

func (p *parser) advance() *SyntaxError {
	t, err := p.lx.next()
	if err != nil {
		return err
	}
	p.tok = t
	return nil
}

func (p *parser) errAt(pos int, format string, args ...any) *SyntaxError {
	return errAt(p.lx.src, pos, format, args...)
}

// unexpected reports the lookahead token as out of place.
func (p *parser) unexpected() *SyntaxError {
	if p.tok.kind == tEOF {
		return p.errAt(p.tok.pos, "unexpected end of selector")
	}
	return p.errAt(p.tok.pos, "unexpected %s", quoteTok(p.tok.text))
}

// expect consumes a token of kind k or fails on the lookahead.
func (p *parser) expect(k tokKind) (token, *SyntaxError) {
	t := p.tok
	if t.kind != k {
		return t, p.unexpected()
	}
	return t, p.advance()
}

// nest enters one level of nesting, failing past maxNesting.
func (p *parser) nest(pos int) *SyntaxError {
	p.depth++
	if p.depth > maxNesting {
		return p.errAt(pos, "selector nested too deeply")
	}
	return nil
}

// mk builds an interior node and enforces MaxDepth on its height.
func (p *parser) mk(o op, pos int, kids ...*node) (*node, *SyntaxError) {
	h := 0
	for _, k := range kids {
		h = max(h, k.h)
	}
	if h+1 > MaxDepth {
		return nil, p.errAt(pos, "selector nested too deeply")
	}
	return &node{op: o, pos: pos, h: h + 1, kids: kids}, nil
}

// condition checks that n can stand where a condition is needed (the whole
// selector, an operand of AND, OR, NOT): a boolean expression or a bare
// property, as ActiveMQ's asBooleanExpression.
func (p *parser) condition(n *node) *SyntaxError {
	if n.isBoolean() || n.op == opIdent {
		return nil
	}
	return p.errAt(n.pos, "expected a condition, not %s", describe(n))
}

// describe names a node's form for error messages.
func describe(n *node) string {
	switch {
	case n.op == opLit && n.val.k == kString:
		return "a string"
	case n.op == opLit && n.val.k == kBool:
		return "a boolean"
	case n.op == opLit && n.val.k == kNull:
		return "NULL"
	case n.op == opLit:
		return "a number"
	case n.isBoolean():
		return "a condition"
	}
	return "an arithmetic expression"
}

// parseSelector parses a whole selector.
func (p *parser) parseSelector() (*node, *SyntaxError) {
	if err := p.advance(); err != nil {
		return nil, err
	}
	if p.tok.kind == tEOF {
		return nil, nil
	}
	n, err := p.parseOr()
	if err != nil {
		return nil, err
	}
	if p.tok.kind != tEOF {
		return nil, p.unexpected()
	}
	if err := p.condition(n); err != nil {
		return nil, err
	}
	return n, nil
}

// parseOr: and { OR and }.
func (p *parser) parseOr() (*node, *SyntaxError) {
	return p.parseLogic(opOr, tOr, (*parser).parseAnd)
}

// parseAnd: not { AND not }.
func (p *parser) parseAnd() (*node, *SyntaxError) {
	return p.parseLogic(opAnd, tAnd, (*parser).parseNot)
}

// parseLogic parses a chain of one logical operator into one n-ary node, so
// long generated chains (a = 1 OR a = 2 OR ...) stay shallow.
func (p *parser) parseLogic(o op, k tokKind, sub func(*parser) (*node, *SyntaxError)) (*node, *SyntaxError) {
	first, err := sub(p)
	if err != nil {
		return nil, err
	}
	if p.tok.kind != k {
		return first, nil
	}
	if err := p.condition(first); err != nil {
		return nil, err
	}
	kids := []*node{first}
	for p.tok.kind == k {
		if err := p.advance(); err != nil {
			return nil, err
		}
		n, err := sub(p)
		if err != nil {
			return nil, err
		}
		if err := p.condition(n); err != nil {
			return nil, err
		}
		kids = append(kids, n)
	}
	return p.mk(o, first.pos, kids...)
}

// parseNot: NOT not | equality. NOT binds more loosely than comparisons, as
// in SQL-92 and JMS: NOT a = b is NOT (a = b).
func (p *parser) parseNot() (*node, *SyntaxError) {
	if p.tok.kind != tNot {
		return p.parseEquality()
	}
	pos := p.tok.pos
	if err := p.nest(pos); err != nil {
		return nil, err
	}
	defer func() { p.depth-- }()
	if err := p.advance(); err != nil {
		return nil, err
	}
	x, err := p.parseNot()
	if err != nil {
		return nil, err
	}
	if err := p.condition(x); err != nil {
		return nil, err
	}
	return p.mk(opNot, pos, x)
}

// parseEquality: relational { (= | <>) relational | IS [NOT] NULL }.
func (p *parser) parseEquality() (*node, *SyntaxError) {
	left, err := p.parseRelational()
	if err != nil {
		return nil, err
	}
	for {
		switch p.tok.kind {
		case tEq, tNe:
			o, opTok := opEq, p.tok
			if opTok.kind == tNe {
				o = opNe
			}
			if err := p.advance(); err != nil {
				return nil, err
			}
			right, err := p.parseRelational()
			if err != nil {
				return nil, err
			}
			if err := p.checkEquality(opTok, left, right); err != nil {
				return nil, err
			}
			if left, err = p.mk(o, left.pos, left, right); err != nil {
				return nil, err
			}
		case tIs:
			if err := p.advance(); err != nil {
				return nil, err
			}
			not := p.tok.kind == tNot
			if not {
				if err := p.advance(); err != nil {
					return nil, err
				}
			}
			if _, err := p.expect(tNull); err != nil {
				return nil, err
			}
			if left, err = p.mk(opIsNull, left.pos, left); err != nil {
				return nil, err
			}
			left.not = not
		default:
			return left, nil
		}
	}
}

// checkEquality rejects what ActiveMQ rejects for = and <>: a NULL literal
// (IS NULL is the way), and a boolean literal compared with another kind of
// literal.
func (p *parser) checkEquality(opTok token, left, right *node) *SyntaxError {
	for _, n := range [2]*node{left, right} {
		if n.isLiteral(kNull) {
			return p.errAt(n.pos, "%s cannot compare NULL; use IS NULL", quoteTok(opTok.text))
		}
	}
	if left.isLiteral(kBool) && right.op == opLit && !right.neg && right.val.k != kBool {
		return p.errAt(right.pos, "%s cannot compare a boolean with %s", quoteTok(opTok.text), describe(right))
	}
	return nil
}

// checkOrdered rejects what ActiveMQ rejects as an operand of <, <=, >, >=
// and BETWEEN: string, boolean and NULL literals, and conditions.
func (p *parser) checkOrdered(what string, n *node) *SyntaxError {
	if n.isBoolean() || (n.op == opLit && !n.val.numeric()) {
		return p.errAt(n.pos, "%s cannot compare %s", what, describe(n))
	}
	return nil
}

// parseRelational: additive { (< | <= | > | >=) additive
// | [NOT] LIKE string [ESCAPE string] | [NOT] BETWEEN additive AND additive
// | [NOT] IN ( string {, string} ) }.
func (p *parser) parseRelational() (*node, *SyntaxError) {
	left, err := p.parseAdditive()
	if err != nil {
		return nil, err
	}
	for {
		var o op
		switch p.tok.kind {
		case tLt:
			o = opLt
		case tLe:
			o = opLe
		case tGt:
			o = opGt
		case tGe:
			o = opGe
		case tNot, tLike, tBetween, tIn:
			if left, err = p.parsePredicate(left); err != nil {
				return nil, err
			}
			continue
		default:
			return left, nil
		}
		opTok := p.tok
		if err := p.advance(); err != nil {
			return nil, err
		}
		right, err := p.parseAdditive()
		if err != nil {
			return nil, err
		}
		what := quoteTok(opTok.text)
		if err := p.checkOrdered(what, left); err != nil {
			return nil, err
		}
		if err := p.checkOrdered(what, right); err != nil {
			return nil, err
		}
		if left, err = p.mk(o, left.pos, left, right); err != nil {
			return nil, err
		}
	}
}

// parsePredicate parses [NOT] LIKE, [NOT] BETWEEN or [NOT] IN after left.
func (p *parser) parsePredicate(left *node) (*node, *SyntaxError) {
	not := p.tok.kind == tNot
	if not {
		if err := p.advance(); err != nil {
			return nil, err
		}
	}
	switch p.tok.kind {
	case tLike:
		return p.parseLike(left, not)
	case tBetween:
		return p.parseBetween(left, not)
	case tIn:
		return p.parseIn(left, not)
	}
	return nil, p.unexpected()
}

func (p *parser) parseLike(left *node, not bool) (*node, *SyntaxError) {
	if err := p.advance(); err != nil {
		return nil, err
	}
	pat, err := p.expect(tString)
	if err != nil {
		return nil, err
	}
	var esc rune
	hasEsc := false
	if p.tok.kind == tEscape {
		if err := p.advance(); err != nil {
			return nil, err
		}
		e, err := p.expect(tString)
		if err != nil {
			return nil, err
		}
		r, size := utf8.DecodeRuneInString(e.str)
		if size == 0 || size != len(e.str) {
			return nil, p.errAt(e.pos, "ESCAPE must be a single character")
		}
		esc, hasEsc = r, true
	}
	m, ok := compileLike(pat.str, esc, hasEsc)
	if !ok {
		return nil, p.errAt(pat.pos, "%s", errLikeWild)
	}
	n, err := p.mk(opLike, left.pos, left)
	if err != nil {
		return nil, err
	}
	n.not, n.like = not, m
	return n, nil
}

func (p *parser) parseBetween(left *node, not bool) (*node, *SyntaxError) {
	if err := p.advance(); err != nil {
		return nil, err
	}
	lo, err := p.parseAdditive()
	if err != nil {
		return nil, err
	}
	if _, err := p.expect(tAnd); err != nil {
		return nil, err
	}
	hi, err := p.parseAdditive()
	if err != nil {
		return nil, err
	}
	for _, k := range [3]*node{left, lo, hi} {
		if err := p.checkOrdered("BETWEEN", k); err != nil {
			return nil, err
		}
	}
	n, err := p.mk(opBetween, left.pos, left, lo, hi)
	if err != nil {
		return nil, err
	}
	n.not = not
	return n, nil
}

func (p *parser) parseIn(left *node, not bool) (*node, *SyntaxError) {
	if left.op != opIdent {
		return nil, p.errAt(left.pos, "IN needs a property name on its left, not %s", describe(left))
	}
	if err := p.advance(); err != nil {
		return nil, err
	}
	if _, err := p.expect(tLParen); err != nil {
		return nil, err
	}
	var list []string
	for {
		s, err := p.expect(tString)
		if err != nil {
			return nil, err
		}
		list = append(list, s.str)
		if p.tok.kind != tComma {
			break
		}
		if err := p.advance(); err != nil {
			return nil, err
		}
	}
	if _, err := p.expect(tRParen); err != nil {
		return nil, err
	}
	n, err := p.mk(opIn, left.pos, left)
	if err != nil {
		return nil, err
	}
	n.not, n.in = not, newInSet(list)
	return n, nil
}

// parseAdditive: multiplicative { (+ | -) multiplicative }.
func (p *parser) parseAdditive() (*node, *SyntaxError) {
	left, err := p.parseMultiplicative()
	if err != nil {
		return nil, err
	}
	for p.tok.kind == tPlus || p.tok.kind == tMinus {
		o := opAdd
		if p.tok.kind == tMinus {
			o = opSub
		}
		if err := p.advance(); err != nil {
			return nil, err
		}
		right, err := p.parseMultiplicative()
		if err != nil {
			return nil, err
		}
		if left, err = p.mk(o, left.pos, left, right); err != nil {
			return nil, err
		}
	}
	return left, nil
}

// parseMultiplicative: unary { (* | / | %) unary }.
func (p *parser) parseMultiplicative() (*node, *SyntaxError) {
	left, err := p.parseUnary()
	if err != nil {
		return nil, err
	}
	for {
		var o op
		switch p.tok.kind {
		case tStar:
			o = opMul
		case tSlash:
			o = opDiv
		case tPct:
			o = opMod
		default:
			return left, nil
		}
		if err := p.advance(); err != nil {
			return nil, err
		}
		right, err := p.parseUnary()
		if err != nil {
			return nil, err
		}
		if left, err = p.mk(o, left.pos, left, right); err != nil {
			return nil, err
		}
	}
}

// parseUnary: + unary | - unary | primary. A minus before a number literal
// is folded into it; -9223372036854775808 is the one place the literal
// 9223372036854775808 is allowed, as in Java and ActiveMQ.
func (p *parser) parseUnary() (*node, *SyntaxError) {
	if p.tok.kind != tPlus && p.tok.kind != tMinus {
		return p.parsePrimary()
	}
	minus, pos := p.tok.kind == tMinus, p.tok.pos
	if err := p.nest(pos); err != nil {
		return nil, err
	}
	defer func() { p.depth-- }()
	if err := p.advance(); err != nil {
		return nil, err
	}
	if minus && p.tok.kind == tInt && p.tok.big {
		n := &node{op: opLit, pos: pos, h: 1, neg: true, val: value{k: kInt, i: p.tok.i}}
		return n, p.advance()
	}
	x, err := p.parseUnary()
	if err != nil || !minus {
		return x, err
	}
	if x.op == opLit && x.val.numeric() {
		n := *x
		n.pos, n.neg = pos, true
		n.val.i, n.val.f = -x.val.i, -x.val.f
		return &n, nil
	}
	return p.mk(opNeg, pos, x)
}

// parsePrimary: literal | identifier | ( or ).
func (p *parser) parsePrimary() (*node, *SyntaxError) {
	t := p.tok
	n := &node{op: opLit, pos: t.pos, h: 1}
	switch t.kind {
	case tString:
		n.val = value{k: kString, s: t.str}
	case tInt:
		if t.big {
			return nil, p.errAt(t.pos, "integer literal %s out of range", quoteTok(t.text))
		}
		n.val = value{k: kInt, i: t.i}
	case tFloat:
		n.val = value{k: kFloat, f: t.f}
	case tTrue:
		n.val = vTrue
	case tFalse:
		n.val = vFalse
	case tNull:
		n.val = vNull
	case tIdent:
		n.op, n.name = opIdent, t.text
	case tXPath, tXQuery:
		return nil, p.errAt(t.pos, "%s selectors are not supported", asciiUpper(t.text))
	case tLParen:
		if err := p.nest(t.pos); err != nil {
			return nil, err
		}
		if err := p.advance(); err != nil {
			return nil, err
		}
		x, err := p.parseOr()
		if err != nil {
			return nil, err
		}
		p.depth--
		if _, err := p.expect(tRParen); err != nil {
			return nil, err
		}
		return x, nil
	default:
		return nil, p.unexpected()
	}
	return n, p.advance()
}
