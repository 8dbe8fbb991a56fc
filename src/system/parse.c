/*
 * Parser for system descriptions: a recursive-descent reader of the grammar
 * in docs/system-description.md.  It records declarations and settings as
 * written (struct sd_doc) and leaves their meaning to validate.c.  Several
 * files merge into one document in the order given; a setting of the same
 * NAME.attribute replaces the earlier one and draws a warning.  The first
 * syntax error stops parsing of that file.
 */
#include "system/lexer.h"
#include "system/sysdesc.h"

#include <errno.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"

#define MAX_LIST_DEPTH 4
#define MAX_LIST_ITEMS 1024
#define MAX_DECLS      4096   /* components + connections + settings per doc */

/* ---- diagnostics ---- */

void sd_diag_add(struct sd_diags *d, enum sd_severity sev, struct sd_loc loc,
		 const char *fmt, ...)
{
	va_list ap;
	struct sd_diag *x;

	if (d->n == d->cap) {
		size_t cap = d->cap ? d->cap * 2 : 16;
		struct sd_diag *p = realloc(d->items, cap * sizeof(*p));
		if (!p)
			abort();
		d->items = p;
		d->cap = cap;
	}
	x = &d->items[d->n++];
	x->sev = sev;
	x->loc = loc;
	if (!x->loc.file)
		x->loc.file = "<input>";
	va_start(ap, fmt);
	vsnprintf(x->msg, sizeof(x->msg), fmt, ap);
	va_end(ap);
	if (sev == SD_ERROR)
		d->n_errors++;
}

const struct sd_diag *sd_diag_first_error(const struct sd_diags *d)
{
	for (size_t i = 0; i < d->n; i++)
		if (d->items[i].sev == SD_ERROR)
			return &d->items[i];
	return NULL;
}

void sd_diag_print(const struct sd_diags *d, FILE *f)
{
	for (size_t i = 0; i < d->n; i++) {
		const struct sd_diag *x = &d->items[i];
		fprintf(f, "%s:%d:%d: %s: %s\n", x->loc.file, x->loc.line, x->loc.col,
			x->sev == SD_ERROR ? "error" : "warning", x->msg);
	}
}

void sd_diag_free(struct sd_diags *d)
{
	free(d->items);
	memset(d, 0, sizeof(*d));
}

/* ---- helpers ---- */

static void *xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size);
	if (!p)
		abort();
	return p;
}

static char *xstrdup(const char *s)
{
	char *p = strdup(s);
	if (!p)
		abort();
	return p;
}

/* Grows *arr (of *n elements of size sz) by one zeroed element, returns it. */
static void *push(void *arr_p, size_t *n, size_t sz)
{
	void **arr = arr_p;
	char *p = realloc(*arr, (*n + 1) * sz);
	if (!p)
		abort();
	memset(p + *n * sz, 0, sz);
	*arr = p;
	return p + (*n)++ * sz;
}

static void value_free(struct sd_value *v)
{
	free(v->str);
	for (size_t i = 0; i < v->n_items; i++)
		value_free(&v->items[i]);
	free(v->items);
	memset(v, 0, sizeof(*v));
}

void sd_doc_free(struct sd_doc *doc)
{
	for (size_t i = 0; i < doc->n_comps; i++) {
		free(doc->comps[i].type);
		free(doc->comps[i].name);
	}
	for (size_t i = 0; i < doc->n_conns; i++) {
		struct sd_connection *c = &doc->conns[i];
		free(c->type); free(c->name);
		free(c->from.comp); free(c->from.end);
		free(c->to.comp); free(c->to.end);
	}
	for (size_t i = 0; i < doc->n_sets; i++) {
		free(doc->sets[i].target);
		free(doc->sets[i].attr);
		value_free(&doc->sets[i].val);
	}
	for (size_t i = 0; i < doc->n_files; i++) {
		free(doc->files[i]);
		free(doc->dirs[i]);
	}
	free(doc->comps); free(doc->conns); free(doc->sets);
	free(doc->files); free(doc->dirs);
	memset(doc, 0, sizeof(*doc));
}

/* ---- the parser ---- */

struct parser {
	struct sd_lexer lx;
	struct sd_token tok;     /* current token */
	struct sd_doc *doc;
	struct sd_diags *diags;
	bool failed;
};

