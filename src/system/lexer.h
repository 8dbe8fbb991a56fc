/*
 * Tokenizer for the system description language (internal to src/system).
 * It knows comments, identifiers, numbers with an optional unit suffix,
 * double-quoted strings and punctuation; keywords are identifiers that the
 * parser compares by text.
 */
#ifndef CAPVM_SYSTEM_LEXER_H
#define CAPVM_SYSTEM_LEXER_H

#include "system/sysdesc.h"

enum sd_tok {
	T_EOF, T_ERROR, T_IDENT, T_NUMBER, T_STRING,
	T_LBRACE, T_RBRACE, T_LPAREN, T_RPAREN, T_LBRACKET, T_RBRACKET,
	T_SEMI, T_COMMA, T_DOT, T_EQUALS, T_LT, T_GT,
};

#define SD_MAX_TOKEN 4096   /* longest identifier or string */

struct sd_token {
	enum sd_tok kind;
	struct sd_loc loc;
	char text[SD_MAX_TOKEN]; /* identifier / string contents / error message */
	uint64_t num;
	bool neg;
	char suffix[8];
};

struct sd_lexer {
	const char *src;
	size_t len, pos;
	int line, col;
	const char *file;
};

void sd_lex_init(struct sd_lexer *lx, const char *file, const char *src, size_t len);
/* Next token; on T_ERROR, tok->text holds the message and tok->loc its place. */
void sd_lex_next(struct sd_lexer *lx, struct sd_token *tok);
const char *sd_tok_name(enum sd_tok k);

#endif
