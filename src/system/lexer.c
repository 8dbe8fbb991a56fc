/*
 * Tokenizer for system descriptions (see lexer.h).  Input is untrusted:
 * every token has a length limit, integers are checked for overflow, and
 * any byte that cannot start a token (including NUL) is an error with its
 * line and column.
 */
#include "system/lexer.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

void sd_lex_init(struct sd_lexer *lx, const char *file, const char *src, size_t len)
{
	memset(lx, 0, sizeof(*lx));
	lx->src = src;
	lx->len = len;
	lx->line = 1;
	lx->col = 1;
	lx->file = file;
}

static int peek(const struct sd_lexer *lx, size_t ahead)
{
	if (lx->pos + ahead >= lx->len)
		return -1;
	return (unsigned char)lx->src[lx->pos + ahead];
}

static void advance(struct sd_lexer *lx)
{
	if (lx->pos >= lx->len)
		return;
	if (lx->src[lx->pos] == '\n') {
		lx->line++;
		lx->col = 1;
	} else {
		lx->col++;
	}
	lx->pos++;
}

static void set_error(struct sd_token *tok, struct sd_loc loc, const char *msg)
{
	tok->kind = T_ERROR;
	tok->loc = loc;
	snprintf(tok->text, sizeof(tok->text), "%s", msg);
}

static struct sd_loc here(const struct sd_lexer *lx)
{
	struct sd_loc l = { lx->file, lx->line, lx->col };
	return l;
}

/* Skips blanks and comments; returns -1 (and sets tok) on an unterminated comment. */
static int skip_space(struct sd_lexer *lx, struct sd_token *tok)
{
	for (;;) {
		int c = peek(lx, 0);
		if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v') {
			advance(lx);
		} else if (c == '/' && peek(lx, 1) == '/') {
			while (peek(lx, 0) != -1 && peek(lx, 0) != '\n')
				advance(lx);
		} else if (c == '/' && peek(lx, 1) == '*') {
			struct sd_loc start = here(lx);
			advance(lx);
			advance(lx);
			while (!(peek(lx, 0) == '*' && peek(lx, 1) == '/')) {
				if (peek(lx, 0) == -1) {
					set_error(tok, start, "unterminated comment");
					return -1;
				}
				advance(lx);
			}
			advance(lx);
			advance(lx);
		} else {
			return 0;
		}
	}
}

static void lex_number(struct sd_lexer *lx, struct sd_token *tok)
{
	uint64_t v = 0;
	unsigned base = 10, digits = 0;
	size_t n = 0;

	if (peek(lx, 0) == '-') {
		tok->neg = true;
		advance(lx);
	}
	if (peek(lx, 0) == '0' && (peek(lx, 1) == 'x' || peek(lx, 1) == 'X')) {
		base = 16;
		advance(lx);
		advance(lx);
	}
	for (;;) {
		int c = peek(lx, 0), d;
		if (c >= '0' && c <= '9')
			d = c - '0';
		else if (base == 16 && isxdigit(c))
			d = tolower(c) - 'a' + 10;
		else if (c == '_' && digits > 0) { /* 0x1000_0000 */
			advance(lx);
			continue;
		} else
			break;
		if (v > (UINT64_MAX - (uint64_t)d) / base) {
			set_error(tok, tok->loc, "integer too large");
			return;
		}
		v = v * base + (uint64_t)d;
		digits++;
		advance(lx);
	}
	if (digits == 0) {
		set_error(tok, tok->loc, base == 16 ? "hexadecimal number without digits"
						    : "'-' must be followed by a number");
		return;
	}
	while (isalpha(peek(lx, 0))) {
		if (n + 1 >= sizeof(tok->suffix)) {
			set_error(tok, tok->loc, "number has an invalid suffix");
			return;
		}
		tok->suffix[n++] = (char)peek(lx, 0);
		advance(lx);
	}
	tok->suffix[n] = 0;
	if (isalnum(peek(lx, 0)) || peek(lx, 0) == '_') {
		set_error(tok, tok->loc, "malformed number");
		return;
	}
	tok->kind = T_NUMBER;
	tok->num = v;
}

