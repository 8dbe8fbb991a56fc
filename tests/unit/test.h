/*
 * Minimal unit-test harness.  Each tests/unit/test_*.c is a program whose
 * cases print "PASS name", "FAIL name: why" or "SKIP name: why";
 * tests/run-all.sh counts those lines.  Use:
 *
 *   TEST(parse_sizes) { CHECK(x == 1); ... }
 *   int main(void) { RUN(parse_sizes); return test_exit(); }
 */
#ifndef CAPVM_TEST_H
#define CAPVM_TEST_H

#include <stdio.h>
#include <string.h>

static int test_failures;
static int test_case_failed;
static const char *test_skip_reason;

#define TEST(name) static void test_##name(void)

#define CHECK(cond) do { \
	if (!(cond)) { \
		printf("  %s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
		test_case_failed = 1; \
	} } while (0)

#define CHECK_EQ(a, b) do { \
	long long _a = (long long)(a), _b = (long long)(b); \
	if (_a != _b) { \
		printf("  %s:%d: %s == %lld, expected %s == %lld\n", __FILE__, __LINE__, \
		       #a, _a, #b, _b); \
		test_case_failed = 1; \
	} } while (0)

#define CHECK_STR(a, b) do { \
	const char *_a = (a), *_b = (b); \
	if (!_a || !_b || strcmp(_a, _b)) { \
		printf("  %s:%d: %s is \"%s\", expected \"%s\"\n", __FILE__, __LINE__, \
		       #a, _a ? _a : "(null)", _b ? _b : "(null)"); \
		test_case_failed = 1; \
	} } while (0)

/* Call inside a test to mark it skipped (then return). */
#define SKIP(reason) do { test_skip_reason = (reason); return; } while (0)

#define RUN(name) do { \
	test_case_failed = 0; test_skip_reason = NULL; \
	test_##name(); \
	if (test_skip_reason) printf("SKIP %s: %s\n", #name, test_skip_reason); \
	else if (test_case_failed) { printf("FAIL %s\n", #name); test_failures++; } \
	else printf("PASS %s\n", #name); \
	fflush(stdout); \
	} while (0)

static inline int test_exit(void) { return test_failures ? 1 : 0; }

#endif