static void next(struct parser *p)
{
	sd_lex_next(&p->lx, &p->tok);
	if (p->tok.kind == T_ERROR && !p->failed) {
		sd_diag_add(p->diags, SD_ERROR, p->tok.loc, "%s", p->tok.text);
		p->failed = true;
	}
}

static void syntax_error(struct parser *p, const char *expected)
{
	if (p->failed)
		return;
	p->failed = true;
	if (p->tok.kind == T_IDENT || p->tok.kind == T_NUMBER)
		sd_diag_add(p->diags, SD_ERROR, p->tok.loc, "expected %s, found %s '%.64s'",
			    expected, sd_tok_name(p->tok.kind),
			    p->tok.kind == T_IDENT ? p->tok.text : "number");
	else
		sd_diag_add(p->diags, SD_ERROR, p->tok.loc, "expected %s, found %s",
			    expected, sd_tok_name(p->tok.kind));
}

static bool is_kw(const struct parser *p, const char *kw)
{
	return p->tok.kind == T_IDENT && !strcmp(p->tok.text, kw);
}

static bool expect(struct parser *p, enum sd_tok k, const char *what)
{
	if (p->failed)
		return false;
	if (p->tok.kind != k) {
		syntax_error(p, what);
		return false;
	}
	next(p);
	return !p->failed;
}

/* Takes an identifier into *out (malloc'd), with its location. */
static bool take_ident(struct parser *p, const char *what, char **out, struct sd_loc *loc)
{
	if (p->failed)
		return false;
	if (p->tok.kind != T_IDENT) {
		syntax_error(p, what);
		return false;
	}
	*out = xstrdup(p->tok.text);
	if (loc)
		*loc = p->tok.loc;
	next(p);
	return !p->failed;
}

static bool too_many(struct parser *p)
{
	struct sd_doc *d = p->doc;
	if (d->n_comps + d->n_conns + d->n_sets < MAX_DECLS)
		return false;
	sd_diag_add(p->diags, SD_ERROR, p->tok.loc, "too many declarations (limit %d)", MAX_DECLS);
	p->failed = true;
	return true;
}

static bool parse_value(struct parser *p, struct sd_value *v, int depth)
{
	v->loc = p->tok.loc;
	switch (p->tok.kind) {
	case T_NUMBER:
		v->type = SD_V_INT;
		v->num = p->tok.num;
		v->neg = p->tok.neg;
		memcpy(v->suffix, p->tok.suffix, sizeof(v->suffix));
		next(p);
		return !p->failed;
	case T_STRING:
		v->type = SD_V_STR;
		v->str = xstrdup(p->tok.text);
		next(p);
		return !p->failed;
	case T_IDENT:
		if (!strcmp(p->tok.text, "true") || !strcmp(p->tok.text, "false")) {
			v->type = SD_V_BOOL;
			v->b = p->tok.text[0] == 't';
			next(p);
			return !p->failed;
		}
		syntax_error(p, "a value (number, string, true, false or [list])");
		return false;
	case T_LBRACKET:
		if (depth >= MAX_LIST_DEPTH) {
			sd_diag_add(p->diags, SD_ERROR, p->tok.loc, "lists nested too deeply");
			p->failed = true;
			return false;
		}
		v->type = SD_V_LIST;
		next(p);
		while (!p->failed && p->tok.kind != T_RBRACKET) {
			struct sd_value *item;
			if (v->n_items >= MAX_LIST_ITEMS) {
				sd_diag_add(p->diags, SD_ERROR, p->tok.loc, "list too long (limit %d)",
					    MAX_LIST_ITEMS);
				p->failed = true;
				return false;
			}
			item = push(&v->items, &v->n_items, sizeof(*item));
			if (!parse_value(p, item, depth + 1))
				return false;
			if (p->tok.kind == T_COMMA)
				next(p);
			else if (p->tok.kind != T_RBRACKET) {
				syntax_error(p, "',' or ']'");
				return false;
			}
		}
		return expect(p, T_RBRACKET, "']'");
	default:
		syntax_error(p, "a value (number, string, true, false or [list])");
		return false;
	}
}