static void lex_string(struct sd_lexer *lx, struct sd_token *tok)
{
	size_t n = 0;

	advance(lx); /* opening quote */
	for (;;) {
		int c = peek(lx, 0);
		if (c == -1 || c == '\n') {
			set_error(tok, tok->loc, "unterminated string");
			return;
		}
		if (c == '"') {
			advance(lx);
			break;
		}
		if (c == 0) {
			set_error(tok, here(lx), "NUL byte in string");
			return;
		}
		if (c == '\\') {
			struct sd_loc esc = here(lx);
			advance(lx);
			c = peek(lx, 0);
			switch (c) {
			case '"': case '\\': break;
			case 'n': c = '\n'; break;
			case 't': c = '\t'; break;
			default:
				set_error(tok, esc, "unknown escape sequence in string");
				return;
			}
		}
		if (n + 1 >= sizeof(tok->text)) {
			set_error(tok, tok->loc, "string too long");
			return;
		}
		tok->text[n++] = (char)c;
		advance(lx);
	}
	tok->text[n] = 0;
	tok->kind = T_STRING;
}

void sd_lex_next(struct sd_lexer *lx, struct sd_token *tok)
{
	int c;
	static const struct { char c; enum sd_tok k; } punct[] = {
		{ '{', T_LBRACE }, { '}', T_RBRACE }, { '(', T_LPAREN }, { ')', T_RPAREN },
		{ '[', T_LBRACKET }, { ']', T_RBRACKET }, { ';', T_SEMI }, { ',', T_COMMA },
		{ '.', T_DOT }, { '=', T_EQUALS }, { '<', T_LT }, { '>', T_GT },
	};

	tok->kind = T_EOF;
	tok->text[0] = 0;
	tok->num = 0;
	tok->neg = false;
	tok->suffix[0] = 0;
	if (skip_space(lx, tok) < 0)
		return;
	tok->loc = here(lx);
	c = peek(lx, 0);
	if (c == -1)
		return;
	if (isalpha(c) || c == '_') {
		size_t n = 0;
		while (isalnum(peek(lx, 0)) || peek(lx, 0) == '_') {
			if (n + 1 >= sizeof(tok->text)) {
				set_error(tok, tok->loc, "identifier too long");
				return;
			}
			tok->text[n++] = (char)peek(lx, 0);
			advance(lx);
		}
		tok->text[n] = 0;
		tok->kind = T_IDENT;
		return;
	}
	if (isdigit(c) || (c == '-' && isdigit(peek(lx, 1)))) {
		lex_number(lx, tok);
		return;
	}
	if (c == '"') {
		lex_string(lx, tok);
		return;
	}
	for (size_t i = 0; i < sizeof(punct) / sizeof(punct[0]); i++) {
		if (c == punct[i].c) {
			tok->kind = punct[i].k;
			tok->text[0] = (char)c;
			tok->text[1] = 0;
			advance(lx);
			return;
		}
	}
	if (isprint(c))
		snprintf(tok->text, sizeof(tok->text), "unexpected character '%c'", c);
	else
		snprintf(tok->text, sizeof(tok->text), "unexpected byte 0x%02x", c);
	tok->kind = T_ERROR;
}

const char *sd_tok_name(enum sd_tok k)
{
	switch (k) {
	case T_EOF: return "end of file";
	case T_ERROR: return "invalid token";
	case T_IDENT: return "identifier";
	case T_NUMBER: return "number";
	case T_STRING: return "string";
	case T_LBRACE: return "'{'";
	case T_RBRACE: return "'}'";
	case T_LPAREN: return "'('";
	case T_RPAREN: return "')'";
	case T_LBRACKET: return "'['";
	case T_RBRACKET: return "']'";
	case T_SEMI: return "';'";
	case T_COMMA: return "','";
	case T_DOT: return "'.'";
	case T_EQUALS: return "'='";
	case T_LT: return "'<'";
	case T_GT: return "'>'";
	}
	return "?";
}
