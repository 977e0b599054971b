// Package selector compiles and evaluates JMS message selectors (JMS 1.1
// §3.8.1.1, the SQL-92 subset in javax.jms.Message) the way Apache ActiveMQ
// 5.x does. STOMP gives them in the SUBSCRIBE selector header, AMQP in the
// apache.org:selector-filter:string source filter. It is a leaf package:
// stdlib only, no mqgate imports.
//
// Parse compiles once per subscription; Matches runs per message, on any
// goroutine, without allocating. The broker adapts its messages to Fields.
//
// # Syntax
//
// Keywords are case-insensitive; identifiers and strings are not.
//
//	selector   = [ or ]    (empty or blank: select everything)
//	or         = and { OR and }
//	and        = not { AND not }
//	not        = NOT not | equality
//	equality   = relational { ("=" | "<>") relational | IS [NOT] NULL }
//	relational = additive { ("<" | "<=" | ">" | ">=") additive
//	           | [NOT] LIKE string [ESCAPE string]
//	           | [NOT] BETWEEN additive AND additive
//	           | [NOT] IN "(" string { "," string } ")" }
//	additive   = multiplicative { ("+" | "-") multiplicative }
//	multiplicative = unary { ("*" | "/" | "%") unary }
//	unary      = ("+" | "-") unary | primary
//	primary    = literal | identifier | "(" or ")"
//
// Lexical rules and precedence:
//
//   - Strings are single-quoted; a doubled quote is a quote. Exact
//     numbers: Java long literals, decimal, hex (0x1F), octal (017), with
//     an optional L. Approximate numbers: 1.5, 1., .5, 1e3, 7E-2, with an
//     optional F or D. TRUE, FALSE, NULL.
//   - Identifiers follow Java's identifier rules; the keywords above and
//     ActiveMQ's XPATH and XQUERY are reserved (XPATH and XQUERY selectors
//     are refused). Header fields are identifiers too; see Fields for the
//     names and types the broker supplies.
//   - White space is space, tab, CR, LF and FF; -- line and /* */ block
//     comments are skipped, as in ActiveMQ's grammar.
//   - Precedence, loosest first: OR, AND, NOT, then = <> IS, then the
//     relational operators and predicates, then + -, then * / %, then unary
//     signs. NOT binds more loosely than comparisons, as in SQL and JMS, so
//     NOT a = b is NOT (a = b). (ActiveMQ's grammar reads it as (NOT a) = b,
//     which never matches a string a; we follow the specification.)
//   - % (remainder) and comments are ActiveMQ extensions, as is chaining
//     comparisons at different levels ((a = 1) = TRUE).
//
// Parse also rejects what ActiveMQ rejects when it builds a selector: a
// non-condition where a condition is needed (3 + 5, 'abc', NOT 5), a NULL
// literal in = or <> (use IS NULL), a TRUE or FALSE literal compared with
// a number or string literal, a string, boolean or NULL literal or a
// condition as an operand of <, <=, >, >= or BETWEEN, something other than
// a property on the left of IN, an ESCAPE that is not one character, and
// an integer literal outside Java's long (9223372036854775808 is allowed
// only after a minus sign).
//
// # Evaluation
//
// A selector selects a message only if it evaluates to TRUE; FALSE and
// UNKNOWN do not select. A missing field is NULL.
//
//   - Three-valued logic as JMS specifies: a comparison, arithmetic or
//     predicate with a NULL operand is UNKNOWN (x = NULL-valued field on
//     either side, BETWEEN with any NULL bound that decides the result,
//     IN, LIKE); NOT UNKNOWN is UNKNOWN; AND is FALSE if any operand is
//     FALSE, else UNKNOWN if any is; OR is TRUE if any operand is TRUE,
//     else UNKNOWN if any is. IS [NOT] NULL is never UNKNOWN. (ActiveMQ
//     returns FALSE, not UNKNOWN, for 'a' = missing with the NULL on the
//     right, so NOT ('a' = missing) selects there; it does not here.)
//   - Numbers: every exact value is an int64 (JMS int, short and byte
//     widen), every approximate one a float64 (float widens). int64 with
//     int64 stays exact and + - * wrap as Java's long does; any other mix
//     promotes to float64. / and % always give a float64, as in ActiveMQ
//     (7 / 2 = 3.5), and a zero divisor makes them UNKNOWN (ActiveMQ
//     yields Infinity or NaN). NaN compares unequal to everything.
//   - Like types compare: numbers with numbers, strings with strings (=,
//     <>, and also <, > ... by code point, as ActiveMQ does at run time),
//     booleans with booleans (FALSE < TRUE). Comparing unlike types is
//     FALSE, so <> between them is TRUE, as ActiveMQ evaluates <> as
//     NOT =. BETWEEN is x >= lo AND x <= hi; NOT BETWEEN is x < lo OR
//     x > hi, so both are FALSE for a string x and number bounds.
//   - No string is coerced to a number by default: a STOMP header "15"
//     does not satisfy price > 10 under Parse. ActiveMQ prefixes every
//     STOMP selector with convert_string_expressions:, which makes
//     comparisons (not IN, LIKE or arithmetic) parse a string compared
//     with a number as that number (as Java's Long.valueOf or
//     Double.valueOf, after the other operand's type; a string that does
//     not parse compares FALSE), and a string compared with a boolean as
//     Boolean.valueOf does. The STOMP front-end asks for this with
//     Options.ConvertStrings; a selector that starts with ConvertPrefix
//     gets it too, as in ActiveMQ.
//   - + with a string on the left concatenates the right operand's Java
//     text (name + 1 = 'James1', 'x' + 1e10 = 'x1.0E10'), as ActiveMQ
//     does; at most 1 MiB of concatenation per evaluation, past which the
//     result is UNKNOWN. Arithmetic on anything else non-numeric is
//     UNKNOWN, and so is unary minus on a non-number.
//   - A bare property used as a condition is its boolean value, FALSE if it
//     is not a boolean, UNKNOWN if missing (ActiveMQ's boolean cast).
//   - IN needs a string value: a NULL or non-string value makes IN and
//     NOT IN UNKNOWN. LIKE needs a string: NULL makes it UNKNOWN, a
//     non-string makes LIKE FALSE and NOT LIKE TRUE, as in ActiveMQ.
//   - LIKE: _ is one character, % any sequence (including line breaks);
//     ESCAPE c makes c_, c% and cc literal, and c before anything else is
//     itself literal, as in ActiveMQ. Characters are Unicode code points,
//     where Java counts UTF-16 units; they differ only outside the BMP.
//   - A field value of a type Fields does not list compares FALSE with
//     everything, is not NULL, and is UNKNOWN in IN and arithmetic.
//
// # Limits
//
// A hostile selector is bounded: at most MaxLength bytes of valid UTF-8;
// an expression tree at most MaxDepth deep (chains of AND or OR count once,
// so generated "id = 1 OR id = 2 OR ..." lists of any length are fine) and
// at most 2×MaxDepth parentheses, NOTs and signs nested; IN lists bounded
// by the length, looked up in a map from 8 entries. LIKE patterns are
// compiled at Parse into a matcher that never backtracks: each segment
// between two %s is found with strings.Index or a Shift-And scan, so
// matching is linear in the value's length; a segment with a _ between
// literal characters may be at most 256 characters long. The cost of a
// match is thus at most proportional to the selector's length times the
// length of the values it reads.
package selector