/* endpoint := IDENT '.' IDENT */
static bool parse_endpoint(struct parser *p, struct sd_endpoint *e)
{
	return take_ident(p, "a component name", &e->comp, &e->loc) &&
	       expect(p, T_DOT, "'.' (component.interface)") &&
	       take_ident(p, "an interface name", &e->end, NULL);
}

/* connection TYPE NAME(from A.x, to B.y); */
static bool parse_connection(struct parser *p)
{
	struct sd_connection *c;
	bool have_from = false, have_to = false;

	if (too_many(p))
		return false;
	c = push(&p->doc->conns, &p->doc->n_conns, sizeof(*c));
	next(p); /* 'connection' */
	if (!take_ident(p, "a connection type (e.g. seL4SharedData)", &c->type, &c->type_loc) ||
	    !take_ident(p, "a connection name", &c->name, &c->loc) ||
	    !expect(p, T_LPAREN, "'('"))
		return false;
	while (!p->failed) {
		struct sd_loc at = p->tok.loc;
		if (is_kw(p, "from") || is_kw(p, "to")) {
			bool from = p->tok.text[0] == 'f';
			if (from ? have_from : have_to) {
				sd_diag_add(p->diags, SD_ERROR, at,
					    "connection '%s' has more than one '%s' end (capvm "
					    "connects exactly two components)", c->name,
					    from ? "from" : "to");
				p->failed = true;
				return false;
			}
			next(p);
			if (!parse_endpoint(p, from ? &c->from : &c->to))
				return false;
			*(from ? &have_from : &have_to) = true;
		} else {
			syntax_error(p, "'from' or 'to'");
			return false;
		}
		if (p->tok.kind == T_COMMA) {
			next(p);
			continue;
		}
		break;
	}
	if (!expect(p, T_RPAREN, "')'"))
		return false;
	if (!have_from || !have_to) {
		sd_diag_add(p->diags, SD_ERROR, c->loc, "connection '%s' needs a 'from' and a 'to' end",
			    c->name);
		p->failed = true;
		return false;
	}
	return expect(p, T_SEMI, "';'");
}

/* component TYPE NAME; */
static bool parse_component(struct parser *p)
{
	struct sd_component *c;

	if (too_many(p))
		return false;
	c = push(&p->doc->comps, &p->doc->n_comps, sizeof(*c));
	next(p); /* 'component' */
	return take_ident(p, "a component type (e.g. VM)", &c->type, &c->type_loc) &&
	       take_ident(p, "a component name", &c->name, &c->loc) &&
	       expect(p, T_SEMI, "';'");
}

static bool parse_composition(struct parser *p)
{
	next(p); /* 'composition' */
	if (!expect(p, T_LBRACE, "'{'"))
		return false;
	while (!p->failed && p->tok.kind != T_RBRACE) {
		if (is_kw(p, "component"))
			parse_component(p);
		else if (is_kw(p, "connection"))
			parse_connection(p);
		else
			syntax_error(p, "'component', 'connection' or '}'");
	}
	if (!expect(p, T_RBRACE, "'}'"))
		return false;
	if (p->tok.kind == T_SEMI)
		next(p);
	return !p->failed;
}

/* NAME.attribute = value; */
static bool parse_setting(struct parser *p)
{
	struct sd_setting s;
	struct sd_doc *d = p->doc;

	memset(&s, 0, sizeof(s));
	if (too_many(p))
		return false;
	if (!take_ident(p, "a setting (name.attribute = value;) or '}'", &s.target, &s.loc) ||
	    !expect(p, T_DOT, "'.' (name.attribute)") ||
	    !take_ident(p, "an attribute name", &s.attr, &s.attr_loc) ||
	    !expect(p, T_EQUALS, "'='") ||
	    !parse_value(p, &s.val, 0) ||
	    !expect(p, T_SEMI, "';'")) {
		free(s.target);
		free(s.attr);
		value_free(&s.val);
		return false;
	}
	for (size_t i = 0; i < d->n_sets; i++) {
		struct sd_setting *o = &d->sets[i];
		if (!strcmp(o->target, s.target) && !strcmp(o->attr, s.attr)) {
			sd_diag_add(p->diags, SD_WARNING, s.loc,
				    "%s.%s overrides the value set at %s:%d:%d", s.target, s.attr,
				    o->loc.file, o->loc.line, o->loc.col);
			free(o->target);
			free(o->attr);
			value_free(&o->val);
			*o = s;
			return true;
		}
	}
	*(struct sd_setting *)push(&d->sets, &d->n_sets, sizeof(s)) = s;
	return true;
}

static bool parse_configuration(struct parser *p)
{
	next(p); /* 'configuration' */
	if (!expect(p, T_LBRACE, "'{'"))
		return false;
	while (!p->failed && p->tok.kind != T_RBRACE)
		parse_setting(p);
	if (!expect(p, T_RBRACE, "'}'"))
		return false;
	if (p->tok.kind == T_SEMI)
		next(p);
	return !p->failed;
}

static bool parse_assembly(struct parser *p)
{
	next(p); /* 'assembly' */
	if (!expect(p, T_LBRACE, "'{'"))
		return false;
	while (!p->failed && p->tok.kind != T_RBRACE) {
		if (is_kw(p, "composition"))
			parse_composition(p);
		else if (is_kw(p, "configuration"))
			parse_configuration(p);
		else
			syntax_error(p, "'composition', 'configuration' or '}'");
	}
	if (!expect(p, T_RBRACE, "'}'"))
		return false;
	if (p->tok.kind == T_SEMI)
		next(p);
	return !p->failed;
}

/* import <std_connector.camkes>; or import "file.camkes"; -- CAmkES headers,
 * accepted so that descriptions written for CAmkES read unchanged. */
static bool parse_import(struct parser *p)
{
	struct sd_loc at = p->tok.loc;

	next(p);
	if (p->tok.kind == T_STRING) {
		next(p);
	} else if (p->tok.kind == T_LT) {
		next(p);
		while (!p->failed && p->tok.kind != T_GT) {
			if (p->tok.kind == T_EOF || p->tok.kind == T_SEMI) {
				syntax_error(p, "'>'");
				return false;
			}
			next(p);
		}
		expect(p, T_GT, "'>'");
	} else {
		syntax_error(p, "\"file\" or <file> after import");
		return false;
	}
	if (!expect(p, T_SEMI, "';'"))
		return false;
	sd_diag_add(p->diags, SD_WARNING, at, "import ignored: capvm needs no CAmkES headers");
	return true;
}

/* Records a file name (and its directory) for locations; returns the copy. */
static const char *add_file(struct sd_doc *doc, const char *name, const char *dir)
{
	char **files = realloc(doc->files, (doc->n_files + 1) * sizeof(char *));
	char **dirs;

	if (!files)
		abort();
	doc->files = files;
	dirs = realloc(doc->dirs, (doc->n_files + 1) * sizeof(char *));
	if (!dirs)
		abort();
	doc->dirs = dirs;
	doc->files[doc->n_files] = xstrdup(name);
	doc->dirs[doc->n_files] = xstrdup(dir);
	return doc->files[doc->n_files++];
}

int sd_parse_buffer(struct sd_doc *doc, const char *name, const char *dir,
		    const char *text, size_t len, struct sd_diags *diags)
{
	struct parser *p = xcalloc(1, sizeof(*p));
	const char *fname;
	int r;

	fname = add_file(doc, name ? name : "<input>", dir ? dir : ".");

	p->doc = doc;
	p->diags = diags;
	sd_lex_init(&p->lx, fname, text, len);
	next(p);
	while (!p->failed && p->tok.kind != T_EOF) {
		if (is_kw(p, "assembly"))
			parse_assembly(p);
		else if (is_kw(p, "import"))
			parse_import(p);
		else
			syntax_error(p, "'assembly'");
	}
	r = p->failed ? -1 : 0;
	free(p);
	return r;
}

int sd_parse_file(struct sd_doc *doc, const char *path, struct sd_diags *diags)
{
	void *buf = NULL;
	size_t len = 0;
	char *copy, *dir;
	int r = read_file(path, &buf, &len);
	struct sd_loc loc = { path, 0, 0 };

	if (r < 0) {
		loc.file = add_file(doc, path, "."); /* keeps the name alive */
		loc.line = 1;
		loc.col = 1;
		sd_diag_add(diags, SD_ERROR, loc, "cannot read: %s", strerror(-r));
		return -1;
	}
	copy = xstrdup(path);
	dir = dirname(copy);
	r = sd_parse_buffer(doc, path, dir, buf, len, diags);
	free(copy);
	free(buf);
	return r;
}
